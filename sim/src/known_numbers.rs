//! The site's own record of its users' numbers (`mix.trust_import`): before the period it imports
//! the numbers of returning users, verified when their accounts were made, through the guard's
//! `trust_import`, as an operator would on the day the guard goes live and daily after. Which
//! users' numbers the records hold is an assumption (`share`), not a measurement: an account
//! whose number changed, or one shared by a family, is not in them.

use serde::{Deserialize, Serialize};

use crate::rng::{stable_hash, Rng};

/// How the site imports its returning users' numbers (`null`: it does not).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportModel {
    /// The policy's `trust_import.path`.
    pub path: String,
    /// The bearer token whose SHA-256 the policy's `trust_import.token_sha256` holds.
    pub token: String,
    /// Share of returning users (the random segments marked `returning`) whose number the
    /// site's records hold as verified.
    pub share: f64,
    /// Hours before the period the import runs.
    #[serde(default = "default_hours_before")]
    pub hours_before: f64,
    /// Numbers per import request (the policy's `trust_import.max_numbers` or fewer).
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_hours_before() -> f64 {
    24.0
}

fn default_batch() -> usize {
    200
}

impl ImportModel {
    /// Whether the site's records hold the returning user of number `number`: drawn from `seed`
    /// and the number, so the rest of the run draws as without the model.
    pub fn knows(&self, seed: u64, number: &str) -> bool {
        Rng::new(seed ^ stable_hash(number)).chance(self.share)
    }

    /// The body of one import request.
    pub fn body(numbers: &[String]) -> String {
        serde_json::json!({ "numbers": numbers }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_is_drawn_per_number_and_repeats() {
        let model = ImportModel {
            path: "/import".into(),
            token: "t".into(),
            share: 0.8,
            hours_before: 24.0,
            batch: 10,
        };
        let known = (0..5000).filter(|i| model.knows(3, &format!("+4915112{i:06}"))).count();
        assert!((3800..=4200).contains(&known), "{known}");
        assert_eq!(model.knows(3, "+14155550100"), model.knows(3, "+14155550100"));
        assert_eq!(ImportModel::body(&["+1".into()]), r#"{"numbers":["+1"]}"#);
    }
}
