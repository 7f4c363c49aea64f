//! `cargo bench -p bbws-host --bench scale`: what a caller's request costs
//! as the platform grows around it. For each platform size (1k, 10k, 100k
//! tenants by default) a fresh embedded server (SQLite, the local provider)
//! is loaded over loopback HTTP with that many tenants (a tenth of them
//! roots with nine children each), one user per root (its owner) and one
//! site per root, every request decided and logged as in production. Then
//! one non-admin user (owner of a root, viewer of four other tenants) asks:
//!
//! - **get**: `GET /v1/tenants/{id}`, a child of the tenant it owns;
//! - **list**: `GET /v1/tenants`, the tenants it may see (fourteen);
//! - **me**: `GET /v1/me`;
//! - **site**: `POST /v1/tenants/{id}/sites` (202).
//!
//! It prints p50 and p99 of each, their ratio to the smallest platform's
//! (the goal: p99 within 1.5x), resident memory after loading, and the
//! decision log's size per million decisions (on disk, and the records'
//! encoded bytes).
//!
//! Environment: BENCH_SCALE_TENANTS ("1000,10000,100000"),
//! BENCH_SCALE_SAMPLES (5000 per route), BENCH_SCALE_CONNECTIONS (4, for
//! the measured requests; loading uses 32).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bbws_host::server::{self, ServerConfig};
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN: &str = "bench-admin-token";
const LOAD_CONNECTIONS: usize = 32;
const CHILDREN: usize = 9;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sizes() -> Vec<usize> {
    std::env::var("BENCH_SCALE_TENANTS")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("BENCH_SCALE_TENANTS: numbers"))
        .collect()
}

/// One request; panics unless it is answered `status`.
async fn call(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
    status: u16,
) -> Value {
    let mut req = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(body);
    }
    let res = req.send().await.expect("answered");
    let got = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    assert_eq!(got, status, "{url}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Runs `f(i)` for i in 0..n over `connections` concurrent tasks; answers
/// each call's result in order of i.
async fn fan_out<T, F, Fut>(n: usize, connections: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let f = Arc::new(f);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (next, f) = (next.clone(), f.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return out;
                }
                out.push((i, f(client.clone(), i).await));
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, v)| v).collect()
}

/// p50 and p99 of `samples` latencies of `request(client, i)`, in µs.
async fn latencies<F, Fut>(samples: usize, connections: usize, request: F) -> (f64, f64)
where
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let request = Arc::new(request);
    let mut took = fan_out(samples, connections, move |client, i| {
        let request = request.clone();
        async move {
            let started = Instant::now();
            request(client, i).await;
            started.elapsed().as_secs_f64() * 1e6
        }
    })
    .await;
    took.sort_by(f64::total_cmp);
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    (at(0.50), at(0.99))
}

/// Resident memory of this process (server and clients) in MiB: anonymous
/// (heap, caches) and file-backed (SQLite's memory-mapped pages).
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("RssAnon:"), field("RssFile:"))
}

/// Waits until the decision log's writer has gone quiet: its commit count
/// (in /metrics) unchanged over half a second.
async fn settle(base: &str) {
    let client = reqwest::Client::new();
    let commits = || async {
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("bbws_store_commit_group_size_sum{store=\"decisions\"} "))
            .unwrap_or("0")
            .to_string()
    };
    let mut last = commits().await;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = commits().await;
        if now == last {
            return;
        }
        last = now;
    }
}

/// One measured route: `method url` as the caller, answered `status`.
struct Timed {
    name: &'static str,
    token: String,
    method: Method,
    url: String,
    status: u16,
    body: fn(usize) -> Value,
    check: Arc<dyn Fn(&Value) + Send + Sync>,
}

fn timed(name: &'static str, token: &str, method: Method, url: String, status: u16) -> Timed {
    Timed {
        name,
        token: token.to_string(),
        method,
        url,
        status,
        body: |_| Value::Null,
        check: Arc::new(|_| {}),
    }
}

impl Timed {
    /// The `i`th request sends `body(i)`.
    fn sending(self, body: fn(usize) -> Value) -> Self {
        Self { body, ..self }
    }

    /// Every answer must pass `check`.
    fn checking(self, check: impl Fn(&Value) + Send + Sync + 'static) -> Self {
        Self {
            check: Arc::new(check),
            ..self
        }
    }

    /// p50 and p99 of `samples` requests over `connections`, in µs.
    async fn measure(&self, samples: usize, connections: usize) -> (f64, f64) {
        let (token, url) = (Arc::new(self.token.clone()), Arc::new(self.url.clone()));
        let (method, status, body, check) = (
            self.method.clone(),
            self.status,
            self.body,
            self.check.clone(),
        );
        latencies(samples, connections, move |c, i| {
            let (token, url, method, check) =
                (token.clone(), url.clone(), method.clone(), check.clone());
            async move {
                let body = Some(body(i)).filter(|b| !b.is_null());
                check(&call(&c, method, &url, &token, body.as_ref(), status).await);
            }
        })
        .await
    }
}

struct Figures {
    tenants: usize,
    load_secs: f64,
    routes: Vec<(&'static str, f64, f64)>,
    rss_mib: (f64, f64),
    decisions: u64,
    log_disk_per_million: f64,
    log_record_per_million: f64,
}

/// The decision log as stored: (records, bytes on disk, encoded bytes).
fn decision_log(dir: &std::path::Path) -> (u64, u64, u64) {
    let path = dir.join("decisions.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let (n, bytes): (i64, i64) = conn
        .query_row(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM items",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let disk = std::fs::metadata(&path).map_or(0, |m| m.len());
    (n as u64, disk, bytes as u64)
}

/// `n` tenants created by the platform admin, spread over `parents` (or
/// roots); their ids in order.
async fn create_tenants(
    base: &Arc<String>,
    n: usize,
    parents: Option<Arc<Vec<String>>>,
) -> Vec<String> {
    let base = base.clone();
    fan_out(n, LOAD_CONNECTIONS, move |c, i| {
        let (base, parents) = (base.clone(), parents.clone());
        async move {
            let body = match &parents {
                Some(p) => json!({"organisationName": format!("child {i}"), "parentTenantId": p[i % p.len()]}),
                None => json!({"organisationName": format!("root {i}")}),
            };
            let url = format!("{base}/v1/tenants");
            id(call(&c, Method::POST, &url, ADMIN, Some(&body), 201).await, "tenantId")
        }
    })
    .await
}

/// A string field of an answer.
fn id(answer: Value, field: &str) -> String {
    answer[field].as_str().expect(field).to_string()
}

async fn measure(tenants: usize, samples: usize, connections: usize) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::ephemeral(dir.path());
    config.bootstrap_token = Some(ADMIN.into());
    let running = server::start(config).await.unwrap();
    let base = Arc::new(format!("http://{}", running.addr));
    let started = Instant::now();

    // The platform: roots, their children, an owner and a site per root.
    let roots_n = tenants.div_ceil(CHILDREN + 1);
    let roots = Arc::new(create_tenants(&base, roots_n, None).await);
    let children = create_tenants(&base, tenants - roots_n, Some(roots.clone())).await;
    let (b, r) = (base.clone(), roots.clone());
    let users: Vec<String> = fan_out(roots_n, LOAD_CONNECTIONS, move |c, i| {
        let (b, r) = (b.clone(), r.clone());
        async move {
            let body = json!({"email": format!("owner{i}@example.com"), "displayName": format!("Owner {i}")});
            let url = format!("{b}/v1/users");
            let user = id(call(&c, Method::POST, &url, ADMIN, Some(&body), 201).await, "userId");
            let url = format!("{b}/v1/tenants/{}/users/{user}", r[i]);
            call(&c, Method::PUT, &url, ADMIN, Some(&json!({"role": "owner"})), 200).await;
            let body = json!({"name": format!("site-{i}")});
            let url = format!("{b}/v1/tenants/{}/sites", r[i]);
            call(&c, Method::POST, &url, ADMIN, Some(&body), 202).await;
            user
        }
    })
    .await;
    // Every site's job done before anything is measured.
    loop {
        let (b, r) = (base.clone(), roots.clone());
        let pending: Vec<usize> = fan_out(r.len(), LOAD_CONNECTIONS, move |c, i| {
            let (b, r) = (b.clone(), r.clone());
            async move {
                let url = format!("{b}/v1/tenants/{}/sites?status=PROVISIONING", r[i]);
                call(&c, Method::GET, &url, ADMIN, None, 200).await["items"]
                    .as_array()
                    .unwrap()
                    .len()
            }
        })
        .await;
        if pending.iter().sum::<usize>() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ...and the decision log written out: no loading work left behind
    // to be measured with the caller's requests.
    settle(&base).await;
    let load_secs = started.elapsed().as_secs_f64();

    // The caller: owner of the first root (and so of its children), viewer
    // of four other tenants.
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/users/{}/tokens", users[0]);
    let answer = call(&client, Method::POST, &url, ADMIN, Some(&json!({})), 201).await;
    let token = id(answer, "token");
    for other in children.iter().rev().take(4) {
        let url = format!("{base}/v1/tenants/{other}/users/{}", users[0]);
        call(
            &client,
            Method::PUT,
            &url,
            ADMIN,
            Some(&json!({"role": "viewer"})),
            200,
        )
        .await;
    }
    let (owned, child) = (&roots[0], &children[0]);

    let expected = CHILDREN.min(tenants - 1) + 5;
    let routes = vec![
        timed(
            "get",
            &token,
            Method::GET,
            format!("{base}/v1/tenants/{child}"),
            200,
        ),
        timed(
            "list",
            &token,
            Method::GET,
            format!("{base}/v1/tenants"),
            200,
        )
        .checking(move |page| assert_eq!(page["items"].as_array().unwrap().len(), expected)),
        timed("me", &token, Method::GET, format!("{base}/v1/me"), 200),
        timed(
            "site",
            &token,
            Method::POST,
            format!("{base}/v1/tenants/{owned}/sites"),
            202,
        )
        .sending(|i| json!({"name": format!("probe-{i}")})),
    ];
    let mut measured = Vec::new();
    for route in routes {
        let (p50, p99) = route.measure(samples, connections).await;
        measured.push((route.name, p50, p99));
    }
    let routes = measured;
    let rss_mib = rss_mib();
    running.stop().await.unwrap();
    let (decisions, disk, encoded) = decision_log(dir.path());
    let per_million = |bytes: u64| bytes as f64 / decisions.max(1) as f64 * 1e6;
    Figures {
        tenants,
        load_secs,
        routes,
        rss_mib,
        decisions,
        log_disk_per_million: per_million(disk),
        log_record_per_million: per_million(encoded),
    }
}

fn main() {
    let samples = env_usize("BENCH_SCALE_SAMPLES", 5000);
    let connections = env_usize("BENCH_SCALE_CONNECTIONS", 4);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let mut all: Vec<Figures> = Vec::new();
            for tenants in sizes() {
                let f = measure(tenants, samples, connections).await;
                println!(
                    "{:>7} tenants: loaded in {:.1} s; RSS {:.0} MiB anonymous + {:.0} MiB file-backed; {} decisions logged, {:.0} MiB on disk and {:.0} MiB of records per million",
                    f.tenants,
                    f.load_secs,
                    f.rss_mib.0,
                    f.rss_mib.1,
                    f.decisions,
                    f.log_disk_per_million / (1 << 20) as f64,
                    f.log_record_per_million / (1 << 20) as f64,
                );
                for (i, (name, p50, p99)) in f.routes.iter().enumerate() {
                    let ratio = all
                        .first()
                        .map_or(String::new(), |b| format!("  p99 x{:.2} of {} tenants", p99 / b.routes[i].2, b.tenants));
                    println!("  {name:<5} p50 {p50:>7.0} us  p99 {p99:>7.0} us{ratio}");
                }
                all.push(f);
            }
            if let (Some(first), Some(last)) = (all.first(), all.last())
                && all.len() > 1
            {
                let worst = first
                    .routes
                    .iter()
                    .zip(&last.routes)
                    .map(|(a, b)| (a.0, b.2 / a.2))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .unwrap();
                println!(
                    "flat: p99 at {} tenants within {:.2}x of {} tenants (worst: {}; goal 1.5x) {}",
                    last.tenants,
                    worst.1,
                    first.tenants,
                    worst.0,
                    if worst.1 <= 1.5 { "yes" } else { "NO" }
                );
            }
        });
}
