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
use crate::runtime::pool::{Budget, REQUEST_GUEST_BUDGET};
use crate::runtime::{
    self, FilterOutcome, GateBatch, GateInput, GuestError, HostState, Limits, Origin, Runtime,
    Scope, ScopeInstance,
};

use super::{EventSettings, FilterComponent, FilterVerdict, Routes};

/// The source the gate's verdicts are recorded under.
pub const PLATFORM: &str = "platform";

/// The gate's reason when a tenant's pattern does not match an event.
const NO_MATCH: &str = "event-gate: the tenant's event pattern does not match";

/// The most event text one gate call is given: a group's events go to the
/// gate in chunks of at most this much (and at least one event), so a batch
/// of large events stays far inside the gate's memory and deadline.
const GATE_CHUNK_BYTES: usize = 256 << 10;

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
    /// The gate's log tag.
    gate_origin: Arc<Origin>,
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
            gate_origin: Origin::new(PLATFORM, gate_hash.as_str()),
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
            Limits::platform(),
            &self.gate_origin,
        ) {
            Ok(FilterOutcome::Drop(reason)) if reason != NO_MATCH => {
                Err(reason.trim_start_matches("event-gate: ").to_string())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(format!("the pattern could not be checked: {e}")),
        }
    }

    /// Runs the filters on `events` of `instance` (each with its JSON text
    /// as it arrived): a judgement per event, in order. The gate judges them in batches (one instance, one parse
    /// of the pattern each); the tenant's filter judges each event the gate
    /// passed, in a fresh instance of its own, so its verdict on an event
    /// depends on that event alone.
    pub async fn judge(
        &self,
        tenant: &Tenant,
        instance: &Instance,
        events: &[(&EcsEvent, &str)],
    ) -> Vec<Judged> {
        let accept = || FilterVerdict {
            verdict: "accept".into(),
            ..Default::default()
        };
        if !self.settings.filters {
            return events
                .iter()
                .map(|_| Judged {
                    verdict: accept(),
                    dropped: None,
                })
                .collect();
        }
        let texts: Vec<String> = events.iter().map(|(_, text)| text.to_string()).collect();
        let gated = self.gate(tenant, instance, texts);
        // The tenant's filter, if it activated one, and what it may look
        // up: its tenant and this instance, the same for every event.
        let filter = tenant.extensions.get("event-filter").map(|slot| {
            let scope = Arc::new(Scope {
                tenants: vec![crate::service::decisions::scope_tenant(tenant)],
                sites: Vec::new(),
                instances: vec![ScopeInstance::from(instance)],
            });
            (slot.active.as_str(), scope)
        });
        let mut judged = Vec::with_capacity(events.len());
        let mut passed = Vec::new();
        for ((event, _), outcome) in events.iter().zip(gated) {
            let mut verdict = accept();
            let dropped = absorb(&mut verdict, PLATFORM, &self.gate_hash, outcome);
            if dropped.is_none() && filter.is_some() {
                passed.push((judged.len(), *event));
            }
            judged.push(Judged { verdict, dropped });
        }
        if let (Some((hash, scope)), false) = (filter, passed.is_empty()) {
            let wit: Vec<runtime::EcsEvent> = passed.iter().map(|(_, e)| wit_event(e)).collect();
            let outcomes = self.tenant_judge(tenant, hash, scope, wit).await;
            for ((at, _), outcome) in passed.into_iter().zip(outcomes) {
                let j = &mut judged[at];
                j.dropped =
                    absorb(&mut j.verdict, &tenant.tenant_id, hash, outcome).map(|reason| {
                        if reason.starts_with("the event filter") {
                            reason
                        } else {
                            format!(
                                "the event filter of tenant {} drops it: {reason}",
                                tenant.tenant_id
                            )
                        }
                    });
            }
        }
        judged
    }

    /// The gate's outcome for each event (as JSON text), in order. A chunk
    /// whose call fails is judged again event by event, so a failure drops
    /// only the event that caused it.
    fn gate(
        &self,
        tenant: &Tenant,
        instance: &Instance,
        texts: Vec<String>,
    ) -> Vec<Result<FilterOutcome, GuestError>> {
        let batch = |events: Vec<String>| GateBatch {
            events,
            environment: Some(instance.environment.as_str().to_string()),
            accepted_environments: self.settings.environments.clone(),
            pattern_json: tenant.event_pattern.as_ref().map(|p| p.to_string()),
        };
        let call = |b: &GateBatch| {
            self.runtime.gate_events(
                &self.gate,
                b,
                Arc::new(Scope::default()),
                Limits::platform(),
                &self.gate_origin,
            )
        };
        let mut outcomes = Vec::with_capacity(texts.len());
        for chunk in chunks(texts, GATE_CHUNK_BYTES) {
            let b = batch(chunk);
            match call(&b) {
                Ok(judged) => outcomes.extend(judged.into_iter().map(Ok)),
                Err(_) if b.events.len() > 1 => {
                    for event in &b.events {
                        let one = GateBatch {
                            events: vec![event.clone()],
                            ..b.clone()
                        };
                        outcomes.push(call(&one).map(|mut o| o.remove(0)));
                    }
                }
                Err(e) => outcomes.push(Err(e)),
            }
        }
        outcomes
    }

    /// Runs the tenant's own filter (component `hash`) on each event the
    /// gate passed, each in a fresh instance under the tenant's limits: an
    /// outcome per event, in order. The calls run together on the guest
    /// pool, in the tenant's share, off the async threads.
    async fn tenant_judge(
        &self,
        tenant: &Tenant,
        hash: &str,
        scope: Arc<Scope>,
        events: Vec<runtime::EcsEvent>,
    ) -> Vec<Result<FilterOutcome, GuestError>> {
        let n = events.len();
        let pre = match self.tenant_filter(hash).await {
            Ok(pre) => pre,
            Err(e) => return failed(n, &e),
        };
        let limits = Limits::for_tier(tenant.tier);
        let runtime = self.runtime.clone();
        let tenant_id = tenant.tenant_id.clone();
        let origin = Origin::new(tenant_id.as_str(), hash);
        // A batch's own budget, not a request's: waiting for the tenant's
        // share of the pool is bounded; each call keeps its deadline.
        let budget = Budget::new(REQUEST_GUEST_BUDGET.max(limits.deadline));
        let ran = self
            .runtime
            .pool()
            .run(&tenant.tenant_id, &budget, limits, move |_| {
                Ok(events
                    .iter()
                    .map(|e| {
                        runtime.filter_event(&pre, &tenant_id, e, scope.clone(), limits, &origin)
                    })
                    .collect::<Vec<_>>())
            })
            .await;
        ran.unwrap_or_else(|e| failed(n, &e))
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

/// The tenant filter's view of an event.
fn wit_event(event: &EcsEvent) -> runtime::EcsEvent {
    runtime::EcsEvent {
        id: event.id.clone(),
        detail_type: event.detail_type.clone(),
        resources: event.resources.clone(),
        detail_json: event
            .raw
            .get("detail")
            .map(|d| d.to_string())
            .unwrap_or_default(),
        time_ms: event.time.timestamp_millis(),
    }
}

/// `n` copies of a failure (each event fails closed alike).
fn failed(n: usize, e: &GuestError) -> Vec<Result<FilterOutcome, GuestError>> {
    vec![Err(e.clone()); n]
}

/// `texts` in order, cut into runs of at most `bytes` of text (a longer
/// text alone).
fn chunks(texts: Vec<String>, bytes: usize) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut size = 0;
    for text in texts {
        match out.last_mut() {
            Some(last) if size + text.len() <= bytes => {
                size += text.len();
                last.push(text);
            }
            _ => {
                size = text.len();
                out.push(vec![text]);
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::chunks;

    fn sizes(texts: &[usize], bytes: usize) -> Vec<Vec<usize>> {
        let texts = texts.iter().map(|&n| "x".repeat(n)).collect();
        chunks(texts, bytes)
            .into_iter()
            .map(|c| c.iter().map(String::len).collect())
            .collect()
    }

    #[test]
    fn events_go_to_the_gate_in_order_in_runs_of_at_most_the_chunk_size() {
        assert_eq!(sizes(&[], 10), Vec::<Vec<usize>>::new());
        assert_eq!(sizes(&[4, 4, 2, 1], 10), [vec![4, 4, 2], vec![1]]);
        // A text longer than a chunk goes alone, never split or skipped.
        assert_eq!(sizes(&[3, 25, 3, 3], 10), [vec![3], vec![25], vec![3, 3]]);
        assert_eq!(sizes(&[10, 10], 10), [vec![10], vec![10]]);
    }
}
