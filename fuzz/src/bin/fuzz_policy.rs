//! libFuzzer entry point of the `policy` target (see `pumpguard_fuzz::targets::policy`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pumpguard_fuzz::targets::policy::run(data);
});
