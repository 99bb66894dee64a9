//! Registering clients: validation, ids and secrets. Shared by the CLI and (later)
//! the admin console and API.

use crate::crypto::random_token;
use crate::domain::Invalid;
use crate::domain::client::{Client, SIGNING_ALGS, check_redirect_uri};
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

/// Check a spec, store the client, and return it with its secret (None when public).
pub async fn register(
    store: &Store,
    spec: ClientSpec,
) -> Result<(Client, Option<String>), RegistrationError> {
    let name = spec.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Invalid::new("name", "must be 1–100 characters").into());
    }
    if spec.redirect_uris.is_empty() {
        return Err(Invalid::new("redirect_uri", "at least one is required").into());
    }
    for uri in spec
        .redirect_uris
        .iter()
        .chain(&spec.post_logout_redirect_uris)
    {
        check_redirect_uri(uri)?;
    }
    let alg = spec.signing_alg.unwrap_or_else(|| "RS256".into());
    if !SIGNING_ALGS.contains(&alg.as_str()) {
        return Err(Invalid::new(
            "signing_alg",
            format!("`{alg}` is not one of RS256, ES256, EdDSA"),
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
    let mut group_ids = Vec::new();
    for g in &spec.allowed_groups {
        let group = store
            .group_by_name(g)
            .await?
            .ok_or_else(|| Invalid::new("allowed_group", format!("no group named `{g}`")))?;
        group_ids.push(group.id);
    }
    let (secret, secret_hash) = if spec.public {
        (None, None)
    } else {
        let (s, h) = new_secret();
        (Some(s), Some(h))
    };
    let t = now();
    let client = Client {
        id: new_id(),
        name,
        secret_hash,
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        is_public: spec.public,
        redirect_uris: spec.redirect_uris,
        post_logout_redirect_uris: spec.post_logout_redirect_uris,
        require_pkce: spec.require_pkce,
        allow_plain_pkce: spec.allow_plain_pkce,
        signing_alg: alg,
        access_token_ttl,
        refresh_token_ttl,
        skip_consent: spec.skip_consent,
        always_refresh: spec.always_refresh,
        launch_url: spec.launch_url,
        allowed_groups: group_ids,
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

/// Give a confidential client a new secret; the old one works for another day.
pub async fn rotate_secret(store: &Store, client_id: &str) -> Result<String, StoreError> {
    let (secret, hash) = new_secret();
    store
        .rotate_client_secret(client_id, &hash, now() + SECRET_OVERLAP)
        .await?;
    Ok(secret)
}
