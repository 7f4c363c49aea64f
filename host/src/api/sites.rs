//! `/v1/tenants/{tenantId}/sites`: create, read, list, update, delete,
//! clone and promote.

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
use crate::domain::site::{Environment, Site, SiteStatus};
use crate::service::PageRequest;
use crate::service::sites::{CloneSite, CreateSite, PromoteSite, SiteFilter, UpdateSite};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_site, list_sites))
        .routes(routes!(get_site, update_site, delete_site))
        .routes(routes!(clone_site))
        .routes(routes!(promote_site))
}

/// Filters of the site list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListSites {
    pub environment: Option<Environment>,
    pub status: Option<SiteStatus>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// Create a site asynchronously: 202 with status PROVISIONING and the operation.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/sites", tag = "sites",
    params(("tenantId" = String, Path)), request_body = CreateSite,
    responses((status = 202, body = Site), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_site(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(tenant_id): Path<String>,
    Body(input): Body<CreateSite>,
) -> ApiResult<Response> {
    let a = s
        .services
        .sites()
        .create(&caller, &tenant_id, input)
        .await?;
    Ok(accepted(a.resource.version, &a))
}

/// The tenant's sites, filtered by environment and status.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/sites", tag = "sites",
    params(("tenantId" = String, Path), ListSites),
    responses((status = 200, body = PageBody<Site>), (status = 404, body = Problem)))]
async fn list_sites(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(tenant_id): Path<String>,
    Params(q): Params<ListSites>,
) -> ApiResult<axum::Json<PageBody<Site>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let filter = SiteFilter {
        environment: q.environment,
        status: q.status,
    };
    Ok(axum::Json(
        s.services
            .sites()
            .list(&caller, &tenant_id, &filter, &page)
            .await?
            .into(),
    ))
}

/// One site.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/sites/{siteId}", tag = "sites",
    params(("tenantId" = String, Path), ("siteId" = String, Path)),
    responses((status = 200, body = Site), (status = 404, body = Problem)))]
async fn get_site(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let site = s
        .services
        .sites()
        .get(&caller, &tenant_id, &site_id)
        .await?;
    Ok(tagged(StatusCode::OK, site.version, &site))
}

/// Rename a site, or give an attached site new credentials.
#[utoipa::path(patch, path = "/v1/tenants/{tenantId}/sites/{siteId}", tag = "sites",
    params(("tenantId" = String, Path), ("siteId" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = UpdateSite,
    responses((status = 200, body = Site), (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn update_site(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id)): Path<(String, String)>,
    IfMatch(if_match): IfMatch,
    Body(input): Body<UpdateSite>,
) -> ApiResult<Response> {
    let site = s
        .services
        .sites()
        .update(&caller, &tenant_id, &site_id, if_match, input)
        .await?;
    Ok(tagged(StatusCode::OK, site.version, &site))
}

/// Delete a site asynchronously (status DELETING, then gone).
#[utoipa::path(delete, path = "/v1/tenants/{tenantId}/sites/{siteId}", tag = "sites",
    params(("tenantId" = String, Path), ("siteId" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 202, body = Site), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_site(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id)): Path<(String, String)>,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    let a = s
        .services
        .sites()
        .delete(&caller, &tenant_id, &site_id, if_match)
        .await?;
    Ok(accepted(a.resource.version, &a))
}

/// A new site from this one: its settings, content and plugins.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/sites/{siteId}/clone", tag = "sites",
    params(("tenantId" = String, Path), ("siteId" = String, Path)), request_body = CloneSite,
    responses((status = 202, body = Site), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn clone_site(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id)): Path<(String, String)>,
    Body(input): Body<CloneSite>,
) -> ApiResult<Response> {
    let a = s
        .services
        .sites()
        .clone_site(&caller, &tenant_id, &site_id, input)
        .await?;
    Ok(accepted(a.resource.version, &a))
}

/// DEV -> SIT -> PROD, one step at a time; the tenant's policy admits it.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/sites/{siteId}/promote", tag = "sites",
    params(("tenantId" = String, Path), ("siteId" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = PromoteSite,
    responses((status = 202, body = Site), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn promote_site(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id)): Path<(String, String)>,
    IfMatch(if_match): IfMatch,
    Body(input): Body<PromoteSite>,
) -> ApiResult<Response> {
    let a = s
        .services
        .sites()
        .promote(&caller, &tenant_id, &site_id, if_match, input)
        .await?;
    Ok(accepted(a.resource.version, &a))
}
