//! The component cache: a restart loads the precompiled artifact instead of
//! compiling; a corrupt artifact, or one that does not fit this engine, is
//! recompiled, never trusted.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bbws_host::blobs::{BlobStore, FsBlobs};
use bbws_host::policy::Request as PolicyRequest;
use bbws_host::runtime::Origin;
use bbws_host::runtime::bindings::types::{self, Decision};
use bbws_host::runtime::{Limits, Runtime, RuntimeConfig, Scope, content_hash};
use bbws_host::service::decisions::DEFAULT_POLICY;

fn runtime(dir: &std::path::Path) -> Arc<Runtime> {
    Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(dir))).unwrap()
}

fn sample() -> PolicyRequest {
    serde_json::from_value(serde_json::json!({
        "principal": {"userId": "usr_00000000000000000000000000000001", "platformAdmin": true},
        "action": "tenant.read",
        "resource": {"kind": "tenant"}
    }))
    .unwrap()
}

/// Prepares the default policy on a fresh runtime over `dir` and runs one decision.
async fn prepare_and_run(dir: &std::path::Path) -> Arc<Runtime> {
    let rt = runtime(dir);
    let pre = rt
        .prepare(&content_hash(DEFAULT_POLICY), DEFAULT_POLICY)
        .await
        .unwrap();
    let d = rt
        .authorize(
            &pre,
            &types::Request::from(&sample()),
            "dec_test",
            Arc::new(Scope::default()),
            Limits::default(),
            &Origin::new("test", "test"),
        )
        .unwrap();
    assert!(matches!(d, Decision::Allow(_)), "{d:?}");
    rt
}

fn artifact_key(rt: &Runtime) -> String {
    format!(
        "artifacts/{}/{}.cwasm",
        rt.fingerprint(),
        content_hash(DEFAULT_POLICY)
    )
}

#[tokio::test]
async fn a_restart_loads_the_precompiled_artifact_instead_of_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let first = prepare_and_run(dir.path()).await;
    assert_eq!(first.stats().compiled.load(Relaxed), 1);
    let second = prepare_and_run(dir.path()).await;
    assert_eq!(
        second.stats().compiled.load(Relaxed),
        0,
        "no compile after a restart"
    );
    assert_eq!(second.stats().artifacts_loaded.load(Relaxed), 1);
}

#[tokio::test]
async fn a_corrupt_artifact_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let first = prepare_and_run(dir.path()).await;
    let path = dir.path().join(artifact_key(&first));
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();

    let second = prepare_and_run(dir.path()).await;
    assert_eq!(second.stats().artifacts_rejected.load(Relaxed), 1);
    assert_eq!(second.stats().compiled.load(Relaxed), 1, "recompiled");
    // And the fresh artifact is good again.
    let third = prepare_and_run(dir.path()).await;
    assert_eq!(third.stats().artifacts_loaded.load(Relaxed), 1);
}

#[tokio::test]
async fn an_artifact_that_does_not_fit_this_engine_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let first = prepare_and_run(dir.path()).await;
    // Bytes whose digest matches, but which are no artifact of this engine.
    let blobs = FsBlobs::new(dir.path());
    let key = artifact_key(&first);
    let foreign = b"\x7fELF not an artifact of this engine".to_vec();
    blobs.put(&key, &foreign).await.unwrap();
    blobs
        .put(&format!("{key}.sha256"), content_hash(&foreign).as_bytes())
        .await
        .unwrap();

    let second = prepare_and_run(dir.path()).await;
    assert_eq!(second.stats().artifacts_rejected.load(Relaxed), 1);
    assert_eq!(second.stats().compiled.load(Relaxed), 1);
}

/// The compiled cache is bounded by the bytes of compiled code, not by a
/// count: with room for one of two components, preparing the second pushes
/// the first out, and the first comes back from its stored artifact.
#[tokio::test]
async fn the_compiled_cache_keeps_code_within_its_byte_limit() {
    use bbws_host::service::sites::catalogue::DEFAULT_TEMPLATE;
    let dir = tempfile::tempdir().unwrap();
    let probe = prepare_and_run(dir.path()).await;
    let policy_bytes = probe.cache_figures().bytes;
    probe
        .prepare_template(&content_hash(DEFAULT_TEMPLATE), DEFAULT_TEMPLATE)
        .await
        .unwrap();
    let template_bytes = probe.cache_figures().bytes - policy_bytes;
    assert!(
        policy_bytes > 0 && template_bytes > 0,
        "cached code has a size"
    );

    let rt = Runtime::new(
        RuntimeConfig {
            cache_bytes: policy_bytes.max(template_bytes),
            ..RuntimeConfig::default()
        },
        Arc::new(FsBlobs::new(dir.path())),
    )
    .unwrap();
    let policy = content_hash(DEFAULT_POLICY);
    rt.prepare(&policy, DEFAULT_POLICY).await.unwrap();
    assert_eq!(rt.cache_figures().entries, 1);
    rt.prepare_template(&content_hash(DEFAULT_TEMPLATE), DEFAULT_TEMPLATE)
        .await
        .unwrap();
    let figures = rt.cache_figures();
    assert_eq!(figures.entries, 1, "the policy made room: {figures:?}");
    assert!(figures.bytes <= figures.limit_bytes, "{figures:?}");
    assert!(rt.cached(&policy).is_none(), "the policy was pushed out");

    let loaded = rt.stats().artifacts_loaded.load(Relaxed);
    rt.prepare(&policy, DEFAULT_POLICY).await.unwrap();
    assert_eq!(
        rt.stats().artifacts_loaded.load(Relaxed),
        loaded + 1,
        "back from its artifact, not recompiled"
    );
}

/// A component of two core modules, each with a memory of 10 MiB: each
/// fits a 16 MiB limit alone, the two together do not.
const TWO_MEMORIES: &str = r#"
(component
  (core module $a (memory (export "m") 160))
  (core module $b (memory (export "m") 160))
  (core instance (instantiate $a))
  (core instance (instantiate $b))
)"#;

/// The memory limit is for all of a call's memories together.
#[test]
fn the_memory_limit_counts_every_memory_of_a_call_together() {
    use bbws_host::runtime::{HostState, new_store};
    use wasmtime::component::{Component, Linker};
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let component = Component::new(rt.engine(), TWO_MEMORIES).unwrap();
    let linker = Linker::<HostState>::new(rt.engine());
    let run = |memory_bytes: usize| {
        let limits = Limits {
            memory_bytes,
            deadline: std::time::Duration::from_secs(5),
            ..Limits::default()
        };
        let mut store = new_store(
            rt.engine(),
            HostState::new(Arc::new(Scope::default()), limits),
        );
        let result = linker.instantiate(&mut store, &component).map(|_| ());
        (result, store.data().limit_hit, store.data().memory_bytes)
    };
    let (refused, hit, _) = run(16 << 20);
    assert!(
        refused.is_err(),
        "20 MiB in two memories passed a 16 MiB limit"
    );
    assert_eq!(hit, Some("memory"));
    let (fits, hit, used) = run(20 << 20);
    assert!(fits.is_ok(), "{fits:?}");
    assert_eq!((hit, used), (None, 20 << 20));
}
