//! Kairos over HTTP: the REST API under `/api/v1` (API.md), its OpenAPI document and
//! reference, and the browser pages.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kairos_app::App;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

pub mod api;
pub mod auth;
pub mod error;
pub mod export;
pub mod extract;
pub mod idempotency;
pub mod state;
pub mod web;

pub use state::{AppState, HttpSettings};

use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "Kairos API", description = "Business-opportunity management. Conventions: API.md (errors, lists, versions, idempotency)."),
    paths(
        api::auth::create_token, api::auth::list_tokens, api::auth::revoke_token, api::auth::me,
        api::org_units::list, api::org_units::create, api::org_units::get, api::org_units::update, api::org_units::archive,
        api::users::list, api::users::create, api::users::get, api::users::update,
        api::accounts::list, api::accounts::create, api::accounts::get, api::accounts::update, api::accounts::archive, api::accounts::restore,
        api::contacts::list, api::contacts::create, api::contacts::get, api::contacts::update, api::contacts::archive, api::contacts::restore,
        api::audit::read,
        api::processes::list, api::processes::create, api::processes::get, api::processes::update,
        api::opportunities::list, api::opportunities::create, api::opportunities::get, api::opportunities::update,
        api::opportunities::move_stage, api::opportunities::close, api::opportunities::reopen, api::opportunities::history,
        api::opportunities::checklist, api::opportunities::tick, api::opportunities::documents, api::opportunities::approvals,
        api::opportunities::upload, api::opportunities::download,
        api::approvals::waiting, api::approvals::approve, api::approvals::reject, api::approvals::cancel,
        api::settings::get_calendar, api::settings::put_calendar, api::settings::close_reasons,
        api::settings::create_close_reason, api::settings::update_close_reason, api::settings::get_workspace, api::settings::patch_workspace,
        api::pipeline::pipeline, api::pipeline::fx_rates, api::pipeline::put_fx_rates,
        api::reports::funnel, api::reports::win_rate, api::reports::loss_reasons, api::reports::forecast,
        api::reports::dwell, api::reports::cycle, api::reports::conversion, api::reports::movement, api::reports::trend, api::reports::team, api::reports::forecast_accuracy, api::reports::lead_sources,
        api::targets::list, api::targets::create, api::targets::update, api::targets::delete,
        api::saved_views::list, api::saved_views::create, api::saved_views::delete,
        api::leads::list, api::leads::create, api::leads::get, api::leads::update, api::leads::archive, api::leads::restore,
        api::leads::claim, api::leads::convert, api::leads::import, api::leads::start_import, api::leads::import_job, api::leads::get_rules, api::leads::put_rules,
        api::leads::list_forms, api::leads::create_form, api::leads::update_form, api::leads::public_submit,
        api::leads::notifications, api::leads::read_notification,
        api::followup::log_activity, api::followup::list_activities, api::followup::get_activity,
        api::followup::create_task, api::followup::list_tasks, api::followup::get_task, api::followup::update_task,
        api::followup::risks, api::followup::get_settings, api::followup::put_settings, api::followup::jobs,
        api::outbox::get_prefs, api::outbox::put_prefs, api::outbox::list, api::outbox::create, api::outbox::get, api::outbox::update,
        api::outbox::delete, api::outbox::deliveries, api::outbox::retry,
        api::support::create, api::support::list, api::support::get, api::support::act,
        healthz,
    ),
    components(schemas(error::ErrorBody, error::ErrorContent)),
    tags((name = "reports", description = "Analytics under the caller's data scope; definitions in docs/analytics.md. Every amount is in base-currency minor units (`base_currency` names it), and beside each one `<field>_formatted` holds it as text: `\"amount\": 2685000000, \"amount_formatted\": \"¥26,850,000\"` (null beside a null amount). `format=csv|xlsx` (or the Accept header) exports the report's main table with the same columns.")),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The whole HTTP surface.
pub fn router(app: App, settings: HttpSettings) -> Router {
    let state = AppState { app, settings: Arc::new(settings) };
    let v1 = Router::new()
        .route("/auth/tokens", get(api::auth::list_tokens))
        .route("/auth/tokens/{id}", axum::routing::delete(api::auth::revoke_token))
        .route("/me", get(api::auth::me))
        .route("/org-units", get(api::org_units::list).post(api::org_units::create))
        .route("/org-units/{id}", get(api::org_units::get).patch(api::org_units::update).delete(api::org_units::archive))
        .route("/users", get(api::users::list).post(api::users::create))
        .route("/users/{id}", get(api::users::get).patch(api::users::update))
        .route("/accounts", get(api::accounts::list).post(api::accounts::create))
        .route("/accounts/{id}", get(api::accounts::get).patch(api::accounts::update).delete(api::accounts::archive))
        .route("/accounts/{id}/restore", post(api::accounts::restore))
        .route("/contacts", get(api::contacts::list).post(api::contacts::create))
        .route("/contacts/{id}", get(api::contacts::get).patch(api::contacts::update).delete(api::contacts::archive))
        .route("/contacts/{id}/restore", post(api::contacts::restore))
        .route("/audit", get(api::audit::read))
        .route("/processes", get(api::processes::list).post(api::processes::create))
        .route("/processes/{id}", get(api::processes::get).patch(api::processes::update))
        .route("/opportunities", get(api::opportunities::list).post(api::opportunities::create))
        .route("/opportunities/{id}", get(api::opportunities::get).patch(api::opportunities::update))
        .route("/opportunities/{id}/move", post(api::opportunities::move_stage))
        .route("/opportunities/{id}/close", post(api::opportunities::close))
        .route("/opportunities/{id}/reopen", post(api::opportunities::reopen))
        .route("/opportunities/{id}/history", get(api::opportunities::history))
        .route("/opportunities/{id}/checklist", get(api::opportunities::checklist).post(api::opportunities::tick))
        .route(
            "/opportunities/{id}/documents",
            get(api::opportunities::documents)
                .post(api::opportunities::upload)
                // Documents may be larger than JSON bodies (the app checks its own limit).
                .layer(DefaultBodyLimit::max(21 * 1024 * 1024)),
        )
        .route("/opportunities/{id}/documents/{document_id}", get(api::opportunities::download))
        .route("/opportunities/{id}/approvals", get(api::opportunities::approvals))
        .route("/approvals", get(api::approvals::waiting))
        .route("/approvals/{id}/approve", post(api::approvals::approve))
        .route("/approvals/{id}/reject", post(api::approvals::reject))
        .route("/approvals/{id}/cancel", post(api::approvals::cancel))
        .route("/calendar", get(api::settings::get_calendar).put(api::settings::put_calendar))
        .route("/close-reasons", get(api::settings::close_reasons).post(api::settings::create_close_reason))
        .route("/close-reasons/{id}", axum::routing::patch(api::settings::update_close_reason))
        .route("/workspace", get(api::settings::get_workspace).patch(api::settings::patch_workspace))
        .route("/pipeline", get(api::pipeline::pipeline))
        .route("/reports/funnel", get(api::reports::funnel))
        .route("/reports/win-rate", get(api::reports::win_rate))
        .route("/reports/loss-reasons", get(api::reports::loss_reasons))
        .route("/reports/forecast", get(api::reports::forecast))
        .route("/reports/dwell", get(api::reports::dwell))
        .route("/reports/cycle", get(api::reports::cycle))
        .route("/reports/conversion", get(api::reports::conversion))
        .route("/reports/movement", get(api::reports::movement))
        .route("/reports/trend", get(api::reports::trend))
        .route("/reports/team", get(api::reports::team))
        .route("/reports/forecast-accuracy", get(api::reports::forecast_accuracy))
        .route("/reports/lead-sources", get(api::reports::lead_sources))
        .route("/targets", get(api::targets::list).post(api::targets::create))
        .route("/targets/{id}", axum::routing::patch(api::targets::update).delete(api::targets::delete))
        .route("/saved-views", get(api::saved_views::list).post(api::saved_views::create))
        .route("/saved-views/{id}", axum::routing::delete(api::saved_views::delete))
        .route("/fx-rates", get(api::pipeline::fx_rates).put(api::pipeline::put_fx_rates))
        .route("/leads", get(api::leads::list).post(api::leads::create))
        .route("/leads/{id}", get(api::leads::get).patch(api::leads::update).delete(api::leads::archive))
        .route("/leads/import", post(api::leads::import).layer(DefaultBodyLimit::max(api::leads::IMPORT_LIMIT + 64 * 1024)))
        .route("/lead-imports", post(api::leads::start_import).layer(DefaultBodyLimit::max(api::leads::IMPORT_LIMIT + 64 * 1024)))
        .route("/lead-imports/{id}", get(api::leads::import_job))
        .route("/leads/{id}/restore", post(api::leads::restore))
        .route("/leads/{id}/claim", post(api::leads::claim))
        .route("/leads/{id}/convert", post(api::leads::convert))
        .route("/lead-rules", get(api::leads::get_rules).put(api::leads::put_rules))
        .route("/lead-forms", get(api::leads::list_forms).post(api::leads::create_form))
        .route("/lead-forms/{id}", axum::routing::patch(api::leads::update_form))
        .route("/activities", get(api::followup::list_activities).post(api::followup::log_activity))
        .route("/activities/{id}", get(api::followup::get_activity))
        .route("/tasks", get(api::followup::list_tasks).post(api::followup::create_task))
        .route("/tasks/{id}", get(api::followup::get_task).patch(api::followup::update_task))
        .route("/risks", get(api::followup::risks))
        .route("/follow-up-settings", get(api::followup::get_settings).put(api::followup::put_settings))
        .route("/jobs", get(api::followup::jobs))
        .route("/notifications", get(api::leads::notifications))
        .route("/notifications/{id}/read", post(api::leads::read_notification))
        .route("/me/notification-preferences", get(api::outbox::get_prefs).put(api::outbox::put_prefs))
        .route("/webhooks", get(api::outbox::list).post(api::outbox::create))
        .route("/webhooks/{id}", get(api::outbox::get).patch(api::outbox::update).delete(api::outbox::delete))
        .route("/support-requests", get(api::support::list).post(api::support::create))
        .route("/support-requests/{id}", get(api::support::get))
        .route("/support-requests/{id}/{action}", post(api::support::act))
        .route("/deliveries", get(api::outbox::deliveries))
        .route("/deliveries/{id}/retry", post(api::outbox::retry))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::idempotency))
        // Token creation needs no login, so it sits outside the idempotency layer (which
        // keys answers by user).
        .route("/auth/tokens", post(api::auth::create_token))
        // Public web forms: no login, so no idempotency keyed by user either.
        .route("/public/leads/{form_key}", post(api::leads::public_submit).options(api::leads::public_preflight))
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed);

    Router::new()
        .nest("/api/v1", v1)
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(|| async { web::static_asset("text/html; charset=utf-8", include_str!("../assets/docs.html")) }))
        .route("/api/docs/docs.js", get(|| async { web::static_asset("text/javascript; charset=utf-8", include_str!("../assets/docs.js")) }))
        .route("/api/docs/docs.css", get(|| async { web::static_asset("text/css; charset=utf-8", include_str!("../assets/docs.css")) }))
        .route("/healthz", get(healthz))
        .merge(web::routes().layer(DefaultBodyLimit::max(21 * 1024 * 1024)))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .with_state(state)
}

async fn openapi_json() -> Response {
    static DOC: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| ApiDoc::openapi().to_pretty_json().unwrap_or_else(|_| "{}".into()));
    ([(axum::http::header::CONTENT_TYPE, "application/json")], DOC.as_str()).into_response()
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// "ok"
    pub status: &'static str,
    /// sqlite or postgres
    pub database: &'static str,
}

/// Liveness and database check: 200 when the database answers, 503 otherwise.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = error::ErrorBody)))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    let database = match state.app.store.backend() {
        kairos_store::Backend::Sqlite => "sqlite",
        kairos_store::Backend::Postgres => "postgres",
    };
    match state.app.store.ping().await {
        Ok(()) => axum::Json(Health { status: "ok", database }).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", "the database does not answer").into_response()
        }
    }
}

async fn api_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint; see /api/docs")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not accept that method; see /api/docs")
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not found").into_response()
}
