//! Support requests (§6): a priority deal opens its presales request by itself (once); a
//! rep asks finance, who accepts, finishes, and both sides rate; an unanswered request
//! reaches the requester's manager once after its deadline; parties and scope decide who
//! sees and does what.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kairos_app::Clock;
use kairos_testkit::{PASSWORD, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixture::org;

#[derive(Debug)]
struct At(DateTime<Utc>);

impl Clock for At {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn items(v: &Value) -> Vec<Value> {
    v.as_array().unwrap().clone()
}

#[tokio::test]
async fn support_requests_are_answered_finished_rated_and_chased_when_nobody_answers() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let person = |email: &str, role: &str| json!({"email": email, "display_name": email.split('@').next().unwrap(), "password": PASSWORD, "org_unit_id": o.hq, "roles": [role]});
    o.admin.create("/api/v1/users", person("presales@acme.test", "presales")).await;
    // Finance reads Kairos in Chinese; the workspace speaks English.
    let mut fin = person("finance@acme.test", "finance");
    fin["locale"] = json!("zh-CN");
    let finance_id = o.admin.create("/api/v1/users", fin).await;
    let presales = app.login("presales@acme.test", PASSWORD).await;
    let finance = app.login("finance@acme.test", PASSWORD).await;

    // A deal with health above 85 and amount above 500,000 becomes a priority deal, and
    // presales is asked for support by itself, with 48 hours to answer; once per deal.
    let acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "优先客户"})).await;
    let dm = o.rep_sh.create("/api/v1/contacts", json!({"account_id": acct, "name": "决策人", "decision_role": "decision_maker"})).await;
    let inf = o.rep_sh.create("/api/v1/contacts", json!({"account_id": acct, "name": "影响者", "decision_role": "influencer"})).await;
    let deal = o.rep_sh.create("/api/v1/opportunities", json!({"name": "数据中台", "account_id": acct})).await;
    let r = o
        .rep_sh
        .patch(&format!("/api/v1/opportunities/{deal}"), json!({
            "version": 1, "amount": 80_000_000, "need_items": [9,9,9,9,9,9,9,9,9,9], "budget_approved": true, "in_annual_plan": true,
            "contacts": [{"contact_id": dm, "reached": true}, {"contact_id": inf, "reached": true}]
        }))
        .await;
    assert_eq!((r.status, &r.body["priority"]), (StatusCode::OK, &json!(true)), "{}", r.body);
    let r = o.rep_sh.patch(&format!("/api/v1/opportunities/{deal}"), json!({"version": 2, "amount": 90_000_000})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let incoming = items(&presales.get("/api/v1/support-requests?view=incoming").await.body);
    assert_eq!(incoming.len(), 1, "{incoming:?}");
    let auto = &incoming[0];
    assert_eq!((auto["origin"].as_str(), auto["team"].as_str(), auto["opportunity_name"].as_str()), (Some("priority"), Some("presales"), Some("数据中台")));
    let opened: DateTime<Utc> = auto["created_at"].as_str().unwrap().parse().unwrap();
    let due: DateTime<Utc> = auto["accept_by"].as_str().unwrap().parse().unwrap();
    assert_eq!(due - opened, Duration::hours(48));
    assert!(items(&finance.get("/api/v1/support-requests?view=incoming").await.body).is_empty(), "finance is not asked");
    // … and the director (the only one, at HQ above Shanghai) is asked to meet the customer
    // within 7 working days: a task of theirs on the deal and a notification, once.
    let meet = items(&o.director.get("/api/v1/tasks?origin=priority_meeting").await.body["items"]);
    assert_eq!(meet.len(), 1, "{meet:?}");
    assert_eq!((meet[0]["entity"].as_str(), meet[0]["entity_id"].as_str()), (Some("opportunity"), Some(deal.as_str())));
    assert_eq!(meet[0]["title"].as_str().unwrap(), format!("Director meeting on priority deal {} 数据中台", auto["opportunity_number"].as_str().unwrap()));
    let meet_by: DateTime<Utc> = meet[0]["due_at"].as_str().unwrap().parse().unwrap();
    // Seven working days span at least one weekend: the end of the seventh is 9 calendar days
    // on or more, less the part of the first day already gone (a Sunday evening's deal is due
    // at the end of the Tuesday after next: 8 days and 23 hours).
    assert!((Duration::days(8)..Duration::days(16)).contains(&(meet_by - opened)), "{meet_by} from {opened}");
    let told = items(&o.director.get("/api/v1/notifications").await.body["items"]);
    let told: Vec<&Value> = told.iter().filter(|n| n["kind"] == "priority_deal").collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0]["message"].as_str().unwrap().contains("became a priority deal: please meet the customer by"), "{}", told[0]);
    assert!(items(&o.rep_sh.get("/api/v1/tasks?origin=priority_meeting").await.body["items"]).is_empty(), "the rep has no meeting task");

    // Every bad field of a request is named, and nothing is stored.
    let bad = o
        .rep_sh
        .post("/api/v1/support-requests", json!({"opportunity_id": deal, "team": "finance", "kind": "", "description": "x", "due_on": "2020-01-01", "assignee_id": o.manager_sh_id}))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.error_fields(), vec!["kind", "due_on", "assignee_id"]);
    let other = o.rep_bj.post("/api/v1/support-requests", json!({"opportunity_id": deal, "team": "finance", "kind": "报价审核", "description": "x"})).await;
    assert_eq!(other.error_fields(), vec!["opportunity_id"], "a deal outside the caller's scope");

    // The rep asks finance by name; finance accepts, finishes; both rate once.
    let req = o
        .rep_sh
        .create("/api/v1/support-requests", json!({"opportunity_id": deal, "team": "finance", "kind": "报价审核", "description": "请审核折扣", "expected_output": "审核意见", "assignee_id": finance_id}))
        .await;
    let path = format!("/api/v1/support-requests/{req}");
    let asked = finance.get("/api/v1/notifications").await.body;
    assert!(
        items(&asked["items"]).iter().any(|n| n["message"].as_str().unwrap().contains("请求财务支持商机")),
        "each person is told in their own language: {asked}"
    );
    assert_eq!(presales.get(&path).await.status, StatusCode::NOT_FOUND, "presales is no party to a finance request");
    let r = o.rep_sh.post(&format!("{path}/accept"), json!({})).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "not_supporter"));
    let r = finance.post(&format!("{path}/reject"), json!({})).await;
    assert_eq!(r.error_fields(), vec!["reason"]);
    let r = finance.post(&format!("{path}/accept"), json!({})).await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("accepted")), "{}", r.body);
    let inbox = o.rep_sh.get("/api/v1/notifications").await.body;
    assert!(items(&inbox["items"]).iter().any(|n| n["kind"] == "support_request" && n["message"].as_str().unwrap().contains("accepted")), "{inbox}");
    let work = items(&finance.get("/api/v1/tasks?origin=support_request").await.body["items"]);
    assert_eq!(work.len(), 1, "accepting makes the supporter's task: {work:?}");
    assert!(work[0]["title"].as_str().unwrap().starts_with("报价审核: "));
    assert_eq!(o.rep_sh.post(&format!("{path}/rate"), json!({"rating": 8})).await.code(), "not_done");
    let r = finance.post(&format!("{path}/done"), json!({"note": "折扣可批"})).await;
    assert_eq!(r.body["status"], "done", "{}", r.body);
    assert!(items(&finance.get("/api/v1/tasks?origin=support_request").await.body["items"]).is_empty(), "done closes the task");
    assert_eq!(o.rep_sh.post(&format!("{path}/rate"), json!({"rating": 11})).await.error_fields(), vec!["rating"]);
    assert_eq!(o.rep_sh.post(&format!("{path}/rate"), json!({"rating": 9, "note": "很及时"})).await.status, StatusCode::OK);
    let r = finance.post(&format!("{path}/rate"), json!({"rating": 7})).await;
    assert_eq!((r.body["requester_rating"].as_i64(), r.body["supporter_rating"].as_i64()), (Some(9), Some(7)), "{}", r.body);
    assert_eq!(o.rep_sh.post(&format!("{path}/rate"), json!({"rating": 1})).await.code(), "rated");
    assert_eq!(o.rep_sh.post(&format!("{path}/fly"), json!({})).await.status, StatusCode::NOT_FOUND);

    // The deal's requests, for someone who sees the deal; not for someone who does not.
    let on_deal = items(&o.manager_sh.get(&format!("/api/v1/support-requests?view=deal&opportunity_id={deal}")).await.body);
    assert_eq!(on_deal.len(), 2);
    assert_eq!(o.rep_bj.get(&format!("/api/v1/support-requests?view=deal&opportunity_id={deal}")).await.status, StatusCode::NOT_FOUND);

    // Nobody answered presales' request: 49 hours on, the scan tells the rep's manager (the
    // Shanghai branch's), once.
    let r = o.admin.patch(&format!("/api/v1/org-units/{}", o.sh), json!({"version": 1, "manager_id": o.manager_sh_id})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let later = app.app.clone().with_clock(Arc::new(At(Utc::now() + Duration::hours(49))));
    later.scan_followups().await.unwrap();
    later.scan_followups().await.unwrap();
    let told: Vec<Value> = items(&o.manager_sh.get("/api/v1/notifications").await.body["items"])
        .into_iter()
        .filter(|n| n["kind"] == "support_request" && n["entity_id"] == auto["id"])
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0]["message"].as_str().unwrap().contains("presales"));
    app.stop().await;
}
