//! Tenant isolation: the owner of one tenant can neither see nor change
//! another, on any tenant-scoped route.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const A_NAME: &str = "Alpha Secret Holdings";

/// Everything stored about tenant `a`, as the platform admin reads it.
async fn state_of(app: &TestApp, a: &str) -> (Value, Vec<Value>, Vec<Value>, Vec<Value>) {
    (
        app.admin_read(&format!("/v1/tenants/{a}")).await,
        app.members_of(a).await,
        app.walk(&app.admin, &format!("/v1/tenants/{a}/invitations"), 100)
            .await,
        app.walk(&app.admin, &format!("/v1/tenants/{a}/children"), 100)
            .await,
    )
}

#[tokio::test]
async fn the_owner_of_one_tenant_can_neither_see_nor_touch_another() {
    let app = spawn_app().await;
    let a = app.tenant(&app.admin, A_NAME, None).await;
    let a_child = app.tenant(&app.admin, "Alpha Child", Some(&a)).await;
    let b = app.tenant(&app.admin, "Bravo", None).await;
    let (a_owner, _) = app.member(&a, "alpha-owner@example.com", "owner").await;
    let (b_owner, b_token) = app.member(&b, "bravo-owner@example.com", "owner").await;
    let invitation = app
        .invite(&app.admin, &a, "alpha-guest@example.com", "viewer")
        .await;
    let inv = invitation["invitationId"].as_str().unwrap();
    let before = state_of(&app, &a).await;

    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/v1/tenants/{a}"), None),
        (
            "PATCH",
            format!("/v1/tenants/{a}"),
            Some(json!({"organisationName": "Pwned"})),
        ),
        ("DELETE", format!("/v1/tenants/{a}"), None),
        ("DELETE", format!("/v1/tenants/{a}?cascade=true"), None),
        ("POST", format!("/v1/tenants/{a}/park"), None),
        ("POST", format!("/v1/tenants/{a}/unpark"), None),
        ("POST", format!("/v1/tenants/{a}/suspend"), None),
        ("POST", format!("/v1/tenants/{a}/resume"), None),
        ("GET", format!("/v1/tenants/{a}/children"), None),
        ("GET", format!("/v1/tenants?parentTenantId={a}"), None),
        (
            "POST",
            format!("/v1/tenants/{a}/move"),
            Some(json!({"newParentTenantId": b})),
        ),
        (
            "POST",
            format!("/v1/tenants/{a_child}/move"),
            Some(json!({"newParentTenantId": b})),
        ),
        ("GET", format!("/v1/tenants/{a}/users"), None),
        (
            "PUT",
            format!("/v1/tenants/{a}/users/{b_owner}"),
            Some(json!({"role": "owner"})),
        ),
        (
            "PUT",
            format!("/v1/tenants/{a}/users/{a_owner}"),
            Some(json!({"role": "viewer"})),
        ),
        ("DELETE", format!("/v1/tenants/{a}/users/{a_owner}"), None),
        (
            "POST",
            format!("/v1/tenants/{a}/users/bulk"),
            Some(json!({"assign": [{"userId": b_owner, "role": "owner"}], "remove": [a_owner]})),
        ),
        (
            "POST",
            format!("/v1/tenants/{a}/invitations"),
            Some(json!({"email": "spy@example.com", "role": "owner"})),
        ),
        ("GET", format!("/v1/tenants/{a}/invitations"), None),
        (
            "GET",
            format!("/v1/tenants/{a}/invitations?status=PENDING"),
            None,
        ),
        (
            "POST",
            format!("/v1/tenants/{a}/invitations/{inv}/resend"),
            None,
        ),
        (
            "POST",
            format!("/v1/tenants/{a}/invitations/{inv}/cancel"),
            None,
        ),
        (
            "GET",
            format!("/v1/tenants/{a}/extensions/activations"),
            None,
        ),
        (
            "GET",
            format!("/v1/tenants/{a}/extensions/policy/versions"),
            None,
        ),
        (
            "DELETE",
            format!(
                "/v1/tenants/{a}/extensions/policy/versions/{}",
                "0".repeat(64)
            ),
            None,
        ),
    ];
    for (method, path, body) in routes {
        let res = app.request(method, &path, Some(&b_token), body, &[]).await;
        assert!(
            res.status == 404 || res.status == 403,
            "{method} {path}: B's owner got {res:#?}"
        );
        assert!(
            ["tenant_not_found", "policy_denied"]
                .contains(&res.body["code"].as_str().unwrap_or("")),
            "{method} {path}: {res:#?}"
        );
        let text = res.body.to_string();
        assert!(
            !text.contains("organisationName"),
            "{method} {path} leaks: {text}"
        );
        assert!(!text.contains(A_NAME), "{method} {path} leaks: {text}");
        assert!(
            !text.contains("alpha-owner@"),
            "{method} {path} leaks: {text}"
        );
        assert!(
            !text.contains("alpha-guest@"),
            "{method} {path} leaks: {text}"
        );
    }

    assert_eq!(state_of(&app, &a).await, before, "A changed");
    // Nothing was mailed for A by B, and B's own tenant gained no child.
    assert!(
        app.walk(&app.admin, "/v1/outbox?to=spy@example.com", 20)
            .await
            .is_empty()
    );
    assert_eq!(
        app.admin_read(&format!("/v1/tenants/{b}")).await["childCount"],
        0
    );
}

#[tokio::test]
async fn the_tenant_list_shows_only_the_callers_tenants() {
    let app = spawn_app().await;
    let a = app.tenant(&app.admin, A_NAME, None).await;
    let a_child = app.tenant(&app.admin, "Alpha Child", Some(&a)).await;
    let b = app.tenant(&app.admin, "Bravo", None).await;
    let b_child = app.tenant(&app.admin, "Bravo Child", Some(&b)).await;
    let (_, b_token) = app.member(&b, "bravo-owner@example.com", "owner").await;

    let mut seen: Vec<String> = app
        .walk(&b_token, "/v1/tenants", 1)
        .await
        .iter()
        .map(|t| t["tenantId"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    let mut want = vec![b, b_child];
    want.sort();
    assert_eq!(seen, want);
    assert!(!seen.contains(&a) && !seen.contains(&a_child));
}

#[tokio::test]
async fn a_user_cannot_create_a_child_under_someone_elses_tenant() {
    let app = spawn_app().await;
    let a = app.tenant(&app.admin, A_NAME, None).await;
    let b = app.tenant(&app.admin, "Bravo", None).await;
    let (_, b_token) = app.member(&b, "bravo-owner@example.com", "owner").await;
    let before = state_of(&app, &a).await;

    let res = app
        .post(
            &b_token,
            "/v1/tenants",
            json!({"organisationName": "Cuckoo", "parentTenantId": a}),
        )
        .await;
    // A missing parent and a hidden one answer alike.
    let missing = app
        .post(
            &b_token,
            "/v1/tenants",
            json!({"organisationName": "Cuckoo", "parentTenantId": "ten_0000000000000000000000000000beef"}),
        )
        .await;
    assert_eq!(res.status, missing.status, "{res:#?}");
    assert_eq!(res.body["code"], missing.body["code"]);
    assert!(!res.body.to_string().contains(A_NAME));
    assert_eq!(state_of(&app, &a).await, before);
    assert_eq!(app.all_tenants().await.len(), 2);
}
