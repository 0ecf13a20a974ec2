//! Runs every scenario of `tests/scenarios/` in process: the reference the hosts are held to.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use std::path::{Path, PathBuf};

use pumpguard_core::scenario::{run, Observed, Scenario};

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_decides_as_expected() {
    let files = scenario_files();
    assert!(files.len() >= 40, "the corpus must keep at least 40 scenarios, found {}", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(file).unwrap();
        let scenario: Scenario = match serde_json::from_str(&text) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{name}: not a scenario: {e}"));
                continue;
            }
        };
        match run(&scenario) {
            Err(e) => failures.push(format!("{name}: {e}")),
            Ok(outcomes) => {
                for o in outcomes.iter().filter(|o| !o.mismatches.is_empty()) {
                    failures.push(format!(
                        "{name} step {} (repeat {}): {}\n    decision: {}",
                        o.step,
                        o.repeat,
                        o.mismatches.join("; "),
                        o.decision.log_line()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} scenario failures:\n{}", failures.len(), failures.join("\n"));
}

/// `Policy::request_needs` is sound: when a policy says it does not read the client address or
/// the HTTP version, every scenario decides the same without them (hosts skip fetching them).
#[test]
fn facts_a_policy_does_not_need_change_no_decision() {
    let mut checked = 0;
    for file in scenario_files() {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let scenario: Scenario = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let Ok(Some(policy)) = pumpguard_core::scenario::load_policy(&scenario) else { continue };
        let needs = policy.request_needs();
        let observed = |s: &Scenario| -> Vec<String> {
            run(s)
                .unwrap()
                .iter()
                .map(|o| format!("{:?} {:?}", Observed::of(&o.decision), o.decision.reasons))
                .collect()
        };
        let reference = observed(&scenario);
        let mut without = scenario.clone();
        for step in &mut without.steps {
            if !needs.client_ip {
                step.request.client_ip = None;
            }
            if !needs.http_version {
                step.request.version = Some("HTTP/2".to_owned());
            }
        }
        assert_eq!(observed(&without), reference, "{name}: needs {needs:?}");
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} scenarios checked");
}

#[test]
fn request_needs_follow_the_rules() {
    let needs = |rules: &str, extra: &str| {
        let text = format!(
            r#"{{"version":1,{extra}"routes":[{{"id":"o","kind":"send","match":{{}},"extract":{{"json_keys":["p"]}}}}],"rules":[{rules}]}}"#
        );
        let policy = pumpguard_core::Policy::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
        let n = policy.request_needs();
        (n.client_ip, n.http_version)
    };
    assert_eq!(needs("", ""), (false, false));
    // Opting in to JA4H without a rule that uses it reads nothing.
    assert_eq!(needs("", r#""fingerprints":{"ja4h":true},"#), (false, false));
    let by_ip = r#"{"id":"r","action":"throttle","rate_limit":{"key":["client_ip"],"rate":1,"per_seconds":1,"burst":1}}"#;
    assert_eq!(needs(by_ip, ""), (true, false));
    let by_ja4h = r#"{"id":"r","action":"throttle","rate_limit":{"key":[{"fingerprint":"ja4h"}],"rate":1,"per_seconds":1,"burst":1}}"#;
    assert_eq!(needs(by_ja4h, r#""fingerprints":{"ja4h":true},"#), (false, true));
    assert_eq!(needs("", r#""captcha":{"provider":"turnstile","secret":"s"},"#), (true, false));
}
