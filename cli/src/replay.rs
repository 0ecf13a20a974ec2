//! `pumpguard replay`: judge recorded traffic in order, record timestamps driving time.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;

use clap::ValueEnum;
use pumpguard_core::decision::TokenVerdict;
use pumpguard_core::edge_inputs::EdgeInput;
use pumpguard_core::scenario::{simulated_lookup, simulated_token};
use pumpguard_core::traffic::{as_request, TrafficRecord};
use pumpguard_core::{Action, MemoryStore, Policy};

use crate::load_policy;
use crate::progress::Progress;

/// Judge each recorded request in order (record timestamps drive time).
///
/// Prints one JSON decision per line on stdout and a summary per action, reason and input a rule
/// reads (how many requests lacked it: a country header that never reaches the guard) on stderr;
/// --report also writes the HTML report of the decisions (docs/simulator.md). Number lookups
/// (a policy's number_intel) get the scenario corpus' fake provider's answers (docs/policy.md).
/// On a terminal, a long replay shows its progress on stderr (records, records/s, ETA).
#[derive(clap::Args)]
pub struct Args {
    /// The policy to judge with (docs/policy.md).
    #[arg(long, value_name = "POLICY.json")]
    policy: String,
    /// Also write the HTML report of the decisions (docs/simulator.md).
    #[arg(long, value_name = "FILE.html")]
    report: Option<String>,
    /// How CAPTCHA tokens verify.
    #[arg(long, value_enum, default_value_t = Tokens::Convention)]
    tokens: Tokens,
    /// Traffic records, one JSON object per line (docs/traffic.md).
    #[arg(value_name = "TRAFFIC.jsonl")]
    traffic: String,
}

/// What siteverify answers during a replay.
#[derive(Clone, Copy, ValueEnum)]
enum Tokens {
    /// Tokens starting `pass` verify, `fail` are invalid, any other is unavailable.
    Convention,
    /// Every token verifies.
    Valid,
    /// Every token is invalid.
    Invalid,
    /// Siteverify cannot be reached.
    Unavailable,
}

impl Tokens {
    fn verdict(self, policy: &Policy, token: &str) -> TokenVerdict {
        match self {
            Tokens::Convention => simulated_token(policy, token),
            Tokens::Valid => TokenVerdict::Valid { solver: None },
            Tokens::Invalid => TokenVerdict::Invalid { detail: "replay: --tokens invalid".into() },
            Tokens::Unavailable => {
                TokenVerdict::Unavailable { detail: "replay: --tokens unavailable".into() }
            }
        }
    }
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let policy = match load_policy(&args.policy)? {
        Ok(policy) => policy,
        Err(report) => {
            eprint!("{report}");
            return Ok(ExitCode::from(1));
        }
    };
    let traffic_path = &args.traffic;
    let file = std::fs::File::open(traffic_path).map_err(|e| format!("cannot read {traffic_path}: {e}"))?;
    let total_bytes = file.metadata().map(|m| m.len()).ok();
    let mut progress = Progress::on_terminal(total_bytes);
    let store = MemoryStore::new();
    let mut by_action: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    // Per input a rule reads, in EdgeInput::ALL order: requests that read it, and that lacked it.
    let mut inputs = [(0u64, 0u64); EdgeInput::ALL.len()];
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (mut records, mut bytes_read) = (0u64, 0u64);
    let mut judged = Vec::new();
    // Requests no route guards that carry what looks like a phone number, per method and path:
    // a route the policy misses (another path, another method) shows here.
    let mut unguarded_with_numbers: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line_no = index + 1;
        let line = line.map_err(|e| format!("{traffic_path}:{line_no}: {e}"))?;
        bytes_read += line.len() as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let record: TrafficRecord = serde_json::from_str(&line)
            .map_err(|e| format!("{traffic_path}:{line_no}: not a traffic record: {e}"))?;
        let owned = record.owned().map_err(|e| format!("{traffic_path}:{line_no}: {e}"))?;
        let refs: Vec<(&str, &str)> = owned.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let now = record.at();
        let req = as_request(&record, &owned, &refs, policy.max_body_bytes());
        let decision = policy.decide_with(
            &req,
            now,
            &store,
            |token| args.tokens.verdict(&policy, token),
            |lookup| simulated_lookup(&policy, lookup),
        );
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
            for (input, (read, missing)) in EdgeInput::ALL.iter().zip(inputs.iter_mut()) {
                if decision.edge_inputs.read.contains(*input) {
                    *read += 1;
                    *missing += u64::from(decision.edge_inputs.missing.contains(*input));
                }
            }
        } else {
            *by_action.entry("unguarded").or_default() += 1;
            if carries_phone_number(&record.path, &owned.body) {
                let path = record.path.split('?').next().unwrap_or_default().to_owned();
                *unguarded_with_numbers.entry((record.method.clone(), path)).or_default() += 1;
            }
        }
        let line = format!(
            "{{\"line\":{line_no},\"at_ms\":{},\"method\":{},\"path\":{},\"decision\":{}}}",
            record.at_ms,
            serde_json::Value::from(record.method.as_str()),
            serde_json::Value::from(record.path.as_str()),
            decision.log_line()
        );
        writeln!(out, "{line}").map_err(|e| format!("writing output: {e}"))?;
        if args.report.is_some() {
            judged.push((record, decision));
        }
        records += 1;
        progress.update(records, bytes_read);
    }
    progress.finish();
    eprintln!("summary by action:");
    for (action, count) in &by_action {
        eprintln!("  {action:<12} {count}");
    }
    eprintln!("summary by reason:");
    for (reason, count) in &by_reason {
        eprintln!("  {reason:<48} {count}");
    }
    if inputs.iter().any(|(read, _)| *read > 0) {
        eprintln!("summary by input a rule reads (requests that lacked it):");
        for (input, (read, missing)) in EdgeInput::ALL.iter().zip(inputs) {
            if read > 0 {
                let share = 100.0 * missing as f64 / read as f64;
                eprintln!("  {:<16} missing in {missing} of {read} ({share:.1}%)", input.as_str());
            }
        }
    }
    if !unguarded_with_numbers.is_empty() {
        eprintln!(
            "unguarded requests carrying a phone number (no route matched them: docs/policy.md#routes):"
        );
        let mut paths: Vec<_> = unguarded_with_numbers.into_iter().collect();
        paths.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for ((method, path), count) in paths.iter().take(MAX_UNGUARDED_PATHS) {
            eprintln!("  {method} {path:<42} {count}");
        }
        if paths.len() > MAX_UNGUARDED_PATHS {
            eprintln!("  … and {} more paths", paths.len() - MAX_UNGUARDED_PATHS);
        }
    }
    if let Some(path) = &args.report {
        crate::simulate::write_replay_report(path, &args.policy, judged)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How many unguarded paths the summary names.
const MAX_UNGUARDED_PATHS: usize = 10;

/// Whether the query or body holds what an API takes for a phone number: `+` (or `%2B`) and
/// 8 to 15 digits, separators allowed. A hint for the summary, not a rule: national numbers
/// without `+` go unseen.
fn carries_phone_number(path: &str, body: &[u8]) -> bool {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    [query.as_bytes(), body].iter().any(|text| {
        (0..text.len()).any(|start| {
            let rest = &text[start..];
            let digits_from = if rest.starts_with(b"+") {
                1
            } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"%2B") {
                3
            } else {
                return false;
            };
            let mut digits = 0;
            for &b in &rest[digits_from..] {
                match b {
                    b'0'..=b'9' => digits += 1,
                    b' ' | b'-' | b'.' | b'(' | b')' if digits > 0 => {}
                    _ => break,
                }
                if digits > 15 {
                    return false;
                }
            }
            digits >= 8
        })
    })
}
