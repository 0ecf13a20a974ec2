//! `header_md5`: pumpguard's own, licence-free fingerprint of how a client shapes its requests.
//!
//! # Definition (public contract: changing it changes every stored value)
//!
//! `header_md5` is the lower-case hex MD5 (32 chars) of the UTF-8 string
//!
//! ```text
//! METHOD "|" VERSION "|" NAMES "|" ACCEPT_LANGUAGE "|" ACCEPT_ENCODING
//! ```
//!
//! - `METHOD`: the request method exactly as received.
//! - `VERSION`: `HTTP/1.0`, `HTTP/1.1`, `HTTP/2` or `HTTP/3`.
//! - `NAMES`: the names of the included headers, ASCII lower-cased, in the order received,
//!   joined with `,`. Repeated headers appear repeatedly. A header is left out when its name
//!   starts with `:` (pseudo-header), equals one of [`HEADER_MD5_EXCLUDED_NAMES`] or starts
//!   with one of [`HEADER_MD5_EXCLUDED_PREFIXES`], ignoring ASCII case.
//! - `ACCEPT_LANGUAGE`, `ACCEPT_ENCODING`: the value of the first header of that name, with
//!   leading and trailing spaces and tabs removed and otherwise unchanged; empty when absent.
//!
//! Example: `GET`, HTTP/2, `user-agent`, `accept`, `accept-encoding: gzip, br`, `x-request-id`,
//! `accept-language: en-US,en;q=0.9` hashes
//! `GET|HTTP/2|user-agent,accept,accept-encoding,accept-language|en-US,en;q=0.9|gzip, br`.
//!
//! The left-out headers are per-request state (cookie, referer), hop-by-hop or body-dependent
//! (connection, content-length, ...), or added by proxies, CDNs and tracers, so one client
//! hashes alike behind different proxies. Hosts still have to hand over headers in the order
//! received: one that sorts or merges them (a Cloudflare Worker's `Headers` does) or rewrites
//! the two values produces its own, internally consistent, set of values.

use md5::{Digest, Md5};

use super::{ascii_fingerprint_impls, trim_blanks, write_lower_hex, AsciiArray, ByteSink, HttpVersion};

/// Header names [`header_md5`] leaves out (compared ignoring ASCII case).
pub const HEADER_MD5_EXCLUDED_NAMES: &[&str] = &[
    // Per-request state, not client shape.
    "cookie",
    "referer",
    // HTTP/1 only (HTTP/2+ carry `:authority`) and moved into `:authority` by Envoy.
    "host",
    // Depends on the body.
    "content-length",
    // Hop-by-hop: proxies drop or rewrite them (RFC 9110 section 7.6.1).
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    // Added by proxies, load balancers, CDNs and tracers.
    "via",
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "true-client-ip",
    "x-request-id",
    "x-amzn-trace-id",
    "x-cloud-trace-context",
    "traceparent",
    "tracestate",
    "b3",
    "x-ot-span-context",
    "cdn-loop",
    "early-data",
];

/// Header name prefixes [`header_md5`] leaves out (compared ignoring ASCII case): proxy, CDN
/// and tracer families.
pub const HEADER_MD5_EXCLUDED_PREFIXES: &[&str] =
    &["x-forwarded-", "x-envoy-", "cf-", "cloudfront-", "x-amz-cf-", "x-b3-", "x-datadog-"];

/// A [`header_md5`] value: 32 lower-case hex chars.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeaderHash(AsciiArray<32>);

ascii_fingerprint_impls!(HeaderHash);

/// pumpguard's header fingerprint of a request; see the module docs for the exact definition.
pub fn header_md5(method: &str, version: HttpVersion, headers: &[(&str, &str)]) -> HeaderHash {
    let mut md5 = Md5::new();
    write_canonical(&mut md5, method, version, headers);
    let mut hex = [b'0'; 32];
    write_lower_hex(&md5.finalize(), &mut hex);
    HeaderHash(AsciiArray(hex))
}

/// Writes the hashed string of the definition to `sink`, without building it.
fn write_canonical<S: ByteSink>(sink: &mut S, method: &str, version: HttpVersion, headers: &[(&str, &str)]) {
    sink.put(method.as_bytes());
    sink.put(b"|");
    sink.put(version.as_str().as_bytes());
    sink.put(b"|");

    let mut accept_language = None;
    let mut accept_encoding = None;
    let mut first = true;
    for &(name, value) in headers {
        let lowered = LoweredName::new(name);
        if lowered.is_excluded() {
            continue;
        }
        if !first {
            sink.put(b",");
        }
        first = false;
        let whole_name = lowered.full();
        match whole_name {
            Some(lowered_name) => sink.put(lowered_name),
            None => put_ascii_lowercase(sink, name),
        }
        match whole_name {
            Some(b"accept-language") if accept_language.is_none() => accept_language = Some(value),
            Some(b"accept-encoding") if accept_encoding.is_none() => accept_encoding = Some(value),
            _ => {}
        }
    }

    sink.put(b"|");
    sink.put(trim_blanks(accept_language.unwrap_or_default()).as_bytes());
    sink.put(b"|");
    sink.put(trim_blanks(accept_encoding.unwrap_or_default()).as_bytes());
}

/// `header_set`: the lower-case hex MD5 of `METHOD "|" VERSION "|" NAMES`, where `NAMES` are the
/// names [`header_md5`] includes, ASCII lower-cased, **sorted and without repeats**, joined
/// with `,`; no header value. What a client sends, not in which order or how often: a bot
/// that rotates its header order, or a host that sorts headers (a Worker's `Headers`), hashes
/// alike. Public contract like [`header_md5`].
pub fn header_set(method: &str, version: HttpVersion, headers: &[(&str, &str)]) -> HeaderHash {
    let mut names: Vec<String> = headers
        .iter()
        .filter(|(name, _)| !LoweredName::new(name).is_excluded())
        .map(|(name, _)| name.to_ascii_lowercase())
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut md5 = Md5::new();
    md5.put(method.as_bytes());
    md5.put(b"|");
    md5.put(version.as_str().as_bytes());
    md5.put(b"|");
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            md5.put(b",");
        }
        md5.put(name.as_bytes());
    }
    let mut hex = [b'0'; 32];
    write_lower_hex(&md5.finalize(), &mut hex);
    HeaderHash(AsciiArray(hex))
}

/// Longest name kept whole in [`LoweredName`]; every excluded name and prefix is shorter.
const LOWERED_NAME_CAPACITY: usize = 64;

/// A header name lower-cased once on the stack, so the exclusion lists are compared with plain
/// byte equality (this check dominated the cost when done with `eq_ignore_ascii_case`).
struct LoweredName {
    head: [u8; LOWERED_NAME_CAPACITY],
    /// Bytes of `head` in use: the whole name, or the first `LOWERED_NAME_CAPACITY` bytes.
    head_len: usize,
    whole: bool,
}

impl LoweredName {
    fn new(name: &str) -> Self {
        let mut head = [0u8; LOWERED_NAME_CAPACITY];
        for (slot, byte) in head.iter_mut().zip(name.as_bytes()) {
            *slot = byte.to_ascii_lowercase();
        }
        LoweredName {
            head,
            head_len: name.len().min(LOWERED_NAME_CAPACITY),
            whole: name.len() <= LOWERED_NAME_CAPACITY,
        }
    }

    fn head(&self) -> &[u8] {
        self.head.get(..self.head_len).unwrap_or_default()
    }

    /// The whole lower-cased name, unless it was too long to keep.
    fn full(&self) -> Option<&[u8]> {
        self.whole.then(|| self.head())
    }

    fn is_excluded(&self) -> bool {
        let head = self.head();
        head.starts_with(b":")
            || self.full().is_some_and(|name| {
                HEADER_MD5_EXCLUDED_NAMES.iter().any(|excluded| excluded.as_bytes() == name)
            })
            || HEADER_MD5_EXCLUDED_PREFIXES.iter().any(|prefix| head.starts_with(prefix.as_bytes()))
    }
}

/// Lower-cases names too long for [`LoweredName`] in chunks, without allocating.
fn put_ascii_lowercase<S: ByteSink>(sink: &mut S, text: &str) {
    let mut buffer = [0u8; 64];
    for chunk in text.as_bytes().chunks(buffer.len()) {
        for (slot, byte) in buffer.iter_mut().zip(chunk) {
            *slot = byte.to_ascii_lowercase();
        }
        sink.put(buffer.get(..chunk.len()).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canonical(method: &str, version: HttpVersion, headers: &[(&str, &str)]) -> String {
        let mut bytes = Vec::new();
        write_canonical(&mut bytes, method, version, headers);
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn header_set_ignores_order_repeats_values_and_excluded_names() {
        let a = [("User-Agent", "x"), ("accept", "*/*"), ("accept-language", "en"), ("cookie", "a=1")];
        let b = [("accept-language", "de"), ("accept", "text/html"), ("accept", "*/*"), ("user-agent", "y")];
        fn set(h: &[(&str, &str)]) -> String {
            header_set("POST", HttpVersion::Http2, h).as_str().to_owned()
        }
        assert_eq!(set(&a), set(&b));
        assert_ne!(set(&a), set(&a[..2]));
        assert_ne!(set(&a), header_set("POST", HttpVersion::Http11, &a).as_str());
        // Known value: MD5 of "POST|HTTP/2|accept,accept-language,user-agent".
        let mut hex = [b'0'; 32];
        write_lower_hex(&Md5::digest(b"POST|HTTP/2|accept,accept-language,user-agent"), &mut hex);
        assert_eq!(set(&a).as_bytes(), hex);
    }

    const BROWSER_HTTP2: [(&str, &str); 10] = [
        (":method", "POST"),
        (":authority", "example.com"),
        (":scheme", "https"),
        (":path", "/api/otp"),
        ("content-length", "27"),
        ("user-agent", "Mozilla/5.0"),
        ("accept", "*/*"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("cookie", "session=abc"),
    ];

    #[test]
    fn documented_example() {
        let headers = [
            ("user-agent", "Mozilla/5.0"),
            ("accept", "*/*"),
            ("accept-encoding", "gzip, br"),
            ("x-request-id", "5f2c"),
            ("accept-language", "en-US,en;q=0.9"),
        ];
        assert_eq!(
            canonical("GET", HttpVersion::Http2, &headers),
            "GET|HTTP/2|user-agent,accept,accept-encoding,accept-language|en-US,en;q=0.9|gzip, br"
        );
        // MD5 of the string above (Python hashlib).
        assert_eq!(
            header_md5("GET", HttpVersion::Http2, &headers).as_str(),
            "b7a194a0c65dcd15016d9b0b42e67eb4"
        );
    }

    #[test]
    fn test_vectors() {
        // (method, version, headers, canonical string, md5 of it)
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let vectors: [(&str, HttpVersion, Headers<'_>, &str, &str); 4] = [
            (
                "GET",
                HttpVersion::Http11,
                &[],
                "GET|HTTP/1.1|||",
                "17a73db002656e32f1a68242c8415551",
            ),
            (
                "POST",
                HttpVersion::Http2,
                &BROWSER_HTTP2,
                "POST|HTTP/2|user-agent,accept,accept-encoding,accept-language|en-GB,en;q=0.9|gzip, deflate, br, zstd",
                "e809e7edbc5f52977b09524cbab22904",
            ),
            (
                // HTTP/1 original case; blanks around values trimmed; only first value counts.
                "POST",
                HttpVersion::Http11,
                &[
                    ("Host", "example.com"),
                    ("User-Agent", "curl/8.5.0"),
                    ("Accept", "*/*"),
                    ("Accept-Language", " de-CH \t"),
                    ("Accept-Language", "fr"),
                    ("Content-Type", "application/json"),
                    ("Content-Length", "27"),
                    ("X-Forwarded-For", "203.0.113.9"),
                ],
                "POST|HTTP/1.1|user-agent,accept,accept-language,accept-language,content-type|de-CH|",
                "1a98cf18a63870862743d856d4649de7",
            ),
            (
                "get",
                HttpVersion::Http3,
                &[("ACCEPT-ENCODING", "br"), ("cf-ray", "1"), ("Via", "1.1 x")],
                "get|HTTP/3|accept-encoding||br",
                "eb1f1d20afcd20aa18a257d45d2f3b98",
            ),
        ];
        for (method, version, headers, expected_canonical, expected_md5) in vectors {
            assert_eq!(canonical(method, version, headers), expected_canonical);
            assert_eq!(header_md5(method, version, headers).as_str(), expected_md5, "{expected_canonical}");
        }
    }

    #[test]
    fn exclusions() {
        let is_excluded = |name: &str| LoweredName::new(name).is_excluded();
        for name in ["Cookie", "REFERER", "x-forwarded-proto", "X-Envoy-Expected-Rq-Timeout-Ms"] {
            assert!(is_excluded(name), "{name}");
        }
        for name in ["cf-connecting-ip", "CF-IPCountry", ":path", "te", "Early-Data"] {
            assert!(is_excluded(name), "{name}");
        }
        // Near misses stay in.
        for name in ["x-forwarded", "cf", "cookies", "tea", "user-agent", "x-envoy", ""] {
            assert!(!is_excluded(name), "{name}");
        }
        // Non-ASCII around a prefix boundary must not panic or match.
        assert!(!is_excluded("x-forward\u{e9}d-for"));
        assert!(!is_excluded("c\u{e9}-ray"));
    }

    #[test]
    fn exclusion_lists_are_lower_case_and_fit_the_lowered_head() {
        for entry in HEADER_MD5_EXCLUDED_NAMES.iter().chain(HEADER_MD5_EXCLUDED_PREFIXES) {
            assert_eq!(*entry, entry.to_ascii_lowercase());
            assert!(entry.len() <= LOWERED_NAME_CAPACITY, "{entry}");
        }
        let long_forwarded = format!("X-Forwarded-{}", "a".repeat(100));
        assert!(LoweredName::new(&long_forwarded).is_excluded());
        let long_cookie_like = format!("cookie{}", "a".repeat(100));
        assert!(!LoweredName::new(&long_cookie_like).is_excluded());
    }

    #[test]
    fn lowercases_long_names_across_chunks() {
        let long_name = "X-".to_owned() + &"Ab".repeat(100);
        let headers = [(long_name.as_str(), "v")];
        let expected = format!("GET|HTTP/1.1|{}||", long_name.to_ascii_lowercase());
        assert_eq!(canonical("GET", HttpVersion::Http11, &headers), expected);
    }

    #[test]
    fn value_type_traits() {
        let hash = header_md5("GET", HttpVersion::Http11, &[]);
        assert_eq!(hash.to_string(), hash.as_str());
        assert_eq!(hash.as_ref(), hash.as_str());
        assert_eq!(format!("{hash:?}"), format!("HeaderHash({:?})", hash.as_str()));
    }

    /// Header names no exclusion rule touches.
    fn kept_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("user-agent".to_owned()),
            Just("Accept".to_owned()),
            Just("accept-language".to_owned()),
            Just("Accept-Encoding".to_owned()),
            Just("sec-ch-ua".to_owned()),
            "[a-wyzA-WYZ][a-zA-Z0-9-]{0,20}",
        ]
        .prop_filter("not excluded", |name| !LoweredName::new(name).is_excluded())
    }

    fn excluded_name() -> impl Strategy<Value = String> {
        let exact = proptest::sample::select(HEADER_MD5_EXCLUDED_NAMES).prop_map(str::to_owned);
        let prefixed = (proptest::sample::select(HEADER_MD5_EXCLUDED_PREFIXES), "[a-zA-Z0-9-]{0,12}")
            .prop_map(|(prefix, rest)| format!("{prefix}{rest}"));
        let pseudo = "[a-z]{0,10}".prop_map(|rest| format!(":{rest}"));
        (prop_oneof![exact, prefixed, pseudo], any::<bool>()).prop_map(|(name, upper)| {
            if upper {
                name.to_ascii_uppercase()
            } else {
                name
            }
        })
    }

    fn version() -> impl Strategy<Value = HttpVersion> {
        proptest::sample::select(
            &[HttpVersion::Http10, HttpVersion::Http11, HttpVersion::Http2, HttpVersion::Http3][..],
        )
    }

    proptest! {
        #[test]
        fn never_panics_and_is_lower_hex(
            method in any::<String>(),
            version in version(),
            headers in proptest::collection::vec((any::<String>(), any::<String>()), 0..24),
        ) {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let hash = header_md5(&method, version, &headers);
            prop_assert_eq!(hash.as_str().len(), 32);
            prop_assert!(hash.as_str().bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }

        #[test]
        fn ignores_excluded_headers(
            method in "[A-Z]{3,7}",
            version in version(),
            kept in proptest::collection::vec((kept_name(), ".{0,20}"), 0..12),
            extra in proptest::collection::vec((excluded_name(), ".{0,20}", any::<prop::sample::Index>()), 1..8),
        ) {
            let kept: Vec<(&str, &str)> = kept.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut mixed = kept.clone();
            for (name, value, position) in &extra {
                mixed.insert(position.index(mixed.len() + 1), (name.as_str(), value.as_str()));
            }
            prop_assert_eq!(header_md5(&method, version, &kept), header_md5(&method, version, &mixed));
        }

        #[test]
        fn name_case_does_not_matter(
            method in "[A-Z]{3,7}",
            version in version(),
            headers in proptest::collection::vec((kept_name(), ".{0,20}"), 0..12),
        ) {
            let original: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let lowered_names: Vec<String> = headers.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
            let lowered: Vec<(&str, &str)> = lowered_names
                .iter()
                .zip(&headers)
                .map(|(n, (_, v))| (n.as_str(), v.as_str()))
                .collect();
            prop_assert_eq!(header_md5(&method, version, &original), header_md5(&method, version, &lowered));
        }
    }
}
