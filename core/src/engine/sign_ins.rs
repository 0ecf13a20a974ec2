//! Password sign-ins judged by the number their SMS MFA codes go to (`bound_sign_ins`): which
//! number that is for an account (its sign-up's, or its last phone change's), the look at that
//! number's count before a sign-in, the charge Cognito's answer makes, and the proof a code the
//! account entered records. Apart as it spans both ends of a sign-in, and keeps its own keys.

use std::sync::Arc;

use crate::config::Policy;
use crate::limit::SignInNumber;
use crate::phone::PhoneNumber;
use crate::rules::{Rule, RuleKind};

use super::accounts::account_key;
use super::keys::counter_key;
use super::{CheckOutcome, CounterCheck, CounterOp};

impl Policy {
    /// The policy's `bound_sign_ins` rule and its index (at most one), when it judges `route`
    /// (any route, for `None`).
    fn sign_in_rule(&self, route: Option<usize>) -> Option<(u16, &Rule)> {
        let (index, rule) = self.rules.iter().enumerate().find(|(_, r)| {
            matches!(r.kind, RuleKind::BoundSignIns(_)) && route.is_none_or(|route| r.routes.contains(&route))
        })?;
        Some((u16::try_from(index).ok()?, rule))
    }

    /// Whether the policy counts sign-ins at all (has a `bound_sign_ins` rule): only then is a
    /// confirm asked whether it answers a sign-in's code (the conditions read the body again).
    pub(super) fn counts_sign_ins(&self) -> bool {
        self.sign_in_rule(None).is_some()
    }

    /// Whether a `bound_sign_ins` rule judges route `route`'s sign-ins.
    pub(super) fn judges_sign_ins(&self, route: usize) -> bool {
        self.sign_in_rule(Some(route)).is_some()
    }

    /// The record of where account `tag`'s SMS MFA codes go, once origin took the call naming
    /// it and carrying `number` on route `route` (`sign_up`: a sign-up, whose answer says whether
    /// its code went there by SMS; else a phone change).
    pub(super) fn plan_sign_in_number(
        &self,
        route: usize,
        tag: u128,
        number: &PhoneNumber,
        sign_up: bool,
    ) -> Option<CounterCheck> {
        let (index, rule) = self.sign_in_rule(Some(route))?;
        let digits = number.digits().parse::<u64>().ok()?;
        let op = CounterOp::BindSignInNumber { digits, sign_up_by_sms: sign_up, proven: false };
        let e164 = Some(Arc::from(number.e164()));
        Some(CounterCheck::new(index, account_key("bm:", &rule.id, tag), op, e164))
    }

    /// The read of account `tag`'s sign-in number, for a sign-in on route `route`; `None` when
    /// no `bound_sign_ins` rule judges the route.
    pub(super) fn plan_sign_in_number_read(&self, route: usize, tag: u128) -> Option<CounterCheck> {
        let (index, rule) = self.sign_in_rule(Some(route))?;
        Some(CounterCheck::new(index, account_key("bm:", &rule.id, tag), CounterOp::SignInNumberRead, None))
    }

    /// The number [`Policy::plan_sign_in_number_read`]'s outcome names, and whether the account
    /// proved it; `None` when it has none, the store failed, or the digits no longer parse.
    pub(super) fn sign_in_number(
        &self,
        checks: &[CounterCheck],
        outcomes: &[CheckOutcome],
    ) -> Option<(PhoneNumber, SignInNumber)> {
        let record = checks.iter().zip(outcomes).find_map(|(check, outcome)| match outcome {
            CheckOutcome::Verdict(v) if check.op == CounterOp::SignInNumberRead => {
                v.solver.and_then(SignInNumber::from_verdict)
            }
            _ => None,
        })?;
        let number = self.parser.parse(&format!("+{}", record.digits)).ok()?;
        Some((number, record))
    }

    /// The checks of a sign-in whose SMS code would go to `number` under rule `index`: the look
    /// at the number's count, unless the account proved the number; and the charge origin's
    /// answer makes when it says a code went.
    pub(super) fn plan_sign_in(
        &self,
        index: usize,
        number: &PhoneNumber,
        record: SignInNumber,
    ) -> (Option<CounterCheck>, Option<CounterCheck>) {
        let (Some(rule), Ok(rule_index)) = (self.rules.get(index), u16::try_from(index)) else {
            return (None, None);
        };
        let key = counter_key("bsi:", &rule.id, number.digits());
        let e164: Arc<str> = Arc::from(number.e164());
        let check = |op| CounterCheck::new(rule_index, key.clone(), op, Some(e164.clone()));
        let peek = (!record.proven).then(|| check(CounterOp::SignInPeek));
        (peek, Some(check(CounterOp::SignInCharge)))
    }

    /// The proof that account `tag` read a code sent to its sign-in number (`sign_up_code`: its
    /// sign-up's, which proves only a number that code went to by SMS); `None` without a
    /// `bound_sign_ins` rule.
    pub(super) fn plan_proof(&self, tag: u128, sign_up_code: bool) -> Option<CounterCheck> {
        let (index, rule) = self.sign_in_rule(None)?;
        let op = CounterOp::ProveSignInNumber { sign_up_code };
        Some(CounterCheck::new(index, account_key("bm:", &rule.id, tag), op, None))
    }
}
