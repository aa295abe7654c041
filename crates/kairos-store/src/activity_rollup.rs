//! Activities logged on deals, counted per local day and deal owner (migration 0019): what
//! the whole workspace's team leaderboard reads instead of every activity of its period (six
//! million over two years at a million deals).
//!
//! The count follows the deal's owner, as the leaderboard does: an activity logged on a deal
//! adds one to its owner's day, and when a deal changes hands its activities' counts move
//! from the old owner to the new one. Both write rows under a `source` of their own (the
//! activity; the deal's new version and side), folded later by the `activity_rollup` job
//! (`rollup::fold`).

use chrono::{DateTime, Utc};
use kairos_domain::ids::WorkspaceId;

use crate::db::{Backend, Conn, sql};
use crate::error::StoreResult;
use crate::rollup::{self, Rollup, is_midnight, local_day, local_day_sql};

const TABLE: &str = "activity_day";
const ROLLUP: Rollup = Rollup { table: TABLE, key: &["workspace_id", "day", "owner_id"], sums: &["activities"], real_sums: &[] };

/// Counts an activity just logged on `deal` for the deal's owner. On PostgreSQL the owner is
/// read under the lock an update of the deal takes, so a concurrent change of owner either
/// waits for this transaction (and then moves this activity too) or is waited for (and this
/// count goes to the new owner). The same lock as an update's, not a weaker one, so that a
/// transaction that goes on to update the deal does not deadlock with another doing the same.
pub(crate) async fn logged(c: &mut Conn<'_>, ws: WorkspaceId, activity_id: &str, deal: &str, at: DateTime<Utc>) -> StoreResult<()> {
    let lock = match c.backend() {
        Backend::Postgres => " FOR NO KEY UPDATE",
        Backend::Sqlite => "",
    };
    let owner = sql(format!("SELECT owner_id FROM opportunity WHERE workspace_id = $1 AND opportunity_id = $2{lock}")).bind(ws.to_string()).bind(deal.to_string());
    let Some((owner,)) = c.fetch_optional::<(String,)>(&owner).await? else {
        // No such deal: the leaderboard, which joins activities to deals, does not count it.
        return Ok(());
    };
    let row = sql(format!("INSERT INTO {TABLE} (workspace_id, day, owner_id, source, activities) VALUES ($1, $2, $3, $4, 1)"))
        .bind(ws.to_string())
        .bind(local_day(at).to_string())
        .bind(owner)
        .bind(activity_id.to_string());
    c.execute(&row).await?;
    Ok(())
}

/// Moves the counts of every activity on `deal` from its previous owner to its new one; called
/// after the update that changed the owner (to `version`), in the same transaction.
pub(crate) async fn handed_over(c: &mut Conn<'_>, ws: WorkspaceId, deal: &str, from: &str, to: &str, version: i64) -> StoreResult<()> {
    let day = local_day_sql(c.backend(), "occurred_at");
    let side = |owner: &str, source: &str, sign: &str| {
        format!("SELECT workspace_id, {day}, {owner}, {source}, {sign}COUNT(*) FROM activity WHERE workspace_id = $1 AND opportunity_id = $2 GROUP BY 1, 2")
    };
    let text = format!("INSERT INTO {TABLE} (workspace_id, day, owner_id, source, activities) {} UNION ALL {}", side("$3", "$5", "-"), side("$4", "$6", ""));
    let moved = sql(text)
        .bind(ws.to_string())
        .bind(deal.to_string())
        .bind(from.to_string())
        .bind(to.to_string())
        .bind(format!("{deal}:{version}:from"))
        .bind(format!("{deal}:{version}:to"));
    c.execute(&moved).await?;
    Ok(())
}

/// Activities logged on deals inside `[from, to)`, per deal owner, for the whole workspace;
/// `None` unless both ends are local midnights (the rollup keeps whole days).
pub async fn by_owner(c: &mut Conn<'_>, ws: WorkspaceId, between: (DateTime<Utc>, DateTime<Utc>)) -> StoreResult<Option<Vec<(String, i64)>>> {
    if !is_midnight(between.0) || !is_midnight(between.1) {
        return Ok(None);
    }
    // An owner whose activities all moved to another nets to nothing: no row, as when counted
    // from the activities themselves.
    let q = sql(format!(
        "SELECT owner_id, CAST(SUM(activities) AS BIGINT) FROM {TABLE} WHERE workspace_id = $1 AND day >= $2 AND day < $3 GROUP BY owner_id HAVING SUM(activities) <> 0"
    ))
    .bind(ws.to_string())
    .bind(local_day(between.0).to_string())
    .bind(local_day(between.1).to_string());
    Ok(Some(c.fetch_all(&q).await?))
}

/// Folds every workspace's unfolded rows into one row per day and owner; answers how many
/// rows it folded.
pub async fn fold(c: &mut Conn<'_>) -> StoreResult<u64> {
    rollup::fold(c, &ROLLUP).await
}
