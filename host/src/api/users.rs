//! `/v1/users`, their tokens, and `/v1/me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, Body, PageQuery, Params, Path};
use super::idempotency::SecretAnswer;
use super::{AppState, PageBody, tagged};
use crate::domain::User;
use crate::domain::user::TokenInfo;
use crate::service::identity::{IssuedToken, Me};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(me))
}

/// `POST /v1/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub display_name: String,
}

/// `POST /v1/users/{userId}/tokens`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateToken {
    /// A label to recognise the token by.
    pub name: Option<String>,
}

/// Create a user (platform admin).
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = User), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Body(input): Body<CreateUser>,
) -> ApiResult<Response> {
    let u = s
        .services
        .identity()
        .create_user(&caller, &input.email, &input.display_name)
        .await?;
    Ok(tagged(StatusCode::CREATED, u.version, &u))
}

/// Every user (platform admin).
#[utoipa::path(get, path = "/v1/users", tag = "users", params(PageQuery),
    responses((status = 200, body = PageBody<User>), (status = 403, body = Problem)))]
async fn list_users(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<PageBody<User>>> {
    Ok(Json(
        s.services
            .identity()
            .list_users(&caller, &q.request()?)
            .await?
            .into(),
    ))
}

/// One user (themself or a platform admin).
#[utoipa::path(get, path = "/v1/users/{userId}", tag = "users", params(("userId" = String, Path)),
    responses((status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_user(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let u = s.services.identity().get_user(&caller, &id).await?;
    Ok(tagged(StatusCode::OK, u.version, &u))
}

/// Issue a token; the secret is in this answer only.
#[utoipa::path(post, path = "/v1/users/{userId}/tokens", tag = "users", params(("userId" = String, Path)),
    request_body = CreateToken,
    responses((status = 201, body = IssuedToken), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn create_token(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Body(input): Body<CreateToken>,
) -> ApiResult<(StatusCode, Extension<SecretAnswer>, Json<IssuedToken>)> {
    Ok((
        StatusCode::CREATED,
        Extension(SecretAnswer),
        Json(
            s.services
                .identity()
                .create_token(&caller, &id, input.name)
                .await?,
        ),
    ))
}

/// A user's tokens (metadata only).
#[utoipa::path(get, path = "/v1/users/{userId}/tokens", tag = "users", params(("userId" = String, Path), PageQuery),
    responses((status = 200, body = PageBody<TokenInfo>), (status = 403, body = Problem)))]
async fn list_tokens(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<PageBody<TokenInfo>>> {
    Ok(Json(
        s.services
            .identity()
            .list_tokens(&caller, &id, &q.request()?)
            .await?
            .into(),
    ))
}

/// Revoke a token: it stops working at once.
#[utoipa::path(delete, path = "/v1/users/{userId}/tokens/{tokenId}", tag = "users",
    params(("userId" = String, Path), ("tokenId" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke_token(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((id, token)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.services
        .identity()
        .revoke_token(&caller, &id, &token)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller: user, platform role, memberships.
#[utoipa::path(get, path = "/v1/me", tag = "users", responses((status = 200, body = Me), (status = 401, body = Problem)))]
async fn me(State(s): State<AppState>, Auth(caller): Auth) -> ApiResult<Json<Me>> {
    Ok(Json(s.services.identity().me(&caller).await?))
}
