//! Reports in the browser: the analytics reports with the common filters, an ECharts
//! chart each (its option built here, so the browser only draws) and the table behind
//! it, with CSV and XLSX export through the REST endpoint.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use kairos_app::AppError;
use kairos_app::reports::ReportQuery;
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};

use super::forms::query_of;
use super::i18n::{self, Lang};
use super::Page;
use crate::state::AppState;

/// Every report the page offers, in tab order: (URL name, API path segment).
pub const REPORTS: [(&str, &str); 12] = [
    ("funnel", "funnel"),
    ("conversion", "conversion"),
    ("dwell", "dwell"),
    ("cycle", "cycle"),
    ("win_rate", "win-rate"),
    ("loss_reasons", "loss-reasons"),
    ("forecast", "forecast"),
    ("movement", "movement"),
    ("trend", "trend"),
    ("team", "team"),
    ("forecast_accuracy", "forecast-accuracy"),
    ("lead_sources", "lead-sources"),
];

#[derive(Deserialize, Default)]
struct Which {
    #[serde(default)]
    report: Option<String>,
}

pub async fn page(State(state): State<AppState>, page: Page, RawQuery(raw): RawQuery) -> Response {
    let which: Which = query_of(raw.as_deref()).unwrap_or_default();
    let report = which.report.filter(|r| REPORTS.iter().any(|(n, _)| n == r)).unwrap_or_else(|| "funnel".into());
    let filter_raw = raw.as_deref().map(|r| r.split('&').filter(|p| !p.starts_with("report=")).collect::<Vec<_>>().join("&"));
    let query: ReportQuery = match query_of(filter_raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return page.error(e),
    };
    let data = match run(&state, &page, &report, &query).await {
        Ok(d) => d,
        Err(e) => return page.error(e),
    };
    let base = data["base_currency"].as_str().unwrap_or("CNY").to_string();
    let (chart, columns, rows) = present(page.lang, &report, &data, &base, &state, &page).await;
    let api = REPORTS.iter().find(|(n, _)| *n == report).map(|(_, p)| *p).unwrap_or("funnel");
    let filters = filter_raw.as_deref().filter(|s| !s.is_empty()).map(|s| format!("{s}&")).unwrap_or_default();
    let export = format!("/api/v1/reports/{api}?{filters}format=csv");
    let export_xlsx = format!("/api/v1/reports/{api}?{filters}format=xlsx");
    let processes = state.app.list_processes(&page.actor).await.unwrap_or_default();
    let processes: Vec<Value> = processes.iter().map(|p| json!({ "id": p.id.to_string(), "name": p.name })).collect();
    let tabs: Vec<&str> = REPORTS.iter().map(|(n, _)| *n).collect();
    page.render(
        "reports.html",
        "reports",
        context! {
            report, tabs, chart => chart.to_string(), columns, rows, export, export_xlsx, processes, filters => serde_json::to_value(&query).unwrap_or_default(),
            sales_holes => data["sales_holes"].clone(), weakest => data["weakest_stage_id"].clone(),
        },
    )
}

async fn run(state: &AppState, page: &Page, report: &str, q: &ReportQuery) -> Result<Value, AppError> {
    let app = &state.app;
    let a = &page.actor;
    let json = |v: Result<Value, serde_json::Error>| v.map_err(AppError::unexpected);
    match report {
        "funnel" => {
            // The funnel ends where deals land: won in the period (this year by default),
            // with the same filters, so a deal closed won shows at the bottom.
            let won_query = ReportQuery { group_by: None, ..q.clone() };
            let (funnel, won) = tokio::join!(app.funnel(a, q), app.win_rate(a, &won_query));
            let (mut funnel, won) = (json(serde_json::to_value(funnel?))?, won?);
            funnel["won"] = serde_json::json!({ "count": won.total.won, "amount": won.total.won_amount });
            Ok(funnel)
        }
        "conversion" => json(serde_json::to_value(app.conversion(a, q).await?)),
        "dwell" => json(serde_json::to_value(app.dwell(a, q).await?)),
        "cycle" => json(serde_json::to_value(app.cycle(a, q).await?)),
        "win_rate" => json(serde_json::to_value(app.win_rate(a, q).await?)),
        "loss_reasons" => json(serde_json::to_value(app.loss_reasons(a, q).await?)),
        "forecast" => json(serde_json::to_value(app.forecast(a, q).await?)),
        "movement" => json(serde_json::to_value(app.movement(a, q).await?)),
        "trend" => json(serde_json::to_value(app.trend(a, q).await?)),
        "team" => json(serde_json::to_value(app.team(a, q).await?)),
        "lead_sources" => json(serde_json::to_value(app.lead_sources(a, q).await?)),
        _ => json(serde_json::to_value(app.forecast_accuracy(a, q, None).await?)),
    }
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn pct(v: &Value) -> String {
    v.as_f64().map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_else(|| "—".into())
}

fn days(v: &Value) -> String {
    v.as_f64().map(|x| format!("{x:.1}")).unwrap_or_else(|| "—".into())
}

/// The chart option, the table's column labels and its rows (already formatted).
async fn present(lang: Lang, report: &str, d: &Value, base: &str, state: &AppState, page: &Page) -> (Value, Vec<String>, Vec<Vec<String>>) {
    let l = |k: &str| i18n::label(lang, k);
    let money = |v: &Value| i18n::money(v.as_i64().unwrap_or(0), base);
    let units = |v: &Value| v.as_i64().unwrap_or(0) as f64 / 100.0;
    let n = |v: &Value| i18n::group(v.as_i64().unwrap_or(0));
    let bar = |names: Vec<String>, series: Vec<(String, Vec<f64>)>| {
        json!({
            "tooltip": {"trigger": "axis"}, "legend": {}, "grid": {"containLabel": true, "left": 8, "right": 8},
            "xAxis": {"type": "category", "data": names}, "yAxis": {"type": "value"},
            "series": series.into_iter().map(|(name, data)| json!({"type": "bar", "name": name, "data": data})).collect::<Vec<_>>(),
        })
    };
    match report {
        "funnel" => {
            let stages = arr(d, "stages");
            let chart = json!({
                "tooltip": {"trigger": "item"}, "legend": {},
                "series": [{"type": "funnel", "name": l("report.funnel"), "sort": "none", "left": "10%", "width": "80%",
                    "label": {"show": true, "position": "inside"},
                    "data": stages.iter().map(|s| json!({"name": s["name"], "value": s["count"]}))
                        .chain(std::iter::once(json!({"name": l("report.won_in_period"), "value": d["won"]["count"], "itemStyle": {"color": "#16a34a"}})))
                        .collect::<Vec<_>>()}],
            });
            let mut rows: Vec<Vec<String>> = stages.iter().map(|s| vec![s["name"].as_str().unwrap_or("").into(), format!("{}%", s["probability"]), n(&s["count"]), money(&s["amount"]), money(&s["weighted_amount"])]).collect();
            rows.push(vec![l("report.won_in_period"), "100%".into(), n(&d["won"]["count"]), money(&d["won"]["amount"]), money(&d["won"]["amount"])]);
            (chart, vec![l("col.stage"), l("col.probability"), l("col.count"), l("col.amount"), l("col.weighted")], rows)
        }
        "conversion" => {
            let stages = arr(d, "stages");
            let names: Vec<String> = stages.iter().map(|s| s["name"].as_str().unwrap_or("").to_string()).collect();
            let chart = bar(names, vec![
                (l("col.entered"), stages.iter().map(|s| s["entered"].as_f64().unwrap_or(0.0)).collect()),
                (l("col.advanced"), stages.iter().map(|s| s["advanced"].as_f64().unwrap_or(0.0)).collect()),
                (l("col.won"), stages.iter().map(|s| s["won"].as_f64().unwrap_or(0.0)).collect()),
            ]);
            let rows = stages.iter().map(|s| vec![s["name"].as_str().unwrap_or("").into(), n(&s["entered"]), n(&s["advanced"]), pct(&s["advance_rate"]), n(&s["won"]), pct(&s["win_rate"])]).collect();
            (chart, vec![l("col.stage"), l("col.entered"), l("col.advanced"), l("col.advance_rate"), l("col.won"), l("col.win_rate")], rows)
        }
        "dwell" => {
            let stages = arr(d, "stages");
            let names: Vec<String> = stages.iter().map(|s| s["name"].as_str().unwrap_or("").to_string()).collect();
            let chart = bar(names, vec![
                (l("col.median"), stages.iter().map(|s| s["calendar_days"]["median"].as_f64().unwrap_or(0.0)).collect()),
                (l("col.p90"), stages.iter().map(|s| s["calendar_days"]["p90"].as_f64().unwrap_or(0.0)).collect()),
                (l("col.expected_dwell"), stages.iter().map(|s| s["expected_dwell_days"].as_f64().unwrap_or(0.0)).collect()),
            ]);
            let rows = stages
                .iter()
                .map(|s| {
                    let c = &s["calendar_days"];
                    let w = &s["working_days"];
                    vec![s["name"].as_str().unwrap_or("").into(), n(&c["count"]), days(&c["mean"]), days(&c["median"]), days(&c["p90"]), days(&w["median"]), days(&w["p90"])]
                })
                .collect();
            (chart, vec![l("col.stage"), l("col.count"), l("col.mean"), l("col.median"), l("col.p90"), l("col.working_median"), l("col.working_p90")], rows)
        }
        "cycle" => {
            let (c, w) = (&d["calendar_days"], &d["working_days"]);
            let chart = bar(vec![l("col.mean"), l("col.median"), l("col.p90")], vec![
                (l("col.calendar_days"), vec![c["mean"].as_f64().unwrap_or(0.0), c["median"].as_f64().unwrap_or(0.0), c["p90"].as_f64().unwrap_or(0.0)]),
                (l("col.working_days"), vec![w["mean"].as_f64().unwrap_or(0.0), w["median"].as_f64().unwrap_or(0.0), w["p90"].as_f64().unwrap_or(0.0)]),
            ]);
            let rows = vec![
                vec![l("col.calendar_days"), n(&c["count"]), days(&c["mean"]), days(&c["median"]), days(&c["p90"])],
                vec![l("col.working_days"), n(&w["count"]), days(&w["mean"]), days(&w["median"]), days(&w["p90"])],
            ];
            (chart, vec![String::new(), l("col.count"), l("col.mean"), l("col.median"), l("col.p90")], rows)
        }
        "win_rate" => {
            let groups = arr(d, "groups");
            let names = owner_names(state, page, d["group_by"].as_str() == Some("owner")).await;
            let key = |g: &Value| {
                let k = g["key"].as_str().unwrap_or("").to_string();
                names.iter().find(|(id, _)| *id == k).map(|(_, n)| n.clone()).unwrap_or(k)
            };
            let chart = bar(groups.iter().map(key).collect(), vec![
                (l("col.won"), groups.iter().map(|g| g["won"].as_f64().unwrap_or(0.0)).collect()),
                (l("col.lost"), groups.iter().map(|g| g["lost"].as_f64().unwrap_or(0.0)).collect()),
            ]);
            let rows = groups.iter().map(|g| vec![key(g), n(&g["won"]), n(&g["lost"]), n(&g["invalid"]), pct(&g["win_rate"]), money(&g["won_amount"])]).collect();
            (chart, vec![l("col.group"), l("col.won"), l("col.lost"), l("col.invalid"), l("col.win_rate"), l("col.won_amount")], rows)
        }
        "loss_reasons" => {
            let reasons = arr(d, "by_reason");
            let chart = json!({"tooltip": {"trigger": "item"}, "legend": {},
                "series": [{"type": "pie", "radius": ["35%", "65%"], "name": l("report.loss_reasons"),
                    "data": reasons.iter().map(|r| json!({"name": r["label"], "value": r["count"]})).collect::<Vec<_>>()}]});
            let mut rows: Vec<Vec<String>> = reasons.iter().map(|r| vec![l("col.reason"), r["label"].as_str().unwrap_or("").into(), n(&r["count"]), money(&r["amount"]), String::new()]).collect();
            rows.extend(arr(d, "by_stage").iter().map(|r| vec![l("col.stage"), r["label"].as_str().unwrap_or("").into(), n(&r["count"]), money(&r["amount"]), String::new()]));
            rows.extend(arr(d, "by_competitor").iter().map(|r| vec![l("col.competitor"), r["competitor"].as_str().unwrap_or("").into(), n(&r["lost_to"]), money(&r["lost_amount"]), pct(&r["win_rate_against"])]));
            (chart, vec![l("col.by"), l("col.group"), l("col.lost"), l("col.amount"), l("col.win_rate_against")], rows)
        }
        "forecast" => {
            let buckets = arr(d, "buckets");
            let names: Vec<String> = buckets.iter().map(|b| b["period"].as_str().unwrap_or("").to_string()).collect();
            let mut chart = bar(names, vec![
                (l("col.won"), buckets.iter().map(|b| units(&b["won"])).collect()),
                (l("col.forecast"), buckets.iter().map(|b| units(&b["forecast"])).collect()),
            ]);
            if let Some(series) = chart["series"].as_array_mut() {
                series.push(json!({"type": "line", "name": l("col.target"), "data": buckets.iter().map(|b| if b["target"].is_null() { Value::Null } else { json!(units(&b["target"])) }).collect::<Vec<_>>()}));
            }
            let opt_money = |v: &Value| if v.is_null() { "—".to_string() } else { money(v) };
            let rows = buckets
                .iter()
                .chain(std::iter::once(&d["total"]))
                .map(|b| vec![b["period"].as_str().unwrap_or("").into(), money(&b["pipeline"]["weighted"]), money(&b["best_case"]["weighted"]), money(&b["commit"]["weighted"]), money(&b["won"]), money(&b["forecast"]), opt_money(&b["target"]), opt_money(&b["gap"]), pct(&b["attainment_rate"])])
                .collect();
            (chart, vec![l("col.period"), l("col.pipeline"), l("col.best_case"), l("col.commit"), l("col.won"), l("col.forecast"), l("col.target"), l("col.gap"), l("col.attainment")], rows)
        }
        "movement" => {
            let cats = arr(d, "categories");
            let names: Vec<String> = cats.iter().map(|c| l(&format!("movement.{}", c["name"].as_str().unwrap_or("")))).collect();
            let chart = bar(names.clone(), vec![(l("col.amount"), cats.iter().map(|c| units(&c["amount"])).collect())]);
            let mut rows = vec![vec![l("movement.start"), n(&d["start"]["count"]), money(&d["start"]["amount"])]];
            rows.extend(cats.iter().zip(names).map(|(c, name)| vec![name, n(&c["count"]), money(&c["amount"])]));
            rows.push(vec![l("movement.end"), n(&d["end"]["count"]), money(&d["end"]["amount"])]);
            (chart, vec![String::new(), l("col.count"), l("col.amount")], rows)
        }
        "trend" => {
            let points = arr(d, "points");
            let dates: Vec<String> = points.iter().map(|p| p["date"].as_str().unwrap_or("").to_string()).collect();
            let stage_names: Vec<String> = points.first().map(|p| arr(p, "stages").iter().map(|s| s["name"].as_str().unwrap_or("").to_string()).collect()).unwrap_or_default();
            let series: Vec<Value> = stage_names
                .iter()
                .enumerate()
                .map(|(i, name)| json!({"type": "line", "stack": "total", "areaStyle": {}, "name": name,
                    "data": points.iter().map(|p| units(&arr(p, "stages").get(i).map(|s| s["totals"]["amount"].clone()).unwrap_or_default())).collect::<Vec<_>>()}))
                .collect();
            let chart = json!({"tooltip": {"trigger": "axis"}, "legend": {}, "grid": {"containLabel": true}, "xAxis": {"type": "category", "data": dates}, "yAxis": {"type": "value"}, "series": series});
            let rows = points.iter().map(|p| vec![p["date"].as_str().unwrap_or("").into(), n(&p["total"]["count"]), money(&p["total"]["amount"]), money(&p["total"]["weighted"])]).collect();
            (chart, vec![l("col.date"), l("col.count"), l("col.amount"), l("col.weighted")], rows)
        }
        "team" => {
            let rows_v = arr(d, "leaderboard");
            let names = owner_names(state, page, true).await;
            let who = |r: &Value| {
                let k = r["owner_id"].as_str().unwrap_or("");
                names.iter().find(|(id, _)| id == k).map(|(_, n)| n.clone()).unwrap_or_else(|| k.to_string())
            };
            let chart = bar(rows_v.iter().map(who).collect(), vec![
                (l("col.won_amount"), rows_v.iter().map(|r| units(&r["won_amount"])).collect()),
                (l("col.pipeline"), rows_v.iter().map(|r| units(&r["pipeline_amount"])).collect()),
            ]);
            let rows = rows_v
                .iter()
                .map(|r| vec![who(r), money(&r["won_amount"]), pct(&r["win_rate"]), money(&r["pipeline_amount"]), r["activities"].to_string(), pct(&r["coverage_rate"]), pct(&r["high_value_share"]), format!("{}/{}/{}", r["health_low"], r["health_mid"], r["health_high"])])
                .collect();
            (chart, vec![l("col.owner"), l("col.won_amount"), l("col.win_rate"), l("col.pipeline"), l("col.activities"), l("col.coverage"), l("col.high_value"), l("col.health_bands")], rows)
        }
        "lead_sources" => {
            let lines = arr(d, "sources");
            let names: Vec<String> = lines.iter().map(|s| l(&format!("source.{}", s["source"].as_str().unwrap_or("other")))).collect();
            let chart = bar(names.clone(), vec![
                (l("col.leads"), lines.iter().map(|s| s["leads"].as_f64().unwrap_or(0.0)).collect()),
                (l("col.qualified"), lines.iter().map(|s| s["qualified"].as_f64().unwrap_or(0.0)).collect()),
                (l("col.converted"), lines.iter().map(|s| s["converted"].as_f64().unwrap_or(0.0)).collect()),
                (l("col.won"), lines.iter().map(|s| s["opportunities_won"].as_f64().unwrap_or(0.0)).collect()),
            ]);
            let row = |name: String, s: &Value| {
                vec![name, n(&s["leads"]), n(&s["qualified"]), n(&s["converted"]), pct(&s["conversion_rate"]), n(&s["opportunities_won"]), money(&s["revenue"]), days(&s["days_to_convert"]["median"])]
            };
            let mut rows: Vec<Vec<String>> = lines.iter().zip(names).map(|(s, name)| row(name, s)).collect();
            rows.push(row(l("col.total"), &d["total"]));
            (chart, vec![l("leads.source"), l("col.leads"), l("col.qualified"), l("col.converted"), l("col.conversion_rate"), l("col.won"), l("col.revenue"), l("col.days_to_convert")], rows)
        }
        _ => {
            let periods = arr(d, "periods");
            let names: Vec<String> = periods.iter().map(|p| p["period"].as_str().unwrap_or("").to_string()).collect();
            let chart = bar(names, vec![
                (l("col.forecast"), periods.iter().map(|p| units(&p["forecast"])).collect()),
                (l("col.won"), periods.iter().map(|p| units(&p["won"])).collect()),
            ]);
            let rows = periods.iter().map(|p| vec![p["period"].as_str().unwrap_or("").into(), money(&p["forecast"]), money(&p["won"]), p["error_percent"].as_f64().map(|e| format!("{e:+.1}%")).unwrap_or_else(|| "—".into())]).collect();
            (chart, vec![l("col.period"), l("col.forecast"), l("col.won"), l("col.error")], rows)
        }
    }
}

/// (user id, display name) when a report is keyed by owner.
async fn owner_names(state: &AppState, page: &Page, wanted: bool) -> Vec<(String, String)> {
    if !wanted {
        return Vec::new();
    }
    super::user_names(state, page).await.map(|m| m.into_iter().collect()).unwrap_or_default()
}
