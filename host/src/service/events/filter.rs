//! The filters an event passes before it is synced: the platform's gate
//! (the `default-event-filter` guest: source, detail type, the
//! deployment's environments and the tenant's event pattern), then the
//! tenant's own `event-filter` guest if it activated one. Both are
//! WebAssembly; a guest that traps or runs out of time drops the event
//! (fails closed) and says why.

use std::sync::Arc;

use crate::blobs::BlobStore;
use crate::domain::Tenant;
use crate::domain::event::EcsEvent;
use crate::domain::instance::Instance;
use crate::runtime::bindings::{EventFilterPre, EventGatePre};
use crate::runtime::{
    self, FilterOutcome, GateInput, GuestError, HostState, Limits, Runtime, Scope, ScopeInstance,
};

use super::{EventSettings, FilterComponent, FilterVerdict, Routes};

/// The source the gate's verdicts are recorded under.
pub const PLATFORM: &str = "platform";

/// The gate's reason when a tenant's pattern does not match an event.
const NO_MATCH: &str = "event-gate: the tenant's event pattern does not match";

/// An event the gate checks a new pattern against.
const PROBE: &str = r#"{"version": "0", "id": "pattern-check", "detail-type": "ECS Service Action", "source": "aws.ecs", "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "local", "resources": [], "detail": {"eventType": "INFO", "eventName": "SERVICE_STEADY_STATE", "createdAt": "2026-01-01T00:00:00Z"}}"#;

/// The filters and settings of the events pipeline, shared by every
/// request.
pub struct EventEngine {
    pub settings: EventSettings,
    runtime: Arc<Runtime>,
    blobs: Arc<dyn BlobStore>,
    gate_hash: String,
    gate: EventGatePre<HostState>,
    pub(super) routes: Routes,
    /// The queue events arrive on (`--events-queue`), for its dead letters.
    pub(super) queue: Option<Arc<dyn crate::jobs::Queue>>,
}

/// A filter's judgement of one event.
pub struct Judged {
    pub verdict: FilterVerdict,
    /// Why it was dropped; `None`: sync it.
    pub dropped: Option<String>,
}

impl EventEngine {
    /// Prepares the platform's gate. `queue`: where events arrive besides
    /// HTTP (its dead letters are listed).
    pub async fn start(
        runtime: Arc<Runtime>,
        blobs: Arc<dyn BlobStore>,
        settings: EventSettings,
        queue: Option<Arc<dyn crate::jobs::Queue>>,
    ) -> anyhow::Result<Arc<Self>> {
        let gate_hash = runtime::content_hash(runtime::DEFAULT_EVENT_FILTER);
        let gate = runtime
            .prepare_event_gate(&gate_hash, runtime::DEFAULT_EVENT_FILTER)
            .await
            .map_err(|e| anyhow::anyhow!("the platform's event gate does not load: {e}"))?;
        Ok(Arc::new(Self {
            settings,
            runtime,
            blobs,
            gate_hash,
            gate,
            routes: Routes::default(),
            queue,
        }))
    }

    /// Checks a tenant's event pattern with the gate's own parser: the gate
    /// judges a probe event with it, and anything but a match or a plain
    /// mismatch is the parser's complaint.
    pub fn check_pattern(&self, pattern: &serde_json::Value) -> Result<(), String> {
        if !pattern.is_object() {
            return Err("an event pattern is a JSON object".into());
        }
        let probe = GateInput {
            event_json: PROBE.into(),
            environment: None,
            accepted_environments: Vec::new(),
            pattern_json: Some(pattern.to_string()),
        };
        match self.runtime.gate_event(
            &self.gate,
            &probe,
            Arc::new(Scope::default()),
            Limits::default(),
        ) {
            Ok(FilterOutcome::Drop(reason)) if reason != NO_MATCH => {
                Err(reason.trim_start_matches("event-gate: ").to_string())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(format!("the pattern could not be checked: {e}")),
        }
    }

    /// Runs the filters on `event` of `instance`.
    pub async fn judge(&self, tenant: &Tenant, instance: &Instance, event: &EcsEvent) -> Judged {
        let mut verdict = FilterVerdict {
            verdict: "accept".into(),
            ..Default::default()
        };
        if !self.settings.filters {
            return Judged {
                verdict,
                dropped: None,
            };
        }
        let input = GateInput {
            event_json: event.raw.to_string(),
            environment: Some(instance.environment.as_str().to_string()),
            accepted_environments: self.settings.environments.clone(),
            pattern_json: tenant.event_pattern.as_ref().map(|p| p.to_string()),
        };
        let gate = self.runtime.gate_event(
            &self.gate,
            &input,
            Arc::new(Scope::default()),
            Limits::default(),
        );
        if let Some(dropped) = absorb(&mut verdict, PLATFORM, &self.gate_hash, gate) {
            return Judged {
                verdict,
                dropped: Some(dropped),
            };
        }
        let Some(slot) = tenant.extensions.get("event-filter") else {
            return Judged {
                verdict,
                dropped: None,
            };
        };
        let hash = slot.active.clone();
        let outcome = match self.tenant_filter(&hash).await {
            Ok(pre) => {
                let scope = Arc::new(Scope {
                    tenants: vec![crate::service::decisions::scope_tenant(tenant)],
                    sites: Vec::new(),
                    instances: vec![ScopeInstance::from(instance)],
                });
                let wit_event = runtime::EcsEvent {
                    id: event.id.clone(),
                    detail_type: event.detail_type.clone(),
                    resources: event.resources.clone(),
                    detail_json: event
                        .raw
                        .get("detail")
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    time_ms: event.time.timestamp_millis(),
                };
                self.runtime.filter_event(
                    &pre,
                    &tenant.tenant_id,
                    &wit_event,
                    scope,
                    Limits::for_tier(tenant.tier),
                )
            }
            Err(e) => Err(e),
        };
        let dropped = absorb(&mut verdict, &tenant.tenant_id, &hash, outcome).map(|reason| {
            if reason.starts_with("the event filter") {
                reason
            } else {
                format!(
                    "the event filter of tenant {} drops it: {reason}",
                    tenant.tenant_id
                )
            }
        });
        Judged { verdict, dropped }
    }

    /// A tenant's filter: from the runtime's compiled cache, else loaded
    /// from the blob store and compiled (or read from its artifact).
    async fn tenant_filter(&self, hash: &str) -> Result<EventFilterPre<HostState>, GuestError> {
        if let Some(pre) = self.runtime.cached_event_filter(hash) {
            return Ok(pre);
        }
        let bytes = crate::service::decisions::component_bytes(self.blobs.as_ref(), hash).await?;
        self.runtime.prepare_event_filter(hash, &bytes).await
    }
}

/// Adds one component's answer to the verdict; the drop reason if it
/// dropped the event (or failed, which drops it).
fn absorb(
    verdict: &mut FilterVerdict,
    source: &str,
    hash: &str,
    outcome: Result<FilterOutcome, GuestError>,
) -> Option<String> {
    let (said, dropped) = match outcome {
        Ok(FilterOutcome::Accept) => ("accept", None),
        Ok(FilterOutcome::Annotate(labels)) => {
            verdict.annotations.extend(labels);
            if verdict.verdict == "accept" {
                verdict.verdict = "annotate".into();
            }
            ("annotate", None)
        }
        Ok(FilterOutcome::Drop(reason)) => {
            verdict.verdict = "drop".into();
            ("drop", Some(reason))
        }
        Err(e) => {
            tracing::warn!(%source, component = %hash, code = e.code(), error = %e, "event filter failed; dropping the event");
            verdict.verdict = "error".into();
            let whose = if source == PLATFORM {
                "the platform's event gate".to_string()
            } else {
                format!("the event filter of tenant {source}")
            };
            ("error", Some(format!("{whose} failed ({}): {e}", e.code())))
        }
    };
    verdict.components.push(FilterComponent {
        source: source.into(),
        component: hash.into(),
        verdict: said.into(),
    });
    dropped
}
