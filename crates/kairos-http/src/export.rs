//! `format=csv` for reports (API.md): the report's main table, flattened, with the
//! filters as a comment-free header row so a spreadsheet opens it directly.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Default, Deserialize)]
pub struct FormatQuery {
    pub format: Option<String>,
}

/// The tables reports keep their rows in, in order of preference.
const TABLES: [&str; 11] = ["sources", "stages", "groups", "buckets", "categories", "points", "leaderboard", "periods", "by_reason", "columns", "items"];

/// Answers JSON, or the report's main table as CSV.
pub fn respond<T: Serialize>(name: &str, format: Option<&str>, report: T) -> Result<Response, ApiError> {
    match format.map(str::trim).filter(|f| !f.is_empty()) {
        None | Some("json") => Ok(axum::Json(report).into_response()),
        Some("csv") => {
            let value = serde_json::to_value(&report).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
            let csv = to_csv(&value);
            let mut r = (StatusCode::OK, csv).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            Ok(r)
        }
        Some(other) => Err(ApiError::field("format", format!("{other:?} is not a format; use json or csv"))),
    }
}

fn to_csv(report: &Value) -> String {
    let rows: Vec<Value> = TABLES
        .iter()
        .find_map(|t| report.get(*t).and_then(Value::as_array).cloned())
        .unwrap_or_else(|| vec![report.clone()]);
    let flat: Vec<Vec<(String, String)>> = rows.iter().map(|r| flatten("", r)).collect();
    let mut columns: Vec<String> = Vec::new();
    for row in &flat {
        for (k, _) in row {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    // A byte-order mark makes Excel read the UTF-8 (Chinese names) correctly.
    let mut out = String::from("\u{feff}");
    out.push_str(&columns.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
    for row in flat {
        let line: Vec<String> = columns.iter().map(|c| row.iter().find(|(k, _)| k == c).map(|(_, v)| cell(v)).unwrap_or_default()).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn flatten(prefix: &str, v: &Value) -> Vec<(String, String)> {
    let key = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match v {
        Value::Object(map) => map.iter().flat_map(|(k, v)| flatten(&key(k), v)).collect(),
        // Nested lists (cards, ids) are summarised, not spread over columns.
        Value::Array(items) => vec![(prefix.to_string(), items.iter().map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string())).collect::<Vec<_>>().join(" "))],
        Value::Null => vec![(prefix.to_string(), String::new())],
        Value::String(s) => vec![(prefix.to_string(), s.clone())],
        other => vec![(prefix.to_string(), other.to_string())],
    }
}

/// RFC 4180 quoting; a leading =, +, - or @ is defused so a spreadsheet never runs a cell
/// as a formula (CSV injection).
fn cell(text: &str) -> String {
    let t = if text.starts_with(['=', '+', '@']) || (text.starts_with('-') && text.parse::<f64>().is_err()) { format!("'{text}") } else { text.to_string() };
    if t.contains([',', '"', '\n', '\r']) { format!("\"{}\"", t.replace('"', "\"\"")) } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_flattens_the_main_table_and_defuses_formulas() {
        let report = json!({"filters": {}, "stages": [
            {"name": "初步接洽", "count": 3, "health": {"score": 80}},
            {"name": "=HYPERLINK(\"x\")", "count": -2, "note": "a,b"}
        ]});
        let csv = to_csv(&report);
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(lines[0], "name,count,health.score,note");
        assert_eq!(lines[1], "初步接洽,3,80,");
        assert_eq!(lines[2], "\"'=HYPERLINK(\"\"x\"\")\",-2,,\"a,b\"");
    }
}
