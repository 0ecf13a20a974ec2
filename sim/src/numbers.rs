//! Phone numbers drawn through the core's own phone tables: a candidate is random digits of a
//! plausible length, kept only when the core parses it as a valid number of the wanted region
//! and type. So numbers come from every range the metadata knows, in proportion to its size,
//! newest ranges included, and nothing here hard-codes which ranges exist.

use pumpguard_core::phone::{NumberType, PhoneParser};

use crate::rng::Rng;

/// What the simulator needs to know about a country to draw its numbers.
#[derive(Clone, Copy, Debug)]
pub struct Country {
    /// ISO 3166 region, as the core names it.
    pub code: &'static str,
    /// Country calling code.
    pub calling_code: u16,
    /// Lengths of national numbers to try.
    pub lengths: &'static [usize],
    /// National leading digits to draw from instead of any digit (small members of a shared
    /// calling code, whose ranges random digits would almost never hit).
    pub leading: &'static [&'static str],
    /// Hours east of UTC (for the daily curve), rounded.
    pub utc_offset_hours: i8,
}

/// Countries the simulator can draw numbers for: markets commonly served, and destinations
/// that show up in SMS pumping reports.
pub const COUNTRIES: &[Country] = &[
    Country { code: "US", calling_code: 1, lengths: &[10], leading: &[], utc_offset_hours: -6 },
    Country { code: "CA", calling_code: 1, lengths: &[10], leading: &[], utc_offset_hours: -5 },
    Country { code: "GB", calling_code: 44, lengths: &[10], leading: &[], utc_offset_hours: 0 },
    Country { code: "DE", calling_code: 49, lengths: &[10, 11], leading: &[], utc_offset_hours: 1 },
    Country { code: "FR", calling_code: 33, lengths: &[9], leading: &[], utc_offset_hours: 1 },
    Country { code: "ES", calling_code: 34, lengths: &[9], leading: &[], utc_offset_hours: 1 },
    Country { code: "IT", calling_code: 39, lengths: &[9, 10], leading: &[], utc_offset_hours: 1 },
    Country { code: "NL", calling_code: 31, lengths: &[9], leading: &[], utc_offset_hours: 1 },
    Country { code: "IN", calling_code: 91, lengths: &[10], leading: &[], utc_offset_hours: 5 },
    Country { code: "BR", calling_code: 55, lengths: &[10, 11], leading: &[], utc_offset_hours: -3 },
    Country { code: "MX", calling_code: 52, lengths: &[10], leading: &[], utc_offset_hours: -6 },
    Country { code: "LV", calling_code: 371, lengths: &[8], leading: &[], utc_offset_hours: 2 },
    Country { code: "LT", calling_code: 370, lengths: &[8], leading: &[], utc_offset_hours: 2 },
    Country { code: "KZ", calling_code: 7, lengths: &[10], leading: &["7"], utc_offset_hours: 5 },
    Country { code: "UZ", calling_code: 998, lengths: &[9], leading: &[], utc_offset_hours: 5 },
    Country { code: "TJ", calling_code: 992, lengths: &[9], leading: &[], utc_offset_hours: 5 },
    Country { code: "KG", calling_code: 996, lengths: &[9], leading: &[], utc_offset_hours: 6 },
    Country { code: "AZ", calling_code: 994, lengths: &[9], leading: &[], utc_offset_hours: 4 },
    Country { code: "SL", calling_code: 232, lengths: &[8], leading: &[], utc_offset_hours: 0 },
    Country { code: "GN", calling_code: 224, lengths: &[9], leading: &[], utc_offset_hours: 0 },
    Country { code: "PK", calling_code: 92, lengths: &[10], leading: &[], utc_offset_hours: 5 },
    Country { code: "BD", calling_code: 880, lengths: &[10], leading: &[], utc_offset_hours: 6 },
    Country { code: "ID", calling_code: 62, lengths: &[9, 10, 11], leading: &[], utc_offset_hours: 7 },
    Country { code: "VN", calling_code: 84, lengths: &[9], leading: &[], utc_offset_hours: 7 },
    Country { code: "JM", calling_code: 1, lengths: &[10], leading: &["876", "658"], utc_offset_hours: -5 },
    Country { code: "GD", calling_code: 1, lengths: &[10], leading: &["473"], utc_offset_hours: -4 },
    Country { code: "TC", calling_code: 1, lengths: &[10], leading: &["649"], utc_offset_hours: -5 },
];

/// The country entry for an ISO code.
pub fn country(code: &str) -> Option<&'static Country> {
    COUNTRIES.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// Which number types a draw accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// Numbers a person receives SMS on: mobile, or fixed-or-mobile where the plan does not tell.
    Mobile,
    /// Premium-rate, shared-cost and UAN numbers.
    Premium,
    /// Any valid number.
    Any,
}

impl Wanted {
    fn accepts(self, t: NumberType) -> bool {
        match self {
            Wanted::Mobile => matches!(t, NumberType::Mobile | NumberType::FixedLineOrMobile),
            Wanted::Premium => {
                matches!(t, NumberType::PremiumRate | NumberType::SharedCost | NumberType::Uan)
            }
            Wanted::Any => t != NumberType::Unknown,
        }
    }
}

/// Draws valid numbers; tries are bounded, so a country without numbers of the wanted type
/// gives `None` instead of spinning.
pub struct NumberSource {
    parser: PhoneParser,
}

/// Candidates tried per draw before giving up.
const MAX_TRIES: usize = 200_000;

impl Default for NumberSource {
    fn default() -> Self {
        NumberSource { parser: PhoneParser::new(None) }
    }
}

impl NumberSource {
    /// The core's verdict on an E.164 number: region and type when it is valid.
    pub fn classify(&self, e164: &str) -> Option<(&'static str, NumberType)> {
        let n = self.parser.parse(e164).ok()?;
        if !n.is_valid() {
            return None;
        }
        Some((n.region()?.as_str(), n.number_type()))
    }

    /// The number as the core writes it in E.164, whatever form it was written in (a national
    /// trunk `0` after the calling code is dropped); `None` when it does not parse.
    pub fn canonical(&self, number: &str) -> Option<String> {
        Some(self.parser.parse(number).ok()?.e164().to_owned())
    }

    /// A valid number of `country` of the wanted type, in E.164.
    pub fn draw(&self, rng: &mut Rng, country: &Country, wanted: Wanted) -> Option<String> {
        for _ in 0..MAX_TRIES {
            let length = *rng.pick(country.lengths)?;
            let lead = rng.pick(country.leading).copied().unwrap_or("");
            let candidate = format!(
                "+{}{}{}",
                country.calling_code,
                lead,
                digits(rng, length.saturating_sub(lead.len()))
            );
            if self.accepts(&candidate, Some(country.code), wanted) {
                return Some(candidate);
            }
        }
        None
    }

    /// A valid number starting with the E.164 `prefix` (with '+'), `total_digits` long after the '+'.
    pub fn draw_with_prefix(
        &self,
        rng: &mut Rng,
        prefix: &str,
        total_digits: usize,
        wanted: Wanted,
    ) -> Option<String> {
        let have = prefix.trim_start_matches('+').len();
        for _ in 0..MAX_TRIES / 10 {
            let candidate = format!("{prefix}{}", digits(rng, total_digits.saturating_sub(have)));
            if self.accepts(&candidate, None, wanted) {
                return Some(candidate);
            }
        }
        None
    }

    /// The next valid number after `e164` of the same length (a sequential block), if any
    /// within a thousand steps.
    pub fn next_after(&self, e164: &str, wanted: Wanted) -> Option<String> {
        let digits: &str = e164.strip_prefix('+')?;
        let mut value: u64 = digits.parse().ok()?;
        for _ in 0..1000 {
            value += 1;
            let candidate = format!("+{value:0width$}", width = digits.len());
            if self.accepts(&candidate, None, wanted) {
                return Some(candidate);
            }
        }
        None
    }

    fn accepts(&self, e164: &str, region: Option<&str>, wanted: Wanted) -> bool {
        match self.classify(e164) {
            Some((r, t)) => region.is_none_or(|want| want == r) && wanted.accepts(t),
            None => false,
        }
    }
}

fn digits(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rng.below(10) as u8)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_has_mobile_numbers_the_core_calls_valid() {
        let source = NumberSource::default();
        let mut rng = Rng::new(3);
        for c in COUNTRIES {
            let n = source.draw(&mut rng, c, Wanted::Mobile);
            let n = n.unwrap_or_else(|| panic!("no mobile number for {}", c.code));
            let (region, t) = source.classify(&n).unwrap();
            assert_eq!(region, c.code, "{n}");
            assert!(Wanted::Mobile.accepts(t), "{n}: {t:?}");
        }
    }

    #[test]
    fn draws_spread_over_ranges() {
        let source = NumberSource::default();
        let mut rng = Rng::new(9);
        let gb = country("GB").unwrap();
        let prefixes: std::collections::BTreeSet<String> = (0..200)
            .filter_map(|_| source.draw(&mut rng, gb, Wanted::Mobile))
            .map(|n| n[..6].to_owned())
            .collect();
        assert!(prefixes.len() > 20, "{prefixes:?}");
        let premium = source.draw(&mut rng, gb, Wanted::Premium).unwrap();
        assert!(Wanted::Premium.accepts(source.classify(&premium).unwrap().1));
    }

    #[test]
    fn sequential_numbers_stay_valid() {
        let source = NumberSource::default();
        let mut rng = Rng::new(1);
        let start = source.draw(&mut rng, country("GB").unwrap(), Wanted::Mobile).unwrap();
        let next = source.next_after(&start, Wanted::Mobile).unwrap();
        assert!(next > start);
    }
}
