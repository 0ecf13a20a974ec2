//! The shipped `policies/recommended.json` over the default mix, one fixed seed: a floor under
//! what it achieves today, so a change that weakens it fails here. The floor is not the goal
//! (≥ 99% of pumped SMS stopped, ≤ 0.1% of real users refused, ≤ 2% challenged); where the
//! policy stands against the goal, per campaign and over seeds, is in docs/detection.md.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use pumpguard_core::Policy;
use pumpguard_sim::guard::InProcess;
use pumpguard_sim::mix::Mix;
use pumpguard_sim::prices::Prices;
use pumpguard_sim::scoreboard::Scoreboard;
use pumpguard_sim::sim;

/// A provider's score is graded: sure (75 and up) on 90% of pumped numbers and 0.05% of real
/// ones, elevated (50–74) on 7% of pumped and 0.5% of real ones. An assumption about provider
/// quality (docs/simulator.md), the one docs/detection.md measures against.
fn graded_provider() -> pumpguard_sim::intel::IntelModel {
    pumpguard_sim::intel::IntelModel {
        detects: 0.9,
        suspects: 0.07,
        false_flags: 0.0005,
        false_suspects: 0.005,
        ..Default::default()
    }
}

/// The edge in front scores 70% of campaign attempts and 1% of real users' as likely automated:
/// the assumption docs/detection.md measures against (docs/simulator.md).
fn edge_scores() -> pumpguard_sim::bot_score::BotScoreModel {
    pumpguard_sim::bot_score::BotScoreModel { bots_scored_low: 0.7, humans_scored_low: 0.01 }
}

struct Measured {
    reach: f64,
    refused: f64,
    challenged: f64,
    lookups: u64,
    lookup_cost: f64,
    /// Each campaign's share of sends that reached origin.
    campaigns: Vec<(String, f64)>,
    summary: String,
}

impl Measured {
    fn reach_of(&self, campaign: &str) -> f64 {
        self.campaigns
            .iter()
            .find(|(name, _)| name == campaign)
            .map(|(_, r)| *r)
            .unwrap_or_else(|| panic!("{campaign}"))
    }
}

/// A shipped policy's document, to measure as it is or edited.
fn policy_doc(policy: &str) -> serde_json::Value {
    let path = format!("{}/../policies/{policy}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn measure(policy: &str, mix: &Mix, seed: u64) -> Measured {
    measure_doc(&policy_doc(policy), mix, seed)
}

/// The scoreboard of `doc` over `mix` on `seed`.
fn board_of(doc: &serde_json::Value, mix: &Mix, seed: u64) -> Scoreboard {
    let policy = Policy::from_json(&doc.to_string()).unwrap();
    let run = sim::run(mix, seed, &mut InProcess::new(policy)).unwrap();
    Scoreboard::of(&run, &Prices::built_in())
}

fn measure_doc(doc: &serde_json::Value, mix: &Mix, seed: u64) -> Measured {
    let board = board_of(doc, mix, seed);
    let legit = &board.legit;
    let refused = legit.sessions_refused as f64 / legit.sessions as f64;
    let challenged = legit.sessions_challenged as f64 / legit.sessions as f64;
    let summary = format!(
        "pumped reached {:.4}, real refused {refused:.4}, challenged {challenged:.4}, lookups {}; {:?}",
        board.pumped.reached_share,
        board.number_lookups,
        board.campaigns.iter().map(|c| (c.name.as_str(), c.reached_share)).collect::<Vec<_>>()
    );
    Measured {
        reach: board.pumped.reached_share,
        refused,
        challenged,
        lookups: board.number_lookups,
        lookup_cost: board.number_lookup_cost,
        campaigns: board.campaigns.iter().map(|c| (c.name.clone(), c.reached_share)).collect(),
        summary,
    }
}

#[test]
fn recommended_policy_holds_its_floor_on_the_default_mix() {
    let m = measure("recommended.json", &Mix::default(), 1);
    let summary = &m.summary;
    // Seed 1 measured 0.341 / 0.0016 / 0.021 when this floor was set (0.049 challenged before
    // trusted numbers and the risk score).
    assert!(m.reach <= 0.38, "{summary}");
    assert!(m.refused <= 0.003, "{summary}");
    assert!(m.challenged <= 0.03, "{summary}");
    // What the request itself or a burst gives away is stopped whole.
    for campaign in ["premium-ranges", "irsf-unserved", "sequential-block", "burst-few-ips", "adaptive-irsf"]
    {
        assert!(m.reach_of(campaign) <= 0.02, "{campaign}: {summary}");
    }
    assert!(m.reach_of("captcha-replay") <= 0.02, "{summary}");
    // Proxies outside the numbers' countries are challenged; what adapts gets a fifth through.
    assert!(m.reach_of("resi-botnet") <= 0.3, "{summary}");
    assert!(m.reach_of("peak-rider") <= 0.35, "{summary}");
}

/// `policies/recommended-intel.json` with the graded provider: the real-user half of the goal
/// holds (≤ 0.1% refused, ≤ 2% challenged); pumped sends reaching origin stay near 2–3%, not the
/// goal's 1% (docs/detection.md says why).
#[test]
fn recommended_intel_policy_holds_its_floor_with_a_provider() {
    let provider = pumpguard_sim::intel::IntelModel { price_per_lookup: 0.01, ..graded_provider() };
    let mix = Mix { number_intel: Some(provider), ..Mix::default() };
    let m = measure("recommended-intel.json", &mix, 1);
    assert!((m.lookup_cost - m.lookups as f64 * 0.01).abs() < 1e-6, "{}", m.summary);
    let summary = &m.summary;
    // Seed 1 measured 0.0230 / 0.0003 / 0.0090 / 4779 lookups when this floor was set.
    assert!(m.reach <= 0.035, "{summary}");
    assert!(m.refused <= 0.001, "{summary}");
    assert!(m.challenged <= 0.02, "{summary}");
    // Lookups only for what would otherwise be sent, and not for trusted numbers.
    assert!(m.lookups > 0 && m.lookups < 5_500, "{summary}");
}

/// Against operators who send from an exit in each number's country (they read the policy),
/// the client-country signal is gone; a scope-wide rule must then challenge, not refuse, the
/// real users who share a pumped prefix.
#[test]
fn recommended_policies_spare_real_users_when_exits_match_the_numbers() {
    let mut mix = Mix::default();
    for campaign in &mut mix.campaigns {
        campaign.local_exits = true;
    }
    let plain = measure("recommended.json", &mix, 1);
    // Seed 1 measured 0.0016 refused (0.0087 with prefix-conversion blocking at once).
    assert!(plain.refused <= 0.003, "{}", plain.summary);
    mix.number_intel = Some(graded_provider());
    let intel = measure("recommended-intel.json", &mix, 1);
    assert!(intel.reach <= 0.035, "{}", intel.summary);
    assert!(intel.refused <= 0.001, "{}", intel.summary);
    assert!(intel.challenged <= 0.02, "{}", intel.summary);
}

/// While the provider is down (no provider in the mix: every lookup fails and
/// `on_unavailable: allow` sends), `intel-silent` stands in for the answer and the intel variant
/// decides as the base policy does, instead of letting the proxies `abroad` no longer
/// challenges alone through.
#[test]
fn recommended_intel_policy_falls_back_to_the_base_policy_while_the_provider_is_down() {
    let base = measure("recommended.json", &Mix::default(), 1);
    let down = measure("recommended-intel.json", &Mix::default(), 1);
    // Seed 1 measured 0.3438 for both when this was set (0.687 without intel-silent).
    assert!((down.reach - base.reach).abs() <= 0.01, "{} vs {}", down.summary, base.summary);
    assert!(down.refused <= base.refused + 0.001, "{} vs {}", down.summary, base.summary);
    assert!(down.challenged <= base.challenged + 0.005, "{} vs {}", down.summary, base.summary);
}

/// With the edge in front scoring requests (Cloudflare Bot Management; modelled as scoring 70%
/// of campaign requests and 1% of real ones as likely automated, an assumption), `edge-bot`
/// challenges what it scores under 30. Without scores the rule is inert (the other tests).
#[test]
fn recommended_policies_use_the_edge_bot_score_where_there_is_one() {
    let edge = edge_scores();
    let mix = Mix { edge_bot_score: Some(edge), ..Mix::default() };
    let plain = measure("recommended.json", &mix, 1);
    // Seed 1 measured 0.1665 / 0.0022 / 0.0330 when this floor was set (0.344 without scores).
    assert!(plain.reach <= 0.2, "{}", plain.summary);
    assert!(plain.refused <= 0.003, "{}", plain.summary);
    assert!(plain.challenged <= 0.04, "{}", plain.summary);
    let mix = Mix { number_intel: Some(graded_provider()), ..mix };
    let intel = measure("recommended-intel.json", &mix, 1);
    // Seed 1 measured 0.0111 / 0.0003 / 0.0172 when this floor was set; 0.0097 / 0.0011 /
    // 0.0161 since the elevated band weighs on the risk score.
    assert!(intel.reach <= 0.015, "{}", intel.summary);
    assert!(intel.refused <= 0.0015, "{}", intel.summary);
    assert!(intel.challenged <= 0.02, "{}", intel.summary);
}

/// A farm that pays for its CAPTCHAs passes every challenge, so each signal that only challenges
/// is lost on it. The intel variant weighs the provider's elevated band (50) and the edge's low
/// score (50) on the risk score, and blocks at 100: a number the provider suspects, sent by a
/// client the edge takes for a bot, is refused whatever the token. Either alone still only
/// challenges, so a real user needs both products wrong at once to be refused.
#[test]
fn intel_variant_blocks_when_the_provider_and_the_edge_both_suspect() {
    let edge = edge_scores();
    let mix = Mix { edge_bot_score: Some(edge), number_intel: Some(graded_provider()), ..Mix::default() };
    let shipped = policy_doc("recommended-intel.json");
    let (weighed, alone) = (measure_doc(&shipped, &mix, 1), measure_doc(&elevated_alone(&shipped), &mix, 1));
    // Seed 1 measured, when this floor was set: the farm 0.065 weighed and 0.097 alone; all
    // pumped sends 0.0085 and 0.0072 (the campaigns that do not solve take other paths through
    // the closed loop on this seed; over seeds 1-40 the means are 0.0062 and 0.0074, the farm's
    // pooled shares 0.050 and 0.090).
    assert_cut(&weighed, &alone, "captcha-farm", 0.07);
    assert!(weighed.reach <= alone.reach + 0.003, "{} / {}", weighed.summary, alone.summary);
    assert!(weighed.refused <= 0.0015, "{}", weighed.summary);
}

/// With Turnstile's ephemeral IDs (`mix.captcha_solver_ids`: 30% of real users on devices whose
/// id 200 ids stand for), `solver-conversion` blocks a solving device once four of its solved
/// sends in a day have under a quarter of their codes entered: a farm that solves on 5 devices
/// gets under half its sends through instead of all, while real users fare as without ids, even
/// when half of them share ten ids. Without ids (every figure above) the rule is inert.
#[test]
fn recommended_policy_judges_solving_devices_where_siteverify_names_them() {
    let with_ids = |shared_share: f64, shared_ids: u32| {
        let ids = pumpguard_sim::solver_ids::SolverIdModel { shared_share, shared_ids };
        let mut mix = Mix { captcha_solver_ids: Some(ids), ..Mix::default() };
        let farm = mix.campaigns.iter_mut().find(|c| c.name == "captcha-farm").unwrap();
        farm.solver_devices = Some(5);
        measure("recommended.json", &mix, 1)
    };
    let plain = measure("recommended.json", &Mix::default(), 1);
    let limited = with_ids(0.3, 200);
    assert!(plain.reach_of("captcha-farm") >= 0.99, "{}", plain.summary);
    // Seed 1 measured 0.43 for the farm and 0.275 overall (0.344 without ids) when this floor
    // was set.
    assert!(limited.reach_of("captcha-farm") <= 0.5, "{}", limited.summary);
    assert!(limited.reach <= plain.reach - 0.04, "{}", limited.summary);
    for m in [&limited, &with_ids(0.5, 10)] {
        assert!(m.refused <= plain.refused, "{} / {}", m.summary, plain.summary);
        assert!(m.challenged <= plain.challenged + 0.001, "{} / {}", m.summary, plain.summary);
    }
}

/// With a provider in front, the farm solves first and hears the provider's verdict after:
/// `count_intel_refusals` counts the solves whose number the provider refused against the device,
/// so a device reaches its fourth counted send on the numbers the provider catches, not only on
/// those it misses. Real users rarely solve for a number the provider refuses.
#[test]
fn intel_variant_counts_the_solves_the_provider_refuses_against_the_device() {
    let ids = pumpguard_sim::solver_ids::SolverIdModel { shared_share: 0.3, shared_ids: 200 };
    let edge = edge_scores();
    let mut mix = Mix {
        captcha_solver_ids: Some(ids),
        edge_bot_score: Some(edge),
        number_intel: Some(graded_provider()),
        ..Mix::default()
    };
    let farm = mix.campaigns.iter_mut().find(|c| c.name == "captcha-farm").unwrap();
    farm.solver_devices = Some(5);
    let shipped = elevated_alone(&policy_doc("recommended-intel.json"));
    let uncounted = without_intel_refusals(&shipped, &["solver-conversion"]);
    let (counted, uncounted) = (measure_doc(&shipped, &mix, 1), measure_doc(&uncounted, &mix, 1));
    // Seed 1 measured 0.057 for the farm counted and 0.109 uncounted when this floor was set.
    assert_cut(&counted, &uncounted, "captcha-farm", 0.08);
    assert!(counted.refused <= uncounted.refused, "{} / {}", counted.summary, uncounted.summary);
}

/// A walk through a block of adjacent numbers that pays for its CAPTCHAs reaches the provider,
/// which refuses most of its numbers. Without `count_intel_refusals` the adjacency rules see only
/// the numbers the provider lets through, a tenth of the walk, and never reach their limit.
#[test]
fn intel_variant_sees_a_walk_through_the_numbers_the_provider_refuses() {
    let edge = edge_scores();
    let mut mix = Mix { edge_bot_score: Some(edge), number_intel: Some(graded_provider()), ..Mix::default() };
    let walk = mix.campaigns.iter_mut().find(|c| c.name == "sequential-block").unwrap();
    walk.tokens = pumpguard_sim::mix::TokenPlan::Solved;
    // The walk comes from two servers, which `address-conversion` catches too: without it, the
    // adjacency rules are measured alone.
    let shipped = without_rule(&elevated_alone(&policy_doc("recommended-intel.json")), "address-conversion");
    let unseen = without_intel_refusals(&shipped, &["enumeration", "enumeration-wide"]);
    let (seen, unseen) = (measure_doc(&shipped, &mix, 1), measure_doc(&unseen, &mix, 1));
    // Seed 1 measured 0.009 seen and 0.078 unseen when this floor was set.
    assert!(seen.reach_of("sequential-block") <= 0.03, "{}", seen.summary);
    assert!(unseen.reach_of("sequential-block") >= 0.05, "{}", unseen.summary);
    assert!(seen.refused <= unseen.refused, "{} / {}", seen.summary, unseen.summary);
    assert!(seen.lookups <= unseen.lookups, "a blocked walk costs no lookups");
}

/// A campaign that pays a solving service passes every challenge; from a handful of servers its
/// addresses still never see a code entered. `address-conversion` blocks such an address after
/// 20 sends, and refuses no real user on the default mix (offices and carrier NATs full of
/// people who enter their codes convert far above 20%).
#[test]
fn recommended_policies_block_the_addresses_whose_codes_nobody_enters() {
    let mut solving = Mix::default();
    let burst = solving.campaigns.iter_mut().find(|c| c.name == "burst-few-ips").unwrap();
    burst.tokens = pumpguard_sim::mix::TokenPlan::Solved;
    let shipped = policy_doc("recommended.json");
    let without_doc = without_rule(&shipped, "address-conversion");
    let (with_rule, without) = (measure_doc(&shipped, &solving, 1), measure_doc(&without_doc, &solving, 1));
    // Seed 1 measured 0.30 with the rule and 1.0 without when this floor was set.
    assert!(with_rule.reach_of("burst-few-ips") <= 0.45, "{}", with_rule.summary);
    assert!(without.reach_of("burst-few-ips") >= 0.9, "{}", without.summary);
    let (real, real_without) =
        (measure("recommended.json", &Mix::default(), 1), measure_doc(&without_doc, &Mix::default(), 1));
    assert_eq!(real.refused, real_without.refused, "{} / {}", real.summary, real_without.summary);
    assert_eq!(real.challenged, real_without.challenged, "{} / {}", real.summary, real_without.summary);

    // With a provider in front most of the bot's numbers are refused before they are sent: the
    // variant counts those refusals against the address too.
    let edge = edge_scores();
    solving.edge_bot_score = Some(edge);
    solving.number_intel = Some(graded_provider());
    let intel = elevated_alone(&policy_doc("recommended-intel.json"));
    let uncounted = without_intel_refusals(&intel, &["address-conversion"]);
    let (counted, uncounted) = (measure_doc(&intel, &solving, 1), measure_doc(&uncounted, &solving, 1));
    // Seed 1 measured 0.045 counted and 0.114 uncounted when this floor was set.
    assert_cut(&counted, &uncounted, "burst-few-ips", 0.06);
}

/// The same bot on servers that each route an IPv6 /48 sends every request from a fresh /64:
/// judged per /64 it would never reach 20 sends. `address-conversion` judges an IPv6 client by
/// its /48, and still refuses no real user when carriers hand their phones' /64s out of a few
/// /48s (many real users per /48, as behind a carrier NAT address).
#[test]
fn recommended_policy_judges_an_ipv6_client_by_its_48() {
    let mut solving = Mix::default();
    let burst = solving.campaigns.iter_mut().find(|c| c.name == "burst-few-ips").unwrap();
    burst.tokens = pumpguard_sim::mix::TokenPlan::Solved;
    burst.addresses.access = pumpguard_sim::network::Access::DatacenterV6;
    let shipped = policy_doc("recommended.json");
    let mut per_64 = shipped.clone();
    let rules = per_64["rules"].as_array_mut().unwrap();
    let rule = rules.iter_mut().find(|r| r["id"] == "address-conversion").unwrap();
    assert_eq!(rule["conversion"]["scope"]["client_net"]["v6"], 48, "shipped judging a /48");
    rule["conversion"]["scope"] = "client_ip".into();
    let (by_48, by_64) = (measure_doc(&shipped, &solving, 1), measure_doc(&per_64, &solving, 1));
    // Seed 1 measured 0.27 by the /48 and 1.0 by the /64 when this floor was set.
    assert!(by_48.reach_of("burst-few-ips") <= 0.45, "{}", by_48.summary);
    assert!(by_64.reach_of("burst-few-ips") >= 0.9, "{}", by_64.summary);

    let mut crowded = Mix::default();
    crowded.legit.cellular_share = 0.95;
    crowded.legit.cellular_v6_networks = Some(2);
    let without_doc = without_rule(&shipped, "address-conversion");
    let (real, real_without) = (measure_doc(&shipped, &crowded, 1), measure_doc(&without_doc, &crowded, 1));
    assert_eq!(real.refused, real_without.refused, "{} / {}", real.summary, real_without.summary);
    assert_eq!(real.challenged, real_without.challenged, "{} / {}", real.summary, real_without.summary);
}

/// A guard that ran for two days has learned the site's travellers: `abroad` spares the
/// (client country, number country) pairs whose real users confirm their codes, so fewer of them
/// are challenged. With a provider behind it nothing more gets through; without one, the
/// campaigns hiding in the proven pairs take what the pairs give before they fall (a burst after
/// a quiet week takes the most: docs/detection.md). The intel variant weighs `abroad` 30, a
/// challenge only beside a second signal, so sparing it moves little there: never more.
#[test]
fn recommended_policies_spare_travellers_of_proven_pairs() {
    let with_provider = Mix { number_intel: Some(graded_provider()), ..Mix::default() };
    // Seed 1 measured, when these bounds were set: challenged 21 / 21 and the same pumped sends
    // with the provider; challenged 44 / 340, refused 3 / 16, pumped 0.44 / 0.34 without.
    for (policy, base_mix, challenged_at_most, reach_rise) in [
        ("recommended-intel.json", with_provider, 1.0, 0.005),
        ("recommended.json", Mix::default(), 0.3, 0.12),
    ] {
        let mut mix = base_mix;
        mix.legit.warm_up_hours = 48.0;
        mix.legit.abroad_share = 0.15;
        let shipped = policy_doc(policy);
        let mut unproven = shipped.clone();
        let rules = unproven["rules"].as_array_mut().unwrap();
        let abroad = rules.iter_mut().find(|r| r["id"] == "abroad").unwrap();
        assert!(abroad["client_country"]["proven_pairs"].is_object(), "{policy} ships with proven pairs");
        abroad["client_country"].as_object_mut().unwrap().remove("proven_pairs");
        let (proven, judged) = (measure_doc(&shipped, &mix, 1), measure_doc(&unproven, &mix, 1));
        let both = format!("{policy}: {} / {}", proven.summary, judged.summary);
        assert!(proven.challenged <= challenged_at_most * judged.challenged, "{both}");
        assert!(proven.refused <= judged.refused, "{both}");
        assert!(proven.reach <= judged.reach + reach_rise, "{both}");
    }
}

/// `doc` with `count_intel_refusals` turned off on the rules `ids` names, each of which must
/// ship with it on.
fn without_intel_refusals(doc: &serde_json::Value, ids: &[&str]) -> serde_json::Value {
    let mut doc = doc.clone();
    for id in ids {
        let rules = doc["rules"].as_array_mut().unwrap();
        let rule = rules.iter_mut().find(|r| r["id"] == *id).unwrap_or_else(|| panic!("{id} is shipped"));
        let kind = ["conversion", "adjacent"].into_iter().find(|k| rule[*k].is_object()).unwrap();
        assert_eq!(rule[kind]["count_intel_refusals"], true, "{id} ships counting the provider's refusals");
        rule[kind]["count_intel_refusals"] = false.into();
    }
    doc
}

/// `campaign` reaches origin at most `at_most` with the option, and at least 3 points less than
/// without it.
fn assert_cut(counted: &Measured, uncounted: &Measured, campaign: &str, at_most: f64) {
    let (with, without) = (counted.reach_of(campaign), uncounted.reach_of(campaign));
    assert!(with <= at_most, "{}", counted.summary);
    assert!(with <= without - 0.03, "{} / {}", counted.summary, uncounted.summary);
}

/// The intel variant with its elevated band a challenge on its own, as it shipped before the
/// band was weighed on the risk score: with the edge's scores, the band and `edge-bot` together
/// block most of what the `count_intel_refusals` tests measure, so each option is measured where
/// it is the only thing that can stop the campaign.
fn elevated_alone(doc: &serde_json::Value) -> serde_json::Value {
    let mut doc = doc.clone();
    let rules = doc["rules"].as_array_mut().unwrap();
    let elevated = rules.iter_mut().find(|r| r["id"] == "intel-elevated").unwrap();
    assert_eq!(elevated["risk"], 50, "intel-elevated ships weighed on the risk score");
    elevated["action"] = "challenge".into();
    elevated.as_object_mut().unwrap().remove("risk");
    doc["risk"].as_object_mut().unwrap().remove("block_at");
    doc
}

/// A shipped policy without one of its rules.
fn without_rule(doc: &serde_json::Value, id: &str) -> serde_json::Value {
    let mut doc = doc.clone();
    let rules = doc["rules"].as_array_mut().unwrap();
    let before = rules.len();
    rules.retain(|r| r["id"] != id);
    assert_eq!(rules.len(), before - 1, "{id} is shipped");
    doc
}

/// A class signing up at once behind one address: sixty sends in three minutes, before most
/// codes are entered. The conversion rules that judge an address (`address-conversion`: 20
/// sends under 20% confirmed) must not take the codes still in flight for codes nobody enters.
#[test]
fn recommended_policies_spare_a_class_signing_up_at_once() {
    let class = pumpguard_sim::mix::Crowd {
        name: "class".to_owned(),
        start_hours: 1.5,
        hours: 0.05,
        sessions: 60,
        country: "GB".to_owned(),
        addresses: 1,
        never_confirm: 0.1,
        page: "/signup".to_owned(),
    };
    let edge = edge_scores();
    for (policy, mut mix) in [
        ("recommended.json", Mix::default()),
        (
            "recommended-intel.json",
            Mix { edge_bot_score: Some(edge), number_intel: Some(graded_provider()), ..Mix::default() },
        ),
    ] {
        mix.legit.crowds = vec![class.clone()];
        let board = board_of(&policy_doc(policy), &mix, 1);
        let seg = board.segments.iter().find(|s| s.name == "class").unwrap();
        // Seed 1 measured 0 refused of 60 on both when this was set (4 and 7 challenged).
        assert_eq!(seg.sessions, 60, "{policy}");
        assert_eq!(seg.sessions_refused, 0, "{policy}: {seg:?}");
    }
}

/// `doc` with a `trust_import` section the mix's import (`import_model`) can use.
fn with_import(doc: &serde_json::Value) -> serde_json::Value {
    let mut doc = doc.clone();
    // SHA-256 of "sim-import-token".
    doc["trust_import"] = serde_json::json!({
        "path": "/__pumpguard/trusted-numbers",
        "token_sha256": "d69c6295b6c75c6ee13c4a6bac7208f9ada57c62380016615a0a2a806e09fe03"
    });
    doc
}

fn import_model(share: f64) -> pumpguard_sim::known_numbers::ImportModel {
    pumpguard_sim::known_numbers::ImportModel {
        path: "/__pumpguard/trusted-numbers".into(),
        token: "sim-import-token".into(),
        share,
        hours_before: 24.0,
        batch: 200,
    }
}

/// A guard that goes live today trusts no returning user until each enters a code again. The
/// site's records hold the numbers its users verified when their accounts were made: imported
/// through `trust_import`, they are trusted from the first day, so the rules that spare trusted
/// numbers (the provider's bands, the edge's low score, `abroad`) spare them. Campaigns' numbers
/// are in no account, so what they get through does not move.
#[test]
fn recommended_policies_refuse_fewer_returning_users_once_the_site_imports_their_numbers() {
    let edge = edge_scores();
    let intel_mix =
        Mix { edge_bot_score: Some(edge), number_intel: Some(graded_provider()), ..Mix::default() };
    for (policy, mix) in [("recommended.json", Mix::default()), ("recommended-intel.json", intel_mix)] {
        let doc = policy_doc(policy);
        let before = measure_doc(&doc, &mix, 2);
        let imported = Mix { trust_import: Some(import_model(0.9)), ..mix.clone() };
        let after = measure_doc(&with_import(&doc), &imported, 2);
        // Seed 2 measured, when this was set: recommended.json refused 0.0008 → 0.0003 and
        // challenged 0.0217 → 0.0151, the same 0.3579 of pumped sends reaching origin;
        // recommended-intel.json 0.0011 → 0.0003, 0.0140 → 0.0099, 0.0064 → 0.0059.
        assert!(after.refused < before.refused, "{policy}: {} / {}", after.summary, before.summary);
        assert!(
            after.challenged <= before.challenged * 0.8,
            "{policy}: {} / {}",
            after.summary,
            before.summary
        );
        // Campaigns send to numbers in no account, and the edge scores a send by its client and
        // number, not by what real users did before it: pumping is the same to the send.
        assert_eq!(after.reach, before.reach, "{policy}: {} / {}", after.summary, before.summary);
    }
    // The import needs the policy's section: a policy without it answers the import as any
    // unguarded request, and the run stops rather than measure an import that never happened.
    let mix = Mix { trust_import: Some(import_model(0.9)), ..Mix::default() };
    let policy = Policy::from_json(&policy_doc("recommended.json").to_string()).unwrap();
    let error = sim::run(&mix, 1, &mut InProcess::new(policy)).err().unwrap();
    assert!(error.contains("trust_import"), "{error}");
}

/// The goal (≥ 99% of pumped sends stopped, ≥ 95% of every campaign's, ≤ 0.1% of real users
/// refused, ≤ 2% challenged), where the site has every input the intel variant reads: a graded
/// provider, the edge's scores, siteverify naming the solving device (the farm's service solving
/// on 5 devices), and its users' verified numbers imported. docs/detection.md gives the spread:
/// the whole goal on 34 seeds of 40 here; these two fixed seeds fail when a change costs it.
#[test]
fn recommended_intel_policy_meets_the_goal_with_every_input_it_reads() {
    let edge = edge_scores();
    let ids = pumpguard_sim::solver_ids::SolverIdModel { shared_share: 0.3, shared_ids: 200 };
    let mut mix = Mix {
        edge_bot_score: Some(edge),
        number_intel: Some(graded_provider()),
        captcha_solver_ids: Some(ids),
        trust_import: Some(import_model(0.9)),
        ..Mix::default()
    };
    let farm = mix.campaigns.iter_mut().find(|c| c.name == "captcha-farm").unwrap();
    farm.solver_devices = Some(5);
    let doc = with_import(&policy_doc("recommended-intel.json"));
    // Measured when this was set: seed 1 0.0072 pumped (worst campaign 0.031), 0.00027 refused,
    // 0.0090 challenged; seed 2 0.0036 (0.029), 0.00055, 0.0083.
    for seed in [1, 2] {
        let m = measure_doc(&doc, &mix, seed);
        let summary = &m.summary;
        assert!(m.reach <= 0.01, "seed {seed}: {summary}");
        for (campaign, reach) in &m.campaigns {
            assert!(*reach <= 0.05, "seed {seed}, {campaign}: {summary}");
        }
        assert!(m.refused <= 0.001, "seed {seed}: {summary}");
        assert!(m.challenged <= 0.02, "seed {seed}: {summary}");
    }
}

/// The cheapest disguise: a script sending Chrome's user agent and nothing else of a browser's,
/// from exits in its numbers' countries so `abroad` stays silent. A browser always sends
/// `accept-language`, so `browser-no-language` challenges it alone; without the rule every send
/// of it reaches origin. Real users are the same either way: no real browser lacks the header.
#[test]
fn recommended_policy_challenges_a_script_dressed_as_a_browser() {
    let mut mix = Mix::default();
    let rider = mix.campaigns.iter_mut().find(|c| c.name == "peak-rider").unwrap();
    rider.client = pumpguard_sim::mix::CampaignClient::Fixed {
        client: pumpguard_sim::clients::ClientKind::PythonAsChrome,
    };
    rider.local_exits = true;
    // It claims Chrome without its client hints too: `chrome-no-hints` would challenge it alone,
    // so this measures `browser-no-language` without it.
    let shipped = without_rule(&policy_doc("recommended.json"), "chrome-no-hints");
    let without = without_rule(&shipped, "browser-no-language");
    let (judged, unjudged) = (measure_doc(&shipped, &mix, 1), measure_doc(&without, &mix, 1));
    // Seed 1 measured 0 and 1.0 of peak-rider's sends, 6 refused and 71 challenged on both.
    assert_eq!(judged.reach_of("peak-rider"), 0.0, "{}", judged.summary);
    assert!(unjudged.reach_of("peak-rider") >= 0.9, "{}", unjudged.summary);
    assert_eq!(judged.refused, unjudged.refused, "{} / {}", judged.summary, unjudged.summary);
    assert_eq!(judged.challenged, unjudged.challenged, "{} / {}", judged.summary, unjudged.summary);
}

/// The next disguise: the same script with a browser's `accept-language` copied too. Chrome and
/// Edge send `sec-ch-ua` on every request, so `chrome-no-hints` challenges a request claiming
/// one without it; an automated Chrome under Chrome's user agent still names `HeadlessChrome`
/// in that header, which `bare-client`'s `headless` reads. Both non-adaptive, from exits in
/// their numbers' countries; real users the same with or without the rule.
#[test]
fn recommended_policy_challenges_what_claims_chrome_without_its_hints() {
    use pumpguard_sim::clients::ClientKind;
    for client in [ClientKind::PythonAsChromeWithLanguage, ClientKind::HeadlessAsChrome] {
        let mut mix = Mix::default();
        let rider = mix.campaigns.iter_mut().find(|c| c.name == "peak-rider").unwrap();
        rider.client = pumpguard_sim::mix::CampaignClient::Fixed { client };
        rider.local_exits = true;
        let shipped = policy_doc("recommended.json");
        let judged = measure_doc(&shipped, &mix, 1);
        // Seed 1 measured 0 of peak-rider's sends for both clients, 6 refused and 71 challenged.
        assert_eq!(judged.reach_of("peak-rider"), 0.0, "{client:?}: {}", judged.summary);
        if client == ClientKind::PythonAsChromeWithLanguage {
            let without = without_rule(&shipped, "chrome-no-hints");
            let unjudged = measure_doc(&without, &mix, 1);
            // Seed 1 measured 0.98 of peak-rider's sends without the rule.
            assert!(unjudged.reach_of("peak-rider") >= 0.9, "{}", unjudged.summary);
            assert_eq!(judged.refused, unjudged.refused, "{} / {}", judged.summary, unjudged.summary);
            assert_eq!(judged.challenged, unjudged.challenged, "{} / {}", judged.summary, unjudged.summary);
        } else {
            // What stops it is the `headless` class: without it in `bare-client`, it passes.
            let mut blind = shipped.clone();
            let rules = blind["rules"].as_array_mut().unwrap();
            let bare = rules.iter_mut().find(|r| r["id"] == "bare-client").unwrap();
            bare["client"]["user_agents"].as_array_mut().unwrap().retain(|c| c != "headless");
            let unjudged = measure_doc(&blind, &mix, 1);
            // Seed 1 measured 0.99 of peak-rider's sends so.
            assert!(unjudged.reach_of("peak-rider") >= 0.9, "{}", unjudged.summary);
        }
    }
}

/// `prefix-conversion` challenges a prefix whose codes go unentered, and blocks it when it is
/// refused a second window in a row. A trickle that pays for its CAPTCHAs passes the challenge;
/// its solved sends are counted while the challenge lasts, so the prefix is blocked within it
/// instead of after it. Real users in the prefix solve and enter their codes.
#[test]
fn recommended_policy_blocks_a_prefix_whose_solved_sends_go_unconfirmed() {
    let mut mix = Mix::default();
    let trickle = mix.campaigns.iter_mut().find(|c| c.name == "low-and-slow").unwrap();
    trickle.tokens = pumpguard_sim::mix::TokenPlan::Solved;
    let m = measure("recommended.json", &mix, 1);
    let default = measure("recommended.json", &Mix::default(), 1);
    // Seed 1 measured 0.56 of low-and-slow's sends reaching origin, 0.78 when solved sends
    // counted only once the challenge had ended; 5 real users refused (6 on the default mix).
    assert!(m.reach_of("low-and-slow") <= 0.65, "{}", m.summary);
    assert!(m.refused <= default.refused, "{} / {}", m.summary, default.summary);
}

/// A script that names itself (`bare-client`) and pays for its CAPTCHAs passes every challenge;
/// in the intel variant its name weighs 25, so beside `abroad` (30) and the edge's low score or
/// the provider's elevated band (50) it reaches `block_at` and no token lifts the block.
#[test]
fn intel_variant_blocks_a_script_that_solves_beside_two_signals() {
    let mut mix =
        Mix { edge_bot_score: Some(edge_scores()), number_intel: Some(graded_provider()), ..Mix::default() };
    let replay = mix.campaigns.iter_mut().find(|c| c.name == "captcha-replay").unwrap();
    replay.tokens = pumpguard_sim::mix::TokenPlan::Solved;
    let shipped = policy_doc("recommended-intel.json");
    let mut unweighed = shipped.clone();
    let rules = unweighed["rules"].as_array_mut().unwrap();
    let bare = rules.iter_mut().find(|r| r["id"] == "bare-client").unwrap();
    assert_eq!(bare["risk"], 25, "bare-client ships weighed");
    bare.as_object_mut().unwrap().remove("risk");
    let (weighed, alone) = (measure_doc(&shipped, &mix, 1), measure_doc(&unweighed, &mix, 1));
    // Seed 1 measured 0.008 and 0.048 of captcha-replay's sends when this was set.
    assert!(weighed.reach_of("captcha-replay") <= 0.02, "{}", weighed.summary);
    assert!(alone.reach_of("captcha-replay") >= 0.03, "{}", alone.summary);
    assert_eq!(weighed.refused, alone.refused, "{} / {}", weighed.summary, alone.summary);
}

/// Trust is earned by entering codes, so an operator who reads its numbers' SMS earns it: for a
/// whole day every campaign enters its codes and sends again hourly to the numbers it confirmed,
/// which the rules sparing trusted numbers then spare. `trusted_sends` trusts three sends a
/// number a day, as many as a real user needs: what the campaigns get through falls, and no
/// real user is refused more.
#[test]
fn recommended_intel_policy_caps_what_trust_buys_a_reader_of_codes() {
    let ids = pumpguard_sim::solver_ids::SolverIdModel { shared_share: 0.3, shared_ids: 200 };
    let mut mix = Mix {
        hours: 24.0,
        edge_bot_score: Some(edge_scores()),
        number_intel: Some(graded_provider()),
        captcha_solver_ids: Some(ids),
        trust_import: Some(import_model(0.9)),
        ..Mix::default()
    };
    for campaign in &mut mix.campaigns {
        campaign.start_hours = 0.0;
        campaign.hours = 24.0;
        campaign.enters_codes_share = 0.8;
        campaign.revisits_entered_share = 0.5;
        if campaign.name == "captcha-farm" {
            campaign.solver_devices = Some(5);
        }
    }
    let capped = with_import(&policy_doc("recommended-intel.json"));
    let mut uncapped = capped.clone();
    let rules = uncapped["rules"].as_array_mut().unwrap();
    let reputation = rules.iter_mut().find(|r| r.get("reputation").is_some()).unwrap();
    reputation["reputation"].as_object_mut().unwrap().remove("trusted_sends").unwrap();
    // Measured when this was set, seed 1: 0.0098 → 0.0053 pumped reaching origin, real users
    // refused 0.00045 both.
    let (before, after) = (measure_doc(&uncapped, &mix, 1), measure_doc(&capped, &mix, 1));
    assert!(after.reach <= before.reach * 0.7, "{}\n{}", before.summary, after.summary);
    assert!(after.refused <= before.refused, "{}\n{}", before.summary, after.summary);
}

/// Campaigns that read their numbers' SMS enter the codes, and so prove the (client country,
/// number country) pairs their exits make: `abroad` would then spare them. A real route is one
/// returning users keep confirming on; `min_trusted_confirms` asks for three such
/// confirmations, and the campaigns' fresh numbers give none.
#[test]
fn recommended_policy_lets_no_reader_of_codes_prove_its_own_pairs() {
    let mut mix = Mix::default();
    for campaign in &mut mix.campaigns {
        campaign.enters_codes_share = 0.8;
    }
    let shipped = policy_doc("recommended.json");
    let mut any_confirms = shipped.clone();
    let rules = any_confirms["rules"].as_array_mut().unwrap();
    let abroad = rules.iter_mut().find(|r| r["id"] == "abroad").unwrap();
    let pairs = abroad["client_country"]["proven_pairs"].as_object_mut().unwrap();
    pairs.remove("min_trusted_confirms").unwrap();
    pairs.remove("min_trust_age_seconds").unwrap();
    // Measured when this was set, seed 1: 0.465 → 0.406 pumped reaching origin (0.406 with no
    // pairs at all), real users refused 0.0014 both.
    let (before, after) = (measure_doc(&any_confirms, &mix, 1), measure_doc(&shipped, &mix, 1));
    assert!(after.reach <= before.reach - 0.04, "{}\n{}", before.summary, after.summary);
    assert!(after.refused <= before.refused, "{}\n{}", before.summary, after.summary);

    // Campaigns that also come back to the numbers they confirmed confirm trusted numbers; a
    // day's age (`min_trust_age_seconds`) is what keeps their trust from counting. Measured when
    // this was set, seed 1: 0.605 → 0.466 (0.461 with no pairs at all).
    for campaign in &mut mix.campaigns {
        campaign.revisits_entered_share = 0.5;
    }
    let mut young = shipped.clone();
    let rules = young["rules"].as_array_mut().unwrap();
    let abroad = rules.iter_mut().find(|r| r["id"] == "abroad").unwrap();
    abroad["client_country"]["proven_pairs"]
        .as_object_mut()
        .unwrap()
        .remove("min_trust_age_seconds")
        .unwrap();
    let (before, after) = (measure_doc(&young, &mix, 1), measure_doc(&shipped, &mix, 1));
    assert!(after.reach <= before.reach - 0.08, "{}\n{}", before.summary, after.summary);
    assert!(after.refused <= before.refused, "{}\n{}", before.summary, after.summary);
}
