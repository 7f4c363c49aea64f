//! `/v1/tenants/{tenantId}/sites/{siteId}/backups`: take, list, restore,
//! delete.

use axum::extract::State;
use axum::http::StatusCode;
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
        .routes(routes!(delete_backup))
}

/// Back the site up (asynchronous). A site keeps its newest 10 backups: the
/// one that completes past that removes the oldest.
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

/// Delete one of the site's backups (not while it is being taken, nor while
/// the site runs an operation: 409).
#[utoipa::path(delete, path = "/v1/tenants/{tenantId}/sites/{siteId}/backups/{backupId}", tag = "sites",
    params(("tenantId" = String, Path), ("siteId" = String, Path), ("backupId" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_backup(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id, backup_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    s.services
        .backups()
        .delete(&caller, &tenant_id, &site_id, &backup_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
