//! Classifies a batch of phone numbers with the core, for the metadata oracle test
//! (tests/metadata/oracle.py): one process for the whole batch.
//!
//! Input on stdin, one number a line: `DEFAULT_REGION<TAB>INPUT`, with `-` for no default
//! region. Output on stdout, one JSON object a line, in the same order:
//! `{"region":"US","type":"mobile","valid":true,"e164":"+1..."}` or `{"error":"too_short"}`.

use pumpguard_core::phone::{PhoneParser, Region};
use std::io::{BufRead, BufWriter, Write};

fn classify(line: &str) -> serde_json::Value {
    let (default, input) = line.split_once('\t').unwrap_or(("-", line));
    let region = if default == "-" { None } else { Region::from_code(default) };
    if default != "-" && region.is_none() {
        return serde_json::json!({ "error": "unknown_default_region" });
    }
    match PhoneParser::new(region).parse(input) {
        Ok(n) => serde_json::json!({
            "region": n.region().map(Region::as_str),
            "type": n.number_type().as_str(),
            "valid": n.is_valid(),
            "e164": n.e164(),
        }),
        Err(e) => serde_json::json!({ "error": e.as_str() }),
    }
}

fn main() -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        writeln!(out, "{}", classify(&line?))?;
    }
    out.flush()
}
