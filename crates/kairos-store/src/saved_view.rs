//! Saved views: a person's named filters of a list page.

use chrono::{DateTime, Utc};
use kairos_domain::ids::{UserId, WorkspaceId};
use serde::Serialize;

use crate::db::{Conn, sql};
use crate::error::StoreResult;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SavedView {
    #[sqlx(rename = "view_id")]
    pub id: String,
    /// The list it filters: opportunities, accounts or leads.
    pub list: String,
    pub name: String,
    /// The list page's query string, e.g. `stage_id=…&sort=-amount`.
    pub query: String,
    pub created_at: DateTime<Utc>,
}

/// A person's views of one list (or of every list), by name.
pub async fn list_views(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId, list: Option<&str>) -> StoreResult<Vec<SavedView>> {
    let filter = if list.is_some() { " AND list = $3" } else { "" };
    let mut q = sql(format!("SELECT view_id, list, name, query, created_at FROM saved_view WHERE workspace_id = $1 AND user_id = $2{filter} ORDER BY list, name"))
        .bind(ws.to_string())
        .bind(user.to_string());
    if let Some(l) = list {
        q = q.bind(l.to_string());
    }
    c.fetch_all(&q).await
}

/// Stores a view; a second view of the same name on the same list answers `StoreError::Unique`.
pub async fn insert_view(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId, v: &SavedView) -> StoreResult<()> {
    c.execute(
        &sql("INSERT INTO saved_view (workspace_id, view_id, user_id, list, name, query, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(ws.to_string())
            .bind(v.id.clone())
            .bind(user.to_string())
            .bind(v.list.clone())
            .bind(v.name.clone())
            .bind(v.query.clone())
            .bind(v.created_at),
    )
    .await?;
    Ok(())
}

/// Removes one of the person's views; answers how many rows went (0: not theirs or gone).
pub async fn delete_view(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId, id: &str) -> StoreResult<u64> {
    c.execute(&sql("DELETE FROM saved_view WHERE workspace_id = $1 AND user_id = $2 AND view_id = $3").bind(ws.to_string()).bind(user.to_string()).bind(id.to_string())).await
}
