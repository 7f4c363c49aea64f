//! `/v1/tenants`: create, list, read, update, lifecycle, hierarchy, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, Body, IfMatch, PageQuery, Params, Path};
use super::{AppState, PageBody, tagged};
use crate::domain::tenant::StatusAction;
use crate::domain::{Tenant, TenantStatus};
use crate::service::PageRequest;
use crate::service::tenants::{CreateTenant, MoveTenant, TenantFilter, UpdateTenant};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_tenant, list_tenants))
        .routes(routes!(get_tenant, update_tenant, delete_tenant))
        .routes(routes!(park))
        .routes(routes!(unpark))
        .routes(routes!(suspend))
        .routes(routes!(resume))
        .routes(routes!(list_children))
        .routes(routes!(move_tenant))
}

/// Filters of the tenant list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListTenants {
    pub status: Option<TenantStatus>,
    pub parent_tenant_id: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// `?cascade=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Delete the whole subtree.
    #[serde(default)]
    pub cascade: bool,
}

/// Create a tenant (platform admin), or a child tenant (admin of the parent).
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants",
    request_body = CreateTenant,
    responses((status = 201, body = Tenant), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Body(input): Body<CreateTenant>,
) -> ApiResult<Response> {
    let t = s
        .services
        .tenants()
        .create_provisioned(&caller, input)
        .await?;
    Ok(tagged(StatusCode::CREATED, t.tenant.version, &t))
}

/// The tenants the caller may see (with `parentTenantId`, that tenant's
/// children: 404 if the caller cannot see it).
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", params(ListTenants),
    responses((status = 200, body = PageBody<Tenant>), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn list_tenants(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Params(q): Params<ListTenants>,
) -> ApiResult<axum::Json<PageBody<Tenant>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let filter = TenantFilter {
        status: q.status,
        parent_tenant_id: q.parent_tenant_id,
    };
    Ok(axum::Json(
        s.services
            .tenants()
            .list(&caller, &filter, &page)
            .await?
            .into(),
    ))
}

/// One tenant, with all its fields and its ETag.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}", tag = "tenants",
    params(("tenantId" = String, Path)),
    responses((status = 200, body = Tenant), (status = 404, body = Problem)))]
async fn get_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let t = s.services.tenants().get(&caller, &id).await?;
    Ok(tagged(StatusCode::OK, t.version, &t))
}

/// Change fields; with If-Match, only if the tenant is still at that version.
#[utoipa::path(patch, path = "/v1/tenants/{tenantId}", tag = "tenants",
    params(("tenantId" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = UpdateTenant,
    responses((status = 200, body = Tenant), (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn update_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    Body(input): Body<UpdateTenant>,
) -> ApiResult<Response> {
    let t = s
        .services
        .tenants()
        .update(&caller, &id, if_match, input)
        .await?;
    Ok(tagged(StatusCode::OK, t.version, &t))
}

/// Delete a tenant; refused with children unless `?cascade=true`. 204 when
/// it is gone; 202 with the deletion's operation while instances of its
/// subtree are deprovisioned.
#[utoipa::path(delete, path = "/v1/tenants/{tenantId}", tag = "tenants",
    params(("tenantId" = String, Path), DeleteParams, ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 202, body = TenantDeletion), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    Params(q): Params<DeleteParams>,
) -> ApiResult<Response> {
    let started = s
        .services
        .tenants()
        .delete(&caller, &id, q.cascade, if_match)
        .await?;
    Ok(match started {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(op) => (
            StatusCode::ACCEPTED,
            Json(TenantDeletion {
                tenant_id: id,
                operation_id: op.operation_id,
            }),
        )
            .into_response(),
    })
}

/// A tenant deletion going on as a job.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TenantDeletion {
    tenant_id: String,
    /// `GET /v1/operations/{operationId}` follows it (`tenant.delete`).
    operation_id: String,
}

async fn transition(
    s: AppState,
    caller: std::sync::Arc<crate::service::Caller>,
    id: String,
    action: StatusAction,
    if_match: Option<u64>,
) -> ApiResult<Response> {
    let t = s
        .services
        .tenants()
        .transition(&caller, &id, action, if_match)
        .await?;
    Ok(tagged(StatusCode::OK, t.version, &t))
}

/// ACTIVE -> PARKED (owner).
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/park", tag = "tenants",
    params(("tenantId" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = Tenant), (status = 409, body = Problem)))]
async fn park(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
    IfMatch(m): IfMatch,
) -> ApiResult<Response> {
    transition(s, c, id, StatusAction::Park, m).await
}

/// PARKED -> ACTIVE (owner).
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/unpark", tag = "tenants",
    params(("tenantId" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = Tenant), (status = 409, body = Problem)))]
async fn unpark(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
    IfMatch(m): IfMatch,
) -> ApiResult<Response> {
    transition(s, c, id, StatusAction::Unpark, m).await
}

/// ACTIVE or PARKED -> SUSPENDED (owner of an ancestor, or platform admin).
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/suspend", tag = "tenants",
    params(("tenantId" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = Tenant), (status = 409, body = Problem)))]
async fn suspend(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
    IfMatch(m): IfMatch,
) -> ApiResult<Response> {
    transition(s, c, id, StatusAction::Suspend, m).await
}

/// SUSPENDED -> the status it was suspended from.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/resume", tag = "tenants",
    params(("tenantId" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = Tenant), (status = 409, body = Problem)))]
async fn resume(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
    IfMatch(m): IfMatch,
) -> ApiResult<Response> {
    transition(s, c, id, StatusAction::Resume, m).await
}

/// Direct children of a tenant.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/children", tag = "tenants",
    params(("tenantId" = String, Path), PageQuery),
    responses((status = 200, body = PageBody<Tenant>), (status = 404, body = Problem)))]
async fn list_children(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> ApiResult<axum::Json<PageBody<Tenant>>> {
    let page = q.request()?;
    Ok(axum::Json(
        s.services
            .tenants()
            .children(&caller, &id, None, &page)
            .await?
            .into(),
    ))
}

/// Re-parent a tenant; under itself or a descendant is 409 `hierarchy_cycle`.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/move", tag = "tenants",
    params(("tenantId" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = MoveTenant,
    responses((status = 200, body = Tenant), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn move_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    Body(input): Body<MoveTenant>,
) -> ApiResult<Response> {
    let t = s
        .services
        .tenants()
        .move_tenant(&caller, &id, if_match, input)
        .await?;
    Ok(tagged(StatusCode::OK, t.version, &t).into_response())
}
