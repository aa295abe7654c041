//! Follow-up (§6): activities and what a touch changes, tasks, the scanners (cadence, stale,
//! dwell, close date, escalation) run at a fixed later time, and two instances sharing the
//! jobs through the lease.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kairos_app::jobs::JobSchedule;
use kairos_app::{App, Clock};
use kairos_testkit::{Client, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixture::{Org, org};

#[derive(Debug)]
struct At(DateTime<Utc>);

impl Clock for At {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// The application as it would run `days` from now.
fn later(app: &TestApp, days: i64) -> App {
    app.app.clone().with_clock(Arc::new(At(Utc::now() + Duration::days(days))))
}

fn in_days(days: i64) -> String {
    (Utc::now() + Duration::days(days)).to_rfc3339()
}

fn date_in_days(days: i64) -> String {
    ((Utc::now() + Duration::hours(8)).date_naive() + Duration::days(days)).to_string()
}

/// A deal of `c` with a decision maker linked but not yet reached.
async fn deal_with_dm(c: &Client, name: &str, close_in_days: i64) -> (String, String, String) {
    let acct = c.create("/api/v1/accounts", json!({"name": format!("{name} {}", uuid::Uuid::now_v7().simple())})).await;
    let dm = c.create("/api/v1/contacts", json!({"account_id": acct, "name": "决策人", "decision_role": "decision_maker"})).await;
    let id = c.create("/api/v1/opportunities", json!({"name": name, "account_id": acct})).await;
    let r = c
        .patch(&format!("/api/v1/opportunities/{id}"), json!({
            "version": 1, "expected_close_date": date_in_days(close_in_days), "contacts": [{"contact_id": dm, "reached": false}]
        }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (id, acct, dm)
}

async fn tasks(c: &Client, query: &str) -> Vec<Value> {
    let r = c.get(&format!("/api/v1/tasks{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

async fn inbox(c: &Client) -> Vec<Value> {
    c.get("/api/v1/notifications").await.body["items"].as_array().unwrap().clone()
}

async fn manage_shanghai(o: &Org) {
    let r = o.admin.patch(&format!("/api/v1/org-units/{}", o.sh), json!({"version": 1, "manager_id": o.manager_sh_id})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn a_logged_visit_reaches_the_decision_maker_raises_health_and_books_the_next_step() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let (id, acct, dm) = deal_with_dm(&o.rep_sh, "Visit", 60).await;
    let before = o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await.body;

    let r = o
        .rep_sh
        .post("/api/v1/activities", json!({
            "kind": "visit", "opportunity_id": id, "contact_ids": [dm], "duration_minutes": 90,
            "summary": "现场拜访，确认预算", "outcome": "positive", "next_step": "Product demo", "next_step_at": in_days(3)
        }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["account_id"], acct.as_str(), "the deal's account is filled in");
    let task_id = r.body["next_task_id"].as_str().expect("the next step became a task").to_string();

    let after = o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await.body;
    assert_eq!(after["contacts"][0]["reached"], true, "{after}");
    assert!(after["health"]["score"].as_i64() > before["health"]["score"].as_i64(), "health rises: {before} → {after}");
    assert_eq!(after["version"], before["version"], "a touch is not an edit: an open edit form does not conflict");

    let mine = tasks(&o.rep_sh, "").await;
    let t = mine.iter().find(|t| t["id"] == task_id.as_str()).expect("in my tasks");
    assert_eq!((t["title"].as_str(), t["origin"].as_str(), t["state"].as_str()), (Some("Product demo"), Some("activity"), Some("open")));
    assert_eq!((t["entity"].as_str(), t["entity_id"].as_str()), (Some("opportunity"), Some(id.as_str())));

    // The timeline: the rep's manager sees it, a rep elsewhere does not.
    manage_shanghai(&o).await;
    let timeline = o.manager_sh.get(&format!("/api/v1/activities?opportunity_id={id}")).await;
    assert_eq!(timeline.body["total"], 1, "{}", timeline.body);
    assert_eq!(o.rep_bj.get(&format!("/api/v1/activities?opportunity_id={id}")).await.status, StatusCode::NOT_FOUND);
    let act_id = r.body["id"].as_str().unwrap();
    assert_eq!(o.rep_bj.get(&format!("/api/v1/activities/{act_id}")).await.status, StatusCode::NOT_FOUND);
    let r = o.rep_bj.post("/api/v1/activities", json!({"kind": "call", "opportunity_id": id, "summary": "x"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), vec!["opportunity_id"]);

    // Bad input names every field and changes nothing.
    let (_, other_acct, other_dm) = deal_with_dm(&o.rep_sh, "Other", 60).await;
    let r = o
        .rep_sh
        .post("/api/v1/activities", json!({
            "kind": "fax", "opportunity_id": id, "contact_ids": [other_dm], "summary": " ", "next_step": "call back",
            "duration_minutes": 20000
        }))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["contact_ids[0]", "duration_minutes", "kind", "next_step_at", "summary"], "{}", r.body);
    let r = o.rep_sh.post("/api/v1/activities", json!({"kind": "call", "summary": "no record"})).await;
    assert_eq!(r.error_fields(), vec!["opportunity_id"]);
    let r = o.rep_sh.post("/api/v1/activities", json!({"kind": "call", "summary": "x", "opportunity_id": id, "account_id": other_acct})).await;
    assert_eq!(r.error_fields(), vec!["account_id"]);
    assert_eq!(o.rep_sh.get(&format!("/api/v1/activities?opportunity_id={id}")).await.body["total"], 1);
    assert_eq!(tasks(&o.rep_sh, "").await.len(), 1);

    // Tasks: the manager sees the team's; done needs the current version.
    let team = tasks(&o.manager_sh, "?view=team").await;
    assert!(team.iter().any(|t| t["id"] == task_id.as_str()));
    assert!(tasks(&o.rep_bj, "?view=team").await.is_empty());
    assert_eq!(o.rep_bj.get(&format!("/api/v1/tasks/{task_id}")).await.status, StatusCode::NOT_FOUND);
    let r = o.rep_sh.patch(&format!("/api/v1/tasks/{task_id}"), json!({"version": 7, "status": "done"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = o.rep_sh.patch(&format!("/api/v1/tasks/{task_id}"), json!({"version": 1, "status": "finished"})).await;
    assert_eq!(r.error_fields(), vec!["status"]);
    let r = o.rep_sh.patch(&format!("/api/v1/tasks/{task_id}"), json!({"version": 1, "status": "done"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!((r.body["state"].as_str(), r.body["version"].as_i64()), (Some("done"), Some(2)));
    assert!(tasks(&o.rep_sh, "").await.is_empty(), "done tasks leave the open list");
    assert_eq!(tasks(&o.rep_sh, "?state=done").await.len(), 1);

    // A task handed to someone else reaches their inbox.
    let r = o.manager_sh.post("/api/v1/tasks", json!({"title": "Prepare the quote", "due_at": in_days(1), "assignee_id": o.rep_sh_id, "entity": "opportunity", "entity_id": id})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(inbox(&o.rep_sh).await.iter().any(|n| n["kind"] == "task_assigned"));
    let r = o.rep_bj.post("/api/v1/tasks", json!({"title": "peek", "due_at": in_days(1), "entity": "opportunity", "entity_id": id})).await;
    assert_eq!(r.error_fields(), vec!["entity_id"]);
    app.stop().await;
}

#[tokio::test]
async fn the_scan_owes_touches_flags_stale_deals_tells_the_manager_once_and_escalates_overdue_tasks() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    manage_shanghai(&o).await;
    // Idle since creation; closing 25 days from now.
    let (idle, _, _) = deal_with_dm(&o.rep_sh, "Idle", 25).await;
    // Touched today, with a meeting booked in 30 days: alive, though short of its weekly cadence.
    let (booked, _, _) = deal_with_dm(&o.rep_sh, "Booked", 90).await;
    let r = o.rep_sh.post("/api/v1/activities", json!({"kind": "call", "opportunity_id": booked, "summary": "call", "next_step": "Meeting", "next_step_at": in_days(30)})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // 22 days on: the first stage expects 14 days (limit 21) and a touch a week.
    let first = later(&app, 22).scan_followups().await.expect("scan");
    assert_eq!((first.open_deals, first.at_risk), (2, 2), "{first:?}");
    assert_eq!(first.tasks_created, 3, "cadence for both deals, the close-date reminder for Idle: {first:?}");
    let mine = tasks(&o.rep_sh, "").await;
    let of = |deal: &str, origin: &str| mine.iter().filter(|t| t["entity_id"] == deal && t["origin"] == origin).count();
    assert_eq!((of(&idle, "cadence"), of(&idle, "close_date"), of(&booked, "cadence")), (1, 1, 1), "{mine:?}");

    let risks = o.rep_sh.get("/api/v1/risks").await;
    assert_eq!(risks.status, StatusCode::OK, "{}", risks.body);
    let items = risks.body["items"].as_array().unwrap();
    let risk = |deal: &str| items.iter().find(|r| r["opportunity_id"] == deal).cloned().expect("listed");
    let i = risk(&idle);
    assert_eq!((i["stale_level"].as_str(), i["dwell_over"].as_bool(), i["cadence_short"].as_bool()), (Some("alert"), Some(true), Some(true)), "{i}");
    assert_eq!((i["dwell_basis"].as_str(), i["dwell_limit_days"].as_f64()), (Some("expected"), Some(21.0)));
    assert_eq!(i["recommended_action"], "review_with_manager");
    assert_eq!(items[0]["opportunity_id"], idle.as_str(), "highest risk first");
    let b = risk(&booked);
    assert_eq!(b["stale_level"], "fresh", "a booked meeting is a sign of life: {b}");
    assert_eq!(o.rep_bj.get("/api/v1/risks").await.body["total"], 0, "scoped");
    // The kanban card carries the same findings.
    let board = o.rep_sh.get("/api/v1/pipeline").await.body;
    let card = board["columns"][0]["cards"].as_array().unwrap().iter().find(|c| c["id"] == idle.as_str()).cloned().expect("on the board");
    for flag in ["stale", "dwell_risk", "cadence"] {
        assert!(card["flags"].as_array().unwrap().iter().any(|f| f == flag), "{flag} on {card}");
    }

    let manager = inbox(&o.manager_sh).await;
    let stale: Vec<&Value> = manager.iter().filter(|n| n["kind"] == "deal_stale").collect();
    assert_eq!(stale.len(), 1, "only the idle deal alerts the manager: {manager:?}");
    assert_eq!(stale[0]["entity_id"], idle.as_str());
    let rep = inbox(&o.rep_sh).await;
    assert_eq!(rep.iter().filter(|n| n["kind"] == "deal_dwell").count(), 2, "both deals are past 21 days in the stage");

    // The same scan again finds the same events: nothing new. Its cadence tasks (due a
    // fortnight ago) are now past the grace period, so the manager hears of them, once.
    let second = later(&app, 22).scan_followups().await.expect("scan");
    assert_eq!((second.tasks_created, second.escalations), (0, 2), "{second:?}");
    assert_eq!(second.notifications, 2, "{second:?}");
    // A re-scan that finds the same risk leaves its row alone (only changes are written).
    let again = o.rep_sh.get("/api/v1/risks").await.body;
    let same = again["items"].as_array().unwrap().iter().find(|r| r["opportunity_id"] == idle.as_str()).cloned().unwrap();
    assert_eq!(same["scanned_at"], i["scanned_at"], "unchanged finding, unchanged row: {same} {i}");
    assert_eq!(same["idle_days"], i["idle_days"]);
    let third = later(&app, 22).scan_followups().await.expect("scan");
    assert_eq!((third.tasks_created, third.notifications, third.escalations), (0, 0, 0), "{third:?}");
    let manager = inbox(&o.manager_sh).await;
    assert_eq!(manager.iter().filter(|n| n["kind"] == "task_overdue").count(), 2);
    assert_eq!(manager.iter().filter(|n| n["kind"] == "deal_stale").count(), 1);

    // A touch settles the cadence task owed on the deal.
    let r = o.rep_sh.post("/api/v1/activities", json!({"kind": "call", "opportunity_id": idle, "summary": "finally"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let mine = tasks(&o.rep_sh, "").await;
    assert!(!mine.iter().any(|t| t["entity_id"] == idle.as_str() && t["origin"] == "cadence"), "{mine:?}");
    assert_eq!(tasks(&o.rep_sh, "?state=done&origin=cadence").await.len(), 1);

    // A full scan drops the stored risk of a deal no longer open, and keeps the others'.
    let reasons = o.rep_sh.get("/api/v1/close-reasons").await;
    let lost = reasons.body.as_array().unwrap().iter().find(|r| r["outcome"] == "lost").unwrap()["id"].clone();
    let version = o.rep_sh.get(&format!("/api/v1/opportunities/{booked}")).await.body["version"].clone();
    let r = o.rep_sh.post(&format!("/api/v1/opportunities/{booked}/close"), json!({"outcome": "lost", "version": version, "reason_id": lost})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    later(&app, 23).scan_followups().await.expect("scan");
    let stored = |deal: String| {
        let store = app.app.store.clone();
        async move {
            let mut conn = store.read().await.unwrap();
            let q = kairos_store::sql("SELECT CAST(COUNT(*) AS BIGINT) FROM opportunity_risk WHERE opportunity_id = $1").bind(deal);
            conn.conn().fetch_count(&q).await.unwrap()
        }
    };
    assert_eq!((stored(idle.clone()).await, stored(booked.clone()).await), (1, 0), "the closed deal's risk row is gone, the open one's kept");
    app.stop().await;
}

#[tokio::test]
async fn two_instances_run_each_job_once_and_a_dead_instances_lease_runs_out() {
    let a = TestApp::spawn().await;
    let o = org(&a).await;
    manage_shanghai(&o).await;
    for n in 0..3 {
        deal_with_dm(&o.rep_sh, &format!("Idle {n}"), 200).await;
    }
    let b = a.another_instance().await;
    let hourly = JobSchedule::from_seconds(3600, 600);
    let (at_a, at_b) = (later(&a, 22), later(&b, 22));

    // Racing for a due job: exactly one instance runs it; then it is not due for an hour.
    let (ra, rb) = tokio::join!(at_a.run_due_jobs("instance-a", &hourly, false), at_b.run_due_jobs("instance-b", &hourly, false));
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert_eq!(u8::from(ra[0].ran) + u8::from(rb[0].ran), 1, "{ra:?} {rb:?}");
    let (ra, rb) = tokio::join!(at_a.run_due_jobs("instance-a", &hourly, false), at_b.run_due_jobs("instance-b", &hourly, false));
    assert!(!ra.expect("a")[0].ran && !rb.expect("b")[0].ran, "not due again within the hour");

    // Forced runs from both, five times over: every stale alert exists exactly once.
    for _ in 0..5 {
        let (ra, rb) = tokio::join!(at_a.run_due_jobs("instance-a", &hourly, true), at_b.run_due_jobs("instance-b", &hourly, true));
        assert!(ra.expect("a")[0].error.is_none() && rb.expect("b")[0].error.is_none());
    }
    let alerts = inbox(&o.manager_sh).await.into_iter().filter(|n| n["kind"] == "deal_stale").count();
    assert_eq!(alerts, 3, "none missed, none doubled");

    // An instance that died mid-run leaves its lease: nobody runs the job until it runs out.
    {
        let mut tx = a.app.store.begin().await.expect("tx");
        let now = Utc::now() + Duration::days(22);
        let taken = kairos_store::job::claim(&mut tx.conn(), kairos_app::jobs::FOLLOWUP_SCAN, "instance-dead", now, now + Duration::minutes(10), now).await.expect("claim");
        tx.commit().await.expect("commit");
        assert!(taken);
    }
    assert!(!at_b.run_due_jobs("instance-b", &hourly, true).await.expect("b")[0].ran, "the dead instance's lease still holds");
    let after_lease = later(&b, 23);
    let run = after_lease.run_due_jobs("instance-b", &hourly, true).await.expect("b");
    assert!(run[0].ran && run[0].error.is_none(), "the lease ran out; the job runs again: {run:?}");
    let states = after_lease.job_states().await.expect("states");
    assert_eq!(states[0].leased_by, None, "released after the run");
    b.stop().await;
    a.stop().await;
}

/// The p90 dwell the scanner compares with comes from the database in two steps (count,
/// then the passage at the rank); checked here against the domain's plain sort of the same
/// passages, with passages that must not count mixed in.
#[tokio::test]
async fn each_stages_p90_dwell_is_the_nearest_rank_of_its_passages_in_the_last_year() {
    use kairos_domain::followup::DwellHistory;
    use kairos_store::opportunity::{HistoryEntry, insert_history};

    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let ws = {
        let mut conn = app.app.store.read().await.unwrap();
        kairos_store::workspace::list_workspaces(&mut conn.conn()).await.unwrap()[0].id
    };
    let stages: Vec<String> =
        o.admin.get("/api/v1/processes").await.body[0]["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    let (a, b, quiet) = (&stages[0], &stages[1], &stages[2]);
    let now = Utc::now();
    let since = now - Duration::days(365);
    let passage = |i: u64, stage: &str, kind: &str, days_ago: i64, days: Option<f64>| HistoryEntry {
        id: kairos_store::opportunity::new_history_id(uuid::Uuid::now_v7()),
        at: now - Duration::days(days_ago) - Duration::minutes(i as i64),
        actor_id: None,
        kind: kind.into(),
        from_stage_id: Some(stage.to_string()),
        from_stage_name: None,
        to_stage_id: None,
        to_stage_name: None,
        from_status: None,
        to_status: None,
        amount: 0,
        currency: "CNY".into(),
        probability: 0,
        days_in_stage: days,
        working_days_in_stage: days,
        field: None,
        old_value: None,
        new_value: None,
        reason: None,
        override_reason: None,
        imported: false,
        expected_close: None,
    };
    // Stage a: 37 counted passages, unevenly spread and out of order, plus four that must not
    // count (too old, a field change, no duration, and one on another stage's row is b's).
    let mut rows: Vec<HistoryEntry> = (0..37u64).map(|i| passage(i, a, if i % 5 == 0 { "closed" } else { "moved" }, (i as i64 * 7) % 300, Some(((i * 37) % 101) as f64 / 4.0))).collect();
    rows.push(passage(40, a, "moved", 400, Some(1000.0)));
    rows.push(passage(41, a, "field", 3, Some(999.0)));
    rows.push(passage(42, a, "moved", 3, None));
    rows.push(passage(43, b, "moved", 10, Some(6.5)));
    let opp = kairos_domain::ids::OpportunityId::from_uuid(uuid::Uuid::now_v7());
    let mut tx = app.app.store.begin().await.unwrap();
    insert_history(&mut tx.conn(), ws, opp, &rows).await.unwrap();
    tx.commit().await.unwrap();

    let counted = |stage: &str| -> Vec<f64> {
        rows.iter()
            .filter(|r| r.from_stage_id.as_deref() == Some(stage) && (r.kind == "moved" || r.kind == "closed") && r.at >= since)
            .filter_map(|r| r.days_in_stage)
            .collect()
    };
    let mut conn = app.app.store.read().await.unwrap();
    let got = kairos_store::followup::dwell_history(&mut conn.conn(), ws, since, None).await.unwrap();
    assert_eq!(got.len(), 2, "a stage without passages has no history: {got:?}");
    assert_eq!(got.get(a.as_str()).copied(), DwellHistory::of(&counted(a)));
    assert_eq!(got[a.as_str()].samples, 37);
    assert_eq!(got.get(b.as_str()).copied(), Some(DwellHistory { samples: 1, p90_days: 6.5 }));
    assert!(!got.contains_key(quiet.as_str()));
    let one = kairos_store::followup::dwell_history(&mut conn.conn(), ws, since, Some(kairos_domain::ids::StageId::parse(b).unwrap())).await.unwrap();
    assert_eq!(one.keys().collect::<Vec<_>>(), vec![b], "a one-deal re-scan reads its stage alone");
}
