//! What analytics reads: the deals' totals per group, computed in the database, and the
//! history events the replaying reports need.

use chrono::{DateTime, NaiveDate, Utc};
use kairos_domain::identity::DataScope;
use kairos_domain::ids::{OrgUnitId, ProcessId, UserId, WorkspaceId};
use sea_query::{Alias, Cond, Expr, JoinType, SimpleExpr};

use crate::db::{Backend, Conn};
use crate::error::StoreResult;
use crate::opportunity::scoped_select;
use crate::scope::{col, is_literally};

/// What a report groups deals by. Each becomes a text key of the group (`None` where the
/// deal has no value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dimension {
    Stage,
    Status,
    Owner,
    OrgUnit,
    ProductCategory,
    Industry,
    CustomerType,
    Source,
    Process,
    CloseReason,
    CloseCompetitor,
    /// The JSON array of the competitors named on the deal, as stored.
    Competitors,
    ForecastCategory,
    /// YYYY-MM-DD
    ExpectedClose,
    /// The day of the close (YYYY-MM-DD) in a time zone this many minutes east of UTC.
    ClosedDay(i32),
}

impl Dimension {
    fn needs_account(&self) -> bool {
        matches!(self, Dimension::Industry | Dimension::CustomerType)
    }

    fn expr(&self, backend: Backend) -> SimpleExpr {
        let column = |c: &str| Expr::cust(c.to_string());
        match self {
            Dimension::Stage => column("o.stage_id"),
            Dimension::Status => column("o.status"),
            Dimension::Owner => column("o.owner_id"),
            Dimension::OrgUnit => column("o.org_unit_id"),
            Dimension::ProductCategory => column("o.product_category"),
            Dimension::Industry => column("ra.industry"),
            Dimension::CustomerType => column("ra.account_type"),
            Dimension::Source => column("o.source"),
            Dimension::Process => column("o.process_id"),
            Dimension::CloseReason => column("o.close_reason_id"),
            Dimension::CloseCompetitor => column("o.close_competitor"),
            Dimension::Competitors => column("o.competitors"),
            Dimension::ForecastCategory => column("o.forecast_category"),
            Dimension::ExpectedClose => column("CAST(o.expected_close_date AS TEXT)"),
            Dimension::ClosedDay(offset) => local_day("o.closed_at", *offset, backend),
        }
    }
}

/// The deal's amount is at least the minimum given for its currency.
fn amount_at_least(minimums: &[(String, i64)]) -> Cond {
    minimums.iter().fold(Cond::any(), |any, (currency, min)| {
        any.add(Cond::all().add(col("o", "currency").eq(currency.clone())).add(col("o", "amount").gte(*min)))
    })
}

/// The day (YYYY-MM-DD) of a timestamp column in a time zone `offset` minutes east of UTC.
fn local_day(column: &str, offset: i32, backend: Backend) -> SimpleExpr {
    match backend {
        Backend::Sqlite => local_date(column, offset, backend),
        Backend::Postgres => {
            let date = local_date(column, offset, backend);
            Expr::cust_with_expr("CAST($1 AS TEXT)", date)
        }
    }
}

/// The local day of a timestamp column as the database compares days: text (YYYY-MM-DD)
/// in SQLite, a DATE in PostgreSQL, where grouping by the date and writing the few groups'
/// keys as text afterwards is twice as fast as writing every row's day as text.
fn local_date(column: &str, offset: i32, backend: Backend) -> SimpleExpr {
    match backend {
        Backend::Sqlite => Expr::cust_with_values(format!("date({column}, ?)"), [format!("{offset:+} minutes")]),
        // sea-query marks PostgreSQL parameters as $n, SQLite ones as ?.
        Backend::Postgres => Expr::cust_with_values(format!("CAST(({column} AT TIME ZONE 'UTC') + make_interval(mins => $1) AS DATE)"), [offset]),
    }
}

/// Amounts are summed in two parts, billions and the rest, so that no sum can overflow a
/// 64-bit integer in either database.
pub(crate) const SPLIT: i64 = 1_000_000_000;

/// Σ `expr` in two parts (`SPLIT`), as `{name}_hi` and `{name}_lo`; `sign` is "" or "-" (for
/// what a change takes away).
pub(crate) fn split_sum(expr: &str, name: &str, sign: &str) -> String {
    format!("CAST({sign}SUM(({expr}) / {SPLIT}) AS BIGINT) AS {name}_hi, CAST({sign}SUM(({expr}) % {SPLIT}) AS BIGINT) AS {name}_lo")
}

/// A sum read in two parts (`split_sum`), whole.
pub(crate) fn joined(hi: i64, lo: i64) -> i128 {
    i128::from(hi) * i128::from(SPLIT) + i128::from(lo)
}

/// COUNT and Σ `amount` in two parts, under the names `GroupTotals` reads; `sign` is "" or
/// "-" (for what a change takes away).
fn amount_sums(amount: &str, sign: &str) -> String {
    format!("{sign}COUNT(*) AS deals, {}", split_sum(amount, "amount", sign))
}

/// Σ `amount` × `probability` in two parts, under the names `GroupTotals` reads.
fn weighted_sums(amount: &str, probability: &str, sign: &str) -> String {
    format!(
        "CAST({sign}SUM(({amount} / {SPLIT}) * {probability}) AS BIGINT) AS weighted_hi, \
         CAST({sign}SUM(({amount} % {SPLIT}) * {probability}) AS BIGINT) AS weighted_lo"
    )
}

/// The deals of one group in one currency. Amounts come in two parts (billions and the rest)
/// so that no sum can overflow a 64-bit integer in either database, however many deals of
/// up to `MAX_AMOUNT` it adds.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct GroupTotals {
    k0: Option<String>,
    k1: Option<String>,
    k2: Option<String>,
    k3: Option<String>,
    k4: Option<String>,
    pub currency: String,
    pub deals: i64,
    amount_hi: i64,
    amount_lo: i64,
    weighted_hi: i64,
    weighted_lo: i64,
    /// Σ health_chain (decision-chain coverage, 0–100 per deal): read by the leaderboard's
    /// `open_by_owner` only, 0 elsewhere.
    pub health_chain: f64,
}

impl crate::inline::InlineRow for GroupTotals {
    fn from_inline(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(GroupTotals {
            k0: row.get("k0")?,
            k1: row.get("k1")?,
            k2: row.get("k2")?,
            k3: row.get("k3")?,
            k4: row.get("k4")?,
            currency: row.get("currency")?,
            deals: row.get("deals")?,
            amount_hi: row.get("amount_hi")?,
            amount_lo: row.get("amount_lo")?,
            weighted_hi: row.get("weighted_hi")?,
            weighted_lo: row.get("weighted_lo")?,
            health_chain: row.get("health_chain")?,
        })
    }
}

const MAX_DIMENSIONS: usize = 5;

impl GroupTotals {
    /// The group's value of the `i`th dimension asked for.
    pub fn key(&self, i: usize) -> Option<&str> {
        [&self.k0, &self.k1, &self.k2, &self.k3, &self.k4].get(i).and_then(|k| k.as_deref())
    }

    /// Σ amount, in the group's currency's minor units.
    pub fn amount(&self) -> i128 {
        joined(self.amount_hi, self.amount_lo)
    }

    /// Σ amount × probability (percent), in the group's currency's minor units × 100.
    pub fn amount_x_probability(&self) -> i128 {
        joined(self.weighted_hi, self.weighted_lo)
    }

    /// The groups of reads over parts of the same deals (halves of a window) added up: one
    /// group per key and currency, in the order first seen.
    pub fn merged(parts: impl IntoIterator<Item = GroupTotals>) -> Vec<GroupTotals> {
        let mut out: Vec<GroupTotals> = Vec::new();
        let mut seen: std::collections::HashMap<[Option<String>; 6], usize> = std::collections::HashMap::new();
        for g in parts {
            let key = [g.k0.clone(), g.k1.clone(), g.k2.clone(), g.k3.clone(), g.k4.clone(), Some(g.currency.clone())];
            match seen.get(&key) {
                Some(&i) => {
                    let t = &mut out[i];
                    t.deals += g.deals;
                    t.amount_hi += g.amount_hi;
                    t.amount_lo += g.amount_lo;
                    t.weighted_hi += g.weighted_hi;
                    t.weighted_lo += g.weighted_lo;
                    t.health_chain += g.health_chain;
                }
                None => {
                    seen.insert(key, out.len());
                    out.push(g);
                }
            }
        }
        out
    }
}

/// What a report sums besides the count and the amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sums {
    Amount,
    /// Also Σ amount × probability (open deals). Only when asked: the closed-deal reports
    /// then read their index alone, without the probability (win rate at 1,000,000 deals:
    /// 4.1 s with it). (The decision-chain coverage is the leaderboard's, `open_by_owner`.)
    AmountAndWeights,
}

/// The deals the filter selects, counted and summed per group of `by` and per currency, in
/// the database: reports read a few hundred groups instead of every deal.
pub async fn report_totals(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, f: &ReportFilter, by: &[Dimension], sums: Sums) -> StoreResult<Vec<GroupTotals>> {
    if by.len() > MAX_DIMENSIONS {
        return Err(crate::error::StoreError::Corrupt(format!("at most {MAX_DIMENSIONS} report dimensions, not {}", by.len())));
    }
    let backend = c.backend();
    let mut q = filtered(backend, ws, scope, f, by.iter().any(Dimension::needs_account));
    // By position: a key bound to parameters would not match itself in PostgreSQL's GROUP BY.
    let mut grouping: Vec<SimpleExpr> = Vec::new();
    for i in 0..MAX_DIMENSIONS {
        let dimension = by.get(i);
        let key = dimension.map(|d| d.expr(backend)).unwrap_or_else(|| Expr::cust("CAST(NULL AS TEXT)"));
        q.expr_as(key, Alias::new(format!("k{i}")));
        if dimension.is_some() {
            grouping.push(Expr::cust((i + 1).to_string()).into());
        }
    }
    grouping.push(Expr::cust((MAX_DIMENSIONS + 1).to_string()).into());
    let weights = match sums {
        Sums::Amount => "CAST(0 AS BIGINT) AS weighted_hi, CAST(0 AS BIGINT) AS weighted_lo".to_string(),
        Sums::AmountAndWeights => weighted_sums("o.amount", "o.probability", ""),
    };
    q.expr(Expr::cust(format!("o.currency AS currency, {}, {weights}, CAST(0 AS DOUBLE PRECISION) AS health_chain", amount_sums("o.amount", ""))));
    q.add_group_by(grouping);
    // At a million deals SQLite 3.46 reads the closed deals, and the open ones grouped by
    // stage, through the non-covering cards index, whatever the WHERE says (loss reasons:
    // 10 s against 1.3 s for its floor; today's pipeline by stage for the trend: 0.95 s
    // against 0.12 s for the funnel's, which reads the same deals). The covering index of
    // the closed or the open deals is named outright; the query's own `closed_at` range or
    // literal `status = 'open'` (`filtered`) implies the index's predicate, so it can serve.
    let covering = if f.closed_between.is_some() {
        Some("opportunity_closed_reports")
    } else if f.open_only {
        Some("opportunity_open_reports")
    } else {
        None
    };
    match covering.and_then(|index| through_index(backend, &q, index)) {
        Some(statement) => fetch_totals(c, &statement).await,
        None => fetch_totals(c, &q).await,
    }
}

/// `q`, a query of the deals (`o`), reading them through the named index on SQLite
/// (`INDEXED BY`); `None` elsewhere, where `q` itself is read.
fn through_index(backend: Backend, q: &sea_query::SelectStatement, index: &str) -> Option<crate::db::Sql> {
    if backend != Backend::Sqlite {
        return None;
    }
    let (text, values) = q.build(sea_query::SqliteQueryBuilder);
    let from = r#"FROM "opportunity" AS "o""#;
    text.contains(from)
        .then(|| values.0.into_iter().fold(crate::db::sql(text.replacen(from, &format!("{from} INDEXED BY {index}"), 1)), |s, v| s.bind(v)))
}

/// The groups of a statement that answers `GroupTotals`' columns. A report's groups number
/// from dozens to thousands, and SQLite's driver hands each row from its thread to ours
/// (trend's 4,335 days at 15,000 deals: 11 of its 53 ms), so they come as one JSON document
/// there (`Conn::fetch_many`). JSON carries their integers exactly; the one float, the
/// decision-chain coverage summed, to 15 digits (team reads it from its own rows, not these).
/// SQLite writes JSON at about 6 µs a row of long text, so the closed deal sums' loss facet,
/// its competitors' names quoted inside, comes as rows (`closed_deal_sums::totals`).
pub(crate) async fn fetch_totals(c: &mut Conn<'_>, statement: &(impl crate::db::Statement + ?Sized)) -> StoreResult<Vec<GroupTotals>> {
    const COLUMNS: [&str; 12] = ["k0", "k1", "k2", "k3", "k4", "currency", "deals", "amount_hi", "amount_lo", "weighted_hi", "weighted_lo", "health_chain"];
    c.fetch_many(statement, &COLUMNS, None).await
}

/// One owner's open deals in one currency, for the leaderboard: the totals (`k0` the owner;
/// no weighted amount, which the leaderboard does not show: 113 against 94 ms at a million
/// deals on SQLite), and how many of the deals are in the low and middle health bands (under 60; 60 to 80, the
/// rest high) and at least the high-value minimum for their currency.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwnerPipeline {
    #[sqlx(flatten)]
    pub totals: GroupTotals,
    pub health_low: i64,
    pub health_mid: i64,
    pub high_value: i64,
}

/// The open deals the filter selects, per owner and currency (`OwnerPipeline`). The bands and
/// the high-value deals are counted beside the sums rather than grouped by, so the deals are
/// grouped by owner and currency alone: SQLite reads them in that order from migration 0024's
/// index and sums each group as it goes, where grouping by band and high value as well made it
/// sort every open deal first.
pub async fn open_by_owner(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    scope: &DataScope,
    f: &ReportFilter,
    high_value: &[(String, i64)],
    owners: &OwnerIds,
) -> StoreResult<Vec<OwnerPipeline>> {
    let backend = c.backend();
    let open = ReportFilter { open_only: true, ..f.clone() };
    let mut q = filtered(backend, ws, scope, &open, false);
    owners.narrow(&mut q, "o", "owner_id");
    let chain = match backend {
        Backend::Sqlite => "TOTAL(o.health_chain)",
        Backend::Postgres => "SUM(o.health_chain)",
    };
    q.expr(Expr::cust(format!(
        "o.owner_id AS k0, CAST(NULL AS TEXT) AS k1, CAST(NULL AS TEXT) AS k2, CAST(NULL AS TEXT) AS k3, CAST(NULL AS TEXT) AS k4, \
         o.currency AS currency, {}, CAST(0 AS BIGINT) AS weighted_hi, CAST(0 AS BIGINT) AS weighted_lo, {chain} AS health_chain, \
         CAST(SUM(CASE WHEN o.health_score < 60 THEN 1 ELSE 0 END) AS BIGINT) AS health_low, \
         CAST(SUM(CASE WHEN o.health_score < 60 THEN 0 WHEN o.health_score <= 80 THEN 1 ELSE 0 END) AS BIGINT) AS health_mid",
        amount_sums("o.amount", "")
    )));
    let high: SimpleExpr = if high_value.is_empty() { Expr::val(0).into() } else { Expr::case(amount_at_least(high_value), 1).finally(0).into() };
    q.expr_as(sea_query::Func::cast_as(sea_query::Func::sum(high), Alias::new("BIGINT")), Alias::new("high_value"));
    q.group_by_col((Alias::new("o"), Alias::new("owner_id"))).group_by_col((Alias::new("o"), Alias::new("currency")));
    match through_index(c.backend(), &q, "opportunity_open_owners") {
        Some(statement) => c.fetch_all(&statement).await,
        None => c.fetch_all(&q).await,
    }
}

#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub process: Option<ProcessId>,
    pub owner: Option<UserId>,
    pub org_units: Option<Vec<OrgUnitId>>,
    pub industry: Option<String>,
    pub customer_type: Option<String>,
    pub source: Option<String>,
    pub product_category: Option<String>,
    pub open_only: bool,
    pub status: Option<&'static str>,
    pub closed_between: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub expected_close_between: Option<(NaiveDate, NaiveDate)>,
}

impl ReportFilter {
    /// Whether the filter leaves out any deal of the workspace.
    pub fn narrows_deals(&self) -> bool {
        let ReportFilter { process, owner, org_units, industry, customer_type, source, product_category, open_only, status, closed_between, expected_close_between } = self;
        process.is_some()
            || owner.is_some()
            || org_units.is_some()
            || industry.is_some()
            || customer_type.is_some()
            || source.is_some()
            || product_category.is_some()
            || *open_only
            || status.is_some()
            || closed_between.is_some()
            || expected_close_between.is_some()
    }
}

fn filtered(backend: Backend, ws: WorkspaceId, scope: &DataScope, f: &ReportFilter, need_account: bool) -> sea_query::SelectStatement {
    let mut q = scoped_select(ws, scope);
    // The account is joined only when its columns are read or filtered on: the history
    // reports scan hundreds of thousands of rows and the join doubles their cost.
    if need_account || f.industry.is_some() || f.customer_type.is_some() {
        q.join_as(
        JoinType::InnerJoin,
        Alias::new("account"),
        Alias::new("ra"),
        Cond::all()
            .add(col("ra", "workspace_id").equals((Alias::new("o"), Alias::new("workspace_id"))))
            .add(col("ra", "account_id").equals((Alias::new("o"), Alias::new("account_id")))),
        );
    }
    if let Some(p) = f.process {
        // SQLite would rather seek the deals of the process and status through the
        // pipeline's index, then read each deal from the table, than scan the covering
        // report index of the open deals (the funnel at 100,000 deals: 183 against 26 ms).
        // The unary plus keeps the column from serving as an index key.
        match backend {
            Backend::Sqlite => q.and_where(Expr::cust_with_values("+o.process_id = ?", [p.to_string()])),
            Backend::Postgres => q.and_where(col("o", "process_id").eq(p.to_string())),
        };
    }
    if let Some(o) = f.owner {
        q.and_where(col("o", "owner_id").eq(o.to_string()));
    }
    if let Some(units) = &f.org_units {
        q.and_where(col("o", "org_unit_id").is_in(units.iter().map(|u| u.to_string())));
    }
    if let Some(v) = &f.industry {
        q.and_where(col("ra", "industry").eq(v.clone()));
    }
    if let Some(v) = &f.customer_type {
        q.and_where(col("ra", "account_type").eq(v.clone()));
    }
    if let Some(v) = &f.source {
        q.and_where(col("o", "source").eq(v.clone()));
    }
    if let Some(v) = &f.product_category {
        q.and_where(col("o", "product_category").eq(v.clone()));
    }
    if f.open_only {
        q.and_where(is_literally("o", "status", "open"));
    }
    if let Some(s) = f.status {
        q.and_where(is_literally("o", "status", s));
    }
    if let Some((a, b)) = f.closed_between {
        // Implied by the range, but said outright SQLite picks the closed deals' covering
        // index for every grouping (loss reasons at 100,000 deals: 353 against 133 ms).
        q.and_where(col("o", "closed_at").is_not_null());
        q.and_where(col("o", "closed_at").gte(a)).and_where(col("o", "closed_at").lt(b));
    }
    if let Some((a, b)) = f.expected_close_between {
        q.and_where(col("o", "expected_close_date").gte(a)).and_where(col("o", "expected_close_date").lt(b));
    }
    q
}

/// Activities logged inside `[from, to)` on the deals the filter selects, counted per deal
/// owner. On SQLite they are counted per deal first, from the activities' (deal, time) index
/// alone, then summed per owner over the deals: joining every activity to its deal took 41 s
/// at 454,000 deals and 2.7 million activities there. PostgreSQL hash-joins them instead.
pub async fn activities_by_owner(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    scope: &DataScope,
    f: &ReportFilter,
    between: (DateTime<Utc>, DateTime<Utc>),
    deals: &DealIds,
) -> StoreResult<Vec<(String, i64)>> {
    let in_window = |q: &mut sea_query::SelectStatement, alias: &str| {
        q.and_where(col(alias, "workspace_id").eq(ws.to_string()))
            .and_where(col(alias, "opportunity_id").is_not_null())
            .and_where(col(alias, "occurred_at").gte(between.0))
            .and_where(col(alias, "occurred_at").lt(between.1));
        deals.narrow(q, alias, "opportunity_id");
    };
    let backend = c.backend();
    let mut q = match backend {
        // SQLite counts each deal's activities walking the (deal, time) index, then looks each
        // deal up once; joining activity by activity, it looked the deal up for every one
        // (132 against 268 ms at 100,500 deals).
        Backend::Sqlite => {
            let mut per_deal = sea_query::Query::select();
            per_deal.from_as(Alias::new("activity"), Alias::new("a")).column(Alias::new("opportunity_id")).expr_as(Expr::cust("COUNT(*)"), Alias::new("n"));
            in_window(&mut per_deal, "a");
            per_deal.group_by_col(Alias::new("opportunity_id"));
            let mut q = filtered(backend, ws, scope, f, false);
            q.join_subquery(JoinType::InnerJoin, per_deal, Alias::new("act"), col("act", "opportunity_id").equals((Alias::new("o"), Alias::new("opportunity_id"))));
            q.expr(Expr::cust("o.owner_id, CAST(SUM(act.n) AS BIGINT)"));
            q
        }
        // PostgreSQL hash-joins the activities to the deals; given the per-deal counts as a
        // subquery, each parallel worker computed all of them (0.50 against 0.29 s).
        Backend::Postgres => {
            let mut q = with_rows_of(backend, ws, scope, f, "activity", "a");
            in_window(&mut q, "a");
            q.expr(Expr::cust("o.owner_id, COUNT(*)"));
            q
        }
    };
    q.group_by_col((Alias::new("o"), Alias::new("owner_id")));
    c.fetch_all(&q).await
}

/// The filtered deals joined to their history. The history reports read only the rows and
/// columns they use, through `Conn::fetch_many`: at demo scale, handing rows over from
/// SQLite's driver cost more than the query itself.
fn with_history(backend: Backend, ws: WorkspaceId, scope: &DataScope, f: &ReportFilter) -> sea_query::SelectStatement {
    with_rows_of(backend, ws, scope, f, "opportunity_history", "h")
}

/// The history (`h`) of the deals the filter selects.
fn history_of(backend: Backend, ws: WorkspaceId, scope: &DataScope, f: &ReportFilter) -> sea_query::SelectStatement {
    if matches!(scope, DataScope::All) && !f.narrows_deals() {
        // Every deal counts, so the history is read alone: at 1,000,000 deals, looking up
        // the deal of each of 2.3 million passages took 11 of dwell's 12 seconds. Every
        // history row belongs to a deal of its workspace (they are written together, never
        // deleted).
        let mut q = sea_query::Query::select();
        q.from_as(Alias::new("opportunity_history"), Alias::new("h")).and_where(col("h", "workspace_id").eq(ws.to_string()));
        q
    } else {
        with_history(backend, ws, scope, f)
    }
}

/// The filtered deals (`o`) joined to the rows of `table` (as `alias`) that belong to them.
fn with_rows_of(backend: Backend, ws: WorkspaceId, scope: &DataScope, f: &ReportFilter, table: &str, alias: &str) -> sea_query::SelectStatement {
    let mut q = filtered(backend, ws, scope, f, false);
    q.join_as(
        JoinType::InnerJoin,
        Alias::new(table),
        Alias::new(alias),
        Cond::all()
            .add(col(alias, "workspace_id").equals((Alias::new("o"), Alias::new("workspace_id"))))
            .add(col(alias, "opportunity_id").equals((Alias::new("o"), Alias::new("opportunity_id")))),
    );
    q
}

/// A stage left (by a move or a close): how long the deal had been in it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct Passage {
    pub from_stage_id: String,
    pub days_in_stage: f64,
    pub working_days_in_stage: f64,
}

/// The passages out of one stage: the days each took, calendar and working, in the same order.
#[derive(Debug, Clone, Default)]
pub struct StagePassages {
    pub days: Vec<f64>,
    pub working_days: Vec<f64>,
}

/// The passages through stages that ended inside `[from, to)`, when given, per stage left.
pub async fn passages(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, f: &ReportFilter, ended: Option<(DateTime<Utc>, DateTime<Utc>)>) -> StoreResult<Vec<(String, StagePassages)>> {
    let mut q = history_of(c.backend(), ws, scope, f);
    q.and_where(col("h", "kind").is_in(["moved", "closed"]))
        .and_where(col("h", "from_stage_id").is_not_null())
        .and_where(col("h", "days_in_stage").is_not_null())
        .and_where(col("h", "working_days_in_stage").is_not_null());
    if let Some((a, b)) = ended {
        q.and_where(col("h", "at").gte(a)).and_where(col("h", "at").lt(b));
    }
    // PostgreSQL hands each stage's values over as two arrays: a row costs about a
    // microsecond to send and decode, an array's element a fraction of that.
    let mut per_stage = q.clone();
    per_stage
        .expr(Expr::cust("h.from_stage_id, array_agg(h.days_in_stage), array_agg(h.working_days_in_stage)"))
        .add_group_by([SimpleExpr::from(Expr::cust("h.from_stage_id"))]);
    if let Some(stages) = c.fetch_all_postgres::<(String, Vec<f64>, Vec<f64>)>(&per_stage).await {
        return Ok(stages?.into_iter().map(|(stage, days, working_days)| (stage, StagePassages { days, working_days })).collect());
    }
    q.expr(Expr::cust("h.from_stage_id, h.days_in_stage, h.working_days_in_stage"));
    // Any order: the statistics sort what they need.
    let rows: Vec<Passage> = c.fetch_many(&q, &["from_stage_id", "days_in_stage", "working_days_in_stage"], None).await?;
    let mut stages: std::collections::HashMap<String, StagePassages> = std::collections::HashMap::new();
    for p in rows {
        let s = stages.entry(p.from_stage_id).or_default();
        s.days.push(p.days_in_stage);
        s.working_days.push(p.working_days_in_stage);
    }
    Ok(stages.into_iter().collect())
}

/// Only the history's won closes, said literally so that their partial index
/// (`opportunity_history_won`, migration 0017) serves the query.
fn won_only(q: &mut sea_query::SelectStatement) {
    q.and_where(is_literally("h", "kind", "closed")).and_where(is_literally("h", "to_status", "won"));
}

/// A won close, with the deal's creation.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct WonClose {
    pub opportunity_id: String,
    pub at: DateTime<Utc>,
    /// Orders the events of one instant.
    pub history_id: String,
    pub created_at: DateTime<Utc>,
}

/// Every won close at or after `since` (every one when none) of the deals the filter
/// selects, in no particular order: the reports want each deal's last one, which needs no
/// sort. A deal's last won close is at or after every other, so those that fall in a period
/// are among the closes from its start on; the history's index of won closes, keyed by time,
/// finds them without looking at any deal that has none.
pub async fn won_closes(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    scope: &DataScope,
    f: &ReportFilter,
    (since, before): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> StoreResult<Vec<WonClose>> {
    let mut q = with_history(c.backend(), ws, scope, f);
    won_only(&mut q);
    if let Some(t) = since {
        q.and_where(col("h", "at").gte(t));
    }
    if let Some(t) = before {
        q.and_where(col("h", "at").lt(t));
    }
    q.expr(Expr::cust("h.opportunity_id, h.at, h.history_id, o.created_at"));
    c.fetch_many(&q, &["opportunity_id", "at", "history_id", "created_at"], None).await
}

/// The deals that entered a stage inside a window, and what became of them.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct StageCohort {
    pub stage_id: String,
    /// Deals created in the stage or moved into it inside the window.
    pub entered: i64,
    /// Of them, those that later reached a stage further on, or were won.
    pub advanced: i64,
    /// Of them, those later won.
    pub won: i64,
}

/// A won close's rank among the positions a deal reaches: beyond every stage.
const WON_REACH: i32 = i32::MAX;

/// The ids in `[from, before)`, either end open: a report that works deal by deal, or owner
/// by owner, can read two ranges side by side.
#[derive(Debug, Clone, Default)]
pub struct IdRange {
    pub from: Option<String>,
    pub before: Option<String>,
}

/// A range of deal ids.
pub type DealIds = IdRange;
/// A range of owner (user) ids.
pub type OwnerIds = IdRange;

impl IdRange {
    /// The two ranges below and from `middle`.
    pub fn halves(middle: String) -> [IdRange; 2] {
        [IdRange { from: None, before: Some(middle.clone()) }, IdRange { from: Some(middle), before: None }]
    }

    /// Keeps the rows of `alias` whose `column` falls in the range.
    fn narrow(&self, q: &mut sea_query::SelectStatement, alias: &str, column: &str) {
        if let Some(from) = &self.from {
            q.and_where(col(alias, column).gte(from.clone()));
        }
        if let Some(before) = &self.before {
            q.and_where(col(alias, column).lt(before.clone()));
        }
    }
}

/// The id that splits the workspace's deals in two halves of about the same size, if any.
pub async fn middle_deal_id(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Option<String>> {
    let middle: Option<(String,)> = c
        .fetch_optional(
            &crate::db::sql(
                "SELECT opportunity_id FROM opportunity WHERE workspace_id = $1 ORDER BY opportunity_id \
                 LIMIT 1 OFFSET (SELECT COUNT(*) / 2 FROM opportunity WHERE workspace_id = $2)",
            )
            .bind(ws.to_string())
            .bind(ws.to_string()),
        )
        .await?;
    Ok(middle.map(|(id,)| id))
}

/// The owner that splits the owners of the workspace's open deals in two halves of about
/// the same number of owners, if there are two or more. The owners are found one seek each
/// in the open deals' owner index (a loose index scan), not by reading the deals.
pub async fn middle_open_owner(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Option<String>> {
    // 'open' is written out, not bound: SQLite uses a partial index only for a literal.
    let next = "SELECT min(owner_id) FROM opportunity WHERE workspace_id = $1 AND status = 'open'";
    let middle: Option<(String,)> = c
        .fetch_optional(&crate::db::sql(format!(
            "WITH RECURSIVE owners(id) AS (SELECT ({next}) UNION ALL SELECT ({next} AND owner_id > owners.id) FROM owners WHERE owners.id IS NOT NULL) \
             SELECT id FROM owners WHERE id IS NOT NULL AND (SELECT COUNT(*) FROM owners WHERE id IS NOT NULL) >= 2 \
             ORDER BY id LIMIT 1 OFFSET (SELECT COUNT(*) / 2 FROM owners WHERE id IS NOT NULL)"
        ))
        .bind(ws.to_string()))
        .await?;
    Ok(middle.map(|(id,)| id))
}

/// Per stage, the cohort of deals that entered it inside `[from, to)` (or ever), each deal
/// counted once per stage: an entry advanced when any later event of the deal reached a
/// stage of a higher `position`, or won. Worked out in the database with a window over each
/// deal's events, so the report reads one row per stage. Only the deals of `deals` count.
pub async fn stage_cohorts(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    scope: &DataScope,
    f: &ReportFilter,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    positions: &[(String, i32)],
    deals: &DealIds,
) -> StoreResult<Vec<StageCohort>> {
    let mut events = history_of(c.backend(), ws, scope, f);
    events.and_where(col("h", "kind").is_in(["created", "moved", "closed"]));
    deals.narrow(&mut events, "h", "opportunity_id");
    // Events before the window cannot follow an entry inside it.
    if let Some((from, _)) = window {
        events.and_where(col("h", "at").gte(from));
    }
    let mut position = sea_query::CaseStatement::new();
    for (stage, pos) in positions {
        position = position.case(col("h", "to_stage_id").eq(stage.clone()), Expr::val(*pos));
    }
    let won = Cond::all().add(col("h", "kind").eq("closed")).add(col("h", "to_status").eq("won"));
    let reach = sea_query::CaseStatement::new().case(won, Expr::val(WON_REACH)).case(col("h", "kind").eq("closed"), Expr::cust("CAST(NULL AS INTEGER)")).finally(position.finally(Expr::cust("CAST(NULL AS INTEGER)")));
    let inside: SimpleExpr = match window {
        Some((_, to)) => sea_query::CaseStatement::new().case(col("h", "at").lt(to), Expr::val(1)).finally(Expr::val(0)).into(),
        None => Expr::val(1).into(),
    };
    events
        .expr_as(Expr::cust("h.opportunity_id"), Alias::new("opp"))
        .expr_as(Expr::cust("h.at"), Alias::new("at"))
        .expr_as(Expr::cust("h.history_id"), Alias::new("hid"))
        .expr_as(Expr::cust("h.kind"), Alias::new("kind"))
        .expr_as(Expr::cust("h.to_stage_id"), Alias::new("stage"))
        .expr_as(reach, Alias::new("reach"))
        .expr_as(inside, Alias::new("inside"));
    // Each entry, with the furthest any later event of its deal reached.
    let later = "OVER (PARTITION BY e.opp ORDER BY e.at, e.hid ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)";
    let mut entries = sea_query::Query::select();
    entries.from_subquery(events, Alias::new("e")).expr(Expr::cust(format!(
        "e.opp, e.stage, e.kind, e.inside, e.reach, \
         CASE WHEN MAX(e.reach) {later} > e.reach THEN 1 ELSE 0 END AS advanced, \
         CASE WHEN MAX(e.reach) {later} = {WON_REACH} THEN 1 ELSE 0 END AS won"
    )));
    let mut per_deal = sea_query::Query::select();
    per_deal
        .from_subquery(entries, Alias::new("x"))
        .expr(Expr::cust("x.opp, x.stage, MAX(x.advanced) AS advanced, MAX(x.won) AS won"))
        .and_where(Expr::cust("x.kind IN ('created', 'moved') AND x.inside = 1 AND x.reach IS NOT NULL"))
        .add_group_by([Expr::cust("x.opp"), Expr::cust("x.stage")].map(SimpleExpr::from));
    let mut per_stage = sea_query::Query::select();
    per_stage
        .from_subquery(per_deal, Alias::new("y"))
        .expr(Expr::cust("y.stage AS stage_id, COUNT(*) AS entered, CAST(SUM(y.advanced) AS BIGINT) AS advanced, CAST(SUM(y.won) AS BIGINT) AS won"))
        .add_group_by([SimpleExpr::from(Expr::cust("y.stage"))]);
    c.fetch_all(&per_stage).await
}

/// When the pipeline's changes happened, as the first key of their groups.
#[derive(Debug, Clone)]
pub enum ChangedWhen {
    /// Not told apart.
    Any,
    /// The day (YYYY-MM-DD) in a time zone this many minutes east of UTC.
    Day(i32),
    /// The index (as text) of the first of these ascending instants the change came before.
    Before(Vec<DateTime<Utc>>),
}

/// What the pipeline's changes are grouped by besides when and the currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangedKey {
    Nothing,
    Stage,
    /// The expected close (YYYY-MM-DD).
    ExpectedClose,
    /// The first day of the expected close's month (YYYY-MM-01): enough for reports of whole
    /// months, and what the rolled-up changes (`pipeline_rollup`) can give.
    ExpectedCloseMonth,
}

/// Which changes of the open pipeline to sum, and how to group them.
#[derive(Debug, Clone)]
pub struct PipelineChanges {
    /// The changes at or after this instant (from the first, when none).
    pub from: Option<DateTime<Utc>>,
    /// The changes before this instant (up to now, when none).
    pub before: Option<DateTime<Utc>>,
    pub when: ChangedWhen,
    pub key: ChangedKey,
    /// Only what was open with an expected close inside `[from, to)`.
    pub closing_between: Option<(NaiveDate, NaiveDate)>,
}

/// One side of the open pipeline's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSide {
    /// The deals as the events left them, where open.
    Made,
    /// The deals as they stood before the events, where open (negative counts and sums).
    TakenAway,
}

/// How the open pipeline changed: every history event adds the deal as it stood after the
/// event when that was open, and takes away the deal as it stood before when that was open
/// (`key(0)`: when, `key(1)`: the key; counts and amounts negative for what was taken away).
/// Summed over a deal's events, the changes give its state now, so the open pipeline at an
/// instant is the open pipeline now less the changes since: a report of recent weeks reads
/// the recent events only, without replaying any deal. The two sides are separate scans of
/// separate indexes, so they can run side by side.
pub async fn pipeline_changes(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, f: &ReportFilter, what: &PipelineChanges, side: ChangeSide) -> StoreResult<Vec<GroupTotals>> {
    let backend = c.backend();
    let (was, sign) = match side {
        ChangeSide::Made => ("", ""),
        ChangeSide::TakenAway => ("was_", "-"),
    };
    let mut q = history_of(backend, ws, scope, f);
    q.and_where(is_literally("h", &format!("{was}status"), "open"));
    if let Some(from) = what.from {
        q.and_where(col("h", "at").gte(from));
    }
    if let Some(before) = what.before {
        q.and_where(col("h", "at").lt(before));
    }
    if let Some((from, to)) = what.closing_between {
        let close = format!("{was}close_date");
        q.and_where(col("h", &close).gte(from)).and_where(col("h", &close).lt(to));
    }
    // The keys are grouped as the database stores them and written as text only for the
    // groups (see `local_date`).
    let when = match &what.when {
        ChangedWhen::Any => Expr::cust("CAST(NULL AS TEXT)"),
        ChangedWhen::Day(offset) => local_date("h.at", *offset, backend),
        ChangedWhen::Before(instants) => {
            let mut case = sea_query::CaseStatement::new();
            for (i, t) in instants.iter().enumerate() {
                case = case.case(col("h", "at").lt(*t), Expr::val(i.to_string()));
            }
            case.finally(Expr::val(instants.len().to_string())).into()
        }
    };
    let key = match what.key {
        ChangedKey::Nothing => "CAST(NULL AS TEXT)".to_string(),
        ChangedKey::Stage => format!("h.{was}stage_id"),
        ChangedKey::ExpectedClose => format!("h.{was}close_date"),
        ChangedKey::ExpectedCloseMonth => match backend {
            Backend::Sqlite => format!("strftime('%Y-%m-01', h.{was}close_date)"),
            Backend::Postgres => format!("to_char(h.{was}close_date, 'YYYY-MM') || '-01'"),
        },
    };
    q.expr_as(when, Alias::new("k0")).expr_as(Expr::cust(key), Alias::new("k1"));
    let (amount, probability) = (format!("h.{was}amount"), format!("h.{was}probability"));
    q.expr(Expr::cust(format!(
        "h.{was}currency AS currency, {}, {}",
        amount_sums(&amount, sign),
        weighted_sums(&amount, &probability, sign)
    )));
    q.add_group_by([1, 2, 3].map(|i| SimpleExpr::from(Expr::cust(i.to_string()))));
    let mut groups = sea_query::Query::select();
    groups.from_subquery(q, Alias::new("g")).expr(Expr::cust(
        "CAST(g.k0 AS TEXT) AS k0, CAST(g.k1 AS TEXT) AS k1, CAST(NULL AS TEXT) AS k2, CAST(NULL AS TEXT) AS k3, CAST(NULL AS TEXT) AS k4, \
         g.currency, g.deals, g.amount_hi, g.amount_lo, g.weighted_hi, g.weighted_lo, CAST(0 AS DOUBLE PRECISION) AS health_chain",
    ));
    fetch_totals(c, &groups).await
}

/// When the workspace's history begins: the time of its first stored event, if any.
pub async fn first_change_at(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Option<DateTime<Utc>>> {
    end_of_history(c, ws, sea_query::Order::Asc).await
}

/// When the workspace's last event happened, if it has any.
pub async fn last_change_at(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Option<DateTime<Utc>>> {
    end_of_history(c, ws, sea_query::Order::Desc).await
}

/// The time of the workspace's first or last event: one entry at an end of its index, however
/// PostgreSQL plans the statement.
async fn end_of_history(c: &mut Conn<'_>, ws: WorkspaceId, end: sea_query::Order) -> StoreResult<Option<DateTime<Utc>>> {
    let mut q = sea_query::Query::select();
    q.column(Alias::new("at"))
        .from(Alias::new("opportunity_history"))
        .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
        .order_by(Alias::new("at"), end)
        .limit(1);
    Ok(c.fetch_optional::<(DateTime<Utc>,)>(&q).await?.map(|(at,)| at))
}

/// An event with the deal's state before it (`was_*`, none for a deal's first event) and
/// after it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct StateChange {
    pub opportunity_id: String,
    pub at: DateTime<Utc>,
    pub history_id: String,
    pub stage_id: Option<String>,
    pub status: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub probability: i64,
    pub close_date: Option<NaiveDate>,
    pub was_stage_id: Option<String>,
    pub was_status: Option<String>,
    pub was_amount: Option<i64>,
    pub was_currency: Option<String>,
    pub was_probability: Option<i64>,
    pub was_close_date: Option<NaiveDate>,
}

/// A `StateChange`'s columns, in the order its fields are read.
pub(crate) const STATE_CHANGE_COLUMNS: [&str; 15] = [
    "opportunity_id", "at", "history_id", "stage_id", "status", "amount", "currency", "probability", "close_date", "was_stage_id", "was_status",
    "was_amount", "was_currency", "was_probability", "was_close_date",
];

/// The events after `after`, up to and including `until`, of the deals the filter selects,
/// in time order per deal: the first one's before-state is the deal at `after`, the last
/// one's after-state the deal at `until`. Sorted here rather than in SQL: over two years at
/// 100,500 deals SQLite's sorter took 0.3 s of the query's 0.67 s, and PostgreSQL's spilled
/// to disk, where sorting the rows in memory takes a fraction of that.
pub async fn state_changes(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, f: &ReportFilter, after: DateTime<Utc>, until: DateTime<Utc>) -> StoreResult<Vec<StateChange>> {
    let mut q = history_of(c.backend(), ws, scope, f);
    q.and_where(col("h", "at").gt(after)).and_where(col("h", "at").lte(until));
    q.expr(Expr::cust(STATE_CHANGE_COLUMNS.map(|c| format!("h.{c}")).join(", ")));
    let mut changes: Vec<StateChange> = c.fetch_many(&q, &STATE_CHANGE_COLUMNS, None).await?;
    changes.sort_unstable_by(in_deal_order);
    Ok(changes)
}

/// The first `limit` deals, in id order, that the filter selects and whose status now is one
/// of `statuses`.
pub async fn deal_ids(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, f: &ReportFilter, statuses: &[&str], limit: u64) -> StoreResult<Vec<String>> {
    let mut q = filtered(c.backend(), ws, scope, f, false);
    q.and_where(col("o", "status").is_in(statuses.iter().map(|s| s.to_string())))
        .expr(Expr::cust("o.opportunity_id"))
        .order_by((Alias::new("o"), Alias::new("opportunity_id")), sea_query::Order::Asc)
        .limit(limit);
    Ok(c.fetch_all::<(String,)>(&q).await?.into_iter().map(|(id,)| id).collect())
}

/// Each deal's events together, in time order (then by id: the order of one instant's).
pub(crate) fn in_deal_order(x: &StateChange, y: &StateChange) -> std::cmp::Ordering {
    (&x.opportunity_id, x.at, &x.history_id).cmp(&(&y.opportunity_id, y.at, &y.history_id))
}

/// A won close and the amount won.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct WonAmount {
    pub opportunity_id: String,
    pub at: DateTime<Utc>,
    /// Orders the events of one instant.
    pub history_id: String,
    pub amount: i64,
    pub currency: String,
}

/// The won closes inside `[from, to)` of the deals the filter selects, in no particular order.
pub async fn won_between(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, f: &ReportFilter, between: (DateTime<Utc>, DateTime<Utc>)) -> StoreResult<Vec<WonAmount>> {
    let mut q = history_of(c.backend(), ws, scope, f);
    won_only(&mut q);
    q.and_where(col("h", "at").gte(between.0)).and_where(col("h", "at").lt(between.1));
    q.expr(Expr::cust("h.opportunity_id, h.at, h.history_id, h.amount, h.currency"));
    c.fetch_many(&q, &["opportunity_id", "at", "history_id", "amount", "currency"], None).await
}
