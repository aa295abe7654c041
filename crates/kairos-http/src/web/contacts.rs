//! Contacts in the browser: the list (search, decision role, attitude) across the accounts
//! the caller sees, and a contact's page with its facts edited under optimistic locking.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use kairos_app::AppError;
use kairos_app::contacts::{ContactPatch, ContactQuery};
use kairos_domain::contact::{Attitude, DecisionRole};
use minijinja::context;

use super::forms::query_of;
use super::{Page, form_field};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, page: Page, RawQuery(raw): RawQuery) -> Response {
    let loaded = async {
        let mut query: ContactQuery = query_of(raw.as_deref())?;
        query.limit.get_or_insert_with(|| "50".into());
        let result = state.app.list_contacts(&page.actor, &query).await?;
        let accounts = state.app.account_names_of(&page.actor, &result.items).await?;
        Ok::<_, AppError>((query, result, accounts))
    };
    match loaded.await {
        Ok((query, result, accounts)) => {
            let next = result.next_cursor.as_ref().map(|c| {
                let mut pairs: Vec<(&str, &str)> = [("q", &query.q), ("decision_role", &query.decision_role), ("attitude", &query.attitude)]
                    .into_iter()
                    .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
                    .collect();
                pairs.push(("cursor", c));
                format!("/contacts?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
            });
            page.render(
                "contacts.html",
                "contacts",
                context! { rows => result.items, total => result.total, next, accounts, roles => role_names(), attitudes => attitude_names(),
                    query => context! { q => query.q, decision_role => query.decision_role, attitude => query.attitude } },
            )
        }
        Err(e) => page.error(e),
    }
}

pub async fn show(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    let loaded = async {
        let contact = state.app.get_contact(&page.actor, &id).await?;
        let accounts = state.app.account_names_of(&page.actor, std::slice::from_ref(&contact)).await?;
        Ok::<_, AppError>((contact, accounts))
    };
    match loaded.await {
        Ok((contact, accounts)) => {
            let account = accounts.get(&contact.account_id.to_string()).cloned().unwrap_or_default();
            page.render("contact.html", "contacts", context! { c => contact, account, roles => role_names(), attitudes => attitude_names() })
        }
        Err(e) => page.error(e),
    }
}

/// The contact's form: name, title, phone, e-mail, WeChat, decision role, attitude and notes,
/// with the `version` it was loaded with. An emptied optional field is cleared.
pub async fn save(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<HashMap<String, String>>) -> Response {
    let result = async {
        let optional = |k: &str| Some(form_field(&form, k));
        let decision_role = match form_field(&form, "decision_role") {
            Some(r) => Some(DecisionRole::ALL.into_iter().find(|d| d.as_str() == r).ok_or_else(|| AppError::field("decision_role", "is not a decision role"))?),
            None => None,
        };
        let attitude = match form_field(&form, "attitude") {
            Some(a) => Some(Attitude::ALL.into_iter().find(|x| x.as_str() == a).ok_or_else(|| AppError::field("attitude", "is not an attitude"))?),
            None => None,
        };
        let patch = ContactPatch {
            version: super::form_version(&form),
            name: Some(form_field(&form, "name").unwrap_or_default()),
            title: optional("title"),
            phone: optional("phone"),
            email: optional("email"),
            wechat: optional("wechat"),
            decision_role,
            attitude,
            notes: optional("notes"),
            ..ContactPatch::default()
        };
        state.app.update_contact(&page.actor, &id, patch).await
    };
    page.refreshed(result.await)
}

fn role_names() -> Vec<&'static str> {
    DecisionRole::ALL.iter().map(|r| r.as_str()).collect()
}

fn attitude_names() -> Vec<&'static str> {
    Attitude::ALL.iter().map(|a| a.as_str()).collect()
}
