//! The P2P-DI/1.0 actor engine.
//!
//! # Layout
//!
//! - [`wire`]: the `&*` wire format, sans IO: typed requests and responses,
//!   pure parse and write functions, and the tokio-util codecs.
//! - [`state`]: pure state machines with time passed in: the RS's peer
//!   table, a peer's RFC index, the download plan, the token bucket.
//! - [`server`]: the listener and per-connection session actors both
//!   daemons run, around a [`server::Service`].
//! - [`rs`]: the registration server's actors and its durable journal.
//! - [`peer`]: the peer's RFC store, RS link and downloader actors, and its
//!   RFC folder.
//! - [`client`]: one client exchange (connect, request, response).
//! - [`supervise`]: a supervisor that restarts an actor after a panic too.
//! - [`config`]: serde configs and RON loading.
//!
//! # Supervision
//!
//! ```text
//! System
//! ├── RS:   RegistryActor   ── PanicSupervisor (restart = reload from the journal)
//! │         SweeperActor    ── PanicSupervisor
//! │         Listener ── Session × N (one per connection, temporary)
//! └── peer: StoreActor      ── PanicSupervisor (restart = rescan the RFC folder)
//!           RsLinkActor     ── PanicSupervisor (restart = register again)
//!           DownloaderActor ── PanicSupervisor
//!           Listener ── Session × N
//! ```
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod client;
pub mod config;
pub mod peer;
pub mod rs;
pub mod server;
pub mod state;
pub mod supervise;
pub mod wire;

/// Milliseconds since the Unix epoch, now: the one clock the actors read
/// and pass into the pure state machines.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
