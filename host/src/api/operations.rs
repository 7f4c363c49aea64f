//! `/v1/operations/{operationId}`: asynchronous work, of any resource.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Auth, Path};
use crate::domain::operation::Operation;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_operation))
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
    let op = s.services.operations().get(&caller, &id).await?;
    Ok(axum::Json(op.public()))
}
