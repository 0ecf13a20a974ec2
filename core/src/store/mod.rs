//! Counter state behind one small synchronous compare-and-swap trait.
//!
//! Hosts implement [`Store`] over their shared state (proxy-wasm shared data, a Durable Object's
//! map, a `RefCell<HashMap>`); the read-modify-write retry loop lives here, in [`update`].

mod bucketed;
mod memory;
mod overlay;

pub use bucketed::{BucketedStore, EvictionPressure};
pub use memory::MemoryStore;
pub use overlay::Overlay;

use crate::time::Timestamp;

/// Opaque version of a stored value; a write succeeds only against the version it read.
pub type Version = u32;

/// A stored value and the version it had when read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    /// The stored bytes.
    pub value: Vec<u8>,
    /// The version to hand back to [`Store::put`] to overwrite this value.
    pub version: Version,
}

/// Why a store call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// Someone else wrote the key since it was read (or created it, for an expected-absent write).
    Conflict,
    /// The store could not be reached or refused the call.
    Unavailable,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreError::Conflict => "compare-and-swap conflict on every retry",
            StoreError::Unavailable => "counter store unavailable",
        })
    }
}

impl std::error::Error for StoreError {}

/// A value to store: its bytes, when it may be swept, and until when losing it would let through
/// traffic it refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The bytes to store.
    pub value: &'a [u8],
    /// After this time the value reads as absent and may be swept.
    pub expires_at: Timestamp,
    /// Until this time the value holds a refusal in force or a penalty that escalates (an active
    /// block, a pending backoff wait, strikes): a bounded store evicts such values last, and
    /// never for a value that is mere counting history. At or before `now`: history.
    pub protected_until: Timestamp,
}

/// The one storage interface of the core. Time comes in with every call, as everywhere in the
/// core: a value whose expiry has passed at `now` reads as absent.
pub trait Store {
    /// Current value of `key` at `now`, or `None` when absent or expired.
    fn get(&self, key: &str, now: Timestamp) -> Result<Option<Versioned>, StoreError>;

    /// Writes `record` if the key is still at `expected` (`None`: the key must still be absent,
    /// or expired at `now`).
    fn put(
        &self,
        key: &str,
        record: Record<'_>,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<(), StoreError>;
}

/// Stable seeded 64-bit hash of a counter key, for hosts that spread keys over a fixed set of
/// places (buckets, shards): FNV-1a over seed and key, then an avalanche so low bits mix well.
/// A private seed per deployment keeps anyone from aiming many keys at one place.
pub fn key_hash(seed: u64, key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^ (hash >> 33)
}

/// What a read-modify-write step decided to do with the value it read.
pub enum Change<T> {
    /// Leave the stored value as it is.
    Keep(T),
    /// Store this value, valid until `expires_at`, to be spared by eviction until
    /// `protected_until` (see [`Record`]).
    Write {
        /// The new bytes.
        value: Vec<u8>,
        /// After this time the value reads as absent and may be swept.
        expires_at: Timestamp,
        /// Until this time eviction spares the value (see [`Record::protected_until`]).
        protected_until: Timestamp,
        /// What the step concluded, returned once the write succeeds.
        result: T,
    },
}

/// Read-modify-write of one key with a bounded compare-and-swap retry loop.
///
/// `step` sees the current bytes (or `None`) and returns the change; it may run several times
/// when other writers race, so it must be a pure function of its input.
pub fn update<T>(
    store: &dyn Store,
    key: &str,
    now: Timestamp,
    max_retries: u32,
    mut step: impl FnMut(Option<&[u8]>) -> Change<T>,
) -> Result<T, StoreError> {
    let mut attempts = 0u32;
    loop {
        let current = store.get(key, now)?;
        let (bytes, version) = match &current {
            Some(v) => (Some(v.value.as_slice()), Some(v.version)),
            None => (None, None),
        };
        match step(bytes) {
            Change::Keep(result) => return Ok(result),
            Change::Write { value, expires_at, protected_until, result } => {
                let record = Record { value: &value, expires_at, protected_until };
                match store.put(key, record, version, now) {
                    Ok(()) => return Ok(result),
                    Err(StoreError::Conflict) if attempts < max_retries => attempts += 1,
                    Err(e) => return Err(e),
                }
            }
        }
    }
}
