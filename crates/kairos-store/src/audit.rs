//! The append-only audit log.

use chrono::{DateTime, Utc};
use kairos_domain::audit::FieldChange;
use kairos_domain::ids::{UserId, WorkspaceId};
use serde::Serialize;
use uuid::Uuid;

use sea_query::{Alias, Query};

use crate::bulk::{Cell, insert_rows};
use crate::db::{Conn, sql};
use crate::error::StoreResult;

/// One audited change, as `GET /api/v1/audit` answers it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    #[sqlx(rename = "audit_id")]
    pub id: String,
    pub at: DateTime<Utc>,
    /// The user who made the change; empty for system changes.
    pub actor_id: Option<String>,
    pub entity: String,
    pub entity_id: String,
    /// create, update, archive, restore, delete
    pub action: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

/// What the app knows about one audited event.
pub struct AuditEvent<'a> {
    pub workspace: WorkspaceId,
    pub actor: Option<UserId>,
    pub at: DateTime<Utc>,
    pub entity: &'a str,
    pub entity_id: String,
    pub action: &'a str,
}

/// Writes one row per changed field (or a single row for an event without field changes),
/// in one multi-row statement. Runs inside the transaction of the change itself, so the log
/// can never miss a change.
pub async fn insert_audit(c: &mut Conn<'_>, e: &AuditEvent<'_>, changes: &[FieldChange], mint: &mut (dyn FnMut() -> Uuid + Send)) -> StoreResult<()> {
    let none = FieldChange { field: String::new(), old_value: None, new_value: None };
    let rows: Vec<(Option<&str>, &FieldChange)> = if changes.is_empty() {
        vec![(None, &none)]
    } else {
        changes.iter().map(|ch| (Some(ch.field.as_str()), ch)).collect()
    };
    for chunk in rows.chunks(100) {
        let mut q = Query::insert();
        q.into_table(Alias::new("audit_log")).columns(
            ["workspace_id", "audit_id", "at", "actor_id", "entity", "entity_id", "action", "field", "old_value", "new_value"]
                .map(Alias::new),
        );
        for (field, ch) in chunk {
            q.values_panic([
                e.workspace.to_string().into(),
                mint().to_string().into(),
                e.at.into(),
                e.actor.map(|a| a.to_string()).into(),
                e.entity.into(),
                e.entity_id.clone().into(),
                e.action.into(),
                field.map(str::to_string).into(),
                ch.old_value.clone().into(),
                ch.new_value.clone().into(),
            ]);
        }
        c.execute(&q).await?;
    }
    Ok(())
}

/// One audit row per record for a bulk action (an import): who, when, what, no fields.
pub async fn insert_audit_bulk(c: &mut Conn<'_>, e: &AuditEvent<'_>, entity_ids: &[String], mint: &mut (dyn FnMut() -> Uuid + Send)) -> StoreResult<()> {
    let rows: Vec<Vec<Cell>> = entity_ids
        .iter()
        .map(|id| {
            vec![
                e.workspace.to_string().into(),
                mint().to_string().into(),
                e.at.into(),
                e.actor.map(|a| a.to_string()).into(),
                e.entity.into(),
                id.clone().into(),
                e.action.into(),
            ]
        })
        .collect();
    insert_rows(c, "audit_log", &["workspace_id", "audit_id", "at", "actor_id", "entity", "entity_id", "action"], rows, 1000).await
}

pub async fn list_audit(c: &mut Conn<'_>, ws: WorkspaceId, entity: &str, entity_id: &str, limit: u64) -> StoreResult<Vec<AuditEntry>> {
    c.fetch_all(
        &sql("SELECT audit_id, at, actor_id, entity, entity_id, action, field, old_value, new_value FROM audit_log \
              WHERE workspace_id = $1 AND entity = $2 AND entity_id = $3 ORDER BY at, audit_id LIMIT $4")
        .bind(ws.to_string())
        .bind(entity.to_string())
        .bind(entity_id.to_string())
        .bind(limit as i64),
    )
    .await
}
