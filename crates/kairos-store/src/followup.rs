//! What the follow-up scanners read in bulk (open deals, touches, next steps, dwell history)
//! and the risk they write back, read by the risk list and the kanban.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use kairos_domain::followup::{DwellHistory, FollowUpSettings};
use kairos_domain::identity::DataScope;
use kairos_domain::ids::{OpportunityId, OrgUnitId, StageId, UserId, WorkspaceId};
use sea_query::{Alias, Expr, Order, Query};
use serde::Serialize;

use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::opportunity::scoped_select;
use crate::page::{Page, PageRequest, apply_page};
use crate::row::{parse_id, parse_opt_id};
use crate::scope::{col, is_literally};

pub async fn get_settings(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<FollowUpSettings> {
    let (text,): (String,) = c.fetch_one(&sql("SELECT followup_settings FROM workspace WHERE workspace_id = $1").bind(ws.to_string())).await?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("follow-up settings: {e}")))
}

pub async fn set_settings(c: &mut Conn<'_>, ws: WorkspaceId, s: &FollowUpSettings) -> StoreResult<()> {
    let text = serde_json::to_string(s).map_err(|e| StoreError::Corrupt(format!("follow-up settings: {e}")))?;
    c.execute(&sql("UPDATE workspace SET followup_settings = $1 WHERE workspace_id = $2").bind(text).bind(ws.to_string())).await?;
    Ok(())
}

/// An open deal as the scanners see it, with its last touch and what the last scan found.
#[derive(Debug, Clone)]
pub struct OpenDeal {
    pub id: OpportunityId,
    pub number: String,
    pub name: String,
    pub owner_id: UserId,
    pub org_unit_id: Option<OrgUnitId>,
    pub stage_id: StageId,
    pub stage_entered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expected_close_date: Option<NaiveDate>,
    /// The last activity on the deal up to now, however old.
    pub last_touch: Option<DateTime<Utc>>,
    /// What the last scan stored, if it found the deal at risk.
    pub risk: Option<StoredRisk>,
}

/// A stored risk row as the next scan needs it: the finding to compare with
/// ([`RiskRow::finding`]; empty for rows written before findings were kept) and the keys of
/// the events already made for the deal.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRisk {
    pub finding: String,
    pub event_keys: Option<String>,
}

#[derive(sqlx::FromRow)]
struct OpenDealRow {
    opportunity_id: String,
    number: String,
    name: String,
    owner_id: String,
    org_unit_id: Option<String>,
    stage_id: String,
    stage_entered_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    expected_close_date: Option<NaiveDate>,
    last_touch: Option<DateTime<Utc>>,
    r_finding: Option<String>,
    r_event_keys: Option<String>,
}

/// The open deals of a workspace (or just one of them), each with its last touch up to `now`
/// and its stored risk: one read, since on SQLite each row returned costs about as much as
/// the work the scan then does with it.
pub async fn open_deals(c: &mut Conn<'_>, ws: WorkspaceId, now: DateTime<Utc>, only: Option<OpportunityId>) -> StoreResult<Vec<OpenDeal>> {
    // The last touch is one index seek per deal (activity_opportunity ends in occurred_at),
    // rather than grouping every activity the workspace ever logged.
    let mut text = "SELECT o.opportunity_id, o.number, o.name, o.owner_id, o.org_unit_id, o.stage_id, o.stage_entered_at, \
                    o.updated_at, o.expected_close_date, \
                    (SELECT MAX(a.occurred_at) FROM activity a WHERE a.workspace_id = o.workspace_id \
                     AND a.opportunity_id = o.opportunity_id AND a.occurred_at <= $2) AS last_touch, \
                    CASE WHEN r.opportunity_id IS NULL THEN NULL ELSE COALESCE(r.finding, '') END AS r_finding, r.event_keys AS r_event_keys \
                    FROM opportunity o LEFT JOIN opportunity_risk r ON r.workspace_id = o.workspace_id AND r.opportunity_id = o.opportunity_id \
                    WHERE o.workspace_id = $1 AND o.status = 'open'"
        .to_string();
    if only.is_some() {
        text.push_str(" AND o.opportunity_id = $3");
    }
    let mut q = sql(text).bind(ws.to_string()).bind(now);
    if let Some(o) = only {
        q = q.bind(o.to_string());
    }
    let rows: Vec<OpenDealRow> = c.fetch_all(&q).await?;
    rows.into_iter()
        .map(|r| {
            let risk = r.r_finding.map(|finding| StoredRisk { finding, event_keys: r.r_event_keys });
            Ok(OpenDeal {
                id: parse_id(&r.opportunity_id, OpportunityId::parse)?,
                number: r.number,
                name: r.name,
                owner_id: parse_id(&r.owner_id, UserId::parse)?,
                org_unit_id: parse_opt_id(r.org_unit_id.as_deref(), OrgUnitId::parse)?,
                stage_id: parse_id(&r.stage_id, StageId::parse)?,
                stage_entered_at: r.stage_entered_at,
                updated_at: r.updated_at,
                expected_close_date: r.expected_close_date,
                last_touch: r.last_touch,
                risk,
            })
        })
        .collect()
}

/// The activities on deals in `[since, now)`, per deal, unordered: the touches the widest
/// cadence window needs (each deal's last touch comes with [`open_deals`]).
pub async fn recent_touches(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    only: Option<OpportunityId>,
) -> StoreResult<HashMap<String, Vec<DateTime<Utc>>>> {
    let filter = if only.is_some() { " AND opportunity_id = $4" } else { "" };
    let mut q = sql(format!(
        "SELECT opportunity_id, occurred_at FROM activity WHERE workspace_id = $1 AND opportunity_id IS NOT NULL \
         AND occurred_at >= $2 AND occurred_at < $3{filter}"
    ))
    .bind(ws.to_string())
    .bind(since)
    .bind(now);
    if let Some(o) = only {
        q = q.bind(o.to_string());
    }
    let recent: Vec<(String, DateTime<Utc>)> = c.fetch_all(&q).await?;
    let mut out: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for (opp, at) in recent {
        out.entry(opp).or_default().push(at);
    }
    Ok(out)
}

/// Each deal's earliest next step still ahead: an open task on it or a planned activity.
pub async fn next_steps(c: &mut Conn<'_>, ws: WorkspaceId, now: DateTime<Utc>, only: Option<OpportunityId>) -> StoreResult<HashMap<String, DateTime<Utc>>> {
    let one = |column: &str| if only.is_some() { format!(" AND {column} = $3") } else { String::new() };
    let bind = |q: crate::Sql| match only {
        Some(o) => q.bind(o.to_string()),
        None => q,
    };
    // Only what a person committed to (a task they set, a next step of an activity) is a
    // sign of life; the reminders the rules make (cadence, close date, escalation) are not,
    // or a close-date reminder would hide a deal going stale.
    let tasks: Vec<(String, DateTime<Utc>)> = c
        .fetch_all(&bind(
            sql(format!(
                "SELECT entity_id, MIN(due_at) FROM task WHERE workspace_id = $1 AND entity = 'opportunity' AND status = 'open' \
                 AND origin IN ('manual', 'activity') AND due_at > $2{} GROUP BY entity_id",
                one("entity_id")
            ))
            .bind(ws.to_string())
            .bind(now),
        ))
        .await?;
    let planned: Vec<(String, DateTime<Utc>)> = c
        .fetch_all(&bind(
            sql(format!(
                "SELECT opportunity_id, MIN(occurred_at) FROM activity WHERE workspace_id = $1 AND opportunity_id IS NOT NULL \
                 AND occurred_at > $2{} GROUP BY opportunity_id",
                one("opportunity_id")
            ))
            .bind(ws.to_string())
            .bind(now),
        ))
        .await?;
    let mut out: HashMap<String, DateTime<Utc>> = HashMap::new();
    for (opp, at) in tasks.into_iter().chain(planned) {
        out.entry(opp).and_modify(|t| *t = (*t).min(at)).or_insert(at);
    }
    Ok(out)
}

/// Each stage's past passages (moves and closes out of it since `since`): how many, and the
/// 90th percentile of their days, picked by the database so that one row per stage is read
/// instead of a year of history.
pub async fn dwell_history(c: &mut Conn<'_>, ws: WorkspaceId, since: DateTime<Utc>, stage: Option<StageId>) -> StoreResult<HashMap<String, DwellHistory>> {
    // Two steps, both on opportunity_history_stage_dwell: count each stage's passages, then
    // read the one at the nearest rank ⌈0.9·n⌉ (followup::p90_rank) by walking that stage's
    // index entries in days_in_stage order. A window function over the same rows sorts a
    // year of passages on every scan instead.
    const PASSAGES: &str = "FROM opportunity_history WHERE workspace_id = $1 AND from_stage_id IS NOT NULL AND days_in_stage IS NOT NULL \
                            AND at >= $2 AND kind IN ('moved', 'closed')";
    let mut count = sql(format!(
        "SELECT from_stage_id, COUNT(*) {PASSAGES}{} GROUP BY from_stage_id",
        if stage.is_some() { " AND from_stage_id = $3" } else { "" }
    ))
    .bind(ws.to_string())
    .bind(since);
    if let Some(s) = stage {
        count = count.bind(s.to_string());
    }
    let counts: Vec<(String, i64)> = c.fetch_all(&count).await?;
    let mut out = HashMap::with_capacity(counts.len());
    for (stage, n) in counts {
        let samples = usize::try_from(n).unwrap_or(0);
        let Some(rank) = kairos_domain::followup::p90_rank(samples) else { continue };
        let at_rank = sql(format!("SELECT days_in_stage {PASSAGES} AND from_stage_id = $3 ORDER BY days_in_stage LIMIT 1 OFFSET $4"))
            .bind(ws.to_string())
            .bind(since)
            .bind(stage.clone())
            .bind(i64::try_from(rank - 1).unwrap_or(i64::MAX));
        let p90: Option<(f64,)> = c.fetch_optional(&at_rank).await?;
        if let Some((p90_days,)) = p90 {
            out.insert(stage, DwellHistory { samples, p90_days });
        }
    }
    Ok(out)
}

/// Every user's org unit, for finding managers.
pub async fn user_units(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Vec<(UserId, Option<OrgUnitId>)>> {
    let rows: Vec<(String, Option<String>)> =
        c.fetch_all(&sql("SELECT user_id, org_unit_id FROM app_user WHERE workspace_id = $1").bind(ws.to_string())).await?;
    rows.into_iter().map(|(u, unit)| Ok((parse_id(&u, UserId::parse)?, parse_opt_id(unit.as_deref(), OrgUnitId::parse)?))).collect()
}

/// What the last scan found about one deal at risk.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RiskRow {
    #[serde(skip)]
    pub workspace_id: String,
    pub opportunity_id: String,
    /// fresh, flagged (3 working days idle) or alert (7: the manager was told).
    pub stale_level: String,
    pub idle_days: f64,
    pub days_in_stage: f64,
    pub dwell_limit_days: Option<f64>,
    /// expected (the stage's expected dwell × factor) or historical_p90.
    pub dwell_basis: Option<String>,
    /// In its stage past the limit: high risk.
    pub dwell_over: bool,
    pub cadence_short: bool,
    pub close_overdue: bool,
    /// review_with_manager, schedule_next_step or touch_now.
    pub recommended_action: Option<String>,
    /// When a scan last found the deal's risk different from before (a re-scan that finds
    /// the same leaves the row alone).
    pub scanned_at: DateTime<Utc>,
    /// The keys of the tasks and notices the scan made for the deal, space-separated: the
    /// next scan offers only the events not among them.
    #[serde(skip)]
    pub event_keys: Option<String>,
}

impl RiskRow {
    /// Everything the scan found about the deal but when, in one text: two scans that find
    /// the same give the same text, so a re-scan rewrites only the rows whose text changed.
    pub fn finding(&self) -> String {
        format!(
            "{}|{:?}|{:?}|{:?}|{:?}|{}|{}|{}|{:?}|{:?}",
            self.stale_level,
            self.idle_days,
            self.days_in_stage,
            self.dwell_limit_days,
            self.dwell_basis,
            self.dwell_over,
            self.cadence_short,
            self.close_overdue,
            self.recommended_action,
            self.event_keys
        )
    }
}

const RISK_FIELDS: [&str; 14] = [
    "workspace_id", "opportunity_id", "stale_level", "idle_days", "days_in_stage", "dwell_limit_days", "dwell_basis", "dwell_over",
    "cadence_short", "close_overdue", "recommended_action", "scanned_at", "event_keys", "finding",
];

/// Makes the stored risk of the deals scanned what `rows` say, writing only what changed:
/// `stored` is each deal's stored finding (read with it in [`open_deals`]), so a steady
/// re-scan of 100,000 deals at risk writes a few rows instead of all of them. A full scan
/// (`only` none) also drops the rows of deals that are no longer open.
pub async fn replace_risks(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    only: Option<OpportunityId>,
    mut stored: HashMap<String, String>,
    rows: &[RiskRow],
) -> StoreResult<()> {
    if only.is_none() {
        // NOT EXISTS, not NOT IN: once the open deals' ids outgrow PostgreSQL's work_mem,
        // NOT IN (subquery) rescans them for every risk row. At 1,000,500 deals the scan's
        // DELETE was still running after 33 minutes; as an anti-join it takes 0.57 s.
        c.execute(
            &sql("DELETE FROM opportunity_risk WHERE workspace_id = $1 AND NOT EXISTS \
                  (SELECT 1 FROM opportunity o WHERE o.workspace_id = opportunity_risk.workspace_id \
                  AND o.opportunity_id = opportunity_risk.opportunity_id AND o.status = 'open')")
            .bind(ws.to_string()),
        )
        .await?;
    }
    let mut changed: Vec<&RiskRow> = Vec::new();
    for r in rows {
        match stored.remove(&r.opportunity_id) {
            Some(old) if old == r.finding() => {}
            _ => changed.push(r),
        }
    }
    // What is left of `stored` is no longer at risk; changed rows are replaced.
    let gone: Vec<&String> = stored.keys().chain(changed.iter().map(|r| &r.opportunity_id)).collect();
    for chunk in gone.chunks(500) {
        let mut q = Query::delete();
        q.from_table(Alias::new("opportunity_risk"))
            .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
            .and_where(Expr::col(Alias::new("opportunity_id")).is_in(chunk.iter().map(|s| s.to_string())));
        c.execute(&q).await?;
    }
    for chunk in changed.chunks(500) {
        let mut q = Query::insert();
        q.into_table(Alias::new("opportunity_risk")).columns(RISK_FIELDS.iter().map(|f| Alias::new(*f)));
        for r in chunk {
            q.values_panic([
                r.workspace_id.clone().into(),
                r.opportunity_id.clone().into(),
                r.stale_level.clone().into(),
                r.idle_days.into(),
                r.days_in_stage.into(),
                r.dwell_limit_days.into(),
                r.dwell_basis.clone().into(),
                r.dwell_over.into(),
                r.cadence_short.into(),
                r.close_overdue.into(),
                r.recommended_action.clone().into(),
                r.scanned_at.into(),
                r.event_keys.clone().into(),
                r.finding().into(),
            ]);
        }
        c.execute(&q).await?;
    }
    Ok(())
}

/// A deal in the risk list: what it is and what the scan found.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RiskListRow {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub risk: RiskRow,
    pub number: String,
    pub name: String,
    pub owner_id: String,
    pub stage_id: String,
    pub amount: i64,
    pub currency: String,
    pub expected_close_date: Option<NaiveDate>,
}

/// The deals at risk the caller sees, highest risk first (dwell over, then alert, then the
/// longest idle).
pub async fn list_risks(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, owner: Option<UserId>, page: PageRequest) -> StoreResult<Page<RiskListRow>> {
    let mut q = scoped_select(ws, scope);
    q.join_as(
        sea_query::JoinType::InnerJoin,
        Alias::new("opportunity_risk"),
        Alias::new("r"),
        Expr::col((Alias::new("r"), Alias::new("workspace_id")))
            .equals((Alias::new("o"), Alias::new("workspace_id")))
            .and(Expr::col((Alias::new("r"), Alias::new("opportunity_id"))).equals((Alias::new("o"), Alias::new("opportunity_id")))),
    );
    q.and_where(is_literally("o", "status", "open"));
    if let Some(u) = owner {
        q.and_where(col("o", "owner_id").eq(u.to_string()));
    }
    let mut count = q.clone();
    count.expr(Expr::cust("COUNT(*)"));
    let total = c.fetch_count(&count).await?;
    for f in &RISK_FIELDS {
        q.column((Alias::new("r"), Alias::new(*f)));
    }
    for f in ["number", "name", "owner_id", "stage_id", "amount", "currency", "expected_close_date"] {
        q.column((Alias::new("o"), Alias::new(f)));
    }
    q.order_by((Alias::new("r"), Alias::new("dwell_over")), Order::Desc)
        .order_by_expr(Expr::cust("CASE r.stale_level WHEN 'alert' THEN 2 WHEN 'flagged' THEN 1 ELSE 0 END"), Order::Desc)
        .order_by((Alias::new("r"), Alias::new("idle_days")), Order::Desc)
        .order_by((Alias::new("o"), Alias::new("opportunity_id")), Order::Asc);
    apply_page(&mut q, page);
    let rows: Vec<RiskListRow> = c.fetch_all(&q).await?;
    Ok(Page::new(rows, total, page))
}

/// The stored risk of some deals (a kanban page), by deal id.
pub async fn risks_of(c: &mut Conn<'_>, ws: WorkspaceId, ids: &[String]) -> StoreResult<HashMap<String, RiskRow>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q = Query::select();
    q.from(Alias::new("opportunity_risk"))
        .columns(RISK_FIELDS.iter().map(|f| Alias::new(*f)))
        .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
        .and_where(Expr::col(Alias::new("opportunity_id")).is_in(ids.iter().cloned()));
    let rows: Vec<RiskRow> = c.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|r| (r.opportunity_id.clone(), r)).collect())
}
