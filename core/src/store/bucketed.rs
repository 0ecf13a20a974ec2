//! A fixed set of bucket keys over a store whose keys can never be deleted.
//!
//! proxy-wasm shared data has no delete: one key per phone number or IP would grow without bound
//! under attack. This adapter hashes every logical key into one of `buckets` physical keys; a
//! bucket holds compact entries (key hash, expiry, protection, last write, value), pruned of
//! expired entries on every write and capped at `max_entries`. Memory therefore stays at most
//! `buckets * max_entries` entries whatever the traffic.
//!
//! A full bucket must give something up, and an attacker chooses what arrives: a flood of
//! distinct numbers leaves long-lived history (backoff, adjacency sightings) in every bucket.
//! So eviction never trades a refusal in force for history: it evicts the least recently written
//! history entry; among protected entries, the newcomer included, the one whose protection ends
//! first goes; so a history newcomer that finds nothing but protected entries is not stored.
//! Every such loss is counted ([`EvictionPressure`]) so hosts can report and size for it.

use std::cell::{Cell, RefCell};

use super::{Record, Store, StoreError, Version, Versioned};
use crate::time::Timestamp;

/// Physical keys are `pg:b:<index>`.
const BUCKET_KEY_PREFIX: &str = "pg:b:";
/// key hash, expiry, value length (with [`EXTENDED`]).
const ENTRY_HEADER_LEN: usize = 8 + 8 + 2;
/// Set in the length field when protection and last write (8 + 8 bytes) follow the header.
/// Entries written before protection existed lack it and read as history.
const EXTENDED: u16 = 0x8000;
const EXTENSION_LEN: usize = 8 + 8;
/// Longest value an entry can hold (the length field's other 15 bits).
const MAX_VALUE_LEN: usize = 0x7fff;

/// What a bucketed store gave up to stay bounded, since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvictionPressure {
    /// Live history entries evicted for a newcomer.
    pub history_evicted: u64,
    /// Live protected entries evicted for a protected newcomer (the bucket held nothing else).
    pub protected_evicted: u64,
    /// Writes not stored: their bucket held only protected entries, each protected at least as
    /// long as the newcomer (always so for history).
    pub refused: u64,
}

impl EvictionPressure {
    /// Whether anything live was lost.
    pub fn any(&self) -> bool {
        self.history_evicted + self.protected_evicted + self.refused > 0
    }
}

/// A [`Store`] that keeps every key in one of a fixed set of bucket keys of `inner`, so memory
/// stays bounded over a store without delete (see the module docs).
pub struct BucketedStore<'s> {
    inner: &'s dyn Store,
    buckets: u32,
    max_entries: usize,
    seed: u64,
    /// Buckets `get` read (by index), kept until a `put` to them: a counter check reads, then
    /// writes, and reading the bucket again would cost a second host call. A copy that went
    /// stale meanwhile is harmless: the write carries the version it was read at, so the inner
    /// store refuses it as a conflict and the caller reads afresh.
    read: RefCell<Vec<(u64, Option<Versioned>)>>,
    pressure: Cell<EvictionPressure>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    key_hash: u64,
    expires_at: u64,
    protected_until: u64,
    written_at: u64,
    value: Vec<u8>,
}

impl Entry {
    fn live(&self, now: u64) -> bool {
        self.expires_at > now
    }

    fn protected(&self, now: u64) -> bool {
        self.protected_until > now
    }
}

impl<'s> BucketedStore<'s> {
    /// `seed` should be random per deployment so nobody can aim many keys at one bucket.
    pub fn new(inner: &'s dyn Store, buckets: u32, max_entries: u16, seed: u64) -> BucketedStore<'s> {
        BucketedStore {
            inner,
            buckets: buckets.max(1),
            max_entries: usize::from(max_entries.max(1)),
            seed,
            read: RefCell::new(Vec::new()),
            pressure: Cell::new(EvictionPressure::default()),
        }
    }

    /// What this store gave up to stay bounded so far.
    pub fn pressure(&self) -> EvictionPressure {
        self.pressure.get()
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
    fn bucket_for_write(&self, index: u64, now: Timestamp) -> Result<Option<Versioned>, StoreError> {
        let mut read = self.read.borrow_mut();
        match read.iter().position(|(i, _)| *i == index) {
            Some(at) => Ok(read.swap_remove(at).1),
            None => self.inner.get(&Self::bucket_key(index), now),
        }
    }
}

/// What to do about a full bucket for a newcomer.
enum Room {
    Evict(usize, bool),
    RefuseNewcomer,
}

/// `newcomer_protected_until` at or before `now`: the newcomer is history.
fn make_room(entries: &[Entry], newcomer_protected_until: u64, now: u64) -> Room {
    let history = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.protected(now))
        .min_by_key(|(_, e)| (e.written_at, e.expires_at))
        .map(|(i, _)| i);
    if let Some(i) = history {
        return Room::Evict(i, false);
    }
    // Among protected entries the newcomer included, the one whose protection ends first goes.
    match entries.iter().enumerate().min_by_key(|(_, e)| e.protected_until) {
        Some((i, e)) if e.protected_until < newcomer_protected_until => Room::Evict(i, true),
        _ => Room::RefuseNewcomer,
    }
}

/// An entry as stored, borrowing its value from the bucket's bytes.
struct EntryRef<'b> {
    key_hash: u64,
    expires_at: u64,
    protected_until: u64,
    written_at: u64,
    value: &'b [u8],
}

/// The entries of a bucket's bytes, in order; stops at the first torn entry rather than misread
/// the rest.
fn entries(bytes: &[u8]) -> impl Iterator<Item = EntryRef<'_>> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let (header, tail) = rest.split_at_checked(ENTRY_HEADER_LEN)?;
        let (key_hash, expires_at) = (read_u64(header, 0)?, read_u64(header, 8)?);
        let len = header.get(16..18).map(|l| u16::from_le_bytes([l[0], l[1]]))?;
        let (protected_until, written_at, tail) = if len & EXTENDED != 0 {
            let (extension, tail) = tail.split_at_checked(EXTENSION_LEN)?;
            (read_u64(extension, 0)?, read_u64(extension, 8)?, tail)
        } else {
            (0, 0, tail)
        };
        let (value, tail) = tail.split_at_checked(usize::from(len & !EXTENDED))?;
        rest = tail;
        Some(EntryRef { key_hash, expires_at, protected_until, written_at, value })
    })
}

fn decode(bytes: &[u8]) -> Vec<Entry> {
    entries(bytes)
        .map(|e| Entry {
            key_hash: e.key_hash,
            expires_at: e.expires_at,
            protected_until: e.protected_until,
            written_at: e.written_at,
            value: e.value.to_vec(),
        })
        .collect()
}

/// The live value of `key_hash` in a bucket, copying nothing else.
fn find(bucket: &Versioned, key_hash: u64, now: Timestamp) -> Option<Versioned> {
    entries(&bucket.value)
        .find(|e| e.key_hash == key_hash && e.expires_at > now.as_millis())
        .map(|e| Versioned { value: e.value.to_vec(), version: bucket.version })
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let slice = bytes.get(at..at + 8)?;
    let mut buf = [0u8; 8];
    buf.copy_from_slice(slice);
    Some(u64::from_le_bytes(buf))
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    let size = entries.iter().map(|e| ENTRY_HEADER_LEN + EXTENSION_LEN + e.value.len()).sum();
    let mut out = Vec::with_capacity(size);
    for entry in entries {
        // Values are small encoded counters; anything longer is a bug upstream, cut rather than
        // allowed to corrupt the bucket.
        let value = entry.value.get(..MAX_VALUE_LEN).unwrap_or(&entry.value);
        let len = u16::try_from(value.len()).unwrap_or(0) | EXTENDED;
        out.extend_from_slice(&entry.key_hash.to_le_bytes());
        out.extend_from_slice(&entry.expires_at.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&entry.protected_until.to_le_bytes());
        out.extend_from_slice(&entry.written_at.to_le_bytes());
        out.extend_from_slice(value);
    }
    out
}

impl Store for BucketedStore<'_> {
    fn get(&self, key: &str, now: Timestamp) -> Result<Option<Versioned>, StoreError> {
        let hash = self.key_hash(key);
        let index = self.bucket_index(hash);
        // A bucket read since the last write to it is served again: a request's checks are
        // peeked, then committed, and the commit must not pay a second host read. A stale copy
        // is refused at the write (its version), which drops it, so the retry reads afresh.
        if let Some((_, bucket)) = self.read.borrow().iter().find(|(i, _)| *i == index) {
            return Ok(bucket.as_ref().and_then(|b| find(b, hash, now)));
        }
        let bucket = self.inner.get(&Self::bucket_key(index), now)?;
        let found = bucket.as_ref().and_then(|b| find(b, hash, now));
        self.read.borrow_mut().push((index, bucket));
        Ok(found)
    }

    fn put(
        &self,
        key: &str,
        record: Record<'_>,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let now_ms = now.as_millis();
        let hash = self.key_hash(key);
        let index = self.bucket_index(hash);
        let bucket = self.bucket_for_write(index, now)?;
        let bucket_version = bucket.as_ref().map(|b| b.version);
        let mut entries = bucket.map(|b| decode(&b.value)).unwrap_or_default();
        let ours_live = entries.iter().any(|e| e.key_hash == hash && e.live(now_ms));
        match expected {
            // The caller read the entry at this bucket version; any write since is a conflict.
            Some(version) if bucket_version != Some(version) => return Err(StoreError::Conflict),
            Some(_) => {}
            None if ours_live => return Err(StoreError::Conflict),
            None => {}
        }
        entries.retain(|e| e.key_hash != hash && e.live(now_ms));
        let mut pressure = self.pressure.get();
        while entries.len() >= self.max_entries {
            match make_room(&entries, record.protected_until.as_millis(), now_ms) {
                Room::Evict(i, protected) => {
                    entries.swap_remove(i);
                    if protected {
                        pressure.protected_evicted += 1;
                    } else {
                        pressure.history_evicted += 1;
                    }
                }
                Room::RefuseNewcomer => {
                    pressure.refused += 1;
                    self.pressure.set(pressure);
                    return Ok(());
                }
            }
        }
        entries.push(Entry {
            key_hash: hash,
            expires_at: record.expires_at.as_millis(),
            protected_until: record.protected_until.as_millis(),
            written_at: now_ms,
            value: record.value.to_vec(),
        });
        let bucket_expiry = entries.iter().map(|e| e.expires_at).max().unwrap_or(0);
        let bucket_key = Self::bucket_key(index);
        let bucket_record = Record {
            value: &encode(&entries),
            expires_at: Timestamp::from_millis(bucket_expiry),
            protected_until: Timestamp::default(),
        };
        self.inner.put(&bucket_key, bucket_record, bucket_version, now)?;
        // Counted only once the write landed: a conflict retries and must not count twice.
        self.pressure.set(pressure);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn history(value: &[u8], expires_at: u64) -> Record<'_> {
        Record { value, expires_at: t(expires_at), protected_until: Timestamp::default() }
    }

    fn protected(value: &[u8], until: u64) -> Record<'_> {
        Record { value, expires_at: t(until + 1_000), protected_until: t(until) }
    }

    fn value_of(store: &BucketedStore<'_>, key: &str, now: u64) -> Option<Vec<u8>> {
        store.get(key, t(now)).ok().flatten().map(|v| v.value)
    }

    #[test]
    fn keys_share_a_bounded_set_of_buckets() {
        let inner = MemoryStore::new();
        let now = t(1_000);
        let store = BucketedStore::new(&inner, 4, 3, 7);
        for i in 0..100u64 {
            let key = format!("k{i}");
            store.put(&key, history(&[i as u8], 11_000 + i), None, now).ok();
        }
        assert!(inner.len() <= 4);
        let total: usize = (0..4)
            .filter_map(|b| inner.get(&format!("pg:b:{b}"), now).ok().flatten())
            .map(|v| decode(&v.value).len())
            .sum();
        assert!(total <= 12);
    }

    #[test]
    fn read_back_and_conflicts() {
        let inner = MemoryStore::new();
        let now = t(0);
        let store = BucketedStore::new(&inner, 1, 8, 0);
        assert_eq!(store.get("a", now), Ok(None));
        store.put("a", history(b"1", 100), None, now).ok();
        let read = store.get("a", now).ok().flatten();
        assert_eq!(read.as_ref().map(|v| v.value.clone()), Some(b"1".to_vec()));
        // Creating an existing key conflicts.
        assert_eq!(store.put("a", history(b"2", 100), None, now), Err(StoreError::Conflict));
        // A write to another key in the same bucket invalidates the version read.
        store.put("b", history(b"x", 100), None, now).ok();
        let stale = read.map(|v| v.version);
        assert_eq!(store.put("a", history(b"2", 100), stale, now), Err(StoreError::Conflict));
    }

    /// Counts the reads that reach the inner store.
    struct CountingReads<'a> {
        inner: &'a MemoryStore,
        reads: std::cell::Cell<usize>,
    }

    impl Store for CountingReads<'_> {
        fn get(&self, key: &str, now: Timestamp) -> Result<Option<Versioned>, StoreError> {
            self.reads.set(self.reads.get() + 1);
            self.inner.get(key, now)
        }

        fn put(
            &self,
            key: &str,
            record: Record<'_>,
            expected: Option<Version>,
            now: Timestamp,
        ) -> Result<(), StoreError> {
            self.inner.put(key, record, expected, now)
        }
    }

    #[test]
    fn a_read_then_write_reads_the_bucket_once() {
        let memory = MemoryStore::new();
        let inner = CountingReads { inner: &memory, reads: std::cell::Cell::new(0) };
        let now = t(0);
        let store = BucketedStore::new(&inner, 8, 8, 3);
        assert_eq!(store.get("a", now), Ok(None));
        assert_eq!(store.put("a", history(b"1", 100), None, now), Ok(()));
        let read = store.get("a", now).ok().flatten().map(|v| v.version);
        assert_eq!(store.put("a", history(b"2", 100), read, now), Ok(()));
        assert_eq!(inner.reads.get(), 2, "one read per get, none for the puts that follow");
        // A put without a get before it reads the bucket itself.
        assert_eq!(store.put("b", history(b"1", 100), None, now), Ok(()));
        assert_eq!(inner.reads.get(), 3);
    }

    #[test]
    fn a_peeked_then_committed_check_reads_its_bucket_once() {
        let memory = MemoryStore::new();
        let inner = CountingReads { inner: &memory, reads: std::cell::Cell::new(0) };
        let now = t(0);
        let store = BucketedStore::new(&inner, 8, 8, 3);
        // Peek (a read), then the commit's read and write.
        assert_eq!(store.get("a", now), Ok(None));
        assert_eq!(store.get("a", now), Ok(None));
        assert_eq!(store.put("a", history(b"1", 100), None, now), Ok(()));
        assert_eq!(inner.reads.get(), 1);
        // After a write the bucket is read afresh.
        assert_eq!(store.get("a", now).ok().flatten().map(|v| v.value), Some(b"1".to_vec()));
        assert_eq!(inner.reads.get(), 2);
    }

    #[test]
    fn a_bucket_changed_since_the_read_refuses_the_write() {
        let inner = MemoryStore::new();
        let now = t(0);
        let ours = BucketedStore::new(&inner, 1, 8, 0);
        let theirs = BucketedStore::new(&inner, 1, 8, 0);
        // Creating: we saw no entry, another writer created the bucket meanwhile.
        assert_eq!(ours.get("a", now), Ok(None));
        assert_eq!(theirs.put("b", history(b"x", 100), None, now), Ok(()));
        assert_eq!(ours.put("a", history(b"1", 100), None, now), Err(StoreError::Conflict));
        // Updating: we read version v, another writer wrote the bucket meanwhile.
        let read = ours.get("b", now).ok().flatten().map(|v| v.version);
        assert_eq!(theirs.put("c", history(b"y", 100), None, now), Ok(()));
        assert_eq!(ours.put("b", history(b"2", 100), read, now), Err(StoreError::Conflict));
        // The retry reads afresh and succeeds; nothing the other writer wrote is lost.
        let fresh = ours.get("b", now).ok().flatten().map(|v| v.version);
        assert_eq!(ours.put("b", history(b"2", 100), fresh, now), Ok(()));
        assert_eq!(value_of(&ours, "c", 0), Some(b"y".to_vec()));
    }

    #[test]
    fn expired_entries_are_pruned_on_write() {
        let inner = MemoryStore::new();
        let store = BucketedStore::new(&inner, 1, 8, 0);
        store.put("old", history(b"1", 50), None, t(0)).ok();
        assert_eq!(store.get("old", t(100)), Ok(None));
        store.put("new", history(b"2", 500), None, t(100)).ok();
        let bucket = inner.get("pg:b:0", t(100)).ok().flatten().map(|v| decode(&v.value));
        assert_eq!(bucket.map(|b| b.len()), Some(1));
    }

    #[test]
    fn entries_without_protection_still_decode_as_history() {
        // The format before protection existed: hash, expiry, plain length, value.
        let mut old = Vec::new();
        old.extend_from_slice(&5u64.to_le_bytes());
        old.extend_from_slice(&900u64.to_le_bytes());
        old.extend_from_slice(&2u16.to_le_bytes());
        old.extend_from_slice(b"ab");
        let entries = decode(&old);
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].protected_until, entries[0].value.as_slice()), (0, b"ab".as_slice()));
        assert_eq!(decode(&encode(&entries)), entries);
    }

    #[test]
    fn a_flood_of_history_never_evicts_a_protected_entry() {
        let inner = MemoryStore::new();
        let store = BucketedStore::new(&inner, 1, 4, 0);
        store.put("block", protected(b"B", 10_000), None, t(0)).ok();
        // Long-lived history (a day) and short-lived history both arrive in a flood.
        for i in 0..1_000u64 {
            let expiry = if i % 2 == 0 { 86_400_000 } else { 2_000 };
            store.put(&format!("flood{i}"), history(b"h", expiry), None, t(1 + i)).ok();
        }
        assert_eq!(value_of(&store, "block", 1_001), Some(b"B".to_vec()));
        let pressure = store.pressure();
        assert!(pressure.history_evicted > 900, "{pressure:?}");
        assert_eq!(pressure.protected_evicted, 0);
        // Once its protection ended the block is history like any other.
        for i in 0..8u64 {
            store.put(&format!("late{i}"), history(b"h", 90_000_000), None, t(20_000 + i)).ok();
        }
        assert_eq!(value_of(&store, "block", 20_010), None);
    }

    #[test]
    fn history_is_evicted_least_recently_written_first() {
        let inner = MemoryStore::new();
        let store = BucketedStore::new(&inner, 1, 3, 0);
        // A busy scope's counter expires soon but is written on every request; a one-off
        // sighting lives a day. The one-off goes first.
        store.put("sighting", history(b"s", 86_400_000), None, t(0)).ok();
        store.put("scope", history(b"1", 7_200_000), None, t(1)).ok();
        store.put("other", history(b"o", 86_400_000), None, t(2)).ok();
        let read = store.get("scope", t(3)).ok().flatten().map(|v| v.version);
        store.put("scope", history(b"2", 7_200_000), read, t(3)).ok();
        store.put("newcomer", history(b"n", 86_400_000), None, t(4)).ok();
        assert_eq!(value_of(&store, "sighting", 5), None);
        assert_eq!(value_of(&store, "scope", 5), Some(b"2".to_vec()));
    }

    #[test]
    fn a_bucket_of_protected_entries_refuses_history_and_yields_to_protection() {
        let inner = MemoryStore::new();
        let store = BucketedStore::new(&inner, 1, 2, 0);
        store.put("b1", protected(b"1", 5_000), None, t(0)).ok();
        store.put("b2", protected(b"2", 9_000), None, t(0)).ok();
        assert_eq!(store.put("h", history(b"h", 50_000), None, t(1)), Ok(()));
        assert_eq!(value_of(&store, "h", 2), None);
        assert_eq!(store.pressure().refused, 1);
        // A newer block evicts the block that ends first.
        store.put("b3", protected(b"3", 7_000), None, t(3)).ok();
        assert_eq!(value_of(&store, "b1", 4), None);
        assert_eq!(value_of(&store, "b2", 4), Some(b"2".to_vec()));
        assert_eq!(store.pressure().protected_evicted, 1);
        // A block that would end before every one held is the one that goes.
        assert_eq!(store.put("b4", protected(b"4", 6_000), None, t(4)), Ok(()));
        assert_eq!(value_of(&store, "b4", 5), None);
        assert_eq!(store.pressure().refused, 2);
    }
}
