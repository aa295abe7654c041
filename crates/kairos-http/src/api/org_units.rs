//! `/api/v1/org-units`: readable by everyone, changed by admins only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use kairos_app::org_units::{NewOrgUnit, OrgUnitPatch};
use kairos_domain::org::OrgUnit;

use super::{created, with_etag};
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, version};
use crate::state::AppState;

/// Every org unit of the workspace.
#[utoipa::path(get, path = "/api/v1/org-units", tag = "org-units", security(("bearer" = [])),
    responses((status = 200, body = Vec<OrgUnit>), (status = 401, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<Vec<OrgUnit>>> {
    Ok(Json(s.app.list_org_units(&actor).await?))
}

/// Create an org unit (admin).
#[utoipa::path(post, path = "/api/v1/org-units", tag = "org-units", security(("bearer" = [])), request_body = NewOrgUnit,
    responses((status = 201, body = OrgUnit), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewOrgUnit>) -> ApiResult<Response> {
    let unit = s.app.create_org_unit(actor.require_admin()?, input).await?;
    Ok(created(format!("/api/v1/org-units/{}", unit.id), unit.version, unit))
}

#[utoipa::path(get, path = "/api/v1/org-units/{id}", tag = "org-units", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = OrgUnit), (status = 404, body = ErrorBody)))]
pub async fn get(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let unit = s.app.get_org_unit(&actor, &id).await?;
    Ok(with_etag(unit.version, unit))
}

/// Rename, re-code, move in the tree or change the manager (admin).
#[utoipa::path(patch, path = "/api/v1/org-units/{id}", tag = "org-units", security(("bearer" = [])), request_body = OrgUnitPatch,
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = OrgUnit), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut input): JsonBody<OrgUnitPatch>,
) -> ApiResult<Response> {
    input.version = version(&headers, input.version)?;
    let unit = s.app.update_org_unit(actor.require_admin()?, &id, input).await?;
    Ok(with_etag(unit.version, unit))
}

/// Archive an empty org unit (admin); one with people or sub-units is refused (422).
#[utoipa::path(delete, path = "/api/v1/org-units/{id}", tag = "org-units", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn archive(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.app.archive_org_unit(actor.require_admin()?, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
