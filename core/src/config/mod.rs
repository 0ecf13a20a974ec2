//! Policy loading: JSON → typed document → checked, compiled [`Policy`].

pub mod error;
mod objects_only;
pub mod schema;

mod checks;
mod routes;
mod rules;

use std::collections::HashSet;

pub use error::{ConfigError, ConfigErrors};
pub use schema::*;

use crate::limit::ConversionScope;
use crate::phone::{PhoneParser, Region};
use crate::routes::Route;
use crate::rules::{parse_prefix, KeyPart, PrefixSet, Rule, RuleKind};
use checks::{
    check_bound_number, check_import_path_is_not_a_route, check_inputs, check_intel_challenge,
    check_invalid_number_challenge, check_outcome_rules_have_a_confirm_route, check_reputation, check_risk,
};
use objects_only::ObjectsOnly;
use routes::compile_routes;
use rules::compile_rule;

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
    /// CORS headers on local replies to pages of the listed origins.
    pub(crate) cors: Option<crate::cors::Cors>,
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
        let mut routes = compile_routes(&doc.routes, &mut errs);
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
        check_bound_number(doc, &mut errs);
        let reputation = rules
            .iter()
            .enumerate()
            .find(|(_, r)| matches!(r.kind, RuleKind::Reputation(_)))
            .and_then(|(i, r)| Some((u16::try_from(i).ok()?, r.id.clone())));
        let rule_of = |kind: fn(&RuleKind) -> bool| {
            let (index, rule) = rules.iter().enumerate().find(|(_, r)| kind(&r.kind))?;
            Some((u16::try_from(index).ok()?, rule.id.clone()))
        };
        let bound = rule_of(|k| matches!(k, RuleKind::BoundNumber { .. }));
        let sign_ins = rule_of(|k| matches!(k, RuleKind::BoundSignIns(_)));
        let trust_import = doc.trust_import.as_ref().and_then(|d| {
            crate::trust_import::TrustImport::compile(d, reputation, bound, sign_ins, &mut errs)
        });
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
            if let Some(action) = &captcha.expected_action {
                crate::captcha::check_expected_action(captcha.provider, action, &mut errs);
            }
            if let Some(key) = &captcha.site_key {
                crate::captcha::check_site_key(key, &mut errs);
            }
            if captcha.verify == CaptchaVerify::Origin {
                crate::captcha::check_verified_by_origin(captcha, &mut errs);
            }
        }
        let cors = doc.cors.as_ref().and_then(|d| crate::cors::Cors::compile(d, &mut errs));
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
        let captcha = doc.captcha.as_ref().map(crate::captcha::Captcha::from);
        if let Some(captcha) = &captcha {
            for route in &mut routes {
                let token =
                    doc.routes.iter().find(|d| *d.id == *route.id).and_then(|d| d.extract.token.as_ref());
                route.challenge_hint = Some(crate::captcha::challenge_hint(captcha, token));
            }
        }
        Ok(Policy {
            shadow: doc.shadow,
            parser: PhoneParser::new(default_region),
            default_region,
            routes,
            inputs: doc.inputs.clone(),
            safelist,
            rules,
            captcha,
            store: doc.store.clone(),
            uses_ja4h,
            uses_header_md5,
            uses_header_set,
            expose_findings: doc.expose_findings,
            risk,
            number_intel,
            edge_reads,
            trust_import,
            cors,
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
        let inputs_allowed = allowed
            .into_iter()
            .filter(|(_, outcome, _)| *outcome == InputOutcome::Allow)
            .map(|(path, _, why)| ConfigError { path: path.to_owned(), message: format!("allow: {why}") });
        inputs_allowed
            .chain(self.fresh_prefix_warnings())
            .chain(self.unbounded_account_warnings())
            .chain(self.unbound_account_warnings())
            .chain(self.spent_token_warnings())
            .collect()
    }

    /// A Firebase route whose tokens the guard would verify: Google verifies what the SDK sends
    /// (the site holds no secret for it), and a token is single-use, so a token the guard spent
    /// fails Google's own check.
    fn spent_token_warnings(&self) -> impl Iterator<Item = ConfigError> + '_ {
        let guard_verifies = self.captcha.as_ref().is_some_and(|c| c.verify == CaptchaVerify::Guard);
        self.routes
            .iter()
            .enumerate()
            .filter(move |(_, route)| {
                guard_verifies && route.preset == Some(crate::extract::Preset::Firebase)
            })
            .map(|(index, _)| ConfigError {
                path: format!("routes[{index}].extract.preset"),
                message: "Google verifies the tokens the Firebase SDKs send, and each is single-use: a \
                          challenge the guard verifies spends it and Google then refuses the send; set \
                          captcha.verify to \"origin\""
                    .to_owned(),
            })
    }

    /// A send route whose requests may name an account, with no `rate_limit` keyed by account
    /// on it: a reset or a resend by user name is then bounded only by the rules about the
    /// client, since no rule about the number sees it.
    fn unbounded_account_warnings(&self) -> impl Iterator<Item = ConfigError> + '_ {
        self.routes.iter().enumerate().filter_map(|(index, route)| {
            let bounded = self.rules.iter().any(|rule| {
                rule.routes.contains(&index)
                    && matches!(&rule.kind, RuleKind::RateLimit { key, .. } if key.contains(&KeyPart::Account))
            });
            (route.kind == RouteKind::Send && route.sends_by_account && !bounded).then(|| ConfigError {
                path: format!("routes[{index}].extract"),
                message: "its requests may name an account instead of a number (a reset or a resend by user \
                          name), which no rule about the number sees: add a rate_limit keyed by \
                          \"account\" so the SMS one account is sent stay bounded"
                    .to_owned(),
            })
        })
    }

    /// A send route of an API whose sign-up binds accounts to numbers (Cognito), with no
    /// `bound_number` rule on it: every account is then a budget of its own beside its number's,
    /// and accounts made for one number multiply what its limits allow.
    fn unbound_account_warnings(&self) -> impl Iterator<Item = ConfigError> + '_ {
        self.routes.iter().enumerate().filter_map(|(index, route)| {
            let binds =
                route.kind == RouteKind::Send && route.preset.is_some_and(|p| p.sends_by_bound_account());
            let bound = self.rules.iter().any(|rule| {
                rule.routes.contains(&index) && matches!(rule.kind, RuleKind::BoundNumber { .. })
            });
            (binds && !bound).then(|| ConfigError {
                path: format!("routes[{index}].extract"),
                message: "a resend or a reset by user name is judged by its account alone, never as a \
                          send to the account's number: add a bound_number rule so the sends of \
                          every account made for one number count against that number"
                    .to_owned(),
            })
        })
    }

    /// A surge per prefix that learns before it judges: the scope is the attacker's choice
    /// (any prefix he has numbers in), and a prefix this guard has not seen is learned from
    /// the campaign itself (docs/policy.md, Adaptive baselines).
    fn fresh_prefix_warnings(&self) -> impl Iterator<Item = ConfigError> + '_ {
        self.rules.iter().enumerate().filter_map(|(index, rule)| match &rule.kind {
            RuleKind::Surge(p)
                if matches!(p.scope, ConversionScope::Prefix(_)) && p.min_history_windows > 0 =>
            {
                Some(ConfigError {
                    path: format!("rules[{index}].surge.min_history_windows"),
                    message: format!(
                        "a prefix not sent to within history_windows is only learned for its first {} \
                         windows: a campaign moving to a fresh prefix passes them whole and becomes its \
                         baseline; 0 judges a new prefix against floor from its first send",
                        p.min_history_windows
                    ),
                })
            }
            _ => None,
        })
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

/// Compiled `risk` thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RiskThresholds {
    pub(crate) challenge_at: Option<u32>,
    pub(crate) block_at: Option<u32>,
}

/// Highest weight a rule may add, and so the scale thresholds are on.
const MAX_RISK_WEIGHT: u32 = 1000;

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
