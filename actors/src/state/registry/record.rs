//! One peer's record, in two parts: its [`Entry`] in a stable [`Slot`]
//! (who it is, and what the RS keeps that no peer list shows), and its
//! [`Line`] (everything a peer-list line shows), kept densely in the
//! table's lines with the active ones first, so a sample reads whole runs
//! of lines and nothing else.

use super::names::{Interner, NameId};
use crate::wire::Cookie;

/// A record's place in the table: a stable key while the RS runs (tools
/// page by it; the timing wheel and the eviction order name records by
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(pub(super) u32);

impl Slot {
    /// The slot's number.
    pub fn get(self) -> u32 {
        self.0
    }

    pub(super) fn index(self) -> usize {
        self.0 as usize
    }
}

/// A record's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct EntryFlags(u8);

impl EntryFlags {
    const USED: u8 = 1;
    /// The record has its (one) entry in the timing wheel.
    const FILED: u8 = 2;

    pub(super) fn used(self) -> bool {
        self.0 & Self::USED != 0
    }

    pub(super) fn filed(self) -> bool {
        self.0 & Self::FILED != 0
    }

    pub(super) fn set_used(&mut self, used: bool) {
        self.set(Self::USED, used);
    }

    pub(super) fn set_filed(&mut self, filed: bool) {
        self.set(Self::FILED, filed);
    }

    fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
}

/// A record's stable part, in its slot: 24 bytes.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) cookie: Cookie,
    pub(super) os: NameId,
    /// PQUERY pacing: when this peer's next query is due at the steady
    /// rate, in ms since the epoch, wrapping (0: never asked). Not saved.
    pub(super) query_due_ms: u32,
    /// Where its line is.
    pub(super) line: u32,
    pub(super) flags: EntryFlags,
}

impl Entry {
    /// A free slot's entry.
    pub(super) const FREE: Entry = Entry {
        cookie: 0,
        os: NameId::NONE,
        query_due_ms: 0,
        line: 0,
        flags: EntryFlags(0),
    };
}

/// How a line's address and registration times are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct LineFlags(u8);

impl LineFlags {
    /// The address is an IPv6 address's interned id.
    const V6: u8 = 1;
    /// The registration times are in the table's spill map.
    const SPILLED: u8 = 2;

    pub(super) fn v6(self) -> bool {
        self.0 & Self::V6 != 0
    }

    pub(super) fn spilled(self) -> bool {
        self.0 & Self::SPILLED != 0
    }

    pub(super) fn with_v6(v6: bool) -> Self {
        LineFlags(if v6 { Self::V6 } else { 0 })
    }

    pub(super) fn set_spilled(&mut self, spilled: bool) {
        if spilled {
            self.0 |= Self::SPILLED;
        } else {
            self.0 &= !Self::SPILLED;
        }
    }
}

/// What a peer-list line shows, kept together: 48 bytes.
#[derive(Debug, Clone)]
pub(super) struct Line {
    /// When its TTL runs out, in ms since the epoch (meaningful while
    /// active).
    pub(super) deadline_ms: u64,
    pub(super) host: Host,
    /// Its latest registration, in seconds since the epoch.
    pub(super) last_registered_s: u32,
    /// The registration before it, if there was one (0: none); unused
    /// when the times are spilled.
    pub(super) previous_s: u32,
    /// An IPv4 address's bits, or an IPv6 address's interned id.
    pub(super) address: u32,
    pub(super) port: u16,
    pub(super) flags: LineFlags,
    /// The slot whose line this is.
    pub(super) slot: Slot,
}

impl Line {
    /// Whether its TTL has not run out at `now_ms` (the table says whether
    /// it is on the active side at all).
    pub(super) fn alive(&self, now_ms: u64) -> bool {
        self.deadline_ms > now_ms
    }

    /// Seconds of TTL left at `now_ms`, rounded up.
    pub(super) fn ttl_secs(&self, now_ms: u64) -> u64 {
        self.deadline_ms.saturating_sub(now_ms).div_ceil(1000)
    }

    /// The address's key in the table's indexes: kind and bits.
    pub(super) fn address_key(&self) -> AddressKey {
        AddressKey {
            v6: self.flags.v6(),
            bits: self.address,
        }
    }
}

/// An address as the indexes key it: an IPv4 address's bits, or an IPv6
/// address's interned id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct AddressKey {
    pub(super) v6: bool,
    pub(super) bits: u32,
}

/// A host name: in the line when it fits (19 bytes or fewer, as almost
/// all do), else interned in the table's names, `len` being `LONG` and
/// `bytes` holding the id. A name in the line costs no lookup and no
/// allocation of its own, and a peer list reads it with its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Host {
    len: u8,
    bytes: [u8; 19],
}

impl Host {
    const LONG: u8 = u8::MAX;
    pub(super) const EMPTY: Host = Host {
        len: 0,
        bytes: [0; 19],
    };

    /// `name`, in place or interned in `names`.
    pub(super) fn keep(name: &str, names: &mut Interner<Box<str>>) -> Host {
        let mut host = Host::EMPTY;
        if let Some(to) = host.bytes.get_mut(..name.len()) {
            to.copy_from_slice(name.as_bytes());
            host.len = name.len() as u8;
        } else {
            let id = names.intern(name, super::names::boxed);
            // The id in the name's place, in this process's memory only
            // (the disk format is rs/format.rs's, which writes the name).
            host.bytes[..4].copy_from_slice(&id.get().to_ne_bytes());
            host.len = Self::LONG;
        }
        host
    }

    fn interned(&self) -> Option<NameId> {
        let [a, b, c, d, ..] = self.bytes;
        (self.len == Self::LONG).then_some(NameId::from(u32::from_ne_bytes([a, b, c, d])))
    }

    pub(super) fn as_str<'a>(&'a self, names: &'a Interner<Box<str>>) -> &'a str {
        // Only ever copied from a `&str` whole, so valid UTF-8.
        std::str::from_utf8(self.as_bytes(names)).unwrap_or("")
    }

    /// The name's bytes, as a peer list copies them (no check: it was a
    /// `&str` when kept).
    pub(super) fn as_bytes<'a>(&'a self, names: &'a Interner<Box<str>>) -> &'a [u8] {
        match self.interned() {
            Some(id) => names.get(id).as_bytes(),
            None => &self.bytes[..usize::from(self.len)],
        }
    }

    /// Gives back its interned name, if it has one.
    pub(super) fn release(self, names: &mut Interner<Box<str>>) {
        if let Some(id) = self.interned() {
            names.release(id);
        }
    }
}

/// The registration window: 30 days.
pub(super) const THIRTY_DAYS_S: u32 = 30 * 24 * 3600;

/// A record's registration times as stored: oldest first, the latest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times<'a> {
    /// Up to two, in the line.
    Inline {
        /// How many.
        len: u8,
        /// The times.
        times: [u32; 2],
    },
    /// More, kept aside.
    Spilled(&'a [u32]),
}

impl Times<'_> {
    /// The times.
    pub fn as_slice(&self) -> &[u32] {
        match self {
            Times::Inline { len, times } => &times[..usize::from(*len)],
            Times::Spilled(times) => times,
        }
    }

    /// How many fall in the 30 days before `now_s`.
    pub fn within_30_days(&self, now_s: u32) -> u32 {
        let since = now_s.saturating_sub(THIRTY_DAYS_S);
        self.as_slice().iter().filter(|t| **t > since).count() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_24_bytes_and_a_line_48() {
        assert_eq!(std::mem::size_of::<Entry>(), 24);
        assert_eq!(std::mem::size_of::<Line>(), 48);
    }

    #[test]
    fn a_host_of_19_bytes_fits_and_one_of_20_is_interned() {
        let mut names = Interner::new();
        let short = Host::keep("a-host-of-19-bytes.", &mut names);
        assert_eq!(short.as_str(&names), "a-host-of-19-bytes.");
        assert_eq!(names.len(), 0);
        let long = Host::keep("a-host-of-20-bytes..", &mut names);
        assert_eq!(long.as_str(&names), "a-host-of-20-bytes..");
        assert_eq!(names.len(), 1);
        long.release(&mut names);
        assert_eq!(names.len(), 0);
    }
}
