//! The app layer's one error type: what went wrong in terms a client can act on.

use kairos_domain::FieldError;
use kairos_store::StoreError;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// One or more fields are invalid; every one of them is listed.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The record does not exist or lies outside the caller's data scope (the two are
    /// deliberately indistinguishable).
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A business conflict such as a duplicate; `details` points at the existing record.
    #[error("{message}")]
    Conflict { code: &'static str, message: String, details: Value },
    /// The version sent with an update is not the current one.
    #[error("the record was changed by someone else; reload it and try again")]
    StaleVersion { current_version: Option<i64> },
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// A well-formed request the business rules refuse, with a code a client can match.
    #[error("{message}")]
    Refused { code: &'static str, message: String, details: Value },
    #[error("unexpected error")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn field(field: &str, problem: impl Into<String>) -> AppError {
        AppError::Validation(vec![FieldError { field: field.to_string(), problem: problem.into() }])
    }

    pub fn unexpected(err: impl std::error::Error + Send + Sync + 'static) -> AppError {
        AppError::Unexpected(Box::new(err))
    }

    pub fn internal(message: impl Into<String>) -> AppError {
        AppError::Unexpected(message.into().into())
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => AppError::NotFound { entity: "record" },
            StoreError::StaleVersion => AppError::StaleVersion { current_version: None },
            StoreError::Unique { detail } => {
                tracing::debug!(%detail, "unique key taken");
                AppError::Conflict {
                code: "conflict",
                message: "the record conflicts with an existing one".into(),
                details: serde_json::json!({}),
            }
            }
            other => AppError::Unexpected(Box::new(other)),
        }
    }
}

impl From<Vec<FieldError>> for AppError {
    fn from(errors: Vec<FieldError>) -> Self {
        AppError::Validation(errors)
    }
}
