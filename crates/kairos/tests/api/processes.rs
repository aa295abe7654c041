//! Sales-process administration: stages with criteria, retire instead of delete, history
//! keeps old names.

use kairos_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::json;

use crate::fixture::org;

#[tokio::test]
async fn admins_design_processes_and_a_stage_with_deals_can_only_be_retired() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let body = json!({
        "name": "政府项目流程",
        "applicability": {"customer_types": ["government"]},
        "stages": [
            {"name": "立项", "probability": 10, "forecast_category": "pipeline"},
            {"name": "招标", "probability": 50, "forecast_category": "best_case",
             "required_fields": ["amount"], "checklist": [{"key": "tender", "label": "购买标书"}],
             "approval": {"kind": "role", "role": "director"}},
            {"name": "中标", "probability": 90, "forecast_category": "commit"}
        ]
    });
    assert_eq!(o.rep_sh.post("/api/v1/processes", body.clone()).await.status, StatusCode::FORBIDDEN);
    let r = o.admin.post("/api/v1/processes", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let pid = r.id();
    let stages = r.body["stages"].as_array().unwrap().clone();
    let bad = o.admin.post("/api/v1/processes", json!({"name": "x", "stages": [{"name": "a", "probability": 150, "forecast_category": "pipeline", "health_refuse_below": 90, "health_pass_above": 10}]})).await;
    let mut f = bad.error_fields();
    f.sort();
    assert_eq!(f, vec!["stages[0].health_pass_above", "stages[0].probability"]);

    // A government account gets the government process; an enterprise one the default.
    let gov = o.rep_sh.create("/api/v1/accounts", json!({"name": "上海市财政局", "account_type": "government"})).await;
    let d = o.rep_sh.post("/api/v1/opportunities", json!({"name": "财政云", "account_id": gov})).await;
    assert_eq!(d.body["process_id"], pid.as_str());
    let ent = o.rep_sh.create("/api/v1/accounts", json!({"name": "Enterprise Ltd"})).await;
    let e = o.rep_sh.post("/api/v1/opportunities", json!({"name": "ERP", "account_id": ent})).await;
    assert_ne!(e.body["process_id"], pid.as_str());
    let wrong = o.rep_sh.post("/api/v1/opportunities", json!({"name": "ERP", "account_id": ent, "process_id": pid})).await;
    assert_eq!(wrong.error_fields(), vec!["process_id"]);

    // The first stage holds a deal: leaving it out is refused; retiring it is fine.
    let keep: Vec<serde_json::Value> = stages[1..].iter().map(|s| json!({"id": s["id"], "name": s["name"], "probability": s["probability"], "forecast_category": s["forecast_category"]})).collect();
    let r = o.admin.patch(&format!("/api/v1/processes/{pid}"), json!({"version": 1, "stages": keep})).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "stage_in_use"), "{}", r.body);
    let mut all: Vec<serde_json::Value> = stages.iter().map(|s| json!({"id": s["id"], "name": s["name"], "probability": s["probability"], "forecast_category": s["forecast_category"]})).collect();
    all[0]["retired"] = json!(true);
    all[1]["name"] = json!("公开招标");
    let r = o.admin.patch(&format!("/api/v1/processes/{pid}"), json!({"version": 1, "stages": all})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["stages"][0]["retired"], true);
    // New deals start in the first active stage; history keeps the name that held then.
    let d2 = o.rep_sh.post("/api/v1/opportunities", json!({"name": "财政云二期", "account_id": gov})).await;
    assert_eq!(d2.body["stage_id"], stages[1]["id"]);
    let h = o.rep_sh.get(&format!("/api/v1/opportunities/{}/history", d.id())).await;
    assert_eq!(h.body[0]["to_stage_name"], "立项");
}

#[tokio::test]
async fn the_calendar_holds_holidays_and_make_up_days() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let body = json!({"weekend": [6, 7], "days": [
        {"day": "2026-10-01", "kind": "holiday", "name": "国庆节"},
        {"day": "2026-10-10", "kind": "workday", "name": "国庆调休"}
    ]});
    assert_eq!(o.rep_sh.send(reqwest::Method::PUT, "/api/v1/calendar", Some(body.clone()), &[]).await.status, StatusCode::FORBIDDEN);
    let r = o.admin.send(reqwest::Method::PUT, "/api/v1/calendar", Some(body), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let got = o.rep_sh.get("/api/v1/calendar").await;
    assert_eq!(got.body["days"].as_array().unwrap().len(), 2);
    let bad = o.admin.send(reqwest::Method::PUT, "/api/v1/calendar", Some(json!({"weekend": [0, 8], "days": [{"day": "2026-10-01", "kind": "party"}]})), &[]).await;
    let mut f = bad.error_fields();
    f.sort();
    assert_eq!(f, vec!["days[0].kind", "weekend"]);
}

#[tokio::test]
async fn workspace_settings_drive_numbering_and_close_reasons_are_configurable() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let s = o.admin.get("/api/v1/workspace").await;
    assert_eq!(s.body["number_pattern"], "{yyyy}-{region}-{seq:3}");
    let bad = o.admin.patch("/api/v1/workspace", json!({"version": 1, "number_pattern": "{yyyy}-{foo}", "priority_health_above": 120})).await;
    let mut f = bad.error_fields();
    f.sort();
    assert_eq!(f, vec!["number_pattern", "priority_health_above"]);
    assert_eq!(o.rep_sh.patch("/api/v1/workspace", json!({"version": 1, "name": "x"})).await.status, StatusCode::FORBIDDEN);
    let r = o.admin.patch("/api/v1/workspace", json!({"version": 1, "number_pattern": "SO-{region}-{seq:5}"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "Pattern Co"})).await;
    let d = o.rep_sh.post("/api/v1/opportunities", json!({"name": "x", "account_id": acct})).await;
    assert_eq!(d.body["number"], "SO-SH1-00001");

    let r = o.admin.post("/api/v1/close-reasons", json!({"outcome": "lost", "label": "交付周期太长"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let reason = r.id();
    assert_eq!(o.admin.post("/api/v1/close-reasons", json!({"outcome": "won", "label": "x"})).await.error_fields(), vec!["outcome"]);
    let r = o.admin.patch(&format!("/api/v1/close-reasons/{reason}"), json!({"active": false})).await;
    assert_eq!(r.body["active"], false);
    let close = o.rep_sh.post(&format!("/api/v1/opportunities/{}/close", d.id()), json!({"outcome": "lost", "version": 1, "reason_id": reason})).await;
    assert_eq!(close.error_fields(), vec!["reason_id"], "a retired reason cannot be chosen");
}
