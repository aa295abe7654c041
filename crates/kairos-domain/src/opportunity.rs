//! Opportunities (商机), PRODUCT.md §5.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::Audited;
use crate::contact::DecisionRole;
use crate::health::{Health, HealthInputs};
use crate::ids::{AccountId, CloseReasonId, ContactId, OpportunityId, OrgUnitId, ProcessId, StageId, UserId, WorkspaceId};
use crate::process::ForecastCategory;
use crate::Problem;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Opportunity {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: OpportunityId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    /// From the workspace pattern, e.g. 2026-SH-001; never reused.
    pub number: String,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub account_id: AccountId,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub primary_contact_id: Option<ContactId>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub owner_id: UserId,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub org_unit_id: Option<OrgUnitId>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub process_id: ProcessId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub stage_id: StageId,
    pub status: OppStatus,
    /// Integer minor units of `currency`.
    pub amount: i64,
    pub currency: String,
    pub expected_close_date: Option<NaiveDate>,
    /// Percent; the stage's unless overridden with a reason.
    pub probability: u8,
    pub probability_reason: Option<String>,
    pub forecast_category: ForecastCategory,
    pub source: Option<String>,
    pub business_type: Option<String>,
    pub product_category: Option<String>,
    pub competitors: Vec<String>,
    pub tags: Vec<String>,
    /// Health above and amount above the workspace thresholds (资源优先).
    pub priority: bool,
    /// The 10 need-confirmation items, 0–10 each.
    pub need_items: [u8; 10],
    pub budget_approved: bool,
    pub in_annual_plan: bool,
    pub health: Health,
    pub contract_number: Option<String>,
    pub contract_signed_on: Option<NaiveDate>,
    pub stage_entered_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub close_reason_id: Option<CloseReasonId>,
    pub close_competitor: Option<String>,
    pub close_note: Option<String>,
    /// Won and lost deals owe an archive review by this date (7 working days).
    pub review_due_on: Option<NaiveDate>,
    /// Brought in with a past date (backfill); history rows carry the same flag.
    pub imported: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OppStatus {
    Open,
    Won,
    Lost,
    Invalid,
}

impl OppStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OppStatus::Open => "open",
            OppStatus::Won => "won",
            OppStatus::Lost => "lost",
            OppStatus::Invalid => "invalid",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        [Self::Open, Self::Won, Self::Lost, Self::Invalid].into_iter().find(|s| s.as_str() == text)
    }
}

/// A contact linked to a deal, with their role in its decision chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OppContact {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub contact_id: ContactId,
    pub role: DecisionRole,
    /// Reached by a logged activity (or marked so): counts for decision-chain coverage.
    pub reached: bool,
}

impl Opportunity {
    /// The inputs of the health score as this deal and its linked contacts stand.
    pub fn health_inputs(&self, contacts: &[OppContact]) -> HealthInputs {
        let reached = |role: DecisionRole| contacts.iter().any(|c| c.role == role && c.reached);
        HealthInputs {
            need_items: self.need_items,
            decision_maker_reached: reached(DecisionRole::DecisionMaker),
            influencer_reached: reached(DecisionRole::Influencer),
            user_reached: reached(DecisionRole::User),
            amount_stated: self.amount > 0,
            budget_approved: self.budget_approved,
            in_annual_plan: self.in_annual_plan,
        }
    }

    pub fn is_open(&self) -> bool {
        self.status == OppStatus::Open
    }
}

impl Audited for Opportunity {
    const ENTITY: &'static str = "opportunity";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("name", Some(self.name.clone())),
            ("account_id", Some(self.account_id.to_string())),
            ("primary_contact_id", self.primary_contact_id.map(|c| c.to_string())),
            ("owner_id", Some(self.owner_id.to_string())),
            ("stage_id", Some(self.stage_id.to_string())),
            ("status", Some(self.status.as_str().to_string())),
            ("amount", Some(format!("{} {}", self.amount, self.currency))),
            ("expected_close_date", self.expected_close_date.map(|d| d.to_string())),
            ("probability", Some(self.probability.to_string())),
            ("source", self.source.clone()),
            ("business_type", self.business_type.clone()),
            ("product_category", self.product_category.clone()),
            ("competitors", (!self.competitors.is_empty()).then(|| self.competitors.join(", "))),
            ("tags", (!self.tags.is_empty()).then(|| self.tags.join(", "))),
            ("need_items", Some(self.need_items.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(","))),
            ("budget_approved", Some(self.budget_approved.to_string())),
            ("in_annual_plan", Some(self.in_annual_plan.to_string())),
            ("contract_number", self.contract_number.clone()),
            ("contract_signed_on", self.contract_signed_on.map(|d| d.to_string())),
            ("close_reason_id", self.close_reason_id.map(|r| r.to_string())),
            ("close_competitor", self.close_competitor.clone()),
            ("close_note", self.close_note.clone()),
        ]
    }
}

/// A three-letter ISO 4217 code, upper-cased.
pub fn currency(text: &str) -> Result<String, Problem> {
    let code = text.trim().to_ascii_uppercase();
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(code)
    } else {
        Err(Problem::new("must be a three-letter currency code such as CNY or USD"))
    }
}

pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// Amounts are integer minor units; negative amounts make no sense for a deal.
pub fn amount(value: i64) -> Result<i64, Problem> {
    if value < 0 {
        Err(Problem::new("must not be negative (integer minor units, e.g. 50000000 = 500,000.00)"))
    } else if value > MAX_AMOUNT {
        // 10 trillion in a currency's units: far above any deal, and low enough that sums
        // and amount × probability over a whole pipeline stay inside 64 bits.
        Err(Problem::new("is implausibly large (at most 1,000,000,000,000,000 minor units)"))
    } else {
        Ok(value)
    }
}

/// Whether a deal is a priority (资源优先): health and amount (in base currency) above the
/// workspace thresholds.
pub fn is_priority(health: u8, amount_in_base: i64, health_above: u8, amount_above: i64) -> bool {
    health > health_above && amount_in_base > amount_above
}
