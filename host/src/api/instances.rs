//! `/v1/tenants/{tenantId}/instances`: create, read, list, update, scale,
//! status, sites and delete; and `/v1/gitops/sync`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, Body, IfMatch, Params, Path};
use super::{AppState, PageBody, accepted, tagged};
use crate::domain::instance::{Environment, Instance, InstanceHealth, InstanceStatus};
use crate::domain::site::Site;
use crate::service::PageRequest;
use crate::service::instances::sync::SyncReport;
use crate::service::instances::{CreateInstance, InstanceFilter, ScaleInstance, UpdateInstance};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_instance, list_instances))
        .routes(routes!(get_instance, update_instance, delete_instance))
        .routes(routes!(scale_instance))
        .routes(routes!(instance_status))
        .routes(routes!(instance_sites))
        .routes(routes!(gitops_sync))
}

/// Filters of the instance list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListInstances {
    pub environment: Option<Environment>,
    pub status: Option<InstanceStatus>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// `?limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// `?cascade=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteInstanceParams {
    /// Delete the sites on the instance with it.
    #[serde(default)]
    pub cascade: bool,
}

/// Create an instance: its manifest is committed to the GitOps repository,
/// then it is provisioned (202, PROVISIONING, `gitCommit`, the operation).
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/instances", tag = "instances",
    params(("tenantId" = String, Path)), request_body = CreateInstance,
    responses((status = 202, body = Instance), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn create_instance(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(tenant_id): Path<String>,
    Body(input): Body<CreateInstance>,
) -> ApiResult<Response> {
    let a = s
        .services
        .instances()
        .create(&caller, &tenant_id, input)
        .await?;
    Ok(accepted(a.resource.version, &a))
}

/// The tenant's instances, filtered by environment and status.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/instances", tag = "instances",
    params(("tenantId" = String, Path), ListInstances),
    responses((status = 200, body = PageBody<Instance>), (status = 404, body = Problem)))]
async fn list_instances(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(tenant_id): Path<String>,
    Params(q): Params<ListInstances>,
) -> ApiResult<axum::Json<PageBody<Instance>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let filter = InstanceFilter {
        environment: q.environment,
        status: q.status,
    };
    Ok(axum::Json(
        s.services
            .instances()
            .list(&caller, &tenant_id, &filter, &page)
            .await?
            .into(),
    ))
}

/// One instance, with its infrastructure as last recorded.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/instances/{instanceId}", tag = "instances",
    params(("tenantId" = String, Path), ("instanceId" = String, Path)),
    responses((status = 200, body = Instance), (status = 404, body = Problem)))]
async fn get_instance(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, instance_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let i = s
        .services
        .instances()
        .get(&caller, &tenant_id, &instance_id)
        .await?;
    Ok(tagged(StatusCode::OK, i.version, &i))
}

/// Change settings (name, tags, sizes) through a commit: 200 with the
/// instance UPDATING and the operation that applies it.
#[utoipa::path(patch, path = "/v1/tenants/{tenantId}/instances/{instanceId}", tag = "instances",
    params(("tenantId" = String, Path), ("instanceId" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = UpdateInstance,
    responses((status = 200, body = Instance), (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn update_instance(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, instance_id)): Path<(String, String)>,
    IfMatch(if_match): IfMatch,
    Body(input): Body<UpdateInstance>,
) -> ApiResult<Response> {
    let a = s
        .services
        .instances()
        .update(&caller, &tenant_id, &instance_id, if_match, input)
        .await?;
    Ok(tagged(StatusCode::OK, a.resource.version, &a))
}

/// Remove the manifest, deprovision and clean up (202); refused with sites
/// on the instance unless `?cascade=true`.
#[utoipa::path(delete, path = "/v1/tenants/{tenantId}/instances/{instanceId}", tag = "instances",
    params(("tenantId" = String, Path), ("instanceId" = String, Path), DeleteInstanceParams, ("If-Match" = Option<String>, Header)),
    responses((status = 202, body = Instance), (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem)))]
async fn delete_instance(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, instance_id)): Path<(String, String)>,
    Params(q): Params<DeleteInstanceParams>,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    let a = s
        .services
        .instances()
        .delete(&caller, &tenant_id, &instance_id, q.cascade, if_match)
        .await?;
    Ok(accepted(a.resource.version, &a))
}

/// Scale to 2..10 tasks: admitted by the policy, committed, applied; a
/// failed deployment rolls back to the previous count.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/instances/{instanceId}/scale", tag = "instances",
    params(("tenantId" = String, Path), ("instanceId" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = ScaleInstance,
    responses((status = 202, body = Instance), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn scale_instance(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, instance_id)): Path<(String, String)>,
    IfMatch(if_match): IfMatch,
    Body(input): Body<ScaleInstance>,
) -> ApiResult<Response> {
    let a = s
        .services
        .instances()
        .scale(&caller, &tenant_id, &instance_id, if_match, input)
        .await?;
    Ok(accepted(a.resource.version, &a))
}

/// The composite health: ECS, RDS and EFS, the worst part winning.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/instances/{instanceId}/status", tag = "instances",
    params(("tenantId" = String, Path), ("instanceId" = String, Path)),
    responses((status = 200, body = InstanceHealth), (status = 404, body = Problem)))]
async fn instance_status(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, instance_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<InstanceHealth>> {
    Ok(axum::Json(
        s.services
            .instances()
            .status(&caller, &tenant_id, &instance_id)
            .await?,
    ))
}

/// The sites placed on the instance.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/instances/{instanceId}/sites", tag = "instances",
    params(("tenantId" = String, Path), ("instanceId" = String, Path), Paging),
    responses((status = 200, body = PageBody<Site>), (status = 404, body = Problem)))]
async fn instance_sites(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, instance_id)): Path<(String, String)>,
    Params(q): Params<Paging>,
) -> ApiResult<axum::Json<PageBody<Site>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(axum::Json(
        s.services
            .instances()
            .sites(&caller, &tenant_id, &instance_id, &page)
            .await?
            .into(),
    ))
}

/// Fetch the GitOps repository now and apply manifests changed there (a
/// webhook's target; platform admin).
#[utoipa::path(post, path = "/v1/gitops/sync", tag = "instances",
    responses((status = 200, body = SyncReport), (status = 403, body = Problem), (status = 503, body = Problem)))]
async fn gitops_sync(
    State(s): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<axum::Json<SyncReport>> {
    Ok(axum::Json(s.services.instances().sync(&caller).await?))
}
