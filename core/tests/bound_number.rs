//! Sends naming only an account, judged as sends to the number the account's sign-up carried
//! (`bound_number`): what binds, what reads the binding, and what a host that skips the read
//! gets.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

#[path = "support/failing_store.rs"]
mod failing_store;
mod support;

use failing_store::FailingStore;

use pumpguard_core::decision::ReasonCode;
use pumpguard_core::routes::ConfirmResponse;
use pumpguard_core::{Action, Decision, MemoryStore, Policy, Timestamp};
use serde_json::json;
use support::{SIGN_UP_BY_EMAIL as BY_EMAIL, SIGN_UP_BY_SMS as BY_SMS};

/// The Cognito routes, a bound_number rule kept a day, three sends per number a day, and
/// `extra` rules.
fn policy(extra: &[serde_json::Value]) -> Policy {
    let mut rules = vec![
        json!({"id": "bound", "action": "log", "bound_number": {"keep_seconds": 86_400}}),
        json!({"id": "per-number", "action": "throttle",
               "rate_limit": {"key": ["number"], "rate": 3, "per_seconds": 86_400, "burst": 3}}),
    ];
    rules.extend(extra.iter().cloned());
    support::cognito_policy(rules)
}

struct Pool<'p> {
    policy: &'p Policy,
    store: MemoryStore,
}

impl Pool<'_> {
    /// A call judged at `at_s` and, when forwarded, answered `status` with `answer` and recorded
    /// as a host records it.
    fn call(&self, op: &str, body: serde_json::Value, at_s: u64, status: u16, answer: &str) -> Decision {
        let target = format!("AWSCognitoIdentityProviderService.{op}");
        let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target.as_str())];
        let body = body.to_string();
        let now = Timestamp::from_millis(at_s * 1000);
        let d = self.policy.decide(&support::post("/", &body, &headers, 10), now, &self.store);
        let response = ConfirmResponse { status, headers: &[], body: Some(answer.as_bytes()) };
        self.policy.record_confirm(&d, &response, now, &self.store);
        d
    }

    fn sign_up(&self, user: &str, number: &str, at_s: u64, answer: &str) -> Decision {
        let attributes = json!([{"Name": "phone_number", "Value": number}]);
        self.call("SignUp", json!({"Username": user, "UserAttributes": attributes}), at_s, 200, answer)
    }

    fn resend(&self, user: &str, at_s: u64) -> Decision {
        self.call("ResendConfirmationCode", json!({"Username": user}), at_s, 200, "{}")
    }
}

/// The number a decision judged as the account's, if any.
fn bound(d: &Decision) -> Option<&str> {
    d.numbers.iter().find(|n| n.from_account).map(|n| n.e164.as_str())
}

#[test]
fn only_a_sign_up_whose_code_went_by_sms_binds() {
    let p = policy(&[]);
    let pool = Pool { policy: &p, store: MemoryStore::new() };
    pool.sign_up("alice@example.com", "+14155550101", 0, BY_SMS);
    let resend = pool.resend(" Alice@Example.com", 10);
    assert_eq!(bound(&resend), Some("+14155550101"));
    assert_eq!(resend.numbers.len(), 1);

    // By e-mail: the number never had the code, the user's sends are judged by the account.
    pool.sign_up("bob@example.com", "+14155550102", 20, BY_EMAIL);
    assert_eq!(bound(&pool.resend("bob@example.com", 30)), None);
    // Refused by origin (a name taken): nothing sent, nothing bound.
    pool.call(
        "SignUp",
        json!({"Username": "carol@example.com",
               "UserAttributes": [{"Name": "phone_number", "Value": "+14155550103"}]}),
        40,
        400,
        r#"{"__type": "UsernameExistsException"}"#,
    );
    assert_eq!(bound(&pool.resend("carol@example.com", 50)), None);
    // A sign-up the guard refused never reached origin: nothing bound either.
    for at in 60..63 {
        pool.sign_up(&format!("d{at}@example.com"), "+14155550104", at, BY_SMS);
    }
    let refused = pool.sign_up("dave@example.com", "+14155550104", 63, BY_SMS);
    assert_eq!(refused.action, Action::Throttle);
    assert_eq!(bound(&pool.resend("dave@example.com", 64)), None);
}

#[test]
fn an_accounts_sends_count_against_its_number_and_a_decoy_beside_it_does_not_hide_it() {
    let p = policy(&[]);
    let pool = Pool { policy: &p, store: MemoryStore::new() };
    pool.sign_up("a@example.com", "+14155550101", 0, BY_SMS);
    assert_eq!(pool.resend("a@example.com", 10).action, Action::Allow);
    // The number's third send of the day, by a reset naming the user and carrying a decoy:
    // judged as both numbers, so the decoy's fresh budget does not hide the user's own.
    let reset = pool.call(
        "ForgotPassword",
        json!({"Username": "a@example.com",
               "UserAttributes": [{"Name": "phone_number", "Value": "+14155550199"}]}),
        20,
        200,
        "{}",
    );
    assert_eq!(reset.action, Action::Allow);
    let numbers: Vec<_> = reset.numbers.iter().map(|n| (n.e164.as_str(), n.from_account)).collect();
    assert_eq!(numbers, [("+14155550199", false), ("+14155550101", true)]);
    let fourth = pool.resend("a@example.com", 30);
    assert_eq!(fourth.action, Action::Throttle);
    assert!(fourth
        .reasons
        .iter()
        .any(|r| r.rule.as_deref() == Some("per-number") && r.number.as_deref() == Some("+14155550101")));
    // A decoy that is the bound number itself is one SMS, not two.
    let same = pool.call(
        "ForgotPassword",
        json!({"Username": "a@example.com",
               "UserAttributes": [{"Name": "phone_number", "Value": "+14155550101"}]}),
        40,
        200,
        "{}",
    );
    assert_eq!(same.numbers.len(), 1);
}

#[test]
fn a_binding_expires_and_a_later_sign_up_of_the_name_rebinds_it() {
    let p = policy(&[]);
    let pool = Pool { policy: &p, store: MemoryStore::new() };
    pool.sign_up("a@example.com", "+14155550101", 0, BY_SMS);
    assert_eq!(bound(&pool.resend("a@example.com", 86_399)), Some("+14155550101"));
    assert_eq!(bound(&pool.resend("a@example.com", 86_401)), None);
    pool.sign_up("a@example.com", "+14155550102", 86_500, BY_SMS);
    assert_eq!(bound(&pool.resend("a@example.com", 86_600)), Some("+14155550102"));
}

#[test]
fn a_trusted_bound_number_is_spared_as_if_the_request_carried_it() {
    let p = policy(&[
        json!({"id": "returning", "action": "log",
               "reputation": {"trust_seconds": 86_400, "confirm_within_seconds": 3600}}),
        json!({"id": "backoff", "action": "throttle", "skip_trusted": true,
               "backoff": {"base_seconds": 600, "factor": 2, "max_seconds": 3600, "reset_after_seconds": 3600}}),
    ]);
    let pool = Pool { policy: &p, store: MemoryStore::new() };
    pool.sign_up("a@example.com", "+14155550101", 0, BY_SMS);
    // Untrusted: the resend meets the number's backoff.
    let early = pool.resend("a@example.com", 30);
    assert_eq!(early.action, Action::Throttle);
    assert!(early.reasons.iter().any(|r| r.code == ReasonCode::Backoff));
    pool.call("ConfirmSignUp", json!({"Username": "a@example.com", "ConfirmationCode": "1"}), 60, 200, "{}");
    // Trusted through the binding: the account's reset is spared the backoff.
    let reset = pool.call("ForgotPassword", json!({"Username": "a@example.com"}), 90, 200, "{}");
    assert_eq!(reset.action, Action::Allow);
    assert!(reset.numbers.first().is_some_and(|n| n.trusted && n.from_account));
}

#[test]
fn without_the_binding_a_send_is_judged_by_its_account_and_a_host_skipping_the_read_fails() {
    let p = policy(&[]);
    // Reads of bindings fail.
    let store = FailingStore::failing("bn:");
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "AWSCognitoIdentityProviderService.ResendConfirmationCode"),
    ];
    let req = support::post("/", r#"{"Username": "a@example.com"}"#, &headers, 10);
    let now = Timestamp::from_millis(1000);
    // The read failed: judged by the account alone (the request's own checks meet the store).
    let d = p.decide(&req, now, &store);
    assert_eq!((d.action, bound(&d)), (Action::Allow, None));

    let prepared = p.prepare(&req, now);
    assert!(prepared.reads_bound_number());
    // A host that concludes the read as if it were the request's checks: a store failure.
    let skipped = p.conclude(prepared.clone(), &[]);
    assert!(skipped.reasons.iter().any(|r| r.code == ReasonCode::StoreUnavailable));
    // Step 1 again on a request that asked for no read changes nothing.
    let again = p.prepare_bound(&req, now, prepared.clone(), &[]);
    assert!(!again.reads_bound_number());
    let settled = p.prepare_bound(&req, now, again.clone(), &[]);
    assert_eq!(settled.checks(), again.checks());
    // A request refused already (a number it carries cannot be parsed) reads nothing.
    let garbled =
        r#"{"Username": "a@example.com", "UserAttributes": [{"Name": "phone_number", "Value": "+1x"}]}"#;
    let refused = p.prepare(&support::post("/", garbled, &headers, 10), now);
    assert!(!refused.reads_bound_number());
    assert_eq!(p.conclude(refused, &[]).action, Action::Block);
}

#[test]
fn the_bound_number_rule_is_checked_at_load() {
    let load = |rule: serde_json::Value, preset: &str| {
        let doc = json!({
            "version": 1, "default_region": "US",
            "routes": [{"id": "send", "kind": "send", "extract": {"preset": preset}}],
            "rules": [rule],
        });
        Policy::from_json(&doc.to_string()).err().map(|e| e.to_string()).unwrap_or_default()
    };
    let ok = json!({"id": "b", "action": "log", "bound_number": {}});
    assert_eq!(load(ok.clone(), "cognito"), "");
    assert!(load(json!({"id": "b", "action": "block", "bound_number": {}}), "cognito")
        .contains("rules[0].action"));
    assert!(load(ok, "firebase").contains("binds an account"));
    assert!(load(json!({"id": "b", "action": "log", "bound_number": {"keep_seconds": 60}}), "cognito")
        .contains("rules[0].bound_number.keep_seconds"));
    assert!(load(json!({"id": "b", "action": "log", "skip_trusted": true, "bound_number": {}}), "cognito")
        .contains("rules[0].skip_trusted"));
    let risky = json!({
        "version": 1, "default_region": "US", "risk": {"challenge_at": 50},
        "routes": [{"id": "send", "kind": "send", "extract": {"preset": "cognito"}}],
        "rules": [{"id": "b", "action": "log", "risk": 50, "bound_number": {}},
                  {"id": "c", "action": "log", "bound_number": {}}],
    });
    let errors = Policy::from_json(&risky.to_string()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(errors.contains("rules[0].risk") && errors.contains("rules[1].bound_number"), "{errors}");
}

/// A password sign-in sends an SMS only with SMS MFA and the right password, which only the
/// answer tells: it is left to the account's own limits, so a real user retrying a mistyped
/// password never meets the number's backoff. A sign-in asking for an SMS code, or a body the
/// guard cannot read as a password sign-in, is a send to the account's number.
#[test]
fn password_sign_ins_are_judged_by_their_account_and_sms_sign_ins_by_its_number() {
    let p = policy(&[]);
    let pool = Pool { policy: &p, store: MemoryStore::new() };
    pool.sign_up("a@example.com", "+14155550101", 0, BY_SMS);
    let sign_in = |flow: &str, params: serde_json::Value, at_s: u64| {
        pool.call("InitiateAuth", json!({"AuthFlow": flow, "AuthParameters": params}), at_s, 200, "{}")
    };
    for at in 1..5 {
        let typo = sign_in("USER_PASSWORD_AUTH", json!({"USERNAME": "a@example.com", "PASSWORD": "x"}), at);
        assert_eq!((typo.action, bound(&typo)), (Action::Allow, None));
    }
    let verifier = pool.call(
        "RespondToAuthChallenge",
        json!({"ChallengeName": "PASSWORD_VERIFIER", "ChallengeResponses": {"USERNAME": "a@example.com"}}),
        6,
        200,
        "{}",
    );
    assert_eq!(bound(&verifier), None);
    let chosen = json!({"USERNAME": "a@example.com", "PREFERRED_CHALLENGE": "PASSWORD"});
    assert_eq!(bound(&sign_in("USER_AUTH", chosen, 7)), None);

    // An SMS code asked for: a send to the number, its second of the day.
    let sms = json!({"USERNAME": "a@example.com", "PREFERRED_CHALLENGE": "SMS_OTP"});
    assert_eq!(bound(&sign_in("USER_AUTH", sms, 8)), Some("+14155550101"));
    // A repeated key origin may read either way is no password sign-in.
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "AWSCognitoIdentityProviderService.InitiateAuth"),
    ];
    let twice = r#"{"AuthFlow": "USER_PASSWORD_AUTH", "AuthFlow": "USER_AUTH",
        "AuthParameters": {"USERNAME": "a@example.com", "PREFERRED_CHALLENGE": "SMS_OTP"}}"#;
    let now = Timestamp::from_millis(9_000);
    let d = p.decide(&support::post("/", twice, &headers, 10), now, &pool.store);
    assert_eq!(bound(&d), Some("+14155550101"));
    assert_eq!(d.action, Action::Allow, "the number's third send of the day");
    // Nor is a request naming two operations.
    let two_calls = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "AWSCognitoIdentityProviderService.InitiateAuth"),
        ("x-amz-target", "AWSCognitoIdentityProviderService.ResendConfirmationCode"),
    ];
    let body = r#"{"AuthFlow": "USER_PASSWORD_AUTH", "Username": "a@example.com",
        "AuthParameters": {"USERNAME": "a@example.com"}}"#;
    let d = p.decide(&support::post("/", body, &two_calls, 10), now, &pool.store);
    assert_eq!((bound(&d), d.action), (Some("+14155550101"), Action::Throttle), "its fourth");
}
