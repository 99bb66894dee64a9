//! Pictures: serving profile pictures (or initials avatars), client logos and the
//! application logo; uploading and removing one's own profile picture.

use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::json;

use super::login::auth_client;
use super::{SignedIn, WebError, see_other};
use crate::app::AppState;
use crate::audit;
use crate::http::ClientInfo;
use crate::media::{self, MAX_UPLOAD, MediaError, UploadsExhausted};
use crate::store::StoredImage;

/// The owner key of a user's picture in the `images` table.
pub fn user_owner(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Where a user's picture is served (public: OIDC's `picture` claim links to it).
pub fn user_picture_path(user_id: &str) -> String {
    format!("/pictures/users/{user_id}")
}

/// The owner key of a client's logo.
pub fn client_owner(client_id: &str) -> String {
    format!("client:{client_id}")
}

/// The owner key of the application logo.
pub const APP_OWNER: &str = "app";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pictures/users/{id}", get(user_picture))
        .route("/pictures/clients/{id}", get(client_logo))
        .route("/pictures/app", get(app_logo))
        .route(
            "/account/picture",
            post(upload_own).layer(DefaultBodyLimit::max(MAX_UPLOAD + 64 * 1024)),
        )
        .route("/account/picture/delete", post(remove_own))
}

fn serve(image: StoredImage, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", image.etag);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, image.content_type.clone())],
            image.bytes,
        )
            .into_response()
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

async fn user_picture(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    if let Some(image) = state.store.image(&user_owner(&id)).await? {
        return Ok(serve(image, &headers));
    }
    let Some(user) = state.store.user_by_id(&id).await? else {
        return Err(WebError::NotFound);
    };
    let svg = media::initials_avatar(&user.display_name, &user.id);
    Ok(serve(
        StoredImage {
            content_type: "image/svg+xml".into(),
            etag: etag_of(svg.as_bytes()),
            bytes: svg.into_bytes(),
            updated_at: 0,
        },
        &headers,
    ))
}

async fn client_logo(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    match state.store.image(&client_owner(&id)).await? {
        Some(image) => Ok(serve(image, &headers)),
        None => Err(WebError::NotFound),
    }
}

async fn app_logo(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    match state.store.image(APP_OWNER).await? {
        Some(image) => Ok(serve(image, &headers)),
        None => Err(WebError::NotFound),
    }
}

/// A short fingerprint of a picture's bytes.
fn etag_of(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    hex::encode(&digest.as_ref()[..8])
}

/// An uploaded form with a file: its CSRF token and the file's bytes.
pub struct Upload {
    pub csrf: Option<String>,
    pub file: Vec<u8>,
}

impl Upload {
    /// Read a `multipart/form-data` body with a `csrf` field and one file field.
    pub async fn read(mut multipart: Multipart, file_field: &str) -> Result<Upload, MediaError> {
        let mut upload = Upload {
            csrf: None,
            file: Vec::new(),
        };
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(MediaError::TooLarge);
                }
                Err(e) => return Err(MediaError::Broken(e.body_text())),
            };
            let name = field.name().unwrap_or_default().to_string();
            let bytes = field.bytes().await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    MediaError::TooLarge
                } else {
                    MediaError::Broken(e.body_text())
                }
            })?;
            if name == "csrf" {
                upload.csrf = Some(String::from_utf8_lossy(&bytes).into_owned());
            } else if name == file_field {
                upload.file = bytes.to_vec();
            }
        }
        Ok(upload)
    }
}

/// Store a re-encoded PNG for `owner`.
pub async fn store_png(
    state: &AppState,
    owner: &str,
    png: media::Png,
) -> Result<(), crate::store::StoreError> {
    let etag = etag_of(&png.0);
    state
        .store
        .put_image(owner, "image/png", &png.0, &etag)
        .await
}

async fn upload_own(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    multipart: Multipart,
) -> Result<Response, WebError> {
    let upload = Upload::read(multipart, "picture").await;
    let csrf = upload.as_ref().ok().and_then(|u| u.csrf.clone());
    super::verify_csrf(&state, &headers, csrf.as_deref())?;
    let user = &signed_in.user;
    let png = match upload {
        Ok(upload) => {
            if let Err(refused) = state.pictures.allow_upload(&user.id) {
                return Ok(too_many_uploads(refused));
            }
            state.pictures.profile_picture(upload.file).await
        }
        Err(e) => Err(e),
    };
    let png = match png {
        Ok(p) => p,
        Err(e) => {
            return Ok(see_other(
                &format!("/account?picture_error={}", picture_error_code(&e)),
                [],
            ));
        }
    };
    store_png(&state, &user_owner(&user.id), png).await?;
    audit::record(
        &state.store,
        "user.picture.updated",
        &auth_client(&state, &headers, &info).origin(Some(&user.id)),
        Some(&user.id),
        json!({}),
    )
    .await?;
    Ok(see_other("/account?done=picture_updated", []))
}

async fn remove_own(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Form(form): Form<super::login::CsrfOnly>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let user = &signed_in.user;
    state.store.delete_image(&user_owner(&user.id)).await?;
    audit::record(
        &state.store,
        "user.picture.removed",
        &auth_client(&state, &headers, &info).origin(Some(&user.id)),
        Some(&user.id),
        json!({}),
    )
    .await?;
    Ok(see_other("/account?done=picture_removed", []))
}

/// The answer to an upload beyond the person's allowance: 429, saying when to retry.
pub fn too_many_uploads(refused: UploadsExhausted) -> Response {
    let secs = refused.retry_after.as_secs().max(1);
    let mut res = super::error_page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many uploads",
        &format!(
            "You have uploaded several pictures in a short time. Wait {secs} seconds, then try again."
        ),
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

/// A short code for a refused upload, carried in the redirect (the page words it).
pub fn picture_error_code(e: &MediaError) -> &'static str {
    match e {
        MediaError::Empty => "empty",
        MediaError::TooLarge => "too_large",
        MediaError::UnknownFormat => "format",
        MediaError::TooManyPixels => "too_big",
        MediaError::Broken(_) => "broken",
        MediaError::Busy => "busy",
    }
}

/// The words for a refused upload's code.
pub fn picture_error_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "empty" => "Choose a picture to upload.",
        "too_large" => "That picture is larger than 5 MB.",
        "format" => "That file is not a PNG, JPEG, WebP or SVG picture.",
        "too_big" => {
            "That picture is larger than 4096 × 4096 pixels. Make it smaller and try again."
        }
        "broken" => "That picture could not be read. Try another file.",
        "busy" => "The server is busy with other pictures. Try again in a minute.",
        _ => return None,
    })
}
