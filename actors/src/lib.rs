//! The P2P-DI/1.0 actor engine.
//!
//! # Layout
//!
//! - [`wire`]: the `&*` wire format, sans IO: typed requests and responses,
//!   pure parse and write functions, and the tokio-util codecs.
//! - [`state`]: pure state machines with time passed in: the RS's peer
//!   table, the token bucket.
//! - [`server`]: the listener and per-connection session actors both
//!   daemons run, around a [`server::Service`].
//! - [`rs`]: the registration server's actors and its durable journal.
//! - [`supervise`]: a supervisor that restarts an actor after a panic too.
//! - [`config`]: serde configs and RON loading.
//!
//! # Supervision
//!
//! ```text
//! System
//! ├── RegistryActor ── PanicSupervisor (restart = reload from the journal)
//! ├── SweeperActor  ── PanicSupervisor
//! └── Listener
//!     └── Session × N  (one per connection, temporary, never restarted)
//! ```
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod config;
pub mod rs;
pub mod server;
pub mod state;
pub mod supervise;
pub mod wire;
