//! Structured logs: one JSON object per line on stderr, with `ts_ms`, `level` and `event`.
//! Events that can come with every request (a Redis error) are written at most once a second
//! per event, with the number left out since.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Writes one event line.
pub fn event(level: &str, event: &str, fields: Value) {
    let mut line = Map::new();
    line.insert("ts_ms".into(), now_ms().into());
    line.insert("level".into(), level.into());
    line.insert("event".into(), event.into());
    if let Value::Object(fields) = fields {
        line.extend(fields);
    }
    eprintln!("{}", Value::Object(line));
}

/// A once-a-second gate for one repeated event.
#[derive(Default)]
pub struct Throttled {
    last_ms: AtomicU64,
    suppressed: AtomicU64,
    lock: Mutex<()>,
}

impl Throttled {
    /// Writes the event unless one was written less than a second ago (then counts it).
    pub fn event(&self, level: &str, name: &str, fields: Value) {
        let now = now_ms();
        let Ok(_guard) = self.lock.try_lock() else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if now.saturating_sub(self.last_ms.load(Ordering::Relaxed)) < 1_000 {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.last_ms.store(now, Ordering::Relaxed);
        let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
        let mut fields = match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        if suppressed > 0 {
            fields.insert("suppressed_before".into(), suppressed.into());
        }
        event(level, name, Value::Object(fields));
    }
}
