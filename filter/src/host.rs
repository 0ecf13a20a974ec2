//! The proxy-wasm contexts: move bytes between Envoy and the core, nothing else.
//!
//! Request flow: headers → if no route guards the request, forward at once (never buffered);
//! otherwise pause (`allow_on_headers_stop_iteration` lets the body still arrive while the
//! headers are held) and collect the body up to the policy's cap; at end of stream (or at the
//! trailers, or as soon as the cap is passed) the core decides. Allow: decision headers are
//! added and the request resumes. Anything else: a local reply, so origin never sees any part of
//! the request. A challenge with a token first calls siteverify (`abi::http_call`).
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
use pumpguard_core::routes::{ConfirmResponse, MAX_CONFIRM_BODY_BYTES};
use pumpguard_core::store::{BucketedStore, EvictionPressure};
use pumpguard_core::{Action as Verdict, Decision, HttpVersion, Timestamp, TokenVerdict};

use crate::abi::{self, Action, Buffer, Headers, Level, Metric, Status};
use crate::adapter::{
    decision_line, eviction_metrics, host_failure_metric, metric_names, parse_client_ip, summary_line, Held,
};
use crate::bench::{self, Span, Stage};
use crate::config::HostConfig;
use crate::store::{shared_seed, SharedData, SharedDataStore, SharedError};
use crate::wire;

/// Once per VM instance (each worker thread has its own): a reload after a crash, or a new VM
/// after a vm_config change, shows in the log; a policy update does not start one.
pub fn vm_started() {
    log(Level::Info, "pumpguard: VM started");
}

/// Least time between two log lines about a full counter store, per worker thread.
const PRESSURE_LOG_EVERY_MS: u64 = 10_000;

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

/// One configured plugin, shared by the HTTP contexts of one worker thread.
struct Plugin {
    cfg: HostConfig,
    seed: u64,
    metrics: RefCell<HashMap<String, u32>>,
    /// Eviction losses not yet logged, and when they were last logged (milliseconds).
    unlogged_pressure: RefCell<(EvictionPressure, u64)>,
    /// Which decision lines this worker writes: under a flood, a few per shape and a count.
    decision_log: RefCell<DecisionLog>,
}

impl Plugin {
    fn count(&self, decision: &Decision) {
        for name in metric_names(&self.cfg.name, decision) {
            self.increment(name);
        }
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
        log(
            Level::Info,
            &format!(
                "pumpguard[{}]: configured: {} routes, {} rules, {} buckets x {} entries",
                cfg.name,
                cfg.policy.route_ids().count(),
                cfg.policy.rule_ids().count(),
                cfg.buckets,
                cfg.entries_per_bucket
            ),
        );
        let decision_log = RefCell::new(DecisionLog::new(cfg.decision_log));
        // A policy update replaces the plugin; the old one logs its pending counts when its last
        // stream ends (`Drop for Plugin`).
        self.plugin = Some(Rc::new(Plugin {
            cfg,
            seed,
            metrics: RefCell::new(HashMap::new()),
            unlogged_pressure: RefCell::new((EvictionPressure::default(), 0)),
            decision_log,
        }));
        true
    }

    pub fn new_stream(&self) -> Stream {
        Stream {
            plugin: self.plugin.clone(),
            held: Held::default(),
            now: Timestamp::default(),
            phase: Phase::Headers,
            pending: None,
            confirm: None,
            confirm_answer: None,
            headers_sent: false,
            callout: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Headers,
    /// Guarded: collecting the body.
    Buffering,
    /// Waiting for siteverify.
    Verifying,
    /// Decided (forwarded or answered).
    Done,
}

/// One HTTP stream (request and response) through the filter.
pub struct Stream {
    plugin: Option<Rc<Plugin>>,
    held: Held,
    now: Timestamp,
    phase: Phase,
    /// The challenge decision waiting for siteverify.
    pending: Option<Decision>,
    /// A forwarded confirm-route decision whose response feeds conversion tracking.
    confirm: Option<Decision>,
    /// A confirm's answer whose body is still arriving (routes judged by `success_json`).
    confirm_answer: Option<ConfirmAnswer>,
    /// The headers went upstream before the decision (`hold_headers: false`).
    headers_sent: bool,
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
        let decision = bench::timed(Span::Judge, || {
            let mut refs = Vec::with_capacity(self.held.headers.len());
            let req = self.held.view(&mut refs, cap);
            plugin.with_store(self.now, |store| policy.decide(&req, self.now, store))
        });
        if bench::judged(&decision) {
            return Action::Continue;
        }
        if let Some(check) = decision.token_check.as_ref() {
            match self.dispatch_siteverify(plugin, check) {
                Ok(()) => {
                    self.pending = Some(decision);
                    self.phase = Phase::Verifying;
                    return Action::Pause;
                }
                Err(detail) => {
                    let decision = policy.resolve_token(decision, &TokenVerdict::Unavailable { detail });
                    let decision =
                        plugin.with_store(self.now, |store| policy.commit(decision, self.now, store));
                    return self.act(plugin, decision, false);
                }
            }
        }
        self.act(plugin, decision, false)
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
    /// The siteverify answer (no headers: the call failed or timed out).
    pub fn on_siteverify_response(&mut self, num_headers: usize, body_size: usize) {
        let (Some(plugin), Some(decision)) = (self.plugin.clone(), self.pending.take()) else {
            return;
        };
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
        let now = self.now;
        let decision = plugin.with_store(now, |store| policy.commit(decision, now, store));
        self.act(&plugin, decision, true);
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
        let guarded = {
            let mut refs = Vec::with_capacity(self.held.headers.len());
            let req = self.held.view(&mut refs, 0);
            cfg.policy.route_for(&req).is_some()
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
            Phase::Verifying => return Action::Pause,
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
            Phase::Verifying => Action::Pause,
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
        } else {
            self.record_confirm(&plugin, &answer);
        }
        Action::Continue
    }

    /// Collects a confirm's answer up to the core's cap; records the confirmation at its end.
    pub fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let (Some(plugin), Some(answer)) = (self.plugin.clone(), self.confirm_answer.as_mut()) else {
            return Action::Continue;
        };
        let room = MAX_CONFIRM_BODY_BYTES.saturating_sub(answer.body.len());
        if room > 0 {
            // Each call holds the chunk Envoy is about to pass on.
            if let Ok(Some(chunk)) = abi::buffer(Buffer::ResponseBody, 0, body_size.min(room)) {
                answer.body.extend_from_slice(&chunk);
            }
        }
        if end_of_stream {
            if let Some(answer) = self.confirm_answer.take() {
                self.record_confirm(&plugin, &answer);
            }
        }
        Action::Continue
    }

    fn record_confirm(&self, plugin: &Plugin, answer: &ConfirmAnswer) {
        let policy = &plugin.cfg.policy;
        let headers: Vec<(&str, &str)> =
            answer.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let body = policy.confirm_needs_body(&answer.decision).then_some(answer.body.as_slice());
        let response = ConfirmResponse { status: answer.status, headers: &headers, body };
        plugin.with_store(self.now, |store| {
            policy.record_confirm(&answer.decision, &response, self.now, store)
        });
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
