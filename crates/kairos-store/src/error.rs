//! Database facts translated at the storage edge (STYLE.md 4): callers see "not found",
//! "unique key taken" or "stale version", never a driver error code.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("record not found")]
    NotFound,
    /// A unique index refused the row; `detail` names the index or columns as the driver
    /// reported them (for logs only: callers re-query to say which record holds the key).
    #[error("unique key already taken ({detail})")]
    Unique { detail: String },
    /// The version given with an update is not the stored one.
    #[error("the record was changed by someone else (stale version)")]
    StaleVersion,
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A statement other than a JSON document was run on an inline lookup
    /// (`Store::lookup`), which has no driver connection: a mistake in our code.
    #[error("an inline lookup reads JSON documents only")]
    InlineOnly,
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Unique {
                detail: db.constraint().map(str::to_string).unwrap_or_else(|| db.message().to_string()),
            },
            other => StoreError::Database(other),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
