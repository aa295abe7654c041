//! Support requests (`/api/v1/support-requests`, PRODUCT.md §6): a deal's people ask
//! presales, customer success, finance or legal for help; the team answers within 24 hours
//! (48 for the presales request a priority deal opens by itself), finishes, and both sides
//! rate it. A request nobody answered in time is reported to the requester's manager by the
//! follow-up scan.

use chrono::{DateTime, NaiveDate, Utc};
use kairos_domain::FieldErrors;
use kairos_domain::activity::{RecordKind, Task, TaskDraft, TaskOrigin, TaskStatus};
use kairos_domain::ids::{OpportunityId, SupportRequestId, TaskId, UserId, WorkspaceId};
use kairos_domain::opportunity::Opportunity;
use kairos_domain::support::{self as rules, Standing, SupportAction, SupportDraft, SupportRequest, SupportStatus, SupportTeam};
use kairos_domain::text;
use kairos_store::page::PageRequest;
use kairos_store::support::{self as store, SupportFilter};
use kairos_store::user::{self, UserFilter};
use kairos_store::{Conn, opportunity};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::actor::Actor;
use crate::app::App;
use crate::outbox::Tell;
use kairos_domain::notice::{self, Notice};
use kairos_domain::org::{self, OrgTree};
use std::collections::HashMap;
use crate::error::{AppError, AppResult};

/// PRODUCT.md §5: a priority deal asks a director meeting within 7 working days.
const PRIORITY_MEETING_WORKING_DAYS: u32 = 7;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSupportRequest {
    #[schema(format = Uuid)]
    pub opportunity_id: String,
    pub team: SupportTeam,
    /// What kind of help (solution demo, technical exchange, pricing review, contract review…).
    pub kind: String,
    pub description: String,
    #[serde(default)]
    pub expected_output: Option<String>,
    /// When the help is needed by.
    #[serde(default)]
    pub due_on: Option<NaiveDate>,
    /// A named supporter (must hold the team's role); otherwise the whole team is asked.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub assignee_id: Option<String>,
}

/// An answer, a finish, a cancel or a rating.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportActionInput {
    /// Required to reject.
    #[serde(default)]
    pub reason: Option<String>,
    /// What was done (with `done`), or a comment (with a rating).
    #[serde(default)]
    pub note: Option<String>,
    /// 1–10, to rate.
    #[serde(default)]
    pub rating: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SupportQuery {
    /// `mine` (requested by the caller, the default), `incoming` (to the caller's teams or
    /// to the caller by name) or `deal` (with `opportunity_id`: every request of a deal the
    /// caller sees).
    pub view: Option<String>,
    pub opportunity_id: Option<String>,
    /// open, accepted, rejected, done or cancelled.
    pub status: Option<String>,
}

/// A request with its deal's number and name, and whether its answer is overdue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SupportView {
    #[serde(flatten)]
    pub request: SupportRequest,
    pub opportunity_number: String,
    pub opportunity_name: String,
    /// Open past its answer deadline.
    pub answer_overdue: bool,
}

fn teams_of(actor: &Actor) -> Vec<SupportTeam> {
    [SupportTeam::Presales, SupportTeam::CustomerSuccess, SupportTeam::Finance, SupportTeam::Legal].into_iter().filter(|t| actor.has_role(t.role())).collect()
}

fn standing(actor: &Actor, r: &SupportRequest) -> Standing {
    let supporter = match r.assignee_id {
        Some(a) => a == actor.id(),
        None => actor.has_role(r.team.role()),
    };
    Standing { requester: r.requester_id == actor.id(), supporter }
}

impl App {
    pub async fn create_support_request(&self, actor: &Actor, input: NewSupportRequest) -> AppResult<SupportView> {
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let kind = errors.check("kind", text::required_text(&input.kind, 100));
        let description = errors.check("description", text::required_text(&input.description, 4000));
        let expected_output = errors.check("expected_output", text::optional_text(input.expected_output.as_deref(), 2000)).flatten();
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let today = crate::calendar::load_calendar(&mut c, ws).await?.local_date(now);
        if input.due_on.is_some_and(|d| d < today) {
            errors.add("due_on", "must not be in the past");
        }
        let deal = match OpportunityId::parse(&input.opportunity_id) {
            Ok(id) => opportunity::find_opportunity(&mut c, ws, &actor.scope, id).await?,
            Err(_) => None,
        };
        if deal.is_none() {
            errors.add("opportunity_id", "is not an opportunity you can see");
        }
        let assignee = match input.assignee_id.as_deref() {
            None => None,
            Some(text) => match UserId::parse(text) {
                Ok(id) => match user::find_user(&mut c, ws, id).await? {
                    Some(u) if u.active && u.roles.contains(input.team.role()) => Some(u.id),
                    Some(_) => {
                        errors.add("assignee_id", format!("must be an active user with the {} role", input.team.as_str()));
                        None
                    }
                    None => {
                        errors.add("assignee_id", "is not a user of this workspace");
                        None
                    }
                },
                Err(p) => {
                    errors.add("assignee_id", p.0);
                    None
                }
            },
        };
        errors.finish()?;
        let (Some(deal), Some(kind), Some(description)) = (deal, kind, description) else {
            return Err(AppError::internal("validated support request lost a field"));
        };
        let draft = SupportDraft {
            id: SupportRequestId::from_uuid(self.mint()),
            workspace_id: ws,
            opportunity_id: deal.id,
            team: input.team,
            kind,
            description,
            expected_output,
            due_on: input.due_on,
            requester_id: actor.id(),
            assignee_id: assignee,
            priority: false,
        };
        let r = SupportRequest::open(draft, now);
        store::insert(&mut c, &r).await?;
        self.tell_supporters(&mut c, &r, &deal, &actor.user.display_name).await?;
        self.audit(&mut c, Some(actor), "support_request", r.id.to_string(), "create", &[]).await?;
        drop(c);
        tx.commit().await?;
        Ok(view(r, &deal, now))
    }

    /// Opens the presales request a deal owes when it has just become a priority deal (§5):
    /// once per deal, whoever or whatever raised its priority.
    pub(crate) async fn on_priority(&self, c: &mut Conn<'_>, was_priority: bool, o: &Opportunity) -> AppResult<()> {
        if was_priority || !o.priority || !o.is_open() {
            return Ok(());
        }
        let draft = SupportDraft {
            id: SupportRequestId::from_uuid(self.mint()),
            workspace_id: o.workspace_id,
            opportunity_id: o.id,
            team: SupportTeam::Presales,
            kind: "priority deal".into(),
            description: format!("{} {} became a priority deal (high health and amount): presales support requested automatically.", o.number, o.name),
            expected_output: None,
            due_on: None,
            requester_id: o.owner_id,
            assignee_id: None,
            priority: true,
        };
        let r = SupportRequest::open(draft, self.now());
        if store::insert(c, &r).await? {
            self.tell_supporters(c, &r, o, "Kairos").await?;
        }
        self.ask_director_meeting(c, o).await
    }

    /// The other half of the priority queue (PRODUCT.md §5): the deal's director is asked to
    /// meet the customer within 7 working days, as a task of theirs (origin
    /// `priority_meeting`, once per deal) and a notification. A workspace without an active
    /// director gets the presales request alone.
    async fn ask_director_meeting(&self, c: &mut Conn<'_>, o: &Opportunity) -> AppResult<()> {
        let ws = o.workspace_id;
        let f = UserFilter { active: Some(true), role: Some("director".into()), ..UserFilter::default() };
        let directors = user::list_users(c, ws, &f, PageRequest { limit: 200, offset: 0 }).await?.items;
        let ids: Vec<UserId> = directors.iter().map(|u| u.id).collect();
        let units = kairos_store::org_unit::list_org_units(c, ws).await?;
        let tree = OrgTree::new(units.iter().map(|u| (u.id, u.parent_id)).collect());
        let managers: HashMap<_, _> = units.iter().filter_map(|u| u.manager_id.map(|m| (u.id, m))).collect();
        let Some(director) = org::director_for(&tree, &managers, o.org_unit_id, &ids).and_then(|d| directors.iter().find(|u| u.id == d)) else {
            return Ok(());
        };
        let calendar = crate::calendar::load_calendar(c, ws).await?;
        let now = self.now();
        let by = calendar.add_working_days(calendar.local_date(now), PRIORITY_MEETING_WORKING_DAYS);
        let locale = match director.locale {
            Some(l) => l,
            None => kairos_store::workspace::get_workspace(c, ws).await?.locale,
        };
        let draft = TaskDraft {
            title: notice::priority_meeting_title(locale, &o.number, &o.name),
            // The end of the working day the meeting is due on.
            due_at: calendar.start_of_day(by) + chrono::Duration::hours(18),
            assignee_id: director.id,
            org_unit_id: director.org_unit_id,
            record: Some((RecordKind::Opportunity, o.id.to_string())),
            origin: TaskOrigin::PriorityMeeting,
            origin_key: Some(format!("priority_meeting:{}", o.id)),
            created_by: None,
        };
        let task = Task::open(TaskId::from_uuid(self.mint()), ws, draft, now);
        if kairos_store::task::insert_tasks_once(c, &[task]).await? > 0 {
            let notice = Notice::PriorityMeeting { number: o.number.clone(), name: o.name.clone(), by };
            self.notify(c, ws, vec![Tell::new(director.id, notice, Some(("opportunity", o.id.to_string())))]).await?;
        }
        Ok(())
    }

    async fn tell_supporters(&self, c: &mut Conn<'_>, r: &SupportRequest, deal: &Opportunity, by: &str) -> AppResult<()> {
        let people = match r.assignee_id {
            Some(a) => vec![a],
            None => {
                let f = UserFilter { active: Some(true), role: Some(r.team.as_str().to_string()), ..UserFilter::default() };
                user::list_users(c, r.workspace_id, &f, PageRequest { limit: 200, offset: 0 }).await?.items.into_iter().map(|u| u.id).collect()
            }
        };
        let notice = Notice::SupportAsked {
            by: by.to_string(),
            team: r.team.as_str().into(),
            number: deal.number.clone(),
            name: deal.name.clone(),
            what: r.kind.clone(),
            answer_by: r.accept_by,
        };
        let tells = people.into_iter().map(|u| Tell::new(u, notice.clone(), Some(("support_request", r.id.to_string())))).collect();
        self.notify(c, r.workspace_id, tells).await.map(|_| ())
    }

    pub async fn list_support_requests(&self, actor: &Actor, q: &SupportQuery) -> AppResult<Vec<SupportView>> {
        let ws = actor.workspace();
        let status = match q.status.as_deref() {
            None => None,
            Some(s) => Some(SupportStatus::from_stored(s).ok_or_else(|| AppError::field("status", "must be open, accepted, rejected, done or cancelled"))?),
        };
        let mut conn = self.store.read().await?;
        let mut c = conn.conn();
        let mut f = SupportFilter { status, ..SupportFilter::default() };
        match q.view.as_deref().unwrap_or("mine") {
            "mine" => f.requester = Some(actor.id()),
            "incoming" => f.teams = Some((teams_of(actor), actor.id())),
            "deal" => {
                let id = q.opportunity_id.as_deref().ok_or_else(|| AppError::field("opportunity_id", "is required with view=deal"))?;
                let id = OpportunityId::parse(id).map_err(|p| AppError::field("opportunity_id", p.0))?;
                if opportunity::find_opportunity(&mut c, ws, &actor.scope, id).await?.is_none() {
                    return Err(AppError::NotFound { entity: "opportunity" });
                }
                f.opportunity = Some(id);
            }
            _ => return Err(AppError::field("view", "must be mine, incoming or deal")),
        }
        let found = store::list(&mut c, ws, &f, 200).await?;
        self.views(&mut c, ws, found).await
    }

    /// Deal number and name for each request, in one read per distinct deal (at most 200).
    async fn views(&self, c: &mut Conn<'_>, ws: WorkspaceId, found: Vec<SupportRequest>) -> AppResult<Vec<SupportView>> {
        let mut ids: Vec<OpportunityId> = found.iter().map(|r| r.opportunity_id).collect();
        ids.sort();
        ids.dedup();
        let deals = opportunity::names_of(c, ws, &ids).await?;
        let now = self.now();
        Ok(found
            .into_iter()
            .map(|r| {
                let (number, name) = deals.get(&r.opportunity_id).cloned().unwrap_or_default();
                let answer_overdue = r.status == SupportStatus::Open && now > r.accept_by;
                SupportView { request: r, opportunity_number: number, opportunity_name: name, answer_overdue }
            })
            .collect())
    }

    /// A request the caller is party to (requester, supporter) or whose deal they see.
    async fn visible_request(&self, c: &mut Conn<'_>, actor: &Actor, id: &str) -> AppResult<(SupportRequest, Opportunity)> {
        let ws = actor.workspace();
        let not_found = || AppError::NotFound { entity: "support request" };
        let id = SupportRequestId::parse(id).map_err(|_| not_found())?;
        let r = store::get(c, ws, id).await?.ok_or_else(not_found)?;
        let party = standing(actor, &r);
        // Parties see the request even when the deal lies outside their scope (presales is
        // asked about deals it does not own).
        let deal = if party.requester || party.supporter {
            opportunity::find_opportunity(c, ws, &kairos_domain::identity::DataScope::All, r.opportunity_id).await?
        } else {
            opportunity::find_opportunity(c, ws, &actor.scope, r.opportunity_id).await?
        };
        Ok((r, deal.ok_or_else(not_found)?))
    }

    pub async fn get_support_request(&self, actor: &Actor, id: &str) -> AppResult<SupportView> {
        let mut conn = self.store.read().await?;
        let (r, deal) = self.visible_request(&mut conn.conn(), actor, id).await?;
        Ok(view(r, &deal, self.now()))
    }

    /// `accept`, `reject`, `done`, `cancel` or `rate`.
    pub async fn act_on_support_request(&self, actor: &Actor, id: &str, verb: &str, input: SupportActionInput) -> AppResult<SupportView> {
        let action = match verb {
            "accept" => SupportAction::Accept,
            "reject" => match input.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
                Some(r) if r.chars().count() <= 1000 => SupportAction::Reject { reason: r.to_string() },
                Some(_) => return Err(AppError::field("reason", "must be at most 1,000 characters")),
                None => return Err(AppError::field("reason", "is required: say why the request is rejected")),
            },
            "done" => SupportAction::Done { note: input.note.clone() },
            "cancel" => SupportAction::Cancel,
            "rate" => match input.rating {
                Some(r) if (1..=10).contains(&r) => SupportAction::Rate { rating: r as u8, comment: input.note.clone() },
                _ => return Err(AppError::field("rating", "is required, from 1 to 10")),
            },
            _ => return Err(AppError::NotFound { entity: "support request action" }),
        };
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let (r, deal) = self.visible_request(&mut c, actor, id).await?;
        let next = rules::apply(&r, action, standing(actor, &r), actor.id(), now)
            .map_err(|refusal| AppError::Refused { code: refusal.code, message: refusal.message, details: json!({ "status": r.status }) })?;
        store::update(&mut c, &next, r.version).await?;
        self.support_task(&mut c, actor, &next, &deal, verb).await?;
        // Tell the other side.
        let (verb_done, other) = match verb {
            "accept" => ("accepted", Some(next.requester_id)),
            "reject" => ("rejected", Some(next.requester_id)),
            "done" => ("done", Some(next.requester_id)),
            "cancel" => ("cancelled", next.assignee_id),
            _ => ("", None),
        };
        if let Some(user) = other.filter(|u| *u != actor.id()) {
            let notice = Notice::SupportAnswered {
                by: actor.user.display_name.clone(),
                verb: verb_done.into(),
                team: next.team.as_str().into(),
                number: deal.number.clone(),
                name: deal.name.clone(),
                reason: next.reject_reason.clone(),
            };
            self.notify(&mut c, next.workspace_id, vec![Tell::new(user, notice, Some(("support_request", next.id.to_string())))]).await?;
        }
        let change = [kairos_domain::audit::FieldChange { field: "status".into(), old_value: Some(r.status.as_str().into()), new_value: Some(next.status.as_str().into()) }];
        self.audit(&mut c, Some(actor), "support_request", next.id.to_string(), verb, &change).await?;
        drop(c);
        tx.commit().await?;
        Ok(view(next, &deal, now))
    }
}

impl App {
    /// The supporter's work is a task of theirs (origin `support_request`): made when they
    /// accept, due on the day asked for (18:00 China time) or three days on, closed when the
    /// request is done or cancelled.
    async fn support_task(&self, c: &mut Conn<'_>, actor: &Actor, r: &SupportRequest, deal: &Opportunity, verb: &str) -> AppResult<()> {
        let key = format!("support:{}", r.id);
        let now = self.now();
        match verb {
            "accept" => {
                let china = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
                let due = r
                    .due_on
                    .and_then(|d| d.and_hms_opt(18, 0, 0))
                    .and_then(|t| t.and_local_timezone(china).single())
                    .map(|t| t.with_timezone(&Utc))
                    .filter(|t| *t > now)
                    .unwrap_or(now + chrono::Duration::days(3));
                let draft = TaskDraft {
                    title: format!("{}: {} {}", r.kind, deal.number, deal.name),
                    due_at: due,
                    assignee_id: actor.id(),
                    org_unit_id: actor.user.org_unit_id,
                    record: Some((RecordKind::Opportunity, deal.id.to_string())),
                    origin: TaskOrigin::SupportRequest,
                    origin_key: Some(key),
                    created_by: Some(actor.id()),
                };
                kairos_store::task::insert_tasks_once(c, &[Task::open(TaskId::from_uuid(self.mint()), r.workspace_id, draft, now)]).await?;
            }
            "done" => {
                kairos_store::task::settle_by_key(c, r.workspace_id, &key, TaskStatus::Done, actor.id(), now).await?;
            }
            "cancel" => {
                kairos_store::task::settle_by_key(c, r.workspace_id, &key, TaskStatus::Cancelled, actor.id(), now).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

fn view(r: SupportRequest, deal: &Opportunity, now: DateTime<Utc>) -> SupportView {
    let answer_overdue = r.status == SupportStatus::Open && now > r.accept_by;
    SupportView { request: r, opportunity_number: deal.number.clone(), opportunity_name: deal.name.clone(), answer_overdue }
}
