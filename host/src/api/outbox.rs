//! `/v1/outbox`: the mail the platform would have sent (platform admin).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, Params};
use super::{AppState, PageBody};
use crate::service::PageRequest;
use crate::service::outbox::Message;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(outbox))
}

/// `?to=&limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Only messages to this address.
    pub to: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// Messages the platform would have mailed (platform admin).
#[utoipa::path(get, path = "/v1/outbox", tag = "users", params(OutboxQuery),
    responses((status = 200, body = PageBody<Message>), (status = 403, body = Problem)))]
async fn outbox(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Params(q): Params<OutboxQuery>,
) -> ApiResult<Json<PageBody<Message>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        s.services
            .outbox()
            .list(&caller, q.to.as_deref(), &page)
            .await?
            .into(),
    ))
}
