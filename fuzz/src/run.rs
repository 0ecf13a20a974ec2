//! Judges a sequence of frames as a host does: decide, verify a token, look numbers up (the
//! corpus' fake provider), commit, and feed a confirm route's answer into conversion tracking.
//! Returns one line per decision, so two runs (or two builds) can be compared.

use pumpguard_core::fingerprint::HttpVersion;
use pumpguard_core::routes::ConfirmResponse;
use pumpguard_core::scenario::decide_simulated;
use pumpguard_core::{Action, Policy, Request, Store, Timestamp, TlsFingerprints};

use crate::frame::Frame;

/// Where every sequence starts: a fixed, realistic instant (2026-01-01), so day-scale windows
/// and far-future expiries both occur.
pub const START_MS: u64 = 1_767_225_600_000;

/// Judges the frames in order against `store`; one JSON line per decision.
pub fn judge_all(policy: &Policy, frames: &[Frame], store: &dyn Store) -> Vec<String> {
    let mut now = Timestamp::from_millis(START_MS);
    frames
        .iter()
        .map(|frame| {
            now = now.plus_millis(frame.advance_ms);
            judge(policy, frame, now, store)
        })
        .collect()
}

fn judge(policy: &Policy, frame: &Frame, now: Timestamp, store: &dyn Store) -> String {
    let headers: Vec<(&str, &str)> = frame.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let max_body = policy.max_body_bytes();
    let req = Request {
        method: &frame.method,
        authority: "app.example",
        path: &frame.path,
        version: HttpVersion::Http11,
        headers: &headers,
        body: frame.body.get(..max_body).unwrap_or(&frame.body),
        body_truncated: frame.body.len() > max_body,
        client_ip: frame.client_ip,
        tls: TlsFingerprints::default(),
        edge: Default::default(),
    };
    let decision = decide_simulated(policy, &req, now, store);
    if decision.action == Action::Allow && policy.awaits_confirmation(&decision) {
        // Origin answers 200 with a body that says the code was right.
        let response = ConfirmResponse {
            status: 200,
            headers: &[("content-type", "application/json")],
            body: Some(br#"{"status":"approved","valid":true}"#),
        };
        policy.record_confirm(&decision, &response, now, store);
    }
    serde_json::to_string(&decision).unwrap_or_else(|e| format!("unserialisable decision: {e}"))
}
