//! The engine's number-intelligence steps: cache reads planned with the counter checks, cached
//! answers folded in at `conclude`, the lookups the host still has to make, and their answers.

use std::sync::Arc;

use crate::config::{IntelOutcome, Policy, RuleAction};
use crate::decision::{Action, Decision, Reason, ReasonCode, TokenCheck};
use crate::engine::{CheckOutcome, CounterCheck, CounterOp};
use crate::phone::PhoneNumber;
use crate::rules::{Rule, RuleKind};

use super::{cache_key, IntelFacts, LookupAnswer, NumberLookup};

/// What the cache reads of a request found: answers per number, and the numbers it lacks.
#[derive(Debug, Default)]
pub(crate) struct Cached {
    missing: Vec<Arc<str>>,
}

impl Policy {
    /// One cache read per number (not per rule: the answer is about the number), under the
    /// first `number_intel` rule that applies; the same number twice is one read.
    pub(crate) fn plan_intel_reads(
        &self,
        rule_index: usize,
        numbers: &[PhoneNumber],
        e164s: &[Arc<str>],
        checks: &mut Vec<CounterCheck>,
    ) {
        let Ok(rule) = u16::try_from(rule_index) else { return };
        for (number, e164) in numbers.iter().zip(e164s) {
            let key = cache_key(number.digits());
            if !checks.iter().any(|c| c.op == CounterOp::IntelRead && c.key == key) {
                checks.push(CounterCheck::new(rule, key, CounterOp::IntelRead, Some(e164.clone())));
            }
        }
    }

    /// Whether a pending write stands when the provider refuses its request, under
    /// `count_intel_refusals`: an `adjacent` rule's sightings, and the send a sender scope (the
    /// solving device, the client address) counts against its sender; not the number's record
    /// of its sender (no SMS went, so no confirmation can credit it). Only for the numbers the
    /// provider refused (`refused`): a clean number beside one would otherwise be recorded as
    /// seen, and five requests of four clean numbers each could shut a real user's block.
    fn sees_intel_refusals(&self, check: &CounterCheck, refused: &[String]) -> bool {
        if !check.number.as_deref().is_some_and(|n| refused.iter().any(|r| r == n)) {
            return false;
        }
        self.rules.get(usize::from(check.rule)).is_some_and(|rule| match &rule.kind {
            RuleKind::Adjacent(p) => p.count_intel_refusals,
            RuleKind::Conversion(p) => {
                p.count_intel_refusals && p.scope.is_sender() && check.op == CounterOp::ConversionSend
            }
            _ => false,
        })
    }

    /// The numbers the provider's answer blocked this decision for (none when it did not): a
    /// `number_intel` finding enforced on its own, or weighed into a risk score that blocked the
    /// request (the provider's suspicion and a second signal together). A challenge is not
    /// counted: it comes back with a token and counts then, or never.
    fn provider_refused(&self, decision: &Decision) -> Vec<String> {
        if decision.action != Action::Block {
            return Vec::new();
        }
        let risk_refused = decision.reasons.iter().any(|r| r.code == ReasonCode::RiskScore && r.enforced);
        decision
            .reasons
            .iter()
            .filter(|r| r.code == ReasonCode::NumberIntel && !r.spared)
            .filter(|r| r.enforced || (risk_refused && self.rule_of(r).is_some_and(Rule::weighs_risk)))
            .filter_map(|r| r.number.clone())
            .collect()
    }

    /// The `number_intel` rules that apply to the decision's route, with their indexes.
    fn intel_rules<'a>(&'a self, decision: &Decision) -> impl Iterator<Item = (usize, &'a Rule)> + 'a {
        let route = decision.route.as_ref().map(|r| r.index);
        self.rules
            .iter()
            .enumerate()
            .filter(move |(_, rule)| matches!(rule.kind, RuleKind::NumberIntel(_)))
            .filter(move |(_, rule)| route.is_some_and(|r| rule.routes.contains(&r)))
    }

    fn enforces(&self, rule: &Rule) -> bool {
        !self.shadow && !rule.shadow && rule.action != RuleAction::Log
    }

    /// Adds the findings of every applicable `number_intel` rule on one number's answer. A
    /// `skip_trusted` rule reports a trusted number without acting on it.
    fn fold_facts(&self, decision: &mut Decision, number: &str, facts: &IntelFacts) {
        self.fold_findings(decision, number, ReasonCode::NumberIntel, |rule| rule.fires(facts));
    }

    /// Adds the findings of every applicable `number_intel` rule that fires on `fires`, under
    /// `code`; a `skip_trusted` rule reports a trusted number without acting on it.
    fn fold_findings(
        &self,
        decision: &mut Decision,
        number: &str,
        code: ReasonCode,
        fires: impl Fn(&super::IntelRule) -> Option<String>,
    ) {
        let trusted = decision.numbers.iter().any(|n| n.e164 == number && n.trusted);
        let mut found = Vec::new();
        for (_, rule) in self.intel_rules(decision) {
            let RuleKind::NumberIntel(params) = &rule.kind else { continue };
            let Some(detail) = fires(params) else { continue };
            let spared = trusted && rule.skip_trusted;
            found.push(Reason {
                rule: Some(rule.id.clone()),
                code,
                action: Action::from(rule.action),
                enforced: self.enforces(rule) && !spared,
                retry_after_ms: None,
                number: Some(number.to_owned()),
                detail: Some(if spared { format!("{detail}; spared: trusted number") } else { detail }),
                spared,
            });
        }
        decision.reasons.extend(found);
    }

    /// Folds the cached answers among `results` into the decision (before it settles) and says
    /// which numbers were not cached.
    pub(crate) fn fold_cached_intel(
        &self,
        decision: &mut Decision,
        checks: &[CounterCheck],
        results: &[CheckOutcome],
    ) -> Cached {
        let mut cached = Cached::default();
        for (i, check) in checks.iter().enumerate().filter(|(_, c)| c.op == CounterOp::IntelRead) {
            let Some(number) = check.number.clone() else { continue };
            match results.get(i) {
                Some(CheckOutcome::Verdict(v)) if v.intel.is_some() => {
                    if let Some(facts) = v.intel {
                        self.fold_facts(decision, &number, &facts);
                    }
                }
                _ => cached.missing.push(number),
            }
        }
        cached
    }

    /// After `conclude` settled: the cache reads leave the pending commits (they write nothing),
    /// and a request that may still be sent gets the lookups of the numbers the cache lacks. A
    /// trusted number is not looked up when every applicable rule would spare it anyway.
    pub(crate) fn plan_lookups(&self, decision: &mut Decision, cached: Cached, token: Option<&TokenCheck>) {
        decision.commits.retain(|c| c.op != CounterOp::IntelRead);
        let may_be_sent =
            decision.action == Action::Allow || (decision.action == Action::Challenge && token.is_some());
        if !may_be_sent || cached.missing.is_empty() {
            return;
        }
        let spare_all = self.intel_rules(decision).all(|(_, rule)| rule.skip_trusted);
        for number in cached.missing {
            let trusted = decision.numbers.iter().any(|n| n.e164 == *number && n.trusted);
            let skip = decision.lookups.iter().any(|l| *l.e164 == *number) || (trusted && spare_all);
            if !skip {
                decision.lookups.push(NumberLookup { e164: number.to_string() });
            }
        }
        if !decision.lookups.is_empty() && decision.action == Action::Allow {
            decision.held_token = token.cloned();
        }
    }

    /// Completes a decision with the answers to its [`Decision::lookups`] (in their order; a
    /// missing answer counts as unavailable). Fresh answers join the pending commits as cache
    /// writes, kept even when the request is refused: the next request for the number must not
    /// pay again. A challenge the answers ask for takes the request's token (the host verifies
    /// it next: [`Decision::token_check`]) unless that token was verified already.
    pub fn resolve_lookups(&self, mut decision: Decision, answers: &[LookupAnswer]) -> Decision {
        let lookups = std::mem::take(&mut decision.lookups);
        if lookups.is_empty() {
            return decision;
        }
        let Some(provider) = self.number_intel.as_ref() else { return decision };
        // The cache writes run under the first applicable rule, as the reads did.
        let writer = self.intel_rules(&decision).next().and_then(|(i, _)| u16::try_from(i).ok());
        // A provider outage refuses only where a rule would act on its answer.
        let enforcing = self.intel_rules(&decision).any(|(_, rule)| self.enforces(rule));
        let mut writes = Vec::new();
        for (i, lookup) in lookups.iter().enumerate() {
            match answers.get(i) {
                Some(LookupAnswer::Found(facts)) => {
                    self.fold_facts(&mut decision, &lookup.e164, facts);
                    if let Some(rule) = writer {
                        let digits = lookup.e164.strip_prefix('+').unwrap_or(&lookup.e164);
                        writes.push(CounterCheck::new(
                            rule,
                            cache_key(digits),
                            CounterOp::IntelStore(*facts),
                            Some(Arc::from(lookup.e164.as_str())),
                        ));
                    }
                }
                other => {
                    let detail = match other {
                        Some(LookupAnswer::Unavailable { detail }) => detail.clone(),
                        _ => "no answer".to_owned(),
                    };
                    let action = match provider.on_unavailable {
                        IntelOutcome::Allow => Action::Allow,
                        IntelOutcome::Challenge => Action::Challenge,
                        IntelOutcome::Block => Action::Block,
                    };
                    decision.reasons.push(Reason {
                        rule: None,
                        code: ReasonCode::NumberIntelUnavailable,
                        action,
                        enforced: enforcing && action != Action::Allow,
                        retry_after_ms: None,
                        number: Some(lookup.e164.clone()),
                        detail: Some(detail.clone()),
                        spared: false,
                    });
                    self.fold_findings(
                        &mut decision,
                        &lookup.e164,
                        ReasonCode::NumberIntelUnavailable,
                        |rule| rule.fires_unanswered(&detail),
                    );
                }
            }
        }
        // Weighted number_intel rules may have fired: the risk score is judged again.
        self.score_risk(&mut decision);
        decision.settle();
        if decision.action == Action::Challenge && decision.token_verified {
            for reason in decision.reasons.iter_mut().filter(|r| r.enforced && r.action == Action::Challenge)
            {
                reason.enforced = false;
                reason.detail = Some(match reason.detail.take() {
                    Some(detail) => format!("{detail}; token verified"),
                    None => "token verified".to_owned(),
                });
            }
            decision.settle();
        }
        let token = decision.held_token.take();
        match decision.action {
            Action::Allow => {}
            Action::Challenge if token.is_some() => decision.token_check = token,
            // Refused: nothing is sent, nothing counted, except where the provider named a risk:
            // against the device that solved this request's challenge (a farm probing numbers
            // would otherwise never pay for the ones the provider catches), and in the adjacency
            // and address rules that ask for it (the provider's refusals would otherwise hide a
            // walk through a block, or a bot's address, from them). Such a request passed every
            // counter's check already.
            _ => {
                let refused = self.provider_refused(&decision);
                decision.commits.retain(|c| self.sees_intel_refusals(c, &refused));
            }
        }
        decision.commits.extend(writes);
        decision
    }
}
