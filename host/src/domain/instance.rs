//! Instances: the infrastructure a tenant's sites run on (on AWS an ECS
//! service of WordPress tasks, an RDS database and an EFS file system).
//! The record, its manifest (the desired state kept in git), the parts as
//! a provider reports them, and the composite health derived from them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use super::site::Environment;

/// The fewest and the most tasks an instance runs (while not parked).
pub const MIN_TASKS: u32 = 2;
pub const MAX_TASKS: u32 = 10;

/// An instance of a tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub instance_id: String,
    pub tenant_id: String,
    /// 1..63 lowercase letters, digits and hyphens.
    pub name: String,
    pub environment: Environment,
    pub status: InstanceStatus,
    /// The tasks the manifest asks for (kept while parked, to come back to).
    pub desired_count: u32,
    /// Scaled to zero because its tenant is parked.
    #[serde(default)]
    pub parked: bool,
    pub sizes: Sizes,
    /// The caller's own tags (the platform's, `Environment`, `bbws:tenant`
    /// and `bbws:instance`, are added on the infrastructure).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `local` (the embedded simulation) or `aws`.
    pub provider: String,
    pub ecs: Ecs,
    pub rds: Rds,
    pub efs: Efs,
    /// The desired revision: the commit of the manifest as last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// The last revision applied through the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_commit: Option<String>,
    /// The last scaling and how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scaling: Option<Scaling>,
    /// Why the last sync of the manifest from git failed (a manifest that
    /// does not parse, a push refused); cleared by the next good sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_error: Option<String>,
    /// The operation working on the instance; another change waits for it
    /// to end (409 `operation_in_progress`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// Why the instance is FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// What ECS events have told of the instance (per task, per
    /// deployment, the service's last action), so that older events are
    /// recognised as stale.
    #[serde(default)]
    pub event_sync: super::event::EventSync,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

/// Where an instance is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum InstanceStatus {
    /// Being created: committed, its infrastructure not all ready yet.
    Provisioning,
    /// Ready: sites may be placed on it.
    Active,
    /// A scaling or an update is being applied.
    Updating,
    /// Creation failed (`failure` says why).
    Failed,
    /// Being deprovisioned.
    Deleting,
}

impl InstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Provisioning => "PROVISIONING",
            InstanceStatus::Active => "ACTIVE",
            InstanceStatus::Updating => "UPDATING",
            InstanceStatus::Failed => "FAILED",
            InstanceStatus::Deleting => "DELETING",
        }
    }
}

/// The sizes of an instance's parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sizes {
    /// CPU units per task (256 = a quarter vCPU): 256, 512, 1024, 2048, 4096.
    pub task_cpu: u32,
    /// Memory per task, MiB (512..30720).
    pub task_memory: u32,
    /// The RDS instance class (`db.t4g.micro`, ...).
    pub db_instance_class: String,
    /// The database's storage, GiB (20..1000).
    pub db_storage_gib: u32,
}

impl Default for Sizes {
    fn default() -> Self {
        Self {
            task_cpu: 512,
            task_memory: 1024,
            db_instance_class: "db.t4g.micro".into(),
            db_storage_gib: 20,
        }
    }
}

/// The ECS service as the provider last reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ecs {
    #[serde(default)]
    pub cluster_arn: String,
    #[serde(default)]
    pub service_arn: String,
    pub cluster: String,
    pub service: String,
    pub desired_count: u32,
    pub running_count: u32,
    pub pending_count: u32,
    /// `ACTIVE`, `DRAINING`, `INACTIVE`, or `MISSING` before it exists.
    #[serde(default = "missing")]
    pub status: String,
    /// The primary deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
}

/// An ECS deployment (`rolloutState` as ECS reports it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    pub desired_count: u32,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    pub rollout_state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The RDS database as the provider last reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rds {
    pub identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// RDS's `DBInstanceStatus` (`creating`, `available`, ...), or `missing`.
    #[serde(default = "missing_lower")]
    pub status: String,
}

/// The EFS file system as the provider last reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Efs {
    #[serde(default)]
    pub file_system_id: String,
    /// EFS's `LifeCycleState` (`creating`, `available`, ...), or `missing`.
    #[serde(default = "missing_lower")]
    pub life_cycle_state: String,
}

fn missing() -> String {
    "MISSING".into()
}

fn missing_lower() -> String {
    "missing".into()
}

/// A scaling of an instance and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Scaling {
    pub from: u32,
    pub to: u32,
    pub status: ScalingStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The operation that scaled.
    pub operation_id: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScalingStatus {
    InProgress,
    Succeeded,
    /// The deployment failed and the previous count was put back.
    RolledBack,
}

/// An instance's desired state: the file `tenants/<tenantId>/instances/
/// <instanceId>.json` in the GitOps repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// `bbws.dev/v1`.
    pub api_version: String,
    /// `Instance`.
    pub kind: String,
    pub tenant_id: String,
    pub instance_id: String,
    pub name: String,
    pub environment: Environment,
    pub desired_count: u32,
    #[serde(default)]
    pub parked: bool,
    pub sizes: Sizes,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

pub const MANIFEST_API_VERSION: &str = "bbws.dev/v1";

impl Manifest {
    /// The manifest of `instance` as its record holds it.
    pub fn of(instance: &Instance) -> Self {
        Self {
            api_version: MANIFEST_API_VERSION.into(),
            kind: "Instance".into(),
            tenant_id: instance.tenant_id.clone(),
            instance_id: instance.instance_id.clone(),
            name: instance.name.clone(),
            environment: instance.environment,
            desired_count: instance.desired_count,
            parked: instance.parked,
            sizes: instance.sizes.clone(),
            tags: instance.tags.clone(),
        }
    }

    /// Where the manifest of an instance lives in the repository.
    pub fn path(tenant_id: &str, instance_id: &str) -> String {
        format!("tenants/{tenant_id}/instances/{instance_id}.json")
    }

    /// The manifest as committed: pretty JSON with a final newline, so a
    /// diff shows the one line that changed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Parses and checks a manifest read from the repository; the error
    /// says what is wrong with it.
    pub fn parse(bytes: &[u8], tenant_id: &str, instance_id: &str) -> Result<Self, String> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| format!("not a manifest: {e}"))?;
        if m.api_version != MANIFEST_API_VERSION || m.kind != "Instance" {
            return Err(format!(
                "apiVersion must be {MANIFEST_API_VERSION} and kind Instance"
            ));
        }
        if m.tenant_id != tenant_id || m.instance_id != instance_id {
            return Err("its tenantId and instanceId must match its path".into());
        }
        check_desired_count(m.desired_count).map_err(|e| format!("desiredCount: {e}"))?;
        check_sizes(&m.sizes).map_err(|(f, e)| format!("sizes.{f}: {e}"))?;
        Ok(m)
    }

    /// The tasks the service should run: none while parked.
    pub fn effective_count(&self) -> u32 {
        if self.parked { 0 } else { self.desired_count }
    }
}

/// Checks a desired count: 2..10.
pub fn check_desired_count(n: u32) -> Result<(), String> {
    if (MIN_TASKS..=MAX_TASKS).contains(&n) {
        Ok(())
    } else {
        Err(format!("must be between {MIN_TASKS} and {MAX_TASKS}"))
    }
}

/// Checks sizes; the error names the field.
pub fn check_sizes(s: &Sizes) -> Result<(), (&'static str, String)> {
    if ![256, 512, 1024, 2048, 4096].contains(&s.task_cpu) {
        return Err(("taskCpu", "must be 256, 512, 1024, 2048 or 4096".into()));
    }
    if !(512..=30720).contains(&s.task_memory) {
        return Err(("taskMemory", "must be 512 to 30720 MiB".into()));
    }
    let class_ok = s.db_instance_class.len() <= 40
        && s.db_instance_class.starts_with("db.")
        && s.db_instance_class[3..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.')
        && s.db_instance_class.matches('.').count() == 2;
    if !class_ok {
        return Err((
            "dbInstanceClass",
            "must be an RDS class like db.t4g.micro".into(),
        ));
    }
    if !(20..=1000).contains(&s.db_storage_gib) {
        return Err(("dbStorageGib", "must be 20 to 1000".into()));
    }
    Ok(())
}

/// Checks a caller's tags: at most 40, keys 1..128 and values 0..256 of
/// what AWS allows in tags, none in the platform's `bbws:` or `aws:`
/// namespaces and no `Environment` (the platform sets it).
pub fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), String> {
    if tags.len() > 40 {
        return Err("at most 40 tags".into());
    }
    let allowed = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c))
    };
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || !allowed(k) {
            return Err(format!(
                "tag key {k:?} must be 1 to 128 letters, digits, spaces and _.:/=+-@"
            ));
        }
        if v.chars().count() > 256 || !allowed(v) {
            return Err(format!(
                "the value of tag {k:?} must be at most 256 letters, digits, spaces and _.:/=+-@"
            ));
        }
        let lower = k.to_ascii_lowercase();
        if lower.starts_with("bbws:") || lower.starts_with("aws:") || lower == "environment" {
            return Err(format!(
                "tag key {k:?} is reserved (the platform sets Environment, bbws:tenant and bbws:instance)"
            ));
        }
    }
    Ok(())
}

/// The tags the infrastructure of an instance carries: the caller's, and
/// the platform's.
pub fn infrastructure_tags(m: &Manifest) -> BTreeMap<String, String> {
    let mut tags = m.tags.clone();
    tags.insert("Environment".into(), m.environment.as_str().into());
    tags.insert("bbws:tenant".into(), m.tenant_id.clone());
    tags.insert("bbws:instance".into(), m.instance_id.clone());
    tags
}

// ---------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------

/// The health of an instance or of one of its parts. Ordered from best
/// to worst: the worst part wins (as Argo CD derives an application's
/// health from its resources').
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Health {
    Healthy,
    Provisioning,
    Degraded,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "HEALTHY",
            Health::Provisioning => "PROVISIONING",
            Health::Degraded => "DEGRADED",
            Health::Unhealthy => "UNHEALTHY",
        }
    }
}

/// A part's health and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartHealth {
    pub state: Health,
    pub reason: String,
}

impl PartHealth {
    fn new(state: Health, reason: impl Into<String>) -> Self {
        Self {
            state,
            reason: reason.into(),
        }
    }
}

/// The ECS service's health. `creating`: the instance is still being
/// provisioned, so what is not there yet is PROVISIONING, not UNHEALTHY.
pub fn ecs_health(ecs: &Ecs, creating: bool) -> PartHealth {
    use Health::*;
    let failed_deployment = ecs
        .deployment
        .as_ref()
        .filter(|d| d.rollout_state == "FAILED");
    let in_progress = ecs
        .deployment
        .as_ref()
        .is_some_and(|d| d.rollout_state == "IN_PROGRESS");
    match ecs.status.as_str() {
        "MISSING" if creating => {
            return PartHealth::new(Provisioning, "the service is being created");
        }
        "MISSING" => return PartHealth::new(Unhealthy, "the service does not exist"),
        "DRAINING" | "INACTIVE" => {
            return PartHealth::new(Unhealthy, format!("the service is {}", ecs.status));
        }
        _ => {}
    }
    let (running, desired) = (ecs.running_count, ecs.desired_count);
    if desired == 0 {
        return PartHealth::new(Healthy, "scaled to zero (parked)");
    }
    if running == 0 {
        if creating {
            return PartHealth::new(
                Provisioning,
                format!(
                    "0 of {desired} tasks running, {} pending",
                    ecs.pending_count
                ),
            );
        }
        return PartHealth::new(
            Unhealthy,
            match failed_deployment.and_then(|d| d.reason.as_deref()) {
                Some(reason) => format!("no task runs: {reason}"),
                None => format!("no task runs (0 of {desired})"),
            },
        );
    }
    if running < desired {
        return PartHealth::new(Degraded, format!("{running} of {desired} tasks running"));
    }
    if in_progress {
        return PartHealth::new(Degraded, "a deployment is in progress");
    }
    PartHealth::new(Healthy, format!("{running} of {desired} tasks running"))
}

/// The database's health from RDS's status.
pub fn rds_health(rds: &Rds, creating: bool) -> PartHealth {
    use Health::*;
    let s = rds.status.as_str();
    let state = match s {
        "available" => Healthy,
        "creating" | "missing" if creating => Provisioning,
        "backing-up"
        | "modifying"
        | "upgrading"
        | "maintenance"
        | "configuring-enhanced-monitoring"
        | "configuring-log-exports"
        | "renaming"
        | "resetting-master-credentials"
        | "storage-optimization"
        | "rebooting"
        | "starting"
        | "creating" => Degraded,
        _ => Unhealthy,
    };
    PartHealth::new(state, format!("the database is {s}"))
}

/// The file system's health from EFS's life-cycle state.
pub fn efs_health(efs: &Efs, creating: bool) -> PartHealth {
    use Health::*;
    let s = efs.life_cycle_state.as_str();
    let state = match s {
        "available" => Healthy,
        "creating" | "missing" if creating => Provisioning,
        "updating" | "creating" => Degraded,
        _ => Unhealthy,
    };
    PartHealth::new(state, format!("the file system is {s}"))
}

/// `GET .../instances/{id}/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceHealth {
    pub overall: Health,
    pub ecs: EcsHealth,
    pub rds: RdsHealth,
    pub efs: EfsHealth,
    pub checked_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EcsHealth {
    #[serde(flatten)]
    pub health: PartHealth,
    #[serde(flatten)]
    pub ecs: Ecs,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RdsHealth {
    #[serde(flatten)]
    pub health: PartHealth,
    #[serde(flatten)]
    pub rds: Rds,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EfsHealth {
    #[serde(flatten)]
    pub health: PartHealth,
    #[serde(flatten)]
    pub efs: Efs,
}

/// The composite health of an instance from its parts: the worst part
/// wins; while the instance is being created, nothing better than
/// PROVISIONING.
pub fn health(instance: &Instance, checked_at: DateTime<Utc>) -> InstanceHealth {
    let creating = instance.status == InstanceStatus::Provisioning;
    let mut ecs = ecs_health(&instance.ecs, creating);
    let primary = instance.ecs.deployment.as_ref().map(|d| d.id.as_str());
    // What ECS events report (an impairment, a failed deployment) is the
    // more telling reason: at least DEGRADED, and said first.
    if let Some(why) = instance.event_sync.trouble(primary) {
        ecs = if ecs.state <= Health::Degraded {
            PartHealth::new(Health::Degraded, why)
        } else {
            PartHealth::new(ecs.state, format!("{}; {why}", ecs.reason))
        };
    }
    let rds = rds_health(&instance.rds, creating);
    let efs = efs_health(&instance.efs, creating);
    let mut overall = ecs.state.max(rds.state).max(efs.state);
    if creating && overall == Health::Healthy {
        overall = Health::Provisioning;
    }
    InstanceHealth {
        overall,
        ecs: EcsHealth {
            health: ecs,
            ecs: instance.ecs.clone(),
        },
        rds: RdsHealth {
            health: rds,
            rds: instance.rds.clone(),
        },
        efs: EfsHealth {
            health: efs,
            efs: instance.efs.clone(),
        },
        checked_at,
    }
}

/// Checks an instance name: the same rule as a site's (it becomes part of
/// resource names).
pub use super::site::check_site_name as check_instance_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_health_reads_as_it_is_serialized() {
        for h in [
            Health::Healthy,
            Health::Provisioning,
            Health::Degraded,
            Health::Unhealthy,
        ] {
            assert_eq!(serde_json::to_value(h).unwrap(), h.as_str());
        }
    }

    fn ecs(desired: u32, running: u32, pending: u32) -> Ecs {
        Ecs {
            cluster: "bbws".into(),
            service: "svc".into(),
            desired_count: desired,
            running_count: running,
            pending_count: pending,
            status: "ACTIVE".into(),
            ..Ecs::default()
        }
    }

    fn rds(status: &str) -> Rds {
        Rds {
            identifier: "db".into(),
            endpoint: None,
            status: status.into(),
        }
    }

    fn efs(state: &str) -> Efs {
        Efs {
            file_system_id: "fs-1".into(),
            life_cycle_state: state.into(),
        }
    }

    fn instance(status: InstanceStatus, e: Ecs, r: Rds, f: Efs) -> Instance {
        Instance {
            instance_id: "inst_1".into(),
            tenant_id: "ten_1".into(),
            name: "web".into(),
            environment: Environment::Prod,
            status,
            desired_count: e.desired_count,
            parked: false,
            sizes: Sizes::default(),
            tags: BTreeMap::new(),
            provider: "local".into(),
            ecs: e,
            rds: r,
            efs: f,
            git_commit: None,
            applied_commit: None,
            last_scaling: None,
            sync_error: None,
            operation_id: None,
            failure: None,
            event_sync: Default::default(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn the_service_is_healthy_when_running_equals_desired() {
        assert_eq!(ecs_health(&ecs(3, 3, 0), false).state, Health::Healthy);
    }

    #[test]
    fn fewer_tasks_than_desired_or_a_deployment_in_progress_is_degraded() {
        assert_eq!(ecs_health(&ecs(3, 2, 1), false).state, Health::Degraded);
        let mut rolling = ecs(3, 3, 0);
        rolling.deployment = Some(Deployment {
            id: "d".into(),
            desired_count: 3,
            rollout_state: "IN_PROGRESS".into(),
            reason: None,
        });
        assert_eq!(ecs_health(&rolling, false).state, Health::Degraded);
    }

    #[test]
    fn no_task_running_is_unhealthy_unless_being_created() {
        assert_eq!(ecs_health(&ecs(2, 0, 2), false).state, Health::Unhealthy);
        assert_eq!(ecs_health(&ecs(2, 0, 2), true).state, Health::Provisioning);
        let mut gone = ecs(2, 0, 0);
        gone.status = "MISSING".into();
        assert_eq!(ecs_health(&gone, false).state, Health::Unhealthy);
        gone.status = "DRAINING".into();
        assert_eq!(ecs_health(&gone, false).state, Health::Unhealthy);
    }

    #[test]
    fn a_parked_service_scaled_to_zero_is_healthy() {
        assert_eq!(ecs_health(&ecs(0, 0, 0), false).state, Health::Healthy);
    }

    #[test]
    fn the_database_degrades_while_modifying_and_fails_when_stopped() {
        assert_eq!(rds_health(&rds("available"), false).state, Health::Healthy);
        for s in ["modifying", "backing-up", "upgrading"] {
            assert_eq!(rds_health(&rds(s), false).state, Health::Degraded, "{s}");
        }
        for s in [
            "failed",
            "stopped",
            "stopping",
            "storage-full",
            "incompatible-network",
            "deleting",
        ] {
            assert_eq!(rds_health(&rds(s), false).state, Health::Unhealthy, "{s}");
        }
        assert_eq!(
            rds_health(&rds("creating"), true).state,
            Health::Provisioning
        );
    }

    #[test]
    fn the_file_system_is_healthy_only_when_available() {
        assert_eq!(efs_health(&efs("available"), false).state, Health::Healthy);
        assert_eq!(efs_health(&efs("updating"), false).state, Health::Degraded);
        assert_eq!(efs_health(&efs("error"), false).state, Health::Unhealthy);
        assert_eq!(
            efs_health(&efs("creating"), true).state,
            Health::Provisioning
        );
    }

    #[test]
    fn the_worst_part_wins() {
        let now = Utc::now();
        let all_good = instance(
            InstanceStatus::Active,
            ecs(2, 2, 0),
            rds("available"),
            efs("available"),
        );
        assert_eq!(health(&all_good, now).overall, Health::Healthy);
        let slow_db = instance(
            InstanceStatus::Active,
            ecs(2, 2, 0),
            rds("backing-up"),
            efs("available"),
        );
        assert_eq!(health(&slow_db, now).overall, Health::Degraded);
        let broken_fs = instance(
            InstanceStatus::Active,
            ecs(2, 1, 0),
            rds("backing-up"),
            efs("error"),
        );
        assert_eq!(health(&broken_fs, now).overall, Health::Unhealthy);
    }

    #[test]
    fn an_instance_being_created_is_provisioning_until_a_part_fails() {
        let now = Utc::now();
        let mut e = ecs(2, 0, 0);
        e.status = "MISSING".into();
        let fresh = instance(
            InstanceStatus::Provisioning,
            e.clone(),
            rds("creating"),
            efs("creating"),
        );
        assert_eq!(health(&fresh, now).overall, Health::Provisioning);
        let ready = instance(
            InstanceStatus::Provisioning,
            ecs(2, 2, 0),
            rds("available"),
            efs("available"),
        );
        assert_eq!(health(&ready, now).overall, Health::Provisioning);
        let failed = instance(
            InstanceStatus::Provisioning,
            e,
            rds("failed"),
            efs("creating"),
        );
        assert_eq!(health(&failed, now).overall, Health::Unhealthy);
    }

    #[test]
    fn a_manifest_round_trips_and_refuses_what_it_cannot_be() {
        let i = instance(
            InstanceStatus::Active,
            ecs(3, 3, 0),
            rds("available"),
            efs("available"),
        );
        let m = Manifest::of(&i);
        assert_eq!(
            Manifest::parse(&m.to_bytes(), "ten_1", "inst_1"),
            Ok(m.clone())
        );
        assert!(Manifest::parse(b"{", "ten_1", "inst_1").is_err());
        assert!(Manifest::parse(&m.to_bytes(), "ten_2", "inst_1").is_err());
        let mut big = m.clone();
        big.desired_count = 11;
        assert!(
            Manifest::parse(&big.to_bytes(), "ten_1", "inst_1")
                .unwrap_err()
                .contains("desiredCount")
        );
        let mut parked = m;
        parked.parked = true;
        assert_eq!(parked.effective_count(), 0);
    }

    #[test]
    fn counts_sizes_and_tags_are_checked() {
        assert!(check_desired_count(2).is_ok() && check_desired_count(10).is_ok());
        assert!(check_desired_count(1).is_err() && check_desired_count(11).is_err());
        assert!(check_sizes(&Sizes::default()).is_ok());
        let bad = Sizes {
            task_cpu: 300,
            ..Sizes::default()
        };
        assert_eq!(check_sizes(&bad).unwrap_err().0, "taskCpu");
        let mut tags = BTreeMap::new();
        tags.insert("team".to_string(), "web".to_string());
        assert!(check_tags(&tags).is_ok());
        tags.insert("bbws:tenant".to_string(), "x".to_string());
        assert!(check_tags(&tags).is_err());
    }
}
