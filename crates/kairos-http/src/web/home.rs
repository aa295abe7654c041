//! Home: what needs the user today — deals at risk, their funnel, this quarter's forecast
//! against target, and approvals waiting for them.

use axum::extract::State;
use axum::response::Response;
use chrono::Datelike;
use kairos_app::opportunities::OpportunityQuery;
use kairos_app::reports::ReportQuery;
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
    let (overdue, weak, funnel, forecast, approvals) = (
        app.list_opportunities(&page.actor, &overdue).await,
        app.list_opportunities(&page.actor, &weak).await,
        app.funnel(&page.actor, &ReportQuery::default()).await,
        app.forecast(&page.actor, &ReportQuery { period: Some(quarter.clone()), interval: Some("quarter".into()), ..Default::default() }).await,
        super::approvals::rows(&state, &page).await,
    );
    let (overdue, weak, funnel, forecast, approvals) = match (overdue, weak, funnel, forecast, approvals) {
        (Ok(a), Ok(b), Ok(c), Ok(d), Ok(e)) => (a, b, c, d, e),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), ..) | (_, _, _, Err(e), _) | (.., Err(e)) => return page.error(e),
    };
    let mut risks: Vec<Value> = Vec::new();
    for o in &overdue.items {
        risks.push(context! { o => o, why => "risk.overdue" });
    }
    for o in weak.items.iter().filter(|o| !overdue.items.iter().any(|x| x.id == o.id)) {
        risks.push(context! { o => o, why => "risk.low_health" });
    }
    risks.truncate(RISK_ROWS);
    let chart = serde_json::json!({
        "tooltip": {"trigger": "item"},
        "series": [{"type": "funnel", "sort": "none", "label": {"show": true, "position": "inside"},
            "data": funnel.stages.iter().map(|s| serde_json::json!({"name": s.name, "value": s.count})).collect::<Vec<_>>()}],
    });
    page.render("home.html", "home", context! { risks, funnel => &funnel, funnel_chart => chart.to_string(), forecast => &forecast.total, quarter, base => forecast.base_currency.clone(), approvals })
}
