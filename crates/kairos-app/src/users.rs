//! Users (admin), PRODUCT.md §1. Everyone may read the directory (owner pickers need it);
//! only admins change it.

use kairos_domain::audit::{changed, created};
use kairos_domain::identity::{Locale, Role, Roles, User};
use kairos_domain::ids::{OrgUnitId, UserId, WorkspaceId};
use kairos_domain::{FieldErrors, text};
use kairos_store::user::{self as store, UserFilter};
use kairos_store::{Conn, StoreError, auth, org_unit};
use serde::Deserialize;
use serde_json::json;

use crate::actor::{Actor, AdminCap};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::input::{patch, required_version};
use crate::listing::{self, ListPage};
use crate::password;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    /// At least 10 characters.
    pub password: String,
    #[serde(default)]
    #[schema(format = Uuid)]
    pub org_unit_id: Option<String>,
    /// Default: sales_rep.
    #[serde(default)]
    pub roles: Option<Vec<Role>>,
    /// zh-CN or en; default: the workspace's.
    #[serde(default)]
    pub locale: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub org_unit_id: Option<Option<String>>,
    #[serde(default)]
    pub roles: Option<Vec<Role>>,
    /// `false` disables the user: their sessions end and their tokens stop working.
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub locale: Option<Option<String>>,
    /// Sets a new password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Text search on name and e-mail.
    pub q: Option<String>,
    /// An org unit; its subtree is included.
    pub org_unit_id: Option<String>,
    pub active: Option<String>,
    pub role: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// What it takes to create a user, from the API or the command line.
pub struct UserSpec {
    pub email: String,
    pub display_name: String,
    pub password: String,
    pub org_unit_id: Option<String>,
    pub roles: Vec<Role>,
    pub locale: Option<String>,
}

impl App {
    pub async fn list_users(&self, actor: &Actor, query: &UserQuery) -> AppResult<ListPage<User>> {
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let unit = errors.check_opt("org_unit_id", query.org_unit_id.as_deref().filter(|s| !s.is_empty()).map(OrgUnitId::parse));
        let active = listing::flag(&mut errors, "active", query.active.as_deref());
        let role = errors.check_opt("role", query.role.as_deref().filter(|s| !s.is_empty()).map(Role::parse));
        let page = listing::page_request(&mut errors, query.limit.as_deref(), query.cursor.as_deref());
        errors.finish()?;
        let mut conn = self.store.read().await?;
        let org_units = match unit {
            Some(u) => Some(org_unit::subtree_ids(&mut conn.conn(), ws, u).await?),
            None => None,
        };
        let filter = UserFilter { q: query.q.clone().filter(|s| !s.trim().is_empty()), org_units, active, role: role.map(|r| r.as_str().to_string()) };
        Ok(ListPage::from_page(store::list_users(&mut conn.conn(), ws, &filter, page).await?))
    }

    pub async fn get_user(&self, actor: &Actor, id: &str) -> AppResult<User> {
        let id = UserId::parse(id).map_err(|_| AppError::NotFound { entity: "user" })?;
        let mut conn = self.store.read().await?;
        store::find_user(&mut conn.conn(), actor.workspace(), id).await?.ok_or(AppError::NotFound { entity: "user" })
    }

    pub async fn create_user(&self, admin: AdminCap<'_>, input: NewUser) -> AppResult<User> {
        let actor = admin.actor();
        let spec = UserSpec {
            email: input.email,
            display_name: input.display_name,
            password: input.password,
            org_unit_id: input.org_unit_id,
            roles: input.roles.unwrap_or_else(|| vec![Role::SalesRep]),
            locale: input.locale,
        };
        self.add_user(actor.workspace(), Some(actor), spec).await
    }

    /// Creates a user in a workspace; `by` is absent when the command line does it.
    pub async fn add_user(&self, ws: WorkspaceId, by: Option<&Actor>, spec: UserSpec) -> AppResult<User> {
        let mut errors = FieldErrors::new();
        let email_key = errors.check("email", text::email_key(&spec.email));
        let display_name = errors.check("display_name", text::required_text(&spec.display_name, 100));
        errors.check("password", password::check_policy(&spec.password));
        let roles = errors.check("roles", Roles::new(spec.roles));
        let locale = errors.check_opt("locale", spec.locale.as_deref().filter(|s| !s.is_empty()).map(Locale::parse));
        let unit = errors.check_opt("org_unit_id", spec.org_unit_id.as_deref().map(OrgUnitId::parse));
        let hash = if errors.is_empty() { Some(password::hash(&self.config, spec.password).await?) } else { None };
        let mut tx = self.begin().await?;
        if let Some(u) = unit {
            check_unit(&mut tx.conn(), ws, &mut errors, u).await?;
        }
        errors.finish()?;
        let (Some(email_key), Some(display_name), Some(roles), Some(hash)) = (email_key, display_name, roles, hash) else {
            return Err(AppError::internal("validated input lost a value"));
        };
        if let Some(existing) = store::find_user_by_email_key(&mut tx.conn(), &email_key).await? {
            return Err(duplicate_email(existing.id));
        }
        let now = self.now();
        let user = User {
            id: UserId::from_uuid(self.mint()),
            workspace_id: ws,
            email: spec.email.trim().to_string(),
            display_name,
            org_unit_id: unit,
            roles,
            active: true,
            locale,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        match store::insert_user(&mut tx.conn(), &user, &email_key, &hash).await {
            Err(StoreError::Unique { .. }) => return Err(AppError::Conflict {
                code: "duplicate",
                message: "a user with this e-mail already exists".into(),
                details: json!({ "field": "email" }),
            }),
            other => other?,
        }
        self.audit_as(&mut tx.conn(), ws, by.map(|a| a.id()), "user", user.id.to_string(), "create", &created(&user)).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn update_user(&self, admin: AdminCap<'_>, id: &str, input: UserPatch) -> AppResult<User> {
        let actor = admin.actor();
        let ws = actor.workspace();
        let id = UserId::parse(id).map_err(|_| AppError::NotFound { entity: "user" })?;
        let mut errors = FieldErrors::new();
        let version = required_version(&mut errors, input.version);
        let email_key = errors.check_opt("email", input.email.as_deref().map(text::email_key));
        let display_name = errors.check_opt("display_name", input.display_name.as_deref().map(|n| text::required_text(n, 100)));
        let roles = errors.check_opt("roles", input.roles.map(Roles::new));
        if let Some(p) = &input.password {
            errors.check("password", password::check_policy(p));
        }
        let locale = match input.locale {
            None => None,
            Some(None) => Some(None),
            Some(Some(l)) => errors.check("locale", Locale::parse(&l)).map(Some),
        };
        let mut tx = self.begin().await?;
        let old = store::find_user(&mut tx.conn(), ws, id).await?.ok_or(AppError::NotFound { entity: "user" })?;
        let mut new = old.clone();
        match input.org_unit_id {
            None => {}
            Some(None) => new.org_unit_id = None,
            Some(Some(text)) => {
                if let Some(u) = errors.check("org_unit_id", OrgUnitId::parse(&text)) {
                    check_unit(&mut tx.conn(), ws, &mut errors, u).await?;
                    new.org_unit_id = Some(u);
                }
            }
        }
        if id == actor.id() && (input.active == Some(false) || roles.as_ref().is_some_and(|r: &Roles| !r.is_admin())) {
            errors.add(if input.active == Some(false) { "active" } else { "roles" }, "you cannot disable yourself or drop your own admin role");
        }
        errors.finish()?;
        if version != old.version {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        let mut key = kairos_domain::text::email_key(&old.email).unwrap_or_default();
        if let (Some(k), Some(email)) = (email_key, input.email.as_deref()) {
            if k != key {
                if let Some(existing) = store::find_user_by_email_key(&mut tx.conn(), &k).await? {
                    return Err(duplicate_email(existing.id));
                }
            }
            key = k;
            new.email = email.trim().to_string();
        }
        if let Some(n) = display_name {
            new.display_name = n;
        }
        if let Some(r) = roles {
            new.roles = r;
        }
        if let Some(a) = input.active {
            new.active = a;
        }
        if let Some(l) = locale {
            new.locale = l;
        }
        let mut changes = changed(&old, &new);
        if input.password.is_some() {
            changes.push(kairos_domain::audit::FieldChange { field: "password".into(), old_value: None, new_value: Some("(changed)".into()) });
        }
        if changes.is_empty() {
            tx.rollback().await?;
            return Ok(old);
        }
        new.version = old.version + 1;
        new.updated_at = self.now();
        store::update_user(&mut tx.conn(), &new, &key, old.version).await?;
        if let Some(p) = input.password {
            let hash = password::hash(&self.config, p).await?;
            store::set_password_hash(&mut tx.conn(), ws, id, &hash).await?;
        }
        if new.org_unit_id != old.org_unit_id {
            // Managers' scopes follow the people: the user's records move with them.
            store::move_owned_records(&mut tx.conn(), ws, id, new.org_unit_id).await?;
        }
        if !new.active || input_changes_password(&changes) {
            auth::delete_user_sessions(&mut tx.conn(), ws, id).await?;
        }
        self.audit(&mut tx.conn(), Some(actor), "user", id.to_string(), "update", &changes).await?;
        tx.commit().await?;
        Ok(new)
    }
}

fn input_changes_password(changes: &[kairos_domain::audit::FieldChange]) -> bool {
    changes.iter().any(|c| c.field == "password")
}

async fn check_unit(c: &mut Conn<'_>, ws: WorkspaceId, errors: &mut FieldErrors, unit: OrgUnitId) -> AppResult<()> {
    match org_unit::find_org_unit(c, ws, unit).await? {
        Some(u) if !u.archived => {}
        _ => errors.add("org_unit_id", "does not name a live org unit of this workspace"),
    }
    Ok(())
}

fn duplicate_email(existing: UserId) -> AppError {
    AppError::Conflict {
        code: "duplicate",
        message: "a user with this e-mail already exists".into(),
        details: json!({ "field": "email", "existing_id": existing.to_string() }),
    }
}

impl App {
    /// Disables or re-enables a user by e-mail, from the command line.
    pub async fn set_user_active_by_email(&self, ws: WorkspaceId, email: &str, active: bool) -> AppResult<User> {
        let key = text::email_key(email).map_err(|p| AppError::field("email", p.0))?;
        let mut tx = self.begin().await?;
        let old = store::find_user_by_email_key(&mut tx.conn(), &key)
            .await?
            .filter(|u| u.workspace_id == ws)
            .ok_or(AppError::NotFound { entity: "user" })?;
        if old.active == active {
            return Ok(old);
        }
        let mut new = old.clone();
        new.active = active;
        new.version += 1;
        new.updated_at = self.now();
        store::update_user(&mut tx.conn(), &new, &key, old.version).await?;
        if !active {
            auth::delete_user_sessions(&mut tx.conn(), ws, new.id).await?;
        }
        self.audit_as(&mut tx.conn(), ws, None, "user", new.id.to_string(), "update", &changed(&old, &new)).await?;
        tx.commit().await?;
        Ok(new)
    }
}

impl App {
    /// Everyone chooses their own interface language (not an admin matter).
    pub async fn set_own_locale(&self, actor: &Actor, locale: &str) -> AppResult<User> {
        let locale = Locale::parse(locale).map_err(|p| AppError::field("locale", p.to_string()))?;
        let ws = actor.workspace();
        let mut tx = self.begin().await?;
        let old = store::find_user(&mut tx.conn(), ws, actor.id()).await?.ok_or(AppError::NotFound { entity: "user" })?;
        if old.locale == Some(locale) {
            tx.rollback().await?;
            return Ok(old);
        }
        let mut new = old.clone();
        new.locale = Some(locale);
        new.version = old.version + 1;
        new.updated_at = self.now();
        let key = text::email_key(&old.email).unwrap_or_default();
        store::update_user(&mut tx.conn(), &new, &key, old.version).await?;
        self.audit(&mut tx.conn(), Some(actor), "user", new.id.to_string(), "update", &changed(&old, &new)).await?;
        tx.commit().await?;
        Ok(new)
    }
}
