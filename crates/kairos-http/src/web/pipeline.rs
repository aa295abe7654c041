//! The pipeline kanban: columns per stage with their totals, cards moved by drag-and-drop
//! or the keyboard "Move to…" menu — always through the stage engine. A refused move
//! answers the gate form (everything missing, with inputs to supply it) and the card
//! snaps back; an approval-gated move answers "pending approval".

use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use kairos_app::AppError;
use kairos_app::documents::Upload;
use kairos_app::opportunities::{OpportunityPatch, OpportunityView};
use kairos_app::pipeline::PipelineQuery;
use kairos_app::stage_engine::{MoveOutcome, MoveRequest, TickRequest};
use kairos_domain::process::SalesProcess;
use minijinja::{Value, context};
use serde::Deserialize;
use serde_json::json;

use super::forms::{parse_money, query_of};
use super::Page;
use crate::state::AppState;

/// Cards shown per column before "more".
const CARDS_PER_COLUMN: &str = "30";

pub async fn page(State(state): State<AppState>, page: Page, RawQuery(raw): RawQuery) -> Response {
    let (query, qs) = match board_query(&page, raw.as_deref()) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let processes = match state.app.list_processes(&page.actor).await {
        Ok(p) => p,
        Err(e) => return page.error(e),
    };
    let pipeline = match state.app.pipeline(&page.actor, &query).await {
        Ok(p) => p,
        Err(e) => return page.error(e),
    };
    let processes: Vec<Value> = processes.iter().filter(|p| !p.archived).map(|p| context! { id => p.id.to_string(), name => p.name.clone() }).collect();
    page.render("pipeline.html", "pipeline", context! { processes, board => pipeline, qs, query => filters_echo(&query), more => false })
}

/// The board alone (after a move or a filter change), or one column's next cards.
pub async fn board(State(state): State<AppState>, page: Page, RawQuery(raw): RawQuery) -> Response {
    let (query, qs) = match board_query(&page, raw.as_deref()) {
        Ok(q) => q,
        Err(r) => return r,
    };
    match state.app.pipeline(&page.actor, &query).await {
        Ok(pipeline) => page.render("_board.html", "pipeline", context! { board => pipeline, qs, more => query.stage_id.is_some() }),
        Err(e) => page.error(e),
    }
}

fn board_query(page: &Page, raw: Option<&str>) -> Result<(PipelineQuery, String), Response> {
    let mut query: PipelineQuery = query_of(raw).map_err(|e| page.error(e))?;
    query.limit.get_or_insert_with(|| CARDS_PER_COLUMN.to_string());
    // The board's own address without paging, for refreshes after a move.
    let qs = serde_urlencoded::to_string(
        [("process_id", &query.process_id), ("q", &query.q), ("owner_id", &query.owner_id), ("close_to", &query.close_to)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.as_str())))
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    Ok((query, qs))
}

fn filters_echo(q: &PipelineQuery) -> Value {
    context! { process_id => q.process_id.clone(), q => q.q.clone(), close_to => q.close_to.clone() }
}

#[derive(Deserialize)]
pub struct MoveForm {
    stage_id: String,
    /// The version the card showed; a move of a deal changed since is refused (409).
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

pub async fn move_card(State(state): State<AppState>, page: Page, Path(id): Path<String>, axum::Form(form): axum::Form<MoveForm>) -> Response {
    let request = MoveRequest {
        stage_id: form.stage_id.clone(),
        version: form.version,
        reason: form.reason.filter(|r| !r.trim().is_empty()),
        note: form.note.filter(|n| !n.trim().is_empty()),
        override_reason: None,
        at: None,
    };
    let outcome = state.app.move_opportunity(&page.actor, &id, request).await;
    answer_move(&state, &page, &id, &form.stage_id, outcome, Vec::new(), &Typed::new()).await
}

/// Raw form values by field name.
type Typed = std::collections::BTreeMap<String, String>;

/// Turns what the stage engine said into the fragment the kanban shows, with the outcome
/// in `X-Kairos-Outcome` (moved, pending, refused, error) so the board knows whether the
/// card stays where it was dropped.
async fn answer_move(state: &AppState, page: &Page, id: &str, to: &str, outcome: Result<MoveOutcome, AppError>, errors: Vec<Value>, typed: &Typed) -> Response {
    let (mut response, kind) = match outcome {
        Ok(MoveOutcome::Moved { opportunity }) => {
            let r = page.render("_moved.html", "", context! { outcome => "moved", name => opportunity.name.clone(), id => opportunity.id.to_string() });
            (r, "moved")
        }
        Ok(MoveOutcome::PendingApproval { approval }) => {
            let r = page.render("_moved.html", "", context! { outcome => "pending", name => "", id => approval.opportunity_id.clone(), reason => approval.reason.clone() });
            (r, "pending")
        }
        Err(AppError::Refused { code: "gate_refused", details, .. }) => match gate_form(state, page, id, to, &details["missing"], false, errors, typed).await {
            Ok(r) => (r, "refused"),
            Err(e) => (page.error(e), "error"),
        },
        Err(AppError::Validation(fields)) if fields.iter().any(|f| f.field == "reason") => {
            match gate_form(state, page, id, to, &json!([]), true, errors, typed).await {
                Ok(r) => (r, "refused"),
                Err(e) => (page.error(e), "error"),
            }
        }
        Err(e) => (page.error(e), "error"),
    };
    if kind == "refused" {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    let h = response.headers_mut();
    h.insert("x-kairos-outcome", HeaderValue::from_static(kind));
    if matches!(kind, "moved" | "pending") {
        h.insert("hx-trigger", HeaderValue::from_static("kairos-moved"));
    }
    response
}

/// Every missing criterion with an input to supply it where one fits on a form; the rest
/// (contacts, need scores, health) link to the card.
#[allow(clippy::too_many_arguments)]
async fn gate_form(state: &AppState, page: &Page, id: &str, to: &str, missing: &serde_json::Value, need_reason: bool, errors: Vec<Value>, typed: &Typed) -> Result<Response, AppError> {
    let view = state.app.get_opportunity(&page.actor, id).await?;
    let process = state.app.get_process(&page.actor, &view.opportunity.process_id.to_string()).await?;
    let items: Vec<Value> = missing.as_array().into_iter().flatten().map(|m| missing_item(page, &process, &view, m, typed)).collect();
    let target = process.stages.iter().find(|s| s.id.to_string() == to).map(|s| s.name.clone()).unwrap_or_default();
    Ok(page.render(
        "_gate.html",
        "",
        context! { id, to, target, name => view.opportunity.name.clone(), number => view.opportunity.number.clone(), items, need_reason, errors },
    ))
}

fn missing_item(page: &Page, process: &SalesProcess, view: &OpportunityView, m: &serde_json::Value, typed: &Typed) -> Value {
    let o = &view.opportunity;
    let text = |k: &str| m[k].as_str().unwrap_or("").to_string();
    let (kind, name, stage_id) = (text("kind"), text("name"), text("stage_id"));
    let (input, value, label) = match kind.as_str() {
        "field" => {
            let (input, value) = match name.as_str() {
                "amount" => ("money", if o.amount > 0 { (o.amount as f64 / 100.0).to_string() } else { String::new() }),
                "expected_close_date" => ("date", o.expected_close_date.map(|d| d.to_string()).unwrap_or_default()),
                "contract_signed_on" => ("date", o.contract_signed_on.map(|d| d.to_string()).unwrap_or_default()),
                "source" => ("text", o.source.clone().unwrap_or_default()),
                "product_category" => ("text", o.product_category.clone().unwrap_or_default()),
                "business_type" => ("text", o.business_type.clone().unwrap_or_default()),
                "contract_number" => ("text", o.contract_number.clone().unwrap_or_default()),
                "competitors" => ("text", o.competitors.join(", ")),
                "budget_approved" => ("checkbox", String::new()),
                // Contacts and need scores are edited on the card.
                _ => ("card", String::new()),
            };
            // What the user typed wins over what is stored: nothing typed is ever lost.
            let value = typed.get(&name).cloned().unwrap_or(value);
            (input, value, page.label(&format!("field.{name}")))
        }
        "checklist" => {
            let label = process
                .stages
                .iter()
                .flat_map(|s| s.criteria.checklist.iter().map(move |i| (s.id.to_string(), i)))
                .find(|(s, i)| *s == stage_id && i.key == name)
                .map(|(_, i)| i.label.clone())
                .unwrap_or_else(|| name.clone());
            ("tick", format!("{stage_id}:{name}"), label)
        }
        "document" => ("file", String::new(), name.clone()),
        "health" => ("card", String::new(), format!("{} {}", page.label("gate.health"), o.health.score)),
        _ => ("none", String::new(), text("message")),
    };
    context! { kind, name, stage => text("stage"), input, value, label, message => text("message") }
}

/// The gate form: fills the missing fields, ticks the items, attaches the documents, then
/// tries the move again — one submission, and what the user typed comes back if anything
/// is still wrong.
pub async fn supply_and_retry(State(state): State<AppState>, page: Page, Path(id): Path<String>, mut multipart: Multipart) -> Response {
    let mut to = String::new();
    let mut reason = None;
    let mut patch = serde_json::Map::new();
    let mut ticks: Vec<(String, String)> = Vec::new();
    let mut uploads: Vec<Upload> = Vec::new();
    let mut errors: Vec<Value> = Vec::new();
    let mut typed = Typed::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return page.error(AppError::field("form", e.body_text())),
        };
        let name = field.name().unwrap_or("").to_string();
        if let Some(doc_type) = name.strip_prefix("doc:") {
            let doc_type = doc_type.to_string();
            let file_name = field.file_name().unwrap_or("").to_string();
            let content_type = field.content_type().unwrap_or("application/octet-stream").to_string();
            match field.bytes().await {
                Ok(bytes) if !bytes.is_empty() => uploads.push(Upload { doc_type, file_name, content_type, bytes: bytes.to_vec() }),
                Ok(_) => {}
                Err(e) => return page.error(AppError::field("file", e.body_text())),
            }
            continue;
        }
        let value = match field.text().await {
            Ok(v) => v.trim().to_string(),
            Err(e) => return page.error(AppError::field(&name, e.body_text())),
        };
        match name.as_str() {
            "stage_id" => to = value,
            "reason" => reason = Some(value).filter(|v| !v.is_empty()),
            "tick" => {
                if let Some((stage, key)) = value.split_once(':') {
                    ticks.push((stage.to_string(), key.to_string()));
                }
            }
            _ => {
                let Some(f) = name.strip_prefix("f_") else { continue };
                typed.insert(f.to_string(), value.clone());
                if value.is_empty() {
                    continue;
                }
                let v = match f {
                    "amount" => match parse_money(&value) {
                        Ok(minor) => json!(minor),
                        Err(problem) => {
                            errors.push(context! { field => page.label("field.amount"), problem => page.label(problem) });
                            continue;
                        }
                    },
                    "budget_approved" => json!(true),
                    "competitors" => json!(value.split([',', '，', '、']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>()),
                    _ => json!(value),
                };
                patch.insert(f.to_string(), v);
            }
        }
    }
    if !errors.is_empty() {
        return retry(&state, &page, &id, &to, reason, errors, &typed).await;
    }
    if let Err(e) = apply(&state, &page, &id, patch, ticks, uploads).await {
        let mut fields = Vec::new();
        if let AppError::Validation(list) = &e {
            for f in list {
                fields.push(context! { field => page.label(&format!("field.{}", f.field)), problem => f.problem.clone() });
            }
        }
        if fields.is_empty() {
            return page.error(e);
        }
        return retry(&state, &page, &id, &to, reason, fields, &typed).await;
    }
    retry(&state, &page, &id, &to, reason, Vec::new(), &typed).await
}

/// Tries the move again at the deal's current version: the form just changed the deal,
/// and the gate re-checks everything anyway.
async fn retry(state: &AppState, page: &Page, id: &str, to: &str, reason: Option<String>, errors: Vec<Value>, typed: &Typed) -> Response {
    let outcome = match state.app.get_opportunity(&page.actor, id).await {
        Ok(current) => {
            let request = MoveRequest { stage_id: to.to_string(), version: Some(current.opportunity.version), reason, note: None, override_reason: None, at: None };
            state.app.move_opportunity(&page.actor, id, request).await
        }
        Err(e) => Err(e),
    };
    answer_move(state, page, id, to, outcome, errors, typed).await
}

async fn apply(state: &AppState, page: &Page, id: &str, mut patch: serde_json::Map<String, serde_json::Value>, ticks: Vec<(String, String)>, uploads: Vec<Upload>) -> Result<(), AppError> {
    if !patch.is_empty() {
        // The version read just now: the form is a fresh read of what is missing, and every
        // field it sets was empty, so nobody's edit is overwritten.
        let current = state.app.get_opportunity(&page.actor, id).await?;
        patch.insert("version".into(), json!(current.opportunity.version));
        let patch: OpportunityPatch = serde_json::from_value(serde_json::Value::Object(patch)).map_err(|e| AppError::field("form", e.to_string()))?;
        state.app.update_opportunity(&page.actor, id, patch).await?;
    }
    for (stage_id, item_key) in ticks {
        state.app.tick(&page.actor, id, TickRequest { stage_id, item_key, ticked: true, note: None }).await?;
    }
    for upload in uploads {
        state.app.upload_document(&page.actor, id, upload).await?;
    }
    Ok(())
}
