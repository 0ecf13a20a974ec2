//! Clerk's Frontend API calls: what a path names, and which calls send an SMS.
//!
//! clerk-js calls the Frontend API at its host's root (`/v1/client/sign_ins`) or under the
//! site's proxy path (`/__clerk/v1/...`), form-encoded, `PATCH` as a `POST` with
//! `?_method=PATCH`. A call is read from the end of its path, so any proxy path works.

use crate::request::Request;

/// The Frontend API calls the preset knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ClerkCall {
    /// `POST client/sign_ins`: a sign-in by `identifier`; with an SMS `strategy` its code goes
    /// at once.
    SignInCreate,
    /// `client/sign_ins/<id>/prepare_first_factor`: a code to the sign-in's number.
    SignInPrepareFirst,
    /// `client/sign_ins/<id>/prepare_second_factor`: an SMS MFA code to the user's number.
    SignInPrepareSecond,
    /// `client/sign_ins/<id>/attempt_first_factor`: the code entered.
    SignInAttemptFirst,
    /// `POST client/sign_ups`: a sign-up, its number in `phone_number`.
    SignUpCreate,
    /// `client/sign_ups/<id>` (`PATCH`): a sign-up's fields changed, its number too.
    SignUpUpdate,
    /// `client/sign_ups/<id>/prepare_verification`: a code to the sign-up's number.
    SignUpPrepare,
    /// `client/sign_ups/<id>/attempt_verification`: the code entered.
    SignUpAttempt,
    /// `POST me/phone_numbers`: a signed-in user adds a number (nothing sent).
    PhoneCreate,
    /// `me/phone_numbers/<id>/prepare_verification`: a code to that number.
    PhonePrepare,
    /// `me/phone_numbers/<id>/attempt_verification`: the code entered.
    PhoneAttempt,
    /// `client/sessions/<id>/verify/prepare_first_factor` or `prepare_second_factor`: a
    /// signed-in user's reverification, to a number Clerk holds.
    SessionPrepare,
}

impl ClerkCall {
    /// Whether the call creates what later calls name by the id its answer gives.
    pub(super) fn creates(self) -> bool {
        matches!(self, ClerkCall::SignInCreate | ClerkCall::SignUpCreate | ClerkCall::PhoneCreate)
    }

    /// Whether the call sends a code only when its `strategy` is an SMS one, and binds its
    /// number otherwise.
    fn sends_by_strategy(self) -> bool {
        matches!(self, ClerkCall::SignInCreate | ClerkCall::SignUpCreate | ClerkCall::SignUpUpdate)
    }

    /// Whether the call sends a code by the strategy it names (an e-mail's, a passkey's,
    /// an app's send none).
    fn prepares(self) -> bool {
        matches!(
            self,
            ClerkCall::SignInPrepareFirst
                | ClerkCall::SignInPrepareSecond
                | ClerkCall::SignUpPrepare
                | ClerkCall::SessionPrepare
        )
    }
}

/// Strategies whose code goes by SMS (or WhatsApp, as the call's `channel` says: paid alike).
const SMS_STRATEGIES: &[&str] = &["phone_code", "reset_password_phone_code"];

/// Strategies that send no SMS, as Clerk names them; `oauth_*`, `web3_*` and `oauth_token_*`
/// by their prefix. Any other value is judged as an SMS one.
const OTHER_STRATEGIES: &[&str] = &[
    "email_code",
    "email_link",
    "password",
    "passkey",
    "ticket",
    "totp",
    "backup_code",
    "enterprise_sso",
    "saml",
    "google_one_tap",
    "reset_password_email_code",
];
const OTHER_STRATEGY_PREFIXES: &[&str] = &["oauth_", "web3_"];

/// The call a path names, with the id it names (none for a creation), read from its end.
pub(super) fn clerk_call(path: &str) -> Option<(Option<&str>, ClerkCall)> {
    let segments: Vec<&str> = path.trim_end_matches('/').rsplit('/').take(6).collect();
    let is = |i: usize, want: &str| segments.get(i).is_some_and(|s| s.eq_ignore_ascii_case(want));
    let id = |i: usize| segments.get(i).copied().filter(|s| !s.is_empty());
    // Under `v1`, and `client` or `me` under it: `[.., v1, client, sign_ins, <id>, action]`.
    let under = |i: usize, group: &str| is(i, group) && is(i + 1, "v1");
    let call = if is(0, "sign_ins") && under(1, "client") {
        (None, ClerkCall::SignInCreate)
    } else if is(0, "sign_ups") && under(1, "client") {
        (None, ClerkCall::SignUpCreate)
    } else if is(0, "phone_numbers") && under(1, "me") {
        (None, ClerkCall::PhoneCreate)
    } else if is(1, "sign_ups") && under(2, "client") {
        (Some(id(0)?), ClerkCall::SignUpUpdate)
    } else if is(2, "sign_ins") && under(3, "client") {
        let call = match () {
            _ if is(0, "prepare_first_factor") => ClerkCall::SignInPrepareFirst,
            _ if is(0, "prepare_second_factor") => ClerkCall::SignInPrepareSecond,
            _ if is(0, "attempt_first_factor") => ClerkCall::SignInAttemptFirst,
            _ => return None,
        };
        (Some(id(1)?), call)
    } else if is(2, "sign_ups") && under(3, "client") {
        let call = match () {
            _ if is(0, "prepare_verification") => ClerkCall::SignUpPrepare,
            _ if is(0, "attempt_verification") => ClerkCall::SignUpAttempt,
            _ => return None,
        };
        (Some(id(1)?), call)
    } else if is(2, "phone_numbers") && under(3, "me") {
        let call = match () {
            _ if is(0, "prepare_verification") => ClerkCall::PhonePrepare,
            _ if is(0, "attempt_verification") => ClerkCall::PhoneAttempt,
            _ => return None,
        };
        (Some(id(1)?), call)
    } else if (is(0, "prepare_first_factor") || is(0, "prepare_second_factor"))
        && is(1, "verify")
        && is(3, "sessions")
        && under(4, "client")
    {
        (Some(id(2)?), ClerkCall::SessionPrepare)
    } else {
        return None;
    };
    Some(call)
}

/// What a request's `strategy` says of its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Strategy {
    /// None named.
    Absent,
    /// Every reading names a strategy that sends no SMS.
    Other,
    /// A reading names an SMS strategy, an unknown one, or cannot be read (a body that is not
    /// a form, a field spelt as some framework might still read as `strategy`).
    Sms,
}

/// The request's `strategy` in its query and its form body, every reading of it: one reading
/// naming an SMS strategy (or one not known to send none) makes it an SMS call, whatever the
/// others say, as origin may read any of them. A body that is not a form (JSON, compressed)
/// is not read: an SMS call, as clerk-js sends forms alone.
pub(super) fn strategy(req: &Request<'_>) -> Strategy {
    let form = req.header("content-type").is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if (!req.body.is_empty() && !form) || req.body_truncated || req.header("content-encoding").is_some() {
        return Strategy::Sms;
    }
    let mut seen = Strategy::Absent;
    for input in [req.query().as_bytes(), req.body] {
        for pair in input.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (pair.get(..i).unwrap_or_default(), pair.get(i + 1..).unwrap_or_default()),
                None => (pair, &[][..]),
            };
            let name = form_decode(name).to_ascii_lowercase();
            if name == b"strategy" {
                let value = String::from_utf8_lossy(&form_decode(value)).trim().to_ascii_lowercase();
                if !sends_no_sms(&value) {
                    return Strategy::Sms;
                }
                seen = Strategy::Other;
            } else if spells_strategy(&name) {
                return Strategy::Sms;
            }
        }
    }
    seen
}

/// Whether a field name other than `strategy` is one some framework reads as it (`strategy[]`,
/// ` strategy`, `strategy.`): its value cannot be told apart from the strategy's. Other names
/// holding the word (`external_account_strategy`) are other fields.
fn spells_strategy(name: &[u8]) -> bool {
    let trimmed = name.trim_ascii();
    let base =
        trimmed.iter().position(|&b| b == b'[').map_or(trimmed, |i| trimmed.get(..i).unwrap_or(trimmed));
    let base: Vec<u8> = base.iter().copied().filter(|b| !matches!(b, 0 | b'.')).collect();
    base == b"strategy"
}

fn sends_no_sms(strategy: &str) -> bool {
    !SMS_STRATEGIES.contains(&strategy)
        && (OTHER_STRATEGIES.contains(&strategy)
            || OTHER_STRATEGY_PREFIXES.iter().any(|p| strategy.starts_with(p)))
}

/// Whether a call to Clerk sends no SMS by what it names: a preparation of a strategy that
/// sends none, or a creation (or a sign-up's update) without an SMS strategy that carries no
/// number either.
pub(super) fn sends_nothing(call: ClerkCall, strategy: Strategy, carries_number: bool) -> bool {
    match strategy {
        Strategy::Other => call.prepares() || (call.sends_by_strategy() && !carries_number),
        Strategy::Absent => call.sends_by_strategy() && !carries_number,
        Strategy::Sms => false,
    }
}

/// Whether a call carrying a number binds it and sends nothing itself: a user's new number,
/// and a creation or update without an SMS strategy (its code, if any, goes at a later
/// preparation naming its id).
pub(super) fn binds_without_sending(call: ClerkCall, strategy: Strategy) -> bool {
    call == ClerkCall::PhoneCreate || (call.sends_by_strategy() && strategy != Strategy::Sms)
}

/// Whether an answered code confirms the number its path's id was bound to: a sign-in's
/// first factor by an SMS strategy, a sign-up's or a user's number's verification.
pub(super) fn confirms_binding(call: ClerkCall, strategy: Strategy) -> bool {
    match call {
        ClerkCall::SignInAttemptFirst | ClerkCall::SignUpAttempt => strategy == Strategy::Sms,
        ClerkCall::PhoneAttempt => true,
        _ => false,
    }
}

/// Percent-decodes a form name or value, `+` as space; a stray `%` stays as it is.
fn form_decode(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match (b, raw.get(i + 1).copied().and_then(hex), raw.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push(h * 16 + l);
                i += 3;
            }
            _ => {
                out.push(if b == b'+' { b' ' } else { b });
                i += 1;
            }
        }
    }
    out
}
