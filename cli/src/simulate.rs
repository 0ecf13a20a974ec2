//! `pumpguard simulate`: runs the closed-loop simulator (`pumpguard-sim`) against a policy in
//! process, or against a live host (`--target`, the same request translation and answer reading
//! as `scenarios --target`), then prints the scoreboard and writes the traffic, the ground
//! truth, the scoreboard as JSON and the HTML report on request.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use pumpguard_core::scenario::Observed;
use pumpguard_core::traffic::TrafficRecord;
use pumpguard_core::Decision;
use pumpguard_sim::guard::{Guard, InProcess};
use pumpguard_sim::mix::Mix;
use pumpguard_sim::prices::Prices;
use pumpguard_sim::replayed;
use pumpguard_sim::report::{self, ReportInfo};
use pumpguard_sim::scoreboard::Scoreboard;
use pumpguard_sim::sim::{self, Kind, Run, Truth};

use crate::http;
use crate::over_http::{self, HostOptions, Target};

pub const USAGE: &str = "\
  pumpguard simulate --policy POLICY.json [--seed N] [--mix MIX.json] [--hours H]
                     [--prices PRICES.json] [--out TRAFFIC.jsonl] [--truth TRUTH.jsonl]
                     [--json SCORE.json] [--report REPORT.html] [HOST OPTIONS]
      Closed-loop simulation of real users and pumping campaigns (docs/simulator.md): prints
      the scoreboard; --out writes the requests as traffic records, --truth who sent each and
      the answer it got, --json the scoreboard (`-`: on stdout, the table on stderr), --report
      an HTML page. With --target (and the
      host options of `scenarios`) requests go to a running host loaded with the policy.
  pumpguard simulate --print-mix
      Print the default mix as JSON, a starting point for --mix.";

/// A running host, answering over HTTP.
struct OverHttp {
    options: HostOptions,
}

impl Guard for OverHttp {
    fn judge(&mut self, record: &TrafficRecord) -> Result<Observed, String> {
        let (headers, body) = over_http::request_parts(record, &self.options)?;
        let response = http::send(
            &self.options.target,
            &record.method,
            &record.path,
            &headers,
            &body,
            self.options.timeout,
        )?;
        let (observed, problems) = over_http::observe(&response);
        match problems.first() {
            Some(problem) => Err(format!("at_ms {}: {problem}", record.at_ms)),
            None => Ok(observed),
        }
    }
}

#[derive(Default)]
struct Args {
    policy: Option<String>,
    seed: u64,
    mix: Option<String>,
    hours: Option<f64>,
    prices: Option<String>,
    out: Option<String>,
    truth: Option<String>,
    json: Option<String>,
    report: Option<String>,
    print_mix: bool,
    target: Option<String>,
    client_ip_header: Option<String>,
    ja3_header: Option<String>,
    ja4_header: Option<String>,
    clock_header: Option<String>,
    timeout_ms: Option<u64>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args { seed: 1, ..Args::default() };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--print-mix" {
            a.print_mix = true;
            continue;
        }
        let value = rest.next().cloned().ok_or_else(|| format!("{arg} needs a value"))?;
        let number = |v: &str| v.parse::<f64>().map_err(|_| format!("{arg}: not a number: {v:?}"));
        match arg.as_str() {
            "--policy" => a.policy = Some(value),
            "--seed" => a.seed = value.parse().map_err(|_| format!("--seed: {value:?}"))?,
            "--mix" => a.mix = Some(value),
            "--hours" => a.hours = Some(number(&value)?),
            "--prices" => a.prices = Some(value),
            "--out" => a.out = Some(value),
            "--truth" => a.truth = Some(value),
            "--json" => a.json = Some(value),
            "--report" => a.report = Some(value),
            "--target" => a.target = Some(value),
            "--client-ip-header" => a.client_ip_header = Some(value),
            "--ja3-header" => a.ja3_header = Some(value),
            "--ja4-header" => a.ja4_header = Some(value),
            "--clock-header" => a.clock_header = Some(value),
            "--timeout-ms" => a.timeout_ms = Some(number(&value)? as u64),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

fn write_file(path: &str, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))
}

fn truth_label(run: &Run, truth: &Truth) -> String {
    match truth {
        Truth::Legit(i) => {
            format!("legit:{}", run.mix.legit.segment(*i).map(|s| s.name).unwrap_or_else(|| "?".into()))
        }
        Truth::Campaign(i) => {
            format!("campaign:{}", run.mix.campaigns.get(*i).map(|c| c.name.as_str()).unwrap_or("?"))
        }
        Truth::History(i) => {
            format!("history:{}", run.mix.legit.segment(*i).map(|s| s.name).unwrap_or_else(|| "?".into()))
        }
        Truth::Unlabelled => "unlabelled".to_owned(),
    }
}

/// Ids of rules marked `shadow` in the policy document.
fn shadow_rules(policy_text: &str) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_str(policy_text).unwrap_or_default();
    doc.get("rules")
        .and_then(|r| r.as_array())
        .map(|rules| {
            rules
                .iter()
                .filter(|r| r.get("shadow").and_then(|s| s.as_bool()) == Some(true))
                .filter_map(|r| r.get("id").and_then(|i| i.as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub fn run(args: &[String]) -> Result<ExitCode, String> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage:\n{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let a = parse(args).map_err(|e| format!("{e}\nusage:\n{USAGE}"))?;
    let mut mix = match &a.mix {
        Some(path) => {
            serde_json::from_str::<Mix>(&crate::read(path)?).map_err(|e| format!("{path}: not a mix: {e}"))?
        }
        None => Mix::default(),
    };
    if a.print_mix {
        let text = serde_json::to_string_pretty(&mix).map_err(|e| e.to_string())?;
        // A closed pipe (`| head`) ends the output, not the program with a panic.
        let _ = writeln!(std::io::stdout(), "{text}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(hours) = a.hours {
        mix.hours = hours;
    }
    let Some(policy_path) = &a.policy else {
        return Err(format!("simulate needs --policy POLICY.json\nusage:\n{USAGE}"));
    };
    let policy_text = crate::read(policy_path)?;
    let policy = match crate::load_policy(policy_path)? {
        Ok(policy) => policy,
        Err(report) => {
            eprint!("{report}");
            return Ok(ExitCode::from(1));
        }
    };
    let prices = match &a.prices {
        Some(path) => Prices::from_json(&crate::read(path)?).map_err(|e| format!("{path}: {e}"))?,
        None => Prices::built_in(),
    };
    let host_only = a.client_ip_header.is_some()
        || a.ja3_header.is_some()
        || a.ja4_header.is_some()
        || a.clock_header.is_some();
    let (run, guard_label) = match &a.target {
        Some(url) => {
            let options = HostOptions {
                target: Target::parse(url)?,
                client_ip_header: a.client_ip_header.clone(),
                ja3_header: a.ja3_header.clone(),
                ja4_header: a.ja4_header.clone(),
                // Simulated traffic carries no edge signals.
                bot_score_header: None,
                verified_bot_header: None,
                clock_header: a.clock_header.clone(),
                timeout: Duration::from_millis(a.timeout_ms.unwrap_or(10_000)),
            };
            (sim::run(&mix, a.seed, &mut OverHttp { options })?, url.clone())
        }
        None if host_only => return Err("host options need --target".to_owned()),
        None => (sim::run(&mix, a.seed, &mut InProcess::new(policy))?, "in process".to_owned()),
    };
    let board = Scoreboard::of(&run, &prices);
    // `--json -` puts the JSON on stdout for scripts; the table then goes to stderr.
    if a.json.as_deref() == Some("-") {
        eprint!("{}", board.to_table());
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(&board).map_err(|e| e.to_string())?
        );
    } else {
        let _ = write!(std::io::stdout(), "{}", board.to_table());
    }
    // Returning users' sign-ins before the period (`legit.history_share`) fed the guard's memory;
    // the files hold the period itself, so a replay starts from an empty store.
    let in_period = |i: &usize| run.sent.get(*i).is_none_or(|s| !matches!(s.truth, Truth::History(_)));
    if let Some(path) = &a.out {
        let mut text = String::new();
        for record in (0..run.records.len()).filter(in_period).filter_map(|i| run.records.get(i)) {
            text.push_str(&serde_json::to_string(record).map_err(|e| e.to_string())?);
            text.push('\n');
        }
        write_file(path, &text)?;
    }
    if let Some(path) = &a.truth {
        let mut text = String::new();
        let period = (0..run.sent.len()).filter(in_period).filter_map(|i| run.sent.get(i));
        for (i, s) in period.enumerate() {
            let line = serde_json::json!({
                "line": i + 1,
                "at_ms": s.at_ms,
                "truth": truth_label(&run, &s.truth),
                "kind": if s.kind == Kind::Send { "send" } else { "confirm" },
                "number": s.number,
                "action": s.verdict.action.map(|a| a.as_str()),
                "status": s.verdict.status,
                "error": s.verdict.error,
                "rule": s.verdict.rule,
                "retry_after": s.verdict.retry_after,
                "risk": s.verdict.risk,
                "findings": s.verdict.findings,
            });
            text.push_str(&line.to_string());
            text.push('\n');
        }
        write_file(path, &text)?;
    }
    if let Some(path) = a.json.as_deref().filter(|p| *p != "-") {
        write_file(path, &serde_json::to_string_pretty(&board).map_err(|e| e.to_string())?)?;
    }
    if let Some(path) = &a.report {
        let shadow = shadow_rules(&policy_text);
        let title = format!("pumpguard simulation: {policy_path}");
        let info =
            ReportInfo { title: &title, policy: policy_path, shadow_rules: &shadow, guard: &guard_label };
        write_file(path, &report::html(&run, Some(&board), &info))?;
    }
    let _ = std::io::stdout().flush();
    Ok(ExitCode::SUCCESS)
}

/// `replay --report`: the report of recorded requests and their decisions, without ground truth.
pub fn write_replay_report(
    path: &str,
    policy_path: &str,
    judged: Vec<(TrafficRecord, Decision)>,
) -> Result<(), String> {
    let shadow = shadow_rules(&crate::read(policy_path)?);
    let run = replayed::run_of(judged);
    let title = format!("pumpguard replay: {policy_path}");
    let info = ReportInfo { title: &title, policy: policy_path, shadow_rules: &shadow, guard: "by replay" };
    write_file(path, &report::html(&run, None, &info))
}
