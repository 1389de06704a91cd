//! The downloader actor: fetches RFCs by the contract's algorithm.
//!
//! For RFC N: PQUERY the RS (through the link); try the holders of N the
//! index already names that are on the peer list; then for each active
//! peer in turn, fetch its index, merge it, and try the holders of N it
//! names. A holder is dialled at its peer-list address. Any failure
//! (refused, reset, timeout, error status, short body) moves on to the
//! next holder, then the next peer, until the document is saved or the
//! list is exhausted. Several RFCs download at once (a bound), spread over
//! different holders. Every download ends in a [`DownloadFinished`] event.

use super::link::{LinkError, QueryPeers, RsLinkActor};
use super::store::{Holders, HoldsLocally, MergeIndex, SaveDocument, StoreActor};
use crate::client::exchange;
use crate::server::SharedBucket;
use crate::state::index::Holder;
use crate::state::plan;
use crate::wire::{Origin, PeerEntry, Reply, Request, RfcNumber, WireLimits};
use actix::prelude::*;
use futures_util::StreamExt;
use slog::{info, warn, Logger};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

/// How a download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Every holder failed or none is active.
    Failed(DownloadError),
}

/// Why a download failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// The RS could not give a peer list.
    #[error("peer list: {0}")]
    PeerList(LinkError),
    /// No active peer holds it, or every holder failed.
    #[error("no active holder could send it")]
    Exhausted,
    /// The document could not be saved.
    #[error("saving: {0}")]
    Save(String),
}

/// A failed try, for the log and the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Where.
    pub addr: SocketAddr,
    /// What was asked: `index` or `rfc`.
    pub what: &'static str,
    /// What went wrong.
    pub error: String,
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

/// Download these RFCs; resolves when all have ended.
#[derive(Debug, Message)]
#[rtype(result = "Vec<DownloadFinished>")]
pub struct Fetch {
    /// The RFCs, in the order to start them.
    pub numbers: Vec<RfcNumber>,
    /// Downloads at once; the configured bound if unset.
    pub parallel: Option<usize>,
}

/// Fetch every active peer's index and merge it; resolves to the number
/// of peers whose index arrived.
#[derive(Debug, Message)]
#[rtype(result = "Result<usize, DownloadError>")]
pub struct RefreshIndex;

/// Send every [`DownloadFinished`] to this recipient too.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Subscribe(pub Recipient<DownloadFinished>);

/// What a download needs, shared by the downloads running at once.
#[derive(Clone)]
pub struct DownloaderDeps {
    /// The store.
    pub store: Addr<StoreActor>,
    /// The RS link.
    pub link: Addr<RsLinkActor>,
    /// This peer's name, sent in requests.
    pub origin: Origin,
    /// Codec limits.
    pub limits: WireLimits,
    /// Limit of one exchange.
    pub timeout: Duration,
    /// Download rate cap, shared by all transfers.
    pub download: Option<SharedBucket>,
    /// Transfers running per holder address.
    pub busy: Rc<RefCell<HashMap<SocketAddr, usize>>>,
    /// Where responses are logged.
    pub log: Logger,
}

/// The downloader actor.
pub struct DownloaderActor {
    deps: DownloaderDeps,
    max_parallel: usize,
    subscribers: Vec<Recipient<DownloadFinished>>,
    log: Logger,
}

impl DownloaderActor {
    /// A downloader with at most `max_parallel` downloads at once.
    pub fn new(deps: DownloaderDeps, max_parallel: usize, log: Logger) -> Self {
        DownloaderActor {
            deps,
            max_parallel: max_parallel.max(1),
            subscribers: Vec::new(),
            log,
        }
    }
}

impl Actor for DownloaderActor {
    type Context = Context<Self>;
}

impl Supervised for DownloaderActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        // Transfers of the old context were dropped: nothing is busy.
        self.deps.busy.borrow_mut().clear();
    }
}

impl Handler<Fetch> for DownloaderActor {
    type Result = ResponseFuture<Vec<DownloadFinished>>;

    fn handle(&mut self, msg: Fetch, _: &mut Self::Context) -> Self::Result {
        crate::fault::point("downloader.fetch");
        let mut seen = HashSet::new();
        let numbers: Vec<RfcNumber> = msg
            .numbers
            .into_iter()
            .filter(|n| seen.insert(*n))
            .collect();
        let parallel = msg.parallel.unwrap_or(self.max_parallel).max(1);
        let deps = self.deps.clone();
        let subscribers = self.subscribers.clone();
        let log = self.log.clone();
        Box::pin(async move {
            futures_util::stream::iter(numbers)
                .map(|number| {
                    let (deps, subscribers, log) = (deps.clone(), subscribers.clone(), log.clone());
                    async move {
                        let finished = download(number, &deps).await;
                        report(&log, &finished);
                        for subscriber in &subscribers {
                            subscriber.do_send(finished.clone());
                        }
                        finished
                    }
                })
                .buffered(parallel)
                .collect()
                .await
        })
    }
}

impl Handler<RefreshIndex> for DownloaderActor {
    type Result = ResponseFuture<Result<usize, DownloadError>>;

    fn handle(&mut self, _: RefreshIndex, _: &mut Self::Context) -> Self::Result {
        let deps = self.deps.clone();
        Box::pin(async move {
            let peers = peer_list(&deps).await?;
            let mut fetched = 0;
            for peer in &peers {
                if fetch_index(&deps, peer).await.is_ok() {
                    fetched += 1;
                }
            }
            Ok(fetched)
        })
    }
}

impl Handler<Subscribe> for DownloaderActor {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Self::Context) {
        self.subscribers.push(msg.0);
    }
}

fn report(log: &Logger, finished: &DownloadFinished) {
    let elapsed_ms = finished.elapsed.as_millis() as u64;
    match &finished.outcome {
        Outcome::Downloaded { holder, bytes, .. } => info!(log, "rfc downloaded";
            "rfc" => finished.number, "holder" => format!("{}:{}", holder.host, holder.port),
            "bytes" => bytes, "elapsed_ms" => elapsed_ms, "failed_attempts" => finished.failed_attempts.len()),
        Outcome::AlreadyHeld => info!(log, "rfc already held"; "rfc" => finished.number),
        Outcome::Failed(err) => warn!(log, "rfc download failed";
            "rfc" => finished.number, "err" => %err, "elapsed_ms" => elapsed_ms,
            "failed_attempts" => finished.failed_attempts.len()),
    }
}

async fn peer_list(deps: &DownloaderDeps) -> Result<Vec<PeerEntry>, DownloadError> {
    match deps.link.send(QueryPeers).await {
        Ok(result) => result.map_err(DownloadError::PeerList),
        Err(_) => Err(DownloadError::PeerList(LinkError::Unreachable(
            "the RS link is restarting".into(),
        ))),
    }
}

async fn fetch_index(deps: &DownloaderDeps, peer: &PeerEntry) -> Result<(), Attempt> {
    let addr = SocketAddr::new(peer.address, peer.port);
    let request = Request::IndexQuery {
        origin: deps.origin.clone(),
    };
    let failed = |error: String| Attempt {
        addr,
        what: "index",
        error,
    };
    let response = exchange(
        addr,
        &request,
        deps.limits,
        deps.timeout,
        deps.download.as_ref(),
        &deps.log,
    )
    .await
    .map_err(|err| failed(err.to_string()))?;
    match response.reply {
        Reply::Index(records) => {
            deps.store
                .send(MergeIndex(records))
                .await
                .map_err(|err| failed(err.to_string()))?;
            Ok(())
        }
        other => Err(failed(format!("answered {}", other.status()))),
    }
}

/// Runs one download to its end.
pub async fn download(number: RfcNumber, deps: &DownloaderDeps) -> DownloadFinished {
    let started = SystemTime::now();
    let clock = Instant::now();
    let mut failed_attempts = Vec::new();
    let mut transfer = None;
    let outcome = async {
        if deps.store.send(HoldsLocally(number)).await.unwrap_or(false) {
            return Outcome::AlreadyHeld;
        }
        let peers = match peer_list(deps).await {
            Ok(peers) => peers,
            Err(err) => return Outcome::Failed(err),
        };
        let mut tried = HashSet::new();
        // Holders the index knows already, then peer by peer.
        for next_peer in std::iter::once(None).chain(peers.iter().map(Some)) {
            if let Some(peer) = next_peer {
                if let Err(attempt) = fetch_index(deps, peer).await {
                    failed_attempts.push(attempt);
                    continue;
                }
            }
            let result = try_holders(number, &peers, &mut tried, &mut failed_attempts, deps).await;
            if let Some((outcome, took)) = result {
                transfer = Some(took);
                return outcome;
            }
        }
        Outcome::Failed(DownloadError::Exhausted)
    }
    .await;
    DownloadFinished {
        number,
        outcome,
        started,
        elapsed: clock.elapsed(),
        transfer,
        failed_attempts,
    }
}

/// Tries the untried active holders of `number` the index names, one after
/// another; `Some` once one was saved (or saving failed for good).
async fn try_holders(
    number: RfcNumber,
    peers: &[PeerEntry],
    tried: &mut HashSet<SocketAddr>,
    failed_attempts: &mut Vec<Attempt>,
    deps: &DownloaderDeps,
) -> Option<(Outcome, Duration)> {
    loop {
        let holders = deps.store.send(Holders(number)).await.ok()?;
        let candidate = plan::candidates(&holders, peers, tried, &deps.busy.borrow())
            .into_iter()
            .next()?;
        tried.insert(candidate.addr);
        let request = Request::GetRfc {
            number,
            origin: deps.origin.clone(),
        };
        *deps.busy.borrow_mut().entry(candidate.addr).or_default() += 1;
        let clock = Instant::now();
        let result = exchange(
            candidate.addr,
            &request,
            deps.limits,
            deps.timeout,
            deps.download.as_ref(),
            &deps.log,
        )
        .await;
        if let Some(count) = deps.busy.borrow_mut().get_mut(&candidate.addr) {
            *count = count.saturating_sub(1);
        }
        let failed = |error: String| Attempt {
            addr: candidate.addr,
            what: "rfc",
            error,
        };
        let body = match result.map(|response| response.reply) {
            Ok(Reply::Document(body)) => body,
            Ok(other) => {
                failed_attempts.push(failed(format!("answered {}", other.status())));
                continue;
            }
            Err(err) => {
                failed_attempts.push(failed(err.to_string()));
                continue;
            }
        };
        let bytes = body.len() as u64;
        let save = SaveDocument {
            number,
            title: candidate.title.clone(),
            body,
        };
        let outcome = match deps.store.send(save).await {
            Ok(Ok(())) => Outcome::Downloaded {
                holder: candidate.holder,
                addr: candidate.addr,
                bytes,
            },
            Ok(Err(err)) => Outcome::Failed(DownloadError::Save(err)),
            Err(err) => Outcome::Failed(DownloadError::Save(err.to_string())),
        };
        return Some((outcome, clock.elapsed()));
    }
}
