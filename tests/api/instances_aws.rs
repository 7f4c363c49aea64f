//! Instances on the `aws` provider, against moto's ECS, RDS and EFS: what
//! bbws builds is read back with the AWS SDKs themselves, not through
//! bbws. moto differs from AWS where the README's "Instances on AWS" says:
//! a service starts `MOTO_ECS_SERVICE_RUNNING` (2, set by
//! `scripts/with-moto.sh`) tasks, a scaling is running at once, and
//! databases and file systems are available at once. A deployment
//! therefore never fails on moto; a scaling the provider refuses (its
//! service deleted behind bbws's back) is how a rollback is proven here.

use std::time::Duration;

use bbws_host::infra::instances::aws::AwsSettings;
use bbws_host::server::ProviderSpec;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

struct Aws {
    ecs: aws_sdk_ecs::Client,
    rds: aws_sdk_rds::Client,
    efs: aws_sdk_efs::Client,
    cluster: String,
}

/// A server on the aws provider with a cluster of its own, and SDK
/// clients on the same moto.
async fn aws_app() -> (TestApp, Aws) {
    let cluster = bbws_testkit::unique_name("ecs");
    let settings = AwsSettings {
        cluster: cluster.clone(),
        ..AwsSettings::default()
    };
    let app = spawn_app_with(|c| {
        c.instances.provider = ProviderSpec::Aws(settings);
        c.instances.poll = Some(Duration::from_millis(50));
        c.instances.deploy_timeout = Duration::from_secs(20);
    })
    .await;
    let endpoint =
        bbws_testkit::aws_endpoint("instances on moto").expect("the server runs on moto");
    let sdk = bbws_testkit::local_aws(&endpoint).await;
    let aws = Aws {
        ecs: aws_sdk_ecs::Client::new(&sdk),
        rds: aws_sdk_rds::Client::new(&sdk),
        efs: aws_sdk_efs::Client::new(&sdk),
        cluster,
    };
    (app, aws)
}

fn instances(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/instances")
}

fn instance_path(tenant: &str, instance: &str) -> String {
    format!("/v1/tenants/{tenant}/instances/{instance}")
}

async fn active_instance(app: &TestApp, tenant: &str, body: Value) -> Value {
    let accepted = app.accepted(&app.admin, &instances(tenant), body).await;
    let id = accepted["instanceId"].as_str().unwrap();
    let i = app
        .get(&app.admin, &instance_path(tenant, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(i["status"], "ACTIVE", "{i}");
    i
}

impl Aws {
    async fn service(&self, name: &str) -> aws_sdk_ecs::types::Service {
        let out = self
            .ecs
            .describe_services()
            .cluster(&self.cluster)
            .services(name)
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .expect("DescribeServices");
        out.services().first().cloned().expect("the service exists")
    }

    async fn task_definition(&self, arn: &str) -> aws_sdk_ecs::types::TaskDefinition {
        self.ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .expect("DescribeTaskDefinition")
            .task_definition()
            .cloned()
            .unwrap()
    }

    async fn database(&self, name: &str) -> Option<aws_sdk_rds::types::DbInstance> {
        match self
            .rds
            .describe_db_instances()
            .db_instance_identifier(name)
            .send()
            .await
        {
            Ok(out) => out.db_instances().first().cloned(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_db_instance_not_found_fault()) =>
            {
                None
            }
            Err(e) => panic!("DescribeDBInstances: {e:?}"),
        }
    }

    async fn file_system(&self, token: &str) -> Option<aws_sdk_efs::types::FileSystemDescription> {
        self.efs
            .describe_file_systems()
            .creation_token(token)
            .send()
            .await
            .expect("DescribeFileSystems")
            .file_systems()
            .first()
            .cloned()
    }
}

#[tokio::test]
async fn on_aws_an_instance_is_an_ecs_service_an_rds_database_and_an_efs_file_system() {
    let (app, aws) = aws_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let i = active_instance(
        &app,
        &t,
        json!({"name": "web", "environment": "SIT", "tags": {"team": "shop"}}),
    )
    .await;
    let id = i["instanceId"].as_str().unwrap();
    let name = i["ecs"]["service"].as_str().unwrap().to_string();
    assert_eq!(i["ecs"]["cluster"], aws.cluster.as_str());
    assert!(
        i["ecs"]["serviceArn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:ecs:us-east-1:123456789012:service/"),
        "{i}"
    );
    assert_eq!(i["ecs"]["runningCount"], 2);

    // The service, as ECS itself describes it.
    let svc = aws.service(&name).await;
    assert_eq!(svc.status(), Some("ACTIVE"));
    assert_eq!(svc.desired_count(), 2);
    assert_eq!(
        svc.launch_type(),
        Some(&aws_sdk_ecs::types::LaunchType::Fargate)
    );
    let tags: Vec<(String, String)> = svc
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().into(), t.value().unwrap().into()))
        .collect();
    for want in [
        ("Environment", "SIT"),
        ("team", "shop"),
        ("bbws:tenant", t.as_str()),
        ("bbws:instance", id),
    ] {
        assert!(
            tags.contains(&(want.0.into(), want.1.into())),
            "{want:?} in {tags:?}"
        );
    }
    // (moto does not answer the deployment configuration, so the circuit
    // breaker bbws asks for is not checked here.)

    // Its task definition runs WordPress on the file system, against the
    // database.
    let td = aws.task_definition(svc.task_definition().unwrap()).await;
    assert_eq!(td.cpu(), Some("512"));
    assert_eq!(td.memory(), Some("1024"));
    let volume = td.volumes().first().expect("a volume");
    assert_eq!(
        volume
            .efs_volume_configuration()
            .map(|e| e.file_system_id()),
        Some(i["efs"]["fileSystemId"].as_str().unwrap())
    );
    let container = td.container_definitions().first().unwrap();
    let env: Vec<(&str, &str)> = container
        .environment()
        .iter()
        .map(|kv| (kv.name().unwrap(), kv.value().unwrap()))
        .collect();
    assert!(
        env.contains(&("WORDPRESS_DB_HOST", i["rds"]["endpoint"].as_str().unwrap())),
        "{env:?}"
    );

    let db = aws.database(&name).await.expect("the database exists");
    assert_eq!(db.db_instance_class(), Some("db.t4g.micro"));
    assert_eq!(db.allocated_storage(), Some(20));
    assert_eq!(db.engine(), Some("mysql"));
    assert!(db.storage_encrypted() == Some(true));
    assert!(
        db.master_user_secret().is_some(),
        "RDS manages the password"
    );
    let fs = aws
        .file_system(&name)
        .await
        .expect("the file system exists");
    assert_eq!(
        fs.file_system_id(),
        i["efs"]["fileSystemId"].as_str().unwrap()
    );
    assert!(fs.encrypted() == Some(true));

    // The status reads the services live.
    let status = app
        .get(&app.admin, &format!("{}/status", instance_path(&t, id)))
        .await
        .ok(200)
        .clone();
    assert_eq!(status["overall"], "HEALTHY", "{status}");
    assert_eq!(status["rds"]["status"], "available");
    assert_eq!(status["efs"]["lifeCycleState"], "available");
}

#[tokio::test]
async fn on_aws_a_scaling_updates_the_service_and_one_the_provider_refuses_is_rolled_back() {
    let (app, aws) = aws_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let i = active_instance(&app, &t, json!({"name": "web"})).await;
    let id = i["instanceId"].as_str().unwrap();
    let name = i["ecs"]["service"].as_str().unwrap().to_string();
    let scale = format!("{}/scale", instance_path(&t, id));

    let scaled = app
        .accepted(&app.admin, &scale, json!({"desiredCount": 5}))
        .await;
    assert_eq!(scaled["desiredCount"], 5);
    let after = app
        .get(&app.admin, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(after["lastScaling"]["status"], "SUCCEEDED", "{after}");
    assert_eq!(after["ecs"]["desiredCount"], 5);
    assert_eq!(aws.service(&name).await.desired_count(), 5);

    // Someone deletes the service behind bbws's back: the next scaling is
    // refused by ECS, and rolled back in git.
    aws.ecs
        .delete_service()
        .cluster(&aws.cluster)
        .service(&name)
        .force(true)
        .send()
        .await
        .expect("DeleteService");
    let res = app
        .post(&app.admin, &scale, json!({"desiredCount": 7}))
        .await;
    let op = app
        .wait_operation(&app.admin, res.ok(202)["operationId"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "FAILED", "{op}");
    assert_eq!(op["error"]["code"], "scaling_rolled_back");
    let after = app
        .get(&app.admin, &instance_path(&t, id))
        .await
        .ok(200)
        .clone();
    assert_eq!(after["desiredCount"], 5, "{after}");
    assert_eq!(after["lastScaling"]["status"], "ROLLED_BACK");
    assert!(
        after["lastScaling"]["reason"]
            .as_str()
            .unwrap()
            .contains("not active"),
        "{after}"
    );
    assert_eq!(after["appliedCommit"], after["gitCommit"]);
    let status = app
        .get(&app.admin, &format!("{}/status", instance_path(&t, id)))
        .await
        .ok(200)
        .clone();
    assert_eq!(status["ecs"]["status"], "INACTIVE", "{status}");
    assert_eq!(status["overall"], "UNHEALTHY", "{status}");
}

#[tokio::test]
async fn on_aws_new_sizes_deploy_a_new_task_definition_and_resize_the_database() {
    let (app, aws) = aws_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let i = active_instance(&app, &t, json!({"name": "web"})).await;
    let id = i["instanceId"].as_str().unwrap();
    let name = i["ecs"]["service"].as_str().unwrap().to_string();
    let first = aws
        .service(&name)
        .await
        .task_definition()
        .unwrap()
        .to_string();

    let sizes = json!({"taskCpu": 1024, "taskMemory": 2048, "dbInstanceClass": "db.t4g.small", "dbStorageGib": 50});
    let res = app
        .patch(
            &app.admin,
            &instance_path(&t, id),
            json!({"sizes": sizes}),
            None,
        )
        .await;
    let op = app
        .wait_operation(&app.admin, res.ok(200)["operationId"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "SUCCEEDED", "{op}");
    let svc = aws.service(&name).await;
    let second = svc.task_definition().unwrap();
    assert_ne!(second, first, "a new revision");
    assert!(second.ends_with(":2"), "{second}");
    let td = aws.task_definition(second).await;
    assert_eq!((td.cpu(), td.memory()), (Some("1024"), Some("2048")));
    let db = aws.database(&name).await.unwrap();
    assert_eq!(db.db_instance_class(), Some("db.t4g.small"));
    assert_eq!(db.allocated_storage(), Some(50));

    // Storage does not shrink: refused, nothing changes.
    let smaller = json!({"taskCpu": 1024, "taskMemory": 2048, "dbInstanceClass": "db.t4g.small", "dbStorageGib": 20});
    let res = app
        .patch(
            &app.admin,
            &instance_path(&t, id),
            json!({"sizes": smaller}),
            None,
        )
        .await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["sizes.dbStorageGib"]);
    assert_eq!(
        aws.database(&name).await.unwrap().allocated_storage(),
        Some(50)
    );
    // The same sizes again register nothing new.
    let res = app
        .patch(
            &app.admin,
            &instance_path(&t, id),
            json!({"sizes": sizes}),
            None,
        )
        .await;
    app.wait_operation(&app.admin, res.ok(200)["operationId"].as_str().unwrap())
        .await;
    assert_eq!(aws.service(&name).await.task_definition(), Some(second));
}

#[tokio::test]
async fn on_aws_deleting_a_tenant_removes_every_part_of_its_instances_and_keeps_a_final_snapshot() {
    let (app, aws) = aws_app().await;
    let t = app.tenant(&app.admin, "Shop Co", None).await;
    let i = active_instance(&app, &t, json!({"name": "web"})).await;
    let name = i["ecs"]["service"].as_str().unwrap().to_string();

    let res = app
        .delete(&app.admin, &format!("/v1/tenants/{t}?cascade=true"))
        .await;
    assert_eq!(res.status, 202, "{res:?}");
    let op = app
        .wait_operation(&app.admin, res.body["operationId"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "SUCCEEDED", "{op}");
    let svc = aws.service(&name).await;
    assert_eq!(svc.status(), Some("INACTIVE"));
    assert!(aws.database(&name).await.is_none(), "the database is gone");
    assert!(
        aws.file_system(&name).await.is_none(),
        "the file system is gone"
    );
    let families = aws
        .ecs
        .list_task_definitions()
        .family_prefix(&name)
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    assert!(families.task_definition_arns().is_empty(), "{families:?}");
    let snapshots = aws
        .rds
        .describe_db_snapshots()
        .db_instance_identifier(&name)
        .send()
        .await
        .unwrap();
    assert!(
        snapshots.db_snapshots().iter().any(|s| s
            .db_snapshot_identifier()
            .is_some_and(|id| id.starts_with(&format!("{name}-final-")))),
        "{snapshots:?}"
    );
}
