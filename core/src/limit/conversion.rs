//! Conversion feedback: sends vs confirmed codes per scope (country or number prefix). Pumped
//! numbers never confirm, so a scope whose ratio falls under its threshold after enough sends is
//! refused for a while. Counts cover the current and the previous window.
//!
//! The threshold is the rule's fixed `min_ratio`, or, with a baseline, the scope's own past:
//! `max(min_ratio, factor × baseline)`, the baseline being a moving average of the confirm ratio
//! of the scope's past windows that had at least `min_window_sends` sends and stayed at or over
//! their threshold (a window that fell under it, or that ended in a refusal, is left out, so an
//! attack never becomes the norm). `min_ratio` stays the absolute floor: a baseline only makes a
//! scope that converts well stricter, never a scope lenient. Until `min_history_windows` windows
//! were learned, `min_ratio` alone judges.
//!
//! Each refusal ends its window. Such windows in a row make a streak (a window that ended without
//! a refusal and had at least `min_window_sends` sends over its threshold ends it; a window with
//! too few sends to tell leaves it); once the streak reaches `block_after_windows`, the refusal
//! asks for a block instead of the rule's challenge.
//!
//! A challenge that may turn into a block keeps judging (`judge_solved`: a challenge rule with
//! `block_after_windows`): while the scope is challenged, the sends whose challenge was solved
//! go to origin and are counted from the refusal on; when `min_sends` of them fall under the
//! threshold, the scope is refused again at once, a refused window more in the streak. So a
//! scope whose codes still go unentered behind solved challenges is blocked within the
//! challenge, while a challenge nobody solves (a script) stops it for the whole period and real
//! users who solve and enter their codes keep it open.

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
    /// The device that solved the send's CAPTCHA (conversion rules only): counted once the
    /// token is verified, credited through the number's solved send.
    CaptchaSolver,
    /// The client network the send came from (conversion rules only): the address's first `v4`
    /// or `v6` bits (`"client_ip"`: IPv4 whole, IPv6 by its /64), credited through the number's
    /// send as a device is.
    ClientIp {
        /// IPv4 bits kept, 1 to 32.
        v4: u8,
        /// IPv6 bits kept, 1 to 128.
        v6: u8,
    },
}

impl ConversionScope {
    /// Scopes of the sender rather than of the number: a confirmation credits the sender its
    /// number's send recorded, and the sender may carry the provider's refusals.
    pub fn is_sender(self) -> bool {
        matches!(self, ConversionScope::CaptchaSolver | ConversionScope::ClientIp { .. })
    }
}

/// A conversion rule's rolling baseline: the scope judged against its own past windows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConversionBaseline {
    /// A scope deviates under `factor × baseline` confirmed codes per send, in (0, 1].
    pub factor: f64,
    /// How many past windows the baseline averages over (the moving average's span).
    pub history_windows: u32,
    /// Windows learned before the baseline judges (until then `min_ratio` alone does).
    pub min_history_windows: u32,
    /// Fewest sends in one window for its ratio to teach the baseline (or end a streak).
    pub min_window_sends: u32,
}

/// A compiled `conversion` rule; durations in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConversionParams {
    /// Which numbers are counted together.
    pub scope: ConversionScope,
    /// Sends (current and previous window) before the ratio is judged.
    pub min_sends: u32,
    /// Confirmed codes per send under which the scope is refused, in (0, 1]; with a baseline,
    /// the absolute floor of the threshold.
    pub min_ratio: f64,
    /// Counting window; counts cover the current and the previous one.
    pub window_ms: u64,
    /// Length of the first block.
    pub block_ms: u64,
    /// Each block of a scope that blocked before lasts this many times longer...
    pub escalation_factor: u32,
    /// ...up to this long.
    pub max_block_ms: u64,
    /// The scope's own rolling baseline raises the threshold; `None`: `min_ratio` alone.
    pub baseline: Option<ConversionBaseline>,
    /// Refused windows in a row after which the scope asks for a block; `None`: never.
    pub block_after_windows: Option<u32>,
    /// A device's solve the number-intelligence provider refuses counts as an unconfirmed send
    /// (`captcha_solver` scope only).
    pub count_intel_refusals: bool,
    /// The rule challenges, blocks after `block_after_windows` and is enforced: while the scope
    /// is challenged, a send that still goes to origin solved its challenge, and such sends are
    /// counted and judged. Sends nobody solves count nothing.
    pub judge_solved: bool,
}

/// Ratios are kept in millionths.
const PPM: u64 = 1_000_000;

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
    /// Moving average of past windows' confirm ratio, in millionths.
    baseline_ppm: u32,
    /// Windows folded into the baseline (capped at `history_windows`).
    windows: u16,
    /// Refused windows in a row.
    streak: u16,
}

impl Counts {
    /// What outlives a window: the block, its strikes, the learned baseline and the streak.
    fn carried(&self) -> Counts {
        Counts {
            blocked_until: self.blocked_until,
            strikes: self.strikes,
            baseline_ppm: self.baseline_ppm,
            windows: self.windows,
            streak: self.streak,
            ..Counts::default()
        }
    }
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
        // State written before strikes, or before baselines, existed has none.
        strikes: r.u32().unwrap_or(0),
        baseline_ppm: r.u32().unwrap_or(0),
        windows: r.u16().unwrap_or(0),
        streak: r.u16().unwrap_or(0),
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
        .u32(c.baseline_ppm)
        .u16(c.windows)
        .u16(c.streak)
        .finish()
}

/// Sends to one number not yet matched by a confirmation: at most this many are remembered, so
/// a number confirmed many times was sent to at least as often.
const MAX_PENDING: u16 = 64;

impl ConversionParams {
    /// Confirmed codes per send under which the scope is refused.
    fn threshold(&self, c: &Counts) -> f64 {
        match self.baseline {
            Some(b) if u32::from(c.windows) >= b.min_history_windows => {
                let scaled = b.factor * f64::from(c.baseline_ppm) / PPM as f64;
                if scaled.is_finite() {
                    self.min_ratio.max(scaled)
                } else {
                    self.min_ratio
                }
            }
            _ => self.min_ratio,
        }
    }

    /// Folds the current window, finished without a refusal, into the baseline and the streak.
    fn fold(&self, c: &mut Counts) {
        let (sends, confirms) = (c.sends, c.confirms);
        let Some(b) = self.baseline else {
            // Without a baseline, a window that was judged (enough sends) and not refused ends
            // the streak.
            if sends >= self.min_sends {
                c.streak = 0;
            }
            return;
        };
        if sends == 0 || sends < b.min_window_sends {
            return;
        }
        let sample = u64::from(confirms.min(sends)) * PPM / u64::from(sends);
        if (sample as f64) < self.threshold(c) * PPM as f64 {
            // Under its threshold without a refusal (the previous window's ratio carried the
            // judgement): neither the norm nor a clean window.
            return;
        }
        c.streak = 0;
        let history = b.history_windows.clamp(1, u32::from(u16::MAX));
        let span = u64::from((u32::from(c.windows) + 1).min(history));
        let base = u64::from(c.baseline_ppm);
        // Integer moving average: baseline += (sample - baseline) / span.
        let next = if sample >= base { base + (sample - base) / span } else { base - (base - sample) / span };
        c.baseline_ppm = u32::try_from(next.min(PPM)).unwrap_or(PPM as u32);
        c.windows = u16::try_from((u32::from(c.windows) + 1).min(history)).unwrap_or(u16::MAX);
    }

    fn current(&self, stored: Option<&[u8]>, now_ms: u64) -> Counts {
        let mut c = stored.and_then(decode).unwrap_or_default();
        let elapsed = now_ms.saturating_sub(c.window_start);
        if elapsed >= self.window_ms.saturating_mul(2) {
            self.fold(&mut c);
            c = Counts { window_start: now_ms, ..c.carried() };
        } else if elapsed >= self.window_ms {
            self.fold(&mut c);
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

    /// Whether a refusal of a scope with this streak (refused windows in a row, the current one
    /// included) asks for a block.
    fn severe(&self, streak: u16) -> bool {
        self.block_after_windows.is_some_and(|n| u32::from(streak) >= n)
    }

    fn write(&self, c: &Counts, result: CounterVerdict) -> Change<CounterVerdict> {
        let counting = c.window_start.saturating_add(self.window_ms.saturating_mul(2));
        let strikes_end = if c.strikes > 0 { c.blocked_until.saturating_add(self.max_block_ms) } else { 0 };
        // A learned baseline is kept for its history's span of silence.
        let learned = match self.baseline {
            Some(b) if c.windows > 0 => c.window_start.saturating_add(
                self.window_ms.saturating_mul(u64::from(b.history_windows).saturating_add(1)),
            ),
            _ => 0,
        };
        let expires_at = counting.max(c.blocked_until).max(strikes_end).max(learned);
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
        let refused = c.blocked_until > now_ms;
        let blocking = self.severe(c.streak);
        // A challenge judges the sends that solve it; a block, or a refusal that cannot become
        // one, counts nothing until it ends.
        if refused && (blocking || !self.judge_solved) {
            let mut verdict = CounterVerdict::trigger(c.blocked_until - now_ms);
            verdict.severe = blocking;
            return Change::Keep(verdict);
        }
        // Under a challenge only solved sends get here (see `judge_solved`); counted from the
        // refusal on, they are judged like any.
        c.sends = c.sends.saturating_add(1);
        let sends = u64::from(c.sends) + u64::from(c.previous_sends);
        let confirms = u64::from(c.confirms) + u64::from(c.previous_confirms);
        let low = (confirms as f64) < self.threshold(&c) * sends as f64;
        let verdict = if sends >= u64::from(self.min_sends) && low {
            let strikes = c.strikes.saturating_add(1);
            let streak = c.streak.saturating_add(1);
            let duration = self.block_duration(strikes);
            let blocked_until = now_ms.saturating_add(duration);
            // Start counting afresh once the block ends, so the scope is judged on new traffic;
            // this window ends here and stays out of the baseline.
            c = Counts { window_start: blocked_until, blocked_until, strikes, streak, ..c.carried() };
            let mut verdict = CounterVerdict::escalate(duration);
            verdict.severe = self.severe(streak);
            verdict
        } else if refused {
            CounterVerdict::trigger(c.blocked_until - now_ms)
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

    /// A send solved on the device tagged `solver` went to origin (a `captcha_solver` scope):
    /// one confirmation of the number may credit that device. The number keeps the latest
    /// solver of its pending sends.
    pub fn step_solved_number(
        &self,
        stored: Option<&[u8]>,
        now: Timestamp,
        solver: u64,
    ) -> Change<CounterVerdict> {
        record_sender(stored, now, self.window_ms, solver)
    }

    /// A send binding an account to `value` (a number's digits, a sender's tag): see
    /// `record_binding`.
    pub fn step_binding(&self, stored: Option<&[u8]>, now: Timestamp, value: u64) -> Change<CounterVerdict> {
        record_binding(stored, now, self.window_ms, value)
    }

    /// A confirmation of a number sent on a solved challenge: credited as
    /// [`Self::step_confirm_number`] credits, and the verdict names the device to credit.
    pub fn step_confirm_solved(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        take_sender(stored, now, self.window_ms)
    }
}

/// A send to one number by the sender tagged `sender` went to origin: one more confirmation of
/// the number may credit that sender. The number keeps the latest sender of its pending sends,
/// for two counting windows of `window_ms`.
pub(crate) fn record_sender(
    stored: Option<&[u8]>,
    now: Timestamp,
    window_ms: u64,
    sender: u64,
) -> Change<CounterVerdict> {
    let pending = stored.and_then(|b| Reader::new(b).u16()).unwrap_or(0);
    Change::Write {
        value: Writer::default().u16(pending.saturating_add(1).min(MAX_PENDING)).u64(sender).finish(),
        expires_at: now.plus_millis(window_ms.saturating_mul(2)),
        protected_until: Timestamp::default(),
        result: CounterVerdict::PASS,
    }
}

/// The pending sends [`record_sender`] counted, and the latest sender.
fn pending_sender(stored: Option<&[u8]>) -> (u16, Option<u64>) {
    let mut reader = stored.map(Reader::new);
    let pending = reader.as_mut().and_then(Reader::u16).unwrap_or(0);
    (pending, reader.as_mut().and_then(Reader::u64))
}

/// What a binding holds once two sends bound one account to different values: nothing to credit.
pub(crate) const CONFLICTING_BINDINGS: u64 = 0;

/// A send binding an account to `value` went to origin: as [`record_sender`], but a second
/// binding to another value while one is pending leaves [`CONFLICTING_BINDINGS`] until every
/// pending one is taken or expired. Two sign-ups that fold to one account (names differing in
/// case in a pool that tells them apart, or whose tags collide) would otherwise let the code of
/// the first credit the number of the second.
pub(crate) fn record_binding(
    stored: Option<&[u8]>,
    now: Timestamp,
    window_ms: u64,
    value: u64,
) -> Change<CounterVerdict> {
    let (pending, held) = pending_sender(stored);
    let value = match held {
        Some(held) if pending > 0 && held != value => CONFLICTING_BINDINGS,
        _ => value,
    };
    record_sender(stored, now, window_ms, value)
}

/// A confirmation of a number [`record_sender`] recorded: credited only against a pending send
/// (replays and made-up confirms credit nothing; triggered means "nothing to credit"), and the
/// verdict names the sender to credit.
pub(crate) fn take_sender(stored: Option<&[u8]>, now: Timestamp, window_ms: u64) -> Change<CounterVerdict> {
    let (pending, sender) = pending_sender(stored);
    let Some(sender) = sender.filter(|_| pending > 0) else {
        return Change::Keep(CounterVerdict::trigger(0));
    };
    Change::Write {
        value: Writer::default().u16(pending - 1).u64(sender).finish(),
        expires_at: now.plus_millis(window_ms.saturating_mul(2)),
        protected_until: Timestamp::default(),
        result: CounterVerdict { solver: Some(sender), ..CounterVerdict::PASS },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{update, MemoryStore};

    /// A rule of `scope` with an hour's window and ten-minute blocks, doubling to an hour.
    fn hourly(scope: ConversionScope, min_sends: u32, min_ratio: f64) -> ConversionParams {
        ConversionParams {
            scope,
            min_sends,
            min_ratio,
            window_ms: 3_600_000,
            block_ms: 600_000,
            escalation_factor: 2,
            max_block_ms: 3_600_000,
            baseline: None,
            block_after_windows: None,
            count_intel_refusals: false,
            judge_solved: false,
        }
    }

    #[test]
    fn a_confirm_credits_the_device_that_solved_the_numbers_send_once() {
        let p = hourly(ConversionScope::CaptchaSolver, 3, 0.5);
        let store = MemoryStore::new();
        let now = Timestamp::from_millis(1_000);
        let confirm = || update(&store, "n", now, 4, |b| p.step_confirm_solved(b, now)).unwrap();
        assert!(confirm().triggered, "no solved send: nothing to credit");
        update(&store, "n", now, 4, |b| p.step_solved_number(b, now, 7)).unwrap();
        update(&store, "n", now, 4, |b| p.step_solved_number(b, now, 9)).unwrap();
        // Two sends, two credits, each to the number's latest solver; a third confirm finds none.
        assert_eq!(confirm().solver, Some(9));
        assert_eq!(confirm().solver, Some(9));
        let third = confirm();
        assert!(third.triggered && third.solver.is_none());
    }

    #[test]
    fn low_ratio_blocks_after_min_sends_and_confirms_keep_it_open() {
        let p = hourly(ConversionScope::Country, 10, 0.4);
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
            baseline: None,
            block_after_windows: None,
            count_intel_refusals: false,
            judge_solved: false,
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

    const HOUR: u64 = 3_600_000;

    /// A country rule judged from 10 sends, floor 0.2, against half its own baseline.
    fn baseline_params() -> ConversionParams {
        ConversionParams {
            scope: ConversionScope::Country,
            min_sends: 10,
            min_ratio: 0.2,
            window_ms: HOUR,
            block_ms: 600_000,
            escalation_factor: 2,
            max_block_ms: 3_600_000,
            baseline: Some(ConversionBaseline {
                factor: 0.5,
                history_windows: 24,
                min_history_windows: 3,
                min_window_sends: 10,
            }),
            block_after_windows: Some(2),
            count_intel_refusals: false,
            judge_solved: false,
        }
    }

    /// A fake clock over one scope's state.
    struct Scope {
        store: MemoryStore,
        p: ConversionParams,
    }

    impl Scope {
        fn new(p: ConversionParams) -> Scope {
            Scope { store: MemoryStore::new(), p }
        }

        fn send(&self, t: u64) -> CounterVerdict {
            let now = Timestamp::from_millis(t);
            update(&self.store, "c", now, 4, |b| self.p.step_send(b, now)).unwrap()
        }

        fn confirm(&self, t: u64) {
            let now = Timestamp::from_millis(t);
            update(&self.store, "c", now, 4, |b| self.p.step_confirm(b, now)).unwrap();
        }

        /// `sends` sends spread over the hour starting at `t`, every `every`-th of them confirmed
        /// (0: none); the refusals.
        fn window(&self, t: u64, sends: u64, every: u64) -> Vec<CounterVerdict> {
            let step = HOUR / (sends + 1);
            let mut refused = Vec::new();
            for i in 0..sends {
                let at = t + (i + 1) * step;
                let v = self.send(at);
                if v.triggered {
                    refused.push(v);
                } else if every > 0 && i % every == 0 {
                    self.confirm(at + 1);
                }
            }
            refused
        }

        fn state(&self) -> Counts {
            let now = Timestamp::from_millis(0);
            let bytes = crate::store::Store::get(&self.store, "c", now).unwrap().map(|v| v.value);
            bytes.as_deref().and_then(decode).unwrap_or_default()
        }
    }

    #[test]
    fn a_scope_that_converts_well_is_caught_under_its_own_baseline() {
        // Real traffic confirms 9 of 10 (20 sends an hour, 18 confirmed); then a campaign sends
        // 40 that confirm nothing: 18 of 60 is still over the fixed floor of 0.2.
        let with = Scope::new(baseline_params());
        let without = Scope::new(ConversionParams { baseline: None, ..baseline_params() });
        for scope in [&with, &without] {
            for hour in 0..4 {
                for i in 0..20u64 {
                    let at = hour * HOUR + (i + 1) * 1000;
                    assert!(!scope.send(at).triggered, "hour {hour} send {i}");
                    if i % 10 != 0 {
                        scope.confirm(at + 1);
                    }
                }
            }
        }
        assert_eq!(with.state().windows, 3, "three finished windows learned");
        let refused = |scope: &Scope| (0..40u64).find(|i| scope.send(4 * HOUR + (i + 1) * 1000).triggered);
        // Baseline 0.9: the threshold is max(0.2, 0.45); with the previous window counted, 18 of
        // 41 sends is under it.
        assert_eq!(refused(&with), Some(20));
        assert_eq!(refused(&without), None);
        assert_eq!(with.state().baseline_ppm, 900_000);
    }

    #[test]
    fn until_min_history_the_fixed_ratio_alone_judges_and_teaches() {
        let scope = Scope::new(baseline_params());
        for hour in 0..2 {
            assert!(scope.window(hour * HOUR, 20, 1).is_empty());
        }
        // Two windows learned (baseline 1.0), min_history 3: 7 of 20 confirmed (0.35) passes the
        // fixed 0.2 alone, although it is far under 0.5 × 1.0.
        assert!(scope.window(2 * HOUR, 20, 3).is_empty());
        // Judged by 0.2 while learning, it is learned: (1 + 1 + 0.35) / 3. A campaign that runs
        // while a scope learns becomes part of its norm. From now on the baseline judges: 7 of
        // 21 (the previous window counted) is under max(0.2, 0.5 × 0.78).
        assert!(scope.send(3 * HOUR + 1).triggered);
        let s = scope.state();
        assert_eq!((s.windows, s.baseline_ppm, s.streak), (3, 783_334, 1));
    }

    #[test]
    fn a_deviating_scope_is_challenged_then_blocked_and_the_attack_is_not_learned() {
        let scope = Scope::new(baseline_params());
        for hour in 0..4 {
            assert!(scope.window(hour * HOUR, 20, 1).is_empty(), "hour {hour}");
        }
        let learned = scope.state();
        assert_eq!((learned.windows, learned.baseline_ppm), (3, 1_000_000), "the fourth folds at its end");
        // Pumping: nothing confirms. The first refusal starts a block that only challenges.
        let t = 4 * HOUR;
        let first = (1..100).map(|i| (i, scope.send(t + i * 1000))).find(|(_, v)| v.triggered);
        let (i, first) = first.unwrap();
        assert!(first.escalated && !first.severe, "the first refused window challenges");
        // 20 confirmed of the previous window's 20 plus i sends: under 0.5 at 21 sends.
        assert_eq!(i, 21);
        let during = scope.send(t + i * 1000 + 1);
        assert!(during.triggered && !during.severe, "the block it started challenges too");
        // The block ends: counted afresh, the next refusal is the second window in a row.
        let after = t + i * 1000 + 600_000;
        let second = (0..100).map(|j| scope.send(after + j)).find(|v| v.triggered).unwrap();
        assert!(second.escalated && second.severe, "a second refused window in a row blocks");
        assert_eq!(second.retry_after_ms, Some(1_200_000), "and lasts longer");
        assert!(scope.send(after + 500).severe, "the block in force is severe too");
        let s = scope.state();
        assert_eq!((s.windows, s.baseline_ppm, s.streak), (4, 1_000_000, 2), "nothing of it learned");
    }

    /// A challenge rule keeps judging the sends that solve it: unconfirmed behind solved
    /// challenges, the scope is blocked within the challenge; confirmed, it stays challenged
    /// only until the period ends.
    #[test]
    fn a_challenge_judges_the_sends_that_solve_it() {
        let p = ConversionParams {
            baseline: None,
            block_ms: HOUR,
            max_block_ms: 4 * HOUR,
            judge_solved: true,
            ..baseline_params()
        };
        let pumped = Scope::new(p);
        let first = (0..10u64).map(|i| pumped.send(i * 1000)).last().unwrap();
        assert!(first.escalated && !first.severe, "ten unconfirmed sends: a challenge");
        // Solved sends during the challenge, none confirmed: refused again at the tenth, a
        // second refused window in a row, so a block.
        let solved: Vec<CounterVerdict> = (0..10u64).map(|i| pumped.send(60_000 + i * 1000)).collect();
        assert!(solved[..9].iter().all(|v| v.triggered && !v.escalated && !v.severe), "{solved:?}");
        assert!(solved[9].escalated && solved[9].severe, "{:?}", solved[9]);
        assert_eq!(solved[9].retry_after_ms, Some(2 * HOUR), "the second refusal lasts longer");
        // A block counts nothing: only spared or shadowed sends get through it.
        let before = pumped.state();
        assert!(pumped.send(200_000).severe);
        assert_eq!(pumped.state(), before);

        let real = Scope::new(p);
        assert!((0..10u64).map(|i| real.send(i * 1000)).last().unwrap().escalated);
        // Real users solve and enter their codes: challenged to the end of the period, no more.
        for i in 0..20u64 {
            let v = real.send(60_000 + i * 1000);
            assert!(v.triggered && !v.escalated, "send {i}: {v:?}");
            real.confirm(60_000 + i * 1000 + 1);
        }
        assert!(!real.send(10_000 + HOUR).triggered, "the challenge ends, the scope converted");
    }

    /// Without `judge_solved` (a rule that blocks or only logs), a refused scope counts nothing
    /// until its refusal ends.
    #[test]
    fn a_refusal_that_does_not_challenge_counts_nothing() {
        let p = ConversionParams { baseline: None, block_ms: HOUR, ..baseline_params() };
        let scope = Scope::new(p);
        assert!((0..10u64).map(|i| scope.send(i * 1000)).last().unwrap().escalated);
        let before = scope.state();
        for i in 0..20u64 {
            assert!(!scope.send(60_000 + i * 1000).escalated);
        }
        assert_eq!(scope.state(), before);
    }

    #[test]
    fn a_clean_window_ends_the_streak() {
        let scope = Scope::new(baseline_params());
        for hour in 0..4 {
            scope.window(hour * HOUR, 20, 1);
        }
        let t = 4 * HOUR;
        assert!((0..30).map(|i| scope.send(t + i)).any(|v| v.triggered && !v.severe));
        // After the block (10 minutes), one hour of real traffic, then another.
        let t = t + 700_000;
        assert!(scope.window(t, 20, 1).is_empty());
        assert!(scope.window(t + HOUR, 20, 1).is_empty());
        assert_eq!(scope.state().streak, 0);
        let t = t + 2 * HOUR;
        let v = (0..60).map(|i| scope.send(t + i)).find(|v| v.triggered).unwrap();
        assert!(!v.severe, "a fresh deviation challenges again");
    }

    #[test]
    fn windows_with_too_few_sends_teach_nothing() {
        let scope = Scope::new(baseline_params());
        for hour in 0..6 {
            scope.window(hour * HOUR, 9, 1);
        }
        assert_eq!(scope.state().windows, 0);
    }

    #[test]
    fn without_block_after_windows_a_streak_never_blocks() {
        let scope = Scope::new(ConversionParams { block_after_windows: None, ..params() });
        let mut t = 0;
        for _ in 0..3 {
            let v = (0..10).map(|i| scope.send(t + i)).find(|v| v.triggered).unwrap();
            assert!(!v.severe);
            t += v.retry_after_ms.unwrap_or(0) + 10;
        }
    }

    #[test]
    fn state_written_by_earlier_versions_still_decodes() {
        let p = baseline_params();
        // Before strikes (32 bytes) and before baselines (36 bytes): blocked until 1_000_000.
        let old = Writer::default().u64(0).u32(3).u32(1).u32(0).u32(0).u64(1_000_000);
        let older = old.finish();
        let with_strikes = {
            let mut b = older.clone();
            b.extend_from_slice(&2u32.to_le_bytes());
            b
        };
        for (bytes, strikes) in [(older, 0), (with_strikes, 2)] {
            let c = decode(&bytes).unwrap();
            assert_eq!((c.blocked_until, c.strikes, c.windows, c.streak), (1_000_000, strikes, 0, 0));
            let now = Timestamp::from_millis(500_000);
            let Change::Keep(v) = p.step_send(Some(&bytes), now) else { panic!("the block holds") };
            assert_eq!((v.triggered, v.retry_after_ms, v.severe), (true, Some(500_000), false));
            // After the block, a send is counted and written in the new layout.
            let now = Timestamp::from_millis(1_000_001);
            let Change::Write { value, result, .. } = p.step_send(Some(&bytes), now) else {
                panic!("a send past the block is written")
            };
            assert!(!result.triggered);
            assert_eq!(value.len(), 44);
            assert_eq!(decode(&value).map(|c| c.strikes), Some(strikes));
        }
        // The new layout round-trips.
        let c = Counts { baseline_ppm: 812_345, windows: 7, streak: 1, strikes: 3, ..Counts::default() };
        assert_eq!(decode(&encode(&c)), Some(c));
    }

    #[test]
    fn torn_state_reads_as_a_new_scope() {
        let p = baseline_params();
        let now = Timestamp::from_millis(5);
        assert!(
            matches!(p.step_send(Some(&[1, 2, 3]), now), Change::Write { result, .. } if !result.triggered)
        );
    }
}
