//! `p2p-di get`: a peer for the length of some downloads, no daemon:
//! it registers, queues the RFCs asked for in one batch, follows them to
//! their end as `ctl get` does, leaves, and exits 0 only if every one was
//! saved.

use super::follow::Follower;
use crate::api;
use anyhow::bail;
use clap::Args;
use p2p_di_actors::config::{LogLevel, PeerConfig};
use p2p_di_actors::peer::downloader::{Enqueue, RefreshIndex, WaitEnded};
use p2p_di_actors::peer::link::{LeaveNetwork, WaitJoined};
use p2p_di_actors::peer::store::GetMissing;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `p2p-di get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// RFC numbers and ranges: `9264`, `9000-9100`.
    #[arg(value_name = "N|N-M", value_delimiter = ',', value_parser = crate::args::parse_rfcs,
        required_unless_present = "all", conflicts_with = "all")]
    rfcs: Vec<RangeInclusive<u32>>,
    /// Every RFC the active peers' indexes name (fetched first).
    #[arg(long)]
    all: bool,
    /// The registration servers, comma-separated (registered with each).
    #[arg(long, value_name = "HOST:PORT[,...]", value_delimiter = ',', required = true,
          value_parser = crate::args::parse_rs)]
    rs: Vec<String>,
    /// Folder to save into (and to serve from while it runs; default ./rfcs).
    #[arg(long, value_name = "DIR")]
    rfc_dir: Option<PathBuf>,
    /// Seconds for everything: registering and every download.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    timeout: u64,
    /// Host name to register with (default: this machine's).
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// Address and port of the RFC server it runs meanwhile (default: the
    /// first free port in 65400-65500).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// One JSON line per download as it ends, instead of a table.
    #[arg(long)]
    json: bool,
    /// error, warn (default), info, debug or trace.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<LogLevel>,
}

/// Runs `p2p-di get`.
pub fn run_get(args: GetArgs) -> anyhow::Result<()> {
    let numbers = if args.all {
        None
    } else {
        Some(crate::args::rfcs_of(&args.rfcs).map_err(anyhow::Error::msg)?)
    };
    let mut config = PeerConfig {
        rs: args.rs.clone().into(),
        listen: args.listen,
        host: args.host.clone(),
        admin_listen: None,
        stats_interval_secs: 0,
        ..PeerConfig::default()
    };
    if let Some(dir) = &args.rfc_dir {
        config.rfc_dir = dir.clone();
    }
    config.log.level = args.log_level.unwrap_or(LogLevel::Warn);
    config
        .validate()
        .map_err(|err| anyhow::anyhow!("command line: {err}"))?;
    p2p_di_actors::sys::descriptors::raise_limit();
    let (log, flushed) = crate::root_logger(&config.log);
    let deadline = Instant::now() + Duration::from_secs(args.timeout.max(1));
    let json = args.json;
    let result: anyhow::Result<Follower> = actix::System::new().block_on(async {
        let peer = match p2p_di_actors::peer::start(&config, log.clone()).await {
            Ok(peer) => peer,
            Err(err @ p2p_di_actors::peer::PeerError::InUse { .. }) => {
                return Err(anyhow::Error::new(err).context(
                    "a peer runs on this folder: download with it (`p2p-di ctl get N`), or pass --rfc-dir",
                ))
            }
            Err(err) => return Err(anyhow::Error::new(err).context("starting a peer for the downloads")),
        };
        let left = || deadline.saturating_duration_since(Instant::now());
        let joined = tokio::time::timeout(left(), peer.link.send(WaitJoined)).await;
        if !matches!(joined, Ok(Ok(()))) {
            bail!(
                "not registered with any RS ({}) within {} s (is one running?)",
                config.rs,
                args.timeout.max(1)
            );
        }
        let stopped = || anyhow::anyhow!("the peer stopped");
        let numbers = match numbers {
            Some(numbers) => numbers,
            None => {
                peer.downloader
                    .send(RefreshIndex::all())
                    .await
                    .map_err(|_| stopped())??;
                peer.store.send(GetMissing).await.map_err(|_| stopped())?
            }
        };
        let queued = api::Queued::from(
            peer.downloader
                .send(Enqueue { numbers })
                .await
                .map_err(|_| stopped())??,
        );
        let mut follower = Follower::new(&queued.downloads, queued.ended_before, json);
        while !follower.done() && !left().is_zero() {
            let ended = peer
                .downloader
                .send(WaitEnded {
                    since: follower.since(),
                    limit: 10_000,
                    wait: left().min(Duration::from_secs(10)),
                })
                .await
                .map_err(|_| stopped())?;
            follower.take(api::EndedPage::after(follower.since(), ended));
        }
        let leaving = peer.link.send(LeaveNetwork);
        let _ = tokio::time::timeout(Duration::from_secs(5), leaving).await;
        Ok(follower)
    });
    drop(log);
    drop(flushed);
    result?.finish("RFCs", "were not saved")
}
