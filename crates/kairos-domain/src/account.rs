//! Accounts (客户), PRODUCT.md §2.

use serde::{Deserialize, Serialize};

use crate::text;
use crate::Problem;

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
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Enterprise => "enterprise",
            AccountType::Government => "government",
            AccountType::Institution => "institution",
            AccountType::Individual => "individual",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        [Self::Enterprise, Self::Government, Self::Institution, Self::Individual]
            .into_iter()
            .find(|t| t.as_str() == text)
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
