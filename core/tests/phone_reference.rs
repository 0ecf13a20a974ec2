//! Against the `phonenumber` crate, the reference implementation this module replaces.
//!
//! We follow libphonenumber (see tests/phone_oracle.rs), and the crate departs from it in the
//! ways listed in tests/phone_support/crate_model.rs. These tests show (1) that model reproduces
//! the crate exactly on plain inputs, so every difference between the crate and us is one of
//! those listed bugs, and (2) concrete inputs for the bugs that matter most here.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod phone_support;

use phone_support::crate_model;
use phone_support::database;
use phonenumber::Mode;
use proptest::prelude::*;
use pumpguard_core::phone::{PhoneParser, Region};

fn type_name(t: phonenumber::Type) -> &'static str {
    use phonenumber::Type::*;
    match t {
        FixedLine => "fixed_line",
        Mobile => "mobile",
        FixedLineOrMobile => "fixed_line_or_mobile",
        TollFree => "toll_free",
        PremiumRate => "premium_rate",
        SharedCost => "shared_cost",
        Voip => "voip",
        PersonalNumber => "personal_number",
        Pager => "pager",
        Uan => "uan",
        Voicemail => "voicemail",
        _ => "unknown",
    }
}

fn reference(default: Option<&str>, input: &str) -> crate_model::Outcome {
    let country = default.map(|d| d.parse().expect("region id"));
    let n = phonenumber::parse_with(database(), country, input).map_err(|_| ())?;
    Ok((
        n.format().mode(Mode::E164).to_string(),
        n.is_valid_with(database()),
        type_name(n.number_type(database())),
        n.metadata(database())
            .and_then(|m| m.id().parse::<phonenumber::country::Id>().ok())
            .map(|c| c.as_ref().to_owned()),
    ))
}

fn ours(default: Option<&str>, input: &str) -> crate_model::Outcome {
    let n = PhoneParser::new(default.and_then(Region::from_code)).parse(input).map_err(|_| ())?;
    Ok((
        n.e164().to_owned(),
        n.is_valid(),
        n.number_type().as_str(),
        n.region().map(|r| r.as_str().to_owned()),
    ))
}

/// Example numbers of every type and region: international, international with a default
/// region, and national with the region as default.
fn example_inputs() -> Vec<(Option<String>, String)> {
    let oracle = phone_support::Oracle::new();
    let mut cases = Vec::new();
    for t in &oracle.territories {
        for desc in t.types.iter().flatten() {
            let Some(example) = desc.example.as_deref() else { continue };
            cases.push((None, format!("+{}{example}", t.calling_code)));
            cases.push((Some("US".to_owned()), format!("+{}{example}", t.calling_code)));
            cases.push((Some("DE".to_owned()), format!("+{}{example}", t.calling_code)));
            if t.id != "001" {
                cases.push((Some(t.id.clone()), example.to_owned()));
            }
        }
    }
    cases
}

#[test]
fn the_crate_model_reproduces_the_crate_on_every_example() {
    let cases = example_inputs();
    let mut differ_from_us = 0;
    let mut failures = Vec::new();
    for (default, input) in &cases {
        let default = default.as_deref();
        let crate_result = reference(default, input);
        if crate_model::parse(default, input) != crate_result {
            failures.push(format!(
                "{default:?} {input}: crate {crate_result:?} model {:?}",
                crate_model::parse(default, input)
            ));
        }
        differ_from_us += usize::from(ours(default, input) != crate_result);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "{} example inputs, {differ_from_us} parsed differently by the crate (all by its listed bugs)",
        cases.len()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn the_crate_model_reproduces_the_crate_on_random_digits(
        digits in "[0-9]{2,17}",
        plus in any::<bool>(),
        default in proptest::option::of(proptest::sample::select(vec!["US", "GB", "DE", "FR", "IN", "BR", "AR", "MX", "IT", "RU", "CN", "JP", "NG"])),
    ) {
        let input = if plus { format!("+{digits}") } else { digits };
        prop_assume!(plus || default.is_some());
        prop_assert_eq!(crate_model::parse(default, &input), reference(default, &input), "{:?} {}", default, input);
    }
}

/// Concrete cases of the crate's bugs that change results for real numbers.
#[test]
fn documented_deviations() {
    // (default, input, crate's e164, our e164)
    let cases = [
        // BUG 1: an Indian mobile starting with the calling code 91 loses it.
        (Some("IN"), "9123456789", "+9123456789", "+919123456789"),
        // BUG 2: default US rules strip the "1" of a Chinese mobile.
        (Some("US"), "+8613800138000", "+863800138000", "+8613800138000"),
        // BUG 2: default DE rules strip the Italian leading zero.
        (Some("DE"), "+390612345678", "+39612345678", "+390612345678"),
        // BUG 3: Russian toll-free 8-800 loses its 8.
        (None, "+78001234567", "+7001234567", "+78001234567"),
    ];
    for (default, input, crate_e164, our_e164) in cases {
        let crate_result = reference(default, input).expect("crate parses");
        assert_eq!(crate_result.0, crate_e164, "{input}");
        let ours = ours(default, input).expect("we parse");
        assert_eq!(ours.0, our_e164, "{input}");
        assert!(ours.1, "{input} is valid");
    }
    // BUG 6: a valid Italian fixed line has type unknown and no region in the crate.
    assert_eq!(reference(None, "+390212345678"), Ok(("+390212345678".into(), true, "unknown", None)));
    assert_eq!(
        ours(None, "+390212345678"),
        Ok(("+390212345678".into(), true, "fixed_line", Some("IT".into())))
    );
    // BUG 7: non-geographic numbers have region "001" for us.
    assert_eq!(reference(None, "+80012345678").map(|r| r.3), Ok(None));
    assert_eq!(ours(None, "+80012345678").map(|r| r.3), Ok(Some("001".into())));
    // Not a bug in the model's sense but a front-end gap: the crate rejects full-width digits.
    assert!(reference(None, "+４４２０７９４６００００").is_err());
    assert_eq!(ours(None, "+４４２０７９４６００００").map(|r| r.0), Ok("+442079460000".into()));
}
