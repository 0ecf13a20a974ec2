//! What a siteverify answer must say for a token to pass: the checks of the policy's `captcha`
//! section (hostname, action, score) read from the provider's answer.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod support;

use pumpguard_core::captcha::interpret_siteverify;
use pumpguard_core::decision::TokenVerdict;
use pumpguard_core::{MemoryStore, Policy, Timestamp};
use serde_json::json;

fn policy(captcha: serde_json::Value) -> Result<Policy, pumpguard_core::config::ConfigErrors> {
    let doc = json!({
        "version": 1,
        "routes": [{"id": "otp", "kind": "send", "match": {"path": {"exact": "/otp"}},
                    "extract": {"json_keys": ["phone"], "token": {"header": "cf-turnstile-response"}}}],
        "rules": [{"id": "human", "action": "challenge", "captcha": {}}],
        "captcha": captcha,
    });
    Policy::from_json(&doc.to_string())
}

fn verdict(captcha: serde_json::Value, answer: serde_json::Value) -> TokenVerdict {
    let policy = policy(captcha).unwrap();
    interpret_siteverify(policy.captcha().unwrap(), 200, answer.to_string().as_bytes())
}

fn is_invalid(verdict: &TokenVerdict, says: &str) -> bool {
    matches!(verdict, TokenVerdict::Invalid { detail } if detail.contains(says))
}

#[test]
fn the_action_must_be_the_widgets_the_policy_names() {
    let captcha = json!({"provider": "turnstile", "secret": "s", "expected_action": "sms_send"});
    let ok = json!({"success": true, "hostname": "app.example.com", "action": "sms_send"});
    assert_eq!(verdict(captcha.clone(), ok), TokenVerdict::Valid { solver: None });
    // Another page's widget, a widget without an action, and a case the widget was not given.
    let other = verdict(captcha.clone(), json!({"success": true, "action": "login"}));
    assert!(is_invalid(&other, "solved for action login, not sms_send"), "{other:?}");
    let none = verdict(captcha.clone(), json!({"success": true}));
    assert!(is_invalid(&none, "solved for action none, not sms_send"), "{none:?}");
    let empty = verdict(captcha.clone(), json!({"success": true, "action": ""}));
    assert!(is_invalid(&empty, "for action none"), "{empty:?}");
    let case = verdict(captcha.clone(), json!({"success": true, "action": "SMS_SEND"}));
    assert!(is_invalid(&case, "for action SMS_SEND"), "{case:?}");
    // A refused token stays the provider's refusal, whatever its action.
    let refused = verdict(
        captcha,
        json!({"success": false, "action": "sms_send", "error-codes": ["timeout-or-duplicate"]}),
    );
    assert!(is_invalid(&refused, "timeout-or-duplicate"), "{refused:?}");
    // Without the field any action passes, as before.
    let open = json!({"provider": "turnstile", "secret": "s"});
    assert_eq!(
        verdict(open, json!({"success": true, "action": "login"})),
        TokenVerdict::Valid { solver: None }
    );
}

#[test]
fn hostname_and_score_are_checked_where_the_policy_asks() {
    let captcha = json!({"provider": "recaptcha", "secret": "s", "expected_hostname": "app.example.com",
                         "expected_action": "signup", "min_score": 0.5});
    let good = json!({"success": true, "hostname": "APP.example.com", "action": "signup", "score": 0.9});
    assert_eq!(verdict(captcha.clone(), good), TokenVerdict::Valid { solver: None });
    let elsewhere = verdict(
        captcha.clone(),
        json!({"success": true, "hostname": "evil.example", "action": "signup", "score": 0.9}),
    );
    assert!(is_invalid(&elsewhere, "another hostname"), "{elsewhere:?}");
    let low = verdict(
        captcha.clone(),
        json!({"success": true, "hostname": "app.example.com", "action": "signup", "score": 0.3}),
    );
    assert!(is_invalid(&low, "score below 0.5"), "{low:?}");
    let unscored =
        verdict(captcha, json!({"success": true, "hostname": "app.example.com", "action": "signup"}));
    assert!(is_invalid(&unscored, "score below 0.5"), "{unscored:?}");
}

#[test]
fn an_action_the_answer_cannot_carry_is_refused_at_load() {
    let paths = |captcha: serde_json::Value| -> Vec<String> {
        match policy(captcha) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.errors.iter().map(|e| format!("{}: {}", e.path, e.message)).collect(),
        }
    };
    let hcaptcha = paths(json!({"provider": "hcaptcha", "secret": "s", "expected_action": "signup"}));
    assert_eq!(hcaptcha.len(), 1, "{hcaptcha:?}");
    assert!(hcaptcha[0].starts_with("captcha.expected_action: hCaptcha"), "{hcaptcha:?}");
    for bad in ["", "sms send", "sms.send", "a234567890123456789012345678901234"] {
        let errors = paths(json!({"provider": "turnstile", "secret": "s", "expected_action": bad}));
        assert_eq!(errors.len(), 1, "{bad:?}: {errors:?}");
        assert!(errors[0].starts_with("captcha.expected_action: must be 1 to 32"), "{bad:?}: {errors:?}");
    }
    for good in ["signup", "sms-send/v2", "A_b-1", "a2345678901234567890123456789012"] {
        assert!(
            paths(json!({"provider": "recaptcha", "secret": "s", "expected_action": good})).is_empty(),
            "{good:?}"
        );
    }
}

#[test]
fn a_site_key_is_a_public_key_or_the_policy_is_refused() {
    let errors = |key: &str| match policy(json!({"provider": "turnstile", "secret": "s", "site_key": key})) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.errors.iter().map(|e| format!("{}: {}", e.path, e.message)).collect(),
    };
    for bad in ["", "0x4AAA AAAA", "key\"}", &"k".repeat(129)] {
        let found = errors(bad);
        assert_eq!(found.len(), 1, "{bad:?}: {found:?}");
        assert!(found[0].starts_with("captcha.site_key: must be 1 to 128"), "{bad:?}: {found:?}");
    }
    for good in
        ["0x4AAAAAAABkMYinukE8nzY", "1x00000000000000000000AA", "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI"]
    {
        assert!(errors(good).is_empty(), "{good:?}");
    }
}

/// The refusal of one challenged send on a route extracting as `extract`, parsed (an XML body
/// as `{"xml": text}`).
fn challenged_body(extract: serde_json::Value, headers: &[(&str, &str)], body: &str) -> serde_json::Value {
    let doc = json!({
        "version": 1, "default_region": "US",
        "routes": [{"id": "otp", "kind": "send", "match": {"path": {"prefix": "/"}}, "extract": extract}],
        "rules": [{"id": "human", "action": "challenge", "captcha": {}}],
        "captcha": {"provider": "turnstile", "secret": "s", "site_key": "1x00000000000000000000AA",
                    "expected_action": "sms_send"},
    });
    let policy = Policy::from_json(&doc.to_string()).unwrap();
    let request = support::post("/otp", body, headers, 7);
    let decision = policy.decide(&request, Timestamp::from_millis(0), &MemoryStore::new());
    let text = decision.error_body().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| json!({"xml": text}))
}

#[test]
fn a_challenge_refusal_names_what_to_solve_in_every_json_format() {
    let json_body = [("content-type", "application/json")];
    let hint = json!({"provider": "turnstile", "site_key": "1x00000000000000000000AA", "action": "sms_send",
                      "token": {"header": "x-captcha"}});
    let ours = challenged_body(
        json!({"json_keys": ["phone"], "token": {"header": "x-captcha"}}),
        &json_body,
        r#"{"phone": "+14155550123"}"#,
    );
    assert_eq!((&ours["error"], &ours["captcha"]), (&json!("captcha_required"), &hint), "{ours}");
    // Google's format keeps pumpguard's fields under `pumpguard`; AWS JSON and Twilio at the top.
    let firebase = challenged_body(
        json!({"preset": "firebase", "token": {"header": "x-captcha"}}),
        &json_body,
        r#"{"phoneNumber": "+14155550123"}"#,
    );
    assert_eq!(firebase["pumpguard"]["captcha"], hint, "{firebase}");
    let cognito = challenged_body(
        json!({"preset": "cognito", "token": {"header": "x-captcha"}}),
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AWSCognitoIdentityProviderService.SignUp"),
        ],
        r#"{"Username": "u", "UserAttributes": [{"Name": "phone_number", "Value": "+14155550123"}]}"#,
    );
    assert_eq!(cognito["captcha"], hint, "{cognito}");
    // A preset route without a token source of its own names none: the API's SDK or the app
    // places the token where the preset reads it.
    let preset_token = challenged_body(
        json!({"preset": "twilio_verify"}),
        &[("content-type", "application/x-www-form-urlencoded")],
        "To=%2B14155550123&Channel=sms",
    );
    assert_eq!(
        preset_token["captcha"],
        json!({"provider": "turnstile", "site_key": "1x00000000000000000000AA", "action": "sms_send"}),
        "{preset_token}"
    );
    // SNS answers in XML: the object has no place there.
    let sns = challenged_body(
        json!({"preset": "sns_publish", "token": {"header": "x-captcha"}}),
        &[("content-type", "application/x-www-form-urlencoded")],
        "Action=Publish&PhoneNumber=%2B14155550123&Message=hi",
    );
    let xml = sns["xml"].as_str().unwrap();
    assert!(
        xml.contains("<PumpguardError>captcha_required</PumpguardError>") && !xml.contains("site_key"),
        "{xml}"
    );
}
