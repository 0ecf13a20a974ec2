//! The risk score, summed from the rules that fired: apart since number-intelligence answers judge it again.

use std::fmt::Write as _;

use crate::config::{Policy, RouteKind};
use crate::decision::{Action, Decision, Reason, ReasonCode};
use crate::rules::Rule;

impl Policy {
    /// Adds up the `risk` weights of the rules that fired (each once, however many numbers or
    /// keys it fired for: a second number must not double a weight), and turns a sum over a
    /// threshold into a finding of its own. Shadow rules and spared findings add nothing.
    /// Judged once, when counters have answered; a token that later satisfies the challenge
    /// satisfies this finding like any other.
    /// Judged again when fresh number-intelligence answers add findings: the earlier score's
    /// finding is replaced.
    pub(crate) fn score_risk(&self, decision: &mut Decision) {
        let Some(thresholds) = self.risk else { return };
        decision.reasons.retain(|r| r.code != ReasonCode::RiskScore);
        if decision.route.as_ref().is_none_or(|r| r.kind != RouteKind::Send) {
            return;
        }
        let mut fired: Vec<&Rule> = Vec::new();
        for reason in decision.reasons.iter().filter(|r| !r.spared) {
            if let Some(rule) = self.rule_of(reason).filter(|r| r.weighs_risk()) {
                if !fired.iter().any(|f| f.id == rule.id) {
                    fired.push(rule);
                }
            }
        }
        let score = fired.iter().fold(0u32, |sum, rule| sum.saturating_add(rule.risk));
        decision.risk = Some(score);
        let action = match (thresholds.block_at, thresholds.challenge_at) {
            (Some(block), _) if score >= block => Action::Block,
            (_, Some(challenge)) if score >= challenge => Action::Challenge,
            _ => return,
        };
        let mut detail = format!("risk {score}:");
        for rule in &fired {
            let _ = write!(detail, " {} {}", rule.id, rule.risk);
        }
        decision.reasons.push(Reason {
            rule: None,
            code: ReasonCode::RiskScore,
            action,
            enforced: !self.shadow,
            retry_after_ms: None,
            number: None,
            detail: Some(detail),
            spared: false,
        });
    }
}
