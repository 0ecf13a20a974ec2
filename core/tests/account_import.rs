//! Accounts in a `trust_import`: an account the guard saw no sign-up of (made before it ran) is
//! judged by the number the site's records hold for it, as one it saw sign up is: its resends by
//! that number's limits (`bound_number`, a verified number), its password sign-ins by that
//! number's count (`bound_sign_ins`, proven when verified).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

#[path = "support/failing_store.rs"]
mod failing_store;
mod support;

use failing_store::FailingStore;

use pumpguard_core::routes::ConfirmResponse;
use pumpguard_core::{Action, Decision, MemoryStore, Policy, Timestamp};
use serde_json::json;

const PATH: &str = "/__pumpguard/trusted-numbers";
const TOKEN: &str = "pumpguard-scenario-import-token";
const TOKEN_SHA256: &str = "9d737af9ee7e536d5a63c063a963110f6910183ff55527f6352855733e569804";
const SMS_MFA: &str = r#"{"ChallengeName": "SMS_MFA", "Session": "s"}"#;

/// Cognito's routes, trust, the account rules `rules`, one send per number a day, and the import.
fn policy(rules: &[serde_json::Value]) -> Policy {
    let mut all = vec![
        json!({"id": "returning", "action": "log", "reputation": {}}),
        json!({"id": "per-number", "action": "throttle",
               "rate_limit": {"key": ["number"], "rate": 1, "per_seconds": 86_400, "burst": 1}}),
    ];
    all.extend(rules.iter().cloned());
    let doc = json!({
        "version": 1, "default_region": "US",
        "routes": [{"id": "cognito", "kind": "send", "extract": {"preset": "cognito"}},
                   {"id": "cognito-confirm", "kind": "confirm", "extract": {"preset": "cognito"}}],
        "rules": all,
        "trust_import": {"path": PATH, "token_sha256": TOKEN_SHA256, "max_numbers": 4},
    });
    Policy::from_json(&doc.to_string()).unwrap()
}

fn bound() -> serde_json::Value {
    json!({"id": "bound", "action": "log", "bound_number": {}})
}

fn sign_ins() -> serde_json::Value {
    json!({"id": "sign-ins", "action": "throttle", "bound_sign_ins": {"limit": 1}})
}

/// Posts `body` as an import and commits its writes: the answer's body and status.
fn import(policy: &Policy, store: &dyn pumpguard_core::store::Store, body: &str) -> (serde_json::Value, u16) {
    let auth = format!("Bearer {TOKEN}");
    let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
    let now = Timestamp::from_millis(0);
    let decision = policy.decide(&support::post(PATH, body, &headers, 7), now, store);
    let done = policy.commit(decision, now, store);
    (serde_json::from_str(&done.error_body().unwrap()).unwrap(), done.status)
}

/// A Cognito call at `at_s`, answered `answer` when forwarded.
fn call(
    policy: &Policy,
    store: &MemoryStore,
    op: &str,
    body: serde_json::Value,
    at_s: u64,
    answer: &str,
) -> Decision {
    let target = format!("AWSCognitoIdentityProviderService.{op}");
    let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target.as_str())];
    let body = body.to_string();
    let now = Timestamp::from_millis(at_s * 1000);
    let d = policy.decide(&support::post("/", &body, &headers, 10), now, store);
    if d.action == Action::Allow {
        let response = ConfirmResponse { status: 200, headers: &[], body: Some(answer.as_bytes()) };
        policy.record_confirm(&d, &response, now, store);
    }
    d
}

fn sign_in(policy: &Policy, store: &MemoryStore, user: &str, at_s: u64) -> Decision {
    let body = json!({"AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": {"USERNAME": user}});
    call(policy, store, "InitiateAuth", body, at_s, SMS_MFA)
}

#[test]
fn an_imported_verified_account_sends_as_its_number() {
    let p = policy(&[bound()]);
    let store = MemoryStore::new();
    let body = r#"{"accounts": [{"account": " Alice@Example.com", "number": "+14155550101", "verified": true},
        {"account": "bob@example.com", "number": "+14155550102"}]}"#;
    let (answer, status) = import(&p, &store, body);
    assert_eq!((answer, status), (json!({"trusted": 0, "rejected": [], "accounts": 2}), 200));
    // The verified one's resends are sends to its number: the second of the day is throttled.
    let resend =
        |user: &str, at| call(&p, &store, "ResendConfirmationCode", json!({"Username": user}), at, "{}");
    assert_eq!(resend("alice@example.com", 1).action, Action::Allow);
    let second = resend("ALICE@example.com", 2);
    assert_eq!(second.action, Action::Throttle);
    assert!(second.numbers.iter().any(|n| n.from_account && n.e164 == "+14155550101"));
    // An unverified number is not where the service sends resends: judged by the account.
    assert!(resend("bob@example.com", 3).numbers.is_empty());
    assert!(resend("bob@example.com", 4).numbers.is_empty());
}

#[test]
fn imported_accounts_share_their_numbers_sign_in_count_and_verified_ones_are_spared() {
    let p = policy(&[sign_ins()]);
    let store = MemoryStore::new();
    let body = r#"{"numbers": ["+14155550199"], "accounts": [
        {"account": "owner@example.com", "number": "+14155550101", "verified": true},
        {"account": "old1@example.com", "number": "+14155550101"},
        {"account": "old2@example.com", "number": "+14155550101"}]}"#;
    let (answer, _) = import(&p, &store, body);
    assert_eq!(answer, json!({"trusted": 1, "rejected": [], "accounts": 3}));
    assert_eq!(sign_in(&p, &store, "old1@example.com", 1).action, Action::Allow);
    assert_eq!(sign_in(&p, &store, "old2@example.com", 2).action, Action::Throttle);
    assert_eq!(sign_in(&p, &store, "owner@example.com", 3).action, Action::Allow);
}

#[test]
fn accounts_no_rule_judges_are_rejected_and_entries_count_together() {
    let p = policy(&[]);
    let store = MemoryStore::new();
    let body = r#"{"accounts": [{"account": "a@example.com", "number": "+14155550101"}]}"#;
    let (answer, _) = import(&p, &store, body);
    assert_eq!(answer["rejected_accounts"], json!([{"index": 0, "error": "account_not_judged"}]));
    assert_eq!(answer["accounts"], 0);

    let p = policy(&[bound(), sign_ins()]);
    let body = r#"{"accounts": [{"account": "", "number": "+14155550101"},
        {"account": "a@example.com", "number": "4155550101"},
        {"account": "b@example.com", "number": "+1x"}]}"#;
    let (answer, _) = import(&p, &store, body);
    assert_eq!(
        answer["rejected_accounts"],
        json!([{"index": 0, "error": "account_not_judged"}, {"index": 1, "error": "not_e164"},
               {"index": 2, "error": "unparseable_number"}])
    );
    // Four entries at most, numbers and accounts together; a field the import does not know.
    let five = r#"{"numbers": ["+14155550101", "+14155550102"], "accounts": [
        {"account": "a", "number": "+14155550103"}, {"account": "b", "number": "+14155550104"},
        {"account": "c", "number": "+14155550105"}]}"#;
    let (answer, status) = import(&p, &store, five);
    assert_eq!((status, answer["error"].as_str()), (400, Some("too_many_numbers")), "{answer}");
    let unknown = r#"{"accounts": [{"account": "a", "number": "+14155550103", "phone_verified": true}]}"#;
    let (answer, status) = import(&p, &store, unknown);
    assert_eq!((status, answer["error"].as_str()), (400, Some("body_malformed")), "{answer}");
}

#[test]
fn a_failed_write_is_a_503_and_an_account_counts_once() {
    let p = policy(&[bound(), sign_ins()]);
    let body = r#"{"numbers": ["+14155550199"], "accounts": [
        {"account": "a@example.com", "number": "+14155550101", "verified": true},
        {"account": "b@example.com", "number": "+14155550102"}]}"#;
    // The accounts' records fail, the trust does not.
    let (answer, status) = import(&p, &FailingStore::failing("b"), body);
    assert_eq!(status, 503);
    assert_eq!(
        (answer["trusted"].as_u64(), answer["accounts"].as_u64(), answer["failed"].as_u64()),
        (Some(1), Some(0), Some(3))
    );
    assert_eq!(answer["error"], "store_unavailable");
}
