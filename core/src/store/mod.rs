//! Counter state behind one small synchronous compare-and-swap trait.
//!
//! Hosts implement [`Store`] over their shared state (proxy-wasm shared data, a Durable Object's
//! map, a `RefCell<HashMap>`); the read-modify-write retry loop lives here, in [`update`].

mod bucketed;
mod memory;

pub use bucketed::BucketedStore;
pub use memory::MemoryStore;

use crate::time::Timestamp;

/// Opaque version of a stored value; a write succeeds only against the version it read.
pub type Version = u32;

/// A stored value and the version it had when read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    pub value: Vec<u8>,
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

/// The one storage interface of the core.
pub trait Store {
    /// Current value of `key`, or `None` when absent or expired.
    fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError>;

    /// Writes `value` if the key is still at `expected` (`None`: the key must still be absent).
    /// `expires_at` tells the host when the value may be swept.
    fn put(
        &self,
        key: &str,
        value: &[u8],
        expires_at: Timestamp,
        expected: Option<Version>,
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
    /// Store this value, valid until the given time.
    Write { value: Vec<u8>, expires_at: Timestamp, result: T },
}

/// Read-modify-write of one key with a bounded compare-and-swap retry loop.
///
/// `step` sees the current bytes (or `None`) and returns the change; it may run several times
/// when other writers race, so it must be a pure function of its input.
pub fn update<T>(
    store: &dyn Store,
    key: &str,
    max_retries: u32,
    mut step: impl FnMut(Option<&[u8]>) -> Change<T>,
) -> Result<T, StoreError> {
    let mut attempts = 0u32;
    loop {
        let current = store.get(key)?;
        let (bytes, version) = match &current {
            Some(v) => (Some(v.value.as_slice()), Some(v.version)),
            None => (None, None),
        };
        match step(bytes) {
            Change::Keep(result) => return Ok(result),
            Change::Write { value, expires_at, result } => {
                match store.put(key, &value, expires_at, version) {
                    Ok(()) => return Ok(result),
                    Err(StoreError::Conflict) if attempts < max_retries => attempts += 1,
                    Err(e) => return Err(e),
                }
            }
        }
    }
}
