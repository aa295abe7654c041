//! The open pipeline's changes rolled up per local day (migration 0018): what trend and
//! forecast accuracy read for the whole workspace instead of every history event.
//!
//! Each history event writes, in its own transaction, what it added to the open pipeline (the
//! deal as the event left it, when open) and what it took away (the deal as it stood before,
//! when open), keyed by the event's local day, the stage, the month of the expected close and
//! the currency. Those rows are plain inserts under the event's own id, so concurrent writers
//! never wait on one another; `fold` later sums them into one row per key. Reads sum both
//! kinds, so they are exact at any moment, folded or not.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kairos_domain::calendar::WORKSPACE_UTC_OFFSET_MINUTES;
use kairos_domain::ids::WorkspaceId;
use kairos_domain::replay::DealState;
use sea_query::{Alias, Expr, SimpleExpr};

use crate::db::Conn;
use crate::error::StoreResult;
use crate::reports::{ChangedKey, ChangedWhen, GroupTotals, PipelineChanges, SPLIT};
use crate::rollup::{self, Rollup, is_midnight, local_day};

const TABLE: &str = "pipeline_change_day";

fn close_month(d: Option<NaiveDate>) -> String {
    d.and_then(|d| d.with_day(1)).map(|d| d.to_string()).unwrap_or_default()
}

/// One side of one history event.
pub(crate) struct Side<'a> {
    pub state: &'a DealState,
    pub currency: &'a str,
    pub amount: i64,
    pub probability: i64,
}

/// The rows one event adds to the rollup: the deal as the event left it (`after`) and, with
/// the opposite sign, as it stood before (`before`), each only when open. The amounts are
/// split like the reports' sums (`reports::amount_sums`), row by row, so that the rollup's
/// sums equal the history's exactly.
pub(crate) fn rows_of_event(ws: WorkspaceId, history_id: &str, at: DateTime<Utc>, before: Option<Side<'_>>, after: Side<'_>) -> Vec<[sea_query::Value; 11]> {
    let day = local_day(at).to_string();
    let mut rows = Vec::new();
    for (side, sign, s) in [("made", 1, Some(after)), ("taken", -1, before)] {
        let Some(s) = s.filter(|s| s.state.is_open()) else { continue };
        let (hi, lo) = (s.amount / SPLIT, s.amount % SPLIT);
        rows.push([
            ws.to_string().into(),
            day.clone().into(),
            s.state.stage.clone().into(),
            close_month(s.state.expected_close).into(),
            s.currency.to_string().into(),
            format!("{history_id}:{side}").into(),
            sign.into(),
            (sign * hi).into(),
            (sign * lo).into(),
            (sign * hi * s.probability).into(),
            (sign * lo * s.probability).into(),
        ]);
    }
    rows
}

/// Writes the rows of `rows_of_event`.
pub(crate) async fn append(c: &mut Conn<'_>, rows: Vec<[sea_query::Value; 11]>) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut q = sea_query::Query::insert();
    q.into_table(Alias::new(TABLE)).columns(
        ["workspace_id", "day", "stage_id", "close_month", "currency", "source", "deals", "amount_hi", "amount_lo", "weighted_hi", "weighted_lo"].map(Alias::new),
    );
    for r in rows {
        q.values_panic(r.map(SimpleExpr::from));
    }
    c.execute(&q).await?;
    Ok(())
}

/// The sums of a group of rows, under the names `GroupTotals` reads.
const SUMS: &str = "CAST(SUM(deals) AS BIGINT) AS deals, CAST(SUM(amount_hi) AS BIGINT) AS amount_hi, CAST(SUM(amount_lo) AS BIGINT) AS amount_lo, \
     CAST(SUM(weighted_hi) AS BIGINT) AS weighted_hi, CAST(SUM(weighted_lo) AS BIGINT) AS weighted_lo";

const ROLLUP: Rollup = Rollup {
    table: TABLE,
    key: &["workspace_id", "day", "stage_id", "close_month", "currency"],
    sums: &["deals", "amount_hi", "amount_lo", "weighted_hi", "weighted_lo"],
    real_sums: &[],
};

/// Folds every workspace's unfolded rows into one row per key (`rollup::fold`); answers how
/// many rows it folded.
pub async fn fold(c: &mut Conn<'_>) -> StoreResult<u64> {
    rollup::fold(c, &ROLLUP).await
}

/// The open pipeline's changes as `reports::pipeline_changes` gives them (both sides netted
/// per group), from the rollup; `None` when the rollup cannot say: an instant that is not a
/// local midnight, days cut at another offset, or a key finer than a month of expected close.
pub async fn changes(c: &mut Conn<'_>, ws: WorkspaceId, what: &PipelineChanges) -> StoreResult<Option<Vec<GroupTotals>>> {
    let instants = what.from.iter().chain(&what.before).chain(match &what.when {
        ChangedWhen::Before(instants) => instants.as_slice(),
        _ => &[],
    });
    let whole_days = instants.into_iter().all(|t| is_midnight(*t));
    let months = what.closing_between.is_none_or(|(a, b)| a.day() == 1 && b.day() == 1);
    let offset_matches = !matches!(what.when, ChangedWhen::Day(o) if o != WORKSPACE_UTC_OFFSET_MINUTES);
    if !whole_days || !months || !offset_matches {
        return Ok(None);
    }
    let day = |t: DateTime<Utc>| local_day(t).to_string();
    let mut q = sea_query::Query::select();
    q.from(Alias::new(TABLE)).and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()));
    if let Some(from) = what.from {
        q.and_where(Expr::col(Alias::new("day")).gte(day(from)));
    }
    if let Some(before) = what.before {
        q.and_where(Expr::col(Alias::new("day")).lt(day(before)));
    }
    if let Some((a, b)) = what.closing_between {
        q.and_where(Expr::col(Alias::new("close_month")).gte(a.to_string())).and_where(Expr::col(Alias::new("close_month")).lt(b.to_string()));
    }
    let when: SimpleExpr = match &what.when {
        ChangedWhen::Any => Expr::cust("CAST(NULL AS TEXT)"),
        ChangedWhen::Day(_) => Expr::cust("day"),
        ChangedWhen::Before(instants) => {
            let mut case = sea_query::CaseStatement::new();
            for (i, t) in instants.iter().enumerate() {
                case = case.case(Expr::col(Alias::new("day")).lt(day(*t)), Expr::val(i.to_string()));
            }
            case.finally(Expr::val(instants.len().to_string())).into()
        }
    };
    let key = match what.key {
        ChangedKey::Nothing => "CAST(NULL AS TEXT)",
        ChangedKey::Stage => "NULLIF(stage_id, '')",
        ChangedKey::ExpectedCloseMonth => "NULLIF(close_month, '')",
        // The day of the expected close is finer than the rollup keeps.
        ChangedKey::ExpectedClose => return Ok(None),
    };
    q.expr_as(when, Alias::new("k0")).expr_as(Expr::cust(key), Alias::new("k1")).expr(Expr::cust(format!(
        "CAST(NULL AS TEXT) AS k2, CAST(NULL AS TEXT) AS k3, CAST(NULL AS TEXT) AS k4, currency, {SUMS}, CAST(0 AS DOUBLE PRECISION) AS health_chain"
    )));
    q.add_group_by([1, 2, 6].map(|i| Expr::cust(i.to_string())));
    Ok(Some(crate::reports::fetch_totals(c, &q).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_months_are_first_days() {
        assert_eq!(close_month(NaiveDate::from_ymd_opt(2026, 2, 28)), "2026-02-01");
        assert_eq!(close_month(None), "");
    }
}
