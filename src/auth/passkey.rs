//! Passkeys with webauthn-rs-core: discoverable (usernameless) credentials, resident
//! key required, user verification per setting, attestation none. Ceremony state is
//! kept in the database between the two halves of each ceremony.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use uuid::Uuid;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AuthenticationState, COSEAlgorithm, Credential,
    PublicKeyCredential, RegisterPublicKeyCredential, RegistrationState,
    RequestAuthenticationExtensions, RequestRegistrationExtensions, UserVerificationPolicy,
};

use super::AuthError;
use crate::config::{AppUrl, UserVerification};
use crate::domain::user::User;
use crate::settings::Settings;
use crate::store::{PasskeyRow, Store, new_id, now};

/// A ceremony must be finished within this time.
const CEREMONY_TTL: i64 = 5 * 60;
const REGISTER: &str = "register";
const AUTHENTICATE: &str = "authenticate";

pub struct Passkeys {
    /// The relying party's id: the host of the public URL.
    rp_id: String,
    /// The only origin a ceremony may come from: the public URL.
    origin: url::Url,
    /// For the relying party's name, which authenticators show when a passkey is made:
    /// the application name in force, so that renaming it in the settings takes
    /// effect at the next ceremony.
    settings: Arc<Settings>,
}

/// The WebAuthn policy for the admin's user-verification setting.
fn policy(uv: UserVerification) -> UserVerificationPolicy {
    match uv {
        UserVerification::Required => UserVerificationPolicy::Required,
        UserVerification::Preferred => UserVerificationPolicy::Preferred,
    }
}

/// The WebAuthn user handle of a user: the 16 bytes of their UUID id.
fn user_handle(user_id: &str) -> Result<Uuid, AuthError> {
    Uuid::parse_str(user_id)
        .map_err(|_| AuthError::Internal(format!("user id {user_id} is not a UUID")))
}

impl Passkeys {
    /// RP ID = host of the public URL, origin = the public URL itself.
    pub fn new(app_url: &AppUrl, settings: Arc<Settings>) -> Passkeys {
        Passkeys {
            rp_id: app_url.host().to_string(),
            origin: url::Url::parse(app_url.as_str()).expect("the app URL was validated"),
            settings,
        }
    }

    /// The WebAuthn relying party as of now (a plain value, cheap to make).
    fn core(&self) -> WebauthnCore {
        WebauthnCore::new_unsafe_experts_only(
            &self.settings.get().app_name,
            &self.rp_id,
            vec![self.origin.clone()],
            std::time::Duration::from_secs(CEREMONY_TTL as u64),
            Some(false),
            Some(false),
        )
    }

    /// Begin adding a passkey for `user`; returns the ceremony id and the options for
    /// `navigator.credentials.create`.
    pub async fn start_registration(
        &self,
        store: &Store,
        user: &User,
        uv: UserVerification,
    ) -> Result<(String, Value), AuthError> {
        let existing = store.passkeys_of_user(&user.id).await?;
        let exclude = existing
            .iter()
            .filter_map(|p| URL_SAFE_NO_PAD.decode(&p.credential_id).ok())
            .collect();
        let extensions = RequestRegistrationExtensions {
            cred_props: Some(true),
            ..RequestRegistrationExtensions::default()
        };
        let core = self.core();
        let builder = core
            .new_challenge_register_builder(
                user_handle(&user.id)?.as_bytes(),
                &user.username,
                &user.display_name,
            )
            .map_err(webauthn_failure)?
            .attestation(AttestationConveyancePreference::None)
            .credential_algorithms(vec![
                COSEAlgorithm::ES256,
                COSEAlgorithm::EDDSA,
                COSEAlgorithm::RS256,
            ])
            .require_resident_key(true)
            .authenticator_attachment(None)
            .user_verification_policy(policy(uv))
            .reject_synchronised_authenticators(false)
            .exclude_credentials(Some(exclude))
            .extensions(Some(extensions));
        let (options, state) = core
            .generate_challenge_register(builder)
            .map_err(webauthn_failure)?;
        let id = new_id();
        let state =
            serde_json::to_string(&state).map_err(|e| AuthError::Internal(e.to_string()))?;
        store
            .insert_ceremony(&id, REGISTER, Some(&user.id), &state, now() + CEREMONY_TTL)
            .await?;
        Ok((
            id,
            serde_json::to_value(options).map_err(|e| AuthError::Internal(e.to_string()))?,
        ))
    }

    /// Verify the browser's answer and store the new passkey under `name`.
    pub async fn finish_registration(
        &self,
        store: &Store,
        user: &User,
        ceremony_id: &str,
        response: &RegisterPublicKeyCredential,
        name: &str,
    ) -> Result<PasskeyRow, AuthError> {
        let (owner, state) = store
            .take_ceremony(ceremony_id, REGISTER)
            .await?
            .ok_or(AuthError::Expired)?;
        if owner.as_deref() != Some(user.id.as_str()) {
            return Err(AuthError::Expired);
        }
        let state: RegistrationState =
            serde_json::from_str(&state).map_err(|e| AuthError::Internal(e.to_string()))?;
        let credential = self
            .core()
            .register_credential(response, &state, None)
            .map_err(webauthn_failure)?;
        let transports: Vec<String> = credential
            .transports
            .iter()
            .flatten()
            .filter_map(|t| serde_json::to_value(t).ok()?.as_str().map(str::to_string))
            .collect();
        let row = PasskeyRow {
            id: new_id(),
            user_id: user.id.clone(),
            credential_id: URL_SAFE_NO_PAD.encode(credential.cred_id.as_ref() as &[u8]),
            name: name.to_string(),
            aaguid: aaguid_of(&response.response.attestation_object)
                .unwrap_or_else(|| Uuid::nil().to_string()),
            backup_eligible: credential.backup_eligible,
            backup_state: credential.backup_state,
            transports: serde_json::to_string(&transports).unwrap_or_else(|_| "[]".into()),
            credential: serde_json::to_string(&credential)
                .map_err(|e| AuthError::Internal(e.to_string()))?,
            created_at: now(),
            last_used_at: None,
        };
        store.insert_passkey(&row).await?;
        Ok(row)
    }

    /// Begin a usernameless sign-in; the browser offers every passkey it holds for us.
    pub async fn start_authentication(
        &self,
        store: &Store,
        uv: UserVerification,
    ) -> Result<(String, Value), AuthError> {
        let core = self.core();
        let builder = core
            .new_challenge_authenticate_builder(Vec::new(), Some(policy(uv)))
            .map_err(webauthn_failure)?
            .extensions(Some(RequestAuthenticationExtensions {
                appid: None,
                uvm: Some(true),
                hmac_get_secret: None,
            }))
            .allow_backup_eligible_upgrade(true);
        let (options, state) = core
            .generate_challenge_authenticate(builder)
            .map_err(webauthn_failure)?;
        let id = new_id();
        let state =
            serde_json::to_string(&state).map_err(|e| AuthError::Internal(e.to_string()))?;
        store
            .insert_ceremony(&id, AUTHENTICATE, None, &state, now() + CEREMONY_TTL)
            .await?;
        Ok((
            id,
            serde_json::to_value(options).map_err(|e| AuthError::Internal(e.to_string()))?,
        ))
    }

    /// Verify a sign-in assertion; returns the passkey that was used. The credential is
    /// found by its id, and the user handle the authenticator returned must match it.
    pub async fn finish_authentication(
        &self,
        store: &Store,
        ceremony_id: &str,
        response: &PublicKeyCredential,
    ) -> Result<PasskeyRow, AuthError> {
        let (_, state) = store
            .take_ceremony(ceremony_id, AUTHENTICATE)
            .await?
            .ok_or(AuthError::Expired)?;
        let mut state: AuthenticationState =
            serde_json::from_str(&state).map_err(|e| AuthError::Internal(e.to_string()))?;
        let credential_id = URL_SAFE_NO_PAD.encode(response.get_credential_id());
        let passkey = store
            .passkey_by_credential_id(&credential_id)
            .await?
            .ok_or(AuthError::InvalidCredentials("unknown_passkey"))?;
        let handle = user_handle(&passkey.user_id)?;
        if response
            .get_user_unique_id()
            .is_some_and(|h| h != handle.as_bytes())
        {
            return Err(AuthError::InvalidCredentials("user_handle_mismatch"));
        }
        let mut credential: Credential = serde_json::from_str(&passkey.credential)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        state.set_allowed_credentials(vec![credential.clone()]);
        let result = self
            .core()
            .authenticate_credential(response, &state)
            .map_err(|e| match e {
                WebauthnError::CredentialPossibleCompromise => {
                    AuthError::InvalidCredentials("passkey_counter_regressed")
                }
                other => webauthn_failure(other),
            })?;
        if result.counter() > credential.counter {
            credential.counter = result.counter();
        }
        credential.backup_state = result.backup_state();
        credential.backup_eligible |= result.backup_eligible();
        let serialized =
            serde_json::to_string(&credential).map_err(|e| AuthError::Internal(e.to_string()))?;
        store
            .record_passkey_use(
                &passkey.id,
                &serialized,
                credential.backup_state,
                credential.backup_eligible,
            )
            .await?;
        Ok(passkey)
    }
}

/// A verification failure: the browser's answer did not check out.
fn webauthn_failure(e: WebauthnError) -> AuthError {
    tracing::debug!(error = %e, "WebAuthn verification failed");
    AuthError::InvalidCredentials("passkey_verification_failed")
}

/// The authenticator's AAGUID from the attestation object (authData bytes 37..53).
pub(crate) fn aaguid_of(attestation_object: &[u8]) -> Option<String> {
    let value: serde_cbor_2::Value = serde_cbor_2::from_slice(attestation_object).ok()?;
    let serde_cbor_2::Value::Map(map) = value else {
        return None;
    };
    let auth_data = map.iter().find_map(|(k, v)| match (k, v) {
        (serde_cbor_2::Value::Text(k), serde_cbor_2::Value::Bytes(b)) if k == "authData" => Some(b),
        _ => None,
    })?;
    let attested = auth_data.get(32).is_some_and(|flags| flags & 0x40 != 0);
    let bytes = auth_data.get(37..53).filter(|_| attested)?;
    Uuid::from_slice(bytes).ok().map(|u| u.to_string())
}
