//! `multipart/form-data` bodies (RFC 7578 over RFC 2046): parts between `--boundary` lines,
//! each named by `Content-Disposition: form-data; name="..."`.
//!
//! Strict where parsers differ: a delimiter after a bare LF, a folded header line or a name
//! with backslash escapes could split or name parts differently at the origin.

use super::form::{match_name, take_value};
use super::names::NameBuf;
use super::plan::FieldPlan;
use super::{ExtractError, Extracted, Source};

/// Reads a multipart body, adding the fields `plan` asks for to `out`.
pub(crate) fn scan(
    body: &[u8],
    boundary: &str,
    plan: &FieldPlan,
    out: &mut Extracted,
) -> Result<(), ExtractError> {
    let boundary = boundary.as_bytes();
    let mut seen = 0u64;
    let mut dash = if is_dash_boundary(body, 0, boundary) {
        0
    } else {
        match find_delimiter(body, 0, boundary)? {
            Some((_, dash)) => dash,
            None => return Err(malformed("no boundary line")),
        }
    };
    loop {
        let mut at = dash + 2 + boundary.len();
        if body.get(at..at + 2) == Some(b"--") {
            // The close delimiter. The epilogue after it is not the body's, but PHP and Django
            // read on: a part there is a field the guard would not see.
            let epilogue = body.get(at + 2..).unwrap_or_default();
            let again = [b"--", boundary].concat();
            if epilogue.windows(again.len()).any(|w| w == again.as_slice()) {
                return Err(ExtractError::Ambiguous {
                    detail: "a multipart body carries another part after its close delimiter".to_owned(),
                });
            }
            return Ok(());
        }
        while matches!(body.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        if body.get(at..at + 2) != Some(b"\r\n") {
            return Err(malformed("expected CRLF after a boundary"));
        }
        at += 2;
        let headers = part_headers(body, &mut at)?;
        let Some((content_end, next_dash)) = find_delimiter(body, at, boundary)? else {
            return Err(malformed("missing final boundary"));
        };
        let content = body.get(at..content_end).unwrap_or_default();
        read_part(&headers, content, plan, &mut seen, out)?;
        dash = next_dash;
    }
}

fn malformed(what: &str) -> ExtractError {
    ExtractError::Malformed { detail: format!("invalid multipart body: {what}") }
}

/// Whether `--boundary` starts at `at`.
fn is_dash_boundary(body: &[u8], at: usize, boundary: &[u8]) -> bool {
    body.get(at..at + 2) == Some(b"--") && body.get(at + 2..at + 2 + boundary.len()) == Some(boundary)
}

/// Finds the next `CRLF--boundary` at or after `from`: the end of the content before it and
/// where its `--` starts.
fn find_delimiter(body: &[u8], from: usize, boundary: &[u8]) -> Result<Option<(usize, usize)>, ExtractError> {
    let mut search = from;
    while let Some(offset) = body.get(search..).and_then(|rest| rest.iter().position(|&b| b == b'\n')) {
        let lf = search + offset;
        if is_dash_boundary(body, lf + 1, boundary) {
            if lf > from && body.get(lf - 1) == Some(&b'\r') {
                return Ok(Some((lf - 1, lf + 1)));
            }
            return Err(ExtractError::Ambiguous {
                detail: "multipart boundary after a bare LF; parsers disagree on where the part ends"
                    .to_owned(),
            });
        }
        search = lf + 1;
    }
    Ok(None)
}

#[derive(Default)]
struct PartHeaders<'a> {
    /// The `name` parameter's raw text (inside the quotes, if quoted).
    name: Option<&'a [u8]>,
    /// The quoted name has backslash escapes.
    name_escaped: bool,
    has_disposition: bool,
    transfer_encoding: Option<&'a [u8]>,
}

/// Reads header lines up to the blank line; `at` ends after it.
fn part_headers<'a>(body: &'a [u8], at: &mut usize) -> Result<PartHeaders<'a>, ExtractError> {
    let mut headers = PartHeaders::default();
    loop {
        let rest = body.get(*at..).unwrap_or_default();
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            return Err(malformed("unterminated part headers"));
        };
        if lf == 0 || rest.get(lf - 1) != Some(&b'\r') {
            return Err(malformed("bare LF in part headers"));
        }
        let line = rest.get(..lf - 1).unwrap_or_default();
        *at += lf + 1;
        if line.is_empty() {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(malformed("folded part header line"));
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(malformed("part header line without ':'"));
        };
        let name = line.get(..colon).unwrap_or_default();
        let value = trim(line.get(colon + 1..).unwrap_or_default());
        if name.eq_ignore_ascii_case(b"content-disposition") {
            if headers.has_disposition {
                return Err(ExtractError::Ambiguous {
                    detail: "a multipart part has two Content-Disposition headers".to_owned(),
                });
            }
            headers.has_disposition = true;
            disposition(value, &mut headers)?;
        } else if name.eq_ignore_ascii_case(b"content-transfer-encoding") {
            headers.transfer_encoding = Some(value);
        }
    }
    Ok(headers)
}

/// Parses `form-data; name="..."; filename="..."`, keeping the name.
fn disposition<'a>(value: &'a [u8], headers: &mut PartHeaders<'a>) -> Result<(), ExtractError> {
    let kind_end = value.iter().position(|&b| b == b';').unwrap_or(value.len());
    if !trim(value.get(..kind_end).unwrap_or_default()).eq_ignore_ascii_case(b"form-data") {
        return Err(malformed("a part's Content-Disposition is not form-data"));
    }
    let mut at = kind_end;
    loop {
        while matches!(value.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        match value.get(at) {
            None => return Ok(()),
            Some(b';') => at += 1,
            Some(_) => return Err(malformed("expected ';' between Content-Disposition parameters")),
        }
        while matches!(value.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        if at >= value.len() {
            return Ok(());
        }
        let rest = value.get(at..).unwrap_or_default();
        let Some(eq) = rest.iter().position(|&b| b == b'=') else {
            return Err(malformed("Content-Disposition parameter without '='"));
        };
        let param = trim(rest.get(..eq).unwrap_or_default());
        at += eq + 1;
        while matches!(value.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        let (text, escaped) = if value.get(at) == Some(&b'"') {
            let start = at + 1;
            let mut end = start;
            let mut escaped = false;
            loop {
                match value.get(end) {
                    Some(b'"') => break,
                    Some(b'\\') => {
                        escaped = true;
                        end += 2;
                    }
                    Some(_) => end += 1,
                    None => return Err(malformed("unterminated quoted Content-Disposition parameter")),
                }
            }
            at = end + 1;
            (value.get(start..end).unwrap_or_default(), escaped)
        } else {
            let len = value
                .get(at..)
                .unwrap_or_default()
                .iter()
                .position(|&b| b == b';')
                .unwrap_or(value.len().saturating_sub(at));
            let token = trim(value.get(at..at + len).unwrap_or_default());
            at += len;
            (token, false)
        };
        if param.len() > 4 && param.get(..5).is_some_and(|p| p.eq_ignore_ascii_case(b"name*")) {
            // RFC 2231's extended name (`name*=UTF-8''phone`, `name*0=`): Werkzeug, Django and
            // Go let it stand for `name`, others ignore it, so the part's field is unknown.
            return Err(ExtractError::Ambiguous {
                detail: "a multipart part names its field with name*, which parsers read differently"
                    .to_owned(),
            });
        }
        if param.eq_ignore_ascii_case(b"name") {
            if headers.name.is_some() {
                return Err(ExtractError::Ambiguous {
                    detail: "a multipart part has two name parameters".to_owned(),
                });
            }
            headers.name = Some(text);
            headers.name_escaped = escaped;
        }
    }
}

fn read_part(
    headers: &PartHeaders<'_>,
    content: &[u8],
    plan: &FieldPlan,
    seen: &mut u64,
    out: &mut Extracted,
) -> Result<(), ExtractError> {
    if !headers.has_disposition {
        return Err(malformed("a part has no Content-Disposition"));
    }
    let Some(raw_name) = headers.name else {
        return Err(malformed("a part's Content-Disposition has no name"));
    };
    let hit = match_name(raw_name, plan);
    let label = || String::from_utf8_lossy(raw_name).into_owned();
    if headers.name_escaped {
        let mut unescaped = NameBuf::new();
        let mut bytes = raw_name.iter();
        while let Some(&b) = bytes.next() {
            unescaped.push(if b == b'\\' { bytes.next().copied().unwrap_or(b) } else { b });
        }
        if hit.any() || unescaped.bytes().is_some_and(|n| match_name(n, plan).any()) {
            return Err(ExtractError::Ambiguous {
                detail: format!(
                    "multipart field name {:?} has backslash escapes, which parsers read differently",
                    label()
                ),
            });
        }
        return Ok(());
    }
    if !hit.any() {
        return Ok(());
    }
    if let Some(encoding) = headers.transfer_encoding {
        let identity = [b"7bit".as_slice(), b"8bit", b"binary"];
        if !identity.iter().any(|e| encoding.eq_ignore_ascii_case(e)) {
            return Err(ExtractError::UnsupportedEncoding {
                encoding: String::from_utf8_lossy(encoding).into_owned(),
            });
        }
    }
    let value = String::from_utf8(content.to_vec())
        .map_err(|_| malformed(&format!("field {:?} is not UTF-8", label())))?;
    take_value(&hit, label, value, plan, seen, Source::Form, out)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |e| e + 1);
    bytes.get(start..end).unwrap_or_default()
}
