//! EventBridge events from a queue (`--events-queue sqs://NAME`): a rule
//! targets the SQS queue, and every replica long-polls it. A message is
//! acknowledged (deleted) only after its event is recorded; a batch the
//! store refuses is left to come back when its lease lapses. A message
//! received [`MAX_RECEIVES`] times without being recorded is moved to the
//! dead-letter queue (`NAME-dead`), which platform admins list at
//! `GET /v1/events/dead-letters`.

use std::sync::Arc;
use std::time::Duration;

use crate::jobs::{Delivery, Queue};
use crate::service::Services;

use super::Arrived;

/// Receives of one message before it is dead-lettered.
pub const MAX_RECEIVES: u32 = 5;
/// How long a received batch is hidden from other replicas while it is
/// processed; a replica that dies lets it lapse.
const LEASE: Duration = Duration::from_secs(30);
/// SQS's longest long poll.
const WAIT: Duration = Duration::from_secs(20);

/// Long-polls `queue` and feeds its events to the pipeline, for ever.
pub async fn consume(services: Services, queue: Arc<dyn Queue>) {
    loop {
        let deliveries = match queue.receive(10, LEASE, WAIT).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "could not receive events from the queue");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = drain_batch(&services, queue.as_ref(), deliveries).await {
            tracing::warn!(error = %e, "events left on the queue to come back");
        }
    }
}

/// Processes one received batch: dead-letters what came too often,
/// records the rest, then acknowledges what was recorded.
pub async fn drain_batch(
    services: &Services,
    queue: &dyn Queue,
    deliveries: Vec<Delivery>,
) -> anyhow::Result<usize> {
    let mut live = Vec::with_capacity(deliveries.len());
    for d in deliveries {
        if d.attempts > MAX_RECEIVES {
            let reason = format!("received {} times without being recorded", d.attempts - 1);
            tracing::warn!(message = %d.id, %reason, "dead-lettering an event");
            queue.dead_letter(&d, &reason).await?;
        } else {
            live.push(d);
        }
    }
    if live.is_empty() {
        return Ok(0);
    }
    // A body that is not JSON is still an event to record (rejected).
    let batch: Vec<Arrived> = live
        .iter()
        .map(|d| Arrived::from_text(d.body.clone()))
        .collect();
    services.events().ingest(batch, "sqs").await?;
    for d in &live {
        if let Err(e) = queue.ack(d).await {
            // Recorded: a redelivery is a duplicate.
            tracing::warn!(message = %d.id, error = %e, "could not delete a recorded event");
        }
    }
    Ok(live.len())
}
