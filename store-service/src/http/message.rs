//! HTTP/1.1 messages as the service needs them: a request read from a connection's buffer
//! (head parsed with `httparse`, body by `content-length`), a response written into one.

use std::fmt::Write as _;

/// The most header lines a request may carry (Envoy sends about ten).
const MAX_HEADERS: usize = 64;

/// What the server needs of one request.
#[derive(Debug, PartialEq, Eq)]
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
    /// The `authorization` header's value, as sent.
    pub authorization: Option<&'a [u8]>,
    /// Header `x-pumpguard-commit-if-pass: 1` (see the service).
    pub commit_if_pass: bool,
}

/// One response.
#[derive(Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// Further headers (name, value).
    pub headers: Vec<(&'static str, &'static str)>,
}

/// What the server knows of a request once its head is whole, before its body.
#[derive(Debug, PartialEq, Eq)]
pub struct Head<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The `authorization` header's value, as sent.
    pub authorization: Option<&'a [u8]>,
    /// Header `x-pumpguard-commit-if-pass: 1` (see the service).
    pub commit_if_pass: bool,
    /// The head's bytes, its closing blank line included.
    pub len: usize,
    /// The body's bytes as `content-length` declares them (0 without one), not yet checked
    /// against any limit.
    pub body_len: usize,
    /// The connection stays open after this request.
    pub keep_alive: bool,
    /// The request asks for `100 Continue` before its body is sent.
    pub expect_continue: bool,
}

/// What the start of a connection's buffer holds of a request's head.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadParsed<'a> {
    /// Not a whole head yet.
    Partial,
    /// A whole head; its body may be in the buffer, in part or not at all.
    Whole(Head<'a>),
    /// A request that gets this error and a closed connection.
    Bad { status: u16, why: &'static str },
}

/// What the start of a connection's buffer holds of a request whose head is whole.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Not the whole body yet. `expect_continue`: the head asks for `100 Continue` before its
    /// body is sent.
    Incomplete { expect_continue: bool },
    /// A whole request of `consumed` bytes; `keep_alive`: the connection stays open after it.
    Request { request: Incoming<'a>, consumed: usize, keep_alive: bool },
    /// A request that gets this error and a closed connection.
    Bad { status: u16, why: &'static str },
}

/// Reads the head of the request at the start of `buf`; heads over `max_head` bytes are refused.
/// The body's length is read, not judged: [`parse_body`] refuses one that is too large.
pub fn parse_head(buf: &[u8], max_head: usize) -> HeadParsed<'_> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut headers);
    let head_len = match head.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= max_head => n,
        Ok(httparse::Status::Complete(_)) => {
            return HeadParsed::Bad { status: 431, why: "request head too large" }
        }
        Ok(httparse::Status::Partial) if buf.len() > max_head => {
            return HeadParsed::Bad { status: 431, why: "request head too large" }
        }
        Ok(httparse::Status::Partial) => return HeadParsed::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return HeadParsed::Bad { status: 431, why: "too many header lines" }
        }
        Err(_) => return HeadParsed::Bad { status: 400, why: "malformed request head" },
    };
    let (Some(method), Some(path), Some(version)) = (head.method, head.path, head.version) else {
        return HeadParsed::Bad { status: 400, why: "malformed request head" };
    };
    let mut length: Option<usize> = None;
    let mut keep_alive = version == 1;
    let mut expect_continue = false;
    let mut commit_if_pass = false;
    let mut authorization: Option<&[u8]> = None;
    for header in head.headers.iter() {
        let name = header.name;
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if name.eq_ignore_ascii_case("content-length") {
            let Ok(n) = value.parse::<usize>() else {
                return HeadParsed::Bad { status: 400, why: "unreadable content-length" };
            };
            if length.is_some_and(|l| l != n) {
                return HeadParsed::Bad { status: 400, why: "conflicting content-length headers" };
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Smuggling-safe and simple: every caller (Envoy, the SDKs, curl) sends a length.
            return HeadParsed::Bad {
                status: 411,
                why: "send the body with content-length, not a transfer-encoding",
            };
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && version == 0 {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("authorization") {
            // One credential per request: with two, which one counts would be a guess.
            if authorization.is_some() {
                return HeadParsed::Bad { status: 400, why: "more than one authorization header" };
            }
            authorization = Some(header.value);
        } else if name.eq_ignore_ascii_case(crate::service::COMMIT_IF_PASS_HEADER) {
            commit_if_pass = value == "1";
        }
    }
    HeadParsed::Whole(Head {
        method,
        path,
        authorization,
        commit_if_pass,
        len: head_len,
        body_len: length.unwrap_or(0),
        keep_alive,
        expect_continue,
    })
}

/// Reads the body of the request at the start of `buf`, whose head [`parse_head`] read as
/// `head`; bodies over `max_body` bytes are refused.
pub fn parse_body<'a>(buf: &'a [u8], head: Head<'a>, max_body: usize) -> Parsed<'a> {
    if head.body_len > max_body {
        return Parsed::Bad { status: 413, why: "request body too large" };
    }
    let consumed = head.len.saturating_add(head.body_len);
    let Some(body) = buf.get(head.len..consumed) else {
        return Parsed::Incomplete { expect_continue: head.expect_continue };
    };
    let Head { method, path, authorization, commit_if_pass, keep_alive, .. } = head;
    Parsed::Request {
        request: Incoming { method, path, body, authorization, commit_if_pass },
        consumed,
        keep_alive,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Appends `response` to `out`; `close`: tell the client the connection closes after it.
pub fn write_response(out: &mut Vec<u8>, response: &Outgoing, close: bool) {
    let mut head = String::with_capacity(160);
    let _ = write!(
        head,
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    for (name, value) in &response.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(response.body.as_bytes());
}

/// The interim answer to `expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// A request's head, then its body, as the server reads them.
    fn parse(buf: &[u8], max_head: usize, max_body: usize) -> Parsed<'_> {
        match parse_head(buf, max_head) {
            HeadParsed::Partial => Parsed::Incomplete { expect_continue: false },
            HeadParsed::Bad { status, why } => Parsed::Bad { status, why },
            HeadParsed::Whole(head) => parse_body(buf, head, max_body),
        }
    }

    fn request(parsed: Parsed<'_>) -> (Incoming<'_>, usize, bool) {
        match parsed {
            Parsed::Request { request, consumed, keep_alive } => (request, consumed, keep_alive),
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn a_post_with_a_body_and_a_second_request_behind_it() {
        let buf = b"POST /checks HTTP/1.1\r\nHost: s\r\nContent-Length: 4\r\nX-Pumpguard-Commit-If-Pass: 1\r\nAuthorization: Bearer t0k3n\r\n\r\nabcdGET /healthz HTTP/1.1\r\n\r\n";
        let (req, consumed, keep) = request(parse(buf, 1024, 1024));
        assert_eq!(
            (req.method, req.path, req.body, req.commit_if_pass, req.authorization),
            ("POST", "/checks", &b"abcd"[..], true, Some(&b"Bearer t0k3n"[..]))
        );
        assert!(keep);
        let (next, _, _) = request(parse(&buf[consumed..], 1024, 1024));
        assert_eq!(
            (next.method, next.path, next.body, next.authorization),
            ("GET", "/healthz", &b""[..], None)
        );
    }

    #[test]
    fn partial_heads_and_bodies_wait_for_more() {
        assert_eq!(
            parse(b"POST /checks HTTP/1.1\r\nConte", 1024, 1024),
            Parsed::Incomplete { expect_continue: false }
        );
        let head = b"POST /checks HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\nabc";
        assert_eq!(parse(head, 1024, 1024), Parsed::Incomplete { expect_continue: true });
    }

    #[test]
    fn connection_close_and_http_1_0() {
        let (_, _, keep) = request(parse(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 1024, 1024));
        assert!(!keep);
        let (_, _, keep) = request(parse(b"GET / HTTP/1.0\r\n\r\n", 1024, 1024));
        assert!(!keep);
        let (_, _, keep) = request(parse(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1024, 1024));
        assert!(keep);
    }

    #[test]
    fn every_bad_request_gets_its_status() {
        let cases: [(&[u8], u16); 8] = [
            (b"POST / HTTP/1.1\r\nAuthorization: a\r\nauthorization: b\r\n\r\n", 400),
            (b"NOT HTTP\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
            (b"POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n", 413),
            (b"GET / HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", 431),
            (b"GET / HTTP/1.1\r\nX-Endless: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 431),
        ];
        for (buf, want) in cases {
            match parse(buf, 64, 1024) {
                Parsed::Bad { status, .. } => assert_eq!(status, want, "{}", String::from_utf8_lossy(buf)),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(buf)),
            }
        }
        let many: String = (0..MAX_HEADERS + 1).map(|i| format!("h{i}: v\r\n")).collect();
        let buf = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parse(buf.as_bytes(), 1 << 16, 1024), Parsed::Bad { status: 431, .. }));
    }

    #[test]
    fn responses_carry_length_headers_and_close() {
        let mut out = Vec::new();
        let response = Outgoing {
            status: 200,
            content_type: "application/json",
            body: "{}".to_owned(),
            headers: vec![("x-pumpguard-committed", "1")],
        };
        write_response(&mut out, &response, true);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nx-pumpguard-committed: 1\r\nconnection: close\r\n\r\n{}"
        );
    }
}
