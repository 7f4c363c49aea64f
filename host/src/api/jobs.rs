//! `/v1/jobs/dead-letters`: jobs that failed every attempt (platform admin).

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, PageQuery, Params};
use super::{AppState, PageBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dead_letters))
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
    let items = s
        .services
        .operations()
        .dead_letters(&caller, page.limit)
        .await?;
    Ok(axum::Json(PageBody {
        items,
        next_cursor: None,
    }))
}
