//! Latchkey as a client of the upstream directory (the `ldap3` crate over rustls):
//! connect with the TLS the settings ask for, bind, read users and groups with paged
//! searches, and check one user's password by a bind of their own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::{EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::settings::{DirectoryConfig, Tls};

/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one operation may take (a whole paged search gets this per page).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// The most entries one sync reads: a directory larger than this is refused, not cut.
pub const ENTRIES_MAX: usize = 200_000;
/// The largest picture taken from the directory.
pub const PICTURE_MAX: usize = 512 * 1024;

/// What went wrong talking to the directory, in words an admin can act on.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("the directory refused the bind as {dn}: {message}")]
    Bind { dn: String, message: String },
    #[error("the search under {base} failed: {message}")]
    Search { base: String, message: String },
    #[error("{0}")]
    Config(String),
}

/// One entry as read.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dn: String,
    pub attrs: HashMap<String, Vec<String>>,
    pub bin_attrs: HashMap<String, Vec<Vec<u8>>>,
}

impl Entry {
    fn from(e: SearchEntry) -> Entry {
        // Attribute names compare without case; keep them lower case.
        fn lower<V>(m: HashMap<String, Vec<V>>) -> HashMap<String, Vec<V>> {
            m.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect()
        }
        Entry {
            dn: e.dn,
            attrs: lower(e.attrs),
            bin_attrs: lower(e.bin_attrs),
        }
    }

    /// The first text value of `attr`.
    pub fn first(&self, attr: &str) -> Option<&str> {
        self.attrs
            .get(&attr.to_ascii_lowercase())
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    pub fn all(&self, attr: &str) -> &[String] {
        self.attrs
            .get(&attr.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The first value of `attr` as bytes, text or binary.
    pub fn bytes(&self, attr: &str) -> Option<Vec<u8>> {
        let attr = attr.to_ascii_lowercase();
        self.bin_attrs
            .get(&attr)
            .and_then(|v| v.first().cloned())
            .or_else(|| self.first(&attr).map(|s| s.as_bytes().to_vec()))
    }
}

/// The users and groups the filters find.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub users: Vec<Entry>,
    pub groups: Vec<Entry>,
}

/// The TLS settings rustls uses: the system roots plus the CA file.
fn tls_config(config: &DirectoryConfig) -> Result<Arc<rustls::ClientConfig>, DirectoryError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DirectoryError::Config(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = &config.ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                DirectoryError::Config(format!("cannot read the CA file {}: {e}", path.display()))
            })?;
        for cert in certs {
            roots.add(cert).map_err(|e| {
                DirectoryError::Config(format!("the CA file {}: {e}", path.display()))
            })?;
        }
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// A new connection, TLS as configured, not yet bound.
pub async fn connect(config: &DirectoryConfig) -> Result<Ldap, DirectoryError> {
    let mut settings = LdapConnSettings::new().set_conn_timeout(CONNECT_TIMEOUT);
    if config.tls != Tls::None {
        settings = settings.set_starttls(config.tls == Tls::StartTls);
        // SKIP_VERIFY: ldap3's own configuration that accepts any certificate.
        settings = match config.skip_verify {
            true => settings.set_no_tls_verify(true),
            false => settings.set_config(tls_config(config)?),
        };
    }
    let (conn, ldap) = LdapConnAsync::with_settings(settings, &config.url)
        .await
        .map_err(|e| DirectoryError::Connect {
            url: config.url.clone(),
            message: describe(&e),
        })?;
    ldap3::drive!(conn);
    Ok(ldap)
}

/// An error's message with its sources (rustls says *why* a certificate is refused).
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// Connect and bind as the configured account (anonymously without a bind DN).
pub async fn connect_as_service(config: &DirectoryConfig) -> Result<Ldap, DirectoryError> {
    let mut ldap = connect(config).await?;
    if !config.bind_dn.is_empty() {
        let password = config.bind_password.clone().unwrap_or_default();
        if password.is_empty() {
            return Err(DirectoryError::Config(
                "a bind DN is set without its password".into(),
            ));
        }
        let result = ldap
            .with_timeout(OPERATION_TIMEOUT)
            .simple_bind(&config.bind_dn, &password)
            .await
            .map_err(|e| DirectoryError::Bind {
                dn: config.bind_dn.clone(),
                message: describe(&e),
            })?;
        if result.rc != 0 {
            return Err(DirectoryError::Bind {
                dn: config.bind_dn.clone(),
                message: result_text(result.rc, &result.text),
            });
        }
    }
    Ok(ldap)
}

/// An LDAP result code with its RFC 4511 name and the server's words.
pub fn result_text(rc: u32, text: &str) -> String {
    let name = match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        _ => "error",
    };
    if text.is_empty() {
        format!("{name} ({rc})")
    } else {
        format!("{name} ({rc}): {text}")
    }
}

/// Every entry under `base` that `filter` finds, in pages of `page_size`. Any result
/// but success (a size limit, a broken page, a referral) is an error: a partial answer
/// is never taken for the whole.
pub async fn search_all(
    ldap: &mut Ldap,
    base: &str,
    filter: &str,
    attrs: &[String],
    page_size: i32,
) -> Result<Vec<Entry>, DirectoryError> {
    let fail = |message: String| DirectoryError::Search {
        base: base.to_string(),
        message,
    };
    let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(page_size)),
    ];
    let mut stream = ldap
        .with_timeout(OPERATION_TIMEOUT)
        .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs.to_vec())
        .await
        .map_err(|e| fail(describe(&e)))?;
    let mut entries = Vec::new();
    loop {
        match stream.next().await {
            Ok(Some(entry)) => {
                if entries.len() >= ENTRIES_MAX {
                    let _ = stream.finish().await;
                    return Err(fail(format!("more than {ENTRIES_MAX} entries")));
                }
                entries.push(Entry::from(SearchEntry::construct(entry)));
            }
            Ok(None) => break,
            Err(e) => {
                let _ = stream.finish().await;
                return Err(fail(describe(&e)));
            }
        }
    }
    let result = stream.finish().await;
    if result.rc != 0 {
        return Err(fail(format!(
            "{} after {} entries",
            result_text(result.rc, &result.text),
            entries.len()
        )));
    }
    Ok(entries)
}

/// The attributes a sync asks for: the mapped ones, by name (the unique id is
/// operational, so it is asked for explicitly).
pub fn user_attrs(config: &DirectoryConfig) -> Vec<String> {
    let a = &config.attrs;
    let mut attrs = vec![
        a.unique_id.clone(),
        a.username.clone(),
        a.email.clone(),
        a.first_name.clone(),
        a.last_name.clone(),
        a.display_name.clone(),
    ];
    attrs.extend(a.picture.clone());
    attrs
}

pub fn group_attrs(config: &DirectoryConfig) -> Vec<String> {
    let a = &config.attrs;
    vec![
        a.unique_id.clone(),
        a.group_name.clone(),
        a.group_member.clone(),
        "member".into(),
        "uniqueMember".into(),
        "memberUid".into(),
        "objectClass".into(),
        "description".into(),
    ]
}

/// Read every user and group the filters find.
pub async fn fetch(config: &DirectoryConfig) -> Result<Fetched, DirectoryError> {
    let mut ldap = connect_as_service(config).await?;
    let users = search_all(
        &mut ldap,
        &config.user_base,
        &config.user_filter,
        &user_attrs(config),
        config.page_size,
    )
    .await?;
    let groups = search_all(
        &mut ldap,
        &config.group_base,
        &config.group_filter,
        &group_attrs(config),
        config.page_size,
    )
    .await?;
    let _ = ldap.unbind().await;
    Ok(Fetched { users, groups })
}

/// What a password check against the directory found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The bind succeeded: the entry's unique id (to make sure it is the synced user).
    Correct { unique_id: Option<String> },
    /// `invalidCredentials` (49): the only answer that means a wrong password.
    Wrong,
    /// No entry, or more than one, has this username.
    NoSuchUser,
    /// Anything else: the directory cannot say.
    Unavailable(String),
}

/// Check `username`'s `password` by a bind as their entry, on a fresh connection.
/// The caller refuses an empty password before this (an empty simple bind is an
/// unauthenticated bind that many servers accept).
pub async fn check_password(
    config: &DirectoryConfig,
    username: &str,
    password: &str,
) -> PasswordCheck {
    if password.is_empty() {
        return PasswordCheck::Wrong;
    }
    let found = async {
        let mut ldap = connect_as_service(config).await?;
        let filter = format!(
            "(&{}({}={}))",
            config.user_filter,
            config.attrs.username,
            ldap_escape(username)
        );
        let mut attrs = vec![config.attrs.unique_id.clone()];
        attrs.push(config.attrs.username.clone());
        // Two are enough to know there is more than one.
        let (entries, result) = ldap
            .with_timeout(OPERATION_TIMEOUT)
            .with_search_options(ldap3::SearchOptions::new().sizelimit(2))
            .search(&config.user_base, Scope::Subtree, &filter, attrs)
            .await
            .map_err(|e| DirectoryError::Search {
                base: config.user_base.clone(),
                message: describe(&e),
            })?
            .success()
            .map(|(e, r)| (e, Some(r)))
            .or_else(|e| match e {
                ldap3::LdapError::LdapResult { result } if result.rc == 4 => Ok((Vec::new(), None)),
                e => Err(DirectoryError::Search {
                    base: config.user_base.clone(),
                    message: describe(&e),
                }),
            })?;
        let _ = ldap.unbind().await;
        let entries: Vec<Entry> = entries
            .into_iter()
            .filter(|e| !e.is_ref())
            .map(|e| Entry::from(SearchEntry::construct(e)))
            .collect();
        Ok::<_, DirectoryError>((entries, result.is_none()))
    }
    .await;
    let entry = match found {
        Ok((entries, false)) if entries.len() == 1 => entries.into_iter().next().expect("one"),
        Ok(_) => return PasswordCheck::NoSuchUser,
        Err(e) => return PasswordCheck::Unavailable(e.to_string()),
    };
    let mut ldap = match connect(config).await {
        Ok(l) => l,
        Err(e) => return PasswordCheck::Unavailable(e.to_string()),
    };
    let outcome = match ldap
        .with_timeout(OPERATION_TIMEOUT)
        .simple_bind(&entry.dn, password)
        .await
    {
        Ok(r) if r.rc == 0 => PasswordCheck::Correct {
            unique_id: super::mapping::unique_id(&entry, &config.attrs.unique_id),
        },
        Ok(r) if r.rc == 49 => PasswordCheck::Wrong,
        Ok(r) => PasswordCheck::Unavailable(result_text(r.rc, &r.text)),
        Err(e) => PasswordCheck::Unavailable(describe(&e)),
    };
    let _ = ldap.unbind().await;
    outcome
}
