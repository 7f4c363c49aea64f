//! A site attached to a real WordPress (started by scripts/with-wordpress.sh:
//! Debian's WordPress on PHP and MariaDB, on loopback), a template applied
//! to it through bbws, and the result read back through WordPress's own
//! REST API. Without that WordPress the test says it skipped; under
//! `CI=true` it fails instead.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

/// GET on WordPress's REST API, as its administrator.
async fn wp_get(url: &str, user: &str, password: &str, route: &str, query: &str) -> Value {
    let res = reqwest::Client::new()
        .get(format!("{url}/?rest_route={route}{query}"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .expect("WordPress answers");
    assert!(res.status().is_success(), "{route}: {}", res.status());
    res.json().await.expect("JSON from WordPress")
}

#[tokio::test]
async fn a_template_applied_to_an_attached_wordpress_is_there_in_wordpress() {
    let Some((url, user, password)) = bbws_testkit::wordpress("the attached-WordPress scenario")
    else {
        return;
    };
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Real Press", None).await;
    let res = app
        .post(
            &app.admin,
            &format!("/v1/tenants/{t}/sites"),
            json!({
                "name": "real",
                "wordpress": {"url": url, "username": user, "applicationPassword": password}
            }),
        )
        .await;
    let site = res.ok(202).clone();
    assert_eq!(site["provider"], "wordpress");
    assert!(
        !res.body.to_string().contains(&password),
        "the password is never answered"
    );
    let op = app
        .wait_operation(&app.admin, site["operationId"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "SUCCEEDED", "{op}");
    let s = site["siteId"].as_str().unwrap();
    let stored = std::fs::read(app.dir.path().join("bbws.db")).unwrap();
    assert!(
        !stored
            .windows(password.len())
            .any(|w| w == password.as_bytes()),
        "the password is not in the store in clear"
    );

    // A unique name per run: the WordPress outlives the test.
    let business = format!("Acme {}", &s[s.len() - 6..]);
    let params = json!({"businessName": business, "contactEmail": "hello@acme.example", "tagline": "Bread & more"});
    let applied = app
        .accepted(
            &app.admin,
            &format!("/v1/tenants/{t}/sites/{s}/templates/business-basic/apply"),
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
    assert_eq!(op.ok(200)["progress"]["stepsDone"], 6, "{}", op.body);

    let settings = wp_get(&url, &user, &password, "/wp/v2/settings", "").await;
    assert_eq!(settings["title"], business.as_str());
    // WordPress stores the tagline escaped, as its own admin screen does.
    assert_eq!(settings["description"], "Bread &amp; more");
    let about = wp_get(
        &url,
        &user,
        &password,
        "/wp/v2/pages",
        "&slug=about&context=edit&status=publish",
    )
    .await;
    let about = about.as_array().unwrap();
    assert_eq!(about.len(), 1, "{about:?}");
    assert_eq!(about[0]["title"]["raw"], format!("About {business}"));
    let menus = wp_get(&url, &user, &password, "/wp/v2/menus", "&per_page=100").await;
    assert!(
        menus
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "Main"),
        "{menus}"
    );

    // Applying again updates the pages instead of adding copies.
    app.accepted(
        &app.admin,
        &format!("/v1/tenants/{t}/sites/{s}/templates/business-basic/apply"),
        json!({"parameters": params}),
    )
    .await;
    let about = wp_get(
        &url,
        &user,
        &password,
        "/wp/v2/pages",
        "&slug=about&context=edit",
    )
    .await;
    assert_eq!(about.as_array().unwrap().len(), 1);

    // bbws lists the attached site's plugins from WordPress itself.
    let plugins = app
        .get(&app.admin, &format!("/v1/tenants/{t}/sites/{s}/plugins"))
        .await;
    let wp_plugins = wp_get(&url, &user, &password, "/wp/v2/plugins", "").await;
    assert_eq!(
        plugins.ok(200)["items"].as_array().unwrap().len(),
        wp_plugins.as_array().unwrap().len()
    );
}

#[tokio::test]
async fn an_attached_wordpress_with_a_wrong_password_fails_the_site() {
    let Some((url, user, _)) = bbws_testkit::wordpress("the wrong-password scenario") else {
        return;
    };
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Wrong Press", None).await;
    let res = app
        .post(
            &app.admin,
            &format!("/v1/tenants/{t}/sites"),
            json!({
                "name": "wrong",
                "wordpress": {"url": url, "username": user, "applicationPassword": "abcd efgh ijkl mnop qrst uvwx"}
            }),
        )
        .await;
    let site = res.ok(202).clone();
    let op = app
        .wait_operation(&app.admin, site["operationId"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "FAILED", "{op}");
    assert_eq!(op["error"]["code"], "wordpress_refused");
    let got = app
        .get(
            &app.admin,
            &format!("/v1/tenants/{t}/sites/{}", site["siteId"].as_str().unwrap()),
        )
        .await;
    assert_eq!(got.ok(200)["status"], "FAILED");
    assert!(got.body["failure"].as_str().is_some());
}
