//! Pure state machines: no actix, no sockets, time passed in.

pub mod book;
pub mod index;
pub mod plan;
pub mod registry;
pub mod throttle;
