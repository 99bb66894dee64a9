//! `GET /healthz`: 200 when this instance can reach its database, 503 otherwise.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::app::AppState;

const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let database_ok = matches!(
        tokio::time::timeout(DATABASE_TIMEOUT, state.store.ping()).await,
        Ok(Ok(()))
    );
    let (status, body) = if database_ok {
        (StatusCode::OK, json!({"status": "ok", "database": "ok"}))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unavailable", "database": "unreachable"}),
        )
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body))
}
