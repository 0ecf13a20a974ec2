//! Fixtures shared by the unit tests.

use pumpguard_core::{Decision, HttpVersion, MemoryStore, Policy, Request, Timestamp};

/// One send route, `/otp`, whose only rule blocks GB numbers.
pub fn gb_block_policy() -> Policy {
    Policy::from_json(
        r#"{"version":1,"default_region":"US",
            "routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/otp"}},"extract":{"json_keys":["phone"]}}],
            "rules":[{"id":"no-gb","action":"block","country":{"deny":["GB"]}}]}"#,
    )
    .unwrap()
}

/// The decision on a JSON POST to `path` carrying a GB mobile number.
pub fn decide_gb_number(policy: &Policy, path: &str) -> Decision {
    let headers = [("content-type", "application/json")];
    let request = Request {
        method: "POST",
        authority: "x",
        path,
        version: HttpVersion::Http11,
        headers: &headers,
        body: br#"{"phone":"+447400123456"}"#,
        body_truncated: false,
        client_ip: None,
        tls: Default::default(),
        edge: Default::default(),
    };
    policy.decide(&request, Timestamp::from_millis(0), &MemoryStore::new())
}
