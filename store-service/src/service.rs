//! The service's state and its endpoints, free of the HTTP server: `/checks` (run one round of a
//! request's counter checks), `/healthz`, `/readyz`, `/metrics`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use pumpguard_core::remote::{CheckRequest, CheckResponse};
pub use pumpguard_core::remote::{COMMITTED_HEADER, COMMIT_IF_PASS_HEADER};
use serde_json::json;

use crate::log::{self, Throttled};
use crate::metrics::{Metrics, Outcome, Round};
use crate::policies::Policies;
use crate::redis::Redis;
use crate::runner;
use crate::settings::Settings;

/// Namespace of requests that name none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Most checks one round may carry: a site's import of trusted numbers (up to 10,000 per
/// request) is the largest real round; a send's is a few dozen.
pub const MAX_CHECKS_PER_ROUND: usize = 12_000;

/// An HTTP answer: status, content type, body, and whether a peek round committed.
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub committed: bool,
}

impl Answer {
    fn text(status: u16, body: &str) -> Answer {
        Answer { status, content_type: "text/plain; charset=utf-8", body: body.to_owned(), committed: false }
    }

    fn checks(status: u16, response: &CheckResponse) -> Answer {
        let body = serde_json::to_string(response)
            .unwrap_or_else(|_| r#"{"refused":"unencodable answer"}"#.to_owned());
        Answer { status, content_type: "application/json", body, committed: false }
    }
}

/// Everything the request threads share.
pub struct Service {
    pub settings: Settings,
    redis: Redis,
    policies: RwLock<Arc<Policies>>,
    pub metrics: Metrics,
    draining: AtomicBool,
    /// The Redis pool was filled and the script loaded once ([`Service::warm`]).
    warmed: AtomicBool,
    redis_log: Throttled,
    refusal_log: Throttled,
}

fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 64
        && ns.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Service {
    pub fn new(settings: Settings, policies: Policies) -> Service {
        let redis = Redis::new(
            settings.redis.clone(),
            settings.redis_password.clone(),
            settings.redis_timeout,
            settings.threads,
            settings.redis_cluster,
            settings.known_keys,
        );
        Service {
            settings,
            redis,
            policies: RwLock::new(Arc::new(policies)),
            metrics: Metrics::default(),
            draining: AtomicBool::new(false),
            warmed: AtomicBool::new(false),
            redis_log: Throttled::default(),
            refusal_log: Throttled::default(),
        }
    }

    fn policies(&self) -> Arc<Policies> {
        match self.policies.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads the policies; on any error the loaded set stays.
    pub fn reload(&self) {
        match Policies::load(&self.settings.policies) {
            Ok(fresh) => {
                let ids: Vec<String> = fresh.sources.iter().map(|(id, _)| id.to_string()).collect();
                if let Ok(mut slot) = self.policies.write() {
                    *slot = Arc::new(fresh);
                }
                log::event("info", "policies_reloaded", json!({ "policy_ids": ids }));
            }
            Err(errors) => log::event("error", "policies_reload_refused", json!({ "errors": errors })),
        }
    }

    /// From now on readiness fails (SIGTERM): load balancers stop sending before the listener closes.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Opens a connection per request thread and loads the script; readiness waits for it, so
    /// a load balancer sends the first burst to a replica that needs no connect or script load.
    pub fn warm(&self) -> Result<(), String> {
        self.redis.warm().map_err(|e| e.0)?;
        self.warmed.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Whether rounds run as one atomic script over their keys (not a Redis Cluster).
    pub fn whole_rounds(&self) -> bool {
        self.redis.whole_rounds()
    }

    /// Ready: warmed once, not draining, and Redis answers.
    pub fn ready(&self) -> bool {
        self.warmed.load(Ordering::SeqCst) && !self.draining.load(Ordering::SeqCst) && self.redis.ping()
    }

    /// Routes one request; `commit_if_pass`: the request carried [`COMMIT_IF_PASS_HEADER`].
    pub fn handle(&self, method: &str, path: &str, body: &[u8], commit_if_pass: bool) -> Answer {
        match (method, path) {
            ("POST", "/checks") => self.checks(body, commit_if_pass),
            ("GET", "/healthz") => Answer::text(200, "ok\n"),
            ("GET", "/readyz") => {
                if self.ready() {
                    Answer::text(200, "ready\n")
                } else {
                    Answer::text(503, "not ready\n")
                }
            }
            ("GET", "/metrics") => Answer {
                status: 200,
                content_type: "text/plain; version=0.0.4",
                body: self.metrics.render(self.policies().len(), self.ready()),
                committed: false,
            },
            _ => Answer::text(404, "not found\n"),
        }
    }

    /// One round of counter checks.
    pub fn checks(&self, body: &[u8], commit_if_pass: bool) -> Answer {
        let started = Instant::now();
        let request: CheckRequest = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(e) => {
                self.metrics.request(Round::Commit, Outcome::BadRequest, 0, micros(started));
                return Answer::checks(400, &CheckResponse::Refused(format!("unreadable request: {e}")));
            }
        };
        let mut round = if request.peek { Round::Peek } else { Round::Commit };
        let n = request.checks.len();
        let finish = |outcome: Outcome, status: u16, response: CheckResponse| {
            self.metrics.request(round, outcome, n, micros(started));
            Answer::checks(status, &response)
        };
        if n > MAX_CHECKS_PER_ROUND {
            // A filter's round holds one request's checks (a few dozen); a megabyte of them would
            // hold a worker thread for seconds and fail every proxy's rounds open meanwhile.
            let why = format!("{n} checks in one round, at most {MAX_CHECKS_PER_ROUND}");
            return finish(Outcome::BadRequest, 400, CheckResponse::Refused(why));
        }
        let namespace = request.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
        if !valid_namespace(namespace) {
            let why = "namespace must be 1-64 characters of a-z, 0-9, '-' and '_'".to_owned();
            return finish(Outcome::BadRequest, 400, CheckResponse::Refused(why));
        }
        let Some(policy) = self.policies().get(request.policy_id) else {
            self.refusal_log.event(
                "error",
                "unknown_policy",
                json!({ "policy_id": request.policy_id, "namespace": namespace,
                        "hint": "load the caller's policy into --policies, then SIGHUP" }),
            );
            let why = format!("policy {} is not loaded here", request.policy_id);
            return finish(Outcome::UnknownPolicy, 409, CheckResponse::Refused(why));
        };
        let prefix = format!("{}{namespace}:", self.settings.key_prefix);
        let result = self.redis.session().and_then(|mut session| {
            runner::run(&policy, &request, &prefix, &mut session, self.settings.cas_rounds, commit_if_pass)
        });
        match result {
            Ok((outcomes, stats)) => {
                self.metrics.conflicts(stats.conflicts, stats.gave_up);
                self.metrics.stale_guesses(stats.stale_guesses);
                if stats.committed {
                    round = Round::PeekCommit;
                }
                self.metrics.request(round, Outcome::Ok, n, micros(started));
                let mut answer = Answer::checks(200, &CheckResponse::Outcomes(outcomes));
                answer.committed = stats.committed;
                answer
            }
            Err(e) => {
                self.metrics.redis_error();
                self.redis_log.event(
                    "error",
                    "redis_error",
                    json!({ "error": e.0, "redis": self.settings.redis }),
                );
                finish(Outcome::RedisError, 503, CheckResponse::Refused(e.0))
            }
        }
    }
}

fn micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}
