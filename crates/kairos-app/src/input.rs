//! Helpers for request bodies.

use serde::{Deserialize, Deserializer};

/// For PATCH bodies: tells "field absent" (`None`, leave unchanged) from "field null"
/// (`Some(None)`, clear it). Use with `#[serde(default, deserialize_with = "patch")]`.
pub fn patch<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Applies a PATCH value of an optional text field, validating what is set.
pub fn patched_text(
    errors: &mut kairos_domain::FieldErrors,
    field: &str,
    current: Option<String>,
    patch: Option<Option<String>>,
    max_chars: usize,
) -> Option<String> {
    match patch {
        None => current,
        Some(None) => None,
        Some(Some(text)) => errors.check(field, kairos_domain::text::optional_text(Some(&text), max_chars)).flatten(),
    }
}

/// The version a PATCH must carry for optimistic locking.
pub fn required_version(errors: &mut kairos_domain::FieldErrors, version: Option<i64>) -> i64 {
    match version {
        Some(v) if v >= 1 => v,
        Some(_) => {
            errors.add("version", "must be a positive integer");
            0
        }
        None => {
            errors.add("version", "is required: send the version you read (in the body or as If-Match)");
            0
        }
    }
}
