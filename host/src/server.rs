//! Assembling and running the server: open the store, bootstrap, resume
//! unfinished work, bind, serve until told to stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::blobs::S3Blobs;
use crate::blobs::{BlobStore, FsBlobs};
use crate::clock::{Clock, SystemClock};
use crate::infra::instances::InstanceProvider;
use crate::infra::instances::aws::{AwsInstances, AwsSettings};
use crate::infra::instances::local::{LocalInstances, LocalSettings};
use crate::jobs::Queue;
use crate::jobs::worker::JobSettings;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::service::decisions::Policies;
use crate::service::instances::InstanceSettings;
use crate::service::sites::SiteSettings;
use crate::service::{ServiceConfig, Services};
use crate::store::ItemStore;
use crate::store::dynamodb::DynamoStore;
use crate::store::sqlite::SqliteStore;

/// Where tenants, users, extensions and decisions are kept.
#[derive(Clone, Debug, Default)]
pub enum StoreSpec {
    /// SQLite files under the data directory (the embedded default).
    #[default]
    Sqlite,
    /// One DynamoDB table; `create` makes it (and its indexes) on start.
    DynamoDb { table: String, create: bool },
}

/// Where component bytes and precompiled artifacts are kept.
#[derive(Clone, Debug, Default)]
pub enum BlobSpec {
    /// Files under `<data dir>/blobs` (the embedded default).
    #[default]
    Files,
    /// Objects in an S3 bucket under a prefix.
    S3 { bucket: String, prefix: String },
}

impl BlobSpec {
    /// `s3://BUCKET/PREFIX`, or `files` for the data directory.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        if text == "files" {
            return Ok(Self::Files);
        }
        let (bucket, prefix) = S3Blobs::parse_url(text)?;
        Ok(Self::S3 { bucket, prefix })
    }
}

/// What a server needs to start.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The listener's timeouts and limits.
    pub http: crate::serve::HttpSpec,
    pub data_dir: PathBuf,
    pub invitation_ttl: Duration,
    /// How long decision records are kept.
    pub decision_retention: Duration,
    /// Benchmarks only: record no decision.
    pub unlogged_decisions: bool,
    /// How long a resolved bearer token is trusted without a store read.
    pub auth_cache_ttl: Duration,
    /// Use this secret as the bootstrap admin token instead of a random one.
    pub bootstrap_token: Option<String>,
    pub store: StoreSpec,
    pub blobs: BlobSpec,
    /// AWS settings for the DynamoDB and S3 backends; `None` loads the
    /// SDK's standard chain (environment, profile, instance role; and
    /// `AWS_ENDPOINT_URL` for moto or LocalStack).
    pub aws: Option<aws_config::SdkConfig>,
    /// The job queue and the worker pool.
    pub jobs: JobsSpec,
    /// Sites: secrets, the scan feed, the local provider's pace.
    pub sites: SitesSpec,
    /// Instances: the provider and the GitOps repository.
    pub instances: InstancesSpec,
    /// ECS events: the secret of `POST /v1/events`, the environments
    /// synced, the SQS queue.
    pub events: EventsSpec,
    /// Guests: the compiled cache's size, the guest pool, the request budget.
    pub guests: RuntimeConfig,
}

/// How ECS events reach the server and what it syncs.
#[derive(Clone, Debug, Default)]
pub struct EventsSpec {
    /// The secrets `POST /v1/events` accepts (the current, and the
    /// previous one while rotating); empty: every request is refused.
    pub secrets: Vec<String>,
    /// The instance environments whose events are synced; empty: all.
    pub environments: Vec<String>,
    /// An SQS queue of EventBridge events to long-poll (`--events-queue`).
    pub queue: Option<String>,
    /// Skip the filters: only the events benchmark's baseline sets it.
    pub unfiltered: bool,
}

/// How instances are run.
#[derive(Clone, Debug)]
pub struct InstancesSpec {
    /// Where their infrastructure comes from.
    pub provider: ProviderSpec,
    /// The GitOps remote; `None`: a bare repository under the data
    /// directory (`gitops.git`).
    pub gitops_remote: Option<String>,
    /// How long a deployment may take before it counts as failed.
    pub deploy_timeout: Duration,
    /// How often a job looks at the provider while it waits; `None`: the
    /// local simulation's pace, or 5 s on AWS.
    pub poll: Option<Duration>,
}

/// The instance provider.
#[derive(Clone, Debug)]
pub enum ProviderSpec {
    /// The documented simulation; `capacity` tasks fit its cluster.
    Local { capacity: u32 },
    /// ECS, RDS and EFS through the AWS SDKs. With the store's `create`
    /// (`--create-table`), a missing cluster is created on start.
    Aws(AwsSettings),
}

impl Default for InstancesSpec {
    fn default() -> Self {
        Self {
            provider: ProviderSpec::Local { capacity: 24 },
            gitops_remote: None,
            deploy_timeout: Duration::from_secs(600),
            poll: None,
        }
    }
}

/// Where jobs are queued.
#[derive(Clone, Debug, Default)]
pub enum QueueSpec {
    /// In the item store (the embedded default; durable with it).
    #[default]
    Store,
    /// Amazon SQS queues `NAME` and `NAME-dead`, created if missing.
    Sqs { name: String },
}

impl QueueSpec {
    /// `store`, or `sqs://NAME`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text.strip_prefix("sqs://") {
            _ if text == "store" => Ok(Self::Store),
            Some(name) if !name.is_empty() && !name.contains('/') => Ok(Self::Sqs {
                name: name.to_string(),
            }),
            _ => anyhow::bail!("a queue is `store` or `sqs://NAME`, not {text:?}"),
        }
    }
}

/// Where jobs are queued and how this process runs them.
#[derive(Clone, Debug, Default)]
pub struct JobsSpec {
    pub queue: QueueSpec,
    pub settings: JobSettings,
}

/// How sites are run.
#[derive(Clone, Debug)]
pub struct SitesSpec {
    /// Base64 of 32 bytes; `None`: the embedded deployment keeps a
    /// generated key in the data directory, DynamoDB deployments refuse to
    /// attach WordPress sites.
    pub secrets_key: Option<String>,
    /// A vulnerability feed: a file path or an http(s) URL.
    pub vulnerability_feed: Option<String>,
    /// How long the local provider's simulated work takes.
    pub provision_delay: Duration,
    /// Let attached WordPress sites be at any address, loopback and private
    /// networks included (`--wordpress-allow-private`); off: public
    /// addresses only.
    pub wordpress_allow_private: bool,
}

impl Default for SitesSpec {
    fn default() -> Self {
        Self {
            secrets_key: None,
            vulnerability_feed: None,
            provision_delay: Duration::from_millis(200),
            wordpress_allow_private: false,
        }
    }
}

impl ServerConfig {
    /// Loopback on an ephemeral port, data under `data_dir`: for tests.
    pub fn ephemeral(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            http: crate::serve::HttpSpec::default(),
            data_dir: data_dir.into(),
            invitation_ttl: ServiceConfig::default().invitation_ttl,
            decision_retention: ServiceConfig::default().decision_retention,
            unlogged_decisions: false,
            auth_cache_ttl: ServiceConfig::default().auth_cache_ttl,
            bootstrap_token: None,
            store: StoreSpec::default(),
            blobs: BlobSpec::default(),
            aws: None,
            jobs: JobsSpec::default(),
            sites: SitesSpec {
                provision_delay: Duration::ZERO,
                ..SitesSpec::default()
            },
            instances: InstancesSpec {
                deploy_timeout: Duration::from_secs(30),
                ..InstancesSpec::default()
            },
            events: EventsSpec::default(),
            guests: RuntimeConfig::default(),
        }
    }
}

/// A running server.
pub struct Running {
    /// The address it listens on (the real port when asked for port 0).
    pub addr: SocketAddr,
    pub services: Services,
    /// The bootstrap admin token, when this start created it.
    pub bootstrap_token: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    stop_workers: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    purge: JoinHandle<()>,
    workers: JoinHandle<()>,
    ticker: JoinHandle<()>,
    local_events: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, drains in-flight requests, then lets running jobs
    /// finish (each for up to the drain timeout), and returns.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.purge.abort();
        (&mut self.task).await??;
        let _ = self.stop_workers.send(true);
        let _ = (&mut self.workers).await;
        self.ticker.abort();
        self.local_events.abort();
        // The last batch of decisions, of requests already answered.
        self.services.policies().close_log().await;
        Ok(())
    }

    /// Serves until the process is asked to stop (Ctrl-C or SIGTERM).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = &mut self.task => return Ok(r??),
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        self.stop().await
    }
}

/// Creates the data directory (and its parents) if missing; one this
/// start creates is its owner's only (0700). An existing one is left as it
/// is, with a warning if others may read it.
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the data directory {}", dir.display()))?;
    }
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("reading the data directory {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "the data directory is readable by others; `chmod 700` it"
        );
    }
    Ok(())
}

/// How often expired items (decision records, idempotency records, spent
/// invitations) are deleted from stores that do not expire items themselves.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Deletes expired items from each store, a bounded batch at a time so the
/// writer is never held for long, every [`PURGE_EVERY`].
async fn purge_expired(stores: Vec<Arc<dyn ItemStore>>) {
    const BATCH: usize = 1000;
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tick.tick().await;
        for store in &stores {
            loop {
                match store.purge_expired(BATCH).await {
                    Ok(n) if n == BATCH => tokio::task::yield_now().await,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not purge expired items");
                        break;
                    }
                }
            }
        }
    }
}

/// Where a deployment keeps its state.
#[derive(Clone)]
pub struct Backends {
    /// Tenants, users, memberships, extensions: everything with invariants.
    pub items: Arc<dyn ItemStore>,
    /// The decision log: append-only, written on every request. Embedded,
    /// it is a database file of its own, so that its write rate does not
    /// invalidate the page caches the request path reads through.
    pub decisions: Arc<dyn ItemStore>,
    /// Component bytes and precompiled artifacts.
    pub blobs: Arc<dyn BlobStore>,
}

impl Backends {
    /// The backends `config` names.
    pub async fn open(config: &ServerConfig) -> anyhow::Result<Self> {
        let needs_aws = matches!(config.store, StoreSpec::DynamoDb { .. })
            || matches!(config.blobs, BlobSpec::S3 { .. });
        let aws = match (&config.aws, needs_aws) {
            (Some(aws), _) => Some(aws.clone()),
            (None, true) => {
                Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
            }
            (None, false) => None,
        };
        let mut backends = match &config.store {
            StoreSpec::Sqlite => Self::embedded(&config.data_dir)?,
            StoreSpec::DynamoDb { table, create } => {
                let aws = aws.as_ref().context("AWS settings")?;
                let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), table);
                if *create {
                    store
                        .create_table()
                        .await
                        .with_context(|| format!("creating the DynamoDB table {table}"))?;
                }
                let store: Arc<dyn ItemStore> = Arc::new(store);
                // The decision log shares the table: DynamoDB has no page
                // cache for its writes to spoil.
                Self {
                    items: store.clone(),
                    decisions: store,
                    blobs: Arc::new(FsBlobs::new(config.data_dir.join("blobs"))),
                }
            }
        };
        if let BlobSpec::S3 { bucket, prefix } = &config.blobs {
            let aws = aws.as_ref().context("AWS settings")?;
            let blobs = S3Blobs::new(aws, bucket, prefix);
            if matches!(config.store, StoreSpec::DynamoDb { create: true, .. }) {
                blobs.create_bucket().await?;
            }
            backends.blobs = Arc::new(blobs);
        }
        Ok(backends)
    }

    /// The embedded deployment: SQLite files and blobs under `data_dir`.
    pub fn embedded(data_dir: &std::path::Path) -> anyhow::Result<Self> {
        create_private_dir(data_dir)?;
        let open = |name: &str| -> anyhow::Result<Arc<dyn ItemStore>> {
            let path = data_dir.join(name);
            let store =
                SqliteStore::open(&path).with_context(|| format!("opening {}", path.display()))?;
            Ok(Arc::new(store))
        };
        Ok(Self {
            items: open("bbws.db")?,
            decisions: open("decisions.db")?,
            blobs: Arc::new(FsBlobs::new(data_dir.join("blobs"))),
        })
    }
}

/// The services over `backends`, with the WebAssembly runtime, a job queue
/// in the item store and default site settings: what tools and tests that
/// run no worker need.
pub async fn services(
    backends: Backends,
    clock: Arc<dyn Clock>,
    config: ServiceConfig,
) -> anyhow::Result<Services> {
    let queue = Arc::new(crate::jobs::store_queue::StoreQueue::new(
        backends.items.clone(),
        clock.clone(),
        JOBS_QUEUE,
    ));
    let sites = SiteSettings::new(local_sites(&backends), backends.blobs.clone());
    services_with(backends, clock, config, queue, sites).await
}

/// The name of the job queue in the item store.
const JOBS_QUEUE: &str = "jobs";

async fn services_with(
    backends: Backends,
    clock: Arc<dyn Clock>,
    config: ServiceConfig,
    queue: Arc<dyn Queue>,
    sites: SiteSettings,
) -> anyhow::Result<Services> {
    let runtime = Runtime::new(config.runtime.clone(), backends.blobs.clone())?;
    let policies = Policies::start(
        runtime,
        backends.blobs,
        backends.decisions,
        config.decision_log.then_some(config.decision_retention),
    )
    .await?;
    Ok(Services::new(
        backends.items,
        clock,
        config,
        policies,
        queue,
        sites,
    ))
}

/// Starts a server with the system clock.
pub async fn start(config: ServerConfig) -> anyhow::Result<Running> {
    start_with_clock(config, Arc::new(SystemClock)).await
}

/// Starts a server whose services read time from `clock`.
pub async fn start_with_clock(
    config: ServerConfig,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Running> {
    let backends = Backends::open(&config).await?;
    let expiring = vec![backends.items.clone(), backends.decisions.clone()];
    let queue = job_queue(&config, &backends, clock.clone()).await?;
    let sites = site_settings(&config, &backends).await?;
    let (local_events, local_events_rx) = crate::service::events::local::channel();
    let (instances, local) = instance_settings(&config, &backends, local_events).await?;
    let services = services_with(
        backends,
        clock,
        ServiceConfig {
            invitation_ttl: config.invitation_ttl,
            auth_cache_ttl: config.auth_cache_ttl,
            runtime: config.guests.clone(),
            decision_retention: config.decision_retention,
            decision_log: !config.unlogged_decisions,
        },
        queue,
        sites,
    )
    .await?
    .with_instances(instances);
    let events_queue = events_queue(&config).await?;
    let engine = crate::service::events::filter::EventEngine::start(
        services.policies().runtime.clone(),
        services.policies().blobs.clone(),
        crate::service::events::EventSettings {
            secrets: config.events.secrets.clone(),
            environments: config.events.environments.clone(),
            filters: !config.events.unfiltered,
            ..Default::default()
        },
        events_queue.clone(),
    )
    .await?;
    let services = services.with_events(engine);
    let bootstrap_token = services
        .identity()
        .bootstrap(config.bootstrap_token.clone())
        .await
        .context("bootstrapping the platform admin")?;
    services
        .resume()
        .await
        .context("finishing work a previous run left")?;
    let worker = Arc::new(services.worker(config.jobs.settings.clone()));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let app = crate::api::app(services.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(crate::serve::serve(
        listener,
        app,
        config.http.clone(),
        async {
            let _ = rx.await;
        },
    ));
    let purge = tokio::spawn(purge_expired(expiring));
    let local_events = {
        let local = tokio::spawn(crate::service::events::local::drain(
            services.clone(),
            local_events_rx,
        ));
        match events_queue {
            Some(queue) => {
                let consumer = tokio::spawn(crate::service::events::queue::consume(
                    services.clone(),
                    queue,
                ));
                tokio::spawn(async move {
                    let _ = tokio::join!(local, consumer);
                })
            }
            None => local,
        }
    };
    let (stop_workers, workers_stop) = tokio::sync::watch::channel(false);
    let workers = if config.jobs.settings.workers > 0 {
        tokio::spawn(worker.run_until(workers_stop, config.http.drain_timeout))
    } else {
        tokio::spawn(async {})
    };
    // The simulation moves on (and reports events) whether or not anyone
    // asks; nothing ticks on AWS.
    let ticker = match local {
        Some(local) => tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                if let Err(e) = local.tick().await {
                    tracing::warn!(error = %e, "the local instance simulation could not advance");
                }
            }
        }),
        None => tokio::spawn(async {}),
    };
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "bbws listening");
    Ok(Running {
        addr,
        services,
        bootstrap_token,
        shutdown: Some(tx),
        stop_workers,
        task,
        purge,
        workers,
        ticker,
        local_events,
    })
}

/// The `local` provider of sites: simulated WordPress in the item store.
fn local_sites(backends: &Backends) -> Arc<dyn crate::infra::sites::SiteProvider> {
    Arc::new(crate::infra::sites::local::LocalSites::new(
        backends.items.clone(),
    ))
}

/// The instance provider and the GitOps repository `config` names, and
/// the local simulation when that is the provider (the server ticks it).
async fn instance_settings(
    config: &ServerConfig,
    backends: &Backends,
    local_events: Arc<dyn crate::infra::instances::EcsEventSink>,
) -> anyhow::Result<(InstanceSettings, Option<Arc<LocalInstances>>)> {
    use crate::infra::gitops::GitOps;
    let spec = &config.instances;
    let remote = match &spec.gitops_remote {
        Some(url) => url.clone(),
        None => GitOps::init_bare(&config.data_dir.join("gitops.git"))
            .await
            .context("creating the GitOps repository")?,
    };
    let gitops = GitOps::open(&config.data_dir.join("gitops"), &remote)
        .await
        .with_context(|| format!("opening the GitOps remote {remote}"))?;
    tracing::info!(%remote, "GitOps repository");
    let (provider, local, poll): (Arc<dyn InstanceProvider>, _, _) = match &spec.provider {
        ProviderSpec::Local { capacity } => {
            // The simulation runs on real time (tests move the services'
            // clock to expire invitations; that must not fast-forward a
            // deployment).
            let local = Arc::new(LocalInstances::new(
                backends.items.clone(),
                Arc::new(SystemClock),
                LocalSettings {
                    capacity: *capacity,
                    delay: config.sites.provision_delay,
                },
                local_events,
            ));
            let poll = config
                .sites
                .provision_delay
                .clamp(Duration::from_millis(20), Duration::from_secs(2));
            (local.clone(), Some(local), poll)
        }
        ProviderSpec::Aws(settings) => {
            let aws = match &config.aws {
                Some(aws) => aws.clone(),
                None => aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
            };
            let provider = AwsInstances::new(&aws, settings.clone());
            let create = matches!(config.store, StoreSpec::DynamoDb { create: true, .. });
            provider
                .check_cluster(create)
                .await
                .with_context(|| format!("checking the ECS cluster {}", settings.cluster))?;
            // ECS, RDS and EFS move in seconds to minutes.
            (Arc::new(provider), None, Duration::from_secs(5))
        }
    };
    let poll = spec.poll.unwrap_or(poll);
    tracing::info!(provider = provider.name(), ?poll, "instance provider");
    Ok((
        InstanceSettings {
            provider,
            gitops: Arc::new(gitops),
            deploy_timeout: spec.deploy_timeout,
            poll,
        },
        local,
    ))
}

/// The SQS queue of EventBridge events `config` names (created with its
/// dead-letter queue if missing), if any.
async fn events_queue(config: &ServerConfig) -> anyhow::Result<Option<Arc<dyn Queue>>> {
    let Some(name) = &config.events.queue else {
        return Ok(None);
    };
    let aws = match &config.aws {
        Some(aws) => aws.clone(),
        None => aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
    };
    let queue = crate::jobs::sqs::SqsQueue::create(&aws, name)
        .await
        .with_context(|| format!("opening the events queue {name}"))?;
    tracing::info!(queue = %queue.queue_url(), "consuming ECS events from SQS");
    Ok(Some(Arc::new(queue)))
}

/// The job queue `config` names.
async fn job_queue(
    config: &ServerConfig,
    backends: &Backends,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<dyn Queue>> {
    Ok(match &config.jobs.queue {
        QueueSpec::Store => Arc::new(crate::jobs::store_queue::StoreQueue::new(
            backends.items.clone(),
            clock,
            JOBS_QUEUE,
        )),
        QueueSpec::Sqs { name } => {
            let aws = match &config.aws {
                Some(aws) => aws.clone(),
                None => aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
            };
            Arc::new(
                crate::jobs::sqs::SqsQueue::create(&aws, name)
                    .await
                    .with_context(|| format!("opening the SQS queue {name}"))?,
            )
        }
    })
}

/// The sites' secrets key, scan feed and pace `config` names.
async fn site_settings(config: &ServerConfig, backends: &Backends) -> anyhow::Result<SiteSettings> {
    let spec = &config.sites;
    let secrets = match (&spec.secrets_key, &config.store) {
        (Some(key), _) => Some(crate::secrets::SecretBox::from_base64(key)?),
        (None, StoreSpec::Sqlite) => Some(crate::secrets::SecretBox::in_dir(&config.data_dir)?),
        (None, StoreSpec::DynamoDb { .. }) => {
            tracing::warn!("no --secrets-key: attaching WordPress sites is refused");
            None
        }
    };
    let feed = match &spec.vulnerability_feed {
        Some(source) => {
            let feed = crate::infra::vulnfeed::load(source)
                .await
                .with_context(|| format!("loading the vulnerability feed {source}"))?;
            tracing::info!(%source, entries = feed.len(), "vulnerability feed loaded");
            feed
        }
        None => {
            tracing::warn!(
                "no --vulnerability-feed: plugin installs are scanned against an empty feed"
            );
            crate::domain::vulnerability::Feed::empty()
        }
    };
    if spec.wordpress_allow_private {
        tracing::warn!(
            "--wordpress-allow-private: attached WordPress sites may be at any address, loopback, private networks and cloud metadata included"
        );
    }
    Ok(SiteSettings {
        provider: local_sites(backends),
        blobs: backends.blobs.clone(),
        secrets,
        feed: Arc::new(feed),
        provision_delay: spec.provision_delay,
        wordpress_egress: crate::infra::wordpress::Egress::allowing_private(
            spec.wordpress_allow_private,
        ),
    })
}
