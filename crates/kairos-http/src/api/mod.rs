//! The REST API under `/api/v1` (API.md). Handlers are thin: extract, call the use-case,
//! shape the answer.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub mod accounts;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod contacts;
pub mod followup;
pub mod leads;
pub mod opportunities;
pub mod org_units;
pub mod outbox;
pub mod pipeline;
pub mod processes;
pub mod reports;
pub mod saved_views;
pub mod settings;
pub mod support;
pub mod targets;
pub mod users;

/// 201 with the new record and its address.
pub fn created<T: Serialize>(location: String, version: i64, body: T) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    set_etag(&mut response, version);
    response
}

/// 200 with a record and its version as ETag (send it back as If-Match).
pub fn with_etag<T: Serialize>(version: i64, body: T) -> Response {
    let mut response = Json(body).into_response();
    set_etag(&mut response, version);
    response
}

fn set_etag(response: &mut Response, version: i64) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
}
