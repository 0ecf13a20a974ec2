//! Fuzz targets for the pumpguard core, as plain functions over bytes.
//!
//! Each target checks properties, not only "no crash": a violated property panics, which
//! libFuzzer reports as a crash with the input that caused it. The same functions run under
//! libFuzzer (`src/bin/fuzz_*.rs`, built with coverage instrumentation by `just fuzz`), over the
//! committed corpora natively and on wasm32 (`fuzz-corpus`), and in `cargo test`.

#![forbid(unsafe_code)]
// A panic is how a fuzz target reports a broken property.
#![allow(clippy::panic)]

pub mod corpus;
pub mod frame;
pub mod run;
pub mod targets;

/// A target: checks its properties on one input and returns a digest of what it decided.
pub type Target = fn(&[u8]) -> String;

/// The targets by name, as `just fuzz` and `fuzz-corpus` call them.
pub static TARGETS: &[(&str, Target)] = &[
    ("decision", targets::decision::run),
    ("extract", targets::extract::run),
    ("denied", targets::denied::run),
    ("counters", targets::counters::run),
    ("policy", targets::policy::run),
    ("fingerprint", targets::fingerprint::run),
];
