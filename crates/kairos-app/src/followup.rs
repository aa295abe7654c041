//! The follow-up scanners (PRODUCT.md §6): over every open deal, the domain's rules decide
//! cadence, staleness, dwell risk and the close-date reminder; this module loads the facts in
//! a handful of bulk reads, and writes what the rules found in one short transaction: the
//! risk rows the kanban and the risk list show, the tasks owed, and the notifications.
//!
//! Every task and notification a scan makes carries a key naming the event (the cadence of a
//! deal since its last touch, its stale alert since its last sign of life, …) and the unique
//! indexes on those keys make a second scan, on this instance or another, change nothing.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use kairos_domain::activity::{RecordKind, Task, TaskDraft, TaskOrigin};
use kairos_domain::calendar::WorkCalendar;
use kairos_domain::followup::{self as rules, Assessment, CadenceCheck, DealFacts, DwellLimit, FollowUpSettings, StageRules, Staleness};
use kairos_domain::ids::{OpportunityId, OrgUnitId, StageId, TaskId, UserId, WorkspaceId};
use kairos_domain::org::{OrgTree, manager_of};
use kairos_domain::process::Stage;
use kairos_store::followup::{self as store, OpenDeal, RiskListRow, RiskRow, StoredRisk};
use kairos_store::{org_unit, process, task, workspace};
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, AdminCap};
use crate::app::App;
use crate::outbox::Tell;
use kairos_domain::identity::Locale;
use kairos_domain::notice::{self, Notice};
use crate::error::AppResult;
use crate::listing::{self, ListPage};

/// What one scan did.
#[derive(Debug, Default, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ScanReport {
    pub workspaces: usize,
    pub open_deals: usize,
    pub at_risk: usize,
    pub tasks_created: u64,
    pub notifications: u64,
    pub escalations: usize,
}

impl ScanReport {
    fn add(&mut self, o: &ScanReport) {
        self.workspaces += o.workspaces;
        self.open_deals += o.open_deals;
        self.at_risk += o.at_risk;
        self.tasks_created += o.tasks_created;
        self.notifications += o.notifications;
        self.escalations += o.escalations;
    }
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RiskQuery {
    /// Only deals of this owner.
    #[param(format = Uuid)]
    pub owner_id: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// The history a stage's p90 comes from: the last year, so the limit follows the team's
/// current pace rather than how it sold years ago.
const DWELL_HISTORY_DAYS: i64 = 365;

/// Who manages whom, built once per scan.
struct Managers {
    tree: OrgTree,
    by_unit: HashMap<OrgUnitId, UserId>,
    unit_of: HashMap<UserId, Option<OrgUnitId>>,
    /// The workspace's language and the people who chose another, for the tasks' titles.
    locales: (Locale, HashMap<UserId, Locale>),
}

impl Managers {
    fn locale(&self, user: UserId) -> Locale {
        self.locales.1.get(&user).copied().unwrap_or(self.locales.0)
    }

    fn of(&self, user: UserId) -> Option<UserId> {
        manager_of(&self.tree, &self.by_unit, user, self.unit_of.get(&user).copied().flatten())
    }
}

/// What a scan reads besides the open deals.
struct ScanContext {
    settings: FollowUpSettings,
    calendar: WorkCalendar,
    processes: Vec<kairos_domain::process::SalesProcess>,
    touches: HashMap<String, Vec<DateTime<Utc>>>,
    next_steps: HashMap<String, DateTime<Utc>>,
    history: HashMap<String, rules::DwellHistory>,
    managers: Managers,
    overdue: Vec<Task>,
    unanswered: Vec<kairos_domain::support::SupportRequest>,
}

/// What one workspace's scan writes.
#[derive(Default)]
struct Findings {
    risks: Vec<RiskRow>,
    tasks: Vec<Task>,
    notifications: Vec<Tell>,
}

impl App {
    /// Runs the scanners over every workspace; what `kairos jobs run-once` and the job loop call.
    pub async fn scan_followups(&self) -> AppResult<ScanReport> {
        let workspaces = {
            let mut conn = self.store.read().await?;
            workspace::list_workspaces(&mut conn.conn()).await?
        };
        let mut report = ScanReport::default();
        for w in workspaces {
            report.add(&self.scan_workspace(w.id, None).await?);
        }
        Ok(report)
    }

    /// Re-scans one deal (after an activity on it), so its flags do not wait for the next
    /// scheduled scan.
    pub(crate) async fn refresh_risk(&self, ws: WorkspaceId, opp: OpportunityId) -> AppResult<()> {
        self.scan_workspace(ws, Some(opp)).await.map(|_| ())
    }

    async fn scan_workspace(&self, ws: WorkspaceId, only: Option<OpportunityId>) -> AppResult<ScanReport> {
        let now = self.now();
        let started = std::time::Instant::now();
        let mut phases: Vec<(&str, std::time::Duration)> = Vec::new();
        let lap = |name: &'static str, phases: &mut Vec<(&str, std::time::Duration)>| phases.push((name, started.elapsed()));
        // Reads first, outside the write transaction: on SQLite the transaction holds the
        // only writer, so it should last as long as the writing and no longer. A full scan
        // reads the open deals on one connection while a second reads everything else (the
        // deals are most of the work, and SQLite's readers run side by side); a one-deal
        // re-scan needs its deal's stage first, to read that stage's history alone.
        let (deals, ctx) = if only.is_some() {
            let deals = self.read_open_deals(ws, now, only).await?;
            let stage = deals.first().map(|d| d.stage_id);
            (deals, self.read_scan_context(ws, now, only, stage).await?)
        } else {
            let (deals, ctx) = tokio::join!(self.read_open_deals(ws, now, None), self.read_scan_context(ws, now, None, None));
            (deals?, ctx?)
        };
        lap("reads", &mut phases);
        let ScanContext { settings, calendar, processes, mut touches, next_steps, history, managers, overdue, unanswered } = ctx;
        let stages: HashMap<StageId, (&Stage, u32)> =
            processes.iter().flat_map(|p| p.stages.iter().map(move |s| (s.id, (s, p.close_reminder_days)))).collect();

        let limits: HashMap<StageId, Option<DwellLimit>> = stages
            .iter()
            .map(|(id, (s, _))| (*id, rules::dwell_limit(s.expected_dwell_days, history.get(&id.to_string()).copied(), &settings)))
            .collect();
        let open_deals = deals.len();
        let mut found = Findings::default();
        let mut stored = HashMap::new();
        for mut d in deals {
            let Some((stage, reminder_days)) = stages.get(&d.stage_id) else { continue };
            let key = d.id.to_string();
            // The recent touches and the last one however old; `recent` ends before now, so
            // a touch exactly now is the last touch alone.
            let mut deal_touches = touches.remove(&key).unwrap_or_default();
            if let Some(last) = d.last_touch.filter(|t| !deal_touches.contains(t)) {
                deal_touches.push(last);
            }
            let facts = DealFacts {
                now,
                stage_entered_at: d.stage_entered_at,
                last_update: d.updated_at,
                touches: &deal_touches,
                next_step_at: next_steps.get(&key).copied(),
            };
            let stage_rules = StageRules { cadence: &stage.cadence, dwell_limit: limits.get(&d.stage_id).copied().flatten(), close_reminder_days: *reminder_days };
            let a = rules::assess(&calendar, &facts, &stage_rules, d.expected_close_date, &settings);
            let told = d.risk.take();
            self.findings_for(&mut found, ws, &d, told.as_ref(), stage, &facts, &a, &calendar, &managers, now);
            if let Some(t) = told {
                stored.insert(key, t.finding);
            }
        }
        let escalated = self.escalations(&mut found, &overdue, &managers);
        lap("assess", &mut phases);

        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        store::replace_risks(&mut c, ws, only, stored, &found.risks).await?;
        lap("write_risks", &mut phases);
        let tasks_created = task::insert_tasks_once(&mut c, &found.tasks).await?;
        lap("write_tasks", &mut phases);
        let marked = task::mark_escalated(&mut c, ws, &escalated, now).await?;
        // Only the escalations this scan marked are told: a concurrent scan that marked one
        // first has told the manager already.
        let marked_ids: std::collections::HashSet<String> = marked.iter().map(|m| m.to_string()).collect();
        found.notifications.retain(|t| t.notice.kind() != "task_overdue" || t.record.as_ref().is_some_and(|(_, id)| marked_ids.contains(id)));
        // Support requests nobody answered in time: the requester's manager hears once.
        let ids: Vec<_> = unanswered.iter().map(|r| r.id).collect();
        let reported = kairos_store::support::mark_overdue_notified(&mut c, ws, &ids, now).await?;
        for r in unanswered.iter().filter(|r| reported.contains(&r.id)) {
            let Some(m) = managers.of(r.requester_id) else { continue };
            let notice = Notice::SupportUnanswered { team: r.team.as_str().into(), what: r.kind.clone(), answer_by: r.accept_by };
            found.notifications.push(Tell::new(m, notice, Some(("support_request", r.id.to_string()))).keyed(format!("support:{}:unanswered", r.id)));
        }
        let notifications = self.notify(&mut c, ws, std::mem::take(&mut found.notifications)).await?;
        drop(c);
        tx.commit().await?;
        lap("write_rest", &mut phases);
        if only.is_none() {
            // Where a scan spends its time, cumulatively (ms), for whoever tunes it.
            let at: Vec<String> = phases.iter().map(|(n, d)| format!("{n}={}", d.as_millis())).collect();
            tracing::info!(workspace = %ws, deals = open_deals, phases = %at.join(" "), "follow-up scan");
        }
        Ok(ScanReport { workspaces: 1, open_deals, at_risk: found.risks.len(), tasks_created, notifications, escalations: marked.len() })
    }

    async fn read_open_deals(&self, ws: WorkspaceId, now: DateTime<Utc>, only: Option<OpportunityId>) -> AppResult<Vec<OpenDeal>> {
        let mut conn = self.store.report_read().await?;
        Ok(store::open_deals(&mut conn.conn(), ws, now, only).await?)
    }

    /// Everything a scan reads besides the deals themselves.
    async fn read_scan_context(&self, ws: WorkspaceId, now: DateTime<Utc>, only: Option<OpportunityId>, only_stage: Option<StageId>) -> AppResult<ScanContext> {
        let mut conn = self.store.report_read().await?;
        let mut c = conn.conn();
        let settings = store::get_settings(&mut c, ws).await?;
        let calendar = crate::calendar::load_calendar(&mut c, ws).await?;
        let processes = process::list_processes(&mut c, ws).await?;
        let widest_window = processes.iter().flat_map(|p| p.stages.iter()).map(|s| i64::from(s.cadence.per_days)).max().unwrap_or(0);
        let touches = store::recent_touches(&mut c, ws, now - Duration::days(widest_window + 1), now, only).await?;
        let next_steps = store::next_steps(&mut c, ws, now, only).await?;
        let history = store::dwell_history(&mut c, ws, now - Duration::days(DWELL_HISTORY_DAYS), only_stage).await?;
        let units = org_unit::list_org_units(&mut c, ws).await?;
        let managers = Managers {
            tree: OrgTree::new(units.iter().map(|u| (u.id, u.parent_id)).collect()),
            by_unit: units.iter().filter_map(|u| u.manager_id.map(|m| (u.id, m))).collect(),
            unit_of: store::user_units(&mut c, ws).await?.into_iter().collect(),
            locales: kairos_store::outbox::locales(&mut c, ws).await?,
        };
        let overdue = if only.is_none() {
            task::overdue_unescalated(&mut c, ws, now - Duration::hours(i64::from(settings.task_grace_hours))).await?
        } else {
            Vec::new()
        };
        let unanswered = if only.is_none() { kairos_store::support::unanswered(&mut c, ws, now).await? } else { Vec::new() };
        Ok(ScanContext { settings, calendar, processes, touches, next_steps, history, managers, overdue, unanswered })
    }

    #[allow(clippy::too_many_arguments)]
    fn findings_for(
        &self,
        found: &mut Findings,
        ws: WorkspaceId,
        d: &OpenDeal,
        told: Option<&StoredRisk>,
        stage: &Stage,
        facts: &DealFacts<'_>,
        a: &Assessment,
        calendar: &WorkCalendar,
        managers: &Managers,
        now: DateTime<Utc>,
    ) {
        let opp = d.id.to_string();
        // The events this deal is owed now; those the last scan already made are not offered
        // again (the unique keys would refuse them, but 100,000 refusals cost seconds).
        let known: Vec<&str> = told.and_then(|r| r.event_keys.as_deref()).map_or_else(Vec::new, |k| k.split(' ').collect());
        let mut keys: Vec<String> = Vec::new();
        let mut is_new = |key: &String| {
            keys.push(key.clone());
            !known.contains(&key.as_str())
        };
        let mut tasks = Vec::new();
        let mut tells = Vec::new();
        let task = |origin: TaskOrigin, key: String, title: String, due: DateTime<Utc>| {
            let draft = TaskDraft {
                title,
                due_at: due,
                assignee_id: d.owner_id,
                org_unit_id: d.org_unit_id,
                record: Some((RecordKind::Opportunity, opp.clone())),
                origin,
                origin_key: Some(key),
                created_by: None,
            };
            Task::open(TaskId::from_uuid(self.mint()), ws, draft, now)
        };
        if let CadenceCheck::Short { required, due, since, .. } = a.cadence {
            let key = format!("cadence:{opp}:{}", since.timestamp_micros());
            if is_new(&key) {
                let title = notice::cadence_title(managers.locale(d.owner_id), &d.number, &d.name, &stage.name, required, stage.cadence.per_days);
                tasks.push(task(TaskOrigin::Cadence, key, title, due));
            }
        }
        if let (true, Some(close)) = (a.close_reminder, d.expected_close_date) {
            let key = format!("close:{opp}:{close}");
            if is_new(&key) {
                let title = notice::close_date_title(managers.locale(d.owner_id), &d.number, &d.name, close);
                tasks.push(task(TaskOrigin::CloseDate, key, title, calendar.start_of_day(close)));
            }
        }
        if let Staleness::Alert { idle_days } = a.staleness
            && let Some(m) = managers.of(d.owner_id)
        {
            let alive = facts.touches.iter().copied().filter(|t| *t <= now).max().map_or(facts.last_update, |t| t.max(facts.last_update));
            let key = format!("stale:{opp}:{}", alive.timestamp_micros());
            if is_new(&key) {
                tells.push((m, Notice::DealStale { number: d.number.clone(), name: d.name.clone(), idle_days }, key));
            }
        }
        if a.dwell_over {
            let key = format!("dwell:{opp}:{}", d.stage_entered_at.timestamp_micros());
            if is_new(&key) {
                let limit = a.dwell_limit.map_or(0.0, |l| l.days());
                let notice = Notice::DealDwell { number: d.number.clone(), name: d.name.clone(), stage: stage.name.clone(), days: a.days_in_stage, limit };
                tells.push((d.owner_id, notice, key));
            }
        }
        found.tasks.extend(tasks);
        for (user, notice, key) in tells {
            found.notifications.push(Tell::new(user, notice, Some(("opportunity", opp.clone()))).keyed(key));
        }
        if a.at_risk() {
            let (stale_level, idle_days) = match a.staleness {
                Staleness::Fresh => ("fresh", 0.0),
                Staleness::Flagged { idle_days } => ("flagged", idle_days),
                Staleness::Alert { idle_days } => ("alert", idle_days),
            };
            found.risks.push(RiskRow {
                workspace_id: ws.to_string(),
                opportunity_id: opp.clone(),
                stale_level: stale_level.into(),
                // Whole days: what the risk list shows, and what lets a re-scan see that
                // nothing changed (the store rewrites only rows that did).
                idle_days: idle_days.floor(),
                days_in_stage: a.days_in_stage.floor(),
                dwell_limit_days: a.dwell_limit.map(|l| l.days()),
                dwell_basis: a.dwell_limit.map(|l| match l {
                    DwellLimit::Expected { .. } => "expected".into(),
                    DwellLimit::HistoricalP90 { .. } => "historical_p90".into(),
                }),
                dwell_over: a.dwell_over,
                cadence_short: matches!(a.cadence, CadenceCheck::Short { .. }),
                close_overdue: a.close_overdue,
                recommended_action: a.recommended.and_then(|r| serde_json::to_value(r).ok()).and_then(|v| v.as_str().map(str::to_string)),
                scanned_at: now,
                event_keys: (!keys.is_empty()).then(|| keys.join(" ")),
            });
        }
    }

    /// Overdue tasks past the grace period: their assignees' managers are told. Answers the
    /// tasks to mark escalated.
    fn escalations(&self, found: &mut Findings, overdue: &[Task], managers: &Managers) -> Vec<TaskId> {
        let mut ids = Vec::new();
        for t in overdue {
            ids.push(t.id);
            let Some(m) = managers.of(t.assignee_id) else { continue };
            let notice = Notice::TaskOverdue { title: t.title.clone(), due: t.due_at };
            found.notifications.push(Tell::new(m, notice, Some(("task", t.id.to_string()))).keyed(format!("overdue:{}:{}", t.id, t.due_at.timestamp_micros())));
        }
        ids
    }

    /// The deals at risk the caller sees (`/api/v1/risks`), highest risk first.
    pub async fn list_risks(&self, actor: &Actor, q: &RiskQuery) -> AppResult<ListPage<RiskListRow>> {
        let mut errors = kairos_domain::FieldErrors::new();
        let page = listing::page_request(&mut errors, q.limit.as_deref(), q.cursor.as_deref());
        let owner = crate::activities::parse_opt(&mut errors, "owner_id", &q.owner_id, UserId::parse);
        errors.finish()?;
        let mut conn = self.store.read().await?;
        Ok(ListPage::from_page(store::list_risks(&mut conn.conn(), actor.workspace(), &actor.scope, owner, page).await?))
    }

    pub async fn followup_settings(&self, actor: &Actor) -> AppResult<FollowUpSettings> {
        let mut conn = self.store.read().await?;
        Ok(store::get_settings(&mut conn.conn(), actor.workspace()).await?)
    }

    pub async fn put_followup_settings(&self, admin: AdminCap<'_>, s: FollowUpSettings) -> AppResult<FollowUpSettings> {
        let actor = admin.actor();
        let mut errors = kairos_domain::FieldErrors::new();
        if !(1..=60).contains(&s.stale_flag_days) {
            errors.add("stale_flag_days", "must be from 1 to 60 working days");
        }
        if s.stale_alert_days < s.stale_flag_days || s.stale_alert_days > 120 {
            errors.add("stale_alert_days", "must be at least stale_flag_days and at most 120 working days");
        }
        if !(s.dwell_factor.is_finite() && (1.0..=10.0).contains(&s.dwell_factor)) {
            errors.add("dwell_factor", "must be from 1 to 10");
        }
        if !(1..=10_000).contains(&s.dwell_history_min) {
            errors.add("dwell_history_min", "must be from 1 to 10,000 passages");
        }
        if s.task_grace_hours > 24 * 30 {
            errors.add("task_grace_hours", "must be at most 720 hours (30 days)");
        }
        errors.finish()?;
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let old = store::get_settings(&mut c, actor.workspace()).await?;
        store::set_settings(&mut c, actor.workspace(), &s).await?;
        let change = [kairos_domain::audit::FieldChange {
            field: "followup_settings".into(),
            old_value: serde_json::to_string(&old).ok(),
            new_value: serde_json::to_string(&s).ok(),
        }];
        self.audit(&mut c, Some(actor), "workspace", actor.workspace().to_string(), "followup_settings", &change).await?;
        drop(c);
        tx.commit().await?;
        Ok(s)
    }
}
