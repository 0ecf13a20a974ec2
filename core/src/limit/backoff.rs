//! Exponential backoff between sends to one number: after the n-th send the next one waits
//! `base * factor^(n-1)`, capped; a quiet period resets the sequence.

use super::codec::{Reader, Writer};
use super::CounterVerdict;
use crate::store::Change;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffParams {
    pub base_ms: u64,
    pub factor: u32,
    pub max_ms: u64,
    pub reset_after_ms: u64,
}

impl BackoffParams {
    /// Wait required after `sends` sends (sends >= 1).
    fn wait_after(&self, sends: u32) -> u64 {
        let mut wait = self.base_ms;
        for _ in 1..sends {
            wait = wait.saturating_mul(u64::from(self.factor));
            if wait >= self.max_ms {
                return self.max_ms;
            }
        }
        wait.min(self.max_ms)
    }

    pub fn step(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let state = stored.and_then(|b| {
            let mut r = Reader::new(b);
            Some((r.u64()?, r.u32()?))
        });
        let sends = match state {
            Some((last, sends)) if now.as_millis().saturating_sub(last) < self.reset_after_ms => {
                let ready_at = last.saturating_add(self.wait_after(sends));
                if now.as_millis() < ready_at {
                    return Change::Keep(CounterVerdict::trigger(ready_at - now.as_millis()));
                }
                sends.saturating_add(1)
            }
            _ => 1,
        };
        Change::Write {
            value: Writer::default().u64(now.as_millis()).u32(sends).finish(),
            expires_at: now.plus_millis(self.reset_after_ms.max(self.wait_after(sends))),
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
            store.set_now(now);
            update(&store, "n", 4, |b| p.step(b, now)).unwrap()
        };
        assert!(!hit(0).triggered);
        assert_eq!(hit(10_000).retry_after_ms, Some(20_000));
        assert!(!hit(30_000).triggered); // 2nd send; next wait 60 s
        assert_eq!(hit(60_000).retry_after_ms, Some(30_000));
        assert!(!hit(90_000).triggered); // 3rd send; next wait capped at 100 s
        assert!(hit(189_999).triggered);
        assert!(!hit(190_000).triggered);
        // A quiet hour starts again from the base wait.
        assert!(!hit(190_000 + 3_600_000).triggered);
        assert_eq!(hit(190_000 + 3_600_000 + 1).retry_after_ms, Some(29_999));
    }
}
