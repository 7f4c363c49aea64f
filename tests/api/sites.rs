//! Sites end to end: created through the job queue, polled to ACTIVE,
//! cloned, promoted, backed up and restored, held by their tenant's
//! lifecycle, deleted; plugins behind the security scan; templates planned
//! by the template guest and applied.

use bbws_tests::guests;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

fn sites(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/sites")
}

fn site_path(tenant: &str, site: &str) -> String {
    format!("/v1/tenants/{tenant}/sites/{site}")
}

async fn plugins_of(app: &TestApp, tenant: &str, site: &str) -> Vec<Value> {
    app.walk(
        &app.admin,
        &format!("{}/plugins", site_path(tenant, site)),
        100,
    )
    .await
}

#[tokio::test]
async fn a_new_site_is_queued_then_provisioned_to_active() {
    // The local provider takes a while, so the transitional status shows.
    let app =
        spawn_app_with(|c| c.sites.provision_delay = std::time::Duration::from_millis(1500)).await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let (_, operator) = app.member(&t, "op@example.com", "operator").await;

    let res = app
        .post(&operator, &sites(&t), json!({"name": "shop"}))
        .await;
    let site = res.ok(202).clone();
    assert_eq!(site["status"], "PROVISIONING");
    assert_eq!(site["environment"], "DEV");
    assert_eq!(site["provider"], "local");
    let op_id = site["operationId"].as_str().unwrap();
    let id = site["siteId"].as_str().unwrap();

    let op = app.get(&operator, &format!("/v1/operations/{op_id}")).await;
    let op = op.ok(200);
    assert_eq!(op["kind"], "site.create");
    assert!(
        matches!(op["status"].as_str(), Some("PENDING" | "RUNNING")),
        "{op}"
    );
    assert_eq!(op["resource"]["id"], id);
    assert!(op.get("input").is_none(), "the job's input is not answered");
    assert_eq!(
        app.get(&operator, &site_path(&t, id)).await.ok(200)["status"],
        "PROVISIONING"
    );

    let op = app.wait_operation(&operator, op_id).await;
    assert_eq!(op["status"], "SUCCEEDED", "{op}");
    assert_eq!(op["attempts"], 1);
    let site = app.get(&operator, &site_path(&t, id)).await;
    let site = site.ok(200);
    assert_eq!(site["status"], "ACTIVE");
    assert!(site.get("operationId").is_none(), "the site is released");
}

#[tokio::test]
async fn sites_are_listed_with_filters_and_pages() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Lister", None).await;
    let a = app.site(&app.admin, &t, "alpha").await;
    app.site(&app.admin, &t, "bravo").await;
    app.site(&app.admin, &t, "charlie").await;
    app.accepted(
        &app.admin,
        &format!("{}/promote", site_path(&t, &a)),
        json!({"targetEnvironment": "SIT"}),
    )
    .await;

    let all = app.walk(&app.admin, &sites(&t), 2).await;
    assert_eq!(all.len(), 3);
    let sit = app
        .walk(&app.admin, &format!("{}?environment=SIT", sites(&t)), 10)
        .await;
    assert_eq!(sit.len(), 1);
    assert_eq!(sit[0]["siteId"], a);
    let dev_active = app
        .walk(
            &app.admin,
            &format!("{}?environment=DEV&status=ACTIVE", sites(&t)),
            10,
        )
        .await;
    assert_eq!(dev_active.len(), 2);
    app.get(&app.admin, &format!("{}?status=SLEEPING", sites(&t)))
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn a_clone_has_the_source_settings_and_plugins() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Cloner", None).await;
    let source = app.site(&app.admin, &t, "source").await;
    app.post(
        &app.admin,
        &format!("{}/plugins", site_path(&t, &source)),
        json!({"slug": "akismet", "version": "5.3"}),
    )
    .await
    .ok(201);

    let clone = app
        .accepted(
            &app.admin,
            &format!("{}/clone", site_path(&t, &source)),
            json!({"name": "copy"}),
        )
        .await;
    let clone_id = clone["siteId"].as_str().unwrap();
    assert_ne!(clone_id, source);
    let got = app.get(&app.admin, &site_path(&t, clone_id)).await;
    let got = got.ok(200);
    assert_eq!(got["status"], "ACTIVE");
    assert_eq!(got["name"], "copy");
    assert_eq!(got["clonedFrom"], source.as_str());
    assert_eq!(got["environment"], "DEV");
    let plugins = plugins_of(&app, &t, clone_id).await;
    assert_eq!(plugins.len(), 1);
    assert_eq!(plugins[0]["slug"], "akismet");
    assert_eq!(plugins[0]["version"], "5.3");

    // A clone may not start above its source: promotion is the way up.
    app.post(
        &app.admin,
        &format!("{}/clone", site_path(&t, &source)),
        json!({"name": "leap", "environment": "PROD"}),
    )
    .await
    .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn promotion_goes_dev_sit_prod_one_step_at_a_time() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Promoter", None).await;
    let s = app.site(&app.admin, &t, "app").await;
    let promote = format!("{}/promote", site_path(&t, &s));

    app.post(&app.admin, &promote, json!({"targetEnvironment": "PROD"}))
        .await
        .assert_problem(409, "invalid_transition");
    app.accepted(&app.admin, &promote, json!({"targetEnvironment": "SIT"}))
        .await;
    assert_eq!(
        app.get(&app.admin, &site_path(&t, &s)).await.ok(200)["environment"],
        "SIT"
    );
    app.post(&app.admin, &promote, json!({"targetEnvironment": "SIT"}))
        .await
        .assert_problem(409, "invalid_transition");
    app.accepted(&app.admin, &promote, json!({"targetEnvironment": "PROD"}))
        .await;
    assert_eq!(
        app.get(&app.admin, &site_path(&t, &s)).await.ok(200)["environment"],
        "PROD"
    );
    app.post(&app.admin, &promote, json!({"targetEnvironment": "PROD"}))
        .await
        .assert_problem(409, "invalid_transition");
}

#[tokio::test]
async fn the_tenant_policy_admits_promotions() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Careful", None).await;
    let (_, owner) = app.member(&t, "owner@example.com", "owner").await;
    let (_, operator) = app.member(&t, "operator@example.com", "operator").await;
    app.activate_policy(&owner, &t, guests::EXAMPLE_NO_PROD_FOR_OPERATORS)
        .await;
    let s = app.site(&operator, &t, "app").await;
    let promote = format!("{}/promote", site_path(&t, &s));
    app.accepted(&operator, &promote, json!({"targetEnvironment": "SIT"}))
        .await;
    app.post(&operator, &promote, json!({"targetEnvironment": "PROD"}))
        .await
        .assert_problem(403, "policy_denied");
    assert_eq!(
        app.get(&owner, &site_path(&t, &s)).await.ok(200)["environment"],
        "SIT",
        "a refused promotion changes nothing"
    );
    app.accepted(&owner, &promote, json!({"targetEnvironment": "PROD"}))
        .await;
}

#[tokio::test]
async fn a_restore_brings_back_the_backed_up_state() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Backer", None).await;
    let s = app.site(&app.admin, &t, "blog").await;
    let plugins = format!("{}/plugins", site_path(&t, &s));
    app.post(&app.admin, &plugins, json!({"slug": "akismet"}))
        .await
        .ok(201);

    let backup = app
        .accepted(
            &app.admin,
            &format!("{}/backups", site_path(&t, &s)),
            json!({}),
        )
        .await;
    let backup_id = backup["backupId"].as_str().unwrap();
    let listed = app
        .walk(&app.admin, &format!("{}/backups", site_path(&t, &s)), 10)
        .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "COMPLETED");
    assert!(listed[0]["sizeBytes"].as_u64().unwrap() > 0);
    assert_eq!(listed[0]["sha256"].as_str().unwrap().len(), 64);

    // Change the site after the backup, then restore.
    app.post(&app.admin, &plugins, json!({"slug": "jetpack"}))
        .await
        .ok(201);
    app.delete(&app.admin, &format!("{plugins}/akismet"))
        .await
        .ok(204);
    app.accepted(
        &app.admin,
        &format!("{}/backups/{backup_id}/restore", site_path(&t, &s)),
        json!({}),
    )
    .await;
    let after: Vec<String> = plugins_of(&app, &t, &s)
        .await
        .iter()
        .map(|p| p["slug"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(after, vec!["akismet"]);

    app.post(
        &app.admin,
        &format!("{}/backups/bak_nope/restore", site_path(&t, &s)),
        json!({}),
    )
    .await
    .assert_problem(404, "backup_not_found");
}

#[tokio::test]
async fn plugins_pass_the_security_scan_before_they_install() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Scanned", None).await;
    let (_, operator) = app.member(&t, "op@example.com", "operator").await;
    let s = app.site(&operator, &t, "shop").await;
    let plugins = format!("{}/plugins", site_path(&t, &s));

    // Contact Form 7 before 5.3.2: unrestricted file upload, CVE-2020-35489.
    let refused = app
        .post(
            &operator,
            &plugins,
            json!({"slug": "contact-form-7", "version": "5.3.1"}),
        )
        .await;
    refused.assert_problem(422, "security_scan_failed");
    let findings = refused.body["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["cve"] == "CVE-2020-35489"),
        "{findings:?}"
    );
    assert!(
        plugins_of(&app, &t, &s).await.is_empty(),
        "nothing installed"
    );

    let installed = app
        .post(
            &operator,
            &plugins,
            json!({"slug": "contact-form-7", "version": "5.3.2"}),
        )
        .await;
    assert_eq!(installed.ok(201)["status"], "active");

    // An update is scanned again: back to a vulnerable version is refused.
    app.patch(
        &operator,
        &format!("{plugins}/contact-form-7"),
        json!({"version": "5.3.1"}),
        None,
    )
    .await
    .assert_problem(422, "security_scan_failed");
    let updated = app
        .patch(
            &operator,
            &format!("{plugins}/contact-form-7"),
            json!({"version": "5.9.8"}),
            None,
        )
        .await;
    assert_eq!(updated.ok(200)["version"], "5.9.8");

    app.post(&operator, &plugins, json!({"slug": "contact-form-7"}))
        .await
        .assert_problem(409, "plugin_installed");
    app.delete(&operator, &format!("{plugins}/contact-form-7"))
        .await
        .ok(204);
    app.delete(&operator, &format!("{plugins}/contact-form-7"))
        .await
        .assert_problem(404, "plugin_not_found");
    assert!(plugins_of(&app, &t, &s).await.is_empty());
}

#[tokio::test]
async fn the_tenant_threshold_decides_which_findings_refuse() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Relaxed", None).await;
    let s = app.site(&app.admin, &t, "shop").await;
    let plugins = format!("{}/plugins", site_path(&t, &s));
    // WP File Manager 6.8: remote code execution, CVE-2020-25213 (critical).
    let vulnerable = json!({"slug": "wp-file-manager", "version": "6.8"});
    app.post(&app.admin, &plugins, vulnerable.clone())
        .await
        .assert_problem(422, "security_scan_failed");
    // Below a threshold the finding is reported, not refused. Nothing is
    // above CRITICAL, so only a LOW-threshold tenant sees refusals of
    // medium findings: check the threshold is validated and applied.
    app.patch(
        &app.admin,
        &format!("/v1/tenants/{t}"),
        json!({"securityScanThreshold": "SEVERE"}),
        None,
    )
    .await
    .assert_problem(422, "validation_failed");
    let tenant = app
        .patch(
            &app.admin,
            &format!("/v1/tenants/{t}"),
            json!({"securityScanThreshold": "CRITICAL"}),
            None,
        )
        .await;
    assert_eq!(tenant.ok(200)["securityScanThreshold"], "CRITICAL");
    app.post(&app.admin, &plugins, vulnerable)
        .await
        .assert_problem(422, "security_scan_failed");
    // A HIGH finding passes a CRITICAL threshold, reported with the plugin.
    let feed: Value =
        serde_json::from_str(include_str!("../../examples/vulnerability-feed.json")).unwrap();
    let high = feed["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["severity"].as_str().unwrap().eq_ignore_ascii_case("high"))
        .expect("the sample feed has a HIGH finding")
        .clone();
    let slug = high["plugin"].as_str().unwrap();
    let version = high["affected"]["lastAffected"]
        .as_str()
        .or(high["affected"]["introduced"]
            .as_str()
            .filter(|v| *v != "0"))
        .unwrap_or("0.1");
    let installed = app
        .post(
            &app.admin,
            &plugins,
            json!({"slug": slug, "version": version}),
        )
        .await;
    let installed = installed.ok(201);
    assert!(
        installed["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["severity"] == "HIGH")),
        "{installed}"
    );
}

#[tokio::test]
async fn a_bulk_request_reports_every_item() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Bulky", None).await;
    let s = app.site(&app.admin, &t, "shop").await;
    let plugins = format!("{}/plugins", site_path(&t, &s));
    app.post(&app.admin, &plugins, json!({"slug": "jetpack"}))
        .await
        .ok(201);

    let res = app
        .post(
            &app.admin,
            &format!("{plugins}/bulk"),
            json!({
                "install": [
                    {"slug": "akismet"},
                    {"slug": "contact-form-7", "version": "5.3.1"}
                ],
                "update": [{"slug": "jetpack", "version": "13.1"}, {"slug": "absent", "version": "1.0"}],
                "uninstall": ["jetpack"]
            }),
        )
        .await;
    let results = res.ok(200)["results"].as_array().unwrap().clone();
    let outcome: Vec<(String, String, u64)> = results
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["slug"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcome,
        vec![
            ("install".into(), "akismet".into(), 201),
            ("install".into(), "contact-form-7".into(), 422),
            ("update".into(), "jetpack".into(), 200),
            ("update".into(), "absent".into(), 404),
            ("uninstall".into(), "jetpack".into(), 204),
        ]
    );
    assert_eq!(results[1]["error"]["code"], "security_scan_failed");
    let left: Vec<Value> = plugins_of(&app, &t, &s).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["slug"], "akismet");

    app.post(&app.admin, &format!("{plugins}/bulk"), json!({}))
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn templates_are_listed_validated_previewed_and_applied() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Templated", None).await;
    let s = app.site(&app.admin, &t, "brochure").await;

    let catalogue = app.get(&app.admin, "/v1/templates").await;
    let ids: Vec<&str> = catalogue.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["templateId"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"business-basic") && ids.contains(&"blog"),
        "{ids:?}"
    );
    let entry = catalogue.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["templateId"] == "business-basic")
        .unwrap();
    assert_eq!(entry["scope"], "platform");
    assert!(
        entry["parameterSchema"]["properties"].is_object(),
        "{entry}"
    );

    let invalid = app
        .post(
            &app.admin,
            "/v1/templates/business-basic/validate",
            json!({"parameters": {"nonsense": 1}}),
        )
        .await;
    assert_eq!(invalid.ok(200)["valid"], false);
    assert!(!invalid.body["errors"].as_array().unwrap().is_empty());
    let params = json!({"businessName": "Acme <Bakery>", "contactEmail": "hello@acme.example"});
    let valid = app
        .post(
            &app.admin,
            "/v1/templates/business-basic/validate",
            json!({"parameters": params}),
        )
        .await;
    assert_eq!(valid.ok(200)["valid"], true, "{}", valid.body);

    let preview = app
        .post(
            &app.admin,
            &format!("{}/templates/business-basic/preview", site_path(&t, &s)),
            json!({"parameters": params}),
        )
        .await;
    let operations = preview.ok(200)["operations"].as_array().unwrap().clone();
    assert!(
        operations
            .iter()
            .any(|o| o["op"] == "setOption" && o["value"] == "Acme <Bakery>"),
        "{operations:?}"
    );
    assert!(
        operations.iter().all(|o| !o["content"]
            .as_str()
            .unwrap_or_default()
            .contains("<Bakery>")),
        "parameters are escaped in page content"
    );

    let applied = app
        .accepted(
            &app.admin,
            &format!("{}/templates/business-basic/apply", site_path(&t, &s)),
            json!({"parameters": params}),
        )
        .await;
    let op = app
        .get(
            &app.admin,
            &format!(
                "/v1/operations/{}",
                applied["operationId"].as_str().unwrap()
            ),
        )
        .await;
    let op = op.ok(200);
    assert_eq!(op["kind"], "site.template.apply");
    assert_eq!(
        op["progress"]["stepsDone"].as_u64(),
        Some(operations.len() as u64)
    );

    // Bad parameters are refused before anything is queued.
    app.post(
        &app.admin,
        &format!("{}/templates/business-basic/apply", site_path(&t, &s)),
        json!({"parameters": {}}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        &app.admin,
        &format!("{}/templates/no-such/preview", site_path(&t, &s)),
        json!({}),
    )
    .await
    .assert_problem(404, "template_not_found");
}

#[tokio::test]
async fn a_failed_template_step_stops_the_plan_and_names_the_step() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Stepper", None).await;
    let s = app.site(&app.admin, &t, "site").await;
    let template = app
        .post(
            &app.admin,
            &format!("/v1/tenants/{t}/templates"),
            json!({
                "name": "Needs a plugin",
                "body": {
                    "parameters": {},
                    "operations": [
                        {"op": "upsertPage", "slug": "first", "title": "First", "content": "<p>1</p>", "status": "publish"},
                        {"op": "activatePlugin", "slug": "not-installed"},
                        {"op": "upsertPage", "slug": "never", "title": "Never", "content": "<p>3</p>", "status": "publish"}
                    ]
                }
            }),
        )
        .await;
    let template_id = template.ok(201)["templateId"].as_str().unwrap().to_string();
    let listed = app
        .get(&app.admin, &format!("/v1/templates?tenantId={t}"))
        .await;
    assert!(
        listed.ok(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["templateId"] == template_id.as_str() && e["scope"] == "tenant")
    );

    let res = app
        .post(
            &app.admin,
            &format!("{}/templates/{template_id}/apply", site_path(&t, &s)),
            json!({}),
        )
        .await;
    let op_id = res.ok(202)["operationId"].as_str().unwrap().to_string();
    let op = app.wait_operation(&app.admin, &op_id).await;
    assert_eq!(op["status"], "FAILED");
    assert_eq!(op["error"]["code"], "template_step_failed");
    assert_eq!(op["error"]["step"], 1);
    assert_eq!(op["error"]["operation"], "activatePlugin not-installed");
    // The site is released and stays ACTIVE.
    let site = app.get(&app.admin, &site_path(&t, &s)).await;
    assert_eq!(site.ok(200)["status"], "ACTIVE");
    assert!(site.body.get("operationId").is_none());
}

#[tokio::test]
async fn parking_a_tenant_suspends_its_sites_and_unparking_restores_them() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Seasonal", None).await;
    let a = app.site(&app.admin, &t, "alpha").await;
    let b = app.site(&app.admin, &t, "bravo").await;

    app.post_empty(&app.admin, &format!("/v1/tenants/{t}/park"))
        .await
        .ok(200);
    for s in [&a, &b] {
        let site = app.get(&app.admin, &site_path(&t, s)).await;
        assert_eq!(site.ok(200)["status"], "SUSPENDED");
        assert_eq!(site.body["previousStatus"], "ACTIVE");
    }
    // While parked nothing changes its sites.
    app.post(&app.admin, &sites(&t), json!({"name": "new"}))
        .await
        .assert_problem(409, "tenant_not_active");
    app.post(
        &app.admin,
        &format!("{}/plugins", site_path(&t, &a)),
        json!({"slug": "akismet"}),
    )
    .await
    .assert_problem(409, "tenant_not_active");

    app.post_empty(&app.admin, &format!("/v1/tenants/{t}/unpark"))
        .await
        .ok(200);
    for s in [&a, &b] {
        let site = app.get(&app.admin, &site_path(&t, s)).await;
        assert_eq!(site.ok(200)["status"], "ACTIVE");
        assert!(site.body.get("previousStatus").is_none());
    }

    // Suspension from above holds them the same way.
    app.post_empty(&app.admin, &format!("/v1/tenants/{t}/suspend"))
        .await
        .ok(200);
    assert_eq!(
        app.get(&app.admin, &site_path(&t, &a)).await.ok(200)["status"],
        "SUSPENDED"
    );
    app.post_empty(&app.admin, &format!("/v1/tenants/{t}/resume"))
        .await
        .ok(200);
    assert_eq!(
        app.get(&app.admin, &site_path(&t, &a)).await.ok(200)["status"],
        "ACTIVE"
    );
}

#[tokio::test]
async fn a_deleted_site_goes_through_deleting_and_is_gone() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Deleter", None).await;
    let s = app.site(&app.admin, &t, "old").await;
    app.accepted(
        &app.admin,
        &format!("{}/backups", site_path(&t, &s)),
        json!({}),
    )
    .await;
    let res = app.delete(&app.admin, &site_path(&t, &s)).await;
    let deleting = res.ok(202);
    assert_eq!(deleting["status"], "DELETING");
    let op = app
        .wait_operation(&app.admin, deleting["operationId"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "SUCCEEDED");
    app.get(&app.admin, &site_path(&t, &s))
        .await
        .assert_problem(404, "site_not_found");
    assert!(app.walk(&app.admin, &sites(&t), 10).await.is_empty());
}

#[tokio::test]
async fn one_operation_at_a_time_per_site() {
    let app =
        spawn_app_with(|c| c.sites.provision_delay = std::time::Duration::from_millis(1500)).await;
    let t = app.tenant(&app.admin, "Busy", None).await;
    let res = app
        .post(&app.admin, &sites(&t), json!({"name": "busy"}))
        .await;
    let site = res.ok(202).clone();
    let s = site["siteId"].as_str().unwrap();
    app.post(
        &app.admin,
        &format!("{}/promote", site_path(&t, s)),
        json!({"targetEnvironment": "SIT"}),
    )
    .await
    .assert_problem(409, "operation_in_progress");
    app.post(
        &app.admin,
        &format!("{}/clone", site_path(&t, s)),
        json!({"name": "early"}),
    )
    .await
    .assert_problem(409, "operation_in_progress");
    app.wait_operation(&app.admin, site["operationId"].as_str().unwrap())
        .await;
    app.accepted(
        &app.admin,
        &format!("{}/promote", site_path(&t, s)),
        json!({"targetEnvironment": "SIT"}),
    )
    .await;
}

#[tokio::test]
async fn a_site_update_checks_its_version() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Renamer", None).await;
    let s = app.site(&app.admin, &t, "before").await;
    let got = app.get(&app.admin, &site_path(&t, &s)).await;
    let etag = got.etag();
    let renamed = app
        .patch(
            &app.admin,
            &site_path(&t, &s),
            json!({"name": "after"}),
            Some(&etag),
        )
        .await;
    assert_eq!(renamed.ok(200)["name"], "after");
    let before = app.get(&app.admin, &site_path(&t, &s)).await;
    app.patch(
        &app.admin,
        &site_path(&t, &s),
        json!({"name": "again"}),
        Some(&etag),
    )
    .await
    .assert_problem(412, "version_conflict");
    // The stale write changed nothing: not the name, not the version, not
    // updatedAt.
    let after = app.get(&app.admin, &site_path(&t, &s)).await;
    assert_eq!(after.ok(200), before.ok(200));
    assert_eq!(after.etag(), before.etag());
}

#[tokio::test]
async fn roles_decide_what_a_member_may_do_to_sites() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Roles", None).await;
    let (_, viewer) = app.member(&t, "viewer@example.com", "viewer").await;
    let (_, operator) = app.member(&t, "operator@example.com", "operator").await;
    let s = app.site(&operator, &t, "site").await;
    let plugins = format!("{}/plugins", site_path(&t, &s));
    let backups = format!("{}/backups", site_path(&t, &s));
    app.post(&operator, &plugins, json!({"slug": "akismet"}))
        .await
        .ok(201);
    app.accepted(&operator, &backups, json!({})).await;
    let site = app.get(&operator, &site_path(&t, &s)).await.ok(200).clone();

    // A viewer reads what an operator reads: the site, the tenant's sites,
    // the site's plugins and its backups.
    assert_eq!(app.get(&viewer, &site_path(&t, &s)).await.ok(200), &site);
    let listed = app.walk(&viewer, &sites(&t), 10).await;
    assert_eq!(listed, app.walk(&operator, &sites(&t), 10).await);
    assert_eq!(
        listed.iter().map(|x| &x["siteId"]).collect::<Vec<_>>(),
        [&site["siteId"]]
    );
    let viewed_plugins = app.walk(&viewer, &plugins, 10).await;
    assert_eq!(viewed_plugins, app.walk(&operator, &plugins, 10).await);
    assert_eq!(viewed_plugins.len(), 1, "{viewed_plugins:?}");
    assert_eq!(viewed_plugins[0]["slug"], "akismet");
    let viewed_backups = app.walk(&viewer, &backups, 10).await;
    assert_eq!(viewed_backups, app.walk(&operator, &backups, 10).await);
    assert_eq!(viewed_backups.len(), 1, "{viewed_backups:?}");

    // Every change is refused, each with the rule that refused it.
    for (method, path, body) in [
        ("POST", sites(&t), json!({"name": "nope"})),
        ("PATCH", site_path(&t, &s), json!({"name": "nope"})),
        ("DELETE", site_path(&t, &s), json!(null)),
        (
            "POST",
            format!("{}/clone", site_path(&t, &s)),
            json!({"name": "nope"}),
        ),
        (
            "POST",
            format!("{}/promote", site_path(&t, &s)),
            json!({"targetEnvironment": "SIT"}),
        ),
        ("POST", format!("{}/backups", site_path(&t, &s)), json!({})),
        (
            "POST",
            format!("{}/plugins", site_path(&t, &s)),
            json!({"slug": "akismet"}),
        ),
        (
            "POST",
            format!("{}/templates/blog/apply", site_path(&t, &s)),
            json!({"parameters": {"blogName": "x"}}),
        ),
    ] {
        let body = (!body.is_null()).then_some(body);
        let refused = app.request(method, &path, Some(&viewer), body, &[]).await;
        refused.assert_problem(403, "policy_denied");
        let detail = refused.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("requires") && detail.contains("holds viewer"),
            "{method} {path}: {detail}"
        );
    }
    // Deleting a site takes an admin.
    let refused = app.delete(&operator, &site_path(&t, &s)).await;
    refused.assert_problem(403, "policy_denied");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("site.delete") && d.contains("requires admin")),
        "{refused:?}"
    );
    // None of it happened.
    assert_eq!(app.get(&viewer, &site_path(&t, &s)).await.ok(200), &site);
    assert_eq!(app.walk(&viewer, &sites(&t), 10).await, listed);
    assert_eq!(app.walk(&viewer, &plugins, 10).await, viewed_plugins);
    assert_eq!(app.walk(&viewer, &backups, 10).await, viewed_backups);
}

/// Every site route, for tenant `t`, site `s` and backup `b`.
fn site_routes(t: &str, s: &str, b: &str) -> Vec<(&'static str, String, Option<Value>)> {
    let site = site_path(t, s);
    vec![
        ("GET", sites(t), None),
        ("POST", sites(t), Some(json!({"name": "intruder"}))),
        ("GET", site.clone(), None),
        ("PATCH", site.clone(), Some(json!({"name": "pwned"}))),
        ("DELETE", site.clone(), None),
        (
            "POST",
            format!("{site}/clone"),
            Some(json!({"name": "stolen"})),
        ),
        (
            "POST",
            format!("{site}/promote"),
            Some(json!({"targetEnvironment": "SIT"})),
        ),
        ("POST", format!("{site}/backups"), Some(json!({}))),
        ("GET", format!("{site}/backups"), None),
        (
            "POST",
            format!("{site}/backups/{b}/restore"),
            Some(json!({})),
        ),
        ("GET", format!("{site}/plugins"), None),
        (
            "POST",
            format!("{site}/plugins"),
            Some(json!({"slug": "akismet"})),
        ),
        (
            "PATCH",
            format!("{site}/plugins/jetpack"),
            Some(json!({"version": "13.1"})),
        ),
        ("DELETE", format!("{site}/plugins/jetpack"), None),
        (
            "POST",
            format!("{site}/plugins/bulk"),
            Some(json!({"uninstall": ["jetpack"]})),
        ),
        (
            "POST",
            format!("{site}/templates/business-basic/preview"),
            Some(json!({"parameters": {"businessName": "X", "contactEmail": "x@example.com"}})),
        ),
        (
            "POST",
            format!("{site}/templates/business-basic/apply"),
            Some(json!({"parameters": {"businessName": "X", "contactEmail": "x@example.com"}})),
        ),
        ("GET", format!("/v1/templates?tenantId={t}"), None),
        (
            "POST",
            format!("/v1/tenants/{t}/templates"),
            Some(json!({"name": "x", "body": {"parameters": {}, "operations": []}})),
        ),
    ]
}

/// What the platform admin sees of a tenant's sites.
async fn sites_state(app: &TestApp, t: &str, s: &str) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    (
        app.walk(&app.admin, &sites(t), 100).await,
        plugins_of(app, t, s).await,
        app.walk(&app.admin, &format!("{}/backups", site_path(t, s)), 100)
            .await,
    )
}

#[tokio::test]
async fn another_tenants_owner_sees_404_on_every_site_route() {
    let app = spawn_app().await;
    let a = app.tenant(&app.admin, "Alpha Sites", None).await;
    let b = app.tenant(&app.admin, "Bravo Sites", None).await;
    let (_, b_owner) = app.member(&b, "bravo@example.com", "owner").await;
    let s = app.site(&app.admin, &a, "secret").await;
    app.post(
        &app.admin,
        &format!("{}/plugins", site_path(&a, &s)),
        json!({"slug": "jetpack"}),
    )
    .await
    .ok(201);
    let backup = app
        .accepted(
            &app.admin,
            &format!("{}/backups", site_path(&a, &s)),
            json!({}),
        )
        .await;
    let bak = backup["backupId"].as_str().unwrap().to_string();
    let op = backup["operationId"].as_str().unwrap().to_string();
    let before = sites_state(&app, &a, &s).await;

    let mut routes = site_routes(&a, &s, &bak);
    routes.push(("GET", format!("/v1/operations/{op}"), None));
    for (method, path, body) in routes {
        let res = app.request(method, &path, Some(&b_owner), body, &[]).await;
        assert_eq!(res.status, 404, "{method} {path}: {:?}", res.body);
        let text = res.body.to_string();
        assert!(
            !text.contains("secret") && !text.contains("jetpack"),
            "{text}"
        );
    }
    // The same routes naming A's site under B's own tenant find nothing either.
    for (method, path, body) in site_routes(&b, &s, &bak).into_iter().skip(2).take(15) {
        let res = app.request(method, &path, Some(&b_owner), body, &[]).await;
        assert_eq!(res.status, 404, "{method} {path}: {:?}", res.body);
    }
    // Without a token: 401.
    for (method, path, body) in site_routes(&a, &s, &bak) {
        let res = app.request(method, &path, None, body, &[]).await;
        assert_eq!(res.status, 401, "{method} {path}");
    }
    assert_eq!(sites_state(&app, &a, &s).await, before, "nothing changed");
}

#[tokio::test]
async fn bad_input_on_site_routes_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Strict", None).await;
    let s = app.site(&app.admin, &t, "strict").await;
    let site = site_path(&t, &s);
    let before = sites_state(&app, &t, &s).await;
    let cases: Vec<(&str, String, Value, u16, &str)> = vec![
        ("POST", sites(&t), json!({}), 422, "validation_failed"),
        (
            "POST",
            sites(&t),
            json!({"name": "Bad Name"}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            sites(&t),
            json!({"name": "ok", "environment": "PROD"}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            sites(&t),
            json!({"name": "ok", "extra": 1}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            sites(&t),
            json!({"name": "ok", "templateId": "nope"}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            sites(&t),
            json!({"name": "ok", "wordpress": {"url": "ftp://x", "username": "", "applicationPassword": ""}}),
            422,
            "validation_failed",
        ),
        (
            "PATCH",
            site.clone(),
            json!({"name": ""}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            format!("{site}/clone"),
            json!({"name": "-x"}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            format!("{site}/promote"),
            json!({"targetEnvironment": "QA"}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            format!("{site}/promote"),
            json!({}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            format!("{site}/plugins"),
            json!({"slug": "Bad Slug"}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            format!("{site}/plugins"),
            json!({"slug": "ok", "version": "latest!"}),
            422,
            "validation_failed",
        ),
        (
            "PATCH",
            format!("{site}/plugins/akismet"),
            json!({}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            format!("{site}/plugins/bulk"),
            json!({"install": "akismet"}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            format!("{site}/templates/blog/preview"),
            json!({"parameters": []}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            "/v1/templates/blog/validate".into(),
            json!({"parameters": "x"}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            format!("/v1/tenants/{t}/templates"),
            json!({"name": "x", "body": []}),
            422,
            "validation_failed",
        ),
        (
            "POST",
            format!("/v1/tenants/{t}/templates"),
            json!({"name": "x", "body": {"operations": "nonsense"}}),
            422,
            "validation_failed",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let res = app
            .request(method, &path, Some(&app.admin), Some(body.clone()), &[])
            .await;
        assert_eq!(res.status, status, "{method} {path} {body}: {:?}", res.body);
        assert_eq!(res.body["code"], code, "{method} {path} {body}");
    }
    // Malformed JSON and unknown ids.
    app.raw(
        "POST",
        &sites(&t),
        &app.admin,
        "{not json",
        "application/json",
    )
    .await
    .assert_problem(400, "malformed_json");
    app.get(&app.admin, &site_path(&t, "site_nope"))
        .await
        .assert_problem(404, "site_not_found");
    app.get(&app.admin, "/v1/operations/op_nope")
        .await
        .assert_problem(404, "operation_not_found");
    app.get(&app.admin, &format!("{}?limit=0", sites(&t)))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(sites_state(&app, &t, &s).await, before, "nothing changed");
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_retried_with_backoff_then_dead_lettered() {
    let app = spawn_app_with(|c| {
        c.jobs.settings.max_attempts = 3;
        c.jobs.settings.backoff = std::time::Duration::from_secs(1);
        // The scenario moves the server's clock a minute at a time, which
        // would make the waiting job look stalled to the sweep (it runs
        // every lease, in real time) and have it sent twice; a long lease
        // keeps the sweep out of a scenario about retries.
        c.jobs.settings.lease = std::time::Duration::from_secs(3600);
        // The unreachable WordPress is on loopback.
        c.sites.wordpress_allow_private = true;
    })
    .await;
    let t = app.tenant(&app.admin, "Unlucky", None).await;
    // Nothing listens on loopback port 9: WordPress is unreachable, a
    // fault that may pass, so the job is retried.
    let res = app
        .post(
            &app.admin,
            &sites(&t),
            json!({"name": "down", "wordpress": {
                "url": "http://127.0.0.1:9",
                "username": "admin",
                "applicationPassword": "abcd efgh ijkl mnop qrst uvwx"
            }}),
        )
        .await;
    let site = res.ok(202).clone();
    let op_id = site["operationId"].as_str().unwrap().to_string();
    // Each failed attempt gives the lease back and waits out its backoff on
    // the server's clock: move the clock on until the job gives up.
    let mut saw_retry = false;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let op = app
            .get(&app.admin, &format!("/v1/operations/{op_id}"))
            .await;
        let op = op.ok(200).clone();
        if op["status"] == "FAILED" {
            break;
        }
        saw_retry |= op["status"] == "RUNNING"
            && op["progress"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("will retry"));
        assert!(std::time::Instant::now() < deadline, "{op}");
        app.clock.advance(std::time::Duration::from_secs(60));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(saw_retry, "the failed attempts said they would be retried");
    let op = app.wait_operation(&app.admin, &op_id).await;
    assert_eq!(op["status"], "FAILED", "{op}");
    assert_eq!(op["error"]["code"], "retries_exhausted");
    assert_eq!(op["attempts"], 3);
    let got = app
        .get(&app.admin, &site_path(&t, site["siteId"].as_str().unwrap()))
        .await;
    assert_eq!(got.ok(200)["status"], "FAILED");

    let dead = app.get(&app.admin, "/v1/jobs/dead-letters").await;
    let dead = dead.ok(200)["items"].as_array().unwrap().clone();
    assert!(
        dead.iter()
            .any(|d| d["body"].as_str().unwrap().contains(&op_id) && d["attempts"] == 3),
        "{dead:?}"
    );
    let (_, owner) = app.member(&t, "owner@example.com", "owner").await;
    app.get(&owner, "/v1/jobs/dead-letters")
        .await
        .assert_problem(403, "policy_denied");
}

/// A tenant's templates are bounded and paged: the catalogue comes a page
/// at a time (the platform's, then the tenant's), a tenant keeps at most
/// 100 templates (409 `templates_full`, and a delete frees a place), and
/// each parameter schema is asked of a guest once, then served from the
/// cache (`bbws_template_schemas_total` in `/metrics`). Another tenant's
/// owner can delete none of them.
#[tokio::test]
async fn tenant_templates_are_capped_paged_deletable_and_their_schemas_cached() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Templater", None).await;
    let other = app.tenant(&app.admin, "Other", None).await;
    let (_, other_owner) = app.member(&other, "other@example.com", "owner").await;
    let body = |i: usize| {
        json!({"name": format!("Page {i}"), "body": {"parameters": {}, "operations": [
            {"op": "upsertPage", "slug": format!("p{i}"), "title": "T", "content": "<p>x</p>", "status": "publish"}
        ]}})
    };
    let mut own = Vec::new();
    for i in 0..100 {
        let res = app
            .post(&app.admin, &format!("/v1/tenants/{t}/templates"), body(i))
            .await;
        own.push(res.ok(201)["templateId"].as_str().unwrap().to_string());
    }
    app.post(&app.admin, &format!("/v1/tenants/{t}/templates"), body(100))
        .await
        .assert_problem(409, "templates_full");

    let walked = app
        .walk(&app.admin, &format!("/v1/templates?tenantId={t}"), 7)
        .await;
    let platform = app.walk(&app.admin, "/v1/templates", 100).await;
    let (_, asked) = template_schemas(&app).await;
    let tenant_ids: Vec<&str> = walked
        .iter()
        .filter(|e| e["scope"] == "tenant")
        .map(|e| e["templateId"].as_str().unwrap())
        .collect();
    let mut want: Vec<&str> = own.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(tenant_ids, want, "every template once, in id order");
    assert_eq!(walked.len(), platform.len() + 100);
    assert!(walked.iter().all(|e| e["parameterSchema"].is_object()));
    // The same listing again asks no guest.
    app.walk(&app.admin, &format!("/v1/templates?tenantId={t}"), 7)
        .await;
    let (cached, asked_again) = template_schemas(&app).await;
    assert_eq!(asked_again, asked, "the second listing asked a guest");
    assert!(cached >= 100, "{cached}");

    // A delete frees a place; another tenant's owner sees 404.
    let victim = &own[0];
    app.request(
        "DELETE",
        &format!("/v1/tenants/{t}/templates/{victim}"),
        Some(&other_owner),
        None,
        &[],
    )
    .await
    .assert_problem(404, "tenant_not_found");
    let res = app
        .request(
            "DELETE",
            &format!("/v1/tenants/{t}/templates/{victim}"),
            Some(&app.admin),
            None,
            &[],
        )
        .await;
    assert_eq!(res.status, 204, "{res:#?}");
    app.request(
        "DELETE",
        &format!("/v1/tenants/{t}/templates/{victim}"),
        Some(&app.admin),
        None,
        &[],
    )
    .await
    .assert_problem(404, "template_not_found");
    app.post(&app.admin, &format!("/v1/tenants/{t}/templates"), body(100))
        .await
        .ok(201);
}

/// `bbws_template_schemas_total` from `/metrics`: (from the cache, from a guest).
async fn template_schemas(app: &crate::helpers::TestApp) -> (u64, u64) {
    let res = app.request("GET", "/metrics", None, None, &[]).await;
    let text = res.body.as_str().unwrap().to_string();
    let count = |source: &str| -> u64 {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "bbws_template_schemas_total{{source=\"{source}\"}} "
                ))
            })
            .unwrap_or_else(|| panic!("no {source} count in:\n{text}"))
            .parse()
            .unwrap()
    };
    (count("cache"), count("guest"))
}

/// A site keeps its newest 10 backups: each one completed past that removes
/// the oldest, record and bytes (a restore of it is 404). A backup can be
/// deleted, once; another tenant's owner can delete none.
#[tokio::test]
async fn a_site_keeps_its_newest_ten_backups_and_one_can_be_deleted() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Keeper", None).await;
    let other = app.tenant(&app.admin, "Other", None).await;
    let (_, other_owner) = app.member(&other, "other@example.com", "owner").await;
    let s = app.site(&app.admin, &t, "blog").await;
    let backups = format!("{}/backups", site_path(&t, &s));
    let mut taken = Vec::new();
    for _ in 0..12 {
        let b = app.accepted(&app.admin, &backups, json!({})).await;
        taken.push(b["backupId"].as_str().unwrap().to_string());
    }
    let kept: Vec<String> = app
        .walk(&app.admin, &backups, 100)
        .await
        .iter()
        .map(|b| b["backupId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kept, taken[2..], "the newest ten, oldest first");
    app.post(
        &app.admin,
        &format!("{backups}/{}/restore", taken[0]),
        json!({}),
    )
    .await
    .assert_problem(404, "backup_not_found");

    let victim = format!("{backups}/{}", taken[5]);
    app.delete(&other_owner, &victim)
        .await
        .assert_problem(404, "tenant_not_found");
    app.delete(&app.admin, &victim).await.ok(204);
    app.delete(&app.admin, &victim)
        .await
        .assert_problem(404, "backup_not_found");
    assert_eq!(app.walk(&app.admin, &backups, 100).await.len(), 9);
    app.post(
        &app.admin,
        &format!("{backups}/{}/restore", taken[5]),
        json!({}),
    )
    .await
    .assert_problem(404, "backup_not_found");
}
