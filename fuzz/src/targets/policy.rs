//! The policy loader on arbitrary documents (seeded with every scenario policy).
//!
//! Properties: no panic; a refused document names at least one error, each with its JSON path;
//! a loaded one loads the same twice and judges a few requests without panicking.

use pumpguard_core::{MemoryStore, Policy};

use crate::frame::Frame;
use crate::run;

/// Runs the target on one input.
pub fn run(data: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(data) else { return String::new() };
    match Policy::from_json(text) {
        Err(errors) => {
            assert!(!errors.errors.is_empty(), "refused without an error");
            for error in &errors.errors {
                assert!(!error.message.is_empty(), "an error without a message at {:?}", error.path);
            }
            format!("refused {}", errors.errors.len())
        }
        Ok(policy) => {
            assert!(Policy::from_json(text).is_ok(), "loaded once, refused the second time");
            let frames = probes(&policy);
            let lines = run::judge_all(&policy, &frames, &MemoryStore::new());
            for line in &lines {
                super::decision::check_shape(line);
            }
            super::digest_of(&lines)
        }
    }
}

/// A JSON, a form and a query request to each route id's usual path and to `/`.
fn probes(policy: &Policy) -> Vec<Frame> {
    let mut paths: Vec<String> = policy.route_ids().map(|id| format!("/{id}")).collect();
    paths.extend(["/api/otp".to_owned(), "/api/otp/send".to_owned(), "/".to_owned()]);
    let mut frames = Vec::new();
    for path in paths.iter().take(6) {
        frames.push(Frame {
            advance_ms: 1000,
            method: "POST".into(),
            path: path.clone(),
            client_ip: "203.0.113.9".parse().ok(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"phone":"+2348031234567","to":"+14155550100"}"#.to_vec(),
        });
        frames.push(Frame {
            advance_ms: 1000,
            method: "POST".into(),
            path: format!("{path}?phone=%2B447700900123"),
            client_ip: "2001:db8::1".parse().ok(),
            headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
            body: b"phone=%2B14155550100&To=%2B2348031234567".to_vec(),
        });
    }
    frames
}
