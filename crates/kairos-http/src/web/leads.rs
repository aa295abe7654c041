//! Leads in the browser: the list with filters, a new-lead form and a file import; the lead
//! page with its BANT facts, score and the rules that gave it, status, claiming from the
//! pool and conversion. Every action calls the same use-case as the REST API.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Multipart, Path, RawQuery, State};
use axum::response::Response;
use kairos_app::AppError;
use kairos_app::lead_convert::ConvertLead;
use kairos_app::lead_import::{ImportFile, ImportMapping};
use kairos_app::lead_import_jobs::ImportJob;
use kairos_domain::ids::ImportJobId;
use kairos_app::leads::{LeadPatch, LeadQuery, NewLead};
use kairos_domain::lead::LeadStatus;
use minijinja::context;
use serde_json::json;

use super::{Page, form_field as field, go_to};
use super::forms::{parse_money, query_of};
use crate::state::AppState;

const SOURCES: [&str; 8] = ["exhibition", "web", "ad", "social", "partner", "referral", "inbound_call", "other"];

pub async fn list(State(state): State<AppState>, page: Page, RawQuery(raw): RawQuery) -> Response {
    let mut query: LeadQuery = match query_of(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return page.error(e),
    };
    if query.owner_id.as_deref() == Some("me") {
        query.owner_id = Some(page.actor.id().to_string());
    }
    query.limit.get_or_insert_with(|| "50".into());
    let result = match state.app.list_leads(&page.actor, &query).await {
        Ok(r) => r,
        Err(e) => return page.error(e),
    };
    let owners = match super::user_names(&state, &page).await {
        Ok(o) => o,
        Err(e) => return page.error(e),
    };
    let views = match state.app.list_saved_views(&page.actor, Some("leads")).await {
        Ok(v) => v,
        Err(e) => return page.error(e),
    };
    let qs = serde_urlencoded::to_string([
        ("q", query.q.clone().unwrap_or_default()),
        ("status", query.status.clone().unwrap_or_default()),
        ("source", query.source.clone().unwrap_or_default()),
        ("owner_id", query.owner_id.clone().unwrap_or_default()),
    ])
    .unwrap_or_default();
    let next = result.next_cursor.as_ref().map(|c| format!("/leads?{qs}&cursor={c}"));
    page.render(
        "leads.html",
        "leads",
        context! { rows => result.items, total => result.total, next, query => &query, owners, sources => SOURCES, my_id => page.actor.id().to_string(),
            views, current => raw.unwrap_or_default() },
    )
}

pub async fn create(State(state): State<AppState>, page: Page, Form(form): Form<HashMap<String, String>>) -> Response {
    let f = |k: &str| field(&form, k);
    let budget = match f("budget_amount").map(|a| parse_money(&a)) {
        Some(Ok(m)) => Some(m),
        Some(Err(problem)) => return page.error(AppError::field("budget_amount", page.label(problem))),
        None => None,
    };
    let input = NewLead {
        source: f("source"),
        campaign: f("campaign"),
        company: f("company"),
        contact_name: f("contact_name"),
        phone: f("phone"),
        email: f("email"),
        region: f("region"),
        industry: f("industry"),
        notes: f("notes"),
        budget_amount: budget,
        owner_id: (f("assign").as_deref() == Some("me")).then(|| page.actor.id().to_string()),
        on_duplicate: (f("merge").is_some()).then_some(kairos_app::lead_capture::OnDuplicate::Merge),
        ..NewLead::default()
    };
    match state.app.create_lead(&page.actor, input).await {
        Ok(o) => go_to(&format!("/leads/{}", o.lead.id)),
        Err(e) => page.error(e),
    }
}

pub async fn show(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    let lead = match state.app.get_lead(&page.actor, &id).await {
        Ok(l) => l,
        Err(e) => return page.error(e),
    };
    let owner = match lead.owner_id {
        Some(u) => state.app.get_user(&page.actor, &u.to_string()).await.map(|u| u.display_name).unwrap_or_default(),
        None => String::new(),
    };
    let statuses: Vec<&str> = LeadStatus::ALL.iter().filter(|s| **s != LeadStatus::Converted).map(|s| s.as_str()).collect();
    page.render("lead.html", "leads", context! { l => &lead, owner, statuses, read_only => lead.is_read_only() })
}

pub async fn claim(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    match state.app.claim_lead(&page.actor, &id).await {
        Ok(_) => go_to(&format!("/leads/{id}")),
        Err(e) => page.error(e),
    }
}

pub async fn set_status(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<HashMap<String, String>>) -> Response {
    let status = match field(&form, "status").as_deref().map(LeadStatus::from_stored) {
        Some(Some(s)) => s,
        _ => return page.error(AppError::field("status", page.label("leads.pick_status"))),
    };
    let version = field(&form, "version").and_then(|v| v.parse().ok());
    let patch = LeadPatch { version, status: Some(status), disqualify_reason: field(&form, "disqualify_reason"), ..LeadPatch::default() };
    match state.app.update_lead(&page.actor, &id, patch).await {
        Ok(_) => go_to(&format!("/leads/{id}")),
        Err(e) => page.error(e),
    }
}

pub async fn convert(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<HashMap<String, String>>) -> Response {
    let f = |k: &str| field(&form, k);
    let amount = match f("amount").map(|a| parse_money(&a)) {
        Some(Ok(m)) => Some(m),
        Some(Err(problem)) => return page.error(AppError::field("amount", page.label(problem))),
        None => None,
    };
    let input = json!({
        "version": f("version").and_then(|v| v.parse::<i64>().ok()),
        "account_name": f("account_name"),
        "create_opportunity": f("create_opportunity").is_some(),
        "opportunity_name": f("opportunity_name"),
        "amount": amount,
        "expected_close_date": f("expected_close_date"),
    });
    let input: ConvertLead = match serde_json::from_value(input) {
        Ok(i) => i,
        Err(e) => return page.error(AppError::field("expected_close_date", e.to_string())),
    };
    match state.app.convert_lead(&page.actor, &id, input).await {
        Ok(done) => match &done.opportunity {
            Some(o) => go_to(&format!("/opportunities/{}", o.opportunity.id)),
            None => go_to(&format!("/accounts/{}", done.account.id)),
        },
        Err(e) => page.error(e),
    }
}

/// The file import: the same use-case as `kairos import leads`, answered with the report.
pub async fn import(State(state): State<AppState>, page: Page, mut form: Multipart) -> Response {
    let mut file = None;
    let mut mapping = ImportMapping::default();
    loop {
        let next = match form.next_field().await {
            Ok(n) => n,
            Err(e) => return page.error(AppError::field("file", e.to_string())),
        };
        let Some(part) = next else { break };
        let name = part.name().unwrap_or("").to_string();
        let file_name = part.file_name().map(str::to_string);
        let bytes = match part.bytes().await {
            Ok(b) => b,
            Err(e) => return page.error(AppError::field("file", e.to_string())),
        };
        match name.as_str() {
            "file" if !bytes.is_empty() => file = Some(ImportFile::Bytes { name: file_name.unwrap_or_else(|| "leads.csv".into()), bytes: bytes.to_vec() }),
            "source" if !bytes.is_empty() => mapping.source = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "merge" => mapping.on_duplicate = Some(kairos_app::lead_capture::OnDuplicate::Merge),
            "all_or_nothing" => mapping.all_or_nothing = Some(true),
            _ => {}
        }
    }
    let Some(file) = file else { return page.error(AppError::field("file", page.label("leads.choose_file"))) };
    match state.app.start_lead_import(&page.actor, file, mapping).await {
        Ok(job) => import_progress(&page, &job),
        Err(e) => page.error(e),
    }
}

/// A background import as the browser follows it: rows done while it runs (the fragment
/// asks again every second), then the report.
pub async fn import_job(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    let Ok(id) = ImportJobId::parse(&id) else { return page.error(AppError::NotFound { entity: "import job" }) };
    match state.app.lead_import_job(&page.actor, id).await {
        Ok(job) => import_progress(&page, &job),
        Err(e) => page.error(e),
    }
}

fn import_progress(page: &Page, job: &ImportJob) -> Response {
    let refused: Vec<&serde_json::Value> = job
        .report
        .as_ref()
        .and_then(|r| r["outcomes"].as_array())
        .map(|rows| rows.iter().filter(|o| o["outcome"] == "refused").take(200).collect())
        .unwrap_or_default();
    page.render("_import_progress.html", "", context! { job, r => &job.report, refused })
}
