//! The SQLite and PostgreSQL schemas must not drift: same migration files, and after
//! migrating, the same tables with the same columns.

use std::collections::BTreeSet;
use std::path::Path;

use kairos_store::{Store, StoreOptions, sql};

fn migration_names(dir: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kairos-store/migrations").join(dir);
    std::fs::read_dir(root).expect("migrations dir").map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn both_backends_have_the_same_migration_files() {
    let sqlite = migration_names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_names("postgres"));
}

async fn columns(store: &Store) -> BTreeSet<(String, String)> {
    let mut conn = store.read().await.unwrap();
    let rows: Vec<(String, String)> = match store.backend() {
        kairos_store::Backend::Sqlite => conn
            .conn()
            .fetch_all(&sql(
                "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
            ))
            .await
            .unwrap(),
        kairos_store::Backend::Postgres => conn
            .conn()
            .fetch_all(&sql(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'",
            ))
            .await
            .unwrap(),
    };
    rows.into_iter().collect()
}

/// Runs with the PostgreSQL half of the suite: migrates both kinds and compares them.
#[tokio::test]
async fn migrated_schemas_have_the_same_tables_and_columns() {
    if kairos_testkit::db_kind() != kairos_testkit::DbKind::Postgres {
        return; // the SQLite-only run has no PostgreSQL to compare with
    }
    let pg = kairos_testkit::TestApp::spawn().await;
    let path = std::env::temp_dir().join(format!("kairos-drift-{}.db", std::process::id()));
    let lite = Store::connect(&StoreOptions::new(format!("sqlite://{}", path.display()))).await.unwrap();
    lite.migrate().await.unwrap();
    let (a, b) = (columns(&lite).await, columns(&pg.app.store).await);
    lite.close().await;
    let _ = std::fs::remove_file(&path);
    assert!(a.len() > 50, "the schema was read: {} columns", a.len());
    let only_sqlite: Vec<_> = a.difference(&b).collect();
    let only_pg: Vec<_> = b.difference(&a).collect();
    assert!(only_sqlite.is_empty() && only_pg.is_empty(), "drift: only in SQLite {only_sqlite:?}, only in PostgreSQL {only_pg:?}");
}

/// The states each history row carries (migration 0016), as text.
type StoredStates = Vec<(String, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<i64>, Option<String>, Option<i64>, Option<String>)>;

async fn history_states(store: &Store) -> StoredStates {
    let mut conn = store.read().await.unwrap();
    conn.conn()
        .fetch_all(&sql(
            "SELECT history_id, stage_id, status, CAST(close_date AS TEXT), was_stage_id, was_status, was_amount, was_currency, was_probability, \
             CAST(was_close_date AS TEXT) FROM opportunity_history ORDER BY history_id",
        ))
        .await
        .unwrap()
}

/// Migration 0016 gave every past history row the deal's state before and after it; the
/// write path stores the same for every new row. Both must agree, or the pipeline of a past
/// date would differ between events written before and after the upgrade.
/// The demo's history and a deal with the changes the demo does not make.
async fn app_with_varied_history() -> kairos_testkit::TestApp {
    let app = kairos_testkit::TestApp::spawn().await;
    app.app.build_demo(kairos_app::demo::DemoSpec { scale: 1, seed: 4, revisions: 0 }).await.expect("demo");
    // Changes the demo does not make: amount, currency and close together, a close, a reopen.
    let ws = app.workspace("States").await;
    let a = &ws.admin;
    let acct = a.create("/api/v1/accounts", serde_json::json!({"name": "States Co"})).await;
    let lost = a.get("/api/v1/close-reasons").await.body.as_array().unwrap().iter().find(|r| r["outcome"] == "lost").unwrap()["id"].clone();
    let id = a.create("/api/v1/opportunities", serde_json::json!({"name": "S", "account_id": acct, "amount": 100_000, "expected_close_date": "2026-06-30"})).await;
    let path = format!("/api/v1/opportunities/{id}");
    let steps = [
        ("PATCH", "", serde_json::json!({"version": 1, "amount": 90_000, "currency": "USD", "expected_close_date": "2026-08-31"})),
        ("POST", "/close", serde_json::json!({"outcome": "lost", "version": 2, "reason_id": lost})),
        ("POST", "/reopen", serde_json::json!({"version": 3, "reason": "back"})),
        ("PATCH", "", serde_json::json!({"version": 4, "expected_close_date": null})),
    ];
    for (method, tail, body) in steps {
        let r = if method == "PATCH" { a.patch(&format!("{path}{tail}"), body).await } else { a.post(&format!("{path}{tail}"), body).await };
        assert_eq!(r.status, reqwest::StatusCode::OK, "{method} {tail}: {}", r.body);
    }
    app
}

/// The migration's `sql` between `from` and `to` (included).
fn migration_part(backend: kairos_store::Backend, sqlite: &'static str, postgres: &'static str, from: &str, to: &str) -> String {
    let migration = match backend {
        kairos_store::Backend::Sqlite => sqlite,
        kairos_store::Backend::Postgres => postgres,
    };
    let (start, end) = (migration.find(from).unwrap(), migration.find(to).unwrap());
    migration[start..end + to.len()].to_string()
}

#[tokio::test]
async fn the_migrations_history_states_are_the_ones_the_write_path_stores() {
    let app = app_with_varied_history().await;
    let written = history_states(&app.app.store).await;
    assert!(written.iter().any(|r| r.5.is_some()) && written.iter().any(|r| r.3.is_some()), "states were written");
    assert!(written.iter().any(|r| r.7.as_deref() == Some("USD") && r.5.as_deref() == Some("lost")), "the close remembers the currency before it");

    let backfill = migration_part(
        app.app.store.backend(),
        include_str!("../../../kairos-store/migrations/sqlite/0016_history_states.sql"),
        include_str!("../../../kairos-store/migrations/postgres/0016_history_states.sql"),
        "create temporary table history_state",
        "drop table history_state;",
    );
    let mut tx = app.app.store.begin().await.unwrap();
    tx.conn()
        .execute_script(&format!(
            "UPDATE opportunity_history SET stage_id = NULL, status = NULL, close_date = NULL, was_stage_id = NULL, was_status = NULL, \
             was_amount = NULL, was_currency = NULL, was_probability = NULL, was_close_date = NULL; {backfill}"
        ))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let migrated = history_states(&app.app.store).await;
    assert_eq!(written.len(), migrated.len());
    for (w, m) in written.iter().zip(&migrated) {
        assert_eq!(w, m, "history row {}", w.0);
    }
}

/// The rolled-up pipeline changes, folded, in key order.
async fn rollup_rows(store: &Store) -> Vec<(String, String, String, String, String, i64, i64, i64, i64, i64)> {
    let mut conn = store.read().await.unwrap();
    conn.conn()
        .fetch_all(&sql(
            "SELECT workspace_id, day, stage_id, close_month, currency, deals, amount_hi, amount_lo, weighted_hi, weighted_lo \
             FROM pipeline_change_day WHERE source = '' ORDER BY workspace_id, day, stage_id, close_month, currency",
        ))
        .await
        .unwrap()
}

/// Migration 0018 rolled up the history written before it; the write path rolls up every new
/// event. Folded, both must give the same rows, or trend and forecast accuracy would differ
/// before and after the upgrade.
#[tokio::test]
async fn the_migrations_rolled_up_changes_are_the_ones_the_write_path_stores() {
    let app = app_with_varied_history().await;
    app.app.fold_pipeline_changes().await.unwrap();
    let written = rollup_rows(&app.app.store).await;
    assert!(written.iter().any(|r| r.4 == "USD") && written.iter().any(|r| r.3.is_empty()) && written.iter().any(|r| r.5 < 0), "the rows have what to compare");
    let backfill = migration_part(
        app.app.store.backend(),
        include_str!("../../../kairos-store/migrations/sqlite/0018_pipeline_rollup.sql"),
        include_str!("../../../kairos-store/migrations/postgres/0018_pipeline_rollup.sql"),
        "insert into pipeline_change_day",
        "group by workspace_id, day, stage_id, close_month, currency;",
    );
    let mut tx = app.app.store.begin().await.unwrap();
    tx.conn().execute_script(&format!("DELETE FROM pipeline_change_day; {backfill}")).await.unwrap();
    tx.commit().await.unwrap();
    let migrated = rollup_rows(&app.app.store).await;
    assert_eq!(written.len(), migrated.len());
    for (w, m) in written.iter().zip(&migrated) {
        assert_eq!(w, m);
    }
}

/// The activity counts per day and owner, folded, in key order, without the keys that net to
/// nothing (a hand-over leaves those; reads skip them).
async fn activity_rows(store: &Store) -> Vec<(String, String, String, i64)> {
    let mut conn = store.read().await.unwrap();
    conn.conn()
        .fetch_all(&sql("SELECT workspace_id, day, owner_id, activities FROM activity_day WHERE source = '' AND activities <> 0 ORDER BY workspace_id, day, owner_id"))
        .await
        .unwrap()
}

/// Migration 0019 counted the activities logged before it; the write path counts every new
/// one and moves a deal's counts when it changes hands. Folded, both must give the same rows,
/// or the leaderboard would differ before and after the upgrade.
#[tokio::test]
async fn the_migrations_activity_counts_are_the_ones_the_write_path_stores() {
    let app = app_with_varied_history().await;
    let admin = app.login("admin@demo.kairos", kairos_app::demo::DEMO_PASSWORD).await;
    let open = admin.get("/api/v1/opportunities?status=open&limit=20").await.body["items"].as_array().unwrap().clone();
    let (d, to) = (&open[0], open.iter().map(|o| &o["owner_id"]).find(|o| **o != open[0]["owner_id"]).unwrap());
    let id = d["id"].as_str().unwrap();
    // Either side of a local midnight (UTC+8), then a change of hands.
    for at in ["2026-03-31T15:59:59.999Z", "2026-03-31T16:00:00Z"] {
        let r = admin.post("/api/v1/activities", serde_json::json!({"kind": "visit", "opportunity_id": id, "summary": "midnight", "occurred_at": at})).await;
        assert_eq!(r.status, reqwest::StatusCode::CREATED, "{}", r.body);
    }
    let r = admin.patch(&format!("/api/v1/opportunities/{id}"), serde_json::json!({"version": d["version"], "owner_id": to})).await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.body);
    app.app.fold_activity_counts().await.unwrap();
    let written = activity_rows(&app.app.store).await;
    assert!(written.iter().any(|r| r.1 == "2026-03-31") && written.iter().any(|r| r.1 == "2026-04-01"), "both days were counted");
    let backfill = migration_part(
        app.app.store.backend(),
        include_str!("../../../kairos-store/migrations/sqlite/0019_activity_rollup.sql"),
        include_str!("../../../kairos-store/migrations/postgres/0019_activity_rollup.sql"),
        "insert into activity_day",
        "group by 1, 2, 3;",
    );
    let mut tx = app.app.store.begin().await.unwrap();
    tx.conn().execute_script(&format!("DELETE FROM activity_day; {backfill}")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(written, activity_rows(&app.app.store).await);
}

/// The entries into stages rolled up per day, folded, in key order, without the keys that net
/// to nothing.
async fn stage_entry_rows(store: &Store) -> Vec<(String, String, String, String, i64, i64, i64)> {
    let mut conn = store.read().await.unwrap();
    conn.conn()
        .fetch_all(&sql(
            "SELECT workspace_id, day, stage_id, previous_day, entered, advanced, won FROM stage_entry_day \
             WHERE source = '' AND (entered <> 0 OR advanced <> 0 OR won <> 0) ORDER BY workspace_id, day, stage_id, previous_day",
        ))
        .await
        .unwrap()
}

/// Migration 0020 leaves the entries of the workspaces that existed before it to Kairos,
/// which builds them from the history when it migrates; the write path rolls up every new
/// event. Folded, both must give the same rows, or conversion would differ before and after
/// the upgrade.
#[tokio::test]
async fn the_stage_entries_built_after_the_migration_are_the_ones_the_write_path_stores() {
    let app = app_with_varied_history().await;
    let admin = app.login("admin@demo.kairos", kairos_app::demo::DEMO_PASSWORD).await;
    crate::fixture::back_and_forth(&admin, 3).await;
    app.app.fold_stage_entries().await.unwrap();
    let written = stage_entry_rows(&app.app.store).await;
    let re_entered = written.iter().any(|r| !r.3.is_empty());
    let (advanced, won, stayed) = (written.iter().any(|r| r.5 > 0), written.iter().any(|r| r.6 > 0), written.iter().any(|r| r.4 > r.5));
    assert!(re_entered && advanced && won && stayed, "the rows have what to compare: {:?}", (re_entered, advanced, won, stayed));
    // As the migration leaves them: nothing rolled up, no workspace built.
    let mut tx = app.app.store.begin().await.unwrap();
    tx.conn().execute_script("DELETE FROM stage_entry_day; DELETE FROM stage_entry_built;").await.unwrap();
    tx.commit().await.unwrap();
    app.app.store.migrate().await.unwrap();
    let built = stage_entry_rows(&app.app.store).await;
    let first_difference = written.iter().zip(&built).find(|(w, b)| w != b);
    assert_eq!(first_difference, None, "written, then built");
    assert_eq!(written.len(), built.len());
}

/// A folded row of passages counted per bucket: its key, its passages and the sum of their
/// days.
type PassageBucketRow = ((String, String, String, String, String, i32), i64, f64);

/// The passages counted per bucket, folded, in key order.
async fn passage_bucket_rows(store: &Store) -> Vec<PassageBucketRow> {
    let mut conn = store.read().await.unwrap();
    let rows: Vec<(String, String, String, String, String, i32, i64, f64)> = conn
        .conn()
        .fetch_all(&sql(
            "SELECT workspace_id, span, period, stage_id, measure, bucket, passages, days FROM passage_bucket \
             WHERE source = '' ORDER BY workspace_id, span, period, stage_id, measure, bucket",
        ))
        .await
        .unwrap();
    rows.into_iter().map(|(w, s, p, st, m, b, n, d)| ((w, s, p, st, m, b), n, d)).collect()
}

/// Migration 0021 leaves the passages of the workspaces that existed before it to Kairos,
/// which counts them from the history when it migrates; the write path counts every new one.
/// Folded, both must give the same rows, or dwell would differ before and after the upgrade.
#[tokio::test]
async fn the_passage_buckets_built_after_the_migration_are_the_ones_the_write_path_stores() {
    let app = app_with_varied_history().await;
    let admin = app.login("admin@demo.kairos", kairos_app::demo::DEMO_PASSWORD).await;
    crate::fixture::back_and_forth(&admin, 3).await;
    app.app.fold_passage_buckets().await.unwrap();
    let written = passage_bucket_rows(&app.app.store).await;
    let spans: std::collections::BTreeSet<(&str, &str)> = written.iter().map(|r| (r.0.1.as_str(), r.0.4.as_str())).collect();
    assert_eq!(spans.len(), 4, "months and days, calendar and working: {spans:?}");
    assert!(written.iter().any(|r| r.1 > 1), "some buckets hold several passages");
    let mut tx = app.app.store.begin().await.unwrap();
    tx.conn().execute_script("DELETE FROM passage_bucket; DELETE FROM passage_bucket_built;").await.unwrap();
    tx.commit().await.unwrap();
    app.app.store.migrate().await.unwrap();
    let built = passage_bucket_rows(&app.app.store).await;
    // The days of a row are summed in another order, so they may differ in the last place.
    let same = |w: &PassageBucketRow, b: &PassageBucketRow| w.0 == b.0 && w.1 == b.1 && (w.2 - b.2).abs() <= 1e-9 * w.2.abs().max(1.0);
    let first_difference = written.iter().zip(&built).find(|(w, b)| !same(w, b));
    assert_eq!(first_difference, None, "written, then built");
    assert_eq!(written.len(), built.len());
}

/// The folded rows of the closed deal sums that add something, in key order: a close then a
/// reopen leaves a folded row of zeros behind, which a rebuild never writes.
async fn closed_deal_sum_rows(store: &kairos_store::Store) -> Vec<(Vec<String>, i64, i64, i64)> {
    let mut conn = store.read().await.unwrap();
    let rows: Vec<(String, String, String, String, String, String, String, String, String, String, i64, i64, i64)> = conn
        .conn()
        .fetch_all(&sql(
            "SELECT workspace_id, facet, span, period, status, k1, k2, k3, k4, currency, deals, amount_hi, amount_lo FROM closed_deal_sum \
             WHERE source = '' AND (deals <> 0 OR amount_hi <> 0 OR amount_lo <> 0) \
             ORDER BY workspace_id, facet, span, period, status, k1, k2, k3, k4, currency",
        ))
        .await
        .unwrap();
    rows.into_iter().map(|(w, f, s, p, st, k1, k2, k3, k4, cur, n, hi, lo)| (vec![w, f, s, p, st, k1, k2, k3, k4, cur], n, hi, lo)).collect()
}

/// Migration 0023 leaves the closed deals of the workspaces that existed before it to
/// Kairos, which sums them from the deals when it migrates; the write path adds each close
/// and takes away each reopen. Folded, both must give the same rows, or win rate and loss
/// reasons would differ before and after the upgrade.
#[tokio::test]
async fn the_closed_deal_sums_built_after_the_migration_are_the_ones_the_write_path_stores() {
    let app = app_with_varied_history().await;
    let admin = app.login("admin@demo.kairos", kairos_app::demo::DEMO_PASSWORD).await;
    crate::fixture::close_and_reopen(&admin).await;
    app.app.fold_closed_deal_sums().await.unwrap();
    let written = closed_deal_sum_rows(&app.app.store).await;
    let facets: std::collections::BTreeSet<(&str, &str)> = written.iter().map(|r| (r.0[1].as_str(), r.0[2].as_str())).collect();
    assert_eq!(facets.len(), 12, "six facets, each by month and by day: {facets:?}");
    assert!(written.iter().any(|r| r.1 > 1), "some rows hold several deals");
    assert!(written.iter().all(|r| r.1 > 0), "no row takes away more than was added");
    let mut tx = app.app.store.begin().await.unwrap();
    tx.conn().execute_script("DELETE FROM closed_deal_sum; DELETE FROM closed_deal_sum_built;").await.unwrap();
    tx.commit().await.unwrap();
    app.app.store.migrate().await.unwrap();
    let built = closed_deal_sum_rows(&app.app.store).await;
    let first_difference = written.iter().zip(&built).find(|(w, b)| w != b);
    assert_eq!(first_difference, None, "written, then built");
    assert_eq!(written.len(), built.len());
}

/// Each deal's change per month, quarter and year, every column as text, in key order.
async fn deal_period_change_rows(store: &Store) -> Vec<String> {
    let columns: [&str; 21] = [
        "workspace_id", "span", "period", "opportunity_id", "first_at", "first_history_id", "was_stage_id", "was_status", "was_amount", "was_currency",
        "was_probability", "was_close_date", "last_at", "last_history_id", "stage_id", "status", "amount", "currency", "probability", "close_date", "moved",
    ];
    let row = columns.map(|c| format!("COALESCE(CAST({c} AS TEXT), '-')")).join(" || '|' || ");
    let mut conn = store.read().await.unwrap();
    let rows: Vec<(String,)> =
        conn.conn().fetch_all(&sql(format!("SELECT {row} FROM deal_period_change ORDER BY workspace_id, span, period, opportunity_id"))).await.unwrap();
    rows.into_iter().map(|(r,)| r).collect()
}

/// Migration 0027 leaves the periods of the workspaces that existed before it to Kairos,
/// which gathers them from the history when it migrates; the write path keeps each deal's
/// row of every month, quarter and year it writes into. Both must give the same rows, or a
/// period's movement would differ before and after the upgrade.
#[tokio::test]
async fn the_deal_period_changes_built_after_the_migration_are_the_ones_the_write_path_stores() {
    let app = app_with_varied_history().await;
    let admin = app.login("admin@demo.kairos", kairos_app::demo::DEMO_PASSWORD).await;
    crate::fixture::back_and_forth(&admin, 3).await;
    crate::fixture::close_and_reopen(&admin).await;
    let written = deal_period_change_rows(&app.app.store).await;
    let field = |r: &String, i: usize| r.split('|').nth(i).unwrap().to_string();
    let periods = |span: &str| written.iter().filter(|r| field(r, 1) == span).map(|r| field(r, 2)).collect::<BTreeSet<String>>().len();
    let (first_ever, later) = (written.iter().filter(|r| field(r, 7) == "-").count(), written.iter().filter(|r| field(r, 7) != "-").count());
    let several = written.iter().filter(|r| field(r, 5) != field(r, 13)).count();
    assert!(
        periods("month") >= 6 && periods("quarter") >= 2 && periods("year") >= 1 && first_ever > 0 && later > 0 && several > 0,
        "the rows have what to compare: {:?}",
        (periods("month"), periods("quarter"), periods("year"), first_ever, later, several)
    );
    let mut tx = app.app.store.begin().await.unwrap();
    tx.conn().execute_script("DELETE FROM deal_period_change; DELETE FROM deal_period_change_built;").await.unwrap();
    tx.commit().await.unwrap();
    app.app.store.migrate().await.unwrap();
    let built = deal_period_change_rows(&app.app.store).await;
    let first_difference = written.iter().zip(&built).find(|(w, b)| w != b);
    assert_eq!(first_difference, None, "written, then built");
    assert_eq!(written.len(), built.len());
}
