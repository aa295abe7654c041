//! Sales processes (admin), PRODUCT.md §4: list, read, create, change; the default process
//! every new workspace gets.

use chrono::{DateTime, Utc};
use kairos_domain::audit::FieldChange;
use kairos_domain::ids::{ProcessId, StageId, WorkspaceId};
use kairos_domain::process::{
    Applicability, ApprovalRule, Cadence, ChecklistItem, EntryCriteria, ForecastCategory, OppField, SalesProcess, Stage,
    default_stages,
};
use kairos_domain::{FieldErrors, text};
use kairos_store::{Conn, process as store};
use serde::Deserialize;
use serde_json::json;

use crate::actor::{Actor, AdminCap};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::input::required_version;

/// A stage as an admin describes it. Without `id` it is a new stage.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageInput {
    #[serde(default)]
    #[schema(format = Uuid)]
    pub id: Option<String>,
    pub name: String,
    pub probability: u8,
    pub forecast_category: ForecastCategory,
    #[serde(default)]
    pub expected_dwell_days: Option<u32>,
    #[serde(default)]
    pub cadence: Option<Cadence>,
    #[serde(default)]
    pub guidance: Option<String>,
    #[serde(default)]
    pub required_fields: Vec<OppField>,
    #[serde(default)]
    pub checklist: Vec<ChecklistItem>,
    #[serde(default)]
    pub required_documents: Vec<String>,
    /// Default 60.
    #[serde(default)]
    pub health_refuse_below: Option<u8>,
    /// Default 80.
    #[serde(default)]
    pub health_pass_above: Option<u8>,
    #[serde(default)]
    pub approval: Option<ApprovalRule>,
    /// Retired stages take no new deals; their history stays.
    #[serde(default)]
    pub retired: bool,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProcess {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub applicability: Applicability,
    #[serde(default)]
    pub won_required_fields: Option<Vec<OppField>>,
    /// Days before the expected close that the owner is reminded (0–365; default 7).
    #[serde(default)]
    pub close_reminder_days: Option<u32>,
    /// The open stages in order.
    pub stages: Vec<StageInput>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessPatch {
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub applicability: Option<Applicability>,
    #[serde(default)]
    pub won_required_fields: Option<Vec<OppField>>,
    /// Days before the expected close that the owner is reminded (0–365).
    #[serde(default)]
    pub close_reminder_days: Option<u32>,
    /// The full new list of stages, in order: stages with an `id` are changed, stages without
    /// one are added, stages left out are deleted (refused while deals use them — retire
    /// them instead).
    #[serde(default)]
    pub stages: Option<Vec<StageInput>>,
    #[serde(default)]
    pub archived: Option<bool>,
}

/// §6: the owner hears a week ahead of the expected close unless the process says otherwise.
const DEFAULT_CLOSE_REMINDER_DAYS: u32 = 7;

fn reminder_days(days: u32) -> Result<u32, kairos_domain::Problem> {
    if days > 365 { Err(kairos_domain::Problem::new("must be between 0 and 365 days")) } else { Ok(days) }
}

impl App {
    pub async fn list_processes(&self, actor: &Actor) -> AppResult<Vec<SalesProcess>> {
        let mut conn = self.store.read().await?;
        Ok(store::list_processes(&mut conn.conn(), actor.workspace()).await?)
    }

    pub async fn get_process(&self, actor: &Actor, id: &str) -> AppResult<SalesProcess> {
        let id = ProcessId::parse(id).map_err(|_| AppError::NotFound { entity: "process" })?;
        let mut conn = self.store.read().await?;
        store::find_process(&mut conn.conn(), actor.workspace(), id).await?.ok_or(AppError::NotFound { entity: "process" })
    }

    pub async fn create_process(&self, admin: AdminCap<'_>, input: NewProcess) -> AppResult<SalesProcess> {
        let actor = admin.actor();
        let mut errors = FieldErrors::new();
        let name = errors.check("name", text::required_text(&input.name, 100));
        let description = errors.check("description", text::optional_text(input.description.as_deref(), 2000)).flatten();
        let stages = parse_stages(&mut errors, &input.stages, &[], |id| self.fresh_stage_id(id));
        let close_reminder_days = input.close_reminder_days.map_or(Some(DEFAULT_CLOSE_REMINDER_DAYS), |d| errors.check("close_reminder_days", reminder_days(d)));
        errors.finish()?;
        let now = self.now();
        let process = SalesProcess {
            id: ProcessId::from_uuid(self.mint()),
            workspace_id: actor.workspace(),
            name: name.unwrap_or_default(),
            description,
            is_default: false,
            applicability: input.applicability,
            won_required_fields: input.won_required_fields.unwrap_or_else(default_won_fields),
            close_reminder_days: close_reminder_days.unwrap_or(DEFAULT_CLOSE_REMINDER_DAYS),
            stages,
            archived: false,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut tx = self.begin().await?;
        store::insert_process(&mut tx.conn(), &process).await?;
        let changes = [FieldChange { field: "name".into(), old_value: None, new_value: Some(process.name.clone()) }];
        self.audit(&mut tx.conn(), Some(actor), "process", process.id.to_string(), "create", &changes).await?;
        tx.commit().await?;
        Ok(process)
    }

    pub async fn update_process(&self, admin: AdminCap<'_>, id: &str, input: ProcessPatch) -> AppResult<SalesProcess> {
        let actor = admin.actor();
        let ws = actor.workspace();
        let id = ProcessId::parse(id).map_err(|_| AppError::NotFound { entity: "process" })?;
        let mut errors = FieldErrors::new();
        let version = required_version(&mut errors, input.version);
        let mut tx = self.begin().await?;
        let old = store::find_process(&mut tx.conn(), ws, id).await?.ok_or(AppError::NotFound { entity: "process" })?;
        let mut new = old.clone();
        if let Some(n) = &input.name {
            new.name = errors.check("name", text::required_text(n, 100)).unwrap_or_default();
        }
        if let Some(d) = &input.description {
            new.description = errors.check("description", text::optional_text(Some(d), 2000)).flatten();
        }
        if let Some(a) = input.applicability {
            new.applicability = a;
        }
        if let Some(w) = input.won_required_fields {
            new.won_required_fields = w;
        }
        if let Some(d) = input.close_reminder_days {
            new.close_reminder_days = errors.check("close_reminder_days", reminder_days(d)).unwrap_or(old.close_reminder_days);
        }
        if let Some(a) = input.archived {
            if a && old.is_default {
                errors.add("archived", "the default process cannot be archived");
            }
            new.archived = a;
        }
        let existing: Vec<StageId> = old.stages.iter().map(|s| s.id).collect();
        if let Some(stages) = &input.stages {
            new.stages = parse_stages(&mut errors, stages, &existing, |id| self.fresh_stage_id(id));
        }
        errors.finish()?;
        if version != old.version {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        let now = self.now();
        if input.stages.is_some() {
            apply_stage_changes(&mut tx.conn(), ws, &old, &new, now).await?;
            if kairos_domain::process::reorders(&old.stages, &new.stages) {
                // Whether a deal went further after entering a stage depends on this order:
                // the conversion report's rolled-up entries are counted again.
                kairos_store::stage_entry_rollup::rebuild(&mut tx.conn(), ws).await?;
            }
        }
        new.version = old.version + 1;
        new.updated_at = now;
        store::update_process(&mut tx.conn(), &new, old.version).await?;
        let changes = [FieldChange { field: "definition".into(), old_value: Some(format!("version {}", old.version)), new_value: Some(format!("version {}", new.version)) }];
        self.audit(&mut tx.conn(), Some(actor), "process", id.to_string(), "update", &changes).await?;
        tx.commit().await?;
        Ok(new)
    }

    fn fresh_stage_id(&self, given: Option<StageId>) -> StageId {
        given.unwrap_or_else(|| StageId::from_uuid(self.mint()))
    }

    /// The default process of §4 and the default close reasons, for a new workspace.
    pub(crate) async fn seed_workspace(&self, c: &mut Conn<'_>, ws: WorkspaceId, now: DateTime<Utc>) -> AppResult<()> {
        let stages = default_stages()
            .into_iter()
            .enumerate()
            .map(|(i, (name, probability, category, dwell, (touches, per_days), guidance, criteria))| Stage {
                id: StageId::from_uuid(self.mint()),
                name: name.into(),
                position: i as i32 + 1,
                probability,
                forecast_category: category,
                expected_dwell_days: dwell,
                cadence: Cadence { touches, per_days, channels: vec!["call".into(), "visit".into(), "im".into()] },
                guidance: Some(guidance.into()),
                criteria,
                retired: false,
            })
            .collect();
        let process = SalesProcess {
            id: ProcessId::from_uuid(self.mint()),
            workspace_id: ws,
            name: "标准销售流程".into(),
            description: Some("Default process: 初步接洽 → 需求调研 → 方案呈现 → 商务谈判 → 合同签署 → 赢单".into()),
            is_default: true,
            applicability: Applicability::default(),
            won_required_fields: default_won_fields(),
            close_reminder_days: DEFAULT_CLOSE_REMINDER_DAYS,
            stages,
            archived: false,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        store::insert_process(c, &process).await?;
        kairos_store::stage_entry_rollup::mark_built(c, ws).await?;
        kairos_store::passage_buckets::mark_built(c, ws).await?;
        kairos_store::closed_deal_sums::mark_built(c, ws).await?;
        kairos_store::deal_period_changes::mark_built(c, ws).await?;
        let reasons = [
            ("lost", "竞争对手价格更低"),
            ("lost", "需求变化"),
            ("lost", "决策人变更"),
            ("lost", "内部资源不足"),
            ("lost", "预算削减"),
            ("lost", "客户未做决定"),
            ("invalid", "信息错误"),
            ("invalid", "客户取消"),
            ("invalid", "重复商机"),
        ];
        for (i, (outcome, label)) in reasons.iter().enumerate() {
            let reason = kairos_store::settings::CloseReason {
                id: kairos_domain::ids::CloseReasonId::from_uuid(self.mint()).to_string(),
                outcome: outcome.to_string(),
                label: label.to_string(),
                position: i as i64,
                active: true,
            };
            kairos_store::settings::insert_close_reason(c, ws, &reason, now).await?;
        }
        Ok(())
    }
}

fn default_won_fields() -> Vec<OppField> {
    vec![OppField::Amount, OppField::ContractNumber, OppField::ContractSignedOn]
}

/// Parses the stage list, giving positions in order. `existing` are the process's current
/// stage ids: an input id must be one of them.
fn parse_stages(
    errors: &mut FieldErrors,
    input: &[StageInput],
    existing: &[StageId],
    mut id_for: impl FnMut(Option<StageId>) -> StageId,
) -> Vec<Stage> {
    if input.is_empty() {
        errors.add("stages", "a process needs at least one stage");
    }
    if input.len() > 20 {
        errors.add("stages", "a process may have at most 20 stages");
    }
    let mut out: Vec<Stage> = Vec::new();
    for (i, s) in input.iter().enumerate() {
        let f = |name: &str| format!("stages[{i}].{name}");
        let given = match &s.id {
            Some(text) => match StageId::parse(text) {
                Ok(id) if existing.contains(&id) => Some(id),
                _ => {
                    errors.add(f("id"), "does not name a stage of this process (leave it out for a new stage)");
                    None
                }
            },
            None => None,
        };
        let name = errors.check(&f("name"), text::required_text(&s.name, 50)).unwrap_or_default();
        if s.probability > 100 {
            errors.add(f("probability"), "must be between 0 and 100");
        }
        let refuse = s.health_refuse_below.unwrap_or(60);
        let pass = s.health_pass_above.unwrap_or(80);
        if refuse > 100 || pass > 100 || refuse > pass {
            errors.add(f("health_pass_above"), "thresholds must satisfy 0 ≤ refuse_below ≤ pass_above ≤ 100");
        }
        let cadence = s.cadence.clone().unwrap_or(Cadence { touches: 1, per_days: 7, channels: vec![] });
        if cadence.per_days == 0 {
            errors.add(f("cadence.per_days"), "must be at least 1");
        }
        let mut keys = std::collections::HashSet::new();
        for (j, item) in s.checklist.iter().enumerate() {
            if item.key.trim().is_empty() || item.label.trim().is_empty() {
                errors.add(format!("stages[{i}].checklist[{j}]"), "needs a key and a label");
            } else if !keys.insert(item.key.clone()) {
                errors.add(format!("stages[{i}].checklist[{j}].key"), "is used twice in this stage");
            }
        }
        if out.iter().any(|o| o.name == name) {
            errors.add(f("name"), "two stages have the same name");
        }
        out.push(Stage {
            id: id_for(given),
            name,
            position: i as i32 + 1,
            probability: s.probability.min(100),
            forecast_category: s.forecast_category,
            expected_dwell_days: s.expected_dwell_days.unwrap_or(14),
            cadence,
            guidance: s.guidance.clone(),
            criteria: EntryCriteria {
                required_fields: s.required_fields.clone(),
                checklist: s.checklist.clone(),
                required_documents: s.required_documents.clone(),
                health_refuse_below: refuse,
                health_pass_above: pass,
                approval: s.approval.unwrap_or(ApprovalRule::None),
            },
            retired: s.retired,
        });
    }
    if !out.is_empty() && out.iter().all(|s| s.retired) {
        errors.add("stages", "at least one stage must stay active");
    }
    out
}

/// Writes stage additions, changes and deletions. Deleting a stage that deals use or used
/// is refused: history must keep pointing at it, so it can only be retired.
async fn apply_stage_changes(c: &mut Conn<'_>, ws: WorkspaceId, old: &SalesProcess, new: &SalesProcess, now: DateTime<Utc>) -> AppResult<()> {
    for gone in old.stages.iter().filter(|o| !new.stages.iter().any(|n| n.id == o.id)) {
        let used = store::stage_use_count(c, ws, gone.id).await?;
        if used > 0 {
            return Err(AppError::Refused {
                code: "stage_in_use",
                message: format!("stage \"{}\" holds or held {used} deal(s) and cannot be deleted; retire it instead", gone.name),
                details: json!({ "stage_id": gone.id.to_string(), "deals": used }),
            });
        }
        store::delete_stage(c, ws, gone.id).await?;
    }
    for s in &new.stages {
        if old.stages.iter().any(|o| o.id == s.id) {
            store::update_stage(c, ws, s, now).await?;
        } else {
            store::insert_stage(c, ws, new.id, s, now).await?;
        }
    }
    Ok(())
}
