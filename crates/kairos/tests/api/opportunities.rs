//! Opportunities through the stage engine: numbering, gates, approvals, close, reopen,
//! backfill, history, scopes.

use kairos_testkit::{Client, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixture::{Org, org};

/// The default process's stage ids, in order.
async fn stages(c: &Client) -> Vec<String> {
    let p = c.get("/api/v1/processes").await;
    p.body[0]["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

async fn deal(c: &Client, account: &str, name: &str) -> Value {
    let r = c.post("/api/v1/opportunities", json!({"name": name, "account_id": account})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

fn year() -> i32 {
    use chrono::Datelike;
    (chrono::Utc::now() + chrono::Duration::hours(8)).year()
}

/// A deal that meets every criterion of 需求调研 and has a passing health (> 80).
async fn healthy_deal(o: &Org, c: &Client) -> (String, Vec<String>) {
    let acct = c.create("/api/v1/accounts", json!({"name": format!("客户 {}", uuid::Uuid::now_v7().simple())})).await;
    let dm = c.create("/api/v1/contacts", json!({"account_id": acct, "name": "决策人", "decision_role": "decision_maker"})).await;
    let inf = c.create("/api/v1/contacts", json!({"account_id": acct, "name": "影响者", "decision_role": "influencer"})).await;
    let d = deal(c, &acct, "Healthy").await;
    let id = d["id"].as_str().unwrap().to_string();
    let r = c
        .patch(&format!("/api/v1/opportunities/{id}"), json!({
            "version": 1, "amount": 80_000_000, "expected_close_date": "2027-03-31", "need_items": [9,9,9,9,9,9,9,9,9,9],
            "budget_approved": true, "in_annual_plan": true,
            "contacts": [{"contact_id": dm, "reached": true}, {"contact_id": inf, "reached": true}]
        }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let _ = o;
    (id, stages(c).await)
}

#[tokio::test]
async fn new_workspaces_get_the_default_process_and_close_reasons() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Seed").await;
    let p = ws.admin.get("/api/v1/processes").await;
    let list = p.body.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["is_default"], true);
    let names: Vec<&str> = list[0]["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["初步接洽", "需求调研", "方案呈现", "商务谈判", "合同签署"]);
    let probs: Vec<i64> = list[0]["stages"].as_array().unwrap().iter().map(|s| s["probability"].as_i64().unwrap()).collect();
    assert_eq!(probs, vec![10, 40, 60, 80, 90]);
    let reasons = ws.admin.get("/api/v1/close-reasons").await;
    assert!(reasons.body.as_array().unwrap().iter().any(|r| r["outcome"] == "lost" && r["label"] == "预算削减"));
    assert!(reasons.body.as_array().unwrap().iter().any(|r| r["outcome"] == "invalid"));
}

#[tokio::test]
async fn numbers_follow_the_pattern_per_year_and_region_and_survive_32_concurrent_creates() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let sh_acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "Numbering Co"})).await;
    let first = deal(&o.rep_sh, &sh_acct, "First").await;
    assert_eq!(first["number"], format!("{}-SH1-001", year()));
    let hq_acct = o.admin.create("/api/v1/accounts", json!({"name": "HQ Co"})).await;
    assert_eq!(deal(&o.admin, &hq_acct, "HQ deal").await["number"], format!("{}-HQ-001", year()));

    let mut tasks = Vec::new();
    for i in 0..32 {
        let c = o.rep_sh.clone();
        let a = sh_acct.clone();
        tasks.push(tokio::spawn(async move {
            let r = c.post("/api/v1/opportunities", json!({"name": format!("Race {i}"), "account_id": a})).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body["number"].as_str().unwrap().to_string()
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap());
    }
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 32, "every number is unique");
    let expected: Vec<String> = (2..=33).map(|n| format!("{}-SH1-{n:03}", year())).collect();
    assert_eq!(numbers, expected, "no gaps, no reuse");
}

#[tokio::test]
async fn a_forward_move_lists_everything_missing_at_once_and_moves_nothing() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "Gate Co"})).await;
    let d = deal(&o.rep_sh, &acct, "Gated").await;
    let id = d["id"].as_str().unwrap();
    let st = stages(&o.rep_sh).await;
    let r = o.rep_sh.post(&format!("/api/v1/opportunities/{id}/move"), json!({"stage_id": st[2], "version": 1})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.code(), "gate_refused");
    let missing = r.body["error"]["details"]["missing"].as_array().unwrap();
    let items: Vec<(String, String, String)> = missing
        .iter()
        .map(|m| (m["stage"].as_str().unwrap().into(), m["kind"].as_str().unwrap().into(), m["name"].as_str().unwrap().into()))
        .collect();
    for expected in [
        ("需求调研", "field", "amount"),
        ("需求调研", "field", "expected_close_date"),
        ("需求调研", "checklist", "needs_survey"),
        ("需求调研", "health", "health"),
        ("方案呈现", "field", "decision_maker"),
        ("方案呈现", "checklist", "proposal_submitted"),
        ("方案呈现", "document", "需求确认单"),
        ("方案呈现", "health", "health"),
    ] {
        assert!(items.contains(&(expected.0.into(), expected.1.into(), expected.2.into())), "{expected:?} missing from {items:?}");
    }
    assert_eq!(items.len(), 8);
    let after = o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await;
    assert_eq!(after.body["stage_id"], st[0].as_str());
    assert_eq!(after.body["version"], 1);
}

#[tokio::test]
async fn meeting_the_criteria_moves_and_history_records_the_time_in_stage() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let (id, st) = healthy_deal(&o, &o.rep_sh).await;
    let path = format!("/api/v1/opportunities/{id}");
    let view = o.rep_sh.get(&path).await;
    assert_eq!(view.body["health"]["score"], 90, "{}", view.body["health"]);
    assert_eq!(view.body["health"]["need_match"], 90.0);
    assert_eq!(view.body["health"]["decision_chain"], 80.0);
    assert_eq!(view.body["health"]["budget"], 100.0);
    // Still missing the checklist tick.
    let r = o.rep_sh.post(&format!("{path}/move"), json!({"stage_id": st[1], "version": 2})).await;
    assert_eq!(r.code(), "gate_refused");
    assert_eq!(r.body["error"]["details"]["missing"].as_array().unwrap().len(), 1);
    let r = o.rep_sh.post(&format!("{path}/checklist"), json!({"stage_id": st[1], "item_key": "needs_survey", "ticked": true, "note": "done"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let bad = o.rep_sh.post(&format!("{path}/checklist"), json!({"stage_id": st[1], "item_key": "nope", "ticked": true})).await;
    assert_eq!(bad.error_fields(), vec!["item_key"]);
    let r = o.rep_sh.post(&format!("{path}/move"), json!({"stage_id": st[1], "version": 2})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["result"], "moved");
    assert_eq!(r.body["opportunity"]["probability"], 40);
    assert_eq!(r.body["opportunity"]["stage_id"], st[1].as_str());
    // Moving back needs a reason.
    let r = o.rep_sh.post(&format!("{path}/move"), json!({"stage_id": st[0], "version": 3})).await;
    assert_eq!(r.error_fields(), vec!["reason"]);
    let r = o.rep_sh.post(&format!("{path}/move"), json!({"stage_id": st[0], "version": 3, "reason": "客户重新评估"})).await;
    assert_eq!(r.status, StatusCode::OK);
    let h = o.rep_sh.get(&format!("{path}/history")).await;
    let rows = h.body.as_array().unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "moved").count(), 2);
    assert!(kinds.contains(&"created") && kinds.contains(&"field"));
    let forward = rows.iter().find(|r| r["kind"] == "moved" && r["to_stage_name"] == "需求调研").unwrap();
    assert_eq!(forward["from_stage_name"], "初步接洽");
    assert_eq!(forward["amount"], 80_000_000);
    assert!(forward["days_in_stage"].as_f64().unwrap() >= 0.0);
    assert!(forward["working_days_in_stage"].is_number());
    let back = rows.iter().find(|r| r["kind"] == "moved" && r["to_stage_name"] == "初步接洽").unwrap();
    assert_eq!(back["reason"], "客户重新评估");
    assert!(rows.iter().any(|r| r["kind"] == "field" && r["field"] == "amount"));
}

#[tokio::test]
async fn a_health_score_in_the_approval_band_waits_for_the_manager() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    // The Shanghai manager manages the branch: approvals of the SH1 team go to them.
    let r = o.admin.patch(&format!("/api/v1/org-units/{}", o.sh), json!({"version": 1, "manager_id": o.manager_sh_id})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (id, st) = healthy_deal(&o, &o.rep_sh).await;
    let path = format!("/api/v1/opportunities/{id}");
    // Lower the need match: 0.4*50 + 0.3*80 + 0.3*100 = 74 → approval band.
    let r = o.rep_sh.patch(&path, json!({"version": 2, "need_items": [5,5,5,5,5,5,5,5,5,5]})).await;
    assert_eq!(r.body["health"]["score"], 74);
    o.rep_sh.post(&format!("{path}/checklist"), json!({"stage_id": st[1], "item_key": "needs_survey", "ticked": true})).await;
    let r = o.rep_sh.post(&format!("{path}/move"), json!({"stage_id": st[1], "version": 3, "note": "客户已口头确认预算"})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["result"], "pending_approval");
    let approval = r.body["approval"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["approval"]["approver_id"], o.manager_sh_id.as_str());
    // Not moved yet; another move waits too.
    assert_eq!(o.rep_sh.get(&path).await.body["stage_id"], st[0].as_str());
    let again = o.rep_sh.post(&format!("{path}/move"), json!({"stage_id": st[1], "version": 3})).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "approval_pending"));
    // The rep cannot approve their own request; the manager sees it waiting.
    assert_eq!(o.rep_sh.post(&format!("/api/v1/approvals/{approval}/approve"), json!({})).await.status, StatusCode::NOT_FOUND);
    let waiting = o.manager_sh.get("/api/v1/approvals").await;
    assert_eq!(waiting.body.as_array().unwrap().len(), 1);
    let r = o.manager_sh.post(&format!("/api/v1/approvals/{approval}/approve"), json!({"comment": "同意"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "approved");
    let moved = o.rep_sh.get(&path).await;
    assert_eq!(moved.body["stage_id"], st[1].as_str());
    assert_eq!(o.manager_sh.get("/api/v1/approvals").await.body.as_array().unwrap().len(), 0);
    let again = o.manager_sh.post(&format!("/api/v1/approvals/{approval}/approve"), json!({})).await;
    assert_eq!(again.code(), "already_decided");
}

#[tokio::test]
async fn rejecting_needs_a_comment_and_leaves_the_deal_where_it_was() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let (id, st) = healthy_deal(&o, &o.rep_bj).await;
    let path = format!("/api/v1/opportunities/{id}");
    o.rep_bj.patch(&path, json!({"version": 2, "need_items": [5,5,5,5,5,5,5,5,5,5]})).await;
    o.rep_bj.post(&format!("{path}/checklist"), json!({"stage_id": st[1], "item_key": "needs_survey", "ticked": true})).await;
    let r = o.rep_bj.post(&format!("{path}/move"), json!({"stage_id": st[1], "version": 3})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    // Beijing has no manager: directors decide.
    assert_eq!(r.body["approval"]["approver_role"], "director");
    let approval = r.body["approval"]["id"].as_str().unwrap().to_string();
    let no_comment = o.director.post(&format!("/api/v1/approvals/{approval}/reject"), json!({})).await;
    assert_eq!(no_comment.error_fields(), vec!["comment"]);
    let r = o.director.post(&format!("/api/v1/approvals/{approval}/reject"), json!({"comment": "需求不清"})).await;
    assert_eq!(r.body["status"], "rejected");
    assert_eq!(o.rep_bj.get(&path).await.body["stage_id"], st[0].as_str());
    let list = o.rep_bj.get(&format!("{path}/approvals")).await;
    assert_eq!(list.body[0]["comment"], "需求不清");
}

#[tokio::test]
async fn two_clients_moving_the_same_deal_at_once_one_wins_one_gets_409() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let (id, st) = healthy_deal(&o, &o.rep_sh).await;
    let path = format!("/api/v1/opportunities/{id}");
    o.rep_sh.post(&format!("{path}/checklist"), json!({"stage_id": st[1], "item_key": "needs_survey", "ticked": true})).await;
    let (a, b) = (o.rep_sh.clone(), o.manager_sh.clone());
    let (p1, p2) = (path.clone(), path.clone());
    let s1 = st[1].clone();
    let s2 = st[1].clone();
    let t1 = tokio::spawn(async move { a.post(&format!("{p1}/move"), json!({"stage_id": s1, "version": 2})).await.status });
    let t2 = tokio::spawn(async move { b.post(&format!("{p2}/move"), json!({"stage_id": s2, "version": 2})).await.status });
    let mut statuses = vec![t1.await.unwrap(), t2.await.unwrap()];
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::OK, StatusCode::CONFLICT]);
    let h = o.rep_sh.get(&format!("{path}/history")).await;
    assert_eq!(h.body.as_array().unwrap().iter().filter(|r| r["kind"] == "moved").count(), 1);
}

#[tokio::test]
async fn close_needs_reasons_and_contract_facts_and_reopen_is_for_managers() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let (id, _) = healthy_deal(&o, &o.rep_sh).await;
    let path = format!("/api/v1/opportunities/{id}");
    let r = o.rep_sh.post(&format!("{path}/close"), json!({"outcome": "lost", "version": 2})).await;
    assert_eq!(r.error_fields(), vec!["reason_id"]);
    let reasons = o.rep_sh.get("/api/v1/close-reasons").await;
    let lost = reasons.body.as_array().unwrap().iter().find(|r| r["outcome"] == "lost").unwrap()["id"].as_str().unwrap().to_string();
    let invalid = reasons.body.as_array().unwrap().iter().find(|r| r["outcome"] == "invalid").unwrap()["id"].as_str().unwrap().to_string();
    let r = o.rep_sh.post(&format!("{path}/close"), json!({"outcome": "lost", "version": 2, "reason_id": invalid})).await;
    assert_eq!(r.error_fields(), vec!["reason_id"], "an invalid-reason cannot explain a loss");
    let won = o.rep_sh.post(&format!("{path}/close"), json!({"outcome": "won", "version": 2})).await;
    assert_eq!(won.code(), "gate_refused");
    let names: Vec<&str> = won.body["error"]["details"]["missing"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["contract_number", "contract_signed_on"]);
    let r = o
        .rep_sh
        .post(&format!("{path}/close"), json!({"outcome": "lost", "version": 2, "reason_id": lost, "competitor": "用友", "note": "价格"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "lost");
    assert_eq!(r.body["probability"], 0);
    assert_eq!(r.body["forecast_category"], "closed");
    assert!(r.body["review_due_on"].is_string(), "a loss analysis is due");
    // Closed deals refuse changes and moves.
    let r = o.rep_sh.patch(&path, json!({"version": 3, "amount": 1})).await;
    assert_eq!(r.code(), "closed");
    // Reps cannot reopen; managers can, with a reason.
    let r = o.rep_sh.post(&format!("{path}/reopen"), json!({"version": 3, "reason": "again"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = o.manager_sh.post(&format!("{path}/reopen"), json!({"version": 3, "reason": "客户重启采购"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "open");
    // Won with the contract facts supplied in the close.
    let r = o
        .rep_sh
        .post(&format!("{path}/close"), json!({"outcome": "won", "version": 4, "contract_number": "HT-2026-001", "contract_signed_on": "2026-11-20"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["probability"], 100);
    let h = o.rep_sh.get(&format!("{path}/history")).await;
    let statuses: Vec<&str> = h.body.as_array().unwrap().iter().filter_map(|r| r["to_status"].as_str().filter(|_| r["kind"] != "field")).collect();
    assert_eq!(statuses, vec!["open", "lost", "open", "won"]);
}

#[tokio::test]
async fn admins_override_gates_with_a_reason_and_backfill_the_past_in_order() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let acct = o.admin.create("/api/v1/accounts", json!({"name": "Backfill Co"})).await;
    let st = stages(&o.admin).await;
    // A rep may not override or backfill.
    let r = o.rep_sh.post("/api/v1/opportunities", json!({"name": "x", "account_id": acct, "created_at": "2025-01-06T02:00:00Z"})).await;
    assert!(r.error_fields().contains(&"created_at".to_string()) || r.status == StatusCode::UNPROCESSABLE_ENTITY);
    let r = o.admin.post("/api/v1/opportunities", json!({"name": "Old deal", "account_id": acct, "created_at": "2025-01-06T02:00:00Z"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body["number"].as_str().unwrap().starts_with("2025-HQ-"), "numbered in the year it was created");
    let id = r.id();
    let path = format!("/api/v1/opportunities/{id}");
    let r = o.admin.post(&format!("{path}/move"), json!({"stage_id": st[3], "version": 1, "at": "2025-02-03T02:00:00Z"})).await;
    assert_eq!(r.code(), "gate_refused");
    let r = o
        .admin
        .post(&format!("{path}/move"), json!({"stage_id": st[3], "version": 1, "at": "2025-02-03T02:00:00Z", "override_reason": "imported from the old CRM"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = o.admin.post(&format!("{path}/move"), json!({"stage_id": st[2], "version": 2, "reason": "x", "at": "2025-01-10T00:00:00Z"})).await;
    assert_eq!(r.error_fields(), vec!["at"], "before the previous event");
    let r = o.admin.post(&format!("{path}/move"), json!({"stage_id": st[2], "version": 2, "reason": "x", "at": "2099-01-01T00:00:00Z"})).await;
    assert_eq!(r.error_fields(), vec!["at"], "in the future");
    let reasons = o.admin.get("/api/v1/close-reasons").await;
    let lost = reasons.body.as_array().unwrap().iter().find(|r| r["outcome"] == "lost").unwrap()["id"].clone();
    let r = o.admin.post(&format!("{path}/close"), json!({"outcome": "lost", "version": 2, "reason_id": lost, "closed_at": "2025-03-03T02:00:00Z"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let h = o.admin.get(&format!("{path}/history")).await;
    let rows = h.body.as_array().unwrap();
    assert!(rows.iter().all(|r| r["imported"] == true));
    let moved = rows.iter().find(|r| r["kind"] == "moved").unwrap();
    assert_eq!(moved["override_reason"], "imported from the old CRM");
    assert_eq!(moved["days_in_stage"], 28.0);
    assert_eq!(moved["working_days_in_stage"], 20.0);
    assert_eq!(rows.iter().find(|r| r["kind"] == "closed").unwrap()["at"], "2025-03-03T02:00:00Z");
}

#[tokio::test]
async fn opportunities_are_scoped_like_accounts_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let (id, st) = healthy_deal(&o, &o.rep_sh).await;
    let path = format!("/api/v1/opportunities/{id}");
    for (method, p, body) in [
        ("GET", path.clone(), None),
        ("PATCH", path.clone(), Some(json!({"version": 2, "amount": 1}))),
        ("POST", format!("{path}/move"), Some(json!({"stage_id": st[1], "version": 2}))),
        ("POST", format!("{path}/close"), Some(json!({"outcome": "won", "version": 2}))),
        ("GET", format!("{path}/history"), None),
        ("GET", format!("{path}/checklist"), None),
        ("POST", format!("{path}/checklist"), Some(json!({"stage_id": st[1], "item_key": "needs_survey", "ticked": true}))),
        ("GET", format!("{path}/documents"), None),
        ("GET", format!("{path}/approvals"), None),
    ] {
        let r = o.rep_bj.send(method.parse().unwrap(), &p, body, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {p}");
    }
    assert_eq!(o.rep_bj.get("/api/v1/opportunities").await.body["total"], 0);
    assert_eq!(o.rep_bj.get("/api/v1/opportunities?q=Healthy").await.body["total"], 0);
    assert_eq!(o.manager_sh.get("/api/v1/opportunities").await.body["total"], 1);
    assert_eq!(o.director.get("/api/v1/opportunities?status=open&amount_min=1000").await.body["total"], 1);
    let r = o.rep_bj.get("/api/v1/opportunities?status=maybe&close_from=tomorrow").await;
    let mut f = r.error_fields();
    f.sort();
    assert_eq!(f, vec!["close_from", "status"]);
}

#[tokio::test]
async fn documents_attach_download_and_satisfy_the_gate() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let (id, st) = healthy_deal(&o, &o.rep_sh).await;
    let path = format!("/api/v1/opportunities/{id}");
    let r = o.rep_sh.upload(&format!("{path}/documents"), "需求确认单", "../../etc/需求确认单.pdf", b"%PDF-1.4 test".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["file_name"], "需求确认单.pdf");
    let doc = r.id();
    let list = o.rep_sh.get(&format!("{path}/documents")).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    let dl = o.rep_sh.get(&format!("{path}/documents/{doc}")).await;
    assert_eq!(dl.status, StatusCode::OK);
    assert_eq!(dl.body, "%PDF-1.4 test");
    assert_eq!(o.rep_bj.get(&format!("{path}/documents/{doc}")).await.status, StatusCode::NOT_FOUND);
    let empty = o.rep_sh.upload(&format!("{path}/documents"), "", "x.pdf", vec![]).await;
    let mut f = empty.error_fields();
    f.sort();
    assert_eq!(f, vec!["doc_type", "file"]);
    // With the document, the decision maker (linked) and the ticks, the deal reaches 方案呈现.
    for (stage, key) in [(1, "needs_survey"), (2, "proposal_submitted")] {
        o.rep_sh.post(&format!("{path}/checklist"), json!({"stage_id": st[stage], "item_key": key, "ticked": true})).await;
    }
    let r = o.rep_sh.post(&format!("{path}/move"), json!({"stage_id": st[2], "version": 2})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn the_pipeline_totals_columns_in_base_currency_with_priority_flags_and_column_pages() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let (healthy, _) = healthy_deal(&o, &o.rep_sh).await; // 800,000.00 CNY, health 90 → priority
    let acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "Kanban Co"})).await;
    for (name, amount, currency) in [("A", 10_000_000, "CNY"), ("B", 20_000_000, "CNY"), ("C", 1_000_000, "USD")] {
        let r = o.rep_sh.post("/api/v1/opportunities", json!({"name": name, "account_id": acct, "amount": amount, "currency": currency})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    assert_eq!(o.rep_sh.get(&format!("/api/v1/opportunities/{healthy}")).await.body["priority"], true);
    let p = o.rep_sh.get("/api/v1/pipeline?limit=3").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let first = &p.body["columns"][0];
    assert_eq!(first["name"], "初步接洽");
    assert_eq!(first["count"], 4);
    assert_eq!(first["amount"], 110_000_000, "USD has no rate yet and stays out of the total");
    assert_eq!(first["unconverted_currencies"], json!(["USD"]));
    assert_eq!(first["weighted_amount"], 11_000_000);
    let cards = first["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 3);
    assert_eq!(cards[0]["id"], healthy.as_str(), "largest first");
    assert_eq!(cards[0]["flags"], json!(["priority"]));
    assert!(cards[0]["account_name"].is_string() && cards[0]["owner_name"] == "rep.sh");
    // The rest of the column.
    let cursor = first["next_cursor"].as_str().expect("more cards").to_string();
    let stage = first["stage_id"].as_str().unwrap();
    let more = o.rep_sh.get(&format!("/api/v1/pipeline?limit=3&stage_id={stage}&cursor={cursor}")).await;
    assert_eq!(more.body["columns"].as_array().unwrap().len(), 1);
    assert_eq!(more.body["columns"][0]["cards"].as_array().unwrap().len(), 1);
    // With a USD rate the column total includes it.
    let today = chrono::Utc::now().date_naive().to_string();
    assert_eq!(o.rep_sh.send(reqwest::Method::PUT, "/api/v1/fx-rates", Some(json!([{"currency": "USD", "valid_on": today, "rate": 7.0}])), &[]).await.status, StatusCode::FORBIDDEN);
    // The newest rate on or before today counts; a rate that starts later does not yet.
    let day = |d: i64| (chrono::Utc::now().date_naive() + chrono::Duration::days(d)).to_string();
    let rates = json!([{"currency": "USD", "valid_on": day(-10), "rate": 6.5}, {"currency": "USD", "valid_on": day(30), "rate": 8.0}]);
    let r = o.admin.send(reqwest::Method::PUT, "/api/v1/fx-rates", Some(rates), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(o.rep_sh.get("/api/v1/pipeline").await.body["columns"][0]["amount"], 116_500_000);
    let r = o.admin.send(reqwest::Method::PUT, "/api/v1/fx-rates", Some(json!([{"currency": "usd", "valid_on": today, "rate": 7.0}])), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = o.rep_sh.get("/api/v1/pipeline").await;
    assert_eq!(p.body["columns"][0]["amount"], 117_000_000);
    // Other people's pipelines do not include these deals.
    assert_eq!(o.rep_bj.get("/api/v1/pipeline").await.body["columns"][0]["count"], 0);
    assert_eq!(o.manager_sh.get("/api/v1/pipeline").await.body["columns"][0]["count"], 4);
    let bad = o.rep_sh.get("/api/v1/pipeline?cursor=abc").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_move_through_two_gated_stages_needs_both_approvals_in_order_and_nobody_approves_their_own() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    o.admin.patch(&format!("/api/v1/org-units/{}", o.sh), json!({"version": 1, "manager_id": o.manager_sh_id})).await;
    let body = json!({
        "name": "双审批流程", "applicability": {"industries": ["双审批"]},
        "stages": [
            {"name": "一", "probability": 10, "forecast_category": "pipeline", "health_refuse_below": 0, "health_pass_above": 0},
            {"name": "二", "probability": 30, "forecast_category": "pipeline", "health_refuse_below": 0, "health_pass_above": 0, "approval": {"kind": "role", "role": "director"}},
            {"name": "三", "probability": 60, "forecast_category": "commit", "health_refuse_below": 0, "health_pass_above": 0, "approval": {"kind": "direct_manager"}}
        ]
    });
    let p = o.admin.post("/api/v1/processes", body).await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
    let st: Vec<String> = p.body["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    let acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "Two Gates Co", "industry": "双审批"})).await;
    let d = o.rep_sh.post("/api/v1/opportunities", json!({"name": "x", "account_id": acct})).await;
    let id = d.id();
    let path = format!("/api/v1/opportunities/{id}");
    let r = o.rep_sh.post(&format!("{path}/move"), json!({"stage_id": st[2], "version": 1})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["approval"]["approver_role"], "director");
    let first = r.body["approval"]["id"].as_str().unwrap().to_string();
    // The requester may withdraw; a stranger may not.
    assert_eq!(o.rep_bj.post(&format!("/api/v1/approvals/{first}/cancel"), json!({})).await.status, StatusCode::NOT_FOUND);
    let r = o.director.post(&format!("/api/v1/approvals/{first}/approve"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Not moved yet: the manager's approval for stage 三 is asked next.
    assert_eq!(o.rep_sh.get(&path).await.body["stage_id"], st[0].as_str());
    let waiting = o.manager_sh.get("/api/v1/approvals").await;
    let second = waiting.body.as_array().unwrap().iter().find(|a| a["opportunity_id"] == id.as_str()).expect("second request").clone();
    assert_eq!(second["need_stage_id"], st[2].as_str());
    let r = o.manager_sh.post(&format!("/api/v1/approvals/{}/approve", second["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(o.rep_sh.get(&path).await.body["stage_id"], st[2].as_str());

    // A manager moving a deal of their own team is not their own approver.
    let d2 = o.rep_sh.post("/api/v1/opportunities", json!({"name": "y", "account_id": acct})).await;
    let r = o.manager_sh.post(&format!("/api/v1/opportunities/{}/move", d2.id()), json!({"stage_id": st[1], "version": 1})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.body["approval"]["approver_role"], "director");
    let mine = r.body["approval"]["id"].as_str().unwrap().to_string();
    let r = o.manager_sh.post(&format!("/api/v1/approvals/{mine}/cancel"), json!({})).await;
    assert_eq!(r.body["status"], "cancelled");
    // A forged cursor is a 422, not a crash.
    let huge = base64_cursor(u64::MAX);
    assert_eq!(o.rep_sh.get(&format!("/api/v1/opportunities?cursor={huge}")).await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

fn base64_cursor(offset: u64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o{offset}"))
}
