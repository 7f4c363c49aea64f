//! `/v1/tenants/{tenantId}/decisions`: the decision log, and replay.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, PageQuery, Params, Path};
use super::{AppState, PageBody};
use crate::service::decisions::{DecisionRecord, Replay};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(decisions))
        .routes(routes!(replay))
}

/// The decision log, newest last. Records are written in batches off the
/// request path: a decision shows up within about 20 ms.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/decisions", tag = "extensions",
    params(("tenantId" = String, Path), PageQuery),
    responses((status = 200, body = PageBody<DecisionRecord>), (status = 404, body = Problem)))]
async fn decisions(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<PageBody<DecisionRecord>>> {
    Ok(Json(
        s.services
            .decisions()
            .list(&caller, &id, &q.request()?)
            .await?
            .into(),
    ))
}

/// Re-run a recorded decision on its recorded components and input.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/decisions/{decisionId}/replay", tag = "extensions",
    params(("tenantId" = String, Path), ("decisionId" = String, Path)),
    responses((status = 200, body = Replay), (status = 404, body = Problem)))]
async fn replay(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((id, decision)): Path<(String, String)>,
) -> ApiResult<Json<Replay>> {
    Ok(Json(
        s.services
            .decisions()
            .replay_decision(&caller, &id, &decision)
            .await?,
    ))
}
