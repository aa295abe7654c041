//! `/api/v1/leads`, the lead rules, public lead forms and notifications (PRODUCT.md §3).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kairos_app::lead_convert::{Conversion, ConvertLead};
use kairos_app::lead_import::{ImportFile, ImportMapping, ImportReport, KeepOutcomes};
use kairos_app::lead_import_jobs::ImportJob;
use kairos_app::lead_settings::{LeadFormPatch, LeadRules, NewLeadForm, PublicLead, PublicReceipt};
use kairos_app::leads::{CaptureOutcome, LeadPatch, LeadQuery, NewLead};
use kairos_app::listing::ListPage;
use kairos_app::notifications::Inbox;
use kairos_domain::ids::ImportJobId;
use kairos_domain::lead::Lead;
use kairos_domain::lead_form::LeadForm;
use serde::Deserialize;

use super::{created, with_etag};
use crate::auth::{Caller, ClientAddress};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams, if_match, parse_json, too_large, version};
use crate::state::AppState;

/// List the leads the caller may see (their own, their units', and the pool).
#[utoipa::path(get, path = "/api/v1/leads", tag = "leads", security(("bearer" = [])), params(LeadQuery),
    responses((status = 200, body = ListPage<Lead>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<LeadQuery>) -> ApiResult<Json<ListPage<Lead>>> {
    Ok(Json(s.app.list_leads(&actor, &q).await?))
}

/// Capture a lead: deduplicated (409 `duplicate`, or merged with `on_duplicate: merge`),
/// scored, and assigned by the workspace's rules unless `owner_id` is given. Answers 201
/// with `outcome: created`, or 200 with `outcome: merged` and the lead merged into.
#[utoipa::path(post, path = "/api/v1/leads", tag = "leads", security(("bearer" = [])), request_body = NewLead,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key replay the first answer")),
    responses((status = 201, body = CaptureOutcome), (status = 200, description = "Merged into an existing lead", body = CaptureOutcome),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewLead>) -> ApiResult<Response> {
    let outcome = s.app.create_lead(&actor, input).await?;
    let (id, version) = (outcome.lead.id, outcome.lead.version);
    if outcome.outcome == "merged" {
        return Ok(with_etag(version, outcome));
    }
    Ok(created(format!("/api/v1/leads/{id}"), version, outcome))
}

/// One lead with its score and the rules that gave it.
#[utoipa::path(get, path = "/api/v1/leads/{id}", tag = "leads", security(("bearer" = [])), params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Lead), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let lead = s.app.get_lead(&actor, &id).await?;
    Ok(with_etag(lead.version, lead))
}

/// Change a lead's facts, status (disqualifying needs a reason) or owner (`null`: back to
/// the pool). A converted lead answers 422 `lead_converted`.
#[utoipa::path(patch, path = "/api/v1/leads/{id}", tag = "leads", security(("bearer" = [])), request_body = LeadPatch,
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = Lead), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut input): JsonBody<LeadPatch>,
) -> ApiResult<Response> {
    input.version = version(&headers, input.version)?;
    let lead = s.app.update_lead(&actor, &id, input).await?;
    Ok(with_etag(lead.version, lead))
}

/// Archive a lead (restorable).
#[utoipa::path(delete, path = "/api/v1/leads/{id}", tag = "leads", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn archive(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, headers: HeaderMap) -> ApiResult<StatusCode> {
    s.app.archive_lead(&actor, &id, if_match(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/leads/{id}/restore", tag = "leads", security(("bearer" = [])), params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Lead), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn restore(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let lead = s.app.restore_lead(&actor, &id, if_match(&headers)?).await?;
    Ok(with_etag(lead.version, lead))
}

/// Take a lead from the pool (公海). Two reps claiming at once: one wins, the other gets 409.
#[utoipa::path(post, path = "/api/v1/leads/{id}/claim", tag = "leads", security(("bearer" = [])), params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Lead), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn claim(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let lead = s.app.claim_lead(&actor, &id).await?;
    Ok(with_etag(lead.version, lead))
}

/// Convert a lead into account + contact (+ opportunity), all or nothing.
#[utoipa::path(post, path = "/api/v1/leads/{id}/convert", tag = "leads", security(("bearer" = [])), request_body = ConvertLead,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Conversion), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn convert(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, JsonBody(input): JsonBody<ConvertLead>) -> ApiResult<Json<Conversion>> {
    Ok(Json(s.app.convert_lead(&actor, &id, input).await?))
}

/// The scoring and assignment rules (everyone may read them).
#[utoipa::path(get, path = "/api/v1/lead-rules", tag = "leads", security(("bearer" = [])),
    responses((status = 200, body = LeadRules), (status = 401, body = ErrorBody)))]
pub async fn get_rules(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<LeadRules>> {
    Ok(Json(s.app.lead_rules(&actor).await?))
}

/// Replace the scoring and assignment rules (admin); send the `version` you read.
#[utoipa::path(put, path = "/api/v1/lead-rules", tag = "leads", security(("bearer" = [])), request_body = LeadRules,
    responses((status = 200, body = LeadRules), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_rules(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<LeadRules>) -> ApiResult<Json<LeadRules>> {
    Ok(Json(s.app.set_lead_rules(actor.require_admin()?, input).await?))
}

#[utoipa::path(get, path = "/api/v1/lead-forms", tag = "leads", security(("bearer" = [])),
    responses((status = 200, body = Vec<LeadForm>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_forms(State(s): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<Vec<LeadForm>>> {
    Ok(Json(s.app.list_lead_forms(actor.require_admin()?).await?))
}

/// Create a public web form (admin); its `form_key` goes into the page's form action.
#[utoipa::path(post, path = "/api/v1/lead-forms", tag = "leads", security(("bearer" = [])), request_body = NewLeadForm,
    responses((status = 201, body = LeadForm), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_form(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewLeadForm>) -> ApiResult<Response> {
    let form = s.app.create_lead_form(actor.require_admin()?, input).await?;
    Ok(created(format!("/api/v1/lead-forms/{}", form.id), form.version, form))
}

#[utoipa::path(patch, path = "/api/v1/lead-forms/{id}", tag = "leads", security(("bearer" = [])), request_body = LeadFormPatch,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = LeadForm), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_form(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut input): JsonBody<LeadFormPatch>,
) -> ApiResult<Response> {
    input.version = version(&headers, input.version)?;
    let form = s.app.update_lead_form(actor.require_admin()?, &id, input).await?;
    Ok(with_etag(form.version, form))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// `true`: only unread ones.
    pub unread: Option<String>,
}

/// The caller's notifications, newest first, with the unread count.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])), params(InboxQuery),
    responses((status = 200, body = Inbox), (status = 401, body = ErrorBody)))]
pub async fn notifications(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<InboxQuery>) -> ApiResult<Json<Inbox>> {
    let unread = matches!(q.unread.as_deref(), Some("true" | "1"));
    Ok(Json(s.app.my_notifications(&actor, unread).await?))
}

#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "A notification id, or `all`")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read_notification(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = (id != "all").then_some(id);
    s.app.mark_notifications_read(&actor, id.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A visitor's submission through a public form: JSON or an HTML form post
/// (`application/x-www-form-urlencoded`). No login. Browsers may post from the form's
/// allowed origins only; each address is rate-limited (429).
#[utoipa::path(post, path = "/api/v1/public/leads/{form_key}", tag = "leads", request_body = PublicLead,
    params(("form_key" = String, Path)),
    responses((status = 201, body = PublicReceipt), (status = 403, description = "Origin not allowed", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn public_submit(State(s): State<AppState>, Path(key): Path<String>, ClientAddress(address): ClientAddress, req: Request) -> Response {
    let origin = origin_of(req.headers());
    let form = match s.app.public_form(&key).await {
        Ok(f) => f,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Some(o) = &origin {
        if !form.allows_origin(o) {
            return origin_refused();
        }
    }
    let mut response = match public_body(req, &s).await {
        Err(e) => e.into_response(),
        Ok(input) => match s.app.submit_public_lead(&key, &address, input).await {
            Ok(receipt) => (StatusCode::CREATED, Json(receipt)).into_response(),
            Err(e) => ApiError::from(e).into_response(),
        },
    };
    if let Some(o) = origin {
        allow_origin(response.headers_mut(), &o);
    }
    response
}

/// The CORS preflight of a public form.
pub async fn public_preflight(State(s): State<AppState>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    let Some(origin) = origin_of(&headers) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    match s.app.public_form(&key).await {
        Ok(form) if form.allows_origin(&origin) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            let h = response.headers_mut();
            allow_origin(h, &origin);
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type"));
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("3600"));
            response
        }
        Ok(_) => origin_refused(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn origin_of(headers: &HeaderMap) -> Option<String> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string).filter(|o| !o.is_empty() && o != "null")
}

fn allow_origin(headers: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn origin_refused() -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "origin_not_allowed", "this form does not accept submissions from that web site").into_response()
}

async fn public_body(req: Request, s: &AppState) -> Result<PublicLead, ApiError> {
    let form_post = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let bytes = Bytes::from_request(req, s).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "the request body could not be read")
        }
    })?;
    if form_post {
        serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_form", format!("the form body could not be read: {e}")))
    } else {
        parse_json(&bytes)
    }
}

/// Largest lead file the API takes; bigger files go through `kairos import leads`, which
/// streams them from disk.
pub const IMPORT_LIMIT: usize = 20 * 1024 * 1024;

/// Import leads from a CSV or XLSX upload (multipart: `file`, and optionally `mapping`, the
/// JSON of the import mapping). Answers the per-row report; up to 20 MiB.
#[utoipa::path(post, path = "/api/v1/leads/import", tag = "leads", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "fields: file, mapping (JSON text, optional)"),
    responses((status = 200, body = ImportReport), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import(State(s): State<AppState>, Caller(actor): Caller, form: axum::extract::Multipart) -> ApiResult<Json<ImportReport>> {
    let (file, mapping) = read_upload(form).await?;
    // The upload limit keeps the file, and so its report of every row, small.
    Ok(Json(s.app.import_leads(&actor, file, mapping, &|_| {}, KeepOutcomes::All, &mut |_| {}).await?))
}

/// Start importing leads in the background (the same multipart upload as
/// `/api/v1/leads/import`). Answers 202 with the job at once; follow it with
/// `GET /api/v1/lead-imports/{id}` until its status is done (the report is then in it),
/// failed or interrupted.
#[utoipa::path(post, path = "/api/v1/lead-imports", tag = "leads", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "fields: file, mapping (JSON text, optional)"),
    responses((status = 202, body = ImportJob), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn start_import(State(s): State<AppState>, Caller(actor): Caller, form: axum::extract::Multipart) -> ApiResult<Response> {
    let (file, mapping) = read_upload(form).await?;
    let job = s.app.start_lead_import(&actor, file, mapping).await?;
    let location = format!("/api/v1/lead-imports/{}", job.id);
    Ok((StatusCode::ACCEPTED, [(axum::http::header::LOCATION, location)], Json(job)).into_response())
}

/// A background import: rows done (and percent) while running, the report when done.
#[utoipa::path(get, path = "/api/v1/lead-imports/{id}", tag = "leads", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ImportJob), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn import_job(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Json<ImportJob>> {
    let id = ImportJobId::parse(&id).map_err(|_| kairos_app::AppError::NotFound { entity: "import job" })?;
    Ok(Json(s.app.lead_import_job(&actor, id).await?))
}

/// The `file` and `mapping` parts of an import upload.
async fn read_upload(mut form: axum::extract::Multipart) -> ApiResult<(ImportFile, ImportMapping)> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the file is larger than the upload limit of {} MiB; import it with `kairos import leads`", IMPORT_LIMIT / 1024 / 1024),
            )
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_multipart", format!("the upload could not be read: {e}"))
        }
    };
    let mut file = None;
    let mut mapping = ImportMapping::default();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("file") => {
                let name = field.file_name().unwrap_or("leads.csv").to_string();
                file = Some(ImportFile::Bytes { name, bytes: field.bytes().await.map_err(bad)?.to_vec() });
            }
            Some("mapping") => {
                let text = field.text().await.map_err(bad)?;
                if !text.trim().is_empty() {
                    mapping = serde_json::from_str(&text)
                        .map_err(|e| kairos_app::AppError::field("mapping", format!("is not a valid import mapping: {e}")))?;
                }
            }
            _ => {}
        }
    }
    let Some(file) = file else {
        return Err(kairos_app::AppError::field("file", "attach the CSV or XLSX file as the multipart field `file`").into());
    };
    Ok((file, mapping))
}
