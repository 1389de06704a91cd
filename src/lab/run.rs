//! Runs one experiment: an RS and full peers (their own actors and sockets
//! on 127.0.0.1) in an actix system of its own, the plan executed, every
//! download timed and every copy checked against its source.

use super::bounds::{self, Bound, Cap};
use super::corpus::{self, Corpus};
use super::plan::{Setup, Task};
use anyhow::Context as _;
use futures_util::future::join_all;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use p2p_di_actors::config::{PeerConfig, RsConfig};
use p2p_di_actors::peer::downloader::{DownloadFinished, Fetch, Outcome, RefreshIndex, Subscribe};
use p2p_di_actors::peer::link::{GetPeerList, LeaveNetwork, LinkError, WaitJoined};
use p2p_di_actors::peer::{self, folder, PeerHandle};
use p2p_di_actors::rs;
use slog::Logger;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// One download, as the CSV has it. Times are ms from the experiment's start.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Experiment name.
    pub experiment: String,
    /// Downloading peer.
    pub peer: String,
    /// RFC number.
    pub rfc: u32,
    /// Holder it came from.
    pub holder: String,
    /// Document size.
    pub bytes: u64,
    /// Start, ms after the download phase began.
    pub start_ms: f64,
    /// End, ms after the download phase began.
    pub end_ms: f64,
}

impl Row {
    /// End minus start.
    pub fn duration_ms(&self) -> f64 {
        self.end_ms - self.start_ms
    }
}

/// What one experiment produced.
#[derive(Debug, Clone)]
pub struct Outcomes {
    /// Experiment name.
    pub name: String,
    /// Peer names, in order.
    pub names: Vec<String>,
    /// Every successful download.
    pub rows: Vec<Row>,
    /// Time from the start of the download phase to the last end.
    pub makespan_ms: f64,
    /// Time spent fetching indexes before the download phase.
    pub index_ms: f64,
    /// The physical bound, if caps apply.
    pub bound: Option<Bound>,
    /// Copies checked byte for byte against their source.
    pub verified: usize,
    /// Checks the experiment made, with their result (the scenario's).
    pub checks: Vec<(String, bool)>,
    /// Anything that went wrong.
    pub failures: Vec<String>,
}

/// Caps of an experiment.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Upload cap of every peer.
    pub upload: Option<u64>,
    /// Download cap of every peer.
    pub download: Option<u64>,
}

/// The bound of `setup` on `corpus` under `caps`.
pub fn bound_of(setup: &Setup, corpus: &Corpus, caps: Caps) -> Option<Bound> {
    let n = setup.names.len();
    let mut uploads = vec![0u64; n];
    let mut downloads = vec![0u64; n];
    for (peer, wanted) in setup.downloads.iter().enumerate() {
        for &doc in wanted {
            let size = corpus.docs[doc].bytes.len() as u64;
            downloads[peer] += size;
            if let Some(holder) = setup.holdings.iter().position(|h| h.contains(&doc)) {
                uploads[holder] += size;
            }
        }
    }
    bounds::bound(
        &setup.names,
        &uploads,
        &downloads,
        Cap::of(caps.upload),
        Cap::of(caps.download),
    )
}

/// Shows a peer's downloads on a progress bar.
struct ProgressActor(ProgressBar);

impl actix::Actor for ProgressActor {
    type Context = actix::Context<Self>;
}

impl actix::Handler<DownloadFinished> for ProgressActor {
    type Result = ();

    fn handle(&mut self, msg: DownloadFinished, _: &mut Self::Context) {
        self.0.inc(1);
        if let Outcome::Failed(err) = msg.outcome {
            self.0
                .set_message(format!("RFC {} failed: {err}", msg.number));
        }
    }
}

/// One experiment to run: `task`, planned as `setup`, named `name`, on
/// `corpus` under `caps`, with the peers' folders in `work`.
pub struct Job<'a> {
    /// Name in files and rows.
    pub name: &'a str,
    /// The task.
    pub task: &'a Task,
    /// Its plan.
    pub setup: &'a Setup,
    /// The documents.
    pub corpus: &'a Corpus,
    /// The caps.
    pub caps: Caps,
    /// The peers' folders go here.
    pub work: &'a Path,
}

/// Runs `job`, showing its downloads on `progress`.
pub fn run(job: &Job<'_>, progress: &MultiProgress, log: &Logger) -> anyhow::Result<Outcomes> {
    let Job {
        name,
        task,
        setup,
        corpus,
        caps,
        work,
    } = *job;
    if work.exists() {
        std::fs::remove_dir_all(work).with_context(|| format!("clearing {}", work.display()))?;
    }
    for (i, held) in setup.holdings.iter().enumerate() {
        corpus::install(corpus, held, &work.join(&setup.names[i]))?;
    }
    let system = actix::System::new();
    let mut outcome = system.block_on(async {
        let rs_config = RsConfig {
            listen: "127.0.0.1:0".parse()?,
            state_dir: work.join("rs-state"),
            host: Some("rs".into()),
            ..RsConfig::default()
        };
        let rs = rs::start(&rs_config, log.clone())
            .await
            .context("starting the RS")?;
        let mut peers = Vec::new();
        for (i, peer_name) in setup.names.iter().enumerate() {
            let config = PeerConfig {
                rs: rs.local_addr.to_string(),
                listen: Some("127.0.0.1:0".parse()?),
                rfc_dir: work.join(peer_name),
                host: Some(peer_name.clone()),
                max_parallel_downloads: setup.parallel,
                transfer_timeout_secs: 300,
                upload_limit_bytes_per_sec: caps.upload,
                download_limit_bytes_per_sec: caps.download,
                ..PeerConfig::default()
            };
            let peer = peer::start(&config, log.clone())
                .await
                .with_context(|| format!("starting peer {peer_name}"))?;
            if !setup.downloads[i].is_empty() {
                let bar = progress.add(ProgressBar::new(setup.downloads[i].len() as u64));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>18} [{bar:32}] {pos:>3}/{len} RFCs {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_prefix(format!("{name} {peer_name}"));
                let recipient = actix::Actor::start(ProgressActor(bar)).recipient();
                peer.downloader.do_send(Subscribe(recipient));
            }
            peers.push(peer);
        }
        for peer in &peers {
            tokio::time::timeout(Duration::from_secs(10), peer.link.send(WaitJoined))
                .await
                .context("a peer did not register in 10 s")??;
        }
        let result = match task {
            Task::Scenario => scenario(name, setup, corpus, &peers).await,
            _ => distribution(name, setup, corpus, &peers).await,
        };
        for peer in &peers {
            let _ =
                tokio::time::timeout(Duration::from_secs(2), peer.link.send(LeaveNetwork)).await;
        }
        result
    })?;
    outcome.makespan_ms = outcome.rows.iter().map(|r| r.end_ms).fold(0.0, f64::max);
    outcome.bound = bound_of(setup, corpus, caps);
    verify(setup, corpus, work, &mut outcome);
    Ok(outcome)
}

fn row_of(
    name: &str,
    peer: &str,
    finished: &DownloadFinished,
    t0: SystemTime,
) -> Result<Row, String> {
    match &finished.outcome {
        Outcome::Downloaded { holder, bytes, .. } => {
            let start_ms = finished
                .started
                .duration_since(t0)
                .unwrap_or(Duration::ZERO)
                .as_secs_f64()
                * 1000.0;
            Ok(Row {
                experiment: name.to_owned(),
                peer: peer.to_owned(),
                rfc: finished.number,
                holder: holder.host.clone(),
                bytes: *bytes,
                start_ms,
                end_ms: start_ms + finished.elapsed.as_secs_f64() * 1000.0,
            })
        }
        Outcome::AlreadyHeld => Err(format!("{peer}: RFC {} was already held", finished.number)),
        Outcome::Failed(err) => Err(format!("{peer}: RFC {} failed: {err}", finished.number)),
    }
}

fn empty(name: &str, setup: &Setup) -> Outcomes {
    Outcomes {
        name: name.to_owned(),
        names: setup.names.clone(),
        rows: Vec::new(),
        makespan_ms: 0.0,
        index_ms: 0.0,
        bound: None,
        verified: 0,
        checks: Vec::new(),
        failures: Vec::new(),
    }
}

async fn distribution(
    name: &str,
    setup: &Setup,
    corpus: &Corpus,
    peers: &[PeerHandle],
) -> anyhow::Result<Outcomes> {
    let mut outcome = empty(name, setup);
    let downloaders: Vec<usize> = (0..peers.len())
        .filter(|i| !setup.downloads[*i].is_empty())
        .collect();
    // Every downloader fetches the other peers' indexes first.
    let index_clock = Instant::now();
    let refreshes = downloaders
        .iter()
        .map(|&i| peers[i].downloader.send(RefreshIndex::all()));
    for (i, refreshed) in downloaders.iter().zip(join_all(refreshes).await) {
        match refreshed {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => outcome
                .failures
                .push(format!("{}: index: {err}", setup.names[*i])),
            Err(err) => outcome
                .failures
                .push(format!("{}: index: {err}", setup.names[*i])),
        }
    }
    outcome.index_ms = index_clock.elapsed().as_secs_f64() * 1000.0;
    let t0 = SystemTime::now();
    let fetches = downloaders.iter().map(|&i| {
        peers[i].downloader.send(Fetch {
            numbers: setup.downloads[i]
                .iter()
                .map(|&d| corpus.docs[d].number)
                .collect(),
        })
    });
    for (i, fetched) in downloaders.iter().zip(join_all(fetches).await) {
        let peer = &setup.names[*i];
        match fetched {
            Ok(list) => {
                for finished in &list {
                    match row_of(name, peer, finished, t0) {
                        Ok(row) => outcome.rows.push(row),
                        Err(failure) => outcome.failures.push(failure),
                    }
                }
            }
            Err(err) => outcome.failures.push(format!("{peer}: downloader: {err}")),
        }
    }
    Ok(outcome)
}

async fn scenario(
    name: &str,
    setup: &Setup,
    corpus: &Corpus,
    peers: &[PeerHandle],
) -> anyhow::Result<Outcomes> {
    let mut outcome = empty(name, setup);
    let (a, b) = (&peers[0], &peers[1]);
    let number = corpus.docs[setup.downloads[0][0]].number;
    let t0 = SystemTime::now();
    let fetched = a
        .downloader
        .send(Fetch {
            numbers: vec![number],
        })
        .await?;
    let downloaded = fetched.first().map(|f| row_of(name, "A", f, t0));
    let got = matches!(downloaded, Some(Ok(_)));
    match downloaded {
        Some(Ok(row)) => outcome.rows.push(row),
        Some(Err(failure)) => outcome.failures.push(failure),
        None => outcome.failures.push("A: no download result".into()),
    }
    outcome
        .checks
        .push((format!("A downloaded RFC {number} from B"), got));
    let left = matches!(b.link.send(LeaveNetwork).await, Ok(Ok(())));
    outcome
        .checks
        .push(("B sent LEAVE and the RS answered 200 OK".into(), left));
    let told = a.link.send(GetPeerList).await;
    let none_active = matches!(told, Ok(Err(LinkError::NoActivePeers)));
    outcome.checks.push((
        "A's next PQUERY was answered 404 No Active Peers".into(),
        none_active,
    ));
    for (check, passed) in &outcome.checks {
        if !passed {
            outcome
                .failures
                .push(format!("scenario check failed: {check}"));
        }
    }
    Ok(outcome)
}

/// Checks every downloaded copy byte for byte against its source.
fn verify(setup: &Setup, corpus: &Corpus, work: &Path, outcome: &mut Outcomes) {
    for (i, wanted) in setup.downloads.iter().enumerate() {
        for &doc in wanted {
            let doc = &corpus.docs[doc];
            let path = work
                .join(&setup.names[i])
                .join(folder::file_name(doc.number));
            match std::fs::read(&path) {
                Ok(bytes) if bytes == doc.bytes => outcome.verified += 1,
                Ok(_) => outcome
                    .failures
                    .push(format!("{} differs from its source", path.display())),
                Err(err) => outcome.failures.push(format!("{}: {err}", path.display())),
            }
        }
    }
}
