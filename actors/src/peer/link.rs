//! The RS link actor: keeps this peer registered with the RS.
//!
//! It registers at start (with the cookie saved in the RFC folder, if the
//! same RS issued one), sends KEEPALIVE every `keepalive_secs`, registers
//! again when the RS answers 403 (it forgot or expired us) or cannot be
//! reached, retrying with a doubling backoff, and sends LEAVE on shutdown.
//! It also asks the RS for the peer list on behalf of the downloader.

use super::folder;
use crate::client::{exchange, ClientError};
use crate::wire::{Cookie, Origin, PeerEntry, Reply, Request, Status, WireLimits};
use actix::prelude::*;
use slog::{info, warn, Logger};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::oneshot;

/// Why the link could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The peer has not registered yet.
    #[error("not registered with the RS yet")]
    NotJoined,
    /// The RS lists no other active peer.
    #[error("no active peers")]
    NoActivePeers,
    /// The RS could not be reached or answered nonsense.
    #[error("RS unreachable: {0}")]
    Unreachable(String),
    /// The RS refused.
    #[error("RS answered {0}")]
    Refused(Status),
}

/// Ask the RS for the active peers (PQUERY).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<PeerEntry>, LinkError>")]
pub struct QueryPeers;

/// Leave the RS (LEAVE) and stop registering again.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), LinkError>")]
pub struct Leave;

/// Resolves once the peer is registered.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct WaitJoined;

/// The link's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, MessageResponse)]
pub struct LinkState {
    /// Registered now.
    pub joined: bool,
    /// The cookie held.
    pub cookie: Option<Cookie>,
    /// Successful REGISTERs since start.
    pub registrations: u32,
    /// Times the actor was restarted.
    pub restarts: u32,
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
    /// The RFC folder (where the cookie is saved).
    pub dir: PathBuf,
    /// Seconds between KEEPALIVEs.
    pub keepalive: Duration,
    /// First retry wait.
    pub retry_initial: Duration,
    /// Longest retry wait.
    pub retry_max: Duration,
    /// Limit of one exchange.
    pub timeout: Duration,
    /// Codec limits.
    pub limits: WireLimits,
}

/// The RS link actor.
pub struct RsLinkActor {
    config: LinkConfig,
    cookie: Option<Cookie>,
    joined: bool,
    joining: bool,
    leaving: bool,
    backoff: Duration,
    registrations: u32,
    restarts: u32,
    waiters: Vec<oneshot::Sender<()>>,
    log: Logger,
}

impl RsLinkActor {
    /// A link as configured; it starts registering when started.
    pub fn new(config: LinkConfig, log: Logger) -> Self {
        let cookie = folder::read_cookie(&config.dir, &config.rs);
        RsLinkActor {
            backoff: config.retry_initial,
            config,
            cookie,
            joined: false,
            joining: false,
            leaving: false,
            registrations: 0,
            restarts: 0,
            waiters: Vec::new(),
            log,
        }
    }

    fn register_request(&self) -> Request {
        Request::Register {
            origin: self.config.origin.clone(),
            port: self.config.port,
            cookie: self.cookie,
        }
    }

    fn join(&mut self, ctx: &mut Context<Self>) {
        if self.joining || self.leaving {
            return;
        }
        self.joining = true;
        let config = self.config.clone();
        let log = self.log.clone();
        let request = self.register_request();
        let registering = async move { call(&config, &request, &log).await };
        ctx.spawn(registering.into_actor(self).map(|result, act, ctx| {
            act.joining = false;
            match result {
                Ok(Reply::Registered { cookie }) => act.joined_with(cookie),
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

    fn joined_with(&mut self, cookie: Cookie) {
        if self.cookie != Some(cookie) {
            if let Err(err) = folder::write_cookie(&self.config.dir, &self.config.rs, cookie) {
                warn!(self.log, "cookie not saved"; "err" => %err);
            }
        }
        self.cookie = Some(cookie);
        self.joined = true;
        self.registrations += 1;
        self.backoff = self.config.retry_initial;
        info!(self.log, "registered with the RS"; "rs" => &self.config.rs, "port" => self.config.port);
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(());
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
                    if !matches!(result, Ok(Reply::Done)) {
                        warn!(act.log, "keepalive failed; registering again"; "err" => describe(&result));
                        act.joined = false;
                        act.join(ctx);
                    }
                }),
        );
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
    tokio::net::lookup_host(rs)
        .await
        .map_err(|err| LinkError::Unreachable(format!("{rs}: {err}")))?
        .next()
        .ok_or_else(|| LinkError::Unreachable(format!("{rs}: no address")))
}

/// One exchange with the RS.
async fn call(config: &LinkConfig, request: &Request, log: &Logger) -> Result<Reply, LinkError> {
    let addr = resolve(&config.rs).await?;
    exchange(addr, request, config.limits, config.timeout, None, log)
        .await
        .map(|response| response.reply)
        .map_err(|err: ClientError| LinkError::Unreachable(err.to_string()))
}

impl Actor for RsLinkActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.join(ctx);
        ctx.run_interval(self.config.keepalive, |act, ctx| act.keep_alive(ctx));
    }
}

impl Supervised for RsLinkActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        // Spawned exchanges were dropped with the old context.
        self.restarts += 1;
        self.joining = false;
        self.joined = false;
    }
}

impl Handler<QueryPeers> for RsLinkActor {
    type Result = ResponseActFuture<Self, Result<Vec<PeerEntry>, LinkError>>;

    fn handle(&mut self, _: QueryPeers, _: &mut Self::Context) -> Self::Result {
        let Some(cookie) = self.cookie.filter(|_| self.joined) else {
            return Box::pin(actix::fut::ready(Err(LinkError::NotJoined)));
        };
        let config = self.config.clone();
        let log = self.log.clone();
        let register = self.register_request();
        // PQUERY; after a 403, register again (cookie kept if the RS knows
        // it) and ask once more.
        let asking = async move {
            let pquery = |cookie| Request::PeerQuery {
                cookie,
                origin: config.origin.clone(),
            };
            let mut renewed = None;
            let mut reply = call(&config, &pquery(cookie), &log).await;
            if let Ok(Reply::Status(Status::Forbidden)) = reply {
                if let Ok(Reply::Registered { cookie }) = call(&config, &register, &log).await {
                    renewed = Some(cookie);
                    reply = call(&config, &pquery(cookie), &log).await;
                }
            }
            let peers = match reply {
                Ok(Reply::Peers(peers)) => Ok(peers),
                Ok(Reply::Status(Status::NoActivePeers)) => Err(LinkError::NoActivePeers),
                Ok(Reply::Status(status)) => Err(LinkError::Refused(status)),
                Ok(other) => Err(LinkError::Unreachable(format!(
                    "unexpected reply {other:?}"
                ))),
                Err(err) => Err(err),
            };
            (peers, renewed)
        };
        Box::pin(asking.into_actor(self).map(|(peers, renewed), act, _| {
            if let Some(cookie) = renewed {
                act.joined_with(cookie);
            }
            peers
        }))
    }
}

impl Handler<Leave> for RsLinkActor {
    type Result = ResponseActFuture<Self, Result<(), LinkError>>;

    fn handle(&mut self, _: Leave, _: &mut Self::Context) -> Self::Result {
        self.leaving = true;
        let Some(cookie) = self.cookie.filter(|_| self.joined) else {
            return Box::pin(actix::fut::ready(Err(LinkError::NotJoined)));
        };
        let config = self.config.clone();
        let log = self.log.clone();
        let request = Request::Leave {
            cookie,
            origin: config.origin.clone(),
        };
        Box::pin(
            async move { call(&config, &request, &log).await }
                .into_actor(self)
                .map(|reply, act, _| {
                    act.joined = false;
                    match reply {
                        Ok(Reply::Done) => {
                            info!(act.log, "left the RS");
                            Ok(())
                        }
                        Ok(Reply::Status(status)) => Err(LinkError::Refused(status)),
                        Ok(other) => Err(LinkError::Unreachable(format!(
                            "unexpected reply {other:?}"
                        ))),
                        Err(err) => Err(err),
                    }
                }),
        )
    }
}

impl Handler<WaitJoined> for RsLinkActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: WaitJoined, _: &mut Self::Context) -> Self::Result {
        if self.joined {
            return Box::pin(async {});
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.push(tx);
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
            cookie: self.cookie,
            registrations: self.registrations,
            restarts: self.restarts,
        }
    }
}
