//! The closed deals summed per local month and day (migration 0023): what win rate, loss
//! reasons and the leaderboard's wins read for the whole workspace instead of every deal
//! closed in the period.
//!
//! A closed deal counts, with its amount, in two rows of each facet (`Facet`): under the local
//! month and under the local day it closed, keyed by its status, its currency and the
//! facet's columns. A deal's rows change only when it is written with other values in them (a
//! close, a reopen, a new owner of a closed deal): `update_opportunity` then writes the
//! difference, the new rows less the old, under the deal's new version, and the rollup job
//! folds it (`rollup`). Workspaces made before the table are summed when Kairos migrates
//! (`build_missing`).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use kairos_domain::ids::WorkspaceId;
use kairos_domain::opportunity::Opportunity;
use sea_query::{Alias, SimpleExpr};

use crate::db::{Conn, sql};
use crate::error::StoreResult;
use crate::reports::{Dimension, GroupTotals, SPLIT};
use crate::rollup::{self, MonthsAndDays, Rollup, local_day, months_and_days};

const TABLE: &str = "closed_deal_sum";

const ROLLUP: Rollup = Rollup {
    table: TABLE,
    key: &["workspace_id", "facet", "span", "period", "status", "k1", "k2", "k3", "k4", "currency"],
    sums: &["deals", "amount_hi", "amount_lo"],
    real_sums: &[],
};

/// The columns of a closed deal that its rows are keyed and summed by, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct Closed {
    pub closed_at: DateTime<Utc>,
    pub status: String,
    pub owner_id: String,
    pub org_unit_id: Option<String>,
    pub process_id: String,
    pub product_category: Option<String>,
    pub source: Option<String>,
    pub close_reason_id: Option<String>,
    pub stage_id: String,
    pub competitors: String,
    pub close_competitor: Option<String>,
    pub currency: String,
    pub amount: i64,
}

/// The columns `Closed` reads, for a deal aliased `o`.
pub(crate) const CLOSED_COLUMNS: &str = "o.closed_at, o.status, o.owner_id, o.org_unit_id, o.process_id, o.product_category, o.source, \
     o.close_reason_id, o.stage_id, o.competitors, o.close_competitor, o.currency, o.amount";

impl Closed {
    /// A deal's closed columns as `insert_opportunity` and `update_opportunity` store them;
    /// `None` while it is open.
    pub(crate) fn of(o: &Opportunity) -> Option<Closed> {
        let closed_at = o.closed_at?;
        Some(Closed {
            closed_at,
            status: o.status.as_str().to_string(),
            owner_id: o.owner_id.to_string(),
            org_unit_id: o.org_unit_id.map(|u| u.to_string()),
            process_id: o.process_id.to_string(),
            product_category: o.product_category.clone(),
            source: o.source.clone(),
            close_reason_id: o.close_reason_id.map(|r| r.to_string()),
            stage_id: o.stage_id.to_string(),
            competitors: crate::row::tags_json(&o.competitors),
            close_competitor: o.close_competitor.clone(),
            currency: o.currency.clone(),
            amount: o.amount,
        })
    }
}

/// A grouping of the closed deals the table keeps: the report dimensions besides the status
/// that it answers, in the order of its key columns k1 … k4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Facet {
    Loss,
    Owner,
    OrgUnit,
    Process,
    ProductCategory,
    Source,
}

impl Facet {
    const ALL: [Facet; 6] = [Facet::Loss, Facet::Owner, Facet::OrgUnit, Facet::Process, Facet::ProductCategory, Facet::Source];

    fn as_str(self) -> &'static str {
        match self {
            Facet::Loss => "loss",
            Facet::Owner => "owner",
            Facet::OrgUnit => "org_unit",
            Facet::Process => "process",
            Facet::ProductCategory => "product_category",
            Facet::Source => "source",
        }
    }

    fn dimensions(self) -> &'static [Dimension] {
        match self {
            Facet::Loss => &[Dimension::CloseReason, Dimension::Stage, Dimension::Competitors, Dimension::CloseCompetitor],
            Facet::Owner => &[Dimension::Owner],
            Facet::OrgUnit => &[Dimension::OrgUnit],
            Facet::Process => &[Dimension::Process],
            Facet::ProductCategory => &[Dimension::ProductCategory],
            Facet::Source => &[Dimension::Source],
        }
    }

    /// The deal's k1 … k4 ('' for none or unused).
    fn keys(self, d: &Closed) -> [String; 4] {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        match self {
            Facet::Loss => [text(&d.close_reason_id), d.stage_id.clone(), d.competitors.clone(), text(&d.close_competitor)],
            Facet::Owner => [d.owner_id.clone(), String::new(), String::new(), String::new()],
            Facet::OrgUnit => [text(&d.org_unit_id), String::new(), String::new(), String::new()],
            Facet::Process => [d.process_id.clone(), String::new(), String::new(), String::new()],
            Facet::ProductCategory => [text(&d.product_category), String::new(), String::new(), String::new()],
            Facet::Source => [text(&d.source), String::new(), String::new(), String::new()],
        }
    }

    /// The facet that groups by exactly `by` (the status among them, in any order), and where
    /// each of `by` is in its rows: 0 the status, 1 … 4 its keys.
    fn answering(by: &[Dimension]) -> Option<(Facet, Vec<usize>)> {
        Facet::ALL.into_iter().find_map(|facet| {
            let own = facet.dimensions();
            if by.len() != own.len() + 1 {
                return None;
            }
            let columns: Option<Vec<usize>> =
                by.iter().map(|d| if *d == Dimension::Status { Some(0) } else { own.iter().position(|o| o == d).map(|i| i + 1) }).collect();
            let mut seen = columns.clone()?;
            seen.sort_unstable();
            seen.dedup();
            (seen.len() == by.len()).then_some((facet, columns?))
        })
    }
}

/// The rows' sums per key (span, period, facet, status, k1 … k4, currency): deals, and the
/// amount's billions and rest.
type Sums = HashMap<(&'static str, String, Facet, String, [String; 4], String), (i64, i64, i64)>;

/// Adds a deal's rows to `sums`, `sign` times.
fn add(sums: &mut Sums, d: &Closed, sign: i64) {
    let day = local_day(d.closed_at);
    let month = day.format("%Y-%m").to_string();
    for (span, period) in [("month", month), ("day", day.to_string())] {
        for facet in Facet::ALL {
            let sum = sums.entry((span, period.clone(), facet, d.status.clone(), facet.keys(d), d.currency.clone())).or_default();
            sum.0 += sign;
            sum.1 += sign * (d.amount / SPLIT);
            sum.2 += sign * (d.amount % SPLIT);
        }
    }
}

/// Writes `sums` under `source` ('' for folded rows), leaving out those that add nothing.
async fn write(c: &mut Conn<'_>, ws: WorkspaceId, source: &str, sums: Sums) -> StoreResult<()> {
    let rows: Vec<_> = sums.into_iter().collect();
    // 14 values a row, well under either database's limit on a statement's parameters.
    for chunk in rows.chunks(1_000) {
        let mut q = sea_query::Query::insert();
        q.into_table(Alias::new(TABLE)).columns(
            ["workspace_id", "span", "period", "facet", "status", "k1", "k2", "k3", "k4", "currency", "source", "deals", "amount_hi", "amount_lo"].map(Alias::new),
        );
        for ((span, period, facet, status, [k1, k2, k3, k4], currency), (deals, hi, lo)) in chunk {
            let row: [SimpleExpr; 14] = [
                ws.to_string().into(),
                (*span).into(),
                period.clone().into(),
                facet.as_str().into(),
                status.clone().into(),
                k1.clone().into(),
                k2.clone().into(),
                k3.clone().into(),
                k4.clone().into(),
                currency.clone().into(),
                source.into(),
                (*deals).into(),
                (*hi).into(),
                (*lo).into(),
            ];
            q.values_panic(row);
        }
        c.execute(&q).await?;
    }
    Ok(())
}

/// Writes what a write of a deal changed: its rows as it stood (`was`, when closed) taken
/// away, its rows as written (`now`, when closed) added, under `source` (the deal and the
/// version written). Nothing when both are the same.
pub(crate) async fn record(c: &mut Conn<'_>, ws: WorkspaceId, source: &str, was: Option<&Closed>, now: Option<&Closed>) -> StoreResult<()> {
    let sums = difference(was, now);
    if sums.is_empty() {
        return Ok(());
    }
    write(c, ws, &format!("{source}:closed"), sums).await
}

/// The rows of `now` less the rows of `was`, leaving out those that add nothing.
fn difference(was: Option<&Closed>, now: Option<&Closed>) -> Sums {
    let mut sums = Sums::new();
    if was == now {
        return sums;
    }
    if let Some(d) = was {
        add(&mut sums, d, -1);
    }
    if let Some(d) = now {
        add(&mut sums, d, 1);
    }
    sums.retain(|_, s| *s != (0, 0, 0));
    sums
}

/// Sums every closed deal of the workspace from the deals themselves.
async fn rebuild(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<()> {
    c.execute(&sql(format!("DELETE FROM {TABLE} WHERE workspace_id = $1")).bind(ws.to_string())).await?;
    let span: Option<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)> =
        c.fetch_optional(&sql("SELECT MIN(closed_at), MAX(closed_at) FROM opportunity WHERE workspace_id = $1 AND closed_at IS NOT NULL").bind(ws.to_string())).await?;
    let mut sums = Sums::new();
    if let Some((Some(first), Some(last))) = span {
        // A month of closes at a time: some tens of thousands at a million deals.
        let mut from = first;
        while from <= last {
            let until = from + Duration::days(31);
            let read = sql(format!("SELECT {CLOSED_COLUMNS} FROM opportunity o WHERE o.workspace_id = $1 AND o.closed_at >= $2 AND o.closed_at < $3"))
                .bind(ws.to_string())
                .bind(from)
                .bind(until);
            for d in c.fetch_all::<Closed>(&read).await? {
                add(&mut sums, &d, 1);
            }
            from = until;
        }
    }
    write(c, ws, "", sums).await?;
    mark_built(c, ws).await
}

/// Sums the closed deals of every workspace not summed yet (one made before migration 0023);
/// answers how many it summed.
pub async fn build_missing(c: &mut Conn<'_>) -> StoreResult<usize> {
    let workspaces = rollup::workspaces_to_build(c, TABLE, "closed_deal_sum_built").await?;
    for ws in &workspaces {
        rebuild(c, *ws).await?;
    }
    Ok(workspaces.len())
}

/// Marks a workspace's closed deals as summed: a new workspace's (none yet), or a rebuild's.
pub async fn mark_built(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<()> {
    rollup::mark_built(c, "closed_deal_sum_built", ws).await
}

/// Folds every workspace's unfolded rows into one row per key (`rollup::fold`); answers how
/// many rows it folded.
pub async fn fold(c: &mut Conn<'_>) -> StoreResult<u64> {
    rollup::fold(c, &ROLLUP).await
}

/// The whole workspace's deals closed inside `window`, grouped by `by` and currency as
/// `reports::report_totals` groups them (amounts only); `None` when no facet groups by
/// exactly `by`, or the window's ends are not local midnights, which days cannot answer.
pub async fn totals(c: &mut Conn<'_>, ws: WorkspaceId, (from, to): (DateTime<Utc>, DateTime<Utc>), by: &[Dimension]) -> StoreResult<Option<Vec<GroupTotals>>> {
    let Some((facet, columns)) = Facet::answering(by) else { return Ok(None) };
    // Each range on its own, so that each reads its stretch of the primary key.
    let Some(MonthsAndDays { months, head, tail }) = months_and_days(from, to) else { return Ok(None) };
    const ROWS: &str = "SELECT status, k1, k2, k3, k4, currency, deals, amount_hi, amount_lo FROM closed_deal_sum WHERE workspace_id = $1 AND facet = $2";
    let stored = ["status", "k1", "k2", "k3", "k4"];
    let mut keys: Vec<String> = columns.iter().map(|&i| if i == 0 { "status".to_string() } else { format!("NULLIF({}, '')", stored[i]) }).collect();
    keys.resize(5, "CAST(NULL AS TEXT)".into());
    let named: Vec<String> = keys.iter().enumerate().map(|(i, k)| format!("{k} AS k{i}")).collect();
    let grouped: Vec<&str> = columns.iter().map(|&i| stored[i]).collect();
    let text = format!(
        "SELECT {}, currency, CAST(SUM(deals) AS BIGINT) AS deals, CAST(SUM(amount_hi) AS BIGINT) AS amount_hi, CAST(SUM(amount_lo) AS BIGINT) AS amount_lo, \
         CAST(0 AS BIGINT) AS weighted_hi, CAST(0 AS BIGINT) AS weighted_lo, CAST(0 AS DOUBLE PRECISION) AS health_chain FROM (\
         {ROWS} AND span = 'month' AND period >= $3 AND period < $4 \
         UNION ALL {ROWS} AND span = 'day' AND period >= $5 AND period < $6 \
         UNION ALL {ROWS} AND span = 'day' AND period >= $7 AND period < $8) AS r \
         GROUP BY {}, currency HAVING SUM(deals) <> 0",
        named.join(", "),
        grouped.join(", ")
    );
    let q = sql(text)
        .bind(ws.to_string())
        .bind(facet.as_str())
        .bind(months.0)
        .bind(months.1)
        .bind(head.0)
        .bind(head.1)
        .bind(tail.0)
        .bind(tail.1);
    // The loss facet's groups come as rows: its 681 groups at a million deals, the
    // competitors' names quoted inside, took SQLite 4 ms more to write as JSON (21 against
    // 17 ms) than the driver takes to hand them over, and on an inline connection they are
    // stepped through on the calling thread, with no hand-over at all. The other facets' keys
    // are an id or a short name: as one document (`reports::fetch_totals`), win rate's 71
    // groups at 15,000 deals take 0.38 ms against 0.44 ms as rows in SQLite's shell, and the
    // driver's 6 µs a row on top.
    Ok(Some(match facet {
        Facet::Loss => c.fetch_rows(&q).await?,
        _ => crate::reports::fetch_totals(c, &q).await?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_facet_answers_its_own_dimensions_and_the_status_in_any_order() {
        use Dimension::*;
        assert_eq!(Facet::answering(&[Status, CloseReason, Stage, Competitors, CloseCompetitor]), Some((Facet::Loss, vec![0, 1, 2, 3, 4])));
        assert_eq!(Facet::answering(&[Owner, Status]), Some((Facet::Owner, vec![1, 0])));
        assert_eq!(Facet::answering(&[Status, Source]), Some((Facet::Source, vec![0, 1])));
        assert_eq!(Facet::answering(&[Status, Industry]), None, "the account's industry can change under a closed deal");
        assert_eq!(Facet::answering(&[Owner]), None, "every facet keeps the status apart");
        assert_eq!(Facet::answering(&[Status, Owner, Stage]), None);
        assert_eq!(Facet::answering(&[Status, Status]), None);
    }

    fn lost_deal() -> Closed {
        Closed {
            closed_at: DateTime::parse_from_rfc3339("2026-03-31T16:30:00Z").unwrap().to_utc(),
            status: "lost".into(),
            owner_id: "ann".into(),
            org_unit_id: None,
            process_id: "p".into(),
            product_category: Some("软件".into()),
            source: None,
            close_reason_id: Some("price".into()),
            stage_id: "s2".into(),
            competitors: r#"["A"]"#.into(),
            close_competitor: Some("A".into()),
            currency: "CNY".into(),
            amount: 2_500_000_000_123,
        }
    }

    #[test]
    fn a_close_adds_two_rows_a_facet_a_reopen_takes_them_away_and_a_change_moves_what_changed() {
        let d = lost_deal();
        let closed = difference(None, Some(&d));
        assert_eq!(closed.len(), 12, "month and day, six facets");
        for ((span, period, _, status, _, currency), sum) in &closed {
            assert_eq!(period, if *span == "month" { "2026-04" } else { "2026-04-01" }, "closed after local midnight");
            assert_eq!((status.as_str(), currency.as_str(), *sum), ("lost", "CNY", (1, 2_500, 123)));
        }
        let reopened = difference(Some(&d), None);
        assert!(reopened.values().all(|s| *s == (-1, -2_500, -123)) && reopened.len() == 12);
        assert!(difference(Some(&d), Some(&d)).is_empty());
        // A new owner moves the owner facet's rows alone.
        let handed = Closed { owner_id: "bob".into(), ..d.clone() };
        let moved = difference(Some(&d), Some(&handed));
        assert_eq!(moved.len(), 4);
        assert!(moved.iter().all(|(k, s)| k.2 == Facet::Owner && *s == if k.4[0] == "bob" { (1, 2_500, 123) } else { (-1, -2_500, -123) }));
        // A new amount changes every facet's sums, and not their counts.
        let more = Closed { amount: 2_500_000_000_124, ..d.clone() };
        let added = difference(Some(&d), Some(&more));
        assert!(added.values().all(|s| *s == (0, 0, 1)) && added.len() == 12);
    }
}
