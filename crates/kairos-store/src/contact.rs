//! Contacts. A contact is visible to whoever may see its account.

use chrono::{DateTime, Utc};
use kairos_domain::contact::{Attitude, Contact, DecisionRole};
use kairos_domain::identity::DataScope;
use kairos_domain::ids::{AccountId, ContactId, WorkspaceId};
use sea_query::{Alias, Cond, Expr, Func, LikeExpr, Query, SelectStatement};

use crate::db::{Conn, sql};
use crate::error::{StoreError, StoreResult};
use crate::page::{Page, PageRequest, Sort, apply_page};
use crate::row::{like_escape, parse_id, parse_opt_id, parse_stored};
use crate::scope::{ACCOUNT, col};

#[derive(sqlx::FromRow)]
struct ContactRow {
    workspace_id: String,
    contact_id: String,
    account_id: String,
    name: String,
    title: Option<String>,
    phone: Option<String>,
    phone_key: Option<String>,
    email: Option<String>,
    email_key: Option<String>,
    wechat: Option<String>,
    decision_role: String,
    attitude: String,
    reports_to_id: Option<String>,
    notes: Option<String>,
    archived_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

impl TryFrom<ContactRow> for Contact {
    type Error = StoreError;
    fn try_from(r: ContactRow) -> StoreResult<Contact> {
        Ok(Contact {
            id: parse_id(&r.contact_id, ContactId::parse)?,
            workspace_id: parse_id(&r.workspace_id, WorkspaceId::parse)?,
            account_id: parse_id(&r.account_id, AccountId::parse)?,
            name: r.name,
            title: r.title,
            phone: r.phone,
            phone_key: r.phone_key,
            email: r.email,
            email_key: r.email_key,
            wechat: r.wechat,
            decision_role: parse_stored(&r.decision_role, "decision role", DecisionRole::from_stored)?,
            attitude: parse_stored(&r.attitude, "attitude", Attitude::from_stored)?,
            reports_to_id: parse_opt_id(r.reports_to_id.as_deref(), ContactId::parse)?,
            notes: r.notes,
            archived: r.archived_at.is_some(),
            archived_at: r.archived_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

const COLUMNS: &str = "k.workspace_id, k.contact_id, k.account_id, k.name, k.title, k.phone, k.phone_key, k.email, \
                       k.email_key, k.wechat, k.decision_role, k.attitude, k.reports_to_id, k.notes, k.archived_at, \
                       k.created_at, k.updated_at, k.version";

pub async fn insert_contact(c: &mut Conn<'_>, k: &Contact, created_by: kairos_domain::ids::UserId) -> StoreResult<()> {
    c.execute(
        &sql("INSERT INTO contact (workspace_id, contact_id, account_id, name, title, phone, phone_key, email, \
              email_key, wechat, decision_role, attitude, reports_to_id, notes, archived_at, created_by, created_at, \
              updated_at, version) \
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)")
        .bind(k.workspace_id.to_string())
        .bind(k.id.to_string())
        .bind(k.account_id.to_string())
        .bind(k.name.clone())
        .bind(k.title.clone())
        .bind(k.phone.clone())
        .bind(k.phone_key.clone())
        .bind(k.email.clone())
        .bind(k.email_key.clone())
        .bind(k.wechat.clone())
        .bind(k.decision_role.as_str())
        .bind(k.attitude.as_str())
        .bind(k.reports_to_id.map(|r| r.to_string()))
        .bind(k.notes.clone())
        .bind(k.archived_at)
        .bind(created_by.to_string())
        .bind(k.created_at)
        .bind(k.updated_at)
        .bind(k.version),
    )
    .await?;
    Ok(())
}

pub async fn update_contact(c: &mut Conn<'_>, k: &Contact, expected_version: i64) -> StoreResult<()> {
    let n = c
        .execute(
            &sql("UPDATE contact SET account_id = $1, name = $2, title = $3, phone = $4, phone_key = $5, email = $6, \
                  email_key = $7, wechat = $8, decision_role = $9, attitude = $10, reports_to_id = $11, notes = $12, \
                  archived_at = $13, updated_at = $14, version = $15 \
                  WHERE workspace_id = $16 AND contact_id = $17 AND version = $18")
            .bind(k.account_id.to_string())
            .bind(k.name.clone())
            .bind(k.title.clone())
            .bind(k.phone.clone())
            .bind(k.phone_key.clone())
            .bind(k.email.clone())
            .bind(k.email_key.clone())
            .bind(k.wechat.clone())
            .bind(k.decision_role.as_str())
            .bind(k.attitude.as_str())
            .bind(k.reports_to_id.map(|r| r.to_string()))
            .bind(k.notes.clone())
            .bind(k.archived_at)
            .bind(k.updated_at)
            .bind(k.version)
            .bind(k.workspace_id.to_string())
            .bind(k.id.to_string())
            .bind(expected_version),
        )
        .await?;
    if n == 0 { Err(StoreError::StaleVersion) } else { Ok(()) }
}

/// Contacts joined to their account, with the account's scope applied.
fn scoped_select(ws: WorkspaceId, scope: &DataScope) -> SelectStatement {
    let mut q = Query::select();
    q.from_as(Alias::new("contact"), Alias::new("k")).and_where(col("k", "workspace_id").eq(ws.to_string()));
    q.join_as(
        sea_query::JoinType::InnerJoin,
        Alias::new("account"),
        Alias::new("a"),
        Cond::all()
            .add(col("a", "workspace_id").equals((Alias::new("k"), Alias::new("workspace_id"))))
            .add(col("a", "account_id").equals((Alias::new("k"), Alias::new("account_id")))),
    );
    if let Some(cond) = ACCOUNT.condition(ws, scope) {
        q.and_where(cond);
    }
    q
}

pub async fn find_contact(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, id: ContactId) -> StoreResult<Option<Contact>> {
    let mut q = scoped_select(ws, scope);
    q.expr(Expr::cust(COLUMNS)).and_where(col("k", "contact_id").eq(id.to_string()));
    let row: Option<ContactRow> = c.fetch_optional(&q).await?;
    row.map(Contact::try_from).transpose()
}

/// The contact holding a phone or e-mail key, whoever may see it (duplicate guard).
pub async fn find_contact_by_key(c: &mut Conn<'_>, ws: WorkspaceId, column: ContactKey, key: &str) -> StoreResult<Option<ContactId>> {
    let text = match column {
        ContactKey::Phone => "SELECT contact_id FROM contact WHERE workspace_id = $1 AND phone_key = $2",
        ContactKey::Email => "SELECT contact_id FROM contact WHERE workspace_id = $1 AND email_key = $2",
    };
    let row: Option<(String,)> = c.fetch_optional(&sql(text).bind(ws.to_string()).bind(key.to_string())).await?;
    row.map(|(id,)| parse_id(&id, ContactId::parse)).transpose()
}

#[derive(Debug, Clone, Copy)]
pub enum ContactKey {
    Phone,
    Email,
}

#[derive(Debug, Default, Clone)]
pub struct ContactFilter {
    pub q: Option<String>,
    pub account: Option<AccountId>,
    pub decision_role: Option<DecisionRole>,
    pub attitude: Option<Attitude>,
    pub archived: Option<bool>,
}

pub async fn list_contacts(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    scope: &DataScope,
    f: &ContactFilter,
    sort: Sort,
    page: PageRequest,
) -> StoreResult<Page<Contact>> {
    let mut q = scoped_select(ws, scope);
    if let Some(text) = f.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let pattern = |t: &str| LikeExpr::new(format!("%{}%", like_escape(t))).escape('\\');
        let lower = text.to_lowercase();
        let mut any = Cond::any()
            .add(Expr::expr(Func::lower(col("k", "name"))).like(pattern(&lower)))
            .add(Expr::expr(Func::lower(col("k", "title"))).like(pattern(&lower)))
            .add(col("k", "email_key").like(pattern(&lower)));
        if let Ok(phone) = kairos_domain::text::phone_key(text) {
            any = any.add(col("k", "phone_key").like(pattern(&phone)));
        }
        q.cond_where(any);
    }
    if let Some(account) = f.account {
        q.and_where(col("k", "account_id").eq(account.to_string()));
    }
    if let Some(r) = f.decision_role {
        q.and_where(col("k", "decision_role").eq(r.as_str()));
    }
    if let Some(a) = f.attitude {
        q.and_where(col("k", "attitude").eq(a.as_str()));
    }
    match f.archived {
        Some(true) => q.and_where(col("k", "archived_at").is_not_null()),
        _ => q.and_where(col("k", "archived_at").is_null()),
    };
    let mut count = q.clone();
    count.expr(Expr::cust("COUNT(*)"));
    let total = c.fetch_count(&count).await?;
    q.expr(Expr::cust(COLUMNS));
    sort.apply(&mut q, "k", "contact_id");
    apply_page(&mut q, page);
    let rows: Vec<ContactRow> = c.fetch_all(&q).await?;
    let items = rows.into_iter().map(Contact::try_from).collect::<StoreResult<Vec<_>>>()?;
    Ok(Page::new(items, total, page))
}

/// The chain of `reports_to` links above a contact, to refuse cycles.
pub async fn reports_to_chain(c: &mut Conn<'_>, ws: WorkspaceId, start: ContactId) -> StoreResult<Vec<ContactId>> {
    let rows: Vec<(String,)> = c
        .fetch_all(
            &sql("WITH RECURSIVE up(contact_id, reports_to_id, depth) AS ( \
                    SELECT contact_id, reports_to_id, 0 FROM contact WHERE workspace_id = $1 AND contact_id = $2 \
                    UNION ALL \
                    SELECT k.contact_id, k.reports_to_id, up.depth + 1 FROM contact k \
                    JOIN up ON k.contact_id = up.reports_to_id WHERE k.workspace_id = $1 AND up.depth < 100 \
                  ) SELECT contact_id FROM up")
            .bind(ws.to_string())
            .bind(start.to_string()),
        )
        .await?;
    rows.into_iter().map(|(id,)| parse_id(&id, ContactId::parse)).collect()
}
