//! Generates the phone-number tables (`$OUT_DIR/phone_tables.rs`) from the libphonenumber
//! metadata committed in `core/metadata/` (refreshed by scripts/update_metadata.py), read with
//! the `phonenumber` crate's XML loader, which is only a build dependency.
//!
//! Every national-number, leading-digits, international-prefix and national-prefix pattern is
//! compiled here into static automata over digits, so the runtime never runs a regex engine or
//! decodes metadata. See `build/` for the pattern parser and automaton construction.

// Failing the build loudly on metadata we cannot represent exactly is the point here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "build/classifier.rs"]
mod classifier;
#[path = "build/emit.rs"]
mod emit;
#[path = "build/matcher.rs"]
mod matcher;
#[path = "build/metadata.rs"]
mod metadata;
#[path = "build/pattern.rs"]
mod pattern;
#[path = "build/program.rs"]
mod program;

fn main() {
    for file in ["build.rs", "build/classifier.rs", "build/emit.rs", "build/matcher.rs", "build/metadata.rs"]
    {
        println!("cargo:rerun-if-changed={file}");
    }
    for file in ["build/pattern.rs", "build/program.rs"] {
        println!("cargo:rerun-if-changed={file}");
    }
    for file in ["metadata/PhoneNumberMetadata.xml", "metadata/VERSION"] {
        println!("cargo:rerun-if-changed={file}");
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("metadata");
    let territories = metadata::load(&dir);
    println!("cargo:rustc-env=PUMPGUARD_PHONE_METADATA_VERSION={}", metadata::version(&dir));
    let generated = emit::generate(&territories);
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let path = std::path::Path::new(&out_dir).join("phone_tables.rs");
    std::fs::write(&path, generated.source).expect("write phone_tables.rs");
    println!("cargo:rustc-env=PUMPGUARD_PHONE_TABLE_BYTES={}", generated.table_bytes);
}
