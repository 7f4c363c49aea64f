//! The OpenAPI document's errors, told once for every operation.
//!
//! A handler documents the errors it decides (404, 409, 422, ...). What the
//! extractors and layers answer on every route is added here, from what
//! each operation takes, so the document cannot forget it:
//!
//! - every operation: 503 (`overloaded`, `request_timeout`, `not_ready`);
//! - behind a token or secret: 401, and 403 (a policy may deny anything);
//! - with path or query parameters, or a body: 400 (`invalid_path`,
//!   `invalid_query`, `malformed_json`);
//! - with path parameters: 404;
//! - with an `If-Match` header: 412 (`version_conflict`);
//! - a write (POST, PUT, PATCH, DELETE) under a tenant: 409 (the tenant or
//!   the resource is not in a state that allows it, `tenant_not_active` for
//!   one);
//! - with query parameters or a body: 422 (`validation_failed`, naming the
//!   field that decodes but does not fit);
//! - with a body: 413 (`body_too_large`) and 415 (`unsupported_media_type`).
//!
//! Every error is `application/problem+json` with the `Problem` schema,
//! which is what [`super::error::Problem`] answers.
//!
//! Components are merged router by router; two different schemas under one
//! name would have one silently replace the other, so [`merge_checked`]
//! refuses that.

use serde_json::{Value, json};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// The media type of every error.
pub const PROBLEM: &str = "application/problem+json";

/// What each added status says.
const ADDED: &[(&str, &str)] = &[
    (
        "400",
        "The request does not decode: a path parameter, the query or the body (`invalid_path`, `invalid_query`, `malformed_json`).",
    ),
    ("401", "No valid token or secret (`unauthorized`)."),
    (
        "403",
        "Refused by the caller's roles or a policy (`forbidden`, `policy_denied`).",
    ),
    (
        "404",
        "Not found, or not visible to the caller (another tenant's resource is 404, never 403).",
    ),
    (
        "409",
        "The tenant or the resource is not in a state that allows this now (`tenant_not_active`, for one).",
    ),
    (
        "412",
        "`If-Match` names a version the resource is no longer at (`version_conflict`).",
    ),
    (
        "413",
        "The body is over the route's limit (`body_too_large`).",
    ),
    (
        "415",
        "The body is not of the documented media type (`unsupported_media_type`).",
    ),
    (
        "422",
        "A field that decodes but does not fit (`validation_failed`, with `errors[]` naming each field).",
    ),
    (
        "503",
        "The server sheds load or is not ready (`overloaded`, `request_timeout`, `not_ready`); retry after `Retry-After`.",
    ),
];

/// The document as served: the errors every route can answer added, and
/// every error response problem+json.
pub fn complete(doc: OpenApi) -> String {
    let mut value = serde_json::to_value(&doc).expect("the OpenAPI document serialises");
    complete_value(&mut value);
    value.to_string()
}

fn complete_value(doc: &mut Value) {
    let problem = json!({"schema": {"$ref": "#/components/schemas/Problem"}});
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let under_tenant = path.starts_with("/v1/tenants/{tenantId}");
        for (method, op) in item.iter_mut() {
            let write = under_tenant && method != "get";
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let params = op.get("parameters").and_then(Value::as_array);
            let in_path = params.is_some_and(|p| p.iter().any(|p| p["in"] == "path"));
            let has_params = params.is_some_and(|p| !p.is_empty());
            let in_query = params.is_some_and(|p| p.iter().any(|p| p["in"] == "query"));
            let if_match = params.is_some_and(|p| {
                p.iter()
                    .any(|p| p["in"] == "header" && p["name"] == "If-Match")
            });
            let has_body = op.contains_key("requestBody");
            // `security: [{}]` is "no credential needed".
            let open = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| {
                    s.iter()
                        .all(|r| r.as_object().is_some_and(|r| r.is_empty()))
                });
            let wanted = |status: &str| match status {
                "400" => has_params || has_body,
                "401" | "403" => !open,
                "404" => in_path,
                "409" => write,
                "412" => if_match,
                "413" | "415" => has_body,
                "422" => in_query || has_body,
                _ => true,
            };
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("responses is an object");
            for (status, description) in ADDED {
                if wanted(status) && !responses.contains_key(*status) {
                    responses.insert(status.to_string(), json!({"description": description}));
                }
            }
            for (status, response) in responses.iter_mut() {
                if status.starts_with('4') || status.starts_with('5') {
                    response["content"] = json!({ PROBLEM: problem.clone() });
                }
            }
        }
    }
}

/// `into` with `other`'s routes, refusing a component schema that `other`
/// names as `into` does but defines differently.
pub fn merge_checked<S: Clone + Send + Sync + 'static>(
    into: OpenApiRouter<S>,
    other: OpenApiRouter<S>,
) -> OpenApiRouter<S> {
    if let Some(name) = clashing_schema(into.get_openapi(), other.get_openapi()) {
        panic!(
            "two different schemas are named {name} in the OpenAPI document: rename one (the document keeps only one of them)"
        );
    }
    into.merge(other)
}

/// The first schema name `a` and `b` both define, differently.
fn clashing_schema(a: &OpenApi, b: &OpenApi) -> Option<String> {
    let (a, b) = (a.components.as_ref()?, b.components.as_ref()?);
    b.schemas
        .iter()
        .find(|(name, schema)| {
            a.schemas.get(*name).is_some_and(|mine| {
                serde_json::to_value(mine).ok() != serde_json::to_value(schema).ok()
            })
        })
        .map(|(name, _)| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::ToSchema;

    #[allow(dead_code)]
    mod members {
        #[derive(utoipa::ToSchema)]
        pub struct BulkResult {
            pub user_id: String,
        }
    }
    #[allow(dead_code)]
    mod plugins {
        #[derive(utoipa::ToSchema)]
        pub struct BulkResult {
            pub slug: String,
            pub status: u16,
        }
    }

    fn with_schema<T: ToSchema>() -> OpenApi {
        let mut doc = OpenApi::default();
        doc.components
            .get_or_insert_with(Default::default)
            .schemas
            .insert(T::name().into_owned(), T::schema());
        doc
    }

    #[test]
    fn two_types_of_one_name_clash() {
        let (a, b) = (
            with_schema::<members::BulkResult>(),
            with_schema::<plugins::BulkResult>(),
        );
        assert_eq!(clashing_schema(&a, &b).as_deref(), Some("BulkResult"));
        assert_eq!(clashing_schema(&a, &a.clone()), None);
    }

    #[test]
    #[should_panic(expected = "two different schemas are named BulkResult")]
    fn merging_routers_that_clash_is_refused() {
        let a = OpenApiRouter::<()>::with_openapi(with_schema::<members::BulkResult>());
        let b = OpenApiRouter::<()>::with_openapi(with_schema::<plugins::BulkResult>());
        merge_checked(a, b);
    }

    #[test]
    fn errors_are_problems_and_the_common_ones_are_added() {
        let mut doc = json!({"paths": {
            "/v1/tenants/{tenantId}": {"put": {
                "parameters": [{"name": "id", "in": "path"}, {"name": "If-Match", "in": "header"}],
                "requestBody": {"content": {"application/json": {}}},
                "responses": {"200": {"description": "ok"},
                    "409": {"description": "taken", "content": {"application/json": {"schema": {}}}}}
            }},
            "/healthz": {"get": {"security": [{}], "responses": {"200": {"description": "ok"}}}}
        }});
        complete_value(&mut doc);
        let put = &doc["paths"]["/v1/tenants/{tenantId}"]["put"]["responses"];
        for status in [
            "400", "401", "403", "404", "409", "412", "413", "415", "422", "503",
        ] {
            assert_eq!(
                put[status]["content"][PROBLEM]["schema"]["$ref"], "#/components/schemas/Problem",
                "{status}: {put}"
            );
            assert!(put[status]["content"].get("application/json").is_none());
        }
        assert_eq!(put["409"]["description"], "taken", "a handler's own stays");
        let health = doc["paths"]["/healthz"]["get"]["responses"]
            .as_object()
            .unwrap();
        assert_eq!(
            health.keys().collect::<Vec<_>>(),
            ["200", "503"],
            "an open route without parameters gets only 503"
        );
    }
}
