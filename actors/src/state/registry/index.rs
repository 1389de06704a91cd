//! The table's lookups, each O(1) whatever the table holds: a record by
//! cookie, the active record at an address and port, and how many active
//! records an address has. They hold 4-byte slots (or counts) and find a
//! slot's key through the records, so they cost a few bytes a peer.

use super::record::{AddressKey, Slot};
use crate::wire::Cookie;
use hashbrown::hash_table::Entry as TableEntry;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// Records by cookie. Cookies are random, so one multiplication spreads
/// them over the table's buckets and tags (hashbrown reads a hash's top
/// bits as a tag, which a cookie below 2^63 would leave one bit short).
#[derive(Debug, Clone, Default)]
pub struct CookieIndex(HashTable<Slot>);

fn spread(cookie: Cookie) -> u64 {
    cookie.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A cookie found in two records while building a [`CookieIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cookie {0} is in two records")]
pub struct DuplicateCookie(pub Cookie);

impl CookieIndex {
    /// The index of `cookies`, slot `i` holding `cookies[i]`: a restored
    /// table's, built apart from the table (recovery builds it on a second
    /// core while the table indexes the rest).
    pub fn build(cookies: &[Cookie]) -> Result<CookieIndex, DuplicateCookie> {
        let mut table = HashTable::with_capacity(cookies.len());
        for (slot, &cookie) in cookies.iter().enumerate() {
            match table.entry(
                spread(cookie),
                |s: &Slot| cookies[s.index()] == cookie,
                |s: &Slot| spread(cookies[s.index()]),
            ) {
                TableEntry::Occupied(_) => return Err(DuplicateCookie(cookie)),
                TableEntry::Vacant(vacant) => {
                    vacant.insert(Slot(slot as u32));
                }
            }
        }
        Ok(CookieIndex(table))
    }

    pub(super) fn find(&self, cookie: Cookie, cookie_of: impl Fn(Slot) -> Cookie) -> Option<Slot> {
        self.0
            .find(spread(cookie), |s| cookie_of(*s) == cookie)
            .copied()
    }

    pub(super) fn insert(
        &mut self,
        cookie: Cookie,
        slot: Slot,
        cookie_of: impl Fn(Slot) -> Cookie,
    ) {
        self.0
            .insert_unique(spread(cookie), slot, |s| spread(cookie_of(*s)));
    }

    pub(super) fn remove(&mut self, cookie: Cookie, slot: Slot) {
        if let Ok(entry) = self.0.find_entry(spread(cookie), |s| *s == slot) {
            entry.remove();
        }
    }

    pub(super) fn reserve(&mut self, more: usize, cookie_of: impl Fn(Slot) -> Cookie) {
        self.0.reserve(more, |s| spread(cookie_of(*s)));
    }

    pub(super) fn shrink_to(&mut self, len: usize, cookie_of: impl Fn(Slot) -> Cookie) {
        self.0.shrink_to(len, |s| spread(cookie_of(*s)));
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

/// An address and a port, as the endpoint index keys them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Endpoint {
    pub(super) address: AddressKey,
    pub(super) port: u16,
}

/// The active record at each address and port: one port serves one peer
/// at a time.
#[derive(Debug, Clone, Default)]
pub(super) struct EndpointIndex {
    table: HashTable<Slot>,
    hasher: DefaultHashBuilder,
}

impl EndpointIndex {
    pub(super) fn find(
        &self,
        endpoint: Endpoint,
        endpoint_of: impl Fn(Slot) -> Endpoint,
    ) -> Option<Slot> {
        let hash = self.hasher.hash_one(endpoint);
        self.table
            .find(hash, |s| endpoint_of(*s) == endpoint)
            .copied()
    }

    /// Files `slot` at `endpoint`, in one probe; returns the record filed
    /// there before, if any (no longer filed).
    pub(super) fn claim(
        &mut self,
        endpoint: Endpoint,
        slot: Slot,
        endpoint_of: impl Fn(Slot) -> Endpoint,
    ) -> Option<Slot> {
        let hasher = &self.hasher;
        let hash = hasher.hash_one(endpoint);
        match self.table.entry(
            hash,
            |s| endpoint_of(*s) == endpoint,
            |s| hasher.hash_one(endpoint_of(*s)),
        ) {
            TableEntry::Occupied(mut entry) => Some(std::mem::replace(entry.get_mut(), slot)),
            TableEntry::Vacant(vacant) => {
                vacant.insert(slot);
                None
            }
        }
    }

    /// Files `slot` at `endpoint`, beside any record there (a restored
    /// snapshot may hold two until replay settles them).
    pub(super) fn insert(
        &mut self,
        endpoint: Endpoint,
        slot: Slot,
        endpoint_of: impl Fn(Slot) -> Endpoint,
    ) {
        let hasher = &self.hasher;
        let hash = hasher.hash_one(endpoint);
        self.table
            .insert_unique(hash, slot, |s| hasher.hash_one(endpoint_of(*s)));
    }

    pub(super) fn remove(&mut self, endpoint: Endpoint, slot: Slot) {
        let hash = self.hasher.hash_one(endpoint);
        if let Ok(entry) = self.table.find_entry(hash, |s| *s == slot) {
            entry.remove();
        }
    }

    pub(super) fn reserve(&mut self, more: usize, endpoint_of: impl Fn(Slot) -> Endpoint) {
        let hasher = &self.hasher;
        self.table
            .reserve(more, |s| hasher.hash_one(endpoint_of(*s)));
    }

    pub(super) fn shrink_to(&mut self, len: usize, endpoint_of: impl Fn(Slot) -> Endpoint) {
        let hasher = &self.hasher;
        self.table
            .shrink_to(len, |s| hasher.hash_one(endpoint_of(*s)));
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }
}

/// How many active records each address has (only addresses with one or
/// more): IPv4 addresses by their bits, IPv6 ones by their interned id.
#[derive(Debug, Clone, Default)]
pub(super) struct AddressCounts {
    v4: HashTable<(u32, u32)>,
    v6: HashTable<(u32, u32)>,
    hasher: DefaultHashBuilder,
}

impl AddressCounts {
    fn table(&mut self, address: AddressKey) -> (&mut HashTable<(u32, u32)>, &DefaultHashBuilder) {
        let table = if address.v6 {
            &mut self.v6
        } else {
            &mut self.v4
        };
        (table, &self.hasher)
    }

    pub(super) fn get(&self, address: AddressKey) -> u32 {
        let table = if address.v6 { &self.v6 } else { &self.v4 };
        let hash = self.hasher.hash_one(address.bits);
        table
            .find(hash, |(bits, _)| *bits == address.bits)
            .map_or(0, |(_, count)| *count)
    }

    pub(super) fn increment(&mut self, address: AddressKey) {
        let (table, hasher) = self.table(address);
        let hash = hasher.hash_one(address.bits);
        match table.entry(
            hash,
            |(bits, _)| *bits == address.bits,
            |(bits, _)| hasher.hash_one(*bits),
        ) {
            TableEntry::Occupied(mut entry) => entry.get_mut().1 += 1,
            TableEntry::Vacant(vacant) => {
                vacant.insert((address.bits, 1));
            }
        }
    }

    pub(super) fn decrement(&mut self, address: AddressKey) {
        let (table, hasher) = self.table(address);
        let hash = hasher.hash_one(address.bits);
        if let Ok(mut entry) = table.find_entry(hash, |(bits, _)| *bits == address.bits) {
            if entry.get().1 <= 1 {
                entry.remove();
            } else {
                entry.get_mut().1 -= 1;
            }
        }
    }

    pub(super) fn reserve(&mut self, more: usize) {
        let hasher = &self.hasher;
        self.v4.reserve(more, |(bits, _)| hasher.hash_one(*bits));
    }

    pub(super) fn shrink_to(&mut self, len: usize) {
        let hasher = &self.hasher;
        self.v4.shrink_to(len, |(bits, _)| hasher.hash_one(*bits));
    }

    /// Active records over every address.
    pub(super) fn total(&self) -> u64 {
        self.v4
            .iter()
            .chain(self.v6.iter())
            .map(|(_, count)| u64::from(*count))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_index_is_built_whole_or_names_a_cookie_found_twice() {
        let index = CookieIndex::build(&[7, 9, 11]).unwrap();
        let cookies = [7, 9, 11];
        assert_eq!(index.find(9, |s| cookies[s.index()]), Some(Slot(1)));
        assert_eq!(index.find(8, |s| cookies[s.index()]), None);
        assert_eq!(
            CookieIndex::build(&[7, 9, 7]).unwrap_err(),
            DuplicateCookie(7)
        );
    }

    #[test]
    fn address_counts_go_up_and_down_and_vanish_at_zero() {
        let mut counts = AddressCounts::default();
        let (a, b) = (
            AddressKey { v6: false, bits: 1 },
            AddressKey { v6: true, bits: 1 },
        );
        counts.increment(a);
        counts.increment(a);
        counts.increment(b);
        assert_eq!((counts.get(a), counts.get(b), counts.total()), (2, 1, 3));
        counts.decrement(a);
        counts.decrement(b);
        counts.decrement(b);
        assert_eq!((counts.get(a), counts.get(b), counts.total()), (1, 0, 1));
    }
}
