//! pumpguard on Cloudflare Workers: a thin adapter over `pumpguard-core`.
//!
//! ```text
//! request ─► entry (fetch handler) ─► Policy::prepare ─► CounterChecks grouped by shard
//!              (a send naming only an account: a peek of its bound number's read first,
//!               then Policy::prepare_bound)
//!              peek round: one Durable Object round trip per shard, all at once
//!                (CounterShard: Policy::peek_checks on an overlay of its store, nothing written)
//!            ─► Policy::conclude ─► siteverify (challenge with a token) ─► Policy::resolve_token
//!            ─► number lookups (Decision::lookups, all at once) ─► Policy::resolve_lookups
//!            ─► commit rounds while Decision::pending_commits() is not empty (a solving
//!                device's limits alone first, then the rest)
//!                (CounterShard: Policy::run_check, writes stored) ─► Policy::settle_commits
//!            ─► local reply (core's status, headers, body) or forward to origin
//!                 confirm route: Policy::confirm_checks, then Policy::credit_checks (commit rounds)
//! ```
//!
//! The modules without a host dependency (settings, the edge country, sharding, the shard's
//! store, its sweep plan, the wire format, the local replies, logs) build and are tested natively;
//! the fetch handler and the Durable Object exist only on `wasm32`.

#![forbid(unsafe_code)]

pub mod edge_country;
pub mod logs;
pub mod origin_headers;
pub mod origin_prefixes;
pub mod policy_source;
pub mod reply;
pub mod settings;
pub mod shard;
pub mod shard_store;
pub mod sweep;
pub mod wire;

#[cfg(test)]
mod test_support;

#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod host;
#[cfg(target_arch = "wasm32")]
mod object;
#[cfg(target_arch = "wasm32")]
mod trap;
