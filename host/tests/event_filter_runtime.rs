//! The `event-filter` world through the runtime: a filter drops, annotates
//! or accepts an event by its detail type; a filter that never returns is
//! stopped at its deadline; outputs are bounded; an uploaded filter is
//! checked for its world and kept compiled.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bbws_host::blobs::FsBlobs;
use bbws_host::runtime::bindings::EventFilterPre;
use bbws_host::runtime::{
    EcsEvent, FilterOutcome, GuestError, HostState, Invalid, Kind, Limits, Runtime, RuntimeConfig,
    Scope, content_hash,
};
use bbws_host::runtime::{MAX_COMPONENT_BYTES, Origin};
use bbws_host::service::decisions::DEFAULT_POLICY;

const BY_TYPE: &[u8] = include_bytes!(env!("BBWS_GUEST_EVENT_FILTER_BY_TYPE"));
const LOOP: &[u8] = include_bytes!(env!("BBWS_GUEST_EVENT_FILTER_LOOP"));

const TENANT: &str = "ten_00000000000000000000000000000001";

fn runtime() -> (Arc<Runtime>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(dir.path()))).unwrap();
    (rt, dir)
}

async fn prepare(rt: &Runtime, bytes: &[u8]) -> EventFilterPre<HostState> {
    rt.prepare_event_filter(&content_hash(bytes), bytes)
        .await
        .unwrap()
}

fn event(detail_type: &str) -> EcsEvent {
    EcsEvent {
        id: "6a7e4feb-b491-4cf7-a9f1-bf3703467718".into(),
        detail_type: detail_type.into(),
        resources: vec![
            "arn:aws:ecs:eu-west-1:111122223333:service/acme/www".into(),
            "arn:aws:ecs:eu-west-1:111122223333:task/acme/1".into(),
        ],
        detail_json: r#"{"lastStatus": "RUNNING"}"#.into(),
        time_ms: 1_767_225_600_000,
    }
}

fn filter(
    rt: &Runtime,
    pre: &EventFilterPre<HostState>,
    detail_type: &str,
    limits: Limits,
) -> Result<FilterOutcome, GuestError> {
    rt.filter_event(
        pre,
        TENANT,
        &event(detail_type),
        Arc::new(Scope::default()),
        limits,
        &Origin::new("test", "test"),
    )
}

#[tokio::test]
async fn a_filter_drops_one_detail_type_annotates_another_and_accepts_the_rest() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt, BY_TYPE).await;
    let limits = Limits::default();
    assert_eq!(
        filter(&rt, &pre, "ECS Task State Change", limits).unwrap(),
        FilterOutcome::Drop("event-filter-by-type: task changes are not synced".into())
    );
    assert_eq!(
        filter(&rt, &pre, "ECS Deployment State Change", limits).unwrap(),
        FilterOutcome::Annotate(vec![
            ("tenant".into(), TENANT.into()),
            ("resources".into(), "2".into()),
        ])
    );
    assert_eq!(
        filter(&rt, &pre, "ECS Service Action", limits).unwrap(),
        FilterOutcome::Accept
    );
}

#[tokio::test]
async fn a_filter_that_never_returns_is_stopped_at_its_deadline() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt, LOOP).await;
    let started = Instant::now();
    let err = filter(&rt, &pre, "ECS Task State Change", Limits::default()).unwrap_err();
    assert!(matches!(err, GuestError::Timeout(_)), "{err:?}");
    assert_eq!(err.code(), "guest_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stopped near its 10 ms deadline, not after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_drop_reason_or_labels_over_the_output_limit_are_refused() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt, BY_TYPE).await;
    let small = Limits {
        output_bytes: 16,
        ..Limits::default()
    };
    for detail_type in ["ECS Task State Change", "ECS Deployment State Change"] {
        let err = filter(&rt, &pre, detail_type, small).unwrap_err();
        assert!(
            matches!(err, GuestError::OutputTooLarge { limit: 16, .. }),
            "{detail_type}: {err:?}"
        );
    }
    assert_eq!(
        filter(&rt, &pre, "ECS Service Action", small).unwrap(),
        FilterOutcome::Accept
    );
}

#[tokio::test]
async fn an_uploaded_filter_is_checked_for_its_world_and_kept_compiled() {
    let (rt, _dir) = runtime();
    let info = rt
        .validate(Kind::EventFilter, BY_TYPE, MAX_COMPONENT_BYTES)
        .await
        .unwrap();
    assert_eq!(info.hash, content_hash(BY_TYPE));
    assert_eq!(info.exports, ["filter"]);
    prepare(&rt, BY_TYPE).await;
    assert_eq!(rt.stats().compiled.load(Relaxed), 0, "validation kept it");

    // A policy is not an event filter, nor an event filter a policy.
    let err = rt
        .validate(Kind::EventFilter, DEFAULT_POLICY, MAX_COMPONENT_BYTES)
        .await
        .unwrap_err();
    assert!(matches!(err, Invalid::WrongWorld(_)), "{err:?}");
    assert!(
        rt.validate(Kind::Policy, BY_TYPE, MAX_COMPONENT_BYTES)
            .await
            .is_err()
    );
    let err = rt
        .prepare_event_filter(&content_hash(DEFAULT_POLICY), DEFAULT_POLICY)
        .await
        .err()
        .expect("a policy is not an event filter");
    assert!(matches!(err, GuestError::Load(_)), "{err:?}");
}
