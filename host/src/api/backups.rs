//! `/v1/tenants/{tenantId}/sites/{siteId}/backups`: take, list, restore.

use axum::extract::State;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, PageQuery, Params, Path};
use super::{AppState, PageBody, accepted};
use crate::domain::site::Site;
use crate::service::sites::backups::Backup;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_backup, list_backups))
        .routes(routes!(restore_backup))
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
        .backups()
        .create(&caller, &tenant_id, &site_id)
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
            .backups()
            .list(&caller, &tenant_id, &site_id, &page)
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
        .backups()
        .restore(&caller, &tenant_id, &site_id, &backup_id)
        .await?;
    Ok(accepted(a.resource.version, &a))
}
