//! Pure state machines: no actix, no sockets, time passed in.

pub mod book;
pub mod index;
pub mod peer_list;
pub mod plan;
pub mod registry;
pub mod rs_link;
pub mod throttle;
