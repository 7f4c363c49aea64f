//! `/v1/policy/actions`: the documented access rules.

use axum::Json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::Auth;
use crate::policy::RULES;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(actions))
}

/// One access rule.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ActionRule {
    pub action: &'static str,
    pub requires: String,
    pub description: &'static str,
}

/// The documented list of policy actions and what each requires.
#[utoipa::path(get, path = "/v1/policy/actions", tag = "users",
    responses((status = 200, body = Vec<ActionRule>)))]
async fn actions(Auth(_): Auth) -> Json<Vec<ActionRule>> {
    Json(
        RULES
            .iter()
            .map(|r| ActionRule {
                action: r.action,
                requires: format!("{:?}", r.requires),
                description: r.description,
            })
            .collect(),
    )
}
