//! Contacts (联系人) and their place in the customer's decision chain, PRODUCT.md §2.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::Audited;
use crate::ids::{AccountId, ContactId, WorkspaceId};

/// A contact as stored and as answered by the API. Contacts are seen by whoever sees their
/// account.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contact {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: ContactId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub account_id: AccountId,
    pub name: String,
    pub title: Option<String>,
    pub phone: Option<String>,
    #[serde(skip)]
    pub phone_key: Option<String>,
    pub email: Option<String>,
    #[serde(skip)]
    pub email_key: Option<String>,
    pub wechat: Option<String>,
    pub decision_role: DecisionRole,
    pub attitude: Attitude,
    /// The contact this one reports to, within the same account (决策链图谱).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub reports_to_id: Option<ContactId>,
    pub notes: Option<String>,
    pub archived: bool,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Audited for Contact {
    const ENTITY: &'static str = "contact";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("account_id", Some(self.account_id.to_string())),
            ("name", Some(self.name.clone())),
            ("title", self.title.clone()),
            ("phone", self.phone.clone()),
            ("email", self.email.clone()),
            ("wechat", self.wechat.clone()),
            ("decision_role", Some(self.decision_role.as_str().to_string())),
            ("attitude", Some(self.attitude.as_str().to_string())),
            ("reports_to_id", self.reports_to_id.map(|c| c.to_string())),
            ("notes", self.notes.clone()),
            ("archived", Some(self.archived.to_string())),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DecisionRole {
    /// 决策者
    DecisionMaker,
    /// 影响者
    Influencer,
    /// 使用者
    User,
    Gatekeeper,
    Other,
}

impl DecisionRole {
    pub const ALL: [DecisionRole; 5] = [
        DecisionRole::DecisionMaker,
        DecisionRole::Influencer,
        DecisionRole::User,
        DecisionRole::Gatekeeper,
        DecisionRole::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DecisionRole::DecisionMaker => "decision_maker",
            DecisionRole::Influencer => "influencer",
            DecisionRole::User => "user",
            DecisionRole::Gatekeeper => "gatekeeper",
            DecisionRole::Other => "other",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Attitude {
    Champion,
    Supporter,
    Neutral,
    Opponent,
}

impl Attitude {
    pub const ALL: [Attitude; 4] = [Attitude::Champion, Attitude::Supporter, Attitude::Neutral, Attitude::Opponent];

    pub fn as_str(self) -> &'static str {
        match self {
            Attitude::Champion => "champion",
            Attitude::Supporter => "supporter",
            Attitude::Neutral => "neutral",
            Attitude::Opponent => "opponent",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip() {
        for r in DecisionRole::ALL {
            assert_eq!(DecisionRole::from_stored(r.as_str()), Some(r));
        }
        for a in Attitude::ALL {
            assert_eq!(Attitude::from_stored(a.as_str()), Some(a));
        }
        assert_eq!(DecisionRole::from_stored("boss"), None);
    }
}
