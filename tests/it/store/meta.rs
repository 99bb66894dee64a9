use latchkey::crypto::EncryptionKey;
use latchkey::store::Store;

use crate::on_both_backends;

async fn encryption_key_check(store: &Store) {
    let key = EncryptionKey::derive(b"the original key of this installation");
    assert!(
        store.verify_encryption_key(&key).await.unwrap(),
        "first use records the key"
    );
    assert!(
        store.verify_encryption_key(&key).await.unwrap(),
        "the same key passes again"
    );
    let other = EncryptionKey::derive(b"a different key given by mistake");
    assert!(!store.verify_encryption_key(&other).await.unwrap());
}

on_both_backends!(encryption_key_check);
