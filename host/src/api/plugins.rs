//! `/v1/tenants/{tenantId}/sites/{siteId}/plugins`: list, install, update,
//! uninstall, in bulk. A bulk request reports each item as the single
//! request would have answered it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, Body, PageQuery, Params, Path};
use super::{AppState, PageBody};
use crate::service::sites::plugins::{
    BulkOutcome, BulkPlugins, InstallPlugin, Plugin, UpdatePlugin,
};
use serde::Serialize;
use utoipa::ToSchema;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(install_plugin, list_plugins))
        .routes(routes!(update_plugin, uninstall_plugin))
        .routes(routes!(bulk_plugins))
}

/// The outcome of one bulk item.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkPluginResult {
    /// `install`, `update` or `uninstall`.
    pub action: String,
    pub slug: String,
    /// The status the single request would have answered.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Plugin>,
    /// The problem, when it failed (as the single request's problem+json).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkPluginResults {
    pub results: Vec<BulkPluginResult>,
}

impl From<BulkOutcome> for BulkPluginResult {
    fn from(o: BulkOutcome) -> Self {
        use crate::service::sites::plugins::BulkAction;
        // The status each single request answers on success.
        let ok = match o.action {
            BulkAction::Install => StatusCode::CREATED,
            BulkAction::Update => StatusCode::OK,
            BulkAction::Uninstall => StatusCode::NO_CONTENT,
        };
        let action = o.action.as_str().to_string();
        match o.outcome {
            Ok(plugin) => BulkPluginResult {
                action,
                slug: o.slug,
                status: ok.as_u16(),
                plugin,
                error: None,
            },
            Err(e) => {
                let p = Problem::from(e);
                BulkPluginResult {
                    action,
                    slug: o.slug,
                    status: p.status,
                    plugin: None,
                    error: Some(serde_json::to_value(&p).unwrap_or_default()),
                }
            }
        }
    }
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
            .plugins()
            .list(&caller, &tenant_id, &site_id, &page)
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
        .plugins()
        .install(&caller, &tenant_id, &site_id, input)
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
            .plugins()
            .update(&caller, &tenant_id, &site_id, &slug, input)
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
        .plugins()
        .uninstall(&caller, &tenant_id, &site_id, &slug)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Install, update and uninstall in one request; each item reported.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/sites/{siteId}/plugins/bulk", tag = "plugins",
    params(("tenantId" = String, Path), ("siteId" = String, Path)), request_body = BulkPlugins,
    responses((status = 200, body = BulkPluginResults), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn bulk_plugins(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id)): Path<(String, String)>,
    Body(input): Body<BulkPlugins>,
) -> ApiResult<axum::Json<BulkPluginResults>> {
    let outcomes = s
        .services
        .plugins()
        .bulk(&caller, &tenant_id, &site_id, input)
        .await?;
    Ok(axum::Json(BulkPluginResults {
        results: outcomes.into_iter().map(BulkPluginResult::from).collect(),
    }))
}
