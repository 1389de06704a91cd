//! The contract's download algorithm, as a pure state machine.
//!
//! A download of RFC N: ask the RS for the peer list; try the holders of N
//! the index already names; then for each active peer in turn, fetch its
//! index and merge it, and try the holders of N it names; stop when the
//! document is saved or every peer and holder was tried. The plan owns the
//! rules:
//!
//! - a holder named by the index is reached at the ADDRESS of the
//!   peer-list entry with the same HOST and PORT; a holder that is not on
//!   the current peer list is not active and is not tried;
//! - each holder is tried once; among the untried, those busy with fewer of
//!   this peer's transfers come first, so parallel downloads spread over
//!   holders; among equally busy ones, the faster by this peer's last
//!   transfers from them (one never used counts as fast, so it is tried),
//!   then the peer list's order, or with [`DownloadPlan::spreading`] an
//!   order drawn from a salt, so that many downloaders of one RFC spread
//!   over its holders and leave an overloaded one (a seed) alone;
//! - after a failed transfer, the next holder, then the next peer's index;
//! - a failure to write the document to disk ends the download at once
//!   (another holder would not help);
//! - when every peer of the list was visited, ask the RS again if the list
//!   looked like a sample of a larger one (a full-size list), at most
//!   [`MAX_ROUNDS`] times; else give up.
//!
//! The downloader actor feeds it [`PlanEvent`]s and carries out the
//! [`Action`] it returns; tests drive it with made-up events.

use super::index::Holder;
use crate::wire::{PeerEntry, RfcNumber, Status};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// A peer list at least this long may be a sample of a larger one (the RS
/// bounds its replies): once it is exhausted, the RS is asked again.
pub(crate) const FULL_LIST: usize = 1000;
/// Most peer lists one download asks for.
pub(crate) const MAX_ROUNDS: u32 = 3;

/// A holder to try, with the address to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The holder as the index names it.
    pub holder: Holder,
    /// Where to reach it.
    pub addr: SocketAddr,
    /// The title its record gives.
    pub title: String,
}

/// How loaded the holders look from this peer: transfers running with
/// each, and the rate (bytes/s) its last transfers from each reached.
#[derive(Debug, Clone, Copy)]
pub struct Load<'a> {
    /// Transfers running, by address.
    pub busy: &'a HashMap<SocketAddr, usize>,
    /// Recent transfer rate, by address (absent: never used).
    pub speed: &'a HashMap<SocketAddr, u64>,
}

/// The candidates among `holders`, given the active `peers`, the holders
/// already `tried` and the `load` of each address: least busy first, then
/// the fastest (unknown ones first), then in the peer list's order (or,
/// with a `salt`, in an order the salt draws).
pub fn candidates(
    holders: &[(Holder, String)],
    peers: &[PeerEntry],
    tried: &HashSet<SocketAddr>,
    load: Load<'_>,
    salt: Option<u64>,
) -> Vec<Candidate> {
    let mut list: Vec<(usize, Candidate)> = holders
        .iter()
        .filter_map(|(holder, title)| {
            let peer = peers
                .iter()
                .position(|p| *p.host == *holder.host && p.port == holder.port)?;
            let addr = SocketAddr::new(peers[peer].address, peers[peer].port);
            (!tried.contains(&addr)).then(|| {
                (
                    peer,
                    Candidate {
                        holder: holder.clone(),
                        addr,
                        title: title.clone(),
                    },
                )
            })
        })
        .collect();
    let rank = |position: usize, addr: &SocketAddr| match salt {
        Some(salt) => {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            BuildHasherDefault::<DefaultHasher>::default().hash_one((salt, addr))
        }
        None => position as u64,
    };
    list.sort_by_key(|(position, c)| {
        (
            load.busy.get(&c.addr).copied().unwrap_or(0),
            std::cmp::Reverse(load.speed.get(&c.addr).copied().unwrap_or(u64::MAX)),
            rank(*position, &c.addr),
        )
    });
    list.into_iter().map(|(_, c)| c).collect()
}

/// What was being fetched when a try failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A peer's index.
    Index,
    /// The document.
    Document,
}

impl Stage {
    /// The stage in words (`index`, `rfc`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Index => "index",
            Stage::Document => "rfc",
        }
    }
}

/// Why a try failed: the plan reads the kind, the log and the admin API
/// the error under it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TryError {
    /// No connection, or no complete answer in time.
    #[error("unreachable: {0}")]
    Unreachable(Failure),
    /// The peer answered with an error status.
    #[error("answered {0}")]
    Refused(Status),
    /// The answer was malformed, over a limit or cut short.
    #[error("broken answer: {0}")]
    Broken(Failure),
    /// The document could not be written to this peer's disk.
    #[error("disk: {0}")]
    Disk(Failure),
}

/// The error under a failed try, kept whole (its type and its causes,
/// for `downcast_ref` and `source`) and shared: the plan, the log and the
/// admin API read the same one. Two are equal when they say the same.
#[derive(Clone)]
pub struct Failure(Arc<dyn std::error::Error + Send + Sync>);

impl Failure {
    /// Keeps `err`.
    pub fn new(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Failure(Arc::new(err))
    }

    /// The error.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Failure {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for Failure {}

/// A try that failed, for the log and the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Where.
    pub addr: SocketAddr,
    /// What was asked.
    pub stage: Stage,
    /// What went wrong.
    pub error: TryError,
}

/// What the plan was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanEvent {
    /// The RS sent this peer list.
    Peers(Vec<PeerEntry>),
    /// The RS said no other peer is active.
    NoActivePeers,
    /// The RS could not be asked (the reason is the downloader's to keep).
    PeersFailed,
    /// A peer's index arrived and was merged: these are now the holders of
    /// the RFC.
    IndexMerged(Vec<(Holder, String)>),
    /// A try failed.
    Failed(Attempt),
    /// The document was saved.
    Saved,
}

/// Why a download gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The RS could not give a peer list.
    NoPeerList,
    /// The RS knows no other active peer.
    NoActivePeers,
    /// Every peer and holder was tried.
    Exhausted,
    /// The document could not be written to disk.
    Disk,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ask the RS for the peer list (PQUERY).
    QueryPeers,
    /// Fetch this peer's index and merge it.
    FetchIndex(PeerEntry),
    /// GET the document from this holder.
    Get(Candidate),
    /// The document is saved: the download is over.
    Done,
    /// The download is over, unsuccessfully.
    GiveUp(GiveUp),
}

/// One download's plan.
#[derive(Debug, Clone)]
pub struct DownloadPlan {
    number: RfcNumber,
    /// Every active peer learned so far, in the order the RS listed them.
    peers: Vec<PeerEntry>,
    /// The next peer whose index to fetch.
    next_peer: usize,
    /// Peers whose index was asked for.
    visited: HashSet<SocketAddr>,
    /// The holders of the RFC the index names.
    holders: Vec<(Holder, String)>,
    /// Holders tried.
    tried: HashSet<SocketAddr>,
    /// Peer lists asked for, and the length of the last one.
    rounds: u32,
    last_list_len: usize,
    attempts: Vec<Attempt>,
    /// Orders equally busy holders (`None`: the peer list's order).
    salt: Option<u64>,
}

impl DownloadPlan {
    /// A plan for `number`, whose holders the index names already.
    pub fn new(number: RfcNumber, holders: Vec<(Holder, String)>) -> Self {
        DownloadPlan {
            number,
            peers: Vec::new(),
            next_peer: 0,
            visited: HashSet::new(),
            holders,
            tried: HashSet::new(),
            rounds: 0,
            last_list_len: 0,
            attempts: Vec::new(),
            salt: None,
        }
    }

    /// Tries equally busy holders in an order drawn from `salt` instead of
    /// the peer list's (the same salt, the same order).
    pub fn spreading(mut self, salt: u64) -> Self {
        self.salt = Some(salt);
        self
    }

    /// The RFC.
    pub fn number(&self) -> RfcNumber {
        self.number
    }

    /// The first action: ask for the peer list.
    pub fn start(&mut self) -> Action {
        self.rounds = 1;
        Action::QueryPeers
    }

    /// The tries that failed so far.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// The peers learned so far.
    pub fn peers(&self) -> &[PeerEntry] {
        &self.peers
    }

    /// Takes `event` in; returns what to do next, choosing among holders by
    /// how `busy` each address is.
    pub fn next(&mut self, event: PlanEvent, busy: &HashMap<SocketAddr, usize>) -> Action {
        let speed = HashMap::new();
        self.next_with(
            event,
            Load {
                busy,
                speed: &speed,
            },
        )
    }

    /// [`DownloadPlan::next`], choosing among holders by their `load`.
    pub fn next_with(&mut self, event: PlanEvent, load: Load<'_>) -> Action {
        match event {
            PlanEvent::Peers(list) => {
                self.last_list_len = list.len();
                for peer in list {
                    let addr = SocketAddr::new(peer.address, peer.port);
                    if !self
                        .peers
                        .iter()
                        .any(|p| SocketAddr::new(p.address, p.port) == addr)
                    {
                        self.peers.push(peer);
                    }
                }
            }
            PlanEvent::NoActivePeers | PlanEvent::PeersFailed if self.peers.is_empty() => {
                return Action::GiveUp(if event == PlanEvent::NoActivePeers {
                    GiveUp::NoActivePeers
                } else {
                    GiveUp::NoPeerList
                });
            }
            // A later list could not be had: go on with the peers known.
            PlanEvent::NoActivePeers | PlanEvent::PeersFailed => self.last_list_len = 0,
            PlanEvent::IndexMerged(holders) => self.holders = holders,
            PlanEvent::Failed(attempt) => {
                let disk = matches!(attempt.error, TryError::Disk(_));
                self.attempts.push(attempt);
                if disk {
                    return Action::GiveUp(GiveUp::Disk);
                }
            }
            PlanEvent::Saved => return Action::Done,
        }
        self.advance(load)
    }

    fn advance(&mut self, load: Load<'_>) -> Action {
        if let Some(candidate) =
            candidates(&self.holders, &self.peers, &self.tried, load, self.salt)
                .into_iter()
                .next()
        {
            self.tried.insert(candidate.addr);
            return Action::Get(candidate);
        }
        while let Some(peer) = self.peers.get(self.next_peer) {
            self.next_peer += 1;
            if self
                .visited
                .insert(SocketAddr::new(peer.address, peer.port))
            {
                return Action::FetchIndex(peer.clone());
            }
        }
        if self.last_list_len >= FULL_LIST && self.rounds < MAX_ROUNDS {
            self.rounds += 1;
            return Action::QueryPeers;
        }
        Action::GiveUp(GiveUp::Exhausted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(text: &str) -> Failure {
        Failure::new(std::io::Error::other(text.to_owned()))
    }
    use std::net::{IpAddr, Ipv4Addr};

    fn peer(host: &str, last: u8, port: u16) -> PeerEntry {
        PeerEntry {
            host: host.into(),
            address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            port,
            ttl_secs: 7200,
            registrations_30d: 1,
            last_registered_unix_secs: 0,
        }
    }

    fn holder(host: &str, port: u16) -> (Holder, String) {
        (Holder::new(host, port), "t".into())
    }

    fn addr(last: u8, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), port)
    }

    fn idle() -> HashMap<SocketAddr, usize> {
        HashMap::new()
    }

    fn failed(addr: SocketAddr, stage: Stage, error: TryError) -> PlanEvent {
        PlanEvent::Failed(Attempt { addr, stage, error })
    }

    fn get_from(action: &Action) -> SocketAddr {
        match action {
            Action::Get(candidate) => candidate.addr,
            other => panic!("expected a GET, got {other:?}"),
        }
    }

    #[test]
    fn a_holder_is_dialled_at_its_peer_list_address_and_only_if_listed() {
        let peers = vec![peer("b", 2, 65401), peer("c", 3, 65402)];
        let holders = vec![holder("b", 65401), holder("gone", 65409), holder("c", 1)];
        let none = HashMap::new();
        let load = Load {
            busy: &none,
            speed: &HashMap::new(),
        };
        let list = candidates(&holders, &peers, &HashSet::new(), load, None);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].addr, addr(2, 65401));
    }

    #[test]
    fn tried_holders_are_skipped_and_idle_ones_come_first() {
        let peers = vec![peer("b", 2, 1), peer("c", 3, 1), peer("d", 4, 1)];
        let holders = vec![holder("b", 1), holder("c", 1), holder("d", 1)];
        let tried: HashSet<_> = [addr(2, 1)].into();
        let busy: HashMap<_, _> = [(addr(3, 1), 2)].into();
        let speed = HashMap::new();
        let load = Load {
            busy: &busy,
            speed: &speed,
        };
        let list = candidates(&holders, &peers, &tried, load, None);
        let hosts: Vec<&str> = list.iter().map(|c| &*c.holder.host).collect();
        assert_eq!(hosts, ["d", "c"]);
        // Equally busy: the faster first, and one never used before both.
        let all = HashSet::new();
        let speed: HashMap<_, _> = [(addr(2, 1), 1_000), (addr(3, 1), 9_000)].into();
        let idle = HashMap::new();
        let load = Load {
            busy: &idle,
            speed: &speed,
        };
        let list = candidates(&holders, &peers, &all, load, None);
        let hosts: Vec<&str> = list.iter().map(|c| &*c.holder.host).collect();
        assert_eq!(hosts, ["d", "c", "b"]);
    }

    #[test]
    fn salted_plans_spread_over_equally_busy_holders_but_busy_ones_stay_last() {
        let peers: Vec<PeerEntry> = (1..=4u8).map(|i| peer("h", i, u16::from(i))).collect();
        let all: Vec<_> = (1..=4u8).map(|i| holder("h", u16::from(i))).collect();
        let busy: HashMap<_, _> = [(addr(1, 1), 1)].into();
        let speed = HashMap::new();
        let load = Load {
            busy: &busy,
            speed: &speed,
        };
        let order = |salt| candidates(&all, &peers, &HashSet::new(), load, Some(salt));
        assert_eq!(order(7), order(7), "the same salt, the same order");
        let mut firsts = HashSet::new();
        for salt in 0..64 {
            let list = order(salt);
            assert_eq!(list.len(), 4);
            assert_eq!(list[3].addr, addr(1, 1), "the busy holder stays last");
            firsts.insert(list[0].addr);
        }
        assert_eq!(
            firsts.len(),
            3,
            "each idle holder comes first for some salt"
        );
    }

    #[test]
    fn it_starts_by_asking_for_the_peer_list() {
        let mut plan = DownloadPlan::new(7, vec![]);
        assert_eq!(plan.start(), Action::QueryPeers);
    }

    #[test]
    fn holders_the_index_knows_are_tried_before_any_index_is_fetched() {
        let mut plan = DownloadPlan::new(7, vec![holder("c", 1)]);
        plan.start();
        let peers = vec![peer("b", 2, 1), peer("c", 3, 1)];
        let action = plan.next(PlanEvent::Peers(peers), &idle());
        assert_eq!(get_from(&action), addr(3, 1));
        assert_eq!(plan.next(PlanEvent::Saved, &idle()), Action::Done);
    }

    #[test]
    fn with_no_known_holder_it_fetches_the_indexes_peer_by_peer() {
        let mut plan = DownloadPlan::new(7, vec![]);
        plan.start();
        let (b, c) = (peer("b", 2, 1), peer("c", 3, 1));
        let action = plan.next(PlanEvent::Peers(vec![b.clone(), c.clone()]), &idle());
        assert_eq!(action, Action::FetchIndex(b));
        // b's index names no holder of 7: the next peer
        let action = plan.next(PlanEvent::IndexMerged(vec![]), &idle());
        assert_eq!(action, Action::FetchIndex(c));
        let action = plan.next(PlanEvent::IndexMerged(vec![holder("c", 1)]), &idle());
        assert_eq!(get_from(&action), addr(3, 1));
    }

    #[test]
    fn a_failed_holder_moves_on_to_the_next_holder_then_the_next_peer() {
        let mut plan = DownloadPlan::new(7, vec![]);
        plan.start();
        let peers = vec![peer("b", 2, 1), peer("c", 3, 1), peer("d", 4, 1)];
        assert_eq!(
            plan.next(PlanEvent::Peers(peers.clone()), &idle()),
            Action::FetchIndex(peers[0].clone())
        );
        let both = vec![holder("b", 1), holder("c", 1)];
        let first = plan.next(PlanEvent::IndexMerged(both), &idle());
        assert_eq!(get_from(&first), addr(2, 1));
        let refused = failed(
            addr(2, 1),
            Stage::Document,
            TryError::Refused(Status::NotFound),
        );
        let second = plan.next(refused, &idle());
        assert_eq!(get_from(&second), addr(3, 1));
        let cut = failed(addr(3, 1), Stage::Document, TryError::Broken(io("short")));
        // no holder left: the next peer's index (c's was not fetched yet)
        assert_eq!(
            plan.next(cut, &idle()),
            Action::FetchIndex(peers[1].clone())
        );
        assert_eq!(plan.attempts().len(), 2);
    }

    #[test]
    fn a_peer_whose_index_fails_is_passed_over() {
        let mut plan = DownloadPlan::new(7, vec![]);
        plan.start();
        let peers = vec![peer("b", 2, 1), peer("c", 3, 1)];
        plan.next(PlanEvent::Peers(peers.clone()), &idle());
        let down = failed(
            addr(2, 1),
            Stage::Index,
            TryError::Unreachable(io("refused")),
        );
        assert_eq!(
            plan.next(down, &idle()),
            Action::FetchIndex(peers[1].clone())
        );
    }

    #[test]
    fn when_everyone_was_tried_it_gives_up() {
        let mut plan = DownloadPlan::new(7, vec![]);
        plan.start();
        plan.next(PlanEvent::Peers(vec![peer("b", 2, 1)]), &idle());
        let action = plan.next(PlanEvent::IndexMerged(vec![holder("b", 1)]), &idle());
        assert_eq!(get_from(&action), addr(2, 1));
        let gone = failed(addr(2, 1), Stage::Document, TryError::Unreachable(io("x")));
        assert_eq!(plan.next(gone, &idle()), Action::GiveUp(GiveUp::Exhausted));
    }

    #[test]
    fn a_holder_not_on_the_peer_list_is_never_tried() {
        let mut plan = DownloadPlan::new(7, vec![holder("gone", 9)]);
        plan.start();
        let b = peer("b", 2, 1);
        assert_eq!(
            plan.next(PlanEvent::Peers(vec![b.clone()]), &idle()),
            Action::FetchIndex(b)
        );
        let merged = PlanEvent::IndexMerged(vec![holder("gone", 9)]);
        assert_eq!(
            plan.next(merged, &idle()),
            Action::GiveUp(GiveUp::Exhausted)
        );
    }

    #[test]
    fn parallel_downloads_spread_over_holders() {
        let mut plan = DownloadPlan::new(7, vec![holder("b", 1), holder("c", 1)]);
        plan.start();
        let busy: HashMap<_, _> = [(addr(2, 1), 3)].into();
        let peers = vec![peer("b", 2, 1), peer("c", 3, 1)];
        let action = plan.next(PlanEvent::Peers(peers), &busy);
        assert_eq!(get_from(&action), addr(3, 1));
    }

    #[test]
    fn no_peer_list_or_no_active_peer_gives_up_at_once() {
        let mut plan = DownloadPlan::new(7, vec![]);
        plan.start();
        assert_eq!(
            plan.next(PlanEvent::PeersFailed, &idle()),
            Action::GiveUp(GiveUp::NoPeerList)
        );
        let mut plan = DownloadPlan::new(7, vec![]);
        plan.start();
        assert_eq!(
            plan.next(PlanEvent::NoActivePeers, &idle()),
            Action::GiveUp(GiveUp::NoActivePeers)
        );
    }

    #[test]
    fn a_disk_failure_ends_the_download_at_once() {
        let mut plan = DownloadPlan::new(7, vec![holder("b", 1), holder("c", 1)]);
        plan.start();
        let peers = vec![peer("b", 2, 1), peer("c", 3, 1)];
        plan.next(PlanEvent::Peers(peers), &idle());
        let full = failed(addr(2, 1), Stage::Document, TryError::Disk(io("no space")));
        assert_eq!(plan.next(full, &idle()), Action::GiveUp(GiveUp::Disk));
    }

    #[test]
    fn a_full_size_list_is_asked_again_when_exhausted_at_most_max_rounds_times() {
        let mut plan = DownloadPlan::new(7, vec![]);
        plan.start();
        let many = |offset: u16| -> Vec<PeerEntry> {
            (0..FULL_LIST as u16)
                .map(|i| peer(&format!("p{}", i + offset), 1, i + offset + 1))
                .collect()
        };
        let mut action = plan.next(PlanEvent::Peers(many(0)), &idle());
        let mut fetched = 0;
        let mut queried = 1;
        loop {
            match action {
                Action::FetchIndex(_) => {
                    fetched += 1;
                    action = plan.next(PlanEvent::IndexMerged(vec![]), &idle());
                }
                Action::QueryPeers => {
                    queried += 1;
                    // half of each new sample was seen before
                    let offset = (queried - 1) * FULL_LIST as u16 / 2;
                    action = plan.next(PlanEvent::Peers(many(offset)), &idle());
                }
                other => {
                    assert_eq!(other, Action::GiveUp(GiveUp::Exhausted));
                    break;
                }
            }
        }
        assert_eq!(queried, MAX_ROUNDS as u16);
        assert_eq!(fetched, 2 * FULL_LIST, "each peer's index fetched once");
    }

    #[test]
    fn a_short_list_is_not_asked_again() {
        let mut plan = DownloadPlan::new(7, vec![]);
        plan.start();
        plan.next(PlanEvent::Peers(vec![peer("b", 2, 1)]), &idle());
        assert_eq!(
            plan.next(PlanEvent::IndexMerged(vec![]), &idle()),
            Action::GiveUp(GiveUp::Exhausted)
        );
    }

    #[test]
    fn a_failed_second_list_goes_on_with_the_peers_known() {
        let mut plan = DownloadPlan::new(7, vec![]);
        plan.start();
        let many: Vec<PeerEntry> = (0..FULL_LIST as u16)
            .map(|i| peer(&format!("p{i}"), 1, i + 1))
            .collect();
        plan.next(PlanEvent::Peers(many), &idle());
        for _ in 1..FULL_LIST {
            plan.next(PlanEvent::IndexMerged(vec![]), &idle());
        }
        assert_eq!(
            plan.next(PlanEvent::IndexMerged(vec![]), &idle()),
            Action::QueryPeers
        );
        assert_eq!(
            plan.next(PlanEvent::PeersFailed, &idle()),
            Action::GiveUp(GiveUp::Exhausted)
        );
    }
}
