//! Configuration, layered as ARCHITECTURE.md says: defaults < kairos.toml < KAIROS_*
//! environment < command-line flags; `DATABASE_URL` and `DATABASE_READ_URL` are honoured too.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
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
        }
    }
}

const SETTING_NAMES: &[&str] = &[
    "listen", "database_url", "database_read_url", "max_connections", "secure_cookies", "log", "session_ttl_hours",
    "token_ttl_days", "login_failures_per_account", "login_failures_per_address", "login_window_minutes", "data_dir",
    "jobs", "job_tick_seconds", "followup_scan_seconds", "job_lease_seconds",
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
            ..kairos_app::AppConfig::default()
        }
    }

    pub fn job_schedule(&self) -> kairos_app::jobs::JobSchedule {
        kairos_app::jobs::JobSchedule::from_seconds(self.followup_scan_seconds, self.job_lease_seconds)
    }

    pub fn store_options(&self) -> kairos_store::StoreOptions {
        kairos_store::StoreOptions {
            url: self.database_url.clone(),
            read_url: self.database_read_url.clone(),
            max_connections: self.max_connections,
        }
    }
}
