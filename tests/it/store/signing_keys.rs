use latchkey::crypto::EncryptionKey;
use latchkey::store::{SigningKeyRow, Store, StoreError};

use crate::on_both_backends;

fn key(kid: &str, alg: &str, created_at: i64, sealer: &EncryptionKey) -> SigningKeyRow {
    SigningKeyRow {
        kid: kid.into(),
        alg: alg.into(),
        public_jwk: format!(r#"{{"kid":"{kid}","kty":"EC"}}"#),
        private_sealed: sealer.seal(
            &format!("signing_key:{kid}"),
            format!("private-{kid}").as_bytes(),
        ),
        created_at,
        retired_at: None,
        expires_at: None,
    }
}

async fn keys_rotate_and_expire(store: &Store) {
    let sealer = EncryptionKey::derive(b"test master key material");
    store
        .insert_signing_key(&key("k1", "ES256", 100, &sealer))
        .await
        .unwrap();
    store
        .insert_signing_key(&key("r1", "RS256", 100, &sealer))
        .await
        .unwrap();
    store
        .insert_signing_key(&key("k2", "ES256", 200, &sealer))
        .await
        .unwrap();

    let active = store.active_signing_key("ES256").await.unwrap().unwrap();
    assert_eq!(active.kid, "k2");
    // The private part is stored sealed and opens only with its own context.
    assert_eq!(
        sealer
            .open("signing_key:k2", &active.private_sealed)
            .unwrap(),
        b"private-k2"
    );
    assert!(
        sealer
            .open("signing_key:k1", &active.private_sealed)
            .is_err()
    );

    store.retire_signing_key("k2", 300, 1000).await.unwrap();
    assert!(matches!(
        store.retire_signing_key("k2", 301, 1000).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .active_signing_key("ES256")
            .await
            .unwrap()
            .unwrap()
            .kid,
        "k1"
    );
    let published: Vec<String> = store
        .published_signing_keys(999)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(published, ["k1", "r1", "k2"]);
    let published: Vec<String> = store
        .published_signing_keys(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(
        published,
        ["k1", "r1"],
        "a retired key leaves the JWKS once its tokens have expired"
    );
    assert_eq!(store.all_signing_keys().await.unwrap().len(), 3);
    assert_eq!(store.active_signing_key("EdDSA").await.unwrap(), None);
}

on_both_backends!(keys_rotate_and_expire);
