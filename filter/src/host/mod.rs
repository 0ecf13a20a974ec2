//! The proxy-wasm contexts: move bytes between Envoy and the core, nothing else.
//!
//! Request flow: headers → if no route guards the request, forward at once (never buffered);
//! otherwise pause (`allow_on_headers_stop_iteration` lets the body still arrive while the
//! headers are held) and collect the body up to the policy's cap; at end of stream (or at the
//! trailers, or as soon as the cap is passed) the core decides. Allow: decision headers are
//! added and the request resumes. Anything else: a local reply, so origin never sees any part of
//! the request. A challenge with a token first calls siteverify (`abi::http_call`).
//!
//! With the remote store (`store.backend: "remote"`) the counters live in the store service: the
//! core's steps run apart, each counter round one `abi::http_call` to the store's cluster while
//! the request is held: prepare → peek round → conclude → (siteverify) → (number lookups) →
//! commit round → settle. Number lookups (`abi::http_call` to the policy's provider cluster, one
//! at a time) come after any token check and before the commit, in either store mode.
//! A round that fails, times out or answers garbage counts every check as a store failure, which
//! the policy's `store.on_error` decides. A confirm's response is held (headers and body, up to
//! its end) while its rounds run, so the next request sees the confirmation: Envoy cancels a
//! stream's calls when the stream ends, and a body chunk let through would let the headers go.
//!
//! Every host call goes through `abi`, which returns every status; a failed call takes the
//! documented outcome (see docs/envoy.md, "Failure policy") instead of panicking. Envoy's calls
//! reach these contexts through `exports` and the registry in `contexts`; `lifecycle_tests` makes
//! the same calls natively, against `abi`'s emulator.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;

use pumpguard_core::block_cache::BlockCache;
use pumpguard_core::decision::Decision;
use pumpguard_core::decision_log::DecisionLog;
use pumpguard_core::intel::LookupAnswer;
use pumpguard_core::store::EvictionPressure;
use pumpguard_core::{CounterCheck, Prepared, Timestamp};

use crate::abi::{self, Buffer, Headers, Level, Status};
use crate::adapter::Held;
use crate::config::HostConfig;
use crate::store::{shared_seed, SharedData, SharedError};

mod callouts;
mod judging;
mod plugin;
mod request;
mod response;

use plugin::Plugin;
use response::ConfirmAnswer;

/// Once per VM instance (each worker thread has its own): a reload after a crash, or a new VM
/// after a vm_config change, shows in the log; a policy update does not start one.
pub fn vm_started() {
    log(Level::Info, "pumpguard: VM started");
}

/// Shared data through the host.
struct HostShared;

impl SharedData for HostShared {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), SharedError> {
        abi::shared_get(key).map_err(|_| SharedError::Other)
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedError> {
        match abi::shared_set(key, value, cas) {
            Ok(()) => Ok(()),
            Err(Status::CAS_MISMATCH) => Err(SharedError::CasMismatch),
            Err(_) => Err(SharedError::Other),
        }
    }
}

fn log(level: Level, message: &str) {
    let _ = abi::log(level, message);
}

fn host_now() -> Timestamp {
    Timestamp::from_millis(abi::now_nanos().map(|ns| ns / 1_000_000).unwrap_or(0))
}

fn property_text(path: &[&str]) -> Option<String> {
    match abi::property(path) {
        Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
        _ => None,
    }
}

/// The `:status` of a response header map.
fn status_of(map: Headers) -> Option<u16> {
    let value = abi::header_value(map, ":status").ok().flatten()?;
    std::str::from_utf8(&value).ok()?.parse().ok()
}

/// The plugin's root context: its configuration, shared by the streams it creates.
#[derive(Default)]
pub struct Root {
    plugin: Option<Rc<Plugin>>,
}

impl Root {
    pub fn configure(&mut self, size: usize) -> bool {
        let bytes = match abi::buffer(Buffer::PluginConfiguration, 0, size) {
            Ok(Some(bytes)) => bytes,
            _ => Vec::new(),
        };
        let cfg = match HostConfig::from_json_with_env(&bytes, &abi::env_var) {
            Ok(cfg) => cfg,
            Err(errors) => {
                log(Level::Critical, &format!("pumpguard: plugin configuration refused: {errors}"));
                for e in &errors.errors {
                    let path = if e.path.is_empty() { "(document)" } else { e.path.as_str() };
                    log(Level::Critical, &format!("pumpguard: configuration error at {path}: {}", e.message));
                }
                return false;
            }
        };
        let fresh = cfg.seed.unwrap_or_else(|| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(host_now().as_millis());
            h.finish()
        });
        let seed = match cfg.seed {
            Some(seed) => seed,
            None => match shared_seed(&HostShared, &cfg.namespace, fresh) {
                Ok(seed) => seed,
                Err(_) => {
                    log(Level::Critical, "pumpguard: shared data unavailable for the bucket seed");
                    return false;
                }
            },
        };
        let store = match &cfg.remote {
            Some(remote) => format!(
                "remote store via cluster {} (policy id {}, timeout {} ms, {})",
                remote.cluster,
                remote.policy_id,
                remote.timeout_ms,
                if remote.authorization.is_some() { "with a bearer token" } else { "without a token" }
            ),
            None => format!("{} buckets x {} entries", cfg.buckets, cfg.entries_per_bucket),
        };
        log(
            Level::Info,
            &format!(
                "pumpguard[{}]: configured: {} routes, {} rules, {store}",
                cfg.name,
                cfg.policy.route_ids().count(),
                cfg.policy.rule_ids().count(),
            ),
        );
        let decision_log = RefCell::new(DecisionLog::new(cfg.decision_log));
        // The cache assumes time only moves forward; a test clock lets each request jump back
        // past a block's end after the store already forgot it, so it is off under one.
        let block_cache_entries = match (&cfg.remote, &cfg.test_clock_header) {
            (Some(remote), None) => remote.block_cache_entries as usize,
            _ => 0,
        };
        // A policy update replaces the plugin; the old one logs its pending counts when its last
        // stream ends (`Drop for Plugin`).
        self.plugin = Some(Rc::new(Plugin {
            cfg,
            seed,
            metrics: RefCell::new(HashMap::new()),
            input_metrics: RefCell::new(Default::default()),
            unlogged_pressure: RefCell::new((EvictionPressure::default(), 0)),
            decision_log,
            unlogged_remote: RefCell::new((0, None)),
            blocks: RefCell::new(BlockCache::new(block_cache_entries)),
        }));
        true
    }

    pub fn new_stream(&self) -> Stream {
        Stream {
            plugin: self.plugin.clone(),
            held: Held::default(),
            now: Timestamp::default(),
            phase: Phase::Headers,
            waiting: None,
            confirm: None,
            confirm_answer: None,
            headers_sent: false,
            store_failed: false,
            callout: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Headers,
    /// Guarded: collecting the body.
    Buffering,
    /// Waiting for a call's answer (siteverify, a remote store round).
    Waiting,
    /// Decided (forwarded or answered).
    Done,
}

/// What a stream's call in flight is for.
enum Waiting {
    /// The read of the number a send naming only an account goes to (remote store).
    BoundNumber(Prepared),
    /// The peek round of the request's checks (remote store).
    Peek(Prepared),
    /// A peek round asked to commit when every check passes, with the decision every check
    /// passing gives (remote store).
    PeekCommit(Prepared, Box<Decision>),
    /// Siteverify, for a challenge's token.
    Verify(Decision),
    /// One of the decision's number lookups: the answers so far, in its order.
    Lookup(Decision, Vec<LookupAnswer>),
    /// The commit round of the decision's pending checks (remote store).
    Commit(Decision),
    /// A confirm's checks (remote store); the response is held.
    Confirm(Vec<CounterCheck>),
    /// The credits they earned, this many (remote store); the response is held.
    Credit(usize),
}

/// One HTTP stream (request and response) through the filter.
pub struct Stream {
    plugin: Option<Rc<Plugin>>,
    held: Held,
    now: Timestamp,
    phase: Phase,
    /// What the call in flight answers for.
    waiting: Option<Waiting>,
    /// A forwarded confirm-route decision whose response feeds conversion tracking.
    confirm: Option<Decision>,
    /// A confirm's answer whose body is still arriving (routes judged by `success_json`).
    confirm_answer: Option<ConfirmAnswer>,
    /// The headers went upstream before the decision (`hold_headers: false`).
    headers_sent: bool,
    /// This request's peek round failed as a whole: its commit round is not attempted (it would
    /// most likely fail too, and cost another timeout); the checks count as store failures.
    store_failed: bool,
    /// The token of a siteverify call just dispatched, for `exports` to route its answer here.
    callout: Option<u32>,
}

impl Stream {
    pub fn take_callout(&mut self) -> Option<u32> {
        self.callout.take()
    }
}
