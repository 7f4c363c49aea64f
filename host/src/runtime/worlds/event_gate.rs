//! The `event-gate` world: the platform's own first filter of ECS events,
//! run before a tenant's `event-filter`. It keeps only the events the
//! platform syncs (source `aws.ecs`, one of the three detail types), of the
//! environments the deployment syncs, that match the tenant's EventBridge
//! event pattern. The component is the platform's ([`DEFAULT_EVENT_FILTER`],
//! `guests/default-event-filter`), never a tenant's: no upload [`Kind`]
//! names this world. It is prepared with [`Runtime::prepare_event_gate`]
//! and judges one event per [`Runtime::gate_event`] call; it imports no
//! host interface, so it makes no host calls.
//!
//! [`Kind`]: crate::runtime::Kind

use std::sync::Arc;

use crate::runtime::bindings::types;
use crate::runtime::{FilterOutcome, GuestError, HostState, Limits, Lookups, Runtime, Scope};

/// The world's generated code, in a module of its own like the other
/// worlds' (its `use types.{...}` aliases must not meet the host-side
/// [`GateInput`] and [`FilterOutcome`]).
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "event-gate",
        with: {
            "bbws:platform/types": crate::runtime::bindings::bbws::platform::types,
        },
    });
}

pub use generated::{EventGate, EventGatePre};

/// The platform's event gate component (`guests/default-event-filter`),
/// built by `build.rs`.
pub const DEFAULT_EVENT_FILTER: &[u8] = include_bytes!(env!("BBWS_GUEST_DEFAULT_EVENT_FILTER"));

/// What the gate judges: the event as it arrived and what the deployment and
/// the tenant ask of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GateInput {
    /// The whole EventBridge event (envelope and `detail`) as JSON text.
    pub event_json: String,
    /// The `Environment` tag of the instance the event routes to, if any.
    pub environment: Option<String>,
    /// The environments this deployment syncs (`--event-environments`);
    /// empty means all.
    pub accepted_environments: Vec<String>,
    /// The tenant's EventBridge event pattern (JSON text), if it set one.
    pub pattern_json: Option<String>,
}

world_pre!(EventGatePre, EventGate);

impl Runtime {
    /// The compiled gate for `hash` (of `bytes`, normally
    /// [`DEFAULT_EVENT_FILTER`]): from memory, else from its stored
    /// artifact, else compiled from `bytes`; cached like a policy.
    pub async fn prepare_event_gate(
        &self,
        hash: &str,
        bytes: &[u8],
    ) -> Result<EventGatePre<HostState>, GuestError> {
        self.prepare_as(hash, bytes).await
    }

    /// Runs the gate on one event, in a fresh instance under `limits`. It
    /// accepts or drops (with a reason of at most `limits.output_bytes`);
    /// a failure is the caller's to fail closed on.
    pub fn gate_event(
        &self,
        pre: &EventGatePre<HostState>,
        input: &GateInput,
        scope: Arc<Scope>,
        limits: Limits,
    ) -> Result<FilterOutcome, GuestError> {
        let input = types::GateInput {
            event_json: input.event_json.clone(),
            environment: input.environment.clone(),
            accepted_environments: input.accepted_environments.clone(),
            pattern_json: input.pattern_json.clone(),
        };
        let outcome = self.sandboxed(scope, limits, &mut Lookups::default(), |store| {
            pre.instantiate(&mut *store)?.call_gate(store, &input)
        })?;
        FilterOutcome::from_guest(outcome, limits.output_bytes)
    }
}
