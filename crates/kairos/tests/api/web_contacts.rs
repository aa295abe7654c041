//! Contacts in the browser (§10): the list across the accounts the caller sees, with its
//! filters, and a contact's page whose facts save under optimistic locking and the API's rules.

use kairos_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::json;

use crate::fixture::org;
use crate::web::Browser;

#[tokio::test]
async fn contacts_are_listed_within_scope_filtered_and_edited_in_the_browser() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let sh_acct = o.rep_sh.create("/api/v1/accounts", json!({"name": "上海联影 <医疗>"})).await;
    let dm = o.rep_sh.create("/api/v1/contacts", json!({"account_id": sh_acct, "name": "张总", "decision_role": "decision_maker", "attitude": "supporter", "phone": "13900001111"})).await;
    o.rep_sh.create("/api/v1/contacts", json!({"account_id": sh_acct, "name": "李工", "decision_role": "influencer"})).await;
    let bj_acct = o.rep_bj.create("/api/v1/accounts", json!({"name": "北京客户"})).await;
    o.rep_bj.create("/api/v1/contacts", json!({"account_id": bj_acct, "name": "王经理", "decision_role": "user"})).await;

    let rep = Browser::login(&app, "rep.sh@acme.test").await;
    let (status, html) = rep.page("/contacts").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("张总") && html.contains("李工") && !html.contains("王经理"), "only contacts of accounts in scope");
    assert!(html.contains("上海联影 &lt;医疗&gt;"), "with their account, escaped");
    let (_, html) = rep.page("/contacts?decision_role=decision_maker").await;
    assert!(html.contains("张总") && !html.contains("李工"), "filtered by decision role");
    let (status, _) = rep.page("/contacts?decision_role=emperor").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let bj = o.rep_bj.get("/api/v1/contacts").await.body["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(rep.page(&format!("/contacts/{bj}")).await.0, StatusCode::NOT_FOUND, "another branch's contact is not there");

    // The page edits the facts; an emptied field is cleared; a stale form and a bad e-mail
    // are refused and change nothing.
    let (status, html) = rep.page(&format!("/contacts/{dm}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("value=\"13900001111\""));
    let form = |version: &'static str, email: &'static str| {
        vec![("version", version), ("name", "张建国"), ("title", "CIO"), ("phone", ""), ("email", email), ("wechat", "zjg"), ("decision_role", "decision_maker"), ("attitude", "champion"), ("notes", "喜欢早上开会")]
    };
    let (status, _, body) = rep.post_form(&format!("/contacts/{dm}"), &form("1", "not-an-email")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("email"), "{body}");
    let (status, _, body) = rep.post_form(&format!("/contacts/{dm}"), &form("1", "zjg@united.example")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let saved = o.rep_sh.get(&format!("/api/v1/contacts/{dm}")).await.body;
    assert_eq!((&saved["name"], &saved["title"], &saved["phone"], &saved["email"], &saved["attitude"], &saved["notes"]),
        (&json!("张建国"), &json!("CIO"), &json!(null), &json!("zjg@united.example"), &json!("champion"), &json!("喜欢早上开会")));
    let (status, _, _) = rep.post_form(&format!("/contacts/{dm}"), &form("1", "other@united.example")).await;
    assert_eq!(status, StatusCode::CONFLICT, "the form's version is gone");
    assert_eq!(o.rep_sh.get(&format!("/api/v1/contacts/{dm}")).await.body["email"], "zjg@united.example");
}
