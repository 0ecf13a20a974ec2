//! Case-insensitive names: the one folding every source (JSON keys, form fields, query
//! parameters, name/value pairs) is compared under.
//!
//! Why case-insensitive: some origin stacks match field names that way (Go's `encoding/json`,
//! ASP.NET model binding), so an exact-match guard could be walked around with `"PHONE"`. The
//! price is that two spellings of one name in the same object or form count as a duplicate.

/// Longest configured name, in bytes after folding.
pub(crate) const MAX_NAME_LEN: usize = 64;

/// Folding shrinks a name by at most 3 bytes to 1, so a request name this long can still fold
/// down to a configured one; anything longer can match nothing.
const BUF_LEN: usize = MAX_NAME_LEN * 3;

/// The folded bytes of `bytes`: ASCII letters lower-cased, and the two non-ASCII letters whose
/// simple case folding is ASCII replaced by it (U+212A KELVIN SIGN → `k`, U+017F LONG S → `s`,
/// as Go's `EqualFold` and .NET's `OrdinalIgnoreCase` treat them). Other text is kept as is.
pub(crate) struct Folded<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Folded<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Folded { bytes, at: 0 }
    }
}

impl Iterator for Folded<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        let (folded, used) = match (b, self.bytes.get(self.at + 1), self.bytes.get(self.at + 2)) {
            (0xE2, Some(0x84), Some(0xAA)) => (b'k', 3),
            (0xC5, Some(0xBF), _) => (b's', 2),
            _ => (b.to_ascii_lowercase(), 1),
        };
        self.at += used;
        Some(folded)
    }
}

/// Whether request bytes (unfolded) fold to a configured name (folded).
pub(crate) fn eq_folded(candidate: &[u8], folded_name: &[u8]) -> bool {
    if candidate.len() < folded_name.len() {
        return false; // folding never lengthens
    }
    // ASCII bytes fold one to one, so walk them in step and stop at the first difference;
    // only from a non-ASCII byte on can folding shift the two apart.
    let mut at = 0;
    loop {
        match (candidate.get(at), folded_name.get(at)) {
            (None, None) => return true,
            (Some(&c), name) if c.is_ascii() => {
                if name != Some(&c.to_ascii_lowercase()) {
                    return false;
                }
                at += 1;
            }
            (Some(_), _) => {
                let mut folded = Folded::new(candidate.get(at..).unwrap_or_default());
                let rest = folded_name.get(at..).unwrap_or_default();
                return rest.iter().all(|&n| folded.next() == Some(n)) && folded.next().is_none();
            }
            (None, Some(_)) => return false,
        }
    }
}

/// Whether request bytes (unfolded) fold to a configured name (folded) once every `_` is left
/// out of both: a protobuf JSON parser (Google's APIs) reads a field by its lowerCamelCase name
/// and by its proto name alike (`phoneNumber`, `phone_number`). A looser match than the
/// parser's own (`phone_Number` too), which only makes the guard read more keys, never fewer.
pub(crate) fn eq_folded_without_underscores(candidate: &[u8], folded_name: &[u8]) -> bool {
    let mut request = Folded::new(candidate).filter(|&b| b != b'_');
    let mut configured = folded_name.iter().copied().filter(|&b| b != b'_');
    loop {
        match (request.next(), configured.next()) {
            (None, None) => return true,
            (a, b) if a == b => {}
            _ => return false,
        }
    }
}

/// Folds a configured name (which the caller has checked is non-empty and short enough).
pub(crate) fn fold_owned(name: &str) -> Box<[u8]> {
    Folded::new(name.as_bytes()).collect()
}

/// A request-side name decoded onto the stack (when it has escapes), so matching allocates
/// nothing.
pub(crate) struct NameBuf {
    bytes: [u8; BUF_LEN],
    len: usize,
    /// The decoded name did not fit, so it matches no configured name.
    overflow: bool,
}

impl NameBuf {
    pub(crate) fn new() -> Self {
        NameBuf { bytes: [0; BUF_LEN], len: 0, overflow: false }
    }

    pub(crate) fn push(&mut self, byte: u8) {
        match self.bytes.get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len += 1;
            }
            None => self.overflow = true,
        }
    }

    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(b);
        }
    }

    pub(crate) fn push_char(&mut self, c: char) {
        let mut utf8 = [0u8; 4];
        self.extend(c.encode_utf8(&mut utf8).as_bytes());
    }

    /// The decoded name, or `None` when it was too long to match anything.
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        if self.overflow {
            return None;
        }
        self.bytes.get(..self.len)
    }
}

/// Configured names, folded; small, so a linear scan beats hashing.
#[derive(Clone, Debug, Default)]
pub(crate) struct NameSet {
    names: Vec<Box<[u8]>>,
}

impl NameSet {
    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Adds a folded name, returning its index (the existing one when it is already present).
    pub(crate) fn insert(&mut self, folded: Box<[u8]>) -> usize {
        if let Some(i) = self.names.iter().position(|n| *n == folded) {
            return i;
        }
        self.names.push(folded);
        self.names.len() - 1
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.names.iter().map(|n| &**n)
    }

    /// The index of the configured name that request bytes (unfolded) fold to.
    pub(crate) fn find(&self, candidate: &[u8]) -> Option<usize> {
        self.names.iter().position(|n| eq_folded(candidate, n))
    }
}

/// `phone[]`, `phone[0]` and `phone[a][b]` are the field `phone` to PHP, Rails and Express's
/// `qs`, which turn them into arrays that string coercion flattens back into the number.
pub(crate) fn strip_bracket_suffix(name: &[u8]) -> &[u8] {
    match name.iter().position(|&b| b == b'[') {
        Some(i) if i > 0 && name.last() == Some(&b']') => name.get(..i).unwrap_or(name),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_ascii_and_the_two_special_letters() {
        assert_eq!(&*fold_owned("PhOnE"), b"phone");
        assert_eq!(&*fold_owned("\u{212A}ey"), b"key");
        assert_eq!(&*fold_owned("ms\u{17F}isdn"), b"mssisdn");
        assert_eq!(&*fold_owned("ÜnÏcode"), "Ünïcode".replace('ï', "Ï").to_ascii_lowercase().as_bytes());
        assert!(eq_folded("PHONE".as_bytes(), b"phone"));
        assert!(eq_folded("\u{212A}EY".as_bytes(), b"key"));
        assert!(!eq_folded(b"phones", b"phone"));
        assert!(eq_folded_without_underscores(b"phone_number", b"phonenumber"));
        assert!(eq_folded_without_underscores(b"Phone_Enrollment_Info", b"phoneenrollmentinfo"));
        assert!(eq_folded_without_underscores(b"phoneNumber", b"phone_number"));
        assert!(!eq_folded_without_underscores(b"phone_numbers", b"phonenumber"));
        assert!(!eq_folded_without_underscores(b"phone", b"phonenumber"));
        assert!(!eq_folded(b"phon", b"phone"));
        assert!(eq_folded("\u{17F}m\u{17F}".as_bytes(), b"sms"));
        assert!(!eq_folded("\u{17F}m\u{17F}".as_bytes(), b"smt"));
        assert!(!eq_folded("\u{212A}\u{212A}".as_bytes(), b"kkk"));
        assert!(eq_folded("É".as_bytes(), "É".as_bytes()));
        assert!(eq_folded("Us\u{17F}er".as_bytes(), b"usser"));
        assert!(!eq_folded("Us\u{17F}".as_bytes(), b"usser"));
        assert!(!eq_folded(b"UserAttributes", b"username"));
        assert!(eq_folded(b"CF-Turnstile-Response", b"cf-turnstile-response"));
        assert!(!eq_folded(b"CF-Turnstile-Responsf", b"cf-turnstile-response"));
        assert!(!eq_folded(b"@[`{", b"`{@["));
    }

    #[test]
    fn overlong_names_match_nothing() {
        let mut buf = NameBuf::new();
        buf.extend(&[b'a'; BUF_LEN + 1]);
        assert!(buf.bytes().is_none());
    }

    #[test]
    fn bracket_suffixes() {
        assert_eq!(strip_bracket_suffix(b"phone[]"), b"phone");
        assert_eq!(strip_bracket_suffix(b"phone[0][x]"), b"phone");
        assert_eq!(strip_bracket_suffix(b"[]"), b"[]");
        assert_eq!(strip_bracket_suffix(b"phone[x"), b"phone[x");
        assert_eq!(strip_bracket_suffix(b"phone"), b"phone");
    }
}
