//! Contacts (联系人) and their place in the customer's decision chain, PRODUCT.md §2.

use serde::{Deserialize, Serialize};

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
