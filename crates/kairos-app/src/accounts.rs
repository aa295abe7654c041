//! Accounts (客户), PRODUCT.md §2: create, read, list, change, archive and restore, under
//! the caller's data scope, with duplicate names refused.

use kairos_domain::account::{Account, AccountName, AccountType};
use kairos_domain::audit::{changed, created};
use kairos_domain::ids::{AccountId, OrgUnitId, UserId};
use kairos_domain::{FieldErrors, text};
use kairos_store::account::{self as store, AccountFilter};
use kairos_store::page::Sort;
use kairos_store::{Conn, StoreError, org_unit, user};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::input::{patch, patched_text, required_version};
use crate::listing::{self, ListPage};
use crate::ownership::resolve_owner;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub name: String,
    /// Default: enterprise.
    #[serde(default)]
    pub account_type: Option<AccountType>,
    #[serde(default)]
    pub industry: Option<String>,
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub credit_rating: Option<String>,
    /// Default: the caller.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub notes: Option<String>,
    /// The account team: people besides the owner who work on it and therefore see it.
    #[serde(default)]
    pub members: Option<Vec<MemberInput>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    #[schema(format = Uuid)]
    pub user_id: String,
    /// Free text such as "presales" or "support"; default "member".
    #[serde(default)]
    pub role: Option<String>,
}

/// A PATCH body: absent fields stay, `null` clears an optional field.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    /// The version you read; may instead come as `If-Match`.
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub account_type: Option<AccountType>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub size: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub region: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub credit_rating: Option<Option<String>>,
    #[serde(default)]
    #[schema(format = Uuid)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    #[serde(default)]
    pub members: Option<Vec<MemberInput>>,
}

/// An account with its team.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    #[serde(flatten)]
    pub account: Account,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    pub role: String,
}

/// Query parameters of `GET /api/v1/accounts`, as text so that every bad value is reported
/// by name.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// Text search on the name (also matches other spellings of the same company).
    pub q: Option<String>,
    pub account_type: Option<String>,
    pub industry: Option<String>,
    pub region: Option<String>,
    pub owner_id: Option<String>,
    /// An org unit; its whole subtree is included.
    pub org_unit_id: Option<String>,
    pub tag: Option<String>,
    /// `true` lists archived accounts instead of live ones.
    pub archived: Option<String>,
    /// `name`, `created_at`, `updated_at`, `industry`, `region`; prefix `-` for descending.
    pub sort: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

const SORTS: &[(&str, &str)] =
    &[("name", "name"), ("created_at", "created_at"), ("updated_at", "updated_at"), ("industry", "industry"), ("region", "region")];

impl App {
    pub async fn create_account(&self, actor: &Actor, input: NewAccount) -> AppResult<AccountView> {
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let name = errors.check("name", AccountName::parse(&input.name));
        let industry = errors.check("industry", text::optional_text(input.industry.as_deref(), 100)).flatten();
        let size = errors.check("size", text::optional_text(input.size.as_deref(), 50)).flatten();
        let region = errors.check("region", text::optional_text(input.region.as_deref(), 100)).flatten();
        let address = errors.check("address", text::optional_text(input.address.as_deref(), 500)).flatten();
        let credit_rating = errors.check("credit_rating", text::optional_text(input.credit_rating.as_deref(), 20)).flatten();
        let notes = errors.check("notes", text::optional_text(input.notes.as_deref(), 10_000)).flatten();
        let tags = errors.check("tags", text::tags(input.tags.as_deref().unwrap_or_default())).unwrap_or_default();

        let mut tx = self.begin().await?;
        let owner = resolve_owner(&mut tx.conn(), actor, &mut errors, input.owner_id.as_deref()).await?;
        let members = match &input.members {
            Some(m) => parse_members(&mut tx.conn(), actor, &mut errors, m).await?,
            None => Vec::new(),
        };
        errors.finish()?;
        let (Some(name), Some((owner_id, org_unit_id))) = (name, owner) else {
            return Err(AppError::internal("validated input lost a value"));
        };
        // No look-up first: the unique index on the name key is the duplicate check, and a
        // refused insert is turned into the 409 below. One statement fewer on the hot path.
        let now = self.now();
        let account = Account {
            id: AccountId::from_uuid(self.mint()),
            workspace_id: ws,
            name: name.as_str().to_string(),
            name_key: name.key().to_string(),
            account_type: input.account_type.unwrap_or(AccountType::Enterprise),
            industry,
            size,
            region,
            address,
            credit_rating,
            owner_id,
            org_unit_id,
            tags,
            notes,
            archived: false,
            archived_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        match store::insert_account(&mut tx.conn(), &account, actor.id()).await {
            Err(StoreError::Unique { .. }) => {
                // A concurrent create took the name between our check and our insert.
                drop(tx);
                let mut conn = self.store.read().await?;
                return Err(duplicate_of(&mut conn.conn(), actor, name.key(), None)
                    .await?
                    .unwrap_or_else(|| AppError::internal("unique name conflict without a holder")));
            }
            other => other?,
        }
        if !members.is_empty() {
            store::replace_account_members(&mut tx.conn(), ws, account.id, &members, now).await?;
        }
        self.audit(&mut tx.conn(), Some(actor), "account", account.id.to_string(), "create", &created(&account)).await?;
        tx.commit().await?;
        Ok(AccountView { account, members: members.into_iter().map(|(user_id, role)| Member { user_id, role }).collect() })
    }

    pub async fn get_account(&self, actor: &Actor, id: &str) -> AppResult<AccountView> {
        let id = parse_account_id(id)?;
        let mut conn = self.store.read().await?;
        let account = store::find_account(&mut conn.conn(), actor.workspace(), &actor.scope, id)
            .await?
            .ok_or(AppError::NotFound { entity: "account" })?;
        let members = store::list_account_members(&mut conn.conn(), actor.workspace(), id).await?;
        Ok(AccountView { account, members: members.into_iter().map(|(user_id, role)| Member { user_id, role }).collect() })
    }

    pub async fn list_accounts(&self, actor: &Actor, query: &AccountQuery) -> AppResult<ListPage<Account>> {
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let account_type = query.account_type.as_deref().filter(|s| !s.is_empty()).and_then(|t| {
            let parsed = AccountType::from_stored(t);
            if parsed.is_none() {
                errors.add("account_type", format!("unknown account type {t:?}; expected enterprise, government, institution or individual"));
            }
            parsed
        });
        let owner = errors.check_opt("owner_id", query.owner_id.as_deref().filter(|s| !s.is_empty()).map(UserId::parse));
        let unit = errors.check_opt("org_unit_id", query.org_unit_id.as_deref().filter(|s| !s.is_empty()).map(OrgUnitId::parse));
        let archived = listing::flag(&mut errors, "archived", query.archived.as_deref());
        let sort = listing::sort(&mut errors, query.sort.as_deref(), SORTS, Sort { column: "name", descending: false });
        let page = listing::page_request(&mut errors, query.limit.as_deref(), query.cursor.as_deref());
        errors.finish()?;
        let mut conn = self.store.read().await?;
        let org_units = match unit {
            Some(u) => Some(org_unit::subtree_ids(&mut conn.conn(), ws, u).await?),
            None => None,
        };
        let filter = AccountFilter {
            q: query.q.clone(),
            account_type,
            industry: query.industry.clone().filter(|s| !s.is_empty()),
            region: query.region.clone().filter(|s| !s.is_empty()),
            owner,
            org_units,
            tag: query.tag.clone().filter(|s| !s.is_empty()),
            archived,
            updated_since: None,
        };
        let found = store::list_accounts(&mut conn.conn(), ws, &actor.scope, &filter, sort, page).await?;
        Ok(ListPage::from_page(found))
    }

    pub async fn update_account(&self, actor: &Actor, id: &str, input: AccountPatch) -> AppResult<AccountView> {
        let id = parse_account_id(id)?;
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let version = required_version(&mut errors, input.version);
        let name = errors.check_opt("name", input.name.as_deref().map(AccountName::parse));
        let tags = errors.check_opt("tags", input.tags.as_deref().map(text::tags));

        let mut tx = self.begin().await?;
        let old = store::find_account(&mut tx.conn(), ws, &actor.scope, id)
            .await?
            .ok_or(AppError::NotFound { entity: "account" })?;
        let mut new = old.clone();
        new.industry = patched_text(&mut errors, "industry", old.industry.clone(), input.industry, 100);
        new.size = patched_text(&mut errors, "size", old.size.clone(), input.size, 50);
        new.region = patched_text(&mut errors, "region", old.region.clone(), input.region, 100);
        new.address = patched_text(&mut errors, "address", old.address.clone(), input.address, 500);
        new.credit_rating = patched_text(&mut errors, "credit_rating", old.credit_rating.clone(), input.credit_rating, 20);
        new.notes = patched_text(&mut errors, "notes", old.notes.clone(), input.notes, 10_000);
        if let Some(owner) = input.owner_id.as_deref() {
            if let Some((owner_id, unit)) = resolve_owner(&mut tx.conn(), actor, &mut errors, Some(owner)).await? {
                new.owner_id = owner_id;
                new.org_unit_id = unit;
            }
        }
        let members = match &input.members {
            Some(m) => Some(parse_members(&mut tx.conn(), actor, &mut errors, m).await?),
            None => None,
        };
        errors.finish()?;
        if old.archived {
            return Err(archived_refusal("account"));
        }
        if version != old.version {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        if let Some(name) = name {
            if name.key() != old.name_key {
                if let Some(existing) = duplicate_of(&mut tx.conn(), actor, name.key(), Some(id)).await? {
                    return Err(existing);
                }
            }
            new.name = name.as_str().to_string();
            new.name_key = name.key().to_string();
        }
        if let Some(t) = input.account_type {
            new.account_type = t;
        }
        if let Some(tags) = tags {
            new.tags = tags;
        }
        let mut changes = changed(&old, &new);
        let old_members = store::list_account_members(&mut tx.conn(), ws, id).await?;
        if let Some(members) = &members {
            if *members != old_members {
                changes.push(kairos_domain::audit::FieldChange {
                    field: "members".into(),
                    old_value: Some(members_text(&old_members)),
                    new_value: Some(members_text(members)),
                });
            }
        }
        let members = members.unwrap_or(old_members);
        if changes.is_empty() {
            // Nothing changed: no new version, no audit noise.
            tx.rollback().await?;
            return Ok(AccountView { account: old, members: to_members(members) });
        }
        new.version = old.version + 1;
        new.updated_at = self.now();
        match store::update_account(&mut tx.conn(), &new, old.version).await {
            Err(StoreError::Unique { .. }) => {
                drop(tx);
                let mut conn = self.store.read().await?;
                return Err(duplicate_of(&mut conn.conn(), actor, &new.name_key, Some(id))
                    .await?
                    .unwrap_or_else(|| AppError::internal("unique name conflict without a holder")));
            }
            other => other?,
        }
        store::replace_account_members(&mut tx.conn(), ws, id, &members, new.updated_at).await?;
        self.audit(&mut tx.conn(), Some(actor), "account", id.to_string(), "update", &changes).await?;
        tx.commit().await?;
        Ok(AccountView { account: new, members: to_members(members) })
    }

    /// `DELETE`: archives the account (restorable). A version, when given, must match.
    pub async fn archive_account(&self, actor: &Actor, id: &str, version: Option<i64>) -> AppResult<Account> {
        self.set_account_archived(actor, id, version, true).await
    }

    pub async fn restore_account(&self, actor: &Actor, id: &str, version: Option<i64>) -> AppResult<Account> {
        self.set_account_archived(actor, id, version, false).await
    }

    async fn set_account_archived(&self, actor: &Actor, id: &str, version: Option<i64>, archive: bool) -> AppResult<Account> {
        let id = parse_account_id(id)?;
        let mut tx = self.begin().await?;
        let old = store::find_account(&mut tx.conn(), actor.workspace(), &actor.scope, id)
            .await?
            .ok_or(AppError::NotFound { entity: "account" })?;
        if version.is_some_and(|v| v != old.version) {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        if old.archived == archive {
            return Ok(old);
        }
        let now = self.now();
        let mut new = old.clone();
        new.archived = archive;
        new.archived_at = archive.then_some(now);
        new.updated_at = now;
        new.version = old.version + 1;
        store::update_account(&mut tx.conn(), &new, old.version).await?;
        let action = if archive { "delete" } else { "restore" };
        self.audit(&mut tx.conn(), Some(actor), "account", id.to_string(), action, &changed(&old, &new)).await?;
        tx.commit().await?;
        Ok(new)
    }
}

fn parse_account_id(id: &str) -> AppResult<AccountId> {
    // A malformed id cannot name a record: answer as for any unknown one.
    AccountId::parse(id).map_err(|_| AppError::NotFound { entity: "account" })
}

pub(crate) fn archived_refusal(entity: &'static str) -> AppError {
    AppError::Refused {
        code: "archived",
        message: format!("this {entity} is archived; restore it before changing it"),
        details: json!({}),
    }
}

/// The 409 for a name another account holds, pointing at that account.
async fn duplicate_of(c: &mut Conn<'_>, actor: &Actor, key: &str, except: Option<AccountId>) -> AppResult<Option<AppError>> {
    let found = store::find_account_by_name_key(c, actor.workspace(), key).await?;
    Ok(found.filter(|(id, _)| Some(*id) != except).map(|(existing, _)| AppError::Conflict {
        code: "duplicate",
        message: "an account with the same name already exists".into(),
        details: json!({ "field": "name", "existing_id": existing.to_string() }),
    }))
}

pub(crate) async fn parse_members(
    c: &mut Conn<'_>,
    actor: &Actor,
    errors: &mut FieldErrors,
    input: &[MemberInput],
) -> AppResult<Vec<(UserId, String)>> {
    if input.len() > 50 {
        errors.add("members", "may list at most 50 people");
        return Ok(Vec::new());
    }
    let mut out: Vec<(UserId, String)> = Vec::new();
    for (i, m) in input.iter().enumerate() {
        let field = format!("members[{i}].user_id");
        let Some(id) = errors.check(&field, UserId::parse(&m.user_id)) else { continue };
        let role = match errors.check(&format!("members[{i}].role"), text::optional_text(m.role.as_deref(), 40)) {
            Some(r) => r.unwrap_or_else(|| "member".to_string()),
            None => continue,
        };
        if out.iter().any(|(u, _)| *u == id) {
            errors.add(field, "lists the same person twice");
            continue;
        }
        match user::find_user(c, actor.workspace(), id).await? {
            Some(u) if u.active => out.push((id, role)),
            _ => errors.add(field, "does not name an active user of this workspace"),
        }
    }
    Ok(out)
}

fn members_text(members: &[(UserId, String)]) -> String {
    members.iter().map(|(u, r)| format!("{u}:{r}")).collect::<Vec<_>>().join(", ")
}

fn to_members(members: Vec<(UserId, String)>) -> Vec<Member> {
    members.into_iter().map(|(user_id, role)| Member { user_id, role }).collect()
}

/// What the duplicate guard knows about a name before anyone saves it.
#[derive(Debug, Clone, Serialize)]
pub struct NameTaken {
    pub existing_id: AccountId,
    pub owner_id: UserId,
    /// The existing account lies inside the caller's data scope (they may open it).
    pub visible: bool,
}

impl App {
    /// The account a name would collide with (same normalised company name), for the
    /// "duplicate as you type" warning. Names too short to mean a company answer `None`.
    pub async fn account_name_taken(&self, actor: &Actor, name: &str) -> AppResult<Option<NameTaken>> {
        let key = text::company_key(name);
        if key.chars().count() < 2 {
            return Ok(None);
        }
        let mut conn = self.store.read().await?;
        let Some((existing_id, owner_id)) = store::find_account_by_name_key(&mut conn.conn(), actor.workspace(), &key).await? else { return Ok(None) };
        let visible = store::find_account(&mut conn.conn(), actor.workspace(), &actor.scope, existing_id).await?.is_some();
        Ok(Some(NameTaken { existing_id, owner_id, visible }))
    }
}
