//! Two `bbws serve` processes on one DynamoDB table and one S3 bucket (moto,
//! from `scripts/with-moto.sh`): concurrent writes through both lose no
//! acknowledged write, every conflict is 409 or 412, and a policy activated
//! through one replica decides the next request through the other. Two
//! replicas on the aws provider, pushing to one GitOps remote, create 20
//! instances at once and lose no commit.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bbws_testkit as testkit;
use serde_json::{Value, json};

const ADMIN: &str = "replica-test-admin";

/// A `bbws serve` child process, killed when dropped.
struct Replica {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(endpoint: &str, table: &str, bucket: &str) -> Replica {
    start_with(endpoint, table, bucket, &[])
}

fn start_with(endpoint: &str, table: &str, bucket: &str, extra: &[&str]) -> Replica {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bbws"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", "dynamodb"])
        .args(extra)
        .args(["--table", table, "--create-table"])
        .args(["--blobs", &format!("s3://{bucket}/blobs")])
        .arg("--data-dir")
        .arg(dir.path())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("BBWS_BOOTSTRAP_TOKEN", ADMIN)
        .env("BBWS_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("bbws starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("bbws printed its address before exiting")
            .unwrap();
        if let Some(addr) = line.strip_prefix("bbws listening on ") {
            break addr.trim().to_string();
        }
    };
    // Keep reading stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Replica {
        child,
        base,
        _dir: dir,
    }
}

struct Api {
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        base: &str,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> (u16, Option<String>, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(etag) = if_match {
            req = req.header("if-match", etag);
        }
        let res = req.send().await.expect("the replica answers");
        let status = res.status().as_u16();
        let etag = res
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_string());
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, etag, body)
    }
}

fn ok(answer: (u16, Option<String>, Value), want: u16) -> Value {
    assert_eq!(answer.0, want, "{}", answer.2);
    answer.2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_table_lose_no_acknowledged_write() {
    let Some(endpoint) = testkit::aws_endpoint("the two-replica test") else {
        return;
    };
    let (table, bucket) = (
        testkit::unique_name("replicas"),
        testkit::unique_name("replicas"),
    );
    // The first creates the table and the bucket; then the second joins.
    let a = start(&endpoint, &table, &bucket);
    let b = start(&endpoint, &table, &bucket);
    let replicas = [a.base.as_str(), b.base.as_str()];
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
    };

    // Tenants created through A are read through B.
    let mut tenants = Vec::new();
    for i in 0..3 {
        let created = ok(
            api.call(
                replicas[0],
                "POST",
                "/v1/tenants",
                ADMIN,
                Some(json!({"organisationName": format!("Shared {i}")})),
                None,
            )
            .await,
            201,
        );
        let id = created["tenantId"].as_str().unwrap().to_string();
        let read = ok(
            api.call(
                replicas[1],
                "GET",
                &format!("/v1/tenants/{id}"),
                ADMIN,
                None,
                None,
            )
            .await,
            200,
        );
        assert_eq!(read["organisationName"], format!("Shared {i}"));
        tenants.push(id);
    }

    // Writers on both replicas rename, park and unpark the same tenants,
    // each with the version it read (If-Match).
    let writers = (0..24).map(|w| {
        let api = &api;
        let tenants = &tenants;
        async move {
            let mut acked = Vec::new();
            for round in 0..4 {
                let base = replicas[(w + round) % 2];
                let id = &tenants[(w + round) % tenants.len()];
                let path = format!("/v1/tenants/{id}");
                let (status, etag, _) = api.call(base, "GET", &path, ADMIN, None, None).await;
                assert_eq!(status, 200);
                let answer = match (w + round) % 3 {
                    0 | 1 => {
                        let name = format!("writer {w} round {round}");
                        let body = Some(json!({"organisationName": name}));
                        api.call(base, "PATCH", &path, ADMIN, body, etag.as_deref())
                            .await
                    }
                    _ => {
                        let action = if w % 2 == 0 { "park" } else { "unpark" };
                        let path = format!("{path}/{action}");
                        api.call(base, "POST", &path, ADMIN, None, etag.as_deref())
                            .await
                    }
                };
                match answer.0 {
                    200 => acked.push((id.clone(), answer.2)),
                    409 | 412 => {}
                    other => panic!("a write answered {other}: {}", answer.2),
                }
            }
            acked
        }
    });
    let acked: Vec<(String, Value)> = futures::future::join_all(writers)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(!acked.is_empty(), "some writes were acknowledged");

    // Every acknowledged write is in the final state: each one moved the
    // version by one, and the final document is the acknowledged answer
    // with the highest version, whichever replica reads it.
    for id in &tenants {
        let mine: Vec<&Value> = acked
            .iter()
            .filter(|(t, _)| t == id)
            .map(|(_, v)| v)
            .collect();
        let last = mine
            .iter()
            .max_by_key(|v| v["version"].as_u64().unwrap())
            .copied();
        for base in replicas {
            let now = ok(
                api.call(base, "GET", &format!("/v1/tenants/{id}"), ADMIN, None, None)
                    .await,
                200,
            );
            assert_eq!(
                now["version"].as_u64().unwrap(),
                1 + mine.len() as u64,
                "{id}: one version per acknowledged write ({} of them)",
                mine.len()
            );
            if let Some(last) = last {
                for field in ["organisationName", "status", "version"] {
                    assert_eq!(now[field], last[field], "{id}: {field}");
                }
            }
        }
    }

    // Role changes through both replicas: the final role is the one the
    // last acknowledged change set.
    let tenant = &tenants[0];
    let user = ok(
        api.call(
            replicas[0],
            "POST",
            "/v1/users",
            ADMIN,
            Some(json!({"email": "shared@example.com", "displayName": "Shared"})),
            None,
        )
        .await,
        201,
    );
    let user_id = user["userId"].as_str().unwrap();
    // Another owner first, so that no change below leaves the tenant
    // without one (that is refused with 409 `last_owner`).
    let anchor = ok(
        api.call(
            replicas[1],
            "POST",
            "/v1/users",
            ADMIN,
            Some(json!({"email": "anchor@example.com", "displayName": "Anchor"})),
            None,
        )
        .await,
        201,
    );
    let anchor_path = format!(
        "/v1/tenants/{tenant}/users/{}",
        anchor["userId"].as_str().unwrap()
    );
    let body = Some(json!({"role": "owner"}));
    ok(
        api.call(replicas[1], "PUT", &anchor_path, ADMIN, body, None)
            .await,
        200,
    );
    let member_path = format!("/v1/tenants/{tenant}/users/{user_id}");
    let roles = ["viewer", "operator", "admin", "owner"];
    for (i, role) in roles.iter().cycle().take(12).enumerate() {
        let base = replicas[i % 2];
        let body = Some(json!({"role": role}));
        ok(
            api.call(base, "PUT", &member_path, ADMIN, body, None).await,
            200,
        );
    }
    for base in replicas {
        let members = ok(
            api.call(
                base,
                "GET",
                &format!("/v1/tenants/{tenant}/users"),
                ADMIN,
                None,
                None,
            )
            .await,
            200,
        );
        let role = members["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["userId"] == user_id)
            .map(|m| m["role"].clone());
        assert_eq!(role, Some(json!("owner")), "the last change wins, on both");
    }

    // A policy uploaded and activated through A decides B's next request;
    // going back to the platform default through B reaches A's next request. Each decision reads the
    // tenant record (which names the active version) strongly consistently,
    // so the bound is the next request.
    let token = ok(
        api.call(
            replicas[0],
            "POST",
            &format!("/v1/users/{user_id}/tokens"),
            ADMIN,
            Some(json!({})),
            None,
        )
        .await,
        201,
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let other = &tenants[1];
    let path = format!("/v1/tenants/{other}");
    ok(
        api.call(
            replicas[0],
            "PUT",
            &format!("{path}/users/{user_id}"),
            ADMIN,
            Some(json!({"role": "owner"})),
            None,
        )
        .await,
        200,
    );
    ok(
        api.call(replicas[1], "GET", &path, &token, None, None)
            .await,
        200,
    );
    let upload = api
        .http
        .put(format!(
            "{}{path}/extensions/policy?activate=true",
            replicas[0]
        ))
        .bearer_auth(&token)
        .header("content-type", "application/wasm")
        .body(std::fs::read(env!("BBWS_GUEST_DENY_ALL")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status().as_u16(), 201);
    let denied = api
        .call(replicas[1], "GET", &path, &token, None, None)
        .await;
    assert_eq!(
        denied.0, 403,
        "B applies A's activation at once: {}",
        denied.2
    );
    assert_eq!(denied.2["code"], "policy_denied");
    ok(
        api.call(
            replicas[1],
            "DELETE",
            &format!("{path}/extensions/policy"),
            &token,
            None,
            None,
        )
        .await,
        200,
    );
    ok(
        api.call(replicas[0], "GET", &path, &token, None, None)
            .await,
        200,
    );
}

/// Runs git on a bare repository; answers stdout.
fn git(repo: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
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
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_creating_twenty_instances_at_once_push_twenty_commits_to_one_remote() {
    let Some(endpoint) = testkit::aws_endpoint("the two-replica GitOps race") else {
        return;
    };
    let (table, bucket, cluster) = (
        testkit::unique_name("gitops"),
        testkit::unique_name("gitops"),
        testkit::unique_name("ecs"),
    );
    let remote_dir = tempfile::tempdir().unwrap();
    let remote = remote_dir.path().join("gitops.git");
    let init = Command::new("git")
        .args(["init", "--quiet", "--bare", "--initial-branch=main"])
        .arg(&remote)
        .status()
        .unwrap();
    assert!(init.success());
    let remote_url = remote.to_str().unwrap();
    let args = [
        "--provider",
        "aws",
        "--ecs-cluster",
        cluster.as_str(),
        "--gitops-remote",
        remote_url,
        "--provider-poll",
        "50ms",
    ];
    let a = start_with(&endpoint, &table, &bucket, &args);
    let b = start_with(&endpoint, &table, &bucket, &args);
    let replicas = [a.base.as_str(), b.base.as_str()];
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
    };
    let tenant = ok(
        api.call(
            replicas[0],
            "POST",
            "/v1/tenants",
            ADMIN,
            Some(json!({"organisationName": "Racing Co"})),
            None,
        )
        .await,
        201,
    )["tenantId"]
        .as_str()
        .unwrap()
        .to_string();
    let before: usize = git(&remote, &["rev-list", "--count", "--all"])
        .trim()
        .parse()
        .unwrap_or(0);

    // 20 creations at once, alternating between the replicas.
    let path = format!("/v1/tenants/{tenant}/instances");
    let creations = (0..20).map(|n| {
        let (api, path) = (&api, &path);
        async move {
            let body = Some(json!({"name": format!("web-{n}")}));
            ok(
                api.call(replicas[n % 2], "POST", path, ADMIN, body, None)
                    .await,
                202,
            )
        }
    });
    let created = futures::future::join_all(creations).await;

    // Each answer names its own commit, and the remote has them all, once.
    let log = git(&remote, &["log", "--format=%H %s", "main"]);
    let mut shas = std::collections::BTreeSet::new();
    for c in &created {
        let sha = c["gitCommit"]
            .as_str()
            .expect("each creation names its commit");
        assert!(shas.insert(sha.to_string()), "a commit of its own: {sha}");
        assert!(log.contains(sha), "{sha} is on the remote");
    }
    let commits: usize = git(&remote, &["rev-list", "--count", "main"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(commits - before, 20, "20 commits: {log}");
    let files = git(&remote, &["ls-tree", "-r", "--name-only", "main"]);
    for c in &created {
        let file = format!(
            "tenants/{tenant}/instances/{}.json",
            c["instanceId"].as_str().unwrap()
        );
        assert!(files.lines().any(|l| l == file), "{file} in {files}");
    }
    assert_eq!(files.lines().filter(|l| l.ends_with(".json")).count(), 20);

    // Both replicas' workers bring them up, each once.
    for c in &created {
        let op = c["operationId"].as_str().unwrap();
        let mut tries = 0;
        let done = loop {
            let op = ok(
                api.call(
                    replicas[tries % 2],
                    "GET",
                    &format!("/v1/operations/{op}"),
                    ADMIN,
                    None,
                    None,
                )
                .await,
                200,
            );
            if op["status"] == "SUCCEEDED" || op["status"] == "FAILED" {
                break op;
            }
            tries += 1;
            assert!(tries < 1200, "the creation ends: {op}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
    }
    let listed = ok(
        api.call(
            replicas[1],
            "GET",
            &format!("{path}?limit=50"),
            ADMIN,
            None,
            None,
        )
        .await,
        200,
    );
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    assert!(items.iter().all(|i| i["status"] == "ACTIVE"), "{listed}");
    // Still 20 commits: the jobs found the requests' commits.
    let after: usize = git(&remote, &["rev-list", "--count", "main"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(after, commits);
}
