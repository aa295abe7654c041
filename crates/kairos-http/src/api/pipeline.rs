//! `GET /api/v1/pipeline`: the kanban's columns.

use axum::Json;
use axum::extract::State;
use kairos_app::calendar::FxRateInput;
use kairos_app::pipeline::{Pipeline, PipelineQuery};

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::state::AppState;

/// Per stage of a process: count, amount and weighted amount of the open deals the caller
/// may see (base currency, rates of the day), and the first cards of each column.
#[utoipa::path(get, path = "/api/v1/pipeline", tag = "opportunities", security(("bearer" = [])), params(PipelineQuery),
    responses((status = 200, body = Pipeline), (status = 422, body = ErrorBody)))]
pub async fn pipeline(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<PipelineQuery>) -> ApiResult<Json<Pipeline>> {
    Ok(Json(s.app.pipeline(&actor, &q).await?))
}

#[utoipa::path(get, path = "/api/v1/fx-rates", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = Vec<FxRateInput>)))]
pub async fn fx_rates(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<Vec<FxRateInput>>> {
    Ok(Json(s.app.fx_rates(&actor).await?))
}

/// Add or correct dated rates to the base currency (admin).
#[utoipa::path(put, path = "/api/v1/fx-rates", tag = "settings", security(("bearer" = [])), request_body = Vec<FxRateInput>,
    responses((status = 200, body = Vec<FxRateInput>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_fx_rates(State(s): State<AppState>, Caller(actor): Caller, JsonBody(rates): JsonBody<Vec<FxRateInput>>) -> ApiResult<Json<Vec<FxRateInput>>> {
    Ok(Json(s.app.put_fx_rates(actor.require_admin()?, rates).await?))
}
