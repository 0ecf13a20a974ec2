//! What the simulator sends requests to. The guard sees traffic records only: the ground truth
//! (which user or campaign sent a request) never crosses this boundary.

use std::collections::HashSet;

use pumpguard_core::decision::TokenVerdict;
use pumpguard_core::intel::LookupAnswer;
use pumpguard_core::scenario::{simulated_siteverify, Observed};
use pumpguard_core::traffic::{as_request, TrafficRecord};
use pumpguard_core::{Action, MemoryStore, Policy};

/// Judges one request as a host would answer it.
pub trait Guard {
    /// The answer to `record`, as the client would see it.
    fn judge(&mut self, record: &TrafficRecord) -> Result<Observed, String>;

    /// [`Guard::judge`] with a number-intelligence provider the guard's host can call (an E.164
    /// number in; the provider's status and body out, `None` for no answer in time), as it
    /// calls siteverify. A guard whose host has its own provider (a live host) ignores it.
    fn judge_with(
        &mut self,
        record: &TrafficRecord,
        lookup: &mut dyn FnMut(&str) -> Option<(u16, String)>,
    ) -> Result<Observed, String> {
        let _ = lookup;
        self.judge(record)
    }
}

/// The core engine in this process, with an in-memory store: what `pumpguard replay` does, one
/// request at a time.
pub struct InProcess {
    policy: Policy,
    store: MemoryStore,
    /// Tokens already verified: CAPTCHA providers accept a token once (Turnstile answers
    /// `timeout-or-duplicate` to a second use).
    spent_tokens: HashSet<String>,
}

impl InProcess {
    /// A guard for `policy` with empty counters.
    pub fn new(policy: Policy) -> InProcess {
        InProcess { policy, store: MemoryStore::new(), spent_tokens: HashSet::new() }
    }
}

impl Guard for InProcess {
    fn judge(&mut self, record: &TrafficRecord) -> Result<Observed, String> {
        self.judge_with(record, &mut |_| None)
    }

    fn judge_with(
        &mut self,
        record: &TrafficRecord,
        lookup: &mut dyn FnMut(&str) -> Option<(u16, String)>,
    ) -> Result<Observed, String> {
        let owned = record.owned()?;
        let refs: Vec<(&str, &str)> = owned.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let now = record.at();
        let req = as_request(record, &owned, &refs, self.policy.max_body_bytes());
        let spent_tokens = &mut self.spent_tokens;
        let policy = &self.policy;
        let verify = |token: &str| {
            if spent_tokens.insert(token.to_owned()) {
                simulated_siteverify(token)
            } else {
                TokenVerdict::Invalid {
                    detail: "provider refused the token (error codes: timeout-or-duplicate)".into(),
                }
            }
        };
        let ask = |l: &pumpguard_core::intel::NumberLookup| match (policy.number_intel(), lookup(&l.e164)) {
            (Some(provider), Some((status, body))) => provider.interpret(status, body.as_bytes()),
            (Some(provider), None) => {
                LookupAnswer::Unavailable { detail: format!("no answer within {} ms", provider.timeout_ms) }
            }
            (None, _) => LookupAnswer::Unavailable { detail: "policy has no number_intel section".into() },
        };
        let decision = policy.decide_with(&req, now, &self.store, verify, ask);
        if decision.action == Action::Allow {
            record.record_confirm(&self.policy, &decision, &self.store);
        }
        Ok(Observed::of(&decision))
    }
}
