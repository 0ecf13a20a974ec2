//! The core's [`Store`] inside a counter shard (a Durable Object).
//!
//! A Durable Object runs one event at a time, so its in-memory map is the atomic store the core's
//! compare-and-swap loop needs. Every entry written while running a request's checks is marked
//! dirty; the object persists the dirty entries to its storage before it answers, so an eviction
//! or restart loses nothing that was acknowledged. Entries are loaded from storage lazily, once
//! per key and object lifetime, before the checks that need them run.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use pumpguard_core::store::{Record, StoreError, Version, Versioned};
use pumpguard_core::{CheckOutcome, Policy, Store, Timestamp};

use crate::wire::ShardRequest;

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
    next_version: Cell<Version>,
}

impl ShardStore {
    pub fn new() -> ShardStore {
        ShardStore::default()
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
    /// copy there are none (a key not in memory is absent), and nothing is recorded for them: a
    /// flood of peeks at new keys writes no entry, so it must not grow memory either.
    pub fn unknown<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> Vec<String> {
        if self.complete.get() {
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

    /// Whether the stored state of `key` is in memory (read, found absent, or a complete copy).
    fn is_known(&self, key: &str) -> bool {
        self.complete.get() || self.known.borrow().contains(key)
    }

    /// Runs a shard request's checks, whose keys must all be read first ([`ShardStore::unknown`]).
    /// A peek runs them on an overlay ([`Policy::peek_checks`]): nothing becomes dirty, so
    /// nothing is stored. Otherwise each runs for real and what it wrote is dirty.
    pub fn run(&self, policy: &Policy, request: &ShardRequest) -> Vec<CheckOutcome> {
        let now = Timestamp::from_millis(request.now_ms);
        if request.peek {
            return policy.peek_checks(&request.checks, now, self);
        }
        request.checks.iter().map(|check| policy.run_check(check, now, self)).collect()
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

    /// Keys held in memory: entries, and keys read from storage and found absent (which peeks
    /// at new keys leave behind, with no entry).
    pub fn keys_held(&self) -> usize {
        self.entries.borrow().len().max(self.known.borrow().len())
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
    fn get(&self, key: &str, now: Timestamp) -> Result<Option<Versioned>, StoreError> {
        if !self.is_known(key) {
            // Running a check on a key whose storage was not read would lose its count.
            return Err(StoreError::Unavailable);
        }
        Ok(self
            .entries
            .borrow()
            .get(key)
            .filter(|e| e.expires_at > now)
            .map(|e| Versioned { value: e.value.clone(), version: e.version }))
    }

    /// `record.protected_until` is not kept: a shard never evicts a row before it expires (memory
    /// is bounded by dropping the cached copy, storage by the expiry sweep), so there is nothing
    /// to protect from.
    fn put(
        &self,
        key: &str,
        record: Record<'_>,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if !self.is_known(key) {
            return Err(StoreError::Unavailable);
        }
        let version = self.bump();
        let mut entries = self.entries.borrow_mut();
        let current = entries.get(key).filter(|e| e.expires_at > now).map(|e| e.version);
        if current != expected {
            return Err(StoreError::Conflict);
        }
        let expires_at = record.expires_at;
        match entries.get_mut(key) {
            Some(entry) => {
                entry.value.clear();
                entry.value.extend_from_slice(record.value);
                entry.version = version;
                entry.expires_at = expires_at;
            }
            None => {
                entries.insert(key.to_owned(), Entry { value: record.value.to_vec(), version, expires_at });
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

    fn record(value: &[u8], expires_at: Timestamp) -> Record<'_> {
        Record { value, expires_at, protected_until: Timestamp::default() }
    }

    /// Counts one up, valid until 1000.
    fn count(b: Option<&[u8]>) -> Change<u8> {
        let n = b.map_or(0, |b| b.first().copied().unwrap_or(0)) + 1;
        Change::Write { value: vec![n], expires_at: t(1000), protected_until: t(0), result: n }
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
        assert_eq!(store.get("k", t(0)), Err(StoreError::Unavailable));
        assert_eq!(store.put("k", record(b"v", t(10)), None, t(0)), Err(StoreError::Unavailable));
        assert_eq!(store.unknown(["k", "k", "j"]), vec!["k".to_owned(), "j".to_owned()]);
        store.loaded("k", None);
        assert_eq!(store.unknown(["k", "j"]), vec!["j".to_owned()]);
        assert_eq!(store.get("k", t(0)), Ok(None));
    }

    #[test]
    fn compare_and_swap_and_dirty_tracking() {
        let store = ShardStore::new();
        store.loaded("k", None);
        store.put("k", record(b"a", t(100)), None, t(1)).unwrap();
        assert_eq!(store.put("k", record(b"b", t(100)), None, t(1)), Err(StoreError::Conflict));
        let v = store.get("k", t(1)).unwrap().unwrap();
        assert_eq!(v.value, b"a");
        assert_eq!(
            store.put("k", record(b"b", t(100)), Some(v.version.wrapping_add(7)), t(1)),
            Err(StoreError::Conflict)
        );
        store.put("k", record(b"b", t(100)), Some(v.version), t(1)).unwrap();
        assert_eq!(store.take_dirty(), vec![("k".to_owned(), encode(b"b", t(100)), t(100))]);
        assert!(store.take_dirty().is_empty());
    }

    #[test]
    fn loaded_state_survives_a_new_object() {
        // First object: count to 3, persist.
        let first = ShardStore::new();
        first.loaded("n", None);
        for _ in 0..3 {
            update(&first, "n", t(5), 8, count).unwrap();
        }
        let persisted = first.take_dirty();
        // Second object (after eviction) reads storage and continues from 3.
        let second = ShardStore::new();
        let (key, stored, _) = persisted.first().cloned().unwrap();
        second.loaded(&key, Some(&stored));
        assert_eq!(update(&second, "n", t(6), 8, count).unwrap(), 4);
        // A later load never overwrites newer memory.
        second.loaded("n", Some(&encode(&[1], t(1000))));
        assert_eq!(second.get("n", t(6)).unwrap().unwrap().value, vec![4]);
    }

    #[test]
    fn a_complete_copy_needs_no_reads() {
        let store = ShardStore::new();
        let stored = encode(&[7], t(100));
        store.load_all([("a", Some(stored.as_str())), ("absent", None)]);
        assert!(store.is_complete());
        assert!(store.unknown(["a", "b"]).is_empty());
        assert_eq!(store.get("a", t(1)).unwrap().unwrap().value, vec![7]);
        assert_eq!(store.get("b", t(1)), Ok(None));
        store.put("b", record(b"x", t(100)), None, t(1)).unwrap();
        store.take_dirty();
        store.forget_all();
        assert!(!store.is_complete());
        assert_eq!(store.unknown(["a"]), vec!["a".to_owned()]);
    }

    #[test]
    fn expiry_is_judged_at_the_time_of_each_call() {
        let store = ShardStore::new();
        store.loaded("a", Some(&encode(b"x", t(10))));
        store.loaded("b", Some(&encode(b"y", t(50))));
        store.loaded("c", None);
        let live = store.get("a", t(9)).unwrap().unwrap();
        assert_eq!(live.value, b"x".to_vec());
        assert_eq!(store.get("a", t(10)), Ok(None));
        // Writing over an expired entry expects it absent, not at the version it had.
        assert_eq!(store.put("a", record(b"z", t(30)), Some(live.version), t(20)), Err(StoreError::Conflict));
        store.put("a", record(b"z", t(30)), None, t(20)).unwrap();
        assert_eq!(store.sweep(t(40)), vec!["a".to_owned()]);
        assert_eq!(store.len(), 1);
        assert_eq!(store.unknown(["a", "b", "c"]), vec!["a".to_owned(), "c".to_owned()]);
        store.take_dirty();
        store.forget_all();
        assert!(store.is_empty());
        assert_eq!(store.unknown(["b"]), vec!["b".to_owned()]);
    }

    /// Per-IP limit (burst 2) and a conversion rule that blocks a 6-digit scope after 3 sends
    /// with no confirmation.
    fn flood_policy() -> Policy {
        Policy::from_json(
            r#"{"version":1,"default_region":"US",
                "routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/otp"}},"extract":{"json_keys":["phone"]}},
                          {"id":"verify","kind":"confirm","match":{"path":{"exact":"/verify"}},"extract":{"json_keys":["phone"]}}],
                "rules":[
                  {"id":"per-ip","action":"throttle","rate_limit":{"key":["client_ip"],"rate":1,"per_seconds":3600,"burst":2}},
                  {"id":"conversion","action":"block","conversion":{"scope":{"prefix":6},"min_sends":3,"min_ratio":0.5,"window_seconds":3600,"block_seconds":3600}}
                ]}"#,
        )
        .unwrap()
    }

    /// The fetch handler's flow against one shard: peek, conclude, commit what is pending,
    /// settle. Returns the decision and the rows the request left to store.
    fn judge(
        policy: &Policy,
        store: &ShardStore,
        ip: &str,
        phone: &str,
        at: u64,
    ) -> (pumpguard_core::Action, usize) {
        let headers = [("content-type", "application/json")];
        let body = format!(r#"{{"phone":"{phone}"}}"#);
        let request = pumpguard_core::Request {
            method: "POST",
            authority: "x",
            path: "/otp",
            version: pumpguard_core::HttpVersion::Http11,
            headers: &headers,
            body: body.as_bytes(),
            body_truncated: false,
            client_ip: ip.parse().ok(),
            tls: Default::default(),
            edge: Default::default(),
        };
        let prepared = policy.prepare(&request, t(at));
        let batch = |peek: bool, checks: &[pumpguard_core::CounterCheck]| ShardRequest {
            policy_id: 1,
            now_ms: at,
            peek,
            namespace: None,
            checks: checks.to_vec(),
        };
        let peek = batch(true, prepared.checks());
        for key in store.unknown(peek.checks.iter().map(|c| c.key.as_str())) {
            store.loaded(&key, None);
        }
        let peeked = store.run(policy, &peek);
        assert!(store.take_dirty().is_empty(), "a peek leaves nothing to store");
        let decision = policy.conclude(prepared, &peeked);
        let decision = if decision.pending_commits().is_empty() {
            decision
        } else {
            let commit = batch(false, decision.pending_commits());
            let outcomes = store.run(policy, &commit);
            policy.settle_commits(decision, &outcomes)
        };
        (decision.action, store.take_dirty().len())
    }

    #[test]
    fn a_peek_stores_nothing_a_commit_stores_what_it_counted() {
        let policy = flood_policy();
        let store = ShardStore::new();
        store.load_all([]);
        // Sent: each check counted (per IP, scope, number sent to): three rows.
        assert_eq!(
            judge(&policy, &store, "192.0.2.1", "+14155550101", 0),
            (pumpguard_core::Action::Allow, 3)
        );
        assert_eq!(
            judge(&policy, &store, "192.0.2.1", "+12125550102", 0),
            (pumpguard_core::Action::Allow, 3)
        );
        // The per-IP limit refuses: nothing counted, nothing stored.
        assert_eq!(
            judge(&policy, &store, "192.0.2.1", "+13105550103", 0),
            (pumpguard_core::Action::Throttle, 0)
        );
    }

    #[test]
    fn a_refusal_stores_only_the_block_it_starts_then_nothing() {
        let policy = flood_policy();
        let store = ShardStore::new();
        store.load_all([]);
        let ip = |i: u32| format!("198.51.100.{i}");
        assert_eq!(judge(&policy, &store, &ip(1), "+14155550101", 0).0, pumpguard_core::Action::Allow);
        assert_eq!(judge(&policy, &store, &ip(2), "+14155550102", 0).0, pumpguard_core::Action::Allow);
        // The third send of the scope with no confirmation starts its block: that row is stored.
        assert_eq!(judge(&policy, &store, &ip(3), "+14155550103", 0), (pumpguard_core::Action::Block, 1));
        // Refused by the active block, from new clients to new numbers: no row at all.
        for i in 4..50 {
            let phone = format!("+141555501{i:02}");
            assert_eq!(
                judge(&policy, &store, &ip(i), &phone, 10),
                (pumpguard_core::Action::Block, 0),
                "{phone}"
            );
        }
        // Nor anything held in memory for the keys they looked at: the rows of the two sends
        // (two per-IP, two numbers sent to, one scope, which now holds the block).
        assert_eq!(store.keys_held(), 5);
    }

    #[test]
    fn peeks_at_new_keys_of_a_large_shard_are_bounded_by_a_sweep() {
        // Not a complete copy: keys are read (here: found absent) before they are peeked at, and
        // remembered as absent until memory is bounded.
        let policy = flood_policy();
        let store = ShardStore::new();
        for i in 0..20 {
            let _ = judge(&policy, &store, &format!("203.0.113.{i}"), "+14155550101", 0);
        }
        assert!(store.keys_held() > store.len());
        store.sweep(t(0));
        assert_eq!(store.keys_held(), store.len());
    }
}
