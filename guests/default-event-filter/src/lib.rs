//! The platform's event gate, an `event-gate` guest: the first filter every
//! ECS event meets, before a tenant's own `event-filter`. The host embeds it
//! and gives it a batch: events routed to one instance, each as EventBridge
//! delivered it (envelope and `detail`, as JSON text), the `Environment` tag
//! of that instance, the environments the deployment syncs and the tenant's
//! EventBridge event pattern (parsed once per batch). It accepts each event,
//! or drops it with a reason that begins `event-gate: `, checking in this
//! order:
//!
//! 1. the event must be a JSON object (`the event is not a JSON object`);
//! 2. its `source` must be `aws.ecs` (`source aws.ec2 is not aws.ecs`);
//! 3. its `detail-type` must be `ECS Service Action`, `ECS Deployment State
//!    Change` or `ECS Task State Change` (`detail-type X is not synced`);
//! 4. when the deployment names environments, the instance's must be one of
//!    them, exactly (`environment DEV is not synced here (PROD)`, or `the
//!    instance has no Environment tag (synced here: PROD)`);
//! 5. when the tenant set a pattern, it must be valid (`invalid event
//!    pattern: ...`) and match the event (`the tenant's event pattern does
//!    not match`).
//!
//! The pattern language is EventBridge's, implemented in [`pattern`].
//!
//! The `event-gate` world is the platform's, not an extension point, so the
//! SDK (`bbws-guest`, which tenants build on) does not export it: this crate
//! generates the world's bindings itself with wit-bindgen and links the SDK
//! only for its wasm32 runtime (allocator, `cabi_realloc`, panic handler).
//! Like the other guests it imports nothing from WASI, nor any host
//! interface (only the `types` its signature uses).

#![cfg_attr(not(test), no_std)]

extern crate alloc;

// The SDK's wasm32 runtime; nothing of its API is used.
use bbws_guest as _;

pub mod pattern;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use bindings::bbws::platform::types::{FilterOutcome, GateBatch};
use pattern::Pattern;
use serde_json::Value;

/// The generated bindings of the `event-gate` world.
#[allow(clippy::too_many_arguments)] // the generated glue of `gate`
mod bindings {
    wit_bindgen::generate!({
        world: "event-gate",
        path: "../../wit",
        // Outcomes compare, for the tests.
        additional_derives: [PartialEq, Eq],
    });
}

/// The detail types the platform syncs.
const DETAIL_TYPES: [&str; 3] = [
    "ECS Service Action",
    "ECS Deployment State Change",
    "ECS Task State Change",
];

/// The source of ECS events.
const SOURCE: &str = "aws.ecs";

/// How much of an event's value, or of a pattern's error, a reason quotes.
const QUOTE_BYTES: usize = 200;

struct Gate;

impl bindings::Guest for Gate {
    fn gate(batch: GateBatch) -> Vec<FilterOutcome> {
        gate(&batch)
    }
}

bindings::export!(Gate with_types_in bindings);

/// Judges each event of a batch, in order.
fn gate(batch: &GateBatch) -> Vec<FilterOutcome> {
    // What holds for every event of the batch, decided once: the
    // environment (checked after an event's own kind, so an event of the
    // wrong kind still says so) and the pattern.
    let environment = environment(batch);
    let pattern = batch
        .pattern_json
        .as_deref()
        .map(|text| {
            Pattern::parse(text).map_err(|e| format!("invalid event pattern: {}", quote(&e)))
        })
        .transpose();
    batch
        .events
        .iter()
        .map(|event| match check(event, &environment, &pattern) {
            Ok(()) => FilterOutcome::Accept,
            Err(why) => FilterOutcome::Drop(format!("event-gate: {why}")),
        })
        .collect()
}

/// Whether the instance's environment is one the deployment syncs.
fn environment(batch: &GateBatch) -> Result<(), String> {
    let accepted = &batch.accepted_environments;
    if accepted.is_empty() {
        return Ok(());
    }
    let synced = accepted.join(", ");
    match &batch.environment {
        None => Err(format!(
            "the instance has no Environment tag (synced here: {synced})"
        )),
        Some(env) if !accepted.contains(env) => Err(format!(
            "environment {} is not synced here ({synced})",
            quote(env)
        )),
        Some(_) => Ok(()),
    }
}

/// Judges one event of a batch, given the batch's environment verdict and
/// its parsed pattern. Without a pattern only the envelope's `source` and
/// `detail-type` are read (the rest is checked as JSON, not built).
fn check(
    event: &str,
    environment: &Result<(), String>,
    pattern: &Result<Option<Pattern>, String>,
) -> Result<(), String> {
    const NOT_AN_OBJECT: &str = "the event is not a JSON object";
    if let Ok(None) = pattern {
        let head: Head = serde_json::from_str(event).map_err(|_| NOT_AN_OBJECT)?;
        kind(head.source.as_ref(), head.detail_type.as_ref())?;
        return environment.clone();
    }
    let event: Value = match serde_json::from_str(event) {
        Ok(event @ Value::Object(_)) => event,
        _ => return Err(NOT_AN_OBJECT.into()),
    };
    kind(event.get("source"), event.get("detail-type"))?;
    environment.clone()?;
    match pattern {
        Ok(Some(pattern)) if !pattern.matches(&event) => {
            Err("the tenant's event pattern does not match".into())
        }
        Ok(_) => Ok(()),
        Err(invalid) => Err(invalid.clone()),
    }
}

/// Whether the envelope's `source` and `detail-type` are ones the platform
/// syncs.
fn kind(source: Option<&Value>, detail_type: Option<&Value>) -> Result<(), String> {
    match source {
        Some(Value::String(source)) if source == SOURCE => {}
        Some(Value::String(source)) => {
            return Err(format!("source {} is not {SOURCE}", quote(source)));
        }
        _ => return Err("the event has no source".into()),
    }
    match detail_type {
        Some(Value::String(kind)) if DETAIL_TYPES.contains(&kind.as_str()) => Ok(()),
        Some(Value::String(kind)) => Err(format!("detail-type {} is not synced", quote(kind))),
        _ => Err("the event has no detail-type".into()),
    }
}

/// An event's `source` and `detail-type`, read from a JSON object whose
/// other members are skipped. As in a parsed [`Value`], the last of a
/// repeated member counts, and anything but an object is an error.
struct Head {
    source: Option<Value>,
    detail_type: Option<Value>,
}

impl<'de> serde::Deserialize<'de> for Head {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Head;
            fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
                let mut head = Head {
                    source: None,
                    detail_type: None,
                };
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "source" => head.source = Some(map.next_value()?),
                        "detail-type" => head.detail_type = Some(map.next_value()?),
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(head)
            }
        }
        de.deserialize_map(Members)
    }
}

/// `text`, cut to [`QUOTE_BYTES`] (at a character boundary, marked `...`):
/// a reason stays short whatever the event or the pattern holds.
fn quote(text: &str) -> String {
    if text.len() <= QUOTE_BYTES {
        return text.into();
    }
    let mut end = QUOTE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests;
