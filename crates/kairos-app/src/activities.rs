//! Activities (`/api/v1/activities`): logging a call, visit or meeting against a deal, an
//! account or a lead. In the same transaction a logged touch marks the contacts it involved
//! reached on the deal (its health score follows), settles the cadence task it was owed for,
//! and turns the next step into a task.

use chrono::{DateTime, Utc};
use kairos_domain::FieldErrors;
use kairos_domain::activity::{self as domain, Activity, ActivityKind, RecordKind, Task, TaskDraft, TaskOrigin};
use kairos_domain::audit::FieldChange;
use kairos_domain::health::health;
use kairos_domain::ids::{AccountId, ActivityId, ContactId, LeadId, OpportunityId, TaskId};
use kairos_domain::opportunity::Opportunity;
use kairos_domain::text;
use kairos_store::activity::{self as store, ActivityFilter};
use kairos_store::{Conn, account, contact, lead, opportunity, task};
use serde::Deserialize;

use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::listing::{self, ListPage};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewActivity {
    /// call, email, meeting, visit, im, demo, other
    pub kind: String,
    /// When it happened (RFC 3339); default now. A time ahead logs a planned activity.
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub duration_minutes: Option<u32>,
    /// At least one of opportunity, account and lead.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub opportunity_id: Option<String>,
    #[serde(default)]
    #[schema(format = Uuid)]
    pub account_id: Option<String>,
    #[serde(default)]
    #[schema(format = Uuid)]
    pub lead_id: Option<String>,
    /// Contacts of the account who took part.
    #[serde(default)]
    pub contact_ids: Vec<String>,
    pub summary: String,
    #[serde(default)]
    pub outcome: Option<String>,
    /// What happens next; with `next_step_at` it becomes a task for the caller.
    #[serde(default)]
    pub next_step: Option<String>,
    #[serde(default)]
    pub next_step_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    #[param(format = Uuid)]
    pub opportunity_id: Option<String>,
    #[param(format = Uuid)]
    pub account_id: Option<String>,
    #[param(format = Uuid)]
    pub lead_id: Option<String>,
    /// Only activities logged by this user.
    #[param(format = Uuid)]
    pub owner_id: Option<String>,
    /// Inclusive start, RFC 3339.
    pub from: Option<String>,
    /// Exclusive end, RFC 3339.
    pub to: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// The records an activity is about, checked to be visible to the caller.
struct Links {
    opportunity: Option<Opportunity>,
    account_id: Option<AccountId>,
    lead_id: Option<LeadId>,
    contacts: Vec<ContactId>,
}

impl App {
    pub async fn log_activity(&self, actor: &Actor, input: NewActivity) -> AppResult<Activity> {
        let ws = actor.workspace();
        let now = self.now();
        let mut errors = FieldErrors::new();
        let kind = errors.check("kind", ActivityKind::parse(&input.kind));
        let summary = errors.check("summary", text::required_text(&input.summary, 4000));
        let outcome = errors.check("outcome", text::optional_text(input.outcome.as_deref(), 2000)).flatten();
        let step_text = errors.check("next_step", text::optional_text(input.next_step.as_deref(), 500)).flatten();
        let duration = errors.check_opt("duration_minutes", input.duration_minutes.map(domain::duration));
        let next = match domain::next_step(step_text, input.next_step_at) {
            Ok(n) => n,
            Err((field, p)) => {
                errors.add(field, p.0);
                None
            }
        };
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let links = resolve_links(&mut c, actor, &mut errors, &input).await?;
        errors.finish()?;
        let occurred_at = input.occurred_at.unwrap_or(now);
        let mut activity = Activity {
            id: ActivityId::from_uuid(self.mint()),
            workspace_id: ws,
            kind: kind.unwrap_or(ActivityKind::Other),
            occurred_at,
            duration_minutes: duration,
            opportunity_id: links.opportunity.as_ref().map(|o| o.id),
            account_id: links.account_id,
            lead_id: links.lead_id,
            contact_ids: links.contacts.clone(),
            summary: summary.unwrap_or_default(),
            outcome,
            next_step: next.as_ref().map(|(s, _)| s.clone()),
            next_step_at: next.as_ref().map(|(_, t)| *t),
            next_task_id: None,
            owner_id: actor.id(),
            org_unit_id: actor.user.org_unit_id,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let (entity, entity_id) = match (&links.opportunity, links.account_id, links.lead_id) {
            (Some(o), _, _) => (RecordKind::Opportunity, o.id.to_string()),
            (None, Some(a), _) => (RecordKind::Account, a.to_string()),
            (None, None, Some(l)) => (RecordKind::Lead, l.to_string()),
            (None, None, None) => return Err(AppError::internal("an activity without a record passed validation")),
        };
        if let Some((title, due)) = next {
            let draft = TaskDraft {
                title,
                due_at: due,
                assignee_id: actor.id(),
                org_unit_id: actor.user.org_unit_id,
                record: Some((entity, entity_id.clone())),
                origin: TaskOrigin::Activity,
                origin_key: None,
                created_by: Some(actor.id()),
            };
            let t = Task::open(TaskId::from_uuid(self.mint()), ws, draft, now);
            task::insert_task(&mut c, &t).await?;
            activity.next_task_id = Some(t.id);
        }
        store::insert_activity(&mut c, &activity).await?;
        if activity.is_touch(now) {
            // A touch settles the cadence task owed on the record.
            task::complete_open(&mut c, ws, entity, &entity_id, &[TaskOrigin::Cadence], actor.id(), now).await?;
            if let Some(o) = &links.opportunity {
                self.reach_contacts(&mut c, o, &links.contacts).await?;
            }
        }
        let changes = [
            FieldChange { field: "kind".into(), old_value: None, new_value: Some(activity.kind.as_str().into()) },
            FieldChange { field: entity.as_str().into(), old_value: None, new_value: Some(entity_id) },
        ];
        self.audit(&mut c, Some(actor), "activity", activity.id.to_string(), "create", &changes).await?;
        drop(c);
        tx.commit().await?;
        if let Some(o) = &links.opportunity {
            // The deal just showed life: its flags are refreshed now rather than at the next scan.
            self.refresh_risk(ws, o.id).await?;
        }
        Ok(activity)
    }

    /// Contacts the activity involved count as reached on the deal's decision chain; when
    /// that changes the chain, the health score is recomputed. The deal's version is kept:
    /// nothing a person typed changed, so an edit in progress must not conflict with it.
    async fn reach_contacts(&self, c: &mut Conn<'_>, o: &Opportunity, contacts: &[ContactId]) -> AppResult<()> {
        if !o.is_open() || opportunity::mark_reached(c, o.workspace_id, o.id, contacts).await? == 0 {
            return Ok(());
        }
        let links = opportunity::list_contacts(c, o.workspace_id, o.id).await?;
        let mut new = o.clone();
        new.health = health(&new.health_inputs(&links));
        new.priority = self.priority_of(c, &new).await?;
        if new.health != o.health || new.priority != o.priority {
            opportunity::update_opportunity(c, &new, o.version).await?;
            self.on_priority(c, o.priority, &new).await?;
            let change = FieldChange { field: "health".into(), old_value: Some(o.health.score.to_string()), new_value: Some(new.health.score.to_string()) };
            self.audit_as(c, o.workspace_id, None, "opportunity", o.id.to_string(), "contacts_reached", &[change]).await?;
        }
        Ok(())
    }

    pub async fn get_activity(&self, actor: &Actor, id: &str) -> AppResult<Activity> {
        let id = ActivityId::parse(id).map_err(|_| AppError::NotFound { entity: "activity" })?;
        let mut conn = self.store.read().await?;
        let mut c = conn.conn();
        let a = store::find_activity(&mut c, actor.workspace(), id).await?.ok_or(AppError::NotFound { entity: "activity" })?;
        if a.owner_id == actor.id() || sees_record_of(&mut c, actor, &a).await? {
            Ok(a)
        } else {
            Err(AppError::NotFound { entity: "activity" })
        }
    }

    /// A record's timeline (everyone's activities on a record the caller sees), or, without
    /// a record, the activities logged by people in the caller's scope.
    pub async fn list_activities(&self, actor: &Actor, q: &ActivityQuery) -> AppResult<ListPage<Activity>> {
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let page = listing::page_request(&mut errors, q.limit.as_deref(), q.cursor.as_deref());
        let mut f = ActivityFilter {
            opportunity_id: parse_opt(&mut errors, "opportunity_id", &q.opportunity_id, OpportunityId::parse),
            account_id: parse_opt(&mut errors, "account_id", &q.account_id, AccountId::parse),
            lead_id: parse_opt(&mut errors, "lead_id", &q.lead_id, LeadId::parse),
            owner_id: parse_opt(&mut errors, "owner_id", &q.owner_id, kairos_domain::ids::UserId::parse),
            scope: None,
            from: parse_time(&mut errors, "from", &q.from),
            to: parse_time(&mut errors, "to", &q.to),
        };
        errors.finish()?;
        let mut conn = self.store.read().await?;
        let mut c = conn.conn();
        let record_seen = if let Some(o) = f.opportunity_id {
            opportunity::find_opportunity(&mut c, ws, &actor.scope, o).await?.is_some()
        } else if let Some(a) = f.account_id {
            account::find_account(&mut c, ws, &actor.scope, a).await?.is_some()
        } else if let Some(l) = f.lead_id {
            lead::find_lead(&mut c, ws, &actor.scope, l).await?.is_some()
        } else {
            f.scope = Some(actor.scope.clone());
            true
        };
        if !record_seen {
            return Err(AppError::NotFound { entity: "record" });
        }
        Ok(ListPage::from_page(store::list_activities(&mut c, ws, &f, page).await?))
    }
}

async fn resolve_links(c: &mut Conn<'_>, actor: &Actor, errors: &mut FieldErrors, input: &NewActivity) -> AppResult<Links> {
    let ws = actor.workspace();
    let mut links = Links { opportunity: None, account_id: None, lead_id: None, contacts: Vec::new() };
    if input.opportunity_id.is_none() && input.account_id.is_none() && input.lead_id.is_none() {
        errors.add("opportunity_id", "an activity is about an opportunity, an account or a lead: name at least one");
        return Ok(links);
    }
    if let Some(text) = &input.opportunity_id {
        let found = match OpportunityId::parse(text) {
            Ok(id) => opportunity::find_opportunity(c, ws, &actor.scope, id).await?,
            Err(_) => None,
        };
        match found {
            Some(o) => {
                links.account_id = Some(o.account_id);
                links.opportunity = Some(o);
            }
            None => errors.add("opportunity_id", "does not name an opportunity you can see"),
        }
    }
    if let Some(text) = &input.account_id {
        let found = match AccountId::parse(text) {
            Ok(id) => account::find_account(c, ws, &actor.scope, id).await?.map(|a| a.id),
            Err(_) => None,
        };
        match (found, links.account_id) {
            (None, _) => errors.add("account_id", "does not name an account you can see"),
            (Some(a), Some(of_deal)) if a != of_deal => errors.add("account_id", "is not the opportunity's account"),
            (Some(a), _) => links.account_id = Some(a),
        }
    }
    if let Some(text) = &input.lead_id {
        let found = match LeadId::parse(text) {
            Ok(id) => lead::find_lead(c, ws, &actor.scope, id).await?.map(|l| l.id),
            Err(_) => None,
        };
        match found {
            Some(l) => links.lead_id = Some(l),
            None => errors.add("lead_id", "does not name a lead you can see"),
        }
    }
    for (i, text) in input.contact_ids.iter().enumerate() {
        let field = format!("contact_ids[{i}]");
        let found = match ContactId::parse(text) {
            Ok(id) => contact::find_contact(c, ws, &actor.scope, id).await?,
            Err(_) => None,
        };
        match (found, links.account_id) {
            (None, _) => errors.add(field, "does not name a contact you can see"),
            (Some(_), None) => errors.add(field, "name the account or opportunity the contact belongs to"),
            (Some(k), Some(a)) if k.account_id != a => errors.add(field, "is not a contact of the activity's account"),
            (Some(k), _) if links.contacts.contains(&k.id) => errors.add(field, "is listed twice"),
            (Some(k), _) => links.contacts.push(k.id),
        }
    }
    Ok(links)
}

/// Whether the caller sees the record an activity is about (and so its timeline).
async fn sees_record_of(c: &mut Conn<'_>, actor: &Actor, a: &Activity) -> AppResult<bool> {
    let ws = actor.workspace();
    if let Some(o) = a.opportunity_id {
        return Ok(opportunity::find_opportunity(c, ws, &actor.scope, o).await?.is_some());
    }
    if let Some(acc) = a.account_id {
        return Ok(account::find_account(c, ws, &actor.scope, acc).await?.is_some());
    }
    if let Some(l) = a.lead_id {
        return Ok(lead::find_lead(c, ws, &actor.scope, l).await?.is_some());
    }
    Ok(false)
}

pub(crate) fn parse_opt<T>(errors: &mut FieldErrors, field: &str, text: &Option<String>, parse: fn(&str) -> Result<T, kairos_domain::Problem>) -> Option<T> {
    match text.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => errors.check(field, parse(t)),
    }
}

pub(crate) fn parse_time(errors: &mut FieldErrors, field: &str, text: &Option<String>) -> Option<DateTime<Utc>> {
    match text.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => match DateTime::parse_from_rfc3339(t) {
            Ok(d) => Some(d.with_timezone(&Utc)),
            Err(_) => {
                errors.add(field, "must be a date and time like 2026-11-23T10:00:00+08:00");
                None
            }
        },
    }
}
