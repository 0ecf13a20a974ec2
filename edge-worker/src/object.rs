//! `CounterShard`: the Durable Object holding one shard of the counters.
//!
//! One event at a time runs inside a Durable Object, so running the core's checks against the
//! in-memory [`ShardStore`] is atomic; written entries are persisted before the answer leaves
//! (workerd's output gate holds it until the write is durable), so a restart or eviction loses
//! nothing that was acknowledged.

use std::cell::Cell;

use worker::ListOptions;

use pumpguard_core::{CheckOutcome, Timestamp};
use worker::js_sys::{Map, Object, Reflect};
use worker::wasm_bindgen::JsValue;
use worker::{console_error, durable_object, DurableObject, Env, Request, Response, Result, State};

use crate::host;
use crate::logs::event_line;
use crate::policy_source::Loaded;
use crate::shard_store::{storage_key, ShardStore};
use crate::wire::{ShardRequest, ShardResponse};

/// Entries kept in memory per shard before the copy is dropped (storage keeps everything).
const MAX_CACHED_ENTRIES: usize = 50_000;
/// A shard with at most this many stored entries is read whole on its first request, so new keys
/// need no storage read.
const MAX_LISTED_ENTRIES: usize = 20_000;
/// How often (in request time) expired entries are dropped from memory and storage.
const SWEEP_EVERY_MS: u64 = 60_000;

#[durable_object]
pub struct CounterShard {
    state: State,
    env: Env,
    store: ShardStore,
    last_sweep_ms: Cell<u64>,
    /// The whole-shard listing was tried (it is tried once per object lifetime).
    listed: Cell<bool>,
}

impl DurableObject for CounterShard {
    fn new(state: State, env: Env) -> Self {
        CounterShard {
            state,
            env,
            store: ShardStore::new(),
            last_sweep_ms: Cell::new(0),
            listed: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let answer = match req.bytes().await {
            Ok(bytes) => match serde_json::from_slice::<ShardRequest>(&bytes) {
                Ok(request) => self.run(request).await,
                Err(e) => ShardResponse::Refused(format!("unreadable request: {e}")),
            },
            Err(e) => ShardResponse::Refused(format!("unreadable request: {e}")),
        };
        Response::from_json(&answer)
    }
}

impl CounterShard {
    async fn run(&self, request: ShardRequest) -> ShardResponse {
        let policy = match host::policy(&self.env, Some(request.policy_id)).await {
            Loaded::Ready { id, policy } if id == request.policy_id => policy,
            Loaded::Ready { .. } => {
                return ShardResponse::Refused("the shard has another policy than the caller".to_owned())
            }
            Loaded::Unusable { why, .. } => return ShardResponse::Refused(why),
        };
        let storage = self.state.storage();
        if !self.listed.replace(true) {
            self.list_whole_shard().await;
        }
        let unknown = self.store.unknown(request.checks.iter().map(|c| c.key.as_str()));
        if !unknown.is_empty() {
            let keys: Vec<String> = unknown.iter().map(|k| storage_key(k)).collect();
            let stored: Map = match storage.get_multiple(keys.clone()).await {
                Ok(map) => map,
                Err(e) => return ShardResponse::Refused(format!("storage read failed: {e}")),
            };
            for (key, storage_key) in unknown.iter().zip(&keys) {
                let value = stored.get(&JsValue::from_str(storage_key)).as_string();
                self.store.loaded(key, value.as_deref());
            }
        }
        let now = Timestamp::from_millis(request.now_ms);
        self.store.set_now(now);
        let outcomes: Vec<CheckOutcome> =
            request.checks.iter().map(|check| policy.run_check(check, now, &self.store)).collect();
        let dirty = self.store.take_dirty();
        if !dirty.is_empty() {
            let object = Object::new();
            for (key, value) in &dirty {
                if Reflect::set(&object, &JsValue::from_str(key), &JsValue::from_str(value)).is_err() {
                    return ShardResponse::Refused("could not build the storage write".to_owned());
                }
            }
            // Not awaited: workerd's output gate holds this answer (and every later one) until
            // the write is durable, and a failed write resets the object, so nothing unpersisted
            // is ever acknowledged. Awaiting would only add latency.
            if let Err(e) = storage.as_raw().put_multiple(object.into()) {
                self.store.forget_all();
                return ShardResponse::Refused(format!("storage write failed: {e:?}"));
            }
        }
        self.maintain(now).await;
        ShardResponse::Outcomes(outcomes)
    }

    /// Reads the whole shard into memory when it is small enough (one list instead of a read per
    /// new key from then on).
    async fn list_whole_shard(&self) {
        let storage = self.state.storage();
        let options =
            ListOptions::new().prefix(crate::shard_store::STORAGE_PREFIX).limit(MAX_LISTED_ENTRIES + 1);
        let listed = match storage.list_with_options(options).await {
            Ok(map) => map,
            Err(e) => {
                console_error!(
                    "{}",
                    event_line("shard_list_failed", serde_json::json!({ "why": e.to_string() }))
                );
                return;
            }
        };
        if listed.size() as usize > MAX_LISTED_ENTRIES {
            return;
        }
        let mut pairs: Vec<(String, Option<String>)> = Vec::with_capacity(listed.size() as usize);
        listed.for_each(&mut |value, key| {
            if let Some(key) = key.as_string() {
                pairs.push((key, value.as_string()));
            }
        });
        self.store.load_all(pairs.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
    }

    /// Drops expired entries now and then, and the whole copy when it grows too large.
    async fn maintain(&self, now: Timestamp) {
        let due = now.as_millis().saturating_sub(self.last_sweep_ms.get()) >= SWEEP_EVERY_MS;
        if !due && self.store.len() <= MAX_CACHED_ENTRIES {
            return;
        }
        self.last_sweep_ms.set(now.as_millis());
        let expired = self.store.sweep(now);
        if !expired.is_empty() {
            if let Err(e) = self.state.storage().delete_multiple(expired).await {
                console_error!(
                    "{}",
                    event_line("shard_sweep_failed", serde_json::json!({ "why": e.to_string() }))
                );
            }
        }
        if self.store.len() > MAX_CACHED_ENTRIES {
            self.store.forget_all();
        }
    }
}
