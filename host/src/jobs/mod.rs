//! Durable job queues and the worker that drains them ([`worker`]).
//!
//! A job is a message naming an operation (`{"operationId": ...}`); the
//! operation record in the store carries what to do and shows progress.
//! Delivery is at least once: a message is leased for a visibility timeout,
//! and a worker that dies mid-job lets the lease lapse, so another worker
//! (or the same process after a restart) receives it again. Handlers make
//! that exactly once in effect by checking state before each step.
//!
//! Two implementations of [`Queue`]: [`store_queue::StoreQueue`] keeps the
//! queue in the [`crate::store::ItemStore`] (the embedded default, durable in
//! SQLite), and [`sqs::SqsQueue`] uses Amazon SQS (at scale). Both pass the
//! same conformance suite (`bbws_testkit::queue_conformance`).

pub mod sqs;
pub mod store_queue;
pub mod worker;

use std::time::Duration;

use async_trait::async_trait;

/// One received message, leased to the receiver until its visibility
/// timeout passes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The message's id, stable across deliveries.
    pub id: String,
    /// The body as sent.
    pub body: String,
    /// How many times the message has been received, this time included (1 on
    /// the first delivery).
    pub attempts: u32,
    /// Names this lease: acknowledging or extending with a lapsed lease fails
    /// once the message was received again or is gone (until then a late ack
    /// still counts, as in SQS). SQS itself accepts an earlier delivery's
    /// receipt even after a redelivery: see [`sqs`].
    pub receipt: String,
}

/// A message moved aside after too many failed attempts.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: String,
    pub body: String,
    pub attempts: u32,
    /// Why it was moved (the last error).
    pub reason: String,
}

/// Why a queue call failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The lease named by a receipt lapsed (the message may be with another
    /// worker now) or the message is gone.
    #[error("the lease on message {0} lapsed")]
    LeaseLost(String),
    /// The backend failed.
    #[error("queue backend: {0}")]
    Backend(String),
}

/// A durable queue with leases (SQS's model).
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Adds a message that becomes visible after `delay`. Answers its id.
    async fn send(&self, body: &str, delay: Duration) -> Result<String, QueueError>;

    /// Up to `max` visible messages, each leased for `visibility`; waits up
    /// to `wait` for the first one (long polling) and answers an empty list
    /// if none came.
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>, QueueError>;

    /// The job is done: removes the message.
    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError>;

    /// Makes the message visible again after `delay` from now: a heartbeat
    /// for a long job (a delay of the visibility timeout) or a retry with
    /// backoff (the backoff). The message keeps its attempt count.
    async fn extend(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError>;

    /// Moves the message to the dead-letter queue, with the reason.
    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), QueueError>;

    /// Up to `limit` dead letters, oldest first.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError>;

    /// For a queue kept in the services' own item store: the write that
    /// sends `body` (visible at once) inside the caller's transaction, so
    /// the message exists if and only if the transaction commits (a
    /// transactional outbox). `None` (the default): the queue lives
    /// elsewhere; [`Queue::send`] after the commit.
    fn send_in_transaction(&self, _body: &str) -> Option<crate::store::TxOp> {
        None
    }

    /// Tells local receivers that a transaction carrying a message committed.
    fn sent(&self) {}
}
