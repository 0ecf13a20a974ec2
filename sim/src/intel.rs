//! An honest number-intelligence provider, outside the guard like siteverify: the guard's host
//! asks it about numbers ([`crate::guard::Guard::judge_with`]) and gets Twilio Lookup v2 shaped
//! answers. It knows what a provider's cross-customer view would know, and no more: a share of
//! the numbers campaigns pump (`detects`), and it flags real users' numbers now and then
//! (`false_flags`). Both are assumptions about provider quality (`mix.number_intel`), not
//! measurements; each number's fate is drawn once per seed, so a run is reproducible.

use std::collections::HashSet;

use pumpguard_core::phone::NumberType;
use serde::{Deserialize, Serialize};

use crate::numbers::NumberSource;
use crate::rng::{stable_hash, Rng};

/// How good the modelled provider is (`mix.number_intel`; `null`: no provider).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelModel {
    /// Share of the numbers campaigns pump that the provider scores as high risk (75 to 100).
    pub detects: f64,
    /// Share of other numbers (real users') it scores as high risk all the same.
    pub false_flags: f64,
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

    /// A campaign sent to `number`: the provider may know it from elsewhere.
    pub fn pumped(&mut self, number: &str) {
        if !self.pumped.contains(number) {
            self.pumped.insert(number.to_owned());
        }
    }

    /// The answer to a lookup of `e164`: status and a Twilio Lookup v2 body.
    pub fn answer(&mut self, e164: &str) -> (u16, String) {
        self.calls += 1;
        let mut draw = Rng::new(self.seed ^ stable_hash(e164));
        let share = if self.pumped.contains(e164) { self.model.detects } else { self.model.false_flags };
        let flagged = draw.chance(share);
        let risk = if flagged { draw.range(75, 100) } else { draw.range(0, 40) };
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
        let model = IntelModel { detects: 0.9, false_flags: 0.01 };
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
}
