//! The `event-filter` world: a tenant's component that decides what each of
//! its ECS events does (sync it, drop it with a reason, or sync it with
//! labels). A component is prepared with [`Runtime::prepare_event_filter`]
//! and judges one event per [`Runtime::filter_event`] call. The host-side
//! event and outcome ([`EcsEvent`], [`FilterOutcome`]) keep the generated
//! types inside the runtime.

use std::sync::Arc;

use crate::runtime::bindings::types;
use crate::runtime::{
    GuestError, HostState, Limits, Lookups, Origin, Runtime, Scope, check_output,
};

/// The world's generated code, in a module of its own: the WIT's
/// world-level `use types.{...}` becomes type aliases there, which must not
/// meet the host-side types of the same names (`WpOperation`, `EcsEvent`).
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "event-filter",
        imports: { default: trappable },
        with: {
            "bbws:platform/types": crate::runtime::bindings::bbws::platform::types,
            "bbws:platform/tenants": crate::runtime::bindings::bbws::platform::tenants,
            "bbws:platform/instances": crate::runtime::bindings::bbws::platform::instances,
            "bbws:platform/log": crate::runtime::bindings::bbws::platform::log,
        },
    });
}

pub use generated::{EventFilter, EventFilterPre};

/// An ECS state-change event from EventBridge, reduced to what filters need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsEvent {
    /// The EventBridge event id.
    pub id: String,
    /// `ECS Service Action`, `ECS Deployment State Change` or `ECS Task State Change`.
    pub detail_type: String,
    /// The resource ARNs the event names.
    pub resources: Vec<String>,
    /// The event's `detail` object as JSON text.
    pub detail_json: String,
    /// When the event happened, milliseconds since the Unix epoch.
    pub time_ms: i64,
}

/// What a filter does with an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterOutcome {
    /// Sync the event into state.
    Accept,
    /// Ignore it, for this reason.
    Drop(String),
    /// Sync it, attaching these labels (name, value).
    Annotate(Vec<(String, String)>),
}

world_pre!(EventFilterPre, EventFilter);

impl Runtime {
    /// The compiled event filter for `hash`: from memory, else from its
    /// stored artifact, else compiled from `bytes`; cached like a policy
    /// ([`Runtime::prepare`]).
    pub async fn prepare_event_filter(
        &self,
        hash: &str,
        bytes: &[u8],
    ) -> Result<EventFilterPre<HostState>, GuestError> {
        self.prepare_as(hash, bytes).await
    }

    /// A compiled event filter from memory, if it is there.
    pub fn cached_event_filter(&self, hash: &str) -> Option<EventFilterPre<HostState>> {
        self.cached_as(hash).and_then(Result::ok)
    }

    /// Runs the filter on one event of `tenant_id`, in a fresh instance
    /// under `limits`. A drop's reason, or the labels together, may take
    /// `limits.output_bytes`. A failure is the caller's to fail closed on.
    pub fn filter_event(
        &self,
        pre: &EventFilterPre<HostState>,
        tenant_id: &str,
        event: &EcsEvent,
        scope: Arc<Scope>,
        limits: Limits,
        origin: &Arc<Origin>,
    ) -> Result<FilterOutcome, GuestError> {
        let event = types::EcsEvent {
            id: event.id.clone(),
            detail_type: event.detail_type.clone(),
            resources: event.resources.clone(),
            detail_json: event.detail_json.clone(),
            time_ms: event.time_ms,
        };
        // The event's time and id: a filter's answer is a function of the
        // event, whenever it is judged.
        let determinism = crate::runtime::wasi::Determinism::seeded(
            event.id.as_bytes(),
            event.time_ms.max(0) as u64,
        );
        let outcome = self.sandboxed(
            pre.instance_pre().engine(),
            scope,
            limits,
            determinism,
            origin,
            "event-filter",
            &mut Lookups::default(),
            |store| {
                pre.instantiate(&mut *store)?
                    .call_filter(store, tenant_id, &event)
            },
        )?;
        FilterOutcome::from_guest(outcome, limits.output_bytes)
    }
}

impl FilterOutcome {
    /// A guest's outcome (an event filter's or the event gate's), refused
    /// when a drop's reason, or the labels together, exceed `limit` bytes.
    pub(crate) fn from_guest(
        outcome: types::FilterOutcome,
        limit: usize,
    ) -> Result<Self, GuestError> {
        Ok(match outcome {
            types::FilterOutcome::Accept => FilterOutcome::Accept,
            types::FilterOutcome::Drop(reason) => {
                check_output(reason.len(), limit)?;
                FilterOutcome::Drop(reason)
            }
            types::FilterOutcome::Annotate(labels) => {
                check_output(labels.iter().map(|(k, v)| k.len() + v.len()).sum(), limit)?;
                FilterOutcome::Annotate(labels)
            }
        })
    }
}
