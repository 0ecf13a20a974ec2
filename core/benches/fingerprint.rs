//! Per-request fingerprint cost on a realistic browser request (10 headers after pseudo-headers).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // benchmark setup: failing loudly is the point

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use pumpguard_core::fingerprint::{header_md5, ja4h, parse_ja4, HttpVersion};

/// What Envoy hands a filter for a Chrome form POST over HTTP/2.
const HEADERS: [(&str, &str); 14] = [
    (":method", "POST"),
    (":authority", "shop.example.com"),
    (":scheme", "https"),
    (":path", "/api/v1/otp/send"),
    ("content-length", "48"),
    ("sec-ch-ua", "\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\""),
    ("sec-ch-ua-mobile", "?0"),
    ("user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
    ("content-type", "application/json"),
    ("accept", "*/*"),
    ("origin", "https://shop.example.com"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("accept-language", "en-GB,en-US;q=0.9,en;q=0.8"),
    ("cookie", "session=8f14e45fceea167a5a36dedd4bea2543; _ga=GA1.2.1751603294.1532525413; consent=1"),
];

fn fingerprints(c: &mut Criterion) {
    c.bench_function("ja4h", |b| {
        b.iter(|| ja4h(black_box("POST"), black_box(HttpVersion::Http2), black_box(&HEADERS)))
    });
    c.bench_function("header_md5", |b| {
        b.iter(|| header_md5(black_box("POST"), black_box(HttpVersion::Http2), black_box(&HEADERS)))
    });
    c.bench_function("parse_ja4", |b| {
        b.iter(|| parse_ja4(black_box("t13d1516h2_8daaf6152771_b186095e22b6")))
    });
}

criterion_group!(benches, fingerprints);
criterion_main!(benches);
