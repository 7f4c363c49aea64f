//! Instances end to end: the manifest committed to the GitOps repository
//! (read back with git itself), provisioned through the local provider's
//! simulation of ECS, RDS and EFS (on the embedded deployment; `api_aws`
//! runs them again on DynamoDB, SQS and the aws provider on moto), scaled and
//! rolled back, its health, its sites, the tenant's lifecycle reaching it,
//! and manifests changed in the repository applied on sync.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use bbws_host::server::ProviderSpec;

fn instances(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/instances")
}

fn instance_path(tenant: &str, instance: &str) -> String {
    format!("/v1/tenants/{tenant}/instances/{instance}")
}

/// The bare repository the embedded deployment pushes to.
fn remote(app: &TestApp) -> PathBuf {
    app.dir.path().join("gitops.git")
}

/// Runs git against the remote; answers stdout.
fn git(repo: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn manifest_on_remote(app: &TestApp, tenant: &str, instance: &str) -> Option<Value> {
    let spec = format!("main:tenants/{tenant}/instances/{instance}.json");
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(remote(app))
        .args(["show", &spec])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).expect("the manifest is JSON"))
}

fn commits_on_remote(app: &TestApp) -> usize {
    git(&remote(app), &["rev-list", "--count", "main"])
        .parse()
        .unwrap()
}

/// Creates an instance and waits until it is ACTIVE; answers it. On moto
/// (`api_aws`) a new service starts 2 tasks whatever it asks for (see the
/// README's "Where moto differs"), so a larger count is created at 2, then
/// scaled to.
async fn active_instance(app: &TestApp, token: &str, tenant: &str, mut body: Value) -> Value {
    let want = body["desiredCount"].as_u64().unwrap_or(2);
    let on_moto = matches!(crate::BACKEND, crate::helpers::Backend::Aws);
    if on_moto && want > 2 {
        body["desiredCount"] = json!(2);
    }
    let accepted = app.accepted(token, &instances(tenant), body).await;
    let id = accepted["instanceId"].as_str().unwrap();
    if on_moto && want > 2 {
        let scale = format!("{}/scale", instance_path(tenant, id));
        app.accepted(token, &scale, json!({"desiredCount": want}))
            .await;
    }
    app.get(token, &instance_path(tenant, id))
        .await
        .ok(200)
        .clone()
}

#[tokio::test]
async fn an_instance_is_committed_to_git_then_provisioned_to_active() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let (_, owner) = app.member(&t, "owner@example.com", "owner").await;

    let res = app
        .post(
            &owner,
            &instances(&t),
            json!({"name": "web", "tags": {"team": "shop"}}),
        )
        .await;
    let created = res.ok(202).clone();
    assert_eq!(created["status"], "PROVISIONING");
    assert_eq!(created["desiredCount"], 2);
    assert_eq!(created["environment"], "PROD");
    let id = created["instanceId"].as_str().unwrap().to_string();
    let commit = created["gitCommit"]
        .as_str()
        .expect("the 202 names its commit")
        .to_string();

    // The commit is on the remote, by the caller, with the manifest.
    let remote = remote(&app);
    assert_eq!(git(&remote, &["log", "-1", "--format=%H", "main"]), commit);
    assert_eq!(
        git(&remote, &["log", "-1", "--format=%ae", "main"]),
        "owner@example.com"
    );
    assert!(git(&remote, &["log", "-1", "--format=%s", "main"]).starts_with("Create instance web"));
    let manifest = manifest_on_remote(&app, &t, &id).expect("the manifest is committed");
    assert_eq!(manifest["desiredCount"], 2);
    assert_eq!(manifest["environment"], "PROD");
    assert_eq!(manifest["parked"], false);
    assert_eq!(manifest["tags"]["team"], "shop");

    let op = app
        .wait_operation(&owner, created["operationId"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "SUCCEEDED", "{op}");
    assert_eq!(op["kind"], "instance.create");
    assert_eq!(op["resource"]["type"], "instance");
    let i = app
        .get(&owner, &instance_path(&t, &id))
        .await
        .ok(200)
        .clone();
    assert_eq!(i["status"], "ACTIVE");
    assert_eq!(i["gitCommit"], commit.as_str());
    assert_eq!(i["appliedCommit"], commit.as_str());
    assert_eq!(i["ecs"]["desiredCount"], 2);
    assert_eq!(i["ecs"]["runningCount"], 2);
    assert_eq!(i["ecs"]["pendingCount"], 0);
    assert!(
        i["ecs"]["serviceArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{}", i["ecs"]["service"].as_str().unwrap()))
    );
    assert_eq!(i["rds"]["status"], "available");
    assert!(i["rds"]["endpoint"].is_string());
    assert_eq!(i["efs"]["lifeCycleState"], "available");
    assert!(
        i["efs"]["fileSystemId"]
            .as_str()
            .unwrap()
            .starts_with("fs-")
    );

    let status = app
        .get(&owner, &format!("{}/status", instance_path(&t, &id)))
        .await;
    let status = status.ok(200);
    assert_eq!(status["overall"], "HEALTHY", "{status}");
    assert_eq!(status["ecs"]["state"], "HEALTHY");
    assert_eq!(status["rds"]["state"], "HEALTHY");
    assert_eq!(status["efs"]["state"], "HEALTHY");
    assert!(status["checkedAt"].is_string());

    let listed = app.walk(&owner, &instances(&t), 10).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["instanceId"], id.as_str());
}

#[tokio::test]
async fn scaling_commits_the_new_count_and_applies_it() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let (_, operator) = app.member(&t, "op@example.com", "operator").await;
    let i = active_instance(&app, &app.admin, &t, json!({"name": "web"})).await;
    let id = i["instanceId"].as_str().unwrap();

    let scaled = app
        .accepted(
            &operator,
            &format!("{}/scale", instance_path(&t, id)),
            json!({"desiredCount": 4}),
        )
        .await;
    assert_eq!(scaled["status"], "UPDATING");
    let after = app
        .get(&operator, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(after["status"], "ACTIVE");
    assert_eq!(after["desiredCount"], 4);
    assert_eq!(after["ecs"]["runningCount"], 4);
    assert_eq!(after["lastScaling"]["from"], 2);
    assert_eq!(after["lastScaling"]["to"], 4);
    assert_eq!(after["lastScaling"]["status"], "SUCCEEDED");
    assert_eq!(after["appliedCommit"], after["gitCommit"]);
    assert_eq!(manifest_on_remote(&app, &t, id).unwrap()["desiredCount"], 4);
    assert_eq!(
        git(&remote(&app), &["log", "-1", "--format=%s%n%ae", "main"]),
        format!("Scale instance web ({id}) from 2 to 4 tasks\nop@example.com")
    );
}

#[tokio::test]
async fn a_scaling_the_cluster_cannot_place_is_rolled_back_in_git_and_on_the_service() {
    let app = spawn_app_with(|c| c.instances.provider = ProviderSpec::Local { capacity: 5 }).await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let i = active_instance(
        &app,
        &app.admin,
        &t,
        json!({"name": "web", "desiredCount": 3}),
    )
    .await;
    let id = i["instanceId"].as_str().unwrap();

    let res = app
        .post(
            &app.admin,
            &format!("{}/scale", instance_path(&t, id)),
            json!({"desiredCount": 8}),
        )
        .await;
    let op = app
        .wait_operation(&app.admin, res.ok(202)["operationId"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "FAILED");
    assert_eq!(op["error"]["code"], "scaling_rolled_back");
    let after = app
        .get(&app.admin, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(after["status"], "ACTIVE");
    assert_eq!(after["desiredCount"], 3);
    assert_eq!(after["ecs"]["desiredCount"], 3);
    assert_eq!(after["ecs"]["runningCount"], 3);
    assert_eq!(after["lastScaling"]["status"], "ROLLED_BACK");
    assert!(
        after["lastScaling"]["reason"]
            .as_str()
            .unwrap()
            .contains("capacity 5"),
        "{after}"
    );
    // Git says so too: the scaling, then its revert.
    assert_eq!(manifest_on_remote(&app, &t, id).unwrap()["desiredCount"], 3);
    let subjects = git(&remote(&app), &["log", "-2", "--format=%s", "main"]);
    assert_eq!(
        subjects,
        format!(
            "Roll back instance web ({id}) to 3 tasks\nScale instance web ({id}) from 3 to 8 tasks"
        )
    );
    assert_eq!(
        after["gitCommit"],
        git(&remote(&app), &["rev-parse", "main"]).as_str()
    );
    assert_eq!(after["appliedCommit"], after["gitCommit"]);
}

#[tokio::test]
async fn a_bad_scaling_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let i = active_instance(&app, &app.admin, &t, json!({"name": "web"})).await;
    let id = i["instanceId"].as_str().unwrap();
    let commits = commits_on_remote(&app);
    for bad in [
        json!(1),
        json!(11),
        json!(0),
        json!(2.5),
        json!("3"),
        json!(null),
        json!(-4),
    ] {
        let res = app
            .post(
                &app.admin,
                &format!("{}/scale", instance_path(&t, id)),
                json!({"desiredCount": bad}),
            )
            .await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), vec!["desiredCount"], "{bad}");
    }
    let res = app
        .post(
            &app.admin,
            &format!("{}/scale", instance_path(&t, id)),
            json!({"desired": 3}),
        )
        .await;
    assert!(res.status == 422 || res.status == 400, "{:?}", res.status);
    assert_eq!(commits_on_remote(&app), commits, "no commit");
    let after = app
        .get(&app.admin, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(after, i, "the instance is as it was");

    for (body, field) in [
        (json!({"name": "Bad Name"}), "name"),
        (json!({"name": "web", "desiredCount": 12}), "desiredCount"),
        (json!({"name": "web", "tags": {"bbws:tenant": "x"}}), "tags"),
        (
            json!({"name": "web", "sizes": {"taskCpu": 300, "taskMemory": 1024, "dbInstanceClass": "db.t4g.micro", "dbStorageGib": 20}}),
            "sizes.taskCpu",
        ),
    ] {
        let res = app.post(&app.admin, &instances(&t), body).await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), vec![field]);
    }
    assert_eq!(commits_on_remote(&app), commits, "no commit");
    assert_eq!(app.walk(&app.admin, &instances(&t), 10).await.len(), 1);
}

#[tokio::test]
async fn one_change_at_a_time_and_a_stale_if_match_is_refused() {
    // The simulation's pace keeps the creation running while the test
    // tries to scale (on either store).
    let app = spawn_app_with(|c| {
        c.sites.provision_delay = std::time::Duration::from_millis(300);
        c.instances.provider = ProviderSpec::Local { capacity: 24 };
    })
    .await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let res = app
        .post(&app.admin, &instances(&t), json!({"name": "web"}))
        .await;
    let created = res.ok(202).clone();
    let id = created["instanceId"].as_str().unwrap();
    // While it is being created, it cannot be scaled.
    app.post(
        &app.admin,
        &format!("{}/scale", instance_path(&t, id)),
        json!({"desiredCount": 3}),
    )
    .await
    .assert_problem(409, "operation_in_progress");
    app.wait_operation(&app.admin, created["operationId"].as_str().unwrap())
        .await;
    let i = app.get(&app.admin, &instance_path(&t, id)).await;
    let stale = format!("\"{}\"", i.ok(200)["version"].as_u64().unwrap() - 1);
    app.request(
        "POST",
        &format!("{}/scale", instance_path(&t, id)),
        Some(&app.admin),
        Some(json!({"desiredCount": 3})),
        &[("if-match", stale.as_str())],
    )
    .await
    .assert_problem(412, "version_conflict");
    // Two scalings at once: one is accepted, the other waits its turn.
    let path = format!("{}/scale", instance_path(&t, id));
    let (a, b) = tokio::join!(
        app.post(&app.admin, &path, json!({"desiredCount": 3})),
        app.post(&app.admin, &path, json!({"desiredCount": 5})),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [202, 409], "{a:?} {b:?}");
    let winner = if a.status == 202 { &a } else { &b };
    let to = winner.body["desiredCount"].clone();
    app.wait_operation(&app.admin, winner.body["operationId"].as_str().unwrap())
        .await;
    let after = app
        .get(&app.admin, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(
        after["desiredCount"], to,
        "the accepted count is the one applied"
    );
    assert_eq!(after["ecs"]["runningCount"], to);
    assert_eq!(
        manifest_on_remote(&app, &t, id).unwrap()["desiredCount"],
        to
    );
}

#[tokio::test]
async fn another_tenants_token_sees_no_instance() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let other = app.tenant(&app.admin, "Other Co", None).await;
    let (_, stranger) = app.member(&other, "stranger@example.com", "owner").await;
    let i = active_instance(&app, &app.admin, &t, json!({"name": "web"})).await;
    let id = i["instanceId"].as_str().unwrap();
    let commits = commits_on_remote(&app);
    let p = instance_path(&t, id);
    for res in [
        app.get(&stranger, &p).await,
        app.get(&stranger, &instances(&t)).await,
        app.get(&stranger, &format!("{p}/status")).await,
        app.get(&stranger, &format!("{p}/sites")).await,
        app.post(&stranger, &format!("{p}/scale"), json!({"desiredCount": 3}))
            .await,
        app.patch(&stranger, &p, json!({"name": "mine"}), None)
            .await,
        app.delete(&stranger, &p).await,
        app.post(&stranger, &instances(&t), json!({"name": "sneaky"}))
            .await,
    ] {
        res.assert_problem(404, "tenant_not_found");
        assert!(!res.body.to_string().contains(id), "no data: {}", res.body);
    }
    // Its own tenant's path with the other tenant's instance id: not found.
    app.get(&stranger, &instance_path(&other, id))
        .await
        .assert_problem(404, "instance_not_found");
    assert_eq!(commits_on_remote(&app), commits, "no commit");
    assert_eq!(app.get(&app.admin, &p).await.ok(200), &i);
}

#[tokio::test]
async fn roles_decide_who_may_create_scale_and_delete() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let (_, viewer) = app.member(&t, "viewer@example.com", "viewer").await;
    let (_, operator) = app.member(&t, "op@example.com", "operator").await;
    let i = active_instance(&app, &app.admin, &t, json!({"name": "web"})).await;
    let id = i["instanceId"].as_str().unwrap();
    let p = instance_path(&t, id);
    app.get(&viewer, &p).await.ok(200);
    app.get(&viewer, &format!("{p}/status")).await.ok(200);
    app.post(&viewer, &format!("{p}/scale"), json!({"desiredCount": 3}))
        .await
        .assert_problem(403, "policy_denied");
    app.post(&operator, &instances(&t), json!({"name": "more"}))
        .await
        .assert_problem(403, "policy_denied");
    app.delete(&operator, &p)
        .await
        .assert_problem(403, "policy_denied");
    app.post(&app.admin, "/v1/gitops/sync", json!({}))
        .await
        .ok(200);
    app.post(&operator, "/v1/gitops/sync", json!({}))
        .await
        .assert_problem(403, "policy_denied");
}

#[tokio::test]
async fn sites_are_placed_only_on_an_active_instance_of_their_tenant() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let other = app.tenant(&app.admin, "Other Co", None).await;
    let i = active_instance(&app, &app.admin, &t, json!({"name": "web"})).await;
    let id = i["instanceId"].as_str().unwrap();
    let theirs = active_instance(&app, &app.admin, &other, json!({"name": "web"})).await;
    let sites = format!("/v1/tenants/{t}/sites");

    app.post(
        &app.admin,
        &sites,
        json!({"name": "shop", "instanceId": "inst_0123456789abcdef0123456789abcdef"}),
    )
    .await
    .assert_problem(404, "instance_not_found");
    app.post(
        &app.admin,
        &sites,
        json!({"name": "shop", "instanceId": theirs["instanceId"]}),
    )
    .await
    .assert_problem(404, "instance_not_found");
    assert!(
        app.walk(&app.admin, &sites, 10).await.is_empty(),
        "nothing was created"
    );

    let site = app
        .accepted(
            &app.admin,
            &sites,
            json!({"name": "shop", "instanceId": id}),
        )
        .await;
    let on = app
        .walk(&app.admin, &format!("{}/sites", instance_path(&t, id)), 10)
        .await;
    assert_eq!(on.len(), 1);
    assert_eq!(on[0]["siteId"], site["siteId"]);

    app.delete(&app.admin, &instance_path(&t, id))
        .await
        .assert_problem(409, "instance_has_sites");
    let res = app
        .delete(
            &app.admin,
            &format!("{}?cascade=true", instance_path(&t, id)),
        )
        .await;
    let deleting = res.ok(202).clone();
    assert_eq!(deleting["status"], "DELETING");
    let op = app
        .wait_operation(&app.admin, deleting["operationId"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "SUCCEEDED", "{op}");
    app.get(&app.admin, &instance_path(&t, id))
        .await
        .assert_problem(404, "instance_not_found");
    assert!(
        app.walk(&app.admin, &sites, 10).await.is_empty(),
        "its site went with it"
    );
    assert!(
        manifest_on_remote(&app, &t, id).is_none(),
        "the manifest is removed"
    );
    assert!(
        git(&remote(&app), &["log", "-1", "--format=%s", "main"])
            .starts_with("Delete instance web")
    );
}

#[tokio::test]
async fn parking_a_tenant_scales_its_instances_to_zero_and_unparking_restores_them() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let i = active_instance(
        &app,
        &app.admin,
        &t,
        json!({"name": "web", "desiredCount": 3}),
    )
    .await;
    let id = i["instanceId"].as_str().unwrap();
    let p = instance_path(&t, id);

    app.post_empty(&app.admin, &format!("/v1/tenants/{t}/park"))
        .await
        .ok(200);
    assert_eq!(manifest_on_remote(&app, &t, id).unwrap()["parked"], true);
    let parked = wait_for(&app, &p, |i| {
        i["ecs"]["runningCount"] == 0 && i["operationId"].is_null()
    })
    .await;
    assert_eq!(parked["parked"], true);
    assert_eq!(
        parked["desiredCount"], 3,
        "the count to come back to is kept"
    );
    assert_eq!(parked["ecs"]["desiredCount"], 0);
    // A parked tenant's instances do not change.
    app.post(
        &app.admin,
        &format!("{p}/scale"),
        json!({"desiredCount": 4}),
    )
    .await
    .assert_problem(409, "tenant_not_active");

    app.post_empty(&app.admin, &format!("/v1/tenants/{t}/unpark"))
        .await
        .ok(200);
    let back = wait_for(&app, &p, |i| {
        i["ecs"]["runningCount"] == 3 && i["operationId"].is_null()
    })
    .await;
    assert_eq!(back["parked"], false);
    assert_eq!(back["status"], "ACTIVE");
    assert_eq!(manifest_on_remote(&app, &t, id).unwrap()["parked"], false);

    // Suspension stops changes to instances.
    app.post_empty(&app.admin, &format!("/v1/tenants/{t}/suspend"))
        .await
        .ok(200);
    app.post(
        &app.admin,
        &format!("{p}/scale"),
        json!({"desiredCount": 4}),
    )
    .await
    .assert_problem(409, "tenant_not_active");
}

/// Polls an instance until `done` holds.
async fn wait_for(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let i = app.get(&app.admin, path).await.ok(200).clone();
        if done(&i) {
            return i;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the instance never got there: {i}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_tenant_created_with_provision_instance_gets_its_instance() {
    let app = spawn_app().await;
    let res = app
        .post(
            &app.admin,
            "/v1/tenants",
            json!({"organisationName": "Fast Co", "provisionInstance": true}),
        )
        .await;
    let created = res.ok(201).clone();
    let t = created["tenantId"].as_str().unwrap();
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(created["instance"]["status"], "PROVISIONING");
    let op = app
        .wait_operation(&app.admin, created["operationId"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "SUCCEEDED");
    let listed = app.walk(&app.admin, &instances(t), 10).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "ACTIVE");
}

#[tokio::test]
async fn deleting_a_tenant_deprovisions_its_instances_and_removes_their_manifests() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let child = app.tenant(&app.admin, "Shop Child", Some(&t)).await;
    let i = active_instance(&app, &app.admin, &child, json!({"name": "web"})).await;
    let id = i["instanceId"].as_str().unwrap();
    let (_, owner) = app.member(&t, "owner@example.com", "owner").await;
    let (_, stranger) = app
        .member(
            &app.tenant(&app.admin, "Other Co", None).await,
            "x@example.com",
            "owner",
        )
        .await;
    // Instances to deprovision: the deletion is a job, and the tenant is
    // gone from the API at once.
    let res = app
        .delete(&owner, &format!("/v1/tenants/{t}?cascade=true"))
        .await;
    assert_eq!(res.status, 202, "{res:?}");
    assert_eq!(res.body["tenantId"], t.as_str());
    let op_id = res.body["operationId"].as_str().unwrap().to_string();
    app.get(&owner, &format!("/v1/tenants/{t}"))
        .await
        .assert_problem(404, "tenant_not_found");
    // Whoever asked follows it; nobody else sees it.
    app.get(&stranger, &format!("/v1/operations/{op_id}"))
        .await
        .assert_problem(404, "operation_not_found");
    let op = app.wait_operation(&owner, &op_id).await;
    assert_eq!(op["status"], "SUCCEEDED", "{op}");
    assert_eq!(op["kind"], "tenant.delete");
    assert_eq!(op["resource"]["type"], "tenant");
    app.get(&app.admin, &format!("/v1/tenants/{child}"))
        .await
        .assert_problem(404, "tenant_not_found");
    assert!(manifest_on_remote(&app, &child, id).is_none());
    assert_eq!(
        git(&remote(&app), &["log", "-1", "--format=%s", "main"]),
        format!("Delete instance web ({id}) of tenant {child}")
    );
    // A tenant with nothing to deprovision is gone before the answer.
    let plain = app.tenant(&app.admin, "Plain Co", None).await;
    let res = app
        .delete(&app.admin, &format!("/v1/tenants/{plain}"))
        .await;
    assert_eq!(res.status, 204, "{res:?}");
}

#[tokio::test]
async fn a_manifest_changed_in_the_repository_is_applied_on_sync() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let a = active_instance(&app, &app.admin, &t, json!({"name": "web"})).await;
    let b = active_instance(&app, &app.admin, &t, json!({"name": "api"})).await;
    let (a_id, b_id) = (
        a["instanceId"].as_str().unwrap(),
        b["instanceId"].as_str().unwrap(),
    );

    // Someone with push rights edits the repository: one good change, one
    // manifest that does not parse.
    let work = app.dir.path().join("someone");
    let sh = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(&work)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Someone")
            .env("GIT_AUTHOR_EMAIL", "someone@example.com")
            .env("GIT_COMMITTER_NAME", "Someone")
            .env("GIT_COMMITTER_EMAIL", "someone@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    std::fs::create_dir_all(&work).unwrap();
    sh(&["clone", "--quiet", remote(&app).to_str().unwrap(), "."]);
    let a_file = work.join(format!("tenants/{t}/instances/{a_id}.json"));
    let mut m: Value = serde_json::from_slice(&std::fs::read(&a_file).unwrap()).unwrap();
    m["desiredCount"] = json!(5);
    std::fs::write(&a_file, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    std::fs::write(
        work.join(format!("tenants/{t}/instances/{b_id}.json")),
        "{ not json",
    )
    .unwrap();
    sh(&["commit", "--quiet", "-am", "Scale web to 5 by hand"]);
    sh(&["push", "--quiet", "origin", "HEAD:main"]);
    let pushed = sh(&["rev-parse", "HEAD"]);

    let report = app.post(&app.admin, "/v1/gitops/sync", json!({})).await;
    let report = report.ok(200).clone();
    assert_eq!(report["head"], pushed.as_str());
    assert_eq!(report["applied"], json!([a_id]));
    assert_eq!(report["errors"][0]["instanceId"], b_id);

    let applied = wait_for(&app, &instance_path(&t, a_id), |i| {
        i["appliedCommit"] == pushed.as_str()
    })
    .await;
    assert_eq!(applied["desiredCount"], 5);
    assert_eq!(applied["ecs"]["runningCount"], 5);
    let broken = app
        .get(&app.admin, &instance_path(&t, b_id))
        .await
        .ok(200)
        .clone();
    assert!(
        broken["syncError"].as_str().unwrap().contains("invalid"),
        "{broken}"
    );
    assert_eq!(
        broken["status"], "ACTIVE",
        "the other instance is untouched"
    );
    assert_eq!(broken["desiredCount"], 2);
}

#[tokio::test]
async fn a_tenant_policy_caps_instances_by_tier_and_keeps_prod_at_three() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let (_, owner) = app.member(&t, "owner@example.com", "owner").await;
    app.activate_policy(&owner, &t, bbws_tests::guests::EXAMPLE_INSTANCE_LIMITS)
        .await;
    let i = active_instance(&app, &owner, &t, json!({"name": "web", "desiredCount": 3})).await;
    let id = i["instanceId"].as_str().unwrap();
    let scale = format!("{}/scale", instance_path(&t, id));
    let commits = commits_on_remote(&app);

    // A standard tenant runs at most 4 tasks per instance.
    let res = app.post(&owner, &scale, json!({"desiredCount": 5})).await;
    res.assert_problem(403, "policy_denied");
    assert!(
        res.body["detail"]
            .as_str()
            .unwrap()
            .contains("standard tier"),
        "{}",
        res.body
    );
    // PROD never below 3.
    let res = app.post(&owner, &scale, json!({"desiredCount": 2})).await;
    res.assert_problem(403, "policy_denied");
    assert_eq!(
        commits_on_remote(&app),
        commits,
        "refused before anything is committed"
    );
    app.post(
        &owner,
        &instances(&t),
        json!({"name": "big", "desiredCount": 6}),
    )
    .await
    .assert_problem(403, "policy_denied");

    app.accepted(&owner, &scale, json!({"desiredCount": 4}))
        .await;
    let after = app
        .get(&owner, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(after["desiredCount"], 4);

    // The policy counts the tenant's instances, looked up from bbws: a
    // standard tenant has at most two.
    active_instance(&app, &owner, &t, json!({"name": "api", "desiredCount": 3})).await;
    let res = app
        .post(
            &owner,
            &instances(&t),
            json!({"name": "third", "desiredCount": 3}),
        )
        .await;
    res.assert_problem(403, "policy_denied");
    assert!(
        res.body["detail"]
            .as_str()
            .unwrap()
            .contains("at most 2 instances, and the tenant has 2"),
        "{}",
        res.body
    );
    assert_eq!(app.walk(&owner, &instances(&t), 10).await.len(), 2);
}

#[tokio::test]
async fn an_update_is_a_commit_then_applied_and_bad_settings_change_nothing() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let (_, owner) = app.member(&t, "owner@example.com", "owner").await;
    let i = active_instance(&app, &owner, &t, json!({"name": "web"})).await;
    let id = i["instanceId"].as_str().unwrap();
    let p = instance_path(&t, id);

    let sizes = json!({"taskCpu": 1024, "taskMemory": 2048, "dbInstanceClass": "db.t4g.small", "dbStorageGib": 40});
    let res = app
        .patch(
            &owner,
            &p,
            json!({"name": "www", "tags": {"team": "web"}, "sizes": sizes}),
            None,
        )
        .await;
    let updated = res.ok(200).clone();
    assert_eq!(updated["status"], "UPDATING");
    let op = app
        .wait_operation(&owner, updated["operationId"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "SUCCEEDED", "{op}");
    assert_eq!(op["kind"], "instance.update");
    let after = app.get(&owner, &p).await.ok(200).clone();
    assert_eq!(after["status"], "ACTIVE");
    assert_eq!(after["name"], "www");
    assert_eq!(after["sizes"], sizes);
    assert_eq!(after["appliedCommit"], after["gitCommit"]);
    let manifest = manifest_on_remote(&app, &t, id).unwrap();
    assert_eq!(manifest["tags"]["team"], "web");
    assert_eq!(manifest["sizes"]["taskCpu"], 1024);
    assert_eq!(
        git(&remote(&app), &["log", "-1", "--format=%s%n%ae", "main"]),
        format!("Update instance www ({id})\nowner@example.com")
    );

    // Bad settings: 422 with the field, no commit, nothing changed.
    let commits = commits_on_remote(&app);
    for (body, field) in [
        (json!({"name": "Not A Name"}), "name"),
        (json!({"tags": {"bbws:instance": "x"}}), "tags"),
        (
            json!({"sizes": {"taskCpu": 1024, "taskMemory": 100, "dbInstanceClass": "db.t4g.small", "dbStorageGib": 40}}),
            "sizes.taskMemory",
        ),
        (
            json!({"sizes": {"taskCpu": 1024, "taskMemory": 2048, "dbInstanceClass": "db.t4g.small", "dbStorageGib": 30}}),
            "sizes.dbStorageGib",
        ),
    ] {
        let res = app.patch(&owner, &p, body.clone(), None).await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), vec![field], "{body}");
    }
    // The count changes through `scale` only.
    let res = app
        .patch(&owner, &p, json!({"desiredCount": 5}), None)
        .await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["desiredCount"]);
    assert_eq!(commits_on_remote(&app), commits, "no commit");
    assert_eq!(app.get(&owner, &p).await.ok(200), &after);
}
