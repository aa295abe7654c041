//! Users. The password hash is read only by [`find_login`].

use chrono::{DateTime, Utc};
use kairos_domain::identity::{Locale, Roles, User};
use kairos_domain::ids::{OrgUnitId, UserId, WorkspaceId};
use sea_query::{Alias, Cond, Expr, Func, Order, Query};

use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::page::{Page, PageRequest, apply_page};
use crate::row::{like_escape, parse_id, parse_opt_id};
use crate::scope::col;

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub(crate) workspace_id: String,
    pub(crate) user_id: String,
    pub(crate) email: String,
    pub(crate) display_name: String,
    pub(crate) org_unit_id: Option<String>,
    pub(crate) roles: String,
    pub(crate) active: bool,
    pub(crate) locale: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) version: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> StoreResult<User> {
        Ok(User {
            id: parse_id(&r.user_id, UserId::parse)?,
            workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            email: r.email,
            display_name: r.display_name,
            org_unit_id: parse_opt_id(r.org_unit_id.as_deref(), OrgUnitId::parse)?,
            roles: Roles::from_stored(&r.roles).map_err(|p| StoreError::Corrupt(p.0))?,
            active: r.active,
            locale: r.locale.as_deref().map(Locale::parse).transpose().map_err(|p| StoreError::Corrupt(p.0))?,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

pub(crate) const COLUMNS: &str = "u.workspace_id, u.user_id, u.email, u.display_name, u.org_unit_id, u.roles, \
                                  u.active, u.locale, u.created_at, u.updated_at, u.version";

pub async fn insert_user(c: &mut Conn<'_>, u: &User, email_key: &str, password_hash: &str) -> StoreResult<()> {
    c.execute(
        &sql("INSERT INTO app_user (workspace_id, user_id, email, email_key, display_name, password_hash, org_unit_id, \
              roles, active, locale, created_at, updated_at, version) \
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
        .bind(u.workspace_id.to_string())
        .bind(u.id.to_string())
        .bind(u.email.clone())
        .bind(email_key.to_string())
        .bind(u.display_name.clone())
        .bind(password_hash.to_string())
        .bind(u.org_unit_id.map(|o| o.to_string()))
        .bind(u.roles.to_stored())
        .bind(u.active)
        .bind(u.locale.map(|l| l.as_str()))
        .bind(u.created_at)
        .bind(u.updated_at)
        .bind(u.version),
    )
    .await?;
    Ok(())
}

pub async fn update_user(c: &mut Conn<'_>, u: &User, email_key: &str, expected_version: i64) -> StoreResult<()> {
    let n = c
        .execute(
            &sql("UPDATE app_user SET email = $1, email_key = $2, display_name = $3, org_unit_id = $4, roles = $5, \
                  active = $6, locale = $7, updated_at = $8, version = $9 \
                  WHERE workspace_id = $10 AND user_id = $11 AND version = $12")
            .bind(u.email.clone())
            .bind(email_key.to_string())
            .bind(u.display_name.clone())
            .bind(u.org_unit_id.map(|o| o.to_string()))
            .bind(u.roles.to_stored())
            .bind(u.active)
            .bind(u.locale.map(|l| l.as_str()))
            .bind(u.updated_at)
            .bind(u.version)
            .bind(u.workspace_id.to_string())
            .bind(u.id.to_string())
            .bind(expected_version),
        )
        .await?;
    if n == 0 { Err(StoreError::StaleVersion) } else { Ok(()) }
}

pub async fn set_password_hash(c: &mut Conn<'_>, ws: WorkspaceId, id: UserId, hash: &str) -> StoreResult<()> {
    c.execute(
        &sql("UPDATE app_user SET password_hash = $1 WHERE workspace_id = $2 AND user_id = $3")
            .bind(hash.to_string())
            .bind(ws.to_string())
            .bind(id.to_string()),
    )
    .await?;
    Ok(())
}

pub async fn find_user(c: &mut Conn<'_>, ws: WorkspaceId, id: UserId) -> StoreResult<Option<User>> {
    let row: Option<UserRow> = c
        .fetch_optional(
            &sql(format!("SELECT {COLUMNS} FROM app_user u WHERE u.workspace_id = $1 AND u.user_id = $2"))
                .bind(ws.to_string())
                .bind(id.to_string()),
        )
        .await?;
    row.map(User::try_from).transpose()
}

pub async fn find_user_by_email_key(c: &mut Conn<'_>, email_key: &str) -> StoreResult<Option<User>> {
    Ok(find_login(c, email_key).await?.map(|(u, _)| u))
}

/// The user holding an e-mail address, with the password hash to check a login against.
pub async fn find_login(c: &mut Conn<'_>, email_key: &str) -> StoreResult<Option<(User, String)>> {
    #[derive(sqlx::FromRow)]
    struct LoginRow {
        #[sqlx(flatten)]
        user: UserRow,
        password_hash: String,
    }
    let row: Option<LoginRow> = c
        .fetch_optional(
            &sql(format!("SELECT {COLUMNS}, u.password_hash FROM app_user u WHERE u.email_key = $1"))
                .bind(email_key.to_string()),
        )
        .await?;
    row.map(|r| Ok((User::try_from(r.user)?, r.password_hash))).transpose()
}

#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    pub q: Option<String>,
    pub org_units: Option<Vec<OrgUnitId>>,
    pub active: Option<bool>,
    pub role: Option<String>,
}

pub async fn list_users(c: &mut Conn<'_>, ws: WorkspaceId, f: &UserFilter, page: PageRequest) -> StoreResult<Page<User>> {
    let mut q = Query::select();
    q.from_as(Alias::new("app_user"), Alias::new("u")).and_where(col("u", "workspace_id").eq(ws.to_string()));
    if let Some(text) = &f.q {
        let pattern = format!("%{}%", like_escape(&text.to_lowercase()));
        q.cond_where(
            Cond::any()
                .add(
                    Expr::expr(Func::lower(col("u", "display_name")))
                        .like(sea_query::LikeExpr::new(pattern.clone()).escape('\\')),
                )
                .add(col("u", "email_key").like(sea_query::LikeExpr::new(pattern).escape('\\'))),
        );
    }
    if let Some(units) = &f.org_units {
        q.and_where(col("u", "org_unit_id").is_in(units.iter().map(|u| u.to_string())));
    }
    if let Some(active) = f.active {
        q.and_where(col("u", "active").eq(active));
    }
    if let Some(role) = &f.role {
        // roles are stored comma-separated and sorted; match a whole item.
        q.and_where(
            Expr::expr(Expr::cust("',' || u.roles || ','")).like(sea_query::LikeExpr::new(format!("%,{},%", like_escape(role))).escape('\\')),
        );
    }
    let mut count = q.clone();
    count.expr(Expr::cust("COUNT(*)"));
    let total = c.fetch_count(&count).await?;
    q.expr(Expr::cust(COLUMNS));
    q.order_by((Alias::new("u"), Alias::new("display_name")), Order::Asc);
    q.order_by((Alias::new("u"), Alias::new("user_id")), Order::Asc);
    apply_page(&mut q, page);
    let rows: Vec<UserRow> = c.fetch_all(&q).await?;
    let items = rows.into_iter().map(User::try_from).collect::<StoreResult<Vec<_>>>()?;
    Ok(Page::new(items, total, page))
}

/// Moves a user's records to their new unit, so that managers' scopes follow the people.
pub async fn move_owned_records(c: &mut Conn<'_>, ws: WorkspaceId, user: UserId, unit: Option<OrgUnitId>) -> StoreResult<()> {
    c.execute(
        &sql("UPDATE account SET org_unit_id = $1 WHERE workspace_id = $2 AND owner_id = $3")
            .bind(unit.map(|u| u.to_string()))
            .bind(ws.to_string())
            .bind(user.to_string()),
    )
    .await?;
    Ok(())
}
