//! `CounterShard`: the Durable Object holding one shard of the counters.
//!
//! One event at a time runs inside a Durable Object, and everything here after reading the
//! request body is synchronous (the SQLite storage API is), so running the core's checks against
//! the in-memory [`ShardStore`] and persisting what they wrote is one atomic step. workerd's output
//! gate holds the answer until the write is durable, and a failed write resets the object, so a
//! restart or eviction loses nothing that was acknowledged.
//!
//! Storage: one SQLite table, `pg_counters(k TEXT PRIMARY KEY, v TEXT, e INTEGER) WITHOUT ROWID`,
//! where `v` is [`shard_store::encode`](crate::shard_store::encode)'s form and `e` the expiry, so
//! expired rows are deleted with one statement (once a minute, a scan: no index to maintain on
//! every write) whether or not the object holds them in memory.

use std::cell::Cell;

use pumpguard_core::{CheckOutcome, Timestamp};
use worker::{
    console_error, durable_object, DurableObject, Env, Headers, Request, Response, Result, SqlStorage,
    SqlStorageValue, State,
};

use crate::host;
use crate::logs::event_line;
use crate::policy_source::Loaded;
use crate::shard_store::{decode, ShardStore};
use crate::wire::{fits_header, ShardRequest, ShardResponse, PAYLOAD_HEADER};

/// Entries kept in memory per shard before the copy is dropped (storage keeps everything).
const MAX_CACHED_ENTRIES: usize = 50_000;
/// A shard with at most this many stored rows is read whole on its first request, so new keys
/// need no storage read.
const MAX_LISTED_ENTRIES: i64 = 20_000;
/// How often (in request time) expired entries are dropped from memory and storage.
const SWEEP_EVERY_MS: u64 = 60_000;

const SCHEMA: [&str; 1] = [
    "CREATE TABLE IF NOT EXISTS pg_counters (k TEXT PRIMARY KEY, v TEXT NOT NULL, e INTEGER NOT NULL) WITHOUT ROWID",
];

#[durable_object]
pub struct CounterShard {
    state: State,
    env: Env,
    store: ShardStore,
    last_sweep_ms: Cell<u64>,
    /// Schema created and the whole-shard listing tried (once per object lifetime).
    ready: Cell<bool>,
}

impl DurableObject for CounterShard {
    fn new(state: State, env: Env) -> Self {
        CounterShard {
            state,
            env,
            store: ShardStore::new(),
            last_sweep_ms: Cell::new(0),
            ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let payload = match req.headers().get(PAYLOAD_HEADER)? {
            Some(text) => Ok(text),
            None => req.text().await,
        };
        let answer = match payload {
            Ok(text) => match serde_json::from_str::<ShardRequest>(&text) {
                Ok(request) => self.run(request).await,
                Err(e) => ShardResponse::Refused(format!("unreadable request: {e}")),
            },
            Err(e) => ShardResponse::Refused(format!("unreadable request: {e}")),
        };
        let json = serde_json::to_string(&answer).map_err(|e| worker::Error::RustError(e.to_string()))?;
        if fits_header(&json) {
            let headers = Headers::new();
            headers.set(PAYLOAD_HEADER, &json)?;
            return Ok(Response::empty()?.with_headers(headers));
        }
        Response::ok(json)
    }
}

fn text(value: Option<&SqlStorageValue>) -> Option<&str> {
    match value {
        Some(SqlStorageValue::String(s)) => Some(s),
        _ => None,
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
        // From here on nothing awaits: the checks and their write are one atomic step.
        let sql = self.state.storage().sql();
        if !self.ready.get() {
            if let Err(e) = self.prepare(&sql) {
                return ShardResponse::Refused(format!("storage unavailable: {e}"));
            }
            self.ready.set(true);
        }
        let unknown = self.store.unknown(request.checks.iter().map(|c| c.key.as_str()));
        if !unknown.is_empty() {
            if let Err(e) = self.read(&sql, &unknown) {
                return ShardResponse::Refused(format!("storage read failed: {e}"));
            }
        }
        let now = Timestamp::from_millis(request.now_ms);
        self.store.set_now(now);
        let outcomes: Vec<CheckOutcome> =
            request.checks.iter().map(|check| policy.run_check(check, now, &self.store)).collect();
        for (key, value, expires_at) in self.store.take_dirty() {
            let Ok(expiry) =
                SqlStorageValue::try_from_i64(i64::try_from(expires_at.as_millis()).unwrap_or(i64::MAX))
            else {
                continue;
            };
            let written = sql.exec(
                "INSERT OR REPLACE INTO pg_counters (k, v, e) VALUES (?, ?, ?)",
                vec![key.into(), value.into(), expiry],
            );
            if let Err(e) = written {
                // Memory is ahead of storage now; drop it so the next request reads storage.
                self.store.forget_all();
                return ShardResponse::Refused(format!("storage write failed: {e}"));
            }
        }
        self.maintain(&sql, now);
        ShardResponse::Outcomes(outcomes)
    }

    /// Creates the table, and reads the whole shard when it is small enough.
    fn prepare(&self, sql: &SqlStorage) -> Result<()> {
        for statement in SCHEMA {
            sql.exec(statement, None)?;
        }
        let count = sql.exec("SELECT COUNT(*) FROM pg_counters", None)?.raw().next().transpose()?;
        let rows = match count.as_deref() {
            Some([SqlStorageValue::Integer(n)]) => *n,
            Some([SqlStorageValue::Float(n)]) => *n as i64,
            _ => i64::MAX,
        };
        if rows <= MAX_LISTED_ENTRIES {
            let mut pairs = Vec::new();
            for row in sql.exec("SELECT k, v FROM pg_counters", None)?.raw() {
                let row = row?;
                if let (Some(k), v) = (text(row.first()), text(row.get(1))) {
                    pairs.push((k.to_owned(), v.map(str::to_owned)));
                }
            }
            self.store.load_all(pairs.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
        }
        Ok(())
    }

    /// Reads the rows of keys not seen yet (absent ones are remembered as absent).
    fn read(&self, sql: &SqlStorage, keys: &[String]) -> Result<()> {
        let placeholders = vec!["?"; keys.len()].join(",");
        let query = format!("SELECT k, v FROM pg_counters WHERE k IN ({placeholders})");
        let bindings: Vec<SqlStorageValue> = keys.iter().map(|k| SqlStorageValue::from(k.as_str())).collect();
        let mut found: Vec<(String, String)> = Vec::new();
        for row in sql.exec(&query, bindings)?.raw() {
            let row = row?;
            if let (Some(k), Some(v)) = (text(row.first()), text(row.get(1))) {
                found.push((k.to_owned(), v.to_owned()));
            }
        }
        for key in keys {
            let stored = found.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
            // A row that does not decode is treated as absent (the counter starts over).
            self.store.loaded(key, stored.filter(|v| decode(v).is_some()));
        }
        Ok(())
    }

    /// Drops expired entries now and then (memory and storage), and the in-memory copy when it
    /// grows too large.
    fn maintain(&self, sql: &SqlStorage, now: Timestamp) {
        let due = now.as_millis().saturating_sub(self.last_sweep_ms.get()) >= SWEEP_EVERY_MS;
        if !due && self.store.len() <= MAX_CACHED_ENTRIES {
            return;
        }
        self.last_sweep_ms.set(now.as_millis());
        self.store.sweep(now);
        let cutoff = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
        if let Ok(cutoff) = SqlStorageValue::try_from_i64(cutoff) {
            if let Err(e) = sql.exec("DELETE FROM pg_counters WHERE e <= ?", vec![cutoff]) {
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
