//! Workspace settings the engine uses: the working-day calendar and close reasons.

use axum::Json;
use axum::extract::State;
use kairos_app::calendar::CalendarSettings;
use kairos_store::settings::CloseReason;

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
