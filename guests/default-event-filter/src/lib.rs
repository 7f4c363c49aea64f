//! The platform's event gate, an `event-gate` guest: the first filter every
//! ECS event meets, before a tenant's own `event-filter`. The host embeds it
//! and gives it the event as EventBridge delivered it (envelope and
//! `detail`, as JSON text), the `Environment` tag of the instance the event
//! routes to, the environments the deployment syncs and the tenant's
//! EventBridge event pattern. It accepts the event, or drops it with a
//! reason that begins `event-gate: `:
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

use bindings::bbws::platform::types::{FilterOutcome, GateInput};
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
    fn gate(input: GateInput) -> FilterOutcome {
        gate(&input)
    }
}

bindings::export!(Gate with_types_in bindings);

/// Judges one event.
fn gate(input: &GateInput) -> FilterOutcome {
    match check(input) {
        Ok(()) => FilterOutcome::Accept,
        Err(why) => FilterOutcome::Drop(format!("event-gate: {why}")),
    }
}

fn check(input: &GateInput) -> Result<(), String> {
    let event: Value = match serde_json::from_str(&input.event_json) {
        Ok(event @ Value::Object(_)) => event,
        _ => return Err("the event is not a JSON object".into()),
    };
    match event.get("source") {
        Some(Value::String(source)) if source == SOURCE => {}
        Some(Value::String(source)) => {
            return Err(format!("source {} is not {SOURCE}", quote(source)));
        }
        _ => return Err("the event has no source".into()),
    }
    match event.get("detail-type") {
        Some(Value::String(kind)) if DETAIL_TYPES.contains(&kind.as_str()) => {}
        Some(Value::String(kind)) => {
            return Err(format!("detail-type {} is not synced", quote(kind)));
        }
        _ => return Err("the event has no detail-type".into()),
    }
    let accepted = &input.accepted_environments;
    if !accepted.is_empty() {
        let synced = accepted.join(", ");
        match &input.environment {
            None => {
                return Err(format!(
                    "the instance has no Environment tag (synced here: {synced})"
                ));
            }
            Some(env) if !accepted.contains(env) => {
                return Err(format!(
                    "environment {} is not synced here ({synced})",
                    quote(env)
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(text) = &input.pattern_json {
        let pattern =
            Pattern::parse(text).map_err(|e| format!("invalid event pattern: {}", quote(&e)))?;
        if !pattern.matches(&event) {
            return Err("the tenant's event pattern does not match".into());
        }
    }
    Ok(())
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
