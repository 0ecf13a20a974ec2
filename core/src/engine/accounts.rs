//! Sends that name an account instead of a number, and confirmations naming only the account
//! (Cognito's `ConfirmSignUp` by e-mail user name): a send that binds its account to its one
//! number (the preset knows which calls do) records, once origin accepted it, what a later
//! confirmation naming only the account credits: the number's digits, or its sender's tag. Apart
//! as it spans both ends of a confirmation, and keeps its own keys.

use std::sync::Arc;

use crate::config::Policy;
use crate::limit::{ConversionScope, CONFLICTING_BINDINGS};
use crate::phone::PhoneNumber;
use crate::request::Request;
use crate::rules::RuleKind;
use crate::solver::solver_scope;

use super::keys::{account_tag, account_text, client_tag, conversion_scope_key, counter_key};
use super::{CheckOutcome, CounterCheck, CounterOp};

/// The key an account's binding is recorded under, per rule.
pub(super) fn account_key(kind: &str, rule_id: &str, tag: u128) -> String {
    counter_key(kind, rule_id, &account_text(tag))
}

/// The key kind of a rule's bindings, for the rules a confirmation credits through them: trust,
/// and conversion by the number's scope or the sender's address (not by solving device, which
/// is named only once the token is verified, nor country pairs).
fn binding_kind(kind: &RuleKind) -> Option<&'static str> {
    match kind {
        RuleKind::Reputation(_) => Some("tr@:"),
        RuleKind::Conversion(p) if matches!(p.scope, ConversionScope::ClientIp { .. }) => Some("cvd@:"),
        RuleKind::Conversion(p) if !p.scope.is_sender() => Some("cvn@:"),
        _ => None,
    }
}

impl Policy {
    /// The same records for the id the service gave the user a sign-up made (Cognito's `sub`),
    /// where a numberless call names the account and where its SMS MFA goes: in a pool whose
    /// users sign in by e-mail, an SRP sign-in (Amplify's default) names that id, never the
    /// e-mail the sign-up carried, and would otherwise find no number. The service made the
    /// id, so no one can choose it to take over another account's records.
    ///
    /// With `sends_too` (a call whose records are kept under the answered id alone, such as
    /// Auth0's `otp/challenge` under its session), the send's records a confirmation naming
    /// the id credits are copied as well.
    pub(super) fn user_id_bindings(
        &self,
        bindings: &[CounterCheck],
        id: &str,
        sends_too: bool,
    ) -> Vec<CounterCheck> {
        let tag = account_tag(id);
        bindings
            .iter()
            .filter_map(|check| {
                let rule = self.rules.get(usize::from(check.rule))?;
                let kind = match check.op {
                    CounterOp::BindNumber { .. } => "bn:",
                    CounterOp::BindSignInNumber { .. } => "bm:",
                    CounterOp::AccountSent { .. } if sends_too => binding_kind(&rule.kind)?,
                    _ => return None,
                };
                let key = account_key(kind, &rule.id, tag);
                // A sign-up naming the user by its id already bound it.
                (key != check.key).then(|| CounterCheck { key, ..check.clone() })
            })
            .collect()
    }

    /// The bindings of a send on route `route` naming account `tag` and carrying `number`
    /// alone: what a confirmation naming the account credits, and the number the account's
    /// later sends go to.
    pub(super) fn plan_bindings(
        &self,
        route: usize,
        tag: u128,
        number: &PhoneNumber,
        req: &Request<'_>,
        answered: bool,
    ) -> Vec<CounterCheck> {
        let Ok(digits) = number.digits().parse::<u64>() else { return Vec::new() };
        let e164: Arc<str> = Arc::from(number.e164());
        let sign_in_number = self.plan_sign_in_number(route, tag, number, true);
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(index, rule)| {
                if matches!(rule.kind, RuleKind::BoundNumber { .. }) && rule.routes.contains(&route) {
                    return Some(CounterCheck::new(
                        u16::try_from(index).ok()?,
                        account_key("bn:", &rule.id, tag),
                        CounterOp::BindNumber { digits, answered },
                        Some(e164.clone()),
                    ));
                }
                let kind = binding_kind(&rule.kind)?;
                let value = match &rule.kind {
                    RuleKind::Conversion(p) => match p.scope {
                        ConversionScope::ClientIp { v4, v6 } => client_tag(req.client_ip?, v4, v6),
                        _ => digits,
                    },
                    _ => digits,
                };
                let op = CounterOp::AccountSent { value };
                Some(CounterCheck::new(
                    u16::try_from(index).ok()?,
                    account_key(kind, &rule.id, tag),
                    op,
                    Some(e164.clone()),
                ))
            })
            .chain(sign_in_number)
            .collect()
    }

    /// The read of the number account `tag` is bound to, for a send on route `route` naming
    /// only the account; `None` when no `bound_number` rule judges the route.
    pub(super) fn plan_bound_read(&self, route: usize, tag: u128) -> Option<CounterCheck> {
        let (index, rule) = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, r)| matches!(r.kind, RuleKind::BoundNumber { .. }) && r.routes.contains(&route))?;
        let key = account_key("bn:", &rule.id, tag);
        Some(CounterCheck::new(u16::try_from(index).ok()?, key, CounterOp::BoundNumberRead, None))
    }

    /// The number [`Policy::plan_bound_read`]'s outcome names; `None` when the account has no
    /// binding, the store failed, or the digits no longer parse.
    pub(super) fn bound_number(
        &self,
        checks: &[CounterCheck],
        outcomes: &[CheckOutcome],
    ) -> Option<PhoneNumber> {
        let digits = checks.iter().zip(outcomes).find_map(|(check, outcome)| match outcome {
            CheckOutcome::Verdict(v) if check.op == CounterOp::BoundNumberRead => v.solver,
            _ => None,
        })?;
        self.parser.parse(&format!("+{digits}")).ok()
    }

    /// Whether the first [`Policy::plan_bound_read`]'s outcome (the path's binding, read before
    /// the account's) says the call that made the binding carried a token that still answers a
    /// challenge.
    pub(super) fn bound_answered(&self, checks: &[CounterCheck], outcomes: &[CheckOutcome]) -> bool {
        checks
            .iter()
            .zip(outcomes)
            .find(|(check, _)| check.op == CounterOp::BoundNumberRead)
            .is_some_and(|(_, outcome)| matches!(outcome, CheckOutcome::Verdict(v) if v.answered))
    }

    /// A confirmation naming only account `tag`: one check per rule a binding send recorded the
    /// account for, each answering with what it recorded.
    pub(super) fn account_confirm_checks(&self, tag: u128) -> Vec<CounterCheck> {
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(index, rule)| {
                let key = account_key(binding_kind(&rule.kind)?, &rule.id, tag);
                Some(CounterCheck::new(u16::try_from(index).ok()?, key, CounterOp::AccountConfirm, None))
            })
            .collect()
    }

    /// What the bindings [`Policy::account_confirm_checks`] matched earn: the number's trust
    /// (a check of its own, as a confirmation naming it would make), its scope's credit, the
    /// sender's address's credit.
    pub(super) fn account_credit_checks(
        &self,
        checks: &[CounterCheck],
        outcomes: &[CheckOutcome],
    ) -> Vec<CounterCheck> {
        checks
            .iter()
            .zip(outcomes)
            .filter_map(|(check, outcome)| {
                let CheckOutcome::Verdict(verdict) = outcome else { return None };
                if check.op != CounterOp::AccountConfirm || verdict.triggered {
                    return None;
                }
                let value = verdict.solver.filter(|v| *v != CONFLICTING_BINDINGS)?;
                let rule = self.rules.get(usize::from(check.rule))?;
                let number = || self.parser.parse(&format!("+{value}")).ok();
                let (kind, subject, op, e164) = match &rule.kind {
                    RuleKind::Reputation(_) => {
                        let facts = number()?;
                        (
                            "tr:",
                            facts.digits().to_owned(),
                            CounterOp::TrustConfirm,
                            Some(facts.e164().to_owned()),
                        )
                    }
                    RuleKind::Conversion(p) if p.scope.is_sender() => {
                        ("cv:", solver_scope(value), CounterOp::ConversionConfirm, None)
                    }
                    RuleKind::Conversion(p) => {
                        let facts = number()?;
                        let region = facts.region().map(|r| r.as_str());
                        let scope =
                            conversion_scope_key(p.scope, facts.digits(), region, facts.calling_code());
                        ("cv:", scope, CounterOp::ConversionConfirm, Some(facts.e164().to_owned()))
                    }
                    _ => return None,
                };
                let number = e164.map(|e| Arc::from(e.as_str()));
                Some(CounterCheck::new(check.rule, counter_key(kind, &rule.id, &subject), op, number))
            })
            .collect()
    }
}
