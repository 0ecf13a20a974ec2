//! API-level unit tests; behaviour against libphonenumber is covered in `tests/phone_*.rs`.

use super::*;

fn region(code: &str) -> Region {
    Region::from_code(code).expect(code)
}

#[test]
fn regions_round_trip_and_know_their_calling_code() {
    assert_eq!(region("us").as_str(), "US");
    assert_eq!(region("Gb").as_str(), "GB");
    assert_eq!(region("US").calling_code(), 1);
    assert_eq!(region("GB").calling_code(), 44);
    assert_eq!(region("KZ").calling_code(), 7);
    assert_eq!(region("001").as_str(), "001");
    assert_eq!(region("001").calling_code(), 0);
    for bad in ["", "U", "USA", "ZZ", "XX", "0001", "u\u{301}s"] {
        assert_eq!(Region::from_code(bad), None, "{bad:?}");
    }
    assert!(region("DE") < region("FR"), "ordered like the code");
}

#[test]
fn calling_codes_list_the_main_country_first() {
    let codes = |cc: u16| regions_for_calling_code(cc).iter().map(|r| r.as_str()).collect::<Vec<_>>();
    assert_eq!(codes(44), ["GB", "GG", "IM", "JE"]);
    assert_eq!(codes(7), ["RU", "KZ"]);
    assert_eq!(codes(1).first(), Some(&"US"));
    assert_eq!(codes(1).len(), 25);
    assert_eq!(codes(800), ["001"]);
    assert_eq!(codes(49), ["DE"]);
    assert!(codes(0).is_empty() && codes(999).is_empty() && codes(1000).is_empty());
    for cc in [800, 808, 870, 878, 881, 882, 883, 888, 979] {
        assert_eq!(codes(cc), ["001"], "+{cc}");
    }
}

#[test]
fn number_type_names_match_serde() {
    for kind in NumberType::ALL {
        let json = serde_json::to_string(&kind).expect("serialise");
        assert_eq!(json, format!("\"{}\"", kind.as_str()));
    }
}

#[test]
fn errors_have_codes_and_explanations() {
    let all = [
        PhoneError::Empty,
        PhoneError::NotANumber,
        PhoneError::TooShort,
        PhoneError::TooLong,
        PhoneError::InvalidCallingCode,
        PhoneError::NoDefaultRegion,
    ];
    for error in all {
        assert!(error.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        let text = error.to_string();
        assert!(!text.is_empty() && !text.contains('\n'));
    }
}

#[test]
fn accessors_slice_one_inline_buffer() {
    let parser = PhoneParser::new(Some(region("IT")));
    let n = parser.parse("06 1234 5678").expect("valid");
    assert_eq!(n.e164(), "+390612345678");
    assert_eq!(n.digits(), "390612345678");
    assert_eq!(n.national_number(), "0612345678");
    assert_eq!(n.calling_code(), 39);
    assert_eq!(n.region(), Some(region("IT")));
    assert_eq!(n.number_type(), NumberType::FixedLine);
    assert!(n.is_valid());
    assert!(core::mem::size_of::<PhoneNumber>() <= 32);
    let n = PhoneParser::new(None).parse("+80012345678").expect("valid");
    assert_eq!(
        (n.national_number(), n.region(), n.number_type()),
        ("12345678", Some(region("001")), NumberType::TollFree)
    );
}

#[test]
fn vatican_and_shared_codes_pick_the_region_by_number() {
    let p = PhoneParser::new(None);
    let region_of = |s: &str| p.parse(s).ok().and_then(|n| n.region()).map(Region::as_str);
    assert_eq!(region_of("+39 06 698 12345"), Some("VA"));
    assert_eq!(region_of("+39 06 1234 5678"), Some("IT"));
    assert_eq!(region_of("+44 1481 256789"), Some("GG"));
    assert_eq!(region_of("+1 268 464 1234"), Some("AG"));
    assert_eq!(region_of("+1 613 555 0123"), Some("CA"));
    assert_eq!(region_of("+7 701 234 5678"), Some("KZ"));
    assert_eq!(region_of("+1 999 999 9999"), None);
}

#[test]
fn tables_are_compact() {
    let bytes: usize = tables::TABLE_BYTES.parse().expect("number");
    assert!(bytes < 400_000, "{bytes} bytes of tables");
}
