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

fn recommended() -> Policy {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/recommended.json");
    Policy::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn recommended_policy_holds_its_floor_on_the_default_mix() {
    let run = sim::run(&Mix::default(), 1, &mut InProcess::new(recommended())).unwrap();
    let board = Scoreboard::of(&run, &Prices::built_in());
    let legit = &board.legit;
    let refused = legit.sessions_refused as f64 / legit.sessions as f64;
    let challenged = legit.sessions_challenged as f64 / legit.sessions as f64;
    let reach = |name: &str| {
        board
            .campaigns
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.reached_share)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let summary = format!(
        "pumped reached {:.3}, real refused {refused:.4}, challenged {challenged:.3}; {:?}",
        board.pumped.reached_share,
        board.campaigns.iter().map(|c| (c.name.as_str(), c.reached_share)).collect::<Vec<_>>()
    );
    // Seed 1 measured 0.341 / 0.0016 / 0.021 when this floor was set (0.049 challenged before
    // trusted numbers and the risk score).
    assert!(board.pumped.reached_share <= 0.38, "{summary}");
    assert!(refused <= 0.003, "{summary}");
    assert!(challenged <= 0.03, "{summary}");
    // What the request itself or a burst gives away is stopped whole.
    for campaign in ["premium-ranges", "irsf-unserved", "sequential-block", "burst-few-ips", "adaptive-irsf"]
    {
        assert!(reach(campaign) <= 0.02, "{campaign}: {summary}");
    }
    assert!(reach("captcha-replay") <= 0.02, "{summary}");
    // Proxies outside the numbers' countries are challenged; what adapts gets a fifth through.
    assert!(reach("resi-botnet") <= 0.3, "{summary}");
    assert!(reach("peak-rider") <= 0.35, "{summary}");
}

/// `policies/recommended-intel.json` with a modelled provider that knows 90% of pumped numbers
/// and flags 0.2% of real ones (an assumption about provider quality, docs/simulator.md).
#[test]
fn recommended_intel_policy_holds_its_floor_with_a_provider() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/recommended-intel.json");
    let policy = Policy::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mix = Mix {
        number_intel: Some(pumpguard_sim::intel::IntelModel { detects: 0.9, false_flags: 0.002 }),
        ..Mix::default()
    };
    let run = sim::run(&mix, 1, &mut InProcess::new(policy)).unwrap();
    let board = Scoreboard::of(&run, &Prices::built_in());
    let legit = &board.legit;
    let refused = legit.sessions_refused as f64 / legit.sessions as f64;
    let summary = format!(
        "pumped reached {:.3}, real refused {refused:.4}, lookups {}; {:?}",
        board.pumped.reached_share,
        board.number_lookups,
        board.campaigns.iter().map(|c| (c.name.as_str(), c.reached_share)).collect::<Vec<_>>()
    );
    // Seed 1 measured 0.019 / 0.0044 / 5369 lookups when this floor was set.
    assert!(board.pumped.reached_share <= 0.04, "{summary}");
    assert!(refused <= 0.007, "{summary}");
    // Lookups only for what would otherwise be sent: at most one per send that got that far.
    assert!(board.number_lookups > 0 && board.number_lookups < 7_000, "{summary}");
    let twins = board.campaigns.iter().find(|c| c.name == "browser-twins").map(|c| c.reached_share);
    assert!(twins.is_some_and(|r| r <= 0.25), "{summary}");
}
