//! The registry actor: owns the peer table, journals every change before
//! it acknowledges it, and rebuilds the table from disk when it restarts.

use super::journal::Journal;
use crate::now_ms;
use crate::state::registry::{Registrant, Registry, RegistryError};
use crate::wire::{Cookie, PeerEntry, Status};
use actix::prelude::*;
use slog::{error, info, warn, Logger};
use std::net::IpAddr;
use tokio::sync::oneshot;

fn status_of(err: RegistryError) -> Status {
    match err {
        RegistryError::Forbidden => Status::Forbidden,
        RegistryError::Full => Status::ServiceUnavailable,
        RegistryError::NoActivePeers => Status::NoActivePeers,
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

/// List the other active peers (PQUERY).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<PeerEntry>, Status>")]
pub struct QueryPeers {
    /// The asking peer.
    pub cookie: Cookie,
}

/// Mark inactive every peer whose TTL ran out (from the sweeper).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ExpireDue;

/// Counters of the registry, for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, MessageResponse)]
pub struct RegistryStats {
    /// Records kept.
    pub records: usize,
    /// Records active now.
    pub active: usize,
    /// Times the actor was restarted.
    pub restarts: u32,
}

/// Ask for [`RegistryStats`].
#[derive(Debug, Message)]
#[rtype(result = "RegistryStats")]
pub struct GetStats;

/// The registry actor.
pub struct RegistryActor {
    registry: Registry,
    journal: Journal,
    ttl_secs: u64,
    max_peers: usize,
    events_since_compaction: usize,
    restarts: u32,
    log: Logger,
}

impl RegistryActor {
    /// An actor over a recovered table and its journal.
    pub fn new(
        registry: Registry,
        journal: Journal,
        ttl_secs: u64,
        max_peers: usize,
        log: Logger,
    ) -> Self {
        RegistryActor {
            registry,
            journal,
            ttl_secs,
            max_peers,
            events_since_compaction: 0,
            restarts: 0,
            log,
        }
    }

    fn journaled(&mut self, count: usize) {
        self.events_since_compaction += count;
        if self.events_since_compaction > (2 * self.registry.len()).max(10_000) {
            self.events_since_compaction = 0;
            self.journal
                .compact(self.registry.records().cloned().collect());
            info!(self.log, "journal compacted"; "records" => self.registry.len());
        }
    }
}

impl Actor for RegistryActor {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Self::Context) {
        crate::fault::point("registry.started");
        info!(self.log, "registry started"; "records" => self.registry.len());
    }
}

impl Supervised for RegistryActor {
    /// The table may be half-changed by whatever failed: read it back from
    /// disk, which holds every change ever acknowledged.
    fn restarting(&mut self, _: &mut Self::Context) {
        crate::fault::point("registry.restarting");
        self.restarts += 1;
        match self.journal.reload(self.ttl_secs, self.max_peers) {
            Ok(recovered) => {
                self.registry = recovered.registry;
                info!(self.log, "registry restarted from disk";
                    "records" => self.registry.len(), "restarts" => self.restarts);
            }
            Err(err) => {
                error!(self.log, "registry restart could not read the state"; "err" => %err);
            }
        }
    }
}

impl Handler<Register> for RegistryActor {
    type Result = ResponseActFuture<Self, Result<Cookie, Status>>;

    fn handle(&mut self, msg: Register, _: &mut Self::Context) -> Self::Result {
        crate::fault::point("registry.register");
        let mut rng = rand::rng();
        let fresh = || rand::Rng::random_range(&mut rng, 1_000_000_000_000_000..=i64::MAX as u64);
        let registrant = Registrant::new(&msg.host, &msg.os, msg.port, msg.cookie, msg.address);
        let result = self.registry.register(registrant, now_ms(), fresh);
        let registration = match result {
            Ok(registration) => registration,
            Err(err) => {
                warn!(self.log, "registration refused"; "host" => &msg.host, "err" => %err);
                return Box::pin(actix::fut::ready(Err(status_of(err))));
            }
        };
        info!(self.log, "peer registered"; "host" => &msg.host, "address" => %msg.address,
            "port" => msg.port, "new" => registration.new, "replaced" => registration.replaced.is_some());
        let cookie = registration.cookie;
        let count = registration.events.len();
        let done = self.journal.append_durable(registration.events);
        self.journaled(count);
        let log = self.log.clone();
        Box::pin(
            async move { on_disk(done, &log).await.map(|()| cookie) }
                .into_actor(self)
                .map(|result, _, _| {
                    crate::fault::point("registry.acknowledge");
                    result
                }),
        )
    }
}

/// Waits for the journal to report a durable append; a failed write is
/// our fault, logged, and answered 503 (nothing was acknowledged).
async fn on_disk(done: oneshot::Receiver<Result<(), String>>, log: &Logger) -> Result<(), Status> {
    let outcome = done
        .await
        .unwrap_or_else(|_| Err("the journal writer stopped".into()));
    outcome.map_err(|err| {
        error!(log, "journal write failed"; "err" => err);
        Status::ServiceUnavailable
    })
}

impl Handler<KeepAlive> for RegistryActor {
    type Result = Result<(), Status>;

    fn handle(&mut self, msg: KeepAlive, _: &mut Self::Context) -> Self::Result {
        crate::fault::point("registry.keepalive");
        let event = self
            .registry
            .keep_alive(msg.cookie, now_ms())
            .map_err(status_of)?;
        self.journal.append_lazy(vec![event]);
        self.journaled(1);
        Ok(())
    }
}

impl Handler<QueryPeers> for RegistryActor {
    type Result = Result<Vec<PeerEntry>, Status>;

    fn handle(&mut self, msg: QueryPeers, _: &mut Self::Context) -> Self::Result {
        let (event, peers) = self
            .registry
            .query(msg.cookie, now_ms())
            .map_err(status_of)?;
        self.journal.append_lazy(vec![event]);
        self.journaled(1);
        peers.map_err(status_of)
    }
}

impl Handler<Leave> for RegistryActor {
    type Result = ResponseActFuture<Self, Result<(), Status>>;

    fn handle(&mut self, msg: Leave, _: &mut Self::Context) -> Self::Result {
        let event = match self.registry.leave(msg.cookie, now_ms()) {
            Err(err) => return Box::pin(actix::fut::ready(Err(status_of(err)))),
            Ok(None) => return Box::pin(actix::fut::ready(Ok(()))),
            Ok(Some(event)) => event,
        };
        if let Some(record) = self.registry.get(msg.cookie) {
            info!(self.log, "peer left"; "host" => &record.host, "port" => record.port);
        }
        let done = self.journal.append_durable(vec![event]);
        self.journaled(1);
        let log = self.log.clone();
        Box::pin(async move { on_disk(done, &log).await }.into_actor(self))
    }
}

impl Handler<ExpireDue> for RegistryActor {
    type Result = ();

    fn handle(&mut self, _: ExpireDue, _: &mut Self::Context) {
        let (expired, _next) = self.registry.expire_due(now_ms());
        for cookie in expired {
            if let Some(record) = self.registry.get(cookie) {
                info!(self.log, "peer expired"; "host" => &record.host, "port" => record.port);
            }
        }
    }
}

impl Handler<GetStats> for RegistryActor {
    type Result = RegistryStats;

    fn handle(&mut self, _: GetStats, _: &mut Self::Context) -> RegistryStats {
        let now = now_ms();
        RegistryStats {
            records: self.registry.len(),
            active: self.registry.records().filter(|r| r.is_active(now)).count(),
            restarts: self.restarts,
        }
    }
}
