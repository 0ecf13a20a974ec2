//! Conversion judged per client address (`"scope": "client_ip"`): counted per address, credited
//! through the number's send, named in the decision log.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod support;

use pumpguard_core::routes::ConfirmResponse;
use pumpguard_core::{Action, MemoryStore, Policy, Request, Timestamp};
use serde_json::json;

fn policy() -> Policy {
    let doc = json!({
        "version": 1,
        "routes": [
            {"id": "otp", "kind": "send", "match": {"path": {"exact": "/otp"}}, "extract": {"json_keys": ["phone"]}},
            {"id": "verify", "kind": "confirm", "match": {"path": {"exact": "/verify"}}, "extract": {"json_keys": ["phone"]}},
        ],
        "rules": [{"id": "address-conversion", "action": "block", "conversion": {"scope": "client_ip",
            "min_sends": 3, "min_ratio": 0.5, "window_seconds": 3600, "block_seconds": 600}}],
    });
    Policy::from_json(&doc.to_string()).unwrap()
}

const JSON: [(&str, &str); 1] = [("content-type", "application/json")];

fn body(n: u32) -> String {
    format!("{{\"phone\": \"+1415555{n:04}\"}}")
}

fn send(policy: &Policy, store: &MemoryStore, at_s: u64, req: &Request<'_>) -> pumpguard_core::Decision {
    policy.decide(req, Timestamp::from_millis(at_s * 1000), store)
}

fn confirm(policy: &Policy, store: &MemoryStore, at_s: u64, n: u32, ip: u8) {
    let body = body(n);
    let req = support::post("/verify", &body, &JSON, ip);
    let now = Timestamp::from_millis(at_s * 1000);
    let decision = policy.decide(&req, now, store);
    let response = ConfirmResponse { status: 200, headers: &[], body: None };
    policy.record_confirm(&decision, &response, now, store);
}

#[test]
fn an_address_is_judged_by_its_own_sends_and_credited_wherever_the_code_is_entered() {
    let policy = policy();
    let store = MemoryStore::new();
    // Address .10 sends four numbers; each code is entered from address .99.
    for i in 0..4 {
        let b = body(100 + i);
        let d = send(&policy, &store, u64::from(i) * 10, &support::post("/otp", &b, &JSON, 10));
        assert_eq!(d.action, Action::Allow, "send {i}");
        assert_eq!(d.client_address.as_deref(), Some("198.51.100.10"));
        confirm(&policy, &store, u64::from(i) * 10 + 5, 100 + i, 99);
    }
    // Address .20 sends three numbers nobody confirms: the third is refused, and the log names it.
    for i in 0..3 {
        let b = body(200 + i);
        let d = send(&policy, &store, 100 + u64::from(i), &support::post("/otp", &b, &JSON, 20));
        let expected = if i < 2 { Action::Allow } else { Action::Block };
        assert_eq!(d.action, expected, "send {i}");
        if i == 2 {
            assert!(d.log_line().contains(r#""client_address":"198.51.100.20""#), "{}", d.log_line());
        }
    }
    // The address that confirmed (.99) sent nothing and is not judged; .10 keeps sending.
    let b = body(300);
    assert_eq!(send(&policy, &store, 200, &support::post("/otp", &b, &JSON, 10)).action, Action::Allow);
}

#[test]
fn a_request_without_an_address_is_not_counted() {
    let policy = policy();
    let store = MemoryStore::new();
    for i in 0..5 {
        let b = body(400 + i);
        let mut req = support::post("/otp", &b, &JSON, 30);
        req.client_ip = None;
        let d = send(&policy, &store, u64::from(i), &req);
        assert_eq!(d.action, Action::Allow, "send {i}");
        assert_eq!(d.client_address, None);
        let line = d.log_line();
        assert!(!line.contains(r#""client_address":"#), "{line}");
        // The host gave no address: the log says the rule read an input that never came.
        assert!(line.contains(r#""missing_inputs":["client_address"]"#), "{line}");
    }
}

#[test]
fn a_network_scope_counts_and_names_the_network() {
    let doc = json!({
        "version": 1,
        "routes": [
            {"id": "otp", "kind": "send", "match": {"path": {"exact": "/otp"}}, "extract": {"json_keys": ["phone"]}},
            {"id": "verify", "kind": "confirm", "match": {"path": {"exact": "/verify"}}, "extract": {"json_keys": ["phone"]}},
        ],
        "rules": [{"id": "net-conversion", "action": "block", "conversion": {
            "scope": {"client_net": {"v4": 24, "v6": 48}},
            "min_sends": 3, "min_ratio": 0.5, "window_seconds": 3600, "block_seconds": 600}}],
    });
    let policy = Policy::from_json(&doc.to_string()).unwrap();
    let store = MemoryStore::new();
    // Three addresses of one /24, none of whose codes is entered: the third send is refused.
    for (i, ip) in [10u8, 11, 12].into_iter().enumerate() {
        let b = body(500 + u32::from(ip));
        let d = send(&policy, &store, i as u64, &support::post("/otp", &b, &JSON, ip));
        assert_eq!(d.action, if i < 2 { Action::Allow } else { Action::Block }, "send {i}");
        assert_eq!(d.client_address.as_deref(), Some("198.51.100.0/24"));
    }
}

/// A dual-stack proxy in front may hand IPv4 clients over as IPv4-mapped IPv6
/// (`::ffff:198.51.100.20`). Keyed as IPv6 by their /64 they would all be one client: one
/// budget, and one bot's unconfirmed sends would block every IPv4 user. They are IPv4 addresses.
#[test]
fn an_ipv4_mapped_address_is_the_ipv4_client_it_names() {
    let policy = policy();
    let store = MemoryStore::new();
    let mapped =
        |last: u8| std::net::IpAddr::from(std::net::Ipv4Addr::new(198, 51, 100, last).to_ipv6_mapped());
    // A bot on .20 sends three numbers nobody confirms: its address is blocked at the third.
    for i in 0..3 {
        let b = body(500 + i);
        let mut req = support::post("/otp", &b, &JSON, 20);
        req.client_ip = Some(mapped(20));
        let d = send(&policy, &store, u64::from(i), &req);
        assert_eq!(d.action, if i < 2 { Action::Allow } else { Action::Block }, "send {i}");
        assert_eq!(d.client_address.as_deref(), Some("198.51.100.20"));
    }
    // Another IPv4 client, mapped too, is its own address; and the bot is the same one unmapped.
    let b = body(600);
    let mut req = support::post("/otp", &b, &JSON, 21);
    req.client_ip = Some(mapped(21));
    assert_eq!(send(&policy, &store, 10, &req).action, Action::Allow);
    let b = body(601);
    assert_eq!(send(&policy, &store, 11, &support::post("/otp", &b, &JSON, 20)).action, Action::Block);
}
