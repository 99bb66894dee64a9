//! Every message type end to end over real SMTP: it arrives with both parts, and its
//! links do what they say (the verification link verifies, the login code and link sign
//! in, "this wasn't me" ends the sessions).

use super::lab::{APP, Latchkey, Mode, PASSWORD, Pki, SmtpServer, sign_in, smtp_env, user};
use crate::browser::Browser;

/// The path of an absolute link on the public URL.
fn path_of(link: &str) -> String {
    link.strip_prefix(APP)
        .unwrap_or_else(|| panic!("{link} is not on {APP}"))
        .to_string()
}

struct Setup {
    _pki: Pki,
    smtp: SmtpServer,
    lk: Latchkey,
}

async fn setup() -> Setup {
    let pki = Pki::new();
    let smtp = SmtpServer::start(&pki, Mode::StartTls).await;
    let lk = Latchkey::start(&smtp_env(&smtp, Some(&pki.ca))).await;
    Setup {
        _pki: pki,
        smtp,
        lk,
    }
}

async fn signed_in(lk: &Latchkey, name: &str) -> Browser {
    let b = Browser::new(&lk.base, APP);
    sign_in(&b, name).await;
    b
}

#[tokio::test]
async fn a_login_code_sent_by_an_admin_signs_in_by_link_or_by_typing_it() {
    let mut s = setup().await;
    user(&s.lk, "root", true).await;
    let bob = user(&s.lk, "bob", false).await;
    let admin = signed_in(&s.lk, "root").await;
    admin.get(&format!("/admin/users/{}", bob.id)).await;
    let res = admin
        .submit(&format!("/admin/users/{}/email-login-code", bob.id), &[])
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let mail = s.smtp.wait_for_mail("bob@example.org", "login code").await;
    assert!(
        mail.html().contains(&mail.code()),
        "both parts carry the code"
    );
    let link = mail.link(&format!("{APP}/login/code/"));
    let b = Browser::new(&s.lk.base, APP);
    let page = b.get(&path_of(&link)).await;
    assert_eq!(page.status, 200);
    let res = b.submit(&path_of(&link), &[]).await;
    assert_eq!(res.status, 303);
    assert_eq!(b.get("/account").await.status, 200, "signed in by the link");
    // The code of the same email is spent with its link.
    let other = Browser::new(&s.lk.base, APP);
    other.get("/login/enter-code").await;
    let res = other
        .submit(
            "/login/enter-code",
            &[
                ("login", "bob"),
                ("code", &mail.code()),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(res.status, 401);

    // A second code, typed (lower case, without the dash) on the code page.
    admin
        .submit(&format!("/admin/users/{}/email-login-code", bob.id), &[])
        .await;
    let codes = s.smtp.wait_for(2).await;
    let second = codes.iter().find(|m| m.code() != mail.code()).unwrap();
    let typed = second.code().to_lowercase().replace('-', "");
    let res = other
        .submit(
            "/login/enter-code",
            &[
                ("login", "bob@example.org"),
                ("code", &typed),
                ("next", "/account/security"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location.as_deref(), Some("/account/security"));
    s.lk.stop().await;
}

#[tokio::test]
async fn a_requested_code_works_only_in_the_browser_that_asked_and_reveals_nothing() {
    let mut s = setup().await;
    user(&s.lk, "carol", false).await;
    let ask = |b: Browser, email: &'static str| async move {
        b.get("/login/email").await;
        let res = b
            .submit("/login/email", &[("email", email), ("next", "/account")])
            .await;
        (b, res)
    };
    let (asker, known) = ask(Browser::new(&s.lk.base, APP), "carol@example.org").await;
    let (other, unknown) = ask(Browser::new(&s.lk.base, APP), "nobody@example.org").await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.location, unknown.location);
    assert_eq!(known.body, unknown.body);
    assert_eq!(known.status, 303);
    let follow = asker.get(known.location.as_deref().unwrap()).await;
    assert!(asker.cookie("latchkey_email_code").is_some());
    assert!(
        other.cookie("latchkey_email_code").is_some(),
        "a cookie either way"
    );
    let follow_unknown = other.get(unknown.location.as_deref().unwrap()).await;
    let strip = |b: &str| {
        b.lines()
            .filter(|l| !l.contains("csrf"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        strip(&follow.body),
        strip(&follow_unknown.body),
        "the same page either way"
    );

    let mail = s
        .smtp
        .wait_for_mail("carol@example.org", "login code")
        .await;
    assert!(
        !mail.text().contains("/login/code/"),
        "no link: the code is bound to the browser"
    );
    // Another browser cannot use it, even naming the account.
    let stranger = Browser::new(&s.lk.base, APP);
    stranger.get("/login/enter-code").await;
    let res = stranger
        .submit(
            "/login/enter-code",
            &[
                ("login", "carol"),
                ("code", &mail.code()),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(res.status, 401);
    let res = asker
        .submit(
            "/login/enter-code",
            &[("code", &mail.code()), ("next", "/account")],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(asker.get("/account").await.status, 200);
    // Only one message went out: the unknown address got none.
    assert_eq!(s.smtp.messages().len(), 1);
    s.lk.stop().await;
}

#[tokio::test]
async fn verification_links_verify_and_changing_the_address_tells_the_old_one() {
    let mut s = setup().await;
    user(&s.lk, "root", true).await;
    let admin = signed_in(&s.lk, "root").await;
    admin.get("/admin/users/new").await;
    let res = admin
        .submit(
            "/admin/users/new",
            &[
                ("username", "dana"),
                ("email", "dana@example.org"),
                ("first_name", "Dana"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let dana =
        s.lk.state()
            .store
            .user_by_login("dana")
            .await
            .unwrap()
            .unwrap();
    assert!(!dana.email_verified, "verification is required by default");
    let mail = s
        .smtp
        .wait_for_mail("dana@example.org", "Confirm your email")
        .await;
    assert!(mail.text().contains("24 hours"));
    let link = mail.link(&format!("{APP}/verify-email/"));
    assert!(mail.html().contains(&link));
    // Fetching the link (as a mail scanner does) names the account and changes nothing.
    let clicker = Browser::new(&s.lk.base, APP);
    let page = clicker.get(&path_of(&link)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("dana") && page.body.contains("dana@example.org"));
    let unchanged =
        s.lk.state()
            .store
            .user_by_id(&dana.id)
            .await
            .unwrap()
            .unwrap();
    assert!(!unchanged.email_verified, "a GET verifies nothing");
    let confirmed = clicker.submit(&path_of(&link), &[]).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert!(confirmed.body.contains("Your email address is confirmed"));
    let dana =
        s.lk.state()
            .store
            .user_by_id(&dana.id)
            .await
            .unwrap()
            .unwrap();
    assert!(dana.email_verified);
    assert_eq!(
        Browser::new(&s.lk.base, APP)
            .get(&path_of(&link))
            .await
            .status,
        410,
        "once"
    );

    // Dana changes her address on her profile page.
    let hash = s.lk.state().auth.passwords.hash(PASSWORD.into()).await;
    s.lk.state()
        .store
        .set_password_hash(&dana.id, Some(&hash))
        .await
        .unwrap();
    let b = signed_in(&s.lk, "dana").await;
    assert!(
        !b.get("/account")
            .await
            .body
            .contains("data-unverified-banner")
    );
    b.get("/account/profile").await;
    let res = b
        .submit(
            "/account/profile",
            &[
                ("first_name", "Dana"),
                ("last_name", ""),
                ("display_name", ""),
                ("email", "dana@new.example.org"),
                ("locale", "en"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let notice = s
        .smtp
        .wait_for_mail("dana@example.org", "email address was changed")
        .await;
    assert!(notice.text().contains("dana@new.example.org"));
    let verify = s
        .smtp
        .wait_for_mail("dana@new.example.org", "Confirm your email")
        .await;
    let account = b.get("/account").await;
    assert!(
        account.body.contains("data-unverified-banner"),
        "the banner shows"
    );
    // "Send the link again" sends a second link; the first still works.
    b.submit("/account/verify-email/resend", &[]).await;
    s.smtp.wait_for(4).await;
    let link = verify.link(&format!("{APP}/verify-email/"));
    let clicker = Browser::new(&s.lk.base, APP);
    assert_eq!(clicker.get(&path_of(&link)).await.status, 200);
    assert_eq!(clicker.submit(&path_of(&link), &[]).await.status, 200);
    assert!(
        !b.get("/account")
            .await
            .body
            .contains("data-unverified-banner")
    );
    s.lk.stop().await;
}

#[tokio::test]
async fn a_new_device_notice_arrives_and_this_wasnt_me_ends_every_session() {
    let mut s = setup().await;
    let erin = user(&s.lk, "erin", false).await;
    let first = signed_in(&s.lk, "erin").await;
    assert!(
        s.smtp.messages().is_empty(),
        "the first device ever is not news"
    );
    let second = Browser::with_user_agent(
        &s.lk.base,
        APP,
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    );
    sign_in(&second, "erin").await;
    let mail = s
        .smtp
        .wait_for_mail("erin@example.org", "New sign-in")
        .await;
    assert!(mail.text().contains("Firefox on Linux"), "{}", mail.text());
    assert!(mail.text().contains("127.0.0.1"));
    let link = mail.link(&format!("{APP}/account/not-me/"));
    let stranger = Browser::new(&s.lk.base, APP);
    let page = stranger.get(&path_of(&link)).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        s.lk.state()
            .store
            .sessions_of_user(&erin.id)
            .await
            .unwrap()
            .len(),
        2,
        "opening the link alone changes nothing"
    );
    let res = stranger.submit(&path_of(&link), &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(res.body.contains("set new credentials"));
    assert!(
        s.lk.state()
            .store
            .sessions_of_user(&erin.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(first.get("/account").await.status, 303, "signed out");
    assert_eq!(second.get("/account").await.status, 303, "signed out");
    s.lk.stop().await;
}

#[tokio::test]
async fn an_api_key_owner_is_told_once_a_week_before_it_expires() {
    let mut s = setup().await;
    let fay = user(&s.lk, "fay", false).await;
    let store = &s.lk.state().store;
    let now = latchkey::store::now();
    store
        .insert_api_key(&fay.id, "backups", "hash-soon", now + 3 * 86_400)
        .await
        .unwrap();
    store
        .insert_api_key(&fay.id, "later", "hash-later", now + 30 * 86_400)
        .await
        .unwrap();
    let mail = &s.lk.state().mail;
    assert_eq!(
        latchkey::mail::notices::api_keys_expiring(mail)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        latchkey::mail::notices::api_keys_expiring(mail)
            .await
            .unwrap(),
        0,
        "once per key"
    );
    let got = s
        .smtp
        .wait_for_mail("fay@example.org", "expires soon")
        .await;
    assert!(got.text().contains("backups"));
    assert!(got.text().contains(&format!("{APP}/account")));
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(s.smtp.messages().len(), 1);
    s.lk.stop().await;
}
