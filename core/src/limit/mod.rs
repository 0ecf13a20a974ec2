//! Stateful rules as pure read-modify-write steps over encoded counter state.
//!
//! Each step takes the stored bytes (or `None`) and `now`, and returns a [`Change`](crate::store::Change) carrying a
//! [`CounterVerdict`]; `store::update` runs it under compare-and-swap.

mod adjacent;
mod backoff;
mod bound;
pub(crate) mod codec;
mod conversion;
mod gcra;
mod proven_pairs;
mod reputation;
mod sign_in_number;
mod surge;

pub use adjacent::AdjacentParams;
pub use backoff::BackoffParams;
pub use bound::CARRIED_ANSWER_MS;
pub(crate) use bound::{read_bound, record_bound};
pub(crate) use conversion::{record_binding, record_sender, take_sender, CONFLICTING_BINDINGS};
pub use conversion::{ConversionBaseline, ConversionParams, ConversionScope};
pub use gcra::{GcraParams, MAX_HORIZON_SECONDS};
pub use proven_pairs::{pair_tag, pair_text, ProvenPairsParams};
pub use reputation::{ReputationParams, TrustedSends};
pub(crate) use sign_in_number::{
    prove_sign_in_number, read_sign_in_number, record_sign_in_number, SignInNumber,
};
pub use surge::SurgeParams;

/// `base * factor^(steps - 1)`, capped at `max`: the n-th wait of a backoff, the n-th block of a
/// scope that keeps offending. Stops multiplying at the cap, so it never overflows.
pub(crate) fn escalated(base: u64, factor: u32, steps: u32, max: u64) -> u64 {
    let mut duration = base;
    for _ in 1..steps {
        duration = duration.saturating_mul(u64::from(factor));
        if duration >= max {
            return max;
        }
    }
    duration.min(max)
}

/// What a counter step concluded for this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CounterVerdict {
    /// The step refuses the request (limit reached, wait or block in force); for a confirmation
    /// matched against sends, that there was no send to credit.
    pub triggered: bool,
    /// When the request would be accepted again, in milliseconds from now.
    pub retry_after_ms: Option<u64>,
    /// The trigger itself changed state that must be stored although the request is refused:
    /// a new block and its strike. Refusals that only read (an active block, a limit reached)
    /// leave it false, so a flood the guard already refuses writes nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub escalated: bool,
    /// The scope keeps offending: the rule asks for a block whatever its own action.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub severe: bool,
    /// A number-intelligence cache read: the cached answer, `None` on a miss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intel: Option<crate::intel::IntelFacts>,
    /// A confirmation matched against a send solved on a device: that device's tag, the scope
    /// a `captcha_solver` conversion rule credits. For an account's bindings, the value they
    /// hold (the bound number's digits, or its sender's tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solver: Option<u64>,
    /// A confirmation's reputation step: how long the number had been trusted before it (a
    /// returning user's, or imported), which a `proven_pairs` credit tells apart from a first
    /// confirmation and from trust earned minutes ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_for_ms: Option<u64>,
    /// A send's reputation step: the number is trusted, but past its `trusted_sends` for the
    /// window, so not trusted for this send.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub past_trusted_sends: bool,
    /// A binding's read: the call that made it carried a CAPTCHA token origin verified, within
    /// [`bound::CARRIED_ANSWER_MS`], so a challenge of a send naming it is answered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub answered: bool,
}

impl CounterVerdict {
    /// Nothing triggered.
    pub const PASS: CounterVerdict = CounterVerdict {
        triggered: false,
        retry_after_ms: None,
        escalated: false,
        severe: false,
        intel: None,
        solver: None,
        trusted_for_ms: None,
        past_trusted_sends: false,
        answered: false,
    };

    /// A refusal: the request would be accepted again in `retry_after_ms` milliseconds.
    pub fn trigger(retry_after_ms: u64) -> CounterVerdict {
        CounterVerdict { triggered: true, retry_after_ms: Some(retry_after_ms), ..CounterVerdict::PASS }
    }

    /// A trigger that starts a block (see [`CounterVerdict::escalated`]).
    pub fn escalate(retry_after_ms: u64) -> CounterVerdict {
        CounterVerdict { escalated: true, ..CounterVerdict::trigger(retry_after_ms) }
    }
}
