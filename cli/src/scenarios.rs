//! `pumpguard scenarios` and `pumpguard scenario-policy`: run scenario files in process or
//! against a host, and print a scenario's policy for loading into one.

use std::process::ExitCode;
use std::time::Duration;

use pumpguard_core::scenario::{self, Scenario};

use crate::over_http;
use crate::read;

/// Run scenario files (policy + requests + expected decisions); exit 1 on any mismatch.
///
/// In process by default; with --target, over HTTP against a host already loaded with the
/// scenario's policy (see `pumpguard scenario-policy` and docs/host-tests.md).
#[derive(clap::Args)]
pub struct Args {
    /// Scenario files (docs/traffic.md).
    #[arg(value_name = "FILE.json", required = true)]
    files: Vec<String>,
    /// Send every step to a running host instead of judging in process.
    #[arg(long, value_name = "http://HOST:PORT", value_parser = over_http::Target::parse, help_heading = "Host options")]
    target: Option<over_http::Target>,
    /// Header carrying the record's client_ip.
    #[arg(long, value_name = "NAME", requires = "target", help_heading = "Host options")]
    client_ip_header: Option<String>,
    /// Header carrying the record's JA3 fingerprint.
    #[arg(long, value_name = "NAME", requires = "target", help_heading = "Host options")]
    ja3_header: Option<String>,
    /// Header carrying the record's JA4 fingerprint.
    #[arg(long, value_name = "NAME", requires = "target", help_heading = "Host options")]
    ja4_header: Option<String>,
    /// Header carrying the record's edge.bot_score.
    #[arg(long, value_name = "NAME", requires = "target", help_heading = "Host options")]
    bot_score_header: Option<String>,
    /// Header carrying the record's edge.verified_bot (`true` / `false`).
    #[arg(long, value_name = "NAME", requires = "target", help_heading = "Host options")]
    verified_bot_header: Option<String>,
    /// Header carrying the record's at_ms (the host's test clock).
    #[arg(long, value_name = "NAME", requires = "target", help_heading = "Host options")]
    clock_header: Option<String>,
    /// Timeout of each request to the host, in milliseconds.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        requires = "target",
        help_heading = "Host options"
    )]
    timeout_ms: u64,
}

/// Print a scenario's policy with expose_findings on, for loading into a host under test.
#[derive(clap::Args)]
pub struct PolicyArgs {
    /// The scenario file.
    #[arg(value_name = "FILE.json")]
    file: String,
}

fn read_scenario(file: &str) -> Result<Scenario, String> {
    serde_json::from_str(&read(file)?).map_err(|e| format!("{file}: not a scenario: {e}"))
}

pub fn print_policy(args: &PolicyArgs) -> Result<ExitCode, String> {
    let mut policy = read_scenario(&args.file)?.policy;
    if let Some(fields) = policy.as_object_mut() {
        fields.insert("expose_findings".to_owned(), serde_json::Value::Bool(true));
    }
    println!("{policy}");
    Ok(ExitCode::SUCCESS)
}

fn host_options(args: &Args) -> Option<over_http::HostOptions> {
    args.target.clone().map(|target| over_http::HostOptions {
        target,
        client_ip_header: args.client_ip_header.clone(),
        ja3_header: args.ja3_header.clone(),
        ja4_header: args.ja4_header.clone(),
        bot_score_header: args.bot_score_header.clone(),
        verified_bot_header: args.verified_bot_header.clone(),
        clock_header: args.clock_header.clone(),
        timeout: Duration::from_millis(args.timeout_ms),
    })
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let host = host_options(args);
    let (mut passed, mut failed, mut skipped) = (0u32, 0u32, 0u32);
    for file in &args.files {
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
