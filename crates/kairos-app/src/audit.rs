//! Writing and reading the audit trail (PRODUCT.md §1).

use kairos_domain::audit::FieldChange;
use kairos_domain::ids::{AccountId, ContactId, UserId, WorkspaceId};
use kairos_store::audit::{AuditEntry, AuditEvent, insert_audit, list_audit};
use kairos_store::{Conn, account, contact};

use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};

impl App {
    /// Writes the audit rows of a change inside the caller's transaction.
    pub(crate) async fn audit(
        &self,
        c: &mut Conn<'_>,
        actor: Option<&Actor>,
        entity: &str,
        entity_id: String,
        action: &str,
        changes: &[FieldChange],
    ) -> AppResult<()> {
        let Some(workspace) = actor.map(|a| a.workspace()) else {
            return Err(AppError::internal("audit without a workspace"));
        };
        self.audit_as(c, workspace, actor.map(|a| a.id()), entity, entity_id, action, changes).await
    }

    /// Like [`audit`](Self::audit) for changes no signed-in user made (the command line).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn audit_as(
        &self,
        c: &mut Conn<'_>,
        workspace: WorkspaceId,
        by: Option<UserId>,
        entity: &str,
        entity_id: String,
        action: &str,
        changes: &[FieldChange],
    ) -> AppResult<()> {
        let event = AuditEvent { workspace, actor: by, at: self.now(), entity, entity_id, action };
        let mut mint = || self.mint();
        insert_audit(c, &event, changes, &mut mint).await?;
        Ok(())
    }

    /// `GET /api/v1/audit?entity=…&id=…`: the history of one record the caller may see.
    pub async fn read_audit(&self, actor: &Actor, entity: &str, id: &str) -> AppResult<Vec<AuditEntry>> {
        let ws = actor.workspace();
        let mut conn = self.store.read().await?;
        let visible = match entity {
            "account" => {
                let id = AccountId::parse(id).map_err(|p| AppError::field("id", p.0))?;
                account::find_account(&mut conn.conn(), ws, &actor.scope, id).await?.is_some()
            }
            "contact" => {
                let id = ContactId::parse(id).map_err(|p| AppError::field("id", p.0))?;
                contact::find_contact(&mut conn.conn(), ws, &actor.scope, id).await?.is_some()
            }
            "user" | "org_unit" => {
                actor.require_admin()?;
                true
            }
            other => {
                return Err(AppError::field(
                    "entity",
                    format!("unknown entity {other:?}; expected account, contact, user or org_unit"),
                ));
            }
        };
        if !visible {
            return Err(AppError::NotFound { entity: "record" });
        }
        Ok(list_audit(&mut conn.conn(), ws, entity, id, 1000).await?)
    }
}
