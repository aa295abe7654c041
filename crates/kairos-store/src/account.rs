//! Accounts and account teams.

use chrono::{DateTime, Utc};
use kairos_domain::account::{Account, AccountType};
use kairos_domain::identity::DataScope;
use kairos_domain::ids::{AccountId, OrgUnitId, UserId, WorkspaceId};
use sea_query::{Alias, Cond, Expr, Func, LikeExpr, Query};

use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::page::{Page, PageRequest, Sort, apply_page};
use crate::row::{like_escape, parse_id, parse_opt_id, parse_stored, parse_tags, tags_json};
use crate::scope::{ACCOUNT, col};

#[derive(sqlx::FromRow)]
struct AccountRow {
    workspace_id: String,
    account_id: String,
    name: String,
    name_key: String,
    account_type: String,
    industry: Option<String>,
    size: Option<String>,
    region: Option<String>,
    address: Option<String>,
    credit_rating: Option<String>,
    owner_id: String,
    org_unit_id: Option<String>,
    tags: String,
    notes: Option<String>,
    archived_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;
    fn try_from(r: AccountRow) -> StoreResult<Account> {
        Ok(Account {
            id: parse_id(&r.account_id, AccountId::parse)?,
            workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            name: r.name,
            name_key: r.name_key,
            account_type: parse_stored(&r.account_type, "account type", AccountType::from_stored)?,
            industry: r.industry,
            size: r.size,
            region: r.region,
            address: r.address,
            credit_rating: r.credit_rating,
            owner_id: parse_id(&r.owner_id, UserId::parse)?,
            org_unit_id: parse_opt_id(r.org_unit_id.as_deref(), OrgUnitId::parse)?,
            tags: parse_tags(&r.tags)?,
            notes: r.notes,
            archived: r.archived_at.is_some(),
            archived_at: r.archived_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

const COLUMNS: &str = "a.workspace_id, a.account_id, a.name, a.name_key, a.account_type, a.industry, a.size, \
                       a.region, a.address, a.credit_rating, a.owner_id, a.org_unit_id, a.tags, a.notes, \
                       a.archived_at, a.created_at, a.updated_at, a.version";

pub async fn insert_account(c: &mut Conn<'_>, a: &Account, created_by: UserId) -> StoreResult<()> {
    c.execute(
        &sql("INSERT INTO account (workspace_id, account_id, name, name_key, account_type, industry, size, region, \
              address, credit_rating, owner_id, org_unit_id, tags, notes, archived_at, created_by, created_at, \
              updated_at, version) \
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)")
        .bind(a.workspace_id.to_string())
        .bind(a.id.to_string())
        .bind(a.name.clone())
        .bind(a.name_key.clone())
        .bind(a.account_type.as_str())
        .bind(a.industry.clone())
        .bind(a.size.clone())
        .bind(a.region.clone())
        .bind(a.address.clone())
        .bind(a.credit_rating.clone())
        .bind(a.owner_id.to_string())
        .bind(a.org_unit_id.map(|u| u.to_string()))
        .bind(tags_json(&a.tags))
        .bind(a.notes.clone())
        .bind(a.archived_at)
        .bind(created_by.to_string())
        .bind(a.created_at)
        .bind(a.updated_at)
        .bind(a.version),
    )
    .await?;
    Ok(())
}

/// Writes the new state of an account if the stored version is still `expected_version`.
pub async fn update_account(c: &mut Conn<'_>, a: &Account, expected_version: i64) -> StoreResult<()> {
    let n = c
        .execute(
            &sql("UPDATE account SET name = $1, name_key = $2, account_type = $3, industry = $4, size = $5, \
                  region = $6, address = $7, credit_rating = $8, owner_id = $9, org_unit_id = $10, tags = $11, \
                  notes = $12, archived_at = $13, updated_at = $14, version = $15 \
                  WHERE workspace_id = $16 AND account_id = $17 AND version = $18")
            .bind(a.name.clone())
            .bind(a.name_key.clone())
            .bind(a.account_type.as_str())
            .bind(a.industry.clone())
            .bind(a.size.clone())
            .bind(a.region.clone())
            .bind(a.address.clone())
            .bind(a.credit_rating.clone())
            .bind(a.owner_id.to_string())
            .bind(a.org_unit_id.map(|u| u.to_string()))
            .bind(tags_json(&a.tags))
            .bind(a.notes.clone())
            .bind(a.archived_at)
            .bind(a.updated_at)
            .bind(a.version)
            .bind(a.workspace_id.to_string())
            .bind(a.id.to_string())
            .bind(expected_version),
        )
        .await?;
    if n == 0 { Err(StoreError::StaleVersion) } else { Ok(()) }
}

/// The account, if it exists and the scope lets the caller see it.
pub async fn find_account(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, id: AccountId) -> StoreResult<Option<Account>> {
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from_as(Alias::new("account"), Alias::new("a"))
        .and_where(col("a", "workspace_id").eq(ws.to_string()))
        .and_where(col("a", "account_id").eq(id.to_string()));
    if let Some(cond) = ACCOUNT.condition(ws, scope) {
        q.and_where(cond);
    }
    let row: Option<AccountRow> = c.fetch_optional(&q).await?;
    row.map(Account::try_from).transpose()
}

/// The account holding a name key, whoever may see it: the duplicate guard must point at
/// the existing record even when it belongs to another team.
pub async fn find_account_by_name_key(c: &mut Conn<'_>, ws: WorkspaceId, key: &str) -> StoreResult<Option<(AccountId, UserId)>> {
    let row: Option<(String, String)> = c
        .fetch_optional(
            &sql("SELECT account_id, owner_id FROM account WHERE workspace_id = $1 AND name_key = $2")
                .bind(ws.to_string())
                .bind(key.to_string()),
        )
        .await?;
    row.map(|(a, o)| Ok((parse_id(&a, AccountId::parse)?, parse_id(&o, UserId::parse)?))).transpose()
}

#[derive(Debug, Default, Clone)]
pub struct AccountFilter {
    pub q: Option<String>,
    pub account_type: Option<AccountType>,
    pub industry: Option<String>,
    pub region: Option<String>,
    pub owner: Option<UserId>,
    pub org_units: Option<Vec<OrgUnitId>>,
    pub tag: Option<String>,
    /// `None` lists live accounts only; `Some(true)` only archived ones; `Some(false)` live.
    pub archived: Option<bool>,
    pub updated_since: Option<DateTime<Utc>>,
}

pub async fn list_accounts(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    scope: &DataScope,
    f: &AccountFilter,
    sort: Sort,
    page: PageRequest,
) -> StoreResult<Page<Account>> {
    let mut q = Query::select();
    q.from_as(Alias::new("account"), Alias::new("a")).and_where(col("a", "workspace_id").eq(ws.to_string()));
    if let Some(cond) = ACCOUNT.condition(ws, scope) {
        q.and_where(cond);
    }
    if let Some(text) = f.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let key = kairos_domain::text::company_key(text);
        let pattern = |t: &str| LikeExpr::new(format!("%{}%", like_escape(t))).escape('\\');
        q.cond_where(
            Cond::any()
                .add(Expr::expr(Func::lower(col("a", "name"))).like(pattern(&text.to_lowercase())))
                .add(col("a", "name_key").like(pattern(&key))),
        );
    }
    if let Some(t) = f.account_type {
        q.and_where(col("a", "account_type").eq(t.as_str()));
    }
    if let Some(v) = &f.industry {
        q.and_where(col("a", "industry").eq(v.clone()));
    }
    if let Some(v) = &f.region {
        q.and_where(col("a", "region").eq(v.clone()));
    }
    if let Some(owner) = f.owner {
        q.and_where(col("a", "owner_id").eq(owner.to_string()));
    }
    if let Some(units) = &f.org_units {
        q.and_where(col("a", "org_unit_id").is_in(units.iter().map(|u| u.to_string())));
    }
    if let Some(tag) = &f.tag {
        // tags are a json array of strings; match one whole, quoted element.
        let quoted = serde_json::to_string(tag).unwrap_or_default();
        q.and_where(col("a", "tags").like(LikeExpr::new(format!("%{}%", like_escape(&quoted))).escape('\\')));
    }
    match f.archived {
        Some(true) => q.and_where(col("a", "archived_at").is_not_null()),
        _ => q.and_where(col("a", "archived_at").is_null()),
    };
    if let Some(since) = f.updated_since {
        q.and_where(col("a", "updated_at").gte(since));
    }
    let mut count = q.clone();
    count.expr(Expr::cust("COUNT(*)"));
    let total = c.fetch_count(&count).await?;
    q.expr(Expr::cust(COLUMNS));
    sort.apply(&mut q, "a", "account_id");
    apply_page(&mut q, page);
    let rows: Vec<AccountRow> = c.fetch_all(&q).await?;
    let items = rows.into_iter().map(Account::try_from).collect::<StoreResult<Vec<_>>>()?;
    Ok(Page::new(items, total, page))
}

pub async fn list_account_members(c: &mut Conn<'_>, ws: WorkspaceId, account: AccountId) -> StoreResult<Vec<(UserId, String)>> {
    let rows: Vec<(String, String)> = c
        .fetch_all(
            &sql("SELECT user_id, role FROM account_member WHERE workspace_id = $1 AND account_id = $2 ORDER BY created_at, user_id")
                .bind(ws.to_string())
                .bind(account.to_string()),
        )
        .await?;
    rows.into_iter().map(|(u, r)| Ok((parse_id(&u, UserId::parse)?, r))).collect()
}

/// Replaces the account team.
pub async fn replace_account_members(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    account: AccountId,
    members: &[(UserId, String)],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    c.execute(
        &sql("DELETE FROM account_member WHERE workspace_id = $1 AND account_id = $2")
            .bind(ws.to_string())
            .bind(account.to_string()),
    )
    .await?;
    for (user, role) in members {
        c.execute(
            &sql("INSERT INTO account_member (workspace_id, account_id, user_id, role, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(ws.to_string())
                .bind(account.to_string())
                .bind(user.to_string())
                .bind(role.clone())
                .bind(now),
        )
        .await?;
    }
    Ok(())
}

/// The name of each of these accounts (for lists that show them beside other records).
pub async fn names_of(c: &mut Conn<'_>, ws: WorkspaceId, ids: &[AccountId]) -> StoreResult<std::collections::HashMap<AccountId, String>> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let mut q = Query::select();
        q.columns(["account_id", "name"].map(Alias::new))
            .from(Alias::new("account"))
            .and_where(Expr::col(Alias::new("workspace_id")).eq(ws.to_string()))
            .and_where(Expr::col(Alias::new("account_id")).is_in(chunk.iter().map(|i| i.to_string())));
        let rows: Vec<(String, String)> = c.fetch_all(&q).await?;
        for (id, name) in rows {
            out.insert(parse_id(&id, AccountId::parse)?, name);
        }
    }
    Ok(out)
}
