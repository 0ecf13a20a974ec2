//! The `pumpguard` commands as operators run them: exit codes, what goes to stdout and stderr.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path).to_string_lossy().into_owned()
}

fn pumpguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pumpguard")).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scratch(name: &str, contents: &str) -> String {
    let dir = std::env::temp_dir().join(format!("pumpguard-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn check_accepts_the_example_policy() {
    let out = pumpguard(&["check", &repo("examples/policy.json")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(": ok ("), "{}", text(&out.stdout));
}

#[test]
fn check_warns_about_inputs_that_open_a_bypass_but_still_exits_0() {
    let policy = scratch(
        "lenient-policy.json",
        r#"{"version":1,"routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/otp"}},
            "extract":{"json_keys":["phone"]}}],"inputs":{"on_too_many_numbers":"allow"}}"#,
    );
    let out = pumpguard(&["check", &policy]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("warning: inputs.on_no_number: allow:"), "{stderr}");
    assert!(stderr.contains("warning: inputs.on_too_many_numbers: allow:"), "{stderr}");
    let strict = pumpguard(&["check", &repo("examples/policy.json")]);
    assert!(!text(&strict.stderr).contains("warning"), "{}", text(&strict.stderr));
}

#[test]
fn check_warns_about_a_prefix_surge_that_learns_a_fresh_prefix_from_the_campaign() {
    let surge = |min_history: u32| {
        format!(
            r#"{{"version":1,"routes":[{{"id":"otp","kind":"send","match":{{"path":{{"exact":"/otp"}}}},
            "extract":{{"json_keys":["phone"]}}}}],"inputs":{{"on_no_number":"block"}},"rules":[
            {{"id":"geo","action":"block","country":{{"allow":["GB"]}}}},
            {{"id":"prefix-surge","action":"block","surge":{{"scope":{{"prefix":6}},"window_seconds":3600,
              "history_windows":24,"min_history_windows":{min_history},"factor":3,"floor":6}}}}]}}"#
        )
    };
    let learning = pumpguard(&["check", &scratch("prefix-surge-learning.json", &surge(3))]);
    assert_eq!(learning.status.code(), Some(0), "{}", text(&learning.stderr));
    let stderr = text(&learning.stderr);
    assert!(stderr.contains("warning: rules[1].surge.min_history_windows: a prefix not sent to"), "{stderr}");
    let at_floor = pumpguard(&["check", &scratch("prefix-surge-at-floor.json", &surge(0))]);
    assert!(!text(&at_floor.stderr).contains("warning"), "{}", text(&at_floor.stderr));
}

#[test]
fn check_warns_about_sends_by_account_no_rule_bounds() {
    let policy = |rules: &str| {
        format!(
            r#"{{"version":1,"routes":[{{"id":"cognito","kind":"send","extract":{{"preset":"cognito"}}}},
            {{"id":"verify","kind":"send","extract":{{"preset":"twilio_verify"}}}}],
            "inputs":{{"on_no_number":"block"}},"rules":[{rules}]}}"#
        )
    };
    let unbounded = pumpguard(&["check", &scratch("accounts-unbounded.json", &policy(""))]);
    assert_eq!(unbounded.status.code(), Some(0), "{}", text(&unbounded.stderr));
    let stderr = text(&unbounded.stderr);
    assert!(stderr.contains("warning: routes[0].extract: its requests may name an account"), "{stderr}");
    // An e-mail address in Twilio's To asks for no SMS: nothing to bound.
    assert!(!stderr.contains("routes[1]"), "{stderr}");
    let per_account = r#"{"id":"per-account","action":"throttle","rate_limit":{"key":["account"],"rate":10,"per_seconds":86400,"burst":5}}"#;
    let bounded = pumpguard(&["check", &scratch("accounts-bounded.json", &policy(per_account))]);
    let stderr = text(&bounded.stderr);
    assert!(!stderr.contains("may name an account"), "{stderr}");
    // Bounded per account, but each account a budget beside its number's.
    assert!(stderr.contains("warning: routes[0].extract: a resend or a reset by user name"), "{stderr}");
    assert!(!stderr.contains("routes[1]"), "{stderr}");
    let bound = format!(r#"{per_account},{{"id":"bound","action":"log","bound_number":{{}}}}"#);
    let both = pumpguard(&["check", &scratch("accounts-bound.json", &policy(&bound))]);
    assert!(!text(&both.stderr).contains("warning"), "{}", text(&both.stderr));
}

#[test]
fn check_names_every_error_by_json_path_and_exits_1() {
    let scenario: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("tests/scenarios/067-bad-policy-every-error-named.json")).unwrap(),
    )
    .unwrap();
    let policy = scratch("bad-policy.json", &scenario["policy"].to_string());
    let out = pumpguard(&["check", &policy]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for path in scenario["policy_errors"].as_array().unwrap() {
        assert!(stderr.contains(&format!("  {}: ", path.as_str().unwrap())), "{path} missing in:\n{stderr}");
    }
    assert!(stderr.contains("3 error(s)"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [&[][..], &["check"][..], &["frobnicate"][..], &["check", "/nonexistent/policy.json"][..]] {
        let out = pumpguard(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).starts_with("pumpguard: "), "{args:?}");
    }
    let out = pumpguard(&["scenarios", "--client-ip-header", "x-forwarded-for", "f.json"]);
    assert_eq!(out.status.code(), Some(2), "host options without --target");
}

#[test]
fn replay_prints_one_decision_per_record_and_a_summary() {
    let traffic = repo("examples/traffic.jsonl");
    let records = std::fs::read_to_string(&traffic).unwrap().lines().filter(|l| !l.trim().is_empty()).count();
    let out = pumpguard(&["replay", "--policy", &repo("examples/policy.json"), &traffic]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), records);
    assert!(lines.iter().all(|l| l["decision"]["action"].is_string()));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("summary by action:") && stderr.contains("summary by reason:"), "{stderr}");
}

#[test]
fn replay_summarises_the_inputs_its_rules_read() {
    let policy = scratch(
        "inputs-policy.json",
        r#"{"version":1,"default_region":"US",
            "routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/otp"}},"extract":{"json_keys":["phone"]}}],
            "rules":[{"id":"abroad","action":"log","client_country":{}}]}"#,
    );
    let record = |at: u32, country: &str| {
        let header =
            if country.is_empty() { String::new() } else { format!(r#",["cf-ipcountry","{country}"]"#) };
        format!(
            r#"{{"at_ms":{at},"method":"POST","host":"a","path":"/otp","headers":[["content-type","application/json"]{header}],"body":"{{\"phone\":\"+1415555010{at}\"}}"}}"#
        )
    };
    let traffic = scratch(
        "inputs.jsonl",
        &[record(1, "US"), record(2, ""), record(3, "XX"), record(4, "T1")].join("\n"),
    );
    let out = pumpguard(&["replay", "--policy", &policy, &traffic]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("client_country   missing in 2 of 4 (50.0%)"), "{stderr}");
}

#[test]
fn replay_names_the_unguarded_paths_that_carry_phone_numbers() {
    // The example traffic's send route under another path: the policy guards none of it.
    let moved = std::fs::read_to_string(repo("examples/traffic.jsonl"))
        .unwrap()
        .replace("/api/otp/send", "/v1/sms/code");
    // Every send but the one whose number is cut short (`+1415`): too few digits to tell.
    let sends = moved.lines().filter(|l| l.contains("/v1/sms/code") && !l.contains(r#"+1415""#)).count();
    assert_eq!(sends + 1, moved.matches("/v1/sms/code").count());
    let traffic = scratch("moved.jsonl", &moved);
    let out = pumpguard(&["replay", "--policy", &repo("policies/recommended.json"), &traffic]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unguarded requests carrying a phone number"), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with("  POST /v1/sms/code") && l.ends_with(&format!(" {sends}"))),
        "{stderr}"
    );
    // A policy that guards every send names none.
    let out = pumpguard(&[
        "replay",
        "--policy",
        &repo("policies/recommended.json"),
        &repo("examples/traffic.jsonl"),
    ]);
    assert!(!text(&out.stderr).contains("carrying a phone number"), "{}", text(&out.stderr));
}

#[test]
fn replay_reports_the_line_of_a_bad_record() {
    let traffic = scratch("bad.jsonl", "{\"method\":\"POST\",\"host\":\"a\",\"path\":\"/\"}\nnot json\n");
    let out = pumpguard(&["replay", "--policy", &repo("examples/policy.json"), &traffic]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("bad.jsonl:2: not a traffic record"), "{}", text(&out.stderr));
}

#[test]
fn scenarios_in_process_pass_and_a_mismatch_fails() {
    let out = pumpguard(&["scenarios", &repo("tests/scenarios/001-allow-valid-number.json")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let mut scenario: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("tests/scenarios/005-country-deny-list.json")).unwrap(),
    )
    .unwrap();
    for step in scenario["steps"].as_array_mut().unwrap() {
        step["expect"]["action"] = "allow".into();
    }
    let file = scratch("wrong-expectation.json", &scenario.to_string());
    let out = pumpguard(&["scenarios", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("action: expected allow, got block"), "{}", text(&out.stdout));
}

#[test]
fn version_names_the_phone_metadata() {
    let out = pumpguard(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("pumpguard {} (libphonenumber metadata ", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    assert!(!stdout.contains("metadata unknown"), "core/metadata/VERSION names the release: {stdout}");
}

#[test]
fn help_for_the_tool_and_each_command_ends_with_a_newline() {
    for args in [
        &["--help"][..],
        &["help"],
        &["check", "--help"],
        &["replay", "--help"],
        &["scenarios", "--help"],
        &["scenario-policy", "--help"],
        &["completions", "--help"],
        &["schema", "--help"],
        &["help", "replay"],
    ] {
        let out = pumpguard(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let stdout = text(&out.stdout);
        assert!(stdout.contains("Usage: pumpguard"), "{args:?}: {stdout}");
        assert!(stdout.ends_with('\n'), "{args:?}: the prompt would land on the last line");
    }
    assert!(text(&pumpguard(&["replay", "--help"]).stdout).contains("unavailable"), "--tokens values listed");
}

#[test]
fn usage_errors_name_the_bad_argument() {
    let policy = repo("examples/policy.json");
    let cases: [(&[&str], &str); 4] = [
        (&["replay", "--policy", &policy, "--tokens", "maybe", "t.jsonl"], "'maybe' for '--tokens"),
        (&["replay", "t.jsonl"], "--policy <POLICY.json>"),
        (
            &["scenarios", "--timeout-ms", "soon", "--target", "http://127.0.0.1:9", "f.json"],
            "'soon' for '--timeout-ms",
        ),
        (&["scenarios", "--target", "https://example.com", "f.json"], "only http:// targets"),
    ];
    for (args, named) in cases {
        let out = pumpguard(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with("pumpguard: ") && stderr.contains(named), "{args:?}: {stderr}");
    }
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = pumpguard(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains("scenario-policy") && script.contains("tokens"), "{shell}: {script}");
    }
    let bash = scratch("pumpguard.bash", &text(&pumpguard(&["completions", "bash"]).stdout));
    if let Ok(syntax) = Command::new("bash").args(["-n", &bash]).output() {
        assert!(syntax.status.success(), "bash -n: {}", text(&syntax.stderr));
    }
    assert_eq!(pumpguard(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn replay_shows_no_progress_when_stderr_is_not_a_terminal() {
    let out =
        pumpguard(&["replay", "--policy", &repo("examples/policy.json"), &repo("examples/traffic.jsonl")]);
    let stderr = text(&out.stderr);
    assert!(!stderr.contains('\r') && !stderr.contains("records,"), "{stderr}");
    assert!(stderr.starts_with("summary by action:"), "{stderr}");
}

#[test]
fn simulate_truth_names_the_findings_and_risk_of_every_answer() {
    let truth = scratch("truth.jsonl", "");
    let out = pumpguard(&[
        "simulate",
        "--policy",
        &repo("policies/recommended.json"),
        "--hours",
        "0.5",
        "--truth",
        &truth,
        "--json",
        "-",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&truth).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["findings"].is_array()), "every line lists its findings");
    // The policy scores risk: a challenge for risk names the signals that added up to it.
    let scored = lines
        .iter()
        .find(|l| l["error"] == "captcha_required" && l["risk"].as_u64().is_some_and(|r| r >= 50))
        .expect("a send challenged for its risk");
    let findings: Vec<&str> =
        scored["findings"].as_array().unwrap().iter().filter_map(|f| f.as_str()).collect();
    assert!(findings.contains(&"risk_score"), "{findings:?}");
    assert!(findings.iter().any(|f| f.contains(':')), "and the rules that scored it: {findings:?}");
}
