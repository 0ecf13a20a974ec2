//! The `bot_score` rule: the edge's own judgement of the client, on Cloudflare's scale (1:
//! surely automated, 99: surely human). Cloudflare Bot Management computes it from signals no
//! request header carries (TLS and HTTP/2 fingerprints, behaviour across its whole network), so
//! it catches scripts that forge every header a `client` rule reads. It is still a guess, which
//! is why the usual action is `challenge`: a real user with a low score solves it.

use crate::decision::ReasonCode;
use crate::request::EdgeSignals;

/// What a `bot_score` rule does with clients the edge verified as known good bots.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifiedBots {
    /// Leave them alone: search engines and uptime monitors score low by design.
    #[default]
    Skip,
    /// Judge them by their score like any client.
    Judge,
}

/// A compiled `bot_score` rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BotScoreRule {
    /// A score below this fires (2 to 99).
    pub below: u8,
    /// Also fire when the request carries no score.
    pub missing: bool,
    /// Whether verified bots are judged.
    pub verified_bots: VerifiedBots,
}

/// Lowest and highest `below`: below 1 nothing could fire; a score is at most 99.
pub const BELOW_RANGE: std::ops::RangeInclusive<u8> = 2..=99;

impl BotScoreRule {
    /// The finding for a request's edge signals, with its detail, or `None` when it passes.
    pub fn judge(&self, edge: &EdgeSignals) -> Option<(ReasonCode, Option<String>)> {
        if self.verified_bots == VerifiedBots::Skip && edge.verified_bot == Some(true) {
            return None;
        }
        match edge.bot_score {
            Some(score) if score < self.below => {
                Some((ReasonCode::BotScoreLow, Some(format!("score {score}, below {}", self.below))))
            }
            Some(_) => None,
            None if self.missing => Some((ReasonCode::BotScoreMissing, None)),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(bot_score: Option<u8>, verified_bot: Option<bool>) -> EdgeSignals {
        EdgeSignals { bot_score, verified_bot }
    }

    #[test]
    fn below_the_threshold_fires() {
        let rule = BotScoreRule { below: 30, missing: false, verified_bots: VerifiedBots::Skip };
        assert_eq!(
            rule.judge(&edge(Some(29), None)),
            Some((ReasonCode::BotScoreLow, Some("score 29, below 30".to_owned())))
        );
        assert_eq!(rule.judge(&edge(Some(30), None)), None);
        assert_eq!(rule.judge(&edge(Some(99), Some(false))), None);
        assert_eq!(rule.judge(&edge(None, None)), None);
    }

    #[test]
    fn missing_fires_only_when_asked() {
        let rule = BotScoreRule { below: 30, missing: true, verified_bots: VerifiedBots::Skip };
        assert_eq!(rule.judge(&edge(None, None)), Some((ReasonCode::BotScoreMissing, None)));
        assert_eq!(rule.judge(&edge(None, Some(false))), Some((ReasonCode::BotScoreMissing, None)));
    }

    #[test]
    fn verified_bots_are_skipped_unless_judged() {
        let skip = BotScoreRule { below: 30, missing: true, verified_bots: VerifiedBots::Skip };
        assert_eq!(skip.judge(&edge(Some(1), Some(true))), None);
        assert_eq!(skip.judge(&edge(None, Some(true))), None);
        let judge = BotScoreRule { verified_bots: VerifiedBots::Judge, ..skip };
        assert_eq!(
            judge.judge(&edge(Some(1), Some(true))).map(|(code, _)| code),
            Some(ReasonCode::BotScoreLow)
        );
    }
}
