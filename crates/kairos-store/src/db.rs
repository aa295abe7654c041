//! Connecting, migrating, and running statements on whichever database the URL names.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_query::{
    DeleteStatement, InsertStatement, PostgresQueryBuilder, SelectStatement, SqliteQueryBuilder,
    UpdateStatement, Value, Values,
};
use sea_query_binder::SqlxValues;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Connection, FromRow, PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};

use crate::error::{StoreError, StoreResult};
use crate::inline::{InlineConn, InlinePool, InlineRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: String,
    /// A replica for reports; reads of one's own writes always use the primary.
    pub read_url: Option<String>,
    pub max_connections: u32,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        StoreOptions { url: url.into(), read_url: None, max_connections: 16 }
    }
}

/// Connections the read pool keeps open. A report reads parts of its rows side by side only
/// on connections idle at that moment (`try_report_read`), never waiting for one, and a pool
/// opens connections only when asked to wait: without these, a server fresh from start, or
/// after a quiet spell, read every report on one connection.
const OPEN_FOR_REPORTS: u32 = 4;

/// How much of a SQLite file each connection reads through a memory map (1 TiB: all of it;
/// the build raises SQLite's cap to match, .cargo/config.toml). Without one, each connection
/// copies every page it reads into its own page cache, a system call and 4 KB apiece. The
/// reports that join deals to their history read far more pages than a connection caches: at
/// a million deals cycle spent a third of its time in those calls, and took 466-548 ms
/// unmapped against 293-337 mapped (docs/benchmarks.md). Mapped, every connection reads the
/// operating system's one cached copy in place.
const MMAP_SIZE: &str = "1099511627776";

#[derive(Clone, Debug)]
enum Pools {
    /// SQLite allows one writer at a time. A single-connection write pool queues writers
    /// inside the process instead of letting them collide on the file lock, while the read
    /// pool serves many readers at once from the WAL.
    /// `inline`: connections that read on the calling thread (`crate::inline`); none for a
    /// database in memory, which other connections cannot open.
    Sqlite { write: sqlx::SqlitePool, read: sqlx::SqlitePool, inline: Option<Arc<InlinePool>> },
    /// `lookup`: connections to the primary that plan each statement once (see `Store::lookup`).
    Postgres { write: sqlx::PgPool, read: sqlx::PgPool, lookup: sqlx::PgPool },
}

/// The database, chosen once from the URL.
#[derive(Clone, Debug)]
pub struct Store {
    pools: Pools,
}

/// Has SQLite plan each statement once per connection. After ANALYZE (the demo, an import)
/// SQLite's planner reads the values bound to a statement against the sampled histograms
/// (STAT4), and so plans the statement again every time it runs with its values bound anew:
/// in a report of a few milliseconds, a tenth of a millisecond per statement (dwell's walks
/// at 15,000 deals: 0.1 ms each of planning against 5 µs of reading). With the query
/// planner stability guarantee (QPSG) the planner leaves bound values aside, and the
/// statement cached on the connection keeps its plan; literals in the SQL still meet the
/// histograms. The reports' plans at a million deals were compared with and without it
/// (docs/benchmarks.md).
async fn plan_once(c: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = c.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is this connection's open handle, locked to us for the call. The option
    // takes an int (1: on) and an optional int pointer for the new setting (none here).
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(db, libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG, 1 as std::os::raw::c_int, std::ptr::null_mut::<std::os::raw::c_int>())
    };
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(sqlx::Error::Configuration(format!("SQLite refused the query planner stability guarantee (code {rc})").into()));
    }
    Ok(())
}

impl Store {
    pub async fn connect(options: &StoreOptions) -> StoreResult<Store> {
        let backend = Backend::from_url(&options.url).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "unsupported database URL {:?}: use sqlite://FILE or postgres://…",
                redact_url(&options.url)
            ))
        })?;
        let pools = match backend {
            Backend::Sqlite => {
                let connect = SqliteConnectOptions::from_str(&options.url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
                    .pragma("cache_size", "-32000")
                    .pragma("temp_store", "memory")
                    .pragma("mmap_size", MMAP_SIZE)
                    // Checkpoints fsync the database file. Run by a committing writer they
                    // stall every queued write behind one fsync, so they are switched off here
                    // and run in the background instead (see `checkpoint_in_background`).
                    .pragma("wal_autocheckpoint", "0");
                // A local file's connections cannot go stale, so the pool's ping before every
                // acquire would only add a round trip to the worker thread on the hot path.
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .test_before_acquire(false)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|c, _| Box::pin(plan_once(c)))
                    .connect_with(connect.clone())
                    .await?;
                let file = connect.get_filename();
                let in_memory = file.to_string_lossy().starts_with("file:sqlx-in-memory") || options.url.contains("mode=memory");
                let inline = (!in_memory).then(|| InlinePool::new(file.to_path_buf(), MMAP_SIZE));
                let read = SqlitePoolOptions::new()
                    .max_connections(options.max_connections.max(2))
                    .min_connections(OPEN_FOR_REPORTS.min(options.max_connections.max(2)))
                    .test_before_acquire(false)
                    .after_connect(|c, _| Box::pin(plan_once(c)))
                    .connect_with(connect.read_only(false))
                    .await?;
                checkpoint_in_background(read.clone());
                Pools::Sqlite { write, read, inline }
            }
            Backend::Postgres => {
                let connect = PgConnectOptions::from_str(&options.url)?;
                let write = pg_pool(options.max_connections).acquire_timeout(Duration::from_secs(30)).connect_with(connect.clone()).await?;
                let read = match &options.read_url {
                    Some(url) => pg_pool(options.max_connections).connect_with(PgConnectOptions::from_str(url)?).await?,
                    None => write.clone(),
                };
                // Opened on first use: most processes (the CLI's commands) never look up.
                let lookup = pg_pool(LOOKUP_CONNECTIONS.min(options.max_connections))
                    .min_connections(0)
                    .connect_lazy_with(connect.options([("plan_cache_mode", "force_generic_plan")]));
                Pools::Postgres { write, read, lookup }
            }
        };
        Ok(Store { pools })
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Applies the migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.pools {
            Pools::Sqlite { write, .. } => sqlx::migrate!("./migrations/sqlite").run(write).await?,
            Pools::Postgres { write, .. } => sqlx::migrate!("./migrations/postgres").run(write).await?,
        }
        // Rolled-up rows that SQL alone cannot backfill: built in Rust, by the code that
        // keeps them afterwards.
        let mut tx = self.begin().await?;
        let built = crate::stage_entry_rollup::build_missing(&mut tx.conn()).await?;
        let counted = crate::passage_buckets::build_missing(&mut tx.conn()).await?;
        let summed = crate::closed_deal_sums::build_missing(&mut tx.conn()).await?;
        let periods = crate::deal_period_changes::build_missing(&mut tx.conn()).await?;
        tx.commit().await?;
        if built > 0 {
            tracing::info!(workspaces = built, "stage entries rolled up");
        }
        if counted > 0 {
            tracing::info!(workspaces = counted, "passages counted in buckets");
        }
        if summed > 0 {
            tracing::info!(workspaces = summed, "closed deals summed");
        }
        if periods > 0 {
            tracing::info!(workspaces = periods, "deals' changes gathered per month, quarter and year");
        }
        Ok(())
    }

    /// A pooled connection for reads that need no transaction.
    pub async fn read(&self) -> StoreResult<ReadConn> {
        Ok(match &self.pools {
            Pools::Sqlite { read, .. } => ReadConn::Sqlite(read.acquire().await?),
            Pools::Postgres { write, .. } => ReadConn::Postgres(write.acquire().await?),
        })
    }

    /// A connection to the report replica when one is configured, else the primary.
    pub async fn report_read(&self) -> StoreResult<ReadConn> {
        Ok(match &self.pools {
            Pools::Sqlite { read, .. } => ReadConn::Sqlite(read.acquire().await?),
            Pools::Postgres { read, .. } => ReadConn::Postgres(read.acquire().await?),
        })
    }

    /// A second report connection for a query that can run beside one already running, if
    /// one is idle now: never waiting, so a report holding a connection cannot deadlock the
    /// pool by asking for another.
    pub async fn try_report_read(&self) -> Option<ReadConn> {
        match &self.pools {
            Pools::Sqlite { read, .. } => read.try_acquire().map(ReadConn::Sqlite),
            Pools::Postgres { read, .. } => {
                // `try_acquire` skips the pool's checks (`pg_pool`): a connection PostgreSQL
                // ended while it lay idle is found here, and left for the pool to close; the
                // report then reads on its first connection.
                let mut conn = read.try_acquire()?;
                sqlx::Connection::ping(&mut *conn).await.ok()?;
                Some(ReadConn::Postgres(conn))
            }
        }
    }

    /// On SQLite, a connection that reads on the calling thread (`crate::inline`), for a
    /// short read that `Conn::with_inline` then runs there; `None` on PostgreSQL.
    pub fn inline(&self) -> StoreResult<Option<InlineConn>> {
        match &self.pools {
            Pools::Sqlite { inline: Some(pool), .. } => pool.get().map(Some),
            _ => Ok(None),
        }
    }

    /// A connection for one short read by a key, whose plan cannot depend on the key (the
    /// token or session behind a request, a report's currencies; see `LookupConn`). On a
    /// SQLite file it reads on the calling thread. On PostgreSQL it comes from a pool whose connections
    /// plan each statement once and keep the plan (`plan_cache_mode = force_generic_plan`).
    /// Left to itself, PostgreSQL plans a prepared statement afresh for its first five runs
    /// on each connection, and the pool hands out its idle connections in turn: a statement
    /// is planned some twenty times before its plan is kept, and again on each connection the
    /// pool opens after closing an idle one. The token lookup took 0.25 ms to plan and 0.05
    /// ms to run. Other reads stay on the other pools, where the planner sees the values:
    /// win rate's rollup read ran 0.9 ms with its plan made for the values and 1.2 ms with
    /// the kept one, which saved as much planning as it lost.
    pub async fn lookup(&self) -> StoreResult<LookupConn> {
        Ok(match &self.pools {
            Pools::Postgres { lookup, .. } => LookupConn::Pooled(ReadConn::Postgres(lookup.acquire().await?)),
            Pools::Sqlite { .. } => match self.inline()? {
                Some(inline) => LookupConn::Inline(inline),
                None => LookupConn::Pooled(self.read().await?),
            },
        })
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (BEGIN
    /// IMMEDIATE), so a transaction that reads before it writes can never fail half-way
    /// with "database is locked".
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match &self.pools {
            Pools::Sqlite { write, .. } => Tx::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Pools::Postgres { write, .. } => Tx::Postgres(write.begin().await?),
        })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.read().await?;
        let _: (i64,) = conn.conn().fetch_one(&sql("SELECT CAST(1 AS BIGINT)")).await?;
        Ok(())
    }

    /// Refreshes the planner's statistics after a bulk load (autovacuum may be off).
    pub async fn analyze(&self) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.conn().execute(&sql("ANALYZE")).await?;
        tx.commit().await
    }

    /// After a bulk write on SQLite: copies the whole WAL into the database and empties it,
    /// waiting for readers if it must. The background PASSIVE checkpoints cannot keep up with
    /// a generator writing flat out (the WAL of a 300,000-deal demo grew to 18 GB), so bulk
    /// writers call this between batches. Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> StoreResult<()> {
        if let Pools::Sqlite { write, .. } = &self.pools {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(write).await.map_err(StoreError::from)?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { write, read, .. } => {
                write.close().await;
                read.close().await;
            }
            Pools::Postgres { write, read, lookup } => {
                write.close().await;
                read.close().await;
                lookup.close().await;
            }
        }
    }
}

/// A connection from the pool is pinged before it is handed out only when it has lain idle
/// for a while. sqlx already pings every connection as it goes back to the pool (and closes
/// it if that fails), so a second ping on the way out, a round trip on the request's path, adds
/// nothing for a connection returned a moment ago; a report of a few milliseconds takes two
/// or three connections. (HikariCP likewise skips its check within half a second of use.)
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// The most connections `Store::lookup` keeps to PostgreSQL: its reads take a fraction of a
/// millisecond, so a few serve many requests at once.
const LOOKUP_CONNECTIONS: u32 = 8;

fn pg_pool(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(OPEN_FOR_REPORTS.min(max_connections))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// Copies the WAL into the database file five times a second from a reader connection. A
/// PASSIVE checkpoint never blocks writers or readers, so the fsync it needs no longer
/// lands on the write path; the WAL stays small because checkpoints are frequent.
fn checkpoint_in_background(pool: sqlx::SqlitePool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !pool.is_closed() {
            tick.tick().await;
            if let Ok(mut conn) = pool.acquire().await {
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut *conn).await {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        }
    });
}

/// Hides the password of a database URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

pub enum ReadConn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl ReadConn {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            ReadConn::Sqlite(c) => Conn::Sqlite(c),
            ReadConn::Postgres(c) => Conn::Postgres(c),
        }
    }
}

pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t) => Conn::Sqlite(t),
            Tx::Postgres(t) => Conn::Postgres(t),
        }
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

/// One live connection (pooled or inside a transaction) of either backend.
pub enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
    /// A SQLite connection whose JSON documents (`fetch_many`) and self-decoding rows
    /// (`fetch_rows`) are read on the calling thread (`with_inline`, `Store::lookup`); every
    /// other statement runs on the pooled connection beside it, and fails without one
    /// (`StoreError::InlineOnly`).
    Inline(&'c mut InlineConn, Option<&'c mut SqliteConnection>),
}

/// The driver's connection behind a `Conn`, which every statement but an inline document
/// runs on.
pub(crate) enum Driver<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// A connection for one short lookup by key (`Store::lookup`): on a SQLite file it reads on
/// the calling thread alone, with no pooled connection to take and give back (sqlx checks
/// each one it is given back on the connection's own thread); on PostgreSQL one from the
/// pool whose connections keep their plans.
pub enum LookupConn {
    Inline(InlineConn),
    Pooled(ReadConn),
}

impl LookupConn {
    /// Only `fetch_many` and `fetch_rows` answer on an inline lookup; every other statement
    /// refuses.
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            LookupConn::Inline(inline) => Conn::Inline(inline, None),
            LookupConn::Pooled(pooled) => pooled.conn(),
        }
    }
}

/// A row type that decodes from both backends.
pub trait Record: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Record for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

/// A statement that can be rendered for either backend.
pub trait Statement: Sync {
    fn render(&self, backend: Backend) -> (String, Values);

    /// Whether PostgreSQL may keep the statement prepared on its connection (as sqlx does
    /// with every statement it is given). A kept statement is planned with its values for
    /// its first five runs on a connection, and from then on, if a plan made without them
    /// looks no costlier, with that generic plan (`Sql::planned_with_its_values`).
    fn keeps_plan(&self) -> bool {
        true
    }
}

/// Hand-written SQL with `$1`, `$2`, … placeholders, understood by both drivers. Only for
/// SQL that is the same text on both databases; anything dynamic goes through sea-query.
#[derive(Debug, Clone)]
pub struct Sql {
    text: String,
    values: Vec<Value>,
    keeps_plan: bool,
}

pub fn sql(text: impl Into<String>) -> Sql {
    Sql { text: text.into(), values: Vec::new(), keeps_plan: true }
}

impl Sql {
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.values.push(value.into());
        self
    }

    /// Has PostgreSQL plan the statement with its values every time it runs: it is sent
    /// unnamed, never kept, at the cost of one more round trip to parse it. For a statement
    /// whose best plan hangs on its values, where the generic plan PostgreSQL would settle on
    /// is slower than the planning it saves. Nothing changes on SQLite, which plans each
    /// statement once per connection (`plan_once`).
    pub fn planned_with_its_values(mut self) -> Self {
        self.keeps_plan = false;
        self
    }
}

impl Statement for Sql {
    fn render(&self, _backend: Backend) -> (String, Values) {
        (self.text.clone(), Values(self.values.clone()))
    }

    fn keeps_plan(&self) -> bool {
        self.keeps_plan
    }
}

/// Any statement, planned by PostgreSQL with its values every time it runs, as
/// `Sql::planned_with_its_values` has it: for a statement built with sea-query whose best plan
/// hangs on its values.
pub struct PlannedWithItsValues<S>(pub S);

impl<S: Statement> Statement for PlannedWithItsValues<S> {
    fn render(&self, backend: Backend) -> (String, Values) {
        self.0.render(backend)
    }

    fn keeps_plan(&self) -> bool {
        false
    }
}

macro_rules! sea_statement {
    ($($t:ty),*) => {$(
        impl Statement for $t {
            fn render(&self, backend: Backend) -> (String, Values) {
                match backend {
                    Backend::Sqlite => self.build(SqliteQueryBuilder),
                    Backend::Postgres => self.build(PostgresQueryBuilder),
                }
            }
        }
    )*};
}
sea_statement!(SelectStatement, InsertStatement, UpdateStatement, DeleteStatement);

impl Conn<'_> {
    /// This connection with its JSON documents and self-decoding rows read through `inline`,
    /// on the calling thread (see `Conn::Inline`); itself, reborrowed, on PostgreSQL or
    /// without one.
    pub fn with_inline<'a>(&'a mut self, inline: Option<&'a mut InlineConn>) -> Conn<'a> {
        match (self, inline) {
            (Conn::Sqlite(c), Some(inline)) => Conn::Inline(inline, Some(c)),
            (Conn::Inline(_, c), Some(inline)) => Conn::Inline(inline, c.as_deref_mut()),
            (Conn::Sqlite(c), None) => Conn::Sqlite(c),
            (Conn::Inline(i, c), None) => Conn::Inline(i, c.as_deref_mut()),
            (Conn::Postgres(c), _) => Conn::Postgres(c),
        }
    }

    /// Whether this reads its documents and self-decoding rows on the calling thread
    /// (`Conn::Inline`).
    pub fn is_inline(&self) -> bool {
        matches!(self, Conn::Inline(..))
    }

    /// Whether this is an inline connection with no pooled one beside it: only `fetch_many`
    /// and `fetch_rows` answer on it, and every other statement refuses
    /// (`StoreError::InlineOnly`).
    pub fn is_inline_only(&self) -> bool {
        matches!(self, Conn::Inline(_, None))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) | Conn::Inline(..) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    pub(crate) fn driver(&mut self) -> StoreResult<Driver<'_>> {
        match self {
            Conn::Sqlite(c) | Conn::Inline(_, Some(c)) => Ok(Driver::Sqlite(c)),
            Conn::Postgres(c) => Ok(Driver::Postgres(c)),
            Conn::Inline(_, None) => Err(StoreError::InlineOnly),
        }
    }

    /// With `KAIROS_EXPLAIN` set, logs the plan the database picks for each read: plans
    /// depend on the database's version and statistics, and a shell that binds literals where
    /// the application binds parameters can show a different one.
    async fn explain(&mut self, text: &str, values: &Values) {
        static ASKED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if !*ASKED.get_or_init(|| std::env::var_os("KAIROS_EXPLAIN").is_some()) {
            return;
        }
        // An inline lookup has no driver connection to ask; its plan shows on any other.
        let plan: Result<Vec<String>, sqlx::Error> = match self.driver() {
            Err(_) => return,
            Ok(Driver::Sqlite(c)) => sqlx::query_as_with::<_, (i64, i64, i64, String), _>(&format!("EXPLAIN QUERY PLAN {text}"), SqlxValues(values.clone()))
                .fetch_all(c)
                .await
                .map(|rows| rows.into_iter().map(|r| r.3).collect()),
            Ok(Driver::Postgres(c)) => sqlx::query_as_with::<_, (String,), _>(&format!("EXPLAIN {text}"), SqlxValues(values.clone()))
                .fetch_all(c)
                .await
                .map(|rows| rows.into_iter().map(|r| r.0).collect()),
        };
        match plan {
            Ok(plan) => tracing::info!(statement = %text, plan = %plan.join(" | "), "query plan"),
            Err(e) => tracing::warn!(statement = %text, error = %e, "no query plan"),
        }
    }

    pub async fn fetch_all<T: Record>(&mut self, stmt: &(impl Statement + ?Sized)) -> StoreResult<Vec<T>> {
        let (text, values) = stmt.render(self.backend());
        self.explain(&text, &values).await;
        let rows = match self.driver()? {
            Driver::Sqlite(c) => sqlx::query_as_with::<_, T, _>(&text, SqlxValues(values)).fetch_all(c).await,
            Driver::Postgres(c) => sqlx::query_as_with::<_, T, _>(&text, SqlxValues(values)).persistent(stmt.keeps_plan()).fetch_all(c).await,
        };
        rows.map_err(StoreError::from)
    }

    /// The rows of a statement as `fetch_all` reads them, but on the calling thread when this
    /// is an inline connection (`Conn::Inline`): no hand-off to sqlx's connection thread and
    /// back, for each row. (`KAIROS_EXPLAIN` shows its plan when it is read through the pool.)
    pub(crate) async fn fetch_rows<T: Record + InlineRow>(&mut self, stmt: &(impl Statement + ?Sized)) -> StoreResult<Vec<T>> {
        if let Conn::Inline(inline, _) = self {
            let (text, values) = stmt.render(Backend::Sqlite);
            return inline.fetch_rows(&text, &values);
        }
        self.fetch_all(stmt).await
    }

    /// The rows of a statement only PostgreSQL is given (its arrays, say); `None` on SQLite.
    pub async fn fetch_all_postgres<T>(&mut self, stmt: &(impl Statement + ?Sized)) -> Option<StoreResult<Vec<T>>>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        if self.backend() != Backend::Postgres {
            return None;
        }
        let (text, values) = stmt.render(Backend::Postgres);
        self.explain(&text, &values).await;
        match self {
            Conn::Postgres(c) => {
                Some(sqlx::query_as_with::<_, T, _>(&text, SqlxValues(values)).persistent(stmt.keeps_plan()).fetch_all(&mut **c).await.map_err(StoreError::from))
            }
            Conn::Sqlite(_) | Conn::Inline(..) => None,
        }
    }

    /// Many rows of `stmt`, as `T`s of its `columns`, sorted by `order_by` when given
    /// (columns of `stmt` as `t.name`). SQLite's driver hands each row from its thread to ours, about
    /// 2.6 µs a row whatever its width (5,000 history events: 7 ms in the sqlite3 shell,
    /// 20 ms through the driver), so there the rows come as one JSON document, one row.
    /// PostgreSQL's rows are cheap and its `json_agg` is not (the conversion report went
    /// from 10.9 to 18.8 ms), so there they come as rows.
    pub async fn fetch_many<T: Record + serde::de::DeserializeOwned>(
        &mut self,
        stmt: &(impl Statement + ?Sized),
        columns: &[&str],
        order_by: Option<&str>,
    ) -> StoreResult<Vec<T>> {
        let (inner, values) = stmt.render(self.backend());
        let cols = columns.iter().map(|c| format!("t.{c}")).collect::<Vec<_>>().join(", ");
        let order_by = order_by.map(|o| format!(" ORDER BY {o}")).unwrap_or_default();
        self.explain(&inner, &values).await;
        let as_document = || format!("SELECT json_group_array(json_array({cols}){order_by}) FROM ({inner}) AS t");
        let document = match self {
            Conn::Inline(inline, _) => inline.fetch_text(&as_document(), &values)?,
            Conn::Sqlite(c) => {
                let (document,): (String,) = sqlx::query_as_with(&as_document(), SqlxValues(values)).fetch_one(&mut **c).await.map_err(StoreError::from)?;
                document
            }
            Conn::Postgres(c) => {
                let text = format!("SELECT {cols} FROM ({inner}) AS t{order_by}");
                return sqlx::query_as_with::<_, T, _>(&text, SqlxValues(values)).persistent(stmt.keeps_plan()).fetch_all(&mut **c).await.map_err(StoreError::from);
            }
        };
        serde_json::from_str(&document).map_err(|e| StoreError::Corrupt(format!("rows read as JSON: {e}")))
    }

    pub async fn fetch_optional<T: Record>(&mut self, stmt: &(impl Statement + ?Sized)) -> StoreResult<Option<T>> {
        let (text, values) = stmt.render(self.backend());
        let row = match self.driver()? {
            Driver::Sqlite(c) => sqlx::query_as_with::<_, T, _>(&text, SqlxValues(values)).fetch_optional(c).await,
            Driver::Postgres(c) => sqlx::query_as_with::<_, T, _>(&text, SqlxValues(values)).persistent(stmt.keeps_plan()).fetch_optional(c).await,
        };
        row.map_err(StoreError::from)
    }

    pub async fn fetch_one<T: Record>(&mut self, stmt: &(impl Statement + ?Sized)) -> StoreResult<T> {
        self.fetch_optional(stmt).await?.ok_or(StoreError::NotFound)
    }

    /// Runs a statement and answers the number of rows it touched.
    pub async fn execute(&mut self, stmt: &(impl Statement + ?Sized)) -> StoreResult<u64> {
        let (text, values) = stmt.render(self.backend());
        let done = match self.driver()? {
            Driver::Sqlite(c) => sqlx::query_with(&text, SqlxValues(values)).execute(c).await.map(|r| r.rows_affected()),
            Driver::Postgres(c) => sqlx::query_with(&text, SqlxValues(values)).persistent(stmt.keeps_plan()).execute(c).await.map(|r| r.rows_affected()),
        };
        done.map_err(StoreError::from)
    }

    /// A `count(*)`-style single integer.
    pub async fn fetch_count(&mut self, stmt: &(impl Statement + ?Sized)) -> StoreResult<i64> {
        let (n,): (i64,) = self.fetch_one(stmt).await?;
        Ok(n)
    }

    /// Runs several statements separated by semicolons, without parameters (test set-up,
    /// maintenance).
    pub async fn execute_script(&mut self, script: &str) -> StoreResult<()> {
        use sqlx::Executor;
        match self.driver()? {
            Driver::Sqlite(c) => {
                c.execute(script).await?;
            }
            Driver::Postgres(c) => {
                c.execute(script).await?;
            }
        }
        Ok(())
    }
}

/// Opens one plain connection, for administration such as creating test databases.
pub async fn connect_postgres_admin(url: &str) -> StoreResult<PgConnection> {
    Ok(PgConnection::connect(url).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_the_backend_and_passwords_are_hidden() {
        assert_eq!(Backend::from_url("sqlite://kairos.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("postgres://u@h/db"), Some(Backend::Postgres));
        assert_eq!(Backend::from_url("mysql://h/db"), None);
        assert_eq!(redact_url("postgres://kairos:s3cret@db:5432/k"), "postgres://kairos:***@db:5432/k");
        assert_eq!(redact_url("sqlite://kairos.db"), "sqlite://kairos.db");
    }

    /// A statement read inline selects the rows sqlx selects: the values are bound as sqlx
    /// binds them (compared with what sqlx stored), parameters named out of order included.
    #[tokio::test]
    async fn inline_reads_select_what_the_pool_selects() {
        let path = std::env::temp_dir().join(format!("kairos-inline-{}.db", std::process::id()));
        let store = Store::connect(&StoreOptions::new(format!("sqlite://{}", path.display()))).await.unwrap();
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.conn().execute_script("CREATE TABLE t (at TEXT, day TEXT, flag BOOLEAN, n BIGINT, name TEXT)").await.unwrap();
        for (i, (t, d, flag)) in [("2026-03-01T08:00:00Z", 1, true), ("2026-03-01T08:00:00.250Z", 2, false), ("2026-03-02T00:00:00.000001Z", 3, true)].into_iter().enumerate() {
            let q = sql("INSERT INTO t VALUES ($1, $2, $3, $4, $5)").bind(at(t)).bind(day(d)).bind(flag).bind(i as i64).bind(format!("n{i}"));
            tx.conn().execute(&q).await.unwrap();
        }
        tx.commit().await.unwrap();
        let statements = [
            sql("SELECT n FROM t WHERE at = $1").bind(at("2026-03-01T08:00:00.250Z")),
            sql("SELECT n FROM t WHERE at >= $2 AND day < $1").bind(day(3)).bind(at("2026-03-01T08:00:00Z")),
            sql("SELECT n FROM t WHERE flag = $1 AND name <> $2").bind(true).bind("n0"),
            sql("SELECT n FROM t WHERE n > $1 AND day = $2").bind(0i64).bind(day(3)),
        ];
        let mut conn = store.read().await.unwrap();
        let mut inline = store.inline().unwrap();
        assert!(inline.is_some(), "a SQLite file has inline connections");
        for q in &statements {
            let pooled: Vec<(i64,)> = conn.conn().fetch_many(q, &["n"], Some("t.n")).await.unwrap();
            assert!(!pooled.is_empty(), "{q:?} selects rows");
            let mut c = conn.conn();
            let inlined: Vec<(i64,)> = c.with_inline(inline.as_mut()).fetch_many(q, &["n"], Some("t.n")).await.unwrap();
            assert_eq!(inlined, pooled, "{q:?}");
        }
        // A lookup on its own reads its document inline, and refuses any other statement
        // rather than fall back to a connection it does not hold.
        let mut lookup = store.lookup().await.unwrap();
        assert!(matches!(lookup, LookupConn::Inline(_)), "a SQLite file looks up inline");
        assert!(lookup.conn().is_inline_only() && !conn.conn().is_inline_only() && !conn.conn().is_inline());
        assert!(conn.conn().with_inline(inline.as_mut()).is_inline() && !conn.conn().with_inline(inline.as_mut()).is_inline_only());
        let found: Vec<(i64,)> = lookup.conn().fetch_many(&statements[0], &["n"], None).await.unwrap();
        assert_eq!(found, vec![(1,)]);
        assert!(matches!(lookup.conn().fetch_optional::<(i64,)>(&statements[0]).await, Err(StoreError::InlineOnly)));
        assert!(matches!(lookup.conn().execute(&sql("DELETE FROM t")).await, Err(StoreError::InlineOnly)));
        let mut count = conn.conn();
        assert_eq!(count.fetch_count(&sql("SELECT count(*) FROM t")).await.unwrap(), 3, "the refused delete changed nothing");
        drop((conn, inline, lookup, store));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    /// Fails when the build did not raise SQLite's cap (.cargo/config.toml): the pragma is then
    /// clamped to 2 GB without a word, and a large database is read page by page again.
    /// On PostgreSQL (the suite's second half) a lookup's connection keeps each statement's
    /// first plan; the other pools' connections leave the planner its choice.
    #[tokio::test]
    async fn postgres_lookups_keep_their_plans_and_other_reads_do_not() {
        if std::env::var("KAIROS_TEST_DB").as_deref() != Ok("postgres") {
            return;
        }
        let admin_url = std::env::var("KAIROS_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("kairos_lookup_{}", std::process::id());
        let mut admin = connect_postgres_admin(&admin_url).await.unwrap();
        sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str()).await.unwrap();
        let store = Store::connect(&StoreOptions::new(format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0))).await.unwrap();
        let mode = sql("SELECT current_setting('plan_cache_mode')");
        let mut lookup = store.lookup().await.unwrap();
        let (kept,): (String,) = lookup.conn().fetch_one(&mode).await.unwrap();
        let found: Vec<(String,)> = lookup.conn().fetch_many(&mode, &["current_setting"], None).await.unwrap();
        let mut read = store.read().await.unwrap();
        let (chosen,): (String,) = read.conn().fetch_one(&mode).await.unwrap();
        drop((lookup, read));
        store.close().await;
        sqlx::Executor::execute(&mut admin, format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.unwrap();
        assert_eq!(kept, "force_generic_plan");
        assert_eq!(found, vec![("force_generic_plan".to_string(),)], "a lookup reads rows on PostgreSQL");
        assert_eq!(chosen, "auto");
    }

    #[tokio::test]
    async fn sqlite_connections_map_the_whole_file() {
        let path = std::env::temp_dir().join(format!("kairos-mmap-{}.db", std::process::id()));
        let store = Store::connect(&StoreOptions::new(format!("sqlite://{}", path.display()))).await.unwrap();
        for mut conn in [store.read().await.unwrap(), store.report_read().await.unwrap()] {
            let (size,): (i64,) = conn.conn().fetch_one(&sql("PRAGMA mmap_size")).await.unwrap();
            assert_eq!(size.to_string(), MMAP_SIZE);
        }
        let mut tx = store.begin().await.unwrap();
        let (size,): (i64,) = tx.conn().fetch_one(&sql("PRAGMA mmap_size")).await.unwrap();
        assert_eq!(size.to_string(), MMAP_SIZE, "the writer's connection");
        drop(tx);
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
