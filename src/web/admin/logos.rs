//! Logos: the application's (Settings page) and each OIDC client's (client page).
//! Uploads are re-encoded as PNG by `media`; each change is an audit event.

use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{AdminSession, CsrfForm, gone};
use crate::app::AppState;
use crate::audit;
use crate::http::ClientInfo;
use crate::media;
use crate::web::pictures::{
    APP_OWNER, Upload, client_owner, picture_error_code, store_png, too_many_uploads,
};
use crate::web::{WebError, see_other};

/// The `app_settings` key that carries the application logo's version, so that every
/// page knows (from the cached settings) whether there is a logo to show.
pub const APP_LOGO_SETTING: &str = "app_logo";

/// The uploaded logo as PNG, or the code of why it was refused; `Err` is the whole
/// answer (a forged form, or too many uploads by this admin).
async fn read_logo(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    multipart: Multipart,
) -> Result<Result<media::Png, &'static str>, Response> {
    let upload = Upload::read(multipart, "logo").await;
    let csrf = upload.as_ref().ok().and_then(|u| u.csrf.clone());
    crate::web::verify_csrf(state, headers, csrf.as_deref()).map_err(|e| e.into_response())?;
    let png = match upload {
        Ok(upload) => {
            state
                .pictures
                .allow_upload(&admin.user().id)
                .map_err(too_many_uploads)?;
            state.pictures.logo(upload.file).await
        }
        Err(e) => Err(e),
    };
    Ok(png.map_err(|e| picture_error_code(&e)))
}

pub async fn upload_client_logo(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Result<Response, WebError> {
    let png = match read_logo(&state, &headers, &admin, multipart).await {
        Ok(png) => png,
        Err(answer) => return Ok(answer),
    };
    let back = format!("/admin/clients/{id}");
    if state.store.client_by_id(&id).await?.is_none() {
        return Ok(gone("/admin/clients"));
    }
    let png = match png {
        Ok(p) => p,
        Err(code) => return Ok(see_other(&format!("{back}?error=picture_{code}"), [])),
    };
    store_png(&state, &client_owner(&id), png).await?;
    audit::record(
        &state.store,
        "admin.client.logo_updated",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({}),
    )
    .await?;
    Ok(see_other(&format!("{back}?done=logo_updated"), []))
}

pub async fn remove_client_logo(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    state.store.delete_image(&client_owner(&id)).await?;
    audit::record(
        &state.store,
        "admin.client.logo_removed",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({}),
    )
    .await?;
    Ok(see_other(
        &format!("/admin/clients/{id}?done=logo_removed"),
        [],
    ))
}

pub async fn upload_app_logo(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    multipart: Multipart,
) -> Result<Response, WebError> {
    let png = match read_logo(&state, &headers, &admin, multipart).await {
        Ok(Ok(p)) => p,
        Ok(Err(code)) => return Ok(see_other(&format!("/admin/settings?logo_error={code}"), [])),
        Err(answer) => return Ok(answer),
    };
    store_png(&state, APP_OWNER, png).await?;
    let etag = state
        .store
        .image(APP_OWNER)
        .await?
        .map(|i| i.etag)
        .unwrap_or_default();
    state.store.set_setting(APP_LOGO_SETTING, &etag).await?;
    state.runtime.reload().await?;
    audit::record(
        &state.store,
        "admin.settings.logo_updated",
        &admin.origin(&state, &headers, &info),
        None,
        json!({}),
    )
    .await?;
    Ok(see_other("/admin/settings?done=logo_updated", []))
}

pub async fn remove_app_logo(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    state.store.delete_image(APP_OWNER).await?;
    state.store.clear_setting(APP_LOGO_SETTING).await?;
    state.runtime.reload().await?;
    audit::record(
        &state.store,
        "admin.settings.logo_removed",
        &admin.origin(&state, &headers, &info),
        None,
        json!({}),
    )
    .await?;
    Ok(see_other("/admin/settings?done=logo_removed", []))
}
