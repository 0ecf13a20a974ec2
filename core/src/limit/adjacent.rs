//! Enumeration of adjacent numbers: attackers walk a block of numbers they own (…000, …001, …).
//! State per block (the number minus its last K digits): the distinct suffixes seen in the
//! window, and a block that lengthens with every repeat offence.

use super::codec::{Reader, Writer};
use super::CounterVerdict;
use crate::store::Change;
use crate::time::Timestamp;

/// A compiled `adjacent` rule; durations in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdjacentParams {
    /// Trailing digits that vary within one block, 1 to 4.
    pub suffix_digits: u8,
    /// Distinct suffixes one block may see within the window.
    pub max_distinct: u32,
    /// Window in which distinct suffixes are counted.
    pub window_ms: u64,
    /// Length of the first block.
    pub block_ms: u64,
    /// Each further block lasts this many times longer...
    pub escalation_factor: u32,
    /// ...up to this long.
    pub max_block_ms: u64,
    /// A send number intelligence refuses is still seen (`count_intel_refusals`).
    pub count_intel_refusals: bool,
}

#[derive(Debug, Default)]
struct BlockState {
    blocked_until: u64,
    strikes: u32,
    /// (suffix, last seen)
    seen: Vec<(u16, u64)>,
}

fn decode(bytes: &[u8]) -> Option<BlockState> {
    let mut r = Reader::new(bytes);
    let blocked_until = r.u64()?;
    let strikes = r.u32()?;
    let mut seen = Vec::new();
    while !r.is_empty() {
        seen.push((r.u16()?, r.u64()?));
    }
    Some(BlockState { blocked_until, strikes, seen })
}

fn encode(state: &BlockState) -> Vec<u8> {
    let mut w = Writer::default().u64(state.blocked_until).u32(state.strikes);
    for (suffix, at) in &state.seen {
        w = w.u16(*suffix).u64(*at);
    }
    w.finish()
}

impl AdjacentParams {
    /// The block key part and suffix of an E.164 digit string, or `None` when it is too short.
    pub fn split<'a>(&self, digits: &'a str) -> Option<(&'a str, u16)> {
        let cut = digits.len().checked_sub(usize::from(self.suffix_digits))?;
        let (block, suffix) = (digits.get(..cut)?, digits.get(cut..)?);
        Some((block, suffix.parse().ok()?))
    }

    fn block_duration(&self, strikes: u32) -> u64 {
        super::escalated(self.block_ms, self.escalation_factor, strikes, self.max_block_ms)
    }

    /// One number (`suffix`) of this block: refused while the block is blocked; more than
    /// `max_distinct` distinct suffixes within the window start a block, longer on every repeat.
    pub fn step(&self, stored: Option<&[u8]>, suffix: u16, now: Timestamp) -> Change<CounterVerdict> {
        let now_ms = now.as_millis();
        let mut state = stored.and_then(decode).unwrap_or_default();
        if state.blocked_until > now_ms {
            return Change::Keep(CounterVerdict::trigger(state.blocked_until - now_ms));
        }
        state.seen.retain(|(s, at)| at.saturating_add(self.window_ms) > now_ms && *s != suffix);
        state.seen.push((suffix, now_ms));
        let verdict = if state.seen.len() as u64 > u64::from(self.max_distinct) {
            state.strikes = state.strikes.saturating_add(1);
            let duration = self.block_duration(state.strikes);
            state.blocked_until = now_ms.saturating_add(duration);
            state.seen.clear();
            CounterVerdict::escalate(duration)
        } else {
            CounterVerdict::PASS
        };
        // Sightings matter for the window only; strikes are remembered for one longest block after
        // the last activity, so repeats escalate.
        // Until the latest sighting leaves the window: after the host clock steps back, sightings
        // stamped later than `now` are kept, and the record must not expire before them.
        let latest = state.seen.iter().map(|(_, at)| *at).max().unwrap_or(now_ms).max(now_ms);
        let window_end = latest.saturating_add(self.window_ms);
        let expires_at = if state.strikes > 0 {
            window_end.max(state.blocked_until).saturating_add(self.max_block_ms)
        } else {
            window_end
        };
        // A block in force, and the strikes that make the next one longer, must outlive a flood
        // of other blocks' sightings.
        let protected_until = if state.strikes > 0 { expires_at } else { 0 };
        Change::Write {
            value: encode(&state),
            expires_at: Timestamp::from_millis(expires_at),
            protected_until: Timestamp::from_millis(protected_until),
            result: verdict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{update, MemoryStore};

    fn params() -> AdjacentParams {
        AdjacentParams {
            suffix_digits: 2,
            max_distinct: 3,
            window_ms: 60_000,
            block_ms: 10_000,
            escalation_factor: 3,
            max_block_ms: 50_000,
            count_intel_refusals: false,
        }
    }

    #[test]
    fn distinct_numbers_in_a_block_trigger_and_escalate() {
        let p = params();
        let store = MemoryStore::new();
        let hit = |t: u64, digits: &str| {
            let (block, suffix) = p.split(digits).unwrap();
            let now = Timestamp::from_millis(t);
            update(&store, block, now, 4, |b| p.step(b, suffix, now)).unwrap()
        };
        assert!(!hit(0, "4477009001").triggered);
        assert!(!hit(1, "4477009001").triggered); // same number again is not a new one
        assert!(!hit(2, "4477009002").triggered);
        assert!(!hit(3, "4477009003").triggered);
        assert_eq!(hit(4, "4477009004").retry_after_ms, Some(10_000));
        assert!(hit(5, "4477009001").triggered); // whole block is blocked now
        assert!(!hit(5, "4477009101").triggered); // a different block is not
                                                  // After the block, a second offence blocks three times longer.
        for (i, n) in ["4477009010", "4477009011", "4477009012"].iter().enumerate() {
            assert!(!hit(10_004 + i as u64, n).triggered);
        }
        assert_eq!(hit(10_010, "4477009013").retry_after_ms, Some(30_000));
    }

    #[test]
    fn old_sightings_leave_the_window() {
        let p = params();
        let store = MemoryStore::new();
        let hit = |t: u64, suffix: u16| {
            let now = Timestamp::from_millis(t);
            update(&store, "b", now, 4, |b| p.step(b, suffix, now)).unwrap()
        };
        for (i, s) in [1, 2, 3].iter().enumerate() {
            assert!(!hit(i as u64 * 30_000, *s).triggered);
        }
        assert!(!hit(70_000, 4).triggered); // suffix 1 (t=0) has left the 60 s window
    }
}
