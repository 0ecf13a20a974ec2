//! What a siteverify answer must say for a token to pass: the checks of the policy's `captcha`
//! section (hostname, action, score) read from the provider's answer.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use pumpguard_core::captcha::interpret_siteverify;
use pumpguard_core::decision::TokenVerdict;
use pumpguard_core::Policy;
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
