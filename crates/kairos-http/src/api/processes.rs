//! `/api/v1/processes`: sales processes; readable by all, changed by admins.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use kairos_app::processes::{NewProcess, ProcessPatch};
use kairos_domain::process::SalesProcess;

use super::{created, with_etag};
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, version};
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/processes", tag = "processes", security(("bearer" = [])),
    responses((status = 200, body = Vec<SalesProcess>), (status = 401, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<Vec<SalesProcess>>> {
    Ok(Json(s.app.list_processes(&actor).await?))
}

/// Create a process with its stages (admin).
#[utoipa::path(post, path = "/api/v1/processes", tag = "processes", security(("bearer" = [])), request_body = NewProcess,
    responses((status = 201, body = SalesProcess), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewProcess>) -> ApiResult<Response> {
    let p = s.app.create_process(actor.require_admin()?, input).await?;
    Ok(created(format!("/api/v1/processes/{}", p.id), p.version, p))
}

#[utoipa::path(get, path = "/api/v1/processes/{id}", tag = "processes", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = SalesProcess), (status = 404, body = ErrorBody)))]
pub async fn get(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let p = s.app.get_process(&actor, &id).await?;
    Ok(with_etag(p.version, p))
}

/// Change a process (admin). Sending `stages` replaces the list: a stage that holds or
/// held deals cannot be left out (422 `stage_in_use`) but can be retired.
#[utoipa::path(patch, path = "/api/v1/processes/{id}", tag = "processes", security(("bearer" = [])), request_body = ProcessPatch,
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = SalesProcess), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut input): JsonBody<ProcessPatch>,
) -> ApiResult<Response> {
    input.version = version(&headers, input.version)?;
    let p = s.app.update_process(actor.require_admin()?, &id, input).await?;
    Ok(with_etag(p.version, p))
}
