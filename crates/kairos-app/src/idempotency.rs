//! `Idempotency-Key` on POST (API.md): the same key replays the first answer and never
//! runs the action twice.

use chrono::Duration;
use kairos_store::StoreError;
use kairos_store::idempotency as store;
use serde_json::json;

use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};

/// What to do with a request carrying a key.
#[derive(Debug, Clone)]
pub enum KeyClaim {
    /// First time: run the request, then [`App::finish_idempotent`].
    Fresh,
    /// Seen and answered before: send this answer again.
    Replay { status: u16, body: String, location: Option<String> },
}

/// Keys are remembered this long.
pub const KEY_TTL_HOURS: i64 = 24;

impl App {
    /// Claims `key` for a request whose method, path and body hash to `request_hash`.
    pub async fn claim_idempotency_key(&self, actor: &Actor, key: &str, request_hash: &str) -> AppResult<KeyClaim> {
        if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(AppError::field("Idempotency-Key", "must be 1 to 255 printable ASCII characters"));
        }
        let (ws, user) = (actor.workspace(), actor.id());
        let mut tx = self.begin().await?;
        if let Some(found) = store::find_key(&mut tx.conn(), ws, user, key).await? {
            if found.created_at < self.now() - Duration::hours(KEY_TTL_HOURS) {
                store::release_key(&mut tx.conn(), ws, user, key).await?;
            } else {
                tx.rollback().await?;
                return answer_for(found, request_hash);
            }
        }
        match store::claim_key(&mut tx.conn(), ws, user, key, request_hash, self.now()).await {
            Ok(()) => {
                tx.commit().await?;
                Ok(KeyClaim::Fresh)
            }
            Err(StoreError::Unique { .. }) => {
                drop(tx);
                let mut conn = self.store.read().await?;
                match store::find_key(&mut conn.conn(), ws, user, key).await? {
                    Some(found) => answer_for(found, request_hash),
                    None => Err(in_progress()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Records the answer to replay, or forgets the key when the request failed in a way a
    /// retry could fix (server errors, rate limits).
    pub async fn finish_idempotent(&self, actor: &Actor, key: &str, status: u16, body: &str, location: Option<&str>) -> AppResult<()> {
        let mut tx = self.begin().await?;
        if status >= 500 || status == 429 {
            store::release_key(&mut tx.conn(), actor.workspace(), actor.id(), key).await?;
        } else {
            store::complete_key(&mut tx.conn(), actor.workspace(), actor.id(), key, status, body, location).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn answer_for(found: store::IdempotencyRecord, request_hash: &str) -> AppResult<KeyClaim> {
    if found.request_hash != request_hash {
        return Err(AppError::Refused {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used for a different request; use a new key".into(),
            details: json!({ "field": "Idempotency-Key" }),
        });
    }
    match (found.status_code, found.response_body) {
        (Some(status), Some(body)) => Ok(KeyClaim::Replay { status: status as u16, body, location: found.location }),
        _ => Err(in_progress()),
    }
}

fn in_progress() -> AppError {
    AppError::Conflict {
        code: "idempotency_in_progress",
        message: "a request with this Idempotency-Key is still being processed; retry shortly".into(),
        details: json!({}),
    }
}
