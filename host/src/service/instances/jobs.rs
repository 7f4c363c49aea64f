//! The jobs of instance operations, and [`InstanceJobs`], the handler the
//! job worker runs them through. Every step checks state first, so a job
//! delivered again (a retry, a restart after SIGKILL) finishes what the
//! first delivery started without doing anything twice:
//! - commits carry the operation's id ([`GitOps::commit`]'s key), so a
//!   commit made before a crash is found, not made again;
//! - the provider names everything from the instance's id, so `ensure`
//!   adopts what exists;
//! - a job whose operation no longer marks the instance has finished.
//!
//! [`GitOps::commit`]: crate::infra::gitops::GitOps::commit

use std::time::Instant;

use async_trait::async_trait;

use crate::domain::instance::{Instance, InstanceStatus, Manifest, ScalingStatus};
use crate::domain::operation::{OperationError, OperationKind};
use crate::infra::gitops::{Author, Change};
use crate::infra::instances::{Infrastructure, InstanceSpec, ProviderError, Rollout};
use crate::jobs::worker::{Handler, Job, JobError, JobResult};
use crate::store::{Condition, keys};

use super::super::Services;
use super::{InstanceSettings, Instances};

/// Runs the operations of instances for the job worker.
pub struct InstanceJobs {
    services: Services,
}

impl InstanceJobs {
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

#[async_trait]
impl Handler for InstanceJobs {
    async fn run(&self, job: &Job) -> JobResult {
        self.services.instances().run_job(job).await
    }

    async fn on_failure(&self, job: &Job, error: &OperationError) -> anyhow::Result<()> {
        Ok(self.services.instances().job_failed(job, error).await?)
    }
}

fn provider_error(e: ProviderError) -> JobError {
    match e {
        ProviderError::Unavailable(m) => JobError::Retry(m),
        ProviderError::Refused { code, message } => JobError::fail(code, message),
    }
}

fn git_retry(e: crate::infra::gitops::GitError) -> JobError {
    JobError::Retry(format!(
        "the GitOps repository did not take the commit: {e}"
    ))
}

/// How a wait for the provider ended.
enum Waited {
    /// Done, as the provider shows, or as an ECS event said (the note).
    Done(Infrastructure, Option<String>),
    Failed(String, Infrastructure),
}

impl Instances<'_> {
    fn job_settings(&self) -> JobResult<&InstanceSettings> {
        self.settings()
            .map_err(|_| JobError::fail("no_provider", "this server runs no instance provider"))
    }

    async fn run_job(&self, job: &Job) -> JobResult {
        let op = job.snapshot();
        let (tenant_id, id) = (op.resource.tenant_id.clone(), op.resource.id.clone());
        let Some(i) = self.load_instance(&tenant_id, &id).await? else {
            if op.kind == OperationKind::InstanceDelete {
                return Ok(());
            }
            return Err(JobError::fail(
                "instance_not_found",
                format!("the instance {id} is gone"),
            ));
        };
        if i.operation_id.as_deref() != Some(op.operation_id.as_str()) {
            // Finished by an earlier delivery.
            return match &i.last_scaling {
                Some(s)
                    if s.operation_id == op.operation_id
                        && s.status == ScalingStatus::RolledBack =>
                {
                    Err(JobError::fail(
                        "scaling_rolled_back",
                        s.reason.clone().unwrap_or_default(),
                    ))
                }
                _ => Ok(()),
            };
        }
        match op.kind {
            OperationKind::InstanceCreate => {
                self.commit_manifest(job, &i, "Create").await?;
                self.apply(job, true).await
            }
            OperationKind::InstanceUpdate => {
                self.commit_manifest(job, &i, "Update").await?;
                self.apply(job, false).await
            }
            OperationKind::InstanceReconcile => self.apply(job, false).await,
            OperationKind::InstanceScale => {
                let sha = self.commit_manifest(job, &i, "Scale").await?;
                self.scale_job(job, &i, sha).await
            }
            OperationKind::InstanceDelete => {
                if op.input.get("cascade").and_then(|v| v.as_bool()) == Some(true) {
                    for site in self.sites_on(&tenant_id, &id).await? {
                        self.cx
                            .sites()
                            .job_delete(&tenant_id, &site.site_id)
                            .await?;
                    }
                }
                let email = op
                    .input_str("author")
                    .unwrap_or("bbws@localhost")
                    .to_string();
                self.deprovision(&i, &email, &op.operation_id).await?;
                Ok(())
            }
            other => Err(JobError::fail(
                "invalid_job",
                format!("instances do not run {other}"),
            )),
        }
    }

    /// Commits the instance's manifest for this operation (once: a retry
    /// finds the commit by the operation's id) and records it.
    async fn commit_manifest(&self, job: &Job, i: &Instance, verb: &str) -> JobResult<String> {
        let op = job.snapshot();
        let settings = self.job_settings()?;
        job.step(0, None, "committing the manifest").await?;
        let sha = settings
            .gitops
            .commit(
                vec![Change::Put {
                    path: Manifest::path(&i.tenant_id, &i.instance_id),
                    bytes: Manifest::of(i).to_bytes(),
                }],
                &format!("{verb} instance {} ({})", i.name, i.instance_id),
                &Author::platform(),
                Some(&op.operation_id),
            )
            .await
            .map_err(git_retry)?;
        if i.git_commit.as_deref() != Some(sha.as_str()) {
            self.change(&i.tenant_id, &i.instance_id, None, |r| {
                r.git_commit = Some(sha.clone());
                Ok(())
            })
            .await?;
        }
        Ok(sha)
    }

    /// Records the provider's view of the parts.
    async fn record_parts(&self, i: &Instance, infra: &Infrastructure) -> JobResult<Instance> {
        Ok(self
            .change(&i.tenant_id, &i.instance_id, None, |r| {
                r.ecs = infra.ecs.clone();
                r.rds = infra.rds.clone();
                r.efs = infra.efs.clone();
                Ok(())
            })
            .await?)
    }

    /// Polls the provider until `done` says the parts are where they should
    /// be, a deployment fails, or the deadline passes. With `converge`,
    /// each poll is an `ensure`: a provider whose parts come up in order
    /// (a service needs its database's endpoint) builds each as soon as
    /// it can.
    async fn wait(
        &self,
        job: &Job,
        i: &Instance,
        spec: &InstanceSpec,
        what: &str,
        converge: bool,
        done: impl Fn(&Infrastructure) -> bool,
    ) -> JobResult<Waited> {
        let settings = self.job_settings()?;
        let started = Instant::now();
        // ECS events carry real times.
        let since = chrono::Utc::now();
        let mut polls = 0u32;
        loop {
            let infra = if converge {
                settings.provider.ensure(spec).await
            } else {
                settings.provider.describe(spec).await
            }
            .map_err(provider_error)?;
            // What ECS events said meanwhile comes first: the deployment
            // failed, or the service cannot place or start its tasks, or
            // the deployment completed. (A completed service deployment
            // does not finish a creation, whose database and file system
            // must be ready too.)
            match self.heard(i, &infra, since).await? {
                Some(Err(reason)) => return Ok(Waited::Failed(reason, infra)),
                Some(Ok(note)) if !converge => return Ok(Waited::Done(infra, Some(note))),
                _ => {}
            }
            if done(&infra) {
                return Ok(Waited::Done(infra, None));
            }
            if let Rollout::Failed(reason) = Rollout::of(&infra.ecs) {
                return Ok(Waited::Failed(reason, infra));
            }
            if started.elapsed() >= settings.deploy_timeout {
                return Ok(Waited::Failed(
                    format!(
                        "{what} did not finish within {}",
                        humantime::format_duration(settings.deploy_timeout)
                    ),
                    infra,
                ));
            }
            polls += 1;
            if polls % 5 == 1 {
                self.record_parts(i, &infra).await?;
                job.step(
                    1,
                    None,
                    format!(
                        "{what}: {} of {} tasks running, database {}, file system {}",
                        infra.ecs.running_count,
                        infra.ecs.desired_count,
                        infra.rds.status,
                        infra.efs.life_cycle_state
                    ),
                )
                .await?;
            }
            tokio::time::sleep(settings.poll).await;
        }
    }

    /// What the instance's ECS events say of the deployment `infra` is
    /// in (or the record's, if the provider names none): `Ok(note)` when it
    /// completed, `Err(reason)` when it failed or the service was impaired
    /// after `since`; `None` when events said neither.
    async fn heard(
        &self,
        i: &Instance,
        infra: &Infrastructure,
        since: chrono::DateTime<chrono::Utc>,
    ) -> JobResult<Option<Result<String, String>>> {
        let Some(record) = self.load_instance(&i.tenant_id, &i.instance_id).await? else {
            return Ok(None);
        };
        let sync = &record.event_sync;
        // A scaling in progress hears of impairments since it was asked
        // for (its job may start after the event arrived).
        let since = record
            .last_scaling
            .as_ref()
            .filter(|s| s.status == ScalingStatus::InProgress)
            .map_or(since, |s| s.at.min(since));
        if let Some(imp) = sync.impaired.as_ref().filter(|m| m.created_at >= since) {
            return Ok(Some(Err(imp.describe())));
        }
        let deployment = infra
            .ecs
            .deployment
            .as_ref()
            .or(record.ecs.deployment.as_ref())
            .map(|d| d.id.clone());
        let Some(mark) = deployment.and_then(|id| sync.deployments.get(&id)) else {
            return Ok(None);
        };
        Ok(match mark.state.as_str() {
            "COMPLETED" => Some(Ok(format!(
                "ECS reported SERVICE_DEPLOYMENT_COMPLETED for {}",
                record
                    .ecs
                    .deployment
                    .as_ref()
                    .map_or("the deployment", |d| d.id.as_str())
            ))),
            "FAILED" => Some(Err(mark
                .reason
                .clone()
                .unwrap_or_else(|| "ECS reported SERVICE_DEPLOYMENT_FAILED".into()))),
            _ => None,
        })
    }

    /// Applies the record's desired state through the provider until it
    /// is reached, again if the desired revision moved meanwhile (a park,
    /// a sync).
    async fn apply(&self, job: &Job, creating: bool) -> JobResult {
        let op = job.snapshot();
        let settings = self.job_settings()?;
        loop {
            let i = self
                .load_instance(&op.resource.tenant_id, &op.resource.id)
                .await?
                .ok_or_else(|| JobError::fail("instance_not_found", "the instance is gone"))?;
            let target = i.git_commit.clone();
            let spec = InstanceSpec::of(&Manifest::of(&i));
            job.step(1, None, "applying the manifest").await?;
            let infra = settings
                .provider
                .ensure(&spec)
                .await
                .map_err(provider_error)?;
            // A service still to be created gets the count when it is.
            if infra.ecs.status == "ACTIVE" && infra.ecs.desired_count != spec.desired_count {
                settings
                    .provider
                    .scale(&spec, spec.desired_count)
                    .await
                    .map_err(provider_error)?;
            }
            let what = if creating {
                "provisioning"
            } else {
                "the deployment"
            };
            let want = spec.desired_count;
            let infra = match self
                .wait(job, &i, &spec, what, true, |infra| {
                    infra.is_ready() && infra.ecs.desired_count == want
                })
                .await?
            {
                Waited::Done(infra, _) => infra,
                Waited::Failed(reason, infra) => {
                    self.record_parts(&i, &infra).await?;
                    let code = if creating {
                        "provisioning_failed"
                    } else {
                        "deployment_failed"
                    };
                    return Err(JobError::fail(code, reason));
                }
            };
            let mut settled = false;
            self.change(&i.tenant_id, &i.instance_id, None, |r| {
                r.ecs = infra.ecs.clone();
                r.rds = infra.rds.clone();
                r.efs = infra.efs.clone();
                settled = r.git_commit == target && Manifest::of(r) == Manifest::of(&i);
                if settled {
                    r.applied_commit = target.clone();
                    r.status = InstanceStatus::Active;
                    r.operation_id = None;
                    r.failure = None;
                }
                Ok(())
            })
            .await?;
            if settled {
                tracing::info!(instance = %i.instance_id, commit = ?target, "instance applied");
                return Ok(());
            }
        }
    }

    /// Scales to the committed count; a deployment that fails rolls back in
    /// git and on the provider.
    async fn scale_job(&self, job: &Job, i: &Instance, committed: String) -> JobResult {
        let op = job.snapshot();
        let settings = self.job_settings()?;
        let from = op.input.get("from").and_then(|v| v.as_u64()).unwrap_or(2) as u32;
        let to = op.input.get("to").and_then(|v| v.as_u64()).unwrap_or(2) as u32;
        let spec = InstanceSpec::of(&Manifest::of(i));
        job.step(1, Some(3), format!("scaling from {from} to {to} tasks"))
            .await?;
        // A provider that refuses the scaling (the service is gone, the
        // account's limits) fails it as a failed deployment would: rolled
        // back.
        let outcome = match settings.provider.scale(&spec, spec.desired_count).await {
            Err(ProviderError::Refused { message, .. }) => {
                Waited::Failed(message, Infrastructure::default())
            }
            Err(e) => return Err(provider_error(e)),
            Ok(()) => {
                let want = spec.desired_count;
                self.wait(job, i, &spec, "the scaling", false, |infra| {
                    infra.is_ready() && infra.ecs.desired_count == want
                })
                .await?
            }
        };
        let reason = match outcome {
            Waited::Done(infra, note) => {
                // The revision applied is this scaling's commit (the record
                // read at the start may predate the request recording it).
                let target = Some(committed);
                self.change(&i.tenant_id, &i.instance_id, None, |r| {
                    r.ecs = infra.ecs.clone();
                    r.rds = infra.rds.clone();
                    r.efs = infra.efs.clone();
                    r.applied_commit = target.clone();
                    r.status = InstanceStatus::Active;
                    r.operation_id = None;
                    if let Some(s) = r.last_scaling.as_mut() {
                        s.status = ScalingStatus::Succeeded;
                        s.reason = note.clone();
                    }
                    Ok(())
                })
                .await?;
                tracing::info!(instance = %i.instance_id, from, to, "instance scaled");
                // Whatever else moved the desired revision meanwhile.
                return Ok(());
            }
            Waited::Failed(reason, _) => reason,
        };
        tracing::warn!(instance = %i.instance_id, from, to, %reason, "scaling failed; rolling back");
        job.step(
            2,
            Some(3),
            format!("rolling back to {from} tasks: {reason}"),
        )
        .await?;
        let back = self
            .change(&i.tenant_id, &i.instance_id, None, |r| {
                r.desired_count = from;
                Ok(())
            })
            .await?;
        let sha = settings
            .gitops
            .commit(
                vec![Change::Put {
                    path: Manifest::path(&i.tenant_id, &i.instance_id),
                    bytes: Manifest::of(&back).to_bytes(),
                }],
                &format!(
                    "Roll back instance {} ({}) to {from} tasks\n\nScaling to {to} failed: {reason}",
                    i.name, i.instance_id
                ),
                &Author::platform(),
                Some(&format!("{}-rollback", op.operation_id)),
            )
            .await
            .map_err(git_retry)?;
        let spec = InstanceSpec::of(&Manifest::of(&back));
        let infra = match settings.provider.scale(&spec, spec.desired_count).await {
            // Git holds the rolled-back state either way; the parts show
            // what the provider has.
            Err(ProviderError::Refused { .. }) => settings
                .provider
                .describe(&spec)
                .await
                .map_err(provider_error)?,
            Err(e) => return Err(provider_error(e)),
            Ok(()) => {
                let want = spec.desired_count;
                match self
                    .wait(job, &back, &spec, "the rollback", false, |infra| {
                        infra.ecs.desired_count == want && infra.ecs.running_count == want
                    })
                    .await?
                {
                    Waited::Done(infra, _) | Waited::Failed(_, infra) => infra,
                }
            }
        };
        self.change(&i.tenant_id, &i.instance_id, None, |r| {
            r.ecs = infra.ecs.clone();
            r.rds = infra.rds.clone();
            r.efs = infra.efs.clone();
            r.git_commit = Some(sha.clone());
            r.applied_commit = Some(sha.clone());
            r.status = InstanceStatus::Active;
            r.operation_id = None;
            if let Some(s) = r.last_scaling.as_mut() {
                s.status = ScalingStatus::RolledBack;
                s.reason = Some(reason.clone());
            }
            Ok(())
        })
        .await?;
        Err(JobError::fail("scaling_rolled_back", reason))
    }

    /// Removes the manifest (a commit keyed by `key`), deletes every part
    /// and then the record. Idempotent.
    pub(crate) async fn deprovision(
        &self,
        i: &Instance,
        email: &str,
        key: &str,
    ) -> super::super::Result<()> {
        let settings = self.settings()?;
        settings
            .gitops
            .commit(
                vec![Change::Delete {
                    path: Manifest::path(&i.tenant_id, &i.instance_id),
                }],
                &format!(
                    "Delete instance {} ({}) of tenant {}",
                    i.name, i.instance_id, i.tenant_id
                ),
                &Author {
                    name: email.into(),
                    email: email.into(),
                },
                Some(key),
            )
            .await
            .map_err(super::git_error)?;
        let spec = InstanceSpec::of(&Manifest::of(i));
        let started = Instant::now();
        loop {
            let infra = settings
                .provider
                .delete(&spec)
                .await
                .map_err(|e| super::super::Error::Unavailable(e.to_string()))?;
            if infra.is_gone() {
                break;
            }
            if started.elapsed() >= settings.deploy_timeout {
                return Err(super::super::Error::Unavailable(format!(
                    "the instance {}'s infrastructure is still being deleted",
                    i.instance_id
                )));
            }
            tokio::time::sleep(settings.poll).await;
        }
        self.cx
            .store
            .delete(
                &keys::instance(&i.tenant_id, &i.instance_id),
                Condition::None,
            )
            .await?;
        tracing::info!(instance = %i.instance_id, "instance deleted");
        Ok(())
    }

    /// What a final failure leaves: a creation FAILED with its reason; any
    /// other operation releases the instance (a failed deletion keeps it
    /// DELETING with the reason, for a retry).
    async fn job_failed(&self, job: &Job, error: &OperationError) -> super::super::Result<()> {
        let op = job.snapshot();
        let Some(i) = self
            .load_instance(&op.resource.tenant_id, &op.resource.id)
            .await?
        else {
            return Ok(());
        };
        let op_id = op.operation_id.clone();
        self.change(&i.tenant_id, &i.instance_id, None, |r| {
            if r.operation_id.as_deref() == Some(op_id.as_str()) {
                r.operation_id = None;
            }
            match op.kind {
                OperationKind::InstanceCreate => {
                    r.status = InstanceStatus::Failed;
                    r.failure = Some(error.message.clone());
                }
                OperationKind::InstanceDelete => {
                    r.failure = Some(error.message.clone());
                }
                _ => {
                    if r.status == InstanceStatus::Updating {
                        r.status = InstanceStatus::Active;
                    }
                }
            }
            Ok(())
        })
        .await?;
        Ok(())
    }
}
