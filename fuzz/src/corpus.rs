//! The scenario corpus, embedded at build time: the policies every target judges with and the
//! guarded requests the extraction target uses as templates.

use std::sync::OnceLock;

use pumpguard_core::traffic::TrafficRecord;
use pumpguard_core::Policy;

include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));

/// A scenario whose policy loads, with its requests.
pub struct LoadedScenario {
    /// File name.
    pub name: &'static str,
    /// The policy.
    pub policy: Policy,
    /// Its requests, in order.
    pub requests: Vec<TrafficRecord>,
}

/// The scenarios whose policy loads, in file order (refused-policy scenarios are left out).
pub fn scenarios() -> &'static [LoadedScenario] {
    static LOADED: OnceLock<Vec<LoadedScenario>> = OnceLock::new();
    LOADED.get_or_init(|| SCENARIOS.iter().filter_map(|(name, text)| load(name, text)).collect())
}

fn load(name: &'static str, text: &str) -> Option<LoadedScenario> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let policy = Policy::from_json(&doc.get("policy")?.to_string()).ok()?;
    let requests = doc
        .get("steps")
        .and_then(|s| s.as_array())
        .map(|steps| {
            steps
                .iter()
                .filter_map(|step| serde_json::from_value(step.get("request")?.clone()).ok())
                .collect()
        })
        .unwrap_or_default();
    Some(LoadedScenario { name, policy, requests })
}

/// The scenario a selector byte names (wrapping), or `None` when none loads.
pub fn pick(selector: u8) -> Option<&'static LoadedScenario> {
    let all = scenarios();
    all.get(usize::from(selector) % all.len().max(1))
}
