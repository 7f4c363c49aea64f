//! Extensions: tenants' WebAssembly policies, composed with the platform's
//! RBAC guest, under hard limits, logged and replayable.

use std::time::Duration;

use bbws_tests::guests;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// A tenant with an owner and a viewer; returns (tenant, owner token, viewer token).
pub(crate) async fn tenant_with_members(app: &TestApp, name: &str) -> (String, String, String) {
    let t = app.tenant(&app.admin, name, None).await;
    let (_, owner) = app
        .member(&t, &format!("owner@{name}.example"), "owner")
        .await;
    let (_, viewer) = app
        .member(&t, &format!("viewer@{name}.example"), "viewer")
        .await;
    (t, owner, viewer)
}

fn wasm(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `POST .../decisions/{id}/replay` as `token`; its answer.
pub(crate) async fn replayed(app: &TestApp, token: &str, tenant: &str, id: &str) -> Value {
    app.post(
        token,
        &format!("/v1/tenants/{tenant}/decisions/{id}/replay"),
        json!({}),
    )
    .await
    .ok(200)
    .clone()
}

/// A policy request as the dry-run takes it.
fn request(action: &str, tenant: &str, role: &str, attributes: Value) -> Value {
    json!({
        "principal": {"userId": "usr_00000000000000000000000000000001", "platformAdmin": false},
        "action": action,
        "tenantId": tenant,
        "roles": [{"tenantId": tenant, "role": role, "inherited": false}],
        "resource": {"kind": "site", "id": "site_1", "grantsRole": null, "attributes": attributes},
        "nowMs": 0
    })
}

pub(crate) async fn dry_run(
    app: &TestApp,
    token: &str,
    tenant: &str,
    version: Option<&str>,
    input: Value,
) -> Value {
    let mut body = json!({ "input": input });
    if let Some(v) = version {
        body["version"] = json!(v);
    }
    app.post(
        token,
        &format!("/v1/tenants/{tenant}/extensions/policy/dry-run"),
        body,
    )
    .await
    .ok(200)
    .clone()
}

/// The first logged decision of a tenant that `wanted` picks, waiting for
/// the batched writer.
async fn logged(app: &TestApp, tenant: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let all = app
            .walk(&app.admin, &format!("/v1/tenants/{tenant}/decisions"), 100)
            .await;
        if let Some(d) = all.into_iter().find(|d| wanted(d)) {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no such decision was logged for {tenant}");
}

#[tokio::test]
async fn an_uploaded_policy_reports_its_version_size_imports_and_exports() {
    let app = spawn_app().await;
    let (t, owner, _) = tenant_with_members(&app, "acme").await;
    let res = app
        .upload(&owner, &t, "policy", wasm(guests::ALLOW_ALL), false)
        .await;
    let body = res.ok(201);
    let version = body["version"].as_str().unwrap();
    assert_eq!(version.len(), 64, "a sha256: {body}");
    assert_eq!(body["kind"], "policy");
    assert_eq!(body["size"], wasm(guests::ALLOW_ALL).len());
    assert_eq!(body["exports"], json!(["authorize"]));
    for import in body["imports"].as_array().unwrap() {
        assert!(
            import.as_str().unwrap().starts_with("bbws:platform/"),
            "{body}"
        );
    }
    // Not active until asked.
    let list = app
        .get(&owner, &format!("/v1/tenants/{t}/extensions"))
        .await;
    let policy = &list.ok(200)["kinds"][0];
    assert_eq!(policy["kind"], "policy");
    assert!(policy["active"].is_null(), "{policy}");
    assert_eq!(policy["versions"][0]["version"], version);
}

#[tokio::test]
async fn uploads_that_are_not_policy_components_are_refused_with_their_reason() {
    let app = spawn_app().await;
    let (t, owner, _) = tenant_with_members(&app, "acme").await;
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let cases: [(&str, Vec<u8>, &str, &str); 5] = [
        ("random bytes", random, "not_wasm", "not WebAssembly"),
        (
            "a core module",
            core_module,
            "not_a_component",
            "core WebAssembly module",
        ),
        (
            "the wrong world",
            wasm(guests::WRONG_WORLD),
            "wrong_world",
            "authorize",
        ),
        (
            "a forbidden import",
            wat::parse_str(
                r#"(component (import "wasi:http/outgoing-handler@0.2.10" (instance)))"#,
            )
            .unwrap(),
            "forbidden_import",
            "wasi:http/outgoing-handler@0.2.10",
        ),
        (
            "too large",
            vec![0; 32 * 1024 * 1024 + 1],
            "component_too_large",
            "limit",
        ),
    ];
    for (what, bytes, code, mention) in cases {
        let res = app.upload(&owner, &t, "policy", bytes, true).await;
        res.assert_problem(422, code);
        let detail = res.body["detail"].as_str().unwrap();
        assert!(detail.contains(mention), "{what}: {detail}");
    }
    let list = app
        .get(&owner, &format!("/v1/tenants/{t}/extensions"))
        .await;
    assert_eq!(
        list.ok(200)["kinds"][0]["versions"],
        json!([]),
        "nothing was stored"
    );
    app.get(&owner, &format!("/v1/tenants/{t}")).await.ok(200);
}

#[tokio::test]
async fn an_event_filter_is_accepted_as_one_and_a_policy_is_not() {
    let app = spawn_app().await;
    let (t, owner, _) = tenant_with_members(&app, "acme").await;
    let res = app
        .upload(
            &owner,
            &t,
            "event-filter",
            wasm(guests::EVENT_FILTER_BY_TYPE),
            false,
        )
        .await;
    let body = res.ok(201);
    assert_eq!(body["kind"], "event-filter");
    assert_eq!(body["exports"], json!(["filter"]));

    let res = app
        .upload(&owner, &t, "event-filter", wasm(guests::ALLOW_ALL), false)
        .await;
    res.assert_problem(422, "wrong_world");
    let detail = res.body["detail"].as_str().unwrap();
    assert!(detail.contains("`filter`"), "{detail}");
}

#[tokio::test]
async fn an_upload_must_be_sent_as_wasm_of_a_known_kind() {
    let app = spawn_app().await;
    let (t, owner, _) = tenant_with_members(&app, "acme").await;
    let path = format!("/v1/tenants/{t}/extensions/policy");
    app.raw_bytes(
        "PUT",
        &path,
        &owner,
        wasm(guests::ALLOW_ALL),
        "application/json",
    )
    .await
    .assert_problem(415, "unsupported_media_type");
    app.raw_bytes(
        "PUT",
        &format!("/v1/tenants/{t}/extensions/widget"),
        &owner,
        wasm(guests::ALLOW_ALL),
        "application/wasm",
    )
    .await
    .assert_problem(404, "extension_kind_not_found");
}

/// Each hostile guest, active on a tenant, fails closed with its own code;
/// the server then answers the next request normally.
#[tokio::test]
async fn hostile_guests_fail_closed_each_with_its_own_error() {
    let app = spawn_app().await;
    let (other, other_owner, _) = tenant_with_members(&app, "bystander").await;
    // The premium tier's 25 ms deadline leaves the guests that fail
    // otherwise (memory, traps, output) room to fail their own way on a
    // loaded test machine. The host-call flood runs on the free tier, whose
    // budget (200 calls in 5 ms) is the most generous per call.
    let cases = [
        (guests::INFINITE_LOOP, "guest_timeout", "premium"),
        (guests::MEMORY_HOG, "guest_limit", "premium"),
        (guests::DEEP_RECURSION, "guest_trap", "premium"),
        (guests::HUGE_OUTPUT, "guest_output_too_large", "premium"),
        (guests::PANICS, "guest_trap", "premium"),
        (guests::HOST_CALL_FLOOD, "guest_host_calls", "free"),
    ];
    for (i, (path, code, tier)) in cases.into_iter().enumerate() {
        let (t, owner, viewer) = tenant_with_members(&app, &format!("hostile{i}")).await;
        app.patch(
            &app.admin,
            &format!("/v1/tenants/{t}"),
            json!({"tier": tier}),
            None,
        )
        .await
        .ok(200);
        let version = app.activate_policy(&owner, &t, path).await;

        // The dry run names the failure and took no longer than the limits allow.
        let run = dry_run(
            &app,
            &owner,
            &t,
            Some(&version),
            request("tenant.read", &t, "viewer", json!([])),
        )
        .await;
        assert_eq!(run["decision"], "error", "{path}: {run}");
        assert_eq!(run["error"], code, "{path}: {run}");
        assert!(
            run["durationUs"].as_u64().unwrap() < 2_000_000,
            "{path} ran {run}"
        );

        // A real request through it is denied, with the reason.
        let res = app.get(&viewer, &format!("/v1/tenants/{t}")).await;
        res.assert_problem(403, "policy_denied");
        assert!(
            res.body["detail"].as_str().unwrap().contains(code),
            "{path}: {res:#?}"
        );
        // And with the guest's error as a field a client can branch on.
        assert_eq!(res.body["guestError"]["code"], code, "{path}: {res:#?}");
        let component = res.body["guestError"]["component"].as_str().unwrap();
        assert!(
            component.len() == 64 && component.bytes().all(|b| b.is_ascii_hexdigit()),
            "{path}: {res:#?}"
        );

        // The server keeps serving: another tenant, and this one after a reset.
        app.get(&other_owner, &format!("/v1/tenants/{other}"))
            .await
            .ok(200);
        app.delete(&owner, &format!("/v1/tenants/{t}/extensions/policy"))
            .await
            .ok(200);
        app.get(&viewer, &format!("/v1/tenants/{t}")).await.ok(200);
    }
}

/// `/metrics` reports the compiled cache in bytes against its limit, and
/// the guest pool.
#[tokio::test]
async fn metrics_show_the_compiled_cache_in_bytes_and_the_guest_pool() {
    let app = crate::helpers::spawn_app_with(|c| c.guests.cache_bytes = 64 << 20).await;
    let (t, owner, viewer) = tenant_with_members(&app, "acme").await;
    app.activate_policy(&owner, &t, guests::ALLOW_ALL).await;
    app.get(&viewer, &format!("/v1/tenants/{t}")).await.ok(200);
    let res = app.request("GET", "/metrics", None, None, &[]).await;
    let text = res.body.as_str().expect("a text body");
    let gauge = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(gauge("bbws_guest_cache_limit_bytes"), 64 << 20);
    assert!(
        gauge("bbws_guest_cache_entries") >= 2,
        "the platform's and the tenant's"
    );
    let bytes = gauge("bbws_guest_cache_bytes");
    assert!(bytes > 0 && bytes <= 64 << 20, "{bytes}");
    assert!(gauge("bbws_guest_pool_slots") >= 1);
    assert_eq!(gauge("bbws_guest_pool_refused_total"), 0);
}

#[tokio::test]
async fn an_allow_everything_policy_cannot_grant_what_rbac_denies() {
    let app = spawn_app().await;
    let (t, owner, viewer) = tenant_with_members(&app, "acme").await;
    app.activate_policy(&owner, &t, guests::ALLOW_ALL).await;
    let res = app
        .patch(
            &viewer,
            &format!("/v1/tenants/{t}"),
            json!({"organisationName": "Mine"}),
            None,
        )
        .await;
    res.assert_problem(403, "policy_denied");
    assert!(
        res.body["detail"]
            .as_str()
            .unwrap()
            .contains("requires admin"),
        "{res:#?}"
    );
    assert_eq!(
        app.get(&owner, &format!("/v1/tenants/{t}")).await.ok(200)["organisationName"],
        "acme"
    );
}

#[tokio::test]
async fn a_parents_policy_binds_its_children() {
    let app = spawn_app().await;
    let (parent, parent_owner, _) = tenant_with_members(&app, "parent").await;
    let child = app.tenant(&app.admin, "child", Some(&parent)).await;
    let (_, child_owner) = app.member(&child, "owner@child.example", "owner").await;
    app.get(&child_owner, &format!("/v1/tenants/{child}"))
        .await
        .ok(200);

    app.activate_policy(&parent_owner, &parent, guests::DENY_ALL)
        .await;
    let res = app.get(&child_owner, &format!("/v1/tenants/{child}")).await;
    res.assert_problem(403, "policy_denied");
    assert!(
        res.body["detail"].as_str().unwrap().contains(&parent),
        "names the parent: {res:#?}"
    );
    // A guest that decided is not a guest that failed.
    assert!(res.body.get("guestError").is_none(), "{res:#?}");
    // The platform admin answers to the platform policy alone.
    app.get(&app.admin, &format!("/v1/tenants/{child}"))
        .await
        .ok(200);
}

#[tokio::test]
async fn activate_and_rollback_switch_behaviour_on_the_next_request() {
    let app = spawn_app().await;
    let (t, owner, viewer) = tenant_with_members(&app, "acme").await;
    let read = format!("/v1/tenants/{t}");
    let allow = app.activate_policy(&owner, &t, guests::ALLOW_ALL).await;
    app.get(&viewer, &read).await.ok(200);

    let deny = app.activate_policy(&owner, &t, guests::DENY_ALL).await;
    app.get(&viewer, &read)
        .await
        .assert_problem(403, "policy_denied");

    let slot = app
        .post(
            &owner,
            &format!("/v1/tenants/{t}/extensions/policy/rollback"),
            json!({}),
        )
        .await;
    assert_eq!(slot.ok(200)["active"], allow.as_str());
    app.get(&viewer, &read).await.ok(200);

    // Activate by version, then back to the platform default.
    let slot = app
        .post(
            &owner,
            &format!("/v1/tenants/{t}/extensions/policy/activate"),
            json!({"version": deny}),
        )
        .await;
    assert_eq!(slot.ok(200)["active"], deny.as_str());
    app.get(&viewer, &read)
        .await
        .assert_problem(403, "policy_denied");
    app.delete(&owner, &format!("/v1/tenants/{t}/extensions/policy"))
        .await
        .ok(200);
    app.get(&viewer, &read).await.ok(200);
    // Nothing left to roll back to after a reset.
    app.post(
        &owner,
        &format!("/v1/tenants/{t}/extensions/policy/rollback"),
        json!({}),
    )
    .await
    .assert_problem(409, "nothing_to_roll_back");
}

#[tokio::test]
async fn activating_a_version_never_uploaded_is_refused() {
    let app = spawn_app().await;
    let (t, owner, viewer) = tenant_with_members(&app, "acme").await;
    app.post(
        &owner,
        &format!("/v1/tenants/{t}/extensions/policy/activate"),
        json!({"version": "0".repeat(64)}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.get(&viewer, &format!("/v1/tenants/{t}")).await.ok(200);
}

#[tokio::test]
async fn decisions_are_logged_with_their_components_and_replay_the_same() {
    let app = spawn_app().await;
    let (t, owner, viewer) = tenant_with_members(&app, "acme").await;
    let version = app.activate_policy(&owner, &t, guests::DENY_ALL).await;
    app.get(&viewer, &format!("/v1/tenants/{t}"))
        .await
        .assert_problem(403, "policy_denied");

    let denied = logged(&app, &t, |d| {
        d["decision"] == "deny" && d["action"] == "tenant.read"
    })
    .await;
    let components = denied["components"].as_array().unwrap();
    assert_eq!(
        components.len(),
        2,
        "the platform RBAC, then the tenant's policy: {denied}"
    );
    assert_eq!(components[0]["source"], "platform");
    assert_eq!(components[0]["decision"], "allow");
    assert_eq!(components[1]["source"], t.as_str());
    assert_eq!(components[1]["component"], version.as_str());
    assert_eq!(denied["input"]["request"]["action"], "tenant.read");

    let id = denied["decisionId"].as_str().unwrap();
    let replay = replayed(&app, &owner, &t, id).await;
    assert_eq!(replay["same"], true, "{replay}");
    assert_eq!(replay["replayed"][1]["decision"], "deny");
}

/// A tenant policy looks sites up through the `sites` interface: here it
/// refuses anything about a PROD site. The decision log keeps the site it
/// looked up (and only that one), so a replay decides the same even after
/// the site has changed again.
#[tokio::test]
async fn a_policy_decides_on_a_site_it_looked_up_and_replays_on_what_it_saw() {
    let app = spawn_app().await;
    let (t, owner, _) = tenant_with_members(&app, "lookups").await;
    let shop = app.site(&app.admin, &t, "shop").await;
    let blog = app.site(&app.admin, &t, "blog").await;
    app.activate_policy(&owner, &t, guests::SITE_LOOKUP).await;
    let site = |id: &str| format!("/v1/tenants/{t}/sites/{id}");
    app.get(&owner, &site(&shop)).await.ok(200);

    for target in ["SIT", "PROD"] {
        let res = app
            .post(
                &owner,
                &format!("{}/promote", site(&shop)),
                json!({"targetEnvironment": target}),
            )
            .await;
        let op = res.ok(202)["operationId"].as_str().unwrap().to_string();
        // The platform admin answers to the platform policy alone.
        assert_eq!(
            app.wait_operation(&app.admin, &op).await["status"],
            "SUCCEEDED"
        );
    }
    let refused = app.get(&owner, &site(&shop)).await;
    refused.assert_problem(403, "policy_denied");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("site-lookup: shop is PROD"),
        "{}",
        refused.body
    );
    app.get(&owner, &site(&blog)).await.ok(200);

    let denied = logged(&app, &t, |d| {
        d["decision"] == "deny" && d["resourceId"] == shop.as_str()
    })
    .await;
    let seen = denied["input"]["scope"]["sites"].as_array().unwrap();
    assert_eq!(seen.len(), 1, "only the site it looked up: {denied}");
    assert_eq!(seen[0]["id"], shop.as_str());
    assert_eq!(seen[0]["environment"], "PROD");
    let id = denied["decisionId"].as_str().unwrap();
    let replay = replayed(&app, &owner, &t, id).await;
    assert_eq!(replay["same"], true, "{replay}");
    assert_eq!(replay["replayed"][1]["reason"], "site-lookup: shop is PROD");
}

#[tokio::test]
async fn guests_see_only_their_own_tenant_tree() {
    let app = spawn_app().await;
    let (t, owner, _) = tenant_with_members(&app, "acme").await;
    let (other, _, _) = tenant_with_members(&app, "other").await;
    app.upload(&owner, &t, "policy", wasm(guests::TENANT_ECHO), false)
        .await
        .ok(201);
    let version = crate::extensions::version_of(guests::TENANT_ECHO);
    // The guest looks up its own tenant, and the tenant named by the
    // resource id: another tenant's, which exists but is outside its tree.
    let mut input = request("tenant.read", &t, "viewer", json!([]));
    input["resource"]["id"] = json!(other);
    let run = dry_run(&app, &owner, &t, Some(&version), input).await;
    let reason = run["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("own={t}|acme|active|-|standard")),
        "{reason}"
    );
    assert!(
        reason.contains("other=none"),
        "another tenant is invisible: {reason}"
    );
}

/// The sha256 a component is named by.
pub fn version_of(path: &str) -> String {
    use std::fmt::Write as _;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(wasm(path));
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[tokio::test]
async fn the_example_plugin_allow_list_narrows_plugin_installs() {
    let app = spawn_app().await;
    let (t, owner, _) = tenant_with_members(&app, "acme").await;
    let version = app
        .activate_policy(&owner, &t, guests::EXAMPLE_PLUGIN_ALLOWLIST)
        .await;
    let ask = |plugin: &str| {
        request(
            "site.plugin.manage",
            &t,
            "operator",
            json!([["plugin", plugin]]),
        )
    };
    let ok = dry_run(&app, &owner, &t, Some(&version), ask("akismet")).await;
    assert_eq!(ok["decision"], "allow", "{ok}");
    let no = dry_run(&app, &owner, &t, Some(&version), ask("evil-miner")).await;
    assert_eq!(no["decision"], "deny", "{no}");
    assert!(
        no["reason"].as_str().unwrap().contains("evil-miner"),
        "{no}"
    );
}

#[tokio::test]
async fn the_example_keeps_operators_from_promoting_to_prod() {
    let app = spawn_app().await;
    let (t, owner, _) = tenant_with_members(&app, "acme").await;
    let version = app
        .activate_policy(&owner, &t, guests::EXAMPLE_NO_PROD_FOR_OPERATORS)
        .await;
    let promote = |role: &str, target: &str| {
        request(
            "site.promote",
            &t,
            role,
            json!([["targetEnvironment", target]]),
        )
    };
    let op_prod = dry_run(
        &app,
        &owner,
        &t,
        Some(&version),
        promote("operator", "PROD"),
    )
    .await;
    assert_eq!(op_prod["decision"], "deny", "{op_prod}");
    let op_sit = dry_run(&app, &owner, &t, Some(&version), promote("operator", "SIT")).await;
    assert_eq!(op_sit["decision"], "allow", "{op_sit}");
    let admin_prod = dry_run(&app, &owner, &t, Some(&version), promote("admin", "PROD")).await;
    assert_eq!(admin_prod["decision"], "allow", "{admin_prod}");
}

#[tokio::test]
async fn another_tenants_owner_cannot_see_or_touch_extensions() {
    let app = spawn_app().await;
    let (a, a_owner, _) = tenant_with_members(&app, "alpha").await;
    let (_, b_owner, _) = tenant_with_members(&app, "beta").await;
    let active = app.activate_policy(&a_owner, &a, guests::ALLOW_ALL).await;
    let base = format!("/v1/tenants/{a}");
    for res in [
        app.get(&b_owner, &format!("{base}/extensions")).await,
        app.get(&b_owner, &format!("{base}/extensions/activations"))
            .await,
        app.get(&b_owner, &format!("{base}/extensions/policy/versions"))
            .await,
        app.delete(
            &b_owner,
            &format!("{base}/extensions/policy/versions/{active}"),
        )
        .await,
        app.get(&b_owner, &format!("{base}/decisions")).await,
        app.upload(&b_owner, &a, "policy", wasm(guests::DENY_ALL), true)
            .await,
        app.post(
            &b_owner,
            &format!("{base}/extensions/policy/rollback"),
            json!({}),
        )
        .await,
        app.delete(&b_owner, &format!("{base}/extensions/policy"))
            .await,
        app.post(
            &b_owner,
            &format!("{base}/extensions/policy/dry-run"),
            json!({"input": request("tenant.read", &a, "viewer", json!([]))}),
        )
        .await,
    ] {
        res.assert_problem(404, "tenant_not_found");
    }
    let history = app
        .walk(&a_owner, &format!("{base}/extensions/activations"), 10)
        .await;
    assert_eq!(history.len(), 1, "{history:?}");
    let list = app.get(&a_owner, &format!("{base}/extensions")).await;
    assert_eq!(
        list.ok(200)["kinds"][0]["versions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// Authorization comes first: another tenant's owner cannot tell a version
/// (or a kind) the tenant has from one it has not.
#[tokio::test]
async fn another_tenants_owner_activating_learns_nothing_of_the_versions() {
    let app = spawn_app().await;
    let (a, a_owner, _) = tenant_with_members(&app, "alpha").await;
    let (_, b_owner, _) = tenant_with_members(&app, "beta").await;
    let uploaded = app.activate_policy(&a_owner, &a, guests::ALLOW_ALL).await;
    app.upload(&a_owner, &a, "policy", wasm(guests::DENY_ALL), false)
        .await
        .ok(201);
    let before = app
        .get(&a_owner, &format!("/v1/tenants/{a}/extensions"))
        .await;
    let activate = |kind: &str, version: String| {
        let path = format!("/v1/tenants/{a}/extensions/{kind}/activate");
        let (app, b_owner) = (&app, &b_owner);
        async move { app.post(b_owner, &path, json!({"version": version})).await }
    };
    let missing = activate("policy", "0".repeat(64)).await;
    let existing = activate("policy", uploaded.clone()).await;
    let bad_kind = activate("bogus", uploaded).await;
    missing.assert_problem(404, "tenant_not_found");
    for res in [&existing, &bad_kind] {
        assert_eq!(res.status, missing.status, "{res:#?}");
        assert_eq!(res.body, missing.body, "{res:#?}");
    }
    for path in ["policy/rollback", "bogus/rollback"] {
        app.post(
            &b_owner,
            &format!("/v1/tenants/{a}/extensions/{path}"),
            json!({}),
        )
        .await
        .assert_problem(404, "tenant_not_found");
    }
    app.delete(&b_owner, &format!("/v1/tenants/{a}/extensions/bogus"))
        .await
        .assert_problem(404, "tenant_not_found");
    let after = app
        .get(&a_owner, &format!("/v1/tenants/{a}/extensions"))
        .await;
    assert_eq!(after.ok(200), before.ok(200));
}

#[tokio::test]
async fn a_viewer_cannot_manage_extensions() {
    let app = spawn_app().await;
    let (t, _, viewer) = tenant_with_members(&app, "acme").await;
    app.upload(&viewer, &t, "policy", wasm(guests::ALLOW_ALL), true)
        .await
        .assert_problem(403, "policy_denied");
    app.get(&viewer, &format!("/v1/tenants/{t}/extensions"))
        .await
        .ok(200);
}

/// `path`'s component with a custom section carrying `n`: the same guest
/// under another version (sha256).
pub fn variant(path: &str, n: usize) -> Vec<u8> {
    let mut bytes = wasm(path);
    let (name, payload) = (b"bbws-test", n.to_string());
    // Section id 0 (custom), its size, then the name's length and bytes:
    // every length here is below 128, one byte of LEB128.
    bytes.push(0);
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload.as_bytes());
    bytes
}

/// Uploads `wasm` as a policy of `tenant`; answers its version.
async fn upload_policy(app: &TestApp, token: &str, tenant: &str, wasm: Vec<u8>) -> String {
    let res = app.upload(token, tenant, "policy", wasm, false).await;
    res.ok(201)["version"].as_str().unwrap().to_string()
}

async fn activate(app: &TestApp, token: &str, tenant: &str, version: &str) -> Value {
    app.post(
        token,
        &format!("/v1/tenants/{tenant}/extensions/policy/activate"),
        json!({ "version": version }),
    )
    .await
    .ok(200)
    .clone()
}

/// The tenant record keeps the last 20 versions a rollback returns to;
/// every activation, rollback and reset is kept beside it, one item each,
/// and listed newest first.
#[tokio::test]
async fn the_tenant_keeps_twenty_rollback_targets_and_the_whole_history_beside_it() {
    let app = spawn_app().await;
    let (t, owner, viewer) = tenant_with_members(&app, "acme").await;
    let a = upload_policy(&app, &owner, &t, wasm(guests::ALLOW_ALL)).await;
    let b = upload_policy(&app, &owner, &t, variant(guests::ALLOW_ALL, 1)).await;
    for i in 0..25 {
        activate(&app, &owner, &t, if i % 2 == 0 { &a } else { &b }).await;
    }
    // Activating what is active changes nothing and records nothing.
    activate(&app, &owner, &t, &a).await;

    let record = app.admin_read(&format!("/v1/tenants/{t}")).await;
    let slot = &record["extensions"]["policy"];
    assert_eq!(slot["active"], a.as_str());
    assert_eq!(slot["history"].as_array().unwrap().len(), 20, "{record}");
    assert_eq!(record["activationCount"], 25, "{record}");
    let list = app
        .get(&owner, &format!("/v1/tenants/{t}/extensions"))
        .await;
    assert_eq!(list.ok(200)["kinds"][0]["history"], slot["history"]);

    let history = format!("/v1/tenants/{t}/extensions/activations");
    let all = app.walk(&viewer, &history, 7).await;
    assert_eq!(all.len(), 25);
    let sequences: Vec<u64> = all
        .iter()
        .map(|r| r["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, (1..=25).rev().collect::<Vec<u64>>());
    let first = all.last().unwrap();
    assert_eq!(first["action"], "activate");
    assert_eq!(first["kind"], "policy");
    assert_eq!(first["version"], a.as_str());
    assert!(first["previous"].is_null(), "{first}");
    assert!(first["by"].as_str().unwrap().starts_with("usr_"), "{first}");
    assert_eq!(all[0]["version"], a.as_str());
    assert_eq!(all[0]["previous"], b.as_str());

    // Rollback still works, 20 steps back, each one recorded.
    for step in 0..20 {
        let slot = app
            .post(
                &owner,
                &format!("/v1/tenants/{t}/extensions/policy/rollback"),
                json!({}),
            )
            .await;
        let want = if step % 2 == 0 { &b } else { &a };
        assert_eq!(slot.ok(200)["active"], want.as_str(), "step {step}");
    }
    app.post(
        &owner,
        &format!("/v1/tenants/{t}/extensions/policy/rollback"),
        json!({}),
    )
    .await
    .assert_problem(409, "nothing_to_roll_back");
    app.delete(&owner, &format!("/v1/tenants/{t}/extensions/policy"))
        .await
        .ok(200);
    let newest = app.get(&viewer, &format!("{history}?limit=2")).await;
    let newest = newest.ok(200);
    assert_eq!(newest["items"][0]["sequence"], 46);
    assert_eq!(newest["items"][0]["action"], "reset");
    assert!(newest["items"][0]["version"].is_null(), "{newest}");
    assert_eq!(newest["items"][1]["action"], "rollback");
    assert!(newest["nextCursor"].is_string(), "{newest}");

    // By kind; a kind that is none is a validation error.
    let templates = app.get(&viewer, &format!("{history}?kind=template")).await;
    assert_eq!(templates.ok(200)["items"], json!([]));
    app.get(&viewer, &format!("{history}?kind=bogus"))
        .await
        .assert_problem(422, "validation_failed");
}

/// A free tenant keeps 10 versions of a kind: the 11th is refused until
/// one is deleted. The active version cannot be; one a rollback would
/// return to can, and leaves the rollback history.
#[tokio::test]
async fn a_free_tenant_keeps_ten_versions_of_a_kind_and_deletes_old_ones() {
    let app = spawn_app().await;
    let created = app
        .post(
            &app.admin,
            "/v1/tenants",
            json!({"organisationName": "frugal", "tier": "free"}),
        )
        .await;
    let t = created.ok(201)["tenantId"].as_str().unwrap().to_string();
    let (_, owner) = app.member(&t, "owner@frugal.example", "owner").await;
    let mut versions = Vec::new();
    for n in 0..10 {
        versions.push(upload_policy(&app, &owner, &t, variant(guests::ALLOW_ALL, n)).await);
    }
    // The same bytes again are the same version, answered as stored.
    let again = app
        .upload(&owner, &t, "policy", variant(guests::ALLOW_ALL, 0), false)
        .await;
    assert_eq!(again.ok(201)["version"], versions[0].as_str());
    let full = app
        .upload(&owner, &t, "policy", variant(guests::ALLOW_ALL, 10), false)
        .await;
    full.assert_problem(409, "component_versions_full");
    assert!(
        full.body["detail"].as_str().unwrap().contains("10"),
        "{full:#?}"
    );

    // Every version, a page at a time.
    let listed = app
        .walk(
            &owner,
            &format!("/v1/tenants/{t}/extensions/policy/versions"),
            3,
        )
        .await;
    let mut listed: Vec<String> = listed
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    let mut want = versions.clone();
    want.sort();
    assert_eq!(listed, want);

    activate(&app, &owner, &t, &versions[0]).await;
    activate(&app, &owner, &t, &versions[1]).await;
    let version = |v: &str| format!("/v1/tenants/{t}/extensions/policy/versions/{v}");
    app.delete(&owner, &version(&versions[1]))
        .await
        .assert_problem(409, "extension_version_active");
    let deleted = app.delete(&owner, &version(&versions[0])).await;
    assert_eq!(deleted.status, 204, "{deleted:#?}");
    app.delete(&owner, &version(&versions[0]))
        .await
        .assert_problem(404, "extension_version_not_found");
    app.delete(&owner, &version("junk"))
        .await
        .assert_problem(404, "extension_version_not_found");
    app.delete(
        &owner,
        &format!("/v1/tenants/{t}/extensions/bogus/versions/{}", versions[2]),
    )
    .await
    .assert_problem(404, "extension_kind_not_found");
    // It left the rollback history, and cannot be activated again.
    let list = app
        .get(&owner, &format!("/v1/tenants/{t}/extensions"))
        .await;
    let policy = &list.ok(200)["kinds"][0];
    assert_eq!(policy["history"], json!([]));
    assert_eq!(policy["versions"].as_array().unwrap().len(), 9);
    app.post(
        &owner,
        &format!("/v1/tenants/{t}/extensions/policy/rollback"),
        json!({}),
    )
    .await
    .assert_problem(409, "nothing_to_roll_back");
    app.post(
        &owner,
        &format!("/v1/tenants/{t}/extensions/policy/activate"),
        json!({"version": versions[0]}),
    )
    .await
    .assert_problem(422, "validation_failed");

    // There is room again.
    upload_policy(&app, &owner, &t, variant(guests::ALLOW_ALL, 10)).await;
    app.upload(&owner, &t, "policy", variant(guests::ALLOW_ALL, 11), false)
        .await
        .assert_problem(409, "component_versions_full");
}
