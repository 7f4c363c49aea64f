//! The published contract: the OpenAPI document, the operational endpoints
//! and the shape of errors for routes that do not exist.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::helpers::spawn_app;

/// What api.md (`../shared/design/api.md`, beside this repository) specifies
/// for the parts built so far: its Identity, Tenants, Sites, Instances and
/// Extensions sections and its operational endpoints, and whether each operation takes
/// a request body. Written from the contract, not from the code, so that a
/// route the code dropped or renamed is missed here.
const SPECIFIED: &[(&str, &str, bool)] = &[
    ("post", "/v1/users", true),
    ("post", "/v1/users/{userId}/tokens", true),
    ("delete", "/v1/users/{userId}/tokens/{tokenId}", false),
    ("get", "/v1/me", false),
    ("post", "/v1/tenants", true),
    ("get", "/v1/tenants", false),
    ("get", "/v1/tenants/{tenantId}", false),
    ("patch", "/v1/tenants/{tenantId}", true),
    ("delete", "/v1/tenants/{tenantId}", false),
    ("post", "/v1/tenants/{tenantId}/park", false),
    ("post", "/v1/tenants/{tenantId}/unpark", false),
    ("post", "/v1/tenants/{tenantId}/suspend", false),
    ("post", "/v1/tenants/{tenantId}/resume", false),
    ("get", "/v1/tenants/{tenantId}/children", false),
    ("post", "/v1/tenants/{tenantId}/move", true),
    ("get", "/v1/tenants/{tenantId}/users", false),
    ("put", "/v1/tenants/{tenantId}/users/{userId}", true),
    ("delete", "/v1/tenants/{tenantId}/users/{userId}", false),
    ("post", "/v1/tenants/{tenantId}/users/bulk", true),
    ("post", "/v1/tenants/{tenantId}/invitations", true),
    ("get", "/v1/tenants/{tenantId}/invitations", false),
    (
        "post",
        "/v1/tenants/{tenantId}/invitations/{invitationId}/resend",
        false,
    ),
    (
        "post",
        "/v1/tenants/{tenantId}/invitations/{invitationId}/cancel",
        false,
    ),
    ("post", "/v1/invitations/accept", true),
    ("post", "/v1/invitations/decline", true),
    ("get", "/v1/outbox", false),
    ("post", "/v1/tenants/{tenantId}/sites", true),
    ("get", "/v1/tenants/{tenantId}/sites", false),
    ("get", "/v1/tenants/{tenantId}/sites/{siteId}", false),
    ("patch", "/v1/tenants/{tenantId}/sites/{siteId}", true),
    ("delete", "/v1/tenants/{tenantId}/sites/{siteId}", false),
    ("post", "/v1/tenants/{tenantId}/sites/{siteId}/clone", true),
    (
        "post",
        "/v1/tenants/{tenantId}/sites/{siteId}/promote",
        true,
    ),
    (
        "post",
        "/v1/tenants/{tenantId}/sites/{siteId}/backups",
        false,
    ),
    (
        "get",
        "/v1/tenants/{tenantId}/sites/{siteId}/backups",
        false,
    ),
    (
        "post",
        "/v1/tenants/{tenantId}/sites/{siteId}/backups/{backupId}/restore",
        false,
    ),
    (
        "get",
        "/v1/tenants/{tenantId}/sites/{siteId}/plugins",
        false,
    ),
    (
        "post",
        "/v1/tenants/{tenantId}/sites/{siteId}/plugins",
        true,
    ),
    (
        "patch",
        "/v1/tenants/{tenantId}/sites/{siteId}/plugins/{slug}",
        true,
    ),
    (
        "delete",
        "/v1/tenants/{tenantId}/sites/{siteId}/plugins/{slug}",
        false,
    ),
    (
        "post",
        "/v1/tenants/{tenantId}/sites/{siteId}/plugins/bulk",
        true,
    ),
    ("get", "/v1/templates", false),
    ("post", "/v1/tenants/{tenantId}/templates", true),
    ("post", "/v1/templates/{templateId}/validate", true),
    (
        "post",
        "/v1/tenants/{tenantId}/sites/{siteId}/templates/{templateId}/preview",
        true,
    ),
    (
        "post",
        "/v1/tenants/{tenantId}/sites/{siteId}/templates/{templateId}/apply",
        true,
    ),
    ("get", "/v1/operations/{operationId}", false),
    ("put", "/v1/tenants/{tenantId}/extensions/{kind}", true),
    ("get", "/v1/tenants/{tenantId}/extensions", false),
    (
        "post",
        "/v1/tenants/{tenantId}/extensions/{kind}/activate",
        true,
    ),
    (
        "post",
        "/v1/tenants/{tenantId}/extensions/{kind}/rollback",
        false,
    ),
    ("delete", "/v1/tenants/{tenantId}/extensions/{kind}", false),
    (
        "post",
        "/v1/tenants/{tenantId}/extensions/{kind}/dry-run",
        true,
    ),
    ("get", "/v1/tenants/{tenantId}/decisions", false),
    ("post", "/v1/tenants/{tenantId}/instances", true),
    ("get", "/v1/tenants/{tenantId}/instances", false),
    (
        "get",
        "/v1/tenants/{tenantId}/instances/{instanceId}",
        false,
    ),
    (
        "patch",
        "/v1/tenants/{tenantId}/instances/{instanceId}",
        true,
    ),
    (
        "delete",
        "/v1/tenants/{tenantId}/instances/{instanceId}",
        false,
    ),
    (
        "post",
        "/v1/tenants/{tenantId}/instances/{instanceId}/scale",
        true,
    ),
    (
        "get",
        "/v1/tenants/{tenantId}/instances/{instanceId}/status",
        false,
    ),
];

/// api.md's operational endpoints: served, documented, and no token needed.
const OPERATIONAL: &[&str] = &["/healthz", "/readyz", "/metrics", "/openapi.json"];

/// Whether `schema` is a schema whose every `$ref`, and every `$ref` of the
/// schemas those name, resolves in the document's components.
fn resolves(doc: &Value, schema: &Value) -> bool {
    fn walk<'a>(doc: &'a Value, schema: &'a Value, seen: &mut BTreeSet<&'a str>) -> bool {
        match schema {
            Value::Object(fields) => {
                fields
                    .iter()
                    .all(|(key, value)| match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => {
                            let Some(name) = target.strip_prefix("#/components/schemas/") else {
                                return false;
                            };
                            match doc["components"]["schemas"].get(name) {
                                None => false,
                                Some(named) => !seen.insert(name) || walk(doc, named, seen),
                            }
                        }
                        _ => walk(doc, value, seen),
                    })
            }
            Value::Array(items) => items.iter().all(|item| walk(doc, item, seen)),
            _ => true,
        }
    }
    schema.as_object().is_some_and(|s| !s.is_empty()) && walk(doc, schema, &mut BTreeSet::new())
}

/// Every (method, path) an axum router routes, from its `Debug` text: axum
/// has no API listing routes, but that text names each route's path
/// (`RouteId(7): "/v1/me"`) and each method of its `MethodRouter`
/// (`get: Route`, `put: None`); a route that is no `MethodRouter` (a nested
/// service) is `*`. Only the router's own routes count, not the fallback
/// router after them. Should an axum upgrade change that text, this finds
/// nothing and the test says so.
fn routed(router_debug: &str) -> BTreeSet<(String, String)> {
    const METHODS: &[&str] = &[
        "get", "head", "delete", "options", "patch", "post", "put", "trace", "connect",
    ];
    let own = router_debug
        .split(", fallback_router:")
        .next()
        .unwrap_or_default();
    let mut paths = BTreeMap::new();
    let mut endpoints = BTreeMap::new();
    for entry in own.split("RouteId(").skip(1) {
        let Some((id, rest)) = entry.split_once("): ") else {
            continue;
        };
        if let Some(path) = rest.strip_prefix('"') {
            let path = path.split('"').next().unwrap_or_default();
            paths.insert(id.to_string(), path.to_string());
        } else if rest.starts_with("MethodRouter(") {
            let methods: Vec<String> = METHODS
                .iter()
                .filter(|m| rest.contains(&format!(" {m}: Route")))
                .map(|m| m.to_string())
                .collect();
            endpoints.insert(id.to_string(), methods);
        } else {
            endpoints.insert(id.to_string(), vec!["*".to_string()]);
        }
    }
    endpoints
        .into_iter()
        .flat_map(|(id, methods)| {
            let path = paths
                .get(&id)
                .cloned()
                .unwrap_or_else(|| format!("route {id}"));
            methods.into_iter().map(move |m| (m, path.clone()))
        })
        .collect()
}

/// A request path for a route's template: every `{parameter}` filled in.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{kind}" => "policy",
            s if s.starts_with('{') => "x",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_route_the_router_serves_is_real_and_described_by_the_openapi_document() {
    let app = spawn_app().await;
    let res = app.request("GET", "/openapi.json", None, None, &[]).await;
    let doc = res.ok(200).clone();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );

    let served: BTreeSet<(String, String)> = bbws_host::api::routes_served()
        .into_iter()
        .map(|(method, path)| (method.as_str().to_ascii_lowercase(), path))
        .collect();
    assert!(served.len() >= SPECIFIED.len(), "{served:?}");

    // The router routes exactly those: nothing beside the OpenApiRouter
    // (a plain `Router::route`, a nested service, a `routes!` of handlers
    // with different paths, which routes each method on every path), so
    // that the fallbacks are the only handlers the document does not name.
    let services = app.server.as_ref().expect("a server").services.clone();
    let router = format!("{:?}", bbws_host::api::app(services));
    let routed = routed(&router);
    assert!(
        !routed.is_empty(),
        "no route found in the router's Debug text (did axum change it?): {router}"
    );
    assert_eq!(
        routed.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routed, but not through the OpenApiRouter (so not documented)"
    );
    assert_eq!(
        served.difference(&routed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented, but not routed"
    );

    let mut methods_by_path: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (method, path) in &served {
        methods_by_path.entry(path).or_default().insert(method);
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not in /openapi.json");

        let responses = op["responses"].as_object().expect("responses");
        let (status, success) = responses
            .iter()
            .find(|(s, _)| s.starts_with('2'))
            .unwrap_or_else(|| panic!("{method} {path} has no success response"));
        if status != "204" {
            let content = success["content"].as_object();
            assert!(
                content
                    .is_some_and(|c| !c.is_empty()
                        && c.values().all(|media| resolves(&doc, &media["schema"]))),
                "{method} {path} {status} has no response schema: {op}"
            );
        }
        // Every error is problem+json, and what every route of its kind can
        // answer is documented: 400 for what does not decode, 401 without a
        // token, 413 and 415 for a body.
        for (status, response) in responses.iter().filter(|(s, _)| s.as_str() >= "400") {
            let media: Vec<&String> = response["content"]
                .as_object()
                .map(|c| c.keys().collect())
                .unwrap_or_default();
            assert_eq!(
                media,
                ["application/problem+json"],
                "{method} {path} {status} is not documented as problem+json"
            );
        }
        let open = op["security"].as_array().is_some_and(|s| {
            s.iter()
                .all(|r| r.as_object().is_some_and(|r| r.is_empty()))
        });
        let takes_input = op["parameters"].as_array().is_some_and(|p| !p.is_empty())
            || op["requestBody"].is_object();
        for (status, wanted) in [
            ("400", takes_input),
            ("401", !open),
            ("413", op["requestBody"].is_object()),
            ("415", op["requestBody"].is_object()),
            ("503", true),
        ] {
            assert!(
                !wanted || responses.contains_key(status),
                "{method} {path} does not document {status}"
            );
        }
        let body = op["requestBody"]["content"].as_object();
        if let Some(body) = body {
            assert!(
                !body.is_empty() && body.values().all(|media| resolves(&doc, &media["schema"])),
                "{method} {path} has a request body without a schema: {op}"
            );
        }

        // The route is real, and reads a body exactly when the document
        // says it takes one: asked without one, such a route answers 415.
        let url = concrete(path);
        let res = app
            .request(&method.to_uppercase(), &url, Some(&app.admin), None, &[])
            .await;
        assert!(
            res.status != 405 && res.body["code"] != "route_not_found",
            "{method} {path} is listed but not served: {res:?}"
        );
        assert_eq!(
            res.body["code"] == "unsupported_media_type",
            body.is_some(),
            "{method} {path}: the body it reads is not the one documented: {res:?}"
        );
    }

    // Every other method on a served path is the method fallback's.
    for (path, methods) in &methods_by_path {
        for method in ["get", "post", "put", "patch", "delete"] {
            if !methods.contains(method) {
                app.request(
                    &method.to_uppercase(),
                    &concrete(path),
                    Some(&app.admin),
                    None,
                    &[],
                )
                .await
                .assert_problem(405, "method_not_allowed");
            }
        }
    }

    // What api.md specifies is served, documents its errors, and takes the
    // bodies api.md gives it.
    for (method, path, takes_body) in SPECIFIED {
        assert!(
            served.contains(&(method.to_string(), path.to_string())),
            "api.md's {method} {path} is not served"
        );
        let op = &doc["paths"][path][method];
        assert!(
            op["responses"]
                .as_object()
                .is_some_and(|r| r.keys().any(|s| s.starts_with('4'))),
            "{method} {path} documents no error answer"
        );
        assert_eq!(
            op["requestBody"].is_object(),
            *takes_body,
            "{method} {path}: api.md and the document disagree on its body"
        );
    }
    for path in OPERATIONAL {
        assert!(
            served.contains(&("get".to_string(), path.to_string())),
            "api.md's GET {path} is not served"
        );
        app.request("GET", path, None, None, &[]).await.ok(200);
    }
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_token() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let res = app.request("GET", path, None, None, &[]).await;
        assert_eq!(res.status, 200, "{path}: {res:#?}");
    }
}

#[tokio::test]
async fn metrics_count_requests() {
    let app = spawn_app().await;
    app.get(&app.admin, "/v1/me").await.ok(200);
    let res = app.request("GET", "/metrics", None, None, &[]).await;
    assert_eq!(res.status, 200);
    let text = res.body.as_str().expect("a text body");
    let line = text
        .lines()
        .find(|l| l.starts_with("bbws_http_requests_total{") && l.contains("route=\"/v1/me\""))
        .unwrap_or_else(|| panic!("no counter for /v1/me in:\n{text}"));
    assert!(
        line.contains("status=\"200\"") && line.ends_with(" 1"),
        "{line}"
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_problem() {
    let app = spawn_app().await;
    for path in ["/nope", "/v1/nothing/here", "/v2/tenants"] {
        app.get(&app.admin, path)
            .await
            .assert_problem(404, "route_not_found");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_problem() {
    let app = spawn_app().await;
    app.request("PUT", "/v1/me", Some(&app.admin), None, &[])
        .await
        .assert_problem(405, "method_not_allowed");
}
