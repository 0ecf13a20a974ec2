//! Prometheus metrics, kept in atomics and written in the text exposition format at `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// A check round's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// Checks run on an overlay: nothing written.
    Peek,
    /// Checks run for real.
    Commit,
    /// A peek whose checks all passed, committed in the same round (`x-pumpguard-commit-if-pass`).
    PeekCommit,
}

const ROUNDS: usize = 3;

impl Round {
    fn index(self) -> usize {
        self as usize
    }
    const ALL: [(Round, &'static str); ROUNDS] =
        [(Round::Peek, "peek"), (Round::Commit, "commit"), (Round::PeekCommit, "peek_commit")];
}

/// How a request to `/checks` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Outcomes answered.
    Ok,
    /// Unreadable request, unknown namespace.
    BadRequest,
    /// The policy id is not loaded.
    UnknownPolicy,
    /// Redis failed or timed out.
    RedisError,
}

impl Outcome {
    const ALL: [(Outcome, &'static str); 4] = [
        (Outcome::Ok, "ok"),
        (Outcome::BadRequest, "bad_request"),
        (Outcome::UnknownPolicy, "unknown_policy"),
        (Outcome::RedisError, "redis_error"),
    ];
}

/// Why a `/checks` request was refused 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// No `authorization: Bearer` token.
    Missing,
    /// A bearer token that matches none of the accepted ones.
    Wrong,
}

impl Credential {
    const ALL: [Credential; 2] = [Credential::Missing, Credential::Wrong];

    /// The `credential` label value.
    pub fn label(self) -> &'static str {
        match self {
            Credential::Missing => "missing",
            Credential::Wrong => "wrong",
        }
    }
}

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// Every metric of the service.
#[derive(Default)]
pub struct Metrics {
    requests: [[AtomicU64; 4]; ROUNDS],
    checks: [AtomicU64; ROUNDS],
    conflicts: AtomicU64,
    gave_up: AtomicU64,
    stale_guesses: AtomicU64,
    redis_errors: AtomicU64,
    unauthorized: [AtomicU64; 2],
    latency_buckets: [[AtomicU64; 12]; ROUNDS],
    latency_count: [AtomicU64; ROUNDS],
    latency_sum_us: [AtomicU64; ROUNDS],
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    /// One `/checks` request: its round, how it ended, how many checks, how long it took.
    pub fn request(&self, round: Round, outcome: Outcome, checks: usize, micros: u64) {
        let r = round.index();
        if let Some(c) = self.requests.get(r).and_then(|row| row.get(outcome as usize)) {
            add(c, 1);
        }
        if let Some(c) = self.checks.get(r) {
            add(c, checks as u64);
        }
        let seconds = micros as f64 / 1e6;
        if let Some(row) = self.latency_buckets.get(r) {
            for (bound, bucket) in BUCKETS.iter().zip(row) {
                if seconds <= *bound {
                    add(bucket, 1);
                }
            }
        }
        if let (Some(count), Some(sum)) = (self.latency_count.get(r), self.latency_sum_us.get(r)) {
            add(count, 1);
            add(sum, micros);
        }
    }

    /// Compare-and-swap writes another replica beat, and checks given up after every round.
    pub fn conflicts(&self, conflicts: u64, gave_up: u64) {
        add(&self.conflicts, conflicts);
        add(&self.gave_up, gave_up);
    }

    /// A failed Redis exchange (connect, I/O, timeout, protocol, error reply).
    /// Keys a whole round guessed wrong (the round ran again on what they held).
    pub fn stale_guesses(&self, n: u64) {
        add(&self.stale_guesses, n);
    }

    pub fn redis_error(&self) {
        add(&self.redis_errors, 1);
    }

    /// A `/checks` request refused 401 (its round is not known: the body is never read).
    pub fn unauthorized(&self, credential: Credential) {
        if let Some(c) = self.unauthorized.get(credential as usize) {
            add(c, 1);
        }
    }

    /// The text exposition, with the gauges the caller knows (`tokens`: bearer tokens accepted).
    pub fn render(&self, policies: usize, tokens: usize, ready: bool) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP pumpguard_store_requests_total Check requests by round and outcome.\n");
        out.push_str("# TYPE pumpguard_store_requests_total counter\n");
        for (round, rname) in Round::ALL {
            for (outcome, oname) in Outcome::ALL {
                let v = self.requests[round.index()][outcome as usize].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "pumpguard_store_requests_total{{round=\"{rname}\",outcome=\"{oname}\"}} {v}"
                );
            }
        }
        out.push_str("# HELP pumpguard_store_checks_total Counter checks received, by round.\n");
        out.push_str("# TYPE pumpguard_store_checks_total counter\n");
        for (round, rname) in Round::ALL {
            let _ = writeln!(
                out,
                "pumpguard_store_checks_total{{round=\"{rname}\"}} {}",
                get(&self.checks[round.index()])
            );
        }
        out.push_str("# HELP pumpguard_store_cas_conflicts_total Writes another writer beat (the key's checks ran again).\n");
        out.push_str("# TYPE pumpguard_store_cas_conflicts_total counter\n");
        let _ = writeln!(out, "pumpguard_store_cas_conflicts_total {}", get(&self.conflicts));
        out.push_str("# HELP pumpguard_store_cas_gave_up_total Checks answered as store failures after every compare-and-swap round lost.\n");
        out.push_str("# TYPE pumpguard_store_cas_gave_up_total counter\n");
        let _ = writeln!(out, "pumpguard_store_cas_gave_up_total {}", get(&self.gave_up));
        out.push_str("# HELP pumpguard_store_stale_guesses_total Keys whose remembered value was stale when a whole round was swapped (the round ran again on what they held).\n");
        out.push_str("# TYPE pumpguard_store_stale_guesses_total counter\n");
        let _ = writeln!(out, "pumpguard_store_stale_guesses_total {}", get(&self.stale_guesses));
        out.push_str("# HELP pumpguard_store_redis_errors_total Failed Redis exchanges (connect, timeout, I/O, protocol, error reply).\n");
        out.push_str("# TYPE pumpguard_store_redis_errors_total counter\n");
        let _ = writeln!(out, "pumpguard_store_redis_errors_total {}", get(&self.redis_errors));
        out.push_str("# HELP pumpguard_store_unauthorized_total Check requests refused 401, their bearer token missing or matching none accepted.\n");
        out.push_str("# TYPE pumpguard_store_unauthorized_total counter\n");
        for credential in Credential::ALL {
            let _ = writeln!(
                out,
                "pumpguard_store_unauthorized_total{{credential=\"{}\"}} {}",
                credential.label(),
                get(&self.unauthorized[credential as usize])
            );
        }
        out.push_str("# HELP pumpguard_store_request_duration_seconds Time to answer a check request.\n");
        out.push_str("# TYPE pumpguard_store_request_duration_seconds histogram\n");
        for (round, rname) in Round::ALL {
            let r = round.index();
            for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets[r]) {
                let _ = writeln!(
                    out,
                    "pumpguard_store_request_duration_seconds_bucket{{round=\"{rname}\",le=\"{bound}\"}} {}",
                    get(bucket)
                );
            }
            let count = get(&self.latency_count[r]);
            let _ = writeln!(
                out,
                "pumpguard_store_request_duration_seconds_bucket{{round=\"{rname}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "pumpguard_store_request_duration_seconds_sum{{round=\"{rname}\"}} {}",
                get(&self.latency_sum_us[r]) as f64 / 1e6
            );
            let _ =
                writeln!(out, "pumpguard_store_request_duration_seconds_count{{round=\"{rname}\"}} {count}");
        }
        out.push_str(
            "# HELP pumpguard_store_policies Policies loaded.\n# TYPE pumpguard_store_policies gauge\n",
        );
        let _ = writeln!(out, "pumpguard_store_policies {policies}");
        out.push_str("# HELP pumpguard_store_tokens Bearer tokens /checks accepts (0: it answers anyone).\n");
        out.push_str("# TYPE pumpguard_store_tokens gauge\n");
        let _ = writeln!(out, "pumpguard_store_tokens {tokens}");
        out.push_str("# HELP pumpguard_store_ready 1 when Redis answers and the service is not draining.\n");
        out.push_str("# TYPE pumpguard_store_ready gauge\n");
        let _ = writeln!(out, "pumpguard_store_ready {}", u8::from(ready));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.request(Round::Commit, Outcome::Ok, 3, 400);
        m.request(Round::Commit, Outcome::RedisError, 2, 300_000);
        m.redis_error();
        m.unauthorized(Credential::Wrong);
        let text = m.render(2, 3, true);
        assert!(
            text.contains("pumpguard_store_requests_total{round=\"commit\",outcome=\"ok\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("pumpguard_store_checks_total{round=\"commit\"} 5\n"));
        assert!(text
            .contains("pumpguard_store_request_duration_seconds_bucket{round=\"commit\",le=\"0.0005\"} 1\n"));
        assert!(
            text.contains("pumpguard_store_request_duration_seconds_bucket{round=\"commit\",le=\"1\"} 2\n")
        );
        assert!(text.contains("pumpguard_store_request_duration_seconds_count{round=\"commit\"} 2\n"));
        assert!(text.contains("pumpguard_store_redis_errors_total 1\n"));
        assert!(text.contains("pumpguard_store_policies 2\n"));
        assert!(text.contains("pumpguard_store_tokens 3\n"));
        assert!(text.contains("pumpguard_store_unauthorized_total{credential=\"missing\"} 0\n"));
        assert!(text.contains("pumpguard_store_unauthorized_total{credential=\"wrong\"} 1\n"));
    }
}
