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
//! the request is held: prepare → peek round → conclude → [siteverify] → [number lookups] →
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

use pumpguard_core::captcha::{interpret_siteverify, siteverify_body};
use pumpguard_core::decision::DECISION_HEADERS;
use pumpguard_core::decision_log::{Admit, DecisionLog};
use pumpguard_core::edge_inputs::EdgeInput;
use pumpguard_core::intel::{self, LookupAnswer, NumberLookup, MAX_ANSWER_BYTES};
use pumpguard_core::limit::CounterVerdict;
use pumpguard_core::remote::{CheckRequest, CheckResponse, COMMITTED_HEADER, COMMIT_IF_PASS_HEADER};
use pumpguard_core::routes::{ConfirmResponse, MAX_CONFIRM_BODY_BYTES};
use pumpguard_core::store::{BucketedStore, EvictionPressure};
use pumpguard_core::{
    Action as Verdict, CheckOutcome, CounterCheck, Decision, HttpVersion, Prepared, Timestamp, TokenVerdict,
};

use crate::abi::{self, Action, Buffer, Headers, Level, Metric, Status};
use crate::adapter::{
    decision_line, eviction_metrics, host_failure_metric, input_metric_name, inputs_seen, metric_names,
    parse_client_ip, summary_line, Held,
};
use crate::bench::{self, Span, Stage};
use crate::config::{HostConfig, RemoteStore};
use crate::store::{shared_seed, SharedData, SharedDataStore, SharedError};
use crate::wire;
use pumpguard_core::block_cache::BlockCache;

/// Once per VM instance (each worker thread has its own): a reload after a crash, or a new VM
/// after a vm_config change, shows in the log; a policy update does not start one.
pub fn vm_started() {
    log(Level::Info, "pumpguard: VM started");
}

/// Least time between two log lines about a full counter store, per worker thread.
const PRESSURE_LOG_EVERY_MS: u64 = 10_000;

/// Least time between two log lines about failed remote store rounds, per worker thread.
const REMOTE_LOG_EVERY_MS: u64 = 10_000;

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

type InputMetricIds = [[Option<u32>; 2]; EdgeInput::ALL.len()];

/// One configured plugin, shared by the HTTP contexts of one worker thread.
struct Plugin {
    cfg: HostConfig,
    seed: u64,
    metrics: RefCell<HashMap<String, u32>>,
    /// Counter ids of `pumpguard.inputs…`, by input and state (present, missing).
    input_metrics: RefCell<InputMetricIds>,
    /// Eviction losses not yet logged, and when they were last logged (milliseconds).
    unlogged_pressure: RefCell<(EvictionPressure, u64)>,
    /// Which decision lines this worker writes: under a flood, a few per shape and a count.
    decision_log: RefCell<DecisionLog>,
    /// Failed remote store rounds not yet logged, and when they were last logged (milliseconds).
    unlogged_remote: RefCell<(u64, Option<u64>)>,
    /// The remote store's "blocked until T" answers (empty and unused with shared data).
    blocks: RefCell<BlockCache>,
}

impl Plugin {
    fn count(&self, decision: &Decision) {
        for name in metric_names(&self.cfg.name, decision) {
            self.increment(name);
        }
        for (input, missing) in inputs_seen(decision) {
            self.count_input(input, missing);
        }
    }

    /// Up to five inputs per request: their counter ids are kept by input and state, so no name
    /// is built after the first.
    fn count_input(&self, input: EdgeInput, missing: bool) {
        let (row, column) = (input as usize, usize::from(missing));
        let cached =
            self.input_metrics.borrow().get(row).and_then(|states| states.get(column)).copied().flatten();
        let id = match cached {
            Some(id) => id,
            None => {
                let name = input_metric_name(&self.cfg.name, input, missing);
                let Ok(id) = abi::define_metric(Metric::Counter, &name) else { return };
                if let Some(slot) =
                    self.input_metrics.borrow_mut().get_mut(row).and_then(|s| s.get_mut(column))
                {
                    *slot = Some(id);
                }
                id
            }
        };
        let _ = abi::increment_metric(id, 1);
    }

    /// Counts a number lookup by outcome (`found`, `unavailable`): each one is billed.
    fn count_lookup(&self, outcome: &str) {
        self.increment(format!("pumpguard.number_intel.plugin.{}.lookup.{outcome}", self.cfg.name));
    }

    /// Counts a request answered 503 because a host call failed (see `Stream::host_failure`).
    fn count_host_failure(&self) {
        self.increment(host_failure_metric(&self.cfg.name));
    }

    fn increment(&self, name: String) {
        self.add(name, 1);
    }

    fn add(&self, name: String, amount: u64) {
        let cached = self.metrics.borrow().get(&name).copied();
        let id = match cached {
            Some(id) => id,
            None => match abi::define_metric(Metric::Counter, &name) {
                Ok(id) => {
                    self.metrics.borrow_mut().insert(name, id);
                    id
                }
                Err(_) => return,
            },
        };
        let _ = abi::increment_metric(id, i64::try_from(amount).unwrap_or(i64::MAX));
    }

    /// Counts what the bounded store gave up, and says so in the log at most every
    /// `PRESSURE_LOG_EVERY_MS`: under a flood a line per request would be the next bill.
    fn report_pressure(&self, pressure: EvictionPressure, now: Timestamp) {
        if !pressure.any() {
            return;
        }
        for (name, amount) in eviction_metrics(&self.cfg.name, &pressure) {
            self.add(name, amount);
        }
        let mut unlogged = self.unlogged_pressure.borrow_mut();
        let (total, last) = &mut *unlogged;
        total.history_evicted += pressure.history_evicted;
        total.protected_evicted += pressure.protected_evicted;
        total.refused += pressure.refused;
        if now.as_millis().saturating_sub(*last) >= PRESSURE_LOG_EVERY_MS {
            log(
                Level::Error,
                &format!(
                    "pumpguard[{}]: counter store full: evicted {} history and {} protected entries, \
                     dropped {} writes since the last report; raise store buckets or \
                     entries_per_bucket (docs/envoy.md, \"Sizing the counter store\")",
                    self.cfg.name, total.history_evicted, total.protected_evicted, total.refused
                ),
            );
            *total = EvictionPressure::default();
            *last = now.as_millis();
        }
    }

    /// Logs a decision that is not a plain allow, as far as the decision log's limits let it;
    /// metrics count every decision whatever is logged.
    fn log_decision(&self, decision: &Decision, now: Timestamp) {
        if !self.cfg.log_decisions || (decision.action == Verdict::Allow && decision.reasons.is_empty()) {
            return;
        }
        let mut limiter = self.decision_log.borrow_mut();
        if let Admit::Write { suppressed_before } = limiter.admit_decision(decision, now) {
            log(Level::Info, &decision_line(&self.cfg.name, &decision.log_line(), suppressed_before));
        }
        // The filter has no timer: windows that closed are reported with the next decision.
        // Flushing after every admit also keeps the limiter's summary queue from overflowing.
        for summary in limiter.flush(now) {
            log(Level::Info, &summary_line(&self.cfg.name, &summary));
        }
    }

    /// Counts a failed remote store round (`pumpguard.store.plugin.P.remote.KIND`) and says so in
    /// the log at most every `REMOTE_LOG_EVERY_MS`.
    fn remote_failed(&self, kind: &str, now: Timestamp) {
        self.increment(format!("pumpguard.store.plugin.{}.remote.{kind}", self.cfg.name));
        let mut unlogged = self.unlogged_remote.borrow_mut();
        let (count, last) = &mut *unlogged;
        *count += 1;
        if last.is_none_or(|last| now.as_millis().saturating_sub(last) >= REMOTE_LOG_EVERY_MS) {
            log(
                Level::Error,
                &format!(
                    "pumpguard[{}]: remote store round failed ({kind}); {} failed rounds since the last \
                     report; judged by the policy's store.on_error (docs/fleet.md, \"Failures\")",
                    self.cfg.name, *count
                ),
            );
            *count = 0;
            *last = Some(now.as_millis());
        }
    }

    fn with_store<T>(&self, now: Timestamp, f: impl FnOnce(&BucketedStore<'_>) -> T) -> T {
        let shared = HostShared;
        let raw = SharedDataStore::new(&shared, &self.cfg.namespace);
        let store = BucketedStore::new(&raw, self.cfg.buckets, self.cfg.entries_per_bucket, self.seed);
        let result = f(&store);
        self.report_pressure(store.pressure(), now);
        result
    }
}

impl Drop for Plugin {
    /// Reports the suppressed decisions still pending: the plugin was replaced by a policy update
    /// (its last stream has ended) or its root context deleted.
    fn drop(&mut self) {
        for summary in self.decision_log.get_mut().flush_all() {
            log(Level::Info, &summary_line(&self.cfg.name, &summary));
        }
    }
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
        let cfg = match HostConfig::from_json(&bytes) {
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
                "remote store via cluster {} (policy id {}, timeout {} ms)",
                remote.cluster, remote.policy_id, remote.timeout_ms
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
    Confirm(Decision, Vec<CounterCheck>),
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

    /// Answers locally with a fixed error when the host itself failed us (fail closed).
    fn host_failure(&mut self, what: &str) -> Action {
        log(Level::Error, &format!("pumpguard: host call failed: {what}; answering 503"));
        if let Some(plugin) = &self.plugin {
            plugin.count_host_failure();
        }
        self.phase = Phase::Done;
        let body =
            br#"{"error":"store_unavailable","message":"The request could not be checked; retry later."}"#;
        let headers = [("content-type", "application/json"), ("x-pumpguard-decision", "block")];
        if abi::send_response(503, "pumpguard_host_failure", &headers, body).is_err() {
            let _ = abi::reset_request();
        }
        Action::Pause
    }

    fn judge(&mut self, plugin: &Plugin) -> Action {
        let policy = &plugin.cfg.policy;
        let cap = policy.max_body_bytes();
        if let Some(remote) = &plugin.cfg.remote {
            let prepared = {
                let mut refs = Vec::with_capacity(self.held.headers.len());
                let req = self.held.view(&mut refs, cap);
                policy.prepare(&req, self.now)
            };
            if prepared.checks().is_empty() {
                return self.concluded(plugin, policy.conclude(prepared, &[]), false);
            }
            let cached = plugin.blocks.borrow_mut().answer(prepared.checks(), self.now);
            if let Some(outcomes) = cached {
                // Every check is blocked past now by the store's own earlier answer.
                plugin
                    .increment(format!("pumpguard.store.plugin.{}.remote.block_cache_hit", plugin.cfg.name));
                return self.concluded(plugin, policy.conclude(prepared, &outcomes), false);
            }
            let checks = prepared.checks().to_vec();
            // A request every check would let through goes to origin with all of them committed:
            // the service may commit them in the peek round itself, saving the commit round.
            let passing = vec![CheckOutcome::Verdict(CounterVerdict::PASS); checks.len()];
            let if_pass = policy.conclude(prepared.clone(), &passing);
            let one_round = if_pass.action == Verdict::Allow
                && if_pass.token_check.is_none()
                && if_pass.lookups.is_empty()
                && if_pass.pending_commits() == prepared.checks();
            if self.dispatch_round_with(plugin, remote, true, one_round, checks) {
                return self.wait(if one_round {
                    Waiting::PeekCommit(prepared, Box::new(if_pass))
                } else {
                    Waiting::Peek(prepared)
                });
            }
            let failed = vec![CheckOutcome::StoreFailed; prepared.checks().len()];
            self.store_failed = true;
            return self.concluded(plugin, policy.conclude(prepared, &failed), false);
        }
        let decision = bench::timed(Span::Judge, || {
            let mut refs = Vec::with_capacity(self.held.headers.len());
            let req = self.held.view(&mut refs, cap);
            plugin.with_store(self.now, |store| policy.decide(&req, self.now, store))
        });
        if bench::judged(&decision) {
            return Action::Continue;
        }
        self.concluded(plugin, decision, false)
    }

    /// Holds the request (or a confirm's response) until the call just dispatched answers.
    fn wait(&mut self, waiting: Waiting) -> Action {
        self.waiting = Some(waiting);
        self.phase = Phase::Waiting;
        Action::Pause
    }

    /// A concluded decision: its token verified first if it carries one, then committed, then
    /// carried out. `resumed`: we are in a callout, the request is paused.
    fn concluded(&mut self, plugin: &Plugin, decision: Decision, resumed: bool) -> Action {
        if let Some(check) = decision.token_check.as_ref() {
            match self.dispatch_siteverify(plugin, check) {
                Ok(()) => return self.wait(Waiting::Verify(decision)),
                Err(detail) => {
                    let decision =
                        plugin.cfg.policy.resolve_token(decision, &TokenVerdict::Unavailable { detail });
                    return self.concluded(plugin, decision, resumed);
                }
            }
        }
        if !decision.lookups.is_empty() {
            return self.look_up(plugin, decision, Vec::new(), resumed);
        }
        self.commit(plugin, decision, resumed)
    }

    /// The decision's next number lookup, one at a time (a request names one number, nearly
    /// always); once every one answered, the answers are folded in and the decision goes on
    /// (a challenge they ask for has its token verified next).
    fn look_up(
        &mut self,
        plugin: &Plugin,
        decision: Decision,
        mut answers: Vec<LookupAnswer>,
        resumed: bool,
    ) -> Action {
        while let Some(lookup) = decision.lookups.get(answers.len()) {
            match self.dispatch_lookup(plugin, lookup) {
                Ok(()) => return self.wait(Waiting::Lookup(decision, answers)),
                Err(detail) => {
                    plugin.count_lookup("unavailable");
                    answers.push(LookupAnswer::Unavailable { detail });
                }
            }
        }
        let decision = plugin.cfg.policy.resolve_lookups(decision, &answers);
        self.concluded(plugin, decision, resumed)
    }

    fn dispatch_lookup(&mut self, plugin: &Plugin, lookup: &NumberLookup) -> Result<(), String> {
        let (Some(host), Some(provider)) = (&plugin.cfg.number_intel, plugin.cfg.policy.number_intel())
        else {
            return Err("no number_intel cluster configured".to_owned());
        };
        let request = provider.request(lookup);
        let authority = host.authority.as_deref().unwrap_or(&request.authority);
        let extra = intel::merge_headers(&request.headers, &host.headers);
        let mut headers =
            vec![(":method", "GET"), (":path", request.path.as_str()), (":authority", authority)];
        headers.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let token = abi::http_call(&host.cluster, &headers, &[], provider.timeout_ms)
            .map_err(|Status(status)| format!("lookup not dispatched (host status {status})"))?;
        self.callout = Some(token);
        Ok(())
    }

    /// Runs the decision's pending counter writes (none left after `decide` in shared data), then
    /// carries it out; with the remote store, as a commit round.
    fn commit(&mut self, plugin: &Plugin, decision: Decision, resumed: bool) -> Action {
        let policy = &plugin.cfg.policy;
        let Some(remote) = &plugin.cfg.remote else {
            let decision = plugin.with_store(self.now, |store| policy.commit(decision, self.now, store));
            return self.act(plugin, decision, resumed);
        };
        if decision.pending_commits().is_empty() {
            return self.act(plugin, decision, resumed);
        }
        let checks = decision.pending_commits().to_vec();
        let count = checks.len();
        if !self.store_failed && self.dispatch_round(plugin, remote, false, checks) {
            return self.wait(Waiting::Commit(decision));
        }
        let decision = policy.settle_commits(decision, &vec![CheckOutcome::StoreFailed; count]);
        self.act(plugin, decision, resumed)
    }

    /// A peek round's outcomes (`prepared`'s checks): the blocks among them learnt, the request
    /// concluded.
    fn peek_answered(&mut self, plugin: &Plugin, prepared: Prepared, outcomes: Vec<CheckOutcome>) {
        self.store_failed = outcomes.iter().all(|o| *o == CheckOutcome::StoreFailed);
        let learned = plugin.blocks.borrow_mut().learn(prepared.checks(), &outcomes, self.now);
        if learned > 0 {
            plugin.add(
                format!("pumpguard.store.plugin.{}.remote.block_cache_stored", plugin.cfg.name),
                learned as u64,
            );
        }
        let decision = plugin.cfg.policy.conclude(prepared, &outcomes);
        self.concluded(plugin, decision, true);
    }

    /// Sends one round of counter checks to the store service; false when it could not be sent
    /// (counted and logged: the caller takes every check as a store failure).
    fn dispatch_round(
        &mut self,
        plugin: &Plugin,
        remote: &RemoteStore,
        peek: bool,
        checks: Vec<CounterCheck>,
    ) -> bool {
        self.dispatch_round_with(plugin, remote, peek, false, checks)
    }

    /// [`Stream::dispatch_round`]; `commit_if_pass` asks a peek round to commit when every check
    /// passes ([`COMMIT_IF_PASS_HEADER`]; a service that does not know it answers a plain peek).
    fn dispatch_round_with(
        &mut self,
        plugin: &Plugin,
        remote: &RemoteStore,
        peek: bool,
        commit_if_pass: bool,
        checks: Vec<CounterCheck>,
    ) -> bool {
        let request = CheckRequest {
            policy_id: remote.policy_id,
            now_ms: self.now.as_millis(),
            peek,
            namespace: Some(plugin.cfg.namespace.clone()),
            checks,
        };
        let Ok(body) = serde_json::to_vec(&request) else {
            plugin.remote_failed("unencodable", self.now);
            return false;
        };
        let mut headers = vec![
            (":method", "POST"),
            (":path", remote.path.as_str()),
            (":authority", remote.authority.as_str()),
            ("content-type", "application/json"),
        ];
        if commit_if_pass {
            headers.push((COMMIT_IF_PASS_HEADER, "1"));
        }
        match abi::http_call(&remote.cluster, &headers, &body, remote.timeout_ms) {
            Ok(token) => {
                self.callout = Some(token);
                true
            }
            Err(_) => {
                plugin.remote_failed("not_dispatched", self.now);
                false
            }
        }
    }

    /// The outcomes of a store round's answer, one per check; anything but a 200 with exactly
    /// that many outcomes fails them all (counted and logged by kind).
    fn round_outcomes(
        &self,
        plugin: &Plugin,
        num_headers: usize,
        body_size: usize,
        expected: usize,
    ) -> Vec<CheckOutcome> {
        let failed = |kind: &str| {
            plugin.remote_failed(kind, self.now);
            vec![CheckOutcome::StoreFailed; expected]
        };
        if num_headers == 0 {
            return failed("timeout_or_reset");
        }
        if status_of(Headers::HttpCallResponse) != Some(200) {
            return failed("bad_status");
        }
        let body = match abi::buffer(Buffer::HttpCallResponseBody, 0, body_size) {
            Ok(Some(body)) => body,
            _ => Vec::new(),
        };
        match serde_json::from_slice::<CheckResponse>(&body) {
            Ok(CheckResponse::Outcomes(outcomes)) if outcomes.len() == expected => outcomes,
            Ok(CheckResponse::Refused(_)) => failed("refused"),
            _ => failed("bad_answer"),
        }
    }

    fn dispatch_siteverify(
        &mut self,
        plugin: &Plugin,
        check: &pumpguard_core::decision::TokenCheck,
    ) -> Result<(), String> {
        let sv = plugin.cfg.siteverify.as_ref().ok_or("no siteverify cluster configured")?;
        let secret = plugin.cfg.siteverify_secret().ok_or("no siteverify secret configured")?;
        let timeout_ms = plugin.cfg.policy.captcha().map(|c| c.verify_timeout_ms).unwrap_or(2000);
        let body = siteverify_body(secret, check);
        let headers = [
            (":method", "POST"),
            (":path", sv.path.as_str()),
            (":authority", sv.authority.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        let token = abi::http_call(&sv.cluster, &headers, body.as_bytes(), timeout_ms)
            .map_err(|Status(status)| format!("siteverify call not dispatched (host status {status})"))?;
        self.callout = Some(token);
        Ok(())
    }

    /// Carries out a final decision. `resumed`: we are in a callout, the request is paused.
    fn act(&mut self, plugin: &Plugin, decision: Decision, resumed: bool) -> Action {
        bench::timed(Span::Act, || self.carry_out(plugin, decision, resumed))
    }

    fn carry_out(&mut self, plugin: &Plugin, decision: Decision, resumed: bool) -> Action {
        self.phase = Phase::Done;
        plugin.count(&decision);
        plugin.log_decision(&decision, self.now);
        if bench::stops_at(Stage::Counted) {
            return Action::Continue;
        }
        if decision.action == Verdict::Allow {
            // Headers already upstream cannot be changed: the host would refuse.
            let headers = if self.headers_sent { Vec::new() } else { decision.origin_headers() };
            for (name, value) in headers {
                // Client-sent copies were removed at the headers, so adding cannot duplicate.
                if abi::add_header(Headers::Request, name, &value).is_err() {
                    return self.host_failure("set request header");
                }
            }
            if plugin.cfg.policy.awaits_confirmation(&decision) {
                self.confirm = Some(decision);
            }
            if resumed && abi::resume_request().is_err() {
                log(Level::Error, "pumpguard: resuming the request failed; resetting it");
                let _ = abi::reset_request();
            }
            return Action::Continue;
        }
        let headers = decision.response_headers();
        let header_refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let body = decision.error_body().unwrap_or_default();
        let status = u32::from(decision.status);
        let details = decision.error_code().map_or("pumpguard", |c| c.as_str());
        if abi::send_response(status, details, &header_refs, body.as_bytes()).is_err() {
            let _ = abi::reset_request();
        }
        Action::Pause
    }

    fn read_body(&mut self, plugin: &Plugin, body_size: usize) -> bool {
        let cap = plugin.cfg.policy.max_body_bytes();
        let have = self.held.body.len();
        let want = body_size.min(cap.saturating_add(1));
        if want <= have {
            return true;
        }
        match abi::buffer(Buffer::RequestBody, have, want - have) {
            Ok(Some(chunk)) => {
                self.held.push_body(&chunk, cap);
                true
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }
}

impl Stream {
    /// The answer of the call in flight (no headers: the call failed or timed out).
    pub fn on_callout_response(&mut self, num_headers: usize, body_size: usize) {
        let (Some(plugin), Some(waiting)) = (self.plugin.clone(), self.waiting.take()) else {
            return;
        };
        let policy = &plugin.cfg.policy;
        match waiting {
            Waiting::Verify(decision) => {
                self.on_siteverify_response(&plugin, decision, num_headers, body_size)
            }
            Waiting::Lookup(decision, mut answers) => {
                let answer = match (num_headers, policy.number_intel()) {
                    (0, Some(provider)) => LookupAnswer::Unavailable {
                        detail: format!("lookup failed or timed out ({} ms)", provider.timeout_ms),
                    },
                    (_, Some(provider)) => {
                        let status = status_of(Headers::HttpCallResponse).unwrap_or(0);
                        let want = body_size.min(MAX_ANSWER_BYTES + 1);
                        let body = match abi::buffer(Buffer::HttpCallResponseBody, 0, want) {
                            Ok(Some(body)) => body,
                            _ => Vec::new(),
                        };
                        provider.interpret(status, &body)
                    }
                    (_, None) => LookupAnswer::Unavailable { detail: "no number_intel settings".to_owned() },
                };
                plugin.count_lookup(if matches!(answer, LookupAnswer::Found(_)) {
                    "found"
                } else {
                    "unavailable"
                });
                answers.push(answer);
                self.look_up(&plugin, decision, answers, true);
            }
            Waiting::PeekCommit(prepared, if_pass) => {
                let outcomes = self.round_outcomes(&plugin, num_headers, body_size, prepared.checks().len());
                let committed = abi::header_value(Headers::HttpCallResponse, COMMITTED_HEADER)
                    .ok()
                    .flatten()
                    .is_some_and(|v| v == b"1");
                if committed {
                    // The checks ran for real: settled as a commit round's answer would be.
                    plugin.increment(format!("pumpguard.store.plugin.{}.remote.one_round", plugin.cfg.name));
                    let decision = policy.settle_commits(*if_pass, &outcomes);
                    self.act(&plugin, decision, true);
                    return;
                }
                self.peek_answered(&plugin, prepared, outcomes);
            }
            Waiting::Peek(prepared) => {
                let outcomes = self.round_outcomes(&plugin, num_headers, body_size, prepared.checks().len());
                self.peek_answered(&plugin, prepared, outcomes);
            }
            Waiting::Commit(decision) => {
                let count = decision.pending_commits().len();
                let outcomes = self.round_outcomes(&plugin, num_headers, body_size, count);
                let decision = policy.settle_commits(decision, &outcomes);
                self.act(&plugin, decision, true);
            }
            Waiting::Confirm(decision, checks) => {
                let outcomes = self.round_outcomes(&plugin, num_headers, body_size, checks.len());
                let credits = policy.credit_checks(&decision, &checks, &outcomes);
                if let (false, Some(remote)) = (credits.is_empty(), plugin.cfg.remote.as_ref()) {
                    let count = credits.len();
                    if self.dispatch_round(&plugin, remote, false, credits) {
                        self.waiting = Some(Waiting::Credit(count));
                        return;
                    }
                }
                self.release_response();
            }
            Waiting::Credit(count) => {
                // What the credits found is bookkeeping; only a failure is worth counting.
                let _ = self.round_outcomes(&plugin, num_headers, body_size, count);
                self.release_response();
            }
        }
    }

    /// Lets a confirm's response held for its store rounds go on to the client.
    fn release_response(&mut self) {
        self.phase = Phase::Done;
        if abi::resume_response().is_err() {
            log(Level::Error, "pumpguard: resuming the response failed; resetting it");
            let _ = abi::reset_request();
        }
    }

    fn on_siteverify_response(
        &mut self,
        plugin: &Plugin,
        decision: Decision,
        num_headers: usize,
        body_size: usize,
    ) {
        let policy = &plugin.cfg.policy;
        let status = if num_headers == 0 { None } else { status_of(Headers::HttpCallResponse) };
        let verdict = match (status, policy.captcha()) {
            (None, _) => {
                TokenVerdict::Unavailable { detail: "siteverify call failed or timed out".to_owned() }
            }
            (Some(_), None) => TokenVerdict::Unavailable { detail: "no captcha settings".to_owned() },
            (Some(status), Some(captcha)) => {
                let body = match abi::buffer(Buffer::HttpCallResponseBody, 0, body_size) {
                    Ok(Some(body)) => body,
                    _ => Vec::new(),
                };
                interpret_siteverify(captcha, status, &body)
            }
        };
        let decision = policy.resolve_token(decision, &verdict);
        self.concluded(plugin, decision, true);
    }
}

impl Stream {
    fn request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        crate::trap::on_request_headers();
        if let Some(action) = bench::floor_headers(end_of_stream) {
            return action;
        }
        let Some(plugin) = self.plugin.clone() else { return Action::Continue };
        let cfg = &plugin.cfg;
        if bench::stops_at(Stage::Start) {
            return Action::Continue;
        }
        let raw = match abi::header_pairs(Headers::Request) {
            Ok(raw) => raw,
            Err(_) => return self.host_failure("read request headers"),
        };
        if bench::stops_at(Stage::HeadersRead) {
            return Action::Continue;
        }
        let Some(pairs) = wire::decode_pairs(&raw) else {
            return self.host_failure("decode request headers");
        };
        // Names we set for origin must never come from the client; the test clock never reaches origin.
        for (name, _) in &pairs {
            let ours = DECISION_HEADERS.iter().any(|h| h.as_bytes() == *name)
                || cfg.test_clock_header.as_deref().is_some_and(|h| h.as_bytes() == *name);
            if ours && abi::remove_header(Headers::Request, name).is_err() {
                return self.host_failure("remove request header");
            }
        }
        // The core judges text; values that are not UTF-8 (obs-text) are judged with U+FFFD
        // in place of the bad bytes and forwarded untouched.
        let map = pairs.into_iter().map(|(n, v)| (wire::text(n), wire::text(v))).collect();
        let (held, clock) = Held::from_headers(cfg, map);
        self.held = held;
        self.now = match (clock, cfg.test_clock_header.is_some()) {
            (Some(ms), true) => Timestamp::from_millis(ms),
            _ => host_now(),
        };
        let (guarded, import) = {
            let mut refs = Vec::with_capacity(self.held.headers.len());
            let req = self.held.view(&mut refs, 0);
            (cfg.policy.guards(&req), cfg.policy.is_trust_import(&req))
        };
        if !guarded {
            self.phase = Phase::Done;
            for (name, value) in Decision::unguarded().origin_headers() {
                if abi::add_header(Headers::Request, name, &value).is_err() {
                    return self.host_failure("set request header");
                }
            }
            return Action::Continue;
        }
        if cfg.needs.client_ip {
            self.held.client_ip = property_text(&["source", "address"]).as_deref().and_then(parse_client_ip);
        }
        if cfg.needs.http_version {
            self.held.version =
                property_text(&["request", "protocol"]).as_deref().and_then(HttpVersion::from_protocol);
        }
        if end_of_stream {
            return self.judge(&plugin);
        }
        self.phase = Phase::Buffering;
        if !cfg.hold_headers {
            // Headers go upstream before the answer: never the import's token with them.
            if import && abi::remove_header(Headers::Request, b"authorization").is_err() {
                return self.host_failure("remove request header");
            }
            self.headers_sent = true;
            return Action::Continue;
        }
        Action::Pause
    }

    fn request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if let Some(action) = bench::floor_body(end_of_stream) {
            return action;
        }
        let Some(plugin) = self.plugin.clone() else { return Action::Continue };
        match self.phase {
            Phase::Buffering => {}
            Phase::Headers | Phase::Done => return Action::Continue,
            Phase::Waiting => return Action::Pause,
        }
        if bench::stops_at(Stage::Headers) {
            return Action::Continue;
        }
        if !self.read_body(&plugin, body_size) {
            return self.host_failure("read request body");
        }
        if end_of_stream && bench::stops_at(Stage::BodyRead) {
            return Action::Continue;
        }
        if end_of_stream || self.held.truncated {
            return self.judge(&plugin);
        }
        Action::Pause
    }
}

impl Stream {
    pub fn on_request_headers(&mut self, num_headers: usize, end_of_stream: bool) -> Action {
        bench::timed(Span::Headers, || self.request_headers(num_headers, end_of_stream))
    }

    pub fn on_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        bench::timed(Span::Body, || self.request_body(body_size, end_of_stream))
    }

    pub fn on_request_trailers(&mut self) -> Action {
        let Some(plugin) = self.plugin.clone() else { return Action::Continue };
        match self.phase {
            Phase::Buffering => self.judge(&plugin),
            Phase::Waiting => Action::Pause,
            Phase::Headers | Phase::Done => Action::Continue,
        }
    }

    /// A forwarded confirm's answer: its status and headers, and where the route judges success
    /// from the body, the body as it passes (never held: origin's answer is not delayed).
    pub fn on_response_headers(&mut self, end_of_stream: bool) -> Action {
        let (Some(plugin), Some(decision)) = (self.plugin.clone(), self.confirm.take()) else {
            return Action::Continue;
        };
        let Some(status) = status_of(Headers::Response) else { return Action::Continue };
        let headers = abi::header_pairs(Headers::Response)
            .ok()
            .and_then(|raw| {
                wire::decode_pairs(&raw).map(|pairs| {
                    pairs.into_iter().map(|(n, v)| (wire::text(n), wire::text(v))).collect::<Vec<_>>()
                })
            })
            .unwrap_or_default();
        let answer = ConfirmAnswer { decision, status, headers, body: Vec::new() };
        if plugin.cfg.policy.confirm_needs_body(&answer.decision) && !end_of_stream {
            self.confirm_answer = Some(answer);
            // With the remote store the whole answer is held until its rounds are done.
            if plugin.cfg.remote.is_some() {
                Action::Pause
            } else {
                Action::Continue
            }
        } else {
            self.record_confirm(&plugin, answer)
        }
    }

    /// Collects a confirm's answer up to the core's cap; records the confirmation at its end.
    pub fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if matches!(self.waiting, Some(Waiting::Confirm(..) | Waiting::Credit(_))) {
            // Recorded at the headers, rounds in flight: the body waits with them.
            return Action::Pause;
        }
        let (Some(plugin), Some(answer)) = (self.plugin.clone(), self.confirm_answer.as_mut()) else {
            return Action::Continue;
        };
        let holding = plugin.cfg.remote.is_some();
        let have = answer.body.len();
        let room = MAX_CONFIRM_BODY_BYTES.saturating_sub(have);
        if room > 0 {
            // Held, the buffer keeps everything since the headers; let through, each call holds
            // only the chunk Envoy is about to pass on.
            let (start, size) = if holding { (have, body_size.saturating_sub(have)) } else { (0, body_size) };
            if size > 0 {
                if let Ok(Some(chunk)) = abi::buffer(Buffer::ResponseBody, start, size.min(room)) {
                    answer.body.extend_from_slice(&chunk);
                }
            }
        }
        if end_of_stream {
            if let Some(answer) = self.confirm_answer.take() {
                return self.record_confirm(&plugin, answer);
            }
        }
        if holding {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    /// Feeds a confirm's answer into conversion tracking. With the remote store its rounds run
    /// while the response is held (`Pause`): a call still in flight when the stream ends is
    /// cancelled by the host, and the confirmation would be lost.
    fn record_confirm(&mut self, plugin: &Plugin, answer: ConfirmAnswer) -> Action {
        let policy = &plugin.cfg.policy;
        let headers: Vec<(&str, &str)> =
            answer.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let body = policy.confirm_needs_body(&answer.decision).then_some(answer.body.as_slice());
        let response = ConfirmResponse { status: answer.status, headers: &headers, body };
        let Some(remote) = &plugin.cfg.remote else {
            plugin.with_store(self.now, |store| {
                policy.record_confirm(&answer.decision, &response, self.now, store)
            });
            return Action::Continue;
        };
        let checks = policy.confirm_checks(&answer.decision, &response);
        if checks.is_empty() || !self.dispatch_round(plugin, remote, false, checks.clone()) {
            return Action::Continue;
        }
        self.wait(Waiting::Confirm(answer.decision, checks))
    }
}

/// Origin's answer to a forwarded confirm, as far as the route needs it.
struct ConfirmAnswer {
    decision: Decision,
    status: u16,
    headers: Vec<(String, String)>,
    /// Up to `MAX_CONFIRM_BODY_BYTES`, when the route judges success from the body.
    body: Vec<u8>,
}

/// The `:status` of a response header map.
fn status_of(map: Headers) -> Option<u16> {
    let value = abi::header_value(map, ":status").ok().flatten()?;
    std::str::from_utf8(&value).ok()?.parse().ok()
}
