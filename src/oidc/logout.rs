//! `GET|POST /logout`: RP-Initiated Logout 1.0, and the sign-out button of our own
//! pages. Ending a session also revokes the refresh tokens issued under it.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::params::Params;
use super::tokens::verify_id_token_hint;
use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::domain::client::Client;
use crate::http::ClientInfo;
use crate::web::{Chrome, Page, WebError, error_page, see_other};

/// What a logout request asks for, once checked.
struct LogoutRequest {
    client: Option<Client>,
    /// The subject of a valid `id_token_hint`.
    hinted_user: Option<String>,
    return_to: Option<String>,
}

async fn check(state: &AppState, params: &Params) -> Result<LogoutRequest, Response> {
    let invalid = |message: &str| {
        error_page(
            StatusCode::BAD_REQUEST,
            "Cannot sign you out from here",
            message,
        )
    };
    if params.problem().is_some() {
        return Err(invalid("The sign-out request is malformed."));
    }
    // The hint may have expired (it usually has); it must still be ours and genuine.
    let mut hinted_user = None;
    let mut hinted_client = None;
    if let Some(hint) = params.get("id_token_hint") {
        let verified = verify_id_token_hint(state, hint)
            .await
            .map_err(|e| super::OAuthError::from(e).into_response())?;
        let Some(h) = verified else {
            return Err(invalid(
                "The id_token_hint is not an ID token issued by this server.",
            ));
        };
        hinted_user = h.subject;
        hinted_client = h.client_id;
    }
    let client_id = match (hinted_client, params.get("client_id")) {
        (Some(h), Some(c)) if h != c => {
            return Err(invalid("client_id does not match the id_token_hint."));
        }
        (Some(h), _) => Some(h),
        (None, c) => c.map(str::to_string),
    };
    let client = match &client_id {
        Some(id) => Some(
            state
                .store
                .client_by_id(id)
                .await
                .map_err(|e| WebError::from(e).into_response())?
                .ok_or_else(|| invalid("The application is not registered."))?,
        ),
        None => None,
    };
    let return_to = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => match &client {
            Some(c) if c.accepts_post_logout_uri(uri) => {
                let mut url = uri.to_string();
                if let Some(s) = params.get("state") {
                    url.push(if url.contains('?') { '&' } else { '?' });
                    url.push_str(
                        &url::form_urlencoded::Serializer::new(String::new())
                            .append_pair("state", s)
                            .finish(),
                    );
                }
                Some(url)
            }
            _ => {
                return Err(invalid(
                    "The application asked to return to an address it has not registered.",
                ));
            }
        },
    };
    Ok(LogoutRequest {
        client,
        hinted_user,
        return_to,
    })
}

#[derive(Template)]
#[template(path = "logout_confirm.html")]
struct ConfirmPage<'a> {
    chrome: &'a Chrome,
    client_name: Option<&'a str>,
    fields: Vec<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage<'a> {
    chrome: &'a Chrome,
}

/// End the browser's session (if any), revoke what it issued, then go where asked.
async fn sign_out(
    state: &AppState,
    headers: &HeaderMap,
    info: &ClientInfo,
    request: &LogoutRequest,
    default_to: Option<&str>,
) -> Result<Response, WebError> {
    let mut cookies = Vec::new();
    if let Some(current) = crate::web::current_session(state, headers).await? {
        state.store.delete_session(&current.session.id_hash).await?;
        state
            .store
            .revoke_session_grants(&current.session.id_hash)
            .await?;
        let origin = Origin {
            actor_id: Some(current.user.id.clone()),
            ip: Some(info.ip.to_string()),
            user_agent: info.user_agent.clone(),
        };
        audit::record(
            &state.store,
            "auth.logout",
            &origin,
            Some(&current.user.id),
            json!({
                "client_id": request.client.as_ref().map(|c| c.id.clone()),
            }),
        )
        .await?;
    }
    cookies.push(state.cookies().clear(crate::web::cookies::SESSION));
    if let Some(to) = request.return_to.as_deref().or(default_to) {
        return Ok(see_other(to, cookies));
    }
    let page = Page::new(state, headers);
    Ok(crate::web::with_cookies(
        page.render(
            StatusCode::OK,
            &SignedOutPage {
                chrome: &page.chrome,
            },
        ),
        cookies,
    ))
}

async fn rp_initiated(
    state: AppState,
    headers: HeaderMap,
    info: ClientInfo,
    params: Params,
) -> Response {
    let request = match check(&state, &params).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let current = match crate::web::current_session(&state, &headers).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let hint_matches = match (&request.hinted_user, &current) {
        (Some(sub), Some(s)) => *sub == s.user.id,
        (Some(_), None) => true,
        (None, None) => request.return_to.is_some(),
        (None, Some(_)) => false,
    };
    if hint_matches {
        return match sign_out(&state, &headers, &info, &request, None).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
    }
    // Without proof that the application speaks for this user, ask.
    let page = Page::new(&state, &headers);
    let view = ConfirmPage {
        chrome: &page.chrome,
        client_name: request.client.as_ref().map(|c| c.name.as_str()),
        fields: params.iter().filter(|(k, _)| *k != "csrf").collect(),
    };
    page.render(StatusCode::OK, &view)
}

pub async fn logout_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    RawQuery(query): RawQuery,
) -> Response {
    rp_initiated(
        state,
        headers,
        info,
        Params::parse(query.as_deref().unwrap_or_default()),
    )
    .await
}

/// A POST with our CSRF token comes from our own pages (the sign-out button or the
/// confirmation); any other POST is an RP-initiated logout with form parameters.
pub async fn logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    body: String,
) -> Response {
    let params = Params::parse(&body);
    if params.get("csrf").is_none() {
        return rp_initiated(state, headers, info, params).await;
    }
    if let Err(e) = crate::web::verify_csrf(&state, &headers, params.get("csrf")) {
        return e.into_response();
    }
    let request = match check(&state, &params).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let default_to = if request.client.is_none() {
        Some("/login")
    } else {
        None
    };
    match sign_out(&state, &headers, &info, &request, default_to).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
