//! The stage engine: the only code that changes an opportunity's stage or status — moves
//! through the gates, approvals, close and reopen, with history (PRODUCT.md §5). Every path
//! (API, web, drag-and-drop, import, automation) comes through here.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use kairos_domain::audit::changed;
use kairos_domain::calendar::WorkCalendar;
use kairos_domain::gate::{self, Direction, GateFacts, Missing, MissingKind};
use kairos_domain::identity::Role;
use kairos_domain::ids::{ApprovalId, CloseReasonId, StageId};
use kairos_domain::opportunity::{OppStatus, Opportunity};
use kairos_domain::process::{ApprovalRule, ForecastCategory, SalesProcess, Stage};
use kairos_domain::{FieldErrors, text};
use kairos_store::approval::{self as approvals, Approval};
use kairos_store::opportunity::{self as store, ChecklistTick, Document, HistoryEntry};
use kairos_store::settings::{self, CloseReason};
use kairos_store::{Conn, org_unit, process as process_store};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::actor::Actor;
use crate::app::App;
use crate::outbox::DealEvent;
use crate::calendar::load_calendar;
use crate::error::{AppError, AppResult};
use crate::opportunities::parse_opportunity_id;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    #[schema(format = Uuid)]
    pub stage_id: String,
    pub version: Option<i64>,
    /// Required for a backward move.
    #[serde(default)]
    pub reason: Option<String>,
    /// Supporting material for an approval request.
    #[serde(default)]
    pub note: Option<String>,
    /// Admin only: move although the gate refuses; recorded in history.
    #[serde(default)]
    pub override_reason: Option<String>,
    /// Backfill (admin): when the move happened; never in the future, never before the
    /// previous event.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// What a move did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum MoveOutcome {
    /// The deal is in the new stage.
    Moved { opportunity: Box<Opportunity> },
    /// The move waits for this approval (HTTP 202).
    PendingApproval { approval: Box<Approval> },
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// won, lost or invalid
    pub outcome: OppStatus,
    pub version: Option<i64>,
    /// Required for lost and invalid: one of `/api/v1/close-reasons`.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub reason_id: Option<String>,
    #[serde(default)]
    pub competitor: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// Contract facts may come with a won close.
    #[serde(default)]
    pub contract_number: Option<String>,
    #[serde(default)]
    pub contract_signed_on: Option<chrono::NaiveDate>,
    /// Backfill (admin).
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// Admin only: close although the won fields are missing.
    #[serde(default)]
    pub override_reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenRequest {
    pub version: Option<i64>,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TickRequest {
    #[schema(format = Uuid)]
    pub stage_id: String,
    pub item_key: String,
    /// true ticks, false unticks.
    pub ticked: bool,
    #[serde(default)]
    pub note: Option<String>,
}

/// The 422 that lists everything a move lacks.
pub fn gate_refused(missing: Vec<Missing>) -> AppError {
    let summary: Vec<String> = missing.iter().map(|m| format!("{}: {}", m.stage, m.message)).collect();
    AppError::Refused {
        code: "gate_refused",
        message: format!("the stage gate refuses this move: {}", summary.join("; ")),
        details: json!({ "missing": missing }),
    }
}

fn closed_refusal(o: &Opportunity) -> AppError {
    AppError::Refused {
        code: "closed",
        message: "this opportunity is closed; reopen it first".into(),
        details: json!({ "status": o.status.as_str() }),
    }
}

/// Checks a backfilled time: in the past, and not before the previous event.
async fn event_time(app: &App, c: &mut Conn<'_>, actor: &Actor, o: &Opportunity, at: Option<DateTime<Utc>>, field: &str) -> AppResult<(DateTime<Utc>, bool)> {
    let now = app.now();
    let Some(at) = at else { return Ok((now, false)) };
    if !actor.user.roles.is_admin() {
        return Err(AppError::field(field, "only an admin may backfill a past time"));
    }
    if at > now {
        return Err(AppError::field(field, "must not be in the future"));
    }
    let last = store::last_event_at(c, o.workspace_id, o.id).await?.unwrap_or(o.created_at);
    if at < last {
        return Err(AppError::field(field, format!("must not be before the previous event ({last})")));
    }
    Ok((at, true))
}

struct MoveContext {
    process: SalesProcess,
    calendar: WorkCalendar,
}

impl App {
    async fn move_context(&self, c: &mut Conn<'_>, o: &Opportunity) -> AppResult<MoveContext> {
        let process = process_store::find_process(c, o.workspace_id, o.process_id).await?.ok_or_else(|| AppError::internal("process of a deal is gone"))?;
        let calendar = load_calendar(c, o.workspace_id).await?;
        Ok(MoveContext { process, calendar })
    }

    async fn gate_facts(&self, c: &mut Conn<'_>, o: &Opportunity) -> AppResult<(Vec<kairos_domain::opportunity::OppContact>, HashSet<(StageId, String)>, HashSet<String>)> {
        let contacts = store::list_contacts(c, o.workspace_id, o.id).await?;
        let ticked = store::ticked_set(c, o.workspace_id, o.id).await?;
        let documents = store::list_documents(c, o.workspace_id, o.id).await?.into_iter().map(|d| d.doc_type).collect();
        Ok((contacts, ticked, documents))
    }

    /// `POST /opportunities/{id}/move`.
    pub async fn move_opportunity(&self, actor: &Actor, id: &str, req: MoveRequest) -> AppResult<MoveOutcome> {
        let id = parse_opportunity_id(id)?;
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let to = errors.check("stage_id", StageId::parse(&req.stage_id));
        let version = crate::input::required_version(&mut errors, req.version);
        let reason = errors.check("reason", text::optional_text(req.reason.as_deref(), 1000)).flatten();
        let note = errors.check("note", text::optional_text(req.note.as_deref(), 2000)).flatten();
        let override_reason = errors.check("override_reason", text::optional_text(req.override_reason.as_deref(), 1000)).flatten();
        if override_reason.is_some() && !actor.user.roles.is_admin() {
            errors.add("override_reason", "only an admin may override a stage gate");
        }
        errors.finish()?;
        let to = to.ok_or_else(|| AppError::internal("validated input lost a value"))?;

        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let o = store::find_opportunity(&mut c, ws, &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "opportunity" })?;
        if !o.is_open() {
            return Err(closed_refusal(&o));
        }
        if version != o.version {
            return Err(AppError::StaleVersion { current_version: Some(o.version) });
        }
        if let Some(p) = approvals::pending_for_opportunity(&mut c, ws, id).await? {
            return Err(AppError::Conflict {
                code: "approval_pending",
                message: "a move of this opportunity is waiting for approval".into(),
                details: json!({ "approval_id": p.id }),
            });
        }
        let (at, imported) = event_time(self, &mut c, actor, &o, req.at, "at").await?;
        let ctx = self.move_context(&mut c, &o).await?;
        let Some(target) = ctx.process.stages.iter().find(|s| s.id == to) else {
            return Err(AppError::field("stage_id", "is not a stage of the opportunity's process"));
        };
        if target.retired {
            return Err(AppError::field("stage_id", "names a retired stage"));
        }
        match gate::direction(&ctx.process, o.stage_id, to) {
            Some(Direction::Same) | None => return Err(AppError::field("stage_id", "the opportunity is already in this stage")),
            Some(Direction::Backward) => {
                if reason.is_none() {
                    return Err(AppError::field("reason", "is required to move an opportunity back"));
                }
            }
            Some(Direction::Forward) => {
                let (contacts, ticked, documents) = self.gate_facts(&mut c, &o).await?;
                let verdict = gate::evaluate(&ctx.process, &o, to, &GateFacts { contacts: &contacts, ticked: &ticked, documents: &documents });
                if !verdict.passes() && override_reason.is_none() {
                    if !verdict.missing.is_empty() {
                        return Err(gate_refused(verdict.missing));
                    }
                    let granted = approvals::granted_needs(&mut c, ws, id, &o.stage_id.to_string(), &to.to_string(), o.stage_entered_at).await?;
                    if let Some(need) = verdict.approvals.iter().find(|n| !granted.contains(&n.stage_id.to_string())) {
                        let approval = self.request_approval(&mut c, actor.id(), &o, to, need, note, at).await?;
                        self.audit(&mut c, Some(actor), "opportunity", o.id.to_string(), "approval_requested", &approval_change(&approval)).await?;
                        drop(c);
                        tx.commit().await?;
                        return Ok(MoveOutcome::PendingApproval { approval: Box::new(approval) });
                    }
                }
            }
        }
        let moved = self.apply_move(&mut c, actor, &o, &ctx, target, at, reason, override_reason, imported).await?;
        drop(c);
        tx.commit().await?;
        Ok(MoveOutcome::Moved { opportunity: Box::new(moved) })
    }

    /// Writes a move: the deal's new stage, probability and category, history with the time
    /// spent in the stage left, and the audit row.
    #[allow(clippy::too_many_arguments)]
    async fn apply_move(
        &self,
        c: &mut Conn<'_>,
        actor: &Actor,
        o: &Opportunity,
        ctx: &MoveContext,
        target: &Stage,
        at: DateTime<Utc>,
        reason: Option<String>,
        override_reason: Option<String>,
        imported: bool,
    ) -> AppResult<Opportunity> {
        let from = ctx.process.stages.iter().find(|s| s.id == o.stage_id);
        let mut new = o.clone();
        new.stage_id = target.id;
        new.probability = target.probability;
        new.probability_reason = None;
        new.forecast_category = target.forecast_category;
        new.stage_entered_at = at;
        new.updated_at = self.now();
        new.version = o.version + 1;
        store::update_opportunity(c, &new, o.version).await?;
        let history = HistoryEntry {
            from_stage_id: Some(o.stage_id.to_string()),
            from_stage_name: from.map(|s| s.name.clone()),
            to_stage_id: Some(target.id.to_string()),
            to_stage_name: Some(target.name.clone()),
            from_status: Some("open".into()),
            to_status: Some("open".into()),
            days_in_stage: Some(days_between(o.stage_entered_at, at)),
            working_days_in_stage: Some(ctx.calendar.working_days_between(o.stage_entered_at, at)),
            reason,
            override_reason,
            imported,
            ..HistoryEntry::of(self.mint(), at, Some(actor.id()), "moved", &new)
        };
        store::insert_history(c, o.workspace_id, o.id, &[history]).await?;
        self.audit(c, Some(actor), "opportunity", o.id.to_string(), "move", &changed(o, &new)).await?;
        let event = DealEvent { event: "opportunity.stage_changed", opportunity: &new, stage_name: Some(&target.name), from_stage_name: from.map(|s| s.name.as_str()), actor: Some(actor.id()), at };
        self.emit_opportunity_event(c, event).await?;
        Ok(new)
    }

    /// Asks for one approval need of a move. A direct-manager need goes to the manager of
    /// the owner's unit (or the nearest one above who is neither the owner nor the
    /// requester); with nobody there, directors decide.
    #[allow(clippy::too_many_arguments)]
    async fn request_approval(
        &self,
        c: &mut Conn<'_>,
        requester: kairos_domain::ids::UserId,
        o: &Opportunity,
        to: StageId,
        need: &gate::ApprovalNeed,
        note: Option<String>,
        at: DateTime<Utc>,
    ) -> AppResult<Approval> {
        let (approver_id, approver_role) = match need.rule {
            ApprovalRule::Role(r) => (None, Some(r.as_str().to_string())),
            _ => match self.direct_manager_of(c, o, requester).await? {
                Some(m) => (Some(m.to_string()), None),
                None => (None, Some(Role::Director.as_str().to_string())),
            },
        };
        let approval = Approval {
            id: ApprovalId::from_uuid(self.mint()).to_string(),
            opportunity_id: o.id.to_string(),
            from_stage_id: o.stage_id.to_string(),
            to_stage_id: to.to_string(),
            reason: need.reason.clone(),
            note,
            requested_by: requester.to_string(),
            requested_at: at,
            approver_id,
            approver_role,
            status: "pending".into(),
            decided_by: None,
            decided_at: None,
            comment: None,
            version: 1,
            need_stage_id: Some(need.stage_id.to_string()),
        };
        match approvals::insert_approval(c, o.workspace_id, &approval).await {
            // The partial unique index: another request for this deal got in first.
            Err(kairos_store::StoreError::Unique { .. }) => Err(AppError::Conflict {
                code: "approval_pending",
                message: "a move of this opportunity is waiting for approval".into(),
                details: json!({}),
            }),
            other => {
                other?;
                Ok(approval)
            }
        }
    }

    async fn direct_manager_of(&self, c: &mut Conn<'_>, o: &Opportunity, requester: kairos_domain::ids::UserId) -> AppResult<Option<kairos_domain::ids::UserId>> {
        let Some(unit) = o.org_unit_id else { return Ok(None) };
        let units = org_unit::list_org_units(c, o.workspace_id).await?;
        let tree = kairos_domain::org::OrgTree::new(units.iter().map(|u| (u.id, u.parent_id)).collect());
        for u in tree.ancestors(unit) {
            if let Some(m) = units.iter().find(|x| x.id == u).and_then(|x| x.manager_id) {
                if m != o.owner_id && m != requester {
                    return Ok(Some(m));
                }
            }
        }
        Ok(None)
    }

    /// Approval requests waiting for the caller, on deals inside their scope (admins: all).
    pub async fn approvals_waiting(&self, actor: &Actor) -> AppResult<Vec<Approval>> {
        let mut conn = self.store.read().await?;
        let roles = actor.user.roles.names();
        Ok(approvals::waiting_for(&mut conn.conn(), actor.workspace(), &actor.scope, actor.id(), &roles, actor.user.roles.is_admin()).await?)
    }

    pub async fn decide_approval(&self, actor: &Actor, id: &str, approve: bool, decision: Decision) -> AppResult<Approval> {
        let id = ApprovalId::parse(id).map_err(|_| AppError::NotFound { entity: "approval" })?;
        let ws = actor.workspace();
        let comment = text::optional_text(decision.comment.as_deref(), 2000).map_err(|p| AppError::field("comment", p.0))?;
        if !approve && comment.is_none() {
            return Err(AppError::field("comment", "is required to reject: say why"));
        }
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let mut a = approvals::find_approval(&mut c, ws, id).await?.ok_or(AppError::NotFound { entity: "approval" })?;
        let admin = actor.user.roles.is_admin();
        let addressed = a.approver_id.as_deref() == Some(&actor.id().to_string())
            || a.approver_role.as_deref().is_some_and(|r| actor.user.roles.names().iter().any(|n| n == r));
        let opp_id = parse_opportunity_id(&a.opportunity_id)?;
        // The approver must be addressed and must see the deal (admins see everything).
        let o = store::find_opportunity(&mut c, ws, &actor.scope, opp_id).await?;
        let Some(o) = o.filter(|_| addressed || admin) else { return Err(AppError::NotFound { entity: "approval" }) };
        if a.requested_by == actor.id().to_string() && !admin {
            return Err(AppError::Forbidden("you cannot decide your own approval request".into()));
        }
        if a.status != "pending" {
            return Err(AppError::Conflict { code: "already_decided", message: format!("this request was already {}", a.status), details: json!({ "status": a.status }) });
        }
        a.decided_by = Some(actor.id().to_string());
        a.decided_at = Some(self.now());
        a.comment = comment.clone();
        if !approve {
            a.status = "rejected".into();
            approvals::decide(&mut c, ws, &a).await?;
            self.audit(&mut c, Some(actor), "opportunity", o.id.to_string(), "approval_rejected", &approval_change(&a)).await?;
            drop(c);
            tx.commit().await?;
            return Ok(a);
        }
        let ctx = self.move_context(&mut c, &o).await?;
        let to = StageId::parse(&a.to_stage_id).map_err(|p| AppError::internal(p.0))?;
        let target = ctx.process.stages.iter().find(|s| s.id == to && !s.retired).cloned();
        let Some(target) = target.filter(|_| o.is_open() && o.stage_id.to_string() == a.from_stage_id) else {
            a.status = "cancelled".into();
            approvals::decide(&mut c, ws, &a).await?;
            self.audit(&mut c, Some(actor), "opportunity", o.id.to_string(), "approval_cancelled", &approval_change(&a)).await?;
            drop(c);
            tx.commit().await?;
            return Err(AppError::Conflict {
                code: "approval_outdated",
                message: "the opportunity has moved or closed, or the stage was retired, since the request; the request is cancelled".into(),
                details: json!({ "approval_id": a.id }),
            });
        };
        let (contacts, ticked, documents) = self.gate_facts(&mut c, &o).await?;
        // Approval answers approval needs only: anything unticked or removed since the
        // request still refuses.
        let verdict = gate::evaluate(&ctx.process, &o, to, &GateFacts { contacts: &contacts, ticked: &ticked, documents: &documents });
        if !verdict.missing.is_empty() {
            return Err(gate_refused(verdict.missing));
        }
        a.status = "approved".into();
        approvals::decide(&mut c, ws, &a).await?;
        self.audit(&mut c, Some(actor), "opportunity", o.id.to_string(), "approval_granted", &approval_change(&a)).await?;
        // A move through several gated stages collects one approval per stage, in order.
        let granted = approvals::granted_needs(&mut c, ws, o.id, &a.from_stage_id, &a.to_stage_id, o.stage_entered_at).await?;
        match verdict.approvals.iter().find(|n| !granted.contains(&n.stage_id.to_string())) {
            Some(next) => {
                let requester = kairos_domain::ids::UserId::parse(&a.requested_by).map_err(|p| AppError::internal(p.0))?;
                let follow = self.request_approval(&mut c, requester, &o, to, next, a.note.clone(), self.now()).await?;
                self.audit(&mut c, Some(actor), "opportunity", o.id.to_string(), "approval_requested", &approval_change(&follow)).await?;
            }
            None => {
                let reason = Some(format!("approved by {}{}", actor.user.display_name, comment.map(|c| format!(": {c}")).unwrap_or_default()));
                self.apply_move(&mut c, actor, &o, &ctx, &target, self.now(), reason, None, false).await?;
            }
        }
        drop(c);
        tx.commit().await?;
        Ok(a)
    }

    /// Withdraws a pending request (its requester, or an admin).
    pub async fn cancel_approval(&self, actor: &Actor, id: &str) -> AppResult<Approval> {
        let id = ApprovalId::parse(id).map_err(|_| AppError::NotFound { entity: "approval" })?;
        let ws = actor.workspace();
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let mut a = approvals::find_approval(&mut c, ws, id).await?.ok_or(AppError::NotFound { entity: "approval" })?;
        if a.requested_by != actor.id().to_string() && !actor.user.roles.is_admin() {
            return Err(AppError::NotFound { entity: "approval" });
        }
        if a.status != "pending" {
            return Err(AppError::Conflict { code: "already_decided", message: format!("this request was already {}", a.status), details: json!({ "status": a.status }) });
        }
        a.status = "cancelled".into();
        a.decided_by = Some(actor.id().to_string());
        a.decided_at = Some(self.now());
        approvals::decide(&mut c, ws, &a).await?;
        self.audit(&mut c, Some(actor), "opportunity", a.opportunity_id.clone(), "approval_cancelled", &approval_change(&a)).await?;
        drop(c);
        tx.commit().await?;
        Ok(a)
    }

    /// Approval requests of one opportunity (scoped).
    pub async fn opportunity_approvals(&self, actor: &Actor, id: &str) -> AppResult<Vec<Approval>> {
        let id = parse_opportunity_id(id)?;
        let mut conn = self.store.read().await?;
        let mut c = conn.conn();
        store::find_opportunity(&mut c, actor.workspace(), &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "opportunity" })?;
        Ok(approvals::list_for_opportunity(&mut c, actor.workspace(), id).await?)
    }

    /// `POST /opportunities/{id}/close`.
    pub async fn close_opportunity(&self, actor: &Actor, id: &str, req: CloseRequest) -> AppResult<Opportunity> {
        let id = parse_opportunity_id(id)?;
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let version = crate::input::required_version(&mut errors, req.version);
        if req.outcome == OppStatus::Open {
            errors.add("outcome", "must be won, lost or invalid");
        }
        let reason_id = errors.check_opt("reason_id", req.reason_id.as_deref().map(CloseReasonId::parse));
        let competitor = errors.check("competitor", text::optional_text(req.competitor.as_deref(), 100)).flatten();
        let note = errors.check("note", text::optional_text(req.note.as_deref(), 4000)).flatten();
        let contract_number = errors.check("contract_number", text::optional_text(req.contract_number.as_deref(), 50)).flatten();
        let override_reason = errors.check("override_reason", text::optional_text(req.override_reason.as_deref(), 1000)).flatten();
        if override_reason.is_some() && !actor.user.roles.is_admin() {
            errors.add("override_reason", "only an admin may override");
        }
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let o = store::find_opportunity(&mut c, ws, &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "opportunity" })?;
        if matches!(req.outcome, OppStatus::Lost | OppStatus::Invalid) {
            match reason_id {
                None if req.reason_id.is_none() => errors.add("reason_id", format!("is required to close as {}", req.outcome.as_str())),
                None => {}
                Some(r) => match settings::find_close_reason(&mut c, ws, r).await? {
                    Some(CloseReason { outcome, active: true, .. }) if outcome == req.outcome.as_str() => {}
                    _ => errors.add("reason_id", format!("is not an active {} reason of this workspace", req.outcome.as_str())),
                },
            }
        }
        errors.finish()?;
        if !o.is_open() {
            return Err(closed_refusal(&o));
        }
        if version != o.version {
            return Err(AppError::StaleVersion { current_version: Some(o.version) });
        }
        let (at, imported) = event_time(self, &mut c, actor, &o, req.closed_at, "closed_at").await?;
        let ctx = self.move_context(&mut c, &o).await?;
        let mut new = o.clone();
        if contract_number.is_some() {
            new.contract_number = contract_number;
        }
        if req.contract_signed_on.is_some() {
            new.contract_signed_on = req.contract_signed_on;
        }
        if req.outcome == OppStatus::Won {
            let contacts = store::list_contacts(&mut c, ws, id).await?;
            let missing: Vec<Missing> = ctx
                .process
                .won_required_fields
                .iter()
                .filter(|f| !gate::field_present(**f, &new, &contacts))
                .map(|f| Missing { stage_id: o.stage_id, stage: "won".into(), kind: MissingKind::Field, name: f.as_str().into(), message: gate::field_message(*f) })
                .collect();
            if !missing.is_empty() && override_reason.is_none() {
                return Err(gate_refused(missing));
            }
        }
        new.status = req.outcome;
        new.closed_at = Some(at);
        new.close_reason_id = reason_id;
        new.close_competitor = competitor;
        new.close_note = note;
        new.forecast_category = ForecastCategory::Closed;
        new.probability = if req.outcome == OppStatus::Won { 100 } else { 0 };
        new.probability_reason = None;
        new.priority = false;
        // Won and lost owe an archive review (success points / loss analysis) within 7
        // working days; invalid deals do not.
        new.review_due_on = matches!(req.outcome, OppStatus::Won | OppStatus::Lost).then(|| ctx.calendar.add_working_days(ctx.calendar.local_date(at), 7));
        new.updated_at = self.now();
        new.version = o.version + 1;
        store::update_opportunity(&mut c, &new, o.version).await?;
        let stage_name = ctx.process.stages.iter().find(|s| s.id == o.stage_id).map(|s| s.name.clone());
        let history = HistoryEntry {
            from_stage_id: Some(o.stage_id.to_string()),
            from_stage_name: stage_name.clone(),
            to_stage_id: Some(o.stage_id.to_string()),
            to_stage_name: stage_name,
            from_status: Some("open".into()),
            to_status: Some(req.outcome.as_str().into()),
            days_in_stage: Some(days_between(o.stage_entered_at, at)),
            working_days_in_stage: Some(ctx.calendar.working_days_between(o.stage_entered_at, at)),
            reason: new.close_note.clone(),
            override_reason,
            imported,
            ..HistoryEntry::of(self.mint(), at, Some(actor.id()), "closed", &new)
        };
        store::insert_history(&mut c, ws, id, &[history]).await?;
        let event = match req.outcome {
            OppStatus::Won => Some("opportunity.won"),
            OppStatus::Lost => Some("opportunity.lost"),
            _ => None,
        };
        if let Some(event) = event {
            let stage_name = ctx.process.stages.iter().find(|s| s.id == o.stage_id).map(|s| s.name.as_str());
            self.emit_opportunity_event(&mut c, DealEvent { event, opportunity: &new, stage_name, from_stage_name: stage_name, actor: Some(actor.id()), at }).await?;
        }
        if let Some(p) = approvals::pending_for_opportunity(&mut c, ws, id).await? {
            let mut p = p;
            p.status = "cancelled".into();
            p.decided_at = Some(self.now());
            p.comment = Some("opportunity closed".into());
            approvals::decide(&mut c, ws, &p).await?;
            self.audit(&mut c, Some(actor), "opportunity", id.to_string(), "approval_cancelled", &approval_change(&p)).await?;
        }
        self.audit(&mut c, Some(actor), "opportunity", id.to_string(), "close", &changed(&o, &new)).await?;
        drop(c);
        tx.commit().await?;
        Ok(new)
    }

    /// `POST /opportunities/{id}/reopen`: managers (and directors, admins) only, with a reason.
    pub async fn reopen_opportunity(&self, actor: &Actor, id: &str, req: ReopenRequest) -> AppResult<Opportunity> {
        let id = parse_opportunity_id(id)?;
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let version = crate::input::required_version(&mut errors, req.version);
        let reason = errors.check("reason", text::required_text(&req.reason, 1000));
        errors.finish()?;
        if !(actor.has_role(Role::Manager) || actor.has_role(Role::Director) || actor.user.roles.is_admin()) {
            return Err(AppError::Forbidden("only a manager may reopen a closed opportunity".into()));
        }
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let o = store::find_opportunity(&mut c, ws, &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "opportunity" })?;
        if o.is_open() {
            return Err(AppError::Refused { code: "not_closed", message: "this opportunity is open".into(), details: json!({}) });
        }
        if version != o.version {
            return Err(AppError::StaleVersion { current_version: Some(o.version) });
        }
        let ctx = self.move_context(&mut c, &o).await?;
        let stage = ctx.process.stages.iter().find(|s| s.id == o.stage_id).ok_or_else(|| AppError::internal("stage gone"))?;
        let now = self.now();
        let mut new = o.clone();
        new.status = OppStatus::Open;
        new.closed_at = None;
        new.close_reason_id = None;
        new.close_competitor = None;
        new.close_note = None;
        new.review_due_on = None;
        new.forecast_category = stage.forecast_category;
        new.probability = stage.probability;
        new.stage_entered_at = now;
        new.updated_at = now;
        new.version = o.version + 1;
        new.priority = self.priority_of(&mut c, &new).await?;
        store::update_opportunity(&mut c, &new, o.version).await?;
        self.on_priority(&mut c, o.priority, &new).await?;
        let history = HistoryEntry {
            from_stage_id: Some(o.stage_id.to_string()),
            from_stage_name: Some(stage.name.clone()),
            to_stage_id: Some(o.stage_id.to_string()),
            to_stage_name: Some(stage.name.clone()),
            from_status: Some(o.status.as_str().into()),
            to_status: Some("open".into()),
            reason,
            ..HistoryEntry::of(self.mint(), now, Some(actor.id()), "reopened", &new)
        };
        store::insert_history(&mut c, ws, id, &[history]).await?;
        self.audit(&mut c, Some(actor), "opportunity", id.to_string(), "reopen", &changed(&o, &new)).await?;
        drop(c);
        tx.commit().await?;
        Ok(new)
    }

    pub async fn opportunity_history(&self, actor: &Actor, id: &str) -> AppResult<Vec<HistoryEntry>> {
        let id = parse_opportunity_id(id)?;
        let mut conn = self.store.read().await?;
        let mut c = conn.conn();
        store::find_opportunity(&mut c, actor.workspace(), &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "opportunity" })?;
        Ok(store::list_history(&mut c, actor.workspace(), id).await?)
    }

    pub async fn checklist(&self, actor: &Actor, id: &str) -> AppResult<Vec<ChecklistTick>> {
        let id = parse_opportunity_id(id)?;
        let mut conn = self.store.read().await?;
        let mut c = conn.conn();
        store::find_opportunity(&mut c, actor.workspace(), &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "opportunity" })?;
        Ok(store::list_ticks(&mut c, actor.workspace(), id).await?)
    }

    /// Ticks or unticks a checklist item of one of the deal's process stages.
    pub async fn tick(&self, actor: &Actor, id: &str, req: TickRequest) -> AppResult<Vec<ChecklistTick>> {
        let id = parse_opportunity_id(id)?;
        let ws = actor.workspace();
        let stage_id = StageId::parse(&req.stage_id).map_err(|p| AppError::field("stage_id", p.0))?;
        let note = text::optional_text(req.note.as_deref(), 1000).map_err(|p| AppError::field("note", p.0))?;
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let o = store::find_opportunity(&mut c, ws, &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "opportunity" })?;
        if !o.is_open() {
            return Err(closed_refusal(&o));
        }
        let process = process_store::find_process(&mut c, ws, o.process_id).await?.ok_or_else(|| AppError::internal("process gone"))?;
        let Some(stage) = process.stages.iter().find(|s| s.id == stage_id) else {
            return Err(AppError::field("stage_id", "is not a stage of the opportunity's process"));
        };
        if !stage.criteria.checklist.iter().any(|i| i.key == req.item_key) {
            let keys: Vec<&str> = stage.criteria.checklist.iter().map(|i| i.key.as_str()).collect();
            return Err(AppError::field("item_key", format!("is not an item of stage \"{}\" (items: {})", stage.name, keys.join(", "))));
        }
        let tick = req.ticked.then(|| (actor.id(), self.now(), note));
        store::set_tick(&mut c, ws, id, stage_id, &req.item_key, tick).await?;
        let change = [kairos_domain::audit::FieldChange {
            field: format!("checklist.{}.{}", stage.name, req.item_key),
            old_value: None,
            new_value: Some(req.ticked.to_string()),
        }];
        self.audit(&mut c, Some(actor), "opportunity", id.to_string(), "checklist", &change).await?;
        let ticks = store::list_ticks(&mut c, ws, id).await?;
        drop(c);
        tx.commit().await?;
        Ok(ticks)
    }

    pub async fn documents(&self, actor: &Actor, id: &str) -> AppResult<Vec<Document>> {
        let id = parse_opportunity_id(id)?;
        let mut conn = self.store.read().await?;
        let mut c = conn.conn();
        store::find_opportunity(&mut c, actor.workspace(), &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "opportunity" })?;
        Ok(store::list_documents(&mut c, actor.workspace(), id).await?)
    }

    pub async fn close_reasons(&self, actor: &Actor) -> AppResult<Vec<CloseReason>> {
        let mut conn = self.store.read().await?;
        Ok(settings::list_close_reasons(&mut conn.conn(), actor.workspace()).await?)
    }
}

/// The audit row of an approval event.
fn approval_change(a: &Approval) -> [kairos_domain::audit::FieldChange; 1] {
    [kairos_domain::audit::FieldChange {
        field: "approval".into(),
        old_value: Some(format!("{} → {}", a.from_stage_id, a.to_stage_id)),
        new_value: Some(format!("{} {}", a.status, a.id)),
    }]
}

fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_seconds().max(0) as f64) / 86_400.0
}
