//! Paging, sorting and cursors shared by every list endpoint.

use base64::Engine;
use kairos_domain::FieldErrors;
use kairos_store::page::{Page, PageRequest, Sort};
use serde::Serialize;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 500;

/// `{"items": [...], "total": 1234, "next_cursor": "…" | null}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    /// How many records match, under the caller's data scope.
    pub total: i64,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> ListPage<T> {
    pub fn from_page(page: Page<T>) -> ListPage<T> {
        ListPage { items: page.items, total: page.total, next_cursor: page.next_offset.map(encode_cursor) }
    }
}

pub fn encode_cursor(offset: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<u64> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    // Offsets beyond this are not pages anyone reads, and the databases take offsets as
    // signed integers: a forged huge cursor must be a 422, not an overflow.
    text.strip_prefix('o')?.parse().ok().filter(|o| *o <= MAX_OFFSET)
}

const MAX_OFFSET: u64 = 1_000_000_000;

/// Reads `limit` and `cursor`, recording problems under their names.
pub fn page_request(errors: &mut FieldErrors, limit: Option<&str>, cursor: Option<&str>) -> PageRequest {
    let limit = match limit {
        None | Some("") => DEFAULT_LIMIT,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                errors.add("limit", format!("must be a whole number from 1 to {MAX_LIMIT}"));
                DEFAULT_LIMIT
            }
        },
    };
    let offset = match cursor {
        None | Some("") => 0,
        Some(text) => decode_cursor(text).unwrap_or_else(|| {
            errors.add("cursor", "is not a cursor this server issued");
            0
        }),
    };
    PageRequest { limit, offset }
}

/// Reads `sort=field` or `sort=-field` (descending) against the sortable fields of a list:
/// pairs of (API name, column).
pub fn sort(errors: &mut FieldErrors, sort: Option<&str>, allowed: &[(&str, &'static str)], default: Sort) -> Sort {
    let Some(text) = sort.map(str::trim).filter(|s| !s.is_empty()) else { return default };
    let (name, descending) = match text.strip_prefix('-') {
        Some(rest) => (rest, true),
        None => (text.strip_prefix('+').unwrap_or(text), false),
    };
    match allowed.iter().find(|(api, _)| *api == name) {
        Some((_, column)) => Sort { column, descending },
        None => {
            let names: Vec<&str> = allowed.iter().map(|(a, _)| *a).collect();
            errors.add("sort", format!("cannot sort by {name:?}; use one of {} (prefix - for descending)", names.join(", ")));
            default
        }
    }
}

/// A query parameter that is absent or blank counts as not given.
pub fn given(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Parses a `YYYY-MM-DD` query parameter.
pub fn date(errors: &mut FieldErrors, field: &str, value: &Option<String>) -> Option<chrono::NaiveDate> {
    given(value).and_then(|t| match chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            errors.add(field, "must be a date YYYY-MM-DD");
            None
        }
    })
}

/// Parses a boolean query parameter.
pub fn flag(errors: &mut FieldErrors, field: &str, value: Option<&str>) -> Option<bool> {
    match value {
        None | Some("") => None,
        Some("true") | Some("1") => Some(true),
        Some("false") | Some("0") => Some(false),
        Some(_) => {
            errors.add(field, "must be true or false");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let mut errors = FieldErrors::new();
        let p = page_request(&mut errors, Some("20"), Some(&encode_cursor(40)));
        assert_eq!((p.limit, p.offset), (20, 40));
        assert!(errors.is_empty());
        page_request(&mut errors, Some("0"), Some("!!"));
        let fields: Vec<String> = errors.into_vec().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["limit", "cursor"]);
    }

    #[test]
    fn sort_accepts_known_fields_only() {
        let allowed = [("name", "name"), ("created_at", "created_at")];
        let default = Sort { column: "name", descending: false };
        let mut errors = FieldErrors::new();
        let s = sort(&mut errors, Some("-created_at"), &allowed, default);
        assert_eq!((s.column, s.descending), ("created_at", true));
        sort(&mut errors, Some("password_hash"), &allowed, default);
        assert_eq!(errors.into_vec().len(), 1);
    }
}
