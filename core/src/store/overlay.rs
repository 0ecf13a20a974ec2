//! A store that reads through to another and keeps its own writes: what a request's counter
//! checks *would* do, without doing it.
//!
//! The engine first runs a request's checks against an overlay (see `Policy::peek_checks`), so
//! a request some counter refuses writes nothing at all: refused traffic can neither wash other
//! keys out of a bounded store nor run up a store that bills writes. Writes stay in the overlay,
//! so two checks of one request on one key (two numbers of one prefix) see each other.

use std::cell::RefCell;

use super::{Record, Store, StoreError, Version, Versioned};
use crate::time::Timestamp;

/// One key the overlay holds a value for.
struct Written {
    key: String,
    value: Vec<u8>,
    expires_at: Timestamp,
    protected_until: Timestamp,
    /// Version handed to readers of the overlay's value.
    version: Version,
    /// Version of the key in `inner` when first read (`None`: absent): what a flush expects.
    base: Option<Version>,
}

/// Reads from `inner`, writes into itself; never writes to `inner` but through [`Overlay::flush`].
pub struct Overlay<'s> {
    inner: &'s dyn Store,
    written: RefCell<Vec<Written>>,
}

impl<'s> Overlay<'s> {
    /// An overlay with no writes of its own over `inner`.
    pub fn new(inner: &'s dyn Store) -> Overlay<'s> {
        Overlay { inner, written: RefCell::new(Vec::new()) }
    }

    /// Writes what the overlay holds to `inner`, key by key in the order first written, each
    /// against the version it was read at, so a key another writer changed meanwhile is refused
    /// (and left out). Returns the keys written.
    ///
    /// Counter steps are pure functions of the stored state and the time: when nobody wrote a
    /// key since it was read, running its checks again would write exactly this value, so a
    /// flush is a commit that skips the second run.
    pub fn flush(self, now: Timestamp) -> Vec<String> {
        let mut flushed = Vec::new();
        for w in self.written.into_inner() {
            let record =
                Record { value: &w.value, expires_at: w.expires_at, protected_until: w.protected_until };
            if self.inner.put(&w.key, record, w.base, now).is_ok() {
                flushed.push(w.key);
            }
        }
        flushed
    }
}

/// Versions the overlay hands out for its own writes; far from the small counters real stores
/// start at, and only ever compared with themselves.
const OVERLAY_VERSION_BASE: Version = 0x8000_0000;

impl Store for Overlay<'_> {
    fn get(&self, key: &str, now: Timestamp) -> Result<Option<Versioned>, StoreError> {
        if let Some(w) = self.written.borrow().iter().find(|w| w.key == key) {
            return Ok((w.expires_at > now).then(|| Versioned { value: w.value.clone(), version: w.version }));
        }
        self.inner.get(key, now)
    }

    fn put(
        &self,
        key: &str,
        record: Record<'_>,
        expected: Option<Version>,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        // One request, one thread: nothing can race the overlay, so every write lands.
        let mut written = self.written.borrow_mut();
        let version = OVERLAY_VERSION_BASE.wrapping_add(u32::try_from(written.len()).unwrap_or(0));
        match written.iter_mut().find(|w| w.key == key) {
            Some(w) => {
                w.value.clear();
                w.value.extend_from_slice(record.value);
                w.expires_at = record.expires_at;
                w.protected_until = record.protected_until;
                w.version = version;
            }
            // The first write of a key: the caller read it from `inner`, at `expected`.
            None => written.push(Written {
                key: key.to_owned(),
                value: record.value.to_vec(),
                expires_at: record.expires_at,
                protected_until: record.protected_until,
                version,
                base: expected,
            }),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn record(value: &[u8]) -> Record<'_> {
        Record { value, expires_at: Timestamp::from_millis(100), protected_until: Timestamp::default() }
    }

    #[test]
    fn reads_through_keeps_its_writes_and_never_writes_below() {
        let now = Timestamp::from_millis(0);
        let inner = MemoryStore::new();
        inner.put("a", record(b"1"), None, now).ok();
        let overlay = Overlay::new(&inner);
        assert_eq!(overlay.get("a", now).ok().flatten().map(|v| v.value), Some(b"1".to_vec()));
        overlay.put("a", record(b"2"), None, now).ok();
        overlay.put("b", record(b"3"), None, now).ok();
        assert_eq!(overlay.get("a", now).ok().flatten().map(|v| v.value), Some(b"2".to_vec()));
        assert_eq!(overlay.get("b", now).ok().flatten().map(|v| v.value), Some(b"3".to_vec()));
        assert_eq!(inner.get("a", now).ok().flatten().map(|v| v.value), Some(b"1".to_vec()));
        assert_eq!(inner.get("b", now), Ok(None));
        assert_eq!(inner.writes(), 1);
    }

    #[test]
    fn a_flush_writes_against_the_versions_read_and_skips_keys_changed_since() {
        let now = Timestamp::from_millis(0);
        let inner = MemoryStore::new();
        inner.put("a", record(b"1"), None, now).ok();
        let overlay = Overlay::new(&inner);
        for key in ["a", "b", "c"] {
            let read = overlay.get(key, now).ok().flatten().map(|v| v.version);
            overlay.put(key, record(b"x"), read, now).ok();
        }
        // Another writer changes "b" meanwhile (it was absent when read).
        inner.put("b", record(b"theirs"), None, now).ok();
        assert_eq!(overlay.flush(now), vec!["a".to_owned(), "c".to_owned()]);
        assert_eq!(inner.get("a", now).ok().flatten().map(|v| v.value), Some(b"x".to_vec()));
        assert_eq!(inner.get("b", now).ok().flatten().map(|v| v.value), Some(b"theirs".to_vec()));
    }
}
