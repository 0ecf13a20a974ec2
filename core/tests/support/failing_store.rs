//! A store that fails as a Redis that is down does, for the keys a test names.

use pumpguard_core::store::{Record, Store, StoreError, Version, Versioned};
use pumpguard_core::{MemoryStore, Timestamp};

/// Every read and write of a key starting with `prefix` fails; the others reach a memory store.
/// An empty prefix fails every key.
pub struct FailingStore {
    pub prefix: &'static str,
    pub inner: MemoryStore,
}

impl FailingStore {
    /// A store failing every key starting with `prefix`.
    pub fn failing(prefix: &'static str) -> FailingStore {
        FailingStore { prefix, inner: MemoryStore::new() }
    }
}

impl Store for FailingStore {
    fn get(&self, key: &str, now: Timestamp) -> Result<Option<Versioned>, StoreError> {
        if key.starts_with(self.prefix) {
            return Err(StoreError::Unavailable);
        }
        self.inner.get(key, now)
    }

    fn put(
        &self,
        key: &str,
        record: Record<'_>,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if key.starts_with(self.prefix) {
            return Err(StoreError::Unavailable);
        }
        self.inner.put(key, record, expected, now)
    }
}
