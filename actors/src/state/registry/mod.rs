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
//! A peer is active while its line is on the active side and its deadline
//! is ahead of `now`: a peer whose TTL ran out is inactive at once, whether
//! or not [`Registry::expire_due`] has moved it yet.
//!
//! # Layout
//!
//! - `event.rs`: events, inputs, outcomes, refusals, views.
//! - `record.rs`: a record's entry (stable slot) and line (dense), slots.
//! - `names.rs`: interned names and IPv6 addresses.
//! - `index.rs`: lookups by cookie, by address and port, counts by address.
//! - `decide.rs`: REGISTER, KEEPALIVE, LEAVE decided on the table.
//! - `apply.rs`: events applied; records activated, deactivated, dropped.
//! - `wheel.rs`: deadlines by second, and the expiry sweep.
//! - `sample.rs`, `lines.rs`: a PQUERY's windows and its lines.
//! - `pace.rs`: how often one peer may PQUERY.
//! - `stored.rs`: records as a snapshot keeps them, out and back in.
//! - `check.rs`: the invariants, checked.
//!
//! # Memory
//!
//! A record is a 24-byte entry in its slot and a 48-byte line, its host
//! name in the line when the name has 19 bytes or fewer (as almost all
//! have). The lookups hold 4-byte slots (a cookie table, an endpoint table
//! of active records), an address's active count is 8 bytes, and the
//! timing wheel holds a slot per active record. OS names, longer host
//! names and IPv6 addresses are interned. See `cargo bench --bench
//! rs_scale` for what a peer costs at a million.
//!
//! Every lookup and every change costs the same however many peers share
//! an address: nothing walks the records of an address (the tests count
//! the records each operation visits).

mod apply;
mod check;
mod decide;
mod event;
mod index;
mod lines;
mod names;
mod pace;
mod record;
mod sample;
mod stored;
mod wheel;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_history;
#[cfg(test)]
pub(crate) use tests_history::filled;

pub use check::Inconsistency;
pub use event::{
    Event, EventRef, Expiry, PeerView, Queried, Registrant, Registration, RegistryCounts,
    RegistryError,
};
pub use index::{CookieIndex, DuplicateCookie};
pub use pace::Pace;
pub use record::{Slot, Times};
pub use stored::{RestoreError, StoredRecord};

use index::{AddressCounts, Endpoint, EndpointIndex};
use names::Interner;
use record::{Entry, Line};
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use wheel::Wheel;

/// The peer table.
#[derive(Debug, Clone)]
pub struct Registry {
    ttl_ms: u64,
    max_peers: usize,
    max_peers_per_address: usize,
    /// Records by slot; free slots have a free entry.
    entries: Vec<Entry>,
    free: Vec<Slot>,
    /// Slots of dropped records waiting for their wheel entry to go.
    unfreed: usize,
    /// Every record's line: the active ones in `..active`, the inactive
    /// ones after.
    lines: Vec<Line>,
    active: usize,
    /// The registration times of records with more than two in 30 days.
    spilled: HashMap<Slot, Vec<u32>>,
    by_cookie: CookieIndex,
    by_endpoint: EndpointIndex,
    per_address: AddressCounts,
    wheel: Wheel,
    /// (last registration second, slot) of every inactive record: the
    /// eviction order.
    inactive: BTreeSet<(u32, Slot)>,
    names: Interner<Box<str>>,
    v6: Interner<Ipv6Addr>,
    /// Records read by lookups and changes (the tests' measure of work).
    #[cfg(test)]
    visits: std::cell::Cell<u64>,
}

impl Registry {
    /// An empty table with TTL `ttl_secs`, room for `max_peers` records, and
    /// at most `max_peers_per_address` active peers from one address.
    pub fn new(ttl_secs: u64, max_peers: usize, max_peers_per_address: usize) -> Self {
        Registry {
            ttl_ms: ttl_secs.saturating_mul(1000),
            max_peers: max_peers.max(1),
            max_peers_per_address: max_peers_per_address.max(1),
            entries: Vec::new(),
            free: Vec::new(),
            unfreed: 0,
            lines: Vec::new(),
            active: 0,
            spilled: HashMap::new(),
            by_cookie: CookieIndex::default(),
            by_endpoint: EndpointIndex::default(),
            per_address: AddressCounts::default(),
            wheel: Wheel::default(),
            inactive: BTreeSet::new(),
            names: Interner::new(),
            v6: Interner::new(),
            #[cfg(test)]
            visits: std::cell::Cell::new(0),
        }
    }

    /// Number of records, active or not.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// What the table holds.
    pub fn counts(&self) -> RegistryCounts {
        RegistryCounts {
            records: self.len(),
            active: self.active,
            names: self.names.len(),
            wheel_entries: self.wheel.len(),
        }
    }

    /// Counts one record read (the tests' measure of work).
    fn visit(&self) {
        #[cfg(test)]
        self.visits.set(self.visits.get() + 1);
    }

    fn entry(&self, slot: Slot) -> &Entry {
        self.visit();
        &self.entries[slot.index()]
    }

    /// The line of the record in `slot`.
    fn line(&self, slot: Slot) -> &Line {
        &self.lines[self.entry(slot).line as usize]
    }

    fn line_mut(&mut self, slot: Slot) -> &mut Line {
        self.visit();
        let at = self.entries[slot.index()].line as usize;
        &mut self.lines[at]
    }

    /// Whether the record in `slot` is on the active side.
    fn on_active_side(&self, slot: Slot) -> bool {
        (self.entry(slot).line as usize) < self.active
    }

    /// Whether the record in `slot` is active at `now_ms`.
    fn is_active(&self, slot: Slot, now_ms: u64) -> bool {
        self.on_active_side(slot) && self.line(slot).alive(now_ms)
    }

    fn slot_of(&self, cookie: Cookie) -> Option<Slot> {
        let entries = &self.entries;
        self.by_cookie.find(cookie, |s| {
            self.visit();
            entries[s.index()].cookie
        })
    }

    /// The endpoint of the record in `slot`.
    fn endpoint_of(entries: &[Entry], lines: &[Line], slot: Slot) -> Endpoint {
        let line = &lines[entries[slot.index()].line as usize];
        Endpoint {
            address: line.address_key(),
            port: line.port,
        }
    }

    /// The active record at `endpoint`.
    fn at_endpoint(&self, endpoint: Endpoint) -> Option<Slot> {
        let (entries, lines) = (&self.entries, &self.lines);
        self.by_endpoint.find(endpoint, |s| {
            self.visit();
            Self::endpoint_of(entries, lines, s)
        })
    }

    /// The key of `address` if it is known (an IPv6 address not interned
    /// has no record).
    fn address_key(&self, address: IpAddr) -> Option<record::AddressKey> {
        match address {
            IpAddr::V4(v4) => Some(record::AddressKey {
                v6: false,
                bits: u32::from(v4),
            }),
            IpAddr::V6(v6) => self.v6.find(&v6).map(|id| record::AddressKey {
                v6: true,
                bits: id.get(),
            }),
        }
    }

    fn address_of(&self, line: &Line) -> IpAddr {
        if line.flags.v6() {
            IpAddr::V6(*self.v6.get(names::NameId::from(line.address)))
        } else {
            IpAddr::V4(Ipv4Addr::from(line.address))
        }
    }

    /// The registration times of the record in `slot`.
    fn times(&self, slot: Slot) -> Times<'_> {
        let line = self.line(slot);
        if line.flags.spilled() {
            return Times::Spilled(self.spilled.get(&slot).map_or(&[][..], Vec::as_slice));
        }
        match (line.previous_s, line.last_registered_s) {
            (_, 0) => Times::Inline {
                len: 0,
                times: [0; 2],
            },
            (0, last) => Times::Inline {
                len: 1,
                times: [last, 0],
            },
            (previous, last) => Times::Inline {
                len: 2,
                times: [previous, last],
            },
        }
    }

    /// The record of `cookie` at `now_ms`.
    pub fn view(&self, cookie: Cookie, now_ms: u64) -> Option<PeerView> {
        self.slot_of(cookie)
            .map(|slot| self.view_slot(slot, now_ms))
    }

    fn view_slot(&self, slot: Slot, now_ms: u64) -> PeerView {
        let (entry, line) = (self.entry(slot), self.line(slot));
        let active = self.is_active(slot, now_ms);
        PeerView {
            id: slot.get(),
            cookie: entry.cookie,
            host: line.host.as_str(&self.names).to_owned(),
            os: self.names.get(entry.os).to_string(),
            port: line.port,
            address: self.address_of(line),
            active,
            ttl_secs: if active { line.ttl_secs(now_ms) } else { 0 },
            registrations_30d: self.times(slot).within_30_days((now_ms / 1000) as u32),
            last_registered_unix_secs: u64::from(line.last_registered_s),
        }
    }

    /// Up to `limit` records from slot `from` on, and the slot to go on
    /// from (a cursor for paging; `None` at the end).
    pub fn views(&self, from: usize, limit: usize, now_ms: u64) -> (Vec<PeerView>, Option<usize>) {
        let mut views = Vec::new();
        let mut slot = from;
        while slot < self.entries.len() && views.len() < limit {
            if self.entries[slot].flags.used() {
                views.push(self.view_slot(Slot(slot as u32), now_ms));
            }
            slot += 1;
        }
        let next = (slot < self.entries.len()).then_some(slot);
        (views, next)
    }

    /// Every record at `now_ms`, in slot order (for tests and small tables).
    pub fn all(&self, now_ms: u64) -> Vec<PeerView> {
        self.views(0, usize::MAX, now_ms).0
    }

    /// The slot of `cookie` (recovery keeps per-slot facts).
    pub fn slot_index(&self, cookie: Cookie) -> Option<usize> {
        self.slot_of(cookie).map(Slot::index)
    }
}

use crate::wire::Cookie;
