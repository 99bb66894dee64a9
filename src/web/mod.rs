//! Server-rendered pages (askama), their static assets, and the health endpoint.

mod health;
mod pages;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;

/// Routes for the pages of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::landing))
        .route("/setup", get(pages::setup))
        .route("/healthz", get(health::healthz))
        .route("/static/app.css", get(stylesheet))
}

/// A friendly page for an error a person sees in the browser; never a stack trace.
pub fn error_page(status: StatusCode, app_name: &str, heading: &str, message: &str) -> Response {
    let page = pages::MessagePage {
        app_name,
        heading,
        message,
    };
    match askama::Template::render(&page) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render the error page");
            (status, heading.to_string()).into_response()
        }
    }
}

/// The fallback for unknown paths.
pub async fn not_found(state: axum::extract::State<AppState>) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        state.app_name(),
        "Page not found",
        "There is nothing at this address. Check the link, or start again from the start page.",
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/app.css"),
    )
}
