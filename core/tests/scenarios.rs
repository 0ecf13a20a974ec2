//! Runs every scenario of `tests/scenarios/` in process: the reference the hosts are held to.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use std::path::{Path, PathBuf};

use pumpguard_core::scenario::{run, Scenario};

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
