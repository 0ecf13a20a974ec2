//! Rules counted per CAPTCHA-solving device (`captcha_solver`): their checks are planned with
//! the request, like any counter's, and keyed once siteverify names the device that solved the
//! challenge ([`crate::Policy::resolve_token`]); the commit round runs them.

use std::sync::Arc;

use crate::engine::{counter_key, CounterCheck, CounterOp};
use crate::phone::PhoneNumber;

/// A check of a rule counted per solving device, waiting for the one part only siteverify
/// knows: the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SolverCheck {
    rule: u16,
    /// The counter key without the device; `cuts` are where its tag goes (in increasing order).
    key: String,
    cuts: Vec<usize>,
    op: CounterOp,
    number: Option<Arc<str>>,
}

impl SolverCheck {
    /// The counter check for the device siteverify named.
    pub(crate) fn for_solver(&self, solver: &str) -> CounterCheck {
        let tag = solver_tag(solver);
        let scope = solver_scope(tag);
        let mut key = String::with_capacity(self.key.len() + scope.len() * self.cuts.len());
        let mut from = 0;
        for &cut in &self.cuts {
            key.push_str(self.key.get(from..cut).unwrap_or(""));
            key.push_str(&scope);
            from = cut;
        }
        key.push_str(self.key.get(from..).unwrap_or(""));
        let op = match self.op {
            CounterOp::ConversionSolvedNumber { .. } => CounterOp::ConversionSolvedNumber { solver: tag },
            op => op,
        };
        // What can refuse the device goes first; its record as the number's sender waits for
        // the rest of the request.
        let gate = matches!(op, CounterOp::Rate | CounterOp::ConversionSend);
        CounterCheck { gate, ..CounterCheck::new(self.rule, key, op, self.number.clone()) }
    }
}

fn push_once(out: &mut Vec<SolverCheck>, check: SolverCheck) {
    if !out.contains(&check) {
        out.push(check);
    }
}

/// Plans a `rate_limit` keyed by `captcha_solver` as any rate limit is planned: one check per
/// number (one for a request without numbers), keyed per number where the key names it.
/// `key_for` builds the key of a number (or of none) and records where the device goes.
pub(crate) fn plan_rate(
    rule_index: usize,
    numbers: &[PhoneNumber],
    e164s: &[Arc<str>],
    per_number: bool,
    key_for: impl Fn(Option<&PhoneNumber>, &mut Vec<usize>) -> String,
    out: &mut Vec<SolverCheck>,
) {
    let Ok(rule) = u16::try_from(rule_index) else { return };
    let mut plan = |number: Option<usize>| {
        let mut cuts = Vec::new();
        let key = key_for(number.filter(|_| per_number).and_then(|i| numbers.get(i)), &mut cuts);
        let number = number.and_then(|i| e164s.get(i)).cloned();
        let check = SolverCheck { rule, key, cuts, op: CounterOp::Rate, number };
        push_once(out, check);
    };
    if numbers.is_empty() {
        plan(None);
    }
    for i in 0..numbers.len() {
        plan(Some(i));
    }
}

/// Plans a `conversion` rule scoped by `captcha_solver`: per number, a send counted against the
/// device, and the number's solved send, so a confirmation of it credits that device. (With
/// `count_intel_refusals` the send stands when the provider refuses the number:
/// `Policy::resolve_lookups`.)
pub(crate) fn plan_conversion(
    rule_index: usize,
    rule_id: &str,
    numbers: &[PhoneNumber],
    e164s: &[Arc<str>],
    out: &mut Vec<SolverCheck>,
) {
    let Ok(rule) = u16::try_from(rule_index) else { return };
    for (number, e164) in numbers.iter().zip(e164s) {
        let key = counter_key("cv:", rule_id, "");
        let cuts = vec![key.len()];
        let number_key = counter_key("cvd:", rule_id, number.digits());
        let e164 = Some(e164.clone());
        push_once(out, SolverCheck { rule, key, cuts, op: CounterOp::ConversionSend, number: e164.clone() });
        let solved = CounterOp::ConversionSolvedNumber { solver: 0 };
        push_once(out, SolverCheck { rule, key: number_key, cuts: Vec::new(), op: solved, number: e164 });
    }
}

/// A solving device's tag: a 64-bit FNV-1a hash of the id siteverify gave, so every key that
/// names a device has the same short, bounded form whatever the provider's ids look like.
pub(crate) fn solver_tag(solver: &str) -> u64 {
    solver.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The counter-key text of a device tag.
pub(crate) fn solver_scope(tag: u64) -> String {
    format!("{tag:016x}")
}
