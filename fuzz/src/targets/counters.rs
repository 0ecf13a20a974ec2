//! The counter codecs and the store boundary: every value a counter reads may come back
//! truncated, flipped or padded, a read or write may fail, a compare-and-swap may conflict —
//! under the plain store and under the bucketed store the filter uses.
//!
//! Input: a byte picking the scenario policy, a byte with the bucketed flag (bit 0), a byte `n`
//! and `n` noise bytes that script the store's misbehaviour, then frames. Properties: no panic,
//! and the same input decides the same twice.

use std::cell::Cell;

use pumpguard_core::store::{BucketedStore, Record, StoreError, Version, Versioned};
use pumpguard_core::{MemoryStore, Store, Timestamp};

use crate::{corpus, frame, run};

/// Runs the target on one input.
pub fn run(data: &[u8]) -> String {
    let [selector, flags, n, rest @ ..] = data else { return String::new() };
    let Some(scenario) = corpus::pick(*selector) else { return String::new() };
    let split = usize::from(*n).min(rest.len());
    let (noise, frames) = rest.split_at(split);
    let frames = frame::parse(frames, super::decision::MAX_FRAMES);
    let once = || {
        let memory = MemoryStore::new();
        let hostile = HostileStore { inner: &memory, noise, cursor: Cell::new(0) };
        if flags & 1 == 1 {
            let bucketed = BucketedStore::new(&hostile, 8, 4, 7);
            run::judge_all(&scenario.policy, &frames, &bucketed)
        } else {
            run::judge_all(&scenario.policy, &frames, &hostile)
        }
    };
    let first = once();
    assert_eq!(first, once(), "{}: the same requests decided differently", scenario.name);
    for line in &first {
        super::decision::check_shape(line);
    }
    super::digest_of(&first)
}

/// A store that misbehaves as its script says, one script byte per call (then behaves).
struct HostileStore<'a> {
    inner: &'a dyn Store,
    noise: &'a [u8],
    cursor: Cell<usize>,
}

impl HostileStore<'_> {
    fn next(&self) -> Option<u8> {
        let at = self.cursor.get();
        self.cursor.set(at + 1);
        self.noise.get(at).copied()
    }
}

impl Store for HostileStore<'_> {
    fn get(&self, key: &str, now: Timestamp) -> Result<Option<Versioned>, StoreError> {
        let read = self.inner.get(key, now)?;
        let Some(op) = self.next() else { return Ok(read) };
        let arg = self.next().unwrap_or(0);
        match (op % 8, read) {
            (0, _) => Err(StoreError::Unavailable),
            (1, Some(mut v)) => {
                v.value.truncate(usize::from(arg) % (v.value.len() + 1));
                Ok(Some(v))
            }
            (2, Some(mut v)) => {
                let len = v.value.len();
                if let Some(byte) = v.value.get_mut(usize::from(arg) % len.max(1)) {
                    *byte ^= 1 << (op >> 5);
                }
                Ok(Some(v))
            }
            (3, Some(mut v)) => {
                v.value.extend(std::iter::repeat_n(arg, usize::from(arg % 16) + 1));
                Ok(Some(v))
            }
            (4, None) => Ok(Some(Versioned { value: vec![arg; usize::from(op >> 3)], version: 1 })),
            (5, Some(mut v)) => {
                v.value = vec![0xff; v.value.len()];
                Ok(Some(v))
            }
            (_, read) => Ok(read),
        }
    }

    fn put(
        &self,
        key: &str,
        record: Record<'_>,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        match self.next().map(|op| op % 6) {
            Some(0) => Err(StoreError::Unavailable),
            Some(1) => Err(StoreError::Conflict),
            _ => self.inner.put(key, record, expected, now),
        }
    }
}
