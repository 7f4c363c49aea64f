//! Invitations: `/v1/tenants/{tenantId}/invitations` for the inviter,
//! `/v1/invitations/accept|decline` for the invitee (who has no token yet:
//! the invitation token is the credential).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, Body, Params, Path};
use super::idempotency::SecretAnswer;
use super::{AppState, PageBody, tagged};
use crate::domain::{Invitation, InvitationStatus};
use crate::service::PageRequest;
use crate::service::tenants::invitations::{Accepted, CreateInvitation, InvitationToken};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_invitation, list_invitations))
        .routes(routes!(resend_invitation))
        .routes(routes!(cancel_invitation))
        .routes(routes!(accept_invitation))
        .routes(routes!(decline_invitation))
}

/// Filters of the invitation list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListInvitations {
    pub status: Option<InvitationStatus>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// Invite an address; the e-mail with the token goes to the outbox.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/invitations", tag = "invitations",
    params(("tenantId" = String, Path)),
    request_body = CreateInvitation,
    responses((status = 201, body = Invitation), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_invitation(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Body(input): Body<CreateInvitation>,
) -> ApiResult<Response> {
    let inv = s.services.invitations().create(&caller, &id, input).await?;
    Ok(tagged(StatusCode::CREATED, inv.version, &inv))
}

/// Invitations of a tenant, optionally by status.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/invitations", tag = "invitations",
    params(("tenantId" = String, Path), ListInvitations),
    responses((status = 200, body = PageBody<Invitation>), (status = 404, body = Problem)))]
async fn list_invitations(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Params(q): Params<ListInvitations>,
) -> ApiResult<Json<PageBody<Invitation>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        s.services
            .invitations()
            .list(&caller, &id, q.status, &page)
            .await?
            .into(),
    ))
}

/// A new token and expiry; the old token stops working.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/invitations/{invitationId}/resend", tag = "invitations",
    params(("tenantId" = String, Path), ("invitationId" = String, Path)),
    responses((status = 200, body = Invitation), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn resend_invitation(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((id, inv)): Path<(String, String)>,
) -> ApiResult<Response> {
    let inv = s.services.invitations().resend(&caller, &id, &inv).await?;
    Ok(tagged(StatusCode::OK, inv.version, &inv))
}

/// Withdraw an invitation.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/invitations/{invitationId}/cancel", tag = "invitations",
    params(("tenantId" = String, Path), ("invitationId" = String, Path)),
    responses((status = 200, body = Invitation), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn cancel_invitation(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((id, inv)): Path<(String, String)>,
) -> ApiResult<Response> {
    let inv = s.services.invitations().cancel(&caller, &id, &inv).await?;
    Ok(tagged(StatusCode::OK, inv.version, &inv))
}

/// Accept: creates the user if needed, assigns the role, answers a token.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "invitations", security(()),
    request_body = InvitationToken,
    responses((status = 200, body = Accepted), (status = 404, body = Problem), (status = 409, body = Problem), (status = 410, body = Problem)))]
async fn accept_invitation(
    State(s): State<AppState>,
    Body(input): Body<InvitationToken>,
) -> ApiResult<(Extension<SecretAnswer>, Json<Accepted>)> {
    Ok((
        Extension(SecretAnswer),
        Json(s.services.invitations().accept(input).await?),
    ))
}

/// Decline an invitation.
#[utoipa::path(post, path = "/v1/invitations/decline", tag = "invitations", security(()),
    request_body = InvitationToken,
    responses((status = 200, body = Invitation), (status = 404, body = Problem), (status = 409, body = Problem), (status = 410, body = Problem)))]
async fn decline_invitation(
    State(s): State<AppState>,
    Body(input): Body<InvitationToken>,
) -> ApiResult<Json<Invitation>> {
    Ok(Json(s.services.invitations().decline(input).await?))
}
