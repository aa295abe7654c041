//! Leases on background jobs (§11): each job has one row; an instance runs a job only while
//! it holds the row's lease, so several instances on one database run every job once. A
//! lease that runs out (its instance died) lets the next instance take the job again.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::{Conn, sql};
use crate::error::StoreResult;

/// Takes the lease of `job` for `holder` until `until` when nobody holds it and the job's
/// last start is at or before `due_if_started_before` (so a job on a 5-minute schedule is
/// not run again by the next instance that looks). Answers whether the lease was taken.
pub async fn claim(
    c: &mut Conn<'_>,
    job: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    due_if_started_before: DateTime<Utc>,
) -> StoreResult<bool> {
    c.execute(&sql("INSERT INTO job_lease (job, runs) VALUES ($1, 0) ON CONFLICT (job) DO NOTHING").bind(job.to_string())).await?;
    // One conditional UPDATE is the whole protocol: both databases apply it atomically, so
    // of two instances racing for the row exactly one sees a row changed.
    let n = c
        .execute(
            &sql("UPDATE job_lease SET leased_by = $1, lease_until = $2, last_started_at = $3, runs = runs + 1 \
                  WHERE job = $4 AND (lease_until IS NULL OR lease_until < $3) \
                  AND (last_started_at IS NULL OR last_started_at <= $5)")
            .bind(holder.to_string())
            .bind(until)
            .bind(now)
            .bind(job.to_string())
            .bind(due_if_started_before),
        )
        .await?;
    Ok(n == 1)
}

/// Extends a lease still held by `holder`; false when it was lost (ran out and was taken).
pub async fn renew(c: &mut Conn<'_>, job: &str, holder: &str, until: DateTime<Utc>) -> StoreResult<bool> {
    let n = c
        .execute(&sql("UPDATE job_lease SET lease_until = $1 WHERE job = $2 AND leased_by = $3").bind(until).bind(job.to_string()).bind(holder.to_string()))
        .await?;
    Ok(n == 1)
}

/// Gives the lease back, recording how the run ended.
pub async fn release(c: &mut Conn<'_>, job: &str, holder: &str, now: DateTime<Utc>, error: Option<&str>) -> StoreResult<()> {
    c.execute(
        &sql("UPDATE job_lease SET leased_by = NULL, lease_until = NULL, last_finished_at = $1, last_error = $2 WHERE job = $3 AND leased_by = $4")
            .bind(now)
            .bind(error.map(str::to_string))
            .bind(job.to_string())
            .bind(holder.to_string()),
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct JobState {
    pub job: String,
    pub leased_by: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_started_at: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub runs: i64,
}

pub async fn list_jobs(c: &mut Conn<'_>) -> StoreResult<Vec<JobState>> {
    c.fetch_all(&sql("SELECT job, leased_by, lease_until, last_started_at, last_finished_at, last_error, runs FROM job_lease ORDER BY job")).await
}
