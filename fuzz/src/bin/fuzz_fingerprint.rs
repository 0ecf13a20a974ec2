//! libFuzzer entry point of the `fingerprint` target (see `pumpguard_fuzz::targets::fingerprint`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pumpguard_fuzz::targets::fingerprint::run(data);
});
