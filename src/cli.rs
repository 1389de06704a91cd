//! The command line: `p2p-di rs`, `p2p-di peer`, `p2p-di lab`.

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use p2p_di_actors::config::{self, LogConfig, LogFormat, LogLevel, PeerConfig, RsConfig};
use p2p_di_actors::peer::downloader::{Fetch, Outcome};
use p2p_di_actors::peer::link::{Leave, WaitJoined};
use serde::{de::DeserializeOwned, Serialize};
use slog::{info, warn, Logger};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// P2P-DI/1.0: share IETF RFCs peer to peer through a distributed index.
#[derive(Debug, Parser)]
#[command(name = "p2p-di", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the registration server.
    Rs(RsArgs),
    /// Run a peer: its RFC server, its RS link and its downloader.
    Peer(PeerArgs),
    /// Run the experiments (the built-in suite by default) and write
    /// download-time curves, CSV and a report.
    Lab(LabArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Term,
    Json,
}

/// Flags every daemon takes.
#[derive(Debug, Args)]
struct Common {
    /// A RON config file; flags override what it says.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the default config as RON and exit.
    #[arg(long)]
    print_config: bool,
    /// error, warn, info, debug (every message head) or trace.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<Level>,
    /// term or json.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<Format>,
}

impl Common {
    fn apply_log(&self, log: &mut LogConfig) {
        if let Some(level) = self.log_level {
            log.level = match level {
                Level::Error => LogLevel::Error,
                Level::Warn => LogLevel::Warn,
                Level::Info => LogLevel::Info,
                Level::Debug => LogLevel::Debug,
                Level::Trace => LogLevel::Trace,
            };
        }
        if let Some(format) = self.log_format {
            log.format = match format {
                Format::Term => LogFormat::Term,
                Format::Json => LogFormat::Json,
            };
        }
    }

    /// The config file's content, or the default.
    fn load<T: DeserializeOwned + Default>(&self) -> anyhow::Result<T> {
        match &self.config {
            Some(path) => Ok(config::load(path)?),
            None => Ok(T::default()),
        }
    }
}

#[derive(Debug, Args)]
struct RsArgs {
    #[command(flatten)]
    common: Common,
    /// Address and port to listen on (default 0.0.0.0:65423).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Seconds a peer stays active without news (default 7200).
    #[arg(long, value_name = "SECS")]
    ttl: Option<u64>,
    /// Folder of the registry's durable state (default ./p2p-di-rs-state).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PeerArgs {
    #[command(flatten)]
    common: Common,
    /// The registration server (default 127.0.0.1:65423).
    #[arg(long, value_name = "ADDR:PORT")]
    rs: Option<String>,
    /// Address and port of this peer's RFC server (default: the first free
    /// port in 65400-65500 on all interfaces).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Folder of rfcNNNN.txt documents and titles.tsv (default ./rfcs).
    #[arg(long, value_name = "DIR")]
    rfc_dir: Option<PathBuf>,
    /// Host name to register with (default: this machine's).
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// RFCs to download after joining, then keep serving.
    #[arg(long, value_name = "N[,N...]", value_delimiter = ',')]
    get: Vec<u32>,
}

#[derive(Debug, Args)]
struct LabArgs {
    /// Experiment files (RON); none: the built-in suite of config/lab/.
    #[arg(value_name = "FILE.ron")]
    files: Vec<PathBuf>,
    /// Output folder (default results/<timestamp>).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// A real RFC folder (rfcNNNN.txt + titles.tsv) instead of the
    /// generated corpus, e.g. ../shared/rfcs.
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Run Task 1 and Task 2 for growing numbers of peers: peers=MIN..MAX.
    #[arg(long, value_name = "peers=MIN..MAX")]
    sweep: Option<String>,
    /// Multiply the generated documents' sizes by this (1.0: mean 77 KB).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    size_scale: f64,
    /// Seed of the generated corpus.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Keep the peers' folders (out/work) after the run.
    #[arg(long)]
    keep_work: bool,
    /// Log level of the peers and the RS (default warn, to keep the
    /// progress display readable).
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<Level>,
}

/// Runs the command the user chose.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Rs(args) => run_rs(args),
        Command::Peer(args) => run_peer(args),
        Command::Lab(args) => run_lab(args),
    }
}

fn run_peer(args: PeerArgs) -> anyhow::Result<()> {
    if args.common.print_config {
        print_default::<PeerConfig>();
        return Ok(());
    }
    let mut config: PeerConfig = args.common.load()?;
    args.common.apply_log(&mut config.log);
    if let Some(rs) = args.rs {
        config.rs = rs;
    }
    if let Some(listen) = args.listen {
        config.listen = Some(listen);
    }
    if let Some(dir) = args.rfc_dir {
        config.rfc_dir = dir;
    }
    if let Some(host) = args.host {
        config.host = Some(host);
    }
    if !args.get.is_empty() {
        config.get = args.get;
    }
    config
        .validate()
        .map_err(|err| anyhow::anyhow!("{}: {err}", source_name(args.common.config.as_deref())))?;
    crate::raise_fd_limit();
    let log = crate::root_logger(&config.log);
    let system = actix::System::new();
    let result = system.block_on(async {
        let peer = p2p_di_actors::peer::start(&config, log.clone())
            .await
            .context("starting the peer")?;
        if !config.get.is_empty() {
            let (link, downloader, numbers) = (
                peer.link.clone(),
                peer.downloader.clone(),
                config.get.clone(),
            );
            let log = log.clone();
            actix::spawn(async move {
                let _ = link.send(WaitJoined).await;
                let fetch = Fetch {
                    numbers,
                    parallel: None,
                };
                if let Ok(finished) = downloader.send(fetch).await {
                    let failed = finished
                        .iter()
                        .filter(|f| matches!(f.outcome, Outcome::Failed(_)))
                        .count();
                    info!(log, "downloads done"; "asked" => finished.len(), "failed" => failed);
                }
            });
        }
        wait_for_shutdown(&log).await;
        let leaving = peer.link.send(Leave);
        match tokio::time::timeout(Duration::from_secs(5), leaving).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => warn!(log, "leave failed"; "err" => %err),
            _ => warn!(log, "leave did not complete"),
        }
        info!(log, "peer stopped");
        anyhow::Ok(())
    });
    drop(log);
    result
}

fn run_lab(args: LabArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.size_scale.is_finite() && args.size_scale > 0.0,
        "--size-scale must be a positive number"
    );
    let sweep = args
        .sweep
        .as_deref()
        .map(crate::lab::plan::parse_sweep)
        .transpose()
        .map_err(|err| anyhow::anyhow!("--sweep {err}"))?;
    let mut log_config = LogConfig {
        level: LogLevel::Warn,
        ..LogConfig::default()
    };
    let common = Common {
        config: None,
        print_config: false,
        log_level: args.log_level,
        log_format: None,
    };
    common.apply_log(&mut log_config);
    crate::raise_fd_limit();
    let log = crate::root_logger(&log_config);
    let options = crate::lab::LabOptions {
        files: args.files,
        out: args.out,
        corpus: args.corpus,
        sweep,
        size_scale: args.size_scale,
        seed: args.seed,
        keep_work: args.keep_work,
    };
    let result = crate::lab::run(&options, &log).map(|_| ());
    drop(log);
    result
}

fn print_default<T: Serialize + Default>() {
    println!("{}", config::to_ron(&T::default()));
}

fn run_rs(args: RsArgs) -> anyhow::Result<()> {
    if args.common.print_config {
        print_default::<RsConfig>();
        return Ok(());
    }
    let mut config: RsConfig = args.common.load()?;
    args.common.apply_log(&mut config.log);
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(ttl) = args.ttl {
        config.ttl_secs = ttl;
    }
    if let Some(dir) = args.state_dir {
        config.state_dir = dir;
    }
    config
        .validate()
        .map_err(|err| anyhow::anyhow!("{}: {err}", source_name(args.common.config.as_deref())))?;
    crate::raise_fd_limit();
    let log = crate::root_logger(&config.log);
    let system = actix::System::new();
    let result = system.block_on(async {
        let rs = p2p_di_actors::rs::start(&config, log.clone())
            .await
            .context("starting the registration server")?;
        wait_for_shutdown(&log).await;
        rs.flush().await;
        info!(log, "registration server stopped");
        anyhow::Ok(())
    });
    drop(log);
    result
}

fn source_name(path: Option<&Path>) -> String {
    path.map_or_else(|| "command line".to_owned(), |p| p.display().to_string())
}

/// Waits for SIGINT or SIGTERM.
async fn wait_for_shutdown(log: &Logger) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => info!(log, "interrupted; shutting down"),
                    _ = term.recv() => info!(log, "terminated; shutting down"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        info!(log, "interrupted; shutting down");
    }
}
