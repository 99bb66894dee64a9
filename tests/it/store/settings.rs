use latchkey::store::Store;

use crate::on_both_backends;

async fn settings_round_trip(store: &Store) {
    assert_eq!(store.setting("app_name").await.unwrap(), None);
    store.set_setting("app_name", "Home SSO").await.unwrap();
    store.set_setting("app_name", "Family SSO").await.unwrap();
    store.set_setting("signup_mode", "invite").await.unwrap();
    assert_eq!(
        store.setting("app_name").await.unwrap().as_deref(),
        Some("Family SSO")
    );
    let all = store.all_settings().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all["signup_mode"], "invite");
    store.clear_setting("app_name").await.unwrap();
    assert_eq!(store.setting("app_name").await.unwrap(), None);
}

on_both_backends!(settings_round_trip);
