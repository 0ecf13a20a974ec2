//! A confirm's response fed into conversion and trust: apart as it runs after origin answered, off the path.

use std::sync::Arc;

use crate::config::{Policy, RouteKind};
use crate::decision::{Action, Decision, ReasonCode};
use crate::extract::AnsweredSend;
use crate::limit::pair_text;
use crate::routes::ConfirmResponse;
use crate::rules::RuleKind;
use crate::solver::solver_scope;
use crate::store::Store;
use crate::time::Timestamp;

use super::keys::{conversion_scope_key, counter_key};
use super::{CheckOutcome, CounterCheck, CounterOp};

/// The number a confirm request names, when it can be credited: exactly one distinct number,
/// and nothing the guard could not read. A body with several (hidden nested keys) would let one
/// confirmation open other prefixes; one with more candidates than `inputs.max_numbers`, one
/// the guard cannot parse, a duplicate field or a body it cannot read may carry the number
/// origin verified beside the ones the guard saw (five nested copies of a pumped number, then
/// the attacker's own with its code).
fn request_confirms(decision: &Decision) -> Option<&str> {
    let first = decision.numbers.first()?;
    // A confirm naming a user and carrying a number (Cognito ignores a stray `UserAttributes`
    // on `ConfirmForgotPassword`) confirms the code sent to the user's own number, which may
    // be another: only a user name that is the number itself says which.
    let account_agrees = decision.account.as_deref().is_none_or(|name| name == first.e164);
    (saw_everything(decision) && account_agrees && decision.numbers.iter().all(|n| n.e164 == first.e164))
        .then_some(first.e164.as_str())
}

/// Whether the guard read the whole confirm: no input finding but a number read whole
/// (invalid) or none at all (nothing to credit).
fn saw_everything(decision: &Decision) -> bool {
    !decision
        .reasons
        .iter()
        .any(|r| r.code.is_input() && !matches!(r.code, ReasonCode::InvalidNumber | ReasonCode::NoNumber))
}

/// The account a confirm names, when that is all it names (Cognito's `ConfirmSignUp` by user
/// name): its code is credited to the number a send bound to the account.
fn account_confirms(decision: &Decision) -> Option<u128> {
    decision.binding_confirm.filter(|_| saw_everything(decision))
}

/// A forwarded send that binds its account (a sign-up), moves its SMS MFA (a phone change) or
/// may send its sign-in number a code (a sign-in): its bindings are recorded from origin's answer.
fn binds(decision: &Decision) -> bool {
    decision.route.as_ref().is_some_and(|r| r.kind == RouteKind::Send)
        && decision.action == Action::Allow
        && !decision.bindings.is_empty()
}

/// A forwarded confirm whose accepted code proves its account reads its sign-in number.
fn proves(decision: &Decision) -> bool {
    decision.route.as_ref().is_some_and(|r| r.kind == RouteKind::Confirm)
        && decision.action == Action::Allow
        && decision.proof.is_some()
}

/// Which of a send's bindings origin's answer records: a sign-up whose code went by SMS, or a
/// factor's enrolment that bound its number (its challenges send the codes), all of them; one
/// taken otherwise (its code by e-mail, or none) only where its SMS MFA goes (a code sent by
/// e-mail says nothing of the number, and crediting it would let a later confirmation credit a
/// number that never had the code); a phone change, where SMS MFA goes from now on; a sign-in
/// whose SMS code went, its charge to the number.
fn answered_bindings(bindings: &[CounterCheck], answer: AnsweredSend) -> Vec<CounterCheck> {
    let kept = bindings.iter().filter_map(|check| match (answer, check.op) {
        (AnsweredSend::CodeBySms | AnsweredSend::Bound, CounterOp::SignInCharge) => None,
        (AnsweredSend::CodeBySms | AnsweredSend::Bound, _) => Some(check.clone()),
        (AnsweredSend::AcceptedOtherwise, CounterOp::BindSignInNumber { digits, proven, .. }) => {
            Some(CounterCheck {
                op: CounterOp::BindSignInNumber { digits, sign_up_by_sms: false, proven },
                ..check.clone()
            })
        }
        (AnsweredSend::SignInCode, CounterOp::SignInCharge) => Some(check.clone()),
        _ => None,
    });
    kept.collect()
}

impl Policy {
    /// Whether origin's answer to this decision's request feeds conversion tracking (a forwarded
    /// confirm, under a policy with a conversion rule): hosts keep the decision for the response
    /// only then.
    pub fn awaits_confirmation(&self, decision: &Decision) -> bool {
        self.confirm_route(decision).is_some() || binds(decision) || proves(decision)
    }

    /// Whether the response of this decision's route must be read (up to
    /// [`crate::routes::MAX_CONFIRM_BODY_BYTES`]) to tell a confirmed code.
    pub fn confirm_needs_body(&self, decision: &Decision) -> bool {
        let proof_route = || {
            let route = decision.route.as_ref().and_then(|r| self.routes.get(r.index));
            proves(decision) && route.is_some_and(|route| route.success.needs_body())
        };
        binds(decision)
            || self.confirm_route(decision).is_some_and(|route| route.success.needs_body())
            || proof_route()
    }

    /// The confirm route of a forwarded decision, when conversion is tracked at all.
    fn confirm_route(&self, decision: &Decision) -> Option<&crate::routes::Route> {
        let route = decision.route.as_ref().and_then(|r| self.routes.get(r.index))?;
        let tracked = self.rules.iter().any(|r| {
            matches!(
                r.kind,
                RuleKind::Conversion(_)
                    | RuleKind::Reputation(_)
                    | RuleKind::ClientCountry { proven_pairs: Some(_), .. }
            )
        });
        (route.kind == RouteKind::Confirm && decision.action == Action::Allow && tracked).then_some(route)
    }

    /// Counter checks a confirm route's response causes, judged from everything the host read
    /// of it (status, headers and, where the route needs it, the body): for a confirmed code,
    /// one check per conversion rule that matches it against an earlier send to the number.
    /// Run them, then [`Policy::credit_checks`] with their outcomes. The number credited is the
    /// one origin's answer names, where the route reads it (`confirmed_number_field`), else the
    /// request's, and only when the guard saw every number the request carries
    /// (`request_confirms`).
    pub fn confirm_checks(&self, decision: &Decision, response: &ConfirmResponse<'_>) -> Vec<CounterCheck> {
        if binds(decision) {
            // Recorded only once origin took the send, as far as its answer says what went: one
            // it refused (a user name taken, a password too weak, a wrong password) sent nothing.
            let route = decision.route.as_ref().and_then(|r| self.routes.get(r.index));
            let (answer, user_id) = match route.and_then(|r| r.preset) {
                // Any other answer origin gave in taking the call (a phone change's) says the
                // call was taken, and nothing went by SMS that the guard records.
                Some(preset) if (200..300).contains(&response.status) => {
                    let answer = preset.send_answer(response.body);
                    let sent = match answer.sent {
                        AnsweredSend::Nothing => AnsweredSend::AcceptedOtherwise,
                        sent => sent,
                    };
                    (sent, answer.user_id)
                }
                _ => (AnsweredSend::Nothing, None),
            };
            let kept = answered_bindings(&decision.bindings, answer);
            let answered_only =
                route.and_then(|r| r.preset).is_some_and(|p| p.binds_under_answered_id_only());
            let copies =
                user_id.map(|id| self.user_id_bindings(&kept, &id, answered_only)).unwrap_or_default();
            if answered_only {
                return copies;
            }
            return kept.into_iter().chain(copies).collect();
        }
        let mut checks = self.credited_checks(decision, response);
        // Behind the credits: `credit_checks` reads the first check to tell which kind they are.
        checks.extend(self.proof_check(decision, response));
        checks
    }

    /// The proof a confirm's accepted code records, when the guard read the whole confirm (a
    /// body hiding a second user name could prove one account with another's code).
    fn proof_check(&self, decision: &Decision, response: &ConfirmResponse<'_>) -> Option<CounterCheck> {
        let route = decision.route.as_ref().and_then(|r| self.routes.get(r.index))?;
        (proves(decision) && saw_everything(decision) && route.success.holds(response))
            .then(|| decision.proof.clone())
            .flatten()
    }

    /// What a confirmed code credits: conversion and trust of the number it confirmed.
    fn credited_checks(&self, decision: &Decision, response: &ConfirmResponse<'_>) -> Vec<CounterCheck> {
        let Some(route) = self.confirm_route(decision).filter(|route| route.success.holds(response)) else {
            return Vec::new();
        };
        let e164 = if route.success.number.is_some() {
            let Some(text) = route.success.confirmed_number(response) else {
                // An answer naming no number (Firebase's to an enrolment's finalize): the
                // binding of the account the confirmation names, if it names only that.
                return account_confirms(decision)
                    .map(|tag| self.account_confirm_checks(tag))
                    .unwrap_or_default();
            };
            match self.parser.parse(&text) {
                Ok(parsed) => parsed.e164().to_owned(),
                Err(_) => return Vec::new(),
            }
        } else {
            match (request_confirms(decision), account_confirms(decision)) {
                (Some(e164), _) => e164.to_owned(),
                (None, Some(tag)) => return self.account_confirm_checks(tag),
                (None, None) => return Vec::new(),
            }
        };
        let digits = e164.strip_prefix('+').unwrap_or(&e164);
        let number: Arc<str> = Arc::from(e164.as_str());
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(index, rule)| {
                let (kind, op) = match rule.kind {
                    RuleKind::Conversion(p) if p.scope.is_sender() => {
                        ("cvd:", CounterOp::ConversionConfirmSolved)
                    }
                    RuleKind::Conversion(_) => ("cvn:", CounterOp::ConversionConfirmNumber),
                    RuleKind::Reputation(_) => ("tr:", CounterOp::TrustConfirm),
                    RuleKind::ClientCountry { proven_pairs: Some(_), .. } => {
                        ("cpn:", CounterOp::ConversionConfirmSolved)
                    }
                    _ => return None,
                };
                let key = counter_key(kind, &rule.id, digits);
                Some(CounterCheck::new(u16::try_from(index).ok()?, key, op, Some(number.clone())))
            })
            .collect()
    }

    /// The scope credits earned by [`Policy::confirm_checks`]' outcomes (in their order): one
    /// confirmation per matched send, in the scope of the rule that matched it.
    pub fn credit_checks(&self, checks: &[CounterCheck], outcomes: &[CheckOutcome]) -> Vec<CounterCheck> {
        if checks.first().is_some_and(|c| c.op == CounterOp::AccountConfirm) {
            return self.account_credit_checks(checks, outcomes);
        }
        // The number confirm_checks credited: the request's, or the one origin's answer named.
        let Some(number) = checks.first().and_then(|c| c.number.as_deref()) else { return Vec::new() };
        let Ok(facts) = self.parser.parse(number) else { return Vec::new() };
        let (digits, region) = (facts.digits(), facts.region().map(|r| r.as_str()));
        // How long the reputation rule had trusted the number before this confirmation.
        let trusted_for_ms = checks.iter().zip(outcomes).find_map(|(check, outcome)| match outcome {
            CheckOutcome::Verdict(v) if check.op == CounterOp::TrustConfirm => v.trusted_for_ms,
            _ => None,
        });
        checks
            .iter()
            .zip(outcomes)
            .filter_map(|(check, outcome)| match (check.op, outcome) {
                (
                    CounterOp::ConversionConfirmNumber | CounterOp::ConversionConfirmSolved,
                    CheckOutcome::Verdict(v),
                ) if !v.triggered => Some((check, v)),
                _ => None,
            })
            .filter_map(|(check, verdict)| {
                let rule = self.rules.get(usize::from(check.rule))?;
                let (kind, scope, op) = match (&rule.kind, check.op) {
                    // The pair of the number's mismatched send, as the send recorded it.
                    (RuleKind::ClientCountry { proven_pairs, .. }, _) => {
                        let min_age = proven_pairs.map_or(0, |p| p.min_trust_age_ms);
                        let trusted_before = trusted_for_ms.is_some_and(|age| age >= min_age);
                        ("cp:", pair_text(verdict.solver?)?, CounterOp::PairConfirm { trusted_before })
                    }
                    // The sender of the number's send (device or address), as the send recorded it.
                    (RuleKind::Conversion(_), CounterOp::ConversionConfirmSolved) => {
                        ("cv:", solver_scope(verdict.solver?), CounterOp::ConversionConfirm)
                    }
                    (RuleKind::Conversion(params), _) => {
                        let scope = conversion_scope_key(params.scope, digits, region, facts.calling_code());
                        ("cv:", scope, CounterOp::ConversionConfirm)
                    }
                    _ => return None,
                };
                Some(CounterCheck::new(
                    check.rule,
                    counter_key(kind, &rule.id, &scope),
                    op,
                    check.number.clone(),
                ))
            })
            .collect()
    }

    /// Feeds a confirm route's response into conversion tracking: both rounds against one store.
    pub fn record_confirm(
        &self,
        decision: &Decision,
        response: &ConfirmResponse<'_>,
        now: Timestamp,
        store: &dyn Store,
    ) {
        let checks = self.confirm_checks(decision, response);
        let outcomes: Vec<CheckOutcome> = checks.iter().map(|c| self.run_check(c, now, store)).collect();
        for credit in self.credit_checks(&checks, &outcomes) {
            let _ = self.run_check(&credit, now, store);
        }
    }
}
