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
//! after a restart of the server.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use bbws_host::blobs::FsBlobs;
use bbws_host::runtime::bindings::types::Decision;
use bbws_host::runtime::{Limits, Runtime, RuntimeConfig, Scope, ScopeTenant, content_hash};
use bbws_host::service::policies::{DEFAULT_POLICY, PolicyRequest};

/// VmRSS of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
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
        status: "ACTIVE".into(),
        parent_id: parent.map(str::to_string),
        tier: "standard".into(),
    };
    Arc::new(Scope {
        tenants: vec![tenant("ten_c", Some("ten_p")), tenant("ten_p", None)],
    })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Prepares `n` distinct components on one runtime over `dir` and runs one
/// decision on each, printing RSS at each step.
fn run(dir: &std::path::Path, n: usize, label: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let components: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let bytes = with_custom_section(DEFAULT_POLICY, i);
            (content_hash(&bytes), bytes)
        })
        .collect();
    let req = request().to_wit();
    let scope = scope();

    let start = rss_kib();
    let runtime = Runtime::new(
        RuntimeConfig {
            cache_capacity: n,
            ..RuntimeConfig::default()
        },
        Arc::new(FsBlobs::new(dir)),
    )
    .expect("runtime");
    let base = rt
        .block_on(runtime.prepare(&content_hash(DEFAULT_POLICY), DEFAULT_POLICY))
        .expect("the default policy prepares");
    let want = runtime
        .authorize(&base, &req, scope.clone(), Limits::default())
        .expect("decides");
    let before = rss_kib();

    let t = Instant::now();
    let mut pres = Vec::with_capacity(n);
    for (hash, bytes) in &components {
        pres.push(
            rt.block_on(runtime.prepare(hash, bytes))
                .expect("a tagged component prepares"),
        );
    }
    let prepared_in = t.elapsed();
    let after_prepare = rss_kib();

    let t = Instant::now();
    for pre in &pres {
        let got = runtime
            .authorize(pre, &req, scope.clone(), Limits::default())
            .expect("decides");
        assert_eq!(
            format!("{got:?}"),
            format!("{want:?}"),
            "a custom section changes nothing the policy decides"
        );
        assert!(matches!(got, Decision::Allow(_)));
    }
    let decided_in = t.elapsed();
    let after_decisions = rss_kib();
    // The cache holds them all: a second prepare is a hit, not a load.
    assert!(components.iter().all(|(h, _)| runtime.cached(h).is_some()));

    let stats = runtime.stats();
    println!("\n{label}");
    println!(
        "  components: {n} of {} B each (base {} B); runtime stats, the default policy included: compiled {}, loaded from artifacts {}",
        components[0].1.len(),
        DEFAULT_POLICY.len(),
        stats.compiled.load(Relaxed),
        stats.artifacts_loaded.load(Relaxed),
    );
    println!(
        "  VmRSS at start (no runtime)             {:>9.1} MiB",
        mib(start)
    );
    println!(
        "  VmRSS with the runtime + default policy {:>9.1} MiB",
        mib(before)
    );
    println!(
        "  VmRSS after preparing {n:>5}               {:>9.1} MiB  (+{:.1} MiB, {:.1} KiB per component; {:.2} s, {:.2} ms each)",
        mib(after_prepare),
        mib(after_prepare - before),
        (after_prepare - before) as f64 / n as f64,
        prepared_in.as_secs_f64(),
        prepared_in.as_secs_f64() * 1000.0 / n as f64
    );
    println!(
        "  VmRSS after one decision on each        {:>9.1} MiB  (+{:.1} MiB over prepared, {:.1} KiB per component over the runtime; {:.1} us per decision)",
        mib(after_decisions),
        mib(after_decisions.saturating_sub(after_prepare)),
        (after_decisions - before) as f64 / n as f64,
        decided_in.as_secs_f64() * 1e6 / n as f64
    );
}

fn main() {
    let n: usize = std::env::var("BBWS_RSS_TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let args: Vec<String> = std::env::args().collect();
    // The second phase: `rss --from-artifacts DIR`, in a fresh process.
    if let Some(i) = args.iter().position(|a| a == "--from-artifacts") {
        let dir = std::path::PathBuf::from(&args[i + 1]);
        run(
            &dir,
            n,
            "restart: every component loaded from its stored artifact (fresh process)",
        );
        return;
    }
    if args.iter().any(|a| a == "--test" || a == "--list") {
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
        dir.path(),
        n,
        "compile: every component compiled from its bytes (artifacts stored)",
    );
    let status = std::process::Command::new(std::env::current_exe().expect("current exe"))
        .arg("--from-artifacts")
        .arg(dir.path())
        .status()
        .expect("the restart phase runs");
    assert!(status.success(), "the restart phase failed");
}
