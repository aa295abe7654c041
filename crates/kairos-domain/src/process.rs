//! Sales processes and their stages (销售流程 / 销售阶段), PRODUCT.md §4.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::AccountType;
use crate::identity::Role;
use crate::ids::{OrgUnitId, ProcessId, StageId, WorkspaceId};
use crate::Problem;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SalesProcess {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: ProcessId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub description: Option<String>,
    /// The process new opportunities get when no other one applies.
    pub is_default: bool,
    pub applicability: Applicability,
    /// Fields a deal must have to be closed as won (the contract facts).
    pub won_required_fields: Vec<OppField>,
    /// Days before a deal's expected close that its owner gets a reminder task (§6).
    pub close_reminder_days: u32,
    /// Open stages in order; retired stages stay listed (history points at them).
    pub stages: Vec<Stage>,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// Which opportunities a process is meant for; an empty list matches anything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Applicability {
    #[serde(default)]
    pub business_types: Vec<String>,
    #[serde(default)]
    pub customer_types: Vec<AccountType>,
    #[serde(default)]
    pub industries: Vec<String>,
    #[serde(default)]
    pub product_categories: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub org_unit_ids: Vec<OrgUnitId>,
}

/// The facts of a new opportunity that choose its process.
#[derive(Debug, Clone, Default)]
pub struct ProcessFacts<'a> {
    pub business_type: Option<&'a str>,
    pub customer_type: Option<AccountType>,
    pub industry: Option<&'a str>,
    pub product_category: Option<&'a str>,
    /// The owner's unit and its ancestors: a process for a branch applies to its teams.
    pub org_units: &'a [OrgUnitId],
}

impl Applicability {
    pub fn matches(&self, f: &ProcessFacts<'_>) -> bool {
        fn any<T: PartialEq>(list: &[T], value: Option<&T>) -> bool {
            list.is_empty() || value.is_some_and(|v| list.contains(v))
        }
        let text = |list: &[String], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|l| l.eq_ignore_ascii_case(v)))
        };
        text(&self.business_types, f.business_type)
            && any(&self.customer_types, f.customer_type.as_ref())
            && text(&self.industries, f.industry)
            && text(&self.product_categories, f.product_category)
            && (self.org_unit_ids.is_empty() || f.org_units.iter().any(|u| self.org_unit_ids.contains(u)))
    }

    /// How specific the rule is: more conditions win when several processes match.
    pub fn specificity(&self) -> usize {
        [
            self.business_types.is_empty(),
            self.customer_types.is_empty(),
            self.industries.is_empty(),
            self.product_categories.is_empty(),
            self.org_unit_ids.is_empty(),
        ]
        .iter()
        .filter(|empty| !**empty)
        .count()
    }
}

/// The processes that apply to a new opportunity, most specific first; the default process
/// applies when nothing else does.
pub fn matching_processes<'a>(processes: &'a [SalesProcess], facts: &ProcessFacts<'_>) -> Vec<&'a SalesProcess> {
    let mut found: Vec<&SalesProcess> = processes
        .iter()
        .filter(|p| !p.archived && !p.is_default && p.applicability.matches(facts))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.applicability.specificity()));
    if found.is_empty() {
        found.extend(processes.iter().filter(|p| !p.archived && p.is_default));
    }
    found
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stage {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: StageId,
    pub name: String,
    /// 1-based order among the process's stages.
    pub position: i32,
    /// Win probability in percent (赢率).
    pub probability: u8,
    pub forecast_category: ForecastCategory,
    pub expected_dwell_days: u32,
    pub cadence: Cadence,
    pub guidance: Option<String>,
    pub criteria: EntryCriteria,
    /// Retired stages take no new deals but keep their history.
    pub retired: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cadence {
    /// At least `touches` follow-ups every `per_days` days.
    pub touches: u32,
    pub per_days: u32,
    #[serde(default)]
    pub channels: Vec<String>,
}

/// What a deal must have to enter a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntryCriteria {
    #[serde(default)]
    pub required_fields: Vec<OppField>,
    #[serde(default)]
    pub checklist: Vec<ChecklistItem>,
    /// Document types that must be attached (e.g. 需求确认单, 方案认可函).
    #[serde(default)]
    pub required_documents: Vec<String>,
    /// Health below this refuses the move.
    pub health_refuse_below: u8,
    /// Health above this passes; in between needs approval.
    pub health_pass_above: u8,
    pub approval: ApprovalRule,
}

impl Default for EntryCriteria {
    fn default() -> Self {
        EntryCriteria {
            required_fields: Vec::new(),
            checklist: Vec::new(),
            required_documents: Vec::new(),
            health_refuse_below: 60,
            health_pass_above: 80,
            approval: ApprovalRule::None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChecklistItem {
    /// Stable key of the item (ticks refer to it).
    pub key: String,
    pub label: String,
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ForecastCategory {
    Pipeline,
    BestCase,
    Commit,
    Closed,
    Omitted,
}

impl ForecastCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            ForecastCategory::Pipeline => "pipeline",
            ForecastCategory::BestCase => "best_case",
            ForecastCategory::Commit => "commit",
            ForecastCategory::Closed => "closed",
            ForecastCategory::Omitted => "omitted",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        [Self::Pipeline, Self::BestCase, Self::Commit, Self::Closed, Self::Omitted].into_iter().find(|c| c.as_str() == text)
    }
}

/// Who must approve entering a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", content = "role", rename_all = "snake_case")]
pub enum ApprovalRule {
    None,
    DirectManager,
    Role(Role),
}

impl ApprovalRule {
    pub fn to_stored(self) -> (&'static str, Option<&'static str>) {
        match self {
            ApprovalRule::None => ("none", None),
            ApprovalRule::DirectManager => ("direct_manager", None),
            ApprovalRule::Role(r) => ("role", Some(r.as_str())),
        }
    }

    pub fn from_stored(kind: &str, role: Option<&str>) -> Option<Self> {
        match (kind, role) {
            ("none", _) => Some(ApprovalRule::None),
            ("direct_manager", _) => Some(ApprovalRule::DirectManager),
            ("role", Some(r)) => Role::parse(r).ok().map(ApprovalRule::Role),
            _ => None,
        }
    }
}

/// Opportunity fields a stage (or winning) can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OppField {
    Amount,
    ExpectedCloseDate,
    PrimaryContact,
    /// A linked contact with the decision-maker role.
    DecisionMaker,
    Source,
    Competitors,
    ProductCategory,
    BusinessType,
    NeedItems,
    BudgetApproved,
    ContractNumber,
    ContractSignedOn,
}

impl OppField {
    pub const ALL: [OppField; 12] = [
        OppField::Amount,
        OppField::ExpectedCloseDate,
        OppField::PrimaryContact,
        OppField::DecisionMaker,
        OppField::Source,
        OppField::Competitors,
        OppField::ProductCategory,
        OppField::BusinessType,
        OppField::NeedItems,
        OppField::BudgetApproved,
        OppField::ContractNumber,
        OppField::ContractSignedOn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OppField::Amount => "amount",
            OppField::ExpectedCloseDate => "expected_close_date",
            OppField::PrimaryContact => "primary_contact",
            OppField::DecisionMaker => "decision_maker",
            OppField::Source => "source",
            OppField::Competitors => "competitors",
            OppField::ProductCategory => "product_category",
            OppField::BusinessType => "business_type",
            OppField::NeedItems => "need_items",
            OppField::BudgetApproved => "budget_approved",
            OppField::ContractNumber => "contract_number",
            OppField::ContractSignedOn => "contract_signed_on",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Problem> {
        Self::ALL.into_iter().find(|f| f.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|f| f.as_str()).collect();
            Problem::new(format!("unknown field {text:?}; expected one of {}", names.join(", ")))
        })
    }
}

/// The default process of PRODUCT.md §4, as (name, probability, category, dwell days,
/// cadence touches per days, guidance, criteria).
pub fn default_stages() -> Vec<(&'static str, u8, ForecastCategory, u32, (u32, u32), &'static str, EntryCriteria)> {
    let item = |key: &str, label: &str| ChecklistItem { key: key.into(), label: label.into(), required: true };
    vec![
        (
            "初步接洽",
            10,
            ForecastCategory::Pipeline,
            14,
            (1, 7),
            "确认客户基本信息与初步需求，找到对接人。",
            EntryCriteria::default(),
        ),
        (
            "需求调研",
            40,
            ForecastCategory::Pipeline,
            21,
            (2, 7),
            "完成需求调研，确认预算、决策链与时间表。",
            EntryCriteria {
                required_fields: vec![OppField::Amount, OppField::ExpectedCloseDate],
                checklist: vec![item("needs_survey", "完成需求调研")],
                ..EntryCriteria::default()
            },
        ),
        (
            "方案呈现",
            60,
            ForecastCategory::BestCase,
            21,
            (2, 7),
            "提交解决方案并获得客户认可。",
            EntryCriteria {
                required_fields: vec![OppField::DecisionMaker],
                checklist: vec![item("proposal_submitted", "提交方案")],
                required_documents: vec!["需求确认单".into()],
                ..EntryCriteria::default()
            },
        ),
        (
            "商务谈判",
            80,
            ForecastCategory::Commit,
            14,
            (3, 7),
            "就价格与条款谈判，争取高层拜访。",
            EntryCriteria {
                checklist: vec![item("executive_visit", "高层拜访")],
                required_documents: vec!["方案认可函".into()],
                ..EntryCriteria::default()
            },
        ),
        (
            "合同签署",
            90,
            ForecastCategory::Commit,
            10,
            (3, 7),
            "推进合同审批与签署。",
            EntryCriteria { approval: ApprovalRule::DirectManager, ..EntryCriteria::default() },
        ),
    ]
}

/// Whether a change of a process's stages puts any two stages it keeps in another order: what
/// counts as a deal going further (the conversion report) changes only then, not when a stage
/// is added, removed or renamed.
pub fn reorders(old: &[Stage], new: &[Stage]) -> bool {
    let kept = |of: &[Stage], other: &[Stage]| {
        let mut kept: Vec<&Stage> = of.iter().filter(|s| other.iter().any(|o| o.id == s.id)).collect();
        kept.sort_by_key(|s| s.position);
        kept.into_iter().map(|s| s.id).collect::<Vec<_>>()
    };
    kept(old, new) != kept(new, old)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(name: &str, default: bool, applicability: Applicability) -> SalesProcess {
        SalesProcess {
            id: ProcessId::from_uuid(uuid::Uuid::from_u128(name.len() as u128 + default as u128)),
            workspace_id: WorkspaceId::from_uuid(uuid::Uuid::nil()),
            name: name.into(),
            description: None,
            is_default: default,
            applicability,
            won_required_fields: vec![],
            close_reminder_days: 7,
            stages: vec![],
            archived: false,
            created_at: DateTime::<Utc>::MIN_UTC,
            updated_at: DateTime::<Utc>::MIN_UTC,
            version: 1,
        }
    }

    #[test]
    fn the_most_specific_matching_process_comes_first_and_default_is_the_fallback() {
        let unit = OrgUnitId::from_uuid(uuid::Uuid::from_u128(7));
        let all = vec![
            process("default", true, Applicability::default()),
            process("gov", false, Applicability { customer_types: vec![AccountType::Government], ..Default::default() }),
            process(
                "gov-it-east",
                false,
                Applicability { customer_types: vec![AccountType::Government], industries: vec!["IT".into()], org_unit_ids: vec![unit], ..Default::default() },
            ),
        ];
        let units = [unit];
        let facts = ProcessFacts { customer_type: Some(AccountType::Government), industry: Some("it"), org_units: &units, ..Default::default() };
        let names: Vec<&str> = matching_processes(&all, &facts).iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["gov-it-east", "gov"]);
        let facts = ProcessFacts { customer_type: Some(AccountType::Enterprise), ..Default::default() };
        let names: Vec<&str> = matching_processes(&all, &facts).iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["default"]);
    }

    #[test]
    fn stored_names_round_trip() {
        for f in OppField::ALL {
            assert_eq!(OppField::parse(f.as_str()), Ok(f));
        }
        for r in [ApprovalRule::None, ApprovalRule::DirectManager, ApprovalRule::Role(Role::Director)] {
            let (k, role) = r.to_stored();
            assert_eq!(ApprovalRule::from_stored(k, role), Some(r));
        }
        assert_eq!(default_stages().iter().map(|s| s.1).collect::<Vec<_>>(), vec![10, 40, 60, 80, 90]);
    }

    #[test]
    fn only_a_new_order_of_kept_stages_reorders() {
        let stages = |ids: &[u128]| -> Vec<Stage> {
            default_stages()
                .into_iter()
                .zip(ids)
                .enumerate()
                .map(|(i, ((name, probability, forecast_category, expected_dwell_days, _, _, criteria), id))| Stage {
                    id: StageId::from_uuid(uuid::Uuid::from_u128(*id)),
                    name: name.into(),
                    position: i as i32 + 1,
                    probability,
                    forecast_category,
                    expected_dwell_days,
                    cadence: Cadence { touches: 1, per_days: 7, channels: vec![] },
                    guidance: None,
                    criteria,
                    retired: false,
                })
                .collect()
        };
        let old = stages(&[1, 2, 3]);
        assert!(!reorders(&old, &stages(&[1, 2, 3])));
        assert!(!reorders(&old, &stages(&[1, 9, 2, 3])), "a stage added in the middle");
        assert!(!reorders(&old, &stages(&[1, 3])), "a stage removed");
        assert!(reorders(&old, &stages(&[2, 1, 3])));
        assert!(reorders(&old, &stages(&[1, 3, 9, 2])));
    }
}
