//! Start-up: connect, migrate, bind the port first (so a test or a supervisor knows the
//! address at once), then serve until stopped.

use std::net::SocketAddr;
use std::sync::Arc;

use kairos_app::App;
use kairos_store::Store;
use tokio::net::TcpListener;

use crate::config::Settings;

pub struct Application {
    listener: TcpListener,
    app: App,
    settings: Settings,
    sender: Arc<kairos_jobs::Sender>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = Store::connect(&settings.store_options()).await?;
        store.migrate().await?;
        let listener = TcpListener::bind(&settings.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        let app = App::new(store, settings.app_config());
        let sender = Arc::new(kairos_jobs::Sender::new(&settings.outbox_settings())?);
        Ok(Application { listener, app, settings, sender })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let http = kairos_http::HttpSettings { secure_cookies: self.settings.secure_cookies };
        let router = kairos_http::router(self.app.clone(), http);
        let jobs = self.settings.jobs.then(|| {
            let tick = std::time::Duration::from_secs(self.settings.job_tick_seconds.max(1));
            self.app.spawn_job_loop(self.settings.job_schedule(), tick)
        });
        let outbox = self.settings.jobs.then(|| kairos_jobs::spawn_outbox(self.app.clone(), self.sender.clone(), self.settings.outbox_settings()));
        let served = axum::serve(self.listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        if let Some(j) = jobs {
            // A run cut off here rolls back; its lease runs out and another instance (or
            // this one, restarted) runs it again.
            j.abort();
        }
        if let Some(o) = outbox {
            // Deliveries claimed but not recorded are sent again after their lease.
            o.abort();
        }
        served?;
        self.app.store.close().await;
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
