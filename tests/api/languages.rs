//! Guests in any language: the same policy written in Rust (the SDK), in
//! Python (componentize-py) and in JavaScript (componentize-js) decides the
//! same on the same requests, its decisions replay exactly, and a Python
//! guest that never answers is stopped at its deadline. And the WASI every
//! such guest imports grants nothing: a Rust `std` guest finds no file, no
//! environment, the decision's time and random bytes a replay reads again.
//!
//! The Python and JavaScript guests are built by
//! `scripts/build-language-guests.sh` (`scripts/with-language-guests.sh`
//! runs a command with them); without them those tests say they skipped.

use std::path::PathBuf;

use bbws_tests::guests;
use serde_json::{Value, json};

use crate::extensions::{dry_run, replayed, tenant_with_members};
use crate::helpers::{TestApp, spawn_app};

fn built(dir: &std::path::Path, name: &str) -> Vec<u8> {
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn language_guests(what: &str) -> Option<PathBuf> {
    bbws_testkit::language_guests(what)
}

/// Uploads `wasm` as a policy of `tenant` (not activated); its version.
async fn uploaded(app: &TestApp, token: &str, tenant: &str, wasm: Vec<u8>) -> String {
    let up = app.upload(token, tenant, "policy", wasm, false).await;
    up.ok(201)["version"].as_str().unwrap().to_string()
}

/// Requests across what the policy looks at: actions, target environments
/// (also named twice), the caller's roles, platform admins.
fn requests(tenant: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let actions = [
        "site.promote",
        "site.read",
        "tenant.read",
        "site.plugin.manage",
    ];
    let targets: [Value; 4] = [
        json!([["targetEnvironment", "PROD"]]),
        json!([["targetEnvironment", "SIT"]]),
        json!([]),
        json!([["targetEnvironment", "PROD"], ["targetEnvironment", "SIT"]]),
    ];
    let roles: [&[&str]; 5] = [
        &[],
        &["viewer"],
        &["operator"],
        &["operator", "admin"],
        &["owner", "viewer"],
    ];
    for action in actions {
        for attributes in &targets {
            for held in roles {
                for admin in [false, true] {
                    let roles: Vec<Value> = held
                        .iter()
                        .map(|r| json!({"tenantId": tenant, "role": r, "inherited": false}))
                        .collect();
                    all.push(json!({
                        "principal": {"userId": "usr_00000000000000000000000000000001", "platformAdmin": admin},
                        "action": action,
                        "tenantId": tenant,
                        "roles": roles,
                        "resource": {"kind": "site", "id": "site_1", "grantsRole": null, "attributes": attributes},
                        "nowMs": 1_700_000_000_000u64
                    }));
                }
            }
        }
    }
    all
}

/// The latest logged denial of a promotion in `tenant` other than `not`.
async fn denied_promotion(app: &TestApp, tenant: &str, not: Option<&str>) -> Value {
    for _ in 0..200 {
        let all = app
            .walk(&app.admin, &format!("/v1/tenants/{tenant}/decisions"), 100)
            .await;
        if let Some(d) = all.into_iter().find(|d| {
            d["decision"] == "deny"
                && d["action"] == "site.promote"
                && Some(d["decisionId"].as_str().unwrap()) != not
        }) {
            return d;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no denied promotion was logged for {tenant}");
}

#[tokio::test]
async fn python_and_javascript_policies_decide_as_the_rust_one_and_replay_exactly() {
    let Some(dir) = language_guests("the Python and JavaScript policies") else {
        return;
    };
    let app = spawn_app().await;
    let (t, owner, _) = tenant_with_members(&app, "polyglot").await;
    let rust_wasm = std::fs::read(guests::EXAMPLE_NO_PROD_FOR_OPERATORS).unwrap();
    let rust = uploaded(&app, &owner, &t, rust_wasm).await;
    let python = uploaded(&app, &owner, &t, built(&dir, "policy-python")).await;
    let js = uploaded(&app, &owner, &t, built(&dir, "policy-js")).await;

    let inputs = requests(&t);
    assert!(inputs.len() >= 50, "{} requests", inputs.len());
    let (mut allowed, mut denied) = (0, 0);
    for input in &inputs {
        let expected = dry_run(&app, &owner, &t, Some(&rust), input.clone()).await;
        assert_eq!(expected["error"], Value::Null, "{expected}");
        for (language, version) in [("Python", &python), ("JavaScript", &js)] {
            let got = dry_run(&app, &owner, &t, Some(version), input.clone()).await;
            assert_eq!(
                (&got["decision"], &got["reason"]),
                (&expected["decision"], &expected["reason"]),
                "{language} on {input}"
            );
        }
        match expected["decision"].as_str().unwrap() {
            "allow" => allowed += 1,
            _ => denied += 1,
        }
    }
    assert!(
        allowed > 0 && denied > 0,
        "{allowed} allowed, {denied} denied"
    );

    // Active, each decides a real request the same way, and its decision
    // replays the same.
    let site = app.site(&app.admin, &t, "shop").await;
    let (_, operator) = app.member(&t, "op@polyglot.example", "operator").await;
    let mut seen = None;
    for version in [&python, &js] {
        app.post(
            &owner,
            &format!("/v1/tenants/{t}/extensions/policy/activate"),
            json!({"version": version}),
        )
        .await
        .ok(200);
        let refused = app
            .post(
                &operator,
                &format!("/v1/tenants/{t}/sites/{site}/promote"),
                json!({"targetEnvironment": "PROD"}),
            )
            .await;
        refused.assert_problem(403, "policy_denied");
        let detail = refused.body["detail"].as_str().unwrap();
        assert!(detail.contains("takes admin; holds operator"), "{detail}");

        let logged = denied_promotion(&app, &t, seen.as_deref()).await;
        assert_eq!(logged["components"][1]["component"], version.as_str());
        let id = logged["decisionId"].as_str().unwrap().to_string();
        let replay = replayed(&app, &owner, &t, &id).await;
        assert_eq!(replay["same"], true, "{replay}");
        assert_eq!(replay["replayed"][1]["decision"], "deny");
        seen = Some(id);
    }
}

#[tokio::test]
async fn language_runtimes_need_a_tier_that_takes_their_size() {
    let Some(dir) = language_guests("the Python policy's tier check") else {
        return;
    };
    let app = spawn_app().await;
    let (t, owner, _) = tenant_with_members(&app, "frugal").await;
    app.patch(
        &app.admin,
        &format!("/v1/tenants/{t}"),
        json!({"tier": "free"}),
        None,
    )
    .await
    .ok(200);
    let python = built(&dir, "policy-python");
    let refused = app.upload(&owner, &t, "policy", python, false).await;
    refused.assert_problem(422, "component_too_large");
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(detail.contains("tier"), "{detail}");
    let listed = app
        .get(&owner, &format!("/v1/tenants/{t}/extensions"))
        .await;
    assert_eq!(listed.ok(200)["kinds"][0]["versions"], json!([]));
}

#[tokio::test]
async fn a_python_policy_that_loops_forever_is_stopped_at_its_deadline() {
    let Some(dir) = language_guests("the looping Python policy") else {
        return;
    };
    let app = spawn_app().await;
    let (t, owner, _) = tenant_with_members(&app, "spinner").await;
    let version = uploaded(&app, &owner, &t, built(&dir, "python-infinite-loop")).await;
    let input = &requests(&t)[0];
    let result = dry_run(&app, &owner, &t, Some(&version), input.clone()).await;
    assert_eq!(result["decision"], "error", "{result}");
    assert_eq!(result["error"], "guest_timeout", "{result}");
    // The standard tier's deadline is 10 ms: stopped there, not when the
    // request gave up (a loop that ran on would hold its thread for ever).
    let took = result["durationUs"].as_u64().unwrap();
    assert!(took < 500_000, "stopped after {took} us");
}

/// A Rust guest on `std` imports WASI; what each import gives it is in its
/// reason (guests/test-programs/std-wasi).
#[tokio::test]
async fn a_guest_that_imports_wasi_gets_nothing_but_a_pinned_clock_and_seeded_random() {
    let app = spawn_app().await;
    let (t, owner, viewer) = tenant_with_members(&app, "wasi").await;
    let wasm = std::fs::read(guests::STD_WASI).unwrap();
    let up = app.upload(&owner, &t, "policy", wasm, true).await;
    let body = up.ok(201);
    let imports: Vec<&str> = body["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(
        imports.iter().any(|i| i.starts_with("wasi:filesystem/")),
        "{imports:?}"
    );

    for _ in 0..2 {
        app.get(&viewer, &format!("/v1/tenants/{t}")).await.ok(200);
    }
    let mut logged = Vec::new();
    for _ in 0..200 {
        logged = app
            .walk(&app.admin, &format!("/v1/tenants/{t}/decisions"), 100)
            .await
            .into_iter()
            .filter(|d| {
                d["action"] == "tenant.read" && d["components"].as_array().unwrap().len() == 2
            })
            .collect();
        if logged.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(logged.len() >= 2, "{logged:?}");
    let mut randoms = Vec::new();
    for d in &logged[..2] {
        let reason = d["components"][1]["reason"].as_str().unwrap();
        let now = d["input"]["request"]["nowMs"].as_u64().unwrap();
        assert!(
            reason.starts_with(&format!("std-wasi: file NotFound; now {now}; random ")),
            "no preopened file, the decision's clock: {reason}"
        );
        assert!(reason.ends_with("; vars 0; args 0"), "{reason}");
        randoms.push(reason.split("random ").nth(1).unwrap().to_string());
        let id = d["decisionId"].as_str().unwrap();
        let replay = replayed(&app, &owner, &t, id).await;
        assert_eq!(replay["same"], true, "the same clock and bytes: {replay}");
    }
    assert_ne!(randoms[0], randoms[1], "each decision its own bytes");

    // An hour's sleep is over at once: the clock does not advance, and a
    // wait inside a host call would be out of the deadline's reach.
    let mut input = requests(&t)[0].clone();
    input["action"] = json!("std-wasi.sleep");
    let version = body["version"].as_str().unwrap();
    let slept = dry_run(&app, &owner, &t, Some(version), input).await;
    assert_eq!(slept["decision"], "allow", "{slept}");
    assert!(
        slept["reason"]
            .as_str()
            .unwrap()
            .contains("now 1700000000000;"),
        "{slept}"
    );
}
