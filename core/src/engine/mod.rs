//! Request → decision. Steps, so hosts whose counters live elsewhere (a Worker's Durable
//! Objects) can run the counter steps remotely, grouped by key:
//!
//! 1. [`Policy::prepare`]: route, extraction, numbers, stateless rules; lists the counter checks.
//! 2. [`Policy::peek_checks`]: the checks against an [`Overlay`] of the store: what they would
//!    conclude, writing nothing.
//! 3. [`Policy::conclude`]: folds the peeked results into the [`Decision`].
//! 4. (hosts) a challenge's token is verified: [`Policy::resolve_token`].
//! 5. [`Policy::commit`]: only for a request that goes to origin, the checks run for real
//!    ([`Policy::run_check`], compare-and-swap inside); a counter another request exhausted in
//!    between still refuses ([`Policy::settle_commits`]).
//!
//! So counters count SMS that are sent: a request refused by any rule, or whose token fails,
//! writes no counter. Refused floods can neither wash other keys out of a bounded store, nor
//! push a victim's number into backoff, nor run up a store that bills writes. (Under
//! `count_intel_refusals`, a solve the number-intelligence provider refuses counts against its
//! own solving device, a write its sender paid a solved CAPTCHA for; and an `adjacent` rule or a
//! `client_ip` conversion with the option records the numbers the provider refuses, or counts
//! them against the address, each one a lookup made after every other check passed.)
//! [`Policy::decide`] does every step against one store.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::captcha;
use crate::config::{InputOutcome, InvalidNumberOutcome, Policy, RouteKind, RuleAction};
use crate::decision::{
    Action, Decision, NumberFacts, Reason, ReasonCode, RouteInfo, TokenCheck, TokenVerdict,
};
use crate::extract::{ExtractError, RequestParts};
use crate::fingerprint::{self, FingerprintKind};
use crate::limit::{
    pair_tag, pair_text, record_sender, take_sender, ConversionParams, ConversionScope, CounterVerdict,
};
use crate::phone::PhoneNumber;
use crate::phone::PhoneParser;
use crate::request::Request;
use crate::routes::{path_readings, ConfirmResponse};
use crate::rules::{self, check_number, KeyPart, NumberFinding, Rule, RuleKind, TorClients};
use crate::solver::{self, solver_scope, solver_tag};
use crate::store::{update, Overlay, Store, StoreError};
use crate::time::Timestamp;

/// Header values used in counter keys are cut to this length so keys stay small.
const MAX_KEY_VALUE_LEN: usize = 128;

/// What a counter check does to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterOp {
    /// A GCRA step on a `rate_limit` key.
    Rate,
    /// A backoff step on one number's key.
    Backoff,
    /// An adjacency step: one number, by its suffix, in its block's key.
    Adjacent {
        /// The number's last `suffix_digits` digits, as an integer.
        suffix: u16,
    },
    /// A send counted against a conversion scope.
    ConversionSend,
    /// A confirmed code credited to a conversion scope.
    ConversionConfirm,
    /// A send to one number went to origin: a confirmation of it may be credited once.
    ConversionSentNumber,
    /// A confirmation of one number: not triggered when it matched a send, so its scope is
    /// credited (see [`Policy::credit_checks`]).
    ConversionConfirmNumber,
    /// A send to one number by the sender tagged `solver` went to origin (a sender scope: the
    /// device that solved its CAPTCHA, or its client address): a confirmation of it may credit
    /// that sender once.
    ConversionSolvedNumber {
        /// The sender's tag: a hash of the id siteverify gave the solving device, or of the
        /// client address (`client_tag`).
        solver: u64,
    },
    /// A confirmation of one number sent in a sender scope: not triggered when it matched such a
    /// send; the verdict names the sender (device or address) to credit.
    ConversionConfirmSolved,
    /// A send to one number: `triggered` tells that the number is trusted (never a refusal).
    TrustSend,
    /// A mismatched send counted against its (client country, number country) pair:
    /// `triggered` tells that the pair is proven (never a refusal).
    PairSend,
    /// A confirmation of one number origin accepted: earns trust when it matches a send.
    TrustConfirm,
    /// The site imported the number as one its user verified: trusts it (`trust_import`).
    TrustImport,
    /// A send counted against a scope's rolling baseline.
    SurgeSend,
    /// Reads the number's cached number-intelligence answer (`CounterVerdict::intel`); writes
    /// nothing.
    IntelRead,
    /// Caches a fresh number-intelligence answer for the number.
    IntelStore(crate::intel::IntelFacts),
}

/// One read-modify-write of one counter key, by one rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterCheck {
    /// Index of the rule in the policy.
    pub rule: u16,
    /// Store key; hosts may shard on it.
    pub key: String,
    /// What the check does to its key.
    pub op: CounterOp,
    /// The E.164 number the check is about, if it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<Arc<str>>,
}

/// The outcome of one [`CounterCheck`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// The step ran: what it concluded.
    Verdict(CounterVerdict),
    /// The store failed, or the compare-and-swap race was lost after every retry.
    StoreFailed,
    /// The check does not fit the policy it was run with (rule index or operation): planned
    /// with another policy. Judged as a store failure, reported apart.
    Mismatch,
}

/// `value` cut to at most `max` bytes, on a character boundary.
fn truncated(value: &str, max: usize) -> &str {
    let mut end = value.len().min(max);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value.get(..end).unwrap_or("")
}

/// Result of step 1: either final, or waiting for counter checks.
#[derive(Clone, Debug)]
pub struct Prepared {
    decision: Decision,
    checks: Vec<CounterCheck>,
    token: Option<String>,
    remote_ip: Option<String>,
}

impl Prepared {
    /// Counter checks still to run; empty when the decision is already final.
    pub fn checks(&self) -> &[CounterCheck] {
        &self.checks
    }
}

/// Per-request view of the fingerprints the policy uses.
struct Fingerprints {
    ja3: Option<String>,
    ja4: Option<String>,
    ja4h: Option<String>,
    header_md5: Option<String>,
    header_set: Option<String>,
}

impl Fingerprints {
    fn of(policy: &Policy, req: &Request<'_>) -> Fingerprints {
        Fingerprints {
            ja3: req.tls.ja3.and_then(fingerprint::parse_ja3).map(|f| f.as_str().to_owned()),
            ja4: req.tls.ja4.and_then(fingerprint::parse_ja4).map(|f| f.as_str().to_owned()),
            ja4h: policy
                .uses_ja4h
                .then(|| fingerprint::ja4h(req.method, req.version, req.headers).as_str().to_owned()),
            header_md5: policy
                .uses_header_md5
                .then(|| fingerprint::header_md5(req.method, req.version, req.headers).as_str().to_owned()),
            header_set: policy
                .uses_header_set
                .then(|| fingerprint::header_set(req.method, req.version, req.headers).as_str().to_owned()),
        }
    }

    fn get(&self, kind: FingerprintKind) -> Option<&str> {
        match kind {
            FingerprintKind::Ja3 => self.ja3.as_deref(),
            FingerprintKind::Ja4 => self.ja4.as_deref(),
            FingerprintKind::Ja4h => self.ja4h.as_deref(),
            FingerprintKind::HeaderMd5 => self.header_md5.as_deref(),
            FingerprintKind::HeaderSet => self.header_set.as_deref(),
        }
    }
}

pub(crate) fn input_reason(code: ReasonCode, outcome: InputOutcome, detail: Option<String>) -> Reason {
    Reason {
        rule: None,
        code,
        action: match outcome {
            InputOutcome::Block => Action::Block,
            InputOutcome::Allow => Action::Allow,
        },
        enforced: outcome == InputOutcome::Block,
        retry_after_ms: None,
        number: None,
        detail,
        spared: false,
    }
}

/// The `invalid_number` finding for `number`, as `inputs.on_invalid_number` asks.
fn invalid_number_reason(outcome: InvalidNumberOutcome, number: &PhoneNumber) -> Reason {
    let (action, enforced) = match outcome {
        InvalidNumberOutcome::Block => (Action::Block, true),
        InvalidNumberOutcome::Challenge => (Action::Challenge, true),
        InvalidNumberOutcome::Allow => (Action::Allow, false),
    };
    Reason {
        rule: None,
        code: ReasonCode::InvalidNumber,
        action,
        enforced,
        retry_after_ms: None,
        number: Some(number.e164().to_owned()),
        detail: None,
        spared: false,
    }
}

fn number_facts(n: &PhoneNumber) -> NumberFacts {
    NumberFacts {
        e164: n.e164().to_owned(),
        region: n.region().map(|r| r.as_str()),
        calling_code: n.calling_code(),
        number_type: n.number_type(),
        valid: n.is_valid(),
        trusted: false,
    }
}

impl Policy {
    /// Index of the route guarding this request, judged from its head alone, so hosts can let
    /// everything else pass without buffering the body.
    /// A route whose parameters a urlencoded body may still carry counts as matching here;
    /// [`Policy::prepare`] settles it with the body.
    pub fn route_for(&self, req: &Request<'_>) -> Option<usize> {
        let paths = path_readings(req.path_only());
        self.routes.iter().position(|r| r.matches(req, &paths, true))
    }

    /// Whether the guard judges or answers this request, from its head alone: a route guards
    /// it, or it is an import of trusted numbers. Hosts hold (and buffer) only these.
    pub fn guards(&self, req: &Request<'_>) -> bool {
        self.is_trust_import(req) || self.route_for(req).is_some()
    }

    /// Whether the request is an import of trusted numbers, which the guard answers itself.
    pub fn is_trust_import(&self, req: &Request<'_>) -> bool {
        self.trust_import.as_ref().is_some_and(|import| import.matches(req))
    }

    /// Index of the route guarding this request, body included.
    fn route_with_body(&self, req: &Request<'_>) -> Option<usize> {
        let paths = path_readings(req.path_only());
        self.routes.iter().position(|r| r.matches(req, &paths, false))
    }

    /// Judges a request against one store, start to finish. A challenge whose token still has
    /// to be verified comes back uncommitted: the host verifies it, then
    /// [`Policy::resolve_token`] and [`Policy::commit`].
    pub fn decide(&self, req: &Request<'_>, now: Timestamp, store: &dyn Store) -> Decision {
        let prepared = self.prepare(req, now);
        let overlay = Overlay::new(store);
        let peeked: Vec<CheckOutcome> =
            prepared.checks.iter().map(|c| self.run_check(c, now, &overlay)).collect();
        let mut decision = self.conclude(prepared, &peeked);
        if decision.token_check.is_some() || !decision.lookups.is_empty() {
            return decision;
        }
        if decision.action == Action::Allow {
            // The commit would write what the overlay holds, key by key, unless another writer
            // changed a key since: write it, and run for real only the checks of keys that moved.
            let flushed = overlay.flush(now);
            decision.commits.retain(|c| !flushed.contains(&c.key));
        }
        self.commit(decision, now, store)
    }

    /// [`Policy::decide`] with the token verified in line, as in-process runners (scenarios, the
    /// simulator, fuzzing) do: `verify` answers for siteverify, then the request is committed.
    /// A policy that looks numbers up finds no provider here ([`Policy::decide_with`] has one).
    pub fn decide_verified(
        &self,
        req: &Request<'_>,
        now: Timestamp,
        store: &dyn Store,
        verify: impl FnMut(&str) -> TokenVerdict,
    ) -> Decision {
        self.decide_with(req, now, store, verify, |_| crate::intel::LookupAnswer::Unavailable {
            detail: "no number-intelligence provider in this runner".to_owned(),
        })
    }

    /// [`Policy::decide`] with the host's callouts made in line: `verify` answers for siteverify,
    /// `lookup` for the number-intelligence provider, in the order a host makes them (a token
    /// before any lookup; a lookup that asks for a challenge, then the token), then the request
    /// is committed.
    pub fn decide_with(
        &self,
        req: &Request<'_>,
        now: Timestamp,
        store: &dyn Store,
        mut verify: impl FnMut(&str) -> TokenVerdict,
        mut lookup: impl FnMut(&crate::intel::NumberLookup) -> crate::intel::LookupAnswer,
    ) -> Decision {
        let mut decision = self.decide(req, now, store);
        // At most: the token, the lookups, the token again for a challenge the lookups asked for.
        for _ in 0..4 {
            if let Some(check) = decision.token_check.clone() {
                decision = self.resolve_token(decision, &verify(&check.token));
            } else if !decision.lookups.is_empty() {
                let answers: Vec<_> = decision.lookups.iter().map(&mut lookup).collect();
                decision = self.resolve_lookups(decision, &answers);
            } else {
                break;
            }
        }
        self.commit(decision, now, store)
    }

    /// Steps 1–3 against one store: the decision, with the counter writes still pending.
    pub fn judge(&self, req: &Request<'_>, now: Timestamp, store: &dyn Store) -> Decision {
        let prepared = self.prepare(req, now);
        let results = self.peek_checks(&prepared.checks, now, store);
        self.conclude(prepared, &results)
    }

    /// Step 2: what `checks` would conclude, in order, run against an overlay of `store`: later
    /// checks see earlier ones (two numbers of one prefix count twice), `store` is never written.
    pub fn peek_checks(
        &self,
        checks: &[CounterCheck],
        now: Timestamp,
        store: &dyn Store,
    ) -> Vec<CheckOutcome> {
        if checks.is_empty() {
            return Vec::new();
        }
        let overlay = Overlay::new(store);
        checks.iter().map(|c| self.run_check(c, now, &overlay)).collect()
    }

    /// Step 5: runs the decision's pending counter writes against `store` and folds what they
    /// found in ([`Policy::settle_commits`]). For a request that goes to origin these are all
    /// its checks; for a refused one only the blocks its refusal starts (usually none).
    pub fn commit(&self, decision: Decision, now: Timestamp, store: &dyn Store) -> Decision {
        if decision.commits.is_empty() {
            return decision;
        }
        let results: Vec<CheckOutcome> =
            decision.commits.iter().map(|c| self.run_check(c, now, store)).collect();
        self.settle_commits(decision, &results)
    }

    /// Folds the results of the decision's pending commits (in the order of
    /// [`Decision::pending_commits`]) into it. A counter that refuses now was exhausted by a
    /// concurrent request since the peek: the request is refused after all.
    pub fn settle_commits(&self, mut decision: Decision, results: &[CheckOutcome]) -> Decision {
        let checks = std::mem::take(&mut decision.commits);
        if decision.action == Action::Answer {
            crate::trust_import::settle(&mut decision, checks.len(), results);
            return decision;
        }
        if decision.action != Action::Allow {
            return decision;
        }
        // Findings the peek reported are in already; what is new here is a refusal a concurrent
        // request caused since (a challenge the token satisfied stays satisfied), or a failure.
        let refuses = |rule: &Rule| {
            !self.shadow && !rule.shadow && matches!(rule.action, RuleAction::Block | RuleAction::Throttle)
        };
        self.fold_results(&mut decision, &checks, results, refuses);
        self.spare_trusted(&mut decision, &checks, results);
        decision.settle();
        decision
    }

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

    /// The rule that reported `reason` (`None` for input handling and the risk score).
    pub(crate) fn rule_of(&self, reason: &Reason) -> Option<&Rule> {
        reason.rule.as_ref().and_then(|id| self.rules.iter().find(|rule| rule.id == *id))
    }

    /// Whether `reason` comes from a rule that spares trusted numbers.
    fn spares_trusted(&self, reason: &Reason) -> bool {
        self.rule_of(reason).is_some_and(|rule| rule.skip_trusted)
    }

    /// Whether `reason` is a client-country mismatch of a rule that spares proven pairs.
    fn spares_proven_pairs(&self, reason: &Reason) -> bool {
        reason.code == ReasonCode::ClientCountryMismatch
            && self.rule_of(reason).is_some_and(|rule| {
                matches!(rule.kind, RuleKind::ClientCountry { proven_pairs: Some(_), .. })
            })
    }

    /// Stops enforcing the client-country mismatches whose pair checks found the pair proven
    /// (one finding per number, so a second number in an unproven pair keeps its own).
    fn spare_proven_pairs(&self, decision: &mut Decision, checks: &[CounterCheck], results: &[CheckOutcome]) {
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
    fn spare_trusted(&self, decision: &mut Decision, checks: &[CounterCheck], results: &[CheckOutcome]) {
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

    /// Step 1: everything that needs no counter state.
    pub fn prepare(&self, req: &Request<'_>, _now: Timestamp) -> Prepared {
        if let Some(import) = self.trust_import.as_ref().filter(|i| i.matches(req)) {
            return final_decision(import.prepare(req, self.max_body_bytes()));
        }
        let Some(route_index) = self.route_with_body(req) else {
            return final_decision(Decision::unguarded());
        };
        let Some(route) = self.routes.get(route_index) else {
            return final_decision(Decision::unguarded());
        };
        let mut decision = Decision::unguarded();
        decision.expose_findings = self.expose_findings;
        decision.refusal = route.refusal;
        decision.route = Some(RouteInfo { index: route_index, id: route.id.clone(), kind: route.kind });
        let inputs = &self.inputs;

        if req.body_truncated || req.body.len() > self.max_body_bytes() {
            let detail = format!("body exceeds {} bytes", self.inputs.max_body_bytes);
            decision.reasons.push(input_reason(ReasonCode::BodyTooLarge, inputs.on_oversize, Some(detail)));
            return self.finish(decision);
        }
        let parts = RequestParts {
            content_type: req.header("content-type"),
            content_encoding: req.header("content-encoding"),
            query: req.query(),
            headers: req.headers,
            body: req.body,
        };
        let extracted = match route.extractor.extract(&parts) {
            Ok(extracted) => extracted,
            Err(error) => {
                let outcome = match &error {
                    ExtractError::Malformed { .. } => inputs.on_malformed,
                    ExtractError::UnsupportedEncoding { .. } => inputs.on_unsupported_encoding,
                    ExtractError::UnsupportedContentType { .. } => inputs.on_unsupported_content_type,
                    ExtractError::Ambiguous { .. } => inputs.on_ambiguous,
                };
                decision.reasons.push(input_reason(error.reason(), outcome, Some(error.to_string())));
                return self.finish(decision);
            }
        };

        // Parse every candidate; input problems are findings of their own.
        let mut numbers: Vec<PhoneNumber> = Vec::with_capacity(extracted.numbers.len());
        if extracted.numbers.len() > inputs.max_numbers as usize {
            let detail =
                format!("{} numbers, at most {} allowed", extracted.numbers.len(), inputs.max_numbers);
            decision.reasons.push(input_reason(
                ReasonCode::TooManyNumbers,
                inputs.on_too_many_numbers,
                Some(detail),
            ));
        }
        for candidate in extracted.numbers.iter().take(inputs.max_numbers as usize) {
            let parsed = match candidate.region {
                Some(region) => PhoneParser::new(Some(region)).parse(&candidate.raw),
                None => self.parser.parse(&candidate.raw),
            };
            match parsed {
                Ok(number) => {
                    if !number.is_valid() {
                        decision.reasons.push(invalid_number_reason(inputs.on_invalid_number, &number));
                    }
                    decision.numbers.push(number_facts(&number));
                    numbers.push(number);
                }
                Err(error) => {
                    let detail = format!("{}: {error}", candidate.source);
                    decision.reasons.push(input_reason(
                        ReasonCode::UnparseableNumber,
                        inputs.on_unparseable_number,
                        Some(detail),
                    ));
                }
            }
        }
        let confirm = route.kind == RouteKind::Confirm;
        if confirm {
            // Origin must see every confirm: input findings are reported, never enforced (see
            // `finish`). Its numbers are kept for `record_confirm`; only rate limits that name
            // the route run on it.
            decision.reasons.retain(|r| r.code != ReasonCode::InvalidNumber);
            decision.reasons.iter_mut().for_each(|r| r.enforced = false);
        }
        if extracted.numbers.is_empty() && !confirm {
            decision.reasons.push(input_reason(ReasonCode::NoNumber, inputs.on_no_number, None));
        }
        if has_enforced_block(&decision) {
            return self.finish(decision);
        }

        // Safelisted numbers skip every rule; a request of only safelisted numbers skips them all.
        numbers.retain(|n| self.safelist.longest_match(n.digits()).is_none());
        if numbers.is_empty() && !extracted.numbers.is_empty() && decision.reasons.is_empty() {
            return self.finish(decision);
        }
        // Empty and over-long tokens are never verified: such a request carries no token.
        let token = extracted.token.filter(|t| !t.is_empty() && t.len() <= captcha::MAX_TOKEN_LEN);

        let fingerprints = Fingerprints::of(self, req);
        if let Some(reads) = self.edge_reads.get(route_index) {
            decision.edge_inputs = reads.judge(req, fingerprints.ja3.is_some(), fingerprints.ja4.is_some());
        }
        // Shared by every check about a number, so planning copies no strings.
        let e164s: Vec<Arc<str>> = numbers.iter().map(|n| Arc::from(n.e164())).collect();
        let mut findings = Vec::new();
        let mut checks = Vec::with_capacity(self.rules.len() * numbers.len().max(1));
        let mut solver_checks = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            if !rule.routes.contains(&route_index) {
                continue;
            }
            let enforced = !self.shadow && !rule.shadow && rule.action != RuleAction::Log;
            let reason = |code: ReasonCode, number: Option<&PhoneNumber>, detail: Option<String>| Reason {
                rule: Some(rule.id.clone()),
                code,
                action: Action::from(rule.action),
                enforced: enforced && code != ReasonCode::CountryMonitored,
                retry_after_ms: None,
                number: number.map(|n| n.e164().to_owned()),
                detail,
                spared: false,
            };
            match &rule.kind {
                RuleKind::Fingerprint { kind, deny, missing } => match fingerprints.get(*kind) {
                    None if *missing => {
                        decision.reasons.push(reason(ReasonCode::FingerprintMissing, None, None))
                    }
                    Some(fp) if deny.contains(fp) => decision.reasons.push(reason(
                        ReasonCode::FingerprintDenied,
                        None,
                        Some(fp.to_owned()),
                    )),
                    _ => {}
                },
                RuleKind::Client { missing_headers, user_agents } => {
                    for name in missing_headers {
                        if rules::lacks_header(req.headers, name) {
                            decision.reasons.push(reason(
                                ReasonCode::ClientHeaderMissing,
                                None,
                                Some(name.clone()),
                            ));
                        }
                    }
                    if !user_agents.is_empty() {
                        for class in rules::classify_user_agent(rules::user_agent(req.headers)) {
                            if user_agents.contains(&class) {
                                decision.reasons.push(reason(
                                    ReasonCode::ClientUserAgent,
                                    None,
                                    Some(class.as_str().to_owned()),
                                ));
                            }
                        }
                    }
                }
                RuleKind::ClientCountry { header, missing, tor, tor_header, proven_pairs } => {
                    // The client's code, and whether it is Tor's `T1` (no region, so it differs
                    // from every number's; never a proven pair: anyone can come through Tor).
                    let client = match rules::client_country(req.headers, header, tor_header.as_deref()) {
                        rules::ClientCountry::Known(client) => Some((client, false)),
                        rules::ClientCountry::Tor if *tor == TorClients::Mismatch => Some(("T1", true)),
                        rules::ClientCountry::Tor | rules::ClientCountry::Unknown => {
                            if *missing {
                                decision.reasons.push(reason(ReasonCode::ClientCountryMissing, None, None));
                            }
                            None
                        }
                    };
                    let Some((client, through_tor)) = client else { continue };
                    for (i, number) in numbers.iter().enumerate() {
                        let region = number.region().map(|r| r.as_str());
                        if !rules::client_country_differs(client, region) {
                            continue;
                        }
                        if let (Some(_), RouteKind::Send, Some(e164), false) =
                            (proven_pairs, route.kind, e164s.get(i), through_tor)
                        {
                            plan_pair_checks(index, &rule.id, client, number, e164, &mut checks);
                        }
                        let detail = format!(
                            "client {}{}, number {}",
                            client.to_ascii_uppercase(),
                            if through_tor { " (Tor)" } else { "" },
                            region.unwrap_or("none")
                        );
                        decision.reasons.push(reason(
                            ReasonCode::ClientCountryMismatch,
                            Some(number),
                            Some(detail),
                        ));
                    }
                }
                RuleKind::BotScore(bot_score) => {
                    if let Some((code, detail)) = bot_score.judge(&req.edge) {
                        decision.reasons.push(reason(code, None, detail));
                    }
                }
                RuleKind::Captcha => decision.reasons.push(reason(ReasonCode::CaptchaRequired, None, None)),
                RuleKind::NumberIntel(_) => self.plan_intel_reads(index, &numbers, &e164s, &mut checks),
                RuleKind::Conversion(p) if p.scope == ConversionScope::CaptchaSolver => {
                    solver::plan_conversion(index, &rule.id, &numbers, &e164s, &mut solver_checks)
                }
                RuleKind::RateLimit { key, .. } if key.contains(&KeyPart::CaptchaSolver) => {
                    let key_for = |number: Option<&PhoneNumber>, cuts: &mut Vec<usize>| {
                        rate_key(&rule.id, key, route, req, number, &fingerprints, cuts)
                    };
                    let per_number = key.iter().any(KeyPart::is_per_number);
                    solver::plan_rate(index, &numbers, &e164s, per_number, key_for, &mut solver_checks)
                }
                kind if kind.is_stateful() => {
                    if let RuleKind::Conversion(ConversionParams {
                        scope: ConversionScope::ClientIp { v4, v6 },
                        ..
                    }) = kind
                    {
                        decision.client_address = req.client_ip.map(|ip| client_address(ip, *v4, *v6));
                    }
                    self.plan_checks(index, rule, route, req, &numbers, &e164s, &fingerprints, &mut checks)
                }
                kind => {
                    for number in &numbers {
                        findings.clear();
                        check_number(kind, number, &mut findings);
                        for finding in &findings {
                            let (code, detail) = describe(*finding, number);
                            decision.reasons.push(reason(code, Some(number), detail));
                        }
                    }
                }
            }
        }
        // A finding of a rule that spares trusted numbers is settled only once the reputation
        // check has answered: until then it cannot cut the counter checks short.
        let trust_checked = checks.iter().any(|c| c.op == CounterOp::TrustSend);
        // Likewise a mismatch in a pair that may be proven.
        let pair_checked = |r: &Reason| {
            checks.iter().any(|c| c.op == CounterOp::PairSend && c.number.as_deref() == r.number.as_deref())
                && self.spares_proven_pairs(r)
        };
        let settled =
            |r: &&Reason| r.enforced && !(trust_checked && self.spares_trusted(r)) && !pair_checked(r);
        let blocked = decision.reasons.iter().filter(settled).any(|r| r.action == Action::Block);
        let challenge_without_token =
            token.is_none() && decision.reasons.iter().filter(settled).any(|r| r.action == Action::Challenge);
        if blocked || challenge_without_token {
            // Nothing will be sent: no counter needs even a look.
            checks.clear();
        }
        if token.is_none() {
            // No token, no solver: such a limit has nothing to count.
            solver_checks.clear();
        }
        decision.solver_checks = solver_checks;
        let remote_ip = token.as_ref().and(req.client_ip).map(|ip| ip.to_string());
        Prepared { decision, checks, token, remote_ip }
    }

    fn finish(&self, mut decision: Decision) -> Prepared {
        if decision.route.as_ref().is_some_and(|r| r.kind == RouteKind::Confirm) {
            // Origin must see every confirm (see `prepare`).
            decision.reasons.iter_mut().filter(|r| r.rule.is_none()).for_each(|r| r.enforced = false);
        }
        decision.settle();
        final_decision(decision)
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_checks(
        &self,
        index: usize,
        rule: &Rule,
        route: &crate::routes::Route,
        req: &Request<'_>,
        numbers: &[PhoneNumber],
        e164s: &[Arc<str>],
        fingerprints: &Fingerprints,
        checks: &mut Vec<CounterCheck>,
    ) {
        let Ok(rule_index) = u16::try_from(index) else { return };
        // One check per number, even where numbers share a key (a prefix, a country, the
        // client): a limit counts SMS, so five numbers of one range in one request count five
        // times. The same number twice is one SMS.
        let mut push = |key: String, op: CounterOp, number: Option<usize>| {
            let number = number.and_then(|i| e164s.get(i)).cloned();
            if !checks
                .iter()
                .any(|c| c.rule == rule_index && c.key == key && c.op == op && c.number == number)
            {
                checks.push(CounterCheck { rule: rule_index, key, op, number });
            }
        };
        match &rule.kind {
            RuleKind::RateLimit { key, .. } => {
                let per_number = key.iter().any(KeyPart::is_per_number);
                let mut cuts = Vec::new();
                if numbers.is_empty() {
                    let k = rate_key(&rule.id, key, route, req, None, fingerprints, &mut cuts);
                    push(k, CounterOp::Rate, None);
                }
                for (i, number) in numbers.iter().enumerate() {
                    let n = per_number.then_some(number);
                    let k = rate_key(&rule.id, key, route, req, n, fingerprints, &mut cuts);
                    push(k, CounterOp::Rate, Some(i));
                }
            }
            RuleKind::Backoff(_) => {
                for (i, number) in numbers.iter().enumerate() {
                    push(counter_key("bo:", &rule.id, number.digits()), CounterOp::Backoff, Some(i));
                }
            }
            RuleKind::Adjacent(params) => {
                for (i, number) in numbers.iter().enumerate() {
                    if let Some((block, suffix)) = params.split(number.digits()) {
                        push(counter_key("adj:", &rule.id, block), CounterOp::Adjacent { suffix }, Some(i));
                    }
                }
            }
            RuleKind::Surge(params) => {
                for (i, number) in numbers.iter().enumerate() {
                    let scope = number_scope_key(params.scope, number);
                    push(counter_key("sg:", &rule.id, &scope), CounterOp::SurgeSend, Some(i));
                }
            }
            RuleKind::Reputation(_) => {
                for (i, number) in numbers.iter().enumerate() {
                    push(counter_key("tr:", &rule.id, number.digits()), CounterOp::TrustSend, Some(i));
                }
            }
            RuleKind::Conversion(ConversionParams {
                scope: ConversionScope::ClientIp { v4, v6 }, ..
            }) => {
                // Counted per address, recorded per number: a confirmation of the number credits
                // the address its send came from, as a solving device is credited.
                let Some(sender) = req.client_ip.map(|ip| client_tag(ip, *v4, *v6)) else { return };
                let scope = solver_scope(sender);
                for (i, number) in numbers.iter().enumerate() {
                    push(counter_key("cv:", &rule.id, &scope), CounterOp::ConversionSend, Some(i));
                    push(
                        counter_key("cvd:", &rule.id, number.digits()),
                        CounterOp::ConversionSolvedNumber { solver: sender },
                        Some(i),
                    );
                }
            }
            RuleKind::Conversion(params) => {
                for (i, number) in numbers.iter().enumerate() {
                    let scope = number_scope_key(params.scope, number);
                    push(counter_key("cv:", &rule.id, &scope), CounterOp::ConversionSend, Some(i));
                    push(
                        counter_key("cvn:", &rule.id, number.digits()),
                        CounterOp::ConversionSentNumber,
                        Some(i),
                    );
                }
            }
            _ => {}
        }
    }

    /// Step 2: one counter check against the store.
    pub fn run_check(&self, check: &CounterCheck, now: Timestamp, store: &dyn Store) -> CheckOutcome {
        let Some(rule) = self.rules.get(usize::from(check.rule)) else {
            return CheckOutcome::Mismatch;
        };
        let (key, retries) = (check.key.as_str(), self.store.max_cas_retries);
        let result: Result<CounterVerdict, StoreError> = match (&rule.kind, check.op) {
            (RuleKind::RateLimit { params, .. }, CounterOp::Rate) => {
                update(store, key, now, retries, |b| params.step(b, now))
            }
            (RuleKind::Backoff(params), CounterOp::Backoff) => {
                update(store, key, now, retries, |b| params.step(b, now))
            }
            (RuleKind::Adjacent(params), CounterOp::Adjacent { suffix }) => {
                update(store, key, now, retries, |b| params.step(b, suffix, now))
            }
            (RuleKind::Conversion(params), CounterOp::ConversionSend) => {
                update(store, key, now, retries, |b| params.step_send(b, now))
            }
            (RuleKind::Conversion(params), CounterOp::ConversionConfirm) => {
                update(store, key, now, retries, |b| params.step_confirm(b, now))
            }
            (RuleKind::Conversion(params), CounterOp::ConversionSentNumber) => {
                update(store, key, now, retries, |b| params.step_sent_number(b, now))
            }
            (RuleKind::Conversion(params), CounterOp::ConversionSolvedNumber { solver }) => {
                update(store, key, now, retries, |b| params.step_solved_number(b, now, solver))
            }
            (RuleKind::Conversion(params), CounterOp::ConversionConfirmSolved) => {
                update(store, key, now, retries, |b| params.step_confirm_solved(b, now))
            }
            (RuleKind::Conversion(params), CounterOp::ConversionConfirmNumber) => {
                update(store, key, now, retries, |b| params.step_confirm_number(b, now))
            }
            (RuleKind::Surge(params), CounterOp::SurgeSend) => {
                update(store, key, now, retries, |b| params.step_send(b, now))
            }
            (RuleKind::Reputation(params), CounterOp::TrustSend) => {
                update(store, key, now, retries, |b| params.step_send(b, now))
            }
            (RuleKind::Reputation(params), CounterOp::TrustConfirm) => {
                update(store, key, now, retries, |b| params.step_confirm(b, now))
            }
            (RuleKind::Reputation(params), CounterOp::TrustImport) => {
                update(store, key, now, retries, |b| params.step_import(b, now))
            }
            (RuleKind::ClientCountry { proven_pairs: Some(p), .. }, op) => match op {
                CounterOp::PairSend => update(store, key, now, retries, |b| p.step_send(b, now)),
                CounterOp::ConversionConfirm => update(store, key, now, retries, |b| p.step_confirm(b, now)),
                CounterOp::ConversionSolvedNumber { solver } => {
                    update(store, key, now, retries, |b| record_sender(b, now, p.window_ms, solver))
                }
                CounterOp::ConversionConfirmSolved => {
                    update(store, key, now, retries, |b| take_sender(b, now, p.window_ms))
                }
                _ => return CheckOutcome::Mismatch,
            },
            (RuleKind::NumberIntel(_), CounterOp::IntelRead) => {
                update(store, key, now, retries, crate::intel::read_step)
            }
            (RuleKind::NumberIntel(_), CounterOp::IntelStore(facts)) => match &self.number_intel {
                Some(provider) => update(store, key, now, retries, |_| {
                    crate::intel::store_step(facts, provider.cache_ms, now)
                }),
                None => return CheckOutcome::Mismatch,
            },
            _ => return CheckOutcome::Mismatch,
        };
        match result {
            Ok(verdict) => CheckOutcome::Verdict(verdict),
            Err(_) => CheckOutcome::StoreFailed,
        }
    }

    /// Step 3: folds counter results (in the order of `prepared.checks()`) into the decision.
    pub fn conclude(&self, prepared: Prepared, results: &[CheckOutcome]) -> Decision {
        let Prepared { mut decision, checks, token, remote_ip } = prepared;
        if decision.action == Action::Answer {
            // An import: its writes are already pending, nothing to judge.
            return decision;
        }
        self.fold_results(&mut decision, &checks, results, |_| true);
        self.spare_trusted(&mut decision, &checks, results);
        self.spare_proven_pairs(&mut decision, &checks, results);
        let intel = self.fold_cached_intel(&mut decision, &checks, results);
        self.score_risk(&mut decision);
        decision.settle();
        // Only a request that goes to origin, or may once its token verifies, counts. A
        // challenge without a token is a refusal like a block: counting it would let anyone who
        // never solves a challenge spend a real user's budget (a counter rule that challenges
        // would otherwise charge every unsolved attempt to the number it names).
        let may_be_sent =
            decision.action == Action::Allow || (decision.action == Action::Challenge && token.is_some());
        if !may_be_sent {
            decision.solver_checks.clear();
        }
        decision.commits = if !may_be_sent {
            // Nothing goes to origin, so nothing is counted; but a block this request started
            // must be stored, or the next request would pass.
            checks
                .into_iter()
                .zip(results)
                .filter(|(_, outcome)| matches!(outcome, CheckOutcome::Verdict(v) if v.escalated))
                .map(|(check, _)| check)
                .collect()
        } else {
            checks
        };
        let token = token.map(|token| TokenCheck { token, remote_ip });
        self.plan_lookups(&mut decision, intel, token.as_ref());
        if decision.action == Action::Challenge {
            decision.token_check = token;
        }
        decision
    }

    /// Adds the findings of counter results (in the order of `checks`; missing ones count as
    /// store failures) to the decision, without settling it.
    fn fold_results(
        &self,
        decision: &mut Decision,
        checks: &[CounterCheck],
        results: &[CheckOutcome],
        finds: impl Fn(&Rule) -> bool,
    ) {
        let mut store_failed = false;
        for (check, outcome) in
            checks.iter().zip(results.iter().chain(std::iter::repeat(&CheckOutcome::StoreFailed)))
        {
            match outcome {
                // Bookkeeping for conversion credit is never a finding.
                CheckOutcome::Verdict(v) if v.triggered && !is_bookkeeping(check.op) => {
                    if let Some(rule) = self.rules.get(usize::from(check.rule)).filter(|r| finds(r)) {
                        decision.reasons.push(self.counter_reason(rule, check, v));
                    }
                }
                CheckOutcome::Verdict(_) => {}
                // An unreadable cache costs a lookup, not the request.
                _ if matches!(check.op, CounterOp::IntelRead | CounterOp::IntelStore(_)) => {}
                CheckOutcome::StoreFailed | CheckOutcome::Mismatch => store_failed = true,
            }
        }
        self.report_store_failure(decision, store_failed);
    }

    fn report_store_failure(&self, decision: &mut Decision, failed: bool) {
        let reported = decision.reasons.iter().any(|r| r.code == ReasonCode::StoreUnavailable);
        if failed && !reported {
            decision.reasons.push(input_reason(ReasonCode::StoreUnavailable, self.store.on_error, None));
        }
    }

    /// The finding of a counter that triggered.
    fn counter_reason(&self, rule: &Rule, check: &CounterCheck, v: &CounterVerdict) -> Reason {
        let code = match rule.kind {
            RuleKind::Backoff(_) => ReasonCode::Backoff,
            RuleKind::Adjacent(_) => ReasonCode::AdjacentNumbers,
            RuleKind::Conversion(_) => ReasonCode::LowConversion,
            RuleKind::Surge(_) => ReasonCode::VolumeSurge,
            _ => ReasonCode::RateLimited,
        };
        // A scope that keeps offending is blocked, whatever the rule's first answer is.
        let action = if v.severe { Action::Block } else { Action::from(rule.action) };
        Reason {
            rule: Some(rule.id.clone()),
            code,
            action,
            enforced: !self.shadow && !rule.shadow && rule.action != RuleAction::Log,
            retry_after_ms: v.retry_after_ms,
            number: check.number.as_deref().map(str::to_owned),
            detail: None,
            spared: false,
        }
    }

    /// Completes a challenge with the host's siteverify result.
    /// The decision's counter writes stay pending for [`Policy::commit`]; a refused token
    /// drops them, so an unsolved challenge counts nothing against anyone.
    /// A token verified with a solving device adds the checks of the `captcha_solver` limits to
    /// the pending writes: the commit round counts the solve, and refuses the request when that
    /// device has solved too many.
    pub fn resolve_token(&self, decision: Decision, verdict: &TokenVerdict) -> Decision {
        let mut decision = captcha::resolve(self.captcha.as_ref(), decision, verdict);
        let solver_checks = std::mem::take(&mut decision.solver_checks);
        if let TokenVerdict::Valid { solver } = verdict {
            decision.token_verified = true;
            if let Some(solver) = solver.as_deref().filter(|s| !s.is_empty()) {
                decision.captcha_solver = Some(truncated(solver, MAX_KEY_VALUE_LEN).to_owned());
                if decision.action == Action::Allow {
                    decision.commits.extend(solver_checks.iter().map(|check| check.for_solver(solver)));
                }
            }
        }
        if decision.action != Action::Allow {
            // Answers already paid for stay cached whatever the token.
            decision.commits.retain(|c| matches!(c.op, CounterOp::IntelStore(_)));
            decision.lookups.clear();
        }
        decision
    }

    /// Whether origin's answer to this decision's request feeds conversion tracking (a forwarded
    /// confirm, under a policy with a conversion rule): hosts keep the decision for the response
    /// only then.
    pub fn awaits_confirmation(&self, decision: &Decision) -> bool {
        self.confirm_route(decision).is_some()
    }

    /// Whether the response of this decision's route must be read (up to
    /// [`crate::routes::MAX_CONFIRM_BODY_BYTES`]) to tell a confirmed code.
    pub fn confirm_needs_body(&self, decision: &Decision) -> bool {
        self.confirm_route(decision).is_some_and(|route| route.success.needs_body())
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
    /// Run them, then [`Policy::credit_checks`] with their outcomes. Only a confirm that names
    /// exactly one number is credited: a body with several (hidden nested keys) would let one
    /// confirmation open other prefixes.
    pub fn confirm_checks(&self, decision: &Decision, response: &ConfirmResponse<'_>) -> Vec<CounterCheck> {
        if !self.confirm_route(decision).is_some_and(|route| route.success.holds(response)) {
            return Vec::new();
        }
        let Some(first) = decision.numbers.first() else { return Vec::new() };
        if decision.numbers.iter().any(|n| n.e164 != first.e164) {
            return Vec::new();
        }
        let digits = first.e164.strip_prefix('+').unwrap_or(&first.e164);
        let number: Arc<str> = Arc::from(first.e164.as_str());
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
                Some(CounterCheck {
                    rule: u16::try_from(index).ok()?,
                    key: counter_key(kind, &rule.id, digits),
                    op,
                    number: Some(number.clone()),
                })
            })
            .collect()
    }

    /// The scope credits earned by [`Policy::confirm_checks`]' outcomes (in their order): one
    /// confirmation per matched send, in the scope of the rule that matched it.
    pub fn credit_checks(
        &self,
        decision: &Decision,
        checks: &[CounterCheck],
        outcomes: &[CheckOutcome],
    ) -> Vec<CounterCheck> {
        let Some(facts) = decision.numbers.first() else { return Vec::new() };
        let digits = facts.e164.strip_prefix('+').unwrap_or(&facts.e164);
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
                let (kind, scope) = match (&rule.kind, check.op) {
                    // The pair of the number's mismatched send, as the send recorded it.
                    (RuleKind::ClientCountry { .. }, _) => ("cp:", pair_text(verdict.solver?)?),
                    // The sender of the number's send (device or address), as the send recorded it.
                    (RuleKind::Conversion(_), CounterOp::ConversionConfirmSolved) => {
                        ("cv:", solver_scope(verdict.solver?))
                    }
                    (RuleKind::Conversion(params), _) => {
                        ("cv:", conversion_scope_key(params.scope, digits, facts.region, facts.calling_code))
                    }
                    _ => return None,
                };
                Some(CounterCheck {
                    rule: check.rule,
                    key: counter_key(kind, &rule.id, &scope),
                    op: CounterOp::ConversionConfirm,
                    number: check.number.clone(),
                })
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
        for credit in self.credit_checks(decision, &checks, &outcomes) {
            let _ = self.run_check(&credit, now, store);
        }
    }

    /// Rule id by index (for hosts that label metrics).
    pub fn rule_id(&self, index: u16) -> Option<&Arc<str>> {
        self.rules.get(usize::from(index)).map(|r| &r.id)
    }
}

/// Checks that only keep the books for conversion credit: never a finding of their own.
fn is_bookkeeping(op: CounterOp) -> bool {
    matches!(
        op,
        CounterOp::ConversionSentNumber
            | CounterOp::ConversionConfirmNumber
            | CounterOp::ConversionSolvedNumber { .. }
            | CounterOp::ConversionConfirmSolved
            | CounterOp::TrustSend
            | CounterOp::TrustConfirm
            | CounterOp::TrustImport
            | CounterOp::PairSend
            | CounterOp::IntelRead
            | CounterOp::IntelStore(_)
    )
}

/// The checks of a mismatched send in a rule with `proven_pairs`: the send counted against its
/// pair (which answers whether the pair is proven), and the pair recorded for the number, so a
/// confirmation of it credits that pair. A number no single region claims has no pair.
fn plan_pair_checks(
    rule_index: usize,
    rule_id: &str,
    client: &str,
    number: &PhoneNumber,
    e164: &Arc<str>,
    checks: &mut Vec<CounterCheck>,
) {
    let Ok(rule) = u16::try_from(rule_index) else { return };
    let Some(tag) = number.region().and_then(|region| pair_tag(client, region.as_str())) else { return };
    let Some(pair) = pair_text(tag) else { return };
    let number_key = Some(e164.clone());
    for (key, op) in [
        (counter_key("cp:", rule_id, &pair), CounterOp::PairSend),
        (counter_key("cpn:", rule_id, number.digits()), CounterOp::ConversionSolvedNumber { solver: tag }),
    ] {
        // One send per number, even two of one pair in one request: a pair counts SMS.
        if !checks.iter().any(|c| c.rule == rule && c.key == key && c.op == op && c.number == number_key) {
            checks.push(CounterCheck { rule, key, op, number: number_key.clone() });
        }
    }
}

fn final_decision(decision: Decision) -> Prepared {
    Prepared { decision, checks: Vec::new(), token: None, remote_ip: None }
}

fn has_enforced_block(decision: &Decision) -> bool {
    decision.reasons.iter().any(|r| r.enforced && r.action == Action::Block)
}

fn describe(finding: NumberFinding, number: &PhoneNumber) -> (ReasonCode, Option<String>) {
    let region = number.region().map(|r| r.as_str()).unwrap_or("unknown");
    match finding {
        NumberFinding::CountryNotAllowed => (ReasonCode::CountryNotAllowed, Some(format!("region {region}"))),
        NumberFinding::CountryDenied => (ReasonCode::CountryDenied, Some(format!("region {region}"))),
        NumberFinding::CountryMonitored => (ReasonCode::CountryMonitored, Some(format!("region {region}"))),
        NumberFinding::NumberTypeNotAllowed => {
            (ReasonCode::NumberTypeNotAllowed, Some(number.number_type().as_str().to_owned()))
        }
        NumberFinding::NumberTypeDenied => {
            (ReasonCode::NumberTypeDenied, Some(number.number_type().as_str().to_owned()))
        }
        NumberFinding::PatternNotAllowed => (ReasonCode::PatternNotAllowed, None),
        NumberFinding::PatternDenied => (ReasonCode::PatternDenied, None),
        NumberFinding::PrefixBlocked => (ReasonCode::PrefixBlocked, None),
    }
}

/// The scope (`country` or a prefix) `number` is counted in.
fn number_scope_key(scope: ConversionScope, number: &PhoneNumber) -> String {
    conversion_scope_key(scope, number.digits(), number.region().map(|r| r.as_str()), number.calling_code())
}

fn conversion_scope_key(
    scope: ConversionScope,
    digits: &str,
    region: Option<&str>,
    calling_code: u16,
) -> String {
    match scope {
        ConversionScope::Country => match region {
            Some(region) => region.to_owned(),
            None => format!("+{calling_code}"),
        },
        ConversionScope::Prefix(n) => digits.get(..usize::from(n)).unwrap_or(digits).to_owned(),
        // Senders, not numbers: their checks are keyed by the sender's tag (`client_tag`, or a
        // device's once siteverify names it).
        ConversionScope::CaptchaSolver | ConversionScope::ClientIp { .. } => "-".to_owned(),
    }
}

/// The tag a client-address conversion scope counts an address under (its network, as
/// [`client_address`] writes it), hashed as a solving device's id is, so both kinds of sender
/// share one key form and one confirmation path.
fn client_tag(ip: IpAddr, v4_bits: u8, v6_bits: u8) -> u64 {
    solver_tag(&client_address(ip, v4_bits, v6_bits))
}

/// The network a client-address conversion scope counts, as a rate-limit key writes it: an IPv4
/// address whole (`198.51.100.7`) or cut (`198.51.100.0/24`), an IPv6 one by its network
/// (`2001:db8::/64`). `client_ip`'s text (32 and 64 bits) is what it was before networks
/// existed, so the counters stored under it keep their keys.
fn client_address(ip: IpAddr, v4_bits: u8, v6_bits: u8) -> String {
    match ip {
        IpAddr::V4(v4) if v4_bits >= 32 => v4.to_string(),
        IpAddr::V4(v4) => format!("{}/{v4_bits}", network_v4(v4, v4_bits)),
        IpAddr::V6(v6) => format!("{}/{v6_bits}", network_v6(v6, v6_bits)),
    }
}

/// `<kind><rule id>:<subject>`, sized once: `format!` costs more than the rest of planning.
pub(crate) fn counter_key(kind: &str, rule_id: &str, subject: &str) -> String {
    let mut key = String::with_capacity(kind.len() + rule_id.len() + 1 + subject.len());
    key.push_str(kind);
    key.push_str(rule_id);
    key.push(':');
    key.push_str(subject);
    key
}

/// Dotted-quad text of `ip`, as `Display` writes it but without the formatting machinery, which
/// costs more than the rest of the key on the hot path.
fn push_ipv4(key: &mut String, ip: std::net::Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            key.push('.');
        }
        if octet >= 100 {
            key.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            key.push(char::from(b'0' + octet / 10 % 10));
        }
        key.push(char::from(b'0' + octet % 10));
    }
}

/// `ip` with every bit after the first `bits` cleared.
fn network_v4(ip: std::net::Ipv4Addr, bits: u8) -> std::net::Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - u32::from(bits.min(32))).unwrap_or(0);
    std::net::Ipv4Addr::from(u32::from(ip) & mask)
}

/// `ip` with every bit after the first `bits` cleared.
fn network_v6(ip: std::net::Ipv6Addr, bits: u8) -> std::net::Ipv6Addr {
    let mask = u128::MAX.checked_shl(128 - u32::from(bits.min(128))).unwrap_or(0);
    std::net::Ipv6Addr::from(u128::from(ip) & mask)
}

fn rate_key(
    rule_id: &str,
    parts: &[KeyPart],
    route: &crate::routes::Route,
    req: &Request<'_>,
    number: Option<&PhoneNumber>,
    fingerprints: &Fingerprints,
    solver_cuts: &mut Vec<usize>,
) -> String {
    let mut key = String::with_capacity(48);
    key.push_str("rl:");
    key.push_str(rule_id);
    for part in parts {
        key.push('|');
        match part {
            KeyPart::ClientIp { v4, v6 } => match req.client_ip {
                Some(IpAddr::V4(ip)) => {
                    push_ipv4(&mut key, network_v4(ip, *v4));
                    if *v4 < 32 {
                        let _ = write!(key, "/{v4}");
                    }
                }
                // One subscriber gets a whole /64 (or more): a full address would give them
                // 2^64 budgets.
                Some(IpAddr::V6(ip)) => {
                    let _ = write!(key, "{}/{v6}", network_v6(ip, *v6));
                }
                None => key.push('-'),
            },
            KeyPart::Number => key.push_str(number.map(|n| n.digits()).unwrap_or("-")),
            KeyPart::Prefix(len) => {
                let digits = number.map(|n| n.digits()).unwrap_or("-");
                key.push_str(digits.get(..*len).unwrap_or(digits));
            }
            KeyPart::Country => match number {
                Some(n) => match n.region() {
                    Some(r) => key.push_str(r.as_str()),
                    None => {
                        let _ = write!(key, "+{}", n.calling_code());
                    }
                },
                None => key.push('-'),
            },
            KeyPart::CallingCode => {
                let _ = write!(key, "{}", number.map(|n| n.calling_code()).unwrap_or(0));
            }
            KeyPart::Route => key.push_str(&route.id),
            KeyPart::Header(name) => {
                key.push_str(truncated(req.header(name).unwrap_or(""), MAX_KEY_VALUE_LEN))
            }
            KeyPart::Fingerprint(kind) => key.push_str(fingerprints.get(*kind).unwrap_or("-")),
            // Named by siteverify, later: its place is kept for `SolverCheck::for_solver`.
            KeyPart::CaptchaSolver => solver_cuts.push(key.len()),
        }
    }
    key
}

#[cfg(test)]
mod ip_text_tests {
    use super::push_ipv4;
    use std::net::Ipv4Addr;

    #[test]
    fn an_address_scope_tags_ipv4_whole_and_ipv6_by_its_64() {
        use super::client_tag;
        let tag = |ip: &str| client_tag(ip.parse().unwrap(), 32, 64);
        assert_ne!(tag("198.51.100.7"), tag("198.51.100.8"));
        assert_eq!(tag("2001:db8:1:2::10"), tag("2001:db8:1:2:ffff::1"));
        assert_ne!(tag("2001:db8:1:2::10"), tag("2001:db8:1:3::10"));
    }

    #[test]
    fn a_network_scope_tags_the_network_and_client_ip_keeps_its_old_text() {
        use super::{client_address, client_tag};
        let net = |ip: &str| client_tag(ip.parse().unwrap(), 24, 48);
        assert_eq!(net("198.51.100.7"), net("198.51.100.200"));
        assert_ne!(net("198.51.100.7"), net("198.51.101.7"));
        assert_eq!(net("2001:db8:1:2::10"), net("2001:db8:1:ffff::1"));
        assert_ne!(net("2001:db8:1:2::10"), net("2001:db8:2:2::10"));
        let text = |ip: &str, v4, v6| client_address(ip.parse().unwrap(), v4, v6);
        assert_eq!(text("198.51.100.7", 24, 48), "198.51.100.0/24");
        assert_eq!(text("2001:db8:1:2::10", 24, 48), "2001:db8:1::/48");
        // Counters written under `client_ip` before networks existed keep their keys.
        assert_eq!(text("198.51.100.7", 32, 64), "198.51.100.7");
        assert_eq!(text("2001:db8:1:2::10", 32, 64), "2001:db8:1:2::/64");
    }

    #[test]
    fn networks_keep_their_prefix_bits() {
        use super::{network_v4, network_v6};
        let v6: std::net::Ipv6Addr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(network_v6(v6, 64).to_string(), "2001:db8:1:2::");
        assert_eq!(network_v6(v6, 128), v6);
        assert_eq!(network_v4(Ipv4Addr::new(198, 51, 100, 7), 24), Ipv4Addr::new(198, 51, 100, 0));
        assert_eq!(network_v4(Ipv4Addr::new(198, 51, 100, 7), 32), Ipv4Addr::new(198, 51, 100, 7));
    }

    #[test]
    fn ipv4_text_matches_display() {
        for ip in [[0, 0, 0, 0], [255, 255, 255, 255], [10, 0, 99, 100], [198, 51, 100, 7], [1, 20, 200, 9]] {
            let ip = Ipv4Addr::from(ip);
            let mut key = String::new();
            push_ipv4(&mut key, ip);
            assert_eq!(key, ip.to_string());
        }
    }
}
