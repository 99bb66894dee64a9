//! `/admin/email`: the SMTP server (environment-given fields read-only), a test email,
//! which messages are sent, the email policy, and the outbox with "retry now".

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{AdminSession, CsrfForm, Flash, ticked};
use crate::app::AppState;
use crate::audit;
use crate::http::ClientInfo;
use crate::mail::settings::{self, Kind, Policy, SmtpInput};
use crate::store::MailStatus;
use crate::web::{Chrome, WebError, see_other, when};

struct FieldView {
    name: &'static str,
    label: &'static str,
    value: String,
    fixed: bool,
    placeholder: &'static str,
}

struct SwitchView {
    name: &'static str,
    label: &'static str,
    on: bool,
}

struct MailRow {
    id: String,
    status: &'static str,
    subject: String,
    to: String,
    kind: String,
    created: String,
    attempts: i64,
    next: Option<String>,
    error: Option<String>,
    retryable: bool,
}

#[derive(Template)]
#[template(path = "admin_email.html")]
struct EmailPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    insecure: bool,
    configured: bool,
    any_fixed: bool,
    fields: Vec<FieldView>,
    error_field: &'a str,
    password_set: bool,
    password_fixed: bool,
    skip_fixed: bool,
    test_to: &'a str,
    switches: Vec<SwitchView>,
    policy: Policy,
    queued: i64,
    sent: i64,
    failed: i64,
    outbox: Vec<MailRow>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
}

/// What the page shows besides the stored state: a message and the field it is about.
#[derive(Default)]
struct Shown<'a> {
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    error_field: &'a str,
    status: Option<MailStatus>,
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    shown: Shown<'_>,
    code: StatusCode,
) -> Result<Response, WebError> {
    let s = state.mail.settings().await?;
    let f = &s.form;
    let view_field = |name, label, field: &settings::Field, placeholder| FieldView {
        name,
        label,
        value: field.value.clone(),
        fixed: field.fixed,
        placeholder,
    };
    let fields = vec![
        view_field("host", "Host", &f.host, "smtp.example.org"),
        view_field("port", "Port", &f.port, "587 for starttls, 465 for tls"),
        view_field(
            "security",
            "Security (starttls, tls or none)",
            &f.security,
            "starttls",
        ),
        view_field("username", "Username", &f.username, ""),
        view_field(
            "from_address",
            "From address",
            &f.from_address,
            "sso@example.org",
        ),
        view_field(
            "from_name",
            "From name",
            &f.from_name,
            "the application name",
        ),
        view_field(
            "ca_file",
            "Extra CA certificate file (PEM, trusted besides the system's)",
            &f.ca_file,
            "",
        ),
    ];
    let counts: BTreeMap<&str, i64> = state
        .store
        .count_mail()
        .await?
        .into_iter()
        .map(|(s, n)| (s.as_str(), n))
        .collect();
    let outbox = state
        .store
        .list_mail(shown.status, 100)
        .await?
        .into_iter()
        .map(|m| MailRow {
            status: m.status.as_str(),
            retryable: m.status != MailStatus::Sent && m.body_sealed.is_some(),
            next: (m.status == MailStatus::Queued && m.attempts > 0)
                .then(|| when(m.next_attempt_at)),
            created: when(m.created_at),
            id: m.id,
            subject: m.subject,
            to: m.recipient,
            kind: m.kind,
            attempts: m.attempts,
            error: m.last_error,
        })
        .collect();
    let page = admin.page(state, headers);
    let view = EmailPage {
        chrome: &page.chrome,
        section: "email",
        notice: shown.notice,
        alert: shown.alert,
        insecure: s.smtp.as_ref().is_some_and(|m| m.skip_verification),
        configured: s.smtp.is_some(),
        any_fixed: fields.iter().any(|f| f.fixed) || f.password_fixed,
        fields,
        error_field: shown.error_field,
        password_set: f.password_set,
        password_fixed: f.password_fixed,
        skip_fixed: f.skip_verification.fixed,
        test_to: admin.user().email.as_deref().unwrap_or_default(),
        switches: Kind::SWITCHABLE
            .iter()
            .map(|k| SwitchView {
                name: k.as_str(),
                label: k.label(),
                on: s.enabled.get(k).copied().unwrap_or(true),
            })
            .collect(),
        policy: s.policy,
        queued: counts.get("queued").copied().unwrap_or(0),
        sent: counts.get("sent").copied().unwrap_or(0),
        failed: counts.get("failed").copied().unwrap_or(0),
        outbox,
    };
    Ok(page.render(code, &view))
}

fn message(code: &str) -> Option<&'static str> {
    Some(match code {
        "smtp_saved" => "The server settings were saved.",
        "switches_saved" => "The messages and the policy were saved.",
        "retrying" => "The message is being sent again.",
        "not_retryable" => "That message was sent already, or no longer exists.",
        _ => return None,
    })
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Query(q): Query<ListQuery>,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let shown = Shown {
        notice: flash.done.as_deref().and_then(message),
        alert: flash.error.as_deref().and_then(message),
        status: q.status.as_deref().and_then(MailStatus::parse),
        ..Shown::default()
    };
    render(&state, &headers, &admin, shown, StatusCode::OK).await
}

#[derive(Deserialize, Default)]
pub struct SmtpForm {
    csrf: Option<String>,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    security: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    clear_password: Option<String>,
    #[serde(default)]
    from_address: String,
    #[serde(default)]
    from_name: String,
    #[serde(default)]
    ca_file: String,
    skip_verification: Option<String>,
}

pub async fn save_smtp(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(form): Form<SmtpForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let current = state.mail.settings().await?;
    let input = SmtpInput {
        host: form.host,
        port: form.port,
        security: form.security,
        username: form.username,
        password: form.password,
        clear_password: ticked(&form.clear_password),
        from_address: form.from_address,
        from_name: form.from_name,
        ca_file: form.ca_file,
        skip_verification: ticked(&form.skip_verification),
    };
    let changed =
        match settings::save_smtp(&state.store, &current.form, &state.encryption, &input).await? {
            Ok(c) => {
                state.mail.settings_changed();
                c
            }
            Err(e) => {
                let alert = format!("Nothing was saved: {}", e.message);
                let shown = Shown {
                    alert: Some(&alert),
                    error_field: e.field,
                    ..Shown::default()
                };
                return render(
                    &state,
                    &headers,
                    &admin,
                    shown,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        };
    if !changed.is_empty() {
        let after = state.mail.settings().await?;
        let insecure = after.smtp.as_ref().is_some_and(|m| m.skip_verification);
        audit::record(
            &state.store,
            "admin.mail.smtp_updated",
            &admin.origin(&state, &headers, &info),
            None,
            json!({"changed": changed, "host": after.form.host.value,
                   "skip_certificate_verification": insecure}),
        )
        .await?;
        if insecure {
            tracing::warn!(
                event = "mail.insecure",
                "INSECURE: SMTP certificate verification was switched off in the admin console"
            );
        }
    }
    Ok(see_other("/admin/email?done=smtp_saved", []))
}

#[derive(Deserialize)]
pub struct TestForm {
    csrf: Option<String>,
    to: Option<String>,
}

/// Send a test email now and show exactly what happened (the server's or TLS's words).
pub async fn send_test(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(form): Form<TestForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let to = form.to.unwrap_or_default();
    let origin = admin.origin(&state, &headers, &info);
    match state.mail.send_test(&to, &origin).await {
        Ok(()) => {
            let notice = format!("The test email to {to} was accepted by the mail server.");
            let shown = Shown {
                notice: Some(&notice),
                ..Shown::default()
            };
            render(&state, &headers, &admin, shown, StatusCode::OK).await
        }
        Err(error) => {
            let alert = format!("The test email to {to} was not sent: {error}");
            let shown = Shown {
                alert: Some(&alert),
                ..Shown::default()
            };
            render(&state, &headers, &admin, shown, StatusCode::BAD_GATEWAY).await
        }
    }
}

pub async fn save_switches(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.get("csrf").map(String::as_str))?;
    let on = |name: &str| form.get(name).is_some_and(|v| !v.is_empty());
    let enabled = Kind::SWITCHABLE
        .iter()
        .map(|k| (*k, on(k.as_str())))
        .collect();
    let policy = Policy {
        require_email: on("require_email"),
        verified_by_default: on("verified_by_default"),
        users_change_email: on("users_change_email"),
    };
    let current = state.mail.settings().await?;
    let changed = settings::save_switches(&state.store, &current, &enabled, policy).await?;
    state.mail.settings_changed();
    if !changed.is_empty() {
        let after: serde_json::Map<String, serde_json::Value> =
            changed.into_iter().map(|(k, v)| (k, json!(v))).collect();
        audit::record(
            &state.store,
            "admin.mail.settings_updated",
            &admin.origin(&state, &headers, &info),
            None,
            json!({"after": after}),
        )
        .await?;
    }
    Ok(see_other("/admin/email?done=switches_saved", []))
}

/// "Retry now": make a queued or failed message due at once and wake the worker.
pub async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    if !state.store.retry_mail_now(&id).await? {
        return Ok(see_other("/admin/email?error=not_retryable", []));
    }
    state.mail.wake();
    audit::record(
        &state.store,
        "admin.mail.retry",
        &admin.origin(&state, &headers, &info),
        None,
        json!({"mail_id": id}),
    )
    .await?;
    Ok(see_other("/admin/email?done=retrying", []))
}
