//! `/v1/tenants/{tenantId}/extensions`: upload, list, activate, roll back,
//! reset, dry-run; the versions of a kind (paged, deletable) and the
//! history of activations (paged).

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem};
use super::extract::{Auth, Body, PageQuery, Params, Path, RawBody};
use super::{AppState, PageBody};
use crate::domain::tenant::ExtensionSlot;
use crate::runtime::MAX_COMPONENT_BYTES;
use crate::service::PageRequest;
use crate::service::extensions::{
    Activate, Activation, DryRun, DryRunResult, ExtensionVersion, ExtensionsView,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload, reset))
        .layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES + 1))
        .routes(routes!(list))
        .routes(routes!(activate))
        .routes(routes!(rollback))
        .routes(routes!(dry_run))
        .routes(routes!(list_activations))
        .routes(routes!(list_versions))
        .routes(routes!(delete_version))
}

/// `?kind=&limit=&cursor=` of the activation history.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivationsQuery {
    /// Only this kind's (`policy`, `template`, `event-filter`).
    pub kind: Option<String>,
    /// 1..100, default 20.
    pub limit: Option<usize>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Every change of an active version (activate, rollback, reset), newest
/// first: who made it, when, from which version to which. The tenant
/// record keeps only the last 20 versions a rollback returns to; this is
/// the whole history.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/extensions/activations", tag = "extensions",
    params(("tenantId" = String, Path), ActivationsQuery),
    responses((status = 200, body = PageBody<Activation>), (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn list_activations(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Params(q): Params<ActivationsQuery>,
) -> ApiResult<Json<PageBody<Activation>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        s.services
            .extensions()
            .activations(&caller, &id, q.kind.as_deref(), &page)
            .await?
            .into(),
    ))
}

/// The uploaded versions of a kind, a page at a time, in version (sha256)
/// order. A tenant keeps at most 10 per kind on the free tier, 50 on
/// standard, 200 on premium and enterprise.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/extensions/{kind}/versions", tag = "extensions",
    params(("tenantId" = String, Path), ("kind" = String, Path), PageQuery),
    responses((status = 200, body = PageBody<ExtensionVersion>), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn list_versions(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((id, kind)): Path<(String, String)>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<PageBody<ExtensionVersion>>> {
    let page = q.request()?;
    Ok(Json(
        s.services
            .extensions()
            .list_versions(&caller, &id, &kind, &page)
            .await?
            .into(),
    ))
}

/// Delete an uploaded version, making room under the cap. The active
/// version is refused (409 `extension_version_active`); a version a
/// rollback would return to leaves the rollback history.
#[utoipa::path(delete, path = "/v1/tenants/{tenantId}/extensions/{kind}/versions/{version}", tag = "extensions",
    params(("tenantId" = String, Path), ("kind" = String, Path), ("version" = String, Path, description = "the version's sha256")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_version(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((id, kind, version)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    s.services
        .extensions()
        .delete_version(&caller, &id, &kind, &version)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?activate=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// Activate the new version at once.
    #[serde(default)]
    pub activate: bool,
}

/// A WebAssembly component, as its bytes (the body of an upload).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
struct WasmComponent(Vec<u8>);

/// Upload a component (`application/wasm`; at most 8 MiB on the free tier,
/// 32 MiB on standard, 64 MiB on premium and enterprise). It is validated:
/// a component, of the kind's world, importing only what that world allows
/// (its `bbws:platform` interfaces, and WASI 0.2's io, clocks, random, cli,
/// filesystem and sockets, which grant nothing).
/// A version already uploaded is answered as stored. A tenant keeps at
/// most 10 versions per kind on the free tier, 50 on standard, 200 on
/// premium and enterprise: past that, 409 `component_versions_full`.
#[utoipa::path(put, path = "/v1/tenants/{tenantId}/extensions/{kind}", tag = "extensions",
    params(("tenantId" = String, Path), ("kind" = String, Path, description = "policy, template or event-filter"), UploadParams),
    request_body(content = WasmComponent, content_type = "application/wasm"),
    responses((status = 201, body = ExtensionVersion), (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn upload(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((id, kind)): Path<(String, String)>,
    Params(q): Params<UploadParams>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<ExtensionVersion>), Problem> {
    let wasm = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim() == "application/wasm");
    if !wasm {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the component as Content-Type: application/wasm",
        ));
    }
    let v = s
        .services
        .extensions()
        .upload(&caller, &id, &kind, &body, q.activate)
        .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Versions per kind, and which is active.
#[utoipa::path(get, path = "/v1/tenants/{tenantId}/extensions", tag = "extensions",
    params(("tenantId" = String, Path)),
    responses((status = 200, body = ExtensionsView), (status = 404, body = Problem)))]
async fn list(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ExtensionsView>> {
    Ok(Json(s.services.extensions().list(&caller, &id).await?))
}

/// Make an uploaded version active; it decides from the next request on.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/extensions/{kind}/activate", tag = "extensions",
    params(("tenantId" = String, Path), ("kind" = String, Path)),
    request_body = Activate,
    responses((status = 200, body = Option<ExtensionSlot>), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn activate(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((id, kind)): Path<(String, String)>,
    Body(input): Body<Activate>,
) -> ApiResult<Json<Option<ExtensionSlot>>> {
    Ok(Json(
        s.services
            .extensions()
            .activate(&caller, &id, &kind, &input.version)
            .await?,
    ))
}

/// Back to the version that was active before.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/extensions/{kind}/rollback", tag = "extensions",
    params(("tenantId" = String, Path), ("kind" = String, Path)),
    responses((status = 200, body = Option<ExtensionSlot>), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn rollback(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((id, kind)): Path<(String, String)>,
) -> ApiResult<Json<Option<ExtensionSlot>>> {
    Ok(Json(
        s.services
            .extensions()
            .rollback(&caller, &id, &kind)
            .await?,
    ))
}

/// Back to the platform default for this kind.
#[utoipa::path(delete, path = "/v1/tenants/{tenantId}/extensions/{kind}", tag = "extensions",
    params(("tenantId" = String, Path), ("kind" = String, Path)),
    responses((status = 200, body = Option<ExtensionSlot>), (status = 404, body = Problem)))]
async fn reset(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((id, kind)): Path<(String, String)>,
) -> ApiResult<Json<Option<ExtensionSlot>>> {
    Ok(Json(
        s.services.extensions().reset(&caller, &id, &kind).await?,
    ))
}

/// Run a version on a sample input: the result, its reason and the time it took.
#[utoipa::path(post, path = "/v1/tenants/{tenantId}/extensions/{kind}/dry-run", tag = "extensions",
    params(("tenantId" = String, Path), ("kind" = String, Path)),
    request_body = DryRun,
    responses((status = 200, body = DryRunResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn dry_run(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path((id, kind)): Path<(String, String)>,
    Body(input): Body<DryRun>,
) -> ApiResult<Json<DryRunResult>> {
    Ok(Json(
        s.services
            .extensions()
            .dry_run(&caller, &id, &kind, input)
            .await?,
    ))
}
