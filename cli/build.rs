//! Records which libphonenumber metadata the phone tables are built from, for `--version`.
//!
//! The core compiles its tables from the metadata shipped in the `phonenumber` crate, whose
//! version carries the libphonenumber release as build metadata (`0.3.10+9.0.33`). The workspace's
//! `Cargo.lock` pins that crate for every member, so it names the metadata the core was built from.

use std::path::Path;

fn main() {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let version = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|text| metadata_version(&text))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=PUMPGUARD_LIBPHONENUMBER_METADATA={version}");
}

/// The libphonenumber release in the locked `phonenumber` package's version (`X+RELEASE`).
fn metadata_version(lock: &str) -> Option<String> {
    let mut lines = lock.lines().skip_while(|line| line.trim() != r#"name = "phonenumber""#);
    lines.next()?;
    let version = lines.next()?.trim().strip_prefix("version = \"")?.strip_suffix('"')?;
    Some(version.split_once('+').map_or(version, |(_, release)| release).to_owned())
}
