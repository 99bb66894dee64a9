//! The landing page and the first-admin setup page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::error_page;
use crate::app::AppState;

#[derive(Template)]
#[template(path = "landing.html")]
struct LandingPage<'a> {
    app_name: &'a str,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(super) struct MessagePage<'a> {
    pub app_name: &'a str,
    pub heading: &'a str,
    pub message: &'a str,
}

fn render(page: impl Template, app_name: &str) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                app_name,
                "Something went wrong",
                "Please try again.",
            )
        }
    }
}

pub async fn landing(State(state): State<AppState>) -> Response {
    render(
        LandingPage {
            app_name: state.app_name(),
        },
        state.app_name(),
    )
}

#[derive(Deserialize)]
pub struct SetupQuery {
    token: Option<String>,
}

/// `/setup?token=…`: the one-time first-admin link printed at start.
pub async fn setup(State(state): State<AppState>, Query(query): Query<SetupQuery>) -> Response {
    let app = state.app_name();
    match state.store.has_admin().await {
        Ok(true) => {
            state.setup.close();
            return error_page(
                StatusCode::GONE,
                app,
                "Setup is complete",
                "An administrator already exists. Sign in with your account instead.",
            );
        }
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, "setup page: database unavailable");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                app,
                "Temporarily unavailable",
                "The database does not answer. Please try again in a moment.",
            );
        }
    }
    if !query
        .token
        .as_deref()
        .is_some_and(|t| state.setup.accepts(t))
    {
        return error_page(
            StatusCode::NOT_FOUND,
            app,
            "This setup link is not valid",
            "Use the setup link printed in the server log. A link stops working when the server restarts; the new one is in the log.",
        );
    }
    let page = MessagePage {
        app_name: app,
        heading: "Create the first administrator",
        message: "This link is valid. The form that creates the first administrator with a passkey is not part of this version yet; \
                  until then, create an administrator on the server with `latchkey users create --admin`.",
    };
    render(page, app).into_response()
}
