//! Org units: the headquarters › branch › team tree.

use chrono::{DateTime, Utc};
use kairos_domain::ids::{OrgUnitId, UserId, WorkspaceId};
use kairos_domain::org::{OrgUnit, OrgUnitKind};

use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::row::{parse_id, parse_opt_id};

#[derive(sqlx::FromRow)]
struct OrgUnitRow {
    workspace_id: String,
    org_unit_id: String,
    parent_id: Option<String>,
    name: String,
    code: String,
    kind: String,
    manager_id: Option<String>,
    archived_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

impl TryFrom<OrgUnitRow> for OrgUnit {
    type Error = StoreError;
    fn try_from(r: OrgUnitRow) -> StoreResult<OrgUnit> {
        Ok(OrgUnit {
            id: parse_id(&r.org_unit_id, OrgUnitId::parse)?,
            workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            parent_id: parse_opt_id(r.parent_id.as_deref(), OrgUnitId::parse)?,
            name: r.name,
            code: r.code,
            kind: OrgUnitKind::parse(&r.kind).map_err(|p| StoreError::Corrupt(p.0))?,
            manager_id: parse_opt_id(r.manager_id.as_deref(), UserId::parse)?,
            archived: r.archived_at.is_some(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

const COLUMNS: &str =
    "workspace_id, org_unit_id, parent_id, name, code, kind, manager_id, archived_at, created_at, updated_at, version";

pub async fn insert_org_unit(c: &mut Conn<'_>, u: &OrgUnit) -> StoreResult<()> {
    c.execute(
        &sql(format!("INSERT INTO org_unit ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
            .bind(u.workspace_id.to_string())
            .bind(u.id.to_string())
            .bind(u.parent_id.map(|p| p.to_string()))
            .bind(u.name.clone())
            .bind(u.code.clone())
            .bind(u.kind.as_str())
            .bind(u.manager_id.map(|m| m.to_string()))
            .bind(u.archived.then_some(u.updated_at))
            .bind(u.created_at)
            .bind(u.updated_at)
            .bind(u.version),
    )
    .await?;
    Ok(())
}

/// Writes the new state of a unit if the stored version is still `expected_version`.
pub async fn update_org_unit(c: &mut Conn<'_>, u: &OrgUnit, expected_version: i64) -> StoreResult<()> {
    let n = c
        .execute(
            &sql("UPDATE org_unit SET parent_id = $1, name = $2, code = $3, kind = $4, manager_id = $5, \
                  archived_at = CASE WHEN $6 THEN COALESCE(archived_at, $7) ELSE NULL END, updated_at = $7, version = $8 \
                  WHERE workspace_id = $9 AND org_unit_id = $10 AND version = $11")
            .bind(u.parent_id.map(|p| p.to_string()))
            .bind(u.name.clone())
            .bind(u.code.clone())
            .bind(u.kind.as_str())
            .bind(u.manager_id.map(|m| m.to_string()))
            .bind(u.archived)
            .bind(u.updated_at)
            .bind(u.version)
            .bind(u.workspace_id.to_string())
            .bind(u.id.to_string())
            .bind(expected_version),
        )
        .await?;
    if n == 0 { Err(StoreError::StaleVersion) } else { Ok(()) }
}

pub async fn find_org_unit(c: &mut Conn<'_>, ws: WorkspaceId, id: OrgUnitId) -> StoreResult<Option<OrgUnit>> {
    let row: Option<OrgUnitRow> = c
        .fetch_optional(
            &sql(format!("SELECT {COLUMNS} FROM org_unit WHERE workspace_id = $1 AND org_unit_id = $2"))
                .bind(ws.to_string())
                .bind(id.to_string()),
        )
        .await?;
    row.map(OrgUnit::try_from).transpose()
}

pub async fn find_org_unit_by_code(c: &mut Conn<'_>, ws: WorkspaceId, code: &str) -> StoreResult<Option<OrgUnit>> {
    let row: Option<OrgUnitRow> = c
        .fetch_optional(
            &sql(format!("SELECT {COLUMNS} FROM org_unit WHERE workspace_id = $1 AND code = $2"))
                .bind(ws.to_string())
                .bind(code.to_string()),
        )
        .await?;
    row.map(OrgUnit::try_from).transpose()
}

/// Every unit of the workspace, archived ones included, parents before children where
/// the tree allows (ordered by creation).
pub async fn list_org_units(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Vec<OrgUnit>> {
    let rows: Vec<OrgUnitRow> = c
        .fetch_all(
            &sql(format!("SELECT {COLUMNS} FROM org_unit WHERE workspace_id = $1 ORDER BY created_at, org_unit_id"))
                .bind(ws.to_string()),
        )
        .await?;
    rows.into_iter().map(OrgUnit::try_from).collect()
}

/// The unit and all units below it, computed by the database in one query.
pub async fn subtree_ids(c: &mut Conn<'_>, ws: WorkspaceId, root: OrgUnitId) -> StoreResult<Vec<OrgUnitId>> {
    // As one document (`Conn::fetch_many`), which a report's inline connection reads too.
    let rows: Vec<(String,)> = c
        .fetch_many(
            &sql("WITH RECURSIVE sub(org_unit_id) AS ( \
                    SELECT org_unit_id FROM org_unit WHERE workspace_id = $1 AND org_unit_id = $2 \
                    UNION \
                    SELECT u.org_unit_id FROM org_unit u JOIN sub ON u.parent_id = sub.org_unit_id \
                    WHERE u.workspace_id = $1 \
                  ) SELECT org_unit_id FROM sub")
            .bind(ws.to_string())
            .bind(root.to_string()),
            &["org_unit_id"],
            None,
        )
        .await?;
    rows.into_iter().map(|(id,)| parse_id(&id, OrgUnitId::parse)).collect()
}

pub async fn count_users_in_unit(c: &mut Conn<'_>, ws: WorkspaceId, id: OrgUnitId) -> StoreResult<i64> {
    c.fetch_count(
        &sql("SELECT COUNT(*) FROM app_user WHERE workspace_id = $1 AND org_unit_id = $2 AND active = $3")
            .bind(ws.to_string())
            .bind(id.to_string())
            .bind(true),
    )
    .await
}

pub async fn count_children(c: &mut Conn<'_>, ws: WorkspaceId, id: OrgUnitId) -> StoreResult<i64> {
    c.fetch_count(
        &sql("SELECT COUNT(*) FROM org_unit WHERE workspace_id = $1 AND parent_id = $2 AND archived_at IS NULL")
            .bind(ws.to_string())
            .bind(id.to_string()),
    )
    .await
}
