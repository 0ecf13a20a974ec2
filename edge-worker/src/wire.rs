//! What the fetch handler and a counter shard (Durable Object) send each other: JSON, one
//! request per shard per round of a judged request (peek, then commit; credit rounds on a
//! confirm route's response).

use pumpguard_core::{CheckOutcome, CounterCheck};
use serde::{Deserialize, Serialize};

/// Path of the shard's one endpoint (the host part of the URL is ignored by Durable Objects).
pub const SHARD_URL: &str = "https://pumpguard-shard/checks";

/// Header carrying a [`ShardRequest`] (and, on the answer, a [`ShardResponse`]) when its JSON
/// fits, so neither side reads a body stream: that costs more CPU than the checks themselves.
pub const PAYLOAD_HEADER: &str = "x-pumpguard-shard";

/// Longest JSON sent in [`PAYLOAD_HEADER`]; longer payloads (hundreds of checks) go as the body.
pub const MAX_HEADER_PAYLOAD: usize = 8 * 1024;

/// Whether `json` can travel in [`PAYLOAD_HEADER`]: short, and ASCII (serde_json escapes control
/// characters but writes other characters raw, and a header value is bytes, not text).
pub fn fits_header(json: &str) -> bool {
    json.len() <= MAX_HEADER_PAYLOAD && json.is_ascii()
}

/// Counter checks for one shard.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ShardRequest {
    /// Identity of the policy the checks were planned with (see `policy_source::policy_id`); the
    /// shard runs them only with the same policy, since checks refer to rules by index.
    pub policy_id: u64,
    /// The request's time, milliseconds since the epoch: counters follow the fetch handler's clock.
    pub now_ms: u64,
    /// Only look: the shard runs the checks on an overlay of its store (`Policy::peek_checks`)
    /// and writes nothing. Absent (false): the checks run for real and their writes are stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub peek: bool,
    pub checks: Vec<CounterCheck>,
}

/// The shard's answer: one outcome per check, in order, or why it ran none.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ShardResponse {
    Outcomes(Vec<CheckOutcome>),
    /// The shard could not run the checks (policy missing, different or invalid; bad request).
    Refused(String),
}

impl ShardResponse {
    /// Outcomes for `expected` checks; anything else (refusal, wrong count) counts as a store
    /// failure for each of them, which the policy's `store.on_error` then decides.
    pub fn into_outcomes(self, expected: usize) -> Vec<CheckOutcome> {
        match self {
            ShardResponse::Outcomes(outcomes) if outcomes.len() == expected => outcomes,
            _ => vec![CheckOutcome::StoreFailed; expected],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pumpguard_core::limit::CounterVerdict;

    #[test]
    fn wrong_count_or_refusal_fails_every_check() {
        let failed = ShardResponse::Refused("policy mismatch".into()).into_outcomes(2);
        assert_eq!(failed, vec![CheckOutcome::StoreFailed; 2]);
        let short = ShardResponse::Outcomes(vec![CheckOutcome::StoreFailed]).into_outcomes(3);
        assert_eq!(short.len(), 3);
    }

    #[test]
    fn only_short_ascii_payloads_go_in_the_header() {
        assert!(fits_header(r#"{"policy_id":1,"now_ms":5,"checks":[]}"#));
        assert!(!fits_header("{\"key\":\"rl:x|Jos\u{FFFD}\"}"));
        assert!(fits_header(&"a".repeat(MAX_HEADER_PAYLOAD)));
        assert!(!fits_header(&"a".repeat(MAX_HEADER_PAYLOAD + 1)));
        // Control characters are escaped by serde_json, so they never reach a header raw.
        let json = serde_json::to_string("a\r\nb\u{7f}").unwrap();
        assert!(fits_header(&json), "{json}");
    }

    #[test]
    fn round_trips_as_json() {
        // A commit round: no `peek` on the wire, the payload as small as before the field.
        let json = r#"{"policy_id":1,"now_ms":5,"checks":[{"rule":0,"key":"rl:x|1","op":"rate"}]}"#;
        let request: ShardRequest = serde_json::from_str(json).unwrap();
        assert_eq!(request.checks.len(), 1);
        assert!(!request.peek);
        let back = serde_json::to_string(&request).unwrap();
        assert_eq!(back, json);
        let peek = r#"{"policy_id":1,"now_ms":5,"peek":true,"checks":[]}"#;
        let request: ShardRequest = serde_json::from_str(peek).unwrap();
        assert!(request.peek);
        assert_eq!(serde_json::to_string(&request).unwrap(), peek);
        let outcomes = ShardResponse::Outcomes(vec![
            CheckOutcome::StoreFailed,
            CheckOutcome::Mismatch,
            CheckOutcome::Verdict(CounterVerdict::escalate(900_000)),
            CheckOutcome::Verdict(CounterVerdict::PASS),
        ]);
        let text = serde_json::to_string(&outcomes).unwrap();
        // `escalated` travels only when set.
        assert_eq!(text.matches("escalated").count(), 1, "{text}");
        let parsed: ShardResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, outcomes);
    }
}
