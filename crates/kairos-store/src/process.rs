//! Sales processes and their stages.

use chrono::{DateTime, Utc};
use kairos_domain::ids::{ProcessId, StageId, WorkspaceId};
use kairos_domain::process::{Applicability, ApprovalRule, Cadence, EntryCriteria, ForecastCategory, SalesProcess, Stage};

use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::row::{parse_id, parse_stored};

#[derive(sqlx::FromRow)]
struct ProcessRow {
    workspace_id: String,
    process_id: String,
    name: String,
    description: Option<String>,
    is_default: bool,
    business_types: String,
    customer_types: String,
    industries: String,
    product_categories: String,
    org_unit_ids: String,
    won_required_fields: String,
    close_reminder_days: i64,
    archived_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

#[derive(sqlx::FromRow)]
struct StageRow {
    stage_id: String,
    process_id: String,
    name: String,
    position: i64,
    probability: i64,
    forecast_category: String,
    expected_dwell_days: i64,
    cadence_touches: i64,
    cadence_days: i64,
    cadence_channels: String,
    guidance: Option<String>,
    required_fields: String,
    checklist: String,
    required_documents: String,
    health_refuse_below: i64,
    health_pass_above: i64,
    approval_rule: String,
    approval_role: Option<String>,
    retired_at: Option<DateTime<Utc>>,
}

fn json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("bad {what} {text:?}: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

impl TryFrom<StageRow> for Stage {
    type Error = StoreError;
    fn try_from(r: StageRow) -> StoreResult<Stage> {
        Ok(Stage {
            id: parse_id(&r.stage_id, StageId::parse)?,
            name: r.name,
            position: r.position as i32,
            probability: r.probability.clamp(0, 100) as u8,
            forecast_category: parse_stored(&r.forecast_category, "forecast category", ForecastCategory::from_stored)?,
            expected_dwell_days: r.expected_dwell_days.max(0) as u32,
            cadence: Cadence {
                touches: r.cadence_touches.max(0) as u32,
                per_days: r.cadence_days.max(1) as u32,
                channels: json(&r.cadence_channels, "channels")?,
            },
            guidance: r.guidance,
            criteria: EntryCriteria {
                required_fields: json(&r.required_fields, "required fields")?,
                checklist: json(&r.checklist, "checklist")?,
                required_documents: json(&r.required_documents, "required documents")?,
                health_refuse_below: r.health_refuse_below.clamp(0, 100) as u8,
                health_pass_above: r.health_pass_above.clamp(0, 100) as u8,
                approval: ApprovalRule::from_stored(&r.approval_rule, r.approval_role.as_deref())
                    .ok_or_else(|| StoreError::Corrupt(format!("bad approval rule {:?}", r.approval_rule)))?,
            },
            retired: r.retired_at.is_some(),
        })
    }
}

const PROCESS_COLUMNS: &str = "workspace_id, process_id, name, description, is_default, business_types, customer_types, \
     industries, product_categories, org_unit_ids, won_required_fields, close_reminder_days, archived_at, created_at, updated_at, version";
const STAGE_COLUMNS: &str = "stage_id, process_id, name, position, probability, forecast_category, expected_dwell_days, \
     cadence_touches, cadence_days, cadence_channels, guidance, required_fields, checklist, required_documents, \
     health_refuse_below, health_pass_above, approval_rule, approval_role, retired_at";

pub async fn insert_process(c: &mut Conn<'_>, p: &SalesProcess) -> StoreResult<()> {
    let a = &p.applicability;
    c.execute(
        &sql(format!("INSERT INTO sales_process ({PROCESS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"))
            .bind(p.workspace_id.to_string())
            .bind(p.id.to_string())
            .bind(p.name.clone())
            .bind(p.description.clone())
            .bind(p.is_default)
            .bind(to_json(&a.business_types))
            .bind(to_json(&a.customer_types))
            .bind(to_json(&a.industries))
            .bind(to_json(&a.product_categories))
            .bind(to_json(&a.org_unit_ids))
            .bind(to_json(&p.won_required_fields))
            .bind(i64::from(p.close_reminder_days))
            .bind(p.archived.then_some(p.updated_at))
            .bind(p.created_at)
            .bind(p.updated_at)
            .bind(p.version),
    )
    .await?;
    for s in &p.stages {
        insert_stage(c, p.workspace_id, p.id, s, p.updated_at).await?;
    }
    Ok(())
}

pub async fn update_process(c: &mut Conn<'_>, p: &SalesProcess, expected_version: i64) -> StoreResult<()> {
    let a = &p.applicability;
    let n = c
        .execute(
            &sql("UPDATE sales_process SET name = $1, description = $2, is_default = $3, business_types = $4, customer_types = $5, \
                  industries = $6, product_categories = $7, org_unit_ids = $8, won_required_fields = $9, archived_at = $10, \
                  updated_at = $11, version = $12, close_reminder_days = $13 WHERE workspace_id = $14 AND process_id = $15 AND version = $16")
            .bind(p.name.clone())
            .bind(p.description.clone())
            .bind(p.is_default)
            .bind(to_json(&a.business_types))
            .bind(to_json(&a.customer_types))
            .bind(to_json(&a.industries))
            .bind(to_json(&a.product_categories))
            .bind(to_json(&a.org_unit_ids))
            .bind(to_json(&p.won_required_fields))
            .bind(p.archived.then_some(p.updated_at))
            .bind(p.updated_at)
            .bind(p.version)
            .bind(i64::from(p.close_reminder_days))
            .bind(p.workspace_id.to_string())
            .bind(p.id.to_string())
            .bind(expected_version),
        )
        .await?;
    if n == 0 { Err(StoreError::StaleVersion) } else { Ok(()) }
}

pub async fn insert_stage(c: &mut Conn<'_>, ws: WorkspaceId, process: ProcessId, s: &Stage, now: DateTime<Utc>) -> StoreResult<()> {
    let (rule, role) = s.criteria.approval.to_stored();
    c.execute(
        &sql(format!(
            "INSERT INTO process_stage (workspace_id, {STAGE_COLUMNS}, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
        ))
        .bind(ws.to_string())
        .bind(s.id.to_string())
        .bind(process.to_string())
        .bind(s.name.clone())
        .bind(s.position as i64)
        .bind(s.probability as i64)
        .bind(s.forecast_category.as_str())
        .bind(s.expected_dwell_days as i64)
        .bind(s.cadence.touches as i64)
        .bind(s.cadence.per_days as i64)
        .bind(to_json(&s.cadence.channels))
        .bind(s.guidance.clone())
        .bind(to_json(&s.criteria.required_fields))
        .bind(to_json(&s.criteria.checklist))
        .bind(to_json(&s.criteria.required_documents))
        .bind(s.criteria.health_refuse_below as i64)
        .bind(s.criteria.health_pass_above as i64)
        .bind(rule)
        .bind(role)
        .bind(s.retired.then_some(now))
        .bind(now)
        .bind(now),
    )
    .await?;
    Ok(())
}

pub async fn update_stage(c: &mut Conn<'_>, ws: WorkspaceId, s: &Stage, now: DateTime<Utc>) -> StoreResult<()> {
    let (rule, role) = s.criteria.approval.to_stored();
    c.execute(
        &sql("UPDATE process_stage SET name = $1, position = $2, probability = $3, forecast_category = $4, expected_dwell_days = $5, \
              cadence_touches = $6, cadence_days = $7, cadence_channels = $8, guidance = $9, required_fields = $10, checklist = $11, \
              required_documents = $12, health_refuse_below = $13, health_pass_above = $14, approval_rule = $15, approval_role = $16, \
              retired_at = CASE WHEN $17 THEN COALESCE(retired_at, $18) ELSE NULL END, updated_at = $18 \
              WHERE workspace_id = $19 AND stage_id = $20")
        .bind(s.name.clone())
        .bind(s.position as i64)
        .bind(s.probability as i64)
        .bind(s.forecast_category.as_str())
        .bind(s.expected_dwell_days as i64)
        .bind(s.cadence.touches as i64)
        .bind(s.cadence.per_days as i64)
        .bind(to_json(&s.cadence.channels))
        .bind(s.guidance.clone())
        .bind(to_json(&s.criteria.required_fields))
        .bind(to_json(&s.criteria.checklist))
        .bind(to_json(&s.criteria.required_documents))
        .bind(s.criteria.health_refuse_below as i64)
        .bind(s.criteria.health_pass_above as i64)
        .bind(rule)
        .bind(role)
        .bind(s.retired)
        .bind(now)
        .bind(ws.to_string())
        .bind(s.id.to_string()),
    )
    .await?;
    Ok(())
}

pub async fn delete_stage(c: &mut Conn<'_>, ws: WorkspaceId, stage: StageId) -> StoreResult<()> {
    c.execute(&sql("DELETE FROM process_stage WHERE workspace_id = $1 AND stage_id = $2").bind(ws.to_string()).bind(stage.to_string()))
        .await?;
    Ok(())
}

/// How many deals, open or closed, point at a stage or passed through it.
pub async fn stage_use_count(c: &mut Conn<'_>, ws: WorkspaceId, stage: StageId) -> StoreResult<i64> {
    c.fetch_count(
        &sql("SELECT (SELECT COUNT(*) FROM opportunity WHERE workspace_id = $1 AND stage_id = $2) + \
              (SELECT COUNT(*) FROM opportunity_history WHERE workspace_id = $1 AND (from_stage_id = $2 OR to_stage_id = $2))")
        .bind(ws.to_string())
        .bind(stage.to_string()),
    )
    .await
}

pub async fn list_processes(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Vec<SalesProcess>> {
    let rows: Vec<ProcessRow> = c
        .fetch_all(&sql(format!("SELECT {PROCESS_COLUMNS} FROM sales_process WHERE workspace_id = $1 ORDER BY created_at, process_id")).bind(ws.to_string()))
        .await?;
    let stages: Vec<StageRow> = c
        .fetch_all(&sql(format!("SELECT {STAGE_COLUMNS} FROM process_stage WHERE workspace_id = $1 ORDER BY position, stage_id")).bind(ws.to_string()))
        .await?;
    assemble(rows, stages)
}

/// A stage as the reports name and order it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct StageName {
    pub process_id: String,
    pub stage_id: String,
    pub name: String,
    pub position: i64,
}

/// Every stage of the workspace's processes (retired ones too), in the order `list_processes`
/// gives them: by process, then by position. One statement, read as one document
/// (`Conn::fetch_many`), so that an inline connection answers it on the calling thread.
pub async fn stage_names(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Vec<StageName>> {
    let q = sql(
        "SELECT s.process_id, s.stage_id, s.name, s.position, p.created_at FROM process_stage s \
         JOIN sales_process p ON p.workspace_id = s.workspace_id AND p.process_id = s.process_id WHERE s.workspace_id = $1",
    )
    .bind(ws.to_string());
    c.fetch_many(&q, &["process_id", "stage_id", "name", "position"], Some("t.created_at, t.process_id, t.position, t.stage_id")).await
}

pub async fn find_process(c: &mut Conn<'_>, ws: WorkspaceId, id: ProcessId) -> StoreResult<Option<SalesProcess>> {
    let rows: Vec<ProcessRow> = c
        .fetch_all(
            &sql(format!("SELECT {PROCESS_COLUMNS} FROM sales_process WHERE workspace_id = $1 AND process_id = $2"))
                .bind(ws.to_string())
                .bind(id.to_string()),
        )
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let stages: Vec<StageRow> = c
        .fetch_all(
            &sql(format!("SELECT {STAGE_COLUMNS} FROM process_stage WHERE workspace_id = $1 AND process_id = $2 ORDER BY position, stage_id"))
                .bind(ws.to_string())
                .bind(id.to_string()),
        )
        .await?;
    Ok(assemble(rows, stages)?.pop())
}

fn assemble(rows: Vec<ProcessRow>, stages: Vec<StageRow>) -> StoreResult<Vec<SalesProcess>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut stages: Vec<(String, Stage)> =
        stages.into_iter().map(|s| Ok((s.process_id.clone(), Stage::try_from(s)?))).collect::<StoreResult<_>>()?;
    for r in rows {
        let mine: Vec<Stage> = {
            let (m, rest): (Vec<_>, Vec<_>) = stages.into_iter().partition(|(p, _)| *p == r.process_id);
            stages = rest;
            m.into_iter().map(|(_, s)| s).collect()
        };
        out.push(SalesProcess {
            id: parse_id(&r.process_id, ProcessId::parse)?,
            workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            name: r.name,
            description: r.description,
            is_default: r.is_default,
            applicability: Applicability {
                business_types: json(&r.business_types, "business types")?,
                customer_types: json(&r.customer_types, "customer types")?,
                industries: json(&r.industries, "industries")?,
                product_categories: json(&r.product_categories, "product categories")?,
                org_unit_ids: json(&r.org_unit_ids, "org units")?,
            },
            won_required_fields: json(&r.won_required_fields, "won required fields")?,
            close_reminder_days: r.close_reminder_days.clamp(0, 365) as u32,
            stages: mine,
            archived: r.archived_at.is_some(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        });
    }
    Ok(out)
}
