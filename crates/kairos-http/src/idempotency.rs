//! `Idempotency-Key` on POST: the first answer is stored and replayed for retries.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kairos_app::idempotency::KeyClaim;
use sha2::{Digest, Sha256};

use crate::auth::authenticate;
use crate::error::ApiError;
use crate::extract::{BODY_LIMIT, too_large};
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";

pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || !req.headers().contains_key(HEADER) {
        return next.run(req).await;
    }
    match run(state, req, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn run(state: AppState, req: Request, next: Next) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let key = parts
        .headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| ApiError::field("Idempotency-Key", "must be printable ASCII"))?;
    let actor = authenticate(&state, &parts.method, &parts.headers).await?;
    let bytes = to_bytes(body, BODY_LIMIT).await.map_err(|_| too_large())?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b" ");
    hasher.update(parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or(""));
    hasher.update(b"\n");
    hasher.update(&bytes);
    let request_hash = format!("{:x}", hasher.finalize());

    match state.app.claim_idempotency_key(&actor, &key, &request_hash).await? {
        KeyClaim::Replay { status, body, location } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
            if let Some(loc) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
                response.headers_mut().insert(header::LOCATION, loc);
            }
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
        KeyClaim::Fresh => {
            parts.extensions.insert(actor.clone());
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            let (rparts, rbody) = response.into_parts();
            let body = to_bytes(rbody, usize::MAX).await.unwrap_or_default();
            let location = rparts.headers.get(header::LOCATION).and_then(|v| v.to_str().ok());
            let text = String::from_utf8_lossy(&body);
            state.app.finish_idempotent(&actor, &key, rparts.status.as_u16(), &text, location).await?;
            Ok(Response::from_parts(rparts, Body::from(body)))
        }
    }
}
