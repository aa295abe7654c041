//! `/api/v1/auth`: tokens for programs, and who am I.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kairos_app::auth::{NewToken, TokenRequest};
use kairos_domain::identity::User;
use kairos_domain::ids::TokenId;
use kairos_store::auth::ApiToken;

use crate::auth::{Caller, ClientAddress};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::JsonBody;
use crate::state::AppState;

/// Trade e-mail and password for an API token.
///
/// Wrong credentials answer 401 without saying which part was wrong; repeated failures
/// for one account or one client address answer 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/auth/tokens", tag = "auth", request_body = TokenRequest,
    responses(
        (status = 201, description = "The token; its secret is shown only now", body = NewToken),
        (status = 401, description = "Wrong e-mail or password", body = ErrorBody),
        (status = 422, description = "Invalid request", body = ErrorBody),
        (status = 429, description = "Too many failed attempts", body = ErrorBody),
    ))]
pub async fn create_token(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    JsonBody(req): JsonBody<TokenRequest>,
) -> ApiResult<Response> {
    let token = state.app.create_token(req, &client).await?;
    Ok((StatusCode::CREATED, Json(token)).into_response())
}

/// The caller's own tokens (secrets are never shown again).
#[utoipa::path(get, path = "/api/v1/auth/tokens", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiToken>), (status = 401, body = ErrorBody)))]
pub async fn list_tokens(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(state.app.list_tokens(&actor).await?))
}

/// Revoke one of the caller's tokens; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/auth/tokens/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(State(state): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = TokenId::parse(&id).map_err(|_| ApiError::not_found())?;
    state.app.revoke_token(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(Caller(actor): Caller) -> Json<User> {
    Json(actor.user)
}
