//! Settings › Sales processes (admins): the stage designer. One form per process holds its
//! stages (name, order, probability, forecast category, expected dwell, cadence, guidance,
//! required fields, checklist, documents, health thresholds, retired) and a blank row for a
//! new stage, each with its approval rule; and the process's applicability (business types,
//! customer types, industries, product categories; its org units are kept as they are).
//! Saving sends it all to the same app function as `PATCH /api/v1/processes/{id}`, so the
//! engine's rules (and their errors) apply.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use kairos_app::AppError;
use kairos_app::processes::{ProcessPatch, StageInput};
use kairos_domain::account::AccountType;
use kairos_domain::identity::Role;
use kairos_domain::process::{Applicability, ApprovalRule, Cadence, ChecklistItem, ForecastCategory, OppField};
use minijinja::context;

use super::{Page, form_field};
use crate::state::AppState;

type FormMap = HashMap<String, String>;

const CATEGORIES: [ForecastCategory; 5] =
    [ForecastCategory::Pipeline, ForecastCategory::BestCase, ForecastCategory::Commit, ForecastCategory::Closed, ForecastCategory::Omitted];

pub async fn list(State(state): State<AppState>, page: Page) -> Response {
    if let Err(e) = page.actor.require_admin() {
        return page.error(e);
    }
    match state.app.list_processes(&page.actor).await {
        Ok(processes) => page.render("processes.html", "settings", context! { processes, editing => () }),
        Err(e) => page.error(e),
    }
}

pub async fn edit(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    if let Err(e) = page.actor.require_admin() {
        return page.error(e);
    }
    let loaded = async { Ok::<_, AppError>((state.app.list_processes(&page.actor).await?, state.app.get_process(&page.actor, &id).await?)) };
    match loaded.await {
        Ok((processes, process)) => {
            let stages: Vec<_> = process
                .stages
                .iter()
                .map(|s| {
                    let checklist: String =
                        s.criteria.checklist.iter().map(|c| format!("{}{}: {}\n", if c.required { "" } else { "?" }, c.key, c.label)).collect();
                    let fields: Vec<&str> = s.criteria.required_fields.iter().map(|f| f.as_str()).collect();
                    context! { stage => s, checklist, documents => s.criteria.required_documents.join("\n"), fields, category => s.forecast_category.as_str(),
                        channels => s.cadence.channels.join(", "),
                        approval => approval_value(s.criteria.approval) }
                })
                .collect();
            let fields: Vec<&str> = OppField::ALL.iter().map(|f| f.as_str()).collect();
            let categories: Vec<&str> = CATEGORIES.iter().map(|c| c.as_str()).collect();
            let approvals: Vec<String> =
                [ApprovalRule::None, ApprovalRule::DirectManager].into_iter().chain(Role::ALL.into_iter().map(ApprovalRule::Role)).map(approval_value).collect();
            let customer_types: Vec<&str> = AccountType::ALL.iter().map(|t| t.as_str()).collect();
            let chosen_types: Vec<&str> = process.applicability.customer_types.iter().map(|t| t.as_str()).collect();
            let a = &process.applicability;
            let applies = context! { business_types => a.business_types.join(", "), industries => a.industries.join(", "), product_categories => a.product_categories.join(", "),
                customer_types => chosen_types, org_units => a.org_unit_ids.len() };
            page.render(
                "processes.html",
                "settings",
                context! { processes, editing => process, stages, fields, categories, approvals, customer_types, applies, new_index => process.stages.len() },
            )
        }
        Err(e) => page.error(e),
    }
}

/// The designer's form: `name`, `description`, `close_reminder_days`, `version`, and for
/// each stage row `i` the fields `s<i>.<name>` (see [`stage_rows`]).
pub async fn save(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<FormMap>) -> Response {
    let result = async {
        let admin = page.actor.require_admin()?;
        let current = state.app.get_process(&page.actor, &id).await?;
        let reminder = match form_field(&form, "close_reminder_days") {
            Some(v) => Some(v.parse::<u32>().map_err(|_| AppError::field("close_reminder_days", "must be a whole number of days"))?),
            None => None,
        };
        let patch = ProcessPatch {
            version: super::form_version(&form),
            name: form_field(&form, "name"),
            description: Some(form.get("description").cloned().unwrap_or_default()),
            close_reminder_days: reminder,
            applicability: Some(Applicability {
                business_types: comma_list(&form, "business_types"),
                customer_types: AccountType::ALL.iter().copied().filter(|t| form.contains_key(&format!("customer_type.{}", t.as_str()))).collect(),
                industries: comma_list(&form, "industries"),
                product_categories: comma_list(&form, "product_categories"),
                org_unit_ids: current.applicability.org_unit_ids.clone(),
            }),
            stages: Some(stage_rows(&form)?),
            ..ProcessPatch::default()
        };
        state.app.update_process(admin, &id, patch).await
    };
    page.refreshed(result.await)
}

/// The stage rows of the form, in the order of their `s<i>.position` (ties keep the form's
/// order). Row `i` has `id` (empty for a new stage), `position`, `name`, `probability`,
/// `category`, `dwell`, `touches`, `per_days`, `channels` (the activity types that count as
/// touches, comma-separated), `guidance`, a `field.<name>` checkbox per
/// required field, `checklist` (one item per line, `key: label`, `?` in front when
/// optional), `documents` (one per line), `refuse`, `pass`, `approval` (`none`,
/// `direct_manager` or `role:<role>`) and `retired`. A row without an id
/// and without a name is the unused blank row.
fn stage_rows(form: &FormMap) -> Result<Vec<StageInput>, AppError> {
    let mut rows = Vec::new();
    for i in 0.. {
        let key = |name: &str| format!("s{i}.{name}");
        if !form.contains_key(&key("name")) {
            break;
        }
        let get = |name: &str| form_field(form, &key(name));
        let id = get("id");
        let Some(name) = get("name").or_else(|| id.as_ref().map(|_| String::new())) else { continue };
        let number = |name: &str, default: u32| -> Result<u32, AppError> {
            match get(name) {
                Some(v) => v.parse().map_err(|_| AppError::field(&format!("stages[{i}].{name}"), "must be a whole number")),
                None => Ok(default),
            }
        };
        let small = |name: &str, default: u32| -> Result<u8, AppError> {
            u8::try_from(number(name, default)?).map_err(|_| AppError::field(&format!("stages[{i}].{name}"), "must be between 0 and 100"))
        };
        let category = get("category").unwrap_or_else(|| "pipeline".into());
        let forecast_category = CATEGORIES
            .into_iter()
            .find(|c| c.as_str() == category)
            .ok_or_else(|| AppError::field(&format!("stages[{i}].forecast_category"), "must be pipeline, best_case, commit, closed or omitted"))?;
        let checklist = form
            .get(&key("checklist"))
            .map(String::as_str)
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let (required, line) = match line.strip_prefix('?') {
                    Some(rest) => (false, rest.trim()),
                    None => (true, line),
                };
                let (key, label) = line.split_once([':', '：']).map_or((line, line), |(k, l)| (k.trim(), l.trim()));
                ChecklistItem { key: key.to_string(), label: label.to_string(), required }
            })
            .collect();
        let documents = form.get(&key("documents")).map(String::as_str).unwrap_or("").lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
        let position = get("position").and_then(|p| p.parse::<i64>().ok()).unwrap_or(i64::MAX);
        let approval = match get("approval").as_deref().unwrap_or("none") {
            "none" => ApprovalRule::None,
            "direct_manager" => ApprovalRule::DirectManager,
            other => other
                .strip_prefix("role:")
                .and_then(|r| Role::parse(r).ok())
                .map(ApprovalRule::Role)
                .ok_or_else(|| AppError::field(&format!("stages[{i}].approval"), "must be none, direct_manager or role:<role>"))?,
        };
        let stage = StageInput {
            approval: Some(approval),
            id,
            name,
            probability: small("probability", 0)?,
            forecast_category,
            expected_dwell_days: Some(number("dwell", 14)?),
            cadence: Some(Cadence { touches: number("touches", 1)?, per_days: number("per_days", 7)?, channels: comma_list(form, &key("channels")) }),
            guidance: get("guidance"),
            required_fields: OppField::ALL.iter().copied().filter(|f| form.contains_key(&key(&format!("field.{}", f.as_str())))).collect(),
            checklist,
            required_documents: documents,
            health_refuse_below: Some(small("refuse", 60)?),
            health_pass_above: Some(small("pass", 80)?),
            retired: form.contains_key(&key("retired")),
        };
        rows.push((position, i, stage));
    }
    rows.sort_by_key(|(position, i, _)| (*position, *i));
    Ok(rows.into_iter().map(|(_, _, s)| s).collect())
}

/// A comma-separated text input (either comma) as a list.
fn comma_list(form: &FormMap, key: &str) -> Vec<String> {
    form.get(key).map(String::as_str).unwrap_or("").split([',', '，']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// How the designer's approval select names a rule.
fn approval_value(rule: ApprovalRule) -> String {
    match rule {
        ApprovalRule::None => "none".into(),
        ApprovalRule::DirectManager => "direct_manager".into(),
        ApprovalRule::Role(r) => format!("role:{}", r.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> FormMap {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn stage_rows_follow_their_positions_read_checklists_and_skip_the_blank_row() {
        let f = form(&[
            ("s0.id", "a"), ("s0.name", "初步接洽"), ("s0.position", "2"), ("s0.probability", "10"), ("s0.category", "pipeline"),
            ("s0.checklist", "needs_survey: 完成需求调研\n?demo：演示\n\n"), ("s0.field.amount", "on"), ("s0.channels", "call, visit，im"),
            ("s1.id", "b"), ("s1.name", "需求调研"), ("s1.position", "1"), ("s1.probability", "40"), ("s1.category", "commit"), ("s1.documents", "需求确认单\n 方案 \n"), ("s1.retired", "on"), ("s1.approval", "role:director"),
            ("s2.id", ""), ("s2.name", ""), ("s2.position", ""),
        ]);
        let rows = stage_rows(&f).unwrap();
        let names: Vec<&str> = rows.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["需求调研", "初步接洽"], "ordered by position; the blank row is left out");
        let first = &rows[1];
        assert_eq!(first.checklist, vec![
            ChecklistItem { key: "needs_survey".into(), label: "完成需求调研".into(), required: true },
            ChecklistItem { key: "demo".into(), label: "演示".into(), required: false },
        ]);
        assert_eq!(first.required_fields, vec![OppField::Amount]);
        assert_eq!(first.cadence.as_ref().map(|c| c.channels.clone()), Some(vec!["call".to_string(), "visit".into(), "im".into()]));
        assert_eq!((rows[0].required_documents.clone(), rows[0].retired, rows[0].forecast_category), (vec!["需求确认单".to_string(), "方案".into()], true, ForecastCategory::Commit));
        assert_eq!((rows[0].approval, rows[1].approval), (Some(ApprovalRule::Role(Role::Director)), Some(ApprovalRule::None)));
        let bad = stage_rows(&form(&[("s0.name", "x"), ("s0.approval", "role:emperor")])).unwrap_err();
        assert!(format!("{bad:?}").contains("stages[0].approval"), "{bad:?}");
        let bad = stage_rows(&form(&[("s0.name", "x"), ("s0.probability", "300")])).unwrap_err();
        assert!(format!("{bad:?}").contains("stages[0].probability"), "{bad:?}");
        let bad = stage_rows(&form(&[("s0.name", "x"), ("s0.category", "maybe")])).unwrap_err();
        assert!(format!("{bad:?}").contains("forecast_category"), "{bad:?}");
    }
}
