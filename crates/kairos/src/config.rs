//! Configuration, layered as ARCHITECTURE.md says: defaults < kairos.toml < KAIROS_*
//! environment < command-line flags; `DATABASE_URL` and `DATABASE_READ_URL` are honoured too.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to serve on.
    pub listen: String,
    /// `sqlite://FILE` (default `sqlite://kairos.db`) or `postgres://…`.
    pub database_url: String,
    /// A PostgreSQL replica for reports (optional).
    pub database_read_url: Option<String>,
    pub max_connections: u32,
    /// Mark cookies Secure (serve behind TLS).
    pub secure_cookies: bool,
    /// Log filter, e.g. `info` or `kairos=debug,info`.
    pub log: String,
    pub session_ttl_hours: i64,
    pub token_ttl_days: i64,
    pub login_failures_per_account: i64,
    pub login_failures_per_address: i64,
    pub login_window_minutes: i64,
    /// Folder for uploaded documents.
    pub data_dir: String,
    /// Run the background jobs (follow-up scans) in this instance. Several instances on one
    /// PostgreSQL may all run them: a lease in the database gives each run to one of them.
    pub jobs: bool,
    /// How often an instance looks for due jobs.
    pub job_tick_seconds: u64,
    /// How often the follow-up scanners run.
    pub followup_scan_seconds: i64,
    /// How long a job run may take before another instance assumes its instance died.
    pub job_lease_seconds: i64,
    /// The address people open Kairos at, for links in e-mails and chat messages.
    pub public_url: String,
    /// SMTP server for e-mail notifications: `smtp://host:port` (a local relay, no TLS),
    /// `smtp://user:password@host?tls=required` (STARTTLS) or `smtps://user:password@host`.
    /// Unset: no e-mail is sent (the in-app inbox and webhooks still work). Never logged.
    pub smtp_url: Option<String>,
    /// Sender of notification e-mails.
    pub smtp_from: String,
    /// Pause of the outbox worker when nothing is waiting, in milliseconds.
    pub outbox_poll_ms: u64,
    /// Deliveries the outbox worker claims and sends at once.
    pub outbox_batch: i64,
    /// How long a claimed delivery may take before another instance sends it instead.
    pub outbox_lease_seconds: i64,
}

// Written by hand so that the SMTP password and database password never reach a log.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("database_url", &kairos_store::db::redact_url(&self.database_url))
            .field("jobs", &self.jobs)
            .field("public_url", &self.public_url)
            .field("smtp_url", &self.smtp_url.as_deref().map(kairos_store::db::redact_url))
            .finish_non_exhaustive()
    }
}

impl Default for Settings {
    fn default() -> Self {
        let app = kairos_app::AppConfig::default();
        Settings {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://kairos.db".into(),
            database_read_url: None,
            max_connections: 16,
            secure_cookies: false,
            log: "info".into(),
            session_ttl_hours: app.session_ttl_hours,
            token_ttl_days: app.token_ttl_days,
            login_failures_per_account: app.login_failures_per_account,
            login_failures_per_address: app.login_failures_per_address,
            login_window_minutes: app.login_window_minutes,
            data_dir: "data".into(),
            jobs: true,
            job_tick_seconds: 30,
            followup_scan_seconds: 15 * 60,
            job_lease_seconds: 10 * 60,
            public_url: "http://127.0.0.1:8080".into(),
            smtp_url: None,
            smtp_from: "Kairos <kairos@localhost>".into(),
            outbox_poll_ms: 1000,
            outbox_batch: 32,
            outbox_lease_seconds: 60,
        }
    }
}

const SETTING_NAMES: &[&str] = &[
    "listen", "database_url", "database_read_url", "max_connections", "secure_cookies", "log", "session_ttl_hours",
    "token_ttl_days", "login_failures_per_account", "login_failures_per_address", "login_window_minutes", "data_dir",
    "jobs", "job_tick_seconds", "followup_scan_seconds", "job_lease_seconds", "public_url", "smtp_url", "smtp_from",
    "outbox_poll_ms", "outbox_batch", "outbox_lease_seconds",
];

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}\n(settings come from defaults, then kairos.toml, then KAIROS_* environment variables, then flags; DATABASE_URL also sets database_url)")]
pub struct ConfigError(String);

impl Settings {
    /// Loads the settings from the file (when it exists), the environment and the flags.
    pub fn load(file: Option<&Path>, overrides: &[(&str, Option<String>)]) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) if !path.exists() => return Err(ConfigError(format!("config file {} does not exist", path.display()))),
            Some(path) => figment = figment.merge(Toml::file(path)),
            None if Path::new("kairos.toml").exists() => figment = figment.merge(Toml::file("kairos.toml")),
            None => {}
        }
        figment = figment
            .merge(Env::raw().only(&["DATABASE_URL", "DATABASE_READ_URL"]).map(|k| k.as_str().to_ascii_lowercase().into()))
            // Only the settings' own names: KAIROS_CONFIG, KAIROS_ADMIN_PASSWORD and the test
            // harness's variables share the prefix but are not settings.
            .merge(Env::prefixed("KAIROS_").only(SETTING_NAMES));
        for (key, value) in overrides {
            if let Some(v) = value {
                figment = figment.merge((*key, v.clone()));
            }
        }
        let settings: Settings = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if kairos_store::Backend::from_url(&self.database_url).is_none() {
            return Err(ConfigError(format!(
                "database_url {:?} is not a database URL Kairos knows; use sqlite://FILE or postgres://USER@HOST/DB",
                kairos_store::db::redact_url(&self.database_url)
            )));
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError(format!("listen {:?} is not an address such as 127.0.0.1:8080", self.listen)));
        }
        if !(1..=1000).contains(&self.outbox_batch) {
            return Err(ConfigError("outbox_batch must be from 1 to 1000".into()));
        }
        if self.outbox_lease_seconds < 5 {
            return Err(ConfigError("outbox_lease_seconds must be at least 5".into()));
        }
        if self.max_connections == 0 {
            return Err(ConfigError("max_connections must be at least 1".into()));
        }
        Ok(())
    }

    pub fn app_config(&self) -> kairos_app::AppConfig {
        kairos_app::AppConfig {
            session_ttl_hours: self.session_ttl_hours,
            token_ttl_days: self.token_ttl_days,
            login_failures_per_account: self.login_failures_per_account,
            login_failures_per_address: self.login_failures_per_address,
            login_window_minutes: self.login_window_minutes,
            data_dir: self.data_dir.clone().into(),
            email_enabled: self.smtp_url.is_some(),
            public_url: self.public_url.clone(),
            ..kairos_app::AppConfig::default()
        }
    }

    pub fn job_schedule(&self) -> kairos_app::jobs::JobSchedule {
        kairos_app::jobs::JobSchedule::from_seconds(self.followup_scan_seconds, self.job_lease_seconds)
    }

    pub fn outbox_settings(&self) -> kairos_jobs::OutboxSettings {
        kairos_jobs::OutboxSettings {
            batch: self.outbox_batch,
            lease: chrono::Duration::seconds(self.outbox_lease_seconds),
            idle_poll: std::time::Duration::from_millis(self.outbox_poll_ms.max(10)),
            smtp_url: self.smtp_url.clone(),
            smtp_from: self.smtp_from.clone(),
            ..kairos_jobs::OutboxSettings::default()
        }
    }

    pub fn store_options(&self) -> kairos_store::StoreOptions {
        kairos_store::StoreOptions {
            url: self.database_url.clone(),
            read_url: self.database_read_url.clone(),
            max_connections: self.max_connections,
        }
    }
}
