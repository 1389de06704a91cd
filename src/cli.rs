//! The command line: the daemons (`p2p-di rs`, `p2p-di peer`), the lab,
//! and the tools (`p2p-di ctl`, `p2p-di index`, `p2p-di get`).

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use p2p_di_actors::config::{self, LogConfig, LogFormat, LogLevel, PeerConfig, RsConfig};
use p2p_di_actors::peer::downloader::{Fetch, Outcome};
use p2p_di_actors::peer::link::{LeaveNetwork, WaitJoined};
use p2p_di_actors::peer::store::Rescan;
use p2p_di_actors::sys::{
    self,
    signals::{Listen, Signal, Signals},
};
use serde::{de::DeserializeOwned, Serialize};
use slog::{info, warn, Logger};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// P2P-DI/1.0: share IETF RFCs peer to peer through a distributed index.
#[derive(Debug, Parser)]
#[command(name = "p2p-di", version, about, propagate_version = true)]
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
    /// Talk to a running daemon through its admin endpoint.
    Ctl(crate::tools::ctl::CtlArgs),
    /// Print a peer's RFC index (one GET RFC-Index exchange; no daemon).
    Index(crate::tools::index::IndexArgs),
    /// Download RFCs without a daemon: register, download, save, leave.
    /// Exits 0 only if every RFC was saved.
    Get(crate::tools::get::GetArgs),
}

/// Flags every daemon takes.
#[derive(Debug, Args)]
struct Common {
    /// A RON config file; flags override what it says.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the configuration this command would run with (the file's,
    /// or the defaults, with the flags applied) as RON, and exit.
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

    /// The config file's (or the defaults) with the log flags applied.
    fn config<T>(&self, log: fn(&mut T) -> &mut LogConfig) -> anyhow::Result<T>
    where
        T: DeserializeOwned + Default,
    {
        let mut config = match &self.config {
            Some(path) => config::load(path)?,
            None => T::default(),
        };
        self.apply_log(log(&mut config));
        Ok(config)
    }

    /// Checks the merged config; with `--print-config`, prints it and
    /// answers `false` (do not run).
    fn ready<T: Serialize>(
        &self,
        config: &T,
        valid: Result<(), config::Invalid>,
        flagged: &[&str],
    ) -> anyhow::Result<bool> {
        valid.map_err(|err| self.invalid(err, flagged))?;
        if self.print_config {
            print!("{}", config::to_ron(config));
            return Ok(false);
        }
        Ok(true)
    }

    /// A config value no type check catches, named with where it was set:
    /// the command line for a field in `flagged` (set by a flag or the
    /// environment), else the file and line that set it.
    fn invalid(&self, err: config::Invalid, flagged: &[&str]) -> anyhow::Error {
        let from_file = !flagged.contains(&err.field);
        let place = self
            .config
            .as_deref()
            .filter(|_| from_file)
            .and_then(|path| {
                let text = std::fs::read_to_string(path).ok()?;
                let line = config::line_of_field(&text, err.field)?;
                Some(format!("{}:{line}", path.display()))
            });
        let place = place.unwrap_or_else(|| "command line".to_owned());
        anyhow::anyhow!("{place}: {err}")
    }
}

/// The admin endpoint's address from the command line: `ADDR:PORT`, or
/// `off` for none.
#[derive(Debug, Clone, Copy)]
enum AdminFlag {
    At(SocketAddr),
    Off,
}

fn parse_admin(text: &str) -> Result<AdminFlag, String> {
    if text == "off" {
        return Ok(AdminFlag::Off);
    }
    text.parse()
        .map(AdminFlag::At)
        .map_err(|_| format!("{text:?} is not ADDR:PORT (e.g. 127.0.0.1:8423) or off"))
}

fn apply_admin(flag: Option<AdminFlag>, listen: &mut Option<SocketAddr>) {
    match flag {
        Some(AdminFlag::At(addr)) => *listen = Some(addr),
        Some(AdminFlag::Off) => *listen = None,
        None => {}
    }
}

/// `--repeat`: 1 to 100.
fn parse_repeat(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(k @ 1..=100) => Ok(k),
        _ => Err(format!("{text:?}: the number of repeats is 1 to 100")),
    }
}

/// The admin token: the config's, else `$P2P_DI_ADMIN_TOKEN`.
fn admin_token(configured: &mut Option<String>) {
    if configured.is_none() {
        *configured = std::env::var("P2P_DI_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty());
    }
}

/// Runs a daemon: raises the open-file limit, builds the root logger, and
/// runs `body` in an actix system.
fn run_daemon<F, Fut>(log_config: &LogConfig, body: F) -> anyhow::Result<()>
where
    F: FnOnce(Logger) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    p2p_di_actors::sys::descriptors::raise_limit();
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
    /// Address of the admin endpoint (default 127.0.0.1 on a free port,
    /// written in the state folder's note, `admin`), or `off`.
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_admin)]
    admin: Option<AdminFlag>,
}

#[derive(Debug, Args)]
struct PeerArgs {
    #[command(flatten)]
    common: Common,
    /// The registration servers, comma-separated: the peer registers with
    /// each and merges their peer lists (default 127.0.0.1:65423).
    #[arg(long, value_name = "HOST:PORT[,...]", value_delimiter = ',',
          value_parser = crate::args::parse_rs)]
    rs: Vec<String>,
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
    /// RFCs to download after joining, then keep serving (for a download
    /// that exits with its outcome, see `p2p-di get` and `p2p-di ctl get`).
    #[arg(long, value_name = "N|N-M[,...]", value_delimiter = ',',
          value_parser = crate::args::parse_rfcs)]
    get: Vec<std::ops::RangeInclusive<u32>>,
    /// Address of the admin endpoint (default 127.0.0.1 on a free port,
    /// written in the RFC folder's note, `.p2p-di.admin`), or `off`.
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_admin)]
    admin: Option<AdminFlag>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct LabArgs {
    /// `p2p-di lab report LOG...`: a report from daemons' logs.
    #[command(subcommand)]
    report: Option<LabCommand>,
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
    /// Runs of each experiment; tables show the median and the range.
    #[arg(long, value_name = "K", default_value_t = crate::lab::DEFAULT_REPEATS,
        value_parser = parse_repeat)]
    repeat: usize,
    /// Log level of the peers and the RS (default error, to keep the
    /// progress display readable: the failure runs fail downloads on
    /// purpose).
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<LogLevel>,
    /// Where the peers run: in-process (actors of this process on
    /// 127.0.0.1, token-bucket caps), netns (each daemon a process in a
    /// network namespace of its own, links shaped by the kernel; needs
    /// root), or both (each experiment both ways).
    #[arg(long, value_enum, default_value_t = NetMode::InProcess)]
    net: NetMode,
    /// The private /16 of `--net netns`.
    #[arg(long, value_name = "A.B.0.0/16", default_value = "10.77.0.0/16")]
    subnet: crate::lab::netns::Subnet,
}

/// Where the lab's peers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum NetMode {
    /// Actors of the lab's process.
    InProcess,
    /// Processes in network namespaces.
    Netns,
    /// Each experiment both ways.
    Both,
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Build the lab's report from peers' JSON logs (`--log-format json`),
    /// collected from any hosts.
    Report(LabReportArgs),
}

#[derive(Debug, Args)]
struct LabReportArgs {
    /// Peer logs (JSON lines); lines that are no download event are skipped.
    #[arg(value_name = "LOG", required = true)]
    logs: Vec<PathBuf>,
    /// Output folder (default results/<timestamp>).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Title of the report.
    #[arg(long, default_value = "Downloads from daemon logs")]
    title: String,
}

/// Runs the command the user chose.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Rs(args) => run_rs(args),
        Command::Peer(args) => run_peer(args),
        Command::Lab(args) => run_lab(args),
        Command::Ctl(args) => crate::tools::ctl::run_ctl(args),
        Command::Index(args) => crate::tools::index::run_index(args),
        Command::Get(args) => crate::tools::get::run_get(args),
    }
}

fn run_peer(args: PeerArgs) -> anyhow::Result<()> {
    let mut config = args.common.config::<PeerConfig>(|c| &mut c.log)?;
    let mut flagged = vec![];
    if !args.rs.is_empty() {
        flagged.push("rs");
        config.rs = args.rs.into();
    }
    if let Some(listen) = args.listen {
        config.listen = Some(listen);
    }
    if let Some(dir) = args.rfc_dir {
        config.rfc_dir = dir;
    }
    if args.host.is_some() {
        flagged.push("host");
    }
    if args.admin.is_some() {
        flagged.push("admin_listen");
    }
    if config.admin_token.is_none() {
        flagged.push("admin_token");
    }
    if let Some(host) = args.host {
        config.host = Some(host);
    }
    if !args.get.is_empty() {
        config.get =
            crate::args::rfcs_of(&args.get).map_err(|err| anyhow::anyhow!("--get: {err}"))?;
    }
    apply_admin(args.admin, &mut config.admin_listen);
    admin_token(&mut config.admin_token);
    if !args.common.ready(&config, config.validate(), &flagged)? {
        return Ok(());
    }
    run_daemon(&config.log.clone(), |log| async move {
        let started = Instant::now();
        let mut signals = Signals::new(Listen::Daemon).context("listening for signals")?;
        let mut peer = p2p_di_actors::peer::start(&config, log.clone())
            .await
            .context("starting the peer")?;
        let admin = config
            .admin_listen
            .map(|addr| {
                let state = crate::admin::peer::PeerAdmin::new(
                    &peer,
                    config.rfc_dir.clone(),
                    config.transfer_timeout(),
                );
                let token = config.admin_token.clone();
                crate::admin::serve(
                    addr,
                    token,
                    started,
                    state,
                    crate::admin::peer::routes,
                    &log,
                )
            })
            .transpose()?;
        note_admin(|note| peer.note(note), admin.as_ref().map(|a| a.addr), &log);
        sys::ready::ready(&format!("serving RFCs on {}", peer.local_addr));
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
                    let failed: Vec<u32> = finished
                        .iter()
                        .filter(|f| matches!(f.outcome, Outcome::Failed(_)))
                        .map(|f| f.number)
                        .collect();
                    if failed.is_empty() {
                        info!(log, "downloads done"; "asked" => finished.len());
                    } else {
                        warn!(log, "downloads done, some failed"; "asked" => finished.len(),
                            "failed" => ?failed);
                    }
                }
            });
        }
        if config.stats_interval_secs > 0 {
            actix::spawn(peer_stats(
                peer.store.clone(),
                peer.link.clone(),
                peer.metrics.clone(),
                Duration::from_secs(config.stats_interval_secs),
                log.clone(),
            ));
        }
        let within = loop {
            tokio::select! {
                signal = signals.next() => match signal {
                    Signal::Stop { by, within } => {
                        info!(log, "shutting down"; "signal" => by);
                        break within;
                    }
                    Signal::Rescan { by } => {
                        info!(log, "rescanning the rfc folder"; "signal" => by);
                        rescan(&peer.store, &log).await;
                    }
                },
                fatal = peer.fatal.recv() => {
                    return Err(anyhow::Error::new(fatal).context("the peer stopped"))
                }
            }
        };
        sys::ready::stopping();
        // LEAVE gets 5 s, or what the system leaves us (Windows ends a
        // process a few seconds after its console closed), less time to
        // stop the admin endpoint.
        let leave_within = within.map_or(LEAVE_TIMEOUT, |w| LEAVE_TIMEOUT.min(w * 2 / 3));
        if let Some(admin) = admin {
            admin.stop().await;
        }
        let _ = peer.note("");
        let leaving = peer.link.send(LeaveNetwork);
        match tokio::time::timeout(leave_within, leaving).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => warn!(log, "leave failed"; "err" => %err),
            _ => warn!(log, "leave did not complete"),
        }
        info!(log, "peer stopped");
        Ok(())
    })
}

/// How long a stopping peer waits for its LEAVE.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes where the admin endpoint listens into the folder's note, where
/// `p2p-di ctl` looks for it.
fn note_admin(
    write: impl FnOnce(&str) -> std::io::Result<()>,
    admin: Option<SocketAddr>,
    log: &Logger,
) {
    let note = match admin {
        Some(addr) => format!("admin={addr}\npid={}\n", std::process::id()),
        None => format!("pid={}\n", std::process::id()),
    };
    if let Err(err) = write(&note) {
        warn!(log, "could not write the admin address in the folder's note"; "err" => %err);
    }
}

/// Re-reads the RFC folder (SIGHUP on Unix).
async fn rescan(store: &actix::Addr<p2p_di_actors::peer::store::StoreActor>, log: &Logger) {
    match store.send(Rescan).await {
        Ok(Ok(done)) => info!(log, "rfc folder rescanned"; "documents" => done.documents,
            "added" => ?done.added, "removed" => ?done.removed, "skipped" => done.skipped.len()),
        Ok(Err(err)) => warn!(log, "rescan failed"; "err" => %err),
        Err(_) => warn!(log, "rescan failed"; "err" => "the store is restarting"),
    }
}

/// Logs a stats line every `every`.
async fn peer_stats(
    store: actix::Addr<p2p_di_actors::peer::store::StoreActor>,
    link: actix::Addr<p2p_di_actors::peer::link::RsLinkActor>,
    metrics: p2p_di_actors::metrics::Metrics,
    every: Duration,
    log: Logger,
) {
    use p2p_di_actors::peer::link::GetLinkState;
    use p2p_di_actors::peer::store::GetStoreStats;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let count = |outcome: &'static str| {
        metrics
            .peer_downloads
            .get_or_create(&p2p_di_actors::metrics::OutcomeLabel { outcome })
            .get()
    };
    loop {
        ticks.tick().await;
        let (Ok(stats), Ok(state)) = (
            store.send(GetStoreStats).await,
            link.send(GetLinkState).await,
        ) else {
            continue;
        };
        info!(log, "peer stats";
            "joined" => state.joined,
            "documents" => stats.documents,
            "index_records" => stats.index_records,
            "connections_open" => metrics.connections("peer").get(),
            "bytes_served" => metrics.peer_bytes_served.get(),
            "bytes_downloaded" => metrics.peer_bytes_downloaded.get(),
            "downloaded" => count("downloaded"),
            "download_failures" => count("failed"));
    }
}

fn run_lab(args: LabArgs) -> anyhow::Result<()> {
    if let Some(LabCommand::Report(report)) = args.report {
        let out = crate::lab::logs::report(&report.logs, report.out, &report.title)?;
        println!("report: {}", out.join("report.md").display());
        return Ok(());
    }
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
        level: args.log_level.unwrap_or(LogLevel::Error),
        ..LogConfig::default()
    };
    p2p_di_actors::sys::descriptors::raise_limit();
    let (log, flushed) = crate::root_logger(&log_config);
    let options = crate::lab::LabOptions {
        files: args.files,
        out: args.out,
        corpus: args.corpus,
        sweep,
        size_scale: args.size_scale,
        seed: args.seed,
        keep_work: args.keep_work,
        repeats: args.repeat,
        modes: match args.net {
            NetMode::InProcess => vec![crate::lab::results::Mode::InProcess],
            NetMode::Netns => vec![crate::lab::results::Mode::Netns],
            NetMode::Both => vec![
                crate::lab::results::Mode::InProcess,
                crate::lab::results::Mode::Netns,
            ],
        },
        subnet: args.subnet,
    };
    let result = crate::lab::run(&options, &log).map(|_| ());
    drop(log);
    drop(flushed);
    result
}

fn run_rs(args: RsArgs) -> anyhow::Result<()> {
    let mut config = args.common.config::<RsConfig>(|c| &mut c.log)?;
    let mut flagged = vec![];
    if args.ttl.is_some() {
        flagged.push("ttl_secs");
    }
    if args.admin.is_some() {
        flagged.push("admin_listen");
    }
    if config.admin_token.is_none() {
        flagged.push("admin_token");
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(ttl) = args.ttl {
        config.ttl_secs = ttl;
    }
    if let Some(dir) = args.state_dir {
        config.state_dir = dir;
    }
    apply_admin(args.admin, &mut config.admin_listen);
    admin_token(&mut config.admin_token);
    if !args.common.ready(&config, config.validate(), &flagged)? {
        return Ok(());
    }
    run_daemon(&config.log.clone(), |log| async move {
        let started = Instant::now();
        let mut signals = Signals::new(Listen::Daemon).context("listening for signals")?;
        let mut rs = p2p_di_actors::rs::start(&config, log.clone())
            .await
            .context("starting the registration server")?;
        let admin = config
            .admin_listen
            .map(|addr| {
                let state = crate::admin::rs::RsAdmin {
                    registry: rs.registry.clone(),
                    metrics: rs.metrics.clone(),
                    listen: rs.local_addr,
                    ttl_secs: config.ttl_secs,
                };
                let token = config.admin_token.clone();
                crate::admin::serve(addr, token, started, state, crate::admin::rs::routes, &log)
            })
            .transpose()?;
        note_admin(|note| rs.note(note), admin.as_ref().map(|a| a.addr), &log);
        sys::ready::ready(&format!("registering peers on {}", rs.local_addr));
        loop {
            tokio::select! {
                signal = signals.next() => match signal {
                    Signal::Stop { by, .. } => {
                        info!(log, "shutting down"; "signal" => by);
                        break;
                    }
                    Signal::Rescan { by } => {
                        info!(log, "the registration server has nothing to reload"; "signal" => by);
                    }
                },
                fatal = rs.fatal.recv() => {
                    return Err(anyhow::Error::new(fatal).context("the registration server stopped"))
                }
            }
        }
        sys::ready::stopping();
        if let Some(admin) = admin {
            admin.stop().await;
        }
        if let Err(err) = rs.flush().await {
            warn!(log, "the journal's last writes failed"; "err" => %err);
        }
        let _ = rs.note("");
        info!(log, "registration server stopped");
        Ok(())
    })
}
