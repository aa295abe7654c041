//! The outbox (PRODUCT.md §6, §10): every message Kairos sends outside itself — an e-mail
//! about a notification, a post to a chat group robot, a signed webhook about a deal — is a
//! delivery row written in the same transaction as the event that causes it, and a worker
//! sends it later. Here: what may be subscribed to, who gets e-mail, how each channel's
//! request is shaped and signed, whether its answer means "accepted", and when a failed
//! delivery is tried again. No I/O: the worker brings the clock and the network.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::ids::{DeliveryId, EndpointId, NotificationId, UserId, WorkspaceId};
use crate::validation::FieldErrors;

/// Events about deals that webhooks may subscribe to (§10).
pub const OPPORTUNITY_EVENTS: [&str; 4] = ["opportunity.created", "opportunity.stage_changed", "opportunity.won", "opportunity.lost"];

/// Kinds of in-app notification; each is also an event `notification.<kind>` that chat
/// groups may subscribe to (e.g. a sales managers' WeCom group hears every stale alert).
pub const NOTIFICATION_KINDS: [&str; 8] =
    ["lead_assigned", "leads_assigned", "task_assigned", "deal_stale", "deal_dwell", "task_overdue", "support_request", "priority_deal"];

/// Whether `event` is something an endpoint can subscribe to.
pub fn is_known_event(event: &str) -> bool {
    OPPORTUNITY_EVENTS.contains(&event) || event.strip_prefix("notification.").is_some_and(|k| NOTIFICATION_KINDS.contains(&k))
}

/// Where a webhook endpoint posts and how it signs (each chat platform has its own shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    /// Any HTTP receiver: the event as JSON, signed with HMAC-SHA256 in a header.
    Generic,
    /// 企业微信 group robot: the key is part of the URL, no signature.
    Wecom,
    /// 钉钉 custom robot: optional "加签" secret, signed in the query string.
    Dingtalk,
    /// 飞书 custom bot: optional signature check, signed in the body.
    Feishu,
}

impl EndpointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Generic => "generic",
            EndpointKind::Wecom => "wecom",
            EndpointKind::Dingtalk => "dingtalk",
            EndpointKind::Feishu => "feishu",
        }
    }

    pub fn parse(text: &str) -> Option<EndpointKind> {
        Some(match text {
            "generic" => EndpointKind::Generic,
            "wecom" => EndpointKind::Wecom,
            "dingtalk" => EndpointKind::Dingtalk,
            "feishu" => EndpointKind::Feishu,
            _ => return None,
        })
    }
}

/// A place Kairos posts events to, set up by an admin.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Endpoint {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: EndpointId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub kind: EndpointKind,
    pub url: String,
    /// Never sent back; `has_secret` says whether one is set.
    #[serde(skip)]
    pub secret: Option<String>,
    pub has_secret: bool,
    pub events: Vec<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Endpoint {
    pub fn wants(&self, event: &str) -> bool {
        self.active && self.events.iter().any(|e| e == event)
    }
}

/// One message in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: DeliveryId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    /// `email` or `webhook`.
    pub channel: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub endpoint_id: Option<EndpointId>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub user_id: Option<UserId>,
    /// The e-mail address or the URL (without its query, which may hold a robot's key).
    pub recipient: String,
    pub event: String,
    pub subject: String,
    #[serde(skip)]
    pub body: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub notification_id: Option<NotificationId>,
    /// `pending`, `sent` or `failed` (attempts used up; an admin may retry it).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl Delivery {
    /// A new message, due now, not yet tried.
    pub fn pending(id: DeliveryId, workspace_id: WorkspaceId, channel: &str, event: &str, subject: String, body: String, now: DateTime<Utc>) -> Delivery {
        Delivery {
            id,
            workspace_id,
            channel: channel.into(),
            endpoint_id: None,
            user_id: None,
            recipient: String::new(),
            event: event.into(),
            subject,
            body,
            notification_id: None,
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            sent_at: None,
        }
    }
}

/// A URL as people may see it: the query (a robot's key, an access token) is cut off.
pub fn redacted_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_string(),
    }
}

/// An endpoint's settings as an admin sends them, checked before anything is stored.
pub fn check_endpoint(errors: &mut FieldErrors, name: &str, kind: EndpointKind, url: &str, secret: Option<&str>, events: &[String]) {
    if name.trim().is_empty() || name.chars().count() > 100 {
        errors.add("name", "must be 1 to 100 characters");
    }
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) || url.len() > 2000 || url.chars().any(char::is_whitespace) || url.len() < 10 {
        errors.add("url", "must be an http:// or https:// address without spaces, at most 2,000 characters");
    }
    match secret {
        Some(s) if s.is_empty() || s.len() > 200 => errors.add("secret", "must be 1 to 200 characters"),
        None if kind == EndpointKind::Generic => errors.add("secret", "is required for a generic webhook: receivers check the signature with it"),
        _ => {}
    }
    if events.is_empty() {
        errors.add("events", "must name at least one event");
    }
    for (i, e) in events.iter().enumerate() {
        if !is_known_event(e) {
            errors.add(
                format!("events[{i}]"),
                format!("{e:?} is not an event; use one of {} or notification.<kind> with a kind of {}", OPPORTUNITY_EVENTS.join(", "), NOTIFICATION_KINDS.join(", ")),
            );
        }
    }
}

/// A person's choices about e-mail (the in-app inbox always gets everything: it is the
/// record of what Kairos told them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct NotificationPrefs {
    /// E-mail a copy of notifications (when the server has SMTP configured).
    pub email: bool,
    /// Kinds never e-mailed even with `email` on.
    pub email_muted: Vec<String>,
}

impl Default for NotificationPrefs {
    fn default() -> Self {
        NotificationPrefs { email: true, email_muted: Vec::new() }
    }
}

impl NotificationPrefs {
    pub fn wants_email(&self, kind: &str) -> bool {
        self.email && !self.email_muted.iter().any(|k| k == kind)
    }

    pub fn check(&self, errors: &mut FieldErrors) {
        for (i, k) in self.email_muted.iter().enumerate() {
            if !NOTIFICATION_KINDS.contains(&k.as_str()) {
                errors.add(format!("email_muted[{i}]"), format!("{k:?} is not a notification kind; use one of {}", NOTIFICATION_KINDS.join(", ")));
            }
        }
    }
}

/// Attempts a delivery gets before it is marked failed (then only a person's retry sends it).
pub const MAX_ATTEMPTS: i32 = 8;

/// How long to wait after the `attempts`-th failed attempt: 30 s doubling up to an hour,
/// about two hours in all; `None` once the attempts are used up.
pub fn retry_delay(attempts: i32) -> Option<Duration> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let exp = attempts.clamp(1, 12) - 1;
    Some(Duration::seconds((30_i64 << exp).min(3600)))
}

/// The text a chat group robot posts.
pub fn chat_body(kind: EndpointKind, text: &str) -> Value {
    match kind {
        EndpointKind::Wecom | EndpointKind::Dingtalk => json!({ "msgtype": "text", "text": { "content": text } }),
        EndpointKind::Feishu => json!({ "msg_type": "text", "content": { "text": text } }),
        EndpointKind::Generic => json!({ "text": text }),
    }
}

/// A generic webhook's body: the delivery id (receivers de-duplicate on it, since a
/// delivery whose answer was lost is sent again), the event, when it happened, and its data.
pub fn generic_body(delivery_id: &str, event: &str, occurred_at: DateTime<Utc>, text: &str, data: Value) -> Value {
    json!({ "id": delivery_id, "event": event, "occurred_at": occurred_at, "text": text, "data": data })
}

/// What goes on the wire for one delivery to one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The generic signature: hex HMAC-SHA256 of `"{timestamp}.{body}"` with the endpoint's
/// secret. The timestamp inside lets receivers refuse replays of old requests.
pub fn generic_signature(secret: &str, timestamp: i64, body: &str) -> String {
    hmac_sha256(secret.as_bytes(), format!("{timestamp}.{body}").as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Shapes and signs one delivery: `body` is what the outbox stored; the signature is made
/// now, at sending, because the platforms refuse signatures older than about an hour.
pub fn sign(kind: EndpointKind, url: &str, secret: Option<&str>, delivery_id: &str, event: &str, body: &str, now: DateTime<Utc>) -> SignedRequest {
    let json_header = ("Content-Type".to_string(), "application/json".to_string());
    match (kind, secret) {
        (EndpointKind::Generic, secret) => {
            let ts = now.timestamp();
            let mut headers = vec![
                json_header,
                ("X-Kairos-Event".into(), event.into()),
                ("X-Kairos-Delivery".into(), delivery_id.into()),
                ("X-Kairos-Timestamp".into(), ts.to_string()),
            ];
            if let Some(s) = secret {
                headers.push(("X-Kairos-Signature".into(), format!("v1={}", generic_signature(s, ts, body))));
            }
            SignedRequest { url: url.into(), headers, body: body.into() }
        }
        (EndpointKind::Dingtalk, Some(s)) => {
            // 钉钉加签: base64(HMAC-SHA256(secret, "{ms}\n{secret}")), URL-encoded, as
            // `timestamp` and `sign` query parameters.
            let ms = now.timestamp_millis();
            let sign = b64(&hmac_sha256(s.as_bytes(), format!("{ms}\n{s}").as_bytes()));
            let sep = if url.contains('?') { '&' } else { '?' };
            SignedRequest { url: format!("{url}{sep}timestamp={ms}&sign={}", percent_encode(&sign)), headers: vec![json_header], body: body.into() }
        }
        (EndpointKind::Feishu, Some(s)) => {
            // 飞书签名校验: base64(HMAC-SHA256 keyed with "{seconds}\n{secret}" over nothing),
            // as `timestamp` and `sign` fields of the body.
            let ts = now.timestamp();
            let sign = b64(&hmac_sha256(format!("{ts}\n{s}").as_bytes(), b""));
            let body = match serde_json::from_str::<Value>(body) {
                Ok(Value::Object(mut m)) => {
                    m.insert("timestamp".into(), Value::String(ts.to_string()));
                    m.insert("sign".into(), Value::String(sign));
                    Value::Object(m).to_string()
                }
                _ => body.to_string(),
            };
            SignedRequest { url: url.into(), headers: vec![json_header], body }
        }
        _ => SignedRequest { url: url.into(), headers: vec![json_header], body: body.into() },
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether an endpoint's answer means it took the message. The robots answer HTTP 200 even
/// when they refuse (bad key, bad signature, rate limit) and say so in the body.
pub fn accepted(kind: EndpointKind, status: u16, body: &str) -> Result<(), String> {
    let short = |s: &str| s.chars().take(300).collect::<String>();
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}: {}", short(body)));
    }
    let code = |v: &Value, keys: &[&str]| keys.iter().find_map(|k| v.get(*k).and_then(Value::as_i64));
    match kind {
        EndpointKind::Generic => Ok(()),
        EndpointKind::Wecom | EndpointKind::Dingtalk | EndpointKind::Feishu => {
            let Ok(v) = serde_json::from_str::<Value>(body) else {
                return Err(format!("HTTP {status} with an answer that is not JSON: {}", short(body)));
            };
            match code(&v, &["errcode", "code", "StatusCode"]) {
                Some(0) | None => Ok(()),
                Some(c) => Err(format!("refused with code {c}: {}", short(body))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn retries_back_off_from_thirty_seconds_to_an_hour_then_stop() {
        let delays: Vec<_> = (1..=MAX_ATTEMPTS).map(|a| retry_delay(a).map(|d| d.num_seconds())).collect();
        assert_eq!(delays, vec![Some(30), Some(60), Some(120), Some(240), Some(480), Some(960), Some(1920), None]);
        assert_eq!(retry_delay(0).map(|d| d.num_seconds()), Some(30));
    }

    #[test]
    fn generic_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // The HMAC itself against RFC 4231 test case 2 (key "Jefe").
        let sig = generic_signature("Jefe", 1_700_000_000, "{}");
        assert_eq!(sig, hmac_sha256(b"Jefe", b"1700000000.{}").iter().map(|b| format!("{b:02x}")).collect::<String>());
        assert_eq!(
            hmac_sha256(b"Jefe", b"what do ya want for nothing?").iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let req = sign(EndpointKind::Generic, "https://hooks.example.com/in", Some("Jefe"), "d1", "opportunity.won", "{}", at("2023-11-14T22:13:20Z"));
        assert!(req.headers.contains(&("X-Kairos-Signature".into(), format!("v1={sig}"))));
        assert!(req.headers.contains(&("X-Kairos-Delivery".into(), "d1".into())));
        assert_eq!(req.body, "{}");
    }

    #[test]
    fn dingtalk_signs_in_the_query_and_feishu_in_the_body() {
        let now = at("2026-11-23T02:00:00Z");
        let d = sign(EndpointKind::Dingtalk, "https://oapi.dingtalk.com/robot/send?access_token=t", Some("SECabc"), "d", "e", "{}", now);
        let ms = now.timestamp_millis();
        let expected = b64(&hmac_sha256(b"SECabc", format!("{ms}\nSECabc").as_bytes()));
        assert_eq!(d.url, format!("https://oapi.dingtalk.com/robot/send?access_token=t&timestamp={ms}&sign={}", percent_encode(&expected)));
        let sign_param = d.url.rsplit("sign=").next().unwrap();
        assert!(!sign_param.contains(['+', '/', '=']), "the base64 signature is URL-encoded: {sign_param}");

        let f = sign(EndpointKind::Feishu, "https://open.feishu.cn/open-apis/bot/v2/hook/x", Some("s"), "d", "e", &chat_body(EndpointKind::Feishu, "hi").to_string(), now);
        let v: Value = serde_json::from_str(&f.body).unwrap();
        assert_eq!(v["timestamp"], now.timestamp().to_string());
        assert_eq!(v["sign"], b64(&hmac_sha256(format!("{}\ns", now.timestamp()).as_bytes(), b"")));
        assert_eq!(v["content"]["text"], "hi");

        let w = sign(EndpointKind::Wecom, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", None, "d", "e", "{}", now);
        assert_eq!(w.url, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k");
    }

    #[test]
    fn robots_that_answer_200_with_an_error_code_have_refused() {
        assert!(accepted(EndpointKind::Wecom, 200, r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        assert!(accepted(EndpointKind::Wecom, 200, r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#).unwrap_err().contains("93000"));
        assert!(accepted(EndpointKind::Dingtalk, 200, r#"{"errcode":310000,"errmsg":"sign not match"}"#).is_err());
        assert!(accepted(EndpointKind::Feishu, 200, r#"{"code":19021,"msg":"sign match fail"}"#).is_err());
        assert!(accepted(EndpointKind::Feishu, 200, r#"{"StatusCode":0,"StatusMessage":"success"}"#).is_ok());
        assert!(accepted(EndpointKind::Generic, 204, "").is_ok());
        assert!(accepted(EndpointKind::Generic, 500, "boom").unwrap_err().starts_with("HTTP 500"));
        assert!(accepted(EndpointKind::Wecom, 200, "<html>").is_err());
    }

    #[test]
    fn endpoint_settings_are_checked_field_by_field() {
        let mut e = FieldErrors::new();
        check_endpoint(&mut e, "", EndpointKind::Generic, "ftp://x", None, &["opportunity.won".into(), "deal.eaten".into(), "notification.deal_stale".into()]);
        let fields: Vec<_> = e.into_vec().into_iter().map(|f| f.field).collect();
        assert_eq!(fields, vec!["name", "url", "secret", "events[1]"]);
        let mut ok = FieldErrors::new();
        check_endpoint(&mut ok, "销售群", EndpointKind::Wecom, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", None, &["notification.deal_stale".into()]);
        assert!(ok.is_empty());
    }

    #[test]
    fn people_mute_email_per_kind() {
        let p = NotificationPrefs { email: true, email_muted: vec!["deal_dwell".into()] };
        assert!(p.wants_email("deal_stale"));
        assert!(!p.wants_email("deal_dwell"));
        assert!(!NotificationPrefs { email: false, ..p.clone() }.wants_email("deal_stale"));
        let mut e = FieldErrors::new();
        NotificationPrefs { email: true, email_muted: vec!["nonsense".into()] }.check(&mut e);
        assert_eq!(e.into_vec()[0].field, "email_muted[0]");
    }
}
