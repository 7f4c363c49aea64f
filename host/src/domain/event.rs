//! ECS events as EventBridge delivers them: the envelope, the three kinds
//! bbws syncs (Service Action, Deployment State Change, Task State Change),
//! how each is ordered, and the sync marks an instance keeps so that
//! events arriving at least once and in any order end in one state.
//!
//! Parsing is lenient where AWS asks it to be (unknown fields are
//! ignored; AWS adds them at any time) and strict where a wrong shape
//! would corrupt state (a missing `detail`, a task without its version):
//! such an event is rejected with the reason, never a failure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub const SERVICE_ACTION: &str = "ECS Service Action";
pub const DEPLOYMENT_STATE_CHANGE: &str = "ECS Deployment State Change";
pub const TASK_STATE_CHANGE: &str = "ECS Task State Change";

/// Every Service Action `eventName` AWS documents, with its `eventType`.
pub const SERVICE_EVENT_NAMES: &[(&str, &str)] = &[
    ("SERVICE_STEADY_STATE", "INFO"),
    ("TASKSET_STEADY_STATE", "INFO"),
    ("CAPACITY_PROVIDER_STEADY_STATE", "INFO"),
    ("SERVICE_DESIRED_COUNT_UPDATED", "INFO"),
    ("TASKS_STOPPED", "INFO"),
    ("SERVICE_DEPLOYMENT_IN_PROGRESS", "INFO"),
    ("SERVICE_DEPLOYMENT_COMPLETED", "INFO"),
    ("SERVICE_TASK_START_IMPAIRED", "WARN"),
    ("SERVICE_DISCOVERY_INSTANCE_UNHEALTHY", "WARN"),
    ("VPC_LATTICE_TARGET_UNHEALTHY", "WARN"),
    ("SERVICE_DAEMON_PLACEMENT_CONSTRAINT_VIOLATED", "ERROR"),
    ("ECS_OPERATION_THROTTLED", "ERROR"),
    ("SERVICE_DISCOVERY_OPERATION_THROTTLED", "ERROR"),
    ("SERVICE_TASK_PLACEMENT_FAILURE", "ERROR"),
    ("SERVICE_TASK_CONFIGURATION_FAILURE", "ERROR"),
];

/// The Deployment State Change `eventName`s.
pub const DEPLOYMENT_EVENT_NAMES: &[&str] = &[
    "SERVICE_DEPLOYMENT_IN_PROGRESS",
    "SERVICE_DEPLOYMENT_COMPLETED",
    "SERVICE_DEPLOYMENT_FAILED",
];

/// Service events that say the service cannot run its tasks: a scaling in
/// progress rolls back, and the service is DEGRADED until it is steady.
pub const IMPAIRING: &[&str] = &[
    "SERVICE_TASK_PLACEMENT_FAILURE",
    "SERVICE_TASK_START_IMPAIRED",
    "SERVICE_TASK_CONFIGURATION_FAILURE",
];

/// An event that parsed: its envelope and what it says.
#[derive(Clone, Debug, PartialEq)]
pub struct EcsEvent {
    pub id: String,
    pub detail_type: String,
    pub source: String,
    pub resources: Vec<String>,
    pub time: DateTime<Utc>,
    pub change: Change,
    /// The event as it arrived (for the filters, which may match any field).
    pub raw: Value,
}

/// What an event says happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Service {
        event_name: String,
        event_type: String,
        /// The service ARN (`resources[0]`).
        service_arn: String,
        created_at: DateTime<Utc>,
        reason: Option<String>,
    },
    Deployment {
        event_name: String,
        service_arn: String,
        deployment_id: String,
        updated_at: DateTime<Utc>,
        reason: Option<String>,
    },
    Task {
        task_arn: String,
        cluster_arn: String,
        /// `service:<name>` for a service's tasks.
        group: Option<String>,
        version: u64,
        last_status: String,
        desired_status: String,
        updated_at: DateTime<Utc>,
    },
}

impl EcsEvent {
    /// The `eventName` of a service or deployment event.
    pub fn event_name(&self) -> Option<&str> {
        match &self.change {
            Change::Service { event_name, .. } | Change::Deployment { event_name, .. } => {
                Some(event_name)
            }
            Change::Task { .. } => None,
        }
    }

    /// Where the event routes: (cluster name, service name), from the
    /// service ARN (`.../service/<cluster>/<service>`) or, for a task, from
    /// its `group` (`service:<name>`) and `clusterArn`.
    pub fn service(&self) -> Option<(String, String)> {
        match &self.change {
            Change::Service { service_arn, .. } | Change::Deployment { service_arn, .. } => {
                let path = service_arn.split_once(":service/")?.1;
                let (cluster, service) = path.split_once('/')?;
                Some((cluster.to_string(), service.to_string()))
            }
            Change::Task {
                group, cluster_arn, ..
            } => {
                let service = group.as_deref()?.strip_prefix("service:")?;
                let cluster = cluster_arn.split_once(":cluster/")?.1;
                Some((cluster.to_string(), service.to_string()))
            }
        }
    }
}

/// Parses one event; the error is the reason it is rejected.
pub fn parse(raw: Value) -> Result<EcsEvent, String> {
    let Some(envelope) = raw.as_object() else {
        return Err("an event must be a JSON object".into());
    };
    let text = |name: &str| -> Result<String, String> {
        match envelope.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(format!("{name} must be a non-empty string")),
            None => Err(format!("{name} is missing")),
        }
    };
    let id = text("id")?;
    if id.len() > 200 {
        return Err("id is longer than 200 characters".into());
    }
    let detail_type = text("detail-type")?;
    let source = text("source")?;
    let time = timestamp(envelope.get("time"), "time")?;
    let resources = match envelope.get("resources") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|r| r.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or("resources must be a list of strings")?,
        Some(_) => return Err("resources must be a list of strings".into()),
    };
    let detail = match envelope.get("detail") {
        Some(Value::Object(d)) => d,
        Some(_) => return Err("detail must be an object".into()),
        None => return Err("detail is missing".into()),
    };
    let field = |name: &str| -> Result<String, String> {
        match detail.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(format!("detail.{name} must be a non-empty string")),
            None => Err(format!("detail.{name} is missing")),
        }
    };
    let optional = |name: &str| detail.get(name).and_then(Value::as_str).map(str::to_string);
    let service_arn = || -> Result<String, String> {
        resources
            .first()
            .filter(|r| r.contains(":service/"))
            .cloned()
            .ok_or_else(|| "resources[0] must be the service's ARN".to_string())
    };
    let change = match detail_type.as_str() {
        SERVICE_ACTION => {
            let event_name = field("eventName")?;
            let Some((_, expected)) = SERVICE_EVENT_NAMES.iter().find(|(n, _)| *n == event_name)
            else {
                return Err(format!("unknown Service Action eventName {event_name}"));
            };
            let event_type = field("eventType")?;
            if event_type != *expected {
                return Err(format!(
                    "{event_name} is an {expected} event, not {event_type}"
                ));
            }
            Change::Service {
                event_name,
                event_type,
                service_arn: service_arn()?,
                created_at: timestamp(detail.get("createdAt"), "detail.createdAt")?,
                reason: optional("reason"),
            }
        }
        DEPLOYMENT_STATE_CHANGE => {
            let event_name = field("eventName")?;
            if !DEPLOYMENT_EVENT_NAMES.contains(&event_name.as_str()) {
                return Err(format!("unknown Deployment eventName {event_name}"));
            }
            Change::Deployment {
                event_name,
                service_arn: service_arn()?,
                deployment_id: field("deploymentId")?,
                updated_at: timestamp(detail.get("updatedAt"), "detail.updatedAt")?,
                reason: optional("reason"),
            }
        }
        TASK_STATE_CHANGE => {
            let version = match detail.get("version") {
                Some(v) => v.as_u64().ok_or("detail.version must be a whole number")?,
                None => return Err("detail.version is missing".into()),
            };
            Change::Task {
                task_arn: field("taskArn")?,
                cluster_arn: field("clusterArn")?,
                group: optional("group"),
                version,
                last_status: field("lastStatus")?,
                desired_status: field("desiredStatus")?,
                updated_at: timestamp(detail.get("updatedAt"), "detail.updatedAt")
                    .or_else(|_| timestamp(detail.get("createdAt"), "detail.createdAt"))?,
            }
        }
        other => return Err(format!("bbws does not sync {other} events")),
    };
    Ok(EcsEvent {
        id,
        detail_type,
        source,
        resources,
        time,
        change,
        raw,
    })
}

fn timestamp(value: Option<&Value>, name: &str) -> Result<DateTime<Utc>, String> {
    match value {
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| format!("{name} must be an RFC 3339 time")),
        Some(_) => Err(format!("{name} must be an RFC 3339 time")),
        None => Err(format!("{name} is missing")),
    }
}

// ---------------------------------------------------------------------------
// Sync marks: what an instance has applied, so older events are stale
// ---------------------------------------------------------------------------

/// The most task marks an instance keeps: stopped tasks beyond it are
/// forgotten oldest first (and events older than the newest forgotten one
/// are stale).
pub const MAX_TASK_MARKS: usize = 64;
/// The most deployment marks an instance keeps.
pub const MAX_DEPLOYMENT_MARKS: usize = 16;

/// What events have told an instance: per task, per deployment, and the
/// service's last action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSync {
    /// Task ARN -> its newest state.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tasks: BTreeMap<String, TaskMark>,
    /// Deployment id -> its newest state.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deployments: BTreeMap<String, DeploymentMark>,
    /// The newest service action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceMark>,
    /// When the service last reported SERVICE_STEADY_STATE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_at: Option<DateTime<Utc>>,
    /// The newest impairment (placement failure, start impaired) not yet
    /// followed by a steady state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impaired: Option<ServiceMark>,
    /// Forgotten stopped tasks were updated no later than this: an event
    /// for an unknown task this old is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forgotten_until: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskMark {
    pub version: u64,
    pub last_status: String,
    pub desired_status: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentMark {
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    pub state: String,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMark {
    pub event_name: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ServiceMark {
    /// What the mark says, for a person: the event's name and its reason.
    pub fn describe(&self) -> String {
        match &self.reason {
            Some(r) => format!("{}: {r}", self.event_name),
            None => format!("ECS reported {}", self.event_name),
        }
    }

    /// Later, or at the same time and later by name (a total order, so the
    /// newest mark does not depend on the order of arrival).
    fn newer_than(&self, other: &ServiceMark) -> bool {
        (self.created_at, &self.event_name) > (other.created_at, &other.event_name)
    }
}

fn rank(state: &str) -> u8 {
    match state {
        "IN_PROGRESS" => 0,
        "COMPLETED" => 1,
        _ => 2,
    }
}

/// What applying an event to the marks did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The marks moved.
    Applied,
    /// The marks already hold this or something newer; the reason says which.
    Stale(String),
}

impl EventSync {
    /// Applies `change` if it is newer than what the marks hold.
    pub fn apply(&mut self, change: &Change) -> Applied {
        match change {
            Change::Task {
                task_arn,
                version,
                last_status,
                desired_status,
                updated_at,
                ..
            } => {
                if let Some(mark) = self.tasks.get(task_arn) {
                    if *version <= mark.version {
                        return Applied::Stale(format!(
                            "task version {version} is not newer than {}",
                            mark.version
                        ));
                    }
                } else if self.forgotten_until.is_some_and(|t| *updated_at <= t) {
                    return Applied::Stale("the task stopped and was forgotten".into());
                }
                self.tasks.insert(
                    task_arn.clone(),
                    TaskMark {
                        version: *version,
                        last_status: last_status.clone(),
                        desired_status: desired_status.clone(),
                        updated_at: *updated_at,
                    },
                );
                self.forget_stopped_tasks();
                Applied::Applied
            }
            Change::Deployment {
                event_name,
                deployment_id,
                updated_at,
                reason,
                ..
            } => {
                let state = event_name
                    .strip_prefix("SERVICE_DEPLOYMENT_")
                    .unwrap_or(event_name)
                    .to_string();
                if let Some(mark) = self.deployments.get(deployment_id) {
                    if mark.state != "IN_PROGRESS" && state == "IN_PROGRESS" {
                        return Applied::Stale(format!(
                            "the deployment already ended {}",
                            mark.state
                        ));
                    }
                    // Newer by time; at the same time, an end beats
                    // progress and FAILED beats COMPLETED, so any order of
                    // arrival ends in the same mark.
                    if (*updated_at, rank(&state)) <= (mark.updated_at, rank(&mark.state)) {
                        return Applied::Stale(format!(
                            "the deployment was updated at {} already",
                            mark.updated_at.to_rfc3339()
                        ));
                    }
                }
                self.deployments.insert(
                    deployment_id.clone(),
                    DeploymentMark {
                        state,
                        updated_at: *updated_at,
                        reason: reason.clone(),
                    },
                );
                while self.deployments.len() > MAX_DEPLOYMENT_MARKS {
                    let oldest = self
                        .deployments
                        .iter()
                        .min_by_key(|(_, m)| m.updated_at)
                        .map(|(id, _)| id.clone());
                    match oldest {
                        Some(id) => self.deployments.remove(&id),
                        None => break,
                    };
                }
                Applied::Applied
            }
            Change::Service {
                event_name,
                created_at,
                reason,
                ..
            } => {
                let mark = ServiceMark {
                    event_name: event_name.clone(),
                    created_at: *created_at,
                    reason: reason.clone(),
                };
                if event_name == "SERVICE_STEADY_STATE" {
                    if self.steady_at.is_some_and(|t| *created_at <= t) {
                        return Applied::Stale("a newer steady state is recorded".into());
                    }
                    self.steady_at = Some(*created_at);
                    if self
                        .impaired
                        .as_ref()
                        .is_some_and(|i| i.created_at < *created_at)
                    {
                        self.impaired = None;
                    }
                } else if IMPAIRING.contains(&event_name.as_str()) {
                    if self.impaired.as_ref().is_some_and(|i| !mark.newer_than(i)) {
                        return Applied::Stale("a newer impairment is recorded".into());
                    }
                    if self.steady_at.is_none_or(|t| t < *created_at) {
                        self.impaired = Some(mark.clone());
                    }
                } else if self.service.as_ref().is_some_and(|s| !mark.newer_than(s)) {
                    return Applied::Stale("a newer service action is recorded".into());
                }
                if self.service.as_ref().is_none_or(|s| mark.newer_than(s)) {
                    self.service = Some(mark);
                }
                Applied::Applied
            }
        }
    }

    /// Keeps at most [`MAX_TASK_MARKS`]: forgets stopped tasks, oldest first.
    fn forget_stopped_tasks(&mut self) {
        while self.tasks.len() > MAX_TASK_MARKS {
            let oldest = self
                .tasks
                .iter()
                .filter(|(_, m)| m.last_status == "STOPPED")
                .min_by_key(|(_, m)| m.updated_at)
                .map(|(arn, m)| (arn.clone(), m.updated_at));
            let Some((arn, at)) = oldest else { break };
            self.tasks.remove(&arn);
            self.forgotten_until = Some(self.forgotten_until.map_or(at, |t| t.max(at)));
        }
    }

    /// Why events say the service is in trouble: an impairment not
    /// followed by a steady state, or the failure of `deployment` (the
    /// primary one).
    pub fn trouble(&self, deployment: Option<&str>) -> Option<String> {
        if let Some(i) = &self.impaired {
            return Some(i.describe());
        }
        let mark = self.deployments.get(deployment?)?;
        (mark.state == "FAILED").then(|| match &mark.reason {
            Some(r) => format!(
                "the deployment {} failed: {r}",
                deployment.unwrap_or_default()
            ),
            None => format!("the deployment {} failed", deployment.unwrap_or_default()),
        })
    }

    /// Tasks running and tasks on their way (PROVISIONING, PENDING,
    /// ACTIVATING), as the task events tell.
    pub fn counts(&self) -> (u32, u32) {
        let mut running = 0;
        let mut pending = 0;
        for mark in self.tasks.values() {
            match mark.last_status.as_str() {
                "RUNNING" if mark.desired_status == "RUNNING" => running += 1,
                "PROVISIONING" | "PENDING" | "ACTIVATING" => pending += 1,
                _ => {}
            }
        }
        (running, pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Value {
        let path = format!(
            "{}/../testdata/ecs-events/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn every_sample_parses_and_routes_to_its_service() {
        for name in [
            "deployment-completed",
            "deployment-failed",
            "service-action-steady-state",
            "service-action-task-start-impaired",
        ] {
            let e = parse(sample(name)).unwrap();
            assert_eq!(
                e.service(),
                Some(("default".into(), "servicetest".into())),
                "{name}"
            );
        }
        let task = parse(sample("task-state-change")).unwrap();
        assert_eq!(
            task.service(),
            Some(("default".into(), "servicetest".into()))
        );
        assert!(matches!(task.change, Change::Task { version: 4, .. }));
    }

    #[test]
    fn unknown_fields_are_ignored_and_wrong_shapes_rejected() {
        let mut e = sample("service-action-steady-state");
        e["detail"]["somethingNew"] = serde_json::json!({"nested": [1, 2]});
        e["newTopLevel"] = true.into();
        assert!(parse(e).is_ok());
        let mut e = sample("service-action-steady-state");
        e.as_object_mut().unwrap().remove("detail");
        assert_eq!(parse(e).unwrap_err(), "detail is missing");
        let mut e = sample("task-state-change");
        e["detail"]["version"] = "four".into();
        assert_eq!(
            parse(e).unwrap_err(),
            "detail.version must be a whole number"
        );
        let mut e = sample("service-action-steady-state");
        e["detail"]["eventName"] = "SERVICE_SOMETHING_NEW".into();
        assert!(parse(e).unwrap_err().contains("unknown Service Action"));
        let mut e = sample("service-action-steady-state");
        e["detail-type"] = "ECS Container Instance State Change".into();
        assert!(parse(e).unwrap_err().contains("does not sync"));
        assert!(parse(Value::from(3)).is_err());
    }

    #[test]
    fn task_events_apply_only_when_newer_and_a_deployment_never_reopens() {
        let task = |version, status: &str| Change::Task {
            task_arn: "arn:t".into(),
            cluster_arn: "arn:c".into(),
            group: None,
            version,
            last_status: status.into(),
            desired_status: "RUNNING".into(),
            updated_at: Utc::now(),
        };
        let mut sync = EventSync::default();
        assert_eq!(sync.apply(&task(2, "PENDING")), Applied::Applied);
        assert_eq!(sync.counts(), (0, 1));
        assert_eq!(sync.apply(&task(3, "RUNNING")), Applied::Applied);
        assert!(matches!(sync.apply(&task(2, "PENDING")), Applied::Stale(_)));
        assert!(matches!(sync.apply(&task(3, "RUNNING")), Applied::Stale(_)));
        assert_eq!(sync.counts(), (1, 0));

        let at = Utc::now();
        let deployment = |name: &str, secs| Change::Deployment {
            event_name: name.into(),
            service_arn: "arn:s".into(),
            deployment_id: "ecs-svc/1".into(),
            updated_at: at + chrono::TimeDelta::seconds(secs),
            reason: None,
        };
        assert_eq!(
            sync.apply(&deployment("SERVICE_DEPLOYMENT_COMPLETED", 5)),
            Applied::Applied
        );
        assert!(matches!(
            sync.apply(&deployment("SERVICE_DEPLOYMENT_IN_PROGRESS", 9)),
            Applied::Stale(_)
        ));
        assert_eq!(sync.deployments["ecs-svc/1"].state, "COMPLETED");
    }
}
