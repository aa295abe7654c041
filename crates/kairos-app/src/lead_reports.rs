//! Lead-source analysis (`/api/v1/reports/lead-sources`, PRODUCT.md §3 and §8): per source,
//! how many leads came, qualified, converted and ended in won deals, for how much, and how
//! long conversion took.

use std::collections::BTreeMap;

use kairos_domain::FieldErrors;
use kairos_domain::analytics::{self, Period, Stats};
use kairos_domain::lead::LeadSource;
use kairos_store::settings::{self, CurrencyBasis};
use kairos_store::lead as store;
use serde::Serialize;
use serde_json::{Value, json};

use crate::actor::Actor;
use crate::app::App;
use crate::error::AppResult;
use crate::pipeline::to_base;
use crate::reports::ReportQuery;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LeadSources {
    #[schema(value_type = Object)]
    pub filters: Value,
    pub currency: String,
    pub sources: Vec<SourceLine>,
    pub total: SourceLine,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SourceLine {
    pub source: String,
    pub leads: u64,
    pub qualified: u64,
    pub converted: u64,
    pub opportunities_won: u64,
    /// Won amount in the base currency, minor units.
    pub revenue: i64,
    /// qualified ÷ leads
    pub qualification_rate: Option<f64>,
    /// converted ÷ leads
    pub conversion_rate: Option<f64>,
    /// won ÷ converted
    pub win_rate: Option<f64>,
    /// Days from capture to conversion.
    pub days_to_convert: Stats,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| (a as f64 / b as f64 * 1000.0).round() / 1000.0)
}

impl App {
    /// Leads created in the period (default: this year), under the caller's lead scope.
    pub async fn lead_sources(&self, actor: &Actor, q: &ReportQuery) -> AppResult<LeadSources> {
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let period = crate::reports::period_of(&mut errors, q);
        errors.finish()?;
        let mut conn = self.store.report_read().await?;
        let mut c = conn.conn();
        let calendar = crate::calendar::load_calendar(&mut c, ws).await?;
        let today = calendar.local_date(self.now());
        let period = match period {
            Some(p) => p,
            None => Period::parse(&chrono::Datelike::year(&today).to_string()).map_err(|p| crate::error::AppError::field("period", p.0))?,
        };
        let (from, to) = period.instants(calendar.utc_offset_minutes());
        let rows = store::source_stats(&mut c, ws, &actor.scope, from, to).await?;
        let times = store::conversion_times(&mut c, ws, &actor.scope, from, to).await?;
        let CurrencyBasis { base, rates } = settings::currency_basis(&mut c, ws, today).await?;

        let mut lines: BTreeMap<String, SourceLine> = BTreeMap::new();
        let mut days: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for r in rows {
            let l = lines.entry(r.source.clone()).or_insert_with(|| SourceLine { source: r.source.clone(), ..Default::default() });
            l.leads += r.leads.max(0) as u64;
            l.qualified += r.qualified.max(0) as u64;
            l.converted += r.converted.max(0) as u64;
            l.opportunities_won += r.won.max(0) as u64;
            if let Some(cur) = &r.currency {
                l.revenue = l.revenue.saturating_add(to_base(&base, &rates, cur, r.won_amount).unwrap_or(0));
            }
        }
        for (source, created, converted) in times {
            days.entry(source).or_default().push((converted - created).num_minutes() as f64 / 1440.0);
        }
        let mut all_days = Vec::new();
        let mut total = SourceLine { source: "total".into(), ..Default::default() };
        // Every source appears, in the fixed order, so that periods compare line by line.
        let mut sources = Vec::new();
        for s in LeadSource::ALL {
            let mut l = lines.remove(s.as_str()).unwrap_or_else(|| SourceLine { source: s.as_str().into(), ..Default::default() });
            let d = days.remove(s.as_str()).unwrap_or_default();
            all_days.extend_from_slice(&d);
            finish(&mut l, &d);
            total.leads += l.leads;
            total.qualified += l.qualified;
            total.converted += l.converted;
            total.opportunities_won += l.opportunities_won;
            total.revenue = total.revenue.saturating_add(l.revenue);
            sources.push(l);
        }
        finish(&mut total, &all_days);
        let filters = json!({ "from": period.from, "to": period.to.pred_opt() });
        Ok(LeadSources { filters, currency: base, sources, total })
    }
}

fn finish(l: &mut SourceLine, days: &[f64]) {
    l.qualification_rate = ratio(l.qualified, l.leads);
    l.conversion_rate = ratio(l.converted, l.leads);
    l.win_rate = ratio(l.opportunities_won, l.converted);
    l.days_to_convert = analytics::stats(days);
}
