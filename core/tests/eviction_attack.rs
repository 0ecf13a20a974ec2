//! The counter-eviction attack on the Envoy filter's bounded store (issue: blocks washed out by a
//! flood). Before counters counted only sent SMS and eviction spared protected entries, one
//! throttled client sending five numbers per request removed a victim number's backoff after
//! ~6k requests, a conversion block after ~8.5k and an adjacency block after ~14k, and a flood of
//! random numbers from many clients left 98% of itself allowed. Here both floods run against the
//! filter's default store size (4096 buckets × 16 entries) and every block holds.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use std::net::{IpAddr, Ipv4Addr};

use std::cell::Cell;

use pumpguard_core::store::{BucketedStore, EvictionPressure};
use pumpguard_core::{
    Action, Decision, HttpVersion, MemoryStore, Policy, Request, Timestamp, TlsFingerprints,
};

fn policy() -> Policy {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policy.json")).unwrap();
    Policy::from_json(&text).unwrap()
}

struct Harness {
    policy: Policy,
    inner: MemoryStore,
    /// What the bounded store gave up over every request so far.
    pressure: Cell<EvictionPressure>,
}

impl Harness {
    fn send(&self, numbers: &[String], ip: u32, at_ms: u64) -> Decision {
        let body = if numbers.len() == 1 {
            format!("{{\"phone\":\"{}\"}}", numbers[0])
        } else {
            let list: Vec<String> = numbers.iter().map(|n| format!("{{\"phone\":\"{n}\"}}")).collect();
            format!("{{\"recipients\":[{}]}}", list.join(","))
        };
        let headers = [("content-type", "application/json")];
        let req = Request {
            method: "POST",
            authority: "app.example.com",
            path: "/api/otp/send",
            version: HttpVersion::Http11,
            headers: &headers,
            body: body.as_bytes(),
            body_truncated: false,
            client_ip: Some(IpAddr::V4(Ipv4Addr::from(ip))),
            tls: TlsFingerprints::default(),
            edge: Default::default(),
        };
        let store = BucketedStore::new(&self.inner, 4096, 16, 0x5eed);
        let decision = self.policy.decide(&req, Timestamp::from_millis(at_ms), &store);
        let (mut total, now) = (self.pressure.get(), store.pressure());
        total.history_evicted += now.history_evicted;
        total.protected_evicted += now.protected_evicted;
        total.refused += now.refused;
        self.pressure.set(total);
        decision
    }
}

/// A valid US number from a small pseudo-random generator (xorshift), never in the victims' ranges.
fn random_us_number(state: &mut u64) -> String {
    const AREAS: [u32; 12] = [212, 213, 312, 305, 404, 617, 702, 713, 801, 206, 503, 602];
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let area = AREAS[(*state % AREAS.len() as u64) as usize];
    let exchange = 200 + (*state >> 8) % 700;
    let line = (*state >> 20) % 10_000;
    format!("+1{area}{exchange}{line:04}")
}

fn error(decision: &Decision) -> Option<&'static str> {
    decision.error_code().map(|c| c.as_str())
}

/// Sets up three victims' protection: a number in backoff, a prefix blocked for low conversion,
/// a block of adjacent numbers blocked. Returns a check that each still holds at `at_ms`.
fn protect_victims(h: &Harness) -> impl Fn(&Harness, u64) {
    let victim = "+14155550123".to_owned();
    assert_eq!(h.send(std::slice::from_ref(&victim), 1, 0).action, Action::Allow);
    assert_eq!(h.send(std::slice::from_ref(&victim), 1, 31_000).action, Action::Allow); // 2nd send: next wait 60 s
                                                                                        // Twenty sends in the prefix 131055, none confirmed: the twentieth blocks the prefix.
    let mut blocked = None;
    for i in 0..20u32 {
        let number = format!("+131055{}{:02}{:02}", 5 + i % 4, i, i);
        blocked = Some(h.send(&[number], 100 + i, 40_000 + u64::from(i)));
    }
    assert_eq!(blocked.as_ref().and_then(error), Some("low_conversion"));
    // Five distinct numbers of one block: the fifth blocks the block.
    for i in 0..5u32 {
        let d = h.send(&[format!("+16175550{:03}", 100 + i)], 200 + i, 50_000 + u64::from(i));
        assert_eq!(d.action == Action::Block, i == 4, "adjacency send {i}: {d:?}");
    }
    move |h: &Harness, at: u64| {
        assert_eq!(
            error(&h.send(std::slice::from_ref(&victim), 9, at)),
            Some("backoff"),
            "the victim's backoff"
        );
        assert_eq!(error(&h.send(&["+13105599999".to_owned()], 10, at)), Some("low_conversion"));
        assert_eq!(error(&h.send(&["+16175550177".to_owned()], 11, at)), Some("adjacent_numbers"));
    }
}

#[test]
fn a_throttled_client_flooding_five_numbers_per_request_washes_nothing_out() {
    let h = Harness { policy: policy(), inner: MemoryStore::new(), pressure: Cell::default() };
    let still_protected = protect_victims(&h);
    let mut state = 0x1234_5678_9abc_def1;
    let mut flood = |i: u64| {
        let numbers: Vec<String> = (0..5).map(|_| random_us_number(&mut state)).collect();
        h.send(&numbers, 77, 60_000 + i / 4).action
    };
    // Five numbers per request against a per-IP burst of 5: the first request is all it gets.
    assert_eq!(flood(0), Action::Allow);
    let writes_before = h.inner.writes();
    let refused = (1..20_000u64).filter(|i| flood(*i) != Action::Allow).count();
    assert_eq!(refused, 19_999);
    let writes = h.inner.writes() - writes_before;
    assert_eq!(writes, 0, "19,999 refused requests wrote {writes} buckets");
    still_protected(&h, 66_000);
}

#[test]
fn a_flood_of_random_numbers_from_many_clients_evicts_history_not_blocks() {
    let h = Harness { policy: policy(), inner: MemoryStore::new(), pressure: Cell::default() };
    let still_protected = protect_victims(&h);
    let mut state = 0x0fed_cba9_8765_4321;
    let mut allowed = 0;
    let requests = 30_000u64;
    for i in 0..requests {
        let number = random_us_number(&mut state);
        // ~3.5k requests/s from 100k distinct addresses, as in the Envoy flood.
        let ip = 0x0a00_0000 + (i as u32).wrapping_mul(2_654_435_761) % 100_000;
        if h.send(&[number], ip, 60_000 + i * 2 / 7).action == Action::Allow {
            allowed += 1;
        }
    }
    let pressure = h.pressure.get();
    eprintln!("flood: {allowed} of {requests} allowed; store pressure {pressure:?}");
    assert!(pressure.history_evicted > 10_000, "the flood must fill the store: {pressure:?}");
    assert_eq!(pressure.protected_evicted, 0, "{pressure:?}");
    assert!(allowed > requests / 2, "the flood itself was mostly allowed ({allowed}): it fills the store");
    let buckets = h.inner.len();
    assert!(buckets <= 4096, "{buckets} physical keys");
    still_protected(&h, 60_000 + requests * 2 / 7 + 1);
}
