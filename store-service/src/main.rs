//! `pumpguard-store`: the counter store service of a pumpguard fleet. Envoy filters configured
//! with `store.backend: "remote"` send it each round of a request's counter checks; it runs them
//! with the core against Redis / Valkey and answers the outcomes. It keeps no state of its own:
//! run as many replicas as needed behind one Redis.

#![forbid(unsafe_code)]

mod log;
mod metrics;
mod policies;
mod redis;
mod resp;
mod runner;
mod service;
mod settings;

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::policies::Policies;
use crate::service::Service;
use crate::settings::{Settings, USAGE};

/// Largest request body read (a request has at most a few hundred checks).
const MAX_BODY: u64 = 1 << 20;

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
    let server = match tiny_http::Server::http(&settings.listen) {
        Ok(server) => Arc::new(server),
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
    let listen = server.server_addr().to_ip().map(|a| a.to_string()).unwrap_or_default();
    log::event(
        "info",
        "started",
        json!({ "listen": listen, "redis": settings.redis, "threads": settings.threads, "policy_ids": ids }),
    );
    let threads = settings.threads;
    let service = Arc::new(Service::new(settings, policies));
    let stop = Arc::new(AtomicBool::new(false));
    {
        // Until Redis is reachable readiness fails; requests are served (and fail) meanwhile.
        let (service, stop) = (service.clone(), stop.clone());
        std::thread::spawn(move || warm_until_done(&service, &stop));
    }
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (service, server, stop) = (service.clone(), server.clone(), stop.clone());
            std::thread::spawn(move || serve(&service, &server, &stop))
        })
        .collect();
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
    server.unblock();
    for worker in workers {
        let _ = worker.join();
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
                log::event("info", "redis_warm", json!({ "connections": service.settings.threads }));
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

/// One request thread: answers until `stop`, finishing the request in hand.
fn serve(service: &Service, server: &tiny_http::Server, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let mut request = match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(request)) => request,
            Ok(None) => continue,
            Err(_) => break,
        };
        let mut body = Vec::new();
        let read = request.as_reader().take(MAX_BODY).read_to_end(&mut body);
        let answer = match read {
            Ok(_) => {
                let commit_if_pass = request
                    .headers()
                    .iter()
                    .any(|h| h.field.equiv(service::COMMIT_IF_PASS_HEADER) && h.value.as_str() == "1");
                service.handle(request.method().as_str(), request.url(), &body, commit_if_pass)
            }
            Err(_) => service::Answer {
                status: 400,
                content_type: "text/plain",
                body: "unreadable body\n".to_owned(),
                committed: false,
            },
        };
        let mut response = tiny_http::Response::from_string(answer.body).with_status_code(answer.status);
        if let Ok(header) =
            tiny_http::Header::from_bytes(&b"content-type"[..], answer.content_type.as_bytes())
        {
            response.add_header(header);
        }
        if answer.committed {
            if let Ok(header) = tiny_http::Header::from_bytes(service::COMMITTED_HEADER.as_bytes(), &b"1"[..])
            {
                response.add_header(header);
            }
        }
        let _ = request.respond(response);
    }
}
