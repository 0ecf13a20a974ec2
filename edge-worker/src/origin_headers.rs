//! `PUMPGUARD_ORIGIN_HEADERS` (a secret): headers the Worker sets on every request it forwards
//! to the site's origin, so that origin (or the firewall in front of a managed API) can refuse
//! whatever did not come through the guard. A guard a client can go around stops nothing: the
//! client's own copy of such a header is replaced, never passed on, and another party's API
//! (`PUMPGUARD_ORIGIN_PREFIXES`) never gets the value.

use std::fmt;

/// Most headers: a shared secret or two, never a header table.
pub const MAX_HEADERS: usize = 8;
/// Longest value: a secret, a token.
pub const MAX_VALUE_BYTES: usize = 1024;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct OriginHeaders {
    /// (lower-case name, value).
    entries: Vec<(String, String)>,
}

/// The values are secrets: never in a log line or a panic message.
impl fmt::Debug for OriginHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|(name, _)| name.as_str()).collect();
        write!(f, "OriginHeaders({names:?}, values redacted)")
    }
}

impl OriginHeaders {
    /// Reads a JSON object of header name → value. The error names the header and what is wrong
    /// with it, never its value.
    pub fn parse(value: &str) -> Result<OriginHeaders, String> {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(value)
            .map_err(|_| "not a JSON object of header name to value".to_owned())?;
        if map.len() > MAX_HEADERS {
            return Err(format!("{} headers; at most {MAX_HEADERS}", map.len()));
        }
        let mut entries = Vec::with_capacity(map.len());
        for (name, value) in map {
            let lower = name.to_ascii_lowercase();
            if lower.is_empty() || !lower.bytes().all(is_token_byte) {
                return Err(format!("{name:?} is not a header name"));
            }
            if RESERVED.contains(&lower.as_str()) || lower.starts_with("x-pumpguard-") {
                return Err(format!("{name:?} is the request's own or pumpguard's; choose another name"));
            }
            let Some(value) = value.as_str() else {
                return Err(format!("{name:?}: the value must be a string"));
            };
            if value.is_empty()
                || value.len() > MAX_VALUE_BYTES
                || !value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            {
                return Err(format!(
                    "{name:?}: the value must be 1 to {MAX_VALUE_BYTES} visible ASCII characters"
                ));
            }
            entries.push((lower, value.to_owned()));
        }
        Ok(OriginHeaders { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// (lower-case name, value) of each header.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

/// Whether `name` (lower-case) may be set on requests to origin: a header name, neither one
/// describing the request itself nor pumpguard's own.
pub fn settable(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(is_token_byte)
        && !RESERVED.contains(&name)
        && !name.starts_with("x-pumpguard-")
}

/// Headers that describe the request itself: setting them would break it.
const RESERVED: &[&str] =
    &["host", "content-length", "content-type", "transfer-encoding", "connection", "cookie", "authorization"];

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_cased_and_values_kept() {
        let Ok(h) = OriginHeaders::parse(r#"{"X-Origin-Verify": "s3cr3t value"}"#) else { panic!("parses") };
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![("x-origin-verify", "s3cr3t value")]);
        assert!(!format!("{h:?}").contains("s3cr3t"), "{h:?}");
    }

    #[test]
    fn bad_values_say_what_is_wrong_without_the_secret() {
        for (value, says) in [
            ("[]", "not a JSON object"),
            (r#"{"bad name": "s3cr3t"}"#, "not a header name"),
            (r#"{"": "s3cr3t"}"#, "not a header name"),
            (r#"{"Host": "s3cr3t"}"#, "choose another name"),
            (r#"{"x-pumpguard-decision": "s3cr3t"}"#, "choose another name"),
            (r#"{"x-a": 1}"#, "must be a string"),
            (r#"{"x-a": ""}"#, "visible ASCII"),
            ("{\"x-a\": \"s3cr3t\\r\\nx-b: 1\"}", "visible ASCII"),
        ] {
            match OriginHeaders::parse(value) {
                Err(why) => {
                    assert!(why.contains(says), "{value}: {why}");
                    assert!(!why.contains("s3cr3t"), "{why}");
                }
                Ok(h) => panic!("{value} parsed: {h:?}"),
            }
        }
        let many: Vec<String> = (0..=MAX_HEADERS).map(|i| format!("\"x-h{i}\": \"v\"")).collect();
        assert!(OriginHeaders::parse(&format!("{{{}}}", many.join(","))).is_err());
        assert!(
            OriginHeaders::parse(&format!(r#"{{"x-a": "{}"}}"#, "v".repeat(MAX_VALUE_BYTES + 1))).is_err()
        );
    }
}
