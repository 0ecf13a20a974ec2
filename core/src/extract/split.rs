//! Numbers split over two fields: a country part (`"+234"`, `"234"`, `"NG"`) and a national part
//! (`"8031234567"`), as APIs such as `{"country_code": "+234", "phone": "8031234567"}` or the form
//! fields `dial_code` + `number` send them.
//!
//! Judged alone, the national part would be read under the policy's `default_region`, so one
//! changed field walks such an API into any country. Instead the pair is read as the origin joins
//! it: a calling code is prefixed (`+234 8031234567`), a region code becomes the region the
//! national part is parsed in. Whatever could be joined two ways is refused as ambiguous: two
//! country parts for one national part, a country part only in another part of the request
//! (query string vs body, another JSON object), a country part that is neither a calling code
//! nor a region code, or a national part in international form whose own calling code differs.

use super::names::eq_folded;
use super::path::{self, Step};
use super::{Candidate, ExtractError, Extracted, Source};
use crate::phone::{ascii_digit, Region};

/// Most `split_numbers` entries in one spec.
pub(crate) const MAX_SPLIT_PAIRS: usize = 8;

/// The compiled `split_numbers` entries, names folded.
#[derive(Clone, Debug, Default)]
pub(crate) struct SplitPlan {
    pub(crate) pairs: Vec<SplitPair>,
}

#[derive(Clone, Debug)]
pub(crate) struct SplitPair {
    pub(crate) country: Box<[u8]>,
    pub(crate) national: Box<[u8]>,
}

/// Where a value sits: two fields are a pair only within one container.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Container {
    /// The JSON object holding the field, by its path.
    Json(Vec<Step>),
    Form,
    Query,
}

enum Role {
    Country(usize),
    National(usize),
}

impl SplitPlan {
    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The role of a candidate's field in the pairs, and its container.
    fn role_of(&self, source: &Source) -> Option<(Role, Container)> {
        let (name, container) = match source {
            Source::Json(p) => {
                let mut steps = path::parse(p).ok()?;
                // `{"phone": ["803…"]}`: the field is the key holding the array.
                while matches!(steps.last(), Some(Step::Index(_) | Step::AnyIndex)) {
                    steps.pop();
                }
                let Some(Step::Key(name)) = steps.pop() else { return None };
                (name, Container::Json(steps))
            }
            Source::Form(name) => (name.clone(), Container::Form),
            Source::Query(name) => (name.clone(), Container::Query),
        };
        let name = name.strip_suffix("[]").unwrap_or(&name).as_bytes();
        for (i, pair) in self.pairs.iter().enumerate() {
            if eq_folded(name, &pair.national) {
                return Some((Role::National(i), container));
            }
        }
        let i = self.pairs.iter().position(|pair| eq_folded(name, &pair.country))?;
        Some((Role::Country(i), container))
    }

    /// Joins every national part with its country part; country parts are no numbers of their own.
    pub(crate) fn join(&self, out: &mut Extracted) -> Result<(), ExtractError> {
        let mut countries: Vec<(usize, Container, Candidate)> = Vec::new();
        let mut nationals: Vec<(usize, usize, Container)> = Vec::new();
        let mut numbers = Vec::with_capacity(out.numbers.len());
        for candidate in out.numbers.drain(..) {
            match self.role_of(&candidate.source) {
                Some((Role::Country(pair), container)) => countries.push((pair, container, candidate)),
                Some((Role::National(pair), container)) => {
                    nationals.push((numbers.len(), pair, container));
                    numbers.push(candidate);
                }
                None => numbers.push(candidate),
            }
        }
        for (index, pair, container) in nationals {
            let Some(national) = numbers.get_mut(index) else { continue };
            let mut parts = countries.iter().filter(|(p, _, _)| *p == pair);
            let mut here = parts.clone().filter(|(_, c, _)| *c == container);
            match (here.next(), here.next()) {
                (Some((_, _, country)), None) => join_one(national, country)?,
                (Some(_), Some((_, _, second))) => {
                    return Err(ambiguous(format!(
                        "{} has two country parts (the second at {})",
                        national.source, second.source
                    )))
                }
                (None, _) => {
                    if let Some((_, _, elsewhere)) = parts.next() {
                        return Err(ambiguous(format!(
                            "the country part of {} is at {}, in another part of the request; \
                             origins differ on whether they join them",
                            national.source, elsewhere.source
                        )));
                    }
                    // No country part at all: the national part alone, in the default region.
                }
            }
        }
        out.numbers = numbers;
        Ok(())
    }
}

/// Reads `national` as joined with `country`.
fn join_one(national: &mut Candidate, country: &Candidate) -> Result<(), ExtractError> {
    let code = country.raw.trim();
    if let Some(region) = region_code(code) {
        // Parsed in that region, as `parse(number, region)` does: a national part in
        // international form keeps its own calling code, there and here alike.
        national.region = Some(region);
        return Ok(());
    }
    let Some(digits) = calling_code(code) else {
        return Err(ambiguous(format!(
            "{} is {code:?}: neither a calling code (\"+234\", \"234\") nor a region code (\"NG\")",
            country.source
        )));
    };
    let text = national.raw.trim_start();
    if text.starts_with(['+', '\u{ff0b}']) {
        // Joined, it would be "+234+234…", which no origin texts; read alone, it has its own
        // calling code. Consistent only when that code is this one.
        let own: String = text.chars().filter_map(ascii_digit).map(char::from).take(digits.len()).collect();
        if own != digits {
            return Err(ambiguous(format!(
                "{} is in international form with another calling code than {} ({code:?})",
                national.source, country.source
            )));
        }
        return Ok(());
    }
    national.raw = format!("+{digits} {text}");
    Ok(())
}

/// A two-letter region code such as `NG` (any case), not `001`.
fn region_code(text: &str) -> Option<Region> {
    (text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| Region::from_code(text))
        .flatten()
}

/// The digits of a calling code written `+234`, `234`, `00234`, `+1-876` or `(+44)`.
fn calling_code(text: &str) -> Option<String> {
    let inner = text.trim_start_matches('(').trim_end_matches(')');
    let inner = inner.strip_prefix(['+', '\u{ff0b}']).or_else(|| inner.strip_prefix("00")).unwrap_or(inner);
    let digits: String = inner.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (!digits.is_empty()
        && digits.len() <= 4
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0'))
    .then_some(digits)
}

fn ambiguous(detail: String) -> ExtractError {
    ExtractError::Ambiguous { detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calling_codes_are_read_in_their_usual_spellings() {
        for (text, want) in [
            ("+234", "234"),
            ("234", "234"),
            ("00234", "234"),
            ("+1-876", "1876"),
            ("(+44)", "44"),
            ("+ 7", "7"),
        ] {
            assert_eq!(calling_code(text).as_deref(), Some(want), "{text}");
        }
        for text in ["", "+", "0", "012", "+12345", "NG", "2 3a", "+٢٣٤"] {
            assert_eq!(calling_code(text), None, "{text}");
        }
    }

    #[test]
    fn region_codes_are_two_letters_of_a_known_region() {
        assert_eq!(region_code("ng").map(Region::as_str), Some("NG"));
        assert_eq!(region_code("NG").map(Region::as_str), Some("NG"));
        assert!(region_code("001").is_none());
        assert!(region_code("NGA").is_none());
        assert!(region_code("QQ").is_none());
    }
}
