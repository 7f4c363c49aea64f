//! Use cases, one service per resource. [`Services`] holds what they share
//! (the store, the clock, the policy engine, the job queue) and hands out a
//! view per resource: `services.tenants()`, `services.sites()`, ... Each
//! public method of a view is one thing a caller can ask for: it
//! authenticates nothing (the API did that), asks the policy, applies the
//! domain rules and writes the store with conditions, so that concurrent
//! callers never lose each other's updates.
//!
//! The store is private to this module: the API reaches it only through
//! these methods.

mod access;
pub mod decisions;
pub mod events;
pub mod extensions;
mod follow;
pub mod idempotency;
pub mod identity;
pub mod instances;
pub mod operations;
pub mod outbox;
pub mod paging;
mod quota;
mod race;
pub mod sites;
pub mod tenants;

mod error;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::domain::TenantRole;
use crate::policy::Principal;
use crate::store::record::{Versioned, decode};
use crate::store::{Condition, ItemStore, Key};

pub use error::{Error, Result};
pub use paging::PageRequest;
pub use race::check_if_match;
pub(crate) use race::{RETRIES, Race, backoff, won};

use decisions::Policies;

/// Settings the services need.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// How long an invitation stays valid.
    pub invitation_ttl: Duration,
    /// How long a resolved bearer token is trusted without a store read
    /// (see [`identity::auth_cache`]); zero disables the cache.
    pub auth_cache_ttl: Duration,
    /// The WebAssembly runtime: compiled cache, guest pool, request budget.
    pub runtime: crate::runtime::RuntimeConfig,
    /// How long decision records are kept.
    pub decision_retention: Duration,
    /// Benchmarks only: record no decision (`false` breaks replay and the
    /// audit trail; `--unlogged-decisions-for-benchmarks`).
    pub decision_log: bool,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            auth_cache_ttl: Duration::from_secs(1),
            runtime: crate::runtime::RuntimeConfig::default(),
            decision_retention: decisions::DECISION_RETENTION,
            decision_log: true,
        }
    }
}

/// What every service shares; cheap to clone.
#[derive(Clone)]
pub struct Services {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    config: ServiceConfig,
    policies: Arc<Policies>,
    auth_cache: Arc<identity::auth_cache::AuthCache>,
    /// The job queue operations are sent to.
    queue: Arc<dyn crate::jobs::Queue>,
    /// What the sites services need beyond the store.
    site_settings: Arc<sites::SiteSettings>,
    /// What the instance services need: the provider and the GitOps
    /// repository (`None`: a tool that runs no provider).
    instance_settings: Option<Arc<instances::InstanceSettings>>,
    /// The events pipeline (`None`: a tool that takes no events).
    events: Option<Arc<events::filter::EventEngine>>,
    /// Templates' parameter schemas, by component and template.
    template_schemas: Arc<sites::templates::SchemaCache>,
}

/// An authenticated caller: the principal and its direct memberships.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub email: String,
    /// tenant id -> role, as held directly (not inherited).
    pub memberships: HashMap<String, TenantRole>,
}

impl Services {
    /// The services over `store`, deciding with `policies`, sending jobs
    /// to `queue`.
    pub fn new(
        store: Arc<dyn ItemStore>,
        clock: Arc<dyn Clock>,
        config: ServiceConfig,
        policies: Arc<Policies>,
        queue: Arc<dyn crate::jobs::Queue>,
        site_settings: sites::SiteSettings,
    ) -> Self {
        Self {
            store,
            clock,
            policies,
            auth_cache: Arc::new(identity::auth_cache::AuthCache::new(config.auth_cache_ttl)),
            config,
            queue,
            site_settings: Arc::new(site_settings),
            instance_settings: None,
            events: None,
            template_schemas: Default::default(),
        }
    }

    /// These services with instances, on `settings`' provider and GitOps
    /// repository.
    pub fn with_instances(mut self, settings: instances::InstanceSettings) -> Self {
        self.instance_settings = Some(Arc::new(settings));
        self
    }

    /// These services with the events pipeline.
    pub fn with_events(mut self, engine: Arc<events::filter::EventEngine>) -> Self {
        self.events = Some(engine);
        self
    }

    pub fn events(&self) -> events::Events<'_> {
        events::Events { cx: self }
    }

    pub fn tenants(&self) -> tenants::Tenants<'_> {
        tenants::Tenants { cx: self }
    }

    pub fn members(&self) -> tenants::members::Members<'_> {
        tenants::members::Members { cx: self }
    }

    pub fn invitations(&self) -> tenants::invitations::Invitations<'_> {
        tenants::invitations::Invitations { cx: self }
    }

    pub fn identity(&self) -> identity::Identity<'_> {
        identity::Identity { cx: self }
    }

    pub fn outbox(&self) -> outbox::Outbox<'_> {
        outbox::Outbox { cx: self }
    }

    pub fn extensions(&self) -> extensions::Extensions<'_> {
        extensions::Extensions { cx: self }
    }

    pub fn decisions(&self) -> decisions::Decisions<'_> {
        decisions::Decisions { cx: self }
    }

    pub fn sites(&self) -> sites::Sites<'_> {
        sites::Sites { cx: self }
    }

    pub fn instances(&self) -> instances::Instances<'_> {
        instances::Instances { cx: self }
    }

    pub fn backups(&self) -> sites::backups::Backups<'_> {
        sites::backups::Backups { cx: self }
    }

    pub fn plugins(&self) -> sites::plugins::Plugins<'_> {
        sites::plugins::Plugins { cx: self }
    }

    pub fn templates(&self) -> sites::templates::Templates<'_> {
        sites::templates::Templates { cx: self }
    }

    pub fn operations(&self) -> operations::Operations<'_> {
        operations::Operations { cx: self }
    }

    pub fn idempotency(&self) -> idempotency::Idempotency<'_> {
        idempotency::Idempotency { cx: self }
    }

    /// How the catalogue's parameter schemas came so far: `(from the
    /// cache, from a guest)`.
    /// The commit groups of the item store and the decision log's store
    /// (where the backend groups commits).
    pub fn commit_groups(&self) -> [(&'static str, Option<crate::store::CommitGroups>); 2] {
        [
            ("items", self.store.commit_groups()),
            ("decisions", self.policies.decisions.commit_groups()),
        ]
    }

    pub fn template_schema_counts(&self) -> (u64, u64) {
        self.template_schemas.counts()
    }

    /// The policy engine (its runtime and the platform policy).
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Whether the store answers (`/readyz`).
    pub async fn ready(&self) -> Result<()> {
        self.store.ping().await.map_err(|e| {
            tracing::warn!(error = %e, "store not ready");
            Error::Unavailable("the store does not answer".into())
        })
    }

    /// The job handlers and recoveries of every resource, registered with
    /// a worker that drains `queue` (the queue these services send to).
    pub fn worker(
        &self,
        settings: crate::jobs::worker::JobSettings,
    ) -> crate::jobs::worker::Worker {
        crate::jobs::worker::Worker::new(
            self.store.clone(),
            self.clock.clone(),
            self.queue.clone(),
            settings,
        )
        .handle(
            crate::domain::operation::ResourceKind::Site,
            Arc::new(sites::jobs::SiteJobs::new(self.clone())),
        )
        .handle(
            crate::domain::operation::ResourceKind::Instance,
            Arc::new(instances::jobs::InstanceJobs::new(self.clone())),
        )
        .handle(
            crate::domain::operation::ResourceKind::Tenant,
            Arc::new(tenants::jobs::TenantJobs::new(self.clone())),
        )
        .recover_with(Arc::new(follow::Resume::new(self.clone())))
        .recover_with(Arc::new(instances::sync::GitOpsSync(self.clone())))
    }

    /// Finishes, on start, what a previous process left: tenant deletions,
    /// and resources not yet following their tenant's status.
    pub async fn resume(&self) -> Result<usize> {
        let deletions = self.tenants().resume_deletions().await?;
        if deletions > 0 {
            tracing::info!(
                deletions,
                "finished tenant deletions left by a previous run"
            );
        }
        let followed = self.follow_intents().await?;
        Ok(deletions + followed)
    }

    /// Reads and decodes one record.
    pub(crate) async fn load<T: DeserializeOwned + Versioned>(
        &self,
        key: &Key,
    ) -> Result<Option<T>> {
        match self.store.get(key).await? {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    /// The condition for a write that must see `version` (0: must not exist).
    pub(crate) fn at_version(version: u64) -> Condition {
        if version == 0 {
            Condition::NotExists
        } else {
            Condition::Version(version)
        }
    }
}
