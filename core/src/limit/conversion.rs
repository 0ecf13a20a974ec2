//! Conversion feedback: sends vs confirmed codes per scope (country or number prefix). Pumped
//! numbers never confirm, so a scope whose ratio falls under the threshold after enough sends is
//! blocked for a while. Counts cover the current and the previous window.

use super::codec::{Reader, Writer};
use super::CounterVerdict;
use crate::store::Change;
use crate::time::Timestamp;

/// Which numbers a conversion rule counts and blocks together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversionScope {
    /// The number's ISO region, or its calling code when no region claims it.
    Country,
    /// First N digits of the E.164 number (calling code included).
    Prefix(u8),
}

/// A compiled `conversion` rule; durations in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConversionParams {
    /// Which numbers are counted together.
    pub scope: ConversionScope,
    /// Sends (current and previous window) before the ratio is judged.
    pub min_sends: u32,
    /// Confirmed codes per send under which the scope is blocked, in (0, 1].
    pub min_ratio: f64,
    /// Counting window; counts cover the current and the previous one.
    pub window_ms: u64,
    /// Length of the first block.
    pub block_ms: u64,
    /// Each block of a scope that blocked before lasts this many times longer...
    pub escalation_factor: u32,
    /// ...up to this long.
    pub max_block_ms: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    window_start: u64,
    sends: u32,
    confirms: u32,
    previous_sends: u32,
    previous_confirms: u32,
    blocked_until: u64,
    /// Blocks so far; remembered for one longest block after the last, so a scope that keeps
    /// failing is blocked longer each time instead of buying `min_sends - 1` free sends per block.
    strikes: u32,
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
        // State written before strikes existed has none.
        strikes: r.u32().unwrap_or(0),
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
        .u32(c.strikes)
        .finish()
}

/// Sends to one number not yet matched by a confirmation: at most this many are remembered, so
/// a number confirmed many times was sent to at least as often.
const MAX_PENDING: u16 = 64;

impl ConversionParams {
    fn current(&self, stored: Option<&[u8]>, now_ms: u64) -> Counts {
        let mut c = stored.and_then(decode).unwrap_or_default();
        let elapsed = now_ms.saturating_sub(c.window_start);
        if elapsed >= self.window_ms.saturating_mul(2) {
            c = Counts { blocked_until: c.blocked_until, strikes: c.strikes, ..Counts::default() };
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

    fn block_duration(&self, strikes: u32) -> u64 {
        super::escalated(self.block_ms, self.escalation_factor, strikes, self.max_block_ms)
    }

    fn write(&self, c: &Counts, result: CounterVerdict) -> Change<CounterVerdict> {
        let counting = c.window_start.saturating_add(self.window_ms.saturating_mul(2));
        let strikes_end = if c.strikes > 0 { c.blocked_until.saturating_add(self.max_block_ms) } else { 0 };
        let expires_at = counting.max(c.blocked_until).max(strikes_end);
        Change::Write {
            value: encode(c),
            expires_at: Timestamp::from_millis(expires_at),
            // A block in force and the strikes that lengthen the next one outlive any flood.
            protected_until: Timestamp::from_millis(strikes_end),
            result,
        }
    }

    /// A send to this scope that goes to origin: refused while the scope is blocked, and blocks
    /// it when the ratio has fallen too low. Run only for requests that are forwarded (the
    /// engine peeks first and commits only allowed requests), so sends another rule refused
    /// never count against a scope.
    pub fn step_send(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let now_ms = now.as_millis();
        let mut c = self.current(stored, now_ms);
        if c.blocked_until > now_ms {
            return Change::Keep(CounterVerdict::trigger(c.blocked_until - now_ms));
        }
        c.sends = c.sends.saturating_add(1);
        let sends = u64::from(c.sends) + u64::from(c.previous_sends);
        let confirms = u64::from(c.confirms) + u64::from(c.previous_confirms);
        let verdict =
            if sends >= u64::from(self.min_sends) && (confirms as f64) < self.min_ratio * sends as f64 {
                let strikes = c.strikes.saturating_add(1);
                let duration = self.block_duration(strikes);
                let blocked_until = now_ms.saturating_add(duration);
                // Start counting afresh once the block ends, so the scope is judged on new traffic.
                c = Counts { window_start: blocked_until, blocked_until, strikes, ..Counts::default() };
                CounterVerdict::escalate(duration)
            } else {
                CounterVerdict::PASS
            };
        self.write(&c, verdict)
    }

    /// A confirmed code credited to this scope (see [`Self::step_confirm_number`]).
    pub fn step_confirm(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let mut c = self.current(stored, now.as_millis());
        c.confirms = c.confirms.saturating_add(1);
        self.write(&c, CounterVerdict::PASS)
    }

    /// A send to one number went to origin: one more confirmation of it may be credited.
    pub fn step_sent_number(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let pending = stored.and_then(|b| Reader::new(b).u16()).unwrap_or(0);
        Change::Write {
            value: Writer::default().u16(pending.saturating_add(1).min(MAX_PENDING)).finish(),
            // A code confirmed after both counting windows no longer changes the ratio.
            expires_at: now.plus_millis(self.window_ms.saturating_mul(2)),
            protected_until: Timestamp::default(),
            result: CounterVerdict::PASS,
        }
    }

    /// A confirmation of one number: credited (not triggered) only against a send to it that no
    /// confirmation matched yet, so replayed confirms and confirms of numbers never sent to
    /// credit nothing. Triggered means "nothing to credit".
    pub fn step_confirm_number(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let pending = stored.and_then(|b| Reader::new(b).u16()).unwrap_or(0);
        if pending == 0 {
            return Change::Keep(CounterVerdict::trigger(0));
        }
        Change::Write {
            value: Writer::default().u16(pending - 1).finish(),
            expires_at: now.plus_millis(self.window_ms.saturating_mul(2)),
            protected_until: Timestamp::default(),
            result: CounterVerdict::PASS,
        }
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
            escalation_factor: 2,
            max_block_ms: 3_600_000,
        };
        let store = MemoryStore::new();
        let send = |t: u64| {
            let now = Timestamp::from_millis(t);
            update(&store, "c", now, 4, |b| p.step_send(b, now)).unwrap()
        };
        let confirm = |t: u64| {
            let now = Timestamp::from_millis(t);
            update(&store, "c", now, 4, |b| p.step_confirm(b, now)).unwrap()
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

    fn params() -> ConversionParams {
        ConversionParams {
            scope: ConversionScope::Country,
            min_sends: 4,
            min_ratio: 0.5,
            window_ms: 3_600_000,
            block_ms: 600_000,
            escalation_factor: 3,
            max_block_ms: 3_000_000,
        }
    }

    #[test]
    fn repeated_blocks_escalate_up_to_the_cap() {
        let p = params();
        let store = MemoryStore::new();
        let send = |t: u64| {
            let now = Timestamp::from_millis(t);
            update(&store, "c", now, 4, |b| p.step_send(b, now)).unwrap()
        };
        let mut t = 0;
        let mut blocks = Vec::new();
        for _ in 0..4 {
            let verdict = (0..10).map(|i| send(t + i)).find(|v| v.triggered);
            let duration = verdict.and_then(|v| v.retry_after_ms).unwrap_or(0);
            blocks.push(duration / 1000);
            t += duration + 10;
        }
        assert_eq!(blocks, vec![600, 1800, 3000, 3000]);
    }

    #[test]
    fn a_confirm_is_credited_once_per_send_and_only_after_one() {
        let p = params();
        let store = MemoryStore::new();
        let now = Timestamp::from_millis(0);
        let sent = || update(&store, "n", now, 4, |b| p.step_sent_number(b, now)).unwrap();
        let confirmed = || !update(&store, "n", now, 4, |b| p.step_confirm_number(b, now)).unwrap().triggered;
        assert!(!confirmed(), "never sent to");
        sent();
        assert!(confirmed());
        assert!(!confirmed(), "a replayed confirm");
        sent();
        sent();
        assert!(confirmed() && confirmed() && !confirmed());
    }
}
