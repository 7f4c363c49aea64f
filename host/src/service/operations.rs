//! Operations: asynchronous work a caller starts with a 202 and polls at
//! `GET /v1/operations/{id}`, run by the worker pool from the job queue.
//!
//! Starting one writes the operation (PENDING) in the same transaction as
//! the resource change that needs it, then sends a message naming it. The
//! operation record, not the message, is the truth:
//! - a worker claims the operation with a conditional write (RUNNING, a
//!   lease, attempts + 1), so two deliveries of one message never run it at
//!   once, and a delivery of a finished operation is just acknowledged;
//! - the lease is renewed while the handler runs; a worker that dies lets
//!   it lapse, the message comes back after its visibility timeout, and the
//!   next worker resumes: every handler checks state before each step, so
//!   a job run twice has the effect of one run;
//! - a sweep re-sends the message of any operation that has not moved for
//!   a few leases (a crash between the commit and the send).
//!
//! A handler's error is either final (the operation FAILED, the message
//! acknowledged) or retryable: retried with exponential backoff, and after
//! `max_attempts` deliveries the operation FAILED and the message dead-lettered.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use crate::domain::ids;
use crate::domain::site::{
    Operation, OperationError, OperationResource, OperationStatus, Progress,
};
use crate::jobs::{Delivery, Queue};
use crate::store::{Condition, Index, Item, Query, StoreError, TxOp};

use super::{Caller, Error, Result, Services, decode, encode, keys};

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
        JobError::Fail(OperationError {
            code: code.into(),
            message: message.into(),
            step: None,
            operation: None,
        })
    }
}

impl From<Error> for JobError {
    fn from(e: Error) -> Self {
        JobError::Retry(e.to_string())
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Retry(e.to_string())
    }
}

/// The message body naming an operation.
fn message(operation_id: &str) -> String {
    serde_json::json!({ "operationId": operation_id }).to_string()
}

pub(crate) fn operation_item(op: &Operation) -> Result<Item> {
    let mut item = Item::new(keys::operation(&op.operation_id), encode(op)?);
    if !op.status.is_final() {
        item = item.with_gsi2(
            keys::OPEN_OPERATIONS,
            format!("{}#{}", op.created_at.timestamp_millis(), op.operation_id),
        );
    }
    Ok(item)
}

/// An operation about to be started.
pub(crate) fn new_operation(
    kind: &str,
    resource: OperationResource,
    input: serde_json::Value,
    now: DateTime<Utc>,
) -> Operation {
    Operation {
        operation_id: ids::new_id("op"),
        kind: kind.into(),
        status: OperationStatus::Pending,
        resource,
        progress: Progress::default(),
        error: None,
        attempts: 0,
        input,
        lease_until: None,
        created_at: now,
        updated_at: now,
        version: 0,
    }
}

impl Services {
    /// Commits `ops` with the new operation and queues its job: in the same
    /// transaction when the queue lives in the store, else right after (if
    /// that send fails the operation is still committed: the sweep sends it).
    pub(crate) async fn start_operation(&self, op: &Operation, mut ops: Vec<TxOp>) -> Result<()> {
        ops.push(TxOp::put(operation_item(op)?, Condition::NotExists));
        let body = message(&op.operation_id);
        // A queue in the store itself sends in the same transaction.
        if let Some(send) = self.jobs.queue.send_in_transaction(&body) {
            ops.push(send);
            self.store.transact(ops).await?;
            self.jobs.queue.sent();
            return Ok(());
        }
        self.store.transact(ops).await?;
        if let Err(e) = self.jobs.queue.send(&body, Duration::ZERO).await {
            tracing::warn!(operation = %op.operation_id, error = %e, "queueing a job failed; the sweep will send it");
        }
        Ok(())
    }

    /// `GET /v1/operations/{id}`: visible to whoever may read the resource's tenant.
    pub async fn get_operation(&self, caller: &Caller, id: &str) -> Result<Operation> {
        let not_found = || Error::not_found("operation_not_found", format!("no operation {id}"));
        if !ids::looks_like("op", id) {
            return Err(not_found());
        }
        let op: Operation = self
            .load(&keys::operation(id))
            .await?
            .ok_or_else(not_found)?;
        let action = if op.resource.kind == "site" || op.resource.site_id.is_some() {
            "site.read"
        } else {
            "tenant.read"
        };
        self.tenant_for(
            caller,
            action,
            &op.resource.tenant_id,
            super::access::tenant_resource(&op.resource.tenant_id),
        )
        .await
        .map_err(|e| match e {
            Error::NotFound { .. } => not_found(),
            e => e,
        })?;
        Ok(op)
    }

    /// `GET /v1/jobs/dead-letters` (platform admin): jobs that failed
    /// `max_attempts` times, oldest first.
    pub async fn dead_letters(
        &self,
        caller: &Caller,
        limit: usize,
    ) -> Result<Vec<crate::jobs::DeadLetter>> {
        self.authorize_global(caller, "jobs.read", crate::policy::Resource::default())
            .await?;
        self.jobs
            .queue
            .dead_letters(limit)
            .await
            .map_err(|e| Error::Internal(e.into()))
    }

    /// Handles one delivery: claim, run, record the outcome, settle the message.
    pub async fn handle_delivery(&self, delivery: Delivery) {
        let queue = self.jobs.queue.clone();
        let id = serde_json::from_str::<serde_json::Value>(&delivery.body)
            .ok()
            .and_then(|v| v.get("operationId")?.as_str().map(str::to_string));
        let Some(id) = id else {
            tracing::error!(message = %delivery.id, "a job message names no operation; dead-lettering it");
            let _ = queue
                .dead_letter(&delivery, "the message names no operation")
                .await;
            return;
        };
        match self.claim(&id).await {
            Ok(Some(handle)) => self.run_claimed(handle, delivery).await,
            Ok(None) => {
                let _ = queue.ack(&delivery).await;
            }
            Err(e) => {
                tracing::warn!(operation = %id, error = %e, "claiming an operation failed; it will be redelivered");
                let _ = queue.extend(&delivery, self.jobs.settings.backoff).await;
            }
        }
    }

    /// Takes the operation for this worker, or `None` when there is nothing
    /// to do (finished, gone, or leased by another worker right now).
    async fn claim(&self, id: &str) -> Result<Option<OpHandle>> {
        for _ in 0..10 {
            let Some(item) = self.store.get(&keys::operation(id)).await? else {
                return Ok(None);
            };
            let mut op: Operation = decode(&item)?;
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
                    return Ok(Some(OpHandle {
                        services: self.clone(),
                        op: Arc::new(Mutex::new(op)),
                        write: Arc::new(tokio::sync::Mutex::new(())),
                    }));
                }
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.jobs.settings.lease)
            .unwrap_or(chrono::Duration::seconds(30))
    }

    async fn run_claimed(&self, handle: OpHandle, delivery: Delivery) {
        let queue = self.jobs.queue.clone();
        let settings = self.jobs.settings.clone();
        // Renew the delivery and the lease while the handler runs.
        let heartbeat = {
            let handle = handle.clone();
            let queue = queue.clone();
            let delivery = delivery.clone();
            let period = settings.lease / 3;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(period).await;
                    let _ = queue.extend(&delivery, settings.lease).await;
                    if let Err(e) = handle.renew().await {
                        tracing::warn!(error = %e, "renewing an operation's lease failed");
                    }
                }
            })
        };
        let outcome = self.run_operation(&handle).await;
        heartbeat.abort();
        let attempts = handle.snapshot().attempts;
        let kind = handle.snapshot().kind;
        let id = handle.snapshot().operation_id;
        match outcome {
            Ok(()) => {
                if let Err(e) = handle.finish(OperationStatus::Succeeded, None).await {
                    tracing::warn!(operation = %id, error = %e, "recording success failed; the job will run again");
                    return;
                }
                tracing::info!(operation = %id, %kind, attempts, "operation succeeded");
                let _ = queue.ack(&delivery).await;
            }
            Err(JobError::Fail(error)) => {
                tracing::info!(operation = %id, %kind, code = %error.code, message = %error.message, "operation failed");
                if let Err(e) = self.on_failure(&handle, &error).await {
                    tracing::warn!(operation = %id, error = %e, "cleaning up after a failure failed; retrying");
                    let _ = queue.extend(&delivery, settings.backoff).await;
                    return;
                }
                if handle
                    .finish(OperationStatus::Failed, Some(error))
                    .await
                    .is_ok()
                {
                    let _ = queue.ack(&delivery).await;
                }
            }
            Err(JobError::Retry(reason)) if attempts >= settings.max_attempts => {
                tracing::warn!(operation = %id, %kind, attempts, %reason, "operation failed after its last attempt; dead-lettering");
                let error = OperationError {
                    code: "retries_exhausted".into(),
                    message: format!("failed {attempts} times; the last error: {reason}"),
                    step: None,
                    operation: None,
                };
                let _ = self.on_failure(&handle, &error).await;
                if handle
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
                let _ = handle.release(&reason).await;
                let _ = queue.extend(&delivery, delay).await;
            }
        }
    }

    /// Re-sends the job of every operation that has not moved for three
    /// leases. Answers how many it re-sent.
    pub async fn sweep_operations(&self) -> Result<usize> {
        let stale = self.clock.now() - self.lease() * 3;
        let page = self
            .store
            .query(Query::new(Index::Gsi2, keys::OPEN_OPERATIONS).limit(200))
            .await?;
        let mut sent = 0;
        for item in &page.items {
            let op: Operation = decode(item)?;
            if op.updated_at < stale && op.lease_until.is_none_or(|until| until < stale) {
                tracing::info!(operation = %op.operation_id, "re-sending the job of a stalled operation");
                if self
                    .jobs
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

/// A claimed operation: the one writer of its record while the job runs.
#[derive(Clone)]
pub struct OpHandle {
    services: Services,
    op: Arc<Mutex<Operation>>,
    /// Serialises writes of the record (progress and lease renewals).
    write: Arc<tokio::sync::Mutex<()>>,
}

impl OpHandle {
    pub fn snapshot(&self) -> Operation {
        self.op.lock().clone()
    }

    /// Writes a change to the record at the version it holds.
    async fn update(&self, change: impl FnOnce(&mut Operation)) -> Result<()> {
        let _guard = self.write.lock().await;
        let mut op = self.snapshot();
        change(&mut op);
        op.updated_at = self.services.clock.now();
        let version = self
            .services
            .store
            .put(operation_item(&op)?, Condition::Version(op.version))
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => {
                    Error::conflict("lease_lost", "another worker took the operation over")
                }
                e => e.into(),
            })?;
        op.version = version;
        *self.op.lock() = op;
        Ok(())
    }

    async fn renew(&self) -> Result<()> {
        let until = self.services.clock.now() + self.services.lease();
        self.update(|op| op.lease_until = Some(until)).await
    }

    /// Records a step done.
    pub async fn step(
        &self,
        done: u32,
        total: Option<u32>,
        message: impl Into<String>,
    ) -> Result<()> {
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

    async fn finish(&self, status: OperationStatus, error: Option<OperationError>) -> Result<()> {
        self.update(|op| {
            op.status = status;
            op.error = error;
            op.lease_until = None;
        })
        .await
    }

    /// Gives the lease up before a retry, noting why.
    async fn release(&self, reason: &str) -> Result<()> {
        let reason = reason.to_string();
        self.update(|op| {
            op.lease_until = None;
            op.progress.message = Some(format!("will retry: {reason}"));
        })
        .await
    }
}

/// The worker pool: receives jobs and runs up to `workers` at once, until
/// the task is aborted. Also runs the sweep every few leases.
pub async fn run_workers(services: Services, queue: Arc<dyn Queue>) {
    let settings = services.jobs.settings.clone();
    let permits = Arc::new(tokio::sync::Semaphore::new(settings.workers.max(1)));
    let sweeper = {
        let services = services.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(services.jobs.settings.lease).await;
                if let Err(e) = services.sweep_operations().await {
                    tracing::warn!(error = %e, "the operation sweep failed");
                }
                if let Err(e) = services.resume_site_sync().await {
                    tracing::warn!(error = %e, "bringing sites in line with their tenants failed");
                }
            }
        })
    };
    let _sweeper = AbortOnDrop(sweeper);
    loop {
        let free = permits.available_permits();
        if free == 0 {
            let _ = permits.acquire().await.map(|p| p.forget());
            permits.add_permits(1);
            continue;
        }
        match queue
            .receive(free.min(10), settings.lease, Duration::from_secs(1))
            .await
        {
            Ok(deliveries) => {
                for delivery in deliveries {
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        return;
                    };
                    let services = services.clone();
                    tokio::spawn(async move {
                        services.handle_delivery(delivery).await;
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
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
