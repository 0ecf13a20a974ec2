//! An honest number-intelligence provider, outside the guard like siteverify: the guard's host
//! asks it about numbers ([`crate::guard::Guard::judge_with`]) and gets Twilio Lookup v2 shaped
//! answers. It knows what a provider's cross-customer view would know, and no more: a share of
//! the numbers campaigns pump (`detects`), and it flags real users' numbers now and then
//! (`false_flags`). Like a real provider's score it is graded: below its confident band it can
//! put numbers in an elevated band (`suspects`, `false_suspects`), which a policy may challenge
//! instead of block. All are assumptions about provider quality (`mix.number_intel`), not
//! measurements; each number's fate is drawn once per seed, so a run is reproducible.

use std::collections::HashSet;

use pumpguard_core::phone::NumberType;
use serde::{Deserialize, Serialize};

use crate::numbers::NumberSource;
use crate::rng::{stable_hash, Rng};

/// How good the modelled provider is (`mix.number_intel`; `null`: no provider).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelModel {
    /// Share of the numbers campaigns pump that the provider scores as high risk (75 to 100).
    pub detects: f64,
    /// Share of other numbers (real users') it scores as high risk all the same.
    pub false_flags: f64,
    /// Share of pumped numbers scored elevated (50 to 74): suspected, not known.
    #[serde(default)]
    pub suspects: f64,
    /// Share of other numbers scored elevated all the same.
    #[serde(default)]
    pub false_suspects: f64,
    /// What the provider bills per lookup, in the prices' currency (0: not counted).
    #[serde(default)]
    pub price_per_lookup: f64,
}

impl IntelModel {
    /// A provider with one band: `detects` and `false_flags`, nothing elevated.
    pub fn flags(detects: f64, false_flags: f64) -> IntelModel {
        IntelModel { detects, false_flags, ..IntelModel::default() }
    }

    /// Each share by its field name, for validation.
    pub fn shares(&self) -> [(&'static str, f64); 4] {
        [
            ("detects", self.detects),
            ("false_flags", self.false_flags),
            ("suspects", self.suspects),
            ("false_suspects", self.false_suspects),
        ]
    }
}

/// The band a number's score falls in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Band {
    High,
    Elevated,
    Low,
}

/// The provider: answers by number, counts its calls.
pub struct Provider {
    model: IntelModel,
    seed: u64,
    /// Numbers some campaign sent to: what the provider's other customers reported.
    pumped: HashSet<String>,
    numbers: NumberSource,
    /// Lookups made (each one billed).
    pub calls: u64,
}

/// Twilio's name for a line of this libphonenumber type.
fn line_type(number_type: NumberType) -> &'static str {
    match number_type {
        NumberType::FixedLine => "landline",
        NumberType::Mobile | NumberType::FixedLineOrMobile => "mobile",
        NumberType::TollFree => "tollFree",
        NumberType::PremiumRate => "premium",
        NumberType::SharedCost => "sharedCost",
        NumberType::Voip => "nonFixedVoip",
        NumberType::PersonalNumber => "personal",
        NumberType::Pager => "pager",
        NumberType::Uan => "uan",
        NumberType::Voicemail => "voicemail",
        NumberType::Unknown => "unknown",
    }
}

impl Provider {
    /// A provider of `model`'s quality; `seed` fixes which numbers it knows.
    pub fn new(model: IntelModel, seed: u64) -> Provider {
        Provider { model, seed, pumped: HashSet::new(), numbers: NumberSource::default(), calls: 0 }
    }

    /// A campaign sent to `number`: the provider may know it from elsewhere. Known by the
    /// number itself, not how the campaign wrote it: the guard asks for the E.164 form.
    pub fn pumped(&mut self, number: &str) {
        let number = self.numbers.canonical(number).unwrap_or_else(|| number.to_owned());
        self.pumped.insert(number);
    }

    /// The answer to a lookup of `e164`: status and a Twilio Lookup v2 body.
    pub fn answer(&mut self, e164: &str) -> (u16, String) {
        self.calls += 1;
        let mut draw = Rng::new(self.seed ^ stable_hash(e164));
        let (high, elevated) = if self.pumped.contains(e164) {
            (self.model.detects, self.model.suspects)
        } else {
            (self.model.false_flags, self.model.false_suspects)
        };
        // The elevated draw comes second and only when the band exists, so a one-band model
        // draws exactly as before the bands did.
        let band = if draw.chance(high) {
            Band::High
        } else if elevated > 0.0 && draw.chance(elevated / (1.0 - high).max(f64::MIN_POSITIVE)) {
            Band::Elevated
        } else {
            Band::Low
        };
        let risk = match band {
            Band::High => draw.range(75, 100),
            Band::Elevated => draw.range(50, 74),
            Band::Low => draw.range(0, 40),
        };
        let flagged = band == Band::High;
        let kind = self.numbers.classify(e164).map_or("unknown", |(_, t)| line_type(t));
        let body = serde_json::json!({
            "phone_number": e164,
            "valid": kind != "unknown",
            "line_type_intelligence": {"type": kind, "error_code": null},
            "sms_pumping_risk": {"sms_pumping_risk_score": risk, "number_blocked": flagged, "error_code": null},
        });
        (200, body.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_the_same_for_a_seed_and_follow_the_model() {
        let model = IntelModel::flags(0.9, 0.01);
        let (mut a, mut b) = (Provider::new(model, 7), Provider::new(model, 7));
        let numbers: Vec<String> = (0..2000).map(|i| format!("+4915112{:06}", i)).collect();
        for n in numbers.iter().step_by(2) {
            a.pumped(n);
            b.pumped(n);
        }
        let high = |p: &mut Provider, n: &str| p.answer(n).1.contains("\"number_blocked\":true");
        let mut flagged = [0u32; 2];
        for (i, n) in numbers.iter().enumerate() {
            let got = high(&mut a, n);
            assert_eq!(got, high(&mut b, n));
            flagged[i % 2] += u32::from(got);
        }
        assert!((850..=950).contains(&flagged[0]), "{flagged:?}");
        assert!(flagged[1] <= 30, "{flagged:?}");
        assert_eq!(a.calls, 2000);
    }

    #[test]
    fn elevated_band_holds_its_share_and_scores_under_the_high_band() {
        let model = IntelModel { detects: 0.5, suspects: 0.3, false_suspects: 0.1, ..IntelModel::default() };
        let mut provider = Provider::new(model, 11);
        let numbers: Vec<String> = (0..4000).map(|i| format!("+4915112{:06}", i)).collect();
        for n in numbers.iter().step_by(2) {
            provider.pumped(n);
        }
        let score = |p: &mut Provider, n: &str| {
            let body: serde_json::Value = serde_json::from_str(&p.answer(n).1).unwrap();
            body["sms_pumping_risk"]["sms_pumping_risk_score"].as_u64().unwrap()
        };
        let mut bands = [[0u32; 3]; 2];
        for (i, n) in numbers.iter().enumerate() {
            let s = score(&mut provider, n);
            let band = usize::from(s < 75) + usize::from(s < 50);
            bands[i % 2][band] += 1;
        }
        // Pumped: about 1000 high, 600 elevated; real: none high, about 200 elevated.
        assert!((900..=1100).contains(&bands[0][0]), "{bands:?}");
        assert!((520..=680).contains(&bands[0][1]), "{bands:?}");
        assert_eq!(bands[1][0], 0, "{bands:?}");
        assert!((150..=250).contains(&bands[1][1]), "{bands:?}");
    }
}
