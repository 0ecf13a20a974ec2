//! Unicode decimal digits (general category Nd), which libphonenumber folds to ASCII.

/// First code point ("zero") of every run of ten Nd digits, sorted. Unicode 16.0.
const DECIMAL_ZEROS: [u32; 75] = [
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6, 0xE50,
    0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40,
    0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x10D40,
    0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x116D0, 0x116DA,
    0x11730, 0x118E0, 0x11950, 0x11BF0, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16130, 0x16A60, 0x16AC0,
    0x16B50, 0x16D70, 0x1CCF0, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0,
    0x1E5F1, 0x1E950,
];

/// The ASCII digit (`b'0'..=b'9'`) for a Unicode decimal digit.
pub(crate) fn ascii_digit(c: char) -> Option<u8> {
    let code = u32::from(c);
    if code < 0x80 {
        return c.is_ascii_digit().then_some(code as u8);
    }
    let zero = DECIMAL_ZEROS.get(DECIMAL_ZEROS.partition_point(|&z| z <= code).checked_sub(1)?)?;
    let value = code - zero;
    (value < 10).then(|| b'0' + value as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_is_ten_numeric_chars() {
        for zero in DECIMAL_ZEROS {
            for offset in 0..10 {
                let c = char::from_u32(zero + offset).expect("valid char");
                assert!(c.is_numeric(), "{c:?}");
                assert_eq!(ascii_digit(c), Some(b'0' + offset as u8));
            }
        }
        assert!(DECIMAL_ZEROS.windows(2).all(|w| w[0] + 10 <= w[1]));
    }

    #[test]
    fn folds_common_scripts() {
        assert_eq!(ascii_digit('7'), Some(b'7'));
        assert_eq!(ascii_digit('\u{FF17}'), Some(b'7')); // full-width
        assert_eq!(ascii_digit('\u{0667}'), Some(b'7')); // Arabic-Indic
        assert_eq!(ascii_digit('\u{06F7}'), Some(b'7')); // Extended Arabic-Indic (Persian)
        assert_eq!(ascii_digit('\u{096D}'), Some(b'7')); // Devanagari
        assert_eq!(ascii_digit('\u{00B2}'), None); // superscript two is No, not Nd
        assert_eq!(ascii_digit('a'), None);
    }
}
