//! `pumpguard trust-batches`: a file of the numbers a site's users verified, one per line (or,
//! with `--accounts`, its accounts and their numbers), as the request bodies of a policy's
//! `trust_import` (docs/policy.md, Importing trusted numbers), one JSON body per line, for `curl`
//! or any HTTP client to post with the import token.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use pumpguard_core::phone::{PhoneParser, Region};

/// Turn a list of phone numbers into trust_import request bodies, one JSON body per line.
///
/// Reads one number per line (blank lines and lines starting with `#` skipped), writes each as
/// E.164, once, in batches of at most --batch numbers: `{"numbers": ["+14155550100", …]}`.
/// With --accounts each line is `account,number[,verified]` (a user name the clients send, its
/// number, and `verified` when the service sends the account's codes there: the number is
/// verified, or the account is unconfirmed in a pool that verifies phone numbers): `{"accounts": [{"account": …, "number":
/// …, "verified": …}, …]}`. Lines that are not a phone number are reported on stderr by line
/// number and left out.
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
    /// Lines are `account,number[,verified]`: accounts made before the guard ran, judged by
    /// their numbers once imported (a policy with `bound_number` or `bound_sign_ins`).
    #[arg(long)]
    pub accounts: bool,
}

/// The bodies for `lines` of `account,number[,verified]`, and the rejected lines.
pub fn account_batches(
    lines: impl Iterator<Item = String>,
    parser: &PhoneParser,
    batch: usize,
) -> (Vec<String>, Vec<(usize, String)>) {
    let mut entries = Vec::new();
    let mut rejected = Vec::new();
    for (i, line) in lines.enumerate() {
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let mut fields = text.split(',').map(str::trim);
        let (account, number, flag) = (fields.next(), fields.next(), fields.next());
        let verified = match flag {
            None | Some("" | "false" | "0" | "unverified") => false,
            Some("true" | "1" | "verified") => true,
            Some(other) => {
                rejected.push((i + 1, format!("{other:?}: not verified or unverified")));
                continue;
            }
        };
        match (account.filter(|a| !a.is_empty()), number.map(|n| parser.parse(n)), fields.next()) {
            (Some(account), Some(Ok(number)), None) => entries
                .push(serde_json::json!({"account": account, "number": number.e164(), "verified": verified})),
            (_, Some(Err(e)), _) => rejected.push((i + 1, format!("{text:?}: {e}"))),
            _ => rejected.push((i + 1, format!("{text:?}: expected account,number[,verified]"))),
        }
    }
    let bodies = entries
        .chunks(batch.max(1))
        .map(|chunk| serde_json::json!({ "accounts": chunk }).to_string())
        .collect();
    (bodies, rejected)
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
    let parser = PhoneParser::new(region);
    let (bodies, rejected) = if args.accounts {
        account_batches(lines.into_iter(), &parser, args.batch)
    } else {
        batches(lines.into_iter(), &parser, args.batch)
    };
    let mut out = std::io::stdout().lock();
    for body in &bodies {
        writeln!(out, "{body}").map_err(|e| format!("stdout: {e}"))?;
    }
    for (line, why) in &rejected {
        eprintln!("{}:{line}: left out: {why}", args.file);
    }
    eprintln!("{} bodies; {} lines left out", bodies.len(), rejected.len());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_become_entries_with_their_e164_numbers_and_the_rest_is_named_by_line() {
        let text = "# user,phone,verified\nalice@example.com,(415) 555-0100,verified\nbob,+447911123456\n\
                    carol,+447911123457,maybe\n,+447911123458\ndan,nope\neve,+447911123459,true,x\n";
        let us = PhoneParser::new(Region::from_code("US"));
        let (bodies, rejected) = account_batches(text.lines().map(str::to_owned), &us, 1);
        assert_eq!(
            bodies,
            [
                r#"{"accounts":[{"account":"alice@example.com","number":"+14155550100","verified":true}]}"#,
                r#"{"accounts":[{"account":"bob","number":"+447911123456","verified":false}]}"#,
            ]
        );
        assert_eq!(rejected.iter().map(|(line, _)| *line).collect::<Vec<_>>(), [4, 5, 6, 7]);
    }

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
