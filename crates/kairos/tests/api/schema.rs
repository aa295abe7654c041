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
