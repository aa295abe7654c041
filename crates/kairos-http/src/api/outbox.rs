//! The outbox (PRODUCT.md §6, §10): `/api/v1/me/notification-preferences`,
//! `/api/v1/webhooks` (admin: chat robots and signed webhooks) and `/api/v1/deliveries`
//! (admin: what was sent, what is waiting, what failed).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use kairos_app::outbox::{DeliveryList, DeliveryQuery, EndpointInput};
use kairos_domain::outbox::{Delivery, Endpoint, NotificationPrefs};

use crate::api::{created, with_etag};
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::state::AppState;

/// The caller's e-mail preferences (the in-app inbox always gets everything).
#[utoipa::path(get, path = "/api/v1/me/notification-preferences", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = NotificationPrefs)))]
pub async fn get_prefs(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<NotificationPrefs>> {
    Ok(Json(s.app.my_notification_prefs(&actor).await?))
}

/// Turn notification e-mails on or off, or mute some kinds (`email_muted`).
#[utoipa::path(put, path = "/api/v1/me/notification-preferences", tag = "notifications", security(("bearer" = [])), request_body = NotificationPrefs,
    responses((status = 200, body = NotificationPrefs), (status = 422, body = ErrorBody)))]
pub async fn put_prefs(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NotificationPrefs>) -> ApiResult<Json<NotificationPrefs>> {
    Ok(Json(s.app.set_my_notification_prefs(&actor, input).await?))
}

/// The workspace's webhook endpoints (admin). Secrets are never shown.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<Endpoint>), (status = 403, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<Vec<Endpoint>>> {
    Ok(Json(s.app.list_endpoints(actor.require_admin()?).await?))
}

/// Add an endpoint (admin): a WeCom, DingTalk or Feishu group robot, or a generic receiver
/// that gets each event as JSON signed with `X-Kairos-Signature: v1=hex(HMAC-SHA256(secret,
/// "{X-Kairos-Timestamp}.{body}"))`. Events: `opportunity.created`, `opportunity.stage_changed`,
/// `opportunity.won`, `opportunity.lost`, and `notification.<kind>` (e.g.
/// `notification.deal_stale`). A delivery that fails is retried with back-off (30 s doubling to
/// an hour, 8 attempts) and then shows as failed under `/api/v1/deliveries`.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = EndpointInput,
    responses((status = 201, body = Endpoint), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<EndpointInput>) -> ApiResult<Response> {
    let e = s.app.create_endpoint(actor.require_admin()?, input).await?;
    Ok(created(format!("/api/v1/webhooks/{}", e.id), e.version, e))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Endpoint), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let e = s.app.get_endpoint(actor.require_admin()?, &id).await?;
    Ok(with_etag(e.version, e))
}

/// Change an endpoint (admin; needs the version). `active: false` pauses it.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])), request_body = EndpointInput,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Endpoint), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, headers: HeaderMap, JsonBody(mut input): JsonBody<EndpointInput>) -> ApiResult<Response> {
    input.version = crate::extract::version(&headers, input.version)?;
    let e = s.app.update_endpoint(actor.require_admin()?, &id, input).await?;
    Ok(with_etag(e.version, e))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.app.delete_endpoint(actor.require_admin()?, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The outbox (admin): deliveries newest first with their status, attempts and last error,
/// and how many are pending, sent and failed.
#[utoipa::path(get, path = "/api/v1/deliveries", tag = "webhooks", security(("bearer" = [])), params(DeliveryQuery),
    responses((status = 200, body = DeliveryList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn deliveries(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<DeliveryQuery>) -> ApiResult<Json<DeliveryList>> {
    Ok(Json(s.app.list_deliveries(actor.require_admin()?, &q).await?))
}

/// Send a failed delivery again (admin).
#[utoipa::path(post, path = "/api/v1/deliveries/{id}/retry", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Delivery), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn retry(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Json<Delivery>> {
    Ok(Json(s.app.retry_delivery(actor.require_admin()?, &id).await?))
}
