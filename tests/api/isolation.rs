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

/// A member's list is its memberships and what lies below them, found
/// from the memberships: each tenant once (a role on a parent and on its
/// child), in one order across pages, whatever the platform holds besides.
/// The list used to walk every tenant on the platform and answer a short
/// page once it had read ten pages' worth, so a member of one tenant among
/// many got an empty first page.
#[tokio::test]
async fn a_members_tenant_list_follows_its_memberships_not_the_platforms_size() {
    let app = spawn_app().await;
    for i in 0..60 {
        app.tenant(&app.admin, &format!("Bystander {i}"), None)
            .await;
    }
    let x = app.tenant(&app.admin, "Xray", None).await;
    let x_child = app.tenant(&app.admin, "Xray Child", Some(&x)).await;
    let x_grandchild = app
        .tenant(&app.admin, "Xray Grandchild", Some(&x_child))
        .await;
    let y = app.tenant(&app.admin, "Yankee", None).await;
    let y_child = app.tenant(&app.admin, "Yankee Child", Some(&y)).await;
    let (user, token) = app.member(&x_child, "member@example.com", "viewer").await;
    // A second role, above the first: nothing is listed twice.
    app.assign(&x, &user, "operator").await;
    app.assign(&y_child, &user, "viewer").await;

    let first = app.get(&token, "/v1/tenants?limit=5").await;
    let ids: Vec<&str> = first.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenantId"].as_str().unwrap())
        .collect();
    let mut want = vec![
        x.as_str(),
        x_child.as_str(),
        x_grandchild.as_str(),
        y_child.as_str(),
    ];
    want.sort();
    assert_eq!(ids, want, "one page, in id order: {first:#?}");
    assert!(first.body.get("nextCursor").is_none(), "{first:#?}");

    let walked: Vec<String> = app
        .walk(&token, "/v1/tenants", 1)
        .await
        .iter()
        .map(|t| t["tenantId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(walked, want, "a page at a time, the same list");

    app.post_empty(&app.admin, &format!("/v1/tenants/{x_grandchild}/suspend"))
        .await
        .ok(200);
    let suspended = app.get(&token, "/v1/tenants?status=SUSPENDED").await;
    assert_eq!(
        suspended.ok(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tenantId"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [x_grandchild.as_str()]
    );
}

/// A cursor names the keys it resumes after, and a client can send any:
/// one that another list handed out, or one rewritten to name another
/// tenant's partition, is 400 `invalid_cursor`, never a page of that
/// partition (on the embedded store and on DynamoDB alike).
#[tokio::test]
async fn a_cursor_from_another_tenants_list_or_forged_for_it_is_refused() {
    use base64::Engine;
    let app = spawn_app().await;
    let a = app.tenant(&app.admin, A_NAME, None).await;
    let b = app.tenant(&app.admin, "Bravo", None).await;
    let (_, a_token) = app.member(&a, "alpha-owner@example.com", "owner").await;
    let (_, b_token) = app.member(&b, "bravo-owner@example.com", "owner").await;
    app.member(&a, "alpha-two@example.com", "viewer").await;
    app.member(&b, "bravo-two@example.com", "viewer").await;
    let cursor_of = |res: &crate::helpers::Resp| -> String {
        res.body["nextCursor"]
            .as_str()
            .unwrap_or_else(|| panic!("a next page: {res:#?}"))
            .to_string()
    };
    let a_page = app
        .get(&a_token, &format!("/v1/tenants/{a}/users?limit=1"))
        .await;
    let a_cursor = cursor_of(&a_page);
    let b_page = app
        .get(&b_token, &format!("/v1/tenants/{b}/users?limit=1"))
        .await;
    let b_cursor = cursor_of(&b_page);

    // B's cursor on A's list, by A's owner and by the admin.
    for token in [&a_token, &app.admin] {
        app.get(
            token,
            &format!("/v1/tenants/{a}/users?limit=1&cursor={b_cursor}"),
        )
        .await
        .assert_problem(400, "invalid_cursor");
    }
    // A's cursor rewritten to name B's partition, on A's list.
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let decoded: Value = serde_json::from_slice(&engine.decode(&a_cursor).unwrap()).unwrap();
    let b_keys: Value = serde_json::from_slice(&engine.decode(&b_cursor).unwrap()).unwrap();
    let mut forged = decoded.clone();
    forged["i"]["pk"] = b_keys["i"]["pk"].clone();
    forged["t"]["pk"] = b_keys["t"]["pk"].clone();
    let forged = engine.encode(serde_json::to_vec(&forged).unwrap());
    let res = app
        .get(
            &a_token,
            &format!("/v1/tenants/{a}/users?limit=1&cursor={forged}"),
        )
        .await;
    res.assert_problem(400, "invalid_cursor");
    assert!(!res.body.to_string().contains("bravo"), "{res:#?}");
    // The tenant list's cursor is no members list's.
    app.get(
        &app.admin,
        &format!("/v1/tenants?limit=1&cursor={a_cursor}"),
    )
    .await
    .assert_problem(400, "invalid_cursor");
    // Its own cursor still works.
    app.get(
        &a_token,
        &format!("/v1/tenants/{a}/users?limit=1&cursor={a_cursor}"),
    )
    .await
    .ok(200);
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
