//! The worker pool: receives job messages, claims the operation each one
//! names, and runs it through the [`Handler`] registered for the
//! operation's kind. The worker knows nothing of sites or instances: each
//! resource registers its handler ([`Worker::handle`]), and the worker does
//! the rest for all of them alike.
//!
//! The operation record, not the message, is the truth:
//! - a worker claims the operation with a conditional write (RUNNING, a
//!   lease, attempts + 1), so two deliveries of one message never run it at
//!   once, and a delivery of a finished operation is just acknowledged;
//! - the lease is renewed while the handler runs; a worker that dies lets
//!   it lapse, the message comes back after its visibility timeout, and the
//!   next worker resumes: every handler checks state before each step, so
//!   a job run twice has the effect of one run;
//! - a sweep re-sends the message of any operation that has not moved for
//!   three leases (a crash between the commit and the send), and runs the
//!   registered [`Recovery`] tasks (work a crash left outside any operation).
//!
//! A handler's error is either final (the operation FAILED, the handler's
//! [`Handler::on_failure`] cleans up, the message is acknowledged) or
//! retryable: retried with exponential backoff, and after `max_attempts`
//! deliveries the operation FAILED and the message dead-lettered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use super::{Delivery, Queue};
use crate::clock::Clock;
use crate::domain::operation::{
    Operation, OperationError, OperationStatus, Progress, ResourceKind,
};
use crate::store::{Condition, Index, Item, ItemStore, Query, StoreError, TxOp, keys, record};

/// How the worker pool runs jobs.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// Jobs run at once by this process (0: no worker, the API only).
    pub workers: usize,
    /// How long a delivery and an operation's lease last without renewal.
    pub lease: Duration,
    /// Deliveries before an operation fails for good and its message is
    /// dead-lettered.
    pub max_attempts: u32,
    /// The first retry's delay; doubled per attempt, at most 5 minutes.
    pub backoff: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            workers: 8,
            lease: Duration::from_secs(30),
            max_attempts: 5,
            backoff: Duration::from_secs(2),
        }
    }
}

/// Why a job step failed.
#[derive(Debug)]
pub enum JobError {
    /// Try again later (a fault that may pass).
    Retry(String),
    /// Stop: the operation FAILED with this error.
    Fail(OperationError),
}

impl JobError {
    pub fn fail(code: &str, message: impl Into<String>) -> Self {
        JobError::Fail(OperationError::new(code, message))
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Retry(e.to_string())
    }
}

pub type JobResult<T = ()> = Result<T, JobError>;

/// What a resource does with its operations.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Runs the job of a claimed operation, or resumes it: a handler checks
    /// state before every step, so a second delivery finishes what the
    /// first started without doing any step's effect twice.
    async fn run(&self, job: &Job) -> JobResult;

    /// What an operation that failed for good leaves behind (a resource
    /// marked FAILED, released from the operation). Runs before the
    /// operation is recorded FAILED; an error retries the whole failure.
    async fn on_failure(&self, job: &Job, error: &OperationError) -> anyhow::Result<()>;
}

/// Work that a crash can leave unfinished outside any operation (a tenant's
/// resources not yet following its new status): the sweep runs every
/// registered recovery, and so does the start of a server.
#[async_trait]
pub trait Recovery: Send + Sync + 'static {
    /// What it recovers, for the log.
    fn name(&self) -> &'static str;
    /// Finishes what was left; answers how much there was.
    async fn recover(&self) -> anyhow::Result<usize>;
}

/// The message body naming an operation.
fn message(operation_id: &str) -> String {
    serde_json::json!({ "operationId": operation_id }).to_string()
}

/// The item an operation is stored as: open operations are indexed for
/// the sweep.
pub fn operation_item(op: &Operation) -> Result<Item, StoreError> {
    let mut item = Item::new(keys::operation(&op.operation_id), record::encode(op)?);
    if !op.status.is_final() {
        item = item.with_gsi2(
            keys::OPEN_OPERATIONS,
            format!("{}#{}", op.created_at.timestamp_millis(), op.operation_id),
        );
    }
    Ok(item)
}

/// Starts `op`: commits `ops` with the new operation and queues its job, in
/// the same transaction when the queue lives in the store (a transactional
/// outbox), else right after (if that send fails the operation is still
/// committed, and the sweep sends it).
pub async fn start(
    store: &dyn ItemStore,
    queue: &dyn Queue,
    op: &Operation,
    mut ops: Vec<TxOp>,
) -> Result<(), StoreError> {
    ops.push(TxOp::put(operation_item(op)?, Condition::NotExists));
    let body = message(&op.operation_id);
    if let Some(send) = queue.send_in_transaction(&body) {
        ops.push(send);
        store.transact(ops).await?;
        queue.sent();
        return Ok(());
    }
    store.transact(ops).await?;
    if let Err(e) = queue.send(&body, Duration::ZERO).await {
        tracing::warn!(operation = %op.operation_id, error = %e, "queueing a job failed; the sweep will send it");
    }
    Ok(())
}

/// The worker pool of one process: handlers by resource, recoveries, and
/// the queue they drain.
pub struct Worker {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    queue: Arc<dyn Queue>,
    settings: JobSettings,
    handlers: HashMap<ResourceKind, Arc<dyn Handler>>,
    recoveries: Vec<Arc<dyn Recovery>>,
}

impl Worker {
    pub fn new(
        store: Arc<dyn ItemStore>,
        clock: Arc<dyn Clock>,
        queue: Arc<dyn Queue>,
        settings: JobSettings,
    ) -> Self {
        Self {
            store,
            clock,
            queue,
            settings,
            handlers: HashMap::new(),
            recoveries: Vec::new(),
        }
    }

    /// Runs the operations whose kind names `resource` through `handler`.
    pub fn handle(mut self, resource: ResourceKind, handler: Arc<dyn Handler>) -> Self {
        self.handlers.insert(resource, handler);
        self
    }

    /// Runs `recovery` on every sweep.
    pub fn recover_with(mut self, recovery: Arc<dyn Recovery>) -> Self {
        self.recoveries.push(recovery);
        self
    }

    pub fn settings(&self) -> &JobSettings {
        &self.settings
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.lease).unwrap_or(chrono::Duration::seconds(30))
    }

    /// Receives jobs and runs up to `workers` at once, sweeping every lease,
    /// until `stop` turns true (or its sender is dropped); then takes no
    /// more and waits up to `drain` for the running ones to finish. A job still running after
    /// that is dropped mid-step: its lease runs out and another worker (or
    /// the next start) takes it up again, since every step checks state
    /// first.
    pub async fn run_until(
        self: Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
        drain: Duration,
    ) {
        let slots = self.settings.workers.max(1);
        let permits = Arc::new(tokio::sync::Semaphore::new(slots));
        let sweeper = {
            let worker = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(worker.settings.lease).await;
                    worker.sweep().await;
                }
            })
        };
        let _sweeper = AbortOnDrop(sweeper);
        while !*stop.borrow() {
            let free = permits.available_permits();
            if free == 0 {
                tokio::select! {
                    p = permits.acquire() => {
                        let _ = p.map(|p| p.forget());
                        permits.add_permits(1);
                    }
                    // Only a stop is ever sent (or the sender is gone).
                    _ = stop.changed() => break,
                }
                continue;
            }
            let received = tokio::select! {
                r = self.queue.receive(free.min(10), self.settings.lease, Duration::from_secs(1)) => r,
                _ = stop.changed() => break,
            };
            match received {
                Ok(deliveries) => {
                    for delivery in deliveries {
                        let Ok(permit) = permits.clone().acquire_owned().await else {
                            return;
                        };
                        let worker = self.clone();
                        tokio::spawn(async move {
                            worker.handle_delivery(delivery).await;
                            drop(permit);
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "receiving jobs failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        let running = slots - permits.available_permits();
        if running > 0 {
            tracing::info!(running, "waiting for running jobs to finish");
        }
        let all = u32::try_from(slots).unwrap_or(u32::MAX);
        if tokio::time::timeout(drain, permits.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!(
                running = slots - permits.available_permits(),
                "jobs still running at shutdown; their leases will hand them to the next worker"
            );
        }
    }

    /// One sweep: re-sends stalled operations and runs every recovery.
    pub async fn sweep(&self) {
        if let Err(e) = self.resend_stalled().await {
            tracing::warn!(error = %e, "the operation sweep failed");
        }
        self.recover().await;
    }

    /// Runs every recovery once (on start, and by each sweep).
    pub async fn recover(&self) -> usize {
        let mut done = 0;
        for recovery in &self.recoveries {
            match recovery.recover().await {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(
                            recovery = recovery.name(),
                            n,
                            "finished work left by a crash"
                        );
                    }
                    done += n;
                }
                Err(e) => {
                    tracing::warn!(recovery = recovery.name(), error = %e, "a recovery failed")
                }
            }
        }
        done
    }

    /// Handles one delivery: claim, run, record the outcome, settle the message.
    pub async fn handle_delivery(&self, delivery: Delivery) {
        let id = serde_json::from_str::<serde_json::Value>(&delivery.body)
            .ok()
            .and_then(|v| v.get("operationId")?.as_str().map(str::to_string));
        let Some(id) = id else {
            tracing::error!(message = %delivery.id, "a job message names no operation; dead-lettering it");
            let _ = self
                .queue
                .dead_letter(&delivery, "the message names no operation")
                .await;
            return;
        };
        match self.claim(&id).await {
            Ok(Some(job)) => self.run_claimed(job, delivery).await,
            Ok(None) => {
                let _ = self.queue.ack(&delivery).await;
            }
            Err(e) => {
                tracing::warn!(operation = %id, error = %e, "claiming an operation failed; it will be redelivered");
                let _ = self.queue.extend(&delivery, self.settings.backoff).await;
            }
        }
    }

    /// Takes the operation for this worker, or `None` when there is nothing
    /// to do (finished, gone, or leased by another worker right now).
    async fn claim(&self, id: &str) -> Result<Option<Job>, StoreError> {
        for _ in 0..10 {
            let Some(item) = self.store.get(&keys::operation(id)).await? else {
                return Ok(None);
            };
            let mut op: Operation = record::decode(&item)?;
            let now = self.clock.now();
            if op.status.is_final() || op.lease_until.is_some_and(|until| until > now) {
                return Ok(None);
            }
            op.status = OperationStatus::Running;
            op.attempts += 1;
            op.lease_until = Some(now + self.lease());
            op.updated_at = now;
            match self
                .store
                .put(operation_item(&op)?, Condition::Version(op.version))
                .await
            {
                Ok(v) => {
                    op.version = v;
                    return Ok(Some(Job {
                        store: self.store.clone(),
                        clock: self.clock.clone(),
                        lease: self.lease(),
                        op: Arc::new(Mutex::new(op)),
                        write: Arc::new(tokio::sync::Mutex::new(())),
                    }));
                }
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    async fn run_claimed(&self, job: Job, delivery: Delivery) {
        let queue = self.queue.clone();
        let settings = self.settings.clone();
        // Renew the delivery and the lease while the handler runs.
        let heartbeat = {
            let job = job.clone();
            let queue = queue.clone();
            let delivery = delivery.clone();
            let period = settings.lease / 3;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(period).await;
                    let _ = queue.extend(&delivery, settings.lease).await;
                    if let Err(e) = job.renew().await {
                        tracing::warn!(error = %e, "renewing an operation's lease failed");
                    }
                }
            })
        };
        let op = job.snapshot();
        let handler = self.handlers.get(&op.kind.handler()).cloned();
        let outcome = match &handler {
            Some(handler) => handler.run(&job).await,
            None => Err(JobError::fail(
                "invalid_job",
                format!("no handler runs {} operations here", op.kind),
            )),
        };
        heartbeat.abort();
        let attempts = job.snapshot().attempts;
        let (kind, id) = (op.kind, op.operation_id);
        let on_failure = |error: OperationError| {
            let job = &job;
            let handler = &handler;
            async move {
                match handler {
                    Some(h) => h.on_failure(job, &error).await.map(|()| error),
                    None => Ok(error),
                }
            }
        };
        match outcome {
            Ok(()) => {
                if let Err(e) = job.finish(OperationStatus::Succeeded, None).await {
                    tracing::warn!(operation = %id, error = %e, "recording success failed; the job will run again");
                    return;
                }
                tracing::info!(operation = %id, %kind, attempts, "operation succeeded");
                let _ = queue.ack(&delivery).await;
            }
            Err(JobError::Fail(error)) => {
                tracing::info!(operation = %id, %kind, code = %error.code, message = %error.message, "operation failed");
                let error = match on_failure(error).await {
                    Ok(error) => error,
                    Err(e) => {
                        tracing::warn!(operation = %id, error = %e, "cleaning up after a failure failed; retrying");
                        let _ = queue.extend(&delivery, settings.backoff).await;
                        return;
                    }
                };
                if job
                    .finish(OperationStatus::Failed, Some(error))
                    .await
                    .is_ok()
                {
                    let _ = queue.ack(&delivery).await;
                }
            }
            Err(JobError::Retry(reason)) if attempts >= settings.max_attempts => {
                tracing::warn!(operation = %id, %kind, attempts, %reason, "operation failed after its last attempt; dead-lettering");
                let error = OperationError::new(
                    "retries_exhausted",
                    format!("failed {attempts} times; the last error: {reason}"),
                );
                let error = on_failure(error.clone()).await.unwrap_or(error);
                if job
                    .finish(OperationStatus::Failed, Some(error))
                    .await
                    .is_ok()
                {
                    let _ = queue.dead_letter(&delivery, &reason).await;
                }
            }
            Err(JobError::Retry(reason)) => {
                let delay = settings
                    .backoff
                    .saturating_mul(1 << attempts.saturating_sub(1).min(8))
                    .min(Duration::from_secs(300));
                tracing::info!(operation = %id, %kind, attempts, %reason, ?delay, "operation will be retried");
                let _ = job.release(&reason, delay).await;
                let _ = queue.extend(&delivery, delay).await;
            }
        }
    }

    /// Re-sends the job of every operation that has not moved for three
    /// leases. Answers how many it re-sent.
    pub async fn resend_stalled(&self) -> Result<usize, StoreError> {
        let stale = self.clock.now() - self.lease() * 3;
        let page = self
            .store
            .query(Query::new(Index::Gsi2, keys::OPEN_OPERATIONS).limit(200))
            .await?;
        let mut sent = 0;
        for item in &page.items {
            let op: Operation = record::decode(item)?;
            // Waiting out a retry's backoff is not stalling: the message
            // comes back when the backoff ends.
            let moved = op.updated_at.max(op.retry_at.unwrap_or(op.updated_at));
            if moved < stale && op.lease_until.is_none_or(|until| until < stale) {
                tracing::info!(operation = %op.operation_id, "re-sending the job of a stalled operation");
                if self
                    .queue
                    .send(&message(&op.operation_id), Duration::ZERO)
                    .await
                    .is_ok()
                {
                    sent += 1;
                }
            }
        }
        Ok(sent)
    }
}

/// A claimed operation: the one writer of its record while its job runs.
#[derive(Clone)]
pub struct Job {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    lease: chrono::Duration,
    op: Arc<Mutex<Operation>>,
    /// Serialises writes of the record (progress and lease renewals).
    write: Arc<tokio::sync::Mutex<()>>,
}

/// A job lost its operation to another worker (its lease lapsed).
#[derive(Debug, thiserror::Error)]
pub enum JobRecordError {
    #[error("another worker took the operation over")]
    LeaseLost,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<JobRecordError> for JobError {
    fn from(e: JobRecordError) -> Self {
        JobError::Retry(e.to_string())
    }
}

impl Job {
    /// The operation as this job last wrote it.
    pub fn snapshot(&self) -> Operation {
        self.op.lock().clone()
    }

    /// A string field of the job's input, or a final failure.
    pub fn input_str(&self, field: &str) -> JobResult<String> {
        self.op
            .lock()
            .input_str(field)
            .map(str::to_string)
            .ok_or_else(|| JobError::fail("invalid_job", format!("the job has no {field}")))
    }

    /// Writes a change to the record at the version it holds.
    async fn update(&self, change: impl FnOnce(&mut Operation)) -> Result<(), JobRecordError> {
        let _guard = self.write.lock().await;
        let mut op = self.snapshot();
        change(&mut op);
        op.updated_at = self.clock.now();
        let version = self
            .store
            .put(operation_item(&op)?, Condition::Version(op.version))
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => JobRecordError::LeaseLost,
                e => e.into(),
            })?;
        op.version = version;
        *self.op.lock() = op;
        Ok(())
    }

    async fn renew(&self) -> Result<(), JobRecordError> {
        let until = self.clock.now() + self.lease;
        self.update(|op| op.lease_until = Some(until)).await
    }

    /// Records a step done.
    pub async fn step(
        &self,
        done: u32,
        total: Option<u32>,
        message: impl Into<String>,
    ) -> Result<(), JobRecordError> {
        let message = message.into();
        self.update(|op| {
            op.progress = Progress {
                steps_done: done,
                steps_total: total,
                message: Some(message),
            };
        })
        .await
    }

    async fn finish(
        &self,
        status: OperationStatus,
        error: Option<OperationError>,
    ) -> Result<(), JobRecordError> {
        self.update(|op| {
            op.status = status;
            op.error = error;
            op.lease_until = None;
        })
        .await
    }

    /// Gives the lease up before a retry due after `delay`, noting why.
    async fn release(&self, reason: &str, delay: Duration) -> Result<(), JobRecordError> {
        let reason = reason.to_string();
        let due = self.clock.now() + chrono::Duration::from_std(delay).unwrap_or_default();
        self.update(|op| {
            op.lease_until = None;
            op.retry_at = Some(due);
            op.progress.message = Some(format!("will retry: {reason}"));
        })
        .await
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
