//! Values kept once however many records use them (OS names, host names
//! too long for their line, IPv6 addresses), with reference counts: a name
//! shared by a million peers costs one copy.

use hashbrown::{DefaultHashBuilder, HashTable};
use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

/// An interned value's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NameId(u32);

impl NameId {
    /// No value (a free slot's).
    pub(super) const NONE: NameId = NameId(u32::MAX);

    /// The id's number.
    pub(super) fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for NameId {
    fn from(id: u32) -> Self {
        NameId(id)
    }
}

/// Interned values with their use counts.
#[derive(Debug, Clone)]
pub(super) struct Interner<T> {
    values: Vec<(T, u32)>,
    free: Vec<u32>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl<T: Hash + Eq + Clone> Interner<T> {
    pub(super) fn new() -> Self {
        Interner {
            values: Vec::new(),
            free: Vec::new(),
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// Room for `more` values.
    pub(super) fn reserve(&mut self, more: usize) {
        let (values, hasher) = (&self.values, &self.hasher);
        self.table
            .reserve(more, |id| hasher.hash_one(&values[*id as usize].0));
        self.values.reserve(more);
    }

    /// The id of `value`, made with `owned` if it is new; counts a use.
    pub(super) fn intern<Q>(&mut self, value: &Q, owned: impl FnOnce(&Q) -> T) -> NameId
    where
        Q: Hash + Eq + ?Sized,
        T: Borrow<Q>,
    {
        let hash = self.hasher.hash_one(value);
        let values = &self.values;
        if let Some(&id) = self
            .table
            .find(hash, |id| values[*id as usize].0.borrow() == value)
        {
            self.values[id as usize].1 += 1;
            return NameId(id);
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
        NameId(id)
    }

    /// The id of `value` if it is interned.
    pub(super) fn find<Q>(&self, value: &Q) -> Option<NameId>
    where
        Q: Hash + Eq + ?Sized,
        T: Borrow<Q>,
    {
        let hash = self.hasher.hash_one(value);
        let values = &self.values;
        self.table
            .find(hash, |id| values[*id as usize].0.borrow() == value)
            .map(|id| NameId(*id))
    }

    pub(super) fn get(&self, id: NameId) -> &T {
        &self.values[id.0 as usize].0
    }

    /// Gives back one use; the value goes with its last.
    pub(super) fn release(&mut self, id: NameId) {
        let entry = &mut self.values[id.0 as usize];
        entry.1 -= 1;
        if entry.1 == 0 {
            let hash = self.hasher.hash_one(&entry.0);
            if let Ok(found) = self.table.find_entry(hash, |other| *other == id.0) {
                found.remove();
            }
            self.free.push(id.0);
        }
    }

    /// Values interned now.
    pub(super) fn len(&self) -> usize {
        self.values.len() - self.free.len()
    }

    /// Uses of `id` (0 for a freed id).
    #[cfg(test)]
    pub(super) fn uses(&self, id: NameId) -> u32 {
        if self.free.contains(&id.0) {
            0
        } else {
            self.values.get(id.0 as usize).map_or(0, |v| v.1)
        }
    }
}

/// A name, owned as the interner keeps it.
pub(super) fn boxed(text: &str) -> Box<str> {
    text.into()
}

impl<T: Hash + Eq + Clone> Default for Interner<T> {
    fn default() -> Self {
        Interner::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_kept_once_counted_and_freed_with_its_last_use() {
        let mut names: Interner<Box<str>> = Interner::new();
        let a = names.intern("Linux", boxed);
        let b = names.intern("Linux", boxed);
        assert_eq!(a, b);
        assert_eq!((names.len(), names.uses(a)), (1, 2));
        names.release(a);
        assert_eq!(names.find("Linux"), Some(a));
        names.release(a);
        assert_eq!((names.len(), names.find("Linux")), (0, None));
        // The freed id is used again.
        assert_eq!(names.intern("macOS", boxed), a);
        assert_eq!(names.get(a).as_ref(), "macOS");
    }
}
