//! The admin endpoint's requests and replies, as types: the endpoint
//! (`admin/`) writes them and `p2p-di ctl` reads them, so renaming a field
//! breaks the build, not the operator. docs/ADMIN.md shows them as JSON.

use p2p_di_actors::peer::downloader::{self, DownloadEntry, Ended, Outcome, QueueState};
use p2p_di_actors::state::book::Stage;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Seconds since the epoch as RFC 3339 UTC (`2026-11-21T09:30:00Z`).
pub fn rfc3339(unix_secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(unix_secs))
        .to_string()
}

/// An error reply (any route, any 4xx or 5xx).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
}

/// `GET /status`: what a daemon is and how it does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Status {
    /// A registration server.
    Rs(RsStatus),
    /// A peer.
    Peer(PeerStatus),
}

/// A registration server's status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RsStatus {
    /// The daemon's version.
    pub version: String,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// Where it takes P2P-DI requests.
    pub listen: SocketAddr,
    /// Where this endpoint listens.
    pub admin: SocketAddr,
    /// The TTL it gives.
    pub ttl_secs: u64,
    /// Whether it serves (not reloading its state).
    pub serving: bool,
    /// Peers it has a record of.
    pub peers_known: usize,
    /// Peers active now.
    pub peers_active: usize,
    /// Connections being served now.
    pub connections_open: i64,
    /// Requests answered since it started.
    pub requests: RsRequests,
}

/// Requests a registration server answered, by kind.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct RsRequests {
    /// REGISTER answered 200.
    pub registered: u64,
    /// KEEPALIVE answered 200.
    pub kept_alive: u64,
    /// LEAVE answered 200.
    pub left: u64,
    /// PQUERY answered 200 or 404.
    pub queried: u64,
    /// Requests refused (403, 503).
    pub refused: u64,
    /// Changes the journal could not make durable (answered 503).
    pub not_durable: u64,
}

/// A peer's status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The daemon's version.
    pub version: String,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// The host name it registers with.
    pub host: String,
    /// Where its RFC server listens.
    pub rfc_server: SocketAddr,
    /// Where this endpoint listens.
    pub admin: SocketAddr,
    /// The registration servers it registers with, in the order given.
    pub rs: Vec<RsReach>,
    /// The current peer list.
    pub peer_list: PeerListAge,
    /// Its RFC folder.
    pub rfc_dir: String,
    /// Whether it is registered.
    pub joined: bool,
    /// Whether it left (`ctl leave`) and stays away.
    pub left: bool,
    /// Registrations since it started.
    pub registrations: u32,
    /// Documents it holds.
    pub documents: usize,
    /// Records in its RFC index.
    pub index_records: usize,
    /// Remote index records refused over the index's limits since start.
    pub index_records_refused: u64,
    /// Remote index records evicted to make room since start.
    pub index_records_evicted: u64,
    /// Its downloads now.
    pub downloads: Queue,
    /// Uploads running now.
    pub uploads_running: usize,
    /// Connections its RFC server serves now.
    pub connections_open: i64,
    /// Bytes its RFC server sent since it started.
    pub bytes_served: u64,
    /// Bytes it downloaded since it started.
    pub bytes_downloaded: u64,
}

/// One RS as a peer sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RsReach {
    /// `HOST:PORT` as configured.
    pub rs: String,
    /// Registered there now.
    pub joined: bool,
    /// Whether it answered the last exchange with it (none: not asked yet).
    pub reachable: Option<bool>,
    /// Since when it answers, or since when it does not, RFC 3339.
    pub since: Option<String>,
    /// Registrations there since the peer started.
    pub registrations: u32,
}

/// How current a peer's list of active peers is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PeerListAge {
    /// Active peers on it (entries whose TTL has not run out).
    pub peers: usize,
    /// Its age in ms (none: no RS answered yet).
    pub age_ms: Option<u64>,
    /// No RS answered the last round: the list in use is an old one, aged.
    pub aged: bool,
}

impl From<&p2p_di_actors::state::rs_link::RsLink> for RsReach {
    fn from(link: &p2p_di_actors::state::rs_link::RsLink) -> Self {
        use p2p_di_actors::state::rs_link::Reach;
        let (reachable, since_ms) = match link.reach() {
            Reach::Unknown => (None, None),
            Reach::Up { since_ms } => (Some(true), Some(since_ms)),
            Reach::Down { since_ms, .. } => (Some(false), Some(since_ms)),
        };
        RsReach {
            rs: link.rs.clone(),
            joined: link.joined,
            reachable,
            since: since_ms.map(|ms| rfc3339(ms / 1000)),
            registrations: link.registrations,
        }
    }
}

/// A peer's download queue.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Queue {
    /// Downloads waiting for room.
    pub waiting: usize,
    /// Downloads running.
    pub running: usize,
    /// Downloads that ended since the peer started.
    pub ended: u64,
    /// The most downloads waiting or running at once.
    pub bound: usize,
}

/// `?limit=N&after=KEY` of a listing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Records in the page.
    pub limit: Option<usize>,
    /// Start after this key (the `next` of an earlier page).
    pub after: Option<String>,
}

/// `GET /peers` of a registration server: its records, by id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RsPeers {
    /// The records.
    pub peers: Vec<RsPeer>,
    /// The key of the next page, if there is one.
    pub next: Option<u32>,
}

/// A registration server's record of a peer: the seven fields the RS
/// keeps but the cookie, and the address registrations came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RsPeer {
    /// The record's key: stable while the RS runs.
    pub id: u32,
    /// The host name it registered with.
    pub host: String,
    /// The OS it registered with.
    pub os: String,
    /// The address its latest registration came from.
    pub address: IpAddr,
    /// Its RFC server's port.
    pub port: u16,
    /// Whether it is active.
    pub active: bool,
    /// Seconds of TTL left (0 when inactive).
    pub ttl_secs: u64,
    /// Registrations in the last 30 days.
    pub registrations_30d: u32,
    /// Its latest registration, RFC 3339.
    pub last_registered: String,
    /// The same, in seconds since the epoch.
    pub last_registered_unix_secs: u64,
}

/// `GET /peers` of a peer: its peer list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerList {
    /// The active peers.
    pub peers: Vec<ListedPeer>,
    /// The key of the next page, if there is one.
    pub next: Option<String>,
    /// The RS's answer when it had no list (`no active peers`, ...).
    pub note: Option<String>,
}

/// `?refresh=true` of a peer's `GET /peers`, with the page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerListQuery {
    /// Records in the page.
    pub limit: Option<usize>,
    /// `ADDRESS:PORT` of the last peer of the previous page.
    pub after: Option<String>,
    /// Ask the RS now (PQUERY) instead of showing the last list.
    pub refresh: Option<bool>,
}

/// A peer on a peer list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListedPeer {
    /// `ADDRESS:PORT`: its key in the list.
    pub key: String,
    /// Its host name.
    pub host: String,
    /// The address to reach it at.
    pub address: IpAddr,
    /// Its RFC server's port.
    pub port: u16,
    /// Seconds of TTL left.
    pub ttl_secs: u64,
    /// Registrations in the last 30 days.
    pub registrations_30d: u32,
    /// Its latest registration, RFC 3339.
    pub last_registered: String,
}

/// `GET /index`: a page of the RFC index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexPage {
    /// The records.
    pub records: Vec<IndexRecord>,
    /// The key of the next page, if there is one.
    pub next: Option<String>,
}

/// An RFC index record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexRecord {
    /// The RFC.
    pub rfc: u32,
    /// Its title.
    pub title: String,
    /// The holder's host name.
    pub host: String,
    /// The holder's RFC server port.
    pub port: u16,
    /// Seconds of TTL left.
    pub ttl_secs: u64,
    /// Held by this peer.
    pub local: bool,
}

/// `POST /index/refresh`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refreshed {
    /// Peers whose index arrived and was merged.
    pub peers_reached: usize,
    /// Records in the index now.
    pub index_records: usize,
}

/// `GET /transfers`: uploads and downloads in flight.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transfers {
    /// The transfers.
    pub transfers: Vec<Transfer>,
    /// The key of the next page, if there is one.
    pub next: Option<String>,
}

/// An upload or a download in flight.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transfer {
    /// `up-SESSION` or `down-RFC`: unique while it runs.
    pub key: String,
    /// `upload` or `download`.
    pub direction: String,
    /// The RFC.
    pub rfc: u32,
    /// The client (upload) or the holder (download; none while it looks
    /// for one).
    pub peer: Option<SocketAddr>,
    /// The document's length, once known.
    pub length: Option<u64>,
    /// Bytes sent or received so far.
    pub done: u64,
    /// Waiting for room to start.
    pub waiting: bool,
    /// Tries that failed so far.
    pub failed_attempts: usize,
    /// Milliseconds since it started.
    pub elapsed_ms: u64,
}

/// `POST /downloads`: what to download. One of `rfc`, `rfcs` and `all`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadAsk {
    /// One RFC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rfc: Option<u32>,
    /// RFCs, in the order to start them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rfcs: Vec<u32>,
    /// Every RFC the merged index names that this peer does not hold.
    #[serde(default)]
    pub all: bool,
    /// Refresh the index from every active peer first.
    #[serde(default)]
    pub refresh: bool,
}

/// The answer to `POST /downloads`: every download queued, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queued {
    /// Each RFC's download: its id and the RFC.
    pub downloads: Vec<Ticket>,
    /// Downloads that had ended before these were queued: follow the ends
    /// from here (`GET /downloads/ended?since=`).
    pub ended_before: u64,
    /// The queue now.
    pub queue: Queue,
}

/// A queued download.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Ticket {
    /// Its id.
    pub id: u64,
    /// The RFC.
    pub rfc: u32,
}

/// `GET /downloads`: the downloads asked for, by id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Downloads {
    /// The downloads.
    pub downloads: Vec<Download>,
    /// The id of the last of them, if more follow.
    pub next: Option<u64>,
}

/// `?since=N&limit=L&wait=SECS` of `GET /downloads/ended`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndedQuery {
    /// The last end seen (0: none).
    pub since: Option<u64>,
    /// Most downloads.
    pub limit: Option<usize>,
    /// Seconds to wait for one to end.
    pub wait: Option<u64>,
}

/// `GET /downloads/ended`: the downloads that ended, in the order they did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndedPage {
    /// The downloads.
    pub downloads: Vec<Download>,
    /// Follow on from here (`since=`).
    pub next: u64,
    /// The queue now.
    pub queue: Queue,
}

/// `?wait=SECS` of `GET /downloads/ID`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// Seconds to wait for it to end.
    pub wait: Option<u64>,
}

/// A download, as `GET /downloads/ID` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Download {
    /// Its id.
    pub id: u64,
    /// The RFC.
    pub rfc: u32,
    /// `waiting`, `running`, `downloaded`, `already_held` or `failed`.
    pub state: DownloadState,
    /// When it was asked for, RFC 3339.
    pub asked: String,
    /// Milliseconds it ran (so far, while it runs).
    pub elapsed_ms: u64,
    /// The holder it came from, when downloaded.
    pub holder: Option<String>,
    /// The holder being tried (running) or it came from (downloaded).
    pub address: Option<SocketAddr>,
    /// The document's length, once known.
    pub length: Option<u64>,
    /// Bytes received.
    pub received: u64,
    /// Tries that failed, in order.
    pub attempts: Vec<Attempt>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Where a download is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownloadState {
    /// Waiting for room.
    Waiting,
    /// Running.
    Running,
    /// Saved.
    Downloaded,
    /// The peer held it already.
    AlreadyHeld,
    /// It could not be had.
    Failed,
}

impl DownloadState {
    /// Whether it ended.
    pub fn ended(self) -> bool {
        !matches!(self, DownloadState::Waiting | DownloadState::Running)
    }

    /// Whether it ended with the document here.
    pub fn succeeded(self) -> bool {
        matches!(self, DownloadState::Downloaded | DownloadState::AlreadyHeld)
    }

    /// As the JSON says it.
    pub fn as_str(self) -> &'static str {
        match self {
            DownloadState::Waiting => "waiting",
            DownloadState::Running => "running",
            DownloadState::Downloaded => "downloaded",
            DownloadState::AlreadyHeld => "already_held",
            DownloadState::Failed => "failed",
        }
    }
}

/// A try that failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// The holder (or RS) tried.
    pub address: SocketAddr,
    /// At which step.
    pub stage: String,
    /// Why.
    pub error: String,
}

/// `POST /leave` and `POST /join`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Membership {
    /// Whether it is registered.
    pub joined: bool,
    /// Whether it left and stays away.
    pub left: bool,
}

/// `POST /rescan`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rescanned {
    /// Documents held now.
    pub documents: usize,
    /// RFCs added.
    pub added: Vec<u32>,
    /// RFCs removed.
    pub removed: Vec<u32>,
    /// Files skipped, and why.
    pub skipped: Vec<String>,
}

impl From<QueueState> for Queue {
    fn from(queue: QueueState) -> Queue {
        Queue {
            waiting: queue.waiting,
            running: queue.running,
            ended: queue.ended,
            bound: queue.bound,
        }
    }
}

impl From<downloader::Queued> for Queued {
    fn from(queued: downloader::Queued) -> Queued {
        Queued {
            downloads: queued
                .tickets
                .into_iter()
                .map(|(id, rfc)| Ticket { id, rfc })
                .collect(),
            ended_before: queued.ended_before,
            queue: queued.queue.into(),
        }
    }
}

impl EndedPage {
    /// The page of what ended after `since`: `next` is the last one's
    /// place, or `since` again when nothing did.
    pub fn after(since: u64, ended: Ended) -> EndedPage {
        let next = ended
            .entries
            .last()
            .and_then(|e| match e.stage {
                Stage::Ended { seq, .. } => Some(seq),
                _ => None,
            })
            .unwrap_or(since);
        EndedPage {
            downloads: ended
                .entries
                .into_iter()
                .map(|entry| {
                    Download::from(DownloadEntry {
                        entry,
                        transfer: None,
                    })
                })
                .collect(),
            next,
            queue: ended.queue.into(),
        }
    }
}

impl From<DownloadEntry> for Download {
    fn from(entry: DownloadEntry) -> Download {
        download_view(entry)
    }
}

/// A download as the API shows it.
fn download_view(entry: DownloadEntry) -> Download {
    let DownloadEntry { entry, transfer } = entry;
    let mut view = Download {
        id: entry.id,
        rfc: entry.rfc,
        state: match entry.stage {
            Stage::Waiting => DownloadState::Waiting,
            _ => DownloadState::Running,
        },
        asked: rfc3339(entry.asked_ms / 1000),
        elapsed_ms: transfer.as_ref().map_or(0, |t| t.elapsed_ms),
        holder: None,
        address: transfer.as_ref().and_then(|t| t.holder),
        length: transfer.as_ref().and_then(|t| t.length),
        received: transfer.as_ref().map_or(0, |t| t.received),
        attempts: Vec::new(),
        error: None,
    };
    let Stage::Ended { how: finished, .. } = entry.stage else {
        return view;
    };
    view.elapsed_ms = finished.elapsed.as_millis() as u64;
    view.attempts = finished
        .failed_attempts
        .iter()
        .map(|a| Attempt {
            address: a.addr,
            stage: a.stage.as_str().to_owned(),
            error: a.error.to_string(),
        })
        .collect();
    match finished.outcome {
        Outcome::Downloaded {
            holder,
            addr,
            bytes,
        } => {
            view.state = DownloadState::Downloaded;
            view.holder = Some(format!("{}:{}", holder.host, holder.port));
            view.address = Some(addr);
            view.length = Some(bytes);
            view.received = bytes;
        }
        Outcome::AlreadyHeld => {
            view.state = DownloadState::AlreadyHeld;
            view.address = None;
        }
        Outcome::Failed(err) => {
            view.state = DownloadState::Failed;
            view.address = None;
            view.error = Some(err.to_string());
        }
    }
    view
}
