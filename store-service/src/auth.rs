//! The credential `POST /checks` asks for: `authorization: Bearer <token>`, the token one of
//! those configured (`--tokens-file`, reloaded on SIGHUP, or `PUMPGUARD_STORE_TOKENS`). Several
//! tokens are accepted at once, so proxies roll from an old token to a new one while both work.
//!
//! A presented token is compared with every configured token, each comparison looking at every
//! byte: how long the check takes depends on lengths only, never on where a guess first differs.
//! Tokens are never logged, printed by `Debug` or quoted in an error.

use std::fmt;
use std::path::Path;

use pumpguard_core::remote::token_problem;

/// The accepted tokens (at least one).
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    tokens: Vec<Vec<u8>>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokens({} redacted)", self.tokens.len())
    }
}

/// What a request's credential is worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A bearer token that is one of the accepted tokens.
    Accepted,
    /// No `authorization` header, or one that is not a bearer token.
    Missing,
    /// A bearer token that matches none.
    Wrong,
}

impl Tokens {
    /// The tokens of a tokens file's text: one per line; blank lines and lines starting with
    /// `#` are skipped, spaces around a token are not part of it. Every bad line is an error
    /// naming `source` and the line; so is a file without a token (never silently open).
    pub fn from_lines(text: &[u8], source: &str) -> Result<Tokens, Vec<String>> {
        let mut tokens = Vec::new();
        let mut errors = Vec::new();
        for (i, line) in text.split(|b| *b == b'\n').enumerate() {
            let token = line.trim_ascii();
            if token.is_empty() || token.starts_with(b"#") {
                continue;
            }
            match token_problem(token) {
                None => tokens.push(token.to_vec()),
                Some(why) => errors.push(format!("{source}: line {}: token {why}", i + 1)),
            }
        }
        Tokens::checked(tokens, errors, source)
    }

    /// The tokens of an environment variable's value, separated by commas or newlines.
    pub fn from_list(value: &str, source: &str) -> Result<Tokens, Vec<String>> {
        let mut tokens = Vec::new();
        let mut errors = Vec::new();
        for (i, token) in value.split([',', '\n']).map(str::trim_ascii).filter(|t| !t.is_empty()).enumerate()
        {
            match token_problem(token.as_bytes()) {
                None => tokens.push(token.as_bytes().to_vec()),
                Some(why) => errors.push(format!("{source}: token {} {why}", i + 1)),
            }
        }
        Tokens::checked(tokens, errors, source)
    }

    /// Reads a tokens file ([`Tokens::from_lines`]).
    pub fn load(path: &Path) -> Result<Tokens, Vec<String>> {
        let name = path.display().to_string();
        let text = std::fs::read(path).map_err(|e| vec![format!("{name}: {e}")])?;
        Tokens::from_lines(&text, &name)
    }

    fn checked(
        mut tokens: Vec<Vec<u8>>,
        mut errors: Vec<String>,
        source: &str,
    ) -> Result<Tokens, Vec<String>> {
        if tokens.is_empty() && errors.is_empty() {
            errors.push(format!("{source}: no token (an empty list would leave /checks open)"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        tokens.sort();
        tokens.dedup();
        Ok(Tokens { tokens })
    }

    /// How many distinct tokens are accepted.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Judges a request's `authorization` header value (`None`: the request had none).
    pub fn judge(&self, authorization: Option<&[u8]>) -> Verdict {
        let Some(presented) = authorization.and_then(bearer) else {
            return Verdict::Missing;
        };
        // `|`, not `||`: every token is compared, whichever matches.
        let mut matched = false;
        for token in &self.tokens {
            matched |= same_bytes(token, presented);
        }
        if matched {
            Verdict::Accepted
        } else {
            Verdict::Wrong
        }
    }
}

/// The token of a `Bearer` credential (scheme in any case, RFC 7235), or `None` for another
/// scheme or an empty token.
pub fn bearer(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || !rest.starts_with(b" ") {
        return None;
    }
    let token = rest.trim_ascii_start();
    (!token.is_empty()).then_some(token)
}

/// Whether `a` and `b` hold the same bytes, in time that depends on their lengths only: every
/// byte of the longer one is looked at, whatever differs first.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let mut differ = 0u8;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        differ |= x ^ y;
    }
    // black_box: the compiler may not turn the loop into one that stops at the first difference.
    (std::hint::black_box(differ) == 0) & (a.len() == b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "0123456789abcdef0123456789abcdef";
    const NEW: &str = "fedcba9876543210fedcba9876543210";

    fn tokens(text: &str) -> Tokens {
        Tokens::from_lines(text.as_bytes(), "tokens").unwrap()
    }

    #[test]
    fn a_file_holds_a_token_a_line_with_comments_and_blank_lines() {
        let both = tokens(&format!("# rotation: old, then new\n\n  {OLD}  \r\n{NEW}\n{OLD}\n"));
        assert_eq!(both.len(), 2, "duplicates count once");
        assert_eq!(both.judge(Some(format!("Bearer {OLD}").as_bytes())), Verdict::Accepted);
        assert_eq!(both.judge(Some(format!("bearer  {NEW}").as_bytes())), Verdict::Accepted);
        assert_eq!(both.judge(Some(format!("Bearer {NEW}x").as_bytes())), Verdict::Wrong);
        assert_eq!(both.judge(Some(format!("Bearer {}", &NEW[1..]).as_bytes())), Verdict::Wrong);
        assert_eq!(both.judge(Some(format!("Basic {OLD}").as_bytes())), Verdict::Missing);
        assert_eq!(both.judge(Some(OLD.as_bytes())), Verdict::Missing);
        assert_eq!(both.judge(Some(b"Bearer ")), Verdict::Missing);
        assert_eq!(both.judge(None), Verdict::Missing);
        assert_eq!(format!("{both:?}"), "Tokens(2 redacted)", "never printed");
    }

    #[test]
    fn bad_lines_are_named_and_an_empty_file_is_refused() {
        let errors =
            Tokens::from_lines(format!("{OLD}\nshort\n{OLD} {NEW}\n\u{7}{NEW}\n").as_bytes(), "/etc/t")
                .err()
                .unwrap_or_default();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("/etc/t: line 2: token is shorter than 16 bytes"), "{errors:?}");
        assert!(errors[1].starts_with("/etc/t: line 3: token holds whitespace"), "{errors:?}");
        assert!(errors[2].starts_with("/etc/t: line 4: "), "{errors:?}");
        assert!(errors.iter().all(|e| !e.contains(OLD) && !e.contains(NEW)), "tokens never quoted");
        for empty in ["", "\n\n", "# only a comment\n"] {
            let errors = Tokens::from_lines(empty.as_bytes(), "/etc/t").err().unwrap_or_default();
            assert!(errors.len() == 1 && errors[0].contains("no token"), "{empty:?}: {errors:?}");
        }
    }

    #[test]
    fn an_environment_list_takes_commas_or_newlines() {
        let list = Tokens::from_list(&format!(" {OLD},{NEW}\n{OLD},"), "PUMPGUARD_STORE_TOKENS").unwrap();
        assert_eq!(list.len(), 2);
        let errors =
            Tokens::from_list(&format!("{OLD},tiny"), "PUMPGUARD_STORE_TOKENS").err().unwrap_or_default();
        assert_eq!(errors, vec!["PUMPGUARD_STORE_TOKENS: token 2 is shorter than 16 bytes".to_owned()]);
        assert!(Tokens::from_list(" , ", "PUMPGUARD_STORE_TOKENS").is_err());
    }

    #[test]
    fn the_comparison_looks_at_every_byte() {
        assert!(same_bytes(OLD.as_bytes(), OLD.as_bytes()));
        assert!(same_bytes(b"", b""));
        assert!(!same_bytes(OLD.as_bytes(), NEW.as_bytes()));
        assert!(!same_bytes(b"abc", b"abc\0"), "a zero byte past the end is still a difference");
        assert!(!same_bytes(b"abc\0", b"abc"));
        assert!(!same_bytes(b"abd", b"abc"));
        assert!(!same_bytes(b"", b"a"));
    }
}
