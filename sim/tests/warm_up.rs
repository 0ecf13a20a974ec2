//! `legit.warm_up_hours`: real users before the period feed the guard's memory and are never
//! scored; without it a run is what it was.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use pumpguard_core::Policy;
use pumpguard_sim::guard::InProcess;
use pumpguard_sim::mix::Mix;
use pumpguard_sim::prices::Prices;
use pumpguard_sim::scoreboard::Scoreboard;
use pumpguard_sim::sim::{self, Kind, Run, Truth};

fn example_policy() -> Policy {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policy.json")).unwrap();
    Policy::from_json(&text).unwrap()
}

/// A policy that allows everything: the guard's answers cannot depend on what it has seen.
fn allow_all() -> Policy {
    Policy::from_json(
        r#"{"version": 1, "routes": [
  {"id": "otp-send", "kind": "send", "match": {"methods": ["POST"], "path": {"exact": "/api/otp/send"}},
   "extract": {"json_keys": ["phone"]}},
  {"id": "otp-verify", "kind": "confirm", "match": {"methods": ["POST"], "path": {"exact": "/api/otp/verify"}},
   "extract": {"json_keys": ["phone"]}}], "rules": []}"#,
    )
    .unwrap()
}

/// One hour, fewer users, two campaigns; `legit_extra` is added to the `legit` object as written
/// in a mix file.
fn small_mix(legit_extra: &str) -> Mix {
    let text = format!(
        r#"{{"hours": 1, "legit": {{"sessions_per_day": 4000 {legit_extra}}},
            "campaigns": {}}}"#,
        serde_json::to_string(
            &Mix::default()
                .campaigns
                .into_iter()
                .filter(|c| ["resi-botnet", "browser-twins"].contains(&c.name.as_str()))
                .map(|c| pumpguard_sim::mix::Campaign { start_hours: 0.0, hours: 1.0, ..c })
                .collect::<Vec<_>>()
        )
        .unwrap()
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Every request as sent and answered, and every scored session.
fn fingerprint(run: &Run) -> (Vec<String>, Vec<String>) {
    let requests = run
        .records
        .iter()
        .zip(&run.sent)
        .map(|(r, s)| format!("{} {:?} {:?}", serde_json::to_string(r).unwrap(), s.truth, s.verdict))
        .collect();
    let users = run.users.iter().map(|u| format!("{u:?}")).collect();
    (requests, users)
}

#[test]
fn no_warm_up_is_a_run_without_the_field() {
    let without = small_mix("");
    let zero = small_mix(r#", "warm_up_hours": 0"#);
    assert_eq!(without.legit.warm_up_hours, 0.0, "the default is no warm-up");
    let a = sim::run(&without, 5, &mut InProcess::new(example_policy())).unwrap();
    let b = sim::run(&zero, 5, &mut InProcess::new(example_policy())).unwrap();
    assert!(a.users.len() > 50 && a.sent.len() > 200);
    assert_eq!(fingerprint(&a), fingerprint(&b));
}

#[test]
fn warm_up_sessions_are_history_and_never_scored() {
    let base = small_mix("");
    let warm = small_mix(r#", "warm_up_hours": 3"#);
    let start = warm.start_ms;
    let cold_run = sim::run(&base, 3, &mut InProcess::new(example_policy())).unwrap();
    let warm_run = sim::run(&warm, 3, &mut InProcess::new(example_policy())).unwrap();

    // Only the period's sessions are scored, and they are the same sessions.
    assert!(warm_run.users.iter().all(|u| u.first_attempt_ms >= start));
    let arrivals =
        |run: &Run| run.users.iter().map(|u| (u.first_attempt_ms, u.segment, u.country)).collect::<Vec<_>>();
    assert_eq!(arrivals(&warm_run), arrivals(&cold_run));

    // Every real user's request before the period is history; the warm-up brings many.
    assert!(warm_run.sent.iter().filter(|s| s.at_ms < start).all(|s| matches!(s.truth, Truth::History(_))));
    let history_sends = |run: &Run| {
        run.sent.iter().filter(|s| s.kind == Kind::Send && matches!(s.truth, Truth::History(_))).count()
    };
    let (cold_history, warm_history) = (history_sends(&cold_run), history_sends(&warm_run));
    assert!(
        warm_history > cold_history + 2 * cold_run.users.len(),
        "{warm_history} history sends with warm-up, {cold_history} without, {} sessions",
        cold_run.users.len()
    );

    // The scoreboard counts the period's sessions and requests alone.
    let prices = Prices::built_in();
    let (cold, warm) = (Scoreboard::of(&cold_run, &prices), Scoreboard::of(&warm_run, &prices));
    assert_eq!(warm.legit.sessions, cold.legit.sessions);
    assert_eq!(warm.legit.sessions, warm_run.users.len() as u64);
    let legit_sends =
        warm_run.sent.iter().filter(|s| s.kind == Kind::Send && matches!(s.truth, Truth::Legit(_))).count();
    assert_eq!(warm.legit.sends, legit_sends as u64);
    assert!(warm.legit.sends <= cold.legit.sends * 3 / 2, "{} vs {}", warm.legit.sends, cold.legit.sends);
}

#[test]
fn warm_up_leaves_the_period_drawn_as_it_was() {
    // With answers that cannot depend on the guard's memory, the period's requests are the same
    // with and without the warm-up: its users draw from a stream of their own.
    let cold = sim::run(&small_mix(""), 4, &mut InProcess::new(allow_all())).unwrap();
    let warm = sim::run(&small_mix(r#", "warm_up_hours": 2"#), 4, &mut InProcess::new(allow_all())).unwrap();
    let period = |run: &Run| -> Vec<String> {
        run.records
            .iter()
            .zip(&run.sent)
            .filter(|(_, s)| !matches!(s.truth, Truth::History(_)))
            .map(|(r, s)| format!("{} {:?}", serde_json::to_string(r).unwrap(), s.truth))
            .collect()
    };
    assert!(warm.sent.len() > cold.sent.len());
    assert_eq!(period(&warm), period(&cold));
    assert_eq!(fingerprint(&warm).1, fingerprint(&cold).1);
}

#[test]
fn warm_up_hours_are_checked() {
    for bad in [-1.0, f64::NAN, 24.0 * 14.0 + 1.0] {
        let mut mix = small_mix("");
        mix.legit.warm_up_hours = bad;
        let error = sim::run(&mix, 1, &mut InProcess::new(allow_all())).err().unwrap();
        assert!(error.contains("legit.warm_up_hours"), "{error}");
    }
}

#[test]
fn the_warm_up_lookups_are_not_the_periods() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/recommended-intel.json"))
            .unwrap();
    let intel = pumpguard_sim::intel::IntelModel { detects: 0.9, false_flags: 0.0005, ..Default::default() };
    let lookups = |legit_extra: &str| {
        let mix = Mix { number_intel: Some(intel), ..small_mix(legit_extra) };
        let run = sim::run(&mix, 2, &mut InProcess::new(Policy::from_json(&text).unwrap())).unwrap();
        let history = run.sent.iter().filter(|s| matches!(s.truth, Truth::History(_))).count();
        (Scoreboard::of(&run, &Prices::built_in()).number_lookups, history)
    };
    let (cold, cold_history) = lookups("");
    let (warm, warm_history) = lookups(r#", "warm_up_hours": 3"#);
    assert!(cold > 50, "{cold} lookups");
    assert!(warm_history > cold_history + 1000, "{warm_history} vs {cold_history}");
    // The warm-up's users, several times the period's, would show as several times the lookups.
    assert!(warm <= cold * 5 / 4, "{warm} lookups with a warm-up, {cold} without");
}
