//! ldapsearch, ldapwhoami, ldapcompare and ldapdelete against the real server.

use bytes::BytesMut;
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::{LdapExtendedRequest, LdapMsg, LdapOp, LdapResultCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Decoder, Encoder};

use super::{BASE, Ldap, dns, run, values};

fn alice_dn() -> String {
    format!("uid=alice,ou=people,{BASE}")
}

#[tokio::test]
async fn the_root_dse_is_read_without_binding() {
    let l = Ldap::start(&[]).await;
    let mut cmd = l.tool("ldapsearch");
    cmd.args([
        "-x",
        "-LLL",
        "-H",
        &l.plain_url(),
        "-b",
        "",
        "-s",
        "base",
        "(objectClass=*)",
        "*",
        "+",
    ]);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(values(&r.out, "namingContexts"), vec![BASE]);
    assert_eq!(values(&r.out, "defaultNamingContext"), vec![BASE]);
    assert_eq!(values(&r.out, "supportedLDAPVersion"), vec!["3"]);
    assert!(values(&r.out, "supportedControl").contains(&"1.2.840.113556.1.4.319".to_string()));
    let extensions = values(&r.out, "supportedExtension");
    assert!(
        extensions.contains(&"1.3.6.1.4.1.1466.20037".to_string()),
        "StartTLS"
    );
    assert!(
        extensions.contains(&"1.3.6.1.4.1.4203.1.11.3".to_string()),
        "WhoAmI"
    );
    assert_eq!(values(&r.out, "vendorName"), vec!["Latchkey"]);
    assert_eq!(values(&r.out, "subschemaSubentry"), vec!["cn=Subschema"]);

    // Nothing else is readable anonymously.
    let mut cmd = l.tool("ldapsearch");
    cmd.args([
        "-x",
        "-LLL",
        "-ZZ",
        "-H",
        &l.plain_url(),
        "-b",
        &format!("ou=people,{BASE}"),
        "(objectClass=*)",
    ]);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(dns(&r.out).is_empty(), "anonymous search found {}", r.out);
    l.stop().await;
}

#[tokio::test]
async fn a_service_account_finds_users_over_starttls_and_ldaps() {
    let l = Ldap::start(&[]).await;
    for (url, starttls, filter) in [
        (l.plain_url(), true, "(uid=alice)".to_string()),
        (l.tls_url(), false, "(mail=ALICE@example.org)".to_string()),
        (
            l.tls_url(),
            false,
            format!("(&(objectClass=person)(memberOf=cn=devs,ou=groups,{BASE}))"),
        ),
        (
            l.plain_url(),
            true,
            "(&(objectClass=posixAccount)(memberOf=devs))".to_string(),
        ),
    ] {
        let mut cmd = l.tool("ldapsearch");
        cmd.args([
            "-x",
            "-LLL",
            "-H",
            &url,
            "-D",
            &l.service_dn,
            "-w",
            &l.service_password,
            "-b",
            BASE,
        ]);
        if starttls {
            cmd.arg("-ZZ");
        }
        cmd.args([filter.as_str(), "*", "+"]);
        let r = run(cmd).await;
        assert_eq!(r.code, 0, "{filter}: {}", r.err);
        assert_eq!(
            dns(&r.out),
            vec![alice_dn()],
            "{filter}: carol is disabled, bob is not a dev"
        );
        let one = |attr: &str| values(&r.out, attr);
        assert_eq!(
            one("objectClass"),
            vec![
                "top",
                "person",
                "organizationalPerson",
                "inetOrgPerson",
                "posixAccount"
            ]
        );
        assert_eq!(one("uid"), vec!["alice"]);
        assert_eq!(one("cn"), vec!["Alice Liddell"]);
        assert_eq!(one("displayName"), vec!["Alice Liddell"]);
        assert_eq!(one("givenName"), vec!["Alice"]);
        assert_eq!(one("sn"), vec!["Liddell"]);
        assert_eq!(one("mail"), vec!["alice@example.org"]);
        assert_eq!(one("entryUUID"), vec![l.alice.id.clone()]);
        assert_eq!(one("memberOf"), vec![format!("cn=devs,ou=groups,{BASE}")]);
        let uid: i64 = one("uidNumber")[0].parse().unwrap();
        assert!(uid >= 10000, "uidNumber from the range: {uid}");
        assert_eq!(one("gidNumber"), vec![uid.to_string()]);
        assert_eq!(one("homeDirectory"), vec!["/home/alice"]);
        assert_eq!(one("loginShell"), vec!["/bin/bash"]);
        assert_eq!(one("gecos"), vec!["Alice Liddell"]);
        assert_eq!(one("entryDN"), vec![alice_dn()]);
        for time in ["createTimestamp", "modifyTimestamp"] {
            let t = &one(time)[0];
            assert!(t.len() == 15 && t.ends_with('Z'), "{time}: {t}");
        }
        let lower = r.out.to_lowercase();
        for secret in ["userpassword", "password", "totp", "passkey", "hash"] {
            assert!(!lower.contains(secret), "{secret} in {}", r.out);
        }
    }

    // Groups: members as DNs and names, numbers from the gid range.
    let mut cmd = l.tool("ldapsearch");
    cmd.args([
        "-x",
        "-LLL",
        "-ZZ",
        "-H",
        &l.plain_url(),
        "-D",
        &l.service_dn,
        "-w",
        &l.service_password,
        "-b",
        &format!("ou=groups,{BASE}"),
        "(cn=devs)",
        "*",
        "+",
    ]);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(dns(&r.out), vec![format!("cn=devs,ou=groups,{BASE}")]);
    assert_eq!(
        values(&r.out, "member"),
        vec![alice_dn()],
        "carol is disabled"
    );
    assert_eq!(values(&r.out, "uniqueMember"), vec![alice_dn()]);
    assert_eq!(values(&r.out, "memberUid"), vec!["alice"]);
    assert_eq!(values(&r.out, "description"), vec!["Developers"]);
    assert!(values(&r.out, "gidNumber")[0].parse::<i64>().unwrap() >= 50000);
    l.stop().await;
}

#[tokio::test]
async fn a_paged_search_returns_every_entry_once() {
    let l = Ldap::start(&[]).await;
    let search = |paged: bool| {
        let mut cmd = l.tool("ldapsearch");
        cmd.args([
            "-x",
            "-LLL",
            "-ZZ",
            "-H",
            &l.plain_url(),
            "-D",
            &l.service_dn,
            "-w",
            &l.service_password,
            "-b",
            BASE,
        ]);
        if paged {
            cmd.args(["-E", "pr=2/noprompt"]);
        }
        cmd.args(["(objectClass=*)", "1.1"]);
        cmd
    };
    let whole = run(search(false)).await;
    assert_eq!(whole.code, 0, "{}", whole.err);
    let mut expected = dns(&whole.out);
    expected.sort();
    let mut want = vec![
        BASE.to_string(),
        format!("ou=people,{BASE}"),
        format!("ou=groups,{BASE}"),
        format!("ou=services,{BASE}"),
        alice_dn(),
        format!("uid=bob,ou=people,{BASE}"),
        format!("cn=devs,ou=groups,{BASE}"),
        format!("cn=admins,ou=groups,{BASE}"),
        l.service_dn.clone(),
    ];
    want.sort();
    assert_eq!(expected, want);
    let paged = run(search(true)).await;
    assert_eq!(paged.code, 0, "{}", paged.err);
    let mut got = dns(&paged.out);
    got.sort();
    assert_eq!(got, want, "each entry exactly once");
    // ldapsearch prints the pages it received.
    assert!(
        paged.out.matches("# pagedresults: cookie=").count() >= 4,
        "{}",
        paged.out
    );
    l.stop().await;
}

#[tokio::test]
async fn refusals_carry_the_result_codes_of_rfc_4511() {
    let l = Ldap::start(&[]).await;
    let svc = |extra: &[&str], url: String| {
        let mut cmd = l.tool("ldapsearch");
        cmd.args([
            "-x",
            "-LLL",
            "-H",
            &url,
            "-D",
            &l.service_dn,
            "-w",
            &l.service_password,
            "-b",
            BASE,
        ]);
        cmd.args(extra);
        cmd.arg("(uid=alice)");
        cmd
    };
    // An unknown critical control.
    let r = run(svc(&["-ZZ", "-e", "!1.2.3.4"], l.plain_url())).await;
    assert_eq!(r.code, 12, "{} {}", r.out, r.err);
    // A non-critical one is ignored.
    let r = run(svc(&["-ZZ", "-e", "1.2.3.4"], l.plain_url())).await;
    assert_eq!(r.code, 0, "{}", r.err);
    // A password on a plain connection.
    let r = run(svc(&[], l.plain_url())).await;
    assert_eq!(r.code, 13, "{}", r.err);
    // A DN with an empty password is not an anonymous success.
    let mut cmd = l.tool("ldapwhoami");
    cmd.args(["-x", "-H", &l.tls_url(), "-D", &l.service_dn, "-w", ""]);
    let r = run(cmd).await;
    assert_eq!(r.code, 53, "{} {}", r.out, r.err);
    // Writes say where to change things.
    let mut cmd = l.tool("ldapdelete");
    cmd.args([
        "-x",
        "-H",
        &l.tls_url(),
        "-D",
        &l.service_dn,
        "-w",
        &l.service_password,
        &alice_dn(),
    ]);
    let r = run(cmd).await;
    assert_eq!(r.code, 53, "{}", r.err);
    assert!(r.err.contains("admin console"), "{}", r.err);
    // A base that does not exist.
    let mut cmd = l.tool("ldapsearch");
    cmd.args([
        "-x",
        "-LLL",
        "-H",
        &l.tls_url(),
        "-D",
        &l.service_dn,
        "-w",
        &l.service_password,
        "-b",
        &format!("uid=nobody,ou=people,{BASE}"),
        "-s",
        "base",
        "(objectClass=*)",
    ]);
    let r = run(cmd).await;
    assert_eq!(r.code, 32, "{}", r.err);
    // An extensible match other than the in-chain rule.
    let r = run({
        let mut cmd = l.tool("ldapsearch");
        cmd.args([
            "-x",
            "-LLL",
            "-H",
            &l.tls_url(),
            "-D",
            &l.service_dn,
            "-w",
            &l.service_password,
            "-b",
            BASE,
            "(uid:caseExactMatch:=alice)",
        ]);
        cmd
    })
    .await;
    assert_eq!(r.code, 18, "{}", r.err);
    l.stop().await;
}

#[tokio::test]
async fn users_bind_with_app_passwords_and_see_only_themselves() {
    let l = Ldap::start(&[]).await;
    let whoami = |dn: String, password: String| {
        let mut cmd = l.tool("ldapwhoami");
        cmd.args(["-x", "-H", &l.tls_url(), "-D", &dn, "-w", &password]);
        cmd
    };
    let r = run(whoami(alice_dn(), l.alice_app_password.clone())).await;
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(r.out.trim(), format!("dn:{}", alice_dn()));
    // Typed with spaces and capitals, as on a TV remote.
    let typed = l.alice_app_password.replace('-', " ").to_uppercase();
    assert_eq!(run(whoami(alice_dn(), typed)).await.code, 0);
    // The account password is not an LDAP password by default.
    let r = run(whoami(alice_dn(), crate::people::PASSWORD.into())).await;
    assert_eq!(r.code, 49, "{}", r.err);
    // A disabled user's app password stops working at once.
    let r = run(whoami(
        format!("uid=carol,ou=people,{BASE}"),
        l.carol_app_password.clone(),
    ))
    .await;
    assert_eq!(r.code, 49, "{}", r.err);

    // Alice reads her own entry and her groups, nobody else.
    let mut cmd = l.tool("ldapsearch");
    cmd.args([
        "-x",
        "-LLL",
        "-H",
        &l.tls_url(),
        "-D",
        &alice_dn(),
        "-w",
        &l.alice_app_password,
        "-b",
        BASE,
        "(|(objectClass=person)(objectClass=groupOfNames))",
        "1.1",
    ]);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(
        dns(&r.out),
        vec![alice_dn(), format!("cn=devs,ou=groups,{BASE}")]
    );
    // Gitea's shape: a subtree search based at the user's own DN.
    let mut cmd = l.tool("ldapsearch");
    cmd.args([
        "-x",
        "-LLL",
        "-H",
        &l.tls_url(),
        "-D",
        &alice_dn(),
        "-w",
        &l.alice_app_password,
        "-b",
        &alice_dn(),
        "(memberOf=cn=devs,ou=groups,dc=example,dc=org)",
        "uid",
    ]);
    let r = run(cmd).await;
    assert_eq!(dns(&r.out), vec![alice_dn()], "{}", r.err);

    // Revoked: refused from now on.
    let state = &l.server.running().state;
    let listed = state.store.list_app_passwords(&l.alice.id).await.unwrap();
    latchkey::auth::ldap::revoke_app_password(
        &state.store,
        &l.alice,
        &listed[0].id,
        &latchkey::audit::Origin::cli(),
    )
    .await
    .unwrap();
    assert_eq!(
        run(whoami(alice_dn(), l.alice_app_password.clone()))
            .await
            .code,
        49
    );
    l.stop().await;
}

#[tokio::test]
async fn the_account_password_binds_with_any_password_unless_totp_is_on() {
    let l = Ldap::start(&[("LATCHKEY_LDAP_PASSWORD_BIND", "any-password")]).await;
    let mut cmd = l.tool("ldapwhoami");
    cmd.args([
        "-x",
        "-H",
        &l.tls_url(),
        "-D",
        &format!("uid=bob,ou=people,{BASE}"),
        "-w",
        crate::people::PASSWORD,
    ]);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.err);
    l.stop().await;
}

#[tokio::test]
async fn wrong_passwords_back_off_whether_or_not_the_account_exists() {
    let l = Ldap::start(&[]).await;
    for dn in [
        l.service_dn.clone(),
        format!("cn=nobody,ou=services,{BASE}"),
    ] {
        let bind = |password: &str| {
            let mut cmd = l.tool("ldapwhoami");
            cmd.args(["-x", "-H", &l.tls_url(), "-D", &dn, "-w", password]);
            cmd
        };
        // Five free failures and the one that locks.
        for _ in 0..6 {
            let r = run(bind("wrong")).await;
            assert_eq!(r.code, 49, "{}", r.err);
            assert!(r.err.contains("Invalid credentials"), "{}", r.err);
        }
        // Locked now: even the right password is refused, with a wait.
        let r = run(bind(&l.service_password)).await;
        assert_eq!(r.code, 49, "{}", r.err);
        assert!(r.err.contains("too many attempts"), "{}", r.err);
    }
    let state = &l.server.running().state;
    let failed = state
        .store
        .list_audit(&latchkey::store::AuditFilter {
            event: Some("ldap.bind.failed".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 12, "each checked guess is audited once");
    let limited = state
        .store
        .list_audit(&latchkey::store::AuditFilter {
            event: Some("ldap.rate_limited".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);
    l.stop().await;
}

#[tokio::test]
async fn compare_answers_group_membership_as_apache_asks() {
    let l = Ldap::start(&[]).await;
    let compare = |member: String| {
        let mut cmd = l.tool("ldapcompare");
        cmd.args([
            "-x",
            "-ZZ",
            "-H",
            &l.plain_url(),
            "-D",
            &l.service_dn,
            "-w",
            &l.service_password,
            &format!("cn=devs,ou=groups,{BASE}"),
            &format!("member:{member}"),
        ]);
        cmd
    };
    let r = run(compare(alice_dn())).await;
    assert_eq!(r.code, 6, "compareTrue: {} {}", r.out, r.err);
    let r = run(compare(format!("uid=bob,ou=people,{BASE}"))).await;
    assert_eq!(r.code, 5, "compareFalse: {} {}", r.out, r.err);
    l.stop().await;
}

fn encode(msg: LdapMsg) -> BytesMut {
    let mut out = BytesMut::new();
    LdapCodec::default().encode(msg, &mut out).unwrap();
    out
}

async fn read_msg(stream: &mut tokio::net::TcpStream) -> Option<LdapMsg> {
    let mut buf = BytesMut::new();
    loop {
        if let Ok(Some(msg)) = LdapCodec::default().decode(&mut buf) {
            return Some(msg);
        }
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_buf(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
    }
}

#[tokio::test]
async fn bytes_sent_behind_starttls_are_refused_not_read_as_encrypted() {
    let l = Ldap::start(&[]).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", l.plain))
        .await
        .unwrap();
    let mut wire = encode(LdapMsg::new(
        1,
        LdapOp::ExtendedRequest(LdapExtendedRequest {
            name: "1.3.6.1.4.1.1466.20037".into(),
            value: None,
        }),
    ));
    wire.extend_from_slice(&encode(LdapMsg::new(2, LdapOp::UnbindRequest)));
    stream.write_all(&wire).await.unwrap();
    let answer = read_msg(&mut stream).await.expect("an answer");
    let LdapOp::ExtendedResponse(response) = answer.op else {
        panic!("{answer:?}");
    };
    assert_eq!(response.res.code, LdapResultCode::OperationsError);
    assert!(
        read_msg(&mut stream).await.is_none(),
        "the connection is closed"
    );
    l.stop().await;
}

#[tokio::test]
async fn malformed_requests_end_only_their_own_connection() {
    let l = Ldap::start(&[]).await;
    let mut bad = tokio::net::TcpStream::connect(("127.0.0.1", l.plain))
        .await
        .unwrap();
    // A SEQUENCE claiming 2 GB, then nonsense; then a message nested 10 000 deep.
    bad.write_all(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01])
        .await
        .unwrap();
    let notice = read_msg(&mut bad).await;
    assert!(
        notice.is_none_or(|m| matches!(m.op, LdapOp::ExtendedResponse(ref r) if r.res.code == LdapResultCode::ProtocolError)),
        "a notice of disconnection or a close"
    );
    let mut deep = tokio::net::TcpStream::connect(("127.0.0.1", l.plain))
        .await
        .unwrap();
    let mut nested = Vec::new();
    for _ in 0..10_000 {
        nested.extend_from_slice(&[0x30, 0x80]);
    }
    let _ = deep.write_all(&nested).await;
    let _ = read_msg(&mut deep).await;
    // Everyone else is still served.
    let mut cmd = l.tool("ldapsearch");
    cmd.args([
        "-x",
        "-LLL",
        "-H",
        &l.tls_url(),
        "-D",
        &l.service_dn,
        "-w",
        &l.service_password,
        "-b",
        BASE,
        "(uid=alice)",
        "1.1",
    ]);
    let r = run(cmd).await;
    assert_eq!(dns(&r.out), vec![alice_dn()], "{}", r.err);
    l.stop().await;
}

async fn raw_bind(port: u16, dn: &str, password: &str) -> LdapResultCode {
    use ldap3_proto::proto::{LdapBindCred, LdapBindRequest};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let bind = LdapMsg::new(
        1,
        LdapOp::BindRequest(LdapBindRequest {
            version: 3,
            dn: dn.into(),
            cred: LdapBindCred::Simple(password.into()),
        }),
    );
    stream.write_all(&encode(bind)).await.unwrap();
    match read_msg(&mut stream).await.map(|m| m.op) {
        Some(LdapOp::BindResponse(r)) => r.res.code,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_service_account_binding_many_times_at_once_is_not_locked_out() {
    let l = Ldap::start(&[("LATCHKEY_LDAP_ALLOW_INSECURE_BIND", "true")]).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(40));
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (barrier, dn, pw, port) = (
                barrier.clone(),
                l.service_dn.clone(),
                l.service_password.clone(),
                l.plain,
            );
            tokio::spawn(async move {
                barrier.wait().await;
                raw_bind(port, &dn, &pw).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), LdapResultCode::Success);
    }
    // Guesses sent at once are still counted, and lock the account once over the limit.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (barrier, dn, port) = (barrier.clone(), l.service_dn.clone(), l.plain);
            tokio::spawn(async move {
                barrier.wait().await;
                raw_bind(port, &dn, "guess").await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), LdapResultCode::InvalidCredentials);
    }
    assert_eq!(
        raw_bind(l.plain, &l.service_dn, &l.service_password).await,
        LdapResultCode::InvalidCredentials,
        "locked"
    );
    l.stop().await;
}

#[tokio::test]
async fn the_profile_picture_is_a_jpeg_photo_only_when_asked_for() {
    let l = Ldap::start(&[]).await;
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(256, 256, image::Rgb([200, 30, 30]))
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let state = &l.server.running().state;
    state
        .store
        .put_image(
            &format!("user:{}", l.alice.id),
            "image/png",
            png.get_ref(),
            "e1",
        )
        .await
        .unwrap();
    let search = |attrs: &[&str]| {
        let mut cmd = l.tool("ldapsearch");
        cmd.args([
            "-x",
            "-LLL",
            "-t",
            "-T",
            l.pki.path().to_str().unwrap(),
            "-H",
            &l.tls_url(),
            "-D",
            &l.service_dn,
            "-w",
            &l.service_password,
            "-b",
            BASE,
            "(uid=alice)",
        ]);
        cmd.args(attrs);
        cmd
    };
    let r = run(search(&["*", "+"])).await;
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(!r.out.contains("jpegPhoto"), "not with * or +: {}", r.out);
    let r = run(search(&["jpegPhoto"])).await;
    assert_eq!(r.code, 0, "{}", r.err);
    let file = r
        .out
        .lines()
        .find_map(|line| line.strip_prefix("jpegPhoto:< file://"))
        .unwrap_or_else(|| panic!("no jpegPhoto: {}", r.out));
    let bytes = std::fs::read(file).unwrap();
    assert_eq!(&bytes[..3], &[0xff, 0xd8, 0xff], "a JPEG");
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (256, 256));
    l.stop().await;
}

#[tokio::test]
async fn stopping_the_server_closes_open_ldap_connections() {
    let l = Ldap::start(&[]).await;
    let mut open = tokio::net::TcpStream::connect(("127.0.0.1", l.plain))
        .await
        .unwrap();
    let plain = l.plain;
    l.stop().await;
    // The open connection is closed (read gives end of file), and nobody listens.
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), open.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", plain))
            .await
            .is_err()
    );
}
