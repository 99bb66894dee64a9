//! `/admin/users/{id}/claims` and `/admin/groups/{id}/claims`: custom claims that go
//! into the ID token and userinfo of a user (or of every member of a group).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{AdminSession, CsrfForm, FieldError, Flash, error_for, gone, not_found};
use crate::app::AppState;
use crate::audit;
use crate::domain::claims::check_custom_claim;
use crate::http::ClientInfo;
use crate::store::ClaimOwner;
use crate::web::{Chrome, WebError, see_other};

/// Whose claims a page is about: "users" or "groups", and the id.
struct Owner {
    kind: &'static str,
    id: String,
    name: String,
}

impl Owner {
    fn claim_owner(&self) -> ClaimOwner<'_> {
        if self.kind == "users" {
            ClaimOwner::User(&self.id)
        } else {
            ClaimOwner::Group(&self.id)
        }
    }

    fn path(&self) -> String {
        format!("/admin/{}/{}/claims", self.kind, self.id)
    }
}

async fn owner(state: &AppState, kind: &str, id: &str) -> Result<Option<Owner>, WebError> {
    Ok(match kind {
        "users" => state.store.user_by_id(id).await?.map(|u| Owner {
            kind: "users",
            id: u.id,
            name: u.username,
        }),
        "groups" => state.store.group_by_id(id).await?.map(|g| Owner {
            kind: "groups",
            id: g.id,
            name: g.name,
        }),
        _ => None,
    })
}

#[derive(Deserialize, Default)]
pub struct ClaimForm {
    csrf: Option<String>,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Template)]
#[template(path = "admin_claims.html")]
struct ClaimsPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    owner: &'a Owner,
    claims: Vec<(String, String)>,
    form: &'a ClaimForm,
    error: Option<FieldError>,
}

impl ClaimsPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.error, field)
    }
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    owner: &Owner,
    notice: Option<&str>,
    form: &ClaimForm,
    error: Option<FieldError>,
) -> Result<Response, WebError> {
    let claims = state.store.custom_claims(owner.claim_owner()).await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = admin.page(state, headers);
    Ok(page.render(
        status,
        &ClaimsPage {
            chrome: &page.chrome,
            section: owner.kind,
            notice,
            owner,
            claims,
            form,
            error,
        },
    ))
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Path((kind, id)): Path<(String, String)>,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let Some(owner) = owner(&state, &kind, &id).await? else {
        return Ok(not_found());
    };
    let form = ClaimForm::default();
    render(
        &state,
        &headers,
        &admin,
        &owner,
        flash.notice(),
        &form,
        None,
    )
    .await
}

pub async fn set(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path((kind, id)): Path<(String, String)>,
    Form(form): Form<ClaimForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(owner) = owner(&state, &kind, &id).await? else {
        return Ok(gone(&format!("/admin/{kind}")));
    };
    let key = form.key.trim();
    if let Err(e) = check_custom_claim(key, &form.value) {
        return render(
            &state,
            &headers,
            &admin,
            &owner,
            None,
            &form,
            Some(e.into()),
        )
        .await;
    }
    let before = state.store.custom_claim(owner.claim_owner(), key).await?;
    state
        .store
        .set_custom_claim(owner.claim_owner(), key, &form.value)
        .await?;
    audit::record(
        &state.store,
        "admin.claim.set",
        &admin.origin(&state, &headers, &info),
        Some(&owner.id),
        json!({"owner": owner.kind, "key": key, "before": before, "after": form.value}),
    )
    .await?;
    Ok(see_other(&format!("{}?done=claim_saved", owner.path()), []))
}

pub async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path((kind, id, key)): Path<(String, String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(owner) = owner(&state, &kind, &id).await? else {
        return Ok(gone(&format!("/admin/{kind}")));
    };
    let before = state.store.custom_claim(owner.claim_owner(), &key).await?;
    state
        .store
        .remove_custom_claim(owner.claim_owner(), &key)
        .await?;
    audit::record(
        &state.store,
        "admin.claim.removed",
        &admin.origin(&state, &headers, &info),
        Some(&owner.id),
        json!({"owner": owner.kind, "key": key, "before": before, "after": null}),
    )
    .await?;
    Ok(see_other(
        &format!("{}?done=claim_removed", owner.path()),
        [],
    ))
}
