//! Workspace settings (admin): name, base currency, number pattern, priority thresholds;
//! and the configurable close reasons.

use kairos_domain::ids::CloseReasonId;
use kairos_domain::numbering::NumberPattern;
use kairos_domain::{FieldErrors, text};
use kairos_store::settings::{self, CloseReason, WorkspaceSettings};
use serde::Deserialize;

use crate::actor::{Actor, AdminCap};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::input::required_version;

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
    /// Changing it does not convert stored amounts; set FX rates for the old currency.
    #[serde(default)]
    pub base_currency: Option<String>,
    #[serde(default)]
    pub number_pattern: Option<String>,
    #[serde(default)]
    pub priority_health_above: Option<i64>,
    #[serde(default)]
    pub priority_amount_above: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCloseReason {
    /// lost or invalid
    pub outcome: String,
    pub label: String,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseReasonPatch {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub position: Option<i64>,
    /// Inactive reasons stay on closed deals but cannot be chosen any more.
    #[serde(default)]
    pub active: Option<bool>,
}

impl App {
    pub async fn workspace_settings(&self, actor: &Actor) -> AppResult<WorkspaceSettings> {
        let mut conn = self.store.read().await?;
        Ok(settings::get_settings(&mut conn.conn(), actor.workspace()).await?)
    }

    pub async fn update_workspace_settings(&self, admin: AdminCap<'_>, input: SettingsPatch) -> AppResult<WorkspaceSettings> {
        let actor = admin.actor();
        let mut errors = FieldErrors::new();
        let version = required_version(&mut errors, input.version);
        let mut tx = self.begin().await?;
        let old = settings::get_settings(&mut tx.conn(), actor.workspace()).await?;
        let mut new = old.clone();
        if let Some(n) = &input.name {
            new.name = errors.check("name", text::required_text(n, 100)).unwrap_or_default();
        }
        if let Some(c) = &input.base_currency {
            new.base_currency = errors.check("base_currency", kairos_domain::opportunity::currency(c)).unwrap_or_default();
        }
        if let Some(p) = &input.number_pattern {
            new.number_pattern = errors.check("number_pattern", NumberPattern::parse(p)).map(|p| p.as_str().to_string()).unwrap_or_default();
        }
        if let Some(h) = input.priority_health_above {
            if !(0..=100).contains(&h) {
                errors.add("priority_health_above", "must be between 0 and 100");
            }
            new.priority_health_above = h;
        }
        if let Some(a) = input.priority_amount_above {
            if a < 0 {
                errors.add("priority_amount_above", "must not be negative (minor units of the base currency)");
            }
            new.priority_amount_above = a;
        }
        errors.finish()?;
        if version != old.version {
            return Err(AppError::StaleVersion { current_version: Some(old.version) });
        }
        new.version = old.version + 1;
        settings::update_settings(&mut tx.conn(), actor.workspace(), &new, self.now(), old.version).await?;
        let change = [kairos_domain::audit::FieldChange { field: "settings".into(), old_value: Some(format!("{old:?}")), new_value: Some(format!("{new:?}")) }];
        self.audit(&mut tx.conn(), Some(actor), "workspace", actor.workspace().to_string(), "update", &change).await?;
        tx.commit().await?;
        Ok(new)
    }

    pub async fn create_close_reason(&self, admin: AdminCap<'_>, input: NewCloseReason) -> AppResult<CloseReason> {
        let actor = admin.actor();
        let mut errors = FieldErrors::new();
        if input.outcome != "lost" && input.outcome != "invalid" {
            errors.add("outcome", "must be lost or invalid");
        }
        let label = errors.check("label", text::required_text(&input.label, 100));
        errors.finish()?;
        let mut tx = self.begin().await?;
        let existing = settings::list_close_reasons(&mut tx.conn(), actor.workspace()).await?;
        let label = label.unwrap_or_default();
        if existing.iter().any(|r| r.outcome == input.outcome && r.label == label) {
            return Err(AppError::Conflict { code: "duplicate", message: "this reason exists already".into(), details: serde_json::json!({ "field": "label" }) });
        }
        let reason = CloseReason {
            id: CloseReasonId::from_uuid(self.mint()).to_string(),
            outcome: input.outcome,
            label,
            position: existing.iter().map(|r| r.position).max().unwrap_or(0) + 1,
            active: true,
        };
        settings::insert_close_reason(&mut tx.conn(), actor.workspace(), &reason, self.now()).await?;
        tx.commit().await?;
        Ok(reason)
    }

    pub async fn update_close_reason(&self, admin: AdminCap<'_>, id: &str, input: CloseReasonPatch) -> AppResult<CloseReason> {
        let actor = admin.actor();
        let id = CloseReasonId::parse(id).map_err(|_| AppError::NotFound { entity: "close reason" })?;
        let mut tx = self.begin().await?;
        let mut reason = settings::find_close_reason(&mut tx.conn(), actor.workspace(), id).await?.ok_or(AppError::NotFound { entity: "close reason" })?;
        if let Some(l) = &input.label {
            reason.label = text::required_text(l, 100).map_err(|p| AppError::field("label", p.0))?;
        }
        if let Some(p) = input.position {
            reason.position = p;
        }
        if let Some(a) = input.active {
            reason.active = a;
        }
        settings::update_close_reason(&mut tx.conn(), actor.workspace(), &reason).await?;
        tx.commit().await?;
        Ok(reason)
    }
}
