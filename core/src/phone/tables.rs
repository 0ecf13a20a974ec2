//! Generated metadata tables (see `build.rs`) and the two automaton walks over them.
//!
//! Everything here is immutable `static` data produced at build time: no lazy decoding and no
//! regex engine on the request path.

use super::region::Region;

/// One libphonenumber territory (a region, or one non-geographic calling code of "001").
pub(super) struct Territory {
    pub calling_code: u16,
    pub region: Region,
    /// Start state of the number-type classifier (full match of every number-type pattern).
    pub number_type: u32,
    /// Start state of the leading-digits prefix matcher, for regions sharing a calling code.
    pub leading_digits: Option<u32>,
    pub international_prefix: Option<u32>,
    /// National prefix for parsing (defaults to the national prefix), as a matcher.
    pub national_prefix: Option<u32>,
    /// Number of capture groups in the national prefix for parsing pattern.
    pub national_prefix_groups: u8,
    /// National prefix transform rule: ASCII digits, or 1/2 for a reference to that group.
    pub transform: Option<&'static [u8]>,
    /// Bit `n` set when `n` is a possible national number length (libphonenumber's general
    /// description, i.e. the union over number types).
    pub possible_lengths: u32,
    pub local_only_lengths: u32,
}

include!(concat!(env!("OUT_DIR"), "/phone_tables.rs"));

/// Bytes of generated lookup tables, measured by the build script.
#[cfg(test)]
pub(super) const TABLE_BYTES: &str = env!("PUMPGUARD_PHONE_TABLE_BYTES");

const DEAD: u32 = 0;
const ACCEPT_ALL: u32 = 1;
const TYPE_MASK: u8 = 0x0f;
const GENERAL_PATTERN_BIT: u8 = 0x10;
const END_SYMBOL: usize = 10;
const NO_CAPTURE: u8 = u8::MAX;

fn classifier_step(state: u32, digit: u8) -> u32 {
    let index = state as usize * 10 + usize::from(digit.wrapping_sub(b'0'));
    CLASSIFIER_TRANSITIONS.get(index).map_or(DEAD, |&next| u32::from(next))
}

/// Output byte of the classifier state reached after the whole of `digits`.
fn classify(start: u32, digits: &[u8]) -> u8 {
    let mut state = start;
    for &digit in digits {
        state = classifier_step(state, digit);
        if state == DEAD {
            return 0;
        }
    }
    CLASSIFIER_OUTPUTS.get(state as usize).copied().unwrap_or(0)
}

/// Number type code of `digits` (0 = unknown, else 1 + index in `NumberType::ALL`).
pub(super) fn number_type_code(territory: &Territory, digits: &[u8]) -> u8 {
    classify(territory.number_type, digits) & TYPE_MASK
}

/// libphonenumber's `matchNationalNumber(digits, generalDesc)`: the pattern alone, no lengths.
pub(super) fn matches_general_pattern(territory: &Territory, digits: &[u8]) -> bool {
    classify(territory.number_type, digits) & GENERAL_PATTERN_BIT != 0
}

/// Whether a prefix of `digits` matches the leading-digits pattern starting at `start`.
pub(super) fn matches_prefix(start: u32, digits: &[u8]) -> bool {
    let mut state = start;
    for &digit in digits {
        if state == ACCEPT_ALL || state == DEAD {
            break;
        }
        state = classifier_step(state, digit);
    }
    state == ACCEPT_ALL
}

/// Where the preferred anchored match ends and what groups 1 and 2 captured.
#[derive(Clone, Copy)]
pub(super) struct PrefixMatch {
    outcome: [u8; 5],
}

impl PrefixMatch {
    pub fn end(self) -> usize {
        usize::from(self.outcome[0])
    }

    /// Byte range of capture group `group` (1 or 2), `None` when it did not participate.
    pub fn group(self, group: u8) -> Option<(usize, usize)> {
        let at = usize::from(group) * 2;
        let start = *self.outcome.get(at.wrapping_sub(1))?;
        let end = *self.outcome.get(at)?;
        (start != NO_CAPTURE).then_some((usize::from(start), usize::from(end)))
    }
}

/// libphonenumber's `lookingAt` for an international or national prefix pattern.
pub(super) fn match_prefix(start: u32, digits: &[u8]) -> Option<PrefixMatch> {
    let step = |state: u32, symbol: usize| {
        MATCHER_TRANSITIONS.get(state as usize * 11 + symbol).map_or(0, |&next| u32::from(next))
    };
    let mut state = start;
    for &digit in digits {
        let next = step(state, usize::from(digit.wrapping_sub(b'0')));
        // Only decided (terminal) states loop to themselves.
        if next == state {
            break;
        }
        state = next;
    }
    state = step(state, END_SYMBOL);
    let outcome = *MATCHER_OUTCOME_OF_STATE.get(state as usize)?;
    if outcome == 0 {
        return None;
    }
    MATCHER_OUTCOMES.get(usize::from(outcome)).map(|&outcome| PrefixMatch { outcome })
}

pub(super) fn territory(index: usize) -> Option<&'static Territory> {
    TERRITORIES.get(index)
}

/// Indices of the territories of a calling code, main country first.
pub(super) fn territories_for_calling_code(calling_code: u16) -> core::ops::Range<usize> {
    let packed = CALLING_CODE_TERRITORIES.get(usize::from(calling_code)).copied().unwrap_or(0);
    let first = usize::from(packed & 0xff);
    first..first + usize::from(packed >> 8)
}
