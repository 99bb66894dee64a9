//! Registering and changing clients: validation, ids and secrets. Shared by the CLI,
//! the admin console and the API, so every way in follows the same rules.

use crate::crypto::random_token;
use crate::domain::Invalid;
use crate::domain::access::Strength;
use crate::domain::client::{
    Client, SIGNING_ALGS, check_grant_types, check_redirect_uri, check_scopes, default_grant_types,
};
use crate::domain::scope;
use crate::store::{Store, StoreError, new_id, now};

/// What an administrator asks for.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub require_pkce: bool,
    pub allow_plain_pkce: bool,
    pub signing_alg: Option<String>,
    pub access_token_ttl: Option<i64>,
    pub refresh_token_ttl: Option<i64>,
    pub skip_consent: bool,
    pub always_refresh: bool,
    pub launch_url: Option<String>,
    /// Group names whose members may use the client.
    pub allowed_groups: Vec<String>,
    /// How strongly people must have signed in.
    pub require: Strength,
    /// Seconds after which people must sign in again for it.
    pub max_session_age: Option<i64>,
    /// Grant types by RFC name; None: every one the client's type allows.
    pub grant_types: Option<Vec<String>>,
    /// Scopes it may be given; None: every standard scope.
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// A secret is shown once; a rotated-out secret keeps working this long.
pub const SECRET_OVERLAP: i64 = 24 * 3600;

fn new_secret() -> (String, String) {
    let token = random_token();
    (token.expose().to_string(), token.hash())
}

/// A spec that passed every rule, with group names resolved to ids.
struct Checked {
    name: String,
    signing_alg: String,
    access_token_ttl: i64,
    refresh_token_ttl: i64,
    launch_url: Option<String>,
    group_ids: Vec<String>,
    max_session_age: Option<i64>,
    grant_types: Vec<String>,
    scopes: Vec<String>,
}

/// Every rule a client's settings must follow; `Invalid::field` names the API field.
async fn check(store: &Store, spec: &ClientSpec) -> Result<Checked, RegistrationError> {
    let name = spec.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Invalid::new("name", "must be 1–100 characters").into());
    }
    if spec.redirect_uris.is_empty() {
        return Err(Invalid::new("redirect_uris", "at least one is required").into());
    }
    for uri in &spec.redirect_uris {
        check_redirect_uri(uri).map_err(|e| Invalid::new("redirect_uris", e.message))?;
    }
    for uri in &spec.post_logout_redirect_uris {
        check_redirect_uri(uri)
            .map_err(|e| Invalid::new("post_logout_redirect_uris", e.message))?;
    }
    let signing_alg = spec.signing_alg.clone().unwrap_or_else(|| "RS256".into());
    if !SIGNING_ALGS.contains(&signing_alg.as_str()) {
        return Err(Invalid::new(
            "signing_alg",
            format!("`{signing_alg}` is not one of RS256, ES256, EdDSA"),
        )
        .into());
    }
    let access_token_ttl = spec.access_token_ttl.unwrap_or(3600);
    let refresh_token_ttl = spec.refresh_token_ttl.unwrap_or(30 * 86_400);
    if !(60..=86_400).contains(&access_token_ttl) {
        return Err(Invalid::new("access_token_ttl", "must be between 1 minute and 1 day").into());
    }
    if !(300..=365 * 86_400).contains(&refresh_token_ttl) {
        return Err(Invalid::new(
            "refresh_token_ttl",
            "must be between 5 minutes and 365 days",
        )
        .into());
    }
    let launch_url = match spec.launch_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(u) => Some(check_launch_url(u)?),
    };
    let max_session_age = match spec.max_session_age {
        None => None,
        Some(age) if (300..=366 * 86_400).contains(&age) => Some(age),
        Some(_) => {
            return Err(
                Invalid::new("max_session_age", "must be between 5 minutes and 366 days").into(),
            );
        }
    };
    let grant_types = match &spec.grant_types {
        None => default_grant_types(spec.public),
        Some(list) => check_grant_types(list, spec.public)?,
    };
    let scopes = match &spec.scopes {
        None => scope::SUPPORTED.iter().map(|s| s.to_string()).collect(),
        Some(list) => check_scopes(list)?,
    };
    let mut group_ids = Vec::new();
    for g in &spec.allowed_groups {
        let group = store
            .group_by_name(g)
            .await?
            .ok_or_else(|| Invalid::new("allowed_groups", format!("no group named `{g}`")))?;
        if !group_ids.contains(&group.id) {
            group_ids.push(group.id);
        }
    }
    Ok(Checked {
        name,
        signing_alg,
        access_token_ttl,
        refresh_token_ttl,
        launch_url,
        group_ids,
        max_session_age,
        grant_types,
        scopes,
    })
}

/// The address "My apps" opens: an absolute http(s) URL.
fn check_launch_url(text: &str) -> Result<String, Invalid> {
    match url::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(text.to_string()),
        _ => Err(Invalid::new(
            "launch_url",
            format!("`{text}` is not an absolute http(s) URL"),
        )),
    }
}

/// Check a spec, store the client, and return it with its secret (None when public).
pub async fn register(
    store: &Store,
    spec: ClientSpec,
) -> Result<(Client, Option<String>), RegistrationError> {
    let checked = check(store, &spec).await?;
    let (secret, secret_hash) = if spec.public {
        (None, None)
    } else {
        let (s, h) = new_secret();
        (Some(s), Some(h))
    };
    let t = now();
    let client = Client {
        id: new_id(),
        name: checked.name,
        secret_hash,
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        is_public: spec.public,
        redirect_uris: spec.redirect_uris,
        post_logout_redirect_uris: spec.post_logout_redirect_uris,
        require_pkce: spec.require_pkce,
        allow_plain_pkce: spec.allow_plain_pkce,
        signing_alg: checked.signing_alg,
        access_token_ttl: checked.access_token_ttl,
        refresh_token_ttl: checked.refresh_token_ttl,
        skip_consent: spec.skip_consent,
        always_refresh: spec.always_refresh,
        launch_url: checked.launch_url,
        allowed_groups: checked.group_ids,
        require: spec.require,
        max_session_age: checked.max_session_age,
        grant_types: checked.grant_types,
        scopes: checked.scopes,
        created_at: t,
        updated_at: t,
    };
    store.insert_client(&client).await?;
    let stored = store
        .client_by_id(&client.id)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok((stored, secret))
}

/// The spec a registered client has now: the starting point of an edit.
pub fn spec_of(client: &Client) -> ClientSpec {
    ClientSpec {
        name: client.name.clone(),
        redirect_uris: client.redirect_uris.clone(),
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        public: client.is_public,
        require_pkce: client.require_pkce,
        allow_plain_pkce: client.allow_plain_pkce,
        signing_alg: Some(client.signing_alg.clone()),
        access_token_ttl: Some(client.access_token_ttl),
        refresh_token_ttl: Some(client.refresh_token_ttl),
        skip_consent: client.skip_consent,
        always_refresh: client.always_refresh,
        launch_url: client.launch_url.clone(),
        allowed_groups: client.allowed_groups.clone(),
        require: client.require,
        max_session_age: client.max_session_age,
        // The defaults stay defaults, so that a change of type (public or not)
        // brings its own.
        grant_types: (client.grant_types != default_grant_types(client.is_public))
            .then(|| client.grant_types.clone()),
        scopes: (client.scopes.len() != scope::SUPPORTED.len()).then(|| client.scopes.clone()),
    }
}

/// A client before and after an edit; `secret` is set (shown once) when a public
/// client became confidential and so got its first secret.
pub struct Updated {
    pub before: Client,
    pub after: Client,
    pub secret: Option<String>,
}

/// Replace a client's settings with `spec`, checked by the same rules as `register`,
/// in one transaction. Becoming public drops the secrets; becoming confidential makes one.
/// The caller must forget the client in the token endpoint's cache.
pub async fn update(
    store: &Store,
    id: &str,
    spec: ClientSpec,
) -> Result<Updated, RegistrationError> {
    let before = store.client_by_id(id).await?.ok_or(StoreError::NotFound)?;
    let checked = check(store, &spec).await?;
    let mut next = before.clone();
    let mut secret = None;
    if spec.public {
        next.secret_hash = None;
        next.previous_secret_hash = None;
        next.previous_secret_expires_at = None;
    } else if before.is_public || before.secret_hash.is_none() {
        let (s, h) = new_secret();
        next.secret_hash = Some(h);
        secret = Some(s);
    }
    next.name = checked.name;
    next.is_public = spec.public;
    next.redirect_uris = spec.redirect_uris;
    next.post_logout_redirect_uris = spec.post_logout_redirect_uris;
    next.require_pkce = spec.require_pkce;
    next.allow_plain_pkce = spec.allow_plain_pkce;
    next.signing_alg = checked.signing_alg;
    next.access_token_ttl = checked.access_token_ttl;
    next.refresh_token_ttl = checked.refresh_token_ttl;
    next.skip_consent = spec.skip_consent;
    next.always_refresh = spec.always_refresh;
    next.launch_url = checked.launch_url;
    next.allowed_groups = checked.group_ids;
    next.require = spec.require;
    next.max_session_age = checked.max_session_age;
    next.grant_types = checked.grant_types;
    next.scopes = checked.scopes;
    store.update_client(&next).await?;
    let after = store.client_by_id(id).await?.ok_or(StoreError::NotFound)?;
    Ok(Updated {
        before,
        after,
        secret,
    })
}

/// The settings that differ between two versions of a client, as
/// `{"before": {field: old, …}, "after": {field: new, …}}` for the audit log (no
/// secrets: the serialised client holds none).
pub fn changes(before: &Client, after: &Client) -> serde_json::Value {
    let (serde_json::Value::Object(b), serde_json::Value::Object(a)) =
        (serde_json::json!(before), serde_json::json!(after))
    else {
        return serde_json::json!({});
    };
    let (mut old, mut new) = (serde_json::Map::new(), serde_json::Map::new());
    for (key, value) in a {
        if key == "updated_at" {
            continue;
        }
        let was = b.get(&key).cloned().unwrap_or(serde_json::Value::Null);
        if was != value {
            old.insert(key.clone(), was);
            new.insert(key, value);
        }
    }
    serde_json::json!({"before": old, "after": new})
}

/// Give a confidential client a new secret; the old one works for another day.
pub async fn rotate_secret(store: &Store, client_id: &str) -> Result<String, StoreError> {
    let (secret, hash) = new_secret();
    store
        .rotate_client_secret(client_id, &hash, now() + SECRET_OVERLAP)
        .await?;
    Ok(secret)
}
