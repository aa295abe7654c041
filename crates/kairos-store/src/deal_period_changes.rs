//! Each deal's change over a local month, quarter and year (migration 0027): its state before
//! its first event of the period and after its last. The movement report of a calendar period
//! for the whole workspace sums these rows, one per deal, instead of every event of the period;
//! a run of whole months reads the fewest periods that make it up and folds them per deal.
//!
//! A period runs from just after the local midnight that starts it up to and including the
//! one that ends it, as the movement report's period `(a, b]` does (the pipeline at an instant
//! includes the events at that instant). Each write of a deal's history updates the deal's row
//! of each period it writes into, keeping the earlier first event's before-state and the later
//! last event's after-state: a row ends the same in whatever order its events are written, and
//! one deal's writes touch only its own rows, so there is nothing to fold. Workspaces built
//! before the table are built when Kairos migrates (`build_missing`).

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use kairos_domain::ids::WorkspaceId;
use sea_query::{Alias, BinOper, Expr, OnConflict, Query, SelectStatement, SimpleExpr};

use crate::db::{Conn, PlannedWithItsValues, sql};
use crate::error::StoreResult;
use crate::reports::{STATE_CHANGE_COLUMNS, StateChange, in_deal_order, joined, split_sum};
use crate::rollup::{self, local_day, start_of_local_day};

const TABLE: &str = "deal_period_change";
const BUILT: &str = "deal_period_change_built";

/// A deal's state beside one of its events, as the history stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct DealSide {
    pub stage_id: Option<String>,
    pub status: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub probability: i64,
    pub close_date: Option<NaiveDate>,
}

/// An event of a deal's history with the deal's state before it (none for its first event)
/// and after it.
#[derive(Debug, Clone)]
pub struct DealEvent {
    pub at: DateTime<Utc>,
    pub history_id: String,
    pub was: Option<DealSide>,
    pub after: DealSide,
}

/// How long a period of the rows runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Month,
    Quarter,
    Year,
}

impl Span {
    const ALL: [Span; 3] = [Span::Month, Span::Quarter, Span::Year];

    fn name(self) -> &'static str {
        match self {
            Span::Month => "month",
            Span::Quarter => "quarter",
            Span::Year => "year",
        }
    }

    fn months(self) -> u32 {
        match self {
            Span::Month => 1,
            Span::Quarter => 3,
            Span::Year => 12,
        }
    }
}

/// A local month, quarter or year, as the rows name it: `2026-11`, `2026-Q4`, `2026`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarPeriod {
    span: Span,
    key: String,
}

impl CalendarPeriod {
    /// The period of `span` that holds the local day `day`.
    fn holding(span: Span, day: NaiveDate) -> CalendarPeriod {
        let (year, month) = (day.year(), day.month());
        let key = match span {
            Span::Month => format!("{year:04}-{month:02}"),
            Span::Quarter => format!("{year:04}-Q{}", (month - 1) / 3 + 1),
            Span::Year => format!("{year:04}"),
        };
        CalendarPeriod { span, key }
    }
}

/// The periods an event at `at` counts in (its month, quarter and year): an event at exactly
/// the midnight that starts one counts in the one before.
fn periods_of(at: DateTime<Utc>) -> [CalendarPeriod; 3] {
    let day = local_day(at - Duration::microseconds(1));
    Span::ALL.map(|span| CalendarPeriod::holding(span, day))
}

/// A deal's events of one period: the first one's before-state, the last one's after-state.
#[derive(Debug, Clone)]
struct PeriodChange {
    period: CalendarPeriod,
    opportunity_id: String,
    first: (DateTime<Utc>, String),
    was: Option<DealSide>,
    last: (DateTime<Utc>, String),
    after: DealSide,
}

/// `events` (of one deal) folded into one change per period they fall in.
fn by_period(opportunity_id: &str, events: impl IntoIterator<Item = DealEvent>) -> Vec<PeriodChange> {
    let mut changes: Vec<PeriodChange> = Vec::new();
    for e in events {
        let key = (e.at, e.history_id.clone());
        for period in periods_of(e.at) {
            match changes.iter_mut().find(|m| m.period == period) {
                Some(m) => {
                    if key < m.first {
                        m.first = key.clone();
                        m.was = e.was.clone();
                    }
                    if key > m.last {
                        m.last = key.clone();
                        m.after = e.after.clone();
                    }
                }
                None => changes.push(PeriodChange {
                    period,
                    opportunity_id: opportunity_id.to_string(),
                    first: key.clone(),
                    was: e.was.clone(),
                    last: key.clone(),
                    after: e.after.clone(),
                }),
            }
        }
    }
    changes
}

const COLUMNS: [&str; 20] = [
    "workspace_id", "span", "period", "opportunity_id", "first_at", "first_history_id", "was_stage_id", "was_status", "was_amount", "was_currency",
    "was_probability", "was_close_date", "last_at", "last_history_id", "stage_id", "status", "amount", "currency", "probability", "close_date",
];

/// The columns a row's first event decides, and those its last event decides.
const FIRST_COLUMNS: [&str; 8] = ["first_at", "first_history_id", "was_stage_id", "was_status", "was_amount", "was_currency", "was_probability", "was_close_date"];
const LAST_COLUMNS: [&str; 8] = ["last_at", "last_history_id", "stage_id", "status", "amount", "currency", "probability", "close_date"];

/// Writes `changes`, each merged into the row already stored for its deal and period.
async fn write(c: &mut Conn<'_>, ws: WorkspaceId, changes: &[PeriodChange]) -> StoreResult<()> {
    let earlier = format!("(excluded.first_at < {TABLE}.first_at OR (excluded.first_at = {TABLE}.first_at AND excluded.first_history_id < {TABLE}.first_history_id))");
    let later = format!("(excluded.last_at > {TABLE}.last_at OR (excluded.last_at = {TABLE}.last_at AND excluded.last_history_id > {TABLE}.last_history_id))");
    let merged: Vec<(Alias, SimpleExpr)> = FIRST_COLUMNS
        .iter()
        .map(|col| (col, &earlier))
        .chain(LAST_COLUMNS.iter().map(|col| (col, &later)))
        .map(|(col, wins)| (Alias::new(*col), Expr::cust(format!("CASE WHEN {wins} THEN excluded.{col} ELSE {TABLE}.{col} END"))))
        .collect();
    let on_conflict = OnConflict::columns(["workspace_id", "span", "period", "opportunity_id"].map(Alias::new)).values(merged).to_owned();
    // 20 values a row, well under either database's limit on a statement's parameters. (As
    // sea-query renders them: SQLite looks a `$n` up by name, which made a statement of a
    // thousand rows take 1.7 s.)
    for chunk in changes.chunks(1_000) {
        let mut q = Query::insert();
        q.into_table(Alias::new(TABLE)).columns(COLUMNS.map(Alias::new)).on_conflict(on_conflict.clone());
        for m in chunk {
            let was = m.was.as_ref();
            let row: [SimpleExpr; 20] = [
                ws.to_string().into(),
                m.period.span.name().into(),
                m.period.key.clone().into(),
                m.opportunity_id.clone().into(),
                m.first.0.into(),
                m.first.1.clone().into(),
                was.and_then(|s| s.stage_id.clone()).into(),
                was.and_then(|s| s.status.clone()).into(),
                was.map(|s| s.amount).into(),
                was.map(|s| s.currency.clone()).into(),
                was.map(|s| s.probability).into(),
                was.and_then(|s| s.close_date).into(),
                m.last.0.into(),
                m.last.1.clone().into(),
                m.after.stage_id.clone().into(),
                m.after.status.clone().into(),
                m.after.amount.into(),
                m.after.currency.clone().into(),
                m.after.probability.into(),
                m.after.close_date.into(),
            ];
            q.values_panic(row);
        }
        c.execute(&q).await?;
    }
    Ok(())
}

/// A row's own movement categories (`moved`, migration 0028, which says what each bit is),
/// from the row's columns.
const MOVED: &str = "CASE \
     WHEN was_status IS NULL THEN CASE WHEN COALESCE(status, 'open') = 'open' THEN 1 WHEN status = 'won' THEN 2 ELSE 4 END \
     WHEN was_status <> 'open' THEN 0 \
     WHEN COALESCE(status, 'open') <> 'open' THEN CASE WHEN status = 'won' THEN 2 ELSE 4 END \
     ELSE 512 \
     + CASE WHEN close_date > was_close_date THEN 8 WHEN close_date < was_close_date THEN 16 ELSE 0 END \
     + CASE WHEN amount > COALESCE(was_amount, 0) THEN 32 WHEN amount < COALESCE(was_amount, 0) THEN 64 ELSE 0 END \
     END";

/// Records a deal's new history events (just written), and the categories of the rows they
/// changed.
pub(crate) async fn record(c: &mut Conn<'_>, ws: WorkspaceId, opportunity_id: &str, events: Vec<DealEvent>) -> StoreResult<()> {
    let changes = by_period(opportunity_id, events);
    if changes.is_empty() {
        return Ok(());
    }
    write(c, ws, &changes).await?;
    // One statement for every row just merged (a move merges three), not one a row. A key
    // names its span (`2026-11`, `2026-Q4`, `2026`), so the cross of the spans and the keys
    // finds exactly those rows, each from the primary key.
    let keys: Vec<String> = (0..changes.len()).map(|i| format!("${}", i + 3)).collect();
    let moved = sql(format!(
        "UPDATE {TABLE} SET moved = {MOVED} WHERE workspace_id = $1 AND span IN ('month', 'quarter', 'year') AND period IN ({}) AND opportunity_id = $2",
        keys.join(", ")
    ));
    let moved = changes.iter().fold(moved.bind(ws.to_string()).bind(opportunity_id.to_string()), |q, change| q.bind(change.period.key.clone()));
    c.execute(&moved).await?;
    Ok(())
}

impl DealEvent {
    /// An event as the history stores it.
    fn stored(s: StateChange) -> DealEvent {
        let was = s.was_currency.map(|currency| DealSide {
            stage_id: s.was_stage_id,
            status: s.was_status,
            amount: s.was_amount.unwrap_or(0),
            currency,
            probability: s.was_probability.unwrap_or(0),
            close_date: s.was_close_date,
        });
        let after = DealSide { stage_id: s.stage_id, status: s.status, amount: s.amount, currency: s.currency, probability: s.probability, close_date: s.close_date };
        DealEvent { at: s.at, history_id: s.history_id, was, after }
    }
}

/// Builds the workspace's rows from its history, a month of events at a time (at a million
/// deals, some 330,000), each month's merged into its quarter's and year's rows.
async fn rebuild(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<()> {
    c.execute(&sql(format!("DELETE FROM {TABLE} WHERE workspace_id = $1")).bind(ws.to_string())).await?;
    let span: Option<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)> =
        c.fetch_optional(&sql("SELECT MIN(at), MAX(at) FROM opportunity_history WHERE workspace_id = $1").bind(ws.to_string())).await?;
    if let Some((Some(first), Some(last))) = span {
        let mut month = local_day(first - Duration::microseconds(1)).with_day(1).unwrap_or(NaiveDate::MIN);
        loop {
            let from = start_of_local_day(month);
            if from >= last {
                break;
            }
            let next = month.checked_add_months(chrono::Months::new(1)).unwrap_or(NaiveDate::MAX);
            let until = start_of_local_day(next);
            let read = sql(format!("SELECT {} FROM opportunity_history WHERE workspace_id = $1 AND at > $2 AND at <= $3", STATE_CHANGE_COLUMNS.join(", ")))
                .bind(ws.to_string())
                .bind(from)
                .bind(until);
            let mut events: Vec<StateChange> = c.fetch_many(&read, &STATE_CHANGE_COLUMNS, None).await?;
            events.sort_unstable_by(in_deal_order);
            let mut changes = Vec::new();
            for deal in events.chunk_by(|x, y| x.opportunity_id == y.opportunity_id) {
                changes.extend(by_period(&deal[0].opportunity_id, deal.iter().cloned().map(DealEvent::stored)));
            }
            write(c, ws, &changes).await?;
            month = next;
        }
    }
    // Each row's categories once it holds all its events.
    c.execute(&sql(format!("UPDATE {TABLE} SET moved = {MOVED} WHERE workspace_id = $1")).bind(ws.to_string())).await?;
    mark_built(c, ws).await
}

/// Builds the rows of every workspace that has none yet (one made before migration 0027);
/// answers how many it built.
pub async fn build_missing(c: &mut Conn<'_>) -> StoreResult<usize> {
    let workspaces = rollup::workspaces_to_build(c, TABLE, BUILT).await?;
    for ws in &workspaces {
        rebuild(c, *ws).await?;
    }
    Ok(workspaces.len())
}

/// Marks a workspace's rows as built: a new workspace's (none yet), or a rebuild's.
pub async fn mark_built(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<()> {
    rollup::mark_built(c, BUILT, ws).await
}

/// The fewest periods whose rows hold exactly the events of `(a, b]`, in time order: `a` a
/// local midnight that starts a month, `b` one too or an instant no event comes after. A
/// month, a quarter or a year is one period; a run of months takes the years, then the
/// quarters it holds whole. `None` when the rows cannot answer the period.
pub async fn periods_between(c: &mut Conn<'_>, ws: WorkspaceId, (a, b): (DateTime<Utc>, DateTime<Utc>)) -> StoreResult<Option<Vec<CalendarPeriod>>> {
    let starts_a_month = |t: DateTime<Utc>| rollup::is_midnight(t) && local_day(t).day() == 1;
    if !starts_a_month(a) || b <= a {
        return Ok(None);
    }
    // Not "an event after `b`": PostgreSQL's generic plan for that, kept after five runs on a
    // connection, walked every event of the workspace looking for one after now (600 ms at a
    // million deals, on each request for this quarter or this year).
    if !starts_a_month(b) && crate::reports::last_change_at(c, ws).await?.is_some_and(|last| last > b) {
        return Ok(None);
    }
    Ok(Some(cover(local_day(a), local_day(b - Duration::microseconds(1)))))
}

/// The fewest periods that make up the months from `first`'s to `last`'s: the years, then the
/// quarters, the run holds whole, and its other months.
fn cover(first: NaiveDate, last: NaiveDate) -> Vec<CalendarPeriod> {
    let (mut month, last) = (first.with_day(1).unwrap_or(first), last.with_day(1).unwrap_or(last));
    let mut periods = Vec::new();
    while month <= last {
        let whole = |span: Span| {
            let starts = (month.month() - 1) % span.months() == 0;
            starts && month.checked_add_months(chrono::Months::new(span.months() - 1)).is_some_and(|end| end <= last)
        };
        let span = [Span::Year, Span::Quarter].into_iter().find(|s| whole(*s)).unwrap_or(Span::Month);
        periods.push(CalendarPeriod::holding(span, month));
        let Some(next) = month.checked_add_months(chrono::Months::new(span.months())) else { break };
        month = next;
    }
    periods
}

/// The rows of one period, of the whole workspace.
fn rows_of(ws: WorkspaceId, period: &CalendarPeriod) -> SelectStatement {
    let mut q = Query::select();
    q.from(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
        .and_where(Expr::col(Alias::new("span")).eq(period.span.name()))
        .and_where(Expr::col(Alias::new("period")).eq(period.key.clone()));
    q
}

/// The changes of these periods (`periods_between`), one per deal and period, as events:
/// each one's before-state the deal's before its first event of the period, its after-state
/// the deal's after its last (and its time and id the first event's). In time order per
/// deal, as `reports::state_changes` answers.
pub async fn changes(c: &mut Conn<'_>, ws: WorkspaceId, periods: &[CalendarPeriod]) -> StoreResult<Vec<StateChange>> {
    let mut changes: Vec<StateChange> = Vec::new();
    for period in periods {
        let mut q = rows_of(ws, period);
        q.expr(Expr::cust(format!("opportunity_id, first_at AS at, first_history_id AS history_id, {}", STATE_CHANGE_COLUMNS[3..].join(", "))));
        changes.extend(c.fetch_many::<StateChange>(&q, &STATE_CHANGE_COLUMNS, None).await?);
    }
    changes.sort_unstable_by(in_deal_order);
    Ok(changes)
}

/// The movement report's categories, in the order of their bits in a mask: category `i` is
/// bit `1 << i`. The first seven are the row's own (`moved`); advanced and regressed compare
/// the positions of its stages.
pub const CATEGORIES: [&str; 9] = ["new", "won", "lost", "pushed_out", "pulled_in", "value_up", "value_down", "advanced", "regressed"];

/// `moved`'s bits of the row's own categories, and its bit for a deal open at both ends.
const OWN_CATEGORIES: i64 = 127;
const OPEN_AT_BOTH_ENDS: i64 = 512;
const ADVANCED: i64 = 128;
const REGRESSED: i64 = 256;

/// The deals of one currency that fell in the same categories over a period.
#[derive(Debug, Clone)]
pub struct CategoryGroup {
    /// Which categories (`CATEGORIES`): bit `i` set for category `i`.
    pub mask: i64,
    pub currency: String,
    pub deals: i64,
    /// Σ the deals' amounts after the period's last event, in the currency's minor units.
    pub amount: i128,
    /// Σ how far each deal's amount moved over the period, up or down.
    pub change: i128,
}

impl CategoryGroup {
    pub fn in_category(&self, i: usize) -> bool {
        self.mask & (1 << i) != 0
    }
}

/// The rows of one `moved` mask, currency and pair of stages, summed.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
struct MovedSums {
    moved: i64,
    currency: String,
    was_stage_id: Option<String>,
    stage_id: Option<String>,
    deals: i64,
    amount_hi: i64,
    amount_lo: i64,
    change_hi: i64,
    change_lo: i64,
}

/// The advanced or regressed bit of a deal open at both ends, from its stages' positions.
fn stage_move(positions: &HashMap<&str, i32>, was: Option<&str>, now: Option<&str>) -> i64 {
    match (was.and_then(|s| positions.get(s)), now.and_then(|s| positions.get(s))) {
        (Some(x), Some(y)) if y > x => ADVANCED,
        (Some(x), Some(y)) if y < x => REGRESSED,
        _ => 0,
    }
}

/// A period's rows with their movement categories as a mask (`CATEGORIES`): the row's own
/// (`moved`), and for a deal open at both ends whether its stage's position in `positions`
/// went up or down. `after` skips the deals up to it.
fn categorised(ws: WorkspaceId, period: &CalendarPeriod, positions: &[(String, i32)], after: Option<&str>) -> SelectStatement {
    let position_of = |column: &str| -> SimpleExpr {
        let whens = positions.iter().fold(sea_query::CaseStatement::new(), |case, (id, position)| {
            case.case(Expr::col(Alias::new(column)).eq(id.clone()), Expr::val(i64::from(*position)))
        });
        if positions.is_empty() { Expr::cust("CAST(NULL AS BIGINT)") } else { whens.into() }
    };
    let mut rows = rows_of(ws, period);
    rows.expr(Expr::cust("opportunity_id, moved"))
        .expr_as(position_of("stage_id"), Alias::new("position"))
        .expr_as(position_of("was_stage_id"), Alias::new("was_position"))
        .and_where(Expr::cust("moved <> 0"));
    if let Some(after) = after {
        rows.and_where(Expr::col(Alias::new("opportunity_id")).gt(after));
    }
    let both = format!("(r.moved & {OPEN_AT_BOTH_ENDS}) <> 0");
    let mask = format!(
        "CAST((r.moved & {OWN_CATEGORIES}) + CASE WHEN {both} AND r.position > r.was_position THEN {ADVANCED} \
         WHEN {both} AND r.position < r.was_position THEN {REGRESSED} ELSE 0 END AS BIGINT)"
    );
    let mut q = Query::select();
    q.from_subquery(rows, Alias::new("r")).expr(Expr::cust("r.opportunity_id")).expr_as(Expr::cust(mask), Alias::new("mask"));
    q
}

/// What moved over one period (a month, a quarter or a year) for the whole workspace: its
/// deals per categories and currency, and the first `limit` deals of each category in id order.
pub struct PeriodMovement {
    pub groups: Vec<CategoryGroup>,
    pub ids: [Vec<String>; 9],
}

/// Reads `movement` of one period from its rows: the sums per `moved`, currency and pair of
/// stages in one pass over their index (in the groups' order, so without a sort), then the ids
/// in pages, each page asking only for the categories still short (a rare category's deals
/// come from a walk of the rest of the period that hands over only its own).
pub async fn movement(c: &mut Conn<'_>, ws: WorkspaceId, period: &CalendarPeriod, positions: &[(String, i32)], limit: usize) -> StoreResult<PeriodMovement> {
    let mut q = rows_of(ws, period);
    q.expr(Expr::cust(format!(
        "moved, currency, was_stage_id, stage_id, COUNT(*) AS deals, {}, {}",
        split_sum("amount", "amount", ""),
        split_sum("ABS(amount - COALESCE(was_amount, 0))", "change", "")
    )))
    .and_where(Expr::cust("moved <> 0"))
    .add_group_by(["moved", "currency", "was_stage_id", "stage_id"].map(|c| SimpleExpr::from(Expr::col(Alias::new(c)))));
    let columns = ["moved", "currency", "was_stage_id", "stage_id", "deals", "amount_hi", "amount_lo", "change_hi", "change_lo"];
    // Planned for the period each time (the sums and the id pages alike): after five runs on a
    // connection PostgreSQL may settle on a generic plan, made without the period, and one
    // that suits a month does not suit a year.
    let sums: Vec<MovedSums> = c.fetch_many(&PlannedWithItsValues(q), &columns, None).await?;
    let position: HashMap<&str, i32> = positions.iter().map(|(id, p)| (id.as_str(), *p)).collect();
    let mut groups: Vec<CategoryGroup> = Vec::new();
    for s in sums {
        let mut mask = s.moved & OWN_CATEGORIES;
        if s.moved & OPEN_AT_BOTH_ENDS != 0 {
            mask |= stage_move(&position, s.was_stage_id.as_deref(), s.stage_id.as_deref());
        }
        if mask == 0 {
            continue;
        }
        let (amount, change) = (joined(s.amount_hi, s.amount_lo), joined(s.change_hi, s.change_lo));
        match groups.iter_mut().find(|g| g.mask == mask && g.currency == s.currency) {
            Some(g) => {
                g.deals += s.deals;
                g.amount += amount;
                g.change += change;
            }
            None => groups.push(CategoryGroup { mask, currency: s.currency, deals: s.deals, amount, change }),
        }
    }
    let mut wanted = [0usize; 9];
    for g in &groups {
        for (i, w) in wanted.iter_mut().enumerate() {
            if g.in_category(i) {
                *w = (*w + usize::try_from(g.deals).unwrap_or(0)).min(limit);
            }
        }
    }
    const PAGE: u64 = 4_000;
    let mut ids: [Vec<String>; 9] = Default::default();
    let mut after: Option<String> = None;
    loop {
        let short: i64 = (0..9).filter(|&i| ids[i].len() < wanted[i]).map(|i| 1 << i).sum();
        if short == 0 {
            break;
        }
        let mut q = Query::select();
        q.from_subquery(categorised(ws, period, positions, after.as_deref()), Alias::new("m"))
            .expr(Expr::cust("m.opportunity_id, m.mask"))
            .and_where(SimpleExpr::Binary(Box::new(Expr::cust("m.mask")), BinOper::BitAnd, Box::new(short.into())).ne(0))
            .order_by((Alias::new("m"), Alias::new("opportunity_id")), sea_query::Order::Asc)
            .limit(PAGE);
        let mut page: Vec<(String, i64)> = c.fetch_many(&PlannedWithItsValues(q), &["opportunity_id", "mask"], None).await?;
        page.sort_unstable();
        let last_page = (page.len() as u64) < PAGE;
        for (id, mask) in &page {
            for (i, list) in ids.iter_mut().enumerate() {
                if mask & short & (1 << i) != 0 && list.len() < wanted[i] {
                    list.push(id.clone());
                }
            }
        }
        if last_page {
            break;
        }
        after = page.pop().map(|(id, _)| id);
    }
    Ok(PeriodMovement { groups, ids })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn side(stage: &str, amount: i64) -> DealSide {
        DealSide { stage_id: Some(stage.into()), status: Some("open".into()), amount, currency: "CNY".into(), probability: 10, close_date: None }
    }

    fn event(at: &str, id: &str, was: Option<DealSide>, after: DealSide) -> DealEvent {
        DealEvent { at: t(at), history_id: id.into(), was, after }
    }

    fn keys(periods: &[CalendarPeriod]) -> Vec<&str> {
        periods.iter().map(|p| p.key.as_str()).collect()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn an_event_at_the_midnight_that_starts_a_period_counts_in_the_one_before() {
        // UTC+8: 2026-12-31T16:00Z is the local midnight that starts 2027.
        assert_eq!(keys(&periods_of(t("2026-12-31T16:00:00Z"))), ["2026-12", "2026-Q4", "2026"]);
        assert_eq!(keys(&periods_of(t("2026-12-31T16:00:00.000001Z"))), ["2027-01", "2027-Q1", "2027"]);
        assert_eq!(keys(&periods_of(t("2026-10-31T16:00:00.000001Z"))), ["2026-11", "2026-Q4", "2026"]);
        assert_eq!(periods_of(t("2026-05-01T00:00:00Z")).map(|p| p.span), [Span::Month, Span::Quarter, Span::Year]);
    }

    #[test]
    fn a_deal_open_at_both_ends_advanced_or_regressed_by_its_stages_positions() {
        let positions: HashMap<&str, i32> = [("s1", 1), ("s2", 2)].into_iter().collect();
        assert_eq!(stage_move(&positions, Some("s1"), Some("s2")), ADVANCED);
        assert_eq!(stage_move(&positions, Some("s2"), Some("s1")), REGRESSED);
        assert_eq!(stage_move(&positions, Some("s2"), Some("s2")), 0);
        // A stage no process has now (a deleted one) moves nowhere.
        assert_eq!(stage_move(&positions, Some("gone"), Some("s2")), 0);
        assert_eq!(stage_move(&positions, None, Some("s2")), 0);
    }

    #[test]
    fn a_run_of_months_is_read_from_the_fewest_periods() {
        assert_eq!(keys(&cover(day("2026-11-01"), day("2026-11-30"))), ["2026-11"]);
        assert_eq!(keys(&cover(day("2026-07-01"), day("2026-09-30"))), ["2026-Q3"]);
        assert_eq!(keys(&cover(day("2026-01-01"), day("2026-12-07"))), ["2026"]);
        assert_eq!(keys(&cover(day("2026-09-01"), day("2026-11-30"))), ["2026-09", "2026-10", "2026-11"]);
        assert_eq!(keys(&cover(day("2025-11-01"), day("2027-04-30"))), ["2025-11", "2025-12", "2026", "2027-Q1", "2027-04"]);
        assert_eq!(keys(&cover(day("2026-02-01"), day("2026-12-31"))), ["2026-02", "2026-03", "2026-Q2", "2026-Q3", "2026-Q4"]);
    }

    #[test]
    fn a_period_keeps_its_first_before_state_and_its_last_after_state_in_any_order() {
        let events = vec![
            event("2026-11-20T00:00:00Z", "h3", Some(side("s2", 20)), side("s3", 30)),
            event("2026-11-02T00:00:00Z", "h1", None, side("s1", 10)),
            event("2026-12-02T00:00:00Z", "h4", Some(side("s3", 30)), side("s4", 40)),
            event("2026-11-10T00:00:00Z", "h2", Some(side("s1", 10)), side("s2", 20)),
        ];
        let periods = by_period("d1", events);
        assert_eq!(keys(&periods.iter().map(|p| p.period.clone()).collect::<Vec<_>>()), ["2026-11", "2026-Q4", "2026", "2026-12"]);
        let of = |key: &str| periods.iter().find(|p| p.period.key == key).unwrap();
        let nov = of("2026-11");
        assert_eq!((nov.first.1.as_str(), nov.was.clone(), nov.last.1.as_str(), nov.after.clone()), ("h1", None, "h3", side("s3", 30)));
        let dec = of("2026-12");
        assert_eq!((dec.was.clone(), dec.after.clone()), (Some(side("s3", 30)), side("s4", 40)));
        for whole in ["2026-Q4", "2026"] {
            let p = of(whole);
            assert_eq!((p.first.1.as_str(), p.was.clone(), p.last.1.as_str(), p.after.clone()), ("h1", None, "h4", side("s4", 40)));
        }
    }
}
