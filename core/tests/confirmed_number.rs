//! Which number a confirmation credits: the one origin's answer names where the route reads it
//! (`confirmed_number_field`, the Firebase and Twilio Verify presets), else the request's, and
//! only when the guard saw every number the request carries.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod support;

use pumpguard_core::routes::ConfirmResponse;
use pumpguard_core::{Decision, MemoryStore, Policy, Timestamp};
use serde_json::json;

fn policy(confirm: serde_json::Value) -> Policy {
    let doc = json!({
        "version": 1,
        "default_region": "US",
        "routes": [
            {"id": "send", "kind": "send", "match": {"path": {"exact": "/send"}}, "extract": {"json_keys": ["phone"]}},
            confirm,
        ],
        "rules": [{"id": "returning", "action": "log", "reputation": {"trust_seconds": 86_400, "confirm_within_seconds": 3600}}],
    });
    Policy::from_json(&doc.to_string()).unwrap()
}

const JSON: [(&str, &str); 1] = [("content-type", "application/json")];

fn send(p: &Policy, store: &MemoryStore, number: &str, at_s: u64) -> Decision {
    let body = format!(r#"{{"phone": "{number}"}}"#);
    p.decide(&support::post("/send", &body, &JSON, 10), Timestamp::from_millis(at_s * 1000), store)
}

/// The numbers a confirm with `body`, answered 200 with `answer`, credits.
fn credited(p: &Policy, store: &MemoryStore, path: &str, body: &str, answer: &str) -> Vec<String> {
    let d = p.decide(&support::post(path, body, &JSON, 10), Timestamp::from_millis(5_000), store);
    let response = ConfirmResponse { status: 200, headers: &[], body: Some(answer.as_bytes()) };
    p.confirm_checks(&d, &response).iter().filter_map(|c| c.number.as_deref().map(str::to_owned)).collect()
}

#[test]
fn a_route_reading_the_answer_credits_the_number_it_names() {
    let p = policy(json!({"id": "verify", "kind": "confirm", "match": {"path": {"exact": "/verify"}},
        "extract": {"json_keys": ["phone"]}, "confirmed_number_field": "data.phone"}));
    let store = MemoryStore::new();
    send(&p, &store, "+14155550101", 0);
    // The request names no number (a session); the answer does.
    let answer = r#"{"data": {"phone": "+14155550101"}}"#;
    assert_eq!(credited(&p, &store, "/verify", r#"{"session": "s", "code": "1"}"#, answer), ["+14155550101"]);
    // The answer wins over what the request claims: origin verified the number it names.
    let claim = r#"{"phone": "+14155550199", "code": "1"}"#;
    assert_eq!(credited(&p, &store, "/verify", claim, answer), ["+14155550101"]);
    // An answer naming no number, or something that is not one, credits nothing.
    assert!(credited(&p, &store, "/verify", claim, r#"{"data": {}}"#).is_empty());
    assert!(credited(&p, &store, "/verify", claim, r#"{"data": {"phone": "n/a"}}"#).is_empty());
}

#[test]
fn the_firebase_and_twilio_presets_read_the_number_from_the_answer() {
    let firebase = policy(json!({"id": "verify", "kind": "confirm", "extract": {"preset": "firebase"}}));
    let store = MemoryStore::new();
    let sign_in = "/v1/accounts:signInWithPhoneNumber?key=k";
    let session = r#"{"sessionInfo": "s", "code": "123456"}"#;
    let answer = r#"{"idToken": "t", "refreshToken": "r", "localId": "u", "phoneNumber": "+14155550101"}"#;
    assert_eq!(credited(&firebase, &store, sign_in, session, answer), ["+14155550101"]);
    // Second-factor sign-in answers with tokens only: nothing to credit.
    let mfa = "/v2/accounts/mfaSignIn:finalize?key=k";
    let proof =
        r#"{"mfaPendingCredential": "p", "phoneVerificationInfo": {"sessionInfo": "s", "code": "1"}}"#;
    assert!(credited(&firebase, &store, mfa, proof, r#"{"idToken": "t", "refreshToken": "r"}"#).is_empty());

    let twilio = policy(json!({"id": "verify", "kind": "confirm", "extract": {"preset": "twilio_verify"}}));
    let check = "/v2/Services/VA1/VerificationCheck";
    // Checked by verification sid: the request names no number, the approved answer does.
    let approved = r#"{"sid": "VE1", "to": "+14155550101", "status": "approved", "valid": true}"#;
    let by_sid = support::post(
        check,
        "VerificationSid=VE1&Code=123456",
        &[("content-type", "application/x-www-form-urlencoded")],
        10,
    );
    let d = twilio.decide(&by_sid, Timestamp::from_millis(5_000), &store);
    let response = ConfirmResponse { status: 200, headers: &[], body: Some(approved.as_bytes()) };
    let numbers: Vec<_> =
        twilio.confirm_checks(&d, &response).iter().filter_map(|c| c.number.clone()).collect();
    assert_eq!(numbers, [std::sync::Arc::from("+14155550101")]);
    // A wrong code is answered 200 "pending": no credit.
    let pending = approved.replace("approved", "pending");
    let response = ConfirmResponse { status: 200, headers: &[], body: Some(pending.as_bytes()) };
    assert!(twilio.confirm_checks(&d, &response).is_empty());
}

#[test]
fn a_confirm_carrying_numbers_the_guard_did_not_see_credits_nothing() {
    let p = policy(json!({"id": "verify", "kind": "confirm", "match": {"path": {"exact": "/verify"}},
        "extract": {"json_keys": ["phone"]}}));
    let store = MemoryStore::new();
    let (pumped, own) = ("+14155550101", "+14155550199");
    send(&p, &store, pumped, 0);
    let ok = r#"{"ok": true}"#;
    // The one number it names, seen whole: credited.
    assert_eq!(
        credited(&p, &store, "/verify", &format!(r#"{{"phone": "{pumped}", "code": "1"}}"#), ok),
        [pumped]
    );
    // Five nested copies of the pumped number fill inputs.max_numbers; the attacker's own
    // number, whose code origin checks, is a sixth candidate the guard never reads.
    let copies: Vec<String> = (0..5).map(|i| format!(r#""n{i}": {{"phone": "{pumped}"}}"#)).collect();
    let smuggled = format!(r#"{{{}, "phone": "{own}", "code": "1"}}"#, copies.join(", "));
    assert!(credited(&p, &store, "/verify", &smuggled, ok).is_empty());
    // So does a second candidate the guard cannot parse (origin's parser may read it).
    let unparsed =
        format!(r#"{{"n": {{"phone": "{pumped}"}}, "phone": "tel:+1-415-555-01x9", "code": "1"}}"#);
    assert!(credited(&p, &store, "/verify", &unparsed, ok).is_empty());
}

/// Cognito's `ConfirmSignUp` names a user, never the number: a `SignUp` binds the user to the
/// number it carries, so the confirmation trusts that number, once per send. A call that names
/// a user and carries a number but sends to the one Cognito holds (`ForgotPassword`) binds
/// nothing.
#[test]
fn a_confirm_by_user_name_trusts_the_number_its_sign_up_carried() {
    let p = Policy::from_json(
        &json!({
            "version": 1,
            "default_region": "US",
            "routes": [
                {"id": "cognito", "kind": "send", "extract": {"preset": "cognito"}},
                {"id": "cognito-confirm", "kind": "confirm", "extract": {"preset": "cognito"}},
            ],
            "rules": [{"id": "returning", "action": "log",
                       "reputation": {"trust_seconds": 86_400, "confirm_within_seconds": 3600}}],
        })
        .to_string(),
    )
    .unwrap();
    let store = MemoryStore::new();
    // Cognito's answer to a sign-up whose code went by SMS.
    const BY_SMS: &str = r#"{"CodeDeliveryDetails": {"AttributeName": "phone_number", "DeliveryMedium": "SMS",
        "Destination": "+*******0101"}, "UserConfirmed": false, "UserSub": "u"}"#;
    const BY_EMAIL: &str = r#"{"CodeDeliveryDetails": {"AttributeName": "email", "DeliveryMedium": "EMAIL",
        "Destination": "m***@e***"}, "UserConfirmed": false, "UserSub": "u"}"#;
    // Origin's answer is `status` and `answer`: every call is recorded as a host records a
    // forwarded one.
    let answered_with = |op: &str, body: serde_json::Value, at_s: u64, status: u16, answer: &str| {
        let target = format!("AWSCognitoIdentityProviderService.{op}");
        let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target.as_str())];
        let body = body.to_string();
        let now = Timestamp::from_millis(at_s * 1000);
        let d = p.decide(&support::post("/", &body, &headers, 10), now, &store);
        p.record_confirm(
            &d,
            &ConfirmResponse { status, headers: &[], body: Some(answer.as_bytes()) },
            now,
            &store,
        );
        d
    };
    let call = |op: &str, body: serde_json::Value, at_s: u64| answered_with(op, body, at_s, 200, "{}");
    let sign_up_answered = |user: &str, number: &str, at_s: u64, status: u16, answer: &str| {
        let attributes = json!([{"Name": "phone_number", "Value": number}]);
        answered_with("SignUp", json!({"Username": user, "UserAttributes": attributes}), at_s, status, answer)
    };
    let sign_up = |user: &str, number: &str, at_s: u64| sign_up_answered(user, number, at_s, 200, BY_SMS);
    let confirm =
        |op: &str, user: &str, at_s: u64| call(op, json!({"Username": user, "ConfirmationCode": "1"}), at_s);
    let trusted = |d: &Decision| d.numbers.first().is_some_and(|n| n.trusted);

    assert!(!trusted(&sign_up("alice@example.com", "+14155550101", 0)));
    confirm("ConfirmSignUp", "ALICE@example.com", 60);
    assert!(trusted(&sign_up("alice2@example.com", "+14155550101", 120)), "the sign-up's number is trusted");

    // A stray number beside a user name in a password reset: its confirmation trusts nothing.
    call(
        "ForgotPassword",
        json!({"Username": "eve@example.com",
        "UserAttributes": [{"Name": "phone_number", "Value": "+14155550102"}]}),
        200,
    );
    confirm("ConfirmForgotPassword", "eve@example.com", 260);
    assert!(!trusted(&sign_up("eve2@example.com", "+14155550102", 320)));

    // A sign-up origin refused (the user name is taken) sent no code and binds nothing: the
    // code of the first sign-up, to the attacker's own phone, credits that phone's number only.
    sign_up("frank@example.com", "+14155550104", 340);
    sign_up_answered("frank@example.com", "+14155550105", 350, 400, "{}");
    confirm("ConfirmSignUp", "frank@example.com", 360);
    assert!(trusted(&sign_up("frank2@example.com", "+14155550104", 370)));
    assert!(!trusted(&sign_up("frank3@example.com", "+14155550105", 380)));

    // A pool that verifies e-mail addresses sends the code by e-mail: the number carried
    // beside it never had the code, so the confirmation credits it nothing.
    sign_up_answered("gina@example.com", "+14155550106", 385, 200, BY_EMAIL);
    confirm("ConfirmSignUp", "gina@example.com", 386);
    assert!(!trusted(&sign_up("gina2@example.com", "+14155550106", 387)));
    // Nor does another confirmation naming the user (a reset's code goes to the number Cognito
    // holds for the user, which need not be the one its sign-up carried).
    sign_up("hana@example.com", "+14155550107", 390);
    confirm("ConfirmForgotPassword", "hana@example.com", 391);
    assert!(!trusted(&sign_up("hana2@example.com", "+14155550107", 392)));
    // Two sign-ups that fold to one account (names differing in case only, in a pool that tells
    // them apart) leave the binding conflicting: neither confirmation credits either number.
    sign_up("Ivan", "+14155550108", 393);
    sign_up("ivan", "+14155550109", 394);
    confirm("ConfirmSignUp", "Ivan", 395);
    assert!(!trusted(&sign_up("ivan2", "+14155550109", 396)));
    assert!(!trusted(&sign_up("ivan3", "+14155550108", 397)));
    // A confirm naming a user and carrying a stray number credits neither.
    sign_up("jon@example.com", "+14155550110", 398);
    call(
        "ConfirmForgotPassword",
        json!({"Username": "jon@example.com", "ConfirmationCode": "1",
        "UserAttributes": [{"Name": "phone_number", "Value": "+14155550110"}]}),
        399,
    );
    assert!(!trusted(&sign_up("jon2@example.com", "+14155550110", 400)));

    // One send, one credit: a second confirmation of one sign-up finds nothing left.
    sign_up("carol@example.com", "+14155550103", 410);
    let first = confirm("ConfirmSignUp", "carol@example.com", 460);
    let response = ConfirmResponse { status: 200, headers: &[], body: Some(b"{}") };
    let checks = p.confirm_checks(&first, &response);
    assert!(!checks.is_empty(), "a confirm by user name has checks");
    let outcomes: Vec<_> =
        checks.iter().map(|c| p.run_check(c, Timestamp::from_millis(470_000), &store)).collect();
    assert!(p.credit_checks(&checks, &outcomes).is_empty(), "a replay earns nothing");
}

/// Firebase's second-factor enrolment: `mfaEnrollment:finalize` and Google's answer name no
/// number, but both name the user by its ID token, and `mfaEnrollment:start` bound that user to
/// the phone it enrols once Google answered a phone session. A TOTP enrolment (no SMS) or a
/// start Google refused binds nothing.
#[test]
fn a_firebase_enrolment_is_credited_to_the_phone_it_enrolled() {
    let p = Policy::from_json(
        &json!({
            "version": 1,
            "default_region": "US",
            "routes": [
                {"id": "firebase", "kind": "send", "extract": {"preset": "firebase"}},
                {"id": "firebase-confirm", "kind": "confirm", "extract": {"preset": "firebase"}},
            ],
            "rules": [{"id": "returning", "action": "log",
                       "reputation": {"trust_seconds": 86_400, "confirm_within_seconds": 3600}}],
        })
        .to_string(),
    )
    .unwrap();
    let store = MemoryStore::new();
    let id_token = |uid: &str| support::jwt(&json!({"user_id": uid, "sub": uid}));
    let call = |path: &str, body: serde_json::Value, at_s: u64, status: u16, answer: &str| {
        let body = body.to_string();
        let now = Timestamp::from_millis(at_s * 1000);
        let d = p.decide(&support::post(path, &body, &JSON, 10), now, &store);
        p.record_confirm(
            &d,
            &ConfirmResponse { status, headers: &[], body: Some(answer.as_bytes()) },
            now,
            &store,
        );
        d
    };
    let start = |uid: &str, number: &str, at_s: u64, status: u16, answer: &str| {
        let body = json!({"idToken": id_token(uid), "phoneEnrollmentInfo": {"phoneNumber": number}});
        call("/v2/accounts/mfaEnrollment:start?key=k", body, at_s, status, answer)
    };
    let phone_session = r#"{"phoneSessionInfo": {"sessionInfo": "s"}}"#;
    let finalize = |uid: &str, at_s: u64| {
        let body =
            json!({"idToken": id_token(uid), "phoneVerificationInfo": {"sessionInfo": "s", "code": "1"}});
        call(
            "/v2/accounts/mfaEnrollment:finalize?key=k",
            body,
            at_s,
            200,
            r#"{"idToken": "t", "refreshToken": "r"}"#,
        )
    };
    let trusted = |d: &Decision| d.numbers.first().is_some_and(|n| n.trusted);

    start("uid-1", "+14155550101", 0, 200, phone_session);
    finalize("uid-1", 30);
    assert!(
        trusted(&start("uid-1b", "+14155550101", 60, 200, phone_session)),
        "the enrolled phone is trusted"
    );
    // Finalized by another user: nothing credited.
    start("uid-2", "+14155550102", 100, 200, phone_session);
    finalize("uid-3", 110);
    assert!(!trusted(&start("uid-2b", "+14155550102", 120, 200, phone_session)));
    // Refused by Google, or answered with a TOTP session: no code went to the phone.
    start("uid-4", "+14155550104", 200, 400, r#"{"error": {"code": 400}}"#);
    finalize("uid-4", 210);
    assert!(!trusted(&start("uid-4b", "+14155550104", 220, 200, phone_session)));
    start("uid-5", "+14155550105", 300, 200, r#"{"totpSessionInfo": {"sharedSecretKey": "k"}}"#);
    finalize("uid-5", 310);
    assert!(!trusted(&start("uid-5b", "+14155550105", 320, 200, phone_session)));
}
