//! `/api/v1/accounts` (PRODUCT.md §2).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use kairos_app::accounts::{AccountPatch, AccountQuery, AccountView, NewAccount};
use kairos_app::listing::ListPage;
use kairos_domain::account::Account;

use super::{created, with_etag};
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams, if_match, version};
use crate::state::AppState;

/// List the accounts the caller may see.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", security(("bearer" = [])), params(AccountQuery),
    responses((status = 200, body = ListPage<Account>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<AccountQuery>) -> ApiResult<Json<ListPage<Account>>> {
    Ok(Json(s.app.list_accounts(&actor, &q).await?))
}

/// Create an account. A name that normalises to an existing account's answers 409 with
/// `details.existing_id`.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", security(("bearer" = [])), request_body = NewAccount,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key replay the first answer")),
    responses((status = 201, body = AccountView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewAccount>) -> ApiResult<Response> {
    let view = s.app.create_account(&actor, input).await?;
    Ok(created(format!("/api/v1/accounts/{}", view.account.id), view.account.version, view))
}

/// One account with its team; `ETag` carries its version.
#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let view = s.app.get_account(&actor, &id).await?;
    Ok(with_etag(view.account.version, view))
}

/// Change an account: send only the changed fields and the version you read (or If-Match).
#[utoipa::path(patch, path = "/api/v1/accounts/{id}", tag = "accounts", security(("bearer" = [])), request_body = AccountPatch,
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "The version read, e.g. \"3\"")),
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Stale version or duplicate name", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut input): JsonBody<AccountPatch>,
) -> ApiResult<Response> {
    input.version = version(&headers, input.version)?;
    let view = s.app.update_account(&actor, &id, input).await?;
    Ok(with_etag(view.account.version, view))
}

/// Archive an account (restorable with `POST …/restore`).
#[utoipa::path(delete, path = "/api/v1/accounts/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn archive(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, headers: HeaderMap) -> ApiResult<StatusCode> {
    s.app.archive_account(&actor, &id, if_match(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restore an archived account.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/restore", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Account), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn restore(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let account = s.app.restore_account(&actor, &id, if_match(&headers)?).await?;
    Ok(with_etag(account.version, account))
}
