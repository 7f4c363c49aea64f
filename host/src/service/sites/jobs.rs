//! The jobs of site operations, and [`SiteJobs`], the handler the job
//! worker runs them through. Each job checks state before every step, so a
//! job delivered again (a retry, a restart after SIGKILL) finishes what the
//! first delivery started without doing any step's effect twice:
//! - the local provider's WordPress state is one document written with a
//!   condition (created only if absent; a clone copies it whole or not at
//!   all), so there is no half-copied site;
//! - the site is marked with its operation and cleared of it in the same
//!   write that records the outcome.

use sha2::Digest as _;

use async_trait::async_trait;

use crate::domain::Tenant;
use crate::domain::operation::{OperationError, OperationKind, ResourceKind};
use crate::domain::site::{Environment, Site, SiteStatus};
use crate::domain::template::WpOperation;
use crate::infra::sites::{ProviderError, SiteProvider, WordPressSite};
use crate::infra::wordpress::{WordPress, WpError};
use crate::jobs::worker::{Handler, Job, JobError, JobResult};
use crate::store::{Condition, keys};

use super::super::{Error, Services};
use super::Sites;
use super::backups::{Backup, BackupStatus, backup_item};

/// Runs the operations of sites for the job worker.
pub struct SiteJobs {
    services: Services,
}

impl SiteJobs {
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

#[async_trait]
impl Handler for SiteJobs {
    async fn run(&self, job: &Job) -> JobResult {
        self.services.sites().run_job(job).await
    }

    async fn on_failure(&self, job: &Job, error: &OperationError) -> anyhow::Result<()> {
        Ok(self.services.sites().job_failed(job, error).await?)
    }
}

impl From<Error> for JobError {
    fn from(e: Error) -> Self {
        JobError::Retry(e.to_string())
    }
}

fn provider_error(e: ProviderError) -> JobError {
    match e {
        ProviderError::Unavailable(m) => JobError::Retry(m),
        ProviderError::Refused { code, message } => JobError::fail(code, message),
    }
}

fn wp_error(e: WpError) -> JobError {
    match e {
        WpError::Unreachable(m) => JobError::Retry(format!("WordPress is unreachable: {m}")),
        WpError::NotAllowed(m) => JobError::fail("url_not_allowed", m),
        other => JobError::fail("wordpress_refused", other.to_string()),
    }
}

impl Sites<'_> {
    /// Runs the job of a claimed operation.
    async fn run_job(&self, job: &Job) -> JobResult {
        let op = job.snapshot();
        let tenant_id = op.resource.tenant_id.clone();
        let id = &op.resource.id;
        match op.kind {
            OperationKind::SiteCreate => self.job_create(job, &tenant_id, id).await,
            OperationKind::SiteClone => self.job_clone(job, &tenant_id, id).await,
            OperationKind::SiteDelete => self.job_delete(&tenant_id, id).await,
            OperationKind::SitePromote => self.job_promote(job, &tenant_id, id).await,
            OperationKind::SiteBackup => {
                let site_id = op
                    .resource
                    .parent_id(ResourceKind::Site)
                    .unwrap_or_default();
                self.job_backup(job, &tenant_id, site_id).await
            }
            OperationKind::SiteRestore => self.job_restore(job, &tenant_id, id).await,
            OperationKind::SiteTemplateApply => {
                let site = self.job_site(&tenant_id, id).await?;
                let template_id = job.input_str("templateId")?;
                self.job_apply_template(job, &site, &template_id).await?;
                self.settle_site(&site, &op.operation_id, None).await
            }
            other => Err(JobError::fail(
                "invalid_job",
                format!("sites do not run {other}"),
            )),
        }
    }

    /// What a final failure leaves behind: the site released from the
    /// operation (a creation or clone FAILED), a backup marked FAILED.
    async fn job_failed(&self, job: &Job, error: &OperationError) -> super::super::Result<()> {
        let op = job.snapshot();
        let tenant_id = &op.resource.tenant_id;
        let site_id = op
            .resource
            .parent_id(ResourceKind::Site)
            .unwrap_or(&op.resource.id);
        if op.kind == OperationKind::SiteBackup {
            let key = keys::backup(site_id, &op.resource.id);
            if let Some(mut b) = self.cx.load::<Backup>(&key).await? {
                b.status = BackupStatus::Failed;
                b.updated_at = self.cx.clock.now();
                self.cx
                    .store
                    .put(backup_item(&b)?, Condition::Version(b.version))
                    .await?;
            }
        }
        let failed_status = matches!(
            op.kind,
            OperationKind::SiteCreate | OperationKind::SiteClone
        );
        let message = error.message.clone();
        let operation_id = op.operation_id.clone();
        match self
            .change(tenant_id, site_id, None, |s| {
                if s.operation_id.as_deref() == Some(operation_id.as_str()) {
                    s.operation_id = None;
                }
                if failed_status {
                    s.settle(SiteStatus::Failed);
                    s.failure = Some(message.clone());
                }
                Ok(())
            })
            .await
        {
            Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn job_site(&self, tenant_id: &str, site_id: &str) -> JobResult<Site> {
        self.load_site(tenant_id, site_id)
            .await?
            .ok_or_else(|| JobError::fail("site_not_found", format!("the site {site_id} is gone")))
    }

    /// Records the job's outcome on the site and releases it.
    async fn settle_site(
        &self,
        site: &Site,
        operation_id: &str,
        status: Option<SiteStatus>,
    ) -> JobResult {
        self.settle_with(site, operation_id, |s| {
            if let Some(status) = status {
                s.settle(status);
            }
        })
        .await
    }

    async fn settle_with(
        &self,
        site: &Site,
        operation_id: &str,
        change: impl Fn(&mut Site),
    ) -> JobResult {
        self.change(&site.tenant_id, &site.site_id, None, |s| {
            change(s);
            if s.operation_id.as_deref() == Some(operation_id) {
                s.operation_id = None;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// The simulated time a provider step takes.
    async fn provider_delay(&self) {
        let delay = self.cx.site_settings.provision_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    /// The provider of the sites bbws provisions.
    fn provider(&self) -> &dyn SiteProvider {
        self.cx.site_settings.provider.as_ref()
    }

    /// The site's WordPress: the provider's for a provisioned site, the
    /// REST client (with its password opened) for an attached one.
    pub(crate) async fn wordpress(&self, site: &Site) -> JobResult<Box<dyn WordPressSite>> {
        if site.provider == "local" {
            return Ok(self.provider().wordpress(&site.site_id));
        }
        Ok(Box::new(self.attached(site).await?))
    }

    /// The WordPress client of an attached site, with its password opened.
    async fn attached(&self, site: &Site) -> JobResult<WordPress> {
        let secrets = self.cx.site_settings.secrets.as_ref().ok_or_else(|| {
            JobError::fail("secrets_key_missing", "this deployment has no secrets key")
        })?;
        let item = self
            .cx
            .store
            .get(&keys::site_credentials(&site.site_id))
            .await?
            .ok_or_else(|| JobError::fail("credentials_missing", "the site has no credentials"))?;
        let sealed = item
            .value()?
            .get("applicationPassword")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let password = secrets
            .open(&sealed, &site.site_id)
            .map_err(|e| JobError::fail("credentials_unreadable", e.to_string()))?;
        WordPress::new(
            &site.url,
            site.wordpress_username.as_deref().unwrap_or_default(),
            &password,
            self.cx.site_settings.wordpress_egress,
        )
        .map_err(wp_error)
    }

    async fn job_create(&self, job: &Job, tenant_id: &str, site_id: &str) -> JobResult {
        let site = self.job_site(tenant_id, site_id).await?;
        let op_id = job.snapshot().operation_id;
        if site.effective_status() != SiteStatus::Provisioning {
            // Done by an earlier delivery.
            return Ok(());
        }
        if site.provider == "local" {
            job.step(0, None, "provisioning (local provider, simulated)")
                .await?;
            self.provider_delay().await;
            self.provider()
                .provision(site_id, &site.name)
                .await
                .map_err(provider_error)?;
        } else {
            job.step(0, None, "checking the attached WordPress").await?;
            let wp = self.attached(&site).await?;
            WordPressSite::check(&wp).await.map_err(wp_error)?;
        }
        if let Some(template_id) = site.template_id.clone() {
            self.job_apply_template(job, &site, &template_id).await?;
        }
        self.settle_site(&site, &op_id, Some(SiteStatus::Active))
            .await
    }

    async fn job_clone(&self, job: &Job, tenant_id: &str, site_id: &str) -> JobResult {
        let site = self.job_site(tenant_id, site_id).await?;
        let op_id = job.snapshot().operation_id;
        if site.effective_status() != SiteStatus::Provisioning {
            return Ok(());
        }
        let source_id = job.input_str("sourceSiteId")?;
        job.step(
            0,
            Some(1),
            format!("copying {source_id} (local provider, simulated)"),
        )
        .await?;
        self.provider_delay().await;
        self.provider()
            .copy(&source_id, site_id, &site.name)
            .await
            .map_err(provider_error)?;
        job.step(1, Some(1), "copied").await?;
        self.settle_site(&site, &op_id, Some(SiteStatus::Active))
            .await
    }

    /// Removes a site and everything of it (its delete job; an instance
    /// deleted with `cascade` removes its sites so).
    pub(crate) async fn job_delete(&self, tenant_id: &str, site_id: &str) -> JobResult {
        self.provider_delay().await;
        self.remove_site_contents(site_id).await?;
        self.provider()
            .remove(site_id)
            .await
            .map_err(provider_error)?;
        self.cx
            .store
            .delete(&keys::site_credentials(site_id), Condition::None)
            .await?;
        self.cx
            .store
            .delete(&keys::site(tenant_id, site_id), Condition::None)
            .await?;
        tracing::info!(site = %site_id, "site deleted");
        Ok(())
    }

    async fn job_promote(&self, job: &Job, tenant_id: &str, site_id: &str) -> JobResult {
        let site = self.job_site(tenant_id, site_id).await?;
        let op_id = job.snapshot().operation_id;
        let target: Environment = serde_json::from_value(
            job.snapshot()
                .input
                .get("targetEnvironment")
                .cloned()
                .unwrap_or_default(),
        )
        .map_err(|e| JobError::fail("invalid_job", e.to_string()))?;
        job.step(0, Some(1), format!("deploying to {}", target.as_str()))
            .await?;
        self.provider_delay().await;
        self.settle_with(&site, &op_id, |s| s.environment = target)
            .await?;
        job.step(1, Some(1), format!("now {}", target.as_str()))
            .await?;
        Ok(())
    }

    async fn job_backup(&self, job: &Job, tenant_id: &str, site_id: &str) -> JobResult {
        let op = job.snapshot();
        let backup_id = job.input_str("backupId")?;
        let site = self.job_site(tenant_id, site_id).await?;
        let key = keys::backup(site_id, &backup_id);
        let mut backup: Backup = self
            .cx
            .load(&key)
            .await?
            .ok_or_else(|| JobError::fail("backup_gone", "the backup record is gone"))?;
        if backup.status == BackupStatus::Pending {
            let bytes = self
                .provider()
                .export(site_id, &backup_id)
                .await
                .map_err(provider_error)?;
            self.provider_delay().await;
            self.cx
                .site_settings
                .blobs
                .put(&keys::backup_blob(site_id, &backup_id), &bytes)
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            backup.status = BackupStatus::Completed;
            backup.size_bytes = Some(bytes.len() as u64);
            backup.sha256 = Some(hex::encode(sha2::Sha256::digest(&bytes)));
            backup.updated_at = self.cx.clock.now();
            self.cx
                .store
                .put(backup_item(&backup)?, Condition::Version(backup.version))
                .await?;
        }
        // Retention: the site keeps its newest backups (a retry prunes again,
        // finding nothing more to remove).
        self.cx.backups().prune(site_id).await?;
        self.settle_site(&site, &op.operation_id, None).await
    }

    async fn job_restore(&self, job: &Job, tenant_id: &str, site_id: &str) -> JobResult {
        let op = job.snapshot();
        let backup_id = job.input_str("backupId")?;
        let site = self.job_site(tenant_id, site_id).await?;
        let backup: Backup = self
            .cx
            .load(&keys::backup(site_id, &backup_id))
            .await?
            .ok_or_else(|| JobError::fail("backup_gone", "the backup is gone"))?;
        let bytes = self
            .cx
            .site_settings
            .blobs
            .get(&keys::backup_blob(site_id, &backup_id))
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?
            .ok_or_else(|| JobError::fail("backup_missing", "the backup's bytes are missing"))?;
        if backup.sha256.as_deref() != Some(&hex::encode(sha2::Sha256::digest(&bytes))) {
            return Err(JobError::fail(
                "backup_corrupt",
                "the backup's bytes do not match its sha256; nothing was restored",
            ));
        }
        job.step(0, Some(1), format!("restoring {backup_id}"))
            .await?;
        self.provider_delay().await;
        self.provider()
            .import(site_id, &bytes)
            .await
            .map_err(provider_error)?;
        job.step(1, Some(1), format!("restored {backup_id}"))
            .await?;
        self.settle_site(&site, &op.operation_id, None).await
    }

    /// Plans a template for the site and runs the plan, step by step. A
    /// failed step stops the plan and fails the operation naming the step.
    async fn job_apply_template(&self, job: &Job, site: &Site, template_id: &str) -> JobResult {
        let tenant: Tenant = self
            .cx
            .load(&keys::tenant(&site.tenant_id))
            .await?
            .ok_or_else(|| JobError::fail("tenant_gone", "the tenant is gone"))?;
        let spec = self
            .cx
            .templates()
            .find(&site.tenant_id, template_id)
            .await?
            .ok_or_else(|| {
                JobError::fail("template_not_found", format!("no template {template_id}"))
            })?;
        let parameters = job
            .snapshot()
            .input
            .get("parameters")
            .filter(|p| p.is_object())
            .map_or_else(|| "{}".to_string(), |p| p.to_string());
        let plan = match self
            .cx
            .templates()
            .plan(&tenant, &spec, site, &parameters)
            .await
        {
            Ok(plan) => plan,
            Err(Error::Validation(errors)) => {
                return Err(JobError::fail(
                    "template_parameters_invalid",
                    errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                ));
            }
            Err(Error::Unprocessable { code, detail }) => return Err(JobError::fail(code, detail)),
            Err(e) => return Err(e.into()),
        };
        let total = plan.len() as u32;
        // A retry continues after the steps already done.
        let done = job.snapshot().progress.steps_done.min(total);
        let step_failed = |i: usize, op: &WpOperation, message: String| {
            JobError::Fail(OperationError {
                code: "template_step_failed".into(),
                message,
                step: Some(i as u32),
                operation: Some(op.describe()),
            })
        };
        let wp = self.wordpress(site).await?;
        for (i, op) in plan.iter().enumerate().skip(done as usize) {
            match wp.apply(op).await {
                Ok(outcome) => job.step(i as u32 + 1, Some(total), outcome).await?,
                Err(WpError::Unreachable(m)) => {
                    return Err(JobError::Retry(format!("WordPress is unreachable: {m}")));
                }
                Err(WpError::NotAllowed(m)) => return Err(JobError::fail("url_not_allowed", m)),
                Err(e) => return Err(step_failed(i, op, e.to_string())),
            }
        }
        job.step(total, Some(total), format!("applied {template_id}"))
            .await?;
        Ok(())
    }
}
