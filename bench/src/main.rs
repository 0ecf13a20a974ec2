//! Times full decisions in a loop and prints the median ns per decision as one JSON line.
//! The same source runs natively and as wasm32-wasip1 (under node's WASI, i.e. V8 like Envoy),
//! so `just bench-core` can print their ratio from one run.

#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use pumpguard_core::store::BucketedStore;
use pumpguard_core::{Decision, HttpVersion, MemoryStore, Policy, Request, Timestamp, TlsFingerprints};

#[path = "lib_fixture.rs"]
mod fixture;

const BATCH: u32 = 2_000;
const BATCHES: usize = 31;

fn main() {
    let Ok(policy) = Policy::from_json(fixture::POLICY) else {
        eprintln!("benchmark policy does not load");
        std::process::exit(1);
    };
    let req = Request {
        method: "POST",
        authority: "app.example.com",
        path: "/api/otp/send",
        version: HttpVersion::Http11,
        headers: &fixture::HEADERS,
        body: fixture::BODY.as_bytes(),
        body_truncated: false,
        client_ip: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))),
        tls: TlsFingerprints { ja3: Some("0123456789abcdef0123456789abcdef"), ja4: None },
        edge: Default::default(),
    };
    let memory = MemoryStore::new();
    let (median, min, allowed) = time_decisions(|now| policy.decide(&req, now, &memory));
    // As the Envoy filter stores counters: fixed buckets of compact entries over a plain map.
    let shared = MemoryStore::new();
    let (bucketed_median, _, _) = time_decisions(|now| {
        let store = BucketedStore::new(&shared, 4096, 16, 7);
        policy.decide(&req, now, &store)
    });
    println!(
        "{{\"target\":\"{}\",\"median_ns\":{median:.1},\"min_ns\":{min:.1},\"allowed\":{allowed},\"bucketed_median_ns\":{bucketed_median:.1}}}",
        std::env::consts::ARCH,
    );
}

/// Median and minimum ns per decision over batches, and how many were allowed.
fn time_decisions(mut decide: impl FnMut(Timestamp) -> Decision) -> (f64, f64, u64) {
    let mut now = 1_763_800_000_000u64;
    let mut samples = Vec::with_capacity(BATCHES);
    let mut allowed = 0u64;
    for batch in 0..BATCHES + 3 {
        let start = Instant::now();
        for _ in 0..BATCH {
            now += 1;
            let decision = decide(Timestamp::from_millis(now));
            allowed += u64::from(decision.action == pumpguard_core::Action::Allow);
        }
        let per = start.elapsed().as_nanos() as f64 / f64::from(BATCH);
        if batch >= 3 {
            samples.push(per); // the first batches warm caches and lazy state
        }
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let median = samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN);
    (median, samples.first().copied().unwrap_or(f64::NAN), allowed)
}
