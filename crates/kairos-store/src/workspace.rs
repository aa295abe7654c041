//! Workspaces (tenants).

use chrono::{DateTime, Utc};
use kairos_domain::identity::Locale;
use kairos_domain::ids::WorkspaceId;
use kairos_domain::workspace::Workspace;

use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::row::parse_id;

#[derive(sqlx::FromRow)]
struct WorkspaceRow {
    workspace_id: String,
    name: String,
    base_currency: String,
    time_zone: String,
    locale: String,
    fiscal_year_start_month: i64,
    number_pattern: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

impl TryFrom<WorkspaceRow> for Workspace {
    type Error = StoreError;
    fn try_from(r: WorkspaceRow) -> StoreResult<Workspace> {
        Ok(Workspace {
            id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            name: r.name,
            base_currency: r.base_currency,
            time_zone: r.time_zone,
            locale: Locale::parse(&r.locale).map_err(|p| StoreError::Corrupt(p.0))?,
            fiscal_year_start_month: r.fiscal_year_start_month.clamp(1, 12) as u32,
            number_pattern: r.number_pattern,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

const COLUMNS: &str = "workspace_id, name, base_currency, time_zone, locale, fiscal_year_start_month, \
                       number_pattern, created_at, updated_at, version";

pub async fn insert_workspace(c: &mut Conn<'_>, w: &Workspace) -> StoreResult<()> {
    c.execute(
        &sql(format!("INSERT INTO workspace ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
            .bind(w.id.to_string())
            .bind(w.name.clone())
            .bind(w.base_currency.clone())
            .bind(w.time_zone.clone())
            .bind(w.locale.as_str())
            .bind(w.fiscal_year_start_month as i64)
            .bind(w.number_pattern.clone())
            .bind(w.created_at)
            .bind(w.updated_at)
            .bind(w.version),
    )
    .await?;
    Ok(())
}

pub async fn get_workspace(c: &mut Conn<'_>, id: WorkspaceId) -> StoreResult<Workspace> {
    let row: WorkspaceRow =
        c.fetch_one(&sql(format!("SELECT {COLUMNS} FROM workspace WHERE workspace_id = $1")).bind(id.to_string())).await?;
    row.try_into()
}

pub async fn list_workspaces(c: &mut Conn<'_>) -> StoreResult<Vec<Workspace>> {
    let rows: Vec<WorkspaceRow> = c.fetch_all(&sql(format!("SELECT {COLUMNS} FROM workspace ORDER BY created_at"))).await?;
    rows.into_iter().map(Workspace::try_from).collect()
}
