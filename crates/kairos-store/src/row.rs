//! Helpers for turning stored text back into domain values.

use kairos_domain::Problem;

use crate::error::{StoreError, StoreResult};

/// Parses a stored id; a malformed one means the database was written by something else.
pub fn parse_id<T>(text: &str, parse: fn(&str) -> Result<T, Problem>) -> StoreResult<T> {
    parse(text).map_err(|p| StoreError::Corrupt(format!("bad id {text:?}: {p}")))
}

pub fn parse_opt_id<T>(text: Option<&str>, parse: fn(&str) -> Result<T, Problem>) -> StoreResult<Option<T>> {
    text.map(|t| parse_id(t, parse)).transpose()
}

pub fn parse_stored<T>(text: &str, what: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
    parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown {what} {text:?}")))
}

pub fn parse_tags(text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("bad tags {text:?}: {e}")))
}

pub fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".to_string())
}

/// Escapes `%`, `_` and `\` for a LIKE pattern used with `ESCAPE '\'`.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(super::like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }
}
