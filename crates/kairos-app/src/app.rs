use std::sync::Arc;

use chrono::{DateTime, Utc};
use kairos_store::{Store, Tx};
use uuid::Uuid;

use crate::error::AppResult;

/// Where use-cases read the time, so that tests and backfills can fix it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        // Microseconds are what both databases keep; trimming here keeps a value read back
        // equal to the value written.
        let now = Utc::now();
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }
}

/// Settings the use-cases need (the binary maps its configuration file onto this).
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub session_ttl_hours: i64,
    pub token_ttl_days: i64,
    /// Failed logins per account within the window before further attempts are refused.
    pub login_failures_per_account: i64,
    /// Failed logins per client address within the window.
    pub login_failures_per_address: i64,
    pub login_window_minutes: i64,
    /// Argon2id memory cost in KiB (OWASP's minimum recommendation is 19 MiB).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// Where uploaded documents are kept (one folder per workspace).
    pub data_dir: std::path::PathBuf,
    /// Largest document accepted, in bytes.
    pub max_document_bytes: usize,
    /// Whether an SMTP server is configured: without one, no e-mail is queued at all (it
    /// could only fail).
    pub email_enabled: bool,
    /// The address people open Kairos at, for links in e-mails and chat messages.
    pub public_url: String,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            session_ttl_hours: 12,
            token_ttl_days: 90,
            login_failures_per_account: 5,
            login_failures_per_address: 50,
            login_window_minutes: 15,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            data_dir: std::path::PathBuf::from("data"),
            max_document_bytes: 20 * 1024 * 1024,
            email_enabled: false,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// The application: the store, the settings and the clock, shared by every interface.
#[derive(Clone, Debug)]
pub struct App {
    pub store: Store,
    pub config: Arc<AppConfig>,
    clock: Arc<dyn Clock>,
    /// Rows done by the background imports this instance is running.
    pub(crate) imports: crate::lead_import_jobs::Running,
}

impl App {
    pub fn new(store: Store, config: AppConfig) -> App {
        App { store, config: Arc::new(config), clock: Arc::new(SystemClock), imports: Default::default() }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> App {
        self.clock = clock;
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A new time-ordered id.
    pub fn mint(&self) -> Uuid {
        Uuid::now_v7()
    }

    pub(crate) async fn begin(&self) -> AppResult<Tx> {
        Ok(self.store.begin().await?)
    }
}
