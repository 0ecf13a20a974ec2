//! Core's [`Store`] over proxy-wasm shared data.
//!
//! Shared data is one key/value map per VM id, shared by every worker thread, with a
//! compare-and-swap version per key, and no delete (ABI 0.2.1). Two host facts shape this file
//! (proxy-wasm-cpp-host `SharedData::set`):
//!
//! - a missing key is created whatever `cas` is passed, and `cas = 0` means "no check";
//! - so "create only if still missing" is a write with a cas that is never current
//!   ([`ABSENT_CAS`]): it creates a missing key and fails on a key someone created meanwhile.
//!
//! The store is always wrapped in core's `BucketedStore`, so only a fixed set of keys
//! (`<namespace>:pg:b:<n>`) ever exists, whatever the traffic.

use pumpguard_core::store::{Record, Store, StoreError, Version, Versioned};
use pumpguard_core::Timestamp;

/// The cas passed when the caller believes the key is missing.
pub const ABSENT_CAS: u32 = u32::MAX;

/// Why a shared-data call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedError {
    CasMismatch,
    Other,
}

/// The two shared-data host calls.
pub trait SharedData {
    /// Value and cas of `key`; `(None, _)` when absent.
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), SharedError>;
    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedError>;
}

/// Core's store over shared data, every key under `<namespace>:`. Reads are not cached here:
/// core's `BucketedStore` keeps each bucket it read until it writes it.
pub struct SharedDataStore<'a, S: SharedData> {
    shared: &'a S,
    namespace: &'a str,
}

impl<'a, S: SharedData> SharedDataStore<'a, S> {
    pub fn new(shared: &'a S, namespace: &'a str) -> SharedDataStore<'a, S> {
        SharedDataStore { shared, namespace }
    }

    fn key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.namespace.len() + 1 + key.len());
        full.push_str(self.namespace);
        full.push(':');
        full.push_str(key);
        full
    }
}

impl<S: SharedData> Store for SharedDataStore<'_, S> {
    /// Expiry is the bucketed store's business (it prunes inside its buckets); the bucket keys
    /// themselves never expire, so `now` is not needed here.
    fn get(&self, key: &str, _now: Timestamp) -> Result<Option<Versioned>, StoreError> {
        match self.shared.get(&self.key(key)) {
            Ok((Some(value), Some(version))) if !value.is_empty() => Ok(Some(Versioned { value, version })),
            // An empty value is never written; a value without cas cannot be compared-and-swapped.
            Ok(_) => Ok(None),
            Err(_) => Err(StoreError::Unavailable),
        }
    }

    fn put(
        &self,
        key: &str,
        record: Record<'_>,
        expected: Option<Version>,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        let value = record.value;
        // Version 0 would mean "no check": never pass it.
        let cas = match expected {
            Some(0) | None => ABSENT_CAS,
            Some(v) => v,
        };
        match self.shared.set(&self.key(key), value, cas) {
            Ok(()) => Ok(()),
            Err(SharedError::CasMismatch) => Err(StoreError::Conflict),
            Err(SharedError::Other) => Err(StoreError::Unavailable),
        }
    }
}

/// The per-process bucket seed: read from shared data, or created there once.
pub fn shared_seed<S: SharedData>(shared: &S, namespace: &str, fresh: u64) -> Result<u64, SharedError> {
    let key = format!("{namespace}:seed");
    for _ in 0..4 {
        if let (Some(bytes), _) = shared.get(&key)? {
            if let Ok(raw) = <[u8; 8]>::try_from(bytes.as_slice()) {
                return Ok(u64::from_le_bytes(raw));
            }
        }
        match shared.set(&key, &fresh.to_le_bytes(), ABSENT_CAS) {
            Ok(()) => return Ok(fresh),
            Err(SharedError::CasMismatch) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(SharedError::CasMismatch)
}

#[cfg(test)]
pub(crate) mod fake {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    /// Shared data with proxy-wasm-cpp-host's semantics, including its traps.
    #[derive(Default)]
    pub struct FakeShared {
        pub map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
        next: Cell<u32>,
        pub gets: Cell<usize>,
    }

    impl SharedData for FakeShared {
        fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), SharedError> {
            self.gets.set(self.gets.get() + 1);
            Ok(match self.map.borrow().get(key) {
                Some((v, cas)) => (Some(v.clone()), Some(*cas)),
                None => (None, None),
            })
        }

        fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedError> {
            let mut map = self.map.borrow_mut();
            if let Some((_, current)) = map.get(key) {
                if cas != 0 && cas != *current {
                    return Err(SharedError::CasMismatch);
                }
            }
            let mut next = self.next.get().wrapping_add(1);
            if next == 0 {
                next = 1;
            }
            self.next.set(next);
            map.insert(key.to_owned(), (value.to_vec(), next));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeShared;
    use super::*;
    use pumpguard_core::store::BucketedStore;

    fn rec(value: &[u8], expires_at: Timestamp) -> Record<'_> {
        Record { value, expires_at, protected_until: Timestamp::default() }
    }

    #[test]
    fn create_of_a_key_someone_created_meanwhile_conflicts() {
        let shared = FakeShared::default();
        let store = SharedDataStore::new(&shared, "t");
        let t = Timestamp::from_millis(10);
        // Both writers saw "missing"; the second must lose, not overwrite.
        assert_eq!(store.put("k", rec(b"1", t), None, t), Ok(()));
        assert_eq!(store.put("k", rec(b"2", t), None, t), Err(StoreError::Conflict));
        let read = store.get("k", t).ok().flatten();
        assert_eq!(read.as_ref().map(|v| v.value.clone()), Some(b"1".to_vec()));
        let version = read.map(|v| v.version);
        assert_eq!(store.put("k", rec(b"3", t), version, t), Ok(()));
        assert_eq!(store.put("k", rec(b"4", t), version, t), Err(StoreError::Conflict));
    }

    #[test]
    fn interleaved_increments_are_exact() {
        // Two "threads" that read, then write in turn: every increment lands exactly once.
        let shared = FakeShared::default();
        let store = SharedDataStore::new(&shared, "t");
        let t = Timestamp::from_millis(10);
        let incr = |store: &SharedDataStore<'_, FakeShared>| {
            pumpguard_core::store::update(store, "n", t, 100, |cur| {
                let n = cur.map(|b| b.first().copied().unwrap_or(0)).unwrap_or(0);
                pumpguard_core::store::Change::Write {
                    value: vec![n + 1],
                    expires_at: t.plus_millis(1000),
                    protected_until: Timestamp::default(),
                    result: n + 1,
                }
            })
        };
        for _ in 0..50 {
            // A stale read followed by someone else's write forces the retry path.
            let stale = store.get("n", t).ok().flatten();
            let _ = incr(&store);
            let v = stale.map(|s| s.version);
            assert!(store.put("n", rec(b"x", t), v, t).is_err());
        }
        let got = store.get("n", t).ok().flatten().map(|v| v.value);
        assert_eq!(got, Some(vec![50]));
    }

    #[test]
    fn memory_is_bounded_whatever_the_key_count() {
        let shared = FakeShared::default();
        let store = SharedDataStore::new(&shared, "t");
        let now = Timestamp::from_millis(0);
        let buckets = BucketedStore::new(&store, 8, 4, 1);
        for i in 0..5_000u64 {
            let _ = buckets.put(&format!("rl:x|{i}"), rec(b"12345678", now.plus_millis(60_000)), None, now);
        }
        let map = shared.map.borrow();
        assert!(map.len() <= 8, "{} keys", map.len());
        // Entry: header 18, protection and last write 16, value 8.
        assert!(map.values().all(|(v, _)| v.len() <= 4 * (18 + 16 + 8)));
    }

    #[test]
    fn bucket_update_reads_shared_data_once_and_a_stale_copy_is_refused() {
        let shared = FakeShared::default();
        let now = Timestamp::from_millis(0);
        let incr = |store: &dyn Store| {
            pumpguard_core::store::update(store, "k", now, 8, |cur| pumpguard_core::store::Change::Write {
                value: vec![cur.and_then(|b| b.first().copied()).unwrap_or(0) + 1],
                expires_at: now.plus_millis(1000),
                protected_until: Timestamp::default(),
                result: (),
            })
        };
        let raw = SharedDataStore::new(&shared, "t");
        let buckets = BucketedStore::new(&raw, 1, 8, 0);
        assert_eq!(incr(&buckets), Ok(()));
        let before = shared.gets.get();
        assert_eq!(incr(&buckets), Ok(()));
        assert_eq!(shared.gets.get() - before, 1, "one host read per update");
        // Someone else writes between our read and our write: the bucket we keep is stale.
        assert_eq!(buckets.get("k", now).map(|v| v.is_some()), Ok(true));
        let other = SharedDataStore::new(&shared, "t");
        assert_eq!(incr(&BucketedStore::new(&other, 1, 8, 0)), Ok(()));
        assert_eq!(incr(&buckets), Ok(()), "the retry reads afresh");
        let value = BucketedStore::new(&other, 1, 8, 0).get("k", now).ok().flatten().map(|v| v.value);
        assert_eq!(value, Some(vec![4]));
    }

    #[test]
    fn seed_is_created_once() {
        let shared = FakeShared::default();
        assert_eq!(shared_seed(&shared, "t", 7), Ok(7));
        assert_eq!(shared_seed(&shared, "t", 9), Ok(7));
    }
}
