//! Resident memory of many tenants' policy components on one runtime.
//!
//! `cargo bench -p bbws-host --bench rss` makes `BBWS_RSS_TENANTS` (default
//! 1,000) distinct components by appending a custom section (id 0, a name
//! and a unique payload) to the platform policy's bytes: a different sha256,
//! the same behaviour. It prepares them all on one `Runtime` (LRU raised to
//! hold them), runs one decision on each, and prints VmRSS before and after.
//!
//! Then it does the same in a fresh process over the blob dir the first run
//! filled, so every component loads from its stored precompiled artifact, as
//! after a restart of the server; and in a third process on an
//! engine with the settings the `policy` bench proposed (`Knobs::proposed`,
//! which the runtime has adopted where the kernel has the pagemap scan).
//! It also prints open file descriptors (each copy-on-write memory image is
//! a memfd) and first/second-decision latencies per component.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bbws_host::blobs::FsBlobs;
use bbws_host::policy::Request as PolicyRequest;
use bbws_host::runtime::HostState;
use bbws_host::runtime::Origin;
use bbws_host::runtime::bindings::PolicyPre;
use bbws_host::runtime::bindings::types::{Decision, Request};
use bbws_host::runtime::{Limits, Runtime, RuntimeConfig, Scope, ScopeTenant, content_hash};
use bbws_host::service::decisions::DEFAULT_POLICY;

mod common;
use common::rss_kib;
use common::{Knobs, TestEngine};

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// `base` with a custom section `bbws-tenant` whose payload names tenant `i`.
fn with_custom_section(base: &[u8], i: usize) -> Vec<u8> {
    let name = b"bbws-tenant";
    let payload = format!("tenant {i:06}: a distinct component, the same policy");
    let mut content = Vec::new();
    leb128(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(payload.as_bytes());
    let mut out = base.to_vec();
    out.push(0);
    leb128(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

fn request() -> PolicyRequest {
    serde_json::from_value(serde_json::json!({
        "principal": {"userId": "usr_0000000000000000000000000000000a", "platformAdmin": false},
        "action": "site.promote",
        "tenantId": "ten_c",
        "roles": [
            {"tenantId": "ten_p", "role": "operator", "inherited": true},
            {"tenantId": "ten_c", "role": "viewer", "inherited": false}
        ],
        "resource": {"kind": "site", "id": "site_1", "attributes": [["targetEnvironment", "PROD"], ["plugin", "woocommerce"]]}
    }))
    .expect("the request parses")
}

fn scope() -> Arc<Scope> {
    let tenant = |id: &str, parent: Option<&str>| ScopeTenant {
        id: id.into(),
        organisation_name: id.into(),
        status: bbws_host::domain::TenantStatus::Active,
        parent_id: parent.map(str::to_string),
        tier: "standard".into(),
    };
    Arc::new(Scope {
        tenants: vec![tenant("ten_c", Some("ten_p")), tenant("ten_p", None)],
        ..Scope::default()
    })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// What the components run on: the production `Runtime`, or an engine
/// built from the runtime's settings with those of `Knobs::proposed`.
enum Host {
    Runtime(Arc<Runtime>, tokio::runtime::Runtime),
    Proposed(Box<TestEngine>),
}

impl Host {
    fn runtime(dir: &std::path::Path) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        let runtime = Runtime::new(
            RuntimeConfig {
                cache_bytes: usize::MAX,
                ..RuntimeConfig::default()
            },
            Arc::new(FsBlobs::new(dir)),
        )
        .expect("runtime");
        Host::Runtime(runtime, rt)
    }

    fn prepare(&self, hash: &str, bytes: &[u8]) -> PolicyPre<HostState> {
        match self {
            Host::Runtime(runtime, rt) => rt
                .block_on(runtime.prepare(hash, bytes))
                .expect("a component prepares"),
            Host::Proposed(engine) => engine.prepare(bytes).expect("a component compiles"),
        }
    }

    fn decide(
        &self,
        pre: &PolicyPre<HostState>,
        req: &Request,
        scope: &Arc<Scope>,
    ) -> Result<Decision, String> {
        match self {
            Host::Runtime(runtime, _) => runtime
                .authorize(
                    pre,
                    req,
                    "dec_test",
                    scope.clone(),
                    Limits::default(),
                    &Origin::new("test", "test"),
                )
                .map_err(|e| e.to_string()),
            Host::Proposed(engine) => engine
                .decide(pre, req, scope.clone(), Limits::default())
                .map_err(|e| format!("{e:#}")),
        }
    }

    fn stats(&self) -> String {
        match self {
            Host::Runtime(runtime, _) => format!(
                "runtime stats, the default policy included: compiled {}, loaded from artifacts {}",
                runtime.stats().compiled.load(Relaxed),
                runtime.stats().artifacts_loaded.load(Relaxed)
            ),
            Host::Proposed(_) => "compiled in process".into(),
        }
    }
}

fn quantiles(mut d: Vec<Duration>) -> String {
    d.sort_unstable();
    let at = |q: f64| d[((d.len() as f64 * q) as usize).min(d.len() - 1)].as_secs_f64() * 1e6;
    format!(
        "p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

/// Prepares `n` distinct components on one host and runs one decision on
/// each (then a second round), printing RSS and open fds at each step.
fn run(make_host: impl FnOnce() -> Host, n: usize, label: &str) {
    let components: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let bytes = with_custom_section(DEFAULT_POLICY, i);
            (content_hash(&bytes), bytes)
        })
        .collect();
    let req = Request::from(&request());
    let scope = scope();

    let (start, fds_start) = (rss_kib(), open_fds());
    let host = make_host();
    let base = host.prepare(&content_hash(DEFAULT_POLICY), DEFAULT_POLICY);
    let want = host.decide(&base, &req, &scope).expect("decides");
    let (before, fds_before) = (rss_kib(), open_fds());

    let t = Instant::now();
    let pres: Vec<_> = components.iter().map(|(h, b)| host.prepare(h, b)).collect();
    let prepared_in = t.elapsed();
    let (after_prepare, fds_prepared) = (rss_kib(), open_fds());

    // One decision on each. A first decision on a component can be slow (see
    // the report); failures are counted, not fatal, so the figures still print.
    let t = Instant::now();
    let mut took = Vec::with_capacity(n);
    let mut failures = Vec::new();
    for (i, pre) in pres.iter().enumerate() {
        let one = Instant::now();
        match host.decide(pre, &req, &scope) {
            Ok(got) => {
                assert_eq!(
                    format!("{got:?}"),
                    format!("{want:?}"),
                    "a custom section changes nothing the policy decides"
                );
                assert!(matches!(got, Decision::Allow(_)));
            }
            Err(e) => failures.push(format!("component {i}: {e} after {:?}", one.elapsed())),
        }
        took.push(one.elapsed());
    }
    let decided_in = t.elapsed();
    let (after_decisions, fds_decided) = (rss_kib(), open_fds());
    // A second round: the same components, now warm.
    let mut again = Vec::with_capacity(n);
    for pre in &pres {
        let one = Instant::now();
        let _ = host.decide(pre, &req, &scope);
        again.push(one.elapsed());
    }
    let after_again = rss_kib();

    println!("\n{label}");
    println!(
        "  components: {n} of {} B each (base {} B); {}",
        components[0].1.len(),
        DEFAULT_POLICY.len(),
        host.stats()
    );
    println!(
        "  VmRSS at start (no runtime)             {:>9.1} MiB  ({fds_start} open fds)",
        mib(start)
    );
    println!(
        "  VmRSS with the runtime + default policy {:>9.1} MiB  ({fds_before} open fds)",
        mib(before)
    );
    println!(
        "  VmRSS after preparing {n:>5}             {:>9.1} MiB  (+{:.1} MiB, {:.1} KiB per component; {fds_prepared} open fds; {:.2} s, {:.2} ms each)",
        mib(after_prepare),
        mib(after_prepare - before),
        (after_prepare - before) as f64 / n as f64,
        prepared_in.as_secs_f64(),
        prepared_in.as_secs_f64() * 1000.0 / n as f64
    );
    println!(
        "  VmRSS after one decision on each        {:>9.1} MiB  (+{:.1} MiB over prepared, {:.1} KiB per component over the runtime; {fds_decided} open fds; {:.1} us per decision)",
        mib(after_decisions),
        mib(after_decisions.saturating_sub(after_prepare)),
        (after_decisions - before) as f64 / n as f64,
        decided_in.as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "  VmRSS after a second round              {:>9.1} MiB",
        mib(after_again)
    );
    println!("  first decision on each component:  {}", quantiles(took));
    println!("  second decision on each component: {}", quantiles(again));
    if !failures.is_empty() {
        println!(
            "  FAILED first decisions: {} of {n}; the first few:",
            failures.len()
        );
        for f in failures.iter().take(5) {
            println!("    {f}");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) a
    // quick run over 20 components.
    let quick = !args
        .iter()
        .any(|a| a == "--bench" || a.starts_with("--from") || a == "--proposed");
    let n: usize = std::env::var("BBWS_RSS_TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 20 } else { 1_000 });
    // Later phases run in fresh processes, so each starts from a clean RSS:
    // `rss --from-artifacts DIR` and `rss --proposed`.
    if let Some(i) = args.iter().position(|a| a == "--from-artifacts") {
        let dir = std::path::PathBuf::from(&args[i + 1]);
        run(
            || Host::runtime(&dir),
            n,
            "restart: every component loaded from its stored artifact (fresh process)",
        );
        return;
    }
    if args.iter().any(|a| a == "--proposed") {
        run(
            || {
                Host::Proposed(Box::new(
                    TestEngine::new(Knobs::proposed()).expect("the engine"),
                ))
            },
            n,
            "proposed engine settings (no CoW images, pagemap_scan, keep_resident 256 KiB), compiled in process (fresh process)",
        );
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }

    // wasmtime accepts the tagged bytes, and they are distinct components.
    let a = with_custom_section(DEFAULT_POLICY, 0);
    let b = with_custom_section(DEFAULT_POLICY, 1);
    assert_ne!(content_hash(&a), content_hash(&b));
    let engine = wasmtime::Engine::default();
    wasmtime::component::Component::new(&engine, &a)
        .expect("wasmtime accepts a component with an appended custom section");
    drop(engine);

    let dir = tempfile::tempdir().expect("tempdir");
    run(
        || Host::runtime(dir.path()),
        n,
        "compile: every component compiled from its bytes (artifacts stored)",
    );
    let exe = std::env::current_exe().expect("current exe");
    let status = std::process::Command::new(&exe)
        .env("BBWS_RSS_TENANTS", n.to_string())
        .arg("--from-artifacts")
        .arg(dir.path())
        .status()
        .expect("the restart phase runs");
    assert!(status.success(), "the restart phase failed");
    let status = std::process::Command::new(&exe)
        .env("BBWS_RSS_TENANTS", n.to_string())
        .arg("--proposed")
        .status()
        .expect("the proposed phase runs");
    assert!(status.success(), "the proposed phase failed");
}
