//! What browser forms send, read the way people type it.

use kairos_app::AppError;
use serde::de::DeserializeOwned;

/// A query string into a filter struct. Empty inputs mean "no filter" (a form submits
/// every field, filled or not), so they are dropped before the app layer sees them.
pub fn query_of<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| AppError::field("query", e.to_string()))?;
    let kept: Vec<(String, String)> = pairs.into_iter().filter(|(_, v)| !v.trim().is_empty()).collect();
    let text = serde_urlencoded::to_string(&kept).map_err(|e| AppError::field("query", e.to_string()))?;
    serde_urlencoded::from_str(&text).map_err(|e| AppError::field("query", e.to_string()))
}

/// "500,000", "500000.5", "¥ 1,234.56" → minor units. The error is a label key.
pub fn parse_money(text: &str) -> Result<i64, &'static str> {
    let cleaned: String = text.chars().filter(|c| !matches!(c, ',' | '，' | ' ' | '¥' | '$' | '€' | '￥')).collect();
    let (units, cents) = match cleaned.split_once('.') {
        Some((u, c)) => (u, c),
        None => (cleaned.as_str(), ""),
    };
    if units.is_empty() && cents.is_empty() {
        return Err("problem.not_a_number");
    }
    if !units.chars().all(|c| c.is_ascii_digit()) || !cents.chars().all(|c| c.is_ascii_digit()) {
        return Err("problem.not_a_number");
    }
    if cents.len() > 2 {
        return Err("problem.too_many_decimals");
    }
    let units: i64 = if units.is_empty() { 0 } else { units.parse().map_err(|_| "problem.too_large")? };
    let cents: i64 = format!("{cents:0<2}").parse().unwrap_or(0);
    units.checked_mul(100).and_then(|u| u.checked_add(cents)).ok_or("problem.too_large")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_input_accepts_grouping_symbols_and_cents() {
        assert_eq!(parse_money("500,000"), Ok(50_000_000));
        assert_eq!(parse_money("¥ 1,234.5"), Ok(123_450));
        assert_eq!(parse_money("0.07"), Ok(7));
        assert_eq!(parse_money("12.345"), Err("problem.too_many_decimals"));
        assert_eq!(parse_money("-5"), Err("problem.not_a_number"));
        assert_eq!(parse_money("abc"), Err("problem.not_a_number"));
        assert_eq!(parse_money(""), Err("problem.not_a_number"));
        assert_eq!(parse_money("99999999999999999999"), Err("problem.too_large"));
    }

    #[test]
    fn empty_filters_are_dropped() {
        #[derive(serde::Deserialize)]
        struct Q {
            q: Option<String>,
            owner_id: Option<String>,
        }
        let q: Q = query_of(Some("q=abc&owner_id=")).unwrap();
        assert_eq!(q.q.as_deref(), Some("abc"));
        assert!(q.owner_id.is_none());
    }
}
