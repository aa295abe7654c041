//! Background jobs in the server process (PRODUCT.md §11). Each job is claimed with a lease
//! in the database before it runs, so with several instances on one PostgreSQL every run
//! happens on exactly one of them; an instance that dies mid-run leaves a lease that runs
//! out, and the next instance to look takes the job again. The jobs themselves are
//! idempotent (their tasks and notifications are keyed), so a re-run after a crash finishes
//! the work without doubling any of it.

use std::time::Duration as StdDuration;

use chrono::Duration;
use kairos_store::job::{self, JobState};
use serde::Serialize;

use crate::app::App;
use crate::error::AppResult;
use crate::followup::ScanReport;

pub const FOLLOWUP_SCAN: &str = "followup_scan";
/// Folds the rolled-up pipeline changes each history event wrote into one row per day and
/// key (`kairos_store::pipeline_rollup`): reads are exact either way, and faster folded.
pub const PIPELINE_ROLLUP: &str = "pipeline_rollup";
/// Folds the activity counts each logged activity and each change of a deal's owner wrote
/// into one row per day and owner (`kairos_store::activity_rollup`).
pub const ACTIVITY_ROLLUP: &str = "activity_rollup";
/// Folds the entries into stages each write of a deal's history rolled up into one row per
/// day and key (`kairos_store::stage_entry_rollup`).
pub const STAGE_ENTRY_ROLLUP: &str = "stage_entry_rollup";
/// Folds the passages each write of a deal's history counted in buckets into one row per
/// month or day and key (`kairos_store::passage_buckets`).
pub const PASSAGE_BUCKET_ROLLUP: &str = "passage_bucket_rollup";
/// Folds what each close, reopen or new owner of a closed deal changed in the closed deal
/// sums into one row per month or day and key (`kairos_store::closed_deal_sums`).
pub const CLOSED_DEAL_ROLLUP: &str = "closed_deal_rollup";

/// How often each job runs.
#[derive(Debug, Clone)]
pub struct JobSchedule {
    pub followup_scan_every: Duration,
    /// Every rollup.
    pub rollups_every: Duration,
    /// How long a claimed run may take before another instance may assume it died.
    pub lease: Duration,
}

impl JobSchedule {
    pub fn from_seconds(followup_scan: i64, lease: i64) -> JobSchedule {
        JobSchedule { followup_scan_every: Duration::seconds(followup_scan.max(1)), lease: Duration::seconds(lease.max(1)), ..JobSchedule::default() }
    }
}

impl Default for JobSchedule {
    fn default() -> Self {
        JobSchedule { followup_scan_every: Duration::minutes(15), rollups_every: Duration::minutes(1), lease: Duration::minutes(10) }
    }
}

/// One job's turn.
#[derive(Debug, Clone, Serialize)]
pub struct JobRun {
    pub job: &'static str,
    /// False when it was not due or another instance holds it.
    pub ran: bool,
    /// The follow-up scan's.
    pub report: Option<ScanReport>,
    /// A rollup's: rows folded.
    pub folded: Option<u64>,
    pub error: Option<String>,
}

impl App {
    /// Runs every job that is due and not held by another instance; with `force`, every job
    /// not held elsewhere, due or not (`kairos jobs run-once`). The follow-up scan comes first.
    pub async fn run_due_jobs(&self, holder: &str, schedule: &JobSchedule, force: bool) -> AppResult<Vec<JobRun>> {
        let scan = self.run_job(FOLLOWUP_SCAN, schedule.followup_scan_every, holder, schedule, force).await?;
        let pipeline = self.run_job(PIPELINE_ROLLUP, schedule.rollups_every, holder, schedule, force).await?;
        let activities = self.run_job(ACTIVITY_ROLLUP, schedule.rollups_every, holder, schedule, force).await?;
        let entries = self.run_job(STAGE_ENTRY_ROLLUP, schedule.rollups_every, holder, schedule, force).await?;
        let passages = self.run_job(PASSAGE_BUCKET_ROLLUP, schedule.rollups_every, holder, schedule, force).await?;
        let closed = self.run_job(CLOSED_DEAL_ROLLUP, schedule.rollups_every, holder, schedule, force).await?;
        Ok(vec![scan, pipeline, activities, entries, passages, closed])
    }

    async fn run_job(&self, name: &'static str, every: Duration, holder: &str, schedule: &JobSchedule, force: bool) -> AppResult<JobRun> {
        let now = self.now();
        let due_before = if force { now } else { now - every };
        let claimed = {
            let mut tx = self.begin().await?;
            let taken = job::claim(&mut tx.conn(), name, holder, now, now + schedule.lease, due_before).await?;
            tx.commit().await?;
            taken
        };
        let mut run = JobRun { job: name, ran: claimed, report: None, folded: None, error: None };
        if !claimed {
            return Ok(run);
        }
        let outcome = match name {
            FOLLOWUP_SCAN => self.scan_followups().await.map(|r| run.report = Some(r)),
            PIPELINE_ROLLUP => self.fold_pipeline_changes().await.map(|n| run.folded = Some(n)),
            STAGE_ENTRY_ROLLUP => self.fold_stage_entries().await.map(|n| run.folded = Some(n)),
            PASSAGE_BUCKET_ROLLUP => self.fold_passage_buckets().await.map(|n| run.folded = Some(n)),
            CLOSED_DEAL_ROLLUP => self.fold_closed_deal_sums().await.map(|n| run.folded = Some(n)),
            _ => self.fold_activity_counts().await.map(|n| run.folded = Some(n)),
        };
        run.error = outcome.err().map(|e| e.to_string());
        let mut tx = self.begin().await?;
        job::release(&mut tx.conn(), name, holder, self.now(), run.error.as_deref()).await?;
        tx.commit().await?;
        if let Some(e) = &run.error {
            tracing::error!(job = name, error = %e, "background job failed; it runs again at its next turn");
        }
        Ok(run)
    }

    /// Folds every rollup (the demo generator, during and after its load).
    pub async fn fold_rollups(&self) -> AppResult<()> {
        self.fold_pipeline_changes().await?;
        self.fold_activity_counts().await?;
        self.fold_stage_entries().await?;
        self.fold_passage_buckets().await?;
        self.fold_closed_deal_sums().await?;
        Ok(())
    }

    /// Folds what closed deals changed in the closed deal sums since the last fold (the
    /// `closed_deal_rollup` job; the demo generator during and after its load).
    pub async fn fold_closed_deal_sums(&self) -> AppResult<u64> {
        let mut tx = self.begin().await?;
        let folded = kairos_store::closed_deal_sums::fold(&mut tx.conn()).await?;
        tx.commit().await?;
        Ok(folded)
    }

    /// Folds the rolled-up pipeline changes written since the last fold (the
    /// `pipeline_rollup` job; the demo generator after its load).
    pub async fn fold_pipeline_changes(&self) -> AppResult<u64> {
        let mut tx = self.begin().await?;
        let folded = kairos_store::pipeline_rollup::fold(&mut tx.conn()).await?;
        tx.commit().await?;
        Ok(folded)
    }

    /// Folds the entries into stages rolled up since the last fold (the `stage_entry_rollup`
    /// job; the demo generator after its load).
    pub async fn fold_stage_entries(&self) -> AppResult<u64> {
        let mut tx = self.begin().await?;
        let folded = kairos_store::stage_entry_rollup::fold(&mut tx.conn()).await?;
        tx.commit().await?;
        Ok(folded)
    }

    /// Folds the passages counted in buckets since the last fold (the `passage_bucket_rollup`
    /// job; the demo generator after its load).
    pub async fn fold_passage_buckets(&self) -> AppResult<u64> {
        let mut tx = self.begin().await?;
        let folded = kairos_store::passage_buckets::fold(&mut tx.conn()).await?;
        tx.commit().await?;
        Ok(folded)
    }

    /// Folds the activity counts written since the last fold (the `activity_rollup` job; the
    /// demo generator after its load).
    pub async fn fold_activity_counts(&self) -> AppResult<u64> {
        let mut tx = self.begin().await?;
        let folded = kairos_store::activity_rollup::fold(&mut tx.conn()).await?;
        tx.commit().await?;
        Ok(folded)
    }

    pub async fn job_states(&self) -> AppResult<Vec<JobState>> {
        let mut conn = self.store.read().await?;
        Ok(job::list_jobs(&mut conn.conn()).await?)
    }

    /// Looks for due jobs every `tick` until the process ends. The holder name (host, process
    /// and a random part) is what the lease rows show.
    pub fn spawn_job_loop(&self, schedule: JobSchedule, tick: StdDuration) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        let holder = holder_name();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if let Err(e) = app.run_due_jobs(&holder, &schedule, false).await {
                    tracing::warn!(error = %e, "could not look for due background jobs");
                }
            }
        })
    }
}

pub fn holder_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "kairos".into());
    format!("{host}-{}-{}", std::process::id(), &uuid::Uuid::now_v7().simple().to_string()[24..])
}
