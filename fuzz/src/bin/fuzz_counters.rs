//! libFuzzer entry point of the `counters` target (see `pumpguard_fuzz::targets::counters`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pumpguard_fuzz::targets::counters::run(data);
});
