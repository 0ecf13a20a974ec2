//! Redis / Valkey as the runner's [`Backend`]: a pool of connections, reads as pipelined `GET`s,
//! writes as pipelined `EVALSHA` of one compare-and-swap script per key (one key per command:
//! safe for Redis Cluster's slots).

use std::sync::Mutex;
use std::time::Duration;

use crate::resp::{Conn, Reply};
use crate::runner::{Backend, BackendError, Cas};

/// Writes ARGV[3] with expiry ARGV[4] ms if the key still holds ARGV[2] (ARGV[1] = "1"), or is
/// still absent (ARGV[1] = "0"). Returns 1 when written, 0 when the key changed.
pub const CAS_SCRIPT: &str = "local cur = redis.call('GET', KEYS[1])\n\
if ARGV[1] == '1' then if cur ~= ARGV[2] then return 0 end elseif cur then return 0 end\n\
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])\n\
return 1\n";

/// Where Redis is and how to talk to it.
pub struct Redis {
    addr: String,
    password: Option<String>,
    timeout: Duration,
    /// Most idle connections kept: one per request thread (more would only be held open).
    max_idle: usize,
    idle: Mutex<Vec<Conn>>,
    /// SHA1 of [`CAS_SCRIPT`] as Redis reported it (`SCRIPT LOAD`).
    sha: Mutex<Option<String>>,
}

fn error(what: impl std::fmt::Display) -> BackendError {
    BackendError(format!("redis: {what}"))
}

impl Redis {
    /// A pool for `addr` (`host:port`) keeping at most `max_idle` idle connections; nothing is
    /// connected yet (see [`Redis::warm`]).
    pub fn new(addr: String, password: Option<String>, timeout: Duration, max_idle: usize) -> Redis {
        Redis {
            addr,
            password,
            timeout,
            max_idle: max_idle.max(1),
            idle: Mutex::new(Vec::new()),
            sha: Mutex::new(None),
        }
    }

    /// Fills the pool to `max_idle` connections and loads the compare-and-swap script, so a
    /// burst of requests right after start finds both ready: otherwise every request thread
    /// connects (and AUTHs) and loads the script while the burst's other rounds wait on Redis.
    pub fn warm(&self) -> Result<(), BackendError> {
        let idle = self.idle.lock().map(|idle| idle.len()).unwrap_or(0);
        let mut fresh = Vec::new();
        for _ in idle..self.max_idle {
            fresh.push(self.connect()?);
        }
        if let Some(conn) = fresh.first_mut() {
            self.load_script(conn)?;
        } else {
            let mut session = self.session()?;
            let conn = session.conn()?;
            self.load_script(conn)?;
        }
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

    fn script_sha(&self, conn: &mut Conn) -> Result<String, BackendError> {
        if let Some(sha) = self.sha.lock().ok().and_then(|s| s.clone()) {
            return Ok(sha);
        }
        self.load_script(conn)
    }

    fn load_script(&self, conn: &mut Conn) -> Result<String, BackendError> {
        match conn.call(&[b"SCRIPT", b"LOAD", CAS_SCRIPT.as_bytes()]).map_err(error)? {
            Reply::Bulk(Some(sha)) => {
                let sha = String::from_utf8(sha).map_err(|_| error("SCRIPT LOAD answered a non-text id"))?;
                if let Ok(mut slot) = self.sha.lock() {
                    *slot = Some(sha.clone());
                }
                Ok(sha)
            }
            other => Err(error(format!("SCRIPT LOAD failed: {other:?}"))),
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
        self.pipeline(&commands)?
            .into_iter()
            .map(|reply| match reply {
                Reply::Bulk(value) => Ok(value),
                Reply::Error(e) => Err(error(e)),
                other => Err(error(format!("GET answered {other:?}"))),
            })
            .collect()
    }

    fn cas_many(&mut self, writes: &[Cas]) -> Result<Vec<bool>, BackendError> {
        let redis = self.redis;
        let sha = redis.script_sha(self.conn()?)?;
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
            redis.load_script(self.conn()?)?;
        }
        Ok(applied)
    }
}
