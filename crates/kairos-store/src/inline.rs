//! SQLite reads on the calling thread, for the few short reads on a report's hot path.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every statement to it
//! and every row back: two thread wake-ups, about 0.1 ms a statement on this machine. The
//! reports served from rolled-up rows read for about half a millisecond at a million deals,
//! so the hand-off alone was a fifth of each (conversion's rollup: 0.56-0.66 ms through a
//! pooled sqlx connection, 0.47 ms on the calling thread; docs/benchmarks.md). These
//! connections run their statement where they are called, and so block that thread while
//! they read: they are for reads bounded by a rollup or an index lookup, never a scan that
//! grows with the deals (those stay on sqlx's threads, where two can run side by side).
//!
//! They open the same file with the same settings as the read pool (memory map, page cache,
//! the query planner stability guarantee) and return JSON documents (`Conn::fetch_many`, how
//! the reports read many rows from SQLite), or rows for a type that decodes them itself
//! (`InlineRow`, `Conn::fetch_rows`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::OpenFlags;
use rusqlite::types::Value as Lite;
use sea_query::{Value, Values};

use crate::error::{StoreError, StoreResult};

/// Connections kept open between reads; more are opened when more readers run at once, and
/// closed when they come back to a full shelf.
const KEPT: usize = 8;
/// Statements each connection keeps prepared (a report reads with a handful).
const PREPARED: usize = 64;

/// The idle connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct InlinePool {
    path: PathBuf,
    mmap_size: &'static str,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl InlinePool {
    pub(crate) fn new(path: PathBuf, mmap_size: &'static str) -> Arc<InlinePool> {
        Arc::new(InlinePool { path, mmap_size, idle: Mutex::new(Vec::new()) })
    }

    /// An idle connection, or a new one.
    pub(crate) fn get(self: &Arc<Self>) -> StoreResult<InlineConn> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        Ok(InlineConn { conn: Some(conn), pool: Arc::clone(self) })
    }

    fn open(&self) -> StoreResult<rusqlite::Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(&self.path, flags).map_err(inline_error)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(inline_error)?;
        conn.execute_batch(&format!("PRAGMA cache_size = -32000; PRAGMA temp_store = memory; PRAGMA mmap_size = {};", self.mmap_size))
            .map_err(inline_error)?;
        // As on the pool's connections (`db::plan_once`): each statement keeps its plan.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(inline_error)?;
        conn.set_prepared_statement_cache_capacity(PREPARED);
        Ok(conn)
    }
}

/// One connection from an `InlinePool`, back on its shelf when dropped.
#[derive(Debug)]
pub struct InlineConn {
    conn: Option<rusqlite::Connection>,
    pool: Arc<InlinePool>,
}

impl Drop for InlineConn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < KEPT {
                idle.push(conn);
            }
        }
    }
}

impl InlineConn {
    /// The one text value of a statement that answers one row (a JSON document), its
    /// parameters bound as sqlx binds them, so that the stored text compares the same.
    pub(crate) fn fetch_text(&mut self, text: &str, values: &Values) -> StoreResult<String> {
        let mut statement = self.bound(text, values)?;
        let mut rows = statement.raw_query();
        let row = rows.next().map_err(inline_error)?.ok_or(StoreError::NotFound)?;
        row.get::<_, String>(0).map_err(inline_error)
    }

    /// Every row of a statement, each decoded by `T` as SQLite hands it over: for rows that
    /// cost SQLite more to write as one document than to step through (long text keys).
    pub(crate) fn fetch_rows<T: InlineRow>(&mut self, text: &str, values: &Values) -> StoreResult<Vec<T>> {
        let mut statement = self.bound(text, values)?;
        let mut rows = statement.raw_query();
        let mut all = Vec::new();
        while let Some(row) = rows.next().map_err(inline_error)? {
            all.push(T::from_inline(row).map_err(inline_error)?);
        }
        Ok(all)
    }

    /// The statement, prepared once per connection, with `values` bound as sqlx binds them.
    fn bound(&mut self, text: &str, values: &Values) -> StoreResult<rusqlite::CachedStatement<'_>> {
        let conn = self.conn.as_ref().ok_or_else(|| StoreError::Corrupt("inline connection used after release".into()))?;
        let mut statement = conn.prepare_cached(text).map_err(inline_error)?;
        for i in 1..=statement.parameter_count() {
            let value = values.0.get(parameter_position(statement.parameter_name(i), i)).ok_or_else(|| {
                StoreError::Corrupt(format!("statement has parameter {i} but {} values were bound", values.0.len()))
            })?;
            statement.raw_bind_parameter(i, lite(value)?).map_err(inline_error)?;
        }
        Ok(statement)
    }
}

/// A row type an inline connection reads as rows (`InlineConn::fetch_rows`), by column name
/// as sqlx's `FromRow` reads it.
pub(crate) trait InlineRow: Sized {
    fn from_inline(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

/// Which bound value (0-based) parameter `i` takes: `$n` and `?n` name theirs, as sqlx
/// reads them; a bare `?` takes its own position.
fn parameter_position(name: Option<&str>, i: usize) -> usize {
    name.and_then(|n| n.strip_prefix('$').or_else(|| n.strip_prefix('?')))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(i)
        .saturating_sub(1)
}

/// A sea-query value as SQLite is given it by sqlx (`sea_query_binder`, sqlx's encoders):
/// dates as `%F`, instants as RFC 3339 with as many fractional digits as they need.
fn lite(value: &Value) -> StoreResult<Lite> {
    fn int(v: Option<i64>) -> Lite {
        v.map(Lite::Integer).unwrap_or(Lite::Null)
    }
    Ok(match value {
        Value::Bool(v) => int(v.map(i64::from)),
        Value::TinyInt(v) => int(v.map(i64::from)),
        Value::SmallInt(v) => int(v.map(i64::from)),
        Value::Int(v) => int(v.map(i64::from)),
        Value::BigInt(v) => int(*v),
        Value::TinyUnsigned(v) => int(v.map(i64::from)),
        Value::SmallUnsigned(v) => int(v.map(i64::from)),
        Value::Unsigned(v) => int(v.map(i64::from)),
        Value::Float(v) => v.map(|f| Lite::Real(f64::from(f))).unwrap_or(Lite::Null),
        Value::Double(v) => v.map(Lite::Real).unwrap_or(Lite::Null),
        Value::String(v) => v.as_ref().map(|s| Lite::Text(s.to_string())).unwrap_or(Lite::Null),
        Value::ChronoDate(v) => v.as_ref().map(|d| Lite::Text(d.format("%F").to_string())).unwrap_or(Lite::Null),
        Value::ChronoDateTimeUtc(v) => {
            v.as_ref().map(|t| Lite::Text(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))).unwrap_or(Lite::Null)
        }
        other => return Err(StoreError::Corrupt(format!("a value of this kind is not read inline: {other:?}"))),
    })
}

fn inline_error(e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt(format!("SQLite (inline read): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_take_the_value_they_name() {
        assert_eq!(parameter_position(Some("$1"), 1), 0);
        assert_eq!(parameter_position(Some("$3"), 1), 2, "a statement may name its parameters out of order");
        assert_eq!(parameter_position(Some("?2"), 1), 1);
        assert_eq!(parameter_position(None, 4), 3, "a bare ? takes its own position");
    }

    #[test]
    fn values_are_bound_as_sqlx_binds_them() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-01T08:00:00.250Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(lite(&Value::from(at)).unwrap(), Lite::Text("2026-03-01T08:00:00.250+00:00".into()));
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(lite(&Value::from(day)).unwrap(), Lite::Text("2026-03-01".into()));
        assert_eq!(lite(&Value::from(true)).unwrap(), Lite::Integer(1));
        assert_eq!(lite(&Value::String(None)).unwrap(), Lite::Null);
    }
}
