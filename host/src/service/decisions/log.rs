//! The decision log: every decision with its whole input, written in
//! batches off the request path into a store of its own, kept for the
//! retention (`--decision-retention`, 30 days by default),
//! listed per tenant and replayed on the recorded components and input.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use utoipa::ToSchema;

use crate::domain::ids;
use crate::policy::Request;
use crate::runtime::{Limits, Scope};
use crate::store::{Index, Item, ItemStore, Query, keys};

use super::super::access::tenant_resource;
use super::super::paging::{Page, page_in};
use super::super::{Caller, Error, PageRequest, Result, Services};
use super::answer;

/// How long decision records are kept unless configured otherwise.
pub const DECISION_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Records waiting for the log writer at most. A full queue makes requests
/// wait for the writer (backpressure) rather than lose records or grow
/// without bound.
const LOG_QUEUE: usize = 4096;

/// Records per write at most: one SQLite transaction, or BatchWriteItem
/// calls of 25 on DynamoDB.
const LOG_BATCH: usize = 500;

/// Everything a decision depended on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionInput {
    pub request: Request,
    /// The tenants the guests could look up.
    #[schema(value_type = Object)]
    pub scope: Scope,
}

/// One component's part in a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// `platform` (the RBAC guest) or the tenant whose policy this was.
    pub source: String,
    /// sha256 of the component.
    pub component: String,
    /// `allow`, `deny` or `error`.
    pub decision: String,
    pub reason: String,
    pub duration_us: u64,
}

/// A recorded decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    pub decision_id: String,
    pub tenant_id: Option<String>,
    pub principal: String,
    pub action: String,
    pub resource_kind: String,
    pub resource_id: Option<String>,
    /// `allow` or `deny`.
    pub decision: String,
    pub reason: String,
    /// Every component that took part, in order.
    pub components: Vec<Verdict>,
    pub duration_us: u64,
    pub at: DateTime<Utc>,
    pub input: DecisionInput,
}

/// A decision replayed on its recorded input.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    pub decision_id: String,
    pub recorded: Vec<Verdict>,
    pub replayed: Vec<Verdict>,
    /// True when every component answered as recorded.
    pub same: bool,
}

/// The item a decision record is stored as.
pub fn decision_item(record: &DecisionRecord, retention: Duration) -> Result<Item> {
    let expires =
        (record.at + chrono::Duration::from_std(retention).unwrap_or_default()).timestamp();
    Ok(Item::record(
        keys::decision(record.tenant_id.as_deref(), &record.decision_id),
        record,
    )?
    .with_gsi1(keys::DECISION_IDS, &record.decision_id)
    .expiring_at(expires))
}

/// Where requests leave their decision records for the writer task.
///
/// A request pushes onto a vector under a lock and wakes the writer only
/// when the vector was empty: once per batch, not once per decision (a
/// channel send woke the writer's task, and often a parked worker thread
/// with it, on every request; those futex wake-ups were the largest part
/// of the guarded read's kernel time).
///
/// `None` inside: the benchmark-only unlogged mode
/// (`--unlogged-decisions-for-benchmarks`), which records nothing.
pub(super) struct LogSender {
    shared: Option<Arc<LogShared>>,
    /// The writer task, awaited by [`LogSender::close`].
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

struct LogShared {
    pending: Mutex<Vec<DecisionRecord>>,
    /// Records arrived in an empty buffer, or the sender closed.
    arrived: Notify,
    /// The writer took the buffer: there is room again.
    drained: Notify,
    closed: AtomicBool,
}

impl LogShared {
    /// Tells the writer to write what is left and end.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.arrived.notify_one();
    }
}

impl LogSender {
    /// Leaves `record` for the writer; waits only while [`LOG_QUEUE`]
    /// records are already waiting (backpressure, never a lost record).
    pub(super) async fn send(&self, record: DecisionRecord) {
        let Some(shared) = &self.shared else { return };
        loop {
            let drained = shared.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            {
                let mut pending = shared.pending.lock();
                if pending.len() < LOG_QUEUE {
                    let was_empty = pending.is_empty();
                    pending.push(record);
                    drop(pending);
                    if was_empty {
                        shared.arrived.notify_one();
                    }
                    return;
                }
            }
            drained.await;
        }
    }

    /// Ends the writer once it has written every record sent so far, and
    /// waits for that: a shutdown keeps the decisions of the requests it
    /// answered. Records sent after this are not written.
    pub(super) async fn close(&self) {
        let Some(shared) = &self.shared else { return };
        shared.close();
        let writer = self.writer.lock().take();
        if let Some(writer) = writer
            && let Err(e) = writer.await
        {
            tracing::error!(error = %e, "the decision log writer failed");
        }
    }
}

impl Drop for LogSender {
    /// The writer writes what is left, then ends.
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.close();
        }
    }
}

/// Starts the writer task; decisions are sent to the answer. Without a
/// retention (benchmarks only) nothing is written.
pub(super) fn start_writer(store: Arc<dyn ItemStore>, retention: Option<Duration>) -> LogSender {
    let Some(retention) = retention else {
        return LogSender {
            shared: None,
            writer: Mutex::new(None),
        };
    };
    let shared = Arc::new(LogShared {
        pending: Mutex::new(Vec::new()),
        arrived: Notify::new(),
        drained: Notify::new(),
        closed: AtomicBool::new(false),
    });
    let writer = tokio::spawn(write_log(store, shared.clone(), retention));
    LogSender {
        shared: Some(shared),
        writer: Mutex::new(Some(writer)),
    }
}

/// Writes decision records in batches, off the request path: whatever
/// arrived within 20 ms of the first record, [`LOG_BATCH`] per store call.
async fn write_log(store: Arc<dyn ItemStore>, shared: Arc<LogShared>, retention: Duration) {
    loop {
        shared.arrived.notified().await;
        let closed = shared.closed.load(Ordering::Acquire);
        if !closed {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let batch = std::mem::take(&mut *shared.pending.lock());
        shared.drained.notify_waiters();
        for chunk in batch.chunks(LOG_BATCH) {
            let items: Vec<Item> = chunk
                .iter()
                .filter_map(|r| match decision_item(r, retention) {
                    Ok(item) => Some(item),
                    Err(e) => {
                        tracing::error!(decision = %r.decision_id, error = %e, "could not encode a decision record");
                        None
                    }
                })
                .collect();
            if let Err(e) = store.put_many(items).await {
                tracing::error!(error = %e, "could not write decision records");
            }
        }
        if closed {
            return;
        }
    }
}

/// The decision log of tenants: list, read, replay.
pub struct Decisions<'a> {
    pub(in crate::service) cx: &'a Services,
}

fn log_resource(tenant_id: &str) -> crate::policy::Resource {
    crate::policy::Resource {
        kind: "extension".into(),
        ..tenant_resource(tenant_id)
    }
}

impl Decisions<'_> {
    /// `GET /v1/tenants/{id}/decisions`: newest last.
    pub async fn list(
        &self,
        caller: &Caller,
        tenant_id: &str,
        page: &PageRequest,
    ) -> Result<Page<DecisionRecord>> {
        self.cx
            .tenant_for(caller, "extension.read", tenant_id, log_resource(tenant_id))
            .await?;
        page_in(
            self.cx.policies.decisions.as_ref(),
            Query::new(Index::Primary, keys::decisions_of(Some(tenant_id))),
            page,
            |item| Ok(Some(item.decode()?)),
        )
        .await
    }

    /// A recorded decision by id: of `tenant_id`, or of any tenant (for the
    /// operator's CLI, which reads the store directly).
    pub async fn get(&self, tenant_id: Option<&str>, decision_id: &str) -> Result<DecisionRecord> {
        let missing =
            || Error::not_found("decision_not_found", format!("no decision {decision_id}"));
        if !ids::looks_like("dec", decision_id) {
            return Err(missing());
        }
        let log = &self.cx.policies.decisions;
        let item = match tenant_id {
            Some(t) => log.get(&keys::decision(Some(t), decision_id)).await?,
            None => log
                .query(
                    Query::new(Index::Gsi1, keys::DECISION_IDS)
                        .prefix(decision_id)
                        .limit(1),
                )
                .await?
                .items
                .into_iter()
                .next(),
        };
        Ok(item.ok_or_else(missing)?.decode()?)
    }

    /// Reruns each component of a recorded decision on the recorded input.
    pub async fn replay(&self, record: &DecisionRecord) -> Result<Replay> {
        // The limits of the deciding tenant's tier, as the decision ran.
        let tier = record.input.scope.tenants.first().and_then(|t| {
            serde_json::from_value::<crate::domain::Tier>(serde_json::Value::String(t.tier.clone()))
                .ok()
        });
        let limits = tier.map_or_else(Limits::default, Limits::for_tier);
        let mut replayed = Vec::new();
        for v in &record.components {
            let started = std::time::Instant::now();
            let result = self
                .cx
                .policies
                .run(
                    &v.component,
                    &v.source,
                    &record.decision_id,
                    &record.input,
                    limits,
                )
                .await;
            let (decision, reason, _) = answer(result);
            replayed.push(Verdict {
                source: v.source.clone(),
                component: v.component.clone(),
                decision: decision.into(),
                reason,
                duration_us: started.elapsed().as_micros() as u64,
            });
        }
        let same = replayed
            .iter()
            .zip(&record.components)
            .all(|(a, b)| a.decision == b.decision && a.reason == b.reason);
        Ok(Replay {
            decision_id: record.decision_id.clone(),
            recorded: record.components.clone(),
            replayed,
            same,
        })
    }

    /// `POST /v1/tenants/{id}/decisions/{decisionId}/replay`.
    pub async fn replay_decision(
        &self,
        caller: &Caller,
        tenant_id: &str,
        decision_id: &str,
    ) -> Result<Replay> {
        self.cx
            .tenant_for(caller, "extension.read", tenant_id, log_resource(tenant_id))
            .await?;
        let record = self.get(Some(tenant_id), decision_id).await?;
        self.replay(&record).await
    }
}
