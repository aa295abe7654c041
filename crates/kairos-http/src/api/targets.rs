//! `/api/v1/targets`: sales targets per user or org unit.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_app::targets::{NewTarget, TargetPatch};
use kairos_store::target::Target;

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::JsonBody;
use crate::state::AppState;

/// Targets the caller may see (their own, their units', and for managers their subtree's).
#[utoipa::path(get, path = "/api/v1/targets", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = Vec<Target>)))]
pub async fn list(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<Vec<Target>>> {
    Ok(Json(s.app.list_targets(&actor).await?))
}

/// Set a target (directors, admins; managers below themselves).
#[utoipa::path(post, path = "/api/v1/targets", tag = "reports", security(("bearer" = [])), request_body = NewTarget,
    responses((status = 201, body = Target), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewTarget>) -> ApiResult<(StatusCode, Json<Target>)> {
    Ok((StatusCode::CREATED, Json(s.app.create_target(&actor, input).await?)))
}

#[utoipa::path(patch, path = "/api/v1/targets/{id}", tag = "reports", security(("bearer" = [])), request_body = TargetPatch,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Target), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, JsonBody(input): JsonBody<TargetPatch>) -> ApiResult<Json<Target>> {
    Ok(Json(s.app.update_target(&actor, &id, input).await?))
}

#[utoipa::path(delete, path = "/api/v1/targets/{id}", tag = "reports", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.app.delete_target(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
