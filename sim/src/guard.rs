//! What the simulator sends requests to. The guard sees traffic records only: the ground truth
//! (which user or campaign sent a request) never crosses this boundary.

use std::collections::HashSet;

use pumpguard_core::decision::TokenVerdict;
use pumpguard_core::scenario::{simulated_siteverify, Observed};
use pumpguard_core::traffic::{as_request, TrafficRecord};
use pumpguard_core::{Action, MemoryStore, Policy};

/// Judges one request as a host would answer it.
pub trait Guard {
    /// The answer to `record`, as the client would see it.
    fn judge(&mut self, record: &TrafficRecord) -> Result<Observed, String>;
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
        let owned = record.owned()?;
        let refs: Vec<(&str, &str)> = owned.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let now = record.at();
        let req = as_request(record, &owned, &refs, self.policy.max_body_bytes());
        let spent_tokens = &mut self.spent_tokens;
        let decision = self.policy.decide_verified(&req, now, &self.store, |token| {
            if spent_tokens.insert(token.to_owned()) {
                simulated_siteverify(token)
            } else {
                TokenVerdict::Invalid {
                    detail: "provider refused the token (error codes: timeout-or-duplicate)".into(),
                }
            }
        });
        if decision.action == Action::Allow {
            record.record_confirm(&self.policy, &decision, &self.store);
        }
        Ok(Observed::of(&decision))
    }
}
