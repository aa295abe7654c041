//! `/api/v1/users`: the directory is readable by everyone, changed by admins only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use kairos_app::listing::ListPage;
use kairos_app::users::{NewUser, UserPatch, UserQuery};
use kairos_domain::identity::User;

use super::{created, with_etag};
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams, version};
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), params(UserQuery),
    responses((status = 200, body = ListPage<User>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<UserQuery>) -> ApiResult<Json<ListPage<User>>> {
    Ok(Json(s.app.list_users(&actor, &q).await?))
}

/// Create a user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])), request_body = NewUser,
    responses((status = 201, body = User), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewUser>) -> ApiResult<Response> {
    let user = s.app.create_user(actor.require_admin()?, input).await?;
    Ok(created(format!("/api/v1/users/{}", user.id), user.version, user))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn get(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let user = s.app.get_user(&actor, &id).await?;
    Ok(with_etag(user.version, user))
}

/// Change a user (admin); `"active": false` disables them.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])), request_body = UserPatch,
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut input): JsonBody<UserPatch>,
) -> ApiResult<Response> {
    input.version = version(&headers, input.version)?;
    let user = s.app.update_user(actor.require_admin()?, &id, input).await?;
    Ok(with_etag(user.version, user))
}
