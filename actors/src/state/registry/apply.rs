//! Events applied to the table, and the moves they make: a record
//! activated (its line to the end of the active side, on the endpoint
//! index and its address's count), deactivated (its line to the inactive
//! side, off both, filed for eviction), or dropped. Each costs O(1)
//! whatever the table holds.

use super::index::Endpoint;
use super::names::{boxed, NameId};
use super::record::{AddressKey, Entry, EntryFlags, Host, Line, LineFlags, Slot, THIRTY_DAYS_S};
use super::{Event, EventRef, Registry};
use crate::wire::{write, Cookie};
use std::net::IpAddr;

impl Registry {
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
                    if self.on_active_side(slot) {
                        // Later than before: its wheel entry, earlier,
                        // files it again when swept.
                        let ttl_ms = self.ttl_ms;
                        self.line_mut(slot).deadline_ms = at_ms.saturating_add(ttl_ms);
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

    fn apply_registered(
        &mut self,
        cookie: Cookie,
        host: &str,
        os: &str,
        port: u16,
        address: IpAddr,
        at_ms: u64,
    ) {
        let key = self.intern_address(address);
        // Kept as they go on the wire, so a peer list copies them as they are.
        let host = Host::keep(&write::sanitize(host), &mut self.names);
        let os = self.names.intern(&*write::sanitize(os), boxed);
        let slot = match self.slot_of(cookie) {
            Some(slot) => {
                self.deactivate(slot);
                self.release_names(slot);
                let last = self.line(slot).last_registered_s;
                self.inactive.remove(&(last, slot));
                slot
            }
            None => self.insert(cookie),
        };
        let at_s = (at_ms / 1000) as u32;
        self.entries[slot.index()].os = os;
        let ttl_ms = self.ttl_ms;
        let line = self.line_mut(slot);
        line.host = host;
        line.port = port;
        line.address = key.bits;
        let spilled = line.flags.spilled();
        line.flags = LineFlags::with_v6(key.v6);
        line.flags.set_spilled(spilled);
        line.deadline_ms = at_ms.saturating_add(ttl_ms);
        self.count_registration(slot, at_s);
        // One port serves one peer at a time: whoever else was active on
        // this address and port goes (normally a Left event did it).
        if let Some(taken) = self.activate(slot) {
            self.deactivate(taken);
        }
        self.file(slot);
    }

    /// The key of `address`, its IPv6 form interned (one use counted).
    pub(super) fn intern_address(&mut self, address: IpAddr) -> AddressKey {
        match address {
            IpAddr::V4(v4) => AddressKey {
                v6: false,
                bits: u32::from(v4),
            },
            IpAddr::V6(v6) => AddressKey {
                v6: true,
                bits: self.v6.intern(&v6, |v| *v).get(),
            },
        }
    }

    /// Counts a registration at `at_s`, forgetting those 30 days older:
    /// two times in the line, more in the spill map.
    fn count_registration(&mut self, slot: Slot, at_s: u32) {
        let since = at_s.saturating_sub(THIRTY_DAYS_S);
        let line = self.line_mut(slot);
        if line.flags.spilled() {
            line.last_registered_s = at_s;
            let mut times = self.spilled.remove(&slot).unwrap_or_default();
            times.retain(|t| *t > since);
            times.push(at_s);
            self.keep_times(slot, &times);
            return;
        }
        let (previous, last) = (line.previous_s, line.last_registered_s);
        if previous > since && previous != 0 {
            // A third within the window.
            line.last_registered_s = at_s;
            line.flags.set_spilled(true);
            self.spilled.insert(slot, vec![previous, last, at_s]);
        } else {
            line.previous_s = if last > since { last } else { 0 };
            line.last_registered_s = at_s;
        }
    }

    /// Keeps `times` (oldest first, the latest last) for `slot`: in its
    /// line if two or fewer, else spilled.
    pub(super) fn keep_times(&mut self, slot: Slot, times: &[u32]) {
        let line = self.line_mut(slot);
        line.previous_s = match times {
            [previous, _, ..] => *previous,
            _ => 0,
        };
        let spilled = times.len() > 2;
        if spilled || line.flags.spilled() {
            line.flags.set_spilled(spilled);
            if spilled {
                self.spilled.insert(slot, times.to_vec());
            } else {
                self.spilled.remove(&slot);
            }
        }
    }

    /// Gives back the names the record in `slot` holds.
    fn release_names(&mut self, slot: Slot) {
        let (os, host, line) = {
            let line = self.line(slot);
            (self.entry(slot).os, line.host, line.clone())
        };
        host.release(&mut self.names);
        self.names.release(os);
        if line.flags.v6() {
            self.v6.release(NameId::from(line.address));
        }
    }

    /// A new record for `cookie`, inactive, its line last, on no index but
    /// the cookie table.
    pub(super) fn insert(&mut self, cookie: Cookie) -> Slot {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.entries.push(Entry::FREE);
                Slot((self.entries.len() - 1) as u32)
            }
        };
        let at = self.lines.len() as u32;
        self.lines.push(Line {
            deadline_ms: 0,
            host: Host::EMPTY,
            last_registered_s: 0,
            previous_s: 0,
            address: 0,
            port: 0,
            flags: LineFlags::default(),
            slot,
        });
        let entry = &mut self.entries[slot.index()];
        let filed = entry.flags.filed();
        *entry = Entry {
            cookie,
            os: NameId::NONE,
            query_due_ms: 0,
            line: at,
            flags: EntryFlags::default(),
        };
        entry.flags.set_used(true);
        entry.flags.set_filed(filed);
        let entries = &self.entries;
        self.by_cookie
            .insert(cookie, slot, |s| entries[s.index()].cookie);
        slot
    }

    /// Swaps the lines at positions `a` and `b`, keeping their entries
    /// pointing at them.
    fn swap_lines(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        self.lines.swap(a, b);
        let (slot_a, slot_b) = (self.lines[a].slot, self.lines[b].slot);
        self.entries[slot_a.index()].line = a as u32;
        self.entries[slot_b.index()].line = b as u32;
    }

    /// Moves an inactive record to the active side: its line to the end of
    /// the active lines, onto the endpoint index and its address's count.
    /// Returns the record that was at its address and port, still on the
    /// active side but no longer on the endpoint index: the caller
    /// deactivates it.
    pub(super) fn activate(&mut self, slot: Slot) -> Option<Slot> {
        if self.on_active_side(slot) {
            return None;
        }
        let at = self.entry(slot).line as usize;
        self.swap_lines(at, self.active);
        self.active += 1;
        let endpoint = Endpoint {
            address: self.line(slot).address_key(),
            port: self.line(slot).port,
        };
        self.per_address.increment(endpoint.address);
        let (entries, lines) = (&self.entries, &self.lines);
        self.by_endpoint
            .claim(endpoint, slot, |s| Registry::endpoint_of(entries, lines, s))
    }

    /// Moves an active record to the inactive side: off the endpoint index
    /// and its address's count, filed for eviction.
    pub(super) fn deactivate(&mut self, slot: Slot) {
        if !self.on_active_side(slot) {
            return;
        }
        let line = self.line(slot);
        let endpoint = Endpoint {
            address: line.address_key(),
            port: line.port,
        };
        let last = line.last_registered_s;
        self.by_endpoint.remove(endpoint, slot);
        self.per_address.decrement(endpoint.address);
        let at = self.entry(slot).line as usize;
        self.active -= 1;
        self.swap_lines(at, self.active);
        self.inactive.insert((last, slot));
    }

    /// Drops a record altogether.
    pub(super) fn remove(&mut self, slot: Slot) {
        self.deactivate(slot);
        self.release_names(slot);
        let cookie = self.entry(slot).cookie;
        let last = self.line(slot).last_registered_s;
        self.inactive.remove(&(last, slot));
        self.by_cookie.remove(cookie, slot);
        self.spilled.remove(&slot);
        // Its line goes: the last line takes its place.
        let at = self.entry(slot).line as usize;
        let end = self.lines.len() - 1;
        self.swap_lines(at, end);
        self.lines.pop();
        let entry = &mut self.entries[slot.index()];
        let filed = entry.flags.filed();
        *entry = Entry::FREE;
        entry.flags.set_filed(filed);
        // A slot still in the wheel is freed when the sweep takes it out,
        // so that a new record never inherits its entry.
        if filed {
            self.unfreed += 1;
        } else {
            self.free.push(slot);
        }
    }
}
