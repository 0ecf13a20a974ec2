//! Every body extractor (JSON, form, multipart, query, each preset) through the whole decision,
//! with the scenario corpus's guarded requests as templates.
//!
//! Input: two bytes picking a template request, one byte picking the content type, then the body.
//! Properties: no panic; the same request decides the same twice.

use pumpguard_core::MemoryStore;

use crate::frame::Frame;
use crate::{corpus, run};

/// Content types the third byte picks from; 0 keeps the template's own.
const CONTENT_TYPES: &[&str] = &[
    "",
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=UTF-8",
    "multipart/form-data; boundary=pgbound",
    "multipart/form-data; boundary=\"pg bound\"",
    "application/x-amz-json-1.1",
    "text/plain",
    "application/vnd.api+json",
];

/// Runs the target on one input.
pub fn run(data: &[u8]) -> String {
    let [a, b, c, body @ ..] = data else { return String::new() };
    let templates = templates();
    let Some(&(scenario, record)) =
        templates.get(usize::from(u16::from_le_bytes([*a, *b])) % templates.len().max(1))
    else {
        return String::new();
    };
    let (policy, record) = {
        let s = &corpus::scenarios()[scenario];
        (&s.policy, &s.requests[record])
    };
    let mut headers: Vec<(String, String)> = record.headers.clone();
    let chosen = CONTENT_TYPES[usize::from(*c) % CONTENT_TYPES.len()];
    if !chosen.is_empty() {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        headers.push(("content-type".into(), chosen.into()));
    }
    let frame = Frame {
        advance_ms: 0,
        method: record.method.clone(),
        path: record.path.clone(),
        client_ip: record.client_ip,
        headers,
        body: body.to_vec(),
    };
    let frames = [frame];
    let first = run::judge_all(policy, &frames, &MemoryStore::new());
    let second = run::judge_all(policy, &frames, &MemoryStore::new());
    assert_eq!(first, second, "the same request decided differently");
    for line in &first {
        super::decision::check_shape(line);
    }
    super::digest_of(&first)
}

/// (scenario, request) of every request some route guards, in corpus order.
pub fn templates() -> &'static [(usize, usize)] {
    static TEMPLATES: std::sync::OnceLock<Vec<(usize, usize)>> = std::sync::OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let mut out = Vec::new();
        for (si, s) in corpus::scenarios().iter().enumerate() {
            for (ri, r) in s.requests.iter().enumerate() {
                if r.body.is_some() || r.body_hex.is_some() || r.path.contains('?') {
                    out.push((si, ri));
                }
            }
        }
        out
    })
}
