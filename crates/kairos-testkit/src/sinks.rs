//! Receivers that stand in for the outside world in outbox tests: an HTTP sink (a chat
//! robot or a customer's webhook receiver) and an SMTP sink (a mail server). Both record
//! everything they get.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request the HTTP sink got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Path and query, e.g. `/wecom?key=abc`.
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// How the HTTP sink answers requests to a path.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Default for Reply {
    fn default() -> Self {
        Reply { status: 200, body: r#"{"errcode":0,"errmsg":"ok"}"#.into(), delay: Duration::ZERO }
    }
}

#[derive(Clone, Default)]
struct SinkState {
    received: Arc<Mutex<Vec<Received>>>,
    replies: Arc<Mutex<HashMap<String, Reply>>>,
}

/// An HTTP server on a free port that records every request and answers per path (200 with
/// `{"errcode":0}` unless told otherwise).
pub struct HttpSink {
    pub base: String,
    state: SinkState,
}

impl HttpSink {
    pub async fn start() -> HttpSink {
        let state = SinkState::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("sink binds");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new().fallback(record).with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        HttpSink { base, state }
    }

    /// Answers requests to `path` this way from now on.
    pub fn reply(&self, path: &str, reply: Reply) {
        self.state.replies.lock().unwrap().insert(path.to_string(), reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// What arrived at `path` (query ignored).
    pub fn at(&self, path: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.target.split('?').next() == Some(path)).collect()
    }
}

async fn record(State(state): State<SinkState>, uri: Uri, headers: HeaderMap, body: String) -> (StatusCode, String) {
    let target = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let reply = state.replies.lock().unwrap().get(uri.path()).cloned().unwrap_or_default();
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let headers = headers.iter().map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("").to_string())).collect();
    state.received.lock().unwrap().push(Received { target, headers, body });
    (StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK), reply.body)
}

/// One message the SMTP sink got.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body).
    pub data: String,
}

/// A minimal SMTP server (no TLS, no auth) on a free port: enough of RFC 5321 for a client
/// to hand it messages, which it records.
pub struct SmtpSink {
    pub url: String,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("smtp sink binds");
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let mails = Arc::new(Mutex::new(Vec::new()));
        let store = mails.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = converse(socket, store).await;
                });
            }
        });
        SmtpSink { url, mails }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

async fn converse(socket: tokio::net::TcpStream, store: Arc<Mutex<Vec<Mail>>>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            write.write_all(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().split(' ').next().unwrap_or("").trim_matches(['<', '>']).to_string();
            to.clear();
            write.write_all(b"250 ok\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().split(' ').next().unwrap_or("").trim_matches(['<', '>']).to_string());
            write.write_all(b"250 ok\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line));
            }
            store.lock().unwrap().push(Mail { from: from.clone(), to: to.clone(), data });
            write.write_all(b"250 queued\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            // RSET, NOOP and anything else a pooled client says between messages.
            write.write_all(b"250 ok\r\n").await?;
        }
    }
}
