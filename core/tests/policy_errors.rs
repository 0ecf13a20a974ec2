//! One row per bad policy: the exact path and the message that must be reported.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use pumpguard_core::Policy;
use serde_json::{json, Value};

fn base() -> Value {
    json!({
        "version": 1,
        "routes": [{"id": "otp", "kind": "send", "match": {"path": {"exact": "/otp"}}, "extract": {"json_keys": ["phone"]}}],
        "rules": []
    })
}

fn with(patch: impl FnOnce(&mut Value)) -> String {
    let mut doc = base();
    patch(&mut doc);
    doc.to_string()
}

fn rule(r: Value) -> String {
    with(|d| d["rules"] = json!([r]))
}

#[test]
fn every_bad_input_is_reported_where_it_is() {
    let rows: Vec<(String, &str, &str)> = vec![
        (with(|d| d["version"] = json!(2)), "version", "unsupported policy version 2"),
        (with(|d| d["extra"] = json!(1)), "extra", "unknown field `extra`"),
        (with(|d| d["default_region"] = json!("ZZ")), "default_region", "\"ZZ\" is not an ISO 3166 region"),
        (with(|d| d["routes"] = json!([])), "routes", "at least one route is needed"),
        (with(|d| d["routes"][0]["kind"] = json!("sned")), "routes[0].kind", "unknown variant `sned`"),
        (
            with(|d| d["routes"][0]["match"]["path"] = json!({"exact": "otp"})),
            "routes[0].match.path",
            "must start with '/'",
        ),
        (
            with(|d| d["routes"][0]["match"]["hosts"] = json!(["a.*.com"])),
            "routes[0].match.hosts[0]",
            "wildcard is only allowed",
        ),
        (with(|d| d["routes"][0]["id"] = json!("has space")), "routes[0].id", "must be 1 to 64 characters"),
        (
            with(|d| d["routes"][0]["confirmed_number_field"] = json!("phoneNumber")),
            "routes[0]",
            "only confirm routes have success_header, success_json or confirmed_number_field",
        ),
        (
            with(|d| {
                d["routes"][0]["kind"] = json!("confirm");
                d["routes"][0]["confirmed_number_field"] = json!("data..phone");
            }),
            "routes[0].confirmed_number_field",
            "a dotted path of non-empty keys",
        ),
        (
            with(|d| d["inputs"] = json!({"max_body_bytes": 0})),
            "inputs.max_body_bytes",
            "must be between 1 and",
        ),
        (
            with(|d| d["inputs"] = json!({"on_oversize": "maybe"})),
            "inputs.on_oversize",
            "unknown variant `maybe`",
        ),
        (with(|d| d["safelist"] = json!(["15005550006"])), "safelist[0]", "must start with '+'"),
        (rule(json!({"id": "r", "action": "block"})), "rules[0]", "needs exactly one of"),
        (
            rule(
                json!({"id": "r", "action": "block", "country": {"deny": ["US"]}, "prefix": {"prefixes": ["+1"]}}),
            ),
            "rules[0]",
            "(found 2)",
        ),
        (
            rule(json!({"id": "r", "action": "block", "country": {"deny": ["+999"]}})),
            "rules[0].country.deny[0]",
            "not an assigned calling code",
        ),
        (
            rule(json!({"id": "r", "action": "block", "bot_score": {"below": 1}})),
            "rules[0].bot_score.below",
            "must be between 2 and 99",
        ),
        (
            rule(json!({"id": "r", "action": "block", "bot_score": {"below": 300}})),
            "rules[0].bot_score.below",
            "expected u8",
        ),
        (
            rule(json!({"id": "r", "action": "block", "bot_score": {"below": 30, "verified_bots": "allow"}})),
            "rules[0].bot_score.verified_bots",
            "unknown variant `allow`",
        ),
        (
            rule(json!({"id": "r", "action": "throttle", "bot_score": {"below": 30}})),
            "rules[0].action",
            "throttle needs a rule with a time component",
        ),
        (
            rule(json!({"id": "r", "action": "block", "country": {}})),
            "rules[0].country",
            "list at least one country",
        ),
        (
            rule(json!({"id": "r", "action": "block", "number_type": {"deny": ["premium"]}})),
            "rules[0].number_type.deny[0]",
            "unknown variant `premium`",
        ),
        (
            rule(json!({"id": "r", "action": "block", "pattern": {"deny": ["("]}})),
            "rules[0].pattern.deny[0]",
            "invalid regular expression",
        ),
        (
            rule(json!({"id": "r", "action": "block", "prefix": {"prefixes": ["+44a"]}})),
            "rules[0].prefix.prefixes[0]",
            "1 to 15 digits",
        ),
        (
            rule(json!({"id": "r", "action": "throttle", "country": {"deny": ["US"]}})),
            "rules[0].action",
            "throttle needs a rule with a time component",
        ),
        (
            rule(json!({"id": "r", "action": "challenge", "captcha": {}})),
            "rules[0].action",
            "needs a top-level \"captcha\" section",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "rate_limit": {"key": [], "rate": 1, "per_seconds": 1}}),
            ),
            "rules[0].rate_limit.key",
            "at least one key part",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "rate_limit": {"key": ["ip"], "rate": 1, "per_seconds": 1}}),
            ),
            "rules[0].rate_limit.key[0]",
            "unknown variant `ip`",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "rate_limit": {"key": [{"prefix": 0}], "rate": 1, "per_seconds": 1}}),
            ),
            "rules[0].rate_limit.key[0].prefix",
            "1 to 15 digits",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "rate_limit": {"key": ["captcha_solver"], "rate": 1, "per_seconds": 1}}),
            ),
            "rules[0].rate_limit.key",
            "captcha_solver needs a top-level \"captcha\" section",
        ),
        (
            rule(json!({"id": "r", "action": "block", "conversion": {"scope": {"prefix": 6}, "min_sends": 4,
                "min_ratio": 0.25, "window_seconds": 3600, "block_seconds": 600, "count_intel_refusals": true}})),
            "rules[0].conversion.count_intel_refusals",
            "only a \"captcha_solver\", \"client_ip\" or \"client_net\" scope counts refused sends",
        ),
        (
            rule(json!({"id": "r", "action": "block", "adjacent": {"suffix_digits": 2, "max_distinct": 4,
                "window_seconds": 600, "block_seconds": 900, "max_block_seconds": 3600,
                "count_intel_refusals": true}})),
            "rules[0].adjacent.count_intel_refusals",
            "needs a top-level \"number_intel\" section",
        ),
        (
            rule(json!({"id": "r", "action": "block", "conversion": {"scope": "client_ip", "min_sends": 20,
                "min_ratio": 0.2, "window_seconds": 86400, "block_seconds": 21600, "count_intel_refusals": true}})),
            "rules[0].conversion.count_intel_refusals",
            "needs a top-level \"number_intel\" section",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "conversion": {"scope": {"client_net": {"v4": 24, "v6": 48}},
                "min_sends": 20, "min_ratio": 0.2, "window_seconds": 86400, "block_seconds": 21600,
                "count_intel_refusals": true}}),
            ),
            "rules[0].conversion.count_intel_refusals",
            "needs a top-level \"number_intel\" section",
        ),
        (
            rule(json!({"id": "r", "action": "challenge", "client": {
                "claims": "opera", "missing_headers": ["sec-ch-ua"]}})),
            "rules[0].client.claims",
            "unknown variant `opera`, expected `browser` or `chrome`",
        ),
        (
            rule(json!({"id": "r", "action": "challenge", "client": {"claims": "chrome"}})),
            "rules[0].client.missing_headers",
            "list the headers the claimed browser always sends",
        ),
        (
            rule(json!({"id": "r", "action": "challenge", "client_country": {
                "proven_pairs": {"min_confirms": 10, "min_ratio": 0.6, "window_seconds": 604800}}})),
            "rules[0].client_country.proven_pairs",
            "no route has kind confirm, so no pair is ever proven",
        ),
        (
            rule(json!({"id": "r", "action": "challenge", "client_country": {
                "proven_pairs": {"min_confirms": 0, "min_ratio": 0.6, "window_seconds": 604800}}})),
            "rules[0].client_country.proven_pairs.min_confirms",
            "must be",
        ),
        (
            rule(json!({"id": "r", "action": "challenge", "client_country": {
                "proven_pairs": {"min_confirms": 10, "min_ratio": 1.5, "window_seconds": 604800}}})),
            "rules[0].client_country.proven_pairs.min_ratio",
            "must be greater than 0 and at most 1",
        ),
        (
            rule(json!({"id": "r", "action": "challenge", "client_country": {
                "proven_pairs": {"min_confirms": 10, "min_ratio": 0.6}}})),
            "rules[0].client_country.proven_pairs",
            "missing field `window_seconds`",
        ),
        (
            rule(json!({"id": "r", "action": "challenge", "client_country": {
                "proven_pairs": {"min_confirms": 10, "min_ratio": 0.6, "window_seconds": 604800,
                "min_trusted_confirms": 11}}})),
            "rules[0].client_country.proven_pairs.min_trusted_confirms",
            "must be at most min_confirms",
        ),
        (
            rule(json!({"id": "r", "action": "challenge", "client_country": {
                "proven_pairs": {"min_confirms": 10, "min_ratio": 0.6, "window_seconds": 604800,
                "min_trust_age_seconds": 86400}}})),
            "rules[0].client_country.proven_pairs.min_trust_age_seconds",
            "counts only with min_trusted_confirms",
        ),
        (
            rule(json!({"id": "r", "action": "challenge", "client_country": {
                "proven_pairs": {"min_confirms": 10, "min_ratio": 0.6, "window_seconds": 604800,
                "min_trusted_confirms": 3}}})),
            "rules[0].client_country.proven_pairs.min_trusted_confirms",
            "no rule of kind reputation tells which numbers are trusted",
        ),
        (
            rule(json!({"id": "r", "action": "log", "reputation": {
                "trusted_sends": {"max": 0, "window_seconds": 86400}}})),
            "rules[0].reputation.trusted_sends.max",
            "must be 1 or more",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "conversion": {"scope": {"client_net": {"v4": 0, "v6": 48}},
                "min_sends": 20, "min_ratio": 0.2, "window_seconds": 86400, "block_seconds": 21600}}),
            ),
            "rules[0].conversion.scope.client_net.v4",
            "must keep 1 to 32 bits",
        ),
        (
            rule(json!({"id": "r", "action": "block", "conversion": {"scope": {"client_net": {"v6": 129}},
                "min_sends": 20, "min_ratio": 0.2, "window_seconds": 86400, "block_seconds": 21600}})),
            "rules[0].conversion.scope.client_net.v6",
            "must keep 1 to 128 bits",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "surge": {"scope": {"client_net": {"v4": 24}}, "window_seconds": 3600,
                "factor": 3, "floor": 10}}),
            ),
            "rules[0].surge.scope",
            "a surge is judged per number scope",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "surge": {"scope": "client_ip", "window_seconds": 3600,
                "factor": 3, "floor": 10}}),
            ),
            "rules[0].surge.scope",
            "a surge is judged per number scope",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "rate_limit": {"key": ["number"], "rate": 1, "per_seconds": 0}}),
            ),
            "rules[0].rate_limit.per_seconds",
            "must be at least 1",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "backoff": {"base_seconds": 10, "max_seconds": 5, "reset_after_seconds": 60}}),
            ),
            "rules[0].backoff.max_seconds",
            "at least base_seconds",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "adjacent": {"suffix_digits": 5, "max_distinct": 3, "window_seconds": 1, "block_seconds": 1, "max_block_seconds": 1}}),
            ),
            "rules[0].adjacent.suffix_digits",
            "between 1 and 4",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "adjacent": {"suffix_digits": 1, "max_distinct": 10, "window_seconds": 1, "block_seconds": 1, "max_block_seconds": 1}}),
            ),
            "rules[0].adjacent.max_distinct",
            "less than the numbers in one block",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "conversion": {"scope": "country", "min_sends": 1, "min_ratio": 1.5, "window_seconds": 1, "block_seconds": 1}}),
            ),
            "rules[0].conversion.min_ratio",
            "greater than 0 and at most 1",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "conversion": {"scope": "country", "min_sends": 1, "min_ratio": 0.2, "window_seconds": 1, "block_seconds": 1, "baseline": {"factor": 1.5}}}),
            ),
            "rules[0].conversion.baseline.factor",
            "greater than 0 and at most 1",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "conversion": {"scope": "country", "min_sends": 1, "min_ratio": 0.2, "window_seconds": 1, "block_seconds": 1, "baseline": {"history_windows": 4, "min_history_windows": 5}}}),
            ),
            "rules[0].conversion.baseline.min_history_windows",
            "at most history_windows",
        ),
        (
            rule(
                json!({"id": "r", "action": "block", "conversion": {"scope": "country", "min_sends": 1, "min_ratio": 0.2, "window_seconds": 1, "block_seconds": 1, "block_after_windows": 2}}),
            ),
            "rules[0].conversion.block_after_windows",
            "only makes sense for a rule whose action is challenge",
        ),
        (
            rule(json!({"id": "r", "action": "block", "routes": ["nope"], "country": {"deny": ["US"]}})),
            "rules[0].routes[0]",
            "no route has id \"nope\"",
        ),
        (
            rule(json!({"id": "r", "action": "block", "fingerprint": {"kind": "ja4h", "deny": ["x"]}})),
            "fingerprints.ja4h",
            "opt in",
        ),
        (
            rule(json!({"id": "r", "action": "block", "fingerprint": {"kind": "ja3"}})),
            "rules[0].fingerprint",
            "list fingerprints in deny",
        ),
        (
            with(|d| d["captcha"] = json!({"provider": "turnstile", "verify_timeout_ms": 0})),
            "captcha.verify_timeout_ms",
            "between 1 and 30000",
        ),
        (
            with(|d| d["captcha"] = json!({"provider": "friendly"})),
            "captcha.provider",
            "unknown variant `friendly`",
        ),
        (
            with(|d| d["number_intel"] = json!({"url": "ftp://lookup.example/{e164}"})),
            "number_intel.url",
            "only https and http",
        ),
        (
            with(|d| d["number_intel"] = json!({"url": "https://lookup.example/v1/"})),
            "number_intel.url",
            "must contain {e164}",
        ),
        (
            with(|d| d["number_intel"] = json!({"url": "https://l.example/{e164}", "cache_seconds": 10})),
            "number_intel.cache_seconds",
            "between 60 and 2592000",
        ),
        (
            with(|d| d["number_intel"] = json!({"url": "https://l.example/{e164}", "timeout_ms": 0})),
            "number_intel.timeout_ms",
            "between 1 and 30000",
        ),
        (
            with(|d| {
                d["number_intel"] = json!({"url": "https://l.example/{e164}", "headers": {"bad name": "x"}})
            }),
            "number_intel.headers.bad name",
            "header name",
        ),
        (
            with(|d| {
                d["number_intel"] =
                    json!({"url": "https://l.example/{e164}", "response": {"risk_score": "risk"}})
            }),
            "number_intel.response.risk_score",
            "not a JSON pointer",
        ),
        (
            with(|d| {
                d["number_intel"] = json!({"url": "https://l.example/{e164}", "on_unavailable": "challenge"})
            }),
            "number_intel.on_unavailable",
            "needs a top-level \"captcha\"",
        ),
        (
            rule(json!({"id": "r", "action": "block", "number_intel": {"min_risk": 75}})),
            "rules[0].number_intel",
            "needs a top-level \"number_intel\" section",
        ),
        (
            rule(json!({"id": "r", "action": "block", "number_intel": {"line_types": ["satellite"]}})),
            "rules[0].number_intel.line_types[0]",
            "unknown variant `satellite`",
        ),
        (
            with(|d| {
                d["number_intel"] = json!({"url": "https://l.example/{e164}"});
                d["rules"] = json!([{"id": "r", "action": "block", "number_intel": {"unreachable": true, "min_risk": 101}}]);
            }),
            "rules[0].number_intel.unreachable",
            "number_intel.response.reachable is not set",
        ),
        (
            with(|d| {
                d["number_intel"] = json!({"url": "https://l.example/{e164}"});
                d["rules"] = json!([{"id": "r", "action": "throttle", "number_intel": {"min_risk": 80}}]);
            }),
            "rules[0].action",
            "throttle needs a rule with a time component",
        ),
    ];
    let mut problems = Vec::new();
    for (json, path, message) in &rows {
        match Policy::from_json(json) {
            Ok(_) => problems.push(format!("{path}: loaded, expected an error containing {message:?}")),
            Err(errors) => {
                let hit = errors.errors.iter().any(|e| e.path == *path && e.message.contains(message));
                if !hit {
                    problems.push(format!("{path}: expected {message:?}, got {errors}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn duplicate_ids_are_refused() {
    let json = with(|d| {
        d["rules"] = json!([
            {"id": "r", "action": "block", "country": {"deny": ["US"]}},
            {"id": "r", "action": "block", "country": {"deny": ["CA"]}}
        ])
    });
    let errors = Policy::from_json(&json).expect_err("duplicate rule ids must not load");
    assert_eq!(errors.errors[0].path, "rules[1].id");
}

#[test]
fn the_example_policy_loads() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policy.json")).unwrap();
    Policy::from_json(&text).unwrap();
}
