//! Follow-up (PRODUCT.md §6): `/api/v1/activities`, `/api/v1/tasks`, `/api/v1/risks`,
//! `/api/v1/follow-up-settings` and `/api/v1/jobs`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use kairos_app::activities::{ActivityQuery, NewActivity};
use kairos_app::followup::RiskQuery;
use kairos_app::listing::ListPage;
use kairos_app::tasks::{NewTask, TaskPatch, TaskQuery, TaskView};
use kairos_domain::activity::Activity;
use kairos_domain::followup::FollowUpSettings;
use kairos_store::followup::RiskListRow;
use kairos_store::job::JobState;

use crate::api::{created, with_etag};
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::state::AppState;

/// Log an activity against an opportunity, account or lead. On a deal, the contacts it
/// involved count as reached (health follows) and it settles the cadence task owed; a next
/// step with a date becomes a task for the caller.
#[utoipa::path(post, path = "/api/v1/activities", tag = "follow-up", security(("bearer" = [])), request_body = NewActivity,
    responses((status = 201, body = Activity), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn log_activity(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewActivity>) -> ApiResult<Response> {
    let a = s.app.log_activity(&actor, input).await?;
    Ok(created(format!("/api/v1/activities/{}", a.id), a.version, a))
}

/// A record's timeline (`opportunity_id`, `account_id` or `lead_id`: everyone's activities on
/// a record the caller sees), or the activities logged by people in the caller's scope.
/// Newest first.
#[utoipa::path(get, path = "/api/v1/activities", tag = "follow-up", security(("bearer" = [])), params(ActivityQuery),
    responses((status = 200, body = ListPage<Activity>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_activities(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ActivityQuery>) -> ApiResult<Json<ListPage<Activity>>> {
    Ok(Json(s.app.list_activities(&actor, &q).await?))
}

#[utoipa::path(get, path = "/api/v1/activities/{id}", tag = "follow-up", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Activity), (status = 404, body = ErrorBody)))]
pub async fn get_activity(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let a = s.app.get_activity(&actor, &id).await?;
    Ok(with_etag(a.version, a))
}

/// Create a task for the caller or someone else (who is told in their inbox).
#[utoipa::path(post, path = "/api/v1/tasks", tag = "follow-up", security(("bearer" = [])), request_body = NewTask,
    responses((status = 201, body = TaskView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_task(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewTask>) -> ApiResult<Response> {
    let t = s.app.create_task(&actor, input).await?;
    Ok(created(format!("/api/v1/tasks/{}", t.task.id), t.task.version, t))
}

/// "My tasks" (`view=mine`, the default) or "my team's tasks" (`view=team`), earliest due
/// first; open ones by default, with `state` = overdue, done, cancelled or all.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "follow-up", security(("bearer" = [])), params(TaskQuery),
    responses((status = 200, body = ListPage<TaskView>), (status = 422, body = ErrorBody)))]
pub async fn list_tasks(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<TaskQuery>) -> ApiResult<Json<ListPage<TaskView>>> {
    Ok(Json(s.app.list_tasks(&actor, &q).await?))
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "follow-up", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody)))]
pub async fn get_task(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let t = s.app.get_task(&actor, &id).await?;
    Ok(with_etag(t.task.version, t))
}

/// Complete (`status: done`), cancel, reopen, reschedule, retitle or hand over a task. Needs
/// the version (If-Match or `version`).
#[utoipa::path(patch, path = "/api/v1/tasks/{id}", tag = "follow-up", security(("bearer" = [])), request_body = TaskPatch,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_task(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, headers: HeaderMap, JsonBody(mut input): JsonBody<TaskPatch>) -> ApiResult<Response> {
    input.version = crate::extract::version(&headers, input.version)?;
    let t = s.app.update_task(&actor, &id, input).await?;
    Ok(with_etag(t.task.version, t))
}

/// Open deals at risk in the caller's scope, as the last scan found them: stale (flagged or
/// alert), past their stage's dwell limit, short of cadence, or past their expected close;
/// with the recommended action. Highest risk first.
#[utoipa::path(get, path = "/api/v1/risks", tag = "follow-up", security(("bearer" = [])), params(RiskQuery),
    responses((status = 200, body = ListPage<RiskListRow>), (status = 422, body = ErrorBody)))]
pub async fn risks(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<RiskQuery>) -> ApiResult<Json<ListPage<RiskListRow>>> {
    Ok(Json(s.app.list_risks(&actor, &q).await?))
}

#[utoipa::path(get, path = "/api/v1/follow-up-settings", tag = "follow-up", security(("bearer" = [])),
    responses((status = 200, body = FollowUpSettings)))]
pub async fn get_settings(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<FollowUpSettings>> {
    Ok(Json(s.app.followup_settings(&actor).await?))
}

/// Set the follow-up rules (admin): stale flag and alert days (working days), dwell factor,
/// history needed for the p90 limit, grace hours before an overdue task goes to the manager.
#[utoipa::path(put, path = "/api/v1/follow-up-settings", tag = "follow-up", security(("bearer" = [])), request_body = FollowUpSettings,
    responses((status = 200, body = FollowUpSettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<FollowUpSettings>) -> ApiResult<Json<FollowUpSettings>> {
    Ok(Json(s.app.put_followup_settings(actor.require_admin()?, input).await?))
}

/// The background jobs and their leases (admin): who runs each, when it last started and
/// finished, and its last error.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "follow-up", security(("bearer" = [])),
    responses((status = 200, body = Vec<JobState>), (status = 403, body = ErrorBody)))]
pub async fn jobs(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<Vec<JobState>>> {
    actor.require_admin()?;
    Ok(Json(s.app.job_states().await?))
}
