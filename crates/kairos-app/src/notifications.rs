//! A person's in-app notifications.

use kairos_domain::ids::NotificationId;
use kairos_domain::notification::Notification;
use kairos_store::notification as store;
use serde::Serialize;

use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Inbox {
    pub items: Vec<Notification>,
    pub unread: i64,
}

impl App {
    /// The caller's latest notifications (at most 100), newest first.
    pub async fn my_notifications(&self, actor: &Actor, unread_only: bool) -> AppResult<Inbox> {
        let mut conn = self.store.read().await?;
        let mut c = conn.conn();
        let items = store::list_notifications(&mut c, actor.workspace(), actor.id(), unread_only, 100).await?;
        let unread = store::count_unread(&mut c, actor.workspace(), actor.id()).await?;
        Ok(Inbox { items, unread })
    }

    /// Marks one of the caller's notifications (or, with `None`, all) as read.
    pub async fn mark_notifications_read(&self, actor: &Actor, id: Option<&str>) -> AppResult<()> {
        let id = match id {
            Some(text) => Some(NotificationId::parse(text).map_err(|_| AppError::NotFound { entity: "notification" })?),
            None => None,
        };
        let mut tx = self.begin().await?;
        store::mark_read(&mut tx.conn(), actor.workspace(), actor.id(), id, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }
}
