//! Tasks: typed in, or made by the follow-up rules exactly once per origin key.

use chrono::{DateTime, Utc};
use kairos_domain::activity::{RecordKind, Task, TaskOrigin, TaskStatus};
use kairos_domain::identity::DataScope;
use kairos_domain::ids::{OrgUnitId, TaskId, UserId, WorkspaceId};
use sea_query::{Alias, Cond, Expr, Func, OnConflict, Order, Query, SelectStatement};

use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::page::{Page, PageRequest, apply_page};
use crate::row::{parse_id, parse_opt_id, parse_stored};
use crate::scope::{col, owned_by};

#[derive(sqlx::FromRow)]
struct TaskRow {
    workspace_id: String,
    task_id: String,
    title: String,
    notes: Option<String>,
    due_at: DateTime<Utc>,
    assignee_id: String,
    org_unit_id: Option<String>,
    entity: Option<String>,
    entity_id: Option<String>,
    origin: String,
    origin_key: Option<String>,
    status: String,
    done_at: Option<DateTime<Utc>>,
    done_by: Option<String>,
    escalated_at: Option<DateTime<Utc>>,
    created_by: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

const FIELDS: [&str; 19] = [
    "workspace_id", "task_id", "title", "notes", "due_at", "assignee_id", "org_unit_id", "entity", "entity_id", "origin",
    "origin_key", "status", "done_at", "done_by", "escalated_at", "created_by", "created_at", "updated_at", "version",
];

impl TryFrom<TaskRow> for Task {
    type Error = StoreError;
    fn try_from(r: TaskRow) -> StoreResult<Task> {
        Ok(Task {
            id: parse_id(&r.task_id, TaskId::parse)?,
            workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            title: r.title,
            notes: r.notes,
            due_at: r.due_at,
            assignee_id: parse_id(&r.assignee_id, UserId::parse)?,
            org_unit_id: parse_opt_id(r.org_unit_id.as_deref(), OrgUnitId::parse)?,
            entity: r.entity.as_deref().map(|e| parse_stored(e, "task record kind", RecordKind::from_stored)).transpose()?,
            entity_id: r.entity_id,
            origin: parse_stored(&r.origin, "task origin", TaskOrigin::from_stored)?,
            origin_key: r.origin_key,
            status: parse_stored(&r.status, "task status", TaskStatus::from_stored)?,
            done_at: r.done_at,
            done_by: parse_opt_id(r.done_by.as_deref(), UserId::parse)?,
            escalated_at: r.escalated_at,
            created_by: parse_opt_id(r.created_by.as_deref(), UserId::parse)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

fn values(t: &Task) -> [sea_query::SimpleExpr; 19] {
    [
        t.workspace_id.to_string().into(),
        t.id.to_string().into(),
        t.title.clone().into(),
        t.notes.clone().into(),
        t.due_at.into(),
        t.assignee_id.to_string().into(),
        t.org_unit_id.map(|u| u.to_string()).into(),
        t.entity.map(|e| e.as_str().to_string()).into(),
        t.entity_id.clone().into(),
        t.origin.as_str().into(),
        t.origin_key.clone().into(),
        t.status.as_str().into(),
        t.done_at.into(),
        t.done_by.map(|u| u.to_string()).into(),
        t.escalated_at.into(),
        t.created_by.map(|u| u.to_string()).into(),
        t.created_at.into(),
        t.updated_at.into(),
        t.version.into(),
    ]
}

pub async fn insert_task(c: &mut Conn<'_>, t: &Task) -> StoreResult<()> {
    let mut q = Query::insert();
    q.into_table(Alias::new("task")).columns(FIELDS.map(Alias::new)).values_panic(values(t));
    c.execute(&q).await?;
    Ok(())
}

/// Inserts generated tasks, skipping those whose origin key exists already (made by an
/// earlier scan, here or on another instance); answers how many were new.
pub async fn insert_tasks_once(c: &mut Conn<'_>, tasks: &[Task]) -> StoreResult<u64> {
    let mut inserted = 0;
    for chunk in tasks.chunks(500) {
        let mut q = Query::insert();
        q.into_table(Alias::new("task"))
            .columns(FIELDS.map(Alias::new))
            .on_conflict(OnConflict::columns([Alias::new("workspace_id"), Alias::new("origin_key")]).do_nothing().to_owned());
        for t in chunk {
            q.values_panic(values(t));
        }
        inserted += c.execute(&q).await?;
    }
    Ok(inserted)
}

fn select() -> SelectStatement {
    let mut q = Query::select();
    q.from_as(Alias::new("task"), Alias::new("t"));
    for f in FIELDS {
        q.column((Alias::new("t"), Alias::new(f)));
    }
    q
}

pub async fn find_task(c: &mut Conn<'_>, ws: WorkspaceId, id: TaskId) -> StoreResult<Option<Task>> {
    let mut q = select();
    q.and_where(col("t", "workspace_id").eq(ws.to_string())).and_where(col("t", "task_id").eq(id.to_string()));
    c.fetch_optional::<TaskRow>(&q).await?.map(Task::try_from).transpose()
}

/// Writes the new state if the stored version is still `expected_version`.
pub async fn update_task(c: &mut Conn<'_>, t: &Task, expected_version: i64) -> StoreResult<()> {
    let mut q = Query::update();
    q.table(Alias::new("task"));
    for (field, value) in FIELDS.iter().zip(values(t)).skip(2) {
        q.value(Alias::new(*field), value);
    }
    q.and_where(Expr::col(Alias::new("workspace_id")).eq(t.workspace_id.to_string()))
        .and_where(Expr::col(Alias::new("task_id")).eq(t.id.to_string()))
        .and_where(Expr::col(Alias::new("version")).eq(expected_version));
    match c.execute(&q).await? {
        0 => Err(StoreError::StaleVersion),
        _ => Ok(()),
    }
}

/// Which tasks a list shows.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub assignee_id: Option<UserId>,
    /// The caller's scope over assignees ("my team's tasks").
    pub scope: Option<DataScope>,
    /// Stored statuses to include; empty for all.
    pub statuses: Vec<TaskStatus>,
    /// Only open tasks due before this (overdue ones, with `now`).
    pub due_before: Option<DateTime<Utc>>,
    pub entity: Option<(RecordKind, String)>,
    pub origin: Option<TaskOrigin>,
}

/// Earliest due first.
pub async fn list_tasks(c: &mut Conn<'_>, ws: WorkspaceId, f: &TaskFilter, page: PageRequest) -> StoreResult<Page<Task>> {
    let mut q = select();
    q.and_where(col("t", "workspace_id").eq(ws.to_string()));
    if let Some(u) = f.assignee_id {
        q.and_where(col("t", "assignee_id").eq(u.to_string()));
    }
    if let Some(cond) = f.scope.as_ref().and_then(|s| owned_by("t", "assignee_id", "org_unit_id", s)) {
        q.and_where(cond);
    }
    if !f.statuses.is_empty() {
        q.and_where(col("t", "status").is_in(f.statuses.iter().map(|s| s.as_str())));
    }
    if let Some(before) = f.due_before {
        q.and_where(col("t", "due_at").lt(before));
    }
    if let Some((kind, id)) = &f.entity {
        q.and_where(col("t", "entity").eq(kind.as_str())).and_where(col("t", "entity_id").eq(id.clone()));
    }
    if let Some(o) = f.origin {
        q.and_where(col("t", "origin").eq(o.as_str()));
    }
    let mut count = q.clone();
    count.clear_selects().expr(Func::count(Expr::col(Alias::new("task_id"))));
    let total = c.fetch_count(&count).await?;
    q.order_by((Alias::new("t"), Alias::new("due_at")), Order::Asc).order_by((Alias::new("t"), Alias::new("task_id")), Order::Asc);
    apply_page(&mut q, page);
    let rows: Vec<TaskRow> = c.fetch_all(&q).await?;
    let items = rows.into_iter().map(Task::try_from).collect::<StoreResult<Vec<_>>>()?;
    Ok(Page::new(items, total, page))
}

/// Closes the open tasks of some origins on a record (a touch settles the cadence task it
/// was owed for); answers how many.
pub async fn complete_open(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    entity: RecordKind,
    entity_id: &str,
    origins: &[TaskOrigin],
    by: UserId,
    at: DateTime<Utc>,
) -> StoreResult<u64> {
    let mut q = Query::update();
    q.table(Alias::new("task"))
        .value(Alias::new("status"), TaskStatus::Done.as_str())
        .value(Alias::new("done_at"), at)
        .value(Alias::new("done_by"), by.to_string())
        .value(Alias::new("updated_at"), at)
        .value(Alias::new("version"), Expr::col(Alias::new("version")).add(1))
        .cond_where(
            Cond::all()
                .add(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
                .add(Expr::col(Alias::new("entity")).eq(entity.as_str()))
                .add(Expr::col(Alias::new("entity_id")).eq(entity_id))
                .add(Expr::col(Alias::new("status")).eq(TaskStatus::Open.as_str()))
                .add(Expr::col(Alias::new("origin")).is_in(origins.iter().map(|o| o.as_str()))),
        );
    c.execute(&q).await
}

/// Closes the open task made for one origin key (a support request's work, …) as done or
/// cancelled. Answers how many were closed (0 or 1).
pub async fn settle_by_key(c: &mut Conn<'_>, ws: WorkspaceId, origin_key: &str, status: TaskStatus, by: UserId, at: DateTime<Utc>) -> StoreResult<u64> {
    c.execute(
        &sql("UPDATE task SET status = $1, done_at = $2, done_by = $3, updated_at = $2, version = version + 1 \
              WHERE workspace_id = $4 AND origin_key = $5 AND status = $6")
            .bind(status.as_str())
            .bind(at)
            .bind(by.to_string())
            .bind(ws.to_string())
            .bind(origin_key.to_string())
            .bind(TaskStatus::Open.as_str()),
    )
    .await
}

/// Open tasks due before `before` whose assignee's manager has not been told yet.
pub async fn overdue_unescalated(c: &mut Conn<'_>, ws: WorkspaceId, before: DateTime<Utc>) -> StoreResult<Vec<Task>> {
    let mut q = select();
    q.and_where(col("t", "workspace_id").eq(ws.to_string()))
        .and_where(col("t", "status").eq(TaskStatus::Open.as_str()))
        .and_where(col("t", "due_at").lt(before))
        .and_where(col("t", "escalated_at").is_null());
    let rows: Vec<TaskRow> = c.fetch_all(&q).await?;
    rows.into_iter().map(Task::try_from).collect()
}

/// Marks tasks escalated; only those not marked yet are (a concurrent scan cannot tell a
/// manager twice). Answers the ids it marked.
pub async fn mark_escalated(c: &mut Conn<'_>, ws: WorkspaceId, ids: &[TaskId], at: DateTime<Utc>) -> StoreResult<Vec<TaskId>> {
    let mut marked = Vec::new();
    // One statement per 500 tasks; RETURNING names those this call marked (a concurrent
    // scan's marks are not ours to report).
    for chunk in ids.chunks(500) {
        let mut q = Query::update();
        q.table(Alias::new("task"))
            .value(Alias::new("escalated_at"), at)
            .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
            .and_where(Expr::col(Alias::new("task_id")).is_in(chunk.iter().map(|i| i.to_string())))
            .and_where(Expr::col(Alias::new("escalated_at")).is_null())
            .returning_col(Alias::new("task_id"));
        let rows: Vec<(String,)> = c.fetch_all(&q).await?;
        for (id,) in rows {
            marked.push(parse_id(&id, TaskId::parse)?);
        }
    }
    Ok(marked)
}
