//! One batch of events through the pipeline: parse, route, filter, sync,
//! record. The answer holds one result per event, in the order sent.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::Tenant;
use crate::domain::event::{self, Applied, Change, EcsEvent};
use crate::domain::ids;
use crate::domain::instance::{Deployment, Instance};
use crate::store::{Condition, Index, Query, StoreError, TxOp, keys};

use super::filter::Judged;
use super::{EventRecord, Events, FilterVerdict, Outcome, other_key, record_item, seen_key};
use crate::service::instances::instance_item;
use crate::service::{Race, Result};

/// What became of one event, as `POST /v1/events` answers it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventResult {
    /// The envelope's `id` (empty when it had none).
    pub id: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

/// Events of one instance in one transaction: the instance and a record
/// per event, within the store's 100 writes.
const GROUP: usize = 99;

/// An event on its way through: where it sits in the batch.
struct Pending {
    place: usize,
    event: EcsEvent,
    /// Its JSON text as it arrived, for the gate.
    text: String,
}

/// An event as it arrived: its JSON text (which the gate judges, so a
/// pattern sees exactly what was sent) and its parse.
#[derive(Clone, Debug)]
pub struct Arrived {
    pub text: String,
    pub value: Value,
}

impl Arrived {
    /// An event received as text; text that is not JSON is still an event
    /// to record (rejected).
    pub fn from_text(text: String) -> Self {
        let value = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
        Self { text, value }
    }

    /// An event made in process (the local simulation's).
    pub fn from_value(value: Value) -> Self {
        Self {
            text: value.to_string(),
            value,
        }
    }
}

impl Events<'_> {
    /// Processes a batch (at most [`super::MAX_BATCH`] events, checked by
    /// the caller) that arrived `via` `http`, `sqs` or `local`. Fails only
    /// when the store does (then nothing of a failed group was recorded,
    /// and a redelivery processes it again).
    pub async fn ingest(&self, batch: Vec<Arrived>, via: &str) -> Result<Vec<EventResult>> {
        let received_at = self.cx.clock.now();
        let mut results: Vec<Option<EventResult>> = vec![None; batch.len()];
        let mut loose: Vec<(usize, EventRecord)> = Vec::new();
        let mut groups: BTreeMap<(String, String), Vec<Pending>> = BTreeMap::new();
        for (place, Arrived { text, value: raw }) in batch.into_iter().enumerate() {
            let id = raw.get("id").and_then(Value::as_str).map(str::to_string);
            let detail_type = raw
                .get("detail-type")
                .and_then(Value::as_str)
                .map(str::to_string);
            let blank = |outcome, reason: String| EventRecord {
                event_id: id.clone(),
                detail_type: detail_type.clone(),
                event_name: raw
                    .pointer("/detail/eventName")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                tenant_id: None,
                instance_id: None,
                outcome,
                reason: Some(reason),
                filter: None,
                version_before: None,
                version_after: None,
                occurred_at: None,
                received_at,
                via: via.into(),
            };
            let event = match event::parse(raw.clone()) {
                Ok(e) => e,
                Err(reason) => {
                    loose.push((place, blank(Outcome::Rejected, reason)));
                    continue;
                }
            };
            match self.route(&event).await? {
                Ok((tenant_id, instance_id)) => groups
                    .entry((tenant_id, instance_id))
                    .or_default()
                    .push(Pending { place, event, text }),
                Err(reason) => {
                    let mut r = blank(Outcome::Unmatched, reason);
                    r.occurred_at = Some(event.time);
                    loose.push((place, r));
                }
            }
        }
        for ((tenant_id, instance_id), pending) in groups {
            let mut pending = pending;
            while !pending.is_empty() {
                let rest = pending.split_off(pending.len().min(GROUP));
                for (place, r) in self
                    .sync_group(&tenant_id, &instance_id, pending, received_at, via)
                    .await?
                {
                    results[place] = Some(result_of(&r));
                }
                pending = rest;
            }
        }
        if !loose.is_empty() {
            for (place, r) in &loose {
                results[*place] = Some(result_of(r));
            }
            let retention = self.engine()?.settings.retention;
            let items = loose
                .iter()
                .map(|(place, r)| record_item(r, other_key(), *place, retention))
                .collect::<Result<Vec<_>>>()?;
            for chunk in items.chunks(25) {
                self.cx.store.put_many(chunk.to_vec()).await?;
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every event has a result"))
            .collect())
    }

    /// The (tenant, instance) an event routes to, or why none.
    async fn route(&self, e: &EcsEvent) -> Result<std::result::Result<(String, String), String>> {
        let Some((_, service)) = e.service() else {
            return Ok(Err(match &e.change {
                Change::Task { .. } => {
                    "the task belongs to no service (its group is not service:<name>)".into()
                }
                _ => "the event names no ECS service".into(),
            }));
        };
        let instance_id = service
            .strip_prefix("bbws-inst-")
            .map(|hex| format!("inst_{hex}"))
            .filter(|id| ids::looks_like("inst", id));
        let Some(instance_id) = instance_id else {
            return Ok(Err(format!(
                "the service {service} is not one of bbws's instances"
            )));
        };
        if let Some(tenant_id) = self.engine()?.routes.get(&instance_id) {
            return Ok(Ok((tenant_id, instance_id)));
        }
        let page = self
            .cx
            .store
            .query(
                Query::new(Index::Gsi1, keys::INSTANCE_IDS)
                    .prefix(format!("{instance_id}#"))
                    .limit(1),
            )
            .await?;
        let Some(tenant_id) = page
            .items
            .first()
            .and_then(|item| item.gsi1.as_ref())
            .and_then(|k| k.sk.split_once('#'))
            .map(|(_, t)| t.to_string())
        else {
            return Ok(Err(format!("no instance runs the service {service}")));
        };
        self.engine()?.routes.learn(&instance_id, &tenant_id);
        Ok(Ok((tenant_id, instance_id)))
    }

    /// Filters and syncs events of one instance (at most [`GROUP`]) in one
    /// transaction; answers each event's record with its place.
    async fn sync_group(
        &self,
        tenant_id: &str,
        instance_id: &str,
        pending: Vec<Pending>,
        received_at: chrono::DateTime<chrono::Utc>,
        via: &str,
    ) -> Result<Vec<(usize, EventRecord)>> {
        let tenant: Option<Tenant> = self.cx.load(&keys::tenant(tenant_id)).await?;
        let mut race = Race::new("the instance");
        let mut judged: Vec<Option<Judged>> = (0..pending.len()).map(|_| None).collect();
        let mut known_duplicates: HashSet<String> = HashSet::new();
        let retention = self.engine()?.settings.retention;
        loop {
            let instance: Option<Instance> = self
                .cx
                .load(&keys::instance(tenant_id, instance_id))
                .await?;
            let (Some(tenant), Some(instance)) = (&tenant, instance) else {
                return Ok(pending
                    .iter()
                    .map(|p| {
                        let mut r = self.base_record(&p.event, received_at, via);
                        r.outcome = Outcome::Unmatched;
                        r.reason = Some(format!("the instance {instance_id} is gone"));
                        (p.place, r)
                    })
                    .collect());
            };
            if let Some(reason) = mismatch(&instance, &pending) {
                // Named like ours but not ours (another cluster, another
                // account): route nothing.
                return Ok(pending
                    .iter()
                    .map(|p| {
                        let mut r = self.base_record(&p.event, received_at, via);
                        r.outcome = Outcome::Unmatched;
                        r.reason = Some(reason.clone());
                        (p.place, r)
                    })
                    .collect());
            }
            if judged.iter().all(Option::is_none) {
                // The first pass judges each id's first event, together.
                // A retry after a lost race keeps these judgements (the
                // filters see the event, not the instance's version).
                let mut firsts: HashSet<&str> = HashSet::new();
                let places: Vec<usize> = (0..pending.len())
                    .filter(|&n| firsts.insert(pending[n].event.id.as_str()))
                    .collect();
                let events: Vec<(&EcsEvent, &str)> = places
                    .iter()
                    .map(|&n| (&pending[n].event, pending[n].text.as_str()))
                    .collect();
                let verdicts = self.engine()?.judge(tenant, &instance, &events).await;
                for (n, j) in places.into_iter().zip(verdicts) {
                    judged[n] = Some(j);
                }
            }
            let before = instance.version;
            let mut next = instance.clone();
            let mut in_batch: HashSet<&str> = HashSet::new();
            let mut records: Vec<(usize, EventRecord, bool)> = Vec::new();
            for (n, p) in pending.iter().enumerate() {
                let mut r = self.base_record(&p.event, received_at, via);
                r.tenant_id = Some(tenant_id.into());
                r.instance_id = Some(instance_id.into());
                r.version_before = Some(before);
                if !in_batch.insert(p.event.id.as_str()) || known_duplicates.contains(&p.event.id) {
                    r.outcome = Outcome::Duplicate;
                    r.reason = Some("this event id was processed before".into());
                    records.push((p.place, r, false));
                    continue;
                }
                let j = judged[n].as_ref().expect("each id's first event is judged");
                r.filter = Some(j.verdict.clone());
                if let Some(reason) = &j.dropped {
                    r.outcome = Outcome::Filtered;
                    r.reason = Some(reason.clone());
                } else {
                    match next.event_sync.apply(&p.event.change) {
                        Applied::Applied => {
                            effect(&mut next, &p.event.change);
                            r.outcome = Outcome::Applied;
                        }
                        Applied::Stale(reason) => {
                            r.outcome = Outcome::Stale;
                            r.reason = Some(reason);
                        }
                    }
                }
                records.push((p.place, r, true));
            }
            let changed = next != instance;
            let after = before + u64::from(changed);
            let mut ops = Vec::new();
            if changed {
                next.updated_at = received_at;
                ops.push(TxOp::put(instance_item(&next)?, Condition::Version(before)));
            }
            // The first processing of an id is recorded under the id
            // itself, `NotExists`: the record is the dedupe marker. Which
            // op guards which id tells a duplicate from a lost race when
            // the transaction is refused.
            let mut guards: Vec<(usize, String)> = Vec::new();
            for (place, r, fresh) in &mut records {
                r.version_after = Some(after);
                let (key, condition) = match (&r.event_id, *fresh) {
                    (Some(id), true) => {
                        guards.push((ops.len(), id.clone()));
                        (seen_key(id), Condition::NotExists)
                    }
                    _ => (other_key(), Condition::None),
                };
                ops.push(TxOp::put(
                    record_item(r, key, *place, retention)?,
                    condition,
                ));
            }
            match self.cx.store.transact(ops).await {
                Ok(()) => {
                    if changed {
                        tracing::debug!(instance = %instance_id, before, after, "events synced");
                    }
                    return Ok(records.into_iter().map(|(p, r, _)| (p, r)).collect());
                }
                Err(StoreError::TransactionCancelled { failed }) => {
                    let mut lost = false;
                    for index in failed {
                        match guards.iter().find(|(op, _)| *op == index) {
                            Some((_, id)) => {
                                known_duplicates.insert(id.clone());
                            }
                            None => lost = true,
                        }
                    }
                    if lost {
                        race.lost().await?;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn base_record(
        &self,
        e: &EcsEvent,
        received_at: chrono::DateTime<chrono::Utc>,
        via: &str,
    ) -> EventRecord {
        EventRecord {
            event_id: Some(e.id.clone()),
            detail_type: Some(e.detail_type.clone()),
            event_name: e.event_name().map(str::to_string),
            tenant_id: None,
            instance_id: None,
            outcome: Outcome::Applied,
            reason: None,
            filter: None::<FilterVerdict>,
            version_before: None,
            version_after: None,
            occurred_at: Some(e.time),
            received_at,
            via: via.into(),
        }
    }
}

/// Why events named like an instance's service are not its own: another
/// cluster, or another service ARN than the one the instance records.
fn mismatch(instance: &Instance, pending: &[Pending]) -> Option<String> {
    for p in pending {
        let Some((cluster, _)) = p.event.service() else {
            continue;
        };
        if !instance.ecs.cluster.is_empty() && cluster != instance.ecs.cluster {
            return Some(format!(
                "the instance {} runs in cluster {}, not {cluster}",
                instance.instance_id, instance.ecs.cluster
            ));
        }
        if let Change::Service { service_arn, .. } | Change::Deployment { service_arn, .. } =
            &p.event.change
            && !instance.ecs.service_arn.is_empty()
            && *service_arn != instance.ecs.service_arn
        {
            return Some(format!(
                "the instance {}'s service is {}, not {service_arn}",
                instance.instance_id, instance.ecs.service_arn
            ));
        }
    }
    None
}

/// What an applied event changes beyond its mark.
fn effect(i: &mut Instance, change: &Change) {
    match change {
        Change::Task { .. } => {
            let (running, pending) = i.event_sync.counts();
            i.ecs.running_count = running;
            i.ecs.pending_count = pending;
        }
        Change::Deployment { deployment_id, .. } => {
            // The newest mark of this deployment (an older event may have
            // moved the marks without changing it).
            let Some(mark) = i.event_sync.deployments.get(deployment_id) else {
                return;
            };
            let desired = i.ecs.desired_count;
            let current = i.ecs.deployment.get_or_insert_with(|| Deployment {
                id: deployment_id.clone(),
                desired_count: desired,
                rollout_state: mark.state.clone(),
                reason: None,
            });
            if current.id == *deployment_id {
                current.rollout_state = mark.state.clone();
                current.reason = mark.reason.clone();
            }
        }
        Change::Service { .. } => {}
    }
}

fn result_of(r: &EventRecord) -> EventResult {
    EventResult {
        id: r.event_id.clone().unwrap_or_default(),
        outcome: r.outcome,
        reason: r.reason.clone(),
        instance_id: r.instance_id.clone(),
    }
}
