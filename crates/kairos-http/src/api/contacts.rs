//! `/api/v1/contacts` (PRODUCT.md §2).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use kairos_app::contacts::{ContactPatch, ContactQuery, NewContact};
use kairos_app::listing::ListPage;
use kairos_domain::contact::Contact;

use super::{created, with_etag};
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams, if_match, version};
use crate::state::AppState;

/// List the contacts the caller may see.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", security(("bearer" = [])), params(ContactQuery),
    responses((status = 200, body = ListPage<Contact>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ContactQuery>) -> ApiResult<Json<ListPage<Contact>>> {
    Ok(Json(s.app.list_contacts(&actor, &q).await?))
}

/// Create a contact at a visible account. A phone or e-mail another contact holds answers
/// 409 with `details.existing_id`.
#[utoipa::path(post, path = "/api/v1/contacts", tag = "contacts", security(("bearer" = [])), request_body = NewContact,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key replay the first answer")),
    responses((status = 201, body = Contact), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewContact>) -> ApiResult<Response> {
    let view = s.app.create_contact(&actor, input).await?;
    Ok(created(format!("/api/v1/contacts/{}", view.id), view.version, view))
}

/// One contact; `ETag` carries its version.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Contact), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let view = s.app.get_contact(&actor, &id).await?;
    Ok(with_etag(view.version, view))
}

/// Change a contact: send only the changed fields and the version you read (or If-Match).
#[utoipa::path(patch, path = "/api/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])), request_body = ContactPatch,
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "The version read, e.g. \"3\"")),
    responses((status = 200, body = Contact), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Stale version or duplicate phone/e-mail", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut input): JsonBody<ContactPatch>,
) -> ApiResult<Response> {
    input.version = version(&headers, input.version)?;
    let view = s.app.update_contact(&actor, &id, input).await?;
    Ok(with_etag(view.version, view))
}

/// Archive a contact (restorable with `POST …/restore`).
#[utoipa::path(delete, path = "/api/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn archive(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, headers: HeaderMap) -> ApiResult<StatusCode> {
    s.app.archive_contact(&actor, &id, if_match(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restore an archived contact.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/restore", tag = "contacts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Contact), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn restore(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let contact = s.app.restore_contact(&actor, &id, if_match(&headers)?).await?;
    Ok(with_etag(contact.version, contact))
}
