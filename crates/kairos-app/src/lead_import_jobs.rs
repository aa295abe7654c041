//! Lead imports in the background, for the browser and `POST /api/v1/lead-imports`: the
//! request answers at once with a job, and the person who started it follows the rows done
//! (with a percentage when the row count can be estimated) until the report is there.
//!
//! The import itself is `import_leads`, unchanged: one transaction, all of it or (when
//! asked) nothing. Progress lives in this instance's memory while it runs. On PostgreSQL
//! it is also written to the job's row every second, so that another instance behind the
//! same load balancer can answer; on SQLite the import holds the only write connection,
//! and there is only ever one instance, so memory is enough. A job whose instance died
//! shows as interrupted: its transaction rolled back, nothing was imported.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kairos_domain::ids::ImportJobId;
use kairos_store::import_job::{self as store, ImportJobRow};
use serde::Serialize;

use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::lead_import::{ImportFile, ImportMapping, ImportReport, KeepOutcomes, is_xlsx};

/// Rows done per running import of this instance.
pub(crate) type Running = Arc<Mutex<HashMap<ImportJobId, Arc<AtomicUsize>>>>;

/// A running job whose row has not changed for this long lost its instance.
const LOST_AFTER_SECS: i64 = 30;
/// Rows listed in a finished job's report: the ones not created, up to this many.
const REPORTED_ROWS: usize = 10_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportJob {
    pub id: String,
    /// running, done, failed, or interrupted (the server stopped during the import; nothing
    /// was imported).
    pub status: &'static str,
    pub file_name: String,
    pub rows_done: i64,
    /// Rows in the file, estimated from its lines (CSV only).
    pub rows_estimated: Option<i64>,
    /// 0–100 while running with an estimate; 100 when done.
    pub percent: Option<i64>,
    /// When done: the import report. Its `outcomes` list the rows that were not created
    /// (refused or merged), up to 10,000; the counts cover every row.
    #[schema(value_type = Option<ImportReport>)]
    pub report: Option<serde_json::Value>,
    /// When failed: why (the file or mapping could not be used; nothing was imported).
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl App {
    /// Starts importing in the background and answers the job.
    pub async fn start_lead_import(&self, actor: &Actor, file: ImportFile, mapping: ImportMapping) -> AppResult<ImportJob> {
        let ws = actor.workspace();
        let (file_name, rows_estimated) = match &file {
            ImportFile::Bytes { name, bytes } => {
                let csv = !is_xlsx(&name.to_lowercase(), bytes.get(..4).unwrap_or(bytes));
                (name.clone(), csv.then(|| bytecount_lines(bytes).saturating_sub(1) as i64))
            }
            ImportFile::Path(p) => (p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), None),
        };
        let now = self.now();
        let job = ImportJobRow {
            id: ImportJobId::from_uuid(self.mint()),
            created_by: actor.id(),
            file_name: file_name.chars().take(200).collect(),
            status: "running".into(),
            rows_done: 0,
            rows_estimated,
            report: None,
            error: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
        };
        let mut tx = self.begin().await?;
        store::insert_job(&mut tx.conn(), ws, &job).await?;
        tx.commit().await?;

        let done = Arc::new(AtomicUsize::new(0));
        self.running_imports().insert(job.id, done.clone());
        let (app, who, id) = (self.clone(), actor.clone(), job.id);
        tokio::spawn(async move { app.run_import_job(who, id, file, mapping, done).await });
        Ok(self.job_view(job, Some(0)))
    }

    /// A job, for the person who started it or an admin.
    pub async fn lead_import_job(&self, actor: &Actor, id: ImportJobId) -> AppResult<ImportJob> {
        let mut read = self.store.read().await?;
        let job = store::find_job(&mut read.conn(), actor.workspace(), id)
            .await?
            .filter(|j| j.created_by == actor.id() || actor.user.roles.is_admin())
            .ok_or(AppError::NotFound { entity: "import job" })?;
        let local = self.running_imports().get(&id).map(|d| d.load(Ordering::Relaxed) as i64);
        Ok(self.job_view(job, local))
    }

    fn running_imports(&self) -> std::sync::MutexGuard<'_, HashMap<ImportJobId, Arc<AtomicUsize>>> {
        // A panic while holding this lock leaves a plain map behind: still usable.
        self.imports.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn job_view(&self, job: ImportJobRow, local: Option<i64>) -> ImportJob {
        let (status, rows_done) = match (job.status.as_str(), local) {
            ("running", Some(n)) => ("running", n),
            ("running", None) if (self.now() - job.updated_at).num_seconds() > LOST_AFTER_SECS => ("interrupted", job.rows_done),
            ("running", None) => ("running", job.rows_done),
            ("done", _) => ("done", job.rows_done),
            _ => ("failed", job.rows_done),
        };
        let percent = match status {
            "done" => Some(100),
            "running" => job.rows_estimated.filter(|e| *e > 0).map(|e| (rows_done * 100 / e).min(99)),
            _ => None,
        };
        ImportJob {
            id: job.id.to_string(),
            status,
            file_name: job.file_name,
            rows_done,
            rows_estimated: job.rows_estimated,
            percent,
            report: job.report.and_then(|r| serde_json::from_str(&r).ok()),
            error: job.error,
            created_at: job.created_at,
            finished_at: job.finished_at,
        }
    }

    async fn run_import_job(&self, actor: Actor, id: ImportJobId, file: ImportFile, mapping: ImportMapping, done: Arc<AtomicUsize>) {
        let ws = actor.workspace();
        let ticker = (self.store.backend() == kairos_store::Backend::Postgres).then(|| {
            let (app, done) = (self.clone(), done.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let rows = done.load(Ordering::Relaxed) as i64;
                    let written = async {
                        let mut tx = app.begin().await?;
                        store::update_progress(&mut tx.conn(), ws, id, rows, app.now()).await?;
                        tx.commit().await?;
                        AppResult::Ok(())
                    };
                    if let Err(e) = written.await {
                        tracing::warn!(error = %e, "could not record import progress");
                    }
                }
            })
        });
        let progress = |n: usize| done.store(n, Ordering::Relaxed);
        let outcome = self.import_leads(&actor, file, mapping, &progress, KeepOutcomes::NotCreated(REPORTED_ROWS), &mut |_| {}).await;
        if let Some(t) = ticker {
            t.abort();
        }
        let rows = done.load(Ordering::Relaxed) as i64;
        let (status, report, error) = match outcome {
            Ok(report) => {
                ("done", serde_json::to_string(&report).ok(), None)
            }
            Err(e) => {
                if matches!(e, AppError::Unexpected(_)) {
                    tracing::error!(error = ?e, job = %id, "import failed");
                }
                ("failed", None, Some(describe(&e)))
            }
        };
        let finished = async {
            let mut tx = self.begin().await?;
            store::finish_job(&mut tx.conn(), ws, id, status, rows, report, error, self.now()).await?;
            tx.commit().await?;
            AppResult::Ok(())
        };
        if let Err(e) = finished.await {
            tracing::error!(error = %e, job = %id, "could not record how an import ended");
        }
        self.running_imports().remove(&id);
    }
}

/// An import's failure as one line a person can act on.
fn describe(e: &AppError) -> String {
    match e {
        AppError::Validation(problems) => problems.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect::<Vec<_>>().join("; "),
        AppError::Unexpected(_) => "the import failed unexpectedly; nothing was imported (the server log says why)".into(),
        other => other.to_string(),
    }
}

fn bytecount_lines(bytes: &[u8]) -> usize {
    let lines = bytes.iter().filter(|b| **b == b'\n').count();
    lines + usize::from(!bytes.is_empty() && !bytes.ends_with(b"\n"))
}
