//! Front end: turns what a user typed into ASCII digits plus a "starts with +" flag.
//!
//! Follows libphonenumber's input handling (RFC 3966 `tel:` URIs with `phone-context`,
//! `isub`, extensions, leading and trailing junk, any Unicode decimal digit, its punctuation
//! set) with one deliberate difference: letters are never turned into digits or dropped, so
//! vanity numbers ("1-800-FLOWERS") and stray text are `NotANumber`.

use super::digits::ascii_digit;
use super::PhoneError;

/// Most digits accepted from one input; far more than an international prefix, a calling code
/// and the longest national number need.
pub(super) const MAX_DIGITS: usize = 64;
/// libphonenumber refuses inputs over 250 UTF-16 units; we bound bytes (250 chars of up to
/// four bytes each).
const MAX_INPUT_BYTES: usize = 1000;
const PHONE_CONTEXT: &str = ";phone-context=";
const TEL_PREFIX: &str = "tel:";
const ISDN_SUBADDRESS: &str = ";isub=";

pub(super) struct Scanned {
    digits: [u8; MAX_DIGITS],
    len: usize,
    pub plus: bool,
}

impl Scanned {
    pub fn digits(&self) -> &[u8] {
        self.digits.get(..self.len).unwrap_or(&[])
    }

    fn push(&mut self, digit: u8) -> Result<(), PhoneError> {
        let slot = self.digits.get_mut(self.len).ok_or(PhoneError::TooLong)?;
        *slot = digit;
        self.len += 1;
        Ok(())
    }

    fn pop(&mut self, count: usize) {
        self.len = self.len.saturating_sub(count);
    }
}

pub(super) fn is_plus(c: char) -> bool {
    c == '+' || c == '\u{FF0B}'
}

/// libphonenumber's punctuation (without `x` and `~`, which we only accept as extension
/// markers), the star, and any whitespace or invisible formatting character, which carry no
/// meaning in a number and are a cheap way to dodge naive filters.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF0D}'..='\u{FF0F}'
            | '(' | ')' | '\u{FF08}' | '\u{FF09}' | '[' | ']' | '\u{FF3B}' | '\u{FF3D}'
            | '.' | '/' | '\u{2053}' | '\u{223C}' | '*'
    ) || is_ignorable(c)
}

fn is_ignorable(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}' | '\u{FEFF}'
        )
}

/// ASCII case-insensitive search.
fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    (0..=h.len().checked_sub(n.len())?)
        .find(|&i| h.get(i..i + n.len()).is_some_and(|w| w.eq_ignore_ascii_case(n)))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| text.get(prefix.len()..)).flatten()
}

pub(super) fn scan(raw: &str) -> Result<Scanned, PhoneError> {
    if raw.len() > MAX_INPUT_BYTES {
        return Err(PhoneError::TooLong);
    }
    let text = raw.trim_matches(is_ignorable);
    if text.is_empty() {
        return Err(PhoneError::Empty);
    }
    let mut out = Scanned { digits: [0; MAX_DIGITS], len: 0, plus: false };
    // RFC 3966 parameters all start with ';', so most inputs skip the searches.
    let has_parameters = text.contains(';');
    let context_at = if has_parameters { find_ignore_case(text, PHONE_CONTEXT) } else { None };
    let body = match context_at {
        Some(at) => {
            let context = text.get(at + PHONE_CONTEXT.len()..).unwrap_or("");
            let context = context.split(';').next().unwrap_or("");
            scan_phone_context(context, &mut out)?;
            // Everything between "tel:" (if any) and the phone-context is the number.
            let start = find_ignore_case(text, TEL_PREFIX).map_or(0, |i| i + TEL_PREFIX.len());
            text.get(start..at).ok_or(PhoneError::NotANumber)?
        }
        None => extract_possible_number(strip_prefix_ignore_case(text, TEL_PREFIX).unwrap_or(text))?,
    };
    let isdn_at = if has_parameters { body.find(ISDN_SUBADDRESS) } else { None };
    let body = match isdn_at {
        Some(at) if at > 0 => body.get(..at).unwrap_or(body),
        _ => body,
    };
    scan_number(body, &mut out)?;
    Ok(out)
}

/// RFC 3966 `phone-context`: a global number prefix ("+44") is prepended; a domain is ignored.
fn scan_phone_context(context: &str, out: &mut Scanned) -> Result<(), PhoneError> {
    let mut chars = context.chars();
    match chars.next() {
        None => Err(PhoneError::NotANumber),
        Some(c) if is_plus(c) => {
            out.plus = true;
            for c in chars {
                match ascii_digit(c) {
                    Some(digit) => out.push(digit)?,
                    None if matches!(c, '-' | '.' | '(' | ')') => {}
                    None => return Err(PhoneError::NotANumber),
                }
            }
            if out.len == 0 {
                return Err(PhoneError::NotANumber);
            }
            Ok(())
        }
        Some(_) if context.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.') => Ok(()),
        Some(_) => Err(PhoneError::NotANumber),
    }
}

/// libphonenumber's `extractPossibleNumber`: drop leading characters that cannot start a
/// number (but refuse letters), trailing punctuation, and a second number ("/x2303").
fn extract_possible_number(text: &str) -> Result<&str, PhoneError> {
    let start = text
        .char_indices()
        .find(|&(_, c)| is_plus(c) || ascii_digit(c).is_some() || c.is_alphabetic())
        .map(|(i, _)| i)
        .ok_or(PhoneError::NotANumber)?;
    let text = text.get(start..).unwrap_or("");
    let text = text.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '#');
    let bytes = text.as_bytes();
    let second_number = bytes.iter().enumerate().find(|&(i, &b)| {
        (b == b'/' || b == b'\\')
            && text.get(i + 1..).is_some_and(|rest| rest.trim_start_matches(' ').starts_with('x'))
    });
    Ok(second_number.and_then(|(i, _)| text.get(..i)).unwrap_or(text))
}

/// Scans digits, leading plus signs and separators; the first other character must start a
/// valid extension, which is dropped.
fn scan_number(body: &str, out: &mut Scanned) -> Result<(), PhoneError> {
    let context_digits = out.len;
    // Whether the body is a bare run of digits (punctuation after the last digit is allowed).
    let mut only_digits = true;
    let mut punctuated = false;
    let mut at = 0;
    while let Some(&byte) = body.as_bytes().get(at) {
        // ASCII digits are most of the input: no UTF-8 decoding for them.
        if byte.is_ascii_digit() {
            only_digits &= !punctuated;
            out.push(byte)?;
            at += 1;
            continue;
        }
        let Some(c) = body.get(at..).and_then(|rest| rest.chars().next()) else { break };
        let i = at;
        at += c.len_utf8();
        if let Some(digit) = ascii_digit(c) {
            only_digits &= !punctuated;
            out.push(digit)?;
        } else if is_plus(c) && out.len == 0 {
            out.plus = true;
            punctuated = true;
        } else if is_separator(c) {
            punctuated = true;
        } else {
            let rest = body.get(i..).unwrap_or("");
            let before = body.get(..i).unwrap_or("");
            if rest == "#" {
                // "[- ]+(\d{1,6})#": the last digit group is an extension.
                let group = before.chars().rev().take_while(|c| ascii_digit(*c).is_some()).count();
                let separated = before.chars().rev().nth(group).is_some_and(|c| c == ' ' || c == '-');
                if !(1..=6).contains(&group) || !separated {
                    return Err(PhoneError::NotANumber);
                }
                out.pop(group);
            } else if !is_extension(rest) {
                return Err(PhoneError::NotANumber);
            }
            break;
        }
    }
    // libphonenumber's viability check: three digits, or a bare two-digit string.
    let digits = out.len.saturating_sub(context_digits);
    let viable = if out.plus { out.len >= 3 } else { digits >= 3 || (digits == 2 && only_digits) };
    if viable {
        Ok(())
    } else {
        Err(PhoneError::NotANumber)
    }
}

/// Labels after which up to 20 extension digits may follow (matched case-insensitively).
const EXPLICIT_LABELS: [&str; 22] = [
    "extensio\u{301}n",
    "extension",
    "extensión",
    "extensio\u{301}",
    "extensio",
    "extensió",
    "xtensio\u{301}n",
    "xtension",
    "xtensión",
    "xtensio\u{301}",
    "xtensio",
    "xtensió",
    "extn",
    "ext",
    "xtn",
    "xt",
    "ｅｘｔｎ",
    "ｅｘｔ",
    "ｘｔｎ",
    "ｘｔ",
    "доб",
    "anexo",
];
/// Labels after which up to 9 extension digits may follow.
const AMBIGUOUS_LABELS: [&str; 8] = ["x", "ｘ", "#", "＃", "~", "～", "int", "ｉｎｔ"];

/// libphonenumber's extension grammar for parsing, anchored at the end of the input. `rest`
/// starts at the first character that cannot be part of the number itself.
fn is_extension(rest: &str) -> bool {
    if let Some(tail) = strip_prefix_ignore_case(rest, ";ext=") {
        if digits_then_end(tail, 20, false) {
            return true;
        }
    }
    let no_blanks = rest.trim_start_matches([' ', '\u{A0}', '\t']);
    if let Some(tail) = no_blanks.strip_prefix(';') {
        if after_label(tail, 15) {
            return true;
        }
    }
    let commas = no_blanks.len() - no_blanks.trim_start_matches(',').len();
    if commas > 0 {
        let tail = no_blanks.trim_start_matches(',');
        if after_label(tail, if commas >= 2 { 15 } else { 9 }) {
            return true;
        }
    }
    let labelled = rest.trim_start_matches([' ', '\u{A0}', '\t', ',']);
    let try_labels = |labels: &[&str], limit: usize| {
        labels.iter().any(|label| strip_label(labelled, label).is_some_and(|tail| after_label(tail, limit)))
    };
    try_labels(&EXPLICIT_LABELS, 20) || try_labels(&AMBIGUOUS_LABELS, 9)
}

/// Case-insensitive label match (labels are lower case).
fn strip_label<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let mut chars = text.char_indices();
    for expected in label.chars() {
        let (_, c) = chars.next()?;
        let folded = if c == '\u{17F}' { 's' } else { c.to_lowercase().next().unwrap_or(c) };
        if folded != expected {
            return None;
        }
    }
    Some(chars.next().map_or("", |(i, _)| text.get(i..).unwrap_or("")))
}

/// `[:.．]?[ \u{A0}\t,-]*` then the extension digits.
fn after_label(tail: &str, limit: usize) -> bool {
    let tail = tail.strip_prefix([':', '.', '\u{FF0E}']).unwrap_or(tail);
    let tail = tail.trim_start_matches([' ', '\u{A0}', '\t', ',', '-']);
    digits_then_end(tail, limit, true)
}

/// One to `limit` decimal digits, optionally `#`, then the end.
fn digits_then_end(tail: &str, limit: usize, hash_allowed: bool) -> bool {
    let end = tail.char_indices().find(|&(_, c)| ascii_digit(c).is_none()).map_or(tail.len(), |(i, _)| i);
    let count = tail.get(..end).map_or(0, |digits| digits.chars().count());
    let rest = tail.get(end..).unwrap_or("");
    (1..=limit).contains(&count) && (rest.is_empty() || (hash_allowed && rest == "#"))
}
