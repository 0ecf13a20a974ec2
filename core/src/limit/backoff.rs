//! Exponential backoff between sends to one number: after the n-th send the next one waits
//! `base * factor^(n-1)`, capped; a quiet period resets the sequence.
//!
//! The quiet period is measured from the end of the last required wait, not from the last
//! send: measured from the send, a `reset_after` shorter than the waits would reset the
//! sequence each time a client simply waited out its backoff, so it would never escalate.

use super::codec::{Reader, Writer};
use super::CounterVerdict;
use crate::store::Change;
use crate::time::Timestamp;

/// A compiled `backoff` rule; durations in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffParams {
    /// Wait after the first send.
    pub base_ms: u64,
    /// Each further wait is this many times the previous one.
    pub factor: u32,
    /// Longest wait.
    pub max_ms: u64,
    /// Quiet time, counted from the end of the last required wait, after which the sequence restarts.
    pub reset_after_ms: u64,
}

impl BackoffParams {
    /// Wait required after `sends` sends (sends >= 1).
    fn wait_after(&self, sends: u32) -> u64 {
        super::escalated(self.base_ms, self.factor, sends, self.max_ms)
    }

    /// One send to the number: refused while its wait is in force, else counted.
    pub fn step(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let state = stored.and_then(|b| {
            let mut r = Reader::new(b);
            Some((r.u64()?, r.u32()?))
        });
        let now_ms = now.as_millis();
        let sends = match state {
            Some((last, sends)) => {
                let ready_at = last.saturating_add(self.wait_after(sends));
                if now_ms < ready_at {
                    return Change::Keep(CounterVerdict::trigger(ready_at - now_ms));
                }
                if now_ms - ready_at < self.reset_after_ms {
                    sends.saturating_add(1)
                } else {
                    1
                }
            }
            None => 1,
        };
        let ready_at = now_ms.saturating_add(self.wait_after(sends));
        let expires_at = ready_at.saturating_add(self.reset_after_ms);
        // A sequence that has escalated is a penalty the number earned: it must outlive a flood of
        // other numbers' first sends. A first send's wait is not: a flood of distinct numbers
        // would fill the store with nothing but protected first waits.
        let protected_until = if sends > 1 { expires_at } else { 0 };
        Change::Write {
            value: Writer::default().u64(now_ms).u32(sends).finish(),
            expires_at: Timestamp::from_millis(expires_at),
            protected_until: Timestamp::from_millis(protected_until),
            result: CounterVerdict::PASS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{update, MemoryStore};

    #[test]
    fn waits_grow_then_cap_then_reset() {
        let p = BackoffParams { base_ms: 30_000, factor: 2, max_ms: 100_000, reset_after_ms: 3_600_000 };
        let store = MemoryStore::new();
        let hit = |t: u64| {
            let now = Timestamp::from_millis(t);
            update(&store, "n", now, 4, |b| p.step(b, now)).unwrap()
        };
        assert!(!hit(0).triggered);
        assert_eq!(hit(10_000).retry_after_ms, Some(20_000));
        assert!(!hit(30_000).triggered); // 2nd send; next wait 60 s
        assert_eq!(hit(60_000).retry_after_ms, Some(30_000));
        assert!(!hit(90_000).triggered); // 3rd send; next wait capped at 100 s
        assert!(hit(189_999).triggered);
        assert!(!hit(190_000).triggered); // 4th send: ready again at 290 s
                                          // A quiet hour after the wait ended starts again from the base wait.
        assert!(!hit(290_000 + 3_600_000).triggered);
        assert_eq!(hit(290_000 + 3_600_000 + 1).retry_after_ms, Some(29_999));
    }

    #[test]
    fn waiting_out_each_backoff_still_escalates_with_a_short_reset() {
        // base 10 s, factor 2, reset 30 s: once, nine sends over 150 s all passed.
        let p = BackoffParams { base_ms: 10_000, factor: 2, max_ms: 3_600_000, reset_after_ms: 30_000 };
        let store = MemoryStore::new();
        let mut t = 0;
        let mut waits = Vec::new();
        for _ in 0..6 {
            let now = Timestamp::from_millis(t);
            assert!(!update(&store, "n", now, 4, |b| p.step(b, now)).unwrap().triggered);
            let early = Timestamp::from_millis(t + 1);
            let wait = update(&store, "n", early, 4, |b| p.step(b, early)).unwrap().retry_after_ms;
            let wait = wait.map(|w| w + 1).unwrap_or(0);
            waits.push(wait / 1000);
            t += wait; // the client waits exactly as long as it is told
        }
        assert_eq!(waits, vec![10, 20, 40, 80, 160, 320]);
    }
}
