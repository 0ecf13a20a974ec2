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
