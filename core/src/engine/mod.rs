//! Request → decision. Steps, so hosts whose counters live elsewhere (a Worker's Durable
//! Objects) can run the counter steps remotely, grouped by key:
//!
//! 1. [`Policy::prepare`]: route, extraction, numbers, stateless rules; lists the counter checks.
//!    A send naming only an account under a `bound_number` rule asks first for the number the
//!    account is bound to ([`Prepared::reads_bound_number`]): hosts peek that one check and run
//!    step 1 again with its outcome ([`Policy::prepare_bound`]).
//! 2. [`Policy::peek_checks`]: the checks against an [`Overlay`] of the store: what they would
//!    conclude, writing nothing.
//! 3. [`Policy::conclude`]: folds the peeked results into the [`Decision`].
//! 4. (hosts) a challenge's token is verified: [`Policy::resolve_token`].
//! 5. [`Policy::commit`]: only for a request that goes to origin, the checks run for real
//!    ([`Policy::run_check`], compare-and-swap inside); a counter another request exhausted in
//!    between still refuses ([`Policy::settle_commits`]). A solving device's limits run in a
//!    round of their own first ([`CounterCheck::gate`]): hosts run rounds until
//!    [`Decision::pending_commits`] is empty.
//!
//! So counters count SMS that are sent: a request refused by any rule, or whose token fails,
//! writes no counter. Refused floods can neither wash other keys out of a bounded store, nor
//! push a victim's number into backoff, nor run up a store that bills writes. (Under
//! `count_intel_refusals`, a solve the number-intelligence provider refuses counts against its
//! own solving device, a write its sender paid a solved CAPTCHA for; and an `adjacent` rule or a
//! `client_ip` conversion with the option records the numbers the provider refuses, or counts
//! them against the address, each one a lookup made after every other check passed.)
//! [`Policy::decide`] does every step against one store.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::captcha;
use crate::config::{CaptchaVerify, InputOutcome, Policy, RuleAction};
use crate::decision::{Action, Decision, Reason, ReasonCode, TokenCheck, TokenVerdict};
use crate::fingerprint::{self, FingerprintKind};
use crate::limit::{
    prove_sign_in_number, read_bound, read_sign_in_number, record_binding, record_bound, record_sender,
    record_sign_in_number, take_sender, CounterVerdict,
};
use crate::request::Request;
use crate::routes::path_readings;
use crate::rules::{Rule, RuleKind};
use crate::store::{update, Change, Overlay, Store, StoreError};
use crate::time::Timestamp;

mod accounts;
mod confirm;
mod keys;
mod prepare;
mod risk;
mod sign_ins;
mod sparing;

pub(crate) use keys::{counter_key, imported_account_key};

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
    /// A confirmed code credited to its pair; `trusted_before`: of a number the reputation rule
    /// trusted before this confirmation.
    PairConfirm {
        /// The number was trusted before (a returning user's).
        trusted_before: bool,
    },
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
    /// A send that binds an account to its number (a sign-up naming both) went to origin,
    /// recorded under the account's tag: `value` is what a confirmation naming only the account
    /// credits (the number's digits, or the tag of its sender).
    AccountSent {
        /// The number's E.164 digits as an integer, or the sender's tag.
        value: u64,
    },
    /// A confirmation naming an account, not a number: not triggered when it matched an
    /// [`CounterOp::AccountSent`]; the verdict's `solver` is the value recorded.
    AccountConfirm,
    /// A sign-up binding an account to its number went to origin: the number a later send
    /// naming only the account goes to (a `bound_number` rule).
    BindNumber {
        /// The number's E.164 digits as an integer.
        digits: u64,
        /// The call carried a CAPTCHA token origin verifies: it answers the challenges of the
        /// sends naming the binding for a while ([`crate::limit::CARRIED_ANSWER_MS`]).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        answered: bool,
    },
    /// Origin took a call naming an account and one number (a sign-up, however its code went;
    /// a phone change): where the account's SMS MFA codes go from now on (a `bound_sign_ins`
    /// rule), recorded under the account's tag.
    BindSignInNumber {
        /// The number's E.164 digits as an integer.
        digits: u64,
        /// A sign-up whose code went to the number by SMS (its confirmation proves the number).
        sign_up_by_sms: bool,
        /// The account proved the number already (an import of a number the site verified).
        proven: bool,
    },
    /// The account entered a code sent to its sign-in number: proven, so its password sign-ins
    /// are no longer judged by the number's count.
    ProveSignInNumber {
        /// The code was the sign-up's: it proves only a number the sign-up's code went to by SMS.
        sign_up_code: bool,
    },
    /// Reads an account's sign-in number (the verdict's `solver`, `None` when it has none);
    /// writes nothing. Run in the round [`Prepared::reads_bound_number`] asks hosts for.
    SignInNumberRead,
    /// Whether a sign-in number had its fill of SMS sign-in codes; writes nothing.
    SignInPeek,
    /// Origin answered a password sign-in with an SMS code to the account's number: counted
    /// against that number.
    SignInCharge,
    /// Reads the number an account is bound to (the verdict's `solver`, `None` when it has
    /// none); writes nothing. The round [`Prepared::reads_bound_number`] asks hosts for.
    BoundNumberRead,
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
    /// Store only a refusal this check starts, nothing else: the commit of a refused request,
    /// whose peek saw the check start a block. Against the store the step may not start one
    /// (the peek counted the request's other numbers first), and then it writes nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub escalation_only: bool,
    /// Run in a round of its own before the request's other writes, which are not made when it
    /// refuses: a solving device's limits, so a device already blocked spends no number's
    /// budget (backoff, per-number limits) with requests that never go to origin.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gate: bool,
}

impl CounterCheck {
    /// A check of rule `rule` on `key`, committed with the request's other writes.
    pub fn new(rule: u16, key: String, op: CounterOp, number: Option<Arc<str>>) -> Self {
        CounterCheck { rule, key, op, number, escalation_only: false, gate: false }
    }
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
    /// `checks` only read the number the request's account is bound to.
    reads_bound: bool,
    /// The call that made what the request's path names carried a token origin verified,
    /// which answers this request's challenge ([`crate::limit::CARRIED_ANSWER_MS`]).
    answered_earlier: bool,
}

impl Prepared {
    /// Counter checks still to run; empty when the decision is already final.
    pub fn checks(&self) -> &[CounterCheck] {
        &self.checks
    }

    /// Whether [`Prepared::checks`] only read the number a send naming only an account is bound
    /// to (a `bound_number` rule): run them as a peek and hand their outcomes to
    /// [`Policy::prepare_bound`], whose result is the request's step 1. Hosts that skip this
    /// conclude a store failure.
    pub fn reads_bound_number(&self) -> bool {
        self.reads_bound
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
        let prepared = self.prepare_against(req, now, store);
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
        let prepared = self.prepare_against(req, now, store);
        let results = self.peek_checks(&prepared.checks, now, store);
        self.conclude(prepared, &results)
    }

    /// Step 1 against one store: the account's number read first where
    /// [`Prepared::reads_bound_number`].
    pub fn prepare_against(&self, req: &Request<'_>, now: Timestamp, store: &dyn Store) -> Prepared {
        let prepared = self.prepare(req, now);
        if !prepared.reads_bound_number() {
            return prepared;
        }
        let outcomes = self.peek_checks(prepared.checks(), now, store);
        self.prepare_bound(req, now, prepared, &outcomes)
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
    pub fn commit(&self, mut decision: Decision, now: Timestamp, store: &dyn Store) -> Decision {
        // A round for the gates (a solving device's limits), then one for the rest.
        while !decision.commits.is_empty() {
            let results: Vec<CheckOutcome> =
                decision.pending_commits().iter().map(|c| self.run_check(c, now, store)).collect();
            decision = self.settle_commits(decision, &results);
        }
        decision
    }

    /// Folds the results of the decision's pending commits (in the order of
    /// [`Decision::pending_commits`]) into it. A counter that refuses now was exhausted by a
    /// concurrent request since the peek: the request is refused after all. Where gates ran
    /// (a round of their own), the rest is pending next, or dropped when a gate refused: hosts
    /// run rounds until [`Decision::pending_commits`] is empty.
    pub fn settle_commits(&self, mut decision: Decision, results: &[CheckOutcome]) -> Decision {
        let gates = decision.gate_commits();
        let checks = if gates > 0 && gates < decision.commits.len() {
            decision.commits.drain(..gates).collect()
        } else {
            std::mem::take(&mut decision.commits)
        };
        if decision.action == Action::Answer {
            crate::trust_import::settle(&mut decision, &checks, results);
            return decision;
        }
        if decision.action != Action::Allow {
            return decision;
        }
        // Findings the peek reported are in already; what is new here is a refusal a concurrent
        // request caused since (a challenge the token satisfied stays satisfied, unless the
        // store now asks for a block: a conversion challenge judging the sends that solve it,
        // another solved send committed in between), or a failure.
        let refuses = |rule: &Rule, v: &CounterVerdict| {
            !self.shadow
                && !rule.shadow
                && (matches!(rule.action, RuleAction::Block | RuleAction::Throttle)
                    || (v.severe && rule.action == RuleAction::Challenge))
        };
        let reported = decision.reasons.len();
        self.fold_results(&mut decision, &checks, results, refuses);
        // A check whose refusal the peek reported already (a block in force, spared for a
        // trusted number) runs again when its key did not move; it reports nothing new.
        let added = decision.reasons.split_off(reported.min(decision.reasons.len()));
        for reason in added {
            let known = decision.reasons.iter().any(|r| {
                r.rule == reason.rule
                    && r.code == reason.code
                    && r.number == reason.number
                    && r.action == reason.action
            });
            if !known {
                decision.reasons.push(reason);
            }
        }
        self.spare_trusted(&mut decision, &checks, results);
        decision.settle();
        if decision.action != Action::Allow {
            // Refused by a gate (or a race): what was left is never written.
            decision.commits.clear();
        }
        decision
    }

    /// Step 2: one counter check against the store.
    pub fn run_check(&self, check: &CounterCheck, now: Timestamp, store: &dyn Store) -> CheckOutcome {
        let Some(rule) = self.rules.get(usize::from(check.rule)) else {
            return CheckOutcome::Mismatch;
        };
        let (key, retries) = (check.key.as_str(), self.store.max_cas_retries);
        // A refused request's commit keeps only the refusal its check starts in the store.
        let apply = |step: &mut dyn FnMut(Option<&[u8]>) -> Change<CounterVerdict>| {
            update(store, key, now, retries, |bytes| match step(bytes) {
                Change::Write { result, .. } if check.escalation_only && !result.escalated => {
                    Change::Keep(result)
                }
                change => change,
            })
        };
        let result: Result<CounterVerdict, StoreError> = match (&rule.kind, check.op) {
            (RuleKind::RateLimit { params, .. }, CounterOp::Rate) => apply(&mut |b| params.step(b, now)),
            (RuleKind::Backoff(params), CounterOp::Backoff) => apply(&mut |b| params.step(b, now)),
            (RuleKind::Adjacent(params), CounterOp::Adjacent { suffix }) => {
                apply(&mut |b| params.step(b, suffix, now))
            }
            (RuleKind::Conversion(params), CounterOp::ConversionSend) => {
                apply(&mut |b| params.step_send(b, now))
            }
            (RuleKind::Conversion(params), CounterOp::ConversionConfirm) => {
                apply(&mut |b| params.step_confirm(b, now))
            }
            (RuleKind::Conversion(params), CounterOp::ConversionSentNumber) => {
                apply(&mut |b| params.step_sent_number(b, now))
            }
            (RuleKind::Conversion(params), CounterOp::ConversionSolvedNumber { solver }) => {
                apply(&mut |b| params.step_solved_number(b, now, solver))
            }
            (RuleKind::Conversion(params), CounterOp::ConversionConfirmSolved) => {
                apply(&mut |b| params.step_confirm_solved(b, now))
            }
            (RuleKind::Conversion(params), CounterOp::ConversionConfirmNumber) => {
                apply(&mut |b| params.step_confirm_number(b, now))
            }
            (RuleKind::Surge(params), CounterOp::SurgeSend) => apply(&mut |b| params.step_send(b, now)),
            (RuleKind::Reputation(params), CounterOp::TrustSend) => apply(&mut |b| params.step_send(b, now)),
            (RuleKind::Reputation(params), CounterOp::TrustConfirm) => {
                apply(&mut |b| params.step_confirm(b, now))
            }
            (RuleKind::Reputation(params), CounterOp::TrustImport) => {
                apply(&mut |b| params.step_import(b, now))
            }
            (RuleKind::Reputation(params), CounterOp::AccountSent { value }) => {
                apply(&mut |b| record_binding(b, now, params.confirm_within_ms, value))
            }
            (RuleKind::Reputation(params), CounterOp::AccountConfirm) => {
                apply(&mut |b| take_sender(b, now, params.confirm_within_ms))
            }
            (RuleKind::Conversion(params), CounterOp::AccountSent { value }) => {
                apply(&mut |b| params.step_binding(b, now, value))
            }
            (RuleKind::Conversion(params), CounterOp::AccountConfirm) => {
                apply(&mut |b| params.step_confirm_solved(b, now))
            }
            (RuleKind::ClientCountry { proven_pairs: Some(p), .. }, op) => match op {
                CounterOp::PairSend => apply(&mut |b| p.step_send(b, now)),
                CounterOp::PairConfirm { trusted_before } => {
                    apply(&mut |b| p.step_confirm(b, now, trusted_before))
                }
                CounterOp::ConversionSolvedNumber { solver } => {
                    apply(&mut |b| record_sender(b, now, p.window_ms, solver))
                }
                CounterOp::ConversionConfirmSolved => apply(&mut |b| take_sender(b, now, p.window_ms)),
                _ => return CheckOutcome::Mismatch,
            },
            (RuleKind::BoundNumber { keep_ms }, CounterOp::BindNumber { digits, answered }) => {
                apply(&mut |_| record_bound(now, *keep_ms, digits, answered))
            }
            (RuleKind::BoundSignIns(p), CounterOp::BindSignInNumber { digits, sign_up_by_sms, proven }) => {
                apply(&mut |_| record_sign_in_number(now, p.keep_ms, digits, sign_up_by_sms, proven))
            }
            (RuleKind::BoundSignIns(p), CounterOp::ProveSignInNumber { sign_up_code }) => {
                apply(&mut |b| prove_sign_in_number(b, now, p.keep_ms, sign_up_code))
            }
            (RuleKind::BoundSignIns(_), CounterOp::SignInNumberRead) => apply(&mut read_sign_in_number),
            (RuleKind::BoundSignIns(p), CounterOp::SignInPeek) => apply(&mut |b| p.codes.peek(b, now)),
            (RuleKind::BoundSignIns(p), CounterOp::SignInCharge) => apply(&mut |b| p.codes.charge(b, now)),
            (RuleKind::BoundNumber { .. }, CounterOp::BoundNumberRead) => apply(&mut |b| read_bound(b, now)),
            (RuleKind::NumberIntel(_), CounterOp::IntelRead) => apply(&mut crate::intel::read_step),
            (RuleKind::NumberIntel(_), CounterOp::IntelStore(facts)) => match &self.number_intel {
                Some(provider) => apply(&mut |_| crate::intel::store_step(facts, provider.cache_ms, now)),
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
        let Prepared { mut decision, checks, token, remote_ip, reads_bound, answered_earlier } = prepared;
        if decision.action == Action::Answer {
            // An import: its writes are already pending, nothing to judge.
            return decision;
        }
        if reads_bound {
            // A host that never ran step 1 again: the request's own checks never ran.
            self.report_store_failure(&mut decision, true);
            decision.settle();
            return decision;
        }
        self.fold_results(&mut decision, &checks, results, |_, _| true);
        self.spare_trusted(&mut decision, &checks, results);
        self.spare_proven_pairs(&mut decision, &checks, results);
        let intel = self.fold_cached_intel(&mut decision, &checks, results);
        self.score_risk(&mut decision);
        decision.settle();
        // Where origin verifies tokens, one is the answer to a challenge, now and for any the
        // lookups ask for: spending it here would make origin's own verification fail.
        let token = match token {
            Some(_) if self.captcha.as_ref().is_some_and(|c| c.verify == CaptchaVerify::Origin) => {
                decision.token_verified = true;
                decision.token_left_to_origin = true;
                if decision.action == Action::Challenge {
                    captcha::leave_to_origin(&mut decision);
                }
                None
            }
            // No token, but the call that made what the path names carried one origin took
            // (a Clerk sign-up's, which its preparations never carry): answered there.
            None if answered_earlier
                && self.captcha.as_ref().is_some_and(|c| c.verify == CaptchaVerify::Origin) =>
            {
                if decision.action == Action::Challenge {
                    decision.token_verified = true;
                    captcha::answered_earlier(&mut decision);
                }
                None
            }
            token => token,
        };
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
                .map(|(check, _)| CounterCheck { escalation_only: true, ..check })
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
        finds: impl Fn(&Rule, &CounterVerdict) -> bool,
    ) {
        let mut store_failed = false;
        for (check, outcome) in
            checks.iter().zip(results.iter().chain(std::iter::repeat(&CheckOutcome::StoreFailed)))
        {
            match outcome {
                // Bookkeeping for conversion credit is never a finding.
                CheckOutcome::Verdict(v) if v.triggered && !is_bookkeeping(check.op) => {
                    if let Some(rule) = self.rules.get(usize::from(check.rule)).filter(|r| finds(r, v)) {
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
    /// the pending writes: a commit round of their own counts the solve, and refuses the request
    /// when that device has solved too many, before any other write is made.
    pub fn resolve_token(&self, decision: Decision, verdict: &TokenVerdict) -> Decision {
        let mut decision = captcha::resolve(self.captcha.as_ref(), decision, verdict);
        let solver_checks = std::mem::take(&mut decision.solver_checks);
        if let TokenVerdict::Valid { solver } = verdict {
            decision.token_verified = true;
            if let Some(solver) = solver.as_deref().filter(|s| !s.is_empty()) {
                decision.captcha_solver = Some(truncated(solver, MAX_KEY_VALUE_LEN).to_owned());
                if decision.action == Action::Allow {
                    // The device's limits first, in a round of their own: a device they refuse
                    // spends nothing of the numbers' budgets.
                    let (gates, books): (Vec<_>, Vec<_>) =
                        solver_checks.iter().map(|check| check.for_solver(solver)).partition(|c| c.gate);
                    decision.commits.splice(0..0, gates);
                    decision.commits.extend(books);
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
            | CounterOp::AccountSent { .. }
            | CounterOp::AccountConfirm
            | CounterOp::BindNumber { .. }
            | CounterOp::BoundNumberRead
            | CounterOp::BindSignInNumber { .. }
            | CounterOp::ProveSignInNumber { .. }
            | CounterOp::SignInNumberRead
            | CounterOp::SignInCharge
    )
}
