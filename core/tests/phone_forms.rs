//! The many ways one number can be written must all give the same result: separators,
//! Unicode digits, full-width plus, `tel:` URIs, extensions. Plus the error cases.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod phone_support;

use proptest::prelude::*;
use pumpguard_core::phone::{NumberType, PhoneError, PhoneParser, Region};

fn parser(region: Option<&str>) -> PhoneParser {
    PhoneParser::new(region.map(|r| Region::from_code(r).expect("region")))
}

const SEPARATORS: [&str; 16] = [
    " ", "-", ".", "/", "(", ")", "\u{A0}", "\u{2013}", "\u{2212}", "\u{3000}", "\u{200B}", "\t", "\u{FF0D}",
    "\u{FF0E}", "\u{FEFF}", "  ",
];
/// Zero of each digit script we try: ASCII, full-width, Arabic-Indic, Persian, Devanagari,
/// Bengali, Thai, mathematical bold.
const ZEROS: [u32; 8] = [0x30, 0xFF10, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0x1D7CE];
const EXTENSIONS: [&str; 9] =
    ["", " ext. 12", " x12", ";ext=12", " #12", ",,12", " extension 7", " Ext: 3", " ｘ５"];

#[derive(Debug, Clone)]
struct Style {
    separators: Vec<Option<usize>>,
    scripts: Vec<usize>,
    full_width_plus: bool,
    tel: bool,
    extension: usize,
    padding: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (
        proptest::collection::vec(proptest::option::weighted(0.4, 0..SEPARATORS.len()), 24),
        proptest::collection::vec(proptest::sample::select(vec![0, 0, 0, 1, 2, 3, 4, 5, 6, 7]), 24),
        any::<bool>(),
        any::<bool>(),
        0..EXTENSIONS.len(),
        any::<bool>(),
    )
        .prop_map(|(separators, scripts, full_width_plus, tel, extension, padding)| Style {
            separators,
            scripts,
            full_width_plus,
            tel,
            extension,
            padding,
        })
}

/// Writes a plain "+4420..." or "020..." input in the given style.
fn render(plain: &str, style: &Style) -> String {
    let mut out = String::new();
    if style.padding {
        out.push_str(" \u{A0}");
    }
    if style.tel {
        out.push_str("tel:");
    }
    for (i, c) in plain.chars().enumerate() {
        if let Some(sep) = style.separators.get(i).copied().flatten() {
            out.push_str(SEPARATORS[sep]);
        }
        match c {
            '+' => out.push(if style.full_width_plus { '\u{FF0B}' } else { '+' }),
            d => {
                let zero = ZEROS[style.scripts.get(i).copied().unwrap_or(0)];
                out.push(char::from_u32(zero + d.to_digit(10).expect("digit")).expect("char"));
            }
        }
    }
    out.push_str(EXTENSIONS[style.extension]);
    if style.padding {
        out.push(' ');
    }
    out
}

fn examples() -> Vec<(String, String, Option<String>)> {
    // (region, national example, national prefix)
    let oracle = phone_support::Oracle::new();
    let mut out = Vec::new();
    for t in oracle.territories.iter() {
        for desc in t.types.iter().flatten() {
            if let Some(example) = &desc.example {
                out.push((
                    if t.id == "001" { format!("+{}", t.calling_code) } else { t.id.clone() },
                    example.clone(),
                    t.national_prefix.clone(),
                ));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn international_examples_in_any_style_parse_like_the_plain_form(
        example in proptest::sample::select(examples()),
        default in proptest::option::of(proptest::sample::select(vec!["US", "GB", "DE", "IN", "BR"])),
        style in style(),
    ) {
        let (region, number, _) = example;
        let code = match region.strip_prefix('+') {
            Some(code) => code.to_owned(),
            None => Region::from_code(&region).expect("region").calling_code().to_string(),
        };
        let plain = format!("+{code}{number}");
        let parser = parser(default);
        let expected = parser.parse(&plain);
        prop_assert!(expected.as_ref().is_ok_and(|n| n.is_valid()), "{:?}", expected);
        let styled = render(&plain, &style);
        prop_assert_eq!(parser.parse(&styled), expected, "{:?}", styled);
    }

    #[test]
    fn national_examples_in_any_style_parse_like_the_plain_form(
        example in proptest::sample::select(examples()),
        with_prefix in any::<bool>(),
        style in style(),
    ) {
        let (region, number, national_prefix) = example;
        prop_assume!(!region.starts_with('+'));
        let plain = match (with_prefix, national_prefix) {
            (true, Some(prefix)) => format!("{prefix}{number}"),
            _ => number,
        };
        let parser = parser(Some(&region));
        let styled = render(&plain, &style);
        prop_assert_eq!(parser.parse(&styled), parser.parse(&plain), "{:?}", styled);
    }

    #[test]
    fn random_digits_in_any_style_parse_like_the_plain_form(
        digits in "[0-9]{3,17}",
        plus in any::<bool>(),
        default in proptest::option::of(proptest::sample::select(vec!["US", "GB", "DE", "FR", "IN", "AR", "RU", "JP"])),
        style in style(),
    ) {
        let plain = if plus { format!("+{digits}") } else { digits };
        let parser = parser(default);
        prop_assert_eq!(parser.parse(&render(&plain, &style)), parser.parse(&plain));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,40}", default in proptest::option::of(proptest::sample::select(vec!["US", "GB", "AR", "BR"]))) {
        let _ = parser(default).parse(&text);
    }
}

#[test]
fn phone_context_supplies_the_calling_code() {
    let p = parser(None);
    let want = p.parse("+64 3 331 6005").expect("valid");
    assert_eq!(p.parse("tel:03-331-6005;phone-context=+64"), Ok(want.clone()));
    assert_eq!(p.parse("tel:331-6005;phone-context=+64-3"), Ok(want.clone()));
    assert_eq!(p.parse("tel:+64-3-331-6005;isub=12345"), Ok(want.clone()));
    assert_eq!(p.parse("tel:+64-3-331-6005;phone-context=example.com"), Ok(want.clone()));
    assert_eq!(parser(Some("NZ")).parse("tel:03-331-6005;phone-context=example.com"), Ok(want));
    assert_eq!(p.parse("tel:03-331-6005;phone-context="), Err(PhoneError::NotANumber));
    assert_eq!(p.parse("tel:03-331-6005;phone-context=+"), Err(PhoneError::NotANumber));
}

#[test]
fn international_prefixes_of_the_default_region() {
    let want = parser(None).parse("+44 20 7946 0000").expect("valid");
    assert_eq!(parser(Some("US")).parse("011 44 20 7946 0000"), Ok(want.clone()));
    assert_eq!(parser(Some("DE")).parse("00 44 20 7946 0000"), Ok(want.clone()));
    assert_eq!(parser(Some("AU")).parse("0011 44 20 7946 0000"), Ok(want.clone()));
    assert_eq!(parser(Some("GB")).parse("+00 44 20 7946 0000"), Ok(want.clone()));
    assert_eq!(parser(Some("GB")).parse("020 7946 0000"), Ok(want.clone()));
    assert_eq!(parser(Some("GB")).parse("+44 (0)20 7946 0000"), Ok(want));
}

#[test]
fn national_formats() {
    let check = |region: &str, input: &str, e164: &str, kind: NumberType| {
        let n = parser(Some(region)).parse(input).expect(input);
        assert_eq!((n.e164(), n.number_type(), n.is_valid()), (e164, kind, true), "{region} {input}");
    };
    let mobile = |region: &str, input: &str, e164: &str| check(region, input, e164, NumberType::Mobile);
    mobile("IN", "91234 56789", "+919123456789");
    mobile("IN", "091234 56789", "+919123456789");
    mobile("AR", "011 15-2345-6789", "+5491123456789");
    mobile("BR", "(11) 96123-4567", "+5511961234567");
    mobile("BR", "0 21 11 96123-4567", "+5511961234567"); // carrier selection code 21
                                                          // Mexico no longer distinguishes mobile numbers.
    check("MX", "55 1234 5678", "+525512345678", NumberType::FixedLineOrMobile);
    check("US", "1 (800) 555-0199", "+18005550199", NumberType::TollFree);
    check("GB", "09065 123456", "+449065123456", NumberType::PremiumRate);
    mobile("RU", "8 912 345-67-89", "+79123456789");
    mobile("CN", "138 0013 8000", "+8613800138000");
    let it = parser(Some("IT")).parse("06 1234 5678").expect("IT");
    assert_eq!(
        (it.e164(), it.national_number(), it.number_type()),
        ("+390612345678", "0612345678", NumberType::FixedLine)
    );
}

#[test]
fn errors() {
    let us = parser(Some("US"));
    for (input, error) in [
        ("", PhoneError::Empty),
        (" \u{A0}\t", PhoneError::Empty),
        ("+", PhoneError::NotANumber),
        ("5", PhoneError::NotANumber),
        ("+12", PhoneError::NotANumber),
        ("1-800-FLOWERS", PhoneError::NotANumber),
        ("+44 20 7946 000O", PhoneError::NotANumber),
        ("call me: 4155550123", PhoneError::NotANumber),
        ("415+555+0123", PhoneError::NotANumber),
        ("415~555~0123", PhoneError::NotANumber),
        ("+999 1234 5678", PhoneError::InvalidCallingCode),
        ("+0 1234 5678", PhoneError::InvalidCallingCode),
        ("+1 2", PhoneError::NotANumber),
        ("+44 1", PhoneError::TooShort),
        ("011 44", PhoneError::TooShort),
        ("+44 123456789012345678", PhoneError::TooLong),
        (&"9".repeat(70), PhoneError::TooLong),
    ] {
        assert_eq!(us.parse(input), Err(error), "{input:?}");
    }
    assert_eq!(parser(None).parse("020 7946 0000"), Err(PhoneError::NoDefaultRegion));
    // "001" is not a region numbers are written in: no default.
    assert_eq!(parser(Some("001")).parse("12345678"), Err(PhoneError::NoDefaultRegion));
}

#[test]
fn invalid_numbers_with_a_calling_code_still_parse() {
    let n = parser(None).parse("+44 1234").expect("parses");
    assert_eq!(
        (n.e164(), n.is_valid(), n.number_type(), n.region()),
        ("+441234", false, NumberType::Unknown, None)
    );
    let n = parser(None).parse("+33 9999").expect("parses");
    assert_eq!(n.region().map(Region::as_str), Some("FR"), "single-region calling codes keep their region");
}

/// Pieces from which adversarial inputs are assembled, to reach deep parser paths.
const PIECES: [&str; 28] = [
    "0",
    "1",
    "4",
    "7",
    "9",
    "00",
    "011",
    "44",
    "+",
    "＋",
    " ",
    "-",
    "(",
    ")",
    ".",
    "/",
    "x",
    "ext",
    "#",
    "~",
    ",",
    ";",
    ";ext=",
    ";phone-context=",
    "tel:",
    "；",
    "٣",
    "８",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    #[test]
    fn parsed_numbers_are_well_formed(
        pieces in proptest::collection::vec(proptest::sample::select(PIECES.to_vec()), 0..24),
        default in proptest::option::of(proptest::sample::select(vec!["US", "GB", "AR", "BR", "JP", "GG", "CC"])),
    ) {
        let input: String = pieces.concat();
        if let Ok(n) = parser(default).parse(&input) {
            let e164 = n.e164();
            prop_assert!(e164.starts_with('+') && e164.len() <= 21, "{}", e164);
            prop_assert_eq!(n.digits(), &e164[1..]);
            prop_assert!(n.digits().bytes().all(|b| b.is_ascii_digit()));
            prop_assert_eq!(format!("+{}{}", n.calling_code(), n.national_number()), e164);
            prop_assert!((2..=17).contains(&n.national_number().len()));
            prop_assert!(!pumpguard_core::phone::regions_for_calling_code(n.calling_code()).is_empty());
            if let Some(region) = n.region() {
                prop_assert!(region.as_str() == "001" || region.calling_code() == n.calling_code());
            }
            prop_assert!(!n.is_valid() || n.region().is_some());
            prop_assert_eq!(n.is_valid(), n.number_type() != NumberType::Unknown);
            // Parsing the E.164 form of a valid number again gives the same number. (Not so for
            // invalid ones: "+61 030011" has its national prefix 0 stripped, as in libphonenumber.)
            if n.is_valid() {
                prop_assert_eq!(parser(None).parse(e164), Ok(n.clone()));
            }
        }
    }
}
