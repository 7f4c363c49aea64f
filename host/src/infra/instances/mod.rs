//! Where instances' infrastructure comes from: an [`InstanceProvider`]
//! creates, scales, describes and deletes an instance's ECS service, RDS
//! database and EFS file system. Two implementations:
//! - [`local`]: the embedded deployment's documented simulation of ECS, RDS
//!   and EFS, with their transitions, delays and a cluster capacity, which
//!   reports what it does as ECS-shaped events;
//! - [`aws`]: the real services through the AWS SDKs (tested on moto).
//!
//! Every call is idempotent and names resources deterministically from
//! the instance (the ECS service and RDS identifier from its id, EFS's
//! creation token and ECS's client token likewise), so a job delivered
//! again after a crash adopts what the first delivery created instead of
//! creating it twice.

pub mod aws;
pub mod local;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::instance::{Ecs, Efs, Manifest, Rds, Sizes, infrastructure_tags};

pub use super::sites::ProviderError;

/// What a provider builds for one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    pub tenant_id: String,
    pub instance_id: String,
    /// The environment (`DEV`, `SIT`, `PROD`).
    pub environment: String,
    /// Tasks the service should run now (0 while parked).
    pub desired_count: u32,
    pub sizes: Sizes,
    /// Every tag, the platform's included.
    pub tags: BTreeMap<String, String>,
}

impl InstanceSpec {
    /// The spec that applies `manifest`.
    pub fn of(manifest: &Manifest) -> Self {
        Self {
            tenant_id: manifest.tenant_id.clone(),
            instance_id: manifest.instance_id.clone(),
            environment: manifest.environment.as_str().into(),
            desired_count: manifest.effective_count(),
            sizes: manifest.sizes.clone(),
            tags: infrastructure_tags(manifest),
        }
    }

    /// The ECS service's name, the RDS identifier and the EFS creation
    /// token: `bbws-<instance id with - for _>` (RDS identifiers allow
    /// letters, digits and single hyphens, 63 at most).
    pub fn resource_name(&self) -> String {
        resource_name(&self.instance_id)
    }
}

/// The name of an instance's service, database and file system.
pub fn resource_name(instance_id: &str) -> String {
    format!("bbws-{}", instance_id.replace('_', "-"))
}

/// An instance's parts as the provider sees them now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Infrastructure {
    pub ecs: Ecs,
    pub rds: Rds,
    pub efs: Efs,
}

impl Infrastructure {
    /// Nothing exists: every part missing.
    pub fn missing(cluster: &str, spec: &InstanceSpec) -> Self {
        Self {
            ecs: Ecs {
                cluster: cluster.into(),
                service: spec.resource_name(),
                status: "MISSING".into(),
                ..Ecs::default()
            },
            rds: Rds {
                identifier: spec.resource_name(),
                endpoint: None,
                status: "missing".into(),
            },
            efs: Efs {
                file_system_id: String::new(),
                life_cycle_state: "missing".into(),
            },
        }
    }

    /// Everything is there and ready, and the service runs what it should.
    pub fn is_ready(&self) -> bool {
        self.ecs.status == "ACTIVE"
            && self.ecs.running_count == self.ecs.desired_count
            && self.ecs.pending_count == 0
            && self
                .ecs
                .deployment
                .as_ref()
                .is_none_or(|d| d.rollout_state == "COMPLETED")
            && self.rds.status == "available"
            && self.efs.life_cycle_state == "available"
    }

    /// Nothing is left.
    pub fn is_gone(&self) -> bool {
        matches!(self.ecs.status.as_str(), "MISSING" | "INACTIVE")
            && matches!(self.rds.status.as_str(), "missing" | "deleted")
            && matches!(self.efs.life_cycle_state.as_str(), "missing" | "deleted")
    }
}

/// How a deployment the service is rolling out stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollout {
    InProgress,
    Completed,
    /// The deployment failed (ECS's circuit breaker; a placement failure).
    Failed(String),
}

impl Rollout {
    /// The primary deployment of `ecs`'s rollout state.
    pub fn of(ecs: &Ecs) -> Self {
        match ecs.deployment.as_ref() {
            None => {
                if ecs.running_count == ecs.desired_count && ecs.pending_count == 0 {
                    Rollout::Completed
                } else {
                    Rollout::InProgress
                }
            }
            Some(d) => match d.rollout_state.as_str() {
                "COMPLETED" => Rollout::Completed,
                "FAILED" => Rollout::Failed(
                    d.reason
                        .clone()
                        .unwrap_or_else(|| "the deployment failed".into()),
                ),
                _ => Rollout::InProgress,
            },
        }
    }
}

/// Builds and keeps instances' infrastructure.
#[async_trait]
pub trait InstanceProvider: Send + Sync {
    /// `local` or `aws`.
    fn name(&self) -> &'static str;

    /// Creates whatever part of the instance is missing (file system,
    /// database, service with `desired_count` tasks), adopting parts that
    /// exist; answers the parts as they are now (not necessarily ready).
    async fn ensure(&self, spec: &InstanceSpec) -> Result<Infrastructure, ProviderError>;

    /// Sets the service's desired count: a new deployment.
    async fn scale(&self, spec: &InstanceSpec, desired_count: u32) -> Result<(), ProviderError>;

    /// The parts as they are now (missing ones say so).
    async fn describe(&self, spec: &InstanceSpec) -> Result<Infrastructure, ProviderError>;

    /// Starts deleting every part (idempotent); answers the parts as they
    /// are now: [`Infrastructure::is_gone`] once all are gone.
    async fn delete(&self, spec: &InstanceSpec) -> Result<Infrastructure, ProviderError>;
}

/// Where a provider reports what it does, as ECS events (EventBridge
/// envelopes, shaped as `testdata/ecs-events`). The embedded
/// deployment's simulation reports through this; the events pipeline
/// subscribes to it.
pub trait EcsEventSink: Send + Sync {
    fn emit(&self, event: serde_json::Value);
}

/// A sink that logs each event at debug level (until an events pipeline
/// subscribes).
pub struct LogEvents;

impl EcsEventSink for LogEvents {
    fn emit(&self, event: serde_json::Value) {
        tracing::debug!(
            detail_type = event.get("detail-type").and_then(|v| v.as_str()).unwrap_or(""),
            event = %event,
            "ECS event (local provider)"
        );
    }
}

/// A sink that keeps the last events in memory (for tests and for `GET`
/// debugging), and passes each on.
pub struct RecentEvents {
    keep: usize,
    events: parking_lot::Mutex<std::collections::VecDeque<serde_json::Value>>,
    next: Arc<dyn EcsEventSink>,
}

impl RecentEvents {
    pub fn new(keep: usize, next: Arc<dyn EcsEventSink>) -> Self {
        Self {
            keep,
            events: Default::default(),
            next,
        }
    }

    /// The events kept, oldest first.
    pub fn snapshot(&self) -> Vec<serde_json::Value> {
        self.events.lock().iter().cloned().collect()
    }
}

impl EcsEventSink for RecentEvents {
    fn emit(&self, event: serde_json::Value) {
        {
            let mut events = self.events.lock();
            if events.len() == self.keep {
                events.pop_front();
            }
            events.push_back(event.clone());
        }
        self.next.emit(event);
    }
}
