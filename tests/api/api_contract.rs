//! The published contract: the OpenAPI document, the operational endpoints
//! and the shape of errors for routes that do not exist.

use serde_json::Value;

use crate::helpers::spawn_app;

/// Every operation of api.md's Identity, Tenants and Sites sections, and
/// whether it takes a request body.
const OPERATIONS: &[(&str, &str, bool)] = &[
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
];

/// Whether `schema` is a schema (inline or a `$ref` that resolves).
fn resolves(doc: &Value, schema: &Value) -> bool {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/components/schemas/")
            .is_some_and(|name| doc["components"]["schemas"].get(name).is_some()),
        None => schema.is_object() && !schema.as_object().unwrap().is_empty(),
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_identity_and_tenant_operation() {
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

    for (method, path, takes_body) in OPERATIONS {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        if *takes_body {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            assert!(
                resolves(&doc, schema),
                "{method} {path} has no request schema: {op}"
            );
        }
        let responses = op["responses"].as_object().expect("responses");
        let (status, success) = responses
            .iter()
            .find(|(s, _)| s.starts_with('2'))
            .unwrap_or_else(|| panic!("{method} {path} has no success response"));
        if status != "204" {
            let schema = &success["content"]["application/json"]["schema"];
            assert!(
                resolves(&doc, schema),
                "{method} {path} {status} has no response schema: {op}"
            );
        }
        assert!(
            responses.keys().any(|s| s.starts_with('4')),
            "{method} {path} documents no error answer"
        );
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
