//! The closed loop against the core in process: determinism, users and bots reacting to what
//! they are told, and ground truth kept out of the traffic.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use pumpguard_core::{Action, Policy};
use pumpguard_sim::guard::InProcess;
use pumpguard_sim::mix::{Campaign, Mix};
use pumpguard_sim::prices::Prices;
use pumpguard_sim::scoreboard::Scoreboard;
use pumpguard_sim::sim::{self, Kind, Run, Truth};

const ROUTES: &str = r#""routes": [
  {"id": "otp-send", "kind": "send", "match": {"methods": ["POST"], "path": {"exact": "/api/otp/send"}},
   "extract": {"json_keys": ["phone"], "token": {"header": "cf-turnstile-response"}}},
  {"id": "otp-verify", "kind": "confirm", "match": {"methods": ["POST"], "path": {"exact": "/api/otp/verify"}},
   "extract": {"json_keys": ["phone"]}}]"#;

fn policy(rules: &str, extra: &str) -> Policy {
    let text = format!(r#"{{"version": 1, {ROUTES}, {extra} "rules": [{rules}]}}"#);
    Policy::from_json(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn example_policy() -> Policy {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policy.json")).unwrap();
    Policy::from_json(&text).unwrap()
}

/// One hour, fewer users, and only the named campaigns.
fn small_mix(campaigns: &[&str]) -> Mix {
    let mut mix = Mix { hours: 1.0, ..Mix::default() };
    mix.legit.sessions_per_day = 4000.0;
    mix.campaigns.retain(|c| campaigns.contains(&c.name.as_str()));
    for c in &mut mix.campaigns {
        c.start_hours = 0.0;
        c.hours = 1.0;
    }
    mix
}

fn campaign<'a>(mix: &'a Mix, name: &str) -> (usize, &'a Campaign) {
    mix.campaigns.iter().enumerate().find(|(_, c)| c.name == name).unwrap()
}

fn fingerprint(run: &Run) -> Vec<String> {
    run.records
        .iter()
        .zip(&run.sent)
        .map(|(r, s)| format!("{} {:?}", serde_json::to_string(r).unwrap(), s.verdict))
        .collect()
}

#[test]
fn a_seed_gives_one_run() {
    let mix = small_mix(&["resi-botnet", "low-and-slow"]);
    let a = sim::run(&mix, 7, &mut InProcess::new(example_policy())).unwrap();
    let b = sim::run(&mix, 7, &mut InProcess::new(example_policy())).unwrap();
    let c = sim::run(&mix, 8, &mut InProcess::new(example_policy())).unwrap();
    assert!(a.sent.len() > 100);
    assert_eq!(fingerprint(&a), fingerprint(&b));
    assert_ne!(fingerprint(&a), fingerprint(&c));
}

#[test]
fn ground_truth_never_reaches_the_guard() {
    let mix = small_mix(&["resi-botnet", "browser-twins"]);
    let run = sim::run(&mix, 3, &mut InProcess::new(example_policy())).unwrap();
    for record in &run.records {
        let text = serde_json::to_string(record).unwrap();
        for word in ["resi-botnet", "browser-twins", "campaign", "legit", "truth"] {
            assert!(!text.contains(word), "{word} in {text}");
        }
    }
}

#[test]
fn challenged_users_come_back_with_a_solved_token() {
    let mix = small_mix(&["captcha-replay", "captcha-farm"]);
    let policy = policy(
        r#"{"id": "human", "action": "challenge", "captcha": {}}"#,
        r#""captcha": {"provider": "turnstile", "secret": "s"},"#,
    );
    let run = sim::run(&mix, 1, &mut InProcess::new(policy)).unwrap();
    let board = Scoreboard::of(&run, &Prices::built_in());
    let legit = &board.legit;
    assert_eq!(legit.sessions_challenged, legit.sessions, "every user is challenged first");
    // Those who solve it get their SMS, a few seconds later; the rest give up.
    let refused = legit.refused_share;
    assert!(refused > 0.005 && refused < 0.1, "refused share {refused}");
    assert!(legit.sessions_delayed > legit.sessions * 8 / 10);
    assert!(legit.delay_p50_s > 3.0 && legit.delay_p50_s < 60.0, "{}", legit.delay_p50_s);
    // One captured token verifies once; its replays are refused.
    let (i, _) = campaign(&run.mix, "captcha-replay");
    let replay = &board.campaigns[i];
    assert!(replay.sends > 20);
    assert_eq!(replay.reached_origin, 1, "{replay:?}");
    let invalid = run
        .sent
        .iter()
        .filter(|s| s.truth == Truth::Campaign(i) && s.verdict.error.as_deref() == Some("captcha_invalid"));
    assert_eq!(invalid.count() as u64, replay.sends - 1);
    // A campaign paying a solving service comes back with a fresh token for each challenge:
    // every attempt reaches origin, each as two requests counted as one attempt.
    let (f, _) = campaign(&run.mix, "captcha-farm");
    let farm = &board.campaigns[f];
    assert!(farm.sends > 20);
    assert_eq!((farm.reached_origin, farm.challenged), (farm.sends, 0), "{farm:?}");
    let requests =
        run.sent.iter().filter(|s| s.truth == Truth::Campaign(f) && s.kind == Kind::Send).count() as u64;
    assert_eq!(requests, 2 * farm.sends);
}

#[test]
fn throttled_users_wait_retry_after_when_patient_enough() {
    let mut mix = small_mix(&[]);
    mix.legit.resend_share = 1.0;
    mix.legit.patience_median_s = 10_000.0;
    let policy = policy(
        r#"{"id": "per-number", "action": "throttle", "rate_limit": {"key": ["number"], "rate": 1, "per_seconds": 300, "burst": 1}}"#,
        "",
    );
    let run = sim::run(&mix, 2, &mut InProcess::new(policy)).unwrap();
    let mut retries = 0;
    for (i, s) in run.sent.iter().enumerate() {
        if s.kind != Kind::Send || s.verdict.action != Some(Action::Throttle) {
            continue;
        }
        let wait_ms = s.verdict.retry_after.unwrap() * 1000;
        let next = run.sent[i + 1..].iter().find(|n| n.kind == Kind::Send && n.number == s.number).unwrap();
        assert!(next.at_ms >= s.at_ms + wait_ms, "retried after {} ms, told {wait_ms}", next.at_ms - s.at_ms);
        assert_eq!(next.verdict.action, Some(Action::Allow));
        retries += 1;
    }
    assert!(retries > 20, "{retries}");
}

#[test]
fn adaptive_campaigns_drop_refused_destinations() {
    let mix = small_mix(&["adaptive-irsf"]);
    let geo = r#"{"id": "geo", "action": "block", "country": {"allow": ["US", "CA", "GB", "DE", "FR"]}}"#;
    let run = sim::run(&mix, 4, &mut InProcess::new(policy(geo, ""))).unwrap();
    let (i, _) = campaign(&run.mix, "adaptive-irsf");
    let bot: Vec<_> =
        run.sent.iter().filter(|s| s.truth == Truth::Campaign(i) && s.kind == Kind::Send).collect();
    let blocked = |part: &[&pumpguard_sim::sim::Sent]| {
        part.iter().filter(|s| s.verdict.action == Some(Action::Block)).count() as f64
            / part.len().max(1) as f64
    };
    let third = bot.len() / 3;
    let (early, late) = (blocked(&bot[..30]), blocked(&bot[bot.len() - third..]));
    assert!(early > 0.25 && late < 0.02, "blocked early {early}, late {late}");
    // The naive version of the same campaign keeps hitting the wall.
    let mut naive = mix.clone();
    naive.campaigns[0].adaptive = false;
    let run = sim::run(&naive, 4, &mut InProcess::new(policy(geo, ""))).unwrap();
    let board = Scoreboard::of(&run, &Prices::built_in());
    assert!(board.campaigns[0].blocked as f64 > board.campaigns[0].sends as f64 * 0.4);
}

/// A campaign that reads its numbers' SMS enters their codes as a user would: origin accepts
/// them, so a conversion rule sees a scope that converts, and never fires.
#[test]
fn a_campaign_that_enters_its_codes_confirms_what_reached_origin() {
    let mut mix = small_mix(&["low-and-slow"]);
    let conversion = r#"{"id": "prefix-conversion", "action": "block", "conversion":
        {"scope": {"prefix": 6}, "min_sends": 8, "min_ratio": 0.2, "window_seconds": 3600, "block_seconds": 3600}}"#;
    let refused = |run: &Run| {
        run.sent
            .iter()
            .filter(|s| s.truth == Truth::Campaign(0) && s.verdict.action == Some(Action::Block))
            .count()
    };
    let run = sim::run(&mix, 5, &mut InProcess::new(policy(conversion, ""))).unwrap();
    assert!(refused(&run) > 5, "a trickle nobody confirms is refused: {}", refused(&run));

    mix.campaigns[0].enters_codes_share = 1.0;
    let run = sim::run(&mix, 5, &mut InProcess::new(policy(conversion, ""))).unwrap();
    let bot = |kind: Kind| {
        run.sent
            .iter()
            .zip(&run.records)
            .filter(move |(s, _)| s.truth == Truth::Campaign(0) && s.kind == kind)
    };
    let reached: Vec<&str> = bot(Kind::Send)
        .filter(|(s, _)| s.verdict.action == Some(Action::Allow))
        .map(|(s, _)| s.number.as_str())
        .collect();
    let confirms: Vec<_> = bot(Kind::Confirm).collect();
    assert!(reached.len() > 20, "{}", reached.len());
    // Every send that reached origin is confirmed (the last ones may still be waiting), with the
    // right code, for a number that was sent to.
    assert!(confirms.len() + 3 >= reached.len(), "{} confirms of {}", confirms.len(), reached.len());
    for (sent, record) in &confirms {
        assert_eq!(record.response_status, Some(200));
        assert!(reached.contains(&sent.number.as_str()), "{}", sent.number);
    }
    assert_eq!(refused(&run), 0);
}

#[test]
fn default_mix_scores_every_campaign_and_segment() {
    let mix = Mix { hours: 2.0, ..Mix::default() };
    let run = sim::run(&mix, 1, &mut InProcess::new(example_policy())).unwrap();
    let board = Scoreboard::of(&run, &Prices::built_in());
    assert_eq!(board.campaigns.len(), mix.campaigns.len());
    assert!(board.legit.sessions > 500 && board.legit.confirmed > board.legit.sessions / 2);
    let json = serde_json::to_value(&board).unwrap();
    assert!(json["pumped"]["reached_share"].as_f64().is_some());
    let page = pumpguard_sim::report::html(
        &run,
        Some(&board),
        &pumpguard_sim::report::ReportInfo {
            title: "t",
            policy: "p",
            shadow_rules: &[],
            guard: "in process",
        },
    );
    assert!(page.matches("<svg").count() >= 3);
    // Self-contained: nothing to fetch, nothing to run (the SVG namespace URI is a name, not a fetch).
    for fetch in ["src=", "href=", "<script", "<link", "url("] {
        assert!(!page.contains(fetch), "{fetch} in the report");
    }
}

#[test]
fn written_traffic_replays_to_the_same_answers() {
    // The records are the whole input: judged again open-loop, in order, by a fresh guard,
    // they get the answers the closed loop got.
    let mix = small_mix(&["resi-botnet", "sequential-block", "burst-few-ips"]);
    let run = sim::run(&mix, 5, &mut InProcess::new(example_policy())).unwrap();
    let mut fresh = InProcess::new(example_policy());
    for (record, sent) in run.records.iter().zip(&run.sent) {
        assert_eq!(pumpguard_sim::guard::Guard::judge(&mut fresh, record).unwrap(), sent.verdict);
    }
}

/// The device siteverify names for a record's solved token, if any (the corpus' convention).
fn solving_device(record: &pumpguard_core::traffic::TrafficRecord) -> Option<String> {
    let (_, token) = record.headers.iter().find(|(name, _)| name == "cf-turnstile-response")?;
    match pumpguard_core::scenario::simulated_siteverify(token) {
        pumpguard_core::TokenVerdict::Valid { solver } => solver,
        _ => None,
    }
}

#[test]
fn a_farm_on_shared_ids_solves_on_the_ids_real_users_share() {
    let mut mix = small_mix(&["captcha-farm"]);
    let (farm, _) = campaign(&mix, "captcha-farm");
    mix.campaigns[farm].solves_on_shared_ids = true;
    mix.campaigns[farm].solver_devices = Some(2);
    let captcha = r#""captcha": {"provider": "turnstile", "secret": "s"},"#;
    let challenge_all = || policy(r#"{"id": "c", "action": "challenge", "captcha": {}}"#, captcha);
    let Err(err) = sim::run(&mix, 3, &mut InProcess::new(challenge_all())) else {
        panic!("a farm on shared ids needs the ids")
    };
    assert!(err.contains("solves_on_shared_ids"), "{err}");

    mix.captcha_solver_ids =
        Some(pumpguard_sim::solver_ids::SolverIdModel { shared_share: 0.5, shared_ids: 4 });
    let run = sim::run(&mix, 3, &mut InProcess::new(challenge_all())).unwrap();
    let devices = |of: fn(&Truth) -> bool| -> std::collections::BTreeSet<String> {
        run.sent
            .iter()
            .zip(&run.records)
            .filter(|(s, _)| of(&s.truth))
            .filter_map(|(_, r)| solving_device(r))
            .collect()
    };
    let farm_devices = devices(|t| matches!(t, Truth::Campaign(_)));
    let user_devices = devices(|t| matches!(t, Truth::Legit(_)));
    assert_eq!(farm_devices.len(), 2, "{farm_devices:?}");
    assert!(farm_devices.is_subset(&user_devices), "{farm_devices:?} among {user_devices:?}");
}

/// The edge scores the client (address, user agent) asking for a number, not the request's
/// place in the run: a farm's retry with a solved token carries its first send's score, and
/// under another policy (one that blocks every send instead of challenging it) the same client
/// asking for the same number scores the same.
#[test]
fn the_edge_scores_an_attempt_alike_on_every_request_of_it() {
    let mut mix = small_mix(&["captcha-farm", "peak-rider", "premium-ranges"]);
    mix.edge_bot_score =
        Some(pumpguard_sim::bot_score::BotScoreModel { bots_scored_low: 0.5, humans_scored_low: 0.2 });
    let captcha = r#""captcha": {"provider": "turnstile", "secret": "s"},"#;
    let challenge_all = policy(r#"{"id": "c", "action": "challenge", "captcha": {}}"#, captcha);
    let run = sim::run(&mix, 5, &mut InProcess::new(challenge_all)).unwrap();
    let score = |i: usize| run.records[i].edge.as_ref().and_then(|e| e.bot_score);
    let retries: Vec<(usize, usize)> =
        run.sent.iter().enumerate().filter_map(|(i, s)| s.retry_of.map(|first| (i, first))).collect();
    assert!(retries.len() > 20, "{}", retries.len());
    for (retry, first) in retries {
        assert!(score(retry).is_some());
        assert_eq!(score(retry), score(first), "retry {retry} of {first}");
    }

    let deny = r#"{"id": "deny", "action": "block", "country": {"deny": ["US", "GB", "DE", "FR"]}}"#;
    let other = sim::run(&mix, 5, &mut InProcess::new(policy(deny, captcha))).unwrap();
    let campaign_scores = |run: &Run| -> std::collections::BTreeMap<String, Option<u8>> {
        run.sent
            .iter()
            .zip(&run.records)
            .filter(|(s, _)| matches!(s.truth, Truth::Campaign(_)))
            .map(|(s, r)| {
                let agent = r.headers.iter().find(|(name, _)| name == "user-agent");
                (
                    format!("{} {:?} {agent:?}", s.number, r.client_ip),
                    r.edge.as_ref().and_then(|e| e.bot_score),
                )
            })
            .collect()
    };
    let (challenged, allowed) = (campaign_scores(&run), campaign_scores(&other));
    let shared: Vec<_> = challenged.keys().filter(|k| allowed.contains_key(*k)).collect();
    assert!(shared.len() > 20, "{}", shared.len());
    assert!(shared.iter().all(|k| challenged[*k] == allowed[*k]));
}
