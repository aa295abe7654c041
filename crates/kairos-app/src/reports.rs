//! Pipeline analytics (`/api/v1/reports/…`, PRODUCT.md §8): the common filters, and the
//! funnel, win-rate and loss-reason reports. Every report reads the caller's scope only.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use kairos_domain::FieldErrors;
use kairos_domain::analytics::{self, Period};
use kairos_domain::identity::DataScope;
use kairos_domain::ids::{OrgUnitId, ProcessId, UserId, WorkspaceId};
use kairos_domain::replay::DealState;
use kairos_store::reports::{self as store, ChangeSide, ChangedKey, ChangedWhen, DealIds, Dimension, IdRange, OwnerIds, GroupTotals, PipelineChanges, ReportFilter, StateChange, Sums, WonAmount};
use kairos_store::closed_deal_sums;
use kairos_store::settings::CurrencyBasis;
use kairos_store::passage_buckets::{self, Measure};
use kairos_store::{Backend, activity_rollup, deal_period_changes, org_unit, pipeline_rollup, process as process_store, rollup, settings, stage_entry_rollup};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::pipeline::{convert, saturate, to_base};

/// The filters every report takes.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `2026`, `2026-Q1` or `2026-03` (or give `from` and `to`).
    pub period: Option<String>,
    /// First day, YYYY-MM-DD.
    pub from: Option<String>,
    /// Last day (inclusive), YYYY-MM-DD.
    pub to: Option<String>,
    /// Includes the unit's subtree.
    pub org_unit_id: Option<String>,
    pub owner_id: Option<String>,
    pub process_id: Option<String>,
    pub industry: Option<String>,
    /// enterprise, government, institution, individual
    pub customer_type: Option<String>,
    pub source: Option<String>,
    pub product_category: Option<String>,
    /// win-rate: owner, org_unit, product_category, industry, customer_type, source, process, month, quarter
    pub group_by: Option<String>,
    /// forecast: month (default) or quarter
    pub interval: Option<String>,
}

struct Parsed {
    filter: ReportFilter,
    period: Option<Period>,
    unit: Option<OrgUnitId>,
}

fn nonempty(v: &Option<String>) -> Option<String> {
    crate::listing::given(v)
}

/// The period a report query names (`period`, or `from` and `to`), if any.
pub(crate) fn period_of(errors: &mut FieldErrors, q: &ReportQuery) -> Option<Period> {
    let date = crate::listing::date;
    match (nonempty(&q.period), date(errors, "from", &q.from), date(errors, "to", &q.to)) {
        (Some(p), None, None) => errors.check("period", Period::parse(&p)),
        (None, Some(a), Some(b)) => errors.check("to", Period::between(a, b)),
        (None, None, None) => None,
        (Some(_), _, _) => {
            errors.add("period", "give either period or from and to, not both");
            None
        }
        (None, _, _) => {
            errors.add("from", "from and to go together");
            None
        }
    }
}

/// Answers a query's bad filters before the report waits for a connection to read with.
fn validate(q: &ReportQuery) -> AppResult<()> {
    let mut errors = FieldErrors::new();
    parse(&mut errors, q);
    Ok(errors.finish()?)
}

fn parse(errors: &mut FieldErrors, q: &ReportQuery) -> Parsed {
    let period = period_of(errors, q);
    let customer_type = nonempty(&q.customer_type);
    if let Some(t) = &customer_type {
        if kairos_domain::account::AccountType::from_stored(t).is_none() {
            errors.add("customer_type", "must be enterprise, government, institution or individual");
        }
    }
    let filter = ReportFilter {
        process: errors.check_opt("process_id", nonempty(&q.process_id).as_deref().map(ProcessId::parse)),
        owner: errors.check_opt("owner_id", nonempty(&q.owner_id).as_deref().map(UserId::parse)),
        org_units: None,
        industry: nonempty(&q.industry),
        customer_type,
        source: nonempty(&q.source),
        product_category: nonempty(&q.product_category),
        ..Default::default()
    };
    let unit = errors.check_opt("org_unit_id", nonempty(&q.org_unit_id).as_deref().map(OrgUnitId::parse));
    Parsed { filter, period, unit }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Funnel {
    /// The filters as understood, echoed.
    #[schema(value_type = Object)]
    pub filters: Value,
    #[schema(value_type = String, format = Uuid)]
    pub process_id: ProcessId,
    pub base_currency: String,
    pub stages: Vec<FunnelStage>,
    pub count: u64,
    pub amount: i64,
    pub weighted_amount: i64,
    /// 1 − mean(count of stage i+1 / count of stage i): 0 is a pipe, towards 1 a steep funnel.
    pub shape_index: Option<f64>,
    pub unconverted_currencies: Vec<String>,
    /// The month after this one (or after the period asked for) and its target.
    pub next_period: String,
    pub next_target: Option<i64>,
    /// Sales holes (销售漏洞): stages whose pipeline, at the win rate deals entering them had
    /// over the last 12 months, cannot cover the next period's target.
    pub sales_holes: Vec<SalesHole>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SalesHole {
    pub stage_id: String,
    pub name: String,
    pub amount: i64,
    /// Share of deals that entered this stage in the last 12 months and were won.
    pub historical_win_rate: Option<f64>,
    /// amount × historical win rate.
    pub expected_revenue: i64,
    /// The pipeline this stage would need: next target ÷ historical win rate.
    pub needed_amount: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FunnelStage {
    pub stage_id: String,
    pub name: String,
    pub probability: u8,
    pub count: u64,
    pub amount: i64,
    pub weighted_amount: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WinRate {
    #[schema(value_type = Object)]
    pub filters: Value,
    /// The workspace's base currency: every amount is in its minor units.
    pub base_currency: String,
    pub group_by: String,
    pub groups: Vec<WinRateGroup>,
    pub total: WinRateGroup,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct WinRateGroup {
    pub key: String,
    pub won: u64,
    pub lost: u64,
    /// Closed as invalid: reported, never part of the rate.
    pub invalid: u64,
    pub won_amount: i64,
    pub lost_amount: i64,
    /// won / (won + lost); null when nothing was decided.
    pub win_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LossReasons {
    #[schema(value_type = Object)]
    pub filters: Value,
    /// The workspace's base currency: every amount is in its minor units.
    pub base_currency: String,
    pub lost: u64,
    pub lost_amount: i64,
    pub by_reason: Vec<Bucket>,
    pub by_stage: Vec<Bucket>,
    pub by_competitor: Vec<CompetitorBucket>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    pub key: String,
    pub label: String,
    pub count: u64,
    pub amount: i64,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct CompetitorBucket {
    pub competitor: String,
    pub lost_to: u64,
    pub lost_amount: i64,
    /// Our win rate on closed deals where this competitor was named.
    pub win_rate_against: Option<f64>,
}

/// What a state report needs to know before it reads: the period and the days' offset.
struct Plan {
    period: Option<Period>,
    offset: i32,
}

/// The common filters of a report query.
struct Filters {
    filter: ReportFilter,
    period: Option<Period>,
    /// The query as echoed in the answer.
    filters: Value,
}

/// The common filters, and what amounts are converted with.
struct Basis {
    filter: ReportFilter,
    base: String,
    rates: HashMap<String, i64>,
}

struct Context {
    /// The selected deals' totals per group of the report's dimensions and per currency.
    totals: Vec<GroupTotals>,
    /// The filter the totals were read with.
    filter: ReportFilter,
    filters: Value,
    base: String,
    rates: HashMap<String, i64>,
    period: Option<Period>,
}

impl Context {
    /// A group's Σ amount in base currency; `None` when its currency has no rate.
    fn amount(&self, t: &GroupTotals) -> Option<i128> {
        convert(&self.base, &self.rates, &t.currency, t.amount())
    }

    /// A group's Σ amount × probability (percent) in base currency, × 100.
    fn amount_x_probability(&self, t: &GroupTotals) -> Option<i128> {
        convert(&self.base, &self.rates, &t.currency, t.amount_x_probability())
    }
}

/// The day a date key names (`Dimension::ExpectedClose`, `Dimension::ClosedDay`).
fn day_of(key: Option<&str>) -> Option<NaiveDate> {
    key.and_then(|k| NaiveDate::parse_from_str(k, "%Y-%m-%d").ok())
}

impl App {
    /// Parses the common filters (reading the subtree of the org unit named, if any) and
    /// echoes them as the answer will.
    async fn report_filters(&self, c: &mut kairos_store::Conn<'_>, actor: &Actor, q: &ReportQuery) -> AppResult<Filters> {
        let mut errors = FieldErrors::new();
        let mut parsed = parse(&mut errors, q);
        errors.finish()?;
        if let Some(u) = parsed.unit {
            parsed.filter.org_units = Some(org_unit::subtree_ids(c, actor.workspace(), u).await?);
        }
        let mut filters = serde_json::to_value(q).unwrap_or(json!({}));
        if let (Some(p), Some(obj)) = (parsed.period, filters.as_object_mut()) {
            obj.insert("from".into(), json!(p.from));
            obj.insert("to".into(), json!(p.to.pred_opt()));
        }
        Ok(Filters { filter: parsed.filter, period: parsed.period, filters })
    }

    /// What every state report converts with: the base currency and today's rates.
    async fn report_currency(&self, c: &mut kairos_store::Conn<'_>, ws: WorkspaceId) -> AppResult<CurrencyBasis> {
        Ok(settings::currency_basis(c, ws, crate::calendar::workspace_days().local_date(self.now())).await?)
    }

    /// Parses the common filters, lets the report narrow them and name its dimensions
    /// (`plan`), and reads the selected deals' totals.
    async fn report_context(&self, actor: &Actor, q: &ReportQuery, plan: impl FnOnce(&mut ReportFilter, &Plan) -> Vec<Dimension>) -> AppResult<Context> {
        validate(q)?;
        // On a SQLite file the report starts on an inline connection alone: the filters, the
        // currencies and the closed deal sums are short reads, run on this thread, and a
        // report they answer takes no pooled connection at all (sqlx hands each statement
        // to its connection's own thread, and checks the connection on that thread when it
        // comes back). Totals the sums cannot answer take one (`context_totals`).
        if let Some(mut inline) = self.store.inline()? {
            return self.report_context_on(&mut kairos_store::Conn::Inline(&mut inline, None), actor, q, plan).await;
        }
        let mut conn = self.store.report_read().await?;
        self.report_context_on(&mut conn.conn(), actor, q, plan).await
    }

    /// `report_context` on a connection the report already holds. A report waits for one
    /// report connection only, holding none: any other it reads on is one idle now
    /// (`try_report_read`), or it reads on its first, one read after another. Waiting for a
    /// second while holding a first, as many reports at once as the pool has connections
    /// would wait on each other. (A lookup connection, from a pool of its own whose
    /// connections never wait for another, may be waited for.)
    async fn report_context_on(
        &self,
        c: &mut kairos_store::Conn<'_>,
        actor: &Actor,
        q: &ReportQuery,
        plan: impl FnOnce(&mut ReportFilter, &Plan) -> Vec<Dimension>,
    ) -> AppResult<Context> {
        let ws = actor.workspace();
        let Filters { mut filter, period, filters } = self.report_filters(c, actor, q).await?;
        let offset = crate::calendar::workspace_days().utc_offset_minutes();
        let by = plan(&mut filter, &Plan { period, offset });
        // Weights (Σ amount × probability) are summed for open deals only.
        let sums = if filter.open_only { Sums::AmountAndWeights } else { Sums::Amount };
        // The currencies are needed only to convert the totals: read beside them when a second
        // connection is at hand (a report of a few milliseconds is mostly round trips). On
        // PostgreSQL that is a lookup connection (`Store::lookup`): the currencies are one
        // keyed read whose plan does not depend on the key, and planning it afresh on each
        // pooled connection's first five runs took 0.15-2.1 ms against 0.03-0.05 ms to run.
        // Its connections are held for one statement and never wait for another, so waiting
        // for one while holding `c` cannot deadlock.
        let beside = match self.store.backend() {
            _ if c.is_inline_only() => None,
            Backend::Postgres => Some(Beside::Lookup(self.store.lookup().await?)),
            Backend::Sqlite => self.store.try_report_read().await.map(Beside::Read),
        };
        let (totals, CurrencyBasis { base, rates }) = match beside {
            Some(mut other) => {
                let mut o = other.conn();
                // The currencies first: their statement is on its way to the other connection
                // before the totals, which may be read on this thread (`context_totals`).
                let (currency, totals) = tokio::join!(self.report_currency(&mut o, ws), self.context_totals(c, actor, &filter, &by, sums));
                (totals?, currency?)
            }
            None => {
                let currency = self.report_currency(c, ws).await?;
                (self.context_totals(c, actor, &filter, &by, sums).await?, currency)
            }
        };
        Ok(Context { totals, filter, filters, base, rates, period })
    }

    /// The totals of `report_context`: the closed deal sums when they answer, else the deals.
    async fn context_totals(&self, c: &mut kairos_store::Conn<'_>, actor: &Actor, filter: &ReportFilter, by: &[Dimension], sums: Sums) -> AppResult<Vec<GroupTotals>> {
        let ws = actor.workspace();
        let whole_workspace = rollup::serves(&actor.scope, &ReportFilter { closed_between: None, ..filter.clone() });
        let summed = match filter.closed_between {
            // The whole workspace's closes over whole days, in a grouping the sums keep.
            // A rollup read, short whatever the deals: on this thread on SQLite (`Store::inline`).
            Some(window) if sums == Sums::Amount && whole_workspace => {
                let mut inline = if c.is_inline() { None } else { self.store.inline()? };
                closed_deal_sums::totals(&mut c.with_inline(inline.as_mut()), ws, window, by).await?
            }
            _ => None,
        };
        if summed.is_none() && c.is_inline_only() {
            let mut conn = self.store.report_read().await?;
            return self.deal_totals(&mut conn.conn(), actor, filter, by, sums).await;
        }
        Ok(match summed {
            Some(totals) => totals,
            None => self.deal_totals(c, actor, filter, by, sums).await?,
        })
    }

    /// The totals of `report_context` from the deals themselves.
    async fn deal_totals(&self, c: &mut kairos_store::Conn<'_>, actor: &Actor, filter: &ReportFilter, by: &[Dimension], sums: Sums) -> AppResult<Vec<GroupTotals>> {
        let ws = actor.workspace();
        // Closed deals come from the index in close order, and SQLite answers a query on one
        // core: the window's two halves side by side when another connection is idle.
        Ok(match self.halves_side_by_side(filter.closed_between, &[Backend::Sqlite]).await {
            Some((mut other, [first, second])) => {
                let (f1, f2) = (ReportFilter { closed_between: Some(first), ..filter.clone() }, ReportFilter { closed_between: Some(second), ..filter.clone() });
                let mut o = other.conn();
                let (x, y) = tokio::join!(store::report_totals(c, ws, &actor.scope, &f1, by, sums), store::report_totals(&mut o, ws, &actor.scope, &f2, by, sums));
                GroupTotals::merged(x?.into_iter().chain(y?))
            }
            None => store::report_totals(c, ws, &actor.scope, filter, by, sums).await?,
        })
    }

    /// `funnel`: the open deals of a process per stage (period: expected close within it).
    pub async fn funnel(&self, actor: &Actor, q: &ReportQuery) -> AppResult<Funnel> {
        let ws = actor.workspace();
        let processes = {
            let mut conn = self.store.read().await?;
            process_store::list_processes(&mut conn.conn(), ws).await?
        };
        let process_id = match nonempty(&q.process_id) {
            Some(p) => ProcessId::parse(&p).map_err(|e| AppError::field("process_id", e.0))?,
            None => processes.iter().find(|p| p.is_default).map(|p| p.id).ok_or_else(|| AppError::field("process_id", "there is no default process; name one"))?,
        };
        let process = processes.iter().find(|p| p.id == process_id).ok_or_else(|| AppError::field("process_id", "does not name a process of this workspace"))?;
        let ctx = self
            .report_context(actor, q, |f, plan| {
                f.process = Some(process_id);
                f.open_only = true;
                f.expected_close_between = plan.period.map(|p| (p.from, p.to));
                vec![Dimension::Stage]
            })
            .await?;
        let mut unconverted = Vec::new();
        let mut stages = Vec::new();
        for stage in &process.stages {
            let mut s = FunnelStage { stage_id: stage.id.to_string(), name: stage.name.clone(), probability: stage.probability, count: 0, amount: 0, weighted_amount: 0 };
            let (mut amount, mut weighted) = (0i128, 0i128);
            for t in ctx.totals.iter().filter(|t| t.key(0) == Some(s.stage_id.as_str())) {
                s.count += t.deals as u64;
                match (ctx.amount(t), ctx.amount_x_probability(t)) {
                    (Some(a), Some(w)) => {
                        amount += a;
                        weighted += w;
                    }
                    _ if !unconverted.contains(&t.currency) => unconverted.push(t.currency.clone()),
                    _ => {}
                }
            }
            s.amount = saturate(amount);
            s.weighted_amount = saturate(weighted / 100);
            if !stage.retired || s.count > 0 {
                stages.push(s);
            }
        }
        let counts: Vec<u64> = stages.iter().map(|s| s.count).collect();
        // Sales holes: next period's target against each stage's pipeline at its historical
        // win rate.
        let today = crate::calendar::workspace_days().local_date(self.now());
        let after = ctx.period.map(|p| p.to).unwrap_or_else(|| Period::parse(&analytics::month_key(today)).map(|p| p.to).unwrap_or(today));
        let next = Period::parse(&analytics::month_key(after)).map_err(|p| AppError::internal(p.0))?;
        let next_target = self.target_context(actor, q).await?.target(&next);
        let history = ReportQuery {
            period: None,
            from: Some((today - chrono::Duration::days(365)).to_string()),
            to: Some(today.to_string()),
            process_id: Some(process_id.to_string()),
            ..q.clone()
        };
        let mut sales_holes = Vec::new();
        // Replaying a year of history is the expensive part: only when there is a target.
        if let Some(target) = next_target.filter(|t| *t > 0) {
            let conversion = self.conversion(actor, &history).await?;
            for s in &stages {
                let rate = conversion.stages.iter().find(|c| c.stage_id == s.stage_id).and_then(|c| c.win_rate);
                let expected = rate.map(|r| (s.amount as f64 * r).round() as i64).unwrap_or(0);
                if expected < target {
                    sales_holes.push(SalesHole {
                        stage_id: s.stage_id.clone(),
                        name: s.name.clone(),
                        amount: s.amount,
                        historical_win_rate: rate,
                        expected_revenue: expected,
                        needed_amount: rate.filter(|r| *r > 0.0).map(|r| (target as f64 / r).ceil() as i64),
                    });
                }
            }
        }
        Ok(Funnel {
            next_period: analytics::month_key(next.from),
            next_target,
            sales_holes,
            filters: ctx.filters,
            process_id,
            base_currency: ctx.base,
            count: counts.iter().sum(),
            amount: stages.iter().map(|s| s.amount).fold(0i64, |a, b| a.saturating_add(b)),
            weighted_amount: stages.iter().map(|s| s.weighted_amount).fold(0i64, |a, b| a.saturating_add(b)),
            shape_index: analytics::shape_index(&counts),
            stages,
            unconverted_currencies: unconverted,
        })
    }

    /// `win-rate`: deals closed in the period (default: this year), grouped.
    pub async fn win_rate(&self, actor: &Actor, q: &ReportQuery) -> AppResult<WinRate> {
        let group_by = nonempty(&q.group_by).unwrap_or_else(|| "owner".into());
        const GROUPS: [&str; 9] = ["owner", "org_unit", "product_category", "industry", "customer_type", "source", "process", "month", "quarter"];
        if !GROUPS.contains(&group_by.as_str()) {
            return Err(AppError::field("group_by", format!("must be one of {}", GROUPS.join(", "))));
        }
        let this_year = Period::parse(&format!("{}", chrono::Datelike::year(&self.now().date_naive()))).ok();
        let ctx = self
            .report_context(actor, q, |f, plan| {
                f.closed_between = plan.period.or(this_year).map(|p| p.instants(plan.offset));
                let key = match group_by.as_str() {
                    "owner" => Dimension::Owner,
                    "org_unit" => Dimension::OrgUnit,
                    "product_category" => Dimension::ProductCategory,
                    "industry" => Dimension::Industry,
                    "customer_type" => Dimension::CustomerType,
                    "source" => Dimension::Source,
                    "process" => Dimension::Process,
                    _ => Dimension::ClosedDay(plan.offset),
                };
                vec![Dimension::Status, key]
            })
            .await?;
        let mut groups: BTreeMap<String, WinRateGroup> = BTreeMap::new();
        let mut total = WinRateGroup { key: "total".into(), ..Default::default() };
        for t in &ctx.totals {
            let key = match group_by.as_str() {
                "month" => day_of(t.key(1)).map(analytics::month_key).unwrap_or_default(),
                "quarter" => day_of(t.key(1)).map(analytics::quarter_key).unwrap_or_default(),
                _ => t.key(1).unwrap_or_default().to_string(),
            };
            let (n, amount) = (t.deals as u64, ctx.amount(t).map(saturate).unwrap_or(0));
            for g in [groups.entry(key.clone()).or_insert_with(|| WinRateGroup { key: key.clone(), ..Default::default() }), &mut total] {
                match t.key(0) {
                    Some("won") => {
                        g.won += n;
                        g.won_amount = g.won_amount.saturating_add(amount);
                    }
                    Some("lost") => {
                        g.lost += n;
                        g.lost_amount = g.lost_amount.saturating_add(amount);
                    }
                    Some("invalid") => g.invalid += n,
                    _ => {}
                }
            }
        }
        let mut groups: Vec<WinRateGroup> = groups.into_values().collect();
        for g in groups.iter_mut().chain(std::iter::once(&mut total)) {
            g.win_rate = analytics::win_rate(g.won, g.lost);
        }
        Ok(WinRate { filters: ctx.filters, base_currency: ctx.base, group_by, groups, total })
    }

    /// `loss-reasons`: deals lost in the period (default: this year) by reason, by the stage
    /// they were lost in, and by competitor, with our win rate against each competitor.
    pub async fn loss_reasons(&self, actor: &Actor, q: &ReportQuery) -> AppResult<LossReasons> {
        let ws = actor.workspace();
        let this_year = Period::parse(&format!("{}", chrono::Datelike::year(&self.now().date_naive()))).ok();
        validate(q)?;
        let mut conn = self.store.report_read().await?;
        let mut c = conn.conn();
        let ctx = self
            .report_context_on(&mut c, actor, q, |f, plan| {
                f.closed_between = plan.period.or(this_year).map(|p| p.instants(plan.offset));
                vec![Dimension::Status, Dimension::CloseReason, Dimension::Stage, Dimension::Competitors, Dimension::CloseCompetitor]
            })
            .await?;
        let (reasons, processes) = (settings::list_close_reasons(&mut c, ws).await?, process_store::list_processes(&mut c, ws).await?);
        let stage_name = |id: &str| processes.iter().flat_map(|p| &p.stages).find(|s| s.id.to_string() == id).map(|s| s.name.clone()).unwrap_or_default();
        let mut by_reason: BTreeMap<String, Bucket> = BTreeMap::new();
        let mut by_stage: BTreeMap<String, Bucket> = BTreeMap::new();
        let mut competitors: BTreeMap<String, (CompetitorBucket, u64, u64)> = BTreeMap::new();
        let (mut lost, mut lost_amount) = (0u64, 0i64);
        for t in &ctx.totals {
            let (n, amount) = (t.deals as u64, ctx.amount(t).map(saturate).unwrap_or(0));
            let (status, stage, close_competitor) = (t.key(0), t.key(2).unwrap_or_default(), t.key(4));
            let mut named: Vec<String> = t.key(3).and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
            if let Some(c) = close_competitor {
                if !named.iter().any(|x| x == c) {
                    named.push(c.to_string());
                }
            }
            for c in &named {
                let e = competitors.entry(c.clone()).or_insert_with(|| (CompetitorBucket { competitor: c.clone(), ..Default::default() }, 0, 0));
                match status {
                    Some("won") => e.1 += n,
                    Some("lost") => e.2 += n,
                    _ => {}
                }
            }
            if status != Some("lost") {
                continue;
            }
            lost += n;
            lost_amount = lost_amount.saturating_add(amount);
            let key = t.key(1).unwrap_or_default().to_string();
            let label = reasons.iter().find(|x| x.id == key).map(|x| x.label.clone()).unwrap_or_else(|| "—".into());
            let b = by_reason.entry(key.clone()).or_insert_with(|| Bucket { key, label, ..Default::default() });
            b.count += n;
            b.amount = b.amount.saturating_add(amount);
            let b = by_stage.entry(stage.to_string()).or_insert_with(|| Bucket { key: stage.to_string(), label: stage_name(stage), ..Default::default() });
            b.count += n;
            b.amount = b.amount.saturating_add(amount);
            if let Some(e) = close_competitor.and_then(|c| competitors.get_mut(c)) {
                e.0.lost_to += n;
                e.0.lost_amount = e.0.lost_amount.saturating_add(amount);
            }
        }
        let by_competitor = competitors
            .into_values()
            .map(|(mut b, won, lost)| {
                b.win_rate_against = analytics::win_rate(won, lost);
                b
            })
            .collect();
        let mut by_reason: Vec<Bucket> = by_reason.into_values().collect();
        by_reason.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
        Ok(LossReasons { filters: ctx.filters, base_currency: ctx.base, lost, lost_amount, by_reason, by_stage: by_stage.into_values().collect(), by_competitor })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Forecast {
    #[schema(value_type = Object)]
    pub filters: Value,
    pub interval: String,
    pub base_currency: String,
    /// Whose target the buckets compare with: user:<id>, org_unit:<id> or "workspace".
    pub target_subject: String,
    pub buckets: Vec<ForecastBucket>,
    pub total: ForecastBucket,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ForecastBucket {
    /// 2026-03 or 2026-Q1
    pub period: String,
    pub from: Option<NaiveDate>,
    /// Last day, inclusive.
    pub to: Option<NaiveDate>,
    /// Open deals expected to close in the bucket, per forecast category: amount and
    /// weighted amount (Σ amount × probability).
    pub pipeline: Amounts,
    pub best_case: Amounts,
    pub commit: Amounts,
    /// Won in the bucket (attainment).
    pub won: i64,
    /// won + the weighted open amount.
    pub forecast: i64,
    pub target: Option<i64>,
    /// target − won
    pub gap: Option<i64>,
    /// won / target
    pub attainment_rate: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Amounts {
    pub count: u64,
    pub amount: i64,
    pub weighted: i64,
}

impl App {
    /// `forecast`: weighted pipeline by expected-close month or quarter and by forecast
    /// category, won so far, against targets (default period: this quarter).
    pub async fn forecast(&self, actor: &Actor, q: &ReportQuery) -> AppResult<Forecast> {
        let interval = nonempty(&q.interval).unwrap_or_else(|| "month".into());
        if interval != "month" && interval != "quarter" {
            return Err(AppError::field("interval", "must be month or quarter"));
        }
        let today = crate::calendar::workspace_days().local_date(self.now());
        let this_quarter = Period::parse(&analytics::quarter_key(today)).ok();
        let open_plan = |f: &mut ReportFilter, plan: &Plan| {
            f.open_only = true;
            f.expected_close_between = plan.period.or(this_quarter).map(|p| (p.from, p.to));
            vec![Dimension::ExpectedClose, Dimension::ForecastCategory]
        };
        let won_plan = |f: &mut ReportFilter, plan: &Plan| {
            f.status = Some("won");
            f.closed_between = plan.period.or(this_quarter).map(|p| p.instants(plan.offset));
            vec![Dimension::ClosedDay(plan.offset)]
        };
        // The open and the won deals side by side when a second connection is idle (see
        // `report_context_on`).
        validate(q)?;
        let (open, won) = {
            let mut conn = self.store.report_read().await?;
            let mut c = conn.conn();
            match self.store.try_report_read().await {
                Some(mut other) => {
                    let mut o = other.conn();
                    let (open, won) = tokio::join!(self.report_context_on(&mut c, actor, q, open_plan), self.report_context_on(&mut o, actor, q, won_plan));
                    (open?, won?)
                }
                None => (self.report_context_on(&mut c, actor, q, open_plan).await?, self.report_context_on(&mut c, actor, q, won_plan).await?),
            }
        };
        let period = open.period.or(this_quarter).ok_or_else(|| AppError::internal("no period"))?;
        let targets = self.target_context(actor, q).await?;
        let target_subject = targets.label.clone();
        let target_for = |p: &Period| targets.target(p);
        let mut buckets = Vec::new();
        for (key, p) in analytics::buckets(&period, interval == "quarter") {
            let mut b = ForecastBucket { period: key, from: Some(p.from), to: p.to.pred_opt(), ..Default::default() };
            // pipeline, best case, commit: Σ amount and Σ amount × probability, exact until the end.
            let mut sums = [(0u64, 0i128, 0i128); 3];
            for t in open.totals.iter().filter(|t| day_of(t.key(0)).is_some_and(|d| p.contains(d))) {
                let (Some(amount), Some(weighted)) = (open.amount(t), open.amount_x_probability(t)) else { continue };
                let slot = match t.key(1) {
                    Some("commit") => &mut sums[2],
                    Some("best_case") => &mut sums[1],
                    _ => &mut sums[0],
                };
                slot.0 += t.deals as u64;
                slot.1 += amount;
                slot.2 += weighted;
            }
            for (slot, (count, amount, weighted)) in [&mut b.pipeline, &mut b.best_case, &mut b.commit].into_iter().zip(sums) {
                *slot = Amounts { count, amount: saturate(amount), weighted: saturate(weighted / 100) };
            }
            let won_in_bucket: i128 = won.totals.iter().filter(|t| day_of(t.key(0)).is_some_and(|d| p.contains(d))).filter_map(|t| won.amount(t)).sum();
            b.won = saturate(won_in_bucket);
            let weighted_open = [&b.pipeline, &b.best_case, &b.commit].iter().fold(0i64, |a, s| a.saturating_add(s.weighted));
            b.forecast = b.won.saturating_add(weighted_open);
            b.target = target_for(&p);
            b.gap = b.target.map(|t| t - b.won);
            b.attainment_rate = b.target.filter(|t| *t > 0).map(|t| b.won as f64 / t as f64);
            buckets.push(b);
        }
        let mut total = ForecastBucket { period: "total".into(), from: Some(period.from), to: period.to.pred_opt(), ..Default::default() };
        for b in &buckets {
            for (t, x) in [(&mut total.pipeline, &b.pipeline), (&mut total.best_case, &b.best_case), (&mut total.commit, &b.commit)] {
                t.count += x.count;
                t.amount = t.amount.saturating_add(x.amount);
                t.weighted = t.weighted.saturating_add(x.weighted);
            }
            total.won = total.won.saturating_add(b.won);
            total.forecast = total.forecast.saturating_add(b.forecast);
        }
        total.target = target_for(&period);
        total.gap = total.target.map(|t| t - total.won);
        total.attainment_rate = total.target.filter(|t| *t > 0).map(|t| total.won as f64 / t as f64);
        Ok(Forecast { filters: open.filters, interval, base_currency: open.base, target_subject, buckets, total })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Dwell {
    #[schema(value_type = Object)]
    pub filters: Value,
    /// Time spent in each stage by deals that left it in the period.
    pub stages: Vec<DwellStage>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DwellStage {
    pub stage_id: String,
    pub name: String,
    pub expected_dwell_days: u32,
    pub calendar_days: analytics::Stats,
    pub working_days: analytics::Stats,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Cycle {
    #[schema(value_type = Object)]
    pub filters: Value,
    /// Creation to won, for deals won in the period.
    pub calendar_days: analytics::Stats,
    pub working_days: analytics::Stats,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Conversion {
    #[schema(value_type = Object)]
    pub filters: Value,
    pub stages: Vec<ConversionStage>,
    /// The stage whose deals least often move on.
    pub weakest_stage_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConversionStage {
    pub stage_id: String,
    pub name: String,
    /// Deals that entered the stage in the period.
    pub entered: u64,
    /// Of those, how many later reached a later stage (or won).
    pub advanced: u64,
    pub won: u64,
    pub advance_rate: Option<f64>,
    pub win_rate: Option<f64>,
}

impl App {
    /// The filter, days and processes of a history report. Each report then reads only
    /// the events and columns it uses (`store::passages`, `won_closes`, `stage_cohorts`,
    /// `pipeline_changes`, `state_changes`).
    async fn history_context(&self, actor: &Actor, q: &ReportQuery) -> AppResult<HistoryContext> {
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let mut parsed = parse(&mut errors, q);
        errors.finish()?;
        if let Some(u) = parsed.unit {
            let mut conn = self.store.report_read().await?;
            parsed.filter.org_units = Some(org_unit::subtree_ids(&mut conn.conn(), ws, u).await?);
        }
        let days = crate::calendar::workspace_days();
        let mut filters = serde_json::to_value(q).unwrap_or(json!({}));
        if let (Some(p), Some(obj)) = (parsed.period, filters.as_object_mut()) {
            obj.insert("from".into(), json!(p.from));
            obj.insert("to".into(), json!(p.to.pred_opt()));
        }
        let window = parsed.period.map(|p| p.instants(days.utc_offset_minutes()));
        Ok(HistoryContext { filter: parsed.filter, filters, period: parsed.period, window, days })
    }

    /// The workspace's processes and their stages, for the reports that name or order stages
    /// (cycle and forecast accuracy do not read them; conversion reads them itself, beside
    /// its cohorts).
    async fn report_processes(&self, ws: WorkspaceId) -> AppResult<Vec<kairos_domain::process::SalesProcess>> {
        let mut conn = self.store.report_read().await?;
        Ok(process_store::list_processes(&mut conn.conn(), ws).await?)
    }

    /// `dwell`: days in each stage (calendar and working) of deals that left it in the period.
    pub async fn dwell(&self, actor: &Actor, q: &ReportQuery) -> AppResult<Dwell> {
        let HistoryContext { filter, filters, window, .. } = self.history_context(actor, q).await?;
        let (ws, scope) = (actor.workspace(), &actor.scope);
        let mut by_stage = match self.dwell_from_buckets(ws, scope, &filter, window).await? {
            Some(stats) => stats,
            None => self.dwell_from_passages(ws, scope, &filter, window).await?,
        };
        let processes = self.report_processes(ws).await?;
        let stages = processes
            .iter()
            .filter(|p| q.process_id.as_deref().is_none_or(|id| id.is_empty() || p.id.to_string() == id))
            .flat_map(|p| &p.stages)
            .map(|s| {
                let (calendar_days, working_days) = by_stage.remove(&s.id.to_string()).unwrap_or_default();
                DwellStage { stage_id: s.id.to_string(), name: s.name.clone(), expected_dwell_days: s.expected_dwell_days, calendar_days, working_days }
            })
            .collect();
        Ok(Dwell { filters, stages })
    }

    /// Dwell's statistics per stage (calendar, working) from every passage's durations.
    async fn dwell_from_passages(&self, ws: WorkspaceId, scope: &DataScope, filter: &ReportFilter, window: Option<Window>) -> AppResult<StageStats> {
        let passages = {
            let mut conn = self.store.report_read().await?;
            // Each half on its own task (see `on_own_task`).
            match self.halves_side_by_side(window, &[Backend::Sqlite, Backend::Postgres]).await {
                Some((other, halves)) => {
                    let half = |mut conn: kairos_store::ReadConn, ended| {
                        let (scope, filter) = (scope.clone(), filter.clone());
                        on_own_task(async move { store::passages(&mut conn.conn(), ws, &scope, &filter, Some(ended)).await })
                    };
                    let (x, y) = tokio::join!(half(conn, halves[0]), half(other, halves[1]));
                    let mut passages = x?;
                    passages.extend(y?);
                    passages
                }
                None => store::passages(&mut conn.conn(), ws, scope, filter, window).await?,
            }
        };
        // One entry per stage from each half read.
        let mut by_stage: HashMap<String, (Vec<f64>, Vec<f64>)> = HashMap::new();
        for (stage, p) in passages {
            let e = by_stage.entry(stage).or_default();
            e.0.extend(p.days);
            e.1.extend(p.working_days);
        }
        Ok(by_stage.into_iter().map(|(stage, (cal, work))| (stage, (analytics::stats(&cal), analytics::stats(&work)))).collect())
    }

    /// Dwell's statistics per stage for the whole workspace over whole days, from the passages
    /// counted per bucket (`passage_buckets`): the counts give each stage's count and mean,
    /// and the bucket of each value the median and p90 need, and only those values are read.
    /// `None` when the buckets cannot answer.
    async fn dwell_from_buckets(&self, ws: WorkspaceId, scope: &DataScope, filter: &ReportFilter, window: Option<Window>) -> AppResult<Option<StageStats>> {
        if !rollup::serves(scope, filter) {
            return Ok(None);
        }
        let conn = self.store.report_read().await?;
        // SQLite answers each query on one core. With a second connection idle, the window's
        // two halves are counted side by side, and the values are then read in two lanes: at
        // a million deals each value read walks some thousands of index entries, and the
        // twenty of them took most of the report's time (docs/benchmarks.md).
        let other = match self.store.backend() {
            Backend::Sqlite => self.store.try_report_read().await,
            Backend::Postgres => None,
        };
        let (counts, mut conn, mut other) = match (other, window.and_then(passage_buckets::halves)) {
            (Some(other), Some([first, second])) => {
                let half = |mut conn: kairos_store::ReadConn, part| {
                    on_own_task(async move {
                        let counts = passage_buckets::buckets(&mut conn.conn(), ws, Some(part)).await?;
                        Ok::<_, kairos_store::StoreError>((counts, conn))
                    })
                };
                let (x, y) = tokio::join!(half(conn, first), half(other, second));
                let ((x, conn), (y, other)) = (x?, y?);
                // A key may have rows in both halves: the histograms below add them up.
                (x.zip(y).map(|(mut x, y)| { x.extend(y); x }), conn, Some(other))
            }
            (other, _) => {
                let mut conn = conn;
                let counts = passage_buckets::buckets(&mut conn.conn(), ws, window).await?;
                (counts, conn, other)
            }
        };
        let Some(counts) = counts else {
            return Ok(None);
        };
        // Per stage and measure: the passages in each bucket, and the sum of their days.
        let mut histograms: HashMap<(String, Measure), (BTreeMap<i32, u64>, f64)> = HashMap::new();
        for b in counts {
            let Some(measure) = b.measure() else { continue };
            let h = histograms.entry((b.stage_id, measure)).or_default();
            *h.0.entry(b.bucket).or_default() += u64::try_from(b.passages).unwrap_or(0);
            h.1 += b.days;
        }
        let reads: Vec<RankRead> = histograms
            .into_iter()
            .filter_map(|((stage, measure), (counts, sum))| {
                let n = counts.values().sum::<u64>() as usize;
                let ranks = analytics::order_ranks(n)?;
                Some(RankRead { stage, measure, counts, n, sum, wanted: [ranks.median[0], ranks.median[1], ranks.p90].map(|r| r as u64) })
            })
            .collect();
        let found = match other.as_mut() {
            Some(other) => {
                let (x, y) = tokio::join!(values_in_lane(&mut conn, ws, window, &reads, 0, 2), values_in_lane(other, ws, window, &reads, 1, 2));
                let mut found = x?;
                found.extend(y?);
                found
            }
            None => values_in_lane(&mut conn, ws, window, &reads, 0, 1).await?,
        };
        let mut by_stage = StageStats::new();
        for (i, values) in found {
            let read = &reads[i];
            let Some(values) = values else {
                // The counts and the history are written together. Should they ever
                // disagree, the passages themselves still answer; a debug build (the tests)
                // stops instead, so that a fault in the counts cannot hide behind the answer.
                tracing::warn!(stage = read.stage, n = read.n, "dwell: the bucket counts and the history disagree");
                if cfg!(debug_assertions) {
                    panic!("dwell: the bucket counts and the history disagree for stage {}", read.stage);
                }
                return Ok(None);
            };
            let stats = analytics::Stats::from_order(read.n, read.sum, [values[0], values[1]], values[2]);
            let slot = by_stage.entry(read.stage.clone()).or_default();
            match read.measure {
                Measure::Calendar => slot.0 = stats,
                Measure::Working => slot.1 = stats,
            }
        }
        Ok(Some(by_stage))
    }

    /// `cycle`: creation to won for deals won in the period.
    pub async fn cycle(&self, actor: &Actor, q: &ReportQuery) -> AppResult<Cycle> {
        let HistoryContext { filter, filters, window, .. } = self.history_context(actor, q).await?;
        let ws = actor.workspace();
        let mut conn = self.store.report_read().await?;
        let calendar = crate::calendar::load_calendar(&mut conn.conn(), ws).await?;
        // The closes from the window's start on: a deal won in it and won again later counts
        // at its last close, so the later closes are read too. SQLite joins each close to its
        // deal on one core, and PostgreSQL's rows are decoded on the task that reads them:
        // with a second connection idle, the closes before and from the window's middle are
        // read side by side, each on its own task (the deal's last close is then picked from
        // both, as from one read).
        let closes = match self.halves_side_by_side(window, &[Backend::Sqlite, Backend::Postgres]).await {
            Some((other, [(a, middle), _])) => {
                let half = |mut conn: kairos_store::ReadConn, span| {
                    let (scope, filter) = (actor.scope.clone(), filter.clone());
                    on_own_task(async move { store::won_closes(&mut conn.conn(), ws, &scope, &filter, span).await })
                };
                let (x, y) = tokio::join!(half(conn, (Some(a), Some(middle))), half(other, (Some(middle), None)));
                let mut closes = x?;
                closes.extend(y?);
                closes
            }
            None => store::won_closes(&mut conn.conn(), ws, &actor.scope, &filter, (window.map(|(a, _)| a), None)).await?,
        };
        let (mut cal, mut work) = (Vec::new(), Vec::new());
        // The last won close of each deal (a deal reopened and won again counts once).
        let last_won = last_per_deal(&closes, |r| (r.opportunity_id.as_str(), r.at, r.history_id.as_str()));
        for r in last_won.values() {
            if window.is_some_and(|(a, b)| r.at < a || r.at >= b) {
                continue;
            }
            cal.push((r.at - r.created_at).num_seconds().max(0) as f64 / 86_400.0);
            work.push(calendar.working_days_between(r.created_at, r.at));
        }
        Ok(Cycle { filters, calendar_days: analytics::stats(&cal), working_days: analytics::stats(&work) })
    }

    /// `conversion`: of the deals that entered each stage in the period, the share that later
    /// reached a later stage, and the share that was won.
    pub async fn conversion(&self, actor: &Actor, q: &ReportQuery) -> AppResult<Conversion> {
        let HistoryContext { filter, filters, window, .. } = self.history_context(actor, q).await?;
        let (ws, scope) = (actor.workspace(), &actor.scope);
        // The whole workspace's cohorts are rolled up and need no stages.
        let serves = rollup::serves(scope, &filter);
        let rolled_up_inline = match (serves, self.store.inline()?) {
            // On SQLite both the rollup and the stages are short reads: on this thread, one
            // after the other, and no pooled connection is taken at all (sqlx hands each
            // statement to its connection's own thread, and checks the connection on that
            // thread when it comes back).
            (true, Some(mut inline)) => {
                let mut c = kairos_store::Conn::Inline(&mut inline, None);
                match stage_entry_rollup::cohorts(&mut c, ws, window).await? {
                    Some(cohorts) => Some((cohorts, process_store::stage_names(&mut c, ws).await?)),
                    None => None,
                }
            }
            _ => None,
        };
        let (cohorts, stage_names) = match rolled_up_inline {
            Some(read) => read,
            None => self.conversion_cohorts(ws, scope, &filter, window, serves).await?,
        };
        let mut stages = Vec::new();
        for s in stage_names.iter().filter(|s| q.process_id.as_deref().is_none_or(|id| id.is_empty() || s.process_id == id)) {
            // One row per stage from each half of the deals read.
            let count = |n: fn(&store::StageCohort) -> i64| u64::try_from(cohorts.iter().filter(|c| c.stage_id == s.stage_id).map(n).sum::<i64>()).unwrap_or(0);
            let (entered, advanced, won) = (count(|c| c.entered), count(|c| c.advanced), count(|c| c.won));
            let rate = |n: u64| (entered > 0).then(|| n as f64 / entered as f64);
            stages.push(ConversionStage { stage_id: s.stage_id.clone(), name: s.name.clone(), entered, advanced, won, advance_rate: rate(advanced), win_rate: rate(won) });
        }
        let weakest_stage_id = stages
            .iter()
            .filter_map(|s| s.advance_rate.map(|r| (r, s.stage_id.clone())))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, id)| id);
        Ok(Conversion { filters, stages, weakest_stage_id })
    }

    /// Conversion's cohorts and the stages, read on pooled connections: from the rollup when
    /// it serves and no inline connection read it (PostgreSQL, an in-memory SQLite), otherwise
    /// from the deals' stage events.
    async fn conversion_cohorts(
        &self,
        ws: WorkspaceId,
        scope: &DataScope,
        filter: &ReportFilter,
        window: Option<Window>,
        serves: bool,
    ) -> AppResult<(Vec<store::StageCohort>, Vec<process_store::StageName>)> {
        let mut conn = self.store.report_read().await?;
        let mut c = conn.conn();
        // Read beside the stages: on PostgreSQL on a lookup connection, which keeps the plan
        // of their keyed read and needs no ping, as a report connection taken without
        // waiting does (`Store::try_report_read`); elsewhere when a second connection is idle
        // (see `report_context_on`).
        let beside = match (serves, self.store.backend()) {
            (false, _) => None,
            (true, Backend::Postgres) => Some(Beside::Lookup(self.store.lookup().await?)),
            (true, Backend::Sqlite) => self.store.try_report_read().await.map(Beside::Read),
        };
        let (rolled_up, stages) = match (serves, beside) {
            (true, Some(mut other)) => {
                let stages = on_own_task(async move { process_store::stage_names(&mut other.conn(), ws).await });
                let (stages, rolled_up) = tokio::join!(stages, stage_entry_rollup::cohorts(&mut c, ws, window));
                (rolled_up?, stages?)
            }
            (true, None) => (stage_entry_rollup::cohorts(&mut c, ws, window).await?, process_store::stage_names(&mut c, ws).await?),
            (false, _) => (None, process_store::stage_names(&mut c, ws).await?),
        };
        let cohorts = match rolled_up {
            Some(cohorts) => cohorts,
            None => {
                // The cohort reads only events from the window's start on: a deal closed
                // before it has none, so its deals need no narrowing.
                let positions: Vec<(String, i32)> = stages.iter().map(|s| (s.stage_id.clone(), i32::try_from(s.position).unwrap_or(i32::MAX))).collect();
                // Each deal's cohorts depend on its own events alone, so two halves of the
                // deals can be worked out side by side: neither database spreads the window
                // over each deal's events across cores.
                match self.deal_halves(&mut c, ws, &[Backend::Sqlite, Backend::Postgres]).await? {
                    Some((mut other, [first, second])) => {
                        let mut o = other.conn();
                        let (x, y) = tokio::join!(
                            store::stage_cohorts(&mut c, ws, scope, filter, window, &positions, &first),
                            store::stage_cohorts(&mut o, ws, scope, filter, window, &positions, &second)
                        );
                        let mut cohorts = x?;
                        cohorts.extend(y?);
                        cohorts
                    }
                    None => store::stage_cohorts(&mut c, ws, scope, filter, window, &positions, &DealIds::default()).await?,
                }
            }
        };
        Ok((cohorts, stages))
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Movement {
    #[schema(value_type = Object)]
    pub filters: Value,
    /// The workspace's base currency: every amount is in its minor units.
    pub base_currency: String,
    pub from: chrono::DateTime<chrono::Utc>,
    pub to: chrono::DateTime<chrono::Utc>,
    /// Open pipeline at `from` and at `to`.
    pub start: Totals,
    pub end: Totals,
    /// new, won, lost (incl. invalid), pushed_out, pulled_in, value_up, value_down, advanced, regressed
    pub categories: Vec<MovementCategory>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Totals {
    pub count: u64,
    pub amount: i64,
    pub weighted: i64,
}

/// The deals a movement category lists at most (the first in id order).
const MOVEMENT_IDS: u64 = 1000;

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct MovementCategory {
    pub name: String,
    pub count: u64,
    /// The deals' amount (for value_up / value_down: the change).
    pub amount: i64,
    pub opportunity_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Trend {
    #[schema(value_type = Object)]
    pub filters: Value,
    /// The workspace's base currency: every amount is in its minor units.
    pub base_currency: String,
    pub interval: String,
    pub points: Vec<TrendPoint>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrendPoint {
    /// The pipeline as it stood at the end of this day.
    pub date: NaiveDate,
    pub total: Totals,
    pub stages: Vec<TrendStage>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrendStage {
    pub stage_id: String,
    pub name: String,
    pub totals: Totals,
}

/// A period as the instants it runs between, `[from, to)`.
type Window = (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>);

/// Dwell's statistics per stage: in calendar days, in working days.
type StageStats = HashMap<String, (analytics::Stats, analytics::Stats)>;

/// The second connection a report's currencies are read on (`report_context_on`).
enum Beside {
    Read(kairos_store::ReadConn),
    Lookup(kairos_store::LookupConn),
}

impl Beside {
    fn conn(&mut self) -> kairos_store::Conn<'_> {
        match self {
            Beside::Read(read) => read.conn(),
            Beside::Lookup(lookup) => lookup.conn(),
        }
    }
}

/// One stage's passages of one measure, counted per bucket: the values dwell reads at
/// `wanted` (0-based ranks: the two middle ones and the p90's).
struct RankRead {
    stage: String,
    measure: Measure,
    counts: BTreeMap<i32, u64>,
    n: usize,
    sum: f64,
    wanted: [u64; 3],
}

/// The values of every `lanes`-th of `reads` from the `lane`-th on, read one after another
/// on `conn`, each with its place in `reads`; `None` where the history holds fewer passages
/// than the counts say.
async fn values_in_lane(
    conn: &mut kairos_store::ReadConn,
    ws: WorkspaceId,
    window: Option<Window>,
    reads: &[RankRead],
    lane: usize,
    lanes: usize,
) -> AppResult<Vec<(usize, Option<Vec<f64>>)>> {
    let mut c = conn.conn();
    let mut found = Vec::new();
    for (i, read) in reads.iter().enumerate().skip(lane).step_by(lanes) {
        found.push((i, passage_buckets::values_at_ranks(&mut c, ws, window, &read.stage, read.measure, &read.counts, &read.wanted).await?));
    }
    Ok(found)
}

/// What a history report works from once its query is understood.
struct HistoryContext {
    filter: ReportFilter,
    filters: Value,
    period: Option<Period>,
    /// The period as instants in the workspace's time zone.
    window: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    /// Where the workspace's days begin and end (without its working days).
    days: kairos_domain::calendar::WorkCalendar,
}

/// Running sums of an open pipeline in one currency.
#[derive(Debug, Clone, Copy, Default)]
struct Running {
    deals: i64,
    amount: i128,
    /// Σ amount × probability (percent).
    amount_x_probability: i128,
}

impl Running {
    fn add(&mut self, g: &GroupTotals) {
        self.deals += g.deals;
        self.amount += g.amount();
        self.amount_x_probability += g.amount_x_probability();
    }

    /// Takes a group of changes back: the pipeline as it was before them.
    fn take(&mut self, g: &GroupTotals) {
        self.deals -= g.deals;
        self.amount -= g.amount();
        self.amount_x_probability -= g.amount_x_probability();
    }
}

/// Runs a read in a task of its own, on a connection it owns. Rows are decoded by the task
/// that reads them (for PostgreSQL, 2.5 µs a row of an event's state), so two halves joined
/// in one task are decoded on one core; on tasks of their own they use both. A report given
/// up half-way (the client went away) lets its reads finish and return their connections.
async fn on_own_task<T: Send + 'static>(read: impl std::future::Future<Output = Result<T, kairos_store::StoreError>> + Send + 'static) -> AppResult<T> {
    match tokio::spawn(read).await {
        Ok(rows) => Ok(rows?),
        Err(e) => Err(AppError::internal(format!("a report's read stopped: {e}"))),
    }
}

/// Whether the open pipeline at the instants `from` … `to` is better summed forwards from the
/// first stored change than taken back from today's: each reads the history on its side.
fn reads_less_forwards(first_change: Option<chrono::DateTime<chrono::Utc>>, (from, to): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>), now: chrono::DateTime<chrono::Utc>) -> bool {
    first_change.is_none_or(|first| to - first < now - from)
}

/// Each deal's last event among `events`, by time and then by history id (the order events
/// of one instant were written in); `key` gives an event's deal, time and id.
fn last_per_deal<'a, T>(events: impl IntoIterator<Item = &'a T>, key: impl Fn(&'a T) -> (&'a str, chrono::DateTime<chrono::Utc>, &'a str)) -> HashMap<&'a str, &'a T> {
    let mut last: HashMap<&'a str, &'a T> = HashMap::new();
    for e in events {
        let (deal, at, id) = key(e);
        let later = last.get(deal).is_none_or(|seen| {
            let (_, seen_at, seen_id) = key(seen);
            (at, id) > (seen_at, seen_id)
        });
        if later {
            last.insert(deal, e);
        }
    }
    last
}

/// Currencies' running sums in base currency: each currency's sums convert once, and the
/// weighted amount is exact until it is divided by 100.
fn totals_of<'a>(base: &str, rates: &HashMap<String, i64>, sums: impl IntoIterator<Item = (&'a str, &'a Running)>) -> Totals {
    let mut t = Totals::default();
    for (currency, r) in sums {
        t.count += u64::try_from(r.deals).unwrap_or(0);
        t.amount = t.amount.saturating_add(convert(base, rates, currency, r.amount).map(saturate).unwrap_or(0));
        t.weighted = t.weighted.saturating_add(convert(base, rates, currency, r.amount_x_probability).map(|w| saturate(w / 100)).unwrap_or(0));
    }
    t
}

/// A deal as one side of a stored change stood: `None` before its first event.
fn before_of(c: &StateChange) -> Option<(DealState, &str)> {
    let status = c.was_status.clone()?;
    let state = DealState {
        status,
        stage: c.was_stage_id.clone().unwrap_or_default(),
        amount: c.was_amount.unwrap_or(0),
        probability: c.was_probability.unwrap_or(0).clamp(0, 100) as u8,
        expected_close: c.was_close_date,
    };
    Some((state, c.was_currency.as_deref().unwrap_or(&c.currency)))
}

fn after_of(c: &StateChange) -> (DealState, &str) {
    let state = DealState {
        status: c.status.clone().unwrap_or_else(|| "open".into()),
        stage: c.stage_id.clone().unwrap_or_default(),
        amount: c.amount,
        probability: c.probability.clamp(0, 100) as u8,
        expected_close: c.close_date,
    };
    (state, &c.currency)
}

impl App {
    /// The open pipeline now of the deals the filter selects, per `key` and currency: the
    /// history reports take the changes since an instant back from it.
    async fn open_now(&self, c: &mut kairos_store::Conn<'_>, actor: &Actor, filter: &ReportFilter, key: Option<Dimension>, closing: Option<(NaiveDate, NaiveDate)>) -> AppResult<Vec<GroupTotals>> {
        let open = ReportFilter { open_only: true, expected_close_between: closing, ..filter.clone() };
        Ok(store::report_totals(c, actor.workspace(), &actor.scope, &open, &key.into_iter().collect::<Vec<_>>(), Sums::AmountAndWeights).await?)
    }

    /// A second report connection and the window cut in two halves, so that a read of rows
    /// in the window that add up (passages, events) can read one half on each connection, on
    /// the `backends` where that pays: SQLite answers a query on one core; PostgreSQL spreads
    /// one scan over parallel workers, but hands every row back through one connection.
    /// `None` without a window, or when no second connection is idle now (never waiting, so
    /// a report holding connections cannot deadlock the pool).
    async fn halves_side_by_side(
        &self,
        window: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
        backends: &[Backend],
    ) -> Option<(kairos_store::ReadConn, [(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>); 2])> {
        let (a, b) = window?;
        if !backends.contains(&self.store.backend()) {
            return None;
        }
        let other = self.store.try_report_read().await?;
        let middle = a + (b - a) / 2;
        Some((other, [(a, middle), (middle, b)]))
    }

    /// A second report connection and the workspace's deals cut in two at their middle id,
    /// so that a read that works deal by deal (conversion's cohorts, activities per deal) can
    /// read one half on each connection, on the `backends` where that pays. `None` when no
    /// second connection is idle now.
    async fn deal_halves(&self, c: &mut kairos_store::Conn<'_>, ws: WorkspaceId, backends: &[Backend]) -> AppResult<Option<(kairos_store::ReadConn, [DealIds; 2])>> {
        if !backends.contains(&self.store.backend()) {
            return Ok(None);
        }
        let Some(other) = self.store.try_report_read().await else { return Ok(None) };
        Ok(store::middle_deal_id(c, ws).await?.map(|middle| (other, IdRange::halves(middle))))
    }

    /// A second report connection and the owners of the workspace's open deals cut in two,
    /// so that a read in owner order can read one half on each connection, on the
    /// `backends` where that pays. `None` when no second connection is idle now.
    async fn owner_halves(&self, c: &mut kairos_store::Conn<'_>, ws: WorkspaceId, backends: &[Backend]) -> AppResult<Option<(kairos_store::ReadConn, [OwnerIds; 2])>> {
        if !backends.contains(&self.store.backend()) {
            return Ok(None);
        }
        let Some(other) = self.store.try_report_read().await else { return Ok(None) };
        Ok(store::middle_open_owner(c, ws).await?.map(|middle| (other, IdRange::halves(middle))))
    }

    /// The open pipeline's changes (`store::pipeline_changes`), both sides. They are two
    /// scans of two indexes, and SQLite answers a query on one core: when a second report
    /// connection is idle, the sides run side by side on the two.
    async fn pipeline_changes(&self, c: &mut kairos_store::Conn<'_>, actor: &Actor, filter: &ReportFilter, what: &PipelineChanges) -> AppResult<Vec<GroupTotals>> {
        let (ws, scope) = (actor.workspace(), &actor.scope);
        if rollup::serves(scope, filter)
            && let Some(rolled_up) = pipeline_rollup::changes(c, ws, what).await?
        {
            return Ok(rolled_up);
        }
        let (made, taken) = match self.store.try_report_read().await {
            Some(mut other) => {
                let mut o = other.conn();
                tokio::join!(
                    store::pipeline_changes(c, ws, scope, filter, what, ChangeSide::Made),
                    store::pipeline_changes(&mut o, ws, scope, filter, what, ChangeSide::TakenAway)
                )
            }
            None => (
                store::pipeline_changes(c, ws, scope, filter, what, ChangeSide::Made).await,
                store::pipeline_changes(c, ws, scope, filter, what, ChangeSide::TakenAway).await,
            ),
        };
        let mut changes = made?;
        changes.extend(taken?);
        Ok(changes)
    }

    /// The open pipeline at `a` and at `b` (`pipeline_at`), `today`'s open deals read at most
    /// once, or not at all when given.
    async fn pipeline_ends(
        &self,
        c: &mut kairos_store::Conn<'_>,
        actor: &Actor,
        filter: &ReportFilter,
        (a, b): Window,
        first_change: Option<chrono::DateTime<chrono::Utc>>,
        mut today: Option<Vec<GroupTotals>>,
    ) -> AppResult<(HashMap<String, Running>, HashMap<String, Running>)> {
        let start = self.pipeline_at(c, actor, filter, a, first_change, &mut today).await?;
        let end = self.pipeline_at(c, actor, filter, b, first_change, &mut today).await?;
        Ok((start, end))
    }

    /// The open pipeline of the deals the filter selects as it stood at `t` (events at `t`
    /// included), per currency: the stored changes up to `t` summed, or today's pipeline less
    /// the changes after `t`, whichever reads the shorter stretch of history (a period that
    /// starts before the history does reads none of it). `today` keeps today's pipeline once
    /// read, for the next instant.
    async fn pipeline_at(
        &self,
        c: &mut kairos_store::Conn<'_>,
        actor: &Actor,
        filter: &ReportFilter,
        t: chrono::DateTime<chrono::Utc>,
        first_change: Option<chrono::DateTime<chrono::Utc>>,
        today: &mut Option<Vec<GroupTotals>>,
    ) -> AppResult<HashMap<String, Running>> {
        let now = self.now();
        let forward = reads_less_forwards(first_change, (t, t), now);
        let mut at: HashMap<String, Running> = HashMap::new();
        // The changes are read up to or from `t` itself, which the rollup answers for the
        // whole workspace when `t` is a local midnight (a period's ends are), and the events
        // at exactly `t` (an index's few rows) are put on the side of the state at `t`.
        let changes = |from, before| PipelineChanges { from, before, when: ChangedWhen::Any, key: ChangedKey::Nothing, closing_between: None };
        let at_t = changes(Some(t), Some(t + chrono::Duration::microseconds(1)));
        if forward {
            for g in self.pipeline_changes(c, actor, filter, &changes(None, Some(t))).await? {
                at.entry(g.currency.clone()).or_default().add(&g);
            }
        } else {
            if today.is_none() {
                *today = Some(self.open_now(c, actor, filter, None, None).await?);
            }
            for g in today.iter().flatten() {
                at.entry(g.currency.clone()).or_default().add(g);
            }
            // Today's pipeline holds every event up to now.
            if t >= now {
                return Ok(at);
            }
            for g in self.pipeline_changes(c, actor, filter, &changes(Some(t), None)).await? {
                at.entry(g.currency.clone()).or_default().take(&g);
            }
        }
        for g in self.pipeline_changes(c, actor, filter, &at_t).await? {
            at.entry(g.currency.clone()).or_default().add(&g);
        }
        Ok(at)
    }
}

/// What moved in a movement report's period.
enum Moved {
    /// The period's events, in time order per deal.
    Events(Vec<StateChange>),
    /// Every deal, when the period holds the whole history (`from_the_start`): the deals now
    /// per status and currency, and the first ids of each category (new, won, lost).
    AllFromTheStart { now: Vec<GroupTotals>, ids: [Vec<String>; 3] },
    /// A calendar month, quarter or year of the whole workspace, categorised in SQL from each
    /// deal's change over it (`deal_period_changes`).
    Categorised(deal_period_changes::PeriodMovement),
}

/// Reads what moved in `(a, b]`: the events, or with `from_the_start` each deal as it is now
/// (open is new, won is won, lost or invalid is lost; summed as `sums` says): a read of the
/// deals, not of the millions of events they had.
async fn moved_between(
    c: &mut kairos_store::Conn<'_>,
    actor: &Actor,
    filter: &ReportFilter,
    (a, b): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    from_the_start: bool,
    sums: Sums,
    positions: &[(String, i32)],
) -> AppResult<Moved> {
    let (ws, scope) = (actor.workspace(), &actor.scope);
    if !from_the_start {
        // Whole months of the whole workspace: each deal's change over each month, quarter or
        // year, one row per deal and period, instead of every event (a month at a million
        // deals: 145,000 rows against 330,000 events). One period is categorised and summed
        // in SQL; a run of them is folded per deal here.
        if rollup::serves(scope, filter)
            && let Some(periods) = deal_period_changes::periods_between(c, ws, (a, b)).await?
        {
            if let [period] = periods.as_slice() {
                return Ok(Moved::Categorised(deal_period_changes::movement(c, ws, period, positions, MOVEMENT_IDS as usize).await?));
            }
            return Ok(Moved::Events(deal_period_changes::changes(c, ws, &periods).await?));
        }
        return Ok(Moved::Events(store::state_changes(c, ws, scope, filter, a, b).await?));
    }
    let now = store::report_totals(c, ws, scope, filter, &[Dimension::Status], sums).await?;
    let mut ids: [Vec<String>; 3] = Default::default();
    for (list, statuses) in ids.iter_mut().zip([&["open"][..], &["won"], &["lost", "invalid"]]) {
        *list = store::deal_ids(c, ws, scope, filter, statuses, MOVEMENT_IDS).await?;
    }
    Ok(Moved::AllFromTheStart { now, ids })
}

impl App {
    /// `movement`: the open pipeline at the start of the period against its end, and what
    /// moved in between (default period: this month).
    pub async fn movement(&self, actor: &Actor, q: &ReportQuery) -> AppResult<Movement> {
        let HistoryContext { filter, filters, period, days, .. } = self.history_context(actor, q).await?;
        let ws = actor.workspace();
        let period = match period {
            Some(p) => p,
            None => Period::parse(&analytics::month_key(days.local_date(self.now()))).map_err(|p| AppError::internal(p.0))?,
        };
        let processes = self.report_processes(ws).await?;
        let positions: Vec<(String, i32)> = processes.iter().flat_map(|p| p.stages.iter().map(|s| (s.id.to_string(), s.position))).collect();
        let (a, b) = period.instants(days.utc_offset_minutes());
        let now = self.now();
        let b = b.min(now);
        let (base, rates, ends, moved) = {
            let mut conn = self.store.report_read().await?;
            let mut c = conn.conn();
            let CurrencyBasis { base, rates } = settings::currency_basis(&mut c, ws, days.local_date(self.now())).await?;
            // What moved between `a` and `b` are the deals with events in between, from their
            // first event's before-state to their last one's after-state.
            let first_change = store::first_change_at(&mut c, ws).await?;
            // A period that starts before the history and runs to now holds every event of
            // every deal: each deal's first event there had nothing before it, and its last
            // left the deal as it is now.
            let from_the_start = b == now && first_change.is_none_or(|f| a < f);
            let (ends, moved) = if from_the_start && self.store.backend() == Backend::Postgres {
                // On PostgreSQL the deals are read once: the end, today's open pipeline, is
                // their open groups, the weights summed with the rest. Two scans side by side
                // (the ends' open deals, every deal per status) took 306-317 ms at a million
                // deals against 221-225 ms for the floor's one. On SQLite each reads its own
                // covering index, and the closed deals' has no probability (`Sums`).
                let moved = moved_between(&mut c, actor, &filter, (a, b), true, Sums::AmountAndWeights, &positions).await?;
                let today = match &moved {
                    Moved::AllFromTheStart { now, .. } => Some(now.iter().filter(|g| g.key(0) == Some("open")).cloned().collect()),
                    Moved::Events(_) | Moved::Categorised(_) => None,
                };
                (self.pipeline_ends(&mut c, actor, &filter, (a, b), first_change, today).await?, moved)
            } else {
                let ends = self.pipeline_ends(&mut c, actor, &filter, (a, b), first_change, None);
                // The period's events are read beside the two ends when a second connection is
                // idle (see `pipeline_changes`).
                let (ends, moved) = match self.store.try_report_read().await {
                    Some(mut other) => {
                        // One read, not two halves side by side: at a million deals the halves
                        // took 27-30 s over two years on SQLite against 9-12 s for one read
                        // (each half's rows are built, sent and parsed whole), and no less on
                        // PostgreSQL.
                        let mut o = other.conn();
                        tokio::join!(ends, moved_between(&mut o, actor, &filter, (a, b), from_the_start, Sums::Amount, &positions))
                    }
                    None => {
                        let ends = ends.await;
                        (ends, moved_between(&mut conn.conn(), actor, &filter, (a, b), from_the_start, Sums::Amount, &positions).await)
                    }
                };
                (ends?, moved?)
            };
            (base, rates, ends, moved)
        };
        let position: HashMap<String, i32> = positions.into_iter().collect();
        let mut cats: Vec<MovementCategory> = deal_period_changes::CATEGORIES.iter().map(|n| MovementCategory { name: n.to_string(), ..Default::default() }).collect();
        let (start, end) = ends;
        // Σ amount per category and currency, each converted once at the end, as the
        // pipeline's sums are.
        let mut sums: HashMap<(usize, String), i128> = HashMap::new();
        let changes = match moved {
            Moved::Events(changes) => changes,
            Moved::AllFromTheStart { now, ids } => {
                for g in now {
                    let name = match g.key(0) {
                        Some("open") => "new",
                        Some("won") => "won",
                        _ => "lost",
                    };
                    if let Some(i) = cats.iter().position(|c| c.name == name) {
                        cats[i].count += u64::try_from(g.deals).unwrap_or(0);
                        *sums.entry((i, g.currency.clone())).or_default() += g.amount();
                    }
                }
                for (cat, ids) in cats.iter_mut().zip(ids) {
                    cat.opportunity_ids = ids;
                }
                Vec::new()
            }
            Moved::Categorised(moved) => {
                for g in &moved.groups {
                    for (i, cat) in cats.iter_mut().enumerate().filter(|(i, _)| g.in_category(*i)) {
                        cat.count += u64::try_from(g.deals).unwrap_or(0);
                        // A value change counts by how far the amount moved; the rest by the amount.
                        let amount = if matches!(cat.name.as_str(), "value_up" | "value_down") { g.change } else { g.amount };
                        *sums.entry((i, g.currency.clone())).or_default() += amount;
                    }
                }
                for (cat, ids) in cats.iter_mut().zip(moved.ids) {
                    cat.opportunity_ids = ids;
                }
                Vec::new()
            }
        };
        let mut add = |cats: &mut Vec<MovementCategory>, name: &str, id: &str, currency: &str, amount: i64| {
            if let Some(i) = cats.iter().position(|c| c.name == name) {
                let c = &mut cats[i];
                c.count += 1;
                if c.opportunity_ids.len() < MOVEMENT_IDS as usize {
                    c.opportunity_ids.push(id.to_string());
                }
                *sums.entry((i, currency.to_string())).or_default() += amount as i128;
            }
        };
        // The rows come in time order per deal.
        for events in changes.chunk_by(|x, y| x.opportunity_id == y.opportunity_id) {
            let (first, last) = (&events[0], &events[events.len() - 1]);
            let id = first.opportunity_id.as_str();
            let sa = before_of(first);
            let (sb, currency) = after_of(last);
            let was_open = sa.as_ref().is_some_and(|(s, _)| s.is_open());
            if sa.is_none() && sb.is_open() {
                add(&mut cats, "new", id, currency, sb.amount);
            }
            if (was_open || sa.is_none()) && !sb.is_open() {
                add(&mut cats, if sb.status == "won" { "won" } else { "lost" }, id, currency, sb.amount);
                continue;
            }
            let (Some((sa, _)), true) = (sa, sb.is_open()) else { continue };
            if !sa.is_open() {
                continue;
            }
            match (sa.expected_close, sb.expected_close) {
                (Some(x), Some(y)) if y > x => add(&mut cats, "pushed_out", id, currency, sb.amount),
                (Some(x), Some(y)) if y < x => add(&mut cats, "pulled_in", id, currency, sb.amount),
                _ => {}
            }
            if sb.amount > sa.amount {
                add(&mut cats, "value_up", id, currency, sb.amount - sa.amount);
            } else if sb.amount < sa.amount {
                add(&mut cats, "value_down", id, currency, sa.amount - sb.amount);
            }
            match (position.get(&sa.stage), position.get(&sb.stage)) {
                (Some(x), Some(y)) if y > x => add(&mut cats, "advanced", id, currency, sb.amount),
                (Some(x), Some(y)) if y < x => add(&mut cats, "regressed", id, currency, sb.amount),
                _ => {}
            }
        }
        for ((i, currency), amount) in sums {
            cats[i].amount = cats[i].amount.saturating_add(convert(&base, &rates, &currency, amount).map(saturate).unwrap_or(0));
        }
        let start = totals_of(&base, &rates, start.iter().map(|(c, r)| (c.as_str(), r)));
        let end = totals_of(&base, &rates, end.iter().map(|(c, r)| (c.as_str(), r)));
        Ok(Movement { filters, base_currency: base, from: a, to: b, start, end, categories: cats })
    }

    /// `trend`: open pipeline totals by stage at the end of each week or month of the
    /// period (default: the last six months), replayed from history.
    pub async fn trend(&self, actor: &Actor, q: &ReportQuery) -> AppResult<Trend> {
        let interval = nonempty(&q.interval).unwrap_or_else(|| "month".into());
        if interval != "month" && interval != "week" {
            return Err(AppError::field("interval", "must be week or month"));
        }
        let HistoryContext { filter, filters, period, days, .. } = self.history_context(actor, q).await?;
        let ws = actor.workspace();
        let today = days.local_date(self.now());
        let period = period.unwrap_or(Period { from: today - chrono::Duration::days(182), to: today + chrono::Duration::days(1) });
        let mut dates = Vec::new();
        if interval == "week" {
            let mut d = period.from + chrono::Duration::days(6);
            while d < period.to && dates.len() < 520 {
                dates.push(d);
                d += chrono::Duration::days(7);
            }
        } else {
            for (_, p) in analytics::buckets(&period, false) {
                dates.push(p.to - chrono::Duration::days(1));
            }
        }
        if dates.last().is_none_or(|d| *d < period.to - chrono::Duration::days(1)) && period.to - chrono::Duration::days(1) <= today {
            dates.push(period.to - chrono::Duration::days(1));
        }
        dates.retain(|d| *d <= today);
        let offset = days.utc_offset_minutes();
        let end_of = |d: NaiveDate| Period { from: d, to: d + chrono::Duration::days(1) }.instants(offset).1 - chrono::Duration::microseconds(1);
        let (base, rates, forward, now, mut changes) = {
            let mut conn = self.store.report_read().await?;
            let mut c = conn.conn();
            let CurrencyBasis { base, rates } = settings::currency_basis(&mut c, ws, today).await?;
            let micro = chrono::Duration::microseconds(1);
            match (dates.first(), dates.last()) {
                (Some(first), Some(last)) => {
                    let (first, last) = (end_of(*first), end_of(*last));
                    // The whole workspace's changes come rolled up per day, and summing all
                    // of them up to the last point reads less than today's pipeline.
                    let rolled_up = rollup::serves(&actor.scope, &filter);
                    if rolled_up || reads_less_forwards(store::first_change_at(&mut c, ws).await?, (first, last), self.now()) {
                        // Each point is the changes up to it, summed.
                        let what = PipelineChanges { from: None, before: Some(last + micro), when: ChangedWhen::Day(offset), key: ChangedKey::Stage, closing_between: None };
                        (base, rates, true, Vec::new(), self.pipeline_changes(&mut c, actor, &filter, &what).await?)
                    } else {
                        // Each point is today's pipeline less the changes of every later day.
                        let what = PipelineChanges { from: Some(first + micro), before: None, when: ChangedWhen::Day(offset), key: ChangedKey::Stage, closing_between: None };
                        let now = self.open_now(&mut c, actor, &filter, Some(Dimension::Stage), None).await?;
                        (base, rates, false, now, self.pipeline_changes(&mut c, actor, &filter, &what).await?)
                    }
                }
                _ => (base, rates, false, Vec::new(), Vec::new()),
            }
        };
        // In the order the points are worked out: from the first forwards, or from today back.
        changes.sort_by(|x, y| if forward { x.key(0).cmp(&y.key(0)) } else { y.key(0).cmp(&x.key(0)) });
        let processes = self.report_processes(ws).await?;
        let stage_list: Vec<(String, String)> = processes.iter().flat_map(|p| p.stages.iter().map(|s| (s.id.to_string(), s.name.clone()))).collect();
        // (stage, currency) → the open pipeline at the point.
        let mut running: HashMap<(String, String), Running> = HashMap::new();
        for g in &now {
            running.entry((g.key(0).unwrap_or_default().to_string(), g.currency.clone())).or_default().add(g);
        }
        let mut taken = 0;
        let mut points = Vec::new();
        let order: Vec<NaiveDate> = if forward { dates } else { dates.into_iter().rev().collect() };
        for d in order {
            let day = d.to_string();
            // The changes between the previous point and this one.
            let between = |k: &str| if forward { k <= day.as_str() } else { k > day.as_str() };
            for g in changes[taken..].iter().take_while(|g| g.key(0).is_some_and(between)) {
                let r = running.entry((g.key(1).unwrap_or_default().to_string(), g.currency.clone())).or_default();
                if forward {
                    r.add(g);
                } else {
                    r.take(g);
                }
                taken += 1;
            }
            let mut by_stage: HashMap<&str, Totals> = HashMap::new();
            let mut total = Totals::default();
            for ((stage, currency), r) in &running {
                let t = totals_of(&base, &rates, [(currency.as_str(), r)]);
                for x in [by_stage.entry(stage.as_str()).or_default(), &mut total] {
                    x.count += t.count;
                    x.amount = x.amount.saturating_add(t.amount);
                    x.weighted = x.weighted.saturating_add(t.weighted);
                }
            }
            let stages = stage_list
                .iter()
                .map(|(id, name)| TrendStage { stage_id: id.clone(), name: name.clone(), totals: by_stage.remove(id.as_str()).unwrap_or_default() })
                .collect();
            points.push(TrendPoint { date: d, total, stages });
        }
        if !forward {
            points.reverse();
        }
        Ok(Trend { filters, base_currency: base, interval, points })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Team {
    #[schema(value_type = Object)]
    pub filters: Value,
    /// The workspace's base currency: every amount is in its minor units.
    pub base_currency: String,
    /// Amount above which a deal counts as high-value (the workspace's priority amount).
    pub high_value_threshold: i64,
    /// One row per owner, best won amount first.
    pub leaderboard: Vec<TeamRow>,
    pub total: TeamRow,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct TeamRow {
    pub owner_id: String,
    /// Won in the period.
    pub won_amount: i64,
    pub won: u64,
    pub lost: u64,
    pub win_rate: Option<f64>,
    /// Activities (visits, calls, meetings…) logged in the period on the owner's deals.
    pub activities: u64,
    /// Open deals now.
    pub open: u64,
    pub pipeline_amount: i64,
    /// Mean decision-chain coverage (0–1) of the open deals.
    pub coverage_rate: Option<f64>,
    /// Share of open deals above the high-value threshold.
    pub high_value_share: Option<f64>,
    /// Open deals by health: below 60, 60–80, above 80.
    pub health_low: u64,
    pub health_mid: u64,
    pub health_high: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ForecastAccuracy {
    #[schema(value_type = Object)]
    pub filters: Value,
    /// The workspace's base currency: every amount is in its minor units.
    pub base_currency: String,
    /// How many days before each period the forecast is taken.
    pub days_before: i64,
    pub periods: Vec<AccuracyPeriod>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccuracyPeriod {
    pub period: String,
    /// Σ amount × probability of the deals open N days before the period with an expected
    /// close inside it, as they stood then.
    pub forecast: i64,
    /// Won in the period.
    pub won: i64,
    /// (forecast − won) / won × 100; null when nothing was won.
    pub error_percent: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccuracyQuery {
    /// Days before each period's start (default 30).
    pub days_before: Option<String>,
}

impl App {
    /// `team`: leaderboard and pipeline quality per owner (default period: this year).
    pub async fn team(&self, actor: &Actor, q: &ReportQuery) -> AppResult<Team> {
        let ws = actor.workspace();
        let this_year = Period::parse(&format!("{}", chrono::Datelike::year(&self.now().date_naive()))).ok();
        // The one connection the report waits for; the closed deals are read beside the open
        // ones when a second is idle (see `report_context_on`).
        validate(q)?;
        let mut conn = self.store.report_read().await?;
        let mut c = conn.conn();
        let closed_plan = |f: &mut ReportFilter, plan: &Plan| {
            f.closed_between = plan.period.or(this_year).map(|p| p.instants(plan.offset));
            vec![Dimension::Owner, Dimension::Status]
        };
        let (open, closed) = match self.store.try_report_read().await {
            Some(mut other) => {
                let mut o = other.conn();
                let (open, closed) = tokio::join!(self.team_open(&mut c, actor, q), self.report_context_on(&mut o, actor, q, closed_plan));
                (open?, closed?)
            }
            None => (self.team_open(&mut c, actor, q).await?, self.report_context_on(&mut c, actor, q, closed_plan).await?),
        };
        let activities = {
            // Activities in the same period, on the same deals (open or closed), per owner.
            let deals = ReportFilter { closed_between: None, ..closed.filter.clone() };
            let rolled_up = match closed.filter.closed_between {
                // The whole workspace's counts, per day and owner, when whole days are asked.
                Some(window) if rollup::serves(&actor.scope, &deals) => activity_rollup::by_owner(&mut c, ws, window).await?,
                _ => None,
            };
            match (closed.filter.closed_between, rolled_up) {
                (_, Some(counts)) => counts,
                (Some(window), None) => {
                    // SQLite counts each deal's activities walking the (deal, time) index: two
                    // halves of the deals, side by side, each walk half of it.
                    match self.deal_halves(&mut c, ws, &[Backend::Sqlite]).await? {
                        Some((mut other, [first, second])) => {
                            let mut o = other.conn();
                            let (x, y) = tokio::join!(
                                store::activities_by_owner(&mut c, ws, &actor.scope, &deals, window, &first),
                                store::activities_by_owner(&mut o, ws, &actor.scope, &deals, window, &second)
                            );
                            let mut counts = x?;
                            counts.extend(y?);
                            counts
                        }
                        None => store::activities_by_owner(&mut c, ws, &actor.scope, &deals, window, &DealIds::default()).await?,
                    }
                }
                (None, None) => Vec::new(),
            }
        };
        let mut rows: BTreeMap<String, TeamRow> = BTreeMap::new();
        let mut total = TeamRow { owner_id: "total".into(), ..Default::default() };
        let mut coverage: HashMap<String, f64> = HashMap::new();
        let mut high: HashMap<String, u64> = HashMap::new();
        for g in &closed.totals {
            let (n, amount, owner) = (g.deals as u64, closed.amount(g).map(saturate).unwrap_or(0), g.key(0).unwrap_or_default());
            for t in [rows.entry(owner.to_string()).or_insert_with(|| TeamRow { owner_id: owner.to_string(), ..Default::default() }), &mut total] {
                match g.key(1) {
                    Some("won") => {
                        t.won += n;
                        t.won_amount = t.won_amount.saturating_add(amount);
                    }
                    Some("lost") => t.lost += n,
                    _ => {}
                }
            }
        }
        let (threshold, basis, owners) = open;
        for p in &owners {
            let g = &p.totals;
            let n = g.deals as u64;
            let amount = convert(&basis.base, &basis.rates, &g.currency, g.amount()).map(saturate).unwrap_or(0);
            let (low, mid) = (u64::try_from(p.health_low).unwrap_or(0), u64::try_from(p.health_mid).unwrap_or(0));
            let owner = g.key(0).unwrap_or_default();
            for (key, t) in [(owner.to_string(), rows.entry(owner.to_string()).or_insert_with(|| TeamRow { owner_id: owner.to_string(), ..Default::default() })), ("total".to_string(), &mut total)] {
                t.open += n;
                t.pipeline_amount = t.pipeline_amount.saturating_add(amount);
                t.health_low += low;
                t.health_mid += mid;
                t.health_high += n.saturating_sub(low + mid);
                *coverage.entry(key.clone()).or_default() += g.health_chain / 100.0;
                *high.entry(key).or_default() += u64::try_from(p.high_value).unwrap_or(0);
            }
        }
        for (owner, n) in activities {
            let n = u64::try_from(n).unwrap_or(0);
            rows.entry(owner.clone()).or_insert_with(|| TeamRow { owner_id: owner, ..Default::default() }).activities += n;
            total.activities += n;
        }
        let finish = |t: &mut TeamRow| {
            t.win_rate = analytics::win_rate(t.won, t.lost);
            if t.open > 0 {
                t.coverage_rate = coverage.get(&t.owner_id).map(|c| (c / t.open as f64 * 1000.0).round() / 1000.0);
                t.high_value_share = Some(*high.get(&t.owner_id).unwrap_or(&0) as f64 / t.open as f64);
            }
        };
        let mut leaderboard: Vec<TeamRow> = rows.into_values().collect();
        leaderboard.iter_mut().for_each(finish);
        finish(&mut total);
        leaderboard.sort_by(|a, b| b.won_amount.cmp(&a.won_amount).then(a.owner_id.cmp(&b.owner_id)));
        Ok(Team { filters: closed.filters, base_currency: closed.base, high_value_threshold: threshold, leaderboard, total })
    }

    /// Team's open deals per owner, with the high-value threshold and the filters they were
    /// read with.
    async fn team_open(&self, c: &mut kairos_store::Conn<'_>, actor: &Actor, q: &ReportQuery) -> AppResult<(i64, Basis, Vec<store::OwnerPipeline>)> {
        let ws = actor.workspace();
        let threshold = settings::priority_thresholds(c, ws).await?.1;
        let Filters { filter, .. } = self.report_filters(c, actor, q).await?;
        let CurrencyBasis { base, rates } = self.report_currency(c, ws).await?;
        let basis = Basis { filter, base, rates };
        let high_value = least_above(&basis.base, &basis.rates, threshold);
        let (scope, filter) = (&actor.scope, &basis.filter);
        // SQLite sums on one core: the owners' two halves side by side when it can.
        let owners = match self.owner_halves(c, ws, &[Backend::Sqlite]).await? {
            Some((mut other, [first, second])) => {
                let mut o = other.conn();
                let (x, y) = tokio::join!(
                    store::open_by_owner(c, ws, scope, filter, &high_value, &first),
                    store::open_by_owner(&mut o, ws, scope, filter, &high_value, &second)
                );
                x?.into_iter().chain(y?).collect()
            }
            None => store::open_by_owner(c, ws, scope, filter, &high_value, &OwnerIds::default()).await?,
        };
        Ok((threshold, basis, owners))
    }

    /// `forecast-accuracy`: for each month of the period (default: the last six complete
    /// months), the forecast that stood `days_before` days before it against what was won.
    pub async fn forecast_accuracy(&self, actor: &Actor, q: &ReportQuery, days_before: Option<&str>) -> AppResult<ForecastAccuracy> {
        let days_before: i64 = match days_before.map(str::trim).filter(|s| !s.is_empty()) {
            None => 30,
            Some(t) => t.parse().ok().filter(|d| (0..=365).contains(d)).ok_or_else(|| AppError::field("days_before", "must be a whole number of days from 0 to 365"))?,
        };
        let ws = actor.workspace();
        let HistoryContext { filter, filters, period, days, .. } = self.history_context(actor, q).await?;
        let today = days.local_date(self.now());
        let this_month = Period::parse(&analytics::month_key(today)).map_err(|p| AppError::internal(p.0))?;
        let period = period.unwrap_or(Period { from: this_month.from - chrono::Duration::days(1), to: this_month.from });
        let period = if period.to > this_month.from { Period { from: period.from, to: this_month.from.max(period.from) } } else { period };
        let period = if q.period.is_none() && q.from.is_none() {
            // Six complete months back from this one.
            let mut start = this_month.from;
            for _ in 0..6 {
                start = (start - chrono::Duration::days(1)).with_day(1).unwrap_or(start);
            }
            Period { from: start, to: this_month.from }
        } else {
            period
        };
        let offset = days.utc_offset_minutes();
        let buckets = analytics::buckets(&period, false);
        // Each period's forecast is the pipeline as it stood at the start of the day N days
        // before the period: the changes before that instant, of deals expected to close in it.
        let as_of: Vec<chrono::DateTime<chrono::Utc>> = buckets.iter().map(|(_, p)| p.instants(offset).0 - chrono::Duration::days(days_before)).collect();
        let (base, rates, forward, changes, won_closes) = {
            let mut conn = self.store.report_read().await?;
            let mut c = conn.conn();
            let CurrencyBasis { base, rates } = settings::currency_basis(&mut c, ws, today).await?;
            let (forward, changes, won) = match (as_of.first(), as_of.last(), buckets.first(), buckets.last()) {
                (Some(first), Some(last), Some((_, first_p)), Some((_, last_p))) => {
                    let closing = Some((first_p.from, last_p.to));
                    let between = (first_p.instants(offset).0, last_p.instants(offset).1);
                    let won = store::won_between(&mut c, ws, &actor.scope, &filter, between).await?;
                    // Periods of whole months need only the month of each expected close,
                    // which the rolled-up changes keep; from them, summing every change up to
                    // the last forecast reads less than today's pipeline.
                    let key = if period.from.day() == 1 && period.to.day() == 1 { ChangedKey::ExpectedCloseMonth } else { ChangedKey::ExpectedClose };
                    let rolled_up = key == ChangedKey::ExpectedCloseMonth && rollup::serves(&actor.scope, &filter);
                    if rolled_up || reads_less_forwards(store::first_change_at(&mut c, ws).await?, (*first, *last), self.now()) {
                        // Each forecast is the changes before its instant, summed.
                        let what = PipelineChanges { from: None, before: Some(*last), when: ChangedWhen::Before(as_of.clone()), key, closing_between: closing };
                        (true, (Vec::new(), self.pipeline_changes(&mut c, actor, &filter, &what).await?), won)
                    } else {
                        // Each forecast is today's pipeline less the changes since its instant.
                        let what = PipelineChanges { from: Some(*first), before: None, when: ChangedWhen::Before(as_of.clone()), key, closing_between: closing };
                        let now = self.open_now(&mut c, actor, &filter, Some(Dimension::ExpectedClose), closing).await?;
                        (false, (now, self.pipeline_changes(&mut c, actor, &filter, &what).await?), won)
                    }
                }
                _ => (false, (Vec::new(), Vec::new()), Vec::new()),
            };
            (base, rates, forward, changes, won)
        };
        let (now, changes) = changes;
        let mut periods = Vec::new();
        for (i, (key, p)) in buckets.iter().enumerate() {
            let (start, end) = p.instants(offset);
            let mut pipeline: HashMap<&str, Running> = HashMap::new();
            for g in now.iter().filter(|g| day_of(g.key(0)).is_some_and(|d| p.contains(d))) {
                pipeline.entry(g.currency.as_str()).or_default().add(g);
            }
            // A change's key is the first forecast instant it came before: the changes before
            // this forecast's instant are added, or those at or after it taken back.
            let side = |g: &&GroupTotals| g.key(0).and_then(|k| k.parse::<usize>().ok()).is_some_and(|k| (k <= i) == forward) && day_of(g.key(1)).is_some_and(|d| p.contains(d));
            for g in changes.iter().filter(side) {
                let r = pipeline.entry(g.currency.as_str()).or_default();
                if forward {
                    r.add(g);
                } else {
                    r.take(g);
                }
            }
            let forecast = totals_of(&base, &rates, pipeline.iter().map(|(c, r)| (*c, r))).weighted;
            // A deal won twice in a period (won, reopened, won again) counts once, as last won.
            let in_period = won_closes.iter().filter(|w| w.at >= start && w.at < end);
            let last_won = last_per_deal(in_period, |w: &WonAmount| (w.opportunity_id.as_str(), w.at, w.history_id.as_str()));
            let won = last_won.values().fold(0i64, |sum, w| sum.saturating_add(to_base(&base, &rates, &w.currency, w.amount).unwrap_or(0)));
            let error_percent = (won > 0).then(|| ((forecast - won) as f64 / won as f64 * 1000.0).round() / 10.0);
            periods.push(AccuracyPeriod { period: key.clone(), forecast, won, error_percent });
        }
        Ok(ForecastAccuracy { filters, base_currency: base, days_before, periods })
    }
}

/// Whose targets a report compares with, and the data to work them out.
pub(crate) struct TargetContext {
    subjects: Vec<crate::targets::Subject>,
    targets: Vec<kairos_store::target::Target>,
    tree: kairos_domain::org::OrgTree,
    people: Vec<(UserId, Option<OrgUnitId>)>,
    pub label: String,
}

impl TargetContext {
    pub fn target(&self, p: &Period) -> Option<i64> {
        let mut sum: Option<i64> = None;
        for s in &self.subjects {
            if let Some(t) = crate::targets::target_of(*s, p, &self.targets, &self.tree, &self.people, 0) {
                sum = Some(sum.unwrap_or(0).saturating_add(t));
            }
        }
        sum
    }
}

impl App {
    /// The owner or unit a report filters on, else the caller's own level: a rep's own
    /// target, a manager's unit's, the whole workspace (its top units) for directors.
    pub(crate) async fn target_context(&self, actor: &Actor, q: &ReportQuery) -> AppResult<TargetContext> {
        use crate::targets::Subject;
        let ws = actor.workspace();
        let mut conn = self.store.read().await?;
        let mut c = conn.conn();
        let targets = kairos_store::target::list_targets(&mut c, ws).await?;
        let units = org_unit::list_org_units(&mut c, ws).await?;
        let tree = kairos_domain::org::OrgTree::new(units.iter().map(|u| (u.id, u.parent_id)).collect());
        let page = kairos_store::page::PageRequest { limit: 100_000, offset: 0 };
        let people: Vec<(UserId, Option<OrgUnitId>)> =
            kairos_store::user::list_users(&mut c, ws, &Default::default(), page).await?.items.into_iter().map(|u| (u.id, u.org_unit_id)).collect();
        let owner = nonempty(&q.owner_id).and_then(|o| UserId::parse(&o).ok());
        let unit = nonempty(&q.org_unit_id).and_then(|o| OrgUnitId::parse(&o).ok());
        let subjects: Vec<Subject> = match (owner, unit, &actor.scope) {
            (Some(o), _, _) => vec![Subject::User(o)],
            (None, Some(u), _) => vec![Subject::Unit(u)],
            (None, None, kairos_domain::identity::DataScope::Own { user }) => vec![Subject::User(*user)],
            (None, None, kairos_domain::identity::DataScope::Subtree { .. }) => actor.user.org_unit_id.map(Subject::Unit).into_iter().collect(),
            (None, None, kairos_domain::identity::DataScope::All) => units.iter().filter(|u| u.parent_id.is_none()).map(|u| Subject::Unit(u.id)).collect(),
        };
        let label = match subjects.as_slice() {
            [Subject::User(u)] => format!("user:{u}"),
            [Subject::Unit(u)] => format!("org_unit:{u}"),
            _ => "workspace".into(),
        };
        Ok(TargetContext { subjects, targets, tree, people, label })
    }
}

/// For the base currency and each currency with a rate, the least amount whose value in
/// base currency (`convert`, truncating) is above `threshold`: the team report counts
/// high-value deals in the database, per currency, without converting every deal there.
fn least_above(base: &str, rates: &HashMap<String, i64>, threshold: i64) -> Vec<(String, i64)> {
    let mut out = vec![(base.to_string(), threshold.saturating_add(1))];
    for (currency, rate) in rates.iter().filter(|(c, r)| c.as_str() != base && **r > 0) {
        // trunc(a × rate / 10⁶) > threshold ⇔ a × rate ≥ (threshold + 1) × 10⁶, for a ≥ 0.
        let needed = (threshold as i128 + 1) * 1_000_000;
        let least = -((-needed).div_euclid(*rate as i128));
        out.push((currency.clone(), saturate(least)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_above_is_the_first_amount_worth_more_than_the_threshold() {
        let rates = HashMap::from([("USD".to_string(), 7_150_000), ("JPY".to_string(), 47_123), ("EUR".to_string(), 7_777_777)]);
        let least = least_above("CNY", &rates, 50_000_000);
        assert_eq!(least.len(), 4);
        for (currency, min) in &least {
            let value = |a: i64| to_base("CNY", &rates, currency, a).unwrap();
            assert!(value(*min) > 50_000_000, "{currency}: {min} is worth {}", value(*min));
            assert!(value(min - 1) <= 50_000_000, "{currency}: {} is worth {}", min - 1, value(min - 1));
        }
    }
}
