//! CORS headers on the guard's own replies. A page calling the guarded API from another origin
//! reads origin's answers under origin's CORS headers, but the guard's refusals carry none
//! unless the policy's `cors` section names the page's origin: without them the browser hides
//! the refusal (a network error to the page), and the page cannot show a challenge or a wait.

use std::sync::Arc;

use crate::config::{ConfigErrors, CorsDoc};

/// At most this many listed origins.
const MAX_ORIGINS: usize = 100;

/// The headers a page's script may read from a refusal: the decision and the wait.
pub(crate) const EXPOSED_HEADERS: &str = "x-pumpguard-decision, retry-after";

/// The policy's `cors` section, compiled.
#[derive(Clone, Debug)]
pub struct Cors {
    /// Listed origins (`https://www.example.com`), compared without regard to case.
    origins: Vec<String>,
    /// `"*"`: every origin.
    any: bool,
    /// Pages call with credentials (cookies): `Access-Control-Allow-Credentials: true`.
    credentials: bool,
}

/// What one local reply carries: the origin to allow, and whether credentials are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsReply {
    /// `Access-Control-Allow-Origin`: the request's `Origin` when listed, `*` for any origin.
    pub allow_origin: Arc<str>,
    /// `Access-Control-Allow-Credentials: true`.
    pub credentials: bool,
}

impl Cors {
    /// Compiles `doc`; problems go to `errs` under `cors`.
    pub(crate) fn compile(doc: &CorsDoc, errs: &mut ConfigErrors) -> Option<Cors> {
        let before = errs.errors.len();
        if doc.allow_origins.is_empty() || doc.allow_origins.len() > MAX_ORIGINS {
            errs.push("cors.allow_origins", format!("must list 1 to {MAX_ORIGINS} origins"));
        }
        let any = doc.allow_origins.iter().any(|o| o == "*");
        if any && doc.allow_credentials {
            errs.push(
                "cors.allow_credentials",
                "cannot go with \"*\": browsers refuse credentials for any origin, and echoing every \
                 origin would let any site read refusals with the user's cookies",
            );
        }
        for (i, origin) in doc.allow_origins.iter().enumerate() {
            if origin != "*" && !is_origin(origin) {
                errs.push(
                    format!("cors.allow_origins[{i}]"),
                    format!(
                        "{origin:?} is not an origin: scheme://host[:port] as a browser sends it, or \"*\""
                    ),
                );
            }
        }
        (errs.errors.len() == before).then(|| Cors {
            origins: doc.allow_origins.iter().filter(|o| *o != "*").cloned().collect(),
            any,
            credentials: doc.allow_credentials,
        })
    }

    /// The headers for a request whose `Origin` header is `origin`; `None` for a request
    /// without one (not from a page of another origin) or from an origin not listed.
    pub(crate) fn reply_for(&self, origin: Option<&str>) -> Option<CorsReply> {
        let origin = origin?.trim();
        // `"*"` never goes with credentials (refused at load).
        if self.any {
            return Some(CorsReply { allow_origin: Arc::from("*"), credentials: false });
        }
        self.origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
            .then(|| CorsReply { allow_origin: Arc::from(origin), credentials: self.credentials })
    }
}

/// `http(s)://host[:port]`: what browsers send in `Origin` (no path, no trailing slash).
fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return false;
    }
    // An IPv6 host is bracketed, so its colons are not the port's.
    let (host_ok, after_host) = if let Some(inner) = rest.strip_prefix('[') {
        let Some((address, after)) = inner.split_once(']') else {
            return false;
        };
        (
            !address.is_empty() && address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.'),
            after,
        )
    } else {
        let end = rest.find(':').unwrap_or(rest.len());
        let (host, after) = rest.split_at(end);
        (!host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'), after)
    };
    let port_ok = match after_host.strip_prefix(':') {
        Some(port) => !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()),
        None => after_host.is_empty(),
    };
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn cors(origins: &[&str], credentials: bool) -> Result<Cors, Vec<String>> {
        let doc = CorsDoc {
            allow_origins: origins.iter().map(|o| o.to_string()).collect(),
            allow_credentials: credentials,
        };
        let mut errs = ConfigErrors::default();
        Cors::compile(&doc, &mut errs).ok_or_else(|| errs.errors.iter().map(|e| e.path.clone()).collect())
    }

    #[test]
    fn origins_are_what_browsers_send() {
        for good in [
            "https://www.example.com",
            "http://127.0.0.1:8080",
            "https://[2001:db8::1]:8443",
            "HTTPS://A-b.example",
        ] {
            assert!(is_origin(good), "{good}");
        }
        for bad in [
            "www.example.com",
            "https://example.com/",
            "https://example.com/path",
            "ftp://x",
            "https://",
            "https://a:b",
            "https://a:123456",
            "null",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }

    #[test]
    fn a_listed_origin_is_echoed_and_others_get_nothing() {
        let c = cors(&["https://www.example.com"], true).unwrap();
        let reply = c.reply_for(Some("https://WWW.example.com")).unwrap();
        assert_eq!((&*reply.allow_origin, reply.credentials), ("https://WWW.example.com", true));
        assert_eq!(c.reply_for(Some("https://evil.example")), None);
        assert_eq!(c.reply_for(None), None);
        let any = cors(&["*"], false).unwrap();
        assert_eq!(&*any.reply_for(Some("https://anyone.example")).unwrap().allow_origin, "*");
    }

    #[test]
    fn bad_sections_are_refused_with_their_paths() {
        assert_eq!(cors(&[], false).unwrap_err(), ["cors.allow_origins"]);
        assert_eq!(cors(&["*"], true).unwrap_err(), ["cors.allow_credentials"]);
        assert_eq!(
            cors(&["https://ok.example", "example.com/"], false).unwrap_err(),
            ["cors.allow_origins[1]"]
        );
    }
}
