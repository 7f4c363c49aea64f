//! The `bbws` command.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use bbws_host::server::{self, ServerConfig};

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
    Serve(Serve),
    /// The policy decision log.
    #[command(subcommand)]
    Decisions(Decisions),
}

#[derive(Subcommand)]
enum Decisions {
    /// Re-run a recorded decision on its recorded components and input, and
    /// show both answers.
    Replay {
        /// The decision's id (`dec_…`).
        id: String,
        /// The data directory of the (stopped or running) server.
        #[arg(long, env = "BBWS_DATA_DIR", default_value = "./bbws-data")]
        data_dir: PathBuf,
    },
}

#[derive(clap::Args)]
struct Serve {
    /// Address to listen on.
    #[arg(long, env = "BBWS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the embedded store keeps its files (created on first run).
    #[arg(long, env = "BBWS_DATA_DIR", default_value = "./bbws-data")]
    data_dir: PathBuf,
    /// How long an invitation stays valid (`2s`, `15m`, `7d`).
    #[arg(long, env = "BBWS_INVITATION_TTL", default_value = "7d", value_parser = humantime::parse_duration)]
    invitation_ttl: std::time::Duration,
    /// How long a resolved bearer token is trusted before the store is
    /// asked again (`0s` disables). This bounds how late another replica's
    /// token revocation or role change takes effect here.
    #[arg(long, env = "BBWS_AUTH_CACHE_TTL", default_value = "1s", value_parser = humantime::parse_duration)]
    auth_cache_ttl: std::time::Duration,
    /// The bootstrap admin token to create on first start (default: random, printed once).
    #[arg(long, env = "BBWS_BOOTSTRAP_TOKEN", hide_env_values = true)]
    bootstrap_token: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "BBWS_LOG_JSON")]
    log_json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Decisions(Decisions::Replay { id, data_dir }) => replay(&id, &data_dir).await,
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
    let running = server::start(ServerConfig {
        listen: args.listen,
        data_dir: args.data_dir,
        invitation_ttl: args.invitation_ttl,
        auth_cache_ttl: args.auth_cache_ttl,
        bootstrap_token: args.bootstrap_token,
    })
    .await?;
    if let Some(token) = &running.bootstrap_token {
        // Printed once: the store keeps only its hash.
        println!("bootstrap admin token (shown once): {token}");
    }
    println!("bbws listening on http://{}", running.addr);
    running.wait().await
}

async fn replay(id: &str, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let services = server::services(
        server::Backends::embedded(data_dir)?,
        std::sync::Arc::new(bbws_host::clock::SystemClock),
        Default::default(),
    )
    .await?;
    let record = services.decision(None, id).await?;
    let replay = services.replay(&record).await?;
    println!("{}", serde_json::to_string_pretty(&replay)?);
    if !replay.same {
        anyhow::bail!("the replay answered differently from the record");
    }
    Ok(())
}
