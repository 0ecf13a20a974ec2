//! `application/x-www-form-urlencoded` bodies and query strings: `&`-separated `name=value`
//! pairs, percent-decoded with `+` as space.

use super::names::{strip_bracket_suffix, NameBuf};
use super::plan::FieldPlan;
use super::{Candidate, ExtractError, Extracted, Source};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Form,
    Query,
}

impl Origin {
    fn describe(self) -> &'static str {
        match self {
            Origin::Form => "form body",
            Origin::Query => "query string",
        }
    }

    fn source(self, name: String) -> Source {
        match self {
            Origin::Form => Source::Form(name),
            Origin::Query => Source::Query(name),
        }
    }
}

/// What a decoded field name is to the plan.
pub(crate) struct FieldMatch {
    /// Index into `plan.names`.
    pub(crate) number: Option<usize>,
    pub(crate) token: bool,
}

impl FieldMatch {
    pub(crate) fn any(&self) -> bool {
        self.number.is_some() || self.token
    }
}

/// Matches a decoded field name, array suffix (`phone[]`) ignored, as any origin may read it
/// ([`origin_readings`]): a name some framework reads as a configured field is that field, so
/// a decoy under the plain name beside it is a repeat (`ambiguous_field`), never the number
/// judged while origin reads the other.
pub(crate) fn match_name(name: &[u8], plan: &FieldPlan) -> FieldMatch {
    let matches = |name: &[u8]| {
        let base = strip_bracket_suffix(name);
        FieldMatch {
            number: plan.names.find(base),
            token: plan.token.as_deref().is_some_and(|t| super::names::eq_folded(base, t)),
        }
    };
    // A plain name (no NUL, blank, bracket, `!` or `.`) reads as itself everywhere: no copies.
    if !name.iter().any(|&b| b == 0 || b.is_ascii_whitespace() || b"[]!.".contains(&b)) {
        return matches(name);
    }
    let mut hit = FieldMatch { number: None, token: false };
    for reading in origin_readings(name) {
        let found = matches(&reading);
        hit.number = hit.number.or(found.number);
        hit.token |= found.token;
    }
    hit
}

/// The names frameworks read `name` as, itself first: PHP cuts it at a NUL, drops leading
/// spaces and reads `.`, a space and an unclosed `[` as `_` (`phone.number` is `phone_number`);
/// Django trims multipart names; Rack drops brackets around a name (`[phone]`, `phone]`);
/// Spring reads `!phone` as `phone` when it is absent; Express's `qs` reads `phone[]x` as the
/// array `phone`.
fn origin_readings(name: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![name.to_vec()];
    let cut = name.split(|&b| b == 0).next().unwrap_or_default();
    let trimmed = cut.trim_ascii();
    let bare = trimmed.get(trimmed.iter().position(|b| !b"[]!".contains(b)).unwrap_or(trimmed.len())..);
    let bare = bare.unwrap_or_default();
    let lenient = bare.split(|&b| b == b'[').next().unwrap_or_default();
    let lenient = lenient.strip_suffix(b"]").unwrap_or(lenient);
    let php: Vec<u8> = {
        let start = cut.iter().position(|&b| b != b' ').unwrap_or(cut.len());
        let name = cut.get(start..).unwrap_or_default();
        let unclosed = name
            .iter()
            .position(|&b| b == b'[')
            .filter(|&i| !name.get(i..).is_some_and(|rest| rest.contains(&b']')));
        name.iter()
            .enumerate()
            .map(|(i, &b)| if b == b'.' || b == b' ' || Some(i) == unclosed { b'_' } else { b })
            .collect()
    };
    for reading in [trimmed.to_vec(), bare.to_vec(), lenient.to_vec(), php] {
        if !reading.is_empty() && !out.contains(&reading) {
            out.push(reading);
        }
    }
    out
}

/// Records a field value the plan reads: a number (once per field; a repeat is ambiguous
/// because frameworks disagree on first or last wins) and/or the token. `label` spells the
/// field's name, only when it is needed.
pub(crate) fn take_value(
    hit: &FieldMatch,
    label: impl Fn() -> String,
    value: String,
    plan: &FieldPlan,
    seen: &mut u64,
    source: impl FnOnce(String) -> Source,
    out: &mut Extracted,
) -> Result<(), ExtractError> {
    let Some(index) = hit.number else {
        return out.offer_token(value, || format!("field {}", label()));
    };
    let bit = 1u64.checked_shl(index as u32).unwrap_or(0);
    if *seen & bit != 0 {
        return Err(ExtractError::Ambiguous {
            detail: format!(
                "field {:?} repeats an earlier one (names match case-insensitively, [] suffixes ignored); \
                 frameworks disagree on which one wins",
                label()
            ),
        });
    }
    *seen |= bit;
    if hit.token {
        out.offer_token(value.clone(), || format!("field {}", label()))?;
    }
    let filter = plan.filter(index);
    if !value.is_empty() && filter.accepts(&value) {
        out.numbers.push(Candidate::new(filter.reading(value), source(label())));
    } else if !value.is_empty() {
        // A user name or an e-mail address where a number may be (`plus_only`, Twilio's `To`
        // of an e-mail verification): the recipient is named another way, so it is the account.
        out.offer_account(&value, || format!("field {}", label()))?;
    }
    Ok(())
}

/// Reads `input` (a body or a query string), adding what `plan` asks for to `out`.
pub(crate) fn scan(
    input: &[u8],
    plan: &FieldPlan,
    origin: Origin,
    out: &mut Extracted,
) -> Result<(), ExtractError> {
    let mut seen = 0u64;
    let mut start = 0;
    while start <= input.len() {
        let Some(shape) = Shape::of(input, start) else {
            return Err(ExtractError::Malformed {
                detail: format!("invalid percent escape in the {}", origin.describe()),
            });
        };
        let piece = input.get(start..shape.end).unwrap_or_default();
        let (raw_name, raw_value) = match shape.equals {
            Some(i) => {
                (input.get(start..i).unwrap_or_default(), input.get(i + 1..shape.end).unwrap_or_default())
            }
            None => (piece, &[][..]),
        };
        start = shape.end + 1;
        if piece.is_empty() {
            continue;
        }
        let mut decoded: NameBuf;
        let name = if shape.name_encoded {
            decoded = NameBuf::new();
            percent_decode(raw_name, |b| decoded.push(b));
            decoded.bytes()
        } else {
            Some(raw_name)
        };
        if let Some(hit) = name.map(|n| match_name(n, plan)).filter(FieldMatch::any) {
            if shape.semicolon {
                return Err(semicolon(&decode_label(raw_name), origin));
            }
            let value = decode_text(raw_value, origin)?;
            take_value(&hit, || decode_label(raw_name), value, plan, &mut seen, |n| origin.source(n), out)?;
        } else if shape.semicolon {
            // Some parsers (Python's before 3.9.2, old Rack) also split on `;`.
            for sub in piece.split(|&b| b == b';').skip(1) {
                let raw_sub_name = sub.split(|&b| b == b'=').next().unwrap_or_default();
                let mut decoded = NameBuf::new();
                percent_decode(raw_sub_name, |b| decoded.push(b));
                if decoded.bytes().is_some_and(|n| match_name(n, plan).any()) {
                    return Err(semicolon(&decode_label(raw_sub_name), origin));
                }
            }
        }
    }
    Ok(())
}

/// What one pass over a `name=value` piece finds.
struct Shape {
    /// Where the piece ends: the next `&` or the end of input.
    end: usize,
    /// Where its first `=` is.
    equals: Option<usize>,
    /// The name has `%` or `+` to decode.
    name_encoded: bool,
    /// The piece has a `;`.
    semicolon: bool,
}

impl Shape {
    /// Scans the piece starting at `start`; `None` when a `%` is not followed by two hex digits.
    fn of(input: &[u8], start: usize) -> Option<Shape> {
        let mut shape = Shape { end: input.len(), equals: None, name_encoded: false, semicolon: false };
        let mut at = start;
        loop {
            // Skip ordinary bytes eight at a time.
            while let Some(word) = input.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
                let special = special_bytes(u64::from_le_bytes(word));
                if special != 0 {
                    at += (special.trailing_zeros() / 8) as usize;
                    break;
                }
                at += 8;
            }
            let Some(&b) = input.get(at) else { break };
            match b {
                b'&' => {
                    shape.end = at;
                    break;
                }
                b'%' => {
                    hex_value(*input.get(at + 1)?)?;
                    hex_value(*input.get(at + 2)?)?;
                    shape.name_encoded |= shape.equals.is_none();
                    at += 3;
                    continue;
                }
                b'+' if shape.equals.is_none() => shape.name_encoded = true,
                b'=' if shape.equals.is_none() => shape.equals = Some(at),
                b';' => shape.semicolon = true,
                _ => {}
            }
            at += 1;
        }
        Some(shape)
    }
}

fn semicolon(name: &str, origin: Origin) -> ExtractError {
    ExtractError::Ambiguous {
        detail: format!(
            "field {name:?} in the {} shares a pair with ';', which some parsers treat as a separator",
            origin.describe()
        ),
    }
}

/// Decodes `raw` (checked by [`Shape::of`]) into text; invalid UTF-8 is malformed.
fn decode_text(raw: &[u8], origin: Origin) -> Result<String, ExtractError> {
    let bytes = if raw.iter().any(|&b| b == b'%' || b == b'+') {
        let mut bytes = Vec::with_capacity(raw.len());
        percent_decode(raw, |b| bytes.push(b));
        bytes
    } else {
        raw.to_vec()
    };
    String::from_utf8(bytes).map_err(|_| ExtractError::Malformed {
        detail: format!("a field of the {} is not UTF-8 once decoded", origin.describe()),
    })
}

/// A decoded name for messages and sources.
fn decode_label(raw: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(raw.len());
    percent_decode(raw, |b| bytes.push(b));
    match String::from_utf8(bytes) {
        Ok(label) => label,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Percent-decodes with `+` as space, feeding bytes to `push`. Input is checked by
/// [`Shape::of`] first; a stray `%` would pass through as is.
fn percent_decode(raw: &[u8], mut push: impl FnMut(u8)) {
    let mut at = 0;
    while let Some(&b) = raw.get(at) {
        at += 1;
        match b {
            b'%' => {
                let high = raw.get(at).copied().and_then(hex_value);
                let low = raw.get(at + 1).copied().and_then(hex_value);
                match (high, low) {
                    (Some(high), Some(low)) => {
                        push(high << 4 | low);
                        at += 2;
                    }
                    _ => push(b),
                }
            }
            b'+' => push(b' '),
            _ => push(b),
        }
    }
}

/// High bit set in each byte of `word` that is `&`, `%`, `+`, `=` or `;`; only the lowest set
/// byte is exact (borrows may mark bytes above it), which is all the caller uses.
fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    [b'&', b'%', b'+', b'=', b';'].iter().fold(0, |acc, &c| acc | zero_byte(word ^ (ONES * u64::from(c))))
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}
