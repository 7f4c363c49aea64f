//! The HTTP API: one module per resource, each with a `router()`; [`app`]
//! merges them, adds the layers, and derives the OpenAPI document from the
//! same route list, so the document cannot miss a route.

mod backups;
mod decisions;
pub mod document;
pub mod error;
mod events;
mod extensions;
pub mod extract;
mod health;
mod idempotency;
mod instances;
mod invitations;
mod jobs;
mod members;
pub mod metrics;
mod operations;
mod outbox;
mod plugins;
mod policy;
mod sites;
mod templates;
mod tenants;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::runtime::pool::Budget;
use utoipa_axum::router::OpenApiRouter;

use crate::service::Services;
use error::Problem;

/// What every handler can reach: one `Arc`, since every extractor and
/// middleware that takes the state clones it (three or four times a
/// request; cloning the services themselves was a dozen atomic counts each).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
pub struct Shared {
    pub services: Services,
    pub metrics: metrics::Metrics,
    pub openapi: String,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "bbws",
        description = "Control plane for multi-tenant WordPress hosting. Errors are application/problem+json with a stable `code`.",
        version = "1"
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "eventsSecret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Bbws-Events-Secret"))),
        );
    }
}

/// Every route, with its OpenAPI description.
fn routes() -> OpenApiRouter<AppState> {
    [
        tenants::router(),
        members::router(),
        invitations::router(),
        users::router(),
        outbox::router(),
        policy::router(),
        extensions::router(),
        decisions::router(),
        sites::router(),
        instances::router(),
        events::router(),
        backups::router(),
        plugins::router(),
        templates::router(),
        operations::router(),
        jobs::router(),
        health::router(),
    ]
    .into_iter()
    .fold(
        OpenApiRouter::with_openapi(ApiDoc::openapi()),
        document::merge_checked,
    )
}

/// The OpenAPI 3.1 document, as served at `/openapi.json`.
pub fn openapi() -> String {
    document::complete(routes().into_openapi())
}

/// Every route the app serves, as (method, path template), from the same
/// [`routes`] [`app`] is built from: `OpenApiRouter::routes` gives the axum
/// router each path and method it documents. The contract test holds this
/// list against the router's own (so that a route added beside the
/// `OpenApiRouter` fails it) and against the running server.
pub fn routes_served() -> Vec<(Method, String)> {
    let mut served = Vec::new();
    for (path, item) in routes().into_openapi().paths.paths {
        let operations = [
            (Method::GET, &item.get),
            (Method::PUT, &item.put),
            (Method::POST, &item.post),
            (Method::DELETE, &item.delete),
            (Method::OPTIONS, &item.options),
            (Method::HEAD, &item.head),
            (Method::PATCH, &item.patch),
            (Method::TRACE, &item.trace),
        ];
        for (method, operation) in operations {
            if operation.is_some() {
                served.push((method, path.clone()));
            }
        }
    }
    served
}

/// The whole application for `services`.
pub fn app(services: Services) -> Router {
    let (router, doc) = routes().split_for_parts();
    let state = AppState(Arc::new(Shared {
        services,
        metrics: metrics::Metrics::default(),
        openapi: document::complete(doc),
    }));
    router
        .fallback(|| async {
            Problem::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
        })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guest_budget,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::layer,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Gives each request its guest budget: its tenant guest calls together
/// (waits for a slot included) may take the runtime's `request_budget`.
async fn guest_budget(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let total = state.services.policies().runtime.request_budget();
    Budget::scope(Budget::new(total), next.run(req)).await
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageBody<T> {
    pub items: Vec<T>,
    /// Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> From<crate::service::paging::Page<T>> for PageBody<T> {
    fn from(p: crate::service::paging::Page<T>) -> Self {
        Self {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }
}

/// A 202 with the resource (its transitional status) and the operation.
fn accepted<T: Serialize>(version: u64, body: &T) -> Response {
    tagged(StatusCode::ACCEPTED, version, body)
}

/// A JSON answer carrying the resource's ETag.
pub fn tagged<T: Serialize>(status: StatusCode, version: u64, body: &T) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}
