//! Test support: start the real Kairos application on port 0 against a fresh database of
//! the kind `KAIROS_TEST_DB` names (`sqlite`, the default, or `postgres`), and talk HTTP
//! to it.
//!
//! PostgreSQL databases are cloned from a migrated template (`CREATE DATABASE … TEMPLATE`),
//! which is much faster than migrating each one; every test database is dropped when its
//! `TestApp` is.

pub mod sinks;

use std::path::{Path, PathBuf};

use kairos::{Application, Settings};
use kairos_app::App;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::{OnceCell, oneshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

pub fn db_kind() -> DbKind {
    match std::env::var("KAIROS_TEST_DB").as_deref() {
        Ok("postgres") | Ok("postgresql") | Ok("pg") => DbKind::Postgres,
        _ => DbKind::Sqlite,
    }
}

fn pg_admin_url() -> String {
    std::env::var("KAIROS_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `postgres://…/postgres` with the database name replaced.
fn pg_url_for(db: &str) -> String {
    let admin = pg_admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
    format!("{base}/{db}")
}

static PG_TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// The migrated template database, made once per test process. Its name carries the
/// process id, so concurrent test binaries never share one.
async fn pg_template() -> String {
    PG_TEMPLATE
        .get_or_init(|| async {
            let name = format!("kairos_tpl_{}", std::process::id());
            let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await.expect("PostgreSQL for tests is reachable");
            // Templates of earlier runs are left behind (a process has no reliable exit hook).
            // One whose process still runs is another test binary's, in use (a filtered run
            // beside the suite, say): where /proc tells, it is left alone.
            let stale: Vec<(String,)> = sqlx::query_as("SELECT datname::text FROM pg_database WHERE datname LIKE 'kairos\\_tpl\\_%'")
                .fetch_all(&mut admin)
                .await
                .expect("list templates");
            let running = |db: &str| {
                db.strip_prefix("kairos_tpl_").and_then(|pid| pid.parse::<u32>().ok()).is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
            };
            for (db,) in stale.into_iter().filter(|(db,)| !running(db)) {
                sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).execute(&mut admin).await.expect("drop template");
            }
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create template");
            let store = kairos_store::Store::connect(&kairos_store::StoreOptions::new(pg_url_for(&name))).await.expect("connect template");
            store.migrate().await.expect("migrate template");
            store.close().await;
            name
        })
        .await
        .clone()
}

enum TestDb {
    Sqlite(PathBuf),
    Postgres(String),
}

impl TestDb {
    async fn create() -> (TestDb, String) {
        let id = uuid::Uuid::now_v7().simple().to_string();
        match db_kind() {
            DbKind::Sqlite => {
                let path = std::env::temp_dir().join(format!("kairos-test-{id}.db"));
                let url = format!("sqlite://{}", path.display());
                (TestDb::Sqlite(path), url)
            }
            DbKind::Postgres => {
                let template = pg_template().await;
                let name = format!("kairos_t_{id}");
                let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await.expect("PostgreSQL for tests is reachable");
                sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {template}")).execute(&mut admin).await.expect("create test db");
                (TestDb::Postgres(name.clone()), pg_url_for(&name))
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            TestDb::Postgres(name) => {
                // Drop runs inside the test's runtime, which must not block: a plain thread
                // with its own small runtime does the network round trip.
                let name = name.clone();
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                    rt.block_on(async {
                        if let Ok(mut admin) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// The running application.
pub struct TestApp {
    pub address: String,
    pub app: App,
    pub database_url: String,
    data_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// The database, dropped with the first instance (others only borrow it).
    _db: Option<TestDb>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// Like `spawn`, with some settings changed first (an SMTP server, a public URL, …).
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        let (db, url) = TestDb::create().await;
        TestApp::start(url, Some(db), configure).await
    }

    /// A second server on the same database, as a second `kairos serve` behind a load
    /// balancer would be. Stop it before the first one.
    pub async fn another_instance(&self) -> TestApp {
        TestApp::start(self.database_url.clone(), None, |_| {}).await
    }

    /// The settings a test server runs with.
    pub fn settings(url: &str) -> Settings {
        Settings {
            listen: "127.0.0.1:0".into(),
            database_url: url.to_string(),
            max_connections: 8,
            log: "warn".into(),
            // Tests run the jobs when they mean to (run-once, or the two-instance test).
            jobs: false,
            ..Settings::default()
        }
    }

    async fn start(url: String, db: Option<TestDb>, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let data_dir = std::env::temp_dir().join(format!("kairos-test-data-{}", uuid::Uuid::now_v7().simple()));
        let mut settings = Settings { data_dir: data_dir.display().to_string(), ..TestApp::settings(&url) };
        configure(&mut settings);
        let application = Application::build(settings).await.expect("application starts");
        let address = format!("http://{}", application.address());
        let app = application.app().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = application.run_until(async { let _ = stopped.await; }).await;
        });
        TestApp { address, app, database_url: url, data_dir, stop: Some(stop), server: Some(server), _db: db }
    }

    /// Stops the server and waits for its connections to close (before the database goes).
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
        self.app.store.close().await;
    }

    /// Has PostgreSQL end every connection to this test's database, as a restart or a
    /// failover would; answers how many it ended. On SQLite there is nothing to end (0).
    pub async fn end_database_connections(&self) -> u64 {
        let Some(name) = self.database_url.strip_prefix("postgres").and_then(|u| u.rsplit('/').next()) else { return 0 };
        let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await.expect("PostgreSQL for tests is reachable");
        let ended: Vec<(bool,)> = sqlx::query_as("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(name)
            .fetch_all(&mut admin)
            .await
            .expect("end connections");
        ended.iter().filter(|(ok,)| *ok).count() as u64
    }

    /// A client with no credentials.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.address, None)
    }

    /// Creates a workspace and answers a client signed in as its admin.
    pub async fn workspace(&self, name: &str) -> Workspace {
        let email = format!("admin@{}.test", name.to_lowercase().replace(' ', "-"));
        let created = self
            .app
            .init_workspace(kairos_app::workspaces::WorkspaceSpec {
                name: name.into(),
                admin_email: email.clone(),
                admin_password: PASSWORD.into(),
                admin_name: Some("Admin".into()),
                locale: Some("en".into()),
            })
            .await
            .expect("workspace created");
        let admin = self.login(&email, PASSWORD).await;
        Workspace { hq: created.headquarters.id.to_string(), admin }
    }

    pub async fn login(&self, email: &str, password: &str) -> Client {
        let anon = self.anonymous();
        let r = anon.post("/api/v1/auth/tokens", json!({"email": email, "password": password})).await;
        assert_eq!(r.status, StatusCode::CREATED, "login of {email}: {}", r.body);
        Client::new(&self.address, Some(r.body["token"].as_str().expect("token").to_string()))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Workspace {
    pub hq: String,
    pub admin: Client,
}

/// An HTTP client holding an optional bearer token.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `details.fields[].field` names of a validation error.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["error"]["details"]["fields"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["field"].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", self.body)).to_string()
    }
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client { base: base.to_string(), token, http: reqwest::Client::new() }
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, headers, body }
    }

    pub async fn raw(&self, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let mut req = self.http.request(method, format!("{}{}", self.base, path)).header("content-type", content_type).body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Reply { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
    }

    /// Uploads a document as the web form does (multipart `doc_type` + `file`).
    pub async fn upload(&self, path: &str, doc_type: &str, file_name: &str, bytes: Vec<u8>) -> Reply {
        let form = reqwest::multipart::Form::new()
            .text("doc_type", doc_type.to_string())
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string()).mime_str("application/pdf").expect("mime"));
        let mut req = self.http.post(format!("{}{}", self.base, path)).multipart(form);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Reply { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Creates a record and answers its id, failing the test if it was refused.
    pub async fn create(&self, path: &str, body: Value) -> String {
        let r = self.post(path, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "POST {path}: {}", r.body);
        r.id()
    }
}
