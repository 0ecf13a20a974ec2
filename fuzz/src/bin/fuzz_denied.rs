//! libFuzzer entry point of the `denied` target (see `pumpguard_fuzz::targets::denied`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pumpguard_fuzz::targets::denied::run(data);
});
