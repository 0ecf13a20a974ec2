//! The `test-trap` build's crash on demand: a request carrying [`TRAP_HEADER`] traps the VM, as
//! a bug would, so the e2e tests can show what each Envoy `failure_policy` does then. Every
//! other build compiles this to nothing.

/// The request header that traps a `test-trap` build.
#[cfg(feature = "test-trap")]
pub const TRAP_HEADER: &str = "x-pumpguard-test-trap";

/// Traps the VM when the request asks for it (`test-trap` builds only).
#[cfg(feature = "test-trap")]
pub fn on_request_headers() {
    if let Ok(Some(_)) = crate::abi::header_value(crate::abi::Headers::Request, TRAP_HEADER) {
        #[cfg(target_arch = "wasm32")]
        core::arch::wasm32::unreachable();
        #[cfg(not(target_arch = "wasm32"))]
        std::process::abort();
    }
}

/// Traps the VM when the request asks for it (`test-trap` builds only).
#[cfg(not(feature = "test-trap"))]
#[inline(always)]
pub fn on_request_headers() {}
