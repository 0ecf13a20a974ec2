//! The step API (prepare → peek → conclude → commit → settle) decides exactly as `decide`, and
//! the bounded bucket store decides exactly as a plain map while nothing is evicted.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod support;

use pumpguard_core::store::BucketedStore;
use pumpguard_core::{MemoryStore, Policy, Request, Timestamp};

fn policy() -> Policy {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policy.json")).unwrap();
    Policy::from_json(&text).unwrap()
}

fn request<'a>(body: &'a str, headers: &'a [(&'a str, &'a str)], ip: u8) -> Request<'a> {
    support::post("/api/otp/send", body, headers, ip)
}

fn numbers() -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..60u32 {
        out.push(format!("+1415555{:04}", 1000 + (i * 7) % 40));
        out.push(format!("+4477009{:05}", i % 9));
    }
    out
}

#[test]
fn three_steps_equal_decide() {
    let policy = policy();
    let (a, b) = (MemoryStore::new(), MemoryStore::new());
    let headers = [("content-type", "application/json")];
    for (i, number) in numbers().iter().enumerate() {
        let body = format!("{{\"phone\":\"{number}\"}}");
        let req = request(&body, &headers, (i % 3) as u8);
        let now = Timestamp::from_millis(1_000 * i as u64);
        let whole = policy.decide(&req, now, &a);
        let prepared = policy.prepare(&req, now);
        let peeked = policy.peek_checks(prepared.checks(), now, &b);
        let concluded = policy.conclude(prepared, &peeked);
        // A host with a remote store runs the pending commits itself, then settles them.
        let commits: Vec<_> =
            concluded.pending_commits().iter().map(|c| policy.run_check(c, now, &b)).collect();
        let stepped = policy.settle_commits(concluded, &commits);
        assert_eq!(whole, stepped, "request {i}");
    }
}

#[test]
fn bucketed_store_equals_plain_store_without_eviction() {
    let policy = policy();
    let (plain, inner) = (MemoryStore::new(), MemoryStore::new());
    let headers = [("content-type", "application/json")];
    for (i, number) in numbers().iter().enumerate() {
        let body = format!("{{\"phone\":\"{number}\"}}");
        let req = request(&body, &headers, (i % 3) as u8);
        let now = Timestamp::from_millis(1_000 * i as u64);
        let bucketed = BucketedStore::new(&inner, 64, 64, 42);
        assert_eq!(policy.decide(&req, now, &plain), policy.decide(&req, now, &bucketed), "request {i}");
    }
    assert!(inner.len() <= 64);
}
