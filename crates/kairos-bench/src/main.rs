//! A closed-loop load generator: N connections, each sending its next request as soon as
//! the previous one is answered, for a fixed time. Prints throughput and latency
//! percentiles. Used by `scripts/bench`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Base URL of the server, e.g. http://127.0.0.1:8080
    #[arg(long)]
    url: String,
    /// API token (Bearer)
    #[arg(long, env = "KAIROS_BENCH_TOKEN")]
    token: String,
    #[arg(long, value_enum)]
    scenario: Scenario,
    #[arg(long, default_value_t = 32)]
    connections: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum Scenario {
    /// GET one account by id, over and over.
    Get,
    /// POST a new account with a unique name each time.
    Create,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.connections).build()?;
    let auth = format!("Bearer {}", args.token);
    let target = match args.scenario {
        Scenario::Get => {
            let r = client
                .post(format!("{}/api/v1/accounts", args.url))
                .header("authorization", &auth)
                .json(&json!({"name": format!("Bench target {}", std::process::id()), "industry": "bench"}))
                .send()
                .await?;
            if r.status().as_u16() != 201 {
                bail!("could not create the account to read: {}", r.text().await?);
            }
            let body: serde_json::Value = r.json().await?;
            body["id"].as_str().context("id")?.to_string()
        }
        Scenario::Create => String::new(),
    };
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.connections {
        let (client, auth, url, target, counter, errors) =
            (client.clone(), auth.clone(), args.url.clone(), target.clone(), counter.clone(), errors.clone());
        let scenario = args.scenario;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(100_000);
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let request = match scenario {
                    Scenario::Get => client.get(format!("{url}/api/v1/accounts/{target}")),
                    Scenario::Create => {
                        i += 1;
                        client.post(format!("{url}/api/v1/accounts")).json(&json!({
                            // Letters between the numbers: name normalisation drops spaces, and "1 11"
                            // would otherwise collide with "11 1".
                            "name": format!("Bench p{} w{w} n{i}", std::process::id()),
                            "industry": "bench",
                            "tags": ["bench"],
                        }))
                    }
                };
                match request.header("authorization", &auth).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed());
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or_default();
    let name = match args.scenario {
        Scenario::Get => "account get",
        Scenario::Create => "account create",
    };
    println!(
        "{name}: {} ok, {} errors in {elapsed:.1} s = {:.0}/s; latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} connections)",
        all.len(),
        errors.load(Ordering::Relaxed),
        all.len() as f64 / elapsed,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.90).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        all.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        args.connections,
    );
    Ok(())
}
