//! `/api/v1/reports/…`: analytics under the caller's data scope.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use kairos_app::report_amounts::{ReportAmounts, with_formatted_amounts};
use kairos_app::reports::{Funnel, LossReasons, ReportQuery, WinRate};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::export::{Format, respond};
use crate::extract::QueryParams;
use crate::state::AppState;

/// Open deals of a process per stage: count, amount, weighted amount, shape index.
#[utoipa::path(get, path = "/api/v1/reports/funnel", tag = "reports", security(("bearer" = [])), params(ReportQuery, ("format" = Option<String>, Query, description = "json (default), csv or xlsx; or ask with Accept: text/csv or the XLSX media type")),
    responses((status = 200, body = Funnel), (status = 422, body = ErrorBody)))]
pub async fn funnel(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ReportQuery>, f: Format) -> ApiResult<Response> {
    answer("funnel", f, s.app.funnel(&actor, &q).await?)
}

/// Won / (won + lost) among deals closed in the period, grouped; invalid closes apart.
#[utoipa::path(get, path = "/api/v1/reports/win-rate", tag = "reports", security(("bearer" = [])), params(ReportQuery, ("format" = Option<String>, Query, description = "json (default), csv or xlsx; or ask with Accept: text/csv or the XLSX media type")),
    responses((status = 200, body = WinRate), (status = 422, body = ErrorBody)))]
pub async fn win_rate(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ReportQuery>, f: Format) -> ApiResult<Response> {
    answer("win-rate", f, s.app.win_rate(&actor, &q).await?)
}

/// Lost deals by reason, by stage at loss and by competitor.
#[utoipa::path(get, path = "/api/v1/reports/loss-reasons", tag = "reports", security(("bearer" = [])), params(ReportQuery, ("format" = Option<String>, Query, description = "json (default), csv or xlsx; or ask with Accept: text/csv or the XLSX media type")),
    responses((status = 200, body = LossReasons), (status = 422, body = ErrorBody)))]
pub async fn loss_reasons(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ReportQuery>, f: Format) -> ApiResult<Response> {
    answer("loss-reasons", f, s.app.loss_reasons(&actor, &q).await?)
}

/// Weighted pipeline by expected-close month or quarter and forecast category, won so far,
/// against targets, with gap and attainment.
#[utoipa::path(get, path = "/api/v1/reports/forecast", tag = "reports", security(("bearer" = [])), params(ReportQuery, ("format" = Option<String>, Query, description = "json (default), csv or xlsx; or ask with Accept: text/csv or the XLSX media type")),
    responses((status = 200, body = kairos_app::reports::Forecast), (status = 422, body = ErrorBody)))]
pub async fn forecast(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ReportQuery>, f: Format) -> ApiResult<Response> {
    answer("forecast", f, s.app.forecast(&actor, &q).await?)
}

/// Days in each stage, calendar and working: mean, median, p90 (deals that left the stage in the period).
#[utoipa::path(get, path = "/api/v1/reports/dwell", tag = "reports", security(("bearer" = [])), params(ReportQuery, ("format" = Option<String>, Query, description = "json (default), csv or xlsx; or ask with Accept: text/csv or the XLSX media type")),
    responses((status = 200, body = kairos_app::reports::Dwell), (status = 422, body = ErrorBody)))]
pub async fn dwell(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ReportQuery>, f: Format) -> ApiResult<Response> {
    answer("dwell", f, s.app.dwell(&actor, &q).await?)
}

/// Creation to won: mean, median, p90 for deals won in the period.
#[utoipa::path(get, path = "/api/v1/reports/cycle", tag = "reports", security(("bearer" = [])), params(ReportQuery, ("format" = Option<String>, Query, description = "json (default), csv or xlsx; or ask with Accept: text/csv or the XLSX media type")),
    responses((status = 200, body = kairos_app::reports::Cycle), (status = 422, body = ErrorBody)))]
pub async fn cycle(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ReportQuery>, f: Format) -> ApiResult<Response> {
    answer("cycle", f, s.app.cycle(&actor, &q).await?)
}

/// Cohort conversion per stage, with the weakest transition marked.
#[utoipa::path(get, path = "/api/v1/reports/conversion", tag = "reports", security(("bearer" = [])), params(ReportQuery, ("format" = Option<String>, Query, description = "json (default), csv or xlsx; or ask with Accept: text/csv or the XLSX media type")),
    responses((status = 200, body = kairos_app::reports::Conversion), (status = 422, body = ErrorBody)))]
pub async fn conversion(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ReportQuery>, f: Format) -> ApiResult<Response> {
    answer("conversion", f, s.app.conversion(&actor, &q).await?)
}

/// The pipeline at the start of the period against its end, replayed from history: new,
/// won, lost, pushed out, pulled in, value up/down, advanced, regressed, with the deals.
#[utoipa::path(get, path = "/api/v1/reports/movement", tag = "reports", security(("bearer" = [])), params(ReportQuery, ("format" = Option<String>, Query, description = "json (default), csv or xlsx; or ask with Accept: text/csv or the XLSX media type")),
    responses((status = 200, body = kairos_app::reports::Movement), (status = 422, body = ErrorBody)))]
pub async fn movement(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ReportQuery>, f: Format) -> ApiResult<Response> {
    answer("movement", f, s.app.movement(&actor, &q).await?)
}

/// Open pipeline by stage at the end of each week or month, replayed from history.
#[utoipa::path(get, path = "/api/v1/reports/trend", tag = "reports", security(("bearer" = [])), params(ReportQuery, ("format" = Option<String>, Query, description = "json (default), csv or xlsx; or ask with Accept: text/csv or the XLSX media type")),
    responses((status = 200, body = kairos_app::reports::Trend), (status = 422, body = ErrorBody)))]
pub async fn trend(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ReportQuery>, f: Format) -> ApiResult<Response> {
    answer("trend", f, s.app.trend(&actor, &q).await?)
}

/// Leaderboard and pipeline quality per owner.
#[utoipa::path(get, path = "/api/v1/reports/team", tag = "reports", security(("bearer" = [])), params(ReportQuery, ("format" = Option<String>, Query, description = "json (default), csv or xlsx; or ask with Accept: text/csv or the XLSX media type")),
    responses((status = 200, body = kairos_app::reports::Team), (status = 422, body = ErrorBody)))]
pub async fn team(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ReportQuery>, f: Format) -> ApiResult<Response> {
    answer("team", f, s.app.team(&actor, &q).await?)
}

/// The forecast that stood N days before each past month against what was won in it.
#[utoipa::path(get, path = "/api/v1/reports/forecast-accuracy", tag = "reports", security(("bearer" = [])), params(ReportQuery, kairos_app::reports::AccuracyQuery),
    responses((status = 200, body = kairos_app::reports::ForecastAccuracy), (status = 422, body = ErrorBody)))]
pub async fn forecast_accuracy(
    State(s): State<AppState>,
    Caller(actor): Caller,
    QueryParams(q): QueryParams<ReportQuery>,
    QueryParams(a): QueryParams<kairos_app::reports::AccuracyQuery>,
    f: Format,
) -> ApiResult<Response> {
    answer("forecast-accuracy", f, s.app.forecast_accuracy(&actor, &q, a.days_before.as_deref()).await?)
}

/// Per lead source: leads, qualified, converted, won deals, revenue, rates and days to
/// convert, for leads created in the period (default: this year).
#[utoipa::path(get, path = "/api/v1/reports/lead-sources", tag = "reports", security(("bearer" = [])), params(ReportQuery, ("format" = Option<String>, Query, description = "json (default), csv or xlsx; or ask with Accept: text/csv or the XLSX media type")),
    responses((status = 200, body = kairos_app::lead_reports::LeadSources), (status = 422, body = ErrorBody)))]
pub async fn lead_sources(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<ReportQuery>, f: Format) -> ApiResult<Response> {
    answer("lead-sources", f, s.app.lead_sources(&actor, &q).await?)
}

/// The report with a formatted text beside each amount, in the format the client asked for.
fn answer<R: ReportAmounts>(name: &str, format: Format, report: R) -> ApiResult<Response> {
    let value = with_formatted_amounts(&report).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    respond(name, format.0.as_deref(), value)
}
