//! Public lead forms and the submissions that count against their rate limits.

use chrono::{DateTime, Utc};
use kairos_domain::ids::{LeadFormId, WorkspaceId};
use kairos_domain::lead::LeadSource;
use kairos_domain::lead_form::LeadForm;

use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::row::{parse_id, parse_stored, parse_tags, tags_json};

#[derive(sqlx::FromRow)]
struct FormRow {
    workspace_id: String,
    form_id: String,
    form_key: String,
    name: String,
    source: String,
    campaign: Option<String>,
    allowed_origins: String,
    per_address_per_hour: i64,
    active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

impl TryFrom<FormRow> for LeadForm {
    type Error = StoreError;
    fn try_from(r: FormRow) -> StoreResult<LeadForm> {
        Ok(LeadForm {
            id: parse_id(&r.form_id, LeadFormId::parse)?,
            workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            form_key: r.form_key,
            name: r.name,
            source: parse_stored(&r.source, "lead source", LeadSource::from_stored)?,
            campaign: r.campaign,
            allowed_origins: parse_tags(&r.allowed_origins)?,
            per_address_per_hour: r.per_address_per_hour,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

const COLUMNS: &str = "workspace_id, form_id, form_key, name, source, campaign, allowed_origins, per_address_per_hour, \
                       active, created_at, updated_at, version";

pub async fn insert_form(c: &mut Conn<'_>, f: &LeadForm) -> StoreResult<()> {
    c.execute(
        &sql(format!("INSERT INTO lead_form ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
            .bind(f.workspace_id.to_string())
            .bind(f.id.to_string())
            .bind(f.form_key.clone())
            .bind(f.name.clone())
            .bind(f.source.as_str())
            .bind(f.campaign.clone())
            .bind(tags_json(&f.allowed_origins))
            .bind(f.per_address_per_hour)
            .bind(f.active)
            .bind(f.created_at)
            .bind(f.updated_at)
            .bind(f.version),
    )
    .await?;
    Ok(())
}

pub async fn update_form(c: &mut Conn<'_>, f: &LeadForm, expected_version: i64) -> StoreResult<()> {
    let n = c
        .execute(
            &sql("UPDATE lead_form SET name = $1, source = $2, campaign = $3, allowed_origins = $4, per_address_per_hour = $5, \
                  active = $6, updated_at = $7, version = $8 WHERE workspace_id = $9 AND form_id = $10 AND version = $11")
            .bind(f.name.clone())
            .bind(f.source.as_str())
            .bind(f.campaign.clone())
            .bind(tags_json(&f.allowed_origins))
            .bind(f.per_address_per_hour)
            .bind(f.active)
            .bind(f.updated_at)
            .bind(f.version)
            .bind(f.workspace_id.to_string())
            .bind(f.id.to_string())
            .bind(expected_version),
        )
        .await?;
    if n == 0 { Err(StoreError::StaleVersion) } else { Ok(()) }
}

pub async fn list_forms(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Vec<LeadForm>> {
    let rows: Vec<FormRow> =
        c.fetch_all(&sql(format!("SELECT {COLUMNS} FROM lead_form WHERE workspace_id = $1 ORDER BY created_at")).bind(ws.to_string())).await?;
    rows.into_iter().map(LeadForm::try_from).collect()
}

pub async fn find_form(c: &mut Conn<'_>, ws: WorkspaceId, id: LeadFormId) -> StoreResult<Option<LeadForm>> {
    let row: Option<FormRow> = c
        .fetch_optional(&sql(format!("SELECT {COLUMNS} FROM lead_form WHERE workspace_id = $1 AND form_id = $2")).bind(ws.to_string()).bind(id.to_string()))
        .await?;
    row.map(LeadForm::try_from).transpose()
}

/// The form a public URL names, in whichever workspace it lives.
pub async fn find_form_by_key(c: &mut Conn<'_>, key: &str) -> StoreResult<Option<LeadForm>> {
    let row: Option<FormRow> = c.fetch_optional(&sql(format!("SELECT {COLUMNS} FROM lead_form WHERE form_key = $1")).bind(key.to_string())).await?;
    row.map(LeadForm::try_from).transpose()
}

/// Submissions from one address to one form since a moment.
pub async fn count_submissions(c: &mut Conn<'_>, form: LeadFormId, address: &str, since: DateTime<Utc>) -> StoreResult<i64> {
    c.fetch_count(
        &sql("SELECT COUNT(*) FROM form_submission WHERE form_id = $1 AND address = $2 AND submitted_at >= $3")
            .bind(form.to_string())
            .bind(address.to_string())
            .bind(since),
    )
    .await
}

/// Records a submission and forgets those older than `forget_before` for this form.
pub async fn record_submission(c: &mut Conn<'_>, form: LeadFormId, address: &str, at: DateTime<Utc>, forget_before: DateTime<Utc>) -> StoreResult<()> {
    c.execute(&sql("DELETE FROM form_submission WHERE form_id = $1 AND submitted_at < $2").bind(form.to_string()).bind(forget_before))
        .await?;
    c.execute(
        &sql("INSERT INTO form_submission (form_id, address, submitted_at) VALUES ($1, $2, $3)")
            .bind(form.to_string())
            .bind(address.to_string())
            .bind(at),
    )
    .await?;
    Ok(())
}
