//! Settings › Targets: the quotas the forecast report measures against. Admins and
//! directors set anyone's; a manager sets those of the people and units below them (the app
//! decides; this page only offers what the caller may see).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::Datelike;
use kairos_app::AppError;
use kairos_app::targets::{NewTarget, TargetPatch};
use kairos_store::target::Target;
use minijinja::context;

use super::forms::parse_money;
use super::{Page, form_field};
use crate::state::AppState;

type FormMap = HashMap<String, String>;

pub async fn page(State(state): State<AppState>, page: Page) -> Response {
    let loaded = async {
        let targets = state.app.list_targets(&page.actor).await?;
        let people = super::user_names(&state, &page).await?;
        let units: Vec<(String, String)> = state.app.list_org_units(&page.actor).await?.into_iter().filter(|u| !u.archived).map(|u| (u.id.to_string(), u.name)).collect();
        let currency = state.app.workspace_settings(&page.actor).await?.base_currency;
        Ok::<_, AppError>((targets, people, units, currency))
    };
    let (targets, people, units, currency) = match loaded.await {
        Ok(v) => v,
        Err(e) => return page.error(e),
    };
    let unit_names: HashMap<&str, &str> = units.iter().map(|(id, name)| (id.as_str(), name.as_str())).collect();
    let rows: Vec<_> = targets
        .iter()
        .map(|t| {
            let subject = match t.subject_kind.as_str() {
                "user" => people.get(&t.subject_id).cloned(),
                _ => unit_names.get(t.subject_id.as_str()).map(|n| n.to_string()),
            };
            context! { id => t.id, subject => subject.unwrap_or_else(|| t.subject_id.clone()), subject_kind => t.subject_kind, period => period_label(t),
                amount => t.amount, version => t.version }
        })
        .collect();
    let mut people: Vec<(String, String)> = people.into_iter().collect();
    people.sort_by(|a, b| a.1.cmp(&b.1));
    page.render("targets.html", "settings", context! { targets => rows, people, units, currency })
}

/// The add form: `subject` (`user:<id>` or `org_unit:<id>`), `period` (2026, 2026-Q1 or
/// 2026-03) and `amount` as people type it.
pub async fn create(State(state): State<AppState>, page: Page, Form(form): Form<FormMap>) -> Response {
    let result = async {
        let subject = form_field(&form, "subject").unwrap_or_default();
        let (kind, id) = subject.split_once(':').ok_or_else(|| AppError::field("subject_id", "choose a person or a unit"))?;
        let input = NewTarget { subject_kind: kind.to_string(), subject_id: id.to_string(), period: form_field(&form, "period").unwrap_or_default(), amount: amount(&page, &form)? };
        state.app.create_target(&page.actor, input).await
    };
    page.refreshed(result.await)
}

/// A row's amount, with the `version` it was loaded with.
pub async fn update(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<FormMap>) -> Response {
    let result = async {
        let patch = TargetPatch { version: super::form_version(&form), amount: amount(&page, &form)? };
        state.app.update_target(&page.actor, &id, patch).await
    };
    page.refreshed(result.await)
}

pub async fn delete(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    page.refreshed(state.app.delete_target(&page.actor, &id).await)
}

fn amount(page: &Page, form: &FormMap) -> Result<i64, AppError> {
    parse_money(&form_field(form, "amount").unwrap_or_default()).map_err(|key| AppError::field("amount", page.label(key)))
}

/// How people write the period back: 2026, 2026-Q2, 2026-03.
fn period_label(t: &Target) -> String {
    let start = t.period_start;
    match t.period_kind.as_str() {
        "year" => format!("{}", start.year()),
        "quarter" => format!("{}-Q{}", start.year(), start.month0() / 3 + 1),
        _ => start.format("%Y-%m").to_string(),
    }
}
