//! Each deal's change over a local month (migration 0026): its state before its first event of
//! the month and after its last, which the movement report of whole months reads for the whole
//! workspace instead of every event of the period.
//!
//! A month runs from just after the local midnight that starts it up to and including the one
//! that ends it, as the movement report's period `(a, b]` does (the pipeline at an instant
//! includes the events at that instant). Each write of a deal's history updates the deal's row
//! of each month it writes into, keeping the earlier first event's before-state and the later
//! last event's after-state: a row ends the same in whatever order its events are written, and
//! one deal's writes touch only its own rows, so there is nothing to fold. Workspaces built
//! before the table are built when Kairos migrates (`build_missing`).

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use kairos_domain::ids::WorkspaceId;
use sea_query::{Alias, Expr, OnConflict, Query, SimpleExpr};

use crate::db::{Conn, sql};
use crate::error::StoreResult;
use crate::reports::StateChange;
use crate::rollup::{self, local_day, start_of_local_day};

const TABLE: &str = "deal_month_change";
const BUILT: &str = "deal_month_change_built";

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

/// A deal's events of one month: the first one's before-state, the last one's after-state.
#[derive(Debug, Clone)]
struct MonthChange {
    month: String,
    opportunity_id: String,
    first: (DateTime<Utc>, String),
    was: Option<DealSide>,
    last: (DateTime<Utc>, String),
    after: DealSide,
}

/// The month (`YYYY-MM`) an event at `at` counts in: an event at exactly the midnight that
/// starts a month counts in the month before.
fn month_of(at: DateTime<Utc>) -> String {
    local_day(at - Duration::microseconds(1)).format("%Y-%m").to_string()
}

/// `events` (of one deal) folded into one change per month they fall in.
fn by_month(opportunity_id: &str, events: impl IntoIterator<Item = DealEvent>) -> Vec<MonthChange> {
    let mut months: Vec<MonthChange> = Vec::new();
    for e in events {
        let month = month_of(e.at);
        let key = (e.at, e.history_id);
        match months.iter_mut().find(|m| m.month == month) {
            Some(m) => {
                if key < m.first {
                    m.first = key.clone();
                    m.was = e.was;
                }
                if key > m.last {
                    m.last = key;
                    m.after = e.after;
                }
            }
            None => months.push(MonthChange { month, opportunity_id: opportunity_id.to_string(), first: key.clone(), was: e.was, last: key, after: e.after }),
        }
    }
    months
}

const COLUMNS: [&str; 19] = [
    "workspace_id", "month", "opportunity_id", "first_at", "first_history_id", "was_stage_id", "was_status", "was_amount", "was_currency",
    "was_probability", "was_close_date", "last_at", "last_history_id", "stage_id", "status", "amount", "currency", "probability", "close_date",
];

/// The columns a row's first event decides, and those its last event decides.
const FIRST_COLUMNS: [&str; 8] = ["first_at", "first_history_id", "was_stage_id", "was_status", "was_amount", "was_currency", "was_probability", "was_close_date"];
const LAST_COLUMNS: [&str; 8] = ["last_at", "last_history_id", "stage_id", "status", "amount", "currency", "probability", "close_date"];

/// Writes `changes`, each merged into the row already stored for its deal and month.
async fn write(c: &mut Conn<'_>, ws: WorkspaceId, changes: &[MonthChange]) -> StoreResult<()> {
    let earlier = format!("(excluded.first_at < {TABLE}.first_at OR (excluded.first_at = {TABLE}.first_at AND excluded.first_history_id < {TABLE}.first_history_id))");
    let later = format!("(excluded.last_at > {TABLE}.last_at OR (excluded.last_at = {TABLE}.last_at AND excluded.last_history_id > {TABLE}.last_history_id))");
    let merged: Vec<(Alias, SimpleExpr)> = FIRST_COLUMNS
        .iter()
        .map(|col| (col, &earlier))
        .chain(LAST_COLUMNS.iter().map(|col| (col, &later)))
        .map(|(col, wins)| (Alias::new(*col), Expr::cust(format!("CASE WHEN {wins} THEN excluded.{col} ELSE {TABLE}.{col} END"))))
        .collect();
    let on_conflict = OnConflict::columns(["workspace_id", "month", "opportunity_id"].map(Alias::new)).values(merged).to_owned();
    // 19 values a row, well under either database's limit on a statement's parameters. (As
    // sea-query renders them: SQLite looks a `$n` up by name, which made a statement of a
    // thousand rows take 1.7 s.)
    for chunk in changes.chunks(1_000) {
        let mut q = Query::insert();
        q.into_table(Alias::new(TABLE)).columns(COLUMNS.map(Alias::new)).on_conflict(on_conflict.clone());
        for m in chunk {
            let was = m.was.as_ref();
            let row: [SimpleExpr; 19] = [
                ws.to_string().into(),
                m.month.clone().into(),
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

/// Records a deal's new history events (just written).
pub(crate) async fn record(c: &mut Conn<'_>, ws: WorkspaceId, opportunity_id: &str, events: Vec<DealEvent>) -> StoreResult<()> {
    write(c, ws, &by_month(opportunity_id, events)).await
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

/// The columns of a history event that a change reads (`StateChange`'s).
const EVENT_COLUMNS: [&str; 15] = [
    "opportunity_id", "at", "history_id", "stage_id", "status", "amount", "currency", "probability", "close_date", "was_stage_id", "was_status",
    "was_amount", "was_currency", "was_probability", "was_close_date",
];

/// Builds the workspace's rows from its history, a month at a time (at a million deals, some
/// 330,000 events).
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
            let read = sql(format!("SELECT {} FROM opportunity_history WHERE workspace_id = $1 AND at > $2 AND at <= $3", EVENT_COLUMNS.join(", ")))
                .bind(ws.to_string())
                .bind(from)
                .bind(until);
            let mut events: Vec<StateChange> = c.fetch_many(&read, &EVENT_COLUMNS, None).await?;
            events.sort_unstable_by(|x, y| (&x.opportunity_id, x.at, &x.history_id).cmp(&(&y.opportunity_id, y.at, &y.history_id)));
            let mut changes = Vec::new();
            for deal in events.chunk_by(|x, y| x.opportunity_id == y.opportunity_id) {
                changes.extend(by_month(&deal[0].opportunity_id, deal.iter().cloned().map(DealEvent::stored)));
            }
            write(c, ws, &changes).await?;
            month = next;
        }
    }
    mark_built(c, ws).await
}

/// Builds the rows of every workspace that has none yet (one made before migration 0026);
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

/// The months, first and last (`YYYY-MM`), whose rows hold exactly the events of `(a, b]`:
/// `a` a local midnight that starts a month, `b` one too or an instant no event comes after.
/// `None` when the rows cannot answer the period.
pub async fn months_of(c: &mut Conn<'_>, ws: WorkspaceId, (a, b): (DateTime<Utc>, DateTime<Utc>)) -> StoreResult<Option<(String, String)>> {
    let starts_a_month = |t: DateTime<Utc>| rollup::is_midnight(t) && local_day(t).day() == 1;
    if !starts_a_month(a) || b <= a {
        return Ok(None);
    }
    if !starts_a_month(b) {
        let later: Option<(DateTime<Utc>,)> =
            c.fetch_optional(&sql("SELECT at FROM opportunity_history WHERE workspace_id = $1 AND at > $2 LIMIT 1").bind(ws.to_string()).bind(b)).await?;
        if later.is_some() {
            return Ok(None);
        }
    }
    Ok(Some((month_of(a + Duration::microseconds(1)), month_of(b))))
}

/// The changes of these months (`months_of`), one per deal and month, as events: each one's
/// before-state the deal's before its first event of the month, its after-state the deal's
/// after its last (and its time and id the first event's). In time order per deal, as
/// `reports::state_changes` answers.
pub async fn changes(c: &mut Conn<'_>, ws: WorkspaceId, (first, last): &(String, String)) -> StoreResult<Vec<StateChange>> {
    let read = sql(format!(
        "SELECT opportunity_id, first_at AS at, first_history_id AS history_id, {} FROM {TABLE} WHERE workspace_id = $1 AND month >= $2 AND month <= $3",
        EVENT_COLUMNS[3..].join(", ")
    ))
    .bind(ws.to_string())
    .bind(first.clone())
    .bind(last.clone());
    let mut changes: Vec<StateChange> = c.fetch_many(&read, &EVENT_COLUMNS, None).await?;
    // One month's rows come in deal order already (the primary key's).
    changes.sort_unstable_by(|x, y| (&x.opportunity_id, x.at, &x.history_id).cmp(&(&y.opportunity_id, y.at, &y.history_id)));
    Ok(changes)
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

    #[test]
    fn an_event_at_the_midnight_that_starts_a_month_counts_in_the_month_before() {
        // UTC+8: 2026-11-30T16:00Z is local midnight starting December.
        assert_eq!(month_of(t("2026-11-30T16:00:00Z")), "2026-11");
        assert_eq!(month_of(t("2026-11-30T16:00:00.000001Z")), "2026-12");
        assert_eq!(month_of(t("2026-10-31T16:00:00.000001Z")), "2026-11");
    }

    #[test]
    fn a_month_keeps_its_first_before_state_and_its_last_after_state_in_any_order() {
        let events = vec![
            event("2026-11-20T00:00:00Z", "h3", Some(side("s2", 20)), side("s3", 30)),
            event("2026-11-02T00:00:00Z", "h1", None, side("s1", 10)),
            event("2026-12-02T00:00:00Z", "h4", Some(side("s3", 30)), side("s4", 40)),
            event("2026-11-10T00:00:00Z", "h2", Some(side("s1", 10)), side("s2", 20)),
        ];
        let months = by_month("d1", events);
        assert_eq!(months.len(), 2);
        let nov = months.iter().find(|m| m.month == "2026-11").unwrap();
        assert_eq!((nov.first.1.as_str(), nov.was.clone(), nov.last.1.as_str(), nov.after.clone()), ("h1", None, "h3", side("s3", 30)));
        let dec = months.iter().find(|m| m.month == "2026-12").unwrap();
        assert_eq!((dec.was.clone(), dec.after.clone()), (Some(side("s3", 30)), side("s4", 40)));
    }
}
