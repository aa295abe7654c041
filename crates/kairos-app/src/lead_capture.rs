//! Capturing leads: the one path every new lead takes, whether it comes from the API, a
//! public web form or an import file (PRODUCT.md §3). In order: duplicates are found
//! (phone, e-mail, company against leads, contacts and accounts), refused or merged as the
//! caller chose; the lead is scored by the workspace's rules; an owner is chosen by the
//! assignment rules (or the pool); the rows, audit entries and the new owners'
//! notifications are written in the caller's transaction.
//!
//! It works on batches so that an import checks duplicates with a few queries per few
//! hundred rows instead of several per row.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use kairos_domain::ids::{AccountId, ContactId, LeadId, OrgUnitId, UserId, WorkspaceId};
use kairos_domain::lead::{Lead, LeadStatus};
use kairos_domain::lead_assignment::{Assigner, AssignmentConfig, Decision, Load};
use kairos_domain::lead_rules::Facts;
use kairos_domain::lead_scoring::{ScoringConfig, score};
use kairos_store::lead::{self as store, KeyMatch};
use kairos_store::{Conn, user};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::outbox::Tell;
use kairos_domain::notice::Notice;
use crate::error::{AppError, AppResult};

/// What to do when a captured lead matches an existing record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnDuplicate {
    /// Answer 409 naming the existing records; nothing is written.
    #[default]
    Refuse,
    /// Fold the capture into the existing lead (empty fields filled, notes appended), or,
    /// when the match is a contact or account, keep the lead linked to it so that
    /// conversion reuses it.
    Merge,
}

/// One lead to capture: the parsed draft (id, fields, BANT; no score or owner yet).
pub(crate) struct Capture {
    pub draft: Lead,
    /// An owner the caller chose (already checked); otherwise the rules choose.
    pub owner: Option<(UserId, Option<OrgUnitId>)>,
    pub on_duplicate: OnDuplicate,
}

#[derive(Debug)]
pub(crate) enum Captured {
    Created(Lead),
    Merged(Lead),
    Refused(AppError),
}

/// What capturing needs to know about the workspace, loaded once per request or import.
pub(crate) struct CaptureContext {
    pub ws: WorkspaceId,
    pub by: Option<UserId>,
    /// How the audit trail names the path: `create`, `form`, `import`.
    pub action: &'static str,
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
    pub scoring: Arc<ScoringConfig>,
    assigner: Assigner,
    /// Keys taken by the captures of the batch being decided: its own earlier rows are not
    /// yet written, so the batch's look-up cannot see them. Earlier batches are written (in
    /// this transaction) and found by the look-up, so this starts empty for each batch and
    /// an import's memory does not grow with its rows.
    seen: HashMap<(&'static str, String), LeadId>,
    /// Keys a merge brought that the lead it went into may not hold (it had another phone
    /// or e-mail): a later row with one of them repeats that lead too, in whichever batch.
    /// Few: only merges of a capture with two keys, one of them new.
    aliases: HashMap<(&'static str, String), LeadId>,
    /// The org unit of every rep the rules may choose: a lead takes its owner's unit, which
    /// decides which managers see it.
    units: HashMap<UserId, Option<OrgUnitId>>,
    /// New leads per owner (the first one and how many), for one notification per owner.
    pub notify: HashMap<UserId, (LeadId, usize)>,
}

/// What writing a batch needs of the context; fixed for a whole capture or import.
#[derive(Clone)]
struct CaptureStamp {
    ws: WorkspaceId,
    by: Option<UserId>,
    action: &'static str,
    now: DateTime<Utc>,
    today: NaiveDate,
    scoring: Arc<ScoringConfig>,
}

/// A batch decided by `plan_batch`, to be written by `write_plan`.
struct CapturePlan {
    /// New leads, scored and assigned.
    fresh: Vec<Lead>,
    /// (answer slot, lead, capture) for merges into a lead outside this batch.
    late_merges: Vec<(usize, LeadId, Lead)>,
    /// The answer per capture; `None` for the next lead of `fresh`.
    out: Vec<Option<Captured>>,
    /// The last sequence number per rep who received a lead by rule.
    assigned: HashMap<UserId, i64>,
}

impl CaptureContext {
    fn stamp(&self) -> CaptureStamp {
        CaptureStamp { ws: self.ws, by: self.by, action: self.action, now: self.now, today: self.today, scoring: self.scoring.clone() }
    }

    /// Records that a new lead of this batch holds these phone and e-mail keys from now on.
    fn take_keys(&mut self, lead: &Lead, holder: LeadId) {
        for (field, key) in [("phone", &lead.phone_key), ("email", &lead.email_key)] {
            if let Some(k) = key {
                self.seen.entry((field, k.clone())).or_insert(holder);
            }
        }
    }

    /// Records the keys a capture merged into `target` brought: the ones it matched the
    /// target on are the target's already; any other is remembered for the whole capture.
    fn take_merged_keys(&mut self, draft: &Lead, target: LeadId, hits: &[(&'static str, String, &'static str)]) {
        let target_text = target.to_string();
        for (field, key) in [("phone", &draft.phone_key), ("email", &draft.email_key)] {
            let Some(k) = key else { continue };
            if !hits.iter().any(|(entity, id, f)| *entity == "lead" && *id == target_text && *f == field) {
                self.aliases.entry((field, k.clone())).or_insert(target);
            }
        }
    }

    /// The lead of this capture that already holds a key, if any.
    fn holder_of(&self, field: &'static str, key: &str) -> Option<LeadId> {
        let k = (field, key.to_string());
        self.seen.get(&k).or_else(|| self.aliases.get(&k)).copied()
    }
}

/// The existing leads, contacts and accounts that share a key with any capture of a batch.
async fn find_matches(c: &mut Conn<'_>, ws: WorkspaceId, items: &[Capture]) -> AppResult<Vec<KeyMatch>> {
    let keys = |f: fn(&Lead) -> Option<&String>| -> Vec<String> {
        let mut v: Vec<String> = items.iter().filter_map(|i| f(&i.draft).cloned()).collect();
        v.sort();
        v.dedup();
        v
    };
    Ok(store::key_matches(c, ws, &keys(|l| l.phone_key.as_ref()), &keys(|l| l.email_key.as_ref()), &keys(|l| l.company_key.as_ref())).await?)
}

fn rescore(scoring: &ScoringConfig, today: NaiveDate, lead: &mut Lead) {
    let s = score(lead, scoring, today);
    lead.score = s.points;
    lead.score_hits = s.hits;
    if s.qualified && matches!(lead.status, LeadStatus::New | LeadStatus::Working) {
        lead.status = LeadStatus::Qualified;
    }
}

/// Loads the scoring and assignment rule sets of a workspace (the defaults when unset).
pub(crate) async fn load_rules(c: &mut Conn<'_>, ws: WorkspaceId) -> AppResult<(ScoringConfig, AssignmentConfig, Option<i64>)> {
    match store::lead_settings(c, ws).await? {
        None => Ok((ScoringConfig::default(), AssignmentConfig::default(), None)),
        Some((scoring, assignment, version)) => {
            let scoring = serde_json::from_str(&scoring).map_err(|e| AppError::internal(format!("stored scoring rules: {e}")))?;
            let assignment = serde_json::from_str(&assignment).map_err(|e| AppError::internal(format!("stored assignment rules: {e}")))?;
            Ok((scoring, assignment, Some(version)))
        }
    }
}

impl App {
    pub(crate) async fn capture_context(&self, c: &mut Conn<'_>, ws: WorkspaceId, by: Option<UserId>, action: &'static str) -> AppResult<CaptureContext> {
        let (scoring, assignment, _) = load_rules(c, ws).await?;
        let units = assignment.units();
        let teams = store::active_members(c, ws, &units).await?;
        let mut people: Vec<UserId> = teams.values().flatten().copied().collect();
        let mut active: Vec<UserId> = people.clone();
        let mut units: HashMap<UserId, Option<OrgUnitId>> = teams.iter().flat_map(|(unit, users)| users.iter().map(|u| (*u, Some(*unit)))).collect();
        for rule in &assignment.rules {
            if let kairos_domain::lead_assignment::AssignTo::User { user_id } = rule.assign_to {
                if let Some(u) = user::find_user(c, ws, user_id).await?.filter(|u| u.active) {
                    active.push(user_id);
                    units.insert(user_id, u.org_unit_id);
                }
                people.push(user_id);
            }
        }
        let open = store::open_lead_counts(c, ws, &people).await?;
        let (last, max_seq) = store::assignee_sequence(c, ws).await?;
        let loads = people
            .iter()
            .map(|u| (*u, Load { open_leads: open.get(u).copied().unwrap_or(0), last_assigned: last.get(u).copied().unwrap_or(0) }))
            .collect();
        let now = self.now();
        let today = crate::calendar::load_calendar(c, ws).await?.local_date(now);
        Ok(CaptureContext {
            ws,
            by,
            action,
            now,
            today,
            scoring: Arc::new(scoring),
            assigner: Assigner::new(assignment, teams, loads, active, max_seq),
            units,
            seen: HashMap::new(),
            aliases: HashMap::new(),
            notify: HashMap::new(),
        })
    }

    /// Captures a batch inside the caller's transaction. Refusals are answered per item;
    /// only a database failure fails the batch.
    pub(crate) async fn capture_batch(&self, c: &mut Conn<'_>, ctx: &mut CaptureContext, items: Vec<Capture>) -> AppResult<Vec<Captured>> {
        // Every earlier batch is written: the look-up below finds its keys.
        ctx.seen.clear();
        let matches = find_matches(c, ctx.ws, &items).await?;
        let plan = self.plan_batch(ctx, items, matches);
        let stamp = ctx.stamp();
        self.write_plan(c, &stamp, plan).await
    }

    /// Decides a batch without touching the database: duplicates against the matches found
    /// for it and the keys this capture already took (`ctx.seen`), then scores and owners.
    /// Merges into a lead outside the batch are left to `write_plan`, which reads that lead
    /// as it is when writing; deciding stays pure, and a lead merged into twice in one
    /// import is never written from a stale copy.
    fn plan_batch(&self, ctx: &mut CaptureContext, items: Vec<Capture>, matches: Vec<KeyMatch>) -> CapturePlan {
        let mut by_key: HashMap<(&'static str, &str), Vec<&KeyMatch>> = HashMap::new();
        for m in &matches {
            by_key.entry((m.field, m.key.as_str())).or_default().push(m);
        }
        let mut plan = CapturePlan { fresh: Vec::new(), late_merges: Vec::new(), out: Vec::with_capacity(items.len()), assigned: HashMap::new() };
        for item in items {
            let draft = item.draft;
            let person_keys = [("phone", draft.phone_key.as_ref()), ("email", draft.email_key.as_ref())];
            let mut hits: Vec<(&'static str, String, &'static str)> = Vec::new(); // (entity, id, field)
            let mut lead_hit: Option<LeadId> = None;
            let mut contact_hit: Option<(ContactId, Option<AccountId>)> = None;
            let mut account_hit: Option<AccountId> = None;
            for (field, key) in person_keys {
                let Some(key) = key else { continue };
                if let Some(id) = ctx.holder_of(field, key) {
                    hits.push(("lead", id.to_string(), field));
                    lead_hit = lead_hit.or(Some(id));
                }
                for m in by_key.get(&(field, key.as_str())).into_iter().flatten() {
                    hits.push((m.entity, m.id.clone(), field));
                    match m.entity {
                        "lead" if m.mergeable => lead_hit = lead_hit.or(LeadId::parse(&m.id).ok()),
                        "contact" => {
                            if contact_hit.is_none() {
                                contact_hit = ContactId::parse(&m.id).ok().map(|id| (id, m.account_id.as_deref().and_then(|a| AccountId::parse(a).ok())));
                            }
                        }
                        _ => {}
                    }
                }
            }
            if let Some(key) = draft.company_key.as_ref() {
                for m in by_key.get(&("company", key.as_str())).into_iter().flatten() {
                    if m.entity == "account" {
                        hits.push(("account", m.id.clone(), "company"));
                        account_hit = account_hit.or(AccountId::parse(&m.id).ok());
                    }
                }
            }
            if hits.is_empty() {
                let lead = self.prepare_new(ctx, &mut plan.assigned, draft, item.owner);
                ctx.take_keys(&lead, lead.id);
                plan.fresh.push(lead);
                plan.out.push(None);
                continue;
            }
            if item.on_duplicate == OnDuplicate::Refuse {
                plan.out.push(Some(Captured::Refused(duplicate_error(&hits))));
                continue;
            }
            // Merge: into the lead it repeats, else a new lead linked to the customer. A
            // merge may give the lead a phone or e-mail it lacked: a later row with it is a
            // duplicate of that lead too.
            if let Some(target) = lead_hit {
                ctx.take_merged_keys(&draft, target, &hits);
                if let Some(pos) = plan.fresh.iter().position(|f| f.id == target) {
                    let base = &mut plan.fresh[pos];
                    merge_into(base, &draft, ctx.now);
                    rescore(&ctx.scoring, ctx.today, base);
                } else {
                    plan.late_merges.push((plan.out.len(), target, draft.clone()));
                }
                plan.out.push(Some(Captured::Merged(Lead { id: target, ..draft })));
                continue;
            }
            let mut draft = draft;
            draft.contact_id = contact_hit.map(|c| c.0);
            draft.account_id = contact_hit.and_then(|c| c.1).or(account_hit);
            let lead = self.prepare_new(ctx, &mut plan.assigned, draft, item.owner);
            ctx.take_keys(&lead, lead.id);
            plan.fresh.push(lead);
            plan.out.push(None);
        }
        plan
    }

    /// Writes a decided batch: new leads in bulk, merges one by one (few) into the leads as
    /// they are now, audit, and the assignment sequence. Answers in input order.
    async fn write_plan(&self, c: &mut Conn<'_>, stamp: &CaptureStamp, plan: CapturePlan) -> AppResult<Vec<Captured>> {
        let CapturePlan { fresh, late_merges, mut out, assigned } = plan;
        store::insert_leads(c, &fresh, stamp.by).await.map_err(|e| match e {
            kairos_store::StoreError::Unique { .. } => AppError::Conflict {
                code: "duplicate",
                message: "another capture of the same phone or e-mail was saved at the same moment; try again".into(),
                details: json!({}),
            },
            other => other.into(),
        })?;
        let mut targets: Vec<LeadId> = late_merges.iter().map(|m| m.1).collect();
        targets.sort();
        targets.dedup();
        let mut merged: HashMap<LeadId, (Lead, i64)> =
            store::leads_by_id(c, stamp.ws, &targets).await?.into_iter().map(|l| (l.id, (l.clone(), l.version))).collect();
        for (slot, target, draft) in late_merges {
            match merged.get_mut(&target) {
                Some((base, _)) => {
                    merge_into(base, &draft, stamp.now);
                    rescore(&stamp.scoring, stamp.today, base);
                }
                None => {
                    out[slot] = Some(Captured::Refused(AppError::Conflict {
                        code: "duplicate",
                        message: "the lead this repeats was archived or converted meanwhile; capture it again".into(),
                        details: json!({ "field": "row", "matches": [{ "entity": "lead", "id": target.to_string() }] }),
                    }));
                }
            }
        }
        let mut merged_out: HashMap<LeadId, Lead> = HashMap::new();
        for (id, (mut lead, old_version)) in merged {
            lead.version = old_version + 1;
            lead.updated_at = stamp.now;
            store::update_lead(c, &lead, old_version).await?;
            self.audit_as(c, stamp.ws, stamp.by, "lead", id.to_string(), "merge", &[]).await?;
            merged_out.insert(id, lead);
        }
        self.audit_created(c, stamp, &fresh).await?;
        store::record_assignments(c, stamp.ws, &assigned).await?;

        // Created leads move into the answers; a capture merged into a lead created earlier
        // in the same batch answers that lead's id (only imports batch several captures).
        let mut fresh_iter = fresh.into_iter();
        let mut answers = Vec::with_capacity(out.len());
        for slot in out {
            answers.push(match slot {
                Some(Captured::Merged(stub)) => Captured::Merged(merged_out.get(&stub.id).cloned().unwrap_or(stub)),
                Some(other) => other,
                None => match fresh_iter.next() {
                    Some(l) => Captured::Created(l),
                    None => Captured::Refused(AppError::internal("created lead went missing")),
                },
            });
        }
        Ok(answers)
    }

    /// Scores, qualifies and assigns a new lead.
    fn prepare_new(&self, ctx: &mut CaptureContext, assigned: &mut HashMap<UserId, i64>, mut lead: Lead, owner: Option<(UserId, Option<OrgUnitId>)>) -> Lead {
        rescore(&ctx.scoring, ctx.today, &mut lead);
        match owner {
            Some((user, unit)) => {
                lead.owner_id = Some(user);
                lead.org_unit_id = unit;
                lead.assigned_at = Some(ctx.now);
                lead.assigned_by_rule = None;
            }
            None => {
                let seed = lead.id.uuid().as_u64_pair().1;
                match ctx.assigner.assign(&Facts { lead: &lead, today: ctx.today, score: Some(lead.score) }, seed) {
                    Decision::Owner { user, rule, seq } => {
                        lead.owner_id = Some(user);
                        lead.org_unit_id = ctx.units.get(&user).copied().flatten();
                        lead.assigned_at = Some(ctx.now);
                        lead.assigned_by_rule = Some(rule);
                        assigned.insert(user, seq);
                    }
                    Decision::Pool { reason } => {
                        lead.owner_id = None;
                        lead.assigned_by_rule = Some(reason);
                    }
                }
            }
        }
        if let Some(owner) = lead.owner_id {
            if Some(owner) != ctx.by {
                ctx.notify.entry(owner).or_insert((lead.id, 0)).1 += 1;
            }
        }
        lead
    }

    /// Audit rows for new leads: every field for a single capture; for an import one row
    /// per lead, since a hundred thousand leads times twenty fields would bury the trail.
    async fn audit_created(&self, c: &mut Conn<'_>, ctx: &CaptureStamp, fresh: &[Lead]) -> AppResult<()> {
        if ctx.action == "import" {
            let ids: Vec<String> = fresh.iter().map(|l| l.id.to_string()).collect();
            let event = kairos_store::audit::AuditEvent { workspace: ctx.ws, actor: ctx.by, at: ctx.now, entity: "lead", entity_id: String::new(), action: "import" };
            let mut mint = || self.mint();
            kairos_store::audit::insert_audit_bulk(c, &event, &ids, &mut mint).await?;
            return Ok(());
        }
        for lead in fresh {
            self.audit_as(c, ctx.ws, ctx.by, "lead", lead.id.to_string(), ctx.action, &kairos_domain::audit::created(lead)).await?;
        }
        Ok(())
    }

    /// Tells each new owner about their new leads: one notification per lead for a single
    /// capture, one per owner for an import.
    pub(crate) async fn notify_new_owners(&self, c: &mut Conn<'_>, ctx: &mut CaptureContext) -> AppResult<()> {
        let mut tells = Vec::new();
        for (user, (first, count)) in std::mem::take(&mut ctx.notify) {
            tells.push(match count {
                1 => Tell::new(user, Notice::LeadAssigned, Some(("lead", first.to_string()))),
                many => Tell::new(user, Notice::LeadsAssigned { count: many }, None),
            });
        }
        self.notify(c, ctx.ws, tells).await?;
        Ok(())
    }
}

fn duplicate_error(hits: &[(&'static str, String, &'static str)]) -> AppError {
    let matches: Vec<serde_json::Value> = hits.iter().map(|(entity, id, field)| json!({ "entity": entity, "id": id, "field": field })).collect();
    let (entity, _, field) = &hits[0];
    AppError::Conflict {
        code: "duplicate",
        message: format!("a {entity} with the same {field} already exists; send on_duplicate = merge to merge into it"),
        details: json!({ "field": field, "matches": matches }),
    }
}

/// Folds a new capture into an existing lead: empty fields take the new values, BANT
/// facts the newer knowledge, notes are appended; a disqualified lead that asks again is
/// worked again.
fn merge_into(base: &mut Lead, new: &Lead, now: DateTime<Utc>) {
    fn fill(slot: &mut Option<String>, value: &Option<String>) {
        if slot.is_none() {
            slot.clone_from(value);
        }
    }
    fill(&mut base.campaign, &new.campaign);
    if base.company.is_none() {
        base.company.clone_from(&new.company);
        base.company_key.clone_from(&new.company_key);
    }
    fill(&mut base.contact_name, &new.contact_name);
    fill(&mut base.title, &new.title);
    if base.phone.is_none() && new.phone.is_some() {
        base.phone.clone_from(&new.phone);
        base.phone_key.clone_from(&new.phone_key);
    }
    if base.email.is_none() && new.email.is_some() {
        base.email.clone_from(&new.email);
        base.email_key.clone_from(&new.email_key);
    }
    fill(&mut base.region, &new.region);
    fill(&mut base.industry, &new.industry);
    let b = &mut base.bant;
    let n = &new.bant;
    b.budget_amount = n.budget_amount.or(b.budget_amount);
    b.budget_approved |= n.budget_approved;
    b.is_decision_maker = n.is_decision_maker.or(b.is_decision_maker);
    fill(&mut b.need_description, &n.need_description);
    b.need_match = n.need_match.or(b.need_match);
    b.expected_purchase_date = n.expected_purchase_date.or(b.expected_purchase_date);
    if let Some(note) = &new.notes {
        let stamp = now.format("%Y-%m-%d %H:%M UTC");
        let joined = match &base.notes {
            Some(old) => format!("{old}\n\n[{stamp}, {}] {note}", new.source.as_str()),
            None => format!("[{stamp}, {}] {note}", new.source.as_str()),
        };
        base.notes = Some(joined.chars().take(10_000).collect());
    }
    if base.status == LeadStatus::Disqualified {
        base.status = LeadStatus::Working;
        base.disqualify_reason = None;
    }
}
