//! The outbox: webhook endpoints, deliveries waiting to be sent (or sent, or failed), and
//! people's e-mail preferences. Deliveries are claimed with a lease (see `claim`), so
//! several workers on one database never send the same message at once, and a worker that
//! dies leaves its messages to be claimed again.

use chrono::{DateTime, Utc};
use kairos_domain::identity::Locale;
use kairos_domain::ids::{DeliveryId, EndpointId, NotificationId, UserId, WorkspaceId};
use kairos_domain::outbox::{Delivery, Endpoint, EndpointKind, NotificationPrefs};
use sea_query::{Alias, Expr, Order, Query};

use crate::db::{Backend, Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::row::{parse_id, parse_opt_id, parse_stored, parse_tags, tags_json};

// ---- people ---------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct RecipientRow {
    user_id: String,
    display_name: String,
    email: String,
    active: bool,
    notification_prefs: String,
    locale: Option<String>,
}

/// Who a notification goes to, as the outbox needs them.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub user_id: UserId,
    pub display_name: String,
    pub email: String,
    pub active: bool,
    pub prefs: NotificationPrefs,
    /// Their own language, if they chose one.
    pub locale: Option<Locale>,
}

fn parse_prefs(text: &str) -> StoreResult<NotificationPrefs> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("bad notification_prefs {text:?}: {e}")))
}

/// The named people of a workspace with their e-mail preferences, in one query.
pub async fn recipients(c: &mut Conn<'_>, ws: WorkspaceId, users: &[UserId]) -> StoreResult<Vec<Recipient>> {
    let mut out = Vec::with_capacity(users.len());
    for chunk in users.chunks(500) {
        let mut q = Query::select();
        q.columns(["user_id", "display_name", "email", "active", "notification_prefs", "locale"].map(Alias::new))
            .from(Alias::new("app_user"))
            .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
            .and_where(Expr::col(Alias::new("user_id")).is_in(chunk.iter().map(|u| u.to_string())));
        let rows: Vec<RecipientRow> = c.fetch_all(&q).await?;
        for r in rows {
            out.push(Recipient {
                user_id: parse_id(&r.user_id, UserId::parse)?,
                display_name: r.display_name,
                email: r.email,
                active: r.active,
                prefs: parse_prefs(&r.notification_prefs)?,
                locale: r.locale.as_deref().and_then(|l| Locale::parse(l).ok()),
            });
        }
    }
    Ok(out)
}

/// Every person's chosen language (none: the workspace's) and the workspace's, for texts
/// written to many people at once (the scanners' tasks).
pub async fn locales(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<(Locale, std::collections::HashMap<UserId, Locale>)> {
    let (default,): (String,) = c.fetch_one(&sql("SELECT locale FROM workspace WHERE workspace_id = $1").bind(ws.to_string())).await?;
    let default = Locale::parse(&default).unwrap_or(Locale::ZhCn);
    let rows: Vec<(String, Option<String>)> =
        c.fetch_all(&sql("SELECT user_id, locale FROM app_user WHERE workspace_id = $1 AND locale IS NOT NULL").bind(ws.to_string())).await?;
    let mut out = std::collections::HashMap::new();
    for (id, locale) in rows {
        if let Some(l) = locale.as_deref().and_then(|l| Locale::parse(l).ok()) {
            out.insert(parse_id(&id, UserId::parse)?, l);
        }
    }
    Ok((default, out))
}

pub async fn get_prefs(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId) -> StoreResult<NotificationPrefs> {
    let text: Option<(String,)> = c
        .fetch_optional(&sql("SELECT notification_prefs FROM app_user WHERE workspace_id = $1 AND user_id = $2").bind(ws.to_string()).bind(user.to_string()))
        .await?;
    parse_prefs(&text.ok_or(StoreError::NotFound)?.0)
}

pub async fn set_prefs(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId, prefs: &NotificationPrefs) -> StoreResult<()> {
    let text = serde_json::to_string(prefs).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let n = c
        .execute(&sql("UPDATE app_user SET notification_prefs = $1 WHERE workspace_id = $2 AND user_id = $3").bind(text).bind(ws.to_string()).bind(user.to_string()))
        .await?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

// ---- endpoints ------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct EndpointRow {
    workspace_id: String,
    endpoint_id: String,
    name: String,
    kind: String,
    url: String,
    secret: Option<String>,
    events: String,
    active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

const ENDPOINT_COLUMNS: &str = "workspace_id, endpoint_id, name, kind, url, secret, events, active, created_at, updated_at, version";

impl TryFrom<EndpointRow> for Endpoint {
    type Error = StoreError;
    fn try_from(r: EndpointRow) -> StoreResult<Endpoint> {
        Ok(Endpoint {
            id: parse_id(&r.endpoint_id, EndpointId::parse)?,
            workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            name: r.name,
            kind: parse_stored(&r.kind, "endpoint kind", EndpointKind::parse)?,
            url: r.url,
            has_secret: r.secret.is_some(),
            secret: r.secret,
            events: parse_tags(&r.events)?,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

pub async fn list_endpoints(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Vec<Endpoint>> {
    let rows: Vec<EndpointRow> =
        c.fetch_all(&sql(format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoint WHERE workspace_id = $1 ORDER BY name, endpoint_id")).bind(ws.to_string())).await?;
    rows.into_iter().map(Endpoint::try_from).collect()
}

pub async fn get_endpoint(c: &mut Conn<'_>, ws: WorkspaceId, id: EndpointId) -> StoreResult<Endpoint> {
    let row: Option<EndpointRow> = c
        .fetch_optional(&sql(format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoint WHERE workspace_id = $1 AND endpoint_id = $2")).bind(ws.to_string()).bind(id.to_string()))
        .await?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

pub async fn insert_endpoint(c: &mut Conn<'_>, e: &Endpoint) -> StoreResult<()> {
    c.execute(
        &sql(format!("INSERT INTO webhook_endpoint ({ENDPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
            .bind(e.workspace_id.to_string())
            .bind(e.id.to_string())
            .bind(e.name.clone())
            .bind(e.kind.as_str())
            .bind(e.url.clone())
            .bind(e.secret.clone())
            .bind(tags_json(&e.events))
            .bind(e.active)
            .bind(e.created_at)
            .bind(e.updated_at)
            .bind(e.version),
    )
    .await?;
    Ok(())
}

/// Writes an edited endpoint if it is still at `expected_version`.
pub async fn update_endpoint(c: &mut Conn<'_>, e: &Endpoint, expected_version: i64) -> StoreResult<()> {
    let n = c
        .execute(
            &sql("UPDATE webhook_endpoint SET name = $1, kind = $2, url = $3, secret = $4, events = $5, active = $6, updated_at = $7, version = $8 \
                  WHERE workspace_id = $9 AND endpoint_id = $10 AND version = $11")
            .bind(e.name.clone())
            .bind(e.kind.as_str())
            .bind(e.url.clone())
            .bind(e.secret.clone())
            .bind(tags_json(&e.events))
            .bind(e.active)
            .bind(e.updated_at)
            .bind(e.version)
            .bind(e.workspace_id.to_string())
            .bind(e.id.to_string())
            .bind(expected_version),
        )
        .await?;
    if n == 0 { Err(StoreError::StaleVersion) } else { Ok(()) }
}

pub async fn delete_endpoint(c: &mut Conn<'_>, ws: WorkspaceId, id: EndpointId) -> StoreResult<()> {
    let n = c.execute(&sql("DELETE FROM webhook_endpoint WHERE workspace_id = $1 AND endpoint_id = $2").bind(ws.to_string()).bind(id.to_string())).await?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

// ---- deliveries -----------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    workspace_id: String,
    delivery_id: String,
    channel: String,
    endpoint_id: Option<String>,
    user_id: Option<String>,
    recipient: String,
    event: String,
    subject: String,
    body: String,
    notification_id: Option<String>,
    status: String,
    attempts: i64,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: [&str; 17] = [
    "workspace_id", "delivery_id", "channel", "endpoint_id", "user_id", "recipient", "event", "subject", "body", "notification_id", "status",
    "attempts", "next_attempt_at", "leased_by", "last_error", "created_at", "sent_at",
];

fn delivery_select() -> String {
    DELIVERY_COLUMNS.iter().filter(|c| **c != "leased_by").map(|c| format!("d.{c}")).collect::<Vec<_>>().join(", ")
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> StoreResult<Delivery> {
        Ok(Delivery {
            id: parse_id(&r.delivery_id, DeliveryId::parse)?,
            workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            channel: r.channel,
            endpoint_id: parse_opt_id(r.endpoint_id.as_deref(), EndpointId::parse)?,
            user_id: parse_opt_id(r.user_id.as_deref(), UserId::parse)?,
            recipient: r.recipient,
            event: r.event,
            subject: r.subject,
            body: r.body,
            notification_id: parse_opt_id(r.notification_id.as_deref(), NotificationId::parse)?,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
        })
    }
}

pub async fn insert_deliveries(c: &mut Conn<'_>, items: &[Delivery]) -> StoreResult<()> {
    for chunk in items.chunks(200) {
        let mut q = Query::insert();
        q.into_table(Alias::new("delivery")).columns(DELIVERY_COLUMNS.map(Alias::new));
        for d in chunk {
            q.values_panic([
                d.workspace_id.to_string().into(),
                d.id.to_string().into(),
                d.channel.clone().into(),
                d.endpoint_id.map(|e| e.to_string()).into(),
                d.user_id.map(|u| u.to_string()).into(),
                d.recipient.clone().into(),
                d.event.clone().into(),
                d.subject.clone().into(),
                d.body.clone().into(),
                d.notification_id.map(|n| n.to_string()).into(),
                d.status.clone().into(),
                d.attempts.into(),
                d.next_attempt_at.into(),
                Option::<String>::None.into(),
                d.last_error.clone().into(),
                d.created_at.into(),
                d.sent_at.into(),
            ]);
        }
        c.execute(&q).await?;
    }
    Ok(())
}

/// A claimed delivery with what is needed to send it: the endpoint as it is now (its URL
/// or secret may have changed since the message was written; a removed or switched-off
/// endpoint comes back as `None`).
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: Delivery,
    pub endpoint: Option<Endpoint>,
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    #[sqlx(flatten)]
    d: DeliveryRow,
    e_name: Option<String>,
    e_kind: Option<String>,
    e_url: Option<String>,
    e_secret: Option<String>,
    e_events: Option<String>,
    e_active: Option<bool>,
    e_version: Option<i64>,
}

/// Claims up to `limit` due deliveries of any workspace for `holder` until `until`: their
/// next attempt moves to `until` and their attempt count goes up, in one statement, so
/// exactly one worker gets each.
pub async fn claim(c: &mut Conn<'_>, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>, limit: i64) -> StoreResult<Vec<Claimed>> {
    let text = match c.backend() {
        // The rows are picked once, in a materialised CTE: as a subquery of the UPDATE,
        // PostgreSQL may run the pick again for each row it joins, and with SKIP LOCKED
        // every run locks further rows, so one worker took far more than `limit` (the
        // two-process test caught it). SKIP LOCKED lets concurrent workers take different
        // rows instead of queueing behind each other.
        Backend::Postgres => {
            "WITH picked AS MATERIALIZED (SELECT workspace_id, delivery_id FROM delivery \
             WHERE status = 'pending' AND next_attempt_at <= $3 ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
             UPDATE delivery d SET leased_by = $1, next_attempt_at = $2, attempts = d.attempts + 1 FROM picked \
             WHERE d.workspace_id = picked.workspace_id AND d.delivery_id = picked.delivery_id RETURNING d.workspace_id, d.delivery_id"
        }
        // SQLite has one writer, so the statement runs alone and its subquery once.
        Backend::Sqlite => {
            "UPDATE delivery SET leased_by = $1, next_attempt_at = $2, attempts = attempts + 1 \
             WHERE status = 'pending' AND next_attempt_at <= $3 AND (workspace_id, delivery_id) IN \
             (SELECT workspace_id, delivery_id FROM delivery WHERE status = 'pending' AND next_attempt_at <= $3 \
              ORDER BY next_attempt_at LIMIT $4) RETURNING workspace_id, delivery_id"
        }
    };
    let ids: Vec<(String, String)> = c.fetch_all(&sql(text).bind(holder.to_string()).bind(until).bind(now).bind(limit)).await?;
    if ids.len() as i64 > limit {
        return Err(StoreError::Corrupt(format!("claimed {} deliveries with a limit of {limit}", ids.len())));
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(200) {
        let keys = (0..chunk.len()).map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2)).collect::<Vec<_>>().join(", ");
        let mut q = sql(format!(
            "SELECT {}, e.name AS e_name, e.kind AS e_kind, e.url AS e_url, e.secret AS e_secret, e.events AS e_events, \
             e.active AS e_active, e.version AS e_version \
             FROM delivery d LEFT JOIN webhook_endpoint e ON e.workspace_id = d.workspace_id AND e.endpoint_id = d.endpoint_id \
             WHERE (d.workspace_id, d.delivery_id) IN ({keys}) ORDER BY d.next_attempt_at, d.delivery_id",
            delivery_select()
        ));
        for (ws, id) in chunk {
            q = q.bind(ws.clone()).bind(id.clone());
        }
        let rows: Vec<ClaimedRow> = c.fetch_all(&q).await?;
        for r in rows {
            let delivery = Delivery::try_from(r.d)?;
            let endpoint = match (delivery.endpoint_id, r.e_kind, r.e_url, r.e_active) {
                (Some(id), Some(kind), Some(url), Some(true)) => Some(Endpoint {
                    id,
                    workspace_id: delivery.workspace_id,
                    name: r.e_name.unwrap_or_default(),
                    kind: parse_stored(&kind, "endpoint kind", EndpointKind::parse)?,
                    url,
                    has_secret: r.e_secret.is_some(),
                    secret: r.e_secret,
                    events: parse_tags(r.e_events.as_deref().unwrap_or("[]"))?,
                    active: true,
                    created_at: delivery.created_at,
                    updated_at: delivery.created_at,
                    version: r.e_version.unwrap_or(1),
                }),
                _ => None,
            };
            out.push(Claimed { delivery, endpoint });
        }
    }
    Ok(out)
}

/// How one claimed delivery went.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent,
    /// Try again at this time.
    Retry { at: DateTime<Utc>, error: String },
    /// Attempts used up, or it can never succeed (its endpoint is gone).
    Failed { error: String },
}

/// Records how the claimed deliveries went, in as few statements as the outcomes allow.
/// Only rows still held by `holder` are touched: a worker that overran its lease must not
/// overwrite the result of the worker that took them over.
pub async fn finish(c: &mut Conn<'_>, holder: &str, now: DateTime<Utc>, results: &[(WorkspaceId, DeliveryId, Outcome)]) -> StoreResult<()> {
    let sent: Vec<_> = results.iter().filter(|(_, _, o)| matches!(o, Outcome::Sent)).collect();
    for chunk in sent.chunks(200) {
        let mut q = Query::update();
        q.table(Alias::new("delivery"))
            .values([
                (Alias::new("status"), "sent".into()),
                (Alias::new("sent_at"), now.into()),
                (Alias::new("last_error"), Option::<String>::None.into()),
                (Alias::new("leased_by"), Option::<String>::None.into()),
            ])
            .and_where(Expr::col(Alias::new("leased_by")).eq(holder))
            .and_where(
                Expr::tuple([Expr::col(Alias::new("workspace_id")).into(), Expr::col(Alias::new("delivery_id")).into()])
                    .in_tuples(chunk.iter().map(|(ws, id, _)| (ws.to_string(), id.to_string()))),
            );
        c.execute(&q).await?;
    }
    for (ws, id, outcome) in results {
        let (status, at, error) = match outcome {
            Outcome::Sent => continue,
            Outcome::Retry { at, error } => ("pending", *at, error),
            Outcome::Failed { error } => ("failed", now, error),
        };
        c.execute(
            &sql("UPDATE delivery SET status = $1, next_attempt_at = $2, last_error = $3, leased_by = NULL \
                  WHERE workspace_id = $4 AND delivery_id = $5 AND leased_by = $6")
            .bind(status)
            .bind(at)
            .bind(error.clone())
            .bind(ws.to_string())
            .bind(id.to_string())
            .bind(holder.to_string()),
        )
        .await?;
    }
    Ok(())
}

/// A workspace's deliveries, newest first, optionally only those of one status.
pub async fn list_deliveries(c: &mut Conn<'_>, ws: WorkspaceId, status: Option<&str>, limit: u64) -> StoreResult<Vec<Delivery>> {
    let mut q = Query::select();
    q.columns(DELIVERY_COLUMNS.iter().filter(|c| **c != "leased_by").map(|c| Alias::new(*c)))
        .from(Alias::new("delivery"))
        .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
        .order_by(Alias::new("created_at"), Order::Desc)
        .order_by(Alias::new("delivery_id"), Order::Desc)
        .limit(limit);
    if let Some(s) = status {
        q.and_where(Expr::col(Alias::new("status")).eq(s));
    }
    let rows: Vec<DeliveryRow> = c.fetch_all(&q).await?;
    rows.into_iter().map(Delivery::try_from).collect()
}

/// Counts by status, for the admin's overview.
pub async fn count_by_status(c: &mut Conn<'_>, ws: WorkspaceId) -> StoreResult<Vec<(String, i64)>> {
    c.fetch_all(&sql("SELECT status, COUNT(*) FROM delivery WHERE workspace_id = $1 GROUP BY status ORDER BY status").bind(ws.to_string())).await
}

/// Puts a failed delivery back in the queue with fresh attempts; false when it is not failed.
pub async fn retry(c: &mut Conn<'_>, ws: WorkspaceId, id: DeliveryId, now: DateTime<Utc>) -> StoreResult<bool> {
    let n = c
        .execute(
            &sql("UPDATE delivery SET status = 'pending', attempts = 0, next_attempt_at = $1 WHERE workspace_id = $2 AND delivery_id = $3 AND status = 'failed'")
                .bind(now)
                .bind(ws.to_string())
                .bind(id.to_string()),
        )
        .await?;
    Ok(n == 1)
}

pub async fn get_delivery(c: &mut Conn<'_>, ws: WorkspaceId, id: DeliveryId) -> StoreResult<Delivery> {
    let row: Option<DeliveryRow> = c
        .fetch_optional(
            &sql(format!("SELECT {} FROM delivery d WHERE d.workspace_id = $1 AND d.delivery_id = $2", delivery_select())).bind(ws.to_string()).bind(id.to_string()),
        )
        .await?;
    row.ok_or(StoreError::NotFound)?.try_into()
}
