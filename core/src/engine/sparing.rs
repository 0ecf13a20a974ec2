//! Findings a counter's answer spares (trusted numbers, proven pairs): apart so the sparing reads as one.

use crate::config::Policy;
use crate::decision::{Action, Decision, Reason, ReasonCode};
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
        let found: Vec<&str> = checks
            .iter()
            .zip(results)
            .filter(|(check, outcome)| {
                check.op == CounterOp::TrustSend && matches!(outcome, CheckOutcome::Verdict(v) if v.triggered)
            })
            .filter_map(|(check, _)| check.number.as_deref())
            .collect();
        self.report_past_trusted_sends(decision, checks, results);
        // Numbers an earlier step found trusted stay so: a commit round may run only some of the
        // checks (those whose keys moved since the peek), and its refusals are spared alike.
        for facts in &mut decision.numbers {
            facts.trusted |= found.contains(&facts.e164.as_str());
        }
        let trusted: Vec<&str> =
            decision.numbers.iter().filter(|n| n.trusted).map(|n| n.e164.as_str()).collect();
        if trusted.is_empty() {
            return;
        }
        let every_number = decision.numbers.iter().all(|n| n.trusted);
        for reason in decision.reasons.iter_mut() {
            // Log-only findings are marked too: a spared finding adds no risk.
            if reason.spared || !self.spares_trusted(reason) {
                continue;
            }
            let spared = match &reason.number {
                Some(number) => trusted.contains(&number.as_str()),
                None => every_number,
            };
            if spared {
                reason.enforced = false;
                reason.spared = true;
                reason.detail = Some(match reason.detail.take() {
                    Some(detail) => format!("{detail}; spared: trusted number"),
                    None => "spared: trusted number".to_owned(),
                });
            }
        }
    }

    /// Reports the trusted numbers past their `trusted_sends` (once per number, whichever round
    /// saw it first): a log finding of the reputation rule, so operators see who sends to one
    /// number more often than its owner would.
    fn report_past_trusted_sends(
        &self,
        decision: &mut Decision,
        checks: &[CounterCheck],
        results: &[CheckOutcome],
    ) {
        for (check, outcome) in checks.iter().zip(results) {
            let past = matches!(check.op, CounterOp::TrustSend)
                && matches!(outcome, CheckOutcome::Verdict(v) if v.past_trusted_sends);
            if !past {
                continue;
            }
            let Some(rule) = self.rules.get(usize::from(check.rule)) else { continue };
            let number = check.number.as_deref().map(str::to_owned);
            let known = decision
                .reasons
                .iter()
                .any(|r| r.code == ReasonCode::TrustedSendsExceeded && r.number == number);
            if !known {
                decision.reasons.push(Reason {
                    rule: Some(rule.id.clone()),
                    code: ReasonCode::TrustedSendsExceeded,
                    action: Action::Allow,
                    enforced: false,
                    retry_after_ms: None,
                    number,
                    detail: None,
                    spared: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

    use crate::decision::Action;
    use crate::engine::{CheckOutcome, CounterOp};
    use crate::limit::CounterVerdict;
    use crate::routes::ConfirmResponse;
    use crate::{HttpVersion, MemoryStore, Policy, Request, Timestamp};

    fn post<'a>(path: &'a str, body: &'a str) -> Request<'a> {
        Request {
            method: "POST",
            authority: "app.example.com",
            path,
            version: HttpVersion::Http11,
            headers: &[("content-type", "application/json")],
            body: body.as_bytes(),
            body_truncated: false,
            client_ip: Some(std::net::IpAddr::from([198, 51, 100, 7])),
            tls: Default::default(),
            edge: Default::default(),
        }
    }

    /// A commit round that ran only some checks (the others' keys did not move since the peek)
    /// and found a refusal the peek did not (another request turned the challenge into a block
    /// in between) still spares a number the peek found trusted.
    #[test]
    fn a_commit_round_without_the_trust_check_still_spares_a_trusted_number() {
        // Scenario 180's policy, its prefix rule sparing numbers the reputation rule trusts.
        let policy =
            Policy::from_json(include_str!("../../tests/support/trusting-prefix-conversion.json")).unwrap();
        let store = MemoryStore::new();
        let returning = r#"{"phone": "+14155552099"}"#;
        policy.decide(&post("/api/otp", returning), Timestamp::from_millis(0), &store);
        let confirmed =
            policy.decide(&post("/api/otp/verify", returning), Timestamp::from_millis(500), &store);
        let entered = ConfirmResponse { status: 200, headers: &[], body: None };
        policy.record_confirm(&confirmed, &entered, Timestamp::from_millis(500), &store);
        for i in 1..=4u64 {
            let body = format!("{{\"phone\": \"+141555520{i:02}\"}}");
            policy.decide(&post("/api/otp", &body), Timestamp::from_millis(1_000 * i), &store);
        }
        // The prefix is challenged; the returning user's send is spared and goes to origin.
        let now = Timestamp::from_millis(5_000);
        let prepared = policy.prepare(&post("/api/otp", returning), now);
        let peeked = policy.peek_checks(prepared.checks(), now, &store);
        let mut decision = policy.conclude(prepared, &peeked);
        assert_eq!(decision.action, Action::Allow);
        assert!(decision.numbers[0].trusted);
        // Its commit round runs the prefix's check alone, and the store now says block.
        decision.commits.retain(|c| c.op == CounterOp::ConversionSend);
        let block = CounterVerdict {
            triggered: true,
            retry_after_ms: Some(600_000),
            escalated: true,
            severe: true,
            ..CounterVerdict::PASS
        };
        let settled = policy.settle_commits(decision, &[CheckOutcome::Verdict(block)]);
        assert_eq!(settled.action, Action::Allow, "{settled:?}");
        assert!(settled.reasons.iter().all(|r| r.spared), "{:?}", settled.reasons);
    }
}
