//! The local simulation's events, into the pipeline in process: the
//! provider emits each event into a bounded channel (it must not wait on
//! the store while it holds its own lock); one task drains the channel in
//! batches of up to 100 through [`Events::ingest`](super::Events::ingest),
//! exactly as events from EventBridge go.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::infra::instances::EcsEventSink;
use crate::service::Services;

use super::Arrived;

/// How many events may wait for the pipeline before the simulation's
/// newest are dropped (and counted).
const CAPACITY: usize = 10_000;

/// The sink the simulation emits into.
pub struct ChannelEvents {
    tx: mpsc::Sender<serde_json::Value>,
    dropped: AtomicU64,
}

impl EcsEventSink for ChannelEvents {
    fn emit(&self, event: serde_json::Value) {
        if self.tx.try_send(event).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "the events pipeline is behind; dropped local events"
                );
            }
        }
    }
}

/// A sink and the receiving end [`drain`] takes.
pub fn channel() -> (Arc<dyn EcsEventSink>, mpsc::Receiver<serde_json::Value>) {
    let (tx, rx) = mpsc::channel(CAPACITY);
    (
        Arc::new(ChannelEvents {
            tx,
            dropped: AtomicU64::new(0),
        }),
        rx,
    )
}

/// Feeds the simulation's events to the pipeline until the channel closes.
/// A batch the store refuses is tried again (its events are idempotent).
pub async fn drain(services: Services, mut rx: mpsc::Receiver<serde_json::Value>) {
    let mut batch = Vec::with_capacity(super::MAX_BATCH);
    while rx.recv_many(&mut batch, super::MAX_BATCH).await > 0 {
        let mut attempt = 0u32;
        loop {
            let arrived = batch.iter().cloned().map(Arrived::from_value).collect();
            match services.events().ingest(arrived, "local").await {
                Ok(_) => break,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "local events not synced yet; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, events = batch.len(), "local events could not be synced; dropped");
                    break;
                }
            }
        }
        batch.clear();
    }
}
