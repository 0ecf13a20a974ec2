//! Policy loading: JSON → typed document → checked, compiled [`Policy`].

pub mod error;
mod objects_only;
pub mod schema;

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;

pub use error::{ConfigError, ConfigErrors};
pub use schema::*;

use crate::extract::is_header_name_byte;
use crate::limit::{
    AdjacentParams, BackoffParams, ConversionBaseline, ConversionParams, ConversionScope, GcraParams,
    ProvenPairsParams, ReputationParams, SurgeParams, MAX_HORIZON_SECONDS,
};
use crate::phone::{PhoneParser, Region};
use crate::routes::{
    Conditions, ConfirmSuccess, HeaderCondition, HostPattern, JsonCondition, ParamCondition, PathPattern,
    Route,
};
use crate::rules::{parse_prefix, CountrySet, KeyPart, NumberPattern, PrefixSet, Rule, RuleKind, TypeSet};
use crate::rules::{BotScoreRule, BOT_SCORE_BELOW_RANGE};
use objects_only::ObjectsOnly;

/// Upper bounds that keep one policy's per-request cost and memory predictable.
const MAX_NUMBERS_LIMIT: u32 = 50;
const MAX_BODY_LIMIT: u32 = 8 * 1024 * 1024;
const MAX_SUFFIX_DIGITS: u8 = 4;

/// Request facts a policy may read that a host has to fetch separately ([`Policy::request_needs`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestNeeds {
    /// The client address: a rate-limit key or a conversion scope reads it, or CAPTCHA
    /// verification sends it (`remoteip`).
    pub client_ip: bool,
    /// The HTTP version: a rule uses JA4H or the header MD5, which both hash it.
    pub http_version: bool,
}

/// A loaded policy: everything validated, patterns compiled, ready to judge requests.
#[derive(Debug)]
pub struct Policy {
    pub(crate) shadow: bool,
    pub(crate) parser: PhoneParser,
    pub(crate) default_region: Option<Region>,
    pub(crate) routes: Vec<Route>,
    pub(crate) inputs: InputsDoc,
    pub(crate) safelist: PrefixSet,
    pub(crate) rules: Vec<Rule>,
    pub(crate) captcha: Option<crate::captcha::Captcha>,
    pub(crate) store: StoreDoc,
    /// Fingerprints some rule needs, so others are never computed.
    pub(crate) uses_ja4h: bool,
    pub(crate) uses_header_md5: bool,
    pub(crate) uses_header_set: bool,
    pub(crate) expose_findings: bool,
    pub(crate) risk: Option<RiskThresholds>,
    pub(crate) number_intel: Option<crate::intel::NumberIntel>,
    /// Per route, the inputs from the host or the edge its rules read.
    pub(crate) edge_reads: Vec<crate::edge_inputs::RouteReads>,
    /// Where the site imports trusted numbers, and the index of the reputation rule they join.
    pub(crate) trust_import: Option<crate::trust_import::TrustImport>,
}

impl Policy {
    /// Parses and validates a policy; every problem is reported with its JSON path.
    pub fn from_json(json: &str) -> Result<Policy, ConfigErrors> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let doc: PolicyDoc =
            serde_path_to_error::deserialize(ObjectsOnly(&mut deserializer)).map_err(|e| {
                let path = e.path().to_string();
                let mut errors = ConfigErrors::default();
                errors.push(
                    if path == "." { String::new() } else { path },
                    strip_position(&e.inner().to_string()),
                );
                errors
            })?;
        Policy::compile(&doc)
    }

    /// Validates a parsed document and compiles it.
    pub fn compile(doc: &PolicyDoc) -> Result<Policy, ConfigErrors> {
        let mut errs = ConfigErrors::default();
        if doc.version != 1 {
            errs.push(
                "version",
                format!("unsupported policy version {}; this build reads version 1", doc.version),
            );
        }
        let default_region = doc.default_region.as_deref().and_then(|code| {
            let region = Region::from_code(code).filter(|r| r.as_str() != "001");
            if region.is_none() {
                errs.push(
                    "default_region",
                    format!("{code:?} is not an ISO 3166 region known to the phone metadata"),
                );
            }
            region
        });
        let routes = compile_routes(&doc.routes, &mut errs);
        check_inputs(&doc.inputs, &mut errs);
        check_invalid_number_challenge(doc, &mut errs);
        let mut safelist = PrefixSet::default();
        for (i, entry) in doc.safelist.iter().enumerate() {
            match parse_prefix(entry) {
                Ok(digits) => {
                    safelist.insert(digits);
                }
                Err(message) => errs.push(format!("safelist[{i}]"), message),
            }
        }
        let route_ids: Vec<&str> = doc.routes.iter().map(|r| r.id.as_str()).collect();
        let send_routes: Vec<usize> = doc
            .routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind == RouteKind::Send)
            .map(|(i, _)| i)
            .collect();
        let number_intel =
            doc.number_intel.as_ref().and_then(|d| crate::intel::NumberIntel::compile(d, &mut errs));
        check_intel_challenge(doc, &mut errs);
        let mut seen_ids = HashSet::new();
        let mut rules = Vec::with_capacity(doc.rules.len());
        for (i, rule) in doc.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            if !seen_ids.insert(rule.id.as_str()) {
                errs.push(format!("{at}.id"), format!("duplicate rule id {:?}", rule.id));
            }
            if let Some(rule) =
                compile_rule(rule, &at, &route_ids, &send_routes, doc, number_intel.as_ref(), &mut errs)
            {
                rules.push(rule);
            }
        }
        check_reputation(doc, &mut errs);
        let reputation = rules
            .iter()
            .enumerate()
            .find(|(_, r)| matches!(r.kind, RuleKind::Reputation(_)))
            .and_then(|(i, r)| Some((u16::try_from(i).ok()?, r.id.clone())));
        let trust_import = doc
            .trust_import
            .as_ref()
            .and_then(|d| crate::trust_import::TrustImport::compile(d, reputation, &mut errs));
        check_import_path_is_not_a_route(doc, &mut errs);
        check_outcome_rules_have_a_confirm_route(doc, &mut errs);
        let risk = check_risk(doc, &mut errs);
        if let Some(captcha) = &doc.captcha {
            if captcha.verify_timeout_ms == 0 || captcha.verify_timeout_ms > 30_000 {
                errs.push("captcha.verify_timeout_ms", "must be between 1 and 30000 milliseconds");
            }
            if let Some(score) = captcha.min_score {
                if !(0.0..=1.0).contains(&score) {
                    errs.push("captcha.min_score", "must be between 0.0 and 1.0");
                }
            }
        }
        if doc.store.max_cas_retries > 100 {
            errs.push("store.max_cas_retries", "must be at most 100");
        }
        let uses = |kind: crate::fingerprint::FingerprintKind| {
            rules.iter().any(|r| match &r.kind {
                RuleKind::Fingerprint { kind: k, .. } => *k == kind,
                RuleKind::RateLimit { key, .. } => key.contains(&KeyPart::Fingerprint(kind)),
                _ => false,
            })
        };
        let uses_ja4h = uses(crate::fingerprint::FingerprintKind::Ja4h);
        let uses_header_md5 = uses(crate::fingerprint::FingerprintKind::HeaderMd5);
        let uses_header_set = uses(crate::fingerprint::FingerprintKind::HeaderSet);
        if uses_ja4h && !doc.fingerprints.ja4h {
            errs.push(
                "fingerprints.ja4h",
                "a rule uses the ja4h fingerprint: set fingerprints.ja4h to true to opt in \
                 (JA4H is under the FoxIO License 1.1)",
            );
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let edge_reads = crate::edge_inputs::RouteReads::of_routes(routes.len(), &rules);
        Ok(Policy {
            shadow: doc.shadow,
            parser: PhoneParser::new(default_region),
            default_region,
            routes,
            inputs: doc.inputs.clone(),
            safelist,
            rules,
            captcha: doc.captcha.as_ref().map(crate::captcha::Captcha::from),
            store: doc.store.clone(),
            uses_ja4h,
            uses_header_md5,
            uses_header_set,
            expose_findings: doc.expose_findings,
            risk,
            number_intel,
            edge_reads,
            trust_import,
        })
    }

    /// Number-intelligence provider settings, when the policy has any.
    pub fn number_intel(&self) -> Option<&crate::intel::NumberIntel> {
        self.number_intel.as_ref()
    }

    /// The body cap hosts enforce while buffering.
    pub fn max_body_bytes(&self) -> usize {
        self.inputs.max_body_bytes as usize
    }

    /// Captcha settings, when the policy has any.
    pub fn captcha(&self) -> Option<&crate::captcha::Captcha> {
        self.captcha.as_ref()
    }

    /// The request facts this policy reads besides method, authority, path, headers and body,
    /// so a host can skip fetching what nothing reads (in Envoy each is a host call).
    pub fn request_needs(&self) -> RequestNeeds {
        let keyed_by_ip = self.rules.iter().any(|r| match &r.kind {
            RuleKind::RateLimit { key, .. } => key.iter().any(|p| matches!(p, KeyPart::ClientIp { .. })),
            RuleKind::Conversion(p) => matches!(p.scope, ConversionScope::ClientIp { .. }),
            _ => false,
        });
        RequestNeeds {
            // Rate-limit keys, conversion by address, and siteverify's `remoteip`.
            client_ip: keyed_by_ip || self.captcha.is_some(),
            // JA4H and the header hashes include the HTTP version.
            http_version: self.uses_ja4h || self.uses_header_md5 || self.uses_header_set,
        }
    }

    /// The ISO region numbers without an international prefix are read in, if the policy sets one.
    pub fn default_region(&self) -> Option<&'static str> {
        self.default_region.map(Region::as_str)
    }

    /// Settings that load but open a way around the guard, each with its path and why: `check`
    /// prints them. A policy that sets them on purpose (a route that also serves requests
    /// without a number) can ignore them.
    pub fn warnings(&self) -> Vec<ConfigError> {
        let inputs = &self.inputs;
        let allowed = [
            (
                "inputs.on_no_number",
                inputs.on_no_number,
                "a guarded request whose number pumpguard cannot find is forwarded unjudged: any field \
                 the origin reads but the route's extract does not list is a way past every rule; \
                 use block unless the route also serves requests without a number",
            ),
            (
                "inputs.on_too_many_numbers",
                inputs.on_too_many_numbers,
                "numbers beyond max_numbers are forwarded without being judged",
            ),
            (
                "inputs.on_unparseable_number",
                inputs.on_unparseable_number,
                "a number pumpguard cannot parse is forwarded unjudged; origin may still read one",
            ),
            (
                "inputs.on_ambiguous",
                inputs.on_ambiguous,
                "with a duplicate key the origin may read another number than the one judged",
            ),
            (
                "inputs.on_malformed",
                inputs.on_malformed,
                "a body pumpguard cannot read is forwarded unjudged; lenient origins may still read it",
            ),
            (
                "inputs.on_unsupported_encoding",
                inputs.on_unsupported_encoding,
                "a compressed body is forwarded unjudged; origins that decompress read its numbers",
            ),
            (
                "inputs.on_unsupported_content_type",
                inputs.on_unsupported_content_type,
                "a body of another content type is forwarded unjudged; lenient origins may still read it",
            ),
        ];
        allowed
            .into_iter()
            .filter(|(_, outcome, _)| *outcome == InputOutcome::Allow)
            .map(|(path, _, why)| ConfigError { path: path.to_owned(), message: format!("allow: {why}") })
            .collect()
    }

    /// Route ids, in policy order.
    pub fn route_ids(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|r| &*r.id)
    }

    /// Rule ids, in policy order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| &*r.id)
    }
}

/// serde_json appends " at line L column C"; the JSON path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message.get(..i).unwrap_or(message).to_owned(),
        None => message.to_owned(),
    }
}

fn check_id(id: &str, at: &str, errs: &mut ConfigErrors) {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        // Ids become metric names and log fields: keep them to a safe alphabet.
        errs.push(at, format!("id {id:?} must be 1 to 64 characters of a-z, A-Z, 0-9, '-' or '_'"));
    }
}

fn compile_routes(docs: &[RouteDoc], errs: &mut ConfigErrors) -> Vec<Route> {
    if docs.is_empty() {
        errs.push("routes", "at least one route is needed, or the policy guards nothing");
    }
    let mut ids = HashSet::new();
    let mut routes = Vec::with_capacity(docs.len());
    for (i, doc) in docs.iter().enumerate() {
        let at = format!("routes[{i}]");
        check_id(&doc.id, &format!("{at}.id"), errs);
        if !ids.insert(doc.id.as_str()) {
            errs.push(format!("{at}.id"), format!("duplicate route id {:?}", doc.id));
        }
        let conditions = match (&doc.matcher, doc.extract.preset) {
            (Some(m), _) => vec![compile_match(m, &format!("{at}.match"), errs)],
            (None, Some(preset)) => preset
                .default_match(doc.kind)
                .iter()
                .map(|m| compile_match(m, &format!("{at}.extract.preset"), errs))
                .collect(),
            (None, None) => {
                errs.push(
                    format!("{at}.match"),
                    "a route without a preset needs a match (use {} for any request)",
                );
                continue;
            }
        };
        for (j, status) in doc.success_status.iter().enumerate() {
            if !(100..=599).contains(status) {
                errs.push(format!("{at}.success_status[{j}]"), format!("{status} is not an HTTP status"));
            }
        }
        if doc.kind == RouteKind::Send && !doc.success_status.is_empty() {
            errs.push(format!("{at}.success_status"), "only confirm routes have success statuses");
        }
        if doc.kind == RouteKind::Send && (doc.success_header.is_some() || doc.success_json.is_some()) {
            errs.push(at.clone(), "only confirm routes have success_header or success_json");
        }
        let success_header = doc.success_header.as_ref().map(|h| {
            if h.name.is_empty() || h.name.contains([':', ' ']) {
                errs.push(format!("{at}.success_header.name"), format!("{:?} is not a header name", h.name));
            }
            (h.name.to_ascii_lowercase(), h.equals.clone())
        });
        // Twilio Verify answers 200 to a wrong code, with "status": "pending": a confirm route
        // reading it judges success from the body unless told otherwise.
        let twilio_default = (doc.kind == RouteKind::Confirm
            && doc.extract.preset == Some(crate::extract::Preset::TwilioVerify)
            && doc.success_json.is_none()
            && doc.success_header.is_none())
        .then(|| SuccessJsonDoc { field: "status".to_owned(), equals: vec!["approved".to_owned()] });
        let success_json = doc.success_json.as_ref().or(twilio_default.as_ref()).map(|j| {
            let path: Vec<String> = j.field.split('.').map(str::to_owned).collect();
            if path.iter().any(String::is_empty) {
                errs.push(
                    format!("{at}.success_json.field"),
                    "a dotted path of non-empty keys, e.g. \"status\"",
                );
            }
            if j.equals.is_empty() {
                errs.push(format!("{at}.success_json.equals"), "list at least one value");
            }
            (path, j.equals.clone())
        });
        let extractor = doc.extract.compile(&format!("{at}.extract"), errs);
        if let Some(extractor) = extractor {
            routes.push(Route {
                id: Arc::from(doc.id.as_str()),
                kind: doc.kind,
                conditions,
                refusal: doc
                    .refusal
                    .or_else(|| doc.extract.preset.map(|p| p.refusal_format()))
                    .unwrap_or_default(),
                extractor,
                success: ConfirmSuccess {
                    statuses: doc.success_status.clone(),
                    header: success_header,
                    json: success_json,
                },
            });
        }
    }
    routes
}

fn compile_match(m: &MatchDoc, at: &str, errs: &mut ConfigErrors) -> Conditions {
    let mut hosts = Vec::new();
    for (j, host) in m.hosts.iter().enumerate() {
        let host = host.to_ascii_lowercase();
        if host.is_empty() || host.contains(['/', ' ', ':']) {
            errs.push(
                format!("{at}.hosts[{j}]"),
                format!("{host:?} is not a host name (no scheme, port or path)"),
            );
        } else if let Some(suffix) = host.strip_prefix("*.") {
            hosts.push(HostPattern::Suffix(format!(".{suffix}")));
        } else if host.contains('*') {
            errs.push(format!("{at}.hosts[{j}]"), "a wildcard is only allowed as a leading \"*.\"");
        } else {
            hosts.push(HostPattern::Exact(host));
        }
    }
    let mut methods = Vec::new();
    for (j, method) in m.methods.iter().enumerate() {
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            errs.push(format!("{at}.methods[{j}]"), format!("{method:?} is not an HTTP method"));
        }
        methods.push(method.to_ascii_uppercase());
    }
    let mut paths = Vec::new();
    match &m.path {
        None => {}
        Some(PathMatchDoc::AnyOf(list)) => {
            if list.is_empty() {
                errs.push(format!("{at}.path.any_of"), "list at least one path condition");
            }
            for (j, p) in list.iter().enumerate() {
                compile_path_match(p, &format!("{at}.path.any_of[{j}]"), &mut paths, errs);
            }
        }
        Some(p) => compile_path_match(p, &format!("{at}.path"), &mut paths, errs),
    }
    let mut headers = Vec::new();
    for (j, h) in m.headers.iter().enumerate() {
        let name = h.name.to_ascii_lowercase();
        if name.is_empty() || name.contains([':', ' ']) {
            errs.push(format!("{at}.headers[{j}].name"), format!("{:?} is not a header name", h.name));
        }
        headers.push(match (&h.equals, &h.prefix, &h.any_of) {
            (None, None, None) => HeaderCondition::Present(name),
            (Some(v), None, None) => HeaderCondition::Equals(name, v.clone()),
            (None, Some(p), None) => HeaderCondition::Prefix(name, p.clone()),
            (None, None, Some(values)) => {
                if values.is_empty() {
                    errs.push(format!("{at}.headers[{j}].any_of"), "list at least one value");
                }
                HeaderCondition::AnyOf(name, values.clone())
            }
            _ => {
                errs.push(format!("{at}.headers[{j}]"), "set only one of equals, prefix and any_of");
                HeaderCondition::Present(name)
            }
        });
    }
    let mut params = Vec::new();
    for (j, p) in m.params.iter().enumerate() {
        if p.name.is_empty() {
            errs.push(format!("{at}.params[{j}].name"), "empty parameter name");
        }
        if p.any_of.is_empty() {
            errs.push(format!("{at}.params[{j}].any_of"), "list at least one value");
        }
        params.push(ParamCondition { name: p.name.clone(), values: p.any_of.clone() });
    }
    let mut json = Vec::new();
    for (j, c) in m.json.iter().enumerate() {
        let path: Vec<String> = c.field.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            errs.push(
                format!("{at}.json[{j}].field"),
                "a dotted path of non-empty keys, e.g. \"ChallengeName\"",
            );
        }
        if c.any_of.is_empty() {
            errs.push(format!("{at}.json[{j}].any_of"), "list at least one value");
        }
        json.push(JsonCondition { path, values: c.any_of.clone() });
    }
    Conditions { hosts, methods, paths, headers, params, json }
}

fn compile_path_match(doc: &PathMatchDoc, at: &str, out: &mut Vec<PathPattern>, errs: &mut ConfigErrors) {
    let p = match doc {
        PathMatchDoc::Exact(p) | PathMatchDoc::Prefix(p) | PathMatchDoc::Pattern(p) => p,
        PathMatchDoc::AnyOf(_) => {
            errs.push(at, "any_of cannot nest");
            return;
        }
    };
    if !p.starts_with('/') {
        errs.push(at, format!("{p:?} must start with '/'"));
        return;
    }
    match doc {
        PathMatchDoc::Exact(p) => out.push(PathPattern::Exact(crate::routes::normalize_path(p))),
        PathMatchDoc::Prefix(p) => {
            // A prefix keeps its trailing slash meaning: "/api/" must not match "/apix".
            let mut norm = crate::routes::normalize_path(p);
            if p.ends_with('/') && norm != "/" {
                norm.push('/');
            }
            out.push(PathPattern::Prefix(norm));
        }
        _ => {
            let norm = crate::routes::normalize_path(p);
            let mut segments = Vec::new();
            for segment in norm.split('/').skip(1).filter(|s| !s.is_empty()) {
                if segment == "*" {
                    segments.push(None);
                } else if segment.contains('*') {
                    errs.push(
                        at,
                        format!("{p:?}: '*' stands for a whole segment, as in /v2/Services/*/Verifications"),
                    );
                    return;
                } else {
                    segments.push(Some(segment.to_owned()));
                }
            }
            out.push(PathPattern::Segments(segments));
        }
    }
}

/// `inputs.on_invalid_number: "challenge"` needs what a challenging rule needs: tokens to verify
/// and, on every send route, a place to read them from.
fn check_invalid_number_challenge(doc: &PolicyDoc, errs: &mut ConfigErrors) {
    if doc.inputs.on_invalid_number != InvalidNumberOutcome::Challenge {
        return;
    }
    let at = "inputs.on_invalid_number";
    check_challenge_answerable(doc, at, errs);
}

/// A challenge something other than a rule asks for needs what a challenging rule needs: tokens
/// to verify and, on every send route, a place to read them from.
fn check_challenge_answerable(doc: &PolicyDoc, at: &str, errs: &mut ConfigErrors) {
    if doc.captcha.is_none() {
        errs.push(at, "challenge needs a top-level \"captcha\" section to verify tokens");
    }
    for route in doc.routes.iter().filter(|r| r.kind == RouteKind::Send) {
        if route.extract.token.is_none() && route.extract.preset.is_none() {
            errs.push(
                at,
                format!(
                    "route {:?} has no extract.token source, so a challenge could never be answered",
                    route.id
                ),
            );
        }
    }
}

fn check_inputs(inputs: &InputsDoc, errs: &mut ConfigErrors) {
    if inputs.max_body_bytes == 0 || inputs.max_body_bytes > MAX_BODY_LIMIT {
        errs.push("inputs.max_body_bytes", format!("must be between 1 and {MAX_BODY_LIMIT}"));
    }
    if inputs.max_numbers == 0 || inputs.max_numbers > MAX_NUMBERS_LIMIT {
        errs.push("inputs.max_numbers", format!("must be between 1 and {MAX_NUMBERS_LIMIT}"));
    }
}

fn non_zero(value: u32, at: &str, errs: &mut ConfigErrors) -> Option<NonZeroU32> {
    let nz = NonZeroU32::new(value);
    if nz.is_none() {
        errs.push(at, "must be at least 1");
    }
    nz
}

/// A rolling baseline's span (`at` is the object holding both fields).
fn check_history(history_windows: u32, min_history_windows: u32, at: &str, errs: &mut ConfigErrors) {
    if !(1..=1000).contains(&history_windows) {
        errs.push(format!("{at}.history_windows"), "must be between 1 and 1000");
    }
    if min_history_windows > history_windows {
        errs.push(format!("{at}.min_history_windows"), "must be at most history_windows");
    }
}

/// `block_after_windows` turns a rule's challenge into a block: at least 1, on a challenge rule.
fn check_block_after_windows(value: Option<u32>, action: RuleAction, at: &str, errs: &mut ConfigErrors) {
    if value == Some(0) {
        errs.push(format!("{at}.block_after_windows"), "must be at least 1, or absent");
    }
    if value.is_some() && action != RuleAction::Challenge {
        errs.push(
            format!("{at}.block_after_windows"),
            "escalating to a block only makes sense for a rule whose action is challenge",
        );
    }
}

/// `number_intel.on_unavailable: "challenge"` needs what a challenging rule needs.
fn check_intel_challenge(doc: &PolicyDoc, errs: &mut ConfigErrors) {
    if doc.number_intel.as_ref().is_none_or(|n| n.on_unavailable != IntelOutcome::Challenge) {
        return;
    }
    let at = "number_intel.on_unavailable";
    check_challenge_answerable(doc, at, errs);
}

/// Compiled `risk` thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RiskThresholds {
    pub(crate) challenge_at: Option<u32>,
    pub(crate) block_at: Option<u32>,
}

/// Highest weight a rule may add, and so the scale thresholds are on.
const MAX_RISK_WEIGHT: u32 = 1000;

/// Risk weights only where thresholds read them, thresholds only where some rule has weight,
/// a challenge only where a token can answer it: anything else would silently score nothing.
fn check_risk(doc: &PolicyDoc, errs: &mut ConfigErrors) -> Option<RiskThresholds> {
    for (i, rule) in doc.rules.iter().enumerate() {
        if rule.risk > MAX_RISK_WEIGHT {
            errs.push(format!("rules[{i}].risk"), format!("must be between 0 and {MAX_RISK_WEIGHT}"));
        } else if rule.risk > 0 && doc.risk.is_none() {
            errs.push(
                format!("rules[{i}].risk"),
                "a risk weight needs a top-level \"risk\" section with challenge_at or block_at",
            );
        }
        if rule.risk > 0 && rule.reputation.is_some() {
            errs.push(format!("rules[{i}].risk"), "a reputation rule never fires, so it cannot add risk");
        }
    }
    let risk = doc.risk.as_ref()?;
    let (challenge_at, block_at) = (risk.challenge_at, risk.block_at);
    if challenge_at.is_none() && block_at.is_none() {
        errs.push("risk", "set challenge_at, block_at or both");
    }
    for (name, value) in [("challenge_at", challenge_at), ("block_at", block_at)] {
        if value.is_some_and(|v| v == 0) {
            errs.push(format!("risk.{name}"), "must be at least 1 (0 would act on every request)");
        }
    }
    if let (Some(c), Some(b)) = (challenge_at, block_at) {
        if b <= c {
            errs.push("risk.block_at", "must be greater than challenge_at");
        }
    }
    if !doc.rules.iter().any(|r| r.risk > 0) {
        errs.push("risk", "no rule has a risk weight; give rules a \"risk\" to score with");
    }
    if challenge_at.is_some() {
        check_challenge_answerable(doc, "risk.challenge_at", errs);
    }
    Some(RiskThresholds { challenge_at, block_at })
}

/// At most one `reputation` rule (trust means one thing per policy), and `skip_trusted` only
/// where one exists: without it no number is ever trusted, and the flag would silently do nothing.
/// The import path is answered by the guard before any route is matched: a route with the same
/// exact path would never see a request.
fn check_import_path_is_not_a_route(doc: &PolicyDoc, errs: &mut ConfigErrors) {
    let Some(import) = &doc.trust_import else { return };
    for (i, route) in doc.routes.iter().enumerate() {
        let exact = route.matcher.as_ref().and_then(|m| m.path.as_ref());
        if matches!(exact, Some(PathMatchDoc::Exact(p)) if *p == import.path) {
            errs.push(
                format!("routes[{i}].match.path.exact"),
                "is trust_import.path: the guard answers that path itself, so this route would never match",
            );
        }
    }
}

fn check_reputation(doc: &PolicyDoc, errs: &mut ConfigErrors) {
    let reputation: Vec<usize> =
        doc.rules.iter().enumerate().filter(|(_, r)| r.reputation.is_some()).map(|(i, _)| i).collect();
    for &i in reputation.iter().skip(1) {
        errs.push(format!("rules[{i}].reputation"), "a policy has at most one reputation rule");
    }
    if reputation.is_empty() {
        for (i, rule) in doc.rules.iter().enumerate() {
            if rule.skip_trusted {
                errs.push(
                    format!("rules[{i}].skip_trusted"),
                    "no rule of kind reputation tells which numbers are trusted; add one or drop skip_trusted",
                );
            }
        }
    }
}

/// Rules judged on confirmed codes learn nothing without a confirm route: a conversion rule
/// would see every scope at 0% and refuse each busy one, a reputation rule would trust no one.
fn check_outcome_rules_have_a_confirm_route(doc: &PolicyDoc, errs: &mut ConfigErrors) {
    if doc.routes.iter().any(|r| r.kind == RouteKind::Confirm) {
        return;
    }
    for (i, rule) in doc.rules.iter().enumerate() {
        if rule.conversion.is_some() {
            errs.push(
                format!("rules[{i}].conversion"),
                "no route has kind confirm, so no code is ever credited: every scope would convert at 0% \
                 and be refused once busy; add the route that checks codes",
            );
        }
        if rule.reputation.is_some() {
            errs.push(
                format!("rules[{i}].reputation"),
                "no route has kind confirm, so no number is ever trusted; add the route that checks codes",
            );
        }
        if rule.client_country.as_ref().is_some_and(|c| c.proven_pairs.is_some()) {
            errs.push(
                format!("rules[{i}].client_country.proven_pairs"),
                "no route has kind confirm, so no pair is ever proven; add the route that checks codes",
            );
        }
    }
}

/// A rule counted per CAPTCHA solver runs after the token is verified, when the request's risk
/// and challenge are already settled: only an answer that refuses or reports fits it.
fn check_solver_rule(doc: &RuleDoc, at: &str, part: &str, policy: &PolicyDoc, errs: &mut ConfigErrors) {
    if policy.captcha.is_none() {
        errs.push(
            format!("{at}.{part}"),
            "captcha_solver needs a top-level \"captcha\" section: the solver is named by siteverify",
        );
    }
    if doc.action == RuleAction::Challenge {
        errs.push(
            format!("{at}.action"),
            "a rule counted per captcha_solver judges challenges already solved; use block, throttle or log",
        );
    }
    if doc.risk > 0 {
        errs.push(
            format!("{at}.risk"),
            "a rule counted per captcha_solver is judged after the risk score is settled; leave risk at 0",
        );
    }
    if doc.skip_trusted {
        errs.push(
            format!("{at}.skip_trusted"),
            "a rule counted per captcha_solver counts devices, not numbers; remove skip_trusted",
        );
    }
}

fn seconds_to_ms(seconds: u32) -> u64 {
    u64::from(seconds) * 1000
}

fn compile_rule(
    doc: &RuleDoc,
    at: &str,
    route_ids: &[&str],
    send_routes: &[usize],
    policy: &PolicyDoc,
    provider: Option<&crate::intel::NumberIntel>,
    errs: &mut ConfigErrors,
) -> Option<Rule> {
    check_id(&doc.id, &format!("{at}.id"), errs);
    let mut routes = Vec::new();
    for (j, id) in doc.routes.iter().enumerate() {
        match route_ids.iter().position(|r| r == id) {
            Some(index) if send_routes.contains(&index) || doc.rate_limit.is_some() => routes.push(index),
            Some(_) => errs.push(
                format!("{at}.routes[{j}]"),
                format!(
                    "route {id:?} is a confirm route; only rate_limit rules apply to confirm routes \
                     (origin must see every confirm)"
                ),
            ),
            None => errs.push(format!("{at}.routes[{j}]"), format!("no route has id {id:?}")),
        }
    }
    if doc.routes.is_empty() {
        routes = send_routes.to_vec();
    }
    let kinds = [
        doc.country.is_some(),
        doc.number_type.is_some(),
        doc.pattern.is_some(),
        doc.prefix.is_some(),
        doc.fingerprint.is_some(),
        doc.client.is_some(),
        doc.client_country.is_some(),
        doc.bot_score.is_some(),
        doc.captcha.is_some(),
        doc.rate_limit.is_some(),
        doc.backoff.is_some(),
        doc.adjacent.is_some(),
        doc.conversion.is_some(),
        doc.reputation.is_some(),
        doc.surge.is_some(),
        doc.number_intel.is_some(),
    ];
    let count = kinds.iter().filter(|k| **k).count();
    if count != 1 {
        errs.push(
            at,
            format!(
                "a rule needs exactly one of country, number_type, pattern, prefix, fingerprint, \
                 client, client_country, bot_score, captcha, rate_limit, backoff, adjacent, conversion, \
                 reputation, surge, number_intel (found {count})"
            ),
        );
        return None;
    }
    let kind = match &doc.number_intel {
        Some(intel) => RuleKind::NumberIntel(crate::intel::IntelRule::compile(intel, at, provider, errs)),
        None => compile_kind(doc, at, errs)?,
    };
    if doc.action == RuleAction::Challenge && policy.captcha.is_none() {
        errs.push(
            format!("{at}.action"),
            "action challenge needs a top-level \"captcha\" section to verify tokens",
        );
    }
    if matches!(kind, RuleKind::Captcha) && doc.action != RuleAction::Challenge {
        errs.push(format!("{at}.action"), "a captcha rule's action must be challenge");
    }
    let solver_at = match &kind {
        RuleKind::RateLimit { key, .. } if key.contains(&KeyPart::CaptchaSolver) => Some("rate_limit.key"),
        RuleKind::Conversion(p) if p.scope == ConversionScope::CaptchaSolver => Some("conversion.scope"),
        _ => None,
    };
    if let Some(part) = solver_at {
        check_solver_rule(doc, at, part, policy, errs);
    }
    // A number scope with the option is refused in `compile_kind` already.
    let counts_refusals_at = match &kind {
        RuleKind::Adjacent(p) if p.count_intel_refusals => Some("adjacent"),
        RuleKind::Conversion(p) if p.count_intel_refusals && p.scope.is_sender() => Some("conversion"),
        _ => None,
    };
    if let (Some(kind), None) = (counts_refusals_at, &policy.number_intel) {
        errs.push(
            format!("{at}.{kind}.count_intel_refusals"),
            "seeing the sends number intelligence refuses needs a top-level \"number_intel\" section",
        );
    }
    if doc.action == RuleAction::Challenge {
        for &r in &routes {
            let has_token = policy
                .routes
                .get(r)
                .is_some_and(|route| route.extract.token.is_some() || route.extract.preset.is_some());
            if !has_token {
                let id = route_ids.get(r).copied().unwrap_or("?");
                errs.push(
                    format!("{at}.action"),
                    format!(
                        "route {id:?} has no extract.token source, so a challenge could never be answered"
                    ),
                );
            }
        }
    }
    if doc.action == RuleAction::Throttle && !kind.is_stateful() {
        errs.push(
            format!("{at}.action"),
            "throttle needs a rule with a time component (rate_limit, backoff, adjacent, conversion); use block",
        );
    }
    if matches!(kind, RuleKind::Reputation(_)) {
        if doc.action != RuleAction::Log {
            errs.push(
                format!("{at}.action"),
                "a reputation rule only reports which numbers are trusted: action must be log",
            );
        }
        if doc.skip_trusted {
            errs.push(format!("{at}.skip_trusted"), "a reputation rule cannot skip the numbers it trusts");
        }
    }
    Some(Rule {
        id: Arc::from(doc.id.as_str()),
        action: doc.action,
        shadow: doc.shadow,
        skip_trusted: doc.skip_trusted,
        risk: doc.risk.min(MAX_RISK_WEIGHT),
        routes,
        kind,
    })
}

fn compile_kind(doc: &RuleDoc, at: &str, errs: &mut ConfigErrors) -> Option<RuleKind> {
    if let Some(c) = &doc.country {
        let mut sets = [CountrySet::default(), CountrySet::default(), CountrySet::default()];
        for (set, (name, entries)) in
            sets.iter_mut().zip([("allow", &c.allow), ("deny", &c.deny), ("monitor", &c.monitor)])
        {
            for (j, entry) in entries.iter().enumerate() {
                if let Err(message) = set.add(entry) {
                    errs.push(format!("{at}.country.{name}[{j}]"), message);
                }
            }
        }
        if c.allow.is_empty() && c.deny.is_empty() && c.monitor.is_empty() {
            errs.push(format!("{at}.country"), "list at least one country in allow, deny or monitor");
        }
        let [allow, deny, monitor] = sets;
        return Some(RuleKind::Country { allow, deny, monitor });
    }
    if let Some(t) = &doc.number_type {
        let (mut allow, mut deny) = (TypeSet::default(), TypeSet::default());
        t.allow.iter().for_each(|x| allow.insert(*x));
        t.deny.iter().for_each(|x| deny.insert(*x));
        if allow.is_empty() && deny.is_empty() {
            errs.push(format!("{at}.number_type"), "list at least one type in allow or deny");
        }
        return Some(RuleKind::NumberType { allow, deny });
    }
    if let Some(p) = &doc.pattern {
        let mut compile = |name: &str, list: &[String]| {
            list.iter()
                .enumerate()
                .filter_map(|(j, src)| match NumberPattern::new(src) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        errs.push(
                            format!("{at}.pattern.{name}[{j}]"),
                            format!("invalid regular expression: {e}"),
                        );
                        None
                    }
                })
                .collect::<Vec<_>>()
        };
        let allow = compile("allow", &p.allow);
        let deny = compile("deny", &p.deny);
        if p.allow.is_empty() && p.deny.is_empty() {
            errs.push(format!("{at}.pattern"), "list at least one pattern in allow or deny");
        }
        return Some(RuleKind::Pattern { allow, deny });
    }
    if let Some(p) = &doc.prefix {
        let mut set = PrefixSet::default();
        for (j, entry) in p.prefixes.iter().enumerate() {
            match parse_prefix(entry) {
                Ok(digits) => {
                    set.insert(digits);
                }
                Err(message) => errs.push(format!("{at}.prefix.prefixes[{j}]"), message),
            }
        }
        if p.prefixes.is_empty() {
            errs.push(format!("{at}.prefix.prefixes"), "list at least one prefix");
        }
        return Some(RuleKind::Prefix(set));
    }
    if let Some(f) = &doc.fingerprint {
        if f.deny.is_empty() && !f.missing {
            errs.push(format!("{at}.fingerprint"), "list fingerprints in deny, or set missing to true");
        }
        let deny = f.deny.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        return Some(RuleKind::Fingerprint { kind: f.kind, deny, missing: f.missing });
    }
    if let Some(c) = &doc.client {
        let mut missing_headers = Vec::with_capacity(c.missing_headers.len());
        for (j, name) in c.missing_headers.iter().enumerate() {
            let lowered = name.trim().to_ascii_lowercase();
            if lowered.is_empty() || !lowered.bytes().all(is_header_name_byte) {
                errs.push(format!("{at}.client.missing_headers[{j}]"), "must be an HTTP header name");
            }
            missing_headers.push(lowered);
        }
        if c.missing_headers.is_empty() && c.user_agents.is_empty() {
            errs.push(format!("{at}.client"), "list headers in missing_headers or classes in user_agents");
        }
        return Some(RuleKind::Client { missing_headers, user_agents: c.user_agents.clone() });
    }
    if let Some(c) = &doc.client_country {
        let header = c.header.trim().to_ascii_lowercase();
        if header.is_empty() || !header.bytes().all(is_header_name_byte) {
            errs.push(format!("{at}.client_country.header"), "must be an HTTP header name");
        }
        let tor_header = c.tor_header.as_ref().map(|name| {
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() || !name.bytes().all(is_header_name_byte) {
                errs.push(format!("{at}.client_country.tor_header"), "must be an HTTP header name");
            } else if name == header {
                errs.push(
                    format!("{at}.client_country.tor_header"),
                    "must differ from header: it marks Tor clients with `true`, not a country",
                );
            }
            name
        });
        let proven_pairs = c.proven_pairs.as_ref().map(|p| {
            let at = format!("{at}.client_country.proven_pairs");
            non_zero(p.min_confirms, &format!("{at}.min_confirms"), errs);
            if !(p.min_ratio > 0.0 && p.min_ratio <= 1.0) {
                errs.push(format!("{at}.min_ratio"), "must be greater than 0 and at most 1");
            }
            non_zero(p.window_seconds, &format!("{at}.window_seconds"), errs);
            ProvenPairsParams {
                min_confirms: p.min_confirms,
                min_ratio: p.min_ratio,
                window_ms: seconds_to_ms(p.window_seconds),
            }
        });
        return Some(RuleKind::ClientCountry {
            header,
            missing: c.missing,
            tor: c.tor,
            tor_header,
            proven_pairs,
        });
    }
    if let Some(b) = &doc.bot_score {
        if !BOT_SCORE_BELOW_RANGE.contains(&b.below) {
            errs.push(format!("{at}.bot_score.below"), "must be between 2 and 99 (scores run from 1 to 99)");
        }
        let rule = BotScoreRule { below: b.below, missing: b.missing, verified_bots: b.verified_bots };
        return Some(RuleKind::BotScore(rule));
    }
    if doc.captcha.is_some() {
        return Some(RuleKind::Captcha);
    }
    if let Some(r) = &doc.rate_limit {
        let at = format!("{at}.rate_limit");
        if r.key.is_empty() {
            errs.push(format!("{at}.key"), "list at least one key part, e.g. [\"client_ip\"]");
        }
        let mut key = Vec::with_capacity(r.key.len());
        for (j, part) in r.key.iter().enumerate() {
            key.push(match part {
                KeyPartDoc::ClientIp => KeyPart::ClientIp { v4: 32, v6: 64 },
                KeyPartDoc::ClientNet(net) => {
                    let (v4, v6) = client_net_bits(net, &format!("{at}.key[{j}]"), errs);
                    KeyPart::ClientIp { v4, v6 }
                }
                KeyPartDoc::Number => KeyPart::Number,
                KeyPartDoc::Prefix(n) => {
                    if !(1..=15).contains(n) {
                        errs.push(format!("{at}.key[{j}].prefix"), "must keep 1 to 15 digits");
                    }
                    KeyPart::Prefix(usize::from(*n))
                }
                KeyPartDoc::Country => KeyPart::Country,
                KeyPartDoc::CallingCode => KeyPart::CallingCode,
                KeyPartDoc::Route => KeyPart::Route,
                KeyPartDoc::Header(name) => {
                    if name.is_empty() {
                        errs.push(format!("{at}.key[{j}].header"), "header name is empty");
                    }
                    KeyPart::Header(name.to_ascii_lowercase())
                }
                KeyPartDoc::Fingerprint(kind) => KeyPart::Fingerprint(*kind),
                KeyPartDoc::CaptchaSolver => KeyPart::CaptchaSolver,
            });
        }
        let rate = non_zero(r.rate, &format!("{at}.rate"), errs);
        let period = non_zero(r.per_seconds, &format!("{at}.per_seconds"), errs);
        let burst = non_zero(r.burst, &format!("{at}.burst"), errs);
        let (rate, period, burst) = (rate?, period?, burst?);
        if GcraParams::horizon_seconds(rate, period, burst) > MAX_HORIZON_SECONDS {
            errs.push(
                format!("{at}.per_seconds"),
                format!(
                    "per_seconds * burst / rate must be at most {MAX_HORIZON_SECONDS} (ten years); \
                     a longer limit cannot be represented"
                ),
            );
        }
        let params = GcraParams::new(rate, period, burst);
        return Some(RuleKind::RateLimit { key, params });
    }
    if let Some(b) = &doc.backoff {
        let at = format!("{at}.backoff");
        non_zero(b.base_seconds, &format!("{at}.base_seconds"), errs);
        non_zero(b.factor, &format!("{at}.factor"), errs);
        if b.max_seconds < b.base_seconds {
            errs.push(format!("{at}.max_seconds"), "must be at least base_seconds");
        }
        if b.reset_after_seconds < b.base_seconds {
            errs.push(format!("{at}.reset_after_seconds"), "must be at least base_seconds");
        }
        return Some(RuleKind::Backoff(BackoffParams {
            base_ms: seconds_to_ms(b.base_seconds),
            factor: b.factor,
            max_ms: seconds_to_ms(b.max_seconds),
            reset_after_ms: seconds_to_ms(b.reset_after_seconds),
        }));
    }
    if let Some(a) = &doc.adjacent {
        let at = format!("{at}.adjacent");
        if !(1..=MAX_SUFFIX_DIGITS).contains(&a.suffix_digits) {
            errs.push(format!("{at}.suffix_digits"), format!("must be between 1 and {MAX_SUFFIX_DIGITS}"));
        }
        if a.max_distinct == 0
            || u64::from(a.max_distinct) >= 10u64.pow(u32::from(a.suffix_digits.min(MAX_SUFFIX_DIGITS)))
        {
            errs.push(
                format!("{at}.max_distinct"),
                "must be at least 1 and less than the numbers in one block",
            );
        }
        if a.max_distinct > 256 {
            errs.push(format!("{at}.max_distinct"), "must be at most 256 (state per block stays small)");
        }
        non_zero(a.window_seconds, &format!("{at}.window_seconds"), errs);
        non_zero(a.block_seconds, &format!("{at}.block_seconds"), errs);
        non_zero(a.escalation_factor, &format!("{at}.escalation_factor"), errs);
        if a.max_block_seconds < a.block_seconds {
            errs.push(format!("{at}.max_block_seconds"), "must be at least block_seconds");
        }
        return Some(RuleKind::Adjacent(AdjacentParams {
            suffix_digits: a.suffix_digits,
            max_distinct: a.max_distinct,
            window_ms: seconds_to_ms(a.window_seconds),
            block_ms: seconds_to_ms(a.block_seconds),
            escalation_factor: a.escalation_factor,
            max_block_ms: seconds_to_ms(a.max_block_seconds),
            count_intel_refusals: a.count_intel_refusals,
        }));
    }
    if let Some(c) = &doc.conversion {
        let at = format!("{at}.conversion");
        let scope = compile_scope(&c.scope, &at, errs);
        non_zero(c.min_sends, &format!("{at}.min_sends"), errs);
        if !(c.min_ratio > 0.0 && c.min_ratio <= 1.0) {
            errs.push(format!("{at}.min_ratio"), "must be greater than 0 and at most 1");
        }
        non_zero(c.window_seconds, &format!("{at}.window_seconds"), errs);
        non_zero(c.block_seconds, &format!("{at}.block_seconds"), errs);
        non_zero(c.escalation_factor, &format!("{at}.escalation_factor"), errs);
        let max_block_seconds = c.max_block_seconds.unwrap_or(c.block_seconds.max(86_400));
        if max_block_seconds < c.block_seconds {
            errs.push(format!("{at}.max_block_seconds"), "must be at least block_seconds");
        }
        let baseline = c.baseline.as_ref().map(|b| {
            let at = format!("{at}.baseline");
            if !(b.factor > 0.0 && b.factor <= 1.0) {
                errs.push(format!("{at}.factor"), "must be greater than 0 and at most 1");
            }
            check_history(b.history_windows, b.min_history_windows, &at, errs);
            if b.min_window_sends == Some(0) {
                errs.push(format!("{at}.min_window_sends"), "must be at least 1, or absent");
            }
            ConversionBaseline {
                factor: b.factor,
                history_windows: b.history_windows.clamp(1, 1000),
                min_history_windows: b.min_history_windows,
                min_window_sends: b.min_window_sends.unwrap_or(c.min_sends).max(1),
            }
        });
        check_block_after_windows(c.block_after_windows, doc.action, &at, errs);
        if c.count_intel_refusals && !scope.is_sender() {
            // A number scope would let anyone's refused sends count against the real users in it.
            errs.push(
                format!("{at}.count_intel_refusals"),
                "only a \"captcha_solver\", \"client_ip\" or \"client_net\" scope counts refused sends: the scope is the sender's own",
            );
        }
        return Some(RuleKind::Conversion(ConversionParams {
            scope,
            min_sends: c.min_sends,
            min_ratio: c.min_ratio,
            window_ms: seconds_to_ms(c.window_seconds),
            block_ms: seconds_to_ms(c.block_seconds),
            escalation_factor: c.escalation_factor.max(1),
            max_block_ms: seconds_to_ms(max_block_seconds),
            baseline,
            block_after_windows: c.block_after_windows,
            count_intel_refusals: c.count_intel_refusals,
        }));
    }
    if let Some(g) = &doc.surge {
        let at = format!("{at}.surge");
        let scope = compile_scope(&g.scope, &at, errs);
        if scope.is_sender() {
            errs.push(
                format!("{at}.scope"),
                "a surge is judged per number scope: use \"country\" or {\"prefix\": N}",
            );
        }
        non_zero(g.window_seconds, &format!("{at}.window_seconds"), errs);
        check_history(g.history_windows, g.min_history_windows, &at, errs);
        if !(g.factor > 1.0 && g.factor <= 1000.0) {
            errs.push(format!("{at}.factor"), "must be over 1 and at most 1000");
        }
        non_zero(g.floor, &format!("{at}.floor"), errs);
        check_block_after_windows(g.block_after_windows, doc.action, &at, errs);
        return Some(RuleKind::Surge(SurgeParams {
            scope,
            window_ms: seconds_to_ms(g.window_seconds),
            history_windows: g.history_windows.max(1),
            min_history_windows: g.min_history_windows,
            factor: g.factor,
            floor: g.floor,
            block_after_windows: g.block_after_windows,
        }));
    }
    if let Some(r) = &doc.reputation {
        let at = format!("{at}.reputation");
        if !(60..=MAX_TRUST_SECONDS).contains(&r.trust_seconds) {
            errs.push(
                format!("{at}.trust_seconds"),
                format!("must be between 60 and {MAX_TRUST_SECONDS} (a year)"),
            );
        }
        if !(10..=86_400).contains(&r.confirm_within_seconds) {
            errs.push(format!("{at}.confirm_within_seconds"), "must be between 10 and 86400 (a day)");
        }
        return Some(RuleKind::Reputation(ReputationParams {
            trust_ms: seconds_to_ms(r.trust_seconds),
            confirm_within_ms: seconds_to_ms(r.confirm_within_seconds),
        }));
    }
    None
}

/// The prefix lengths of a `client_net` at `at`, each within its address family.
fn client_net_bits(net: &ClientNetDoc, at: &str, errs: &mut ConfigErrors) -> (u8, u8) {
    if !(1..=32).contains(&net.v4) {
        errs.push(format!("{at}.client_net.v4"), "must keep 1 to 32 bits");
    }
    if !(1..=128).contains(&net.v6) {
        errs.push(format!("{at}.client_net.v6"), "must keep 1 to 128 bits");
    }
    (net.v4.clamp(1, 32), net.v6.clamp(1, 128))
}

/// A counting scope: a country, or a prefix of 2 to 15 digits.
fn compile_scope(doc: &ConversionScopeDoc, at: &str, errs: &mut ConfigErrors) -> ConversionScope {
    match *doc {
        ConversionScopeDoc::Country => ConversionScope::Country,
        ConversionScopeDoc::Prefix(n) => {
            if !(2..=15).contains(&n) {
                errs.push(format!("{at}.scope.prefix"), "must keep 2 to 15 digits");
            }
            ConversionScope::Prefix(n)
        }
        ConversionScopeDoc::CaptchaSolver => ConversionScope::CaptchaSolver,
        ConversionScopeDoc::ClientIp => ConversionScope::ClientIp { v4: 32, v6: 64 },
        ConversionScopeDoc::ClientNet(net) => {
            let (v4, v6) = client_net_bits(&net, &format!("{at}.scope"), errs);
            ConversionScope::ClientIp { v4, v6 }
        }
    }
}

/// Longest trust a confirmation can earn.
const MAX_TRUST_SECONDS: u32 = 366 * 86_400;
