//! A `bbws serve` process killed with SIGKILL in the middle of a job
//! finishes that job after a restart on the same data directory, exactly
//! once in effect: one site, not two; a clone whole, not half. And one
//! killed while it drains a batch of ECS events from SQS (on moto) loses
//! none and applies none twice. SIGTERM, by contrast, is a graceful stop:
//! the request and the job in flight finish before the process exits.
//! And a process killed under a load of concurrent writes, which SQLite's
//! writer commits in groups, loses none that it acknowledged.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN: &str = "sigkill-test-admin";

/// A `bbws serve` child process on `dir`, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts bbws with the local provider taking `delay` per step and a
    /// short job lease, so a killed job comes back quickly.
    fn start(dir: &std::path::Path, delay: &str) -> Server {
        Self::start_with(dir, delay, &[], &[])
    }

    /// [`Server::start`] with more flags and environment.
    fn start_with(
        dir: &std::path::Path,
        delay: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bbws"))
            .args(["serve", "--listen", "127.0.0.1:0", "--job-lease", "2s"])
            .args(["--local-provision-delay", delay])
            .args(args)
            .arg("--data-dir")
            .arg(dir)
            .env("BBWS_BOOTSTRAP_TOKEN", ADMIN)
            .env("BBWS_LOG", "warn")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("bbws starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("bbws printed its address").unwrap();
            if let Some(addr) = line.strip_prefix("bbws listening on ") {
                break addr.trim().to_string();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, base }
    }

    /// SIGTERM: the process drains and exits on its own.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits (30 s at most) for the process to end on its own, and
    /// asserts it exited successfully.
    async fn exits_cleanly(mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(Instant::now() < deadline, "bbws did not exit after SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(exit.success(), "{exit:?}");
    }

    /// SIGKILL: no shutdown, no cleanup.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(ADMIN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("bbws answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Polls an operation until `done` holds for it.
    async fn wait_op(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, op) = self
                .call("GET", &format!("/v1/operations/{id}"), None)
                .await;
            assert_eq!(status, 200, "{op}");
            if done(&op) {
                return op;
            }
            assert!(Instant::now() < deadline, "operation {id} stuck: {op}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Writes per commit of the item store, from `/metrics`: `(commits,
/// writes)`.
async fn item_commits(server: &Server) -> (u64, u64) {
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let figure = |name: &str| -> u64 {
        let prefix = format!("bbws_store_commit_group_size_{name}{{store=\"items\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
            .parse()
            .unwrap()
    };
    (figure("count"), figure("sum"))
}

#[tokio::test]
async fn a_process_killed_under_grouped_writes_loses_no_acknowledged_write() {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path(), "50ms");
    // Every writer creates tenants and renames each once with If-Match;
    // what was acknowledged (a 201, a 200) is written down before the next.
    // (tenant id, its acknowledged new name)
    type Acked = Vec<(String, Option<String>)>;
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..24 {
        let (base, acked) = (first.base.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0.. {
                let Ok(res) = client
                    .post(format!("{base}/v1/tenants"))
                    .bearer_auth(ADMIN)
                    .json(&json!({"organisationName": format!("w{w} t{i}")}))
                    .send()
                    .await
                else {
                    return;
                };
                if res.status() != 201 {
                    return;
                }
                let etag = res.headers()["etag"].to_str().unwrap().to_string();
                let Ok(tenant) = res.json::<Value>().await else {
                    return;
                };
                let id = tenant["tenantId"].as_str().unwrap().to_string();
                let entry = {
                    let mut acked = acked.lock().unwrap();
                    acked.push((id.clone(), None));
                    acked.len() - 1
                };
                let renamed = format!("w{w} t{i} renamed");
                let Ok(res) = client
                    .patch(format!("{base}/v1/tenants/{id}"))
                    .bearer_auth(ADMIN)
                    .header("if-match", etag)
                    .json(&json!({"organisationName": renamed}))
                    .send()
                    .await
                else {
                    return;
                };
                if res.status() != 200 || res.bytes().await.is_err() {
                    return;
                }
                acked.lock().unwrap()[entry].1 = Some(renamed);
            }
        }));
    }
    // Let the load build up until commits carry several writes each.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (commits, writes) = item_commits(&first).await;
        if acked.lock().unwrap().len() >= 300 && writes >= commits * 3 / 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no grouping under 24 writers: {writes} writes in {commits} commits"
        );
    }
    first.kill();
    for w in writers {
        w.await.unwrap();
    }

    let acked = acked.lock().unwrap().clone();
    let second = Server::start(dir.path(), "50ms");
    for (id, renamed) in &acked {
        let (status, tenant) = second.call("GET", &format!("/v1/tenants/{id}"), None).await;
        assert_eq!(status, 200, "acknowledged tenant {id} lost: {tenant}");
        if let Some(name) = renamed {
            assert_eq!(
                tenant["organisationName"], *name,
                "acknowledged rename of {id} lost"
            );
        }
    }
}

fn running(op: &Value) -> bool {
    op["status"] == "RUNNING"
}

fn ended(op: &Value) -> bool {
    matches!(op["status"].as_str(), Some("SUCCEEDED" | "FAILED"))
}

#[tokio::test]
async fn a_site_creation_killed_mid_job_finishes_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path(), "3s");
    let (_, tenant) = first
        .call(
            "POST",
            "/v1/tenants",
            Some(json!({"organisationName": "Crashy"})),
        )
        .await;
    let t = tenant["tenantId"].as_str().unwrap().to_string();
    let (status, site) = first
        .call(
            "POST",
            &format!("/v1/tenants/{t}/sites"),
            Some(json!({"name": "phoenix"})),
        )
        .await;
    assert_eq!(status, 202, "{site}");
    let op = site["operationId"].as_str().unwrap().to_string();
    first.wait_op(&op, running).await;
    first.kill();

    let second = Server::start(dir.path(), "50ms");
    let done = second.wait_op(&op, ended).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["attempts"], 2, "the killed delivery, then one more");
    let (_, list) = second
        .call("GET", &format!("/v1/tenants/{t}/sites"), None)
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one site, not two: {list}");
    assert_eq!(items[0]["status"], "ACTIVE");
    assert_eq!(items[0]["siteId"], site["siteId"]);
}

#[tokio::test]
async fn a_clone_killed_mid_copy_is_whole_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path(), "50ms");
    let (_, tenant) = first
        .call(
            "POST",
            "/v1/tenants",
            Some(json!({"organisationName": "Cloney"})),
        )
        .await;
    let t = tenant["tenantId"].as_str().unwrap().to_string();
    let (_, source) = first
        .call(
            "POST",
            &format!("/v1/tenants/{t}/sites"),
            Some(json!({"name": "source"})),
        )
        .await;
    let source_id = source["siteId"].as_str().unwrap().to_string();
    first
        .wait_op(source["operationId"].as_str().unwrap(), ended)
        .await;
    for slug in ["akismet", "jetpack", "wordpress-seo"] {
        let (status, body) = first
            .call(
                "POST",
                &format!("/v1/tenants/{t}/sites/{source_id}/plugins"),
                Some(json!({"slug": slug})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    first.kill();

    // The clone's copy step takes 3 s; kill the process inside it.
    let slow = Server::start(dir.path(), "3s");
    let (status, clone) = slow
        .call(
            "POST",
            &format!("/v1/tenants/{t}/sites/{source_id}/clone"),
            Some(json!({"name": "copy"})),
        )
        .await;
    assert_eq!(status, 202, "{clone}");
    let op = clone["operationId"].as_str().unwrap().to_string();
    slow.wait_op(&op, running).await;
    slow.kill();

    let again = Server::start(dir.path(), "50ms");
    let done = again.wait_op(&op, ended).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let clone_id = clone["siteId"].as_str().unwrap();
    let (_, plugins) = again
        .call(
            "GET",
            &format!("/v1/tenants/{t}/sites/{clone_id}/plugins"),
            None,
        )
        .await;
    let slugs: Vec<&str> = plugins["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, vec!["akismet", "jetpack", "wordpress-seo"]);
    let (_, list) = again
        .call("GET", &format!("/v1/tenants/{t}/sites"), None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
}

/// Runs git on the embedded deployment's GitOps remote; answers stdout.
fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(dir.join("gitops.git"))
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The subjects of the remote's commits that start with `prefix`.
fn commits_starting(dir: &std::path::Path, prefix: &str) -> usize {
    git(dir, &["log", "--format=%s", "main"])
        .lines()
        .filter(|s| s.starts_with(prefix))
        .count()
}

#[tokio::test]
async fn an_instance_creation_killed_mid_provisioning_finishes_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path(), "3s");
    let (_, tenant) = first
        .call(
            "POST",
            "/v1/tenants",
            Some(json!({"organisationName": "Crashy"})),
        )
        .await;
    let t = tenant["tenantId"].as_str().unwrap().to_string();
    let (status, created) = first
        .call(
            "POST",
            &format!("/v1/tenants/{t}/instances"),
            Some(json!({"name": "phoenix"})),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    let op = created["operationId"].as_str().unwrap().to_string();
    // Killed while the simulated database is still being created.
    first.wait_op(&op, running).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.kill();

    let second = Server::start(dir.path(), "50ms");
    let done = second.wait_op(&op, ended).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["attempts"], 2, "the killed delivery, then one more");
    let (_, list) = second
        .call("GET", &format!("/v1/tenants/{t}/instances"), None)
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one instance: {list}");
    let i = &items[0];
    assert_eq!(i["status"], "ACTIVE");
    assert_eq!(i["ecs"]["runningCount"], 2, "two tasks, not four: {i}");
    assert_eq!(i["appliedCommit"], created["gitCommit"]);
    assert_eq!(
        commits_starting(dir.path(), "Create instance phoenix"),
        1,
        "one commit"
    );
}

#[tokio::test]
async fn a_scaling_killed_mid_deployment_finishes_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Server::start(dir.path(), "20ms");
    let (_, tenant) = setup
        .call(
            "POST",
            "/v1/tenants",
            Some(json!({"organisationName": "Crashy"})),
        )
        .await;
    let t = tenant["tenantId"].as_str().unwrap().to_string();
    let (_, created) = setup
        .call(
            "POST",
            &format!("/v1/tenants/{t}/instances"),
            Some(json!({"name": "phoenix"})),
        )
        .await;
    let id = created["instanceId"].as_str().unwrap().to_string();
    let created_op = created["operationId"].as_str().unwrap().to_string();
    setup.wait_op(&created_op, ended).await;
    setup.kill();

    let first = Server::start(dir.path(), "3s");
    let (status, scaled) = first
        .call(
            "POST",
            &format!("/v1/tenants/{t}/instances/{id}/scale"),
            Some(json!({"desiredCount": 4})),
        )
        .await;
    assert_eq!(status, 202, "{scaled}");
    let op = scaled["operationId"].as_str().unwrap().to_string();
    first.wait_op(&op, running).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.kill();

    let second = Server::start(dir.path(), "50ms");
    let done = second.wait_op(&op, ended).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let (_, i) = second
        .call("GET", &format!("/v1/tenants/{t}/instances/{id}"), None)
        .await;
    assert_eq!(i["status"], "ACTIVE", "{i}");
    assert_eq!(i["desiredCount"], 4);
    assert_eq!(i["ecs"]["runningCount"], 4, "four tasks, not six: {i}");
    assert_eq!(i["lastScaling"]["status"], "SUCCEEDED");
    assert_eq!(i["appliedCommit"], i["gitCommit"]);
    assert_eq!(
        commits_starting(dir.path(), "Scale instance phoenix"),
        1,
        "one commit"
    );
}

/// The AWS settings of a child process on moto.
fn moto_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
    ]
}

#[tokio::test]
async fn a_process_killed_while_it_drains_sqs_events_loses_none_and_applies_none_twice() {
    let Some(endpoint) = bbws_testkit::aws_endpoint("ECS events from SQS across a SIGKILL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let queue = bbws_testkit::unique_name("events");
    let env = moto_env(&endpoint);
    let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let queue_flag = format!("sqs://{queue}");
    let args = ["--events-queue", queue_flag.as_str()];
    let first = Server::start_with(dir.path(), "0s", &args, &envs);
    let (_, tenant) = first
        .call(
            "POST",
            "/v1/tenants",
            Some(json!({"organisationName": "Drainy"})),
        )
        .await;
    let t = tenant["tenantId"].as_str().unwrap().to_string();
    let (_, created) = first
        .call(
            "POST",
            &format!("/v1/tenants/{t}/instances"),
            Some(json!({"name": "web"})),
        )
        .await;
    let id = created["instanceId"].as_str().unwrap().to_string();
    first
        .wait_op(created["operationId"].as_str().unwrap(), ended)
        .await;
    let (_, i) = first
        .call("GET", &format!("/v1/tenants/{t}/instances/{id}"), None)
        .await;

    // 400 task events (40 tasks, versions 1..=10) on the queue, as
    // EventBridge's SQS target puts them there.
    let aws = bbws_testkit::local_aws(&endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let url = sqs
        .get_queue_url()
        .queue_name(&queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let cluster_arn = i["ecs"]["clusterArn"].as_str().unwrap();
    let service = i["ecs"]["service"].as_str().unwrap();
    let mut ids = Vec::new();
    for task in 0..40 {
        let arn = format!("{}/k{task}", cluster_arn.replace(":cluster/", ":task/"));
        let mut entries = Vec::new();
        for version in 1..=10u64 {
            let event_id = format!("kill-{task}-{version}");
            let status = if version < 10 { "PENDING" } else { "RUNNING" };
            let event = json!({
                "version": "0", "id": event_id, "detail-type": "ECS Task State Change",
                "source": "aws.ecs", "account": "000000000000", "region": "local",
                "time": "2026-12-02T12:00:00Z", "resources": [arn],
                "detail": {"clusterArn": cluster_arn, "taskArn": arn, "group": format!("service:{service}"),
                           "lastStatus": status, "desiredStatus": "RUNNING", "version": version,
                           "updatedAt": "2026-12-02T12:00:00Z"}});
            entries.push(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("m{version}"))
                    .message_body(event.to_string())
                    .build()
                    .unwrap(),
            );
            ids.push(event_id);
        }
        sqs.send_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
    }
    // Killed once it has drained some, not all.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, page) = first
            .call("GET", &format!("/v1/tenants/{t}/events?limit=100"), None)
            .await;
        let from_sqs = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["via"] == "sqs")
            .count();
        if from_sqs >= 20 {
            break;
        }
        assert!(Instant::now() < deadline, "no event drained: {page}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill();

    let second = Server::start_with(dir.path(), "0s", &args, &envs);
    let deadline = Instant::now() + Duration::from_secs(120);
    let records = loop {
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/tenants/{t}/events?limit=100&cursor={c}"),
                None => format!("/v1/tenants/{t}/events?limit=100"),
            };
            let (_, page) = second.call("GET", &path, None).await;
            records.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["via"] == "sqs")
                    .cloned(),
            );
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let counted: std::collections::HashSet<&str> = records
            .iter()
            .filter(|e| e["outcome"] != "duplicate")
            .filter_map(|e| e["eventId"].as_str())
            .collect();
        if counted.len() == ids.len() {
            break records;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} events recorded",
            counted.len(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Every event counted exactly once (applied or stale); any other
    // delivery of it is a duplicate.
    for event_id in &ids {
        let outcomes: Vec<&str> = records
            .iter()
            .filter(|e| e["eventId"] == event_id.as_str() && e["outcome"] != "duplicate")
            .map(|e| e["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes.len(), 1, "{event_id}: {outcomes:?}");
        assert!(
            matches!(outcomes[0], "applied" | "stale"),
            "{event_id}: {outcomes:?}"
        );
    }
    let (_, i) = second
        .call("GET", &format!("/v1/tenants/{t}/instances/{id}"), None)
        .await;
    let tasks = i["eventSync"]["tasks"].as_object().unwrap();
    let ours: Vec<&Value> = tasks
        .iter()
        .filter(|(k, _)| k.contains("/k"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(ours.len(), 40);
    assert!(
        ours.iter()
            .all(|m| m["version"] == 10 && m["lastStatus"] == "RUNNING"),
        "{i}"
    );
}

#[tokio::test]
async fn sigterm_drains_the_request_and_the_job_in_flight_before_exiting() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "1s");
    let (_, tenant) = server
        .call(
            "POST",
            "/v1/tenants",
            Some(json!({"organisationName": "Draining"})),
        )
        .await;
    let t = tenant["tenantId"].as_str().unwrap().to_string();
    let (status, site) = server
        .call(
            "POST",
            &format!("/v1/tenants/{t}/sites"),
            Some(json!({"name": "finishes"})),
        )
        .await;
    assert_eq!(status, 202, "{site}");
    let op = site["operationId"].as_str().unwrap().to_string();
    server.wait_op(&op, running).await;

    // A request whose body is still on its way when SIGTERM arrives.
    let body = br#"{"organisationName": "Late but answered"}"#;
    let mut late = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    late.write_all(
        format!(
            "POST /v1/tenants HTTP/1.1\r\nHost: bbws\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    late.write_all(&body[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    late.write_all(&body[5..]).await.unwrap();
    let mut answer = String::new();
    late.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    // The process ends by itself, successfully, once the job is done.
    server.exits_cleanly().await;

    // The job finished in that run: one attempt, the site ACTIVE.
    let again = Server::start(dir.path(), "50ms");
    let (_, done) = again
        .call("GET", &format!("/v1/operations/{op}"), None)
        .await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["attempts"], 1, "finished before the exit: {done}");
    let (_, list) = again.call("GET", "/v1/tenants", None).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["organisationName"].as_str())
        .collect();
    assert!(names.contains(&"Late but answered"), "{list}");
}

#[tokio::test]
async fn a_server_stopped_with_sigterm_has_recorded_every_decision_it_answered() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "50ms");
    let (status, tenant) = server
        .call(
            "POST",
            "/v1/tenants",
            Some(json!({"organisationName": "Logged Ltd"})),
        )
        .await;
    assert_eq!(status, 201, "{tenant}");
    let id = tenant["tenantId"].as_str().unwrap().to_string();
    for _ in 0..40 {
        let (status, _) = server.call("GET", &format!("/v1/tenants/{id}"), None).await;
        assert_eq!(status, 200);
    }
    // At once: the log writes in batches every 20 ms, and the last batch
    // is still waiting.
    server.terminate();
    server.exits_cleanly().await;

    let again = Server::start(dir.path(), "50ms");
    let mut reads = 0;
    let mut cursor = String::new();
    loop {
        let (status, page) = again
            .call(
                "GET",
                &format!("/v1/tenants/{id}/decisions?limit=100{cursor}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        reads += page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["action"] == "tenant.read")
            .count();
        match page["nextCursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(reads, 40, "every answered read has its decision");
}
