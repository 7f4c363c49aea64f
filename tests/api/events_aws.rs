//! Events through SQS on moto: a real EventBridge rule (`PutRule`) with
//! the queue as its target (`PutTargets`), events put on the bus
//! (`PutEvents`) and delivered by moto to the queue bbws long-polls
//! (`--events-queue`); and a message received too often without being
//! recorded, moved to the dead-letter queue.

use std::time::Duration;

use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

async fn aws() -> aws_config::SdkConfig {
    let endpoint =
        bbws_testkit::aws_endpoint("events through SQS").expect("the server runs on moto");
    bbws_testkit::local_aws(&endpoint).await
}

async fn app_on_queue(queue: &str) -> TestApp {
    let queue = queue.to_string();
    spawn_app_with(move |c| {
        c.events.secrets = vec!["unused".into()];
        c.events.queue = Some(queue);
    })
    .await
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn = attrs.attributes.unwrap()[&QueueAttributeName::QueueArn].clone();
    (url, arn)
}

/// Polls the tenant's events until `done` holds for the list (30 s).
async fn wait_events(
    app: &TestApp,
    token: &str,
    tenant: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listed = app
            .walk(token, &format!("/v1/tenants/{tenant}/events"), 100)
            .await;
        if done(&listed) {
            return listed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the events did not arrive: {listed:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_eventbridge_rule_delivers_to_the_queue_and_each_event_is_recorded_once() {
    let queue = bbws_testkit::unique_name("events");
    let app = app_on_queue(&queue).await;
    let t = app.tenant(&app.admin, "Queue Co", None).await;
    let (_, owner) = app.member(&t, "owner@queue.example", "owner").await;
    let created = app
        .accepted(
            &owner,
            &format!("/v1/tenants/{t}/instances"),
            json!({"name": "web"}),
        )
        .await;
    let id = created["instanceId"].as_str().unwrap();
    let i = app
        .get(&owner, &format!("/v1/tenants/{t}/instances/{id}"))
        .await
        .ok(200)
        .clone();
    let service_arn = i["ecs"]["serviceArn"].as_str().unwrap().to_string();

    let aws = aws().await;
    let (_, arn) = queue_arn(&aws_sdk_sqs::Client::new(&aws), &queue).await;
    let eb = aws_sdk_eventbridge::Client::new(&aws);
    let rule = bbws_testkit::unique_name("ecs");
    let pattern = json!({"source": ["aws.ecs"], "resources": [service_arn]});
    eb.put_rule()
        .name(&rule)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule(&rule)
        .targets(Target::builder().id("bbws").arn(&arn).build().unwrap())
        .send()
        .await
        .unwrap();
    let at = |secs: i64| {
        (chrono::Utc::now() + chrono::TimeDelta::seconds(secs))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let steady = json!({"eventType": "INFO", "eventName": "SERVICE_STEADY_STATE",
                        "clusterArn": i["ecs"]["clusterArn"], "createdAt": at(60)});
    let deployment = json!({"eventType": "INFO", "eventName": "SERVICE_DEPLOYMENT_COMPLETED",
                            "deploymentId": "ecs-svc/q1", "updatedAt": at(61)});
    let entry = |detail_type: &str, detail: &Value| {
        PutEventsRequestEntry::builder()
            .source("aws.ecs")
            .detail_type(detail_type)
            .resources(&service_arn)
            .detail(detail.to_string())
            .build()
    };
    let put = eb
        .put_events()
        .entries(entry("ECS Service Action", &steady))
        .entries(entry("ECS Deployment State Change", &deployment))
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count, 0);

    let listed = wait_events(&app, &owner, &t, |l| {
        l.iter().filter(|e| e["via"] == "sqs").count() >= 2
    })
    .await;
    let from_sqs: Vec<&Value> = listed.iter().filter(|e| e["via"] == "sqs").collect();
    assert!(
        from_sqs.iter().all(|e| e["outcome"] == "applied"),
        "{from_sqs:#?}"
    );
    let got = app
        .get(&owner, &format!("/v1/tenants/{t}/instances/{id}"))
        .await
        .ok(200)
        .clone();
    assert_eq!(got["eventSync"]["steadyAt"], steady["createdAt"]);
    assert_eq!(
        got["eventSync"]["deployments"]["ecs-svc/q1"]["state"],
        "COMPLETED"
    );
    // Deleted once recorded: the queue is empty.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (url, _) = queue_arn(&sqs, &queue).await;
    let left = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(left.messages.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn a_message_received_too_often_goes_to_the_dead_letter_queue() {
    let queue = bbws_testkit::unique_name("events");
    let aws = aws().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let url = sqs
        .create_queue()
        .queue_name(&queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sqs.send_message()
        .queue_url(&url)
        .message_body(r#"{"id": "poison"}"#)
        .send()
        .await
        .unwrap();
    // Five receives that never finish it (as five crashed replicas would).
    for _ in 0..5 {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        assert_eq!(got.messages.unwrap_or_default().len(), 1);
    }
    let app = app_on_queue(&queue).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let dead = app
            .get(&app.admin, "/v1/events/dead-letters")
            .await
            .ok(200)
            .clone();
        if let Some(d) = dead["items"].as_array().and_then(|a| a.first()) {
            assert!(d["body"].as_str().unwrap().contains("poison"));
            assert!(
                d["reason"].as_str().unwrap().contains("received 5 times"),
                "{d}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no dead letter: {dead}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t = app.tenant(&app.admin, "Dead Co", None).await;
    let (_, owner) = app.member(&t, "owner@dead.example", "owner").await;
    app.get(&owner, "/v1/events/dead-letters")
        .await
        .assert_problem(403, "policy_denied");
}
