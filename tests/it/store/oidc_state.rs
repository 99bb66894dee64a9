//! OIDC state in the store: clients, consents, codes, refresh families, access records.

use latchkey::oidc::registration::{ClientSpec, register, rotate_secret, spec_of, update};
use latchkey::store::{
    AccessRecord, AuditFilter, Backend, CodeGrant, NewAuditRecord, Redemption, RefreshGrant, Store,
    StoreError, Together, now,
};

use super::auth_state::session;
use super::users::alice;
use crate::on_both_backends;

fn spec() -> ClientSpec {
    ClientSpec {
        name: "Grafana".into(),
        redirect_uris: vec!["https://grafana.example/cb".into()],
        ..ClientSpec::default()
    }
}

async fn clients_and_consents(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let admins = store.create_group("admins", "Admins").await.unwrap();
    let (client, secret) = register(
        store,
        ClientSpec {
            allowed_groups: vec!["admins".into()],
            ..spec()
        },
    )
    .await
    .unwrap();
    assert!(secret.is_some() && client.secret_hash.is_some());
    assert_eq!(client.allowed_groups, ["admins"]);
    let (public, none) = register(
        store,
        ClientSpec {
            public: true,
            name: "SPA".into(),
            ..spec()
        },
    )
    .await
    .unwrap();
    assert!(none.is_none() && public.pkce_required());
    assert!(
        register(
            store,
            ClientSpec {
                allowed_groups: vec!["nobody".into()],
                ..spec()
            }
        )
        .await
        .is_err()
    );
    assert!(
        register(
            store,
            ClientSpec {
                redirect_uris: vec![],
                ..spec()
            }
        )
        .await
        .is_err()
    );
    assert_eq!(store.list_clients().await.unwrap().len(), 2);

    let old_hash = client.secret_hash.clone();
    rotate_secret(store, &client.id).await.unwrap();
    let rotated = store.client_by_id(&client.id).await.unwrap().unwrap();
    assert_eq!(rotated.previous_secret_hash, old_hash);
    assert_ne!(rotated.secret_hash, old_hash);
    assert!(
        matches!(
            rotate_secret(store, &public.id).await,
            Err(StoreError::NotFound)
        ),
        "public clients have no secret"
    );

    // /authorize reads the consent with the session, for one client at a time.
    store
        .insert_session(&session(&user.id, "sess-c", now()))
        .await
        .unwrap();
    let consent_of = async |client_id: Option<&str>| {
        let (s, u, consent) = store
            .session_with_user_and_consent("sess-c", client_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.id_hash.as_str(), u.id.as_str()),
            ("sess-c", user.id.as_str())
        );
        consent
    };
    store
        .save_consent(&user.id, &client.id, "openid email")
        .await
        .unwrap();
    store
        .save_consent(&user.id, &client.id, "openid email profile")
        .await
        .unwrap();
    assert_eq!(
        consent_of(Some(&client.id)).await.as_deref(),
        Some("openid email profile")
    );
    assert_eq!(consent_of(Some(&public.id)).await, None);
    assert_eq!(consent_of(None).await, None, "no client named, no consent");
    store.revoke_consent(&user.id, &client.id).await.unwrap();
    assert_eq!(consent_of(Some(&client.id)).await, None);

    // A group that limits a client cannot be deleted: that would open the client to all.
    let refused = store.delete_group(&admins.id).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    store.delete_client(&client.id).await.unwrap();
    assert!(store.client_by_id(&client.id).await.unwrap().is_none());
    store.delete_group(&admins.id).await.unwrap();
}

async fn codes_families_and_access_tokens(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let (client, _) = register(store, spec()).await.unwrap();
    let code = CodeGrant {
        code_hash: "code-1".into(),
        client_id: client.id.clone(),
        user_id: user.id.clone(),
        redirect_uri: "https://grafana.example/cb".into(),
        scope: "openid".into(),
        nonce: Some("n".into()),
        code_challenge: Some("c".into()),
        code_challenge_method: Some("S256".into()),
        session_hash: "sess".into(),
        auth_time: 5,
        amr: vec!["hwk".into()],
        expires_at: now() + 60,
    };
    store.insert_code(code.clone()).await.unwrap();
    assert_eq!(
        store.redeem_code("code-1").await.unwrap(),
        Redemption::Redeemed(Box::new(code.clone()))
    );
    let family = fresh_refresh("r1", "fam", &client.id, &user.id, "code-1");
    store.insert_refresh(family.clone()).await.unwrap();
    let access = AccessRecord {
        jti: "jti-1".into(),
        client_id: client.id.clone(),
        user_id: Some(user.id.clone()),
        family_id: Some("fam".into()),
        code_hash: Some("code-1".into()),
        session_hash: Some("sess".into()),
        scope: "openid".into(),
        expires_at: now() + 600,
    };
    store.insert_access(access.clone()).await.unwrap();
    assert_eq!(
        store.access_record_revoked("jti-1").await.unwrap(),
        Some(false)
    );
    let (revoked, holder) = store.access_token_user("jti-1").await.unwrap().unwrap();
    assert!(!revoked);
    assert_eq!(
        holder.map(|s| s.user.id),
        Some(user.id.clone()),
        "with its user"
    );
    assert!(store.access_token_user("nobody").await.unwrap().is_none());

    // Rotation happens once, in the commit that writes the successor; of two at the
    // same moment one wins, and the other (a reuse) writes none of its rows.
    let issued = |n: &str| NewAuditRecord {
        event: format!("test.rotated.{n}"),
        ..NewAuditRecord::default()
    };
    let successor = |hash: &str| {
        Together::new()
            .refresh(RefreshGrant {
                token_hash: hash.into(),
                code_hash: None,
                ..family.clone()
            })
            .rotate("r1")
    };
    let (event_a, event_b) = (issued("a"), issued("b"));
    let (first, second) = tokio::join!(
        store.insert_audit_with(successor("r1-a"), &event_a),
        store.insert_audit_with(successor("r1-b"), &event_b),
    );
    let (won, lost) = match (&first, &second) {
        (Ok(_), Err(StoreError::Conflict(_))) => ("r1-a", "r1-b"),
        (Err(StoreError::Conflict(_)), Ok(_)) => ("r1-b", "r1-a"),
        other => panic!("one rotation wins, one is refused: {other:?}"),
    };
    assert!(store.refresh_by_hash(won).await.unwrap().is_some());
    assert!(
        store.refresh_by_hash(lost).await.unwrap().is_none(),
        "a refused rotation writes nothing"
    );
    let events: Vec<String> = store
        .list_audit(&AuditFilter {
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .filter(|e| e.starts_with("test.rotated."))
        .collect();
    assert_eq!(events.len(), 1, "only the winner's audit row: {events:?}");
    assert!(
        store
            .refresh_by_hash("r1")
            .await
            .unwrap()
            .unwrap()
            .rotated_at
            .is_some()
    );
    // A revoked token is not rotated either.
    store
        .insert_refresh(RefreshGrant {
            token_hash: "r-revoked".into(),
            family_id: "fam-revoked".into(),
            code_hash: None,
            ..family.clone()
        })
        .await
        .unwrap();
    store.revoke_family("fam-revoked").await.unwrap();
    assert!(matches!(
        store
            .insert_audit_with(Together::new().rotate("r-revoked"), &issued("revoked"))
            .await,
        Err(StoreError::Conflict(_))
    ));

    // Replaying the code revokes its family and access tokens.
    assert!(matches!(
        store.redeem_code("code-1").await.unwrap(),
        Redemption::Replayed { .. }
    ));
    assert_eq!(
        store.access_record_revoked("jti-1").await.unwrap(),
        Some(true)
    );
    assert!(
        store
            .refresh_by_hash("r1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert_eq!(
        store.redeem_code("missing").await.unwrap(),
        Redemption::Unknown
    );

    // Logout revokes what a session holds; only the owning client revokes an access token.
    store
        .insert_refresh(RefreshGrant {
            token_hash: "r2".into(),
            family_id: "fam2".into(),
            code_hash: None,
            ..family
        })
        .await
        .unwrap();
    store
        .insert_access(AccessRecord {
            jti: "jti-2".into(),
            family_id: Some("fam2".into()),
            code_hash: None,
            ..access.clone()
        })
        .await
        .unwrap();
    store
        .insert_access(AccessRecord {
            jti: "jti-3".into(),
            family_id: None,
            code_hash: None,
            session_hash: None,
            ..access
        })
        .await
        .unwrap();
    store
        .revoke_access("jti-3", "another-client", now() + 600)
        .await
        .unwrap();
    assert_eq!(
        store.access_record_revoked("jti-3").await.unwrap(),
        Some(false),
        "only the owner revokes"
    );
    store
        .revoke_access("jti-3", &client.id, now() + 600)
        .await
        .unwrap();
    assert_eq!(
        store.access_record_revoked("jti-3").await.unwrap(),
        Some(true)
    );
    store
        .revoke_access("cc-jti", &client.id, now() + 600)
        .await
        .unwrap();
    assert_eq!(
        store.access_record_revoked("cc-jti").await.unwrap(),
        Some(true),
        "an unrecorded token is recorded as revoked"
    );
    let (revoked, holder) = store.access_token_user("cc-jti").await.unwrap().unwrap();
    assert!(revoked && holder.is_none(), "a client's token has no user");
    store.revoke_session_grants("sess").await.unwrap();
    assert_eq!(
        store.access_record_revoked("jti-2").await.unwrap(),
        Some(true)
    );
    assert!(
        store
            .refresh_by_hash("r2")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    store
        .delete_expired_grants(now() + 10 * 86_400)
        .await
        .unwrap();
    assert!(store.refresh_by_hash("r2").await.unwrap().is_none());
}

/// Changing a client replaces every setting and its groups in one go; a bad group
/// changes nothing; becoming public drops the secrets.
async fn clients_are_updated_whole(store: &Store) {
    store.create_group("ops", "Ops").await.unwrap();
    store.create_group("dev", "Dev").await.unwrap();
    let (client, _) = register(
        store,
        ClientSpec {
            allowed_groups: vec!["ops".into()],
            ..spec()
        },
    )
    .await
    .unwrap();
    let mut wanted = spec_of(&client);
    wanted.name = "Grafana 2".into();
    wanted.allowed_groups = vec!["dev".into(), "ops".into()];
    wanted.launch_url = Some("https://grafana.example/".into());
    wanted.access_token_ttl = Some(600);
    let done = update(store, &client.id, wanted.clone()).await.unwrap();
    assert_eq!(done.before, client);
    assert!(done.secret.is_none());
    let stored = store.client_by_id(&client.id).await.unwrap().unwrap();
    assert_eq!(stored, done.after);
    assert_eq!(stored.allowed_groups, ["dev", "ops"]);
    assert_eq!(
        (stored.name.as_str(), stored.access_token_ttl),
        ("Grafana 2", 600)
    );
    assert_eq!(stored.secret_hash, client.secret_hash);
    assert_eq!(stored.created_at, client.created_at);

    let bad = ClientSpec {
        name: "Grafana 3".into(),
        allowed_groups: vec!["ghosts".into()],
        ..wanted.clone()
    };
    assert!(update(store, &client.id, bad).await.is_err());
    assert_eq!(
        store.client_by_id(&client.id).await.unwrap().unwrap(),
        stored,
        "nothing changed"
    );

    let public = update(
        store,
        &client.id,
        ClientSpec {
            public: true,
            ..wanted.clone()
        },
    )
    .await
    .unwrap();
    assert!(public.after.is_public && public.after.secret_hash.is_none());
    let again = update(store, &client.id, wanted).await.unwrap();
    let secret = again.secret.expect("a confidential client gets a secret");
    assert_eq!(
        again.after.secret_hash.as_deref(),
        Some(latchkey::crypto::hash_secret(&secret).as_str())
    );
    assert!(matches!(
        update(store, "nope", spec()).await,
        Err(latchkey::oidc::registration::RegistrationError::Store(
            StoreError::NotFound
        ))
    ));
}

/// A code of `client_id` for `user_id`, unused and valid for a minute.
fn fresh_code(hash: &str, client_id: &str, user_id: &str) -> CodeGrant {
    CodeGrant {
        code_hash: hash.into(),
        client_id: client_id.into(),
        user_id: user_id.into(),
        redirect_uri: "https://grafana.example/cb".into(),
        scope: "openid".into(),
        nonce: None,
        code_challenge: None,
        code_challenge_method: None,
        session_hash: "sess".into(),
        auth_time: 5,
        amr: vec!["pwd".into()],
        expires_at: now() + 60,
    }
}

/// The first refresh token of a family, issued for `code_hash`.
fn fresh_refresh(
    token_hash: &str,
    family_id: &str,
    client_id: &str,
    user_id: &str,
    code_hash: &str,
) -> RefreshGrant {
    RefreshGrant {
        token_hash: token_hash.into(),
        family_id: family_id.into(),
        client_id: client_id.into(),
        user_id: user_id.into(),
        scope: "openid offline_access".into(),
        nonce: None,
        session_hash: "sess".into(),
        auth_time: 5,
        amr: vec!["hwk".into()],
        code_hash: Some(code_hash.into()),
        expires_at: now() + 600,
        rotated_at: None,
        revoked_at: None,
    }
}

/// Codes, access-token records, audit rows and codes being used, written at the same
/// moment, go to the database together (store/grouped.rs); a row that cannot be
/// written (a code hash already taken) fails alone, or with the rows its caller handed
/// in with it, and every other caller gets its work committed.
async fn rows_written_together_fail_alone(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let (client, _) = register(store, spec()).await.unwrap();
    let code = |hash: &str| fresh_code(hash, &client.id, &user.id);
    store.insert_code(code("taken")).await.unwrap();
    let used_in_group = code("used-in-group");
    store.insert_code(used_in_group.clone()).await.unwrap();
    let access = AccessRecord {
        jti: "jti-grouped".into(),
        client_id: client.id.clone(),
        user_id: Some(user.id.clone()),
        family_id: None,
        code_hash: None,
        session_hash: Some("sess".into()),
        scope: "openid".into(),
        expires_at: now() + 600,
    };
    let event = NewAuditRecord {
        event: "test.grouped".into(),
        ..NewAuditRecord::default()
    };
    // A request's rows are all or nothing: the duplicate code takes its access record
    // and audit row down with it, and no one else's.
    let doomed = NewAuditRecord {
        event: "test.doomed".into(),
        ..NewAuditRecord::default()
    };
    let doomed_rows = Together::new().code(code("taken")).access(AccessRecord {
        jti: "jti-doomed".into(),
        ..access.clone()
    });
    let (taken, fresh, recorded, audited, together, first_use, second_use) = tokio::join!(
        store.insert_code(code("taken")),
        store.insert_code(code("fresh")),
        store.insert_access(access),
        store.insert_audit(&event),
        store.insert_audit_with(doomed_rows, &doomed),
        store.redeem_code("used-in-group"),
        store.redeem_code("used-in-group"),
    );
    // A code used twice at the same moment is used once; the other use is a replay,
    // and the group's failure did not undo the use.
    let mut uses = [first_use.unwrap(), second_use.unwrap()];
    uses.sort_by_key(|u| !matches!(u, Redemption::Redeemed(_)));
    assert_eq!(uses[0], Redemption::Redeemed(Box::new(used_in_group)));
    assert!(
        matches!(uses[1], Redemption::Replayed { .. }),
        "{:?}",
        uses[1]
    );
    assert!(matches!(
        store.redeem_code("used-in-group").await.unwrap(),
        Redemption::Replayed { .. }
    ));
    assert!(taken.is_err(), "a code hash is stored once");
    assert!(together.is_err(), "rows written together fail together");
    fresh.unwrap();
    recorded.unwrap();
    let audited = audited.unwrap();
    assert_eq!(
        store.access_record_revoked("jti-doomed").await.unwrap(),
        None
    );
    let doomed_listed = store
        .list_audit(&AuditFilter {
            event: Some("test.doomed".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(doomed_listed.is_empty(), "{doomed_listed:?}");
    assert!(matches!(
        store.redeem_code("fresh").await.unwrap(),
        Redemption::Redeemed(_)
    ));
    assert_eq!(
        store.access_record_revoked("jti-grouped").await.unwrap(),
        Some(false)
    );
    let listed = store
        .list_audit(&AuditFilter {
            event: Some("test.grouped".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed, vec![audited]);
}

/// Many requests writing at once, more than one group takes (256 callers): every
/// caller's code is committed, each is used once, and a code used by many at once is
/// used once.
async fn many_writers_at_once(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let (client, _) = register(store, spec()).await.unwrap();
    let code = |hash: String| fresh_code(&hash, &client.id, &user.id);
    const N: usize = 300;
    let mut inserts = tokio::task::JoinSet::new();
    for i in 0..N {
        let (store, code) = (store.clone(), code(format!("many-{i}")));
        inserts.spawn(async move { store.insert_code(code).await });
    }
    for inserted in inserts.join_all().await {
        inserted.unwrap();
    }
    let mut uses = tokio::task::JoinSet::new();
    for i in 0..N {
        let store = store.clone();
        uses.spawn(async move { store.redeem_code(&format!("many-{i}")).await });
    }
    for _ in 0..20 {
        let store = store.clone();
        uses.spawn(async move { store.redeem_code("many-0").await });
    }
    let uses: Vec<Redemption> = uses
        .join_all()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let redeemed: std::collections::BTreeSet<String> = uses
        .iter()
        .filter_map(|u| match u {
            Redemption::Redeemed(g) => Some(g.code_hash.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(redeemed.len(), N, "every code is used once");
    let replays = uses
        .iter()
        .filter(|u| matches!(u, Redemption::Replayed { .. }))
        .count();
    assert_eq!(replays, 20, "the other uses of many-0 are replays");
}

/// However many rows of one table a group holds, each is written: the INSERTs come in
/// sizes that are powers of two, padded with rows of NULLs that the statement skips
/// (store/grouped.rs); one that arrived would break the table's NOT NULLs. Each
/// table's statement of 64 rows is used with 1, 0 and 28 rows of padding: on
/// PostgreSQL each parameter keeps the type it was prepared with, so a padding NULL of
/// another type than the column's values fails the next group.
async fn groups_of_every_size_write_each_row_once(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let (client, _) = register(store, spec()).await.unwrap();
    for n in [1, 2, 3, 5, 31, 63, 64, 65, 100] {
        let mut rows = Together::new();
        for i in 0..n {
            rows = rows
                .access(AccessRecord {
                    jti: format!("size-{n}-{i}"),
                    client_id: client.id.clone(),
                    user_id: Some(user.id.clone()),
                    family_id: None,
                    code_hash: None,
                    session_hash: None,
                    scope: format!("scope-{i}"),
                    expires_at: now() + 600,
                })
                .code(fresh_code(&format!("code-{n}-{i}"), &client.id, &user.id))
                .refresh(fresh_refresh(
                    &format!("refresh-{n}-{i}"),
                    &format!("family-{n}-{i}"),
                    &client.id,
                    &user.id,
                    &format!("code-{n}-{i}"),
                ));
        }
        let event = NewAuditRecord {
            event: format!("test.size.{n}"),
            ..NewAuditRecord::default()
        };
        store.insert_audit_with(rows, &event).await.unwrap();
        for i in 0..n {
            let row = format!("row {i} of a group of {n}");
            assert_eq!(
                store
                    .access_record_revoked(&format!("size-{n}-{i}"))
                    .await
                    .unwrap(),
                Some(false),
                "{row}"
            );
            let refresh = store
                .refresh_by_hash(&format!("refresh-{n}-{i}"))
                .await
                .unwrap()
                .expect(&row);
            assert_eq!(refresh.code_hash, Some(format!("code-{n}-{i}")), "{row}");
            assert!(
                matches!(
                    store.redeem_code(&format!("code-{n}-{i}")).await.unwrap(),
                    Redemption::Redeemed(_)
                ),
                "{row}"
            );
        }
    }
}

/// A replayed code finds the refresh families it led to through an index, not a scan
/// of every refresh token (migration 0014): anyone holding a used code can replay it.
async fn a_replayed_code_finds_its_families_by_index(store: &Store) {
    use sqlx::Row;
    let lookup = "SELECT family_id FROM oidc_refresh_tokens WHERE code_hash = 'replayed'";
    let mut tx = store.begin().await.unwrap();
    let (explain, column) = match store.backend() {
        Backend::Sqlite => ("EXPLAIN QUERY PLAN", "detail"),
        Backend::Postgres => {
            // On a table this small a scan is cheaper: ask for the plan without one.
            sqlx::query("SET LOCAL enable_seqscan = off")
                .execute(&mut *tx)
                .await
                .unwrap();
            ("EXPLAIN", "QUERY PLAN")
        }
    };
    let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!("{explain} {lookup}")))
        .fetch_all(&mut *tx)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(column))
        .collect();
    tx.rollback().await.unwrap();
    assert!(
        plan.iter().any(|line| line.contains("oidc_refresh_code")),
        "{plan:?}"
    );
}

on_both_backends!(
    a_replayed_code_finds_its_families_by_index,
    clients_and_consents,
    codes_families_and_access_tokens,
    clients_are_updated_whole,
    rows_written_together_fail_alone,
    many_writers_at_once,
    groups_of_every_size_write_each_row_once
);
