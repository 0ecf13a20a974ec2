//! JSON path syntax: parsing configured paths, and spelling the concrete path of a match.
//!
//! Configured paths are a small subset of JSONPath: an optional leading `$`, then dotted keys,
//! `["quoted key"]` for keys with dots or brackets, `[N]` for one array element and `[*]` for
//! every element: `phone`, `$.user.phone`, `recipients[*].to`, `data[0].msisdn`, `a["x.y"]`.

use std::borrow::Cow;

/// Most steps one configured path may have.
pub(crate) const MAX_PATH_STEPS: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// An object member, as configured (folded when compiled).
    Key(String),
    /// One array element.
    Index(u32),
    /// Every array element.
    AnyIndex,
}

const EXPECTED: &str =
    "expected dotted keys with optional [N] or [*] steps, e.g. \"user.phone\" or \"recipients[*].to\"";

/// Parses a configured path; the error says what is wrong and what is expected.
pub(crate) fn parse(path: &str) -> Result<Vec<Step>, String> {
    let bytes = path.as_bytes();
    let mut steps = Vec::new();
    let mut pos = 0;
    if bytes.first() == Some(&b'$') {
        pos = 1;
        match bytes.get(1) {
            Some(b'.') | Some(b'[') => {}
            None => return Err(format!("\"$\" alone is the whole document, not a value in it; {EXPECTED}")),
            Some(_) => return Err(format!("\"$\" must be followed by '.' or '['; {EXPECTED}")),
        }
        if bytes.get(1) == Some(&b'.') {
            pos = 2;
        }
    } else if bytes.is_empty() {
        return Err(format!("empty path; {EXPECTED}"));
    }
    // At the start a key needs no leading dot; after any step it does.
    let mut need_dot = false;
    while pos < bytes.len() {
        match bytes.get(pos) {
            Some(b'[') => {
                let (step, next) = parse_bracket(path, pos)?;
                steps.push(step);
                pos = next;
            }
            Some(b'.') if need_dot => {
                pos += 1;
                if matches!(bytes.get(pos), None | Some(b'.') | Some(b'[')) {
                    return Err(format!("empty key after the '.' at byte {}; {EXPECTED}", pos - 1));
                }
                pos = parse_plain_key(path, pos, &mut steps)?;
            }
            Some(b'.') => return Err(format!("empty key at byte {pos}; {EXPECTED}")),
            Some(_) if need_dot => {
                return Err(format!("expected '.' or '[' at byte {pos}; {EXPECTED}"));
            }
            Some(_) => pos = parse_plain_key(path, pos, &mut steps)?,
            None => break,
        }
        need_dot = true;
    }
    if steps.is_empty() {
        return Err(format!("the path names no key or element; {EXPECTED}"));
    }
    if steps.len() > MAX_PATH_STEPS {
        return Err(format!("{} steps; at most {MAX_PATH_STEPS} are allowed", steps.len()));
    }
    Ok(steps)
}

fn parse_plain_key(path: &str, start: usize, steps: &mut Vec<Step>) -> Result<usize, String> {
    let rest = path.get(start..).unwrap_or("");
    let len = rest.find(['.', '[', ']']).unwrap_or(rest.len());
    let key = rest.get(..len).unwrap_or("");
    if rest.get(len..).is_some_and(|r| r.starts_with(']')) {
        return Err(format!("unmatched ']' at byte {}; {EXPECTED}", start + len));
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"') {
        return Err(format!(
            "key {key:?} has whitespace, a control character or a quote; write it as [\"...\"] if it is really part of the key"
        ));
    }
    steps.push(Step::Key(key.to_owned()));
    Ok(start + len)
}

/// Parses `[N]`, `[*]` or `["key"]` starting at the `[`; returns the step and the byte after `]`.
fn parse_bracket(path: &str, open: usize) -> Result<(Step, usize), String> {
    let inner_start = open + 1;
    let rest = path.get(inner_start..).unwrap_or("");
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut key = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, e @ ('"' | '\\'))) => key.push(e),
                    _ => {
                        return Err(format!(
                            "in [\"...\"] at byte {open} only \\\" and \\\\ escapes are allowed"
                        ))
                    }
                },
                '"' => {
                    let close = inner_start + 1 + i + 1;
                    if path.as_bytes().get(close) != Some(&b']') {
                        return Err(format!("expected ']' after the quoted key at byte {close}"));
                    }
                    if key.is_empty() {
                        return Err(format!("empty quoted key at byte {open}; {EXPECTED}"));
                    }
                    return Ok((Step::Key(key), close + 1));
                }
                c => key.push(c),
            }
        }
        return Err(format!("unterminated quoted key starting at byte {open}"));
    }
    let Some(len) = rest.find(']') else {
        return Err(format!("unterminated '[' at byte {open}; {EXPECTED}"));
    };
    let inner = rest.get(..len).unwrap_or("");
    let step = if inner == "*" {
        Step::AnyIndex
    } else if !inner.is_empty()
        && inner.bytes().all(|b| b.is_ascii_digit())
        && (inner == "0" || !inner.starts_with('0'))
    {
        let index = inner
            .parse::<u32>()
            .map_err(|_| format!("index [{inner}] at byte {open} is too large; at most {}", u32::MAX))?;
        Step::Index(index)
    } else {
        return Err(format!(
            "[{inner}] at byte {open} is not an index: expected [N] (no leading zeros), [*] or [\"key\"]"
        ));
    };
    Ok((step, inner_start + len + 1))
}

/// One step of a concrete location, as [`render`] spells it.
pub(crate) enum Spelled<'a> {
    Key(Cow<'a, str>),
    Index(usize),
}

/// Spells a concrete location the way configured paths are written, so it can be pasted back
/// into a policy: `$.user.phone`, `$.recipients[2].to`, `$["odd.key"]`.
pub(crate) fn render<'a>(steps: impl Iterator<Item = Spelled<'a>>) -> String {
    let mut out = String::with_capacity(48);
    out.push('$');
    for step in steps {
        match step {
            Spelled::Index(i) => {
                // By hand: `write!` costs more than the rest of the path together.
                out.push('[');
                push_decimal(&mut out, i);
                out.push(']');
            }
            Spelled::Key(k) if is_plain_key(&k) => {
                out.push('.');
                out.push_str(&k);
            }
            Spelled::Key(k) => {
                out.push_str("[\"");
                for c in k.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push_str("\"]");
            }
        }
    }
    out
}

fn push_decimal(out: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(d) = digits.get_mut(start) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || start == 0 {
            break;
        }
    }
    for &d in digits.get(start..).unwrap_or_default() {
        out.push(char::from(d));
    }
}

fn is_plain_key(key: &str) -> bool {
    let ascii_plain = |b: &u8| b.is_ascii_graphic() && !matches!(b, b'.' | b'[' | b']' | b'"');
    !key.is_empty()
        && !key.starts_with('$')
        && (key.bytes().all(|b| ascii_plain(&b))
            || key
                .chars()
                .all(|c| !(c.is_whitespace() || c.is_control() || matches!(c, '.' | '[' | ']' | '"'))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Step {
        Step::Key(k.into())
    }

    #[test]
    fn accepted_paths() {
        let table: &[(&str, Vec<Step>)] = &[
            ("phone", vec![key("phone")]),
            ("$.phone", vec![key("phone")]),
            ("user.phone", vec![key("user"), key("phone")]),
            ("recipients[*].to", vec![key("recipients"), Step::AnyIndex, key("to")]),
            ("data[0].msisdn", vec![key("data"), Step::Index(0), key("msisdn")]),
            ("$[3]", vec![Step::Index(3)]),
            ("[10][*]", vec![Step::Index(10), Step::AnyIndex]),
            ("a[\"x.y\"].b", vec![key("a"), key("x.y"), key("b")]),
            ("$[\"q\\\"uote\"]", vec![key("q\"uote")]),
            ("téléphone", vec![key("téléphone")]),
        ];
        for (path, want) in table {
            assert_eq!(parse(path).as_ref(), Ok(want), "{path}");
        }
    }

    #[test]
    fn rejected_paths() {
        let table: &[(&str, &str)] = &[
            ("", "empty path"),
            ("$", "whole document"),
            ("$x", "must be followed"),
            (".phone", "empty key"),
            ("a..b", "empty key"),
            ("a.", "empty key"),
            ("a[", "unterminated"),
            ("a[x]", "not an index"),
            ("a[01]", "not an index"),
            ("a[-1]", "not an index"),
            ("a[99999999999]", "too large"),
            ("a]", "unmatched"),
            ("a b", "whitespace"),
            ("a[0]b", "expected '.'"),
            ("a[\"\"]", "empty quoted key"),
            ("a[\"x\"", "expected ']'"),
            ("a[\"x", "unterminated quoted"),
            ("a[\"\\n\"]", "escapes"),
            ("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q", "at most 16"),
        ];
        for (path, want) in table {
            let err = parse(path).expect_err(path);
            assert!(err.contains(want), "{path}: {err}");
        }
    }

    #[test]
    fn rendering_round_trips() {
        let spelled = render(
            [
                Spelled::Key("user".into()),
                Spelled::Index(2),
                Spelled::Key("x.y".into()),
                Spelled::Key("a\"b".into()),
            ]
            .into_iter(),
        );
        assert_eq!(spelled, "$.user[2][\"x.y\"][\"a\\\"b\"]");
        let indexes = render([0, 9, 10, 4_294_967_295, usize::MAX].into_iter().map(Spelled::Index));
        assert_eq!(indexes, format!("$[0][9][10][4294967295][{}]", usize::MAX));
        let steps = parse(&spelled).expect("renders parse");
        assert_eq!(steps, vec![key("user"), Step::Index(2), key("x.y"), key("a\"b")]);
    }
}
