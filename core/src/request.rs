//! The host-independent view of an HTTP request that the core judges.

use std::net::IpAddr;

use crate::fingerprint::HttpVersion;

/// TLS fingerprints handed over by the proxy that terminated TLS (never taken from client headers).
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsFingerprints<'a> {
    /// JA3 hash as the proxy reported it; a malformed value is treated as absent.
    pub ja3: Option<&'a str>,
    /// JA4 fingerprint as the proxy reported it; a malformed value is treated as absent.
    pub ja4: Option<&'a str>,
}

/// What the edge in front of the host says about the client: Cloudflare Bot Management on a
/// Worker, or headers a trusted proxy sets in front of Envoy. Absent on hosts without one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdgeSignals {
    /// Bot score on Cloudflare's scale: 1 (surely automated) to 99 (surely human); `None` when
    /// the edge gave none (no Bot Management, or a score it did not compute).
    pub bot_score: Option<u8>,
    /// The edge verified the client as a known good bot (a search engine's crawler, a monitor).
    pub verified_bot: Option<bool>,
}

impl EdgeSignals {
    /// A bot score as a number (`request.cf.botManagement.score`): an integer from 1 to 99.
    /// Cloudflare's 0 means "not computed", so it is no score, as is anything out of range.
    pub fn bot_score_of(value: f64) -> Option<u8> {
        let integral = value.fract() == 0.0 && (1.0..=99.0).contains(&value);
        integral.then_some(value as u8)
    }

    /// A bot score as header text (`"12"`); anything but an integer from 1 to 99 is no score.
    pub fn parse_bot_score(text: &str) -> Option<u8> {
        text.trim().parse::<u8>().ok().filter(|score| (1..=99).contains(score))
    }

    /// A verified-bot flag as header text: `true` / `1` or `false` / `0`, any case.
    pub fn parse_verified_bot(text: &str) -> Option<bool> {
        let text = text.trim();
        if text == "1" || text.eq_ignore_ascii_case("true") {
            Some(true)
        } else if text == "0" || text.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
    }
}

/// One request as the host saw it. Borrowed, so hosts build it without copying.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// HTTP method as received (`POST`).
    pub method: &'a str,
    /// Host / `:authority`, possibly with a port.
    pub authority: &'a str,
    /// Path including the query string.
    pub path: &'a str,
    /// HTTP version the client spoke to the first proxy; JA4H and the header MD5 hash it.
    pub version: HttpVersion,
    /// Header names as received (lower-case through most proxies), in the order received.
    pub headers: &'a [(&'a str, &'a str)],
    /// The whole body, at most the policy's `max_body_bytes` (see `body_truncated`).
    pub body: &'a [u8],
    /// The host stopped reading after `max_body_bytes`: the body is over the cap.
    pub body_truncated: bool,
    /// The client's address; `None` when the host does not know it or did not fetch it
    /// ([`crate::RequestNeeds`]).
    pub client_ip: Option<IpAddr>,
    /// TLS fingerprints from the proxy that terminated TLS.
    pub tls: TlsFingerprints<'a>,
    /// Bot signals from the edge in front (never from the client's own headers).
    pub edge: EdgeSignals,
}

impl<'a> Request<'a> {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }

    /// Path without the query string.
    pub fn path_only(&self) -> &'a str {
        match self.path.split_once('?') {
            Some((path, _)) => path,
            None => self.path,
        }
    }

    /// Query string without the `?`, empty when there is none.
    pub fn query(&self) -> &'a str {
        match self.path.split_once('?') {
            Some((_, query)) => query,
            None => "",
        }
    }

    /// Host name without port, as written.
    pub fn host(&self) -> &'a str {
        let authority = self.authority;
        if authority.starts_with('[') {
            // IPv6 literal: keep the brackets, drop the port.
            return match authority.find(']') {
                Some(end) => authority.get(..=end).unwrap_or(authority),
                None => authority,
            };
        }
        match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EdgeSignals;

    #[test]
    fn bot_scores() {
        assert_eq!(EdgeSignals::bot_score_of(1.0), Some(1));
        assert_eq!(EdgeSignals::bot_score_of(99.0), Some(99));
        for none in [0.0, 100.0, -1.0, 12.5, f64::NAN, f64::INFINITY] {
            assert_eq!(EdgeSignals::bot_score_of(none), None, "{none}");
        }
        assert_eq!(EdgeSignals::parse_bot_score(" 12 "), Some(12));
        for none in ["0", "100", "", "x", "-3", "12.0"] {
            assert_eq!(EdgeSignals::parse_bot_score(none), None, "{none:?}");
        }
    }

    #[test]
    fn verified_bot_flags() {
        assert_eq!(EdgeSignals::parse_verified_bot("TRUE"), Some(true));
        assert_eq!(EdgeSignals::parse_verified_bot("1"), Some(true));
        assert_eq!(EdgeSignals::parse_verified_bot(" false"), Some(false));
        assert_eq!(EdgeSignals::parse_verified_bot("0"), Some(false));
        assert_eq!(EdgeSignals::parse_verified_bot("yes"), None);
    }
}
