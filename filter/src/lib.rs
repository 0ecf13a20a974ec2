//! pumpguard for Envoy / Istio: a thin proxy-wasm adapter over `pumpguard-core`.
//!
//! - [`config`]: the plugin configuration (policy + host settings), every error with its path.
//! - [`store`]: core's compare-and-swap store over proxy-wasm shared data.
//! - [`adapter`]: the held request, client address, metric names (host-independent, tested natively).
//! - [`wire`]: the ABI's header-map and property-path formats, decoded without trusting the host.
//! - `abi` (wasm32 only): the host calls, every status returned (with `exports`, the crate's only `unsafe`).
//! - `exports` (wasm32 only): the ABI functions Envoy calls, forwarded to `contexts`.
//! - `contexts` (wasm32 only): the registry of root and stream contexts, and of siteverify calls in flight.
//! - `host` (wasm32 only): the root and HTTP contexts that move bytes between Envoy and the core.
//! - `bench` (wasm32 only): the benchmark hooks `host` calls; no-ops unless a `bench-*` feature is built.

pub mod adapter;
pub mod config;
pub mod store;
pub mod wire;

#[cfg(target_arch = "wasm32")]
mod abi;

#[cfg(target_arch = "wasm32")]
mod bench;

#[cfg(target_arch = "wasm32")]
mod contexts;

#[cfg(target_arch = "wasm32")]
mod exports;

#[cfg(target_arch = "wasm32")]
mod host;
