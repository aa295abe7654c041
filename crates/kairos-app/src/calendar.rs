//! The workspace's working-day calendar (`/api/v1/calendar`): weekend, public holidays and
//! make-up working days (调休).

use chrono::{NaiveDate, Weekday};
use kairos_domain::calendar::{WORKSPACE_UTC_OFFSET_MINUTES, WorkCalendar};
use kairos_domain::ids::WorkspaceId;
use kairos_store::Conn;
use kairos_store::settings::{self, CalendarDay};
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, AdminCap};
use crate::app::App;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarSettings {
    /// ISO weekday numbers of the weekend (1 = Monday … 7 = Sunday); default [6, 7].
    pub weekend: Vec<u8>,
    /// Holidays and make-up working days.
    pub days: Vec<CalendarDayInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarDayInput {
    pub day: NaiveDate,
    /// holiday, or workday (a make-up working day on a weekend)
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
}

fn weekday(n: u8) -> Option<Weekday> {
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun].get((n as usize).wrapping_sub(1)).copied()
}

/// Where a workspace's days begin and end: all a report needs of its calendar unless it
/// counts working days. Every workspace's days are cut at the same offset (`load_calendar`
/// uses it too); only the working days differ, and reading them is two statements a request.
pub(crate) fn workspace_days() -> WorkCalendar {
    WorkCalendar::new(Vec::new(), [], [], WORKSPACE_UTC_OFFSET_MINUTES)
}

/// The calendar of a workspace, for counting working days.
pub(crate) async fn load_calendar(c: &mut Conn<'_>, ws: WorkspaceId) -> AppResult<WorkCalendar> {
    let weekend: Vec<Weekday> = settings::weekend_days(c, ws).await?.split(',').filter_map(|d| d.trim().parse().ok()).filter_map(weekday).collect();
    let days = settings::list_calendar_days(c, ws).await?;
    let holidays = days.iter().filter(|d| d.kind == "holiday").map(|d| d.day);
    let workdays = days.iter().filter(|d| d.kind == "workday").map(|d| d.day);
    Ok(WorkCalendar::new(weekend, holidays, workdays, WORKSPACE_UTC_OFFSET_MINUTES))
}

impl App {
    pub async fn get_calendar(&self, actor: &Actor) -> AppResult<CalendarSettings> {
        let mut conn = self.store.read().await?;
        let weekend = settings::weekend_days(&mut conn.conn(), actor.workspace()).await?.split(',').filter_map(|d| d.trim().parse().ok()).collect();
        let days = settings::list_calendar_days(&mut conn.conn(), actor.workspace())
            .await?
            .into_iter()
            .map(|d| CalendarDayInput { day: d.day, kind: d.kind, name: d.name })
            .collect();
        Ok(CalendarSettings { weekend, days })
    }

    /// Replaces the calendar (admin).
    pub async fn set_calendar(&self, admin: AdminCap<'_>, input: CalendarSettings) -> AppResult<CalendarSettings> {
        let actor = admin.actor();
        let mut errors = kairos_domain::FieldErrors::new();
        let mut weekend = input.weekend.clone();
        weekend.sort_unstable();
        weekend.dedup();
        if weekend.iter().any(|d| weekday(*d).is_none()) {
            errors.add("weekend", "weekdays are numbered 1 (Monday) to 7 (Sunday)");
        }
        if weekend.len() > 6 {
            errors.add("weekend", "at least one day of the week must be a working day");
        }
        let mut seen = std::collections::HashSet::new();
        for (i, d) in input.days.iter().enumerate() {
            if d.kind != "holiday" && d.kind != "workday" {
                errors.add(format!("days[{i}].kind"), "must be holiday or workday");
            }
            if !seen.insert(d.day) {
                errors.add(format!("days[{i}].day"), "is listed twice");
            }
        }
        errors.finish()?;
        if input.days.len() > 5000 {
            return Err(AppError::field("days", "at most 5,000 days"));
        }
        let days: Vec<CalendarDay> = input.days.iter().map(|d| CalendarDay { day: d.day, kind: d.kind.clone(), name: d.name.clone() }).collect();
        let text = weekend.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",");
        let mut tx = self.begin().await?;
        settings::set_weekend_days(&mut tx.conn(), actor.workspace(), &text).await?;
        settings::replace_calendar_days(&mut tx.conn(), actor.workspace(), &days).await?;
        let change = [kairos_domain::audit::FieldChange { field: "calendar".into(), old_value: None, new_value: Some(format!("weekend {text}, {} days", days.len())) }];
        self.audit(&mut tx.conn(), Some(actor), "calendar", actor.workspace().to_string(), "update", &change).await?;
        tx.commit().await?;
        Ok(CalendarSettings { weekend, days: input.days })
    }
}

/// A dated exchange rate, as the API takes and gives it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FxRateInput {
    /// ISO code of the foreign currency.
    pub currency: String,
    pub valid_on: NaiveDate,
    /// Base-currency units per unit of `currency`, e.g. 7.12 for USD when the base is CNY.
    pub rate: f64,
}

impl App {
    pub async fn fx_rates(&self, actor: &Actor) -> AppResult<Vec<FxRateInput>> {
        let mut conn = self.store.read().await?;
        Ok(settings::list_fx_rates(&mut conn.conn(), actor.workspace())
            .await?
            .into_iter()
            .map(|r| FxRateInput { currency: r.currency, valid_on: r.valid_on, rate: r.rate_micros as f64 / 1_000_000.0 })
            .collect())
    }

    /// Adds or corrects dated rates (admin).
    pub async fn put_fx_rates(&self, admin: AdminCap<'_>, rates: Vec<FxRateInput>) -> AppResult<Vec<FxRateInput>> {
        let actor = admin.actor();
        let mut errors = kairos_domain::FieldErrors::new();
        let base = {
            let mut conn = self.store.read().await?;
            kairos_store::workspace::get_workspace(&mut conn.conn(), actor.workspace()).await?.base_currency
        };
        let mut parsed = Vec::new();
        for (i, r) in rates.iter().enumerate() {
            let cur = errors.check(&format!("[{i}].currency"), kairos_domain::opportunity::currency(&r.currency));
            if cur.as_deref() == Some(base.as_str()) {
                errors.add(format!("[{i}].currency"), "is the base currency (its rate is always 1)");
            }
            if !(r.rate.is_finite() && r.rate > 0.0 && r.rate < 1_000_000.0) {
                errors.add(format!("[{i}].rate"), "must be a positive number");
            }
            if let Some(cur) = cur {
                parsed.push(settings::FxRate { currency: cur, valid_on: r.valid_on, rate_micros: (r.rate * 1_000_000.0).round() as i64 });
            }
        }
        errors.finish()?;
        let now = self.now();
        let mut tx = self.begin().await?;
        for r in &parsed {
            settings::upsert_fx_rate(&mut tx.conn(), actor.workspace(), r, now).await?;
        }
        tx.commit().await?;
        self.fx_rates(actor).await
    }
}
