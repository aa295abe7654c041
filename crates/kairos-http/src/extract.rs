//! Request extractors that turn every client mistake into a clear 4xx instead of axum's
//! plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::ApiError;

/// Largest request body accepted (API.md): larger ones answer 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON body. Broken JSON answers 400 `malformed_json`; a wrong type, an unknown enum
/// value, a missing or an unknown field answers 422 `validation_failed` naming the field.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "the request body could not be read")
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than the limit of {} KiB", BODY_LIMIT / 1024),
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(value) => Ok(value),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            use serde_json::error::Category;
            match inner.classify() {
                Category::Syntax | Category::Eof | Category::Io => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    format!("the body is not valid JSON: {inner}"),
                )),
                Category::Data => {
                    let field = if path == "." { field_from_message(&inner.to_string()) } else { path };
                    let problem = strip_position(&inner.to_string());
                    Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", format!("{field}: {problem}"))
                        .with_details(json!({ "fields": [{ "field": field, "problem": problem }] })))
                }
            }
        }
    }
}

/// serde reports a missing or unknown top-level field with the path `.`; the name is in
/// the message (``missing field `name` ``).
fn field_from_message(message: &str) -> String {
    message.split('`').nth(1).map(str::to_string).unwrap_or_else(|| "body".to_string())
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Query parameters. Handlers take every parameter as text and parse it in the app
/// layer, so only a query that is not `key=value&…` at all is refused here.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(QueryParams)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", format!("the query string could not be read: {e}")))
    }
}

/// The version a client read, from `If-Match: "3"` (or `W/"3"`, or a bare `3`).
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let text = value.to_str().unwrap_or("").trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::field("If-Match", "must be the version you read, e.g. \"3\" (the ETag of the record)"))
}

/// Merges the body's `version` with `If-Match`; both may be given only if they agree.
pub fn version(headers: &HeaderMap, body: Option<i64>) -> Result<Option<i64>, ApiError> {
    match (body, if_match(headers)?) {
        (Some(b), Some(h)) if b != h => Err(ApiError::field("version", "differs from the If-Match header")),
        (b, h) => Ok(b.or(h)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: Option<i64>,
    }

    #[test]
    fn json_problems_are_sorted_into_400_and_422() {
        let e = parse_json::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "malformed_json"));
        let e = parse_json::<Body>(b"{\"name\": 5}").unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
        assert_eq!(e.details["fields"][0]["field"], "name");
        let e = parse_json::<Body>(b"{\"count\": 1}").unwrap_err();
        assert_eq!(e.details["fields"][0]["field"], "name");
        let e = parse_json::<Body>(b"{\"name\": \"x\", \"colour\": 1}").unwrap_err();
        assert_eq!(e.details["fields"][0]["field"], "colour");
        assert!(parse_json::<Body>(b"{\"name\": \"x\"}").is_ok());
    }

    #[test]
    fn if_match_accepts_etag_spellings() {
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, "W/\"7\"".parse().unwrap());
        assert_eq!(if_match(&h).unwrap(), Some(7));
        h.insert(header::IF_MATCH, "\"abc\"".parse().unwrap());
        assert!(if_match(&h).is_err());
        h.insert(header::IF_MATCH, "7".parse().unwrap());
        assert!(version(&h, Some(6)).is_err());
        assert_eq!(version(&h, Some(7)).unwrap(), Some(7));
    }
}
