//! Local replies: exactly the core's status, headers and JSON body, so a block from the Worker
//! is byte-for-byte the block from the Envoy filter.

use pumpguard_core::{Action, Decision};

/// A reply the Worker answers itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The local reply for a decision, or `None` when the request goes to origin.
pub fn for_decision(decision: &Decision) -> Option<LocalReply> {
    if decision.action == Action::Allow {
        return None;
    }
    let body = decision.error_body().unwrap_or_else(|| String::from("{\"error\":\"blocked\"}"));
    Some(LocalReply { status: decision.status, headers: decision.response_headers(), body })
}

/// Stable error code of the answer given while no valid policy is loaded (fail closed).
pub const POLICY_UNAVAILABLE: &str = "policy_unavailable";

/// The reply while the policy cannot be used and the fail mode is closed: 503, like a store
/// failure with `on_error: block`.
pub fn policy_unavailable() -> LocalReply {
    LocalReply {
        status: 503,
        headers: vec![
            ("content-type", "application/json".to_owned()),
            ("x-pumpguard-decision", Action::Block.as_str().to_owned()),
        ],
        body: format!(
            "{{\"error\":\"{POLICY_UNAVAILABLE}\",\"message\":\"The request could not be checked; retry later.\"}}"
        ),
    }
}

/// The reply when origin cannot be reached.
pub fn origin_unreachable() -> LocalReply {
    LocalReply {
        status: 502,
        headers: vec![("content-type", "application/json".to_owned())],
        body: "{\"error\":\"origin_unreachable\",\"message\":\"The service is unavailable; retry later.\"}"
            .to_owned(),
    }
}

/// The reply when the Worker itself failed (an unexpected host error; logged).
pub fn internal_error() -> LocalReply {
    LocalReply {
        status: 500,
        headers: vec![("content-type", "application/json".to_owned())],
        body: "{\"error\":\"internal_error\",\"message\":\"The request could not be handled; retry later.\"}"
            .to_owned(),
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and the length, which the forwarded request gets anew.
pub const NOT_FORWARDED: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "expect",
];

/// Headers the Worker sets on requests it forwards (the core's `origin_headers`), and the names it
/// removes first, so a client can never hand origin a decision of its own.
pub use pumpguard_core::decision::DECISION_HEADERS as DECISION_HEADER_NAMES;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{decide_gb_number, gb_block_policy};

    #[test]
    fn blocks_carry_the_core_answer() {
        let policy = gb_block_policy();
        let decision = decide_gb_number(&policy, "/otp");
        let reply = for_decision(&decision).unwrap();
        assert_eq!(reply.status, decision.status);
        assert_eq!(reply.headers, decision.response_headers());
        assert_eq!(Some(reply.body), decision.error_body());
        assert_eq!(for_decision(&decide_gb_number(&policy, "/other")), None);
    }

    #[test]
    fn policy_unavailable_is_a_json_503() {
        let reply = policy_unavailable();
        assert_eq!(reply.status, 503);
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["error"], POLICY_UNAVAILABLE);
        let body: serde_json::Value = serde_json::from_str(&origin_unreachable().body).unwrap();
        assert_eq!(body["error"], "origin_unreachable");
        let body: serde_json::Value = serde_json::from_str(&internal_error().body).unwrap();
        assert_eq!(body["error"], "internal_error");
        assert_eq!(internal_error().status, 500);
    }
}
