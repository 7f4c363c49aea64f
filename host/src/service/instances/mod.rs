//! Instances: the infrastructure a tenant's sites run on. Create, read,
//! list, update, scale, status and delete; the jobs that carry the work out
//! ([`jobs`]); the GitOps sync that applies manifests changed in the
//! repository ([`sync`]); and the tenant lifecycle's hold on them
//! (instances follow their tenant: parked, they scale to zero).
//!
//! Git is the source of truth. Every change is first a commit of the
//! instance's manifest (authored by the caller, pushed to the remote),
//! then applied through the provider; the instance records both the
//! desired revision (`gitCommit`) and the last one applied
//! (`appliedCommit`). A request claims the instance with its operation
//! (one operation per instance at a time, conditional on the version
//! read) before anything is committed, so concurrent changes never
//! interleave; the commit carries the operation's id, so the job that
//! finishes the work (after a crash, on another replica) finds it instead
//! of committing twice.

pub mod jobs;
pub mod sync;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::instance::{
    self, Ecs, Efs, Environment, Instance, InstanceHealth, InstanceStatus, Manifest, Rds, Scaling,
    ScalingStatus, Sizes,
};
use crate::domain::operation::{Operation, OperationKind, ResourceKind, ResourceRef};
use crate::domain::site::Site;
use crate::domain::validate::Validator;
use crate::domain::{Tenant, TenantStatus, ids};
use crate::infra::gitops::{Author, Change, GitError, GitOps};
use crate::infra::instances::{InstanceProvider, InstanceSpec, resource_name};
use crate::policy::Resource;
use crate::store::record::{decode, encode};
use crate::store::{Condition, Index, Item, Query, TxOp, keys};

use super::follow::FollowsTenant;
use super::paging::Page;
use super::sites::{Accepted, require_active};
use super::{Caller, Error, PageRequest, Race, Result, Services, check_if_match};

/// The instances of tenants.
pub struct Instances<'a> {
    pub(super) cx: &'a Services,
}

/// What the instance services need beyond the store.
pub struct InstanceSettings {
    pub provider: Arc<dyn InstanceProvider>,
    pub gitops: Arc<GitOps>,
    /// How long a deployment (a creation, a scaling) may take before it
    /// counts as failed.
    pub deploy_timeout: Duration,
    /// How often a job looks at the provider while waiting.
    pub poll: Duration,
}

/// `POST /v1/tenants/{tenantId}/instances`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInstance {
    /// 1..63 lowercase letters, digits and hyphens.
    pub name: String,
    /// 2..10 tasks (default 2).
    pub desired_count: Option<u32>,
    /// Default `PROD`.
    pub environment: Option<Environment>,
    /// The caller's own tags for the infrastructure.
    pub tags: Option<BTreeMap<String, String>>,
    /// Default: 512 CPU units, 1024 MiB, `db.t4g.micro`, 20 GiB.
    pub sizes: Option<Sizes>,
}

/// `PATCH .../instances/{instanceId}`: settings (the count is changed by
/// `scale`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateInstance {
    pub name: Option<String>,
    /// Replaces the caller's tags.
    pub tags: Option<BTreeMap<String, String>>,
    pub sizes: Option<Sizes>,
}

/// `POST .../instances/{instanceId}/scale`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleInstance {
    /// 2..10.
    #[schema(value_type = u32)]
    pub desired_count: serde_json::Value,
}

/// Filters of the instance list.
#[derive(Debug, Default)]
pub struct InstanceFilter {
    pub environment: Option<Environment>,
    pub status: Option<InstanceStatus>,
}

impl super::race::Changeable for Instance {
    fn version(&self) -> u64 {
        self.version
    }
    fn touch(&mut self, now: chrono::DateTime<chrono::Utc>) {
        self.updated_at = now;
    }
    fn item(&self) -> Result<Item> {
        instance_item(self)
    }
}

pub(crate) fn instance_item(i: &Instance) -> Result<Item> {
    Ok(
        Item::new(keys::instance(&i.tenant_id, &i.instance_id), encode(i)?).with_gsi1(
            keys::INSTANCE_IDS,
            format!("{}#{}", i.instance_id, i.tenant_id),
        ),
    )
}

pub(crate) fn instance_not_found(id: &str) -> Error {
    Error::not_found("instance_not_found", format!("no instance {id}"))
}

/// The policy resource for an instance, with its facts for admission.
pub(crate) fn instance_resource(id: Option<&str>, attributes: Vec<(String, String)>) -> Resource {
    Resource {
        kind: "instance".into(),
        id: id.map(str::to_string),
        grants_role: None,
        attributes,
    }
}

/// The author of a caller's commits.
pub(crate) fn author(caller: &Caller) -> Author {
    Author {
        name: caller.email.clone(),
        email: caller.email.clone(),
    }
}

/// A GitOps failure as the API answers it: the remote did not take the
/// commit (503, retry), or the change was refused.
pub(crate) fn git_error(e: GitError) -> Error {
    match e {
        GitError::Unavailable(m) => {
            tracing::warn!(error = %m, "the GitOps remote did not take a commit");
            Error::Unavailable("the GitOps repository did not take the change; retry".into())
        }
        GitError::Invalid(m) => Error::Internal(anyhow::anyhow!(m)),
    }
}

/// Checks the settings a create or an update gives.
fn check_settings(
    v: &mut Validator,
    tags: Option<&BTreeMap<String, String>>,
    sizes: Option<&Sizes>,
) {
    if let Some(tags) = tags
        && let Err(m) = instance::check_tags(tags)
    {
        v.error("tags", m);
    }
    if let Some(sizes) = sizes
        && let Err((f, m)) = instance::check_sizes(sizes)
    {
        v.error(format!("sizes.{f}"), m);
    }
}

/// A mutation needs the instance settled: no operation on it, ACTIVE.
fn require_settled(i: &Instance) -> Result<()> {
    if let Some(op) = &i.operation_id {
        return Err(Error::conflict(
            "operation_in_progress",
            format!("the operation {op} is working on the instance; wait for it to end"),
        ));
    }
    if i.status != InstanceStatus::Active {
        return Err(Error::conflict(
            "invalid_instance_status",
            format!("the instance is {}; it must be ACTIVE", i.status.as_str()),
        ));
    }
    Ok(())
}

/// The desired count of a scale request: an integer 2..10.
fn desired_count(v: &serde_json::Value) -> Result<u32> {
    let n = v
        .as_u64()
        .filter(|n| *n <= u64::from(u32::MAX))
        .ok_or_else(|| Error::invalid("desiredCount", "must be an integer between 2 and 10"))?
        as u32;
    instance::check_desired_count(n).map_err(|m| Error::invalid("desiredCount", m))?;
    Ok(n)
}

impl Services {
    pub(crate) fn instance_settings(&self) -> Option<&InstanceSettings> {
        self.instance_settings.as_deref()
    }
}

impl Instances<'_> {
    fn settings(&self) -> Result<&InstanceSettings> {
        self.cx
            .instance_settings()
            .ok_or_else(|| Error::Unavailable("this server runs no instance provider".into()))
    }

    /// An instance of a tenant, read without authorization (jobs, look-ups).
    pub(crate) async fn load_instance(
        &self,
        tenant_id: &str,
        instance_id: &str,
    ) -> Result<Option<Instance>> {
        if !ids::looks_like("inst", instance_id) {
            return Ok(None);
        }
        self.cx
            .load::<Instance>(&keys::instance(tenant_id, instance_id))
            .await
    }

    /// Authorizes `action` on the tenant and loads the instance, or 404.
    async fn instance_for(
        &self,
        caller: &Caller,
        action: &str,
        tenant_id: &str,
        instance_id: &str,
        attributes: impl FnOnce(Option<&Instance>) -> Vec<(String, String)>,
    ) -> Result<(Tenant, Instance)> {
        // The facts a policy decides on come from the record; an instance
        // that does not exist is decided on without them, then 404.
        let tenant = self.cx.live_tenant(tenant_id).await?;
        let found = self.load_instance(tenant_id, instance_id).await?;
        let resource = instance_resource(Some(instance_id), attributes(found.as_ref()));
        self.cx
            .authorize_on(caller, action, &tenant, resource)
            .await?;
        let i = found.ok_or_else(|| instance_not_found(instance_id))?;
        Ok((tenant, i))
    }

    fn operation(&self, kind: OperationKind, i: &Instance, input: serde_json::Value) -> Operation {
        Operation::new(
            kind,
            ResourceRef::new(ResourceKind::Instance, &i.instance_id, &i.tenant_id),
            input,
            self.cx.clock.now(),
        )
    }

    /// Marks the instance with `op` (conditional on the version read) and
    /// starts it, with `change` applied to the record in the same write.
    async fn start_on(
        &self,
        i: &Instance,
        if_match: Option<u64>,
        op: &Operation,
        change: impl FnOnce(&mut Instance),
        extra: Vec<TxOp>,
    ) -> Result<Instance> {
        check_if_match(if_match, i.version, "the instance")?;
        let mut marked = i.clone();
        marked.operation_id = Some(op.operation_id.clone());
        marked.updated_at = self.cx.clock.now();
        change(&mut marked);
        let mut ops = vec![TxOp::put(
            instance_item(&marked)?,
            Services::at_version(i.version),
        )];
        ops.extend(extra);
        match self.cx.start_operation(op, ops).await {
            Err(Error::Conflict { .. }) => Err(if if_match.is_some() {
                Error::VersionConflict("the instance changed".into())
            } else {
                Error::conflict(
                    "operation_in_progress",
                    "the instance changed while the request ran (another change won); retry",
                )
            }),
            Err(e) => Err(e),
            Ok(()) => Ok(Instance {
                version: i.version + 1,
                ..marked
            }),
        }
    }

    /// Commits `i`'s manifest as it is now, keyed by `key`, and records the
    /// commit as the desired revision. A failed push is left to the job
    /// (which commits with the same key); the answer then has no new
    /// `gitCommit` yet.
    async fn commit_and_record(
        &self,
        i: Instance,
        message: String,
        caller: &Caller,
        key: &str,
    ) -> Result<Instance> {
        let settings = self.settings()?;
        let change = Change::Put {
            path: Manifest::path(&i.tenant_id, &i.instance_id),
            bytes: Manifest::of(&i).to_bytes(),
        };
        match settings
            .gitops
            .commit(vec![change], &message, &author(caller), Some(key))
            .await
        {
            Ok(sha) => {
                let op = i.operation_id.clone();
                self.change(&i.tenant_id, &i.instance_id, None, |r| {
                    if r.operation_id == op {
                        r.git_commit = Some(sha.clone());
                    }
                    Ok(())
                })
                .await
            }
            Err(e) => {
                tracing::warn!(instance = %i.instance_id, error = %e, "committing the manifest failed; the job will retry");
                Ok(i)
            }
        }
    }

    pub async fn create(
        &self,
        caller: &Caller,
        tenant_id: &str,
        input: CreateInstance,
    ) -> Result<Accepted<Instance>> {
        let mut v = Validator::new();
        if let Err(m) = instance::check_instance_name(&input.name) {
            v.error("name", m);
        }
        let desired = input.desired_count.unwrap_or(instance::MIN_TASKS);
        if let Err(m) = instance::check_desired_count(desired) {
            v.error("desiredCount", m);
        }
        check_settings(&mut v, input.tags.as_ref(), input.sizes.as_ref());
        v.finish().map_err(Error::Validation)?;
        let environment = input.environment.unwrap_or(Environment::Prod);
        let tenant = self
            .cx
            .tenant_for(
                caller,
                "instance.create",
                tenant_id,
                instance_resource(
                    None,
                    vec![
                        ("environment".into(), environment.as_str().into()),
                        ("desiredCount".into(), desired.to_string()),
                    ],
                ),
            )
            .await?;
        require_active(&tenant)?;
        let settings = self.settings()?;
        self.create_for(
            caller,
            &tenant,
            input.name,
            desired,
            environment,
            input.tags,
            input.sizes,
            settings,
        )
        .await
    }

    /// Creates an instance of an authorized, ACTIVE tenant.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn create_for(
        &self,
        caller: &Caller,
        tenant: &Tenant,
        name: String,
        desired: u32,
        environment: Environment,
        tags: Option<BTreeMap<String, String>>,
        sizes: Option<Sizes>,
        settings: &InstanceSettings,
    ) -> Result<Accepted<Instance>> {
        let now = self.cx.clock.now();
        let instance_id = ids::new_id("inst");
        let rname = resource_name(&instance_id);
        let mut i = Instance {
            instance_id: instance_id.clone(),
            tenant_id: tenant.tenant_id.clone(),
            name,
            environment,
            status: InstanceStatus::Provisioning,
            desired_count: desired,
            parked: false,
            sizes: sizes.unwrap_or_default(),
            tags: tags.unwrap_or_default(),
            provider: settings.provider.name().into(),
            ecs: Ecs {
                service: rname.clone(),
                desired_count: desired,
                status: "MISSING".into(),
                ..Ecs::default()
            },
            rds: Rds {
                identifier: rname,
                endpoint: None,
                status: "missing".into(),
            },
            efs: Efs {
                file_system_id: String::new(),
                life_cycle_state: "missing".into(),
            },
            git_commit: None,
            applied_commit: None,
            last_scaling: None,
            sync_error: None,
            operation_id: None,
            failure: None,
            event_sync: Default::default(),
            created_at: now,
            updated_at: now,
            version: 0,
        };
        let op = self.operation(OperationKind::InstanceCreate, &i, serde_json::json!({}));
        i.operation_id = Some(op.operation_id.clone());
        let ops = vec![
            TxOp::put(instance_item(&i)?, Condition::NotExists),
            // The tenant must still be ACTIVE as the instance lands.
            TxOp::check(
                keys::tenant(&tenant.tenant_id),
                Condition::Version(tenant.version),
            ),
        ];
        self.cx
            .start_operation(&op, ops)
            .await
            .map_err(|e| match e {
                Error::Conflict { .. } => Error::conflict(
                    "concurrent_modification",
                    "the tenant changed while the instance was being created; retry",
                ),
                e => e,
            })?;
        i.version = 1;
        let message = format!(
            "Create instance {} ({}) of tenant {}: {} tasks, {}",
            i.name,
            i.instance_id,
            i.tenant_id,
            desired,
            environment.as_str()
        );
        let i = self
            .commit_and_record(i, message, caller, &op.operation_id)
            .await?;
        tracing::info!(tenant = %i.tenant_id, instance = %i.instance_id, operation = %op.operation_id, "instance creation queued");
        Ok(Accepted {
            resource: i,
            operation_id: op.operation_id,
        })
    }

    pub async fn get(
        &self,
        caller: &Caller,
        tenant_id: &str,
        instance_id: &str,
    ) -> Result<Instance> {
        Ok(self
            .instance_for(caller, "instance.read", tenant_id, instance_id, |_| {
                Vec::new()
            })
            .await?
            .1)
    }

    pub async fn list(
        &self,
        caller: &Caller,
        tenant_id: &str,
        filter: &InstanceFilter,
        page: &PageRequest,
    ) -> Result<Page<Instance>> {
        self.cx
            .tenant_for(
                caller,
                "instance.read",
                tenant_id,
                instance_resource(None, Vec::new()),
            )
            .await?;
        let (env, status) = (filter.environment, filter.status);
        self.cx
            .page(
                Query::new(Index::Primary, keys::instances_of(tenant_id)),
                page,
                |item| {
                    let i: Instance = decode(item)?;
                    let keep = env.is_none_or(|e| e == i.environment)
                        && status.is_none_or(|s| s == i.status);
                    Ok(keep.then_some(i))
                },
            )
            .await
    }

    /// The sites placed on an instance.
    pub async fn sites(
        &self,
        caller: &Caller,
        tenant_id: &str,
        instance_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Site>> {
        self.instance_for(caller, "instance.read", tenant_id, instance_id, |_| {
            Vec::new()
        })
        .await?;
        self.cx
            .page(
                Query::new(Index::Primary, keys::sites_of(tenant_id)),
                page,
                |item| {
                    let s: Site = decode(item)?;
                    Ok((s.instance_id.as_deref() == Some(instance_id)).then_some(s))
                },
            )
            .await
    }

    /// Re-reads an instance and applies `change` until the write wins, or
    /// 412 if `if_match` is stale.
    pub(crate) async fn change(
        &self,
        tenant_id: &str,
        instance_id: &str,
        if_match: Option<u64>,
        change: impl FnMut(&mut Instance) -> Result<()>,
    ) -> Result<Instance> {
        self.cx
            .change_record(
                &keys::instance(tenant_id, instance_id),
                "the instance",
                || instance_not_found(instance_id),
                if_match,
                change,
            )
            .await
    }

    /// Changes settings: a commit, then an operation applies it.
    pub async fn update(
        &self,
        caller: &Caller,
        tenant_id: &str,
        instance_id: &str,
        if_match: Option<u64>,
        input: UpdateInstance,
    ) -> Result<Accepted<Instance>> {
        let mut v = Validator::new();
        if let Some(name) = &input.name
            && let Err(m) = instance::check_instance_name(name)
        {
            v.error("name", m);
        }
        check_settings(&mut v, input.tags.as_ref(), input.sizes.as_ref());
        v.finish().map_err(Error::Validation)?;
        let (tenant, i) = self
            .instance_for(caller, "instance.update", tenant_id, instance_id, |_| {
                Vec::new()
            })
            .await?;
        require_active(&tenant)?;
        check_if_match(if_match, i.version, "the instance")?;
        require_settled(&i)?;
        if let Some(sizes) = &input.sizes
            && sizes.db_storage_gib < i.sizes.db_storage_gib
        {
            // RDS storage only grows.
            return Err(Error::invalid(
                "sizes.dbStorageGib",
                format!(
                    "the database's storage can grow but not shrink (it is {} GiB)",
                    i.sizes.db_storage_gib
                ),
            ));
        }
        let op = self.operation(OperationKind::InstanceUpdate, &i, serde_json::json!({}));
        let i = self
            .start_on(
                &i,
                if_match,
                &op,
                |r| {
                    if let Some(name) = &input.name {
                        r.name = name.clone();
                    }
                    if let Some(tags) = &input.tags {
                        r.tags = tags.clone();
                    }
                    if let Some(sizes) = &input.sizes {
                        r.sizes = sizes.clone();
                    }
                    r.status = InstanceStatus::Updating;
                },
                Vec::new(),
            )
            .await?;
        let message = format!("Update instance {} ({})", i.name, i.instance_id);
        let i = self
            .commit_and_record(i, message, caller, &op.operation_id)
            .await?;
        Ok(Accepted {
            resource: i,
            operation_id: op.operation_id,
        })
    }

    /// Scales to `desiredCount` (2..10): admitted by the policy, then
    /// committed, then applied; a failed deployment rolls back.
    pub async fn scale(
        &self,
        caller: &Caller,
        tenant_id: &str,
        instance_id: &str,
        if_match: Option<u64>,
        input: ScaleInstance,
    ) -> Result<Accepted<Instance>> {
        let to = desired_count(&input.desired_count)?;
        let (tenant, i) = self
            .instance_for(caller, "instance.scale", tenant_id, instance_id, |i| {
                let mut facts = vec![("desiredCount".to_string(), to.to_string())];
                if let Some(i) = i {
                    facts.push(("currentCount".into(), i.desired_count.to_string()));
                    facts.push(("environment".into(), i.environment.as_str().into()));
                }
                facts
            })
            .await?;
        require_active(&tenant)?;
        check_if_match(if_match, i.version, "the instance")?;
        require_settled(&i)?;
        let from = i.desired_count;
        let op = self.operation(
            OperationKind::InstanceScale,
            &i,
            serde_json::json!({ "from": from, "to": to }),
        );
        let now = self.cx.clock.now();
        let i = self
            .start_on(
                &i,
                if_match,
                &op,
                |r| {
                    r.desired_count = to;
                    r.status = InstanceStatus::Updating;
                    r.last_scaling = Some(Scaling {
                        from,
                        to,
                        status: ScalingStatus::InProgress,
                        reason: None,
                        operation_id: op.operation_id.clone(),
                        at: now,
                    });
                },
                Vec::new(),
            )
            .await?;
        let message = format!(
            "Scale instance {} ({}) from {from} to {to} tasks",
            i.name, i.instance_id
        );
        let i = self
            .commit_and_record(i, message, caller, &op.operation_id)
            .await?;
        Ok(Accepted {
            resource: i,
            operation_id: op.operation_id,
        })
    }

    /// The composite health, from the provider's view now (or the last one
    /// recorded, if the provider does not answer).
    pub async fn status(
        &self,
        caller: &Caller,
        tenant_id: &str,
        instance_id: &str,
    ) -> Result<InstanceHealth> {
        let (_, mut i) = self
            .instance_for(caller, "instance.read", tenant_id, instance_id, |_| {
                Vec::new()
            })
            .await?;
        let mut checked_at = i.updated_at;
        if let Ok(settings) = self.settings() {
            match settings
                .provider
                .describe(&InstanceSpec::of(&Manifest::of(&i)))
                .await
            {
                Ok(infra) => {
                    i.ecs = infra.ecs;
                    i.rds = infra.rds;
                    i.efs = infra.efs;
                    checked_at = self.cx.clock.now();
                }
                Err(e) => {
                    tracing::warn!(instance = %instance_id, error = %e, "the provider did not answer; answering the last recorded state")
                }
            }
        }
        Ok(instance::health(&i, checked_at))
    }

    /// Starts deprovisioning: refused with sites on the instance unless
    /// `cascade` (which deletes them with it).
    pub async fn delete(
        &self,
        caller: &Caller,
        tenant_id: &str,
        instance_id: &str,
        cascade: bool,
        if_match: Option<u64>,
    ) -> Result<Accepted<Instance>> {
        let (tenant, i) = self
            .instance_for(caller, "instance.delete", tenant_id, instance_id, |_| {
                Vec::new()
            })
            .await?;
        if tenant.status == TenantStatus::Suspended {
            require_active(&tenant)?;
        }
        check_if_match(if_match, i.version, "the instance")?;
        if i.status == InstanceStatus::Deleting {
            return Err(Error::conflict(
                "invalid_instance_status",
                "the instance is already being deleted",
            ));
        }
        if let Some(op) = &i.operation_id {
            return Err(Error::conflict(
                "operation_in_progress",
                format!("the operation {op} is working on the instance; wait for it to end"),
            ));
        }
        let sites = self.sites_on(tenant_id, instance_id).await?;
        if !sites.is_empty() && !cascade {
            return Err(Error::conflict(
                "instance_has_sites",
                format!(
                    "{} site(s) run on the instance; delete them first or pass ?cascade=true",
                    sites.len()
                ),
            ));
        }
        let op = self.operation(
            OperationKind::InstanceDelete,
            &i,
            serde_json::json!({ "cascade": cascade, "author": caller.email }),
        );
        let i = self
            .start_on(
                &i,
                if_match,
                &op,
                |r| r.status = InstanceStatus::Deleting,
                Vec::new(),
            )
            .await?;
        Ok(Accepted {
            resource: i,
            operation_id: op.operation_id,
        })
    }

    /// The sites of a tenant placed on an instance.
    pub(crate) async fn sites_on(&self, tenant_id: &str, instance_id: &str) -> Result<Vec<Site>> {
        let sites: Vec<Site> = self
            .cx
            .query_all(Query::new(Index::Primary, keys::sites_of(tenant_id)))
            .await?;
        Ok(sites
            .into_iter()
            .filter(|s| s.instance_id.as_deref() == Some(instance_id))
            .collect())
    }

    /// A site may be placed on `instance_id`: an ACTIVE instance of the
    /// same tenant.
    pub(crate) async fn check_placement(&self, tenant_id: &str, instance_id: &str) -> Result<()> {
        let i = self
            .load_instance(tenant_id, instance_id)
            .await?
            .ok_or_else(|| instance_not_found(instance_id))?;
        if i.status != InstanceStatus::Active && i.status != InstanceStatus::Updating {
            return Err(Error::conflict(
                "invalid_instance_status",
                format!(
                    "the instance is {}; sites are placed on ACTIVE instances",
                    i.status.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// Starts a reconciliation of `i` to its desired revision, unless an
    /// operation is already on it (that operation's job reconciles again
    /// when it sees the revision moved).
    pub(crate) async fn reconcile(&self, i: &Instance) -> Result<()> {
        let mut i = i.clone();
        let mut race = Race::new("the instance");
        loop {
            if i.operation_id.is_some()
                || !matches!(i.status, InstanceStatus::Active | InstanceStatus::Updating)
            {
                return Ok(());
            }
            let op = self.operation(OperationKind::InstanceReconcile, &i, serde_json::json!({}));
            match self
                .start_on(
                    &i,
                    Some(i.version),
                    &op,
                    |r| r.status = InstanceStatus::Updating,
                    Vec::new(),
                )
                .await
            {
                Ok(_) => return Ok(()),
                // Another write came first: look again (it may have
                // started an operation that takes this change along).
                Err(Error::VersionConflict(_)) => {
                    race.lost().await?;
                    match self.load_instance(&i.tenant_id, &i.instance_id).await? {
                        Some(fresh) => i = fresh,
                        None => return Ok(()),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[async_trait]
impl FollowsTenant for Instances<'_> {
    /// Parks a tenant's instances (scaled to zero through a commit of
    /// `parked: true`) while the tenant is PARKED, and gives them back
    /// their count when it is ACTIVE again. A suspension changes nothing
    /// here: it only stops changes.
    async fn follow(&self, tenant: &Tenant) -> Result<usize> {
        let parked = match tenant.status {
            TenantStatus::Parked => true,
            TenantStatus::Active => false,
            _ => return Ok(0),
        };
        let Ok(settings) = self.settings() else {
            return Ok(0);
        };
        let instances: Vec<Instance> = self
            .cx
            .query_all(Query::new(
                Index::Primary,
                keys::instances_of(&tenant.tenant_id),
            ))
            .await?;
        let mut changed = 0;
        for i in instances {
            if i.parked == parked || i.status == InstanceStatus::Deleting {
                continue;
            }
            let mut next = i.clone();
            next.parked = parked;
            let message = format!(
                "{} instance {} ({}): tenant {} is {}",
                if parked { "Park" } else { "Unpark" },
                i.name,
                i.instance_id,
                tenant.tenant_id,
                tenant.status.as_str()
            );
            let sha = settings
                .gitops
                .commit(
                    vec![Change::Put {
                        path: Manifest::path(&i.tenant_id, &i.instance_id),
                        bytes: Manifest::of(&next).to_bytes(),
                    }],
                    &message,
                    &Author::platform(),
                    None,
                )
                .await
                .map_err(git_error)?;
            let i = self
                .change(&i.tenant_id, &i.instance_id, None, |r| {
                    r.parked = parked;
                    r.git_commit = Some(sha.clone());
                    Ok(())
                })
                .await?;
            self.reconcile(&i).await?;
            changed += 1;
        }
        if changed > 0 {
            tracing::info!(tenant = %tenant.tenant_id, changed, parked, "instances follow their tenant");
        }
        Ok(changed)
    }

    /// Deprovisions every instance of a tenant being deleted and removes
    /// its manifest.
    async fn remove_all(&self, tenant_id: &str) -> Result<()> {
        let instances: Vec<Instance> = self
            .cx
            .query_all(Query::new(Index::Primary, keys::instances_of(tenant_id)))
            .await?;
        for i in instances {
            self.deprovision(
                &i,
                "bbws@localhost",
                &format!("tenant-delete-{}", i.instance_id),
            )
            .await?;
        }
        Ok(())
    }
}
