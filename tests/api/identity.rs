//! Users, tokens and authentication.

use serde_json::json;

use crate::helpers::{Resp, spawn_app};

/// Asserts a 401 problem that asks for a bearer token.
#[track_caller]
fn assert_unauthorized(res: &Resp) {
    res.assert_problem(401, "unauthorized");
    assert_eq!(
        res.headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
}

#[tokio::test]
async fn the_platform_admin_creates_a_user() {
    let app = spawn_app().await;
    let res = app
        .post(
            &app.admin,
            "/v1/users",
            json!({"email": "Dana@Example.com", "displayName": "Dana"}),
        )
        .await;
    let user = res.ok(201).clone();
    let id = user["userId"].as_str().unwrap();
    assert!(id.starts_with("usr_"), "{user}");
    assert_eq!(user["email"], "dana@example.com");
    assert_eq!(user["displayName"], "Dana");
    assert_eq!(user["platformRole"], serde_json::Value::Null);

    assert_eq!(app.admin_read(&format!("/v1/users/{id}")).await, user);
}

#[tokio::test]
async fn a_second_user_with_the_same_email_is_refused() {
    let app = spawn_app().await;
    app.user("dup@example.com").await;
    app.post(
        &app.admin,
        "/v1/users",
        json!({"email": "DUP@example.com", "displayName": "Again"}),
    )
    .await
    .assert_problem(409, "email_taken");
}

#[tokio::test]
async fn a_new_token_authenticates_as_its_user() {
    let app = spawn_app().await;
    let (id, token) = app.user("erin@example.com").await;
    let me = app.get(&token, "/v1/me").await.ok(200).clone();
    assert_eq!(me["user"]["userId"], id.as_str());
    assert_eq!(me["platformRole"], serde_json::Value::Null);
    assert_eq!(me["memberships"], json!([]));
}

#[tokio::test]
async fn a_user_issues_its_own_token_but_not_another_users() {
    let app = spawn_app().await;
    let (me, token) = app.user("frank@example.com").await;
    let (other, _) = app.user("grace@example.com").await;
    let issued = app
        .post(
            &token,
            &format!("/v1/users/{me}/tokens"),
            json!({"name": "ci"}),
        )
        .await;
    let second = issued.ok(201)["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&second, "/v1/me").await.ok(200)["user"]["userId"],
        me.as_str()
    );

    app.post(&token, &format!("/v1/users/{other}/tokens"), json!({}))
        .await
        .assert_problem(403, "policy_denied");
}

#[tokio::test]
async fn a_revoked_token_is_unauthorized() {
    let app = spawn_app().await;
    let (id, first) = app.user("heidi@example.com").await;
    let issued = app
        .post(&app.admin, &format!("/v1/users/{id}/tokens"), json!({}))
        .await;
    let issued = issued.ok(201).clone();
    let token = issued["token"].as_str().unwrap();
    let token_id = issued["tokenId"].as_str().unwrap();
    app.get(token, "/v1/me").await.ok(200);

    let res = app
        .delete(&app.admin, &format!("/v1/users/{id}/tokens/{token_id}"))
        .await;
    assert_eq!(res.status, 204, "{res:#?}");
    assert_unauthorized(&app.get(token, "/v1/me").await);
    // The user's other token still works.
    app.get(&first, "/v1/me").await.ok(200);
}

#[tokio::test]
async fn a_request_without_a_token_is_unauthorized() {
    let app = spawn_app().await;
    for path in ["/v1/me", "/v1/tenants", "/v1/users"] {
        assert_unauthorized(&app.request("GET", path, None, None, &[]).await);
    }
}

#[tokio::test]
async fn a_garbage_token_is_unauthorized() {
    let app = spawn_app().await;
    for garbage in ["nonsense", "bbws_not-a-real-token", &"x".repeat(500)] {
        assert_unauthorized(&app.get(garbage, "/v1/me").await);
    }
    let res = app
        .request(
            "GET",
            "/v1/me",
            None,
            None,
            &[("authorization", "Basic YWRtaW46YWRtaW4=")],
        )
        .await;
    assert_unauthorized(&res);
}

#[tokio::test]
async fn a_non_admin_cannot_create_users() {
    let app = spawn_app().await;
    let (_, token) = app.user("ivan@example.com").await;
    let before = app.walk(&app.admin, "/v1/users", 100).await;
    app.post(
        &token,
        "/v1/users",
        json!({"email": "mallory@example.com", "displayName": "M"}),
    )
    .await
    .assert_problem(403, "policy_denied");
    assert_eq!(app.walk(&app.admin, "/v1/users", 100).await, before);
}

#[tokio::test]
async fn me_shows_the_callers_memberships() {
    let app = spawn_app().await;
    let a = app.tenant(&app.admin, "A", None).await;
    let b = app.tenant(&app.admin, "B", None).await;
    let (id, token) = app.member(&a, "judy@example.com", "admin").await;
    app.assign(&b, &id, "viewer").await;

    let me = app.get(&token, "/v1/me").await.ok(200).clone();
    assert_eq!(me["user"]["email"], "judy@example.com");
    let mut got: Vec<(String, String)> = me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["userId"], id.as_str());
            (
                m["tenantId"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want = vec![(a, "admin".to_string()), (b, "viewer".to_string())];
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn the_bootstrap_admin_is_a_platform_admin() {
    let app = spawn_app().await;
    let me = app.get(&app.admin, "/v1/me").await;
    assert_eq!(me.ok(200)["platformRole"], "admin");
}

#[tokio::test]
async fn a_non_admin_cannot_list_users_or_read_the_outbox() {
    let app = spawn_app().await;
    let (_, token) = app.user("kim@example.com").await;
    for path in ["/v1/users", "/v1/outbox", "/v1/outbox?to=kim@example.com"] {
        app.get(&token, path)
            .await
            .assert_problem(403, "policy_denied");
    }
}
