//! The HTTP error type: every failure becomes `{"error":{"code","message","details"}}` with
//! the status API.md assigns to it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kairos_app::AppError;
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
    pub retry_after: Option<u64>,
}

/// The error body, as documented in the OpenAPI reference.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorContent,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorContent {
    /// A stable code to match on: validation_failed, malformed_json, not_found, duplicate,
    /// stale_version, unauthorized, forbidden, rate_limited, payload_too_large, …
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// Structured facts: `fields` (every bad field with its problem) for validation errors,
    /// `existing_id` for duplicates, `current_version` for stale versions.
    #[schema(value_type = Object)]
    pub details: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: json!({}), retry_after: None }
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    /// One bad field of the request outside the JSON body (a header, a path segment).
    pub fn field(field: &str, problem: impl Into<String>) -> ApiError {
        let problem = problem.into();
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", format!("{field}: {problem}"))
            .with_details(json!({ "fields": [{ "field": field, "problem": problem }] }))
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> ApiError {
        match err {
            AppError::Validation(fields) => {
                let summary: Vec<String> = fields.iter().map(|f| format!("{}: {}", f.field, f.problem)).collect();
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", summary.join("; "))
                    .with_details(json!({ "fields": fields }))
            }
            AppError::NotFound { entity } => ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{entity} not found")),
            AppError::Conflict { code, message, details } => ApiError::new(StatusCode::CONFLICT, code, message).with_details(details),
            AppError::StaleVersion { current_version } => ApiError::new(
                StatusCode::CONFLICT,
                "stale_version",
                "the record was changed by someone else since you read it; reload it and try again",
            )
            .with_details(json!({ "current_version": current_version })),
            AppError::Unauthorized => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "sign in, or send a valid token as Authorization: Bearer …")
            }
            AppError::Forbidden(message) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
            AppError::RateLimited { retry_after_secs } => {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("too many attempts; try again in {retry_after_secs} seconds"),
                )
                .with_details(json!({ "retry_after_seconds": retry_after_secs }));
                e.retry_after = Some(retry_after_secs);
                e
            }
            AppError::Refused { code, message, details } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_details(details)
            }
            AppError::Unexpected(source) => {
                tracing::error!(error = %source, "unexpected error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong on our side; it has been logged")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message, "details": self.details } });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
