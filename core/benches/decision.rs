//! Criterion benchmark of one full decision (route, extraction, phone classification, every rule
//! kind, counters in the in-memory store) on a ~200-byte JSON OTP request, next to a baseline
//! measured in the same run: the route lookup alone. Then what planning the `captcha_solver`
//! checks adds to `prepare` on a request carrying a Turnstile token, under the recommended
//! policy against the same policy without `solver-conversion`, as a ratio; and what
//! `address-conversion` (two more counter checks per number) adds to a whole first decision.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // benchmark setup: failing loudly is the point

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion};
use pumpguard_core::{HttpVersion, MemoryStore, Policy, Request, Timestamp, TlsFingerprints};

#[path = "../../bench/src/lib_fixture.rs"]
mod fixture;

/// The fixture's OTP send with `headers`.
fn otp_send<'a>(headers: &'a [(&'a str, &'a str)], tls: TlsFingerprints<'a>) -> Request<'a> {
    Request {
        method: "POST",
        authority: "app.example.com",
        path: "/api/otp/send",
        version: HttpVersion::Http11,
        headers,
        body: fixture::BODY.as_bytes(),
        body_truncated: false,
        client_ip: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))),
        tls,
        edge: Default::default(),
    }
}

fn decision(c: &mut Criterion) {
    let policy = Policy::from_json(fixture::POLICY).expect("benchmark policy loads");
    let store = MemoryStore::new();
    let tls = TlsFingerprints { ja3: Some("0123456789abcdef0123456789abcdef"), ja4: None };
    let req = otp_send(&fixture::HEADERS, tls);
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

/// `policies/recommended.json` without the rule `dropped` names (none: as shipped).
fn recommended(dropped: Option<&str>) -> Policy {
    recommended_without(dropped.as_slice())
}

/// `policies/recommended.json` without the rules `dropped` names.
fn recommended_without(dropped: &[&str]) -> Policy {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("../../policies/recommended.json")).expect("policy is JSON");
    let rules = doc["rules"].as_array_mut().expect("rules");
    let before = rules.len();
    rules.retain(|r| !dropped.contains(&r["id"].as_str().unwrap_or("")));
    assert_eq!(rules.len(), before - dropped.len(), "every dropped rule is shipped");
    Policy::from_json(&doc.to_string()).expect("recommended policy loads")
}

/// The median time of `run` next to `base`, interleaved so drift hits both alike: their ratio is
/// what the difference between them costs.
fn interleaved_ns(base: &dyn Fn(), run: &dyn Fn()) -> (u128, u128) {
    let median = |f: &dyn Fn()| {
        let mut samples: Vec<u128> = (0..51)
            .map(|_| {
                let start = std::time::Instant::now();
                for _ in 0..2000 {
                    f();
                }
                start.elapsed().as_nanos() / 2000
            })
            .collect();
        samples.sort_unstable();
        samples[samples.len() / 2]
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        a.push(median(base));
        b.push(median(run));
    }
    a.sort_unstable();
    b.sort_unstable();
    (a[2], b[2])
}

fn solver_planning(c: &mut Criterion) {
    let with = recommended(None);
    let without = recommended(Some("solver-conversion"));
    let mut headers = fixture::HEADERS.to_vec();
    headers.push(("cf-turnstile-response", "0.aGVsbG8gdG9rZW4gdGhhdCBsb29rcyBsaWtlIFR1cm5zdGlsZSdz"));
    let req = otp_send(&headers, TlsFingerprints::default());
    prepare_ratio(
        c,
        "solver_planning",
        ["prepare_without_solver_rule", "prepare_with_solver_rule"],
        [&without, &with],
        &req,
        "prepare with a token",
        "solver-conversion",
    );
}

/// `prepare` of `req` under a policy without and with what is measured: criterion's timings in
/// `group`, then the interleaved medians and their ratio, printed.
fn prepare_ratio(
    c: &mut Criterion,
    group: &str,
    names: [&str; 2],
    [without, with]: [&Policy; 2],
    req: &Request<'_>,
    what: &str,
    measured: &str,
) {
    let now = Timestamp::from_millis(1_763_800_000_000);
    let mut g = c.benchmark_group(group);
    g.bench_function(names[0], |b| b.iter(|| without.prepare(black_box(req), now)));
    g.bench_function(names[1], |b| b.iter(|| with.prepare(black_box(req), now)));
    g.finish();
    let (base, run) = interleaved_ns(
        &|| {
            black_box(without.prepare(black_box(req), now));
        },
        &|| {
            black_box(with.prepare(black_box(req), now));
        },
    );
    println!(
        "{what}: {base} ns without {measured}, {run} ns with {measured} ({:.2}x)",
        run as f64 / base.max(1) as f64
    );
}

/// A first send from an address (a fresh store each time): the whole decision with and without
/// `address-conversion`, whose two checks per number are one more scope and one more record.
fn address_conversion(c: &mut Criterion) {
    let with = recommended(None);
    let without = recommended(Some("address-conversion"));
    let req = otp_send(&fixture::HEADERS, TlsFingerprints::default());
    let now = Timestamp::from_millis(1_763_800_000_000);
    let first = |policy: &Policy| {
        let store = MemoryStore::new();
        black_box(policy.decide(black_box(&req), now, &store));
    };
    let mut group = c.benchmark_group("address_conversion");
    group.bench_function("first_send_without_rule", |b| b.iter(|| first(&without)));
    group.bench_function("first_send_with_rule", |b| b.iter(|| first(&with)));
    group.finish();
    let (base, rule) = interleaved_ns(&|| first(&without), &|| first(&with));
    println!(
        "first send from an address: {base} ns without address-conversion, {rule} ns with it ({:.2}x)",
        rule as f64 / base.max(1) as f64
    );
}

/// `prepare` on a browser's request under the recommended policy, with and without its three
/// `client` rules: the price of reading the user agent (its classes, the claims of a browser and
/// of Chrome) and the headers a claimed browser sends.
fn client_rules(c: &mut Criterion) {
    let with = recommended(None);
    let without = recommended_without(&["bare-client", "browser-no-language", "chrome-no-hints"]);
    // Chrome's request: every claim holds, so every check runs to its end.
    let headers = [
        ("host", "app.example.com"),
        ("sec-ch-ua-platform", "\"Windows\""),
        ("user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36"),
        ("sec-ch-ua", "\"Google Chrome\";v=\"141\", \"Chromium\";v=\"141\", \"Not_A Brand\";v=\"24\""),
        ("content-type", "application/json"),
        ("sec-ch-ua-mobile", "?0"),
        ("accept", "*/*"),
        ("origin", "https://app.example.com"),
        ("sec-fetch-site", "same-origin"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "en-US,en;q=0.9"),
    ];
    let req = otp_send(&headers, TlsFingerprints::default());
    prepare_ratio(
        c,
        "client_rules",
        ["prepare_without_client_rules", "prepare_with_client_rules"],
        [&without, &with],
        &req,
        "prepare of a browser's send",
        "the client rules",
    );
}

criterion_group!(benches, decision, solver_planning, address_conversion, client_rules);
criterion_main!(benches);
