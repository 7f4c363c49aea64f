//! `/v1/tenants/{tenantId}/sites`, their plugins, backups and templates;
//! `/v1/templates`; `/v1/operations/{operationId}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, Body, IfMatch, PageQuery, Params};
use super::{AppState, PageBody, tagged};
use crate::domain::site::{Environment, Operation, Site, SiteStatus};
use crate::service::PageRequest;
use crate::service::plugins::{BulkPlugins, BulkResult, InstallPlugin, Plugin, UpdatePlugin};
use crate::service::sites::{Backup, CloneSite, CreateSite, PromoteSite, SiteFilter, UpdateSite};
use crate::service::templates::{
    CatalogueEntry, CreateTemplate, Plan, TemplateParameters, TenantTemplate, Validation,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_site, list_sites))
        .routes(routes!(get_site, update_site, delete_site))
        .routes(routes!(clone_site))
        .routes(routes!(promote_site))
        .routes(routes!(create_backup, list_backups))
        .routes(routes!(restore_backup))
        .routes(routes!(install_plugin, list_plugins))
        .routes(routes!(update_plugin, uninstall_plugin))
        .routes(routes!(bulk_plugins))
        .routes(routes!(list_templates))
        .routes(routes!(create_template))
        .routes(routes!(validate_template))
        .routes(routes!(preview_template))
        .routes(routes!(apply_template))
        .routes(routes!(get_operation))
        .routes(routes!(dead_letters))
}

/// A 202 with the resource (its transitional status) and the operation.
fn accepted<T: serde::Serialize>(version: u64, body: &T) -> Response {
    tagged(StatusCode::ACCEPTED, version, body)
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

/// `?tenantId=` of the catalogue.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CatalogueQuery {
    /// Include this tenant's own templates (and use its template component).
    pub tenant_id: Option<String>,
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
    let a = s.services.create_site(&caller, &tenant_id, input).await?;
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
            .list_sites(&caller, &tenant_id, &filter, &page)
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
    let site = s.services.get_site(&caller, &tenant_id, &site_id).await?;
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
        .update_site(&caller, &tenant_id, &site_id, if_match, input)
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
        .delete_site(&caller, &tenant_id, &site_id, if_match)
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
        .promote_site(&caller, &tenant_id, &site_id, if_match, input)
        .await?;
    Ok(accepted(a.resource.version, &a))
}

/// Back the site up (asynchronous).
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/sites/{siteId}/backups", tag = "sites",
    params(("tenantId" = String, Path), ("siteId" = String, Path)),
    responses((status = 202, body = Backup), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn create_backup(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let a = s
        .services
        .create_backup(&caller, &tenant_id, &site_id)
        .await?;
    Ok(accepted(a.resource.version, &a))
}

/// The site's backups, oldest first.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/sites/{siteId}/backups", tag = "sites",
    params(("tenantId" = String, Path), ("siteId" = String, Path), PageQuery),
    responses((status = 200, body = PageBody<Backup>), (status = 404, body = Problem)))]
async fn list_backups(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id)): Path<(String, String)>,
    Params(q): Params<PageQuery>,
) -> ApiResult<axum::Json<PageBody<Backup>>> {
    let page = q.request()?;
    Ok(axum::Json(
        s.services
            .list_backups(&caller, &tenant_id, &site_id, &page)
            .await?
            .into(),
    ))
}

/// Restore the site from one of its backups (asynchronous).
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/sites/{siteId}/backups/{backupId}/restore", tag = "sites",
    params(("tenantId" = String, Path), ("siteId" = String, Path), ("backupId" = String, Path)),
    responses((status = 202, body = Site), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn restore_backup(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id, backup_id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let a = s
        .services
        .restore_backup(&caller, &tenant_id, &site_id, &backup_id)
        .await?;
    Ok(accepted(a.resource.version, &a))
}

/// Installed plugins.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/sites/{siteId}/plugins", tag = "plugins",
    params(("tenantId" = String, Path), ("siteId" = String, Path), PageQuery),
    responses((status = 200, body = PageBody<Plugin>), (status = 404, body = Problem)))]
async fn list_plugins(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id)): Path<(String, String)>,
    Params(q): Params<PageQuery>,
) -> ApiResult<axum::Json<PageBody<Plugin>>> {
    let page = q.request()?;
    Ok(axum::Json(
        s.services
            .list_plugins(&caller, &tenant_id, &site_id, &page)
            .await?
            .into(),
    ))
}

/// Install a plugin: security scan first, then the tenant's policy.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/sites/{siteId}/plugins", tag = "plugins",
    params(("tenantId" = String, Path), ("siteId" = String, Path)), request_body = InstallPlugin,
    responses((status = 201, body = Plugin), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn install_plugin(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id)): Path<(String, String)>,
    Body(input): Body<InstallPlugin>,
) -> ApiResult<Response> {
    let p = s
        .services
        .install_plugin(&caller, &tenant_id, &site_id, input)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(p)).into_response())
}

/// Update a plugin to a version (scanned again).
#[utoipa::path(patch, path = "/v1/tenants/{tenantId}/sites/{siteId}/plugins/{slug}", tag = "plugins",
    params(("tenantId" = String, Path), ("siteId" = String, Path), ("slug" = String, Path)), request_body = UpdatePlugin,
    responses((status = 200, body = Plugin), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_plugin(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id, slug)): Path<(String, String, String)>,
    Body(input): Body<UpdatePlugin>,
) -> ApiResult<axum::Json<Plugin>> {
    Ok(axum::Json(
        s.services
            .update_plugin(&caller, &tenant_id, &site_id, &slug, input)
            .await?,
    ))
}

/// Uninstall a plugin.
#[utoipa::path(delete, path = "/v1/tenants/{tenantId}/sites/{siteId}/plugins/{slug}", tag = "plugins",
    params(("tenantId" = String, Path), ("siteId" = String, Path), ("slug" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn uninstall_plugin(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id, slug)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    s.services
        .uninstall_plugin(&caller, &tenant_id, &site_id, &slug)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Install, update and uninstall in one request; each item reported.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/sites/{siteId}/plugins/bulk", tag = "plugins",
    params(("tenantId" = String, Path), ("siteId" = String, Path)), request_body = BulkPlugins,
    responses((status = 200, body = BulkResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn bulk_plugins(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id)): Path<(String, String)>,
    Body(input): Body<BulkPlugins>,
) -> ApiResult<axum::Json<BulkResult>> {
    Ok(axum::Json(
        s.services
            .bulk_plugins(&caller, &tenant_id, &site_id, input)
            .await?,
    ))
}

/// The catalogue: the platform's templates, and with `tenantId` the tenant's.
#[utoipa::path(get, path = "/v1/templates", tag = "templates", params(CatalogueQuery),
    responses((status = 200, body = PageBody<CatalogueEntry>), (status = 404, body = Problem)))]
async fn list_templates(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Params(q): Params<CatalogueQuery>,
) -> ApiResult<axum::Json<PageBody<CatalogueEntry>>> {
    let items = s
        .services
        .list_templates(&caller, q.tenant_id.as_deref())
        .await?;
    Ok(axum::Json(PageBody {
        items,
        next_cursor: None,
    }))
}

/// Add a tenant template (its template component must accept the body).
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/templates", tag = "templates",
    params(("tenantId" = String, Path)), request_body = CreateTemplate,
    responses((status = 201, body = TenantTemplate), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn create_template(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(tenant_id): Path<String>,
    Body(input): Body<CreateTemplate>,
) -> ApiResult<Response> {
    let t = s
        .services
        .create_template(&caller, &tenant_id, input)
        .await?;
    Ok(tagged(StatusCode::CREATED, t.version, &t))
}

/// Check parameters through the template component.
#[utoipa::path(post, path = "/v1/templates/{templateId}/validate", tag = "templates",
    params(("templateId" = String, Path)), request_body = TemplateParameters,
    responses((status = 200, body = Validation), (status = 404, body = Problem)))]
async fn validate_template(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(template_id): Path<String>,
    Body(input): Body<TemplateParameters>,
) -> ApiResult<axum::Json<Validation>> {
    Ok(axum::Json(
        s.services
            .validate_template(&caller, &template_id, input)
            .await?,
    ))
}

/// The plan of WordPress operations, nothing executed.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/sites/{siteId}/templates/{templateId}/preview", tag = "templates",
    params(("tenantId" = String, Path), ("siteId" = String, Path), ("templateId" = String, Path)),
    request_body = TemplateParameters,
    responses((status = 200, body = Plan), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn preview_template(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id, template_id)): Path<(String, String, String)>,
    Body(input): Body<TemplateParameters>,
) -> ApiResult<axum::Json<Plan>> {
    Ok(axum::Json(
        s.services
            .preview_template(&caller, &tenant_id, &site_id, &template_id, input)
            .await?,
    ))
}

/// Execute the plan against the site's WordPress (asynchronous).
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/sites/{siteId}/templates/{templateId}/apply", tag = "templates",
    params(("tenantId" = String, Path), ("siteId" = String, Path), ("templateId" = String, Path)),
    request_body = TemplateParameters,
    responses((status = 202, body = Site), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn apply_template(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id, template_id)): Path<(String, String, String)>,
    Body(input): Body<TemplateParameters>,
) -> ApiResult<Response> {
    let a = s
        .services
        .apply_template(&caller, &tenant_id, &site_id, &template_id, input)
        .await?;
    Ok(accepted(a.resource.version, &a))
}

/// Progress and outcome of asynchronous work.
#[utoipa::path(get, path = "/v1/operations/{operationId}", tag = "operations",
    params(("operationId" = String, Path)),
    responses((status = 200, body = Operation), (status = 404, body = Problem)))]
async fn get_operation(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let op = s.services.get_operation(&caller, &id).await?;
    Ok(axum::Json(op.public()))
}

/// Jobs that failed every attempt (platform admin).
#[utoipa::path(get, path = "/v1/jobs/dead-letters", tag = "operations", params(PageQuery),
    responses((status = 200, body = PageBody<crate::jobs::DeadLetter>), (status = 403, body = Problem)))]
async fn dead_letters(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Params(q): Params<PageQuery>,
) -> ApiResult<axum::Json<PageBody<crate::jobs::DeadLetter>>> {
    let page = q.request()?;
    let items = s.services.dead_letters(&caller, page.limit).await?;
    Ok(axum::Json(PageBody {
        items,
        next_cursor: None,
    }))
}
