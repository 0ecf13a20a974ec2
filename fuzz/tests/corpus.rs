//! Every committed corpus input, through every target: the properties hold on all of them.

use std::path::Path;

#[test]
fn every_committed_input_keeps_every_property() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, run) in pumpguard_fuzz::TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut count = 0;
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap_or_default();
            run(&data);
            count += 1;
        }
        assert!(count > 0, "{name}: no committed inputs");
    }
}

#[test]
fn the_scenario_policies_load() {
    assert!(pumpguard_fuzz::corpus::scenarios().len() > 50);
}
