//! Org units and users (admin), and `kairos init`.

use kairos_testkit::{PASSWORD, TestApp};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn org_tree_keeps_codes_unique_and_refuses_cycles() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Tree").await;
    let a = &ws.admin;
    let sh = a.create("/api/v1/org-units", json!({"name": "Shanghai", "code": "sh", "kind": "branch", "parent_id": ws.hq})).await;
    let team = a.create("/api/v1/org-units", json!({"name": "Team 1", "code": "SH1", "kind": "team", "parent_id": sh})).await;
    let r = a.post("/api/v1/org-units", json!({"name": "Again", "code": "SH", "kind": "team", "parent_id": sh})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["error"]["details"]["existing_id"], sh.as_str());
    let r = a.post("/api/v1/org-units", json!({"name": "Bad", "code": "S-H!", "kind": "team"})).await;
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["code", "parent_id"]);
    // Moving a unit under its own descendant is refused.
    let r = a.patch(&format!("/api/v1/org-units/{sh}"), json!({"version": 1, "parent_id": team})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), vec!["parent_id"]);
    // A unit with people cannot be archived.
    a.create("/api/v1/users", json!({"email": "t@tree.test", "display_name": "T", "password": PASSWORD, "org_unit_id": team})).await;
    let r = a.delete(&format!("/api/v1/org-units/{team}")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.code(), "org_unit_in_use");
    let r = a.get(&format!("/api/v1/audit?entity=org_unit&id={sh}")).await;
    assert!(r.body.as_array().unwrap().iter().any(|row| row["field"] == "code" && row["new_value"] == "SH"));
}

#[tokio::test]
async fn users_are_unique_by_email_and_disabling_one_stops_their_tokens() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("People").await;
    let a = &ws.admin;
    let id = a
        .create("/api/v1/users", json!({"email": "Rep@People.test", "display_name": "Rep", "password": PASSWORD, "roles": ["sales_rep"], "locale": "zh-CN"}))
        .await;
    let r = a.post("/api/v1/users", json!({"email": "rep@people.TEST", "display_name": "Twin", "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["error"]["details"]["existing_id"], id.as_str());
    let r = a.post("/api/v1/users", json!({"email": "x", "display_name": "", "password": "short", "roles": ["emperor"]})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let rep = app.login("rep@people.test", PASSWORD).await;
    assert_eq!(rep.get("/api/v1/me").await.status, StatusCode::OK);
    let r = a.patch(&format!("/api/v1/users/{id}"), json!({"version": 1, "active": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(rep.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    let r = app.anonymous().post("/api/v1/auth/tokens", json!({"email": "rep@people.test", "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // An admin cannot lock themselves out.
    let me = a.get("/api/v1/me").await.body["id"].as_str().unwrap().to_string();
    let r = a.patch(&format!("/api/v1/users/{me}"), json!({"version": 1, "active": false})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn init_refuses_an_email_that_exists() {
    let app = TestApp::spawn().await;
    app.workspace("First").await;
    let again = app
        .app
        .init_workspace(kairos_app::workspaces::WorkspaceSpec {
            name: "Second".into(),
            admin_email: "ADMIN@first.test".into(),
            admin_password: PASSWORD.into(),
            admin_name: None,
            locale: None,
        })
        .await;
    let err = again.expect_err("the e-mail is taken");
    assert!(err.to_string().contains("already exists"), "{err}");
}
