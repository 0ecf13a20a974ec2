//! `pumpguard trust-batches`: a file of the numbers a site's users verified, one per line, as the
//! request bodies of a policy's `trust_import` (docs/policy.md, Importing trusted numbers), one
//! JSON body per line, for `curl` or any HTTP client to post with the import token.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use pumpguard_core::phone::{PhoneParser, Region};

/// Turn a list of phone numbers into trust_import request bodies, one JSON body per line.
///
/// Reads one number per line (blank lines and lines starting with `#` skipped), writes each as
/// E.164, once, in batches of at most --batch numbers: `{"numbers": ["+14155550100", …]}`.
/// Lines that are not a phone number are reported on stderr by line number and left out.
#[derive(clap::Args)]
#[command(after_help = "Post each line, e.g.:\n  pumpguard trust-batches --region US numbers.txt | \
                        while read -r body; do\n    curl -sS --fail-with-body --retry 5 --retry-all-errors \
                        -H \"authorization: Bearer $TOKEN\" \\\n      -H 'content-type: application/json' \
                        -d \"$body\" https://example.com/__pumpguard/trusted-numbers || break\n  done")]
pub struct Args {
    /// The file of numbers (`-`: stdin).
    pub file: String,
    /// ISO region to read numbers written without `+` in (`US`: `(415) 555-0123`); without
    /// it such lines are rejected, as the import itself would.
    #[arg(long)]
    pub region: Option<String>,
    /// Numbers per body: the policy's `trust_import.max_numbers` or fewer.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
}

/// The bodies for `lines`, and the rejected lines (1-based number, why).
pub fn batches(
    lines: impl Iterator<Item = String>,
    parser: &PhoneParser,
    batch: usize,
) -> (Vec<String>, Vec<(usize, String)>) {
    let mut seen = std::collections::HashSet::new();
    let mut numbers = Vec::new();
    let mut rejected = Vec::new();
    for (i, line) in lines.enumerate() {
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        match parser.parse(text) {
            Ok(number) if seen.insert(number.e164().to_owned()) => numbers.push(number.e164().to_owned()),
            Ok(_) => {}
            Err(e) => rejected.push((i + 1, format!("{text:?}: {e}"))),
        }
    }
    let bodies = numbers
        .chunks(batch.max(1))
        .map(|chunk| serde_json::json!({ "numbers": chunk }).to_string())
        .collect();
    (bodies, rejected)
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    if args.batch == 0 || args.batch > 10_000 {
        return Err("--batch must be between 1 and 10000, as trust_import.max_numbers".to_owned());
    }
    let region = match &args.region {
        Some(code) => Some(
            Region::from_code(code)
                .filter(|r| r.as_str() != "001")
                .ok_or_else(|| format!("--region {code:?} is not an ISO 3166 region"))?,
        ),
        None => None,
    };
    let reader: Box<dyn BufRead> = if args.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&args.file).map_err(|e| format!("{}: {e}", args.file))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut lines = Vec::new();
    for line in reader.lines() {
        lines.push(line.map_err(|e| format!("{}: {e}", args.file))?);
    }
    let (bodies, rejected) = batches(lines.into_iter(), &PhoneParser::new(region), args.batch);
    let mut out = std::io::stdout().lock();
    for body in &bodies {
        writeln!(out, "{body}").map_err(|e| format!("stdout: {e}"))?;
    }
    for (line, why) in &rejected {
        eprintln!("{}:{line}: left out, not a phone number: {why}", args.file);
    }
    eprintln!("{} bodies; {} lines left out", bodies.len(), rejected.len());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_e164_once_in_batches_and_the_rest_is_named_by_line() {
        let text =
            "# accounts\n+1 415 555 0100\n(415) 555-0101\n\n+14155550100\nnot a number\n+447911123456\n";
        let lines = text.lines().map(str::to_owned);
        let us = PhoneParser::new(Region::from_code("US"));
        let (bodies, rejected) = batches(lines.clone(), &us, 2);
        assert_eq!(
            bodies,
            [r#"{"numbers":["+14155550100","+14155550101"]}"#, r#"{"numbers":["+447911123456"]}"#]
        );
        assert_eq!(rejected.iter().map(|(line, _)| *line).collect::<Vec<_>>(), [6]);
        // Without a region a national number is not guessed.
        let (bodies, rejected) = batches(lines, &PhoneParser::new(None), 500);
        assert_eq!(bodies, [r#"{"numbers":["+14155550100","+447911123456"]}"#]);
        assert_eq!(rejected.iter().map(|(line, _)| *line).collect::<Vec<_>>(), [3, 6]);
    }
}
