//! `cargo bench -p bbws-host --bench sites`: throughput of site creation
//! on the embedded deployment (SQLite store, store-backed job queue, the
//! local provider with no simulated delay), in one process over loopback
//! HTTP.
//!
//! - **accept**: `POST /v1/tenants/{id}/sites` answered 202 per second, with
//!   the worker pool draining the queue at the same time (as in production);
//! - **active**: sites reaching ACTIVE per second, from the first request to
//!   the last site's job done;
//! - **baseline**: `POST /v1/tenants` answered 201 per second on the same
//!   server and connections: a synchronous create of a similar record, so
//!   the ratio says what the queue and the operation record cost.
//!
//! Environment: BENCH_SITES (default 3000), BENCH_CONNECTIONS (16),
//! BENCH_WORKERS (8, jobs at once).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bbws_host::server::{self, ServerConfig};
use serde_json::{Value, json};

const ADMIN: &str = "bench-admin-token";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sends `n` POSTs of `body(i)` to `path` over `connections` concurrent
/// clients; answers the seconds taken. Every answer must be `status`.
async fn drive(
    base: &str,
    path: &str,
    n: usize,
    connections: usize,
    status: u16,
    body: impl Fn(usize) -> Value + Send + Sync + 'static,
) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let body = Arc::new(body);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (next, body) = (next.clone(), body.clone());
        let url = format!("{base}{path}");
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let res = client
                    .post(&url)
                    .bearer_auth(ADMIN)
                    .json(&body(i))
                    .send()
                    .await
                    .expect("answered");
                assert_eq!(res.status().as_u16(), status, "{:?}", res.text().await);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// Sites of `tenant` not yet ACTIVE.
async fn pending(client: &reqwest::Client, base: &str, tenant: &str) -> usize {
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/tenants/{tenant}/sites?status=PROVISIONING&limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client
            .get(&url)
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        count += page["items"].as_array().unwrap().len();
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return count,
        }
    }
}

fn main() {
    let n = env("BENCH_SITES", 3000);
    let connections = env("BENCH_CONNECTIONS", 16);
    let workers = env("BENCH_WORKERS", 8);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let dir = tempfile::tempdir().unwrap();
            let mut config = ServerConfig::ephemeral(dir.path());
            config.bootstrap_token = Some(ADMIN.into());
            config.jobs.settings.workers = workers;
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

            // Warm up both paths (components compiled, caches filled).
            drive(
                &base,
                "/v1/tenants",
                200,
                connections,
                201,
                |i| json!({"organisationName": format!("warm {i}")}),
            )
            .await;

            let baseline = drive(
                &base,
                "/v1/tenants",
                n,
                connections,
                201,
                |i| json!({"organisationName": format!("tenant {i}")}),
            )
            .await;

            let started = Instant::now();
            let path = format!("/v1/tenants/{t}/sites");
            let accept = drive(
                &base,
                &path,
                n,
                connections,
                202,
                |i| json!({"name": format!("site-{i}")}),
            )
            .await;
            while pending(&client, &base, &t).await > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let active = started.elapsed().as_secs_f64();

            let rate = |secs: f64| n as f64 / secs;
            println!("sites: {n} requests, {connections} connections, {workers} workers");
            println!(
                "baseline  POST /v1/tenants          {:>8.0} /s (201)",
                rate(baseline)
            );
            println!(
                "accept    POST .../sites             {:>8.0} /s (202)  ratio to baseline {:.2}",
                rate(accept),
                baseline / accept
            );
            println!(
                "active    sites reaching ACTIVE      {:>8.0} /s        ratio to baseline {:.2}",
                rate(active),
                baseline / active
            );
            running.stop().await.unwrap();
        });
}
