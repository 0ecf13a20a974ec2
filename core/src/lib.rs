//! pumpguard-core: the host-independent SMS pumping defence.
//!
//! Sans-I/O: no clock (time comes in as [`Timestamp`]), no host calls, no async, no globals.
//! Counter state sits behind the synchronous compare-and-swap [`store::Store`] trait, and every
//! request ends in a [`Decision`] value that hosts turn into a response.
//!
//! ```text
//! Policy::from_json ──► Policy
//! Request + now + Store ──► Policy::decide ──► Decision ──► host response
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod block_cache;
pub mod captcha;
pub mod config;
pub mod decision;
pub mod decision_log;
pub mod edge_inputs;
pub mod engine;
pub mod extract;
pub mod fingerprint;
pub mod intel;
pub mod limit;
pub mod phone;
pub mod refusal;
pub mod remote;
pub mod request;
pub mod routes;
pub mod rules;
pub mod scenario;
mod solver;
pub mod store;
pub mod time;
pub mod traffic;
pub mod trust_import;

pub use config::{ConfigError, ConfigErrors, Policy, RequestNeeds};
pub use decision::{Action, Decision, Reason, ReasonCode, RefusalFormat, TokenVerdict};
pub use engine::{CheckOutcome, CounterCheck, Prepared};
pub use fingerprint::HttpVersion;
pub use request::{EdgeSignals, Request, TlsFingerprints};
pub use store::{MemoryStore, Store};
pub use time::Timestamp;
