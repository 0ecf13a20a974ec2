//! CAPTCHA / Turnstile: the core builds the siteverify call and interprets its answer; the host
//! only moves the bytes (Envoy `dispatch_http_call`, Workers `fetch`).

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Deserialize;

use crate::config::{CaptchaDoc, CaptchaProvider, CaptchaVerify, ConfigErrors, InputOutcome};
use crate::decision::{push_json_string, Action, Decision, Reason, ReasonCode, TokenCheck, TokenVerdict};
use crate::extract::TokenSource;

/// Token verification as the policy configures it, compiled from its `captcha` section.
#[derive(Clone, Debug, PartialEq)]
pub struct Captcha {
    /// Which service verifies tokens.
    pub provider: CaptchaProvider,
    /// Siteverify secret; hosts may supply it from their own secret store instead.
    pub secret: Option<String>,
    /// Timeout of the verification call, in milliseconds.
    pub verify_timeout_ms: u32,
    /// What a failed or timed-out verification call means.
    pub on_unavailable: InputOutcome,
    /// When set, the verified token must have been issued for this hostname.
    pub expected_hostname: Option<String>,
    /// When set, the verified token must have been solved by a widget given this action.
    pub expected_action: Option<String>,
    /// reCAPTCHA v3: minimum score to accept.
    pub min_score: Option<f64>,
    /// The widget's public site key, named in challenge refusals.
    pub site_key: Option<String>,
    /// Who verifies tokens: the guard, or origin (the guard then only requires one).
    pub verify: CaptchaVerify,
}

impl From<&CaptchaDoc> for Captcha {
    fn from(doc: &CaptchaDoc) -> Captcha {
        Captcha {
            provider: doc.provider,
            secret: doc.secret.clone(),
            verify_timeout_ms: doc.verify_timeout_ms,
            on_unavailable: doc.on_unavailable,
            expected_hostname: doc.expected_hostname.clone(),
            expected_action: doc.expected_action.clone(),
            min_score: doc.min_score,
            site_key: doc.site_key.clone(),
            verify: doc.verify,
        }
    }
}

/// Load checks of `captcha.expected_action`: Turnstile takes 32 characters of letters, digits,
/// `_` and `-`, reCAPTCHA letters, digits, `_` and `/`; hCaptcha's answer names no action, so
/// every token would be refused.
pub(crate) fn check_expected_action(provider: CaptchaProvider, action: &str, errs: &mut ConfigErrors) {
    const PATH: &str = "captcha.expected_action";
    if provider == CaptchaProvider::Hcaptcha {
        errs.push(PATH, "hCaptcha's siteverify answer names no action: every token would be refused");
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_-/".contains(&b);
    if action.is_empty() || action.len() > 32 || !action.bytes().all(allowed) {
        errs.push(PATH, "must be 1 to 32 characters of A-Z, a-z, 0-9, _, - and /");
    }
}

/// Load checks of `captcha.verify: origin`: the guard sees no siteverify answer, so nothing
/// that reads one can hold.
pub(crate) fn check_verified_by_origin(doc: &CaptchaDoc, errs: &mut ConfigErrors) {
    let reads_answer = [
        ("expected_hostname", doc.expected_hostname.is_some()),
        ("expected_action", doc.expected_action.is_some()),
        ("min_score", doc.min_score.is_some()),
    ];
    for (field, set) in reads_answer {
        if set {
            errs.push(
                format!("captcha.{field}"),
                "checks siteverify's answer, which the guard never sees under verify: origin; let origin check it",
            );
        }
    }
}

/// A challenge the request's token answers without the guard verifying it (`captcha.verify:
/// origin`): its reasons stop being enforced, and origin's verification is what stands.
pub(crate) fn leave_to_origin(decision: &mut Decision) {
    for reason in decision.reasons.iter_mut().filter(|r| r.enforced && r.action == Action::Challenge) {
        reason.enforced = false;
        reason.detail = Some("token present; origin verifies it (captcha.verify: origin)".to_owned());
    }
    decision.settle();
}

/// A challenge answered by the token the call that made what the request names carried (a
/// Clerk sign-up's, verified by origin then): lifted, and said so.
pub(crate) fn answered_earlier(decision: &mut Decision) {
    for reason in decision.reasons.iter_mut().filter(|r| r.enforced && r.action == Action::Challenge) {
        reason.enforced = false;
        reason.detail = Some("answered by the token of the call that made what the path names".to_owned());
    }
    decision.settle();
}

/// Load check of `captcha.site_key`: the providers' public keys are letters, digits, `_` and
/// `-` (Turnstile `0x4AAAAAAA…`, reCAPTCHA 40 characters, hCaptcha a UUID).
pub(crate) fn check_site_key(key: &str, errs: &mut ConfigErrors) {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_-".contains(&b);
    if key.is_empty() || key.len() > 128 || !key.bytes().all(allowed) {
        errs.push("captcha.site_key", "must be 1 to 128 characters of A-Z, a-z, 0-9, _ and -");
    }
}

/// What a challenge refusal tells the client so it can solve and retry: the body's `captcha`
/// object (`{"provider", "site_key", "action", "token"}`, the last three where known), written
/// once per route at load. `token` is where the route reads the token, spelled as the policy
/// spells it.
pub(crate) fn challenge_hint(captcha: &Captcha, token: Option<&TokenSource>) -> Arc<str> {
    let mut out = String::from("{\"provider\":");
    push_json_string(&mut out, captcha.provider.as_str());
    if let Some(key) = &captcha.site_key {
        out.push_str(",\"site_key\":");
        push_json_string(&mut out, key);
    }
    if let Some(action) = &captcha.expected_action {
        out.push_str(",\"action\":");
        push_json_string(&mut out, action);
    }
    if let Some(token) = token {
        let (kind, name) = match token {
            TokenSource::Header(name) => ("header", name),
            TokenSource::FormField(name) => ("form_field", name),
            TokenSource::JsonPath(name) => ("json_path", name),
        };
        let _ = write!(out, ",\"token\":{{\"{kind}\":");
        push_json_string(&mut out, name);
        out.push('}');
    }
    out.push('}');
    Arc::from(out)
}

/// Turnstile tokens are at most 2048 characters; longer input is refused unverified.
pub const MAX_TOKEN_LEN: usize = 2048;

impl CaptchaProvider {
    /// The provider's public siteverify endpoint (hosts may point elsewhere, e.g. in tests).
    pub fn siteverify_url(self) -> &'static str {
        match self {
            CaptchaProvider::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/siteverify",
            CaptchaProvider::Recaptcha => "https://www.google.com/recaptcha/api/siteverify",
            CaptchaProvider::Hcaptcha => "https://api.hcaptcha.com/siteverify",
        }
    }
}

/// The form body of a siteverify POST (`application/x-www-form-urlencoded`), the same for all
/// three providers.
pub fn siteverify_body(secret: &str, check: &TokenCheck) -> String {
    let mut body = String::with_capacity(secret.len() + check.token.len() + 48);
    body.push_str("secret=");
    form_encode(&mut body, secret);
    body.push_str("&response=");
    form_encode(&mut body, &check.token);
    if let Some(ip) = &check.remote_ip {
        body.push_str("&remoteip=");
        form_encode(&mut body, ip);
    }
    body
}

fn form_encode(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
}

#[derive(Deserialize)]
struct SiteverifyAnswer {
    success: bool,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default, rename = "error-codes")]
    error_codes: Vec<String>,
    /// Turnstile's extra fields (Enterprise: `ephemeral_id`); read leniently, since a shape we do
    /// not know must not turn a valid token into an unreadable answer.
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

/// Reads a siteverify answer. A non-200 status or unreadable body means the provider was
/// unavailable, not that the token was bad.
pub fn interpret_siteverify(captcha: &Captcha, status: u16, body: &[u8]) -> TokenVerdict {
    if status != 200 {
        return TokenVerdict::Unavailable { detail: format!("siteverify answered HTTP {status}") };
    }
    let answer: SiteverifyAnswer = match serde_json::from_slice(body) {
        Ok(a) => a,
        Err(e) => return TokenVerdict::Unavailable { detail: format!("siteverify answer unreadable: {e}") },
    };
    if !answer.success {
        let codes =
            if answer.error_codes.is_empty() { "none".to_owned() } else { answer.error_codes.join(",") };
        return TokenVerdict::Invalid {
            detail: format!("provider refused the token (error codes: {codes})"),
        };
    }
    if let Some(expected) = &captcha.expected_hostname {
        if !answer.hostname.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(expected)) {
            return TokenVerdict::Invalid { detail: "token was issued for another hostname".to_owned() };
        }
    }
    if let Some(expected) = &captcha.expected_action {
        // Exact: the provider echoes what the widget was given, and a solver cannot change it.
        if answer.action.as_deref() != Some(expected.as_str()) {
            let got = answer.action.as_deref().filter(|a| !a.is_empty()).unwrap_or("none");
            return TokenVerdict::Invalid {
                detail: format!("token was solved for action {got}, not {expected}"),
            };
        }
    }
    if let Some(min) = captcha.min_score {
        if answer.score.is_none_or(|s| s < min) {
            return TokenVerdict::Invalid { detail: format!("score below {min}") };
        }
    }
    let solver = answer
        .metadata
        .as_ref()
        .and_then(|m| m.get("ephemeral_id"))
        .and_then(serde_json::Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    TokenVerdict::Valid { solver }
}

/// Completes a `challenge` decision with the verification result.
pub fn resolve(captcha: Option<&Captcha>, mut decision: Decision, verdict: &TokenVerdict) -> Decision {
    if decision.action != Action::Challenge {
        return decision;
    }
    let rule = decision.primary().and_then(|r| r.rule.clone());
    let satisfy = |decision: &mut Decision, note: &str| {
        for reason in decision.reasons.iter_mut().filter(|r| r.enforced && r.action == Action::Challenge) {
            reason.enforced = false;
            reason.detail = Some(note.to_owned());
        }
    };
    match verdict {
        TokenVerdict::Valid { .. } => satisfy(&mut decision, "token verified"),
        TokenVerdict::Invalid { detail } => decision.reasons.push(Reason {
            rule,
            code: ReasonCode::CaptchaInvalid,
            action: Action::Block,
            enforced: true,
            retry_after_ms: None,
            number: None,
            detail: Some(detail.clone()),
            spared: false,
        }),
        TokenVerdict::Unavailable { detail } => {
            let block = captcha.is_none_or(|c| c.on_unavailable == InputOutcome::Block);
            if !block {
                satisfy(&mut decision, "verification unavailable; allowed by captcha.on_unavailable");
            }
            decision.reasons.push(Reason {
                rule,
                code: ReasonCode::CaptchaUnavailable,
                action: if block { Action::Block } else { Action::Allow },
                enforced: block,
                retry_after_ms: None,
                number: None,
                detail: Some(detail.clone()),
                spared: false,
            });
        }
    }
    decision.settle();
    decision
}
