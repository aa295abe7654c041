//! Browser pages: sign-in and sign-out with a session cookie, and the home page. The web
//! UI issue grows this into the full application.

use std::sync::LazyLock;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use kairos_app::actor::AuthMethod;
use kairos_app::auth::secrets_match;
use kairos_app::password::random_secret;
use kairos_app::AppError;
use minijinja::{Environment, context};
use serde::Deserialize;

use crate::auth::{ClientAddress, SESSION_COOKIE, cookie};
use crate::state::AppState;

const LOGIN_CSRF_COOKIE: &str = "kairos_login_csrf";

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Templates are compiled into the binary; `.html` names turn on auto-escaping.
    for (name, source) in [
        ("base.html", include_str!("../templates/base.html")),
        ("login.html", include_str!("../templates/login.html")),
        ("home.html", include_str!("../templates/home.html")),
    ] {
        env.add_template(name, source).expect("built-in template parses");
    }
    env
});

/// Labels of the pages so far, per language.
fn labels(lang: &str) -> minijinja::Value {
    if lang == "en" {
        context! { sign_in => "Sign in", sign_out => "Sign out", email => "E-mail", password => "Password",
            tagline => "Business opportunities, stage by stage.", signed_in_as => "Signed in as",
            home => "Home", api_reference => "API reference",
            wrong_credentials => "Wrong e-mail or password.", too_many => "Too many failed attempts. Try again later.",
            expired_form => "The form expired. Please try again." }
    } else {
        context! { sign_in => "登录", sign_out => "退出", email => "邮箱", password => "密码",
            tagline => "商机管理，阶段把关。", signed_in_as => "当前用户", home => "首页", api_reference => "API 文档",
            wrong_credentials => "邮箱或密码错误。", too_many => "失败次数过多，请稍后再试。",
            expired_form => "表单已过期，请重试。" }
    }
}

fn render(name: &str, ctx: minijinja::Value) -> Response {
    match TEMPLATES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, template = name, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "page could not be rendered").into_response()
        }
    }
}

fn lang_of(query: Option<&str>, headers: &HeaderMap) -> &'static str {
    let wanted = query.map(str::to_string).or_else(|| cookie(headers, "kairos_lang")).unwrap_or_else(|| {
        headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("zh-CN").to_string()
    });
    if wanted.to_ascii_lowercase().starts_with("en") { "en" } else { "zh-CN" }
}

fn cookie_header(state: &AppState, headers: &HeaderMap, name: &str, value: &str, max_age: i64, same_site: &str) -> HeaderValue {
    let forwarded_tls = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https");
    let secure = if state.settings.secure_cookies || forwarded_tls { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

pub async fn login_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    login_form(&state, &headers, lang, StatusCode::OK, None, "")
}

fn login_form(state: &AppState, headers: &HeaderMap, lang: &str, status: StatusCode, error: Option<&str>, email: &str) -> Response {
    // Double-submit token: the form's hidden field must match this cookie, so another site
    // cannot post a login form in the user's name (login CSRF).
    let csrf = random_secret();
    let t = labels(lang);
    let error = error.map(|key| t.get_attr(key).map(|v| v.to_string()).unwrap_or_default());
    let mut response = render("login.html", context! { lang, t, csrf_token => csrf, error, email });
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, cookie_header(state, headers, LOGIN_CSRF_COOKIE, &csrf, 3600, "Strict"));
    h.append(header::SET_COOKIE, cookie_header(state, headers, "kairos_lang", lang, 365 * 86400, "Lax"));
    response
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
}

pub async fn login(State(state): State<AppState>, ClientAddress(client): ClientAddress, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let lang = lang_of(None, &headers);
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !secrets_match(&form.csrf_token, &expected) {
        return login_form(&state, &headers, lang, StatusCode::FORBIDDEN, Some("expired_form"), &form.email);
    }
    match state.app.create_session(&form.email, &form.password, &client).await {
        Ok(session) => {
            let max_age = (session.expires_at - state.app.now()).num_seconds().max(0);
            let mut response = Redirect::to("/").into_response();
            let h = response.headers_mut();
            h.append(header::SET_COOKIE, cookie_header(&state, &headers, SESSION_COOKIE, &session.secret, max_age, "Lax"));
            h.append(header::SET_COOKIE, cookie_header(&state, &headers, LOGIN_CSRF_COOKIE, "", 0, "Strict"));
            response
        }
        Err(AppError::RateLimited { retry_after_secs }) => {
            let mut r = login_form(&state, &headers, lang, StatusCode::TOO_MANY_REQUESTS, Some("too_many"), &form.email);
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(AppError::Unauthorized) => login_form(&state, &headers, lang, StatusCode::UNAUTHORIZED, Some("wrong_credentials"), &form.email),
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        if let Ok(actor) = state.app.authenticate_session(&secret).await {
            let AuthMethod::Session { csrf_token } = &actor.method else { return Redirect::to("/login").into_response() };
            if !secrets_match(&form.csrf_token, csrf_token) {
                return (StatusCode::FORBIDDEN, "The form expired; reload the page and sign out again.").into_response();
            }
            if let Err(e) = state.app.end_session(&secret).await {
                return crate::error::ApiError::from(e).into_response();
            }
        }
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie_header(&state, &headers, SESSION_COOKIE, "", 0, "Lax"));
    response
}

pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(secret) = cookie(&headers, SESSION_COOKIE) else { return Redirect::to("/login").into_response() };
    let Ok(actor) = state.app.authenticate_session(&secret).await else { return Redirect::to("/login").into_response() };
    let AuthMethod::Session { csrf_token } = &actor.method else { return Redirect::to("/login").into_response() };
    let lang = match actor.user.locale {
        Some(kairos_domain::identity::Locale::En) => "en",
        Some(_) => "zh-CN",
        None => lang_of(None, &headers),
    };
    render("home.html", context! { lang, t => labels(lang), user => actor.user.clone(), csrf_token })
}

pub async fn asset_css() -> Response {
    static_asset("text/css; charset=utf-8", include_str!("../assets/app.css"))
}

pub fn static_asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}
