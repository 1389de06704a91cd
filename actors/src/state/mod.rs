//! Pure state machines: no actix, no sockets, time passed in.

pub mod registry;
pub mod throttle;
