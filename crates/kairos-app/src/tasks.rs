//! Tasks (`/api/v1/tasks`): "my tasks" and "my team's tasks", typed in or made by the
//! follow-up rules. A task is seen by its assignee, its creator and whoever's data scope
//! covers the assignee (their managers).

use chrono::{DateTime, Utc};
use kairos_domain::FieldErrors;
use kairos_domain::activity::{RecordKind, Task, TaskDraft, TaskOrigin, TaskState, TaskStatus};
use kairos_domain::audit::FieldChange;
use kairos_domain::identity::DataScope;
use kairos_domain::ids::{AccountId, LeadId, OpportunityId, TaskId, UserId};
use kairos_domain::text;
use kairos_store::task::{self as store, TaskFilter};
use kairos_store::{Conn, StoreError, account, lead, opportunity, user};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::app::App;
use crate::outbox::Tell;
use kairos_domain::notice::Notice;
use crate::error::{AppError, AppResult};
use crate::input::required_version;
use crate::listing::{self, ListPage};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub title: String,
    #[serde(default)]
    pub notes: Option<String>,
    /// RFC 3339.
    pub due_at: DateTime<Utc>,
    /// Default: the caller. Someone else is told in their inbox.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub assignee_id: Option<String>,
    /// opportunity, account or lead; with `entity_id`.
    #[serde(default)]
    pub entity: Option<String>,
    #[serde(default)]
    pub entity_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    pub version: Option<i64>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(default)]
    #[schema(format = Uuid)]
    pub assignee_id: Option<String>,
    /// open, done or cancelled.
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// `mine` (default: assigned to the caller) or `team` (assigned to anyone in the
    /// caller's data scope: a manager's subtree).
    pub view: Option<String>,
    /// `open` (default; includes overdue), `overdue`, `done`, `cancelled` or `all`.
    pub state: Option<String>,
    /// opportunity, account or lead; with `entity_id`.
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    /// manual, activity, cadence, checklist, approval, escalation, close_date, support_request
    pub origin: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// A task with its state as of now (open tasks past due are overdue).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaskView {
    #[serde(flatten)]
    pub task: Task,
    pub state: TaskState,
}

impl App {
    fn view(&self, task: Task) -> TaskView {
        let state = task.state(self.now());
        TaskView { task, state }
    }

    pub async fn create_task(&self, actor: &Actor, input: NewTask) -> AppResult<TaskView> {
        let ws = actor.workspace();
        let now = self.now();
        let mut errors = FieldErrors::new();
        let title = errors.check("title", text::required_text(&input.title, 500));
        let notes = errors.check("notes", text::optional_text(input.notes.as_deref(), 4000)).flatten();
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let assignee = match input.assignee_id.as_deref() {
            None => Some((actor.id(), actor.user.org_unit_id)),
            Some(text) => active_user(&mut c, actor, &mut errors, "assignee_id", text).await?,
        };
        let entity = record(&mut c, actor, &mut errors, input.entity.as_deref(), input.entity_id.as_deref()).await?;
        errors.finish()?;
        let (assignee_id, unit) = assignee.ok_or_else(|| AppError::internal("assignee passed validation without a value"))?;
        let draft = TaskDraft {
            title: title.unwrap_or_default(),
            due_at: input.due_at,
            assignee_id,
            org_unit_id: unit,
            record: entity,
            origin: TaskOrigin::Manual,
            origin_key: None,
            created_by: Some(actor.id()),
        };
        let t = Task { notes, ..Task::open(TaskId::from_uuid(self.mint()), ws, draft, now) };
        store::insert_task(&mut c, &t).await?;
        if assignee_id != actor.id() {
            self.tell_assignee(&mut c, actor, &t).await?;
        }
        let change = [FieldChange { field: "title".into(), old_value: None, new_value: Some(t.title.clone()) }];
        self.audit(&mut c, Some(actor), "task", t.id.to_string(), "create", &change).await?;
        drop(c);
        tx.commit().await?;
        Ok(self.view(t))
    }

    async fn tell_assignee(&self, c: &mut Conn<'_>, actor: &Actor, t: &Task) -> AppResult<()> {
        let notice = Notice::TaskAssigned { by: actor.user.display_name.clone(), title: t.title.clone() };
        self.notify(c, t.workspace_id, vec![Tell::new(t.assignee_id, notice, Some(("task", t.id.to_string())))]).await?;
        Ok(())
    }

    pub async fn get_task(&self, actor: &Actor, id: &str) -> AppResult<TaskView> {
        let mut conn = self.store.read().await?;
        let t = visible_task(&mut conn.conn(), actor, id).await?;
        Ok(self.view(t))
    }

    pub async fn list_tasks(&self, actor: &Actor, q: &TaskQuery) -> AppResult<ListPage<TaskView>> {
        let ws = actor.workspace();
        let now = self.now();
        let mut errors = FieldErrors::new();
        let page = listing::page_request(&mut errors, q.limit.as_deref(), q.cursor.as_deref());
        let mut f = TaskFilter::default();
        match q.view.as_deref().map(str::trim) {
            None | Some("") | Some("mine") => f.assignee_id = Some(actor.id()),
            Some("team") => f.scope = Some(actor.scope.clone()),
            Some(_) => errors.add("view", "must be mine or team"),
        }
        match q.state.as_deref().map(str::trim) {
            None | Some("") | Some("open") => f.statuses = vec![TaskStatus::Open],
            Some("overdue") => {
                f.statuses = vec![TaskStatus::Open];
                f.due_before = Some(now);
            }
            Some("done") => f.statuses = vec![TaskStatus::Done],
            Some("cancelled") => f.statuses = vec![TaskStatus::Cancelled],
            Some("all") => {}
            Some(_) => errors.add("state", "must be open, overdue, done, cancelled or all"),
        }
        if let Some(o) = q.origin.as_deref().filter(|o| !o.trim().is_empty()) {
            f.origin = errors.check("origin", TaskOrigin::parse(o));
        }
        match (q.entity.as_deref().filter(|e| !e.is_empty()), q.entity_id.as_deref().filter(|e| !e.is_empty())) {
            (None, None) => {}
            (Some(kind), Some(id)) => {
                if let Some(k) = errors.check("entity", RecordKind::parse(kind)) {
                    f.entity = Some((k, id.trim().to_string()));
                }
            }
            (Some(_), None) => errors.add("entity_id", "is required with entity"),
            (None, Some(_)) => errors.add("entity", "is required with entity_id"),
        }
        errors.finish()?;
        let mut conn = self.store.read().await?;
        let found = store::list_tasks(&mut conn.conn(), ws, &f, page).await?;
        Ok(ListPage::from_page(found.map(|t| self.view(t))))
    }

    /// Changes a task: done, cancelled or reopened; retitled, rescheduled or handed over.
    pub async fn update_task(&self, actor: &Actor, id: &str, input: TaskPatch) -> AppResult<TaskView> {
        let now = self.now();
        let mut errors = FieldErrors::new();
        let version = required_version(&mut errors, input.version);
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let old = visible_task(&mut c, actor, id).await?;
        let mut new = old.clone();
        if let Some(t) = &input.title {
            new.title = errors.check("title", text::required_text(t, 500)).unwrap_or_default();
        }
        if let Some(n) = &input.notes {
            new.notes = errors.check("notes", text::optional_text(Some(n), 4000)).flatten();
        }
        if let Some(d) = input.due_at {
            new.due_at = d;
            // A new due time is a new chance: the manager is told again if this one slips.
            new.escalated_at = None;
        }
        if let Some(a) = input.assignee_id.as_deref() {
            if let Some((u, unit)) = active_user(&mut c, actor, &mut errors, "assignee_id", a).await? {
                new.assignee_id = u;
                new.org_unit_id = unit;
            }
        }
        if let Some(s) = input.status.as_deref() {
            if let Some(s) = errors.check("status", TaskStatus::parse(s)) {
                new.status = s;
                match s {
                    TaskStatus::Open => {
                        new.done_at = None;
                        new.done_by = None;
                    }
                    _ if old.status != s => {
                        new.done_at = Some(now);
                        new.done_by = Some(actor.id());
                    }
                    _ => {}
                }
            }
        }
        errors.finish()?;
        if version != old.version {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        if new == old {
            drop(c);
            tx.rollback().await?;
            return Ok(self.view(old));
        }
        new.version = old.version + 1;
        new.updated_at = now;
        match store::update_task(&mut c, &new, old.version).await {
            Err(StoreError::StaleVersion) => return Err(AppError::StaleVersion { current_version: None }),
            other => other?,
        }
        if new.assignee_id != old.assignee_id && new.assignee_id != actor.id() {
            self.tell_assignee(&mut c, actor, &new).await?;
        }
        let changes: Vec<FieldChange> = [
            ("title", old.title.clone(), new.title.clone()),
            ("due_at", old.due_at.to_rfc3339(), new.due_at.to_rfc3339()),
            ("assignee_id", old.assignee_id.to_string(), new.assignee_id.to_string()),
            ("status", old.status.as_str().to_string(), new.status.as_str().to_string()),
        ]
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(f, a, b)| FieldChange { field: f.into(), old_value: Some(a), new_value: Some(b) })
        .collect();
        self.audit(&mut c, Some(actor), "task", new.id.to_string(), "update", &changes).await?;
        drop(c);
        tx.commit().await?;
        Ok(self.view(new))
    }
}

/// A task the caller may see: assigned to them, created by them, or assigned to someone in
/// their scope. Anything else is "not found", so ids do not leak.
async fn visible_task(c: &mut Conn<'_>, actor: &Actor, id: &str) -> AppResult<Task> {
    let id = TaskId::parse(id).map_err(|_| AppError::NotFound { entity: "task" })?;
    let t = store::find_task(c, actor.workspace(), id).await?.ok_or(AppError::NotFound { entity: "task" })?;
    let in_scope = match &actor.scope {
        DataScope::All => true,
        DataScope::Own { user } => t.assignee_id == *user,
        DataScope::Subtree { user, units } => t.assignee_id == *user || t.org_unit_id.is_some_and(|u| units.contains(&u)),
    };
    if in_scope || t.assignee_id == actor.id() || t.created_by == Some(actor.id()) {
        Ok(t)
    } else {
        Err(AppError::NotFound { entity: "task" })
    }
}

async fn active_user(
    c: &mut Conn<'_>,
    actor: &Actor,
    errors: &mut FieldErrors,
    field: &str,
    text: &str,
) -> AppResult<Option<(UserId, Option<kairos_domain::ids::OrgUnitId>)>> {
    let found = match UserId::parse(text) {
        Ok(id) => user::find_user(c, actor.workspace(), id).await?,
        Err(_) => None,
    };
    match found {
        Some(u) if u.active => Ok(Some((u.id, u.org_unit_id))),
        Some(_) => {
            errors.add(field, "is a disabled user");
            Ok(None)
        }
        None => {
            errors.add(field, "does not name a user of this workspace");
            Ok(None)
        }
    }
}

/// The record a task is about, checked to be one the caller sees.
async fn record(
    c: &mut Conn<'_>,
    actor: &Actor,
    errors: &mut FieldErrors,
    kind: Option<&str>,
    id: Option<&str>,
) -> AppResult<Option<(RecordKind, String)>> {
    let ws = actor.workspace();
    let (kind, id) = match (kind.map(str::trim).filter(|k| !k.is_empty()), id.map(str::trim).filter(|i| !i.is_empty())) {
        (None, None) => return Ok(None),
        (Some(k), Some(i)) => (k, i),
        (Some(_), None) => {
            errors.add("entity_id", "is required with entity");
            return Ok(None);
        }
        (None, Some(_)) => {
            errors.add("entity", "is required with entity_id");
            return Ok(None);
        }
    };
    let Some(kind) = errors.check("entity", RecordKind::parse(kind)) else { return Ok(None) };
    let seen = match kind {
        RecordKind::Opportunity => match OpportunityId::parse(id) {
            Ok(o) => opportunity::find_opportunity(c, ws, &actor.scope, o).await?.is_some(),
            Err(_) => false,
        },
        RecordKind::Account => match AccountId::parse(id) {
            Ok(a) => account::find_account(c, ws, &actor.scope, a).await?.is_some(),
            Err(_) => false,
        },
        RecordKind::Lead => match LeadId::parse(id) {
            Ok(l) => lead::find_lead(c, ws, &actor.scope, l).await?.is_some(),
            Err(_) => false,
        },
    };
    if !seen {
        let what = match kind {
            RecordKind::Opportunity => "an opportunity",
            RecordKind::Account => "an account",
            RecordKind::Lead => "a lead",
        };
        errors.add("entity_id", format!("does not name {what} you can see"));
        return Ok(None);
    }
    Ok(Some((kind, id.to_string())))
}
