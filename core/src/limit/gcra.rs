//! Generic cell rate algorithm: one u64 per key (the theoretical arrival time), no fixed-window
//! edge bursts, and the exact wait for a rejected request.

use std::num::NonZeroU32;

use super::codec::{Reader, Writer};
use super::CounterVerdict;
use crate::store::Change;
use crate::time::Timestamp;

/// Longest time a limit may remember (`per_seconds * burst / rate`): ten years. A longer
/// horizon cannot be told from "unlimited" in practice, and near `u64` microseconds the
/// arithmetic would saturate and let every request pass; the policy loader refuses it.
pub const MAX_HORIZON_SECONDS: u64 = 10 * 365 * 86_400;

/// `rate` requests per `period` on average, `burst` of them at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcraParams {
    /// Microseconds between two requests at the sustained rate.
    emission_us: u64,
    /// How far ahead of now the arrival time may run: room for `burst - 1` extra requests.
    tolerance_us: u64,
}

impl GcraParams {
    /// The limit's horizon in seconds (`period * burst / rate`), computed without overflow: the
    /// loader refuses limits whose horizon exceeds [`MAX_HORIZON_SECONDS`].
    pub fn horizon_seconds(rate: NonZeroU32, period_seconds: NonZeroU32, burst: NonZeroU32) -> u64 {
        let horizon = u128::from(period_seconds.get()) * u128::from(burst.get()) / u128::from(rate.get());
        u64::try_from(horizon).unwrap_or(u64::MAX)
    }

    /// Exact for every limit within [`MAX_HORIZON_SECONDS`]; beyond it (which the loader refuses)
    /// the tolerance is clamped to the horizon, so a limit stays a limit and never becomes
    /// "unlimited" through saturation.
    pub fn new(rate: NonZeroU32, period_seconds: NonZeroU32, burst: NonZeroU32) -> GcraParams {
        let max_us = u128::from(MAX_HORIZON_SECONDS) * 1_000_000;
        let emission =
            (u128::from(period_seconds.get()) * 1_000_000 / u128::from(rate.get())).clamp(1, max_us);
        let tolerance = (emission * u128::from(burst.get() - 1)).min(max_us);
        GcraParams {
            emission_us: u64::try_from(emission).unwrap_or(u64::MAX),
            tolerance_us: u64::try_from(tolerance).unwrap_or(u64::MAX),
        }
    }

    /// One send on the key: refused, with the exact wait, when the key has no room left;
    /// otherwise counted.
    pub fn step(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        match self.peek(stored, now) {
            refused @ Change::Keep(CounterVerdict { triggered: true, .. }) => refused,
            _ => self.charge(stored, now),
        }
    }

    /// Whether [`GcraParams::step`] would refuse a send now, with the wait; writes nothing.
    /// For sends counted only once their outcome is known ([`GcraParams::charge`]).
    pub fn peek(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let (tat, now_us) = arrival(stored, now);
        let ahead = tat - now_us;
        if ahead > self.tolerance_us {
            return Change::Keep(CounterVerdict::trigger((ahead - self.tolerance_us).div_ceil(1000)));
        }
        Change::Keep(CounterVerdict::PASS)
    }

    /// Counts a send, room or not: [`GcraParams::step`]'s write, and for a send that already
    /// happened what passed a [`GcraParams::peek`] while others raced it still cost what it
    /// cost, and the key refuses that much longer.
    pub fn charge(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let (tat, _) = arrival(stored, now);
        let new_tat = tat.saturating_add(self.emission_us);
        // The next request is refused until the arrival time comes back within the tolerance:
        // a key that throttles must outlive a flood of other keys.
        let refuses_until = new_tat.saturating_sub(self.tolerance_us);
        Change::Write {
            value: Writer::default().u64(new_tat).finish(),
            // Once now passes the arrival time the state equals a fresh key: let it expire then.
            expires_at: Timestamp::from_millis(new_tat.div_ceil(1000)),
            protected_until: Timestamp::from_millis(refuses_until.div_ceil(1000)),
            result: CounterVerdict::PASS,
        }
    }
}

/// The key's theoretical arrival time, never before now, and now, in microseconds.
fn arrival(stored: Option<&[u8]>, now: Timestamp) -> (u64, u64) {
    let now_us = now.as_millis().saturating_mul(1000);
    (stored.and_then(|b| Reader::new(b).u64()).unwrap_or(0).max(now_us), now_us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{update, MemoryStore};

    fn nz(v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).unwrap()
    }

    fn hit(store: &MemoryStore, params: &GcraParams, now_ms: u64) -> CounterVerdict {
        let now = Timestamp::from_millis(now_ms);
        update(store, "k", now, 4, |b| params.step(b, now)).unwrap()
    }

    #[test]
    fn charges_count_what_peeks_let_through() {
        // 3 a day: three charged sends leave no room, a peek writes nothing.
        let params = GcraParams::new(nz(3), nz(86_400), nz(3));
        let store = MemoryStore::new();
        let at = |ms: u64| Timestamp::from_millis(ms);
        let peek = |ms: u64| update(&store, "k", at(ms), 4, |b| params.peek(b, at(ms))).unwrap();
        let charge = |ms: u64| update(&store, "k", at(ms), 4, |b| params.charge(b, at(ms))).unwrap();
        for i in 0..3 {
            assert!(!peek(i).triggered);
            assert!(!peek(i).triggered);
            charge(i);
        }
        let refused = peek(3);
        assert!(refused.triggered);
        // One send's worth of the day (8 h) after the first, less the 3 ms since.
        assert_eq!(refused.retry_after_ms, Some(28_800_000 - 3));
        // A fourth that raced through is charged too: the wait grows by its share.
        charge(4);
        assert_eq!(peek(5).retry_after_ms, Some(2 * 28_800_000 - 5));
        assert!(!peek(2 * 28_800_000).triggered);
    }

    #[test]
    fn burst_then_sustained_rate() {
        // 5 per 10 minutes, burst 5 (Twilio's per-number default).
        let params = GcraParams::new(nz(5), nz(600), nz(5));
        let store = MemoryStore::new();
        for _ in 0..5 {
            assert!(!hit(&store, &params, 0).triggered);
        }
        let sixth = hit(&store, &params, 0);
        assert!(sixth.triggered);
        assert_eq!(sixth.retry_after_ms, Some(120_000));
        assert!(hit(&store, &params, 119_999).triggered);
        assert!(!hit(&store, &params, 120_000).triggered);
    }

    #[test]
    fn no_edge_burst_across_a_window_boundary() {
        // A fixed window would allow 2x at the boundary; GCRA allows burst + elapsed/emission.
        let params = GcraParams::new(nz(10), nz(60), nz(10));
        let store = MemoryStore::new();
        let allowed = (0..40).map(|i| hit(&store, &params, 59_000 + i * 50)).filter(|v| !v.triggered).count();
        assert_eq!(allowed, 10);
    }

    #[test]
    fn a_huge_period_with_a_huge_burst_is_still_a_limit() {
        // rate 1 per u32::MAX seconds, burst 5000: the tolerance once saturated to "infinite".
        let params = GcraParams::new(nz(1), nz(u32::MAX), nz(5000));
        assert!(GcraParams::horizon_seconds(nz(1), nz(u32::MAX), nz(5000)) > MAX_HORIZON_SECONDS);
        let store = MemoryStore::new();
        let allowed = (0..5010).filter(|i| !hit(&store, &params, *i).triggered).count();
        assert!(allowed <= 5000, "{allowed} of 5010 allowed");
        // Within the horizon (3000 days) the limit is exact.
        let params = GcraParams::new(nz(1), nz(86_400), nz(3000));
        let store = MemoryStore::new();
        let allowed = (0..3010).filter(|i| !hit(&store, &params, *i).triggered).count();
        assert_eq!(allowed, 3000);
    }

    proptest::proptest! {
        #[test]
        fn never_more_than_burst_plus_rate(
            times in proptest::collection::vec(0u64..600_000, 1..200),
            rate in 1u32..20, burst in 1u32..10,
        ) {
            let mut times = times;
            times.sort_unstable();
            let params = GcraParams::new(nz(rate), nz(60), nz(burst));
            let store = MemoryStore::new();
            let span = times.last().copied().unwrap_or(0) - times.first().copied().unwrap_or(0);
            let allowed = times.iter().filter(|t| !hit(&store, &params, **t).triggered).count() as u64;
            let bound = u64::from(burst) + span * u64::from(rate) / 60_000 + 1;
            proptest::prop_assert!(allowed <= bound, "allowed {allowed} > bound {bound}");
        }
    }
}
