//! The P2P-DI/1.0 actor engine.
//!
//! # Layout
//!
//! - [`wire`]: the `&*` wire format, sans IO: typed requests and responses,
//!   pure parse and write functions, and the tokio-util codecs.
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod wire;
