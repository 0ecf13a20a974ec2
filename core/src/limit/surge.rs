//! Adaptive baselines: sends per scope (a country, a number prefix) in the current window against
//! the scope's own rolling baseline, so a destination suddenly far busier than usual is caught
//! without a fixed limit per scope. A window counts the sends that went to origin; the baseline
//! is a moving average of past windows' counts over about `history_windows` windows.
//!
//! A window that went over its threshold is left out of the baseline: an attack must not teach
//! the guard that the attack is normal. Such windows in a row make a streak, and a scope whose
//! streak reaches `block_after_windows` asks for a block instead of the rule's challenge.
//! Until `min_history_windows` windows have been seen the scope is only learned, never judged.

use super::codec::{Reader, Writer};
use super::conversion::ConversionScope;
use super::CounterVerdict;
use crate::store::Change;
use crate::time::Timestamp;

/// A compiled `surge` rule; durations in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SurgeParams {
    /// Which numbers are counted together.
    pub scope: ConversionScope,
    /// Length of one counting window.
    pub window_ms: u64,
    /// How many past windows the baseline averages over (the moving average's span).
    pub history_windows: u32,
    /// Windows learned before the scope is judged.
    pub min_history_windows: u32,
    /// A window over `max(floor, factor × baseline)` sends deviates.
    pub factor: f64,
    /// Fewest sends per window that can deviate, whatever the baseline.
    pub floor: u32,
    /// Deviating windows in a row after which the scope asks for a block; `None`: never.
    pub block_after_windows: Option<u32>,
}

/// The baseline is kept in thousandths of a send, so small scopes keep their precision.
const MILLI: u64 = 1000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct State {
    window_start: u64,
    /// Sends that went to origin in the current window.
    count: u32,
    /// Moving average of past windows' counts, in thousandths.
    baseline_milli: u64,
    /// Windows folded into the baseline (capped at `history_windows`).
    windows: u32,
    /// Deviating windows in a row before the current one.
    streak: u32,
    /// The current window went over its threshold.
    deviating: bool,
}

fn decode(bytes: &[u8]) -> Option<State> {
    let mut r = Reader::new(bytes);
    Some(State {
        window_start: r.u64()?,
        count: r.u32()?,
        baseline_milli: r.u64()?,
        windows: r.u32()?,
        streak: r.u32()?,
        deviating: r.u16()? != 0,
    })
}

fn encode(s: &State) -> Vec<u8> {
    Writer::default()
        .u64(s.window_start)
        .u32(s.count)
        .u64(s.baseline_milli)
        .u32(s.windows)
        .u32(s.streak)
        .u16(u16::from(s.deviating))
        .finish()
}

impl SurgeParams {
    /// Folds one finished window's count into the baseline (unless it deviated).
    fn fold(&self, s: &mut State, count: u32, deviated: bool) {
        if deviated {
            s.streak = s.streak.saturating_add(1);
            return;
        }
        s.streak = 0;
        let span = u64::from(s.windows.saturating_add(1).min(self.history_windows.max(1)));
        let sample = u64::from(count) * MILLI;
        // Integer moving average: baseline += (sample - baseline) / span.
        s.baseline_milli = if sample >= s.baseline_milli {
            s.baseline_milli + (sample - s.baseline_milli) / span
        } else {
            s.baseline_milli - (s.baseline_milli - sample) / span
        };
        s.windows = s.windows.saturating_add(1).min(self.history_windows);
    }

    /// The state at `now`: finished windows folded in, quiet ones as zero sends.
    fn current(&self, stored: Option<&[u8]>, now_ms: u64) -> State {
        let Some(mut s) = stored.and_then(decode) else {
            return State { window_start: now_ms, ..State::default() };
        };
        let window = self.window_ms.max(1);
        if now_ms < s.window_start {
            // A clock that went back: keep counting in the stored window.
            return s;
        }
        let elapsed = (now_ms - s.window_start) / window;
        if elapsed == 0 {
            return s;
        }
        let (count, deviated) = (s.count, s.deviating);
        self.fold(&mut s, count, deviated);
        // Quiet windows since, at most a history's worth (more changes nothing).
        let quiet = (elapsed - 1).min(u64::from(self.history_windows));
        for _ in 0..quiet {
            self.fold(&mut s, 0, false);
        }
        s.window_start = s.window_start.saturating_add(elapsed.saturating_mul(window));
        s.count = 0;
        s.deviating = false;
        s
    }

    /// Sends allowed in a window before it deviates.
    fn threshold(&self, s: &State) -> u64 {
        let scaled = (s.baseline_milli as f64 * self.factor / MILLI as f64).floor();
        let scaled = if scaled.is_finite() && scaled > 0.0 { scaled as u64 } else { 0 };
        scaled.max(u64::from(self.floor))
    }

    fn write(&self, s: &State, result: CounterVerdict) -> Change<CounterVerdict> {
        let window = self.window_ms.max(1);
        let span = window.saturating_mul(u64::from(self.history_windows).saturating_add(1));
        let expires_at = s.window_start.saturating_add(span);
        // A scope under suspicion keeps its streak through a flood of other keys.
        let protected_until = if s.deviating || s.streak > 0 {
            s.window_start.saturating_add(window.saturating_mul(2))
        } else {
            0
        };
        Change::Write {
            value: encode(s),
            expires_at: Timestamp::from_millis(expires_at),
            protected_until: Timestamp::from_millis(protected_until),
            result,
        }
    }

    /// A send to this scope: counted when it goes to origin; refused (the rule's action, or a
    /// block after a streak) while the window is over its threshold.
    pub fn step_send(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let now_ms = now.as_millis();
        let mut s = self.current(stored, now_ms);
        let judged = s.windows >= self.min_history_windows;
        if judged && u64::from(s.count) + 1 > self.threshold(&s) {
            let wait = s.window_start.saturating_add(self.window_ms).saturating_sub(now_ms).max(1);
            let severe = self.block_after_windows.is_some_and(|n| s.streak.saturating_add(1) >= n);
            let mut verdict = CounterVerdict::trigger(wait);
            verdict.severe = severe;
            if s.deviating {
                return Change::Keep(verdict);
            }
            // The first refusal of a window marks it, although the request is refused: the
            // baseline must leave this window out.
            s.deviating = true;
            verdict.escalated = true;
            return self.write(&s, verdict);
        }
        s.count = s.count.saturating_add(1);
        self.write(&s, CounterVerdict::PASS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{update, MemoryStore};

    const HOUR: u64 = 3_600_000;

    fn params() -> SurgeParams {
        SurgeParams {
            scope: ConversionScope::Country,
            window_ms: HOUR,
            history_windows: 24,
            min_history_windows: 3,
            factor: 3.0,
            floor: 10,
            block_after_windows: Some(2),
        }
    }

    /// Sends `n` at the start of hour `hour`; the verdicts of those refused.
    fn sends(store: &MemoryStore, p: &SurgeParams, hour: u64, n: u32) -> Vec<CounterVerdict> {
        let now = Timestamp::from_millis(hour * HOUR + 1);
        (0..n)
            .filter_map(|_| update(store, "k", now, 4, |b| p.step_send(b, now)).ok())
            .filter(|v| v.triggered)
            .collect()
    }

    #[test]
    fn learns_first_then_catches_a_surge_over_its_baseline() {
        let (store, p) = (MemoryStore::new(), params());
        for hour in 0..4 {
            assert!(sends(&store, &p, hour, 20).is_empty(), "learning and steady traffic pass");
        }
        // Baseline 20 an hour: the threshold is 60.
        let refused = sends(&store, &p, 4, 100);
        assert_eq!(refused.len(), 40);
        assert!(refused.iter().all(|v| !v.severe), "one deviating window only challenges");
        assert!(refused.first().is_some_and(|v| v.escalated), "the first refusal marks the window");
    }

    #[test]
    fn a_streak_asks_for_a_block_and_the_attack_does_not_become_the_baseline() {
        let (store, p) = (MemoryStore::new(), params());
        for hour in 0..4 {
            sends(&store, &p, hour, 20);
        }
        assert!(sends(&store, &p, 4, 100).iter().all(|v| !v.severe));
        let second = sends(&store, &p, 5, 100);
        assert_eq!(second.len(), 40, "the surging window was left out: the threshold is still 60");
        assert!(second.iter().all(|v| v.severe));
        assert!(sends(&store, &p, 6, 20).is_empty(), "a normal window passes");
        assert!(sends(&store, &p, 7, 61).iter().all(|v| !v.severe), "and ends the streak");
    }

    #[test]
    fn a_scope_never_judged_before_min_history() {
        let (store, p) = (MemoryStore::new(), params());
        assert!(sends(&store, &p, 0, 500).is_empty());
        assert!(sends(&store, &p, 1, 500).is_empty());
    }

    #[test]
    fn quiet_windows_lower_the_baseline_toward_the_floor() {
        let (store, p) = (MemoryStore::new(), params());
        for hour in 0..4 {
            sends(&store, &p, hour, 20);
        }
        // Sixteen quiet hours: the baseline falls from 20 to 4 an hour (threshold 12).
        assert_eq!(sends(&store, &p, 20, 15).len(), 3);
        // Silent longer than its history, a scope is forgotten: learned afresh, not judged.
        assert!(sends(&store, &p, 60, 500).is_empty());
    }

    /// What a campaign that moves to a scope the guard has not seen gets: with history to
    /// learn first, its first windows pass whole and become the scope's baseline; with none
    /// (`min_history_windows: 0`) the scope is judged against the floor from its first send,
    /// and the surging windows are left out, so the floor holds window after window.
    #[test]
    fn a_fresh_scope_is_held_to_the_floor_only_without_history_to_learn() {
        let store = MemoryStore::new();
        let learning = params();
        let passed: usize = (0..3).map(|hour| 100 - sends(&store, &learning, hour, 100).len()).sum();
        assert_eq!(passed, 300, "three windows learned, none judged");
        assert!(sends(&store, &learning, 3, 100).is_empty(), "the campaign is the baseline now");

        let store = MemoryStore::new();
        let at_floor = SurgeParams { min_history_windows: 0, ..params() };
        for hour in 0..4 {
            let refused = sends(&store, &at_floor, hour, 100);
            assert_eq!(refused.len(), 90, "hour {hour}: the floor (10) passes, the rest is refused");
            assert_eq!(refused.iter().all(|v| v.severe), hour >= 1, "hour {hour}: a streak blocks");
        }
        // Forgotten after a silence longer than its history, it starts again at the floor.
        assert_eq!(sends(&store, &at_floor, 60, 100).len(), 90);
    }

    #[test]
    fn torn_state_reads_as_a_new_scope() {
        let p = params();
        let now = Timestamp::from_millis(5);
        assert!(
            matches!(p.step_send(Some(&[1, 2, 3]), now), Change::Write { result, .. } if !result.triggered)
        );
    }
}
