//! The command line: `p2p-di rs`, `p2p-di peer`, `p2p-di lab`.

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use p2p_di_actors::config::{self, LogConfig, LogFormat, LogLevel, PeerConfig, RsConfig};
use p2p_di_actors::peer::downloader::{Fetch, Outcome};
use p2p_di_actors::peer::link::{LeaveNetwork, WaitJoined};
use serde::{de::DeserializeOwned, Serialize};
use slog::{info, warn, Logger};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
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
    log_level: Option<LogLevel>,
    /// term or json.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
}

impl Common {
    fn apply_log(&self, log: &mut LogConfig) {
        if let Some(level) = self.log_level {
            log.level = level;
        }
        if let Some(format) = self.log_format {
            log.format = format;
        }
    }

    /// The config to run with: the file's (or the defaults) with the log
    /// flags applied; `None` when `--print-config` printed the defaults.
    fn config<T>(&self, log: fn(&mut T) -> &mut LogConfig) -> anyhow::Result<Option<T>>
    where
        T: DeserializeOwned + Serialize + Default,
    {
        if self.print_config {
            println!("{}", config::to_ron(&T::default()));
            return Ok(None);
        }
        let mut config = match &self.config {
            Some(path) => config::load(path)?,
            None => T::default(),
        };
        self.apply_log(log(&mut config));
        Ok(Some(config))
    }

    /// A config value no type check catches, named with its source.
    fn invalid(&self, err: String) -> anyhow::Error {
        let source = self
            .config
            .as_deref()
            .map_or_else(|| "command line".to_owned(), |p| p.display().to_string());
        anyhow::anyhow!("{source}: {err}")
    }
}

/// Runs a daemon: raises the open-file limit, builds the root logger, and
/// runs `body` in an actix system.
fn run_daemon<F, Fut>(log_config: &LogConfig, body: F) -> anyhow::Result<()>
where
    F: FnOnce(Logger) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    crate::raise_fd_limit();
    p2p_di_actors::fault::arm_from_env();
    let (log, flushed) = crate::root_logger(log_config);
    let result = actix::System::new().block_on(body(log));
    // Every line logged so far is written before the process exits.
    drop(flushed);
    result
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
    log_level: Option<LogLevel>,
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
    let Some(mut config) = args.common.config::<PeerConfig>(|c| &mut c.log)? else {
        return Ok(());
    };
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
    config.validate().map_err(|err| args.common.invalid(err))?;
    run_daemon(&config.log.clone(), |log| async move {
        let mut peer = p2p_di_actors::peer::start(&config, log.clone())
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
                let fetch = Fetch { numbers };
                if let Ok(finished) = downloader.send(fetch).await {
                    let failed = finished
                        .iter()
                        .filter(|f| matches!(f.outcome, Outcome::Failed(_)))
                        .count();
                    info!(log, "downloads done"; "asked" => finished.len(), "failed" => failed);
                }
            });
        }
        tokio::select! {
            () = wait_for_shutdown(&log) => {}
            fatal = peer.fatal.recv() => return Err(anyhow::Error::new(fatal).context("the peer stopped")),
        }
        let leaving = peer.link.send(LeaveNetwork);
        match tokio::time::timeout(Duration::from_secs(5), leaving).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => warn!(log, "leave failed"; "err" => %err),
            _ => warn!(log, "leave did not complete"),
        }
        info!(log, "peer stopped");
        Ok(())
    })
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
    let log_config = LogConfig {
        level: args.log_level.unwrap_or(LogLevel::Warn),
        ..LogConfig::default()
    };
    crate::raise_fd_limit();
    let (log, flushed) = crate::root_logger(&log_config);
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
    drop(flushed);
    result
}

fn run_rs(args: RsArgs) -> anyhow::Result<()> {
    let Some(mut config) = args.common.config::<RsConfig>(|c| &mut c.log)? else {
        return Ok(());
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(ttl) = args.ttl {
        config.ttl_secs = ttl;
    }
    if let Some(dir) = args.state_dir {
        config.state_dir = dir;
    }
    config.validate().map_err(|err| args.common.invalid(err))?;
    run_daemon(&config.log.clone(), |log| async move {
        let mut rs = p2p_di_actors::rs::start(&config, log.clone())
            .await
            .context("starting the registration server")?;
        tokio::select! {
            () = wait_for_shutdown(&log) => {}
            fatal = rs.fatal.recv() => {
                return Err(anyhow::Error::new(fatal).context("the registration server stopped"))
            }
        }
        if let Err(err) = rs.flush().await {
            warn!(log, "the journal's last writes failed"; "err" => %err);
        }
        info!(log, "registration server stopped");
        Ok(())
    })
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
