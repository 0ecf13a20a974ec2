//! Findings a counter's answer spares (trusted numbers, proven pairs): apart so the sparing reads as one.

use crate::config::Policy;
use crate::decision::{Decision, Reason, ReasonCode};
use crate::rules::{Rule, RuleKind};

use super::{CheckOutcome, CounterCheck, CounterOp};

impl Policy {
    /// The rule that reported `reason` (`None` for input handling and the risk score).
    pub(crate) fn rule_of(&self, reason: &Reason) -> Option<&Rule> {
        reason.rule.as_ref().and_then(|id| self.rules.iter().find(|rule| rule.id == *id))
    }

    /// Whether `reason` comes from a rule that spares trusted numbers.
    pub(super) fn spares_trusted(&self, reason: &Reason) -> bool {
        self.rule_of(reason).is_some_and(|rule| rule.skip_trusted)
    }

    /// Whether `reason` is a client-country mismatch of a rule that spares proven pairs.
    pub(super) fn spares_proven_pairs(&self, reason: &Reason) -> bool {
        reason.code == ReasonCode::ClientCountryMismatch
            && self.rule_of(reason).is_some_and(|rule| {
                matches!(rule.kind, RuleKind::ClientCountry { proven_pairs: Some(_), .. })
            })
    }

    /// Stops enforcing the client-country mismatches whose pair checks found the pair proven
    /// (one finding per number, so a second number in an unproven pair keeps its own).
    pub(super) fn spare_proven_pairs(
        &self,
        decision: &mut Decision,
        checks: &[CounterCheck],
        results: &[CheckOutcome],
    ) {
        for (check, outcome) in checks.iter().zip(results) {
            let proven =
                check.op == CounterOp::PairSend && matches!(outcome, CheckOutcome::Verdict(v) if v.triggered);
            if !proven {
                continue;
            }
            let rule_id = self.rules.get(usize::from(check.rule)).map(|r| &r.id);
            for reason in decision.reasons.iter_mut() {
                let same = !reason.spared
                    && reason.code == ReasonCode::ClientCountryMismatch
                    && reason.rule.as_ref() == rule_id
                    && reason.number.as_deref() == check.number.as_deref();
                if same {
                    reason.enforced = false;
                    reason.spared = true;
                    reason.detail = Some(match reason.detail.take() {
                        Some(detail) => format!("{detail}; spared: proven pair"),
                        None => "spared: proven pair".to_owned(),
                    });
                }
            }
        }
    }

    /// Marks the numbers the reputation checks found trusted, and stops enforcing the findings
    /// of `skip_trusted` rules about them: a finding about one number when that number is
    /// trusted, a finding about the whole request (the client, its address) only when every
    /// number of the request is.
    pub(super) fn spare_trusted(
        &self,
        decision: &mut Decision,
        checks: &[CounterCheck],
        results: &[CheckOutcome],
    ) {
        let trusted: Vec<&str> = checks
            .iter()
            .zip(results)
            .filter(|(check, outcome)| {
                check.op == CounterOp::TrustSend && matches!(outcome, CheckOutcome::Verdict(v) if v.triggered)
            })
            .filter_map(|(check, _)| check.number.as_deref())
            .collect();
        if trusted.is_empty() {
            return;
        }
        for facts in &mut decision.numbers {
            facts.trusted = trusted.contains(&facts.e164.as_str());
        }
        let every_number = decision.numbers.iter().all(|n| n.trusted);
        for i in 0..decision.reasons.len() {
            let Some(reason) = decision.reasons.get(i) else { break };
            // Log-only findings are marked too: a spared finding adds no risk.
            if reason.spared || !self.spares_trusted(reason) {
                continue;
            }
            let spared = match &reason.number {
                Some(number) => trusted.contains(&number.as_str()),
                None => every_number,
            };
            if let (true, Some(reason)) = (spared, decision.reasons.get_mut(i)) {
                reason.enforced = false;
                reason.spared = true;
                reason.detail = Some(match reason.detail.take() {
                    Some(detail) => format!("{detail}; spared: trusted number"),
                    None => "spared: trusted number".to_owned(),
                });
            }
        }
    }
}
