//! Accounts: duplicates, optimistic locking, idempotency, archive and restore, lists, audit.

use kairos_testkit::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn duplicate_names_are_refused_with_the_existing_id() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Dup").await;
    let a = ws.admin.create("/api/v1/accounts", json!({"name": "上海汽车集团股份有限公司"})).await;
    for spelling in ["上海汽车", " 上海汽车集团 ", "上海汽车有限公司", "上海 汽车（集团）股份有限公司"] {
        let r = ws.admin.post("/api/v1/accounts", json!({"name": spelling})).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{spelling}: {}", r.body);
        assert_eq!(r.code(), "duplicate");
        assert_eq!(r.body["error"]["details"]["existing_id"], a.as_str());
    }
    let b = ws.admin.create("/api/v1/accounts", json!({"name": "Acme Co., Ltd."})).await;
    let r = ws.admin.post("/api/v1/accounts", json!({"name": "ACME  Inc."})).await;
    assert_eq!(r.body["error"]["details"]["existing_id"], b.as_str());
    // Renaming onto another account's name is refused the same way.
    let r = ws.admin.patch(&format!("/api/v1/accounts/{b}"), json!({"version": 1, "name": "上海汽车股份有限公司"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["error"]["details"]["existing_id"], a.as_str());
    assert_eq!(ws.admin.get("/api/v1/accounts").await.body["total"], 2);
}

#[tokio::test]
async fn patch_needs_the_current_version_and_a_stale_one_changes_nothing() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Lock").await;
    let id = ws.admin.create("/api/v1/accounts", json!({"name": "Lock Ltd", "industry": "steel"})).await;
    let path = format!("/api/v1/accounts/{id}");

    let r = ws.admin.patch(&path, json!({"industry": "glass"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), vec!["version"]);

    let r = ws.admin.patch(&path, json!({"version": 1, "industry": "glass"})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.headers["etag"], "\"2\"");

    let stale = ws.admin.patch(&path, json!({"version": 1, "industry": "wood"})).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.code(), "stale_version");
    assert_eq!(stale.body["error"]["details"]["current_version"], 2);
    assert_eq!(ws.admin.get(&path).await.body["industry"], "glass");

    // If-Match works as well as a body version.
    let r = ws.admin.send(Method::PATCH, &path, Some(json!({"industry": "wood"})), &[("if-match", "\"2\"")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = ws.admin.send(Method::PATCH, &path, Some(json!({"industry": "iron"})), &[("if-match", "\"2\"")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // null clears an optional field.
    let r = ws.admin.patch(&path, json!({"version": 3, "industry": null})).await;
    assert_eq!(r.body["industry"], serde_json::Value::Null);
}

#[tokio::test]
async fn the_same_idempotency_key_replays_and_never_creates_twice() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Idem").await;
    let body = json!({"name": "Once Only Ltd"});
    let key = [("idempotency-key", "create-once-1")];
    let first = ws.admin.send(Method::POST, "/api/v1/accounts", Some(body.clone()), &key).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = ws.admin.send(Method::POST, "/api/v1/accounts", Some(body.clone()), &key).await;
    assert_eq!(second.status, StatusCode::CREATED, "a retry gets the first answer, not a duplicate error");
    assert_eq!(second.body["id"], first.body["id"]);
    assert_eq!(second.headers["location"], first.headers["location"]);
    assert_eq!(ws.admin.get("/api/v1/accounts").await.body["total"], 1);
    // The same key with another body is a client error.
    let other = ws.admin.send(Method::POST, "/api/v1/accounts", Some(json!({"name": "Other"})), &key).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.code(), "idempotency_key_reused");
    assert_eq!(ws.admin.get("/api/v1/accounts").await.body["total"], 1);
}

#[tokio::test]
async fn delete_archives_and_restore_brings_back() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Arch").await;
    let id = ws.admin.create("/api/v1/accounts", json!({"name": "Gone Soon"})).await;
    let path = format!("/api/v1/accounts/{id}");
    assert_eq!(ws.admin.delete(&path).await.status, StatusCode::NO_CONTENT);
    assert_eq!(ws.admin.get("/api/v1/accounts").await.body["total"], 0);
    let archived = ws.admin.get("/api/v1/accounts?archived=true").await;
    assert_eq!(archived.body["total"], 1);
    let r = ws.admin.patch(&path, json!({"version": 2, "industry": "x"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.code(), "archived");
    // An archived account still blocks its name.
    assert_eq!(ws.admin.post("/api/v1/accounts", json!({"name": "gone soon"})).await.status, StatusCode::CONFLICT);
    let r = ws.admin.post(&format!("{path}/restore"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["archived"], false);
    assert_eq!(ws.admin.get("/api/v1/accounts").await.body["total"], 1);
}

#[tokio::test]
async fn every_change_is_audited_with_old_and_new_values() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Audit").await;
    let id = ws.admin.create("/api/v1/accounts", json!({"name": "Audit Me", "industry": "steel"})).await;
    ws.admin.patch(&format!("/api/v1/accounts/{id}"), json!({"version": 1, "industry": "glass"})).await;
    ws.admin.delete(&format!("/api/v1/accounts/{id}")).await;
    let r = ws.admin.get(&format!("/api/v1/audit?entity=account&id={id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    let rows = r.body.as_array().expect("rows");
    let me = ws.admin.get("/api/v1/me").await.body["id"].clone();
    assert!(rows.iter().all(|row| row["actor_id"] == me));
    let find = |action: &str, field: &str| rows.iter().find(|r| r["action"] == action && r["field"] == field).cloned();
    assert_eq!(find("create", "name").expect("create row")["new_value"], "Audit Me");
    let change = find("update", "industry").expect("update row");
    assert_eq!((change["old_value"].as_str(), change["new_value"].as_str()), (Some("steel"), Some("glass")));
    assert_eq!(find("delete", "archived").expect("delete row")["new_value"], "true");
}

#[tokio::test]
async fn lists_filter_sort_and_page_with_a_total() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("List").await;
    for i in 0..7 {
        let industry = if i % 2 == 0 { "auto" } else { "bank" };
        ws.admin.create("/api/v1/accounts", json!({"name": format!("Company {i}"), "industry": industry, "tags": ["vip"]})).await;
    }
    let p1 = ws.admin.get("/api/v1/accounts?industry=auto&sort=-name&limit=3").await;
    assert_eq!(p1.body["total"], 4);
    let names: Vec<&str> = p1.body["items"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["Company 6", "Company 4", "Company 2"]);
    let cursor = p1.body["next_cursor"].as_str().expect("a second page").to_string();
    let p2 = ws.admin.get(&format!("/api/v1/accounts?industry=auto&sort=-name&limit=3&cursor={cursor}")).await;
    assert_eq!(p2.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(p2.body["next_cursor"], serde_json::Value::Null);
    assert_eq!(ws.admin.get("/api/v1/accounts?tag=vip").await.body["total"], 7);
    let bad = ws.admin.get("/api/v1/accounts?sort=password&limit=9999&account_type=alien&cursor=zzz").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["account_type", "cursor", "limit", "sort"]);
}
