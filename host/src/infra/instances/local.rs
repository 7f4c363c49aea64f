//! The `local` provider of instances: a **simulation** of ECS, RDS and EFS
//! for the embedded deployment, documented as such. Nothing runs: each
//! instance's simulated infrastructure is one JSON document in the item
//! store (`LOCALINFRA/<instanceId>`), so it survives a restart, and it moves
//! through the states the real services report, at the pace of one
//! `delay` per transition:
//! - tasks go PROVISIONING -> PENDING -> RUNNING (and RUNNING -> STOPPED
//!   when scaled in), each transition raising the task's `version` as ECS
//!   does;
//! - the database goes `creating` -> `available` (two delays), the file
//!   system `creating` -> `available` (one delay); deleting takes one delay;
//! - the simulated cluster holds `capacity` tasks across all instances. A
//!   deployment that cannot place its tasks reports
//!   SERVICE_TASK_PLACEMENT_FAILURE, then fails (as ECS's deployment
//!   circuit breaker fails it): that is how a scaling rolls back locally,
//!   with no test hook.
//!
//! Every transition is reported through one function, [`LocalInstances::emit`],
//! as an ECS event in EventBridge's envelope with the fields and names of
//! the samples in `testdata/ecs-events` (region `local`, account
//! `000000000000`: the simulation's label). The state advances whenever
//! the provider is called and on [`LocalInstances::tick`], which the server
//! calls periodically.
//!
//! The simulation is for one process (the embedded deployment): calls are
//! serialised by a lock in the process, under which the cluster's placement
//! is counted in memory (read from the store once); that keeps the cluster's
//! capacity exact.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{EcsEventSink, Infrastructure, InstanceProvider, InstanceSpec, ProviderError};
use crate::clock::Clock;
use crate::domain::instance::{Deployment, Ecs, Efs, Rds};
use crate::store::{Condition, Index, Item, ItemStore, Query, StoreError, keys};

/// The simulated cluster's name.
pub const CLUSTER: &str = "bbws-local";
const REGION: &str = "local";
const ACCOUNT: &str = "000000000000";
/// How often a steady service says so again (ECS re-sends
/// SERVICE_STEADY_STATE periodically).
const STEADY_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// How the simulation behaves.
#[derive(Clone, Debug)]
pub struct LocalSettings {
    /// Tasks the simulated cluster can place, across all instances.
    pub capacity: u32,
    /// How long each transition takes.
    pub delay: Duration,
}

impl Default for LocalSettings {
    fn default() -> Self {
        Self {
            capacity: 24,
            delay: Duration::from_millis(200),
        }
    }
}

/// The simulated ECS, RDS and EFS.
pub struct LocalInstances {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    settings: LocalSettings,
    events: Arc<dyn EcsEventSink>,
    /// Serialises every call; holds the cluster's placement once read.
    lock: tokio::sync::Mutex<Option<Placement>>,
}

/// One instance's simulated infrastructure.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SimInfra {
    name: String,
    service: Option<SimService>,
    db: Option<SimPart>,
    fs: Option<SimPart>,
    /// Set when deletion started.
    #[serde(default)]
    deleting_since: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SimService {
    desired: u32,
    status: String,
    tasks: Vec<SimTask>,
    deployments: Vec<SimDeployment>,
    #[serde(default)]
    last_steady: Option<DateTime<Utc>>,
    task_definition: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SimTask {
    id: String,
    last_status: String,
    desired_status: String,
    since: DateTime<Utc>,
    created_at: DateTime<Utc>,
    #[serde(default)]
    started_at: Option<DateTime<Utc>>,
    version: u64,
    started_by: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SimDeployment {
    id: String,
    desired: u32,
    created_at: DateTime<Utc>,
    rollout_state: String,
    #[serde(default)]
    reason: Option<String>,
    /// When placement first failed for lack of capacity.
    #[serde(default)]
    placement_failed_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SimPart {
    id: String,
    state: String,
    since: DateTime<Utc>,
}

/// Tasks placed (not stopped) across the simulated cluster, per instance.
/// Read from the store once, then kept as each simulation is saved: every
/// change happens under the provider's lock, in this one process, so the
/// count stays exact without reading every simulation on every call.
#[derive(Default)]
struct Placement {
    tasks: std::collections::HashMap<String, u32>,
    total: u32,
}

impl Placement {
    /// Tasks `instance_id` may have placed in all.
    fn room(&self, capacity: u32, instance_id: &str) -> u32 {
        let mine = self.tasks.get(instance_id).copied().unwrap_or(0);
        capacity.saturating_sub(self.total - mine)
    }

    /// Records what `instance_id` has placed now (`None`: it is gone).
    fn record(&mut self, instance_id: &str, infra: Option<&SimInfra>) {
        let now = infra
            .and_then(|i| i.service.as_ref())
            .map_or(0, placed_tasks);
        let before = if now == 0 {
            self.tasks.remove(instance_id)
        } else {
            self.tasks.insert(instance_id.to_string(), now)
        };
        self.total = self.total - before.unwrap_or(0) + now;
    }
}

impl LocalInstances {
    pub fn new(
        store: Arc<dyn ItemStore>,
        clock: Arc<dyn Clock>,
        settings: LocalSettings,
        events: Arc<dyn EcsEventSink>,
    ) -> Self {
        Self {
            store,
            clock,
            settings,
            events,
            lock: tokio::sync::Mutex::new(None),
        }
    }

    fn delay(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.settings.delay).unwrap_or_default()
    }

    fn cluster_arn() -> String {
        format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}")
    }

    fn service_arn(name: &str) -> String {
        format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{name}")
    }

    fn task_arn(id: &str) -> String {
        format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{id}")
    }

    /// The one function the simulation reports through: an ECS event in
    /// EventBridge's envelope.
    fn emit(
        &self,
        detail_type: &str,
        resource: String,
        detail: serde_json::Value,
        at: DateTime<Utc>,
    ) {
        self.events.emit(serde_json::json!({
            "version": "0",
            "id": uuid::Uuid::now_v7().to_string(),
            "detail-type": detail_type,
            "source": "aws.ecs",
            "account": ACCOUNT,
            "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "region": REGION,
            "resources": [resource],
            "detail": detail,
        }));
    }

    fn service_event(
        &self,
        name: &str,
        event_type: &str,
        event_name: &str,
        reason: Option<String>,
        at: DateTime<Utc>,
    ) {
        let mut detail = serde_json::json!({
            "eventType": event_type,
            "eventName": event_name,
            "clusterArn": Self::cluster_arn(),
            "createdAt": millis(at),
        });
        if let Some(reason) = reason {
            detail["reason"] = reason.into();
        }
        self.emit("ECS Service Action", Self::service_arn(name), detail, at);
    }

    fn deployment_event(
        &self,
        name: &str,
        event_type: &str,
        event_name: &str,
        deployment: &SimDeployment,
        at: DateTime<Utc>,
    ) {
        let mut detail = serde_json::json!({
            "eventType": event_type,
            "eventName": event_name,
            "deploymentId": deployment.id,
            "updatedAt": millis(at),
        });
        if let Some(reason) = &deployment.reason {
            detail["reason"] = reason.clone().into();
        }
        self.emit(
            "ECS Deployment State Change",
            Self::service_arn(name),
            detail,
            at,
        );
    }

    fn task_event(&self, name: &str, task_definition: &str, task: &SimTask) {
        let arn = Self::task_arn(&task.id);
        let mut detail = serde_json::json!({
            "clusterArn": Self::cluster_arn(),
            "containers": [{
                "containerArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:container/{CLUSTER}/{}/wordpress", task.id),
                "lastStatus": task.last_status,
                "name": "wordpress",
                "taskArn": arn,
            }],
            "createdAt": millis(task.created_at),
            "desiredStatus": task.desired_status,
            "group": format!("service:{name}"),
            "lastStatus": task.last_status,
            "startedBy": task.started_by,
            "updatedAt": millis(task.since),
            "taskArn": arn,
            "taskDefinitionArn": task_definition,
            "version": task.version,
        });
        if let Some(started) = task.started_at {
            detail["startedAt"] = millis(started).into();
        }
        self.emit("ECS Task State Change", arn, detail, task.since);
    }

    async fn load(&self, instance_id: &str) -> Result<Option<(SimInfra, u64)>, StoreError> {
        Ok(
            match self.store.get(&keys::local_infra(instance_id)).await? {
                Some(item) => Some((item.decode()?, item.version)),
                None => None,
            },
        )
    }

    async fn save(
        &self,
        instance_id: &str,
        infra: &SimInfra,
        version: u64,
    ) -> Result<(), StoreError> {
        let item = Item::record(keys::local_infra(instance_id), infra)?;
        let condition = if version == 0 {
            Condition::NotExists
        } else {
            Condition::Version(version)
        };
        self.store.put(item, condition).await.map(|_| ())
    }

    /// The cluster's placement: read from the store on first use, then
    /// kept as each simulation is saved.
    async fn placement<'a>(
        &self,
        slot: &'a mut Option<Placement>,
    ) -> Result<&'a mut Placement, ProviderError> {
        if slot.is_none() {
            let mut placement = Placement::default();
            let mut query = Query::new(Index::Primary, keys::LOCAL_INFRA).limit(500);
            loop {
                let page = self.store.query(query.clone()).await.map_err(unavailable)?;
                for item in &page.items {
                    let infra: SimInfra = item.decode().map_err(unavailable)?;
                    placement.record(&item.key.sk, Some(&infra));
                }
                match page.next {
                    Some(cursor) => query = query.after(Some(cursor)),
                    None => break,
                }
            }
            *slot = Some(placement);
        }
        Ok(slot.as_mut().expect("loaded"))
    }

    /// Moves one instance's simulation up to now, emitting every
    /// transition; answers whether anything changed.
    fn advance(&self, id: &str, infra: &mut SimInfra, room: u32, now: DateTime<Utc>) -> bool {
        let d = self.delay();
        let mut changed = false;
        let name = infra.name.clone();
        let deleting = infra.deleting_since.is_some();
        for (part, creating_for) in [(&mut infra.fs, d), (&mut infra.db, d * 2)] {
            if let Some(p) = part {
                if p.state == "creating" && now >= p.since + creating_for {
                    p.state = "available".into();
                    p.since += creating_for;
                    changed = true;
                }
                if p.state == "deleting" && now >= p.since + d {
                    *part = None;
                    changed = true;
                }
            }
        }
        let Some(svc) = infra.service.as_mut() else {
            return changed;
        };
        let task_definition = svc.task_definition.clone();
        // Tasks move one state per delay.
        for task in &mut svc.tasks {
            loop {
                let next = match (task.last_status.as_str(), task.desired_status.as_str()) {
                    ("PROVISIONING", "RUNNING") => "PENDING",
                    ("PENDING", "RUNNING") => "RUNNING",
                    ("PROVISIONING" | "PENDING" | "RUNNING", "STOPPED") => "STOPPED",
                    _ => break,
                };
                if now < task.since + d {
                    break;
                }
                task.since += d;
                task.last_status = next.into();
                task.version += 1;
                if next == "RUNNING" {
                    task.started_at = Some(task.since);
                }
                self.task_event(&name, &task_definition, task);
                changed = true;
            }
        }
        svc.tasks.retain(|t| t.last_status != "STOPPED");
        if deleting {
            if svc.tasks.is_empty() && svc.status == "DRAINING" {
                infra.service = None;
                return true;
            }
            return changed;
        }
        // Place or stop tasks to match the desired count.
        let live: Vec<usize> = (0..svc.tasks.len())
            .filter(|&i| svc.tasks[i].desired_status == "RUNNING")
            .collect();
        let live_n = live.len() as u32;
        let Some(primary) = svc.deployments.last().cloned() else {
            return changed;
        };
        if live_n > svc.desired {
            for &i in live.iter().rev().take((live_n - svc.desired) as usize) {
                let t = &mut svc.tasks[i];
                t.desired_status = "STOPPED".into();
                t.since = now;
                t.version += 1;
                self.task_event(&name, &task_definition, t);
            }
            changed = true;
        } else if live_n < svc.desired && primary.rollout_state == "IN_PROGRESS" {
            let placed_here = placed_tasks(svc);
            let free = room.saturating_sub(placed_here);
            let want = svc.desired - live_n;
            for _ in 0..want.min(free) {
                let task = SimTask {
                    id: uuid::Uuid::now_v7().simple().to_string(),
                    last_status: "PROVISIONING".into(),
                    desired_status: "RUNNING".into(),
                    since: now,
                    created_at: now,
                    started_at: None,
                    version: 1,
                    started_by: primary.id.clone(),
                };
                self.task_event(&name, &task_definition, &task);
                svc.tasks.push(task);
                changed = true;
            }
            if want > free {
                let dep = svc.deployments.last_mut().expect("a primary deployment");
                match dep.placement_failed_at {
                    None => {
                        dep.placement_failed_at = Some(now);
                        self.service_event(
                            &name,
                            "ERROR",
                            "SERVICE_TASK_PLACEMENT_FAILURE",
                            Some(format!(
                                "unable to place {} task(s): the cluster {CLUSTER} has no room (capacity {})",
                                want - free,
                                self.settings.capacity
                            )),
                            now,
                        );
                        changed = true;
                    }
                    Some(since) if now >= since + d => {
                        dep.rollout_state = "FAILED".into();
                        dep.reason = Some(format!(
                            "ECS deployment circuit breaker: unable to place {} task(s): the cluster {CLUSTER} has no room (capacity {})",
                            want - free,
                            self.settings.capacity
                        ));
                        let dep = dep.clone();
                        self.deployment_event(
                            &name,
                            "ERROR",
                            "SERVICE_DEPLOYMENT_FAILED",
                            &dep,
                            now,
                        );
                        changed = true;
                    }
                    Some(_) => {}
                }
            }
        }
        // A deployment completes when the service runs what it asks for.
        let running = svc
            .tasks
            .iter()
            .filter(|t| t.last_status == "RUNNING" && t.desired_status == "RUNNING")
            .count() as u32;
        let settled = svc
            .tasks
            .iter()
            .all(|t| t.last_status == "RUNNING" && t.desired_status == "RUNNING");
        if let Some(dep) = svc.deployments.last_mut()
            && dep.rollout_state == "IN_PROGRESS"
            && running == svc.desired
            && settled
        {
            dep.rollout_state = "COMPLETED".into();
            dep.placement_failed_at = None;
            let dep = dep.clone();
            self.deployment_event(&name, "INFO", "SERVICE_DEPLOYMENT_COMPLETED", &dep, now);
            self.service_event(&name, "INFO", "SERVICE_STEADY_STATE", None, now);
            svc.last_steady = Some(now);
            changed = true;
        } else if svc
            .deployments
            .last()
            .is_some_and(|d| d.rollout_state == "COMPLETED")
            && svc.last_steady.is_some_and(|at| now >= at + STEADY_EVERY)
        {
            self.service_event(&name, "INFO", "SERVICE_STEADY_STATE", None, now);
            svc.last_steady = Some(now);
            changed = true;
        }
        let _ = id;
        changed
    }

    /// Loads, advances and saves one instance's simulation; answers it.
    async fn advanced(
        &self,
        instance_id: &str,
        placement: &mut Placement,
    ) -> Result<Option<SimInfra>, ProviderError> {
        let Some((mut infra, version)) = self.load(instance_id).await.map_err(unavailable)? else {
            return Ok(None);
        };
        let room = placement.room(self.settings.capacity, instance_id);
        if self.advance(instance_id, &mut infra, room, self.clock.now()) {
            self.persist(instance_id, &infra, version, placement)
                .await?;
        }
        Ok(Some(infra))
    }

    /// Saves (or, once every part is gone, removes) a simulation.
    async fn persist(
        &self,
        instance_id: &str,
        infra: &SimInfra,
        version: u64,
        placement: &mut Placement,
    ) -> Result<(), ProviderError> {
        if infra.service.is_none()
            && infra.db.is_none()
            && infra.fs.is_none()
            && infra.deleting_since.is_some()
        {
            self.store
                .delete(&keys::local_infra(instance_id), Condition::Version(version))
                .await
                .map_err(unavailable)?;
            placement.record(instance_id, None);
            return Ok(());
        }
        self.save(instance_id, infra, version)
            .await
            .map_err(unavailable)?;
        placement.record(instance_id, Some(infra));
        Ok(())
    }

    /// Advances every instance's simulation (the server calls this
    /// periodically, so events flow whether or not anyone asks).
    pub async fn tick(&self) -> Result<usize, ProviderError> {
        let mut guard = self.lock.lock().await;
        let placement = self.placement(&mut guard).await?;
        let page = self
            .store
            .query(Query::new(Index::Primary, keys::LOCAL_INFRA).limit(1000))
            .await
            .map_err(unavailable)?;
        let mut changed = 0;
        for item in &page.items {
            let id = item.key.sk.clone();
            let mut infra: SimInfra = item.decode().map_err(unavailable)?;
            let room = placement.room(self.settings.capacity, &id);
            if self.advance(&id, &mut infra, room, self.clock.now()) {
                self.persist(&id, &infra, item.version, placement).await?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    fn view(spec: &InstanceSpec, infra: Option<&SimInfra>) -> Infrastructure {
        let mut out = Infrastructure::missing(CLUSTER, spec);
        let Some(infra) = infra else {
            return out;
        };
        if let Some(svc) = &infra.service {
            let running = svc
                .tasks
                .iter()
                .filter(|t| t.last_status == "RUNNING" && t.desired_status == "RUNNING")
                .count() as u32;
            let pending = svc
                .tasks
                .iter()
                .filter(|t| t.desired_status == "RUNNING" && t.last_status != "RUNNING")
                .count() as u32;
            out.ecs = Ecs {
                cluster_arn: Self::cluster_arn(),
                service_arn: Self::service_arn(&infra.name),
                cluster: CLUSTER.into(),
                service: infra.name.clone(),
                desired_count: svc.desired,
                running_count: running,
                pending_count: pending,
                status: svc.status.clone(),
                deployment: svc.deployments.last().map(|d| Deployment {
                    id: d.id.clone(),
                    desired_count: d.desired,
                    rollout_state: d.rollout_state.clone(),
                    reason: d.reason.clone(),
                }),
            };
        }
        if let Some(db) = &infra.db {
            out.rds = Rds {
                identifier: infra.name.clone(),
                endpoint: (db.state == "available")
                    .then(|| format!("{}.db.bbws.localhost:3306", infra.name)),
                status: db.state.clone(),
            };
        }
        if let Some(fs) = &infra.fs {
            out.efs = Efs {
                file_system_id: fs.id.clone(),
                life_cycle_state: fs.state.clone(),
            };
        }
        out
    }

    fn new_deployment(&self, svc: &mut SimService, desired: u32, name: &str, now: DateTime<Utc>) {
        // The deployment before this one is done with, whatever it reached.
        let dep = SimDeployment {
            id: format!("ecs-svc/{}", rand::random::<u64>() >> 1),
            desired,
            created_at: now,
            rollout_state: "IN_PROGRESS".into(),
            reason: None,
            placement_failed_at: None,
        };
        svc.desired = desired;
        self.deployment_event(name, "INFO", "SERVICE_DEPLOYMENT_IN_PROGRESS", &dep, now);
        svc.deployments.push(dep);
        if svc.deployments.len() > 5 {
            svc.deployments.remove(0);
        }
    }
}

fn placed_tasks(svc: &SimService) -> u32 {
    svc.tasks
        .iter()
        .filter(|t| t.last_status != "STOPPED")
        .count() as u32
}

fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn unavailable(e: StoreError) -> ProviderError {
    ProviderError::Unavailable(e.to_string())
}

fn file_system_id(instance_id: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(instance_id.as_bytes());
    format!("fs-{}", &hex::encode(digest)[..17])
}

#[async_trait]
impl InstanceProvider for LocalInstances {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn ensure(&self, spec: &InstanceSpec) -> Result<Infrastructure, ProviderError> {
        let mut guard = self.lock.lock().await;
        let placement = self.placement(&mut guard).await?;
        let now = self.clock.now();
        let name = spec.resource_name();
        let (mut infra, version) = self
            .load(&spec.instance_id)
            .await
            .map_err(unavailable)?
            .unwrap_or_else(|| {
                (
                    SimInfra {
                        name: name.clone(),
                        ..SimInfra::default()
                    },
                    0,
                )
            });
        if infra.deleting_since.is_some() {
            return Err(ProviderError::refused(
                "instance_deleting",
                "the instance's infrastructure is being deleted",
            ));
        }
        let mut changed = version == 0;
        if infra.fs.is_none() {
            infra.fs = Some(SimPart {
                id: file_system_id(&spec.instance_id),
                state: "creating".into(),
                since: now,
            });
            changed = true;
        }
        if infra.db.is_none() {
            infra.db = Some(SimPart {
                id: name.clone(),
                state: "creating".into(),
                since: now,
            });
            changed = true;
        }
        if infra.service.is_none() {
            let mut svc = SimService {
                desired: 0,
                status: "ACTIVE".into(),
                tasks: Vec::new(),
                deployments: Vec::new(),
                last_steady: None,
                task_definition: format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{name}:1"),
            };
            self.new_deployment(&mut svc, spec.desired_count, &name, now);
            infra.service = Some(svc);
            changed = true;
        }
        let room = placement.room(self.settings.capacity, &spec.instance_id);
        changed |= self.advance(&spec.instance_id, &mut infra, room, now);
        if changed {
            self.save(&spec.instance_id, &infra, version)
                .await
                .map_err(unavailable)?;
            placement.record(&spec.instance_id, Some(&infra));
        }
        Ok(Self::view(spec, Some(&infra)))
    }

    async fn scale(&self, spec: &InstanceSpec, desired_count: u32) -> Result<(), ProviderError> {
        let mut guard = self.lock.lock().await;
        let placement = self.placement(&mut guard).await?;
        let now = self.clock.now();
        let Some((mut infra, version)) = self.load(&spec.instance_id).await.map_err(unavailable)?
        else {
            return Err(ProviderError::refused(
                "service_not_found",
                "the instance has no service",
            ));
        };
        let name = infra.name.clone();
        let Some(svc) = infra.service.as_mut() else {
            return Err(ProviderError::refused(
                "service_not_found",
                "the instance has no service",
            ));
        };
        let primary_done = svc
            .deployments
            .last()
            .is_some_and(|d| d.rollout_state != "IN_PROGRESS");
        if svc.desired == desired_count && primary_done {
            return Ok(());
        }
        if svc.desired != desired_count || !primary_done {
            self.new_deployment(svc, desired_count, &name, now);
        }
        let room = placement.room(self.settings.capacity, &spec.instance_id);
        self.advance(&spec.instance_id, &mut infra, room, now);
        self.save(&spec.instance_id, &infra, version)
            .await
            .map_err(unavailable)?;
        placement.record(&spec.instance_id, Some(&infra));
        Ok(())
    }

    async fn describe(&self, spec: &InstanceSpec) -> Result<Infrastructure, ProviderError> {
        let mut guard = self.lock.lock().await;
        let placement = self.placement(&mut guard).await?;
        let infra = self.advanced(&spec.instance_id, placement).await?;
        Ok(Self::view(spec, infra.as_ref()))
    }

    async fn delete(&self, spec: &InstanceSpec) -> Result<Infrastructure, ProviderError> {
        let mut guard = self.lock.lock().await;
        let placement = self.placement(&mut guard).await?;
        let now = self.clock.now();
        let Some((mut infra, version)) = self.load(&spec.instance_id).await.map_err(unavailable)?
        else {
            return Ok(Self::view(spec, None));
        };
        if infra.deleting_since.is_none() {
            infra.deleting_since = Some(now);
            let name = infra.name.clone();
            if let Some(svc) = infra.service.as_mut() {
                svc.status = "DRAINING".into();
                svc.desired = 0;
                for t in &mut svc.tasks {
                    if t.desired_status != "STOPPED" {
                        t.desired_status = "STOPPED".into();
                        t.since = now;
                        t.version += 1;
                        self.task_event(&name, &svc.task_definition, t);
                    }
                }
            }
            for part in [&mut infra.db, &mut infra.fs].into_iter().flatten() {
                part.state = "deleting".into();
                part.since = now;
            }
        }
        self.advance(&spec.instance_id, &mut infra, 0, now);
        self.persist(&spec.instance_id, &infra, version, placement)
            .await?;
        let gone = infra.service.is_none() && infra.db.is_none() && infra.fs.is_none();
        Ok(Self::view(spec, (!gone).then_some(&infra)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::instance::Sizes;
    use crate::infra::instances::LogEvents;
    use crate::infra::instances::RecentEvents;

    fn spec(id: &str, desired: u32) -> InstanceSpec {
        InstanceSpec {
            tenant_id: "ten_1".into(),
            instance_id: id.into(),
            environment: "PROD".into(),
            desired_count: desired,
            sizes: Sizes::default(),
            tags: Default::default(),
        }
    }

    struct Subject {
        p: LocalInstances,
        _dir: tempfile::TempDir,
    }

    impl std::ops::Deref for Subject {
        type Target = LocalInstances;
        fn deref(&self) -> &LocalInstances {
            &self.p
        }
    }

    fn provider(capacity: u32) -> (Subject, Arc<ManualClock>, Arc<RecentEvents>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ItemStore> =
            Arc::new(crate::store::sqlite::SqliteStore::open(dir.path().join("t.db")).unwrap());
        let clock = Arc::new(ManualClock::new());
        let events = Arc::new(RecentEvents::new(1000, Arc::new(LogEvents)));
        let p = LocalInstances::new(
            store,
            clock.clone(),
            LocalSettings {
                capacity,
                delay: Duration::from_secs(1),
            },
            events.clone(),
        );
        (Subject { p, _dir: dir }, clock, events)
    }

    fn names(events: &RecentEvents) -> Vec<String> {
        events
            .snapshot()
            .iter()
            .map(|e| {
                e["detail"]["eventName"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        format!("task {}", e["detail"]["lastStatus"].as_str().unwrap_or(""))
                    })
            })
            .collect()
    }

    #[tokio::test]
    async fn an_instance_comes_up_through_the_states_ecs_rds_and_efs_report() {
        let (p, clock, events) = provider(24);
        let s = spec("inst_a", 2);
        let first = p.ensure(&s).await.unwrap();
        assert_eq!(first.rds.status, "creating");
        assert_eq!(first.efs.life_cycle_state, "creating");
        assert_eq!((first.ecs.pending_count, first.ecs.running_count), (2, 0));
        assert!(!first.is_ready());
        clock.advance(Duration::from_secs(1));
        let second = p.describe(&s).await.unwrap();
        assert_eq!(second.efs.life_cycle_state, "available");
        assert_eq!(second.rds.status, "creating");
        clock.advance(Duration::from_secs(1));
        let ready = p.describe(&s).await.unwrap();
        assert!(ready.is_ready(), "{ready:?}");
        assert_eq!(ready.rds.status, "available");
        assert!(ready.rds.endpoint.is_some());
        let seen = names(&events);
        let tasks_running = seen.iter().filter(|n| *n == "task RUNNING").count();
        assert_eq!(tasks_running, 2, "{seen:?}");
        assert!(
            seen.contains(&"SERVICE_DEPLOYMENT_COMPLETED".to_string()),
            "{seen:?}"
        );
        assert!(
            seen.contains(&"SERVICE_STEADY_STATE".to_string()),
            "{seen:?}"
        );
        // Task events carry a version that rises with each change.
        let versions: Vec<u64> = events
            .snapshot()
            .iter()
            .filter(|e| e["detail-type"] == "ECS Task State Change")
            .filter_map(|e| e["detail"]["version"].as_u64())
            .collect();
        assert!(versions.contains(&3), "{versions:?}");
    }

    #[tokio::test]
    async fn ensuring_twice_creates_nothing_twice() {
        let (p, _clock, _events) = provider(24);
        let s = spec("inst_a", 2);
        let a = p.ensure(&s).await.unwrap();
        let b = p.ensure(&s).await.unwrap();
        assert_eq!(a.efs.file_system_id, b.efs.file_system_id);
        assert_eq!(b.ecs.pending_count, 2, "no second set of tasks");
        assert_eq!(a.ecs.deployment.unwrap().id, b.ecs.deployment.unwrap().id);
    }

    #[tokio::test]
    async fn scaling_past_the_clusters_capacity_fails_to_place_and_the_deployment_fails() {
        let (p, clock, events) = provider(5);
        let s = spec("inst_a", 3);
        p.ensure(&s).await.unwrap();
        clock.advance(Duration::from_secs(3));
        assert!(p.describe(&s).await.unwrap().is_ready());
        p.scale(&s, 8).await.unwrap();
        let placing = p.describe(&s).await.unwrap();
        assert_eq!(placing.ecs.pending_count, 2, "only the room left is used");
        assert!(names(&events).contains(&"SERVICE_TASK_PLACEMENT_FAILURE".to_string()));
        clock.advance(Duration::from_secs(1));
        let failed = p.describe(&s).await.unwrap();
        assert!(
            matches!(super::super::Rollout::of(&failed.ecs), super::super::Rollout::Failed(r) if r.contains("capacity 5"))
        );
        assert!(names(&events).contains(&"SERVICE_DEPLOYMENT_FAILED".to_string()));
        // Rolling back puts the old count back and completes.
        p.scale(&s, 3).await.unwrap();
        clock.advance(Duration::from_secs(3));
        let back = p.describe(&s).await.unwrap();
        assert_eq!((back.ecs.desired_count, back.ecs.running_count), (3, 3));
        assert!(back.is_ready(), "{back:?}");
    }

    #[tokio::test]
    async fn capacity_is_shared_by_every_instance_in_the_cluster() {
        let (p, clock, _events) = provider(4);
        p.ensure(&spec("inst_a", 3)).await.unwrap();
        let b = p.ensure(&spec("inst_b", 2)).await.unwrap();
        assert_eq!(b.ecs.pending_count, 1);
        clock.advance(Duration::from_secs(2));
        p.tick().await.unwrap();
        let b = p.describe(&spec("inst_b", 2)).await.unwrap();
        assert!(matches!(
            super::super::Rollout::of(&b.ecs),
            super::super::Rollout::Failed(_)
        ));
    }

    #[tokio::test]
    async fn scaling_in_stops_tasks_and_deleting_removes_every_part() {
        let (p, clock, _events) = provider(24);
        let s = spec("inst_a", 4);
        p.ensure(&s).await.unwrap();
        clock.advance(Duration::from_secs(3));
        p.scale(&s, 2).await.unwrap();
        clock.advance(Duration::from_secs(1));
        let scaled = p.describe(&s).await.unwrap();
        assert_eq!((scaled.ecs.desired_count, scaled.ecs.running_count), (2, 2));
        let deleting = p.delete(&s).await.unwrap();
        assert!(!deleting.is_gone());
        assert_eq!(deleting.ecs.status, "DRAINING");
        clock.advance(Duration::from_secs(2));
        let gone = p.delete(&s).await.unwrap();
        assert!(gone.is_gone(), "{gone:?}");
        assert!(p.describe(&s).await.unwrap().is_gone());
        assert!(
            p.delete(&s).await.unwrap().is_gone(),
            "deleting again is fine"
        );
    }
}
