//! `/v1/templates` (the catalogue), tenant templates, and templates on
//! sites: validate, preview, apply.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, Body, Params, Path};
use super::{AppState, PageBody, accepted, tagged};
use crate::domain::site::Site;
use crate::service::PageRequest;
use crate::service::sites::templates::{
    CatalogueEntry, CreateTemplate, Plan, TemplateParameters, TenantTemplate, Validation,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates))
        .routes(routes!(create_template))
        .routes(routes!(delete_template))
        .routes(routes!(validate_template))
        .routes(routes!(preview_template))
        .routes(routes!(apply_template))
}

/// `?tenantId=&limit=&cursor=` of the catalogue.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CatalogueQuery {
    /// Include this tenant's own templates (and use its template component).
    pub tenant_id: Option<String>,
    /// 1..100, default 20.
    pub limit: Option<usize>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// The catalogue, a page at a time: the platform's templates, then with
/// `tenantId` the tenant's (by id). Parameter schemas are cached by
/// template component and template.
#[utoipa::path(get, path = "/v1/templates", tag = "templates", params(CatalogueQuery),
    responses((status = 200, body = PageBody<CatalogueEntry>), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn list_templates(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Params(q): Params<CatalogueQuery>,
) -> ApiResult<axum::Json<PageBody<CatalogueEntry>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(axum::Json(
        s.services
            .templates()
            .list(&caller, q.tenant_id.as_deref(), &page)
            .await?
            .into(),
    ))
}

/// Add a tenant template (its template component must accept the body). A
/// tenant keeps at most 100: past that, 409 `templates_full`.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/templates", tag = "templates",
    params(("tenantId" = String, Path)), request_body = CreateTemplate,
    responses((status = 201, body = TenantTemplate), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_template(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(tenant_id): Path<String>,
    Body(input): Body<CreateTemplate>,
) -> ApiResult<Response> {
    let t = s
        .services
        .templates()
        .create(&caller, &tenant_id, input)
        .await?;
    Ok(tagged(StatusCode::CREATED, t.version, &t))
}

/// Delete one of the tenant's templates.
#[utoipa::path(delete, path = "/v1/tenants/{tenantId}/templates/{templateId}", tag = "templates",
    params(("tenantId" = String, Path), ("templateId" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_template(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, template_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.services
        .templates()
        .delete(&caller, &tenant_id, &template_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Check parameters through the template component.
#[utoipa::path(post, path = "/v1/templates/{templateId}/validate", tag = "templates",
    params(("templateId" = String, Path)), request_body = TemplateParameters,
    responses((status = 200, body = Validation), (status = 404, body = Problem)))]
async fn validate_template(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(template_id): Path<String>,
    Body(input): Body<TemplateParameters>,
) -> ApiResult<axum::Json<Validation>> {
    Ok(axum::Json(
        s.services
            .templates()
            .validate(&caller, &template_id, input)
            .await?,
    ))
}

/// The plan of WordPress operations, nothing executed.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/sites/{siteId}/templates/{templateId}/preview", tag = "templates",
    params(("tenantId" = String, Path), ("siteId" = String, Path), ("templateId" = String, Path)),
    request_body = TemplateParameters,
    responses((status = 200, body = Plan), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn preview_template(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id, template_id)): Path<(String, String, String)>,
    Body(input): Body<TemplateParameters>,
) -> ApiResult<axum::Json<Plan>> {
    Ok(axum::Json(
        s.services
            .templates()
            .preview(&caller, &tenant_id, &site_id, &template_id, input)
            .await?,
    ))
}

/// Execute the plan against the site's WordPress (asynchronous).
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/sites/{siteId}/templates/{templateId}/apply", tag = "templates",
    params(("tenantId" = String, Path), ("siteId" = String, Path), ("templateId" = String, Path)),
    request_body = TemplateParameters,
    responses((status = 202, body = Site), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn apply_template(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((tenant_id, site_id, template_id)): Path<(String, String, String)>,
    Body(input): Body<TemplateParameters>,
) -> ApiResult<Response> {
    let a = s
        .services
        .templates()
        .apply(&caller, &tenant_id, &site_id, &template_id, input)
        .await?;
    Ok(accepted(a.resource.version, &a))
}
