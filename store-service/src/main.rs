//! `pumpguard-store`: the counter store service of a pumpguard fleet. Envoy filters configured
//! with `store.backend: "remote"` send it each round of a request's counter checks; it runs them
//! with the core against Redis / Valkey and answers the outcomes. It keeps no state of its own:
//! run as many replicas as needed behind one Redis.

#![forbid(unsafe_code)]

mod auth;
mod http;
mod log;
mod metrics;
mod policies;
mod redis;
mod resp;
mod runner;
mod service;
mod settings;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::auth::Tokens;
use crate::http::{Handler, Head, Incoming, Limits, Outgoing, Server};
use crate::policies::Policies;
use crate::service::{Answer, Service};
use crate::settings::{Settings, USAGE};

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = match Settings::parse(&args, |name| std::env::var(name).ok()) {
        Ok(s) => s,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("pumpguard-store: {why}");
            }
            eprintln!("{USAGE}");
            return 2;
        }
    };
    let policies = match Policies::load(&settings.policies) {
        Ok(p) => p,
        Err(errors) => {
            log::event("error", "policies_refused", json!({ "errors": errors }));
            return 1;
        }
    };
    let tokens = match &settings.tokens_file {
        Some(path) => match Tokens::load(path) {
            Ok(tokens) => Some(tokens),
            Err(errors) => {
                log::event("error", "tokens_refused", json!({ "errors": errors }));
                return 1;
            }
        },
        None => settings.tokens.clone(),
    };
    let server = match Server::bind(&settings.listen) {
        Ok(server) => server,
        Err(e) => {
            log::event(
                "error",
                "listen_failed",
                json!({ "listen": settings.listen, "error": e.to_string() }),
            );
            return 1;
        }
    };
    let mut signals = match Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            log::event("error", "signals_unavailable", json!({ "error": e.to_string() }));
            return 1;
        }
    };
    let ids: Vec<String> = policies.sources.iter().map(|(id, _)| id.to_string()).collect();
    let listen = server.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let token_count = tokens.as_ref().map_or(0, Tokens::len);
    log::event(
        "info",
        "started",
        json!({ "listen": listen, "redis": settings.redis, "threads": settings.threads, "policy_ids": ids,
                "tokens": token_count }),
    );
    if tokens.is_none() {
        log::event(
            "warn",
            "checks_unauthenticated",
            json!({ "hint": "no --tokens-file or PUMPGUARD_STORE_TOKENS: whoever reaches this port can run \
                             counter rounds (docs/fleet.md, \"The store credential\")" }),
        );
    }
    let threads = settings.threads;
    let service = Arc::new(Service::new(settings, policies, tokens));
    let stop = Arc::new(AtomicBool::new(false));
    {
        // Until Redis is reachable readiness fails; requests are served (and fail) meanwhile.
        let (service, stop) = (service.clone(), stop.clone());
        std::thread::spawn(move || warm_until_done(&service, &stop));
    }
    let serving = {
        let (service, stop) = (service.clone(), stop.clone());
        std::thread::spawn(move || server.run(service, threads, Limits::default(), &stop))
    };
    for signal in signals.forever() {
        if signal == SIGHUP {
            service.reload();
            continue;
        }
        log::event(
            "info",
            "draining",
            json!({ "signal": signal, "drain_ms": service.settings.drain.as_millis() as u64 }),
        );
        service.drain();
        std::thread::sleep(service.settings.drain);
        stop.store(true, Ordering::SeqCst);
        break;
    }
    match serving.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::event("error", "server_failed", json!({ "error": e.to_string() })),
        Err(_) => log::event("error", "server_failed", json!({ "error": "server thread panicked" })),
    }
    log::event("info", "stopped", json!({}));
    0
}

/// Warms the Redis pool, retrying every 200 ms while Redis cannot be reached.
fn warm_until_done(service: &Service, stop: &AtomicBool) {
    let mut logged = false;
    while !stop.load(Ordering::SeqCst) {
        match service.warm() {
            Ok(()) => {
                log::event(
                    "info",
                    "redis_warm",
                    json!({ "connections": service.settings.threads, "whole_rounds": service.whole_rounds() }),
                );
                return;
            }
            Err(e) if !logged => {
                log::event("warn", "redis_not_warm", json!({ "error": e, "retry_ms": 200 }));
                logged = true;
            }
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Handler for Service {
    fn admit(&self, head: &Head<'_>) -> Option<Outgoing> {
        Service::admit(self, head.method, head.path, head.authorization).map(outgoing)
    }

    fn handle(&self, request: &Incoming<'_>) -> Outgoing {
        let answer = Service::handle(
            self,
            request.method,
            request.path,
            request.authorization,
            request.body,
            request.commit_if_pass,
        );
        outgoing(answer)
    }
}

fn outgoing(answer: Answer) -> Outgoing {
    Outgoing {
        status: answer.status,
        content_type: answer.content_type,
        body: answer.body,
        headers: answer.headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    const POLICY: &str = r#"{"version":1,"routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/otp"}},"extract":{"json_keys":["phone"]}}]}"#;
    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    /// What the server sends on a fresh connection after `request`, up to its close.
    fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        String::from_utf8(answer).unwrap()
    }

    fn metric(service: &Service, line: &str) -> bool {
        service.handle("GET", "/metrics", None, b"", false).body.lines().any(|l| l == line)
    }

    /// The service behind its own server, a client on a raw connection: a round with a wrong or
    /// missing token is answered 401 on its head, none of its declared body sent.
    #[test]
    fn a_refused_round_is_answered_on_its_head_alone() {
        let dir = std::env::temp_dir().join(format!("pg-main-401-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let policy = dir.join("policy.json");
        std::fs::write(&policy, POLICY).unwrap();
        let env = |name: &str| match name {
            "PUMPGUARD_STORE_POLICIES" => Some(policy.display().to_string()),
            "PUMPGUARD_STORE_TOKENS" => Some(TOKEN.to_owned()),
            _ => None,
        };
        let settings = Settings::parse(&["--redis=127.0.0.1:1".to_owned()], env).unwrap();
        let policies = Policies::load(&settings.policies).unwrap();
        let tokens = settings.tokens.clone();
        let service = Arc::new(Service::new(settings, policies, tokens));
        let server = Server::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let serving = {
            let (handler, stop) = (service.clone(), stop.clone());
            std::thread::spawn(move || server.run(handler, 1, Limits::default(), &stop).unwrap())
        };

        let wrong = exchange(
            addr,
            "POST /checks HTTP/1.1\r\nhost: store\r\nauthorization: Bearer fedcba9876543210fedcba9876543210\r\n\
             content-type: application/json\r\ncontent-length: 1000000\r\n\r\n",
        );
        assert!(wrong.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{wrong}");
        assert!(
            wrong.contains(&format!("\r\nwww-authenticate: {}\r\n", service::CHALLENGE_WRONG)),
            "{wrong}"
        );
        assert!(wrong.contains("\r\nconnection: close\r\n"), "{wrong}");
        assert!(wrong.ends_with("\r\n\r\n{\"refused\":\"bearer token not accepted\"}"), "{wrong}");
        let missing = exchange(
            addr,
            "POST /checks HTTP/1.1\r\ncontent-length: 1000000\r\nexpect: 100-continue\r\n\r\n",
        );
        assert!(missing.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "no 100 Continue: {missing}");
        assert!(missing.contains(&format!("\r\nwww-authenticate: {}\r\n", service::CHALLENGE_MISSING)));
        // The right token gets its body read (and refused for it: not a round).
        let right = exchange(
            addr,
            &format!("POST /checks HTTP/1.1\r\nauthorization: Bearer {TOKEN}\r\nconnection: close\r\ncontent-length: 8\r\n\r\nnot json"),
        );
        assert!(right.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{right}");
        let health = exchange(addr, "GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n");
        assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");

        assert!(metric(&service, r#"pumpguard_store_unauthorized_total{credential="wrong"} 1"#));
        assert!(metric(&service, r#"pumpguard_store_unauthorized_total{credential="missing"} 1"#));
        stop.store(true, Ordering::SeqCst);
        serving.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
