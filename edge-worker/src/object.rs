//! `CounterShard`: the Durable Object holding one shard of the counters.
//!
//! A request comes as a peek (the checks run on an overlay of the store: outcomes, no write) or
//! as a commit (the checks run for real and what they wrote is stored); see `entry::judge`.
//!
//! One event at a time runs inside a Durable Object, and everything here after reading the
//! request body is synchronous (the SQLite storage API is), so running the core's checks against
//! the in-memory [`ShardStore`] and persisting what they wrote is one atomic step. workerd's output
//! gate holds the answer until the write is durable, and a failed write resets the object, so a
//! restart or eviction loses nothing that was acknowledged.
//!
//! Storage: the SQLite table `pg_counters(k TEXT PRIMARY KEY, v TEXT, e INTEGER) WITHOUT ROWID`,
//! where `v` is [`shard_store::encode`](crate::shard_store::encode)'s form and `e` the expiry, so
//! expired rows are deleted with one statement (a scan: no index to maintain on every write)
//! whether or not the object holds them in memory. That sweep is the object's alarm, planned by
//! [`sweep`](crate::sweep) in request time; `pg_meta` keeps the pending sweep's cutoff (key
//! `sweep_at`), which the alarm needs and the runtime does not keep.

use std::cell::Cell;
use std::time::Duration;

use pumpguard_core::Timestamp;
use worker::{
    console_error, durable_object, DurableObject, Env, Headers, Request, Response, Result, SqlStorage,
    SqlStorageValue, State,
};

use crate::host;
use crate::logs::event_line;
use crate::policy_source::Loaded;
use crate::shard_store::{decode, ShardStore};
use crate::sweep;
use crate::wire::{fits_header, ShardRequest, ShardResponse, PAYLOAD_HEADER};

/// Entries kept in memory per shard before the copy is dropped (storage keeps everything).
const MAX_CACHED_ENTRIES: usize = 50_000;
/// A shard with at most this many stored rows is read whole on its first request, so new keys
/// need no storage read.
const MAX_LISTED_ENTRIES: i64 = 20_000;
/// Most `?` one statement may bind: Durable Object SQLite refuses more ("too many SQL variables").
const MAX_BOUND_PARAMETERS: usize = 100;

const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS pg_counters (k TEXT PRIMARY KEY, v TEXT NOT NULL, e INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS pg_meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID",
];

#[durable_object]
pub struct CounterShard {
    state: State,
    env: Env,
    store: ShardStore,
    /// Tables created and the pending sweep known (once per object lifetime).
    opened: Cell<bool>,
    /// The whole-shard listing tried (once per object lifetime, on its first checks).
    listed: Cell<bool>,
    /// Cutoff (request time) of the pending sweep alarm; `None`: no alarm pending.
    sweep_at: Cell<Option<u64>>,
}

impl DurableObject for CounterShard {
    fn new(state: State, env: Env) -> Self {
        CounterShard {
            state,
            env,
            store: ShardStore::new(),
            opened: Cell::new(false),
            listed: Cell::new(false),
            sweep_at: Cell::new(None),
        }
    }

    /// The sweep: deletes every row expired by the planned cutoff, from storage and memory, and
    /// plans the next sweep while rows remain. An error makes the runtime retry the alarm.
    async fn alarm(&self) -> Result<Response> {
        let sql = self.state.storage().sql();
        for statement in SCHEMA {
            sql.exec(statement, None)?;
        }
        let cutoff = read_sweep_at(&sql)?.unwrap_or_else(host::now_ms);
        sql.exec("DELETE FROM pg_counters WHERE e <= ?", vec![int(cutoff)?])?;
        self.store.sweep(Timestamp::from_millis(cutoff));
        let earliest = match sql.exec("SELECT MIN(e) FROM pg_counters", None)?.raw().next().transpose()? {
            Some(row) => integer(row.first()),
            None => None,
        };
        let every = host::settings(&self.env).sweep_every_ms;
        match sweep::after_sweep(cutoff, earliest, every) {
            Some(at) => self.plan_sweep(&sql, cutoff, at).await,
            None => {
                sql.exec("DELETE FROM pg_meta WHERE k = 'sweep_at'", None)?;
                self.sweep_at.set(None);
            }
        }
        Response::ok("")
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        crate::trap::in_shard(req.headers()).await;
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
        if !self.opened.get() {
            if let Err(e) = self.open().await {
                return ShardResponse::Refused(format!("storage unavailable: {e}"));
            }
        }
        // From here on nothing awaits until the checks' writes are done: they are one atomic step.
        let sql = self.state.storage().sql();
        if !self.listed.get() {
            if let Err(e) = self.list(&sql) {
                return ShardResponse::Refused(format!("storage unavailable: {e}"));
            }
            self.listed.set(true);
        }
        let unknown = self.store.unknown(request.checks.iter().map(|c| c.key.as_str()));
        if !unknown.is_empty() {
            if let Err(e) = self.read(&sql, &unknown) {
                return ShardResponse::Refused(format!("storage read failed: {e}"));
            }
        }
        // A peek runs on an overlay and leaves nothing dirty: the loop below writes no row.
        let outcomes = self.store.run(&policy, &request);
        let dirty = self.store.take_dirty();
        let earliest = dirty.iter().map(|(_, _, expires_at)| expires_at.as_millis()).min();
        for (key, value, expires_at) in dirty {
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
        self.bound_memory(Timestamp::from_millis(request.now_ms));
        // Counted and written: a sweep that cannot be planned now loses nothing (the next write
        // plans it again).
        if let Some(earliest) = earliest {
            let every = host::settings(&self.env).sweep_every_ms;
            if let Some(at) = sweep::after_write(request.now_ms, earliest, self.sweep_at.get(), every) {
                self.plan_sweep(&sql, request.now_ms, at).await;
            }
        }
        ShardResponse::Outcomes(outcomes)
    }

    /// Creates the tables and learns whether a sweep is pending (the runtime's alarm, with the
    /// cutoff kept in `pg_meta`).
    async fn open(&self) -> Result<()> {
        let sql = self.state.storage().sql();
        for statement in SCHEMA {
            sql.exec(statement, None)?;
        }
        let stored = read_sweep_at(&sql)?;
        let alarm = self.state.storage().get_alarm().await?;
        self.sweep_at.set(match (alarm, stored) {
            (None, _) => None,
            (Some(_), Some(at)) => Some(at),
            (Some(wall), None) => u64::try_from(wall).ok(),
        });
        self.opened.set(true);
        Ok(())
    }

    /// Plans the sweep at `at` (request time) from `now`: its cutoff in `pg_meta`, then the alarm
    /// in as many wall-clock milliseconds as request time has to pass.
    async fn plan_sweep(&self, sql: &SqlStorage, now: u64, at: u64) {
        let planned = match int(at) {
            Ok(value) => {
                sql.exec("INSERT OR REPLACE INTO pg_meta (k, v) VALUES ('sweep_at', ?)", vec![value])
            }
            Err(e) => Err(e),
        };
        let alarm = match planned {
            Ok(_) => self.state.storage().set_alarm(Duration::from_millis(at.saturating_sub(now))).await,
            Err(e) => Err(e),
        };
        match alarm {
            Ok(()) => self.sweep_at.set(Some(at)),
            Err(e) => {
                self.sweep_at.set(None);
                console_error!(
                    "{}",
                    event_line("shard_sweep_unplanned", serde_json::json!({ "why": e.to_string() }))
                );
            }
        }
    }

    /// Reads the whole shard when it is small enough, so new keys need no storage read.
    fn list(&self, sql: &SqlStorage) -> Result<()> {
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

    /// Reads the rows of keys not seen yet (absent ones are remembered as absent), at most
    /// [`MAX_BOUND_PARAMETERS`] keys per statement.
    fn read(&self, sql: &SqlStorage, keys: &[String]) -> Result<()> {
        let mut found: Vec<(String, String)> = Vec::new();
        for batch in keys.chunks(MAX_BOUND_PARAMETERS) {
            let placeholders = vec!["?"; batch.len()].join(",");
            let query = format!("SELECT k, v FROM pg_counters WHERE k IN ({placeholders})");
            let bindings: Vec<SqlStorageValue> =
                batch.iter().map(|k| SqlStorageValue::from(k.as_str())).collect();
            for row in sql.exec(&query, bindings)?.raw() {
                let row = row?;
                if let (Some(k), Some(v)) = (text(row.first()), text(row.get(1))) {
                    found.push((k.to_owned(), v.to_owned()));
                }
            }
        }
        for key in keys {
            let stored = found.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
            // A row that does not decode is treated as absent (the counter starts over).
            self.store.loaded(key, stored.filter(|v| decode(v).is_some()));
        }
        Ok(())
    }

    /// Bounds memory: past the limit, expired entries (and keys only known to be absent, which
    /// peeks leave behind) are dropped, then the whole copy if still too large (storage keeps
    /// everything; the sweep alarm deletes expired rows).
    fn bound_memory(&self, now: Timestamp) {
        if self.store.keys_held() > MAX_CACHED_ENTRIES {
            self.store.sweep(now);
        }
        if self.store.keys_held() > MAX_CACHED_ENTRIES {
            self.store.forget_all();
        }
    }
}

/// The pending sweep's cutoff, as stored in `pg_meta`.
fn read_sweep_at(sql: &SqlStorage) -> Result<Option<u64>> {
    let row = sql.exec("SELECT v FROM pg_meta WHERE k = 'sweep_at'", None)?.raw().next().transpose()?;
    Ok(row.and_then(|row| integer(row.first())))
}

fn integer(value: Option<&SqlStorageValue>) -> Option<u64> {
    match value {
        Some(SqlStorageValue::Integer(n)) => u64::try_from(*n).ok(),
        Some(SqlStorageValue::Float(n)) if n.is_finite() && *n >= 0.0 => Some(*n as u64),
        _ => None,
    }
}

/// A millisecond time as a SQL integer (JavaScript's safe integers only).
fn int(ms: u64) -> Result<SqlStorageValue> {
    SqlStorageValue::try_from_i64(i64::try_from(ms).unwrap_or(i64::MAX))
}
