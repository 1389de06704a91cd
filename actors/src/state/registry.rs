//! The registration server's peer table, as a pure state machine.
//!
//! Every change is an [`Event`], and each event concerns exactly one
//! record. Operations that the RS acknowledges durably (REGISTER, LEAVE)
//! only *decide*: [`Registry::decide_register`] and
//! [`Registry::decide_leave`] read the table and return the events; the
//! RS journals them and [`Registry::apply`]s them once they are on disk,
//! so the table never holds a change that could not be made durable. A
//! TTL reset (KEEPALIVE, PQUERY) is applied at once and journaled lazily.
//! The same `apply` replays a journal after a restart. Time is always
//! passed in (`now_ms`, milliseconds since the Unix epoch).
//!
//! A peer is active while it is on the active list and its deadline is
//! ahead of `now`: a peer whose TTL ran out is inactive at once, whether or
//! not [`Registry::expire_due`] has taken it off the list yet.
//!
//! # Memory
//!
//! A record is 88 bytes in a slot vector, its host name in it when the
//! name has 23 bytes or fewer (as almost all have). The indexes hold 4-byte
//! slot numbers: a hash table by cookie (cookies are random, so they hash
//! to themselves), a hash table of the first active record at each address
//! (the others at that address are chained through the records), the dense
//! list of active slots, and a timing wheel of deadlines by second. OS
//! names, longer host names and IPv6 addresses are interned with reference
//! counts, so a name shared by many peers is kept once. A peer costs about
//! 120 bytes in all at a million peers; see `cargo bench --bench
//! rs_scale`.
//!
//! A peer list at scale is a sample drawn slot by slot: each line reads one
//! record, at random among a million, and nothing else (see
//! [`Registry::query`]).

use crate::wire::{write, Cookie};
use bytes::Bytes;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The window of the registration count.
#[cfg(test)]
const THIRTY_DAYS_MS: u64 = 30 * 24 * 3600 * 1000;
const THIRTY_DAYS_S: u32 = 30 * 24 * 3600;
/// A slot number meaning "none".
const NONE: u32 = u32::MAX;

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
    /// PQUERY found no other active peer (404 No Active Peers).
    #[error("no active peers")]
    NoActivePeers,
}

/// How often one peer may PQUERY: `burst` queries at once, then one every
/// `interval_ms` (a generic cell rate: the classic token bucket, one
/// number per peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Milliseconds between queries at the steady rate (0: no pacing).
    pub interval_ms: u32,
    /// Queries allowed at once.
    pub burst: u32,
}

impl Pace {
    /// `per_sec` queries a second after a burst of `burst` (`per_sec` 0:
    /// no pacing).
    pub fn new(per_sec: u32, burst: u32) -> Pace {
        Pace {
            interval_ms: 1000u32.checked_div(per_sec).map_or(0, |ms| ms.max(1)),
            burst: burst.max(1),
        }
    }
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

/// Everything the RS keeps about one peer, as tools and tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerView {
    /// The record's place in the table: a key for paging, stable while the
    /// RS runs.
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

/// The seconds of a peer's registrations in the last 30 days, oldest
/// first: up to two inline, more on the heap.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Registrations {
    Inline { len: u8, times: [u32; 2] },
    Spilled(Box<Spill>),
}

/// The registration times of a peer that registered more than twice: boxed
/// so that the common case keeps them in the record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spill(Vec<u32>);

impl Registrations {
    const EMPTY: Registrations = Registrations::Inline {
        len: 0,
        times: [0; 2],
    };

    fn times(&self) -> &[u32] {
        match self {
            Registrations::Inline { len, times } => &times[..*len as usize],
            Registrations::Spilled(spill) => &spill.0,
        }
    }

    /// Counts one at `at_s`, and forgets those 30 days older than it.
    fn count(&mut self, at_s: u32) {
        let since = at_s.saturating_sub(THIRTY_DAYS_S);
        let mut kept: Vec<u32> = self
            .times()
            .iter()
            .copied()
            .filter(|t| *t > since)
            .collect();
        kept.push(at_s);
        *self = Registrations::from_times(kept);
    }

    fn from_times(times: Vec<u32>) -> Self {
        match times.as_slice() {
            [] => Registrations::EMPTY,
            [a] => Registrations::Inline {
                len: 1,
                times: [*a, 0],
            },
            [a, b] => Registrations::Inline {
                len: 2,
                times: [*a, *b],
            },
            _ => Registrations::Spilled(Box::new(Spill(times))),
        }
    }

    fn within_30_days(&self, now_s: u32) -> u32 {
        let since = now_s.saturating_sub(THIRTY_DAYS_S);
        self.times().iter().filter(|t| **t > since).count() as u32
    }
}

/// A host name: in the record when it fits (23 bytes or fewer, as almost
/// all do), else interned in the registry's names, `len` being `LONG` and
/// `bytes` holding the id. A name in the record costs no lookup and no
/// allocation of its own, and a peer list reads it with its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Host {
    len: u8,
    bytes: [u8; 23],
}

const LONG: u8 = u8::MAX;

impl Host {
    const EMPTY: Host = Host {
        len: 0,
        bytes: [0; 23],
    };

    /// `name`, in place or interned in `names`.
    fn keep(name: &str, names: &mut Interner<Box<str>>) -> Host {
        let mut host = Host::EMPTY;
        if let Some(to) = host.bytes.get_mut(..name.len()) {
            to.copy_from_slice(name.as_bytes());
            host.len = name.len() as u8;
        } else {
            let id = names.intern(name, boxed);
            host.bytes[..4].copy_from_slice(&id.to_le_bytes());
            host.len = LONG;
        }
        host
    }

    fn interned(&self) -> Option<u32> {
        let [a, b, c, d, ..] = self.bytes;
        (self.len == LONG).then_some(u32::from_le_bytes([a, b, c, d]))
    }

    fn as_bytes<'a>(&'a self, names: &'a Interner<Box<str>>) -> &'a [u8] {
        match self.interned() {
            Some(id) => names.get(id).as_bytes(),
            None => &self.bytes[..usize::from(self.len)],
        }
    }

    fn to_string(self, names: &Interner<Box<str>>) -> String {
        String::from_utf8_lossy(self.as_bytes(names)).into_owned()
    }

    /// Gives back its interned name, if it has one.
    fn release(self, names: &mut Interner<Box<str>>) {
        if let Some(id) = self.interned() {
            names.release(id);
        }
    }
}

/// A record in its slot. 88 bytes, 24 of them the host name.
#[derive(Debug, Clone)]
struct Record {
    cookie: Cookie,
    deadline_ms: u64,
    registrations: Registrations,
    last_registered_s: u32,
    host: Host,
    os: u32,
    /// An IPv4 address's bits, or an IPv6 address's interned id.
    address: u32,
    /// Position in the active list; `NONE` when inactive (or free).
    active_pos: u32,
    /// The next active record at the same address.
    next_at_address: u32,
    port: u16,
    flags: u8,
    /// PQUERY pacing: when this peer's next query is due at the steady
    /// rate, in ms since the registry's epoch (0: never asked). Not saved.
    query_due_ms: u32,
}

const USED: u8 = 1;
const V6: u8 = 2;
/// The record has its (one) entry in the deadline wheel.
const FILED: u8 = 4;

impl Record {
    fn is_active(&self, now_ms: u64) -> bool {
        self.active_pos != NONE && self.deadline_ms > now_ms
    }

    fn ttl_secs(&self, now_ms: u64) -> u64 {
        self.deadline_ms.saturating_sub(now_ms).div_ceil(1000)
    }
}

/// Values kept once however many records use them, with reference counts.
#[derive(Debug, Clone)]
struct Interner<T> {
    values: Vec<(T, u32)>,
    free: Vec<u32>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl<T: Hash + Eq + Clone> Interner<T> {
    fn new() -> Self {
        Interner {
            values: Vec::new(),
            free: Vec::new(),
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// The id of `value`, made with `owned` if it is new; counts a use.
    fn intern<Q>(&mut self, value: &Q, owned: impl FnOnce(&Q) -> T) -> u32
    where
        Q: Hash + Eq + ?Sized,
        T: std::borrow::Borrow<Q>,
    {
        let hash = self.hasher.hash_one(value);
        let values = &self.values;
        if let Some(&id) = self
            .table
            .find(hash, |id| values[*id as usize].0.borrow() == value)
        {
            self.values[id as usize].1 += 1;
            return id;
        }
        let entry = (owned(value), 1);
        let id = match self.free.pop() {
            Some(id) => {
                self.values[id as usize] = entry;
                id
            }
            None => {
                self.values.push(entry);
                (self.values.len() - 1) as u32
            }
        };
        let (values, hasher) = (&self.values, &self.hasher);
        self.table.insert_unique(hash, id, |id| {
            hasher.hash_one(values[*id as usize].0.borrow())
        });
        id
    }

    fn get(&self, id: u32) -> &T {
        &self.values[id as usize].0
    }

    fn release(&mut self, id: u32) {
        let entry = &mut self.values[id as usize];
        entry.1 -= 1;
        if entry.1 == 0 {
            let hash = self.hasher.hash_one(&entry.0);
            if let Ok(found) = self.table.find_entry(hash, |other| *other == id) {
                found.remove();
            }
            self.free.push(id);
        }
    }

    fn len(&self) -> usize {
        self.values.len() - self.free.len()
    }
}

/// How much the registry holds and what it costs, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryCounts {
    /// Records kept, active or not.
    pub records: usize,
    /// Records on the active list.
    pub active: usize,
    /// Distinct names interned: OS names, and host names too long to be
    /// kept in their record (over 23 bytes).
    pub names: usize,
    /// Deadlines waiting in the timing wheel: at most one per record.
    pub wheel_entries: usize,
}

/// What one sweep of [`Registry::expire_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expiry {
    /// Peers made inactive.
    pub expired: usize,
    /// When to sweep next: now if the slice ran out with more due, else
    /// the next deadline (`None`: no active peer).
    pub next_ms: Option<u64>,
}

/// The peer table.
#[derive(Debug, Clone)]
pub struct Registry {
    ttl_ms: u64,
    max_peers: usize,
    max_peers_per_address: usize,
    slots: Vec<Record>,
    free: Vec<u32>,
    /// Slots of evicted records waiting for their wheel entry to go.
    unfreed: usize,
    by_cookie: HashTable<u32>,
    by_address: HashTable<u32>,
    active: Vec<u32>,
    /// Slots by the second of their deadline, at most one entry per record
    /// (its `FILED` flag): a TTL reset leaves the entry where it is, and the
    /// sweep files the record again at its later deadline. So the wheel
    /// holds one entry per active peer however often they reset.
    wheel: BTreeMap<u64, Vec<u32>>,
    /// (last registration second, slot) of every inactive record: the
    /// eviction order.
    inactive: BTreeSet<(u32, u32)>,
    names: Interner<Box<str>>,
    v6: Interner<Ipv6Addr>,
    hasher: DefaultHashBuilder,
    /// Scratch for [`draw_distinct`]: one bit per slot, all clear between
    /// queries.
    drawn: Vec<u64>,
}

/// Up to `k` distinct values below `n` that `accept` takes, drawn
/// uniformly at random, in random order: a value drawn again, or refused,
/// is drawn past. `drawn` marks the values taken (`n` bits, all clear
/// before and after); the draw stops after `max_draws` draws. O(k) when
/// most values are taken and `k` is a small part of `n`.
fn draw_distinct(
    drawn: &mut Vec<u64>,
    n: usize,
    k: usize,
    max_draws: usize,
    rng: &mut impl rand::Rng,
    accept: impl Fn(u32) -> bool,
) -> Vec<u32> {
    let Ok(bound) = u32::try_from(n) else {
        return Vec::new();
    };
    if bound == 0 {
        return Vec::new();
    }
    let words = n.div_ceil(64);
    if drawn.len() < words {
        drawn.resize(words, 0);
    }
    let mut picks = Vec::with_capacity(k);
    let mut draws = 0;
    while picks.len() < k && draws < max_draws {
        draws += 1;
        let pick = rng.random_range(0..bound);
        let (word, bit) = ((pick / 64) as usize, 1u64 << (pick % 64));
        if drawn[word] & bit == 0 && accept(pick) {
            drawn[word] |= bit;
            picks.push(pick);
        }
    }
    for pick in &picks {
        drawn[(pick / 64) as usize] = 0;
    }
    picks
}

fn address_key(flags: u8, address: u32) -> u64 {
    (u64::from(flags & V6) << 32) | u64::from(address)
}

impl Registry {
    /// An empty table with TTL `ttl_secs`, room for `max_peers` records, and
    /// at most `max_peers_per_address` active peers from one address.
    pub fn new(ttl_secs: u64, max_peers: usize, max_peers_per_address: usize) -> Self {
        Registry {
            ttl_ms: ttl_secs.saturating_mul(1000),
            max_peers: max_peers.max(1),
            max_peers_per_address: max_peers_per_address.max(1),
            slots: Vec::new(),
            free: Vec::new(),
            unfreed: 0,
            by_cookie: HashTable::new(),
            by_address: HashTable::new(),
            active: Vec::new(),
            wheel: BTreeMap::new(),
            inactive: BTreeSet::new(),
            names: Interner::new(),
            v6: Interner::new(),
            hasher: DefaultHashBuilder::default(),
            drawn: Vec::new(),
        }
    }

    /// Makes room for `records` more records, active ones, and their
    /// names, at once (recovery knows how many it will restore).
    pub fn reserve(&mut self, records: usize) {
        self.slots.reserve(records);
        self.active.reserve(records);
        let slots = &self.slots;
        self.by_cookie
            .reserve(records, |slot| slots[*slot as usize].cookie);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.by_address.reserve(records, |slot| {
            let r = &slots[*slot as usize];
            hasher.hash_one(address_key(r.flags, r.address))
        });
        let (values, hasher) = (&self.names.values, &self.names.hasher);
        self.names
            .table
            .reserve(records, |id| hasher.hash_one(&values[*id as usize].0));
        self.names.values.reserve(records);
    }

    /// Number of records, active or not.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len() - self.unfreed
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the table holds.
    pub fn counts(&self) -> RegistryCounts {
        RegistryCounts {
            records: self.len(),
            active: self.active.len(),
            names: self.names.len(),
            wheel_entries: self.wheel.values().map(Vec::len).sum(),
        }
    }

    fn slot_of(&self, cookie: Cookie) -> Option<u32> {
        let slots = &self.slots;
        self.by_cookie
            .find(cookie, |slot| slots[*slot as usize].cookie == cookie)
            .copied()
    }

    fn address_of(&self, record: &Record) -> IpAddr {
        if record.flags & V6 != 0 {
            IpAddr::V6(*self.v6.get(record.address))
        } else {
            IpAddr::V4(Ipv4Addr::from(record.address))
        }
    }

    /// The record of `cookie` at `now_ms`.
    pub fn view(&self, cookie: Cookie, now_ms: u64) -> Option<PeerView> {
        self.slot_of(cookie)
            .map(|slot| self.view_slot(slot, now_ms))
    }

    fn view_slot(&self, slot: u32, now_ms: u64) -> PeerView {
        let record = &self.slots[slot as usize];
        let active = record.is_active(now_ms);
        PeerView {
            id: slot,
            cookie: record.cookie,
            host: record.host.to_string(&self.names),
            os: self.names.get(record.os).to_string(),
            port: record.port,
            address: self.address_of(record),
            active,
            ttl_secs: if active { record.ttl_secs(now_ms) } else { 0 },
            registrations_30d: record.registrations.within_30_days((now_ms / 1000) as u32),
            last_registered_unix_secs: u64::from(record.last_registered_s),
        }
    }

    /// Up to `limit` records from slot `from` on, and the slot to go on
    /// from (a cursor for paging; `None` at the end).
    pub fn views(&self, from: usize, limit: usize, now_ms: u64) -> (Vec<PeerView>, Option<usize>) {
        let mut views = Vec::new();
        let mut slot = from;
        while slot < self.slots.len() && views.len() < limit {
            if self.slots[slot].flags & USED != 0 {
                views.push(self.view_slot(slot as u32, now_ms));
            }
            slot += 1;
        }
        let next = (slot < self.slots.len()).then_some(slot);
        (views, next)
    }

    /// Every record at `now_ms`, in slot order (for tests and small tables).
    pub fn all(&self, now_ms: u64) -> Vec<PeerView> {
        self.views(0, usize::MAX, now_ms).0
    }

    /// Active records at `address`, by slot.
    fn at_address(&self, flags: u8, address: u32) -> impl Iterator<Item = u32> + '_ {
        let key = address_key(flags, address);
        let hash = self.hasher.hash_one(key);
        let slots = &self.slots;
        let head = self
            .by_address
            .find(hash, |slot| {
                let r = &slots[*slot as usize];
                address_key(r.flags, r.address) == key
            })
            .copied()
            .unwrap_or(NONE);
        std::iter::successors((head != NONE).then_some(head), move |slot| {
            let next = slots[*slot as usize].next_at_address;
            (next != NONE).then_some(next)
        })
    }

    /// The compact form of `address`, if it is known (an IPv6 address not
    /// interned yet has no active record).
    fn compact(&self, address: IpAddr) -> Option<(u8, u32)> {
        match address {
            IpAddr::V4(v4) => Some((0, u32::from(v4))),
            IpAddr::V6(v6) => {
                let hash = self.v6.hasher.hash_one(v6);
                let values = &self.v6.values;
                self.v6
                    .table
                    .find(hash, |id| values[*id as usize].0 == v6)
                    .map(|id| (V6, *id))
            }
        }
    }

    /// Decides a REGISTER: reads the table and returns the events that
    /// make it, to be journaled and then applied. `fresh_cookie` draws a
    /// candidate for a new cookie; it is called again until it gives one
    /// not in the table (the caller also refuses cookies still pending).
    pub fn decide_register(
        &self,
        registrant: Registrant<'_>,
        now_ms: u64,
        mut fresh_cookie: impl FnMut() -> Cookie,
    ) -> Result<Registration, RegistryError> {
        let Registrant {
            host,
            os,
            port,
            cookie,
            address,
        } = registrant;
        let mut events = Vec::with_capacity(3);
        let known = cookie.filter(|cookie| self.slot_of(*cookie).is_some());
        // The active records at the address, but the registrant's own.
        let mut replaced = None;
        let mut others = 0;
        if let Some((flags, bits)) = self.compact(address) {
            for slot in self.at_address(flags, bits) {
                let record = &self.slots[slot as usize];
                if Some(record.cookie) == known {
                    continue;
                }
                if record.port == port {
                    replaced = Some(record.cookie);
                } else if record.is_active(now_ms) {
                    others += 1;
                }
            }
        }
        if others >= self.max_peers_per_address {
            return Err(RegistryError::AddressFull);
        }
        let cookie = match known {
            Some(cookie) => cookie,
            None => {
                if self.len() >= self.max_peers {
                    let (_, oldest) = *self.inactive.first().ok_or(RegistryError::Full)?;
                    events.push(Event::Evicted {
                        cookie: self.slots[oldest as usize].cookie,
                    });
                }
                loop {
                    let candidate = fresh_cookie();
                    if self.slot_of(candidate).is_none() {
                        break candidate;
                    }
                }
            }
        };
        if let Some(other) = replaced {
            events.push(Event::Left { cookie: other });
        }
        events.push(Event::Registered {
            cookie,
            host: host.to_owned(),
            os: os.to_owned(),
            port,
            address,
            at_ms: now_ms,
        });
        Ok(Registration {
            cookie,
            new: known.is_none(),
            replaced,
            events,
        })
    }

    /// Handles KEEPALIVE: an active peer's TTL is set back (applied now).
    pub fn keep_alive(&mut self, cookie: Cookie, now_ms: u64) -> Result<Event, RegistryError> {
        match self.slot_of(cookie) {
            Some(slot) if self.slots[slot as usize].is_active(now_ms) => {
                let event = Event::Touched {
                    cookie,
                    at_ms: now_ms,
                };
                self.apply(&event);
                Ok(event)
            }
            _ => Err(RegistryError::Forbidden),
        }
    }

    /// Decides a LEAVE: an active peer turns inactive (`Some` event to
    /// journal and apply); an inactive one stays so and nothing changes
    /// (`None`).
    pub fn decide_leave(
        &self,
        cookie: Cookie,
        now_ms: u64,
    ) -> Result<Option<Event>, RegistryError> {
        let slot = self.slot_of(cookie).ok_or(RegistryError::Forbidden)?;
        Ok(self.slots[slot as usize]
            .is_active(now_ms)
            .then_some(Event::Left { cookie }))
    }

    /// Handles PQUERY: sets the asker's TTL back (applied now) and writes
    /// the peer list: every other active peer, or, when there are more
    /// than `max_peers`, a uniform random sample of `max_peers` of them
    /// drawn with `rng`. Returns the event with the encoded list (or the
    /// 404) so the TTL reset is journaled either way.
    pub fn query(
        &mut self,
        cookie: Cookie,
        now_ms: u64,
        max_peers: usize,
        rng: &mut impl rand::Rng,
    ) -> Result<(Event, Result<Bytes, RegistryError>), RegistryError> {
        let event = self.keep_alive(cookie, now_ms)?;
        let me = self.slot_of(cookie).ok_or(RegistryError::Forbidden)?;
        let my_pos = self.slots[me as usize].active_pos as usize;
        let others = self.active.len() - 1;
        // Positions among the others: the asker's own is mapped to the last
        // position, which a sample never draws.
        let at = |pick: usize| if pick == my_pos { others } else { pick };
        let picks: Vec<u32> = if others <= max_peers {
            self.active
                .iter()
                .copied()
                .filter(|slot| *slot != me)
                .collect()
        } else if max_peers > others / 4 {
            rand::seq::index::sample(rng, others, max_peers)
                .into_iter()
                .map(|pick| self.active[at(pick)])
                .collect()
        } else {
            // A small sample: when most slots hold an active record, slots
            // are drawn at random and the inactive ones and the asker
            // skipped, so each pick reads only its record (which the list
            // reads next); else positions on the active list are drawn.
            let slots = &self.slots;
            let mut picks = Vec::new();
            if self.active.len() * 2 >= slots.len() {
                picks = draw_distinct(
                    &mut self.drawn,
                    slots.len(),
                    max_peers,
                    max_peers.saturating_mul(64),
                    rng,
                    |slot| slot != me && slots[slot as usize].active_pos != NONE,
                );
            }
            if picks.len() < max_peers {
                picks = draw_distinct(&mut self.drawn, others, max_peers, usize::MAX, rng, |_| {
                    true
                })
                .into_iter()
                .map(|pick| self.active[at(pick as usize)])
                .collect();
            }
            picks
        };
        let body = self.encode_lines(&picks, now_ms);
        if body.is_empty() {
            Ok((event, Err(RegistryError::NoActivePeers)))
        } else {
            Ok((event, Ok(Bytes::from(body))))
        }
    }

    /// Paces `cookie`'s PQUERYs: how long this one must wait before it is
    /// answered (zero when within the rate). The wait is booked: a peer
    /// that asks again meanwhile waits longer. An unknown cookie is not
    /// paced (its query is refused at once).
    pub fn pace_query(&mut self, cookie: Cookie, now_ms: u64, pace: Pace) -> u64 {
        if pace.interval_ms == 0 {
            return 0;
        }
        let Some(slot) = self.slot_of(cookie) else {
            return 0;
        };
        // Milliseconds in a u32 (49 days around), compared wrapping: a
        // booking is never more than a minute ahead, so anything further
        // ahead (or behind) is old and starts afresh.
        let now = now_ms as u32;
        let allowed = pace.interval_ms.saturating_mul(pace.burst);
        let record = &mut self.slots[slot as usize];
        let booked = record.query_due_ms.wrapping_sub(now);
        let due = if record.query_due_ms == 0 || booked > allowed.saturating_add(60_000) {
            now
        } else {
            record.query_due_ms
        };
        let next = due.wrapping_add(pace.interval_ms);
        record.query_due_ms = next.max(1);
        // Within the burst: up to `burst` intervals booked ahead of now.
        u64::from(next.wrapping_sub(now).saturating_sub(allowed))
    }

    /// The peer-list lines of `slots` (the active ones) at `now_ms`.
    ///
    /// At a million peers every record is a cache miss (unless the sample
    /// just read it); read one line at a time, each line would wait for
    /// its own. So the fields of all the records are gathered first, in
    /// loads that do not depend on one another and the processor overlaps,
    /// then the text is written.
    fn encode_lines(&self, slots: &[u32], now_ms: u64) -> Vec<u8> {
        struct Fields {
            host: Host,
            flags: u8,
            address: u32,
            port: u16,
            ttl_secs: u64,
            registrations: u32,
            last_registered_s: u32,
        }
        let now_s = (now_ms / 1000) as u32;
        let fields: Vec<Fields> = slots
            .iter()
            .map(|slot| &self.slots[*slot as usize])
            .filter(|record| record.is_active(now_ms))
            .map(|record| Fields {
                host: record.host,
                flags: record.flags,
                address: record.address,
                port: record.port,
                ttl_secs: record.ttl_secs(now_ms),
                registrations: record.registrations.within_30_days(now_s),
                last_registered_s: record.last_registered_s,
            })
            .collect();
        let mut body = Vec::with_capacity(fields.len() * 72);
        for f in &fields {
            let address = if f.flags & V6 != 0 {
                IpAddr::V6(*self.v6.get(f.address))
            } else {
                IpAddr::V4(Ipv4Addr::from(f.address))
            };
            // Names are kept sanitized (see `apply_registered`).
            body.extend_from_slice(f.host.as_bytes(&self.names));
            write::peer_tail(
                address,
                f.port,
                f.ttl_secs,
                f.registrations,
                u64::from(f.last_registered_s),
                &mut body,
            );
        }
        body
    }

    /// Takes off the active list at most `max` peers whose TTL ran out by
    /// `now_ms` (a bounded slice, so a burst never holds the caller long).
    pub fn expire_due(&mut self, now_ms: u64, max: usize) -> Expiry {
        let mut expired = 0;
        let mut visited = 0;
        while let Some((&second, _)) = self.wheel.first_key_value() {
            // A second is swept once it is wholly past.
            if (second + 1) * 1000 > now_ms {
                return Expiry {
                    expired,
                    next_ms: Some((second + 1) * 1000),
                };
            }
            let Some((second, mut slots)) = self.wheel.pop_first() else {
                break;
            };
            while let Some(slot) = slots.pop() {
                visited += 1;
                let record = &mut self.slots[slot as usize];
                record.flags &= !FILED;
                if record.flags & USED == 0 {
                    // An evicted record's slot, free once its entry is gone.
                    self.free.push(slot);
                    self.unfreed -= 1;
                } else if record.active_pos != NONE {
                    if record.deadline_ms <= now_ms {
                        self.deactivate(slot);
                        expired += 1;
                    } else {
                        // Reset since it was filed: file it at its deadline.
                        let second = record.deadline_ms / 1000;
                        record.flags |= FILED;
                        self.wheel.entry(second).or_default().push(slot);
                    }
                }
                if visited >= max {
                    if !slots.is_empty() {
                        self.wheel.insert(second, slots);
                    }
                    return Expiry {
                        expired,
                        next_ms: Some(now_ms),
                    };
                }
            }
        }
        Expiry {
            expired,
            next_ms: None,
        }
    }

    /// Applies one event. Replaying a journal's events in order rebuilds
    /// the table exactly; an event about an unknown cookie changes nothing.
    pub fn apply(&mut self, event: &Event) {
        self.apply_ref(event.as_ref());
    }

    /// [`Registry::apply`] with the event's text borrowed.
    pub fn apply_ref(&mut self, event: EventRef<'_>) {
        match event {
            EventRef::Registered {
                cookie,
                host,
                os,
                port,
                address,
                at_ms,
            } => self.apply_registered(cookie, host, os, port, address, at_ms),
            EventRef::Touched { cookie, at_ms } => {
                if let Some(slot) = self.slot_of(cookie) {
                    let record = &mut self.slots[slot as usize];
                    if record.active_pos != NONE {
                        // Later than before: its wheel entry, earlier, will
                        // file it again when swept.
                        record.deadline_ms = at_ms.saturating_add(self.ttl_ms);
                    }
                }
            }
            EventRef::Left { cookie } => {
                if let Some(slot) = self.slot_of(cookie) {
                    self.deactivate(slot);
                }
            }
            EventRef::Evicted { cookie } => {
                if let Some(slot) = self.slot_of(cookie) {
                    self.remove(slot);
                }
            }
        }
    }

    /// The slot of `cookie` (recovery keeps per-slot facts).
    pub(crate) fn slot_index(&self, cookie: Cookie) -> Option<usize> {
        self.slot_of(cookie).map(|slot| slot as usize)
    }

    fn apply_registered(
        &mut self,
        cookie: Cookie,
        host: &str,
        os: &str,
        port: u16,
        address: IpAddr,
        at_ms: u64,
    ) {
        let (flags, bits) = match address {
            IpAddr::V4(v4) => (0, u32::from(v4)),
            IpAddr::V6(v6) => (V6, self.v6.intern(&v6, |v| *v)),
        };
        // One port serves one peer at a time: whoever else is active on
        // this address and port goes (normally a Left event did it).
        let taken: Vec<u32> = self
            .at_address(flags, bits)
            .filter(|slot| {
                let r = &self.slots[*slot as usize];
                r.port == port && r.cookie != cookie
            })
            .collect();
        for slot in taken {
            self.deactivate(slot);
        }
        // Kept as they go on the wire, so a peer list copies them as they are.
        let host = Host::keep(&write::sanitize(host), &mut self.names);
        let os = self.names.intern(&*write::sanitize(os), boxed);
        let slot = match self.slot_of(cookie) {
            Some(slot) => {
                self.deactivate(slot);
                let record = &self.slots[slot as usize];
                let (old_host, old_os, old_flags, old_bits) =
                    (record.host, record.os, record.flags, record.address);
                old_host.release(&mut self.names);
                self.names.release(old_os);
                if old_flags & V6 != 0 {
                    self.v6.release(old_bits);
                }
                self.inactive
                    .remove(&(self.slots[slot as usize].last_registered_s, slot));
                slot
            }
            None => self.insert(cookie),
        };
        let at_s = (at_ms / 1000) as u32;
        let record = &mut self.slots[slot as usize];
        record.host = host;
        record.os = os;
        record.port = port;
        record.address = bits;
        record.flags = USED | flags | (record.flags & FILED);
        record.deadline_ms = at_ms.saturating_add(self.ttl_ms);
        record.last_registered_s = at_s;
        record.registrations.count(at_s);
        self.activate(slot);
        self.file(slot);
    }

    /// Puts `slot` in the wheel at its deadline, unless it is there
    /// already (at an earlier second: the sweep files it again then).
    fn file(&mut self, slot: u32) {
        let record = &mut self.slots[slot as usize];
        if record.flags & FILED == 0 {
            record.flags |= FILED;
            let second = record.deadline_ms / 1000;
            self.wheel.entry(second).or_default().push(slot);
        }
    }

    /// A new record for `cookie`, inactive, not yet on any index but the
    /// cookie table.
    fn insert(&mut self, cookie: Cookie) -> u32 {
        let record = Record {
            cookie,
            deadline_ms: 0,
            registrations: Registrations::EMPTY,
            last_registered_s: 0,
            host: Host::EMPTY,
            os: 0,
            address: 0,
            active_pos: NONE,
            next_at_address: NONE,
            port: 0,
            flags: USED,
            query_due_ms: 0,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = record;
                slot
            }
            None => {
                self.slots.push(record);
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.by_cookie
            .insert_unique(cookie, slot, |slot| slots[*slot as usize].cookie);
        slot
    }

    /// Puts an inactive record on the active list and its address's chain.
    fn activate(&mut self, slot: u32) {
        activate_in(
            &mut self.slots,
            &mut self.by_address,
            &mut self.active,
            &self.hasher,
            slot,
        );
    }

    /// Takes a record off the active list and its address's chain, and
    /// files it for eviction.
    fn deactivate(&mut self, slot: u32) {
        let record = &self.slots[slot as usize];
        if record.active_pos == NONE {
            return;
        }
        let (position, next) = (record.active_pos as usize, record.next_at_address);
        let key = address_key(record.flags, record.address);
        // Off the active list: the last one takes its place.
        self.active.swap_remove(position);
        if let Some(&moved) = self.active.get(position) {
            self.slots[moved as usize].active_pos = position as u32;
        }
        // Off its address's chain.
        let hash = self.hasher.hash_one(key);
        let slots = &self.slots;
        if let Ok(mut entry) = self.by_address.find_entry(hash, |s| {
            let r = &slots[*s as usize];
            address_key(r.flags, r.address) == key
        }) {
            if *entry.get() == slot {
                if next == NONE {
                    entry.remove();
                } else {
                    *entry.get_mut() = next;
                }
            } else {
                let mut previous = *entry.get();
                while previous != NONE {
                    let after = self.slots[previous as usize].next_at_address;
                    if after == slot {
                        self.slots[previous as usize].next_at_address = next;
                        break;
                    }
                    previous = after;
                }
            }
        }
        let record = &mut self.slots[slot as usize];
        record.active_pos = NONE;
        record.next_at_address = NONE;
        self.inactive.insert((record.last_registered_s, slot));
    }

    /// Drops a record altogether.
    fn remove(&mut self, slot: u32) {
        self.deactivate(slot);
        let record = &self.slots[slot as usize];
        let (cookie, last, host, os, flags, bits) = (
            record.cookie,
            record.last_registered_s,
            record.host,
            record.os,
            record.flags,
            record.address,
        );
        self.inactive.remove(&(last, slot));
        if let Ok(entry) = self.by_cookie.find_entry(cookie, |s| *s == slot) {
            entry.remove();
        }
        host.release(&mut self.names);
        self.names.release(os);
        if flags & V6 != 0 {
            self.v6.release(bits);
        }
        let record = &mut self.slots[slot as usize];
        record.flags &= FILED;
        record.registrations = Registrations::EMPTY;
        // A slot still in the wheel is freed when the sweep takes it out,
        // so that a new record never inherits its entry.
        if record.flags & FILED == 0 {
            self.free.push(slot);
        } else {
            self.unfreed += 1;
        }
    }

    /// Checks the table's indexes against its records; `Err` names the
    /// first inconsistency. Used after a restart and by the tests.
    pub fn check(&self) -> Result<(), String> {
        let mut active = 0;
        for (slot, record) in self.slots.iter().enumerate() {
            if record.flags & USED == 0 {
                continue;
            }
            if self.slot_of(record.cookie) != Some(slot as u32) {
                return Err(format!("cookie {} not indexed", record.cookie));
            }
            if record.active_pos != NONE {
                active += 1;
                if self.active.get(record.active_pos as usize) != Some(&(slot as u32)) {
                    return Err(format!("active position of {} out of step", record.cookie));
                }
                let chained = self
                    .at_address(record.flags, record.address)
                    .any(|s| s == slot as u32);
                if !chained {
                    return Err(format!("{} not on its address's chain", record.cookie));
                }
            } else if !self
                .inactive
                .contains(&(record.last_registered_s, slot as u32))
            {
                return Err(format!("inactive {} not filed for eviction", record.cookie));
            }
        }
        if active != self.active.len() {
            return Err(format!(
                "{active} active records, {} on the list",
                self.active.len()
            ));
        }
        let filed = self.slots.iter().filter(|r| r.flags & FILED != 0).count();
        let entries: usize = self.wheel.values().map(Vec::len).sum();
        if filed != entries {
            return Err(format!("{filed} records filed, {entries} wheel entries"));
        }
        if self
            .slots
            .iter()
            .any(|r| r.active_pos != NONE && r.flags & FILED == 0)
        {
            return Err("an active record is not in the wheel".into());
        }
        if self.len() - active != self.inactive.len() {
            return Err("inactive index out of step".into());
        }
        Ok(())
    }

    /// Encodes records into `out` from slot `from` on, at most `max` slots
    /// visited, each with the fields the snapshot keeps; returns the slot
    /// to go on from (`None` at the end) and how many records it wrote.
    pub fn encode_records(
        &self,
        from: usize,
        max: usize,
        out: &mut Vec<u8>,
    ) -> (Option<usize>, u32) {
        let end = self.slots.len().min(from.saturating_add(max));
        let mut written = 0;
        for record in &self.slots[from.min(end)..end] {
            if record.flags & USED == 0 {
                continue;
            }
            written += 1;
            out.extend_from_slice(&record.cookie.to_le_bytes());
            let deadline = if record.active_pos != NONE {
                record.deadline_ms
            } else {
                0
            };
            out.extend_from_slice(&deadline.to_le_bytes());
            out.extend_from_slice(&record.last_registered_s.to_le_bytes());
            out.extend_from_slice(&record.port.to_le_bytes());
            match self.address_of(record) {
                IpAddr::V4(v4) => {
                    out.push(4);
                    out.extend_from_slice(&v4.octets());
                }
                IpAddr::V6(v6) => {
                    out.push(6);
                    out.extend_from_slice(&v6.octets());
                }
            }
            for name in [
                record.host.as_bytes(&self.names),
                self.names.get(record.os).as_bytes(),
            ] {
                out.push(name.len().min(255) as u8);
                out.extend_from_slice(&name[..name.len().min(255)]);
            }
            let times = record.registrations.times();
            out.push(times.len().min(255) as u8);
            for time in &times[times.len().saturating_sub(255)..] {
                out.extend_from_slice(&time.to_le_bytes());
            }
        }
        ((end < self.slots.len()).then_some(end), written)
    }

    /// Decodes one record [`Registry::encode_records`] wrote from `bytes`
    /// into a new slot of an empty table being restored, without indexing
    /// it: [`Registry::index_restored`] indexes them all at once.
    pub fn restore_unindexed(&mut self, bytes: &[u8]) -> Result<Restored, String> {
        let mut cursor = Cursor { bytes, at: 0 };
        let cookie = u64::from_le_bytes(cursor.array()?);
        let deadline_ms = u64::from_le_bytes(cursor.array()?);
        let last_registered_s = u32::from_le_bytes(cursor.array()?);
        let port = u16::from_le_bytes(cursor.array()?);
        let address = match cursor.array::<1>()?[0] {
            4 => IpAddr::V4(Ipv4Addr::from(cursor.array::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(cursor.array::<16>()?)),
            other => return Err(format!("address kind {other}")),
        };
        let mut names = [""; 2];
        for name in &mut names {
            let len = cursor.array::<1>()?[0] as usize;
            *name = std::str::from_utf8(cursor.take(len)?).map_err(|_| "a name is not UTF-8")?;
        }
        let count = cursor.array::<1>()?[0] as usize;
        let registrations = match count {
            0..=2 => {
                let mut times = [0u32; 2];
                for time in times.iter_mut().take(count) {
                    *time = u32::from_le_bytes(cursor.array()?);
                }
                Registrations::Inline {
                    len: count as u8,
                    times,
                }
            }
            _ => {
                let mut times = Vec::with_capacity(count);
                for _ in 0..count {
                    times.push(u32::from_le_bytes(cursor.array()?));
                }
                Registrations::from_times(times)
            }
        };
        let (flags, bits) = match address {
            IpAddr::V4(v4) => (0, u32::from(v4)),
            IpAddr::V6(v6) => (V6, self.v6.intern(&v6, |v| *v)),
        };
        let host = Host::keep(&write::sanitize(names[0]), &mut self.names);
        let os = self.names.intern(&*write::sanitize(names[1]), boxed);
        self.slots.push(Record {
            cookie,
            deadline_ms,
            registrations,
            last_registered_s,
            host,
            os,
            address: bits,
            active_pos: NONE,
            next_at_address: NONE,
            port,
            flags: USED | flags,
            query_due_ms: 0,
        });
        Ok(Restored {
            slot: self.slots.len() - 1,
            used: cursor.at,
        })
    }

    /// Indexes the records [`Registry::restore_unindexed`] restored: the
    /// cookie table on one thread, the active list, the address chains,
    /// the deadlines and the eviction order on another. `Err` names a
    /// cookie restored twice.
    pub fn index_restored(&mut self) -> Result<(), String> {
        let cookies: Vec<u64> = self.slots.iter().map(|r| r.cookie).collect();
        let Registry {
            slots,
            by_cookie,
            by_address,
            active,
            wheel,
            inactive,
            hasher,
            ..
        } = self;
        let twice = std::thread::scope(|scope| {
            let cookie_table = scope.spawn(|| {
                by_cookie.reserve(cookies.len(), |slot| cookies[*slot as usize]);
                for (slot, &cookie) in cookies.iter().enumerate() {
                    match by_cookie.entry(
                        cookie,
                        |s| cookies[*s as usize] == cookie,
                        |s| cookies[*s as usize],
                    ) {
                        hashbrown::hash_table::Entry::Occupied(_) => return Some(cookie),
                        hashbrown::hash_table::Entry::Vacant(vacant) => {
                            vacant.insert(slot as u32);
                        }
                    }
                }
                None
            });
            for slot in 0..slots.len() as u32 {
                let record = &slots[slot as usize];
                if record.deadline_ms > 0 {
                    let second = record.deadline_ms / 1000;
                    activate_in(slots, by_address, active, hasher, slot);
                    slots[slot as usize].flags |= FILED;
                    wheel.entry(second).or_default().push(slot);
                } else {
                    inactive.insert((record.last_registered_s, slot));
                }
            }
            cookie_table.join().unwrap_or(None)
        });
        match twice {
            Some(cookie) => Err(format!("cookie {cookie} twice")),
            None => Ok(()),
        }
    }
}

/// What [`Registry::restore_unindexed`] restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// The slot it took (recovery keeps per-slot facts).
    pub slot: usize,
    /// The bytes it took.
    pub used: usize,
}

/// [`Registry::activate`] on the fields it changes (so that recovery can
/// build the cookie table beside it, on another thread).
fn activate_in(
    slots: &mut [Record],
    by_address: &mut HashTable<u32>,
    active: &mut Vec<u32>,
    hasher: &DefaultHashBuilder,
    slot: u32,
) {
    let record = &slots[slot as usize];
    let key = address_key(record.flags, record.address);
    let hash = hasher.hash_one(key);
    let head = match by_address.find_entry(hash, |s| {
        let r = &slots[*s as usize];
        address_key(r.flags, r.address) == key
    }) {
        Ok(mut entry) => std::mem::replace(entry.get_mut(), slot),
        Err(_) => {
            by_address.insert_unique(hash, slot, |s| {
                let r = &slots[*s as usize];
                hasher.hash_one(address_key(r.flags, r.address))
            });
            NONE
        }
    };
    let position = active.len() as u32;
    active.push(slot);
    let record = &mut slots[slot as usize];
    record.next_at_address = head;
    record.active_pos = position;
}

fn boxed(text: &str) -> Box<str> {
    text.into()
}

/// Reads a snapshot record's fields in order.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let piece = self
            .bytes
            .get(self.at..self.at + n)
            .ok_or("record cut short")?;
        self.at += n;
        Ok(piece)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let piece = self.take(N)?;
        let mut array = [0; N];
        array.copy_from_slice(piece);
        Ok(array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const T0: u64 = 1_795_253_400_000; // 2026-11-21T09:30:00Z

    fn cookies() -> impl FnMut() -> Cookie {
        let mut next = 1000;
        move || {
            next += 1;
            next
        }
    }

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    /// Decides and applies a REGISTER, as the RS does once it is durable.
    fn register_from(
        reg: &mut Registry,
        address: IpAddr,
        port: u16,
        cookie: Option<Cookie>,
        now: u64,
    ) -> Result<Registration, RegistryError> {
        let mut next = reg.len() as u64 * 7 + 1000;
        let decided = reg.decide_register(
            Registrant::new("h", "Linux", port, cookie, address),
            now,
            || {
                next += 1;
                next
            },
        )?;
        for event in &decided.events {
            reg.apply(event);
        }
        Ok(decided)
    }

    fn register(reg: &mut Registry, port: u16, cookie: Option<Cookie>, now: u64) -> Registration {
        register_from(reg, LOCAL, port, cookie, now).unwrap()
    }

    fn leave(reg: &mut Registry, cookie: Cookie, now: u64) -> Option<Event> {
        let event = reg.decide_leave(cookie, now).unwrap();
        if let Some(event) = &event {
            reg.apply(event);
        }
        event
    }

    /// The peer list's lines.
    fn list(reg: &mut Registry, cookie: Cookie, now: u64) -> Result<Vec<String>, RegistryError> {
        let (_, body) = reg.query(cookie, now, 1000, &mut rng())?;
        Ok(String::from_utf8(body?.to_vec())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect())
    }

    #[test]
    fn a_registered_peer_shows_the_full_ttl_and_one_registration() {
        let mut reg = Registry::new(7200, 100, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        let b = register(&mut reg, 2, None, T0).cookie;
        assert_ne!(a, b);
        assert_eq!(
            list(&mut reg, a, T0).unwrap(),
            ["h&*127.0.0.1&*2&*7200&*1&*2026-11-21T09:30:00Z"]
        );
    }

    #[test]
    fn ttl_counts_down_and_rounds_up() {
        let mut reg = Registry::new(10, 100, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        let b = register(&mut reg, 2, None, T0).cookie;
        let ttl = |reg: &mut Registry, now| reg.view(b, now).unwrap().ttl_secs;
        reg.keep_alive(a, T0).unwrap();
        assert_eq!(ttl(&mut reg, T0 + 1), 10);
        assert_eq!(ttl(&mut reg, T0 + 4_500), 6);
        assert_eq!(ttl(&mut reg, T0 + 9_999), 1);
        assert!(list(&mut reg, a, T0 + 4_500).unwrap()[0].contains("&*6&*1&*"));
    }

    #[test]
    fn expired_peer_is_not_listed_and_is_refused() {
        let mut reg = Registry::new(10, 100, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        let b = register(&mut reg, 2, None, T0 + 5_000).cookie;
        // a expires at T0+10s even before the sweeper runs
        assert_eq!(
            reg.keep_alive(a, T0 + 10_000),
            Err(RegistryError::Forbidden)
        );
        assert_eq!(
            list(&mut reg, b, T0 + 10_000),
            Err(RegistryError::NoActivePeers)
        );
        // the second of a's deadline is swept once it is wholly past
        let expiry = reg.expire_due(T0 + 11_000, 100);
        assert_eq!(expiry.expired, 1);
        assert!(!reg.view(a, T0 + 11_000).unwrap().active);
        reg.check().unwrap();
    }

    #[test]
    fn keepalive_and_pquery_set_the_ttl_back() {
        let mut reg = Registry::new(10, 100, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        let b = register(&mut reg, 2, None, T0).cookie;
        reg.keep_alive(a, T0 + 9_000).unwrap();
        list(&mut reg, b, T0 + 9_000).unwrap();
        assert_eq!(reg.expire_due(T0 + 18_999, 100).expired, 0);
        assert_eq!(reg.expire_due(T0 + 20_000, 100).expired, 2);
    }

    #[test]
    fn leave_makes_a_peer_inactive_and_only_register_reactivates() {
        let mut reg = Registry::new(7200, 100, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        let b = register(&mut reg, 2, None, T0).cookie;
        assert!(leave(&mut reg, b, T0 + 1).is_some());
        assert_eq!(reg.decide_leave(b, T0 + 2), Ok(None));
        assert_eq!(reg.keep_alive(b, T0 + 3), Err(RegistryError::Forbidden));
        assert_eq!(list(&mut reg, b, T0 + 3), Err(RegistryError::Forbidden));
        assert_eq!(list(&mut reg, a, T0 + 3), Err(RegistryError::NoActivePeers));
        let again = register(&mut reg, 2, Some(b), T0 + 4);
        assert_eq!((again.cookie, again.new), (b, false));
        assert!(list(&mut reg, a, T0 + 5).unwrap()[0].contains("&*2&*7200&*2&*"));
        reg.check().unwrap();
    }

    #[test]
    fn unknown_cookies_are_forbidden_and_change_nothing() {
        let mut reg = Registry::new(7200, 100, 100);
        register(&mut reg, 1, None, T0);
        let before = reg.all(T0);
        assert_eq!(reg.keep_alive(42, T0), Err(RegistryError::Forbidden));
        assert_eq!(reg.decide_leave(42, T0), Err(RegistryError::Forbidden));
        assert_eq!(list(&mut reg, 42, T0), Err(RegistryError::Forbidden));
        assert_eq!(reg.all(T0), before);
    }

    #[test]
    fn register_with_an_unknown_cookie_issues_a_new_one() {
        let mut reg = Registry::new(7200, 100, 100);
        let r = register(&mut reg, 1, Some(777), T0);
        assert!(r.new);
        assert_ne!(r.cookie, 777);
    }

    #[test]
    fn a_new_registration_on_the_same_port_replaces_the_old_record() {
        let mut reg = Registry::new(7200, 100, 100);
        let old = register(&mut reg, 1, None, T0).cookie;
        let other = register(&mut reg, 2, None, T0).cookie;
        let new = register(&mut reg, 1, None, T0 + 1);
        assert_eq!(new.replaced, Some(old));
        assert_eq!(new.events[0], Event::Left { cookie: old });
        assert_eq!(list(&mut reg, other, T0 + 2).unwrap().len(), 1);
        assert!(!reg.view(old, T0 + 2).unwrap().active);
        reg.check().unwrap();
    }

    #[test]
    fn registrations_older_than_thirty_days_are_not_counted() {
        let mut reg = Registry::new(7200, 100, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        register(&mut reg, 1, Some(a), T0 + 1000);
        register(&mut reg, 1, Some(a), T0 + 1500);
        let count = |reg: &Registry, now| reg.view(a, now).unwrap().registrations_30d;
        assert_eq!(count(&reg, T0 + 2000), 3);
        assert_eq!(count(&reg, T0 + THIRTY_DAYS_MS), 2);
        assert_eq!(count(&reg, T0 + THIRTY_DAYS_MS + 2000), 0);
    }

    #[test]
    fn a_full_table_drops_the_oldest_inactive_record_or_refuses() {
        let mut reg = Registry::new(7200, 2, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        let b = register(&mut reg, 2, None, T0 + 1000).cookie;
        assert_eq!(
            register_from(&mut reg, LOCAL, 3, None, T0 + 2000).unwrap_err(),
            RegistryError::Full
        );
        leave(&mut reg, b, T0 + 3000);
        leave(&mut reg, a, T0 + 4000);
        let c = register(&mut reg, 3, None, T0 + 5000);
        assert_eq!(c.events[0], Event::Evicted { cookie: a });
        assert_eq!(reg.len(), 2);
        assert!(reg.view(a, T0).is_none());
        // a known cookie re-registers even when full
        register(&mut reg, 2, Some(b), T0 + 6000);
        reg.check().unwrap();
    }

    #[test]
    fn one_address_gets_at_most_its_share_of_active_registrations() {
        let mut reg = Registry::new(7200, 100, 2);
        let here: IpAddr = "10.0.0.1".parse().unwrap();
        let there: IpAddr = "10.0.0.2".parse().unwrap();
        let a = register_from(&mut reg, here, 1, None, T0).unwrap().cookie;
        register_from(&mut reg, here, 2, None, T0).unwrap();
        assert_eq!(
            register_from(&mut reg, here, 3, None, T0).unwrap_err(),
            RegistryError::AddressFull
        );
        // the same port replaces, a known cookie re-registers, another
        // address is not affected
        register_from(&mut reg, here, 2, None, T0 + 1).unwrap();
        register_from(&mut reg, here, 1, Some(a), T0 + 2).unwrap();
        register_from(&mut reg, there, 3, None, T0 + 3).unwrap();
        // once one leaves, there is room again
        leave(&mut reg, a, T0 + 4);
        register_from(&mut reg, here, 3, None, T0 + 5).unwrap();
        reg.check().unwrap();
    }

    #[test]
    fn a_large_list_is_a_uniform_sample_of_the_others_never_the_asker() {
        let mut reg = Registry::new(7200, 10_000, 10_000);
        let asker = register(&mut reg, 1, None, T0).cookie;
        for port in 2..=101 {
            register(&mut reg, port, None, T0);
        }
        let mut rng = rng();
        // A small sample is drawn position by position (the bitmap), a
        // large one by the library's sampler; both must be uniform.
        for (k, lowest, highest) in [(10, 120, 290), (60, 1_080, 1_320)] {
            let mut seen = std::collections::HashMap::<String, u32>::new();
            for _ in 0..2000 {
                let (_, body) = reg.query(asker, T0, k, &mut rng).unwrap();
                let body = String::from_utf8(body.unwrap().to_vec()).unwrap();
                let lines: Vec<&str> = body.lines().collect();
                assert_eq!(lines.len(), k);
                let distinct: std::collections::HashSet<&str> = lines.iter().copied().collect();
                assert_eq!(distinct.len(), k, "a sample has no repeats");
                for line in lines {
                    let port = line.split("&*").nth(2).unwrap().to_owned();
                    assert_ne!(port, "1", "never the asker");
                    *seen.entry(port).or_default() += 1;
                }
            }
            // 2000 draws of k among 100: each peer about 20k times
            assert_eq!(seen.len(), 100);
            assert!(
                seen.values().all(|n| (lowest..=highest).contains(n)),
                "{k}: {seen:?}"
            );
        }
        // Inactive records among the slots are drawn past (30 of them);
        // with more inactive records than active ones (230), positions on
        // the active list are drawn instead: as uniform either way, and
        // never an inactive peer.
        for (ports, sparse) in [(102..=131, false), (132..=331, true)] {
            let left: Vec<Cookie> = ports
                .map(|port| register(&mut reg, port, None, T0).cookie)
                .collect();
            for cookie in left {
                leave(&mut reg, cookie, T0);
            }
            assert_eq!(reg.active.len() * 2 < reg.slots.len(), sparse);
            only_active_others_uniformly(&mut reg, asker, &mut rng);
        }
    }

    fn only_active_others_uniformly(reg: &mut Registry, asker: Cookie, rng: &mut impl rand::Rng) {
        let mut seen = std::collections::HashMap::<String, u32>::new();
        for _ in 0..2000 {
            let (_, body) = reg.query(asker, T0, 10, rng).unwrap();
            let body = String::from_utf8(body.unwrap().to_vec()).unwrap();
            let ports: std::collections::HashSet<String> = body
                .lines()
                .map(|line| line.split("&*").nth(2).unwrap().to_owned())
                .collect();
            assert_eq!(ports.len(), 10, "a sample has no repeats");
            for port in ports {
                let number: u16 = port.parse().unwrap();
                assert!((2..=101).contains(&number), "only the active others");
                *seen.entry(port).or_default() += 1;
            }
        }
        assert_eq!(seen.len(), 100);
        assert!(seen.values().all(|n| (120..=290).contains(n)), "{seen:?}");
    }

    #[test]
    fn a_burst_of_expiries_is_swept_in_bounded_slices() {
        let mut reg = Registry::new(10, 10_000, 10_000);
        for port in 1..=2500 {
            register(&mut reg, port, None, T0);
        }
        let later = T0 + 11_000;
        let first = reg.expire_due(later, 1000);
        assert_eq!((first.expired, first.next_ms), (1000, Some(later)));
        let second = reg.expire_due(later, 1000);
        assert_eq!(second.expired, 1000);
        let last = reg.expire_due(later, 1000);
        assert_eq!((last.expired, last.next_ms), (500, None));
        assert_eq!(reg.counts().active, 0);
        reg.check().unwrap();
    }

    #[test]
    fn names_and_addresses_are_kept_once_and_freed_with_their_last_record() {
        let mut reg = Registry::new(7200, 2, 100);
        let v6: IpAddr = "::1".parse().unwrap();
        let a = register_from(&mut reg, v6, 1, None, T0).unwrap().cookie;
        register_from(&mut reg, v6, 2, None, T0).unwrap();
        // "Linux" once; "h" is short enough to be kept in each record
        assert_eq!(reg.counts().names, 1);
        assert_eq!(reg.v6.len(), 1);
        leave(&mut reg, a, T0 + 1);
        let decided = reg
            .decide_register(
                Registrant::new("other", "BSD", 3, None, LOCAL),
                T0 + 2,
                cookies(),
            )
            .unwrap();
        for event in &decided.events {
            reg.apply(event);
        }
        assert_eq!(reg.counts().names, 2);
        assert_eq!(reg.view(decided.cookie, T0 + 2).unwrap().host, "other");
        reg.check().unwrap();
    }

    #[test]
    fn a_long_host_name_is_interned_listed_and_freed_with_its_record() {
        let long = "a-host-name-of-forty-bytes.example.org.";
        let mut reg = Registry::new(7200, 10, 10);
        let asker = register(&mut reg, 1, None, T0).cookie;
        let mut decided = reg
            .decide_register(
                Registrant::new(long, "Linux", 2, None, LOCAL),
                T0,
                cookies(),
            )
            .unwrap();
        for event in &decided.events {
            reg.apply(event);
        }
        // "Linux" and the long name
        assert_eq!(reg.counts().names, 2);
        assert_eq!(reg.view(decided.cookie, T0).unwrap().host, long);
        let lines = list(&mut reg, asker, T0).unwrap();
        assert!(
            lines[0].starts_with(&format!("{long}&*127.0.0.1&*2&*")),
            "{lines:?}"
        );
        // a 23-byte name is the longest kept in place
        let fits = "twenty-three-bytes-long";
        assert_eq!(fits.len(), 23);
        let registrant = Registrant::new(fits, "Linux", 2, Some(decided.cookie), LOCAL);
        decided = reg.decide_register(registrant, T0 + 1, cookies()).unwrap();
        for event in &decided.events {
            reg.apply(event);
        }
        assert_eq!(
            reg.counts().names,
            1,
            "the long name went with its last use"
        );
        assert_eq!(reg.view(decided.cookie, T0 + 1).unwrap().host, fits);
        reg.check().unwrap();
    }

    #[test]
    fn ttl_resets_keep_one_wheel_entry_per_peer() {
        let mut reg = Registry::new(10, 100, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        let b = register(&mut reg, 2, None, T0).cookie;
        for step in 1..=1000 {
            reg.keep_alive(a, T0 + step).unwrap();
            list(&mut reg, b, T0 + step).unwrap();
        }
        assert_eq!(reg.counts().wheel_entries, 2);
        // the sweep files them again at their later deadlines, and expires
        // them in time
        assert_eq!(reg.expire_due(T0 + 10_999, 100).expired, 0);
        assert_eq!(reg.counts().wheel_entries, 2);
        assert!(reg.view(a, T0 + 10_999).unwrap().active);
        assert_eq!(reg.expire_due(T0 + 12_000, 100).expired, 2);
        assert_eq!(reg.counts().wheel_entries, 0);
        // leaving and coming back does not add entries either
        let c = register(&mut reg, 3, None, T0 + 20_000).cookie;
        leave(&mut reg, c, T0 + 20_001);
        register(&mut reg, 3, Some(c), T0 + 20_002);
        assert_eq!(reg.counts().wheel_entries, 1);
        reg.check().unwrap();
    }

    #[test]
    fn a_peer_queries_a_burst_at_once_then_at_the_steady_rate() {
        let mut reg = Registry::new(7200, 100, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        let b = register(&mut reg, 2, None, T0).cookie;
        let pace = Pace::new(10, 3); // every 100 ms, 3 at once
                                     // Three at once, then each waits one interval more than the last.
        let waits: Vec<u64> = (0..6).map(|_| reg.pace_query(a, T0, pace)).collect();
        assert_eq!(waits, [0, 0, 0, 100, 200, 300]);
        // Another peer is not held up by a's bookings.
        assert_eq!(reg.pace_query(b, T0, pace), 0);
        // A peer that waits as told is answered at once, at the rate.
        let mut reg = Registry::new(7200, 100, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        for k in 0..3 {
            assert_eq!(reg.pace_query(a, T0, pace), 0, "query {k}");
        }
        for k in 1..=5 {
            assert_eq!(reg.pace_query(a, T0 + 100 * k, pace), 0);
        }
        // After a quiet spell the whole burst is available again.
        let later = T0 + 10_000;
        let waits: Vec<u64> = (0..4).map(|_| reg.pace_query(a, later, pace)).collect();
        assert_eq!(waits, [0, 0, 0, 100]);
        // Bookings long past (the u32 clock wrapped) start afresh.
        let much_later = T0 + 60 * 86_400_000;
        assert_eq!(reg.pace_query(a, much_later, pace), 0);
        // No pacing, an unknown cookie: no wait.
        assert_eq!(reg.pace_query(a, T0, Pace::new(0, 1)), 0);
        assert_eq!(reg.pace_query(42, T0, pace), 0);
    }

    #[test]
    fn a_record_is_88_bytes() {
        assert_eq!(std::mem::size_of::<Record>(), 88);
    }

    #[test]
    fn records_encoded_for_a_snapshot_restore_to_the_same_table() {
        let mut reg = Registry::new(7200, 100, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        register(&mut reg, 1, Some(a), T0 + 1000);
        register_from(&mut reg, "::1".parse().unwrap(), 2, None, T0).unwrap();
        let gone = register(&mut reg, 3, None, T0).cookie;
        leave(&mut reg, gone, T0 + 2);
        let mut bytes = Vec::new();
        let (next, count) = reg.encode_records(0, usize::MAX, &mut bytes);
        assert_eq!((next, count), (None, 3));
        let mut back = Registry::new(7200, 100, 100);
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let done = back.restore_unindexed(rest).unwrap();
            rest = &rest[done.used..];
        }
        back.index_restored().unwrap();
        // By cookie: a record's place in the table may differ.
        let sorted = |reg: &Registry| {
            let mut v = reg.all(T0 + 5);
            v.sort_by_key(|r| r.cookie);
            v.iter_mut().for_each(|r| r.id = 0);
            v
        };
        assert_eq!(sorted(&back), sorted(&reg));
        back.check().unwrap();
        assert!(back.restore_unindexed(&bytes[..10]).is_err());
        // a cookie restored twice is refused
        let mut twice = Registry::new(7200, 100, 100);
        let first_len = twice.restore_unindexed(&bytes).unwrap().used;
        twice.restore_unindexed(&bytes[..first_len]).unwrap();
        assert!(twice.index_restored().unwrap_err().contains("twice"));
    }

    /// One operation of a random history.
    #[derive(Debug, Clone)]
    enum Op {
        Register {
            address: u8,
            port: u16,
            known: Option<usize>,
        },
        KeepAlive(usize),
        Query(usize),
        Leave(usize),
        Expire,
        Wait(u64),
    }

    fn any_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..4, 1u16..6, proptest::option::of(0usize..20))
                .prop_map(|(address, port, known)| Op::Register { address, port, known }),
            2 => (0usize..20).prop_map(Op::KeepAlive),
            1 => (0usize..20).prop_map(Op::Query),
            1 => (0usize..20).prop_map(Op::Leave),
            1 => Just(Op::Expire),
            1 => (0u64..8_000).prop_map(Op::Wait),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_history_keeps_the_indexes_true_and_replays_to_the_same_table(
            ops in proptest::collection::vec(any_op(), 1..80)
        ) {
            let mut reg = Registry::new(5, 8, 3);
            let mut journal: Vec<Event> = Vec::new();
            let mut issued: Vec<Cookie> = Vec::new();
            let mut next = 10_000u64;
            let mut now = T0;
            let mut rng = rng();
            for op in ops {
                match op {
                    Op::Register { address, port, known } => {
                        let cookie = known.and_then(|i| issued.get(i).copied());
                        let address = IpAddr::V4(Ipv4Addr::new(10, 0, 0, address));
                        let decided = reg.decide_register(
                            Registrant::new("h", "L", port, cookie, address), now,
                            || { next += 1; next });
                        if let Ok(decided) = decided {
                            for event in &decided.events {
                                reg.apply(event);
                            }
                            journal.extend(decided.events);
                            issued.push(decided.cookie);
                        }
                    }
                    Op::KeepAlive(i) => {
                        if let Some(event) = issued.get(i).and_then(|c| reg.keep_alive(*c, now).ok()) {
                            journal.push(event);
                        }
                    }
                    Op::Query(i) => {
                        if let Some(c) = issued.get(i) {
                            if let Ok((event, _)) = reg.query(*c, now, 2, &mut rng) {
                                journal.push(event);
                            }
                        }
                    }
                    Op::Leave(i) => {
                        if let Some(Ok(Some(event))) = issued.get(i).map(|c| reg.decide_leave(*c, now)) {
                            reg.apply(&event);
                            journal.push(event);
                        }
                    }
                    Op::Expire => {
                        reg.expire_due(now, 3);
                    }
                    Op::Wait(ms) => now += ms,
                }
                prop_assert!(reg.check().is_ok(), "{:?}", reg.check());
                prop_assert!(reg.len() <= 8);
            }
            // Replaying the journal gives the same records (expiry only
            // takes peers off the list that are inactive already).
            let mut replayed = Registry::new(5, 8, 3);
            for event in &journal {
                replayed.apply(event);
            }
            replayed.check().unwrap();
            // By cookie: a record's place in the table may differ.
            let sorted = |reg: &Registry| {
                let mut v = reg.all(now);
                v.sort_by_key(|r| r.cookie);
                v.iter_mut().for_each(|r| r.id = 0);
                v
            };
            prop_assert_eq!(sorted(&replayed), sorted(&reg));
        }
    }
}

/// A table of `n` peers registered at `now_ms` (`peer-K` on 127.1.x.x),
/// and their cookies: for the timing probes.
#[cfg(test)]
pub(crate) fn filled(n: u32, now_ms: u64) -> (Registry, Vec<Cookie>) {
    let mut registry = Registry::new(7200, 2_000_000, 256);
    let mut next = 1_000_000_000_000_000u64;
    let mut cookies = Vec::new();
    for k in 0..n {
        let address = IpAddr::V4(Ipv4Addr::from(0x7f01_0000 + k));
        let host = format!("peer-{k}");
        let registrant = Registrant::new(&host, "Linux", 65400, None, address);
        let decided = registry
            .decide_register(registrant, now_ms, || {
                next += 7919;
                next
            })
            .expect("room for every peer");
        for e in &decided.events {
            registry.apply(e);
        }
        cookies.push(decided.cookie);
    }
    (registry, cookies)
}

#[cfg(test)]
mod timing {
    use super::*;
    use rand::SeedableRng;

    #[test]
    #[ignore = "a timing probe: cargo test --release -p p2p-di-actors --lib timing -- --ignored --nocapture"]
    fn time_a_thousand_line_reply() {
        let now = 1_795_253_400_000;
        let (mut reg, cookies) = filled(1_000_000, now);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let started = std::time::Instant::now();
        let mut bytes = 0;
        for i in 0..2000 {
            let (_, body) = reg
                .query(cookies[i * 499 % cookies.len()], now + 1, 1000, &mut rng)
                .unwrap();
            bytes += body.unwrap().len();
        }
        let per = started.elapsed() / 2000;
        eprintln!(
            "query: {per:?} per 1000-line reply ({} bytes each)",
            bytes / 2000
        );
        let started = std::time::Instant::now();
        for _ in 0..2000 {
            std::hint::black_box(draw_distinct(
                &mut reg.drawn,
                999_999,
                1000,
                usize::MAX,
                &mut rng,
                |_| true,
            ));
        }
        eprintln!("sample alone: {:?}", started.elapsed() / 2000);
        // The text alone, from fields already at hand.
        let started = std::time::Instant::now();
        let mut body = Vec::with_capacity(72_000);
        for round in 0..2000u32 {
            body.clear();
            for k in 0..1000u32 {
                body.extend_from_slice(b"peer-123456");
                write::peer_tail(
                    IpAddr::V4(Ipv4Addr::from(0x7f01_0000 + k)),
                    65400,
                    7199,
                    1,
                    1_795_253_400 + u64::from(round),
                    &mut body,
                );
            }
            std::hint::black_box(&body);
        }
        eprintln!("text alone: {:?}", started.elapsed() / 2000);
    }
}
