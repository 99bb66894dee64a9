//! The claims about a user that a client may see, by scope. ID tokens and userinfo
//! use the same function, so they always agree.

use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::domain::claims::Subject;
use crate::domain::scope;

/// `sub` plus the profile, email and groups claims the scope allows; custom claims
/// (from the user's groups, then the user) come with `profile`.
pub fn user_claims(state: &AppState, subject: &Subject, granted: &str) -> Map<String, Value> {
    let user = &subject.user;
    let mut out = Map::new();
    out.insert("sub".into(), json!(user.id));
    if scope::has(granted, "profile") {
        // Custom claims first: the standard ones below can never be overridden.
        out.extend(subject.custom.merged());
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
        out.insert("groups".into(), json!(subject.groups));
    }
    out
}
