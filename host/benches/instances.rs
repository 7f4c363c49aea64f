//! `cargo bench -p bbws-host --bench instances`: instances on the embedded
//! deployment (SQLite, the store queue, a bare GitOps repository under the
//! data directory, the local provider with no simulated delay), in one
//! process over loopback HTTP. Prints figures, no criterion:
//!
//! - **commit**: one GitOps commit + push through `GitOps::commit`, alone
//!   (p50, p99), and a burst of commits at once, pushed one by one (a
//!   batch limit of 1) and grouped (the default), in the same process;
//! - **accept**: `POST .../instances` answered 202 per second (each answer
//!   waits for its commit to be pushed), against `POST .../sites` (202) on
//!   the same server and connections;
//! - **active**: instances reaching ACTIVE per second, first request to
//!   last job, against sites reaching ACTIVE;
//! - **scale**: `POST .../scale` answered 202 per second (each one a
//!   commit), then scalings done per second;
//! - **status**: `GET .../status` per second against `GET .../instances/{id}`
//!   (the record alone): what the live look at the provider costs.
//!
//! Environment: BENCH_INSTANCES (default 400), BENCH_CONNECTIONS (16),
//! BENCH_WORKERS (8), BENCH_COMMITS (300).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bbws_host::infra::gitops::{Author, Change, GitOps};
use bbws_host::server::{self, ProviderSpec, ServerConfig};
use serde_json::{Value, json};

const ADMIN: &str = "bench-admin-token";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sends `n` requests made by `request(i)` over `connections` concurrent
/// clients; answers the seconds taken and the answers' bodies. Every
/// answer must be `status`.
async fn drive(
    n: usize,
    connections: usize,
    status: u16,
    request: impl Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> (f64, Vec<Value>) {
    let next = Arc::new(AtomicUsize::new(0));
    let request = Arc::new(request);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (next, request) = (next.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut bodies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let res = request(&client, i)
                    .bearer_auth(ADMIN)
                    .send()
                    .await
                    .expect("answered");
                assert_eq!(res.status().as_u16(), status, "{:?}", res.text().await);
                bodies.push((i, res.json::<Value>().await.unwrap_or(Value::Null)));
            }
            bodies
        }));
    }
    let mut bodies = Vec::new();
    for t in tasks {
        bodies.extend(t.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    bodies.sort_by_key(|(i, _)| *i);
    (secs, bodies.into_iter().map(|(_, b)| b).collect())
}

/// Waits until every operation has ended; answers how many failed.
async fn wait_all(client: &reqwest::Client, base: &str, ops: &[String]) -> usize {
    let mut failed = 0;
    for op in ops {
        loop {
            let v: Value = client
                .get(format!("{base}/v1/operations/{op}"))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            match v["status"].as_str() {
                Some("SUCCEEDED") => break,
                Some("FAILED") => {
                    failed += 1;
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
    failed
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// `commits` commits at once through one clone that batches at most
/// `limit` of them; answers commits per second.
async fn burst(commits: usize, limit: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let remote = GitOps::init_bare(&dir.path().join("remote.git"))
        .await
        .unwrap();
    let git = Arc::new(
        GitOps::open(&dir.path().join("work"), &remote)
            .await
            .unwrap()
            .with_batch_limit(limit),
    );
    let started = Instant::now();
    let tasks: Vec<_> = (0..commits)
        .map(|i| {
            let git = git.clone();
            tokio::spawn(async move {
                git.commit(
                    vec![Change::Put {
                        path: format!("tenants/t/instances/burst-{i}.json"),
                        bytes: format!("{{\"n\":{i}}}\n").into_bytes(),
                    }],
                    &format!("Create burst-{i}"),
                    &Author::platform(),
                    None,
                )
                .await
                .unwrap()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    commits as f64 / started.elapsed().as_secs_f64()
}

async fn bench_commits(commits: usize) {
    let dir = tempfile::tempdir().unwrap();
    let remote = GitOps::init_bare(&dir.path().join("remote.git"))
        .await
        .unwrap();
    let git = GitOps::open(&dir.path().join("work"), &remote)
        .await
        .unwrap();
    let author = Author::platform();
    let mut took = Vec::new();
    for i in 0..commits {
        let started = Instant::now();
        git.commit(
            vec![Change::Put {
                path: format!("tenants/t/instances/alone-{i}.json"),
                bytes: format!("{{\"n\":{i}}}\n").into_bytes(),
            }],
            &format!("Create alone-{i}"),
            &author,
            None,
        )
        .await
        .unwrap();
        took.push(started.elapsed());
    }
    took.sort();
    println!(
        "commit    one commit + push, alone           p50 {:>6.2} ms  p99 {:>6.2} ms  ({commits} commits)",
        percentile(&took, 0.5),
        percentile(&took, 0.99)
    );
    let one = burst(commits, 1).await;
    let grouped = burst(commits, 128).await;
    println!(
        "commit    {commits} at once, one push each        {:>8.0} /s",
        one
    );
    println!(
        "commit    {commits} at once, grouped              {:>8.0} /s        ratio to one push each {:.2}",
        grouped,
        grouped / one
    );
}

fn main() {
    let n = env("BENCH_INSTANCES", 400);
    let connections = env("BENCH_CONNECTIONS", 16);
    let workers = env("BENCH_WORKERS", 8);
    let commits = env("BENCH_COMMITS", 300);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            bench_commits(commits).await;

            let dir = tempfile::tempdir().unwrap();
            let mut config = ServerConfig::ephemeral(dir.path());
            config.bootstrap_token = Some(ADMIN.into());
            config.jobs.settings.workers = workers;
            // Room for every instance: this measures bbws, not placement.
            config.instances.provider = ProviderSpec::Local {
                capacity: 100 * n as u32,
            };
            let running = server::start(config).await.unwrap();
            let base = format!("http://{}", running.addr);
            let client = reqwest::Client::new();
            let tenant: Value = client
                .post(format!("{base}/v1/tenants"))
                .bearer_auth(ADMIN)
                .json(&json!({"organisationName": "Bench"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let t = tenant["tenantId"].as_str().unwrap().to_string();
            let sites = Arc::new(format!("{base}/v1/tenants/{t}/sites"));
            let instances = Arc::new(format!("{base}/v1/tenants/{t}/instances"));

            // Warm up (components compiled, caches filled).
            let url = sites.clone();
            drive(50, connections, 202, move |c, i| {
                c.post(url.as_str()).json(&json!({"name": format!("warm-{i}")}))
            })
            .await;

            // Sites, then instances, on the same server and connections.
            let started = Instant::now();
            let url = sites.clone();
            let (site_accept, answers) = drive(n, connections, 202, move |c, i| {
                c.post(url.as_str()).json(&json!({"name": format!("site-{i}")}))
            })
            .await;
            let ops: Vec<String> = answers
                .iter()
                .map(|a| a["operationId"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(wait_all(&client, &base, &ops).await, 0);
            let site_active = started.elapsed().as_secs_f64();

            let started = Instant::now();
            let url = instances.clone();
            let (accept, answers) = drive(n, connections, 202, move |c, i| {
                c.post(url.as_str()).json(&json!({"name": format!("inst-{i}")}))
            })
            .await;
            let ids: Arc<Vec<String>> = Arc::new(
                answers
                    .iter()
                    .map(|a| a["instanceId"].as_str().unwrap().to_string())
                    .collect(),
            );
            let ops: Vec<String> = answers
                .iter()
                .map(|a| a["operationId"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(wait_all(&client, &base, &ops).await, 0, "every creation succeeds");
            let active = started.elapsed().as_secs_f64();

            let started = Instant::now();
            let (url, list) = (instances.clone(), ids.clone());
            let (scale_accept, answers) = drive(n, connections, 202, move |c, i| {
                c.post(format!("{url}/{}/scale", list[i]))
                    .json(&json!({"desiredCount": 3}))
            })
            .await;
            let ops: Vec<String> = answers
                .iter()
                .map(|a| a["operationId"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(wait_all(&client, &base, &ops).await, 0, "every scaling succeeds");
            let scaled = started.elapsed().as_secs_f64();

            let reads = 4 * n;
            let (url, list) = (instances.clone(), ids.clone());
            let (record, _) = drive(reads, connections, 200, move |c, i| {
                c.get(format!("{url}/{}", list[i % list.len()]))
            })
            .await;
            let (url, list) = (instances.clone(), ids.clone());
            let (status, _) = drive(reads, connections, 200, move |c, i| {
                c.get(format!("{url}/{}/status", list[i % list.len()]))
            })
            .await;

            let rate = |count: usize, secs: f64| count as f64 / secs;
            println!("instances: {n} of each, {connections} connections, {workers} workers");
            println!(
                "accept    POST .../sites                {:>8.0} /s (202)",
                rate(n, site_accept)
            );
            println!(
                "accept    POST .../instances            {:>8.0} /s (202)  ratio to sites {:.2}",
                rate(n, accept),
                site_accept / accept
            );
            println!(
                "active    sites reaching ACTIVE         {:>8.0} /s",
                rate(n, site_active)
            );
            println!(
                "active    instances reaching ACTIVE     {:>8.0} /s        ratio to sites {:.2}",
                rate(n, active),
                site_active / active
            );
            println!(
                "scale     POST .../scale                {:>8.0} /s (202)",
                rate(n, scale_accept)
            );
            println!(
                "scale     scalings done                 {:>8.0} /s",
                rate(n, scaled)
            );
            println!(
                "read      GET .../instances/{{id}}        {:>8.0} /s",
                rate(reads, record)
            );
            println!(
                "status    GET .../status                {:>8.0} /s        ratio to the record {:.2}",
                rate(reads, status),
                record / status
            );
            running.stop().await.unwrap();
        });
}
