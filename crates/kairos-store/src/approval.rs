//! Approval requests for gated stage moves.

use chrono::{DateTime, Utc};
use kairos_domain::ids::{ApprovalId, OpportunityId, UserId, WorkspaceId};
use serde::Serialize;

use kairos_domain::identity::DataScope;
use sea_query::{Alias, Cond, Expr, JoinType, Order, Query};

use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::scope::{OPPORTUNITY, col};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Approval {
    #[sqlx(rename = "approval_id")]
    pub id: String,
    pub opportunity_id: String,
    pub from_stage_id: String,
    pub to_stage_id: String,
    /// Why approval is needed (health band, stage rule).
    pub reason: String,
    /// What the requester said (supporting material).
    pub note: Option<String>,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// The approver: a person (direct manager) or anyone with a role.
    pub approver_id: Option<String>,
    pub approver_role: Option<String>,
    /// pending, approved, rejected, cancelled
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub comment: Option<String>,
    pub version: i64,
    /// The stage whose approval need this request answers.
    pub need_stage_id: Option<String>,
}

const COLUMNS: &str = "approval_id, opportunity_id, from_stage_id, to_stage_id, reason, note, requested_by, requested_at, \
                       approver_id, approver_role, status, decided_by, decided_at, comment, version, need_stage_id";

pub async fn insert_approval(c: &mut Conn<'_>, ws: WorkspaceId, a: &Approval) -> StoreResult<()> {
    c.execute(
        &sql(format!("INSERT INTO approval_request (workspace_id, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"))
            .bind(ws.to_string())
            .bind(a.id.clone())
            .bind(a.opportunity_id.clone())
            .bind(a.from_stage_id.clone())
            .bind(a.to_stage_id.clone())
            .bind(a.reason.clone())
            .bind(a.note.clone())
            .bind(a.requested_by.clone())
            .bind(a.requested_at)
            .bind(a.approver_id.clone())
            .bind(a.approver_role.clone())
            .bind(a.status.clone())
            .bind(a.decided_by.clone())
            .bind(a.decided_at)
            .bind(a.comment.clone())
            .bind(a.version)
            .bind(a.need_stage_id.clone()),
    )
    .await?;
    Ok(())
}

pub async fn find_approval(c: &mut Conn<'_>, ws: WorkspaceId, id: ApprovalId) -> StoreResult<Option<Approval>> {
    c.fetch_optional(&sql(format!("SELECT {COLUMNS} FROM approval_request WHERE workspace_id = $1 AND approval_id = $2")).bind(ws.to_string()).bind(id.to_string()))
        .await
}

pub async fn pending_for_opportunity(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId) -> StoreResult<Option<Approval>> {
    c.fetch_optional(
        &sql(format!("SELECT {COLUMNS} FROM approval_request WHERE workspace_id = $1 AND opportunity_id = $2 AND status = 'pending'"))
            .bind(ws.to_string())
            .bind(opp.to_string()),
    )
    .await
}

pub async fn list_for_opportunity(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId) -> StoreResult<Vec<Approval>> {
    c.fetch_all(
        &sql(format!("SELECT {COLUMNS} FROM approval_request WHERE workspace_id = $1 AND opportunity_id = $2 ORDER BY requested_at"))
            .bind(ws.to_string())
            .bind(opp.to_string()),
    )
    .await
}

/// Pending requests a user may decide: addressed to them or to one of their roles (or, for
/// admins, every one), on deals inside their data scope.
pub async fn waiting_for(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, user: UserId, roles: &[String], everything: bool) -> StoreResult<Vec<Approval>> {
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS.split(", ").map(|c| format!("ar.{c}")).collect::<Vec<_>>().join(", ")))
        .from_as(Alias::new("approval_request"), Alias::new("ar"))
        .join_as(
            JoinType::InnerJoin,
            Alias::new("opportunity"),
            Alias::new("o"),
            Cond::all()
                .add(col("o", "workspace_id").equals((Alias::new("ar"), Alias::new("workspace_id"))))
                .add(col("o", "opportunity_id").equals((Alias::new("ar"), Alias::new("opportunity_id")))),
        )
        .and_where(col("ar", "workspace_id").eq(ws.to_string()))
        .and_where(col("ar", "status").eq("pending"));
    if !everything {
        q.cond_where(Cond::any().add(col("ar", "approver_id").eq(user.to_string())).add(col("ar", "approver_role").is_in(roles.iter().cloned())));
    }
    if let Some(cond) = OPPORTUNITY.condition(ws, scope) {
        q.and_where(cond);
    }
    q.order_by((Alias::new("ar"), Alias::new("requested_at")), Order::Asc);
    c.fetch_all(&q).await
}

/// The stages whose approval needs were granted for the current attempt of a move: approved
/// requests for the same from → to since the deal entered its stage.
pub async fn granted_needs(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId, from: &str, to: &str, since: DateTime<Utc>) -> StoreResult<Vec<String>> {
    let rows: Vec<(Option<String>,)> = c
        .fetch_all(
            &sql("SELECT need_stage_id FROM approval_request WHERE workspace_id = $1 AND opportunity_id = $2 AND from_stage_id = $3 \
                  AND to_stage_id = $4 AND status = 'approved' AND decided_at >= $5")
            .bind(ws.to_string())
            .bind(opp.to_string())
            .bind(from.to_string())
            .bind(to.to_string())
            .bind(since),
        )
        .await?;
    Ok(rows.into_iter().filter_map(|r| r.0).collect())
}

pub async fn decide(c: &mut Conn<'_>, ws: WorkspaceId, a: &Approval) -> StoreResult<()> {
    let n = c
        .execute(
            &sql("UPDATE approval_request SET status = $1, decided_by = $2, decided_at = $3, comment = $4, version = version + 1 \
                  WHERE workspace_id = $5 AND approval_id = $6 AND status = 'pending'")
            .bind(a.status.clone())
            .bind(a.decided_by.clone())
            .bind(a.decided_at)
            .bind(a.comment.clone())
            .bind(ws.to_string())
            .bind(a.id.clone()),
        )
        .await?;
    if n == 0 { Err(StoreError::StaleVersion) } else { Ok(()) }
}

/// Which of these deals wait for an approval (the kanban marks them).
pub async fn pending_among(c: &mut Conn<'_>, ws: WorkspaceId, opportunity_ids: &[String]) -> StoreResult<Vec<String>> {
    if opportunity_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Query::select();
    q.column(Alias::new("opportunity_id"))
        .from(Alias::new("approval_request"))
        .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
        .and_where(Expr::col(Alias::new("status")).eq("pending"))
        .and_where(Expr::col(Alias::new("opportunity_id")).is_in(opportunity_ids.iter().cloned()));
    let rows: Vec<(String,)> = c.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
