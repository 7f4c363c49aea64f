//! The `bbws` command.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Parser, Subcommand};

use bbws_host::infra::instances::aws::AwsSettings;
use bbws_host::jobs::worker::JobSettings;
use bbws_host::server::{
    self, BlobSpec, EventsSpec, InstancesSpec, JobsSpec, ProviderSpec, QueueSpec, ServerConfig,
    SitesSpec, StoreSpec,
};

#[derive(Parser)]
#[command(
    name = "bbws",
    version,
    about = "Control plane for multi-tenant WordPress hosting"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Serve(Box<Serve>),
    /// The policy decision log.
    #[command(subcommand)]
    Decisions(Decisions),
    /// Operator tasks.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Subcommand)]
enum Admin {
    /// Create the DynamoDB table and its indexes (and turn on TTL), unless
    /// they exist. AWS settings come from the SDK's standard chain.
    InitTable {
        /// The table's name.
        #[arg(long, env = "BBWS_TABLE")]
        table: String,
    },
}

/// Where the state lives: the embedded SQLite files (default), or DynamoDB
/// and S3 for stateless replicas.
#[derive(clap::Args, Clone)]
struct Storage {
    /// Where the embedded store keeps its files (created on first run).
    #[arg(long, env = "BBWS_DATA_DIR", default_value = "./bbws-data")]
    data_dir: PathBuf,
    /// `sqlite` (files under the data directory) or `dynamodb` (needs `--table`).
    #[arg(long, env = "BBWS_STORE", default_value = "sqlite", value_parser = ["sqlite", "dynamodb"])]
    store: String,
    /// The DynamoDB table (with `--store dynamodb`).
    #[arg(long, env = "BBWS_TABLE", required_if_eq("store", "dynamodb"))]
    table: Option<String>,
    /// Where components and artifacts go: `files` (the data directory) or
    /// `s3://BUCKET/PREFIX`.
    #[arg(long, env = "BBWS_BLOBS", default_value = "files", value_parser = BlobSpec::parse)]
    blobs: BlobSpec,
    /// Create the DynamoDB table (and the S3 bucket) on start if missing:
    /// for development; production runs `bbws admin init-table` once.
    /// The environment takes what people type: `1`, `true`, `yes`, `on`.
    #[arg(long, env = "BBWS_CREATE_TABLE", value_parser = BoolishValueParser::new())]
    create_table: bool,
}

impl Storage {
    fn store(&self) -> StoreSpec {
        match (self.store.as_str(), &self.table) {
            ("dynamodb", Some(table)) => StoreSpec::DynamoDb {
                table: table.clone(),
                create: self.create_table,
            },
            _ => StoreSpec::Sqlite,
        }
    }
}

#[derive(Subcommand)]
enum Decisions {
    /// Re-run a recorded decision on its recorded components and input, and
    /// show both answers.
    Replay {
        /// The decision's id (`dec_…`).
        id: String,
        /// The storage of the (stopped or running) server.
        #[command(flatten)]
        storage: Storage,
    },
}

#[derive(clap::Args)]
struct Serve {
    /// Address to listen on.
    #[arg(long, env = "BBWS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    storage: Storage,
    /// How long an invitation stays valid (`2s`, `15m`, `7d`).
    #[arg(long, env = "BBWS_INVITATION_TTL", default_value = "7d", value_parser = humantime::parse_duration)]
    invitation_ttl: std::time::Duration,
    /// How long the decision log keeps a record (`30d`, `90d`, `12h`; at
    /// least an hour). Each record holds the decision's whole input, about
    /// 1 KiB per authorized request.
    #[arg(long, env = "BBWS_DECISION_RETENTION", default_value = "30d", value_parser = parse_retention)]
    decision_retention: std::time::Duration,
    /// Benchmarks only: record no decision at all, to measure what the
    /// decision log costs (`scripts/bench-api.sh`, BENCH_UNLOGGED=1).
    /// Breaks replay and the audit trail; never in production.
    #[arg(long, hide = true)]
    unlogged_decisions_for_benchmarks: bool,
    /// How long a resolved bearer token is trusted before the store is
    /// asked again (`0s` disables). This bounds how late another replica's
    /// token revocation or role change takes effect here.
    #[arg(long, env = "BBWS_AUTH_CACHE_TTL", default_value = "1s", value_parser = humantime::parse_duration)]
    auth_cache_ttl: std::time::Duration,
    /// The bootstrap admin token to create on first start (default: random, printed once).
    #[arg(long, env = "BBWS_BOOTSTRAP_TOKEN", hide_env_values = true)]
    bootstrap_token: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "BBWS_LOG_JSON", value_parser = BoolishValueParser::new())]
    log_json: bool,
    #[command(flatten)]
    http: HttpArgs,
    #[command(flatten)]
    jobs: JobsArgs,
    #[command(flatten)]
    sites: SitesArgs,
    #[command(flatten)]
    instances: InstancesArgs,
    #[command(flatten)]
    events: EventsArgs,
    #[command(flatten)]
    guests: GuestArgs,
}

/// ECS events: how they arrive and which are synced.
#[derive(clap::Args)]
struct EventsArgs {
    /// The secret `POST /v1/events` takes in `X-Bbws-Events-Secret` (an
    /// EventBridge API destination's API-key header). Without it, every
    /// events request is refused.
    #[arg(long, env = "BBWS_EVENTS_SECRET", hide_env_values = true)]
    events_secret: Option<String>,
    /// The previous secret, still accepted while a new one is rolled out.
    #[arg(long, env = "BBWS_EVENTS_SECRET_PREVIOUS", hide_env_values = true)]
    events_secret_previous: Option<String>,
    /// The instance environments whose events are synced, comma-separated
    /// (`PROD`, or `SIT,PROD`); default: all.
    #[arg(long, env = "BBWS_EVENT_ENVIRONMENTS", value_delimiter = ',', value_parser = ["DEV", "SIT", "PROD"])]
    event_environments: Vec<String>,
    /// An SQS queue EventBridge delivers ECS events to (`sqs://NAME`),
    /// long-polled by every replica.
    #[arg(long, env = "BBWS_EVENTS_QUEUE")]
    events_queue: Option<String>,
}

impl EventsArgs {
    fn spec(self) -> EventsSpec {
        EventsSpec {
            secrets: [self.events_secret, self.events_secret_previous]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect(),
            environments: self.event_environments,
            queue: self
                .events_queue
                .map(|q| q.strip_prefix("sqs://").unwrap_or(&q).to_string()),
            unfiltered: false,
        }
    }
}

/// Instances: the provider and the GitOps repository.
#[derive(clap::Args)]
struct InstancesArgs {
    /// Where instances' infrastructure comes from: `local`, a documented
    /// simulation of ECS, RDS and EFS, or `aws` (ECS on Fargate, RDS
    /// MySQL, EFS, with the SDK's standard settings).
    #[arg(long, env = "BBWS_PROVIDER", default_value = "local", value_parser = ["local", "aws"])]
    provider: String,
    /// The git remote instance manifests are pushed to (default: a bare
    /// repository under the data directory).
    #[arg(long, env = "BBWS_GITOPS_REMOTE")]
    gitops_remote: Option<String>,
    /// Tasks the local provider's simulated cluster can place; a scaling
    /// past it fails to place tasks, as on ECS, and is rolled back.
    #[arg(long, env = "BBWS_LOCAL_CLUSTER_CAPACITY", default_value_t = 24)]
    local_cluster_capacity: u32,
    /// How long a deployment (a creation, a scaling) may take before it
    /// counts as failed (a scaling is then rolled back).
    #[arg(long, env = "BBWS_DEPLOY_TIMEOUT", default_value = "10m", value_parser = humantime::parse_duration)]
    deploy_timeout: std::time::Duration,
    /// How often a job looks at the provider while it waits (default: the
    /// simulation's pace, or 5s on AWS).
    #[arg(long, env = "BBWS_PROVIDER_POLL", value_parser = humantime::parse_duration)]
    provider_poll: Option<std::time::Duration>,
    /// With `--provider aws`: the ECS cluster (created on start with
    /// `--create-table`).
    #[arg(long, env = "BBWS_ECS_CLUSTER", default_value = "bbws")]
    ecs_cluster: String,
    /// With `--provider aws`: the subnets of tasks and mount targets,
    /// comma-separated (Fargate needs them).
    #[arg(long, env = "BBWS_AWS_SUBNETS", value_delimiter = ',')]
    aws_subnets: Vec<String>,
    /// With `--provider aws`: security groups of tasks, mount targets and
    /// databases, comma-separated.
    #[arg(long, env = "BBWS_AWS_SECURITY_GROUPS", value_delimiter = ',')]
    aws_security_groups: Vec<String>,
    /// With `--provider aws`: the WordPress image tasks run.
    #[arg(
        long,
        env = "BBWS_WORDPRESS_IMAGE",
        default_value = "wordpress:6-apache"
    )]
    wordpress_image: String,
    /// With `--provider aws`: the task execution role, which pulls the
    /// image and reads the database's secret.
    #[arg(long, env = "BBWS_ECS_EXECUTION_ROLE")]
    ecs_execution_role: Option<String>,
}

impl InstancesArgs {
    fn spec(self) -> InstancesSpec {
        let provider = match self.provider.as_str() {
            "aws" => ProviderSpec::Aws(AwsSettings {
                cluster: self.ecs_cluster,
                subnets: self.aws_subnets,
                security_groups: self.aws_security_groups,
                image: self.wordpress_image,
                execution_role_arn: self.ecs_execution_role,
            }),
            _ => ProviderSpec::Local {
                capacity: self.local_cluster_capacity,
            },
        };
        InstancesSpec {
            provider,
            gitops_remote: self.gitops_remote,
            deploy_timeout: self.deploy_timeout,
            poll: self.provider_poll,
        }
    }
}

/// The job queue and the worker pool that drains it.
#[derive(clap::Args)]
struct JobsArgs {
    /// Where jobs are queued: `store` (the item store) or `sqs://NAME`
    /// (queues NAME and NAME-dead, created if missing).
    #[arg(long, env = "BBWS_QUEUE", default_value = "store", value_parser = QueueSpec::parse)]
    queue: QueueSpec,
    /// Jobs this process runs at once (0: serve the API only).
    #[arg(long, env = "BBWS_WORKERS", default_value_t = 8)]
    workers: usize,
    /// How long a job is leased to a worker without a heartbeat; a worker
    /// that dies releases its jobs after this.
    #[arg(long, env = "BBWS_JOB_LEASE", default_value = "30s", value_parser = humantime::parse_duration)]
    job_lease: std::time::Duration,
    /// Deliveries before a failing job is dead-lettered.
    #[arg(long, env = "BBWS_JOB_MAX_ATTEMPTS", default_value_t = 5)]
    job_max_attempts: u32,
    /// The first retry's delay (doubled per attempt, at most 5 minutes).
    #[arg(long, env = "BBWS_JOB_BACKOFF", default_value = "2s", value_parser = humantime::parse_duration)]
    job_backoff: std::time::Duration,
}

impl JobsArgs {
    fn spec(self) -> JobsSpec {
        JobsSpec {
            queue: self.queue,
            settings: JobSettings {
                workers: self.workers,
                lease: self.job_lease,
                max_attempts: self.job_max_attempts,
                backoff: self.job_backoff,
            },
        }
    }
}

/// Sites: secrets, the plugin scan's feed, the local provider's pace.
#[derive(clap::Args)]
struct SitesArgs {
    /// Key sealing attached WordPress passwords: base64 of 32 random bytes
    /// (`openssl rand -base64 32`). Default with SQLite: generated into the
    /// data directory.
    #[arg(long, env = "BBWS_SECRETS_KEY", hide_env_values = true)]
    secrets_key: Option<String>,
    /// The vulnerability feed plugin installs are scanned against: a file
    /// or an http(s) URL (format: examples/vulnerability-feed.md).
    #[arg(long, env = "BBWS_VULNERABILITY_FEED")]
    vulnerability_feed: Option<String>,
    /// How long the local provider's simulated provisioning, cloning,
    /// promotion and backups take.
    #[arg(long, env = "BBWS_LOCAL_PROVISION_DELAY", default_value = "200ms", value_parser = humantime::parse_duration)]
    local_provision_delay: std::time::Duration,
    /// Let attached WordPress sites be at any address: loopback, private
    /// networks, link-local (cloud metadata). Off, bbws connects to them
    /// only at public addresses. For development and tests. The
    /// environment takes what people type: `1`/`0`, `true`/`false`,
    /// `yes`/`no`, `on`/`off`.
    #[arg(long, env = "BBWS_WORDPRESS_ALLOW_PRIVATE", value_parser = BoolishValueParser::new())]
    wordpress_allow_private: bool,
}

impl SitesArgs {
    fn spec(self) -> SitesSpec {
        SitesSpec {
            secrets_key: self.secrets_key,
            vulnerability_feed: self.vulnerability_feed,
            provision_delay: self.local_provision_delay,
            wordpress_allow_private: self.wordpress_allow_private,
        }
    }
}

/// Where guests run and what they may hold (see `runtime/pool.rs`).
#[derive(clap::Args)]
struct GuestArgs {
    /// Tenant guest calls running at once, on blocking threads off the
    /// request threads; a tenant may hold half of them. Default: one per
    /// core.
    #[arg(long, env = "BBWS_GUEST_SLOTS")]
    guest_slots: Option<usize>,
    /// Guest time one request may spend, its tenant guests' waits for a
    /// slot and runs together; past it, a policy denies with
    /// `guest_budget` or `guest_busy`.
    #[arg(long, env = "BBWS_GUEST_REQUEST_BUDGET", default_value = "100ms", value_parser = humantime::parse_duration)]
    guest_request_budget: std::time::Duration,
    /// Mebibytes of compiled guest code kept in memory (least recently
    /// used out first); `bbws_guest_cache_bytes` in /metrics.
    #[arg(long, env = "BBWS_GUEST_CACHE_MIB", default_value_t = 256)]
    guest_cache_mib: usize,
}

impl GuestArgs {
    fn spec(&self) -> bbws_host::runtime::RuntimeConfig {
        let defaults = bbws_host::runtime::RuntimeConfig::default();
        bbws_host::runtime::RuntimeConfig {
            cache_bytes: self.guest_cache_mib << 20,
            guest_slots: self.guest_slots.unwrap_or(defaults.guest_slots),
            request_budget: self.guest_request_budget,
            ..defaults
        }
    }
}

/// A decision-log retention: a duration of at least an hour (a shorter one
/// would drop records before anyone could read them back).
fn parse_retention(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if d < std::time::Duration::from_secs(3600) {
        return Err(format!("{text} is under an hour"));
    }
    Ok(d)
}

/// The listener's limits (see `serve.rs`).
#[derive(clap::Args)]
struct HttpArgs {
    /// How long a client may take to send a request's head; an idle
    /// keep-alive connection is closed after the same time.
    #[arg(long, env = "BBWS_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    header_read_timeout: std::time::Duration,
    /// How long a request may take, its body included (503 `request_timeout`).
    #[arg(long, env = "BBWS_REQUEST_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    request_timeout: std::time::Duration,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, env = "BBWS_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Requests running at once; more are shed with 503 `overloaded`.
    #[arg(long, env = "BBWS_MAX_CONCURRENT_REQUESTS", default_value_t = 1024)]
    max_concurrent_requests: usize,
    /// How long shutdown (SIGTERM, Ctrl-C) waits for in-flight requests
    /// and jobs.
    #[arg(long, env = "BBWS_DRAIN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    drain_timeout: std::time::Duration,
}

impl HttpArgs {
    fn spec(&self) -> bbws_host::serve::HttpSpec {
        bbws_host::serve::HttpSpec {
            header_read_timeout: self.header_read_timeout,
            request_timeout: self.request_timeout,
            max_connections: self.max_connections,
            max_concurrent_requests: self.max_concurrent_requests,
            drain_timeout: self.drain_timeout,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Decisions(Decisions::Replay { id, storage }) => replay(&id, &storage).await,
        Command::Admin(Admin::InitTable { table }) => init_table(&table).await,
    }
}

async fn serve(args: Serve) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BBWS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter);
    if args.log_json {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
    let supplied_token = args.bootstrap_token.is_some();
    if args.unlogged_decisions_for_benchmarks {
        tracing::warn!(
            "--unlogged-decisions-for-benchmarks: decisions are NOT recorded (no audit trail, no replay)"
        );
    }
    let running = server::start(ServerConfig {
        listen: args.listen,
        http: args.http.spec(),
        store: args.storage.store(),
        blobs: args.storage.blobs.clone(),
        data_dir: args.storage.data_dir,
        invitation_ttl: args.invitation_ttl,
        decision_retention: args.decision_retention,
        unlogged_decisions: args.unlogged_decisions_for_benchmarks,
        auth_cache_ttl: args.auth_cache_ttl,
        bootstrap_token: args.bootstrap_token,
        aws: None,
        jobs: args.jobs.spec(),
        sites: args.sites.spec(),
        instances: args.instances.spec(),
        events: args.events.spec(),
        guests: args.guests.spec(),
    })
    .await?;
    match &running.bootstrap_token {
        // Printed once, and only when generated: the store keeps only its
        // hash, and a token the operator chose is not echoed to the log.
        Some(token) if !supplied_token => {
            println!("bootstrap admin token (shown once): {token}");
        }
        Some(_) => println!("bootstrap admin created with the token you supplied"),
        None => {}
    }
    println!("bbws listening on http://{}", running.addr);
    running.wait().await
}

async fn init_table(table: &str) -> anyhow::Result<()> {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store =
        bbws_host::store::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table);
    store.create_table().await?;
    println!("table {table} is ready (indexes gsi1, gsi2; TTL on expires_at)");
    Ok(())
}

async fn replay(id: &str, storage: &Storage) -> anyhow::Result<()> {
    let mut config = ServerConfig::ephemeral(&storage.data_dir);
    config.store = storage.store();
    config.blobs = storage.blobs.clone();
    let services = server::services(
        server::Backends::open(&config).await?,
        std::sync::Arc::new(bbws_host::clock::SystemClock),
        Default::default(),
    )
    .await?;
    let decisions = services.decisions();
    let record = decisions.get(None, id).await?;
    let replay = decisions.replay(&record).await?;
    println!("{}", serde_json::to_string_pretty(&replay)?);
    if !replay.same {
        anyhow::bail!("the replay answered differently from the record");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_retention_is_a_duration_of_an_hour_or_more() {
        assert_eq!(
            parse_retention("90d"),
            Ok(std::time::Duration::from_secs(90 * 24 * 3600))
        );
        assert_eq!(
            parse_retention("1h"),
            Ok(std::time::Duration::from_secs(3600))
        );
        assert!(
            parse_retention("59m")
                .unwrap_err()
                .contains("under an hour")
        );
        assert!(parse_retention("soon").is_err());
        let serve =
            |args: &[&str]| Cli::try_parse_from([&["bbws", "serve"], args].concat()).map(|_| ());
        assert!(serve(&["--decision-retention", "7d"]).is_ok());
        assert!(serve(&["--decision-retention", "5m"]).is_err());
    }
}
