//! ECS events end to end: EventBridge envelopes posted to `/v1/events`
//! with the events secret, routed to their instance by the service ARN (or
//! a task's group and cluster), filtered (the platform's gate with the
//! deployment's environments and the tenant's event pattern, then the
//! tenant's own filter guest), and synced into the instance's state once,
//! in any order. On the embedded deployment the local simulation's own
//! events take the same path; `api_aws` runs these again with instances on
//! moto's ECS, which emits none, so there only the events sent here count.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with};
use bbws_tests::guests;

const SECRET: &str = "events-secret-for-tests";
const PREVIOUS: &str = "events-secret-rotated-out";

fn on_moto() -> bool {
    matches!(crate::BACKEND, Backend::Aws)
}

/// A server taking events with [`SECRET`] (and [`PREVIOUS`]); the local
/// simulation moves one state per `delay`.
async fn app_with(
    delay: Duration,
    configure: impl FnOnce(&mut bbws_host::server::ServerConfig),
) -> TestApp {
    spawn_app_with(|c| {
        c.events.secrets = vec![SECRET.into(), PREVIOUS.into()];
        c.sites.provision_delay = delay;
        configure(c);
    })
    .await
}

async fn app() -> TestApp {
    app_with(Duration::ZERO, |_| {}).await
}

fn instance_path(tenant: &str, instance: &str) -> String {
    format!("/v1/tenants/{tenant}/instances/{instance}")
}

/// An ACTIVE instance of a new tenant, once the simulation's own events
/// of its creation are synced (none on moto); answers (tenant, owner
/// token, instance).
async fn tenant_with_instance(
    app: &TestApp,
    name: &str,
    environment: &str,
) -> (String, String, Value) {
    let t = app.tenant(&app.admin, name, None).await;
    let (_, owner) = app
        .member(
            &t,
            &format!("owner@{}.example", name.to_lowercase().replace(' ', "-")),
            "owner",
        )
        .await;
    let created = app
        .accepted(
            &owner,
            &format!("/v1/tenants/{t}/instances"),
            json!({"name": "web", "environment": environment}),
        )
        .await;
    let id = created["instanceId"].as_str().unwrap().to_string();
    let i = if on_moto() {
        app.get(&owner, &instance_path(&t, &id))
            .await
            .ok(200)
            .clone()
    } else {
        wait_instance(app, &owner, &t, &id, |i| {
            i["eventSync"]["steadyAt"].is_string()
        })
        .await
    };
    (t, owner, i)
}

/// Polls the instance until `done` holds (30 s at most).
async fn wait_instance(
    app: &TestApp,
    token: &str,
    tenant: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let i = app
            .get(token, &instance_path(tenant, id))
            .await
            .ok(200)
            .clone();
        if done(&i) {
            return i;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the instance did not get there: {i:#}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn now_ms() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn at(offset_secs: i64) -> String {
    (chrono::Utc::now() + chrono::TimeDelta::seconds(offset_secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn envelope(detail_type: &str, resource: &str, detail: Value) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": "aws.ecs",
        "account": "111122223333",
        "time": now_ms(),
        "region": "us-east-1",
        "resources": [resource],
        "detail": detail,
    })
}

fn service_event(i: &Value, name: &str, event_type: &str, created_at: &str) -> Value {
    envelope(
        "ECS Service Action",
        i["ecs"]["serviceArn"].as_str().unwrap(),
        json!({"eventType": event_type, "eventName": name,
               "clusterArn": i["ecs"]["clusterArn"], "createdAt": created_at}),
    )
}

fn deployment_event(
    i: &Value,
    name: &str,
    deployment: &str,
    updated_at: &str,
    reason: Option<&str>,
) -> Value {
    let mut detail = json!({"eventType": if name.ends_with("FAILED") {"ERROR"} else {"INFO"},
                            "eventName": name, "deploymentId": deployment, "updatedAt": updated_at});
    if let Some(r) = reason {
        detail["reason"] = r.into();
    }
    envelope(
        "ECS Deployment State Change",
        i["ecs"]["serviceArn"].as_str().unwrap(),
        detail,
    )
}

fn task_arn(i: &Value, task: &str) -> String {
    let cluster = i["ecs"]["clusterArn"].as_str().unwrap();
    format!("{}/{task}", cluster.replace(":cluster/", ":task/"))
}

fn task_event(i: &Value, task: &str, version: u64, last: &str, desired: &str) -> Value {
    let arn = task_arn(i, task);
    envelope(
        "ECS Task State Change",
        &arn,
        json!({"clusterArn": i["ecs"]["clusterArn"], "taskArn": arn, "group": format!("service:{}", i["ecs"]["service"].as_str().unwrap()),
               "lastStatus": last, "desiredStatus": desired, "version": version,
               "createdAt": now_ms(), "updatedAt": now_ms(), "containers": []}),
    )
}

async fn send(app: &TestApp, body: Value) -> crate::helpers::Resp {
    app.request(
        "POST",
        "/v1/events",
        None,
        Some(body),
        &[("X-Bbws-Events-Secret", SECRET)],
    )
    .await
}

/// Sends one event; answers its result.
async fn send_one(app: &TestApp, event: &Value) -> Value {
    let res = send(app, event.clone()).await;
    res.ok(200)["results"][0].clone()
}

fn outcomes(res: &Value) -> Vec<String> {
    res["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_string())
        .collect()
}

async fn events_of(app: &TestApp, token: &str, tenant: &str, query: &str) -> Vec<Value> {
    app.walk(token, &format!("/v1/tenants/{tenant}/events{query}"), 100)
        .await
}

/// The tasks events say are RUNNING (desired RUNNING).
fn running_in_marks(i: &Value) -> usize {
    i["eventSync"]["tasks"].as_object().map_or(0, |t| {
        t.values()
            .filter(|m| m["lastStatus"] == "RUNNING" && m["desiredStatus"] == "RUNNING")
            .count()
    })
}

#[tokio::test]
async fn a_steady_state_marks_the_service_steady_and_its_repeats_move_it_forward() {
    let app = app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Steady Co", "PROD").await;
    let id = i["instanceId"].as_str().unwrap();

    let first = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(60));
    let r = send_one(&app, &first).await;
    assert_eq!(r["outcome"], "applied", "{r}");
    assert_eq!(r["instanceId"], id);
    // ECS re-sends it periodically: a later one moves the mark, an earlier
    // one (arriving late) is stale.
    let later = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(120));
    assert_eq!(send_one(&app, &later).await["outcome"], "applied");
    let earlier = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(30));
    let stale = send_one(&app, &earlier).await;
    assert_eq!(stale["outcome"], "stale", "{stale}");
    assert!(
        stale["reason"]
            .as_str()
            .unwrap()
            .contains("newer steady state")
    );

    let got = app
        .get(&owner, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(got["eventSync"]["steadyAt"], later["detail"]["createdAt"]);
    let status = app
        .get(&owner, &format!("{}/status", instance_path(&t, id)))
        .await;
    assert_eq!(status.ok(200)["overall"], "HEALTHY");

    // Listed newest first, with the instance's version before and after.
    let listed = events_of(&app, &owner, &t, "?outcome=stale").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["eventId"], earlier["id"]);
    assert_eq!(listed[0]["versionBefore"], listed[0]["versionAfter"]);
    let applied = events_of(
        &app,
        &owner,
        &t,
        &format!("?instanceId={id}&outcome=applied"),
    )
    .await;
    let later_record = applied
        .iter()
        .find(|e| e["eventId"] == later["id"])
        .expect("listed");
    assert_eq!(later_record["eventName"], "SERVICE_STEADY_STATE");
    assert_eq!(later_record["detailType"], "ECS Service Action");
    assert_eq!(later_record["filter"]["verdict"], "accept");
    assert_eq!(
        later_record["versionAfter"].as_u64().unwrap(),
        later_record["versionBefore"].as_u64().unwrap() + 1
    );
    assert!(later_record["occurredAt"].is_string() && later_record["receivedAt"].is_string());
}

#[tokio::test]
async fn an_event_delivered_twice_counts_once_even_in_one_batch() {
    let app = app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Twice Co", "PROD").await;
    let id = i["instanceId"].as_str().unwrap();
    let e = task_event(&i, "dup1", 2, "RUNNING", "RUNNING");
    assert_eq!(send_one(&app, &e).await["outcome"], "applied");
    let before = app.get(&owner, &instance_path(&t, id)).await.ok(200)["version"].clone();
    let again = send(&app, json!({"events": [e.clone(), e.clone()]})).await;
    assert_eq!(outcomes(again.ok(200)), ["duplicate", "duplicate"]);
    let after = app
        .get(&owner, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(
        after["version"], before,
        "a duplicate writes nothing to the instance"
    );

    // Two copies of a new event in one batch: the first applies.
    let fresh = task_event(&i, "dup2", 2, "RUNNING", "RUNNING");
    let both = send(&app, json!({"events": [fresh.clone(), fresh.clone()]})).await;
    assert_eq!(outcomes(both.ok(200)), ["applied", "duplicate"]);
    assert_eq!(
        events_of(&app, &owner, &t, "?outcome=duplicate")
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn task_events_set_the_counts_and_an_older_version_is_stale() {
    let app = app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Tasks Co", "PROD").await;
    let id = i["instanceId"].as_str().unwrap();
    let base = running_in_marks(&i);

    let pending = task_event(&i, "t1", 2, "PENDING", "RUNNING");
    let running = task_event(&i, "t1", 3, "RUNNING", "RUNNING");
    // The newer arrives first; the older is then stale.
    assert_eq!(send_one(&app, &running).await["outcome"], "applied");
    let r = send_one(&app, &pending).await;
    assert_eq!(r["outcome"], "stale");
    assert!(r["reason"].as_str().unwrap().contains("version 2"), "{r}");
    let second = task_event(&i, "t2", 1, "PROVISIONING", "RUNNING");
    assert_eq!(send_one(&app, &second).await["outcome"], "applied");

    let got = app
        .get(&owner, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(running_in_marks(&got), base + 1);
    assert_eq!(
        got["ecs"]["runningCount"].as_u64().unwrap() as usize,
        base + 1
    );
    assert_eq!(got["ecs"]["pendingCount"], 1);
    let mark = &got["eventSync"]["tasks"][task_arn(&i, "t1")];
    assert_eq!(mark["version"], 3);
    assert_eq!(mark["lastStatus"], "RUNNING");

    // The task stops: it no longer counts.
    let stopped = task_event(&i, "t1", 4, "STOPPED", "STOPPED");
    assert_eq!(send_one(&app, &stopped).await["outcome"], "applied");
    let got = app
        .get(&owner, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(got["ecs"]["runningCount"].as_u64().unwrap() as usize, base);
}

#[tokio::test]
async fn concurrent_events_for_one_instance_lose_no_update() {
    let app = app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Busy Co", "PROD").await;
    let id = i["instanceId"].as_str().unwrap().to_string();
    let base = running_in_marks(&i);
    let events: Vec<Value> = (0..40)
        .map(|n| task_event(&i, &format!("c{n}"), 2, "RUNNING", "RUNNING"))
        .collect();
    let app = std::sync::Arc::new(app);
    let mut clients = Vec::new();
    for chunk in events.chunks(5) {
        let app = app.clone();
        let chunk = chunk.to_vec();
        clients.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for e in chunk {
                out.push(
                    send_one(&app, &e).await["outcome"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            out
        }));
    }
    for c in clients {
        assert!(c.await.unwrap().iter().all(|o| o == "applied"));
    }
    let got = app
        .get(&owner, &instance_path(&t, &id))
        .await
        .ok(200)
        .clone();
    assert_eq!(
        running_in_marks(&got),
        base + 40,
        "every concurrent event landed"
    );
    assert_eq!(
        got["ecs"]["runningCount"].as_u64().unwrap() as usize,
        base + 40
    );
}

#[tokio::test]
async fn a_deployment_never_goes_back_from_completed_and_a_rollback_keeps_its_reason() {
    let app = app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Rollout Co", "PROD").await;
    let id = i["instanceId"].as_str().unwrap();
    let d = "ecs-svc/1111";
    let progress = deployment_event(&i, "SERVICE_DEPLOYMENT_IN_PROGRESS", d, &at(1), None);
    let done = deployment_event(&i, "SERVICE_DEPLOYMENT_COMPLETED", d, &at(2), None);
    let late = deployment_event(&i, "SERVICE_DEPLOYMENT_IN_PROGRESS", d, &at(3), None);
    assert_eq!(send_one(&app, &done).await["outcome"], "applied");
    assert_eq!(send_one(&app, &progress).await["outcome"], "stale");
    let r = send_one(&app, &late).await;
    assert_eq!(r["outcome"], "stale");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("already ended COMPLETED"),
        "{r}"
    );
    // A rollback is IN_PROGRESS too: only its reason tells.
    let rb = "ecs-svc/2222";
    let rollback = deployment_event(
        &i,
        "SERVICE_DEPLOYMENT_IN_PROGRESS",
        rb,
        &at(4),
        Some("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1111."),
    );
    assert_eq!(send_one(&app, &rollback).await["outcome"], "applied");
    let got = app
        .get(&owner, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(got["eventSync"]["deployments"][d]["state"], "COMPLETED");
    assert_eq!(got["eventSync"]["deployments"][rb]["state"], "IN_PROGRESS");
    assert!(
        got["eventSync"]["deployments"][rb]["reason"]
            .as_str()
            .unwrap()
            .contains("rolling back")
    );
}

/// Scales `i` to `to` and waits until the instance records the scaling's
/// deployment; answers its id.
async fn scaling_deployment(
    app: &TestApp,
    owner: &str,
    t: &str,
    i: &Value,
    to: u64,
) -> (String, String) {
    let id = i["instanceId"].as_str().unwrap();
    let res = app
        .post(
            owner,
            &format!("{}/scale", instance_path(t, id)),
            json!({"desiredCount": to}),
        )
        .await;
    let op = res.ok(202)["operationId"].as_str().unwrap().to_string();
    let before = i["ecs"]["deployment"]["id"].clone();
    let got = wait_instance(app, owner, t, id, |r| {
        r["ecs"]["deployment"]["desiredCount"] == to && r["ecs"]["deployment"]["id"] != before
    })
    .await;
    (
        op,
        got["ecs"]["deployment"]["id"].as_str().unwrap().to_string(),
    )
}

/// The simulation takes a second per state here, so a scaling is still in
/// progress when the event arrives: the event decides it. (moto's
/// UpdateService runs the new count at once, so these run embedded only.)
async fn slow_app() -> TestApp {
    app_with(Duration::from_millis(1000), |_| {}).await
}

#[tokio::test]
async fn deployment_completed_finishes_a_pending_scaling() {
    if on_moto() {
        return; // moto completes a scaling at once: no event can decide it there
    }
    let app = slow_app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Grow Co", "PROD").await;
    let id = i["instanceId"].as_str().unwrap();
    let (op, deployment) = scaling_deployment(&app, &owner, &t, &i, 3).await;
    let e = deployment_event(
        &i,
        "SERVICE_DEPLOYMENT_COMPLETED",
        &deployment,
        &at(1),
        None,
    );
    let r = send_one(&app, &e).await;
    assert_eq!(r["outcome"], "applied", "{r}");
    let op = app.wait_operation(&owner, &op).await;
    assert_eq!(op["status"], "SUCCEEDED", "{op}");
    let got = app
        .get(&owner, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(got["lastScaling"]["status"], "SUCCEEDED");
    assert!(
        got["lastScaling"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("SERVICE_DEPLOYMENT_COMPLETED"),
        "the event finished the scaling: {got:#}"
    );
    assert_eq!(got["status"], "ACTIVE");
}

#[tokio::test]
async fn deployment_failed_rolls_the_scaling_back_and_the_status_says_why() {
    if on_moto() {
        return; // moto completes a scaling at once: no event can decide it there
    }
    let app = slow_app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Fail Co", "PROD").await;
    let id = i["instanceId"].as_str().unwrap();
    let (op, deployment) = scaling_deployment(&app, &owner, &t, &i, 4).await;
    let e = deployment_event(
        &i,
        "SERVICE_DEPLOYMENT_FAILED",
        &deployment,
        &at(1),
        Some("ECS deployment circuit breaker: task failed to start."),
    );
    assert_eq!(send_one(&app, &e).await["outcome"], "applied");
    let op = app.wait_operation(&owner, &op).await;
    assert_eq!(op["status"], "FAILED", "{op}");
    assert_eq!(op["error"]["code"], "scaling_rolled_back");
    let got = app
        .get(&owner, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(got["desiredCount"], 2, "rolled back to the previous count");
    assert_eq!(got["lastScaling"]["status"], "ROLLED_BACK");
    assert!(
        got["lastScaling"]["reason"]
            .as_str()
            .unwrap()
            .contains("task failed to start")
    );
}

#[tokio::test]
async fn a_task_start_impairment_rolls_the_scaling_back_and_degrades_until_steady() {
    if on_moto() {
        return; // moto completes a scaling at once: no event can decide it there
    }
    let app = slow_app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Impaired Co", "PROD").await;
    let id = i["instanceId"].as_str().unwrap();
    let (op, _) = scaling_deployment(&app, &owner, &t, &i, 4).await;
    let mut e = service_event(&i, "SERVICE_TASK_START_IMPAIRED", "WARN", &at(1));
    e["detail"]["reason"] = "tasks keep failing their health check".into();
    assert_eq!(send_one(&app, &e).await["outcome"], "applied");
    let op = app.wait_operation(&owner, &op).await;
    assert_eq!(op["status"], "FAILED", "{op}");
    let got = app
        .get(&owner, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(got["desiredCount"], 2);
    assert_eq!(got["lastScaling"]["status"], "ROLLED_BACK");
    let status = app
        .get(&owner, &format!("{}/status", instance_path(&t, id)))
        .await
        .ok(200)
        .clone();
    assert_ne!(status["overall"], "HEALTHY", "{status:#}");
    assert!(
        status["ecs"]["reason"]
            .as_str()
            .unwrap()
            .contains("SERVICE_TASK_START_IMPAIRED"),
        "{status:#}"
    );
    // A steady state after it clears the impairment.
    let steady = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(5));
    assert_eq!(send_one(&app, &steady).await["outcome"], "applied");
    let got = app
        .get(&owner, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert!(got["eventSync"]["impaired"].is_null(), "{got:#}");
}

#[tokio::test]
async fn the_events_secret_is_required_and_a_rotated_one_still_works() {
    let app = app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Secret Co", "PROD").await;
    let e = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(60));
    for headers in [vec![], vec![("X-Bbws-Events-Secret", "wrong")]] {
        app.request("POST", "/v1/events", None, Some(e.clone()), &headers)
            .await
            .assert_problem(401, "unauthorized");
    }
    // A bearer token is not the events secret either.
    app.request("POST", "/v1/events", Some(&app.admin), Some(e.clone()), &[])
        .await
        .assert_problem(401, "unauthorized");
    assert!(
        events_of(&app, &owner, &t, "?outcome=applied")
            .await
            .iter()
            .all(|r| r["eventId"] != e["id"])
    );
    // The previous secret is accepted while the new one rolls out.
    let res = app
        .request(
            "POST",
            "/v1/events",
            None,
            Some(e.clone()),
            &[("X-Bbws-Events-Secret", PREVIOUS)],
        )
        .await;
    assert_eq!(outcomes(res.ok(200)), ["applied"]);

    // A server with no secret refuses everything.
    let closed = spawn_app_with(|_| {}).await;
    closed
        .request(
            "POST",
            "/v1/events",
            None,
            Some(e),
            &[("X-Bbws-Events-Secret", SECRET)],
        )
        .await
        .assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn bad_batches_are_refused_whole_and_bad_events_are_rejected_one_by_one() {
    let app = app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Batch Co", "PROD").await;
    let too_many: Vec<Value> = (0..101)
        .map(|n| task_event(&i, &format!("b{n}"), 2, "RUNNING", "RUNNING"))
        .collect();
    send(&app, json!({"events": too_many}))
        .await
        .assert_problem(413, "too_many_events");
    let raw = reqwest::Client::new()
        .post(format!("{}/v1/events", app.base))
        .header("X-Bbws-Events-Secret", SECRET)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let problem: Value = raw.json().await.unwrap();
    assert_eq!(problem["code"], "malformed_json");
    assert!(
        events_of(&app, &owner, &t, "")
            .await
            .iter()
            .all(|r| r["via"] != "http"),
        "nothing was recorded"
    );

    let good = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(60));
    let mut no_detail = good.clone();
    no_detail.as_object_mut().unwrap().remove("detail");
    no_detail["id"] = "no-detail".into();
    let mut wrong_type = task_event(&i, "w", 1, "RUNNING", "RUNNING");
    wrong_type["detail"]["version"] = "one".into();
    let mut unknown_name = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(61));
    unknown_name["detail"]["eventName"] = "SERVICE_SOMETHING_NEW".into();
    let mut other_kind = good.clone();
    other_kind["id"] = "container-instance".into();
    other_kind["detail-type"] = "ECS Container Instance State Change".into();
    let mut new_fields = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(62));
    new_fields["detail"]["aFieldAwsAddedLater"] = json!({"nested": [1, 2, 3]});
    new_fields["anotherOne"] = true.into();
    let res = send(
        &app,
        json!({"events": [good, no_detail, wrong_type, 42, unknown_name, other_kind, new_fields]}),
    )
    .await;
    let body = res.ok(200);
    assert_eq!(
        outcomes(body),
        [
            "applied", "rejected", "rejected", "rejected", "rejected", "rejected", "applied"
        ]
    );
    assert_eq!(body["results"][1]["reason"], "detail is missing");
    assert_eq!(
        body["results"][2]["reason"],
        "detail.version must be a whole number"
    );
    assert!(
        body["results"][4]["reason"]
            .as_str()
            .unwrap()
            .contains("SERVICE_SOMETHING_NEW")
    );
    assert!(
        body["results"][5]["reason"]
            .as_str()
            .unwrap()
            .contains("Container Instance")
    );
    // Rejected events route to no tenant: the platform admin lists them.
    let platform = app
        .walk(&app.admin, "/v1/events?outcome=rejected", 100)
        .await;
    assert!(platform.iter().any(|r| r["eventId"] == "no-detail"));
    app.get(&owner, "/v1/events")
        .await
        .assert_problem(403, "policy_denied");
}

#[tokio::test]
async fn an_event_for_no_known_instance_is_unmatched_and_listed_for_the_platform() {
    let app = app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Other Co", "PROD").await;
    let sample: Value = serde_json::from_str(include_str!(
        "../../testdata/ecs-events/service-action-steady-state.json"
    ))
    .unwrap();
    let r = send_one(&app, &sample).await;
    assert_eq!(r["outcome"], "unmatched", "{r}");
    assert!(r["instanceId"].is_null());
    // Named like one of ours, but not: an instance id no one has.
    let mut ghost = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(60));
    let arn = i["ecs"]["serviceArn"].as_str().unwrap();
    let ghost_arn = format!(
        "{}bbws-inst-{}",
        &arn[..arn.rfind('/').unwrap() + 1],
        "0".repeat(32)
    );
    ghost["resources"] = json!([ghost_arn]);
    assert_eq!(send_one(&app, &ghost).await["outcome"], "unmatched");
    let listed = app
        .walk(&app.admin, "/v1/events?outcome=unmatched", 100)
        .await;
    assert!(listed.iter().any(|e| e["eventId"] == sample["id"]));
    assert!(
        events_of(&app, &owner, &t, "?outcome=unmatched")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_events_and_pattern() {
    let app = app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Mine Co", "PROD").await;
    let (other, other_owner, _) = tenant_with_instance(&app, "Theirs Co", "PROD").await;
    let e = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(60));
    assert_eq!(send_one(&app, &e).await["outcome"], "applied");
    for path in [
        format!("/v1/tenants/{t}/events"),
        format!("/v1/tenants/{t}/events/pattern"),
    ] {
        app.get(&other_owner, &path)
            .await
            .assert_problem(404, "tenant_not_found");
    }
    app.put(
        &other_owner,
        &format!("/v1/tenants/{t}/events/pattern"),
        json!({"pattern": {"source": ["aws.ecs"]}}),
    )
    .await
    .assert_problem(404, "tenant_not_found");
    app.delete(&other_owner, &format!("/v1/tenants/{t}/events/pattern"))
        .await
        .assert_problem(404, "tenant_not_found");
    assert!(
        events_of(&app, &other_owner, &other, "")
            .await
            .iter()
            .all(|r| r["eventId"] != e["id"])
    );
    assert!(
        events_of(&app, &owner, &t, "")
            .await
            .iter()
            .any(|r| r["eventId"] == e["id"])
    );
    // A viewer reads; only an admin sets the pattern.
    let (_, viewer) = app.member(&t, "viewer@mine.example", "viewer").await;
    assert!(!events_of(&app, &viewer, &t, "").await.is_empty());
    app.put(
        &viewer,
        &format!("/v1/tenants/{t}/events/pattern"),
        json!({"pattern": {"source": ["aws.ecs"]}}),
    )
    .await
    .assert_problem(403, "policy_denied");
}

#[tokio::test]
async fn a_deployment_syncs_only_the_environments_it_accepts() {
    let app = app_with(Duration::ZERO, |c| {
        c.events.environments = vec!["PROD".into()]
    })
    .await;
    let (_, _, prod) = tenant_with_instance(&app, "Prod Co", "PROD").await;
    let (t, owner, dev) = if on_moto() {
        tenant_with_instance(&app, "Dev Co", "DEV").await
    } else {
        // The simulation's events of a DEV instance are filtered too, so
        // its creation is not waited for by events.
        let t = app.tenant(&app.admin, "Dev Co", None).await;
        let (_, owner) = app.member(&t, "owner@dev.example", "owner").await;
        let created = app
            .accepted(
                &owner,
                &format!("/v1/tenants/{t}/instances"),
                json!({"name": "web", "environment": "DEV"}),
            )
            .await;
        let i = app
            .get(
                &owner,
                &instance_path(&t, created["instanceId"].as_str().unwrap()),
            )
            .await
            .ok(200)
            .clone();
        (t, owner, i)
    };
    assert_eq!(
        send_one(
            &app,
            &service_event(&prod, "SERVICE_STEADY_STATE", "INFO", &at(60))
        )
        .await["outcome"],
        "applied"
    );
    let before = app
        .get(
            &owner,
            &instance_path(&t, dev["instanceId"].as_str().unwrap()),
        )
        .await
        .ok(200)["version"]
        .clone();
    let r = send_one(
        &app,
        &service_event(&dev, "SERVICE_STEADY_STATE", "INFO", &at(60)),
    )
    .await;
    assert_eq!(r["outcome"], "filtered", "{r}");
    assert!(r["reason"].as_str().unwrap().contains("DEV"), "{r}");
    let after = app
        .get(
            &owner,
            &instance_path(&t, dev["instanceId"].as_str().unwrap()),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(
        after["version"], before,
        "a filtered event leaves the state alone"
    );
    let listed = events_of(&app, &owner, &t, "?outcome=filtered").await;
    assert!(listed.iter().any(|e| e["filter"]["verdict"] == "drop"
        && e["filter"]["components"][0]["source"] == "platform"));
}

#[tokio::test]
async fn the_gate_checks_the_source_and_a_tenant_pattern_filters_without_code() {
    let app = app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Pattern Co", "PROD").await;
    let mut foreign = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(60));
    foreign["source"] = "my.app".into();
    let r = send_one(&app, &foreign).await;
    assert_eq!(r["outcome"], "filtered", "{r}");
    assert!(r["reason"].as_str().unwrap().contains("my.app"), "{r}");

    let pattern_path = format!("/v1/tenants/{t}/events/pattern");
    app.get(&owner, &pattern_path)
        .await
        .assert_problem(404, "event_pattern_not_set");
    // A pattern EventBridge would refuse changes nothing.
    app.put(
        &owner,
        &pattern_path,
        json!({"pattern": {"detail": {"eventName": "not-a-list"}}}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.get(&owner, &pattern_path)
        .await
        .assert_problem(404, "event_pattern_not_set");
    let pattern = json!({"detail-type": ["ECS Deployment State Change", "ECS Service Action"],
                         "detail": {"eventName": [{"anything-but": "SERVICE_STEADY_STATE"}]}});
    let res = app
        .put(&owner, &pattern_path, json!({"pattern": pattern}))
        .await;
    assert_eq!(res.ok(200)["pattern"], pattern);
    assert_eq!(
        app.get(&owner, &pattern_path).await.ok(200)["pattern"],
        pattern
    );

    let steady = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(61));
    let r = send_one(&app, &steady).await;
    assert_eq!(r["outcome"], "filtered", "{r}");
    assert!(r["reason"].as_str().unwrap().contains("pattern"), "{r}");
    let task = task_event(&i, "p1", 2, "RUNNING", "RUNNING");
    assert_eq!(send_one(&app, &task).await["outcome"], "filtered");
    let deployment = deployment_event(
        &i,
        "SERVICE_DEPLOYMENT_IN_PROGRESS",
        "ecs-svc/9",
        &at(62),
        None,
    );
    assert_eq!(send_one(&app, &deployment).await["outcome"], "applied");

    app.delete(&owner, &pattern_path).await.ok(204);
    let steady = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(63));
    assert_eq!(send_one(&app, &steady).await["outcome"], "applied");
}

/// A deployment event sent to `i` (applied), and its record as listed.
async fn applied_deployment(
    app: &TestApp,
    owner: &str,
    t: &str,
    i: &Value,
    deployment_id: &str,
) -> Value {
    let deployment = deployment_event(
        i,
        "SERVICE_DEPLOYMENT_IN_PROGRESS",
        deployment_id,
        &at(1),
        None,
    );
    assert_eq!(send_one(app, &deployment).await["outcome"], "applied");
    let listed = events_of(app, owner, t, "?outcome=applied").await;
    listed
        .into_iter()
        .find(|e| e["eventId"] == deployment["id"])
        .unwrap()
}

#[tokio::test]
async fn a_tenant_filter_guest_drops_and_annotates_and_a_hostile_one_fails_closed() {
    let app = app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Guest Co", "PROD").await;
    let wasm = std::fs::read(guests::EVENT_FILTER_BY_TYPE).unwrap();
    let up = app.upload(&owner, &t, "event-filter", wasm, true).await;
    let version = up.ok(201)["version"].as_str().unwrap().to_string();

    let task = task_event(&i, "g1", 2, "RUNNING", "RUNNING");
    let r = send_one(&app, &task).await;
    assert_eq!(r["outcome"], "filtered", "{r}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("task changes are not synced"),
        "{r}"
    );
    let rec = applied_deployment(&app, &owner, &t, &i, "ecs-svc/7").await;
    assert_eq!(rec["filter"]["verdict"], "annotate");
    assert_eq!(rec["filter"]["annotations"]["tenant"], t.as_str());
    assert_eq!(rec["filter"]["annotations"]["resources"], "1");
    assert_eq!(
        rec["filter"]["components"][1]["component"],
        version.as_str()
    );

    // A filter that never returns is stopped at its deadline; the event is
    // dropped and the state untouched.
    let wasm = std::fs::read(guests::EVENT_FILTER_LOOP).unwrap();
    app.upload(&owner, &t, "event-filter", wasm, true)
        .await
        .ok(201);
    let id = i["instanceId"].as_str().unwrap();
    let before = app.get(&owner, &instance_path(&t, id)).await.ok(200)["version"].clone();
    let steady = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(60));
    let r = send_one(&app, &steady).await;
    assert_eq!(r["outcome"], "filtered", "{r}");
    assert!(r["reason"].as_str().unwrap().contains("timeout"), "{r}");
    assert_eq!(
        app.get(&owner, &instance_path(&t, id)).await.ok(200)["version"],
        before
    );
    let listed = events_of(&app, &owner, &t, "?outcome=filtered").await;
    assert!(
        listed
            .iter()
            .any(|e| e["eventId"] == steady["id"] && e["filter"]["verdict"] == "error")
    );

    // A filter that traps fails closed the same way.
    let wasm = std::fs::read(guests::EVENT_FILTER_TRAP).unwrap();
    app.upload(&owner, &t, "event-filter", wasm, true)
        .await
        .ok(201);
    let steady = service_event(&i, "SERVICE_STEADY_STATE", "INFO", &at(70));
    let r = send_one(&app, &steady).await;
    assert_eq!(r["outcome"], "filtered", "{r}");
    assert!(r["reason"].as_str().unwrap().contains("trap"), "{r}");
    assert_eq!(
        app.get(&owner, &instance_path(&t, id)).await.ok(200)["version"],
        before
    );
}

/// The same filter in Python (examples/event-filter-python): it drops task
/// changes and labels deployments, reading the event's detail with Python's
/// `json`.
#[tokio::test]
async fn a_python_event_filter_drops_and_annotates_as_the_rust_one() {
    let Some(dir) = bbws_testkit::language_guests("the Python event filter") else {
        return;
    };
    let app = app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Snake Co", "PROD").await;
    let wasm = std::fs::read(dir.join("event-filter-python.wasm")).unwrap();
    let up = app.upload(&owner, &t, "event-filter", wasm, true).await;
    let version = up.ok(201)["version"].as_str().unwrap().to_string();

    let task = task_event(&i, "p1", 2, "RUNNING", "RUNNING");
    let r = send_one(&app, &task).await;
    assert_eq!(r["outcome"], "filtered", "{r}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("event-filter-python: task changes are not synced"),
        "{r}"
    );
    let rec = applied_deployment(&app, &owner, &t, &i, "ecs-svc/8").await;
    assert_eq!(rec["filter"]["verdict"], "annotate");
    let labels = &rec["filter"]["annotations"];
    assert_eq!(labels["tenant"], t.as_str());
    assert_eq!(labels["resources"], "1");
    assert_eq!(labels["eventName"], "SERVICE_DEPLOYMENT_IN_PROGRESS");
    assert_eq!(
        rec["filter"]["components"][1]["component"],
        version.as_str()
    );
}

#[tokio::test]
async fn the_simulations_own_events_take_the_same_path() {
    if on_moto() {
        return; // moto's ECS emits no events
    }
    let app = app().await;
    let (t, owner, i) = tenant_with_instance(&app, "Local Co", "PROD").await;
    let listed = events_of(
        &app,
        &owner,
        &t,
        &format!("?instanceId={}", i["instanceId"].as_str().unwrap()),
    )
    .await;
    assert!(listed.iter().all(|e| e["via"] == "local"));
    for kind in [
        "ECS Task State Change",
        "ECS Deployment State Change",
        "ECS Service Action",
    ] {
        assert!(
            listed
                .iter()
                .any(|e| e["detailType"] == kind && e["outcome"] == "applied"),
            "no applied {kind}"
        );
    }
    assert_eq!(running_in_marks(&i), 2);
}

/// A recorded stream for one instance, as AWS would send it: three
/// deployments (one failed, one a rollback), eight tasks through their
/// states (some stopped), a steady state every five minutes, an
/// impairment, and one event in eight delivered twice. `tag` keeps the
/// ids of two copies of the stream apart.
fn recorded_stream(i: &Value, tag: &str, start: chrono::DateTime<chrono::Utc>) -> Vec<Value> {
    let ts = |secs: i64| {
        (start + chrono::TimeDelta::seconds(secs))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let mut out = Vec::new();
    let mut n = 0;
    let mut push = |mut e: Value, at: &str| {
        n += 1;
        e["id"] = format!("{tag}-{n}").into();
        e["time"] = at.into();
        out.push(e.clone());
        if n % 8 == 0 {
            out.push(e); // a duplicate, as EventBridge delivers at least once
        }
    };
    for (d, (end, reason)) in [
        ("SERVICE_DEPLOYMENT_COMPLETED", None),
        ("SERVICE_DEPLOYMENT_FAILED", Some("circuit breaker")),
        ("SERVICE_DEPLOYMENT_COMPLETED", None),
    ]
    .iter()
    .enumerate()
    {
        let id = format!("ecs-svc/r{d}");
        let base = d as i64 * 600;
        let reason_in = (d == 2).then_some("rolling back to ecs-svc/r0");
        push(
            deployment_event(
                i,
                "SERVICE_DEPLOYMENT_IN_PROGRESS",
                &id,
                &ts(base),
                reason_in,
            ),
            &ts(base),
        );
        push(
            deployment_event(i, end, &id, &ts(base + 120), *reason),
            &ts(base + 120),
        );
    }
    for task in 0..8 {
        let name = format!("r{task}");
        let base = task as i64 * 90;
        let states: &[(&str, &str)] = if task % 3 == 2 {
            &[
                ("PROVISIONING", "RUNNING"),
                ("PENDING", "RUNNING"),
                ("RUNNING", "RUNNING"),
                ("RUNNING", "STOPPED"),
                ("STOPPED", "STOPPED"),
            ]
        } else {
            &[
                ("PROVISIONING", "RUNNING"),
                ("PENDING", "RUNNING"),
                ("RUNNING", "RUNNING"),
            ]
        };
        for (v, (last, desired)) in states.iter().enumerate() {
            let mut e = task_event(i, &name, v as u64 + 1, last, desired);
            e["detail"]["updatedAt"] = ts(base + v as i64 * 10).into();
            push(e, &ts(base + v as i64 * 10));
        }
    }
    for k in 0..5 {
        push(
            service_event(i, "SERVICE_STEADY_STATE", "INFO", &ts(k * 300 + 5)),
            &ts(k * 300 + 5),
        );
    }
    push(
        service_event(i, "SERVICE_TASK_PLACEMENT_FAILURE", "ERROR", &ts(700)),
        &ts(700),
    );
    push(
        service_event(i, "SERVICE_DESIRED_COUNT_UPDATED", "INFO", &ts(710)),
        &ts(710),
    );
    out
}

/// What a stream leaves on an instance, minus what the simulation's own
/// events of its creation left (their tasks and deployment ids are random).
fn synced_state(i: &Value) -> Value {
    let sync = &i["eventSync"];
    let only = |map: &Value, prefix: &str| -> Value {
        map.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.contains(prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<serde_json::Map<_, _>>()
            })
            .map(Value::Object)
            .unwrap_or(json!({}))
    };
    json!({
        "tasks": only(&sync["tasks"], "/r"),
        "deployments": only(&sync["deployments"], "ecs-svc/r"),
        "service": sync["service"],
        "steadyAt": sync["steadyAt"],
        "impaired": sync["impaired"],
        "runningCount": i["ecs"]["runningCount"],
        "pendingCount": i["ecs"]["pendingCount"],
    })
}

#[tokio::test]
async fn a_recorded_stream_sent_in_order_or_twice_shuffled_ends_in_the_same_state() {
    let app = app_with(Duration::ZERO, |c| {
        if let bbws_host::server::ProviderSpec::Local { capacity } = &mut c.instances.provider {
            *capacity = 100;
        }
    })
    .await;
    let app = std::sync::Arc::new(app);
    let t = app.tenant(&app.admin, "Replay Co", None).await;
    let (_, owner) = app.member(&t, "owner@replay.example", "owner").await;
    // `pairs` instances get the stream in order, as many others get it twice,
    // shuffled, from 4 concurrent clients.
    let mut ids = Vec::new();
    // On moto (DynamoDB through moto's one-request-at-a-time server) the
    // same scenario runs on 3 + 3 instances, to keep the run short.
    let pairs = if on_moto() { 3 } else { 20 };
    for k in 0..2 * pairs {
        let created = app
            .post(
                &owner,
                &format!("/v1/tenants/{t}/instances"),
                json!({"name": format!("r{k}")}),
            )
            .await;
        let created = created.ok(202).clone();
        ids.push((
            created["instanceId"].as_str().unwrap().to_string(),
            created["operationId"].as_str().unwrap().to_string(),
        ));
    }
    let mut instances = Vec::new();
    for (id, op) in &ids {
        assert_eq!(app.wait_operation(&owner, op).await["status"], "SUCCEEDED");
        let i = if on_moto() {
            app.get(&owner, &instance_path(&t, id))
                .await
                .ok(200)
                .clone()
        } else {
            wait_instance(&app, &owner, &t, id, |i| {
                i["eventSync"]["steadyAt"].is_string()
            })
            .await
        };
        instances.push(i);
    }
    let start = chrono::Utc::now() + chrono::TimeDelta::hours(1);
    let (ordered, shuffled) = instances.split_at(pairs);
    let mut in_order = Vec::new();
    let mut twice = Vec::new();
    for (k, (a, b)) in ordered.iter().zip(shuffled).enumerate() {
        in_order.extend(recorded_stream(a, &format!("a{k}"), start));
        let stream = recorded_stream(b, &format!("b{k}"), start);
        twice.extend(stream.iter().cloned());
        twice.extend(stream);
    }
    assert!(in_order.len() >= 25 * pairs, "{} events", in_order.len());
    for chunk in in_order.chunks(25) {
        send(&app, json!({"events": chunk})).await.ok(200);
    }
    // A fixed shuffle (xorshift), so a failure can be replayed.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for k in (1..twice.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        twice.swap(k, (seed % (k as u64 + 1)) as usize);
    }
    let mut clients = Vec::new();
    for part in twice.chunks(twice.len().div_ceil(4)) {
        let (app, part) = (app.clone(), part.to_vec());
        clients.push(tokio::spawn(async move {
            for chunk in part.chunks(25) {
                let res = send(&app, json!({"events": chunk})).await;
                assert!(
                    outcomes(res.ok(200))
                        .iter()
                        .all(|o| o != "rejected" && o != "unmatched")
                );
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    for (a, b) in ordered.iter().zip(shuffled) {
        let a = app
            .get(
                &owner,
                &instance_path(&t, a["instanceId"].as_str().unwrap()),
            )
            .await
            .ok(200)
            .clone();
        let b = app
            .get(
                &owner,
                &instance_path(&t, b["instanceId"].as_str().unwrap()),
            )
            .await
            .ok(200)
            .clone();
        assert_eq!(
            synced_state(&a),
            synced_state(&b),
            "instance {} and {}",
            a["instanceId"],
            b["instanceId"]
        );
        assert_eq!(synced_state(&a)["tasks"].as_object().unwrap().len(), 8);
        assert_eq!(
            synced_state(&a)["deployments"]["ecs-svc/r1"]["state"],
            "FAILED"
        );
    }
}
