//! Criterion benchmark of one full decision (route, extraction, phone classification, every rule
//! kind, counters in the in-memory store) on a ~200-byte JSON OTP request, next to a baseline
//! measured in the same run: the route lookup alone.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // benchmark setup: failing loudly is the point

use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion};
use pumpguard_core::{HttpVersion, MemoryStore, Policy, Request, Timestamp, TlsFingerprints};

#[path = "../../bench/src/lib_fixture.rs"]
mod fixture;

fn decision(c: &mut Criterion) {
    let policy = Policy::from_json(fixture::POLICY).expect("benchmark policy loads");
    let store = MemoryStore::new();
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
    let mut now = 1_763_800_000_000u64;
    let mut group = c.benchmark_group("decision");
    group
        .bench_function("route_lookup_baseline", |b| b.iter(|| policy.route_for(std::hint::black_box(&req))));
    group.bench_function("prepare_only", |b| {
        b.iter(|| policy.prepare(std::hint::black_box(&req), Timestamp::from_millis(now)))
    });
    group.bench_function("full_decision", |b| {
        b.iter(|| {
            now += 1;
            policy.decide(std::hint::black_box(&req), Timestamp::from_millis(now), &store)
        })
    });
    group.finish();
}

criterion_group!(benches, decision);
criterion_main!(benches);
