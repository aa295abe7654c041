//! The inbox: the user's notifications (mark read), support requests to them or their team
//! (accept, reject with a reason, finish) and their own requests (cancel, rate).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use kairos_app::support::{SupportActionInput, SupportQuery};
use minijinja::context;
use serde::Deserialize;

use super::Page;
use crate::state::AppState;

pub async fn page(State(state): State<AppState>, page: Page) -> Response {
    let app = &state.app;
    let incoming = SupportQuery { view: Some("incoming".into()), ..Default::default() };
    let mine = SupportQuery { view: Some("mine".into()), ..Default::default() };
    let (inbox, incoming, mine, prefs) = (
        app.my_notifications(&page.actor, false).await,
        app.list_support_requests(&page.actor, &incoming).await,
        app.list_support_requests(&page.actor, &mine).await,
        app.my_notification_prefs(&page.actor).await,
    );
    match (inbox, incoming, mine, prefs) {
        (Ok(inbox), Ok(incoming), Ok(mine), Ok(prefs)) => {
            page.render("inbox.html", "inbox", context! { inbox, incoming, mine, prefs, kinds => kairos_domain::outbox::NOTIFICATION_KINDS })
        }
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => page.error(e),
    }
}

/// Marks every notification read.
pub async fn read_all(State(state): State<AppState>, page: Page) -> Response {
    page.refreshed(state.app.mark_notifications_read(&page.actor, None).await)
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    rating: Option<String>,
}

/// accept, reject, done, cancel or rate, from the inbox's forms.
pub async fn act(State(state): State<AppState>, page: Page, Path((id, action)): Path<(String, String)>, Form(form): Form<ActionForm>) -> Response {
    let blank = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
    let rating = match blank(form.rating).map(|r| r.trim().parse::<i64>()) {
        Some(Ok(r)) => Some(r),
        // Not a number: the use-case names the field.
        Some(Err(_)) => Some(0),
        None => None,
    };
    let input = SupportActionInput { reason: blank(form.reason), note: blank(form.note), rating };
    page.refreshed(state.app.act_on_support_request(&page.actor, &id, &action, input).await)
}
