//! Accounts and contacts in the browser: the list with a new-account form that warns of
//! duplicates as you type, the account page with its contacts and deals, and the forms
//! that add a contact or open a new opportunity.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, RawQuery, State};
use axum::response::Response;
use kairos_app::AppError;
use kairos_app::accounts::{AccountQuery, NewAccount};
use kairos_app::contacts::{ContactQuery, NewContact};
use kairos_app::opportunities::{NewOpportunity, OpportunityQuery};
use minijinja::{Value, context};
use serde::Deserialize;
use serde_json::json;

use super::{Page, form_field, go_to};
use super::forms::{parse_money, query_of};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, page: Page, RawQuery(raw): RawQuery) -> Response {
    let mut query: AccountQuery = match query_of(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return page.error(e),
    };
    query.limit.get_or_insert_with(|| "50".into());
    match state.app.list_accounts(&page.actor, &query).await {
        Ok(result) => {
            let next = result.next_cursor.as_ref().map(|c| format!("/accounts?q={}&cursor={c}", urlencode(query.q.as_deref().unwrap_or(""))));
            page.render("accounts.html", "accounts", context! { rows => result.items, total => result.total, next, q => query.q.clone() })
        }
        Err(e) => page.error(e),
    }
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).map(|s| s.trim_start_matches('=').to_string()).unwrap_or_default()
}

#[derive(Deserialize)]
pub struct CheckQuery {
    #[serde(default)]
    name: String,
}

/// The duplicate warning under the name field, as the user types.
pub async fn check_name(State(state): State<AppState>, page: Page, Query(q): Query<CheckQuery>) -> Response {
    let taken = match state.app.account_name_taken(&page.actor, &q.name).await {
        Ok(t) => t,
        Err(e) => return page.error(e),
    };
    let Some(t) = taken else { return page.render("_duplicate.html", "", context! { taken => () }) };
    // The owner is who to ask when the account lies outside the caller's scope.
    let owner = state.app.get_user(&page.actor, &t.owner_id.to_string()).await.map(|u| u.display_name).unwrap_or_default();
    page.render("_duplicate.html", "", context! { taken => context! { id => t.existing_id.to_string(), visible => t.visible, owner } })
}

pub async fn create(State(state): State<AppState>, page: Page, Form(form): Form<HashMap<String, String>>) -> Response {
    let field = |k: &str| form_field(&form, k);
    let input = json!({
        "name": field("name").unwrap_or_default(), "account_type": field("account_type"), "industry": field("industry"), "region": field("region"),
    });
    let input: NewAccount = match serde_json::from_value(input) {
        Ok(i) => i,
        Err(e) => return page.error(AppError::field("account_type", e.to_string())),
    };
    match state.app.create_account(&page.actor, input).await {
        Ok(a) => go_to(&format!("/accounts/{}", a.account.id)),
        Err(e) => page.error(e),
    }
}

pub async fn show(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    let app = &state.app;
    let actor = &page.actor;
    let result = async {
        let account = app.get_account(actor, &id).await?;
        let contacts = app.list_contacts(actor, &ContactQuery { account_id: Some(id.clone()), limit: Some("200".into()), ..Default::default() }).await?.items;
        let deals = app.list_opportunities(actor, &OpportunityQuery { account_id: Some(id.clone()), limit: Some("200".into()), ..Default::default() }).await?.items;
        // One person's name, not the directory.
        let owner = app.get_user(actor, &account.account.owner_id.to_string()).await.map(|u| u.display_name).unwrap_or_default();
        Ok::<Value, AppError>(context! { a => &account.account, contacts, deals, owner })
    }
    .await;
    match result {
        Ok(ctx) => page.render("account.html", "accounts", ctx),
        Err(e) => page.error(e),
    }
}

pub async fn add_contact(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<HashMap<String, String>>) -> Response {
    let field = |k: &str| form_field(&form, k);
    let input = json!({
        "account_id": id, "name": field("name").unwrap_or_default(), "title": field("title"), "phone": field("phone"), "email": field("email"),
        "decision_role": field("decision_role"), "attitude": field("attitude"),
    });
    let input: NewContact = match serde_json::from_value(input) {
        Ok(i) => i,
        Err(e) => return page.error(AppError::field("decision_role", e.to_string())),
    };
    match state.app.create_contact(&page.actor, input).await {
        Ok(_) => go_to(&format!("/accounts/{id}")),
        Err(e) => page.error(e),
    }
}

pub async fn new_opportunity(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<HashMap<String, String>>) -> Response {
    let field = |k: &str| form_field(&form, k);
    let amount = match field("amount").map(|a| parse_money(&a)) {
        Some(Ok(m)) => Some(m),
        Some(Err(problem)) => return page.error(AppError::field("amount", page.label(problem))),
        None => None,
    };
    let input = json!({ "account_id": id, "name": field("name").unwrap_or_default(), "amount": amount, "expected_close_date": field("expected_close_date") });
    let input: NewOpportunity = match serde_json::from_value(input) {
        Ok(i) => i,
        Err(e) => return page.error(AppError::field("expected_close_date", e.to_string())),
    };
    match state.app.create_opportunity(&page.actor, input).await {
        Ok(o) => go_to(&format!("/opportunities/{}", o.opportunity.id)),
        Err(e) => page.error(e),
    }
}
