//! `client_country` with `proven_pairs`: a (client country, number country) pair whose real
//! users keep confirming their codes stops being a mismatch; a pair no one confirms in, or one a
//! campaign floods with sends nobody confirms, stays (or becomes again) one.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod support;

use std::cell::Cell;

use pumpguard_core::routes::ConfirmResponse;
use pumpguard_core::{Action, Decision, MemoryStore, Policy, Timestamp, TokenVerdict};
use serde_json::json;

fn policy() -> Policy {
    let doc = json!({
        "version": 1,
        "routes": [
            {"id": "otp", "kind": "send", "match": {"path": {"exact": "/otp"}},
             "extract": {"json_keys": ["phone", "backup"], "token": {"header": "cf-turnstile-response"}}},
            {"id": "verify", "kind": "confirm", "match": {"path": {"exact": "/verify"}}, "extract": {"json_keys": ["phone"]}},
        ],
        "captcha": {"provider": "turnstile", "secret": "test-secret", "on_unavailable": "block"},
        "rules": [
            {"id": "abroad", "action": "challenge", "client_country": {
                "proven_pairs": {"min_confirms": 3, "min_ratio": 0.6, "window_seconds": 86_400}}},
        ],
    });
    Policy::from_json(&doc.to_string()).unwrap()
}

fn at(s: u64) -> Timestamp {
    Timestamp::from_millis(s * 1000)
}

/// A send from `client` (its `cf-ipcountry`) for `body`; a challenge is solved. Also tells
/// whether the request was challenged.
fn send(p: &Policy, store: &MemoryStore, client: &str, body: &str, t: u64) -> (Decision, bool) {
    let headers =
        [("content-type", "application/json"), ("cf-ipcountry", client), ("cf-turnstile-response", "solved")];
    let req = support::post("/otp", body, &headers, 10);
    let challenged = Cell::new(false);
    let verify = |_: &str| {
        challenged.set(true);
        TokenVerdict::Valid { solver: None }
    };
    let d = p.decide_with(&req, at(t), store, verify, |_| unreachable!());
    (d, challenged.get())
}

/// The code of `number` entered and accepted.
fn confirm(p: &Policy, store: &MemoryStore, number: &str, t: u64) {
    let body = format!(r#"{{"phone": "{number}"}}"#);
    let headers = [("content-type", "application/json"), ("cf-ipcountry", "ES")];
    let entered = p.decide(&support::post("/verify", &body, &headers, 10), at(t), store);
    p.record_confirm(&entered, &ConfirmResponse { status: 200, headers: &[], body: None }, at(t), store);
}

/// Whether the request's mismatch was spared (sent without a challenge).
fn spared((d, challenged): &(Decision, bool)) -> bool {
    let line = d.log_line();
    assert!(line.contains("client_country_mismatch"), "{line}");
    assert_eq!(d.action, Action::Allow, "{line}");
    !challenged
}

fn us_number(i: u32) -> String {
    format!("+1415555{i:04}")
}

fn phone(number: &str) -> String {
    format!(r#"{{"phone": "{number}"}}"#)
}

/// Three travellers in Spain with US numbers confirm their codes: the pair ES>US is proven.
fn prove_es_us(p: &Policy, store: &MemoryStore) {
    for i in 0..3 {
        let number = us_number(i);
        let d = send(p, store, "ES", &phone(&number), u64::from(i) * 100);
        assert!(!spared(&d), "traveller {i}: the pair is not proven yet");
        confirm(p, store, &number, u64::from(i) * 100 + 30);
    }
}

#[test]
fn travellers_of_a_proven_pair_are_spared_and_other_pairs_are_not() {
    let (p, store) = (policy(), MemoryStore::new());
    prove_es_us(&p, &store);
    let d = send(&p, &store, "ES", &phone(&us_number(10)), 1_000);
    assert!(spared(&d), "a new traveller of a proven pair");
    assert!(d.0.log_line().contains("spared: proven pair"), "{}", d.0.log_line());
    let d = send(&p, &store, "MX", &phone(&us_number(11)), 1_000);
    assert!(!spared(&d), "another client country is another pair");
    let d = send(&p, &store, "ES", &phone("+447911123456"), 1_000);
    assert!(!spared(&d), "another number country is another pair");
}

#[test]
fn a_second_number_in_an_unproven_pair_keeps_its_finding() {
    let (p, store) = (policy(), MemoryStore::new());
    prove_es_us(&p, &store);
    let body = format!(r#"{{"phone": "{}", "backup": "+447911123456"}}"#, us_number(20));
    let d = send(&p, &store, "ES", &body, 1_000);
    assert!(!spared(&d), "the GB number's pair is unproven: the request is still challenged");
    let line = d.0.log_line();
    assert_eq!(line.matches("spared: proven pair").count(), 1, "{line}");
}

#[test]
fn sends_nobody_confirms_unprove_the_pair() {
    let (p, store) = (policy(), MemoryStore::new());
    prove_es_us(&p, &store);
    // 3 confirms: proven while 3 >= 0.6 x sends, up to 5 sends; the pair has 3.
    assert!(spared(&send(&p, &store, "ES", &phone(&us_number(30)), 1_000)));
    assert!(spared(&send(&p, &store, "ES", &phone(&us_number(31)), 1_001)));
    assert!(!spared(&send(&p, &store, "ES", &phone(&us_number(32)), 1_002)), "3 of 6: under 0.6");
    assert!(!spared(&send(&p, &store, "ES", &phone(&us_number(33)), 1_003)));
}

#[test]
fn two_numbers_of_one_pair_in_one_request_count_two_sends() {
    let (p, store) = (policy(), MemoryStore::new());
    prove_es_us(&p, &store);
    // 3 confirms of 3 sends: two more keep it proven (3 of 5), a third does not (3 of 6).
    let body = format!(r#"{{"phone": "{}", "backup": "{}"}}"#, us_number(70), us_number(71));
    assert!(spared(&send(&p, &store, "ES", &body, 1_000)), "3 of 5 after both");
    assert!(!spared(&send(&p, &store, "ES", &phone(&us_number(72)), 1_001)), "3 of 6");
}

#[test]
fn replayed_or_made_up_confirmations_prove_nothing() {
    let (p, store) = (policy(), MemoryStore::new());
    let number = us_number(40);
    send(&p, &store, "ES", &phone(&number), 0);
    // One send, entered once and replayed; and numbers never sent to.
    for t in 0..5 {
        confirm(&p, &store, &number, 30 + t);
        confirm(&p, &store, &us_number(41 + t as u32), 30 + t);
    }
    assert!(!spared(&send(&p, &store, "ES", &phone(&us_number(50)), 100)), "one credited confirm of three");
}

#[test]
fn proof_expires_after_two_windows_without_travellers() {
    let (p, store) = (policy(), MemoryStore::new());
    prove_es_us(&p, &store);
    assert!(spared(&send(&p, &store, "ES", &phone(&us_number(60)), 86_400 + 10)));
    assert!(!spared(&send(&p, &store, "ES", &phone(&us_number(61)), 3 * 86_400)));
}

/// Tor's `T1` is a mismatch with every number and never a pair: however many clients come
/// through Tor and confirm, the next one is still challenged, so a campaign cannot prove Tor.
#[test]
fn tor_is_never_a_proven_pair() {
    let p = policy();
    let store = MemoryStore::new();
    for i in 0..10 {
        let number = us_number(100 + i);
        let d = send(&p, &store, "T1", &phone(&number), u64::from(i) * 100);
        assert!(!spared(&d), "Tor client {i}");
        confirm(&p, &store, &number, u64::from(i) * 100 + 30);
    }
    let d = send(&p, &store, "T1", &phone(&us_number(200)), 2_000);
    assert!(!spared(&d), "ten confirmed Tor sends prove nothing");
}

/// Without a token, the challenge says why: the client hid where it is.
#[test]
fn a_tor_client_is_challenged_with_the_reason() {
    let p = policy();
    let headers = [("content-type", "application/json"), ("cf-ipcountry", "T1")];
    let d =
        p.decide(&support::post("/otp", &phone(&us_number(300)), &headers, 10), at(0), &MemoryStore::new());
    assert_eq!(d.action, Action::Challenge);
    assert_eq!(d.reasons[0].detail.as_deref(), Some("client T1 (Tor), number US"));
}
