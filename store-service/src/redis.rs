//! Redis / Valkey as the runner's [`Backend`]: a pool of connections and two Lua scripts.
//!
//! - Standalone (or primary/replica) Redis: a round is one `EVALSHA` of [`SWAP_SCRIPT`] over all
//!   its keys, on values guessed from what this replica last saw ([`Known`]).
//! - Redis Cluster (detected with `INFO cluster`, or `--redis-cluster yes`): a round's keys sit in
//!   different slots, so reads are pipelined `GET`s and writes pipelined `EVALSHA` of
//!   [`CAS_SCRIPT`], one key per command.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::resp::{Conn, Reply};
use crate::runner::{Backend, BackendError, Cas, Guarded, Held};
use crate::settings::ClusterMode;

/// Writes `ARGV[3]` with expiry `ARGV[4]` ms if the key still holds `ARGV[2]` (`ARGV[1]` = "1"),
/// or is still absent (`ARGV[1]` = "0"). Returns 1 when written, 0 when the key changed.
pub const CAS_SCRIPT: &str = "local cur = redis.call('GET', KEYS[1])\n\
if ARGV[1] == '1' then if cur ~= ARGV[2] then return 0 end elseif cur then return 0 end\n\
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])\n\
return 1\n";

/// Whole-round swap. KEYS: the round's keys; ARGV: five per key (expected present '1' / absent
/// '0', expected bytes, write '1' / '0', new bytes, expiry ms). If every key holds what was
/// expected, writes the new values and returns 1; otherwise writes nothing and returns what each
/// key holds (nil for absent).
pub const SWAP_SCRIPT: &str = "local held = {}\n\
local same = true\n\
for i = 1, #KEYS do\n\
  local cur = redis.call('GET', KEYS[i])\n\
  held[i] = cur\n\
  local j = (i - 1) * 5\n\
  if ARGV[j + 1] == '1' then if cur ~= ARGV[j + 2] then same = false end elseif cur then same = false end\n\
end\n\
if not same then return held end\n\
for i = 1, #KEYS do\n\
  local j = (i - 1) * 5\n\
  if ARGV[j + 3] == '1' then redis.call('SET', KEYS[i], ARGV[j + 4], 'PX', ARGV[j + 5]) end\n\
end\n\
return 1\n";

/// What this replica last saw keys hold: the guesses of whole rounds. Bounded; a guess that is
/// wrong only costs a round trip, so any entry may go.
struct Known {
    values: HashMap<String, Vec<u8>>,
    capacity: usize,
}

impl Known {
    fn get(&self, key: &str) -> Held {
        self.values.get(key).cloned()
    }

    fn set(&mut self, key: &str, value: &Held) {
        match value {
            None => {
                self.values.remove(key);
            }
            Some(bytes) => {
                if self.capacity == 0 {
                    return;
                }
                if self.values.len() >= self.capacity && !self.values.contains_key(key) {
                    // Any entry: the map's order is seeded per process, so this is not predictable.
                    if let Some(victim) = self.values.keys().next().cloned() {
                        self.values.remove(&victim);
                    }
                }
                self.values.insert(key.to_owned(), bytes.clone());
            }
        }
    }
}

/// The loaded scripts' SHA1s, as Redis reported them (`SCRIPT LOAD`).
#[derive(Default)]
struct Shas {
    cas: String,
    swap: String,
}

/// Where Redis is and how to talk to it.
pub struct Redis {
    addr: String,
    password: Option<String>,
    timeout: Duration,
    /// Most idle connections kept: one per request thread (more would only be held open).
    max_idle: usize,
    idle: Mutex<Vec<Conn>>,
    shas: Mutex<Option<Arc<Shas>>>,
    cluster: ClusterMode,
    /// Rounds are whole swaps (not a Cluster); decided when warming.
    whole: AtomicBool,
    known: Mutex<Known>,
}

fn error(what: impl std::fmt::Display) -> BackendError {
    BackendError(format!("redis: {what}"))
}

impl Redis {
    /// A pool for `addr` (`host:port`) keeping at most `max_idle` idle connections; nothing is
    /// connected yet (see [`Redis::warm`]).
    pub fn new(
        addr: String,
        password: Option<String>,
        timeout: Duration,
        max_idle: usize,
        cluster: ClusterMode,
        known_keys: usize,
    ) -> Redis {
        Redis {
            addr,
            password,
            timeout,
            max_idle: max_idle.max(1),
            idle: Mutex::new(Vec::new()),
            shas: Mutex::new(None),
            cluster,
            whole: AtomicBool::new(false),
            known: Mutex::new(Known { values: HashMap::new(), capacity: known_keys }),
        }
    }

    /// Whether rounds run as whole swaps (false until warmed, and on a Cluster).
    pub fn whole_rounds(&self) -> bool {
        self.whole.load(Ordering::SeqCst)
    }

    /// Fills the pool to `max_idle` connections, loads the scripts and learns whether Redis is
    /// a Cluster, so a burst of requests right after start finds all ready: otherwise every
    /// request thread connects (and AUTHs) and loads the scripts while the burst's other rounds
    /// wait on Redis.
    pub fn warm(&self) -> Result<(), BackendError> {
        let idle = self.idle.lock().map(|idle| idle.len()).unwrap_or(0);
        let mut fresh = Vec::new();
        for _ in idle..self.max_idle {
            fresh.push(self.connect()?);
        }
        let cluster = if let Some(conn) = fresh.first_mut() {
            self.load_scripts(conn)?;
            self.is_cluster(conn)?
        } else {
            let mut session = self.session()?;
            let conn = session.conn()?;
            self.load_scripts(conn)?;
            self.is_cluster(conn)?
        };
        self.whole.store(!cluster, Ordering::SeqCst);
        if let Ok(mut pool) = self.idle.lock() {
            let room = self.max_idle.saturating_sub(pool.len());
            pool.extend(fresh.into_iter().take(room));
        }
        Ok(())
    }

    fn connect(&self) -> Result<Conn, BackendError> {
        let mut conn =
            Conn::connect(&self.addr, self.timeout).map_err(|e| error(format!("{}: {e}", self.addr)))?;
        if let Some(password) = &self.password {
            match conn.call(&[b"AUTH", password.as_bytes()]).map_err(error)? {
                Reply::Status(_) => {}
                other => return Err(error(format!("AUTH refused: {other:?}"))),
            }
        }
        Ok(conn)
    }

    /// A connection for one request; it goes back to the pool when the session ends healthy.
    pub fn session(&self) -> Result<Session<'_>, BackendError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => self.connect()?,
        };
        Ok(Session { redis: self, conn: Some(conn), started: std::time::Instant::now() })
    }

    /// Whether Redis answers `PING` (readiness).
    pub fn ping(&self) -> bool {
        let Ok(mut session) = self.session() else { return false };
        match session.call(&[b"PING"]) {
            Ok(Reply::Status(s)) if s == "PONG" => true,
            _ => {
                session.conn = None;
                false
            }
        }
    }

    fn is_cluster(&self, conn: &mut Conn) -> Result<bool, BackendError> {
        match self.cluster {
            ClusterMode::Yes => Ok(true),
            ClusterMode::No => Ok(false),
            ClusterMode::Auto => match conn.call(&[b"INFO", b"cluster"]).map_err(error)? {
                Reply::Bulk(Some(text)) => Ok(String::from_utf8_lossy(&text).contains("cluster_enabled:1")),
                // A proxy or a server without INFO: keys one per command is safe everywhere.
                _ => Ok(true),
            },
        }
    }

    fn scripts(&self, conn: &mut Conn) -> Result<Arc<Shas>, BackendError> {
        if let Some(shas) = self.shas.lock().ok().and_then(|s| s.clone()) {
            return Ok(shas);
        }
        self.load_scripts(conn)
    }

    fn load_scripts(&self, conn: &mut Conn) -> Result<Arc<Shas>, BackendError> {
        let mut load =
            |script: &str| match conn.call(&[b"SCRIPT", b"LOAD", script.as_bytes()]).map_err(error)? {
                Reply::Bulk(Some(sha)) => {
                    String::from_utf8(sha).map_err(|_| error("SCRIPT LOAD answered a non-text id"))
                }
                other => Err(error(format!("SCRIPT LOAD failed: {other:?}"))),
            };
        let shas = Arc::new(Shas { cas: load(CAS_SCRIPT)?, swap: load(SWAP_SCRIPT)? });
        if let Ok(mut slot) = self.shas.lock() {
            *slot = Some(shas.clone());
        }
        Ok(shas)
    }

    fn remember(&self, keys: impl Iterator<Item = (String, Held)>) {
        if let Ok(mut known) = self.known.lock() {
            for (key, value) in keys {
                known.set(&key, &value);
            }
        }
    }
}

/// One pooled connection in use; dropped broken, returned healthy.
pub struct Session<'r> {
    redis: &'r Redis,
    conn: Option<Conn>,
    started: std::time::Instant,
}

impl Session<'_> {
    fn conn(&mut self) -> Result<&mut Conn, BackendError> {
        self.conn.as_mut().ok_or_else(|| error("connection lost"))
    }

    fn pipeline(&mut self, commands: &[Vec<&[u8]>]) -> Result<Vec<Reply>, BackendError> {
        let result = self.conn()?.pipeline(commands);
        match result {
            Ok(replies) if replies.len() == commands.len() => Ok(replies),
            Ok(_) => {
                self.conn = None;
                Err(error("wrong number of replies"))
            }
            Err(e) => {
                // A timed-out or broken connection may still deliver a late reply: never reuse it.
                self.conn = None;
                // A connection Redis closed (a restart, a failover) means the idle ones are
                // closed too: drop them, so the next requests connect afresh instead of each
                // failing once on a dead pooled connection.
                let timed_out =
                    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut);
                if !timed_out {
                    if let Ok(mut idle) = self.redis.idle.lock() {
                        idle.clear();
                    }
                }
                Err(error(e))
            }
        }
    }

    fn call(&mut self, command: &[&[u8]]) -> Result<Reply, BackendError> {
        self.pipeline(&[command.to_vec()])?.pop().ok_or_else(|| error("no reply"))
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut idle)) = (self.conn.take(), self.redis.idle.lock()) {
            if idle.len() < self.redis.max_idle {
                idle.push(conn);
            }
        }
    }
}

/// A few microseconds of jitter, from the clock's low bits (no random source needed).
fn jitter_micros(bound: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos());
    u64::from(nanos.unwrap_or(0)) % bound.max(1)
}

impl Backend for Session<'_> {
    fn before_retry(&mut self, round: u32) -> bool {
        // A request's rounds together get four Redis timeouts: past that the caller has most
        // likely given up waiting (keep the filter's store.timeout_ms above it).
        if self.started.elapsed() > self.redis.timeout * 4 {
            return false;
        }
        // Up to 100 µs more per round already lost: writers of a hot key spread out.
        let bound = 100 * u64::from(round.min(20));
        std::thread::sleep(Duration::from_micros(jitter_micros(bound)));
        true
    }

    fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        let commands: Vec<Vec<&[u8]>> = keys.iter().map(|k| vec![&b"GET"[..], k.as_bytes()]).collect();
        let values = self
            .pipeline(&commands)?
            .into_iter()
            .map(|reply| match reply {
                Reply::Bulk(value) => Ok(value),
                Reply::Error(e) => Err(error(e)),
                other => Err(error(format!("GET answered {other:?}"))),
            })
            .collect::<Result<Vec<Held>, BackendError>>()?;
        if self.redis.whole_rounds() {
            self.redis.remember(keys.iter().cloned().zip(values.iter().cloned()));
        }
        Ok(values)
    }

    fn cas_many(&mut self, writes: &[Cas]) -> Result<Vec<bool>, BackendError> {
        let redis = self.redis;
        let shas = redis.scripts(self.conn()?)?;
        let sha = &shas.cas;
        let ttls: Vec<String> = writes.iter().map(|w| w.ttl_ms.to_string()).collect();
        let commands: Vec<Vec<&[u8]>> = writes
            .iter()
            .zip(&ttls)
            .map(|(w, ttl)| {
                let (flag, expected): (&[u8], &[u8]) = match &w.expected {
                    Some(bytes) => (b"1", bytes),
                    None => (b"0", b""),
                };
                vec![
                    &b"EVALSHA"[..],
                    sha.as_bytes(),
                    b"1",
                    w.key.as_bytes(),
                    flag,
                    expected,
                    &w.value,
                    ttl.as_bytes(),
                ]
            })
            .collect();
        let replies = self.pipeline(&commands)?;
        let mut reload = false;
        let applied = replies
            .into_iter()
            .map(|reply| match reply {
                Reply::Int(1) => Ok(true),
                Reply::Int(0) => Ok(false),
                // A restarted or failed-over Redis lost the script: load it again and let the
                // runner's next round retry these keys (nothing was written).
                Reply::Error(e) if e.starts_with("NOSCRIPT") => {
                    reload = true;
                    Ok(false)
                }
                Reply::Error(e) => Err(error(e)),
                other => Err(error(format!("EVALSHA answered {other:?}"))),
            })
            .collect::<Result<Vec<bool>, BackendError>>()?;
        if reload {
            redis.load_scripts(self.conn()?)?;
        }
        // A whole round that went on key by key: what it wrote is the next round's guess.
        if redis.whole_rounds() {
            redis.remember(
                writes
                    .iter()
                    .zip(&applied)
                    .filter(|(_, ok)| **ok)
                    .map(|(w, _)| (w.key.clone(), Some(w.value.clone()))),
            );
        }
        Ok(applied)
    }

    fn whole_rounds(&self) -> bool {
        self.redis.whole_rounds()
    }

    fn guesses(&mut self, keys: &[String]) -> Vec<Held> {
        match self.redis.known.lock() {
            Ok(known) => keys.iter().map(|k| known.get(k)).collect(),
            Err(_) => vec![None; keys.len()],
        }
    }

    fn swap_all(&mut self, round: &[Guarded]) -> Result<Option<Vec<Held>>, BackendError> {
        let redis = self.redis;
        let n = round.len().to_string();
        let ttls: Vec<String> =
            round.iter().map(|g| g.write.as_ref().map_or(0, |w| w.1).to_string()).collect();
        for attempt in 0..2 {
            let shas = redis.scripts(self.conn()?)?;
            let sha = &shas.swap;
            let mut command: Vec<&[u8]> = vec![b"EVALSHA", sha.as_bytes(), n.as_bytes()];
            command.extend(round.iter().map(|g| g.key.as_bytes()));
            for (g, ttl) in round.iter().zip(&ttls) {
                let (flag, expected): (&[u8], &[u8]) = match &g.expected {
                    Some(bytes) => (b"1", bytes),
                    None => (b"0", b""),
                };
                let (write, value): (&[u8], &[u8]) = match &g.write {
                    Some((bytes, _)) => (b"1", bytes),
                    None => (b"0", b""),
                };
                command.extend([flag, expected, write, value, ttl.as_bytes()]);
            }
            match self.call(&command)? {
                Reply::Int(1) => {
                    redis.remember(round.iter().map(|g| {
                        let now_held = g.write.as_ref().map(|w| w.0.clone()).or_else(|| g.expected.clone());
                        (g.key.clone(), now_held)
                    }));
                    return Ok(None);
                }
                Reply::Array(Some(items)) if items.len() == round.len() => {
                    let held = items
                        .into_iter()
                        .map(|item| match item {
                            Reply::Bulk(value) => Ok(value),
                            other => Err(error(format!("swap answered {other:?}"))),
                        })
                        .collect::<Result<Vec<Held>, BackendError>>()?;
                    redis.remember(round.iter().map(|g| g.key.clone()).zip(held.iter().cloned()));
                    return Ok(Some(held));
                }
                // A restarted or failed-over Redis lost the script (nothing was written).
                Reply::Error(e) if e.starts_with("NOSCRIPT") && attempt == 0 => {
                    redis.load_scripts(self.conn()?)?;
                }
                other => return Err(error(format!("swap answered {other:?}"))),
            }
        }
        Err(error("swap script could not be loaded"))
    }
}
