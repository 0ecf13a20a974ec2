//! libphonenumber's parsing algorithm (`PhoneNumberUtil.parseHelper` and the helpers it calls)
//! applied to digits the front end has already normalised: international prefix, country
//! calling code, national prefix and carrier code, length checks.

use super::normalize::{Scanned, MAX_DIGITS};
use super::tables::{self, Territory};
use super::PhoneError;

const MIN_LENGTH_FOR_NSN: usize = 2;
const MAX_LENGTH_FOR_NSN: usize = 17;
const MAX_LENGTH_COUNTRY_CODE: usize = 3;
/// A national prefix transform can add a few digits to the input.
const CAPACITY: usize = MAX_DIGITS + 8;

/// A short string of ASCII digits, kept on the stack.
#[derive(Clone, Copy)]
pub(super) struct DigitBuf {
    bytes: [u8; CAPACITY],
    len: usize,
}

impl DigitBuf {
    fn new() -> DigitBuf {
        DigitBuf { bytes: [0; CAPACITY], len: 0 }
    }

    fn from_slice(digits: &[u8]) -> DigitBuf {
        let mut buf = DigitBuf::new();
        buf.extend(digits);
        buf
    }

    /// Appends as much of `digits` as fits.
    fn extend(&mut self, digits: &[u8]) {
        let count = digits.len().min(CAPACITY - self.len);
        if let (Some(to), Some(from)) = (self.bytes.get_mut(self.len..self.len + count), digits.get(..count))
        {
            to.copy_from_slice(from);
            self.len += count;
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    fn tail(&self, from: usize) -> DigitBuf {
        DigitBuf::from_slice(self.as_slice().get(from..).unwrap_or(&[]))
    }
}

pub(super) struct Parsed {
    pub calling_code: u16,
    pub national: DigitBuf,
}

/// `default` is the territory of the configured default region (never "001").
pub(super) fn parse(scanned: &Scanned, default: Option<&'static Territory>) -> Result<Parsed, PhoneError> {
    let digits = scanned.digits();
    if !scanned.plus && default.is_none() {
        return Err(PhoneError::NoDefaultRegion);
    }
    let extracted = match extract_country_code(digits, scanned.plus, default) {
        // After a "+" the digits may still start with an international prefix ("+00 44 ...").
        Err(PhoneError::InvalidCallingCode) if scanned.plus => {
            match extract_country_code(digits, false, default)? {
                Some(found) => Some(found),
                None => return Err(PhoneError::InvalidCallingCode),
            }
        }
        other => other?,
    };
    let (calling_code, mut national, region_territory) = match extracted {
        Some((calling_code, national)) => {
            let main = main_territory(calling_code);
            // libphonenumber keeps the default region's metadata when it is the main region.
            let territory = match (main, default) {
                (Some(main), Some(default)) if main.region == default.region => Some(default),
                _ => main,
            };
            (calling_code, national, territory)
        }
        None => match default {
            Some(default) => (default.calling_code, DigitBuf::from_slice(digits), Some(default)),
            None => return Err(PhoneError::NoDefaultRegion),
        },
    };
    if national.len < MIN_LENGTH_FOR_NSN {
        return Err(PhoneError::TooShort);
    }
    if let Some(territory) = region_territory {
        let mut potential = national;
        strip_national_prefix(&mut potential, territory);
        if !matches!(
            test_length(potential.as_slice(), territory),
            Length::TooShort | Length::PossibleLocalOnly | Length::Invalid
        ) {
            national = potential;
        }
    }
    if national.len < MIN_LENGTH_FOR_NSN {
        return Err(PhoneError::TooShort);
    }
    if national.len > MAX_LENGTH_FOR_NSN {
        return Err(PhoneError::TooLong);
    }
    Ok(Parsed { calling_code, national })
}

fn main_territory(calling_code: u16) -> Option<&'static Territory> {
    tables::territory(tables::territories_for_calling_code(calling_code).start)
        .filter(|t| t.calling_code == calling_code)
}

/// libphonenumber's `maybeExtractCountryCode`: `Ok(None)` when the number carries no calling
/// code of its own and is in the default region's national format.
fn extract_country_code(
    digits: &[u8],
    plus: bool,
    default: Option<&'static Territory>,
) -> Result<Option<(u16, DigitBuf)>, PhoneError> {
    if digits.is_empty() {
        return Ok(None);
    }
    let international =
        if plus { Some(digits) } else { default.and_then(|t| strip_international_prefix(digits, t)) };
    if let Some(full) = international {
        if full.len() <= MIN_LENGTH_FOR_NSN {
            return Err(PhoneError::TooShort);
        }
        return leading_calling_code(full)
            .map(|(code, len)| Some((code, DigitBuf::from_slice(full.get(len..).unwrap_or(&[])))))
            .ok_or(PhoneError::InvalidCallingCode);
    }
    let Some(default) = default else { return Ok(None) };
    // A national-format number may still start with the default region's own calling code.
    let mut code_digits = [0u8; 3];
    let code = decimal(default.calling_code, &mut code_digits);
    if let Some(rest) = digits.strip_prefix(code) {
        let mut potential = DigitBuf::from_slice(rest);
        strip_national_prefix(&mut potential, default);
        let was_valid = tables::matches_general_pattern(default, digits);
        let is_valid = tables::matches_general_pattern(default, potential.as_slice());
        if (!was_valid && is_valid) || test_length(digits, default) == Length::TooLong {
            return Ok(Some((default.calling_code, potential)));
        }
    }
    Ok(None)
}

/// libphonenumber's `parsePrefixAsIdd`: the digits after the default region's international
/// prefix, unless what follows starts with 0 (no calling code does).
fn strip_international_prefix<'a>(digits: &'a [u8], territory: &Territory) -> Option<&'a [u8]> {
    let found = tables::match_prefix(territory.international_prefix?, digits)?;
    let rest = digits.get(found.end()..)?;
    (rest.first() != Some(&b'0')).then_some(rest)
}

/// libphonenumber's `extractCountryCode`: the first 1-3 digit prefix that is a calling code.
fn leading_calling_code(digits: &[u8]) -> Option<(u16, usize)> {
    if digits.first() == Some(&b'0') {
        return None;
    }
    let mut code = 0u16;
    for (len, &digit) in digits.iter().enumerate().take(MAX_LENGTH_COUNTRY_CODE) {
        code = code * 10 + u16::from(digit.wrapping_sub(b'0'));
        if !tables::territories_for_calling_code(code).is_empty() {
            return Some((code, len + 1));
        }
    }
    None
}

/// Writes `value` (< 1000) in decimal into `buf`, returning the used part.
fn decimal(value: u16, buf: &mut [u8; 3]) -> &[u8] {
    let digits = [(value / 100) as u8, (value / 10 % 10) as u8, (value % 10) as u8].map(|d| b'0' + d);
    *buf = digits;
    let skip = if value >= 100 {
        0
    } else if value >= 10 {
        1
    } else {
        2
    };
    buf.get(skip..).unwrap_or(&[])
}

/// libphonenumber's `maybeStripNationalPrefixAndCarrierCode` (the carrier code is dropped).
fn strip_national_prefix(number: &mut DigitBuf, territory: &Territory) {
    let Some(matcher) = territory.national_prefix else { return };
    if number.len == 0 {
        return;
    }
    let Some(found) = tables::match_prefix(matcher, number.as_slice()) else { return };
    let was_viable = tables::matches_general_pattern(territory, number.as_slice());
    let groups = territory.national_prefix_groups;
    // With no capture group, Java's group(0) is the whole match and never null.
    let last_group_missing = groups > 0 && found.group(groups).is_none();
    match territory.transform {
        Some(rule) if !last_group_missing => {
            let mut transformed = DigitBuf::new();
            for &part in rule {
                match part {
                    b'0'..=b'9' => transformed.extend(&[part]),
                    group => {
                        if let Some((start, end)) = found.group(group) {
                            transformed.extend(number.as_slice().get(start..end).unwrap_or(&[]));
                        }
                    }
                }
            }
            transformed.extend(number.as_slice().get(found.end()..).unwrap_or(&[]));
            if was_viable && !tables::matches_general_pattern(territory, transformed.as_slice()) {
                return;
            }
            *number = transformed;
        }
        _ => {
            let stripped = number.tail(found.end());
            if was_viable && !tables::matches_general_pattern(territory, stripped.as_slice()) {
                return;
            }
            *number = stripped;
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Length {
    Possible,
    PossibleLocalOnly,
    TooShort,
    Invalid,
    TooLong,
}

/// libphonenumber's `testNumberLength` for type UNKNOWN (the general description).
fn test_length(number: &[u8], territory: &Territory) -> Length {
    let len = number.len();
    let has = |mask: u32| {
        u32::try_from(len).ok().and_then(|l| 1u32.checked_shl(l)).is_some_and(|bit| mask & bit != 0)
    };
    let possible = territory.possible_lengths;
    if possible == 0 {
        return Length::Invalid;
    }
    if has(territory.local_only_lengths) {
        return Length::PossibleLocalOnly;
    }
    let min = possible.trailing_zeros() as usize;
    let max = 31 - possible.leading_zeros() as usize;
    if len == min {
        Length::Possible
    } else if len < min {
        Length::TooShort
    } else if len > max {
        Length::TooLong
    } else if has(possible) {
        Length::Possible
    } else {
        Length::Invalid
    }
}
