//! Support requests (PRODUCT.md §6): `/api/v1/support-requests`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use kairos_app::support::{NewSupportRequest, SupportActionInput, SupportQuery, SupportView};

use crate::api::created;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::state::AppState;

/// Ask presales, customer success, finance or legal for help on a deal you can see. The team
/// (or the named supporter) is told and must accept or reject within 24 hours; past that the
/// follow-up scan tells your manager.
#[utoipa::path(post, path = "/api/v1/support-requests", tag = "follow-up", security(("bearer" = [])), request_body = NewSupportRequest,
    responses((status = 201, body = SupportView), (status = 422, body = ErrorBody)))]
pub async fn create(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewSupportRequest>) -> ApiResult<Response> {
    let r = s.app.create_support_request(&actor, input).await?;
    Ok(created(format!("/api/v1/support-requests/{}", r.request.id), r.request.version, r))
}

/// Requests the caller made (`view=mine`), requests to the caller's teams or to the caller
/// by name (`view=incoming`), or a deal's requests (`view=deal&opportunity_id=…`). Newest first.
#[utoipa::path(get, path = "/api/v1/support-requests", tag = "follow-up", security(("bearer" = [])), params(SupportQuery),
    responses((status = 200, body = Vec<SupportView>), (status = 422, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<SupportQuery>) -> ApiResult<Json<Vec<SupportView>>> {
    Ok(Json(s.app.list_support_requests(&actor, &q).await?))
}

#[utoipa::path(get, path = "/api/v1/support-requests/{id}", tag = "follow-up", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = SupportView), (status = 404, body = ErrorBody)))]
pub async fn get(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Json<SupportView>> {
    Ok(Json(s.app.get_support_request(&actor, &id).await?))
}

/// `accept` or `reject` (with `reason`) an open request (the team); mark it `done` (with a
/// `note`); `cancel` it (the requester); `rate` it 1–10 once done (`rating`, optional `note`;
/// each side once).
#[utoipa::path(post, path = "/api/v1/support-requests/{id}/{action}", tag = "follow-up", security(("bearer" = [])), request_body = SupportActionInput,
    params(("id" = String, Path, format = Uuid), ("action" = String, Path, description = "accept, reject, done, cancel or rate")),
    responses((status = 200, body = SupportView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn act(State(s): State<AppState>, Caller(actor): Caller, Path((id, action)): Path<(String, String)>, JsonBody(input): JsonBody<SupportActionInput>) -> ApiResult<Json<SupportView>> {
    Ok(Json(s.app.act_on_support_request(&actor, &id, &action, input).await?))
}
