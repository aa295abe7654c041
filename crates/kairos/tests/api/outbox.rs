//! The outbox (§6, §10): deal events and notifications reach signed webhooks, chat group
//! robots and e-mail; failures back off, show, and can be retried; two real `kairos serve`
//! processes share the deliveries, and killing one loses nothing.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use base64::Engine as _;
use chrono::{Duration, Utc};
use hmac::{Hmac, Mac};
use kairos_app::{App, Clock};
use kairos_jobs::{OutboxSettings, Sender};
use kairos_testkit::sinks::{HttpSink, Reply, SmtpSink};
use kairos_testkit::{Client, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::fixture::org;

#[derive(Debug)]
struct At(chrono::DateTime<Utc>);

impl Clock for At {
    fn now(&self) -> chrono::DateTime<Utc> {
        self.0
    }
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

async fn drain(app: &App, smtp: Option<&str>) -> usize {
    let settings = OutboxSettings { smtp_url: smtp.map(str::to_string), ..OutboxSettings::default() };
    let sender = Arc::new(Sender::new(&settings).expect("outbox settings are valid"));
    kairos_jobs::drain(app, &sender, "test-worker", &settings).await.expect("the outbox drains")
}

async fn stages(c: &Client) -> Vec<String> {
    let p = c.get("/api/v1/processes").await;
    p.body[0]["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

async fn deliveries(admin: &Client, query: &str) -> Value {
    let r = admin.get(&format!("/api/v1/deliveries{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test]
async fn deal_events_and_notifications_reach_signed_webhooks_chat_robots_and_email_once() {
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    let smtp_url = smtp.url.clone();
    let app = TestApp::spawn_with(|s| {
        s.smtp_url = Some(smtp_url);
        s.public_url = "https://crm.example.com".into();
    })
    .await;
    let o = org(&app).await;

    // Only admins set up endpoints, and every bad field is named.
    assert_eq!(o.rep_sh.get("/api/v1/webhooks").await.status, StatusCode::FORBIDDEN);
    let bad = o.admin.post("/api/v1/webhooks", json!({"name": "", "kind": "generic", "url": "ftp://x", "events": ["deal.eaten"]})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.error_fields(), vec!["name", "url", "secret", "events[0]"]);
    let bad = o.admin.post("/api/v1/webhooks", json!({"name": "x", "kind": "slack", "url": "https://x.example.com", "events": []})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(o.admin.get("/api/v1/webhooks").await.body.as_array().unwrap().is_empty(), "nothing was stored");

    let all_deal_events = json!(["opportunity.created", "opportunity.stage_changed", "opportunity.won", "opportunity.lost"]);
    let erp = o
        .admin
        .create("/api/v1/webhooks", json!({"name": "ERP", "kind": "generic", "url": format!("{}/erp", sink.base), "secret": "s3cret", "events": all_deal_events}))
        .await;
    o.admin
        .create("/api/v1/webhooks", json!({"name": "销售群", "kind": "wecom", "url": format!("{}/wecom?key=abc", sink.base), "events": ["notification.task_assigned"]}))
        .await;
    o.admin
        .create("/api/v1/webhooks", json!({"name": "喜报", "kind": "dingtalk", "url": format!("{}/ding?access_token=t", sink.base), "secret": "SECx", "events": ["opportunity.won"]}))
        .await;
    let shown = o.admin.get(&format!("/api/v1/webhooks/{erp}")).await;
    assert_eq!(shown.body["has_secret"], true);
    assert!(shown.body.get("secret").is_none(), "the secret is never sent back: {}", shown.body);

    // A deal is created, moved and won; a task is given twice, the second time after the
    // rep muted task e-mails.
    let acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "Outbox Co"})).await;
    let deal = o.rep_sh.create("/api/v1/opportunities", json!({"name": "ERP rollout", "account_id": acct, "amount": 12_000_000})).await;
    let st = stages(&o.admin).await;
    let moved = o.admin.post(&format!("/api/v1/opportunities/{deal}/move"), json!({"stage_id": st[1], "version": 1, "override_reason": "test"})).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let today = (Utc::now() + Duration::hours(8)).date_naive().to_string();
    let won = o
        .rep_sh
        .post(&format!("/api/v1/opportunities/{deal}/close"), json!({"outcome": "won", "version": 2, "contract_number": "HT-1", "contract_signed_on": today}))
        .await;
    assert_eq!(won.status, StatusCode::OK, "{}", won.body);
    let due = (Utc::now() + Duration::days(2)).to_rfc3339();
    o.manager_sh.create("/api/v1/tasks", json!({"title": "Call the CFO", "due_at": due, "assignee_id": o.rep_sh_id})).await;
    let muted = o.rep_sh.send(reqwest::Method::PUT, "/api/v1/me/notification-preferences", Some(json!({"email": true, "email_muted": ["task_assigned"]})), &[]).await;
    assert_eq!(muted.status, StatusCode::OK, "{}", muted.body);
    o.manager_sh.create("/api/v1/tasks", json!({"title": "Send the quote", "due_at": due, "assignee_id": o.rep_sh_id})).await;

    let pending = deliveries(&o.admin, "?status=pending").await;
    assert_eq!(pending["counts"]["pending"], 7, "3 ERP + 1 DingTalk + 2 WeCom + 1 e-mail, written with their events: {pending}");
    assert_eq!(drain(&app.app, Some(&smtp.url)).await, 7);
    assert_eq!(drain(&app.app, Some(&smtp.url)).await, 0, "nothing is sent twice");

    // The generic receiver can check every request's signature and de-duplicate on its id.
    let erp_got = sink.at("/erp");
    let mut events: Vec<String> = erp_got.iter().map(|r| r.headers["x-kairos-event"].clone()).collect();
    events.sort();
    assert_eq!(events, vec!["opportunity.created", "opportunity.stage_changed", "opportunity.won"]);
    for r in &erp_got {
        let ts = &r.headers["x-kairos-timestamp"];
        let expected: String = hmac(b"s3cret", format!("{ts}.{}", r.body).as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(r.headers["x-kairos-signature"], format!("v1={expected}"));
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["id"], r.headers["x-kairos-delivery"].as_str());
        assert_eq!(body["data"]["opportunity"]["id"], deal.as_str());
        assert_eq!(body["data"]["link"], format!("https://crm.example.com/opportunities/{deal}"));
    }
    let won_body: Value = serde_json::from_str(&erp_got.iter().find(|r| r.headers["x-kairos-event"] == "opportunity.won").unwrap().body).unwrap();
    assert_eq!(won_body["data"]["opportunity"]["status"], "won");
    assert_eq!(won_body["data"]["opportunity"]["amount"], 12_000_000);

    // DingTalk: signed in the query with its own scheme.
    let ding = sink.at("/ding");
    assert_eq!(ding.len(), 1);
    let query: HashMap<String, String> = ding[0].target.split_once('?').unwrap().1.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect();
    assert_eq!(query["access_token"], "t");
    let expected = base64::engine::general_purpose::STANDARD.encode(hmac(b"SECx", format!("{}\nSECx", query["timestamp"]).as_bytes()));
    assert_eq!(query["sign"].replace("%2B", "+").replace("%2F", "/").replace("%3D", "="), expected);
    let ding_body: Value = serde_json::from_str(&ding[0].body).unwrap();
    assert_eq!(ding_body["msgtype"], "text");
    let content = ding_body["text"]["content"].as_str().unwrap();
    assert!(content.contains("Won: 2026-SH1-001 ERP rollout (CNY 120,000.00)"), "the workspace's language, the amount grouped: {content}");

    // WeCom got both task notifications; e-mail only the one before the mute.
    let wecom = sink.at("/wecom");
    assert_eq!(wecom.len(), 2);
    assert!(wecom.iter().all(|r| r.target.ends_with("key=abc")));
    let texts: Vec<String> = wecom.iter().map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["text"]["content"].as_str().unwrap().to_string()).collect();
    assert!(texts.iter().any(|t| t.contains("Call the CFO")) && texts.iter().any(|t| t.contains("Send the quote")), "{texts:?}");
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, vec!["rep.sh@acme.test"]);
    assert!(mails[0].data.contains("Call the CFO"), "{}", mails[0].data);
    assert!(mails[0].data.contains("https://crm.example.com/"), "{}", mails[0].data);

    let all = deliveries(&o.admin, "").await;
    assert_eq!(all["counts"]["sent"], 7, "{all}");
    assert!(all["items"].as_array().unwrap().iter().all(|d| !d["recipient"].as_str().unwrap().contains("key=abc")), "robot keys are not shown");

    // Preferences are checked like any input.
    let bad = o.rep_sh.send(reqwest::Method::PUT, "/api/v1/me/notification-preferences", Some(json!({"email_muted": ["nonsense"]})), &[]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), vec!["email_muted[0]"]);
    assert_eq!(o.rep_sh.get("/api/v1/me/notification-preferences").await.body["email_muted"], json!(["task_assigned"]));
    app.stop().await;
}

#[tokio::test]
async fn failed_deliveries_back_off_then_show_as_failed_and_an_admin_retry_sends_them() {
    let sink = HttpSink::start().await;
    sink.reply("/down", Reply { status: 500, body: "boom".into(), ..Reply::default() });
    sink.reply("/robot", Reply { body: r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#.into(), ..Reply::default() });
    let app = TestApp::spawn().await;
    let ws = app.workspace("Acme").await;
    let admin = ws.admin;
    let hook = |name: &str, kind: &str, path: &str| {
        json!({"name": name, "kind": kind, "url": format!("{}{path}", sink.base), "secret": "k", "events": ["opportunity.created"]})
    };
    let down = admin.create("/api/v1/webhooks", hook("Down", "generic", "/down")).await;
    admin.create("/api/v1/webhooks", hook("Robot", "wecom", "/robot?key=bad")).await;
    let gone = admin.create("/api/v1/webhooks", hook("Gone", "generic", "/gone")).await;
    let acct = admin.create("/api/v1/accounts", json!({"name": "Retry Co"})).await;
    admin.create("/api/v1/opportunities", json!({"name": "Retry deal", "account_id": acct})).await;
    assert_eq!(admin.delete(&format!("/api/v1/webhooks/{gone}")).await.status, StatusCode::NO_CONTENT);

    assert_eq!(drain(&app.app, None).await, 3);
    let list = deliveries(&admin, "").await;
    let by_name = |needle: &str| list["items"].as_array().unwrap().iter().find(|d| d["recipient"].as_str().unwrap().contains(needle)).unwrap().clone();
    let (d_down, d_robot, d_gone) = (by_name("/down"), by_name("/robot"), by_name("/gone"));
    assert_eq!((d_down["status"].as_str(), d_down["attempts"].as_i64()), (Some("pending"), Some(1)));
    assert_eq!(d_down["last_error"], "HTTP 500: boom");
    assert!(d_robot["last_error"].as_str().unwrap().contains("93000"), "a robot's 200 with an error code is a failure: {d_robot}");
    assert_eq!(d_gone["status"], "failed", "an endpoint that was removed fails at once: {d_gone}");
    assert_eq!(drain(&app.app, None).await, 0, "the next attempt waits for its back-off");

    // Seven more attempts, each after its back-off, use up the eight.
    for k in 1..=7 {
        let later = app.app.clone().with_clock(Arc::new(At(Utc::now() + Duration::hours(2 * k))));
        assert_eq!(drain(&later, None).await, 2, "attempt {}", k + 1);
    }
    let failed = deliveries(&admin, "?status=failed").await;
    assert_eq!(failed["counts"]["failed"], 3, "{failed}");
    let d = failed["items"].as_array().unwrap().iter().find(|d| d["endpoint_id"] == down.as_str()).unwrap().clone();
    assert_eq!((d["attempts"].as_i64(), d["last_error"].as_str()), (Some(8), Some("HTTP 500: boom")));
    assert_eq!(sink.at("/down").len(), 8);

    // The receiver is back; an admin sends the failed delivery again, once.
    sink.reply("/down", Reply::default());
    let id = d["id"].as_str().unwrap();
    let r = admin.post(&format!("/api/v1/deliveries/{id}/retry"), json!({})).await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("pending")), "{}", r.body);
    assert_eq!(drain(&app.app, None).await, 1);
    let again = admin.post(&format!("/api/v1/deliveries/{id}/retry"), json!({})).await;
    assert_eq!((again.status, again.code()), (StatusCode::UNPROCESSABLE_ENTITY, "not_failed"));
    assert_eq!(deliveries(&admin, "").await["counts"]["sent"], 1);
    assert_eq!(admin.post("/api/v1/deliveries/not-an-id/retry", json!({})).await.status, StatusCode::NOT_FOUND);
    let bad = admin.get("/api/v1/deliveries?status=lost").await;
    assert_eq!((bad.status, bad.error_fields()), (StatusCode::UNPROCESSABLE_ENTITY, vec!["status".to_string()]));
    app.stop().await;
}

/// Polls without blocking the test's runtime (the sink and the server run on it).
async fn wait_for(what: &str, deadline: StdDuration, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

/// Two real `kairos serve` processes on the test database deliver one outbox; one is
/// killed (SIGKILL) while it has deliveries in flight. Every delivery arrives, and the only
/// messages that arrive twice are ones the killed process had claimed — re-sent once its
/// lease ran out, with the same delivery id so a receiver drops them.
#[tokio::test]
async fn two_serve_processes_share_the_outbox_and_killing_one_loses_nothing() {
    const DEALS: usize = 120;
    const BATCH: usize = 8;
    let sink = HttpSink::start().await;
    // Slow enough that a pass is still in flight when the kill comes.
    sink.reply("/hook", Reply { delay: StdDuration::from_millis(250), ..Reply::default() });
    let app = TestApp::spawn().await;
    let admin = app.workspace("Acme").await.admin;
    admin
        .create("/api/v1/webhooks", json!({"name": "Hook", "kind": "generic", "url": format!("{}/hook", sink.base), "secret": "k", "events": ["opportunity.created"]}))
        .await;
    let acct = admin.create("/api/v1/accounts", json!({"name": "Load Co"})).await;
    for i in 0..DEALS {
        admin.create("/api/v1/opportunities", json!({"name": format!("Deal {i}"), "account_id": acct})).await;
    }

    let data = std::env::temp_dir().join(format!("kairos-outbox-kill-{}", uuid::Uuid::now_v7().simple()));
    let serve = || {
        Command::new(env!("CARGO_BIN_EXE_kairos"))
            .arg("serve")
            .env("DATABASE_URL", &app.database_url)
            .env("KAIROS_LISTEN", "127.0.0.1:0")
            .env("KAIROS_DATA_DIR", &data)
            .env("KAIROS_LOG", "warn")
            .env("KAIROS_OUTBOX_POLL_MS", "50")
            .env("KAIROS_OUTBOX_BATCH", BATCH.to_string())
            .env("KAIROS_OUTBOX_LEASE_SECONDS", "5")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kairos serve starts")
    };
    let mut a = serve();
    let mut b = serve();

    wait_for("the first deliveries", StdDuration::from_secs(60), || sink.at("/hook").len() >= 3 * BATCH).await;
    a.kill().expect("the first instance is killed");
    a.wait().unwrap();

    let distinct = |got: &[kairos_testkit::sinks::Received]| {
        let mut ids: Vec<&str> = got.iter().map(|r| r.headers["x-kairos-delivery"].as_str()).collect();
        ids.sort();
        ids.dedup();
        ids.len()
    };
    wait_for("every delivery", StdDuration::from_secs(90), || distinct(&sink.at("/hook")) == DEALS).await;
    // Wait for the survivor to record its last pass before reading the outbox.
    let started = Instant::now();
    loop {
        let counts = deliveries(&admin, "").await["counts"].clone();
        if counts["sent"] == DEALS {
            break;
        }
        assert!(started.elapsed() < StdDuration::from_secs(30), "deliveries not all recorded as sent: {counts}");
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    b.kill().unwrap();
    b.wait().unwrap();

    let got = sink.at("/hook");
    let twice = got.len() - DEALS;
    let all = deliveries(&admin, "?limit=500").await;
    let claimed_twice = all["items"].as_array().unwrap().iter().filter(|d| d["attempts"].as_i64().unwrap() > 1).count();
    assert!(claimed_twice <= BATCH, "{claimed_twice} deliveries were claimed twice; only the killed instance's last claim (at most {BATCH}) may be");
    assert!(twice <= BATCH, "{twice} deliveries arrived twice; only the killed instance's batch in flight (at most {BATCH}) may");
    let mut bodies: HashMap<&str, &str> = HashMap::new();
    for r in &got {
        let id = r.headers["x-kairos-delivery"].as_str();
        let prev = bodies.insert(id, r.body.as_str());
        assert!(prev.is_none_or(|p| p == r.body), "a re-sent delivery carries the same message");
    }
    let _ = std::fs::remove_dir_all(&data);
    app.stop().await;
}
