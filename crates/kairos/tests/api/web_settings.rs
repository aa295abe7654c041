//! Settings in the browser (§10): an admin runs the workspace — its numbering and priority
//! thresholds, close reasons, the working-day calendar, FX rates, org units and people —
//! and a manager sets the targets below them; every form lands in the same rules as the API
//! (a bad value is named and changes nothing) and the pages are the admin's alone.

use kairos_testkit::{PASSWORD, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixture::org;
use crate::web::Browser;

fn find<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array().unwrap().iter().find(|v| v[key] == value).unwrap_or_else(|| panic!("no {key} = {value} in {list}"))
}

async fn save_workspace(admin: &Browser, health: &str, version: &str) -> (StatusCode, String, String) {
    let form = [("version", version), ("name", "Acme 华东"), ("base_currency", "CNY"), ("number_pattern", "{yyyy}-{region}-{seq:4}"), ("priority_health_above", health), ("priority_amount_above", "800,000")];
    admin.post_form("/settings/workspace", &form).await
}

#[tokio::test]
async fn an_admin_runs_workspace_reasons_calendar_and_fx_from_settings_and_bad_values_change_nothing() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let admin = Browser::login(&app, "admin@acme.test").await;
    let (status, html) = admin.page("/settings").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("href=\"/settings/org\"") && html.contains("href=\"/settings/targets\""), "the settings sections are linked");
    let rep = Browser::login(&app, "rep.sh@acme.test").await;
    assert_eq!(rep.page("/settings").await.0, StatusCode::FORBIDDEN);
    assert_eq!(rep.post_form("/settings/close-reasons", &[("outcome", "lost"), ("label", "x")]).await.0, StatusCode::FORBIDDEN);

    // The workspace: a health threshold that is not a number is named; a good form saves.
    let ws = o.admin.get("/api/v1/workspace").await.body;
    let version = ws["version"].to_string();
    let (status, _, body) = save_workspace(&admin, "lots", &version).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("priority_health_above"), "the field is named: {body}");
    assert_eq!(o.admin.get("/api/v1/workspace").await.body, ws, "nothing changed");
    let (status, _, body) = save_workspace(&admin, "75", &version).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let saved = o.admin.get("/api/v1/workspace").await.body;
    assert_eq!((&saved["name"], &saved["number_pattern"], &saved["priority_health_above"], &saved["priority_amount_above"]),
        (&json!("Acme 华东"), &json!("{yyyy}-{region}-{seq:4}"), &json!(75), &json!(80_000_000)));
    let (status, _, _) = save_workspace(&admin, "80", &version).await;
    assert_eq!(status, StatusCode::CONFLICT, "a form loaded before the save is stale");

    // Close reasons: add one (escaped on the page), then retire it.
    let (status, _, body) = admin.post_form("/settings/close-reasons", &[("outcome", "lost"), ("label", "预算被砍 <b>")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reasons = o.admin.get("/api/v1/close-reasons").await.body;
    let added = find(&reasons, "label", "预算被砍 <b>");
    assert_eq!((&added["outcome"], &added["active"]), (&json!("lost"), &json!(true)));
    let (_, html) = admin.page("/settings").await;
    assert!(html.contains("预算被砍 &lt;b&gt;") && !html.contains("预算被砍 <b>"), "escaped");
    let id = added["id"].as_str().unwrap();
    let (status, _, _) = admin.post_form(&format!("/settings/close-reasons/{id}"), &[("label", "预算被砍"), ("position", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    let retired = o.admin.get("/api/v1/close-reasons").await.body;
    let retired = find(&retired, "id", id);
    assert_eq!((&retired["label"], &retired["position"], &retired["active"]), (&json!("预算被砍"), &json!(1), &json!(false)));
    let (status, _, _) = admin.post_form("/settings/close-reasons", &[("outcome", "won"), ("label", "x")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "won is not a close reason's outcome");

    // The calendar: Friday and Saturday off, a holiday and a make-up day, typed one per line.
    let (status, _, body) = admin
        .post_form("/settings/calendar", &[("weekend_5", "on"), ("weekend_6", "on"), ("days", "# 2026 国庆\n2026-10-01 holiday 国庆节\n2026-10-11 班\n")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let calendar = o.admin.get("/api/v1/calendar").await.body;
    assert_eq!(calendar["weekend"], json!([5, 6]));
    assert_eq!(calendar["days"], json!([{"day": "2026-10-01", "kind": "holiday", "name": "国庆节"}, {"day": "2026-10-11", "kind": "workday", "name": null}]));
    let (_, html) = admin.page("/settings").await;
    assert!(html.contains("2026-10-01 holiday 国庆节\n2026-10-11 workday") && html.contains("name=\"weekend_5\" checked"), "the form shows what is saved");
    let (status, _, body) = admin.post_form("/settings/calendar", &[("weekend_6", "on"), ("days", "2026-10-01 holiday\n2026-02-30 holiday")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("line 2"), "the bad line is named: {body}");
    let seven: Vec<(String, &str)> = (1..=7).map(|d| (format!("weekend_{d}"), "on")).collect();
    let seven: Vec<(&str, &str)> = seven.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(admin.post_form("/settings/calendar", &seven).await.0, StatusCode::UNPROCESSABLE_ENTITY, "a week needs a working day");
    assert_eq!(o.admin.get("/api/v1/calendar").await.body, calendar, "neither refusal changed the calendar");

    // FX: a rate is added; the base currency and a non-number are refused.
    let (status, _, body) = admin.post_form("/settings/fx-rates", &[("currency", "usd"), ("valid_on", "2026-01-01"), ("rate", "7.12")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(o.admin.get("/api/v1/fx-rates").await.body, json!([{"currency": "USD", "valid_on": "2026-01-01", "rate": 7.12}]));
    for (cur, rate, field) in [("CNY", "1", "currency"), ("EUR", "seven", "rate"), ("EUR", "-2", "rate")] {
        let (status, _, body) = admin.post_form("/settings/fx-rates", &[("currency", cur), ("valid_on", "2026-01-01"), ("rate", rate)]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{cur} {rate}");
        assert!(body.contains(field), "{field} is named: {body}");
    }
    assert_eq!(o.admin.get("/api/v1/fx-rates").await.body.as_array().unwrap().len(), 1);
    let (_, html) = admin.page("/settings").await;
    assert!(html.contains("USD") && html.contains("7.12"));
}

#[tokio::test]
async fn targets_are_set_in_the_browser_by_those_above_and_only_seen_within_scope() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let admin = Browser::login(&app, "admin@acme.test").await;
    let (status, html) = admin.page("/settings/targets").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("value=\"org_unit:{}\"", o.sh)) && html.contains(&format!("value=\"user:{}\"", o.rep_sh_id)), "units and people to choose");

    let subject = format!("org_unit:{}", o.sh);
    let (status, _, body) = admin.post_form("/settings/targets", &[("subject", &subject), ("period", "2026-Q1"), ("amount", "3,000,000")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let targets = o.admin.get("/api/v1/targets").await.body;
    assert_eq!(targets.as_array().unwrap().len(), 1);
    assert_eq!((&targets[0]["period_kind"], &targets[0]["period_start"], &targets[0]["amount"]), (&json!("quarter"), &json!("2026-01-01"), &json!(300_000_000)));
    let (_, html) = admin.page("/settings/targets").await;
    assert!(html.contains("上海分公司") && html.contains("2026-Q1") && html.contains("3,000,000"), "listed by name, period and amount: {html}");
    // Refusals name their field and add nothing: a bad period, a bad amount, the same
    // subject and period twice.
    for (period, amount, field) in [("2026-Q5", "1", "period"), ("2026-05", "lots", "amount"), ("2026-Q1", "5", "duplicate")] {
        let (status, _, body) = admin.post_form("/settings/targets", &[("subject", &subject), ("period", period), ("amount", amount)]).await;
        assert!(status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::CONFLICT, "{period} {amount}: {status}");
        assert!(body.contains(field) || status == StatusCode::CONFLICT, "{field} named: {body}");
    }
    assert_eq!(o.admin.get("/api/v1/targets").await.body.as_array().unwrap().len(), 1);

    // The Shanghai manager sets the target of a rep below; the rep sees only their own and
    // may set none.
    let id = targets[0]["id"].as_str().unwrap().to_string();
    let manager = Browser::login(&app, "manager.sh@acme.test").await;
    let rep_subject = format!("user:{}", o.rep_sh_id);
    let (status, _, body) = manager.post_form("/settings/targets", &[("subject", &rep_subject), ("period", "2026-03"), ("amount", "500000")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bj_subject = format!("user:{}", o.rep_bj_id);
    let (status, _, _) = manager.post_form("/settings/targets", &[("subject", &bj_subject), ("period", "2026-03"), ("amount", "1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not below this manager");
    let rep = Browser::login(&app, "rep.sh@acme.test").await;
    let (status, html) = rep.page("/settings/targets").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<td>2026-03</td>") && !html.contains("<td>2026-Q1</td>"), "the rep sees their own target only: {html}");
    assert!(!html.contains("hx-post=\"/settings/targets\""), "and is offered no form to add one");
    let (status, _, _) = rep.post_form("/settings/targets", &[("subject", &rep_subject), ("period", "2026-04"), ("amount", "1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Edit with the version the row was loaded with; a second edit from the same page is stale.
    let (status, _, _) = admin.post_form(&format!("/settings/targets/{id}"), &[("version", "1"), ("amount", "3,500,000.50")]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = admin.post_form(&format!("/settings/targets/{id}"), &[("version", "1"), ("amount", "1")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let stored = o.admin.get("/api/v1/targets").await.body;
    assert_eq!(find(&stored, "id", &id)["amount"], 350_000_050);
    let (_, html) = admin.page("/settings/targets").await;
    assert!(html.contains("value=\"3,500,000.50\""), "the form shows the cents it would save back");
    let (status, _, _) = admin.post_form(&format!("/settings/targets/{id}/delete"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(o.admin.get("/api/v1/targets").await.body.as_array().unwrap().iter().all(|t| t["id"] != id.as_str()));
}

#[tokio::test]
async fn an_admin_builds_the_organisation_and_its_people_in_the_browser() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let admin = Browser::login(&app, "admin@acme.test").await;
    let (status, html) = admin.page("/settings/org").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("上海一组") && html.contains("rep.sh@acme.test"));
    let manager = Browser::login(&app, "manager.sh@acme.test").await;
    assert_eq!(manager.page("/settings/org").await.0, StatusCode::FORBIDDEN);

    // A new team under Shanghai, then a person in it.
    let (status, _, body) = admin.post_form("/settings/org-units", &[("name", "上海二组"), ("code", "SH2"), ("kind", "team"), ("parent_id", &o.sh)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let units = o.admin.get("/api/v1/org-units").await.body;
    let team = find(&units, "code", "SH2").clone();
    assert_eq!(team["parent_id"], o.sh.as_str());
    let team_id = team["id"].as_str().unwrap().to_string();
    let (status, _, body) = admin
        .post_form("/settings/users", &[("email", "new.rep@acme.test"), ("display_name", "新销售"), ("password", PASSWORD), ("org_unit_id", &team_id), ("role_sales_rep", "on")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let users = o.admin.get("/api/v1/users?limit=100").await.body;
    let person = find(&users["items"], "email", "new.rep@acme.test").clone();
    assert_eq!((&person["org_unit_id"], &person["roles"], &person["active"]), (&json!(team_id), &json!(["sales_rep"]), &json!(true)));
    Browser::login(&app, "new.rep@acme.test").await;
    // Refusals: no role at all, a duplicate e-mail, a unit made its own descendant's child.
    let (status, _, body) = admin.post_form("/settings/users", &[("email", "x@acme.test"), ("display_name", "x"), ("password", PASSWORD)]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("roles"), "{body}");
    let (status, _, _) = admin
        .post_form("/settings/users", &[("email", "new.rep@acme.test"), ("display_name", "again"), ("password", PASSWORD), ("role_sales_rep", "on")])
        .await;
    assert!(status == StatusCode::CONFLICT || status == StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    let (status, _, _) = admin
        .post_form(&format!("/settings/org-units/{}", o.sh), &[("version", "1"), ("name", "上海分公司"), ("code", "SH"), ("kind", "branch"), ("parent_id", &team_id)])
        .await;
    assert!(status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::CONFLICT, "a cycle is refused: {status}");
    assert_eq!(find(&o.admin.get("/api/v1/org-units").await.body, "id", &o.sh)["parent_id"], json!(o.hq));

    // The team gets its manager; the person is deactivated and can no longer sign in.
    let (status, _, body) = admin
        .post_form(&format!("/settings/org-units/{team_id}"), &[("version", "1"), ("name", "上海二组"), ("code", "SH2"), ("kind", "team"), ("parent_id", &o.sh), ("manager_id", &o.manager_sh_id)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(find(&o.admin.get("/api/v1/org-units").await.body, "id", &team_id)["manager_id"], o.manager_sh_id.as_str());
    let pid = person["id"].as_str().unwrap();
    let version = person["version"].to_string();
    let (status, _, body) = admin.post_form(&format!("/settings/users/{pid}"), &[("version", &version), ("org_unit_id", &team_id), ("role_sales_rep", "on")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(o.admin.get(&format!("/api/v1/users/{pid}")).await.body["active"], false);
    let r = app.anonymous().post("/api/v1/auth/tokens", json!({"email": "new.rep@acme.test", "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a deactivated person cannot sign in");

    // An empty team can be archived; a unit with people cannot.
    let (status, _, _) = admin.post_form(&format!("/settings/org-units/{}/archive", o.sh1), &[]).await;
    assert!(status.is_client_error(), "{status}");
    let (_, html) = admin.page("/settings/org").await;
    assert!(!html.contains("已归档"), "nothing archived yet");
    let other = o.admin.create("/api/v1/org-units", json!({"name": "空组", "code": "EMPTY", "kind": "team", "parent_id": o.bj})).await;
    let (status, _, body) = admin.post_form(&format!("/settings/org-units/{other}/archive"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(find(&o.admin.get("/api/v1/org-units").await.body, "id", &other)["archived"], true);
}

/// The designer's form for a process as the page fills it: every stage's row, then the
/// blank row for a new stage.
fn designer_form(p: &Value) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = vec![
        ("version".into(), p["version"].to_string()),
        ("name".into(), p["name"].as_str().unwrap().into()),
        ("description".into(), p["description"].as_str().unwrap_or("").into()),
        ("close_reminder_days".into(), p["close_reminder_days"].to_string()),
    ];
    let stages = p["stages"].as_array().unwrap();
    for (i, s) in stages.iter().enumerate() {
        let c = &s["criteria"];
        let approval = match (c["approval"]["kind"].as_str().unwrap(), c["approval"]["role"].as_str()) {
            ("role", Some(r)) => format!("role:{r}"),
            (kind, _) => kind.to_string(),
        };
        let checklist: String = c["checklist"].as_array().unwrap().iter().map(|x| format!("{}{}: {}\n", if x["required"] == true { "" } else { "?" }, x["key"].as_str().unwrap(), x["label"].as_str().unwrap())).collect();
        let docs: Vec<&str> = c["required_documents"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
        for (k, v) in [
            ("id", s["id"].as_str().unwrap().to_string()), ("name", s["name"].as_str().unwrap().into()), ("position", s["position"].to_string()),
            ("probability", s["probability"].to_string()), ("category", s["forecast_category"].as_str().unwrap().into()),
            ("dwell", s["expected_dwell_days"].to_string()), ("touches", s["cadence"]["touches"].to_string()), ("per_days", s["cadence"]["per_days"].to_string()),
            ("refuse", c["health_refuse_below"].to_string()), ("pass", c["health_pass_above"].to_string()), ("approval", approval),
            ("guidance", s["guidance"].as_str().unwrap_or("").into()), ("checklist", checklist), ("documents", docs.join("\n")),
            ("channels", s["cadence"]["channels"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect::<Vec<_>>().join(", ")),
        ] {
            f.push((format!("s{i}.{k}"), v));
        }
        for field in c["required_fields"].as_array().unwrap() {
            f.push((format!("s{i}.field.{}", field.as_str().unwrap()), "on".into()));
        }
        if s["retired"] == true {
            f.push((format!("s{i}.retired"), "on".into()));
        }
    }
    let n = stages.len();
    for k in ["id", "name", "position", "guidance", "checklist", "documents"] {
        f.push((format!("s{n}.{k}"), String::new()));
    }
    f
}

fn set(form: &mut Vec<(String, String)>, key: &str, value: &str) {
    match form.iter_mut().find(|(k, _)| k == key) {
        Some(pair) => pair.1 = value.to_string(),
        None => form.push((key.to_string(), value.to_string())),
    }
}

async fn post_designer(admin: &Browser, id: &str, form: &[(String, String)]) -> (StatusCode, String) {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, _, body) = admin.post_form(&format!("/settings/processes/{id}"), &pairs).await;
    (status, body)
}

#[tokio::test]
async fn an_admin_designs_a_process_in_the_browser_and_a_round_trip_keeps_what_the_form_does_not_change() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let admin = Browser::login(&app, "admin@acme.test").await;
    let process = o.admin.get("/api/v1/processes").await.body[0].clone();
    let id = process["id"].as_str().unwrap().to_string();
    let (status, html) = admin.page("/settings/processes").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("/settings/processes/{id}")));
    let (status, html) = admin.page(&format!("/settings/processes/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let first = process["stages"][0]["name"].as_str().unwrap();
    assert!(html.contains(&format!("value=\"{first}\"")) && html.contains("name=\"s0.checklist\""), "every stage is a row of the form");
    let rep = Browser::login(&app, "rep.sh@acme.test").await;
    assert_eq!(rep.page(&format!("/settings/processes/{id}")).await.0, StatusCode::FORBIDDEN);

    // The page's form sent back unchanged changes nothing but the version.
    let (status, body) = post_designer(&admin, &id, &designer_form(&process)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let same = o.admin.get(&format!("/api/v1/processes/{id}")).await.body;
    assert_eq!(same["stages"], process["stages"], "a round trip keeps every stage as it was");

    // Changes: the first stage asks for a checklist item and the amount; the second needs a
    // director's approval; a new stage goes in second place.
    let n = process["stages"].as_array().unwrap().len();
    let mut form = designer_form(&same);
    set(&mut form, "s0.checklist", "budget_confirmed: 预算已确认\n?site_visit: 现场拜访");
    set(&mut form, "s0.field.amount", "on");
    set(&mut form, "s1.approval", "role:director");
    set(&mut form, &format!("s{n}.name"), "技术交流");
    set(&mut form, &format!("s{n}.position"), "1");
    set(&mut form, &format!("s{n}.probability"), "20");
    set(&mut form, &format!("s{n}.category"), "pipeline");
    // A probability over 100 is named and nothing is saved.
    let mut bad = form.clone();
    set(&mut bad, "s1.probability", "300");
    let (status, body) = post_designer(&admin, &id, &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("stages[1].probability"), "{body}");
    assert_eq!(o.admin.get(&format!("/api/v1/processes/{id}")).await.body["version"], same["version"]);

    let (status, body) = post_designer(&admin, &id, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let saved = o.admin.get(&format!("/api/v1/processes/{id}")).await.body;
    let names: Vec<&str> = saved["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names[0], first);
    assert_eq!(names[1], "技术交流", "the new stage went in where its position put it: {names:?}");
    assert_eq!(names.len(), n + 1);
    let s0 = &saved["stages"][0]["criteria"];
    assert_eq!(s0["checklist"], json!([{"key": "budget_confirmed", "label": "预算已确认", "required": true}, {"key": "site_visit", "label": "现场拜访", "required": false}]));
    assert!(s0["required_fields"].as_array().unwrap().contains(&json!("amount")));
    assert_eq!(saved["stages"][2]["criteria"]["approval"], json!({"kind": "role", "role": "director"}));
    assert_eq!(saved["stages"][1]["probability"], 20);
    // A stale form (the version it was loaded with is gone) is refused.
    let (status, _) = post_designer(&admin, &id, &designer_form(&same)).await;
    assert_eq!(status, StatusCode::CONFLICT);
}
