//! The GitOps sync: manifests changed in the repository by someone else
//! (a reviewed pull request, a person with push rights) are applied. The
//! sync fetches the remote, and for every instance whose manifest's last
//! commit is not its desired revision, reads the manifest, takes it into
//! the record and starts a reconciliation. A manifest that does not parse
//! fails that instance's sync (`syncError` says why) and no other. A
//! manifest removed from the repository is reported, not acted on: an
//! instance is deleted through the API, which deprovisions it (as Argo CD
//! does not prune unless told to).
//!
//! It runs on every sweep of the job worker ([`GitOpsSync`]) and on
//! `POST /v1/gitops/sync` (a webhook's target).

use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::instance::{Instance, InstanceStatus, Manifest};
use crate::jobs::worker::Recovery;
use crate::store::{Index, Query, keys};

use super::super::{Caller, Result, Services};
use super::{Instances, git_error};

/// What a sync found.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// The remote's head the sync read.
    pub head: String,
    /// Instances looked at.
    pub checked: usize,
    /// Instances whose changed manifest is being applied.
    pub applied: Vec<String>,
    /// Instances whose manifest could not be taken, and why.
    pub errors: Vec<SyncError>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncError {
    pub instance_id: String,
    pub reason: String,
}

impl Instances<'_> {
    /// `POST /v1/gitops/sync` (platform admin).
    pub async fn sync(&self, caller: &Caller) -> Result<SyncReport> {
        self.cx
            .authorize_global(
                caller,
                "gitops.sync",
                super::instance_resource(None, Vec::new()),
            )
            .await?;
        self.sync_all().await
    }

    /// Fetches the remote and applies every manifest changed there.
    pub(crate) async fn sync_all(&self) -> Result<SyncReport> {
        let settings = self.settings()?;
        let head = settings.gitops.sync().await.map_err(git_error)?;
        let instances: Vec<Instance> = self
            .cx
            .query_all(Query::new(Index::Gsi1, keys::INSTANCE_IDS))
            .await?;
        let mut report = SyncReport {
            head,
            checked: instances.len(),
            ..SyncReport::default()
        };
        for i in instances {
            if i.status == InstanceStatus::Deleting {
                continue;
            }
            let path = Manifest::path(&i.tenant_id, &i.instance_id);
            let last = settings
                .gitops
                .last_commit(&path)
                .await
                .map_err(git_error)?;
            let outcome = match last {
                None if i.git_commit.is_none() => continue, // its creation is not committed yet
                None => Err("the manifest is missing from the repository; delete the instance through the API".to_string()),
                Some(sha) if Some(&sha) == i.git_commit.as_ref() => Ok(None),
                Some(sha) => match settings.gitops.read(&path).await.map_err(git_error)? {
                    None => Err("the manifest is missing from the repository".into()),
                    Some(bytes) => Manifest::parse(&bytes, &i.tenant_id, &i.instance_id)
                        .map_err(|e| format!("the manifest at {sha:.12} is invalid: {e}"))
                        .map(|m| Some((sha, m))),
                },
            };
            match outcome {
                Ok(None) => {
                    // Desired but never applied (a reconciliation that
                    // could not start, a failed one): try again.
                    if i.applied_commit != i.git_commit
                        && i.operation_id.is_none()
                        && i.status == InstanceStatus::Active
                    {
                        self.reconcile(&i).await?;
                        report.applied.push(i.instance_id.clone());
                    }
                    if i.sync_error.is_some() {
                        self.change(&i.tenant_id, &i.instance_id, None, |r| {
                            r.sync_error = None;
                            Ok(())
                        })
                        .await?;
                    }
                }
                Ok(Some(_)) if i.operation_id.is_some() => {} // the next sync takes it
                Ok(Some((sha, m))) => {
                    let i = self
                        .change(&i.tenant_id, &i.instance_id, None, |r| {
                            r.name = m.name.clone();
                            r.environment = m.environment;
                            r.desired_count = m.desired_count;
                            r.parked = m.parked;
                            r.sizes = m.sizes.clone();
                            r.tags = m.tags.clone();
                            r.git_commit = Some(sha.clone());
                            r.sync_error = None;
                            Ok(())
                        })
                        .await?;
                    tracing::info!(instance = %i.instance_id, commit = ?i.git_commit, "a manifest changed in the repository; applying it");
                    self.reconcile(&i).await?;
                    report.applied.push(i.instance_id);
                }
                Err(reason) => {
                    if i.sync_error.as_deref() != Some(reason.as_str()) {
                        tracing::warn!(instance = %i.instance_id, %reason, "the instance's manifest cannot be synced");
                        self.change(&i.tenant_id, &i.instance_id, None, |r| {
                            r.sync_error = Some(reason.clone());
                            Ok(())
                        })
                        .await?;
                    }
                    report.errors.push(super::sync::SyncError {
                        instance_id: i.instance_id,
                        reason,
                    });
                }
            }
        }
        Ok(report)
    }
}

/// The job worker's periodic GitOps sync.
pub(crate) struct GitOpsSync(pub(crate) Services);

#[async_trait]
impl Recovery for GitOpsSync {
    fn name(&self) -> &'static str {
        "instance manifests changed in the GitOps repository"
    }

    async fn recover(&self) -> anyhow::Result<usize> {
        if self.0.instance_settings().is_none() {
            return Ok(0);
        }
        Ok(self.0.instances().sync_all().await?.applied.len())
    }
}
