//! Password sign-ins of accounts whose SMS MFA goes to one number, limited by the codes such
//! sign-ins sent it (`bound_sign_ins`): with SMS MFA every right password sends one, and in a
//! pool that verifies e-mail addresses accounts cost an address. What counts, who is spared,
//! what proves, what moves the count.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

#[path = "support/failing_store.rs"]
mod failing_store;
mod support;

use failing_store::FailingStore;

use pumpguard_core::decision::ReasonCode;
use pumpguard_core::routes::ConfirmResponse;
use pumpguard_core::store::Store;
use pumpguard_core::{Action, Decision, MemoryStore, Policy, Timestamp};
use serde_json::json;
use support::{SIGN_UP_BY_EMAIL as BY_EMAIL, SIGN_UP_BY_SMS as BY_SMS};

/// Cognito's answer to a sign-up the pool confirmed itself.
const CONFIRMED: &str = r#"{"UserConfirmed": true, "UserSub": "u"}"#;
/// Cognito's answer to a right password of a user with SMS MFA.
const SMS_MFA: &str = r#"{"ChallengeName": "SMS_MFA", "ChallengeParameters": {
    "CODE_DELIVERY_DELIVERY_MEDIUM": "SMS", "CODE_DELIVERY_DESTINATION": "+*******0101"}, "Session": "s"}"#;
/// Cognito's answer to a right password of a user without MFA, and to a right code.
const SIGNED_IN: &str = r#"{"AuthenticationResult": {"AccessToken": "t"}}"#;
const WRONG_PASSWORD: &str = r#"{"__type": "NotAuthorizedException"}"#;

const NUMBER: &str = "+14155550101";

/// The Cognito routes, a bound_number rule, three SMS sign-ins per number a day, and `extra`.
fn policy(extra: &[serde_json::Value]) -> Policy {
    let mut rules = vec![
        json!({"id": "bound", "action": "log", "bound_number": {}}),
        json!({"id": "numbers-sign-ins", "action": "throttle",
               "bound_sign_ins": {"limit": 3, "per_seconds": 86_400}}),
    ];
    rules.extend(extra.iter().cloned());
    support::cognito_policy(rules)
}

struct Pool<'p, S = MemoryStore> {
    policy: &'p Policy,
    store: S,
}

impl<S: Store> Pool<'_, S> {
    /// A call judged at `at_s` and, when forwarded, answered `status` with `answer` and recorded
    /// as a host records it.
    fn call(&self, op: &str, body: &str, at_s: u64, status: u16, answer: &str) -> Decision {
        let target = format!("AWSCognitoIdentityProviderService.{op}");
        let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target.as_str())];
        let now = Timestamp::from_millis(at_s * 1000);
        let d = self.policy.decide(&support::post("/", body, &headers, 10), now, &self.store);
        if d.action == Action::Allow {
            let response = ConfirmResponse { status, headers: &[], body: Some(answer.as_bytes()) };
            self.policy.record_confirm(&d, &response, now, &self.store);
        }
        d
    }

    fn sign_up(&self, user: &str, at_s: u64, answer: &str) -> Decision {
        let body = json!({"Username": user, "UserAttributes": [{"Name": "phone_number", "Value": NUMBER}]});
        self.call("SignUp", &body.to_string(), at_s, 200, answer)
    }

    fn sign_in(&self, user: &str, at_s: u64, status: u16, answer: &str) -> Decision {
        let body = json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": "c",
                          "AuthParameters": {"USERNAME": user, "PASSWORD": "p"}});
        self.call("InitiateAuth", &body.to_string(), at_s, status, answer)
    }

    fn enter_mfa_code(&self, user: &str, at_s: u64, status: u16) -> Decision {
        let body = json!({"ChallengeName": "SMS_MFA", "ClientId": "c", "Session": "s",
                          "ChallengeResponses": {"USERNAME": user, "SMS_MFA_CODE": "123456"}});
        let answer = if status == 200 { SIGNED_IN } else { r#"{"__type": "CodeMismatchException"}"# };
        self.call("RespondToAuthChallenge", &body.to_string(), at_s, status, answer)
    }
}

fn refused_by_the_count(d: &Decision) -> bool {
    d.action == Action::Throttle
        && d.reasons.iter().any(|r| {
            r.rule.as_deref() == Some("numbers-sign-ins")
                && r.code == ReasonCode::RateLimited
                && r.number.as_deref() == Some(NUMBER)
        })
}

/// A pool that verifies e-mail addresses, SMS MFA required: a campaign's accounts, each made
/// with one e-mail address and the same number, sign in by password, each sending that number
/// a code. Only answers that say a code went count, and past the count every unproven account
/// of the number is refused, with the wait.
#[test]
fn accounts_made_for_one_number_share_its_count_of_sms_sign_ins() {
    let p = policy(&[]);
    let pool = Pool { policy: &p, store: MemoryStore::new() };
    for i in 0..10 {
        assert_eq!(pool.sign_up(&format!("bot{i}@example.com"), i, BY_EMAIL).action, Action::Allow);
    }
    // A wrong password, and a right one without MFA, sent nothing: counted nothing.
    for at in 10..20 {
        assert_eq!(pool.sign_in("bot0@example.com", at, 400, WRONG_PASSWORD).action, Action::Allow);
    }
    assert_eq!(pool.sign_in("bot0@example.com", 20, 200, SIGNED_IN).action, Action::Allow);
    for i in 0..3 {
        assert_eq!(pool.sign_in(&format!("bot{i}@example.com"), 30 + i, 200, SMS_MFA).action, Action::Allow);
    }
    for i in 3..10 {
        let refused = pool.sign_in(&format!("bot{i}@example.com"), 40 + i, 200, SMS_MFA);
        assert!(refused_by_the_count(&refused), "{refused:?}");
        assert!(refused.retry_after_seconds.is_some_and(|s| s > 28_000), "{:?}", refused.retry_after_seconds);
    }
    // A third of the day after the first code, one more sign-in fits.
    assert_eq!(pool.sign_in("bot9@example.com", 30 + 28_800, 200, SMS_MFA).action, Action::Allow);
    assert!(refused_by_the_count(&pool.sign_in("bot8@example.com", 30 + 28_801, 200, SMS_MFA)));
    // Sign-ins of an account bound to no number are judged by the account alone.
    assert_eq!(pool.sign_in("stranger@example.com", 28_900, 200, SMS_MFA).action, Action::Allow);
}

/// An account that entered a code sent to its number is never refused by the number's count,
/// however many accounts someone else made for it; its own codes still count.
#[test]
fn an_account_that_entered_a_code_sent_to_its_number_is_spared() {
    let p = policy(&[]);
    let pool = Pool { policy: &p, store: MemoryStore::new() };
    pool.sign_up("owner@example.com", 0, BY_EMAIL);
    assert_eq!(pool.sign_in("owner@example.com", 1, 200, SMS_MFA).action, Action::Allow);
    // A wrong code proves nothing; the right one does.
    assert_eq!(pool.enter_mfa_code("owner@example.com", 2, 400).action, Action::Allow);
    assert_eq!(pool.enter_mfa_code("owner@example.com", 3, 200).action, Action::Allow);
    for i in 0..5 {
        pool.sign_up(&format!("bot{i}@example.com"), 10 + i, BY_EMAIL);
        pool.sign_in(&format!("bot{i}@example.com"), 20 + i, 200, SMS_MFA);
    }
    assert!(refused_by_the_count(&pool.sign_in("bot4@example.com", 30, 200, SMS_MFA)));
    for at in 40..45 {
        assert_eq!(pool.sign_in("owner@example.com", at, 200, SMS_MFA).action, Action::Allow);
    }
}

/// A sign-up's code proves the number only when it went there by SMS; a pool that confirmed the
/// user itself sent no code, and binds the number all the same.
#[test]
fn a_sign_up_code_proves_an_sms_binding_only() {
    let p = policy(&[]);
    let pool = Pool { policy: &p, store: MemoryStore::new() };
    pool.sign_up("sms@example.com", 0, BY_SMS);
    pool.sign_up("mail@example.com", 1, BY_EMAIL);
    pool.sign_up("auto@example.com", 2, CONFIRMED);
    let confirm = |user: &str, at: u64| {
        let body = json!({"Username": user, "ConfirmationCode": "123456", "ClientId": "c"});
        assert_eq!(pool.call("ConfirmSignUp", &body.to_string(), at, 200, "{}").action, Action::Allow);
    };
    confirm("sms@example.com", 3);
    confirm("mail@example.com", 4);
    for at in 10..13 {
        pool.sign_in("auto@example.com", at, 200, SMS_MFA);
    }
    assert!(refused_by_the_count(&pool.sign_in("auto@example.com", 20, 200, SMS_MFA)));
    assert!(refused_by_the_count(&pool.sign_in("mail@example.com", 21, 200, SMS_MFA)));
    assert_eq!(pool.sign_in("sms@example.com", 22, 200, SMS_MFA).action, Action::Allow);
}

/// A code answer whose body names a second user (a repeated key origin may read the other way)
/// proves nothing: one readable number would otherwise prove every account of a campaign.
#[test]
fn a_code_answer_hiding_a_second_user_proves_nothing() {
    let p = policy(&[]);
    let pool = Pool { policy: &p, store: MemoryStore::new() };
    for i in 0..4 {
        pool.sign_up(&format!("bot{i}@example.com"), i, BY_EMAIL);
    }
    for i in 0..3 {
        pool.sign_in(&format!("bot{i}@example.com"), 10 + i, 200, SMS_MFA);
    }
    let twice = r#"{"ChallengeName": "SMS_MFA", "Session": "s", "ChallengeResponses":
        {"USERNAME": "bot3@example.com", "USERNAME": "mine@example.com", "SMS_MFA_CODE": "1"}}"#;
    pool.call("RespondToAuthChallenge", twice, 20, 200, SIGNED_IN);
    assert!(refused_by_the_count(&pool.sign_in("bot3@example.com", 30, 200, SMS_MFA)));
}

/// The bound number's count is read with the binding's round; a store that fails it is the
/// store's `on_error`, and a failed binding read leaves the sign-in to its account.
#[test]
fn a_failing_store_is_the_stores_outcome() {
    let p = policy(&[]);
    let pool = Pool { policy: &p, store: FailingStore::failing("bsi:") };
    pool.sign_up("a@example.com", 0, BY_EMAIL);
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "AWSCognitoIdentityProviderService.InitiateAuth"),
    ];
    let body = r#"{"AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": {"USERNAME": "a@example.com"}}"#;
    let req = support::post("/", body, &headers, 10);
    let now = Timestamp::from_millis(10_000);
    let prepared = p.prepare(&req, now);
    assert!(prepared.reads_bound_number());
    // The count fails: the store's outcome (the default fails open, and says so).
    let d = p.decide(&req, now, &pool.store);
    assert!(d.reasons.iter().any(|r| r.code == ReasonCode::StoreUnavailable), "{d:?}");
    // Without the binding, the account alone.
    let d = p.decide(&req, now, &FailingStore::failing("bm:"));
    assert!(!d.reasons.iter().any(|r| r.rule.as_deref() == Some("numbers-sign-ins")));
}

/// A phone change moves where the account's SMS MFA goes: a campaign that signs up with a
/// throwaway number and moves each account to the one it pumps is counted at the pumped one.
#[test]
fn a_phone_change_moves_the_count_to_the_new_number() {
    let p = policy(&[]);
    let pool = Pool { policy: &p, store: MemoryStore::new() };
    for i in 0..5u64 {
        let user = format!("bot{i}@example.com");
        let throwaway = format!("+1415555{:04}", 200 + i);
        let body =
            json!({"Username": user, "UserAttributes": [{"Name": "phone_number", "Value": throwaway}]});
        pool.call("SignUp", &body.to_string(), i, 200, BY_EMAIL);
        let token = support::jwt(&json!({"username": user}));
        let change =
            json!({"AccessToken": token, "UserAttributes": [{"Name": "phone_number", "Value": NUMBER}]});
        let answer =
            r#"{"CodeDeliveryDetailsList": [{"AttributeName": "phone_number", "DeliveryMedium": "SMS"}]}"#;
        let moved = pool.call("UpdateUserAttributes", &change.to_string(), 10 + i, 200, answer);
        assert_eq!(moved.action, Action::Allow, "{moved:?}");
    }
    for i in 0..3 {
        assert_eq!(pool.sign_in(&format!("bot{i}@example.com"), 20 + i, 200, SMS_MFA).action, Action::Allow);
    }
    assert!(refused_by_the_count(&pool.sign_in("bot3@example.com", 30, 200, SMS_MFA)));
    // A change origin refused (a token it did not take) moves nothing.
    let token = support::jwt(&json!({"username": "bot4@example.com"}));
    let change =
        json!({"AccessToken": token, "UserAttributes": [{"Name": "phone_number", "Value": "+14155550777"}]});
    pool.call(
        "UpdateUserAttributes",
        &change.to_string(),
        31,
        400,
        r#"{"__type": "NotAuthorizedException"}"#,
    );
    assert!(refused_by_the_count(&pool.sign_in("bot4@example.com", 32, 200, SMS_MFA)));
}

/// Choosing SMS MFA after a right password (a user with two factors) sends the same code: it is
/// a sign-in as a password one is, counted and refused alike; a phone verification proves.
#[test]
fn choosing_sms_mfa_counts_and_a_phone_verification_proves() {
    let p = policy(&[]);
    let pool = Pool { policy: &p, store: MemoryStore::new() };
    for i in 0..5 {
        pool.sign_up(&format!("bot{i}@example.com"), i, BY_EMAIL);
    }
    let choose = |user: &str, at: u64| {
        let body = json!({"ChallengeName": "SELECT_MFA_TYPE", "Session": "s",
                          "ChallengeResponses": {"USERNAME": user, "ANSWER": "SMS_MFA"}});
        pool.call("RespondToAuthChallenge", &body.to_string(), at, 200, SMS_MFA)
    };
    for i in 0..3 {
        assert_eq!(choose(&format!("bot{i}@example.com"), 10 + i).action, Action::Allow);
    }
    assert!(refused_by_the_count(&choose("bot3@example.com", 20)));
    assert!(refused_by_the_count(&pool.sign_in("bot3@example.com", 21, 200, SMS_MFA)));
    let token = support::jwt(&json!({"username": "bot4@example.com"}));
    let verify = json!({"AccessToken": token, "AttributeName": "phone_number", "Code": "123456"});
    assert_eq!(pool.call("VerifyUserAttribute", &verify.to_string(), 22, 200, "{}").action, Action::Allow);
    assert_eq!(pool.sign_in("bot4@example.com", 23, 200, SMS_MFA).action, Action::Allow);
}

/// Cognito's answer to a sign-up by e-mail in a pool whose users sign in by e-mail: the user
/// name it made is the `sub` it answers.
fn by_email_as(sub: &str) -> String {
    json!({"CodeDeliveryDetails": {"AttributeName": "email", "DeliveryMedium": "EMAIL", "Destination": "m***@e***"},
           "UserConfirmed": false, "UserSub": sub})
    .to_string()
}

/// An SRP sign-in's second step (Amplify's default sign-in): it names the user as Cognito's
/// first answer did (`USER_ID_FOR_SRP`), which in a pool whose users sign in by e-mail is the
/// `sub` the sign-up was answered, never the e-mail it carried.
fn srp_sign_in(pool: &Pool<'_>, user: &str, at_s: u64) -> Decision {
    let body = json!({"ChallengeName": "PASSWORD_VERIFIER", "ClientId": "c", "Session": "s",
                      "ChallengeResponses": {"USERNAME": user, "PASSWORD_CLAIM_SECRET_BLOCK": "b",
                                             "PASSWORD_CLAIM_SIGNATURE": "sig", "TIMESTAMP": "t"}});
    pool.call("RespondToAuthChallenge", &body.to_string(), at_s, 200, SMS_MFA)
}

/// A pool whose users sign in by e-mail: the sign-up carries the e-mail, SRP sign-ins name the
/// `sub` Cognito answered the sign-up. Both names are the account's: the count holds against
/// either, its codes entered under the `sub` prove it, and a `sub` no sign-up was answered
/// (or one too long to be Cognito's) binds nothing.
#[test]
fn srp_sign_ins_naming_the_sub_a_sign_up_was_answered_are_counted() {
    let p = policy(&[]);
    let pool = Pool { policy: &p, store: MemoryStore::new() };
    let sub = |i: u64| format!("9a1c0e2b-0000-4000-8000-{i:012}");
    for i in 0..6 {
        assert_eq!(
            pool.sign_up(&format!("bot{i}@example.com"), i, &by_email_as(&sub(i))).action,
            Action::Allow
        );
    }
    for i in 0..3 {
        assert_eq!(srp_sign_in(&pool, &sub(i), 10 + i).action, Action::Allow);
    }
    // Past the count, by the `sub` (in any case) and by the e-mail alike.
    assert!(refused_by_the_count(&srp_sign_in(&pool, &sub(3).to_uppercase(), 20)));
    assert!(refused_by_the_count(&pool.sign_in("bot4@example.com", 21, 200, SMS_MFA)));
    // The owner enters the code of an SRP sign-in, as Amplify sends it: by the `sub`.
    let owner = "7f3e5d10-0000-4000-8000-000000000001";
    pool.sign_up("owner@example.com", 30, &by_email_as(owner));
    let body = json!({"ChallengeName": "SMS_MFA", "ClientId": "c", "Session": "s",
                      "ChallengeResponses": {"USERNAME": owner, "SMS_MFA_CODE": "123456"}});
    assert_eq!(
        pool.call("RespondToAuthChallenge", &body.to_string(), 31, 200, SIGNED_IN).action,
        Action::Allow
    );
    assert_eq!(srp_sign_in(&pool, owner, 32).action, Action::Allow);
    // An answer naming no id the service could have made binds no id.
    let long = "x".repeat(129);
    pool.sign_up("long@example.com", 40, &by_email_as(&long));
    assert_eq!(srp_sign_in(&pool, &long, 41).action, Action::Allow);
}

#[test]
fn the_bound_sign_ins_rule_is_checked_at_load() {
    let load = |rules: serde_json::Value, preset: &str| {
        let doc = json!({
            "version": 1, "default_region": "US",
            "routes": [{"id": "send", "kind": "send", "extract": {"preset": preset}}],
            "rules": rules,
        });
        Policy::from_json(&doc.to_string()).err().map(|e| e.to_string()).unwrap_or_default()
    };
    let rule = |extra: serde_json::Value| {
        let mut r = json!({"id": "s", "action": "block", "bound_sign_ins": {"limit": 5}});
        r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        r
    };
    assert_eq!(load(json!([rule(json!({}))]), "cognito"), "");
    assert!(load(json!([rule(json!({}))]), "firebase").contains("rules[0].routes"));
    assert!(load(json!([rule(json!({"skip_trusted": true}))]), "cognito").contains("rules[0].skip_trusted"));
    assert!(load(json!([rule(json!({"bound_sign_ins": {"limit": 0}}))]), "cognito")
        .contains("rules[0].bound_sign_ins.limit"));
    assert!(load(json!([rule(json!({"bound_sign_ins": {"limit": 5, "per_seconds": 10}}))]), "cognito")
        .contains("rules[0].bound_sign_ins.per_seconds"));
    assert!(load(json!([rule(json!({"bound_sign_ins": {"limit": 5, "keep_seconds": 60}}))]), "cognito")
        .contains("rules[0].bound_sign_ins.keep_seconds"));
    let second = json!({"id": "t", "action": "block", "bound_sign_ins": {"limit": 5}});
    assert!(load(json!([rule(json!({})), second]), "cognito").contains("at most one bound_sign_ins"));
}
