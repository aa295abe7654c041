//! Logging in: API tokens for programs, sessions for browsers, and the rate limit on
//! failed attempts that protects both.

use chrono::{DateTime, Duration, Utc};
use kairos_domain::identity::User;
use kairos_domain::ids::TokenId;
use kairos_domain::text;
use kairos_store::auth::{self as store, ApiToken};
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, AuthMethod};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::password::{self, random_secret, secret_hash};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub email: String,
    pub password: String,
    /// A label to recognise the token by in the list (default: "API token").
    #[serde(default)]
    pub name: Option<String>,
    /// Lifetime in days, 1 to 365 (default: the server's setting, 90).
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewToken {
    #[schema(value_type = String, format = Uuid)]
    pub id: TokenId,
    /// The secret, shown once: send it as `Authorization: Bearer <token>`.
    pub token: String,
    pub name: String,
    pub expires_at: DateTime<Utc>,
}

/// A new browser session: the cookie secret and the CSRF token its forms must echo.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub secret: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

const TOKEN_PREFIX: &str = "kai_";

impl App {
    /// Checks e-mail and password. Wrong credentials answer one `Unauthorized`, whichever
    /// part was wrong; too many failures for the account or the client address answer
    /// `RateLimited` before the password is even looked at.
    pub async fn check_credentials(&self, email: &str, password: &str, client: &str) -> AppResult<User> {
        let now = self.now();
        let email_key = text::email_key(email).unwrap_or_else(|_| email.trim().to_lowercase());
        let account_key = format!("account:{email_key}");
        let address_key = format!("address:{client}");
        let window = Duration::minutes(self.config.login_window_minutes);
        let since = now - window;

        let mut conn = self.store.read().await?;
        for (key, limit) in [
            (&account_key, self.config.login_failures_per_account),
            (&address_key, self.config.login_failures_per_address),
        ] {
            let (failures, oldest) = store::login_failures_since(&mut conn.conn(), key, since).await?;
            if failures >= limit {
                let free_at = oldest.unwrap_or(now) + window;
                let retry_after_secs = (free_at - now).num_seconds().max(1) as u64;
                return Err(AppError::RateLimited { retry_after_secs });
            }
        }
        let found = kairos_store::user::find_login(&mut conn.conn(), &email_key).await?;
        drop(conn);

        let (user, hash) = match found {
            Some((user, hash)) if user.active => (Some(user), Some(hash)),
            _ => (None, None),
        };
        let ok = password::verify(&self.config, password.to_string(), hash).await?;
        match (ok, user) {
            (true, Some(user)) => {
                let mut tx = self.begin().await?;
                store::clear_login_failures(&mut tx.conn(), &account_key).await?;
                tx.commit().await?;
                Ok(user)
            }
            _ => {
                let mut tx = self.begin().await?;
                store::record_login_failure(&mut tx.conn(), &account_key, now).await?;
                store::record_login_failure(&mut tx.conn(), &address_key, now).await?;
                tx.commit().await?;
                tracing::info!(client, "failed login");
                Err(AppError::Unauthorized)
            }
        }
    }

    /// `POST /api/v1/auth/tokens`: trades credentials for a personal API token.
    pub async fn create_token(&self, req: TokenRequest, client: &str) -> AppResult<NewToken> {
        let mut errors = kairos_domain::FieldErrors::new();
        let name = errors
            .check("name", text::optional_text(req.name.as_deref(), 100))
            .flatten()
            .unwrap_or_else(|| "API token".to_string());
        let days = req.expires_in_days.unwrap_or(self.config.token_ttl_days);
        if !(1..=365).contains(&days) {
            errors.add("expires_in_days", "must be between 1 and 365");
        }
        errors.finish()?;
        let user = self.check_credentials(&req.email, &req.password, client).await?;
        let now = self.now();
        let secret = format!("{TOKEN_PREFIX}{}", random_secret());
        let token = ApiToken {
            id: TokenId::from_uuid(self.mint()),
            name,
            created_at: now,
            expires_at: now + Duration::days(days),
            last_used_at: None,
            revoked_at: None,
        };
        let mut tx = self.begin().await?;
        store::insert_token(&mut tx.conn(), &user, &token, &secret_hash(&secret)).await?;
        tx.commit().await?;
        Ok(NewToken { id: token.id, token: secret, name: token.name, expires_at: token.expires_at })
    }

    /// The actor behind a bearer token, or `Unauthorized`.
    pub async fn authenticate_token(&self, secret: &str) -> AppResult<Actor> {
        let now = self.now();
        // One indexed row (`Store::lookup`): read on this thread on SQLite, on a connection that
        // keeps its plan on PostgreSQL.
        let mut lookup = self.store.lookup().await?;
        let found = store::find_token(&mut lookup.conn(), &secret_hash(secret), now).await?.ok_or(AppError::Unauthorized)?;
        drop(lookup);
        // Recording every use would turn each read into a write; once a minute is enough
        // to tell a live token from a forgotten one.
        if found.last_used_at.is_none_or(|t| now - t > Duration::minutes(1)) {
            let mut tx = self.begin().await?;
            store::touch_token(&mut tx.conn(), found.user.workspace_id, found.token_id, now).await?;
            tx.commit().await?;
        }
        self.actor_for(found.user, AuthMethod::Token(found.token_id)).await
    }

    pub async fn list_tokens(&self, actor: &Actor) -> AppResult<Vec<ApiToken>> {
        let mut conn = self.store.read().await?;
        Ok(store::list_tokens(&mut conn.conn(), actor.workspace(), actor.id()).await?)
    }

    /// Revokes one of the caller's own tokens.
    pub async fn revoke_token(&self, actor: &Actor, id: TokenId) -> AppResult<()> {
        let mut tx = self.begin().await?;
        match store::revoke_token(&mut tx.conn(), actor.workspace(), actor.id(), id, self.now()).await {
            Err(kairos_store::StoreError::NotFound) => Err(AppError::NotFound { entity: "token" }),
            other => {
                other?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// Browser login: checks credentials and opens a session.
    pub async fn create_session(&self, email: &str, password: &str, client: &str) -> AppResult<NewSession> {
        let user = self.check_credentials(email, password, client).await?;
        let now = self.now();
        let session = NewSession {
            secret: random_secret(),
            csrf_token: random_secret(),
            expires_at: now + Duration::hours(self.config.session_ttl_hours),
            user,
        };
        let mut tx = self.begin().await?;
        store::insert_session(&mut tx.conn(), &secret_hash(&session.secret), &session.user, &session.csrf_token, now, session.expires_at)
            .await?;
        tx.commit().await?;
        Ok(session)
    }

    /// The actor behind a session cookie, or `Unauthorized`.
    pub async fn authenticate_session(&self, secret: &str) -> AppResult<Actor> {
        let mut lookup = self.store.lookup().await?;
        let found = store::find_session(&mut lookup.conn(), &secret_hash(secret), self.now()).await?.ok_or(AppError::Unauthorized)?;
        drop(lookup);
        self.actor_for(found.user, AuthMethod::Session { csrf_token: found.csrf_token }).await
    }

    pub async fn end_session(&self, secret: &str) -> AppResult<()> {
        let mut tx = self.begin().await?;
        store::delete_session(&mut tx.conn(), &secret_hash(secret)).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Whether a string looks like one of our API tokens (to tell it from a session secret).
pub fn is_api_token(secret: &str) -> bool {
    secret.starts_with(TOKEN_PREFIX)
}

/// Constant-time comparison for CSRF tokens.
pub fn secrets_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
