//! Org units (admin): the headquarters › branch › team tree, PRODUCT.md §1.

use kairos_domain::audit::{changed, created};
use kairos_domain::ids::{OrgUnitId, UserId};
use kairos_domain::org::{OrgTree, OrgUnit, OrgUnitCode, OrgUnitKind};
use kairos_domain::{FieldErrors, text};
use kairos_store::{Conn, StoreError, org_unit as store, user};
use serde::Deserialize;
use serde_json::json;

use crate::actor::{Actor, AdminCap};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::input::{patch, required_version};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrgUnit {
    pub name: String,
    /// 1 to 10 letters or digits, unique in the workspace (the region of opportunity numbers).
    pub code: String,
    pub kind: OrgUnitKind,
    #[serde(default)]
    #[schema(format = Uuid)]
    pub parent_id: Option<String>,
    #[serde(default)]
    #[schema(format = Uuid)]
    pub manager_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgUnitPatch {
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub kind: Option<OrgUnitKind>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub parent_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub manager_id: Option<Option<String>>,
}

impl App {
    /// Every org unit of the workspace; readable by all, since people pick units in forms.
    pub async fn list_org_units(&self, actor: &Actor) -> AppResult<Vec<OrgUnit>> {
        let mut conn = self.store.read().await?;
        Ok(store::list_org_units(&mut conn.conn(), actor.workspace()).await?)
    }

    pub async fn get_org_unit(&self, actor: &Actor, id: &str) -> AppResult<OrgUnit> {
        let id = OrgUnitId::parse(id).map_err(|_| AppError::NotFound { entity: "org unit" })?;
        let mut conn = self.store.read().await?;
        store::find_org_unit(&mut conn.conn(), actor.workspace(), id).await?.ok_or(AppError::NotFound { entity: "org unit" })
    }

    pub async fn create_org_unit(&self, admin: AdminCap<'_>, input: NewOrgUnit) -> AppResult<OrgUnit> {
        let actor = admin.actor();
        let ws = actor.workspace();
        let mut errors = FieldErrors::new();
        let name = errors.check("name", text::required_text(&input.name, 100));
        let code = errors.check("code", OrgUnitCode::parse(&input.code));
        let parent = errors.check_opt("parent_id", input.parent_id.as_deref().map(OrgUnitId::parse));
        let manager = errors.check_opt("manager_id", input.manager_id.as_deref().map(UserId::parse));
        let mut tx = self.begin().await?;
        let units = store::list_org_units(&mut tx.conn(), ws).await?;
        if let Some(p) = parent {
            if !units.iter().any(|u| u.id == p && !u.archived) {
                errors.add("parent_id", "does not name a live org unit of this workspace");
            }
        } else if input.kind != OrgUnitKind::Headquarters {
            errors.add("parent_id", "is required for a branch or a team");
        }
        if let Some(m) = manager {
            check_manager(&mut tx.conn(), actor, &mut errors, m).await?;
        }
        errors.finish()?;
        let (Some(name), Some(code)) = (name, code) else { return Err(AppError::internal("validated input lost a value")) };
        if let Some(existing) = units.iter().find(|u| u.code == code.as_str()) {
            return Err(duplicate_code(existing.id));
        }
        let now = self.now();
        let unit = OrgUnit {
            id: OrgUnitId::from_uuid(self.mint()),
            workspace_id: ws,
            parent_id: parent,
            name,
            code: code.as_str().to_string(),
            kind: input.kind,
            manager_id: manager,
            archived: false,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        match store::insert_org_unit(&mut tx.conn(), &unit).await {
            Err(StoreError::Unique { .. }) => return Err(AppError::Conflict {
                code: "duplicate",
                message: "another org unit has this code".into(),
                details: json!({ "field": "code" }),
            }),
            other => other?,
        }
        self.audit(&mut tx.conn(), Some(actor), "org_unit", unit.id.to_string(), "create", &created(&unit)).await?;
        tx.commit().await?;
        Ok(unit)
    }

    pub async fn update_org_unit(&self, admin: AdminCap<'_>, id: &str, input: OrgUnitPatch) -> AppResult<OrgUnit> {
        let actor = admin.actor();
        let ws = actor.workspace();
        let id = OrgUnitId::parse(id).map_err(|_| AppError::NotFound { entity: "org unit" })?;
        let mut errors = FieldErrors::new();
        let version = required_version(&mut errors, input.version);
        let name = errors.check_opt("name", input.name.as_deref().map(|n| text::required_text(n, 100)));
        let code = errors.check_opt("code", input.code.as_deref().map(OrgUnitCode::parse));
        let mut tx = self.begin().await?;
        let units = store::list_org_units(&mut tx.conn(), ws).await?;
        let old = units.iter().find(|u| u.id == id).cloned().ok_or(AppError::NotFound { entity: "org unit" })?;
        let mut new = old.clone();
        if let Some(parent) = input.parent_id {
            let parsed = match parent {
                None => Some(None),
                Some(text) => errors.check("parent_id", OrgUnitId::parse(&text)).map(Some),
            };
            if let Some(p) = parsed {
                let tree = OrgTree::new(units.iter().map(|u| (u.id, u.parent_id)).collect());
                if errors.check("parent_id", tree.check_reparent(id, p)).is_some() {
                    new.parent_id = p;
                }
            }
        }
        if let Some(manager) = input.manager_id {
            match manager {
                None => new.manager_id = None,
                Some(text) => {
                    if let Some(m) = errors.check("manager_id", UserId::parse(&text)) {
                        check_manager(&mut tx.conn(), actor, &mut errors, m).await?;
                        new.manager_id = Some(m);
                    }
                }
            }
        }
        if let Some(kind) = input.kind {
            new.kind = kind;
        }
        if new.parent_id.is_none() && new.kind != OrgUnitKind::Headquarters {
            errors.add("parent_id", "is required for a branch or a team");
        }
        errors.finish()?;
        if version != old.version {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        if let Some(name) = name {
            new.name = name;
        }
        if let Some(code) = code {
            if let Some(existing) = units.iter().find(|u| u.code == code.as_str() && u.id != id) {
                return Err(duplicate_code(existing.id));
            }
            new.code = code.as_str().to_string();
        }
        let changes = changed(&old, &new);
        if changes.is_empty() {
            tx.rollback().await?;
            return Ok(old);
        }
        new.version = old.version + 1;
        new.updated_at = self.now();
        store::update_org_unit(&mut tx.conn(), &new, old.version).await?;
        self.audit(&mut tx.conn(), Some(actor), "org_unit", id.to_string(), "update", &changes).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// Archives an empty unit. A unit with people or sub-units is refused with the reason,
    /// because archiving it would orphan them.
    pub async fn archive_org_unit(&self, admin: AdminCap<'_>, id: &str) -> AppResult<OrgUnit> {
        let actor = admin.actor();
        let ws = actor.workspace();
        let id = OrgUnitId::parse(id).map_err(|_| AppError::NotFound { entity: "org unit" })?;
        let mut tx = self.begin().await?;
        let old = store::find_org_unit(&mut tx.conn(), ws, id).await?.ok_or(AppError::NotFound { entity: "org unit" })?;
        if old.archived {
            return Ok(old);
        }
        let people = store::count_users_in_unit(&mut tx.conn(), ws, id).await?;
        let children = store::count_children(&mut tx.conn(), ws, id).await?;
        if people > 0 || children > 0 {
            return Err(AppError::Refused {
                code: "org_unit_in_use",
                message: format!("this unit still has {people} user(s) and {children} sub-unit(s); move them first"),
                details: json!({ "users": people, "children": children }),
            });
        }
        let mut new = old.clone();
        new.archived = true;
        new.version += 1;
        new.updated_at = self.now();
        store::update_org_unit(&mut tx.conn(), &new, old.version).await?;
        self.audit(&mut tx.conn(), Some(actor), "org_unit", id.to_string(), "delete", &changed(&old, &new)).await?;
        tx.commit().await?;
        Ok(new)
    }
}

async fn check_manager(c: &mut Conn<'_>, actor: &Actor, errors: &mut FieldErrors, manager: UserId) -> AppResult<()> {
    match user::find_user(c, actor.workspace(), manager).await? {
        Some(u) if u.active => {}
        _ => errors.add("manager_id", "does not name an active user of this workspace"),
    }
    Ok(())
}

fn duplicate_code(existing: OrgUnitId) -> AppError {
    AppError::Conflict {
        code: "duplicate",
        message: "another org unit has this code".into(),
        details: json!({ "field": "code", "existing_id": existing.to_string() }),
    }
}
