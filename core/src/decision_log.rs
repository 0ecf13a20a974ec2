//! Decision-log limiter: under a flood, repeated decisions become a few lines and a count.
//!
//! A shadow rule that fires on every request of a flood would otherwise write one log line per
//! request (937,501 lines for 1.05M requests in one incident), and the log pipeline becomes the
//! next bill. Hosts ask [`DecisionLog::admit`] once per decision they would log; it groups
//! decisions by *shape* ([`shape_of`]: the action and the set of (rule, code, enforced) of the
//! reasons; not the number, IP or retry time), writes the first `burst` lines of each shape per
//! window and counts the rest. No decision drops out of the count: every suppressed one is
//! reported exactly once, either as `suppressed_before` on the shape's next written line, in a
//! [`Summary`] from [`DecisionLog::flush`], or, when a host never flushes, in
//! [`DecisionLog::overflowed`]. Metrics are separate and stay per request.
//!
//! Sans-I/O like the rest of the core: time comes in as `now`, nothing here reads a clock.
//! A window opens at the first decision of a shape after the previous window closed and lasts
//! `window_ms`; times that go backwards count as the current window.
//!
//! # Volume
//!
//! While at most `max_shapes` shapes are active, at most `burst` lines per shape per window
//! are written, plus at most one summary per shape per window: `burst + 1` lines per shape per
//! window, whatever the request rate. With the defaults (5 per 10 s) one shape writes at most
//! 36 lines a minute; at the incident's 3,500 requests/s that is about 0.17 lines per 1k
//! requests instead of 890, and per 1k requests the volume keeps falling as the rate rises.
//! Shapes come from the policy's rules and reason codes, so their number is bounded by the
//! configuration, not by the attacker; when more than `max_shapes` shapes are active at once,
//! a returning evicted shape starts a fresh window and the bound holds per tracked shape only.
//!
//! # Host loop
//!
//! ```text
//! match log.admit_decision(&decision, now) {
//!     Admit::Write { suppressed_before } => write(decision.log_line() + suppressed_before),
//!     Admit::Suppress => {}
//! }
//! for summary in log.flush(now) { write(summary.log_line()) }   // timer tick, or after admit
//! ```
//!
//! Hosts with a timer call `flush` from their tick; hosts without one call it after each
//! `admit`, so summaries arrive lazily with the next decision (it costs one comparison when
//! nothing is due). `flush_all` reports everything still pending, e.g. at shutdown.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Deserialize;

use crate::config::ConfigErrors;
use crate::decision::{push_json_string, Decision};
use crate::store::key_hash;
use crate::time::Timestamp;

/// Seed of [`shape_of`]. Fixed and public knowledge on purpose: a shape must have the same id
/// in every host, process and restart, so lines and summaries from the Envoy filter and the
/// Worker can be joined. Shapes come from the policy, so nobody gains by aiming at collisions.
const DECISION_SHAPE_SEED: u64 = 0x7067_5f73_6861_7065;

/// Seed of [`shape_of_key`], distinct so a host key never collides with a decision shape by
/// construction.
const KEY_SHAPE_SEED: u64 = 0x7067_5f68_6f73_746b;

/// How much a [`DecisionLog`] writes; hosts embed it in their own JSON configuration.
///
/// `burst: 0` turns the limiter off: every decision is written and no shape is tracked. Zero
/// is the conventional "no limit" and the only way to switch off without a separate flag;
/// `window_ms` and `max_shapes` have no meaningful zero, and [`DecisionLogLimits::validate`]
/// rejects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionLogLimits {
    /// Lines written per shape per window (default 5); `0` means no limit.
    pub burst: u32,
    /// Window length in milliseconds (default 10,000); at least 1.
    pub window_ms: u64,
    /// Shapes tracked at once (default 256); at least 1. Each tracked shape holds at most one
    /// example log line.
    pub max_shapes: usize,
}

impl Default for DecisionLogLimits {
    fn default() -> DecisionLogLimits {
        DecisionLogLimits { burst: 5, window_ms: 10_000, max_shapes: 256 }
    }
}

impl DecisionLogLimits {
    /// True when `burst` is 0: every decision is written.
    pub fn is_unlimited(&self) -> bool {
        self.burst == 0
    }

    /// Every problem with these limits; paths are field names, hosts prefix their own path.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errs = ConfigErrors::default();
        if self.window_ms == 0 {
            errs.push("window_ms", "must be at least 1 (milliseconds)");
        }
        if self.max_shapes == 0 {
            errs.push("max_shapes", "must be at least 1");
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// Whether the host writes the decision's log line now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Write the line. `suppressed_before` decisions of the same shape were suppressed since
    /// its last written line and not yet reported; the host adds the count to this line.
    Write {
        /// Similar decisions suppressed since the shape's last written line or summary.
        suppressed_before: u64,
    },
    /// Do not write the line: it is counted and reported later.
    Suppress,
}

/// Suppressed decisions of one shape not reported on a written line: one summary line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The shape, as [`shape_of`] or [`shape_of_key`] computed it.
    pub shape: u64,
    /// How many decisions of the shape were suppressed and are reported here.
    pub suppressed: u64,
    /// Time of the earliest of them.
    pub first_at: Timestamp,
    /// Time of the latest of them.
    pub last_at: Timestamp,
    /// The log line of the first of them, as the host's `example` closure made it.
    pub example: String,
}

impl Summary {
    /// One JSON line: `{"decision_log":"suppressed","shape":"<16 hex digits>","suppressed":N,
    /// "first_ms":..,"last_ms":..,"example":"<the example line as a string>"}`.
    pub fn log_line(&self) -> String {
        let mut line = String::with_capacity(128 + self.example.len());
        let _ = write!(
            line,
            "{{\"decision_log\":\"suppressed\",\"shape\":\"{:016x}\",\"suppressed\":{},\"first_ms\":{},\
             \"last_ms\":{},\"example\":",
            self.shape,
            self.suppressed,
            self.first_at.as_millis(),
            self.last_at.as_millis(),
        );
        // A string, not embedded JSON: the example comes from the host and need not be JSON.
        push_json_string(&mut line, &self.example);
        line.push('}');
        line
    }
}

/// Stable id of a decision's shape: its action and the sorted, deduplicated set of
/// (rule, code, enforced) of its reasons. Numbers, IPs, details and retry times are left out,
/// so a flood of random numbers tripping the same rules is one shape.
pub fn shape_of(decision: &Decision) -> u64 {
    let mut parts: Vec<(Option<&str>, &'static str, bool)> =
        decision.reasons.iter().map(|r| (r.rule.as_deref(), r.code.as_str(), r.enforced)).collect();
    parts.sort_unstable();
    parts.dedup();
    let mut key = String::with_capacity(8 + parts.len() * 40);
    key.push_str(decision.action.as_str());
    for (rule, code, enforced) in parts {
        key.push('|');
        // Length-prefixed, so no rule id can imitate a separator whatever ids the policy allows.
        match rule {
            Some(rule) => {
                let _ = write!(key, "{}:{rule}", rule.len());
            }
            None => key.push('-'),
        }
        key.push(' ');
        key.push_str(code);
        key.push(if enforced { '!' } else { '?' });
    }
    key_hash(DECISION_SHAPE_SEED, &key)
}

/// Stable id of a shape the host names itself (for lines that are not a [`Decision`]).
pub fn shape_of_key(key: &str) -> u64 {
    key_hash(KEY_SHAPE_SEED, key)
}

/// Suppressed decisions of one shape, not reported yet.
#[derive(Clone, Debug)]
struct Pending {
    count: u64,
    first_at: Timestamp,
    last_at: Timestamp,
    example: String,
    /// End of the window they were suppressed in: `flush` reports them from then on.
    due: Timestamp,
}

/// One tracked shape.
#[derive(Clone, Debug)]
struct Slot {
    window_start: Timestamp,
    written_in_window: u32,
    /// Admission sequence number of the shape's latest decision (its key in `by_recency`).
    last_seen: u64,
    pending: Option<Pending>,
}

/// Per-shape log limiter with bounded memory; one per host instance (per Envoy worker, per
/// Worker isolate). Not shared: it needs `&mut` and holds no locks.
#[derive(Clone, Debug)]
pub struct DecisionLog {
    limits: DecisionLogLimits,
    slots: BTreeMap<u64, Slot>,
    /// Sequence number -> shape, oldest first: the eviction order.
    by_recency: BTreeMap<u64, u64>,
    /// (window end, shape) of every shape with pending suppressed decisions, soonest first, so
    /// `flush` costs nothing when nothing is due.
    due: BTreeSet<(Timestamp, u64)>,
    /// Summaries of shapes dropped for capacity, until `flush` hands them out.
    evicted: Vec<Summary>,
    overflowed: u64,
    sequence: u64,
}

impl DecisionLog {
    /// A limiter with these limits. Never fails: a zero `window_ms` or `max_shapes` (which
    /// [`DecisionLogLimits::validate`] rejects) is taken as 1.
    pub fn new(limits: DecisionLogLimits) -> DecisionLog {
        let limits = DecisionLogLimits {
            burst: limits.burst,
            window_ms: limits.window_ms.max(1),
            max_shapes: limits.max_shapes.max(1),
        };
        DecisionLog {
            limits,
            slots: BTreeMap::new(),
            by_recency: BTreeMap::new(),
            due: BTreeSet::new(),
            evicted: Vec::new(),
            overflowed: 0,
            sequence: 0,
        }
    }

    /// The limits in force (zeros already replaced, see [`DecisionLog::new`]).
    pub fn limits(&self) -> DecisionLogLimits {
        self.limits
    }

    /// [`DecisionLog::admit`] for a decision: its shape is [`shape_of`], its example line
    /// [`Decision::log_line`].
    pub fn admit_decision(&mut self, decision: &Decision, now: Timestamp) -> Admit {
        self.admit(shape_of(decision), now, || decision.log_line())
    }

    /// Whether to write the line of one decision of `shape` seen at `now`. `example` makes the
    /// line kept for the summary; it runs at most once per run of suppressed decisions, so the
    /// host never serialises a line it will not write.
    pub fn admit(&mut self, shape: u64, now: Timestamp, example: impl FnOnce() -> String) -> Admit {
        let burst = self.limits.burst;
        if burst == 0 {
            return Admit::Write { suppressed_before: 0 };
        }
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        self.touch(shape, now, sequence);
        let window_ms = self.limits.window_ms;
        let Some(slot) = self.slots.get_mut(&shape) else {
            // `touch` just inserted it; writing is the safe answer if it ever did not.
            return Admit::Write { suppressed_before: 0 };
        };
        if slot.window_start.millis_until(now) >= window_ms {
            slot.window_start = now;
            slot.written_in_window = 0;
        }
        if slot.written_in_window < burst {
            slot.written_in_window = slot.written_in_window.saturating_add(1);
            let suppressed_before = match slot.pending.take() {
                Some(pending) => {
                    self.due.remove(&(pending.due, shape));
                    pending.count
                }
                None => 0,
            };
            return Admit::Write { suppressed_before };
        }
        match &mut slot.pending {
            Some(pending) => {
                pending.count = pending.count.saturating_add(1);
                pending.first_at = pending.first_at.min(now);
                pending.last_at = pending.last_at.max(now);
            }
            None => {
                let due = slot.window_start.plus_millis(window_ms);
                slot.pending =
                    Some(Pending { count: 1, first_at: now, last_at: now, example: example(), due });
                self.due.insert((due, shape));
            }
        }
        Admit::Suppress
    }

    /// Summaries of shapes dropped for capacity, and of shapes whose window closed by `now`
    /// with suppressed decisions not yet reported; each suppressed decision is in exactly one.
    pub fn flush(&mut self, now: Timestamp) -> Vec<Summary> {
        let mut summaries = std::mem::take(&mut self.evicted);
        while let Some(&(due, shape)) = self.due.first() {
            if due > now {
                break;
            }
            self.due.pop_first();
            if let Some(pending) = self.slots.get_mut(&shape).and_then(|slot| slot.pending.take()) {
                summaries.push(summary(shape, pending));
            }
        }
        summaries
    }

    /// Summaries of every suppressed decision not yet reported, windows closed or not (shutdown,
    /// configuration reload).
    pub fn flush_all(&mut self) -> Vec<Summary> {
        self.flush(Timestamp::from_millis(u64::MAX))
    }

    /// Suppressed decisions of dropped shapes that found the summary queue full (a host that
    /// never flushes): counted here instead, never lost. Hosts report it as a metric.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// Marks `shape` as the most recently seen, tracking it (and dropping the least recently
    /// seen shape when full) if it is new.
    fn touch(&mut self, shape: u64, now: Timestamp, sequence: u64) {
        if let Some(slot) = self.slots.get_mut(&shape) {
            self.by_recency.remove(&slot.last_seen);
            slot.last_seen = sequence;
            self.by_recency.insert(sequence, shape);
            return;
        }
        if self.slots.len() >= self.limits.max_shapes {
            self.evict_least_recent();
        }
        let slot = Slot { window_start: now, written_in_window: 0, last_seen: sequence, pending: None };
        self.slots.insert(shape, slot);
        self.by_recency.insert(sequence, shape);
    }

    /// Drops the least recently seen shape. Least recently seen, because a flood keeps its own
    /// shapes recent: their suppression state, the part that saves volume, survives churn of
    /// rarer shapes. Refusing new shapes instead would hide exactly the new pattern of an
    /// attack. The dropped shape's pending count becomes a summary at once, so dropping only
    /// costs a fresh burst if the shape comes back. The summary queue is capped at
    /// `max_shapes` so memory stays bounded when a host never flushes; beyond it the count
    /// still survives, in `overflowed`.
    fn evict_least_recent(&mut self) {
        let Some((_, shape)) = self.by_recency.pop_first() else {
            return;
        };
        let Some(pending) = self.slots.remove(&shape).and_then(|slot| slot.pending) else {
            return;
        };
        self.due.remove(&(pending.due, shape));
        if self.evicted.len() < self.limits.max_shapes {
            self.evicted.push(summary(shape, pending));
        } else {
            self.overflowed = self.overflowed.saturating_add(pending.count);
        }
    }
}

fn summary(shape: u64, pending: Pending) -> Summary {
    Summary {
        shape,
        suppressed: pending.count,
        first_at: pending.first_at,
        last_at: pending.last_at,
        example: pending.example,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::decision::{Action, NumberFacts, Reason, ReasonCode};
    use crate::phone::NumberType;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn limits(burst: u32, window_ms: u64, max_shapes: usize) -> DecisionLogLimits {
        DecisionLogLimits { burst, window_ms, max_shapes }
    }

    fn reason(rule: &str, code: ReasonCode, action: Action, enforced: bool) -> Reason {
        Reason {
            rule: Some(Arc::from(rule)),
            code,
            action,
            enforced,
            retry_after_ms: None,
            number: None,
            detail: None,
            spared: false,
        }
    }

    /// The incident's decision: a shadow country rule firing on a random number.
    fn shadow_country_decision(number: u64) -> Decision {
        let e164 = format!("+44{:010}", number % 10_000_000_000);
        let mut decision = Decision::unguarded();
        let mut finding = reason("geo-watch", ReasonCode::CountryMonitored, Action::Block, false);
        finding.number = Some(e164.clone());
        finding.retry_after_ms = Some(number % 5000);
        decision.reasons.push(finding);
        decision.numbers.push(NumberFacts {
            e164,
            region: Some("GB"),
            calling_code: 44,
            number_type: NumberType::Mobile,
            valid: true,
            trusted: false,
            from_account: false,
        });
        decision
    }

    /// What a host did with the limiter's answers.
    #[derive(Default)]
    struct Tally {
        admitted: u64,
        written: u64,
        suppressed: u64,
        reported_on_lines: u64,
        summaries: u64,
        reported_in_summaries: u64,
    }

    impl Tally {
        fn admit(&mut self, log: &mut DecisionLog, shape: u64, now: Timestamp) -> Admit {
            self.admitted += 1;
            let admit = log.admit(shape, now, || format!("line of {shape} at {}", now.as_millis()));
            match admit {
                Admit::Write { suppressed_before } => {
                    self.written += 1;
                    self.reported_on_lines += suppressed_before;
                }
                Admit::Suppress => self.suppressed += 1,
            }
            admit
        }

        fn take(&mut self, summaries: Vec<Summary>) -> Vec<Summary> {
            for summary in &summaries {
                assert!(summary.suppressed > 0);
                assert!(summary.first_at <= summary.last_at);
                self.summaries += 1;
                self.reported_in_summaries += summary.suppressed;
            }
            summaries
        }

        fn reported(&self, log: &DecisionLog) -> u64 {
            self.reported_on_lines + self.reported_in_summaries + log.overflowed()
        }
    }

    /// Suppressed decisions the limiter still holds, reported by no line or summary yet.
    fn unreported(log: &DecisionLog) -> u64 {
        let in_slots: u64 = log.slots.values().filter_map(|s| s.pending.as_ref()).map(|p| p.count).sum();
        in_slots + log.evicted.iter().map(|s| s.suppressed).sum::<u64>()
    }

    /// 100k decisions of one shape over 60 s; `tick` says whether the host has a 1 s timer.
    /// Returns the tally after a final `flush_all`.
    fn flood(tick: bool) -> Tally {
        let mut log = DecisionLog::new(DecisionLogLimits::default());
        let mut tally = Tally::default();
        let mut next_tick = 0;
        for i in 0..100_000u64 {
            let now = at(i * 60_000 / 100_000);
            if tick && now.as_millis() >= next_tick {
                // The timer fires just before this request arrives.
                for summary in tally.take(log.flush(now)) {
                    assert!(summary.example.contains("geo-watch"), "{}", summary.example);
                }
                next_tick += 1000;
            }
            // A different random-looking number and retry time on every request: one shape.
            let decision = shadow_country_decision(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            tally.admitted += 1;
            match log.admit_decision(&decision, now) {
                Admit::Write { suppressed_before } => {
                    tally.written += 1;
                    tally.reported_on_lines += suppressed_before;
                }
                Admit::Suppress => tally.suppressed += 1,
            }
        }
        tally.take(log.flush_all());
        assert_eq!(log.slots.len(), 1);
        assert_eq!(tally.written + tally.suppressed, 100_000);
        assert_eq!(tally.reported(&log), tally.suppressed);
        assert_eq!(tally.written + tally.reported(&log), 100_000);
        tally
    }

    #[test]
    fn flood_of_one_shape_writes_bounded_lines_and_counts_every_decision() {
        let windows = 6; // 60 s of 10 s windows
        let with_timer = flood(true);
        assert_eq!(with_timer.written, 5 * windows);
        // The tick closes every window before a request could carry its count: one summary
        // per window.
        assert_eq!(with_timer.summaries, windows);
        assert_eq!(with_timer.written + with_timer.summaries, (5 + 1) * windows);

        // Without a timer, each window's count rides on the next window's first line; only
        // the last window needs a summary.
        let without_timer = flood(false);
        assert_eq!(without_timer.written, 5 * windows);
        assert_eq!(without_timer.summaries, 1);
        assert_eq!(without_timer.reported_in_summaries + without_timer.reported_on_lines, 100_000 - 30);
    }

    #[test]
    fn shape_ignores_numbers_order_and_duplicates_but_not_rules() {
        let a = reason("geo", ReasonCode::CountryMonitored, Action::Block, false);
        let b = reason("rate", ReasonCode::RateLimited, Action::Throttle, true);
        let mut one = Decision::unguarded();
        one.action = Action::Throttle;
        one.reasons = vec![a.clone(), b.clone()];
        let mut other = one.clone();
        other.reasons = vec![b.clone(), a.clone(), b.clone()];
        other.reasons[0].number = Some("+14155550123".into());
        other.reasons[0].retry_after_ms = Some(1234);
        assert_eq!(shape_of(&one), shape_of(&other));
        assert_eq!(shape_of(&shadow_country_decision(1)), shape_of(&shadow_country_decision(2)));

        let mut enforced = one.clone();
        enforced.reasons[0].enforced = true;
        let mut renamed = one.clone();
        renamed.reasons[0].rule = Some("geo2".into());
        let mut recoded = one.clone();
        recoded.reasons[0].code = ReasonCode::CountryDenied;
        let mut blocked = one.clone();
        blocked.action = Action::Block;
        let mut input = one.clone();
        input.reasons[0].rule = None;
        for changed in [enforced, renamed, recoded, blocked, input] {
            assert_ne!(shape_of(&one), shape_of(&changed));
        }
        assert_ne!(shape_of_key("geo"), shape_of_key("geo2"));
    }

    #[test]
    fn interleaved_shapes_are_independent() {
        let mut log = DecisionLog::new(limits(2, 1000, 8));
        let (a, b) = (shape_of_key("a"), shape_of_key("b"));
        let mut answers = Vec::new();
        for i in 0..6 {
            answers.push((log.admit(a, at(i), String::new), log.admit(b, at(i), String::new)));
        }
        let write = Admit::Write { suppressed_before: 0 };
        for (i, (for_a, for_b)) in answers.into_iter().enumerate() {
            let expected = if i < 2 { write } else { Admit::Suppress };
            assert_eq!((for_a, for_b), (expected, expected), "decision {i}");
        }
        // More of `a` leaves `b`'s count alone.
        for i in 0..10 {
            log.admit(a, at(100 + i), String::new);
        }
        assert_eq!(log.admit(a, at(1000), String::new), Admit::Write { suppressed_before: 14 });
        assert_eq!(log.admit(b, at(1000), String::new), Admit::Write { suppressed_before: 4 });
    }

    #[test]
    fn window_rollover_reports_suppressed_on_the_next_line_or_in_a_summary_once() {
        let mut log = DecisionLog::new(limits(1, 1000, 8));
        let shape = shape_of_key("s");
        assert_eq!(log.admit(shape, at(0), || "first".into()), Admit::Write { suppressed_before: 0 });
        assert_eq!(log.admit(shape, at(10), || "second".into()), Admit::Suppress);
        assert_eq!(log.admit(shape, at(999), || "third".into()), Admit::Suppress);
        // Window still open: nothing due.
        assert!(log.flush(at(999)).is_empty());
        // Next window, no flush in between: the written line carries the count.
        assert_eq!(log.admit(shape, at(1000), || "fourth".into()), Admit::Write { suppressed_before: 2 });
        assert!(log.flush(at(5000)).is_empty(), "already reported on the line");

        // This window's extras go to a summary once the window closes...
        assert_eq!(log.admit(shape, at(1500), || "fifth".into()), Admit::Suppress);
        assert_eq!(log.admit(shape, at(1600), || "sixth".into()), Admit::Suppress);
        assert!(log.flush(at(1999)).is_empty());
        let summaries = log.flush(at(2000));
        assert_eq!(
            summaries,
            vec![Summary {
                shape,
                suppressed: 2,
                first_at: at(1500),
                last_at: at(1600),
                example: "fifth".into()
            }]
        );
        // ...and are not reported again on the next line.
        assert_eq!(log.admit(shape, at(2100), || "seventh".into()), Admit::Write { suppressed_before: 0 });
        assert!(log.flush_all().is_empty());
    }

    #[test]
    fn example_line_is_made_once_per_run_of_suppressed_decisions() {
        let mut log = DecisionLog::new(limits(1, 1000, 8));
        let mut made = 0;
        for i in 0..100 {
            log.admit(7, at(i), || {
                made += 1;
                String::new()
            });
        }
        assert_eq!(made, 1);
    }

    #[test]
    fn shape_dropped_for_capacity_reports_its_count() {
        let mut log = DecisionLog::new(limits(1, 10_000, 2));
        for i in 0..4 {
            log.admit(1, at(i), || "one".into());
        }
        log.admit(2, at(10), String::new);
        // Seeing 1 again makes 2 the least recently seen.
        assert_eq!(log.admit(1, at(11), String::new), Admit::Suppress);
        // A third shape drops shape 2 (nothing pending: no summary), then shape 1.
        log.admit(3, at(20), String::new);
        assert!(log.evicted.is_empty());
        assert_eq!(log.admit(4, at(30), String::new), Admit::Write { suppressed_before: 0 });
        let summaries = log.flush(at(31));
        assert_eq!(summaries.len(), 1);
        assert_eq!((summaries[0].shape, summaries[0].suppressed), (1, 4));
        assert_eq!(summaries[0].example, "one");
        // The dropped shape comes back with a fresh window and nothing left to report.
        assert_eq!(log.admit(1, at(40), String::new), Admit::Write { suppressed_before: 0 });
        assert!(log.flush_all().is_empty());
        assert!(log.slots.len() <= 2);
    }

    #[test]
    fn dropped_counts_go_to_overflowed_when_the_host_never_flushes() {
        let mut log = DecisionLog::new(limits(1, 10_000, 1));
        for shape in 0..5u64 {
            log.admit(shape, at(shape), String::new);
            log.admit(shape, at(shape), String::new);
            log.admit(shape, at(shape), String::new);
        }
        // Four shapes dropped with 2 pending each: one summary queued (cap 1), the rest counted.
        assert_eq!(log.evicted.len(), 1);
        assert_eq!(log.overflowed(), 6);
        let summaries = log.flush_all();
        assert_eq!(summaries.iter().map(|s| s.suppressed).sum::<u64>(), 4);
    }

    #[test]
    fn burst_zero_writes_every_line_and_tracks_nothing() {
        let config: DecisionLogLimits = serde_json::from_str(r#"{"burst": 0}"#).unwrap();
        assert!(config.is_unlimited());
        assert_eq!(config.validate(), Ok(()));
        let mut log = DecisionLog::new(config);
        for i in 0..1000 {
            let answer = log.admit(shape_of_key("x"), at(i), || unreachable!("no example needed"));
            assert_eq!(answer, Admit::Write { suppressed_before: 0 });
        }
        assert!(log.slots.is_empty());
        assert!(log.flush_all().is_empty());
    }

    #[test]
    fn limits_deserialize_with_defaults_and_reject_unknown_fields_and_zeros() {
        let config: DecisionLogLimits = serde_json::from_str("{}").unwrap();
        assert_eq!(config, DecisionLogLimits::default());
        assert_eq!(config, limits(5, 10_000, 256));
        assert_eq!(config.validate(), Ok(()));
        let config: DecisionLogLimits = serde_json::from_str(r#"{"window_ms": 60000}"#).unwrap();
        assert_eq!(config, limits(5, 60_000, 256));
        assert!(serde_json::from_str::<DecisionLogLimits>(r#"{"bursts": 3}"#).is_err());

        let errors = limits(5, 0, 0).validate().unwrap_err();
        let paths: Vec<&str> = errors.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["window_ms", "max_shapes"]);
        // Unvalidated zeros still make a working limiter.
        let log = DecisionLog::new(limits(5, 0, 0));
        assert_eq!(log.limits(), limits(5, 1, 1));
    }

    #[test]
    fn summary_line_is_json_with_the_example_as_a_string() {
        let summary = Summary {
            shape: 0xabc,
            suppressed: 42,
            first_at: at(1),
            last_at: at(2),
            example: shadow_country_decision(5).log_line(),
        };
        let value: serde_json::Value = serde_json::from_str(&summary.log_line()).unwrap();
        assert_eq!(value["decision_log"], "suppressed");
        assert_eq!(value["shape"], "0000000000000abc");
        assert_eq!(value["suppressed"], 42);
        assert_eq!((value["first_ms"].as_u64(), value["last_ms"].as_u64()), (Some(1), Some(2)));
        assert_eq!(value["example"], summary.example);
    }

    #[derive(Clone, Debug)]
    enum Step {
        Admit { shape: u64, ms: u64 },
        Flush { ms: u64 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0..6u64, 0..20_000u64).prop_map(|(shape, ms)| Step::Admit { shape, ms }),
            1 => (0..20_000u64).prop_map(|ms| Step::Flush { ms }),
        ]
    }

    proptest! {
        /// Any order of shapes and times, backwards included: every decision is written or
        /// suppressed, and every suppressed one is reported exactly once.
        #[test]
        fn written_plus_suppressed_is_admitted(
            burst in 0..4u32,
            window_ms in 1..5000u64,
            max_shapes in 1..5usize,
            steps in proptest::collection::vec(step(), 0..400),
        ) {
            let mut log = DecisionLog::new(limits(burst, window_ms, max_shapes));
            let mut tally = Tally::default();
            for step in steps {
                match step {
                    Step::Admit { shape, ms } => {
                        tally.admit(&mut log, shape, at(ms));
                    }
                    Step::Flush { ms } => {
                        tally.take(log.flush(at(ms)));
                    }
                }
                prop_assert_eq!(tally.written + tally.suppressed, tally.admitted);
                prop_assert_eq!(tally.reported(&log) + unreported(&log), tally.suppressed);
                prop_assert!(log.slots.len() <= max_shapes);
                prop_assert_eq!(log.slots.len(), log.by_recency.len());
                prop_assert!(log.evicted.len() <= max_shapes);
                if burst == 0 {
                    prop_assert_eq!(tally.suppressed, 0);
                }
            }
            tally.take(log.flush_all());
            prop_assert_eq!(unreported(&log), 0);
            prop_assert_eq!(tally.written + tally.reported(&log), tally.admitted);
            prop_assert!(log.due.is_empty());
        }
    }
}
