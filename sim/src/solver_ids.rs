//! The device siteverify names for each solved CAPTCHA (Turnstile Enterprise's ephemeral IDs),
//! modelled by how often real users' devices share one (`mix.captcha_solver_ids`) and by how
//! many devices a campaign's solving service spreads its solves over (`solver_devices`): both
//! assumptions, not measurements. A solved token carries its device as the siteverify
//! convention reads it (`pass@D-…`); the guard learns it only from siteverify's answer.

use serde::{Deserialize, Serialize};

use crate::rng::{stable_hash, Rng};

/// How siteverify names solving devices (`null`: it names none, as without Enterprise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolverIdModel {
    /// Share of real users whose device gives an id other users share: privacy-minded browsers
    /// (Safari on iPhone) hand the provider few signals, so different people look alike.
    pub shared_share: f64,
    /// How many distinct ids those users share among them over the period (at least 1): the
    /// fewer, the more real users one id stands for.
    pub shared_ids: u32,
}

impl SolverIdModel {
    /// The id of a real user's device, the same on every solve: drawn from `seed` and the user
    /// (their number), so the rest of the run draws as without the model.
    pub fn user_device(&self, seed: u64, user: &str) -> String {
        let mut draw = Rng::new(seed ^ stable_hash(user));
        if draw.chance(self.shared_share) {
            format!("s{}", draw.below(u64::from(self.shared_ids.max(1))))
        } else {
            format!("u{:x}", draw.next_u64())
        }
    }

    /// The device of a campaign's `solve`th solve: one of its service's `devices`, picked by
    /// turn; with no such limit (`None`) every solve comes from a fresh device. On `shared` ids
    /// its devices are ids of the real users' shared pool (as many distinct ones as the pool
    /// holds).
    pub fn campaign_device(
        &self,
        seed: u64,
        campaign: &str,
        devices: Option<u32>,
        shared: bool,
        solve: u64,
    ) -> String {
        let tag = stable_hash(&format!("{seed}/campaign/{campaign}")) % 1_000_000;
        let device = match devices {
            Some(n) => solve % u64::from(n.max(1)),
            None => solve,
        };
        match (shared, devices) {
            (true, _) => format!("s{}", (tag + device) % u64::from(self.shared_ids.max(1))),
            (false, Some(_)) => format!("c{tag}d{device}"),
            (false, None) => format!("c{tag}n{device}"),
        }
    }
}

/// A solved token as the guard receives it: from `device` when siteverify names one.
pub fn solved_token(device: Option<&str>, random: &str) -> String {
    match device {
        Some(device) => format!("pass@{device}-{random}"),
        None => format!("pass-{random}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_users_share_ids_as_the_model_says_and_keep_theirs() {
        let model = SolverIdModel { shared_share: 0.3, shared_ids: 10 };
        let ids: Vec<String> = (0..4000).map(|i| model.user_device(7, &format!("+1415555{i:04}"))).collect();
        let shared = ids.iter().filter(|id| id.starts_with('s')).count();
        assert!((1050..=1350).contains(&shared), "{shared}");
        let pool: std::collections::HashSet<&String> = ids.iter().filter(|id| id.starts_with('s')).collect();
        assert_eq!(pool.len(), 10);
        assert_eq!(model.user_device(7, "+14155550000"), ids[0]);
        assert!(ids.iter().all(|id| !id.contains('-')), "a device id ends at the token's first '-'");
    }

    #[test]
    fn a_campaign_spreads_its_solves_over_its_devices() {
        let model = SolverIdModel { shared_share: 0.0, shared_ids: 1 };
        let some: std::collections::HashSet<String> =
            (0..100).map(|s| model.campaign_device(1, "farm", Some(7), false, s)).collect();
        assert_eq!(some.len(), 7);
        let fresh: std::collections::HashSet<String> =
            (0..100).map(|s| model.campaign_device(1, "farm", None, false, s)).collect();
        assert_eq!(fresh.len(), 100);
        // On shared ids: its devices are ids of the real users' pool, as many as it has.
        let pool = SolverIdModel { shared_share: 0.3, shared_ids: 10 };
        let users: std::collections::HashSet<String> = (0..400)
            .map(|i| pool.user_device(1, &format!("+1415555{i:04}")))
            .filter(|d| d.starts_with('s'))
            .collect();
        let farm: std::collections::HashSet<String> =
            (0..100).map(|s| pool.campaign_device(1, "farm", Some(3), true, s)).collect();
        assert_eq!(farm.len(), 3);
        assert!(farm.is_subset(&users), "{farm:?} not in {users:?}");
        assert_eq!(solved_token(Some("d1"), "abc"), "pass@d1-abc");
        assert_eq!(solved_token(None, "abc"), "pass-abc");
    }
}
