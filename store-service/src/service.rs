//! The service's state and its endpoints, free of the HTTP server: `/checks` (run one round of a
//! request's counter checks, for callers with an accepted bearer token when tokens are
//! configured), `/healthz`, `/readyz`, `/metrics` (open: probes and scrapes).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use pumpguard_core::remote::{CheckRequest, CheckResponse};
pub use pumpguard_core::remote::{COMMITTED_HEADER, COMMIT_IF_PASS_HEADER};
use serde_json::json;

use crate::auth::{Tokens, Verdict};
use crate::log::{self, Throttled};
use crate::metrics::{Credential, Metrics, Outcome, Round};
use crate::policies::Policies;
use crate::redis::Redis;
use crate::runner;
use crate::settings::Settings;

/// Namespace of requests that name none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Most checks one round may carry: a site's import of trusted numbers (up to 10,000 per
/// request) is the largest real round; a send's is a few dozen.
pub const MAX_CHECKS_PER_ROUND: usize = 12_000;

/// The challenge of a `/checks` request without a bearer token (RFC 6750).
pub const CHALLENGE_MISSING: &str = r#"Bearer realm="pumpguard-store""#;

/// The challenge of a `/checks` request whose bearer token is not accepted.
pub const CHALLENGE_WRONG: &str = r#"Bearer realm="pumpguard-store", error="invalid_token""#;

/// An HTTP answer: status, content type, body, further headers (a peek round that committed
/// says so in [`COMMITTED_HEADER`]; a refused credential gets `www-authenticate`).
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(&'static str, &'static str)>,
}

impl Answer {
    fn text(status: u16, body: &str) -> Answer {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_owned(),
            headers: Vec::new(),
        }
    }

    fn checks(status: u16, response: &CheckResponse) -> Answer {
        let body = serde_json::to_string(response)
            .unwrap_or_else(|_| r#"{"refused":"unencodable answer"}"#.to_owned());
        Answer { status, content_type: "application/json", body, headers: Vec::new() }
    }
}

/// Everything the request threads share.
pub struct Service {
    pub settings: Settings,
    redis: Redis,
    policies: RwLock<Arc<Policies>>,
    /// The bearer tokens `/checks` accepts; `None`: it answers anyone.
    tokens: RwLock<Option<Arc<Tokens>>>,
    pub metrics: Metrics,
    draining: AtomicBool,
    /// The Redis pool was filled and the script loaded once ([`Service::warm`]).
    warmed: AtomicBool,
    redis_log: Throttled,
    refusal_log: Throttled,
    auth_log: Throttled,
}

fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 64
        && ns.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Service {
    /// The service with `policies` loaded and `tokens` accepted (`None`: `/checks` is open).
    pub fn new(settings: Settings, policies: Policies, tokens: Option<Tokens>) -> Service {
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
            tokens: RwLock::new(tokens.map(Arc::new)),
            metrics: Metrics::default(),
            draining: AtomicBool::new(false),
            warmed: AtomicBool::new(false),
            redis_log: Throttled::default(),
            refusal_log: Throttled::default(),
            auth_log: Throttled::default(),
        }
    }

    fn tokens(&self) -> Option<Arc<Tokens>> {
        match self.tokens.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// How many bearer tokens `/checks` accepts (0: it answers anyone).
    pub fn token_count(&self) -> usize {
        self.tokens().map_or(0, |t| t.len())
    }

    fn policies(&self) -> Arc<Policies> {
        match self.policies.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads the policies and the tokens file (SIGHUP); on any error in one of them, its
    /// loaded set stays.
    pub fn reload(&self) {
        self.reload_policies();
        self.reload_tokens();
    }

    fn reload_tokens(&self) {
        let Some(path) = &self.settings.tokens_file else { return };
        match Tokens::load(path) {
            Ok(fresh) => {
                let count = fresh.len();
                if let Ok(mut slot) = self.tokens.write() {
                    *slot = Some(Arc::new(fresh));
                }
                log::event("info", "tokens_reloaded", json!({ "tokens": count }));
            }
            Err(errors) => log::event(
                "error",
                "tokens_reload_refused",
                json!({ "errors": errors, "tokens_in_force": self.token_count() }),
            ),
        }
    }

    fn reload_policies(&self) {
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

    /// Routes one request; `authorization`: its `authorization` header's value, if any;
    /// `commit_if_pass`: the request carried [`COMMIT_IF_PASS_HEADER`].
    pub fn handle(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&[u8]>,
        body: &[u8],
        commit_if_pass: bool,
    ) -> Answer {
        match (method, path) {
            ("POST", "/checks") => match self.refuse_credential(authorization) {
                Some(refused) => refused,
                None => self.checks(body, commit_if_pass),
            },
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
                body: self.metrics.render(self.policies().len(), self.token_count(), self.ready()),
                headers: Vec::new(),
            },
            _ => Answer::text(404, "not found\n"),
        }
    }

    /// A request's refusal on its head alone, before its body is read (the server's
    /// [`Handler::admit`](crate::http::Handler::admit)): the 401 of a `/checks` request whose
    /// credential is missing or not accepted, or `None` to read its body and [`Service::handle`]
    /// it. A caller without an accepted token costs neither the reading nor the parsing of a body.
    pub fn admit(&self, method: &str, path: &str, authorization: Option<&[u8]>) -> Option<Answer> {
        match (method, path) {
            ("POST", "/checks") => self.refuse_credential(authorization),
            _ => None,
        }
    }

    /// The 401 answer of a `/checks` request whose credential is missing or not accepted, or
    /// `None` to serve it; each refusal is counted and logged here. [`Service::admit`] asks
    /// before the body is read and [`Service::handle`] again (tokens may have been reloaded in
    /// between); a request refused on its head never reaches `handle`, so it is counted once.
    fn refuse_credential(&self, authorization: Option<&[u8]>) -> Option<Answer> {
        let tokens = self.tokens()?;
        let (credential, why, challenge) = match tokens.judge(authorization) {
            Verdict::Accepted => return None,
            Verdict::Missing => (Credential::Missing, "no bearer token", CHALLENGE_MISSING),
            Verdict::Wrong => (Credential::Wrong, "bearer token not accepted", CHALLENGE_WRONG),
        };
        self.metrics.unauthorized(credential);
        self.auth_log.event(
            "warn",
            "unauthorized",
            json!({ "credential": credential.label(),
                    "hint": "callers send authorization: Bearer <a token of --tokens-file or PUMPGUARD_STORE_TOKENS>" }),
        );
        let mut answer = Answer::checks(401, &CheckResponse::Refused(why.to_owned()));
        answer.headers.push(("www-authenticate", challenge));
        Some(answer)
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
                if stats.committed {
                    answer.headers.push((COMMITTED_HEADER, "1"));
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"version":1,"routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/otp"}},"extract":{"json_keys":["phone"]}}]}"#;
    const OLD: &str = "0123456789abcdef0123456789abcdef";
    const NEW: &str = "fedcba9876543210fedcba9876543210";

    /// A service on a scratch directory (its policy file and `tokens`), Redis never reached: a
    /// round that gets past the credential is refused for its body first.
    fn service(dir: &std::path::Path, tokens: Option<&str>, from_file: bool) -> Service {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("policy.json"), POLICY).unwrap();
        let file = dir.join("tokens");
        let mut env = vec![("PUMPGUARD_STORE_POLICIES", dir.join("policy.json").display().to_string())];
        match (tokens, from_file) {
            (Some(t), true) => {
                std::fs::write(&file, t).unwrap();
                env.push(("PUMPGUARD_STORE_TOKENS_FILE", file.display().to_string()));
            }
            (Some(t), false) => env.push(("PUMPGUARD_STORE_TOKENS", t.to_owned())),
            (None, _) => {}
        }
        let settings = Settings::parse(&["--redis=127.0.0.1:1".to_owned()], |name| {
            env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
        })
        .unwrap();
        let tokens = match &settings.tokens_file {
            Some(path) => Some(Tokens::load(path).unwrap()),
            None => settings.tokens.clone(),
        };
        let policies = Policies::load(&settings.policies).unwrap();
        Service::new(settings, policies, tokens)
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("pg-service-{name}-{}", std::process::id()))
    }

    fn post(service: &Service, authorization: Option<&str>) -> Answer {
        service.handle("POST", "/checks", authorization.map(str::as_bytes), b"not json", false)
    }

    fn header(answer: &Answer, name: &str) -> Option<&'static str> {
        answer.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    fn metric(service: &Service, line: &str) -> bool {
        service.handle("GET", "/metrics", None, b"", false).body.lines().any(|l| l == line)
    }

    #[test]
    fn checks_without_an_accepted_bearer_token_are_refused_401_and_counted() {
        let dir = scratch("401");
        let service = service(&dir, Some(&format!("{OLD}\n{NEW}\n")), true);
        let missing = post(&service, None);
        assert_eq!((missing.status, header(&missing, "www-authenticate")), (401, Some(CHALLENGE_MISSING)));
        assert_eq!(missing.body, r#"{"refused":"no bearer token"}"#);
        let wrong = post(&service, Some(&format!("Bearer {OLD}0")));
        assert_eq!((wrong.status, header(&wrong, "www-authenticate")), (401, Some(CHALLENGE_WRONG)));
        assert_eq!(post(&service, Some(&format!("Basic {OLD}"))).status, 401);
        // Both tokens of a rotation pass; the round then fails on its own merits.
        for token in [OLD, NEW] {
            let passed = post(&service, Some(&format!("Bearer {token}")));
            assert_eq!((passed.status, header(&passed, "www-authenticate")), (400, None), "{}", passed.body);
        }
        assert!(metric(&service, r#"pumpguard_store_unauthorized_total{credential="missing"} 2"#));
        assert!(metric(&service, r#"pumpguard_store_unauthorized_total{credential="wrong"} 1"#));
        assert!(metric(&service, "pumpguard_store_tokens 2"));
        assert!(metric(
            &service,
            r#"pumpguard_store_requests_total{round="commit",outcome="bad_request"} 2"#
        ));
        // Probes and scrapes stay open.
        assert_eq!(service.handle("GET", "/healthz", None, b"", false).status, 200);
        assert_eq!(service.handle("GET", "/readyz", None, b"", false).status, 503, "never warmed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn admit_refuses_checks_on_the_head_as_handle_would_and_counts_each_refusal_once() {
        let dir = scratch("admit");
        let service = service(&dir, Some(OLD), true);
        let wrong = format!("Bearer {NEW}");
        for (authorization, challenge, body) in [
            (None, CHALLENGE_MISSING, r#"{"refused":"no bearer token"}"#),
            (Some(wrong.as_bytes()), CHALLENGE_WRONG, r#"{"refused":"bearer token not accepted"}"#),
        ] {
            let refused =
                service.admit("POST", "/checks", authorization).map(|a| (a.status, a.body, a.headers));
            assert_eq!(refused, Some((401, body.to_owned(), vec![("www-authenticate", challenge)])));
        }
        assert!(service.admit("POST", "/checks", Some(format!("Bearer {OLD}").as_bytes())).is_none());
        for (method, path) in
            [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/checks")]
        {
            assert!(service.admit(method, path, None).is_none(), "{method} {path}");
        }
        assert!(metric(&service, r#"pumpguard_store_unauthorized_total{credential="missing"} 1"#));
        assert!(metric(&service, r#"pumpguard_store_unauthorized_total{credential="wrong"} 1"#));
        // Without tokens nothing is refused on its head.
        let open = self::service(&scratch("admit-open"), None, false);
        assert!(open.admit("POST", "/checks", None).is_none());
        assert!(metric(&open, r#"pumpguard_store_unauthorized_total{credential="missing"} 0"#));
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(scratch("admit-open")).unwrap();
    }

    #[test]
    fn tokens_from_the_environment_only_guard_checks_too() {
        let dir = scratch("env");
        let service = service(&dir, Some(&format!("{OLD},{NEW}")), false);
        assert_eq!(post(&service, None).status, 401);
        assert_eq!(post(&service, Some(&format!("Bearer {NEW}"))).status, 400);
        service.reload();
        assert_eq!(post(&service, Some(&format!("Bearer {NEW}"))).status, 400, "SIGHUP keeps them");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_tokens_checks_answer_anyone() {
        let dir = scratch("open");
        let service = service(&dir, None, false);
        assert_eq!(post(&service, None).status, 400);
        assert!(metric(&service, "pumpguard_store_tokens 0"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sighup_reloads_the_tokens_file_and_a_bad_one_keeps_the_loaded_tokens() {
        let dir = scratch("reload");
        let service = service(&dir, Some(OLD), true);
        let old = format!("Bearer {OLD}");
        let new = format!("Bearer {NEW}");
        assert_eq!((post(&service, Some(&old)).status, post(&service, Some(&new)).status), (400, 401));
        // Rotation: the new token added, then the old one removed.
        std::fs::write(dir.join("tokens"), format!("{OLD}\n{NEW}\n")).unwrap();
        service.reload();
        assert_eq!((post(&service, Some(&old)).status, post(&service, Some(&new)).status), (400, 400));
        std::fs::write(dir.join("tokens"), format!("{NEW}\n")).unwrap();
        service.reload();
        assert_eq!((post(&service, Some(&old)).status, post(&service, Some(&new)).status), (401, 400));
        // Emptied, unreadable or bad: refused, the tokens in force stay (never open).
        for bad in ["", "# nothing\n", "short\n"] {
            std::fs::write(dir.join("tokens"), bad).unwrap();
            service.reload();
            assert_eq!(
                (post(&service, None).status, post(&service, Some(&new)).status),
                (401, 400),
                "{bad:?}"
            );
        }
        std::fs::remove_file(dir.join("tokens")).unwrap();
        service.reload();
        assert_eq!(post(&service, Some(&new)).status, 400);
        assert_eq!(service.token_count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
