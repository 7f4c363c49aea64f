//! A site attached to a real WordPress (started by scripts/with-wordpress.sh:
//! Debian's WordPress on PHP and MariaDB, on loopback), a template applied
//! to it through bbws, and the result read back through WordPress's own
//! REST API. Without that WordPress the test says it skipped; under
//! `CI=true` it fails instead. That WordPress is on loopback, so those
//! servers run with `--wordpress-allow-private`.
//!
//! And the egress rule, with no WordPress needed: a server refuses to
//! attach a site whose address is not public (a page on 127.0.0.1 holding a
//! secret stands for an internal service), checks again on every
//! connection, and never quotes what a remote answered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// A server whose attached sites may be on loopback.
async fn spawn_app_allowing_private() -> TestApp {
    spawn_app_with(|c| c.sites.wordpress_allow_private = true).await
}

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
    let app = spawn_app_allowing_private().await;
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
    let app = spawn_app_allowing_private().await;
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

const SECRET: &str = "INTERNAL-ONLY-SECRET";
const PASSWORD: &str = "abcd efgh ijkl mnop qrst uvwx";

/// A service on 127.0.0.1 answering each request from `route(path)` with a
/// whole HTTP response, and the paths it was asked for.
struct Internal {
    url: String,
    port: u16,
    asked: Arc<Mutex<Vec<String>>>,
    /// The `Authorization` header of each request, in order.
    credentials: Arc<Mutex<Vec<String>>>,
}

impl Internal {
    async fn start(route: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let credentials = Arc::new(Mutex::new(Vec::new()));
        let (route, log, creds) = (Arc::new(route), asked.clone(), credentials.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (route, log, creds) = (route.clone(), log.clone(), creds.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    log.lock().unwrap().push(path.clone());
                    if let Some(auth) = head.lines().find_map(|l| {
                        l.strip_prefix("authorization: ")
                            .or_else(|| l.strip_prefix("Authorization: "))
                    }) {
                        creds.lock().unwrap().push(auth.trim().to_string());
                    }
                    // A route may block (the race test holds a request at
                    // WordPress): on a blocking thread, never on a runtime
                    // worker, whose queued tasks would stall with it.
                    let answer = tokio::task::spawn_blocking(move || route(&path))
                        .await
                        .unwrap();
                    let _ = socket.write_all(&answer).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Internal {
            url: format!("http://127.0.0.1:{port}"),
            port,
            asked,
            credentials,
        }
    }

    /// Every request answered with `status`, `content_type` and `body`.
    async fn answering(status: &str, content_type: &str, body: String) -> Self {
        let response = http(status, content_type, &body);
        Self::start(move |_| response.clone()).await
    }

    fn requests(&self) -> usize {
        self.asked.lock().unwrap().len()
    }
}

fn http(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn attach(name: &str, url: &str) -> Value {
    json!({"name": name, "wordpress": {"url": url, "username": "admin", "applicationPassword": PASSWORD}})
}

#[track_caller]
fn assert_no_secret(what: &str, value: &impl std::fmt::Display) {
    let text = value.to_string();
    assert!(!text.contains(SECRET), "{what} quotes the remote: {text}");
}

#[tokio::test]
async fn a_wordpress_url_on_a_private_address_is_refused_and_nothing_is_created() {
    let internal = Internal::answering("200 OK", "text/plain", SECRET.to_string()).await;
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Egress", None).await;
    let (_, viewer) = app.member(&t, "viewer@example.com", "viewer").await;
    let port = internal.port;
    for url in [
        internal.url.clone(),
        // A name resolving to loopback: refused through the resolver.
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.5/".to_string(),
        "http://100.64.0.1/".to_string(),
        "https://[fd00::1]/blog".to_string(),
        "http://[fe80::1]/".to_string(),
        "http://[64:ff9b::a9fe:a9fe]/".to_string(),
    ] {
        let res = app
            .post(
                &app.admin,
                &format!("/v1/tenants/{t}/sites"),
                attach("inside", &url),
            )
            .await;
        res.assert_problem(422, "url_not_allowed");
        assert_eq!(res.error_fields(), ["wordpress.url"], "{url}: {res:#?}");
        assert!(
            res.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("not a public address")),
            "{url}: {res:#?}"
        );
        assert_no_secret(&url, &res.body);
    }
    // Authorization comes first: a viewer learns nothing of the address.
    app.post(
        &viewer,
        &format!("/v1/tenants/{t}/sites"),
        attach("inside", &internal.url),
    )
    .await
    .assert_problem(403, "policy_denied");

    // Nothing was created, and nothing was asked of the internal service.
    let sites = app.get(&app.admin, &format!("/v1/tenants/{t}/sites")).await;
    assert_eq!(sites.ok(200)["items"], json!([]), "{sites:#?}");
    assert_eq!(internal.requests(), 0);
}

/// Answers like a WordPress: the user, the index, one plugin.
fn fake_wordpress(path: &str) -> Vec<u8> {
    let json = "application/json";
    if path.contains("users/me") {
        http(
            "200 OK",
            json,
            r#"{"id":1,"username":"admin","slug":"admin"}"#,
        )
    } else if path.contains("/wp/v2/plugins") {
        http(
            "200 OK",
            json,
            r#"[{"plugin":"akismet/akismet","status":"inactive","version":"5.3","name":"Akismet"}]"#,
        )
    } else if path.contains("rest_route=/&") || path.ends_with("rest_route=/") {
        http(
            "200 OK",
            json,
            r#"{"name":"Inside","description":"","home":"http://inside","namespaces":["wp/v2"]}"#,
        )
    } else {
        http(
            "404 Not Found",
            json,
            &format!(r#"{{"code":"rest_no_route","message":"{SECRET}"}}"#),
        )
    }
}

#[tokio::test]
async fn a_site_attached_on_loopback_is_refused_on_update_and_on_connect_once_private_is_not_allowed()
 {
    let wp = Internal::start(fake_wordpress).await;
    let app = spawn_app_allowing_private().await;
    let t = app.tenant(&app.admin, "Moved", None).await;
    let site = app
        .accepted(
            &app.admin,
            &format!("/v1/tenants/{t}/sites"),
            attach("inside", &wp.url),
        )
        .await;
    let s = site["siteId"].as_str().unwrap().to_string();
    let plugins = format!("/v1/tenants/{t}/sites/{s}/plugins");
    let listed = app.get(&app.admin, &plugins).await;
    assert_eq!(listed.ok(200)["items"][0]["slug"], "akismet", "{listed:#?}");

    // The same data, public addresses only.
    let app = app.restart_with(|_| {}).await;
    let before = wp.requests();
    let site_path = format!("/v1/tenants/{t}/sites/{s}");

    // Every connection is checked: the stored loopback address is refused.
    app.get(&app.admin, &plugins)
        .await
        .assert_problem(422, "url_not_allowed");
    let applied = app
        .post(
            &app.admin,
            &format!("{site_path}/templates/business-basic/apply"),
            json!({"parameters": {"businessName": "Inside", "contactEmail": "a@example.com"}}),
        )
        .await;
    let op = app
        .wait_operation(&app.admin, applied.ok(202)["operationId"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "FAILED", "{op}");
    assert_eq!(op["error"]["code"], "url_not_allowed", "{op}");

    // New credentials on a private address change nothing.
    let was = app.get(&app.admin, &site_path).await.ok(200).clone();
    for url in [wp.url.clone(), format!("http://localhost:{}", wp.port)] {
        let res = app
            .patch(
                &app.admin,
                &site_path,
                json!({"name": "moved", "wordpress": {"url": url, "username": "admin", "applicationPassword": PASSWORD}}),
                None,
            )
            .await;
        res.assert_problem(422, "url_not_allowed");
        assert_eq!(res.error_fields(), ["wordpress.url"], "{res:#?}");
    }
    let now = app.get(&app.admin, &site_path).await.ok(200).clone();
    assert_eq!(now["name"], was["name"]);
    assert_eq!(now["url"], was["url"]);
    assert_eq!(now["version"], was["version"]);
    assert_eq!(wp.requests(), before, "{:?}", wp.asked.lock().unwrap());
}

#[tokio::test]
async fn what_a_wordpress_answers_is_never_quoted_to_the_caller() {
    let app = spawn_app_allowing_private().await;
    let t = app.tenant(&app.admin, "Quoted", None).await;
    let (_, viewer) = app.member(&t, "viewer@example.com", "viewer").await;
    let json = "application/json";
    let secret_json = format!(r#"{{"code":"{SECRET}","message":"{SECRET}"}}"#);
    for (i, (status, content_type, body, says)) in [
        ("200 OK", "text/html", format!("<html>{SECRET}</html>"), "HTTP 200"),
        ("404 Not Found", "text/html", SECRET.to_string(), "HTTP 404 Not Found"),
        ("500 Internal Server Error", json, secret_json.clone(), "HTTP 500"),
        ("401 Unauthorized", json, secret_json.clone(), "HTTP 401"),
        (
            "403 Forbidden",
            json,
            format!(r#"{{"code":"rest_forbidden","message":"{SECRET}","data":{{"status":403}}}}"#),
            "HTTP 403 Forbidden, rest_forbidden: the user may not do this",
        ),
        (
            "400 Bad Request",
            json,
            format!(r#"{{"code":"rest_invalid_param","message":"x","data":{{"params":{{"a":"{SECRET}"}}}}}}"#),
            "rest_invalid_param",
        ),
        ("200 OK", json, format!("[\"{}\"]", SECRET.repeat(60_000)), "more than 1 MiB"),
    ]
    .into_iter()
    .enumerate()
    {
        let internal = Internal::answering(status, content_type, body).await;
        let site = app
            .post(
                &app.admin,
                &format!("/v1/tenants/{t}/sites"),
                attach(&format!("quoted-{i}"), &internal.url),
            )
            .await;
        let site = site.ok(202).clone();
        let s = site["siteId"].as_str().unwrap();
        let op = app
            .wait_operation(&app.admin, site["operationId"].as_str().unwrap())
            .await;
        assert_eq!(op["status"], "FAILED", "{status}: {op}");
        assert_eq!(op["error"]["code"], "wordpress_refused", "{status}: {op}");
        assert!(
            op["error"]["message"].as_str().is_some_and(|m| m.contains(says)),
            "{status}: {op}"
        );
        assert_no_secret(status, &op);
        let got = app
            .get(&app.admin, &format!("/v1/tenants/{t}/sites/{s}"))
            .await;
        assert_eq!(got.ok(200)["status"], "FAILED");
        assert_no_secret(status, &got.body);
        // Any viewer may list plugins: the answer names the status only.
        let listed = app
            .get(&viewer, &format!("/v1/tenants/{t}/sites/{s}/plugins"))
            .await;
        listed.assert_problem(422, "wordpress_unavailable");
        assert!(
            listed.body["detail"].as_str().is_some_and(|m| m.contains(says)),
            "{status}: {listed:#?}"
        );
        assert_no_secret(status, &listed.body);
        assert!(internal.requests() >= 2, "{status}");
    }
}

/// The new password and the new URL are one conditional write: an update
/// that loses its race to another (412) leaves the old password in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_credentials_that_lose_a_race_are_not_kept() {
    // Once armed, proving credentials waits at WordPress until the rename
    // has landed: the update with new credentials then loses its race.
    let armed = Arc::new(AtomicBool::new(false));
    let (arrived_tx, arrived_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let wp = {
        let armed = armed.clone();
        let arrived_tx = Mutex::new(arrived_tx);
        Internal::start(move |path| {
            if path.contains("users/me") && armed.load(Ordering::SeqCst) {
                let _ = arrived_tx.lock().unwrap().send(());
                let _ = release_rx
                    .lock()
                    .unwrap()
                    .recv_timeout(std::time::Duration::from_secs(20));
            }
            fake_wordpress(path)
        })
        .await
    };
    let app = spawn_app_allowing_private().await;
    let t = app.tenant(&app.admin, "Racing", None).await;
    let site = app
        .accepted(
            &app.admin,
            &format!("/v1/tenants/{t}/sites"),
            attach("racing", &wp.url),
        )
        .await;
    let op = app
        .wait_operation(&app.admin, site["operationId"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "SUCCEEDED", "{op}");
    let s = site["siteId"].as_str().unwrap().to_string();
    let site_path = format!("/v1/tenants/{t}/sites/{s}");
    let read = app.get(&app.admin, &site_path).await;
    let etag = read.etag();

    armed.store(true, Ordering::SeqCst);
    let new_password = "zzzz yyyy xxxx wwww vvvv uuuu";
    let slow = app.patch(
        &app.admin,
        &site_path,
        json!({"wordpress": {"url": format!("{}/blog", wp.url), "username": "admin", "applicationPassword": new_password}}),
        Some(&etag),
    );
    let quick = async {
        let arrived = tokio::task::spawn_blocking(move || {
            arrived_rx.recv_timeout(std::time::Duration::from_secs(20))
        })
        .await
        .unwrap();
        assert!(arrived.is_ok(), "the update never proved its credentials");
        let res = app
            .patch(
                &app.admin,
                &site_path,
                json!({"name": "renamed"}),
                Some(&etag),
            )
            .await;
        release_tx.send(()).unwrap();
        res
    };
    let (slow, quick) = tokio::join!(slow, quick);
    quick.ok(200);
    slow.assert_problem(412, "version_conflict");
    let now = app.get(&app.admin, &site_path).await.ok(200).clone();
    assert_eq!(now["name"], "renamed");
    assert_eq!(now["url"], read.body["url"]);

    // The next call to WordPress uses the password the site had.
    wp.credentials.lock().unwrap().clear();
    app.get(&app.admin, &format!("{site_path}/plugins"))
        .await
        .ok(200);
    let used = wp.credentials.lock().unwrap().clone();
    let basic = |password: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"))
        )
    };
    assert!(!used.is_empty());
    assert!(used.iter().all(|a| *a == basic(PASSWORD)), "{used:?}");
}
