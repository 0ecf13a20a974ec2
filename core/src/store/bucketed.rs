//! A fixed set of bucket keys over a store whose keys can never be deleted.
//!
//! proxy-wasm shared data has no delete: one key per phone number or IP would grow without bound
//! under attack. This adapter hashes every logical key into one of `buckets` physical keys; a
//! bucket holds compact entries (key hash, expiry, value), pruned of expired entries on every
//! write and capped at `max_entries` (the entry expiring soonest is evicted). Memory therefore
//! stays at most `buckets * max_entries` entries whatever the traffic.

use std::cell::RefCell;

use super::{Store, StoreError, Version, Versioned};
use crate::time::Timestamp;

/// Physical keys are `pg:b:<index>`.
const BUCKET_KEY_PREFIX: &str = "pg:b:";
const ENTRY_HEADER_LEN: usize = 8 + 8 + 2;

pub struct BucketedStore<'s> {
    inner: &'s dyn Store,
    buckets: u32,
    max_entries: usize,
    seed: u64,
    now: Timestamp,
    /// Buckets `get` read (by index), kept for the `put` that follows: a counter check reads,
    /// then writes, and reading the bucket again would cost a second host call. A copy that went
    /// stale meanwhile is harmless: the write carries the version it was read at, so the inner
    /// store refuses it as a conflict and the caller reads afresh.
    read: RefCell<Vec<(u64, Option<Versioned>)>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    key_hash: u64,
    expires_at: u64,
    value: Vec<u8>,
}

impl<'s> BucketedStore<'s> {
    /// `seed` should be random per deployment so nobody can aim many keys at one bucket.
    pub fn new(
        inner: &'s dyn Store,
        buckets: u32,
        max_entries: u16,
        seed: u64,
        now: Timestamp,
    ) -> BucketedStore<'s> {
        BucketedStore {
            inner,
            buckets: buckets.max(1),
            max_entries: usize::from(max_entries.max(1)),
            seed,
            now,
            read: RefCell::new(Vec::new()),
        }
    }

    fn key_hash(&self, key: &str) -> u64 {
        super::key_hash(self.seed, key)
    }

    fn bucket_index(&self, key_hash: u64) -> u64 {
        key_hash % u64::from(self.buckets)
    }

    fn bucket_key(index: u64) -> String {
        format!("{BUCKET_KEY_PREFIX}{index}")
    }

    /// The bucket as `get` last read it, or as the inner store has it now.
    fn bucket_for_write(&self, index: u64) -> Result<Option<Versioned>, StoreError> {
        let mut read = self.read.borrow_mut();
        match read.iter().position(|(i, _)| *i == index) {
            Some(at) => Ok(read.swap_remove(at).1),
            None => self.inner.get(&Self::bucket_key(index)),
        }
    }

    fn live(&self, entry: &Entry) -> bool {
        entry.expires_at > self.now.as_millis()
    }
}

fn decode(bytes: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut rest = bytes;
    while let Some((header, tail)) = rest.split_at_checked(ENTRY_HEADER_LEN) {
        let (Some(hash), Some(expiry), Some(len)) =
            (read_u64(header, 0), read_u64(header, 8), header.get(16..18))
        else {
            break;
        };
        let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        let Some((value, tail)) = tail.split_at_checked(len) else {
            break; // a torn entry: drop it rather than misread the rest
        };
        entries.push(Entry { key_hash: hash, expires_at: expiry, value: value.to_vec() });
        rest = tail;
    }
    entries
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let slice = bytes.get(at..at + 8)?;
    let mut buf = [0u8; 8];
    buf.copy_from_slice(slice);
    Some(u64::from_le_bytes(buf))
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| ENTRY_HEADER_LEN + e.value.len()).sum());
    for entry in entries {
        out.extend_from_slice(&entry.key_hash.to_le_bytes());
        out.extend_from_slice(&entry.expires_at.to_le_bytes());
        // Values are small encoded counters; anything longer than u16 is a bug upstream.
        let len = u16::try_from(entry.value.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(entry.value.get(..usize::from(len)).unwrap_or(&entry.value));
    }
    out
}

impl Store for BucketedStore<'_> {
    fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let hash = self.key_hash(key);
        let index = self.bucket_index(hash);
        let bucket = self.inner.get(&Self::bucket_key(index))?;
        let found = bucket.as_ref().and_then(|bucket| {
            decode(&bucket.value)
                .into_iter()
                .find(|e| e.key_hash == hash && self.live(e))
                .map(|e| Versioned { value: e.value, version: bucket.version })
        });
        let mut read = self.read.borrow_mut();
        read.retain(|(i, _)| *i != index);
        read.push((index, bucket));
        Ok(found)
    }

    fn put(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        expected: Option<Version>,
    ) -> Result<(), StoreError> {
        let hash = self.key_hash(key);
        let index = self.bucket_index(hash);
        let bucket = self.bucket_for_write(index)?;
        let bucket_version = bucket.as_ref().map(|b| b.version);
        let mut entries = bucket.map(|b| decode(&b.value)).unwrap_or_default();
        let ours_live = entries.iter().any(|e| e.key_hash == hash && self.live(e));
        match expected {
            // The caller read the entry at this bucket version; any write since is a conflict.
            Some(version) if bucket_version != Some(version) => return Err(StoreError::Conflict),
            Some(_) => {}
            None if ours_live => return Err(StoreError::Conflict),
            None => {}
        }
        entries.retain(|e| e.key_hash != hash && self.live(e));
        while entries.len() >= self.max_entries {
            let soonest = entries.iter().enumerate().min_by_key(|(_, e)| e.expires_at).map(|(i, _)| i);
            match soonest {
                Some(i) => {
                    entries.swap_remove(i);
                }
                None => break,
            }
        }
        entries.push(Entry { key_hash: hash, expires_at: expires_at.as_millis(), value: value.to_vec() });
        let bucket_expiry = entries.iter().map(|e| e.expires_at).max().unwrap_or(0);
        let bucket_key = Self::bucket_key(index);
        self.inner.put(&bucket_key, &encode(&entries), Timestamp::from_millis(bucket_expiry), bucket_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn keys_share_a_bounded_set_of_buckets() {
        let inner = MemoryStore::new();
        let now = Timestamp::from_millis(1_000);
        let store = BucketedStore::new(&inner, 4, 3, 7, now);
        for i in 0..100 {
            let key = format!("k{i}");
            store.put(&key, &[i as u8], now.plus_millis(10_000 + i), None).ok();
        }
        assert!(inner.len() <= 4);
        let total: usize = (0..4)
            .filter_map(|b| inner.get(&format!("pg:b:{b}")).ok().flatten())
            .map(|v| decode(&v.value).len())
            .sum();
        assert!(total <= 12);
    }

    #[test]
    fn read_back_and_conflicts() {
        let inner = MemoryStore::new();
        let now = Timestamp::from_millis(0);
        let store = BucketedStore::new(&inner, 1, 8, 0, now);
        assert_eq!(store.get("a"), Ok(None));
        store.put("a", b"1", now.plus_millis(100), None).ok();
        let read = store.get("a").ok().flatten();
        assert_eq!(read.as_ref().map(|v| v.value.clone()), Some(b"1".to_vec()));
        // Creating an existing key conflicts.
        assert_eq!(store.put("a", b"2", now.plus_millis(100), None), Err(StoreError::Conflict));
        // A write to another key in the same bucket invalidates the version read.
        store.put("b", b"x", now.plus_millis(100), None).ok();
        let stale = read.map(|v| v.version);
        assert_eq!(store.put("a", b"2", now.plus_millis(100), stale), Err(StoreError::Conflict));
    }

    /// Counts the reads that reach the inner store.
    struct CountingReads<'a> {
        inner: &'a MemoryStore,
        reads: std::cell::Cell<usize>,
    }

    impl Store for CountingReads<'_> {
        fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
            self.reads.set(self.reads.get() + 1);
            self.inner.get(key)
        }

        fn put(
            &self,
            key: &str,
            value: &[u8],
            expires_at: Timestamp,
            expected: Option<Version>,
        ) -> Result<(), StoreError> {
            self.inner.put(key, value, expires_at, expected)
        }
    }

    #[test]
    fn a_read_then_write_reads_the_bucket_once() {
        let memory = MemoryStore::new();
        let inner = CountingReads { inner: &memory, reads: std::cell::Cell::new(0) };
        let now = Timestamp::from_millis(0);
        let store = BucketedStore::new(&inner, 8, 8, 3, now);
        assert_eq!(store.get("a"), Ok(None));
        assert_eq!(store.put("a", b"1", now.plus_millis(100), None), Ok(()));
        let read = store.get("a").ok().flatten().map(|v| v.version);
        assert_eq!(store.put("a", b"2", now.plus_millis(100), read), Ok(()));
        assert_eq!(inner.reads.get(), 2, "one read per get, none for the puts that follow");
        // A put without a get before it reads the bucket itself.
        assert_eq!(store.put("b", b"1", now.plus_millis(100), None), Ok(()));
        assert_eq!(inner.reads.get(), 3);
    }

    #[test]
    fn a_bucket_changed_since_the_read_refuses_the_write() {
        let inner = MemoryStore::new();
        let now = Timestamp::from_millis(0);
        let ours = BucketedStore::new(&inner, 1, 8, 0, now);
        let theirs = BucketedStore::new(&inner, 1, 8, 0, now);
        // Creating: we saw no entry, another writer created the bucket meanwhile.
        assert_eq!(ours.get("a"), Ok(None));
        assert_eq!(theirs.put("b", b"x", now.plus_millis(100), None), Ok(()));
        assert_eq!(ours.put("a", b"1", now.plus_millis(100), None), Err(StoreError::Conflict));
        // Updating: we read version v, another writer wrote the bucket meanwhile.
        let read = ours.get("b").ok().flatten().map(|v| v.version);
        assert_eq!(theirs.put("c", b"y", now.plus_millis(100), None), Ok(()));
        assert_eq!(ours.put("b", b"2", now.plus_millis(100), read), Err(StoreError::Conflict));
        // The retry reads afresh and succeeds; nothing the other writer wrote is lost.
        let fresh = ours.get("b").ok().flatten().map(|v| v.version);
        assert_eq!(ours.put("b", b"2", now.plus_millis(100), fresh), Ok(()));
        assert_eq!(ours.get("c").ok().flatten().map(|v| v.value), Some(b"y".to_vec()));
    }

    #[test]
    fn expired_entries_are_pruned_on_write() {
        let inner = MemoryStore::new();
        let early = BucketedStore::new(&inner, 1, 8, 0, Timestamp::from_millis(0));
        early.put("old", b"1", Timestamp::from_millis(50), None).ok();
        let later = BucketedStore::new(&inner, 1, 8, 0, Timestamp::from_millis(100));
        assert_eq!(later.get("old"), Ok(None));
        later.put("new", b"2", Timestamp::from_millis(500), None).ok();
        let bucket = inner.get("pg:b:0").ok().flatten().map(|v| decode(&v.value));
        assert_eq!(bucket.map(|b| b.len()), Some(1));
    }
}
