//! Public web forms that capture leads without a login (PRODUCT.md §3): a secret key in the
//! URL names the form, and the form says which source and campaign its leads carry, which
//! web sites may post to it from a browser, and how often one address may submit.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::{LeadFormId, WorkspaceId};
use crate::lead::LeadSource;
use crate::Problem;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeadForm {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: LeadFormId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    /// The secret part of the public URL `/api/v1/public/leads/{form_key}`.
    pub form_key: String,
    pub name: String,
    pub source: LeadSource,
    pub campaign: Option<String>,
    /// Origins (`https://www.example.com`) whose pages may post from a browser; `*` for any.
    pub allowed_origins: Vec<String>,
    /// Accepted submissions per client address per hour.
    pub per_address_per_hour: i64,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl LeadForm {
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin.trim_end_matches('/')))
    }
}

/// An origin as a browser sends it: scheme, host and optional port, nothing else.
pub fn origin(text: &str) -> Result<String, Problem> {
    let t = text.trim().trim_end_matches('/');
    if t == "*" {
        return Ok(t.to_string());
    }
    let rest = t.strip_prefix("https://").or_else(|| t.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ', '@']) => Ok(t.to_ascii_lowercase()),
        _ => Err(Problem::new(format!("{t:?} is not an origin such as https://www.example.com (or *)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_host_only() {
        assert_eq!(origin("https://Example.com/").unwrap(), "https://example.com");
        assert_eq!(origin("http://localhost:8080").unwrap(), "http://localhost:8080");
        assert_eq!(origin("*").unwrap(), "*");
        assert!(origin("example.com").is_err());
        assert!(origin("https://example.com/form").is_err());
        assert!(origin("https://").is_err());
    }
}
