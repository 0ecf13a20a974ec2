//! Number intelligence: an optional lookup per number at a provider operators already pay for
//! (line type, reachability, an SMS pumping risk score), the shape of Twilio Lookup v2. It
//! catches what no request-level signal can: a botnet that looks like browsers, sending to
//! real-looking mobiles the provider has seen pumped elsewhere.
//!
//! The core builds the request and reads the answer; the host only moves the bytes, as for
//! siteverify. Answers are cached per number in the counter store, through the same counter
//! checks every host already runs ([`crate::engine::CounterOp::IntelRead`] when a request is
//! planned, [`crate::engine::CounterOp::IntelStore`] once an answer came), so a Worker's Durable
//! Objects and the fleet's store service carry the cache unchanged. Cache entries are never
//! protected from eviction: losing one only costs a lookup.
//!
//! Lookups cost money per call, so only numbers a request would otherwise send to are looked up
//! ([`crate::Policy::resolve_lookups`]): a request any rule, counter or token already refuses
//! never reaches the provider, and a refused flood cannot run up the bill. The one exception is a
//! rule counted per solving device: it runs in the commit round, after the lookups, since the
//! device is named only by siteverify (each such request costs its sender a solve).

mod steps;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigErrors, IntelOutcome, LookupMethod, NumberIntelDoc, NumberIntelRuleDoc};
use crate::extract::is_header_name_byte;
use crate::limit::CounterVerdict;
use crate::store::Change;
use crate::time::Timestamp;

/// Most bytes of a provider's answer a host reads; a longer one is unreadable (unavailable).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Where the number goes in `number_intel.url`.
pub const E164_PLACEHOLDER: &str = "{e164}";

/// Where the number's digits go in `number_intel.url`, without the `+` (`14155550123`).
pub const DIGITS_PLACEHOLDER: &str = "{digits}";

/// Line types as Twilio Lookup's line type intelligence names them, plus `other` for a value no
/// name matches.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LineType {
    /// A fixed line.
    Landline,
    /// A mobile line.
    Mobile,
    /// VoIP tied to an address.
    FixedVoip,
    /// VoIP anyone can get online (the numbers bots favour).
    NonFixedVoip,
    /// A personal number service.
    Personal,
    /// A toll-free number.
    TollFree,
    /// A premium-rate number.
    Premium,
    /// A shared-cost number.
    SharedCost,
    /// A universal access number.
    Uan,
    /// A voicemail number.
    Voicemail,
    /// A pager.
    Pager,
    /// The provider does not know.
    Unknown,
    /// A value the provider uses that is none of the above.
    Other,
}

const LINE_TYPES: [LineType; 13] = [
    LineType::Landline,
    LineType::Mobile,
    LineType::FixedVoip,
    LineType::NonFixedVoip,
    LineType::Personal,
    LineType::TollFree,
    LineType::Premium,
    LineType::SharedCost,
    LineType::Uan,
    LineType::Voicemail,
    LineType::Pager,
    LineType::Unknown,
    LineType::Other,
];

impl LineType {
    /// The name as policies spell it (`nonFixedVoip`).
    pub fn as_str(self) -> &'static str {
        match self {
            LineType::Landline => "landline",
            LineType::Mobile => "mobile",
            LineType::FixedVoip => "fixedVoip",
            LineType::NonFixedVoip => "nonFixedVoip",
            LineType::Personal => "personal",
            LineType::TollFree => "tollFree",
            LineType::Premium => "premium",
            LineType::SharedCost => "sharedCost",
            LineType::Uan => "uan",
            LineType::Voicemail => "voicemail",
            LineType::Pager => "pager",
            LineType::Unknown => "unknown",
            LineType::Other => "other",
        }
    }

    /// Reads a provider's value: Twilio's names with case and separators ignored
    /// (`NON_FIXED_VOIP`, `non-fixed-voip`), `fixed_line` as `landline`; anything else `other`.
    pub fn from_provider(value: &str) -> LineType {
        let folded: String =
            value.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
        if folded == "fixedline" {
            return LineType::Landline;
        }
        LINE_TYPES.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(&folded)).unwrap_or(LineType::Other)
    }

    fn code(self) -> u8 {
        LINE_TYPES.iter().position(|t| *t == self).and_then(|i| u8::try_from(i).ok()).unwrap_or(u8::MAX)
    }

    fn from_code(code: u8) -> Option<LineType> {
        LINE_TYPES.get(usize::from(code)).copied()
    }
}

/// What the provider said of one number, as far as the policy maps its answer; `None`: unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IntelFacts {
    /// Pumping risk score, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<u8>,
    /// Line type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_type: Option<LineType>,
    /// Whether the number can be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachable: Option<bool>,
}

/// Cache values start with this, so a value of another format reads as a miss.
const CACHE_FORMAT: u8 = 1;
const NONE: u8 = u8::MAX;

impl IntelFacts {
    /// Whether the answer says anything at all.
    pub fn is_empty(&self) -> bool {
        self.risk.is_none() && self.line_type.is_none() && self.reachable.is_none()
    }

    /// For logs: `risk 92, line type nonFixedVoip, unreachable`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::with_capacity(3);
        if let Some(risk) = self.risk {
            parts.push(format!("risk {risk}"));
        }
        if let Some(t) = self.line_type {
            parts.push(format!("line type {}", t.as_str()));
        }
        match self.reachable {
            Some(true) => parts.push("reachable".to_owned()),
            Some(false) => parts.push("unreachable".to_owned()),
            None => {}
        }
        if parts.is_empty() {
            "nothing known".to_owned()
        } else {
            parts.join(", ")
        }
    }

    fn encode(&self) -> Vec<u8> {
        vec![
            CACHE_FORMAT,
            self.risk.unwrap_or(NONE),
            self.line_type.map_or(NONE, LineType::code),
            self.reachable.map_or(NONE, u8::from),
        ]
    }

    fn decode(bytes: &[u8]) -> Option<IntelFacts> {
        let [CACHE_FORMAT, risk, line, reachable] = *bytes else { return None };
        Some(IntelFacts {
            risk: (risk <= 100).then_some(risk),
            line_type: LineType::from_code(line),
            reachable: match reachable {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            },
        })
    }
}

/// A number whose intelligence the host must look up before the decision is final.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NumberLookup {
    /// The number in E.164 form.
    pub e164: String,
}

/// One lookup's outcome, as the core reads the provider's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum LookupAnswer {
    /// The provider answered; what it said.
    Found(IntelFacts),
    /// The call failed, timed out, or its answer could not be read: `number_intel.on_unavailable`
    /// decides.
    Unavailable {
        /// What failed, for logs.
        detail: String,
    },
}

/// Most bytes of a `POST` lookup's body template.
pub const MAX_BODY_TEMPLATE_BYTES: usize = 4096;

/// The HTTP call a host makes for one lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupRequest {
    /// `GET` or `POST`.
    pub method: LookupMethod,
    /// The whole URL (hosts that fetch by URL: a Worker).
    pub url: String,
    /// `host[:port]` of the URL (Envoy's `:authority`).
    pub authority: String,
    /// Path and query of the URL (Envoy's `:path`).
    pub path: String,
    /// The policy's request headers (hosts add or override theirs); with a body, its
    /// `content-type` too.
    pub headers: Vec<(String, String)>,
    /// The body of a `POST`, the number in place.
    pub body: Option<String>,
}

/// The provider settings of a policy, compiled from its `number_intel` section.
#[derive(Clone, Debug, PartialEq)]
pub struct NumberIntel {
    scheme: String,
    authority: String,
    /// Path and query, with [`E164_PLACEHOLDER`] or [`DIGITS_PLACEHOLDER`].
    path: String,
    /// With a body, the policy's headers and a `content-type`.
    headers: Vec<(String, String)>,
    method: LookupMethod,
    /// The body template of a `POST`, with the placeholders.
    body: Option<String>,
    /// Timeout of one lookup, in milliseconds.
    pub timeout_ms: u32,
    /// How long an answer stays cached, in milliseconds.
    pub cache_ms: u64,
    /// What a failed lookup means.
    pub on_unavailable: IntelOutcome,
    risk_score: Option<String>,
    /// The provider's risk score that means certain (its scale's top).
    risk_scale: f64,
    line_type: Option<String>,
    /// The provider's line-type values, lower-cased, and the names rules use for them.
    line_types: Vec<(String, LineType)>,
    reachable: Option<String>,
}

/// The parts of an `http(s)://authority/path?query` URL template.
fn split_url(url: &str) -> Result<(String, String, String), String> {
    let (scheme, rest) = url.split_once("://").ok_or("must start with https:// or http://")?;
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return Err(format!("scheme {scheme:?}: only https and http"));
    }
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') || authority.contains('{') {
        return Err("needs a host (credentials go in headers, not the URL)".to_owned());
    }
    let path = if path.starts_with('?') { format!("/{path}") } else { path.to_owned() };
    Ok((scheme.to_ascii_lowercase(), authority.to_ascii_lowercase(), path))
}

/// Whether a template (a URL, a body) says where the number goes (`{e164}` or `{digits}`).
pub fn has_number_placeholder(template: &str) -> bool {
    template.contains(E164_PLACEHOLDER) || template.contains(DIGITS_PLACEHOLDER)
}

/// `template` with every `{e164}` replaced by the number, percent-encoded (`%2B44...`), and
/// every `{digits}` by its digits alone (`44...`).
pub fn expand_template(template: &str, e164: &str) -> String {
    let mut encoded = String::with_capacity(e164.len() + 2);
    for b in e164.bytes() {
        if b.is_ascii_alphanumeric() {
            encoded.push(char::from(b));
        } else {
            encoded.push('%');
            encoded.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            encoded.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    let digits: String = e164.chars().filter(char::is_ascii_digit).collect();
    template.replace(E164_PLACEHOLDER, &encoded).replace(DIGITS_PLACEHOLDER, &digits)
}

fn check_pointer(pointer: &Option<String>, at: &str, errs: &mut ConfigErrors) {
    if let Some(p) = pointer {
        if !p.starts_with('/') {
            errs.push(at, format!("{p:?} is not a JSON pointer (RFC 6901): it starts with '/'"));
        }
    }
}

impl NumberIntel {
    /// Compiles and checks a `number_intel` section; errors name their path.
    pub(crate) fn compile(doc: &NumberIntelDoc, errs: &mut ConfigErrors) -> Option<NumberIntel> {
        let at = "number_intel";
        let split = match split_url(&doc.url) {
            Ok(parts) => Some(parts),
            Err(message) => {
                errs.push(format!("{at}.url"), message);
                None
            }
        };
        let in_body = doc.body.as_deref().is_some_and(has_number_placeholder);
        if !has_number_placeholder(&doc.url) && !in_body {
            errs.push(
                format!("{at}.url"),
                "must contain {e164} or {digits} where the number goes (or the body must)",
            );
        }
        match (doc.method, &doc.body) {
            (LookupMethod::Get, Some(_)) => errs.push(format!("{at}.body"), "only a POST carries a body"),
            (LookupMethod::Post, None) => errs.push(format!("{at}.body"), "a POST needs a body"),
            (LookupMethod::Post, Some(body)) if body.len() > MAX_BODY_TEMPLATE_BYTES => {
                errs.push(format!("{at}.body"), format!("at most {MAX_BODY_TEMPLATE_BYTES} bytes"));
            }
            _ => {}
        }
        if doc.url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '#') {
            errs.push(format!("{at}.url"), "must not contain blanks, control characters or '#'");
        }
        let mut headers = Vec::with_capacity(doc.headers.len());
        for (name, value) in &doc.headers {
            let lowered = name.to_ascii_lowercase();
            if lowered.is_empty() || !lowered.bytes().all(is_header_name_byte) {
                errs.push(format!("{at}.headers.{name}"), "must be an HTTP header name");
            }
            if value.chars().any(|c| c.is_control()) {
                errs.push(format!("{at}.headers.{name}"), "value must not contain control characters");
            }
            headers.push((lowered, value.clone()));
        }
        if doc.body.is_some() && !headers.iter().any(|(name, _)| name == "content-type") {
            headers.push(("content-type".to_owned(), "application/x-www-form-urlencoded".to_owned()));
        }
        if doc.timeout_ms == 0 || doc.timeout_ms > 30_000 {
            errs.push(format!("{at}.timeout_ms"), "must be between 1 and 30000 milliseconds");
        }
        if !(60..=2_592_000).contains(&doc.cache_seconds) {
            errs.push(format!("{at}.cache_seconds"), "must be between 60 and 2592000 (30 days)");
        }
        let response = &doc.response;
        check_pointer(&response.risk_score, &format!("{at}.response.risk_score"), errs);
        check_pointer(&response.line_type, &format!("{at}.response.line_type"), errs);
        check_pointer(&response.reachable, &format!("{at}.response.reachable"), errs);
        if response.risk_score.is_none() && response.line_type.is_none() && response.reachable.is_none() {
            errs.push(format!("{at}.response"), "map at least one of risk_score, line_type, reachable");
        }
        let risk_scale = response.risk_scale.unwrap_or(100.0);
        if !(risk_scale.is_finite() && risk_scale > 0.0 && risk_scale <= 1_000_000.0) {
            errs.push(format!("{at}.response.risk_scale"), "must be a number over 0, at most 1000000");
        } else if response.risk_scale.is_some() && response.risk_score.is_none() {
            errs.push(format!("{at}.response.risk_scale"), "set, but risk_score maps no risk score to scale");
        }
        if !response.line_types.is_empty() && response.line_type.is_none() {
            errs.push(format!("{at}.response.line_types"), "set, but line_type maps no line type to read");
        }
        let mut line_types = Vec::with_capacity(response.line_types.len());
        for (value, name) in &response.line_types {
            let folded = value.to_lowercase();
            if line_types.iter().any(|(seen, _): &(String, LineType)| *seen == folded) {
                errs.push(format!("{at}.response.line_types.{value}"), "listed twice (case is ignored)");
            }
            line_types.push((folded, *name));
        }
        let (scheme, authority, path) = split?;
        Some(NumberIntel {
            scheme,
            authority,
            path,
            headers,
            method: doc.method,
            body: doc.body.clone(),
            timeout_ms: doc.timeout_ms,
            cache_ms: u64::from(doc.cache_seconds) * 1000,
            on_unavailable: doc.on_unavailable,
            risk_score: response.risk_score.clone(),
            risk_scale,
            line_type: response.line_type.clone(),
            line_types,
            reachable: response.reachable.clone(),
        })
    }

    /// Whether the answer mapping reads each fact, in the order risk, line type, reachability.
    pub(crate) fn maps(&self) -> (bool, bool, bool) {
        (self.risk_score.is_some(), self.line_type.is_some(), self.reachable.is_some())
    }

    /// The call to make for `lookup`.
    pub fn request(&self, lookup: &NumberLookup) -> LookupRequest {
        let path = expand_template(&self.path, &lookup.e164);
        LookupRequest {
            method: self.method,
            url: format!("{}://{}{path}", self.scheme, self.authority),
            authority: self.authority.clone(),
            path,
            headers: self.headers.clone(),
            body: self.body.as_deref().map(|body| expand_template(body, &lookup.e164)),
        }
    }

    /// The policy's request headers, names lower-cased.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// A provider's line-type value: the policy's own mapping first, then Twilio's names.
    fn line_type_of(&self, value: &str) -> LineType {
        let folded = value.to_lowercase();
        match self.line_types.iter().find(|(own, _)| *own == folded) {
            Some((_, name)) => *name,
            None => LineType::from_provider(value),
        }
    }

    /// Reads a provider's answer. Anything but a 200 whose JSON carries at least one mapped fact
    /// of the right type is `Unavailable`: a provider that answers garbage is a provider down.
    pub fn interpret(&self, status: u16, body: &[u8]) -> LookupAnswer {
        let unavailable = |detail: String| LookupAnswer::Unavailable { detail };
        if status != 200 {
            return unavailable(format!("provider answered HTTP {status}"));
        }
        if body.len() > MAX_ANSWER_BYTES {
            return unavailable(format!("answer over {MAX_ANSWER_BYTES} bytes"));
        }
        let json: serde_json::Value = match serde_json::from_slice(body) {
            Ok(json) => json,
            Err(e) => return unavailable(format!("answer unreadable: {e}")),
        };
        let at = |pointer: &Option<String>| {
            pointer.as_deref().and_then(|p| json.pointer(p)).filter(|v| !v.is_null())
        };
        let mut facts = IntelFacts::default();
        if let Some(value) = at(&self.risk_score) {
            let scale = self.risk_scale;
            match value.as_f64().filter(|r| (0.0..=scale).contains(r)) {
                // A share of the provider's scale, as rules' `min_risk` reads it (0–100).
                Some(risk) => facts.risk = Some((risk * 100.0 / scale).round().clamp(0.0, 100.0) as u8),
                None => return unavailable(format!("risk score {value} is not a number from 0 to {scale}")),
            }
        }
        if let Some(value) = at(&self.line_type) {
            match value.as_str() {
                Some(text) => facts.line_type = Some(self.line_type_of(text)),
                None => return unavailable(format!("line type {value} is not a string")),
            }
        }
        if let Some(value) = at(&self.reachable) {
            facts.reachable = match value {
                serde_json::Value::Bool(b) => Some(*b),
                serde_json::Value::String(s) => reachability(s),
                other => return unavailable(format!("reachability {other} is neither a boolean nor text")),
            };
        }
        if facts.is_empty() {
            return unavailable("answer carries none of the mapped facts".to_owned());
        }
        LookupAnswer::Found(facts)
    }
}

/// A line status as text: reachable, unreachable, or unknown.
fn reachability(status: &str) -> Option<bool> {
    match status.trim().to_ascii_lowercase().as_str() {
        "active" | "reachable" | "true" => Some(true),
        // `undeliverable` and `bad_number`: Vonage's words for a number no SMS reaches.
        "inactive" | "unreachable" | "disconnected" | "undeliverable" | "bad_number" | "false" => Some(false),
        _ => None,
    }
}

/// A compiled `number_intel` rule: any listed condition fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntelRule {
    /// A risk score at or over this fires.
    pub min_risk: Option<u8>,
    /// These line types fire.
    pub line_types: Vec<LineType>,
    /// An unreachable number fires.
    pub unreachable: bool,
    /// No verdict from the provider fires ([`IntelRule::fires_unanswered`]).
    pub unanswered: bool,
}

impl IntelRule {
    /// Compiles and checks a rule's `number_intel`; `provider` is the policy's section, whose
    /// mapping must read what the rule asks about.
    pub(crate) fn compile(
        doc: &NumberIntelRuleDoc,
        at: &str,
        provider: Option<&NumberIntel>,
        errs: &mut ConfigErrors,
    ) -> IntelRule {
        let at = format!("{at}.number_intel");
        if doc.min_risk.is_none() && doc.line_types.is_empty() && !doc.unreachable && !doc.unanswered {
            errs.push(at.clone(), "set min_risk, line_types, unreachable or unanswered");
        }
        if doc.min_risk.is_some_and(|r| r > 100) {
            errs.push(format!("{at}.min_risk"), "must be between 0 and 100");
        }
        match provider {
            None => errs.push(at.clone(), "needs a top-level \"number_intel\" section naming the provider"),
            Some(provider) => {
                let (risk, line, reach) = provider.maps();
                let unmapped = |field: &str, what: &str| {
                    format!("number_intel.response.{field} is not set, so the {what} is never known")
                };
                if doc.min_risk.is_some() && !risk {
                    errs.push(format!("{at}.min_risk"), unmapped("risk_score", "risk score"));
                }
                if !doc.line_types.is_empty() && !line {
                    errs.push(format!("{at}.line_types"), unmapped("line_type", "line type"));
                }
                if doc.unreachable && !reach {
                    errs.push(format!("{at}.unreachable"), unmapped("reachable", "reachability"));
                }
            }
        }
        IntelRule {
            min_risk: doc.min_risk,
            line_types: doc.line_types.clone(),
            unreachable: doc.unreachable,
            unanswered: doc.unanswered,
        }
    }

    /// Why the rule fires when the provider gave no verdict, `detail` saying what went wrong;
    /// `None` when it does not ask about that.
    pub fn fires_unanswered(&self, detail: &str) -> Option<String> {
        self.unanswered.then(|| format!("no answer from the provider ({detail})"))
    }

    /// Why the rule fires on `facts`, for the finding's detail; `None` when it does not.
    pub fn fires(&self, facts: &IntelFacts) -> Option<String> {
        let why = self
            .min_risk
            .zip(facts.risk)
            .filter(|(min, risk)| risk >= min)
            .map(|(min, _)| format!("risk score at or over {min}"))
            .or_else(|| {
                facts
                    .line_type
                    .filter(|t| self.line_types.contains(t))
                    .map(|t| format!("line type {}", t.as_str()))
            })
            .or_else(|| {
                (self.unreachable && facts.reachable == Some(false)).then(|| "unreachable".to_owned())
            })?;
        Some(format!("{why} ({})", facts.describe()))
    }
}

/// Cache key of a number's answer: one per number, whichever rule asked.
pub(crate) fn cache_key(digits: &str) -> String {
    let mut key = String::with_capacity(3 + digits.len());
    key.push_str("ni:");
    key.push_str(digits);
    key
}

/// The cache read: the stored answer in the verdict (`intel`), never a refusal, nothing written.
pub(crate) fn read_step(stored: Option<&[u8]>) -> Change<CounterVerdict> {
    Change::Keep(CounterVerdict { intel: stored.and_then(IntelFacts::decode), ..CounterVerdict::PASS })
}

/// The cache write of a fresh answer, kept `cache_ms`; history a full store may evict.
pub(crate) fn store_step(facts: IntelFacts, cache_ms: u64, now: Timestamp) -> Change<CounterVerdict> {
    Change::Write {
        value: facts.encode(),
        expires_at: now.plus_millis(cache_ms),
        protected_until: Timestamp::from_millis(0),
        result: CounterVerdict::PASS,
    }
}

/// Headers of a host's own settings over the policy's: a host setting wins by name.
pub fn merge_headers(policy: &[(String, String)], host: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = policy
        .iter()
        .filter(|(name, _)| !host.keys().any(|h| h.eq_ignore_ascii_case(name)))
        .cloned()
        .collect();
    out.extend(host.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.clone())));
    out
}
