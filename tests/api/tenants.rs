//! Tenants: create, read, list, update (with and without If-Match),
//! lifecycle transitions, concurrency and idempotent creation.

use std::collections::HashSet;
use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

fn tenant_path(id: &str) -> String {
    format!("/v1/tenants/{id}")
}

/// A tenant's status as the platform admin reads it.
async fn status_of(app: &TestApp, id: &str) -> Value {
    app.admin_read(&tenant_path(id)).await["status"].clone()
}

#[tokio::test]
async fn a_created_tenant_reads_back_with_every_field() {
    let app = spawn_app().await;
    let created = app
        .post(
            &app.admin,
            "/v1/tenants",
            json!({
                "organisationName": "Acme Ltd",
                "contactEmail": "Ops@Acme.example",
                "tier": "premium"
            }),
        )
        .await;
    assert_eq!(created.etag(), "\"1\"");
    let created = created.ok(201).clone();
    let id = created["tenantId"].as_str().unwrap();
    assert!(id.starts_with("ten_"), "{created}");

    let read = app.get(&app.admin, &tenant_path(id)).await;
    assert_eq!(read.etag(), "\"1\"");
    let t = read.ok(200);
    assert_eq!(t["tenantId"], id);
    assert_eq!(t["organisationName"], "Acme Ltd");
    assert_eq!(t["status"], "ACTIVE");
    assert_eq!(t["parentTenantId"], Value::Null);
    assert!(t.as_object().unwrap().contains_key("parentTenantId"), "{t}");
    assert_eq!(t["contactEmail"], "ops@acme.example");
    assert_eq!(t["tier"], "premium");
    assert_eq!(t["version"], 1);
    assert_eq!(t["childCount"], 0);
    let created_at = t["createdAt"].as_str().expect("createdAt");
    assert!(
        created_at.contains('T') && created_at.ends_with('Z'),
        "{created_at}"
    );
    assert_eq!(t["updatedAt"], t["createdAt"]);
    assert_eq!(t, &created, "the create answer is the stored record");
}

#[tokio::test]
async fn a_tenant_without_a_tier_is_standard_and_has_no_contact() {
    let app = spawn_app().await;
    let id = app.tenant(&app.admin, "Plain", None).await;
    let t = app.admin_read(&tenant_path(&id)).await;
    assert_eq!(t["tier"], "standard");
    assert_eq!(t["contactEmail"], Value::Null);
}

#[tokio::test]
async fn listing_45_tenants_20_at_a_time_loses_and_repeats_nothing() {
    let app = spawn_app().await;
    let mut created = HashSet::new();
    for i in 0..45 {
        created.insert(
            app.tenant(&app.admin, &format!("Tenant {i:02}"), None)
                .await,
        );
    }

    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/v1/tenants?limit=20&cursor={c}"),
            None => "/v1/tenants?limit=20".to_string(),
        };
        let page = app.get(&app.admin, &url).await.ok(200).clone();
        let items = page["items"].as_array().unwrap();
        pages.push(items.len());
        seen.extend(
            items
                .iter()
                .map(|t| t["tenantId"].as_str().unwrap().to_string()),
        );
        match page.get("nextCursor") {
            Some(c) => cursor = Some(c.as_str().expect("a string cursor").to_string()),
            None => break,
        }
        assert!(pages.len() < 10, "the walk does not end");
    }
    assert_eq!(pages, [20, 20, 5]);
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a tenant appeared twice");
    assert_eq!(unique, created);
}

#[tokio::test]
async fn the_list_filters_by_status() {
    let app = spawn_app().await;
    let parked = app.tenant(&app.admin, "Parked", None).await;
    let active = app.tenant(&app.admin, "Active", None).await;
    app.post_empty(&app.admin, &format!("/v1/tenants/{parked}/park"))
        .await
        .ok(200);

    let ids = |items: Vec<Value>| -> Vec<String> {
        items
            .iter()
            .map(|t| t["tenantId"].as_str().unwrap().to_string())
            .collect()
    };
    let p = app.walk(&app.admin, "/v1/tenants?status=PARKED", 20).await;
    assert_eq!(ids(p), [parked]);
    let a = app.walk(&app.admin, "/v1/tenants?status=ACTIVE", 20).await;
    assert_eq!(ids(a), [active]);
}

#[tokio::test]
async fn the_list_filters_by_parent() {
    let app = spawn_app().await;
    let parent = app.tenant(&app.admin, "Parent", None).await;
    let other = app.tenant(&app.admin, "Other", None).await;
    let a = app.tenant(&app.admin, "Child A", Some(&parent)).await;
    let b = app.tenant(&app.admin, "Child B", Some(&parent)).await;
    app.tenant(&app.admin, "Other child", Some(&other)).await;

    let items = app
        .walk(
            &app.admin,
            &format!("/v1/tenants?parentTenantId={parent}"),
            20,
        )
        .await;
    let got: HashSet<_> = items
        .iter()
        .map(|t| t["tenantId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, HashSet::from([a, b]));
    assert!(items.iter().all(|t| t["parentTenantId"] == parent.as_str()));
}

#[tokio::test]
async fn a_patch_with_the_current_if_match_bumps_the_version_and_etag() {
    let app = spawn_app().await;
    let id = app.tenant(&app.admin, "Before", None).await;
    let etag = app.get(&app.admin, &tenant_path(&id)).await.etag();
    app.clock.advance(Duration::from_secs(5));

    let res = app
        .patch(
            &app.admin,
            &tenant_path(&id),
            json!({"organisationName": "After", "tier": "enterprise"}),
            Some(&etag),
        )
        .await;
    assert_eq!(res.etag(), "\"2\"");
    let body = res.ok(200).clone();
    assert_eq!(body["version"], 2);

    let stored = app.admin_read(&tenant_path(&id)).await;
    assert_eq!(stored["organisationName"], "After");
    assert_eq!(stored["tier"], "enterprise");
    assert_eq!(stored["version"], 2);
    assert!(
        stored["updatedAt"].as_str() > stored["createdAt"].as_str(),
        "{stored}"
    );
    assert_eq!(stored, body);
}

#[tokio::test]
async fn a_patch_with_a_stale_if_match_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let id = app.tenant(&app.admin, "Original", None).await;
    app.patch(&app.admin, &tenant_path(&id), json!({"tier": "free"}), None)
        .await
        .ok(200);
    let before = app.admin_read(&tenant_path(&id)).await;

    app.patch(
        &app.admin,
        &tenant_path(&id),
        json!({"organisationName": "Stale"}),
        Some("\"1\""),
    )
    .await
    .assert_problem(412, "version_conflict");
    assert_eq!(app.admin_read(&tenant_path(&id)).await, before);
}

#[tokio::test]
async fn patching_the_contact_email_to_null_clears_it() {
    let app = spawn_app().await;
    let id = app
        .post(
            &app.admin,
            "/v1/tenants",
            json!({"organisationName": "Mail", "contactEmail": "a@b.example"}),
        )
        .await
        .ok(201)["tenantId"]
        .as_str()
        .unwrap()
        .to_string();
    app.patch(
        &app.admin,
        &tenant_path(&id),
        json!({"contactEmail": null}),
        None,
    )
    .await
    .ok(200);
    let t = app.admin_read(&tenant_path(&id)).await;
    assert_eq!(t["contactEmail"], Value::Null);
    assert_eq!(t["organisationName"], "Mail", "fields left out are kept");
}

#[tokio::test]
async fn a_tenant_parks_unparks_suspends_and_resumes() {
    let app = spawn_app().await;
    let id = app.tenant(&app.admin, "Lifecycle", None).await;
    let step = |action: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            app.post_empty(&app.admin, &format!("/v1/tenants/{id}/{action}"))
                .await
                .ok(200)["status"]
                .clone()
        }
    };
    assert_eq!(step("park").await, "PARKED");
    assert_eq!(step("unpark").await, "ACTIVE");
    assert_eq!(step("suspend").await, "SUSPENDED");
    assert_eq!(step("resume").await, "ACTIVE");
    assert_eq!(status_of(&app, &id).await, "ACTIVE");
    assert_eq!(app.admin_read(&tenant_path(&id)).await["version"], 5);
}

#[tokio::test]
async fn resuming_a_tenant_suspended_while_parked_returns_it_to_parked() {
    let app = spawn_app().await;
    let id = app.tenant(&app.admin, "Parked then suspended", None).await;
    for action in ["park", "suspend"] {
        app.post_empty(&app.admin, &format!("/v1/tenants/{id}/{action}"))
            .await
            .ok(200);
    }
    assert_eq!(status_of(&app, &id).await, "SUSPENDED");
    let resumed = app
        .post_empty(&app.admin, &format!("/v1/tenants/{id}/resume"))
        .await;
    assert_eq!(resumed.ok(200)["status"], "PARKED");
    assert_eq!(status_of(&app, &id).await, "PARKED");
}

#[tokio::test]
async fn illegal_transitions_are_refused_and_leave_the_status_unchanged() {
    let app = spawn_app().await;
    let active = app.tenant(&app.admin, "Active", None).await;
    let suspended = app.tenant(&app.admin, "Suspended", None).await;
    app.post_empty(&app.admin, &format!("/v1/tenants/{suspended}/suspend"))
        .await
        .ok(200);

    for (id, action, status) in [
        (&active, "unpark", "ACTIVE"),
        (&active, "resume", "ACTIVE"),
        (&suspended, "park", "SUSPENDED"),
        (&suspended, "suspend", "SUSPENDED"),
    ] {
        let before = app.admin_read(&tenant_path(id)).await;
        app.post_empty(&app.admin, &format!("/v1/tenants/{id}/{action}"))
            .await
            .assert_problem(409, "invalid_transition");
        let after = app.admin_read(&tenant_path(id)).await;
        assert_eq!(after["status"], status, "{action}");
        assert_eq!(after, before, "{action} changed the tenant");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_patches_without_if_match_lose_no_update() {
    let app = spawn_app().await;
    let id = app.tenant(&app.admin, "Start", None).await;
    let path = tenant_path(&id);
    let answers = join_all((0..20).map(|i| {
        app.patch(
            &app.admin,
            &path,
            json!({"organisationName": format!("Name {i}")}),
            None,
        )
    }))
    .await;
    let mut versions: Vec<u64> = answers
        .iter()
        .map(|r| r.ok(200)["version"].as_u64().unwrap())
        .collect();
    versions.sort_unstable();
    assert_eq!(
        versions,
        (2..=21).collect::<Vec<_>>(),
        "each write saw the one before"
    );

    let t = app.admin_read(&path).await;
    assert_eq!(t["version"], 21);
    let last = answers.iter().find(|r| r.body["version"] == 21).unwrap();
    assert_eq!(t["organisationName"], last.body["organisationName"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_ten_concurrent_patches_with_one_if_match_exactly_one_wins() {
    let app = spawn_app().await;
    let id = app.tenant(&app.admin, "Start", None).await;
    let path = tenant_path(&id);
    let answers = join_all((0..10).map(|i| {
        app.patch(
            &app.admin,
            &path,
            json!({"organisationName": format!("Name {i}")}),
            Some("\"1\""),
        )
    }))
    .await;
    let winners: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "{answers:#?}");
    for r in answers.iter().filter(|r| r.status != 200) {
        r.assert_problem(412, "version_conflict");
    }
    let t = app.admin_read(&path).await;
    assert_eq!(t["version"], 2);
    assert_eq!(t["organisationName"], winners[0].body["organisationName"]);
}

#[tokio::test]
async fn repeating_a_create_with_the_same_idempotency_key_replays_the_first_answer() {
    let app = spawn_app().await;
    let body = json!({"organisationName": "Once"});
    let headers = [("idempotency-key", "create-once-1")];
    let first = app
        .request(
            "POST",
            "/v1/tenants",
            Some(&app.admin),
            Some(body.clone()),
            &headers,
        )
        .await;
    let second = app
        .request(
            "POST",
            "/v1/tenants",
            Some(&app.admin),
            Some(body),
            &headers,
        )
        .await;
    let first_id = first.ok(201)["tenantId"].clone();
    assert_eq!(second.ok(201)["tenantId"], first_id);
    assert_eq!(second.body, first.body);
    assert_eq!(
        second
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert!(first.headers.get("idempotent-replayed").is_none());
    let all = app.all_tenants().await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["tenantId"], first_id);
}

#[tokio::test]
async fn reusing_an_idempotency_key_for_a_different_body_is_refused() {
    let app = spawn_app().await;
    let headers = [("idempotency-key", "create-once-2")];
    app.request(
        "POST",
        "/v1/tenants",
        Some(&app.admin),
        Some(json!({"organisationName": "First"})),
        &headers,
    )
    .await
    .ok(201);
    app.request(
        "POST",
        "/v1/tenants",
        Some(&app.admin),
        Some(json!({"organisationName": "Second"})),
        &headers,
    )
    .await
    .assert_problem(422, "idempotency_key_reused");
    let names: Vec<_> = app
        .all_tenants()
        .await
        .iter()
        .map(|t| t["organisationName"].clone())
        .collect();
    assert_eq!(names, [json!("First")]);
}

#[tokio::test]
async fn an_anonymous_request_with_an_idempotency_key_keeps_nothing() {
    let app = spawn_app().await;
    // Nobody without a token writes a record: the same anonymous request
    // is answered afresh every time, never replayed.
    for _ in 0..2 {
        let r = app
            .request(
                "POST",
                "/v1/invitations/accept",
                None,
                Some(json!({"token": "no-such-invitation"})),
                &[("idempotency-key", "anonymous-1")],
            )
            .await;
        r.assert_problem(404, "invitation_not_found");
        assert!(r.headers.get("idempotent-replayed").is_none(), "{r:?}");
    }
}

#[tokio::test]
async fn a_refusal_that_may_change_is_not_replayed_once_the_caller_may() {
    let app = spawn_app().await;
    let parent = app.tenant(&app.admin, "Parent", None).await;
    let (user_id, token) = app.user("later-admin@example.com").await;
    let body = json!({"organisationName": "Child", "parentTenantId": parent});
    let headers = [("idempotency-key", "child-once")];
    app.request(
        "POST",
        "/v1/tenants",
        Some(&token),
        Some(body.clone()),
        &headers,
    )
    .await
    .assert_problem(422, "validation_failed");
    app.assign(&parent, &user_id, "admin").await;
    let r = app
        .request(
            "POST",
            "/v1/tenants",
            Some(&token),
            Some(body.clone()),
            &headers,
        )
        .await;
    assert_eq!(r.ok(201)["parentTenantId"], json!(parent));
    assert!(r.headers.get("idempotent-replayed").is_none(), "{r:?}");
    // The success is what a retry gets from now on.
    let again = app
        .request("POST", "/v1/tenants", Some(&token), Some(body), &headers)
        .await;
    assert_eq!(again.ok(201)["tenantId"], r.body["tenantId"]);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
}

#[tokio::test]
async fn a_token_is_never_kept_for_a_retry() {
    let app = spawn_app().await;
    let (user_id, _) = app.user("keyed@example.com").await;
    let path = format!("/v1/users/{user_id}/tokens");
    let headers = [("idempotency-key", "token-once")];
    let issue = || {
        app.request(
            "POST",
            &path,
            Some(&app.admin),
            Some(json!({"name": "ci"})),
            &headers,
        )
    };
    let first = issue().await;
    let secret = first.ok(201)["token"].as_str().unwrap().to_string();
    // The retry is told the first succeeded, without the secret, and
    // makes no second token.
    let retry = issue().await;
    retry.assert_problem(409, "idempotency_secret_not_kept");
    assert!(!retry.body.to_string().contains(&secret));
    let tokens = app.walk(&app.admin, &path, 100).await;
    assert_eq!(
        tokens.iter().filter(|t| t["name"] == "ci").count(),
        1,
        "{tokens:#?}"
    );
    // Nor is it anywhere in the embedded store's files, in clear.
    if let Backend::Embedded = crate::BACKEND {
        for entry in std::fs::read_dir(app.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "the token is in {path:?}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_with_one_idempotency_key_make_one_tenant() {
    let app = spawn_app().await;
    let body = json!({"organisationName": "Racing"});
    let headers = [("idempotency-key", "race-1")];
    let answers = join_all((0..8).map(|_| {
        app.request(
            "POST",
            "/v1/tenants",
            Some(&app.admin),
            Some(body.clone()),
            &headers,
        )
    }))
    .await;
    let all = app.all_tenants().await;
    assert_eq!(all.len(), 1, "{all:#?}");
    for r in &answers {
        if r.status == 201 {
            assert_eq!(r.body["tenantId"], all[0]["tenantId"]);
        } else {
            r.assert_problem(409, "idempotency_in_progress");
        }
    }
    assert!(answers.iter().any(|r| r.status == 201));
}

#[tokio::test]
async fn a_state_change_or_delete_with_a_stale_if_match_is_refused() {
    let app = spawn_app().await;
    let id = app.tenant(&app.admin, "Guarded", None).await;
    app.patch(&app.admin, &tenant_path(&id), json!({"tier": "free"}), None)
        .await
        .ok(200);
    let before = app.admin_read(&tenant_path(&id)).await;
    let stale = [("if-match", "\"1\"")];
    for (method, path) in [
        ("POST", format!("/v1/tenants/{id}/park")),
        ("POST", format!("/v1/tenants/{id}/suspend")),
        ("DELETE", tenant_path(&id)),
    ] {
        app.request(method, &path, Some(&app.admin), None, &stale)
            .await
            .assert_problem(412, "version_conflict");
    }
    assert_eq!(app.admin_read(&tenant_path(&id)).await, before);
    // The current ETag is accepted.
    let current = [("if-match", "\"2\"")];
    let parked = app
        .request(
            "POST",
            &format!("/v1/tenants/{id}/park"),
            Some(&app.admin),
            None,
            &current,
        )
        .await;
    assert_eq!(parked.etag(), "\"3\"");
    assert_eq!(parked.ok(200)["status"], "PARKED");
}

#[tokio::test]
async fn a_list_without_a_limit_answers_twenty() {
    let app = spawn_app().await;
    for i in 0..25 {
        app.tenant(&app.admin, &format!("T{i}"), None).await;
    }
    let page = app.get(&app.admin, "/v1/tenants").await.ok(200).clone();
    assert_eq!(page["items"].as_array().unwrap().len(), 20);
    assert!(page["nextCursor"].is_string(), "{page}");
}

#[tokio::test]
async fn paging_while_tenants_are_written_sees_every_existing_tenant_once() {
    let app = spawn_app().await;
    let mut existing = HashSet::new();
    for i in 0..30 {
        existing.insert(app.tenant(&app.admin, &format!("Old {i}"), None).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for round in 0.. {
        // Writes between pages: new tenants, and renames of old ones.
        app.tenant(&app.admin, &format!("New {round}"), None).await;
        let victim = existing.iter().nth(round % existing.len()).unwrap().clone();
        app.patch(
            &app.admin,
            &tenant_path(&victim),
            json!({"organisationName": format!("Renamed {round}")}),
            None,
        )
        .await
        .ok(200);
        let url = match &cursor {
            Some(c) => format!("/v1/tenants?limit=7&cursor={c}"),
            None => "/v1/tenants?limit=7".to_string(),
        };
        let page = app.get(&app.admin, &url).await.ok(200).clone();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["tenantId"].as_str().unwrap().to_string()),
        );
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(round < 50, "the walk does not end");
    }
    let old_seen: Vec<_> = seen.iter().filter(|id| existing.contains(*id)).collect();
    let unique: HashSet<_> = old_seen.iter().collect();
    assert_eq!(
        unique.len(),
        old_seen.len(),
        "an existing tenant was repeated"
    );
    assert_eq!(
        unique.len(),
        existing.len(),
        "an existing tenant was skipped"
    );
    let all: HashSet<_> = seen.iter().collect();
    assert_eq!(all.len(), seen.len(), "a tenant was repeated");
}

#[tokio::test]
async fn the_data_directory_and_its_databases_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let Backend::Embedded = crate::BACKEND else {
        return;
    };
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("fresh").join("data");
    let data_dir = data.clone();
    let app = spawn_app_with(move |c| c.data_dir = data_dir).await;
    app.tenant(&app.admin, "Private", None).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "{data:?}");
    for name in ["bbws.db", "bbws.db-wal", "decisions.db"] {
        let file = data.join(name);
        assert_eq!(mode(&file), 0o600, "{file:?}");
    }
}

/// The tier raises the sandbox limits and is what the tenant pays for: a
/// tenant's own admins and owners cannot change it, even to what it is.
#[tokio::test]
async fn a_tenants_admin_or_owner_cannot_change_its_tier() {
    let app = spawn_app().await;
    let id = app.tenant(&app.admin, "Pays standard", None).await;
    let (_, admin) = app.member(&id, "admin@example.com", "admin").await;
    let (_, owner) = app.member(&id, "owner@example.com", "owner").await;
    let before = app.admin_read(&tenant_path(&id)).await;
    for token in [&admin, &owner] {
        for body in [
            json!({"tier": "enterprise"}),
            json!({"tier": "free"}),
            json!({"tier": "standard"}),
            json!({"organisationName": "Renamed too", "tier": "premium"}),
        ] {
            let res = app
                .patch(token, &tenant_path(&id), body.clone(), None)
                .await;
            res.assert_problem(403, "policy_denied");
            assert!(
                res.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("tenant.tier.set"),
                "{body}: {res:#?}"
            );
        }
    }
    assert_eq!(app.admin_read(&tenant_path(&id)).await, before);
    // Other fields are still theirs to change; the tier is the platform's.
    app.patch(
        &admin,
        &tenant_path(&id),
        json!({"organisationName": "Mine"}),
        None,
    )
    .await
    .ok(200);
    let t = app
        .patch(
            &app.admin,
            &tenant_path(&id),
            json!({"tier": "premium"}),
            None,
        )
        .await;
    assert_eq!(t.ok(200)["tier"], "premium");
}

#[tokio::test]
async fn a_child_gets_its_parents_tier_or_a_lower_one_never_a_higher_one() {
    let app = spawn_app().await;
    let parent = app
        .post(
            &app.admin,
            "/v1/tenants",
            json!({"organisationName": "Premium parent", "tier": "premium"}),
        )
        .await
        .ok(201)["tenantId"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, admin) = app.member(&parent, "padmin@example.com", "admin").await;
    let child = |tier: Option<&str>| {
        let mut body = json!({"organisationName": "Child", "parentTenantId": parent});
        if let Some(tier) = tier {
            body["tier"] = json!(tier);
        }
        body
    };

    // No tier: the parent's.
    let inherited = app.post(&admin, "/v1/tenants", child(None)).await;
    assert_eq!(inherited.ok(201)["tier"], "premium");
    // The same or lower: as given.
    for tier in ["premium", "standard", "free"] {
        let created = app.post(&admin, "/v1/tenants", child(Some(tier))).await;
        assert_eq!(created.ok(201)["tier"], tier);
    }
    let before = app.admin_read(&tenant_path(&parent)).await;
    let tenants = app.all_tenants().await.len();
    // Higher: refused, and nothing is created.
    let res = app
        .post(&admin, "/v1/tenants", child(Some("enterprise")))
        .await;
    res.assert_problem(403, "policy_denied");
    assert!(
        res.body["detail"]
            .as_str()
            .unwrap()
            .contains("at most its parent's (premium)"),
        "{res:#?}"
    );
    assert_eq!(app.admin_read(&tenant_path(&parent)).await, before);
    assert_eq!(app.all_tenants().await.len(), tenants);

    // The platform admin gives what it likes.
    let given = app
        .post(&app.admin, "/v1/tenants", child(Some("enterprise")))
        .await;
    assert_eq!(given.ok(201)["tier"], "enterprise");
    assert_eq!(app.admin_read(&tenant_path(&parent)).await["childCount"], 5);
}
