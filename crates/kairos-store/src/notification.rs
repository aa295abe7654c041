//! In-app notifications.

use chrono::{DateTime, Utc};
use kairos_domain::ids::{NotificationId, UserId, WorkspaceId};
use kairos_domain::notification::Notification;
use sea_query::{Alias, Expr, OnConflict, Query};

use crate::db::{Conn, sql};
use crate::error::StoreResult;
use crate::row::parse_id;

#[derive(sqlx::FromRow)]
struct NotificationRow {
    workspace_id: String,
    notification_id: String,
    user_id: String,
    kind: String,
    message: String,
    entity: Option<String>,
    entity_id: Option<String>,
    created_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
}

const COLUMNS: [&str; 9] = ["workspace_id", "notification_id", "user_id", "kind", "message", "entity", "entity_id", "created_at", "read_at"];

fn values(n: &Notification) -> [sea_query::SimpleExpr; 9] {
    [
        n.workspace_id.to_string().into(),
        n.id.to_string().into(),
        n.user_id.to_string().into(),
        n.kind.clone().into(),
        n.message.clone().into(),
        n.entity.clone().into(),
        n.entity_id.clone().into(),
        n.created_at.into(),
        n.read_at.into(),
    ]
}

pub async fn insert_notifications(c: &mut Conn<'_>, items: &[Notification]) -> StoreResult<()> {
    for chunk in items.chunks(500) {
        let mut q = Query::insert();
        q.into_table(Alias::new("notification")).columns(COLUMNS.map(Alias::new));
        for n in chunk {
            q.values_panic(values(n));
        }
        c.execute(&q).await?;
    }
    Ok(())
}

/// Inserts notifications that report one event each, named by their dedup key: a key that
/// exists already (an earlier scan, here or on another instance, reported it) is skipped.
/// Answers how many were new.
pub async fn insert_notifications_once(c: &mut Conn<'_>, items: &[(Notification, String)]) -> StoreResult<u64> {
    let mut inserted = 0;
    for chunk in items.chunks(500) {
        let mut q = Query::insert();
        q.into_table(Alias::new("notification"))
            .columns(COLUMNS.iter().chain(&["dedup_key"]).map(|c| Alias::new(*c)))
            .on_conflict(OnConflict::columns([Alias::new("workspace_id"), Alias::new("dedup_key")]).do_nothing().to_owned());
        for (n, key) in chunk {
            q.values_panic(values(n).into_iter().chain([key.clone().into()]));
        }
        inserted += c.execute(&q).await?;
    }
    Ok(inserted)
}

/// Which of these notifications exist (after an insert that skips duplicates).
pub async fn existing_ids(c: &mut Conn<'_>, ws: WorkspaceId, ids: &[NotificationId]) -> StoreResult<std::collections::HashSet<NotificationId>> {
    let mut out = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        let mut q = Query::select();
        q.column(Alias::new("notification_id"))
            .from(Alias::new("notification"))
            .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
            .and_where(Expr::col(Alias::new("notification_id")).is_in(chunk.iter().map(|i| i.to_string())));
        let rows: Vec<(String,)> = c.fetch_all(&q).await?;
        for (id,) in rows {
            out.insert(parse_id(&id, NotificationId::parse)?);
        }
    }
    Ok(out)
}

/// A person's notifications, newest first.
pub async fn list_notifications(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId, unread_only: bool, limit: i64) -> StoreResult<Vec<Notification>> {
    let text = if unread_only {
        "SELECT workspace_id, notification_id, user_id, kind, message, entity, entity_id, created_at, read_at FROM notification WHERE workspace_id = $1 AND user_id = $2 AND read_at IS NULL ORDER BY created_at DESC, notification_id DESC LIMIT $3"
    } else {
        "SELECT workspace_id, notification_id, user_id, kind, message, entity, entity_id, created_at, read_at FROM notification WHERE workspace_id = $1 AND user_id = $2 ORDER BY created_at DESC, notification_id DESC LIMIT $3"
    };
    let rows: Vec<NotificationRow> = c.fetch_all(&sql(text).bind(ws.to_string()).bind(user.to_string()).bind(limit)).await?;
    rows.into_iter()
        .map(|r| {
            Ok(Notification {
                id: parse_id(&r.notification_id, NotificationId::parse)?,
                workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
                user_id: parse_id(&r.user_id, UserId::parse)?,
                kind: r.kind,
                message: r.message,
                entity: r.entity,
                entity_id: r.entity_id,
                created_at: r.created_at,
                read_at: r.read_at,
            })
        })
        .collect()
}

pub async fn count_unread(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId) -> StoreResult<i64> {
    c.fetch_count(
        &sql("SELECT COUNT(*) FROM notification WHERE workspace_id = $1 AND user_id = $2 AND read_at IS NULL")
            .bind(ws.to_string())
            .bind(user.to_string()),
    )
    .await
}

/// Marks one (or, with `None`, every) notification of the person as read.
pub async fn mark_read(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId, id: Option<NotificationId>, at: DateTime<Utc>) -> StoreResult<u64> {
    match id {
        Some(id) => {
            c.execute(
                &sql("UPDATE notification SET read_at = $1 WHERE workspace_id = $2 AND user_id = $3 AND notification_id = $4 AND read_at IS NULL")
                    .bind(at)
                    .bind(ws.to_string())
                    .bind(user.to_string())
                    .bind(id.to_string()),
            )
            .await
        }
        None => {
            c.execute(
                &sql("UPDATE notification SET read_at = $1 WHERE workspace_id = $2 AND user_id = $3 AND read_at IS NULL")
                    .bind(at)
                    .bind(ws.to_string())
                    .bind(user.to_string()),
            )
            .await
        }
    }
}
