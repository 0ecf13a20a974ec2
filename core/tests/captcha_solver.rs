//! Limits keyed by the device that solved the CAPTCHA: planned with the request, keyed once
//! siteverify names the device, counted in the commit round.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod support;

use pumpguard_core::scenario::{simulated_lookup, simulated_siteverify};
use pumpguard_core::{Action, Decision, MemoryStore, Policy, Request, Timestamp, TokenVerdict};
use serde_json::json;

fn policy(solver_key: serde_json::Value, extra_rule: Option<serde_json::Value>) -> Policy {
    let mut rules = vec![
        json!({"id": "captcha", "action": "challenge", "captcha": {}}),
        json!({"id": "per-solver", "action": "block",
               "rate_limit": {"key": solver_key, "rate": 2, "per_seconds": 3600, "burst": 2}}),
    ];
    rules.extend(extra_rule);
    let doc = json!({
        "version": 1,
        "routes": [
            {"id": "otp", "kind": "send", "match": {"path": {"exact": "/otp"}},
             "extract": {"json_keys": ["phone", "phones"], "token": {"header": "cf-turnstile-response"}}},
        ],
        "captcha": {"provider": "turnstile", "secret": "s", "on_unavailable": "block"},
        "rules": rules,
    });
    Policy::from_json(&doc.to_string()).unwrap()
}

fn request<'a>(body: &'a str, headers: &'a [(&'a str, &'a str)], ip: u8) -> Request<'a> {
    support::post("/otp", body, headers, ip)
}

/// One send with `token`, verified by the corpus' fake siteverify, from its own address.
fn send(
    policy: &Policy,
    store: &MemoryStore,
    at_s: u64,
    body: &str,
    token: &str,
    ip: u8,
) -> pumpguard_core::Decision {
    let headers = [("content-type", "application/json"), ("cf-turnstile-response", token)];
    let req = request(body, &headers, ip);
    policy.decide_verified(&req, Timestamp::from_millis(at_s * 1000), store, simulated_siteverify)
}

/// The device `farm` still has its whole budget of two solves at `at_s`.
fn assert_budget_left(policy: &Policy, store: &MemoryStore, at_s: u64, number: u32) {
    for i in 0..2 {
        let d = send(policy, store, at_s + i, &phone(number), &format!("pass@farm-{i}"), 3);
        assert_eq!(d.action, Action::Allow, "solve {i}: {d:?}");
    }
}

fn phone(n: u32) -> String {
    format!("{{\"phone\": \"+1415555{n:04}\"}}")
}

#[test]
fn a_device_solving_past_its_budget_is_refused_whatever_its_address_and_number() {
    let policy = policy(json!(["captcha_solver"]), None);
    let store = MemoryStore::new();
    for i in 0..2 {
        let d = send(&policy, &store, i, &phone(100 + i as u32), &format!("pass@farm-{i}"), i as u8);
        assert_eq!(d.action, Action::Allow, "solve {i}");
        assert_eq!(d.captcha_solver.as_deref(), Some("x:farm"));
        assert!(d.log_line().contains(r#""captcha_solver":"x:farm""#), "{}", d.log_line());
    }
    let d = send(&policy, &store, 2, &phone(102), "pass@farm-2", 9);
    assert_eq!(d.action, Action::Block);
    assert_eq!(d.primary().and_then(|r| r.rule.as_deref()), Some("per-solver"));
    assert_eq!(d.error_code().map(|c| c.as_str()), Some("rate_limited"));
    // Another device has its own budget; a token verified without a device is not limited.
    assert_eq!(send(&policy, &store, 3, &phone(103), "pass@other-1", 10).action, Action::Allow);
    for i in 0..4 {
        assert_eq!(
            send(&policy, &store, 4 + i, &phone(104), &format!("pass-plain-{i}"), 11).action,
            Action::Allow
        );
    }
    // The budget refills at the limit's rate: one solve per half hour.
    assert_eq!(send(&policy, &store, 1801, &phone(105), "pass@farm-3", 12).action, Action::Allow);
    assert_eq!(send(&policy, &store, 1802, &phone(106), "pass@farm-4", 13).action, Action::Block);
}

#[test]
fn only_a_verified_solve_counts() {
    let policy = policy(json!(["captcha_solver"]), None);
    let store = MemoryStore::new();
    // Refused tokens and requests without one count nothing against the device they name.
    for i in 0..5 {
        let d = send(&policy, &store, i, &phone(200), &format!("fail@farm-{i}"), 1);
        assert_eq!(d.action, Action::Block);
        assert_eq!(d.error_code().map(|c| c.as_str()), Some("captcha_invalid"));
    }
    let headers = [("content-type", "application/json")];
    let body = phone(201);
    let d = policy.decide(&request(&body, &headers, 2), Timestamp::from_millis(6_000), &store);
    assert_eq!(d.action, Action::Challenge);
    assert!(d.pending_commits().is_empty());
    assert_budget_left(&policy, &store, 10, 202);
}

#[test]
fn a_solve_refused_by_another_rule_does_not_count() {
    let deny = json!({"id": "no-uk", "action": "block", "country": {"deny": ["FR"]}});
    let policy = policy(json!(["captcha_solver"]), Some(deny));
    let store = MemoryStore::new();
    for i in 0..3 {
        let d = send(&policy, &store, i, "{\"phone\": \"+33612345678\"}", &format!("pass@farm-{i}"), 1);
        assert_eq!(d.error_code().map(|c| c.as_str()), Some("country_denied"), "{d:?}");
    }
    assert_budget_left(&policy, &store, 10, 300);
}

#[test]
fn every_number_of_one_solve_counts() {
    let policy = policy(json!(["captcha_solver"]), None);
    let store = MemoryStore::new();
    let two = "{\"phones\": [\"+14155550401\", \"+14155550402\"]}";
    assert_eq!(send(&policy, &store, 0, two, "pass@farm-1", 1).action, Action::Allow);
    assert_eq!(send(&policy, &store, 1, &phone(403), "pass@farm-2", 2).action, Action::Block);
    let three = "{\"phones\": [\"+14155550411\", \"+14155550412\", \"+14155550413\"]}";
    let d = send(&policy, &store, 2, three, "pass@fresh-1", 3);
    assert_eq!(
        d.error_code().map(|c| c.as_str()),
        Some("rate_limited"),
        "three SMS on one solve overrun a budget of two"
    );
}

#[test]
fn other_key_parts_are_kept_around_the_solver() {
    let policy = policy(json!(["route", "captcha_solver", {"prefix": 5}]), None);
    let store = MemoryStore::new();
    for i in 0..2 {
        assert_eq!(
            send(&policy, &store, i, &phone(500 + i as u32), &format!("pass@farm-{i}"), 1).action,
            Action::Allow
        );
    }
    let uk = "{\"phone\": \"+447911123500\"}";
    assert_eq!(
        send(&policy, &store, 3, uk, "pass@farm-3", 1).action,
        Action::Allow,
        "another prefix, another key"
    );
    assert_eq!(send(&policy, &store, 4, &phone(502), "pass@farm-4", 1).action, Action::Block);
}

#[test]
fn the_solver_is_read_from_siteverify_metadata() {
    let policy = policy(json!(["captcha_solver"]), None);
    let captcha = policy.captcha().unwrap();
    let answer = |body: &str| pumpguard_core::captcha::interpret_siteverify(captcha, 200, body.as_bytes());
    assert_eq!(
        answer(r#"{"success": true, "metadata": {"ephemeral_id": "x:9f78e0ed210960d7693b167e"}}"#),
        TokenVerdict::Valid { solver: Some("x:9f78e0ed210960d7693b167e".into()) }
    );
    assert_eq!(answer(r#"{"success": true}"#), TokenVerdict::Valid { solver: None });
    assert_eq!(
        answer(r#"{"success": true, "metadata": {"interactive": false}}"#),
        TokenVerdict::Valid { solver: None }
    );
    assert_eq!(
        answer(r#"{"success": true, "metadata": {"ephemeral_id": ""}}"#),
        TokenVerdict::Valid { solver: None }
    );
    // A shape we do not know is ignored, never an unreadable answer.
    for odd in [r#""x:1""#, "[1]", "null", r#"{"ephemeral_id": 42}"#, r#"{"ephemeral_id": {"id": "x"}}"#] {
        let body = format!(r#"{{"success": true, "metadata": {odd}}}"#);
        assert_eq!(answer(&body), TokenVerdict::Valid { solver: None }, "{body}");
    }
    assert!(matches!(
        answer(r#"{"success": false, "metadata": {"ephemeral_id": "x:1"}}"#),
        TokenVerdict::Invalid { .. }
    ));
}

/// Looks numbers up at the corpus' fake provider (a number ending 99 is a high pumping risk, one
/// ending 95 gets HTTP 500) and judges solving devices by conversion.
fn intel_policy(count_intel_refusals: bool) -> Policy {
    let doc = json!({
        "version": 1,
        "routes": [
            {"id": "otp", "kind": "send", "match": {"path": {"exact": "/otp"}},
             "extract": {"json_keys": ["phone"], "token": {"header": "cf-turnstile-response"}}},
            {"id": "verify", "kind": "confirm", "match": {"path": {"exact": "/otp/verify"}},
             "extract": {"json_keys": ["phone"]}},
        ],
        "captcha": {"provider": "turnstile", "secret": "s", "on_unavailable": "block"},
        "number_intel": {"url": "https://lookups.example.com/v2/PhoneNumbers/{e164}", "timeout_ms": 300,
                         "cache_seconds": 3600, "on_unavailable": "block",
                         "response": {"risk_score": "/sms_pumping_risk/sms_pumping_risk_score"}},
        "rules": [
            {"id": "captcha", "action": "challenge", "captcha": {}},
            {"id": "solver-conversion", "action": "block",
             "conversion": {"scope": "captcha_solver", "min_sends": 3, "min_ratio": 0.5,
                            "window_seconds": 3600, "block_seconds": 600,
                            "count_intel_refusals": count_intel_refusals}},
            {"id": "intel", "action": "block", "number_intel": {"min_risk": 75}},
        ],
    });
    Policy::from_json(&doc.to_string()).unwrap()
}

/// One send to +1415555`n` with `token`, verified and looked up by the corpus' fakes.
fn send_looked_up(policy: &Policy, store: &MemoryStore, at_s: u64, n: u32, token: &str) -> Decision {
    let body = phone(n);
    let headers = [("content-type", "application/json"), ("cf-turnstile-response", token)];
    let req = request(&body, &headers, 7);
    let lookup = |l: &pumpguard_core::intel::NumberLookup| simulated_lookup(policy, l);
    policy.decide_with(&req, Timestamp::from_millis(at_s * 1000), store, simulated_siteverify, lookup)
}

fn rule_of(d: &Decision) -> Option<&str> {
    d.primary().and_then(|r| r.rule.as_deref())
}

#[test]
fn a_device_solving_for_numbers_the_provider_refuses_is_judged_by_them() {
    for counted in [true, false] {
        let policy = intel_policy(counted);
        let store = MemoryStore::new();
        for i in 0..3 {
            let d = send_looked_up(&policy, &store, i, 199 + 1000 * i as u32, &format!("pass@farm-{i}"));
            assert_eq!((d.action, rule_of(&d)), (Action::Block, Some("intel")), "probe {i}");
            assert_eq!(d.captcha_solver.as_deref(), Some("x:farm"));
        }
        let d = send_looked_up(&policy, &store, 3, 101, "pass@farm-3");
        if counted {
            assert_eq!((d.action, rule_of(&d)), (Action::Block, Some("solver-conversion")), "{d:?}");
            assert_eq!(d.error_code().map(|c| c.as_str()), Some("low_conversion"));
        } else {
            assert_eq!(d.action, Action::Allow, "refused solves count nothing without the option");
        }
        // Another device is judged by its own solves.
        assert_eq!(send_looked_up(&policy, &store, 4, 102, "pass@other-1").action, Action::Allow);
    }
}

#[test]
fn refusals_that_are_not_the_providers_verdict_on_a_number_count_nothing() {
    let policy = intel_policy(true);
    let store = MemoryStore::new();
    // The provider fails (fail closed): no verdict on the number, nothing against the device.
    for i in 0..3 {
        let d = send_looked_up(&policy, &store, i, 195 + 1000 * i as u32, &format!("pass@farm-{i}"));
        assert_eq!(d.error_code().map(|c| c.as_str()), Some("number_intel_unavailable"), "{d:?}");
    }
    // A number the cache already knows is refused before siteverify names any device: only its
    // first, looked-up refusal counts.
    for i in 3..6 {
        let d = send_looked_up(&policy, &store, i, 299, &format!("pass@farm-{i}"));
        assert_eq!((d.action, rule_of(&d)), (Action::Block, Some("intel")), "probe {i}");
    }
    assert_eq!(send_looked_up(&policy, &store, 6, 101, "pass@farm-6").action, Action::Allow);
    // Without an id the solve is nobody's: nothing counts.
    let anonymous = MemoryStore::new();
    for i in 0..3 {
        send_looked_up(&policy, &anonymous, i, 199 + 1000 * i as u32, &format!("pass-plain-{i}"));
    }
    assert_eq!(send_looked_up(&policy, &anonymous, 3, 101, "pass@farm-0").action, Action::Allow);
}
