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

/// Two solved sends of a challenged conversion scope in flight at once: each peek counts the
/// scope's solved sends without the other's, and the commits count both. When the second commit
/// turns the challenge into a block, that send is refused, as a peek after the first commit
/// would have refused it; a token satisfies a challenge, not a block.
#[test]
fn a_solved_send_whose_commit_finds_the_challenge_turned_into_a_block_is_refused() {
    use pumpguard_core::{Action, TokenVerdict};
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/scenarios/180-conversion-challenge-judges-solved-sends.json"
    ))
    .unwrap();
    let scenario: serde_json::Value = serde_json::from_str(&text).unwrap();
    let policy = Policy::from_json(&scenario["policy"].to_string()).unwrap();
    let store = MemoryStore::new();
    let plain = [("content-type", "application/json")];
    let solved = [("content-type", "application/json"), ("cf-turnstile-response", "pass")];
    let body = |i: u32| format!("{{\"phone\": \"+141555520{i:02}\"}}");
    let at = |i: u32| Timestamp::from_millis(u64::from(i) * 1000);
    let valid = |_: &str| TokenVerdict::Valid { solver: None };
    let no_lookup = |_: &pumpguard_core::intel::NumberLookup| {
        pumpguard_core::intel::LookupAnswer::Unavailable { detail: "no provider".into() }
    };
    for i in 1..=4 {
        let b = body(i);
        let d = policy.decide(&support::post("/api/otp", &b, &plain, 7), at(i), &store);
        assert_eq!(d.action, if i == 4 { Action::Challenge } else { Action::Allow }, "send {i}");
    }
    for i in 5..=6 {
        let b = body(i);
        let d =
            policy.decide_with(&support::post("/api/otp", &b, &solved, 7), at(i), &store, valid, no_lookup);
        assert_eq!(d.action, Action::Allow, "solved send {i}");
    }
    // Sends 7 and 8 peek together: each sees two solved sends before it, a challenge.
    let (b7, b8) = (body(7), body(8));
    let (r7, r8) = (support::post("/api/otp", &b7, &solved, 7), support::post("/api/otp", &b8, &solved, 7));
    let in_flight: Vec<_> = [(&r7, at(7)), (&r8, at(8))]
        .into_iter()
        .map(|(req, now)| {
            let prepared = policy.prepare(req, now);
            let peeked = policy.peek_checks(prepared.checks(), now, &store);
            let concluded = policy.conclude(prepared, &peeked);
            assert_eq!(concluded.action, Action::Challenge);
            (policy.resolve_token(concluded, &TokenVerdict::Valid { solver: None }), now)
        })
        .collect();
    let actions: Vec<Action> =
        in_flight.into_iter().map(|(d, now)| policy.commit(d, now, &store).action).collect();
    // The third solved send is counted; the fourth (min_sends 4, none confirmed) blocks.
    assert_eq!(actions, [Action::Allow, Action::Block]);
    let b9 = body(9);
    let after =
        policy.decide_with(&support::post("/api/otp", &b9, &solved, 7), at(9), &store, valid, no_lookup);
    assert_eq!(after.action, Action::Block, "a token does not lift the block");
}

/// A trusted number in a scope a `skip_trusted` rule blocks is spared, and the commit that runs
/// the blocked check again (its key did not move since the peek) neither refuses it nor reports
/// the finding twice.
#[test]
fn a_trusted_number_in_a_blocked_scope_is_spared_through_the_commit() {
    use pumpguard_core::{Action, TokenVerdict};
    // Scenario 180's policy, its prefix rule sparing numbers the reputation rule trusts.
    let policy = Policy::from_json(include_str!("support/trusting-prefix-conversion.json")).unwrap();
    let store = MemoryStore::new();
    let plain = [("content-type", "application/json")];
    let solved = [("content-type", "application/json"), ("cf-turnstile-response", "pass")];
    let body = |i: u32| format!("{{\"phone\": \"+141555520{i:02}\"}}");
    let at = |ms: u64| Timestamp::from_millis(ms);
    let valid = |_: &str| TokenVerdict::Valid { solver: None };
    let no_lookup = |_: &pumpguard_core::intel::NumberLookup| {
        pumpguard_core::intel::LookupAnswer::Unavailable { detail: "no provider".into() }
    };
    // The returning user's number, trusted once its code is entered.
    let returning = body(99);
    assert_eq!(
        policy.decide(&support::post("/api/otp", &returning, &plain, 9), at(0), &store).action,
        Action::Allow
    );
    let confirmed = policy.decide(&support::post("/api/otp/verify", &returning, &plain, 9), at(500), &store);
    assert_eq!(confirmed.action, Action::Allow);
    let entered = pumpguard_core::routes::ConfirmResponse { status: 200, headers: &[], body: None };
    policy.record_confirm(&confirmed, &entered, at(500), &store);
    // The prefix is pumped: challenged, then blocked by its solved sends.
    for i in 1..=8 {
        let b = body(i);
        let headers: &[(&str, &str)] = if i > 4 { &solved } else { &plain };
        policy.decide_with(
            &support::post("/api/otp", &b, headers, 7),
            at(1_000 * u64::from(i)),
            &store,
            valid,
            no_lookup,
        );
    }
    let b = body(9);
    let blocked =
        policy.decide_with(&support::post("/api/otp", &b, &solved, 7), at(9_000), &store, valid, no_lookup);
    assert_eq!(blocked.action, Action::Block, "{blocked:?}");
    let spared = policy.decide(&support::post("/api/otp", &returning, &plain, 9), at(10_000), &store);
    assert_eq!(spared.action, Action::Allow, "{spared:?}");
    let findings: Vec<_> =
        spared.reasons.iter().filter(|r| r.rule.as_deref() == Some("prefix-conversion")).collect();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].spared, "{findings:?}");
}

/// A refused request writes nothing but a block it starts. Its peek counts its numbers in
/// order, so five numbers of one hundred-block start an `adjacent` block there; against the
/// store that step alone starts none, and must then write nothing: else each refused request
/// would leave a sighting, and four of them (no SMS sent) would shut a real user's block.
#[test]
fn a_refused_request_stores_no_count_its_peek_escalated_on_its_own_numbers() {
    let policy = Policy::from_json(
        r#"{"version":1,"routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/api/otp/send"}},
            "extract":{"json_keys":["phone"]}}],
            "rules":[{"id":"walk","action":"block","adjacent":{"suffix_digits":2,"max_distinct":4,
              "window_seconds":600,"block_seconds":900,"max_block_seconds":3600}}]}"#,
    )
    .unwrap();
    let store = MemoryStore::new();
    let headers = [("content-type", "application/json")];
    let mut next = 0u32;
    for round in 0..10u64 {
        let numbers: Vec<String> = (0..5)
            .map(|_| {
                next += 1;
                format!("{{\"phone\":\"+141555501{:02}\"}}", next + u32::from(next >= 42))
            })
            .collect();
        let body = format!("{{\"recipients\":[{}]}}", numbers.join(","));
        let writes = store.writes();
        let d = policy.decide(&request(&body, &headers, 1), Timestamp::from_millis(round * 1000), &store);
        assert_eq!(d.error_code().map(|c| c.as_str()), Some("adjacent_numbers"), "round {round}");
        assert_eq!(store.writes(), writes, "round {round}: refused, nothing stored");
    }
    let body = r#"{"phone":"+14155550142"}"#;
    let d = policy.decide(&request(body, &headers, 2), Timestamp::from_millis(20_000), &store);
    assert_eq!(d.action, pumpguard_core::Action::Allow, "{:?}", d.reasons);
    // A block the store itself reaches is stored by the request that starts it: four numbers
    // sent one by one, the fifth refused, and the sixth refused by the stored block.
    for (i, n) in [43u32, 44, 45, 46, 47].iter().enumerate() {
        let body = format!("{{\"phone\":\"+141555502{n:02}\"}}");
        let at = Timestamp::from_millis(30_000 + i as u64 * 1000);
        let d = policy.decide(&request(&body, &headers, 3), at, &store);
        assert_eq!(d.action == pumpguard_core::Action::Allow, i < 4, "number {i}");
    }
    let body = r#"{"phone":"+14155550250"}"#;
    let d = policy.decide(&request(body, &headers, 3), Timestamp::from_millis(40_000), &store);
    assert_eq!(d.error_code().map(|c| c.as_str()), Some("adjacent_numbers"));
}
