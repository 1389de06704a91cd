//! What goes in and out of the table: the [`Event`]s the journal keeps,
//! the requests' inputs ([`Registrant`]) and outcomes ([`Registration`],
//! [`Queried`], [`Expiry`]), the refusals ([`RegistryError`]), and what
//! tools see of a record ([`PeerView`]).

use crate::wire::Cookie;
use bytes::Bytes;
use std::net::IpAddr;

/// A change to the peer table: what the journal stores. Each concerns one
/// record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A REGISTER was accepted: the record is created or reactivated.
    Registered {
        /// The record's cookie (new or kept).
        cookie: Cookie,
        /// Host name.
        host: String,
        /// Operating system.
        os: String,
        /// RFC server port.
        port: u16,
        /// Address the registration came from.
        address: IpAddr,
        /// When, in ms since the epoch.
        at_ms: u64,
    },
    /// A KEEPALIVE or PQUERY from an active peer set its TTL back.
    Touched {
        /// The peer.
        cookie: Cookie,
        /// When.
        at_ms: u64,
    },
    /// The peer turned inactive: it left, or another registration took its
    /// address and port.
    Left {
        /// The peer.
        cookie: Cookie,
    },
    /// The record was dropped to stay under the cap.
    Evicted {
        /// The peer.
        cookie: Cookie,
    },
}

impl Event {
    /// The record it concerns.
    pub fn cookie(&self) -> Cookie {
        self.as_ref().cookie()
    }

    /// The event with its text borrowed.
    pub fn as_ref(&self) -> EventRef<'_> {
        match self {
            Event::Registered {
                cookie,
                host,
                os,
                port,
                address,
                at_ms,
            } => EventRef::Registered {
                cookie: *cookie,
                host,
                os,
                port: *port,
                address: *address,
                at_ms: *at_ms,
            },
            Event::Touched { cookie, at_ms } => EventRef::Touched {
                cookie: *cookie,
                at_ms: *at_ms,
            },
            Event::Left { cookie } => EventRef::Left { cookie: *cookie },
            Event::Evicted { cookie } => EventRef::Evicted { cookie: *cookie },
        }
    }
}

/// An [`Event`] with its text borrowed: what journal replay reads from its
/// buffer without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRef<'a> {
    /// See [`Event::Registered`].
    Registered {
        /// The record's cookie.
        cookie: Cookie,
        /// Host name.
        host: &'a str,
        /// Operating system.
        os: &'a str,
        /// RFC server port.
        port: u16,
        /// Address the registration came from.
        address: IpAddr,
        /// When, in ms since the epoch.
        at_ms: u64,
    },
    /// See [`Event::Touched`].
    Touched {
        /// The peer.
        cookie: Cookie,
        /// When.
        at_ms: u64,
    },
    /// See [`Event::Left`].
    Left {
        /// The peer.
        cookie: Cookie,
    },
    /// See [`Event::Evicted`].
    Evicted {
        /// The peer.
        cookie: Cookie,
    },
}

impl EventRef<'_> {
    /// The record it concerns.
    pub fn cookie(&self) -> Cookie {
        match self {
            EventRef::Registered { cookie, .. }
            | EventRef::Touched { cookie, .. }
            | EventRef::Left { cookie }
            | EventRef::Evicted { cookie } => *cookie,
        }
    }

    /// The event, owned.
    pub fn to_owned(&self) -> Event {
        match *self {
            EventRef::Registered {
                cookie,
                host,
                os,
                port,
                address,
                at_ms,
            } => Event::Registered {
                cookie,
                host: host.to_owned(),
                os: os.to_owned(),
                port,
                address,
                at_ms,
            },
            EventRef::Touched { cookie, at_ms } => Event::Touched { cookie, at_ms },
            EventRef::Left { cookie } => Event::Left { cookie },
            EventRef::Evicted { cookie } => Event::Evicted { cookie },
        }
    }
}

/// Why the registry refused an operation; each maps to a wire status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The cookie is unknown, or the peer is inactive (403).
    #[error("unknown cookie or inactive peer")]
    Forbidden,
    /// The table is full and holds no inactive record to drop (503).
    #[error("peer table full")]
    Full,
    /// The address has its share of active peers already (503).
    #[error("too many active peers from this address")]
    AddressFull,
}

/// Who asks to register: the fields of a REGISTER and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Registrant<'a> {
    /// Host name.
    pub host: &'a str,
    /// Operating system.
    pub os: &'a str,
    /// RFC server port.
    pub port: u16,
    /// Cookie of an earlier registration, if any.
    pub cookie: Option<Cookie>,
    /// Address the request came from.
    pub address: IpAddr,
}

impl<'a> Registrant<'a> {
    /// A registrant from `address` with host `host`, OS `os`, RFC port `port`.
    pub fn new(
        host: &'a str,
        os: &'a str,
        port: u16,
        cookie: Option<Cookie>,
        address: IpAddr,
    ) -> Self {
        Registrant {
            host,
            os,
            port,
            cookie,
            address,
        }
    }
}

/// The outcome of a REGISTER decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The cookie to send back.
    pub cookie: Cookie,
    /// Whether the cookie is new.
    pub new: bool,
    /// A record that had the same address and port and is made inactive.
    pub replaced: Option<Cookie>,
    /// The events to journal, then apply, in order.
    pub events: Vec<Event>,
}

/// The outcome of a PQUERY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queried {
    /// The asker's TTL reset (applied already), to journal.
    pub touched: Event,
    /// The peer list's body; `None` when no other peer is active (404).
    pub list: Option<Bytes>,
}

/// What one sweep of [`super::Registry::expire_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expiry {
    /// Peers made inactive.
    pub expired: usize,
    /// When to sweep next: now if the slice ran out with more due, else
    /// the next deadline (`None`: no active peer).
    pub next_ms: Option<u64>,
}

/// How much the registry holds and what it costs, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryCounts {
    /// Records kept, active or not.
    pub records: usize,
    /// Records on the active side.
    pub active: usize,
    /// Distinct names interned: OS names, and host names too long to be
    /// kept in their line (over 19 bytes).
    pub names: usize,
    /// Deadlines waiting in the timing wheel: at most one per record.
    pub wheel_entries: usize,
}

/// Everything the RS keeps about one peer, as tools and tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerView {
    /// The record's slot: a key for paging, stable while the RS runs.
    pub id: u32,
    /// The peer's credential (never shown on the wire).
    pub cookie: Cookie,
    /// Host name it registered with.
    pub host: String,
    /// Operating system it registered with.
    pub os: String,
    /// Its RFC server's port (valid while active).
    pub port: u16,
    /// The address its latest registration came from.
    pub address: IpAddr,
    /// Whether it is active at the time asked.
    pub active: bool,
    /// Seconds left before its TTL runs out (0 when inactive).
    pub ttl_secs: u64,
    /// Registrations in the last 30 days.
    pub registrations_30d: u32,
    /// Time of its latest registration, seconds since the epoch.
    pub last_registered_unix_secs: u64,
}
