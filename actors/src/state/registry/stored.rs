//! Records as a snapshot keeps them, out of the table and back in: typed
//! values only (the bytes are `rs::format`'s). A table is restored in
//! three steps, so that recovery can build the cookie index on a second
//! core meanwhile: [`Registry::restore`] every record, then
//! [`Registry::index_restored`] and [`CookieIndex::build`] of
//! [`Registry::restored_cookies`], then [`Registry::install_cookie_index`].

use super::index::{CookieIndex, Endpoint};
use super::names::boxed;
use super::record::{Entry, EntryFlags, Host, Line, LineFlags, Slot};
use super::Registry;
use crate::wire::{write, Cookie};
use std::net::IpAddr;

/// A record as a snapshot keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRecord<'a> {
    /// Its cookie.
    pub cookie: Cookie,
    /// When its TTL runs out, if it is active.
    pub deadline_ms: Option<u64>,
    /// Its latest registration, in seconds since the epoch.
    pub last_registered_s: u32,
    /// Its RFC server's port.
    pub port: u16,
    /// The address its latest registration came from.
    pub address: IpAddr,
    /// Its host name.
    pub host: &'a str,
    /// Its OS.
    pub os: &'a str,
    /// Its registration times, oldest first.
    pub registrations: &'a [u32],
}

/// Why a table could not be restored.
pub type RestoreError = super::index::DuplicateCookie;

impl Registry {
    /// Calls `each` with every record of slots `from..from + max`; returns
    /// the slot to go on from (`None` at the end).
    pub fn stored(
        &self,
        from: usize,
        max: usize,
        mut each: impl FnMut(StoredRecord<'_>),
    ) -> Option<usize> {
        let end = self.entries.len().min(from.saturating_add(max));
        for slot in from.min(end)..end {
            let entry = &self.entries[slot];
            if !entry.flags.used() {
                continue;
            }
            let slot = Slot(slot as u32);
            let line = self.line(slot);
            let times = self.times(slot);
            each(StoredRecord {
                cookie: entry.cookie,
                deadline_ms: self.on_active_side(slot).then_some(line.deadline_ms),
                last_registered_s: line.last_registered_s,
                port: line.port,
                address: self.address_of(line),
                host: line.host.as_str(&self.names),
                os: self.names.get(entry.os),
                registrations: times.as_slice(),
            });
        }
        (end < self.entries.len()).then_some(end)
    }

    /// Restores `record` into the next slot of a table being restored,
    /// indexed by nothing yet.
    pub fn restore(&mut self, record: &StoredRecord<'_>) -> Slot {
        let key = self.intern_address(record.address);
        let host = Host::keep(&write::sanitize(record.host), &mut self.names);
        let os = self.names.intern(&*write::sanitize(record.os), boxed);
        let slot = Slot(self.entries.len() as u32);
        let mut flags = EntryFlags::default();
        flags.set_used(true);
        self.entries.push(Entry {
            cookie: record.cookie,
            os,
            query_due_ms: 0,
            line: self.lines.len() as u32,
            flags,
        });
        self.lines.push(Line {
            // Until `index_restored` moves them, restored lines tell active
            // from inactive by their deadline: 0 for an inactive record.
            deadline_ms: record.deadline_ms.map_or(0, |d| d.max(1)),
            host,
            last_registered_s: record.last_registered_s,
            previous_s: 0,
            address: key.bits,
            port: record.port,
            flags: LineFlags::with_v6(key.v6),
            slot,
        });
        self.keep_times(slot, record.registrations);
        slot
    }

    /// The cookies of a restored table, slot by slot.
    pub fn restored_cookies(&self) -> Vec<Cookie> {
        self.entries.iter().map(|e| e.cookie).collect()
    }

    /// Indexes a restored table but for its cookies: the active records
    /// moved to the active side, on the endpoint index and their
    /// addresses' counts and in the wheel; the inactive ones filed for
    /// eviction. Two active records at one address and port are both kept
    /// (a snapshot written while the table served can hold both; the
    /// journal's replay settles it, and [`Registry::check`] after it says
    /// if it did not).
    pub fn index_restored(&mut self) {
        let records = self.lines.len();
        let (entries, lines) = (&self.entries, &self.lines);
        self.by_endpoint
            .reserve(records, |s| Registry::endpoint_of(entries, lines, s));
        self.per_address.reserve(records);
        for at in 0..records {
            if self.lines[at].deadline_ms > 0 {
                let slot = self.lines[at].slot;
                self.activate_restored(slot);
            }
        }
        for at in self.active..records {
            let line = &self.lines[at];
            self.inactive.insert((line.last_registered_s, line.slot));
        }
        self.file_all_active();
    }

    fn activate_restored(&mut self, slot: Slot) {
        let at = self.entries[slot.index()].line as usize;
        let to = self.active;
        if at != to {
            self.lines.swap(at, to);
            let moved = self.lines[at].slot;
            self.entries[moved.index()].line = at as u32;
            self.entries[slot.index()].line = to as u32;
        }
        self.active += 1;
        let line = &self.lines[to];
        let endpoint = Endpoint {
            address: line.address_key(),
            port: line.port,
        };
        let (entries, lines) = (&self.entries, &self.lines);
        self.by_endpoint
            .insert(endpoint, slot, |s| Registry::endpoint_of(entries, lines, s));
        self.per_address.increment(endpoint.address);
    }

    /// Installs the cookie index of a restored table.
    pub fn install_cookie_index(&mut self, cookies: CookieIndex) {
        self.by_cookie = cookies;
    }

    /// Makes room for `records` more records, and their lookups, at once
    /// (recovery knows how many, or at most how many).
    pub fn reserve(&mut self, records: usize) {
        self.entries.reserve(records);
        self.lines.reserve(records);
        self.names.reserve(records.min(1 << 16));
        let entries = &self.entries;
        self.by_cookie
            .reserve(records, |s| entries[s.index()].cookie);
        let (entries, lines) = (&self.entries, &self.lines);
        self.by_endpoint
            .reserve(records, |s| Registry::endpoint_of(entries, lines, s));
        self.per_address.reserve(records);
    }

    /// Gives back what [`Registry::reserve`] took beyond twice what is
    /// used.
    pub fn shrink_reserved(&mut self) {
        let records = self.lines.len();
        if self.entries.capacity() > 2 * records.max(1024) {
            self.entries.shrink_to(records);
            self.lines.shrink_to(records);
            let entries = &self.entries;
            self.by_cookie
                .shrink_to(records, |s| entries[s.index()].cookie);
            let (entries, lines) = (&self.entries, &self.lines);
            self.by_endpoint
                .shrink_to(records, |s| Registry::endpoint_of(entries, lines, s));
            self.per_address.shrink_to(self.active);
        }
    }
}
