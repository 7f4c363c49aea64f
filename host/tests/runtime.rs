//! The component cache: a restart loads the precompiled artifact instead of
//! compiling; a corrupt artifact, or one that does not fit this engine, is
//! recompiled, never trusted.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bbws_host::blobs::{BlobStore, FsBlobs};
use bbws_host::policy::Request as PolicyRequest;
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
            Arc::new(Scope::default()),
            Limits::default(),
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
