//! Which requests a policy guards: host, method, normalised path and header conditions.

use std::sync::Arc;

use crate::config::RouteKind;
use crate::extract::Extractor;
use crate::request::Request;

/// A compiled host condition, lower-case and without port.
#[derive(Debug)]
pub enum HostPattern {
    /// The host itself.
    Exact(String),
    /// `*.example.com`: stored as `.example.com`.
    Suffix(String),
}

/// A compiled path condition on the normalised path, compared case-insensitively.
#[derive(Debug)]
pub enum PathPattern {
    /// The whole path.
    Exact(String),
    /// The path's start; keeps a configured trailing `/`.
    Prefix(String),
}

/// A compiled request header condition; the name is lower-case, the value trimmed before comparing.
#[derive(Debug)]
pub enum HeaderCondition {
    /// The header is present.
    Present(String),
    /// The header's value equals this.
    Equals(String, String),
    /// The header's value starts with this.
    Prefix(String, String),
}

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    /// The policy's route id.
    pub id: Arc<str>,
    /// Whether the route sends an SMS or confirms a code.
    pub kind: RouteKind,
    /// Host conditions, any of which may match; empty means any host.
    pub hosts: Vec<HostPattern>,
    /// Upper-case methods.
    pub methods: Vec<String>,
    /// Path condition; `None` means any path.
    pub path: Option<PathPattern>,
    /// Header conditions, all of which must hold.
    pub headers: Vec<HeaderCondition>,
    /// Where the route's numbers and token are.
    pub extractor: Extractor,
    /// What a confirm route's response must show; unused on send routes.
    pub success: ConfirmSuccess,
}

/// What a confirm route's response must show for its code to count as confirmed.
#[derive(Debug, Default)]
pub struct ConfirmSuccess {
    /// Statuses that mean success; empty: any 2xx.
    pub statuses: Vec<u16>,
    /// A response header (lower-case name) that must carry this value.
    pub header: Option<(String, String)>,
    /// A field of the JSON body (path segments) that must hold one of these values.
    pub json: Option<(Vec<String>, Vec<String>)>,
}

/// How much of a confirm response body a host reads when the route judges success by it.
pub const MAX_CONFIRM_BODY_BYTES: usize = 16 * 1024;

/// The parts of origin's answer to a confirm a host can hand over. A host that cannot read the
/// body passes `None`: a route that needs it then credits nothing.
#[derive(Clone, Copy, Debug)]
pub struct ConfirmResponse<'a> {
    /// HTTP status of the response.
    pub status: u16,
    /// Lower-case names.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body up to [`MAX_CONFIRM_BODY_BYTES`], when the host read it.
    pub body: Option<&'a [u8]>,
}

impl ConfirmSuccess {
    /// Whether the route needs the response body to judge success.
    pub fn needs_body(&self) -> bool {
        self.json.is_some()
    }

    /// Whether `response` confirms the code.
    pub fn holds(&self, response: &ConfirmResponse<'_>) -> bool {
        let status_ok = if self.statuses.is_empty() {
            (200..300).contains(&response.status)
        } else {
            self.statuses.contains(&response.status)
        };
        let header_ok = self.header.as_ref().is_none_or(|(name, value)| {
            response.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case(name) && v.trim() == value)
        });
        let json_ok = self.json.as_ref().is_none_or(|(path, values)| {
            response.body.and_then(|body| json_field(body, path)).is_some_and(|found| values.contains(&found))
        });
        status_ok && header_ok && json_ok
    }
}

/// The text of a scalar at `path` in a JSON object body (strings as they are, other scalars as
/// JSON writes them), or `None`.
fn json_field(body: &[u8], path: &[String]) -> Option<String> {
    let body = body.get(..MAX_CONFIRM_BODY_BYTES).unwrap_or(body);
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    for segment in path {
        value = value.get_mut(segment.as_str())?.take();
    }
    match value {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Bool(_) | serde_json::Value::Number(_) => Some(value.to_string()),
        _ => None,
    }
}

impl Route {
    /// Whether every condition holds for `req`; `normalized_path` is its path after [`normalize_path`].
    pub fn matches(&self, req: &Request<'_>, normalized_path: &str) -> bool {
        self.host_matches(req.host())
            && (self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(req.method)))
            && self.path_matches(normalized_path)
            && self.headers.iter().all(|c| c.holds(req))
    }

    fn host_matches(&self, host: &str) -> bool {
        self.hosts.is_empty()
            || self.hosts.iter().any(|p| match p {
                HostPattern::Exact(h) => h.eq_ignore_ascii_case(host),
                HostPattern::Suffix(s) => {
                    host.len() > s.len()
                        && host.get(host.len() - s.len()..).is_some_and(|tail| tail.eq_ignore_ascii_case(s))
                }
            })
    }

    fn path_matches(&self, path: &str) -> bool {
        match &self.path {
            None => true,
            Some(PathPattern::Exact(p)) => path.eq_ignore_ascii_case(p),
            Some(PathPattern::Prefix(p)) => {
                path.len() >= p.len() && path.get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p))
            }
        }
    }
}

impl HeaderCondition {
    fn holds(&self, req: &Request<'_>) -> bool {
        match self {
            HeaderCondition::Present(name) => req.header(name).is_some(),
            HeaderCondition::Equals(name, value) => req.header(name).is_some_and(|v| v.trim() == value),
            HeaderCondition::Prefix(name, prefix) => {
                req.header(name).is_some_and(|v| v.trim().starts_with(prefix.as_str()))
            }
        }
    }
}

/// Canonical form of a path for matching, so `/otp/`, `//otp`, `/a/../otp` and `/%6Ftp` cannot
/// slip past a rule for `/otp`: percent-decodes unreserved characters, collapses slashes,
/// resolves dot segments and drops a trailing slash. Matching is then case-insensitive.
pub fn normalize_path(path: &str) -> String {
    let decoded = decode_unreserved(path);
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Percent-decodes only unreserved characters (letters, digits, `-._~`); others stay encoded.
fn decode_unreserved(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains('%') {
        return std::borrow::Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'%'), Some(h), Some(l)) => hex(*h).zip(hex(*l)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match decoded {
            Some(b) if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => {
                out.push(char::from(b));
                i += 3;
            }
            Some(b) => {
                // A reserved character stays escaped, in upper case.
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
                i += 3;
            }
            None if bytes.get(i) == Some(&b'%') => {
                // A stray '%' is escaped itself, so decoding twice cannot build a new escape.
                out.push_str("%25");
                i += 1;
            }
            None => {
                // Copy one whole UTF-8 character.
                let rest = path.get(i..).unwrap_or("");
                let c = rest.chars().next().unwrap_or('\u{FFFD}');
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    #[test]
    fn evasive_paths_normalise() {
        for p in ["/otp", "/otp/", "//otp", "/a/../otp", "/%6Ftp", "/./otp", "/otp?x"] {
            let p = p.split('?').next().unwrap();
            assert_eq!(normalize_path(p), "/otp", "{p}");
        }
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("/a%2Fb"), "/a%2Fb");
        assert_eq!(normalize_path("/ü/%"), "/ü/%25");
        assert_eq!(normalize_path("/a%2fb"), "/a%2Fb");
    }

    proptest::proptest! {
        #[test]
        fn idempotent(p in "[/a-z%.0-9]{0,20}") {
            let once = normalize_path(&p);
            proptest::prop_assert_eq!(normalize_path(&once), once.clone());
        }
    }
}
