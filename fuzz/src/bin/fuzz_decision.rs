//! libFuzzer entry point of the `decision` target (see `pumpguard_fuzz::targets::decision`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pumpguard_fuzz::targets::decision::run(data);
});
