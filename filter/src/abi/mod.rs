//! The host calls the filter makes (proxy-wasm ABI 0.2.1), and the ABI's statuses and enums.
//!
//! Two twins with the same functions, chosen by target:
//! - `wasm` (wasm32): the calls into Envoy, every status returned (with `exports`, the crate's
//!   only `unsafe`);
//! - `emulator` (native tests): an emulated Envoy that the tests script and that records what
//!   the filter sent, so `host` and `contexts` run under `cargo test`.

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
pub use wasm::*;

#[cfg(all(test, not(target_arch = "wasm32")))]
pub mod emulator;
#[cfg(all(test, not(target_arch = "wasm32")))]
pub use emulator::*;

/// A host status other than OK (ABI `WasmResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub u32);

impl Status {
    pub const CAS_MISMATCH: Status = Status(8);
}

pub type HostResult<T> = Result<T, Status>;

/// What a stream callback tells the host (ABI `FilterHeadersStatus` and kin).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Action {
    Continue = 0,
    Pause = 1,
}

/// proxy-wasm `MapType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Headers {
    Request = 0,
    Response = 2,
    HttpCallResponse = 6,
}

/// proxy-wasm `BufferType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Buffer {
    RequestBody = 0,
    ResponseBody = 1,
    HttpCallResponseBody = 4,
    PluginConfiguration = 7,
}

/// proxy-wasm `LogLevel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Level {
    Info = 2,
    Error = 4,
    Critical = 5,
}

/// proxy-wasm `MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Metric {
    Counter = 0,
    #[cfg_attr(not(feature = "bench-timing"), allow(dead_code, reason = "only bench-timing records"))]
    Histogram = 2,
}
