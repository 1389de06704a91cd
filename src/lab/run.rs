//! Runs one point of an experiment in-process: an RS, and full peers (each
//! its own actors and sockets on 127.0.0.1) spread over one arbiter per
//! core; the plan executed round by round, every download timed from the
//! peers' own events, a peer stopped part-way when the plan says so, and
//! every copy checked against its source.

use super::bounds::{self, Bound, Cap};
use super::corpus::{self, Corpus};
use super::events::{Ended, Event};
use super::interrupt;
use super::plan::{Kind, Point};
use actix::prelude::*;
use anyhow::Context as _;
use futures_util::future::join_all;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use p2p_di_actors::config::{PeerConfig, RsConfig, RsList, ServerLimits, SyncMode};
use p2p_di_actors::peer::downloader::{DownloadFinished, Fetch, Outcome, RefreshIndex, Subscribe};
use p2p_di_actors::peer::link::{GetPeerList, LeaveNetwork, LinkError, WaitJoined};
use p2p_di_actors::peer::{self, folder, PeerHandle};
use p2p_di_actors::rs;
use p2p_di_actors::state::index::Holder;
use slog::Logger;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// One download, as the CSV has it. Times are ms from the start of the
/// download phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The run's row name.
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
    /// Which repeat (1, 2, ...).
    pub repeat: usize,
}

impl Row {
    /// End minus start.
    pub fn duration_ms(&self) -> f64 {
        self.end_ms - self.start_ms
    }
}

/// A download that did not complete, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    /// Downloading peer.
    pub peer: String,
    /// RFC number.
    pub rfc: u32,
    /// Why, in words.
    pub reason: String,
}

/// Exchanges, bytes and seconds of one kind of discovery exchange.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Traffic {
    /// Exchanges.
    pub exchanges: u64,
    /// Bytes, both ways.
    pub bytes: u64,
    /// Seconds, summed over the exchanges.
    pub secs: f64,
}

impl Traffic {
    fn of(peers: &[PeerHandle], kind: &'static str) -> Self {
        let mut total = Traffic::default();
        for peer in peers {
            let (exchanges, bytes, secs) = peer.metrics.discovery(kind);
            total.exchanges += exchanges;
            total.bytes += bytes;
            total.secs += secs;
        }
        total
    }
}

/// What finding content cost: PQUERYs and index exchanges, all peers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Discovery {
    /// PQUERY exchanges with the RS.
    pub pquery: Traffic,
    /// GET RFC-Index exchanges.
    pub index: Traffic,
}

/// What one run (one repeat of one point) produced.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    /// Every successful download.
    pub rows: Vec<Row>,
    /// Every download that did not complete.
    pub failed: Vec<Failed>,
    /// Start of the download phase to the last end, ms.
    pub makespan_ms: f64,
    /// Fetching the indexes before the download phase, ms.
    pub index_ms: f64,
    /// PQUERY and index traffic of the whole run.
    pub discovery: Discovery,
    /// Copies checked byte for byte against their source.
    pub verified: usize,
    /// The scenario's checks, with their result.
    pub checks: Vec<(String, bool)>,
    /// What went wrong with the run itself (a copy that differs, a check
    /// that failed): never expected.
    pub problems: Vec<String>,
    /// When the planned peer was stopped, ms into the download phase.
    pub killed_at_ms: Option<f64>,
    /// Ctrl-C or SIGTERM stopped it.
    pub interrupted: bool,
    /// When the download phase began.
    pub phase_started: Option<SystemTime>,
}

/// Caps of an experiment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caps {
    /// Upload cap of every peer.
    pub upload: Option<u64>,
    /// Download cap of every peer.
    pub download: Option<u64>,
    /// Upload cap of the server (P0 of Task 1 and of a swarm), if its own.
    pub server_upload: Option<u64>,
    /// Download cap of the server, if its own.
    pub server_download: Option<u64>,
}

impl Caps {
    /// Whether peer `i` of a run of `kind` is its server: the one holder
    /// of Task 1, or a swarm's seed.
    pub fn is_server(kind: Kind, i: usize) -> bool {
        i == 0 && matches!(kind, Kind::Centralized | Kind::Swarm)
    }

    /// (upload, download) caps of peer `i` of a run of `kind`.
    pub fn of_peer(&self, kind: Kind, i: usize) -> (Option<u64>, Option<u64>) {
        if Caps::is_server(kind, i) {
            (
                self.server_upload.or(self.upload),
                self.server_download.or(self.download),
            )
        } else {
            (self.upload, self.download)
        }
    }
}

/// The bound our caps imply for `point` on `corpus`.
pub fn bound_of(point: &Point, corpus: &Corpus, caps: Caps) -> Option<Bound> {
    let setup = &point.setup;
    let n = setup.names.len();
    let size = |doc: usize| corpus.docs[doc].bytes.len() as u64;
    let cap_of = |i: usize| {
        let (up, down) = caps.of_peer(point.kind, i);
        (Cap::of(up), Cap::of(down))
    };
    let peer_caps: Vec<(Option<Cap>, Option<Cap>)> = (0..n).map(cap_of).collect();
    if point.kind == Kind::Swarm {
        // Who uploads what is decided as it runs: the seed sends each byte
        // at least once, each downloader receives all, and the uploads of
        // all peers together carry every copy.
        let file: u64 = setup.holdings[0].iter().map(|&d| size(d)).sum();
        let mut uploads = vec![0; n];
        uploads[0] = file;
        let downloads: Vec<u64> = (0..n).map(|i| if i == 0 { 0 } else { file }).collect();
        let mut best = bounds::bound(&setup.names, &uploads, &downloads, &peer_caps);
        let copies = file * (n as u64 - 1);
        let ups: Option<Vec<Cap>> = peer_caps.iter().map(|(up, _)| *up).collect();
        if let Some(ups) = ups {
            let all = Cap {
                rate: ups.iter().map(|c| c.rate).sum(),
                burst: ups.iter().map(|c| c.burst).sum(),
            };
            let secs = all.secs(copies);
            if best.as_ref().is_none_or(|b| secs > b.secs) {
                best = Some(Bound {
                    secs,
                    limited_by: format!(
                        "all {n} upload links together carrying {:.2} MB",
                        copies as f64 / 1e6
                    ),
                });
            }
        }
        return best;
    }
    let mut uploads = vec![0u64; n];
    let mut downloads = vec![0u64; n];
    for (peer, downloaded) in downloads.iter_mut().enumerate() {
        for doc in setup.downloads_of(peer) {
            *downloaded += size(doc);
            if let Some(holder) = setup.holdings.iter().position(|h| h.contains(&doc)) {
                uploads[holder] += size(doc);
            }
        }
    }
    bounds::bound(&setup.names, &uploads, &downloads, &peer_caps)
}

/// The textbook bound of `point` on `corpus`.
pub fn textbook_of(point: &Point, corpus: &Corpus, caps: Caps) -> Option<bounds::Textbook> {
    let setup = &point.setup;
    let size = |doc: usize| corpus.docs[doc].bytes.len() as u64;
    let wanted = |peer: usize| {
        setup
            .downloads_of(peer)
            .iter()
            .map(|&d| size(d))
            .sum::<u64>()
    };
    let downloaders = (0..setup.names.len()).filter(|p| wanted(*p) > 0).count();
    let most = (0..setup.names.len()).map(wanted).max().unwrap_or(0);
    let (server_up, _) = caps.of_peer(point.kind, 0);
    match point.kind {
        Kind::Scenario => None,
        Kind::Centralized => bounds::client_server(downloaders, most, server_up, caps.download),
        Kind::Swarm => bounds::seeded(downloaders, most, server_up, caps.upload, caps.download),
        Kind::Distributed(_) => bounds::shared(downloaders, most, caps.upload, caps.download),
    }
}

/// Collects a peer's download events and shows them on a progress bar.
struct Collector {
    bar: ProgressBar,
    events: Vec<DownloadFinished>,
}

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<DownloadFinished> for Collector {
    type Result = ();

    fn handle(&mut self, msg: DownloadFinished, _: &mut Self::Context) {
        self.bar.inc(1);
        if let Outcome::Failed(err) = &msg.outcome {
            self.bar
                .set_message(format!("RFC {} failed: {err}", msg.number));
        }
        self.events.push(msg);
    }
}

/// Hand over the events collected.
#[derive(Message)]
#[rtype(result = "Vec<DownloadFinished>")]
struct TakeEvents;

impl Handler<TakeEvents> for Collector {
    type Result = MessageResult<TakeEvents>;

    fn handle(&mut self, _: TakeEvents, _: &mut Self::Context) -> Self::Result {
        self.bar.finish_and_clear();
        MessageResult(std::mem::take(&mut self.events))
    }
}

/// One run to make.
pub struct Job<'a> {
    /// The point.
    pub point: &'a Point,
    /// The documents.
    pub corpus: &'a Corpus,
    /// The caps.
    pub caps: Caps,
    /// The peers' folders go here.
    pub work: &'a Path,
    /// Which repeat (1, 2, ...).
    pub repeat: usize,
}

/// The peers of a run and the arbiters they run on.
struct Cluster {
    peers: Vec<PeerHandle>,
    collectors: Vec<Option<Addr<Collector>>>,
    /// The arbiter of the peer that will be stopped, if any.
    victim: Option<ArbiterHandle>,
    /// The arbiter of the RS that will be stopped, if any.
    rs_victim: Option<ArbiterHandle>,
}

/// Runs `job`, showing its downloads on `progress`.
pub fn run(job: &Job<'_>, progress: &MultiProgress, log: &Logger) -> anyhow::Result<RunOutcome> {
    let setup = &job.point.setup;
    prepare(job)?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    // The RS on this thread; the peers on one arbiter per core, but the one
    // to be stopped, which gets an arbiter of its own.
    let system = actix::System::new();
    let arbiters: Vec<Arbiter> = (0..cores).map(|_| Arbiter::new()).collect();
    let victim_arbiter = setup.kill.map(|_| Arbiter::new());
    // Each RS on an arbiter of its own, so that one can be stopped.
    let rs_arbiters: Vec<Arbiter> = (0..setup.rss.max(1)).map(|_| Arbiter::new()).collect();
    let result = system.block_on(async {
        let peers = job.point.setup.names.len();
        let mut rss = Vec::new();
        for (j, arbiter) in rs_arbiters.iter().enumerate() {
            let rs_config = RsConfig {
                listen: "127.0.0.1:0".parse()?,
                state_dir: job.work.join(format!("rs{j}-state")),
                host: Some(setup.rs_name(j).to_lowercase()),
                admin_listen: None,
                max_peers_per_address: (2 * peers).max(256),
                limits: lab_limits(peers),
                ..RsConfig::default()
            };
            let rs = start_rs_on(&arbiter.handle(), rs_config, log.clone())
                .await
                .with_context(|| format!("starting {}", setup.rs_name(j)))?;
            rss.push(rs);
        }
        let rs_list = RsList::from(
            rss.iter()
                .map(|rs| rs.local_addr.to_string())
                .collect::<Vec<_>>(),
        );
        let mut cluster = Cluster {
            peers: Vec::new(),
            collectors: Vec::new(),
            victim: victim_arbiter.as_ref().map(Arbiter::handle),
            rs_victim: setup.kill_rs.map(|(j, _)| rs_arbiters[j].handle()),
        };
        for (i, name) in setup.names.iter().enumerate() {
            let arbiter = match (setup.kill, &cluster.victim) {
                (Some((victim, _)), Some(handle)) if victim == i => handle.clone(),
                _ => arbiters[i % cores].handle(),
            };
            let config = peer_config(job, &rs_list, i);
            let peer = start_on(&arbiter, config, log.clone())
                .await
                .with_context(|| format!("starting peer {name}"))?;
            cluster.collectors.push(collector(job, &peer, i, progress));
            cluster.peers.push(peer);
        }
        let joined = cluster
            .peers
            .iter()
            .map(|p| tokio::time::timeout(Duration::from_secs(30), p.link.send(WaitJoined)));
        for (name, joined) in setup.names.iter().zip(join_all(joined).await) {
            anyhow::ensure!(
                matches!(joined, Ok(Ok(()))),
                "peer {name} did not register within 30 s"
            );
        }
        let mut outcome = tokio::select! {
            outcome = execute(job, &cluster) => outcome?,
            () = interrupt::wait() => RunOutcome { interrupted: true, ..RunOutcome::default() },
        };
        if !outcome.interrupted {
            collect(job, &cluster, &mut outcome).await;
        }
        outcome.discovery = Discovery {
            pquery: Traffic::of(&cluster.peers, "pquery"),
            index: Traffic::of(&cluster.peers, "index"),
        };
        let leaving = cluster.peers.iter().enumerate().filter_map(|(i, p)| {
            let killed = setup.kill.is_some_and(|(victim, _)| victim == i);
            (!killed)
                .then(|| tokio::time::timeout(Duration::from_secs(2), p.link.send(LeaveNetwork)))
        });
        join_all(leaving).await;
        Ok(outcome)
    });
    for arbiter in arbiters
        .into_iter()
        .chain(victim_arbiter)
        .chain(rs_arbiters)
    {
        arbiter.stop();
        let _ = arbiter.join();
    }
    let mut outcome = result?;
    if !outcome.interrupted {
        verify(job, &mut outcome);
    }
    Ok(outcome)
}

/// Server limits for a lab of `peers` peers. Every peer connects from
/// 127.0.0.1, so the per-address caps (meant to keep one host from taking
/// every slot) would count the whole lab as one client: they are raised to
/// the total, which grows with the lab.
pub fn lab_limits(peers: usize) -> ServerLimits {
    let most = (4 * peers).max(1024);
    ServerLimits {
        max_connections: most,
        max_connections_per_address: most,
        listen_backlog: u32::try_from(most).unwrap_or(u32::MAX),
        ..ServerLimits::default()
    }
}

fn peer_config(job: &Job<'_>, rs: &RsList, i: usize) -> PeerConfig {
    let setup = &job.point.setup;
    let name = &setup.names[i];
    let (upload, download) = job.caps.of_peer(job.point.kind, i);
    PeerConfig {
        rs: rs.clone(),
        listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        rfc_dir: job.work.join(name),
        host: Some(name.to_owned()),
        max_parallel_downloads: setup.parallel,
        transfer_timeout_secs: 300,
        upload_limit_bytes_per_sec: upload,
        download_limit_bytes_per_sec: download,
        refresh_index_ms: setup.refresh_index_ms.unwrap_or(0),
        refresh_index_peers: setup
            .refresh_index_peers
            .unwrap_or(PeerConfig::default().refresh_index_peers),
        // Every peer's folder is in the lab's work folder: their commits
        // share flushes.
        sync: SyncMode::Grouped,
        limits: lab_limits(setup.names.len()),
        admin_listen: None,
        stats_interval_secs: 0,
        ..PeerConfig::default()
    }
}

/// Empties the run's work folder and gives each peer its documents.
pub fn prepare(job: &Job<'_>) -> anyhow::Result<()> {
    let setup = &job.point.setup;
    if job.work.exists() {
        std::fs::remove_dir_all(job.work)
            .with_context(|| format!("clearing {}", job.work.display()))?;
    }
    for (i, held) in setup.holdings.iter().enumerate() {
        corpus::install(job.corpus, held, &job.work.join(&setup.names[i]))?;
    }
    Ok(())
}

/// Starts an RS on `arbiter` (its actors live on that thread).
async fn start_rs_on(
    arbiter: &ArbiterHandle,
    config: RsConfig,
    log: Logger,
) -> anyhow::Result<rs::RsHandle> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = arbiter.spawn(async move {
        let _ = tx.send(rs::start(&config, log).await);
    });
    anyhow::ensure!(spawned, "the arbiter has stopped");
    Ok(rx.await.context("the arbiter stopped")??)
}

/// Starts a peer on `arbiter` (its actors live on that thread).
async fn start_on(
    arbiter: &ArbiterHandle,
    config: PeerConfig,
    log: Logger,
) -> anyhow::Result<PeerHandle> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = arbiter.spawn(async move {
        let _ = tx.send(peer::start(&config, log).await);
    });
    anyhow::ensure!(spawned, "the arbiter has stopped");
    Ok(rx.await.context("the arbiter stopped")??)
}

/// A collector of `peer`'s download events, if it downloads anything.
fn collector(
    job: &Job<'_>,
    peer: &PeerHandle,
    i: usize,
    progress: &MultiProgress,
) -> Option<Addr<Collector>> {
    let setup = &job.point.setup;
    let wanted = setup.downloads_of(i).len();
    if wanted == 0 {
        return None;
    }
    let bar = progress.add(ProgressBar::new(wanted as u64));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>24} [{bar:32}] {pos:>3}/{len} RFCs {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{} {}", job.point.row, setup.names[i]));
    let collector = Collector {
        bar,
        events: Vec::new(),
    }
    .start();
    peer.downloader
        .do_send(Subscribe(collector.clone().recipient()));
    Some(collector)
}

/// The index phase, then the download phase, round by round; stops the
/// victim on time.
async fn execute(job: &Job<'_>, cluster: &Cluster) -> anyhow::Result<RunOutcome> {
    let (setup, peers) = (&job.point.setup, &cluster.peers);
    let mut outcome = RunOutcome::default();
    if job.point.kind == Kind::Scenario {
        scenario(job, cluster, &mut outcome).await?;
        return Ok(outcome);
    }
    // Each downloader fetches the indexes of the peers it will download
    // from, all at once.
    let index_clock = Instant::now();
    let refreshes = setup
        .index_from
        .iter()
        .enumerate()
        .filter(|(_, from)| !from.is_empty())
        .map(|(i, from)| {
            let only = from
                .iter()
                .map(|&h| Holder::new(setup.names[h].clone(), peers[h].local_addr.port()))
                .collect();
            peers[i].downloader.send(RefreshIndex { only: Some(only) })
        });
    for refreshed in join_all(refreshes).await {
        match refreshed {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => outcome.problems.push(format!("index phase: {err}")),
            Err(err) => outcome.problems.push(format!("index phase: {err}")),
        }
    }
    outcome.index_ms = index_clock.elapsed().as_secs_f64() * 1000.0;
    let phase = Instant::now();
    outcome.phase_started = Some(SystemTime::now());
    let victim = match (
        &cluster.victim,
        setup.kill,
        &cluster.rs_victim,
        setup.kill_rs,
    ) {
        (Some(arbiter), Some((_, at)), _, _) | (_, _, Some(arbiter), Some((_, at))) => {
            Some((arbiter.clone(), at))
        }
        _ => None,
    };
    let killed = victim.map(|(arbiter, at)| {
        let bound = bound_of(job.point, job.corpus, job.caps).map_or(1.0, |b| b.secs);
        let delay = Duration::from_secs_f64(bound * at);
        let (tx, rx) = tokio::sync::oneshot::channel();
        actix::spawn(async move {
            tokio::time::sleep(delay).await;
            arbiter.stop();
            let _ = tx.send(phase.elapsed().as_secs_f64() * 1000.0);
        });
        rx
    });
    for round in &setup.rounds {
        let fetches = round
            .iter()
            .enumerate()
            .filter(|(_, docs)| !docs.is_empty())
            .map(|(i, docs)| {
                let numbers = docs.iter().map(|&d| job.corpus.docs[d].number).collect();
                peers[i].downloader.send(Fetch { numbers })
            });
        // The barrier: the next round starts when every peer has finished
        // this one (a stopped peer's answer is an error, at once).
        join_all(fetches).await;
    }
    if let Some(killed) = killed {
        // The victim is stopped even if the downloads ended first.
        outcome.killed_at_ms = killed.await.ok();
    }
    Ok(outcome)
}

/// Turns the peers' events into rows and failures.
async fn collect(job: &Job<'_>, cluster: &Cluster, outcome: &mut RunOutcome) {
    let mut per_peer = Vec::new();
    for (i, collector) in cluster.collectors.iter().enumerate() {
        let events = match collector {
            Some(c) => c.send(TakeEvents).await.unwrap_or_default(),
            None => Vec::new(),
        };
        let name = &job.point.setup.names[i];
        per_peer.push((i, events.iter().map(|e| Event::of(name, e)).collect()));
    }
    rows_from(job, per_peer, outcome);
}

/// Turns each peer's download events (peer index, events) into the run's
/// rows and failures; a planned download with no event failed because its
/// own peer was stopped.
pub fn rows_from(job: &Job<'_>, per_peer: Vec<(usize, Vec<Event>)>, outcome: &mut RunOutcome) {
    let setup = &job.point.setup;
    let mut t0 = outcome.phase_started;
    // The scenario has no phase of its own: it began with its download.
    for (_, events) in per_peer.iter().filter(|_| outcome.phase_started.is_none()) {
        for e in events {
            t0 = Some(t0.map_or(e.started, |t: SystemTime| t.min(e.started)));
        }
    }
    let t0 = t0.unwrap_or_else(SystemTime::now);
    let ms = |t: SystemTime| t.duration_since(t0).unwrap_or_default().as_secs_f64() * 1000.0;
    let mut last = 0.0f64;
    let mut unreported = false;
    for (i, events) in per_peer {
        let name = &setup.names[i];
        let mut done = std::collections::HashSet::new();
        for e in events {
            done.insert(e.rfc);
            let start_ms = ms(e.started);
            let end_ms = start_ms + e.elapsed.as_secs_f64() * 1000.0;
            last = last.max(end_ms);
            match e.outcome {
                Ended::Downloaded { holder, bytes } => outcome.rows.push(Row {
                    experiment: job.point.row.clone(),
                    peer: name.clone(),
                    rfc: e.rfc,
                    holder,
                    bytes,
                    start_ms,
                    end_ms,
                    repeat: job.repeat,
                }),
                Ended::AlreadyHeld => outcome
                    .problems
                    .push(format!("{name}: RFC {} was already held", e.rfc)),
                Ended::Failed(reason) => outcome.failed.push(Failed {
                    peer: name.clone(),
                    rfc: e.rfc,
                    reason,
                }),
            }
        }
        // Downloads the peer never reported: it was stopped first.
        for doc in setup.downloads_of(i) {
            let number = job.corpus.docs[doc].number;
            if !done.contains(&number) {
                unreported = true;
                outcome.failed.push(Failed {
                    peer: name.clone(),
                    rfc: number,
                    reason: "its own peer was stopped".into(),
                });
            }
        }
    }
    if let (true, Some(killed)) = (unreported, outcome.killed_at_ms) {
        last = last.max(killed);
    }
    outcome.makespan_ms = last;
}

async fn scenario(
    job: &Job<'_>,
    cluster: &Cluster,
    outcome: &mut RunOutcome,
) -> anyhow::Result<()> {
    let setup = &job.point.setup;
    let (a, b) = (&cluster.peers[0], &cluster.peers[1]);
    let number = job.corpus.docs[setup.downloads_of(0)[0]].number;
    let fetched = a
        .downloader
        .send(Fetch {
            numbers: vec![number],
        })
        .await?;
    let got = matches!(
        fetched.first().map(|f| &f.outcome),
        Some(Outcome::Downloaded { .. })
    );
    let left = matches!(b.link.send(LeaveNetwork).await, Ok(Ok(())));
    let told = a.link.send(GetPeerList::fresh()).await;
    let none_active = matches!(told, Ok(Err(LinkError::NoActivePeers)));
    scenario_checks(outcome, number, [got, left, none_active]);
    Ok(())
}

/// Records the scenario's three checks (A downloaded RFC `number` from B,
/// B left, A was then told no peer is active) and a problem for each that
/// failed.
pub fn scenario_checks(outcome: &mut RunOutcome, number: u32, passed: [bool; 3]) {
    let checks = [
        format!("A downloaded RFC {number} from B"),
        "B sent LEAVE and the RS answered 200 OK".into(),
        "A's next PQUERY was answered 404 No Active Peers".into(),
    ];
    outcome.checks.extend(checks.into_iter().zip(passed));
    for (check, passed) in &outcome.checks {
        if !passed {
            outcome
                .problems
                .push(format!("scenario check failed: {check}"));
        }
    }
}

/// Checks every downloaded copy byte for byte against its source.
pub fn verify(job: &Job<'_>, outcome: &mut RunOutcome) {
    let by_number: std::collections::HashMap<u32, &corpus::Doc> =
        job.corpus.docs.iter().map(|d| (d.number, d)).collect();
    for row in &outcome.rows {
        let path = job.work.join(&row.peer).join(folder::file_name(row.rfc));
        match (std::fs::read(&path), by_number.get(&row.rfc)) {
            (Ok(bytes), Some(doc)) if bytes == doc.bytes => outcome.verified += 1,
            (Ok(_), _) => outcome
                .problems
                .push(format!("{} differs from its source", path.display())),
            (Err(err), _) => outcome.problems.push(format!("{}: {err}", path.display())),
        }
    }
}
