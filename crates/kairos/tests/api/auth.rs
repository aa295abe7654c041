//! Tokens and sessions: login, listing and revoking tokens, rate limits, CSRF.

use kairos_testkit::{PASSWORD, TestApp};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn tokens_are_issued_listed_and_revoked() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("Tok").await;
    let anon = app.anonymous();
    assert_eq!(anon.get("/api/v1/accounts").await.status, StatusCode::UNAUTHORIZED);
    let r = anon.post("/api/v1/auth/tokens", json!({"email": "admin@tok.test", "password": PASSWORD, "name": "script"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.body["expires_at"].is_string());
    let token = r.body["token"].as_str().unwrap().to_string();
    let client = kairos_testkit::Client::new(&app.address, Some(token));
    assert_eq!(client.get("/api/v1/me").await.body["email"], "admin@tok.test");
    let list = ws.admin.get("/api/v1/auth/tokens").await;
    let names: Vec<&str> = list.body.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"script"));
    assert!(list.body.as_array().unwrap().iter().all(|t| t.get("token").is_none()), "secrets are never listed");
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(ws.admin.delete(&format!("/api/v1/auth/tokens/{id}")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(client.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    let bogus = kairos_testkit::Client::new(&app.address, Some("kai_nonsense".into()));
    assert_eq!(bogus.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_credentials_do_not_say_which_part_was_wrong_and_are_rate_limited() {
    let app = TestApp::spawn().await;
    app.workspace("Rate").await;
    let anon = app.anonymous();
    let wrong_password = anon.post("/api/v1/auth/tokens", json!({"email": "admin@rate.test", "password": "nope nope nope"})).await;
    let wrong_email = anon.post("/api/v1/auth/tokens", json!({"email": "nobody@rate.test", "password": "nope nope nope"})).await;
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_email.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.body, wrong_email.body, "both failures must look alike");
    for _ in 0..4 {
        anon.post("/api/v1/auth/tokens", json!({"email": "admin@rate.test", "password": "nope nope nope"})).await;
    }
    // Five failures for the account: even the right password is refused for a while.
    let r = anon.post("/api/v1/auth/tokens", json!({"email": "admin@rate.test", "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 15 * 60);
}

#[tokio::test]
async fn browser_login_sets_a_safe_session_cookie_and_needs_csrf_for_changes() {
    let app = TestApp::spawn().await;
    app.workspace("Web").await;
    let http = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(format!("{}/login", app.address)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let csrf = html.split("name=\"csrf_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();

    // A forged form without the login CSRF token is refused.
    let forged = reqwest::Client::new()
        .post(format!("{}/login", app.address))
        .form(&[("email", "admin@web.test"), ("password", PASSWORD), ("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let login = http
        .post(format!("{}/login", app.address))
        .form(&[("email", "admin@web.test"), ("password", PASSWORD), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("kairos_session="))
        .expect("session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");

    let home = http.get(format!("{}/", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("admin@web.test"));
    let session_csrf = home.split("name=\"csrf_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();

    // Reads work with the cookie; writes need the CSRF header.
    assert_eq!(http.get(format!("{}/api/v1/me", app.address)).send().await.unwrap().status(), StatusCode::OK);
    let no_csrf = http.post(format!("{}/api/v1/accounts", app.address)).json(&json!({"name": "Csrf Ltd"})).send().await.unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    let with_csrf = http
        .post(format!("{}/api/v1/accounts", app.address))
        .header("x-csrf-token", &session_csrf)
        .json(&json!({"name": "Csrf Ltd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(with_csrf.status(), StatusCode::CREATED);

    let out = http.post(format!("{}/logout", app.address)).form(&[("csrf_token", session_csrf.as_str())]).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(http.get(format!("{}/api/v1/me", app.address)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}
