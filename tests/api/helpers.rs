//! `spawn_app()`: a real bbws server on 127.0.0.1:0 with its own data
//! directory and a clock the test can move, plus typed request helpers.

use std::time::Duration;

use bbws_host::clock::ManualClock;
use bbws_host::server::{self, BlobSpec, QueueSpec, Running, ServerConfig, StoreSpec};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const ADMIN_TOKEN: &str = "bbws_test_admin_token";

/// The deployment a test binary runs its scenarios on.
#[allow(dead_code)]
pub enum Backend {
    /// SQLite files and blobs in a temporary directory.
    Embedded,
    /// A fresh DynamoDB table and S3 bucket per server, on the moto server
    /// of `BBWS_TEST_AWS_ENDPOINT`.
    Aws,
}

pub struct TestApp {
    pub base: String,
    pub admin: String,
    pub clock: ManualClock,
    client: reqwest::Client,
    /// Held, not read: dropping the app stops the server and removes its
    /// data directory.
    #[allow(dead_code)]
    pub server: Option<Running>,
    #[allow(dead_code)]
    pub dir: tempfile::TempDir,
}

/// An answer: status, headers and the JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    /// Asserts a problem+json answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            self.status, status,
            "expected {status} {code}, got {self:#?}"
        );
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{self:#?}"
        );
        assert_eq!(self.body["code"], code, "{self:#?}");
        assert_eq!(self.body["status"], status, "{self:#?}");
        self
    }

    /// Asserts a success status and returns the body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{self:#?}");
        &self.body
    }

    pub fn etag(&self) -> String {
        self.headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("an ETag")
            .to_string()
    }

    /// The `field`s of a validation problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after `configure` adjusts its configuration.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServerConfig)) -> TestApp {
    start_in(
        tempfile::tempdir().expect("a temporary directory"),
        configure,
    )
    .await
}

impl TestApp {
    /// Stops the server and starts another on the same data directory
    /// (the embedded deployment: SQLite and files), configured anew.
    #[allow(dead_code)]
    pub async fn restart_with(mut self, configure: impl FnOnce(&mut ServerConfig)) -> TestApp {
        assert!(
            matches!(crate::BACKEND, Backend::Embedded),
            "a restart keeps the embedded deployment's files only"
        );
        if let Some(server) = self.server.take() {
            server.stop().await.expect("the server stops");
        }
        start_in(self.dir, configure).await
    }
}

async fn start_in(dir: tempfile::TempDir, configure: impl FnOnce(&mut ServerConfig)) -> TestApp {
    let mut config = ServerConfig::ephemeral(dir.path());
    config.bootstrap_token = Some(ADMIN_TOKEN.to_string());
    if let Backend::Aws = crate::BACKEND {
        let Some(endpoint) =
            bbws_testkit::aws_endpoint("the end-to-end scenarios on DynamoDB and S3")
        else {
            // Every scenario of this binary needs the endpoint: end the
            // run here, successfully, after the line saying so.
            std::process::exit(0);
        };
        config.aws = Some(bbws_testkit::local_aws(&endpoint).await);
        config.store = StoreSpec::DynamoDb {
            table: bbws_testkit::unique_name("e2e"),
            create: true,
        };
        config.blobs = BlobSpec::S3 {
            bucket: bbws_testkit::unique_name("e2e"),
            prefix: "blobs".into(),
        };
        config.jobs.queue = QueueSpec::Sqs {
            name: bbws_testkit::unique_name("jobs"),
        };
        // Replicas share a key from configuration (the embedded deployment
        // generates one into its data directory).
        config.sites.secrets_key = Some(bbws_host::secrets::SecretBox::generate_key());
        // Instances on moto's ECS, RDS and EFS, in a cluster of its own.
        config.instances.provider =
            server::ProviderSpec::Aws(bbws_host::infra::instances::aws::AwsSettings {
                cluster: bbws_testkit::unique_name("ecs"),
                ..Default::default()
            });
        config.instances.poll = Some(Duration::from_millis(50));
    }
    // The sample feed with real published vulnerabilities.
    config.sites.vulnerability_feed = Some(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/vulnerability-feed.json"
        )
        .to_string(),
    );
    configure(&mut config);
    let clock = ManualClock::new();
    let server = server::start_with_clock(config, std::sync::Arc::new(clock.clone()))
        .await
        .expect("the server starts");
    TestApp {
        base: format!("http://{}", server.addr),
        admin: ADMIN_TOKEN.to_string(),
        clock,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client"),
        server: Some(server),
        dir,
    }
}

impl TestApp {
    /// Any request; `token` None sends no Authorization header.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.client.request(
            method.parse().expect("a method"),
            format!("{}{path}", self.base),
        );
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        Self::read(req.send().await.expect("the request is answered")).await
    }

    /// A request with a raw body and content type.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: &str,
        content_type: &str,
    ) -> Resp {
        self.raw_bytes(method, path, token, body.as_bytes().to_vec(), content_type)
            .await
    }

    /// A request with a raw byte body and content type.
    pub async fn raw_bytes(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Resp {
        let req = self
            .client
            .request(
                method.parse().expect("a method"),
                format!("{}{path}", self.base),
            )
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body);
        Self::read(req.send().await.expect("the request is answered")).await
    }

    async fn read(res: reqwest::Response) -> Resp {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("a body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, token: &str, path: &str) -> Resp {
        self.request("GET", path, Some(token), None, &[]).await
    }
    pub async fn post(&self, token: &str, path: &str, body: Value) -> Resp {
        self.request("POST", path, Some(token), Some(body), &[])
            .await
    }
    pub async fn put(&self, token: &str, path: &str, body: Value) -> Resp {
        self.request("PUT", path, Some(token), Some(body), &[])
            .await
    }
    pub async fn patch(
        &self,
        token: &str,
        path: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Resp {
        let headers: Vec<(&str, &str)> = if_match.map(|m| ("if-match", m)).into_iter().collect();
        self.request("PATCH", path, Some(token), Some(body), &headers)
            .await
    }
    pub async fn delete(&self, token: &str, path: &str) -> Resp {
        self.request("DELETE", path, Some(token), None, &[]).await
    }

    /// A new user (created by the platform admin) and a token for it.
    pub async fn user(&self, email: &str) -> (String, String) {
        let user = self
            .post(
                &self.admin,
                "/v1/users",
                json!({"email": email, "displayName": email}),
            )
            .await;
        let user_id = user.ok(201)["userId"].as_str().unwrap().to_string();
        let token = self
            .post(
                &self.admin,
                &format!("/v1/users/{user_id}/tokens"),
                json!({}),
            )
            .await;
        (
            user_id,
            token.ok(201)["token"].as_str().unwrap().to_string(),
        )
    }

    /// A tenant created by `token` (under `parent` if given); returns its id.
    pub async fn tenant(&self, token: &str, name: &str, parent: Option<&str>) -> String {
        let mut body = json!({"organisationName": name});
        if let Some(p) = parent {
            body["parentTenantId"] = json!(p);
        }
        let t = self.post(token, "/v1/tenants", body).await;
        t.ok(201)["tenantId"].as_str().unwrap().to_string()
    }

    /// Gives `user_id` `role` on `tenant` (as the platform admin).
    pub async fn assign(&self, tenant: &str, user_id: &str, role: &str) {
        self.put(
            &self.admin,
            &format!("/v1/tenants/{tenant}/users/{user_id}"),
            json!({"role": role}),
        )
        .await
        .ok(200);
    }

    /// A user holding `role` on `tenant`; returns its token.
    pub async fn member(&self, tenant: &str, email: &str, role: &str) -> (String, String) {
        let (id, token) = self.user(email).await;
        self.assign(tenant, &id, role).await;
        (id, token)
    }

    /// Every item of a list, following `nextCursor` with `limit`.
    pub async fn walk(&self, token: &str, path: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
                None => format!("{path}{sep}limit={limit}"),
            };
            let page = self.get(token, &url).await;
            let body = page.ok(200);
            let items = body["items"].as_array().expect("items").clone();
            assert!(items.len() <= limit, "a page larger than its limit: {body}");
            out.extend(items);
            match body.get("nextCursor").and_then(Value::as_str) {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }

    /// POST without a body (lifecycle actions, resend, cancel).
    pub async fn post_empty(&self, token: &str, path: &str) -> Resp {
        self.request("POST", path, Some(token), None, &[]).await
    }

    /// The stored state at `path`, read by the platform admin (must be 200).
    pub async fn admin_read(&self, path: &str) -> Value {
        self.get(&self.admin, path).await.ok(200).clone()
    }

    /// Every tenant, listed by the platform admin.
    pub async fn all_tenants(&self) -> Vec<Value> {
        self.walk(&self.admin, "/v1/tenants", 100).await
    }

    /// Every member of `tenant`, listed by the platform admin.
    pub async fn members_of(&self, tenant: &str) -> Vec<Value> {
        self.walk(&self.admin, &format!("/v1/tenants/{tenant}/users"), 100)
            .await
    }

    /// An invitation to `tenant` sent by `token`; returns the 201 body.
    pub async fn invite(&self, token: &str, tenant: &str, email: &str, role: &str) -> Value {
        self.post(
            token,
            &format!("/v1/tenants/{tenant}/invitations"),
            json!({"email": email, "role": role}),
        )
        .await
        .ok(201)
        .clone()
    }

    /// The token of the latest invitation mail to `email`.
    pub async fn invitation_token(&self, email: &str) -> String {
        let mail = self.last_mail(email).await;
        mail["data"]["token"]
            .as_str()
            .expect("a token in the mail")
            .to_string()
    }

    /// `POST /v1/invitations/{verb}` (`accept` or `decline`) without a bearer token.
    pub async fn answer_invitation(&self, verb: &str, token: &str) -> Resp {
        self.request(
            "POST",
            &format!("/v1/invitations/{verb}"),
            None,
            Some(json!({"token": token})),
            &[],
        )
        .await
    }

    /// The latest outbox message to `to`.
    pub async fn last_mail(&self, to: &str) -> Value {
        let mails = self
            .walk(&self.admin, &format!("/v1/outbox?to={to}"), 100)
            .await;
        mails
            .last()
            .cloned()
            .unwrap_or_else(|| panic!("no mail to {to}"))
    }

    /// Uploads a component of `kind` to `tenant` (`?activate=true` if asked).
    pub async fn upload(
        &self,
        token: &str,
        tenant: &str,
        kind: &str,
        wasm: Vec<u8>,
        activate: bool,
    ) -> Resp {
        let path = format!("/v1/tenants/{tenant}/extensions/{kind}?activate={activate}");
        self.raw_bytes("PUT", &path, token, wasm, "application/wasm")
            .await
    }

    /// Uploads and activates the policy built at `path`; returns its version.
    pub async fn activate_policy(&self, token: &str, tenant: &str, path: &str) -> String {
        let wasm = std::fs::read(path).expect("a built guest");
        let res = self.upload(token, tenant, "policy", wasm, true).await;
        res.ok(201)["version"].as_str().unwrap().to_string()
    }

    /// Polls an operation until it ends (SUCCEEDED or FAILED); answers it.
    #[allow(dead_code)]
    pub async fn wait_operation(&self, token: &str, operation_id: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let op = self
                .get(token, &format!("/v1/operations/{operation_id}"))
                .await;
            let op = op.ok(200).clone();
            if matches!(op["status"].as_str(), Some("SUCCEEDED" | "FAILED")) {
                return op;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "operation {operation_id} did not end: {op}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts an asynchronous request that must be accepted, and waits for
    /// its operation to succeed; answers the 202's body.
    #[allow(dead_code)]
    pub async fn accepted(&self, token: &str, path: &str, body: Value) -> Value {
        let res = self.post(token, path, body).await;
        let accepted = res.ok(202).clone();
        let op = self
            .wait_operation(token, accepted["operationId"].as_str().unwrap())
            .await;
        assert_eq!(op["status"], "SUCCEEDED", "{path}: {op}");
        accepted
    }

    /// A new ACTIVE site of `tenant` (the job done); answers its id.
    #[allow(dead_code)]
    pub async fn site(&self, token: &str, tenant: &str, name: &str) -> String {
        let site = self
            .accepted(
                token,
                &format!("/v1/tenants/{tenant}/sites"),
                json!({"name": name}),
            )
            .await;
        site["siteId"].as_str().unwrap().to_string()
    }
}
