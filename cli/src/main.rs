//! `pumpguard`: check policies, replay captured traffic, run scenario files.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;
use std::time::Duration;

mod http;
mod over_http;
mod simulate;

use pumpguard_core::decision::TokenVerdict;
use pumpguard_core::scenario::{self, simulated_siteverify, Scenario};
use pumpguard_core::traffic::{as_request, TrafficRecord};
use pumpguard_core::{Action, MemoryStore, Policy};

const USAGE: &str = "\
usage:
  pumpguard check POLICY.json
      Validate a policy. Exit 0 when it loads, 1 with every error and its JSON path.
  pumpguard replay --policy POLICY.json [--tokens MODE] [--report FILE.html] TRAFFIC.jsonl
      Judge each recorded request in order (record timestamps drive time). Prints one JSON
      decision per line on stdout and a summary per action and reason on stderr; --report
      also writes the HTML report of the decisions (docs/simulator.md).
      MODE says how CAPTCHA tokens verify: convention (default: pass*/fail*/other), valid,
      invalid, unavailable.
  pumpguard scenarios [HOST OPTIONS] FILE.json...
      Run scenario files (policy + requests + expected decisions); exit 1 on any mismatch.
      In process by default; with --target, over HTTP against a host already loaded with the
      scenario's policy (docs/host-tests.md). Host options:
        --target http://HOST:PORT   send every step there
        --client-ip-header NAME     header carrying the record's client_ip
        --ja3-header NAME, --ja4-header NAME   headers carrying the record's TLS fingerprints
        --clock-header NAME         header carrying the record's at_ms (the host's test clock)
        --timeout-ms N              per request (default 10000)
  pumpguard scenario-policy FILE.json
      Print a scenario's policy with expose_findings on, for loading into a host under test.
  pumpguard simulate --policy POLICY.json [OPTIONS]   (see `pumpguard simulate --help`)";

/// Exit status for bad usage or unreadable input, as distinct from an invalid policy (1).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("check") => check(&args[1..]),
        Some("replay") => replay(&args[1..]),
        Some("scenarios") => scenarios(&args[1..]),
        Some("scenario-policy") => scenario_policy(&args[1..]),
        Some("simulate") => simulate::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(format!("unknown or missing command\n{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("pumpguard: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn load_policy(path: &str) -> Result<Result<Policy, String>, String> {
    let text = read(path)?;
    Ok(Policy::from_json(&text).map_err(|errors| {
        let mut out = format!("{path}: {} error(s)\n", errors.errors.len());
        for e in &errors.errors {
            out.push_str(&format!(
                "  {}: {}\n",
                if e.path.is_empty() { "(document)" } else { &e.path },
                e.message
            ));
        }
        out
    }))
}

fn check(args: &[String]) -> Result<ExitCode, String> {
    let [path] = args else { return Err(format!("check takes one policy file\n{USAGE}")) };
    match load_policy(path)? {
        Ok(policy) => {
            println!(
                "{path}: ok ({} routes, {} rules)",
                policy.route_ids().count(),
                policy.rule_ids().count()
            );
            // Warnings never fail the check: they name settings that load but weaken the guard.
            for warning in policy.warnings() {
                eprintln!("{path}: warning: {}: {}", warning.path, warning.message);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(report) => {
            eprint!("{report}");
            Ok(ExitCode::from(1))
        }
    }
}

#[derive(Clone, Copy)]
enum TokenMode {
    Convention,
    Fixed(fn(&str) -> TokenVerdict),
}

fn replay(args: &[String]) -> Result<ExitCode, String> {
    let mut policy_path = None;
    let mut traffic_path = None;
    let mut tokens = TokenMode::Convention;
    let mut report_path = None;
    let mut judged = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--policy" => policy_path = rest.next(),
            "--report" => report_path = rest.next(),
            "--tokens" => {
                tokens = match rest.next().map(String::as_str) {
                    Some("convention") => TokenMode::Convention,
                    Some("valid") => TokenMode::Fixed(|_| TokenVerdict::Valid),
                    Some("invalid") => TokenMode::Fixed(|_| TokenVerdict::Invalid {
                        detail: "replay: --tokens invalid".into(),
                    }),
                    Some("unavailable") => TokenMode::Fixed(|_| TokenVerdict::Unavailable {
                        detail: "replay: --tokens unavailable".into(),
                    }),
                    other => {
                        return Err(format!(
                            "--tokens takes convention, valid, invalid or unavailable, not {other:?}"
                        ))
                    }
                }
            }
            path if traffic_path.is_none() && !path.starts_with("--") => traffic_path = Some(arg),
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    let (Some(policy_path), Some(traffic_path)) = (policy_path, traffic_path) else {
        return Err(format!("replay needs --policy POLICY.json and a traffic file\n{USAGE}"));
    };
    let policy = match load_policy(policy_path)? {
        Ok(policy) => policy,
        Err(report) => {
            eprint!("{report}");
            return Ok(ExitCode::from(1));
        }
    };
    let file = std::fs::File::open(traffic_path).map_err(|e| format!("cannot read {traffic_path}: {e}"))?;
    let store = MemoryStore::new();
    let mut by_action: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line_no = index + 1;
        let line = line.map_err(|e| format!("{traffic_path}:{line_no}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: TrafficRecord = serde_json::from_str(&line)
            .map_err(|e| format!("{traffic_path}:{line_no}: not a traffic record: {e}"))?;
        let owned = record.owned().map_err(|e| format!("{traffic_path}:{line_no}: {e}"))?;
        let refs: Vec<(&str, &str)> = owned.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let now = record.at();
        let req = as_request(&record, &owned, &refs, policy.max_body_bytes());
        let mut decision = policy.decide(&req, now, &store);
        if let Some(check) = decision.token_check.clone() {
            let verdict = match tokens {
                TokenMode::Convention => simulated_siteverify(&check.token),
                TokenMode::Fixed(f) => f(&check.token),
            };
            decision = policy.resolve_token(decision, &verdict);
            decision = policy.commit(decision, now, &store);
        }
        if decision.action == Action::Allow {
            record.record_confirm(&policy, &decision, &store);
        }
        if decision.route.is_some() {
            *by_action.entry(decision.action.as_str()).or_default() += 1;
            for reason in &decision.reasons {
                let label = match &reason.rule {
                    Some(rule) => format!("{rule}:{}", reason.code.as_str()),
                    None => reason.code.as_str().to_owned(),
                };
                let label = if reason.enforced { label } else { format!("{label} (not enforced)") };
                *by_reason.entry(label).or_default() += 1;
            }
        } else {
            *by_action.entry("unguarded").or_default() += 1;
        }
        let line = format!(
            "{{\"line\":{line_no},\"at_ms\":{},\"method\":{},\"path\":{},\"decision\":{}}}",
            record.at_ms,
            serde_json::Value::from(record.method.as_str()),
            serde_json::Value::from(record.path.as_str()),
            decision.log_line()
        );
        writeln!(out, "{line}").map_err(|e| format!("writing output: {e}"))?;
        if report_path.is_some() {
            judged.push((record, decision));
        }
    }
    eprintln!("summary by action:");
    for (action, count) in &by_action {
        eprintln!("  {action:<12} {count}");
    }
    eprintln!("summary by reason:");
    for (reason, count) in &by_reason {
        eprintln!("  {reason:<48} {count}");
    }
    if let Some(path) = report_path {
        simulate::write_replay_report(path, policy_path, judged)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn read_scenario(file: &str) -> Result<Scenario, String> {
    serde_json::from_str(&read(file)?).map_err(|e| format!("{file}: not a scenario: {e}"))
}

fn scenario_policy(args: &[String]) -> Result<ExitCode, String> {
    let [file] = args else { return Err(format!("scenario-policy takes one scenario file\n{USAGE}")) };
    let mut policy = read_scenario(file)?.policy;
    if let Some(fields) = policy.as_object_mut() {
        fields.insert("expose_findings".to_owned(), serde_json::Value::Bool(true));
    }
    println!("{policy}");
    Ok(ExitCode::SUCCESS)
}

/// Parsed `scenarios` arguments: host options (when `--target` is given) and files.
fn scenario_args(args: &[String]) -> Result<(Option<over_http::HostOptions>, Vec<String>), String> {
    let (mut target, mut client_ip, mut ja3, mut ja4, mut clock) = (None, None, None, None, None);
    let mut timeout = Duration::from_secs(10);
    let mut files = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--target" => target = Some(over_http::Target::parse(&value()?)?),
            "--client-ip-header" => client_ip = Some(value()?),
            "--ja3-header" => ja3 = Some(value()?),
            "--ja4-header" => ja4 = Some(value()?),
            "--clock-header" => clock = Some(value()?),
            "--timeout-ms" => {
                let ms = value()?;
                timeout = Duration::from_millis(ms.parse().map_err(|_| format!("--timeout-ms: {ms:?}"))?);
            }
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}\n{USAGE}")),
            file => files.push(file.to_owned()),
        }
    }
    let host_only = client_ip.is_some() || ja3.is_some() || ja4.is_some() || clock.is_some();
    let options = match target {
        Some(target) => Some(over_http::HostOptions {
            target,
            client_ip_header: client_ip,
            ja3_header: ja3,
            ja4_header: ja4,
            clock_header: clock,
            timeout,
        }),
        None if host_only => return Err("host options need --target".to_owned()),
        None => None,
    };
    Ok((options, files))
}

fn scenarios(args: &[String]) -> Result<ExitCode, String> {
    let (host, files) = scenario_args(args)?;
    if files.is_empty() {
        return Err(format!("scenarios takes one or more files\n{USAGE}"));
    }
    let (mut passed, mut failed, mut skipped) = (0u32, 0u32, 0u32);
    for file in &files {
        let scenario = read_scenario(file)?;
        let problems: Vec<String> = match &host {
            Some(options) => match over_http::run(&scenario, options) {
                Err(e) => vec![e],
                Ok(over_http::ScenarioRun::Ran(problems)) => problems,
                Ok(over_http::ScenarioRun::Skipped) => {
                    skipped += 1;
                    println!("SKIP {file} ({}): expects the host to refuse its policy", scenario.name);
                    continue;
                }
            },
            None => match scenario::run(&scenario) {
                Err(e) => vec![e],
                Ok(outcomes) => outcomes
                    .iter()
                    .filter(|o| !o.mismatches.is_empty())
                    .map(|o| format!("step {} (repeat {}): {}", o.step, o.repeat, o.mismatches.join("; ")))
                    .collect(),
            },
        };
        if problems.is_empty() {
            passed += 1;
        } else {
            failed += 1;
            println!("FAIL {file} ({})", scenario.name);
            for p in problems {
                println!("  {p}");
            }
        }
    }
    println!("scenarios: {passed} passed, {failed} failed, {skipped} skipped");
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
