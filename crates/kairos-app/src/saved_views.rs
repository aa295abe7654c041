//! Saved views (§10): each person keeps named filters of the list pages. A view is the list
//! page's query string, checked to be a filter that list understands, without the paging
//! cursor or an export format. The opportunity and lead lists have them; the account list,
//! with only a search box, does not need them.

use kairos_store::StoreError;
use kairos_store::saved_view::{self as store, SavedView};
use serde::Deserialize;
use serde_json::json;

use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};

/// The lists a view can filter.
pub const LISTS: [&str; 2] = ["opportunities", "leads"];
/// Views a person may keep per list: a menu, not a database.
const MAX_PER_LIST: usize = 50;
const MAX_QUERY_CHARS: usize = 2000;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSavedView {
    /// The list the view filters: opportunities or leads.
    pub list: String,
    pub name: String,
    /// The list's query string (`stage_id=…&sort=-amount`); `cursor` and `format` are dropped.
    #[serde(default)]
    pub query: String,
}

impl App {
    pub async fn list_saved_views(&self, actor: &Actor, list: Option<&str>) -> AppResult<Vec<SavedView>> {
        if let Some(l) = list {
            check_list(l)?;
        }
        let mut conn = self.store.read().await?;
        Ok(store::list_views(&mut conn.conn(), actor.workspace(), actor.id(), list).await?)
    }

    pub async fn create_saved_view(&self, actor: &Actor, input: NewSavedView) -> AppResult<SavedView> {
        let mut errors = kairos_domain::FieldErrors::new();
        let list = errors.check("list", check_list(&input.list).map_err(|_| kairos_domain::Problem::new("must be opportunities or leads")));
        let name = errors.check("name", kairos_domain::text::required_text(&input.name, 60));
        let query = kept_query(&input.query);
        if query.chars().count() > MAX_QUERY_CHARS {
            errors.add("query", "must be at most 2,000 characters");
        } else if let Some(list) = list {
            if let Err(e) = self.check_view_query(actor, list, &query).await {
                errors.add("query", format!("is not a filter of the {list} list: {e}"));
            }
        }
        errors.finish()?;
        let (Some(list), Some(name)) = (list, name) else { return Err(AppError::internal("validated input lost a value")) };
        let view = SavedView { id: self.mint().hyphenated().to_string(), list: list.to_string(), name, query, created_at: self.now() };
        let mut tx = self.begin().await?;
        let mut c = tx.conn();
        if store::list_views(&mut c, actor.workspace(), actor.id(), Some(list)).await?.len() >= MAX_PER_LIST {
            return Err(AppError::field("list", "at most 50 saved views per list; delete one first"));
        }
        match store::insert_view(&mut c, actor.workspace(), actor.id(), &view).await {
            Err(StoreError::Unique { .. }) => {
                return Err(AppError::Conflict { code: "duplicate", message: "you already have a view of this name on this list".into(), details: json!({"field": "name"}) });
            }
            other => other?,
        }
        drop(c);
        tx.commit().await?;
        Ok(view)
    }

    /// Deletes one of the caller's own views (another person's answers 404).
    pub async fn delete_saved_view(&self, actor: &Actor, id: &str) -> AppResult<()> {
        let mut tx = self.begin().await?;
        let gone = store::delete_view(&mut tx.conn(), actor.workspace(), actor.id(), id).await?;
        if gone == 0 {
            return Err(AppError::NotFound { entity: "saved view" });
        }
        tx.commit().await?;
        Ok(())
    }

}

impl App {
    /// Whether `query` is a filter `list` accepts: the opportunity filter is checked as the
    /// list parses it; the lead list's checks live in its query, so it runs for one row.
    async fn check_view_query(&self, actor: &Actor, list: &str, query: &str) -> Result<(), String> {
        if list == "opportunities" {
            let q = serde_urlencoded::from_str::<crate::opportunities::OpportunityQuery>(query).map_err(|e| e.to_string())?;
            return App::check_opportunity_query(&q).map_err(|e| e.to_string());
        }
        let mut q = serde_urlencoded::from_str::<crate::leads::LeadQuery>(query).map_err(|e| e.to_string())?;
        if q.owner_id.as_deref() == Some("me") {
            // The lead page's "mine": whoever opens the view.
            q.owner_id = Some(actor.id().to_string());
        }
        q.limit = Some("1".into());
        self.list_leads(actor, &q).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

fn check_list(list: &str) -> AppResult<&'static str> {
    LISTS.iter().copied().find(|l| *l == list).ok_or_else(|| AppError::field("list", "must be opportunities or leads"))
}

/// The query without paging, export format and empty inputs (a form submits every field).
fn kept_query(query: &str) -> String {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty() && !p.ends_with('='))
        .filter(|p| !matches!(p.split('=').next(), Some("cursor" | "format")))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_views_query_drops_paging_format_and_empty_inputs() {
        assert_eq!(kept_query("?q=&stage_id=s1&cursor=abc&format=csv&sort=-amount"), "stage_id=s1&sort=-amount");
        assert_eq!(kept_query(""), "");
    }
}
