//! Progress of a long replay on stderr: records, records/s and ETA, redrawn in place.
//!
//! Only on a terminal (a pipe or a log file gets nothing), and only once a replay has run for
//! a second, so short replays and scripts see exactly the output they always did.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// A replay shorter than this never shows progress.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// At most this many redraws a second.
const REDRAW_EVERY: Duration = Duration::from_millis(200);

pub struct Progress {
    enabled: bool,
    total_bytes: Option<u64>,
    started: Instant,
    last_drawn: Option<Instant>,
}

impl Progress {
    /// Progress on stderr when it is a terminal; `total_bytes` (the input's size) gives the ETA.
    pub fn on_terminal(total_bytes: Option<u64>) -> Self {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            total_bytes,
            started: Instant::now(),
            last_drawn: None,
        }
    }

    /// `records` judged so far, `bytes` of the input read.
    pub fn update(&mut self, records: u64, bytes: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let elapsed = now.duration_since(self.started);
        let due = self.last_drawn.is_none_or(|at| now.duration_since(at) >= REDRAW_EVERY);
        if elapsed < SHOW_AFTER || !due {
            return;
        }
        self.last_drawn = Some(now);
        let line = status_line(records, bytes, self.total_bytes, elapsed);
        // Progress is a courtesy: a failed write to the terminal changes nothing else.
        let _ = write!(std::io::stderr(), "\r\x1b[2K{line}");
    }

    /// Clears the progress line, if one was drawn, before the summary.
    pub fn finish(&mut self) {
        if self.last_drawn.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

/// `replay: 120000 records, 48000/s, 35%, ETA 5s`: the ETA from the share of the input read.
fn status_line(records: u64, bytes: u64, total_bytes: Option<u64>, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64().max(1e-3);
    let rate = records as f64 / seconds;
    let mut line = format!("replay: {records} records, {rate:.0}/s");
    if let Some(total) = total_bytes.filter(|&t| t > 0 && bytes > 0) {
        let done = (bytes as f64 / total as f64).min(1.0);
        let remaining = seconds * (1.0 - done) / done;
        line.push_str(&format!(", {:.0}%, ETA {}", done * 100.0, clock(remaining)));
    }
    line
}

/// Seconds as `42s`, `3m07s` or `1h02m`.
fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_counts_rates_and_estimates_from_bytes_read() {
        let line = status_line(50_000, 250, Some(1000), Duration::from_secs(10));
        assert_eq!(line, "replay: 50000 records, 5000/s, 25%, ETA 30s");
        assert_eq!(status_line(10, 0, None, Duration::from_secs(2)), "replay: 10 records, 5/s");
    }

    #[test]
    fn clock_readings() {
        assert_eq!(clock(42.4), "42s");
        assert_eq!(clock(187.0), "3m07s");
        assert_eq!(clock(3720.0), "1h02m");
    }
}
