//! `kairos demo`: realistic data that the rest of the product can be shown with.

use kairos_app::demo::{DEMO_PASSWORD, DemoSpec};
use kairos_testkit::TestApp;
use reqwest::StatusCode;

async fn fingerprint(app: &TestApp) -> Vec<(String, i64, String)> {
    let director = app.login("director@demo.kairos", DEMO_PASSWORD).await;
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = director.get(&format!("/api/v1/opportunities?limit=500&sort=number{cursor}")).await;
        for o in r.body["items"].as_array().unwrap() {
            out.push((o["number"].as_str().unwrap().to_string(), o["amount"].as_i64().unwrap(), o["status"].as_str().unwrap().to_string()));
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    out
}

#[tokio::test]
async fn the_demo_has_every_role_stage_and_outcome_and_the_same_seed_builds_the_same_data() {
    let app = TestApp::spawn().await;
    let summary = app.app.build_demo(DemoSpec { scale: 1, seed: 7, revisions: 0 }).await.expect("demo builds");
    assert_eq!((summary.accounts, summary.contacts, summary.opportunities), (300, 600, 1500));
    assert!(summary.logins.len() >= 20);
    for role in ["admin", "director", "manager", "sales_rep", "presales", "customer_success", "finance", "legal"] {
        assert!(summary.logins.iter().any(|(_, r)| r == role), "{role}");
    }
    let director = app.login("director@demo.kairos", DEMO_PASSWORD).await;
    for status in ["open", "won", "lost", "invalid"] {
        let n = director.get(&format!("/api/v1/opportunities?status={status}&limit=1")).await.body["total"].as_i64().unwrap();
        assert!(n > 20, "{status}: {n}");
    }
    let pipeline = director.get("/api/v1/pipeline").await;
    assert_eq!(pipeline.status, StatusCode::OK);
    for column in pipeline.body["columns"].as_array().unwrap() {
        assert!(column["count"].as_i64().unwrap() > 0, "every stage holds open deals: {}", column["name"]);
    }
    // A rep sees only their own part.
    let rep = app.login("rep.sh1.1@demo.kairos", DEMO_PASSWORD).await;
    let mine = rep.get("/api/v1/opportunities?limit=1").await.body["total"].as_i64().unwrap();
    assert!(mine > 0 && mine < 500, "{mine}");
    // Managers have approvals waiting.
    let mut pending = 0;
    for m in ["manager.sh1", "manager.sh2", "manager.bj1", "manager.bj2"] {
        let c = app.login(&format!("{m}@demo.kairos"), DEMO_PASSWORD).await;
        pending += c.get("/api/v1/approvals").await.body.as_array().unwrap().len();
    }
    assert!(pending > 0);
    // History spans about 18 months.
    let oldest = director.get("/api/v1/opportunities?sort=created_at&limit=1").await;
    let created = chrono::DateTime::parse_from_rfc3339(oldest.body["items"][0]["created_at"].as_str().unwrap()).unwrap();
    assert!((chrono::Utc::now() - created.with_timezone(&chrono::Utc)).num_days() > 450);

    let first = fingerprint(&app).await;
    let again = TestApp::spawn().await;
    again.app.build_demo(DemoSpec { scale: 1, seed: 7, revisions: 0 }).await.expect("demo builds");
    assert_eq!(fingerprint(&again).await, first, "the same seed builds the same deals");
}

/// `kairos demo --revisions N` writes a denser history (the benchmark asks for about five
/// history rows a deal): the same deals, more of their amounts and expected closes revised,
/// each revision recorded as the product's own edits are, and every deal's history ending
/// at the amount the deal has.
#[tokio::test]
async fn revisions_make_the_history_denser_and_every_history_still_ends_at_its_deals_amount() {
    let app = TestApp::spawn().await;
    app.app.build_demo(DemoSpec { scale: 1, seed: 7, revisions: 3 }).await.expect("demo builds");
    let store = &app.app.store;
    let mut conn = store.read().await.unwrap();
    let count = |kind: &str| kairos_store::sql("SELECT CAST(COUNT(*) AS BIGINT) FROM opportunity_history WHERE kind = $1").bind(kind.to_string());
    let deals = conn.conn().fetch_count(&kairos_store::sql("SELECT CAST(COUNT(*) AS BIGINT) FROM opportunity")).await.unwrap();
    let fields = conn.conn().fetch_count(&count("field")).await.unwrap();
    assert_eq!(deals, 1500);
    // One slip for a quarter of the deals, and on average 1.5 revisions for those open long enough.
    assert!(fields > 1500, "{fields} field changes for {deals} deals");
    // Each deal's last event carries the amount the deal has now (the history's ids are
    // minted in the order of its events).
    let unlike = kairos_store::sql(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM opportunity o JOIN opportunity_history h ON h.opportunity_id = o.opportunity_id \
         WHERE h.history_id = (SELECT MAX(l.history_id) FROM opportunity_history l WHERE l.opportunity_id = o.opportunity_id) AND h.amount <> o.amount",
    );
    assert_eq!(conn.conn().fetch_count(&unlike).await.unwrap(), 0);
    let again = TestApp::spawn().await;
    again.app.build_demo(DemoSpec { scale: 1, seed: 7, revisions: 0 }).await.expect("demo builds");
    let mut other = again.app.store.read().await.unwrap();
    assert!(other.conn().fetch_count(&count("field")).await.unwrap() < fields / 2, "without revisions, one slip for some deals only");
}
