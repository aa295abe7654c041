//! Outbox delivery throughput (#7: at least 1,000 messages/s to a local webhook sink).
//! Fills the outbox of a fresh database with N signed generic-webhook deliveries, starts a
//! local HTTP sink that answers 200 at once, and times `--workers` outbox workers (as that
//! many server instances would run) draining it. Used by `scripts/bench-outbox`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use clap::Parser;
use kairos_app::{App, AppConfig};
use kairos_domain::ids::DeliveryId;
use kairos_domain::outbox::{Delivery, EndpointKind};
use kairos_jobs::{OutboxSettings, Sender};
use kairos_store::{Store, StoreOptions};

#[derive(Parser)]
struct Args {
    /// sqlite://FILE or postgres://… (a fresh database)
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Deliveries claimed and sent at once per worker.
    #[arg(long, default_value_t = 32)]
    batch: i64,
    /// Concurrent workers (as that many server instances).
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store = Store::connect(&StoreOptions::new(args.database_url.clone())).await?;
    store.migrate().await?;
    let app = App::new(store, AppConfig { argon2_memory_kib: 1024, argon2_iterations: 1, ..AppConfig::default() });
    let ws = app
        .init_workspace(kairos_app::workspaces::WorkspaceSpec {
            name: "Bench".into(),
            admin_email: "admin@bench.test".into(),
            admin_password: "bench-password-1".into(),
            admin_name: None,
            locale: None,
        })
        .await?;
    let session = app.create_session("admin@bench.test", "bench-password-1", "bench").await?;
    let admin = app.authenticate_session(&session.secret).await?;

    // The sink: answers 200 to every POST and counts them.
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink = format!("http://{}/hook", listener.local_addr()?);
    let router = axum::Router::new().fallback(move || {
        let c = counter.clone();
        async move {
            c.fetch_add(1, Ordering::Relaxed);
            "ok"
        }
    });
    tokio::spawn(async move { axum::serve(listener, router).await });

    let endpoint = app
        .create_endpoint(
            admin.require_admin()?,
            kairos_app::outbox::EndpointInput {
                name: Some("Bench sink".into()),
                kind: Some(EndpointKind::Generic),
                url: Some(sink),
                secret: Some(Some("bench-secret".into())),
                events: Some(vec!["opportunity.created".into()]),
                ..Default::default()
            },
        )
        .await?;
    let now = app.now();
    let body = serde_json::json!({"event": "opportunity.created", "data": {"opportunity": {"name": "示例商机", "amount": 50_000_000, "currency": "CNY"}}}).to_string();
    let items: Vec<Delivery> = (0..args.messages)
        .map(|_| {
            let mut d = Delivery::pending(DeliveryId::from_uuid(uuid::Uuid::now_v7()), ws.workspace.id, "webhook", "opportunity.created", "bench".into(), body.clone(), now);
            d.endpoint_id = Some(endpoint.id);
            d.recipient = "bench".into();
            d
        })
        .collect();
    {
        let mut tx = app.store.begin().await?;
        kairos_store::outbox::insert_deliveries(&mut tx.conn(), &items).await?;
        tx.commit().await?;
    }
    app.store.analyze().await?;

    let settings = OutboxSettings { batch: args.batch, ..OutboxSettings::default() };
    let sender = Arc::new(Sender::new(&settings)?);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.workers {
        let (app, sender, settings) = (app.clone(), sender.clone(), settings.clone());
        workers.push(tokio::spawn(async move { kairos_jobs::drain(&app, &sender, &format!("bench-{w}"), &settings).await }));
    }
    let mut handled = 0;
    for w in workers {
        handled += w.await??;
    }
    let took = started.elapsed().as_secs_f64();
    let got = received.load(Ordering::Relaxed);
    println!(
        "outbox: {} messages, {} workers, batch {}: {handled} handled, {got} received by the sink in {took:.2} s = {:.0} messages/s",
        args.messages,
        args.workers,
        args.batch,
        got as f64 / took
    );
    anyhow::ensure!(got as usize == args.messages, "the sink got {got} of {} messages", args.messages);
    Ok(())
}
