//! Stored answers of POST requests sent with an `Idempotency-Key`.

use chrono::{DateTime, Utc};
use kairos_domain::ids::{UserId, WorkspaceId};

use crate::db::{Conn, sql};
use crate::error::StoreResult;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    /// `None` while the first request is still being answered.
    pub status_code: Option<i64>,
    pub response_body: Option<String>,
    pub location: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn find_key(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
    c.fetch_optional(
        &sql("SELECT request_hash, status_code, response_body, location, created_at FROM idempotency_key \
              WHERE workspace_id = $1 AND user_id = $2 AND idem_key = $3")
        .bind(ws.to_string())
        .bind(user.to_string())
        .bind(key.to_string()),
    )
    .await
}

/// Claims a key for a request about to run. Fails with `Unique` when another request holds
/// the key already.
pub async fn claim_key(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId, key: &str, request_hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
    c.execute(
        &sql("INSERT INTO idempotency_key (workspace_id, user_id, idem_key, request_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(ws.to_string())
            .bind(user.to_string())
            .bind(key.to_string())
            .bind(request_hash.to_string())
            .bind(now),
    )
    .await?;
    Ok(())
}

pub async fn complete_key(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    user: UserId,
    key: &str,
    status: u16,
    body: &str,
    location: Option<&str>,
) -> StoreResult<()> {
    c.execute(
        &sql("UPDATE idempotency_key SET status_code = $1, response_body = $2, location = $3 \
              WHERE workspace_id = $4 AND user_id = $5 AND idem_key = $6")
        .bind(status as i64)
        .bind(body.to_string())
        .bind(location.map(str::to_string))
        .bind(ws.to_string())
        .bind(user.to_string())
        .bind(key.to_string()),
    )
    .await?;
    Ok(())
}

/// Forgets a key, so that a request that failed without effect can be retried with it.
pub async fn release_key(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId, key: &str) -> StoreResult<()> {
    c.execute(
        &sql("DELETE FROM idempotency_key WHERE workspace_id = $1 AND user_id = $2 AND idem_key = $3")
            .bind(ws.to_string())
            .bind(user.to_string())
            .bind(key.to_string()),
    )
    .await?;
    Ok(())
}

pub async fn prune_keys(c: &mut Conn<'_>, before: DateTime<Utc>) -> StoreResult<()> {
    c.execute(&sql("DELETE FROM idempotency_key WHERE created_at < $1").bind(before)).await?;
    Ok(())
}
