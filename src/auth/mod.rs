//! Who is this person? Passkeys, passwords with TOTP, one-time login links, sessions,
//! throttling and new-device detection. Handlers call these functions; the rules live
//! here and in `domain`, the rows in `store`.

pub mod device;
pub mod email;
pub mod ldap;
pub mod login_code;
pub mod login_link;
pub mod passkey;
pub mod password;
pub mod session;
pub mod throttle;
pub mod totp;

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::json;

use crate::audit::{self, Origin};
use crate::config::Config;
use crate::crypto::EncryptionKey;
use crate::domain::Invalid;
use crate::domain::session::AuthMethod;
use crate::domain::user::User;
use crate::settings::Settings;
use crate::store::{Store, StoreError, now};

pub use session::NewSession;

/// Re-authentication is needed for credential changes when the last one is older.
pub const REAUTH_WINDOW: i64 = 5 * 60;
/// A correct password waits this long for its second factor.
const SECOND_FACTOR_TTL: i64 = 5 * 60;

/// Why an authentication step failed. `InvalidCredentials` carries the reason for the
/// audit log only; the person sees the same generic message for every reason.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid credentials ({0})")]
    InvalidCredentials(&'static str),
    #[error("too many attempts; try again in {}", throttle::human_wait(*.0))]
    RateLimited(i64),
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("this request has expired; please start again")]
    Expired,
    #[error("{0}")]
    NotAllowed(String),
    /// Something the check depends on (the upstream directory) did not answer: not
    /// a failed attempt.
    #[error("{0}")]
    Unavailable(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

/// Where an attempt comes from.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
    /// The long-lived device cookie, if the browser has one.
    pub device_cookie: Option<String>,
}

impl Client {
    pub fn origin(&self, actor: Option<&str>) -> Origin {
        Origin {
            actor_id: actor.map(str::to_string),
            ip: Some(self.ip.to_string()),
            user_agent: self.user_agent.clone(),
        }
    }
}

/// What a synced user sees when the directory that holds their password is down.
pub const DIRECTORY_UNAVAILABLE: &str = "The directory that checks your password is not answering. Try again in a moment, or sign in with a passkey.";

/// Why a password could not be checked at all (neither is a failed attempt).
enum PasswordProblem {
    Busy,
    DirectoryUnavailable,
    Store(StoreError),
}

/// The outcome of a correct password.
pub enum PasswordOutcome {
    /// No second factor needed: sign in.
    Complete(User),
    /// TOTP (or a recovery code) must follow; the token names the pending step.
    NeedsSecondFactor { pending_token: String },
}

/// The authentication rules, shared by every handler.
#[derive(Clone)]
pub struct Auth {
    pub store: Store,
    pub keys: Arc<EncryptionKey>,
    pub passkeys: Arc<passkey::Passkeys>,
    pub passwords: password::PasswordHasherPool,
    /// The admin's sign-in policy and session lengths, read at each use.
    pub settings: Arc<Settings>,
    /// Notices by email (new device).
    pub mail: crate::mail::Mail,
    /// What LDAP binds remember between binds (see `ldap::LdapMemory`).
    pub ldap: Arc<ldap::LdapMemory>,
    /// Synced users' passwords are checked by the upstream directory.
    pub directory: Arc<crate::directory::Directory>,
}

impl Auth {
    pub fn new(
        config: &Config,
        store: Store,
        keys: Arc<EncryptionKey>,
        settings: Arc<Settings>,
        mail: crate::mail::Mail,
        directory: Arc<crate::directory::Directory>,
    ) -> Auth {
        Auth {
            passkeys: Arc::new(passkey::Passkeys::new(&config.app_url, settings.clone())),
            passwords: password::PasswordHasherPool::new(),
            settings,
            mail,
            store,
            keys,
            ldap: Default::default(),
            directory,
        }
    }

    /// Whether password sign-in is on now.
    pub fn password_login_enabled(&self) -> bool {
        self.settings.get().password_login
    }

    /// Seconds an unused session lives.
    pub fn idle_timeout(&self) -> i64 {
        self.settings.get().session_idle_timeout
    }

    /// Record a failed attempt: an audit row and a log line (the throttle counted it
    /// when it began). `tried` is what was typed, recorded as `recorded_login` says.
    async fn fail(
        &self,
        client: &Client,
        user: Option<&User>,
        tried: &str,
        method: &str,
        reason: &'static str,
    ) -> AuthError {
        let _ = audit::record(
            &self.store,
            "auth.login.failed",
            &client.origin(user.map(|u| u.id.as_str())),
            user.map(|u| u.id.as_str()),
            json!({"method": method, "reason": reason, "login": recorded_login(&self.keys, tried)}),
        )
        .await;
        AuthError::InvalidCredentials(reason)
    }

    /// Count an attempt before its work; refused while locked (audited, aggregated).
    async fn begin_attempt(
        &self,
        attempt: &throttle::Attempt,
        client: &Client,
        tried: &str,
        method: &str,
    ) -> Result<(), AuthError> {
        begin_attempt(&self.store, &self.keys, attempt, client, tried, method).await
    }

    /// Check a username-or-email and password. Unknown accounts, accounts without a
    /// password, disabled accounts and wrong passwords all cost one argon2 verification
    /// and give the same error.
    pub async fn password_login(
        &self,
        login: &str,
        password: &str,
        next: &str,
        client: &Client,
    ) -> Result<PasswordOutcome, AuthError> {
        if !self.password_login_enabled() {
            return Err(AuthError::NotAllowed(
                "Password sign-in is turned off. Use a passkey.".into(),
            ));
        }
        let login = login.trim();
        check_login_length(login)?;
        let user = self.store.user_by_login(login).await?;
        let attempt = throttle::Attempt::new(
            "password",
            Some(&account_ref(user.as_ref(), login)),
            client.ip,
        );
        self.begin_attempt(&attempt, client, login, "password")
            .await?;
        let (correct, has_password) = match self.check_password(user.as_ref(), password).await {
            Ok(verdict) => verdict,
            Err(PasswordProblem::Busy) => {
                attempt.abandoned(&self.store).await?;
                return Err(AuthError::RateLimited(BUSY_WAIT));
            }
            Err(PasswordProblem::DirectoryUnavailable) => {
                // The directory could not say: not a failed attempt, nothing to count.
                attempt.abandoned(&self.store).await?;
                return Err(AuthError::Unavailable(DIRECTORY_UNAVAILABLE.into()));
            }
            Err(PasswordProblem::Store(e)) => {
                attempt.abandoned(&self.store).await?;
                return Err(e.into());
            }
        };
        let user = match user {
            None => {
                return Err(self
                    .fail(client, None, login, "password", "unknown_user")
                    .await);
            }
            Some(u) if !has_password => {
                return Err(self
                    .fail(client, Some(&u), login, "password", "no_password")
                    .await);
            }
            Some(u) if !correct => {
                return Err(self
                    .fail(client, Some(&u), login, "password", "bad_password")
                    .await);
            }
            Some(u) if u.disabled => {
                return Err(self
                    .fail(client, Some(&u), login, "password", "disabled")
                    .await);
            }
            Some(u) => u,
        };
        attempt.succeeded(&self.store).await?;
        let has_totp = self
            .store
            .user_credentials(&user.id)
            .await?
            .totp_secret_sealed
            .is_some();
        if !has_totp && !self.settings.get().totp_required {
            return Ok(PasswordOutcome::Complete(user));
        }
        if !has_totp {
            return Err(self
                .fail(
                    client,
                    Some(&user),
                    login,
                    "password",
                    "totp_required_not_enrolled",
                )
                .await);
        }
        let token = crate::crypto::random_token();
        self.store
            .insert_pending_login(
                &token.hash(),
                &user.id,
                next,
                "second_factor",
                now() + SECOND_FACTOR_TTL,
            )
            .await?;
        Ok(PasswordOutcome::NeedsSecondFactor {
            pending_token: token.expose().to_string(),
        })
    }

    /// Is `password` the user's? (correct, the user has a password at all). A synced
    /// user's is checked by the upstream directory when it holds the passwords; every
    /// other case costs one argon2 verification, unknown users included.
    async fn check_password(
        &self,
        user: Option<&User>,
        password: &str,
    ) -> Result<(bool, bool), PasswordProblem> {
        if let Some(u) = user
            && let Some(config) = self.directory.checks_password_of(u).await
        {
            return match self.directory.check_password(&config, u, password).await {
                crate::directory::PasswordCheck::Correct { .. } => Ok((true, true)),
                crate::directory::PasswordCheck::Wrong
                | crate::directory::PasswordCheck::NoSuchUser => Ok((false, true)),
                crate::directory::PasswordCheck::Unavailable(why) => {
                    tracing::warn!(
                        event = "directory.unavailable",
                        user = %u.id,
                        error = %why,
                        "a password could not be checked: the directory did not answer"
                    );
                    Err(PasswordProblem::DirectoryUnavailable)
                }
            };
        }
        let hash = match user {
            Some(u) => {
                self.store
                    .user_credentials(&u.id)
                    .await
                    .map_err(PasswordProblem::Store)?
                    .password_hash
            }
            None => None,
        };
        let real = hash.is_some();
        let correct = self
            .passwords
            .verify(password.to_string(), hash)
            .await
            .map_err(|password::Busy| PasswordProblem::Busy)?;
        Ok((correct && real, real))
    }

    /// The signed-in user's current password, checked as a sign-in is (the same
    /// throttle and audit), before a change that needs it.
    pub async fn confirm_password(
        &self,
        user: &User,
        password: &str,
        client: &Client,
    ) -> Result<(), AuthError> {
        let attempt =
            throttle::Attempt::new("password", Some(&account_ref(Some(user), "")), client.ip);
        self.begin_attempt(&attempt, client, &user.username, "current_password")
            .await?;
        match self.check_password(Some(user), password).await {
            Ok((true, _)) => {
                attempt.succeeded(&self.store).await?;
                Ok(())
            }
            Ok(_) => Err(self
                .fail(
                    client,
                    Some(user),
                    &user.username,
                    "current_password",
                    "bad_password",
                )
                .await),
            Err(PasswordProblem::Busy) => {
                attempt.abandoned(&self.store).await?;
                Err(AuthError::RateLimited(BUSY_WAIT))
            }
            Err(PasswordProblem::DirectoryUnavailable) => {
                attempt.abandoned(&self.store).await?;
                Err(AuthError::Unavailable(DIRECTORY_UNAVAILABLE.into()))
            }
            Err(PasswordProblem::Store(e)) => {
                attempt.abandoned(&self.store).await?;
                Err(e.into())
            }
        }
    }

    /// The user and next path of a pending second factor.
    pub async fn pending_second_factor(
        &self,
        pending_token: &str,
    ) -> Result<(User, String), AuthError> {
        let (user_id, next) = self
            .store
            .pending_login(&crate::crypto::hash_secret(pending_token), "second_factor")
            .await?
            .ok_or(AuthError::Expired)?;
        let user = self
            .store
            .user_by_id(&user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(AuthError::Expired)?;
        Ok((user, next))
    }

    /// Check a TOTP or recovery code for `user`; returns the method it completes.
    pub async fn verify_second_factor(
        &self,
        user: &User,
        code: &str,
        client: &Client,
    ) -> Result<AuthMethod, AuthError> {
        let attempt = throttle::Attempt::new(
            "second_factor",
            Some(&account_ref(Some(user), "")),
            client.ip,
        );
        self.begin_attempt(&attempt, client, &user.username, "second_factor")
            .await?;
        let method = if totp::is_recovery_code(code) {
            if self
                .store
                .use_recovery_code(&user.id, &totp::hash_recovery_code(code))
                .await?
            {
                audit::record(
                    &self.store,
                    "auth.recovery_code.used",
                    &client.origin(Some(&user.id)),
                    Some(&user.id),
                    json!({
                        "remaining": self.store.unused_recovery_codes(&user.id).await?
                    }),
                )
                .await?;
                Some(AuthMethod::PasswordRecoveryCode)
            } else {
                None
            }
        } else if self.check_totp(user, code).await? {
            Some(AuthMethod::PasswordTotp)
        } else {
            None
        };
        match method {
            Some(m) => {
                attempt.succeeded(&self.store).await?;
                Ok(m)
            }
            None => Err(self
                .fail(
                    client,
                    Some(user),
                    &user.username,
                    "second_factor",
                    "bad_code",
                )
                .await),
        }
    }

    /// Is `code` a current TOTP code of the user that has not been used before?
    pub async fn check_totp(&self, user: &User, code: &str) -> Result<bool, AuthError> {
        let creds = self.store.user_credentials(&user.id).await?;
        let Some(sealed) = creds.totp_secret_sealed else {
            return Ok(false);
        };
        let secret = self
            .keys
            .open(&totp_context(&user.id), &sealed)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        let Some(step) = totp::matching_step(&secret, code, now() as u64) else {
            return Ok(false);
        };
        // Atomically move the last-used step forward: a replayed code fails here.
        Ok(self.store.advance_totp_step(&user.id, step).await?)
    }

    /// Finish a sign-in: new-device check, the session row, the audit event.
    pub async fn sign_in(
        &self,
        user: &User,
        method: AuthMethod,
        client: &Client,
    ) -> Result<NewSession, AuthError> {
        if user.disabled {
            return Err(AuthError::InvalidCredentials("disabled"));
        }
        let device = device::observe(&self.store, Some(&self.mail), user, client).await?;
        let new_session = session::create(
            &self.store,
            user,
            method,
            client,
            device.is_new,
            self.settings.get().session_lifetime,
        )
        .await?;
        let origin = client.origin(Some(&user.id));
        audit::record(
            &self.store,
            "auth.login.succeeded",
            &origin,
            Some(&user.id),
            json!({
                "method": method.as_str(), "username": user.username, "new_device": device.is_new,
            }),
        )
        .await?;
        if device.is_new {
            audit::record(
                &self.store,
                "auth.new_device",
                &origin,
                Some(&user.id),
                json!({
                    "device": device::describe(client.user_agent.as_deref()),
                    "network": device.network,
                }),
            )
            .await?;
        }
        Ok(NewSession {
            device_cookie: device.new_cookie,
            ..new_session
        })
    }

    /// Start a passkey sign-in: the ceremony row it writes is counted per network.
    pub async fn start_passkey_login(
        &self,
        uv: crate::config::UserVerification,
        client: &Client,
    ) -> Result<(String, serde_json::Value), AuthError> {
        let attempt = throttle::Attempt::ceremony_start(client.ip);
        if let Err(refusal) = attempt.begin(&self.store, now()).await? {
            return Err(AuthError::RateLimited(refusal.wait));
        }
        self.passkeys.start_authentication(&self.store, uv).await
    }

    /// A sign-in with a passkey assertion (the ceremony started by `start_authentication`).
    pub async fn passkey_login(
        &self,
        ceremony_id: &str,
        response: &webauthn_rs_core::proto::PublicKeyCredential,
        client: &Client,
    ) -> Result<User, AuthError> {
        let attempt = throttle::Attempt::new("passkey", None, client.ip);
        self.begin_attempt(&attempt, client, "", "passkey").await?;
        let passkey = match self
            .passkeys
            .finish_authentication(&self.store, ceremony_id, response)
            .await
        {
            Ok(p) => p,
            Err(AuthError::InvalidCredentials(reason)) => {
                return Err(self.fail(client, None, "", "passkey", reason).await);
            }
            Err(e) => return Err(e),
        };
        let user = self
            .store
            .user_by_id(&passkey.user_id)
            .await?
            .ok_or(AuthError::InvalidCredentials("unknown_user"))?;
        if user.disabled {
            return Err(self
                .fail(client, Some(&user), &user.username, "passkey", "disabled")
                .await);
        }
        attempt.succeeded(&self.store).await?;
        Ok(user)
    }

    /// How many ways in a user has: passkeys plus a usable password.
    pub async fn sign_in_methods(&self, user_id: &str) -> Result<usize, AuthError> {
        let passkeys = self.store.passkeys_of_user(user_id).await?.len();
        let password = usize::from(
            self.password_login_enabled()
                && self
                    .store
                    .user_credentials(user_id)
                    .await?
                    .password_hash
                    .is_some(),
        );
        Ok(passkeys + password)
    }
}

/// How long a client is asked to wait when the password workers are all busy.
const BUSY_WAIT: i64 = 2;

/// What an account's throttle key is made from: the account when the typed name
/// resolves to one (its username and its email count together), else the name.
pub fn account_ref(user: Option<&User>, typed: &str) -> String {
    match user {
        Some(u) => format!("user:{}", u.id),
        None => format!("name:{}", typed.trim()),
    }
}

/// Login names and addresses longer than this are refused before anything is stored.
pub const LOGIN_MAX: usize = 254;

/// Refuse a typed login name or address longer than any account can have.
pub fn check_login_length(login: &str) -> Result<(), AuthError> {
    if login.chars().count() > LOGIN_MAX {
        return Err(AuthError::Invalid(Invalid::new(
            "login",
            format!("must be at most {LOGIN_MAX} characters"),
        )));
    }
    Ok(())
}

/// What the audit log keeps of a typed login name: the text when it could be a
/// username or an address (a SIEM needs it), else a keyed hash of it, so that a
/// password typed into the name field is not kept in clear, while repeated tries of
/// one value still correlate.
pub fn recorded_login(keys: &EncryptionKey, typed: &str) -> serde_json::Value {
    let typed = typed.trim();
    let plausible = typed.chars().count() <= LOGIN_MAX
        && (crate::domain::user::normalize_username(typed).is_ok()
            || crate::domain::user::normalize_email(typed).is_ok());
    if plausible || typed.is_empty() {
        json!(typed)
    } else {
        json!({"hmac": keys.pseudonym("login", typed)})
    }
}

/// Count `attempt` before its work. Refused while a key is locked: the refusal is
/// audited at the 1st, 10th, 100th … of its lock, so a flood writes a handful of rows.
pub async fn begin_attempt(
    store: &Store,
    keys: &EncryptionKey,
    attempt: &throttle::Attempt,
    client: &Client,
    tried: &str,
    method: &str,
) -> Result<(), AuthError> {
    begin_attempt_as(
        store,
        keys,
        "auth.rate_limited",
        attempt,
        client,
        tried,
        method,
    )
    .await
}

/// `begin_attempt`, with the event name its refusals are audited under.
pub async fn begin_attempt_as(
    store: &Store,
    keys: &EncryptionKey,
    event: &str,
    attempt: &throttle::Attempt,
    client: &Client,
    tried: &str,
    method: &str,
) -> Result<(), AuthError> {
    refused_as(
        store,
        keys,
        event,
        attempt.begin(store, now()).await?,
        client,
        tried,
        method,
    )
    .await
}

impl Auth {
    /// `begin_attempt_as` for LDAP binds, counted after their work
    /// (`Attempt::check_unlocked`, with the remembered lock states).
    pub async fn check_unlocked_as(
        &self,
        event: &str,
        attempt: &throttle::Attempt,
        client: &Client,
        tried: &str,
        method: &str,
    ) -> Result<(), AuthError> {
        let verdict = attempt
            .check_unlocked(&self.store, now(), &self.ldap.locks)
            .await?;
        refused_as(
            &self.store,
            &self.keys,
            event,
            verdict,
            client,
            tried,
            method,
        )
        .await
    }
}

/// A refusal, audited at the 1st, 10th, 100th … of its lock.
async fn refused_as(
    store: &Store,
    keys: &EncryptionKey,
    event: &str,
    verdict: Result<(), throttle::Refusal>,
    client: &Client,
    tried: &str,
    method: &str,
) -> Result<(), AuthError> {
    match verdict {
        Ok(()) => Ok(()),
        Err(refusal) => {
            if refusal.worth_recording() {
                audit::record(
                    store,
                    event,
                    &client.origin(None),
                    None,
                    json!({
                        "method": method,
                        "login": recorded_login(keys, tried),
                        "retry_after": refusal.wait,
                        "refused": refusal.refused,
                    }),
                )
                .await?;
            }
            Err(AuthError::RateLimited(refusal.wait))
        }
    }
}

/// The encryption context of a user's TOTP secret.
pub fn totp_context(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// A `next` parameter is followed only when it is a same-origin relative path:
/// it starts with one `/`, not `//` or `/\`, and holds no scheme or control characters.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control() || c == '\\')
                && n.len() <= 2048 =>
        {
            n.to_string()
        }
        _ => "/account".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_relative_paths_are_followed() {
        assert_eq!(safe_next(Some("/account/security")), "/account/security");
        assert_eq!(
            safe_next(Some("/authorize?client_id=x&scope=openid")),
            "/authorize?client_id=x&scope=openid"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "",
            "/a\nb",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(Some(bad)), "/account", "{bad}");
        }
        assert_eq!(safe_next(None), "/account");
    }
}
