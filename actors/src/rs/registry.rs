//! The registry actor: owns the peer table, journals every change, and
//! rebuilds the table from disk when it restarts.
//!
//! A REGISTER or LEAVE is decided on the table, numbered, journaled, and
//! applied only once the journal says it is on disk; its reply waits for
//! that, in the order the changes were numbered. A change the disk refused
//! is answered 503 and never applied, so the table holds only what a
//! restart would find. A TTL reset (KEEPALIVE, PQUERY) is applied at once
//! and journaled lazily.
//!
//! While it reloads after a restart, or after a reload that failed, the
//! registry answers every request 503 rather than serve a table it cannot
//! vouch for; the reload itself runs on the journal's thread.
//!
//! The journal is compacted in slices: the registry encodes a few
//! thousand records between requests and hands them to the journal's
//! thread, so neither a compaction nor a burst of expiries holds the
//! registry for long.

use super::journal::{Journal, JournalError};
use super::recovery::{encode_slice, Recovered};
use crate::now_ms;
use crate::state::registry::{
    Event, Expiry, Pace, PeerView, Registrant, Registry, RegistryCounts, RegistryError,
};
use crate::wire::{Cookie, Status};
use actix::prelude::*;
use bytes::Bytes;
use slog::{debug, error, info, warn, Logger};
use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long a TTL reset waits in the registry before it goes to the
/// journal's thread (which writes it within [`super::journal::LAZY_FLUSH`]).
const LAZY_BATCH: Duration = Duration::from_millis(10);
/// TTL resets handed over at once at most.
const LAZY_BATCH_EVENTS: usize = 4096;
/// Records a compaction slice encodes at most.
const SLICE: usize = 16_384;
/// Peers one sweep takes off the active list at most.
pub(crate) const EXPIRY_SLICE: usize = 10_000;

/// The one place a registry refusal becomes a wire status.
pub(crate) fn status_of(err: RegistryError) -> Status {
    match err {
        RegistryError::Forbidden => Status::Forbidden,
        RegistryError::Full | RegistryError::AddressFull => Status::ServiceUnavailable,
    }
}

/// Register a peer (REGISTER).
#[derive(Debug, Message)]
#[rtype(result = "Result<Cookie, Status>")]
pub struct Register {
    /// Host name.
    pub host: String,
    /// Operating system.
    pub os: String,
    /// RFC server port.
    pub port: u16,
    /// Cookie of an earlier registration.
    pub cookie: Option<Cookie>,
    /// Address the request came from.
    pub address: IpAddr,
}

/// Set a peer's TTL back (KEEPALIVE).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), Status>")]
pub struct KeepAlive {
    /// The peer.
    pub cookie: Cookie,
}

/// Mark a peer inactive (LEAVE).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), Status>")]
pub struct Leave {
    /// The peer.
    pub cookie: Cookie,
}

/// The other active peers, encoded as a PQUERY body (PQUERY).
#[derive(Debug, Message)]
#[rtype(result = "Result<Bytes, Status>")]
pub struct QueryPeers {
    /// The asking peer.
    pub cookie: Cookie,
}

/// Take off the active list what is due (from the sweeper); answers when
/// to sweep next.
#[derive(Debug, Message)]
#[rtype(result = "Expiry")]
pub struct ExpireDue;

/// Counters of the registry, for tests, status and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, MessageResponse)]
pub struct RegistryStats {
    /// What the table holds.
    pub counts: RegistryCounts,
    /// Whether it serves (not reloading).
    pub serving: bool,
    /// Requests answered, by kind, since start.
    pub requests: Requests,
}

/// Requests answered since start, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    /// REGISTER answered 200.
    pub registered: u64,
    /// KEEPALIVE answered 200.
    pub kept_alive: u64,
    /// LEAVE answered 200.
    pub left: u64,
    /// PQUERY answered 200 or 404.
    pub queried: u64,
    /// PQUERYs answered late, past their peer's rate.
    pub paced: u64,
    /// Requests refused (403, 503).
    pub refused: u64,
    /// Changes the journal could not make durable (answered 503).
    pub not_durable: u64,
}

/// Write out everything journaled so far, TTL resets included; answers
/// once it is on disk (a graceful stop).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), JournalError>")]
pub struct Flush;

/// Ask for [`RegistryStats`].
#[derive(Debug, Message)]
#[rtype(result = "RegistryStats")]
pub struct GetStats;

/// A page of records (for tools): from slot `from`, at most `limit`.
#[derive(Debug, Message)]
#[rtype(result = "(Vec<PeerView>, Option<usize>)")]
pub struct GetPeers {
    /// Where to start (a cursor from an earlier page, or 0).
    pub from: usize,
    /// Most records returned.
    pub limit: usize,
}

/// Encode the next compaction slice (sent to itself).
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct EncodeSlice;

/// Whether the registry serves.
#[derive(Debug, Clone)]
enum Serving {
    Yes,
    /// Reloading from disk after a restart.
    Reloading,
    /// The reload failed; retried later.
    Failed(Arc<JournalError>),
}

/// How a durable change is answered once the journal says.
enum Reply {
    Register(oneshot::Sender<Result<Cookie, Status>>, Cookie),
    Leave(oneshot::Sender<Result<(), Status>>),
}

/// A change waiting for the disk.
struct Pending {
    /// The sequence number of its last event.
    last_seq: u64,
    events: Vec<(u64, Event)>,
    reply: Reply,
    /// Set when the journal answered.
    written: Option<Result<(), JournalError>>,
}

/// A compaction in progress.
struct Compacting {
    /// The next slot to encode; `None` once all are.
    next: Option<usize>,
    started: Instant,
}

/// How the registry is configured.
#[derive(Debug, Clone, Copy)]
pub struct RegistryConfig {
    /// TTL of a registration.
    pub ttl_secs: u64,
    /// Records kept at most.
    pub max_peers: usize,
    /// Active peers per address at most.
    pub max_peers_per_address: usize,
    /// Peers in one PQUERY reply at most.
    pub max_peers_per_reply: usize,
    /// How often one peer may PQUERY.
    pub pquery_pace: Pace,
    /// Seconds between stats lines in the log (0: none).
    pub stats_interval_secs: u64,
    /// Events after which the journal is compacted (at least a quarter as
    /// many as there are records).
    pub compact_after_events: u64,
}

/// The registry actor.
pub struct RegistryActor {
    registry: Registry,
    journal: Journal,
    config: RegistryConfig,
    serving: Serving,
    /// The sequence number of the next event.
    next_seq: u64,
    pending: VecDeque<Pending>,
    /// Cookies of new registrations waiting for the disk.
    pending_cookies: HashSet<Cookie>,
    /// TTL resets numbered and applied, not yet handed to the journal.
    lazy: Vec<(u64, Event)>,
    /// Events journaled since the last snapshot.
    since_snapshot: u64,
    compacting: Option<Compacting>,
    requests: Requests,
    /// `requests` at the last stats line.
    last_stats: Requests,
    restarted: bool,
    /// Draws cookies (which must be hard to guess) and peer-list samples.
    rng: rand::rngs::StdRng,
    log: Logger,
}

impl RegistryActor {
    /// An actor over a recovered table and its journal.
    pub fn new(
        recovered: Recovered,
        journal: Journal,
        config: RegistryConfig,
        log: Logger,
    ) -> Self {
        let since_snapshot = (recovered.journal_events + recovered.skipped_events) as u64;
        RegistryActor {
            registry: recovered.registry,
            journal,
            config,
            serving: Serving::Yes,
            next_seq: recovered.next_seq,
            pending: VecDeque::new(),
            pending_cookies: HashSet::new(),
            lazy: Vec::new(),
            since_snapshot,
            compacting: None,
            requests: Requests::default(),
            last_stats: Requests::default(),
            restarted: false,
            rng: rand::SeedableRng::from_os_rng(),
            log,
        }
    }

    /// Numbers `events` in order.
    fn numbered(&mut self, events: Vec<Event>) -> Vec<(u64, Event)> {
        events
            .into_iter()
            .map(|event| {
                let seq = self.next_seq;
                self.next_seq += 1;
                (seq, event)
            })
            .collect()
    }

    /// Journals `event` lazily (a TTL reset: applied already): kept here
    /// and handed to the journal's thread in batches, at most
    /// [`LAZY_BATCH`] later, so that a busy registry wakes that thread a
    /// hundred times a second rather than once per KEEPALIVE.
    fn journal_lazily(&mut self, event: Event, ctx: &mut Context<Self>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.lazy.is_empty() {
            ctx.run_later(LAZY_BATCH, |act, _| act.hand_over_lazy());
        }
        self.lazy.push((seq, event));
        if self.lazy.len() >= LAZY_BATCH_EVENTS {
            self.hand_over_lazy();
        }
        self.journaled(1, ctx);
    }

    /// Hands the TTL resets kept so far to the journal's thread.
    fn hand_over_lazy(&mut self) {
        if !self.lazy.is_empty() {
            self.journal.append_lazy(&self.lazy);
            self.lazy.clear();
        }
    }

    /// Journals `events` durably; `reply` is answered once they are on
    /// disk (and applied) or could not be.
    fn journal_durably(&mut self, events: Vec<Event>, reply: Reply, ctx: &mut Context<Self>) {
        // In the journal, events stay in the order they were numbered.
        self.hand_over_lazy();
        let events = self.numbered(events);
        let count = events.len() as u64;
        let last_seq = events.last().map_or(0, |(seq, _)| *seq);
        let written = self.journal.append_durable(&events);
        self.pending.push_back(Pending {
            last_seq,
            events,
            reply,
            written: None,
        });
        ctx.spawn(written.into_actor(self).map(move |written, act, _| {
            let written = written.unwrap_or(Err(JournalError::Stopped));
            if let Some(pending) = act.pending.iter_mut().find(|p| p.last_seq == last_seq) {
                pending.written = Some(written);
            }
            act.settle();
        }));
        self.journaled(count, ctx);
    }

    /// Applies and answers the changes the journal answered, in order.
    fn settle(&mut self) {
        while self
            .pending
            .front()
            .is_some_and(|pending| pending.written.is_some())
        {
            let Some(pending) = self.pending.pop_front() else {
                break;
            };
            let durable = matches!(pending.written, Some(Ok(())));
            if durable {
                for (_, event) in &pending.events {
                    self.registry.apply(event);
                }
            } else {
                self.requests.not_durable += 1;
            }
            match pending.reply {
                Reply::Register(reply, cookie) => {
                    self.pending_cookies.remove(&cookie);
                    if durable {
                        self.requests.registered += 1;
                        debug!(self.log, "peer registered"; "cookie_new" => pending.events.len() > 1);
                    }
                    let _ = reply.send(if durable {
                        Ok(cookie)
                    } else {
                        Err(Status::ServiceUnavailable)
                    });
                }
                Reply::Leave(reply) => {
                    if durable {
                        self.requests.left += 1;
                        debug!(self.log, "peer left");
                    }
                    let _ = reply.send(if durable {
                        Ok(())
                    } else {
                        Err(Status::ServiceUnavailable)
                    });
                }
            }
        }
    }

    /// Counts `count` journaled events; starts a compaction when the
    /// journal since the last snapshot holds a quarter as many events as
    /// there are records (so a restart replays a short tail).
    fn journaled(&mut self, count: u64, ctx: &mut Context<Self>) {
        self.since_snapshot += count;
        let threshold = (self.registry.len() as u64 / 4).max(self.config.compact_after_events);
        if self.since_snapshot > threshold && self.compacting.is_none() {
            self.compact(ctx);
        }
    }

    fn compact(&mut self, ctx: &mut Context<Self>) {
        self.compacting = Some(Compacting {
            next: Some(0),
            started: Instant::now(),
        });
        self.since_snapshot = 0;
        ctx.spawn(
            self.journal.start_compaction().into_actor(self).map(
                |started, act, ctx| match started {
                    Ok(Ok(generation)) => {
                        debug!(act.log, "compaction started"; "generation" => generation);
                        ctx.notify(EncodeSlice);
                    }
                    Ok(Err(err)) => {
                        error!(act.log, "journal compaction could not start"; "err" => %err);
                        act.compacting = None;
                    }
                    Err(_) => act.compacting = None,
                },
            ),
        );
    }

    /// The sequence number up to which every event is in the table: the
    /// ones waiting for the disk are not yet.
    fn marker(&self) -> u64 {
        match self.pending.front() {
            Some(pending) => pending
                .events
                .first()
                .map_or(pending.last_seq, |(seq, _)| *seq)
                .saturating_sub(1),
            None => self.next_seq.saturating_sub(1),
        }
    }

    /// Answers `Status::ServiceUnavailable` while not serving.
    fn refuse_if_not_serving(&mut self) -> Result<(), Status> {
        if matches!(self.serving, Serving::Yes) {
            Ok(())
        } else {
            self.requests.refused += 1;
            Err(Status::ServiceUnavailable)
        }
    }

    fn refused(&mut self, err: RegistryError) -> Status {
        self.requests.refused += 1;
        status_of(err)
    }

    /// Reloads the table on the journal's thread; serves again when done.
    fn reload(&mut self, ctx: &mut Context<Self>) {
        self.serving = Serving::Reloading;
        let started = Instant::now();
        let reloading = self.journal.reload(
            self.config.ttl_secs,
            self.config.max_peers,
            self.config.max_peers_per_address,
        );
        ctx.spawn(reloading.into_actor(self).map(move |reloaded, act, ctx| {
            match reloaded.unwrap_or(Err(JournalError::Stopped)) {
                Ok(recovered) => {
                    info!(act.log, "registry reloaded from disk"; "records" => recovered.registry.len(),
                        "elapsed_ms" => started.elapsed().as_millis() as u64);
                    act.registry = recovered.registry;
                    act.next_seq = act.next_seq.max(recovered.next_seq);
                    act.serving = Serving::Yes;
                }
                Err(err) => {
                    // Logged once while it fails the same way.
                    let again = matches!(&act.serving,
                        Serving::Failed(last) if last.to_string() == err.to_string());
                    if !again {
                        error!(act.log, "registry reload failed; answering 503 until it works";
                            "err" => %err);
                    }
                    act.serving = Serving::Failed(Arc::new(err));
                    ctx.run_later(Duration::from_secs(1), |act, ctx| act.reload(ctx));
                }
            }
        }));
    }

    fn log_stats(&mut self) {
        let (now, last) = (self.requests, self.last_stats);
        let counts = self.registry.counts();
        info!(self.log, "registry stats";
            "peers_active" => counts.active, "peers_known" => counts.records,
            "registered" => now.registered - last.registered, "kept_alive" => now.kept_alive - last.kept_alive,
            "left" => now.left - last.left, "queried" => now.queried - last.queried,
            "paced" => now.paced - last.paced,
            "refused" => now.refused - last.refused, "not_durable" => now.not_durable - last.not_durable);
        self.last_stats = now;
    }
}

impl Actor for RegistryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        crate::fault::point("registry.started");
        if std::mem::take(&mut self.restarted) {
            self.reload(ctx);
        } else {
            info!(self.log, "registry started"; "records" => self.registry.len());
        }
        if self.config.stats_interval_secs > 0 {
            let every = Duration::from_secs(self.config.stats_interval_secs);
            ctx.run_interval(every, |act, _| act.log_stats());
        }
    }
}

impl Supervised for RegistryActor {
    /// The table may be half-changed by whatever failed: read it back from
    /// disk, which holds every change ever acknowledged. Changes waiting
    /// for the disk lost their acknowledgement with the old context: they
    /// are answered 503 (the client tries again; a registration that did
    /// reach the disk is found by the reload).
    fn restarting(&mut self, _: &mut Self::Context) {
        crate::fault::point("registry.restarting");
        // TTL resets already answered go to the journal, which the reload
        // reads.
        self.hand_over_lazy();
        for pending in self.pending.drain(..) {
            match pending.reply {
                Reply::Register(reply, _) => {
                    let _ = reply.send(Err(Status::ServiceUnavailable));
                }
                Reply::Leave(reply) => {
                    let _ = reply.send(Err(Status::ServiceUnavailable));
                }
            }
        }
        self.pending_cookies.clear();
        self.compacting = None;
        self.serving = Serving::Reloading;
        self.restarted = true;
        warn!(
            self.log,
            "registry restarting; reloading the table from disk"
        );
    }
}

impl Handler<Register> for RegistryActor {
    type Result = ResponseFuture<Result<Cookie, Status>>;

    fn handle(&mut self, msg: Register, ctx: &mut Self::Context) -> Self::Result {
        crate::fault::point("registry.register");
        if let Err(status) = self.refuse_if_not_serving() {
            return Box::pin(async move { Err(status) });
        }
        let registrant = Registrant::new(&msg.host, &msg.os, msg.port, msg.cookie, msg.address);
        let (rng, pending) = (&mut self.rng, &self.pending_cookies);
        let fresh = || loop {
            let candidate = rand::Rng::random_range(rng, 1_000_000_000_000_000..=i64::MAX as u64);
            if !pending.contains(&candidate) {
                break candidate;
            }
        };
        let decided = match self.registry.decide_register(registrant, now_ms(), fresh) {
            Ok(decided) => decided,
            Err(err) => {
                warn!(self.log, "registration refused"; "host" => &msg.host, "address" => %msg.address, "err" => %err);
                let status = self.refused(err);
                return Box::pin(async move { Err(status) });
            }
        };
        let (reply, answered) = oneshot::channel();
        if decided.new {
            self.pending_cookies.insert(decided.cookie);
        }
        self.journal_durably(decided.events, Reply::Register(reply, decided.cookie), ctx);
        // This future only waits: the change is applied and answered on
        // the actor's context once the journal says it is on disk.
        Box::pin(async move { answered.await.unwrap_or(Err(Status::ServiceUnavailable)) })
    }
}

impl Handler<Leave> for RegistryActor {
    type Result = ResponseFuture<Result<(), Status>>;

    fn handle(&mut self, msg: Leave, ctx: &mut Self::Context) -> Self::Result {
        if let Err(status) = self.refuse_if_not_serving() {
            return Box::pin(async move { Err(status) });
        }
        let event = match self.registry.decide_leave(msg.cookie, now_ms()) {
            Err(err) => {
                let status = self.refused(err);
                return Box::pin(async move { Err(status) });
            }
            Ok(None) => {
                self.requests.left += 1;
                return Box::pin(async { Ok(()) });
            }
            Ok(Some(event)) => event,
        };
        let (reply, answered) = oneshot::channel();
        self.journal_durably(vec![event], Reply::Leave(reply), ctx);
        Box::pin(async move { answered.await.unwrap_or(Err(Status::ServiceUnavailable)) })
    }
}

impl Handler<KeepAlive> for RegistryActor {
    type Result = Result<(), Status>;

    fn handle(&mut self, msg: KeepAlive, ctx: &mut Self::Context) -> Self::Result {
        crate::fault::point("registry.keepalive");
        self.refuse_if_not_serving()?;
        match self.registry.keep_alive(msg.cookie, now_ms()) {
            Ok(event) => {
                self.journal_lazily(event, ctx);
                self.requests.kept_alive += 1;
                Ok(())
            }
            Err(err) => Err(self.refused(err)),
        }
    }
}

impl Handler<QueryPeers> for RegistryActor {
    type Result = ResponseActFuture<Self, Result<Bytes, Status>>;

    fn handle(&mut self, msg: QueryPeers, ctx: &mut Self::Context) -> Self::Result {
        let wait = self
            .registry
            .pace_query(msg.cookie, now_ms(), self.config.pquery_pace);
        if wait == 0 {
            return Box::pin(fut::ready(self.answer_query(msg, ctx)));
        }
        // Past its rate: answered when its turn comes; the registry serves
        // everyone else meanwhile.
        self.requests.paced += 1;
        Box::pin(
            actix::clock::sleep(Duration::from_millis(wait))
                .into_actor(self)
                .map(move |(), act, ctx| act.answer_query(msg, ctx)),
        )
    }
}

impl RegistryActor {
    fn answer_query(&mut self, msg: QueryPeers, ctx: &mut Context<Self>) -> Result<Bytes, Status> {
        self.refuse_if_not_serving()?;
        let max = self.config.max_peers_per_reply;
        match self
            .registry
            .query(msg.cookie, now_ms(), max, &mut self.rng)
        {
            Ok(queried) => {
                self.journal_lazily(queried.touched, ctx);
                self.requests.queried += 1;
                queried.list.ok_or(Status::NoActivePeers)
            }
            Err(err) => Err(self.refused(err)),
        }
    }
}

impl Handler<ExpireDue> for RegistryActor {
    type Result = MessageResult<ExpireDue>;

    fn handle(&mut self, _: ExpireDue, _: &mut Self::Context) -> Self::Result {
        crate::fault::point("registry.expire");
        if !matches!(self.serving, Serving::Yes) {
            return MessageResult(Expiry {
                expired: 0,
                next_ms: Some(now_ms() + 1000),
            });
        }
        let expiry = self.registry.expire_due(now_ms(), EXPIRY_SLICE);
        if expiry.expired > 0 {
            info!(self.log, "peers expired"; "count" => expiry.expired,
                "peers_active" => self.registry.counts().active);
        }
        MessageResult(expiry)
    }
}

impl Handler<EncodeSlice> for RegistryActor {
    type Result = ();

    fn handle(&mut self, _: EncodeSlice, ctx: &mut Self::Context) {
        let marker = self.marker();
        let Some(compacting) = self.compacting.as_mut() else {
            return;
        };
        let Some(from) = compacting.next else {
            return;
        };
        let (records, count, next) = encode_slice(&self.registry, from, SLICE);
        self.journal.snapshot_slice(marker, count, records);
        compacting.next = next;
        if next.is_some() {
            // The next slice after whatever waits in the mailbox.
            ctx.notify(EncodeSlice);
            return;
        }
        let started = compacting.started;
        ctx.spawn(
            self.journal
                .finish_compaction()
                .into_actor(self)
                .map(move |finished, act, _| {
                    act.compacting = None;
                    match finished {
                        Ok(Ok(done)) => info!(act.log, "journal compacted"; "generation" => done.generation,
                            "records" => done.records, "bytes" => done.bytes,
                            "elapsed_ms" => started.elapsed().as_millis() as u64),
                        Ok(Err(err)) => {
                            error!(act.log, "journal compaction failed; the journal is kept"; "err" => %err)
                        }
                        Err(_) => {}
                    }
                }),
        );
    }
}

impl Handler<Flush> for RegistryActor {
    type Result = ResponseFuture<Result<(), JournalError>>;

    fn handle(&mut self, _: Flush, _: &mut Self::Context) -> Self::Result {
        self.hand_over_lazy();
        let flushed = self.journal.flush();
        Box::pin(async move { flushed.await.unwrap_or(Err(JournalError::Stopped)) })
    }
}

impl Handler<GetStats> for RegistryActor {
    type Result = RegistryStats;

    fn handle(&mut self, _: GetStats, _: &mut Self::Context) -> RegistryStats {
        RegistryStats {
            counts: self.registry.counts(),
            serving: matches!(self.serving, Serving::Yes),
            requests: self.requests,
        }
    }
}

impl Handler<GetPeers> for RegistryActor {
    type Result = MessageResult<GetPeers>;

    fn handle(&mut self, msg: GetPeers, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.registry.views(msg.from, msg.limit, now_ms()))
    }
}
