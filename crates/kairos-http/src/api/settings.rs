//! Workspace settings the engine uses: the working-day calendar and close reasons.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_app::calendar::CalendarSettings;
use kairos_app::workspace_settings::{CloseReasonPatch, NewCloseReason, SettingsPatch};
use kairos_store::settings::{CloseReason, WorkspaceSettings};

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::JsonBody;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/calendar", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = CalendarSettings), (status = 401, body = ErrorBody)))]
pub async fn get_calendar(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<CalendarSettings>> {
    Ok(Json(s.app.get_calendar(&actor).await?))
}

/// Replace the weekend and the list of holidays and make-up working days (admin).
#[utoipa::path(put, path = "/api/v1/calendar", tag = "settings", security(("bearer" = [])), request_body = CalendarSettings,
    responses((status = 200, body = CalendarSettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_calendar(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<CalendarSettings>) -> ApiResult<Json<CalendarSettings>> {
    Ok(Json(s.app.set_calendar(actor.require_admin()?, input).await?))
}

/// Reasons for closing as lost or invalid.
#[utoipa::path(get, path = "/api/v1/close-reasons", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = Vec<CloseReason>), (status = 401, body = ErrorBody)))]
pub async fn close_reasons(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<Vec<CloseReason>>> {
    Ok(Json(s.app.close_reasons(&actor).await?))
}

/// Add a close reason (admin).
#[utoipa::path(post, path = "/api/v1/close-reasons", tag = "settings", security(("bearer" = [])), request_body = NewCloseReason,
    responses((status = 201, body = CloseReason), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_close_reason(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewCloseReason>) -> ApiResult<(StatusCode, Json<CloseReason>)> {
    Ok((StatusCode::CREATED, Json(s.app.create_close_reason(actor.require_admin()?, input).await?)))
}

/// Rename, reorder or retire a close reason (admin).
#[utoipa::path(patch, path = "/api/v1/close-reasons/{id}", tag = "settings", security(("bearer" = [])), request_body = CloseReasonPatch,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = CloseReason), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_close_reason(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, JsonBody(input): JsonBody<CloseReasonPatch>) -> ApiResult<Json<CloseReason>> {
    Ok(Json(s.app.update_close_reason(actor.require_admin()?, &id, input).await?))
}

#[utoipa::path(get, path = "/api/v1/workspace", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = WorkspaceSettings)))]
pub async fn get_workspace(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<WorkspaceSettings>> {
    Ok(Json(s.app.workspace_settings(&actor).await?))
}

/// Change the workspace's settings (admin): name, base currency, number pattern, priority thresholds.
#[utoipa::path(patch, path = "/api/v1/workspace", tag = "settings", security(("bearer" = [])), request_body = SettingsPatch,
    responses((status = 200, body = WorkspaceSettings), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_workspace(State(s): State<AppState>, Caller(actor): Caller, headers: axum::http::HeaderMap, JsonBody(mut input): JsonBody<SettingsPatch>) -> ApiResult<Json<WorkspaceSettings>> {
    input.version = crate::extract::version(&headers, input.version)?;
    Ok(Json(s.app.update_workspace_settings(actor.require_admin()?, input).await?))
}
