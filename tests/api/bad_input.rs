//! Bad input: every malformed request is refused with the right problem,
//! and writes nothing.

use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, spawn_app};

/// A server with one tenant (and a member) to aim bad requests at, and the
/// stored state to compare with afterwards.
struct Fixture {
    app: TestApp,
    tenant: String,
    user: String,
    before: (Vec<Value>, Vec<Value>),
}

impl Fixture {
    async fn new() -> Self {
        let app = spawn_app().await;
        let tenant = app.tenant(&app.admin, "Target", None).await;
        let (user, _) = app.member(&tenant, "member@example.com", "viewer").await;
        let before = (app.all_tenants().await, app.members_of(&tenant).await);
        Self {
            app,
            tenant,
            user,
            before,
        }
    }

    fn path(&self) -> String {
        format!("/v1/tenants/{}", self.tenant)
    }

    /// Asserts that nothing was written since [`Fixture::new`].
    async fn assert_unchanged(&self) {
        let now = (
            self.app.all_tenants().await,
            self.app.members_of(&self.tenant).await,
        );
        assert_eq!(now, self.before, "a refused request wrote something");
    }
}

/// Asserts a 422 `validation_failed` naming exactly `field`.
#[track_caller]
fn assert_invalid(res: &Resp, field: &str) {
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), [field], "{res:#?}");
    let message = res.body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(!message.is_empty(), "{res:#?}");
}

#[tokio::test]
async fn malformed_json_is_a_bad_request() {
    let f = Fixture::new().await;
    let app = &f.app;
    for body in [
        "{\"organisationName\": ",
        "not json",
        "{\"organisationName\": \"x\",}",
        "{\"organisationName\": \"x\"} trailing",
        "",
    ] {
        app.raw("POST", "/v1/tenants", &app.admin, body, "application/json")
            .await
            .assert_problem(400, "malformed_json");
    }
    app.raw("PATCH", &f.path(), &app.admin, "{", "application/json")
        .await
        .assert_problem(400, "malformed_json");
    f.assert_unchanged().await;
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_named() {
    let f = Fixture::new().await;
    let app = &f.app;
    let res = app
        .post(&app.admin, "/v1/tenants", json!({"organisationName": 42}))
        .await;
    assert_invalid(&res, "organisationName");
    let res = app
        .post(
            &app.admin,
            "/v1/tenants",
            json!({"organisationName": "x", "provisionInstance": "yes"}),
        )
        .await;
    assert_invalid(&res, "provisionInstance");
    let res = app
        .patch(&app.admin, &f.path(), json!({"tier": ["premium"]}), None)
        .await;
    assert_invalid(&res, "tier");
    let res = app
        .post(
            &app.admin,
            "/v1/tenants",
            json!({"organisationName": "x", "tier": 3}),
        )
        .await;
    assert_invalid(&res, "tier");
    let res = app
        .post(&app.admin, "/v1/tenants", json!(["organisationName"]))
        .await;
    assert_invalid(&res, "body");
    f.assert_unchanged().await;
}

#[tokio::test]
async fn a_missing_required_field_is_named() {
    let f = Fixture::new().await;
    let app = &f.app;
    let res = app
        .post(&app.admin, "/v1/tenants", json!({"tier": "free"}))
        .await;
    assert_invalid(&res, "organisationName");
    let res = app
        .put(
            &app.admin,
            &format!("{}/users/{}", f.path(), f.user),
            json!({}),
        )
        .await;
    assert_invalid(&res, "role");
    let res = app
        .post(
            &app.admin,
            &format!("{}/users/bulk", f.path()),
            json!({"assign": [{"role": "viewer"}]}),
        )
        .await;
    assert_invalid(&res, "assign[0].userId");
    f.assert_unchanged().await;
}

#[tokio::test]
async fn an_unknown_field_is_named() {
    let f = Fixture::new().await;
    let app = &f.app;
    let res = app
        .post(
            &app.admin,
            "/v1/tenants",
            json!({"organisationName": "x", "colour": "red"}),
        )
        .await;
    assert_invalid(&res, "colour");
    let res = app
        .patch(&app.admin, &f.path(), json!({"status": "PARKED"}), None)
        .await;
    assert_invalid(&res, "status");
    let res = app
        .post(
            &app.admin,
            &format!("{}/users/bulk", f.path()),
            json!({"assign": [{"userId": f.user, "role": "admin", "expires": 3}]}),
        )
        .await;
    assert_invalid(&res, "assign[0].expires");
    f.assert_unchanged().await;
}

#[tokio::test]
async fn an_unknown_enum_value_is_named() {
    let f = Fixture::new().await;
    let app = &f.app;
    let res = app
        .post(
            &app.admin,
            "/v1/tenants",
            json!({"organisationName": "x", "tier": "gold"}),
        )
        .await;
    assert_invalid(&res, "tier");
    let res = app
        .put(
            &app.admin,
            &format!("{}/users/{}", f.path(), f.user),
            json!({"role": "superuser"}),
        )
        .await;
    assert_invalid(&res, "role");
    let res = app.get(&app.admin, "/v1/tenants?status=GONE").await;
    assert_invalid(&res, "status");
    let res = app
        .get(&app.admin, &format!("{}/invitations?status=LOST", f.path()))
        .await;
    assert_invalid(&res, "status");
    f.assert_unchanged().await;
}

#[tokio::test]
async fn an_empty_or_oversized_organisation_name_is_refused() {
    let f = Fixture::new().await;
    let app = &f.app;
    for name in [String::new(), "   ".to_string(), "x".repeat(201)] {
        let res = app
            .post(&app.admin, "/v1/tenants", json!({"organisationName": name}))
            .await;
        assert_invalid(&res, "organisationName");
        let res = app
            .patch(
                &app.admin,
                &f.path(),
                json!({"organisationName": name}),
                None,
            )
            .await;
        assert_invalid(&res, "organisationName");
    }
    f.assert_unchanged().await;
}

#[tokio::test]
async fn an_organisation_name_of_200_characters_is_accepted() {
    let app = spawn_app().await;
    let name = "é".repeat(200);
    let id = app.tenant(&app.admin, &name, None).await;
    assert_eq!(
        app.admin_read(&format!("/v1/tenants/{id}")).await["organisationName"],
        name.as_str()
    );
}

#[tokio::test]
async fn a_bad_email_is_refused() {
    let f = Fixture::new().await;
    let app = &f.app;
    for email in ["not-an-email", "a@b", "two@@example.com", ""] {
        let res = app
            .post(
                &app.admin,
                "/v1/tenants",
                json!({"organisationName": "x", "contactEmail": email}),
            )
            .await;
        assert_invalid(&res, "contactEmail");
        let res = app
            .patch(&app.admin, &f.path(), json!({"contactEmail": email}), None)
            .await;
        assert_invalid(&res, "contactEmail");
        let res = app
            .post(
                &app.admin,
                "/v1/users",
                json!({"email": email, "displayName": "Nobody"}),
            )
            .await;
        assert_invalid(&res, "email");
        let res = app
            .post(
                &app.admin,
                &format!("{}/invitations", f.path()),
                json!({"email": email, "role": "viewer"}),
            )
            .await;
        assert_invalid(&res, "email");
    }
    f.assert_unchanged().await;
    assert!(
        app.walk(&app.admin, &format!("{}/invitations", f.path()), 20)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_an_unsupported_media_type() {
    let f = Fixture::new().await;
    let app = &f.app;
    let json_text = r#"{"organisationName": "x"}"#;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        app.raw("POST", "/v1/tenants", &app.admin, json_text, content_type)
            .await
            .assert_problem(415, "unsupported_media_type");
        app.raw("PATCH", &f.path(), &app.admin, json_text, content_type)
            .await
            .assert_problem(415, "unsupported_media_type");
    }
    f.assert_unchanged().await;
}

#[tokio::test]
async fn an_unknown_tenant_id_is_not_found() {
    let f = Fixture::new().await;
    let app = &f.app;
    for id in [
        "ten_0000000000000000000000000000beef",
        "garbage",
        "ten_XYZ",
        "%20",
    ] {
        let path = format!("/v1/tenants/{id}");
        let cases: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", path.clone(), None),
            (
                "PATCH",
                path.clone(),
                Some(json!({"organisationName": "x"})),
            ),
            ("DELETE", path.clone(), None),
            ("POST", format!("{path}/park"), None),
            ("GET", format!("{path}/children"), None),
            ("GET", format!("{path}/users"), None),
            (
                "PUT",
                format!("{path}/users/{}", f.user),
                Some(json!({"role": "viewer"})),
            ),
            ("GET", format!("{path}/invitations"), None),
        ];
        for (method, p, body) in cases {
            app.request(method, &p, Some(&app.admin), body, &[])
                .await
                .assert_problem(404, "tenant_not_found");
        }
    }
    f.assert_unchanged().await;
}

#[tokio::test]
async fn a_limit_out_of_range_is_refused() {
    let f = Fixture::new().await;
    let app = &f.app;
    for limit in ["0", "101", "-1", "many"] {
        for base in ["/v1/tenants", &format!("{}/users", f.path())] {
            let res = app.get(&app.admin, &format!("{base}?limit={limit}")).await;
            assert_invalid(&res, "limit");
        }
    }
    app.get(&app.admin, "/v1/tenants?limit=100").await.ok(200);
    app.get(&app.admin, "/v1/tenants?limit=1").await.ok(200);
    f.assert_unchanged().await;
}

#[tokio::test]
async fn a_garbage_cursor_is_refused() {
    let f = Fixture::new().await;
    let app = &f.app;
    for cursor in ["garbage", "eyJub3QiOiJhIGN1cnNvciJ9", "%00"] {
        for base in [
            "/v1/tenants",
            &format!("{}/users", f.path()),
            &format!("{}/children", f.path()),
        ] {
            app.get(&app.admin, &format!("{base}?cursor={cursor}"))
                .await
                .assert_problem(400, "invalid_cursor");
        }
    }
    f.assert_unchanged().await;
}

#[tokio::test]
async fn an_unknown_query_parameter_is_named() {
    let f = Fixture::new().await;
    let res = f.app.get(&f.app.admin, "/v1/tenants?colour=red").await;
    assert_invalid(&res, "colour");
    f.assert_unchanged().await;
}

#[tokio::test]
async fn a_malformed_if_match_is_a_bad_request() {
    let f = Fixture::new().await;
    let app = &f.app;
    for tag in ["\"abc\"", "W/", "\"-1\""] {
        app.patch(
            &app.admin,
            &f.path(),
            json!({"organisationName": "x"}),
            Some(tag),
        )
        .await
        .assert_problem(400, "invalid_if_match");
    }
    f.assert_unchanged().await;
}

/// What a strict client (a fuzzer) sends and a hand-written one does not:
/// a path parameter that is not UTF-8 once decoded, a body nested past any
/// type's depth or not UTF-8, an array where an object goes, `null` for an
/// object, an upload past its limit. Each is the problem+json the document
/// lists for the route, and none changes anything.
#[tokio::test]
async fn what_a_fuzzer_sends_is_answered_as_the_document_says() {
    let f = Fixture::new().await;
    let app = &f.app;
    let tenant = f.path();

    app.get(&app.admin, "/v1/tenants/%FF%FE")
        .await
        .assert_problem(400, "invalid_path");

    let deep = format!(
        "{{\"organisationName\": {}{}}}",
        "[".repeat(2000),
        "]".repeat(2000)
    );
    let not_utf8 = b"{\"organisationName\": \"x\", \"note\": \"\xff\xfe\"}".to_vec();
    for body in [deep.into_bytes(), not_utf8] {
        app.raw_bytes("POST", "/v1/tenants", &app.admin, body, "application/json")
            .await
            .assert_problem(400, "malformed_json");
    }

    // serde reads a struct from an array of its fields in order: `[]` was
    // an empty PATCH, and applied.
    for body in ["[]", "[\"Renamed\"]", "\"Renamed\"", "null"] {
        let res = app
            .raw("PATCH", &tenant, &app.admin, body, "application/json")
            .await;
        assert_invalid(&res, "body");
        assert_eq!(res.body["errors"][0]["message"], "must be a JSON object");
    }
    let res = app
        .post(
            &app.admin,
            "/v1/templates/blog/validate",
            json!({"parameters": null}),
        )
        .await;
    assert_invalid(&res, "parameters");

    // Past the largest tier's limit (64 MiB): refused before it is read whole.
    let oversize = vec![0u8; 65 * 1024 * 1024];
    app.raw_bytes(
        "PUT",
        &format!("{tenant}/extensions/policy"),
        &app.admin,
        oversize,
        "application/wasm",
    )
    .await
    .assert_problem(413, "body_too_large");
    let extensions = app.get(&app.admin, &format!("{tenant}/extensions")).await;
    assert_eq!(
        extensions.ok(200)["kinds"][0],
        json!({"kind": "policy", "active": null, "history": [], "versions": []}),
        "{extensions:#?}"
    );
    f.assert_unchanged().await;
}
