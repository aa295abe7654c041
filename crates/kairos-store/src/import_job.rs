//! Background lead imports: the row the person who started one follows.

use chrono::{DateTime, Utc};
use kairos_domain::ids::{ImportJobId, UserId, WorkspaceId};

use crate::db::{Conn, sql};
use crate::error::StoreResult;
use crate::row::parse_id;

#[derive(Debug, Clone)]
pub struct ImportJobRow {
    pub id: ImportJobId,
    pub created_by: UserId,
    pub file_name: String,
    /// running, done or failed
    pub status: String,
    pub rows_done: i64,
    pub rows_estimated: Option<i64>,
    /// The report as JSON, once done.
    pub report: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    job_id: String,
    created_by: String,
    file_name: String,
    status: String,
    rows_done: i64,
    rows_estimated: Option<i64>,
    report: Option<String>,
    error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

pub async fn insert_job(c: &mut Conn<'_>, ws: WorkspaceId, job: &ImportJobRow) -> StoreResult<()> {
    c.execute(
        &sql("INSERT INTO import_job (workspace_id, job_id, created_by, kind, file_name, status, rows_done, rows_estimated, created_at, updated_at) VALUES ($1, $2, $3, 'leads', $4, $5, $6, $7, $8, $9)")
            .bind(ws.to_string())
            .bind(job.id.to_string())
            .bind(job.created_by.to_string())
            .bind(job.file_name.clone())
            .bind(job.status.clone())
            .bind(job.rows_done)
            .bind(job.rows_estimated)
            .bind(job.created_at)
            .bind(job.updated_at),
    )
    .await?;
    Ok(())
}

pub async fn update_progress(c: &mut Conn<'_>, ws: WorkspaceId, id: ImportJobId, rows_done: i64, at: DateTime<Utc>) -> StoreResult<()> {
    c.execute(
        &sql("UPDATE import_job SET rows_done = $1, updated_at = $2 WHERE workspace_id = $3 AND job_id = $4 AND status = 'running'")
            .bind(rows_done)
            .bind(at)
            .bind(ws.to_string())
            .bind(id.to_string()),
    )
    .await?;
    Ok(())
}

/// Records how a job ended: `done` with its report, or `failed` with why.
pub async fn finish_job(c: &mut Conn<'_>, ws: WorkspaceId, id: ImportJobId, status: &str, rows_done: i64, report: Option<String>, error: Option<String>, at: DateTime<Utc>) -> StoreResult<()> {
    c.execute(
        &sql("UPDATE import_job SET status = $1, rows_done = $2, report = $3, error = $4, updated_at = $5, finished_at = $5 WHERE workspace_id = $6 AND job_id = $7")
            .bind(status.to_string())
            .bind(rows_done)
            .bind(report)
            .bind(error)
            .bind(at)
            .bind(ws.to_string())
            .bind(id.to_string()),
    )
    .await?;
    Ok(())
}

pub async fn find_job(c: &mut Conn<'_>, ws: WorkspaceId, id: ImportJobId) -> StoreResult<Option<ImportJobRow>> {
    let row: Option<Row> = c
        .fetch_optional(
            &sql("SELECT job_id, created_by, file_name, status, CAST(rows_done AS BIGINT) AS rows_done, CAST(rows_estimated AS BIGINT) AS rows_estimated, report, error, created_at, updated_at, finished_at FROM import_job WHERE workspace_id = $1 AND job_id = $2")
                .bind(ws.to_string())
                .bind(id.to_string()),
        )
        .await?;
    row.map(|r| {
        Ok(ImportJobRow {
            id: parse_id(&r.job_id, ImportJobId::parse)?,
            created_by: parse_id(&r.created_by, UserId::parse)?,
            file_name: r.file_name,
            status: r.status,
            rows_done: r.rows_done,
            rows_estimated: r.rows_estimated,
            report: r.report,
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
        })
    })
    .transpose()
}
