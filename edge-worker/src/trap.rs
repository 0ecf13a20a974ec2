//! The `test-trap` build's faults on demand, so the e2e tests can show what a bug or a stuck
//! Durable Object does to the Worker: a request carrying [`TRAP_HEADER`] with
//! - `worker`: panics in the fetch handler, as a bug would;
//! - `shard`: makes every counter shard it calls panic;
//! - `shard-slow-<ms>`: makes every counter shard it calls wait `<ms>` before answering.
//!
//! Every other build compiles this to nothing. The shard faults ride on the shard call as the
//! same header; the fetch handler keeps the request's fault in a per-isolate slot, which is
//! right only while requests arrive one at a time, as they do in the tests that use it.

#[cfg(feature = "test-trap")]
#[allow(clippy::panic)] // the whole point of this test-only build
mod armed {
    use std::cell::RefCell;
    use std::time::Duration;

    use worker::{Delay, Headers, Result};

    pub const TRAP_HEADER: &str = "x-pumpguard-test-trap";

    thread_local! {
        static SHARD_FAULT: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    /// Called first by the fetch handler: panics on `worker`, remembers a shard fault.
    pub fn on_request(headers: &Headers) {
        let fault = headers.get(TRAP_HEADER).ok().flatten();
        if fault.as_deref() == Some("worker") {
            panic!("test trap: the fetch handler panics on request");
        }
        SHARD_FAULT.with(|slot| *slot.borrow_mut() = fault.filter(|f| f.starts_with("shard")));
    }

    /// Puts the current request's shard fault on a shard call.
    pub fn pass_to_shard(headers: &worker::web_sys::Headers) -> Result<()> {
        if let Some(fault) = SHARD_FAULT.with(|slot| slot.borrow().clone()) {
            headers.set(TRAP_HEADER, &fault)?;
        }
        Ok(())
    }

    /// Called by the shard before it runs checks: panics or waits as the call asks.
    pub async fn in_shard(headers: &Headers) {
        let fault = headers.get(TRAP_HEADER).ok().flatten().unwrap_or_default();
        if fault == "shard" {
            panic!("test trap: the counter shard panics on request");
        }
        if let Some(ms) = fault.strip_prefix("shard-slow-").and_then(|ms| ms.parse::<u64>().ok()) {
            Delay::from(Duration::from_millis(ms)).await;
        }
    }
}

#[cfg(feature = "test-trap")]
pub use armed::{in_shard, on_request, pass_to_shard};

/// Nothing outside `test-trap` builds.
#[cfg(not(feature = "test-trap"))]
#[inline(always)]
pub fn on_request(_headers: &worker::Headers) {}

/// Nothing outside `test-trap` builds.
#[cfg(not(feature = "test-trap"))]
#[inline(always)]
pub fn pass_to_shard(_headers: &worker::web_sys::Headers) -> worker::Result<()> {
    Ok(())
}

/// Nothing outside `test-trap` builds.
#[cfg(not(feature = "test-trap"))]
#[inline(always)]
pub async fn in_shard(_headers: &worker::Headers) {}
