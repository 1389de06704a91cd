//! The RS link actor: keeps this peer registered with the RS.
//!
//! It registers at start (with the cookie saved in the RFC folder, if the
//! same RS issued one), sends KEEPALIVE every `keepalive_secs`, registers
//! again when the RS answers 403 (it forgot or expired us) or cannot be
//! reached, retrying with a doubling backoff, and sends LEAVE when told.
//! Registration is its state alone: asked for the peer list
//! ([`GetPeerList`]) while not registered, it answers once it is (or when
//! its patience runs out); a PQUERY answered 403 sends it back to
//! registering, and the question is asked again once.

use super::folder::Folder;
use crate::client::{exchange, ClientError, Traffic};
use crate::wire::{Cookie, Origin, PeerEntry, Reply, Request, Status, WireLimits};
use actix::prelude::*;
use slog::{info, warn, Logger};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

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

/// Get the active peers from the RS (PQUERY).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<PeerEntry>, LinkError>")]
pub struct GetPeerList;

/// Leave the network (LEAVE) and stop registering again, until
/// [`JoinNetwork`].
#[derive(Debug, Message)]
#[rtype(result = "Result<(), LinkError>")]
pub struct LeaveNetwork;

/// Join the network again after a [`LeaveNetwork`] (with the saved cookie).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct JoinNetwork;

/// Resolves once the peer is registered.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct WaitJoined;

/// The link's state.
#[derive(Debug, Clone, PartialEq, Eq, MessageResponse)]
pub struct LinkState {
    /// Registered now.
    pub joined: bool,
    /// Left on purpose (not registering again).
    pub left: bool,
    /// The cookie held.
    pub cookie: Option<Cookie>,
    /// Successful REGISTERs since start.
    pub registrations: u32,
    /// The last peer list received.
    pub last_peers: Vec<PeerEntry>,
}

/// Ask for [`LinkState`].
#[derive(Debug, Message)]
#[rtype(result = "LinkState")]
pub struct GetLinkState;

/// How the link reaches the RS.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The RS, as `host:port`.
    pub rs: String,
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
    /// Codec limits.
    pub limits: WireLimits,
    /// Where PQUERYs are counted.
    pub metrics: crate::metrics::Metrics,
}

/// The RS link actor.
pub struct RsLinkActor {
    config: LinkConfig,
    folder: Folder,
    cookie: Option<Cookie>,
    joined: bool,
    joining: bool,
    left: bool,
    backoff: Duration,
    registrations: u32,
    waiters: Vec<oneshot::Sender<Cookie>>,
    last_peers: Vec<PeerEntry>,
    log: Logger,
}

impl RsLinkActor {
    /// A link as configured, starting with the `cookie` saved in the
    /// folder (if any); it registers when started.
    pub fn new(config: LinkConfig, folder: Folder, cookie: Option<Cookie>, log: Logger) -> Self {
        RsLinkActor {
            backoff: config.retry_initial,
            config,
            folder,
            cookie,
            joined: false,
            joining: false,
            left: false,
            registrations: 0,
            waiters: Vec::new(),
            last_peers: Vec::new(),
            log,
        }
    }

    fn join(&mut self, ctx: &mut Context<Self>) {
        if self.joining || self.left {
            return;
        }
        self.joining = true;
        let config = self.config.clone();
        let log = self.log.clone();
        let request = Request::Register {
            origin: self.config.origin.clone(),
            port: self.config.port,
            cookie: self.cookie,
        };
        let registering = async move { call(&config, &request, &log).await };
        ctx.spawn(registering.into_actor(self).map(|result, act, ctx| {
            act.joining = false;
            match result {
                Ok(Reply::Registered { cookie }) => act.joined_with(cookie, ctx),
                other => {
                    act.joined = false;
                    let wait = act.backoff;
                    act.backoff = (act.backoff * 2).min(act.config.retry_max);
                    warn!(act.log, "registration failed; retrying";
                        "rs" => &act.config.rs, "err" => describe(&other), "retry_ms" => wait.as_millis());
                    ctx.run_later(wait, |act, ctx| act.join(ctx));
                }
            }
        }));
    }

    fn joined_with(&mut self, cookie: Cookie, ctx: &mut Context<Self>) {
        if self.left {
            // A LEAVE came while registering: leave again at once.
            return;
        }
        if self.cookie != Some(cookie) {
            let folder = self.folder.clone();
            let rs = self.config.rs.clone();
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
        self.cookie = Some(cookie);
        self.joined = true;
        self.registrations += 1;
        self.backoff = self.config.retry_initial;
        info!(self.log, "registered with the RS"; "rs" => &self.config.rs, "port" => self.config.port);
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(cookie);
        }
    }

    fn keep_alive(&mut self, ctx: &mut Context<Self>) {
        let (true, Some(cookie)) = (self.joined, self.cookie) else {
            return;
        };
        let config = self.config.clone();
        let log = self.log.clone();
        let request = Request::KeepAlive {
            cookie,
            origin: config.origin.clone(),
        };
        ctx.spawn(
            async move { call(&config, &request, &log).await }
                .into_actor(self)
                .map(|result, act, ctx| {
                    if !matches!(result, Ok(Reply::Done)) && !act.left {
                        warn!(act.log, "keepalive failed; registering again"; "err" => describe(&result));
                        act.joined = false;
                        act.join(ctx);
                    }
                }),
        );
    }

    /// A future that resolves with the cookie once the peer is registered,
    /// or fails after the configured timeout.
    fn registered(&mut self) -> impl Future<Output = Result<Cookie, LinkError>> + 'static {
        let (tx, rx) = oneshot::channel();
        match self.cookie.filter(|_| self.joined) {
            Some(cookie) => {
                let _ = tx.send(cookie);
            }
            None => self.waiters.push(tx),
        }
        let timeout = self.config.timeout;
        async move {
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(cookie)) => Ok(cookie),
                _ => Err(LinkError::NotJoined),
            }
        }
    }

    /// PQUERY once registered.
    fn query(&mut self) -> impl Future<Output = Result<Vec<PeerEntry>, LinkError>> + 'static {
        let registered = self.registered();
        let (config, log) = (self.config.clone(), self.log.clone());
        async move {
            let cookie = registered.await?;
            let request = Request::PeerQuery {
                cookie,
                origin: config.origin.clone(),
            };
            let clock = std::time::Instant::now();
            let answer = exchange_with_rs(&config, &request, &log).await;
            if let Ok((_, traffic)) = &answer {
                let bytes = traffic.sent + traffic.received;
                let secs = clock.elapsed().as_secs_f64();
                config.metrics.discovered("pquery", bytes, secs);
            }
            peers_of(answer.map(|(reply, _)| reply))
        }
    }
}

fn describe(result: &Result<Reply, LinkError>) -> String {
    match result {
        Ok(Reply::Status(status)) => status.to_string(),
        Ok(other) => format!("unexpected reply {other:?}"),
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

/// One exchange with the RS.
async fn call(config: &LinkConfig, request: &Request, log: &Logger) -> Result<Reply, LinkError> {
    exchange_with_rs(config, request, log)
        .await
        .map(|(reply, _)| reply)
}

/// One exchange with the RS, and the bytes it moved.
async fn exchange_with_rs(
    config: &LinkConfig,
    request: &Request,
    log: &Logger,
) -> Result<(Reply, Traffic), LinkError> {
    let addr = resolve(&config.rs).await?;
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
        self.join(ctx);
        ctx.run_interval(self.config.keepalive, |act, ctx| act.keep_alive(ctx));
    }
}

impl Supervised for RsLinkActor {
    /// Exchanges in flight were dropped with the context: register again
    /// (with the cookie held) unless the peer left.
    fn restarting(&mut self, _: &mut Self::Context) {
        self.joining = false;
        self.joined = false;
    }
}

impl Handler<GetPeerList> for RsLinkActor {
    type Result = ResponseActFuture<Self, Result<Vec<PeerEntry>, LinkError>>;

    fn handle(&mut self, _: GetPeerList, _: &mut Self::Context) -> Self::Result {
        if self.left {
            return Box::pin(actix::fut::ready(Err(LinkError::NotJoined)));
        }
        Box::pin(
            self.query()
                .into_actor(self)
                .then(|answer, act, ctx| {
                    // The RS forgot or expired us: register again (the
                    // link's own business), then ask once more.
                    let again = match answer {
                        Err(LinkError::Refused(Status::Forbidden)) if !act.left => {
                            act.joined = false;
                            act.join(ctx);
                            Some(act.query())
                        }
                        _ => None,
                    };
                    async move {
                        match again {
                            Some(query) => query.await,
                            None => answer,
                        }
                    }
                    .into_actor(act)
                })
                .map(|answer, act, _| {
                    if let Ok(peers) = &answer {
                        act.last_peers.clone_from(peers);
                    }
                    answer
                }),
        )
    }
}

impl Handler<LeaveNetwork> for RsLinkActor {
    type Result = ResponseActFuture<Self, Result<(), LinkError>>;

    fn handle(&mut self, _: LeaveNetwork, _: &mut Self::Context) -> Self::Result {
        let already_left = std::mem::replace(&mut self.left, true);
        let Some(cookie) = self.cookie.filter(|_| self.joined) else {
            // Leaving twice is done; leaving without having joined is not.
            let answer = if already_left {
                Ok(())
            } else {
                Err(LinkError::NotJoined)
            };
            return Box::pin(actix::fut::ready(answer));
        };
        self.joined = false;
        let config = self.config.clone();
        let log = self.log.clone();
        let request = Request::Leave {
            cookie,
            origin: config.origin.clone(),
        };
        Box::pin(
            async move { call(&config, &request, &log).await }
                .into_actor(self)
                .map(|reply, act, _| match reply? {
                    Reply::Done => {
                        info!(act.log, "left the RS");
                        Ok(())
                    }
                    Reply::Status(status) => Err(LinkError::Refused(status)),
                    other => Err(LinkError::Unexpected(other.kind())),
                }),
        )
    }
}

impl Handler<JoinNetwork> for RsLinkActor {
    type Result = ();

    fn handle(&mut self, _: JoinNetwork, ctx: &mut Self::Context) {
        self.left = false;
        if !self.joined {
            self.join(ctx);
        }
    }
}

impl Handler<WaitJoined> for RsLinkActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: WaitJoined, _: &mut Self::Context) -> Self::Result {
        // This future only waits for the link's own state to change.
        let (tx, rx) = oneshot::channel();
        match self.cookie.filter(|_| self.joined) {
            Some(cookie) => {
                let _ = tx.send(cookie);
            }
            None => self.waiters.push(tx),
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
        LinkState {
            joined: self.joined,
            left: self.left,
            cookie: self.cookie,
            registrations: self.registrations,
            last_peers: self.last_peers.clone(),
        }
    }
}
