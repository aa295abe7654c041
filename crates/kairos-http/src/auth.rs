//! Who is calling: a bearer token (programs) or a session cookie (browsers, which must
//! also echo their CSRF token on every state-changing request).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use kairos_app::Actor;
use kairos_app::actor::AuthMethod;
use kairos_app::auth::secrets_match;

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "kairos_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller of an API endpoint.
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(actor) = parts.extensions.get::<Actor>() {
            return Ok(Caller(actor.clone()));
        }
        let actor = authenticate(state, &parts.method, &parts.headers).await?;
        parts.extensions.insert(actor.clone());
        Ok(Caller(actor))
    }
}

pub async fn authenticate(state: &AppState, method: &Method, headers: &HeaderMap) -> Result<Actor, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or("");
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::from(kairos_app::AppError::Unauthorized))?;
        return Ok(state.app.authenticate_token(token).await?);
    }
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Err(kairos_app::AppError::Unauthorized.into());
    };
    let actor = state.app.authenticate_session(&secret).await?;
    if is_unsafe(method) {
        let AuthMethod::Session { csrf_token } = &actor.method else { return Err(kairos_app::AppError::Unauthorized.into()) };
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !secrets_match(sent, csrf_token) {
            return Err(csrf_failed());
        }
    }
    Ok(actor)
}

pub fn csrf_failed() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "this request changes data and must carry the page's CSRF token (X-CSRF-Token header or csrf_token field)",
    )
}

pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The client's address, for rate limits on failed logins.
pub fn client_address(parts_extensions: &axum::http::Extensions) -> String {
    parts_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The client address as an extractor.
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(client_address(&parts.extensions)))
    }
}
