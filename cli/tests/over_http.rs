//! The HTTP scenario runner against a reference host: a tiny in-process HTTP server that judges
//! with the core exactly as docs/host-tests.md asks of Envoy and the Worker (test clock header,
//! client IP header, local replies from the decision, forwarded requests answered the way the
//! test origin answers). Every scenario of the corpus must pass through it, so the runner and the
//! contract are checked before any real host is involved.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::thread;

use pumpguard_core::scenario::{decide_simulated, Scenario};
use pumpguard_core::{
    Action, EdgeSignals, HttpVersion, MemoryStore, Policy, Request, Timestamp, TlsFingerprints,
};

const CLOCK: &str = "x-pumpguard-test-now-ms";

struct Raw {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Raw> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':')?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Raw { method, path, headers, body })
}

fn respond(stream: &mut TcpStream, status: u16, headers: &[(String, String)], body: &str) {
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    let _ = stream.write_all(out.as_bytes());
}

/// Judges one request like a host adapter would, and answers like host + test origin.
fn handle(policy: &Policy, store: &MemoryStore, mut stream: TcpStream) {
    let Ok(clone) = stream.try_clone() else { return };
    let Some(raw) = read_request(&mut BufReader::new(clone)) else { return };
    let get = |name: &str| raw.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let now = Timestamp::from_millis(get(CLOCK).and_then(|v| v.parse().ok()).unwrap_or(0));
    // The host's own inputs never reach the core as client headers.
    let headers: Vec<(&str, &str)> = raw
        .headers
        .iter()
        .filter(|(n, _)| {
            ![CLOCK, "x-forwarded-for", "x-ja3", "x-ja4", "x-bot-score", "x-verified-bot"]
                .contains(&n.as_str())
        })
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let max = policy.max_body_bytes();
    let req = Request {
        method: &raw.method,
        authority: get("host").unwrap_or(""),
        path: &raw.path,
        version: HttpVersion::Http11,
        headers: &headers,
        body: raw.body.get(..max).unwrap_or(&raw.body),
        body_truncated: raw.body.len() > max,
        client_ip: get("x-forwarded-for").and_then(|v| v.parse::<IpAddr>().ok()),
        tls: TlsFingerprints { ja3: get("x-ja3"), ja4: get("x-ja4") },
        edge: EdgeSignals {
            bot_score: get("x-bot-score").and_then(EdgeSignals::parse_bot_score),
            verified_bot: get("x-verified-bot").and_then(EdgeSignals::parse_verified_bot),
        },
    };
    let decision = decide_simulated(policy, &req, now, store);
    let owned = |list: Vec<(&'static str, String)>| -> Vec<(String, String)> {
        list.into_iter().map(|(n, v)| (n.to_owned(), v)).collect()
    };
    if decision.action == Action::Allow {
        let status = get("x-test-origin-status").and_then(|v| v.parse().ok()).unwrap_or(200);
        // As the test origin answers: extra headers and a scripted body.
        let extra: Vec<(String, String)> = get("x-test-origin-headers")
            .and_then(|v| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(v).ok())
            .map(|m| m.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or("").to_owned())).collect())
            .unwrap_or_default();
        let extra_refs: Vec<(&str, &str)> = extra.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let body = get("x-test-origin-body").map(str::as_bytes);
        let response = pumpguard_core::routes::ConfirmResponse { status, headers: &extra_refs, body };
        policy.record_confirm(&decision, &response, now, store);
        let mut headers =
            if decision.route.is_some() { owned(decision.origin_headers()) } else { Vec::new() };
        headers.push(("x-test-origin".to_owned(), "ok".to_owned()));
        respond(&mut stream, status, &headers, "{}");
    } else {
        let body = decision.error_body().unwrap_or_default();
        respond(&mut stream, decision.status, &owned(decision.response_headers()), &body);
    }
}

fn serve(policy: Policy) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let store = MemoryStore::new();
        for stream in listener.incoming().flatten() {
            handle(&policy, &store, stream);
        }
    });
    port
}

fn corpus() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    files
}

fn pumpguard(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pumpguard")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn every_scenario_passes_over_http_against_the_reference_host() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for file in corpus() {
        let file = file.to_str().unwrap();
        let (ok, policy_json) = pumpguard(&["scenario-policy", file]);
        assert!(ok, "scenario-policy {file}");
        let scenario: Scenario = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let Ok(policy) = Policy::from_json(&policy_json) else {
            assert!(scenario.policy_errors.is_some(), "{file}: policy refused unexpectedly");
            let (ok, out) = pumpguard(&["scenarios", "--target", "http://127.0.0.1:9", file]);
            assert!(ok && out.contains("SKIP"), "{file}: refused policies are skipped over HTTP: {out}");
            continue;
        };
        let target = format!("http://127.0.0.1:{}", serve(policy));
        let (ok, out) = pumpguard(&[
            "scenarios",
            "--target",
            &target,
            "--client-ip-header",
            "x-forwarded-for",
            "--ja3-header",
            "x-ja3",
            "--ja4-header",
            "x-ja4",
            "--bot-score-header",
            "x-bot-score",
            "--verified-bot-header",
            "x-verified-bot",
            "--clock-header",
            CLOCK,
            file,
        ]);
        ran += 1;
        if !ok {
            failures.push(out);
        }
    }
    assert!(ran >= 60, "only {ran} scenarios ran");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_host_that_ignores_the_policy_fails_the_run() {
    // A host that forwards everything must not pass the corpus: the runner really compares.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let Ok(clone) = stream.try_clone() else { continue };
            if read_request(&mut BufReader::new(clone)).is_some() {
                respond(&mut stream, 200, &[("x-test-origin".into(), "ok".into())], "{}");
            }
        }
    });
    let file = corpus().into_iter().find(|p| p.to_string_lossy().contains("005-country-deny-list")).unwrap();
    let target = format!("http://127.0.0.1:{port}");
    let (ok, out) = pumpguard(&["scenarios", "--target", &target, file.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(out.contains("action: expected block, got allow"), "{out}");
}
