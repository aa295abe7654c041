//! What the rolled-up tables share (`pipeline_rollup`, `activity_rollup`): writers append
//! rows under a `source` of their own, so concurrent writers never wait on one another, and a
//! background job folds those rows into one row per key (`source` = ''). Reads sum both kinds,
//! so they are exact whether or not the fold has run.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kairos_domain::calendar::{WORKSPACE_UTC_OFFSET_MINUTES, WorkCalendar};
use kairos_domain::identity::DataScope;
use kairos_domain::ids::WorkspaceId;

use crate::db::{Backend, Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::reports::ReportFilter;

/// A rolled-up table: its key (without `source`) and the columns its rows sum.
pub(crate) struct Rollup {
    pub table: &'static str,
    pub key: &'static [&'static str],
    pub sums: &'static [&'static str],
    /// Those of `sums` that hold fractions (the others are whole counts or amounts).
    pub real_sums: &'static [&'static str],
}

/// Folds every workspace's unfolded rows of `r` into one row per key; answers how many rows
/// it folded. On PostgreSQL the rows are deleted and summed in one statement, so a row
/// another transaction commits meanwhile is either folded or left for the next run, never
/// lost; on SQLite the transaction holds the only write lock from its first statement.
pub(crate) async fn fold(c: &mut Conn<'_>, r: &Rollup) -> StoreResult<u64> {
    let table = r.table;
    let key = r.key.join(", ");
    let sums: Vec<String> = r.sums.iter().map(|s| if r.real_sums.contains(s) { format!("SUM({s})") } else { format!("CAST(SUM({s}) AS BIGINT)") }).collect();
    let columns = format!("{key}, source, {}", r.sums.join(", "));
    let add: Vec<String> = r.sums.iter().map(|s| format!("{s} = {table}.{s} + excluded.{s}")).collect();
    let on_conflict = format!("ON CONFLICT ({key}, source) DO UPDATE SET {}", add.join(", "));
    let summed = |from: &str, filter: &str| format!("INSERT INTO {table} ({columns}) SELECT {key}, '', {} FROM {from} {filter} GROUP BY {key} {on_conflict}", sums.join(", "));
    match c.backend() {
        Backend::Postgres => {
            let text = format!("WITH folded AS (DELETE FROM {table} WHERE source <> '' RETURNING *), summed AS ({}) SELECT COUNT(*) FROM folded", summed("folded", ""));
            Ok(c.fetch_count(&sql(text)).await?.max(0) as u64)
        }
        Backend::Sqlite => {
            // `WHERE` before `ON CONFLICT` is what keeps SQLite from reading ON as a join's.
            c.execute(&sql(summed(table, "WHERE source <> ''"))).await?;
            c.execute(&sql(format!("DELETE FROM {table} WHERE source <> ''"))).await
        }
    }
}

/// The workspaces whose rows of `table` have not been built from their history yet (those
/// made before its migration), as listed by `built` (a table of workspace ids). On
/// PostgreSQL the caller's transaction then holds `table` exclusively, so another instance
/// starting beside this one builds them first, or waits here and finds none left.
pub(crate) async fn workspaces_to_build(c: &mut Conn<'_>, table: &str, built: &str) -> StoreResult<Vec<WorkspaceId>> {
    let missing = format!("SELECT workspace_id FROM workspace WHERE workspace_id NOT IN (SELECT workspace_id FROM {built}) ORDER BY workspace_id");
    if c.fetch_all::<(String,)>(&sql(missing.clone())).await?.is_empty() {
        return Ok(Vec::new());
    }
    if c.backend() == Backend::Postgres {
        c.execute(&sql(format!("LOCK TABLE {table} IN EXCLUSIVE MODE"))).await?;
    }
    let workspaces: Vec<(String,)> = c.fetch_all(&sql(missing)).await?;
    workspaces.iter().map(|(ws,)| WorkspaceId::parse(ws).map_err(|e| StoreError::Corrupt(format!("workspace id {ws}: {e:?}")))).collect()
}

/// Records in `built` that a workspace's rows are built: a new workspace's (none yet), or a
/// rebuild's.
pub(crate) async fn mark_built(c: &mut Conn<'_>, built: &str, ws: WorkspaceId) -> StoreResult<()> {
    let marked = match c.backend() {
        Backend::Sqlite => format!("INSERT OR IGNORE INTO {built} (workspace_id) VALUES ($1)"),
        Backend::Postgres => format!("INSERT INTO {built} (workspace_id) VALUES ($1) ON CONFLICT DO NOTHING"),
    };
    c.execute(&sql(marked).bind(ws.to_string())).await?;
    Ok(())
}

/// Whether a rollup holds what a report of these deals needs: each sums every deal of the
/// workspace, so it serves a reader who sees them all and filters none out.
pub fn serves(scope: &DataScope, f: &ReportFilter) -> bool {
    matches!(scope, DataScope::All) && !f.narrows_deals()
}

/// Where the rollups cut days: the workspaces' calendar's offset (its working days do not
/// matter here).
fn days() -> WorkCalendar {
    WorkCalendar::new(Vec::new(), [], [], WORKSPACE_UTC_OFFSET_MINUTES)
}

/// The local day of an instant, as the rollups cut days.
pub(crate) fn local_day(at: DateTime<Utc>) -> NaiveDate {
    days().local_date(at)
}

/// The instant a local day starts, as the rollups cut days.
pub(crate) fn start_of_local_day(day: NaiveDate) -> DateTime<Utc> {
    days().start_of_day(day)
}

/// Whether an instant is a local midnight: only then is "before it" a whole number of days.
pub(crate) fn is_midnight(at: DateTime<Utc>) -> bool {
    let days = days();
    days.start_of_day(days.local_date(at)) == at
}

/// A period of whole local days as a table of month and day rows reads it (`passage_buckets`,
/// `closed_deal_sums`): the month rows (`YYYY-MM`) of its whole months, and the day rows
/// (`YYYY-MM-DD`) of the days before and after them; each a half-open range of `period`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MonthsAndDays {
    pub months: (String, String),
    pub head: (String, String),
    pub tail: (String, String),
}

/// The ranges of the period `[from, to)`; `None` when an end is not a local midnight, which
/// days cannot answer.
pub(crate) fn months_and_days(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<MonthsAndDays> {
    if !is_midnight(from) || !is_midnight(to) {
        return None;
    }
    let (first, end) = (local_day(from), local_day(to).max(local_day(from)));
    let next_month = |d: NaiveDate| d.with_day(1).and_then(|m| m.checked_add_months(chrono::Months::new(1))).unwrap_or(NaiveDate::MAX);
    let months_from = if first.day() == 1 { first } else { next_month(first) };
    let months_until = end.with_day(1).unwrap_or(end).max(months_from);
    let (head_until, tail_from) = if months_from < months_until { (months_from, months_until) } else { (end, end) };
    let month = |d: NaiveDate| d.format("%Y-%m").to_string();
    Some(MonthsAndDays {
        months: (month(months_from), month(months_until)),
        head: (first.to_string(), head_until.to_string()),
        tail: (tail_from.to_string(), end.to_string()),
    })
}

/// The SQL for the local day (`YYYY-MM-DD`) of a timestamp column, cut where `local_day` cuts.
pub(crate) fn local_day_sql(backend: Backend, column: &str) -> String {
    let offset = WORKSPACE_UTC_OFFSET_MINUTES;
    match backend {
        Backend::Sqlite => format!("date({column}, '{offset:+} minutes')"),
        Backend::Postgres => format!("to_char(({column} AT TIME ZONE 'UTC') + interval '{offset} minutes', 'YYYY-MM-DD')"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_cut_at_local_midnight() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(local_day(t("2026-03-31T15:59:59.999999Z")).to_string(), "2026-03-31");
        assert_eq!(local_day(t("2026-03-31T16:00:00Z")).to_string(), "2026-04-01");
        assert!(is_midnight(t("2026-03-31T16:00:00Z")));
        assert!(!is_midnight(t("2026-03-31T16:00:00.000001Z")));
        assert!(!is_midnight(t("2026-03-31T00:00:00Z")));
        assert_eq!(local_day_sql(Backend::Sqlite, "at"), "date(at, '+480 minutes')");
    }

    #[test]
    fn a_period_reads_its_whole_months_and_the_days_around_them() {
        let midnight = |d: &str| days().start_of_day(NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap());
        let ranges = |a: &str, b: &str| months_and_days(midnight(a), midnight(b)).unwrap();
        let pair = |x: &str, y: &str| (x.to_string(), y.to_string());
        let cut = ranges("2026-03-05", "2026-06-20");
        assert_eq!(cut, MonthsAndDays { months: pair("2026-04", "2026-06"), head: pair("2026-03-05", "2026-04-01"), tail: pair("2026-06-01", "2026-06-20") });
        let whole = ranges("2026-01-01", "2027-01-01");
        assert_eq!(whole, MonthsAndDays { months: pair("2026-01", "2027-01"), head: pair("2026-01-01", "2026-01-01"), tail: pair("2027-01-01", "2027-01-01") });
        // Inside one month: days alone.
        let inside = ranges("2026-03-05", "2026-03-20");
        assert_eq!(inside, MonthsAndDays { months: pair("2026-04", "2026-04"), head: pair("2026-03-05", "2026-03-20"), tail: pair("2026-03-20", "2026-03-20") });
        assert_eq!(months_and_days(midnight("2026-03-05") + chrono::Duration::hours(1), midnight("2026-03-20")), None);
    }
}
