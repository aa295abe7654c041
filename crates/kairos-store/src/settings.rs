//! Workspace settings the engine reads: close reasons, the working-day calendar, FX rates,
//! priority thresholds.

use chrono::{DateTime, NaiveDate, Utc};
use kairos_domain::ids::{CloseReasonId, WorkspaceId};
use serde::Serialize;

use crate::db::{Conn, sql};
use crate::error::StoreResult;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CloseReason {
    #[sqlx(rename = "reason_id")]
    pub id: String,
    /// lost or invalid
    pub outcome: String,
    pub label: String,
    pub position: i64,
    pub active: bool,
}

pub async fn insert_close_reason(c: &mut Conn<'_>, ws: WorkspaceId, r: &CloseReason, now: DateTime<Utc>) -> StoreResult<()> {
    c.execute(
        &sql("INSERT INTO close_reason (workspace_id, reason_id, outcome, label, position, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(ws.to_string())
            .bind(r.id.clone())
            .bind(r.outcome.clone())
            .bind(r.label.clone())
            .bind(r.position)
            .bind(r.active)
            .bind(now),
    )
    .await?;
    Ok(())
}

pub async fn list_close_reasons(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Vec<CloseReason>> {
    c.fetch_all(
        &sql("SELECT reason_id, outcome, label, position, active FROM close_reason WHERE workspace_id = $1 ORDER BY outcome, position, reason_id")
            .bind(ws.to_string()),
    )
    .await
}

pub async fn find_close_reason(c: &mut Conn<'_>, ws: WorkspaceId, id: CloseReasonId) -> StoreResult<Option<CloseReason>> {
    c.fetch_optional(
        &sql("SELECT reason_id, outcome, label, position, active FROM close_reason WHERE workspace_id = $1 AND reason_id = $2")
            .bind(ws.to_string())
            .bind(id.to_string()),
    )
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CalendarDay {
    pub day: NaiveDate,
    /// holiday or workday (a make-up working day, 调休)
    pub kind: String,
    pub name: Option<String>,
}

pub async fn list_calendar_days(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Vec<CalendarDay>> {
    c.fetch_all(&sql("SELECT day, kind, name FROM calendar_day WHERE workspace_id = $1 ORDER BY day").bind(ws.to_string())).await
}

pub async fn replace_calendar_days(c: &mut Conn<'_>, ws: WorkspaceId, days: &[CalendarDay]) -> StoreResult<()> {
    c.execute(&sql("DELETE FROM calendar_day WHERE workspace_id = $1").bind(ws.to_string())).await?;
    for d in days {
        c.execute(
            &sql("INSERT INTO calendar_day (workspace_id, day, kind, name) VALUES ($1, $2, $3, $4)")
                .bind(ws.to_string())
                .bind(d.day)
                .bind(d.kind.clone())
                .bind(d.name.clone()),
        )
        .await?;
    }
    Ok(())
}

/// Weekend days as ISO weekday numbers (1 = Monday … 7 = Sunday), stored as "6,7".
pub async fn weekend_days(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<String> {
    let (w,): (String,) = c.fetch_one(&sql("SELECT weekend_days FROM workspace WHERE workspace_id = $1").bind(ws.to_string())).await?;
    Ok(w)
}

pub async fn set_weekend_days(c: &mut Conn<'_>, ws: WorkspaceId, days: &str) -> StoreResult<()> {
    c.execute(&sql("UPDATE workspace SET weekend_days = $1 WHERE workspace_id = $2").bind(days.to_string()).bind(ws.to_string())).await?;
    Ok(())
}

/// (health above, amount above in base minor units) that make a deal a priority.
pub async fn priority_thresholds(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<(i64, i64)> {
    c.fetch_one(&sql("SELECT priority_health_above, priority_amount_above FROM workspace WHERE workspace_id = $1").bind(ws.to_string())).await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct FxRate {
    pub currency: String,
    pub valid_on: NaiveDate,
    /// Base-currency units per unit of `currency`, times 1,000,000.
    pub rate_micros: i64,
}

pub async fn upsert_fx_rate(c: &mut Conn<'_>, ws: WorkspaceId, r: &FxRate, now: DateTime<Utc>) -> StoreResult<()> {
    c.execute(
        &sql("INSERT INTO fx_rate (workspace_id, currency, valid_on, rate_micros, created_at) VALUES ($1, $2, $3, $4, $5) \
              ON CONFLICT (workspace_id, currency, valid_on) DO UPDATE SET rate_micros = excluded.rate_micros")
        .bind(ws.to_string())
        .bind(r.currency.clone())
        .bind(r.valid_on)
        .bind(r.rate_micros)
        .bind(now),
    )
    .await?;
    Ok(())
}

pub async fn list_fx_rates(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Vec<FxRate>> {
    c.fetch_all(&sql("SELECT currency, valid_on, rate_micros FROM fx_rate WHERE workspace_id = $1 ORDER BY currency, valid_on").bind(ws.to_string()))
        .await
}

/// What a report needs to put amounts in one currency: the workspace's base currency and,
/// for each other currency, its newest rate on or before `day`, read in one statement (a
/// report is a few milliseconds, and each statement is a round trip), as one document
/// (`Conn::fetch_many`), which a report's inline connection reads too. `NotFound` when the
/// workspace does not exist.
pub async fn currency_basis(c: &mut Conn<'_>, ws: WorkspaceId, day: NaiveDate) -> StoreResult<CurrencyBasis> {
    let rows: Vec<BasisRow> = c
        .fetch_many(
            &sql("SELECT w.base_currency, r.currency, r.rate_micros FROM workspace w \
                  LEFT JOIN fx_rate r ON r.workspace_id = w.workspace_id AND r.valid_on = \
                      (SELECT max(x.valid_on) FROM fx_rate x WHERE x.workspace_id = r.workspace_id AND x.currency = r.currency AND x.valid_on <= $2) \
                  WHERE w.workspace_id = $1")
            .bind(ws.to_string())
            .bind(day),
            &["base_currency", "currency", "rate_micros"],
            None,
        )
        .await?;
    let base = rows.first().map(|r| r.base_currency.clone()).ok_or(crate::error::StoreError::NotFound)?;
    let rates = rows.into_iter().filter_map(|r| Some((r.currency?, r.rate_micros?))).collect();
    Ok(CurrencyBasis { base, rates })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyBasis {
    pub base: String,
    /// Base-currency units per unit of each currency, times 1,000,000.
    pub rates: std::collections::HashMap<String, i64>,
}

#[derive(sqlx::FromRow, serde::Deserialize)]
struct BasisRow {
    base_currency: String,
    currency: Option<String>,
    rate_micros: Option<i64>,
}

pub async fn update_close_reason(c: &mut Conn<'_>, ws: WorkspaceId, r: &CloseReason) -> StoreResult<u64> {
    c.execute(
        &sql("UPDATE close_reason SET label = $1, position = $2, active = $3 WHERE workspace_id = $4 AND reason_id = $5")
            .bind(r.label.clone())
            .bind(r.position)
            .bind(r.active)
            .bind(ws.to_string())
            .bind(r.id.clone()),
    )
    .await
}

/// Workspace-wide settings an admin may change.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WorkspaceSettings {
    pub name: String,
    pub base_currency: String,
    /// Opportunity number pattern, e.g. `{yyyy}-{region}-{seq:3}`.
    pub number_pattern: String,
    /// A deal is a priority when its health is above this …
    pub priority_health_above: i64,
    /// … and its amount in base-currency minor units is above this.
    pub priority_amount_above: i64,
    pub version: i64,
}

pub async fn get_settings(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<WorkspaceSettings> {
    c.fetch_one(
        &sql("SELECT name, base_currency, number_pattern, priority_health_above, priority_amount_above, version FROM workspace WHERE workspace_id = $1")
            .bind(ws.to_string()),
    )
    .await
}

pub async fn update_settings(c: &mut Conn<'_>, ws: WorkspaceId, s: &WorkspaceSettings, now: DateTime<Utc>, expected_version: i64) -> StoreResult<()> {
    let n = c
        .execute(
            &sql("UPDATE workspace SET name = $1, base_currency = $2, number_pattern = $3, priority_health_above = $4, priority_amount_above = $5, \
                  updated_at = $6, version = $7 WHERE workspace_id = $8 AND version = $9")
            .bind(s.name.clone())
            .bind(s.base_currency.clone())
            .bind(s.number_pattern.clone())
            .bind(s.priority_health_above)
            .bind(s.priority_amount_above)
            .bind(now)
            .bind(s.version)
            .bind(ws.to_string())
            .bind(expected_version),
        )
        .await?;
    if n == 0 { Err(crate::StoreError::StaleVersion) } else { Ok(()) }
}
