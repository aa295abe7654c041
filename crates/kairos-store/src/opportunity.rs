//! Opportunities, their teams, linked contacts, checklist ticks, documents and history.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use kairos_domain::contact::DecisionRole;
use kairos_domain::health::Health;
use kairos_domain::identity::DataScope;
use kairos_domain::ids::{
    AccountId, CloseReasonId, ContactId, HistoryId, OpportunityId, OrgUnitId, ProcessId, StageId, UserId, WorkspaceId,
};
use kairos_domain::opportunity::{OppContact, OppStatus, Opportunity};
use kairos_domain::process::ForecastCategory;
use kairos_domain::replay::{DealState, Event, state_after};
use sea_query::{Alias, Cond, Expr, Func, JoinType, LikeExpr, Query, SelectStatement};
use serde::Serialize;

use crate::db::{Conn, sql};
use crate::closed_deal_sums::{self, CLOSED_COLUMNS, Closed};
use crate::deal_period_changes::{self, DealEvent, DealSide};
use crate::{activity_rollup, pipeline_rollup};
use crate::error::{StoreError, StoreResult};
use crate::page::{Page, PageRequest, Sort, apply_page};
use crate::row::{like_escape, parse_id, parse_opt_id, parse_stored, parse_tags, tags_json};
use crate::scope::{OPPORTUNITY, col};

#[derive(sqlx::FromRow)]
struct OppRow {
    workspace_id: String,
    opportunity_id: String,
    number: String,
    name: String,
    account_id: String,
    primary_contact_id: Option<String>,
    owner_id: String,
    org_unit_id: Option<String>,
    process_id: String,
    stage_id: String,
    status: String,
    amount: i64,
    currency: String,
    expected_close_date: Option<NaiveDate>,
    probability: i64,
    probability_reason: Option<String>,
    forecast_category: String,
    source: Option<String>,
    business_type: Option<String>,
    product_category: Option<String>,
    competitors: String,
    tags: String,
    priority: bool,
    need_items: String,
    budget_approved: bool,
    in_annual_plan: bool,
    health_score: i64,
    health_need: f64,
    health_chain: f64,
    health_budget: f64,
    contract_number: Option<String>,
    contract_signed_on: Option<NaiveDate>,
    stage_entered_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    close_reason_id: Option<String>,
    close_competitor: Option<String>,
    close_note: Option<String>,
    review_due_on: Option<NaiveDate>,
    imported: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

impl TryFrom<OppRow> for Opportunity {
    type Error = StoreError;
    fn try_from(r: OppRow) -> StoreResult<Opportunity> {
        let need: Vec<u8> = serde_json::from_str(&r.need_items).map_err(|e| StoreError::Corrupt(format!("need items: {e}")))?;
        let mut need_items = [0u8; 10];
        for (slot, v) in need_items.iter_mut().zip(need) {
            *slot = v.min(10);
        }
        Ok(Opportunity {
            id: parse_id(&r.opportunity_id, OpportunityId::parse)?,
            workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            number: r.number,
            name: r.name,
            account_id: parse_id(&r.account_id, AccountId::parse)?,
            primary_contact_id: parse_opt_id(r.primary_contact_id.as_deref(), ContactId::parse)?,
            owner_id: parse_id(&r.owner_id, UserId::parse)?,
            org_unit_id: parse_opt_id(r.org_unit_id.as_deref(), OrgUnitId::parse)?,
            process_id: parse_id(&r.process_id, ProcessId::parse)?,
            stage_id: parse_id(&r.stage_id, StageId::parse)?,
            status: parse_stored(&r.status, "status", OppStatus::from_stored)?,
            amount: r.amount,
            currency: r.currency,
            expected_close_date: r.expected_close_date,
            probability: r.probability.clamp(0, 100) as u8,
            probability_reason: r.probability_reason,
            forecast_category: parse_stored(&r.forecast_category, "forecast category", ForecastCategory::from_stored)?,
            source: r.source,
            business_type: r.business_type,
            product_category: r.product_category,
            competitors: parse_tags(&r.competitors)?,
            tags: parse_tags(&r.tags)?,
            priority: r.priority,
            need_items,
            budget_approved: r.budget_approved,
            in_annual_plan: r.in_annual_plan,
            health: Health {
                score: r.health_score.clamp(0, 100) as u8,
                need_match: r.health_need,
                decision_chain: r.health_chain,
                budget: r.health_budget,
            },
            contract_number: r.contract_number,
            contract_signed_on: r.contract_signed_on,
            stage_entered_at: r.stage_entered_at,
            closed_at: r.closed_at,
            close_reason_id: parse_opt_id(r.close_reason_id.as_deref(), CloseReasonId::parse)?,
            close_competitor: r.close_competitor,
            close_note: r.close_note,
            review_due_on: r.review_due_on,
            imported: r.imported,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

const FIELDS: [&str; 42] = [
    "workspace_id", "opportunity_id", "number", "name", "account_id", "primary_contact_id", "owner_id", "org_unit_id",
    "process_id", "stage_id", "status", "amount", "currency", "expected_close_date", "probability", "probability_reason",
    "forecast_category", "source", "business_type", "product_category", "competitors", "tags", "priority", "need_items",
    "budget_approved", "in_annual_plan", "health_score", "health_need", "health_chain", "health_budget", "contract_number",
    "contract_signed_on", "stage_entered_at", "closed_at", "close_reason_id", "close_competitor", "close_note",
    "review_due_on", "imported", "created_at", "updated_at", "version",
];

fn columns(alias: &str) -> String {
    FIELDS.iter().map(|f| format!("{alias}.{f}")).collect::<Vec<_>>().join(", ")
}

fn values(o: &Opportunity) -> Vec<sea_query::Value> {
    vec![
        o.workspace_id.to_string().into(),
        o.id.to_string().into(),
        o.number.clone().into(),
        o.name.clone().into(),
        o.account_id.to_string().into(),
        o.primary_contact_id.map(|c| c.to_string()).into(),
        o.owner_id.to_string().into(),
        o.org_unit_id.map(|u| u.to_string()).into(),
        o.process_id.to_string().into(),
        o.stage_id.to_string().into(),
        o.status.as_str().into(),
        o.amount.into(),
        o.currency.clone().into(),
        o.expected_close_date.into(),
        (o.probability as i64).into(),
        o.probability_reason.clone().into(),
        o.forecast_category.as_str().into(),
        o.source.clone().into(),
        o.business_type.clone().into(),
        o.product_category.clone().into(),
        tags_json(&o.competitors).into(),
        tags_json(&o.tags).into(),
        o.priority.into(),
        serde_json::to_string(&o.need_items.to_vec()).unwrap_or_else(|_| "[]".into()).into(),
        o.budget_approved.into(),
        o.in_annual_plan.into(),
        (o.health.score as i64).into(),
        o.health.need_match.into(),
        o.health.decision_chain.into(),
        o.health.budget.into(),
        o.contract_number.clone().into(),
        o.contract_signed_on.into(),
        o.stage_entered_at.into(),
        o.closed_at.into(),
        o.close_reason_id.map(|r| r.to_string()).into(),
        o.close_competitor.clone().into(),
        o.close_note.clone().into(),
        o.review_due_on.into(),
        o.imported.into(),
        o.created_at.into(),
        o.updated_at.into(),
        o.version.into(),
    ]
}

pub async fn insert_opportunity(c: &mut Conn<'_>, o: &Opportunity, created_by: UserId) -> StoreResult<()> {
    let mut q = Query::insert();
    q.into_table(Alias::new("opportunity"))
        .columns(FIELDS.iter().map(|f| Alias::new(*f)).chain([Alias::new("created_by")]))
        .values_panic(values(o).into_iter().map(Into::into).chain([created_by.to_string().into()]));
    c.execute(&q).await?;
    let closed = Closed::of(o);
    closed_deal_sums::record(c, o.workspace_id, &format!("{}:{}", o.id, o.version), None, closed.as_ref()).await
}

/// A deal's columns as stored that an update may replace and something else follows: its
/// owner (the activity rollup) and, once closed, what it adds to the closed deal sums.
#[derive(sqlx::FromRow)]
struct StoredClose {
    closed_at: Option<DateTime<Utc>>,
    status: String,
    owner_id: String,
    org_unit_id: Option<String>,
    process_id: String,
    product_category: Option<String>,
    source: Option<String>,
    close_reason_id: Option<String>,
    stage_id: String,
    competitors: String,
    close_competitor: Option<String>,
    currency: String,
    amount: i64,
}

impl StoredClose {
    fn closed(self) -> Option<Closed> {
        let StoredClose { closed_at, status, owner_id, org_unit_id, process_id, product_category, source, close_reason_id, stage_id, competitors, close_competitor, currency, amount } = self;
        Some(Closed { closed_at: closed_at?, status, owner_id, org_unit_id, process_id, product_category, source, close_reason_id, stage_id, competitors, close_competitor, currency, amount })
    }
}

/// Writes the new state if the stored version is still `expected_version`. A new owner takes
/// the deal's activities with it in the leaderboard's rollup (`activity_rollup`); a close, a
/// reopen or any change to a closed deal's summed columns writes its difference to the
/// closed deal sums (`closed_deal_sums`).
pub async fn update_opportunity(c: &mut Conn<'_>, o: &Opportunity, expected_version: i64) -> StoreResult<()> {
    let replaced = sql(format!("SELECT {CLOSED_COLUMNS} FROM opportunity o WHERE o.workspace_id = $1 AND o.opportunity_id = $2"))
        .bind(o.workspace_id.to_string())
        .bind(o.id.to_string());
    let (was_owner, was_closed) = match c.fetch_optional::<StoredClose>(&replaced).await? {
        Some(r) => (Some(r.owner_id.clone()), r.closed()),
        None => (None, None),
    };
    let mut q = Query::update();
    q.table(Alias::new("opportunity"));
    for (field, value) in FIELDS.iter().zip(values(o)).skip(2) {
        q.value(Alias::new(*field), value);
    }
    q.and_where(Expr::col(Alias::new("workspace_id")).eq(o.workspace_id.to_string()))
        .and_where(Expr::col(Alias::new("opportunity_id")).eq(o.id.to_string()))
        .and_where(Expr::col(Alias::new("version")).eq(expected_version));
    if c.execute(&q).await? == 0 {
        return Err(StoreError::StaleVersion);
    }
    // The version matched, so the state read above is the one this update replaced.
    let closed = Closed::of(o);
    closed_deal_sums::record(c, o.workspace_id, &format!("{}:{}", o.id, o.version), was_closed.as_ref(), closed.as_ref()).await?;
    match was_owner {
        Some(was) if was != o.owner_id.to_string() => activity_rollup::handed_over(c, o.workspace_id, &o.id.to_string(), &was, &o.owner_id.to_string(), o.version).await,
        _ => Ok(()),
    }
}

pub fn scoped_select(ws: WorkspaceId, scope: &DataScope) -> SelectStatement {
    let mut q = Query::select();
    q.from_as(Alias::new("opportunity"), Alias::new("o")).and_where(col("o", "workspace_id").eq(ws.to_string()));
    if let Some(cond) = OPPORTUNITY.condition(ws, scope) {
        q.and_where(cond);
    }
    q
}

/// Number and name of each of these deals (for lists that show them beside other records).
pub async fn names_of(c: &mut Conn<'_>, ws: WorkspaceId, ids: &[OpportunityId]) -> StoreResult<std::collections::HashMap<OpportunityId, (String, String)>> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let mut q = Query::select();
        q.columns(["opportunity_id", "number", "name"].map(Alias::new))
            .from(Alias::new("opportunity"))
            .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
            .and_where(Expr::col(Alias::new("opportunity_id")).is_in(chunk.iter().map(|i| i.to_string())));
        let rows: Vec<(String, String, String)> = c.fetch_all(&q).await?;
        for (id, number, name) in rows {
            out.insert(parse_id(&id, OpportunityId::parse)?, (number, name));
        }
    }
    Ok(out)
}

pub async fn find_opportunity(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, id: OpportunityId) -> StoreResult<Option<Opportunity>> {
    let mut q = scoped_select(ws, scope);
    q.expr(Expr::cust(columns("o"))).and_where(col("o", "opportunity_id").eq(id.to_string()));
    let row: Option<OppRow> = c.fetch_optional(&q).await?;
    row.map(Opportunity::try_from).transpose()
}

#[derive(Debug, Default, Clone)]
pub struct OppFilter {
    pub q: Option<String>,
    pub stage: Option<StageId>,
    pub status: Option<OppStatus>,
    pub owner: Option<UserId>,
    pub org_units: Option<Vec<OrgUnitId>>,
    pub process: Option<ProcessId>,
    pub account: Option<AccountId>,
    pub close_from: Option<NaiveDate>,
    pub close_to: Option<NaiveDate>,
    pub amount_min: Option<i64>,
    pub amount_max: Option<i64>,
    pub health_min: Option<i64>,
    pub health_max: Option<i64>,
    pub tag: Option<String>,
    pub priority: Option<bool>,
    /// Only these deals (an inbox's worth, read at once).
    pub ids: Option<Vec<OpportunityId>>,
}

/// The filter as conditions on alias `o` (the kanban reuses it).
pub fn apply_filter(q: &mut SelectStatement, f: &OppFilter) {
    if let Some(ids) = &f.ids {
        q.and_where(col("o", "opportunity_id").is_in(ids.iter().map(|i| i.to_string())));
    }
    if let Some(text) = f.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let pattern = |t: &str| LikeExpr::new(format!("%{}%", like_escape(t))).escape('\\');
        let lower = text.to_lowercase();
        let accounts = Query::select()
            .expr(Expr::val(1))
            .from_as(Alias::new("account"), Alias::new("sa"))
            .and_where(col("sa", "workspace_id").equals((Alias::new("o"), Alias::new("workspace_id"))))
            .and_where(col("sa", "account_id").equals((Alias::new("o"), Alias::new("account_id"))))
            .cond_where(
                Cond::any()
                    .add(Expr::expr(Func::lower(col("sa", "name"))).like(pattern(&lower)))
                    .add(col("sa", "name_key").like(pattern(&kairos_domain::text::company_key(text)))),
            )
            .to_owned();
        q.cond_where(
            Cond::any()
                .add(Expr::expr(Func::lower(col("o", "name"))).like(pattern(&lower)))
                .add(Expr::expr(Func::lower(col("o", "number"))).like(pattern(&lower)))
                .add(Expr::exists(accounts)),
        );
    }
    if let Some(s) = f.stage {
        q.and_where(col("o", "stage_id").eq(s.to_string()));
    }
    if let Some(s) = f.status {
        q.and_where(col("o", "status").eq(s.as_str()));
    }
    if let Some(o) = f.owner {
        q.and_where(col("o", "owner_id").eq(o.to_string()));
    }
    if let Some(units) = &f.org_units {
        q.and_where(col("o", "org_unit_id").is_in(units.iter().map(|u| u.to_string())));
    }
    if let Some(p) = f.process {
        q.and_where(col("o", "process_id").eq(p.to_string()));
    }
    if let Some(a) = f.account {
        q.and_where(col("o", "account_id").eq(a.to_string()));
    }
    if let Some(d) = f.close_from {
        q.and_where(col("o", "expected_close_date").gte(d));
    }
    if let Some(d) = f.close_to {
        q.and_where(col("o", "expected_close_date").lte(d));
    }
    if let Some(v) = f.amount_min {
        q.and_where(col("o", "amount").gte(v));
    }
    if let Some(v) = f.amount_max {
        q.and_where(col("o", "amount").lte(v));
    }
    if let Some(v) = f.health_min {
        q.and_where(col("o", "health_score").gte(v));
    }
    if let Some(v) = f.health_max {
        q.and_where(col("o", "health_score").lte(v));
    }
    if let Some(tag) = &f.tag {
        let quoted = serde_json::to_string(tag).unwrap_or_default();
        q.and_where(col("o", "tags").like(LikeExpr::new(format!("%{}%", like_escape(&quoted))).escape('\\')));
    }
    if let Some(p) = f.priority {
        q.and_where(col("o", "priority").eq(p));
    }
}

pub async fn list_opportunities(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    scope: &DataScope,
    f: &OppFilter,
    sort: Sort,
    page: PageRequest,
) -> StoreResult<Page<Opportunity>> {
    let mut q = scoped_select(ws, scope);
    apply_filter(&mut q, f);
    let mut count = q.clone();
    count.expr(Expr::cust("COUNT(*)"));
    let total = c.fetch_count(&count).await?;
    q.expr(Expr::cust(columns("o")));
    sort.apply(&mut q, "o", "opportunity_id");
    apply_page(&mut q, page);
    let rows: Vec<OppRow> = c.fetch_all(&q).await?;
    let items = rows.into_iter().map(Opportunity::try_from).collect::<StoreResult<Vec<_>>>()?;
    Ok(Page::new(items, total, page))
}

/// Takes the next number of a sequence scope, creating the scope at 1. Runs in the
/// creating transaction: the row lock (PostgreSQL) or the write lock (SQLite) orders
/// concurrent creates, so no number is handed out twice.
pub async fn next_sequence(c: &mut Conn<'_>, ws: WorkspaceId, scope_key: &str) -> StoreResult<u64> {
    let (n,): (i64,) = c
        .fetch_one(
            &sql("INSERT INTO number_sequence (workspace_id, scope_key, last_value) VALUES ($1, $2, 1) \
                  ON CONFLICT (workspace_id, scope_key) DO UPDATE SET last_value = number_sequence.last_value + 1 \
                  RETURNING last_value")
            .bind(ws.to_string())
            .bind(scope_key.to_string()),
        )
        .await?;
    Ok(n.max(0) as u64)
}

pub async fn list_members(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId) -> StoreResult<Vec<(UserId, String)>> {
    let rows: Vec<(String, String)> = c
        .fetch_all(
            &sql("SELECT user_id, role FROM opportunity_member WHERE workspace_id = $1 AND opportunity_id = $2 ORDER BY created_at, user_id")
                .bind(ws.to_string())
                .bind(opp.to_string()),
        )
        .await?;
    rows.into_iter().map(|(u, r)| Ok((parse_id(&u, UserId::parse)?, r))).collect()
}

pub async fn replace_members(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId, members: &[(UserId, String)], now: DateTime<Utc>) -> StoreResult<()> {
    c.execute(&sql("DELETE FROM opportunity_member WHERE workspace_id = $1 AND opportunity_id = $2").bind(ws.to_string()).bind(opp.to_string()))
        .await?;
    for (user, role) in members {
        c.execute(
            &sql("INSERT INTO opportunity_member (workspace_id, opportunity_id, user_id, role, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(ws.to_string())
                .bind(opp.to_string())
                .bind(user.to_string())
                .bind(role.clone())
                .bind(now),
        )
        .await?;
    }
    Ok(())
}

/// Marks linked contacts of a deal reached (an activity involved them); answers how many
/// were not reached before.
pub async fn mark_reached(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId, contacts: &[ContactId]) -> StoreResult<u64> {
    if contacts.is_empty() {
        return Ok(0);
    }
    let mut q = Query::update();
    q.table(Alias::new("opportunity_contact"))
        .value(Alias::new("reached"), true)
        .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
        .and_where(Expr::col(Alias::new("opportunity_id")).eq(opp.to_string()))
        .and_where(Expr::col(Alias::new("contact_id")).is_in(contacts.iter().map(|k| k.to_string())))
        .and_where(Expr::col(Alias::new("reached")).eq(false));
    c.execute(&q).await
}

pub async fn list_contacts(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId) -> StoreResult<Vec<OppContact>> {
    let rows: Vec<(String, String, bool)> = c
        .fetch_all(
            &sql("SELECT contact_id, role, reached FROM opportunity_contact WHERE workspace_id = $1 AND opportunity_id = $2 ORDER BY created_at, contact_id")
                .bind(ws.to_string())
                .bind(opp.to_string()),
        )
        .await?;
    rows.into_iter()
        .map(|(id, role, reached)| {
            Ok(OppContact {
                contact_id: parse_id(&id, ContactId::parse)?,
                role: parse_stored(&role, "decision role", DecisionRole::from_stored)?,
                reached,
            })
        })
        .collect()
}

pub async fn replace_contacts(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId, contacts: &[OppContact], now: DateTime<Utc>) -> StoreResult<()> {
    c.execute(&sql("DELETE FROM opportunity_contact WHERE workspace_id = $1 AND opportunity_id = $2").bind(ws.to_string()).bind(opp.to_string()))
        .await?;
    for k in contacts {
        c.execute(
            &sql("INSERT INTO opportunity_contact (workspace_id, opportunity_id, contact_id, role, reached, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(ws.to_string())
                .bind(opp.to_string())
                .bind(k.contact_id.to_string())
                .bind(k.role.as_str())
                .bind(k.reached)
                .bind(now),
        )
        .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChecklistTick {
    pub stage_id: String,
    pub item_key: String,
    pub ticked_by: String,
    pub ticked_at: DateTime<Utc>,
    pub note: Option<String>,
}

pub async fn list_ticks(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId) -> StoreResult<Vec<ChecklistTick>> {
    c.fetch_all(
        &sql("SELECT stage_id, item_key, ticked_by, ticked_at, note FROM checklist_tick WHERE workspace_id = $1 AND opportunity_id = $2 ORDER BY ticked_at")
            .bind(ws.to_string())
            .bind(opp.to_string()),
    )
    .await
}

pub async fn set_tick(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    opp: OpportunityId,
    stage: StageId,
    key: &str,
    tick: Option<(UserId, DateTime<Utc>, Option<String>)>,
) -> StoreResult<()> {
    c.execute(
        &sql("DELETE FROM checklist_tick WHERE workspace_id = $1 AND opportunity_id = $2 AND stage_id = $3 AND item_key = $4")
            .bind(ws.to_string())
            .bind(opp.to_string())
            .bind(stage.to_string())
            .bind(key.to_string()),
    )
    .await?;
    if let Some((by, at, note)) = tick {
        c.execute(
            &sql("INSERT INTO checklist_tick (workspace_id, opportunity_id, stage_id, item_key, ticked_by, ticked_at, note) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(ws.to_string())
                .bind(opp.to_string())
                .bind(stage.to_string())
                .bind(key.to_string())
                .bind(by.to_string())
                .bind(at)
                .bind(note),
        )
        .await?;
    }
    Ok(())
}

pub async fn ticked_set(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId) -> StoreResult<HashSet<(StageId, String)>> {
    list_ticks(c, ws, opp).await?.into_iter().map(|t| Ok((parse_id(&t.stage_id, StageId::parse)?, t.item_key))).collect()
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Document {
    #[sqlx(rename = "document_id")]
    pub id: String,
    pub doc_type: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    #[serde(skip)]
    pub storage_key: String,
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
}

pub async fn insert_document(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId, d: &Document) -> StoreResult<()> {
    c.execute(
        &sql("INSERT INTO opportunity_document (workspace_id, document_id, opportunity_id, doc_type, file_name, content_type, size_bytes, \
              storage_key, uploaded_by, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        .bind(ws.to_string())
        .bind(d.id.clone())
        .bind(opp.to_string())
        .bind(d.doc_type.clone())
        .bind(d.file_name.clone())
        .bind(d.content_type.clone())
        .bind(d.size_bytes)
        .bind(d.storage_key.clone())
        .bind(d.uploaded_by.clone())
        .bind(d.uploaded_at),
    )
    .await?;
    Ok(())
}

pub async fn list_documents(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId) -> StoreResult<Vec<Document>> {
    c.fetch_all(
        &sql("SELECT document_id, doc_type, file_name, content_type, size_bytes, storage_key, uploaded_by, uploaded_at \
              FROM opportunity_document WHERE workspace_id = $1 AND opportunity_id = $2 ORDER BY uploaded_at, document_id")
        .bind(ws.to_string())
        .bind(opp.to_string()),
    )
    .await
}

/// One row of the append-only history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HistoryEntry {
    #[sqlx(rename = "history_id")]
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor_id: Option<String>,
    /// created, moved, closed, reopened, field
    pub kind: String,
    pub from_stage_id: Option<String>,
    pub from_stage_name: Option<String>,
    pub to_stage_id: Option<String>,
    pub to_stage_name: Option<String>,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub probability: i64,
    pub days_in_stage: Option<f64>,
    pub working_days_in_stage: Option<f64>,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub reason: Option<String>,
    pub override_reason: Option<String>,
    pub imported: bool,
    /// The deal's expected close when the event happened, for a deal's first event: later
    /// events carry the close forward, or change it (`field` = expected_close_date).
    #[serde(skip)]
    #[sqlx(skip)]
    pub expected_close: Option<NaiveDate>,
}

impl HistoryEntry {
    /// An event of `kind` on a deal as it stands after the event; callers fill in the
    /// stages, statuses, durations and reasons that apply.
    pub fn of(id: uuid::Uuid, at: DateTime<Utc>, actor: Option<UserId>, kind: &str, o: &Opportunity) -> HistoryEntry {
        HistoryEntry {
            id: new_history_id(id),
            at,
            actor_id: actor.map(|a| a.to_string()),
            kind: kind.into(),
            from_stage_id: None,
            from_stage_name: None,
            to_stage_id: None,
            to_stage_name: None,
            from_status: None,
            to_status: None,
            amount: o.amount,
            currency: o.currency.clone(),
            probability: o.probability as i64,
            days_in_stage: None,
            working_days_in_stage: None,
            field: None,
            old_value: None,
            new_value: None,
            reason: None,
            override_reason: None,
            imported: false,
            expected_close: o.expected_close_date,
        }
    }

    /// The event as the replay reads it.
    fn event(&self) -> Event {
        Event {
            at: self.at,
            kind: self.kind.clone(),
            to_stage: self.to_stage_id.clone(),
            to_status: self.to_status.clone(),
            amount: self.amount,
            probability: self.probability.clamp(0, 100) as u8,
            field: self.field.clone(),
            old_value: self.old_value.clone(),
            new_value: self.new_value.clone(),
        }
    }
}

/// A deal's state after its latest event, as the history stores it.
#[derive(Debug, sqlx::FromRow)]
struct StoredState {
    stage_id: Option<String>,
    status: Option<String>,
    amount: i64,
    currency: String,
    probability: i64,
    close_date: Option<NaiveDate>,
}

async fn latest_state(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId) -> StoreResult<Option<(DealState, String)>> {
    let row: Option<StoredState> = c
        .fetch_optional(
            &sql("SELECT stage_id, status, amount, currency, probability, close_date FROM opportunity_history \
                  WHERE workspace_id = $1 AND opportunity_id = $2 ORDER BY at DESC, history_id DESC LIMIT 1")
            .bind(ws.to_string())
            .bind(opp.to_string()),
        )
        .await?;
    Ok(row.map(|r| {
        let state = DealState {
            status: r.status.unwrap_or_else(|| "open".into()),
            stage: r.stage_id.unwrap_or_default(),
            amount: r.amount,
            probability: r.probability.clamp(0, 100) as u8,
            expected_close: r.close_date,
        };
        (state, r.currency)
    }))
}

/// Appends events to a deal's history, each with the deal's state before and after it, so
/// that reports can sum the pipeline of any past instant without replaying every deal; and
/// merges them into the deal's months, quarters and years (`deal_period_changes`).
pub async fn insert_history(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId, rows: &[HistoryEntry]) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // A deal's first event has nothing before it; any other continues from the latest.
    let mut before = if rows[0].kind == "created" { None } else { latest_state(c, ws, opp).await? };
    let mut q = Query::insert();
    q.into_table(Alias::new("opportunity_history")).columns(
        [
            "workspace_id", "history_id", "opportunity_id", "at", "actor_id", "kind", "from_stage_id", "from_stage_name", "to_stage_id",
            "to_stage_name", "from_status", "to_status", "amount", "currency", "probability", "days_in_stage", "working_days_in_stage",
            "field", "old_value", "new_value", "reason", "override_reason", "imported", "stage_id", "status", "close_date", "was_stage_id",
            "was_status", "was_amount", "was_currency", "was_probability", "was_close_date",
        ]
        .map(Alias::new),
    );
    let mut rolled_up = Vec::new();
    let mut period_events = Vec::with_capacity(rows.len());
    for h in rows {
        let after = state_after(before.as_ref().map(|(s, _)| s), &h.event(), h.expected_close);
        let was = before.as_ref();
        // The rollup's sides are the columns written below: the event's amount, currency and
        // probability after it, the `was_` ones before it.
        rolled_up.extend(pipeline_rollup::rows_of_event(
            ws,
            &h.id,
            h.at,
            was.map(|(s, currency)| pipeline_rollup::Side { state: s, currency, amount: s.amount, probability: s.probability as i64 }),
            pipeline_rollup::Side { state: &after, currency: &h.currency, amount: h.amount, probability: h.probability },
        ));
        let stage = |s: &DealState| Some(s.stage.clone()).filter(|id| !id.is_empty());
        // The states stored beside the event, as the history's columns and the deal's periods
        // (`deal_period_changes`) hold them.
        let was_side = was.map(|(s, currency)| DealSide {
            stage_id: stage(s),
            status: Some(s.status.clone()),
            amount: s.amount,
            currency: currency.clone(),
            probability: s.probability as i64,
            close_date: s.expected_close,
        });
        let after_side =
            DealSide { stage_id: stage(&after), status: Some(after.status.clone()), amount: h.amount, currency: h.currency.clone(), probability: h.probability, close_date: after.expected_close };
        q.values_panic([
            ws.to_string().into(),
            h.id.clone().into(),
            opp.to_string().into(),
            h.at.into(),
            h.actor_id.clone().into(),
            h.kind.clone().into(),
            h.from_stage_id.clone().into(),
            h.from_stage_name.clone().into(),
            h.to_stage_id.clone().into(),
            h.to_stage_name.clone().into(),
            h.from_status.clone().into(),
            h.to_status.clone().into(),
            h.amount.into(),
            h.currency.clone().into(),
            h.probability.into(),
            h.days_in_stage.into(),
            h.working_days_in_stage.into(),
            h.field.clone().into(),
            h.old_value.clone().into(),
            h.new_value.clone().into(),
            h.reason.clone().into(),
            h.override_reason.clone().into(),
            h.imported.into(),
            after_side.stage_id.clone().into(),
            after_side.status.clone().into(),
            after_side.close_date.into(),
            was_side.as_ref().and_then(|s| s.stage_id.clone()).into(),
            was_side.as_ref().and_then(|s| s.status.clone()).into(),
            was_side.as_ref().map(|s| s.amount).into(),
            was_side.as_ref().map(|s| s.currency.clone()).into(),
            was_side.as_ref().map(|s| s.probability).into(),
            was_side.as_ref().and_then(|s| s.close_date).into(),
        ]);
        period_events.push(DealEvent { at: h.at, history_id: h.id.clone(), was: was_side, after: after_side });
        before = Some((after, h.currency.clone()));
    }
    c.execute(&q).await?;
    pipeline_rollup::append(c, rolled_up).await?;
    deal_period_changes::record(c, ws, &opp.to_string(), period_events).await?;
    if rows.iter().any(|h| matches!(h.kind.as_str(), "created" | "moved" | "closed")) {
        let ids: Vec<&str> = rows.iter().map(|h| h.id.as_str()).collect();
        crate::stage_entry_rollup::record(c, ws, opp, &ids).await?;
    }
    crate::passage_buckets::record(c, ws, rows).await
}

pub async fn list_history(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId) -> StoreResult<Vec<HistoryEntry>> {
    c.fetch_all(
        &sql("SELECT history_id, at, actor_id, kind, from_stage_id, from_stage_name, to_stage_id, to_stage_name, from_status, to_status, \
              amount, currency, probability, days_in_stage, working_days_in_stage, field, old_value, new_value, reason, override_reason, imported \
              FROM opportunity_history WHERE workspace_id = $1 AND opportunity_id = $2 ORDER BY at, history_id")
        .bind(ws.to_string())
        .bind(opp.to_string()),
    )
    .await
}

/// The time of the newest history event, to keep backfilled events in order.
pub async fn last_event_at(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId) -> StoreResult<Option<DateTime<Utc>>> {
    let row: Option<(DateTime<Utc>,)> = c
        .fetch_optional(
            &sql("SELECT at FROM opportunity_history WHERE workspace_id = $1 AND opportunity_id = $2 ORDER BY at DESC LIMIT 1")
                .bind(ws.to_string())
                .bind(opp.to_string()),
        )
        .await?;
    Ok(row.map(|r| r.0))
}

pub fn new_history_id(id: uuid::Uuid) -> String {
    HistoryId::from_uuid(id).to_string()
}

/// Joins for the kanban cards: account name and owner name next to each deal.
pub fn card_select(ws: WorkspaceId, scope: &DataScope) -> SelectStatement {
    let mut q = scoped_select(ws, scope);
    q.join_as(
        JoinType::InnerJoin,
        Alias::new("account"),
        Alias::new("ca"),
        Cond::all()
            .add(col("ca", "workspace_id").equals((Alias::new("o"), Alias::new("workspace_id"))))
            .add(col("ca", "account_id").equals((Alias::new("o"), Alias::new("account_id")))),
    );
    q
}
