//! Activities: the touches logged against deals, accounts and leads.

use chrono::{DateTime, Utc};
use kairos_domain::activity::{Activity, ActivityKind};
use kairos_domain::identity::DataScope;
use kairos_domain::ids::{AccountId, ActivityId, ContactId, LeadId, OpportunityId, OrgUnitId, TaskId, UserId, WorkspaceId};
use sea_query::{Alias, Expr, Func, Order, Query, SelectStatement};

use crate::activity_rollup;
use crate::db::Conn;
use crate::error::{StoreError, StoreResult};
use crate::page::{Page, PageRequest, apply_page};
use crate::row::{parse_id, parse_opt_id, parse_stored};
use crate::scope::{col, owned_by};

#[derive(sqlx::FromRow)]
struct ActivityRow {
    workspace_id: String,
    activity_id: String,
    kind: String,
    occurred_at: DateTime<Utc>,
    duration_minutes: Option<i64>,
    opportunity_id: Option<String>,
    account_id: Option<String>,
    lead_id: Option<String>,
    contact_ids: String,
    summary: String,
    outcome: Option<String>,
    next_step: Option<String>,
    next_step_at: Option<DateTime<Utc>>,
    next_task_id: Option<String>,
    owner_id: String,
    org_unit_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

const FIELDS: [&str; 19] = [
    "workspace_id", "activity_id", "kind", "occurred_at", "duration_minutes", "opportunity_id", "account_id", "lead_id",
    "contact_ids", "summary", "outcome", "next_step", "next_step_at", "next_task_id", "owner_id", "org_unit_id", "created_at",
    "updated_at", "version",
];

impl TryFrom<ActivityRow> for Activity {
    type Error = StoreError;
    fn try_from(r: ActivityRow) -> StoreResult<Activity> {
        let ids: Vec<String> = serde_json::from_str(&r.contact_ids).map_err(|e| StoreError::Corrupt(format!("activity contacts: {e}")))?;
        Ok(Activity {
            id: parse_id(&r.activity_id, ActivityId::parse)?,
            workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            kind: parse_stored(&r.kind, "activity kind", ActivityKind::from_stored)?,
            occurred_at: r.occurred_at,
            duration_minutes: r.duration_minutes.map(|m| m.clamp(0, i64::from(u32::MAX)) as u32),
            opportunity_id: parse_opt_id(r.opportunity_id.as_deref(), OpportunityId::parse)?,
            account_id: parse_opt_id(r.account_id.as_deref(), AccountId::parse)?,
            lead_id: parse_opt_id(r.lead_id.as_deref(), LeadId::parse)?,
            contact_ids: ids.iter().map(|k| parse_id(k, ContactId::parse)).collect::<StoreResult<_>>()?,
            summary: r.summary,
            outcome: r.outcome,
            next_step: r.next_step,
            next_step_at: r.next_step_at,
            next_task_id: parse_opt_id(r.next_task_id.as_deref(), TaskId::parse)?,
            owner_id: parse_id(&r.owner_id, UserId::parse)?,
            org_unit_id: parse_opt_id(r.org_unit_id.as_deref(), OrgUnitId::parse)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

pub async fn insert_activity(c: &mut Conn<'_>, a: &Activity) -> StoreResult<()> {
    let contacts: Vec<String> = a.contact_ids.iter().map(|k| k.to_string()).collect();
    let mut q = Query::insert();
    q.into_table(Alias::new("activity")).columns(FIELDS.map(Alias::new)).values_panic([
        a.workspace_id.to_string().into(),
        a.id.to_string().into(),
        a.kind.as_str().into(),
        a.occurred_at.into(),
        a.duration_minutes.map(i64::from).into(),
        a.opportunity_id.map(|x| x.to_string()).into(),
        a.account_id.map(|x| x.to_string()).into(),
        a.lead_id.map(|x| x.to_string()).into(),
        serde_json::to_string(&contacts).unwrap_or_else(|_| "[]".into()).into(),
        a.summary.clone().into(),
        a.outcome.clone().into(),
        a.next_step.clone().into(),
        a.next_step_at.into(),
        a.next_task_id.map(|x| x.to_string()).into(),
        a.owner_id.to_string().into(),
        a.org_unit_id.map(|x| x.to_string()).into(),
        a.created_at.into(),
        a.updated_at.into(),
        a.version.into(),
    ]);
    c.execute(&q).await?;
    match a.opportunity_id {
        Some(deal) => activity_rollup::logged(c, a.workspace_id, &a.id.to_string(), &deal.to_string(), a.occurred_at).await,
        None => Ok(()),
    }
}

fn select() -> SelectStatement {
    let mut q = Query::select();
    q.from_as(Alias::new("activity"), Alias::new("t"));
    for f in FIELDS {
        q.column((Alias::new("t"), Alias::new(f)));
    }
    q
}

pub async fn find_activity(c: &mut Conn<'_>, ws: WorkspaceId, id: ActivityId) -> StoreResult<Option<Activity>> {
    let mut q = select();
    q.and_where(col("t", "workspace_id").eq(ws.to_string())).and_where(col("t", "activity_id").eq(id.to_string()));
    c.fetch_optional::<ActivityRow>(&q).await?.map(Activity::try_from).transpose()
}

/// Which activities a list shows. A record's timeline is everyone's activities on it (the
/// caller was checked to see the record); without a record, the caller's scope applies to
/// who logged them.
#[derive(Debug, Default, Clone)]
pub struct ActivityFilter {
    pub opportunity_id: Option<OpportunityId>,
    pub account_id: Option<AccountId>,
    pub lead_id: Option<LeadId>,
    pub owner_id: Option<UserId>,
    pub scope: Option<DataScope>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Newest first.
pub async fn list_activities(c: &mut Conn<'_>, ws: WorkspaceId, f: &ActivityFilter, page: PageRequest) -> StoreResult<Page<Activity>> {
    let mut q = select();
    q.and_where(col("t", "workspace_id").eq(ws.to_string()));
    if let Some(o) = f.opportunity_id {
        q.and_where(col("t", "opportunity_id").eq(o.to_string()));
    }
    if let Some(a) = f.account_id {
        q.and_where(col("t", "account_id").eq(a.to_string()));
    }
    if let Some(l) = f.lead_id {
        q.and_where(col("t", "lead_id").eq(l.to_string()));
    }
    if let Some(u) = f.owner_id {
        q.and_where(col("t", "owner_id").eq(u.to_string()));
    }
    if let Some(cond) = f.scope.as_ref().and_then(|s| owned_by("t", "owner_id", "org_unit_id", s)) {
        q.and_where(cond);
    }
    if let Some(from) = f.from {
        q.and_where(col("t", "occurred_at").gte(from));
    }
    if let Some(to) = f.to {
        q.and_where(col("t", "occurred_at").lt(to));
    }
    let mut count = q.clone();
    count.clear_selects().expr(Func::count(Expr::col(Alias::new("activity_id"))));
    let total = c.fetch_count(&count).await?;
    q.order_by((Alias::new("t"), Alias::new("occurred_at")), Order::Desc).order_by((Alias::new("t"), Alias::new("activity_id")), Order::Desc);
    apply_page(&mut q, page);
    let rows: Vec<ActivityRow> = c.fetch_all(&q).await?;
    let items = rows.into_iter().map(Activity::try_from).collect::<StoreResult<Vec<_>>>()?;
    Ok(Page::new(items, total, page))
}
