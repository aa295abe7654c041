//! Signing in and out with a session cookie, and choosing the interface language.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kairos_app::AppError;
use kairos_app::actor::AuthMethod;
use kairos_app::auth::secrets_match;
use kairos_app::password::random_secret;
use minijinja::context;
use serde::Deserialize;

use super::i18n::{self, Lang};
use super::{Page, cookie_header, render, requested_lang};
use crate::auth::{ClientAddress, SESSION_COOKIE, cookie};
use crate::state::AppState;

const LOGIN_CSRF_COOKIE: &str = "kairos_login_csrf";
const LANG_COOKIE: &str = "kairos_lang";

#[derive(Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

pub async fn login_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = requested_lang(q.lang.as_deref(), &headers);
    login_form(&state, &headers, lang, StatusCode::OK, None, "")
}

fn login_form(state: &AppState, headers: &HeaderMap, lang: Lang, status: StatusCode, error: Option<&str>, email: &str) -> Response {
    // Double-submit token: the form's hidden field must match this cookie, so another site
    // cannot post a login form in the user's name (login CSRF).
    let csrf = random_secret();
    let error = error.map(|key| i18n::label(lang, key));
    let mut response = render("login.html", context! { lang => lang.code(), t => i18n::catalog(lang), csrf_token => csrf, error, email });
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, cookie_header(state, headers, LOGIN_CSRF_COOKIE, &csrf, 3600, "Strict"));
    h.append(header::SET_COOKIE, cookie_header(state, headers, LANG_COOKIE, lang.code(), 365 * 86400, "Lax"));
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
    let lang = requested_lang(None, &headers);
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !secrets_match(&form.csrf_token, &expected) {
        return login_form(&state, &headers, lang, StatusCode::FORBIDDEN, Some("login.expired_form"), &form.email);
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
            let mut r = login_form(&state, &headers, lang, StatusCode::TOO_MANY_REQUESTS, Some("login.too_many"), &form.email);
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(AppError::Unauthorized) => login_form(&state, &headers, lang, StatusCode::UNAUTHORIZED, Some("login.wrong_credentials"), &form.email),
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// Sign-out is a plain form post (it must work without JavaScript), so its CSRF token
/// comes in the form rather than the header.
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

#[derive(Deserialize)]
pub struct LanguageForm {
    lang: String,
}

/// The user's language is kept on their account, so it follows them to every device.
pub async fn set_language(State(state): State<AppState>, page: Page, headers: HeaderMap, Form(form): Form<LanguageForm>) -> Response {
    let lang = Lang::from_tag(&form.lang);
    if let Err(e) = state.app.set_own_locale(&page.actor, lang.code()).await {
        return page.error(e);
    }
    let mut response = (StatusCode::OK, [("hx-refresh", "true")], "").into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie_header(&state, &headers, LANG_COOKIE, lang.code(), 365 * 86400, "Lax"));
    response
}
