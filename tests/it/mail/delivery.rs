//! Delivery over real SMTP: STARTTLS with a verified certificate, a CA that is not
//! trusted (nothing sent, the message waits), an outage across a restart, implicit
//! TLS, and a server that does not offer STARTTLS.

use std::time::Duration;

use latchkey::mail::{Kind, messages};
use latchkey::store::MailStatus;

use super::lab::{Latchkey, Mode, Pki, SmtpServer, smtp_env};
use crate::support::{latchkey as latchkey_cmd, run, stderr, stdout};

/// Queue a message the way every notice is queued (composed, then in a transaction).
async fn queue(lk: &Latchkey, to: &str, subject: &str) -> String {
    let mail = &lk.state().mail;
    let content = messages::Content {
        subject: subject.into(),
        heading: subject.into(),
        intro: vec!["Hello".into()],
        footer: "footer".into(),
        ..Default::default()
    };
    let message = mail.compose(Kind::Test, to, None, &content).unwrap();
    let id = message.id.clone();
    lk.state().store.enqueue_mail(&message).await.unwrap();
    mail.wake();
    id
}

/// Wait until the message has been tried at least once and is not being sent.
async fn wait_until_tried(lk: &Latchkey, id: &str) -> latchkey::store::OutboxMail {
    for _ in 0..600 {
        let m = lk.state().store.mail_by_id(id).await.unwrap().unwrap();
        if m.last_error.is_some() || m.status != MailStatus::Queued {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("message {id} was never tried");
}

#[tokio::test]
async fn starttls_with_the_ca_trusted_delivers_the_test_email_with_both_parts() {
    let pki = Pki::new();
    let smtp = SmtpServer::start(&pki, Mode::StartTls).await;
    let mut lk = Latchkey::start(&smtp_env(&smtp, Some(&pki.ca))).await;
    let origin = latchkey::audit::Origin::default();
    lk.state()
        .mail
        .send_test("Admin@Example.org", &origin)
        .await
        .unwrap_or_else(|e| panic!("not accepted: {e}\n{}", smtp.log()));
    let got = smtp.wait_for(1).await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.header("from"), "Latchkey <sso@example.org>");
    assert_eq!(m.header("to"), "Admin@example.org");
    assert_eq!(m.header("subject"), "Test email from Latchkey");
    assert!(m.header("message-id").ends_with("@localhost>"));
    assert_eq!(m.content_type, "multipart/alternative");
    assert!(m.text().contains("This is a test message from Latchkey"));
    assert!(m.html().contains("<h1"));
    assert!(m.html().contains("href=\"http://localhost:1411\""));
    let sent = lk
        .state()
        .store
        .list_mail(Some(MailStatus::Sent), 10)
        .await
        .unwrap();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].body_sealed.is_none(),
        "a sent message keeps no content"
    );
    let audit = lk
        .state()
        .store
        .list_audit(&latchkey::store::AuditFilter {
            event: Some("mail.sent".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    lk.stop().await;
}

#[tokio::test]
async fn an_untrusted_certificate_sends_nothing_and_the_message_waits_until_the_ca_is_trusted() {
    let pki = Pki::new();
    let smtp = SmtpServer::start(&pki, Mode::StartTls).await;
    let mut lk = Latchkey::start(&smtp_env(&smtp, None)).await;
    let id = queue(&lk, "ann@example.org", "Waiting for trust").await;
    let tried = wait_until_tried(&lk, &id).await;
    assert_eq!(tried.status, MailStatus::Queued, "still queued for a retry");
    let error = tried.last_error.unwrap();
    assert!(
        error.to_lowercase().contains("certificate") && error.contains("UnknownIssuer"),
        "a clear certificate error: {error}"
    );
    assert!(smtp.messages().is_empty(), "nothing was delivered");

    // The command line reports the same exact error, and fails.
    let mut env: Vec<(String, String)> = smtp_env(&smtp, None);
    env.push((
        "LATCHKEY_DATA_DIR".into(),
        lk.data_dir().to_str().unwrap().into(),
    ));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    lk.stop().await;
    let out =
        run(latchkey_cmd(lk.data_dir(), &pairs).args(["mail", "test", "--to", "ann@example.org"]));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("UnknownIssuer"), "{}", stderr(&out));

    // Trust the CA, retry now: it arrives, once.
    lk.run(&smtp_env(&smtp, Some(&pki.ca))).await;
    assert!(lk.state().store.retry_mail_now(&id).await.unwrap());
    lk.state().mail.wake();
    let got = smtp
        .wait_for_mail("ann@example.org", "Waiting for trust")
        .await;
    assert!(got.text().contains("Hello"));
    let out = run(latchkey_cmd(lk.data_dir(), &{
        let mut p = pairs.clone();
        p.push(("LATCHKEY_SMTP_CA_FILE", pki.ca.to_str().unwrap()));
        p
    })
    .args(["mail", "test", "--to", "bob@example.org"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("sent: "), "{}", stdout(&out));
    smtp.wait_for(2).await;
    // A later round of the worker sends nothing again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let all = smtp.messages();
    assert_eq!(
        all.iter()
            .filter(|m| m.header("subject") == "Waiting for trust")
            .count(),
        1
    );
    let m = lk.state().store.mail_by_id(&id).await.unwrap().unwrap();
    assert_eq!(m.status, MailStatus::Sent);
    lk.stop().await;
}

#[tokio::test]
async fn an_outage_loses_nothing_and_sends_each_message_once_across_a_restart() {
    let pki = Pki::new();
    let mut smtp = SmtpServer::start(&pki, Mode::StartTls).await;
    smtp.stop();
    let env = smtp_env(&smtp, Some(&pki.ca));
    let mut lk = Latchkey::start(&env).await;
    let a = queue(&lk, "ann@example.org", "First while down").await;
    let b = queue(&lk, "bob@example.org", "Second while down").await;
    for id in [&a, &b] {
        let m = wait_until_tried(&lk, id).await;
        assert_eq!(m.status, MailStatus::Queued);
        assert!(m.last_error.is_some());
    }
    lk.stop().await;
    smtp.run(&pki).await;
    lk.run(&env).await;
    // An admin's "retry now" (or the back-off) sends them.
    for id in [&a, &b] {
        lk.state().store.retry_mail_now(id).await.unwrap();
    }
    lk.state().mail.wake();
    smtp.wait_for(2).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let got = smtp.messages();
    assert_eq!(got.len(), 2, "each message exactly once");
    for id in [&a, &b] {
        let m = lk.state().store.mail_by_id(id).await.unwrap().unwrap();
        assert_eq!(m.status, MailStatus::Sent);
    }
    lk.stop().await;
}

#[tokio::test]
async fn implicit_tls_delivers() {
    let pki = Pki::new();
    let smtp = SmtpServer::start(&pki, Mode::Implicit).await;
    let mut lk = Latchkey::start(&smtp_env(&smtp, Some(&pki.ca))).await;
    lk.state()
        .mail
        .send_test("ann@example.org", &latchkey::audit::Origin::default())
        .await
        .unwrap_or_else(|e| panic!("not accepted over implicit TLS: {e}\n{}", smtp.log()));
    let got = smtp.wait_for(1).await;
    assert_eq!(got[0].header("subject"), "Test email from Latchkey");
    lk.stop().await;
}

#[tokio::test]
async fn a_server_without_starttls_is_an_error_never_plain_text() {
    let pki = Pki::new();
    let smtp = SmtpServer::start(&pki, Mode::Plain).await;
    let mut env = smtp_env(&smtp, Some(&pki.ca));
    env.retain(|(k, _)| k != "LATCHKEY_SMTP_SECURITY");
    let mut lk = Latchkey::start(&env).await;
    let error = lk
        .state()
        .mail
        .send_test("ann@example.org", &latchkey::audit::Origin::default())
        .await
        .expect_err("STARTTLS is required");
    assert!(
        error.to_lowercase().contains("starttls") || error.contains("TLS"),
        "{error}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(smtp.messages().is_empty(), "nothing went out in plain text");
    lk.stop().await;
}
