//! The `event-gate` world through the runtime: the platform's gate
//! (`guests/default-event-filter`, embedded as `DEFAULT_EVENT_FILTER`)
//! accepts ECS events of the synced kinds, drops other sources, other
//! detail types and environments the deployment does not sync, and applies
//! the tenant's EventBridge pattern; it is no tenant's event filter.

use std::sync::Arc;

use bbws_host::blobs::FsBlobs;
use bbws_host::runtime::Origin;
use bbws_host::runtime::bindings::EventGatePre;
use bbws_host::runtime::{
    DEFAULT_EVENT_FILTER, FilterOutcome, GateBatch, GateInput, GuestError, HostState, Invalid,
    Kind, Limits, Runtime, RuntimeConfig, Scope, content_hash,
};

fn runtime() -> (Arc<Runtime>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(dir.path()))).unwrap();
    (rt, dir)
}

async fn prepare(rt: &Runtime) -> EventGatePre<HostState> {
    rt.prepare_event_gate(&content_hash(DEFAULT_EVENT_FILTER), DEFAULT_EVENT_FILTER)
        .await
        .unwrap()
}

/// A task state change as EventBridge delivers it.
const TASK_EVENT: &str = r#"{
  "version": "0",
  "id": "9bcdac79-b31f-4d3d-9410-fbd727c29fab",
  "detail-type": "ECS Task State Change",
  "source": "aws.ecs",
  "account": "111122223333",
  "time": "2016-12-06T16:41:06Z",
  "region": "us-east-1",
  "resources": ["arn:aws:ecs:us-east-1:111122223333:task/b99d40b3-5176-4f71-9a52-9dbd6f1cebef"],
  "detail": {
    "clusterArn": "arn:aws:ecs:us-east-1:111122223333:cluster/default",
    "containers": [{"name": "wordpress", "lastStatus": "RUNNING"}],
    "group": "service:www",
    "lastStatus": "RUNNING",
    "version": 4
  }
}"#;

fn input(event: &str) -> GateInput {
    GateInput {
        event_json: event.into(),
        ..GateInput::default()
    }
}

fn gate(rt: &Runtime, pre: &EventGatePre<HostState>, input: &GateInput) -> FilterOutcome {
    rt.gate_event(
        pre,
        input,
        Arc::new(Scope::default()),
        Limits::default(),
        &Origin::new("test", "test"),
    )
    .unwrap()
}

fn drop(reason: &str) -> FilterOutcome {
    FilterOutcome::Drop(reason.into())
}

#[tokio::test]
async fn an_ecs_event_is_accepted() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt).await;
    assert_eq!(gate(&rt, &pre, &input(TASK_EVENT)), FilterOutcome::Accept);
}

#[tokio::test]
async fn another_source_or_detail_type_is_dropped_naming_it() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt).await;
    let ec2 = TASK_EVENT.replace("\"aws.ecs\"", "\"aws.ec2\"");
    assert_eq!(
        gate(&rt, &pre, &input(&ec2)),
        drop("event-gate: source aws.ec2 is not aws.ecs")
    );
    let instance = TASK_EVENT.replace(
        "ECS Task State Change",
        "ECS Container Instance State Change",
    );
    assert_eq!(
        gate(&rt, &pre, &input(&instance)),
        drop("event-gate: detail-type ECS Container Instance State Change is not synced")
    );
    assert_eq!(
        gate(&rt, &pre, &input("[]")),
        drop("event-gate: the event is not a JSON object")
    );
}

#[tokio::test]
async fn environments_the_deployment_does_not_sync_are_dropped() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt).await;
    let with_env = |env: Option<&str>| GateInput {
        environment: env.map(Into::into),
        accepted_environments: vec!["PROD".into()],
        ..input(TASK_EVENT)
    };
    assert_eq!(
        gate(&rt, &pre, &with_env(Some("PROD"))),
        FilterOutcome::Accept
    );
    assert_eq!(
        gate(&rt, &pre, &with_env(Some("DEV"))),
        drop("event-gate: environment DEV is not synced here (PROD)")
    );
    assert_eq!(
        gate(&rt, &pre, &with_env(None)),
        drop("event-gate: the instance has no Environment tag (synced here: PROD)")
    );
    // No list: all environments are synced.
    let any = GateInput {
        environment: Some("DEV".into()),
        ..input(TASK_EVENT)
    };
    assert_eq!(gate(&rt, &pre, &any), FilterOutcome::Accept);
}

#[tokio::test]
async fn the_tenants_pattern_decides_and_an_invalid_one_drops() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt).await;
    let with_pattern = |pattern: &str| GateInput {
        pattern_json: Some(pattern.into()),
        ..input(TASK_EVENT)
    };
    for matching in [
        r#"{"detail-type": ["ECS Task State Change"], "detail": {"lastStatus": ["RUNNING"]}}"#,
        r#"{"detail": {"containers": {"name": [{"prefix": "word"}]}}}"#,
        r#"{"detail": {"version": [{"numeric": [">", 3, "<=", 4]}]}}"#,
    ] {
        assert_eq!(
            gate(&rt, &pre, &with_pattern(matching)),
            FilterOutcome::Accept,
            "{matching}"
        );
    }
    assert_eq!(
        gate(
            &rt,
            &pre,
            &with_pattern(r#"{"detail": {"lastStatus": ["STOPPED"]}}"#)
        ),
        drop("event-gate: the tenant's event pattern does not match")
    );
    assert_eq!(
        gate(
            &rt,
            &pre,
            &with_pattern(r#"{"detail": {"lastStatus": [{"regex": "R.*"}]}}"#)
        ),
        drop("event-gate: invalid event pattern: detail.lastStatus: unknown operator `regex`")
    );
}

#[tokio::test]
async fn every_ecs_sample_is_accepted_without_a_pattern() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt).await;
    let dir = format!("{}/../testdata/ecs-events", env!("CARGO_MANIFEST_DIR"));
    let mut samples = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let event = std::fs::read_to_string(&path).unwrap();
            assert_eq!(
                gate(&rt, &pre, &input(&event)),
                FilterOutcome::Accept,
                "{}",
                path.display()
            );
            samples += 1;
        }
    }
    assert!(samples >= 5, "{samples} samples in {dir}");
}

#[tokio::test]
async fn a_reason_over_the_output_limit_is_refused() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt).await;
    let small = Limits {
        output_bytes: 16,
        ..Limits::default()
    };
    let ec2 = input(&TASK_EVENT.replace("\"aws.ecs\"", "\"aws.ec2\""));
    let err = rt
        .gate_event(
            &pre,
            &ec2,
            Arc::new(Scope::default()),
            small,
            &Origin::new("test", "test"),
        )
        .unwrap_err();
    assert!(
        matches!(err, GuestError::OutputTooLarge { limit: 16, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_gate_imports_no_functions_and_is_no_uploadable_event_filter() {
    let (rt, _dir) = runtime();
    let component = wasmtime::component::Component::new(rt.engine(), DEFAULT_EVENT_FILTER).unwrap();
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(rt.engine()).map(|(n, _)| n.into()).collect();
    let exports: Vec<String> = ty.exports(rt.engine()).map(|(n, _)| n.into()).collect();
    // Only the types interface, which holds no functions: no host calls.
    assert_eq!(imports, ["bbws:platform/types@0.1.0"]);
    assert_eq!(exports, ["gate"]);
    let err = rt
        .validate(Kind::EventFilter, DEFAULT_EVENT_FILTER, 1 << 20)
        .await
        .unwrap_err();
    assert!(matches!(err, Invalid::WrongWorld(_)), "{err:?}");
    let err = rt
        .prepare_event_filter(&content_hash(DEFAULT_EVENT_FILTER), DEFAULT_EVENT_FILTER)
        .await
        .err()
        .expect("the gate is not an event filter");
    assert!(matches!(err, GuestError::Load(_)), "{err:?}");
}

#[tokio::test]
async fn deep_nesting_is_judged_in_the_guests_small_stack() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt).await;
    let nested = |depth: usize, leaf: &str| {
        format!("{}{leaf}{}", "{\"a\": ".repeat(depth), "}".repeat(depth))
    };
    let deep = |depth: usize| GateInput {
        pattern_json: Some(nested(depth, r#"["x"]"#)),
        ..input(TASK_EVENT)
    };
    assert_eq!(
        gate(&rt, &pre, &deep(100)),
        drop("event-gate: the tenant's event pattern does not match")
    );
    // Past JSON's nesting limit: refused, not a trap.
    let FilterOutcome::Drop(reason) = gate(&rt, &pre, &deep(500)) else {
        panic!("accepted");
    };
    assert!(
        reason.starts_with(
            "event-gate: invalid event pattern: the pattern is not JSON: recursion limit exceeded"
        ),
        "{reason}"
    );
}

#[tokio::test]
async fn a_batch_gets_one_outcome_per_event_in_order_under_one_pattern() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt).await;
    let stopped = TASK_EVENT.replace(
        "\"lastStatus\": \"RUNNING\",",
        "\"lastStatus\": \"STOPPED\",",
    );
    assert_ne!(stopped, TASK_EVENT, "the sample changed");
    let batch = GateBatch {
        events: vec![
            TASK_EVENT.into(),
            TASK_EVENT.replace("\"aws.ecs\"", "\"aws.ec2\""),
            stopped,
            "[]".into(),
            TASK_EVENT.into(),
        ],
        pattern_json: Some(r#"{"detail": {"lastStatus": ["RUNNING"]}}"#.into()),
        ..GateBatch::default()
    };
    let outcomes = rt
        .gate_events(
            &pre,
            &batch,
            Arc::new(Scope::default()),
            Limits::default(),
            &Origin::new("test", "test"),
        )
        .unwrap();
    assert_eq!(
        outcomes,
        [
            FilterOutcome::Accept,
            drop("event-gate: source aws.ec2 is not aws.ecs"),
            drop("event-gate: the tenant's event pattern does not match"),
            drop("event-gate: the event is not a JSON object"),
            FilterOutcome::Accept,
        ]
    );
    // One reason over the output limit fails the whole call: the caller
    // fails closed (the events engine then judges that chunk event by
    // event).
    let small = Limits {
        output_bytes: 16,
        ..Limits::default()
    };
    let err = rt
        .gate_events(
            &pre,
            &batch,
            Arc::new(Scope::default()),
            small,
            &Origin::new("test", "test"),
        )
        .unwrap_err();
    assert!(matches!(err, GuestError::OutputTooLarge { .. }), "{err:?}");
    let empty = GateBatch::default();
    let none = rt
        .gate_events(
            &pre,
            &empty,
            Arc::new(Scope::default()),
            Limits::default(),
            &Origin::new("test", "test"),
        )
        .unwrap();
    assert!(none.is_empty());
}
