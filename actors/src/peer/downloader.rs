//! The downloader actor: fetches RFCs by the contract's algorithm.
//!
//! The rules live in the pure [`DownloadPlan`]; this actor carries out its
//! actions and feeds it what happened. It owns, as plain fields, every
//! download in flight (its plan, its clocks, its temporary file) and how
//! many transfers each holder is busy with. Each exchange (a PQUERY through
//! the link, an index fetch and merge, a document transfer) runs on this
//! actor's context, and its result comes back to the actor as a
//! [`PlanEvent`]. So a restart really drops what was in flight: each such
//! download ends with a failed [`DownloadFinished`] (never silently), its
//! temporary file is removed, and the busy counts start from zero.
//!
//! A document is streamed to a temporary file in the RFC folder as it
//! arrives (bounded buffers; never held whole), synced, and handed to the
//! store, which checks its length, renames it into place and indexes it.
//! A short or failed body removes the temporary file.
//!
//! ```text
//! Fetch ─► Lookup (store, once per batch) ─► plan per RFC
//!   plan: QueryPeers ─► GetPeerList ─► link ─► PQUERY ─► RS
//!         FetchIndex ─► GET RFC-Index ─► peer; MergeIndex ─► store (returns the holders)
//!         Get        ─► GET RFC ─► holder ─► temp file; Commit ─► store
//! ```

use super::folder::{self, Folder, SaveError};
use super::link::{GetPeerList, LinkError, RsLinkActor};
use super::store::{Commit, Known, Lookup, MergeIndex, StoreActor};
use crate::client::{exchange, fetch_document, ClientError, Fetched};
use crate::state::book::{Book, DownloadId, Entry, QueueFull, Stage as BookStage};
use crate::state::index::Holder;
use crate::state::plan::{
    Action, Attempt, Candidate, DownloadPlan, Failure, GiveUp, Load, PlanEvent, Stage, TryError,
};
use crate::transfer::Progress;
use crate::transfer::SharedBucket;
use crate::wire::{Origin, PeerEntry, Reply, Request, ResponseError, RfcNumber, WireLimits};
use actix::prelude::*;
use slog::{debug, info, warn, Logger};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;

/// How a download ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Fetched and saved.
    Downloaded {
        /// The holder it came from.
        holder: Holder,
        /// Where that holder was reached.
        addr: SocketAddr,
        /// Size of the document.
        bytes: u64,
    },
    /// This peer held it already.
    AlreadyHeld,
    /// It could not be had.
    Failed(DownloadError),
}

/// Why a download failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DownloadError {
    /// The RS could not give a peer list.
    #[error("peer list: {0}")]
    PeerList(LinkError),
    /// The RS knows no other active peer.
    #[error("no active peers")]
    NoActivePeers,
    /// No active peer holds it, or every holder failed. `index_refused`:
    /// records this peer's index refused, over its limits, while looking.
    #[error("no active holder could send it{}", index_full(*.index_refused))]
    Exhausted {
        /// Index records refused over the limits during the download.
        index_refused: usize,
    },
    /// The document could not be written to this peer's disk.
    #[error("saving the document from {}: {}", .0.addr, .0.error)]
    Disk(Attempt),
    /// The downloader restarted while it ran.
    #[error("interrupted by a restart of the downloader")]
    Interrupted,
    /// The download queue could not take the batch it came in.
    #[error("{0}")]
    QueueFull(QueueFull),
}

fn index_full(refused: usize) -> String {
    if refused == 0 {
        return String::new();
    }
    format!(
        " (this peer's index refused {refused} records over its limits while looking: raise max_records_per_holder or max_index_records)"
    )
}

/// The event every finished or failed download emits.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct DownloadFinished {
    /// The RFC.
    pub number: RfcNumber,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall-clock start.
    pub started: SystemTime,
    /// Time from start to end.
    pub elapsed: Duration,
    /// Time of the successful GET alone (connect to saved), if any.
    pub transfer: Option<Duration>,
    /// Tries that failed on the way.
    pub failed_attempts: Vec<Attempt>,
}

/// Download these RFCs (each once, in this order, a bounded number at a
/// time); resolves when all have ended.
#[derive(Debug, Message)]
#[rtype(result = "Vec<DownloadFinished>")]
pub struct Fetch {
    /// The RFCs, in the order to start them.
    pub numbers: Vec<RfcNumber>,
}

/// Queue downloads of these RFCs (each once, in this order), all or none:
/// answers their ids at once, in order, or why the queue cannot take them.
/// An RFC already queued or downloading gets an id of its own, and ends
/// with the download under way.
#[derive(Debug, Message)]
#[rtype(result = "Result<Queued, QueueFull>")]
pub struct Enqueue {
    /// The RFCs, in the order to start them.
    pub numbers: Vec<RfcNumber>,
}

/// A batch queued by [`Enqueue`].
#[derive(Debug, Clone)]
pub struct Queued {
    /// Each RFC's download id, in the order asked (an RFC asked twice in
    /// the batch, once).
    pub tickets: Vec<(DownloadId, RfcNumber)>,
    /// The downloads that had ended before these were queued: follow the
    /// ends from here ([`WaitEnded::since`]) to see each of these end.
    pub ended_before: u64,
    /// The queue with them.
    pub queue: QueueState,
}

/// A download as the book keeps it, and its transfer if one runs.
#[derive(Debug, Clone)]
pub struct DownloadEntry {
    /// The book's entry.
    pub entry: Entry<DownloadFinished>,
    /// The transfer, while it waits or runs.
    pub transfer: Option<Transfer>,
}

/// A page of the book: up to `limit` downloads after id `after`; answers
/// them and whether more follow.
#[derive(Debug, Message)]
#[rtype(result = "(Vec<DownloadEntry>, bool)")]
pub struct GetDownloads {
    /// The last id of the previous page.
    pub after: Option<DownloadId>,
    /// Most downloads.
    pub limit: usize,
}

/// Download `id`, once it has ended or `wait` has passed (at once with
/// no wait); `None` if the book keeps no such id.
#[derive(Debug, Message)]
#[rtype(result = "Option<DownloadEntry>")]
pub struct WaitDownload {
    /// The download.
    pub id: DownloadId,
    /// How long to wait for its end.
    pub wait: Duration,
}

/// The downloads that ended after the `since`-th end, up to `limit`, once
/// at least one has or `wait` has passed.
#[derive(Debug, Message)]
#[rtype(result = "Ended")]
pub struct WaitEnded {
    /// The last end seen (0: none).
    pub since: u64,
    /// Most entries.
    pub limit: usize,
    /// How long to wait for one.
    pub wait: Duration,
}

/// What [`WaitEnded`] found.
#[derive(Debug, Clone)]
pub struct Ended {
    /// The downloads that ended, in the order they did.
    pub entries: Vec<Entry<DownloadFinished>>,
    /// The queue now.
    pub queue: QueueState,
}

/// The download queue, for tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, MessageResponse)]
pub struct QueueState {
    /// Downloads waiting for room.
    pub waiting: usize,
    /// Downloads running.
    pub running: usize,
    /// Downloads that have ended since the peer started.
    pub ended: u64,
    /// The most downloads waiting or running at once.
    pub bound: usize,
}

/// Ask for the [`QueueState`].
#[derive(Debug, Message)]
#[rtype(result = "QueueState")]
pub struct GetQueue;

/// Fetch the active peers' indexes (a bounded number at a time) and merge
/// them; resolves to the number of peers whose index arrived.
#[derive(Debug, Message)]
#[rtype(result = "Result<usize, DownloadError>")]
pub struct RefreshIndex {
    /// Only these holders' indexes (those of them that are active); every
    /// active peer's when `None`.
    pub only: Option<Vec<Holder>>,
}

impl RefreshIndex {
    /// Every active peer's index.
    pub fn all() -> Self {
        RefreshIndex { only: None }
    }
}

/// Send every [`DownloadFinished`] to this recipient too.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Subscribe(pub Recipient<DownloadFinished>);

/// A download in flight or waiting, for tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The RFC.
    pub number: RfcNumber,
    /// Waiting for room (`max_parallel_downloads` run at once).
    pub waiting: bool,
    /// The holder being fetched from, if a GET runs.
    pub holder: Option<SocketAddr>,
    /// The document's length, once its holder announced it.
    pub length: Option<u64>,
    /// Bytes of it received so far.
    pub received: u64,
    /// Tries that failed so far.
    pub failed_attempts: usize,
    /// Milliseconds since it started (0 while waiting).
    pub elapsed_ms: u64,
}

/// Ask for the downloads in flight.
#[derive(Debug, Message)]
#[rtype(result = "Vec<Transfer>")]
pub struct GetTransfers;

/// How the downloader reaches others.
#[derive(Clone)]
pub struct DownloaderConfig {
    /// This peer's name, sent in requests.
    pub origin: Origin,
    /// Codec limits.
    pub limits: WireLimits,
    /// Limit of one exchange.
    pub timeout: Duration,
    /// Downloads at once.
    pub max_parallel: usize,
    /// Index fetches at once (for [`RefreshIndex`]).
    pub max_parallel_indexes: usize,
    /// Download rate cap, shared by all transfers.
    pub download: Option<SharedBucket>,
    /// While downloads wait or run, fetch every active peer's index again
    /// this often, so that holders that appear meanwhile (peers that
    /// downloaded a document) are found. `None`: never.
    pub refresh_index: Option<Duration>,
    /// Indexes each of those refreshes fetches.
    pub refresh_peers: usize,
    /// Where downloads and index exchanges are counted.
    pub metrics: crate::metrics::Metrics,
    /// How a download is synced: with [`crate::config::SyncMode::EachFile`] here, once it
    /// has arrived; grouped, by the folder when it commits.
    pub sync: crate::config::SyncMode,
    /// Downloads waiting or running at once, at most.
    pub max_queued: usize,
    /// Ended downloads the book keeps.
    pub history: usize,
}

/// Bytes of a download held before they are written to its file (per
/// download in flight).
const WRITE_BUFFER: usize = 256 * 1024;

/// A download under way (one per RFC, however many asked for it).
type RunId = u64;
type BatchId = u64;

struct Running {
    /// The book's downloads it serves (more than one when the RFC was
    /// asked for again while it ran).
    asks: Vec<DownloadId>,
    plan: DownloadPlan,
    started: SystemTime,
    clock: Instant,
    /// The successful transfer's duration.
    transfer: Option<Duration>,
    /// The GET running now.
    getting: Option<Getting>,
    /// Why the RS gave no peer list, when it did not.
    link_error: Option<LinkError>,
    /// Index records refused over the limits while it looked.
    index_refused: usize,
}

/// A GET in flight: its holder, its temporary file and how far it came.
struct Getting {
    candidate: Candidate,
    temp: PathBuf,
    progress: Arc<Progress>,
}

/// A download waiting for room: its run and the book's downloads it
/// serves (one, or more when its RFC was asked for again).
struct Waiting {
    id: RunId,
    asks: Vec<DownloadId>,
}

/// A [`Fetch`] waiting for its downloads.
struct Batch {
    /// Its downloads, in the order asked.
    ids: Vec<DownloadId>,
    /// Those not ended yet.
    open: HashSet<DownloadId>,
    reply: Option<oneshot::Sender<Vec<DownloadFinished>>>,
}

/// The downloader actor.
pub struct DownloaderActor {
    store: Addr<StoreActor>,
    link: Addr<RsLinkActor>,
    folder: Folder,
    config: DownloaderConfig,
    next_id: u64,
    /// The RFCs waiting for room, in the order asked...
    queue: VecDeque<RfcNumber>,
    /// ...and their downloads (an RFC waits once, however often asked).
    waiting: HashMap<RfcNumber, Waiting>,
    running: HashMap<RunId, Running>,
    /// Every download asked for, and how the ended ones ended.
    book: Book<DownloadFinished>,
    /// The number of downloads ended so far, for those waiting on ends.
    ends: tokio::sync::watch::Sender<u64>,
    busy: HashMap<SocketAddr, usize>,
    /// The rate of the recent transfers from each holder, bytes/s (a
    /// moving average), to prefer fast holders over overloaded ones.
    speed: HashMap<SocketAddr, u64>,
    batches: HashMap<BatchId, Batch>,
    subscribers: Vec<Recipient<DownloadFinished>>,
    /// An index refresh of its own runs (`refresh_index`).
    refreshing: bool,
    log: Logger,
}

impl DownloaderActor {
    /// A downloader using `store`, `link` and `folder`.
    pub fn new(
        store: Addr<StoreActor>,
        link: Addr<RsLinkActor>,
        folder: Folder,
        config: DownloaderConfig,
        log: Logger,
    ) -> Self {
        DownloaderActor {
            store,
            link,
            folder,
            next_id: 0,
            queue: VecDeque::new(),
            waiting: HashMap::new(),
            running: HashMap::new(),
            book: Book::new(config.max_queued, config.history),
            ends: tokio::sync::watch::Sender::new(0),
            busy: HashMap::new(),
            speed: HashMap::new(),
            batches: HashMap::new(),
            subscribers: Vec::new(),
            refreshing: false,
            config,
            log,
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Starts waiting downloads while there is room: one store round trip
    /// for those starting (which are held already, which holders the index
    /// names now), then each one's plan.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        let mut starting = Vec::new();
        while self.running.len() < self.config.max_parallel.max(1) {
            let Some(number) = self.queue.pop_front() else {
                break;
            };
            let Some(Waiting { id, asks }) = self.waiting.remove(&number) else {
                continue;
            };
            for ask in &asks {
                self.book.start(*ask);
            }
            self.running.insert(
                id,
                Running {
                    asks,
                    plan: DownloadPlan::new(number, Vec::new()),
                    started: SystemTime::now(),
                    clock: Instant::now(),
                    transfer: None,
                    getting: None,
                    link_error: None,
                    index_refused: 0,
                },
            );
            starting.push((id, number));
        }
        if starting.is_empty() {
            return;
        }
        let numbers = starting.iter().map(|(_, n)| *n).collect();
        ctx.spawn(
            self.store
                .send(Lookup(numbers))
                .into_actor(self)
                .map(move |known, act, ctx| {
                    let known: HashMap<RfcNumber, Known> = known
                        .unwrap_or_default()
                        .into_iter()
                        .map(|k| (k.number, k))
                        .collect();
                    for (id, number) in starting {
                        match known.get(&number) {
                            Some(k) if k.held => act.finish(id, Outcome::AlreadyHeld, ctx),
                            other => {
                                let holders = other.map(|k| k.holders.clone()).unwrap_or_default();
                                let Some(running) = act.running.get_mut(&id) else {
                                    continue;
                                };
                                // Equally busy holders in a random order:
                                // many downloaders then spread over the
                                // holders of one RFC.
                                running.plan =
                                    DownloadPlan::new(number, holders).spreading(rand::random());
                                let action = running.plan.start();
                                act.perform(id, action, ctx);
                            }
                        }
                    }
                }),
        );
    }

    /// Feeds `event` to download `id`'s plan and does what it says.
    fn step(&mut self, id: RunId, event: PlanEvent, ctx: &mut Context<Self>) {
        let Some(running) = self.running.get_mut(&id) else {
            return;
        };
        let load = Load {
            busy: &self.busy,
            speed: &self.speed,
        };
        let action = running.plan.next_with(event, load);
        self.perform(id, action, ctx);
    }

    fn perform(&mut self, id: RunId, action: Action, ctx: &mut Context<Self>) {
        let Some(running) = self.running.get(&id) else {
            return;
        };
        let number = running.plan.number();
        debug!(self.log, "download step"; "rfc" => number, "action" => ?action);
        match action {
            Action::QueryPeers => {
                ctx.spawn(self.link.send(GetPeerList::current()).into_actor(self).map(
                    move |answer, act, ctx| {
                        let event = match answer {
                            Ok(Ok(peers)) => PlanEvent::Peers(peers),
                            Ok(Err(LinkError::NoActivePeers)) => PlanEvent::NoActivePeers,
                            Ok(Err(err)) => {
                                if let Some(running) = act.running.get_mut(&id) {
                                    running.link_error = Some(err);
                                }
                                PlanEvent::PeersFailed
                            }
                            Err(_) => PlanEvent::PeersFailed,
                        };
                        act.step(id, event, ctx);
                    },
                ));
            }
            Action::FetchIndex(peer) => {
                let peers = Arc::new(running.plan.peers().to_vec());
                let fetching = fetch_index(
                    self.store.clone(),
                    peer,
                    peers,
                    vec![number],
                    self.config.clone(),
                    self.log.clone(),
                );
                ctx.spawn(fetching.into_actor(self).map(move |fetched, act, ctx| {
                    let event = match fetched {
                        Ok((mut known, refused)) => {
                            if let Some(running) = act.running.get_mut(&id) {
                                running.index_refused += refused;
                            }
                            PlanEvent::IndexMerged(
                                known.pop().map(|k| k.holders).unwrap_or_default(),
                            )
                        }
                        Err(attempt) => PlanEvent::Failed(attempt),
                    };
                    act.step(id, event, ctx);
                }));
            }
            Action::Get(candidate) => {
                let temp = folder::partial_path(self.folder.dir(), number);
                *self.busy.entry(candidate.addr).or_default() += 1;
                let progress = Arc::new(Progress::default());
                if let Some(running) = self.running.get_mut(&id) {
                    running.getting = Some(Getting {
                        candidate: candidate.clone(),
                        temp: temp.clone(),
                        progress: progress.clone(),
                    });
                }
                let getting = transfer(
                    self.store.clone(),
                    number,
                    candidate.clone(),
                    temp,
                    progress,
                    self.config.clone(),
                    self.log.clone(),
                );
                let clock = Instant::now();
                ctx.spawn(getting.into_actor(self).map(move |got, act, ctx| {
                    act.release(candidate.addr);
                    let Some(running) = act.running.get_mut(&id) else {
                        return;
                    };
                    running.getting = None;
                    match got {
                        Ok(bytes) => {
                            let took = clock.elapsed();
                            running.transfer = Some(took);
                            let rate = (bytes as f64 / took.as_secs_f64().max(1e-6)) as u64;
                            let speed = act.speed.entry(candidate.addr).or_insert(rate);
                            *speed = (*speed * 3 + rate) / 4;
                            let outcome = Outcome::Downloaded {
                                holder: candidate.holder.clone(),
                                addr: candidate.addr,
                                bytes,
                            };
                            act.finish(id, outcome, ctx);
                        }
                        Err(attempt) => act.step(id, PlanEvent::Failed(attempt), ctx),
                    }
                }));
            }
            Action::Done => {}
            Action::GiveUp(why) => {
                let error = match why {
                    GiveUp::NoActivePeers => DownloadError::NoActivePeers,
                    GiveUp::NoPeerList => DownloadError::PeerList(
                        running.link_error.clone().unwrap_or(LinkError::NotJoined),
                    ),
                    GiveUp::Exhausted => DownloadError::Exhausted {
                        index_refused: running.index_refused,
                    },
                    GiveUp::Disk => match running.plan.attempts().last() {
                        Some(attempt) => DownloadError::Disk(attempt.clone()),
                        None => DownloadError::Exhausted {
                            index_refused: running.index_refused,
                        },
                    },
                };
                self.finish(id, Outcome::Failed(error), ctx);
            }
        }
    }

    fn release(&mut self, addr: SocketAddr) {
        if let Some(count) = self.busy.get_mut(&addr) {
            *count -= 1;
            if *count == 0 {
                self.busy.remove(&addr);
            }
        }
    }

    /// Ends download `id` with `outcome`, and starts the next one.
    fn finish(&mut self, id: RunId, outcome: Outcome, ctx: &mut Context<Self>) {
        if let Some(running) = self.running.remove(&id) {
            let finished = DownloadFinished {
                number: running.plan.number(),
                outcome,
                started: running.started,
                elapsed: running.clock.elapsed(),
                transfer: running.transfer,
                failed_attempts: running.plan.attempts().to_vec(),
            };
            self.deliver(&running.asks, finished);
        }
        self.pump(ctx);
    }

    /// Reports `finished`, ends the book's downloads it served, and
    /// answers the batches it completes.
    fn deliver(&mut self, asks: &[DownloadId], finished: DownloadFinished) {
        report(&self.log, &self.config.origin.host, &finished);
        let metrics = &self.config.metrics;
        match &finished.outcome {
            Outcome::Downloaded { bytes, .. } => {
                metrics.download("downloaded");
                metrics.peer_bytes_downloaded.inc_by(*bytes);
            }
            Outcome::AlreadyHeld => metrics.download("already_held"),
            Outcome::Failed(_) => metrics.download("failed"),
        }
        for subscriber in &self.subscribers {
            subscriber.do_send(finished.clone());
        }
        for ask in asks {
            self.book.end(*ask, finished.clone());
        }
        self.ends.send_replace(self.book.ends());
        let done: Vec<BatchId> = self
            .batches
            .iter_mut()
            .filter_map(|(batch_id, batch)| {
                for ask in asks {
                    batch.open.remove(ask);
                }
                batch.open.is_empty().then_some(*batch_id)
            })
            .collect();
        for batch_id in done {
            if let Some(mut batch) = self.batches.remove(&batch_id) {
                let results = batch
                    .ids
                    .iter()
                    .filter_map(|id| match &self.book.get(*id)?.stage {
                        BookStage::Ended { how, .. } => Some(how.clone()),
                        _ => None,
                    })
                    .collect();
                if let Some(reply) = batch.reply.take() {
                    let _ = reply.send(results);
                }
            }
        }
    }

    /// Queues `numbers` (each once), all or none: the book's ids, in
    /// order. An RFC already under way gets its id onto that download.
    fn enqueue(
        &mut self,
        numbers: Vec<RfcNumber>,
        ctx: &mut Context<Self>,
    ) -> Result<Vec<(DownloadId, RfcNumber)>, QueueFull> {
        let mut seen = HashSet::new();
        let numbers: Vec<RfcNumber> = numbers.into_iter().filter(|n| seen.insert(*n)).collect();
        let ids = self.book.ask(&numbers, crate::now_ms())?;
        for (&ask, &number) in ids.iter().zip(&numbers) {
            if !self.join_running(number, ask) {
                let id = self.id();
                self.queue.push_back(number);
                self.waiting.insert(
                    number,
                    Waiting {
                        id,
                        asks: vec![ask],
                    },
                );
            }
        }
        self.pump(ctx);
        Ok(ids.into_iter().zip(numbers).collect())
    }

    /// Has the book's download `ask` end with the download of `number`
    /// already running or queued, if there is one: a second ask for the
    /// same RFC joins the first instead of racing it for the same
    /// temporary file.
    fn join_running(&mut self, number: RfcNumber, ask: DownloadId) -> bool {
        if let Some(running) = self
            .running
            .values_mut()
            .find(|r| r.plan.number() == number)
        {
            running.asks.push(ask);
            self.book.start(ask);
            return true;
        }
        if let Some(waiting) = self.waiting.get_mut(&number) {
            waiting.asks.push(ask);
            return true;
        }
        false
    }

    /// The book's entry `id`, with its transfer if it waits or runs.
    fn entry(&self, id: DownloadId) -> Option<DownloadEntry> {
        let entry = self.book.get(id)?.clone();
        let transfer = match entry.stage {
            BookStage::Ended { .. } => None,
            _ => self.transfer_of(entry.rfc),
        };
        Some(DownloadEntry { entry, transfer })
    }

    fn queue_state(&self) -> QueueState {
        QueueState {
            waiting: self.book.waiting(),
            running: self.book.running(),
            ended: self.book.ends(),
            bound: self.book.queue_bound(),
        }
    }
}

impl Actor for DownloaderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(every) = self.config.refresh_index {
            ctx.run_interval(every, |act, ctx| act.refresh_while_busy(ctx));
        }
    }
}

impl Supervised for DownloaderActor {
    /// What ran on the old context was dropped with it: every download in
    /// flight or waiting ends as interrupted, its temporary file is
    /// removed, and no holder is busy any more.
    fn restarting(&mut self, _: &mut Self::Context) {
        let mut partials = Vec::new();
        let mut ended = Vec::new();
        for (_, running) in self.running.drain() {
            if let Some(getting) = running.getting {
                partials.push(getting.temp);
            }
            ended.push((
                running.asks,
                running.plan.number(),
                running.started,
                running.clock,
            ));
        }
        let queue: Vec<RfcNumber> = self.queue.drain(..).collect();
        for (number, waiting) in queue
            .into_iter()
            .filter_map(|n| Some((n, self.waiting.remove(&n)?)))
        {
            ended.push((waiting.asks, number, SystemTime::now(), Instant::now()));
        }
        self.waiting.clear();
        self.busy.clear();
        self.refreshing = false;
        self.folder.remove(partials);
        warn!(self.log, "downloader restarting; downloads in flight interrupted"; "downloads" => ended.len());
        for (asks, number, started, clock) in ended {
            let finished = DownloadFinished {
                number,
                outcome: Outcome::Failed(DownloadError::Interrupted),
                started,
                elapsed: clock.elapsed(),
                transfer: None,
                failed_attempts: Vec::new(),
            };
            self.deliver(&asks, finished);
        }
    }
}

impl Handler<Fetch> for DownloaderActor {
    type Result = ResponseFuture<Vec<DownloadFinished>>;

    fn handle(&mut self, msg: Fetch, ctx: &mut Self::Context) -> Self::Result {
        crate::fault::point("downloader.fetch");
        let asked = msg.numbers.clone();
        let ids = match self.enqueue(msg.numbers, ctx) {
            Ok(ids) => ids,
            Err(full) => {
                // Refused whole: each RFC ends failed, none started.
                let now = SystemTime::now();
                let mut seen = HashSet::new();
                let failed = asked
                    .into_iter()
                    .filter(|n| seen.insert(*n))
                    .map(|number| DownloadFinished {
                        number,
                        outcome: Outcome::Failed(DownloadError::QueueFull(full)),
                        started: now,
                        elapsed: Duration::ZERO,
                        transfer: None,
                        failed_attempts: Vec::new(),
                    })
                    .collect();
                return Box::pin(async move { failed });
            }
        };
        let (reply, rx) = oneshot::channel();
        let ids: Vec<DownloadId> = ids.into_iter().map(|(id, _)| id).collect();
        let open: HashSet<DownloadId> = ids
            .iter()
            .copied()
            .filter(|id| {
                !matches!(
                    self.book.get(*id).map(|e| &e.stage),
                    Some(BookStage::Ended { .. })
                )
            })
            .collect();
        if open.is_empty() {
            let _ = reply.send(Vec::new());
        } else {
            let batch = self.id();
            self.batches.insert(
                batch,
                Batch {
                    ids,
                    open,
                    reply: Some(reply),
                },
            );
        }
        // This future only waits: the downloads run on the actor's context,
        // and a restart answers with them interrupted.
        Box::pin(async move { rx.await.unwrap_or_default() })
    }
}

impl Handler<Enqueue> for DownloaderActor {
    type Result = Result<Queued, QueueFull>;

    fn handle(&mut self, msg: Enqueue, ctx: &mut Self::Context) -> Self::Result {
        let ended_before = self.book.ends();
        let tickets = self.enqueue(msg.numbers, ctx)?;
        Ok(Queued {
            tickets,
            ended_before,
            queue: self.queue_state(),
        })
    }
}

impl Handler<GetDownloads> for DownloaderActor {
    type Result = MessageResult<GetDownloads>;

    fn handle(&mut self, msg: GetDownloads, _: &mut Self::Context) -> Self::Result {
        let (entries, more) = self.book.page(msg.after, msg.limit);
        let page = entries
            .into_iter()
            .filter_map(|entry| self.entry(entry.id))
            .collect();
        MessageResult((page, more))
    }
}

impl Handler<WaitDownload> for DownloaderActor {
    type Result = ResponseActFuture<Self, Option<DownloadEntry>>;

    fn handle(&mut self, msg: WaitDownload, _: &mut Self::Context) -> Self::Result {
        let id = msg.id;
        let ended = move |act: &Self| {
            act.book
                .get(id)
                .is_none_or(|e| matches!(e.stage, BookStage::Ended { .. }))
        };
        if ended(self) || msg.wait.is_zero() {
            return Box::pin(fut::ready(self.entry(id)));
        }
        let mut ends = self.ends.subscribe();
        let deadline = tokio::time::Instant::now() + msg.wait;
        Box::pin(
            async move {
                // Any end may be this one: looked at after each.
                let _ = tokio::time::timeout_at(deadline, ends.changed()).await;
                deadline
            }
            .into_actor(self)
            .then(
                move |deadline, act, ctx| -> ResponseActFuture<Self, Option<DownloadEntry>> {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if ended(act) || left.is_zero() {
                        return Box::pin(fut::ready(act.entry(id)));
                    }
                    act.handle(WaitDownload { id, wait: left }, ctx)
                },
            ),
        )
    }
}

impl Handler<WaitEnded> for DownloaderActor {
    type Result = ResponseActFuture<Self, Ended>;

    fn handle(&mut self, msg: WaitEnded, _: &mut Self::Context) -> Self::Result {
        let (since, limit) = (msg.since, msg.limit);
        let found = move |act: &Self| Ended {
            entries: act.book.ended_since(since, limit),
            queue: act.queue_state(),
        };
        if self.book.ends() > since || msg.wait.is_zero() {
            return Box::pin(fut::ready(found(self)));
        }
        let mut ends = self.ends.subscribe();
        let wait = msg.wait;
        Box::pin(
            async move {
                let _ = tokio::time::timeout(wait, ends.changed()).await;
            }
            .into_actor(self)
            .map(move |(), act, _| found(act)),
        )
    }
}

impl Handler<GetQueue> for DownloaderActor {
    type Result = QueueState;

    fn handle(&mut self, _: GetQueue, _: &mut Self::Context) -> QueueState {
        self.queue_state()
    }
}

impl DownloaderActor {
    /// Fetches the indexes of the active peers (those of `only`, if set; of
    /// `sample` of them chosen at random, if set), a bounded number at a
    /// time, and merges them; resolves to how many arrived.
    fn refresh(
        &mut self,
        only: Option<Vec<Holder>>,
        sample: Option<usize>,
    ) -> impl ActorFuture<Self, Output = Result<usize, DownloadError>> + 'static {
        let store = self.store.clone();
        let config = self.config.clone();
        let log = self.log.clone();
        let parallel = self.config.max_parallel_indexes.max(1);
        self.link
            .send(GetPeerList::current())
            .into_actor(self)
            .then(move |answer, act, _| {
                async move {
                    let peers = match answer {
                        Ok(Ok(peers)) => Arc::new(peers),
                        Ok(Err(LinkError::NoActivePeers)) => return Ok(0),
                        Ok(Err(err)) => return Err(DownloadError::PeerList(err)),
                        Err(_) => return Err(DownloadError::Interrupted),
                    };
                    let wanted = |peer: &PeerEntry| {
                        only.as_ref().is_none_or(|only| {
                            only.iter()
                                .any(|h| *h.host == *peer.host && h.port == peer.port)
                        })
                    };
                    use futures_util::StreamExt;
                    let mut chosen: Vec<PeerEntry> =
                        peers.iter().filter(|p| wanted(p)).cloned().collect();
                    if let Some(count) = sample {
                        use rand::seq::SliceRandom;
                        let mut rng = rand::rng();
                        chosen.shuffle(&mut rng);
                        chosen.truncate(count);
                    }
                    let fetched = futures_util::stream::iter(chosen)
                        .map(|peer| {
                            fetch_index(
                                store.clone(),
                                peer,
                                peers.clone(),
                                Vec::new(),
                                config.clone(),
                                log.clone(),
                            )
                        })
                        .buffer_unordered(parallel)
                        .filter(|result| std::future::ready(result.is_ok()))
                        .count()
                        .await;
                    Ok(fetched)
                }
                .into_actor(act)
            })
    }

    /// Refreshes the index on its own (`refresh_index`) while downloads
    /// wait or run, one refresh at a time: the indexes of as many active
    /// peers, chosen at random, as are fetched at once. Each merged index
    /// also names what its peer learned from others, so new holders spread
    /// without every peer asking every other on every tick (which grows
    /// with the square of the peers).
    fn refresh_while_busy(&mut self, ctx: &mut Context<Self>) {
        if self.refreshing || (self.running.is_empty() && self.queue.is_empty()) {
            return;
        }
        self.refreshing = true;
        let sample = self.config.refresh_peers.max(1);
        ctx.spawn(self.refresh(None, Some(sample)).map(|result, act, _| {
            act.refreshing = false;
            if let Err(err) = result {
                debug!(act.log, "index refresh failed"; "err" => %err);
            }
        }));
    }
}

impl Handler<RefreshIndex> for DownloaderActor {
    type Result = ResponseActFuture<Self, Result<usize, DownloadError>>;

    fn handle(&mut self, msg: RefreshIndex, _: &mut Self::Context) -> Self::Result {
        Box::pin(self.refresh(msg.only, None))
    }
}

impl Handler<Subscribe> for DownloaderActor {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Self::Context) {
        self.subscribers.push(msg.0);
    }
}

impl Handler<GetTransfers> for DownloaderActor {
    type Result = MessageResult<GetTransfers>;

    fn handle(&mut self, _: GetTransfers, _: &mut Self::Context) -> Self::Result {
        let mut transfers: Vec<Transfer> = self.running.values().map(running_transfer).collect();
        transfers.sort_by_key(|t| std::cmp::Reverse(t.elapsed_ms));
        transfers.extend(self.queue.iter().map(|&number| waiting_transfer(number)));
        MessageResult(transfers)
    }
}

impl DownloaderActor {
    /// The transfer of `number`, if it waits or runs.
    fn transfer_of(&self, number: RfcNumber) -> Option<Transfer> {
        if let Some(running) = self.running.values().find(|r| r.plan.number() == number) {
            return Some(running_transfer(running));
        }
        self.waiting
            .contains_key(&number)
            .then(|| waiting_transfer(number))
    }
}

fn running_transfer(r: &Running) -> Transfer {
    Transfer {
        number: r.plan.number(),
        waiting: false,
        holder: r.getting.as_ref().map(|g| g.candidate.addr),
        length: r.getting.as_ref().and_then(|g| g.progress.length()),
        received: r.getting.as_ref().map_or(0, |g| g.progress.received()),
        failed_attempts: r.plan.attempts().len(),
        elapsed_ms: r.clock.elapsed().as_millis() as u64,
    }
}

fn waiting_transfer(number: RfcNumber) -> Transfer {
    Transfer {
        number,
        waiting: true,
        holder: None,
        length: None,
        received: 0,
        failed_attempts: 0,
        elapsed_ms: 0,
    }
}

/// Logs a finished download: one event per download, with what the lab
/// (`p2p-di lab report`) needs to rebuild it from the log alone: this
/// peer's name, the wall-clock start and the duration in microseconds.
fn report(log: &Logger, peer: &str, finished: &DownloadFinished) {
    let elapsed_ms = finished.elapsed.as_millis() as u64;
    let elapsed_us = finished.elapsed.as_micros() as u64;
    let started_unix_us = finished
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    match &finished.outcome {
        Outcome::Downloaded { holder, bytes, .. } => info!(log, "rfc downloaded";
            "rfc" => finished.number, "holder" => format!("{}:{}", holder.host, holder.port),
            "bytes" => bytes, "elapsed_ms" => elapsed_ms, "failed_attempts" => finished.failed_attempts.len(),
            "peer" => peer, "started_unix_us" => started_unix_us, "elapsed_us" => elapsed_us),
        Outcome::AlreadyHeld => {
            info!(log, "rfc already held"; "rfc" => finished.number, "peer" => peer)
        }
        Outcome::Failed(err) => warn!(log, "rfc download failed";
            "rfc" => finished.number, "err" => %err, "elapsed_ms" => elapsed_ms,
            "failed_attempts" => finished.failed_attempts.len(),
            "peer" => peer, "started_unix_us" => started_unix_us, "elapsed_us" => elapsed_us),
    }
}

/// Sorts a failed exchange into the plan's kinds of failure.
fn try_error(err: ClientError) -> TryError {
    match &err {
        ClientError::Connect { .. }
        | ClientError::Timeout { .. }
        | ClientError::Response {
            source: ResponseError::Io(_),
            ..
        } => TryError::Unreachable(Failure::new(err)),
        ClientError::Response { .. } => TryError::Broken(Failure::new(err)),
        ClientError::Sink { .. } => TryError::Disk(Failure::new(err)),
    }
}

/// A try that went wrong on this side of the wire, or with an answer of
/// the wrong kind.
#[derive(Debug, thiserror::Error)]
enum Mishap {
    /// A peer answered a request with a reply to another.
    #[error("answered {0}, not an index")]
    NotAnIndex(&'static str),
    /// The store restarted while it had the try's message.
    #[error("the store restarted")]
    StoreRestarted,
    /// The temporary file could not be written.
    #[error("{path}: {source}")]
    Temp {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Fetches `peer`'s index and merges it (one store round trip); resolves
/// to what the index then says of `wanted`, and how many of the records
/// the index refused over its limits.
async fn fetch_index(
    store: Addr<StoreActor>,
    peer: PeerEntry,
    peers: Arc<Vec<PeerEntry>>,
    wanted: Vec<RfcNumber>,
    config: DownloaderConfig,
    log: Logger,
) -> Result<(Vec<Known>, usize), Attempt> {
    let addr = SocketAddr::new(peer.address, peer.port);
    let failed = |error| Attempt {
        addr,
        stage: Stage::Index,
        error,
    };
    let request = Request::IndexQuery {
        origin: config.origin.clone(),
    };
    let clock = Instant::now();
    let (response, traffic) = exchange(
        addr,
        &request,
        config.limits,
        config.timeout,
        config.download.as_ref(),
        &log,
    )
    .await
    .map_err(|err| failed(try_error(err)))?;
    config.metrics.discovered(
        "index",
        traffic.sent + traffic.received,
        clock.elapsed().as_secs_f64(),
    );
    let records = match response.reply {
        Reply::Index(records) => records,
        Reply::Status(status) => return Err(failed(TryError::Refused(status))),
        other => {
            return Err(failed(TryError::Broken(Failure::new(Mishap::NotAnIndex(
                other.kind(),
            )))))
        }
    };
    let merged = store
        .send(MergeIndex {
            records,
            peers,
            wanted,
        })
        .await
        .map_err(|_| failed(TryError::Broken(Failure::new(Mishap::StoreRestarted))))?;
    Ok((merged.holders, merged.merged.over_cap))
}

/// GETs the document from `candidate` into `temp` as it arrives, syncs it,
/// and has the store commit it. Resolves to its length.
async fn transfer(
    store: Addr<StoreActor>,
    number: RfcNumber,
    candidate: Candidate,
    temp: PathBuf,
    progress: Arc<Progress>,
    config: DownloaderConfig,
    log: Logger,
) -> Result<u64, Attempt> {
    let addr = candidate.addr;
    let failed = |error| Attempt {
        addr,
        stage: Stage::Document,
        error,
    };
    let disk = |source: std::io::Error| {
        failed(TryError::Disk(Failure::new(Mishap::Temp {
            path: temp.clone(),
            source,
        })))
    };
    let fetched = async {
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .await
            .map_err(disk)?;
        // Each write to a tokio file is a trip to a blocking thread: the
        // body goes out in WRITE_BUFFER pieces, so a typical RFC is one.
        let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let request = Request::GetRfc {
            number,
            origin: config.origin.clone(),
        };
        let fetched = fetch_document(
            addr,
            &request,
            config.limits,
            config.timeout,
            config.download.as_ref(),
            &mut file,
            &progress,
            &log,
        )
        .await
        .map_err(|err| failed(try_error(err)))?;
        let length = match fetched {
            Fetched::Document { length, .. } => length,
            Fetched::Refused(response) => {
                return Err(failed(TryError::Refused(response.reply.status())))
            }
        };
        crate::fault::point("downloader.transfer");
        if config.sync == crate::config::SyncMode::EachFile {
            file.get_ref().sync_all().await.map_err(disk)?;
        }
        Ok(length)
    }
    .await;
    let length = match fetched {
        Ok(length) => length,
        Err(attempt) => {
            // A leftover (the removal failed too) is removed at the next start.
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(attempt);
        }
    };
    let commit = Commit {
        temp: temp.clone(),
        number,
        title: candidate.title.clone(),
        length,
    };
    match store.send(commit).await {
        Ok(Ok(())) => Ok(length),
        // What reached the disk is not what the holder announced.
        Ok(Err(err @ SaveError::Short { .. })) => Err(failed(TryError::Broken(Failure::new(err)))),
        Ok(Err(err)) => Err(failed(TryError::Disk(Failure::new(err)))),
        Err(_) => {
            // The store restarted with the commit in flight. The folder
            // worker finishes what it started, and the store's restart
            // scans the folder after it: the document is there, and will be
            // indexed, exactly when its file is in place at full length.
            let path = temp.with_file_name(folder::file_name(number));
            match tokio::fs::metadata(&path).await {
                Ok(meta) if meta.len() == length => Ok(length),
                _ => {
                    let _ = tokio::fs::remove_file(&temp).await;
                    Err(failed(TryError::Broken(Failure::new(
                        Mishap::StoreRestarted,
                    ))))
                }
            }
        }
    }
}
