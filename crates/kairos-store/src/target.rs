//! Sales targets (quotas).

use chrono::{DateTime, NaiveDate, Utc};
use kairos_domain::ids::WorkspaceId;
use serde::Serialize;

use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Target {
    #[sqlx(rename = "target_id")]
    pub id: String,
    /// user or org_unit
    pub subject_kind: String,
    pub subject_id: String,
    /// month, quarter or year
    pub period_kind: String,
    pub period_start: NaiveDate,
    /// Minor units of the base currency.
    pub amount: i64,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

const COLUMNS: &str = "target_id, subject_kind, subject_id, period_kind, period_start, amount, updated_at, version";

pub async fn list_targets(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Vec<Target>> {
    c.fetch_all(&sql(format!("SELECT {COLUMNS} FROM sales_target WHERE workspace_id = $1 ORDER BY period_start, subject_kind, subject_id")).bind(ws.to_string()))
        .await
}

pub async fn find_target(c: &mut Conn<'_>, ws: WorkspaceId, id: &str) -> StoreResult<Option<Target>> {
    c.fetch_optional(&sql(format!("SELECT {COLUMNS} FROM sales_target WHERE workspace_id = $1 AND target_id = $2")).bind(ws.to_string()).bind(id.to_string()))
        .await
}

pub async fn insert_target(c: &mut Conn<'_>, ws: WorkspaceId, t: &Target) -> StoreResult<()> {
    c.execute(
        &sql("INSERT INTO sales_target (workspace_id, target_id, subject_kind, subject_id, period_kind, period_start, amount, created_at, updated_at, version) \
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)")
        .bind(ws.to_string())
        .bind(t.id.clone())
        .bind(t.subject_kind.clone())
        .bind(t.subject_id.clone())
        .bind(t.period_kind.clone())
        .bind(t.period_start)
        .bind(t.amount)
        .bind(t.updated_at)
        .bind(t.version),
    )
    .await?;
    Ok(())
}

pub async fn update_target_amount(c: &mut Conn<'_>, ws: WorkspaceId, id: &str, amount: i64, now: DateTime<Utc>, expected_version: i64) -> StoreResult<()> {
    let n = c
        .execute(
            &sql("UPDATE sales_target SET amount = $1, updated_at = $2, version = version + 1 WHERE workspace_id = $3 AND target_id = $4 AND version = $5")
                .bind(amount)
                .bind(now)
                .bind(ws.to_string())
                .bind(id.to_string())
                .bind(expected_version),
        )
        .await?;
    if n == 0 { Err(StoreError::StaleVersion) } else { Ok(()) }
}

pub async fn delete_target(c: &mut Conn<'_>, ws: WorkspaceId, id: &str) -> StoreResult<u64> {
    c.execute(&sql("DELETE FROM sales_target WHERE workspace_id = $1 AND target_id = $2").bind(ws.to_string()).bind(id.to_string())).await
}
