//! The claims about a user that a client may see, by scope. ID tokens and userinfo
//! use the same function, so they always agree.

use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::domain::claims::merge_claims;
use crate::domain::scope;
use crate::domain::user::User;
use crate::store::StoreError;

/// `sub` plus the profile, email and groups claims the scope allows; custom claims
/// (from the user's groups, then the user) come with `profile`.
pub async fn user_claims(
    state: &AppState,
    user: &User,
    granted: &str,
) -> Result<Map<String, Value>, StoreError> {
    let mut out = Map::new();
    out.insert("sub".into(), json!(user.id));
    if scope::has(granted, "profile") {
        let (group_claims, own_claims) = state.store.claims_of_user(&user.id).await?;
        let custom = merge_claims(group_claims, own_claims);
        // Custom claims first: the standard ones below can never be overridden.
        out.extend(custom);
        out.insert("name".into(), json!(user.display_name));
        out.insert("preferred_username".into(), json!(user.username));
        if !user.first_name.is_empty() {
            out.insert("given_name".into(), json!(user.first_name));
        }
        if !user.last_name.is_empty() {
            out.insert("family_name".into(), json!(user.last_name));
        }
        // Public, like Pocket ID's: the uploaded picture, or an initials avatar.
        out.insert(
            "picture".into(),
            json!(
                state
                    .config
                    .app_url
                    .join(&crate::web::pictures::user_picture_path(&user.id))
            ),
        );
        if let Some(locale) = &user.locale {
            out.insert("locale".into(), json!(locale));
        }
        out.insert("updated_at".into(), json!(user.updated_at));
    }
    if scope::has(granted, "email")
        && let Some(email) = &user.email
    {
        out.insert("email".into(), json!(email));
        out.insert("email_verified".into(), json!(user.email_verified));
    }
    if scope::has(granted, "groups") {
        let groups: Vec<String> = state
            .store
            .groups_of_user(&user.id)
            .await?
            .into_iter()
            .map(|g| g.name)
            .collect();
        out.insert("groups".into(), json!(groups));
    }
    Ok(out)
}
