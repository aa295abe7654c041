//! Accounts (客户), PRODUCT.md §2.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::Audited;
use crate::ids::{AccountId, OrgUnitId, UserId, WorkspaceId};
use crate::text;
use crate::Problem;

/// An account as stored and as answered by the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: AccountId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    pub name: String,
    /// The duplicate-detection key derived from the name.
    #[serde(skip)]
    pub name_key: String,
    pub account_type: AccountType,
    pub industry: Option<String>,
    pub size: Option<String>,
    pub region: Option<String>,
    pub address: Option<String>,
    pub credit_rating: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub owner_id: UserId,
    /// The owner's org unit: the data scope of managers follows it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub org_unit_id: Option<OrgUnitId>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub archived: bool,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Audited for Account {
    const ENTITY: &'static str = "account";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("name", Some(self.name.clone())),
            ("account_type", Some(self.account_type.as_str().to_string())),
            ("industry", self.industry.clone()),
            ("size", self.size.clone()),
            ("region", self.region.clone()),
            ("address", self.address.clone()),
            ("credit_rating", self.credit_rating.clone()),
            ("owner_id", Some(self.owner_id.to_string())),
            ("org_unit_id", self.org_unit_id.map(|u| u.to_string())),
            ("tags", (!self.tags.is_empty()).then(|| self.tags.join(", "))),
            ("notes", self.notes.clone()),
            ("archived", Some(self.archived.to_string())),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    /// 企业
    Enterprise,
    /// 政府
    Government,
    /// 事业单位
    Institution,
    Individual,
}

impl AccountType {
    pub const ALL: [AccountType; 4] = [AccountType::Enterprise, AccountType::Government, AccountType::Institution, AccountType::Individual];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Enterprise => "enterprise",
            AccountType::Government => "government",
            AccountType::Institution => "institution",
            AccountType::Individual => "individual",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// An account's name as typed, with the key that detects duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountName {
    display: String,
    key: String,
}

impl AccountName {
    pub fn parse(text: &str) -> Result<Self, Problem> {
        let display = text::required_text(text, 200)?;
        let key = text::company_key(&display);
        if key.is_empty() {
            return Err(Problem::new("must contain letters or digits"));
        }
        Ok(AccountName { display, key })
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_need_content_and_keep_their_spelling() {
        let n = AccountName::parse("  上海汽车集团股份有限公司 ").unwrap();
        assert_eq!(n.as_str(), "上海汽车集团股份有限公司");
        assert_eq!(n.key(), "上海汽车");
        assert!(AccountName::parse("   ").is_err());
        assert!(AccountName::parse("!!!").is_err());
        assert!(AccountName::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn stored_types_round_trip() {
        for t in [AccountType::Enterprise, AccountType::Government, AccountType::Institution, AccountType::Individual] {
            assert_eq!(AccountType::from_stored(t.as_str()), Some(t));
        }
    }
}
