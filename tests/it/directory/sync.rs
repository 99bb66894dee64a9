//! The sync against a real slapd: first sync, changes, renames, leavers and comers
//! back, the admin flag both ways, paging past a size limit, and the refusals (an
//! emptied directory, a wrong bind password, an unknown CA).

use latchkey::audit::Origin;
use latchkey::domain::user::{NewUser, User};
use latchkey::store::AuditFilter;
use serde_json::Value;

use super::slapd::{self, BASE, Options, READER_DN, Slapd};
use super::{directory_env, start, sync, user};
use crate::browser::Browser;
use crate::oidc;
use crate::support::{TestServer, latchkey, run, stdout};

/// The users' names in the store, synced ones only, sorted.
async fn synced_names(server: &TestServer) -> Vec<String> {
    let mut names: Vec<String> = server
        .running()
        .state
        .store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .filter(User::is_synced)
        .map(|u| u.username)
        .collect();
    names.sort();
    names
}

async fn members(server: &TestServer, group: &str) -> Vec<String> {
    let store = &server.running().state.store;
    let g = store.group_by_name(group).await.unwrap().unwrap();
    let mut names: Vec<String> = store
        .members_of_group(&g.id)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    names.sort();
    names
}

async fn events(server: &TestServer, event: &str) -> Vec<Value> {
    server
        .running()
        .state
        .store
        .list_audit(&AuditFilter {
            event: Some(event.into()),
            limit: 50,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.details)
        .collect()
}

#[tokio::test]
async fn the_sync_follows_the_directory_renames_leavers_comers_back_and_the_admin_group() {
    let mut dir = Slapd::start(Options::default());
    let server = start(&dir, &[]).await;
    let state = &server.running().state;

    // The first sync makes every user and group, the admin flag from latchkey-admins.
    let report = sync(&server).await;
    assert!(
        matches!(report.outcome.as_str(), "applied" | "unchanged"),
        "{report:?}"
    );
    assert_eq!(
        synced_names(&server).await,
        ["alice", "bob", "carol", "dave", "erin"]
    );
    assert_eq!(members(&server, "developers").await, ["alice", "bob"]);
    assert_eq!(
        members(&server, "staff").await,
        ["carol", "dave"],
        "posixGroup by memberUid"
    );
    assert_eq!(members(&server, "latchkey-admins").await, ["alice"]);
    let alice = user(&server, "alice").await;
    assert!(alice.is_admin && alice.is_synced());
    assert_eq!(alice.email.as_deref(), Some("alice@example.org"));
    assert!(
        alice.email_verified,
        "the directory vouches for its addresses"
    );
    assert_eq!(
        (alice.first_name.as_str(), alice.last_name.as_str()),
        ("Alice", "Archer")
    );
    assert_eq!(
        alice.external_id.as_deref(),
        Some(
            dir.entry_uuid(&slapd::user_dn("alice"))
                .to_lowercase()
                .as_str()
        )
    );
    let bob = user(&server, "bob").await;
    assert!(!bob.is_admin);
    let g = state
        .store
        .group_by_name("developers")
        .await
        .unwrap()
        .unwrap();
    assert!(g.is_synced());

    // Nothing changed upstream: nothing changes here.
    let again = sync(&server).await;
    assert_eq!(again.outcome, "unchanged", "{again:?}");

    // A changed name, address and membership.
    dir.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nreplace: mail\nmail: robert@example.org\n-\nreplace: sn\nsn: Brown\n\n\
         dn: {}\nchangetype: modify\nadd: member\nmember: {}\n",
        slapd::user_dn("bob"),
        slapd::group_dn("developers"),
        slapd::user_dn("carol")
    ));
    let report = sync(&server).await;
    assert_eq!(report.outcome, "applied", "{report:?}");
    assert_eq!(
        (report.summary.updated, report.summary.groups_updated),
        (1, 1)
    );
    let bob_after = user(&server, "bob").await;
    assert_eq!(bob_after.id, bob.id);
    assert_eq!(bob_after.email.as_deref(), Some("robert@example.org"));
    assert_eq!(bob_after.last_name, "Brown");
    assert_eq!(
        members(&server, "developers").await,
        ["alice", "bob", "carol"]
    );

    // A renamed entry (new RDN, new uid) is the same user: same id, so the same `sub`.
    let dave = user(&server, "dave").await;
    dir.ldapmodify(&format!(
        "dn: {}\nchangetype: modrdn\nnewrdn: uid=david\ndeleteoldrdn: 1\n",
        slapd::user_dn("dave")
    ));
    sync(&server).await;
    let david = user(&server, "david").await;
    assert_eq!(david.id, dave.id, "a rename keeps the user (and their sub)");
    assert!(state.store.user_by_login("dave").await.unwrap().is_none());
    assert_eq!(
        members(&server, "staff").await,
        ["carol"],
        "memberUid still names dave"
    );

    // The admin flag goes with the group (a local admin stays, so it may go)…
    crate::people::with_password(
        state,
        NewUser {
            is_admin: true,
            ..crate::people::named("root")
        },
    )
    .await;
    dir.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nreplace: member\nmember: {}\n",
        slapd::group_dn("latchkey-admins"),
        slapd::user_dn("bob")
    ));
    sync(&server).await;
    assert!(!user(&server, "alice").await.is_admin, "taken back");
    assert!(user(&server, "bob").await.is_admin, "granted");
    // … and cannot be changed here while the directory decides it.
    let b = super::signed_in_admin(&server).await;
    let page = b.get(&format!("/admin/users/{}", alice.id)).await;
    assert!(page.body.contains("data-synced"), "{}", page.body);
    assert!(page.body.contains(&slapd::user_dn("alice")));

    // A user who leaves the directory (moved out of the user base) is disabled, their
    // sessions and refresh tokens end; back in the directory, enabled again.
    let erin_browser = Browser::new(&server.base, super::APP);
    super::password_sign_in(&erin_browser, "erin", "erin-directory-pw").await;
    let rp = oidc::client(&server, oidc::spec("ES256")).await;
    let code = oidc::get_code(&erin_browser, &rp, "").await;
    let (status, tokens) = oidc::redeem(&server, &rp, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    dir.ldapadd(&format!(
        "dn: ou=former,{BASE}\nobjectClass: organizationalUnit\nou: former\n"
    ));
    dir.ldapmodify(&format!(
        "dn: {}\nchangetype: modrdn\nnewrdn: uid=erin\ndeleteoldrdn: 1\nnewsuperior: ou=former,{BASE}\n",
        slapd::user_dn("erin")
    ));
    let report = sync(&server).await;
    assert_eq!(report.summary.disabled, 1, "{report:?}");
    let erin = user(&server, "erin").await;
    assert!(erin.disabled);
    assert!(
        state
            .store
            .sessions_of_user(&erin.id)
            .await
            .unwrap()
            .is_empty()
    );
    let (status, body, _) = oidc::token(
        &server,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert_eq!(erin_browser.get("/account").await.status, 303, "signed out");
    dir.ldapmodify(&format!(
        "dn: uid=erin,ou=former,{BASE}\nchangetype: modrdn\nnewrdn: uid=erin\ndeleteoldrdn: 1\nnewsuperior: {}\n",
        slapd::PEOPLE_DN
    ));
    let report = sync(&server).await;
    assert_eq!(report.summary.enabled, 1, "{report:?}");
    assert!(!user(&server, "erin").await.disabled, "back, enabled again");

    // Every run is recorded, with its cause.
    let runs = state.store.directory_runs(50).await.unwrap();
    assert!(runs.len() >= 7, "{runs:?}");
    assert!(
        runs.iter()
            .all(|r| ["start", "test"].contains(&r.cause.as_str()))
    );
    assert!(!events(&server, "directory.sync.applied").await.is_empty());
    server.stop().await;
    dir.stop();
}

#[tokio::test]
async fn a_size_limit_of_two_is_passed_by_paging_and_a_partial_answer_changes_nothing() {
    let dir = Slapd::start(Options {
        size_limit: Some(2),
        ..Options::default()
    });
    let server = start(&dir, &[("LATCHKEY_DIRECTORY_PAGE_SIZE", "2")]).await;
    // Unpaged, the same search stops at two entries: the limit is real.
    assert_eq!(
        dir.count_as_reader(slapd::PEOPLE_DN, "(objectClass=person)"),
        Err(4)
    );
    let report = sync(&server).await;
    assert!(
        matches!(report.outcome.as_str(), "applied" | "unchanged"),
        "{report:?}"
    );
    assert_eq!(
        synced_names(&server).await,
        ["alice", "bob", "carol", "dave", "erin"]
    );
    let before = synced_names(&server).await;

    // A directory that cuts a paged search off after three entries (slapd's
    // size.prtotal, as an admin limit would) answers sizeLimitExceeded: a failed run,
    // never "three users left, disable two".
    let mut dir = dir;
    dir.reconfigure(Options {
        size_limit: Some(2),
        paged_total_limit: Some(3),
    });
    let report = sync(&server).await;
    assert_eq!(report.outcome, "failed", "{report:?}");
    let error = report.error.unwrap();
    assert!(error.contains("sizeLimitExceeded (4)"), "{error}");
    assert_eq!(synced_names(&server).await, before);
    assert!(
        server
            .running()
            .state
            .store
            .list_users()
            .await
            .unwrap()
            .iter()
            .all(|u| !u.disabled),
        "nobody was disabled"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_emptied_directory_is_refused_by_the_threshold_and_nothing_changes() {
    let dir = Slapd::start(Options::default());
    let server = start(&dir, &[]).await;
    sync(&server).await;
    assert_eq!(synced_names(&server).await.len(), 5);
    // Two of five (40 %) leave at once: more than the 20 % allowed.
    for uid in ["carol", "dave"] {
        dir.delete(&slapd::user_dn(uid));
    }
    let report = sync(&server).await;
    assert_eq!(report.outcome, "refused", "{report:?}");
    let error = report.error.clone().unwrap();
    assert!(error.contains("2 of 5"), "{error}");
    for name in ["carol", "dave"] {
        assert!(!user(&server, name).await.disabled, "{name} is untouched");
    }
    // Everyone gone (a directory answering empty): refused as well.
    for uid in ["alice", "bob", "erin"] {
        dir.delete(&slapd::user_dn(uid));
    }
    let report = sync(&server).await;
    assert_eq!(report.outcome, "refused", "{report:?}");
    assert!(
        server
            .running()
            .state
            .store
            .list_users()
            .await
            .unwrap()
            .iter()
            .all(|u| !u.disabled)
    );
    let refused = events(&server, "directory.sync.refused").await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0]["after"]["outcome"], "refused");
    // With the threshold raised and a local administrator left, the same answer
    // applies (without one it is refused: nobody could administer Latchkey).
    super::signed_in_admin(&server).await;
    let report = latchkey::directory::settings::save(
        &server.running().state.store,
        &server.running().state.config,
        &server.running().state.encryption,
        &latchkey::directory::settings::Input {
            values: [("max_disable_percent".to_string(), "100".to_string())].into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(report.is_ok(), "{report:?}");
    let applied = sync(&server).await;
    assert_eq!(
        (applied.outcome.as_str(), applied.summary.disabled),
        ("applied", 5)
    );
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_bind_password_and_an_unknown_ca_are_failed_runs_that_say_why() {
    let dir = Slapd::start(Options::default());
    // The command line, as an operator runs it: exit 1 and the run as JSON.
    let data = tempfile::tempdir().unwrap();
    let mut env = directory_env(&dir);
    env.retain(|(k, _)| k != "LATCHKEY_DIRECTORY_BIND_PASSWORD");
    env.push((
        "LATCHKEY_DIRECTORY_BIND_PASSWORD".into(),
        "not-the-password".into(),
    ));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = run(latchkey(data.path(), &pairs).args(["directory", "sync"]));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["outcome"], "failed");
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("invalidCredentials (49)") && error.contains(READER_DN),
        "{error}"
    );
    for key in [
        "created",
        "updated",
        "disabled",
        "deleted",
        "groups_created",
        "groups_updated",
        "groups_deleted",
        "skipped",
    ] {
        assert!(!report[key].is_null(), "{key} in {report}");
    }
    let out = run(latchkey(data.path(), &pairs).args(["directory", "runs"]));
    let run_line: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(run_line["outcome"], "failed");
    assert_eq!(run_line["cause"], "cli");

    // Without the CA file, slapd's certificate is from an unknown CA: refused.
    let mut env = directory_env(&dir);
    env.retain(|(k, _)| k != "LATCHKEY_DIRECTORY_CA_FILE");
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start(&pairs).await;
    let report = server
        .running()
        .state
        .directory
        .sync("test", &Origin::default())
        .await
        .unwrap();
    assert_eq!(report.outcome, "failed");
    let error = report.error.unwrap();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert!(synced_names(&server).await.is_empty());
    assert!(!events(&server, "directory.sync.failed").await.is_empty());
    server.stop().await;

    // SKIP_VERIFY (loudly insecure) takes that same certificate.
    env.push(("LATCHKEY_DIRECTORY_SKIP_VERIFY".into(), "true".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start(&pairs).await;
    let report = sync(&server).await;
    assert!(
        matches!(report.outcome.as_str(), "applied" | "unchanged"),
        "{report:?}"
    );
    assert_eq!(synced_names(&server).await.len(), 5);
    server.stop().await;
}
