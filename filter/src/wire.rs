//! The proxy-wasm ABI's byte formats (header maps, property paths), decoded without trusting
//! the host: a malformed or truncated buffer is `None`, never a panic, and bytes that are not
//! UTF-8 (HTTP/1 allows obs-text in header values) are kept as bytes for the caller to decide.

/// Decodes a serialized header map: `count: u32le`, then `count` × (`name_len: u32le`,
/// `value_len: u32le`), then each name and value followed by a NUL byte.
pub fn decode_pairs(bytes: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let count = usize::try_from(read_u32(bytes, 0)?).ok()?;
    let sizes_end = count.checked_mul(8)?.checked_add(4)?;
    if sizes_end > bytes.len() {
        return None;
    }
    let mut pairs = Vec::with_capacity(count);
    let mut at = sizes_end;
    for i in 0..count {
        let name_len = usize::try_from(read_u32(bytes, 4 + i * 8)?).ok()?;
        let value_len = usize::try_from(read_u32(bytes, 8 + i * 8)?).ok()?;
        let name = bytes.get(at..at.checked_add(name_len)?)?;
        at = at.checked_add(name_len)?.checked_add(1)?;
        let value = bytes.get(at..at.checked_add(value_len)?)?;
        at = at.checked_add(value_len)?.checked_add(1)?;
        pairs.push((name, value));
    }
    if at > bytes.len() {
        return None;
    }
    Some(pairs)
}

/// Serializes a header map in the format `decode_pairs` reads (names and values as text or bytes).
pub fn encode_pairs<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> Vec<u8> {
    let size = 4 + pairs.iter().map(|(n, v)| n.as_ref().len() + v.as_ref().len() + 10).sum::<usize>();
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(&len_u32(pairs.len()).to_le_bytes());
    for (name, value) in pairs {
        bytes.extend_from_slice(&len_u32(name.as_ref().len()).to_le_bytes());
        bytes.extend_from_slice(&len_u32(value.as_ref().len()).to_le_bytes());
    }
    for (name, value) in pairs {
        bytes.extend_from_slice(name.as_ref());
        bytes.push(0);
        bytes.extend_from_slice(value.as_ref());
        bytes.push(0);
    }
    bytes
}

/// Serializes a property path: its parts joined by NUL bytes.
pub fn encode_path(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

/// Text for the core: valid UTF-8 as is, anything else with U+FFFD in place of bad bytes.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(word))
}

/// Lengths the host is handed: anything in wasm32 memory fits a u32.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let pairs = [(":path", "/otp"), ("x-empty", ""), ("content-type", "application/json")];
        let bytes = encode_pairs(&pairs);
        let decoded = decode_pairs(&bytes);
        let expected: Vec<(&[u8], &[u8])> = pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
        assert_eq!(decoded, Some(expected));
        assert_eq!(decode_pairs(&encode_pairs::<&str, &str>(&[])), Some(vec![]));
    }

    #[test]
    fn non_utf8_values_survive_decoding() {
        let mut bytes = encode_pairs(&[("x-name", "caf?")]);
        let at = bytes.len() - 2;
        bytes[at] = 0xe9;
        let decoded = decode_pairs(&bytes).unwrap_or_default();
        assert_eq!(decoded, vec![(&b"x-name"[..], &b"caf\xe9"[..])]);
        assert_eq!(text(decoded[0].1), "caf\u{fffd}");
    }

    #[test]
    fn every_truncation_and_corruption_is_refused_not_panicking() {
        let bytes = encode_pairs(&[("a", "1"), ("bb", "22")]);
        for cut in 0..bytes.len() {
            assert_eq!(decode_pairs(&bytes[..cut]), None, "cut at {cut}");
        }
        // Absurd counts and lengths, including ones that overflow on 32-bit.
        for word in [u32::MAX, u32::MAX / 8, 1 << 30] {
            for at in [0, 4, 8] {
                let mut bad = bytes.clone();
                bad[at..at + 4].copy_from_slice(&word.to_le_bytes());
                assert_eq!(decode_pairs(&bad), None);
            }
        }
    }

    #[test]
    fn property_path() {
        assert_eq!(encode_path(&["source", "address"]), b"source\0address");
        assert_eq!(encode_path(&[]), b"");
    }
}
