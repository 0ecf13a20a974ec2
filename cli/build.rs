//! Records which libphonenumber metadata the phone tables are built from, for `--version`.
//!
//! The core compiles its tables from `core/metadata/`, whose `VERSION` file is the one place the
//! release is recorded (scripts/update_metadata.py writes it with the XML). `concat!` in the
//! `--version` string needs a literal, hence this script rather than the core's constant.

use std::path::Path;

fn main() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("core").join("metadata").join("VERSION");
    println!("cargo:rerun-if-changed={}", file.display());
    let version = std::fs::read_to_string(&file)
        .map(|text| text.trim().to_owned())
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=PUMPGUARD_LIBPHONENUMBER_METADATA={version}");
}
