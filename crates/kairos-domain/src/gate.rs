//! The stage gate (阶段把关): what a deal lacks to enter the stages it would pass. One pure
//! function, used by every path that changes a stage.

use std::collections::HashSet;

use serde::Serialize;

use crate::contact::DecisionRole;
use crate::health::{HealthGate, health_gate};
use crate::ids::StageId;
use crate::opportunity::{OppContact, Opportunity};
use crate::process::{ApprovalRule, OppField, SalesProcess, Stage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MissingKind {
    Field,
    Checklist,
    Document,
    Health,
    Approval,
}

/// One unmet entry criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Missing {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub stage_id: StageId,
    pub stage: String,
    pub kind: MissingKind,
    /// The field name, checklist key, document type, "health" or the approval rule.
    pub name: String,
    pub message: String,
}

/// What the gate says about a forward move.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GateVerdict {
    /// Everything missing, over every stage passed. Non-empty means refused.
    pub missing: Vec<Missing>,
    /// Approvals the move needs (health in the approval band, or an approval rule), when
    /// nothing is missing.
    pub approvals: Vec<ApprovalNeed>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalNeed {
    pub stage_id: StageId,
    pub rule: ApprovalRule,
    pub reason: String,
}

impl GateVerdict {
    pub fn passes(&self) -> bool {
        self.missing.is_empty() && self.approvals.is_empty()
    }
}

/// What the gate looks at besides the deal itself.
pub struct GateFacts<'a> {
    pub contacts: &'a [OppContact],
    /// Ticked checklist items as (stage, key).
    pub ticked: &'a HashSet<(StageId, String)>,
    /// Document types attached to the deal.
    pub documents: &'a HashSet<String>,
}

/// Where a move goes relative to the current stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
    Same,
}

pub fn direction(process: &SalesProcess, from: StageId, to: StageId) -> Option<Direction> {
    let pos = |id: StageId| process.stages.iter().find(|s| s.id == id).map(|s| s.position);
    let (a, b) = (pos(from)?, pos(to)?);
    Some(match b.cmp(&a) {
        std::cmp::Ordering::Greater => Direction::Forward,
        std::cmp::Ordering::Less => Direction::Backward,
        std::cmp::Ordering::Equal => Direction::Same,
    })
}

/// The stages a forward move from `from` to `to` enters, in order (retired stages in between
/// are skipped: they take no deals and ask nothing).
pub fn stages_entered<'a>(process: &'a SalesProcess, from: StageId, to: StageId) -> Vec<&'a Stage> {
    let pos = |id: StageId| process.stages.iter().find(|s| s.id == id).map(|s| s.position).unwrap_or(0);
    let (a, b) = (pos(from), pos(to));
    process.stages.iter().filter(|s| s.position > a && s.position <= b && (!s.retired || s.id == to)).collect()
}

/// Evaluates every entry criterion of every stage a forward move enters.
pub fn evaluate(process: &SalesProcess, opp: &Opportunity, to: StageId, facts: &GateFacts<'_>) -> GateVerdict {
    let mut verdict = GateVerdict::default();
    for stage in stages_entered(process, opp.stage_id, to) {
        let c = &stage.criteria;
        let miss = |kind: MissingKind, name: &str, message: String| Missing {
            stage_id: stage.id,
            stage: stage.name.clone(),
            kind,
            name: name.to_string(),
            message,
        };
        for field in &c.required_fields {
            if !field_present(*field, opp, facts.contacts) {
                verdict.missing.push(miss(MissingKind::Field, field.as_str(), field_message(*field)));
            }
        }
        for item in c.checklist.iter().filter(|i| i.required) {
            if !facts.ticked.contains(&(stage.id, item.key.clone())) {
                verdict.missing.push(miss(MissingKind::Checklist, &item.key, format!("tick \"{}\"", item.label)));
            }
        }
        for doc in &c.required_documents {
            if !facts.documents.contains(doc) {
                verdict.missing.push(miss(MissingKind::Document, doc, format!("attach a document of type \"{doc}\"")));
            }
        }
        let score = opp.health.score;
        match health_gate(score, c.health_refuse_below, c.health_pass_above) {
            HealthGate::Refuse => verdict.missing.push(miss(
                MissingKind::Health,
                "health",
                format!("health {score} is below {}; improve need match, decision-chain coverage or budget certainty", c.health_refuse_below),
            )),
            HealthGate::NeedsApproval => verdict.approvals.push(ApprovalNeed {
                stage_id: stage.id,
                rule: match c.approval {
                    ApprovalRule::None => ApprovalRule::DirectManager,
                    other => other,
                },
                reason: format!("health {score} is between {} and {}", c.health_refuse_below, c.health_pass_above),
            }),
            HealthGate::Pass => {}
        }
        if c.approval != ApprovalRule::None && !verdict.approvals.iter().any(|a| a.stage_id == stage.id) {
            verdict.approvals.push(ApprovalNeed { stage_id: stage.id, rule: c.approval, reason: format!("entering {} needs approval", stage.name) });
        }
    }
    if !verdict.missing.is_empty() {
        verdict.approvals.clear();
    }
    verdict
}

/// The approval as a missing item, for answers that list what an override skipped.
pub fn approval_as_missing(process: &SalesProcess, need: &ApprovalNeed) -> Missing {
    let stage = process.stages.iter().find(|s| s.id == need.stage_id).map(|s| s.name.clone()).unwrap_or_default();
    let name = match need.rule {
        ApprovalRule::None => "none".to_string(),
        ApprovalRule::DirectManager => "direct_manager".to_string(),
        ApprovalRule::Role(r) => r.as_str().to_string(),
    };
    Missing { stage_id: need.stage_id, stage, kind: MissingKind::Approval, name, message: need.reason.clone() }
}

pub fn field_present(field: OppField, opp: &Opportunity, contacts: &[OppContact]) -> bool {
    match field {
        OppField::Amount => opp.amount > 0,
        OppField::ExpectedCloseDate => opp.expected_close_date.is_some(),
        OppField::PrimaryContact => opp.primary_contact_id.is_some(),
        OppField::DecisionMaker => contacts.iter().any(|c| c.role == DecisionRole::DecisionMaker),
        OppField::Source => opp.source.is_some(),
        OppField::Competitors => !opp.competitors.is_empty(),
        OppField::ProductCategory => opp.product_category.is_some(),
        OppField::BusinessType => opp.business_type.is_some(),
        OppField::NeedItems => opp.need_items.iter().any(|n| *n > 0),
        OppField::BudgetApproved => opp.budget_approved,
        OppField::ContractNumber => opp.contract_number.is_some(),
        OppField::ContractSignedOn => opp.contract_signed_on.is_some(),
    }
}

pub fn field_message(field: OppField) -> String {
    match field {
        OppField::Amount => "state the amount".into(),
        OppField::ExpectedCloseDate => "set the expected close date".into(),
        OppField::PrimaryContact => "choose the primary contact".into(),
        OppField::DecisionMaker => "link the customer's decision maker".into(),
        OppField::Source => "set the source".into(),
        OppField::Competitors => "name the competitors".into(),
        OppField::ProductCategory => "set the product category".into(),
        OppField::BusinessType => "set the business type".into(),
        OppField::NeedItems => "score the need-confirmation items".into(),
        OppField::BudgetApproved => "confirm the budget is approved".into(),
        OppField::ContractNumber => "enter the contract number".into(),
        OppField::ContractSignedOn => "enter the contract signing date".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::DecisionRole;
    use crate::health::{Health, health};
    use crate::ids::{AccountId, ContactId, OpportunityId, ProcessId, UserId, WorkspaceId};
    use crate::opportunity::OppStatus;
    use crate::process::{Applicability, Cadence, ChecklistItem, EntryCriteria, ForecastCategory};
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    fn stage(n: u128, criteria: EntryCriteria) -> Stage {
        Stage {
            id: StageId::from_uuid(Uuid::from_u128(n)),
            name: format!("S{n}"),
            position: n as i32,
            probability: (n * 20) as u8,
            forecast_category: ForecastCategory::Pipeline,
            expected_dwell_days: 10,
            cadence: Cadence { touches: 1, per_days: 7, channels: vec![] },
            guidance: None,
            criteria,
            retired: false,
        }
    }

    fn process() -> SalesProcess {
        let open = EntryCriteria { health_refuse_below: 0, health_pass_above: 0, ..EntryCriteria::default() };
        SalesProcess {
            id: ProcessId::from_uuid(Uuid::from_u128(1)),
            workspace_id: WorkspaceId::from_uuid(Uuid::nil()),
            name: "p".into(),
            description: None,
            is_default: true,
            applicability: Applicability::default(),
            won_required_fields: vec![],
            close_reminder_days: 7,
            stages: vec![
                stage(1, open.clone()),
                stage(2, EntryCriteria { required_fields: vec![OppField::Amount], ..open.clone() }),
                stage(3, EntryCriteria {
                    checklist: vec![
                        ChecklistItem { key: "visit".into(), label: "Visit".into(), required: true },
                        ChecklistItem { key: "gift".into(), label: "Gift".into(), required: false },
                    ],
                    required_documents: vec!["方案认可函".into()],
                    required_fields: vec![OppField::DecisionMaker],
                    ..open.clone()
                }),
                stage(4, EntryCriteria { health_refuse_below: 60, health_pass_above: 80, ..open.clone() }),
                stage(5, EntryCriteria { approval: ApprovalRule::Role(crate::identity::Role::Director), ..open }),
            ],
            archived: false,
            created_at: DateTime::<Utc>::MIN_UTC,
            updated_at: DateTime::<Utc>::MIN_UTC,
            version: 1,
        }
    }

    fn opp(amount: i64, score: u8) -> Opportunity {
        let mut h: Health = health(&Default::default());
        h.score = score;
        Opportunity {
            id: OpportunityId::from_uuid(Uuid::from_u128(9)),
            workspace_id: WorkspaceId::from_uuid(Uuid::nil()),
            number: "2026-HQ-001".into(),
            name: "d".into(),
            account_id: AccountId::from_uuid(Uuid::from_u128(2)),
            primary_contact_id: None,
            owner_id: UserId::from_uuid(Uuid::from_u128(3)),
            org_unit_id: None,
            process_id: ProcessId::from_uuid(Uuid::from_u128(1)),
            stage_id: StageId::from_uuid(Uuid::from_u128(1)),
            status: OppStatus::Open,
            amount,
            currency: "CNY".into(),
            expected_close_date: None,
            probability: 20,
            probability_reason: None,
            forecast_category: ForecastCategory::Pipeline,
            source: None,
            business_type: None,
            product_category: None,
            competitors: vec![],
            tags: vec![],
            priority: false,
            need_items: [0; 10],
            budget_approved: false,
            in_annual_plan: false,
            health: h,
            contract_number: None,
            contract_signed_on: None,
            stage_entered_at: DateTime::<Utc>::MIN_UTC,
            closed_at: None,
            close_reason_id: None,
            close_competitor: None,
            close_note: None,
            review_due_on: None,
            imported: false,
            created_at: DateTime::<Utc>::MIN_UTC,
            updated_at: DateTime::<Utc>::MIN_UTC,
            version: 1,
        }
    }

    fn sid(n: u128) -> StageId {
        StageId::from_uuid(Uuid::from_u128(n))
    }

    #[test]
    fn the_gate_lists_every_missing_criterion_of_every_stage_passed() {
        let p = process();
        let dm = [OppContact { contact_id: ContactId::from_uuid(Uuid::from_u128(5)), role: DecisionRole::DecisionMaker, reached: false }];
        let all_ticked: HashSet<(StageId, String)> = [(sid(3), "visit".to_string())].into();
        let docs: HashSet<String> = ["方案认可函".to_string()].into();
        let none_ticked = HashSet::new();
        let no_docs = HashSet::new();
        // (amount, health, to, contacts, ticked, docs) → (missing (stage, kind, name), approvals)
        type Case<'a> = (i64, u8, u128, &'a [OppContact], &'a HashSet<(StageId, String)>, &'a HashSet<String>, Vec<(u128, MissingKind, &'a str)>, usize);
        let cases: Vec<Case> = vec![
            (0, 90, 2, &[], &none_ticked, &no_docs, vec![(2, MissingKind::Field, "amount")], 0),
            (5, 90, 2, &[], &none_ticked, &no_docs, vec![], 0),
            (
                0,
                90,
                3,
                &[],
                &none_ticked,
                &no_docs,
                vec![(2, MissingKind::Field, "amount"), (3, MissingKind::Field, "decision_maker"), (3, MissingKind::Checklist, "visit"), (3, MissingKind::Document, "方案认可函")],
                0,
            ),
            // The optional checklist item is never required.
            (5, 90, 3, &dm, &all_ticked, &docs, vec![], 0),
            (5, 59, 4, &dm, &all_ticked, &docs, vec![(4, MissingKind::Health, "health")], 0),
            (5, 60, 4, &dm, &all_ticked, &docs, vec![], 1),
            (5, 80, 4, &dm, &all_ticked, &docs, vec![], 1),
            (5, 81, 4, &dm, &all_ticked, &docs, vec![], 0),
            // Health band and role rule: two approvals, one per stage.
            (5, 70, 5, &dm, &all_ticked, &docs, vec![], 2),
            // Anything missing means no approvals are asked for.
            (0, 70, 5, &dm, &all_ticked, &docs, vec![(2, MissingKind::Field, "amount")], 0),
        ];
        for (i, (amount, score, to, contacts, ticked, documents, missing, approvals)) in cases.into_iter().enumerate() {
            let v = evaluate(&p, &opp(amount, score), sid(to), &GateFacts { contacts, ticked, documents });
            let got: Vec<(u128, MissingKind, &str)> = v.missing.iter().map(|m| (m.stage_id.uuid().as_u128(), m.kind, m.name.as_str())).collect();
            assert_eq!(got, missing, "case {i}");
            assert_eq!(v.approvals.len(), approvals, "case {i}");
        }
    }

    #[test]
    fn directions_and_retired_stages() {
        let mut p = process();
        assert_eq!(direction(&p, sid(1), sid(3)), Some(Direction::Forward));
        assert_eq!(direction(&p, sid(3), sid(1)), Some(Direction::Backward));
        assert_eq!(direction(&p, sid(2), sid(2)), Some(Direction::Same));
        assert_eq!(direction(&p, sid(2), sid(99)), None);
        // A retired stage in between asks nothing.
        p.stages[1].retired = true;
        let v = evaluate(&p, &opp(0, 90), sid(3), &GateFacts { contacts: &[], ticked: &HashSet::new(), documents: &HashSet::new() });
        assert!(v.missing.iter().all(|m| m.stage_id == sid(3)));
    }
}
