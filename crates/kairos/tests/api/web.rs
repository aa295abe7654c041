//! The browser application over real HTTP with a cookie session: every page renders for
//! every role, the kanban's move goes through the stage engine (refusal with the gate
//! form, supplying it inline, retry), edits keep optimistic locking, and scopes hold.

use kairos_testkit::{Client, PASSWORD, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixture::{Org, org};

/// A browser: cookies, no redirects followed, and the page's CSRF token.
pub(crate) struct Browser {
    http: reqwest::Client,
    base: String,
    csrf: String,
}

impl Browser {
    pub(crate) async fn login(app: &TestApp, email: &str) -> Browser {
        let http = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let page = http.get(format!("{}/login", app.address)).send().await.unwrap().text().await.unwrap();
        let token = between(&page, "name=\"csrf_token\" value=\"", "\"");
        let r = http.post(format!("{}/login", app.address)).form(&[("email", email), ("password", PASSWORD), ("csrf_token", &token)]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "login of {email}");
        let home = http.get(format!("{}/", app.address)).send().await.unwrap().text().await.unwrap();
        let csrf = between(&home, "<meta name=\"csrf-token\" content=\"", "\"");
        Browser { http, base: app.address.clone(), csrf }
    }

    pub(crate) async fn page(&self, path: &str) -> (StatusCode, String) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub(crate) async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let r = self.http.post(format!("{}{path}", self.base)).header("x-csrf-token", &self.csrf).header("hx-request", "true").form(form).send().await.unwrap();
        let outcome = r.headers().get("x-kairos-outcome").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        (r.status(), outcome, r.text().await.unwrap())
    }
}

fn between(text: &str, start: &str, end: &str) -> String {
    text.split(start).nth(1).and_then(|r| r.split(end).next()).unwrap_or_else(|| panic!("{start} not in page")).to_string()
}

/// A deal of the Shanghai rep whose health passes (so the gate asks only for fields,
/// checklist and documents).
async fn healthy_deal(o: &Org, c: &Client, name: &str) -> String {
    let acct = c.create("/api/v1/accounts", json!({"name": format!("{name} 客户")})).await;
    let dm = c.create("/api/v1/contacts", json!({"account_id": acct, "name": "决策人", "decision_role": "decision_maker"})).await;
    let inf = c.create("/api/v1/contacts", json!({"account_id": acct, "name": "影响者", "decision_role": "influencer", "attitude": "champion"})).await;
    let id = c.create("/api/v1/opportunities", json!({"name": name, "account_id": acct})).await;
    let r = c
        .patch(&format!("/api/v1/opportunities/{id}"), json!({
            "version": 1, "need_items": [9,9,9,9,9,9,9,9,9,9], "budget_approved": true, "in_annual_plan": true,
            "contacts": [{"contact_id": dm, "reached": true}, {"contact_id": inf, "reached": true}]
        }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let _ = o;
    id
}

async fn stage_ids(c: &Client) -> Vec<String> {
    let p = c.get("/api/v1/processes").await;
    p.body[0]["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn every_page_renders_for_every_role_and_pages_need_a_session() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let id = healthy_deal(&o, &o.rep_sh, "页面 <测试>").await;
    let anon = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = anon.get(format!("{}/pipeline", app.address)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login");
    let r = anon.get(format!("{}/pipeline/board", app.address)).header("hx-request", "true").send().await.unwrap();
    assert_eq!((r.status(), r.headers()["hx-redirect"].to_str().unwrap()), (StatusCode::UNAUTHORIZED, "/login"));

    let mut pages = vec!["/".to_string(), "/pipeline".into(), "/pipeline/board".into(), "/opportunities".into(), "/accounts".into(), "/approvals".into(), "/inbox".into(), format!("/opportunities/{id}"),
        "/contacts".into(), "/settings/targets".into(), "/leads".into()];
    for r in ["funnel", "conversion", "dwell", "cycle", "win_rate", "loss_reasons", "forecast", "movement", "trend", "team", "forecast_accuracy"] {
        pages.push(format!("/reports?report={r}"));
    }
    for email in ["admin@acme.test", "manager.sh@acme.test", "rep.sh@acme.test"] {
        let b = Browser::login(&app, email).await;
        for p in &pages {
            let (status, html) = b.page(p).await;
            assert_eq!(status, StatusCode::OK, "{email} {p}: {html}");
            assert!(!html.contains("<测试>"), "{p} must escape the deal name");
        }
        // The admin's settings pages: every one renders for the admin and is refused to others.
        for p in ["/settings", "/settings/org", "/settings/processes", "/settings/webhooks"] {
            let (status, html) = b.page(p).await;
            let expected = if email == "admin@acme.test" { StatusCode::OK } else { StatusCode::FORBIDDEN };
            assert_eq!(status, expected, "{email} {p}: {html}");
        }
        let (_, board) = b.page("/pipeline").await;
        assert!(board.contains("页面 &lt;测试&gt;"), "{email} sees the deal on the kanban");
        assert!(board.contains("/assets/htmx.min.js") && board.contains("/assets/sortable.min.js"));
    }
    // The Beijing rep cannot open the Shanghai deal, nor see it on the board.
    let bj = Browser::login(&app, "rep.bj@acme.test").await;
    let (status, _) = bj.page(&format!("/opportunities/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, board) = bj.page("/pipeline").await;
    assert!(!board.contains("页面"), "the board is scoped");
    // The embedded libraries are served from the binary.
    for (asset, marker) in [("htmx.min.js", "htmx"), ("echarts.min.js", "echarts"), ("sortable.min.js", "Sortable"), ("app.js", "kairos-moved")] {
        let r = anon.get(format!("{}/assets/{asset}", app.address)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
        assert!(r.text().await.unwrap().contains(marker), "{asset}");
    }
    assert_eq!(anon.get(format!("{}/assets/../Cargo.toml", app.address)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_refused_move_answers_the_gate_form_and_supplying_it_inline_moves_the_deal() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let id = healthy_deal(&o, &o.rep_sh, "Gate in the browser").await;
    let st = stage_ids(&o.rep_sh).await;
    let b = Browser::login(&app, "rep.sh@acme.test").await;

    // Without the CSRF header nothing moves.
    let r = b.http.post(format!("{}/opportunities/{id}/move", app.address)).form(&[("stage_id", st[1].as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let (status, outcome, html) = b.post_form(&format!("/opportunities/{id}/move"), &[("stage_id", &st[1]), ("version", "2")]).await;
    assert_eq!((status, outcome.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "refused"), "{html}");
    assert!(html.contains("name=\"f_amount\"") && html.contains("name=\"f_expected_close_date\""), "{html}");
    assert!(html.contains(&format!("name=\"tick\" value=\"{}:needs_survey\"", st[1])), "{html}");
    assert_eq!(o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await.body["stage_id"], st[0].as_str());

    // A bad amount comes back with the typed values kept and nothing saved.
    let form = reqwest::multipart::Form::new()
        .text("stage_id", st[1].clone())
        .text("f_amount", "12.345")
        .text("f_expected_close_date", "2027-01-31")
        .text("tick", format!("{}:needs_survey", st[1]));
    let r = b.http.post(format!("{}/opportunities/{id}/gate", app.address)).header("x-csrf-token", &b.csrf).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("value=\"2027-01-31\""), "typed values survive: {html}");
    assert!(html.contains("role=\"alert\""), "{html}");
    let unchanged = o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await;
    assert_eq!((unchanged.body["amount"].as_i64(), unchanged.body["stage_id"].as_str()), (Some(0), Some(st[0].as_str())));

    let form = reqwest::multipart::Form::new()
        .text("stage_id", st[1].clone())
        .text("f_amount", "500,000")
        .text("f_expected_close_date", "2027-01-31")
        .text("tick", format!("{}:needs_survey", st[1]));
    let r = b.http.post(format!("{}/opportunities/{id}/gate", app.address)).header("x-csrf-token", &b.csrf).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-kairos-outcome"], "moved");
    assert_eq!(r.headers()["hx-trigger"], "kairos-moved");
    let moved = o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await;
    assert_eq!(moved.body["stage_id"], st[1].as_str());
    assert_eq!(moved.body["amount"], 50_000_000);

    // The card shows the ticked item and the move in its history.
    let (_, card) = b.page(&format!("/opportunities/{id}")).await;
    assert!(card.contains("aria-current=\"step\""));
    assert!(card.contains("checked"), "the ticked checklist item shows");
}

#[tokio::test]
async fn an_approval_gated_move_is_pending_until_the_manager_approves_in_the_inbox_then_closes_won() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let r = o.admin.patch(&format!("/api/v1/org-units/{}", o.sh), json!({"version": 1, "manager_id": o.manager_sh_id})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = healthy_deal(&o, &o.rep_sh, "Needs approval").await;
    let st = stage_ids(&o.admin).await;
    let r = o.rep_sh.patch(&format!("/api/v1/opportunities/{id}"), json!({"version": 2, "amount": 80_000_000, "expected_close_date": "2027-03-31"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Bring the deal to 商务谈判 with the admin's override, so only 合同签署's approval is left.
    let r = o.admin.post(&format!("/api/v1/opportunities/{id}/move"), json!({"stage_id": st[3], "version": 3, "override_reason": "test set-up"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let rep = Browser::login(&app, "rep.sh@acme.test").await;
    let (status, outcome, html) = rep.post_form(&format!("/opportunities/{id}/move"), &[("stage_id", &st[4]), ("version", "4")]).await;
    assert_eq!((status, outcome.as_str()), (StatusCode::OK, "pending"), "{html}");
    assert!(html.contains("data-outcome=\"pending\""));
    let (_, board) = rep.page("/pipeline").await;
    assert!(board.contains("card pending"), "the card is marked pending approval");

    let manager = Browser::login(&app, "manager.sh@acme.test").await;
    let (_, inbox) = manager.page("/approvals").await;
    assert!(inbox.contains("Needs approval") && inbox.contains("¥800,000"), "the request shows its deal and amount: {inbox}");
    let approval = between(&inbox, "hx-post=\"/approvals/", "/decide");
    let (status, _, html) = manager.post_form(&format!("/approvals/{approval}/decide"), &[("decision", "approve"), ("comment", "同意")]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await.body["stage_id"], st[4].as_str());

    // Closing won from the card's dialog.
    let (_, card) = rep.page(&format!("/opportunities/{id}")).await;
    let version = between(&card, "data-version=\"", "\"");
    let (status, _, html) = rep.post_form(&format!("/opportunities/{id}/close"), &[("outcome", "won"), ("version", &version), ("contract_number", "HT-001"), ("contract_signed_on", "2026-11-20")]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await.body["status"], "won");
    // Closing a closed deal again is a clear refusal, not a 500.
    let (status, _, html) = rep.post_form(&format!("/opportunities/{id}/close"), &[("outcome", "nonsense")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
}

#[tokio::test]
async fn inline_edits_keep_optimistic_locking_and_show_what_changed_instead_of_overwriting() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let id = healthy_deal(&o, &o.rep_sh, "Locking").await;
    let b = Browser::login(&app, "rep.sh@acme.test").await;
    let (_, card) = b.page(&format!("/opportunities/{id}")).await;
    let version = between(&card, "name=\"version\" value=\"", "\"");
    let read = between(&card, "name=\"read\" value=\"", "\"").replace("&quot;", "\"").replace("&#x27;", "'");
    // Someone else changes the source meanwhile.
    let r = o.rep_sh.patch(&format!("/api/v1/opportunities/{id}"), json!({"version": version.parse::<i64>().unwrap(), "source": "展会"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let form = [("version", version.as_str()), ("read", read.as_str()), ("name", "Locking"), ("amount", "1000"), ("source", "官网")];
    let (status, _, html) = b.post_form(&format!("/opportunities/{id}/facts"), &form).await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("展会") && html.contains("官网"), "theirs and yours side by side: {html}");
    let now = o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await;
    assert_eq!((now.body["source"].as_str(), now.body["amount"].as_i64()), (Some("展会"), Some(0)), "nothing was overwritten");
    // Saving again from the conflict form (now at the current version) is deliberate.
    let version = between(&html, "name=\"version\" value=\"", "\"");
    let read = between(&html, "name=\"read\" value=\"", "\"").replace("&quot;", "\"").replace("&#x27;", "'");
    let form = [("version", version.as_str()), ("read", read.as_str()), ("name", "Locking"), ("amount", "1000"), ("source", "官网")];
    let (status, _, html) = b.post_form(&format!("/opportunities/{id}/facts"), &form).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let now = o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await;
    assert_eq!((now.body["source"].as_str(), now.body["amount"].as_i64()), (Some("官网"), Some(100_000)));
    // A bad amount is a field error, and changes nothing.
    let version = between(&html, "name=\"version\" value=\"", "\"");
    let read = between(&html, "name=\"read\" value=\"", "\"").replace("&quot;", "\"").replace("&#x27;", "'");
    let form = [("version", version.as_str()), ("read", read.as_str()), ("name", "Locking"), ("amount", "lots"), ("source", "官网")];
    let (status, _, html) = b.post_form(&format!("/opportunities/{id}/facts"), &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("value=\"lots\""), "what was typed stays in the form: {html}");
    let after = o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await;
    assert_eq!(after.body["version"], now.body["version"]);
}

#[tokio::test]
async fn the_language_is_the_users_choice_and_every_page_follows_it() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let _ = &o;
    let b = Browser::login(&app, "rep.sh@acme.test").await;
    let (_, home) = b.page("/").await;
    assert!(home.contains("lang=\"zh-CN\"") || home.contains("lang=\"en\""));
    let (status, _, _) = b.post_form("/language", &[("lang", "en")]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, home) = b.page("/pipeline").await;
    assert!(home.contains("lang=\"en\"") && home.contains(">Pipeline<"), "{home}");
    let (status, _, _) = b.post_form("/language", &[("lang", "zh-CN")]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, home) = b.page("/pipeline").await;
    assert!(home.contains("lang=\"zh-CN\"") && home.contains("销售看板"));
    // The choice is the account's: a new session keeps it.
    let again = Browser::login(&app, "rep.sh@acme.test").await;
    let (_, home) = again.page("/").await;
    assert!(home.contains("lang=\"zh-CN\""));
}

#[tokio::test]
async fn accounts_warn_of_duplicates_as_you_type_and_open_contacts_and_deals() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let theirs = o.rep_bj.create("/api/v1/accounts", json!({"name": "北京星河科技有限公司"})).await;
    let sh = Browser::login(&app, "rep.sh@acme.test").await;
    // Same company, different spelling: the warning names the owner, not a link the rep
    // could not open.
    let (status, html) = sh.page("/accounts/check?name=%E5%8C%97%E4%BA%AC%E6%98%9F%E6%B2%B3%E7%A7%91%E6%8A%80").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("data-duplicate=\"{theirs}\"")) && html.contains("rep.bj"), "{html}");
    assert!(!html.contains(&format!("href=\"/accounts/{theirs}\"")));
    let (_, html) = sh.page("/accounts/check?name=%E5%85%A8%E6%96%B0").await;
    assert!(!html.contains("data-duplicate"), "{html}");
    // Creating the duplicate anyway is refused and changes nothing.
    let (status, _, _) = sh.post_form("/accounts", &[("name", "北京星河科技"), ("account_type", "enterprise")]).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let r = sh.http.post(format!("{}/accounts", app.address)).header("x-csrf-token", &sh.csrf).header("hx-request", "true")
        .form(&[("name", "上海新客户有限公司"), ("account_type", "enterprise"), ("industry", "制造")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let account_page = r.headers()["hx-redirect"].to_str().unwrap().to_string();
    let account = account_page.trim_start_matches("/accounts/").to_string();
    let (status, _, html) = sh.post_form(&format!("/accounts/{account}/contacts"), &[("name", "赵经理"), ("decision_role", "decision_maker"), ("attitude", "supporter"), ("phone", "13800138000")]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (status, _, html) = sh.post_form(&format!("/accounts/{account}/opportunities"), &[("name", "新商机"), ("amount", "300,000"), ("expected_close_date", "2027-02-28")]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (status, _, html) = sh.post_form(&format!("/accounts/{account}/opportunities"), &[("name", "坏金额"), ("amount", "many")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    let (_, page) = sh.page(&account_page).await;
    assert!(page.contains("赵经理") && page.contains("新商机") && !page.contains("坏金额"), "{page}");
    let deals = o.rep_sh.get(&format!("/api/v1/opportunities?account_id={account}")).await;
    assert_eq!(deals.body["items"][0]["amount"], 30_000_000);
    let (status, _) = sh.page("/accounts").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_card_links_and_unlinks_decision_chain_contacts_and_health_follows() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "链路客户"})).await;
    let boss = o.rep_sh.create("/api/v1/contacts", json!({"account_id": acct, "name": "钱总", "decision_role": "decision_maker"})).await;
    let id = o.rep_sh.create("/api/v1/opportunities", json!({"name": "决策链", "account_id": acct})).await;
    let b = Browser::login(&app, "rep.sh@acme.test").await;
    let (_, card) = b.page(&format!("/opportunities/{id}")).await;
    assert!(card.contains(&format!("<option value=\"{boss}\">")), "the account's contacts are offered");
    let before = o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await.body["health"]["decision_chain"].as_f64().unwrap();
    let (status, _, html) = b.post_form(&format!("/opportunities/{id}/contacts"), &[("contact_id", &boss), ("version", "1"), ("reached", "on")]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let now = o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await;
    assert_eq!(now.body["contacts"][0]["role"], "decision_maker");
    assert!(now.body["health"]["decision_chain"].as_f64().unwrap() > before, "reaching the decision maker raises coverage");
    // A stale version changes nothing.
    let (status, _, _) = b.post_form(&format!("/opportunities/{id}/contacts"), &[("contact_id", &boss), ("version", "1"), ("action", "unlink")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, _) = b.post_form(&format!("/opportunities/{id}/contacts"), &[("contact_id", &boss), ("version", "2"), ("action", "unlink")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await.body["contacts"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_visit_logged_on_the_card_joins_the_timeline_and_its_next_step_is_ticked_off_at_home() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "跟进客户"})).await;
    let boss = o.rep_sh.create("/api/v1/contacts", json!({"account_id": acct, "name": "孙总", "decision_role": "decision_maker"})).await;
    let id = o.rep_sh.create("/api/v1/opportunities", json!({"name": "跟进项目", "account_id": acct})).await;
    let r = o.rep_sh.patch(&format!("/api/v1/opportunities/{id}"), json!({"version": 1, "contacts": [{"contact_id": boss, "reached": false}]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let b = Browser::login(&app, "rep.sh@acme.test").await;
    let (_, card) = b.page(&format!("/opportunities/{id}")).await;
    assert!(card.contains(&format!("name=\"contact_{boss}\"")), "the chain's contacts can be ticked");

    // Bad input: the error names the field and nothing is logged.
    let (status, _, html) = b.post_form(&format!("/opportunities/{id}/activities"), &[("kind", "visit"), ("summary", " ")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert_eq!(o.rep_sh.get(&format!("/api/v1/activities?opportunity_id={id}")).await.body["total"], 0);

    let contact_field = format!("contact_{boss}");
    let (status, _, html) = b
        .post_form(&format!("/opportunities/{id}/activities"), &[
            ("kind", "visit"), ("summary", "拜访<孙总>"), (&contact_field, "on"), ("next_step", "演示准备"), ("next_step_at", "2030-01-15T10:30"),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (_, card) = b.page(&format!("/opportunities/{id}")).await;
    assert!(card.contains("拜访&lt;孙总&gt;") && !card.contains("拜访<孙总>"), "the summary is in the timeline, escaped");
    let deal = o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await.body;
    assert_eq!(deal["contacts"][0]["reached"], true);
    let task = &o.rep_sh.get("/api/v1/tasks").await.body["items"][0];
    assert_eq!(task["title"], "演示准备");
    assert_eq!(task["due_at"], "2030-01-15T02:30:00Z", "typed in China time");

    let (_, home) = b.page("/").await;
    assert!(home.contains("演示准备"), "my tasks on home");
    let task_id = task["id"].as_str().unwrap();
    let (status, _, _) = b.post_form(&format!("/tasks/{task_id}/done"), &[("version", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(o.rep_sh.get(&format!("/api/v1/tasks/{task_id}")).await.body["state"], "done");
    let (_, home) = b.page("/").await;
    assert!(!home.contains("演示准备"));
}

#[tokio::test]
async fn leads_are_captured_imported_claimed_and_converted_in_the_browser() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let rep = Browser::login(&app, "rep.sh@acme.test").await;
    let (status, html) = rep.page("/leads").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("hx-post=\"/leads/import\""), "{html}");
    // A new lead nobody claims goes to the pool (no rules yet).
    let r = rep.http.post(format!("{}/leads", app.address)).header("x-csrf-token", &rep.csrf).header("hx-request", "true")
        .form(&[("company", "浙江新风电器"), ("contact_name", "钱经理"), ("phone", "13911112222"), ("source", "exhibition"), ("budget_amount", "500,000"), ("assign", "rules")])
        .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let lead_page = r.headers()["hx-redirect"].to_str().unwrap().to_string();
    let id = lead_page.trim_start_matches("/leads/").to_string();
    let lead = o.rep_sh.get(&format!("/api/v1/leads/{id}")).await.body;
    assert_eq!((lead["owner_id"].clone(), lead["budget_amount"].clone()), (Value::Null, json!(50_000_000)));
    // The same phone again is a duplicate the form says so about.
    let (status, _, html) = rep.post_form("/leads", &[("company", "X"), ("phone", "139-1111-2222")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    // Claim, disqualify without a reason (refused), then convert into account + deal.
    let (_, page) = rep.page(&lead_page).await;
    assert!(page.contains(&format!("hx-post=\"/leads/{id}/claim\"")));
    let (status, _, html) = rep.post_form(&format!("/leads/{id}/claim"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (status, _, _) = rep.post_form(&format!("/leads/{id}/status"), &[("version", "2"), ("status", "disqualified")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = rep.http.post(format!("{}/leads/{id}/convert", app.address)).header("x-csrf-token", &rep.csrf).header("hx-request", "true")
        .form(&[("version", "2"), ("create_opportunity", "1"), ("expected_close_date", "2027-06-30")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let deal = r.headers()["hx-redirect"].to_str().unwrap().trim_start_matches("/opportunities/").to_string();
    let opp = o.rep_sh.get(&format!("/api/v1/opportunities/{deal}")).await.body;
    assert_eq!((opp["amount"].clone(), opp["source"].clone()), (json!(50_000_000), json!("exhibition")));
    let (_, page) = rep.page(&lead_page).await;
    assert!(page.contains(&format!("href=\"/opportunities/{deal}\"")) && !page.contains("/convert\""), "converted leads are read-only");
    // A file import runs in the background: the page follows its progress, then shows the
    // report inline.
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes("公司名称,联系人,手机\n甲公司,甲,13700000001\n乙公司,乙,12\n".as_bytes().to_vec()).file_name("l.csv"))
        .text("source", "web");
    let r = rep.http.post(format!("{}/leads/import", app.address)).header("x-csrf-token", &rep.csrf).header("hx-request", "true").multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut html = r.text().await.unwrap();
    for _ in 0..200 {
        let Some(at) = html.find("hx-get=\"/leads/imports/") else { break };
        assert!(html.contains("role=\"status\""), "the progress is announced: {html}");
        let url = html[at + 8..].split('"').next().unwrap().to_string();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        html = rep.page(&url).await.1;
    }
    assert!(html.contains("<strong>2</strong>") && html.contains("<td class=\"num\">3</td>") && html.contains("<code>phone</code>"), "{html}");
    assert_eq!(o.rep_sh.get("/api/v1/leads?source=web").await.body["total"], 1);
}

#[tokio::test]
async fn the_inbox_lists_notifications_and_support_requests_and_answers_them_in_place() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let finance = json!({"email": "finance@acme.test", "display_name": "财务", "password": kairos_testkit::PASSWORD, "org_unit_id": o.hq, "roles": ["finance"]});
    o.admin.create("/api/v1/users", finance).await;
    let acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "协作客户"})).await;
    let deal = o.rep_sh.create("/api/v1/opportunities", json!({"name": "协作 <项目>", "account_id": acct})).await;
    // The rep asks from the card; a missing description is named and nothing is asked.
    let rep = Browser::login(&app, "rep.sh@acme.test").await;
    let (_, card) = rep.page(&format!("/opportunities/{deal}")).await;
    assert!(card.contains(&format!("/opportunities/{deal}/support")), "the card offers the support form");
    let (status, _, _) = rep.post_form(&format!("/opportunities/{deal}/support"), &[("team", "finance"), ("kind", "报价审核"), ("description", "")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, body) = rep.post_form(&format!("/opportunities/{deal}/support"), &[("team", "finance"), ("kind", "报价审核"), ("description", "请审核 <折扣>"), ("due_on", "")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mine = o.rep_sh.get("/api/v1/support-requests").await.body;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    let req = mine[0]["id"].as_str().unwrap().to_string();
    let (_, card) = rep.page(&format!("/opportunities/{deal}")).await;
    assert!(card.contains("报价审核"), "the card lists the deal's requests");

    let fin = Browser::login(&app, "finance@acme.test").await;
    let (status, html) = fin.page("/inbox").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("请审核 &lt;折扣&gt;") && !html.contains("<折扣>"), "the request is listed, escaped");
    assert!(html.contains(&format!("/support/{req}/accept")));
    // A rejection needs its reason; the error names it and nothing changes.
    let (status, _, body) = fin.post_form(&format!("/support/{req}/reject"), &[("reason", " ")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(o.rep_sh.get(&format!("/api/v1/support-requests/{req}")).await.body["status"], "open");
    let (status, _, _) = fin.post_form(&format!("/support/{req}/accept"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = fin.post_form(&format!("/support/{req}/done"), &[("note", "已审核")]).await;
    assert_eq!(status, StatusCode::OK);

    let (_, html) = rep.page("/inbox").await;
    assert!(html.contains("finished your finance request"), "the requester hears of it: {html}");
    assert!(html.contains(&format!("/support/{req}/rate")), "and may rate it");
    let (status, _, _) = rep.post_form(&format!("/support/{req}/rate"), &[("rating", "9")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(o.rep_sh.get(&format!("/api/v1/support-requests/{req}")).await.body["requester_rating"], 9);
    let (status, _, _) = rep.post_form("/inbox/read", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(o.rep_sh.get("/api/v1/notifications").await.body["unread"], 0);
}

#[tokio::test]
async fn admins_set_up_webhooks_and_see_deliveries_and_everyone_chooses_their_email() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let admin = Browser::login(&app, "admin@acme.test").await;
    let (status, html) = admin.page("/settings/webhooks").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("event_opportunity.won"), "a checkbox per event");
    // A generic webhook without its secret is refused, naming the field; nothing is stored.
    let (status, _, body) = admin
        .post_form("/settings/webhooks", &[("name", "ERP <sync>"), ("kind", "generic"), ("url", "https://erp.example.com/hooks"), ("event_opportunity.won", "on")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(o.admin.get("/api/v1/webhooks").await.body.as_array().unwrap().is_empty());
    let (status, _, _) = admin
        .post_form("/settings/webhooks", &[
            ("name", "ERP <sync>"), ("kind", "generic"), ("url", "https://erp.example.com/hooks"), ("secret", "s3cret"),
            ("event_opportunity.won", "on"), ("event_notification.deal_stale", "on"),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
    let stored = o.admin.get("/api/v1/webhooks").await.body;
    assert_eq!(stored[0]["events"], json!(["opportunity.won", "notification.deal_stale"]));
    let (_, html) = admin.page("/settings/webhooks").await;
    assert!(html.contains("ERP &lt;sync&gt;") && !html.contains("s3cret"), "listed, escaped, secret never shown");

    // Edit in place: rename, move it, subscribe to new deals instead; a blank secret keeps the
    // stored one (the form never holds it).
    let hook = stored[0]["id"].as_str().unwrap().to_string();
    let edit = |version: &'static str, name: &'static str, extra: &'static [(&'static str, &'static str)]| {
        let mut form = vec![("version", version), ("name", name), ("kind", "generic"), ("url", "https://erp.example.com/v2"), ("secret", ""), ("active", "on"), ("event_opportunity.created", "on")];
        form.extend_from_slice(extra);
        form
    };
    let (status, _, body) = admin.post_form(&format!("/settings/webhooks/{hook}"), &edit("1", "ERP 同步", &[])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let shown = o.admin.get(&format!("/api/v1/webhooks/{hook}")).await.body;
    assert_eq!((&shown["name"], &shown["url"], &shown["events"]), (&json!("ERP 同步"), &json!("https://erp.example.com/v2"), &json!(["opportunity.created"])));
    assert_eq!((&shown["has_secret"], &shown["active"], &shown["version"]), (&json!(true), &json!(true), &json!(2)));
    // A form loaded before that edit is refused as stale; a generic webhook cannot lose its
    // secret; neither changes anything.
    let (status, _, _) = admin.post_form(&format!("/settings/webhooks/{hook}"), &edit("1", "Other", &[])).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, body) = admin.post_form(&format!("/settings/webhooks/{hook}"), &edit("2", "Other", &[("clear_secret", "on")])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("secret"), "the field is named: {body}");
    let (status, _, _) = admin.post_form(&format!("/settings/webhooks/{hook}/active"), &[("version", "2"), ("active", "maybe")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(o.admin.get(&format!("/api/v1/webhooks/{hook}")).await.body["name"], "ERP 同步");

    // Paused, it is offered nothing; resumed, it is offered the next deal again.
    let created_deliveries = || async { o.admin.get("/api/v1/deliveries").await.body["items"].as_array().unwrap().iter().filter(|d| d["event"] == "opportunity.created").count() };
    let (status, _, _) = admin.post_form(&format!("/settings/webhooks/{hook}/active"), &[("version", "2"), ("active", "false")]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, html) = admin.page("/settings/webhooks").await;
    assert!(html.contains(&format!("/settings/webhooks/{hook}/active")) && html.contains("name=\"active\" value=\"true\""), "the button now resumes");
    let acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "暂停期间客户"})).await;
    o.rep_sh.create("/api/v1/opportunities", json!({"name": "暂停期间", "account_id": acct})).await;
    assert_eq!(created_deliveries().await, 0);
    let (status, _, _) = admin.post_form(&format!("/settings/webhooks/{hook}/active"), &[("version", "3"), ("active", "true")]).await;
    assert_eq!(status, StatusCode::OK);
    o.rep_sh.create("/api/v1/opportunities", json!({"name": "恢复之后", "account_id": acct})).await;
    assert_eq!(created_deliveries().await, 1);

    let rep = Browser::login(&app, "rep.sh@acme.test").await;
    let (status, _) = rep.page("/settings/webhooks").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = rep.post_form("/inbox/email", &[("email", "on"), ("mute_deal_dwell", "on")]).await;
    assert_eq!(status, StatusCode::OK);
    let prefs = o.rep_sh.get("/api/v1/me/notification-preferences").await.body;
    assert_eq!(prefs, json!({"email": true, "email_muted": ["deal_dwell"]}));
    let (_, inbox) = rep.page("/inbox").await;
    assert!(inbox.contains("name=\"mute_deal_dwell\" checked"), "the form shows what is saved");
}

#[tokio::test]
async fn the_card_scores_need_confirmation_and_the_health_follows() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "需求确认客户"})).await;
    let id = o.rep_sh.create("/api/v1/opportunities", json!({"name": "需求打分", "account_id": acct})).await;
    let rep = Browser::login(&app, "rep.sh@acme.test").await;
    let (status, html) = rep.page(&format!("/opportunities/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("name=\"need_10\""), "ten need items to score");
    let form = |item3: &'static str, version: &'static str| {
        let mut f: Vec<(String, String)> = (1..=10).map(|n| (format!("need_{n}"), "8".to_string())).collect();
        f[2].1 = item3.to_string();
        f.push(("version".into(), version.into()));
        f.push(("in_annual_plan".into(), "on".into()));
        f
    };
    let post = |f: Vec<(String, String)>| {
        let rep = &rep;
        let path = format!("/opportunities/{id}/health");
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            rep.post_form(&path, &pairs).await
        }
    };
    for bad in ["11", "x"] {
        let (status, _, body) = post(form(bad, "1")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body.contains("need"), "{body}");
    }
    assert_eq!(o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await.body["version"], 1, "nothing saved");
    let (status, _, body) = post(form("6", "1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let saved = o.rep_sh.get(&format!("/api/v1/opportunities/{id}")).await.body;
    assert_eq!(saved["need_items"], json!([8, 8, 6, 8, 8, 8, 8, 8, 8, 8]));
    assert_eq!(saved["in_annual_plan"], true);
    assert_eq!(saved["health"]["need_match"], 78.0, "the mean of the items × 10");
    let (status, _, _) = post(form("9", "1")).await;
    assert_eq!(status, StatusCode::CONFLICT, "a stale form is refused");
}
