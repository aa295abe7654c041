//! The workspace (tenant): one company and its settings, PRODUCT.md §1.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::WorkspaceId;
use crate::identity::Locale;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Workspace {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: WorkspaceId,
    pub name: String,
    /// ISO 4217 code of the currency totals are reported in.
    pub base_currency: String,
    /// IANA time zone in which people's dates (expected close, holidays) are meant.
    pub time_zone: String,
    pub locale: Locale,
    /// Month (1-12) in which the fiscal year starts.
    pub fiscal_year_start_month: u32,
    /// Opportunity number pattern, e.g. `{yyyy}-{region}-{seq:3}`.
    pub number_pattern: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}
