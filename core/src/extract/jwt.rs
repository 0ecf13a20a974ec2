//! The claims of a JSON Web Token a request names its user by (Cognito's access token, Firebase's
//! ID token), read without verifying the signature: the service the request goes to verifies it
//! and refuses the call otherwise, so a forged token sends nothing, whatever it claims.

/// The first of `names` the token's payload holds as a string; `None` when the token is not a
/// JWT or holds none of them.
pub(crate) fn claim(token: &str, names: &[&str]) -> Option<String> {
    let mut segments = token.trim().split('.');
    let (_header, payload) = (segments.next()?, segments.next()?);
    let payload: serde_json::Value = serde_json::from_slice(&base64url(payload)?).ok()?;
    names.iter().find_map(|name| payload.get(*name)?.as_str().map(str::to_owned))
}

/// Decodes unpadded base64url (RFC 4648 §5), as JWT segments are written.
fn base64url(text: &str) -> Option<Vec<u8>> {
    let sextet = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        }))
    };
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut bits = 0u32;
        for &c in chunk {
            bits = bits << 6 | sextet(c)?;
        }
        let bytes = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        bits <<= 6 * (4 - chunk.len() as u32);
        out.extend_from_slice(bits.to_be_bytes().get(1..1 + bytes)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{base64url, claim};

    #[test]
    fn decodes_base64url_of_every_length() {
        assert_eq!(base64url("").unwrap(), b"");
        assert_eq!(base64url("YQ").unwrap(), b"a");
        assert_eq!(base64url("YWI").unwrap(), b"ab");
        assert_eq!(base64url("YWJj").unwrap(), b"abc");
        assert_eq!(base64url("-_8").unwrap(), [0xfb, 0xff]);
        assert!(base64url("Y").is_none());
        assert!(base64url("Y+/a").is_none());
    }

    #[test]
    fn reads_a_claim_of_the_payload() {
        // {"sub":"0000","username":"alice"} and {"sub":"0000"}
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIwMDAwIiwidXNlcm5hbWUiOiJhbGljZSJ9.c2ln";
        assert_eq!(claim(token, &["username", "sub"]).as_deref(), Some("alice"));
        assert_eq!(claim("h.eyJzdWIiOiIwMDAwIn0.s", &["username", "sub"]).as_deref(), Some("0000"));
        assert_eq!(claim("h.eyJzdWIiOiIwMDAwIn0.s", &["username"]), None);
        for not_a_jwt in ["", "opaque", "h.%%%.s", "h.bm90IGpzb24.s"] {
            assert_eq!(claim(not_a_jwt, &["sub"]), None, "{not_a_jwt}");
        }
    }
}
