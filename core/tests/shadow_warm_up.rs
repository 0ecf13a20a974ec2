//! A policy deployed in shadow first still learns who the real users are: the reputation rule
//! records confirmed numbers while every rule only reports, so the enforced policy that follows
//! on the same store spares them from its first request.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod support;

use pumpguard_core::routes::ConfirmResponse;
use pumpguard_core::{Action, MemoryStore, Policy, Timestamp};
use serde_json::json;

fn policy(shadow: bool) -> Policy {
    let doc = json!({
        "version": 1,
        "shadow": shadow,
        "routes": [
            {"id": "otp", "kind": "send", "match": {"path": {"exact": "/otp"}},
             "extract": {"json_keys": ["phone"], "token": {"header": "cf-turnstile-response"}}},
            {"id": "verify", "kind": "confirm", "match": {"path": {"exact": "/verify"}}, "extract": {"json_keys": ["phone"]}},
        ],
        "captcha": {"provider": "turnstile", "secret": "test-secret", "on_unavailable": "block"},
        "rules": [
            {"id": "returning", "action": "log", "reputation": {"trust_seconds": 2_592_000, "confirm_within_seconds": 3600}},
            {"id": "abroad", "action": "challenge", "skip_trusted": true, "client_country": {}},
        ],
    });
    Policy::from_json(&doc.to_string()).unwrap()
}

/// A user in Spain with a US number.
const ABROAD: [(&str, &str); 2] = [("content-type", "application/json"), ("cf-ipcountry", "ES")];

fn at(s: u64) -> Timestamp {
    Timestamp::from_millis(s * 1000)
}

#[test]
fn numbers_confirmed_during_a_shadow_week_are_trusted_once_enforced() {
    let store = MemoryStore::new();
    let (shadow, enforced) = (policy(true), policy(false));
    let known = r#"{"phone": "+14155550100"}"#;
    let sent = shadow.decide(&support::post("/otp", known, &ABROAD, 10), at(0), &store);
    assert_eq!(sent.action, Action::Allow, "shadow only reports");
    assert!(sent.log_line().contains("client_country_mismatch"), "{}", sent.log_line());
    let entered = shadow.decide(&support::post("/verify", known, &ABROAD, 10), at(30), &store);
    let ok = ConfirmResponse { status: 200, headers: &[], body: None };
    shadow.record_confirm(&entered, &ok, at(30), &store);

    // A week later the policy is enforced: the traveller it learned gets a code at once.
    let week = 7 * 86_400;
    let again = enforced.decide(&support::post("/otp", known, &ABROAD, 11), at(week), &store);
    assert_eq!(again.action, Action::Allow, "{}", again.log_line());
    let stranger = r#"{"phone": "+14155550199"}"#;
    let new = enforced.decide(&support::post("/otp", stranger, &ABROAD, 12), at(week), &store);
    assert_eq!(new.action, Action::Challenge, "a number never confirmed is still judged");
}
