//! Multi-row inserts for bulk loads (imports), bound straight into the driver.
//!
//! The query builder renders every value into its own value list, which the binder then
//! copies again for the driver; for a hundred thousand rows of forty columns that copying
//! cost more than the database's work. Here each value is moved into the driver once, and
//! the statement text for a batch size is the same every time, so the driver's statement
//! cache prepares it once.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::query::Query;

use crate::db::{Conn, Driver};
use crate::error::{StoreError, StoreResult};

/// One value of a row to insert.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Date(Option<NaiveDate>),
    Time(Option<DateTime<Utc>>),
}

impl From<String> for Cell {
    fn from(v: String) -> Cell {
        Cell::Text(Some(v))
    }
}
impl From<&str> for Cell {
    fn from(v: &str) -> Cell {
        Cell::Text(Some(v.to_string()))
    }
}
impl From<Option<String>> for Cell {
    fn from(v: Option<String>) -> Cell {
        Cell::Text(v)
    }
}
impl From<i64> for Cell {
    fn from(v: i64) -> Cell {
        Cell::Int(Some(v))
    }
}
impl From<Option<i64>> for Cell {
    fn from(v: Option<i64>) -> Cell {
        Cell::Int(v)
    }
}
impl From<bool> for Cell {
    fn from(v: bool) -> Cell {
        Cell::Bool(Some(v))
    }
}
impl From<Option<bool>> for Cell {
    fn from(v: Option<bool>) -> Cell {
        Cell::Bool(v)
    }
}
impl From<Option<NaiveDate>> for Cell {
    fn from(v: Option<NaiveDate>) -> Cell {
        Cell::Date(v)
    }
}
impl From<DateTime<Utc>> for Cell {
    fn from(v: DateTime<Utc>) -> Cell {
        Cell::Time(Some(v))
    }
}
impl From<Option<DateTime<Utc>>> for Cell {
    fn from(v: Option<DateTime<Utc>>) -> Cell {
        Cell::Time(v)
    }
}

/// `INSERT INTO table (columns) VALUES (…), (…)` for `rows` rows: `$n` placeholders for
/// PostgreSQL, plain `?` for SQLite (whose driver resolves every `$n` by name, which costs
/// time quadratic in the number of parameters).
fn statement(table: &str, columns: &[&str], rows: usize, numbered: bool) -> String {
    let mut text = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            text.push_str(", ");
        }
        text.push('(');
        for c in 0..columns.len() {
            if c > 0 {
                text.push_str(", ");
            }
            n += 1;
            if numbered {
                text.push('$');
                text.push_str(&n.to_string());
            } else {
                text.push('?');
            }
        }
        text.push(')');
    }
    text
}

macro_rules! bind_all {
    ($query:expr, $rows:expr) => {{
        let mut q = $query;
        for row in $rows {
            for cell in row {
                q = match cell {
                    Cell::Text(v) => q.bind(v),
                    Cell::Int(v) => q.bind(v),
                    Cell::Bool(v) => q.bind(v),
                    Cell::Date(v) => q.bind(v),
                    Cell::Time(v) => q.bind(v),
                };
            }
        }
        q
    }};
}

/// Inserts `rows` (each with one cell per column) in statements of `per_statement` rows.
/// `table` and `columns` are the caller's constants, never input.
pub async fn insert_rows(c: &mut Conn<'_>, table: &str, columns: &[&str], rows: Vec<Vec<Cell>>, per_statement: usize) -> StoreResult<()> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Cell>> = rows.by_ref().take(per_statement).collect();
        if chunk.iter().any(|r| r.len() != columns.len()) {
            return Err(StoreError::Corrupt(format!("a row for {table} does not have {} cells", columns.len())));
        }
        let text = statement(table, columns, chunk.len(), matches!(c, Conn::Postgres(_)));
        match c.driver()? {
            Driver::Sqlite(conn) => {
                let q: Query<'_, sqlx::Sqlite, _> = bind_all!(sqlx::query(&text), chunk);
                q.execute(conn).await?;
            }
            Driver::Postgres(conn) => {
                let q: Query<'_, sqlx::Postgres, _> = bind_all!(sqlx::query(&text), chunk);
                q.execute(conn).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn statements_number_their_placeholders_across_rows() {
        assert_eq!(super::statement("t", &["a", "b"], 2, true), "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)");
        assert_eq!(super::statement("t", &["a", "b"], 2, false), "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)");
    }
}
