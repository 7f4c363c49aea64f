//! `cargo bench -p bbws-host --bench events`: ECS events through
//! `POST /v1/events` end to end on the embedded deployment (SQLite, the
//! local provider with no simulated delay), in one process over loopback
//! HTTP, in batches of 100 from concurrent clients. Prints events per
//! second (no criterion) for:
//!
//! - **unfiltered**: a server that skips the filters (the baseline);
//! - **gate**: the platform's gate guest alone (the default);
//! - **pattern**: the gate with a tenant event pattern;
//! - **guest**: the gate and a tenant's own filter guest;
//!
//! each as a ratio to the baseline of the same round (the median over the
//! rounds, and the range). Each mode has a server of its own, set up and
//! warmed alike, and the rounds take the modes in turn. Every event is a new
//! SERVICE_STEADY_STATE of one of the instances (each applied: a write of
//! its instance and of its record).
//!
//! Environment: BENCH_EVENTS (default 20000), BENCH_INSTANCES (20),
//! BENCH_CONNECTIONS (4), BENCH_ROUNDS (3), BENCH_MODES (default all: `unfiltered,gate,
//! pattern,guest`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bbws_host::server::{self, ProviderSpec, Running, ServerConfig};
use serde_json::{Value, json};

const ADMIN: &str = "bench-admin-token";
const SECRET: &str = "bench-events-secret";
const BY_TYPE: &str = env!("BBWS_GUEST_EVENT_FILTER_BY_TYPE");

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bench {
    _dir: tempfile::TempDir,
    _server: Running,
    base: String,
    tenant: String,
    /// (service ARN, cluster ARN) per instance.
    services: Vec<(String, String)>,
    client: reqwest::Client,
}

impl Bench {
    async fn start(instances: usize, unfiltered: bool) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::ephemeral(dir.path());
        config.bootstrap_token = Some(ADMIN.into());
        config.events.secrets = vec![SECRET.into()];
        config.events.unfiltered = unfiltered;
        config.instances.provider = ProviderSpec::Local {
            capacity: 10 * instances as u32,
        };
        let server = server::start(config).await.unwrap();
        let base = format!("http://{}", server.addr);
        let client = reqwest::Client::new();
        let call = |method: reqwest::Method, path: String, body: Value| {
            let req = client
                .request(method, format!("{base}{path}"))
                .bearer_auth(ADMIN)
                .json(&body);
            async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let (get, post) = (reqwest::Method::GET, reqwest::Method::POST);
        let t = call(
            post.clone(),
            "/v1/tenants".into(),
            json!({"organisationName": "Bench"}),
        )
        .await;
        let tenant = t["tenantId"].as_str().unwrap().to_string();
        let mut ops = Vec::new();
        for k in 0..instances {
            let path = format!("/v1/tenants/{tenant}/instances");
            let created = call(post.clone(), path, json!({"name": format!("b{k}")})).await;
            ops.push((
                created["instanceId"].as_str().unwrap().to_string(),
                created["operationId"].as_str().unwrap().to_string(),
            ));
        }
        let mut services = Vec::new();
        for (id, op) in ops {
            loop {
                let o = call(get.clone(), format!("/v1/operations/{op}"), json!(null)).await;
                if o["status"] == "SUCCEEDED" {
                    break;
                }
                assert_ne!(o["status"], "FAILED", "{o}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let path = format!("/v1/tenants/{tenant}/instances/{id}");
            let i = call(get.clone(), path, json!(null)).await;
            services.push((
                i["ecs"]["serviceArn"].as_str().unwrap().to_string(),
                i["ecs"]["clusterArn"].as_str().unwrap().to_string(),
            ));
        }
        // Let the simulation's own events of the creations drain.
        tokio::time::sleep(Duration::from_secs(1)).await;
        Bench {
            _dir: dir,
            _server: server,
            base,
            tenant,
            services,
            client,
        }
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> u16 {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap().status().as_u16()
    }

    /// Sends `n` new steady states in batches of 100 over `connections`
    /// clients; answers events per second. `round` keeps the ids and times
    /// of one run apart from another's.
    async fn run(&self, n: usize, connections: usize, round: usize) -> f64 {
        let batches = n.div_ceil(100);
        let next = Arc::new(AtomicUsize::new(0));
        let start = chrono::Utc::now() + chrono::TimeDelta::hours(round as i64 + 1);
        let services = &self.services;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for client in 0..connections {
            let next = next.clone();
            // Each client has instances of its own, so every instance sees
            // its steady states in order (all applied, none stale).
            let mine: Vec<(String, String)> = services
                .iter()
                .enumerate()
                .filter(|(k, _)| k % connections == client)
                .map(|(_, s)| s.clone())
                .collect();
            let url = format!("{}/v1/events", self.base);
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches {
                        break;
                    }
                    let events: Vec<Value> = (0..100)
                        .map(|k| {
                            let seq = b * 100 + k;
                            let (service, cluster) = &mine[k % mine.len()];
                            let at = (start + chrono::TimeDelta::milliseconds(seq as i64))
                                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                            json!({"version": "0", "id": format!("bench-{round}-{seq}"),
                                   "detail-type": "ECS Service Action", "source": "aws.ecs",
                                   "account": "000000000000", "region": "local", "time": at,
                                   "resources": [service],
                                   "detail": {"eventType": "INFO", "eventName": "SERVICE_STEADY_STATE",
                                              "clusterArn": cluster, "createdAt": at}})
                        })
                        .collect();
                    let res: Value = client
                        .post(&url)
                        .header("X-Bbws-Events-Secret", SECRET)
                        .json(&json!({"events": events}))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let results = res["results"].as_array().expect("results");
                    assert!(
                        results.iter().all(|r| r["outcome"] == "applied"),
                        "{res}"
                    );
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        (batches * 100) as f64 / started.elapsed().as_secs_f64()
    }
}

/// What a run filters with.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Unfiltered,
    Gate,
    Pattern,
    Guest,
}

impl Mode {
    const ALL: [Mode; 4] = [Mode::Unfiltered, Mode::Gate, Mode::Pattern, Mode::Guest];

    fn name(self) -> &'static str {
        match self {
            Mode::Unfiltered => "unfiltered",
            Mode::Gate => "gate",
            Mode::Pattern => "pattern",
            Mode::Guest => "guest",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mode::Unfiltered => "unfiltered (baseline)",
            Mode::Gate => "gate",
            Mode::Pattern => "gate + tenant pattern",
            Mode::Guest => "gate + tenant filter guest",
        }
    }

    /// A fresh server set up to filter this way.
    async fn server(self, instances: usize) -> Bench {
        let b = Bench::start(instances, self == Mode::Unfiltered).await;
        match self {
            Mode::Unfiltered | Mode::Gate => {}
            Mode::Pattern => {
                let path = format!("/v1/tenants/{}/events/pattern", b.tenant);
                let pattern = json!({"pattern": {"source": ["aws.ecs"], "detail": {
                    "eventName": [{"prefix": "SERVICE_"}], "eventType": [{"anything-but": "ERROR"}]}}});
                let status = b.admin(reqwest::Method::PUT, &path, Some(pattern)).await;
                assert_eq!(status, 200);
            }
            Mode::Guest => {
                let wasm = std::fs::read(BY_TYPE).unwrap();
                let status = b
                    .client
                    .put(format!(
                        "{}/v1/tenants/{}/extensions/event-filter?activate=true",
                        b.base, b.tenant
                    ))
                    .bearer_auth(ADMIN)
                    .header("content-type", "application/wasm")
                    .body(wasm)
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, 201);
            }
        }
        b
    }
}

fn main() {
    let n = env("BENCH_EVENTS", 20_000);
    let instances = env("BENCH_INSTANCES", 20);
    let connections = env("BENCH_CONNECTIONS", 4);
    let rounds = env("BENCH_ROUNDS", 3);
    // BENCH_MODES=gate (comma-separated) runs only those, e.g. to profile
    // one of them.
    let chosen = std::env::var("BENCH_MODES").unwrap_or_default();
    let modes: Vec<Mode> = Mode::ALL
        .into_iter()
        .filter(|m| chosen.is_empty() || chosen.split(',').any(|c| c.trim() == m.name()))
        .collect();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            println!(
                "events    {n} in batches of 100, {instances} instances, {connections} clients, \
                 {rounds} rounds"
            );
            // Each mode on a server of its own, set up and warmed alike
            // (compiled guests, SQLite caches), then measured in rounds that
            // take the modes in turn: the runs differ only in the filters,
            // each server holds as many records as the others when its turn
            // comes, and a slow moment of the machine touches one round,
            // not one mode.
            let mut servers = Vec::new();
            for mode in &modes {
                let b = mode.server(instances).await;
                b.run(2_000, connections, 0).await;
                servers.push((*mode, b));
            }
            let mut rates = vec![Vec::new(); servers.len()];
            for round in 1..=rounds {
                for (k, (_, b)) in servers.iter().enumerate() {
                    rates[k].push(b.run(n, connections, round).await);
                }
            }
            for (k, (mode, _)) in servers.iter().enumerate() {
                // The ratio of each round to that round's baseline.
                let mut ratios: Vec<f64> = (0..rounds).map(|r| rates[k][r] / rates[0][r]).collect();
                ratios.sort_by(f64::total_cmp);
                let mut mine = rates[k].clone();
                mine.sort_by(f64::total_cmp);
                println!(
                    "{:<27} {:>8.0} events/s (median)   ratio {:.2} (median; {:.2}..{:.2})",
                    mode.label(),
                    mine[rounds / 2],
                    ratios[rounds / 2],
                    ratios[0],
                    ratios[rounds - 1],
                );
            }
        });
}
