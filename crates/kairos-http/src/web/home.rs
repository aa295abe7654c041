//! Home: what needs the user today — deals at risk, their open tasks, their funnel, this
//! quarter's forecast against target, and approvals waiting for them.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::Datelike;
use kairos_app::opportunities::OpportunityQuery;
use kairos_app::followup::RiskQuery;
use kairos_app::reports::ReportQuery;
use kairos_app::tasks::{TaskPatch, TaskQuery};
use minijinja::{Value, context};

use super::Page;
use crate::state::AppState;

/// Risk rows shown on home; the full list is a filter on the opportunity list.
const RISK_ROWS: usize = 10;

pub async fn home(State(state): State<AppState>, page: Page) -> Response {
    let app = &state.app;
    let today = app.now().date_naive();
    let yesterday = (today - chrono::Duration::days(1)).to_string();
    let quarter = format!("{}-Q{}", today.year(), today.month0() / 3 + 1);
    let overdue = OpportunityQuery { status: Some("open".into()), close_to: Some(yesterday), sort: Some("-amount".into()), limit: Some("10".into()), ..Default::default() };
    let weak = OpportunityQuery { status: Some("open".into()), health_max: Some("39".into()), sort: Some("-amount".into()), limit: Some("10".into()), ..Default::default() };
    let limit = Some(RISK_ROWS.to_string());
    let (tasks_q, risks_q) = (TaskQuery { limit: limit.clone(), ..Default::default() }, RiskQuery { limit, ..Default::default() });
    let forecast_q = ReportQuery { period: Some(quarter.clone()), interval: Some("quarter".into()), ..Default::default() };
    let funnel_q = ReportQuery::default();
    // Seven independent reads, side by side: each takes its own pooled connection, so the
    // page costs about its slowest read rather than their sum.
    let (overdue, weak, funnel, forecast, approvals, tasks, scanned) = tokio::join!(
        app.list_opportunities(&page.actor, &overdue),
        app.list_opportunities(&page.actor, &weak),
        app.funnel(&page.actor, &funnel_q),
        app.forecast(&page.actor, &forecast_q),
        super::approvals::rows(&state, &page),
        app.list_tasks(&page.actor, &tasks_q),
        app.list_risks(&page.actor, &risks_q),
    );
    let loaded = (|| Ok::<_, kairos_app::AppError>((overdue?, weak?, funnel?, forecast?, approvals?, tasks?.items, scanned?.items)))();
    let (overdue, weak, funnel, forecast, approvals, tasks, scanned) = match loaded {
        Ok(all) => all,
        Err(e) => return page.error(e),
    };
    let mut risks: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let row = |id: String, name: &str, amount: i64, currency: &str, close: Option<chrono::NaiveDate>, health: Option<u8>, why: &str| {
        context! { id, name, amount, currency, close => close.map(|d| d.to_string()), health, why }
    };
    // Past their close date first, then what the follow-up scan found, then weak health.
    for o in &overdue.items {
        seen.insert(o.id.to_string());
        risks.push(row(o.id.to_string(), &o.name, o.amount, &o.currency, o.expected_close_date, Some(o.health.score), "risk.overdue"));
    }
    for r in scanned.iter().filter(|r| r.risk.dwell_over || r.risk.stale_level != "fresh") {
        if seen.insert(r.risk.opportunity_id.clone()) {
            let why = if r.risk.dwell_over { "risk.dwell" } else { "risk.stale" };
            risks.push(row(r.risk.opportunity_id.clone(), &r.name, r.amount, &r.currency, r.expected_close_date, None, why));
        }
    }
    for o in &weak.items {
        if seen.insert(o.id.to_string()) {
            risks.push(row(o.id.to_string(), &o.name, o.amount, &o.currency, o.expected_close_date, Some(o.health.score), "risk.low_health"));
        }
    }
    risks.truncate(RISK_ROWS);
    let chart = serde_json::json!({
        "tooltip": {"trigger": "item"},
        "series": [{"type": "funnel", "sort": "none", "label": {"show": true, "position": "inside"},
            "data": funnel.stages.iter().map(|s| serde_json::json!({"name": s.name, "value": s.count})).collect::<Vec<_>>()}],
    });
    page.render("home.html", "home", context! { risks, tasks, funnel => &funnel, funnel_chart => chart.to_string(), forecast => &forecast.total, quarter, base => forecast.base_currency.clone(), approvals })
}

#[derive(serde::Deserialize)]
pub struct TaskDone {
    version: i64,
}

/// Ticks a task off from the home page.
pub async fn task_done(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<TaskDone>) -> Response {
    let patch = TaskPatch { version: Some(form.version), status: Some("done".into()), ..Default::default() };
    page.refreshed(state.app.update_task(&page.actor, &id, patch).await)
}
