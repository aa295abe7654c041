//! Dwell's passages counted per bucket of days (migration 0021): what the dwell report reads
//! for the whole workspace instead of every passage's two durations.
//!
//! A passage (a move or a close that left a stage, with both durations) counts in four rows:
//! under the local month and under the local day it ended, each for its calendar days and for
//! its working days, in the bucket of that duration (`kairos_domain::dwell_histogram`). A
//! passage never changes once written, so each write of a deal's history adds its new
//! passages as rows under its first new event's id, which the rollup job folds (`rollup`).
//! Workspaces built before the table are counted when Kairos migrates (`build_missing`).
//!
//! A period's counts per bucket say where the median and p90 lie; `value_at` then walks one
//! bucket's values in order, through the index on (stage, duration, time), to the one wanted.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, Utc};
use kairos_domain::dwell_histogram;
use kairos_domain::ids::WorkspaceId;
use sea_query::{Alias, SimpleExpr, Value};

use crate::db::{Conn, Sql, sql};
use crate::error::StoreResult;
use crate::opportunity::HistoryEntry;
use crate::rollup::{self, MonthsAndDays, Rollup, local_day, months_and_days};

const TABLE: &str = "passage_bucket";

const ROLLUP: Rollup = Rollup {
    table: TABLE,
    key: &["workspace_id", "span", "period", "stage_id", "measure", "bucket"],
    sums: &["passages", "days"],
    real_sums: &["days"],
};

/// A passage in SQL: the events the dwell report reads (`reports::passages`), said literally
/// so that the indexes of migration 0021, whose predicate this is, serve the reads.
const PASSAGE: &str =
    "kind IN ('moved', 'closed') AND from_stage_id IS NOT NULL AND days_in_stage IS NOT NULL AND working_days_in_stage IS NOT NULL";

/// The two durations of a passage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Measure {
    Calendar,
    Working,
}

impl Measure {
    fn as_str(self) -> &'static str {
        match self {
            Measure::Calendar => "calendar",
            Measure::Working => "working",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Measure::Calendar => "days_in_stage",
            Measure::Working => "working_days_in_stage",
        }
    }

    fn stored(text: &str) -> Option<Measure> {
        [Measure::Calendar, Measure::Working].into_iter().find(|m| m.as_str() == text)
    }
}

/// The rows' sums per key (span, period, stage, measure, bucket): passages and their days.
type Sums = HashMap<(&'static str, String, String, Measure, i32), (i64, f64)>;

/// Counts one passage that ended at `at`.
fn add(sums: &mut Sums, at: DateTime<Utc>, stage: &str, days: f64, working_days: f64) {
    let day = local_day(at);
    let month = day.format("%Y-%m").to_string();
    for (span, period) in [("month", month), ("day", day.to_string())] {
        for (measure, value) in [(Measure::Calendar, days), (Measure::Working, working_days)] {
            let sum = sums.entry((span, period.clone(), stage.to_string(), measure, dwell_histogram::bucket_of(value))).or_default();
            sum.0 += 1;
            sum.1 += value;
        }
    }
}

/// Writes `sums` under `source` ('' for folded rows).
async fn write(c: &mut Conn<'_>, ws: WorkspaceId, source: &str, sums: Sums) -> StoreResult<()> {
    let rows: Vec<_> = sums.into_iter().collect();
    // 9 values a row, well under either database's limit on a statement's parameters.
    for chunk in rows.chunks(1_000) {
        let mut q = sea_query::Query::insert();
        q.into_table(Alias::new(TABLE))
            .columns(["workspace_id", "span", "period", "stage_id", "measure", "bucket", "source", "passages", "days"].map(Alias::new));
        for ((span, period, stage, measure, bucket), (passages, days)) in chunk {
            let row: [SimpleExpr; 9] = [
                ws.to_string().into(),
                (*span).into(),
                period.clone().into(),
                stage.clone().into(),
                measure.as_str().into(),
                (*bucket).into(),
                source.into(),
                (*passages).into(),
                (*days).into(),
            ];
            q.values_panic(row);
        }
        c.execute(&q).await?;
    }
    Ok(())
}

/// Counts the passages among a deal's new history events (just written).
pub(crate) async fn record(c: &mut Conn<'_>, ws: WorkspaceId, events: &[HistoryEntry]) -> StoreResult<()> {
    let mut sums = Sums::new();
    for h in events.iter().filter(|h| matches!(h.kind.as_str(), "moved" | "closed")) {
        if let (Some(stage), Some(days), Some(working_days)) = (&h.from_stage_id, h.days_in_stage, h.working_days_in_stage) {
            add(&mut sums, h.at, stage, days, working_days);
        }
    }
    match events.first() {
        Some(first) if !sums.is_empty() => write(c, ws, &format!("{}:passages", first.id), sums).await,
        _ => Ok(()),
    }
}

/// A passage as a rebuild reads it.
#[derive(Debug, sqlx::FromRow)]
struct Passage {
    at: DateTime<Utc>,
    from_stage_id: String,
    days_in_stage: f64,
    working_days_in_stage: f64,
}

/// Counts every passage of the workspace from its history.
async fn rebuild(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<()> {
    c.execute(&sql(format!("DELETE FROM {TABLE} WHERE workspace_id = $1")).bind(ws.to_string())).await?;
    let span: Option<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)> =
        c.fetch_optional(&sql(format!("SELECT MIN(at), MAX(at) FROM opportunity_history WHERE workspace_id = $1 AND {PASSAGE}")).bind(ws.to_string())).await?;
    let mut sums = Sums::new();
    if let Some((Some(first), Some(last))) = span {
        // A month of passages at a time: some hundreds of thousands at a million deals.
        let mut from = first;
        while from <= last {
            let until = from + Duration::days(31);
            let read = sql(format!(
                "SELECT at, from_stage_id, days_in_stage, working_days_in_stage FROM opportunity_history \
                 WHERE workspace_id = $1 AND at >= $2 AND at < $3 AND {PASSAGE}"
            ))
            .bind(ws.to_string())
            .bind(from)
            .bind(until);
            for p in c.fetch_all::<Passage>(&read).await? {
                add(&mut sums, p.at, &p.from_stage_id, p.days_in_stage, p.working_days_in_stage);
            }
            from = until;
        }
    }
    write(c, ws, "", sums).await?;
    mark_built(c, ws).await
}

/// Counts the passages of every workspace not counted yet (one made before migration 0021);
/// answers how many it counted.
pub async fn build_missing(c: &mut Conn<'_>) -> StoreResult<usize> {
    let workspaces = rollup::workspaces_to_build(c, TABLE, "passage_bucket_built").await?;
    for ws in &workspaces {
        rebuild(c, *ws).await?;
    }
    Ok(workspaces.len())
}

/// Marks a workspace's passages as counted: a new workspace's (none yet), or a rebuild's.
pub async fn mark_built(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<()> {
    rollup::mark_built(c, "passage_bucket_built", ws).await
}

/// Folds every workspace's unfolded rows into one row per key (`rollup::fold`); answers how
/// many rows it folded.
pub async fn fold(c: &mut Conn<'_>) -> StoreResult<u64> {
    rollup::fold(c, &ROLLUP).await
}

/// `window` cut in two at the local month start nearest its middle, so that two connections
/// can each sum one half's rows (`buckets`): the halves' counts added up are the window's.
/// `None` when an end is not a local midnight or no month starts inside the window.
pub fn halves(window: (DateTime<Utc>, DateTime<Utc>)) -> Option<[(DateTime<Utc>, DateTime<Utc>); 2]> {
    let (from, to) = window;
    if !rollup::is_midnight(from) || !rollup::is_midnight(to) {
        return None;
    }
    let (first, end) = (local_day(from), local_day(to));
    let middle = first + (end - first) / 2;
    let this_month = middle.with_day(1)?;
    let next_month = this_month.checked_add_months(chrono::Months::new(1))?;
    let cut = [this_month, next_month].into_iter().filter(|m| first < *m && *m < end).min_by_key(|m| (*m - middle).num_days().abs())?;
    let at = rollup::start_of_local_day(cut);
    Some([(from, at), (at, to)])
}

/// A stage's passages in one bucket of one measure, inside the period read.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct BucketCount {
    pub stage_id: String,
    pub measure: String,
    pub bucket: i32,
    pub passages: i64,
    pub days: f64,
}

impl BucketCount {
    pub fn measure(&self) -> Option<Measure> {
        Measure::stored(&self.measure)
    }
}

/// The whole workspace's passages per stage, measure and bucket that ended inside `window`
/// (every one when none); `None` when the window's ends are not local midnights, which days
/// cannot answer.
pub async fn buckets(c: &mut Conn<'_>, ws: WorkspaceId, window: Option<(DateTime<Utc>, DateTime<Utc>)>) -> StoreResult<Option<Vec<BucketCount>>> {
    // Each range of rows on its own, so that each reads its stretch of the primary key
    // (SQLite read every row of the workspace for the three ranges OR-ed together).
    const ROWS: &str = "SELECT stage_id, measure, bucket, passages, days FROM passage_bucket WHERE workspace_id = $1";
    let sums = |ranges: &str| {
        format!(
            "SELECT stage_id, measure, bucket, CAST(SUM(passages) AS BIGINT) AS passages, SUM(days) AS days FROM ({ranges}) AS r \
             GROUP BY stage_id, measure, bucket"
        )
    };
    let q = match window {
        None => sql(sums(&format!("{ROWS} AND span = 'month'"))).bind(ws.to_string()),
        Some((from, to)) => {
            let Some(MonthsAndDays { months, head, tail }) = months_and_days(from, to) else { return Ok(None) };
            let ranges = format!(
                "{ROWS} AND span = 'month' AND period >= $2 AND period < $3 \
                 UNION ALL {ROWS} AND span = 'day' AND period >= $4 AND period < $5 \
                 UNION ALL {ROWS} AND span = 'day' AND period >= $6 AND period < $7"
            );
            sql(sums(&ranges))
                .bind(ws.to_string())
                .bind(months.0)
                .bind(months.1)
                .bind(head.0)
                .bind(head.1)
                .bind(tail.0)
                .bind(tail.1)
        }
    };
    // Thousands of rows at a million deals: as one document on SQLite (`Conn::fetch_many`),
    // the days summed to JSON's 15 digits (dwell's mean is given to two decimals).
    let counts: Vec<BucketCount> = c.fetch_many(&q, &["stage_id", "measure", "bucket", "passages", "days"], None).await?;
    Ok(Some(counts.into_iter().filter(|b| b.passages != 0).collect()))
}

/// The values at `ranks` (0-based, in order; rising, a rank may repeat), in the same order,
/// among one stage's passages of one measure that ended inside `window`, given how many of
/// them each bucket holds (`buckets`); `None` when a rank is beyond them or the history holds
/// fewer than the counts say. Each rank is read once, and ranks next to each other in one
/// bucket (the two middle values) together.
pub async fn values_at_ranks(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    stage: &str,
    measure: Measure,
    counts: &BTreeMap<i32, u64>,
    ranks: &[u64],
) -> StoreResult<Option<Vec<f64>>> {
    let mut distinct = ranks.to_vec();
    distinct.dedup();
    let mut runs: Vec<(dwell_histogram::Located, u64)> = Vec::new();
    for &rank in &distinct {
        let Some(at) = dwell_histogram::locate(counts, rank) else {
            return Ok(None);
        };
        match runs.last_mut() {
            Some((first, n)) if first.bucket == at.bucket && first.rank_in_bucket + *n == at.rank_in_bucket => *n += 1,
            _ => runs.push((at, 1)),
        }
    }
    let mut values = Vec::with_capacity(distinct.len());
    for (at, n) in runs {
        let found = values_at(c, ws, window, stage, measure, at.bucket, at.rank_in_bucket, n).await?;
        if found.len() as u64 != n {
            return Ok(None);
        }
        values.extend(found);
    }
    // `distinct` is in order, so each rank's value is found by its place there.
    Ok(Some(ranks.iter().map(|r| values[distinct.partition_point(|d| d < r)]).collect()))
}

/// The `n` values from `rank` on (0-based, in order) among one stage's passages of one
/// measure that lie in `bucket` and ended inside `window`: the index walks the bucket's
/// values in order.
#[allow(clippy::too_many_arguments)]
async fn values_at(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    stage: &str,
    measure: Measure,
    bucket: i32,
    rank: u64,
    n: u64,
) -> StoreResult<Vec<f64>> {
    let column = measure.column();
    let mut conditions = vec![format!("workspace_id = $1 AND from_stage_id = $2 AND {PASSAGE}")];
    let mut binds: Vec<Value> = vec![ws.to_string().into(), stage.into()];
    let (from, until) = dwell_histogram::range_of(bucket);
    let ranges = [(format!("{column} >="), from.map(Value::from)), (format!("{column} <"), until.map(Value::from)), ("at >=".into(), window.map(|w| w.0.into())), ("at <".into(), window.map(|w| w.1.into()))];
    for (condition, value) in ranges {
        if let Some(v) = value {
            binds.push(v);
            conditions.push(format!("{condition} ${}", binds.len()));
        }
    }
    let (limit, offset) = (binds.len() + 1, binds.len() + 2);
    binds.push(i64::try_from(n).unwrap_or(i64::MAX).into());
    binds.push(i64::try_from(rank).unwrap_or(i64::MAX).into());
    let text = format!("SELECT {column} FROM opportunity_history WHERE {} ORDER BY {column} LIMIT ${limit} OFFSET ${offset}", conditions.join(" AND "));
    let q = binds.into_iter().fold(sql(text), Sql::bind);
    let rows: Vec<(f64,)> = c.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_window_is_cut_at_the_local_month_start_nearest_its_middle() {
        // 2025-01-01 … 2026-12-31 local (UTC+8): cut at 2026-01-01 local.
        let two_years = (t("2024-12-31T16:00:00Z"), t("2026-12-31T16:00:00Z"));
        assert_eq!(halves(two_years), Some([(two_years.0, t("2025-12-31T16:00:00Z")), (t("2025-12-31T16:00:00Z"), two_years.1)]));
        // 2026-03-10 … 2026-05-19: the middle is 2026-04-14, nearer April's start than May's.
        let spring = (t("2026-03-09T16:00:00Z"), t("2026-05-19T16:00:00Z"));
        assert_eq!(halves(spring), Some([(spring.0, t("2026-03-31T16:00:00Z")), (t("2026-03-31T16:00:00Z"), spring.1)]));
        // The middle 2026-04-25 is nearer May's start, which lies inside the window.
        let later = (t("2026-03-31T16:00:00Z"), t("2026-05-19T16:00:00Z"));
        assert_eq!(halves(later), Some([(later.0, t("2026-04-30T16:00:00Z")), (t("2026-04-30T16:00:00Z"), later.1)]));
        // One month exactly: no month starts strictly inside it.
        assert_eq!(halves((t("2026-03-31T16:00:00Z"), t("2026-04-30T16:00:00Z"))), None);
        // An end that is not a local midnight: the buckets cannot answer it anyway.
        assert_eq!(halves((t("2025-01-01T00:00:00Z"), t("2026-12-31T16:00:00Z"))), None);
    }
}
