//! The table-driven parser against the libphonenumber oracle in `phone_support` (regex-based,
//! built from the same metadata): every example number of every type of every region, and
//! random digit strings in international, IDD and national form for many default regions.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod phone_support;

use phone_support::{Oracle, Parsed};
use proptest::prelude::*;
use pumpguard_core::phone::{PhoneParser, Region};
use std::sync::OnceLock;

fn oracle() -> &'static Oracle {
    static ORACLE: OnceLock<Oracle> = OnceLock::new();
    ORACLE.get_or_init(Oracle::new)
}

fn mine(default: Option<&str>, input: &str) -> Result<Parsed, &'static str> {
    let parser = PhoneParser::new(default.map(|d| Region::from_code(d).expect("region")));
    parser
        .parse(input)
        .map(|n| Parsed {
            e164: n.e164().to_owned(),
            national: n.national_number().to_owned(),
            calling_code: n.calling_code(),
            region: n.region().map(|r| r.as_str().to_owned()),
            number_type: n.number_type().as_str(),
            valid: n.is_valid(),
        })
        .map_err(|e| e.as_str())
}

fn expected(default: Option<&str>, input: &str) -> Result<Parsed, &'static str> {
    let (plus, digits) = match input.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    oracle().parse(default, plus, digits)
}

const DEFAULTS: [&str; 24] = [
    "US", "GB", "DE", "FR", "IN", "BR", "AR", "MX", "IT", "RU", "CN", "JP", "NG", "AU", "CA", "KZ", "GG",
    "JM", "CO", "KR", "BY", "NZ", "ID", "ZA",
];

#[test]
fn every_example_number_matches_the_oracle() {
    let oracle = oracle();
    let mut checked = 0;
    let mut failures = Vec::new();
    for t in &oracle.territories {
        for (ty, desc) in phone_support::TYPES.iter().zip(&t.types) {
            let Some(example) = desc.as_ref().and_then(|d| d.example.as_deref()) else { continue };
            let mut cases: Vec<(Option<&str>, String)> =
                vec![(None, format!("+{}{example}", t.calling_code))];
            for default in ["US", "GB", "DE", "IN"] {
                cases.push((Some(default), format!("+{}{example}", t.calling_code)));
            }
            if t.id != "001" {
                cases.push((Some(t.id.as_str()), example.to_owned()));
                if let Some(np) = &t.national_prefix {
                    cases.push((Some(t.id.as_str()), format!("{np}{example}")));
                }
            }
            for (default, input) in cases {
                checked += 1;
                let (got, want) = (mine(default, &input), expected(default, &input));
                if got != want {
                    failures.push(format!("{} {ty} {default:?} {input}: got {got:?}, want {want:?}", t.id));
                }
            }
            // Sanity: the metadata's own example is valid in international form.
            let parsed = mine(None, &format!("+{}{example}", t.calling_code));
            if !parsed.as_ref().is_ok_and(|p| p.valid) {
                failures.push(format!("{} {ty} example {example} not valid: {parsed:?}", t.id));
            }
        }
    }
    assert!(checked > 5000, "only {checked} cases");
    assert!(failures.is_empty(), "{} of {checked} differ:\n{}", failures.len(), failures.join("\n"));
}

fn digits(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..10, len)
        .prop_map(|d| d.into_iter().map(|d| char::from(b'0' + d)).collect())
}

/// A calling code that exists (so random numbers get past it) or a random prefix.
fn international() -> impl Strategy<Value = String> {
    let codes: Vec<u16> =
        (1..1000u16).filter(|&c| !pumpguard_core::phone::regions_for_calling_code(c).is_empty()).collect();
    prop_oneof![
        (proptest::sample::select(codes), digits(1..=15)).prop_map(|(c, d)| format!("{c}{d}")),
        digits(3..=17),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn international_digits_match_the_oracle(
        number in international(),
        default in proptest::option::of(proptest::sample::select(DEFAULTS.to_vec())),
    ) {
        let input = format!("+{number}");
        prop_assert_eq!(mine(default, &input), expected(default, &input), "{:?} {}", default, input);
    }

    #[test]
    fn national_digits_match_the_oracle(
        number in digits(1..=17),
        default in proptest::sample::select(DEFAULTS.to_vec()),
    ) {
        prop_assert_eq!(mine(Some(default), &number), expected(Some(default), &number), "{} {}", default, number);
    }

    #[test]
    fn international_prefix_forms_match_the_oracle(
        idd in proptest::sample::select(vec!["00", "011", "810", "0011", "001", "0", "010", "0010", "00(?:1"]),
        number in international(),
        default in proptest::sample::select(DEFAULTS.to_vec()),
    ) {
        let input = format!("{}{number}", idd.trim_end_matches("(?:1"));
        prop_assert_eq!(mine(Some(default), &input), expected(Some(default), &input), "{} {}", default, input);
    }

    #[test]
    fn any_region_as_default_matches_the_oracle(
        number in digits(2..=17),
        plus in any::<bool>(),
        region in proptest::sample::select(oracle().region_ids()),
    ) {
        let input = if plus { format!("+{number}") } else { number };
        prop_assert_eq!(mine(Some(&region), &input), expected(Some(&region), &input), "{} {}", region, input);
    }
}
