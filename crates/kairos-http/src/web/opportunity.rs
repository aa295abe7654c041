//! The opportunity list and the opportunity card: facts edited inline with optimistic
//! locking, the stage path, checklist, documents, health, decision chain, history,
//! approvals, and the close and reopen dialogs.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use kairos_app::AppError;
use kairos_app::activities::{ActivityQuery, NewActivity};
use kairos_app::contacts::ContactQuery;
use kairos_app::opportunities::{OpportunityPatch, OpportunityQuery, OpportunityView};
use kairos_app::saved_views::NewSavedView;
use kairos_app::stage_engine::{CloseRequest, ReopenRequest, TickRequest};
use kairos_domain::activity::ActivityKind;
use kairos_domain::opportunity::OppStatus;
use minijinja::{Value, context};
use serde::Deserialize;
use serde_json::json;

use super::Page;
use super::forms::{parse_money, query_of};
use crate::state::AppState;

/// Rows a CSV or XLSX export carries at most (a spreadsheet, not a backup).
const EXPORT_LIMIT: usize = 20_000;

#[derive(Deserialize, Default)]
struct ListParams {
    #[serde(default)]
    format: Option<String>,
}

pub async fn list(State(state): State<AppState>, page: Page, RawQuery(raw): RawQuery) -> Response {
    let params: ListParams = query_of(raw.as_deref()).unwrap_or_default();
    // `format` is ours; the rest is the app's filter.
    let raw_filter = raw.as_deref().map(|r| r.split('&').filter(|p| !p.starts_with("format=")).collect::<Vec<_>>().join("&"));
    let mut query: OpportunityQuery = match query_of(raw_filter.as_deref()) {
        Ok(q) => q,
        Err(e) => return page.error(e),
    };
    if let Some(format) = params.format.as_deref().filter(|f| matches!(*f, "csv" | "xlsx")) {
        return export(&state, &page, query, format).await;
    }
    query.limit.get_or_insert_with(|| "50".into());
    let result = match state.app.list_opportunities(&page.actor, &query).await {
        Ok(r) => r,
        Err(e) => return page.error(e),
    };
    let stages = super::stage_names(&state, &page).await.unwrap_or_default();
    let views = match state.app.list_saved_views(&page.actor, Some("opportunities")).await {
        Ok(v) => v,
        Err(e) => return page.error(e),
    };
    let rows: Vec<Value> = result
        .items
        .iter()
        .map(|o| context! { o => o, stage => stages.get(&o.stage_id.to_string()).cloned().unwrap_or_default() })
        .collect();
    let next = result.next_cursor.as_ref().map(|c| with_param(raw_filter.as_deref().unwrap_or(""), "cursor", c));
    let export = with_param(raw_filter.as_deref().unwrap_or(""), "format", "csv");
    let export_xlsx = with_param(raw_filter.as_deref().unwrap_or(""), "format", "xlsx");
    page.render(
        "opportunities.html",
        "opportunities",
        context! { rows, total => result.total, next, export, export_xlsx, views, current => raw_filter.unwrap_or_default(), query => json!({
            "q": query.q, "status": query.status, "sort": query.sort, "close_from": query.close_from, "close_to": query.close_to,
        }) },
    )
}

/// "Save this view": `list`, `name` and the list's current `query`.
pub async fn save_view(State(state): State<AppState>, page: Page, Form(form): Form<HashMap<String, String>>) -> Response {
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let input = NewSavedView { list: field("list"), name: field("name"), query: field("query") };
    page.refreshed(state.app.create_saved_view(&page.actor, input).await)
}

pub async fn delete_view(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    page.refreshed(state.app.delete_saved_view(&page.actor, &id).await)
}

fn with_param(base: &str, key: &str, value: &str) -> String {
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(base).unwrap_or_default();
    pairs.retain(|(k, _)| k != key && k != "cursor");
    pairs.push((key.to_string(), value.to_string()));
    format!("/opportunities?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
}

async fn export(state: &AppState, page: &Page, mut query: OpportunityQuery, format: &str) -> Response {
    query.limit = Some("500".into());
    query.cursor = None;
    let mut all = Vec::new();
    loop {
        let result = match state.app.list_opportunities(&page.actor, &query).await {
            Ok(r) => r,
            Err(e) => return page.error(e),
        };
        all.extend(result.items);
        match result.next_cursor {
            Some(c) if all.len() < EXPORT_LIMIT => query.cursor = Some(c),
            _ => break,
        }
    }
    match crate::export::respond("opportunities", Some(format), json!({ "items": all })) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

pub async fn card(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    match card_context(&state, &page, &id).await {
        Ok(ctx) => page.render("opportunity.html", "opportunities", ctx),
        Err(e) => page.error(e),
    }
}

async fn card_context(state: &AppState, page: &Page, id: &str) -> Result<Value, AppError> {
    let app = &state.app;
    let actor = &page.actor;
    let view = app.get_opportunity(actor, id).await?;
    let o = &view.opportunity;
    let process = app.get_process(actor, &o.process_id.to_string()).await?;
    let account = app.get_account(actor, &o.account_id.to_string()).await?;
    let contacts = app
        .list_contacts(actor, &ContactQuery { account_id: Some(o.account_id.to_string()), limit: Some("200".into()), ..Default::default() })
        .await?
        .items;
    let users = super::user_names(state, page).await?;
    let name_of = |uid: &str| users.get(uid).cloned().unwrap_or_default();
    let history = app.opportunity_history(actor, id).await?;
    let approvals = app.opportunity_approvals(actor, id).await?;
    let ticks = app.checklist(actor, id).await?;
    let documents = app.documents(actor, id).await?;
    let reasons = app.close_reasons(actor).await?;
    let activities = app
        .list_activities(actor, &ActivityQuery { opportunity_id: Some(id.to_string()), limit: Some("50".into()), ..Default::default() })
        .await?
        .items;
    let support = app
        .list_support_requests(actor, &kairos_app::support::SupportQuery { view: Some("deal".into()), opportunity_id: Some(id.to_string()), ..Default::default() })
        .await?;
    let current = process.stages.iter().find(|s| s.id == o.stage_id);
    let current_position = current.map(|s| s.position).unwrap_or(0);
    let path: Vec<Value> = process
        .stages
        .iter()
        .filter(|s| !s.retired || s.id == o.stage_id)
        .map(|s| {
            let state = if s.id == o.stage_id { "current" } else if s.position < current_position { "done" } else { "ahead" };
            context! { id => s.id.to_string(), name => s.name.clone(), probability => s.probability, state }
        })
        .collect();
    let checklist: Vec<Value> = process
        .stages
        .iter()
        .flat_map(|s| {
            let ticks = &ticks;
            let name_of = &name_of;
            s.criteria.checklist.iter().map(move |item| {
                let tick = ticks.iter().find(|t| t.stage_id == s.id.to_string() && t.item_key == item.key);
                context! { stage_id => s.id.to_string(), stage => s.name.clone(), key => item.key.clone(), label => item.label.clone(), required => item.required,
                    ticked => tick.is_some(), by => tick.map(|t| name_of(&t.ticked_by)), at => tick.map(|t| t.ticked_at.to_rfc3339()) }
            })
        })
        .collect();
    let chain: Vec<Value> = view
        .contacts
        .iter()
        .map(|link| {
            let c = contacts.iter().find(|c| c.id == link.contact_id);
            context! { id => link.contact_id.to_string(), name => c.map(|c| c.name.clone()).unwrap_or_default(), title => c.and_then(|c| c.title.clone()),
                role => link.role, attitude => c.map(|c| c.attitude), reached => link.reached }
        })
        .collect();
    let history: Vec<Value> = history.iter().rev().map(|h| context! { h => h, who => h.actor_id.as_deref().map(name_of) }).collect();
    let activities: Vec<Value> = activities
        .iter()
        .map(|a| {
            let with: Vec<String> = a.contact_ids.iter().filter_map(|k| contacts.iter().find(|c| c.id == *k).map(|c| c.name.clone())).collect();
            context! { a => a, who => name_of(&a.owner_id.to_string()), with => with.join(", ") }
        })
        .collect();
    let approvals: Vec<Value> = approvals
        .iter()
        .map(|a| context! { a => a, requester => name_of(&a.requested_by), decider => a.decided_by.as_deref().map(name_of) })
        .collect();
    let available: Vec<Value> = contacts
        .iter()
        .filter(|c| !view.contacts.iter().any(|l| l.contact_id == c.id))
        .map(|c| context! { id => c.id.to_string(), name => c.name.clone(), role => c.decision_role })
        .collect();
    let required_docs: Vec<String> = process.stages.iter().flat_map(|s| s.criteria.required_documents.clone()).collect();
    Ok(context! {
        o => o, view => &view, available, activities, support => support.iter().map(|r| context! { r => r, requester => name_of(&r.request.requester_id.to_string()) }).collect::<Vec<_>>(),
        support_teams => ["presales", "customer_success", "finance", "legal"], activity_kinds => ActivityKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(), process_name => process.name.clone(), path, checklist, chain, history, approvals, documents, reasons,
        required_docs, account_name => account.account.name.clone(), owner_name => name_of(&o.owner_id.to_string()),
        guidance => current.and_then(|s| s.guidance.clone()), stages => process.stages.iter().filter(|s| !s.retired).map(|s| context! { id => s.id.to_string(), name => s.name.clone() }).collect::<Vec<_>>(),
        facts => facts_context(&view, None, None), read => json!(stored_facts(&view)).to_string(),
    })
}

/// The facts form: what is stored, or what the user typed plus what changed meanwhile.
fn facts_context(view: &OpportunityView, typed: Option<&HashMap<String, String>>, conflict: Option<Vec<Value>>) -> Value {
    let o = &view.opportunity;
    let stored = stored_facts(view);
    let value = |k: &str| typed.and_then(|t| t.get(k).cloned()).unwrap_or_else(|| stored.get(k).cloned().unwrap_or_default());
    context! {
        id => o.id.to_string(), version => o.version, currency => o.currency.clone(), closed => o.status != OppStatus::Open,
        name => value("name"), amount => value("amount"), expected_close_date => value("expected_close_date"), source => value("source"),
        product_category => value("product_category"), business_type => value("business_type"), competitors => value("competitors"),
        contract_number => value("contract_number"), contract_signed_on => value("contract_signed_on"),
        budget_approved => value("budget_approved") == "true", conflict,
    }
}

fn stored_facts(view: &OpportunityView) -> HashMap<String, String> {
    let o = &view.opportunity;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    HashMap::from([
        ("name".into(), o.name.clone()),
        ("amount".into(), format!("{}", o.amount as f64 / 100.0)),
        ("expected_close_date".into(), o.expected_close_date.map(|d| d.to_string()).unwrap_or_default()),
        ("source".into(), opt(&o.source)),
        ("product_category".into(), opt(&o.product_category)),
        ("business_type".into(), opt(&o.business_type)),
        ("competitors".into(), o.competitors.join(", ")),
        ("contract_number".into(), opt(&o.contract_number)),
        ("contract_signed_on".into(), o.contract_signed_on.map(|d| d.to_string()).unwrap_or_default()),
        ("budget_approved".into(), o.budget_approved.to_string()),
    ])
}

const FACTS: [&str; 10] =
    ["name", "amount", "expected_close_date", "source", "product_category", "business_type", "competitors", "contract_number", "contract_signed_on", "budget_approved"];

/// Saves the facts form. The form carries the version it was read at; if someone saved in
/// between, nothing is overwritten: the answer shows each field they changed next to what
/// this user typed, and a second save (now at the new version) is a deliberate choice.
pub async fn save_facts(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut typed: HashMap<String, String> = FACTS.iter().map(|k| (k.to_string(), form.get(*k).map(|v| v.trim().to_string()).unwrap_or_default())).collect();
    typed.insert("budget_approved".into(), (form.get("budget_approved").map(String::as_str) == Some("on")).to_string());
    let read_version: i64 = form.get("version").and_then(|v| v.parse().ok()).unwrap_or(0);
    let current = match state.app.get_opportunity(&page.actor, &id).await {
        Ok(v) => v,
        Err(e) => return page.error(e),
    };
    let stored = stored_facts(&current);
    let form_read = form.get("read").map(|r| serde_json::from_str::<HashMap<String, String>>(r).unwrap_or_default()).unwrap_or_default();
    if current.opportunity.version != read_version {
        // Only fields someone else changed since this form was read are conflicts.
        let conflict: Vec<Value> = FACTS
            .iter()
            .filter(|k| form_read.get(**k).is_some_and(|was| Some(was) != stored.get(**k)))
            .map(|k| context! { field => page.label(&format!("field.{k}")), theirs => stored.get(*k).cloned().unwrap_or_default(), yours => typed.get(*k).cloned().unwrap_or_default() })
            .collect();
        let mut r = page.render("_facts.html", "", context! { f => facts_context(&current, Some(&typed), Some(conflict)), read => json!(stored).to_string() });
        *r.status_mut() = axum::http::StatusCode::CONFLICT;
        return r;
    }
    let mut patch = serde_json::Map::new();
    let mut errors = Vec::new();
    patch.insert("version".into(), json!(read_version));
    for k in FACTS {
        let new = typed.get(k).cloned().unwrap_or_default();
        if stored.get(k) == Some(&new) {
            continue;
        }
        let value = match k {
            "amount" => match parse_money(&new) {
                Ok(m) => json!(m),
                Err(problem) => {
                    errors.push(context! { field => page.label("field.amount"), problem => page.label(problem) });
                    continue;
                }
            },
            "budget_approved" => json!(new == "true"),
            "competitors" => json!(new.split([',', '，', '、']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>()),
            "name" => json!(new),
            _ if new.is_empty() => serde_json::Value::Null,
            _ => json!(new),
        };
        patch.insert(k.to_string(), value);
    }
    let outcome = if errors.is_empty() {
        match serde_json::from_value::<OpportunityPatch>(serde_json::Value::Object(patch)) {
            Ok(p) => state.app.update_opportunity(&page.actor, &id, p).await,
            Err(e) => Err(AppError::field("form", e.to_string())),
        }
    } else {
        Err(AppError::Validation(Vec::new()))
    };
    match outcome {
        Ok(saved) => {
            let mut r = page.render("_facts.html", "", context! { f => facts_context(&saved, None, None), saved => true, read => json!(stored_facts(&saved)).to_string() });
            r.headers_mut().insert("hx-trigger", HeaderValue::from_static("kairos-saved"));
            r
        }
        Err(AppError::Validation(list)) => {
            for f in list {
                errors.push(context! { field => page.label(&format!("field.{}", f.field)), problem => f.problem });
            }
            let mut r = page.render("_facts.html", "", context! { f => facts_context(&current, Some(&typed), None), errors, read => json!(stored).to_string() });
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            r
        }
        Err(e) => page.error(e),
    }
}

/// The health panel's form: the ten need-confirmation items (`need_1` … `need_10`, 0–10
/// each, as the customer confirmed them) and whether the deal is in the customer's annual plan.
pub async fn save_health(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<HashMap<String, String>>) -> Response {
    let result = async {
        let mut items = Vec::with_capacity(10);
        for n in 1..=10 {
            let text = form.get(&format!("need_{n}")).map(|v| v.trim()).unwrap_or("");
            let value = if text.is_empty() { 0 } else { text.parse::<i64>().map_err(|_| AppError::field("need_items", format!("need item {n} must be a whole number from 0 to 10")))? };
            items.push(value);
        }
        let patch = OpportunityPatch {
            version: form.get("version").and_then(|v| v.parse().ok()),
            need_items: Some(items),
            in_annual_plan: Some(form.contains_key("in_annual_plan")),
            ..OpportunityPatch::default()
        };
        state.app.update_opportunity(&page.actor, &id, patch).await
    };
    page.refreshed(result.await)
}

#[derive(Deserialize)]
pub struct TickForm {
    stage_id: String,
    item_key: String,
    #[serde(default)]
    ticked: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

pub async fn tick(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<TickForm>) -> Response {
    let request = TickRequest { stage_id: form.stage_id, item_key: form.item_key, ticked: form.ticked.as_deref() == Some("on"), note: form.note.filter(|n| !n.is_empty()) };
    page.refreshed(state.app.tick(&page.actor, &id, request).await)
}

#[derive(Deserialize)]
pub struct CloseForm {
    outcome: String,
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    reason_id: Option<String>,
    #[serde(default)]
    competitor: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    contract_number: Option<String>,
    #[serde(default)]
    contract_signed_on: Option<String>,
}

pub async fn close(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<CloseForm>) -> Response {
    let some = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let outcome = match OppStatus::from_stored(&form.outcome).filter(|o| *o != OppStatus::Open) {
        Some(o) => o,
        None => return page.error(AppError::field("outcome", "must be won, lost or invalid")),
    };
    let signed = match some(form.contract_signed_on).map(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")) {
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => return page.error(AppError::field("contract_signed_on", "is not a date (YYYY-MM-DD)")),
        None => None,
    };
    let request = CloseRequest {
        outcome,
        version: form.version,
        reason_id: some(form.reason_id),
        competitor: some(form.competitor),
        note: some(form.note),
        contract_number: some(form.contract_number),
        contract_signed_on: signed,
        closed_at: None,
        override_reason: None,
    };
    page.refreshed(state.app.close_opportunity(&page.actor, &id, request).await)
}

#[derive(Deserialize)]
pub struct ReopenForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    version: Option<i64>,
}

pub async fn reopen(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<ReopenForm>) -> Response {
    page.refreshed(state.app.reopen_opportunity(&page.actor, &id, ReopenRequest { version: form.version, reason: form.reason }).await)
}

/// After an action that changes much of the card, htmx reloads the page.
/// Logs an activity from the card: the contacts ticked (`contact_<id>`), and a next step
/// whose time is typed in China time, as the interface shows times.
pub async fn log_activity(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<HashMap<String, String>>) -> Response {
    let china = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    let next_step_at = match super::form_field(&form, "next_step_at") {
        None => None,
        Some(text) => match chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M") {
            Ok(t) => t.and_local_timezone(china).single().map(|t| t.with_timezone(&chrono::Utc)),
            Err(_) => return page.error(AppError::field("next_step_at", "must be a date and time")),
        },
    };
    let input = NewActivity {
        kind: super::form_field(&form, "kind").unwrap_or_default(),
        occurred_at: None,
        duration_minutes: None,
        opportunity_id: Some(id),
        account_id: None,
        lead_id: None,
        contact_ids: form.keys().filter_map(|k| k.strip_prefix("contact_")).map(str::to_string).collect(),
        summary: form.get("summary").cloned().unwrap_or_default(),
        outcome: super::form_field(&form, "outcome"),
        next_step: super::form_field(&form, "next_step"),
        next_step_at,
    };
    page.refreshed(state.app.log_activity(&page.actor, input).await)
}

#[derive(Deserialize)]
pub struct SupportForm {
    team: String,
    kind: String,
    description: String,
    #[serde(default)]
    expected_output: Option<String>,
    #[serde(default)]
    due_on: Option<String>,
}

/// Asks a team for support on this deal (the card's form).
pub async fn ask_support(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<SupportForm>) -> Response {
    let blank = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
    let Some(team) = kairos_domain::support::SupportTeam::from_stored(&form.team) else {
        return page.error(AppError::field("team", "must be presales, customer_success, finance or legal"));
    };
    let due_on = match blank(form.due_on).map(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => return page.error(AppError::field("due_on", "must be a date")),
    };
    let input = kairos_app::support::NewSupportRequest {
        opportunity_id: id,
        team,
        kind: form.kind,
        description: form.description,
        expected_output: blank(form.expected_output),
        due_on,
        assignee_id: None,
    };
    page.refreshed(state.app.create_support_request(&page.actor, input).await)
}

#[derive(Deserialize)]
pub struct ChainForm {
    contact_id: String,
    #[serde(default)]
    version: Option<i64>,
    /// link (default) or unlink
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    reached: Option<String>,
}

/// Links a contact of the account to the deal's decision chain (or unlinks one). The API
/// takes the whole list, so the page sends the list it showed plus the change, at the
/// version it showed.
pub async fn chain(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<ChainForm>) -> Response {
    let view = match state.app.get_opportunity(&page.actor, &id).await {
        Ok(v) => v,
        Err(e) => return page.error(e),
    };
    let mut links: Vec<serde_json::Value> = view
        .contacts
        .iter()
        .filter(|l| l.contact_id.to_string() != form.contact_id)
        .map(|l| json!({ "contact_id": l.contact_id.to_string(), "role": l.role, "reached": l.reached }))
        .collect();
    if form.action.as_deref() != Some("unlink") {
        let role = form.role.filter(|r| !r.is_empty());
        links.push(json!({ "contact_id": form.contact_id, "role": role, "reached": form.reached.as_deref() == Some("on") }));
    }
    let patch = json!({ "version": form.version, "contacts": links });
    let patch: OpportunityPatch = match serde_json::from_value(patch) {
        Ok(p) => p,
        Err(e) => return page.error(AppError::field("role", e.to_string())),
    };
    page.refreshed(state.app.update_opportunity(&page.actor, &id, patch).await)
}
