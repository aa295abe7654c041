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
    /// For `--scenario path`: the path (and query) to GET.
    #[arg(long, default_value = "/healthz")]
    path: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum Scenario {
    /// GET one account by id, over and over.
    Get,
    /// POST a new account with a unique name each time.
    Create,
    /// Move a deal forward through the stage gate and back again (each connection owns one
    /// deal that meets the next stage's criteria).
    Move,
    /// GET /api/v1/pipeline (the kanban of the default process).
    Pipeline,
    /// GET --path.
    Path,
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
        Scenario::Create | Scenario::Pipeline => String::new(),
        Scenario::Path => args.path.clone(),
        Scenario::Move => String::new(),
    };
    let deals = match args.scenario {
        Scenario::Move => prepare_deals(&client, &args.url, &auth, args.connections).await?,
        _ => Vec::new(),
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
        let mut deal = deals.get(w).cloned();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(100_000);
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                if let (Scenario::Move, Some(d)) = (scenario, deal.as_mut()) {
                    let forward = d.version % 2 == 1;
                    let body = if forward {
                        json!({"stage_id": d.stages[1], "version": d.version})
                    } else {
                        json!({"stage_id": d.stages[0], "version": d.version, "reason": "bench: back again"})
                    };
                    match client.post(format!("{url}/api/v1/opportunities/{}/move", d.id)).header("authorization", &auth).json(&body).send().await {
                        Ok(r) if r.status().as_u16() == 200 => {
                            let _ = r.bytes().await;
                            d.version += 1;
                            latencies.push(t.elapsed());
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    continue;
                }
                let request = match scenario {
                    Scenario::Get => client.get(format!("{url}/api/v1/accounts/{target}")),
                    Scenario::Pipeline => client.get(format!("{url}/api/v1/pipeline")),
                    Scenario::Path => client.get(format!("{url}{target}")),
                    Scenario::Move => unreachable!("handled above"),
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
        Scenario::Move => "opportunity move (gate evaluated)",
        Scenario::Pipeline => "pipeline (kanban)",
        Scenario::Path => args.path.as_str(),
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

#[derive(Clone)]
struct Deal {
    id: String,
    version: i64,
    stages: Vec<String>,
}

/// One deal per connection, meeting every criterion of the second stage of the default
/// process: amount, expected close, ticked checklist, and a health score that passes.
async fn prepare_deals(client: &reqwest::Client, url: &str, auth: &str, n: usize) -> anyhow::Result<Vec<Deal>> {
    let post = |path: String, body: serde_json::Value| {
        let req = client.post(format!("{url}{path}")).header("authorization", auth).json(&body);
        async move {
            let r = req.send().await?;
            let status = r.status();
            let v: serde_json::Value = r.json().await?;
            if !status.is_success() {
                bail!("{path}: {status} {v}");
            }
            Ok::<serde_json::Value, anyhow::Error>(v)
        }
    };
    let processes: serde_json::Value = client.get(format!("{url}/api/v1/processes")).header("authorization", auth).send().await?.json().await?;
    let process = processes.as_array().and_then(|p| p.iter().find(|p| p["is_default"] == true)).context("default process")?;
    let stages: Vec<String> = process["stages"].as_array().context("stages")?.iter().filter_map(|s| s["id"].as_str().map(str::to_string)).collect();
    let first_key = process["stages"][1]["criteria"]["checklist"].as_array().cloned().unwrap_or_default();
    let pid = std::process::id();
    let account = post("/api/v1/accounts".into(), json!({"name": format!("Move bench p{pid}")})).await?;
    let account = account["id"].as_str().context("account id")?.to_string();
    let mut contacts = Vec::new();
    for (i, role) in ["decision_maker", "influencer", "user"].iter().enumerate() {
        let c = post("/api/v1/contacts".into(), json!({"account_id": account, "name": format!("C{i}"), "decision_role": role})).await?;
        contacts.push(json!({"contact_id": c["id"], "reached": true}));
    }
    let mut deals = Vec::new();
    for i in 0..n {
        let d = post("/api/v1/opportunities".into(), json!({
            "name": format!("Move {i}"), "account_id": account, "amount": 100_000_000, "expected_close_date": "2027-06-30",
            "need_items": [9,9,9,9,9,9,9,9,9,9], "budget_approved": true, "in_annual_plan": true, "contacts": contacts,
        }))
        .await?;
        let id = d["id"].as_str().context("deal id")?.to_string();
        for item in &first_key {
            post(format!("/api/v1/opportunities/{id}/checklist"), json!({"stage_id": stages[1], "item_key": item["key"], "ticked": true})).await?;
        }
        deals.push(Deal { id, version: d["version"].as_i64().unwrap_or(1), stages: stages.clone() });
    }
    // Versions start odd (1): make the first request a forward move.
    for d in deals.iter_mut() {
        d.version = d.version.max(1);
    }
    Ok(deals)
}
