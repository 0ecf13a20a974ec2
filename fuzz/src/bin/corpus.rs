//! Runs every fuzz target over its committed corpus and prints one digest per target, so the
//! native and the wasm32 build can be compared; or writes the seed corpora from the scenarios.
//!
//! ```text
//! fuzz-corpus digest <corpus-dir>   # one line per target: name, inputs, digest of all decisions
//! fuzz-corpus seed <corpus-dir>     # (re)writes the seeds derived from tests/scenarios
//! ```

use std::path::Path;
use std::process::ExitCode;

use pumpguard_fuzz::{corpus, frame, targets, TARGETS};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("digest"), Some(dir)) => digest(Path::new(dir)),
        (Some("seed"), Some(dir)) => seed(Path::new(dir)),
        _ => {
            eprintln!("usage: fuzz-corpus digest|seed <corpus-dir>");
            ExitCode::from(2)
        }
    }
}

fn digest(dir: &Path) -> ExitCode {
    for (name, run) in TARGETS {
        let mut files: Vec<_> = std::fs::read_dir(dir.join(name))
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        let mut lines = Vec::new();
        for file in &files {
            match std::fs::read(file) {
                Ok(data) => lines.push(run(&data)),
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    return ExitCode::FAILURE;
                }
            }
        }
        println!("{name} {} {}", files.len(), targets::digest_of(&lines));
    }
    ExitCode::SUCCESS
}

fn seed(dir: &Path) -> ExitCode {
    let mut written = 0;
    let mut write = |target: &str, name: String, data: Vec<u8>| {
        let path = dir.join(target).join(name);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if std::fs::write(&path, data).is_ok() {
            written += 1;
        }
    };
    for (index, scenario) in corpus::scenarios().iter().enumerate() {
        let stem = scenario.name.trim_end_matches(".json");
        let frames = frame::from_records(&scenario.requests);
        let rendered = frame::render(&frames);
        let selector = u8::try_from(index % 256).unwrap_or(0);
        write("decision", stem.to_owned(), [&[selector][..], &rendered].concat());
        write("counters", stem.to_owned(), [&[selector, 0, 0][..], &rendered].concat());
        write("counters", format!("{stem}-bucketed"), [&[selector, 1, 0][..], &rendered].concat());
        write("fingerprint", stem.to_owned(), rendered);
    }
    for (index, &(scenario, request)) in targets::extract::templates().iter().enumerate() {
        let record = &corpus::scenarios()[scenario].requests[request];
        let Ok(owned) = record.owned() else { continue };
        let [a, b] = u16::try_from(index).unwrap_or(0).to_le_bytes();
        write("extract", format!("t{index:04}"), [&[a, b, 0][..], &owned.body].concat());
    }
    for (name, text) in corpus::SCENARIOS {
        let policy = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|doc| doc.get("policy").map(|p| serde_json::to_vec_pretty(p).unwrap_or_default()));
        if let Some(policy) = policy {
            write("policy", name.trim_end_matches(".json").to_owned(), policy);
        }
    }
    for i in 0u8..32 {
        write(
            "denied",
            format!("d{i:02}"),
            (0..48u8).map(|j| i.wrapping_mul(37).wrapping_add(j.wrapping_mul(11))).collect(),
        );
    }
    eprintln!("wrote {written} seeds under {}", dir.display());
    ExitCode::SUCCESS
}
