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
//!
//! `decide` is three steps a host with remote counters runs apart: [`Policy::prepare`] (the
//! request's numbers, stateless rules and counter checks), the checks against a store, and
//! [`Policy::conclude`] (the decision from their outcomes).
//!
//! Where each capability lives:
//!
//! | concern | module |
//! | --- | --- |
//! | loading and validating a policy | [`config`] (routes, rules, cross-section checks, JSON schema) |
//! | which requests are guarded | [`routes`] |
//! | numbers and tokens out of bodies | [`extract`], phone classification in [`phone`] |
//! | stateless rules (country, prefix, client, edge score) | [`rules`] |
//! | counters (rate, backoff, adjacency, conversion, surge, reputation) | [`limit`] over [`store`] |
//! | prepare → checks → conclude, counter keys, risk, trust | [`engine`] |
//! | the decision and how a refusal is written | [`decision`], [`refusal`] |
//! | CAPTCHA, number intelligence, solving devices | [`captcha`], [`intel`], `solver` |
//! | client fingerprints and edge inputs | [`fingerprint`], [`edge_inputs`] |
//! | a fleet's remote store and its block cache | [`remote`], [`block_cache`] |
//! | the site's imported trusted numbers | [`trust_import`] |
//! | captured traffic, scenario corpus, log limiter | [`traffic`], [`scenario`], [`decision_log`] |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod block_cache;
pub mod captcha;
pub mod config;
pub mod cors;
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
