//! The `event-gate` world: the platform's own first filter of ECS events,
//! run before a tenant's `event-filter`. It keeps only the events the
//! platform syncs (source `aws.ecs`, one of the three detail types), of the
//! environments the deployment syncs, that match the tenant's EventBridge
//! event pattern. The component is the platform's ([`DEFAULT_EVENT_FILTER`],
//! `guests/default-event-filter`), never a tenant's: no upload [`Kind`]
//! names this world. It is prepared with [`Runtime::prepare_event_gate`]
//! and judges a batch of events of one instance per [`Runtime::gate_events`]
//! call (one instance of the gate, one parse of the pattern); it imports no
//! host interface, so it makes no host calls.
//!
//! [`Kind`]: crate::runtime::Kind

use std::sync::Arc;

use crate::runtime::bindings::types;
use crate::runtime::{
    FilterOutcome, GuestError, HostState, Limits, Lookups, Origin, Runtime, Scope,
};

/// The world's generated code, in a module of its own like the other
/// worlds' (its `use types.{...}` aliases must not meet the host-side
/// [`GateBatch`] and [`FilterOutcome`]).
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

/// What the gate judges: events routed to one instance, as they arrived,
/// and what the deployment and the tenant ask of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GateBatch {
    /// The whole EventBridge events (envelope and `detail`), each as JSON
    /// text.
    pub events: Vec<String>,
    /// The `Environment` tag of the instance the events route to, if any.
    pub environment: Option<String>,
    /// The environments this deployment syncs (`--event-environments`);
    /// empty means all.
    pub accepted_environments: Vec<String>,
    /// The tenant's EventBridge event pattern (JSON text), if it set one.
    pub pattern_json: Option<String>,
}

/// One event for the gate: a [`GateBatch`] of one, for callers that judge
/// a single event (checking a pattern, the tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GateInput {
    /// The whole EventBridge event as JSON text.
    pub event_json: String,
    pub environment: Option<String>,
    pub accepted_environments: Vec<String>,
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

    /// Runs the gate on a batch, in one fresh instance under `limits`: an
    /// outcome per event, in order, each accepting or dropping (with a
    /// reason of at most `limits.output_bytes`). A failure, or an answer
    /// of another length than the batch, is the caller's to fail closed on.
    pub fn gate_events(
        &self,
        pre: &EventGatePre<HostState>,
        batch: &GateBatch,
        scope: Arc<Scope>,
        limits: Limits,
        origin: &Arc<Origin>,
    ) -> Result<Vec<FilterOutcome>, GuestError> {
        let input = types::GateBatch {
            events: batch.events.clone(),
            environment: batch.environment.clone(),
            accepted_environments: batch.accepted_environments.clone(),
            pattern_json: batch.pattern_json.clone(),
        };
        let outcomes = self.sandboxed(
            pre.instance_pre().engine(),
            scope,
            limits,
            Default::default(),
            origin,
            "event-gate",
            &mut Lookups::default(),
            |store| pre.instantiate(&mut *store)?.call_gate(store, &input),
        )?;
        if outcomes.len() != batch.events.len() {
            return Err(GuestError::Contract(format!(
                "the gate answered {} outcomes for {} events",
                outcomes.len(),
                batch.events.len()
            )));
        }
        outcomes
            .into_iter()
            .map(|o| FilterOutcome::from_guest(o, limits.output_bytes))
            .collect()
    }

    /// Runs the gate on one event: [`Runtime::gate_events`] on a batch of
    /// one.
    pub fn gate_event(
        &self,
        pre: &EventGatePre<HostState>,
        input: &GateInput,
        scope: Arc<Scope>,
        limits: Limits,
        origin: &Arc<Origin>,
    ) -> Result<FilterOutcome, GuestError> {
        let batch = GateBatch {
            events: vec![input.event_json.clone()],
            environment: input.environment.clone(),
            accepted_environments: input.accepted_environments.clone(),
            pattern_json: input.pattern_json.clone(),
        };
        let mut outcomes = self.gate_events(pre, &batch, scope, limits, origin)?;
        Ok(outcomes.remove(0))
    }
}
