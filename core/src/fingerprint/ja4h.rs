//! JA4H, FoxIO's HTTP client fingerprint: `a_b_c_d`, e.g.
//! `ge11cr13enus_88d2d584d47f_0f2659b474bf_161698816dab`.
//!
//! Licence: JA4H is under the FoxIO License 1.1 (free for non-commercial and internal use; FoxIO
//! states the methods are patent-pending). pumpguard computes it only when the policy opts in.
//!
//! - `a` (12 chars): method (first 2 chars, lower-case), version (`10`/`11`/`20`/`30`), `c`/`n`
//!   for a Cookie header, `r`/`n` for a Referer header, the number of headers other than
//!   Cookie and Referer (2 digits, at most 99), then the primary Accept-Language (first entry,
//!   `-` removed, lower-case, first 4 chars, `0`-padded; `0000` without the header).
//! - `b`: first 12 hex chars of SHA-256 over the comma-joined header names (as given, case kept)
//!   in order, without Cookie and Referer.
//! - `c`: the same over the cookie names, sorted.
//! - `d`: the same over the cookies as sent (`name=value`, or `name` without `=`), in the same
//!   sorted order.
//!
//! An empty list gives `000000000000` rather than the hash of nothing.
//!
//! # Matching the FoxIO reference
//!
//! FoxIO computes JA4H from packet captures: header names in their original case and order. The
//! result here equals the reference only when the host hands over original-case headers in
//! original order. Most proxies lower-case HTTP/1 names (HTTP/2 and HTTP/3 names are always
//! lower-case on the wire), some reorder or merge them (a Cloudflare Worker's `Headers` sorts),
//! and some add their own (Envoy's `x-request-id`, `x-forwarded-proto`) before filters run, so
//! values seen through a proxy are consistent with each other but may differ from FoxIO's tools.
//!
//! Where FoxIO's two implementations disagree or leave a case open, this one picks:
//! - pseudo-headers (`:method`, ...) are skipped, as the Python tool does (the Rust tool counts
//!   and hashes them for HTTP/2);
//! - every Cookie header counts, each split at `;` with blanks trimmed and empty pieces dropped
//!   (HTTP/2 sends one cookie per header; Envoy joins them with `; `);
//! - the primary language ends at the first `,` or `;` (as in Python), so `en;q=0.9` gives `en00`;
//! - cookies with the same name are ordered by value (as in Rust; Python keeps arrival order);
//! - method and language characters other than ASCII letters and digits (and `*` in the
//!   language) become `0`, and a one-letter method is padded with `0`, so the value is always
//!   51 ASCII chars matching
//!   `^[a-z0-9]{2}(10|11|20|30)[cn][rn][0-9]{2}[a-z0-9*]{4}_[0-9a-f]{12}_[0-9a-f]{12}_[0-9a-f]{12}$`.

use sha2::{Digest, Sha256};

use super::{ascii_fingerprint_impls, trim_blanks, write_lower_hex, AsciiArray, ByteSink, HttpVersion};

const SECTION_A_LEN: usize = 12;
const HASH_LEN: usize = 12;
const JA4H_LEN: usize = SECTION_A_LEN + 3 * (1 + HASH_LEN);

/// A JA4H fingerprint: 51 ASCII chars, see the module docs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ja4h(AsciiArray<JA4H_LEN>);

ascii_fingerprint_impls!(Ja4h);

/// JA4H of a request. `headers` are `(name, value)` pairs in the order received; pseudo-headers
/// may be included and are skipped. Equals the FoxIO reference only for original-case headers in
/// original order (see the module docs).
pub fn ja4h(method: &str, version: HttpVersion, headers: &[(&str, &str)]) -> Ja4h {
    let mut header_names = CommaJoined::new(Sha256::new());
    let mut cookie_names = CommaJoined::new(Sha256::new());
    let mut cookie_pairs = CommaJoined::new(Sha256::new());
    let section_a =
        hash_sections(method, version, headers, &mut header_names, &mut cookie_names, &mut cookie_pairs);
    let [header_hash, cookie_name_hash, cookie_pair_hash] =
        [header_names, cookie_names, cookie_pairs].map(CommaJoined::finish_hash12);

    let mut text = [b'0'; JA4H_LEN];
    let parts = section_a
        .iter()
        .chain(b"_")
        .chain(&header_hash)
        .chain(b"_")
        .chain(&cookie_name_hash)
        .chain(b"_")
        .chain(&cookie_pair_hash);
    for (slot, &byte) in text.iter_mut().zip(parts) {
        *slot = byte;
    }
    Ja4h(AsciiArray(text))
}

/// Feeds the pre-images of sections b, c and d to the sinks and returns section a. Generic so
/// tests can capture the pre-images (FoxIO's `ja4h_r`) instead of hashing them.
fn hash_sections<S: ByteSink>(
    method: &str,
    version: HttpVersion,
    headers: &[(&str, &str)],
    header_names: &mut CommaJoined<S>,
    cookie_names: &mut CommaJoined<S>,
    cookie_pairs: &mut CommaJoined<S>,
) -> [u8; SECTION_A_LEN] {
    let mut has_cookie = false;
    let mut has_referer = false;
    let mut language = None;
    // Allocated only when a Cookie header is present: cookies must be sorted before hashing.
    let mut cookies: Vec<Cookie<'_>> = Vec::new();

    for &(name, value) in headers {
        if name.starts_with(':') {
            continue;
        }
        if name.eq_ignore_ascii_case("cookie") {
            has_cookie = true;
            cookies.extend(split_cookie_header(value));
        } else if name.eq_ignore_ascii_case("referer") {
            has_referer = true;
        } else {
            header_names.push(name.as_bytes());
            if language.is_none() && name.eq_ignore_ascii_case("accept-language") {
                language = Some(value);
            }
        }
    }

    cookies.sort_unstable_by(|x, y| (x.name, x.value, x.text).cmp(&(y.name, y.value, y.text)));
    for cookie in &cookies {
        cookie_names.push(cookie.name.as_bytes());
        cookie_pairs.push(cookie.text.as_bytes());
    }

    let [method_0, method_1] = method_code(method);
    let [version_0, version_1] = version_code(version);
    let [count_0, count_1] = two_digit_count(header_names.items);
    let [language_0, language_1, language_2, language_3] = language_code(language);
    [
        method_0,
        method_1,
        version_0,
        version_1,
        if has_cookie { b'c' } else { b'n' },
        if has_referer { b'r' } else { b'n' },
        count_0,
        count_1,
        language_0,
        language_1,
        language_2,
        language_3,
    ]
}

/// One cookie from a Cookie header, borrowed from the header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cookie<'a> {
    name: &'a str,
    /// `None` for a cookie written without `=`; sorts before any value.
    value: Option<&'a str>,
    /// The cookie as sent, blanks trimmed: what section d hashes.
    text: &'a str,
}

fn split_cookie_header(header_value: &str) -> impl Iterator<Item = Cookie<'_>> {
    header_value.split(';').map(trim_blanks).filter(|text| !text.is_empty()).map(|text| {
        match text.split_once('=') {
            Some((name, value)) => Cookie { name: trim_blanks(name), value: Some(value), text },
            None => Cookie { name: text, value: None, text },
        }
    })
}

/// Items comma-joined into a sink, counting them so an empty list can be told apart.
struct CommaJoined<S> {
    sink: S,
    items: usize,
}

impl<S: ByteSink> CommaJoined<S> {
    fn new(sink: S) -> Self {
        CommaJoined { sink, items: 0 }
    }

    fn push(&mut self, item: &[u8]) {
        if self.items > 0 {
            self.sink.put(b",");
        }
        self.sink.put(item);
        self.items = self.items.saturating_add(1);
    }
}

impl CommaJoined<Sha256> {
    /// First 12 lower-case hex chars of the SHA-256, or `000000000000` for an empty list.
    fn finish_hash12(self) -> [u8; HASH_LEN] {
        let mut hex = [b'0'; HASH_LEN];
        if self.items > 0 {
            write_lower_hex(&self.sink.finalize(), &mut hex);
        }
        hex
    }
}

fn method_code(method: &str) -> [u8; 2] {
    let mut code = [b'0'; 2];
    for (slot, c) in code.iter_mut().zip(method.chars()) {
        *slot = ascii_alphanumeric_lower(c).unwrap_or(b'0');
    }
    code
}

fn version_code(version: HttpVersion) -> [u8; 2] {
    match version {
        HttpVersion::Http10 => *b"10",
        HttpVersion::Http11 => *b"11",
        HttpVersion::Http2 => *b"20",
        HttpVersion::Http3 => *b"30",
    }
}

fn two_digit_count(count: usize) -> [u8; 2] {
    let capped = u8::try_from(count.min(99)).unwrap_or(99);
    [b'0' + capped / 10, b'0' + capped % 10]
}

/// Primary language of an Accept-Language value: `en-US,en;q=0.9` gives `enus`.
fn language_code(accept_language: Option<&str>) -> [u8; 4] {
    let mut code = [b'0'; 4];
    let primary =
        accept_language.and_then(|value| value.split([',', ';']).next()).map(trim_blanks).unwrap_or_default();
    let chars = primary.chars().filter(|&c| c != '-').map(|c| {
        if c == '*' {
            b'*'
        } else {
            ascii_alphanumeric_lower(c).unwrap_or(b'0')
        }
    });
    for (slot, byte) in code.iter_mut().zip(chars) {
        *slot = byte;
    }
    code
}

fn ascii_alphanumeric_lower(c: char) -> Option<u8> {
    let byte = u8::try_from(c).ok()?;
    byte.is_ascii_alphanumeric().then_some(byte.to_ascii_lowercase())
}

#[cfg(test)]
mod tests;
