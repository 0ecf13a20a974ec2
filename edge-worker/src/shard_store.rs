//! The core's [`Store`] inside a counter shard (a Durable Object).
//!
//! A Durable Object runs one event at a time, so its in-memory map is the atomic store the core's
//! compare-and-swap loop needs. Every entry written while running a request's checks is marked
//! dirty; the object persists the dirty entries to its storage before it answers, so an eviction
//! or restart loses nothing that was acknowledged. Entries are loaded from storage lazily, once
//! per key and object lifetime, before the checks that need them run.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use pumpguard_core::store::{StoreError, Version, Versioned};
use pumpguard_core::{Store, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    value: Vec<u8>,
    version: Version,
    expires_at: Timestamp,
}

/// Entries as kept in memory, with what is still to be persisted.
#[derive(Debug, Default)]
pub struct ShardStore {
    entries: RefCell<HashMap<String, Entry>>,
    /// Keys whose storage state is known (loaded, or found absent).
    known: RefCell<HashSet<String>>,
    dirty: RefCell<HashSet<String>>,
    /// Memory holds every entry storage holds (the shard was listed whole): keys not in memory
    /// are absent, no storage read needed.
    complete: Cell<bool>,
    now: Cell<Timestamp>,
    next_version: Cell<Version>,
}

impl ShardStore {
    pub fn new() -> ShardStore {
        ShardStore::default()
    }

    /// The time reads compare expiry against (the request's time).
    pub fn set_now(&self, now: Timestamp) {
        self.now.set(now);
    }

    /// Loads the whole shard as read from storage (`(key, stored value)` pairs) and marks the
    /// copy complete, so later keys need no storage read. Entries already in memory win.
    pub fn load_all<'e>(&self, listed: impl IntoIterator<Item = (&'e str, Option<&'e str>)>) {
        for (key, value) in listed {
            self.loaded(key, value);
        }
        self.complete.set(true);
    }

    /// Whether memory holds everything storage holds.
    pub fn is_complete(&self) -> bool {
        self.complete.get()
    }

    /// Keys among `keys` whose stored state has not been read yet, deduplicated. With a complete
    /// copy there are none: unseen keys are marked known-absent on the way.
    pub fn unknown<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> Vec<String> {
        if self.complete.get() {
            let mut known = self.known.borrow_mut();
            for key in keys {
                if !known.contains(key) {
                    known.insert(key.to_owned());
                }
            }
            return Vec::new();
        }
        let known = self.known.borrow();
        let mut out: Vec<String> = Vec::new();
        for key in keys {
            if !known.contains(key) && !out.iter().any(|k| k == key) {
                out.push(key.to_owned());
            }
        }
        out
    }

    /// Records what storage held for `key` (`None`: nothing, or unreadable). A key already known
    /// keeps its in-memory state, which is never older than storage.
    pub fn loaded(&self, key: &str, stored: Option<&str>) {
        if !self.known.borrow_mut().insert(key.to_owned()) {
            return;
        }
        if let Some((value, expires_at)) = stored.and_then(decode) {
            let version = self.bump();
            self.entries.borrow_mut().insert(key.to_owned(), Entry { value, version, expires_at });
        }
    }

    /// Entries written since the last call, encoded for storage: `(key, stored value, expiry)`.
    pub fn take_dirty(&self) -> Vec<(String, String, Timestamp)> {
        let dirty = std::mem::take(&mut *self.dirty.borrow_mut());
        let entries = self.entries.borrow();
        let mut out: Vec<(String, String, Timestamp)> = dirty
            .into_iter()
            .filter_map(|key| {
                let entry = entries.get(&key)?;
                let stored = encode(&entry.value, entry.expires_at);
                Some((key, stored, entry.expires_at))
            })
            .collect();
        out.sort();
        out
    }

    /// Forgets entries expired at `now`; returns their keys.
    pub fn sweep(&self, now: Timestamp) -> Vec<String> {
        let mut entries = self.entries.borrow_mut();
        let mut known = self.known.borrow_mut();
        let expired: Vec<String> =
            entries.iter().filter(|(_, e)| e.expires_at <= now).map(|(k, _)| k.clone()).collect();
        for key in &expired {
            entries.remove(key);
        }
        // Keys found absent are forgotten too, so `known` stays as small as the live entries
        // (a complete copy stays complete: what is forgotten is absent from storage too).
        known.retain(|k| entries.contains_key(k));
        let mut out = expired;
        out.sort();
        out
    }

    /// Drops the whole in-memory copy (everything is persisted: nothing is lost, keys are read
    /// from storage again when needed). Used to bound memory.
    pub fn forget_all(&self) {
        if self.dirty.borrow().is_empty() {
            self.entries.borrow_mut().clear();
            self.known.borrow_mut().clear();
            self.complete.set(false);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }

    fn bump(&self) -> Version {
        let next = self.next_version.get().wrapping_add(1);
        self.next_version.set(next);
        next
    }
}

impl Store for ShardStore {
    fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        if !self.known.borrow().contains(key) {
            // Running a check on a key whose storage was not read would lose its count.
            return Err(StoreError::Unavailable);
        }
        let now = self.now.get();
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
        if !self.known.borrow().contains(key) {
            return Err(StoreError::Unavailable);
        }
        let now = self.now.get();
        let version = self.bump();
        let mut entries = self.entries.borrow_mut();
        let current = entries.get(key).filter(|e| e.expires_at > now).map(|e| e.version);
        if current != expected {
            return Err(StoreError::Conflict);
        }
        match entries.get_mut(key) {
            Some(entry) => {
                entry.value.clear();
                entry.value.extend_from_slice(value);
                entry.version = version;
                entry.expires_at = expires_at;
            }
            None => {
                entries.insert(key.to_owned(), Entry { value: value.to_vec(), version, expires_at });
            }
        }
        self.dirty.borrow_mut().insert(key.to_owned());
        Ok(())
    }
}

/// Stored form of an entry: `<expires_at ms>:<value as lower-case hex>`.
pub fn encode(value: &[u8], expires_at: Timestamp) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(21 + value.len() * 2);
    out.push_str(&expires_at.as_millis().to_string());
    out.push(':');
    for b in value {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// Reads a stored entry; `None` when it is not in the stored form.
pub fn decode(stored: &str) -> Option<(Vec<u8>, Timestamp)> {
    let (expiry, hex) = stored.split_once(':')?;
    let expires_at = Timestamp::from_millis(expiry.parse().ok()?);
    if hex.len() % 2 != 0 {
        return None;
    }
    let value = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((value, expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pumpguard_core::store::{update, Change};

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn encoding_round_trips() {
        for value in [vec![], vec![0u8], vec![0xde, 0xad, 0xbe, 0xef, 0, 255]] {
            let text = encode(&value, t(1_700_000_000_123));
            assert_eq!(decode(&text), Some((value, t(1_700_000_000_123))));
        }
        assert_eq!(decode("x:00"), None);
        assert_eq!(decode("1:0"), None);
        assert_eq!(decode("1:zz"), None);
        assert_eq!(decode("nocolon"), None);
    }

    #[test]
    fn unread_keys_are_refused_not_guessed() {
        let store = ShardStore::new();
        assert_eq!(store.get("k"), Err(StoreError::Unavailable));
        assert_eq!(store.put("k", b"v", t(10), None), Err(StoreError::Unavailable));
        assert_eq!(store.unknown(["k", "k", "j"]), vec!["k".to_owned(), "j".to_owned()]);
        store.loaded("k", None);
        assert_eq!(store.unknown(["k", "j"]), vec!["j".to_owned()]);
        assert_eq!(store.get("k"), Ok(None));
    }

    #[test]
    fn compare_and_swap_and_dirty_tracking() {
        let store = ShardStore::new();
        store.loaded("k", None);
        store.set_now(t(1));
        store.put("k", b"a", t(100), None).unwrap();
        assert_eq!(store.put("k", b"b", t(100), None), Err(StoreError::Conflict));
        let v = store.get("k").unwrap().unwrap();
        assert_eq!(v.value, b"a");
        assert_eq!(store.put("k", b"b", t(100), Some(v.version.wrapping_add(7))), Err(StoreError::Conflict));
        store.put("k", b"b", t(100), Some(v.version)).unwrap();
        assert_eq!(store.take_dirty(), vec![("k".to_owned(), encode(b"b", t(100)), t(100))]);
        assert!(store.take_dirty().is_empty());
    }

    #[test]
    fn loaded_state_survives_a_new_object() {
        // First object: count to 3, persist.
        let first = ShardStore::new();
        first.loaded("n", None);
        first.set_now(t(5));
        for _ in 0..3 {
            update(&first, "n", 8, |b| {
                let n = b.map_or(0, |b| b.first().copied().unwrap_or(0)) + 1;
                Change::Write { value: vec![n], expires_at: t(1000), result: n }
            })
            .unwrap();
        }
        let persisted = first.take_dirty();
        // Second object (after eviction) reads storage and continues from 3.
        let second = ShardStore::new();
        let (key, stored, _) = persisted.first().cloned().unwrap();
        second.loaded(&key, Some(&stored));
        second.set_now(t(6));
        let n = update(&second, "n", 8, |b| {
            let n = b.map_or(0, |b| b.first().copied().unwrap_or(0)) + 1;
            Change::Write { value: vec![n], expires_at: t(1000), result: n }
        })
        .unwrap();
        assert_eq!(n, 4);
        // A later load never overwrites newer memory.
        second.loaded("n", Some(&encode(&[1], t(1000))));
        assert_eq!(second.get("n").unwrap().unwrap().value, vec![4]);
    }

    #[test]
    fn a_complete_copy_needs_no_reads() {
        let store = ShardStore::new();
        let stored = encode(&[7], t(100));
        store.load_all([("a", Some(stored.as_str())), ("absent", None)]);
        assert!(store.is_complete());
        assert!(store.unknown(["a", "b"]).is_empty());
        store.set_now(t(1));
        assert_eq!(store.get("a").unwrap().unwrap().value, vec![7]);
        assert_eq!(store.get("b"), Ok(None));
        store.put("b", b"x", t(100), None).unwrap();
        store.take_dirty();
        store.forget_all();
        assert!(!store.is_complete());
        assert_eq!(store.unknown(["a"]), vec!["a".to_owned()]);
    }

    #[test]
    fn expiry_and_sweep() {
        let store = ShardStore::new();
        store.loaded("a", Some(&encode(b"x", t(10))));
        store.loaded("b", Some(&encode(b"y", t(50))));
        store.loaded("c", None);
        store.set_now(t(20));
        assert_eq!(store.get("a"), Ok(None));
        // Writing over an expired entry expects it absent.
        store.put("a", b"z", t(30), None).unwrap();
        assert_eq!(store.sweep(t(40)), vec!["a".to_owned()]);
        assert_eq!(store.len(), 1);
        assert_eq!(store.unknown(["a", "b", "c"]), vec!["a".to_owned(), "c".to_owned()]);
        store.take_dirty();
        store.forget_all();
        assert!(store.is_empty());
        assert_eq!(store.unknown(["b"]), vec!["b".to_owned()]);
    }
}
