//! Contacts: decision roles, attitudes, reports-to within one account, duplicates.

use kairos_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn contacts_carry_their_decision_chain_and_refuse_duplicates() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Chain").await;
    let a = ws.admin.create("/api/v1/accounts", json!({"name": "Chain Corp"})).await;
    let other = ws.admin.create("/api/v1/accounts", json!({"name": "Other Corp"})).await;
    let boss = ws
        .admin
        .create("/api/v1/contacts", json!({"account_id": a, "name": "李总", "decision_role": "decision_maker", "attitude": "champion",
            "phone": "+86 138-0013-8000", "email": "Li@Chain.example"}))
        .await;
    let r = ws.admin.post("/api/v1/contacts", json!({"account_id": a, "name": "张工", "decision_role": "user", "reports_to_id": boss})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["decision_role"], "user");
    assert_eq!(r.body["attitude"], "neutral");
    let worker = r.id();

    // Same phone in another spelling, same e-mail in another case: refused, pointing at 李总.
    for dup in [json!({"phone": "13800138000"}), json!({"email": "li@chain.EXAMPLE"})] {
        let mut body = json!({"account_id": other, "name": "Copy"});
        body.as_object_mut().unwrap().extend(dup.as_object().unwrap().clone());
        let r = ws.admin.post("/api/v1/contacts", body).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert_eq!(r.body["error"]["details"]["existing_id"], boss.as_str());
    }
    // Reports-to must stay within the account and must not loop.
    let stranger = ws.admin.create("/api/v1/contacts", json!({"account_id": other, "name": "Stranger"})).await;
    let r = ws.admin.patch(&format!("/api/v1/contacts/{worker}"), json!({"version": 1, "reports_to_id": stranger})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), vec!["reports_to_id"]);
    let r = ws.admin.patch(&format!("/api/v1/contacts/{boss}"), json!({"version": 1, "reports_to_id": worker})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a loop must be refused: {}", r.body);
    // Unknown enum values name the field.
    let r = ws.admin.post("/api/v1/contacts", json!({"account_id": a, "name": "X", "decision_role": "boss"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), vec!["decision_role"]);
    // Filters.
    let dm = ws.admin.get(&format!("/api/v1/contacts?account_id={a}&decision_role=decision_maker")).await;
    assert_eq!(dm.body["total"], 1);
    assert_eq!(dm.body["items"][0]["id"], boss.as_str());
}

#[tokio::test]
async fn contact_validation_lists_every_bad_field() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Valid").await;
    let r = ws.admin.post("/api/v1/contacts", json!({"account_id": "not-an-id", "name": "  ", "email": "nope", "phone": "12"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["account_id", "email", "name", "phone"]);
    assert_eq!(ws.admin.get("/api/v1/contacts").await.body["total"], 0);
}
