//! Operational endpoints, no token needed: health, readiness, metrics and
//! the OpenAPI document.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::Problem;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()), responses((status = 200, body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// The process can serve: its store answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, body = String), (status = 503, body = Problem)))]
async fn readyz(State(s): State<AppState>) -> Result<&'static str, Problem> {
    s.services.ready().await?;
    Ok("ready")
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()), responses((status = 200, body = String)))]
async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let mut text = s.metrics.render();
    runtime_metrics(&mut text, &s.services.policies().runtime);
    text.push_str(&super::metrics::render_schemas(
        s.services.template_schema_counts(),
    ));
    text.push_str(&super::metrics::render_commit_groups(
        &s.services.commit_groups(),
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The WebAssembly runtime's figures: the compiled cache and the guest pool.
fn runtime_metrics(out: &mut String, runtime: &crate::runtime::Runtime) {
    use std::fmt::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    let cache = runtime.cache_figures();
    let pool = runtime.pool();
    let gauges = [
        (
            "bbws_guest_cache_bytes",
            "Bytes of compiled guest code kept in memory.",
            cache.bytes as u64,
        ),
        (
            "bbws_guest_cache_limit_bytes",
            "The compiled cache's limit in bytes.",
            cache.limit_bytes as u64,
        ),
        (
            "bbws_guest_cache_entries",
            "Compiled components kept in memory.",
            cache.entries as u64,
        ),
        (
            "bbws_guest_pool_slots",
            "Blocking slots tenant guests run in at once.",
            pool.size() as u64,
        ),
        (
            "bbws_guest_pool_tenant_share",
            "Slots one tenant may hold at once.",
            pool.share() as u64,
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP bbws_guest_pool_refused_total Tenant guest calls refused: no slot within the request's budget.\n# TYPE bbws_guest_pool_refused_total counter\nbbws_guest_pool_refused_total {}",
        pool.refused.load(Relaxed)
    );
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(()), responses((status = 200, body = Object)))]
async fn openapi(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        s.openapi.as_str().to_owned(),
    )
}
