//! `/v1/tenants/{tenantId}/users`: a tenant's members and their roles.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, Body, PageQuery, Params, Path};
use super::{AppState, PageBody, tagged};
use crate::domain::Membership;
use crate::service::tenants::members::{AssignRole, BulkMemberResults, BulkMembers};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members))
        .routes(routes!(assign_member, remove_member))
        .routes(routes!(bulk_members))
}

/// Members with their roles.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/users", tag = "members",
    params(("tenantId" = String, Path), PageQuery),
    responses((status = 200, body = PageBody<Membership>), (status = 404, body = Problem)))]
async fn list_members(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<PageBody<Membership>>> {
    let page = q.request()?;
    Ok(Json(
        s.services.members().list(&caller, &id, &page).await?.into(),
    ))
}

/// Assign a role, or change it. Demoting the last owner is 409 `last_owner`.
#[utoipa::path(put, path = "/v1/tenants/{tenantId}/users/{userId}", tag = "members",
    params(("tenantId" = String, Path), ("userId" = String, Path)),
    request_body = AssignRole,
    responses((status = 200, body = Membership), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn assign_member(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((id, user_id)): Path<(String, String)>,
    Body(input): Body<AssignRole>,
) -> ApiResult<Response> {
    let m = s
        .services
        .members()
        .assign(&caller, &id, &user_id, input.role)
        .await?;
    Ok(tagged(StatusCode::OK, m.version, &m))
}

/// Remove a member; the last owner cannot be removed (409 `last_owner`).
#[utoipa::path(delete, path = "/v1/tenants/{tenantId}/users/{userId}", tag = "members",
    params(("tenantId" = String, Path), ("userId" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn remove_member(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.services.members().remove(&caller, &id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Assign and remove several members at once: all or nothing.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/users/bulk", tag = "members",
    params(("tenantId" = String, Path)),
    request_body = BulkMembers,
    responses((status = 200, body = BulkMemberResults), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn bulk_members(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Body(input): Body<BulkMembers>,
) -> ApiResult<Json<BulkMemberResults>> {
    Ok(Json(s.services.members().bulk(&caller, &id, input).await?))
}
