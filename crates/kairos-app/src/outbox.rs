//! The outbox (PRODUCT.md §6, §10). Use-cases that tell someone something call `notify`,
//! and deal events call `emit_opportunity_event`, inside their own transaction: the in-app
//! notification and the deliveries it causes (an e-mail, a chat group post, a signed
//! webhook) commit or roll back with the event itself, so none is lost and none is sent for
//! an event that did not happen. A worker (kairos-jobs) sends them later.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kairos_domain::ids::{DeliveryId, EndpointId, NotificationId, UserId, WorkspaceId};
use kairos_domain::identity::Locale;
use kairos_domain::notice::{self, DealNews, Notice};
use kairos_domain::notification::Notification;
use kairos_domain::opportunity::Opportunity;
use kairos_domain::outbox::{self as rules, Delivery, Endpoint, EndpointKind, NotificationPrefs};
use kairos_store::db::Conn;
use kairos_store::notification;
use kairos_store::outbox::{self as store, Claimed, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::actor::{Actor, AdminCap};
use crate::app::App;
use crate::error::{AppError, AppResult};

/// Someone to tell something, about a record, optionally keyed to report an event once.
pub(crate) struct Tell {
    pub user: UserId,
    pub notice: Notice,
    pub record: Option<(&'static str, String)>,
    pub key: Option<String>,
}

impl Tell {
    pub fn new(user: UserId, notice: Notice, record: Option<(&'static str, String)>) -> Tell {
        Tell { user, notice, record, key: None }
    }

    pub fn keyed(mut self, key: String) -> Tell {
        self.key = Some(key);
        self
    }
}

/// A deal event for webhooks, with what happened to the stage.
pub(crate) struct DealEvent<'a> {
    pub event: &'static str,
    pub opportunity: &'a Opportunity,
    pub stage_name: Option<&'a str>,
    pub from_stage_name: Option<&'a str>,
    pub actor: Option<UserId>,
    pub at: DateTime<Utc>,
}

impl App {
    /// Tells people something: writes each notification in its recipient's language (their
    /// own, else the workspace's) to their inbox, and what it causes to the outbox, in the
    /// caller's transaction. A keyed notice reports one event: a key told before (by an
    /// earlier scan, here or on another instance) is skipped. Answers how many were new.
    pub(crate) async fn notify(&self, c: &mut Conn<'_>, ws: WorkspaceId, tells: Vec<Tell>) -> AppResult<u64> {
        if tells.is_empty() {
            return Ok(0);
        }
        let mut users: Vec<UserId> = tells.iter().map(|t| t.user).collect();
        users.sort();
        users.dedup();
        let people: HashMap<UserId, store::Recipient> = store::recipients(c, ws, &users).await?.into_iter().map(|r| (r.user_id, r)).collect();
        let default = if people.values().all(|p| p.locale.is_some()) {
            Locale::ZhCn
        } else {
            kairos_store::workspace::get_workspace(c, ws).await?.locale
        };
        let now = self.now();
        let (mut plain, mut keyed) = (Vec::new(), Vec::new());
        for t in tells {
            let locale = people.get(&t.user).and_then(|p| p.locale).unwrap_or(default);
            let (entity, entity_id) = t.record.map_or((None, None), |(k, id)| (Some(k.to_string()), Some(id)));
            let n = Notification {
                id: NotificationId::from_uuid(self.mint()),
                workspace_id: ws,
                user_id: t.user,
                kind: t.notice.kind().into(),
                message: t.notice.text(locale),
                entity,
                entity_id,
                created_at: now,
                read_at: None,
            };
            match t.key {
                Some(key) => keyed.push((n, key)),
                None => plain.push(n),
            }
        }
        notification::insert_notifications(c, &plain).await?;
        let mut told = plain;
        let mut inserted = told.len() as u64;
        if !keyed.is_empty() {
            let new = notification::insert_notifications_once(c, &keyed).await?;
            inserted += new;
            // A steady scan offers every event again and none is new: then (and when all
            // are new) there is no need to ask which ones went in.
            if new as usize == keyed.len() {
                told.extend(keyed.into_iter().map(|(n, _)| n));
            } else if new > 0 {
                let ids: Vec<_> = keyed.iter().map(|(n, _)| n.id).collect();
                let present = notification::existing_ids(c, ws, &ids).await?;
                told.extend(keyed.into_iter().map(|(n, _)| n).filter(|n| present.contains(&n.id)));
            }
        }
        self.enqueue_notifications(c, ws, &told, &people).await?;
        Ok(inserted)
    }

    async fn enqueue_notifications(&self, c: &mut Conn<'_>, ws: WorkspaceId, items: &[Notification], people: &HashMap<UserId, store::Recipient>) -> AppResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let endpoints = store::list_endpoints(c, ws).await?;
        let mut out = Vec::new();
        for n in items {
            let person = people.get(&n.user_id);
            let name = person.map_or("", |p| p.display_name.as_str());
            if self.config.email_enabled
                && let Some(p) = person.filter(|p| p.active && p.prefs.wants_email(&n.kind))
            {
                let mut d = Delivery::pending(DeliveryId::from_uuid(self.mint()), ws, "email", &n.kind, format!("[Kairos] {}", first_line(&n.message)), self.email_text(n), now);
                d.user_id = Some(p.user_id);
                d.recipient = p.email.clone();
                d.notification_id = Some(n.id);
                out.push(d);
            }
            let event = format!("notification.{}", n.kind);
            let text = format!("{name}: {}", n.message);
            let data = json!({
                "notification_id": n.id, "kind": n.kind, "user_id": n.user_id, "user_name": name,
                "message": n.message, "entity": n.entity, "entity_id": n.entity_id, "link": self.link(n.entity.as_deref(), n.entity_id.as_deref()),
            });
            for e in endpoints.iter().filter(|e| e.wants(&event)) {
                let mut d = self.webhook_delivery(ws, e, &event, &text, data.clone(), n.created_at, now);
                d.notification_id = Some(n.id);
                d.user_id = Some(n.user_id);
                out.push(d);
            }
        }
        store::insert_deliveries(c, &out).await?;
        Ok(())
    }

    /// Writes a deal event to the outbox for every endpoint subscribed to it.
    pub(crate) async fn emit_opportunity_event(&self, c: &mut Conn<'_>, ev: DealEvent<'_>) -> AppResult<()> {
        let o = ev.opportunity;
        let endpoints = store::list_endpoints(c, o.workspace_id).await?;
        let targets: Vec<&Endpoint> = endpoints.iter().filter(|e| e.wants(ev.event)).collect();
        if targets.is_empty() {
            return Ok(());
        }
        let amount = notice::amount_text(o.amount, &o.currency);
        let stage = ev.stage_name.unwrap_or("");
        let news = match ev.event {
            "opportunity.created" => DealNews::Created { stage },
            "opportunity.stage_changed" => DealNews::Moved { from: ev.from_stage_name.unwrap_or("?"), to: stage },
            "opportunity.won" => DealNews::Won,
            _ => DealNews::Lost { note: o.close_note.as_deref() },
        };
        // A group chat has many readers: it reads the workspace's language.
        let locale = kairos_store::workspace::get_workspace(c, o.workspace_id).await?.locale;
        let text = notice::deal_news_text(locale, news, &o.number, &o.name, &amount);
        let data = json!({
            "opportunity": {
                "id": o.id, "number": o.number, "name": o.name, "account_id": o.account_id, "owner_id": o.owner_id,
                "process_id": o.process_id, "stage_id": o.stage_id, "stage_name": ev.stage_name, "status": o.status.as_str(),
                "amount": o.amount, "currency": o.currency, "probability": o.probability,
                "expected_close_date": o.expected_close_date, "version": o.version,
            },
            "from_stage_name": ev.from_stage_name,
            "close_reason_id": o.close_reason_id,
            "close_note": o.close_note,
            "competitor": o.close_competitor,
            "actor_id": ev.actor,
            "link": self.link(Some("opportunity"), Some(&o.id.to_string())),
        });
        let now = self.now();
        let out: Vec<Delivery> = targets.into_iter().map(|e| self.webhook_delivery(o.workspace_id, e, ev.event, &text, data.clone(), ev.at, now)).collect();
        store::insert_deliveries(c, &out).await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn webhook_delivery(&self, ws: WorkspaceId, e: &Endpoint, event: &str, text: &str, data: Value, at: DateTime<Utc>, now: DateTime<Utc>) -> Delivery {
        let id = DeliveryId::from_uuid(self.mint());
        let body = match e.kind {
            EndpointKind::Generic => rules::generic_body(&id.to_string(), event, at, text, data),
            kind => rules::chat_body(kind, &format!("【Kairos】{text}")),
        };
        let mut d = Delivery::pending(id, ws, "webhook", event, first_line(text), body.to_string(), now);
        d.endpoint_id = Some(e.id);
        d.recipient = rules::redacted_url(&e.url);
        d
    }

    fn link(&self, entity: Option<&str>, id: Option<&str>) -> Option<String> {
        let path = match (entity, id) {
            (Some("opportunity"), Some(id)) => format!("/opportunities/{id}"),
            (Some("lead"), Some(id)) => format!("/leads/{id}"),
            (Some("task"), _) => "/".to_string(),
            _ => return None,
        };
        Some(format!("{}{path}", self.config.public_url.trim_end_matches('/')))
    }

    fn email_text(&self, n: &Notification) -> String {
        let mut text = n.message.clone();
        if let Some(link) = self.link(n.entity.as_deref(), n.entity_id.as_deref()) {
            text.push_str(&format!("\n\n{link}"));
        }
        text.push_str("\n\n-- \nKairos · 通知偏好可在个人设置中修改 / change which e-mails you get in your notification preferences");
        text
    }

    // ---- the worker's side ------------------------------------------------------------

    /// Claims up to `limit` due deliveries for `holder`, leased for `lease`.
    pub async fn claim_deliveries(&self, holder: &str, limit: i64, lease: chrono::Duration) -> AppResult<Vec<Claimed>> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let claimed = store::claim(&mut tx.conn(), holder, now, now + lease, limit).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records what happened to claimed deliveries. After a transient failure the domain's
    /// back-off decides when the next attempt is, or that there is none.
    pub async fn finish_deliveries(&self, holder: &str, results: Vec<(&Delivery, Result<(), SendFailure>)>) -> AppResult<()> {
        let now = self.now();
        let results: Vec<_> = results
            .into_iter()
            .map(|(d, r)| {
                let outcome = match r {
                    Ok(()) => Outcome::Sent,
                    Err(SendFailure::Permanent(error)) => Outcome::Failed { error },
                    Err(SendFailure::Transient(error)) => match rules::retry_delay(d.attempts as i32) {
                        Some(wait) => Outcome::Retry { at: now + wait, error },
                        None => Outcome::Failed { error },
                    },
                };
                (d.workspace_id, d.id, outcome)
            })
            .collect();
        let failed = results.iter().filter(|(_, _, o)| matches!(o, Outcome::Failed { .. })).count();
        if failed > 0 {
            tracing::warn!(failed, "deliveries failed for good; an admin can retry them from /api/v1/deliveries");
        }
        let mut tx = self.begin().await?;
        store::finish(&mut tx.conn(), holder, now, &results).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- people and admins ------------------------------------------------------------

    pub async fn my_notification_prefs(&self, actor: &Actor) -> AppResult<NotificationPrefs> {
        let mut conn = self.store.read().await?;
        Ok(store::get_prefs(&mut conn.conn(), actor.workspace(), actor.id()).await?)
    }

    pub async fn set_my_notification_prefs(&self, actor: &Actor, prefs: NotificationPrefs) -> AppResult<NotificationPrefs> {
        let mut errors = kairos_domain::FieldErrors::new();
        prefs.check(&mut errors);
        errors.finish()?;
        let mut tx = self.begin().await?;
        store::set_prefs(&mut tx.conn(), actor.workspace(), actor.id(), &prefs).await?;
        tx.commit().await?;
        Ok(prefs)
    }

    pub async fn list_endpoints(&self, admin: AdminCap<'_>) -> AppResult<Vec<Endpoint>> {
        let mut conn = self.store.read().await?;
        Ok(store::list_endpoints(&mut conn.conn(), admin.actor().workspace()).await?)
    }

    pub async fn get_endpoint(&self, admin: AdminCap<'_>, id: &str) -> AppResult<Endpoint> {
        let id = parse_endpoint_id(id)?;
        let mut conn = self.store.read().await?;
        store::get_endpoint(&mut conn.conn(), admin.actor().workspace(), id).await.map_err(not_found)
    }

    pub async fn create_endpoint(&self, admin: AdminCap<'_>, input: EndpointInput) -> AppResult<Endpoint> {
        let actor = admin.actor();
        let now = self.now();
        let mut e = Endpoint {
            id: EndpointId::from_uuid(self.mint()),
            workspace_id: actor.workspace(),
            name: String::new(),
            kind: EndpointKind::Generic,
            url: String::new(),
            secret: None,
            has_secret: false,
            events: Vec::new(),
            active: true,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        input.apply(&mut e, true)?;
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        store::insert_endpoint(&mut c, &e).await?;
        self.audit(&mut c, Some(actor), "webhook_endpoint", e.id.to_string(), "create", &endpoint_change(None, Some(&e))).await?;
        drop(c);
        tx.commit().await?;
        Ok(e)
    }

    pub async fn update_endpoint(&self, admin: AdminCap<'_>, id: &str, input: EndpointInput) -> AppResult<Endpoint> {
        let actor = admin.actor();
        let id = parse_endpoint_id(id)?;
        let version = input.version.ok_or_else(|| AppError::field("version", "is required (If-Match or version)"))?;
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let old = store::get_endpoint(&mut c, actor.workspace(), id).await.map_err(not_found)?;
        if old.version != version {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        let mut e = old.clone();
        input.apply(&mut e, false)?;
        e.updated_at = self.now();
        e.version = old.version + 1;
        store::update_endpoint(&mut c, &e, old.version).await?;
        self.audit(&mut c, Some(actor), "webhook_endpoint", e.id.to_string(), "update", &endpoint_change(Some(&old), Some(&e))).await?;
        drop(c);
        tx.commit().await?;
        Ok(e)
    }

    /// Removes an endpoint; its deliveries still waiting fail with "endpoint removed".
    pub async fn delete_endpoint(&self, admin: AdminCap<'_>, id: &str) -> AppResult<()> {
        let actor = admin.actor();
        let id = parse_endpoint_id(id)?;
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let old = store::get_endpoint(&mut c, actor.workspace(), id).await.map_err(not_found)?;
        store::delete_endpoint(&mut c, actor.workspace(), id).await?;
        self.audit(&mut c, Some(actor), "webhook_endpoint", id.to_string(), "delete", &endpoint_change(Some(&old), None)).await?;
        drop(c);
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_deliveries(&self, admin: AdminCap<'_>, q: &DeliveryQuery) -> AppResult<DeliveryList> {
        if let Some(s) = q.status.as_deref()
            && !["pending", "sent", "failed"].contains(&s)
        {
            return Err(AppError::field("status", "must be pending, sent or failed"));
        }
        let limit = q.limit.unwrap_or(100);
        if !(1..=500).contains(&limit) {
            return Err(AppError::field("limit", "must be from 1 to 500"));
        }
        let ws = admin.actor().workspace();
        let mut conn = self.store.read().await?;
        let mut c = conn.conn();
        let items = store::list_deliveries(&mut c, ws, q.status.as_deref(), limit).await?;
        let counts = store::count_by_status(&mut c, ws).await?.into_iter().collect();
        Ok(DeliveryList { items, counts })
    }

    /// Sends a failed delivery again (fresh attempts, due now).
    pub async fn retry_delivery(&self, admin: AdminCap<'_>, id: &str) -> AppResult<Delivery> {
        let ws = admin.actor().workspace();
        let id = DeliveryId::parse(id).map_err(|_| AppError::NotFound { entity: "delivery" })?;
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        let d = store::get_delivery(&mut c, ws, id).await.map_err(|_| AppError::NotFound { entity: "delivery" })?;
        if !store::retry(&mut c, ws, id, self.now()).await? {
            return Err(AppError::Refused {
                code: "not_failed",
                message: format!("only a failed delivery can be retried; this one is {}", d.status),
                details: json!({ "status": d.status }),
            });
        }
        let d = store::get_delivery(&mut c, ws, id).await?;
        drop(c);
        tx.commit().await?;
        Ok(d)
    }
}

/// Why a delivery did not go.
#[derive(Debug, Clone, PartialEq)]
pub enum SendFailure {
    /// Worth another attempt (timeout, refused connection, HTTP 5xx, a robot's rate limit).
    Transient(String),
    /// Never going to work as it stands (endpoint removed, bad address): failed at once.
    Permanent(String),
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > 120 { format!("{}…", line.chars().take(119).collect::<String>()) } else { line.to_string() }
}

fn parse_endpoint_id(id: &str) -> AppResult<EndpointId> {
    EndpointId::parse(id).map_err(|_| AppError::NotFound { entity: "webhook endpoint" })
}

fn not_found(e: kairos_store::StoreError) -> AppError {
    match e {
        kairos_store::StoreError::NotFound => AppError::NotFound { entity: "webhook endpoint" },
        other => other.into(),
    }
}

fn endpoint_change(old: Option<&Endpoint>, new: Option<&Endpoint>) -> Vec<kairos_domain::audit::FieldChange> {
    // The secret is never written to the audit trail; only whether one is set.
    let show = |e: &Endpoint| json!({ "name": e.name, "kind": e.kind, "url": rules::redacted_url(&e.url), "events": e.events, "active": e.active, "has_secret": e.secret.is_some() }).to_string();
    vec![kairos_domain::audit::FieldChange { field: "endpoint".into(), old_value: old.map(show), new_value: new.map(show) }]
}

/// An admin's webhook endpoint: on create every field but `active` is needed; on update
/// the fields sent replace the stored ones (`secret: null` removes the secret).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    pub name: Option<String>,
    pub kind: Option<EndpointKind>,
    pub url: Option<String>,
    /// The signing secret: HMAC key of a generic webhook, 加签 secret of a DingTalk robot,
    /// signature secret of a Feishu bot. Write-only.
    #[serde(default, deserialize_with = "crate::input::patch")]
    #[schema(value_type = Option<String>)]
    pub secret: Option<Option<String>>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
    pub version: Option<i64>,
}

impl EndpointInput {
    fn apply(self, e: &mut Endpoint, creating: bool) -> AppResult<()> {
        let mut errors = kairos_domain::FieldErrors::new();
        if creating {
            for (field, missing) in [("name", self.name.is_none()), ("kind", self.kind.is_none()), ("url", self.url.is_none()), ("events", self.events.is_none())] {
                if missing {
                    errors.add(field, "is required");
                }
            }
            errors.clone().finish()?;
        }
        if let Some(v) = self.name {
            e.name = v.trim().to_string();
        }
        if let Some(v) = self.kind {
            e.kind = v;
        }
        if let Some(v) = self.url {
            e.url = v.trim().to_string();
        }
        if let Some(v) = self.secret {
            e.secret = v;
        }
        if let Some(v) = self.events {
            e.events = v;
        }
        if let Some(v) = self.active {
            e.active = v;
        }
        e.has_secret = e.secret.is_some();
        rules::check_endpoint(&mut errors, &e.name, e.kind, &e.url, e.secret.as_deref(), &e.events);
        Ok(errors.finish()?)
    }
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// pending, sent or failed.
    pub status: Option<String>,
    /// At most this many, newest first (default 100, at most 500).
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub items: Vec<Delivery>,
    /// How many deliveries of the workspace are in each status.
    pub counts: HashMap<String, i64>,
}
