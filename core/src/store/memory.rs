//! In-memory store for tests, the CLI and single-threaded hosts.

use std::cell::RefCell;
use std::collections::HashMap;

use super::{Store, StoreError, Version, Versioned};
use crate::time::Timestamp;

#[derive(Clone, Debug)]
struct Entry {
    value: Vec<u8>,
    version: Version,
    expires_at: Timestamp,
}

/// A map with versions and expiry. Expired entries read as absent; `sweep` drops them.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: RefCell<HashMap<String, Entry>>,
    /// Reads treat entries that expired before this time as absent.
    now: RefCell<Timestamp>,
    next_version: RefCell<Version>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Tells the store what time it is, so expired entries read as absent.
    pub fn set_now(&self, now: Timestamp) {
        *self.now.borrow_mut() = now;
    }

    /// Drops every entry expired at `now`; returns how many were dropped.
    pub fn sweep(&self, now: Timestamp) -> usize {
        let mut entries = self.entries.borrow_mut();
        let before = entries.len();
        entries.retain(|_, e| e.expires_at > now);
        before - entries.len()
    }

    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let now = *self.now.borrow();
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
        value: &[u8],
        expires_at: Timestamp,
        expected: Option<Version>,
    ) -> Result<(), StoreError> {
        let now = *self.now.borrow();
        let mut entries = self.entries.borrow_mut();
        let mut next = self.next_version.borrow_mut();
        // One lookup for the common update of a live key; a second only to insert.
        match entries.get_mut(key) {
            Some(entry) => {
                let current = (entry.expires_at > now).then_some(entry.version);
                if current != expected {
                    return Err(StoreError::Conflict);
                }
                *next = next.wrapping_add(1);
                // Overwrite in place: no new key allocation.
                entry.value.clear();
                entry.value.extend_from_slice(value);
                entry.version = *next;
                entry.expires_at = expires_at;
            }
            None if expected.is_some() => return Err(StoreError::Conflict),
            None => {
                *next = next.wrapping_add(1);
                entries.insert(key.to_owned(), Entry { value: value.to_vec(), version: *next, expires_at });
            }
        }
        Ok(())
    }
}
