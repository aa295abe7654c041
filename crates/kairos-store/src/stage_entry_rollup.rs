//! Entries into stages rolled up per local day (migration 0020): what the conversion report
//! reads for the whole workspace instead of working out every deal's history.
//!
//! Each entry of a deal into a stage counts once under its local day, its stage and the local
//! day of the deal's previous entry into that stage (`kairos_domain::cohort`), with whether
//! the deal later went further and whether it was won. A period's cohort is then the entries
//! inside it whose previous entry came before it: some thousands of rows for two years.
//!
//! What an entry became depends on the events after it and on the order of its process's
//! stages, so:
//! - each write of a deal's history rereads the deal's cohort events and writes the
//!   difference its new events made (new entries, and earlier entries that now advanced or
//!   won), as rows under the first new event's id, which the rollup job folds (`rollup`);
//! - a change to the order of a process's stages rebuilds the workspace's rows
//!   (`rebuild`), as do the migrations for a workspace built before this table
//!   (`build_missing`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kairos_domain::cohort::{self, Reach};
use kairos_domain::ids::{OpportunityId, WorkspaceId};
use sea_query::{Alias, SimpleExpr};

use crate::db::{Backend, Conn, sql};
use crate::error::StoreResult;
use crate::reports::StageCohort;
use crate::rollup::{self, Rollup, is_midnight, local_day};

const TABLE: &str = "stage_entry_day";

const ROLLUP: Rollup = Rollup { table: TABLE, key: &["workspace_id", "day", "stage_id", "previous_day"], sums: &["entered", "advanced", "won"], real_sums: &[] };

/// Deals whose events a rebuild reads at a time.
const DEALS_PER_READ: i64 = 10_000;

/// An event of a deal's history that can enter a stage or end its cohorts, with the
/// position its stage has now.
#[derive(Debug, sqlx::FromRow)]
struct CohortEvent {
    opportunity_id: String,
    history_id: String,
    at: DateTime<Utc>,
    kind: String,
    to_stage_id: Option<String>,
    to_status: Option<String>,
    position: Option<i64>,
}

impl CohortEvent {
    fn reach(&self) -> Reach<'_> {
        match (self.kind.as_str(), &self.to_stage_id, self.position) {
            ("created" | "moved", Some(id), Some(position)) => Reach::Stage { id, position: i32::try_from(position).unwrap_or(i32::MAX - 1) },
            ("closed", _, _) if self.to_status.as_deref() == Some("won") => Reach::Won,
            _ => Reach::Nowhere,
        }
    }
}

/// The rows' sums per key (day, stage, previous day): entered, advanced, won.
type Sums = HashMap<(String, String, String), [i64; 3]>;

/// Adds (or, with `sign` -1, takes away) the entries of one deal's events, in order.
fn add_deal(sums: &mut Sums, events: &[&CohortEvent], sign: i64) {
    let reached: Vec<(DateTime<Utc>, Reach<'_>)> = events.iter().map(|e| (e.at, e.reach())).collect();
    for entry in cohort::stage_entries(&reached) {
        let previous = entry.previous.map(|p| local_day(p).to_string()).unwrap_or_default();
        let sum = sums.entry((local_day(entry.at).to_string(), entry.stage.to_string(), previous)).or_default();
        sum[0] += sign;
        sum[1] += sign * i64::from(entry.advanced);
        sum[2] += sign * i64::from(entry.won);
    }
}

fn events_sql(deals: &str) -> String {
    format!(
        "SELECT h.opportunity_id, h.history_id, h.at, h.kind, h.to_stage_id, h.to_status, s.position FROM opportunity_history h \
         LEFT JOIN process_stage s ON s.workspace_id = h.workspace_id AND s.stage_id = h.to_stage_id \
         WHERE h.workspace_id = $1 AND h.kind IN ('created', 'moved', 'closed') AND {deals} \
         ORDER BY h.opportunity_id, h.at, h.history_id"
    )
}

/// Writes `sums` under `source` ('' for folded rows), leaving out keys that net to nothing.
async fn write(c: &mut Conn<'_>, ws: WorkspaceId, source: &str, sums: Sums) -> StoreResult<()> {
    let rows: Vec<_> = sums.into_iter().filter(|(_, s)| s.iter().any(|n| *n != 0)).collect();
    // 8 values a row, well under either database's limit on a statement's parameters.
    for chunk in rows.chunks(1_000) {
        let mut q = sea_query::Query::insert();
        q.into_table(Alias::new(TABLE)).columns(["workspace_id", "day", "stage_id", "previous_day", "source", "entered", "advanced", "won"].map(Alias::new));
        for ((day, stage, previous), [entered, advanced, won]) in chunk {
            let row: [SimpleExpr; 8] = [
                ws.to_string().into(),
                day.clone().into(),
                stage.clone().into(),
                previous.clone().into(),
                source.into(),
                (*entered).into(),
                (*advanced).into(),
                (*won).into(),
            ];
            q.values_panic(row);
        }
        c.execute(&q).await?;
    }
    Ok(())
}

/// Rolls up what a deal's new history events (`new_ids`, just written) changed: its new
/// entries, and its earlier entries that now advanced or won.
pub(crate) async fn record(c: &mut Conn<'_>, ws: WorkspaceId, opp: OpportunityId, new_ids: &[&str]) -> StoreResult<()> {
    if c.backend() == Backend::Postgres {
        // Waits for a rebuild under way (which holds the table exclusively), so that the
        // stage positions read below are the ones that rebuild committed.
        c.execute(&sql(format!("LOCK TABLE {TABLE} IN ROW EXCLUSIVE MODE"))).await?;
    }
    let events: Vec<CohortEvent> = c.fetch_all(&sql(events_sql("h.opportunity_id = $2")).bind(ws.to_string()).bind(opp.to_string())).await?;
    let all: Vec<&CohortEvent> = events.iter().collect();
    let before: Vec<&CohortEvent> = events.iter().filter(|e| !new_ids.contains(&e.history_id.as_str())).collect();
    if all.len() == before.len() {
        return Ok(());
    }
    let mut sums = Sums::new();
    add_deal(&mut sums, &all, 1);
    add_deal(&mut sums, &before, -1);
    write(c, ws, &format!("{}:entries", new_ids[0]), sums).await
}

/// Recounts every entry of the workspace from its history, with its stages' positions as
/// they are now.
pub async fn rebuild(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<()> {
    if c.backend() == Backend::Postgres {
        // Writers append their rows under ROW EXCLUSIVE (`record`): they wait for this
        // transaction, and those that committed before it are in the history read below.
        c.execute(&sql(format!("LOCK TABLE {TABLE} IN EXCLUSIVE MODE"))).await?;
    }
    c.execute(&sql(format!("DELETE FROM {TABLE} WHERE workspace_id = $1")).bind(ws.to_string())).await?;
    let mut sums = Sums::new();
    let mut after = String::new();
    loop {
        // The deals of this read: those after `after`, up to the DEALS_PER_READth.
        let last: Option<(String,)> = c
            .fetch_optional(
                &sql("SELECT opportunity_id FROM opportunity WHERE workspace_id = $1 AND opportunity_id > $2 ORDER BY opportunity_id LIMIT 1 OFFSET $3")
                    .bind(ws.to_string())
                    .bind(after.clone())
                    .bind(DEALS_PER_READ - 1),
            )
            .await?;
        let deals = match &last {
            Some(_) => "h.opportunity_id > $2 AND h.opportunity_id <= $3",
            None => "h.opportunity_id > $2",
        };
        let mut q = sql(events_sql(deals)).bind(ws.to_string()).bind(after.clone());
        if let Some((last,)) = &last {
            q = q.bind(last.clone());
        }
        let events: Vec<CohortEvent> = c.fetch_all(&q).await?;
        for deal in events.chunk_by(|a, b| a.opportunity_id == b.opportunity_id) {
            add_deal(&mut sums, &deal.iter().collect::<Vec<_>>(), 1);
        }
        match last {
            Some((last,)) => after = last,
            None => break,
        }
    }
    write(c, ws, "", sums).await?;
    mark_built(c, ws).await
}

/// Builds the rows of every workspace that has none yet (one made before migration 0020);
/// answers how many it built.
pub async fn build_missing(c: &mut Conn<'_>) -> StoreResult<usize> {
    let workspaces = rollup::workspaces_to_build(c, TABLE, "stage_entry_built").await?;
    for ws in &workspaces {
        rebuild(c, *ws).await?;
    }
    Ok(workspaces.len())
}

/// Marks a workspace's rows as built: a new workspace's (empty) ones, or a rebuild's.
pub async fn mark_built(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<()> {
    rollup::mark_built(c, "stage_entry_built", ws).await
}

/// Folds every workspace's unfolded rows into one row per key (`rollup::fold`); answers how
/// many rows it folded.
pub async fn fold(c: &mut Conn<'_>) -> StoreResult<u64> {
    rollup::fold(c, &ROLLUP).await
}

/// The whole workspace's cohorts of each stage entered inside `window` (every entry when
/// none), as `reports::stage_cohorts` gives them; `None` when the window's ends are not
/// local midnights, which days cannot answer.
pub async fn cohorts(c: &mut Conn<'_>, ws: WorkspaceId, window: Option<(DateTime<Utc>, DateTime<Utc>)>) -> StoreResult<Option<Vec<StageCohort>>> {
    const SUMS: &str = "SELECT stage_id, CAST(SUM(entered) AS BIGINT) AS entered, CAST(SUM(advanced) AS BIGINT) AS advanced, CAST(SUM(won) AS BIGINT) AS won \
                        FROM stage_entry_day WHERE workspace_id = $1";
    let q = match window {
        Some((from, to)) if is_midnight(from) && is_midnight(to) => {
            // First entries of the period: the previous one ('' for none) came before it.
            sql(format!("{SUMS} AND day >= $2 AND day < $3 AND previous_day < $2 GROUP BY stage_id"))
                .bind(ws.to_string())
                .bind(local_day(from).to_string())
                .bind(local_day(to).to_string())
        }
        Some(_) => return Ok(None),
        None => sql(format!("{SUMS} AND previous_day = '' GROUP BY stage_id")).bind(ws.to_string()),
    };
    // PostgreSQL's generic plan, made without the period, guesses a few of its rows, where a
    // period of months holds most of the table: it read them from the primary key and sorted
    // them by stage (5.1 ms at 15,000 deals against 2.9 ms planned for the period), and it was
    // the plan PostgreSQL kept after five runs on a connection.
    let q = q.planned_with_its_values();
    // As one document on SQLite (`Conn::fetch_many`), which an inline connection reads on
    // the calling thread (`Conn::with_inline`).
    Ok(Some(c.fetch_many(&q, &["stage_id", "entered", "advanced", "won"], None).await?))
}
