//! Settings › Webhooks (admins): chat robots and signed webhooks, and the outbox — what was
//! sent, what waits, what failed (with a retry). Also each person's e-mail preference, which
//! the inbox page edits.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use kairos_app::AppError;
use kairos_app::outbox::{DeliveryQuery, EndpointInput};
use kairos_domain::outbox::{EndpointKind, NOTIFICATION_KINDS, NotificationPrefs, OPPORTUNITY_EVENTS};
use minijinja::context;

use super::Page;
use crate::state::AppState;

fn events() -> Vec<String> {
    OPPORTUNITY_EVENTS.iter().map(|e| e.to_string()).chain(NOTIFICATION_KINDS.iter().map(|k| format!("notification.{k}"))).collect()
}

pub async fn page(State(state): State<AppState>, page: Page) -> Response {
    let admin = match page.actor.require_admin() {
        Ok(a) => a,
        Err(e) => return page.error(e),
    };
    let endpoints = state.app.list_endpoints(admin).await;
    let deliveries = state.app.list_deliveries(admin, &DeliveryQuery { status: None, limit: Some(50) }).await;
    match (endpoints, deliveries) {
        (Ok(endpoints), Ok(deliveries)) => page.render(
            "webhooks.html",
            "settings",
            context! { endpoints, deliveries, events => events(), kinds => ["wecom", "dingtalk", "feishu", "generic"] },
        ),
        (Err(e), _) | (_, Err(e)) => page.error(e),
    }
}

/// The add form: name, kind, URL, secret, and a checkbox per event (`event_<name>`).
pub async fn create(State(state): State<AppState>, page: Page, Form(form): Form<HashMap<String, String>>) -> Response {
    let result = async { state.app.create_endpoint(page.actor.require_admin()?, endpoint_form(&form)?).await };
    page.refreshed(result.await)
}

/// The edit form under each endpoint: the add form's fields plus `active` and `version`. A
/// blank secret keeps the stored one (it is never sent to the browser); `clear_secret` removes it.
pub async fn update(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<HashMap<String, String>>) -> Response {
    let result = async {
        let mut input = endpoint_form(&form)?;
        input.secret = match (form.contains_key("clear_secret"), input.secret) {
            (true, _) => Some(None),
            (false, Some(Some(secret))) => Some(Some(secret)),
            (false, _) => None,
        };
        input.active = Some(form.contains_key("active"));
        input.version = Some(super::required_form_version(&form)?);
        state.app.update_endpoint(page.actor.require_admin()?, &id, input).await
    };
    page.refreshed(result.await)
}

/// Pause or resume in one click (`active` = `true` or `false`, with the endpoint's `version`):
/// a paused endpoint keeps its settings but is offered no new messages.
pub async fn set_active(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<HashMap<String, String>>) -> Response {
    let result = async {
        let active = match super::form_field(&form, "active").as_deref() {
            Some("true") => true,
            Some("false") => false,
            _ => return Err(AppError::field("active", "must be true or false")),
        };
        let input = EndpointInput { active: Some(active), version: Some(super::required_form_version(&form)?), ..EndpointInput::default() };
        state.app.update_endpoint(page.actor.require_admin()?, &id, input).await
    };
    page.refreshed(result.await)
}

fn endpoint_form(form: &HashMap<String, String>) -> Result<EndpointInput, AppError> {
    let field = |k: &str| super::form_field(form, k);
    let kind = match field("kind").as_deref().map(EndpointKind::parse) {
        Some(Some(k)) => Some(k),
        _ => return Err(AppError::field("kind", "must be wecom, dingtalk, feishu or generic")),
    };
    Ok(EndpointInput {
        name: Some(field("name").unwrap_or_default()),
        kind,
        url: Some(field("url").unwrap_or_default()),
        secret: field("secret").map(Some),
        events: Some(events().into_iter().filter(|e| form.contains_key(&format!("event_{e}"))).collect()),
        active: None,
        version: None,
    })
}

pub async fn delete(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    let result = match page.actor.require_admin() {
        Ok(admin) => state.app.delete_endpoint(admin, &id).await,
        Err(e) => Err(e),
    };
    page.refreshed(result)
}

pub async fn retry(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    let result = match page.actor.require_admin() {
        Ok(admin) => state.app.retry_delivery(admin, &id).await.map(|_| ()),
        Err(e) => Err(e),
    };
    page.refreshed(result)
}

/// The inbox's e-mail form: `email` on or off, and a checkbox per kind to mute (`mute_<kind>`).
pub async fn save_prefs(State(state): State<AppState>, page: Page, Form(form): Form<HashMap<String, String>>) -> Response {
    let prefs = NotificationPrefs {
        email: form.contains_key("email"),
        email_muted: NOTIFICATION_KINDS.iter().filter(|k| form.contains_key(&format!("mute_{k}"))).map(|k| k.to_string()).collect(),
    };
    page.refreshed(state.app.set_my_notification_prefs(&page.actor, prefs).await)
}
