//! `GET /api/v1/audit?entity=…&id=…`: who changed what, scoped like the record itself.

use axum::Json;
use axum::extract::State;
use kairos_store::audit::AuditEntry;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::QueryParams;
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// account, contact, user or org_unit
    pub entity: Option<String>,
    pub id: Option<String>,
}

/// The audit trail of one record, oldest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn read(State(s): State<AppState>, Caller(actor): Caller, QueryParams(q): QueryParams<AuditQuery>) -> ApiResult<Json<Vec<AuditEntry>>> {
    let (Some(entity), Some(id)) = (q.entity, q.id) else {
        return Err(ApiError::field("entity", "entity and id are both required, e.g. ?entity=account&id=…"));
    };
    Ok(Json(s.app.read_audit(&actor, &entity, &id).await?))
}
