//! Background work inside the server process: the outbox worker, which sends what the
//! use-cases wrote to the outbox (e-mail over SMTP, chat group robots, signed webhooks).
//!
//! Each pass claims a batch of due deliveries with a lease (kairos-store's `outbox::claim`),
//! sends them concurrently, and records every outcome: sent, tried again later with back-off,
//! or failed for good once its attempts are used up (visible at `/api/v1/deliveries`, where
//! an admin can retry it). A worker that dies mid-pass leaves its claimed deliveries to run
//! out their lease; another worker then sends them. Delivery is therefore at least once:
//! a message whose receiver took it just before the sender died is sent again, carrying the
//! same delivery id (`X-Kairos-Delivery`, and `id` in the body) so the receiver can drop it.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Utc;
use kairos_app::App;
use kairos_app::outbox::SendFailure;
use SendFailure::{Permanent, Transient};
use kairos_domain::outbox::{self as rules, Delivery, Endpoint};
use kairos_store::outbox::Claimed;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How the outbox worker runs.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// Deliveries claimed (and sent concurrently) per pass.
    pub batch: i64,
    /// How long a claim lasts before another worker may assume this one died.
    pub lease: chrono::Duration,
    /// Wait between passes when there was nothing to send.
    pub idle_poll: StdDuration,
    /// `smtp://host:port` (plain, for a local relay), `smtp://host?tls=required`
    /// (STARTTLS) or `smtps://user:password@host` (TLS); `None`: no e-mail.
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    /// Time allowed for one request or one SMTP conversation.
    pub timeout: StdDuration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            batch: 32,
            lease: chrono::Duration::seconds(60),
            idle_poll: StdDuration::from_secs(1),
            smtp_url: None,
            smtp_from: "Kairos <kairos@localhost>".into(),
            timeout: StdDuration::from_secs(10),
        }
    }
}

/// What sends: one HTTP client (connections are reused across deliveries) and, when
/// configured, one SMTP transport (pooled).
pub struct Sender {
    http: reqwest::Client,
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
}

impl Sender {
    /// Fails on settings that can never work (a malformed SMTP URL or sender address), so a
    /// typo stops the start-up instead of failing every e-mail later.
    pub fn new(settings: &OutboxSettings) -> anyhow::Result<Sender> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Kairos/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let smtp = match &settings.smtp_url {
            None => None,
            Some(url) => {
                // The URL may hold a password: the error names the problem, never the URL.
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("smtp_url is not a usable SMTP URL (smtp://host:port, smtp://host?tls=required or smtps://user:password@host): {e}"))?
                    .timeout(Some(settings.timeout))
                    .build();
                let from: Mailbox = settings.smtp_from.parse().map_err(|e| anyhow::anyhow!("smtp_from {:?} is not an e-mail address: {e}", settings.smtp_from))?;
                Some((transport, from))
            }
        };
        Ok(Sender { http, smtp })
    }

    /// Sends one delivery; `Err` says why it did not go and whether to try again.
    pub async fn send(&self, item: &Claimed) -> Result<(), SendFailure> {
        let d = &item.delivery;
        match d.channel.as_str() {
            "email" => self.email(d).await,
            "webhook" => match &item.endpoint {
                Some(e) => self.post(d, e).await,
                None => Err(Permanent("the endpoint was removed or switched off".into())),
            },
            other => Err(Permanent(format!("unknown channel {other:?}"))),
        }
    }

    async fn email(&self, d: &Delivery) -> Result<(), SendFailure> {
        let Some((transport, from)) = &self.smtp else {
            // Configuration may come back (this instance may be the one without it).
            return Err(Transient("no SMTP server is configured on this instance (smtp_url)".into()));
        };
        let to: Mailbox = d.recipient.parse().map_err(|e| Permanent(format!("{:?} is not an e-mail address: {e}", d.recipient)))?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(d.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(d.body.clone())
            .map_err(|e| Permanent(format!("could not build the message: {e}")))?;
        transport.send(message).await.map(|_| ()).map_err(|e| {
            // A 5xx answer (mailbox unknown, message refused) will not change by itself.
            if e.is_permanent() { Permanent(format!("SMTP: {e}")) } else { Transient(format!("SMTP: {e}")) }
        })
    }

    async fn post(&self, d: &Delivery, e: &Endpoint) -> Result<(), SendFailure> {
        let req = rules::sign(e.kind, &e.url, e.secret.as_deref(), &d.id.to_string(), &d.event, &d.body, Utc::now());
        let mut builder = self.http.post(&req.url).body(req.body);
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        // reqwest's error text includes the URL, which may hold a robot's key: say what
        // kind of failure it was and where, redacted.
        let response = builder.send().await.map_err(|err| {
            let what = if err.is_timeout() { "timed out" } else if err.is_connect() { "could not connect" } else { "request failed" };
            Transient(format!("{what}: {}", rules::redacted_url(&e.url)))
        })?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        rules::accepted(e.kind, status, &body).map_err(Transient)
    }
}

/// One pass: claims a batch, sends it concurrently, records the outcomes. Answers how many
/// deliveries it handled (0: nothing was due).
pub async fn deliver_batch(app: &App, sender: &Arc<Sender>, holder: &str, settings: &OutboxSettings) -> anyhow::Result<usize> {
    let claimed = app.claim_deliveries(holder, settings.batch, settings.lease).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let mut running = tokio::task::JoinSet::new();
    for (i, item) in claimed.iter().cloned().enumerate() {
        let sender = sender.clone();
        running.spawn(async move { (i, sender.send(&item).await) });
    }
    let mut results: Vec<Option<Result<(), SendFailure>>> = vec![None; claimed.len()];
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok((i, r)) => results[i] = Some(r),
            Err(e) => tracing::error!(error = %e, "a delivery task ended abnormally; its delivery runs again after the lease"),
        }
    }
    let done: Vec<_> = claimed.iter().zip(results).filter_map(|(c, r)| r.map(|r| (&c.delivery, r))).collect();
    let failures = done.iter().filter(|(_, r)| r.is_err()).count();
    if failures > 0 {
        tracing::info!(failures, of = done.len(), "some deliveries did not go; they are retried with back-off");
    }
    app.finish_deliveries(holder, done).await?;
    Ok(claimed.len())
}

/// Sends until nothing is due (for `kairos jobs run-once` and tests). Answers the count.
pub async fn drain(app: &App, sender: &Arc<Sender>, holder: &str, settings: &OutboxSettings) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let n = deliver_batch(app, sender, holder, settings).await?;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}

/// The worker loop of a server instance: passes back to back while there is work, a pause
/// of `idle_poll` when there is none.
pub fn spawn_outbox(app: App, sender: Arc<Sender>, settings: OutboxSettings) -> tokio::task::JoinHandle<()> {
    let holder = kairos_app::jobs::holder_name();
    tokio::spawn(async move {
        loop {
            match deliver_batch(&app, &sender, &holder, &settings).await {
                Ok(n) if n as i64 >= settings.batch => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the outbox worker could not run a pass; it tries again"),
            }
            tokio::time::sleep(settings.idle_poll).await;
        }
    })
}
