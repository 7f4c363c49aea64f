//! [`Queue`] on the [`ItemStore`]: the embedded default (durable in the
//! SQLite file), which also runs unchanged on DynamoDB.
//!
//! Layout, for a queue named `N`:
//! - a message is the item `queue#N` / `<id>` (a UUID v7), holding the body,
//!   the attempt count, the receipt of its current lease and the time it is
//!   visible from (`visibleAt`, Unix milliseconds);
//! - every message is in index gsi1 under `queue#N#ready`, sorted by
//!   `<visibleAt, zero-padded>#<id>`, so an ascending walk of that partition
//!   meets the messages in the order they become visible, those visible now
//!   first;
//! - a dead letter is the item `queue#N#dead` / `<deadAt, zero-padded>#<id>`,
//!   outside the indexes, so the partition lists them oldest first.
//!
//! Leases and races: a receive walks gsi1 from the start and stops at the
//! first message not yet visible. It claims each visible one with a put
//! conditioned on the version it read, which moves `visibleAt` to now plus
//! the visibility timeout, adds one to the attempts and writes a fresh
//! receipt. Of two receivers racing for a message exactly one write lands;
//! the other skips the message and tries the next. `ack`, `extend` and
//! `dead_letter` read the message, compare receipts and write under the
//! version read, so a receipt is good until the message is received again
//! (as in SQS: an ack that comes after the lease lapsed but before anyone
//! else received the message still counts). A receipt that was replaced, or
//! names a message that is gone, is [`QueueError::LeaseLost`]. An index that
//! lags (DynamoDB's are eventually consistent) only costs failed claims:
//! every claim is checked against the item itself.
//!
//! Long polling: a receive with nothing to take sleeps (50 ms, growing to
//! 250 ms, never past the moment the next delayed message becomes visible)
//! and looks again until `wait` has passed. A [`send`](Queue::send) through
//! the same `StoreQueue` wakes waiting receivers at once, so a worker in the
//! same process picks a new job up without the polling delay. The [`Clock`]
//! gives "now" for visibility (tests can move it); the waiting itself is in
//! real time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::{DeadLetter, Delivery, Queue, QueueError};
use crate::clock::Clock;
use crate::store::{
    Condition, Cursor, Index, Item, ItemStore, Key, MAX_PAGE, Query, StoreError, TxOp, keys,
};

/// The first pause of a receive that found nothing.
const MIN_POLL: Duration = Duration::from_millis(50);
/// The longest pause between two looks at the store.
const MAX_POLL: Duration = Duration::from_millis(250);
/// How many index entries a receive reads at a time.
const SCAN_PAGE: usize = 32;

/// A message as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    body: String,
    /// Deliveries so far.
    attempts: u32,
    /// The receipt of the current (or last) lease; none before the first
    /// delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receipt: Option<String>,
    /// Unix milliseconds from which the message may be received.
    visible_at: i64,
    /// Unix milliseconds when it was sent.
    sent_at: i64,
}

/// A dead letter as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dead {
    id: String,
    body: String,
    attempts: u32,
    reason: String,
    /// Unix milliseconds when it was moved.
    dead_at: i64,
}

/// A queue kept in an [`ItemStore`]. See the module documentation.
pub struct StoreQueue {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    /// `queue#<name>`: the messages.
    messages: String,
    /// `queue#<name>#ready`: the gsi1 partition ordering them by visibility.
    ready: String,
    /// `queue#<name>#dead`: the dead letters.
    dead: String,
    /// Woken by every send through this value.
    sent: Notify,
}

impl StoreQueue {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>, name: &str) -> Self {
        Self {
            store,
            clock,
            messages: keys::queue_messages(name),
            ready: keys::queue_ready(name),
            dead: keys::queue_dead(name),
            sent: Notify::new(),
        }
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// The item for message `id` in state `message`.
    /// A new message's id and item, visible after `delay`.
    fn new_message(&self, body: &str, delay: Duration) -> Result<(String, Item), QueueError> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = self.now_ms();
        let message = Stored {
            body: body.to_string(),
            attempts: 0,
            receipt: None,
            visible_at: now.saturating_add(millis(delay)),
            sent_at: now,
        };
        let item = self.item(&id, &message)?;
        Ok((id, item))
    }

    fn item(&self, id: &str, message: &Stored) -> Result<Item, QueueError> {
        Ok(Item::record(Key::new(&self.messages, id), message)
            .map_err(backend)?
            .with_gsi1(&self.ready, ready_sort_key(message.visible_at, id)))
    }

    /// The message a delivery names, if its receipt is still the current
    /// one: the stored state and the version to write it back at.
    async fn leased(&self, delivery: &Delivery) -> Result<(Stored, u64), QueueError> {
        let key = Key::new(&self.messages, &delivery.id);
        let lost = || QueueError::LeaseLost(delivery.id.clone());
        let item = self
            .store
            .get(&key)
            .await
            .map_err(backend)?
            .ok_or_else(lost)?;
        let message: Stored = item.decode().map_err(backend)?;
        if message.receipt.as_deref() != Some(delivery.receipt.as_str()) {
            return Err(lost());
        }
        Ok((message, item.version))
    }

    /// One look at the queue: claims up to `max` visible messages. Also
    /// answers how long until the first message that is not visible yet
    /// becomes visible, if the walk met one.
    async fn claim(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<(Vec<Delivery>, Option<Duration>), QueueError> {
        let now = self.now_ms();
        let lease_ms = i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX);
        let mut claimed = Vec::new();
        let mut after: Option<Cursor> = None;
        loop {
            let query = Query::new(Index::Gsi1, &self.ready)
                .after(after.take())
                .limit(SCAN_PAGE.max(max + 8).min(MAX_PAGE));
            let page = match self.store.query(query).await {
                Ok(page) => page,
                Err(e) if claimed.is_empty() => return Err(backend(e)),
                // Keep what is leased already; the next receive goes on.
                Err(_) => return Ok((claimed, None)),
            };
            for item in page.items {
                let message: Stored = match item.decode() {
                    Ok(message) => message,
                    Err(e) => {
                        tracing::warn!(key = %item.key, error = %e, "skipping an undecodable queue message");
                        continue;
                    }
                };
                if message.visible_at > now {
                    let until = u64::try_from(message.visible_at - now).unwrap_or(0);
                    return Ok((claimed, Some(Duration::from_millis(until))));
                }
                let id = item.key.sk.clone();
                let leased = Stored {
                    attempts: message.attempts.saturating_add(1),
                    receipt: Some(new_receipt()),
                    visible_at: now.saturating_add(lease_ms),
                    ..message
                };
                let write = self.item(&id, &leased)?;
                match self
                    .store
                    .put(write, Condition::Version(item.version))
                    .await
                {
                    Ok(_) => {
                        claimed.push(Delivery {
                            id,
                            body: leased.body,
                            attempts: leased.attempts,
                            receipt: leased.receipt.unwrap_or_default(),
                        });
                        if claimed.len() >= max {
                            return Ok((claimed, None));
                        }
                    }
                    // Another receiver (or an ack) got there first.
                    Err(e) if e.is_condition() => continue,
                    Err(e) if claimed.is_empty() => return Err(backend(e)),
                    Err(_) => return Ok((claimed, None)),
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok((claimed, None)),
            }
        }
    }
}

/// The gsi1 sort key: visible-at milliseconds, zero-padded so that text
/// order is time order, then the id to keep keys distinct.
fn ready_sort_key(visible_at: i64, id: &str) -> String {
    format!("{:016}#{id}", visible_at.max(0))
}

fn new_receipt() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn backend(e: StoreError) -> QueueError {
    QueueError::Backend(e.to_string())
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// When a wait that starts now ends (a wait too long to represent ends in a
/// century).
fn deadline(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

#[async_trait]
impl Queue for StoreQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<String, QueueError> {
        let (id, item) = self.new_message(body, delay)?;
        self.store
            .put(item, Condition::NotExists)
            .await
            .map_err(backend)?;
        self.sent.notify_waiters();
        Ok(id)
    }

    fn send_in_transaction(&self, body: &str) -> Option<TxOp> {
        let (_, item) = self.new_message(body, Duration::ZERO).ok()?;
        Some(TxOp::put(item, Condition::NotExists))
    }

    fn sent(&self) {
        self.sent.notify_waiters();
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = deadline(wait);
        let mut pause = MIN_POLL;
        loop {
            // Registered before looking, so a send between the look and the
            // sleep still wakes this receiver.
            let sent = self.sent.notified();
            tokio::pin!(sent);
            sent.as_mut().enable();

            let (claimed, next_visible) = self.claim(max, visibility).await?;
            if !claimed.is_empty() {
                return Ok(claimed);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(claimed);
            }
            let mut nap = pause.min(deadline - now);
            if let Some(until) = next_visible {
                nap = nap.min(until.max(Duration::from_millis(5)));
            }
            tokio::select! {
                _ = &mut sent => pause = MIN_POLL,
                _ = tokio::time::sleep(nap) => pause = (pause * 3 / 2).min(MAX_POLL),
            }
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let (_, version) = self.leased(delivery).await?;
        let key = Key::new(&self.messages, &delivery.id);
        match self.store.delete(&key, Condition::Version(version)).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_condition() => Err(QueueError::LeaseLost(delivery.id.clone())),
            Err(e) => Err(backend(e)),
        }
    }

    async fn extend(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        let (message, version) = self.leased(delivery).await?;
        let moved = Stored {
            visible_at: self.now_ms().saturating_add(millis(delay)),
            ..message
        };
        let write = self.item(&delivery.id, &moved)?;
        match self.store.put(write, Condition::Version(version)).await {
            Ok(_) => {
                if delay.is_zero() {
                    // Visible again now: a waiting receiver may take it.
                    self.sent.notify_waiters();
                }
                Ok(())
            }
            Err(e) if e.is_condition() => Err(QueueError::LeaseLost(delivery.id.clone())),
            Err(e) => Err(backend(e)),
        }
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), QueueError> {
        let (message, version) = self.leased(delivery).await?;
        let dead_at = self.now_ms();
        let dead = Dead {
            id: delivery.id.clone(),
            body: message.body,
            attempts: message.attempts,
            reason: reason.to_string(),
            dead_at,
        };
        let dead_key = Key::new(
            &self.dead,
            format!("{:016}#{}", dead_at.max(0), delivery.id),
        );
        let ops = vec![
            TxOp::delete(
                Key::new(&self.messages, &delivery.id),
                Condition::Version(version),
            ),
            TxOp::put(
                Item::record(dead_key, &dead).map_err(backend)?,
                Condition::NotExists,
            ),
        ];
        match self.store.transact(ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::TransactionCancelled { failed }) if failed.contains(&0) => {
                Err(QueueError::LeaseLost(delivery.id.clone()))
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let mut letters = Vec::new();
        let mut after = None;
        while letters.len() < limit {
            let query = Query::new(Index::Primary, &self.dead)
                .after(after.take())
                .limit((limit - letters.len()).min(MAX_PAGE));
            let page = self.store.query(query).await.map_err(backend)?;
            for item in &page.items {
                let dead: Dead = item.decode().map_err(backend)?;
                letters.push(DeadLetter {
                    id: dead.id,
                    body: dead.body,
                    attempts: dead.attempts,
                    reason: dead.reason,
                });
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(letters)
    }
}
