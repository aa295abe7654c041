//! The kanban (`GET /api/v1/pipeline`): per stage the count, amount and weighted amount of
//! open deals in base currency, and each column's first cards.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use kairos_domain::FieldErrors;
use kairos_domain::ids::{ProcessId, StageId, WorkspaceId};
use kairos_domain::process::ForecastCategory;
use kairos_store::Conn;
use kairos_store::pipeline::{self as store, Card};
use kairos_store::settings::CurrencyBasis;
use kairos_store::{org_unit, process as process_store, settings};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::listing;
use crate::opportunities::{OpportunityQuery, parse_filter};

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PipelineQuery {
    /// Default: the default process.
    pub process_id: Option<String>,
    /// Only this column (for its next page of cards).
    pub stage_id: Option<String>,
    /// Cards per column, 1 to 500, default 20.
    pub limit: Option<String>,
    /// A column's `next_cursor` (with `stage_id`).
    pub cursor: Option<String>,
    pub q: Option<String>,
    pub owner_id: Option<String>,
    pub org_unit_id: Option<String>,
    pub account_id: Option<String>,
    pub close_from: Option<String>,
    pub close_to: Option<String>,
    pub amount_min: Option<String>,
    pub amount_max: Option<String>,
    pub health_min: Option<String>,
    pub health_max: Option<String>,
    pub tag: Option<String>,
    pub priority: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Pipeline {
    #[schema(value_type = String, format = Uuid)]
    pub process_id: ProcessId,
    pub base_currency: String,
    /// Rates of this day convert other currencies.
    pub as_of: NaiveDate,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Column {
    #[schema(value_type = String, format = Uuid)]
    pub stage_id: StageId,
    pub name: String,
    pub probability: u8,
    pub forecast_category: ForecastCategory,
    pub count: i64,
    /// Minor units of the base currency.
    pub amount: i64,
    /// Σ amount × probability, minor units of the base currency.
    pub weighted_amount: i64,
    /// Currencies of deals in this column that have no rate yet (left out of the totals).
    pub unconverted_currencies: Vec<String>,
    pub cards: Vec<CardView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CardView {
    #[serde(flatten)]
    pub card: Card,
    pub days_in_stage: f64,
    /// priority, overdue (expected close passed), pending_approval (a move waits for one),
    /// and from the last follow-up scan: stale, dwell_risk, cadence
    pub flags: Vec<String>,
}

impl App {
    pub async fn pipeline(&self, actor: &Actor, query: &PipelineQuery) -> AppResult<Pipeline> {
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let as_filter = OpportunityQuery {
            q: query.q.clone(),
            owner_id: query.owner_id.clone(),
            org_unit_id: query.org_unit_id.clone(),
            account_id: query.account_id.clone(),
            close_from: query.close_from.clone(),
            close_to: query.close_to.clone(),
            amount_min: query.amount_min.clone(),
            amount_max: query.amount_max.clone(),
            health_min: query.health_min.clone(),
            health_max: query.health_max.clone(),
            tag: query.tag.clone(),
            priority: query.priority.clone(),
            ..Default::default()
        };
        let (mut filter, unit) = parse_filter(&mut errors, &as_filter);
        let process_id = errors.check_opt("process_id", query.process_id.as_deref().filter(|s| !s.is_empty()).map(ProcessId::parse));
        let only = errors.check_opt("stage_id", query.stage_id.as_deref().filter(|s| !s.is_empty()).map(StageId::parse));
        let page = listing::page_request(&mut errors, query.limit.as_deref().or(Some("20")), query.cursor.as_deref());
        if query.cursor.is_some() && only.is_none() {
            errors.add("cursor", "a column cursor needs the column's stage_id");
        }
        errors.finish()?;
        let mut conn = self.store.report_read().await?;
        let mut c = conn.conn();
        let processes = process_store::list_processes(&mut c, ws).await?;
        let process = match process_id {
            Some(id) => processes.iter().find(|p| p.id == id).ok_or_else(|| AppError::field("process_id", "does not name a process of this workspace"))?,
            None => processes.iter().find(|p| p.is_default).ok_or_else(|| AppError::field("process_id", "there is no default process; name one"))?,
        };
        if let Some(s) = only {
            if !process.stages.iter().any(|st| st.id == s) {
                return Err(AppError::field("stage_id", "is not a stage of this process"));
            }
        }
        filter.process = Some(process.id);
        if let Some(u) = unit {
            filter.org_units = Some(org_unit::subtree_ids(&mut c, ws, u).await?);
        }
        let now = self.now();
        // "Today" is the workspace's day (Asia/Shanghai by default), not UTC's.
        let today = crate::calendar::load_calendar(&mut c, ws).await?.local_date(now);
        let CurrencyBasis { base, rates } = settings::currency_basis(&mut c, ws, today).await?;
        let totals = store::stage_totals(&mut c, ws, &actor.scope, &filter).await?;
        let mut columns = Vec::new();
        for stage in process.stages.iter().filter(|s| !s.retired || totals.iter().any(|t| t.stage_id == s.id.to_string())) {
            if only.is_some_and(|o| o != stage.id) {
                continue;
            }
            let (mut count, mut amount, mut weighted, mut unconverted) = (0i64, 0i64, 0i64, Vec::new());
            for t in totals.iter().filter(|t| t.stage_id == stage.id.to_string()) {
                count += t.count;
                match to_base(&base, &rates, &t.currency, t.amount) {
                    Some(a) => {
                        amount = amount.saturating_add(a);
                        weighted = weighted.saturating_add(to_base(&base, &rates, &t.currency, t.amount_x_probability).unwrap_or(0) / 100);
                    }
                    None => unconverted.push(t.currency.clone()),
                }
            }
            let column_page = if only.is_some() { page } else { kairos_store::page::PageRequest { limit: page.limit, offset: 0 } };
            let cards = store::stage_cards(&mut c, ws, &actor.scope, &filter, stage.id, column_page.limit, column_page.offset).await?;
            let end = column_page.offset + cards.len() as u64;
            let next_cursor = ((end as i64) < count).then(|| listing::encode_cursor(end));
            let cards = cards.into_iter().map(|card| card_view(card, now, today)).collect();
            columns.push(Column {
                stage_id: stage.id,
                name: stage.name.clone(),
                probability: stage.probability,
                forecast_category: stage.forecast_category,
                count,
                amount,
                weighted_amount: weighted,
                unconverted_currencies: unconverted,
                cards,
                next_cursor,
            });
        }
        // One query for the whole board, not one per column.
        let shown: Vec<String> = columns.iter().flat_map(|col| col.cards.iter().map(|v| v.card.id.clone())).collect();
        let pending = kairos_store::approval::pending_among(&mut c, ws, &shown).await?;
        // What the last follow-up scan found, in one more query.
        let risks = kairos_store::followup::risks_of(&mut c, ws, &shown).await?;
        for view in columns.iter_mut().flat_map(|col| col.cards.iter_mut()) {
            if pending.contains(&view.card.id) {
                view.flags.push("pending_approval".to_string());
            }
            if let Some(r) = risks.get(&view.card.id) {
                view.flags.extend(risk_flags(r));
            }
        }
        Ok(Pipeline { process_id: process.id, base_currency: base, as_of: today, columns })
    }
}

/// The flags a scan's findings put on a card: stale (no sign of life for the workspace's
/// flag days), dwell_risk (in its stage past the limit), cadence (a touch is owed).
pub fn risk_flags(r: &kairos_store::followup::RiskRow) -> Vec<String> {
    let mut flags = Vec::new();
    if r.stale_level != "fresh" {
        flags.push("stale".to_string());
    }
    if r.dwell_over {
        flags.push("dwell_risk".to_string());
    }
    if r.cadence_short {
        flags.push("cadence".to_string());
    }
    flags
}

fn card_view(card: Card, now: DateTime<Utc>, today: NaiveDate) -> CardView {
    let mut flags = Vec::new();
    if card.priority {
        flags.push("priority".to_string());
    }
    if card.expected_close_date.is_some_and(|d| d < today) {
        flags.push("overdue".to_string());
    }
    let days_in_stage = ((now - card.stage_entered_at).num_seconds().max(0) as f64 / 86_400.0 * 10.0).round() / 10.0;
    CardView { card, days_in_stage, flags }
}

/// The newest rate on or before `day` for each currency.
pub(crate) async fn latest_rates(c: &mut Conn<'_>, ws: WorkspaceId, day: NaiveDate) -> AppResult<HashMap<String, i64>> {
    Ok(settings::currency_basis(c, ws, day).await?.rates)
}

pub(crate) fn to_base(base: &str, rates: &HashMap<String, i64>, currency: &str, amount: i64) -> Option<i64> {
    convert(base, rates, currency, amount as i128).map(saturate)
}

/// An amount, or a sum of amounts, in `currency` converted to base currency (truncating
/// toward zero); `None` when the currency has no rate.
pub(crate) fn convert(base: &str, rates: &HashMap<String, i64>, currency: &str, amount: i128) -> Option<i128> {
    if currency == base {
        return Some(amount);
    }
    rates.get(currency).map(|rate| amount.saturating_mul(*rate as i128) / 1_000_000)
}

/// A wide sum as a 64-bit amount, saturating.
pub(crate) fn saturate(amount: i128) -> i64 {
    amount.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}
