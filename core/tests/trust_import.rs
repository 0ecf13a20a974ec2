//! `trust_import` through the step API: what an import writes, what a store failure makes of its
//! answer, and what an attacker without the token or with an oversized body gets.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

#[path = "support/failing_store.rs"]
mod failing_store;
mod support;

use failing_store::FailingStore;

use pumpguard_core::{Action, CheckOutcome, MemoryStore, Policy, Timestamp};

const PATH: &str = "/__pumpguard/trusted-numbers";
/// `printf %s pumpguard-scenario-import-token | sha256sum`
const TOKEN: &str = "pumpguard-scenario-import-token";
const TOKEN_SHA256: &str = "9d737af9ee7e536d5a63c063a963110f6910183ff55527f6352855733e569804";

fn policy() -> Policy {
    let text = serde_json::json!({
        "version": 1,
        "routes": [
            {"id": "otp", "kind": "send", "match": {"path": {"exact": "/api/otp"}}, "extract": {"json_keys": ["phone"]}},
            {"id": "verify", "kind": "confirm", "match": {"path": {"exact": "/api/verify"}}, "extract": {"json_keys": ["phone"]}}
        ],
        "inputs": {"max_body_bytes": 2048},
        "rules": [
            {"id": "returning", "action": "log", "reputation": {}},
            {"id": "abroad", "action": "block", "skip_trusted": true, "client_country": {}}
        ],
        "trust_import": {"path": PATH, "token_sha256": TOKEN_SHA256, "max_numbers": 50}
    });
    Policy::from_json(&text.to_string()).unwrap()
}

fn import<'a>(body: &'a str, headers: &'a [(&'a str, &'a str)]) -> pumpguard_core::Request<'a> {
    support::post(PATH, body, headers, 7)
}

#[test]
fn an_import_goes_straight_to_its_writes_and_answers_what_it_did() {
    let policy = policy();
    let auth = format!("Bearer {TOKEN}");
    let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
    let body = r#"{"numbers": ["+447911123456", "+447911123457", "+447911123456", "447911123458"]}"#;
    let req = import(body, &headers);
    assert!(policy.guards(&req) && policy.is_trust_import(&req));
    let prepared = policy.prepare(&req, Timestamp::from_millis(0));
    assert!(prepared.checks().is_empty(), "no peek round: an import refuses nothing");
    let decision = policy.conclude(prepared, &[]);
    assert_eq!((decision.action, decision.status), (Action::Answer, 200));
    assert_eq!(decision.pending_commits().len(), 2, "each distinct number once");

    let store = MemoryStore::new();
    let done = policy.commit(decision.clone(), Timestamp::from_millis(0), &store);
    assert_eq!(done.status, 200);
    let body: serde_json::Value = serde_json::from_str(&done.error_body().unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"trusted": 2, "rejected": [{"index": 3, "error": "not_e164"}]}));
    let headers: Vec<_> = done.response_headers();
    assert!(headers.contains(&("x-pumpguard-decision", "answer".to_owned())), "{headers:?}");
    assert!(done.numbers.is_empty(), "an import logs no numbers");

    // The store is down: nothing trusted, 503, and the batch can be sent again as it is.
    let failed = policy.commit(decision.clone(), Timestamp::from_millis(0), &FailingStore::failing(""));
    assert_eq!(failed.status, 503);
    let body: serde_json::Value = serde_json::from_str(&failed.error_body().unwrap()).unwrap();
    assert_eq!((body["trusted"].as_u64(), body["failed"].as_u64()), (Some(0), Some(2)));
    assert_eq!(body["error"], "store_unavailable");
    assert_eq!(failed.error_code().map(|c| c.as_str()), Some("store_unavailable"), "metrics see the failure");
    // A remote store that answered only part of the round: the rest failed.
    let partial = policy
        .settle_commits(decision, &[CheckOutcome::Verdict(pumpguard_core::limit::CounterVerdict::PASS)]);
    assert_eq!(partial.status, 503);
    assert_eq!(partial.trust_import.as_ref().map(|i| (i.trusted, i.failed)), Some((1, 1)));
}

#[test]
fn an_imported_number_is_spared_by_skip_trusted_rules() {
    let policy = policy();
    let store = MemoryStore::new();
    let abroad = |number: &str, at: u64| {
        let body = format!("{{\"phone\":\"{number}\"}}");
        let headers = [("content-type", "application/json"), ("cf-ipcountry", "US")];
        let req = support::post("/api/otp", &body, &headers, 9);
        policy.decide(&req, Timestamp::from_millis(at), &store).action
    };
    assert_eq!(abroad("+447911123456", 0), Action::Block);
    let auth = format!("bearer  {TOKEN} ");
    let headers = [("authorization", auth.as_str())];
    let decision = policy.decide(
        &import(r#"{"numbers":["+447911123456"]}"#, &headers),
        Timestamp::from_millis(1),
        &store,
    );
    assert_eq!((decision.action, decision.status), (Action::Answer, 200), "the scheme is case-insensitive");
    assert_eq!(abroad("+447911123456", 2), Action::Allow);
    assert_eq!(abroad("+447911123457", 3), Action::Block);
}

#[test]
fn without_the_token_or_within_bounds_an_import_writes_nothing() {
    let policy = policy();
    let store = MemoryStore::new();
    let body = r#"{"numbers":["+447911123456"]}"#;
    let no_token: [&[(&str, &str)]; 5] = [
        &[],
        &[("authorization", "Bearer pumpguard-scenario-import-toke")],
        &[("authorization", "Basic cHVtcGd1YXJk")],
        &[("authorization", "Bearer")],
        &[("authorization", "Bearer ")],
    ];
    for headers in no_token {
        let decision = policy.decide(&import(body, headers), Timestamp::from_millis(0), &store);
        assert_eq!((decision.action, decision.status), (Action::Block, 401), "{headers:?}");
        assert_eq!(decision.error_code().map(|c| c.as_str()), Some("import_unauthorized"));
        assert!(decision.pending_commits().is_empty());
    }
    let unauthorized = policy.decide(&import(body, &[]), Timestamp::from_millis(0), &store);
    assert!(unauthorized.response_headers().contains(&("www-authenticate", "Bearer".to_owned())));

    let auth = format!("Bearer {TOKEN}");
    let headers = [("authorization", auth.as_str())];
    let big = format!("{{\"numbers\":[{}]}}", vec!["\"+447911123456\""; 200].join(","));
    let decision = policy.decide(&import(&big, &headers), Timestamp::from_millis(0), &store);
    assert_eq!((decision.status, decision.error_code().map(|c| c.as_str())), (413, Some("body_too_large")));
    let mut truncated = import(body, &headers);
    truncated.body_truncated = true;
    let decision = policy.decide(&truncated, Timestamp::from_millis(0), &store);
    assert_eq!(decision.status, 413);
    let many = format!(
        "{{\"numbers\":[{}]}}",
        (0..51).map(|i| format!("\"+4479111234{i:02}\"")).collect::<Vec<_>>().join(",")
    );
    let decision = policy.decide(&import(&many, &headers), Timestamp::from_millis(0), &store);
    assert_eq!((decision.status, decision.error_code().map(|c| c.as_str())), (400, Some("too_many_numbers")));
    for malformed in
        ["", "[]", r#"{"numbers":[1]}"#, r#"{"numbers":[],"extra":1}"#, r#"{"numbers":["+1"],"numbers":[]}"#]
    {
        let decision = policy.decide(&import(malformed, &headers), Timestamp::from_millis(0), &store);
        assert_eq!(decision.error_code().map(|c| c.as_str()), Some("body_malformed"), "{malformed}");
    }
    let mut get = import(body, &headers);
    get.method = "GET";
    let decision = policy.decide(&get, Timestamp::from_millis(0), &store);
    assert_eq!(
        (decision.status, decision.error_code().map(|c| c.as_str())),
        (405, Some("method_not_allowed"))
    );
    assert!(decision.response_headers().contains(&("allow", "POST".to_owned())));
    // A query string does not hide the path.
    let decision = policy.decide(
        &support::post("/__pumpguard/trusted-numbers?x=1", body, &[], 1),
        Timestamp::from_millis(0),
        &store,
    );
    assert_eq!(decision.status, 401);
}
