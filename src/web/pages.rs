//! The landing page.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{Chrome, Page};
use crate::app::AppState;

#[derive(Template)]
#[template(path = "landing.html")]
struct LandingPage<'a> {
    chrome: &'a Chrome,
}

pub async fn landing(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let page = Page::new(&state, &headers);
    page.render(
        StatusCode::OK,
        &LandingPage {
            chrome: &page.chrome,
        },
    )
}
