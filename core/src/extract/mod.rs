//! Pulling phone numbers (and the CAPTCHA token) out of HTTP requests.
//!
//! ```text
//! ExtractSpec ──compile──► Extractor ──extract(RequestParts)──► Extracted { numbers, token }
//! ```
//!
//! The principle throughout: if the origin might read a different number than we do (duplicate
//! keys, an odd separator, a float where digits were expected), we say so with
//! [`ExtractError::Ambiguous`] rather than guess, because a guess is a bypass. Bodies are read
//! by allocation-free scanners (no JSON tree is built); only returned strings are allocated.

mod form;
mod json;
mod jwt;
mod media;
mod multipart;
mod names;
mod path;
mod plan;
mod preset;
mod spec;
mod split;

#[cfg(test)]
mod origin_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use core::fmt;

pub(crate) use names::{eq_folded, fold_owned};
pub use preset::{AnsweredSend, BindsWithoutSending, PathBinding, Preset, SendAnswer};
pub(crate) use spec::is_header_name_byte;
pub use spec::{ExtractSpec, NameValueSpec, SplitNumberSpec, TokenSource};

use media::BodyKind;
use plan::{FieldPlan, JsonPlan};

/// The parts of a request extraction reads; the host fills it from its own request type.
#[derive(Clone, Copy, Debug)]
pub struct RequestParts<'a> {
    /// Raw `Content-Type` header value, e.g. `application/json; charset=utf-8`.
    pub content_type: Option<&'a str>,
    /// Raw `Content-Encoding` header value.
    pub content_encoding: Option<&'a str>,
    /// Raw query string without `?`, possibly empty.
    pub query: &'a str,
    /// Headers with lower-case names, in request order (for header token sources).
    pub headers: &'a [(&'a str, &'a str)],
    /// The whole body (its size cap is enforced before extraction).
    pub body: &'a [u8],
}

/// Where a candidate number was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A JSON value, by its concrete path: `$.user.phone`, `$.UserAttributes[1].Value`.
    Json(String),
    /// A urlencoded or multipart form field, by its decoded name.
    Form(String),
    /// A query parameter, by its decoded name.
    Query(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Json(path) => write!(f, "json:{path}"),
            Source::Form(name) => write!(f, "form:{name}"),
            Source::Query(name) => write!(f, "query:{name}"),
        }
    }
}

/// A value that may be a phone number: the text as the origin would see it, after JSON or
/// percent decoding, not yet parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The decoded text.
    pub raw: String,
    /// Where in the request it was found.
    pub source: Source,
    /// The region to read it in instead of the policy's `default_region`: set when a split
    /// number's country part is a region code (`split_numbers`).
    pub region: Option<crate::phone::Region>,
}

impl Candidate {
    /// A value found at `source`, read in the default region.
    pub fn new(raw: String, source: Source) -> Candidate {
        Candidate { raw, source, region: None }
    }
}

/// Everything extracted from one request. Empty values are not candidates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// In request order: query string first, then body.
    pub numbers: Vec<Candidate>,
    /// The CAPTCHA token, verbatim (it is verified elsewhere).
    pub token: Option<String>,
    /// The account the request names (`account_json_paths`), folded as [`fold_account`] does;
    /// `None` when it names none (or only an empty one).
    pub account: Option<String>,
}

/// An account name as it is counted: trimmed and lower-cased, because the services that name
/// accounts so match them loosely (Cognito's user names are case-insensitive), and a spelling
/// the service reads as the same account must not be a fresh counter. Folding more than a
/// service does only merges counters, which costs an attacker, never helps him. Kept whole,
/// never cut: values that name an account (a token) may share long prefixes.
pub fn fold_account(name: &str) -> String {
    name.trim().to_lowercase()
}

impl Extracted {
    /// Records the account a request names; a second, different one is ambiguous (the origin
    /// might act on either).
    pub(crate) fn offer_account(
        &mut self,
        name: &str,
        place: impl FnOnce() -> String,
    ) -> Result<(), ExtractError> {
        let folded = fold_account(name);
        if folded.is_empty() {
            return Ok(());
        }
        offer_once(&mut self.account, folded, "accounts", place)
    }

    /// Records a token; a second, different one is ambiguous. `place` says where this one was,
    /// and is only spelled out for the error.
    pub(crate) fn offer_token(
        &mut self,
        token: String,
        place: impl FnOnce() -> String,
    ) -> Result<(), ExtractError> {
        offer_once(&mut self.token, token, "CAPTCHA tokens", place)
    }
}

/// Fills `slot` with `value`; a second, different value is ambiguous (origin might act on
/// either). `what` names the values in the error, `place` says where the second one was.
fn offer_once(
    slot: &mut Option<String>,
    value: String,
    what: &str,
    place: impl FnOnce() -> String,
) -> Result<(), ExtractError> {
    match slot {
        Some(existing) if *existing != value => Err(ExtractError::Ambiguous {
            detail: format!("two different {what} (the second in {})", place()),
        }),
        Some(_) => Ok(()),
        None => {
            *slot = Some(value);
            Ok(())
        }
    }
}

/// Why a request could not be read. Hosts map each to a policy outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtractError {
    /// The body (or query string) does not parse as its content type says.
    Malformed {
        /// What does not parse, for logs.
        detail: String,
    },
    /// A `Content-Encoding` other than identity: bodies are not decompressed.
    UnsupportedEncoding {
        /// The encoding as the request names it (`gzip`).
        encoding: String,
    },
    /// A body this route reads from, in a type or charset it cannot read.
    UnsupportedContentType {
        /// The `Content-Type` as sent; empty when the request has none.
        content_type: String,
    },
    /// The origin might see a different value than we do.
    Ambiguous {
        /// What could be read two ways, for logs.
        detail: String,
    },
}

impl ExtractError {
    /// The reason a decision reports for this error.
    pub fn reason(&self) -> crate::decision::ReasonCode {
        use crate::decision::ReasonCode;
        match self {
            ExtractError::Malformed { .. } => ReasonCode::BodyMalformed,
            ExtractError::UnsupportedEncoding { .. } => ReasonCode::UnsupportedEncoding,
            ExtractError::UnsupportedContentType { .. } => ReasonCode::UnsupportedContentType,
            ExtractError::Ambiguous { .. } => ReasonCode::AmbiguousField,
        }
    }

    /// Stable snake_case code for logs and responses (the reason's code).
    pub fn code(&self) -> &'static str {
        self.reason().as_str()
    }
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtractError::Malformed { detail } => write!(f, "malformed request: {detail}"),
            ExtractError::UnsupportedEncoding { encoding } => {
                write!(f, "body has Content-Encoding {encoding:?}; only identity bodies are read")
            }
            ExtractError::UnsupportedContentType { content_type } if content_type.is_empty() => {
                write!(f, "body has no Content-Type, so its phone number cannot be read")
            }
            ExtractError::UnsupportedContentType { content_type } => {
                write!(f, "body has Content-Type {content_type:?}, which this route does not read")
            }
            ExtractError::Ambiguous { detail } => write!(f, "ambiguous request: {detail}"),
        }
    }
}

impl std::error::Error for ExtractError {}

/// A compiled [`ExtractSpec`], ready to run on requests.
#[derive(Clone, Debug)]
pub struct Extractor {
    json: JsonPlan,
    form: FieldPlan,
    query: FieldPlan,
    /// Lower-cased header name of the token.
    token_header: Option<Box<str>>,
    /// Claims of the `Authorization` bearer token that name the account (empty: none read).
    bearer_claims: &'static [&'static str],
    /// Numbers split over a country part and a national part.
    split: split::SplitPlan,
}

impl Extractor {
    /// Reads every configured source of `req`.
    pub fn extract(&self, req: &RequestParts<'_>) -> Result<Extracted, ExtractError> {
        let mut out = Extracted::default();
        let reads_body = !req.body.is_empty() && (self.json.is_active() || self.form.is_active());
        if reads_body {
            if let Some(encoding) = req.content_encoding {
                if !media::is_identity(encoding) {
                    return Err(ExtractError::UnsupportedEncoding { encoding: encoding.to_owned() });
                }
            }
        }
        let body_kind = if reads_body {
            let unsupported = || ExtractError::UnsupportedContentType {
                content_type: req.content_type.unwrap_or_default().to_owned(),
            };
            let kind = media::classify(req.content_type.ok_or_else(unsupported)?)?;
            let readable = match kind {
                BodyKind::Json => self.json.is_active(),
                BodyKind::Form | BodyKind::Multipart { .. } => self.form.is_active(),
                BodyKind::Other => false,
            };
            if !readable {
                return Err(unsupported());
            }
            Some(kind)
        } else {
            None
        };

        if self.query.is_active() && !req.query.is_empty() {
            form::scan(req.query.as_bytes(), &self.query, form::Origin::Query, &mut out)?;
        }
        if let Some(name) = &self.token_header {
            for (_, value) in req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
                out.offer_token((*value).to_owned(), || format!("header {name}"))?;
            }
        }
        if !self.bearer_claims.is_empty() {
            for (_, value) in req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("authorization")) {
                // A session names its user by a claim; a token without one (an API key) and
                // another scheme name none. Two users in one request are ambiguous.
                let token =
                    value.trim().split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
                if let Some(account) = token.and_then(|(_, jwt)| jwt::claim(jwt, self.bearer_claims)) {
                    out.offer_account(&account, || "header authorization".to_owned())?;
                }
            }
        }
        match body_kind {
            Some(BodyKind::Json) => json::scan(&self.json, req.body, &mut out)?,
            Some(BodyKind::Form) => form::scan(req.body, &self.form, form::Origin::Form, &mut out)?,
            Some(BodyKind::Multipart { boundary }) => {
                multipart::scan(req.body, boundary, &self.form, &mut out)?
            }
            Some(BodyKind::Other) | None => {}
        }
        if !self.split.is_empty() {
            self.split.join(&mut out)?;
        }
        Ok(out)
    }
}
