//! `/api/v1/approvals`: the requests waiting for me; approve or reject.

use axum::Json;
use axum::extract::{Path, State};
use kairos_app::stage_engine::Decision;
use kairos_store::approval::Approval;

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::JsonBody;
use crate::state::AppState;

/// Pending approval requests the caller may decide.
#[utoipa::path(get, path = "/api/v1/approvals", tag = "approvals", security(("bearer" = [])),
    responses((status = 200, body = Vec<Approval>), (status = 401, body = ErrorBody)))]
pub async fn waiting(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<Vec<Approval>>> {
    Ok(Json(s.app.approvals_waiting(&actor).await?))
}

/// Approve: the waiting move happens now (422 `gate_refused` if a criterion was lost since).
#[utoipa::path(post, path = "/api/v1/approvals/{id}/approve", tag = "approvals", security(("bearer" = [])), request_body = Decision,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Approval), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn approve(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, JsonBody(d): JsonBody<Decision>) -> ApiResult<Json<Approval>> {
    Ok(Json(s.app.decide_approval(&actor, &id, true, d).await?))
}

/// Reject with a comment; the deal stays where it is.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/reject", tag = "approvals", security(("bearer" = [])), request_body = Decision,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Approval), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reject(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, JsonBody(d): JsonBody<Decision>) -> ApiResult<Json<Approval>> {
    Ok(Json(s.app.decide_approval(&actor, &id, false, d).await?))
}

/// Withdraw a pending request (its requester, or an admin).
#[utoipa::path(post, path = "/api/v1/approvals/{id}/cancel", tag = "approvals", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Approval), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Json<Approval>> {
    Ok(Json(s.app.cancel_approval(&actor, &id).await?))
}
