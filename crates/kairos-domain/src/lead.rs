//! Leads (线索), PRODUCT.md §3: a prospect not yet qualified into an account, contact and
//! opportunity, with its BANT facts (budget, authority, need, timeline).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::Audited;
use crate::ids::{AccountId, ContactId, LeadId, OpportunityId, OrgUnitId, UserId, WorkspaceId};
use crate::lead_scoring::ScoreHit;
use crate::Problem;

/// A lead as stored and as answered by the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lead {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: LeadId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    pub source: LeadSource,
    pub campaign: Option<String>,
    pub company: Option<String>,
    #[serde(skip)]
    pub company_key: Option<String>,
    pub contact_name: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    #[serde(skip)]
    pub phone_key: Option<String>,
    pub email: Option<String>,
    #[serde(skip)]
    pub email_key: Option<String>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub notes: Option<String>,
    #[serde(flatten)]
    pub bant: Bant,
    pub status: LeadStatus,
    pub disqualify_reason: Option<String>,
    pub score: i64,
    /// The rules that gave the score, so a rep can see why a lead is (not) qualified.
    pub score_hits: Vec<ScoreHit>,
    /// `None`: the lead sits in the workspace pool (公海) for any rep to claim.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub owner_id: Option<UserId>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub org_unit_id: Option<OrgUnitId>,
    pub assigned_at: Option<DateTime<Utc>>,
    /// The assignment rule that chose the owner, or why the lead went to the pool.
    pub assigned_by_rule: Option<String>,
    /// An existing account this lead matched (dedup merge) or became (conversion).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub account_id: Option<AccountId>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub contact_id: Option<ContactId>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub opportunity_id: Option<OpportunityId>,
    pub converted_at: Option<DateTime<Utc>>,
    pub archived: bool,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// Budget, authority, need, timeline: what a rep confirms before a lead becomes a deal.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bant {
    /// Integer minor units of the workspace's base currency.
    pub budget_amount: Option<i64>,
    pub budget_approved: bool,
    /// Whether the contact person decides; `None` while nobody has asked.
    pub is_decision_maker: Option<bool>,
    pub need_description: Option<String>,
    /// How well our offer matches the need, 0–100.
    pub need_match: Option<u8>,
    pub expected_purchase_date: Option<NaiveDate>,
}

impl Bant {
    /// Which of the four BANT elements are known.
    pub fn completed(&self) -> [(BantElement, bool); 4] {
        [
            (BantElement::Budget, self.budget_amount.is_some()),
            (BantElement::Authority, self.is_decision_maker.is_some()),
            (BantElement::Need, self.need_description.is_some() || self.need_match.is_some()),
            (BantElement::Timeline, self.expected_purchase_date.is_some()),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BantElement {
    Budget,
    Authority,
    Need,
    Timeline,
}

impl BantElement {
    pub fn as_str(self) -> &'static str {
        match self {
            BantElement::Budget => "budget",
            BantElement::Authority => "authority",
            BantElement::Need => "need",
            BantElement::Timeline => "timeline",
        }
    }
}

impl Lead {
    /// A converted lead is history: it links to what it became and no longer changes.
    pub fn is_read_only(&self) -> bool {
        self.status == LeadStatus::Converted
    }

    /// A lead that still counts in a rep's load (and in least-loaded assignment).
    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }
}

impl Audited for Lead {
    const ENTITY: &'static str = "lead";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("source", Some(self.source.as_str().to_string())),
            ("campaign", self.campaign.clone()),
            ("company", self.company.clone()),
            ("contact_name", self.contact_name.clone()),
            ("title", self.title.clone()),
            ("phone", self.phone.clone()),
            ("email", self.email.clone()),
            ("region", self.region.clone()),
            ("industry", self.industry.clone()),
            ("notes", self.notes.clone()),
            ("budget_amount", self.bant.budget_amount.map(|a| a.to_string())),
            ("budget_approved", Some(self.bant.budget_approved.to_string())),
            ("is_decision_maker", self.bant.is_decision_maker.map(|d| d.to_string())),
            ("need_description", self.bant.need_description.clone()),
            ("need_match", self.bant.need_match.map(|m| m.to_string())),
            ("expected_purchase_date", self.bant.expected_purchase_date.map(|d| d.to_string())),
            ("status", Some(self.status.as_str().to_string())),
            ("disqualify_reason", self.disqualify_reason.clone()),
            ("score", Some(self.score.to_string())),
            ("owner_id", self.owner_id.map(|u| u.to_string())),
            ("account_id", self.account_id.map(|a| a.to_string())),
            ("contact_id", self.contact_id.map(|c| c.to_string())),
            ("opportunity_id", self.opportunity_id.map(|o| o.to_string())),
            ("archived", Some(self.archived.to_string())),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    New,
    Working,
    Qualified,
    Disqualified,
    Converted,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 5] =
        [LeadStatus::New, LeadStatus::Working, LeadStatus::Qualified, LeadStatus::Disqualified, LeadStatus::Converted];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Working => "working",
            LeadStatus::Qualified => "qualified",
            LeadStatus::Disqualified => "disqualified",
            LeadStatus::Converted => "converted",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_open(self) -> bool {
        matches!(self, LeadStatus::New | LeadStatus::Working | LeadStatus::Qualified)
    }

    /// Which status a person may set by hand from this one. Conversion has its own action,
    /// and a converted lead is final.
    pub fn may_become(self, to: LeadStatus) -> Result<(), Problem> {
        match (self, to) {
            (LeadStatus::Converted, _) => Err(Problem::new("a converted lead is read-only")),
            (_, LeadStatus::Converted) => Err(Problem::new("use the convert action to convert a lead")),
            _ => Ok(()),
        }
    }
}

/// Where a lead came from (线索来源). The list is closed so that lead-source analysis adds
/// up; the campaign carries the detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LeadSource {
    /// 展会
    Exhibition,
    /// 官网 / web form
    Web,
    /// 广告
    Ad,
    /// 社交媒体
    Social,
    /// 合作伙伴
    Partner,
    /// 转介绍
    Referral,
    /// 来电
    InboundCall,
    Other,
}

impl LeadSource {
    pub const ALL: [LeadSource; 8] = [
        LeadSource::Exhibition,
        LeadSource::Web,
        LeadSource::Ad,
        LeadSource::Social,
        LeadSource::Partner,
        LeadSource::Referral,
        LeadSource::InboundCall,
        LeadSource::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadSource::Exhibition => "exhibition",
            LeadSource::Web => "web",
            LeadSource::Ad => "ad",
            LeadSource::Social => "social",
            LeadSource::Partner => "partner",
            LeadSource::Referral => "referral",
            LeadSource::InboundCall => "inbound_call",
            LeadSource::Other => "other",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Reads a source as people write it in a spreadsheet: the code, or its usual Chinese
    /// or English name.
    pub fn parse(text: &str) -> Result<Self, Problem> {
        let t = text.trim().to_lowercase().replace([' ', '-'], "_");
        let found = match t.as_str() {
            "exhibition" | "trade_show" | "tradeshow" | "展会" | "会展" => Some(LeadSource::Exhibition),
            "web" | "website" | "web_form" | "官网" | "网站" | "网页" | "表单" => Some(LeadSource::Web),
            "ad" | "ads" | "advertising" | "广告" | "投放" => Some(LeadSource::Ad),
            "social" | "social_media" | "社交" | "社交媒体" | "微信" | "微博" => Some(LeadSource::Social),
            "partner" | "channel" | "合作伙伴" | "渠道" | "代理商" => Some(LeadSource::Partner),
            "referral" | "转介绍" | "推荐" | "介绍" => Some(LeadSource::Referral),
            "inbound_call" | "call" | "phone" | "来电" | "电话" | "400电话" => Some(LeadSource::InboundCall),
            "other" | "其他" | "其它" => Some(LeadSource::Other),
            _ => None,
        };
        found.ok_or_else(|| {
            Problem::new(format!(
                "unknown source {:?}; expected exhibition, web, ad, social, partner, referral, inbound_call or other",
                text.trim()
            ))
        })
    }
}

/// A need match is a percentage.
pub fn need_match(value: i64) -> Result<u8, Problem> {
    u8::try_from(value).ok().filter(|v| *v <= 100).ok_or_else(|| Problem::new("must be between 0 and 100"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_read_codes_and_everyday_names() {
        for s in LeadSource::ALL {
            assert_eq!(LeadSource::from_stored(s.as_str()), Some(s));
            assert_eq!(LeadSource::parse(s.as_str()), Ok(s));
        }
        assert_eq!(LeadSource::parse(" 展会 "), Ok(LeadSource::Exhibition));
        assert_eq!(LeadSource::parse("Inbound Call"), Ok(LeadSource::InboundCall));
        assert_eq!(LeadSource::parse("转介绍"), Ok(LeadSource::Referral));
        assert!(LeadSource::parse("carrier pigeon").unwrap_err().0.contains("carrier pigeon"));
    }

    #[test]
    fn converted_is_final_and_only_reached_by_converting() {
        assert!(LeadStatus::Converted.may_become(LeadStatus::Working).is_err());
        assert!(LeadStatus::New.may_become(LeadStatus::Converted).is_err());
        assert!(LeadStatus::Disqualified.may_become(LeadStatus::Working).is_ok());
        assert!(LeadStatus::Qualified.is_open() && !LeadStatus::Disqualified.is_open());
    }

    #[test]
    fn bant_completeness_counts_what_is_known() {
        let mut b = Bant::default();
        assert!(b.completed().iter().all(|(_, done)| !done));
        b.is_decision_maker = Some(false);
        b.need_match = Some(40);
        let done: Vec<&str> = b.completed().iter().filter(|(_, d)| *d).map(|(e, _)| e.as_str()).collect();
        assert_eq!(done, ["authority", "need"]);
    }

    #[test]
    fn need_match_is_a_percentage() {
        assert_eq!(need_match(0), Ok(0));
        assert_eq!(need_match(100), Ok(100));
        assert!(need_match(101).is_err());
        assert!(need_match(-1).is_err());
    }
}
