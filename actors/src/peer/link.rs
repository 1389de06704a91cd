//! The RS link actor: keeps this peer registered with each of its
//! registration servers and answers for the current peer list.
//!
//! Each RS is a link of its own ([`RsLink`]): the peer registers with it at
//! start (with the cookie saved for that RS in the RFC folder, if any),
//! sends it KEEPALIVE every `keepalive_secs`, registers again when it
//! answers 403 (it forgot or expired us) or cannot be reached, retrying
//! with a doubling backoff, and sends it LEAVE when told. The RSs know
//! nothing of each other.
//!
//! Asked for the peer list ([`GetPeerList`]), the link answers from the
//! current list ([`PeerList`]) while it is younger than
//! `peer_list_max_age_ms`; otherwise it starts a round: a PQUERY to every
//! RS not known to be down, all at once, merged as they answer. A round
//! ends when every RS asked has answered or failed, or [`LATE_GRACE`] after
//! the first answer (a later answer is merged into the list for the next
//! downloads). Asks that arrive while a round runs wait for it. When no RS
//! answers, the last list serves, aged (each TTL counted down from its
//! arrival); the link warns once that it works from an old list, and
//! again, at info, when an RS answers.

use super::folder::Folder;
use crate::client::{exchange, ClientError, Traffic};
use crate::config::RsList;
use crate::metrics::Metrics;
use crate::state::peer_list::PeerList;
use crate::state::rs_link::{Backoff, Reach, RsLink};
use crate::wire::{Cookie, Origin, PeerEntry, Reply, Request, Status, WireLimits};
use actix::prelude::*;
use slog::{info, warn, Logger};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a round of PQUERYs waits for the other RSs once one answered.
pub const LATE_GRACE: Duration = Duration::from_millis(250);

/// Why the link could not do what it was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LinkError {
    /// The peer is not registered (and did not manage to be in time), or
    /// it left.
    #[error("not registered with the RS")]
    NotJoined,
    /// The RS lists no other active peer.
    #[error("no active peers")]
    NoActivePeers,
    /// The RS's name did not resolve.
    #[error("resolving {rs}: {}", match .source { Some(err) => err.to_string(), None => "no address".to_owned() })]
    Resolve {
        /// The RS as configured.
        rs: String,
        /// Why (none: the name resolved to no address).
        source: Option<Arc<std::io::Error>>,
    },
    /// The exchange with the RS failed (no connection, no answer in time,
    /// a broken answer).
    #[error(transparent)]
    Exchange(Arc<ClientError>),
    /// The RS refused.
    #[error("RS answered {0}")]
    Refused(Status),
    /// The RS answered something that does not answer the request: the
    /// kind of reply it sent.
    #[error("RS answered out of turn with {0}")]
    Unexpected(&'static str),
}

impl LinkError {
    /// Whether the RS did not answer at all (as opposed to answering no).
    fn unreachable(&self) -> bool {
        matches!(self, LinkError::Exchange(_) | LinkError::Resolve { .. })
    }
}

/// The current peer list (PQUERY): the list while it is younger than
/// `max_age` (unset: `peer_list_max_age_ms`; zero: always a new round).
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<Vec<PeerEntry>, LinkError>")]
pub struct GetPeerList {
    /// The oldest list that serves.
    pub max_age: Option<Duration>,
}

impl GetPeerList {
    /// The list as the configured age allows.
    pub fn current() -> Self {
        GetPeerList { max_age: None }
    }

    /// A list asked of the RSs now.
    pub fn fresh() -> Self {
        GetPeerList {
            max_age: Some(Duration::ZERO),
        }
    }
}

/// Leave the network (LEAVE to every RS registered with) and stop
/// registering again, until [`JoinNetwork`].
#[derive(Debug, Message)]
#[rtype(result = "Result<(), LinkError>")]
pub struct LeaveNetwork;

/// Join the network again after a [`LeaveNetwork`] (with the saved
/// cookies).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct JoinNetwork;

/// Resolves once the peer is registered with at least one RS.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct WaitJoined;

/// The link's state.
#[derive(Debug, Clone, PartialEq, Eq, MessageResponse)]
pub struct LinkState {
    /// Registered with at least one RS now.
    pub joined: bool,
    /// Left on purpose (not registering again).
    pub left: bool,
    /// Successful REGISTERs since start, with every RS.
    pub registrations: u32,
    /// The current peer list, aged to now.
    pub last_peers: Vec<PeerEntry>,
    /// Each RS, in the order configured.
    pub links: Vec<RsLink>,
    /// How old the current list is, in ms (none: no RS answered yet).
    pub list_age_ms: Option<u64>,
    /// No RS answered the last round: the list served is an old one, aged.
    pub list_aged: bool,
}

/// Ask for [`LinkState`].
#[derive(Debug, Message)]
#[rtype(result = "LinkState")]
pub struct GetLinkState;

/// How the link reaches the RSs.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The RSs, each `host:port`.
    pub rs: RsList,
    /// This peer's name.
    pub origin: Origin,
    /// This peer's RFC server port.
    pub port: u16,
    /// Seconds between KEEPALIVEs.
    pub keepalive: Duration,
    /// First retry wait.
    pub retry_initial: Duration,
    /// Longest retry wait.
    pub retry_max: Duration,
    /// Limit of one exchange, and of a wait for registration.
    pub timeout: Duration,
    /// The oldest list a download may use without asking again.
    pub list_max_age: Duration,
    /// Codec limits.
    pub limits: WireLimits,
    /// Where PQUERYs and the RSs' reachability are counted.
    pub metrics: Metrics,
}

impl LinkConfig {
    fn backoff(&self) -> Backoff {
        Backoff {
            initial_ms: millis(self.retry_initial),
            max_ms: millis(self.retry_max),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One RS and what is under way with it.
struct Link {
    state: RsLink,
    /// A REGISTER is in flight.
    joining: bool,
    /// Waiting for this RS's cookie.
    waiters: Vec<oneshot::Sender<Cookie>>,
}

type Answer = Result<Vec<PeerEntry>, LinkError>;

/// A round of PQUERYs.
#[derive(Default)]
struct Round {
    /// RSs not answered yet.
    pending: usize,
    /// The lists of those that answered (empty for 404).
    answers: Vec<Vec<PeerEntry>>,
    /// Why the others did not.
    errors: Vec<LinkError>,
    /// The asks waiting for it.
    waiters: Vec<oneshot::Sender<Answer>>,
}

/// The RS link actor.
pub struct RsLinkActor {
    config: LinkConfig,
    folder: Folder,
    links: Vec<Link>,
    left: bool,
    /// Waiting for a registration with any RS.
    waiters: Vec<oneshot::Sender<()>>,
    list: PeerList,
    rounds: HashMap<u64, Round>,
    /// The round asks may join (none with an age of 0).
    open_round: Option<u64>,
    next_round: u64,
    /// Since when no RS answers (the list served is aged).
    aged_since: Option<u64>,
    log: Logger,
}

impl RsLinkActor {
    /// A link to each RS configured, starting with the `cookies` saved in
    /// the folder (by RS); it registers with each when started.
    pub fn new(
        config: LinkConfig,
        folder: Folder,
        cookies: &BTreeMap<String, Cookie>,
        log: Logger,
    ) -> Self {
        let backoff = config.backoff();
        let links = config
            .rs
            .iter()
            .map(|rs| Link {
                state: RsLink::new(rs, cookies.get(rs).copied(), backoff),
                joining: false,
                waiters: Vec::new(),
            })
            .collect();
        for rs in config.rs.iter() {
            config.metrics.rs_reachable(rs, false);
        }
        RsLinkActor {
            config,
            folder,
            links,
            left: false,
            waiters: Vec::new(),
            list: PeerList::new(),
            rounds: HashMap::new(),
            open_round: None,
            next_round: 0,
            aged_since: None,
            log,
        }
    }

    fn joined(&self) -> bool {
        self.links.iter().any(|l| l.state.joined)
    }

    /// RS `i` answered (whatever it said).
    fn answered(&mut self, i: usize) {
        let backoff = self.config.backoff();
        let link = &mut self.links[i].state;
        if !matches!(link.reach(), Reach::Up { .. }) {
            self.config.metrics.rs_reachable(&link.rs, true);
        }
        link.answered(crate::now_ms(), backoff);
    }

    /// RS `i` did not answer: down until its retry time; the wait before
    /// it is tried again.
    fn unreachable(&mut self, i: usize) -> Duration {
        let backoff = self.config.backoff();
        let link = &mut self.links[i].state;
        self.config.metrics.rs_reachable(&link.rs, false);
        Duration::from_millis(link.failed(crate::now_ms(), backoff))
    }

    fn join_all(&mut self, ctx: &mut Context<Self>) {
        for i in 0..self.links.len() {
            if !self.links[i].state.joined {
                self.join(i, ctx);
            }
        }
    }

    fn join(&mut self, i: usize, ctx: &mut Context<Self>) {
        if self.links[i].joining || self.left {
            return;
        }
        self.links[i].joining = true;
        let rs = self.links[i].state.rs.clone();
        let request = Request::Register {
            origin: self.config.origin.clone(),
            port: self.config.port,
            cookie: self.links[i].state.cookie,
        };
        let (config, log) = (self.config.clone(), self.log.clone());
        let registering = async move { call(&config, &rs, &request, &log).await };
        ctx.spawn(registering.into_actor(self).map(move |result, act, ctx| {
            act.links[i].joining = false;
            match result {
                Ok(Reply::Registered { cookie }) => {
                    act.answered(i);
                    act.joined_with(i, cookie, ctx);
                }
                other => {
                    // Down (or refusing) until its retry time.
                    act.links[i].state.joined = false;
                    let wait = act.unreachable(i);
                    warn!(act.log, "registration failed; retrying";
                        "rs" => &act.links[i].state.rs, "err" => describe(&other),
                        "retry_ms" => wait.as_millis());
                    ctx.run_later(wait, move |act, ctx| act.join(i, ctx));
                }
            }
        }));
    }

    fn joined_with(&mut self, i: usize, cookie: Cookie, ctx: &mut Context<Self>) {
        if self.left {
            // A LEAVE came while registering: it is not sent again.
            return;
        }
        let link = &mut self.links[i];
        if link.state.cookie != Some(cookie) {
            let folder = self.folder.clone();
            let rs = link.state.rs.clone();
            ctx.spawn(
                async move { folder.write_cookie(rs, cookie).await }
                    .into_actor(self)
                    .map(|written, act, _| {
                        if let Err(err) = written {
                            warn!(act.log, "cookie not saved"; "err" => %err);
                        }
                    }),
            );
        }
        let link = &mut self.links[i];
        link.state.cookie = Some(cookie);
        link.state.joined = true;
        link.state.registrations += 1;
        info!(self.log, "registered with the RS"; "rs" => &link.state.rs, "port" => self.config.port);
        for waiter in link.waiters.drain(..) {
            let _ = waiter.send(cookie);
        }
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(());
        }
    }

    fn keep_alive(&mut self, ctx: &mut Context<Self>) {
        for i in 0..self.links.len() {
            let state = &self.links[i].state;
            let (true, Some(cookie)) = (state.joined, state.cookie) else {
                continue;
            };
            let rs = state.rs.clone();
            let (config, log) = (self.config.clone(), self.log.clone());
            let request = Request::KeepAlive {
                cookie,
                origin: config.origin.clone(),
            };
            ctx.spawn(
                async move { call(&config, &rs, &request, &log).await }
                    .into_actor(self)
                    .map(move |result, act, ctx| {
                        if matches!(result, Ok(Reply::Done)) {
                            act.answered(i);
                            return;
                        }
                        if act.left {
                            return;
                        }
                        warn!(act.log, "keepalive failed; registering again";
                            "rs" => &act.links[i].state.rs, "err" => describe(&result));
                        if matches!(&result, Err(err) if err.unreachable()) {
                            act.unreachable(i);
                        }
                        act.links[i].state.joined = false;
                        act.join(i, ctx);
                    }),
            );
        }
    }

    /// A future that resolves with RS `i`'s cookie once registered there,
    /// or fails after the configured timeout.
    fn registered(
        &mut self,
        i: usize,
    ) -> impl Future<Output = Result<Cookie, LinkError>> + 'static {
        let (tx, rx) = oneshot::channel();
        let link = &mut self.links[i];
        match link.state.cookie.filter(|_| link.state.joined) {
            Some(cookie) => {
                let _ = tx.send(cookie);
            }
            None => link.waiters.push(tx),
        }
        let timeout = self.config.timeout;
        async move {
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(cookie)) => Ok(cookie),
                _ => Err(LinkError::NotJoined),
            }
        }
    }

    /// Starts a round of PQUERYs to every RS not known to be down.
    fn start_round(&mut self, coalesce: bool, ctx: &mut Context<Self>) -> u64 {
        let id = self.next_round;
        self.next_round += 1;
        let now = crate::now_ms();
        let asked: Vec<usize> = (0..self.links.len())
            .filter(|&i| self.links[i].state.askable(now))
            .collect();
        self.rounds.insert(
            id,
            Round {
                pending: asked.len(),
                ..Round::default()
            },
        );
        if coalesce {
            self.open_round = Some(id);
        }
        if asked.is_empty() {
            // Every RS is down and not due: the old list, at once.
            ctx.run_later(Duration::ZERO, move |act, _| act.finish(id));
        }
        for i in asked {
            self.query(id, i, true, ctx);
        }
        id
    }

    /// PQUERY of RS `i` (once registered there) for round `id`.
    fn query(&mut self, id: u64, i: usize, again: bool, ctx: &mut Context<Self>) {
        let registered = self.registered(i);
        let rs = self.links[i].state.rs.clone();
        let (config, log) = (self.config.clone(), self.log.clone());
        let asking = async move {
            let cookie = registered.await?;
            let request = Request::PeerQuery {
                cookie,
                origin: config.origin.clone(),
            };
            let clock = std::time::Instant::now();
            let answer = exchange_with_rs(&config, &rs, &request, &log).await;
            if let Ok((_, traffic)) = &answer {
                let bytes = traffic.sent + traffic.received;
                config
                    .metrics
                    .discovered("pquery", bytes, clock.elapsed().as_secs_f64());
            }
            peers_of(answer.map(|(reply, _)| reply))
        };
        ctx.spawn(
            asking
                .into_actor(self)
                .map(move |answer, act, ctx| act.take_answer(id, i, answer, again, ctx)),
        );
    }

    /// RS `i`'s answer in round `id`.
    fn take_answer(
        &mut self,
        id: u64,
        i: usize,
        answer: Answer,
        again: bool,
        ctx: &mut Context<Self>,
    ) {
        let now = crate::now_ms();
        let answer = match answer {
            Err(LinkError::Refused(Status::Forbidden)) if again && !self.left => {
                // The RS forgot or expired us: register there again (the
                // link's own business), then ask once more.
                self.answered(i);
                self.links[i].state.joined = false;
                self.join(i, ctx);
                self.query(id, i, false, ctx);
                return;
            }
            Err(LinkError::NoActivePeers) => Ok(Vec::new()),
            other => other,
        };
        match &answer {
            Ok(_) => self.answered(i),
            Err(err) if err.unreachable() => {
                self.unreachable(i);
            }
            Err(_) => {}
        }
        let Some(round) = self.rounds.get_mut(&id) else {
            // Its round ended without it: for the downloads to come.
            if let Ok(peers) = answer {
                self.list.merge(peers, now);
            }
            return;
        };
        round.pending = round.pending.saturating_sub(1);
        let first = answer.is_ok() && round.answers.is_empty();
        match answer {
            Ok(peers) => round.answers.push(peers),
            Err(err) => round.errors.push(err),
        }
        if round.pending == 0 {
            self.finish(id);
        } else if first {
            ctx.run_later(LATE_GRACE, move |act, _| act.finish(id));
        }
    }

    /// Ends round `id` (if it has not ended): the list from its answers,
    /// or the old list aged when none came.
    fn finish(&mut self, id: u64) {
        let Some(round) = self.rounds.remove(&id) else {
            return;
        };
        if self.open_round == Some(id) {
            self.open_round = None;
        }
        let now = crate::now_ms();
        let reply = if round.answers.is_empty() {
            self.old_list(round.errors, now)
        } else {
            self.list.replace(round.answers, now);
            if let Some(since) = self.aged_since.take() {
                info!(self.log, "an RS answered again; the peer list is current";
                    "after_secs" => now.saturating_sub(since) / 1000);
            }
            let view = self.list.view(now);
            if view.is_empty() {
                Err(LinkError::NoActivePeers)
            } else {
                Ok(view)
            }
        };
        for waiter in round.waiters {
            let _ = waiter.send(reply.clone());
        }
    }

    /// No RS answered: the last list, aged to `now`, if there is one.
    fn old_list(&mut self, errors: Vec<LinkError>, now: u64) -> Answer {
        let why = errors.into_iter().next().unwrap_or(LinkError::NotJoined);
        let Some(age_ms) = self.list.age_ms(now) else {
            return Err(why);
        };
        let view = self.list.view(now);
        if self.aged_since.is_none() {
            self.aged_since = Some(now);
            warn!(self.log, "no RS answers; working from the last peer list";
                "age_secs" => age_ms / 1000, "peers" => view.len(), "err" => %why);
        }
        if view.is_empty() {
            Err(why)
        } else {
            Ok(view)
        }
    }
}

fn describe(result: &Result<Reply, LinkError>) -> String {
    match result {
        Ok(Reply::Status(status)) => status.to_string(),
        Ok(other) => format!("answered with {}", other.kind()),
        Err(err) => err.to_string(),
    }
}

async fn resolve(rs: &str) -> Result<SocketAddr, LinkError> {
    let failed = |source: Option<std::io::Error>| LinkError::Resolve {
        rs: rs.to_owned(),
        source: source.map(Arc::new),
    };
    tokio::net::lookup_host(rs)
        .await
        .map_err(|err| failed(Some(err)))?
        .next()
        .ok_or_else(|| failed(None))
}

/// One exchange with the RS `rs`.
async fn call(
    config: &LinkConfig,
    rs: &str,
    request: &Request,
    log: &Logger,
) -> Result<Reply, LinkError> {
    exchange_with_rs(config, rs, request, log)
        .await
        .map(|(reply, _)| reply)
}

/// One exchange with the RS `rs`, and the bytes it moved.
async fn exchange_with_rs(
    config: &LinkConfig,
    rs: &str,
    request: &Request,
    log: &Logger,
) -> Result<(Reply, Traffic), LinkError> {
    let addr = resolve(rs).await?;
    exchange(addr, request, config.limits, config.timeout, None, log)
        .await
        .map(|(response, traffic)| (response.reply, traffic))
        .map_err(|err| LinkError::Exchange(Arc::new(err)))
}

/// A PQUERY's reply as a peer list.
fn peers_of(reply: Result<Reply, LinkError>) -> Result<Vec<PeerEntry>, LinkError> {
    match reply? {
        Reply::Peers(peers) => Ok(peers),
        Reply::Status(Status::NoActivePeers) => Err(LinkError::NoActivePeers),
        Reply::Status(status) => Err(LinkError::Refused(status)),
        other => Err(LinkError::Unexpected(other.kind())),
    }
}

impl Actor for RsLinkActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.join_all(ctx);
        ctx.run_interval(self.config.keepalive, |act, ctx| act.keep_alive(ctx));
    }
}

impl Supervised for RsLinkActor {
    /// Exchanges in flight were dropped with the context: register again
    /// (with the cookies held) unless the peer left; the rounds under way
    /// are gone (their askers see the link restart).
    fn restarting(&mut self, _: &mut Self::Context) {
        for link in &mut self.links {
            link.joining = false;
            link.state.joined = false;
        }
        self.rounds.clear();
        self.open_round = None;
    }
}

impl Handler<GetPeerList> for RsLinkActor {
    type Result = ResponseFuture<Answer>;

    fn handle(&mut self, msg: GetPeerList, ctx: &mut Self::Context) -> Self::Result {
        if self.left {
            return Box::pin(std::future::ready(Err(LinkError::NotJoined)));
        }
        let now = crate::now_ms();
        let max_age = millis(msg.max_age.unwrap_or(self.config.list_max_age));
        if self.list.fresh(now, max_age) {
            // An empty list is not shared: the RSs are asked again.
            let view = self.list.view(now);
            if !view.is_empty() {
                return Box::pin(std::future::ready(Ok(view)));
            }
        }
        let coalesce = max_age > 0;
        let id = match self.open_round.filter(|_| coalesce) {
            Some(id) => id,
            None => self.start_round(coalesce, ctx),
        };
        let (tx, rx) = oneshot::channel();
        if let Some(round) = self.rounds.get_mut(&id) {
            round.waiters.push(tx);
        }
        // This future only waits for the round to end.
        Box::pin(async move { rx.await.unwrap_or(Err(LinkError::NotJoined)) })
    }
}

impl Handler<LeaveNetwork> for RsLinkActor {
    type Result = ResponseActFuture<Self, Result<(), LinkError>>;

    fn handle(&mut self, _: LeaveNetwork, _: &mut Self::Context) -> Self::Result {
        let already_left = std::mem::replace(&mut self.left, true);
        let leaving: Vec<(usize, String, Cookie)> = self
            .links
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let cookie = l.state.cookie.filter(|_| l.state.joined)?;
                Some((i, l.state.rs.clone(), cookie))
            })
            .collect();
        if leaving.is_empty() {
            // Leaving twice is done; leaving without having joined is not.
            let answer = if already_left {
                Ok(())
            } else {
                Err(LinkError::NotJoined)
            };
            return Box::pin(actix::fut::ready(answer));
        }
        for link in &mut self.links {
            link.state.joined = false;
        }
        let (config, log) = (self.config.clone(), self.log.clone());
        let calls = leaving.into_iter().map(move |(i, rs, cookie)| {
            let (config, log) = (config.clone(), log.clone());
            async move {
                let request = Request::Leave {
                    cookie,
                    origin: config.origin.clone(),
                };
                (i, call(&config, &rs, &request, &log).await)
            }
        });
        Box::pin(
            futures_util::future::join_all(calls)
                .into_actor(self)
                .map(|replies, act, _| {
                    let mut outcome = Ok(());
                    for (i, reply) in replies {
                        let rs = &act.links[i].state.rs;
                        let result = match reply {
                            Ok(Reply::Done) => Ok(()),
                            Ok(Reply::Status(status)) => Err(LinkError::Refused(status)),
                            Ok(other) => Err(LinkError::Unexpected(other.kind())),
                            Err(err) => Err(err),
                        };
                        match result {
                            Ok(()) => info!(act.log, "left the RS"; "rs" => rs),
                            Err(err) => {
                                warn!(act.log, "leave failed"; "rs" => rs, "err" => %err);
                                if outcome.is_ok() {
                                    outcome = Err(err);
                                }
                            }
                        }
                    }
                    outcome
                }),
        )
    }
}

impl Handler<JoinNetwork> for RsLinkActor {
    type Result = ();

    fn handle(&mut self, _: JoinNetwork, ctx: &mut Self::Context) {
        self.left = false;
        self.join_all(ctx);
    }
}

impl Handler<WaitJoined> for RsLinkActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: WaitJoined, _: &mut Self::Context) -> Self::Result {
        // This future only waits for the link's own state to change.
        let (tx, rx) = oneshot::channel();
        if self.joined() {
            let _ = tx.send(());
        } else {
            self.waiters.push(tx);
        }
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

impl Handler<GetLinkState> for RsLinkActor {
    type Result = LinkState;

    fn handle(&mut self, _: GetLinkState, _: &mut Self::Context) -> LinkState {
        crate::fault::point("link.state");
        let now = crate::now_ms();
        LinkState {
            joined: self.joined(),
            left: self.left,
            registrations: self.links.iter().map(|l| l.state.registrations).sum(),
            last_peers: self.list.view(now),
            links: self.links.iter().map(|l| l.state.clone()).collect(),
            list_age_ms: self.list.age_ms(now),
            list_aged: self.aged_since.is_some(),
        }
    }
}
