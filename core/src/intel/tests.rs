#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::cell::Cell;

use super::*;
use crate::decision::{Action, ReasonCode, TokenVerdict};
use crate::scenario::simulated_lookup;
use crate::{HttpVersion, MemoryStore, Policy, Request, TlsFingerprints};

fn policy(rules: &str, extra: &str) -> Policy {
    Policy::from_json(&policy_json(rules, extra)).unwrap()
}

fn policy_json(rules: &str, extra: &str) -> String {
    format!(
        r#"{{"version":1,"routes":[{{"id":"otp","kind":"send","match":{{}},
            "extract":{{"json_keys":["phone","phone2"],"token":{{"header":"cf-turnstile-response"}}}}}}],
            "number_intel":{{"url":"https://lookups.twilio.com/v2/PhoneNumbers/{{e164}}?Fields=line_type_intelligence,sms_pumping_risk",
              "headers":{{"Authorization":"Basic abc"}},
              "response":{{"risk_score":"/sms_pumping_risk/sms_pumping_risk_score",
                "line_type":"/line_type_intelligence/type","reachable":"/line_status/status"}}{extra}}},
            "captcha":{{"provider":"turnstile","secret":"s"}},
            "rules":[{rules}]}}"#
    )
}

const RISKY: &str = r#"{"id":"intel","action":"block","number_intel":{"min_risk":75,"line_types":["nonFixedVoip"],"unreachable":true}}"#;

fn request<'a>(body: &'a str, headers: &'a [(&'a str, &'a str)]) -> Request<'a> {
    Request {
        method: "POST",
        authority: "app.example.com",
        path: "/api/otp",
        version: HttpVersion::Http11,
        headers,
        body: body.as_bytes(),
        body_truncated: false,
        client_ip: None,
        tls: TlsFingerprints::default(),
        edge: Default::default(),
    }
}

const JSON: [(&str, &str); 1] = [("content-type", "application/json")];

/// Decides with the corpus' fake provider, counting its calls.
fn decide(policy: &Policy, store: &MemoryStore, body: &str, calls: &Cell<u32>) -> crate::Decision {
    decide_at(policy, store, body, &JSON, 0, calls)
}

fn decide_at(
    policy: &Policy,
    store: &MemoryStore,
    body: &str,
    headers: &[(&str, &str)],
    now_ms: u64,
    calls: &Cell<u32>,
) -> crate::Decision {
    let req = request(body, headers);
    policy.decide_with(
        &req,
        Timestamp::from_millis(now_ms),
        store,
        crate::scenario::simulated_siteverify,
        |l| {
            calls.set(calls.get() + 1);
            simulated_lookup(policy, l)
        },
    )
}

fn codes(d: &crate::Decision) -> Vec<&'static str> {
    d.reasons.iter().map(|r| r.code.as_str()).collect()
}

#[test]
fn line_types_read_as_twilio_names_them() {
    assert_eq!(LineType::from_provider("nonFixedVoip"), LineType::NonFixedVoip);
    assert_eq!(LineType::from_provider("NON_FIXED_VOIP"), LineType::NonFixedVoip);
    assert_eq!(LineType::from_provider("toll-free"), LineType::TollFree);
    assert_eq!(LineType::from_provider("FIXED_LINE"), LineType::Landline);
    assert_eq!(LineType::from_provider("satellite"), LineType::Other);
    for t in LINE_TYPES {
        assert_eq!(LineType::from_code(t.code()), Some(t));
        assert_eq!(LineType::from_provider(t.as_str()), t);
    }
}

#[test]
fn cached_facts_round_trip_and_foreign_values_miss() {
    let facts = IntelFacts { risk: Some(92), line_type: Some(LineType::Mobile), reachable: Some(false) };
    assert_eq!(IntelFacts::decode(&facts.encode()), Some(facts));
    assert_eq!(IntelFacts::decode(&IntelFacts::default().encode()), Some(IntelFacts::default()));
    assert_eq!(IntelFacts::decode(b"\x02abc"), None);
    assert_eq!(IntelFacts::decode(b""), None);
}

#[test]
fn the_request_carries_the_number_encoded_and_the_headers() {
    let p = policy(RISKY, "");
    let request = p.number_intel().unwrap().request(&NumberLookup { e164: "+14155550123".into() });
    assert_eq!(request.authority, "lookups.twilio.com");
    assert_eq!(
        request.path,
        "/v2/PhoneNumbers/%2B14155550123?Fields=line_type_intelligence,sms_pumping_risk"
    );
    assert_eq!(
        request.url,
        "https://lookups.twilio.com/v2/PhoneNumbers/%2B14155550123?Fields=line_type_intelligence,sms_pumping_risk"
    );
    assert_eq!(request.headers, vec![("authorization".to_owned(), "Basic abc".to_owned())]);
    let host = [("Authorization".to_owned(), "Basic host".to_owned())].into_iter().collect();
    assert_eq!(merge_headers(&request.headers, &host), vec![("authorization".into(), "Basic host".into())]);
}

#[test]
fn answers_are_read_by_the_mapping_and_garbage_is_unavailable() {
    let p = policy(RISKY, "");
    let intel = p.number_intel().unwrap();
    let found = |body: &str| intel.interpret(200, body.as_bytes());
    assert_eq!(
        found(
            r#"{"sms_pumping_risk":{"sms_pumping_risk_score":92.4},"line_type_intelligence":{"type":"mobile"}}"#
        ),
        LookupAnswer::Found(IntelFacts {
            risk: Some(92),
            line_type: Some(LineType::Mobile),
            reachable: None
        })
    );
    assert_eq!(
        found(r#"{"sms_pumping_risk":null,"line_status":{"status":"inactive"}}"#),
        LookupAnswer::Found(IntelFacts { reachable: Some(false), ..IntelFacts::default() })
    );
    for garbage in [
        "<html>",
        "{}",
        r#"{"sms_pumping_risk":{"sms_pumping_risk_score":"high"}}"#,
        r#"{"sms_pumping_risk":{"sms_pumping_risk_score":101}}"#,
        r#"{"line_type_intelligence":{"type":7}}"#,
    ] {
        assert!(matches!(found(garbage), LookupAnswer::Unavailable { .. }), "{garbage}");
    }
    assert!(matches!(intel.interpret(500, b"{}"), LookupAnswer::Unavailable { .. }));
    assert!(matches!(intel.interpret(429, b"{}"), LookupAnswer::Unavailable { .. }));
}

/// A provider of another shape: its number as digits, its own risk scale and line-type names.
fn provider(url: &str, response: &str) -> Result<Policy, crate::config::ConfigErrors> {
    Policy::from_json(&format!(
        r#"{{"version":1,"routes":[{{"id":"otp","kind":"send","match":{{}},"extract":{{"json_keys":["phone"]}}}}],
            "number_intel":{{"url":"{url}","response":{response}}},
            "rules":[{{"id":"silent","action":"log","number_intel":{{"unanswered":true}}}}]}}"#
    ))
}

#[test]
fn a_provider_taking_digits_is_given_them_without_the_plus() {
    let p = provider("https://api.example.net/ni/json?number={digits}&x={e164}", r#"{"risk_score":"/r"}"#)
        .unwrap();
    let request = p.number_intel().unwrap().request(&NumberLookup { e164: "+14155550123".into() });
    assert_eq!(request.path, "/ni/json?number=14155550123&x=%2B14155550123");
    let err = provider("https://api.example.net/ni/json?number=1", r#"{"risk_score":"/r"}"#).unwrap_err();
    assert!(err.to_string().contains("number_intel.url: must contain {e164} or {digits}"), "{err}");
}

/// A `POST` provider: its `number_intel` section's fields after the URL.
fn post_provider(fields: &str) -> Result<Policy, crate::config::ConfigErrors> {
    Policy::from_json(&format!(
        r#"{{"version":1,"routes":[{{"id":"otp","kind":"send","match":{{}},"extract":{{"json_keys":["phone"]}}}}],
            "number_intel":{{"url":"https://rest.example.com/v1/score{{digits}}"{fields},"response":{{"risk_score":"/risk/score","risk_scale":1000}}}},
            "rules":[{{"id":"silent","action":"log","number_intel":{{"unanswered":true}}}}]}}"#
    ))
}

#[test]
fn a_post_lookup_carries_its_body_with_the_number_in_place() {
    let form = post_provider(r#","method":"POST","body":"phone_number={digits}&account_lifecycle_event=create","headers":{"Authorization":"Basic abc"}"#).unwrap();
    let request = form.number_intel().unwrap().request(&NumberLookup { e164: "+447700900123".into() });
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.path, "/v1/score447700900123");
    assert_eq!(request.body.as_deref(), Some("phone_number=447700900123&account_lifecycle_event=create"));
    assert_eq!(
        request.headers,
        [
            ("authorization".to_owned(), "Basic abc".to_owned()),
            ("content-type".into(), "application/x-www-form-urlencoded".into())
        ]
    );
    // A content type of the policy's own is kept, not doubled; the number may be in the body alone.
    let json = Policy::from_json(
        r#"{"version":1,"routes":[{"id":"otp","kind":"send","match":{},"extract":{"json_keys":["phone"]}}],
            "number_intel":{"url":"https://rest.example.com/lookup","method":"POST","body":"{\"number\":\"{digits}\"}",
              "headers":{"Content-Type":"application/json"},"response":{"risk_score":"/r"}},
            "rules":[{"id":"silent","action":"log","number_intel":{"unanswered":true}}]}"#,
    )
    .unwrap();
    let request = json.number_intel().unwrap().request(&NumberLookup { e164: "+14155550123".into() });
    assert_eq!(request.body.as_deref(), Some(r#"{"number":"14155550123"}"#));
    assert_eq!(request.headers, [("content-type".to_owned(), "application/json".to_owned())]);
    // A GET has no body, as before.
    let get = provider("https://x.example/{e164}", r#"{"risk_score":"/r"}"#).unwrap();
    let request = get.number_intel().unwrap().request(&NumberLookup { e164: "+14155550123".into() });
    assert_eq!((request.method.as_str(), request.body), ("GET", None));
}

#[test]
fn a_body_goes_with_a_post_only() {
    let paths = |fields: &str| -> Vec<String> {
        post_provider(fields)
            .err()
            .map(|e| e.errors.iter().map(|e| e.path.clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(paths(r#","body":"n={digits}""#), ["number_intel.body"]);
    assert_eq!(paths(r#","method":"POST""#), ["number_intel.body"]);
    let huge = format!(r#","method":"POST","body":"{}""#, "x".repeat(MAX_BODY_TEMPLATE_BYTES + 1));
    assert_eq!(paths(&huge), ["number_intel.body"]);
    assert!(paths(r#","method":"POST","body":"n=1""#).is_empty());
    let err = post_provider(r#","method":"PUT","body":"n=1""#).unwrap_err().to_string();
    assert!(err.contains("number_intel.method"), "{err}");
}

#[test]
fn risk_scores_are_read_as_shares_of_the_providers_scale() {
    let per_mille =
        provider("https://x.example/{digits}", r#"{"risk_score":"/risk/score","risk_scale":1000}"#).unwrap();
    let intel = per_mille.number_intel().unwrap();
    let risk = |body: &str| match intel.interpret(200, body.as_bytes()) {
        LookupAnswer::Found(facts) => facts.risk,
        LookupAnswer::Unavailable { detail } => panic!("{body}: {detail}"),
    };
    assert_eq!(risk(r#"{"risk":{"score":950}}"#), Some(95));
    assert_eq!(risk(r#"{"risk":{"score":1000}}"#), Some(100));
    assert_eq!(risk(r#"{"risk":{"score":4}}"#), Some(0));
    let over = intel.interpret(200, br#"{"risk":{"score":1001}}"#);
    assert!(
        matches!(&over, LookupAnswer::Unavailable { detail } if detail.contains("from 0 to 1000")),
        "{over:?}"
    );
    let probability = provider("https://x.example/{e164}", r#"{"risk_score":"/p","risk_scale":1}"#).unwrap();
    let answer = probability.number_intel().unwrap().interpret(200, br#"{"p":0.62}"#);
    assert_eq!(answer, LookupAnswer::Found(IntelFacts { risk: Some(62), ..IntelFacts::default() }));
}

#[test]
fn a_providers_own_line_type_names_are_mapped_to_the_rules_names() {
    // Shaped as IPQualityScore's phone validation answers: a 0–100 fraud score, "VOIP" or
    // "Wireless", and `active` as a boolean.
    let ipqs = provider(
        "https://x.example/phone/{digits}",
        r#"{"risk_score":"/fraud_score","line_type":"/line_type","reachable":"/active",
            "line_types":{"VOIP":"nonFixedVoip","Wireless":"mobile","Toll Free":"tollFree"}}"#,
    )
    .unwrap();
    let intel = ipqs.number_intel().unwrap();
    assert_eq!(
        intel.interpret(200, br#"{"fraud_score":88,"line_type":"voip","active":true}"#),
        LookupAnswer::Found(IntelFacts {
            risk: Some(88),
            line_type: Some(LineType::NonFixedVoip),
            reachable: Some(true)
        })
    );
    assert_eq!(
        intel.interpret(200, br#"{"fraud_score":0,"line_type":"Wireless","active":false}"#),
        LookupAnswer::Found(IntelFacts {
            risk: Some(0),
            line_type: Some(LineType::Mobile),
            reachable: Some(false)
        })
    );
    // Values the mapping does not name are read as Twilio names them, then `other`.
    for (value, expected) in [("landline", LineType::Landline), ("Satellite", LineType::Other)] {
        let body = format!(r#"{{"line_type":"{value}"}}"#);
        assert_eq!(
            intel.interpret(200, body.as_bytes()),
            LookupAnswer::Found(IntelFacts { line_type: Some(expected), ..IntelFacts::default() })
        );
    }
    // Shaped as Vonage Number Insight's: a network type and a reachability word.
    let vonage = provider(
        "https://x.example/ni/advanced/json?number={digits}",
        r#"{"line_type":"/network_type","reachable":"/reachable","line_types":{"virtual":"nonFixedVoip","landline_premium":"premium"}}"#,
    )
    .unwrap();
    assert_eq!(
        vonage
            .number_intel()
            .unwrap()
            .interpret(200, br#"{"network_type":"virtual","reachable":"undeliverable"}"#),
        LookupAnswer::Found(IntelFacts {
            risk: None,
            line_type: Some(LineType::NonFixedVoip),
            reachable: Some(false)
        })
    );
}

#[test]
fn a_mapping_that_cannot_apply_is_refused_at_load() {
    let paths = |response: &str| -> Vec<String> {
        provider("https://x.example/{e164}", response)
            .err()
            .map(|e| e.errors.iter().map(|e| e.path.clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(paths(r#"{"risk_score":"/r","risk_scale":0}"#), ["number_intel.response.risk_scale"]);
    assert_eq!(paths(r#"{"risk_score":"/r","risk_scale":-5}"#), ["number_intel.response.risk_scale"]);
    assert_eq!(paths(r#"{"line_type":"/t","risk_scale":10}"#), ["number_intel.response.risk_scale"]);
    assert_eq!(
        paths(r#"{"risk_score":"/r","line_types":{"VOIP":"nonFixedVoip"}}"#),
        ["number_intel.response.line_types"]
    );
    assert_eq!(
        paths(r#"{"line_type":"/t","line_types":{"VOIP":"nonFixedVoip","voip":"landline"}}"#),
        ["number_intel.response.line_types.voip"]
    );
    // A name rules do not know is a load error naming where it is.
    let unknown =
        provider("https://x.example/{e164}", r#"{"line_type":"/t","line_types":{"VOIP":"voipish"}}"#);
    let err = unknown.unwrap_err().to_string();
    assert!(err.contains("number_intel.response.line_types") && err.contains("voipish"), "{err}");
}

#[test]
fn a_risky_number_is_blocked_and_a_clean_one_sent_once_looked_up() {
    let p = policy(RISKY, "");
    let store = MemoryStore::new();
    let calls = Cell::new(0);
    let d = decide(&p, &store, r#"{"phone":"+14155550199"}"#, &calls);
    assert_eq!(d.action, Action::Block);
    assert_eq!(d.error_code(), Some(ReasonCode::NumberIntel));
    let reason = d.primary().unwrap();
    assert_eq!(
        reason.detail.as_deref(),
        Some("risk score at or over 75 (risk 95, line type mobile, reachable)")
    );
    let d = decide(&p, &store, r#"{"phone":"+14155550123"}"#, &calls);
    assert_eq!((d.action, codes(&d)), (Action::Allow, vec![]));
    assert_eq!(calls.get(), 2);
    for (number, code) in [("+14155550198", "number_intel"), ("+14155550197", "number_intel")] {
        let d = decide(&p, &store, &format!(r#"{{"phone":"{number}"}}"#), &calls);
        assert_eq!(codes(&d), vec![code], "{number}");
    }
}

#[test]
fn a_cached_answer_costs_no_second_lookup_until_it_expires() {
    let p = policy(RISKY, r#","cache_seconds":600"#);
    let store = MemoryStore::new();
    let calls = Cell::new(0);
    for body in [r#"{"phone":"+14155550199"}"#, r#"{"phone":"+14155550123"}"#] {
        let first = decide(&p, &store, body, &calls);
        let again = decide_at(&p, &store, body, &JSON, 599_000, &calls);
        assert_eq!(first.action, again.action);
        assert_eq!(first.reasons, again.reasons);
    }
    assert_eq!(calls.get(), 2, "both numbers cached, the refused one too");
    decide_at(&p, &store, r#"{"phone":"+14155550199"}"#, &JSON, 600_000, &calls);
    assert_eq!(calls.get(), 3, "expired");
}

#[test]
fn the_same_number_twice_is_one_lookup_and_a_second_number_is_looked_up_too() {
    let p = policy(RISKY, "");
    let store = MemoryStore::new();
    let calls = Cell::new(0);
    let d = decide(&p, &store, r#"{"phone":"+14155550123","phone2":"+14155550123"}"#, &calls);
    assert_eq!((d.action, calls.get()), (Action::Allow, 1));
    // A clean first number does not carry a risky second one.
    let d = decide(&p, &store, r#"{"phone":"+14155550124","phone2":"+14155550199"}"#, &calls);
    assert_eq!((d.action, calls.get()), (Action::Block, 3));
}

#[test]
fn a_request_refused_by_anything_else_is_never_looked_up() {
    let rules = format!(
        r#"{{"id":"per-ip","action":"throttle","rate_limit":{{"key":["client_ip"],"rate":1,"per_seconds":3600}}}},
           {{"id":"geo","action":"block","country":{{"deny":["GB"]}}}},
           {{"id":"ua","action":"challenge","client":{{"user_agents":["empty"]}}}},{RISKY}"#
    );
    let p = policy(&rules, "");
    let store = MemoryStore::new();
    let calls = Cell::new(0);
    // Refused by a stateless rule, by a challenge without a token, by a failed token.
    decide(&p, &store, r#"{"phone":"+447700900123"}"#, &calls);
    decide(&p, &store, r#"{"phone":"+14155550123"}"#, &calls);
    let failing = [("content-type", "application/json"), ("cf-turnstile-response", "fail-1")];
    let d = decide_at(&p, &store, r#"{"phone":"+14155550123"}"#, &failing, 0, &calls);
    assert_eq!(d.error_code(), Some(ReasonCode::CaptchaInvalid));
    assert_eq!(calls.get(), 0);
    // A passing token, then a flood the counter refuses: one lookup, for the one sent.
    let passing = [("content-type", "application/json"), ("cf-turnstile-response", "pass-1")];
    for i in 0..20 {
        let body = format!(r#"{{"phone":"+1415555{:04}"}}"#, 1000 + i);
        decide_at(&p, &store, &body, &passing, 0, &calls);
    }
    assert_eq!(calls.get(), 1);
}

#[test]
fn an_unavailable_provider_takes_on_unavailable() {
    for (outcome, action) in
        [("allow", Action::Allow), ("block", Action::Block), ("challenge", Action::Challenge)]
    {
        let p = policy(RISKY, &format!(r#","on_unavailable":"{outcome}""#));
        let store = MemoryStore::new();
        let calls = Cell::new(0);
        for tail in ["96", "95", "94", "93"] {
            let d = decide(&p, &store, &format!(r#"{{"phone":"+141555501{tail}"}}"#), &calls);
            assert_eq!(d.action, action, "{outcome} {tail}");
            assert_eq!(codes(&d), vec!["number_intel_unavailable"]);
        }
        // Failures are not cached: the next request asks again.
        decide(&p, &store, r#"{"phone":"+14155550196"}"#, &calls);
        assert_eq!(calls.get(), 5);
    }
    // Challenged with a token: the token decides.
    let p = policy(RISKY, r#","on_unavailable":"challenge""#);
    let calls = Cell::new(0);
    let passing = [("content-type", "application/json"), ("cf-turnstile-response", "pass-1")];
    let d = decide_at(&p, &MemoryStore::new(), r#"{"phone":"+14155550196"}"#, &passing, 0, &calls);
    assert_eq!(d.action, Action::Allow);
}

#[test]
fn an_outage_refuses_nothing_where_no_rule_acts() {
    let p = policy(&RISKY.replace("\"block\"", "\"log\""), r#","on_unavailable":"block""#);
    let calls = Cell::new(0);
    let d = decide(&p, &MemoryStore::new(), r#"{"phone":"+14155550195"}"#, &calls);
    assert_eq!((d.action, codes(&d)), (Action::Allow, vec!["number_intel_unavailable"]));
    let d = decide(&p, &MemoryStore::new(), r#"{"phone":"+14155550199"}"#, &calls);
    assert_eq!((d.action, codes(&d)), (Action::Allow, vec!["number_intel"]));
}

#[test]
fn an_unanswered_rule_weighs_in_only_when_the_provider_gives_no_verdict() {
    let silent = r#"{"id":"silent","action":"log","risk":50,"number_intel":{"unanswered":true}}"#;
    let mut doc: serde_json::Value =
        serde_json::from_str(&policy_json(&format!("{RISKY},{silent}"), "")).unwrap();
    doc["risk"] = serde_json::json!({"challenge_at": 50});
    let p = Policy::from_json(&doc.to_string()).unwrap();
    let calls = Cell::new(0);
    for tail in ["96", "95", "94", "93"] {
        let d = decide(&p, &MemoryStore::new(), &format!(r#"{{"phone":"+141555501{tail}"}}"#), &calls);
        assert_eq!(d.action, Action::Challenge, "{tail}");
        assert_eq!(d.risk, Some(50), "{tail}");
        let silent = d.reasons.iter().find(|r| r.rule.as_deref() == Some("silent")).expect("silent fired");
        assert_eq!(silent.code, ReasonCode::NumberIntelUnavailable);
        assert!(silent.detail.as_deref().is_some_and(|d| d.starts_with("no answer from the provider")));
    }
    for tail in ["01", "99"] {
        let d = decide(&p, &MemoryStore::new(), &format!(r#"{{"phone":"+141555501{tail}"}}"#), &calls);
        assert!(d.reasons.iter().all(|r| r.rule.as_deref() != Some("silent")), "{tail}");
        assert_eq!(d.risk, Some(0), "{tail}");
    }
}

#[test]
fn a_number_intel_rule_needs_a_condition() {
    let doc = r#"{"version":1,"routes":[{"id":"otp","kind":"send","match":{},"extract":{"json_keys":["phone"]}}],
        "number_intel":{"url":"https://x.example/{e164}","response":{"risk_score":"/r"}},
        "rules":[{"id":"intel","action":"log","number_intel":{}}]}"#;
    let err = Policy::from_json(doc).unwrap_err().to_string();
    assert!(err.contains("rules[0].number_intel") && err.contains("unanswered"), "{err}");
    let ok = doc.replace(r#""number_intel":{}}"#, r#""number_intel":{"unanswered":true}}"#);
    assert!(Policy::from_json(&ok).is_ok());
}

#[test]
fn a_challenge_after_a_verified_token_is_answered_and_otherwise_asks_for_the_token() {
    let challenge = RISKY.replace("\"block\"", "\"challenge\"");
    let captcha = r#"{"id":"captcha","action":"challenge","captcha":{}}"#;
    let calls = Cell::new(0);
    let passing = [("content-type", "application/json"), ("cf-turnstile-response", "pass-1")];
    let failing = [("content-type", "application/json"), ("cf-turnstile-response", "fail-1")];
    let body = r#"{"phone":"+14155550199"}"#;
    // The token verified first (the captcha rule): the lookup's challenge is answered.
    let p = policy(&format!("{captcha},{challenge}"), "");
    let d = decide_at(&p, &MemoryStore::new(), body, &passing, 0, &calls);
    assert_eq!(d.action, Action::Allow);
    // The lookup asks first, then the token is verified.
    let p = policy(&challenge, "");
    let store = MemoryStore::new();
    assert_eq!(decide_at(&p, &store, body, &passing, 0, &calls).action, Action::Allow);
    assert_eq!(
        decide_at(&p, &store, body, &failing, 0, &calls).error_code(),
        Some(ReasonCode::CaptchaInvalid)
    );
    assert_eq!(decide_at(&p, &store, body, &JSON, 0, &calls).action, Action::Challenge);
    assert_eq!(calls.get(), 2, "the answer cached by the first of these");
}

#[test]
fn the_steps_equal_decide_with() {
    let rules = format!(
        r#"{{"id":"per-number","action":"throttle","rate_limit":{{"key":["number"],"rate":1,"per_seconds":60,"burst":2}}}},{RISKY}"#
    );
    let p = policy(&rules, "");
    let (a, b) = (MemoryStore::new(), MemoryStore::new());
    let calls = Cell::new(0);
    for i in 0..40u64 {
        let body = format!(r#"{{"phone":"+141555501{:02}"}}"#, 90 + i % 10);
        let whole = decide_at(&p, &a, &body, &JSON, i * 7_000, &calls);
        let now = Timestamp::from_millis(i * 7_000);
        let req = request(&body, &JSON);
        let prepared = p.prepare(&req, now);
        let peeked = p.peek_checks(prepared.checks(), now, &b);
        let mut d = p.conclude(prepared, &peeked);
        if !d.lookups.is_empty() {
            let answers: Vec<_> = d.lookups.iter().map(|l| simulated_lookup(&p, l)).collect();
            d = p.resolve_lookups(d, &answers);
        }
        if let Some(check) = d.token_check.clone() {
            d = p.resolve_token(d, &crate::scenario::simulated_siteverify(&check.token));
        }
        let commits: Vec<_> = d.pending_commits().iter().map(|c| p.run_check(c, now, &b)).collect();
        let stepped = p.settle_commits(d, &commits);
        assert_eq!(whole, stepped, "request {i}");
    }
}

#[test]
fn verdicts_without_intel_serialise_as_before() {
    let json = serde_json::to_string(&CounterVerdict::PASS).unwrap();
    assert_eq!(json, r#"{"triggered":false,"retry_after_ms":null}"#);
    let v = CounterVerdict {
        intel: Some(IntelFacts { risk: Some(3), ..IntelFacts::default() }),
        ..CounterVerdict::PASS
    };
    let back: CounterVerdict = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
    assert_eq!(back, v);
    let _ = TokenVerdict::Valid { solver: None };
}

const WALK: &str = r#"{"id":"walk","action":"block","adjacent":{"suffix_digits":3,"max_distinct":3,
    "window_seconds":600,"block_seconds":900,"max_block_seconds":3600,"count_intel_refusals":true}}"#;

#[test]
fn an_adjacent_rule_with_count_intel_refusals_sees_the_numbers_the_provider_refuses() {
    let per_number = r#"{"id":"per-number","action":"throttle","rate_limit":{"key":["number"],"rate":1,"per_seconds":3600,"burst":1}}"#;
    let p = policy(&format!("{WALK},{per_number},{RISKY}"), "");
    let store = MemoryStore::new();
    let calls = Cell::new(0);
    // Three refused numbers of one thousand-block, each beside a clean number of another
    // block: the refused numbers are seen.
    for body in [
        r#"{"phone":"+14155550199","phone2":"+14155559300"}"#,
        r#"{"phone":"+14155550299","phone2":"+14155559301"}"#,
        r#"{"phone":"+14155550399","phone2":"+14155559302"}"#,
    ] {
        let d = decide(&p, &store, body, &calls);
        assert_eq!(d.error_code(), Some(ReasonCode::NumberIntel), "{body}");
    }
    assert_eq!(calls.get(), 6);
    // The block has seen three numbers: a fourth is refused before any lookup.
    let d = decide_at(&p, &store, r#"{"phone":"+14155550401"}"#, &JSON, 1000, &calls);
    assert_eq!(d.error_code(), Some(ReasonCode::AdjacentNumbers));
    assert_eq!(calls.get(), 6);
    // The clean numbers beside a refused one are not: their block has seen none (with them a
    // fourth number would be refused, and a few such requests could shut a real user's block),
    // and their own limits are whole.
    let d = decide_at(&p, &store, r#"{"phone":"+14155559303"}"#, &JSON, 2000, &calls);
    assert_eq!(d.action, Action::Allow, "{:?}", d.reasons);
    let d = decide_at(&p, &store, r#"{"phone":"+14155559300"}"#, &JSON, 2500, &calls);
    assert_eq!(d.action, Action::Allow);
    let d = decide_at(&p, &store, r#"{"phone":"+14155559300"}"#, &JSON, 3000, &calls);
    assert_eq!(d.error_code(), Some(ReasonCode::RateLimited), "sent once now");
}

#[test]
fn without_the_option_or_with_a_shadow_provider_rule_refusals_stay_unseen() {
    let without = WALK.replace(r#","count_intel_refusals":true"#, "");
    let shadow = RISKY.replace(r#""action":"block""#, r#""action":"block","shadow":true"#);
    for rules in [format!("{without},{RISKY}"), format!("{WALK},{shadow}")] {
        let p = policy(&rules, "");
        let store = MemoryStore::new();
        let calls = Cell::new(0);
        for number in ["+14155550199", "+14155550299", "+14155550399"] {
            decide(&p, &store, &format!(r#"{{"phone":"{number}"}}"#), &calls);
        }
        let d = decide_at(&p, &store, r#"{"phone":"+14155550401"}"#, &JSON, 1000, &calls);
        if rules.contains("shadow") {
            // A shadow rule refuses nothing, so each number was sent and seen as any send is.
            assert_eq!(d.error_code(), Some(ReasonCode::AdjacentNumbers), "{rules}");
        } else {
            assert_eq!(d.action, Action::Allow, "{rules}");
        }
    }
}
