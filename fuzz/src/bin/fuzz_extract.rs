//! libFuzzer entry point of the `extract` target (see `pumpguard_fuzz::targets::extract`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pumpguard_fuzz::targets::extract::run(data);
});
