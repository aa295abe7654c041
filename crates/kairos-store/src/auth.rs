//! Sessions, API tokens and the login-failure log behind rate limiting.

use chrono::{DateTime, Utc};
use kairos_domain::identity::User;
use kairos_domain::ids::{TokenId, UserId, WorkspaceId};
use serde::Serialize;

use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::row::parse_id;
use crate::user::{COLUMNS as USER_COLUMNS, UserRow};

/// A browser session found by the hash of its cookie.
pub struct SessionFound {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_session(
    c: &mut Conn<'_>,
    session_hash: &str,
    user: &User,
    csrf_token: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    c.execute(
        &sql("INSERT INTO user_session (session_hash, workspace_id, user_id, csrf_token, created_at, expires_at) \
              VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(session_hash.to_string())
        .bind(user.workspace_id.to_string())
        .bind(user.id.to_string())
        .bind(csrf_token.to_string())
        .bind(now)
        .bind(expires_at),
    )
    .await?;
    Ok(())
}

/// An active user found by the hash of a session or token secret, with one text and one
/// instant of what found it (`found_key`, `found_at`). Read as a JSON document on SQLite
/// (`Conn::fetch_many`), so that an inline connection looks it up on the calling thread
/// (every API request starts here); `active` is left out, the lookups selecting active
/// users only.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct Found {
    workspace_id: String,
    user_id: String,
    email: String,
    display_name: String,
    org_unit_id: Option<String>,
    roles: String,
    locale: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
    found_key: String,
    found_at: Option<DateTime<Utc>>,
}

const FOUND_COLUMNS: [&str; 12] =
    ["workspace_id", "user_id", "email", "display_name", "org_unit_id", "roles", "locale", "created_at", "updated_at", "version", "found_key", "found_at"];

/// The `Found` row of a lookup that selects `found_key` and `found_at` beside the user.
async fn find_user(c: &mut Conn<'_>, lookup: &crate::db::Sql) -> StoreResult<Option<(User, String, Option<DateTime<Utc>>)>> {
    let found: Vec<Found> = c.fetch_many(lookup, &FOUND_COLUMNS, None).await?;
    found
        .into_iter()
        .next()
        .map(|r| {
            let user = UserRow {
                workspace_id: r.workspace_id,
                user_id: r.user_id,
                email: r.email,
                display_name: r.display_name,
                org_unit_id: r.org_unit_id,
                roles: r.roles,
                active: true,
                locale: r.locale,
                created_at: r.created_at,
                updated_at: r.updated_at,
                version: r.version,
            };
            Ok((user.try_into()?, r.found_key, r.found_at))
        })
        .transpose()
}

/// The live session of an active user, if the hash names one.
pub async fn find_session(c: &mut Conn<'_>, session_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<SessionFound>> {
    let lookup = sql(format!(
        "SELECT {USER_COLUMNS}, s.csrf_token AS found_key, s.expires_at AS found_at FROM user_session s \
         JOIN app_user u ON u.workspace_id = s.workspace_id AND u.user_id = s.user_id \
         WHERE s.session_hash = $1 AND s.expires_at > $2 AND u.active = $3"
    ))
    .bind(session_hash.to_string())
    .bind(now)
    .bind(true);
    Ok(find_user(c, &lookup).await?.and_then(|(user, csrf_token, expires_at)| Some(SessionFound { user, csrf_token, expires_at: expires_at? })))
}

pub async fn delete_session(c: &mut Conn<'_>, session_hash: &str) -> StoreResult<()> {
    c.execute(&sql("DELETE FROM user_session WHERE session_hash = $1").bind(session_hash.to_string())).await?;
    Ok(())
}

/// Ends every session of a user (on disabling them or changing their password).
pub async fn delete_user_sessions(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId) -> StoreResult<()> {
    c.execute(
        &sql("DELETE FROM user_session WHERE workspace_id = $1 AND user_id = $2")
            .bind(ws.to_string())
            .bind(user.to_string()),
    )
    .await?;
    Ok(())
}

/// A personal API token as listed to its owner: never the secret itself.
#[derive(Debug, Clone, Serialize)]
#[derive(utoipa::ToSchema)]
pub struct ApiToken {
    #[schema(value_type = String, format = Uuid)]
    pub id: TokenId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    token_id: String,
    name: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> StoreResult<ApiToken> {
        Ok(ApiToken {
            id: parse_id(&r.token_id, TokenId::parse)?,
            name: r.name,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
    }
}

pub async fn insert_token(c: &mut Conn<'_>, user: &User, token: &ApiToken, token_hash: &str) -> StoreResult<()> {
    c.execute(
        &sql("INSERT INTO api_token (workspace_id, token_id, user_id, name, token_hash, created_at, expires_at) \
              VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(user.workspace_id.to_string())
        .bind(token.id.to_string())
        .bind(user.id.to_string())
        .bind(token.name.clone())
        .bind(token_hash.to_string())
        .bind(token.created_at)
        .bind(token.expires_at),
    )
    .await?;
    Ok(())
}

pub struct TokenFound {
    pub user: User,
    pub token_id: TokenId,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The user behind a live, unrevoked token of an active account.
pub async fn find_token(c: &mut Conn<'_>, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<TokenFound>> {
    let lookup = sql(format!(
        "SELECT {USER_COLUMNS}, t.token_id AS found_key, t.last_used_at AS found_at FROM api_token t \
         JOIN app_user u ON u.workspace_id = t.workspace_id AND u.user_id = t.user_id \
         WHERE t.token_hash = $1 AND t.expires_at > $2 AND t.revoked_at IS NULL AND u.active = $3"
    ))
    .bind(token_hash.to_string())
    .bind(now)
    .bind(true);
    find_user(c, &lookup)
        .await?
        .map(|(user, token_id, last_used_at)| Ok(TokenFound { user, token_id: parse_id(&token_id, TokenId::parse)?, last_used_at }))
        .transpose()
}

pub async fn touch_token(c: &mut Conn<'_>, ws: WorkspaceId, id: TokenId, now: DateTime<Utc>) -> StoreResult<()> {
    c.execute(
        &sql("UPDATE api_token SET last_used_at = $1 WHERE workspace_id = $2 AND token_id = $3")
            .bind(now)
            .bind(ws.to_string())
            .bind(id.to_string()),
    )
    .await?;
    Ok(())
}

pub async fn list_tokens(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId) -> StoreResult<Vec<ApiToken>> {
    let rows: Vec<TokenRow> = c
        .fetch_all(
            &sql("SELECT token_id, name, created_at, expires_at, last_used_at, revoked_at FROM api_token \
                  WHERE workspace_id = $1 AND user_id = $2 ORDER BY created_at DESC, token_id DESC")
            .bind(ws.to_string())
            .bind(user.to_string()),
        )
        .await?;
    rows.into_iter().map(ApiToken::try_from).collect()
}

/// Revokes one of the user's own tokens; `NotFound` when the user has no such live token.
pub async fn revoke_token(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId, id: TokenId, now: DateTime<Utc>) -> StoreResult<()> {
    let n = c
        .execute(
            &sql("UPDATE api_token SET revoked_at = $1 WHERE workspace_id = $2 AND user_id = $3 AND token_id = $4 \
                  AND revoked_at IS NULL")
            .bind(now)
            .bind(ws.to_string())
            .bind(user.to_string())
            .bind(id.to_string()),
        )
        .await?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub async fn record_login_failure(c: &mut Conn<'_>, key: &str, at: DateTime<Utc>) -> StoreResult<()> {
    c.execute(&sql("INSERT INTO login_failure (failure_key, failed_at) VALUES ($1, $2)").bind(key.to_string()).bind(at))
        .await?;
    Ok(())
}

/// How many failures a key has had since `since`, and when the oldest of them was.
pub async fn login_failures_since(
    c: &mut Conn<'_>,
    key: &str,
    since: DateTime<Utc>,
) -> StoreResult<(i64, Option<DateTime<Utc>>)> {
    let (n, oldest): (i64, Option<DateTime<Utc>>) = c
        .fetch_one(
            &sql("SELECT COUNT(*), MIN(failed_at) FROM login_failure WHERE failure_key = $1 AND failed_at > $2")
                .bind(key.to_string())
                .bind(since),
        )
        .await?;
    Ok((n, oldest))
}

pub async fn clear_login_failures(c: &mut Conn<'_>, key: &str) -> StoreResult<()> {
    c.execute(&sql("DELETE FROM login_failure WHERE failure_key = $1").bind(key.to_string())).await?;
    Ok(())
}

/// Drops failures and sessions too old to matter.
pub async fn prune(c: &mut Conn<'_>, failures_before: DateTime<Utc>, now: DateTime<Utc>) -> StoreResult<()> {
    c.execute(&sql("DELETE FROM login_failure WHERE failed_at < $1").bind(failures_before)).await?;
    c.execute(&sql("DELETE FROM user_session WHERE expires_at < $1").bind(now)).await?;
    Ok(())
}
