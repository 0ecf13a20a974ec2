//! One module per fuzz target; each `run` checks its properties and returns a digest line of
//! what it decided, which `fuzz-corpus` compares across runs and builds.

pub mod counters;
pub mod decision;
pub mod denied;
pub mod extract;
pub mod fingerprint;
pub mod policy;

/// FNV-1a over the lines: a short digest that differs when any decision does.
pub fn digest_of(lines: &[String]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in lines.iter().flat_map(|l| l.bytes().chain(std::iter::once(b'\n'))) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}
