//! CORS on the guard's own replies: the headers a page of a listed origin needs to read a
//! refusal, and nothing for anyone else.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod support;

use pumpguard_core::{MemoryStore, Policy, Timestamp};
use serde_json::json;

fn refusal_headers(cors: serde_json::Value, origin: Option<&str>) -> Vec<(&'static str, String)> {
    let doc = json!({
        "version": 1, "default_region": "US",
        "routes": [{"id": "otp", "kind": "send", "match": {"path": {"exact": "/otp"}}, "extract": {"json_keys": ["phone"]}}],
        "rules": [{"id": "geo", "action": "block", "country": {"allow": ["US"]}}],
        "cors": cors,
    });
    let policy = Policy::from_json(&doc.to_string()).unwrap();
    let mut headers = vec![("content-type", "application/json")];
    headers.extend(origin.map(|o| ("origin", o)));
    let request = support::post("/otp", r#"{"phone": "+33612345678"}"#, &headers, 7);
    let decision = policy.decide(&request, Timestamp::from_millis(0), &MemoryStore::new());
    assert_eq!(decision.status, 403);
    decision
        .response_headers()
        .into_iter()
        .filter(|(name, _)| name.starts_with("access-control-") || *name == "vary")
        .collect()
}

#[test]
fn a_page_of_a_listed_origin_can_read_the_refusal() {
    let listed = json!({"allow_origins": ["https://www.example.com"], "allow_credentials": true});
    assert_eq!(
        refusal_headers(listed.clone(), Some("https://www.example.com")),
        [
            ("access-control-allow-origin", "https://www.example.com".to_owned()),
            ("access-control-expose-headers", "x-pumpguard-decision, retry-after".to_owned()),
            ("access-control-allow-credentials", "true".to_owned()),
            ("vary", "Origin".to_owned()),
        ]
    );
    assert_eq!(refusal_headers(listed.clone(), Some("https://evil.example")), []);
    assert_eq!(refusal_headers(listed, None), []);
    // Any origin, without credentials: `*`, the same for every page, so no `Vary`.
    assert_eq!(
        refusal_headers(json!({"allow_origins": ["*"]}), Some("https://anyone.example")),
        [
            ("access-control-allow-origin", "*".to_owned()),
            ("access-control-expose-headers", "x-pumpguard-decision, retry-after".to_owned()),
        ]
    );
}
