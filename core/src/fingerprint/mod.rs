//! Client fingerprints: JA4H and our own header hash computed from the request, plus JA3/JA4
//! TLS fingerprints handed over by the proxy that terminated TLS.
//!
//! Every fingerprint is a small fixed-length ASCII value stored inline (no heap), so it can be
//! used as a counter or deny-list key. Computing one never panics, whatever the input.
//!
//! | kind | source | function |
//! | --- | --- | --- |
//! | [`FingerprintKind::Ja4h`] | method, version, headers | [`ja4h()`] |
//! | [`FingerprintKind::HeaderMd5`] | method, version, headers | [`header_md5`] |
//! | [`FingerprintKind::HeaderSet`] | method, version, header names | [`header_set`] |
//! | [`FingerprintKind::Ja3`] | trusted proxy-set value | [`parse_ja3`] |
//! | [`FingerprintKind::Ja4`] | trusted proxy-set value | [`parse_ja4`] |
//!
//! # Licences
//!
//! JA4H (and the rest of JA4+ except JA4 itself) is under the FoxIO License 1.1: free for
//! non-commercial and internal use, and FoxIO states the methods are patent-pending. pumpguard
//! computes JA4H only when the policy opts in by naming it. [`header_md5`] is our own
//! definition and carries no such terms. JA3 and JA4 are only validated here, never computed.

mod header_hash;
mod ja4h;
mod tls;

pub use header_hash::{
    header_md5, header_set, HeaderHash, HEADER_MD5_EXCLUDED_NAMES, HEADER_MD5_EXCLUDED_PREFIXES,
};
pub use ja4h::{ja4h, Ja4h};
pub use tls::{parse_ja3, parse_ja4, Ja3, Ja4};

/// Which fingerprint a policy rule keys on.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FingerprintKind {
    /// JA3 TLS fingerprint, handed over by the proxy that terminated TLS.
    Ja3,
    /// JA4 TLS fingerprint, handed over by the proxy that terminated TLS.
    Ja4,
    /// FoxIO's JA4H HTTP fingerprint; computed only when the policy opts in (FoxIO License 1.1).
    Ja4h,
    /// pumpguard's own licence-free header fingerprint ([`header_md5`]).
    HeaderMd5,
    /// The same names as [`header_md5`], order and repeats ignored, no values ([`header_set`]).
    HeaderSet,
}

impl FingerprintKind {
    /// The policy spelling (`ja3`, `ja4`, `ja4h`, `header_md5`).
    pub fn as_str(self) -> &'static str {
        match self {
            FingerprintKind::Ja3 => "ja3",
            FingerprintKind::Ja4 => "ja4",
            FingerprintKind::Ja4h => "ja4h",
            FingerprintKind::HeaderMd5 => "header_md5",
            FingerprintKind::HeaderSet => "header_set",
        }
    }
}

impl core::fmt::Display for FingerprintKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HTTP version of the request as the client spoke it to the first proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpVersion {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
    /// HTTP/2.
    Http2,
    /// HTTP/3.
    Http3,
}

impl HttpVersion {
    /// Parses the spellings hosts report: `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`, `HTTP/2.0`, `HTTP/3`,
    /// `HTTP/3.0` (Envoy, Cloudflare `cf.httpProtocol`) and the ALPN ids `http/1.0`,
    /// `http/1.1`, `h2`, `h2c`, `h3`. ASCII case and surrounding blanks are ignored.
    pub fn from_protocol(s: &str) -> Option<HttpVersion> {
        const SPELLINGS: [(&str, HttpVersion); 11] = [
            ("HTTP/1.0", HttpVersion::Http10),
            ("HTTP/1.1", HttpVersion::Http11),
            ("HTTP/2", HttpVersion::Http2),
            ("HTTP/2.0", HttpVersion::Http2),
            ("h2", HttpVersion::Http2),
            ("h2c", HttpVersion::Http2),
            ("HTTP/3", HttpVersion::Http3),
            ("HTTP/3.0", HttpVersion::Http3),
            ("h3", HttpVersion::Http3),
            // HTTP/1.0 clients never negotiate ALPN, but accept the id for symmetry.
            ("http/1.0", HttpVersion::Http10),
            ("http/1.1", HttpVersion::Http11),
        ];
        let s = trim_blanks(s);
        SPELLINGS.iter().find(|(spelling, _)| spelling.eq_ignore_ascii_case(s)).map(|&(_, version)| version)
    }

    /// Canonical spelling: `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`, `HTTP/3`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http10 => "HTTP/1.0",
            HttpVersion::Http11 => "HTTP/1.1",
            HttpVersion::Http2 => "HTTP/2",
            HttpVersion::Http3 => "HTTP/3",
        }
    }
}

impl core::fmt::Display for HttpVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Strips HTTP optional whitespace (space, tab) from both ends; header values carry none.
fn trim_blanks(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Where hashed bytes go. Hashers in production; a plain byte buffer in tests, so the exact
/// pre-image can be checked against the documented definitions.
trait ByteSink {
    fn put(&mut self, bytes: &[u8]);
}

impl ByteSink for sha2::Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        sha2::Digest::update(self, bytes);
    }
}

impl ByteSink for md5::Md5 {
    fn put(&mut self, bytes: &[u8]) {
        md5::Digest::update(self, bytes);
    }
}

#[cfg(test)]
impl ByteSink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Lower-case hex of `bytes` into `out`, stopping at whichever runs out first.
fn write_lower_hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let nibbles = bytes.iter().flat_map(|byte| [byte >> 4, byte & 0x0f]);
    for (slot, nibble) in out.iter_mut().zip(nibbles) {
        // A nibble is < 16, so `get` always finds a digit; '0' only satisfies the type.
        *slot = DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0');
    }
}

/// A fixed-length ASCII fingerprint stored inline.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct AsciiArray<const N: usize>([u8; N]);

impl<const N: usize> AsciiArray<N> {
    fn as_str(&self) -> &str {
        // Constructors only ever store ASCII, so this never falls back to "".
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// `as_str`, `Display`, `Debug` and `AsRef<str>` for a newtype around [`AsciiArray`].
macro_rules! ascii_fingerprint_impls {
    ($name:ident) => {
        impl $name {
            /// The fingerprint as text (ASCII, fixed length).
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.as_str()).finish()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    };
}
use ascii_fingerprint_impls;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_kind_serde_names_match_as_str() {
        for kind in
            [FingerprintKind::Ja3, FingerprintKind::Ja4, FingerprintKind::Ja4h, FingerprintKind::HeaderMd5]
        {
            let quoted = format!("\"{}\"", kind.as_str());
            assert_eq!(serde_json::to_string(&kind).unwrap(), quoted);
            assert_eq!(serde_json::from_str::<FingerprintKind>(&quoted).unwrap(), kind);
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert!(serde_json::from_str::<FingerprintKind>("\"HeaderMd5\"").is_err());
    }

    #[test]
    fn http_version_from_protocol() {
        use HttpVersion::*;
        let cases = [
            ("HTTP/1.0", Some(Http10)),
            ("HTTP/1.1", Some(Http11)),
            ("http/1.1", Some(Http11)),
            ("HTTP/2", Some(Http2)),
            ("HTTP/2.0", Some(Http2)),
            ("h2", Some(Http2)),
            ("H2", Some(Http2)),
            ("h2c", Some(Http2)),
            ("HTTP/3", Some(Http3)),
            ("HTTP/3.0", Some(Http3)),
            ("h3", Some(Http3)),
            (" HTTP/1.1\t", Some(Http11)),
            ("", None),
            ("HTTP/0.9", None),
            ("HTTP/1", None),
            ("HTTP/1.1x", None),
            ("h4", None),
            ("spdy/3", None),
        ];
        for (input, expected) in cases {
            assert_eq!(HttpVersion::from_protocol(input), expected, "{input:?}");
        }
        for version in [Http10, Http11, Http2, Http3] {
            assert_eq!(HttpVersion::from_protocol(version.as_str()), Some(version));
            assert_eq!(version.to_string(), version.as_str());
        }
    }

    #[test]
    fn lower_hex() {
        let mut out = [0u8; 6];
        write_lower_hex(&[0x00, 0xab, 0x7f, 0xff], &mut out);
        assert_eq!(&out, b"00ab7f");
    }
}
