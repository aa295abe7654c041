//! `/api/v1/opportunities` (PRODUCT.md §5) and their actions: move, close, reopen,
//! checklist, history, approvals.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kairos_app::listing::ListPage;
use kairos_app::opportunities::{NewOpportunity, OpportunityPatch, OpportunityQuery, OpportunityView};
use kairos_app::stage_engine::{CloseRequest, MoveOutcome, MoveRequest, ReopenRequest, TickRequest};
use kairos_domain::opportunity::Opportunity;
use kairos_store::approval::Approval;
use kairos_store::opportunity::{ChecklistTick, Document, HistoryEntry};

use super::{created, with_etag};
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams, version};
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/opportunities", tag = "opportunities", security(("bearer" = [])), params(OpportunityQuery),
    responses((status = 200, body = ListPage<Opportunity>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<OpportunityQuery>) -> ApiResult<Json<ListPage<Opportunity>>> {
    Ok(Json(s.app.list_opportunities(&actor, &q).await?))
}

/// Create an opportunity: numbered from the workspace pattern, in the process that applies.
#[utoipa::path(post, path = "/api/v1/opportunities", tag = "opportunities", security(("bearer" = [])), request_body = NewOpportunity,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = OpportunityView), (status = 422, description = "Invalid, gate_refused or process_ambiguous", body = ErrorBody)))]
pub async fn create(State(s): State<AppState>, Caller(actor): Caller, JsonBody(input): JsonBody<NewOpportunity>) -> ApiResult<Response> {
    let v = s.app.create_opportunity(&actor, input).await?;
    Ok(created(format!("/api/v1/opportunities/{}", v.opportunity.id), v.opportunity.version, v))
}

#[utoipa::path(get, path = "/api/v1/opportunities/{id}", tag = "opportunities", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = OpportunityView), (status = 404, body = ErrorBody)))]
pub async fn get(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let v = s.app.get_opportunity(&actor, &id).await?;
    Ok(with_etag(v.opportunity.version, v))
}

/// Change an open opportunity's facts (not its stage or status: use move and close).
#[utoipa::path(patch, path = "/api/v1/opportunities/{id}", tag = "opportunities", security(("bearer" = [])), request_body = OpportunityPatch,
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = OpportunityView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut input): JsonBody<OpportunityPatch>,
) -> ApiResult<Response> {
    input.version = version(&headers, input.version)?;
    let v = s.app.update_opportunity(&actor, &id, input).await?;
    Ok(with_etag(v.opportunity.version, v))
}

/// Move to another stage through the stage gate. 200 when moved; 202 when the move waits
/// for an approval; 422 `gate_refused` lists every missing criterion and moves nothing.
#[utoipa::path(post, path = "/api/v1/opportunities/{id}/move", tag = "opportunities", security(("bearer" = [])), request_body = MoveRequest,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = MoveOutcome), (status = 202, description = "Waiting for approval", body = MoveOutcome),
        (status = 404, body = ErrorBody), (status = 409, description = "Stale version or approval pending", body = ErrorBody),
        (status = 422, description = "gate_refused with details.missing", body = ErrorBody)))]
pub async fn move_stage(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut req): JsonBody<MoveRequest>,
) -> ApiResult<Response> {
    req.version = version(&headers, req.version)?;
    let outcome = s.app.move_opportunity(&actor, &id, req).await?;
    Ok(match &outcome {
        MoveOutcome::Moved { opportunity } => with_etag(opportunity.version, &outcome),
        MoveOutcome::PendingApproval { .. } => (StatusCode::ACCEPTED, Json(&outcome)).into_response(),
    })
}

/// Close as won, lost or invalid.
#[utoipa::path(post, path = "/api/v1/opportunities/{id}/close", tag = "opportunities", security(("bearer" = [])), request_body = CloseRequest,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Opportunity), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn close(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut req): JsonBody<CloseRequest>,
) -> ApiResult<Response> {
    req.version = version(&headers, req.version)?;
    let o = s.app.close_opportunity(&actor, &id, req).await?;
    Ok(with_etag(o.version, o))
}

/// Reopen a closed opportunity (managers), with a reason.
#[utoipa::path(post, path = "/api/v1/opportunities/{id}/reopen", tag = "opportunities", security(("bearer" = [])), request_body = ReopenRequest,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Opportunity), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reopen(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut req): JsonBody<ReopenRequest>,
) -> ApiResult<Response> {
    req.version = version(&headers, req.version)?;
    let o = s.app.reopen_opportunity(&actor, &id, req).await?;
    Ok(with_etag(o.version, o))
}

/// Stage and status changes, and changes of amount, expected close, probability and owner.
#[utoipa::path(get, path = "/api/v1/opportunities/{id}/history", tag = "opportunities", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 404, body = ErrorBody)))]
pub async fn history(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Json<Vec<HistoryEntry>>> {
    Ok(Json(s.app.opportunity_history(&actor, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/opportunities/{id}/checklist", tag = "opportunities", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Vec<ChecklistTick>), (status = 404, body = ErrorBody)))]
pub async fn checklist(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Json<Vec<ChecklistTick>>> {
    Ok(Json(s.app.checklist(&actor, &id).await?))
}

/// Tick or untick a checklist item; answers all ticks.
#[utoipa::path(post, path = "/api/v1/opportunities/{id}/checklist", tag = "opportunities", security(("bearer" = [])), request_body = TickRequest,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Vec<ChecklistTick>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn tick(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, JsonBody(req): JsonBody<TickRequest>) -> ApiResult<Json<Vec<ChecklistTick>>> {
    Ok(Json(s.app.tick(&actor, &id, req).await?))
}

#[utoipa::path(get, path = "/api/v1/opportunities/{id}/documents", tag = "opportunities", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Vec<Document>), (status = 404, body = ErrorBody)))]
pub async fn documents(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Json<Vec<Document>>> {
    Ok(Json(s.app.documents(&actor, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/opportunities/{id}/approvals", tag = "opportunities", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Vec<Approval>), (status = 404, body = ErrorBody)))]
pub async fn approvals(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>) -> ApiResult<Json<Vec<Approval>>> {
    Ok(Json(s.app.opportunity_approvals(&actor, &id).await?))
}

/// Attach a document (multipart: `doc_type` and `file`), up to 20 MiB.
#[utoipa::path(post, path = "/api/v1/opportunities/{id}/documents", tag = "opportunities", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    request_body(content_type = "multipart/form-data", description = "fields: doc_type (text), file (the file)"),
    responses((status = 201, body = Document), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload(State(s): State<AppState>, Caller(actor): Caller, Path(id): Path<String>, mut form: axum::extract::Multipart) -> ApiResult<Response> {
    use crate::error::ApiError;
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            crate::extract::too_large()
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_multipart", format!("the upload could not be read: {e}"))
        }
    };
    let mut upload = kairos_app::documents::Upload { doc_type: String::new(), file_name: String::new(), content_type: String::new(), bytes: Vec::new() };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("doc_type") => upload.doc_type = field.text().await.map_err(bad)?,
            Some("file") => {
                upload.file_name = field.file_name().unwrap_or("").to_string();
                upload.content_type = field.content_type().unwrap_or("").to_string();
                upload.bytes = field.bytes().await.map_err(bad)?.to_vec();
            }
            _ => {}
        }
    }
    let doc = s.app.upload_document(&actor, &id, upload).await?;
    let mut response = (StatusCode::CREATED, Json(&doc)).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("/api/v1/opportunities/{id}/documents/{}", doc.id)) {
        response.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(response)
}

/// Download a document.
#[utoipa::path(get, path = "/api/v1/opportunities/{id}/documents/{document_id}", tag = "opportunities", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid), ("document_id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The file"), (status = 404, body = ErrorBody)))]
pub async fn download(State(s): State<AppState>, Caller(actor): Caller, Path((id, doc)): Path<(String, String)>) -> ApiResult<Response> {
    let (d, bytes) = s.app.download_document(&actor, &id, &doc).await?;
    let disposition = format!("attachment; filename*=UTF-8''{}", percent(&d.file_name));
    let content_type = axum::http::HeaderValue::from_str(&d.content_type).unwrap_or(axum::http::HeaderValue::from_static("application/octet-stream"));
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(axum::http::header::CONTENT_TYPE, content_type);
    if let Ok(v) = axum::http::HeaderValue::from_str(&disposition) {
        h.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    h.insert("x-content-type-options", axum::http::HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// RFC 5987 encoding of a file name for Content-Disposition.
fn percent(name: &str) -> String {
    name.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}
