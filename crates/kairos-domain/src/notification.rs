//! In-app notifications: what a person should hear about (a lead given to them, …). Other
//! channels (e-mail, chat) deliver the same notifications later (PRODUCT.md §6).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::{NotificationId, UserId, WorkspaceId};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: NotificationId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub user_id: UserId,
    /// `lead_assigned`, `leads_assigned` (an import), …
    pub kind: String,
    pub message: String,
    /// The record it is about (`lead`) and its id, when there is one.
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}
