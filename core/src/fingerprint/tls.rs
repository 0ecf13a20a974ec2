//! JA3 and JA4 TLS client fingerprints, as set in a header by the proxy that terminated TLS.
//!
//! pumpguard never sees the ClientHello, so it only validates what the proxy reports. The value
//! arrives in a header a client could also try to send; anything not exactly of the documented
//! shape is rejected so it can never become a counter or deny-list key. Surrounding spaces and
//! tabs are ignored, and hex digits are lower-cased so one client always gives one key.

use super::{ascii_fingerprint_impls, trim_blanks, AsciiArray};

/// A JA3 fingerprint: MD5 of the ClientHello fields, 32 lower-case hex chars.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ja3(AsciiArray<32>);

ascii_fingerprint_impls!(Ja3);

/// A JA4 fingerprint (FoxIO, BSD-3-Clause), e.g. `t13d1516h2_8daaf6152771_b186095e22b6`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ja4(AsciiArray<36>);

ascii_fingerprint_impls!(Ja4);

/// Accepts exactly 32 hex digits (either case) and lower-cases them.
pub fn parse_ja3(s: &str) -> Option<Ja3> {
    let mut text: [u8; 32] = trim_blanks(s).as_bytes().try_into().ok()?;
    if !text.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    text.make_ascii_lowercase();
    Some(Ja3(AsciiArray(text)))
}

/// TLS versions JA4 section a can name; `00` is FoxIO's "unknown".
const JA4_VERSIONS: [&[u8; 2]; 10] = [b"13", b"12", b"11", b"10", b"s3", b"s2", b"d1", b"d2", b"d3", b"00"];

/// Accepts the JA4 grammar from FoxIO's spec and nothing else:
///
/// ```text
/// [tqd] VERSION [di] DIGIT{2} DIGIT{2} ALNUM{2} "_" HEX{12} "_" HEX{12}
/// VERSION = 13 | 12 | 11 | 10 | s3 | s2 | d1 | d2 | d3 | 00
/// ```
///
/// (protocol TCP/QUIC/DTLS, TLS version, SNI domain/IP, cipher count, extension count, first and
/// last ALPN chars, then the truncated cipher and extension hashes). Section a is kept as given:
/// its ALPN chars are case-significant. The hex sections are lower-cased.
pub fn parse_ja4(s: &str) -> Option<Ja4> {
    let mut text: [u8; 36] = trim_blanks(s).as_bytes().try_into().ok()?;
    let (&[protocol, version_0, version_1, sni], rest) = text.split_first_chunk()?;
    // Cipher count, then extension count.
    let (counts, rest) = rest.split_first_chunk::<4>()?;
    let (&[alpn_first, alpn_last, separator], hashes) = rest.split_first_chunk()?;
    let section_a_ok = matches!(protocol, b't' | b'q' | b'd')
        && JA4_VERSIONS.contains(&&[version_0, version_1])
        && matches!(sni, b'd' | b'i')
        && counts.iter().all(u8::is_ascii_digit)
        && alpn_first.is_ascii_alphanumeric()
        && alpn_last.is_ascii_alphanumeric()
        && separator == b'_';
    // `hashes` is HEX{12} "_" HEX{12}.
    let hashes_ok =
        hashes.iter().enumerate().all(
            |(position, byte)| {
                if position == 12 {
                    *byte == b'_'
                } else {
                    byte.is_ascii_hexdigit()
                }
            },
        );
    if !(section_a_ok && hashes_ok) {
        return None;
    }
    for byte in text.iter_mut().skip(11) {
        byte.make_ascii_lowercase();
    }
    Some(Ja4(AsciiArray(text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ja3_accepts_hex_and_lowercases() {
        let ja3 = parse_ja3("E7D705A3286E19EA42F587B344EE6865").unwrap();
        assert_eq!(ja3.as_str(), "e7d705a3286e19ea42f587b344ee6865");
        assert_eq!(parse_ja3(" e7d705a3286e19ea42f587b344ee6865\t").unwrap(), ja3);
        assert_eq!(ja3.to_string(), ja3.as_str());
        assert_eq!(format!("{ja3:?}"), "Ja3(\"e7d705a3286e19ea42f587b344ee6865\")");
    }

    #[test]
    fn ja3_rejects_everything_else() {
        for bad in [
            "",
            "e7d705a3286e19ea42f587b344ee686",   // 31
            "e7d705a3286e19ea42f587b344ee68650", // 33
            "g7d705a3286e19ea42f587b344ee6865",
            "e7d705a3286e19ea42f587b344ee686\n",
            "e7d705a3-286e19ea42f587b344ee686",
            "0x7d705a3286e19ea42f587b344ee686",
            // A raw JA3 string, not its hash.
            "771,4865-4866-4867,0-23-65281,29-23-24,0",
            // Same byte length, non-ASCII.
            "é7d705a3286e19ea42f587b344ee68",
        ] {
            assert_eq!(parse_ja3(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ja4_accepts_spec_shapes() {
        for good in [
            "t13d1516h2_8daaf6152771_b186095e22b6", // the spec's example
            "t13d1516h2_8daaf6152771_e5627efa2ab1",
            "q13d0310h3_55b375c5d22e_cd85d2d88918",
            "t12i0407h1_000000000000_000000000000",
            "d12i1010h2_0123456789ab_cdef01234567",
            "t10i990000_8daaf6152771_b186095e22b6",
            "ts3i0100dt_8daaf6152771_b186095e22b6",
            "t00d0000ab_8daaf6152771_b186095e22b6",
            "td3d1516H2_8daaf6152771_b186095e22b6",
        ] {
            let ja4 = parse_ja4(good).unwrap();
            assert_eq!(ja4.as_str(), good);
        }
        let upper_hashes = parse_ja4("\tt13d1516h2_8DAAF6152771_B186095E22B6 ").unwrap();
        assert_eq!(upper_hashes.as_str(), "t13d1516h2_8daaf6152771_b186095e22b6");
        assert_eq!(format!("{upper_hashes:?}"), "Ja4(\"t13d1516h2_8daaf6152771_b186095e22b6\")");
    }

    #[test]
    fn ja4_rejects_everything_else() {
        for bad in [
            "",
            "t13d1516h2_8daaf6152771_b186095e22b",      // short
            "t13d1516h2_8daaf6152771_b186095e22b66",    // long
            "x13d1516h2_8daaf6152771_b186095e22b6",     // protocol
            "T13d1516h2_8daaf6152771_b186095e22b6",     // protocol case
            "t14d1516h2_8daaf6152771_b186095e22b6",     // version
            "t1xd1516h2_8daaf6152771_b186095e22b6",     // version
            "t13x1516h2_8daaf6152771_b186095e22b6",     // sni
            "t13d1a16h2_8daaf6152771_b186095e22b6",     // cipher count
            "t13d151xh2_8daaf6152771_b186095e22b6",     // extension count
            "t13d1516h-_8daaf6152771_b186095e22b6",     // alpn
            "t13d1516_2_8daaf6152771_b186095e22b6",     // alpn
            "t13d1516h2-8daaf6152771_b186095e22b6",     // separator
            "t13d1516h2_8daaf6152771-b186095e22b6",     // separator
            "t13d1516h2_8daaf615277g_b186095e22b6",     // hex
            "t13d1516h2_8daaf6152771_b186095e22bz",     // hex
            "t13d1516h2_8daaf6152771_b186095e22b\n",    // control char
            "t13d1516h2_8daaf6152771_b186095e22\u{e9}", // same byte length, non-ASCII
            "t13d1516h2_8daaf615277_1b186095e22b6",     // separator moved
            // JA4_r (raw) and JA4_o are other formats.
            "t13d1516h2_002f,0035,009c_0005,000a,000b",
        ] {
            assert_eq!(parse_ja4(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic_and_are_idempotent(s in any::<String>()) {
            if let Some(ja3) = parse_ja3(&s) {
                prop_assert_eq!(parse_ja3(ja3.as_str()), Some(ja3));
            }
            if let Some(ja4) = parse_ja4(&s) {
                prop_assert_eq!(parse_ja4(ja4.as_str()), Some(ja4));
            }
        }

        #[test]
        fn ja4_accepts_every_valid_shape(
            s in "[tqd](13|12|11|10|s3|s2|d1|d2|d3|00)[di][0-9]{4}[a-zA-Z0-9]{2}_[0-9a-fA-F]{12}_[0-9a-fA-F]{12}"
        ) {
            let ja4 = parse_ja4(&s);
            prop_assert!(ja4.is_some());
            let (section_a, hashes) = s.split_at(11);
            let expected = format!("{section_a}{}", hashes.to_ascii_lowercase());
            prop_assert_eq!(ja4.map(|j| j.as_str().to_owned()), Some(expected));
        }

        #[test]
        fn ja3_accepts_every_valid_shape(s in "[0-9a-fA-F]{32}") {
            prop_assert_eq!(parse_ja3(&s).map(|j| j.as_str().to_owned()), Some(s.to_ascii_lowercase()));
        }
    }
}
