//! In-memory store for tests, the CLI and single-threaded hosts.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::{Record, Store, StoreError, Version, Versioned};
use crate::time::Timestamp;

#[derive(Clone, Debug)]
struct Entry {
    value: Vec<u8>,
    version: Version,
    expires_at: Timestamp,
}

/// A map with versions and expiry. Entries expired at the caller's `now` read as absent;
/// `sweep` drops them.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: RefCell<HashMap<String, Entry>>,
    next_version: Cell<Version>,
    writes: Cell<u64>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Drops every entry expired at `now`; returns how many were dropped.
    pub fn sweep(&self, now: Timestamp) -> usize {
        let mut entries = self.entries.borrow_mut();
        let before = entries.len();
        entries.retain(|_, e| e.expires_at > now);
        before - entries.len()
    }

    /// Entries held, expired ones included until [`MemoryStore::sweep`].
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// True when no entry is held, expired or not.
    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }

    /// Successful writes since the store was made: what a flood costs a store that bills writes.
    pub fn writes(&self) -> u64 {
        self.writes.get()
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str, now: Timestamp) -> Result<Option<Versioned>, StoreError> {
        Ok(self
            .entries
            .borrow()
            .get(key)
            .filter(|e| e.expires_at > now)
            .map(|e| Versioned { value: e.value.clone(), version: e.version }))
    }

    fn put(
        &self,
        key: &str,
        record: Record<'_>,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut entries = self.entries.borrow_mut();
        let version = self.next_version.get().wrapping_add(1);
        // One lookup for the common update of a live key; a second only to insert.
        match entries.get_mut(key) {
            Some(entry) => {
                let current = (entry.expires_at > now).then_some(entry.version);
                if current != expected {
                    return Err(StoreError::Conflict);
                }
                // Overwrite in place: no new key allocation.
                entry.value.clear();
                entry.value.extend_from_slice(record.value);
                entry.version = version;
                entry.expires_at = record.expires_at;
            }
            None if expected.is_some() => return Err(StoreError::Conflict),
            None => {
                entries.insert(
                    key.to_owned(),
                    Entry { value: record.value.to_vec(), version, expires_at: record.expires_at },
                );
            }
        }
        self.next_version.set(version);
        self.writes.set(self.writes.get() + 1);
        Ok(())
    }
}
