//! The whole decision on structured arbitrary request sequences, under every scenario policy.
//!
//! Input: one byte picking the scenario policy, then frames ([`crate::frame`]). Properties: no
//! panic; the same sequence decides the same twice (fresh stores); an allowed request answers
//! 200 and a refused one does not (an import answered by the guard: 200 or 503).

use pumpguard_core::{Action, MemoryStore};

use crate::{corpus, frame, run};

/// Most requests judged per input: enough for counters to fill, few enough to stay fast.
pub const MAX_FRAMES: usize = 16;

/// Runs the target on one input.
pub fn run(data: &[u8]) -> String {
    let Some((&selector, rest)) = data.split_first() else { return String::new() };
    let Some(scenario) = corpus::pick(selector) else { return String::new() };
    let frames = frame::parse(rest, MAX_FRAMES);
    let first = run::judge_all(&scenario.policy, &frames, &MemoryStore::new());
    let second = run::judge_all(&scenario.policy, &frames, &MemoryStore::new());
    assert_eq!(first, second, "{}: the same requests decided differently", scenario.name);
    for line in &first {
        check_shape(line);
    }
    super::digest_of(&first)
}

/// An allowed request is forwarded (200); a refusal answers with an error status and body; an
/// import the guard answers itself says 200 or 503.
pub(crate) fn check_shape(line: &str) {
    let Ok(decision) = serde_json::from_str::<serde_json::Value>(line) else {
        panic!("decision is not JSON: {line}");
    };
    let action = decision.get("action").and_then(|a| a.as_str()).unwrap_or_default();
    let status = decision.get("status").and_then(|s| s.as_u64()).unwrap_or_default();
    if action == Action::Answer.as_str() {
        // An import of trusted numbers: done (200), or a write failed (503).
        assert!(status == 200 || status == 503, "action {action} with status {status}: {line}");
        return;
    }
    let allowed = action == Action::Allow.as_str();
    assert_eq!(allowed, status == 200, "action {action} with status {status}: {line}");
}
