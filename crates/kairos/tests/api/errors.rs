//! Bad input answers 4xx with the error shape of API.md and writes nothing.

use kairos_testkit::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn malformed_requests_answer_4xx_never_500_and_write_nothing() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Bad").await;
    let c = &ws.admin;
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        ("application/json", b"{\"name\": ".to_vec(), StatusCode::BAD_REQUEST, "malformed_json"),
        ("application/json", b"[1,2]".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("application/json", b"{\"name\": 42}".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("application/json", b"{\"name\": \"X\", \"account_type\": \"alien\"}".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("application/json", b"{\"name\": \"X\", \"colour\": \"red\"}".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("application/json", b"{\"name\": \"X\", \"owner_id\": \"42\"}".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("text/plain", b"name=X".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ("application/json", format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024)).into_bytes(), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
    ];
    for (ct, body, status, code) in cases {
        let r = c.raw(Method::POST, "/api/v1/accounts", ct, body).await;
        assert_eq!((r.status, r.code()), (status, code), "{}", r.body);
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let r = c.raw(Method::POST, "/api/v1/accounts", "application/json", b"{\"name\": \"X\", \"colour\": \"red\"}".to_vec()).await;
    assert_eq!(r.error_fields(), vec!["colour"]);
    // Bad ids are simply not found.
    assert_eq!(c.get("/api/v1/accounts/not-a-uuid").await.status, StatusCode::NOT_FOUND);
    assert_eq!(c.get("/api/v1/accounts/00000000-0000-0000-0000-000000000000").await.status, StatusCode::NOT_FOUND);
    assert_eq!(c.get("/api/v1/nothing-here").await.code(), "not_found");
    assert_eq!(c.send(Method::PUT, "/api/v1/accounts", None, &[]).await.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(c.get("/api/v1/accounts").await.body["total"], 0, "nothing was written");
}

#[tokio::test]
async fn openapi_document_covers_every_route_and_docs_are_self_served() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let doc = anon.get("/api/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/auth/tokens", "post"), ("/api/v1/auth/tokens", "get"), ("/api/v1/auth/tokens/{id}", "delete"),
        ("/api/v1/accounts", "get"), ("/api/v1/accounts", "post"), ("/api/v1/accounts/{id}", "patch"),
        ("/api/v1/accounts/{id}", "delete"), ("/api/v1/accounts/{id}/restore", "post"), ("/api/v1/contacts/{id}", "get"),
        ("/api/v1/org-units", "post"), ("/api/v1/users/{id}", "patch"), ("/api/v1/audit", "get"), ("/healthz", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is documented");
    }
    assert!(doc.body["components"]["schemas"]["ErrorBody"].is_object());
    let docs = anon.raw(Method::GET, "/api/docs", "text/html", vec![]).await;
    assert_eq!(docs.status, StatusCode::OK);
    let html = docs.body.as_str().unwrap();
    assert!(html.contains("/api/docs/docs.js") && !html.contains("https://"), "no CDN");
    assert_eq!(anon.raw(Method::GET, "/api/docs/docs.js", "text/plain", vec![]).await.status, StatusCode::OK);
    let health = anon.get("/healthz").await;
    assert_eq!(health.body["status"], "ok");
}

#[tokio::test]
async fn concurrent_duplicate_creates_leave_exactly_one_account() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Race").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let c = ws.admin.clone();
        let name = if i % 2 == 0 { "Race Co., Ltd." } else { "RACE co" };
        tasks.push(tokio::spawn(async move { c.post("/api/v1/accounts", json!({"name": name})).await.status }));
    }
    let mut created = 0;
    for t in tasks {
        let s = t.await.unwrap();
        assert!(s == StatusCode::CREATED || s == StatusCode::CONFLICT, "{s}");
        created += (s == StatusCode::CREATED) as usize;
    }
    assert_eq!(created, 1);
    assert_eq!(ws.admin.get("/api/v1/accounts").await.body["total"], 1);
}

/// A restart or failover of PostgreSQL ends the pool's connections under it. A connection
/// idle for a second or more is pinged before a request waits for it, and one a report takes
/// beside its first without waiting is pinged too, so the request gets a new one (or reads
/// on its first) instead of an error. (SQLite's connections are to a file: nothing ends them.)
#[tokio::test]
async fn connections_the_database_ended_are_replaced_before_a_request_takes_them() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Ended").await;
    assert_eq!(ws.admin.get("/api/v1/me").await.status, StatusCode::OK);
    if app.end_database_connections().await == 0 {
        assert_eq!(kairos_testkit::db_kind(), kairos_testkit::DbKind::Sqlite, "PostgreSQL ended none of the pool's connections");
        return;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    // Reports take a second connection when one is idle, without waiting: checked too.
    for path in ["/api/v1/accounts", "/api/v1/reports/team", "/api/v1/reports/forecast", "/api/v1/reports/win-rate", "/api/v1/accounts"] {
        let r = ws.admin.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    }
}
