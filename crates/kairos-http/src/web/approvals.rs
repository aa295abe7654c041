//! The approvals inbox: requests the user may decide, with the deal and the reason.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use kairos_app::AppError;
use kairos_app::stage_engine::Decision;
use minijinja::{Value, context};
use serde::Deserialize;

use super::Page;
use crate::state::AppState;

pub async fn inbox(State(state): State<AppState>, page: Page) -> Response {
    match rows(&state, &page).await {
        Ok(items) => page.render("approvals.html", "approvals", context! { items }),
        Err(e) => page.error(e),
    }
}

/// Waiting approvals with the names a person needs to decide (deal, requester, stages).
pub async fn rows(state: &AppState, page: &Page) -> Result<Vec<Value>, AppError> {
    let waiting = state.app.approvals_waiting(&page.actor).await?;
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let names = super::user_names(state, page).await?;
    let stages = super::stage_names(state, page).await?;
    // The deals in one read, within the caller's scope.
    let ids: Vec<&str> = waiting.iter().map(|a| a.opportunity_id.as_str()).collect();
    let deals: HashMap<String, _> = state.app.opportunities_by_id(&page.actor, &ids).await?.into_iter().map(|o| (o.id.to_string(), o)).collect();
    let mut out = Vec::new();
    for a in &waiting {
        let deal = deals.get(&a.opportunity_id);
        out.push(context! {
            a => a,
            deal => deal.map(|d| context! { name => d.name.clone(), number => d.number.clone(), amount => d.amount, currency => d.currency.clone(), health => d.health.score }),
            requester => names.get(&a.requested_by).cloned().unwrap_or_default(),
            from => stages.get(&a.from_stage_id).cloned().unwrap_or_default(),
            to => stages.get(&a.to_stage_id).cloned().unwrap_or_default(),
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
pub struct DecideForm {
    decision: String,
    #[serde(default)]
    comment: Option<String>,
}

pub async fn decide(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<DecideForm>) -> Response {
    let decision = Decision { comment: form.comment.filter(|c| !c.trim().is_empty()) };
    let result = match form.decision.as_str() {
        "approve" => state.app.decide_approval(&page.actor, &id, true, decision).await,
        "reject" => state.app.decide_approval(&page.actor, &id, false, decision).await,
        _ => Err(AppError::field("decision", "must be approve or reject")),
    };
    match result {
        Ok(a) => {
            let key = if a.status == "approved" { "approvals.approved" } else { "approvals.rejected" };
            ([("hx-trigger", "kairos-decided")], format!("<p class=\"notice\" role=\"status\">{}</p>", super::escape(&page.label(key)))).into_response()
        }
        Err(e) => page.error(e),
    }
}
