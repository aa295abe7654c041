//! `format=csv` and `format=xlsx` for reports and lists (API.md): the report's main table,
//! flattened into one row per record, so a spreadsheet opens it directly.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The answer format a client asked for: `format=` in the query, else its Accept header
/// (`text/csv` or the XLSX media type), else JSON.
#[derive(Debug, Default)]
pub struct Format(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Format {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        // A malformed query is refused by the report's own parameters; here it means "none".
        let asked = parts.uri.query().and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok()).and_then(|pairs| {
            pairs.into_iter().find(|(k, _)| k == "format").map(|(_, v)| v)
        });
        if asked.is_some() {
            return Ok(Format(asked));
        }
        let accept = parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        let by_header = if accept.contains(XLSX) {
            Some("xlsx")
        } else if accept.contains("text/csv") {
            Some("csv")
        } else {
            None
        };
        Ok(Format(by_header.map(str::to_string)))
    }
}

/// The tables reports keep their rows in, in order of preference.
const TABLES: [&str; 11] = ["sources", "stages", "groups", "buckets", "categories", "points", "leaderboard", "periods", "by_reason", "columns", "items"];

/// Answers JSON, or the report's main table as CSV or as an XLSX workbook.
pub fn respond<T: Serialize>(name: &str, format: Option<&str>, report: T) -> Result<Response, ApiError> {
    let internal = |e: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e);
    let (body, content_type, extension): (Vec<u8>, &'static str, &str) = match format.map(str::trim).filter(|f| !f.is_empty()) {
        None | Some("json") => return Ok(axum::Json(report).into_response()),
        Some("csv") => {
            let value = serde_json::to_value(&report).map_err(|e| internal(e.to_string()))?;
            (to_csv(&table(&value)).into_bytes(), "text/csv; charset=utf-8", "csv")
        }
        Some("xlsx") => {
            let value = serde_json::to_value(&report).map_err(|e| internal(e.to_string()))?;
            let bytes = to_xlsx(name, &table(&value)).map_err(|e| internal(e.to_string()))?;
            (bytes, XLSX, "xlsx")
        }
        Some(other) => return Err(ApiError::field("format", format!("{other:?} is not a format; use json, csv or xlsx"))),
    };
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.{extension}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// The report's main table: its column names (in first-seen order) and its rows of values.
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<(String, Value)>>,
}

fn table(report: &Value) -> Table {
    let rows: Vec<Value> = TABLES
        .iter()
        .find_map(|t| report.get(*t).and_then(Value::as_array).cloned())
        .unwrap_or_else(|| vec![report.clone()]);
    let rows: Vec<Vec<(String, Value)>> = rows.iter().map(|r| flatten("", r)).collect();
    let mut columns: Vec<String> = Vec::new();
    for row in &rows {
        for (k, _) in row {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    Table { columns, rows }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn to_csv(t: &Table) -> String {
    // A byte-order mark makes Excel read the UTF-8 (Chinese names) correctly.
    let mut out = String::from("\u{feff}");
    out.push_str(&t.columns.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
    for row in &t.rows {
        let line: Vec<String> = t.columns.iter().map(|c| row.iter().find(|(k, _)| k == c).map(|(_, v)| cell(&text_of(v))).unwrap_or_default()).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One sheet: a bold header row, numbers as numbers, text as text (never as a formula, so
/// the CSV injection defence is not needed here).
fn to_xlsx(name: &str, t: &Table) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    // Sheet names are at most 31 characters and may not hold []:*?/\\.
    let sheet_name: String = name.chars().filter(|c| !"[]:*?/\\".contains(*c)).take(31).collect();
    sheet.set_name(if sheet_name.is_empty() { "report" } else { &sheet_name })?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (c, column) in t.columns.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, column, &bold)?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, column) in t.columns.iter().enumerate() {
            match row.iter().find(|(k, _)| k == column).map(|(_, v)| v) {
                Some(Value::Number(n)) => match n.as_f64() {
                    Some(f) => sheet.write_number(r, c as u16, f)?,
                    None => sheet.write_string(r, c as u16, n.to_string())?,
                },
                Some(Value::Bool(b)) => sheet.write_boolean(r, c as u16, *b)?,
                Some(Value::Null) | None => sheet,
                Some(v) => sheet.write_string(r, c as u16, text_of(v))?,
            };
        }
    }
    book.save_to_buffer()
}

fn flatten(prefix: &str, v: &Value) -> Vec<(String, Value)> {
    let key = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match v {
        Value::Object(map) => map.iter().flat_map(|(k, v)| flatten(&key(k), v)).collect(),
        // Nested lists (cards, ids) are summarised, not spread over columns.
        Value::Array(items) => {
            vec![(prefix.to_string(), Value::String(items.iter().map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string())).collect::<Vec<_>>().join(" ")))]
        }
        other => vec![(prefix.to_string(), other.clone())],
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
        let csv = to_csv(&table(&report));
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(lines[0], "name,count,health.score,note");
        assert_eq!(lines[1], "初步接洽,3,80,");
        assert_eq!(lines[2], "\"'=HYPERLINK(\"\"x\"\")\",-2,,\"a,b\"");
    }

    #[test]
    fn xlsx_holds_the_same_table_with_numbers_as_numbers_and_formulas_as_text() {
        use calamine::{Data, Reader};
        let report = json!({"stages": [
            {"name": "初步接洽", "amount": 2_650_000, "weighted": 12.5},
            {"name": "=HYPERLINK(\"x\")", "amount": null}
        ]});
        let bytes = to_xlsx("funnel", &table(&report)).unwrap();
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(book.sheet_names(), vec!["funnel"]);
        let range = book.worksheet_range("funnel").unwrap();
        let rows: Vec<Vec<Data>> = range.rows().map(|r| r.to_vec()).collect();
        assert_eq!(rows[0], vec![Data::String("name".into()), Data::String("amount".into()), Data::String("weighted".into())]);
        assert_eq!(rows[1], vec![Data::String("初步接洽".into()), Data::Float(2_650_000.0), Data::Float(12.5)]);
        assert_eq!(rows[2][0], Data::String("=HYPERLINK(\"x\")".into()), "written as text, never as a formula");
    }
}
