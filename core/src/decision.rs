//! The decision: a plain value hosts turn into a response, plus its stable JSON error body.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::config::{RouteKind, RuleAction};
use crate::phone::NumberType;
pub use crate::refusal::RefusalFormat;
use crate::time::ceil_seconds;

/// What the host does with the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Forward to origin (with the decision headers).
    Allow,
    /// Ask for a verified CAPTCHA / Turnstile token.
    Challenge,
    /// 429 with Retry-After.
    Throttle,
    /// Refuse (403, or the input error's own status).
    Block,
    /// Answered by the guard itself, never forwarded: an import of trusted numbers
    /// (`trust_import`), 200 with what it did (503 when a write failed).
    Answer,
}

impl Action {
    /// The lower-case name (`allow`, `challenge`, `throttle`, `block`), as in `x-pumpguard-decision`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Challenge => "challenge",
            Action::Throttle => "throttle",
            Action::Block => "block",
            Action::Answer => "answer",
        }
    }
}

/// Stable reason codes: they appear in error bodies, logs and metric names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The number's country is not in a `country` rule's non-empty `allow`.
    CountryNotAllowed,
    /// The number's country is in a `country` rule's `deny`.
    CountryDenied,
    /// The number's country is in a `country` rule's `monitor`: report-only.
    CountryMonitored,
    /// The number type is not in a `number_type` rule's non-empty `allow`.
    NumberTypeNotAllowed,
    /// The number type is in a `number_type` rule's `deny`.
    NumberTypeDenied,
    /// The E.164 number matches no regex of a `pattern` rule's non-empty `allow`.
    PatternNotAllowed,
    /// The E.164 number matches a regex of a `pattern` rule's `deny`.
    PatternDenied,
    /// The number starts with a prefix of a `prefix` rule.
    PrefixBlocked,
    /// The request's fingerprint is in a `fingerprint` rule's `deny`.
    FingerprintDenied,
    /// The request carries no fingerprint of the kind a `fingerprint` rule with `missing: true` reads.
    FingerprintMissing,
    /// The request lacks a header a `client` rule lists in `missing_headers`.
    ClientHeaderMissing,
    /// The request's `user-agent` falls in a class a `client` rule lists.
    ClientUserAgent,
    /// The client connects from another country than the number's (`client_country` rule).
    ClientCountryMismatch,
    /// No client country, and a `client_country` rule with `missing: true`.
    ClientCountryMissing,
    /// The edge's bot score is below a `bot_score` rule's `below`.
    BotScoreLow,
    /// No bot score from the edge, and a `bot_score` rule with `missing: true`.
    BotScoreMissing,
    /// A challenge: the client must send a verified CAPTCHA / Turnstile token.
    CaptchaRequired,
    /// The provider refused the token, or its hostname or score did not pass.
    CaptchaInvalid,
    /// The verification call failed or timed out; `captcha.on_unavailable` decides.
    CaptchaUnavailable,
    /// A `rate_limit` rule's key has no budget left.
    RateLimited,
    /// The number was sent to again before its backoff wait had passed.
    Backoff,
    /// Too many distinct numbers of one block within the window: the block is blocked.
    AdjacentNumbers,
    /// Confirmed codes per send in the scope fell under `min_ratio`: the scope is blocked.
    LowConversion,
    /// Sends to the scope this window are far over its rolling baseline (`surge` rule).
    VolumeSurge,
    /// The number is trusted, but has had the `reputation` rule's `trusted_sends` for the
    /// window: judged like any other number (log only; a sign of someone who reads its SMS).
    TrustedSendsExceeded,
    /// Body over `inputs.max_body_bytes`.
    BodyTooLarge,
    /// Body that cannot be read as its content type.
    BodyMalformed,
    /// Any `content-encoding` but identity.
    UnsupportedEncoding,
    /// A body of a content type the route does not read, or none.
    UnsupportedContentType,
    /// Duplicate JSON key or form field: origin might read another value than the guard.
    AmbiguousField,
    /// A candidate number that does not parse.
    UnparseableNumber,
    /// Parsed, but not a valid number per libphonenumber.
    InvalidNumber,
    /// No number in a guarded request.
    NoNumber,
    /// More than `inputs.max_numbers` numbers.
    TooManyNumbers,
    /// The counter store failed, or a compare-and-swap race was lost after every retry.
    StoreUnavailable,
    /// The weights of the rules that fired add up to the policy's `risk.challenge_at` or
    /// `risk.block_at`.
    RiskScore,
    /// A `number_intel` rule fired on what the provider said of the number.
    NumberIntel,
    /// A number lookup failed, timed out or answered garbage; `number_intel.on_unavailable`
    /// decides.
    NumberIntelUnavailable,
    /// A `trust_import` request without the import token (401).
    ImportUnauthorized,
    /// A `trust_import` request of another method than `POST` (405).
    MethodNotAllowed,
}

impl ReasonCode {
    /// Whether the finding is about the request's input rather than a rule.
    pub(crate) fn is_input(self) -> bool {
        matches!(
            self,
            ReasonCode::BodyTooLarge
                | ReasonCode::BodyMalformed
                | ReasonCode::UnsupportedEncoding
                | ReasonCode::UnsupportedContentType
                | ReasonCode::AmbiguousField
                | ReasonCode::UnparseableNumber
                | ReasonCode::InvalidNumber
                | ReasonCode::NoNumber
                | ReasonCode::TooManyNumbers
        )
    }

    /// The stable snake_case code, e.g. `rate_limited`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::CountryNotAllowed => "country_not_allowed",
            ReasonCode::CountryDenied => "country_denied",
            ReasonCode::CountryMonitored => "country_monitored",
            ReasonCode::NumberTypeNotAllowed => "number_type_not_allowed",
            ReasonCode::NumberTypeDenied => "number_type_denied",
            ReasonCode::PatternNotAllowed => "pattern_not_allowed",
            ReasonCode::PatternDenied => "pattern_denied",
            ReasonCode::PrefixBlocked => "prefix_blocked",
            ReasonCode::FingerprintDenied => "fingerprint_denied",
            ReasonCode::FingerprintMissing => "fingerprint_missing",
            ReasonCode::ClientHeaderMissing => "client_header_missing",
            ReasonCode::ClientUserAgent => "client_user_agent",
            ReasonCode::ClientCountryMismatch => "client_country_mismatch",
            ReasonCode::ClientCountryMissing => "client_country_missing",
            ReasonCode::BotScoreLow => "bot_score_low",
            ReasonCode::BotScoreMissing => "bot_score_missing",
            ReasonCode::CaptchaRequired => "captcha_required",
            ReasonCode::CaptchaInvalid => "captcha_invalid",
            ReasonCode::CaptchaUnavailable => "captcha_unavailable",
            ReasonCode::RateLimited => "rate_limited",
            ReasonCode::Backoff => "backoff",
            ReasonCode::AdjacentNumbers => "adjacent_numbers",
            ReasonCode::LowConversion => "low_conversion",
            ReasonCode::VolumeSurge => "volume_surge",
            ReasonCode::TrustedSendsExceeded => "trusted_sends_exceeded",
            ReasonCode::BodyTooLarge => "body_too_large",
            ReasonCode::BodyMalformed => "body_malformed",
            ReasonCode::UnsupportedEncoding => "unsupported_encoding",
            ReasonCode::UnsupportedContentType => "unsupported_content_type",
            ReasonCode::AmbiguousField => "ambiguous_field",
            ReasonCode::UnparseableNumber => "unparseable_number",
            ReasonCode::InvalidNumber => "invalid_number",
            ReasonCode::NoNumber => "no_number",
            ReasonCode::TooManyNumbers => "too_many_numbers",
            ReasonCode::StoreUnavailable => "store_unavailable",
            ReasonCode::RiskScore => "risk_score",
            ReasonCode::NumberIntel => "number_intel",
            ReasonCode::NumberIntelUnavailable => "number_intel_unavailable",
            ReasonCode::ImportUnauthorized => "import_unauthorized",
            ReasonCode::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// A client answers it with a (fresh) CAPTCHA token: the refusal's body says how.
    pub fn answered_by_token(self) -> bool {
        matches!(self, ReasonCode::CaptchaRequired | ReasonCode::CaptchaInvalid)
    }

    /// The message clients see; it says what was wrong without naming internals.
    pub fn message(self) -> &'static str {
        match self {
            ReasonCode::CountryNotAllowed | ReasonCode::CountryDenied => {
                "SMS to this destination country is not available."
            }
            ReasonCode::CountryMonitored => "Destination country is monitored.",
            ReasonCode::NumberTypeNotAllowed | ReasonCode::NumberTypeDenied => {
                "SMS to this kind of phone number is not available."
            }
            ReasonCode::PatternNotAllowed | ReasonCode::PatternDenied | ReasonCode::PrefixBlocked => {
                "SMS to this phone number is not available."
            }
            ReasonCode::FingerprintDenied
            | ReasonCode::FingerprintMissing
            | ReasonCode::ClientHeaderMissing
            | ReasonCode::ClientUserAgent => "This client is not allowed to request SMS.",
            ReasonCode::BotScoreLow | ReasonCode::BotScoreMissing => {
                "This client is not allowed to request SMS."
            }
            ReasonCode::ClientCountryMismatch | ReasonCode::ClientCountryMissing => {
                "SMS to this number is not available from where this request comes."
            }
            ReasonCode::CaptchaRequired => "Complete the challenge and send its token.",
            ReasonCode::CaptchaInvalid => "The challenge token was not accepted.",
            ReasonCode::CaptchaUnavailable => "The challenge could not be verified; try again.",
            ReasonCode::RateLimited => "Too many SMS requests; retry later.",
            ReasonCode::Backoff => "A code was sent to this number recently; retry later.",
            ReasonCode::AdjacentNumbers => "Too many requests for numbers in this range; retry later.",
            ReasonCode::LowConversion => "SMS to this destination is paused; retry later.",
            ReasonCode::VolumeSurge => "SMS to this destination is unusually busy; retry later.",
            // Never decides a request (log only); said for completeness.
            ReasonCode::TrustedSendsExceeded => "SMS could not be sent for this request.",
            ReasonCode::BodyTooLarge => "The request body is larger than allowed.",
            ReasonCode::BodyMalformed => "The request body could not be parsed.",
            ReasonCode::UnsupportedEncoding => "The request body encoding is not supported.",
            ReasonCode::UnsupportedContentType => "The request content type is not supported.",
            ReasonCode::AmbiguousField => "The request contains a field more than once.",
            ReasonCode::UnparseableNumber => "The phone number could not be read.",
            ReasonCode::InvalidNumber => "The phone number is not valid.",
            ReasonCode::NoNumber => "The request contains no phone number.",
            ReasonCode::TooManyNumbers => "The request contains too many phone numbers.",
            ReasonCode::StoreUnavailable | ReasonCode::NumberIntelUnavailable => {
                "The request could not be checked; retry later."
            }
            ReasonCode::RiskScore => "SMS could not be sent for this request.",
            ReasonCode::NumberIntel => "SMS to this phone number is not available.",
            ReasonCode::ImportUnauthorized => "A valid import token is required.",
            ReasonCode::MethodNotAllowed => "Import numbers with POST.",
        }
    }

    /// HTTP status when this reason decides a block.
    pub fn block_status(self) -> u16 {
        match self {
            ReasonCode::BodyTooLarge => 413,
            ReasonCode::BodyMalformed
            | ReasonCode::AmbiguousField
            | ReasonCode::UnparseableNumber
            | ReasonCode::InvalidNumber
            | ReasonCode::NoNumber
            | ReasonCode::TooManyNumbers => 400,
            ReasonCode::UnsupportedEncoding | ReasonCode::UnsupportedContentType => 415,
            ReasonCode::ImportUnauthorized => 401,
            ReasonCode::MethodNotAllowed => 405,
            ReasonCode::StoreUnavailable
            | ReasonCode::CaptchaUnavailable
            | ReasonCode::NumberIntelUnavailable => 503,
            _ => 403,
        }
    }
}

/// One finding: which rule (none for input handling), what, and whether it was enforced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    /// Id of the rule that found it; `None` for input handling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<Arc<str>>,
    /// What was found.
    pub code: ReasonCode,
    /// The action this finding asks for (for input handling: block, or allow when configured so).
    pub action: Action,
    /// False for shadow / log-only findings: reported, never acted on.
    pub enforced: bool,
    /// How long until a retry can pass, in milliseconds; only for findings with a time component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The E.164 number the finding is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Specifics for logs (what failed, which source); never in the error body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The rule spares the number it found this about: the policy's reputation rule trusts it,
    /// or (`client_country` with `proven_pairs`) the number's pair is proven.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spared: bool,
}

/// The number as classified, for logs and the headers forwarded to origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NumberFacts {
    /// The number in E.164 form (`+14155550123`).
    pub e164: String,
    /// ISO region that claims the number; `None` when no region does (unassigned range, invalid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'static str>,
    /// Country calling code (`1`, `44`).
    pub calling_code: u16,
    /// Type as libphonenumber classifies it.
    pub number_type: NumberType,
    /// Valid per libphonenumber; an invalid number also carries an `invalid_number` finding.
    pub valid: bool,
    /// The policy's reputation rule trusts the number (it confirmed a code recently).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trusted: bool,
    /// The request named only an account: this is the number the account's sign-up carried
    /// (a `bound_number` rule), judged as if the request had carried it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_account: bool,
}

/// Which route the request matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteInfo {
    /// Position of the route in the policy's `routes`.
    #[serde(skip)]
    pub index: usize,
    /// The route's id.
    pub id: Arc<str>,
    /// Whether the route sends an SMS or confirms a code.
    pub kind: RouteKind,
}

/// A token the host must verify (siteverify) before the decision is final.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenCheck {
    /// The token as the client sent it (never empty, at most 2048 bytes).
    #[serde(skip)]
    pub token: String,
    /// The client address for siteverify's `remoteip`, when the host supplied one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
}

/// Outcome of verifying a token, as the core interprets the provider's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum TokenVerdict {
    /// The provider accepted the token, and its hostname and score where the policy checks them.
    Valid {
        /// The device that solved the challenge, as the provider names it (Turnstile
        /// Enterprise's `metadata.ephemeral_id`); `None` when the answer names none.
        #[serde(skip_serializing_if = "Option::is_none")]
        solver: Option<String>,
    },
    /// The token was refused: `captcha_invalid`.
    Invalid {
        /// Why, for logs.
        detail: String,
    },
    /// The call failed or timed out: the policy's `on_unavailable` decides.
    Unavailable {
        /// What failed, for logs.
        detail: String,
    },
}

/// The engine's answer for one request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// What the host does: the strongest enforced action among the reasons.
    pub action: Action,
    /// HTTP status to answer with (200 for allow: the host forwards instead).
    pub status: u16,
    /// `Retry-After` in whole seconds, rounded up; for throttles and timed blocks only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// Every finding, enforced and shadow, in evaluation order.
    pub reasons: Vec<Reason>,
    /// The route the request matched; `None` when no route guards it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteInfo>,
    /// The numbers parsed from the request (at most `inputs.max_numbers`), as classified.
    pub numbers: Vec<NumberFacts>,
    /// Set when the action is `challenge` and the request carries a token to verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_check: Option<TokenCheck>,
    /// The request's risk score, under a policy with a `risk` section (send routes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<u32>,
    /// The device that solved the request's challenge, as siteverify named it: the key of
    /// `captcha_solver` limits, logged so an operator can follow one solving device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captcha_solver: Option<String>,
    /// The client address a `client_ip` conversion scope counted the request under (an IPv4
    /// address, or an IPv6 /64), logged so an operator can find an address that rule blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
    /// The inputs from the host or the edge the route's rules read, and those the request
    /// lacked (logged as `missing_inputs`): hosts count them, so a rule gone blind shows.
    #[serde(
        rename = "missing_inputs",
        serialize_with = "missing_inputs",
        skip_serializing_if = "no_missing_inputs"
    )]
    pub edge_inputs: crate::edge_inputs::EdgeInputs,
    /// The libphonenumber metadata release the numbers were classified with
    /// ([`crate::phone::METADATA_VERSION`]), so a log line says which tables judged it.
    pub phone_metadata: &'static str,
    /// Local replies carry `x-pumpguard-findings` (the policy's `expose_findings`).
    #[serde(skip)]
    pub expose_findings: bool,
    /// The error format of a refusal: the matched route's.
    #[serde(skip)]
    pub refusal: RefusalFormat,
    /// The matched route's `captcha` object for a challenge refusal's body (what to solve and
    /// where the token goes), under a policy with a `captcha` section.
    #[serde(skip)]
    pub(crate) challenge_hint: Option<Arc<str>>,
    /// CORS headers for a local reply to a page of an origin the policy's `cors` lists.
    #[serde(skip)]
    pub(crate) cors: Option<crate::cors::CorsReply>,
    /// Counter checks to run for real once the request is known to go to origin (see
    /// `Policy::commit`): until then they only ran against an overlay, so a refused request
    /// writes no counter.
    #[serde(skip)]
    pub(crate) commits: Vec<crate::engine::CounterCheck>,
    /// Numbers the host must look up at the number-intelligence provider before the decision is
    /// final (after a token check, if any); answers go to `Policy::resolve_lookups`.
    #[serde(skip)]
    pub lookups: Vec<crate::intel::NumberLookup>,
    /// The request's token, kept while lookups are pending: a challenge they ask for needs it.
    #[serde(skip)]
    pub(crate) held_token: Option<TokenCheck>,
    /// The request's token was verified valid: a later challenge is already answered.
    #[serde(skip)]
    pub(crate) token_verified: bool,
    /// The request carried a token the guard left unspent for origin to verify
    /// (`captcha.verify: origin`).
    #[serde(skip)]
    pub(crate) token_left_to_origin: bool,
    /// Checks of `captcha_solver` limits, waiting for siteverify to name the solving device.
    #[serde(skip)]
    pub(crate) solver_checks: Vec<crate::solver::SolverCheck>,
    /// The account a confirm names (as extraction folds it): a confirm naming a user and
    /// another number says nothing of which one the code went to.
    #[serde(skip)]
    pub(crate) account: Option<String>,
    /// The tag of the account a confirm names, when the call confirms a binding send's code
    /// (Cognito's `ConfirmSignUp`) and names no number: it credits the bound number.
    #[serde(skip)]
    pub(crate) binding_confirm: Option<u128>,
    /// A send binding its account to its number: what to record once origin accepted it.
    #[serde(skip)]
    pub(crate) bindings: Vec<crate::engine::CounterCheck>,
    /// A confirm whose code, once origin accepts it, proves the account reads its bound
    /// number (a `bound_sign_ins` rule): what to record then.
    #[serde(skip)]
    pub(crate) proof: Option<crate::engine::CounterCheck>,
    /// What an import of trusted numbers did (action `answer`): the body of its answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_import: Option<crate::trust_import::ImportSummary>,
}

impl Decision {
    /// The answer for requests no route guards.
    pub fn unguarded() -> Decision {
        Decision {
            action: Action::Allow,
            status: 200,
            retry_after_seconds: None,
            reasons: Vec::new(),
            route: None,
            numbers: Vec::new(),
            token_check: None,
            risk: None,
            captcha_solver: None,
            client_address: None,
            edge_inputs: Default::default(),
            phone_metadata: crate::phone::METADATA_VERSION,
            expose_findings: false,
            challenge_hint: None,
            cors: None,
            refusal: RefusalFormat::Pumpguard,
            commits: Vec::new(),
            lookups: Vec::new(),
            held_token: None,
            token_verified: false,
            token_left_to_origin: false,
            solver_checks: Vec::new(),
            account: None,
            binding_confirm: None,
            bindings: Vec::new(),
            proof: None,
            trust_import: None,
        }
    }

    /// Counter checks to run once the request goes to origin ([`crate::Policy::commit`], or a
    /// host's remote store followed by [`crate::Policy::settle_commits`]); empty when none.
    pub fn pending_commits(&self) -> &[crate::engine::CounterCheck] {
        let gates = self.gate_commits();
        self.commits.get(..gates).filter(|_| gates > 0).unwrap_or(&self.commits)
    }

    /// How many pending commits lead as gates (a round of their own, [`crate::engine::CounterCheck::gate`]).
    pub(crate) fn gate_commits(&self) -> usize {
        self.commits.iter().take_while(|c| c.gate).count()
    }

    /// Derives action, status and Retry-After from the reasons: the strongest enforced action
    /// wins; its first reason names the error.
    pub(crate) fn settle(&mut self) {
        let action =
            self.reasons.iter().filter(|r| r.enforced).map(|r| r.action).max().unwrap_or(Action::Allow);
        self.action = action;
        self.status = match (action, self.primary()) {
            (Action::Allow, _) => 200,
            (Action::Throttle, _) => 429,
            // Whatever asked for it (a rule, or an invalid number), a challenge is 403 captcha_required.
            (Action::Challenge, _) => 403,
            (_, Some(reason)) => reason.code.block_status(),
            (_, None) => 403,
        };
        if action != Action::Allow {
            self.status = self.refusal.status(self.status, self.error_code());
        }
        let wait = self
            .reasons
            .iter()
            .filter(|r| r.enforced && r.action == action)
            .filter_map(|r| r.retry_after_ms)
            .max();
        self.retry_after_seconds = match action {
            Action::Allow | Action::Challenge | Action::Answer => None,
            Action::Throttle | Action::Block => wait.map(ceil_seconds),
        };
        if action != Action::Challenge {
            self.token_check = None;
        }
    }

    /// The enforced reason that decides the answer.
    pub fn primary(&self) -> Option<&Reason> {
        self.reasons.iter().find(|r| r.enforced && r.action == self.action)
    }

    /// The stable error code of a non-allow answer.
    pub fn error_code(&self) -> Option<ReasonCode> {
        let reason = self.primary()?;
        // Whatever rule asked for it, a challenge tells the client what to do: solve the CAPTCHA.
        Some(if self.action == Action::Challenge { ReasonCode::CaptchaRequired } else { reason.code })
    }

    /// Findings that were reported but not enforced (shadow rules, log actions, allowed inputs).
    pub fn shadow_reasons(&self) -> impl Iterator<Item = &Reason> {
        self.reasons.iter().filter(|r| !r.enforced || r.action != self.action)
    }

    /// Error body for a non-allow answer: pumpguard's JSON `{"error": code, "message", "rule",
    /// "retry_after"}`, or the route's API error format ([`RefusalFormat`]) carrying the same.
    /// An import's answer (action `answer`) is its summary instead.
    pub fn error_body(&self) -> Option<String> {
        if let Some(import) = &self.trust_import {
            return Some(import.body());
        }
        crate::refusal::body(self)
    }

    /// Headers of the local reply (content-type included).
    pub fn response_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("content-type", self.refusal.content_type().to_owned())];
        headers.extend(crate::refusal::extra_headers(self));
        if let Some(seconds) = self.retry_after_seconds {
            headers.push(("retry-after", seconds.to_string()));
        }
        headers.push(("x-pumpguard-decision", self.action.as_str().to_owned()));
        if let Some(cors) = &self.cors {
            headers.push(("access-control-allow-origin", cors.allow_origin.to_string()));
            headers.push(("access-control-expose-headers", crate::cors::EXPOSED_HEADERS.to_owned()));
            if cors.credentials {
                headers.push(("access-control-allow-credentials", "true".to_owned()));
            }
            if &*cors.allow_origin != "*" {
                headers.push(("vary", "Origin".to_owned()));
            }
        }
        if self.expose_findings {
            self.push_number_headers(&mut headers);
            if let Some(findings) = self.findings_header() {
                headers.push(("x-pumpguard-findings", findings));
            }
            if let Some(risk) = self.risk {
                headers.push(("x-pumpguard-risk", risk.to_string()));
            }
            if let Some(missing) = self.missing_inputs_header() {
                headers.push(("x-pumpguard-missing-inputs", missing));
            }
        }
        headers
    }

    /// Country and type of the first number.
    fn push_number_headers(&self, headers: &mut Vec<(&'static str, String)>) {
        if let Some(number) = self.numbers.first() {
            if let Some(region) = number.region {
                headers.push(("x-pumpguard-country", region.to_owned()));
            }
            headers.push(("x-pumpguard-number-type", number.number_type.as_str().to_owned()));
        }
    }

    /// Headers added to a request forwarded to origin, so origin can log or act on them. Hosts
    /// first remove every [`DECISION_HEADERS`] name the client sent, so origin never mistakes a
    /// client's own `x-pumpguard-country` for ours.
    pub fn origin_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("x-pumpguard-decision", self.action.as_str().to_owned())];
        self.push_number_headers(&mut headers);
        if let Some(findings) = self.findings_header() {
            headers.push(("x-pumpguard-findings", findings));
        }
        if let Some(risk) = self.risk {
            headers.push(("x-pumpguard-risk", risk.to_string()));
        }
        if let Some(missing) = self.missing_inputs_header() {
            headers.push(("x-pumpguard-missing-inputs", missing));
        }
        // What became of the request's token: a verified one is spent (origin must not verify
        // it again); one left to origin is origin's to verify.
        if self.token_left_to_origin {
            headers.push(("x-pumpguard-captcha", "unverified".to_owned()));
        } else if self.token_verified {
            headers.push(("x-pumpguard-captcha", "verified".to_owned()));
        }
        headers
    }

    /// The inputs the route's rules read and the request lacked, comma-separated (`None` when it
    /// lacked none): origin can ask for more where a decision was made without the client's
    /// country or bot score.
    pub fn missing_inputs_header(&self) -> Option<String> {
        let missing: Vec<&str> = self.edge_inputs.missing.iter().map(|i| i.as_str()).collect();
        (!missing.is_empty()).then(|| missing.join(","))
    }

    /// Every finding as `rule:code` (or `code` for input handling), comma-separated.
    pub fn findings_header(&self) -> Option<String> {
        let mut out = String::new();
        for reason in &self.reasons {
            if !out.is_empty() {
                out.push(',');
            }
            if let Some(rule) = &reason.rule {
                out.push_str(rule);
                out.push(':');
            }
            out.push_str(reason.code.as_str());
        }
        (!out.is_empty()).then_some(out)
    }

    /// One JSON line describing the decision, for decision logs.
    pub fn log_line(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| String::from("{\"error\":\"unserializable decision\"}"))
    }
}

/// Every header name [`Decision::origin_headers`] may set.
pub const DECISION_HEADERS: [&str; 7] = [
    "x-pumpguard-decision",
    "x-pumpguard-country",
    "x-pumpguard-number-type",
    "x-pumpguard-findings",
    "x-pumpguard-risk",
    "x-pumpguard-missing-inputs",
    "x-pumpguard-captcha",
];

/// The log names only the inputs the request lacked: the ones read follow from the policy.
fn missing_inputs<S: serde::Serializer>(
    inputs: &crate::edge_inputs::EdgeInputs,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&inputs.missing, serializer)
}

fn no_missing_inputs(inputs: &crate::edge_inputs::EdgeInputs) -> bool {
    inputs.missing.is_empty()
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<RuleAction> for Action {
    fn from(action: RuleAction) -> Action {
        match action {
            RuleAction::Log => Action::Allow,
            RuleAction::Challenge => Action::Challenge,
            RuleAction::Throttle => Action::Throttle,
            RuleAction::Block => Action::Block,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_headers_are_all_listed_as_decision_headers() {
        let mut decision = Decision::unguarded();
        decision.numbers.push(NumberFacts {
            e164: "+14155550123".into(),
            region: Some("US"),
            calling_code: 1,
            number_type: NumberType::FixedLineOrMobile,
            valid: true,
            trusted: false,
            from_account: false,
        });
        decision.reasons.push(Reason {
            rule: Some("geo".into()),
            code: ReasonCode::CountryMonitored,
            action: Action::Allow,
            enforced: false,
            retry_after_ms: None,
            number: None,
            detail: None,
            spared: false,
        });
        decision.risk = Some(40);
        let mut missing = crate::edge_inputs::EdgeInputSet::default();
        missing.insert(crate::edge_inputs::EdgeInput::ClientCountry);
        decision.edge_inputs = crate::edge_inputs::EdgeInputs { read: missing, missing };
        decision.token_verified = true;
        let headers = decision.origin_headers();
        assert_eq!(headers.len(), DECISION_HEADERS.len());
        for (name, _) in headers {
            assert!(DECISION_HEADERS.contains(&name), "{name}");
        }
    }
}
