//! Regex rules on the E.164 number, with a literal-prefix prefilter.
//!
//! Most operator patterns are anchored ranges such as `^\+1900[0-9]{7}$`. Every match of such a
//! pattern starts with its literal head (`+1900`), so a number that does not start with it is
//! rejected by one byte comparison and the regex engine runs only on plausible numbers.

/// A compiled pattern and the literal every match must start with (possibly empty).
#[derive(Debug)]
pub struct NumberPattern {
    regex: regex_lite::Regex,
    required_head: Box<str>,
}

impl NumberPattern {
    /// Compiles `source` (regex-lite syntax).
    pub fn new(source: &str) -> Result<NumberPattern, regex_lite::Error> {
        let regex = regex_lite::Regex::new(source)?;
        Ok(NumberPattern { regex, required_head: required_head(source).into() })
    }

    /// Whether `e164` (`+` and digits) matches.
    pub fn is_match(&self, e164: &str) -> bool {
        e164.starts_with(&*self.required_head) && self.regex.is_match(e164)
    }
}

/// The literal that starts every match of `source`: only for patterns anchored with `^` and
/// without top-level alternation, and only digits and `\+`, stopping at the first other
/// construct. A literal followed by a quantifier that allows zero repetitions is not required,
/// so it is dropped. Anything unusual gives the empty head, which filters nothing.
fn required_head(source: &str) -> String {
    let Some(rest) = source.strip_prefix('^') else { return String::new() };
    if !alternation_is_nested(rest) {
        return String::new();
    }
    let bytes = rest.as_bytes();
    let mut head = String::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'0'..=b'9' => {
                head.push(char::from(b));
                i += 1;
            }
            b'\\' if bytes.get(i + 1) == Some(&b'+') => {
                head.push('+');
                i += 2;
            }
            _ => break,
        }
    }
    if matches!(bytes.get(i), Some(b'?' | b'*' | b'{')) {
        head.pop();
    }
    head
}

/// True when every `|` of `source` sits inside a group, so it cannot start a second top-level
/// branch. Escapes are skipped; a character class with a nested class or a `|` is treated as
/// unknown (false), which only costs the prefilter.
fn alternation_is_nested(source: &str) -> bool {
    let mut depth = 0usize;
    let mut bytes = source.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'\\' => {
                bytes.next();
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b'|' if depth == 0 => return false,
            b'[' => loop {
                match bytes.next() {
                    None | Some(b'[' | b'|') => return false,
                    Some(b'\\') => {
                        bytes.next();
                    }
                    Some(b']') => break,
                    Some(_) => {}
                }
            },
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_of_common_patterns() {
        for (source, head) in [
            (r"^\+1900[0-9]{7}$", "+1900"),
            (r"^\+44(70|76)\d{8}$", "+44"),
            (r"^\+4470?1", "+447"),
            (r"^\+4470*1", "+447"),
            (r"^\+4470{2}1", "+447"),
            (r"^\+4470+", "+4470"),
            (r"^\+44|^\+1", ""),
            (r"^\+44(?:70|76)|^\+1", ""),
            (r"^\+44[|]|x", ""),
            (r"^\+44\|", "+44"),
            (r"\+1900", ""),
            (r"(?i)^\+1", ""),
            (r"^[+]1", ""),
            (r"^\d", ""),
        ] {
            assert_eq!(required_head(source), head, "{source}");
        }
    }

    #[test]
    fn prefilter_never_changes_the_answer() {
        let numbers = ["+19005550123", "+14155550123", "+447001234567", "+4471", "+", ""];
        for source in [
            r"^\+1900[0-9]{7}$",
            r"^\+4470?1",
            r"^\+4470+",
            r"^\+44|^\+1",
            r"0123$",
            r"^\+1(?:900)",
            r"^\+44(70|76)",
            r"^\+44(7|)0|^\+1",
        ] {
            let pattern = NumberPattern::new(source).unwrap();
            let plain = regex_lite::Regex::new(source).unwrap();
            for n in numbers {
                assert_eq!(pattern.is_match(n), plain.is_match(n), "{source} on {n}");
            }
        }
    }
}
