//! `Content-Type` and `Content-Encoding`: which reader a body needs, if any.

use super::ExtractError;

pub(crate) enum BodyKind<'a> {
    Json,
    Form,
    Multipart { boundary: &'a str },
    Other,
}

/// Classifies a `Content-Type` value (case-insensitive, with parameters). A charset other than
/// UTF-8 (or its subset US-ASCII) is unsupported: we would decode a different text than the
/// origin.
pub(crate) fn classify(content_type: &str) -> Result<BodyKind<'_>, ExtractError> {
    let unsupported = || ExtractError::UnsupportedContentType { content_type: content_type.to_owned() };
    // Byte searches: `str` patterns cost more than these few bytes are worth.
    let (essence, params) = split_at_byte(content_type, b';').unwrap_or((content_type, ""));
    let essence = essence.trim_matches(is_ows);
    let Some((kind, subtype)) = split_at_byte(essence, b'/') else {
        return Err(unsupported());
    };
    let mut charset = None;
    let mut boundary = None;
    for param in Params::new(params) {
        let (name, value) = param?;
        let slot = if name.eq_ignore_ascii_case("charset") {
            &mut charset
        } else if name.eq_ignore_ascii_case("boundary") {
            &mut boundary
        } else {
            continue;
        };
        if slot.replace(value).is_some() {
            // Which of two values wins differs between parsers.
            return Err(ExtractError::Ambiguous {
                detail: format!("Content-Type {content_type:?} repeats {name}"),
            });
        }
    }
    if let Some(charset) = charset {
        if !["utf-8", "utf8", "us-ascii"].iter().any(|c| charset.eq_ignore_ascii_case(c)) {
            return Err(unsupported());
        }
    }
    let body = if kind.eq_ignore_ascii_case("application") {
        if subtype.eq_ignore_ascii_case("json")
            // AWS JSON protocols (Cognito speaks 1.1).
            || subtype.eq_ignore_ascii_case("x-amz-json-1.0")
            || subtype.eq_ignore_ascii_case("x-amz-json-1.1")
            || ends_with_ignore_case(subtype, "+json")
        {
            BodyKind::Json
        } else if subtype.eq_ignore_ascii_case("x-www-form-urlencoded") {
            BodyKind::Form
        } else {
            BodyKind::Other
        }
    } else if kind.eq_ignore_ascii_case("text") && subtype.eq_ignore_ascii_case("json") {
        BodyKind::Json
    } else if kind.eq_ignore_ascii_case("multipart") && subtype.eq_ignore_ascii_case("form-data") {
        let boundary = boundary.ok_or_else(|| ExtractError::Malformed {
            detail: "multipart/form-data without a boundary parameter".to_owned(),
        })?;
        if !is_valid_boundary(boundary) {
            return Err(ExtractError::Malformed {
                detail: format!("multipart boundary {boundary:?} is not 1 to 70 printable characters"),
            });
        }
        BodyKind::Multipart { boundary }
    } else {
        BodyKind::Other
    };
    Ok(body)
}

/// Whether a `Content-Encoding` value leaves the body as sent (an empty list or only `identity`).
pub(crate) fn is_identity(encoding: &str) -> bool {
    encoding
        .split(',')
        .map(|e| e.trim_matches(is_ows))
        .all(|e| e.is_empty() || e.eq_ignore_ascii_case("identity"))
}

/// The text before and after the first `byte` (ASCII).
fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|b| b == byte)?;
    Some((text.get(..at)?, text.get(at + 1..)?))
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() > suffix.len()
        && s.get(s.len() - suffix.len()..).is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
}

/// RFC 2046 allows 1–70 characters from a small set; we accept any printable ASCII (clients
/// stray from the set), which still keeps boundaries free of line breaks and quotes.
fn is_valid_boundary(boundary: &str) -> bool {
    (1..=70).contains(&boundary.len())
        && !boundary.ends_with(' ')
        && boundary.bytes().all(|b| b == b' ' || (b.is_ascii_graphic() && b != b'"'))
}

/// `; name=value` parameters, values as tokens or quoted strings (without escapes, which
/// neither charsets nor boundaries need).
struct Params<'a> {
    rest: &'a str,
}

impl<'a> Params<'a> {
    fn new(params: &'a str) -> Self {
        Params { rest: params }
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<(&'a str, &'a str), ExtractError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.trim_start_matches(|c| is_ows(c) || c == ';');
        if rest.is_empty() {
            return None;
        }
        let malformed = |what: &str| {
            Some(Err(ExtractError::Malformed { detail: format!("Content-Type parameter {what}") }))
        };
        let Some((name, after)) = split_at_byte(rest, b'=') else {
            self.rest = "";
            return malformed(&format!("{rest:?} has no value"));
        };
        let name = name.trim_matches(is_ows);
        if let Some(quoted) = after.strip_prefix('"') {
            let Some((value, tail)) = split_at_byte(quoted, b'"') else {
                self.rest = "";
                return malformed(&format!("{name} has an unterminated quoted value"));
            };
            if value.bytes().any(|b| b == b'\\') {
                self.rest = "";
                return malformed(&format!("{name} has an escaped quoted value"));
            }
            let tail = tail.trim_start_matches(is_ows);
            if !(tail.is_empty() || tail.starts_with(';')) {
                self.rest = "";
                return malformed(&format!("{name} has text after its quoted value"));
            }
            self.rest = tail;
            Some(Ok((name, value)))
        } else {
            let (value, tail) = split_at_byte(after, b';').unwrap_or((after, ""));
            self.rest = tail;
            Some(Ok((name, value.trim_matches(is_ows))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ct: &str) -> Result<&'static str, String> {
        classify(ct)
            .map(|k| match k {
                BodyKind::Json => "json",
                BodyKind::Form => "form",
                BodyKind::Multipart { .. } => "multipart",
                BodyKind::Other => "other",
            })
            .map_err(|e| e.code().to_owned())
    }

    #[test]
    fn content_types() {
        let table: &[(&str, Result<&str, &str>)] = &[
            ("application/json", Ok("json")),
            ("Application/JSON; charset=UTF-8", Ok("json")),
            ("application/json;charset=\"utf-8\"", Ok("json")),
            ("application/vnd.api+json", Ok("json")),
            ("application/x-amz-json-1.1", Ok("json")),
            ("application/x-amz-json-1.0", Ok("json")),
            ("text/json", Ok("json")),
            ("application/+json", Ok("other")),
            ("application/x-www-form-urlencoded", Ok("form")),
            ("application/x-www-form-urlencoded; charset=us-ascii", Ok("form")),
            ("multipart/form-data; boundary=abc", Ok("multipart")),
            ("multipart/form-data; boundary=\"a b:c\"", Ok("multipart")),
            ("text/plain", Ok("other")),
            ("garbage", Err("unsupported_content_type")),
            ("application/json; charset=utf-16", Err("unsupported_content_type")),
            ("application/json; charset=latin1", Err("unsupported_content_type")),
            ("application/json; charset=utf-8; charset=latin1", Err("ambiguous_field")),
            ("multipart/form-data", Err("body_malformed")),
            ("multipart/form-data; boundary=", Err("body_malformed")),
            ("multipart/form-data; boundary=\"abc", Err("body_malformed")),
            ("multipart/form-data; boundary=a; boundary=b", Err("ambiguous_field")),
            ("application/json; novalue", Err("body_malformed")),
        ];
        for (ct, want) in table {
            assert_eq!(kind(ct), want.map_err(str::to_owned), "{ct}");
        }
    }

    #[test]
    fn boundary_is_extracted() {
        let Ok(BodyKind::Multipart { boundary }) = classify("multipart/form-data; boundary=\"x y\"; a=b")
        else {
            panic!("multipart expected");
        };
        assert_eq!(boundary, "x y");
    }

    #[test]
    fn encodings() {
        assert!(is_identity("identity"));
        assert!(is_identity(" Identity , identity"));
        assert!(is_identity(""));
        assert!(!is_identity("gzip"));
        assert!(!is_identity("identity, br"));
    }
}
