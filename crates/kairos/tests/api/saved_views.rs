//! Saved views (§10): each person names the filters they use, over the API and on the
//! opportunity list; a view is theirs alone and must be a filter its list understands.

use kairos_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::json;

use crate::fixture::org;
use crate::web::Browser;

#[tokio::test]
async fn people_save_name_open_and_delete_their_own_views() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;

    // Over the API: paging and export format are not part of a view.
    let r = o.rep_sh.post("/api/v1/saved-views", json!({"list": "opportunities", "name": "大单", "query": "?status=open&sort=-amount&cursor=xyz&format=csv&q="})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["query"], "status=open&sort=-amount");
    let id = r.id();
    // Refusals name the field and store nothing: an unknown list, an empty name, a filter
    // the list cannot read, the same name twice.
    for (body, field) in [
        (json!({"list": "invoices", "name": "x", "query": ""}), "list"),
        (json!({"list": "opportunities", "name": " ", "query": ""}), "name"),
        (json!({"list": "opportunities", "name": "坏的", "query": "amount_min=lots"}), "query"),
        (json!({"list": "opportunities", "name": "坏的", "query": "sort=shoe_size"}), "query"),
    ] {
        let r = o.rep_sh.post("/api/v1/saved-views", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.error_fields().contains(&field.to_string()), "{field}: {}", r.body);
    }
    let r = o.rep_sh.post("/api/v1/saved-views", json!({"list": "opportunities", "name": "大单", "query": "status=won"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(o.rep_sh.get("/api/v1/saved-views?list=opportunities").await.body.as_array().unwrap().len(), 1);
    // Another person sees none of it and cannot delete it.
    assert!(o.rep_bj.get("/api/v1/saved-views?list=opportunities").await.body.as_array().unwrap().is_empty());
    assert_eq!(o.rep_bj.delete(&format!("/api/v1/saved-views/{id}")).await.status, StatusCode::NOT_FOUND);

    assert_eq!(o.rep_sh.get("/api/v1/saved-views?list=nothing").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The lead list has views too, checked by the lead list's own rules ("me" is whoever opens it).
    let r = o.rep_sh.post("/api/v1/saved-views", json!({"list": "leads", "name": "我的合格线索", "query": "status=qualified&owner_id=me"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = o.rep_sh.post("/api/v1/saved-views", json!({"list": "leads", "name": "睡着的", "query": "status=sleeping"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.error_fields().contains(&"query".to_string()), "{}", r.body);

    // In the browser: the list offers the view as a link, saves the current filter under a
    // name, and deletes.
    let rep = Browser::login(&app, "rep.sh@acme.test").await;
    let (status, html) = rep.page("/opportunities?status=won&sort=name").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("href=\"/opportunities?status=open&amp;sort=-amount\"") && html.contains("大单"), "the saved view is a link");
    assert!(html.contains("name=\"query\" value=\"status=won&amp;sort=name\""), "the save form carries the current filter");
    let (status, _, body) = rep.post_form("/views", &[("list", "opportunities"), ("name", "赢单 <按名称>"), ("query", "status=won&sort=name")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, html) = rep.page("/opportunities?status=won&sort=name").await;
    assert!(html.contains("赢单 &lt;按名称&gt;") && html.contains("aria-current=\"true\">赢单"), "listed, escaped, and marked as the one showing");
    let views = o.rep_sh.get("/api/v1/saved-views?list=opportunities").await.body;
    assert_eq!(views.as_array().unwrap().len(), 2);
    let (_, leads) = rep.page("/leads").await;
    assert!(leads.contains("href=\"/leads?status=qualified&amp;owner_id=me\"") && !leads.contains("赢单"), "the lead list shows its own views only");
    let (status, _, _) = rep.post_form(&format!("/views/{id}/delete"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let left = o.rep_sh.get("/api/v1/saved-views?list=opportunities").await.body;
    assert_eq!(left.as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect::<Vec<_>>(), vec!["赢单 <按名称>"]);
}
