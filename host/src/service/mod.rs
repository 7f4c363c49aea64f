//! Use cases. Each public method is one thing a caller can ask for: it
//! authenticates nothing (the API did that), asks the policy, applies the
//! domain rules and writes the store with conditions, so that concurrent
//! callers never lose each other's updates.

mod access;
pub mod auth_cache;
pub mod bootstrap;
mod cascade;
pub mod extensions;
pub mod identity;
pub mod invitations;
pub mod keys;
pub mod members;
pub mod operations;
pub mod outbox;
pub mod paging;
pub mod plugins;
pub mod policies;
mod site_jobs;
pub mod sites;
pub mod templates;
pub mod tenants;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::domain::{FieldError, TenantRole};
use crate::policy::Principal;
use crate::store::{Condition, Item, ItemStore, Key, StoreError};

pub use paging::PageRequest;

/// Settings the services need.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// How long an invitation stays valid.
    pub invitation_ttl: Duration,
    /// How long a resolved bearer token is trusted without a store read
    /// (see [`auth_cache`]); zero disables the cache.
    pub auth_cache_ttl: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            auth_cache_ttl: Duration::from_secs(1),
        }
    }
}

/// Everything a use case needs; cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn ItemStore>,
    pub clock: Arc<dyn Clock>,
    pub config: ServiceConfig,
    pub policies: Arc<policies::Policies>,
    pub(crate) auth_cache: Arc<auth_cache::AuthCache>,
    /// The job queue and how its worker runs.
    pub jobs: Arc<Jobs>,
    /// What the sites services need beyond the store.
    pub sites: Arc<SiteConfig>,
}

/// The job queue the services send to and the worker pool drains.
pub struct Jobs {
    pub queue: Arc<dyn crate::jobs::Queue>,
    pub settings: operations::JobSettings,
}

/// Settings and parts of the sites services.
pub struct SiteConfig {
    /// Where backups go.
    pub blobs: Arc<dyn crate::blobs::BlobStore>,
    /// Seals attached WordPress credentials; `None`: attaching is refused.
    pub secrets: Option<crate::secrets::SecretBox>,
    /// The vulnerability feed plugin installs are scanned against.
    pub feed: Arc<crate::domain::vulnerability::Feed>,
    /// How long the local provider's simulated provisioning, cloning and
    /// promotion take (zero in tests that do not care).
    pub provision_delay: Duration,
}

/// An authenticated caller: the principal and its direct memberships.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub email: String,
    /// tenant id -> role, as held directly (not inherited).
    pub memberships: HashMap<String, TenantRole>,
}

/// Why a use case failed. Each variant names the HTTP status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401: no valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `policy_denied`: the policy said no.
    #[error("{0}")]
    Forbidden(String),
    /// 404: the resource does not exist, or the caller may not know it does.
    #[error("{detail}")]
    NotFound { code: &'static str, detail: String },
    /// 400: a malformed request (not a field problem).
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// 422 `validation_failed`.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 422 with its own code: a well-formed request the platform refuses
    /// (an invalid component, a kind that cannot run yet).
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    /// 409: the request conflicts with the current state.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// 412 `version_conflict`: If-Match did not match.
    #[error("{0}")]
    VersionConflict(String),
    /// 410: the resource existed but is no longer usable.
    #[error("{detail}")]
    Gone { code: &'static str, detail: String },
    /// 422 `security_scan_failed`: a plugin has findings at or above the
    /// tenant's threshold.
    #[error("{detail}")]
    ScanFailed {
        detail: String,
        findings: Vec<crate::domain::vulnerability::Finding>,
    },
    /// 500: a fault, logged with its detail and answered without it.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Error::NotFound {
            code,
            detail: detail.into(),
        }
    }
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            detail: detail.into(),
        }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            // A condition that fails here was not anticipated by the caller
            // (anticipated ones are matched where they happen): someone
            // else wrote first.
            StoreError::ConditionFailed { .. } | StoreError::TransactionCancelled { .. } => {
                Error::conflict(
                    "concurrent_modification",
                    "the resource changed while this request ran; retry it",
                )
            }
            other => Error::Internal(other.into()),
        }
    }
}

/// A stored record that carries the item's version.
pub trait Versioned {
    fn set_version(&mut self, version: u64);
}

macro_rules! versioned {
    ($($t:ty),*) => {$(
        impl Versioned for $t {
            fn set_version(&mut self, version: u64) {
                self.version = version;
            }
        }
    )*};
}
versioned!(
    crate::domain::Tenant,
    crate::domain::User,
    crate::domain::Membership,
    crate::domain::Invitation,
    crate::domain::site::Site,
    crate::domain::site::Operation,
    sites::Backup,
    templates::TenantTemplate
);

/// Decodes an item into a record, with its version.
pub fn decode<T: DeserializeOwned + Versioned>(item: &Item) -> Result<T> {
    let mut value: T = item.decode()?;
    value.set_version(item.version);
    Ok(value)
}

/// A record as a document (its `version` field is dropped: the store keeps it).
pub fn encode<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(value).map_err(anyhow::Error::from)?;
    if let Some(map) = v.as_object_mut() {
        map.remove("version");
    }
    Ok(v)
}

impl Services {
    pub fn new(
        store: Arc<dyn ItemStore>,
        clock: Arc<dyn Clock>,
        config: ServiceConfig,
        policies: Arc<policies::Policies>,
    ) -> Self {
        let queue = Arc::new(crate::jobs::store_queue::StoreQueue::new(
            store.clone(),
            clock.clone(),
            "jobs",
        ));
        let sites = SiteConfig {
            blobs: policies.blobs.clone(),
            secrets: None,
            feed: Arc::new(crate::domain::vulnerability::Feed::empty()),
            provision_delay: Duration::ZERO,
        };
        Self {
            store,
            clock,
            policies,
            auth_cache: Arc::new(auth_cache::AuthCache::new(config.auth_cache_ttl)),
            config,
            jobs: Arc::new(Jobs {
                queue,
                settings: operations::JobSettings::default(),
            }),
            sites: Arc::new(sites),
        }
    }

    /// The same services on another job queue or job settings.
    pub fn with_jobs(mut self, jobs: Jobs) -> Self {
        self.jobs = Arc::new(jobs);
        self
    }

    /// The same services with other sites settings.
    pub fn with_sites(mut self, sites: SiteConfig) -> Self {
        self.sites = Arc::new(sites);
        self
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

/// How often a write retries after losing a race it did not promise to win
/// (no If-Match): it re-reads and re-applies, so no update is lost. Every
/// round of a race has a winner, so with a jittered pause between attempts
/// this carries a few dozen concurrent writers to one record.
pub(crate) const RETRIES: usize = 30;

/// A short random pause before retry `attempt` (0-based), growing to at
/// most 20 ms, so that writers that lost a race spread out.
pub(crate) async fn backoff(attempt: usize) {
    let ceiling = 1u64 << attempt.min(4);
    let micros = rand::random_range(0..=ceiling * 1250);
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

/// The retries of a read-change-conditional-write loop: each lost round
/// waits a [`backoff`]; after [`RETRIES`] lost rounds, 409
/// `concurrent_modification` saying that `what` kept changing.
pub(crate) struct Race {
    what: &'static str,
    lost: usize,
}

impl Race {
    pub(crate) fn new(what: &'static str) -> Self {
        Self { what, lost: 0 }
    }

    /// Records a lost round: pauses, or gives up.
    pub(crate) async fn lost(&mut self) -> Result<()> {
        if self.lost + 1 >= RETRIES {
            return Err(Error::conflict(
                "concurrent_modification",
                format!("{} kept changing; retry", self.what),
            ));
        }
        backoff(self.lost).await;
        self.lost += 1;
        Ok(())
    }
}

/// A conditional write's outcome in a [`Race`]: a failed condition is a
/// lost round (`None`), any other error is final.
pub(crate) fn won<T>(written: std::result::Result<T, StoreError>) -> Result<Option<T>> {
    match written {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_condition() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Checks an If-Match version against the current one.
pub fn check_if_match(if_match: Option<u64>, current: u64, what: &str) -> Result<()> {
    match if_match {
        Some(v) if v != current => Err(Error::VersionConflict(format!(
            "{what} is at version {current}, not {v}"
        ))),
        _ => Ok(()),
    }
}
