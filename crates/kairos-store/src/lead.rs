//! Leads, their rule sets and the assignment state. A lead is seen by its owner, by
//! managers of the owner's unit, by admins and directors, and (while it has no owner and
//! sits in the pool) by everyone in the workspace.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use kairos_domain::identity::DataScope;
use kairos_domain::ids::{AccountId, ContactId, LeadId, OpportunityId, OrgUnitId, UserId, WorkspaceId};
use kairos_domain::lead::{Bant, Lead, LeadSource, LeadStatus};
use kairos_domain::lead_scoring::ScoreHit;
use sea_query::{Alias, Cond, Expr, Func, LikeExpr, OnConflict, Query, SelectStatement, SimpleExpr};

use crate::bulk::{Cell, insert_rows};
use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::page::{Page, PageRequest, Sort, apply_page};
use crate::row::{like_escape, parse_id, parse_opt_id, parse_stored};
use crate::scope::col;

#[derive(sqlx::FromRow)]
struct LeadRow {
    workspace_id: String,
    lead_id: String,
    source: String,
    campaign: Option<String>,
    company: Option<String>,
    company_key: Option<String>,
    contact_name: Option<String>,
    title: Option<String>,
    phone: Option<String>,
    phone_key: Option<String>,
    email: Option<String>,
    email_key: Option<String>,
    region: Option<String>,
    industry: Option<String>,
    notes: Option<String>,
    budget_amount: Option<i64>,
    budget_approved: bool,
    is_decision_maker: Option<bool>,
    need_description: Option<String>,
    need_match: Option<i64>,
    expected_purchase_date: Option<NaiveDate>,
    status: String,
    disqualify_reason: Option<String>,
    score: i64,
    score_hits: String,
    owner_id: Option<String>,
    org_unit_id: Option<String>,
    assigned_at: Option<DateTime<Utc>>,
    assigned_by_rule: Option<String>,
    account_id: Option<String>,
    contact_id: Option<String>,
    opportunity_id: Option<String>,
    converted_at: Option<DateTime<Utc>>,
    archived_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

impl TryFrom<LeadRow> for Lead {
    type Error = StoreError;
    fn try_from(r: LeadRow) -> StoreResult<Lead> {
        let score_hits: Vec<ScoreHit> =
            serde_json::from_str(&r.score_hits).map_err(|e| StoreError::Corrupt(format!("lead score_hits: {e}")))?;
        Ok(Lead {
            id: parse_id(&r.lead_id, LeadId::parse)?,
            workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            source: parse_stored(&r.source, "lead source", LeadSource::from_stored)?,
            campaign: r.campaign,
            company: r.company,
            company_key: r.company_key,
            contact_name: r.contact_name,
            title: r.title,
            phone: r.phone,
            phone_key: r.phone_key,
            email: r.email,
            email_key: r.email_key,
            region: r.region,
            industry: r.industry,
            notes: r.notes,
            bant: Bant {
                budget_amount: r.budget_amount,
                budget_approved: r.budget_approved,
                is_decision_maker: r.is_decision_maker,
                need_description: r.need_description,
                need_match: r.need_match.and_then(|m| u8::try_from(m).ok()),
                expected_purchase_date: r.expected_purchase_date,
            },
            status: parse_stored(&r.status, "lead status", LeadStatus::from_stored)?,
            disqualify_reason: r.disqualify_reason,
            score: r.score,
            score_hits,
            owner_id: parse_opt_id(r.owner_id.as_deref(), UserId::parse)?,
            org_unit_id: parse_opt_id(r.org_unit_id.as_deref(), OrgUnitId::parse)?,
            assigned_at: r.assigned_at,
            assigned_by_rule: r.assigned_by_rule,
            account_id: parse_opt_id(r.account_id.as_deref(), AccountId::parse)?,
            contact_id: parse_opt_id(r.contact_id.as_deref(), ContactId::parse)?,
            opportunity_id: parse_opt_id(r.opportunity_id.as_deref(), OpportunityId::parse)?,
            converted_at: r.converted_at,
            archived: r.archived_at.is_some(),
            archived_at: r.archived_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

/// The columns in the order of [`values`]; `created_by` is written once and never read.
const COLUMNS: [&str; 38] = [
    "workspace_id",
    "lead_id",
    "source",
    "campaign",
    "company",
    "company_key",
    "contact_name",
    "title",
    "phone",
    "phone_key",
    "email",
    "email_key",
    "region",
    "industry",
    "notes",
    "budget_amount",
    "budget_approved",
    "is_decision_maker",
    "need_description",
    "need_match",
    "expected_purchase_date",
    "status",
    "disqualify_reason",
    "score",
    "score_hits",
    "owner_id",
    "org_unit_id",
    "assigned_at",
    "assigned_by_rule",
    "account_id",
    "contact_id",
    "opportunity_id",
    "converted_at",
    "archived_at",
    "created_at",
    "updated_at",
    "version",
    "created_by",
];

/// The values of a lead in the order of [`COLUMNS`].
fn values(l: &Lead, created_by: Option<UserId>) -> Vec<Cell> {
    let hits = serde_json::to_string(&l.score_hits).unwrap_or_else(|_| "[]".into());
    vec![
        l.workspace_id.to_string().into(),
        l.id.to_string().into(),
        l.source.as_str().into(),
        l.campaign.clone().into(),
        l.company.clone().into(),
        l.company_key.clone().into(),
        l.contact_name.clone().into(),
        l.title.clone().into(),
        l.phone.clone().into(),
        l.phone_key.clone().into(),
        l.email.clone().into(),
        l.email_key.clone().into(),
        l.region.clone().into(),
        l.industry.clone().into(),
        l.notes.clone().into(),
        l.bant.budget_amount.into(),
        l.bant.budget_approved.into(),
        l.bant.is_decision_maker.into(),
        l.bant.need_description.clone().into(),
        l.bant.need_match.map(i64::from).into(),
        l.bant.expected_purchase_date.into(),
        l.status.as_str().into(),
        l.disqualify_reason.clone().into(),
        l.score.into(),
        hits.into(),
        l.owner_id.map(|u| u.to_string()).into(),
        l.org_unit_id.map(|u| u.to_string()).into(),
        l.assigned_at.into(),
        l.assigned_by_rule.clone().into(),
        l.account_id.map(|a| a.to_string()).into(),
        l.contact_id.map(|c| c.to_string()).into(),
        l.opportunity_id.map(|o| o.to_string()).into(),
        l.converted_at.into(),
        l.archived_at.into(),
        l.created_at.into(),
        l.updated_at.into(),
        l.version.into(),
        created_by.map(|u| u.to_string()).into(),
    ]
}

/// A cell as a query-builder value, for the single-row update.
fn expr(cell: Cell) -> SimpleExpr {
    match cell {
        Cell::Text(v) => v.into(),
        Cell::Int(v) => v.into(),
        Cell::Bool(v) => v.into(),
        Cell::Date(v) => v.into(),
        Cell::Time(v) => v.into(),
    }
}

/// Rows per INSERT: 38 values each stays far below SQLite's and PostgreSQL's limits on
/// bound parameters, and a few hundred rows per statement is where bulk loading stops
/// getting faster.
const INSERT_BATCH: usize = 400;

/// Inserts leads, several hundred rows per statement (an import writes thousands).
pub async fn insert_leads(c: &mut Conn<'_>, leads: &[Lead], created_by: Option<UserId>) -> StoreResult<()> {
    let rows: Vec<Vec<Cell>> = leads.iter().map(|l| values(l, created_by)).collect();
    insert_rows(c, "lead", &COLUMNS, rows, INSERT_BATCH).await
}

pub async fn update_lead(c: &mut Conn<'_>, l: &Lead, expected_version: i64) -> StoreResult<()> {
    let mut q = Query::update();
    q.table(Alias::new("lead"));
    // Everything but the keys and the creator.
    let settable = &COLUMNS[2..COLUMNS.len() - 1];
    let vals = values(l, None);
    for (column, value) in settable.iter().zip(vals.into_iter().skip(2)) {
        q.value(Alias::new(*column), expr(value));
    }
    q.and_where(Expr::col(Alias::new("workspace_id")).eq(l.workspace_id.to_string()))
        .and_where(Expr::col(Alias::new("lead_id")).eq(l.id.to_string()))
        .and_where(Expr::col(Alias::new("version")).eq(expected_version));
    let n = c.execute(&q).await?;
    if n == 0 { Err(StoreError::StaleVersion) } else { Ok(()) }
}

/// Who may see which leads: the pool is open to the whole workspace.
fn scope_condition(scope: &DataScope) -> Option<SimpleExpr> {
    let pool = col("l", "owner_id").is_null();
    match scope {
        DataScope::All => None,
        DataScope::Own { user } => Some(Cond::any().add(pool).add(col("l", "owner_id").eq(user.to_string())).into()),
        DataScope::Subtree { user, units } => {
            let units: Vec<String> = units.iter().map(|u| u.to_string()).collect();
            Some(
                Cond::any()
                    .add(pool)
                    .add(col("l", "owner_id").eq(user.to_string()))
                    .add(col("l", "org_unit_id").is_in(units))
                    .into(),
            )
        }
    }
}

fn scoped_select(ws: WorkspaceId, scope: &DataScope) -> SelectStatement {
    let mut q = Query::select();
    q.from_as(Alias::new("lead"), Alias::new("l")).and_where(col("l", "workspace_id").eq(ws.to_string()));
    if let Some(cond) = scope_condition(scope) {
        q.and_where(cond);
    }
    q
}

fn select_columns(q: &mut SelectStatement) {
    for column in &COLUMNS[..COLUMNS.len() - 1] {
        q.column((Alias::new("l"), Alias::new(*column)));
    }
}

pub async fn find_lead(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, id: LeadId) -> StoreResult<Option<Lead>> {
    let mut q = scoped_select(ws, scope);
    select_columns(&mut q);
    q.and_where(col("l", "lead_id").eq(id.to_string()));
    let row: Option<LeadRow> = c.fetch_optional(&q).await?;
    row.map(Lead::try_from).transpose()
}

#[derive(Debug, Default, Clone)]
pub struct LeadFilter {
    pub q: Option<String>,
    pub status: Vec<LeadStatus>,
    pub source: Option<LeadSource>,
    /// `Some(None)`: the pool.
    pub owner: Option<Option<UserId>>,
    pub units: Option<Vec<OrgUnitId>>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub campaign: Option<String>,
    pub score_min: Option<i64>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub archived: Option<bool>,
}

pub async fn list_leads(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    scope: &DataScope,
    f: &LeadFilter,
    sort: Sort,
    page: PageRequest,
) -> StoreResult<Page<Lead>> {
    let mut q = scoped_select(ws, scope);
    if let Some(text) = f.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let pattern = |t: &str| LikeExpr::new(format!("%{}%", like_escape(t))).escape('\\');
        let lower = text.to_lowercase();
        let mut any = Cond::any()
            .add(Expr::expr(Func::lower(col("l", "company"))).like(pattern(&lower)))
            .add(Expr::expr(Func::lower(col("l", "contact_name"))).like(pattern(&lower)))
            .add(col("l", "email_key").like(pattern(&lower)));
        let company = kairos_domain::text::company_key(text);
        if !company.is_empty() {
            any = any.add(col("l", "company_key").like(pattern(&company)));
        }
        if let Ok(phone) = kairos_domain::text::phone_key(text) {
            any = any.add(col("l", "phone_key").like(pattern(&phone)));
        }
        q.cond_where(any);
    }
    if !f.status.is_empty() {
        q.and_where(col("l", "status").is_in(f.status.iter().map(|s| s.as_str())));
    }
    if let Some(s) = f.source {
        q.and_where(col("l", "source").eq(s.as_str()));
    }
    match f.owner {
        Some(Some(u)) => {
            q.and_where(col("l", "owner_id").eq(u.to_string()));
        }
        Some(None) => {
            q.and_where(col("l", "owner_id").is_null());
        }
        None => {}
    }
    if let Some(units) = &f.units {
        q.and_where(col("l", "org_unit_id").is_in(units.iter().map(|u| u.to_string())));
    }
    for (column, value) in [("region", &f.region), ("industry", &f.industry), ("campaign", &f.campaign)] {
        if let Some(v) = value {
            q.and_where(col("l", column).eq(v.clone()));
        }
    }
    if let Some(min) = f.score_min {
        q.and_where(col("l", "score").gte(min));
    }
    if let Some(from) = f.created_from {
        q.and_where(col("l", "created_at").gte(from));
    }
    if let Some(to) = f.created_to {
        q.and_where(col("l", "created_at").lt(to));
    }
    match f.archived {
        Some(true) => q.and_where(col("l", "archived_at").is_not_null()),
        _ => q.and_where(col("l", "archived_at").is_null()),
    };
    let mut count = q.clone();
    count.expr(Expr::cust("COUNT(*)"));
    let total = c.fetch_count(&count).await?;
    select_columns(&mut q);
    sort.apply(&mut q, "l", "lead_id");
    apply_page(&mut q, page);
    let rows: Vec<LeadRow> = c.fetch_all(&q).await?;
    let items = rows.into_iter().map(Lead::try_from).collect::<StoreResult<Vec<_>>>()?;
    Ok(Page::new(items, total, page))
}

/// A record that shares a duplicate key with a lead being captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMatch {
    /// `lead`, `contact` or `account`.
    pub entity: &'static str,
    pub id: String,
    /// `phone`, `email` or `company`.
    pub field: &'static str,
    pub key: String,
    /// For contacts: their account; for leads: whether still open to merging.
    pub account_id: Option<String>,
    pub mergeable: bool,
}

/// Every live lead, contact and account holding one of the keys, found with one query per
/// table and key kind whatever the number of keys (an import checks a batch at a time).
pub async fn key_matches(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    phones: &[String],
    emails: &[String],
    companies: &[String],
) -> StoreResult<Vec<KeyMatch>> {
    let mut found = Vec::new();
    // Two people of one company are two leads, so leads are matched by phone and e-mail
    // only; a company that is already an account is a match.
    let lookups: [(&str, &str, &'static str, &'static str, &[String]); 5] = [
        ("lead", "phone_key", "lead", "phone", phones),
        ("lead", "email_key", "lead", "email", emails),
        ("contact", "phone_key", "contact", "phone", phones),
        ("contact", "email_key", "contact", "email", emails),
        ("account", "name_key", "account", "company", companies),
    ];
    for (table, key_column, entity, field, keys) in lookups {
        if keys.is_empty() {
            continue;
        }
        for chunk in keys.chunks(500) {
            let (id_column, extra, live) = match table {
                "lead" => ("lead_id", "status", "archived_at IS NULL"),
                "contact" => ("contact_id", "account_id", "archived_at IS NULL"),
                _ => ("account_id", "account_id", "archived_at IS NULL"),
            };
            let mut q = Query::select();
            q.from(Alias::new(table))
                .column(Alias::new(id_column))
                .column(Alias::new(key_column))
                .column(Alias::new(extra))
                .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
                .and_where(Expr::col(Alias::new(key_column)).is_in(chunk.iter().cloned()))
                .and_where(Expr::cust(live));
            let rows: Vec<(String, String, String)> = c.fetch_all(&q).await?;
            for (id, key, extra) in rows {
                let (account_id, mergeable) = match table {
                    "lead" => (None, LeadStatus::from_stored(&extra).is_some_and(|s| s != LeadStatus::Converted)),
                    _ => (Some(extra), false),
                };
                found.push(KeyMatch { entity, id, field, key, account_id, mergeable });
            }
        }
    }
    Ok(found)
}

/// Leads by id without a scope: for merging a capture into the lead it duplicates, which
/// the capturing person may not own.
pub async fn leads_by_id(c: &mut Conn<'_>, ws: WorkspaceId, ids: &[LeadId]) -> StoreResult<Vec<Lead>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut q = scoped_select(ws, &DataScope::All);
        select_columns(&mut q);
        q.and_where(col("l", "lead_id").is_in(chunk.iter().map(|i| i.to_string())));
        let rows: Vec<LeadRow> = c.fetch_all(&q).await?;
        for r in rows {
            out.push(Lead::try_from(r)?);
        }
    }
    Ok(out)
}

/// Open leads per owner, for least-loaded assignment.
pub async fn open_lead_counts(c: &mut Conn<'_>, ws: WorkspaceId, users: &[UserId]) -> StoreResult<HashMap<UserId, i64>> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q = Query::select();
    q.from(Alias::new("lead"))
        .column(Alias::new("owner_id"))
        .expr(Expr::cust("COUNT(*)"))
        .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
        .and_where(Expr::col(Alias::new("owner_id")).is_in(users.iter().map(|u| u.to_string())))
        .and_where(Expr::col(Alias::new("status")).is_in(["new", "working", "qualified"]))
        .and_where(Expr::col(Alias::new("archived_at")).is_null())
        .group_by_col(Alias::new("owner_id"));
    let rows: Vec<(String, i64)> = c.fetch_all(&q).await?;
    rows.into_iter().map(|(u, n)| Ok((parse_id(&u, UserId::parse)?, n))).collect()
}

/// When each rep last got a lead by rule, and the highest sequence number so far.
pub async fn assignee_sequence(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<(HashMap<UserId, i64>, i64)> {
    let rows: Vec<(String, i64)> =
        c.fetch_all(&sql("SELECT user_id, last_seq FROM lead_assignee WHERE workspace_id = $1").bind(ws.to_string())).await?;
    let mut max = 0;
    let mut map = HashMap::new();
    for (u, seq) in rows {
        max = max.max(seq);
        map.insert(parse_id(&u, UserId::parse)?, seq);
    }
    Ok((map, max))
}

pub async fn record_assignments(c: &mut Conn<'_>, ws: WorkspaceId, last: &HashMap<UserId, i64>) -> StoreResult<()> {
    if last.is_empty() {
        return Ok(());
    }
    let mut q = Query::insert();
    q.into_table(Alias::new("lead_assignee")).columns([Alias::new("workspace_id"), Alias::new("user_id"), Alias::new("last_seq")]);
    for (user, seq) in last {
        q.values_panic([ws.to_string().into(), user.to_string().into(), (*seq).into()]);
    }
    q.on_conflict(
        OnConflict::columns([Alias::new("workspace_id"), Alias::new("user_id")]).update_column(Alias::new("last_seq")).to_owned(),
    );
    c.execute(&q).await?;
    Ok(())
}

/// Active users of each unit, for team rules.
pub async fn active_members(c: &mut Conn<'_>, ws: WorkspaceId, units: &[OrgUnitId]) -> StoreResult<HashMap<OrgUnitId, Vec<UserId>>> {
    let mut teams: HashMap<OrgUnitId, Vec<UserId>> = HashMap::new();
    if units.is_empty() {
        return Ok(teams);
    }
    let mut q = Query::select();
    q.from(Alias::new("app_user"))
        .column(Alias::new("org_unit_id"))
        .column(Alias::new("user_id"))
        .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
        .and_where(Expr::col(Alias::new("active")).eq(true))
        .and_where(Expr::col(Alias::new("org_unit_id")).is_in(units.iter().map(|u| u.to_string())));
    let rows: Vec<(String, String)> = c.fetch_all(&q).await?;
    for (unit, user) in rows {
        teams.entry(parse_id(&unit, OrgUnitId::parse)?).or_default().push(parse_id(&user, UserId::parse)?);
    }
    Ok(teams)
}

/// The stored rule sets as JSON (scoring, assignment) and their version, if an admin set
/// them.
pub async fn lead_settings(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Option<(String, String, i64)>> {
    c.fetch_optional(&sql("SELECT scoring, assignment, version FROM lead_settings WHERE workspace_id = $1").bind(ws.to_string()))
        .await
}

pub async fn save_lead_settings(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    scoring: &str,
    assignment: &str,
    now: DateTime<Utc>,
    expected_version: Option<i64>,
) -> StoreResult<()> {
    let n = match expected_version {
        None => c
            .execute(
                &sql("INSERT INTO lead_settings (workspace_id, scoring, assignment, updated_at, version) VALUES ($1, $2, $3, $4, 1)")
                    .bind(ws.to_string())
                    .bind(scoring.to_string())
                    .bind(assignment.to_string())
                    .bind(now),
            )
            .await
            .map_err(|e| if matches!(e, StoreError::Unique { .. }) { StoreError::StaleVersion } else { e })?,
        Some(v) => {
            c.execute(
                &sql("UPDATE lead_settings SET scoring = $1, assignment = $2, updated_at = $3, version = version + 1 \
                      WHERE workspace_id = $4 AND version = $5")
                .bind(scoring.to_string())
                .bind(assignment.to_string())
                .bind(now)
                .bind(ws.to_string())
                .bind(v),
            )
            .await?
        }
    };
    if n == 0 { Err(StoreError::StaleVersion) } else { Ok(()) }
}

/// Per source and currency of the won deals: leads, qualified, converted, won, won amount.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SourceRow {
    pub source: String,
    pub currency: Option<String>,
    pub leads: i64,
    pub qualified: i64,
    pub converted: i64,
    pub won: i64,
    pub won_amount: i64,
}

/// The lead-source funnel of the leads created in `[from, to)` that the caller may see,
/// aggregated in the database (one row per source and won-deal currency).
pub async fn source_stats(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<SourceRow>> {
    let mut q = scoped_select(ws, scope);
    q.join_as(
        sea_query::JoinType::LeftJoin,
        Alias::new("opportunity"),
        Alias::new("o"),
        Cond::all()
            .add(col("o", "workspace_id").equals((Alias::new("l"), Alias::new("workspace_id"))))
            .add(col("o", "opportunity_id").equals((Alias::new("l"), Alias::new("opportunity_id"))))
            .add(col("o", "status").eq("won")),
    )
    .expr_as(col("l", "source"), Alias::new("source"))
    .expr_as(col("o", "currency"), Alias::new("currency"))
    .expr_as(Expr::cust("COUNT(*)"), Alias::new("leads"))
    .expr_as(Expr::cust("CAST(COALESCE(SUM(CASE WHEN l.status IN ('qualified', 'converted') THEN 1 ELSE 0 END), 0) AS BIGINT)"), Alias::new("qualified"))
    .expr_as(Expr::cust("CAST(COALESCE(SUM(CASE WHEN l.status = 'converted' THEN 1 ELSE 0 END), 0) AS BIGINT)"), Alias::new("converted"))
    .expr_as(Expr::cust("COUNT(o.opportunity_id)"), Alias::new("won"))
    // PostgreSQL sums bigints as numeric; the casts make both databases answer bigints.
    .expr_as(Expr::cust("CAST(COALESCE(SUM(o.amount), 0) AS BIGINT)"), Alias::new("won_amount"))
    .and_where(col("l", "archived_at").is_null())
    .and_where(col("l", "created_at").gte(from))
    .and_where(col("l", "created_at").lt(to))
    .add_group_by([col("l", "source").into(), col("o", "currency").into()]);
    c.fetch_all(&q).await
}

/// Source, creation and conversion time of the converted leads created in `[from, to)`.
pub async fn conversion_times(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    scope: &DataScope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<(String, DateTime<Utc>, DateTime<Utc>)>> {
    let mut q = scoped_select(ws, scope);
    q.column((Alias::new("l"), Alias::new("source")))
        .column((Alias::new("l"), Alias::new("created_at")))
        .column((Alias::new("l"), Alias::new("converted_at")))
        .and_where(col("l", "archived_at").is_null())
        .and_where(col("l", "converted_at").is_not_null())
        .and_where(col("l", "created_at").gte(from))
        .and_where(col("l", "created_at").lt(to));
    c.fetch_all(&q).await
}
