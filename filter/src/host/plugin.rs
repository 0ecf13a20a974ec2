//! `Plugin`: one configured plugin per worker thread, its metrics, decision log and counter store.

use std::cell::RefCell;
use std::collections::HashMap;

use pumpguard_core::block_cache::BlockCache;
use pumpguard_core::decision_log::{Admit, DecisionLog};
use pumpguard_core::edge_inputs::EdgeInput;
use pumpguard_core::store::{BucketedStore, EvictionPressure};
use pumpguard_core::{Action as Verdict, Decision, Timestamp};

use super::{log, HostShared};
use crate::abi::{self, Level, Metric};
use crate::adapter::{
    decision_line, eviction_metrics, host_failure_metric, input_metric_name, inputs_seen, metric_names,
    summary_line,
};
use crate::config::HostConfig;
use crate::store::SharedDataStore;

/// Least time between two log lines about a full counter store, per worker thread.
const PRESSURE_LOG_EVERY_MS: u64 = 10_000;

/// Least time between two log lines about failed remote store rounds, per worker thread.
const REMOTE_LOG_EVERY_MS: u64 = 10_000;

type InputMetricIds = [[Option<u32>; 2]; EdgeInput::ALL.len()];

/// One configured plugin, shared by the HTTP contexts of one worker thread.
pub(super) struct Plugin {
    pub(super) cfg: HostConfig,
    pub(super) seed: u64,
    pub(super) metrics: RefCell<HashMap<String, u32>>,
    /// Counter ids of `pumpguard.inputs…`, by input and state (present, missing).
    pub(super) input_metrics: RefCell<InputMetricIds>,
    /// Eviction losses not yet logged, and when they were last logged (milliseconds).
    pub(super) unlogged_pressure: RefCell<(EvictionPressure, u64)>,
    /// Which decision lines this worker writes: under a flood, a few per shape and a count.
    pub(super) decision_log: RefCell<DecisionLog>,
    /// Failed remote store rounds not yet logged, and when they were last logged (milliseconds).
    pub(super) unlogged_remote: RefCell<(u64, Option<u64>)>,
    /// The remote store's "blocked until T" answers (empty and unused with shared data).
    pub(super) blocks: RefCell<BlockCache>,
}

impl Plugin {
    pub(super) fn count(&self, decision: &Decision) {
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
    pub(super) fn count_lookup(&self, outcome: &str) {
        self.increment(format!("pumpguard.number_intel.plugin.{}.lookup.{outcome}", self.cfg.name));
    }

    /// Counts a request answered 503 because a host call failed (see `Stream::host_failure`).
    pub(super) fn count_host_failure(&self) {
        self.increment(host_failure_metric(&self.cfg.name));
    }

    pub(super) fn increment(&self, name: String) {
        self.add(name, 1);
    }

    pub(super) fn add(&self, name: String, amount: u64) {
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
    pub(super) fn log_decision(&self, decision: &Decision, now: Timestamp) {
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
    pub(super) fn remote_failed(&self, kind: &str, now: Timestamp) {
        self.increment(format!("pumpguard.store.plugin.{}.remote.{kind}", self.cfg.name));
        let mut unlogged = self.unlogged_remote.borrow_mut();
        let (count, last) = &mut *unlogged;
        *count += 1;
        if last.is_none_or(|last| now.as_millis().saturating_sub(last) >= REMOTE_LOG_EVERY_MS) {
            let hint = if kind == "unauthorized" {
                ": the store service refused this filter's bearer token (store.token or store.token_env \
                 must hold one of the service's tokens; docs/fleet.md, \"The store credential\")"
            } else {
                ""
            };
            log(
                Level::Error,
                &format!(
                    "pumpguard[{}]: remote store round failed ({kind}{hint}); {} failed rounds since the \
                     last report; judged by the policy's store.on_error (docs/fleet.md, \"Failures\")",
                    self.cfg.name, *count
                ),
            );
            *count = 0;
            *last = Some(now.as_millis());
        }
    }

    pub(super) fn with_store<T>(&self, now: Timestamp, f: impl FnOnce(&BucketedStore<'_>) -> T) -> T {
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
