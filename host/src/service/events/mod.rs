//! Events: ECS state changes from EventBridge (over HTTP, from SQS, or from
//! the local simulation in process), each parsed, routed to its instance,
//! filtered (the platform's gate guest, with the tenant's event pattern,
//! then the tenant's own `event-filter` guest) and synced into the
//! instance's state, idempotently and in any order:
//! - **dedupe** by the envelope `id`: the event's record is written under
//!   its id with a `NotExists` condition and a TTL (the retention, 7 days),
//!   in the same transaction as the instance, so an event counts once or
//!   not at all;
//! - **order** by the sync marks the instance keeps
//!   ([`EventSync`](crate::domain::event::EventSync)): a task by its
//!   `detail.version`, a deployment by `updatedAt` (never reopened once
//!   ended), a service by `createdAt`; an older event is `stale`;
//! - **no lost updates**: the instance is written on the version it was
//!   read at; a lost race reads again and re-applies.
//!
//! Events of one instance in one batch share one transaction (the
//! instance written once, and one record per event that is also its
//! dedupe marker), which is what lets a batch of 100 cost one write per
//! event and one per instance instead of three per event.

pub mod filter;
mod ingest;
pub mod local;
pub mod queue;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Tenant;
use crate::store::record::encode;
use crate::store::{Index, Item, Query};

use super::paging::Page;
use super::{Caller, Error, PageRequest, Result, Services};

pub use ingest::{Arrived, EventResult};

/// The most events one request may carry.
pub const MAX_BATCH: usize = 100;

/// What the events pipeline is configured with.
#[derive(Clone, Debug)]
pub struct EventSettings {
    /// The secrets `POST /v1/events` accepts in `X-Bbws-Events-Secret`
    /// (the current one, and the previous one while rotating). Empty:
    /// every request is refused.
    pub secrets: Vec<String>,
    /// The instance environments whose events are synced; empty: all.
    pub environments: Vec<String>,
    /// How long processed events stay listed, and so how long an event id
    /// is remembered for dedupe (AWS redelivers within hours; at least a
    /// day is needed).
    pub retention: Duration,
    /// Run the filters (always, but for the benchmark's baseline of
    /// ingestion without them).
    pub filters: bool,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            secrets: Vec::new(),
            environments: Vec::new(),
            retention: Duration::from_secs(7 * 24 * 3600),
            filters: true,
        }
    }
}

/// What became of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Synced into the instance's state.
    Applied,
    /// Its id was seen before.
    Duplicate,
    /// The instance already holds something newer.
    Stale,
    /// A filter dropped it (or failed, which drops it: filters fail closed).
    Filtered,
    /// Not an event bbws syncs, or not well formed.
    Rejected,
    /// No instance of bbws's runs the service it names.
    Unmatched,
}

/// What the filters said of an event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilterVerdict {
    /// `accept`, `drop`, `annotate`, or `error` (a filter that trapped or
    /// ran out of time: the event is dropped).
    pub verdict: String,
    /// Labels the filters attached.
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The components that judged it, in order: `platform` (the gate)
    /// then the tenant's filter, each with its sha256.
    #[serde(default)]
    pub components: Vec<FilterComponent>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilterComponent {
    pub source: String,
    pub component: String,
    pub verdict: String,
}

/// A processed event, as `GET /v1/tenants/{id}/events` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// The EventBridge envelope's `id` (absent when the event had none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterVerdict>,
    /// The instance's version before and after the event (equal when it
    /// changed nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_before: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_after: Option<u64>,
    /// The envelope's `time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    /// How the event arrived: `http`, `sqs` or `local`.
    pub via: String,
}

/// Filters of an event list.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub instance_id: Option<String>,
    pub outcome: Option<Outcome>,
}

/// The events of tenants.
pub struct Events<'a> {
    pub(super) cx: &'a Services,
}

/// The index partition a tenant's (or, for `None`, the platform's) event
/// records are listed from.
fn records_of(tenant_id: Option<&str>) -> String {
    format!("EVENTS#{}", tenant_id.unwrap_or("platform"))
}

fn records_of_instance(tenant_id: &str, instance_id: &str) -> String {
    format!("EVENTS#{tenant_id}#{instance_id}")
}

/// The record of the first processing of an event id: its key is the
/// dedupe marker (written `NotExists`), so remembering the id costs no
/// write of its own.
pub(crate) fn seen_key(event_id: &str) -> crate::store::Key {
    crate::store::Key::new(format!("EVENTID#{event_id}"), "EVENT")
}

/// The item of a record, under `key` ([`seen_key`] for the first
/// processing, a fresh key for a duplicate or an event without an id):
/// listed newest first by tenant and by instance (the index sort key counts
/// down from the time received, then from the event's place in its
/// batch), kept for the retention.
pub(crate) fn record_item(
    r: &EventRecord,
    key: crate::store::Key,
    place: usize,
    retention: Duration,
) -> std::result::Result<Item, Error> {
    let micros = r.received_at.timestamp_micros().max(0) as u64;
    let sk = format!(
        "{:016x}{:04x}{}",
        u64::MAX - micros,
        0xffff - (place.min(0xffff) as u64),
        uuid::Uuid::now_v7().simple()
    );
    let expires = r.received_at.timestamp() + retention.as_secs() as i64;
    let mut item = Item::new(key, encode(r)?)
        .expiring_at(expires)
        .with_gsi1(records_of(r.tenant_id.as_deref()), sk.clone());
    if let (Some(t), Some(i)) = (&r.tenant_id, &r.instance_id) {
        item = item.with_gsi2(records_of_instance(t, i), sk);
    }
    Ok(item)
}

/// A key for a record that is not an id's first processing.
pub(crate) fn other_key() -> crate::store::Key {
    crate::store::Key::new(
        format!("EVENTREC#{}", uuid::Uuid::now_v7().simple()),
        "EVENT",
    )
}

impl Events<'_> {
    fn engine(&self) -> Result<&filter::EventEngine> {
        self.cx
            .events
            .as_deref()
            .ok_or_else(|| Error::Unavailable("this server runs no events pipeline".into()))
    }

    /// Whether `presented` is one of the configured secrets, compared in
    /// constant time (SHA-256 of each, compared with `subtle`).
    pub fn authenticate(&self, presented: Option<&str>) -> Result<()> {
        let secrets = &self.engine()?.settings.secrets;
        if secrets.is_empty() {
            return Err(Error::Unauthorized(
                "this server takes no events: start it with --events-secret".into(),
            ));
        }
        let Some(presented) = presented else {
            return Err(Error::Unauthorized(
                "send the events secret in X-Bbws-Events-Secret".into(),
            ));
        };
        use sha2::Digest as _;
        use subtle::ConstantTimeEq as _;
        let given = sha2::Sha256::digest(presented.as_bytes());
        let mut ok = subtle::Choice::from(0);
        for s in secrets {
            ok |= sha2::Sha256::digest(s.as_bytes()).ct_eq(&given);
        }
        if bool::from(ok) {
            Ok(())
        } else {
            Err(Error::Unauthorized(
                "X-Bbws-Events-Secret is not this server's events secret".into(),
            ))
        }
    }

    /// `GET /v1/tenants/{id}/events`: the tenant's processed events, newest
    /// first.
    pub async fn list(
        &self,
        caller: &Caller,
        tenant_id: &str,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<EventRecord>> {
        self.cx
            .tenant_for(
                caller,
                "event.read",
                tenant_id,
                crate::policy::Resource::new("tenant", Some(tenant_id)),
            )
            .await?;
        let query = match &filter.instance_id {
            Some(i) => Query::new(Index::Gsi2, records_of_instance(tenant_id, i)),
            None => Query::new(Index::Gsi1, records_of(Some(tenant_id))),
        };
        self.records(query, filter.outcome, page).await
    }

    /// A page of records from `query`, of `outcome` if asked.
    async fn records(
        &self,
        query: Query,
        outcome: Option<Outcome>,
        page: &PageRequest,
    ) -> Result<Page<EventRecord>> {
        self.cx
            .page(query, page, |item| {
                let r: EventRecord = item.decode()?;
                Ok(outcome.is_none_or(|o| o == r.outcome).then_some(r))
            })
            .await
    }

    /// `GET /v1/events`: what routed to no tenant (unmatched and rejected
    /// events), for platform administrators.
    pub async fn list_platform(
        &self,
        caller: &Caller,
        outcome: Option<Outcome>,
        page: &PageRequest,
    ) -> Result<Page<EventRecord>> {
        self.cx
            .authorize_global(
                caller,
                "events.read",
                crate::policy::Resource::new("events", None),
            )
            .await?;
        self.records(Query::new(Index::Gsi1, records_of(None)), outcome, page)
            .await
    }

    /// `GET /v1/events/dead-letters`: events the queue gave up on.
    pub async fn dead_letters(
        &self,
        caller: &Caller,
        limit: usize,
    ) -> Result<Vec<crate::jobs::DeadLetter>> {
        self.cx
            .authorize_global(
                caller,
                "events.read",
                crate::policy::Resource::new("events", None),
            )
            .await?;
        match &self.engine()?.queue {
            Some(q) => Ok(q.dead_letters(limit).await?),
            None => Ok(Vec::new()),
        }
    }

    /// The tenant's event pattern.
    pub async fn pattern(&self, caller: &Caller, tenant_id: &str) -> Result<serde_json::Value> {
        let t = self
            .cx
            .tenant_for(
                caller,
                "event.read",
                tenant_id,
                crate::policy::Resource::new("tenant", Some(tenant_id)),
            )
            .await?;
        t.event_pattern.ok_or_else(|| {
            Error::not_found(
                "event_pattern_not_set",
                format!("tenant {tenant_id} has no event pattern"),
            )
        })
    }

    /// Sets (`Some`) or clears (`None`) the tenant's EventBridge event
    /// pattern, checked by the gate guest's own parser first.
    pub async fn set_pattern(
        &self,
        caller: &Caller,
        tenant_id: &str,
        pattern: Option<serde_json::Value>,
    ) -> Result<Tenant> {
        let tenant = self
            .cx
            .tenant_for(
                caller,
                "event.pattern.manage",
                tenant_id,
                crate::policy::Resource::new("tenant", Some(tenant_id)),
            )
            .await?;
        if let Some(p) = &pattern {
            self.engine()?
                .check_pattern(p)
                .map_err(|e| Error::invalid("pattern", e))?;
        }
        self.cx
            .tenants()
            .change_tenant(tenant, None, |t| {
                t.event_pattern = pattern.clone();
                Ok(())
            })
            .await
    }
}

/// Where an instance's events route: instance id -> tenant id, learnt
/// once (an instance never changes tenant).
#[derive(Default)]
pub(crate) struct Routes {
    known: parking_lot::Mutex<HashMap<String, String>>,
}

impl Routes {
    fn get(&self, instance_id: &str) -> Option<String> {
        self.known.lock().get(instance_id).cloned()
    }
    fn learn(&self, instance_id: &str, tenant_id: &str) {
        let mut known = self.known.lock();
        if known.len() > 100_000 {
            known.clear();
        }
        known.insert(instance_id.into(), tenant_id.into());
    }
}
