//! The P2P-DI/1.0 `&*` wire format as typed messages, sans IO.
//!
//! This module owns what goes over a socket and nothing else: the request
//! and response types ([`Request`], [`Response`]), their pure parse and
//! write functions ([`parse`], [`write`]) and the tokio-util codecs that
//! frame them on a byte stream ([`codec`]). It imports neither actix nor
//! any socket type; `../shared/protocol.md` is the contract it follows,
//! byte for byte, and `docs/PROTOCOL.md` says the same in our words.

pub mod codec;
pub mod parse;
pub mod write;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[cfg(test)]
mod tests;

pub use codec::{RequestCodec, ResponseCodec, ResponseError};

/// The only protocol version this implementation speaks.
pub const VERSION: &str = "P2P-DI/1.0";
/// The two bytes that separate fields of a head line.
pub const SEPARATOR: &[u8; 2] = b"&*";
/// The registration server's well-known TCP port.
pub const RS_PORT: u16 = 65423;
/// Longest host or OS field accepted, in bytes (as for DNS names): a
/// request with a longer one is `400 Bad Request`, so no reply built from
/// registered names can grow past what receivers accept.
pub const MAX_NAME_BYTES: usize = 255;

/// A cookie: the credential the RS issues to a peer.
pub type Cookie = u64;
/// An RFC number.
pub type RfcNumber = u32;

/// The size limits a receiver enforces (each configurable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WireLimits {
    /// Longest head line accepted, in bytes, not counting its line end.
    pub max_head_bytes: usize,
    /// Longest body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for WireLimits {
    fn default() -> Self {
        WireLimits {
            max_head_bytes: 4096,
            max_body_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Who sent a message: the `HOST` and `OS` fields every message carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// Host name of the sender.
    pub host: String,
    /// Operating system of the sender.
    pub os: String,
}

impl Origin {
    /// An origin from anything string-like.
    pub fn new(host: impl Into<String>, os: impl Into<String>) -> Self {
        Origin {
            host: host.into(),
            os: os.into(),
        }
    }

    /// `host` (or this machine's name) and this machine's operating
    /// system, as they go on the wire: sanitized once, so the name a
    /// daemon knows itself by is the one others see.
    pub fn named(host: Option<&str>) -> Self {
        let local = Origin::local();
        let host = host.map_or(local.host, |h| write::sanitize(h).into_owned());
        Origin::new(host, write::sanitize(&local.os).into_owned())
    }

    /// This machine: its host name and the name of its operating system.
    pub fn local() -> Self {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let host = if host.is_empty() {
            "localhost".to_owned()
        } else {
            host
        };
        Origin::new(host, os_name())
    }
}

/// The operating system's name as people write it (`Linux`, `macOS`, ...).
pub fn os_name() -> &'static str {
    crate::sys::OS_NAME
}

/// A request, to the RS or to a peer's RFC server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `REGISTER&*P2P-DI/1.0&*HOST&*OS&*PORT[&*COOKIE]`
    Register {
        /// The sender.
        origin: Origin,
        /// The port of the sender's RFC server.
        port: u16,
        /// The cookie of an earlier registration, if the peer has one.
        cookie: Option<Cookie>,
    },
    /// `KEEPALIVE&*P2P-DI/1.0&*COOKIE&*HOST&*OS`
    KeepAlive {
        /// The sender's cookie.
        cookie: Cookie,
        /// The sender.
        origin: Origin,
    },
    /// `LEAVE&*P2P-DI/1.0&*COOKIE&*HOST&*OS`
    Leave {
        /// The sender's cookie.
        cookie: Cookie,
        /// The sender.
        origin: Origin,
    },
    /// `PQUERY&*P2P-DI/1.0&*COOKIE&*HOST&*OS`
    PeerQuery {
        /// The sender's cookie.
        cookie: Cookie,
        /// The sender.
        origin: Origin,
    },
    /// `GET&*RFC-Index&*P2P-DI/1.0&*HOST&*OS` (RFCQuery)
    IndexQuery {
        /// The sender.
        origin: Origin,
    },
    /// `GET&*RFC&*NUMBER&*P2P-DI/1.0&*HOST&*OS` (GetRFC)
    GetRfc {
        /// The RFC asked for.
        number: RfcNumber,
        /// The sender.
        origin: Origin,
    },
}

impl Request {
    /// The sender of the request.
    pub fn origin(&self) -> &Origin {
        match self {
            Request::Register { origin, .. }
            | Request::KeepAlive { origin, .. }
            | Request::Leave { origin, .. }
            | Request::PeerQuery { origin, .. }
            | Request::IndexQuery { origin }
            | Request::GetRfc { origin, .. } => origin,
        }
    }

    /// What a successful response to this request carries.
    pub fn expects(&self) -> Expect {
        match self {
            Request::Register { .. } => Expect::Cookie,
            Request::KeepAlive { .. } | Request::Leave { .. } => Expect::Ack,
            Request::PeerQuery { .. } => Expect::Peers,
            Request::IndexQuery { .. } => Expect::Index,
            Request::GetRfc { .. } => Expect::Document,
        }
    }

    /// The method as written on the wire, with the GET target if any.
    pub fn method(&self) -> &'static str {
        match self {
            Request::Register { .. } => "REGISTER",
            Request::KeepAlive { .. } => "KEEPALIVE",
            Request::Leave { .. } => "LEAVE",
            Request::PeerQuery { .. } => "PQUERY",
            Request::IndexQuery { .. } => "GET RFC-Index",
            Request::GetRfc { .. } => "GET RFC",
        }
    }
}

/// What the success response to a request carries; fixed by the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// `200 OK` with a cookie field (REGISTER).
    Cookie,
    /// `200 OK` with no extra field (KEEPALIVE, LEAVE).
    Ack,
    /// `200 OK` with a length and a peer list (PQUERY).
    Peers,
    /// `200 OK` with a length and an RFC index (GET RFC-Index).
    Index,
    /// `200 OK` with a length and a document (GET RFC).
    Document,
}

/// A status line: code and phrase. Everything but `200 OK` is an answer
/// without extra fields and without a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `200 OK`
    Ok,
    /// `400 Bad Request`
    BadRequest,
    /// `403 Forbidden`
    Forbidden,
    /// `404 Not Found` (GET RFC for a document not held)
    NotFound,
    /// `404 No Active Peers` (PQUERY when no other peer is active)
    NoActivePeers,
    /// `408 Request Timeout`
    RequestTimeout,
    /// `413 Request Too Large`
    RequestTooLarge,
    /// `501 Not Implemented`
    NotImplemented,
    /// `503 Service Unavailable`
    ServiceUnavailable,
    /// `505 P2P-DI Version Not Supported`
    VersionNotSupported,
}

impl Status {
    /// Every status of the contract.
    pub const ALL: [Status; 10] = [
        Status::Ok,
        Status::BadRequest,
        Status::Forbidden,
        Status::NotFound,
        Status::NoActivePeers,
        Status::RequestTimeout,
        Status::RequestTooLarge,
        Status::NotImplemented,
        Status::ServiceUnavailable,
        Status::VersionNotSupported,
    ];

    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotFound | Status::NoActivePeers => 404,
            Status::RequestTimeout => 408,
            Status::RequestTooLarge => 413,
            Status::NotImplemented => 501,
            Status::ServiceUnavailable => 503,
            Status::VersionNotSupported => 505,
        }
    }

    /// The reason phrase, as the contract spells it.
    pub fn phrase(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::NoActivePeers => "No Active Peers",
            Status::RequestTimeout => "Request Timeout",
            Status::RequestTooLarge => "Request Too Large",
            Status::NotImplemented => "Not Implemented",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::VersionNotSupported => "P2P-DI Version Not Supported",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code(), self.phrase())
    }
}

/// One line of a PQUERY peer list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    /// The host name the peer registered with.
    pub host: String,
    /// The address the RS saw the registration come from.
    pub address: IpAddr,
    /// The port of the peer's RFC server.
    pub port: u16,
    /// Seconds left before the RS marks the peer inactive.
    pub ttl_secs: u64,
    /// Registrations in the last 30 days.
    pub registrations_30d: u32,
    /// Time of the latest registration, in seconds since the Unix epoch.
    pub last_registered_unix_secs: u64,
}

/// One line of an RFC index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRecord {
    /// The RFC number.
    pub number: RfcNumber,
    /// The RFC's title.
    pub title: String,
    /// Host name of the holder's RFC server.
    pub host: String,
    /// Port of the holder's RFC server.
    pub port: u16,
    /// Seconds the record has left at the sender.
    pub ttl_secs: u64,
}

/// The head line of a response: status, responder, and the extra field.
/// A server writes one as the first [`Outgoing`] frame; a client reads one
/// before anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status.
    pub status: Status,
    /// The responder.
    pub origin: Origin,
    /// What follows the common fields: a cookie, a body length, or nothing.
    pub extra: HeadExtra,
}

impl ResponseHead {
    /// A head with no extra field: `200 OK` to KEEPALIVE or LEAVE, or any
    /// error status.
    pub fn status(origin: Origin, status: Status) -> Self {
        ResponseHead {
            status,
            origin,
            extra: HeadExtra::None,
        }
    }

    /// `200 OK` with a REGISTER's cookie.
    pub fn cookie(origin: Origin, cookie: Cookie) -> Self {
        ResponseHead {
            status: Status::Ok,
            origin,
            extra: HeadExtra::Cookie(cookie),
        }
    }

    /// `200 OK` announcing a body of `length` bytes.
    pub fn body(origin: Origin, length: u64) -> Self {
        ResponseHead {
            status: Status::Ok,
            origin,
            extra: HeadExtra::BodyLength(length),
        }
    }
}

/// The extra field of a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadExtra {
    /// No extra field.
    None,
    /// A REGISTER's cookie.
    Cookie(Cookie),
    /// The length of the body that follows.
    BodyLength(u64),
}

/// What a server writes, frame by frame, through [`RequestCodec`]'s
/// encoder: the head, then (when the head announced one) the body, in as
/// many chunks as it likes. Bodies are shared bytes: one encoded peer list
/// or cached document serves every connection that sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// The head line.
    Head(ResponseHead),
    /// The next bytes of the body.
    Body(Bytes),
}

/// What a client reads, frame by frame, through [`ResponseCodec`]'s
/// decoder. A document is never held whole: it arrives as its head, then
/// chunks, so it can be written to disk as it comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A whole response: one without a body, or a peer list or an index
    /// (bounded by the body limit), parsed.
    Response(Response),
    /// `200 OK` to GET RFC: `length` bytes of document follow as chunks.
    Document {
        /// The responder.
        origin: Origin,
        /// The document's length.
        length: u64,
    },
    /// The next bytes of a document (never empty; they add up to the length).
    Chunk(Bytes),
}

/// What a response says, after the common `P2P-DI/1.0&*CODE&*PHRASE&*HOST&*OS`
/// (a document is not a reply: it is streamed, see [`Incoming`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `200 OK` to REGISTER, with the cookie.
    Registered {
        /// The cookie issued or kept.
        cookie: Cookie,
    },
    /// `200 OK` with no extra field (KEEPALIVE, LEAVE).
    Done,
    /// `200 OK` to PQUERY, with the peer list.
    Peers(Vec<PeerEntry>),
    /// `200 OK` to GET RFC-Index, with the index.
    Index(Vec<IndexRecord>),
    /// Any answer that is not `200 OK`: no extra field, no body.
    Status(Status),
}

impl Reply {
    /// What kind of reply it is, in a few words (for errors).
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Registered { .. } => "a registration",
            Reply::Done => "a bare 200 OK",
            Reply::Peers(_) => "a peer list",
            Reply::Index(_) => "an index",
            Reply::Status(_) => "an error status",
        }
    }

    /// The status this reply is sent with.
    pub fn status(&self) -> Status {
        match self {
            Reply::Status(status) => *status,
            _ => Status::Ok,
        }
    }
}

/// A response: the responder and what it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The responder.
    pub origin: Origin,
    /// The answer.
    pub reply: Reply,
}

impl Response {
    /// A response from `origin`.
    pub fn new(origin: Origin, reply: Reply) -> Self {
        Response { origin, reply }
    }
}
