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

struct Written {
    key: String,
    value: Vec<u8>,
    expires_at: Timestamp,
    version: Version,
}

/// Reads from `inner`, writes into itself; never writes to `inner`.
pub struct Overlay<'s> {
    inner: &'s dyn Store,
    written: RefCell<Vec<Written>>,
}

impl<'s> Overlay<'s> {
    /// An overlay with no writes of its own over `inner`.
    pub fn new(inner: &'s dyn Store) -> Overlay<'s> {
        Overlay { inner, written: RefCell::new(Vec::new()) }
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
        _expected: Option<Version>,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        // One request, one thread: nothing can race the overlay, so every write lands.
        let mut written = self.written.borrow_mut();
        let version = OVERLAY_VERSION_BASE + u32::try_from(written.len()).unwrap_or(0);
        written.retain(|w| w.key != key);
        written.push(Written {
            key: key.to_owned(),
            value: record.value.to_vec(),
            expires_at: record.expires_at,
            version,
        });
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
}
