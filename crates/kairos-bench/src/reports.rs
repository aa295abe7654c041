//! Each report computed in-process, as the HTTP handler has it computed: the app's report call
//! and the answer serialised to JSON, on the server's own pools, without HTTP and without the
//! token lookup. Timed as `scripts/report-floors` times the floors (one untimed run, then the
//! median of `--runs`, back to back), so the two compare the report's own work with the SQL
//! it cannot do without. `scripts/time-requests` gives the same reports through HTTP.
//!
//! usage: kairos-report-bench --database-url URL --from 2025-01-01 --to 2026-12-31 [--batches] [REPORT…]

use std::time::Instant;

use anyhow::bail;
use clap::Parser;
use kairos_app::reports::ReportQuery;
use kairos_app::{App, AppConfig};
use kairos_store::{Store, StoreOptions};

/// The server's allocator (`kairos`'s main.rs), SQLite's allocations included: the reports
/// that read many rows spend much of their time allocating.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `movement-month`, `-quarter` and `-year` are movement over the last whole month, the last
/// whole quarter and this year to now (the range aside), as `scripts/report-floors` has them.
const REPORTS: [&str; 14] = [
    "win-rate", "conversion", "loss-reasons", "dwell", "trend", "team", "cycle", "funnel", "forecast", "movement", "movement-month", "movement-quarter",
    "movement-year", "forecast-accuracy",
];

#[derive(Parser)]
struct Args {
    /// sqlite://FILE or postgres://… (a demo database)
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value = "director@demo.kairos")]
    email: String,
    #[arg(long, default_value = "kairos-demo-2026")]
    password: String,
    /// First day, YYYY-MM-DD.
    #[arg(long)]
    from: String,
    /// Last day (inclusive), YYYY-MM-DD.
    #[arg(long)]
    to: String,
    /// Timed runs per report, after one untimed.
    #[arg(long, default_value_t = 21)]
    runs: usize,
    /// Reports to time (all unless named).
    reports: Vec<String>,
    /// Time batches of runs asked for on stdin instead (`serve_batches`).
    #[arg(long)]
    batches: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if let Some(other) = args.reports.iter().find(|r| !REPORTS.contains(&r.as_str())) {
        bail!("unknown report {other:?}: one of {}", REPORTS.join(", "));
    }
    let store = Store::connect(&StoreOptions::new(args.database_url.clone())).await?;
    let app = App::new(store, AppConfig::default());
    let session = app.create_session(&args.email, &args.password, "report-bench").await?;
    let actor = app.authenticate_session(&session.secret).await?;
    let q = ReportQuery { from: Some(args.from.clone()), to: Some(args.to.clone()), ..Default::default() };
    if args.batches {
        return serve_batches(&app, &actor, &q).await;
    }
    let names: Vec<&str> = if args.reports.is_empty() { REPORTS.to_vec() } else { args.reports.iter().map(String::as_str).collect() };
    for name in names {
        let mut times = Vec::with_capacity(args.runs);
        for run in 0..=args.runs {
            let took = run_once(&app, &actor, &q, name).await?;
            if run > 0 {
                times.push(took);
            }
        }
        times.sort_by(f64::total_cmp);
        println!("report {name}: {:.2} ms (median of {}; fastest {:.2})", times[times.len() / 2], times.len(), times[0]);
    }
    Ok(())
}

/// `--batches`: reads `REPORT N` lines and answers each with the N runs' times in ms on one
/// line, so that `scripts/report-ratios` can time a batch of the floor's runs between two of
/// the report's, and both see the machine as it is then.
async fn serve_batches(app: &App, actor: &kairos_app::Actor, q: &ReportQuery) -> anyhow::Result<()> {
    use std::io::{BufRead, Write};
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let (name, n) = line.split_once(' ').unwrap_or((line.as_str(), "1"));
        if !REPORTS.contains(&name) {
            bail!("unknown report {name:?}: one of {}", REPORTS.join(", "));
        }
        let n: usize = n.trim().parse().map_err(|e| anyhow::anyhow!("{line:?}: the number of runs: {e}"))?;
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            times.push(format!("{:.4}", run_once(app, actor, q, name).await?));
        }
        writeln!(out, "{}", times.join(" "))?;
        out.flush()?;
    }
    Ok(())
}

/// The last whole month, local to the workspaces' calendar, as a report's `period`.
/// The calendar period a `movement-…` bench reads: the last whole month or quarter, or this
/// year (to now), as `period=` names it.
fn calendar_period(span: &str) -> ReportQuery {
    use chrono::Datelike;
    let today = (chrono::Utc::now() + chrono::Duration::minutes(kairos_domain::calendar::WORKSPACE_UTC_OFFSET_MINUTES.into())).date_naive();
    let before = |d: chrono::NaiveDate| d.pred_opt().unwrap_or(d);
    let period = match span {
        "month" => before(today.with_day(1).unwrap_or(today)).format("%Y-%m").to_string(),
        "quarter" => {
            let last = before(chrono::NaiveDate::from_ymd_opt(today.year(), (today.month() - 1) / 3 * 3 + 1, 1).unwrap_or(today));
            format!("{}-Q{}", last.year(), (last.month() - 1) / 3 + 1)
        }
        _ => today.year().to_string(),
    };
    ReportQuery { period: Some(period), ..Default::default() }
}

/// One run of the report `name`, its answer written as JSON: the time it took, in ms.
async fn run_once(app: &App, actor: &kairos_app::Actor, q: &ReportQuery, name: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let bytes = match name {
        "win-rate" => serde_json::to_vec(&app.win_rate(actor, q).await?)?,
        "conversion" => serde_json::to_vec(&app.conversion(actor, q).await?)?,
        "loss-reasons" => serde_json::to_vec(&app.loss_reasons(actor, q).await?)?,
        "dwell" => serde_json::to_vec(&app.dwell(actor, q).await?)?,
        "trend" => serde_json::to_vec(&app.trend(actor, q).await?)?,
        "team" => serde_json::to_vec(&app.team(actor, q).await?)?,
        "cycle" => serde_json::to_vec(&app.cycle(actor, q).await?)?,
        "funnel" => serde_json::to_vec(&app.funnel(actor, q).await?)?,
        "forecast" => serde_json::to_vec(&app.forecast(actor, q).await?)?,
        "movement" => serde_json::to_vec(&app.movement(actor, q).await?)?,
        "movement-month" => serde_json::to_vec(&app.movement(actor, &calendar_period("month")).await?)?,
        "movement-quarter" => serde_json::to_vec(&app.movement(actor, &calendar_period("quarter")).await?)?,
        "movement-year" => serde_json::to_vec(&app.movement(actor, &calendar_period("year")).await?)?,
        "forecast-accuracy" => serde_json::to_vec(&app.forecast_accuracy(actor, q, None).await?)?,
        _ => bail!("unknown report {name:?}: one of {}", REPORTS.join(", ")),
    };
    std::hint::black_box(bytes);
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}
