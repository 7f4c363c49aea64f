//! The `aws` provider of instances: an instance's ECS service (Fargate), RDS
//! database (MySQL) and EFS file system, through the AWS SDKs. Tested
//! against moto's server (`scripts/with-moto.sh`); what moto does
//! differently is in the README ("Instances on AWS").
//!
//! Every part is named from the instance ([`InstanceSpec::resource_name`]):
//! the ECS service and its task definition family, the RDS identifier and
//! the EFS creation token. [`InstanceProvider::ensure`] looks each part up
//! first and creates only what is missing, so a job delivered again (a
//! retry, a restart after SIGKILL, another replica) adopts what an earlier
//! delivery created. The parts come up in order, each call doing what it
//! can now:
//! 1. the file system and the database are created together;
//! 2. once the file system is available, a mount target in each configured
//!    subnet;
//! 3. once the database has an endpoint, the task definition (a new
//!    revision only when what it runs changed: sizes, image, file system,
//!    database) and the service, or a deployment of the new revision.
//!
//! The database's master password is managed by RDS in Secrets Manager
//! (`ManageMasterUserPassword`); the task reads it through the execution
//! role when one is configured. Deleting an instance deletes the service
//! (forced), the task definitions, the mount targets and the file system,
//! and the database after a final snapshot (`<name>-final-<time>`): a
//! deleted site's data can still be restored by an operator.

use async_trait::async_trait;
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types as ecs;
use aws_sdk_efs::types as efs;
use aws_sdk_rds::types as rds;
use sha2::{Digest, Sha256};

use super::{Infrastructure, InstanceProvider, InstanceSpec, ProviderError};
use crate::domain::instance::{Deployment, Ecs, Efs, Rds};

/// The container every task runs.
const CONTAINER: &str = "wordpress";
/// The volume the file system is mounted as.
const VOLUME: &str = "wp-content";
const DB_NAME: &str = "wordpress";
const DB_USER: &str = "wordpress";

/// Where and how the provider builds.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// The ECS cluster services run in.
    pub cluster: String,
    /// Subnets for the tasks (awsvpc) and the file system's mount targets;
    /// empty: no network configuration is sent (moto takes that; AWS's
    /// Fargate does not).
    pub subnets: Vec<String>,
    /// Security groups for the tasks and mount targets.
    pub security_groups: Vec<String>,
    /// The WordPress image tasks run.
    pub image: String,
    /// The task execution role (pulls the image, reads the database
    /// secret); without it, the task gets no database password.
    pub execution_role_arn: Option<String>,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            cluster: "bbws".into(),
            subnets: Vec::new(),
            security_groups: Vec::new(),
            image: "wordpress:6-apache".into(),
            execution_role_arn: None,
        }
    }
}

/// ECS, RDS and EFS on AWS.
pub struct AwsInstances {
    ecs: aws_sdk_ecs::Client,
    rds: aws_sdk_rds::Client,
    efs: aws_sdk_efs::Client,
    settings: AwsSettings,
}

/// A database as RDS describes it.
struct Database {
    status: String,
    endpoint: Option<String>,
    class: String,
    storage_gib: u32,
    secret_arn: Option<String>,
}

impl AwsInstances {
    pub fn new(aws: &aws_config::SdkConfig, settings: AwsSettings) -> Self {
        Self {
            ecs: aws_sdk_ecs::Client::new(aws),
            rds: aws_sdk_rds::Client::new(aws),
            efs: aws_sdk_efs::Client::new(aws),
            settings,
        }
    }

    /// Checks that the cluster exists; with `create`, creates it if it
    /// does not (development, as `--create-table` does for the table).
    pub async fn check_cluster(&self, create: bool) -> Result<(), ProviderError> {
        let cluster = &self.settings.cluster;
        let out = self
            .ecs
            .describe_clusters()
            .clusters(cluster)
            .send()
            .await
            .map_err(|e| sdk("DescribeClusters", e))?;
        let active = out.clusters().iter().any(|c| c.status() == Some("ACTIVE"));
        if active {
            return Ok(());
        }
        if !create {
            return Err(ProviderError::refused(
                "cluster_missing",
                format!(
                    "the ECS cluster {cluster} does not exist (create it, or start with --create-table)"
                ),
            ));
        }
        self.ecs
            .create_cluster()
            .cluster_name(cluster)
            .send()
            .await
            .map_err(|e| sdk("CreateCluster", e))?;
        tracing::info!(%cluster, "created the ECS cluster");
        Ok(())
    }

    // --- EFS -------------------------------------------------------------

    async fn file_system(
        &self,
        name: &str,
    ) -> Result<Option<efs::FileSystemDescription>, ProviderError> {
        let out = self
            .efs
            .describe_file_systems()
            .creation_token(name)
            .send()
            .await
            .map_err(|e| sdk("DescribeFileSystems", e))?;
        Ok(out.file_systems().first().cloned())
    }

    async fn create_file_system(&self, spec: &InstanceSpec) -> Result<(), ProviderError> {
        let mut call = self
            .efs
            .create_file_system()
            .creation_token(spec.resource_name())
            .encrypted(true)
            .performance_mode(efs::PerformanceMode::GeneralPurpose);
        for (k, v) in &spec.tags {
            let tag = efs::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::refused("invalid_tag", e.to_string()))?;
            call = call.tags(tag);
        }
        match call.send().await {
            Ok(_) => Ok(()),
            // Another delivery created it first: adopt it.
            Err(e) if code(&e) == "FileSystemAlreadyExists" => Ok(()),
            Err(e) => Err(sdk("CreateFileSystem", e)),
        }
    }

    async fn mount_targets(
        &self,
        file_system_id: &str,
    ) -> Result<Vec<efs::MountTargetDescription>, ProviderError> {
        let out = self
            .efs
            .describe_mount_targets()
            .file_system_id(file_system_id)
            .send()
            .await
            .map_err(|e| sdk("DescribeMountTargets", e))?;
        Ok(out.mount_targets().to_vec())
    }

    /// A mount target in each configured subnet that has none.
    async fn ensure_mount_targets(&self, file_system_id: &str) -> Result<(), ProviderError> {
        if self.settings.subnets.is_empty() {
            return Ok(());
        }
        let targets = self.mount_targets(file_system_id).await?;
        for subnet in &self.settings.subnets {
            if targets.iter().any(|m| m.subnet_id() == subnet) {
                continue;
            }
            let call = self
                .efs
                .create_mount_target()
                .file_system_id(file_system_id)
                .subnet_id(subnet)
                .set_security_groups(Some(self.settings.security_groups.clone()));
            match call.send().await {
                Ok(_) => {}
                Err(e) if code(&e) == "MountTargetConflict" => {}
                Err(e) => return Err(sdk("CreateMountTarget", e)),
            }
        }
        Ok(())
    }

    /// Deletes the mount targets, then (once they are gone) the file
    /// system.
    async fn delete_file_system(&self, file_system_id: &str) -> Result<(), ProviderError> {
        let targets = self.mount_targets(file_system_id).await?;
        if !targets.is_empty() {
            for m in &targets {
                if m.life_cycle_state() != &efs::LifeCycleState::Deleting {
                    self.efs
                        .delete_mount_target()
                        .mount_target_id(m.mount_target_id())
                        .send()
                        .await
                        .map_err(|e| sdk("DeleteMountTarget", e))?;
                }
            }
            // The file system goes once its mount targets have.
            return Ok(());
        }
        match self
            .efs
            .delete_file_system()
            .file_system_id(file_system_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if matches!(code(&e), "FileSystemNotFound" | "FileSystemInUse") => Ok(()),
            Err(e) => Err(sdk("DeleteFileSystem", e)),
        }
    }

    // --- RDS -------------------------------------------------------------

    async fn database(&self, name: &str) -> Result<Option<Database>, ProviderError> {
        let out = match self
            .rds
            .describe_db_instances()
            .db_instance_identifier(name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if code(&e) == "DBInstanceNotFound" => return Ok(None),
            Err(e) => return Err(sdk("DescribeDBInstances", e)),
        };
        Ok(out.db_instances().first().map(|db| Database {
            status: db.db_instance_status().unwrap_or("unknown").to_string(),
            endpoint: db.endpoint().and_then(|e| {
                e.address()
                    .map(|a| format!("{a}:{}", e.port().unwrap_or(3306)))
            }),
            class: db.db_instance_class().unwrap_or_default().to_string(),
            storage_gib: db.allocated_storage().unwrap_or_default().max(0) as u32,
            secret_arn: db
                .master_user_secret()
                .and_then(|s| s.secret_arn())
                .map(str::to_string),
        }))
    }

    async fn create_database(&self, spec: &InstanceSpec) -> Result<(), ProviderError> {
        let mut call = self
            .rds
            .create_db_instance()
            .db_instance_identifier(spec.resource_name())
            .db_instance_class(&spec.sizes.db_instance_class)
            .allocated_storage(spec.sizes.db_storage_gib as i32)
            .engine("mysql")
            .db_name(DB_NAME)
            .master_username(DB_USER)
            .manage_master_user_password(true)
            .storage_encrypted(true)
            .publicly_accessible(false)
            .set_vpc_security_group_ids(
                (!self.settings.security_groups.is_empty())
                    .then(|| self.settings.security_groups.clone()),
            );
        for (k, v) in &spec.tags {
            call = call.tags(rds::Tag::builder().key(k).value(v).build());
        }
        match call.send().await {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == "DBInstanceAlreadyExists" => Ok(()),
            Err(e) => Err(sdk("CreateDBInstance", e)),
        }
    }

    /// Applies a changed class or storage (at once; RDS applies it while
    /// the database stays up, storage only grows).
    async fn resize_database(
        &self,
        spec: &InstanceSpec,
        db: &Database,
    ) -> Result<(), ProviderError> {
        let class =
            (db.class != spec.sizes.db_instance_class).then_some(&spec.sizes.db_instance_class);
        let storage =
            (db.storage_gib < spec.sizes.db_storage_gib).then_some(spec.sizes.db_storage_gib);
        if db.status != "available" || (class.is_none() && storage.is_none()) {
            return Ok(());
        }
        self.rds
            .modify_db_instance()
            .db_instance_identifier(spec.resource_name())
            .set_db_instance_class(class.cloned())
            .set_allocated_storage(storage.map(|s| s as i32))
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| sdk("ModifyDBInstance", e))?;
        Ok(())
    }

    // --- ECS -------------------------------------------------------------

    async fn service(&self, name: &str) -> Result<Option<ecs::Service>, ProviderError> {
        let out = match self
            .ecs
            .describe_services()
            .cluster(&self.settings.cluster)
            .services(name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if code(&e) == "ClusterNotFoundException" => return Ok(None),
            Err(e) => return Err(sdk("DescribeServices", e)),
        };
        Ok(out.services().first().cloned())
    }

    /// The task definition that runs `spec` on `file_system_id` against
    /// `db`: the family's latest revision if it runs exactly that, else a
    /// new revision. Answers its ARN.
    async fn ensure_task_definition(
        &self,
        spec: &InstanceSpec,
        file_system_id: &str,
        db_host: &str,
        secret_arn: Option<&str>,
    ) -> Result<String, ProviderError> {
        let family = spec.resource_name();
        let role = self.settings.execution_role_arn.as_deref();
        let fingerprint = {
            let mut h = Sha256::new();
            for part in [
                spec.sizes.task_cpu.to_string().as_str(),
                spec.sizes.task_memory.to_string().as_str(),
                self.settings.image.as_str(),
                file_system_id,
                db_host,
                secret_arn.unwrap_or(""),
                role.unwrap_or(""),
            ] {
                h.update(part.as_bytes());
                h.update([0]);
            }
            hex::encode(&h.finalize()[..12])
        };
        match self
            .ecs
            .describe_task_definition()
            .task_definition(&family)
            .send()
            .await
        {
            Ok(out) => {
                if let Some(td) = out.task_definition() {
                    let same = td.container_definitions().iter().any(|c| {
                        c.environment().iter().any(|kv| {
                            kv.name() == Some("BBWS_TASK_SPEC")
                                && kv.value() == Some(fingerprint.as_str())
                        })
                    });
                    if same && let Some(arn) = td.task_definition_arn() {
                        return Ok(arn.to_string());
                    }
                }
            }
            // No revision yet.
            Err(e) if code(&e) == "ClientException" => {}
            Err(e) => return Err(sdk("DescribeTaskDefinition", e)),
        }
        let env =
            |name: &str, value: &str| ecs::KeyValuePair::builder().name(name).value(value).build();
        let mut container = ecs::ContainerDefinition::builder()
            .name(CONTAINER)
            .image(&self.settings.image)
            .essential(true)
            .port_mappings(ecs::PortMapping::builder().container_port(80).build())
            .environment(env("WORDPRESS_DB_HOST", db_host))
            .environment(env("WORDPRESS_DB_NAME", DB_NAME))
            .environment(env("WORDPRESS_DB_USER", DB_USER))
            .environment(env("BBWS_TASK_SPEC", &fingerprint))
            .mount_points(
                ecs::MountPoint::builder()
                    .source_volume(VOLUME)
                    .container_path("/var/www/html/wp-content")
                    .build(),
            );
        if let (Some(secret), Some(_)) = (secret_arn, role) {
            container = container.secrets(
                ecs::Secret::builder()
                    .name("WORDPRESS_DB_PASSWORD")
                    .value_from(format!("{secret}:password::"))
                    .build()
                    .map_err(|e| {
                        ProviderError::refused("invalid_task_definition", e.to_string())
                    })?,
            );
        }
        let volume = ecs::Volume::builder()
            .name(VOLUME)
            .efs_volume_configuration(
                ecs::EfsVolumeConfiguration::builder()
                    .file_system_id(file_system_id)
                    .transit_encryption(ecs::EfsTransitEncryption::Enabled)
                    .build()
                    .map_err(|e| {
                        ProviderError::refused("invalid_task_definition", e.to_string())
                    })?,
            )
            .build();
        let mut call = self
            .ecs
            .register_task_definition()
            .family(&family)
            .cpu(spec.sizes.task_cpu.to_string())
            .memory(spec.sizes.task_memory.to_string())
            .network_mode(ecs::NetworkMode::Awsvpc)
            .requires_compatibilities(ecs::Compatibility::Fargate)
            .set_execution_role_arn(role.map(str::to_string))
            .container_definitions(container.build())
            .volumes(volume);
        for (k, v) in &spec.tags {
            call = call.tags(ecs::Tag::builder().key(k).value(v).build());
        }
        let out = call
            .send()
            .await
            .map_err(|e| sdk("RegisterTaskDefinition", e))?;
        out.task_definition()
            .and_then(|td| td.task_definition_arn())
            .map(str::to_string)
            .ok_or_else(|| {
                ProviderError::Unavailable("RegisterTaskDefinition answered no ARN".into())
            })
    }

    fn network(&self) -> Option<ecs::NetworkConfiguration> {
        if self.settings.subnets.is_empty() {
            return None;
        }
        let vpc = ecs::AwsVpcConfiguration::builder()
            .set_subnets(Some(self.settings.subnets.clone()))
            .set_security_groups(Some(self.settings.security_groups.clone()))
            .assign_public_ip(ecs::AssignPublicIp::Disabled)
            .build()
            .ok()?;
        Some(
            ecs::NetworkConfiguration::builder()
                .awsvpc_configuration(vpc)
                .build(),
        )
    }

    async fn create_service(
        &self,
        spec: &InstanceSpec,
        task_definition: &str,
    ) -> Result<(), ProviderError> {
        let name = spec.resource_name();
        // The same request is the same service: ECS answers the first
        // creation again for a repeated client token.
        let token = hex::encode(&Sha256::digest(format!("{name}\0{task_definition}"))[..16]);
        let mut call = self
            .ecs
            .create_service()
            .cluster(&self.settings.cluster)
            .service_name(&name)
            .task_definition(task_definition)
            .desired_count(spec.desired_count as i32)
            .launch_type(ecs::LaunchType::Fargate)
            .client_token(token)
            .set_network_configuration(self.network())
            .deployment_configuration(
                ecs::DeploymentConfiguration::builder()
                    // bbws rolls a failed scaling back itself, in git first.
                    .deployment_circuit_breaker(
                        ecs::DeploymentCircuitBreaker::builder()
                            .enable(true)
                            .rollback(false)
                            .build(),
                    )
                    .build(),
            )
            .propagate_tags(ecs::PropagateTags::Service)
            .enable_ecs_managed_tags(true);
        for (k, v) in &spec.tags {
            call = call.tags(ecs::Tag::builder().key(k).value(v).build());
        }
        call.send().await.map_err(|e| sdk("CreateService", e))?;
        Ok(())
    }

    async fn update_service(
        &self,
        spec: &InstanceSpec,
        desired_count: Option<u32>,
        task_definition: Option<&str>,
    ) -> Result<(), ProviderError> {
        match self
            .ecs
            .update_service()
            .cluster(&self.settings.cluster)
            .service(spec.resource_name())
            .set_desired_count(desired_count.map(|n| n as i32))
            .set_task_definition(task_definition.map(str::to_string))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    code(&e),
                    "ServiceNotFoundException" | "ServiceNotActiveException"
                ) =>
            {
                Err(ProviderError::refused(
                    "service_missing",
                    format!(
                        "the ECS service {} is not active in the cluster {}",
                        spec.resource_name(),
                        self.settings.cluster
                    ),
                ))
            }
            Err(e) => Err(sdk("UpdateService", e)),
        }
    }

    async fn deregister_task_definitions(&self, family: &str) -> Result<(), ProviderError> {
        let out = self
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(ecs::TaskDefinitionStatus::Active)
            .send()
            .await
            .map_err(|e| sdk("ListTaskDefinitions", e))?;
        for arn in out.task_definition_arns() {
            // The prefix also matches longer families.
            if arn
                .rsplit('/')
                .next()
                .and_then(|r| r.rsplit_once(':'))
                .map(|(f, _)| f)
                != Some(family)
            {
                continue;
            }
            self.ecs
                .deregister_task_definition()
                .task_definition(arn)
                .send()
                .await
                .map_err(|e| sdk("DeregisterTaskDefinition", e))?;
        }
        Ok(())
    }
}

fn ecs_view(cluster: &str, name: &str, svc: Option<&ecs::Service>) -> Ecs {
    let Some(svc) = svc else {
        return Ecs {
            cluster: cluster.into(),
            service: name.into(),
            status: "MISSING".into(),
            ..Ecs::default()
        };
    };
    let count = |n: i32| n.max(0) as u32;
    let deployment = svc
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .map(|d| Deployment {
            id: d.id().unwrap_or_default().to_string(),
            desired_count: count(d.desired_count()),
            rollout_state: d
                .rollout_state()
                .map(|s| s.as_str().to_string())
                // A service without the circuit breaker reports none:
                // steady is what ECS's services-stable waiter calls so.
                .unwrap_or_else(|| {
                    if svc.deployments().len() == 1 && svc.running_count() == svc.desired_count() {
                        "COMPLETED".into()
                    } else {
                        "IN_PROGRESS".into()
                    }
                }),
            reason: d
                .rollout_state_reason()
                .filter(|_| d.rollout_state() == Some(&ecs::DeploymentRolloutState::Failed))
                .map(str::to_string),
        });
    Ecs {
        cluster_arn: svc.cluster_arn().unwrap_or_default().into(),
        service_arn: svc.service_arn().unwrap_or_default().into(),
        cluster: cluster.into(),
        service: name.into(),
        desired_count: count(svc.desired_count()),
        running_count: count(svc.running_count()),
        pending_count: count(svc.pending_count()),
        status: svc.status().unwrap_or("ACTIVE").into(),
        deployment,
    }
}

fn rds_view(name: &str, db: Option<&Database>) -> Rds {
    Rds {
        identifier: name.into(),
        endpoint: db.and_then(|d| d.endpoint.clone()),
        status: db.map_or_else(|| "missing".into(), |d| d.status.clone()),
    }
}

fn efs_view(fs: Option<&efs::FileSystemDescription>) -> Efs {
    match fs {
        Some(fs) => Efs {
            file_system_id: fs.file_system_id().into(),
            life_cycle_state: fs.life_cycle_state().as_str().into(),
        },
        None => Efs {
            file_system_id: String::new(),
            life_cycle_state: "missing".into(),
        },
    }
}

#[async_trait]
impl InstanceProvider for AwsInstances {
    fn name(&self) -> &'static str {
        "aws"
    }

    async fn ensure(&self, spec: &InstanceSpec) -> Result<Infrastructure, ProviderError> {
        let name = spec.resource_name();
        let (mut fs, mut db) = tokio::try_join!(self.file_system(&name), self.database(&name))?;
        let created = fs.is_none() || db.is_none();
        if fs.is_none() {
            self.create_file_system(spec).await?;
        }
        match &db {
            None => self.create_database(spec).await?,
            Some(db) => self.resize_database(spec, db).await?,
        }
        if created {
            // What was just created may be usable at once.
            (fs, db) = tokio::try_join!(self.file_system(&name), self.database(&name))?;
        }
        let fs = fs.filter(|f| f.life_cycle_state() == &efs::LifeCycleState::Available);
        let host = db.as_ref().and_then(|d| d.endpoint.clone());
        if let (Some(fs), Some(host), Some(db)) = (fs, host, db.as_ref()) {
            self.ensure_mount_targets(fs.file_system_id()).await?;
            let td = self
                .ensure_task_definition(spec, fs.file_system_id(), &host, db.secret_arn.as_deref())
                .await?;
            match self.service(&name).await? {
                Some(svc) if svc.status() == Some("ACTIVE") => {
                    if svc.task_definition() != Some(td.as_str()) {
                        // A new revision (sizes changed): a deployment.
                        self.update_service(spec, None, Some(&td)).await?;
                    }
                }
                Some(svc) if svc.status() == Some("DRAINING") => {
                    return Err(ProviderError::Unavailable(format!(
                        "the ECS service {name} is still draining from a deletion"
                    )));
                }
                _ => self.create_service(spec, &td).await?,
            }
        }
        self.describe(spec).await
    }

    async fn scale(&self, spec: &InstanceSpec, desired_count: u32) -> Result<(), ProviderError> {
        // ECS refuses to update a service that is not ACTIVE; asking first
        // says so plainly (moto would update a deleted one).
        let name = spec.resource_name();
        match self.service(&name).await? {
            Some(svc) if svc.status() == Some("ACTIVE") => {
                self.update_service(spec, Some(desired_count), None).await
            }
            _ => Err(ProviderError::refused(
                "service_missing",
                format!(
                    "the ECS service {name} is not active in the cluster {}",
                    self.settings.cluster
                ),
            )),
        }
    }

    async fn describe(&self, spec: &InstanceSpec) -> Result<Infrastructure, ProviderError> {
        let name = spec.resource_name();
        let (svc, db, fs) = tokio::try_join!(
            self.service(&name),
            self.database(&name),
            self.file_system(&name)
        )?;
        Ok(Infrastructure {
            ecs: ecs_view(&self.settings.cluster, &name, svc.as_ref()),
            rds: rds_view(&name, db.as_ref()),
            efs: efs_view(fs.as_ref()),
        })
    }

    async fn delete(&self, spec: &InstanceSpec) -> Result<Infrastructure, ProviderError> {
        let name = spec.resource_name();
        let (svc, db, fs) = tokio::try_join!(
            self.service(&name),
            self.database(&name),
            self.file_system(&name)
        )?;
        if let Some(svc) = &svc
            && svc.status() == Some("ACTIVE")
        {
            match self
                .ecs
                .delete_service()
                .cluster(&self.settings.cluster)
                .service(&name)
                .force(true)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        code(&e),
                        "ServiceNotFoundException" | "ServiceNotActiveException"
                    ) => {}
                Err(e) => return Err(sdk("DeleteService", e)),
            }
        }
        // The service is gone or going: its revisions go too.
        self.deregister_task_definitions(&name).await?;
        if let Some(db) = &db
            && db.status != "deleting"
        {
            let snapshot = format!("{name}-final-{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
            match self
                .rds
                .delete_db_instance()
                .db_instance_identifier(&name)
                .skip_final_snapshot(false)
                .final_db_snapshot_identifier(snapshot)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if matches!(code(&e), "DBInstanceNotFound" | "InvalidDBInstanceState") => {}
                Err(e) => return Err(sdk("DeleteDBInstance", e)),
            }
        }
        if let Some(fs) = &fs
            && fs.life_cycle_state() != &efs::LifeCycleState::Deleting
        {
            self.delete_file_system(fs.file_system_id()).await?;
        }
        self.describe(spec).await
    }
}

/// The error code of a service error ("" for a fault on the way).
fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> &str {
    e.as_service_error().and_then(|s| s.code()).unwrap_or("")
}

/// An SDK error as a provider error: a fault on the way, throttling or a
/// server error may pass (retry); anything else is refused as it is.
fn sdk<E, R>(operation: &str, e: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let retry = match &e {
        SdkError::ServiceError(s) => {
            let c = s.err().code().unwrap_or("");
            c.contains("Throttl")
                || c.contains("RequestLimitExceeded")
                || c.contains("ServerException")
                || c.contains("InternalFailure")
                || c.contains("ServiceUnavailable")
        }
        _ => true,
    };
    let detail = DisplayErrorContext(&e).to_string();
    if retry {
        ProviderError::Unavailable(format!("{operation}: {detail}"))
    } else {
        let (c, m) = (
            code(&e).to_string(),
            e.as_service_error()
                .and_then(|s| s.message())
                .unwrap_or("")
                .to_string(),
        );
        ProviderError::refused("aws_refused", format!("{operation} was refused: {c}: {m}"))
    }
}
