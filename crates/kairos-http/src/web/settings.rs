//! Settings › General (admins): the workspace's name, numbering and priority thresholds,
//! close reasons, the working-day calendar and FX rates. Each form calls the same app
//! function as its REST endpoint, so the rules (and their errors) are the API's.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::NaiveDate;
use kairos_app::AppError;
use kairos_app::calendar::{CalendarDayInput, CalendarSettings, FxRateInput};
use kairos_app::workspace_settings::{CloseReasonPatch, NewCloseReason, SettingsPatch};
use minijinja::context;

use super::forms::parse_money;
use super::{Page, form_field};
use crate::state::AppState;

type FormMap = HashMap<String, String>;

pub async fn page(State(state): State<AppState>, page: Page) -> Response {
    if let Err(e) = page.actor.require_admin() {
        return page.error(e);
    }
    let actor = &page.actor;
    let loaded = async {
        let workspace = state.app.workspace_settings(actor).await?;
        let reasons = state.app.close_reasons(actor).await?;
        let calendar = state.app.get_calendar(actor).await?;
        let fx = state.app.fx_rates(actor).await?;
        Ok::<_, AppError>((workspace, reasons, calendar, fx))
    };
    match loaded.await {
        Ok((workspace, reasons, calendar, fx)) => {
            let days_text: String = calendar.days.iter().map(|d| format!("{} {} {}\n", d.day, d.kind, d.name.as_deref().unwrap_or("")).replace(" \n", "\n")).collect();
            page.render(
                "settings.html",
                "settings",
                context! { workspace, reasons, weekend => calendar.weekend, days_text, fx, weekdays => [1, 2, 3, 4, 5, 6, 7] },
            )
        }
        Err(e) => page.error(e),
    }
}

/// Workspace form: name, base currency, number pattern, priority thresholds, and `version`.
pub async fn save_workspace(State(state): State<AppState>, page: Page, Form(form): Form<FormMap>) -> Response {
    let result = async {
        let health = match form_field(&form, "priority_health_above") {
            Some(v) => Some(v.parse::<i64>().map_err(|_| AppError::field("priority_health_above", "must be a whole number from 0 to 100"))?),
            None => None,
        };
        let amount = match form_field(&form, "priority_amount_above") {
            Some(v) => Some(parse_money(&v).map_err(|key| AppError::field("priority_amount_above", page.label(key)))?),
            None => None,
        };
        let patch = SettingsPatch {
            version: Some(super::required_form_version(&form)?),
            name: form_field(&form, "name"),
            base_currency: form_field(&form, "base_currency"),
            number_pattern: form_field(&form, "number_pattern"),
            priority_health_above: health,
            priority_amount_above: amount,
        };
        state.app.update_workspace_settings(page.actor.require_admin()?, patch).await
    };
    page.refreshed(result.await)
}

pub async fn add_reason(State(state): State<AppState>, page: Page, Form(form): Form<FormMap>) -> Response {
    let input = NewCloseReason { outcome: form_field(&form, "outcome").unwrap_or_default(), label: form_field(&form, "label").unwrap_or_default() };
    let result = async { state.app.create_close_reason(page.actor.require_admin()?, input).await };
    page.refreshed(result.await)
}

/// Rename, reorder or retire a reason: `label`, `position` and the `active` checkbox.
pub async fn save_reason(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<FormMap>) -> Response {
    let result = async {
        let position = match form_field(&form, "position") {
            Some(p) => Some(p.parse::<i64>().map_err(|_| AppError::field("position", "must be a whole number"))?),
            None => None,
        };
        let patch = CloseReasonPatch { label: form_field(&form, "label"), position, active: Some(form.contains_key("active")) };
        state.app.update_close_reason(page.actor.require_admin()?, &id, patch).await
    };
    page.refreshed(result.await)
}

/// Calendar form: a checkbox per weekend day (`weekend_1` … `weekend_7`) and the special
/// days, one per line: `2026-10-01 holiday 国庆节` or `2026-10-11 workday 调休`.
pub async fn save_calendar(State(state): State<AppState>, page: Page, Form(form): Form<FormMap>) -> Response {
    let result = async {
        let weekend = (1..=7u8).filter(|d| form.contains_key(&format!("weekend_{d}"))).collect();
        let days = parse_days(form.get("days").map(String::as_str).unwrap_or(""))?;
        state.app.set_calendar(page.actor.require_admin()?, CalendarSettings { weekend, days }).await
    };
    page.refreshed(result.await)
}

/// One FX rate: `currency`, `valid_on`, `rate` (base-currency units per unit).
pub async fn add_fx_rate(State(state): State<AppState>, page: Page, Form(form): Form<FormMap>) -> Response {
    let result = async {
        let valid_on = form_field(&form, "valid_on")
            .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
            .ok_or_else(|| AppError::field("valid_on", "must be a date (YYYY-MM-DD)"))?;
        let rate = form_field(&form, "rate").and_then(|r| r.replace(',', "").parse::<f64>().ok()).ok_or_else(|| AppError::field("rate", "must be a positive number"))?;
        let input = FxRateInput { currency: form_field(&form, "currency").unwrap_or_default().to_uppercase(), valid_on, rate };
        state.app.put_fx_rates(page.actor.require_admin()?, vec![input]).await
    };
    page.refreshed(result.await)
}

/// The calendar's text area: one day per line, `YYYY-MM-DD kind [name]`; blank lines and
/// lines starting with `#` are skipped. A bad line is named by its number.
fn parse_days(text: &str) -> Result<Vec<CalendarDayInput>, AppError> {
    let mut days = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, char::is_whitespace);
        let day = parts.next().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let kind = parts.next().map(str::trim).unwrap_or("");
        let Some(day) = day else {
            return Err(AppError::field("days", format!("line {}: starts with a date (YYYY-MM-DD)", n + 1)));
        };
        let kind = match kind {
            "holiday" | "假日" | "休" => "holiday",
            "workday" | "调休" | "班" => "workday",
            _ => return Err(AppError::field("days", format!("line {}: the kind must be holiday or workday", n + 1))),
        };
        let name = parts.next().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        days.push(CalendarDayInput { day, kind: kind.to_string(), name });
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_lines_read_dates_kinds_and_names_and_name_the_bad_line() {
        let days = parse_days("# 2026\n2026-10-01 holiday 国庆节\n\n2026-10-11 workday\n2026-10-02 休 国庆节").unwrap();
        let seen: Vec<(String, &str, Option<&str>)> = days.iter().map(|d| (d.day.to_string(), d.kind.as_str(), d.name.as_deref())).collect();
        assert_eq!(seen, vec![
            ("2026-10-01".into(), "holiday", Some("国庆节")),
            ("2026-10-11".into(), "workday", None),
            ("2026-10-02".into(), "holiday", Some("国庆节")),
        ]);
        let err = format!("{:?}", parse_days("2026-10-01 holiday\n2026-13-01 holiday").unwrap_err());
        assert!(err.contains("line 2"), "{err}");
        let err = format!("{:?}", parse_days("2026-10-01 vacation").unwrap_err());
        assert!(err.contains("holiday or workday"), "{err}");
    }
}
