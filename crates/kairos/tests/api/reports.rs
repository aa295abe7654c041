//! Reports checked against naive computations over the records the API lists.

use std::collections::BTreeMap;

use kairos_app::demo::{DEMO_PASSWORD, DemoSpec};
use kairos_testkit::{Client, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn all_opportunities(c: &Client) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = c.get(&format!("/api/v1/opportunities?limit=500{cursor}")).await;
        out.extend(r.body["items"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return out,
        }
    }
}

#[tokio::test]
async fn the_seed_example_forecasts_26_850_000() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Seed Forecast").await;
    let a = &ws.admin;
    let stages: Vec<String> = a.get("/api/v1/processes").await.body[0]["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    let acct = a.create("/api/v1/accounts", json!({"name": "Forecast Co"})).await;
    for (stage, n) in stages.iter().zip([65, 34, 27, 15, 6]) {
        for i in 0..n {
            let r = a
                .post("/api/v1/opportunities", json!({"name": format!("D{i}"), "account_id": acct, "amount": 50_000_000, "stage_id": stage, "override_reason": "seed example"}))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        }
    }
    let f = a.get("/api/v1/reports/funnel").await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.body);
    assert_eq!(f.body["weighted_amount"], 2_685_000_000i64, "26,850,000.00 in fen");
    assert_eq!(f.body["count"], 147);
    let counts: Vec<i64> = f.body["stages"].as_array().unwrap().iter().map(|s| s["count"].as_i64().unwrap()).collect();
    assert_eq!(counts, vec![65, 34, 27, 15, 6]);
    assert!(f.body["shape_index"].as_f64().unwrap() > 0.3);
}

#[tokio::test]
async fn sums_of_amount_times_probability_past_64_bits_are_exact() {
    // 110 deals of the largest amount at 90 %: Σ amount × probability is 9.9 × 10¹⁸, past
    // a signed 64-bit integer. The database sums it in two parts; a plain SUM would fail
    // (SQLite raises "integer overflow", PostgreSQL's numeric would not cast back).
    let app = TestApp::spawn().await;
    let ws = app.workspace("Huge Deals").await;
    let a = &ws.admin;
    let stage = a.get("/api/v1/processes").await.body[0]["stages"][4].clone();
    assert_eq!(stage["probability"], 90);
    let acct = a.create("/api/v1/accounts", json!({"name": "Whale Co"})).await;
    for i in 0..110 {
        let deal = json!({"name": format!("W{i}"), "account_id": acct, "amount": 1_000_000_000_000_000i64, "stage_id": stage["id"], "override_reason": "whales"});
        let r = a.post("/api/v1/opportunities", deal).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let f = a.get("/api/v1/reports/funnel").await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.body);
    let s = f.body["stages"].as_array().unwrap().iter().find(|s| s["stage_id"] == stage["id"]).unwrap().clone();
    assert_eq!(s["count"], 110);
    assert_eq!(s["amount"], 110_000_000_000_000_000i64);
    assert_eq!(s["weighted_amount"], 99_000_000_000_000_000i64, "90 % of 110 × 10¹⁵, exact");
    let t = a.get("/api/v1/reports/team").await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    assert_eq!(t.body["total"]["pipeline_amount"], 110_000_000_000_000_000i64);
    assert_eq!(t.body["total"]["high_value_share"], 1.0);
}

#[tokio::test]
async fn funnel_win_rate_and_loss_reasons_match_a_naive_count_for_every_scope() {
    let app = TestApp::spawn().await;
    app.app.build_demo(DemoSpec { scale: 1, seed: 11, revisions: 0 }).await.expect("demo");
    for who in ["director", "manager.sh", "rep.bj1.2"] {
        let c = app.login(&format!("{who}@demo.kairos"), DEMO_PASSWORD).await;
        let deals = all_opportunities(&c).await;
        assert!(!deals.is_empty());
        // Funnel: open deals per stage, CNY plus USD at the demo's rate.
        let f = c.get("/api/v1/reports/funnel").await;
        assert_eq!(f.status, StatusCode::OK, "{}", f.body);
        for stage in f.body["stages"].as_array().unwrap() {
            let mine: Vec<&Value> = deals.iter().filter(|d| d["status"] == "open" && d["stage_id"] == stage["stage_id"]).collect();
            assert_eq!(stage["count"].as_u64().unwrap() as usize, mine.len(), "{who} {}", stage["name"]);
            let amount: i128 = mine
                .iter()
                .map(|d| {
                    let a = d["amount"].as_i64().unwrap() as i128;
                    if d["currency"] == "USD" { a * 7_150_000 / 1_000_000 } else { a }
                })
                .sum();
            assert_eq!(stage["amount"].as_i64().unwrap() as i128, amount, "{who} {}", stage["name"]);
        }
        // Win rate by owner over a year, whose halves both hold closes: SQLite reads the
        // halves side by side.
        let closed_at = |d: &Value| d["closed_at"].as_str().map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc());
        let instant = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc();
        let (from, middle, to) = (instant("2025-05-31T16:00:00Z"), instant("2025-11-30T16:00:00Z"), instant("2026-05-31T16:00:00Z"));
        let in_year: Vec<&Value> = deals.iter().filter(|d| closed_at(d).is_some_and(|t| from <= t && t < to)).collect();
        assert!(in_year.iter().any(|d| closed_at(d).unwrap() < middle) && in_year.iter().any(|d| closed_at(d).unwrap() >= middle), "{who}: closes in both halves");
        let w = c.get("/api/v1/reports/win-rate?from=2025-06-01&to=2026-05-31&group_by=owner").await;
        assert_eq!(w.status, StatusCode::OK, "{}", w.body);
        let mut naive: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for d in &in_year {
            let e = naive.entry(d["owner_id"].as_str().unwrap().to_string()).or_default();
            match d["status"].as_str().unwrap() {
                "won" => e.0 += 1,
                "lost" => e.1 += 1,
                _ => {}
            }
        }
        naive.retain(|_, v| v.0 + v.1 > 0);
        let got: BTreeMap<String, (u64, u64)> =
            w.body["groups"].as_array().unwrap().iter().map(|g| (g["key"].as_str().unwrap().to_string(), (g["won"].as_u64().unwrap(), g["lost"].as_u64().unwrap()))).filter(|(_, v)| v.0 + v.1 > 0).collect();
        assert_eq!(got, naive, "{who}: the year's win rate");
        let l = c.get("/api/v1/reports/loss-reasons?from=2025-06-01&to=2026-05-31").await;
        assert_eq!(l.body["lost"].as_u64().unwrap(), in_year.iter().filter(|d| d["status"] == "lost").count() as u64, "{who}: the year's losses");
        // Win rate by owner over everything ever closed.
        let w = c.get("/api/v1/reports/win-rate?from=2000-01-01&to=2099-12-31&group_by=owner").await;
        assert_eq!(w.status, StatusCode::OK, "{}", w.body);
        let mut naive: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for d in &deals {
            let e = naive.entry(d["owner_id"].as_str().unwrap().to_string()).or_default();
            match d["status"].as_str().unwrap() {
                "won" => e.0 += 1,
                "lost" => e.1 += 1,
                "invalid" => e.2 += 1,
                _ => {}
            }
        }
        naive.retain(|_, v| v.0 + v.1 + v.2 > 0);
        let got: BTreeMap<String, (u64, u64, u64)> = w.body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["key"].as_str().unwrap().to_string(), (g["won"].as_u64().unwrap(), g["lost"].as_u64().unwrap(), g["invalid"].as_u64().unwrap())))
            .collect();
        assert_eq!(got, naive, "{who}");
        let (won, lost): (u64, u64) = naive.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
        let rate = w.body["total"]["win_rate"].as_f64().unwrap();
        assert!((rate - won as f64 / (won + lost) as f64).abs() < 1e-12);
        // Loss reasons: every lost deal once.
        let l = c.get("/api/v1/reports/loss-reasons?from=2000-01-01&to=2099-12-31").await;
        let lost_naive = deals.iter().filter(|d| d["status"] == "lost").count() as u64;
        assert_eq!(l.body["lost"].as_u64().unwrap(), lost_naive, "{who}");
        let by_reason: u64 = l.body["by_reason"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
        assert_eq!(by_reason, lost_naive);
    }
}

#[tokio::test]
async fn report_filters_are_validated_and_echoed() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Filters").await;
    let r = ws.admin.get("/api/v1/reports/win-rate?period=2026-Q7&owner_id=x&customer_type=alien").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut f = r.error_fields();
    f.sort();
    assert_eq!(f, vec!["customer_type", "owner_id", "period"]);
    let r = ws.admin.get("/api/v1/reports/win-rate?group_by=colour").await;
    assert_eq!(r.error_fields(), vec!["group_by"]);
    let r = ws.admin.get("/api/v1/reports/win-rate?period=2026-Q1&group_by=month&industry=制造").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["filters"]["period"], "2026-Q1");
    assert_eq!(r.body["filters"]["from"], "2026-01-01");
    assert_eq!(r.body["filters"]["to"], "2026-03-31");
    assert_eq!(r.body["filters"]["industry"], "制造");
    // CSV export of the same report; an unknown format is a 422.
    let csv = ws.admin.get("/api/v1/reports/funnel?format=csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let text = csv.body.as_str().unwrap();
    assert!(text.trim_start_matches('\u{feff}').starts_with("stage_id,name,probability,count,amount,amount_formatted,weighted_amount,weighted_amount_formatted"), "{text}");
    assert!(text.contains("需求调研"));
    assert_eq!(ws.admin.get("/api/v1/reports/funnel?format=xml").await.error_fields(), vec!["format"]);
    // XLSX, asked for by the query or by the Accept header (the workbook's cells are checked
    // in kairos-http's export tests).
    let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    let by_query = ws.admin.get("/api/v1/reports/funnel?format=xlsx").await;
    assert_eq!((by_query.status, by_query.headers["content-type"].to_str().unwrap()), (StatusCode::OK, xlsx));
    assert!(by_query.body.as_str().unwrap().starts_with("PK"), "a zip container");
    let by_accept = ws.admin.send(reqwest::Method::GET, "/api/v1/reports/funnel", None, &[("accept", xlsx)]).await;
    assert_eq!(by_accept.headers["content-type"].to_str().unwrap(), xlsx);
    assert_eq!(by_accept.headers["content-disposition"], "attachment; filename=\"funnel.xlsx\"");
    let csv_by_accept = ws.admin.send(reqwest::Method::GET, "/api/v1/reports/funnel", None, &[("accept", "text/csv")]).await;
    assert_eq!(csv_by_accept.headers["content-type"], "text/csv; charset=utf-8");
}

#[tokio::test]
async fn forecast_weighs_the_pipeline_by_category_against_targets_with_attainment_and_gap() {
    use crate::fixture::org;
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let quarter = kairos_domain::analytics::quarter_key(today);
    let month = kairos_domain::analytics::month_key(today);
    let stages: Vec<String> = o.admin.get("/api/v1/processes").await.body[0]["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    let acct = o.admin.create("/api/v1/accounts", json!({"name": "Forecast Target Co", "owner_id": o.rep_sh_id})).await;
    // 10 % pipeline, 60 % best case, 80 % commit; each 1,000,000.00.
    for stage in [0usize, 2, 3] {
        let r = o
            .admin
            .post("/api/v1/opportunities", json!({"name": format!("S{stage}"), "account_id": acct, "owner_id": o.rep_sh_id, "amount": 100_000_000,
                "expected_close_date": today, "stage_id": stages[stage], "override_reason": "test"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let w = o
        .admin
        .post("/api/v1/opportunities", json!({"name": "Won", "account_id": acct, "owner_id": o.rep_sh_id, "amount": 30_000_000, "expected_close_date": today,
            "contract_number": "HT-1", "contract_signed_on": today}))
        .await;
    let r = o.admin.post(&format!("/api/v1/opportunities/{}/close", w.id()), json!({"outcome": "won", "version": 1})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Targets: reps cannot set them; the manager sets the rep's quarter.
    let body = json!({"subject_kind": "user", "subject_id": o.rep_sh_id, "period": quarter, "amount": 300_000_000});
    assert_eq!(o.rep_sh.post("/api/v1/targets", body.clone()).await.status, StatusCode::FORBIDDEN);
    let t = o.manager_sh.post("/api/v1/targets", body.clone()).await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.body);
    assert_eq!(o.manager_sh.post("/api/v1/targets", body).await.status, StatusCode::CONFLICT);
    assert_eq!(o.rep_bj.get("/api/v1/targets").await.body.as_array().unwrap().len(), 0, "targets are scoped");

    let f = o.rep_sh.get(&format!("/api/v1/reports/forecast?period={quarter}")).await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.body);
    assert_eq!(f.body["target_subject"], format!("user:{}", o.rep_sh_id));
    let b = f.body["buckets"].as_array().unwrap().iter().find(|b| b["period"] == month.as_str()).unwrap().clone();
    assert_eq!(b["pipeline"]["weighted"], 10_000_000);
    assert_eq!(b["best_case"]["weighted"], 60_000_000);
    assert_eq!(b["commit"]["weighted"], 80_000_000);
    assert_eq!(b["won"], 30_000_000);
    assert_eq!(b["forecast"], 30_000_000 + 150_000_000);
    assert_eq!(b["target"], 100_000_000, "a third of the quarter's target");
    assert_eq!(b["gap"], 70_000_000);
    assert_eq!(f.body["total"]["target"], 300_000_000);
    assert_eq!(f.body["total"]["won"], 30_000_000);
    // The rep's team has no target of its own: it is the sum of its people's.
    let team = o.director.get(&format!("/api/v1/reports/forecast?period={quarter}&org_unit_id={}", o.sh1)).await;
    assert_eq!(team.body["total"]["target"], 300_000_000);
    assert_eq!(team.body["total"]["won"], 30_000_000);
    // Beijing sees none of it.
    let bj = o.rep_bj.get(&format!("/api/v1/reports/forecast?period={quarter}")).await;
    assert_eq!(bj.body["total"]["won"], 0);
    assert_eq!(bj.body["total"]["commit"]["count"], 0);
}

#[tokio::test]
async fn dwell_cycle_and_conversion_match_a_naive_replay_of_the_history() {
    let app = TestApp::spawn().await;
    app.app.build_demo(DemoSpec { scale: 1, seed: 5, revisions: 0 }).await.expect("demo");
    // The director sees every deal, so dwell reads the history alone (no deal narrows it).
    for who in ["rep.sh1.1", "manager.bj2", "director"] {
        let c = app.login(&format!("{who}@demo.kairos"), DEMO_PASSWORD).await;
        let deals = all_opportunities(&c).await;
        let stages: Vec<(String, i64)> = c.get("/api/v1/processes").await.body[0]["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["id"].as_str().unwrap().to_string(), s["position"].as_i64().unwrap()))
            .collect();
        let pos = |id: &Value| stages.iter().find(|(s, _)| Some(s.as_str()) == id.as_str()).map(|(_, p)| *p);
        let mut dwell: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        let mut cycles = Vec::new();
        let mut cohort: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for d in &deals {
            let h = c.get(&format!("/api/v1/opportunities/{}/history", d["id"].as_str().unwrap())).await.body;
            let events: Vec<&Value> = h.as_array().unwrap().iter().filter(|e| e["kind"] != "field").collect();
            for (i, e) in events.iter().enumerate() {
                if e["kind"] == "moved" || e["kind"] == "closed" {
                    let slot = dwell.entry(e["from_stage_id"].as_str().unwrap().to_string()).or_default();
                    slot.0.push(e["days_in_stage"].as_f64().unwrap());
                    slot.1.push(e["working_days_in_stage"].as_f64().unwrap());
                }
                if e["kind"] == "created" || e["kind"] == "moved" {
                    let p = pos(&e["to_stage_id"]).unwrap();
                    let later = &events[i + 1..];
                    let won = later.iter().any(|l| l["kind"] == "closed" && l["to_status"] == "won");
                    let advanced = won || later.iter().any(|l| l["kind"] == "moved" && pos(&l["to_stage_id"]).unwrap() > p);
                    let slot = cohort.entry(e["to_stage_id"].as_str().unwrap().to_string()).or_default();
                    slot.0 += 1;
                    slot.1 += advanced as u64;
                    slot.2 += won as u64;
                }
            }
            if let Some(w) = events.iter().rev().find(|e| e["kind"] == "closed" && e["to_status"] == "won") {
                let at = chrono::DateTime::parse_from_rfc3339(w["at"].as_str().unwrap()).unwrap();
                let created = chrono::DateTime::parse_from_rfc3339(d["created_at"].as_str().unwrap()).unwrap();
                cycles.push((at - created).num_seconds() as f64 / 86_400.0);
            }
        }
        let r = c.get("/api/v1/reports/dwell").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for s in r.body["stages"].as_array().unwrap() {
            let (calendar, working) = dwell.remove(s["stage_id"].as_str().unwrap()).unwrap_or_default();
            check_naive_stats(&s["calendar_days"], calendar, &format!("{who}: dwell {} calendar", s["name"]));
            check_naive_stats(&s["working_days"], working, &format!("{who}: dwell {} working", s["name"]));
        }
        assert!(dwell.is_empty(), "{who}: every stage left is in the report");
        let r = c.get("/api/v1/reports/cycle").await;
        assert_eq!(r.body["calendar_days"]["count"].as_u64().unwrap() as usize, cycles.len(), "{who}");
        if !cycles.is_empty() {
            let mean = cycles.iter().sum::<f64>() / cycles.len() as f64;
            assert!((r.body["calendar_days"]["mean"].as_f64().unwrap() - mean).abs() < 0.01);
        }
        let r = c.get("/api/v1/reports/conversion").await;
        for s in r.body["stages"].as_array().unwrap() {
            let naive = cohort.get(s["stage_id"].as_str().unwrap()).cloned().unwrap_or_default();
            let got = (s["entered"].as_u64().unwrap(), s["advanced"].as_u64().unwrap(), s["won"].as_u64().unwrap());
            assert_eq!(got, naive, "{who} {}", s["name"]);
        }
        assert!(r.body["weakest_stage_id"].is_string());
    }
}

#[tokio::test]
async fn movement_and_trend_replay_the_pipeline_as_it_stood() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Replay").await;
    let a = &ws.admin;
    let st: Vec<String> = a.get("/api/v1/processes").await.body[0]["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    let acct = a.create("/api/v1/accounts", json!({"name": "Replay Co"})).await;
    let lost = a.get("/api/v1/close-reasons").await.body.as_array().unwrap().iter().find(|r| r["outcome"] == "lost").unwrap()["id"].clone();
    let create = |name: &str, at: &str| {
        let body = json!({"name": name, "account_id": acct, "amount": 100_000, "expected_close_date": "2026-06-30", "created_at": at,
            "contract_number": "HT", "contract_signed_on": "2026-03-01"});
        async move { a.post("/api/v1/opportunities", body).await.id() }
    };
    let x = create("X", "2025-11-01T02:00:00Z").await;
    let y = create("Y", "2025-11-02T02:00:00Z").await;
    let z = create("Z", "2026-01-05T02:00:00Z").await;
    let w = create("W", "2026-02-01T02:00:00Z").await;
    let ok = |r: kairos_testkit::Reply| assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    ok(a.post(&format!("/api/v1/opportunities/{x}/move"), json!({"stage_id": st[1], "version": 1, "at": "2026-01-10T02:00:00Z", "override_reason": "import"})).await);
    ok(a.post(&format!("/api/v1/opportunities/{y}/close"), json!({"outcome": "lost", "version": 1, "reason_id": lost, "closed_at": "2026-02-01T02:00:00Z"})).await);
    ok(a.post(&format!("/api/v1/opportunities/{w}/close"), json!({"outcome": "won", "version": 1, "closed_at": "2026-03-01T02:00:00Z"})).await);
    ok(a.patch(&format!("/api/v1/opportunities/{x}"), json!({"version": 2, "amount": 150_000, "expected_close_date": "2026-09-30"})).await);

    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let m = a.get(&format!("/api/v1/reports/movement?from=2025-12-01&to={today}")).await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.body);
    let cat = |name: &str| m.body["categories"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    let ids = |name: &str| -> Vec<String> { cat(name)["opportunity_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect() };
    assert_eq!(ids("new"), vec![z.clone()]);
    assert_eq!(ids("won"), vec![w.clone()]);
    assert_eq!(ids("lost"), vec![y.clone()]);
    assert_eq!(ids("advanced"), vec![x.clone()]);
    assert_eq!(ids("pushed_out"), vec![x.clone()]);
    assert_eq!(ids("value_up"), vec![x.clone()]);
    assert_eq!(cat("value_up")["amount"], 50_000);
    assert!(ids("regressed").is_empty() && ids("pulled_in").is_empty() && ids("value_down").is_empty());
    assert_eq!(m.body["start"]["count"], 2, "X and Y were open on 1 December");
    assert_eq!(m.body["end"]["count"], 2, "X and Z are open now");
    assert_eq!(m.body["end"]["amount"], 250_000);

    let t = a.get("/api/v1/reports/trend?from=2025-12-01&to=2026-03-31&interval=month").await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    let counts: Vec<(String, i64)> = t.body["points"].as_array().unwrap().iter().map(|p| (p["date"].as_str().unwrap().to_string(), p["total"]["count"].as_i64().unwrap())).collect();
    assert_eq!(counts, vec![("2025-12-31".into(), 2), ("2026-01-31".into(), 3), ("2026-02-28".into(), 3), ("2026-03-31".into(), 2)]);
    let jan = &t.body["points"][1];
    let stage2 = jan["stages"].as_array().unwrap().iter().find(|s| s["stage_id"] == st[1].as_str()).unwrap();
    assert_eq!(stage2["totals"]["count"], 1, "X had moved to the second stage by the end of January");
    assert_eq!(a.get("/api/v1/reports/trend?interval=day").await.error_fields(), vec!["interval"]);
}

/// Won, reopened and won again: the cycle counts the deal once, up to its last win.
#[tokio::test]
async fn a_deal_won_twice_counts_once_in_the_cycle_as_last_won() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Twice").await;
    let a = &ws.admin;
    let acct = a.create("/api/v1/accounts", json!({"name": "Twice Co"})).await;
    let body = json!({"name": "T", "account_id": acct, "amount": 100_000, "expected_close_date": "2026-06-30", "created_at": "2025-11-01T02:00:00Z",
        "contract_number": "HT", "contract_signed_on": "2026-01-01"});
    let id = a.post("/api/v1/opportunities", body).await.id();
    let ok = |r: kairos_testkit::Reply| assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    ok(a.post(&format!("/api/v1/opportunities/{id}/close"), json!({"outcome": "won", "version": 1, "closed_at": "2026-01-15T02:00:00Z"})).await);
    ok(a.post(&format!("/api/v1/opportunities/{id}/reopen"), json!({"version": 2, "reason": "客户追加采购"})).await);
    ok(a.post(&format!("/api/v1/opportunities/{id}/close"), json!({"outcome": "won", "version": 3})).await);
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let r = a.get(&format!("/api/v1/reports/cycle?from=2025-01-01&to={today}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["calendar_days"]["count"], 1, "{}", r.body);
    let created = chrono::DateTime::parse_from_rfc3339("2025-11-01T02:00:00Z").unwrap();
    let days = (chrono::Utc::now() - created.with_timezone(&chrono::Utc)).num_seconds() as f64 / 86_400.0;
    let mean = r.body["calendar_days"]["mean"].as_f64().unwrap();
    assert!((mean - days).abs() < 1.0, "from creation to the last win ({days:.1} days), not the first (75 days): {mean}");
}

#[tokio::test]
async fn team_leaderboard_matches_a_naive_count_and_forecast_accuracy_compares_with_what_was_won() {
    let app = TestApp::spawn().await;
    app.app.build_demo(DemoSpec { scale: 1, seed: 3, revisions: 0 }).await.expect("demo");
    for who in ["director", "rep.sh2.3"] {
        let c = app.login(&format!("{who}@demo.kairos"), DEMO_PASSWORD).await;
        let deals = all_opportunities(&c).await;
        let t = c.get("/api/v1/reports/team?from=2000-01-01&to=2099-12-31").await;
        assert_eq!(t.status, StatusCode::OK, "{}", t.body);
        let money = |d: &Value| -> i64 {
            let a = d["amount"].as_i64().unwrap();
            if d["currency"] == "USD" { (a as i128 * 7_150_000 / 1_000_000) as i64 } else { a }
        };
        let won: i64 = deals.iter().filter(|d| d["status"] == "won").map(money).sum();
        let open: Vec<&Value> = deals.iter().filter(|d| d["status"] == "open").collect();
        assert_eq!(t.body["total"]["won_amount"], won, "{who}");
        assert_eq!(t.body["total"]["open"].as_u64().unwrap() as usize, open.len());
        assert_eq!(t.body["total"]["pipeline_amount"], open.iter().map(|d| money(d)).sum::<i64>());
        let low = open.iter().filter(|d| d["health"]["score"].as_i64().unwrap() < 60).count();
        assert_eq!(t.body["total"]["health_low"].as_u64().unwrap() as usize, low);
        let rows = t.body["leaderboard"].as_array().unwrap();
        // Each owner's open deals by health band and above the high-value threshold (worth
        // more than it in the base currency), counted deal by deal.
        let threshold = t.body["high_value_threshold"].as_i64().unwrap();
        let mut naive: BTreeMap<String, [u64; 5]> = BTreeMap::new();
        for d in &open {
            let e = naive.entry(d["owner_id"].as_str().unwrap().to_string()).or_default();
            let score = d["health"]["score"].as_i64().unwrap();
            let band = if score < 60 { 1 } else if score <= 80 { 2 } else { 3 };
            e[0] += 1;
            e[band] += 1;
            e[4] += u64::from(money(d) > threshold);
        }
        let high_value: u64 = naive.values().map(|e| e[4]).sum();
        assert!(high_value > 0 && high_value < open.len() as u64, "{who}: the demo's open deals lie on both sides of the threshold: {high_value}");
        let reported: BTreeMap<String, [u64; 5]> = rows
            .iter()
            .filter(|r| r["open"].as_u64().unwrap() > 0)
            .map(|r| {
                let n = |k: &str| r[k].as_u64().unwrap();
                let high = (r["high_value_share"].as_f64().unwrap() * n("open") as f64).round() as u64;
                (r["owner_id"].as_str().unwrap().to_string(), [n("open"), n("health_low"), n("health_mid"), n("health_high"), high])
            })
            .collect();
        assert_eq!(reported, naive, "{who}: per owner [open, low, mid, high health, high value]");
        assert!(rows.windows(2).all(|w| w[0]["won_amount"].as_i64() >= w[1]["won_amount"].as_i64()), "best first");
        if who.starts_with("rep") {
            assert!(rows.len() <= 1, "a rep's leaderboard is their own row");
            // Activities: every activity logged on the rep's deals, counted through the list.
            let mut logged = 0;
            for d in &deals {
                let mut cursor = String::new();
                loop {
                    let r = c.get(&format!("/api/v1/activities?opportunity_id={}&limit=200{cursor}", d["id"].as_str().unwrap())).await;
                    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                    logged += r.body["items"].as_array().unwrap().len() as u64;
                    match r.body["next_cursor"].as_str() {
                        Some(next) => cursor = format!("&cursor={next}"),
                        None => break,
                    }
                }
            }
            assert!(logged > 0, "the demo logs follow-ups");
            assert_eq!(t.body["total"]["activities"].as_u64().unwrap(), logged);
            assert_eq!(rows[0]["activities"].as_u64().unwrap(), logged);
            let before = c.get("/api/v1/reports/team?from=2000-01-01&to=2000-12-31").await;
            assert_eq!(before.body["total"]["activities"], 0, "none were logged in 2000");
        } else {
            // Every activity logged on a deal, through the whole workspace's list.
            let (mut logged, mut cursor) = (0u64, String::new());
            loop {
                let r = c.get(&format!("/api/v1/activities?limit=200{cursor}")).await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                logged += r.body["items"].as_array().unwrap().iter().filter(|a| a["opportunity_id"].is_string()).count() as u64;
                match r.body["next_cursor"].as_str() {
                    Some(next) => cursor = format!("&cursor={next}"),
                    None => break,
                }
            }
            assert!(logged > 1000, "the demo logs follow-ups on many deals: {logged}");
            assert_eq!(t.body["total"]["activities"].as_u64().unwrap(), logged, "{who}");
            assert_eq!(rows.iter().map(|r| r["activities"].as_u64().unwrap()).sum::<u64>(), logged, "{who}: the rows add up");
        }
    }

    let ws = app.workspace("Accuracy").await;
    let a = &ws.admin;
    let acct = a.create("/api/v1/accounts", json!({"name": "Accuracy Co"})).await;
    let d = a
        .post("/api/v1/opportunities", json!({"name": "Jan deal", "account_id": acct, "amount": 10_000_000, "expected_close_date": "2026-01-15",
            "created_at": "2025-10-01T02:00:00Z", "contract_number": "HT", "contract_signed_on": "2026-01-20"}))
        .await;
    let r = a.post(&format!("/api/v1/opportunities/{}/close", d.id()), json!({"outcome": "won", "version": 1, "closed_at": "2026-01-20T02:00:00Z"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let f = a.get("/api/v1/reports/forecast-accuracy?from=2026-01-01&to=2026-01-31&days_before=30").await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.body);
    let jan = &f.body["periods"][0];
    assert_eq!(jan["period"], "2026-01");
    assert_eq!(jan["forecast"], 1_000_000, "10 % of 100,000.00 as it stood on 2 December");
    assert_eq!(jan["won"], 10_000_000);
    assert_eq!(jan["error_percent"], -90.0);
    assert_eq!(a.get("/api/v1/reports/forecast-accuracy?days_before=-1").await.error_fields(), vec!["days_before"]);
}

#[tokio::test]
async fn the_funnel_marks_sales_holes_against_next_months_target_at_historical_win_rates() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Holes").await;
    let a = &ws.admin;
    let acct = a.create("/api/v1/accounts", json!({"name": "Holes Co"})).await;
    let lost = a.get("/api/v1/close-reasons").await.body.as_array().unwrap().iter().find(|r| r["outcome"] == "lost").unwrap()["id"].clone();
    let past = (chrono::Utc::now() - chrono::Duration::days(60)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let closed = (chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for won in [true, true, false, false] {
        let d = a
            .post("/api/v1/opportunities", json!({"name": "old", "account_id": acct, "amount": 10_000_000, "created_at": past, "contract_number": "HT", "contract_signed_on": "2026-01-01"}))
            .await;
        let body = if won { json!({"outcome": "won", "version": 1, "closed_at": closed}) } else { json!({"outcome": "lost", "version": 1, "reason_id": lost, "closed_at": closed}) };
        assert_eq!(a.post(&format!("/api/v1/opportunities/{}/close", d.id()), body).await.status, StatusCode::OK);
    }
    a.create("/api/v1/opportunities", json!({"name": "open", "account_id": acct, "amount": 100_000_000})).await;
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let next = kairos_domain::analytics::Period::parse(&kairos_domain::analytics::month_key(today)).unwrap().to;
    let me = a.get("/api/v1/me").await.body["id"].as_str().unwrap().to_string();
    let t = a.post("/api/v1/targets", json!({"subject_kind": "user", "subject_id": me, "period": kairos_domain::analytics::month_key(next), "amount": 80_000_000})).await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.body);
    let f = a.get(&format!("/api/v1/reports/funnel?owner_id={me}")).await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.body);
    assert_eq!(f.body["next_target"], 80_000_000);
    let first = &f.body["sales_holes"][0];
    assert_eq!(first["name"], "初步接洽");
    assert_eq!(first["historical_win_rate"], 0.4, "2 of the 5 deals that entered it were won");
    assert_eq!(first["expected_revenue"], 40_000_000);
    assert_eq!(first["needed_amount"], 200_000_000);
}

/// The history reports read only the deals a window can involve (open now, or closed inside
/// or after it); checked against a naive replay of every deal's history over one window.
#[tokio::test]
async fn windowed_history_reports_match_a_naive_replay_of_every_deal() {
    use chrono::{DateTime, Duration, TimeZone, Utc};
    let app = TestApp::spawn().await;
    app.app.build_demo(DemoSpec { scale: 1, seed: 8, revisions: 3 }).await.expect("demo");
    // The first event of the day a window below starts on (read back from today's pipeline)
    // and of the day the other ends on (summed from the history's start), moved to that day's
    // very first instant: the pipeline as it stood then includes it, though the rollup, by
    // day, cannot tell it from the day's later events.
    let tz = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let midnight = |d: chrono::NaiveDate| tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
    let first_event: DateTime<Utc> = {
        let mut conn = app.app.store.read().await.expect("read");
        let (at,): (DateTime<Utc>,) = conn.conn().fetch_one(&kairos_store::sql("SELECT MIN(at) FROM opportunity_history")).await.expect("first event");
        at
    };
    let today = Utc::now().with_timezone(&tz).date_naive();
    for day in [today - Duration::days(150), first_event.with_timezone(&tz).date_naive() + Duration::days(141)] {
        let mut tx = app.app.store.begin().await.expect("tx");
        let day_order = kairos_store::sql("SELECT history_id, at FROM opportunity_history WHERE at >= $1 AND at < $2 ORDER BY at").bind(midnight(day)).bind(midnight(day + Duration::days(1)));
        let events: Vec<(String, DateTime<Utc>)> = tx.conn().fetch_all(&day_order).await.expect("the day's events");
        let (id, at) = events.first().cloned().unwrap_or_else(|| panic!("the demo has events on {day}"));
        assert!(at > midnight(day));
        tx.conn().execute(&kairos_store::sql("UPDATE opportunity_history SET at = $1 WHERE history_id = $2").bind(midnight(day)).bind(id)).await.expect("moved");
        tx.commit().await.expect("commit");
    }
    // The deals' changes per period were written with the events' old times: built again.
    let mut tx = app.app.store.begin().await.expect("tx");
    tx.conn().execute_script("DELETE FROM deal_period_change_built").await.expect("unbuilt");
    tx.commit().await.expect("commit");
    app.app.store.migrate().await.expect("built again");
    // A manager's reports join the history to the deals in scope; the director's read the
    // history alone.
    for who in ["manager.sh1", "director"] {
        let c = app.login(&format!("{who}@demo.kairos"), DEMO_PASSWORD).await;
        check_windowed_history_reports(&c, who).await;
    }
}

/// A deal as the naive replay sees it at an instant.
struct NaiveState {
    status: String,
    stage: String,
    amount: i64,
    currency: String,
    probability: i64,
    close: Option<chrono::NaiveDate>,
}

/// The demo's rate: 1 USD = 7.15 CNY.
fn naive_base(currency: &str, amount: i128) -> i128 {
    if currency == "USD" { amount * 7_150_000 / 1_000_000 } else { amount }
}

/// Σ amount and Σ amount × probability per key and currency, each converted once, summed:
/// the sums a report shows for the deals in `states`.
fn naive_totals<'a>(states: impl Iterator<Item = &'a NaiveState>) -> (u64, i64, i64) {
    let mut sums: BTreeMap<String, (i128, i128)> = BTreeMap::new();
    let mut n = 0;
    for s in states {
        n += 1;
        let e = sums.entry(s.currency.clone()).or_default();
        e.0 += s.amount as i128;
        e.1 += s.amount as i128 * s.probability as i128;
    }
    let amount = sums.iter().map(|(c, v)| naive_base(c, v.0)).sum::<i128>() as i64;
    let weighted = sums.iter().map(|(c, v)| naive_base(c, v.1) / 100).sum::<i128>() as i64;
    (n, amount, weighted)
}

async fn check_windowed_history_reports(c: &Client, who: &str) {
    use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
    let deals = all_opportunities(c).await;
    // The demo workspace keeps China time.
    let tz = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let today = Utc::now().with_timezone(&tz).date_naive();
    let start_of = |d: NaiveDate| -> DateTime<Utc> { tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc) };
    let at = |e: &Value| DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap().with_timezone(&Utc);
    let mut histories = Vec::new();
    for d in &deals {
        let h = c.get(&format!("/api/v1/opportunities/{}/history", d["id"].as_str().unwrap())).await.body;
        let mut events: Vec<Value> = h.as_array().unwrap().to_vec();
        // The list is in time order; a stable sort keeps events of one instant as written.
        events.sort_by_key(|e| at(e));
        histories.push((d.clone(), events));
    }
    // None before the deal existed. The stage and status are the last any event gave, the
    // amount, currency and probability the last event's, the expected close the last
    // change's new value, or before any change the first change's old value, or the deal's.
    let state_at = |deal: &Value, events: &[Value], included: &dyn Fn(DateTime<Utc>) -> bool| -> Option<NaiveState> {
        let past: Vec<&Value> = events.iter().filter(|e| included(at(e))).collect();
        let last = past.last()?;
        let stage = past.iter().rev().find_map(|e| e["to_stage_id"].as_str()).unwrap_or_default().to_string();
        let status = past.iter().rev().find_map(|e| e["to_status"].as_str()).unwrap_or("open").to_string();
        let is_close = |e: &&Value| e["field"] == "expected_close_date";
        let date = |v: &Value| v.as_str().and_then(|d| d.parse::<NaiveDate>().ok());
        let close = match (past.iter().rev().find(|e| is_close(e)), events.iter().find(is_close)) {
            (Some(change), _) => date(&change["new_value"]),
            (None, Some(first)) => date(&first["old_value"]),
            (None, None) => date(&deal["expected_close_date"]),
        };
        Some(NaiveState { status, stage, amount: last["amount"].as_i64().unwrap(), currency: last["currency"].as_str().unwrap().into(), probability: last["probability"].as_i64().unwrap(), close })
    };
    let states_at = |included: &dyn Fn(DateTime<Utc>) -> bool| -> Vec<NaiveState> { histories.iter().filter_map(|(d, e)| state_at(d, e, included)).collect() };
    let open_at = |t: DateTime<Utc>| -> Vec<NaiveState> { states_at(&|x| x <= t).into_iter().filter(|s| s.status == "open").collect() };
    // The last five months, which the reports work out backwards from today's pipeline; five
    // months from just before the history begins, which they sum forwards from it; and from
    // then to today, which holds every event (movement reads the deals as they are now).
    let first_event = histories.iter().flat_map(|(_, e)| e.iter().map(at)).min().unwrap().with_timezone(&tz).date_naive();
    let windows = [
        (today - Duration::days(150), today - Duration::days(1), true),
        (first_event - Duration::days(10), first_event + Duration::days(140), false),
        (first_event - Duration::days(10), today, false),
    ];
    // Calendar periods, which movement reads per deal and month, quarter or year for the whole
    // workspace: one period (the last whole month and quarter, last year, this year to now,
    // this month to now) is categorised in SQL; a run of months (the three before this one)
    // is folded per deal. The longer ones must hold some of each category.
    use chrono::Datelike;
    let ymd = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).unwrap();
    let month_start = |d: NaiveDate| ymd(d.year(), d.month());
    let this_month = month_start(today);
    let next_month = this_month + chrono::Months::new(1);
    let this_quarter = ymd(today.year(), (today.month() - 1) / 3 * 3 + 1);
    let this_year = ymd(today.year(), 1);
    let day_before = |d: NaiveDate| d - Duration::days(1);
    let periods = [
        (this_month - chrono::Months::new(3), day_before(this_month), true),
        (this_quarter - chrono::Months::new(3), day_before(this_quarter), true),
        (this_month - chrono::Months::new(1), day_before(this_month), false),
        (this_year - chrono::Months::new(12), day_before(this_year), first_event < this_year - chrono::Months::new(12)),
        (this_year, day_before(this_year + chrono::Months::new(12)), this_year < this_quarter),
        (this_month, day_before(next_month), false),
    ];
    let windows = windows.into_iter().map(|(f, t, r)| (f, t, r, false, r)).chain(periods.into_iter().map(|(f, t, full)| (f, t, false, true, full)));
    for (from, to, recent, movement_only, holds_each) in windows {
        let who = format!("{who} {from}…{to}");
        let who = who.as_str();
        let (a, b) = (start_of(from), start_of(to + Duration::days(1)));
        let closed_before = histories.iter().filter(|(d, _)| d["status"] != "open" && d["closed_at"].as_str().is_some_and(|c| DateTime::parse_from_rfc3339(c).unwrap() < a)).count();
        assert!(closed_before > 0 || !recent, "the window must leave deals closed before it out");

        let window = format!("from={from}&to={to}");
        let m = c.get(&format!("/api/v1/reports/movement?{window}")).await;
        assert_eq!(m.status, StatusCode::OK, "{}", m.body);
        for (side, t) in [("start", a), ("end", b)] {
            let (n, amount, weighted) = naive_totals(open_at(t).iter());
            assert_eq!((m.body[side]["count"].as_u64().unwrap(), m.body[side]["amount"].as_i64().unwrap(), m.body[side]["weighted"].as_i64().unwrap()), (n, amount, weighted), "{who}: movement {side}");
        }
        // Every category from each deal's state at both ends: its count, its amount (each
        // currency's sum converted once) and its deals.
        let positions: BTreeMap<String, i64> = c.get("/api/v1/processes").await.body.as_array().unwrap().iter().flat_map(|p| p["stages"].as_array().unwrap().iter().map(|s| (s["id"].as_str().unwrap().to_string(), s["position"].as_i64().unwrap()))).collect();
        let mut naive: BTreeMap<&str, (BTreeMap<String, i128>, Vec<String>)> = BTreeMap::new();
        for (d, e) in &histories {
            let (sa, sb) = (state_at(d, e, &|x| x <= a), state_at(d, e, &|x| x <= b));
            let Some(sb) = sb else { continue };
            let mut fell = |name: &'static str, amount: i64| {
                let cat = naive.entry(name).or_default();
                *cat.0.entry(sb.currency.clone()).or_default() += amount as i128;
                cat.1.push(d["id"].as_str().unwrap().to_string());
            };
            match sa {
                None if sb.status == "open" => fell("new", sb.amount),
                None => fell(if sb.status == "won" { "won" } else { "lost" }, sb.amount),
                Some(sa) if sa.status == "open" && sb.status != "open" => fell(if sb.status == "won" { "won" } else { "lost" }, sb.amount),
                Some(sa) if sa.status == "open" && sb.status == "open" => {
                    match (sa.close, sb.close) {
                        (Some(x), Some(y)) if y > x => fell("pushed_out", sb.amount),
                        (Some(x), Some(y)) if y < x => fell("pulled_in", sb.amount),
                        _ => {}
                    }
                    if sb.amount != sa.amount {
                        fell(if sb.amount > sa.amount { "value_up" } else { "value_down" }, (sb.amount - sa.amount).abs());
                    }
                    match (positions.get(&sa.stage), positions.get(&sb.stage)) {
                        (Some(x), Some(y)) if y > x => fell("advanced", sb.amount),
                        (Some(x), Some(y)) if y < x => fell("regressed", sb.amount),
                        _ => {}
                    }
                }
                Some(_) => {}
            }
        }
        for name in ["new", "won", "lost", "pushed_out", "pulled_in", "value_up", "value_down", "advanced", "regressed"] {
            let got = m.body["categories"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap();
            let (sums, mut ids) = naive.remove(name).unwrap_or_default();
            ids.sort();
            let amount = sums.iter().map(|(c, v)| naive_base(c, *v)).sum::<i128>() as i64;
            let got_ids: Vec<String> = got["opportunity_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
            assert_eq!((got["count"].as_u64().unwrap() as usize, got["amount"].as_i64().unwrap()), (ids.len(), amount), "{who}: movement {name}");
            assert_eq!(got_ids, ids, "{who}: the deals behind movement {name}");
        }
        for name in ["new", "won", "lost", "pushed_out", "advanced"].into_iter().filter(|_| holds_each) {
            let got = m.body["categories"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap();
            assert!(got["count"].as_u64().unwrap() > 0, "{who}: the demo's window must hold some {name}");
        }
        if movement_only {
            continue;
        }

        let t = c.get(&format!("/api/v1/reports/trend?{window}&interval=month")).await;
        assert_eq!(t.status, StatusCode::OK, "{}", t.body);
        let points = t.body["points"].as_array().unwrap();
        assert!(points.len() >= 5);
        for p in points {
            let d: NaiveDate = p["date"].as_str().unwrap().parse().unwrap();
            let open = open_at(start_of(d + Duration::days(1)) - Duration::microseconds(1));
            // Stage by stage, and the total as the sum of the stages.
            let (mut count, mut amount, mut weighted) = (0, 0, 0);
            for s in p["stages"].as_array().unwrap() {
                let naive = naive_totals(open.iter().filter(|o| o.stage == s["stage_id"].as_str().unwrap()));
                let got = (s["totals"]["count"].as_u64().unwrap(), s["totals"]["amount"].as_i64().unwrap(), s["totals"]["weighted"].as_i64().unwrap());
                assert_eq!(got, naive, "{who}: {} on {d}", s["name"]);
                (count, amount, weighted) = (count + naive.0, amount + naive.1, weighted + naive.2);
            }
            assert_eq!(p["total"]["count"].as_u64().unwrap(), open.len() as u64, "{who}: open on {d}");
            assert_eq!(count, open.len() as u64, "every open deal is in a stage of the list");
            assert_eq!((p["total"]["amount"].as_i64().unwrap(), p["total"]["weighted"].as_i64().unwrap()), (amount, weighted), "{who}: total on {d}");
        }

        // Forecast accuracy: each month's forecast as it stood at the start of the day 30 days
        // before it, of the deals then expected to close in it, against what was won in it.
        let (first, last) = (month_start(from), month_start(to + Duration::days(1)) - Duration::days(1));
        let f = c.get(&format!("/api/v1/reports/forecast-accuracy?from={first}&to={last}&days_before=30")).await;
        assert_eq!(f.status, StatusCode::OK, "{}", f.body);
        let periods = f.body["periods"].as_array().unwrap();
        assert!(periods.len() >= 4, "{}", f.body);
        let mut any_forecast = false;
        for p in periods {
            let key = p["period"].as_str().unwrap();
            let m_from: NaiveDate = format!("{key}-01").parse().unwrap();
            let m_to = month_start(m_from + Duration::days(31));
            let as_of = start_of(m_from) - Duration::days(30);
            let standing = states_at(&|x| x < as_of);
            let (_, _, forecast) = naive_totals(standing.iter().filter(|s| s.status == "open" && s.close.is_some_and(|d| d >= m_from && d < m_to)));
            assert_eq!(p["forecast"].as_i64().unwrap(), forecast, "{who}: forecast for {key}");
            any_forecast |= forecast > 0;
            let (ms, me) = (start_of(m_from), start_of(m_to));
            let won: i128 = histories
                .iter()
                .filter_map(|(_, e)| e.iter().rev().find(|e| e["kind"] == "closed" && e["to_status"] == "won" && at(e) >= ms && at(e) < me))
                .map(|e| naive_base(e["currency"].as_str().unwrap(), e["amount"].as_i64().unwrap() as i128))
                .sum();
            assert_eq!(p["won"].as_i64().unwrap() as i128, won, "{who}: won in {key}");
        }
        assert!(any_forecast, "some month had a forecast");

        let positions: BTreeMap<String, i64> = c.get("/api/v1/processes").await.body.as_array().unwrap().iter().flat_map(|p| p["stages"].as_array().unwrap().iter().map(|s| (s["id"].as_str().unwrap().to_string(), s["position"].as_i64().unwrap()))).collect();
        // stage → (calendar days, working days) of each passage that ended in the window.
        let mut passages: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        // stage → (entered, advanced, won), each deal once per stage.
        let mut cohort: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        let mut cycles = 0;
        for (_, events) in &histories {
            let mut entered: BTreeMap<String, (bool, bool)> = BTreeMap::new();
            for (i, e) in events.iter().enumerate().filter(|(_, e)| at(e) >= a && at(e) < b) {
                if e["kind"] == "moved" || e["kind"] == "closed" {
                    let slot = passages.entry(e["from_stage_id"].as_str().unwrap().to_string()).or_default();
                    slot.0.push(e["days_in_stage"].as_f64().unwrap());
                    slot.1.push(e["working_days_in_stage"].as_f64().unwrap());
                }
                if e["kind"] == "created" || e["kind"] == "moved" {
                    let stage = e["to_stage_id"].as_str().unwrap().to_string();
                    let p = positions[&stage];
                    let won_close = |l: &&Value| l["kind"] == "closed" && l["to_status"] == "won";
                    let won = events[i + 1..].iter().any(|l| won_close(&l));
                    let advanced = won || events[i + 1..].iter().any(|l| (l["kind"] == "created" || l["kind"] == "moved") && l["to_stage_id"].as_str().is_some_and(|t| positions.get(t).is_some_and(|q| *q > p)));
                    let slot = entered.entry(stage).or_default();
                    *slot = (slot.0 || advanced, slot.1 || won);
                }
            }
            for (s, (advanced, won)) in entered {
                let slot = cohort.entry(s).or_default();
                *slot = (slot.0 + 1, slot.1 + advanced as u64, slot.2 + won as u64);
            }
            if events.iter().rev().find(|e| e["kind"] == "closed" && e["to_status"] == "won").is_some_and(|w| at(w) >= a && at(w) < b) {
                cycles += 1;
            }
        }
        let r = c.get(&format!("/api/v1/reports/dwell?{window}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for s in r.body["stages"].as_array().unwrap() {
            let (calendar, working) = passages.remove(s["stage_id"].as_str().unwrap()).unwrap_or_default();
            check_naive_stats(&s["calendar_days"], calendar, &format!("{who}: dwell {} calendar", s["name"]));
            check_naive_stats(&s["working_days"], working, &format!("{who}: dwell {} working", s["name"]));
        }
        assert!(passages.is_empty(), "{who}: every stage left in the window is in the report");
        let r = c.get(&format!("/api/v1/reports/conversion?{window}")).await;
        for s in r.body["stages"].as_array().unwrap() {
            let got = (s["entered"].as_u64().unwrap(), s["advanced"].as_u64().unwrap(), s["won"].as_u64().unwrap());
            assert_eq!(got, cohort.get(s["stage_id"].as_str().unwrap()).copied().unwrap_or_default(), "{who}: conversion {}", s["name"]);
        }
        assert!(cohort.values().map(|c| c.2).sum::<u64>() > 0, "some of the cohort was won");
        let r = c.get(&format!("/api/v1/reports/cycle?{window}")).await;
        assert_eq!(r.body["calendar_days"]["count"].as_u64().unwrap() as usize, cycles, "{who}: cycle");
    }
}

/// Checks a report's statistics against the values they describe, worked out here by
/// sorting: the count, the mean, the median (the mean of the two middle values for an even
/// count) and the nearest-rank p90 (the ⌈9n/10⌉-th smallest), each in hundredths.
fn check_naive_stats(got: &Value, mut values: Vec<f64>, what: &str) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    assert_eq!(got["count"].as_u64().unwrap() as usize, n, "{what}: count");
    if n == 0 {
        assert!(got["median"].is_null() && got["p90"].is_null(), "{what}: {got}");
        return;
    }
    let hundredths = |x: f64| (x * 100.0).round() / 100.0;
    let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
    let p90 = values[(9 * n).div_ceil(10) - 1];
    assert_eq!((got["median"].as_f64().unwrap(), got["p90"].as_f64().unwrap()), (hundredths(median), hundredths(p90)), "{what}: median and p90 of {n}");
    let mean = values.iter().sum::<f64>() / n as f64;
    assert!((got["mean"].as_f64().unwrap() - mean).abs() <= 0.005 + 1e-9, "{what}: mean {got} against {mean}");
}

/// The yuan text a person reads for an amount in fen, written out independently of Kairos.
fn yuan(minor: i64) -> String {
    let digits = (minor.unsigned_abs() / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let cents = minor.unsigned_abs() % 100;
    let sign = if minor < 0 { "-" } else { "" };
    if cents == 0 { format!("{sign}¥{grouped}") } else { format!("{sign}¥{grouped}.{cents:02}") }
}

/// Every `<field>_formatted` in the answer, checked against its amount; returns the dotted
/// paths of the amounts that have one, and fails on an integer amount field without one.
fn formatted_amounts(path: &str, v: &Value, found: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let here = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                if let Some(amount) = k.strip_suffix("_formatted") {
                    match (&map[amount], child) {
                        (Value::Number(n), Value::String(text)) => assert_eq!(text, &yuan(n.as_i64().unwrap()), "{here}"),
                        (Value::Null, Value::Null) => {}
                        other => panic!("{here}: {other:?}"),
                    }
                    found.push(here.trim_end_matches("_formatted").to_string());
                } else if k.contains("amount") && child.is_i64() {
                    assert!(map.contains_key(&format!("{k}_formatted")), "{here} has no formatted text");
                }
                formatted_amounts(&here, child, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| formatted_amounts(&format!("{path}[]"), i, found)),
        _ => {}
    }
}

#[tokio::test]
async fn every_report_amount_comes_with_its_formatted_text_in_json_and_csv() {
    let app = TestApp::spawn().await;
    app.app.build_demo(DemoSpec { scale: 1, seed: 5, revisions: 0 }).await.expect("demo");
    let c = app.login("director@demo.kairos", DEMO_PASSWORD).await;
    let all_time = "from=2000-01-01&to=2099-12-31";
    // Each report, and amounts that must carry a text (a count must not).
    let cases: [(&str, &str, &[&str], &[&str]); 9] = [
        ("funnel", "", &["amount", "weighted_amount", "stages[].amount", "stages[].weighted_amount"], &["count", "stages[].count"]),
        ("win-rate", all_time, &["groups[].won_amount", "groups[].lost_amount", "total.won_amount"], &["total.won", "groups[].lost"]),
        ("loss-reasons", all_time, &["lost_amount", "by_reason[].amount", "by_stage[].amount"], &["lost", "by_reason[].count"]),
        ("forecast", "", &["buckets[].pipeline.amount", "buckets[].commit.weighted", "buckets[].won", "buckets[].forecast", "total.won", "total.forecast"], &["total.pipeline.count"]),
        ("movement", "", &["start.amount", "start.weighted", "end.amount", "categories[].amount"], &["start.count", "categories[].count"]),
        ("trend", "", &["points[].total.amount", "points[].stages[].totals.weighted"], &["points[].total.count"]),
        ("team", all_time, &["high_value_threshold", "leaderboard[].won_amount", "leaderboard[].pipeline_amount", "total.won_amount"], &["total.won", "total.activities"]),
        ("forecast-accuracy", "", &["periods[].forecast", "periods[].won"], &[]),
        ("lead-sources", all_time, &["sources[].revenue", "total.revenue"], &["total.leads"]),
    ];
    for (report, query, amounts, counts) in cases {
        let r = c.get(&format!("/api/v1/reports/{report}?{query}")).await;
        assert_eq!(r.status, StatusCode::OK, "{report}: {}", r.body);
        assert_eq!(r.body.get("base_currency").or(r.body.get("currency")), Some(&json!("CNY")), "{report} names its currency");
        let mut found = Vec::new();
        formatted_amounts("", &r.body, &mut found);
        for a in amounts {
            assert!(found.iter().any(|f| f == a), "{report}: {a} has no formatted text ({found:?})");
        }
        for n in counts {
            assert!(!found.iter().any(|f| f == n), "{report}: the count {n} is not money");
        }
    }
    // The exports carry the same texts as columns right after their amounts.
    let csv = c.get(&format!("/api/v1/reports/team?{all_time}&format=csv")).await;
    let text = csv.body.as_str().unwrap().trim_start_matches('\u{feff}').to_string();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == "won_amount").unwrap();
    assert_eq!(header[at + 1], "won_amount_formatted");
    // One line per leaderboard row, each with its text (quoted when grouping put a comma in it).
    let team = c.get(&format!("/api/v1/reports/team?{all_time}")).await;
    let rows = team.body["leaderboard"].as_array().unwrap();
    assert_eq!(text.lines().count(), rows.len() + 1);
    for (row, line) in rows.iter().zip(text.lines().skip(1)) {
        let won = row["won_amount_formatted"].as_str().unwrap();
        let cell = if won.contains(',') { format!("\"{won}\"") } else { won.to_string() };
        assert!(line.starts_with(row["owner_id"].as_str().unwrap()) && line.contains(&cell), "{line} lacks {cell}");
    }
}

/// The open pipeline's changes per group, both sides netted, without the groups that net
/// to nothing: (when, key, currency) → (deals, Σ amount, Σ amount × probability).
type NetChanges = BTreeMap<(Option<String>, Option<String>, String), (i64, i128, i128)>;

fn net(groups: &[kairos_store::reports::GroupTotals]) -> NetChanges {
    let mut out = NetChanges::new();
    for g in groups {
        let e = out.entry((g.key(0).map(Into::into), g.key(1).map(Into::into), g.currency.clone())).or_default();
        *e = (e.0 + g.deals, e.1 + g.amount(), e.2 + g.amount_x_probability());
    }
    out.retain(|_, v| *v != (0, 0, 0));
    out
}

/// The rollup the whole workspace's trend and forecast accuracy read (migration 0018) sums
/// to what the history itself says, for the shapes those reports ask, with the rows each
/// event writes unfolded, folded, and folded onto rows folded before.
#[tokio::test]
async fn rolled_up_pipeline_changes_equal_the_history_folded_or_not() {
    use chrono::{Duration, NaiveDate, TimeZone, Utc};
    use kairos_domain::identity::DataScope;
    use kairos_store::pipeline_rollup;
    use kairos_store::reports::{ChangeSide, ChangedKey, ChangedWhen, PipelineChanges, ReportFilter, pipeline_changes};
    let app = TestApp::spawn().await;
    let ws = app.app.build_demo(DemoSpec { scale: 1, seed: 12, revisions: 0 }).await.expect("demo").workspace;
    let tz = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let midnight = |d: NaiveDate| tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
    let today = Utc::now().with_timezone(&tz).date_naive();
    let month = |back: i32| {
        let first = today.with_day(1).unwrap();
        (0..back).fold(first, |m, _| (m - Duration::days(1)).with_day(1).unwrap())
    };
    use chrono::Datelike;
    let shapes = [
        PipelineChanges { from: None, before: None, when: ChangedWhen::Day(8 * 60), key: ChangedKey::Stage, closing_between: None },
        PipelineChanges { from: Some(midnight(month(6))), before: None, when: ChangedWhen::Day(8 * 60), key: ChangedKey::Stage, closing_between: None },
        PipelineChanges {
            from: None,
            before: Some(midnight(month(1))),
            when: ChangedWhen::Before((1..=6).rev().map(|m| midnight(month(m)) - Duration::days(30)).collect()),
            key: ChangedKey::ExpectedCloseMonth,
            closing_between: Some((month(6), month(0))),
        },
        PipelineChanges { from: Some(midnight(today - Duration::days(40))), before: Some(midnight(today + Duration::days(1))), when: ChangedWhen::Any, key: ChangedKey::Nothing, closing_between: None },
    ];
    let compare = |label: &'static str| {
        let (app, shapes) = (&app, &shapes);
        async move {
            let mut conn = app.app.store.read().await.expect("read");
            let mut c = conn.conn();
            for (i, what) in shapes.iter().enumerate() {
                let mut history = pipeline_changes(&mut c, ws, &DataScope::All, &ReportFilter::default(), what, ChangeSide::Made).await.expect("made");
                history.extend(pipeline_changes(&mut c, ws, &DataScope::All, &ReportFilter::default(), what, ChangeSide::TakenAway).await.expect("taken"));
                let rolled_up = pipeline_rollup::changes(&mut c, ws, what).await.expect("rollup").expect("the rollup serves whole days");
                let (history, rolled_up) = (net(&history), net(&rolled_up));
                assert!(!history.is_empty(), "{label}, shape {i}: the demo has changes to compare");
                let differ: Vec<_> = history.keys().chain(rolled_up.keys()).filter(|k| history.get(*k) != rolled_up.get(*k)).map(|k| (k, history.get(k), rolled_up.get(k))).collect();
                assert!(differ.is_empty(), "{label}, shape {i}: {} groups differ (key, history, rollup), first {:?}", differ.len(), &differ[..differ.len().min(3)]);
            }
            let unfolded: i64 = c.fetch_count(&kairos_store::sql("SELECT COUNT(*) FROM pipeline_change_day WHERE source <> ''")).await.expect("count");
            unfolded
        }
    };
    assert_eq!(compare("as the demo left it").await, 0, "the demo folds what it wrote");

    // A day of work on a few deals: moves, new amounts and close dates, a win.
    let admin = app.login("admin@demo.kairos", DEMO_PASSWORD).await;
    let stages: Vec<String> = admin.get("/api/v1/processes").await.body[0]["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    let work = |round: usize| {
        let (admin, stages) = (&admin, &stages);
        async move {
            let open = admin.get("/api/v1/opportunities?status=open&limit=4").await.body["items"].as_array().unwrap().clone();
            assert_eq!(open.len(), 4);
            for (i, o) in open.iter().enumerate() {
                let id = o["id"].as_str().unwrap();
                let version = o["version"].as_i64().unwrap();
                let r = admin.patch(&format!("/api/v1/opportunities/{id}"), json!({"version": version, "amount": 1_234_567 + round as i64, "expected_close_date": (today + Duration::days(40 + i as i64)).to_string()})).await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                let r = if i == 0 {
                    admin.post(&format!("/api/v1/opportunities/{id}/close"), json!({"outcome": "won", "version": version + 1, "contract_number": "HT-1", "contract_signed_on": today.to_string()})).await
                } else {
                    let to = &stages[(i + round) % 3];
                    admin.post(&format!("/api/v1/opportunities/{id}/move"), json!({"stage_id": to, "version": version + 1, "override_reason": "rollup test"})).await
                };
                assert!(r.status == StatusCode::OK || r.status == StatusCode::CONFLICT || r.status == StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
            }
        }
    };
    work(0).await;
    assert!(compare("written today, unfolded, beside folded days").await > 0, "today's events wrote unfolded rows");
    assert!(app.app.fold_pipeline_changes().await.expect("fold") > 0);
    assert_eq!(compare("folded").await, 0);
    // Today's keys are folded already: this round's rows add to them.
    work(1).await;
    app.app.fold_pipeline_changes().await.expect("fold");
    assert_eq!(compare("folded onto earlier folds").await, 0);
    // An instant inside a day is not the rollup's to answer.
    let mut conn = app.app.store.read().await.expect("read");
    let inside = PipelineChanges { from: Some(midnight(today) + Duration::hours(3)), before: None, when: ChangedWhen::Any, key: ChangedKey::Nothing, closing_between: None };
    assert!(pipeline_rollup::changes(&mut conn.conn(), ws, &inside).await.expect("rollup").is_none());
    // Nor is the day of an expected close.
    let by_close_day = PipelineChanges { from: None, before: None, when: ChangedWhen::Any, key: ChangedKey::ExpectedClose, closing_between: None };
    assert!(pipeline_rollup::changes(&mut conn.conn(), ws, &by_close_day).await.expect("rollup").is_none());
}

/// Every activity logged on one of `deals`, through the caller's activity list, counted per
/// the deal's owner now.
async fn activities_per_owner(c: &Client, deals: &[Value]) -> BTreeMap<String, u64> {
    let owner: BTreeMap<&str, &str> = deals.iter().map(|d| (d["id"].as_str().unwrap(), d["owner_id"].as_str().unwrap())).collect();
    let (mut out, mut cursor) = (BTreeMap::new(), String::new());
    loop {
        let r = c.get(&format!("/api/v1/activities?limit=200{cursor}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for a in r.body["items"].as_array().unwrap() {
            if let Some(o) = a["opportunity_id"].as_str().and_then(|id| owner.get(id)) {
                *out.entry(o.to_string()).or_default() += 1;
            }
        }
        match r.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return out,
        }
    }
}

/// The leaderboard's activity counts, per owner, without the owners who logged none.
fn leaderboard_activities(team: &Value) -> BTreeMap<String, u64> {
    let rows = team["leaderboard"].as_array().unwrap();
    rows.iter().map(|r| (r["owner_id"].as_str().unwrap().to_string(), r["activities"].as_u64().unwrap())).filter(|(_, n)| *n > 0).collect()
}

/// The activity counts the whole workspace's leaderboard reads (migration 0019) follow each
/// deal's owner through hand-overs, and equal the counts taken from the activities themselves
/// (the filtered leaderboard's path) and from the activity list, unfolded and folded.
#[tokio::test]
async fn the_leaderboards_rolled_up_activity_counts_follow_each_deals_owner_folded_or_not() {
    use kairos_domain::identity::DataScope;
    let app = TestApp::spawn().await;
    let ws = app.app.build_demo(DemoSpec { scale: 1, seed: 8, revisions: 0 }).await.expect("demo").workspace;
    let director = app.login("director@demo.kairos", DEMO_PASSWORD).await;
    let admin = app.login("admin@demo.kairos", DEMO_PASSWORD).await;
    let process = director.get("/api/v1/processes").await.body[0]["id"].as_str().unwrap().to_string();
    let unfolded = || async {
        let mut conn = app.app.store.read().await.expect("read");
        conn.conn().fetch_count(&kairos_store::sql("SELECT COUNT(*) FROM activity_day WHERE source <> ''")).await.expect("count")
    };
    let compare = |label: &'static str| {
        let (app, director, process) = (&app, &director, &process);
        async move {
            let deals = all_opportunities(director).await;
            let expected = activities_per_owner(director, &deals).await;
            assert!(expected.len() > 5, "{label}: the demo logs activities for many owners");
            let window = "from=2000-01-01&to=2099-12-31";
            let whole = director.get(&format!("/api/v1/reports/team?{window}")).await;
            assert_eq!(whole.status, StatusCode::OK, "{}", whole.body);
            assert_eq!(leaderboard_activities(&whole.body), expected, "{label}: the whole workspace's leaderboard");
            // The demo's deals all follow its one process: the same deals, counted from the
            // activities themselves.
            let filtered = director.get(&format!("/api/v1/reports/team?{window}&process_id={process}")).await;
            assert_eq!(leaderboard_activities(&filtered.body), expected, "{label}: counted from the activities");
            let mut conn = app.app.store.read().await.expect("read");
            let (from, to) = (chrono::DateTime::parse_from_rfc3339("1999-12-31T16:00:00Z").unwrap().to_utc(), chrono::DateTime::parse_from_rfc3339("2099-12-31T16:00:00Z").unwrap().to_utc());
            let rolled_up = kairos_store::activity_rollup::by_owner(&mut conn.conn(), ws, (from, to)).await.expect("rollup").expect("whole days");
            let rolled_up: BTreeMap<String, u64> = rolled_up.into_iter().map(|(o, n)| (o, n as u64)).collect();
            assert_eq!(rolled_up, expected, "{label}: the rollup itself");
            assert!(kairos_store::activity_rollup::by_owner(&mut conn.conn(), ws, (from + chrono::Duration::hours(1), to)).await.expect("rollup").is_none(), "not whole days");
        }
    };
    assert!(kairos_store::rollup::serves(&DataScope::All, &Default::default()));
    compare("as the demo left it").await;
    assert_eq!(unfolded().await, 0, "the demo folds what it wrote");

    // Deals change hands, with activities logged before and after, some on another day.
    let open = admin.get("/api/v1/opportunities?status=open&limit=40").await.body["items"].as_array().unwrap().clone();
    let owners: Vec<String> = open.iter().map(|d| d["owner_id"].as_str().unwrap().to_string()).collect();
    let handed: Vec<&Value> = open.iter().filter(|d| owners.iter().any(|o| o != d["owner_id"].as_str().unwrap())).take(3).collect();
    assert_eq!(handed.len(), 3);
    let log = |deal: &str, at: &str| admin.post("/api/v1/activities", json!({"kind": "call", "opportunity_id": deal, "summary": "rollup test", "occurred_at": at}));
    let hand = |d: &Value, to: &str, version: i64| {
        let (path, body) = (format!("/api/v1/opportunities/{}", d["id"].as_str().unwrap()), json!({"version": version, "owner_id": to}));
        let admin = &admin;
        async move { admin.patch(&path, body).await }
    };
    for (i, d) in handed.iter().enumerate() {
        let id = d["id"].as_str().unwrap();
        assert_eq!(log(id, "2025-06-30T15:59:59Z").await.status, StatusCode::CREATED);
        let to = owners.iter().find(|o| *o != d["owner_id"].as_str().unwrap()).unwrap();
        let r = hand(d, to, d["version"].as_i64().unwrap()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(log(id, if i == 0 { "2025-06-30T16:00:00Z" } else { "2026-01-05T02:00:00Z" }).await.status, StatusCode::CREATED);
    }
    assert!(unfolded().await > 0, "the hand-overs and activities wrote unfolded rows");
    compare("handed over, unfolded").await;
    assert!(app.app.fold_activity_counts().await.expect("fold") > 0);
    assert_eq!(unfolded().await, 0);
    compare("folded").await;
    // Back to the first owner, onto rows folded before.
    let first = admin.get(&format!("/api/v1/opportunities/{}", handed[0]["id"].as_str().unwrap())).await.body;
    let r = hand(&first, handed[0]["owner_id"].as_str().unwrap(), first["version"].as_i64().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    compare("handed back, unfolded").await;
    app.app.fold_activity_counts().await.expect("fold");
    compare("handed back, folded").await;
    // Hand-overs racing activities on the same deal: each count ends with the final owner.
    let id = handed[1]["id"].as_str().unwrap();
    for round in 0..6 {
        let now = admin.get(&format!("/api/v1/opportunities/{id}")).await.body;
        let to = if round % 2 == 0 { handed[1]["owner_id"].as_str().unwrap() } else { owners.iter().find(|o| *o != handed[1]["owner_id"].as_str().unwrap()).unwrap() };
        let (h, l) = tokio::join!(hand(&now, to, now["version"].as_i64().unwrap()), log(id, "2026-02-02T02:00:00Z"));
        assert_eq!((h.status, l.status), (StatusCode::OK, StatusCode::CREATED), "{} {}", h.body, l.body);
    }
    compare("hand-overs racing activities").await;
}

/// Each stage's (entered, advanced, won) among the deals that entered it inside `window`
/// (ever, when none), each deal once per stage: a plain replay of every deal's events with
/// the stages' positions as given.
fn naive_cohorts(histories: &[Vec<Value>], positions: &BTreeMap<String, i64>, window: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>) -> BTreeMap<String, (u64, u64, u64)> {
    let at = |e: &Value| chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap().with_timezone(&chrono::Utc);
    let mut cohort: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for events in histories {
        let mut entered: BTreeMap<String, (bool, bool)> = BTreeMap::new();
        for (i, e) in events.iter().enumerate().filter(|(_, e)| window.is_none_or(|(a, b)| at(e) >= a && at(e) < b)) {
            if e["kind"] != "created" && e["kind"] != "moved" {
                continue;
            }
            let stage = e["to_stage_id"].as_str().unwrap().to_string();
            let p = positions[&stage];
            let later = &events[i + 1..];
            let won = later.iter().any(|l| l["kind"] == "closed" && l["to_status"] == "won");
            let advanced = won || later.iter().any(|l| (l["kind"] == "created" || l["kind"] == "moved") && l["to_stage_id"].as_str().is_some_and(|t| positions[t] > p));
            let slot = entered.entry(stage).or_default();
            *slot = (slot.0 || advanced, slot.1 || won);
        }
        for (s, (advanced, won)) in entered {
            let slot = cohort.entry(s).or_default();
            *slot = (slot.0 + 1, slot.1 + advanced as u64, slot.2 + won as u64);
        }
    }
    cohort
}

/// The director's conversion is read from the rolled-up entries (`stage_entry_rollup`).
/// Whether a deal went further depends on the order of its process's stages, so reordering
/// them must recount what came before: checked against a replay with the new order, before
/// and after the job folds the rows.
#[tokio::test]
async fn conversion_follows_the_stages_when_a_process_is_reordered() {
    use chrono::{Duration, TimeZone, Utc};
    let app = TestApp::spawn().await;
    app.app.build_demo(DemoSpec { scale: 1, seed: 7, revisions: 0 }).await.expect("demo");
    let director = app.login("director@demo.kairos", DEMO_PASSWORD).await;
    let admin = app.login("admin@demo.kairos", DEMO_PASSWORD).await;
    crate::fixture::back_and_forth(&admin, 5).await;
    let mut histories = Vec::new();
    for d in all_opportunities(&director).await {
        let h = director.get(&format!("/api/v1/opportunities/{}/history", d["id"].as_str().unwrap())).await.body;
        histories.push(h.as_array().unwrap().to_vec());
    }
    let tz = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let today = Utc::now().with_timezone(&tz).date_naive();
    let (from, to) = (today - Duration::days(200), today - Duration::days(10));
    let start_of = |d: chrono::NaiveDate| tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
    let window = (start_of(from), start_of(to + Duration::days(1)));
    let positions = || async {
        let processes = director.get("/api/v1/processes").await.body;
        processes.as_array().unwrap().iter().flat_map(|p| p["stages"].as_array().unwrap().iter().map(|s| (s["id"].as_str().unwrap().to_string(), s["position"].as_i64().unwrap()))).collect::<BTreeMap<String, i64>>()
    };
    let check = |naive: BTreeMap<String, (u64, u64, u64)>, query: String, what: &'static str| {
        let director = &director;
        async move {
            let r = director.get(&format!("/api/v1/reports/conversion{query}")).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            for s in r.body["stages"].as_array().unwrap() {
                let got = (s["entered"].as_u64().unwrap(), s["advanced"].as_u64().unwrap(), s["won"].as_u64().unwrap());
                assert_eq!(got, naive.get(s["stage_id"].as_str().unwrap()).copied().unwrap_or_default(), "{what} {query}: {}", s["name"]);
            }
        }
    };
    let windowed = format!("?from={from}&to={to}");
    // Today's window holds the deals sent back and forth: one entry counts, not two.
    let (today_from, today_to) = (today - Duration::days(30), today);
    let today_window = (start_of(today_from), start_of(today_to + Duration::days(1)));
    let recent = format!("?from={today_from}&to={today_to}");
    let before = positions().await;
    for (query, w) in [(String::new(), None), (windowed.clone(), Some(window)), (recent.clone(), Some(today_window))] {
        check(naive_cohorts(&histories, &before, w), query, "as created").await;
    }
    // Swap the default process's second and third stages.
    let processes = admin.get("/api/v1/processes").await.body;
    let process = processes.as_array().unwrap().iter().find(|p| p["is_default"] == true).unwrap().clone();
    let mut stages: Vec<Value> = process["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!({"id": s["id"], "name": s["name"], "probability": s["probability"], "forecast_category": s["forecast_category"], "retired": s["retired"]}))
        .collect();
    stages.swap(1, 2);
    let r = admin.patch(&format!("/api/v1/processes/{}", process["id"].as_str().unwrap()), json!({"version": process["version"], "stages": stages})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let after = positions().await;
    assert_ne!(naive_cohorts(&histories, &before, Some(window)), naive_cohorts(&histories, &after, Some(window)), "the new order changes who advanced");
    for (query, w) in [(String::new(), None), (windowed.clone(), Some(window)), (recent, Some(today_window))] {
        check(naive_cohorts(&histories, &after, w), query, "reordered").await;
    }
    app.app.fold_stage_entries().await.expect("fold");
    check(naive_cohorts(&histories, &after, Some(window)), windowed, "reordered and folded").await;
}

/// The whole workspace's win rate, loss reasons and leaderboard over whole days read the
/// closed deal sums (migration 0023); the same deals named by a filter (the demo's one
/// process) are grouped from the deals themselves. The two must answer alike, unfolded and
/// folded, after closes and reopens, for every window: all time, a year and a month, and
/// periods cut mid-month at both ends, which read day rows as well as month rows.
#[tokio::test]
async fn the_closed_deal_sums_answer_as_the_deals_do_folded_or_not() {
    let app = TestApp::spawn().await;
    app.app.build_demo(DemoSpec { scale: 1, seed: 9, revisions: 0 }).await.expect("demo");
    let director = app.login("director@demo.kairos", DEMO_PASSWORD).await;
    let admin = app.login("admin@demo.kairos", DEMO_PASSWORD).await;
    let processes = director.get("/api/v1/processes").await.body;
    assert_eq!(processes.as_array().unwrap().len(), 1, "every demo deal follows the one process");
    let process = processes[0]["id"].as_str().unwrap().to_string();
    app.app.fold_closed_deal_sums().await.expect("fold");
    crate::fixture::close_and_reopen(&admin).await;
    let unfolded = || async {
        let mut conn = app.app.store.read().await.expect("read");
        conn.conn().fetch_count(&kairos_store::sql("SELECT COUNT(*) FROM closed_deal_sum WHERE source <> ''")).await.expect("count")
    };
    // Today's local day (UTC+8, the demo's time zone), where the test's closes fall.
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let (year_ago, month_ago) = (today - chrono::Duration::days(365), today - chrono::Duration::days(40));
    let windows = [
        "from=2000-01-01&to=2099-12-31".to_string(),
        format!("period={}", today.format("%Y")),
        format!("period={}", today.format("%Y-%m")),
        format!("from={}&to={}", day(year_ago), day(today)),
        format!("from={}&to={}", day(month_ago), day(today - chrono::Duration::days(1))),
        // Yesterday and today: the test's closes, whichever side of midnight they fell on.
        format!("from={}&to={}", day(today - chrono::Duration::days(1)), day(today)),
    ];
    let mut reports: Vec<String> = Vec::new();
    for w in &windows {
        for g in ["owner", "org_unit", "product_category", "source", "process", "month"] {
            reports.push(format!("/api/v1/reports/win-rate?{w}&group_by={g}"));
        }
        reports.push(format!("/api/v1/reports/loss-reasons?{w}"));
        reports.push(format!("/api/v1/reports/team?{w}"));
    }
    let compare = |label: &'static str| {
        let (director, process, reports) = (&director, &process, &reports);
        async move {
            for path in reports {
                let mut whole = director.get(path).await;
                assert_eq!(whole.status, StatusCode::OK, "{path}: {}", whole.body);
                let mut filtered = director.get(&format!("{path}&process_id={process}")).await;
                whole.body.as_object_mut().unwrap().remove("filters");
                filtered.body.as_object_mut().unwrap().remove("filters");
                assert_eq!(whole.body, filtered.body, "{label}: {path}");
            }
        }
    };
    assert!(unfolded().await > 0, "the closes and reopens wrote rows to fold");
    compare("unfolded").await;
    // The last two days' rows hold the test's closes (a competitor the demo never names).
    let l = director.get(&format!("/api/v1/reports/loss-reasons?{}", windows[5])).await.body;
    assert!(l["by_competitor"].as_array().unwrap().iter().any(|c| c["competitor"] == "新对手" && c["lost_to"] == 2), "{l}");
    app.app.fold_closed_deal_sums().await.expect("fold");
    assert_eq!(unfolded().await, 0);
    compare("folded").await;
    // The whole workspace's answers are the sums': one more deal in a folded row shows in
    // them, and not in the deals'.
    let year = format!("/api/v1/reports/win-rate?{}&group_by=owner", windows[1]);
    let before = director.get(&year).await.body;
    let mut tx = app.app.store.begin().await.expect("begin");
    let changed = tx
        .conn()
        .execute(&kairos_store::sql(
            "UPDATE closed_deal_sum SET deals = deals + 1 WHERE facet = 'owner' AND span = 'month' AND status = 'won' \
             AND k1 = (SELECT MIN(k1) FROM closed_deal_sum WHERE facet = 'owner' AND span = 'month' AND status = 'won' AND period = $1) AND period = $1",
        ).bind(today.format("%Y-%m").to_string()))
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    assert_eq!(changed, 1, "a month row of this month's wins");
    let after = director.get(&year).await.body;
    assert_eq!(after["total"]["won"].as_u64().unwrap(), before["total"]["won"].as_u64().unwrap() + 1, "read from the sums");
    let deals = director.get(&format!("{year}&process_id={process}")).await.body;
    assert_eq!(deals["total"]["won"], before["total"]["won"], "read from the deals");
}

/// A report waits for one connection only, holding none; any other it reads on is one idle
/// at that moment. Reports that waited for a second while holding a first would, as many of
/// them at once as the pool has connections, wait on each other until the pool timed out.
#[tokio::test]
async fn many_reports_at_once_on_a_small_pool_never_wait_on_each_other() {
    let app = TestApp::spawn_with(|s| s.max_connections = 2).await;
    let ws = app.workspace("Small Pool").await;
    let paths = ["team", "loss-reasons", "win-rate", "conversion", "dwell", "cycle", "funnel", "forecast", "movement", "trend", "forecast-accuracy"];
    let mut requests = tokio::task::JoinSet::new();
    for p in (0..3).flat_map(|_| paths) {
        let c = ws.admin.clone();
        requests.spawn(async move { (p, c.get(&format!("/api/v1/reports/{p}?from=2025-01-01&to=2026-12-31")).await) });
    }
    let answers = tokio::time::timeout(std::time::Duration::from_secs(20), requests.join_all()).await.expect("every report answers, none waits on another");
    assert_eq!(answers.len(), 3 * paths.len());
    for (p, r) in answers {
        assert_eq!(r.status, StatusCode::OK, "{p}: {}", r.body);
    }
}

/// On PostgreSQL a statement marked `planned_with_its_values` (conversion's rollup read) is
/// never kept on its connection, so PostgreSQL plans it with its values on every run and
/// never settles on a generic plan, where an unmarked statement is kept after its first run.
#[tokio::test]
async fn on_postgresql_a_statement_planned_with_its_values_is_never_kept_with_a_generic_plan() {
    let app = TestApp::spawn().await;
    let store = &app.app.store;
    if store.backend() != kairos_store::Backend::Postgres {
        return;
    }
    let text = "SELECT CAST(count(*) AS BIGINT) FROM stage_entry_day WHERE workspace_id = $1 AND day >= $2";
    let kept = kairos_store::sql("SELECT CAST(count(*) AS BIGINT) FROM pg_prepared_statements WHERE statement = $1").bind(text);
    let mut conn = store.report_read().await.unwrap();
    for _ in 0..7 {
        let q = kairos_store::sql(text).bind("w").bind("2026-01-01").planned_with_its_values();
        assert_eq!(conn.conn().fetch_count(&q).await.unwrap(), 0);
    }
    assert_eq!(conn.conn().fetch_count(&kept).await.unwrap(), 0, "planned afresh each run, never kept");
    for _ in 0..7 {
        assert_eq!(conn.conn().fetch_count(&kairos_store::sql(text).bind("w").bind("2026-01-01")).await.unwrap(), 0);
    }
    assert_eq!(conn.conn().fetch_count(&kept).await.unwrap(), 1, "an unmarked statement is kept");
}

/// On PostgreSQL the movement of a calendar period (its sums and its pages of ids) is planned
/// for the period on every run: after a connection has served a few months, a year must not
/// be read with the generic plan PostgreSQL made without the period.
#[tokio::test]
async fn on_postgresql_the_movement_of_a_period_is_never_kept_with_a_generic_plan() {
    use chrono::{Datelike, Duration, TimeZone, Utc};
    use kairos_store::deal_period_changes::{movement, periods_between};
    let app = TestApp::spawn().await;
    let store = &app.app.store;
    if store.backend() != kairos_store::Backend::Postgres {
        return;
    }
    let ws = app.app.build_demo(DemoSpec { scale: 1, seed: 12, revisions: 0 }).await.expect("demo").workspace;
    let tz = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let midnight = |d: chrono::NaiveDate| tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
    let this_month = Utc::now().with_timezone(&tz).date_naive().with_day(1).unwrap();
    let last_month = (this_month - Duration::days(1)).with_day(1).unwrap();
    let mut conn = store.report_read().await.unwrap();
    let mut c = conn.conn();
    let periods = periods_between(&mut c, ws, (midnight(last_month), midnight(this_month))).await.unwrap().expect("a whole month");
    let [period] = periods.as_slice() else { panic!("one period: {periods:?}") };
    let mut ids = 0;
    for _ in 0..7 {
        // A limit of one id a category: every category with deals asks for a page of ids.
        let moved = movement(&mut c, ws, period, &[], 1).await.unwrap();
        assert!(!moved.groups.is_empty(), "last month of the demo moved");
        ids = moved.ids.iter().map(Vec::len).sum::<usize>();
    }
    assert!(ids > 0, "the pages of ids were read");
    // The statements kept on this connection that read the rows (this one aside).
    let kept = kairos_store::sql("SELECT statement FROM pg_prepared_statements WHERE statement LIKE $1 AND statement NOT LIKE $2")
        .bind("%FROM \"deal_period_change\"%")
        .bind("%pg_prepared_statements%");
    let kept: Vec<(String,)> = c.fetch_all(&kept).await.unwrap();
    assert!(kept.is_empty(), "planned afresh each run, never kept: {kept:?}");
}

/// A period that runs to now is read from the deals' period rows only while the history holds
/// no event after now: an event with a later time (imported, or written by an instance whose
/// clock runs ahead) would be in the rows, so the period is replayed from the history instead.
#[tokio::test]
async fn a_period_to_now_is_read_from_the_period_rows_only_while_no_event_comes_after_now() {
    use chrono::{Datelike, Duration, TimeZone, Utc};
    use kairos_store::deal_period_changes::periods_between;
    let app = TestApp::spawn().await;
    let ws = app.app.build_demo(DemoSpec { scale: 1, seed: 12, revisions: 0 }).await.expect("demo").workspace;
    let tz = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let now = Utc::now();
    let this_month = now.with_timezone(&tz).date_naive().with_day(1).unwrap();
    let month_start = tz.from_local_datetime(&this_month.and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
    let to_now = |app: &TestApp| {
        let store = app.app.store.clone();
        async move {
            let mut conn = store.report_read().await.unwrap();
            periods_between(&mut conn.conn(), ws, (month_start, now)).await.unwrap()
        }
    };
    assert!(to_now(&app).await.is_some(), "this month to now is read from the rows");
    let mut tx = app.app.store.begin().await.expect("tx");
    let latest = kairos_store::sql("SELECT history_id, at FROM opportunity_history WHERE workspace_id = $1 ORDER BY at DESC LIMIT 1").bind(ws.to_string());
    let (id, _): (String, chrono::DateTime<Utc>) = tx.conn().fetch_one(&latest).await.expect("the demo's last event");
    tx.conn().execute(&kairos_store::sql("UPDATE opportunity_history SET at = $1 WHERE history_id = $2").bind(now + Duration::days(3)).bind(id)).await.expect("moved");
    tx.commit().await.expect("commit");
    assert!(to_now(&app).await.is_none(), "with an event after now, this month to now is replayed from the history");
    // A period that ends before that event is still read from the rows.
    let last_month = (this_month - Duration::days(1)).with_day(1).unwrap();
    let last_start = tz.from_local_datetime(&last_month.and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
    let mut conn = app.app.store.report_read().await.unwrap();
    assert!(periods_between(&mut conn.conn(), ws, (last_start, month_start)).await.unwrap().is_some(), "last month is whole");
}
