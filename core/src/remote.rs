//! What a host sends a remote counter store, and what comes back: the counter checks of one round
//! of one request (peek, then commit; credit rounds on a confirm route's response), as JSON.
//!
//! The Worker sends it to its Durable Object shards; the Envoy filter to the store service
//! (`pumpguard-store`) over Redis. Both run the checks with the same policy the caller planned them
//! with ([`Policy::peek_checks`](crate::Policy::peek_checks) or
//! [`Policy::run_check`](crate::Policy::run_check)), so the rules stay in the core.

use serde::{Deserialize, Serialize};

use crate::engine::{CheckOutcome, CounterCheck};
use crate::store::key_hash;

/// Header carrying a [`CheckRequest`] (and, on the answer, a [`CheckResponse`]) when its JSON
/// fits, so neither side reads a body stream where that costs more than the checks themselves.
pub const PAYLOAD_HEADER: &str = "x-pumpguard-shard";

/// Longest JSON sent in [`PAYLOAD_HEADER`]; longer payloads (hundreds of checks) go as the body.
pub const MAX_HEADER_PAYLOAD: usize = 8 * 1024;

/// Whether `json` can travel in [`PAYLOAD_HEADER`]: short, and ASCII (serde_json escapes control
/// characters but writes other characters raw, and a header value is bytes, not text).
pub fn fits_header(json: &str) -> bool {
    json.len() <= MAX_HEADER_PAYLOAD && json.is_ascii()
}

/// Request header of a peek round (value `1`) asking the store to commit the checks at once when
/// every one passes: the commit round the caller would send next, saved. A store that does not
/// know it answers the peek.
pub const COMMIT_IF_PASS_HEADER: &str = "x-pumpguard-commit-if-pass";

/// Answer header (value `1`): the round asked with [`COMMIT_IF_PASS_HEADER`] committed; its
/// outcomes are the commit's.
pub const COMMITTED_HEADER: &str = "x-pumpguard-committed";

/// Shortest bearer token a store service accepts from its callers (`authorization: Bearer
/// <token>`), in bytes: both sides refuse a shorter one when they load it.
pub const MIN_TOKEN_BYTES: usize = 16;

/// Why `token` cannot be a store credential, or `None` when it can: at least
/// [`MIN_TOKEN_BYTES`] bytes, each printable ASCII other than a space (a header value carries
/// them unchanged; `openssl rand -hex 32` and `-base64 32` write such tokens). The reason never
/// quotes the token.
pub fn token_problem(token: &[u8]) -> Option<&'static str> {
    if token.len() < MIN_TOKEN_BYTES {
        return Some("is shorter than 16 bytes");
    }
    if token.iter().any(|b| !b.is_ascii_graphic()) {
        return Some("holds whitespace or a character that is not printable ASCII");
    }
    None
}

/// Identity of a policy text: a remote store runs checks only with the policy they were planned
/// with, since checks name rules by index.
pub fn policy_id(text: &str) -> u64 {
    key_hash(0x7075_6d70_6775_6172, text)
}

/// Counter checks of one round of one request.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct CheckRequest {
    /// [`policy_id`] of the policy the checks were planned with.
    pub policy_id: u64,
    /// The request's time, milliseconds since the epoch: counters follow the caller's clock.
    pub now_ms: u64,
    /// Only look: the checks run on an overlay of the store and write nothing. Absent (false):
    /// the checks run for real and their writes are stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub peek: bool,
    /// Counter namespace of the caller (one per plugin); `None`: the store's default. Stores
    /// holding one caller's counters (a Worker's shards) ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The checks, in the order the caller planned them.
    pub checks: Vec<CounterCheck>,
}

/// The store's answer: one outcome per check, in order, or why it ran none.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum CheckResponse {
    /// One outcome per check, in the request's order.
    Outcomes(Vec<CheckOutcome>),
    /// The store could not run the checks (policy missing, different or invalid; bad request).
    Refused(String),
}

impl CheckResponse {
    /// Outcomes for `expected` checks; anything else (refusal, wrong count) counts as a store
    /// failure for each of them, which the policy's `store.on_error` then decides.
    pub fn into_outcomes(self, expected: usize) -> Vec<CheckOutcome> {
        match self {
            CheckResponse::Outcomes(outcomes) if outcomes.len() == expected => outcomes,
            _ => vec![CheckOutcome::StoreFailed; expected],
        }
    }

    /// Parses an answer's JSON into outcomes for `expected` checks: unreadable JSON fails every
    /// check, as a refusal does.
    pub fn outcomes_from_json(json: &[u8], expected: usize) -> Vec<CheckOutcome> {
        match serde_json::from_slice::<CheckResponse>(json) {
            Ok(response) => response.into_outcomes(expected),
            Err(_) => vec![CheckOutcome::StoreFailed; expected],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::CounterVerdict;

    #[test]
    fn wrong_count_refusal_or_garbage_fails_every_check() {
        let failed = CheckResponse::Refused("policy mismatch".into()).into_outcomes(2);
        assert_eq!(failed, vec![CheckOutcome::StoreFailed; 2]);
        let short = CheckResponse::Outcomes(vec![CheckOutcome::StoreFailed]).into_outcomes(3);
        assert_eq!(short.len(), 3);
        assert_eq!(CheckResponse::outcomes_from_json(b"<html>", 2), vec![CheckOutcome::StoreFailed; 2]);
        assert_eq!(CheckResponse::outcomes_from_json(b"", 1), vec![CheckOutcome::StoreFailed]);
    }

    #[test]
    fn tokens_are_long_printable_ascii_without_whitespace() {
        assert_eq!(token_problem(b"0123456789abcdef"), None);
        assert_eq!(token_problem(b"Zm9vYmFyYmF6cXV4cXV1eA==+/_-.~!"), None);
        assert_eq!(token_problem(b"0123456789abcde"), Some("is shorter than 16 bytes"));
        assert_eq!(token_problem(b""), Some("is shorter than 16 bytes"));
        for bad in [
            &b"0123456789 abcdef"[..],
            b"0123456789abcdef\t",
            b"0123456789abcdef\x7f",
            "0123456789abcdé".as_bytes(),
        ] {
            assert!(token_problem(bad).is_some_and(|why| why.contains("printable ASCII")), "{bad:?}");
        }
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
        // A commit round: no `peek` and no namespace on the wire.
        let json = r#"{"policy_id":1,"now_ms":5,"checks":[{"rule":0,"key":"rl:x|1","op":"rate"}]}"#;
        let request: CheckRequest = serde_json::from_str(json).unwrap();
        assert_eq!(request.checks.len(), 1);
        assert!(!request.peek);
        assert_eq!(request.namespace, None);
        assert_eq!(serde_json::to_string(&request).unwrap(), json);
        let peek = r#"{"policy_id":1,"now_ms":5,"peek":true,"namespace":"edge","checks":[]}"#;
        let request: CheckRequest = serde_json::from_str(peek).unwrap();
        assert!(request.peek);
        assert_eq!(request.namespace.as_deref(), Some("edge"));
        assert_eq!(serde_json::to_string(&request).unwrap(), peek);
        let outcomes = CheckResponse::Outcomes(vec![
            CheckOutcome::StoreFailed,
            CheckOutcome::Mismatch,
            CheckOutcome::Verdict(CounterVerdict::escalate(900_000)),
            CheckOutcome::Verdict(CounterVerdict::PASS),
        ]);
        let text = serde_json::to_string(&outcomes).unwrap();
        // `escalated` travels only when set.
        assert_eq!(text.matches("escalated").count(), 1, "{text}");
        let parsed: CheckResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, outcomes);
    }

    #[test]
    fn policy_identity_follows_the_text() {
        assert_eq!(policy_id("{}"), policy_id("{}"));
        assert_ne!(policy_id("{}"), policy_id("{ }"));
    }
}
