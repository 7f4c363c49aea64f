//! The event gate's EventBridge pattern matcher against an oracle: moto's
//! EventBridge. Several hundred deterministic (pattern, event) pairs (ECS
//! events shaped like `testdata/ecs-events`, patterns drawn with a
//! seeded generator over every operator), AWS's documented examples, and a
//! few patterns both must refuse, each judged by moto and by the gate guest
//! through the runtime (accepted, or dropped as a pattern mismatch or as an
//! invalid pattern). Every disagreement is reported at once.
//!
//! moto 5.2.5 does not implement `TestEventPattern` (its backend raises
//! `NotImplementedError`), so this asks moto the way EventBridge is used:
//! each pair gets an event bus with one rule (the pattern) targeting an SQS
//! queue, the pair's event is put on that bus, and moto's verdict is whether
//! the event reached the queue. `PutRule` says whether moto takes the
//! pattern as valid.
//!
//! Only what moto implements as AWS documents it is asked here; the rest is
//! covered by the unit tests of `guests/default-event-filter` against AWS's
//! (and Event Ruler's) verdicts. moto lacks, and so the generator never
//! draws:
//! - matching inside arrays of objects: moto does not descend into arrays
//!   (`{"detail": {"containers": {"name": ["x"]}}}` never matches there), and
//!   treats such an array, an empty array or an empty object as a leaf
//!   value for `exists` (AWS: objects are not leaves, an empty array has no
//!   value), so `detail.containers` and empty values are left out;
//! - the distinction of booleans and numbers: moto (Python) has `true == 1`,
//!   so `[1]` or `anything-but: [1]` meets `true` and `numeric` compares
//!   booleans; numbers are asked only of number fields, booleans of boolean
//!   ones;
//! - pattern validation beyond empty arrays and non-array leaves: moto
//!   takes `{}`, unknown operators, misshapen `numeric`, `anything-but`,
//!   `$or` and `exists` values, wildcards with `**` or bad escapes, and
//!   `cidr` /32, all of which AWS refuses; only valid patterns (and invalid
//!   ones moto does refuse) are drawn;
//! - `cidr` blocks with host bits set (moto matches nothing, AWS masks
//!   them): blocks are drawn as network addresses;
//! - an envelope of the caller's choosing: moto sets `id`, `account`,
//!   `time` (a number) and `region` itself, so patterns ask only about
//!   `source`, `detail-type`, `resources`, `region` and `detail`.
//!
//! Run with `scripts/with-moto.sh cargo test -p bbws-host --test
//! event_patterns`; without `BBWS_TEST_AWS_ENDPOINT` it skips (fails under
//! `CI=true`).

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_sqs::types::QueueAttributeName;
use bbws_host::blobs::FsBlobs;
use bbws_host::runtime::Origin;
use bbws_host::runtime::{
    DEFAULT_EVENT_FILTER, FilterOutcome, GateInput, Limits, Runtime, RuntimeConfig, Scope,
    content_hash,
};
use futures::{StreamExt, stream};
use serde_json::{Map, Value, json};

/// The generated pairs (the oracle's set holds more: the documented
/// examples and the validity probes).
const GENERATED: usize = 300;
const SEED: u64 = 0x6262_7773_2d67_6174; // "bbws-gat"

/// What moto sets in every event it delivers (region and account of the
/// test credentials).
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

const MISMATCH: &str = "event-gate: the tenant's event pattern does not match";
const INVALID: &str = "event-gate: invalid event pattern: ";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Match,
    NoMatch,
    Invalid,
}

struct Pair {
    name: String,
    pattern: String,
    /// The whole event: the envelope moto builds, with our source,
    /// detail-type, resources and detail.
    event: Value,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_and_moto_agree_on_every_pattern() {
    let Some(endpoint) =
        bbws_testkit::aws_endpoint("the event pattern oracle (moto's EventBridge)")
    else {
        return;
    };
    let pairs = pairs();
    let config = bbws_testkit::local_aws(&endpoint).await;
    let (moto, mut problems) = moto_verdicts(&config, &pairs).await;
    let gate = gate_verdicts(&pairs).await;

    let mut agreed: BTreeMap<Verdict, usize> = BTreeMap::new();
    for ((pair, moto), gate) in pairs.iter().zip(&moto).zip(&gate) {
        match gate {
            Ok(gate) if gate == moto => *agreed.entry(*gate).or_default() += 1,
            gate => problems.push(format!(
                "{}: moto says {moto:?}, the gate {gate:?}\n  pattern {}\n  detail {}",
                pair.name, pair.pattern, pair.event["detail"]
            )),
        }
    }
    let total: usize = agreed.values().sum();
    let _ = writeln!(
        std::io::stderr(),
        "event pattern oracle: {} pairs, {total} agree with moto ({agreed:?}), {} disagree",
        pairs.len(),
        problems.len()
    );
    assert!(
        problems.is_empty(),
        "{} disagreements with moto:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // Both verdicts are well represented.
    for verdict in [Verdict::Match, Verdict::NoMatch] {
        assert!(
            agreed.get(&verdict).copied().unwrap_or(0) >= 60,
            "{verdict:?}: {agreed:?}"
        );
    }
}

/// The generator covers every operator, and what moto implements of them.
#[test]
fn the_generated_patterns_cover_every_operator() {
    let pairs = pairs();
    let generated: Vec<&Pair> = pairs
        .iter()
        .filter(|p| p.name.starts_with("generated"))
        .collect();
    assert!(generated.len() >= 200);
    for op in [
        "\"prefix\"",
        "\"suffix\"",
        "\"equals-ignore-case\"",
        "\"wildcard\"",
        "\"anything-but\"",
        "\"numeric\"",
        "\">=\"",
        "\"<=\"",
        "\"=\"",
        "\"exists\":true",
        "\"exists\":false",
        "\"cidr\"",
        "\"$or\"",
        "null",
        "true",
    ] {
        let uses = generated.iter().filter(|p| p.pattern.contains(op)).count();
        assert!(uses >= 5, "{op} in {uses} patterns");
    }
}

// --- moto's verdicts --------------------------------------------------------

async fn moto_verdicts(
    config: &aws_config::SdkConfig,
    pairs: &[Pair],
) -> (Vec<Verdict>, Vec<String>) {
    let events = aws_sdk_eventbridge::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let prefix = bbws_testkit::unique_name("bbws-patterns");
    let queue_url = sqs
        .create_queue()
        .queue_name(&prefix)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap();
    let bus = |i: usize| format!("{prefix}-{i}");

    // A bus of its own per pair, with the pattern's rule.
    let valid: Vec<bool> = stream::iter(pairs.iter().enumerate())
        .map(|(i, pair)| {
            let (events, bus, queue_arn) = (events.clone(), bus(i), queue_arn.clone());
            async move {
                events.create_event_bus().name(&bus).send().await.unwrap();
                let rule = events
                    .put_rule()
                    .name("pattern")
                    .event_bus_name(&bus)
                    .event_pattern(&pair.pattern)
                    .send()
                    .await;
                if let Err(e) = rule {
                    let e = e.into_service_error();
                    assert!(
                        e.is_invalid_event_pattern_exception(),
                        "{}: {e:?}",
                        pair.name
                    );
                    return false;
                }
                events
                    .put_targets()
                    .rule("pattern")
                    .event_bus_name(&bus)
                    .targets(
                        Target::builder()
                            .id("queue")
                            .arn(queue_arn)
                            .build()
                            .unwrap(),
                    )
                    .send()
                    .await
                    .unwrap();
                true
            }
        })
        .buffered(8)
        .collect()
        .await;

    // Each pair's event on its bus, ten to a request.
    let mut pair_of: HashMap<String, usize> = HashMap::new();
    let put: Vec<usize> = (0..pairs.len()).filter(|&i| valid[i]).collect();
    for chunk in put.chunks(10) {
        let mut request = events.put_events();
        for &i in chunk {
            let event = &pairs[i].event;
            let resources = event["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            request = request.entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name(bus(i))
                    .source(event["source"].as_str().unwrap())
                    .detail_type(event["detail-type"].as_str().unwrap())
                    .set_resources(Some(resources))
                    .detail(event["detail"].to_string())
                    .build(),
            );
        }
        let out = request.send().await.unwrap();
        assert_eq!(out.failed_entry_count(), 0, "{:?}", out.entries());
        for (&i, entry) in chunk.iter().zip(out.entries()) {
            pair_of.insert(entry.event_id().unwrap().to_string(), i);
        }
    }

    // What reached the queue matched.
    let mut matched = vec![false; pairs.len()];
    let mut problems = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            break;
        }
        for message in out.messages() {
            let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
            let i = pair_of[body["id"].as_str().unwrap()];
            if body["detail"] != pairs[i].event["detail"] {
                problems.push(format!(
                    "{}: moto delivered another detail: {}",
                    pairs[i].name, body["detail"]
                ));
            }
            matched[i] = true;
        }
    }
    let verdicts = (0..pairs.len())
        .map(|i| match (valid[i], matched[i]) {
            (false, _) => Verdict::Invalid,
            (true, true) => Verdict::Match,
            (true, false) => Verdict::NoMatch,
        })
        .collect();
    (verdicts, problems)
}

// --- The gate's verdicts ----------------------------------------------------

async fn gate_verdicts(pairs: &[Pair]) -> Vec<Result<Verdict, String>> {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(dir.path()))).unwrap();
    let pre = rt
        .prepare_event_gate(&content_hash(DEFAULT_EVENT_FILTER), DEFAULT_EVENT_FILTER)
        .await
        .unwrap();
    // A generous deadline: this checks verdicts, not speed, on a busy machine.
    let limits = Limits {
        deadline: Duration::from_secs(2),
        ..Limits::default()
    };
    pairs
        .iter()
        .map(|pair| {
            let input = GateInput {
                event_json: pair.event.to_string(),
                pattern_json: Some(pair.pattern.clone()),
                ..GateInput::default()
            };
            match rt.gate_event(
                &pre,
                &input,
                Arc::new(Scope::default()),
                limits,
                &Origin::new("test", "test"),
            ) {
                Ok(FilterOutcome::Accept) => Ok(Verdict::Match),
                Ok(FilterOutcome::Drop(reason)) if reason == MISMATCH => Ok(Verdict::NoMatch),
                Ok(FilterOutcome::Drop(reason)) if reason.starts_with(INVALID) => {
                    Ok(Verdict::Invalid)
                }
                other => Err(format!("{other:?}")),
            }
        })
        .collect()
}

// --- The pairs ---------------------------------------------------------------

fn pairs() -> Vec<Pair> {
    let samples = samples();
    let mut rng = Rng(SEED);
    let mut pairs = Vec::new();
    for i in 0..GENERATED {
        let event = event(&mut rng, &samples);
        let pattern = loop {
            let pattern = pattern(&mut rng, &event);
            if !pattern.is_empty() {
                break Value::Object(pattern);
            }
        };
        pairs.push(Pair {
            name: format!("generated #{i}"),
            pattern: pattern.to_string(),
            event,
        });
    }
    pairs.extend(documented(&samples));
    pairs.extend(refused(&samples));
    pairs
}

/// The ECS samples, in name order, in the envelope moto builds.
fn samples() -> Vec<Value> {
    let dir = format!("{}/../testdata/ecs-events", env!("CARGO_MANIFEST_DIR"));
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 5, "samples in {dir}");
    paths
        .iter()
        .map(|p| {
            let mut event: Value =
                serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            event["region"] = json!(REGION);
            event["account"] = json!(ACCOUNT);
            event
        })
        .collect()
}

/// A tiny seeded generator (splitmix64): the same pairs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// An ECS event: a sample with its statuses varied, and fields of other
/// types ECS events carry (counts, utilisation, flags, nulls, addresses,
/// ARN lists, a nested object), each in some events.
fn event(rng: &mut Rng, samples: &[Value]) -> Value {
    let mut event = rng.pick(samples).clone();
    let detail = event["detail"].as_object_mut().unwrap();
    let vary: [(&str, &[&str]); 4] = [
        (
            "lastStatus",
            &["RUNNING", "STOPPED", "PENDING", "PROVISIONING"],
        ),
        ("desiredStatus", &["RUNNING", "STOPPED"]),
        ("eventType", &["INFO", "WARN", "ERROR"]),
        (
            "eventName",
            &[
                "SERVICE_STEADY_STATE",
                "SERVICE_TASK_START_IMPAIRED",
                "SERVICE_DEPLOYMENT_IN_PROGRESS",
                "SERVICE_DEPLOYMENT_COMPLETED",
                "SERVICE_DEPLOYMENT_FAILED",
            ],
        ),
    ];
    for (key, choices) in vary {
        if let Some(value) = detail.get_mut(key)
            && rng.chance(50)
        {
            *value = json!(rng.pick(choices));
        }
    }
    if let Some(version) = detail.get_mut("version") {
        *version = json!(rng.below(20));
    }
    if rng.chance(80) {
        detail.insert("desiredCount".into(), json!(rng.below(6)));
    }
    if rng.chance(70) {
        detail.insert(
            "cpuUtilization".into(),
            json!(rng.below(10_000) as f64 / 100.0),
        );
    }
    if rng.chance(50) {
        detail.insert("healthy".into(), json!(rng.chance(50)));
    }
    if rng.chance(70) {
        detail.insert("stoppedReason".into(), Value::Null);
    }
    if rng.chance(50) {
        let ip = Ipv4Addr::new(
            10,
            rng.below(4) as u8,
            rng.below(256) as u8,
            rng.below(256) as u8,
        );
        detail.insert("privateIPv4Address".into(), json!(ip.to_string()));
    }
    if rng.chance(25) {
        let ip = Ipv6Addr::new(
            0x2001,
            0xdb8,
            rng.below(4) as u16,
            0,
            0,
            0,
            0,
            rng.below(65536) as u16,
        );
        detail.insert("privateIPv6Address".into(), json!(ip.to_string()));
    }
    if rng.chance(40) {
        let providers: Vec<String> = (0..1 + rng.below(2))
            .map(|_| {
                format!(
                    "arn:aws:ecs:{REGION}:{ACCOUNT}:capacity-provider/{}",
                    rng.pick(&["FARGATE", "FARGATE_SPOT", "bbws-ec2"])
                )
            })
            .collect();
        detail.insert("capacityProviderArns".into(), json!(providers));
    }
    if rng.chance(40) {
        detail.insert(
            "deployment".into(),
            json!({
                "id": format!("ecs-svc/{}", rng.below(1000)),
                "status": rng.pick(&["PRIMARY", "ACTIVE", "INACTIVE"]),
                "rolloutState": rng.pick(&["IN_PROGRESS", "COMPLETED", "FAILED"]),
            }),
        );
    }
    if rng.chance(30) {
        let task = format!(
            "arn:aws:ecs:{REGION}:{ACCOUNT}:task/default/{:032x}",
            rng.next()
        );
        event["resources"].as_array_mut().unwrap().push(json!(task));
    }
    event
}

/// A place in the event a pattern can ask about.
#[derive(Clone, Copy)]
enum Spot<'a> {
    /// A scalar, or a non-empty array of scalars.
    Leaf(&'a Value),
    /// A non-empty object without arrays of objects.
    Object,
    /// Nothing there.
    Missing,
}

/// The places of `event` moto can judge (see the module's list), and a few
/// missing ones (beside, under and past leaves).
fn spots(event: &Value) -> Vec<(Vec<String>, Spot<'_>)> {
    fn walk<'a>(value: &'a Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Spot<'a>)>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                let plain = map.values().all(|v| !v.is_array() || scalars(v));
                if plain && !path.is_empty() {
                    out.push((path.clone(), Spot::Object));
                }
                for (key, value) in map {
                    path.push(key.clone());
                    walk(value, path, out);
                    path.pop();
                }
            }
            Value::Array(_) if scalars(value) => out.push((path.clone(), Spot::Leaf(value))),
            Value::Array(_) | Value::Object(_) => {}
            scalar => {
                out.push((path.clone(), Spot::Leaf(scalar)));
                if path
                    .last()
                    .is_some_and(|k| k == "lastStatus" || k == "eventName")
                {
                    let mut under = path.clone();
                    under.push("state".into());
                    out.push((under, Spot::Missing));
                }
            }
        }
    }
    fn scalars(array: &Value) -> bool {
        array
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(|v| !v.is_array() && !v.is_object()))
    }
    let mut out = Vec::new();
    for key in ["source", "detail-type", "resources", "region", "detail"] {
        let mut path = vec![key.to_string()];
        walk(&event[key], &mut path, &mut out);
    }
    for missing in [
        &["detail", "notThere"][..],
        &["detail", "deployment", "notThere"],
        &["notThere"],
    ] {
        out.push((
            missing.iter().map(|s| s.to_string()).collect(),
            Spot::Missing,
        ));
    }
    out
}

/// A pattern of one to three conditions on `event`, sometimes with an
/// `$or` of two or three alternatives (at the top, or inside `detail`).
fn pattern(rng: &mut Rng, event: &Value) -> Map<String, Value> {
    let spots = spots(event);
    let mut root = Map::new();
    for _ in 0..1 + rng.below(3) {
        let (path, spot) = rng.pick(&spots).clone();
        let leaf = condition(rng, spot);
        insert(&mut root, &path, leaf);
    }
    if rng.chance(30) {
        let in_detail = rng.chance(50);
        let candidates: Vec<&(Vec<String>, Spot)> = spots
            .iter()
            .filter(|(path, _)| !in_detail || (path[0] == "detail" && path.len() > 1))
            .collect();
        let alternatives: Vec<Value> = (0..2 + rng.below(2))
            .map(|_| {
                let mut alternative = Map::new();
                while alternative.is_empty() {
                    for _ in 0..1 + rng.below(2) {
                        let (path, spot) = rng.pick(&candidates);
                        let path = if in_detail { &path[1..] } else { &path[..] };
                        insert(&mut alternative, path, condition(rng, *spot));
                    }
                }
                Value::Object(alternative)
            })
            .collect();
        let level = if in_detail {
            match root.entry("detail").or_insert_with(|| json!({})) {
                Value::Object(detail) => Some(detail),
                _ => None,
            }
        } else {
            Some(&mut root)
        };
        if let Some(level) = level {
            level.insert("$or".into(), Value::Array(alternatives));
        }
    }
    root
}

/// Puts `leaf` at `path`, unless the pattern already has a leaf on the way
/// or a nested pattern there.
fn insert(map: &mut Map<String, Value>, path: &[String], leaf: Value) {
    let (last, parents) = path.split_last().unwrap();
    let mut level = map;
    for key in parents {
        match level.entry(key.clone()).or_insert_with(|| json!({})) {
            Value::Object(next) => level = next,
            _ => return,
        }
    }
    if !level.get(last).is_some_and(Value::is_object) {
        level.insert(last.clone(), leaf);
    }
}

/// A leaf condition on `spot`, meant to match two times in three (so
/// that patterns of several conditions match about half the time).
fn condition(rng: &mut Rng, spot: Spot) -> Value {
    let hit = rng.chance(65);
    match spot {
        // Neither is a leaf with a value: only `exists: false` matches.
        Spot::Missing | Spot::Object if hit => match rng.below(2) {
            0 => json!([{"exists": false}]),
            _ => json!([other(rng), {"exists": false}]),
        },
        Spot::Missing | Spot::Object => match rng.below(4) {
            0 => json!([{"exists": true}]),
            1 => json!([other(rng)]),
            2 => json!([{"prefix": "a"}]),
            _ => json!([{"anything-but": other(rng)}]),
        },
        Spot::Leaf(Value::Array(items)) => {
            let item = rng.pick(items);
            scalar_condition(rng, item, hit)
        }
        Spot::Leaf(value) => scalar_condition(rng, value, hit),
    }
}

fn scalar_condition(rng: &mut Rng, value: &Value, hit: bool) -> Value {
    match value {
        Value::String(s) => string_condition(rng, s, hit),
        Value::Number(n) => number_condition(rng, n.as_f64().unwrap(), hit),
        Value::Bool(b) => match rng.below(4) {
            0 => json!([*b == hit]),
            1 => json!([true, false]),
            2 => json!([{"exists": hit}]),
            _ => json!([*b == hit, "true"]),
        },
        // null
        _ if hit => match rng.below(2) {
            0 => json!([null]),
            _ => json!([{"exists": true}]),
        },
        _ => match rng.below(3) {
            0 => json!([""]),
            1 => json!(["null", 0]),
            _ => json!([{"exists": false}]),
        },
    }
}

fn other(rng: &mut Rng) -> Value {
    json!(rng.pick(&[
        "RUNNING",
        "aws.ec2",
        "INFO",
        "",
        "arn:aws:ecs:x",
        "Service",
        "ECS Service Action"
    ]))
}

fn string_condition(rng: &mut Rng, s: &str, hit: bool) -> Value {
    let miss = |t: &str| if hit { t.to_string() } else { format!("{t}#") };
    let cut = cut(rng, s);
    let (head, tail) = s.split_at(cut);
    if rng.chance(50)
        && let Some(block) = cidr(rng, s, hit)
    {
        return json!([{ "cidr": block }]);
    }
    match rng.below(17) {
        0 => {
            if rng.chance(50) {
                json!([miss(s)])
            } else {
                json!([other(rng), miss(s)])
            }
        }
        1 => json!([{"prefix": miss(head)}]),
        2 => json!([{"prefix": {"equals-ignore-case": miss(&swap_case(head))}}]),
        3 => json!([{"suffix": if hit { tail.to_string() } else { format!("#{tail}") }}]),
        4 => {
            json!([{"suffix": {"equals-ignore-case": if hit { swap_case(tail) } else { format!("#{tail}") }}}])
        }
        5 => json!([{"equals-ignore-case": miss(&swap_case(s))}]),
        6 => json!([{"wildcard": miss(&glob(rng, s))}]),
        7 => json!([{"anything-but": if hit { format!("{s}#") } else { s.to_string() }}]),
        8 => {
            json!([{"anything-but": if hit { vec![format!("{s}#"), "x".into()] } else { vec!["x".into(), s.to_string()] }}])
        }
        9 => {
            // Not empty: AWS refuses an empty anything-but prefix.
            let head = if head.is_empty() {
                s.get(..1).unwrap_or("x")
            } else {
                head
            };
            json!([{"anything-but": {"prefix": if hit { format!("#{head}") } else { head.to_string() }}}])
        }
        10 => {
            let tail = if tail.is_empty() { "x" } else { tail };
            json!([{"anything-but": {"suffix": if hit { format!("{tail}#") } else { tail.to_string() }}}])
        }
        11 => {
            json!([{"anything-but": {"equals-ignore-case": if hit { format!("{s}#") } else { swap_case(s) }}}])
        }
        12 => {
            json!([{"anything-but": {"wildcard": if hit { format!("{}#", glob(rng, s)) } else { glob(rng, s) }}}])
        }
        13 => json!([{"exists": hit}]),
        14 => json!([other(rng), {"prefix": miss(head)}, {"suffix": "#"}]),
        _ => match cidr(rng, s, hit) {
            Some(block) => json!([{"cidr": block}]),
            None => json!([miss(s)]),
        },
    }
}

fn number_condition(rng: &mut Rng, n: f64, hit: bool) -> Value {
    let near = |rng: &mut Rng| num(n + rng.pick(&[-1.0, -0.5, 0.0, 0.5, 1.0]));
    match rng.below(7) {
        0 => json!([num(if hit { n } else { n + 1.0 })]),
        1 => json!([num(if hit { n } else { n + 0.25 }), "x"]),
        2 => json!([{"numeric": ["=", num(if hit { n } else { n - 1.0 })]}]),
        3 => {
            let op = rng.pick(&["<", "<=", ">", ">="]);
            json!([{"numeric": [op, near(rng)]}])
        }
        4 => {
            let low = near(rng);
            let high = num(low.as_f64().unwrap() + rng.pick(&[0.5, 1.0, 2.0]));
            let (low_op, high_op) = (rng.pick(&[">", ">="]), rng.pick(&["<", "<="]));
            json!([{"numeric": [low_op, low, high_op, high]}])
        }
        5 => match rng.below(3) {
            0 => json!([{"anything-but": num(if hit { n + 1.0 } else { n })}]),
            1 => json!([{"anything-but": [num(n + 1.0), num(n + 2.0)]}]),
            _ => json!([{"anything-but": [num(n - 1.0), num(n)]}]),
        },
        _ => json!([{"exists": hit}]),
    }
}

/// `x` as JSON: an integer when it is one (patterns then hold both forms).
fn num(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// A char boundary of `s`.
fn cut(rng: &mut Rng, s: &str) -> usize {
    let bounds: Vec<usize> = (0..=s.len()).filter(|&i| s.is_char_boundary(i)).collect();
    *rng.pick(&bounds)
}

fn swap_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// A wildcard matching `s`: a run of it (maybe empty, maybe at an end)
/// replaced by `*`, the rest escaped.
fn glob(rng: &mut Rng, s: &str) -> String {
    let escape = |t: &str| t.replace('\\', "\\\\").replace('*', "\\*");
    let start = cut(rng, s);
    let end = start + cut(rng, &s[start..]);
    format!("{}*{}", escape(&s[..start]), escape(&s[end..]))
}

/// A block holding (or, for a miss, not holding) the address `s`, written
/// as its network address.
fn cidr(rng: &mut Rng, s: &str, hit: bool) -> Option<String> {
    if let Ok(ip) = s.parse::<Ipv4Addr>() {
        let bits = 8 + rng.below(23) as u32; // 8..=30
        let mask = u32::MAX << (32 - bits);
        let mut network = u32::from(ip) & mask;
        if !hit {
            network ^= 1 << (32 - bits);
        }
        return Some(format!("{}/{bits}", Ipv4Addr::from(network)));
    }
    if let Ok(ip) = s.parse::<Ipv6Addr>() {
        let bits = 16 + rng.below(100) as u32; // 16..=115
        let mask = u128::MAX << (128 - bits);
        let mut network = u128::from(ip) & mask;
        if !hit {
            network ^= 1 << (128 - bits);
        }
        return Some(format!("{}/{bits}", Ipv6Addr::from(network)));
    }
    None
}

/// Documented examples on the same events: a name, two events (details),
/// and the named patterns each is asked.
type Group<'a> = (&'a str, [&'a Value; 2], Vec<(&'a str, Value)>);

/// AWS's documented examples (the user guide's event pattern pages and
/// Event Ruler's README), their events moved into an ECS envelope; each
/// pattern against an event it matches and one it does not. (The `time`
/// prefix example is left out: moto's `time` is a number.)
fn documented(samples: &[Value]) -> Vec<Pair> {
    let envelope = |detail: Value| {
        let mut event = samples[0].clone();
        event["detail"] = detail;
        event
    };
    let readme = json!({"c-count": 5, "d-count": 3, "x-limit": 301.8, "source-ip": "10.0.0.33",
                        "instance-id": "i-000000aaaaaa00000", "state": "running"});
    let readme_other = json!({"c-count": 9, "d-count": 12, "x-limit": 300, "source-ip": "10.1.0.33",
                              "instance-id": "i-000000aaaaaa00001", "state": "initializing"});
    let table = json!({"FileName": "dir/photo.png", "FilePath": "/usr/lib/x.so", "service": "EventBridge",
                       "Name": "Alice", "Location": "New York", "Day": "Sunday", "Price": 15, "UserID": null,
                       "Weather": "Sunny", "PaymentType": "Debit", "Region": "eu-west-1",
                       "state": "INITIALIZING", "LastName": ""});
    let table_other = json!({"FileName": "a.jpg", "FilePath": "/usr/bin/x", "service": "SQS", "Name": "Bob",
                             "Location": "Paris", "Day": "Sunday", "Price": 25, "UserID": "u-1",
                             "ProductName": "x", "Weather": "Raining", "PaymentType": "Cash",
                             "Region": "us-east-1", "state": "running", "LastName": "Doe"});
    let nulls = json!({"eventVersion": "", "responseElements": null});
    let macie = json!({"notification-type": "ALERT_CREATED", "tags": ["Custom_Alert", "Insider"],
                       "risk-score": 80, "trigger": {"alert-type": "basic", "risk": 8}});
    let macie_other = json!({"notification-type": "ALERT_CREATED", "tags": ["Custom_Alert"],
                             "risk-score": 30, "trigger": {"alert-type": "basic", "risk": 2}});
    // Each group's patterns, against each of its events.
    let groups: [Group; 4] = [
        (
            "README event",
            [&readme, &readme_other],
            vec![
                (
                    "simple matching",
                    json!({"detail": {"state": ["initializing", "running"]}}),
                ),
                (
                    "anything-but string",
                    json!({"detail": {"state": [{"anything-but": "initializing"}]}}),
                ),
                (
                    "anything-but number",
                    json!({"detail": {"x-limit": [{"anything-but": 123}]}}),
                ),
                (
                    "anything-but strings",
                    json!({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}),
                ),
                (
                    "anything-but numbers",
                    json!({"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}),
                ),
                (
                    "anything-but prefix",
                    json!({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}),
                ),
                (
                    "numeric matching",
                    json!({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}],
                                                       "d-count": [{"numeric": ["<", 10]}],
                                                       "x-limit": [{"numeric": ["=", 3.018e2]}]}}),
                ),
                (
                    "IP address matching",
                    json!({"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}),
                ),
                (
                    "complex example",
                    json!({"detail": {"state": [{"anything-but": "initializing"}],
                                                      "c-count": [{"numeric": [">", 0, "<=", 5]}],
                                                      "d-count": [{"numeric": ["<", 10]}],
                                                      "x-limit": [{"anything-but": [100, 200, 300]}],
                                                      "source-ip": [{"cidr": "10.0.0.0/8"}]}}),
                ),
                (
                    "region prefix",
                    json!({"source": ["aws.ecs"], "region": [{"prefix": "us-"}]}),
                ),
            ],
        ),
        (
            "null and empty values",
            [&nulls, &readme],
            vec![
                ("exists", json!({"detail": {"state": [{"exists": true}]}})),
                (
                    "exists false",
                    json!({"detail": {"c-count": [{"exists": false}]}}),
                ),
                ("empty string", json!({"detail": {"eventVersion": [""]}})),
                ("null", json!({"detail": {"responseElements": [null]}})),
                (
                    "null is not the empty string",
                    json!({"detail": {"eventVersion": [null]}}),
                ),
            ],
        ),
        (
            "Macie alert",
            [&macie, &macie_other],
            vec![
                (
                    "value matching",
                    json!({"detail": {"risk-score": [80], "trigger": {"risk": [8]}}}),
                ),
                ("array value", json!({"detail": {"tags": ["Insider"]}})),
            ],
        ),
        (
            "comparison operators",
            [&table, &table_other],
            vec![
                (
                    "suffix",
                    json!({"detail": {"FileName": [{"suffix": ".png"}]}}),
                ),
                (
                    "anything-but suffix",
                    json!({"detail": {"FileName": [{"anything-but": {"suffix": ".png"}}]}}),
                ),
                (
                    "anything-but ignore case",
                    json!({"detail": {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}}),
                ),
                (
                    "anything-but wildcard",
                    json!({"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}}),
                ),
                (
                    "anything-but begins with",
                    json!({"detail": {"Region": [{"anything-but": {"prefix": "us-"}}]}}),
                ),
                (
                    "begins with ignore case",
                    json!({"detail": {"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}}),
                ),
                (
                    "ends with ignore case",
                    json!({"detail": {"service": [{"suffix": {"equals-ignore-case": "tbridge"}}]}}),
                ),
                ("empty", json!({"detail": {"LastName": [""]}})),
                ("equals", json!({"detail": {"Name": ["Alice"]}})),
                (
                    "equals ignore case",
                    json!({"detail": {"Name": [{"equals-ignore-case": "alice"}]}}),
                ),
                (
                    "not exists",
                    json!({"detail": {"ProductName": [{"exists": false}]}}),
                ),
                (
                    "not",
                    json!({"detail": {"Weather": [{"anything-but": ["Raining"]}]}}),
                ),
                ("null value", json!({"detail": {"UserID": [null]}})),
                ("number", json!({"detail": {"Price": [15]}})),
                (
                    "numeric range",
                    json!({"detail": {"Price": [{"numeric": [">", 10, "<=", 20]}]}}),
                ),
                (
                    "or",
                    json!({"detail": {"PaymentType": ["Credit", "Debit"]}}),
                ),
                (
                    "or across fields",
                    json!({"detail": {"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}}),
                ),
                (
                    "wildcard",
                    json!({"detail": {"FileName": [{"wildcard": "dir/*.png"}]}}),
                ),
                (
                    "wildcard in the middle",
                    json!({"detail": {"service": [{"wildcard": "Event*e"}]}}),
                ),
            ],
        ),
    ];
    let mut pairs = Vec::new();
    for (group, details, examples) in groups {
        for (name, pattern) in examples {
            for (i, detail) in details.iter().enumerate() {
                pairs.push(Pair {
                    name: format!("documented: {name} ({group} {})", i + 1),
                    pattern: pattern.to_string(),
                    event: envelope((*detail).clone()),
                });
            }
        }
    }
    // The "Or" examples of Event Ruler's README, over an ECS detail.
    let service = json!({"metricName": "CPUUtilization", "namespace": "AWS/ECS", "metricType": "MetricType",
                         "scope": "Service", "spaceId": 1000});
    for (name, pattern) in [
        (
            "normal or",
            json!({"source": ["aws.ecs"], "detail": {"$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}]}}),
        ),
        (
            "or with an and inside",
            json!({"source": ["aws.ecs"], "detail": {"$or": [
            {"metricName": ["ReadLatency"]},
            {"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"]},
            {"scope": ["Service"]}]}}),
        ),
        (
            "nested or and and",
            json!({"source": ["aws.ecs"], "detail": {"$or": [
            {"metricName": ["ReadLatency"]},
            {"metricType": ["MetricType"], "namespace": ["AWS/ECS"],
             "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
            {"scope": ["Cluster"]}]}}),
        ),
        (
            "nested or, none",
            json!({"detail": {"$or": [
            {"metricName": ["ReadLatency"]},
            {"metricType": ["MetricType"], "$or": [{"metricId": [1234]}, {"spaceId": [1001]}]}]}}),
        ),
    ] {
        pairs.push(Pair {
            name: format!("documented: {name}"),
            pattern: pattern.to_string(),
            event: envelope(service.clone()),
        });
    }
    pairs
}

/// Patterns AWS refuses that moto refuses too.
fn refused(samples: &[Value]) -> Vec<Pair> {
    [
        r#"{"detail": {"lastStatus": []}}"#,
        r#"{"source": "aws.ecs"}"#,
        r#"{"detail": {"lastStatus": "RUNNING"}}"#,
        r#"{"detail": {"version": 4}}"#,
        r#"{"detail": {"lastStatus": ["RUNNING"]"#,
        "not json",
    ]
    .into_iter()
    .enumerate()
    .map(|(i, pattern)| Pair {
        name: format!("refused #{i}"),
        pattern: pattern.into(),
        event: samples[samples.len() - 1].clone(),
    })
    .collect()
}
