//! The signed-in user of a request, from the session cookie.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::cookies::SESSION;
use super::{WebError, see_other};
use crate::app::AppState;
use crate::auth::{REAUTH_WINDOW, session};
use crate::domain::session::Session;
use crate::domain::user::User;
use crate::store::now;

/// A request from a signed-in user with a live session. Without one, pages redirect
/// to the sign-in page (and come back afterwards); JSON endpoints answer 401.
pub struct SignedIn {
    pub session: Session,
    pub user: User,
}

impl SignedIn {
    /// Signed in within the last five minutes (needed to change credentials).
    pub fn is_recent(&self) -> bool {
        self.session.is_recently_authenticated(now(), REAUTH_WINDOW)
    }
}

/// The signed-in user if there is one; never rejects.
pub async fn current(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Option<SignedIn>, WebError> {
    Ok(current_with_consent(state, headers, None)
        .await?
        .map(|(signed_in, _)| signed_in))
}

/// [`current`], and the scope the user has approved for `client_id`, in one read.
pub async fn current_with_consent(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    client_id: Option<&str>,
) -> Result<Option<(SignedIn, Option<String>)>, WebError> {
    let Some(cookie) = state.cookies().get(headers, SESSION) else {
        return Ok(None);
    };
    Ok(
        session::resolve_with_consent(&state.store, &cookie, state.auth.idle_timeout(), client_id)
            .await?
            .map(|(session, user, consent)| (SignedIn { session, user }, consent)),
    )
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match current(state, &parts.headers).await {
            Ok(Some(signed_in)) => Ok(signed_in),
            Ok(None) => {
                let wants_json = parts.uri.path().starts_with("/webauthn/");
                if wants_json {
                    return Err((
                        StatusCode::UNAUTHORIZED,
                        axum::Json(serde_json::json!({"error": "Please sign in again."})),
                    )
                        .into_response());
                }
                let here = parts
                    .extensions
                    .get::<OriginalUri>()
                    .map(|u| u.0.to_string())
                    .unwrap_or_else(|| parts.uri.to_string());
                let back = if parts.method == Method::GET {
                    here
                } else {
                    "/account".to_string()
                };
                let login = format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
                );
                // A stale cookie is dropped so the browser stops sending it.
                Err(see_other(&login, [state.cookies().clear(SESSION)]))
            }
            Err(e) => Err(e.into_response()),
        }
    }
}
