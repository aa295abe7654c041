//! Creating a workspace with its headquarters and first admin (`kairos init`).

use kairos_domain::audit::created;
use kairos_domain::identity::{Locale, Role, User};
use kairos_domain::ids::{OrgUnitId, WorkspaceId};
use kairos_domain::org::{OrgUnit, OrgUnitKind};
use kairos_domain::workspace::Workspace;
use kairos_domain::{FieldErrors, text};
use kairos_store::{org_unit, user, workspace as store};

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::users::UserSpec;

pub struct WorkspaceSpec {
    pub name: String,
    pub admin_email: String,
    pub admin_password: String,
    pub admin_name: Option<String>,
    pub locale: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewWorkspace {
    pub workspace: Workspace,
    pub headquarters: OrgUnit,
    pub admin: User,
}

impl App {
    /// Creates a workspace, its headquarters unit and its admin. Refuses, before writing
    /// anything, when the admin's e-mail is already in use.
    pub async fn init_workspace(&self, spec: WorkspaceSpec) -> AppResult<NewWorkspace> {
        let mut errors = FieldErrors::new();
        let name = errors.check("workspace", text::required_text(&spec.name, 100));
        let email_key = errors.check("admin_email", text::email_key(&spec.admin_email));
        // The admin's own checks run here too, so that nothing is written for an admin that
        // would then be refused.
        errors.check("admin_password", crate::password::check_policy(&spec.admin_password));
        if let Some(n) = &spec.admin_name {
            errors.check("admin_name", text::required_text(n, 100));
        }
        let locale = errors
            .check_opt("locale", spec.locale.as_deref().map(Locale::parse))
            .unwrap_or(Locale::ZhCn);
        errors.finish()?;
        let (Some(name), Some(email_key)) = (name, email_key) else { return Err(AppError::internal("validated input lost a value")) };
        {
            let mut conn = self.store.read().await?;
            if user::find_user_by_email_key(&mut conn.conn(), &email_key).await?.is_some() {
                return Err(AppError::Conflict {
                    code: "duplicate",
                    message: format!("a user with the e-mail {} already exists; choose another admin e-mail", spec.admin_email.trim()),
                    details: serde_json::json!({ "field": "admin_email" }),
                });
            }
        }
        let now = self.now();
        let workspace = Workspace {
            id: WorkspaceId::from_uuid(self.mint()),
            name,
            base_currency: "CNY".into(),
            time_zone: "Asia/Shanghai".into(),
            locale,
            fiscal_year_start_month: 1,
            number_pattern: "{yyyy}-{region}-{seq:3}".into(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let headquarters = OrgUnit {
            id: OrgUnitId::from_uuid(self.mint()),
            workspace_id: workspace.id,
            parent_id: None,
            name: if locale == Locale::ZhCn { "总部".into() } else { "Headquarters".into() },
            code: "HQ".into(),
            kind: OrgUnitKind::Headquarters,
            manager_id: None,
            archived: false,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut tx = self.begin().await?;
        store::insert_workspace(&mut tx.conn(), &workspace).await?;
        org_unit::insert_org_unit(&mut tx.conn(), &headquarters).await?;
        self.audit_as(&mut tx.conn(), workspace.id, None, "org_unit", headquarters.id.to_string(), "create", &created(&headquarters))
            .await?;
        self.seed_workspace(&mut tx.conn(), workspace.id, now).await?;
        tx.commit().await?;
        let admin = self
            .add_user(
                workspace.id,
                None,
                UserSpec {
                    email: spec.admin_email,
                    display_name: spec.admin_name.unwrap_or_else(|| "Admin".into()),
                    password: spec.admin_password,
                    org_unit_id: Some(headquarters.id.to_string()),
                    roles: vec![Role::Admin],
                    locale: Some(locale.as_str().to_string()),
                },
            )
            .await;
        let admin = admin?;
        Ok(NewWorkspace { workspace, headquarters, admin })
    }
}
