//! Stateful rules as pure read-modify-write steps over encoded counter state.
//!
//! Each step takes the stored bytes (or `None`) and `now`, and returns a [`Change`] carrying a
//! [`CounterVerdict`]; `store::update` runs it under compare-and-swap.

mod adjacent;
mod backoff;
pub(crate) mod codec;
mod conversion;
mod gcra;

pub use adjacent::AdjacentParams;
pub use backoff::BackoffParams;
pub use conversion::{ConversionParams, ConversionScope};
pub use gcra::GcraParams;

/// What a counter step concluded for this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CounterVerdict {
    pub triggered: bool,
    /// When the request would be accepted again, in milliseconds from now.
    pub retry_after_ms: Option<u64>,
}

impl CounterVerdict {
    pub const PASS: CounterVerdict = CounterVerdict { triggered: false, retry_after_ms: None };

    pub fn trigger(retry_after_ms: u64) -> CounterVerdict {
        CounterVerdict { triggered: true, retry_after_ms: Some(retry_after_ms) }
    }
}
