//! pumpguard for Envoy / Istio: a thin proxy-wasm adapter over `pumpguard-core`.
//!
//! - [`config`]: the plugin configuration (policy + host settings), every error with its path.
//! - [`store`]: core's compare-and-swap store over proxy-wasm shared data.
//! - [`pumpguard_core::block_cache`]: the remote store's "blocked until T" answers, which `host`
//!   keeps per VM.
//! - [`adapter`]: the held request, client address, metric names (host-independent, tested natively).
//! - [`wire`]: the ABI's header-map and property-path formats, decoded without trusting the host.
//! - `abi`: the host calls, every status returned: into Envoy on wasm32 (with `exports`, the
//!   crate's only `unsafe`), into an emulated Envoy in native tests.
//! - `exports` (wasm32 only): the ABI functions Envoy calls, forwarded to `contexts`.
//! - `contexts`: the registry of root and stream contexts, and of siteverify calls in flight.
//! - `host`: the root and HTTP contexts that move bytes between Envoy and the core.
//! - `bench`: the benchmark hooks `host` calls; no-ops unless a `bench-*` feature is built.
//!
//! `abi`, `contexts`, `host` and `bench` are built for wasm32 and for native tests only;
//! `lifecycle_tests` drives them there as Envoy would.

pub mod adapter;
pub mod config;
pub mod store;
pub mod wire;

#[cfg(any(target_arch = "wasm32", test))]
mod abi;

#[cfg(any(target_arch = "wasm32", test))]
mod bench;

#[cfg(any(target_arch = "wasm32", test))]
mod contexts;

#[cfg(target_arch = "wasm32")]
mod exports;

#[cfg(any(target_arch = "wasm32", test))]
mod host;

#[cfg(any(target_arch = "wasm32", test))]
mod trap;

#[cfg(test)]
mod lifecycle_tests;
