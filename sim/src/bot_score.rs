//! The bot score an edge in front (Cloudflare Bot Management) gives each request, modelled by
//! how good its detection is (`mix.edge_bot_score`): an assumption, like the number-intelligence
//! provider's quality, not a measurement. The guard reads the score as a host hands it over
//! (the record's `edge`), never the truth behind it.

use serde::{Deserialize, Serialize};

use crate::rng::{stable_hash, Rng};

/// How good the modelled edge is at telling automation from people (`null`: no scores).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotScoreModel {
    /// Share of campaign attempts (a client asking for one number) the edge scores as likely
    /// automated (1 to 29).
    pub bots_scored_low: f64,
    /// Share of real users' attempts it scores as likely automated all the same.
    pub humans_scored_low: f64,
}

impl BotScoreModel {
    /// The score of one attempt: drawn from a stream of its own per attempt (`seed` and what
    /// identifies the client and its send), so the rest of the run draws as without the model
    /// and every request of the attempt scores alike.
    pub fn score(&self, seed: u64, attempt: &str, automated: bool) -> u8 {
        let mut draw = Rng::new(seed ^ stable_hash(attempt));
        let low = if automated { self.bots_scored_low } else { self.humans_scored_low };
        let score = if draw.chance(low) { draw.range(1, 29) } else { draw.range(30, 99) };
        u8::try_from(score).unwrap_or(99)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_the_model_and_repeat_for_a_request() {
        let model = BotScoreModel { bots_scored_low: 0.8, humans_scored_low: 0.02 };
        let low = |automated: bool| {
            (0..5000).filter(|i| model.score(9, &format!("request {i}"), automated) < 30).count()
        };
        let (bots, humans) = (low(true), low(false));
        assert!((3800..=4200).contains(&bots), "{bots}");
        assert!((50..=150).contains(&humans), "{humans}");
        assert_eq!(model.score(9, "same", true), model.score(9, "same", true));
        assert!((0..1000).all(|i| (1..=99).contains(&model.score(3, &i.to_string(), i % 2 == 0))));
    }
}
