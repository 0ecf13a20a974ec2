//! Conversion feedback: sends vs confirmed codes per scope (country or number prefix). Pumped
//! numbers never confirm, so a scope whose ratio falls under the threshold after enough sends is
//! blocked for a while. Counts cover the current and the previous window.

use super::codec::{Reader, Writer};
use super::CounterVerdict;
use crate::store::Change;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversionScope {
    Country,
    /// First N digits of the E.164 number (calling code included).
    Prefix(u8),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConversionParams {
    pub scope: ConversionScope,
    pub min_sends: u32,
    pub min_ratio: f64,
    pub window_ms: u64,
    pub block_ms: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    window_start: u64,
    sends: u32,
    confirms: u32,
    previous_sends: u32,
    previous_confirms: u32,
    blocked_until: u64,
}

fn decode(bytes: &[u8]) -> Option<Counts> {
    let mut r = Reader::new(bytes);
    Some(Counts {
        window_start: r.u64()?,
        sends: r.u32()?,
        confirms: r.u32()?,
        previous_sends: r.u32()?,
        previous_confirms: r.u32()?,
        blocked_until: r.u64()?,
    })
}

fn encode(c: &Counts) -> Vec<u8> {
    Writer::default()
        .u64(c.window_start)
        .u32(c.sends)
        .u32(c.confirms)
        .u32(c.previous_sends)
        .u32(c.previous_confirms)
        .u64(c.blocked_until)
        .finish()
}

impl ConversionParams {
    fn current(&self, stored: Option<&[u8]>, now_ms: u64) -> Counts {
        let mut c = stored.and_then(decode).unwrap_or_default();
        let elapsed = now_ms.saturating_sub(c.window_start);
        if elapsed >= self.window_ms.saturating_mul(2) {
            c = Counts { blocked_until: c.blocked_until, ..Counts::default() };
            c.window_start = now_ms;
        } else if elapsed >= self.window_ms {
            c.previous_sends = c.sends;
            c.previous_confirms = c.confirms;
            c.sends = 0;
            c.confirms = 0;
            c.window_start = c.window_start.saturating_add(self.window_ms);
        }
        c
    }

    fn expiry(&self, c: &Counts) -> Timestamp {
        Timestamp::from_millis(
            c.window_start.saturating_add(self.window_ms.saturating_mul(2)).max(c.blocked_until),
        )
    }

    /// A send in this scope: blocked while the scope is blocked, and blocks it when the ratio
    /// has fallen too low.
    pub fn step_send(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let now_ms = now.as_millis();
        let mut c = self.current(stored, now_ms);
        if c.blocked_until > now_ms {
            return Change::Keep(CounterVerdict::trigger(c.blocked_until - now_ms));
        }
        c.sends = c.sends.saturating_add(1);
        let sends = u64::from(c.sends) + u64::from(c.previous_sends);
        let confirms = u64::from(c.confirms) + u64::from(c.previous_confirms);
        let verdict = if sends >= u64::from(self.min_sends)
            && (confirms as f64) < self.min_ratio * sends as f64
        {
            c.blocked_until = now_ms.saturating_add(self.block_ms);
            // Start counting afresh once the block ends, so the scope is judged on new traffic.
            c = Counts { window_start: c.blocked_until, blocked_until: c.blocked_until, ..Counts::default() };
            CounterVerdict::trigger(self.block_ms)
        } else {
            CounterVerdict::PASS
        };
        Change::Write { value: encode(&c), expires_at: self.expiry(&c), result: verdict }
    }

    /// A confirmed code in this scope.
    pub fn step_confirm(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let mut c = self.current(stored, now.as_millis());
        c.confirms = c.confirms.saturating_add(1);
        Change::Write { value: encode(&c), expires_at: self.expiry(&c), result: CounterVerdict::PASS }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{update, MemoryStore};

    #[test]
    fn low_ratio_blocks_after_min_sends_and_confirms_keep_it_open() {
        let p = ConversionParams {
            scope: ConversionScope::Country,
            min_sends: 10,
            min_ratio: 0.4,
            window_ms: 3_600_000,
            block_ms: 600_000,
        };
        let store = MemoryStore::new();
        let send = |t: u64| {
            let now = Timestamp::from_millis(t);
            store.set_now(now);
            update(&store, "c", 4, |b| p.step_send(b, now)).unwrap()
        };
        let confirm = |t: u64| {
            let now = Timestamp::from_millis(t);
            update(&store, "c", 4, |b| p.step_confirm(b, now)).unwrap()
        };
        // Healthy: every other send confirms.
        for i in 0..20 {
            assert!(!send(i * 1000).triggered, "send {i}");
            if i % 2 == 0 {
                confirm(i * 1000 + 500);
            }
        }
        // Pumping: sends without confirms drag the ratio under 0.4.
        let mut blocked_at = None;
        for i in 20..40 {
            if send(i * 1000).triggered {
                blocked_at = Some(i);
                break;
            }
        }
        assert_eq!(blocked_at, Some(25)); // 10 confirms / 26 sends < 0.4
        assert_eq!(send(30_000).retry_after_ms, Some(600_000 - 5_000));
        assert!(!send(25_000 + 600_000).triggered);
    }
}
