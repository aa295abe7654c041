//! Leads (PRODUCT.md §3): capture with scoring, assignment and dedup; the pool; statuses;
//! conversion all or nothing; public web forms.

use kairos_testkit::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixture::{Org, org};

async fn set_rules(o: &Org) {
    let rules = json!({
        "version": 0,
        "scoring": {
            "threshold": 40,
            "bant_points": 10,
            "rules": [
                {"name": "Exhibition", "when": [{"field": "source", "op": "eq", "value": "exhibition"}], "points": 10},
                {"name": "Budget approved", "when": [{"field": "budget_approved", "op": "eq", "value": true}], "points": 15}
            ]
        },
        "assignment": {
            "rules": [
                {"name": "East exhibitions", "when": [{"field": "source", "op": "eq", "value": "exhibition"}, {"field": "region", "op": "eq", "value": "华东"}],
                 "assign_to": {"strategy": "round_robin", "org_unit_id": o.sh1}},
                {"name": "Big budget", "when": [{"field": "budget_amount", "op": "gte", "value": 100000000}],
                 "assign_to": {"strategy": "user", "user_id": o.rep_bj_id}}
            ]
        }
    });
    let r = o.admin.send(Method::PUT, "/api/v1/lead-rules", Some(rules), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["version"], 1);
}

fn lead(extra: Value) -> Value {
    let mut body = json!({"company": "华东精密制造有限公司", "contact_name": "王经理", "phone": "+86 139-0000-1111"});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

async fn total(c: &kairos_testkit::Client, path: &str) -> i64 {
    let r = c.get(path).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r.body["total"].as_i64().unwrap()
}

#[tokio::test]
async fn captured_leads_are_scored_assigned_deduplicated_and_claimed_from_the_pool() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    // Rule sets are checked when saved: a rule that could never match is refused by path.
    let r = o
        .admin
        .send(Method::PUT, "/api/v1/lead-rules", Some(json!({"version": 0, "scoring": {"rules": [{"name": "x", "when": [{"field": "budget_amount", "op": "eq", "value": "big"}], "points": 5}]},
            "assignment": {"rules": [{"name": "y", "assign_to": {"strategy": "user", "user_id": "0190f0f0-0000-7000-8000-000000000000"}}]}})), &[])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.error_fields(), ["scoring.rules[0].when[0].value", "assignment.rules[0].assign_to.user_id"]);
    let r = o.rep_sh.send(Method::PUT, "/api/v1/lead-rules", Some(json!({"version": 0, "scoring": {}, "assignment": {}})), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    set_rules(&o).await;

    // An exhibition lead from the east with a full BANT: 10 + 15 + 4 × 10 = 65 ≥ 40.
    let r = o
        .admin
        .post(
            "/api/v1/leads",
            lead(json!({"source": "展会", "region": "华东", "campaign": "CIIF 2026", "budget_amount": 50000000, "budget_approved": true,
                "is_decision_maker": true, "need_description": "MES upgrade", "need_match": 80, "expected_purchase_date": "2027-03-01"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["outcome"], "created");
    assert_eq!(r.body["source"], "exhibition");
    assert_eq!(r.body["score"], 65);
    assert_eq!(r.body["status"], "qualified");
    assert_eq!(r.body["owner_id"], o.rep_sh_id.as_str());
    assert_eq!(r.body["assigned_by_rule"], "East exhibitions");
    let rules: Vec<&str> = r.body["score_hits"].as_array().unwrap().iter().map(|h| h["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["Exhibition", "Budget approved", "BANT: budget", "BANT: authority", "BANT: need", "BANT: timeline"]);
    let a = r.id();
    // The new owner hears of it.
    let inbox = o.rep_sh.get("/api/v1/notifications?unread=true").await;
    assert_eq!(inbox.body["unread"], 1, "{}", inbox.body);
    assert_eq!(inbox.body["items"][0]["kind"], "lead_assigned");
    assert_eq!(inbox.body["items"][0]["entity_id"], a.as_str());

    // A big budget goes to the named rep; nothing matching goes to the pool.
    let b = o.admin.post("/api/v1/leads", json!({"source": "web", "company": "北方重工", "email": "buyer@north.example", "budget_amount": 200000000})).await;
    assert_eq!(b.body["owner_id"], o.rep_bj_id.as_str(), "{}", b.body);
    assert_eq!(b.body["assigned_by_rule"], "Big budget");
    let c = o.admin.post("/api/v1/leads", json!({"source": "ad", "contact_name": "Chen", "email": "chen@somewhere.example"})).await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    assert_eq!(c.body["owner_id"], Value::Null);
    assert_eq!(c.body["assigned_by_rule"], "no assignment rule matched");
    assert_eq!(c.body["status"], "new");
    let c = c.id();

    // Scopes: the Beijing rep sees their lead and the pool, not Shanghai's.
    assert_eq!(total(&o.rep_bj, "/api/v1/leads").await, 2);
    assert_eq!(o.rep_bj.get(&format!("/api/v1/leads/{a}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(total(&o.rep_bj, "/api/v1/leads?owner_id=pool").await, 1);
    assert_eq!(total(&o.director, "/api/v1/leads").await, 3);
    assert_eq!(total(&o.director, "/api/v1/leads?status=qualified,new&score_min=60").await, 1);
    assert_eq!(total(&o.director, "/api/v1/leads?q=13900001111").await, 1, "phone search in any spelling");

    // Claiming: one rep wins, the next is told the lead is taken.
    let r = o.rep_bj.post(&format!("/api/v1/leads/{c}/claim"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["owner_id"], o.rep_bj_id.as_str());
    let r = o.rep_sh.post(&format!("/api/v1/leads/{c}/claim"), json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "out of the pool, out of sight: {}", r.body);
    let r = o.director.post(&format!("/api/v1/leads/{c}/claim"), json!({})).await;
    assert_eq!(r.code(), "not_in_pool");

    // Duplicates: the same phone in another spelling is refused, naming the lead…
    let r = o.admin.post("/api/v1/leads", json!({"company": "Someone", "phone": "13900001111", "notes": "met again at the booth"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["error"]["details"]["matches"][0]["entity"], "lead");
    assert_eq!(r.body["error"]["details"]["matches"][0]["id"], a.as_str());
    // …or merged into it when asked: nothing doubled, notes appended, owner kept.
    let r = o
        .admin
        .post("/api/v1/leads", json!({"company": "Someone", "phone": "13900001111", "notes": "met again at the booth", "on_duplicate": "merge"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["outcome"], "merged");
    assert_eq!(r.body["id"], a.as_str());
    assert_eq!(r.body["company"], "华东精密制造有限公司");
    assert!(r.body["notes"].as_str().unwrap().contains("met again at the booth"));
    assert_eq!(r.body["owner_id"], o.rep_sh_id.as_str());
    assert_eq!(total(&o.director, "/api/v1/leads").await, 3);

    // A lead whose e-mail a contact already has: refused, or kept linked to that customer.
    let acc = o.admin.create("/api/v1/accounts", json!({"name": "Existing Customer Ltd"})).await;
    let contact = o.admin.create("/api/v1/contacts", json!({"account_id": acc, "name": "Liu", "email": "liu@existing.example"})).await;
    let r = o.admin.post("/api/v1/leads", json!({"contact_name": "Liu", "email": "LIU@existing.example"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["error"]["details"]["matches"][0]["entity"], "contact");
    let r = o.admin.post("/api/v1/leads", json!({"contact_name": "Liu", "email": "LIU@existing.example", "on_duplicate": "merge"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["contact_id"], contact.as_str());
    assert_eq!(r.body["account_id"], acc.as_str());
    // A company that is already an account is a duplicate too.
    let r = o.admin.post("/api/v1/leads", json!({"company": "Existing Customer Co., Ltd.", "phone": "021-5555-0000"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["error"]["details"]["matches"][0]["entity"], "account");

    // Every bad field at once, and nothing written.
    let before = total(&o.director, "/api/v1/leads").await;
    let r = o.admin.post("/api/v1/leads", json!({"source": "pigeon", "email": "not-mail", "need_match": 101, "budget_amount": -5})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["budget_amount", "company", "email", "need_match", "source"]);
    let r = o.admin.post("/api/v1/leads", json!({"company": "Nowhere"})).await;
    assert_eq!(r.error_fields(), ["phone"], "a lead nobody can reach is refused: {}", r.body);
    assert_eq!(total(&o.director, "/api/v1/leads").await, before);

    // Statuses: disqualifying needs a reason; facts change the score.
    let b = b.id();
    let r = o.rep_bj.patch(&format!("/api/v1/leads/{b}"), json!({"version": 1, "status": "disqualified"})).await;
    assert_eq!(r.error_fields(), ["disqualify_reason"]);
    let r = o.rep_bj.patch(&format!("/api/v1/leads/{b}"), json!({"version": 1, "budget_approved": true, "is_decision_maker": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["score"], 15 + 10 + 10);
    let r = o.rep_bj.patch(&format!("/api/v1/leads/{b}"), json!({"version": 2, "status": "disqualified", "disqualify_reason": "no budget this year"})).await;
    assert_eq!(r.body["status"], "disqualified", "{}", r.body);
    let r = o.rep_bj.patch(&format!("/api/v1/leads/{b}"), json!({"version": 3, "status": "converted"})).await;
    assert_eq!(r.error_fields(), ["status"]);
    // Handing a lead over notifies the new owner; null returns it to the pool.
    let r = o.manager_sh.patch(&format!("/api/v1/leads/{a}"), json!({"version": 2, "owner_id": o.manager_sh_id})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = o.admin.patch(&format!("/api/v1/leads/{a}"), json!({"version": 3, "owner_id": o.rep_sh_id})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(o.rep_sh.get("/api/v1/notifications").await.body["unread"], 2);
    let r = o.rep_sh.post("/api/v1/notifications/all/read", json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(o.rep_sh.get("/api/v1/notifications").await.body["unread"], 0);
    app.stop().await;
}

#[tokio::test]
async fn conversion_creates_or_matches_everything_in_one_transaction() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let rep = &o.rep_sh;
    let r = rep
        .post(
            "/api/v1/leads",
            lead(json!({"source": "exhibition", "campaign": "CIIF 2026", "owner_id": o.rep_sh_id, "budget_amount": 80000000, "budget_approved": true,
                "is_decision_maker": true, "expected_purchase_date": "2027-02-15", "title": "采购经理"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let a = r.id();

    // A failure anywhere leaves nothing behind: an unknown process refuses the opportunity,
    // and the account and contact created before it in the same transaction are gone too.
    let r = rep.post(&format!("/api/v1/leads/{a}/convert"), json!({"process_id": "0190f0f0-0000-7000-8000-000000000000"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(total(rep, "/api/v1/accounts").await, 0);
    assert_eq!(total(rep, "/api/v1/contacts").await, 0);
    assert_eq!(rep.get(&format!("/api/v1/leads/{a}")).await.body["status"], "new");

    let r = rep.post(&format!("/api/v1/leads/{a}/convert"), json!({"version": 1})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["account_created"], true);
    assert_eq!(r.body["account"]["name"], "华东精密制造有限公司");
    assert_eq!(r.body["account"]["owner_id"], o.rep_sh_id.as_str());
    assert_eq!(r.body["contact"]["name"], "王经理");
    assert_eq!(r.body["contact"]["decision_role"], "decision_maker");
    assert_eq!(r.body["contact"]["phone"], "+86 139-0000-1111");
    let opp = &r.body["opportunity"];
    assert_eq!(opp["source"], "exhibition");
    assert_eq!(opp["amount"], 80000000);
    assert_eq!(opp["expected_close_date"], "2027-02-15");
    assert_eq!(opp["budget_approved"], true);
    assert_eq!(opp["name"], "华东精密制造有限公司 · CIIF 2026");
    assert_eq!(opp["contacts"][0]["contact_id"], r.body["contact"]["id"]);
    let lead_after = &r.body["lead"];
    assert_eq!(lead_after["status"], "converted");
    assert_eq!(lead_after["opportunity_id"], opp["id"]);
    let account = r.body["account"]["id"].as_str().unwrap().to_string();

    // The deal is won: the lead-source report follows the lead to its revenue.
    let opp_id = opp["id"].as_str().unwrap().to_string();
    let today = chrono::Utc::now().date_naive().to_string();
    let r = rep
        .post(&format!("/api/v1/opportunities/{opp_id}/close"), json!({"outcome": "won", "version": 1, "contract_number": "HT-L-1", "contract_signed_on": today}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    rep.create("/api/v1/leads", json!({"source": "exhibition", "company": "另一家展会客户", "phone": "13300000000", "owner_id": o.rep_sh_id})).await;
    rep.create("/api/v1/leads", json!({"source": "web", "company": "官网访客公司", "phone": "13300000001", "owner_id": o.rep_sh_id})).await;
    let report = rep.get("/api/v1/reports/lead-sources").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let line = |source: &str| report.body["sources"].as_array().unwrap().iter().find(|l| l["source"] == source).cloned().unwrap();
    let ex = line("exhibition");
    assert_eq!((ex["leads"].as_u64(), ex["converted"].as_u64(), ex["opportunities_won"].as_u64()), (Some(2), Some(1), Some(1)), "{ex}");
    assert_eq!(ex["revenue"], 80000000);
    assert_eq!(ex["conversion_rate"], 0.5);
    assert_eq!(ex["win_rate"], 1.0);
    assert_eq!(ex["days_to_convert"]["count"], 1);
    assert_eq!(line("web")["leads"], 1);
    assert_eq!(line("partner")["leads"], 0, "every source is listed");
    assert_eq!(report.body["total"]["leads"], 3);
    assert_eq!(o.rep_bj.get("/api/v1/reports/lead-sources").await.body["total"]["leads"], 0, "the report follows the lead scope");
    let csv = rep.get("/api/v1/reports/lead-sources?format=csv").await;
    assert!(csv.body.as_str().unwrap().contains("exhibition,2,"), "{}", csv.body);
    assert_eq!(rep.get("/api/v1/reports/lead-sources?period=2026-13").await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Read-only from now on.
    let r = rep.patch(&format!("/api/v1/leads/{a}"), json!({"version": 2, "notes": "x"})).await;
    assert_eq!(r.code(), "lead_converted", "{}", r.body);
    let r = rep.post(&format!("/api/v1/leads/{a}/convert"), json!({})).await;
    assert_eq!(r.code(), "lead_converted");

    // A second lead from the same company (another spelling) matches the account; no
    // opportunity when not asked for.
    let second = rep
        .create("/api/v1/leads", json!({"company": "华东精密制造", "contact_name": "赵工", "email": "zhao@hdjm.example", "owner_id": o.rep_sh_id, "on_duplicate": "merge"}))
        .await;
    let r = rep.post(&format!("/api/v1/leads/{second}/convert"), json!({"create_opportunity": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["account_created"], false);
    assert_eq!(r.body["account"]["id"], account.as_str());
    assert_eq!(r.body["contact"]["decision_role"], "other");
    assert_eq!(r.body["opportunity"], Value::Null);
    assert_eq!(total(rep, "/api/v1/accounts").await, 1);
    assert_eq!(total(rep, &format!("/api/v1/contacts?account_id={account}")).await, 2);
    assert_eq!(total(rep, "/api/v1/opportunities").await, 1);

    // A company that is someone else's account (out of scope) is refused, not duplicated.
    o.rep_bj.create("/api/v1/accounts", json!({"name": "北京数据科技有限公司"})).await;
    let third = rep.create("/api/v1/leads", json!({"company": "北京数据科技", "contact_name": "孙", "phone": "13700000000", "owner_id": o.rep_sh_id, "on_duplicate": "merge"})).await;
    let r = rep.post(&format!("/api/v1/leads/{third}/convert"), json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.code(), "account_outside_scope");
    assert_eq!(r.body["error"]["details"]["owner_id"], o.rep_bj_id.as_str());
    app.stop().await;
}

#[tokio::test]
async fn public_forms_take_leads_without_login_within_their_limits() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let form = o
        .admin
        .post("/api/v1/lead-forms", json!({"name": "Website contact", "campaign": "Homepage", "allowed_origins": ["https://www.acme.example/"], "per_address_per_hour": 4}))
        .await;
    assert_eq!(form.status, StatusCode::CREATED, "{}", form.body);
    assert_eq!(form.body["allowed_origins"], json!(["https://www.acme.example"]));
    let key = form.body["form_key"].as_str().unwrap().to_string();
    let url = format!("/api/v1/public/leads/{key}");
    let r = o.admin.post("/api/v1/lead-forms", json!({"name": "Bad", "allowed_origins": ["acme.example"], "per_address_per_hour": 0})).await;
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["allowed_origins[0]", "per_address_per_hour"]);

    let visitor = app.anonymous();
    let origin = [("origin", "https://www.acme.example")];
    let r = visitor
        .send(Method::POST, &url, Some(json!({"company": "Visitor Co", "contact_name": "Amy", "email": "amy@visitor.example", "message": "Please call me", "utm": "ignored"})), &origin)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.headers["access-control-allow-origin"], "https://www.acme.example");
    let found = o.director.get("/api/v1/leads?q=amy@visitor.example").await;
    assert_eq!(found.body["total"], 1, "{}", found.body);
    let l = &found.body["items"][0];
    assert_eq!(l["source"], "web");
    assert_eq!(l["campaign"], "Homepage");
    assert!(l["notes"].as_str().unwrap().contains("Please call me"));

    // A plain HTML form post works too; a second visit by the same person merges.
    let r = visitor.raw(Method::POST, &url, "application/x-www-form-urlencoded", b"contact_name=Amy&email=amy%40visitor.example&phone=13811112222".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let found = o.director.get("/api/v1/leads?q=amy@visitor.example").await;
    assert_eq!(found.body["total"], 1);
    assert_eq!(found.body["items"][0]["phone"], "13811112222");

    // Bots filling the honeypot are thanked and forgotten.
    let r = visitor.post(&url, json!({"contact_name": "Bot", "email": "bot@spam.example", "website": "http://spam.example"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(o.director.get("/api/v1/leads?q=bot@spam.example").await.body["total"], 0);

    // Other web sites may not post; the preflight says so too.
    let r = visitor.send(Method::POST, &url, Some(json!({"contact_name": "X", "email": "x@x.example"})), &[("origin", "https://evil.example")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "origin_not_allowed");
    let r = visitor.send(Method::OPTIONS, &url, None, &[("origin", "https://www.acme.example"), ("access-control-request-method", "POST")]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.headers["access-control-allow-methods"], "POST");
    let r = visitor.send(Method::OPTIONS, &url, None, &[("origin", "https://evil.example"), ("access-control-request-method", "POST")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Bad input names the field; an unknown key is 404; the fifth accepted post in an hour is 429.
    let r = visitor.post(&url, json!({"contact_name": "Y", "email": "nope"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), ["email"]);
    assert_eq!(visitor.post("/api/v1/public/leads/no-such-form", json!({"contact_name": "Z", "email": "z@z.example"})).await.status, StatusCode::NOT_FOUND);
    let r = visitor.post(&url, json!({"contact_name": "Third", "email": "third@visitor.example"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = visitor.post(&url, json!({"contact_name": "Fourth", "email": "fourth@visitor.example"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = visitor.post(&url, json!({"contact_name": "Fifth", "email": "fifth@visitor.example"})).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    // A switched-off form takes nothing.
    let id = form.body["id"].as_str().unwrap();
    let r = o.admin.patch(&format!("/api/v1/lead-forms/{id}"), json!({"version": 1, "active": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(visitor.post(&url, json!({"contact_name": "Late", "email": "late@visitor.example"})).await.status, StatusCode::NOT_FOUND);
    app.stop().await;
}
