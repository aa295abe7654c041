//! Conditions on a lead's fields, shared by the scoring rules and the assignment rules
//! (PRODUCT.md §3): "source = exhibition", "budget ≥ 500,000.00", "region in [华东, 华南]".
//!
//! A condition is checked against its field's type when the rule set is saved, so a rule
//! that could never match (a number compared with a word) is refused then, not ignored
//! silently for every lead afterwards.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::lead::{Lead, LeadSource};
use crate::validation::FieldErrors;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LeadField {
    Source,
    Campaign,
    Company,
    Region,
    Industry,
    BudgetAmount,
    BudgetApproved,
    IsDecisionMaker,
    NeedMatch,
    /// Days from today to the expected purchase date.
    DaysToPurchase,
    HasPhone,
    HasEmail,
    /// Only in assignment rules: the score is computed before the owner is chosen.
    Score,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    In,
    Gte,
    Lte,
    Contains,
    IsSet,
    IsNotSet,
}

/// A rule's comparison value: text, a number, a yes/no, or a list of texts for `in`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum RuleValue {
    Bool(bool),
    Number(i64),
    Text(String),
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: LeadField,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<RuleValue>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Text,
    Number,
    Bool,
}

impl LeadField {
    fn kind(self) -> Kind {
        match self {
            LeadField::Source | LeadField::Campaign | LeadField::Company | LeadField::Region | LeadField::Industry => Kind::Text,
            LeadField::BudgetAmount | LeadField::NeedMatch | LeadField::DaysToPurchase | LeadField::Score => Kind::Number,
            LeadField::BudgetApproved | LeadField::IsDecisionMaker | LeadField::HasPhone | LeadField::HasEmail => Kind::Bool,
        }
    }
}

/// The value of a field of one lead, as the conditions see it.
enum Seen<'a> {
    Text(Option<&'a str>),
    Number(Option<i64>),
    Bool(Option<bool>),
}

/// What the conditions read: the lead, today's date (for days to purchase) and its score.
pub struct Facts<'a> {
    pub lead: &'a Lead,
    pub today: NaiveDate,
    pub score: Option<i64>,
}

impl Facts<'_> {
    fn seen(&self, field: LeadField) -> Seen<'_> {
        let l = self.lead;
        match field {
            LeadField::Source => Seen::Text(Some(l.source.as_str())),
            LeadField::Campaign => Seen::Text(l.campaign.as_deref()),
            LeadField::Company => Seen::Text(l.company.as_deref()),
            LeadField::Region => Seen::Text(l.region.as_deref()),
            LeadField::Industry => Seen::Text(l.industry.as_deref()),
            LeadField::BudgetAmount => Seen::Number(l.bant.budget_amount),
            LeadField::NeedMatch => Seen::Number(l.bant.need_match.map(i64::from)),
            LeadField::DaysToPurchase => Seen::Number(l.bant.expected_purchase_date.map(|d| (d - self.today).num_days())),
            LeadField::Score => Seen::Number(self.score),
            LeadField::BudgetApproved => Seen::Bool(Some(l.bant.budget_approved)),
            LeadField::IsDecisionMaker => Seen::Bool(l.bant.is_decision_maker),
            LeadField::HasPhone => Seen::Bool(Some(l.phone.is_some())),
            LeadField::HasEmail => Seen::Bool(Some(l.email.is_some())),
        }
    }
}

/// Text compares without regard to case or surrounding space: "华东 " is "华东".
fn same_text(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

impl Condition {
    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        let seen = facts.seen(self.field);
        match self.op {
            Op::IsSet => return !is_unset(&seen),
            Op::IsNotSet => return is_unset(&seen),
            _ => {}
        }
        match (seen, &self.value) {
            (Seen::Text(Some(t)), Some(RuleValue::Text(v))) => match self.op {
                Op::Eq => same_text(t, v),
                Op::Ne => !same_text(t, v),
                Op::Contains => t.to_lowercase().contains(&v.trim().to_lowercase()),
                _ => false,
            },
            (Seen::Text(Some(t)), Some(RuleValue::List(vs))) => match self.op {
                Op::In => vs.iter().any(|v| same_text(t, v)),
                _ => false,
            },
            // An unknown text is "not equal" to anything; every other comparison fails.
            (Seen::Text(None), Some(_)) => self.op == Op::Ne,
            (Seen::Number(Some(n)), Some(RuleValue::Number(v))) => match self.op {
                Op::Eq => n == *v,
                Op::Ne => n != *v,
                Op::Gte => n >= *v,
                Op::Lte => n <= *v,
                _ => false,
            },
            (Seen::Bool(Some(b)), Some(RuleValue::Bool(v))) => match self.op {
                Op::Eq => b == *v,
                Op::Ne => b != *v,
                _ => false,
            },
            _ => false,
        }
    }

    /// Checks that the operator and value fit the field; problems go under `path`.
    pub fn check(&self, errors: &mut FieldErrors, path: &str, allow_score: bool) {
        if self.field == LeadField::Score && !allow_score {
            errors.add(format!("{path}.field"), "score cannot be a condition of a scoring rule");
            return;
        }
        let kind = self.field.kind();
        let ops_ok: &[Op] = match kind {
            Kind::Text => &[Op::Eq, Op::Ne, Op::In, Op::Contains, Op::IsSet, Op::IsNotSet],
            Kind::Number => &[Op::Eq, Op::Ne, Op::Gte, Op::Lte, Op::IsSet, Op::IsNotSet],
            Kind::Bool => &[Op::Eq, Op::Ne],
        };
        if !ops_ok.contains(&self.op) {
            errors.add(format!("{path}.op"), format!("{:?} does not apply to a {} field", self.op, kind_name(kind)).to_lowercase());
            return;
        }
        let value_ok = match (self.op, &self.value) {
            (Op::IsSet | Op::IsNotSet, None) => true,
            (Op::IsSet | Op::IsNotSet, Some(_)) => {
                errors.add(format!("{path}.value"), "must be absent for is_set and is_not_set");
                return;
            }
            (Op::In, Some(RuleValue::List(vs))) => !vs.is_empty(),
            (_, Some(RuleValue::Text(_))) => kind == Kind::Text,
            (_, Some(RuleValue::Number(_))) => kind == Kind::Number,
            (_, Some(RuleValue::Bool(_))) => kind == Kind::Bool,
            _ => false,
        };
        if !value_ok {
            let expected = match (self.op, kind) {
                (Op::In, _) => "a non-empty list of texts",
                (_, Kind::Text) => "a text",
                (_, Kind::Number) => "a whole number",
                (_, Kind::Bool) => "true or false",
            };
            errors.add(format!("{path}.value"), format!("must be {expected}"));
            return;
        }
        if self.field == LeadField::Source {
            let texts: Vec<&String> = match &self.value {
                Some(RuleValue::Text(t)) => vec![t],
                Some(RuleValue::List(ts)) if self.op == Op::In => ts.iter().collect(),
                _ => vec![],
            };
            for t in texts {
                if self.op != Op::Contains && LeadSource::from_stored(t.trim()).is_none() {
                    errors.add(format!("{path}.value"), format!("{t:?} is not a lead source"));
                }
            }
        }
    }
}

fn is_unset(seen: &Seen<'_>) -> bool {
    matches!(seen, Seen::Text(None) | Seen::Number(None) | Seen::Bool(None))
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "text",
        Kind::Number => "number",
        Kind::Bool => "yes/no",
    }
}

/// All conditions of a rule hold (an empty list always holds).
pub fn all_match(conditions: &[Condition], facts: &Facts<'_>) -> bool {
    conditions.iter().all(|c| c.matches(facts))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::lead::{Bant, LeadStatus};
    use crate::ids::{LeadId, WorkspaceId};
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    pub fn lead() -> Lead {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        Lead {
            id: LeadId::from_uuid(Uuid::from_u128(1)),
            workspace_id: WorkspaceId::from_uuid(Uuid::from_u128(2)),
            source: LeadSource::Exhibition,
            campaign: None,
            company: Some("华为".into()),
            company_key: None,
            contact_name: None,
            title: None,
            phone: None,
            phone_key: None,
            email: None,
            email_key: None,
            region: Some("华东".into()),
            industry: None,
            notes: None,
            bant: Bant::default(),
            status: LeadStatus::New,
            disqualify_reason: None,
            score: 0,
            score_hits: vec![],
            owner_id: None,
            org_unit_id: None,
            assigned_at: None,
            assigned_by_rule: None,
            account_id: None,
            contact_id: None,
            opportunity_id: None,
            converted_at: None,
            archived: false,
            archived_at: None,
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    /// The domain has no JSON dependency; conditions in tests are written "field op value".
    pub fn cond(spec: &str) -> Condition {
        let parts: Vec<&str> = spec.splitn(3, ' ').collect();
        let field = match parts[0] {
            "source" => LeadField::Source,
            "region" => LeadField::Region,
            "industry" => LeadField::Industry,
            "budget" => LeadField::BudgetAmount,
            "approved" => LeadField::BudgetApproved,
            "days" => LeadField::DaysToPurchase,
            "score" => LeadField::Score,
            other => panic!("unknown field {other}"),
        };
        let op = match parts[1] {
            "=" => Op::Eq,
            "!=" => Op::Ne,
            "in" => Op::In,
            ">=" => Op::Gte,
            "<=" => Op::Lte,
            "~" => Op::Contains,
            "set" => Op::IsSet,
            "unset" => Op::IsNotSet,
            other => panic!("unknown op {other}"),
        };
        let value = parts.get(2).map(|v| {
            if let Ok(n) = v.parse::<i64>() {
                RuleValue::Number(n)
            } else if *v == "true" || *v == "false" {
                RuleValue::Bool(*v == "true")
            } else if v.contains(',') {
                RuleValue::List(v.split(',').map(str::to_string).collect())
            } else {
                RuleValue::Text(v.to_string())
            }
        });
        Condition { field, op, value }
    }

    #[test]
    fn conditions_match_as_a_person_reads_them() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let mut l = lead();
        l.bant.budget_amount = Some(50_000_000);
        l.bant.expected_purchase_date = NaiveDate::from_ymd_opt(2026, 4, 1);
        let facts = Facts { lead: &l, today, score: Some(70) };
        let table = [
            ("source = exhibition", true),
            ("source != exhibition", false),
            ("source in web,exhibition", true),
            ("region = 华东 ", true),
            ("region in 华南,华北", false),
            ("industry = 制造", false),
            ("industry != 制造", true),
            ("industry unset", true),
            ("region set", true),
            ("budget >= 50000000", true),
            ("budget >= 50000001", false),
            ("budget <= 100", false),
            ("approved = false", true),
            ("days <= 31", true),
            ("days <= 30", false),
            ("score >= 60", true),
        ];
        for (spec, expected) in table {
            assert_eq!(cond(spec).matches(&facts), expected, "{spec}");
        }
    }

    #[test]
    fn conditions_that_could_never_match_are_refused() {
        let table = [
            ("source = exhibition", None),
            ("source = pigeon", Some("r.value")),
            ("budget = big", Some("r.value")),
            ("budget ~ 5", Some("r.op")),
            ("approved >= 1", Some("r.op")),
            ("region in 华东,华南", None),
            ("region set x", Some("r.value")),
            ("score >= 10", Some("r.field")),
        ];
        for (spec, problem) in table {
            let mut errors = FieldErrors::new();
            cond(spec).check(&mut errors, "r", false);
            let fields: Vec<String> = errors.into_vec().into_iter().map(|e| e.field).collect();
            assert_eq!(fields.first().map(String::as_str), problem, "{spec}");
        }
    }
}
