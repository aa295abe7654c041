//! The browser application: server-rendered pages (minijinja, auto-escaped) with htmx
//! fragments. Every action goes through the same app-layer use-cases as the REST API, so
//! the stage gates, scopes and versions hold here exactly as they do there.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kairos_app::actor::AuthMethod;
use kairos_app::auth::secrets_match;
use kairos_app::{Actor, AppError};
use minijinja::{Environment, UndefinedBehavior, Value, context};

use crate::auth::{CSRF_HEADER, SESSION_COOKIE, cookie, is_unsafe};
use crate::state::AppState;

pub mod accounts;
pub mod approvals;
pub mod assets;
pub mod contacts;
pub mod forms;
pub mod home;
pub mod inbox;
pub mod i18n;
pub mod leads;
pub mod opportunity;
pub mod pipeline;
pub mod process_designer;
pub mod reports;
pub mod session;
pub mod settings;
pub mod targets;
pub mod org;
pub mod webhooks;

use i18n::Lang;

pub use assets::static_asset;

/// Every page and fragment.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/language", post(session::set_language))
        .route("/", get(home::home))
        .route("/pipeline", get(pipeline::page))
        .route("/pipeline/board", get(pipeline::board))
        .route("/opportunities", get(opportunity::list))
        .route("/opportunities/{id}", get(opportunity::card))
        .route("/views", post(opportunity::save_view))
        .route("/views/{id}/delete", post(opportunity::delete_view))
        .route("/opportunities/{id}/move", post(pipeline::move_card))
        .route("/opportunities/{id}/gate", post(pipeline::supply_and_retry))
        .route("/opportunities/{id}/facts", post(opportunity::save_facts))
        .route("/opportunities/{id}/tick", post(opportunity::tick))
        .route("/opportunities/{id}/health", post(opportunity::save_health))
        .route("/opportunities/{id}/contacts", post(opportunity::chain))
        .route("/opportunities/{id}/activities", post(opportunity::log_activity))
        .route("/opportunities/{id}/support", post(opportunity::ask_support))
        .route("/tasks/{id}/done", post(home::task_done))
        .route("/opportunities/{id}/close", post(opportunity::close))
        .route("/opportunities/{id}/reopen", post(opportunity::reopen))
        .route("/accounts", get(accounts::list).post(accounts::create))
        .route("/accounts/check", get(accounts::check_name))
        .route("/accounts/{id}", get(accounts::show))
        .route("/accounts/{id}/contacts", post(accounts::add_contact))
        .route("/accounts/{id}/opportunities", post(accounts::new_opportunity))
        .route("/contacts", get(contacts::list))
        .route("/contacts/{id}", get(contacts::show).post(contacts::save))
        .route("/leads", get(leads::list).post(leads::create))
        .route("/leads/import", post(leads::import))
        .route("/leads/imports/{id}", get(leads::import_job))
        .route("/leads/{id}", get(leads::show))
        .route("/leads/{id}/claim", post(leads::claim))
        .route("/leads/{id}/status", post(leads::set_status))
        .route("/leads/{id}/convert", post(leads::convert))
        .route("/inbox", get(inbox::page))
        .route("/inbox/email", post(webhooks::save_prefs))
        .route("/settings", get(settings::page))
        .route("/settings/workspace", post(settings::save_workspace))
        .route("/settings/close-reasons", post(settings::add_reason))
        .route("/settings/close-reasons/{id}", post(settings::save_reason))
        .route("/settings/calendar", post(settings::save_calendar))
        .route("/settings/fx-rates", post(settings::add_fx_rate))
        .route("/settings/targets", get(targets::page).post(targets::create))
        .route("/settings/targets/{id}", post(targets::update))
        .route("/settings/targets/{id}/delete", post(targets::delete))
        .route("/settings/processes", get(process_designer::list))
        .route("/settings/processes/{id}", get(process_designer::edit).post(process_designer::save))
        .route("/settings/org", get(org::page))
        .route("/settings/org-units", post(org::add_unit))
        .route("/settings/org-units/{id}", post(org::save_unit))
        .route("/settings/org-units/{id}/archive", post(org::archive_unit))
        .route("/settings/users", post(org::add_user))
        .route("/settings/users/{id}", post(org::save_user))
        .route("/settings/webhooks", get(webhooks::page).post(webhooks::create))
        .route("/settings/webhooks/{id}", post(webhooks::update))
        .route("/settings/webhooks/{id}/active", post(webhooks::set_active))
        .route("/settings/webhooks/{id}/delete", post(webhooks::delete))
        .route("/settings/deliveries/{id}/retry", post(webhooks::retry))
        .route("/inbox/read", post(inbox::read_all))
        .route("/support/{id}/{action}", post(inbox::act))
        .route("/approvals", get(approvals::inbox))
        .route("/approvals/{id}/decide", post(approvals::decide))
        .route("/reports", get(reports::page))
        .route("/assets/{*file}", get(assets::serve))
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // A template that names a variable nobody passed fails (and its render test with it)
    // instead of printing nothing; `{% if x %}` on an absent value stays allowed.
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    for (name, source) in TEMPLATE_SOURCES {
        env.add_template(name, source).expect("built-in template parses");
    }
    env.add_filter("money", |minor: i64, currency: String| i18n::money(minor, &currency));
    env.add_filter("money_short", |state: &minijinja::State, minor: i64, currency: String| i18n::money_short(lang_in(state), minor, &currency));
    env.add_filter("num", |n: i64| i18n::group(n));
    env.add_filter("decimal", |minor: i64| i18n::decimal(minor));
    env.add_filter("fdate", |state: &minijinja::State, text: Option<String>| {
        let text = text.unwrap_or_default();
        match chrono::NaiveDate::parse_from_str(text.get(..10).unwrap_or(""), "%Y-%m-%d") {
            Ok(d) => i18n::date(lang_in(state), d),
            Err(_) => text,
        }
    });
    env.add_filter("fdatetime", |state: &minijinja::State, text: Option<String>| {
        let text = text.unwrap_or_default();
        match chrono::DateTime::parse_from_rfc3339(&text) {
            Ok(t) => {
                // The interface shows China time; the workspace calendar decides days.
                let local = t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset"));
                format!("{} {}", i18n::date(lang_in(state), local.date_naive()), local.format("%H:%M"))
            }
            Err(_) => text,
        }
    });
    env.add_filter("label", |state: &minijinja::State, key: String| i18n::label(lang_in(state), &key));
    env
});

/// Every template, by name; the render tests walk this list.
pub const TEMPLATE_SOURCES: [(&str, &str); 33] = [
    ("_views.html", include_str!("../../templates/_views.html")),
    ("contacts.html", include_str!("../../templates/contacts.html")),
    ("contact.html", include_str!("../../templates/contact.html")),
    ("processes.html", include_str!("../../templates/processes.html")),
    ("_stage_fields.html", include_str!("../../templates/_stage_fields.html")),
    ("_settings_nav.html", include_str!("../../templates/_settings_nav.html")),
    ("settings.html", include_str!("../../templates/settings.html")),
    ("targets.html", include_str!("../../templates/targets.html")),
    ("org.html", include_str!("../../templates/org.html")),
    ("webhooks.html", include_str!("../../templates/webhooks.html")),
    ("inbox.html", include_str!("../../templates/inbox.html")),
    ("leads.html", include_str!("../../templates/leads.html")),
    ("_import_progress.html", include_str!("../../templates/_import_progress.html")),
    ("lead.html", include_str!("../../templates/lead.html")),
    ("_import_report.html", include_str!("../../templates/_import_report.html")),
    ("accounts.html", include_str!("../../templates/accounts.html")),
    ("account.html", include_str!("../../templates/account.html")),
    ("_duplicate.html", include_str!("../../templates/_duplicate.html")),
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("home.html", include_str!("../../templates/home.html")),
    ("pipeline.html", include_str!("../../templates/pipeline.html")),
    ("_board.html", include_str!("../../templates/_board.html")),
    ("_gate.html", include_str!("../../templates/_gate.html")),
    ("_moved.html", include_str!("../../templates/_moved.html")),
    ("_error.html", include_str!("../../templates/_error.html")),
    ("opportunities.html", include_str!("../../templates/opportunities.html")),
    ("opportunity.html", include_str!("../../templates/opportunity.html")),
    ("_facts.html", include_str!("../../templates/_facts.html")),
    ("_checklist.html", include_str!("../../templates/_checklist.html")),
    ("approvals.html", include_str!("../../templates/approvals.html")),
    ("reports.html", include_str!("../../templates/reports.html")),
    ("error.html", include_str!("../../templates/error.html")),
];

fn lang_in(state: &minijinja::State) -> Lang {
    state.lookup("lang").and_then(|v| v.as_str().map(Lang::from_tag)).unwrap_or(Lang::ZhCn)
}

/// Renders a template; a failure is our bug, logged, and a plain 500.
pub fn render(name: &str, ctx: Value) -> Response {
    match TEMPLATES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            let mut detail = format!("{e:#}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                detail.push_str(&format!(": {c:#}"));
                cause = c.source();
            }
            tracing::error!(error = %detail, template = name, "template failed");
            // Development builds say why, so a failing render test names the template line.
            let body = if cfg!(debug_assertions) { format!("page could not be rendered: {detail}") } else { "page could not be rendered".to_string() };
            (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
        }
    }
}

/// The language a request asks for: `?lang=`, then the cookie, then Accept-Language.
pub fn requested_lang(query: Option<&str>, headers: &HeaderMap) -> Lang {
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        return Lang::from_tag(q);
    }
    if let Some(c) = cookie(headers, "kairos_lang") {
        return Lang::from_tag(&c);
    }
    Lang::from_tag(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("zh-CN"))
}

/// A signed-in browser user. Pages redirect to /login without a session; htmx requests
/// get `HX-Redirect`. Every unsafe request must carry the session's CSRF token in the
/// `X-CSRF-Token` header (htmx sends it from the page's meta tag) or the form.
pub struct Page {
    pub actor: Actor,
    pub lang: Lang,
    pub csrf: String,
    pub htmx: bool,
}

impl FromRequestParts<AppState> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let htmx = parts.headers.contains_key("hx-request");
        let to_login = || {
            if htmx {
                (StatusCode::UNAUTHORIZED, [("hx-redirect", "/login")]).into_response()
            } else {
                Redirect::to("/login").into_response()
            }
        };
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_login()) };
        let Ok(actor) = state.app.authenticate_session(&secret).await else { return Err(to_login()) };
        let AuthMethod::Session { csrf_token } = &actor.method else { return Err(to_login()) };
        let csrf = csrf_token.clone();
        if is_unsafe(&parts.method) {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !secrets_match(sent, &csrf) {
                return Err((StatusCode::FORBIDDEN, "The page expired; reload it and try again.").into_response());
            }
        }
        let lang = match actor.user.locale {
            Some(kairos_domain::identity::Locale::En) => Lang::En,
            Some(kairos_domain::identity::Locale::ZhCn) => Lang::ZhCn,
            None => requested_lang(None, &parts.headers),
        };
        Ok(Page { actor, lang, csrf, htmx })
    }
}

impl Page {
    /// Renders a page or fragment with what every template may use: the language and its
    /// labels, the user, the CSRF token and which navigation entry is active.
    pub fn render(&self, name: &str, nav: &str, extra: Value) -> Response {
        let user = &self.actor.user;
        render(
            name,
            context! {
                lang => self.lang.code(),
                t => i18n::catalog(self.lang),
                me => context! { id => user.id.to_string(), name => user.display_name.clone(), email => user.email.clone(),
                    admin => user.roles.is_admin(), manager => !matches!(self.actor.scope, kairos_domain::identity::DataScope::Own { .. }) },
                csrf_token => self.csrf.clone(),
                nav,
                ..extra
            },
        )
    }

    pub fn label(&self, key: &str) -> String {
        i18n::label(self.lang, key)
    }

    /// After a change from an htmx form: the page reloads to show it, or the error shows
    /// where the form was.
    pub fn refreshed<T>(&self, result: Result<T, AppError>) -> Response {
        match result {
            Ok(_) => ([("hx-refresh", "true")], "").into_response(),
            Err(e) => self.error(e),
        }
    }

    /// An app error as the user should see it: a fragment for htmx, a page otherwise.
    pub fn error(&self, err: AppError) -> Response {
        let api = crate::error::ApiError::from(err);
        let status = api.status;
        let fields: Vec<Value> = api.details["fields"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|f| {
                        let name = f["field"].as_str().unwrap_or("");
                        context! { field => i18n::catalog(self.lang).get(&format!("field.{name}")).cloned().unwrap_or_else(|| name.to_string()), problem => f["problem"].as_str().unwrap_or("").to_string() }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let message = match status {
            StatusCode::NOT_FOUND => self.label("error.not_found"),
            StatusCode::CONFLICT if api.code == "stale_version" => self.label("error.stale"),
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST | StatusCode::CONFLICT => self.label("error.invalid"),
            StatusCode::FORBIDDEN => self.label("error.forbidden"),
            _ => self.label("error.server"),
        };
        let detail = if status.is_server_error() { String::new() } else { api.message.clone() };
        let template = if self.htmx { "_error.html" } else { "error.html" };
        let mut r = self.render(template, "", context! { status => status.as_u16(), message, detail, fields });
        *r.status_mut() = status;
        r
    }
}

/// Display names of the workspace's people by user id (everyone may read the directory).
pub async fn user_names(state: &AppState, page: &Page) -> Result<HashMap<String, String>, AppError> {
    let query = kairos_app::users::UserQuery { limit: Some("500".into()), ..Default::default() };
    Ok(state.app.list_users(&page.actor, &query).await?.items.into_iter().map(|u| (u.id.to_string(), u.display_name)).collect())
}

/// Stage names of every process by stage id.
pub async fn stage_names(state: &AppState, page: &Page) -> Result<HashMap<String, String>, AppError> {
    let processes = state.app.list_processes(&page.actor).await?;
    Ok(processes.iter().flat_map(|p| p.stages.iter().map(|s| (s.id.to_string(), s.name.clone()))).collect())
}

/// Sends the browser to another page after an htmx form.
pub fn go_to(path: &str) -> Response {
    ([("hx-redirect", path.to_string())], "").into_response()
}

/// A form field, trimmed; blank counts as absent.
pub fn form_field(form: &HashMap<String, String>, key: &str) -> Option<String> {
    form.get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The `version` a form was loaded with (optimistic locking), if it sent one; the app
/// refuses a missing one where it needs it.
pub fn form_version(form: &HashMap<String, String>) -> Option<i64> {
    form_field(form, "version").and_then(|v| v.parse().ok())
}

/// The same, for app calls that take the version as given.
pub fn required_form_version(form: &HashMap<String, String>) -> Result<i64, AppError> {
    form_version(form).ok_or_else(|| AppError::field("version", "must be the version the form was loaded with"))
}

/// HTML-escapes text for the few fragments built without a template.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#x27;")
}

pub fn cookie_header(state: &AppState, headers: &HeaderMap, name: &str, value: &str, max_age: i64, same_site: &str) -> HeaderValue {
    let forwarded_tls = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https");
    let secure = if state.settings.secure_cookies || forwarded_tls { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests;
