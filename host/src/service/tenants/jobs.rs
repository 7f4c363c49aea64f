//! [`TenantJobs`]: the job handler of a tenant's deletion when it must
//! deprovision infrastructure (the subtree's instances take minutes on
//! AWS). The deletion itself is the resumable cascade of
//! [`super::cascade`]; the job drives it to the end, again after a crash.

use async_trait::async_trait;

use crate::domain::operation::{OperationError, OperationKind};
use crate::jobs::worker::{Handler, Job, JobError, JobResult};

use super::super::Services;

/// Runs tenants' deletions for the job worker.
pub struct TenantJobs {
    services: Services,
}

impl TenantJobs {
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

#[async_trait]
impl Handler for TenantJobs {
    async fn run(&self, job: &Job) -> JobResult {
        let op = job.snapshot();
        if op.kind != OperationKind::TenantDelete {
            return Err(JobError::fail(
                "invalid_job",
                format!("tenants do not run {}", op.kind),
            ));
        }
        job.step(
            0,
            None,
            "removing the tenant's subtree and deprovisioning its instances",
        )
        .await?;
        self.services
            .tenants()
            .run_deletion(&op.resource.id, usize::MAX)
            .await?;
        Ok(())
    }

    /// The intent stays: the next start (or a new request) finishes it.
    async fn on_failure(&self, job: &Job, error: &OperationError) -> anyhow::Result<()> {
        tracing::warn!(tenant = %job.snapshot().resource.id, error = %error.message, "a tenant deletion failed; its intent is resumed on the next start");
        Ok(())
    }
}
