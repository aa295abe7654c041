//! Settings › Organisation (admins): the org-unit tree (add, rename, move, set a manager,
//! archive) and the people (add, change unit and roles, deactivate). Every change goes
//! through the same app functions as `/api/v1/org-units` and `/api/v1/users`.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use kairos_app::AppError;
use kairos_app::org_units::{NewOrgUnit, OrgUnitPatch};
use kairos_app::users::{NewUser, UserPatch, UserQuery};
use kairos_domain::identity::Role;
use kairos_domain::org::OrgUnitKind;
use minijinja::context;

use super::{Page, form_field};
use crate::state::AppState;

type FormMap = HashMap<String, String>;

pub async fn page(State(state): State<AppState>, page: Page) -> Response {
    if let Err(e) = page.actor.require_admin() {
        return page.error(e);
    }
    let loaded = async {
        let units = state.app.list_org_units(&page.actor).await?;
        let users = state.app.list_users(&page.actor, &UserQuery { limit: Some("500".into()), ..Default::default() }).await?.items;
        Ok::<_, AppError>((units, users))
    };
    let (units, users) = match loaded.await {
        Ok(v) => v,
        Err(e) => return page.error(e),
    };
    let unit_names: HashMap<String, String> = units.iter().map(|u| (u.id.to_string(), u.name.clone())).collect();
    let user_names: HashMap<String, String> = users.iter().map(|u| (u.id.to_string(), u.display_name.clone())).collect();
    let unit_rows: Vec<_> = units
        .iter()
        .map(|u| {
            let parent = u.parent_id.map(|p| p.to_string());
            let manager = u.manager_id.map(|m| m.to_string());
            context! { id => u.id.to_string(), name => u.name, code => u.code, kind => u.kind.as_str(), archived => u.archived, version => u.version,
                parent_name => parent.as_ref().and_then(|p| unit_names.get(p)).cloned(), parent_id => parent,
                manager_name => manager.as_ref().and_then(|m| user_names.get(m)).cloned(), manager_id => manager }
        })
        .collect();
    let user_rows: Vec<_> = users
        .iter()
        .map(|u| {
            let unit = u.org_unit_id.map(|o| o.to_string());
            context! { id => u.id.to_string(), name => u.display_name, email => u.email, active => u.active, version => u.version, roles => u.roles.names(),
                unit_name => unit.as_ref().and_then(|o| unit_names.get(o)).cloned(), unit_id => unit }
        })
        .collect();
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let active_units: Vec<_> = units.iter().filter(|u| !u.archived).map(|u| (u.id.to_string(), u.name.clone())).collect();
    page.render(
        "org.html",
        "settings",
        context! { units => unit_rows, users => user_rows, roles, active_units, kinds => ["headquarters", "branch", "team"] },
    )
}

pub async fn add_unit(State(state): State<AppState>, page: Page, Form(form): Form<FormMap>) -> Response {
    let result = async {
        let input = NewOrgUnit {
            name: form_field(&form, "name").unwrap_or_default(),
            code: form_field(&form, "code").unwrap_or_default(),
            kind: unit_kind(&form)?,
            parent_id: form_field(&form, "parent_id"),
            manager_id: form_field(&form, "manager_id"),
        };
        state.app.create_org_unit(page.actor.require_admin()?, input).await
    };
    page.refreshed(result.await)
}

/// A unit's row: name, code, kind, parent and manager (empty = none), with its `version`.
pub async fn save_unit(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<FormMap>) -> Response {
    let result = async {
        let patch = OrgUnitPatch {
            version: super::form_version(&form),
            name: form_field(&form, "name"),
            code: form_field(&form, "code"),
            kind: Some(unit_kind(&form)?),
            parent_id: Some(form_field(&form, "parent_id")),
            manager_id: Some(form_field(&form, "manager_id")),
        };
        state.app.update_org_unit(page.actor.require_admin()?, &id, patch).await
    };
    page.refreshed(result.await)
}

pub async fn archive_unit(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    let result = async { state.app.archive_org_unit(page.actor.require_admin()?, &id).await };
    page.refreshed(result.await)
}

/// A new person: e-mail, name, initial password, unit and a checkbox per role (`role_<name>`).
pub async fn add_user(State(state): State<AppState>, page: Page, Form(form): Form<FormMap>) -> Response {
    let input = NewUser {
        email: form_field(&form, "email").unwrap_or_default(),
        display_name: form_field(&form, "display_name").unwrap_or_default(),
        password: form.get("password").cloned().unwrap_or_default(),
        org_unit_id: form_field(&form, "org_unit_id"),
        roles: Some(checked_roles(&form)),
        locale: None,
    };
    let result = async { state.app.create_user(page.actor.require_admin()?, input).await };
    page.refreshed(result.await)
}

/// A person's row: unit, roles and the `active` checkbox, with the row's `version`.
pub async fn save_user(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(form): Form<FormMap>) -> Response {
    let patch = UserPatch {
        version: super::form_version(&form),
        org_unit_id: Some(form_field(&form, "org_unit_id")),
        roles: Some(checked_roles(&form)),
        active: Some(form.contains_key("active")),
        ..UserPatch::default()
    };
    let result = async { state.app.update_user(page.actor.require_admin()?, &id, patch).await };
    page.refreshed(result.await)
}

fn checked_roles(form: &FormMap) -> Vec<Role> {
    Role::ALL.iter().copied().filter(|r| form.contains_key(&format!("role_{}", r.as_str()))).collect()
}

fn unit_kind(form: &FormMap) -> Result<OrgUnitKind, AppError> {
    OrgUnitKind::parse(&form_field(form, "kind").unwrap_or_default()).map_err(|_| AppError::field("kind", "must be headquarters, branch or team"))
}
