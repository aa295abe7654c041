//! `/api/v1/saved-views`: the caller's named filters of the list pages.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_app::saved_views::NewSavedView;
use kairos_store::saved_view::SavedView;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ViewListQuery {
    /// opportunities or leads; all lists when absent.
    pub list: Option<String>,
}

/// The caller's saved views (everyone has their own).
#[utoipa::path(get, path = "/api/v1/saved-views", tag = "views", security(("bearer" = [])), params(ViewListQuery),
    responses((status = 200, body = Vec<SavedView>), (status = 422, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ViewListQuery>) -> ApiResult<Json<Vec<SavedView>>> {
    Ok(Json(s.app.list_saved_views(&actor, q.list.as_deref()).await?))
}

/// Save the current filter of a list under a name.
#[utoipa::path(post, path = "/api/v1/saved-views", tag = "views", security(("bearer" = [])), request_body = NewSavedView,
    responses((status = 201, body = SavedView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewSavedView>) -> ApiResult<(StatusCode, Json<SavedView>)> {
    Ok((StatusCode::CREATED, Json(s.app.create_saved_view(&actor, input).await?)))
}

#[utoipa::path(delete, path = "/api/v1/saved-views/{id}", tag = "views", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.app.delete_saved_view(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
