//! What every handler shares.

use std::sync::Arc;

use kairos_app::App;

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Mark cookies `Secure`. Kairos itself speaks plain HTTP; behind a TLS-terminating
    /// proxy this is on (also when the proxy sends `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings { secure_cookies: false }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub settings: Arc<HttpSettings>,
}
