//! Request metrics in Prometheus text format: a counter per route and
//! status, and a latency histogram per route.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;

use super::AppState;

const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The process's request metrics.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        let mut latency = self.latency.lock();
        let h = latency
            .entry((method.to_string(), route.to_string()))
            .or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP bbws_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE bbws_http_requests_total counter\n");
        for ((method, route, status), n) in self.requests.lock().iter() {
            let _ = writeln!(
                out,
                "bbws_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP bbws_http_request_duration_seconds Time to answer.\n");
        out.push_str("# TYPE bbws_http_request_duration_seconds histogram\n");
        for ((method, route), h) in self.latency.lock().iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "bbws_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "bbws_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "bbws_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "bbws_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out
    }
}

/// The template catalogue's parameter schemas, `(from the cache, from a
/// guest)`, in exposition text.
pub fn render_schemas((cached, computed): (u64, u64)) -> String {
    format!(
        "# HELP bbws_template_schemas_total Parameter schemas the template catalogue listed, by where each came from.\n\
         # TYPE bbws_template_schemas_total counter\n\
         bbws_template_schemas_total{{source=\"cache\"}} {cached}\n\
         bbws_template_schemas_total{{source=\"guest\"}} {computed}\n"
    )
}

/// The SQLite writers' commit groups: a histogram of the writes each
/// commit carried, per store.
pub fn render_commit_groups(stores: &[(&str, Option<crate::store::CommitGroups>)]) -> String {
    let mut out = String::from(
        "# HELP bbws_store_commit_group_size Writes per SQLite commit (group commit).\n\
         # TYPE bbws_store_commit_group_size histogram\n",
    );
    for (store, groups) in stores {
        let Some(g) = groups else { continue };
        let mut cumulative = 0;
        for (bound, n) in &g.buckets {
            cumulative += n;
            let _ = writeln!(
                out,
                "bbws_store_commit_group_size_bucket{{store=\"{store}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "bbws_store_commit_group_size_bucket{{store=\"{store}\",le=\"+Inf\"}} {}\n\
             bbws_store_commit_group_size_sum{{store=\"{store}\"}} {}\n\
             bbws_store_commit_group_size_count{{store=\"{store}\"}} {}",
            g.commits, g.writes, g.commits
        );
    }
    out
}

/// Middleware: times each request under its route template (never the raw
/// path, so ids do not blow up the label space).
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    state.metrics.observe(
        &method,
        &route,
        res.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    res
}
