//! When a counter shard deletes its expired rows: a Durable Object alarm, planned in request time
//! (the core's `now`, which the fetch handler sends with the checks), so expiry means the same
//! to the sweep as to the checks.
//!
//! A shard that writes rows plans a sweep at their earliest expiry, but never sooner than
//! `every` after the request (a rate-limit row can expire within milliseconds: one alarm per row
//! would be a storm). Each sweep deletes what has expired by its cutoff and plans the next one at
//! the earliest expiry left, again at least `every` later, or none when no row is left.

/// Default of `PUMPGUARD_SWEEP_EVERY_MS`: at most one sweep a minute per shard.
pub const DEFAULT_SWEEP_EVERY_MS: u64 = 60_000;
/// Bounds of `PUMPGUARD_SWEEP_EVERY_MS` (the low end is for tests).
pub const MIN_SWEEP_EVERY_MS: u64 = 100;
pub const MAX_SWEEP_EVERY_MS: u64 = 86_400_000;

/// The sweep to plan after a request at `now` wrote rows whose earliest expiry is `earliest`, or
/// `None` when the pending sweep (`pending`, its cutoff) comes first anyway.
pub fn after_write(now: u64, earliest: u64, pending: Option<u64>, every: u64) -> Option<u64> {
    let at = earliest.max(now.saturating_add(every));
    match pending {
        Some(pending) if pending <= at => None,
        _ => Some(at),
    }
}

/// The sweep to plan after one at `cutoff` left rows whose earliest expiry is `earliest`; `None`
/// (no row left) plans none.
pub fn after_sweep(cutoff: u64, earliest: Option<u64>, every: u64) -> Option<u64> {
    earliest.map(|earliest| earliest.max(cutoff.saturating_add(every)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: u64 = 60_000;

    #[test]
    fn a_write_plans_a_sweep_at_its_earliest_expiry_but_not_too_soon() {
        // Expires in an hour: swept then.
        assert_eq!(after_write(1_000, 3_601_000, None, EVERY), Some(3_601_000));
        // Expires in a second: swept a minute later, not a second later.
        assert_eq!(after_write(1_000, 2_000, None, EVERY), Some(61_000));
    }

    #[test]
    fn a_pending_sweep_is_moved_only_earlier() {
        assert_eq!(after_write(1_000, 2_000, Some(61_000), EVERY), None);
        assert_eq!(after_write(5_000, 2_000, Some(61_000), EVERY), None);
        // Only long rows so far (sweep in an hour); a short one moves it to a minute from now.
        assert_eq!(after_write(1_000, 2_000, Some(3_601_000), EVERY), Some(61_000));
        // An overdue sweep is about to run: left alone.
        assert_eq!(after_write(100_000, 2_000, Some(50_000), EVERY), None);
    }

    #[test]
    fn a_sweep_plans_the_next_only_while_rows_remain() {
        assert_eq!(after_sweep(61_000, None, EVERY), None);
        assert_eq!(after_sweep(61_000, Some(3_601_000), EVERY), Some(3_601_000));
        assert_eq!(after_sweep(61_000, Some(62_000), EVERY), Some(121_000));
        assert_eq!(after_sweep(u64::MAX - 1, Some(5), EVERY), Some(u64::MAX));
    }
}
