//! Requests the integration tests send, built one way.

use std::net::{IpAddr, Ipv4Addr};

use pumpguard_core::{HttpVersion, Request, TlsFingerprints};

/// An HTTP/1.1 POST to `path` of app.example.com from 198.51.100.`ip`.
pub fn post<'a>(path: &'a str, body: &'a str, headers: &'a [(&'a str, &'a str)], ip: u8) -> Request<'a> {
    Request {
        method: "POST",
        authority: "app.example.com",
        path,
        version: HttpVersion::Http11,
        headers,
        body: body.as_bytes(),
        body_truncated: false,
        client_ip: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, ip))),
        tls: TlsFingerprints::default(),
        edge: Default::default(),
    }
}
