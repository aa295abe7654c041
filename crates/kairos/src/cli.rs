//! The command line: serve, migrate, init, user, import, jobs, healthcheck.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use kairos_app::users::UserSpec;
use kairos_app::workspaces::WorkspaceSpec;
use kairos_app::{App, AppError};
use kairos_domain::identity::Role;
use kairos_domain::ids::WorkspaceId;
use kairos_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Settings;
use crate::startup::{Application, shutdown_signal};

#[derive(Parser, Debug)]
#[command(name = "kairos", version, about = "Kairos: business-opportunity management (商机管理).")]
pub struct Cli {
    /// Configuration file (default: ./kairos.toml when it exists).
    #[arg(long, global = true, env = "KAIROS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://FILE (default sqlite://kairos.db) or postgres://USER@HOST/DB.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web UI and the REST API (migrates the database first).
    Serve {
        /// Address to listen on [env: KAIROS_LISTEN] [default: 127.0.0.1:8080]
        #[arg(long)]
        listen: Option<String>,
        /// Load the demo workspace first when the database has no workspace yet.
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        volume: DemoVolume,
    },
    /// Build a demo workspace with realistic data and print its logins.
    Demo {
        #[command(flatten)]
        volume: DemoVolume,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a workspace with its headquarters and first admin.
    Init {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long, env = "KAIROS_ADMIN_PASSWORD")]
        admin_password: String,
        #[arg(long)]
        admin_name: Option<String>,
        /// zh-CN (default) or en
        #[arg(long)]
        locale: Option<String>,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Import records from a file.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Background jobs (follow-up scans): run them now, or show their leases.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Ask a running server whether it and its database are healthy (exit 0 when they are).
    Healthcheck {
        /// Server address [default: the configured listen address]
        #[arg(long)]
        address: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// Run every job now, unless another instance is running it, and print what it did
    /// (for scripts, cron and tests; `kairos serve` runs them on its own schedule).
    RunOnce,
    /// Show each job: who holds its lease, when it last started and finished, its last error.
    List,
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Import leads from CSV or XLSX: each row is deduplicated, scored and assigned like a
    /// lead typed in; a report says what happened to every row.
    Leads(ImportLeads),
}

#[derive(Args, Debug)]
pub struct ImportLeads {
    /// The CSV or XLSX file.
    pub file: PathBuf,
    /// JSON: {"columns": {"company": "公司名称", …}, "source": "exhibition", "on_duplicate":
    /// "merge", "all_or_nothing": true, "encoding": "gbk", "sheet": "…"}. Without it, columns
    /// are recognised by their usual names.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Import as this user (their scope and rights apply). Default: the workspace's first admin.
    #[arg(long = "as")]
    pub as_user: Option<String>,
    #[arg(long)]
    pub workspace: Option<String>,
    /// Write the per-row report as CSV here (row, outcome, lead_id, field, problem).
    #[arg(long)]
    pub report: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct DemoVolume {
    /// Multiply the demo volume (1 = 300 accounts, 600 contacts, 1,500 opportunities).
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    /// Seed of the generator: the same seed builds the same data.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Revise each deal's amount or expected close up to this many more times while it is
    /// open (0 to N each, evenly; 3 takes a million deals' history from 3.6 to about 5 million rows)
    #[arg(long, default_value_t = 0)]
    pub revisions: u32,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user.
    Add(UserAdd),
    /// List the users of a workspace.
    List {
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Disable a user: their sessions end and their tokens stop working.
    Disable {
        email: String,
        #[arg(long)]
        workspace: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct UserAdd {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
    #[arg(long, env = "KAIROS_USER_PASSWORD")]
    pub password: String,
    /// Role, repeatable: admin, director, manager, sales_rep, presales, customer_success, finance, legal
    #[arg(long = "role", default_value = "sales_rep")]
    pub roles: Vec<String>,
    /// Org unit code (e.g. HQ, SH)
    #[arg(long)]
    pub org_unit: Option<String>,
    #[arg(long)]
    pub workspace: Option<String>,
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let listen = match &cli.command {
        Command::Serve { listen, .. } => listen.clone(),
        _ => None,
    };
    let settings = Settings::load(cli.config.as_deref(), &[("database_url", cli.database_url.clone()), ("listen", listen)])?;
    init_tracing(&settings.log);
    match cli.command {
        Command::Serve { demo, volume, .. } => {
            let application = Application::build(settings.clone()).await?;
            if demo {
                let mut conn = application.app().store.read().await?;
                let empty = kairos_store::workspace::list_workspaces(&mut conn.conn()).await?.is_empty();
                drop(conn);
                if empty {
                    load_demo(application.app(), &volume).await?;
                } else {
                    println!("the database already holds a workspace; serving it as it is (--demo loads only into an empty database)");
                }
            }
            tracing::info!(
                address = %application.address(),
                database = %kairos_store::db::redact_url(&settings.database_url),
                "Kairos is serving"
            );
            println!("Kairos is serving on http://{}", application.address());
            application.run_until(shutdown_signal()).await?;
        }
        Command::Migrate => {
            let store = connect(&settings).await?;
            store.close().await;
            println!("migrations applied to {}", kairos_store::db::redact_url(&settings.database_url));
        }
        Command::Init { workspace, admin_email, admin_password, admin_name, locale } => {
            let app = App::new(connect(&settings).await?, settings.app_config());
            let created = app
                .init_workspace(WorkspaceSpec { name: workspace, admin_email, admin_password, admin_name, locale })
                .await
                .map_err(explain)?;
            println!(
                "created workspace {:?} ({}) with admin {} — sign in at http://{}/login",
                created.workspace.name, created.workspace.id, created.admin.email, settings.listen
            );
        }
        Command::User(cmd) => user_command(&settings, cmd).await?,
        Command::Import(ImportCommand::Leads(args)) => return import_leads(&settings, args).await,
        Command::Demo { volume } => {
            let app = App::new(connect(&settings).await?, settings.app_config());
            load_demo(&app, &volume).await?;
        }
        Command::Jobs(cmd) => return jobs_command(&settings, cmd).await,
        Command::Healthcheck { address } => return healthcheck(address.as_deref().unwrap_or(&settings.listen)).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.store_options())
        .await
        .with_context(|| format!("cannot open the database {}", kairos_store::db::redact_url(&settings.database_url)))?;
    store.migrate().await?;
    Ok(store)
}

async fn jobs_command(settings: &Settings, cmd: JobsCommand) -> anyhow::Result<ExitCode> {
    let app = App::new(connect(settings).await?, settings.app_config());
    match cmd {
        JobsCommand::RunOnce => {
            let started = std::time::Instant::now();
            let runs = app.run_due_jobs(&kairos_app::jobs::holder_name(), &settings.job_schedule(), true).await.map_err(explain)?;
            let took = started.elapsed().as_secs_f64();
            let mut failed = false;
            for r in runs {
                match (&r.report, &r.error, r.ran) {
                    (_, _, false) => println!("{}: another instance is running it; not run", r.job),
                    (None, None, true) if r.folded.is_some() => println!("{}: {} rolled-up rows folded, in {took:.2} s", r.job, r.folded.unwrap_or(0)),
                    (Some(rep), _, true) => println!(
                        "{}: {} workspaces, {} open deals, {} at risk, {} tasks created, {} notifications, {} escalations, in {took:.2} s",
                        r.job, rep.workspaces, rep.open_deals, rep.at_risk, rep.tasks_created, rep.notifications, rep.escalations
                    ),
                    (None, e, true) => {
                        failed = true;
                        println!("{}: failed: {}", r.job, e.as_deref().unwrap_or("unknown error"));
                    }
                }
            }
            let outbox = settings.outbox_settings();
            let sender = std::sync::Arc::new(kairos_jobs::Sender::new(&outbox)?);
            let started = std::time::Instant::now();
            let sent = kairos_jobs::drain(&app, &sender, &kairos_app::jobs::holder_name(), &outbox).await?;
            println!("outbox: {sent} deliveries handled in {:.2} s (failures are retried later; see /api/v1/deliveries)", started.elapsed().as_secs_f64());
            app.store.close().await;
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        JobsCommand::List => {
            for j in app.job_states().await.map_err(explain)? {
                println!(
                    "{}\tleased by {}\tuntil {}\tlast started {}\tlast finished {}\truns {}\t{}",
                    j.job,
                    j.leased_by.as_deref().unwrap_or("-"),
                    j.lease_until.map_or("-".to_string(), |t| t.to_rfc3339()),
                    j.last_started_at.map_or("-".to_string(), |t| t.to_rfc3339()),
                    j.last_finished_at.map_or("-".to_string(), |t| t.to_rfc3339()),
                    j.runs,
                    j.last_error.as_deref().map_or("ok".to_string(), |e| format!("last error: {e}"))
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn user_command(settings: &Settings, cmd: UserCommand) -> anyhow::Result<()> {
    let store = connect(settings).await?;
    let app = App::new(store.clone(), settings.app_config());
    match cmd {
        UserCommand::Add(add) => {
            let ws = workspace(&store, add.workspace.as_deref()).await?;
            let roles = add.roles.iter().map(|r| Role::parse(r).map_err(|p| anyhow!("--role: {p}"))).collect::<Result<Vec<_>, _>>()?;
            let org_unit_id = match &add.org_unit {
                Some(code) => {
                    let mut conn = store.read().await?;
                    let unit = kairos_store::org_unit::find_org_unit_by_code(&mut conn.conn(), ws, &code.to_ascii_uppercase())
                        .await?
                        .ok_or_else(|| anyhow!("--org-unit: no org unit with code {code:?}"))?;
                    Some(unit.id.to_string())
                }
                None => None,
            };
            let user = app
                .add_user(ws, None, UserSpec { email: add.email, display_name: add.name, password: add.password, org_unit_id, roles, locale: None })
                .await
                .map_err(explain)?;
            println!("added {} ({}) with roles {}", user.email, user.id, user.roles.names().join(", "));
        }
        UserCommand::List { workspace: name } => {
            let ws = workspace(&store, name.as_deref()).await?;
            let mut conn = store.read().await?;
            let page = kairos_store::page::PageRequest { limit: 10_000, offset: 0 };
            let users = kairos_store::user::list_users(&mut conn.conn(), ws, &Default::default(), page).await?;
            // Written with errors checked: `kairos user list | head` closes the pipe early,
            // which println! would turn into a panic.
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            for u in users.items {
                let line = writeln!(out, "{}\t{}\t{}\t{}", u.email, u.display_name, u.roles.names().join(","), if u.active { "active" } else { "disabled" });
                if line.is_err() {
                    break;
                }
            }
        }
        UserCommand::Disable { email, workspace: name } => {
            let ws = workspace(&store, name.as_deref()).await?;
            let user = app.set_user_active_by_email(ws, &email, false).await.map_err(explain)?;
            println!("disabled {}", user.email);
        }
    }
    Ok(())
}

async fn import_leads(settings: &Settings, args: ImportLeads) -> anyhow::Result<ExitCode> {
    use crate::import_report::ReportFile;
    use kairos_app::lead_import::{ImportFile, ImportMapping, KeepOutcomes, RowOutcome};
    let store = connect(settings).await?;
    let app = App::new(store.clone(), settings.app_config());
    let ws = workspace(&store, args.workspace.as_deref()).await?;
    let mapping: ImportMapping = match &args.mapping {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the mapping {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("the mapping {} is not valid", path.display()))?
        }
        None => ImportMapping::default(),
    };
    let user = {
        let mut conn = store.read().await?;
        let mut c = conn.conn();
        match &args.as_user {
            Some(email) => {
                let key = kairos_domain::text::email_key(email).map_err(|p| anyhow!("--as: {p}"))?;
                kairos_store::user::find_user_by_email_key(&mut c, &key)
                    .await?
                    .filter(|u| u.workspace_id == ws && u.active)
                    .ok_or_else(|| anyhow!("--as: no active user {email} in this workspace"))?
            }
            None => {
                let page = kairos_store::page::PageRequest { limit: 10_000, offset: 0 };
                let users = kairos_store::user::list_users(&mut c, ws, &Default::default(), page).await?;
                users.items.into_iter().find(|u| u.active && u.roles.is_admin()).ok_or_else(|| anyhow!("the workspace has no active admin; name a user with --as"))?
            }
        }
    };
    let actor = app.actor_for(user, kairos_app::actor::AuthMethod::Cli).await.map_err(explain)?;
    let started = std::time::Instant::now();
    let progress = |rows: usize| {
        if rows % 10_000 < 500 {
            eprintln!("… {rows} rows");
        }
    };
    let mut file = match &args.report {
        Some(path) => Some(ReportFile::create(path).with_context(|| format!("cannot write the report {}", path.display()))?),
        None => None,
    };
    // The first refused rows are printed; the report file has them all.
    let mut first_refused = Vec::new();
    let mut on_row = |o: &RowOutcome| {
        if o.outcome == "refused" && first_refused.len() < 20 {
            first_refused.push(o.clone());
        }
        if let Some(f) = file.as_mut() {
            f.row(o);
        }
    };
    let report = app.import_leads(&actor, ImportFile::Path(args.file.clone()), mapping, &progress, KeepOutcomes::Nothing, &mut on_row).await.map_err(explain)?;
    let seconds = started.elapsed().as_secs_f64();
    if let (Some(f), Some(path)) = (file, &args.report) {
        f.finish(report.committed).with_context(|| format!("cannot write the report {}", path.display()))?;
    }
    println!(
        "{} rows in {:.1} s ({:.0} rows/s): {} created, {} merged, {} refused{}",
        report.rows,
        seconds,
        report.rows as f64 / seconds.max(1e-9),
        report.created,
        report.merged,
        report.refused,
        if report.committed { "" } else { " — nothing imported (all or nothing)" }
    );
    for o in &first_refused {
        for p in &o.problems {
            println!("  row {}: {}: {}", o.row, p.field, p.problem);
        }
    }
    if report.refused > 20 {
        println!("  … and {} more refused rows{}", report.refused - 20, if args.report.is_some() { " (see the report)" } else { "" });
    }
    Ok(if report.refused == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

async fn load_demo(app: &App, volume: &DemoVolume) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    println!("building the demo workspace (scale {}, seed {}) …", volume.scale, volume.seed);
    let summary = app
        .build_demo(kairos_app::demo::DemoSpec { scale: volume.scale, seed: volume.seed, revisions: volume.revisions })
        .await
        .map_err(explain)?;
    println!(
        "demo ready in {:.1} s: {} accounts, {} contacts, {} opportunities",
        started.elapsed().as_secs_f64(),
        summary.accounts,
        summary.contacts,
        summary.opportunities
    );
    println!("logins (password {}):", kairos_app::demo::DEMO_PASSWORD);
    for (email, role) in &summary.logins {
        println!("  {email:<32} {role}");
    }
    Ok(())
}

/// The workspace a command means: the one named, or the only one there is.
async fn workspace(store: &Store, name: Option<&str>) -> anyhow::Result<WorkspaceId> {
    let mut conn = store.read().await?;
    let all = kairos_store::workspace::list_workspaces(&mut conn.conn()).await?;
    match name {
        Some(n) => all.iter().find(|w| w.name == n).map(|w| w.id).ok_or_else(|| anyhow!("no workspace named {n:?}")),
        None => match all.as_slice() {
            [only] => Ok(only.id),
            [] => bail!("there is no workspace yet; create one with `kairos init`"),
            _ => bail!("there are several workspaces; name one with --workspace"),
        },
    }
}

/// Turns a use-case error into a sentence for the terminal.
fn explain(err: AppError) -> anyhow::Error {
    match err {
        AppError::Validation(fields) => {
            anyhow!(fields.iter().map(|f| format!("{}: {}", f.field, f.problem)).collect::<Vec<_>>().join("\n"))
        }
        other => anyhow!(other.to_string()),
    }
}

/// A minimal HTTP GET of /healthz, so that the binary needs no HTTP client library.
async fn healthcheck(address: &str) -> anyhow::Result<ExitCode> {
    let mut stream = tokio::net::TcpStream::connect(address).await.with_context(|| format!("cannot reach {address}"))?;
    stream.write_all(format!("GET /healthz HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let status = answer.lines().next().unwrap_or("");
    println!("{status}");
    Ok(if status.contains(" 200 ") { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}
