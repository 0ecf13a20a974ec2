//! Whatever a client sends, deciding never panics (a panic kills the wasm VM and all traffic),
//! and shadow mode never changes the answer.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use proptest::prelude::*;
use pumpguard_core::{
    Action, EdgeSignals, HttpVersion, MemoryStore, Policy, Request, Timestamp, TlsFingerprints,
};

fn policy(shadow: bool) -> &'static Policy {
    static PLAIN: OnceLock<Policy> = OnceLock::new();
    static SHADOW: OnceLock<Policy> = OnceLock::new();
    (if shadow { &SHADOW } else { &PLAIN }).get_or_init(|| load(shadow))
}

fn load(shadow: bool) -> Policy {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("../../bench/fixtures/policy.json")).unwrap();
    doc["shadow"] = serde_json::Value::Bool(shadow);
    doc["rules"][5]["rate_limit"]["rate"] = 2.into();
    doc["rules"][5]["rate_limit"]["burst"] = 2.into();
    // Host-supplied edge signals are judged too (any u8, not only 1 to 99).
    if let Some(rules) = doc["rules"].as_array_mut() {
        rules.push(serde_json::json!({"id": "edge-bot", "action": "log",
            "bot_score": {"below": 30, "missing": true, "verified_bots": "judge"}}));
    }
    Policy::from_json(&doc.to_string()).unwrap()
}

fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("application/json".to_owned()),
        Just("application/x-www-form-urlencoded".to_owned()),
        Just("multipart/form-data; boundary=b".to_owned()),
        Just("text/plain".to_owned()),
        "[ -~]{0,40}",
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        "\\{\"phone\":\"[+0-9 ()\\-]{0,20}\"\\}".prop_map(String::into_bytes),
        "phone=[%+0-9A-F]{0,30}".prop_map(String::into_bytes),
        "[\\[\\]{}\",:0-9a-z\\\\u+]{0,120}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]
    #[test]
    fn decide_never_panics(
        path in prop_oneof![Just("/api/otp/send".to_owned()), "/[ -~]{0,30}", "/\\PC{0,30}"],
        ct in content_type(),
        body in body(),
        truncated in any::<bool>(),
        // Values beyond ASCII too: hosts hand over obs-text bytes as U+FFFD (Envoy) or decoded (Workers).
        extra in proptest::collection::vec(("[a-z\\-]{1,12}", prop_oneof!["[ -~]{0,40}", "\\PC{0,40}", "[\u{fffd}a-z]{0,20}"]), 0..6),
        ja3 in proptest::option::of("[0-9a-fA-F]{0,40}"),
        ja4 in proptest::option::of("[ -~]{0,40}"),
        bot_score in proptest::option::of(any::<u8>()),
        verified_bot in proptest::option::of(any::<bool>()),
        now in 0u64..u64::MAX / 2,
    ) {
        let policy = policy(false);
        let store = MemoryStore::new();
        let mut headers: Vec<(&str, &str)> = vec![("content-type", ct.as_str())];
        headers.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let req = Request {
            method: "POST",
            authority: "app.example.com",
            path: &path,
            version: HttpVersion::Http2,
            headers: &headers,
            body: &body,
            body_truncated: truncated,
            client_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            tls: TlsFingerprints { ja3: ja3.as_deref(), ja4: ja4.as_deref() },
            edge: EdgeSignals { bot_score, verified_bot },
        };
        let decision = policy.decide(&req, Timestamp::from_millis(now), &store);
        prop_assert_eq!(decision.action == Action::Allow, decision.error_body().is_none());
        let _ = decision.log_line();
        let _ = decision.origin_headers();
    }

    #[test]
    fn shadow_mode_never_changes_the_answer(
        numbers in proptest::collection::vec("\\+[1-9][0-9]{6,13}", 1..8),
    ) {
        let shadow = policy(true);
        let store = MemoryStore::new();
        for (i, number) in numbers.iter().enumerate() {
            let body = format!("{{\"phone\":\"{number}\"}}");
            let headers = [("content-type", "application/json")];
            let req = Request {
                method: "POST", authority: "app.example.com", path: "/api/otp/send",
                version: HttpVersion::Http11, headers: &headers, body: body.as_bytes(),
                body_truncated: false, client_ip: None, tls: TlsFingerprints::default(),
                edge: Default::default(),
            };
            let d = shadow.decide(&req, Timestamp::from_millis(i as u64), &store);
            // Only input handling (invalid numbers) is enforced in shadow mode.
            let rule_enforced = d.reasons.iter().any(|r| r.rule.is_some() && r.enforced);
            prop_assert!(!rule_enforced, "{}", d.log_line());
        }
    }
}
