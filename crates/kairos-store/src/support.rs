//! Support requests: stored as the domain describes them; automatic ones (a deal became a
//! priority deal) are created once per deal through a unique origin key.

use chrono::{DateTime, NaiveDate, Utc};
use kairos_domain::ids::{OpportunityId, SupportRequestId, UserId, WorkspaceId};
use kairos_domain::support::{SupportRequest, SupportStatus, SupportTeam};
use sea_query::{Alias, Cond, Expr, OnConflict, Order, Query};

use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::row::{parse_id, parse_opt_id, parse_stored};

#[derive(sqlx::FromRow)]
struct Row {
    workspace_id: String,
    support_request_id: String,
    opportunity_id: String,
    team: String,
    kind: String,
    description: String,
    expected_output: Option<String>,
    due_on: Option<NaiveDate>,
    requester_id: String,
    assignee_id: Option<String>,
    status: String,
    accept_by: DateTime<Utc>,
    responded_at: Option<DateTime<Utc>>,
    responder_id: Option<String>,
    reject_reason: Option<String>,
    done_at: Option<DateTime<Utc>>,
    done_note: Option<String>,
    requester_rating: Option<i64>,
    requester_comment: Option<String>,
    supporter_rating: Option<i64>,
    supporter_comment: Option<String>,
    overdue_notified_at: Option<DateTime<Utc>>,
    origin: String,
    origin_key: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

const COLUMNS: [&str; 27] = [
    "workspace_id", "support_request_id", "opportunity_id", "team", "kind", "description", "expected_output", "due_on", "requester_id",
    "assignee_id", "status", "accept_by", "responded_at", "responder_id", "reject_reason", "done_at", "done_note", "requester_rating",
    "requester_comment", "supporter_rating", "supporter_comment", "overdue_notified_at", "origin", "origin_key", "created_at", "updated_at",
    "version",
];

fn rating(v: Option<i64>) -> Option<u8> {
    v.and_then(|v| u8::try_from(v).ok())
}

impl TryFrom<Row> for SupportRequest {
    type Error = StoreError;
    fn try_from(r: Row) -> StoreResult<SupportRequest> {
        Ok(SupportRequest {
            id: parse_id(&r.support_request_id, SupportRequestId::parse)?,
            workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            opportunity_id: parse_id(&r.opportunity_id, OpportunityId::parse)?,
            team: parse_stored(&r.team, "support team", SupportTeam::from_stored)?,
            kind: r.kind,
            description: r.description,
            expected_output: r.expected_output,
            due_on: r.due_on,
            requester_id: parse_id(&r.requester_id, UserId::parse)?,
            assignee_id: parse_opt_id(r.assignee_id.as_deref(), UserId::parse)?,
            status: parse_stored(&r.status, "support status", SupportStatus::from_stored)?,
            accept_by: r.accept_by,
            responded_at: r.responded_at,
            responder_id: parse_opt_id(r.responder_id.as_deref(), UserId::parse)?,
            reject_reason: r.reject_reason,
            done_at: r.done_at,
            done_note: r.done_note,
            requester_rating: rating(r.requester_rating),
            requester_comment: r.requester_comment,
            supporter_rating: rating(r.supporter_rating),
            supporter_comment: r.supporter_comment,
            overdue_notified_at: r.overdue_notified_at,
            origin: r.origin,
            origin_key: r.origin_key,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

fn values(r: &SupportRequest) -> [sea_query::SimpleExpr; 27] {
    [
        r.workspace_id.to_string().into(),
        r.id.to_string().into(),
        r.opportunity_id.to_string().into(),
        r.team.as_str().into(),
        r.kind.clone().into(),
        r.description.clone().into(),
        r.expected_output.clone().into(),
        r.due_on.into(),
        r.requester_id.to_string().into(),
        r.assignee_id.map(|u| u.to_string()).into(),
        r.status.as_str().into(),
        r.accept_by.into(),
        r.responded_at.into(),
        r.responder_id.map(|u| u.to_string()).into(),
        r.reject_reason.clone().into(),
        r.done_at.into(),
        r.done_note.clone().into(),
        r.requester_rating.map(i64::from).into(),
        r.requester_comment.clone().into(),
        r.supporter_rating.map(i64::from).into(),
        r.supporter_comment.clone().into(),
        r.overdue_notified_at.into(),
        r.origin.clone().into(),
        r.origin_key.clone().into(),
        r.created_at.into(),
        r.updated_at.into(),
        r.version.into(),
    ]
}

/// Inserts a request; one with an origin key that exists already is skipped. Answers
/// whether it was inserted.
pub async fn insert(c: &mut Conn<'_>, r: &SupportRequest) -> StoreResult<bool> {
    let mut q = Query::insert();
    q.into_table(Alias::new("support_request"))
        .columns(COLUMNS.map(Alias::new))
        .values_panic(values(r))
        .on_conflict(OnConflict::columns([Alias::new("workspace_id"), Alias::new("origin_key")]).do_nothing().to_owned());
    Ok(c.execute(&q).await? == 1)
}

/// Writes a changed request if it is still at `expected_version`.
pub async fn update(c: &mut Conn<'_>, r: &SupportRequest, expected_version: i64) -> StoreResult<()> {
    let mut q = Query::update();
    q.table(Alias::new("support_request"))
        .values(COLUMNS.iter().zip(values(r)).skip(2).map(|(c, v)| (Alias::new(*c), v)))
        .and_where(Expr::col(Alias::new("workspace_id")).eq(r.workspace_id.to_string()))
        .and_where(Expr::col(Alias::new("support_request_id")).eq(r.id.to_string()))
        .and_where(Expr::col(Alias::new("version")).eq(expected_version));
    if c.execute(&q).await? == 0 { Err(StoreError::StaleVersion) } else { Ok(()) }
}

pub async fn get(c: &mut Conn<'_>, ws: WorkspaceId, id: SupportRequestId) -> StoreResult<Option<SupportRequest>> {
    let mut q = Query::select();
    q.columns(COLUMNS.map(Alias::new))
        .from(Alias::new("support_request"))
        .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
        .and_where(Expr::col(Alias::new("support_request_id")).eq(id.to_string()));
    let row: Option<Row> = c.fetch_optional(&q).await?;
    row.map(SupportRequest::try_from).transpose()
}

/// Which requests a list shows.
#[derive(Debug, Clone, Default)]
pub struct SupportFilter {
    /// Requested by this person.
    pub requester: Option<UserId>,
    /// Addressed to one of these teams (unassigned, or assigned to `me`), or to `me` by name.
    pub teams: Option<(Vec<SupportTeam>, UserId)>,
    pub opportunity: Option<OpportunityId>,
    pub status: Option<SupportStatus>,
}

pub async fn list(c: &mut Conn<'_>, ws: WorkspaceId, f: &SupportFilter, limit: u64) -> StoreResult<Vec<SupportRequest>> {
    let col = |n: &str| Expr::col(Alias::new(n));
    let mut q = Query::select();
    q.columns(COLUMNS.map(Alias::new))
        .from(Alias::new("support_request"))
        .and_where(col("workspace_id").eq(ws.to_string()))
        .order_by(Alias::new("created_at"), Order::Desc)
        .order_by(Alias::new("support_request_id"), Order::Desc)
        .limit(limit);
    if let Some(u) = f.requester {
        q.and_where(col("requester_id").eq(u.to_string()));
    }
    if let Some((teams, me)) = &f.teams {
        let mine = col("assignee_id").eq(me.to_string());
        let team = Cond::all()
            .add(col("team").is_in(teams.iter().map(|t| t.as_str())))
            .add(Cond::any().add(col("assignee_id").is_null()).add(col("assignee_id").eq(me.to_string())));
        q.cond_where(Cond::any().add(mine).add(team));
    }
    if let Some(o) = f.opportunity {
        q.and_where(col("opportunity_id").eq(o.to_string()));
    }
    if let Some(s) = f.status {
        q.and_where(col("status").eq(s.as_str()));
    }
    let rows: Vec<Row> = c.fetch_all(&q).await?;
    rows.into_iter().map(SupportRequest::try_from).collect()
}

/// Open requests past their answer deadline whose requester's manager has not been told.
pub async fn unanswered(c: &mut Conn<'_>, ws: WorkspaceId, now: DateTime<Utc>) -> StoreResult<Vec<SupportRequest>> {
    let mut q = Query::select();
    q.columns(COLUMNS.map(Alias::new))
        .from(Alias::new("support_request"))
        .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
        .and_where(crate::scope::is_literally("support_request", "status", "open"))
        .and_where(Expr::col(Alias::new("accept_by")).lt(now))
        .and_where(Expr::col(Alias::new("overdue_notified_at")).is_null());
    let rows: Vec<Row> = c.fetch_all(&q).await?;
    rows.into_iter().map(SupportRequest::try_from).collect()
}

/// Marks requests as reported overdue; answers those this call marked (a concurrent scan
/// that marked one first has reported it).
pub async fn mark_overdue_notified(c: &mut Conn<'_>, ws: WorkspaceId, ids: &[SupportRequestId], now: DateTime<Utc>) -> StoreResult<Vec<SupportRequestId>> {
    let mut marked = Vec::new();
    for id in ids {
        let n = c
            .execute(
                &sql("UPDATE support_request SET overdue_notified_at = $1 WHERE workspace_id = $2 AND support_request_id = $3 AND overdue_notified_at IS NULL")
                    .bind(now)
                    .bind(ws.to_string())
                    .bind(id.to_string()),
            )
            .await?;
        if n == 1 {
            marked.push(*id);
        }
    }
    Ok(marked)
}
