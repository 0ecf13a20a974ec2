//! The fingerprint functions on arbitrary header sets and TLS fingerprint strings.
//!
//! Input: frames; each frame's headers are fingerprinted under every HTTP version, and each header
//! value is parsed as a JA3 and a JA4. Properties: no panic; the same headers give the same
//! fingerprints; JA4H output is ASCII; `header_set` is the same for the headers in reverse order.

use pumpguard_core::fingerprint::{header_md5, header_set, ja4h, parse_ja3, parse_ja4, HttpVersion};

use crate::frame;

/// Runs the target on one input.
pub fn run(data: &[u8]) -> String {
    let mut lines = Vec::new();
    for frame in frame::parse(data, 4) {
        let headers: Vec<(&str, &str)> =
            frame.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        for version in [HttpVersion::Http10, HttpVersion::Http11, HttpVersion::Http2, HttpVersion::Http3] {
            let a = ja4h(&frame.method, version, &headers);
            let b = ja4h(&frame.method, version, &headers);
            assert_eq!(a.as_str(), b.as_str(), "JA4H differs for the same headers");
            assert!(a.as_str().is_ascii(), "JA4H is not ASCII: {:?}", a.as_str());
            let md5 = header_md5(&frame.method, version, &headers);
            assert_eq!(md5.as_str(), header_md5(&frame.method, version, &headers).as_str());
            let set = header_set(&frame.method, version, &headers);
            let reversed: Vec<(&str, &str)> = headers.iter().rev().copied().collect();
            assert_eq!(
                set.as_str(),
                header_set(&frame.method, version, &reversed).as_str(),
                "header_set depends on order"
            );
            lines.push(format!("{} {} {}", a.as_str(), md5.as_str(), set.as_str()));
        }
        for (_, value) in &headers {
            lines.push(format!("{:?} {:?}", parse_ja3(value).is_some(), parse_ja4(value).is_some()));
        }
    }
    super::digest_of(&lines)
}
