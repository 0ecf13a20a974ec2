//! Presets: where well-known SMS-sending APIs carry the phone number and the CAPTCHA token.
//!
//! A preset says where to look in a request, which calls of its API a route matches when the
//! route gives no `match` of its own, and how refusals are written. A preset adds to the
//! explicit sources of the same spec, and an explicit `token` replaces the preset's.

use super::plan::ValueFilter;
use crate::config::{HeaderMatchDoc, JsonMatchDoc, MatchDoc, ParamMatchDoc, PathMatchDoc, RouteKind};
use crate::refusal::RefusalFormat;
use crate::request::Request;

mod auth0;
mod clerk;
mod cognito;
mod supabase;
mod vonage;

use auth0::{auth0_call_with, is_auth0_call, AUTH0_PASSWORDLESS_OTP};
use clerk::{clerk_call, ClerkCall};
use cognito::{
    cognito_call, only_target, COGNITO_CHALLENGE_CONFIRMS, COGNITO_CHALLENGE_SENDS, COGNITO_CONFIRM_OPS,
    COGNITO_FLOWS_SENDING_NOTHING, COGNITO_PASSWORD_FLOWS, COGNITO_SEND_OPS,
};
use supabase::{factor_call, is_supabase_call, supabase_call};
use vonage::vonage_request_call;

/// A request shape of a well-known API, named in the policy as `"preset": "cognito"` etc.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Amazon Cognito user pools API (AWS JSON 1.1 body, `Content-Type:
    /// application/x-amz-json-1.1`, `X-Amz-Target: AWSCognitoIdentityProviderService.<Op>`).
    /// Numbers: the `phone_number` entry of the `UserAttributes` name/value array
    /// (`{"Name": "phone_number", "Value": "+1..."}`; `SignUp`, `UpdateUserAttributes`), and the
    /// top-level `Username` when it starts with `+` (`ForgotPassword`,
    /// `ResendConfirmationCode`, or `SignUp` in pools where the phone number is the user name;
    /// Cognito takes phone numbers only in E.164 there, so other user names are left alone),
    /// and on the same terms `AuthParameters.USERNAME` (`InitiateAuth` with `USER_AUTH`:
    /// passwordless SMS sign-in and SMS MFA) and `ChallengeResponses.USERNAME`
    /// (`RespondToAuthChallenge` answering `SMS_OTP`). Token: none. Account: those three user
    /// names, whatever they hold (`ForgotPassword` or `ResendConfirmationCode` by e-mail
    /// address in a pool whose user names are not phone numbers), and the `username` claim of
    /// `AccessToken`.
    Cognito,
    /// Amazon SNS `Publish` (also `CreateSMSSandboxPhoneNumber`): `PhoneNumber` as a query
    /// parameter (`?Action=Publish&PhoneNumber=...`), as a form field (the query API POSTed as
    /// `application/x-www-form-urlencoded`) and as a top-level JSON key. Token: none.
    SnsPublish,
    /// Twilio Verify `POST /v2/Services/{ServiceSid}/Verifications` (form-encoded): the form
    /// field `To`, unless it holds an `@` (with `Channel=email` it is an e-mail address, which
    /// is then the request's account). Token: none.
    TwilioVerify,
    /// Firebase Authentication / Identity Platform (JSON): `phoneNumber`
    /// (`v1/accounts:sendVerificationCode`) and `phoneEnrollmentInfo.phoneNumber`
    /// (`v2/accounts/mfaEnrollment:start`). Token: `recaptchaToken`,
    /// `phoneEnrollmentInfo.recaptchaToken`, and `captchaResponse` (the JS SDK v10+ under
    /// reCAPTCHA Enterprise, which sends no `recaptchaToken`; its `"NO_RECAPTCHA"`, sent beside
    /// `recaptchaToken` where Enterprise is off, is no token), the app attestations
    /// (`playIntegrityToken`, `safetyNetToken`, `iosReceipt`), at the top and under
    /// `phoneEnrollmentInfo` / `phoneSignInInfo`. Paths as Google serves them, or under
    /// `/identitytoolkit.googleapis.com/` (the JS SDK given the guard's host by
    /// `connectAuthEmulator`). Account: `mfaEnrollmentId`
    /// (`v2/accounts/mfaSignIn:start`, which names the enrolled second factor, not its number)
    /// and the `user_id` claim of `idToken` (`v2/accounts/mfaEnrollment:start`).
    Firebase,
    /// Supabase Auth (GoTrue) under `/auth/v1/` (JSON): `phone` (`/otp`, `/signup`, `/resend`,
    /// `PUT /user`, and `/factors`, a phone factor's enrolment: its challenges go to that number
    /// and name only the factor, in their path, under whose id a `bound_number` rule keeps the
    /// number), read as an international number with or without its `+`, as GoTrue reads it.
    /// Token: `gotrue_meta_security.captcha_token`. Account: the `sub` claim of the
    /// `Authorization` bearer token (`PUT /user`, `/reauthenticate`, a factor's `/challenge`:
    /// a signed-in user's calls; the anon key a client sends elsewhere has no `sub`).
    Supabase,
    /// Auth0 Authentication API (JSON or form-encoded), at the root of the tenant's (custom)
    /// domain: `phone_number` (`/passwordless/start`, a database connection's `/otp/challenge`,
    /// an SMS or voice factor's `/mfa/associate`, the legacy `/passwordless/verify`) and, on the
    /// code's exchange (`/oauth/token` and `/co/authenticate` with the passwordless OTP grant),
    /// `username` unless it holds an `@` (then an e-mail address, the account), each read as an
    /// international number with or without its `+`. Token: none (Auth0's own `captcha` is
    /// Auth0's to verify). Account: `authenticator_id` (`/mfa/challenge`, which sends to the
    /// factor it names and names no number), `auth_session` (the exchange of an
    /// `/otp/challenge`'s code names the challenge by the session its answer gave), and the
    /// `sub` claim of the `Authorization` bearer token (`/mfa/associate` with an access token;
    /// an `mfa_token` names no one).
    Auth0,
    /// Vonage Verify v2 (`POST /v2/verify`, JSON): the `to` of every `workflow` step, read as
    /// an international number with or without its `+` (Vonage takes E.164 digits without it),
    /// unless it holds an `@` (an e-mail step, whose address is then the account). A request's
    /// next step (`/v2/verify/<request_id>/next_workflow`) and its code's check
    /// (`/v2/verify/<request_id>`) name the request in their path, under whose id a
    /// `bound_number` rule keeps the number the request sent to. Token: none.
    VonageVerify,
    /// Clerk's Frontend API (form-encoded; at the Frontend API host's root, `/v1/...`, or under
    /// the site's proxy path, `/__clerk/v1/...`). Numbers: `identifier` when it starts with `+`
    /// (a sign-in; an e-mail address or user name is then the account) and `phone_number` (a
    /// sign-up, its update, a signed-in user's new number), read as an international number
    /// with or without its `+`, in the form, the query and a JSON body alike. A sign-in, a
    /// sign-up and a user's number are created with the number and named by the id Clerk
    /// answers (`sia_…`, `sua_…`, `idn_…`) in the path of the calls that send its codes
    /// (`prepare_first_factor`, `prepare_second_factor`, `prepare_verification`), under which a
    /// `bound_number` rule keeps the number. Calls whose `strategy` sends no SMS (an e-mail
    /// code, a password, a passkey, OAuth) are left alone. Token: none (Clerk's own CAPTCHA is
    /// Clerk's to verify). Account: a non-number `identifier`, `phone_number_id` (a
    /// preparation naming the user's phone Clerk holds: judged as a send to the number bound
    /// to it where the path's id has none), and `_clerk_session_id` (a signed-in user's calls).
    Clerk,
}

/// What origin's answer to a send says went out ([`Preset::send_answer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnsweredSend {
    /// A sign-up's code, by SMS to the number it carried.
    CodeBySms,
    /// A sign-up taken, its code sent another way (e-mail) or none (the pool confirmed it).
    AcceptedOtherwise,
    /// A password sign-in's SMS MFA code, to the number the service holds for the user.
    SignInCode,
    /// Nothing sent yet, the number bound to the id the answer names (a Supabase phone factor's
    /// enrolment: its challenges go there), every record of the call kept under that id.
    Bound,
    /// Nothing the guard records.
    Nothing,
}

/// The longest user id an answer may name that the guard records (Cognito's `sub` is a UUID):
/// a longer value is no id the service made.
const MAX_ANSWERED_USER_ID: usize = 128;

/// The longest session an Auth0 answer may name that the guard records: opaque and Auth0's
/// (its length is not documented), bounded so one answer cannot make a key of any size.
const MAX_ANSWERED_SESSION: usize = 4096;

/// What origin's successful answer to a send says ([`Preset::send_answer`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendAnswer {
    /// What went out.
    pub sent: AnsweredSend,
    /// The id the service gave the user the call made, folded as extraction folds account
    /// names (Cognito's `UserSub`): a name the user's later calls may use instead of the one
    /// the call carried (an SRP sign-in in a pool whose users sign in by e-mail names it).
    pub user_id: Option<String>,
}

/// A name/value pair array a preset reads.
pub(crate) struct PresetPairs {
    pub(crate) array: &'static str,
    pub(crate) name_key: &'static str,
    pub(crate) value_key: &'static str,
    pub(crate) names: &'static [&'static str],
}

/// Everything one preset adds to a spec.
pub(crate) struct PresetSources {
    pub(crate) json_paths: &'static [(&'static str, ValueFilter)],
    pub(crate) json_name_value: &'static [PresetPairs],
    pub(crate) form_fields: &'static [(&'static str, ValueFilter)],
    pub(crate) query_params: &'static [(&'static str, ValueFilter)],
    pub(crate) token_json_paths: &'static [&'static str],
    /// Values at those paths that say "no token" (an SDK's placeholder), read as absent.
    pub(crate) token_placeholders: &'static [&'static str],
    /// Paths of the account, each with the claims to read when its value is a JSON Web Token
    /// (none: the value itself).
    pub(crate) account_json_paths: &'static [(&'static str, &'static [&'static str])],
    /// The API reads JSON as protobuf does: every key by its proto name too (`phone_number`
    /// for `phoneNumber`), so the route's keys match with underscores left out.
    pub(crate) proto_names: bool,
    /// Claims of the `Authorization: Bearer` JSON Web Token that name the account, the first
    /// one held; empty: the header names none.
    pub(crate) bearer_claims: &'static [&'static str],
}

impl PresetSources {
    /// Whether requests may name an account here: account paths, or a source whose filter
    /// turns some values away (those name the recipient another way).
    pub(crate) fn names_accounts(&self) -> bool {
        let filtered = |list: &[(&str, ValueFilter)]| {
            list.iter().any(|(_, f)| !matches!(f, ValueFilter::Any | ValueFilter::International))
        };
        !self.account_json_paths.is_empty()
            || !self.bearer_claims.is_empty()
            || filtered(self.json_paths)
            || filtered(self.form_fields)
            || filtered(self.query_params)
    }
}

impl Preset {
    pub(crate) fn sources(self) -> PresetSources {
        const NONE: PresetSources = PresetSources {
            json_paths: &[],
            json_name_value: &[],
            form_fields: &[],
            query_params: &[],
            token_json_paths: &[],
            token_placeholders: &[],
            account_json_paths: &[],
            proto_names: false,
            bearer_claims: &[],
        };
        match self {
            Preset::Cognito => PresetSources {
                json_paths: &[
                    ("Username", ValueFilter::LeadingPlus),
                    ("AuthParameters.USERNAME", ValueFilter::LeadingPlus),
                    ("ChallengeResponses.USERNAME", ValueFilter::LeadingPlus),
                ],
                json_name_value: &[PresetPairs {
                    array: "UserAttributes",
                    name_key: "Name",
                    value_key: "Value",
                    names: &["phone_number"],
                }],
                // A user name; where a call names the user by its access token alone
                // (`UpdateUserAttributes`, `GetUserAttributeVerificationCode`), the token's
                // `username` claim: a token is fresh at every refresh, the user is not.
                account_json_paths: &[
                    ("Username", &[]),
                    ("AuthParameters.USERNAME", &[]),
                    ("ChallengeResponses.USERNAME", &[]),
                    ("AccessToken", &["username"]),
                ],
                ..NONE
            },
            Preset::SnsPublish => PresetSources {
                json_paths: &[("PhoneNumber", ValueFilter::Any)],
                form_fields: &[("PhoneNumber", ValueFilter::Any)],
                query_params: &[("PhoneNumber", ValueFilter::Any)],
                ..NONE
            },
            Preset::TwilioVerify => PresetSources { form_fields: &[("To", ValueFilter::NoAtSign)], ..NONE },
            Preset::Firebase => PresetSources {
                json_paths: &[
                    ("phoneNumber", ValueFilter::Any),
                    ("phoneEnrollmentInfo.phoneNumber", ValueFilter::Any),
                ],
                // What Google verifies before it sends: reCAPTCHA (classic or Enterprise), or
                // the app's attestation (Play Integrity, SafetyNet, an APNs receipt), at the top
                // of `sendVerificationCode` or under the second factor's enrolment or sign-in.
                // Single-use and Google's to verify: policies over this preset set
                // `captcha.verify: origin`.
                token_json_paths: &[
                    "recaptchaToken",
                    "captchaResponse",
                    "playIntegrityToken",
                    "safetyNetToken",
                    "iosReceipt",
                    "phoneEnrollmentInfo.recaptchaToken",
                    "phoneEnrollmentInfo.captchaResponse",
                    "phoneEnrollmentInfo.playIntegrityToken",
                    "phoneEnrollmentInfo.safetyNetToken",
                    "phoneEnrollmentInfo.iosReceipt",
                    "phoneSignInInfo.recaptchaToken",
                    "phoneSignInInfo.captchaResponse",
                    "phoneSignInInfo.playIntegrityToken",
                    "phoneSignInInfo.safetyNetToken",
                    "phoneSignInInfo.iosReceipt",
                ],
                // Where reCAPTCHA Enterprise is off for phone sign-in (the default) or failed
                // in audit mode, the web and iOS SDKs send `captchaResponse: "NO_RECAPTCHA"`
                // beside the real token (`recaptchaToken`, `iosReceipt`): not a second token.
                token_placeholders: &["NO_RECAPTCHA"],
                // Second-factor sign-ins name the enrolled phone by its id only;
                // `mfaEnrollment:start` names the user by its ID token's user id (a TOTP
                // enrolment carries no number at all).
                account_json_paths: &[("mfaEnrollmentId", &[]), ("idToken", &["user_id", "sub"])],
                // Google's JSON is protobuf's: `{"phone_number": ...}` sends as `phoneNumber` does.
                proto_names: true,
                ..NONE
            },
            Preset::Supabase => PresetSources {
                // GoTrue strips one `+` and the spaces, then sends to the digits as E.164.
                json_paths: &[("phone", ValueFilter::International)],
                // hCaptcha or Turnstile, verified by GoTrue itself: policies over this preset
                // set `captcha.verify: origin`.
                token_json_paths: &["gotrue_meta_security.captcha_token"],
                // A user's own calls carry its session; the anon key has no `sub`. GoTrue
                // verifies the token, so a forged one sends nothing.
                bearer_claims: &["sub"],
                ..NONE
            },
            // Each step of the workflow sends to its `to` (SMS, voice, WhatsApp, RCS, silent
            // authentication) or e-mails it.
            Preset::VonageVerify => PresetSources {
                json_paths: &[("workflow[*].to", ValueFilter::InternationalNoAtSign)],
                ..NONE
            },
            Preset::Auth0 => PresetSources {
                // Auth0 wants E.164 and hands the digits to its SMS provider: a number without
                // its `+` is never one of the default region's there.
                // The code of an `otp/challenge` is exchanged under the session its answer named
                // (`auth_session`), which names the number no more: that session is the account.
                json_paths: AUTH0_BODY_FIELDS,
                form_fields: AUTH0_BODY_FIELDS,
                // Auth0 reads its bodies; a number in the query is judged all the same, so a
                // request that moves it there is never a quiet numberless call.
                query_params: &[("phone_number", ValueFilter::International)],
                // A challenge names the enrolled factor (`sms|dev_…`), not its number.
                account_json_paths: &[("authenticator_id", &[])],
                bearer_claims: &["sub"],
                ..NONE
            },
            // Clerk takes a sign-in's phone `identifier` and a `phone_number` in E.164; an
            // identifier without `+` is a user name or an e-mail address, the account. Read in
            // a JSON body and the query too, so moving a number there hides nothing.
            Preset::Clerk => PresetSources {
                json_paths: CLERK_FIELDS,
                form_fields: CLERK_FIELDS,
                // clerk-js names a signed-in user's session in the query of its `/me` calls.
                query_params: &[
                    ("identifier", ValueFilter::LeadingPlus),
                    ("phone_number", ValueFilter::International),
                    ("phone_number_id", ValueFilter::Account),
                    ("_clerk_session_id", ValueFilter::Account),
                ],
                ..NONE
            },
        }
    }
}

/// Where Auth0 reads a body's number, its exchange's user and its challenge's session, in JSON
/// and in a form alike.
const AUTH0_BODY_FIELDS: &[(&str, ValueFilter)] = &[
    ("phone_number", ValueFilter::International),
    ("username", ValueFilter::InternationalNoAtSign),
    ("auth_session", ValueFilter::Account),
];

/// Where Clerk reads a sign-in's identifier, a number, and the id of the user's phone a
/// preparation names (the account its codes count against where no number is bound: a sign-in
/// by e-mail address), in a form, JSON and the query alike.
const CLERK_FIELDS: &[(&str, ValueFilter)] = &[
    ("identifier", ValueFilter::LeadingPlus),
    ("phone_number", ValueFilter::International),
    ("phone_number_id", ValueFilter::Account),
];

/// An id origin's answer names (a string), folded as accounts are; none when empty or longer
/// than `max` (no id the service made).
fn answered_id(value: &serde_json::Value, max: usize) -> Option<String> {
    value.as_str().map(crate::extract::fold_account).filter(|id| !id.is_empty() && id.len() <= max)
}

/// What a request's path names as the holder of its binding ([`Preset::path_binding`]).
#[derive(Debug, PartialEq, Eq)]
pub enum PathBinding {
    /// None: the binding, if any, is the account's.
    None,
    /// One id, folded as accounts are.
    Named(String),
    /// Readings of the path that name different ids: which one origin acts on is its choice.
    Ambiguous(String),
}

impl Preset {
    /// Whether the API's later sends name an account a call bound, never its number (Cognito's
    /// resends, resets and sign-ins by user name): the sends a `bound_number` rule judges.
    /// Firebase's second-factor sign-ins name the enrolment, which no call binds. Supabase's
    /// resend of a phone change names the user by its phone, bound by the change (`PUT /user`).
    pub fn sends_by_bound_account(self) -> bool {
        matches!(self, Preset::Cognito | Preset::Supabase | Preset::VonageVerify | Preset::Clerk)
    }

    /// Whether the request names one call of the API and no other (for Cognito, one
    /// `X-Amz-Target` value however many times it is sent).
    pub fn names_one_call(self, req: &Request<'_>) -> bool {
        match self {
            Preset::Cognito => {
                req.header("x-amz-target").is_some_and(|first| only_target(req.headers, first))
            }
            Preset::SnsPublish
            | Preset::TwilioVerify
            | Preset::Firebase
            | Preset::Supabase
            | Preset::Auth0
            | Preset::VonageVerify
            | Preset::Clerk => true,
        }
    }

    /// Whether the call binds the account it names to the number it carries: the SMS goes to
    /// that number because it becomes the account's (Cognito's `SignUp`). Other calls naming
    /// both may send to the number the service already holds, the one carried being a decoy
    /// (a `ForgotPassword` with a stray `UserAttributes`), so a confirmation of their code says
    /// nothing of the number carried.
    ///
    /// Firebase's `mfaEnrollment:start` binds the user its ID token names to the phone it
    /// enrols.
    pub fn binds_account(self, req: &Request<'_>) -> bool {
        match self {
            Preset::Cognito => only_target(req.headers, "AWSCognitoIdentityProviderService.SignUp"),
            Preset::Firebase => req.path_only().ends_with("/accounts/mfaEnrollment:start"),
            // A phone change: GoTrue holds the number as the user's pending one, where a resend
            // of the change's code goes (`PUT /user`); a phone factor's enrolment: its
            // challenges go to the number, naming the factor its answer gives.
            Preset::Supabase => {
                (req.method.eq_ignore_ascii_case("PUT") && is_supabase_call(req, "user"))
                    || (req.method.eq_ignore_ascii_case("POST") && is_supabase_call(req, "factors"))
            }
            // A database connection's challenge: its code is exchanged under the session its
            // answer names (`auth_session`), not the number.
            Preset::Auth0 => is_auth0_call(req, "/otp/challenge"),
            // A verification request: its next steps name the request its answer gives.
            Preset::VonageVerify => {
                req.method.eq_ignore_ascii_case("POST")
                    && req.path_only().trim_end_matches('/').eq_ignore_ascii_case("/v2/verify")
            }
            // A sign-in, a sign-up (and its update) and a user's new number: their codes are
            // sent by calls naming the id the answer gives.
            Preset::Clerk => clerk_path(req)
                .call()
                .is_some_and(|(_, call)| call.creates() || call == ClerkCall::SignUpUpdate),
            Preset::SnsPublish | Preset::TwilioVerify => false,
        }
    }

    /// Whether a binding call binds only a number it carries: without one it asks for a code
    /// to the number its path names (a Clerk sign-up's update with an SMS `strategy`), and is
    /// judged as a send to that number.
    pub fn binds_only_carried_number(self, req: &Request<'_>) -> bool {
        self == Preset::Clerk
            && clerk_path(req).call().is_some_and(|(_, call)| call == ClerkCall::SignUpUpdate)
    }

    /// Whether the call sends no SMS by what it names (a Clerk call whose `strategy` sends
    /// none, or a creation without an SMS strategy carrying no number): nothing to judge,
    /// whatever `inputs.on_no_number` says.
    pub fn sends_nothing(self, req: &Request<'_>, carries_number: bool) -> bool {
        self == Preset::Clerk
            && clerk_path(req)
                .call()
                .is_some_and(|(_, call)| clerk::sends_nothing(call, clerk::strategy(req), carries_number))
    }

    /// Whether a call whose path names an id nothing is bound to is `no_number`: a Clerk
    /// sign-up's or a user's number's code goes to the number the call that made it carried,
    /// which the guard judged and bound, so an id nothing is bound to was made around the
    /// guard (or before it), and its number cannot be judged. A sign-in's codes may go to a
    /// number Clerk holds for the user (a sign-in by e-mail address): not such a call.
    pub fn unbound_path_is_numberless(self, req: &Request<'_>) -> bool {
        self == Preset::Clerk
            && clerk_path(req)
                .call()
                .is_some_and(|(_, call)| matches!(call, ClerkCall::SignUpPrepare | ClerkCall::PhonePrepare))
    }

    /// Whether a CAPTCHA token on this binding call answers the challenges of the sends naming
    /// its binding for a while ([`crate::limit::CARRIED_ANSWER_MS`]), where origin verifies
    /// tokens: clerk-js sends Clerk's token with a sign-up's creation, never with the
    /// preparations that send its codes, so a challenge there could not be answered. Only a
    /// call whose token origin verifies: Clerk ignores a token on a sign-up's update, a
    /// sign-in or a user's new number, so one there would answer nothing it had checked.
    pub fn answer_carries_from(self, req: &Request<'_>) -> bool {
        self == Preset::Clerk
            && clerk_path(req).call().is_some_and(|(_, call)| call == ClerkCall::SignUpCreate)
    }

    /// Whether a call sends to one number however many it carries: two different ones are
    /// ambiguous (which one origin sends to is its choice), and would bind neither.
    pub fn sends_to_one_number(self) -> bool {
        self == Preset::Clerk
    }

    /// Whether the call binds the number it carries and sends nothing itself (a Supabase phone
    /// factor's enrolment: the challenges naming the factor send the codes, each judged as a
    /// send to that number). Judged by what the number is (country, type, lists), it counts
    /// against no limit: counted too, a real user's first challenge would meet the backoff of
    /// an enrolment that sent nothing.
    ///
    /// A Clerk sign-in made without an SMS strategy (by password, or to choose a factor next)
    /// is judged by nothing: no code may ever go, and a policy refusing the number's country
    /// must not refuse a password sign-in. Its code, if any, goes at a preparation naming it.
    pub fn binds_without_sending(self, req: &Request<'_>) -> BindsWithoutSending {
        match self {
            Preset::Supabase
                if req.method.eq_ignore_ascii_case("POST") && is_supabase_call(req, "factors") =>
            {
                BindsWithoutSending::JudgedByNumber
            }
            Preset::Clerk => match clerk_path(req).call() {
                Some((_, call)) if clerk::binds_without_sending(call, clerk::strategy(req)) => {
                    if call == ClerkCall::SignInCreate {
                        BindsWithoutSending::Unjudged
                    } else {
                        BindsWithoutSending::JudgedByNumber
                    }
                }
                _ => BindsWithoutSending::No,
            },
            _ => BindsWithoutSending::No,
        }
    }

    /// Whether a binding call's records are kept only under the id its answer names, not under
    /// the account the call named: a Supabase phone change binds the pending number to the
    /// user's current phone, which a resend of the change names, and not to its `sub`, which
    /// its other numberless sends name (`reauthenticate`, a factor's challenge), going to
    /// other numbers; a phone factor's enrolment binds its number to the factor the answer
    /// names, which its challenges name.
    ///
    /// An Auth0 `otp/challenge` names no one: its answer's session is the only name.
    ///
    /// Clerk's creations name no one (or a user's session): the id answered is the name.
    pub fn binds_under_answered_id_only(self) -> bool {
        matches!(self, Preset::Supabase | Preset::Auth0 | Preset::VonageVerify | Preset::Clerk)
    }

    /// Whether the call confirms the code of a call that [`Preset::binds_account`] (Cognito's
    /// `ConfirmSignUp`): only such a confirmation may credit the number bound to its account.
    /// Another (`ConfirmForgotPassword`, an MFA answer) confirms a code sent to the number the
    /// service holds for the user, which need not be the one a sign-up carried.
    ///
    /// Firebase's `mfaEnrollment:finalize` (its ID token names the user) takes what
    /// `mfaEnrollment:start` bound.
    pub fn confirms_binding(self, req: &Request<'_>) -> bool {
        match self {
            Preset::Cognito => only_target(req.headers, "AWSCognitoIdentityProviderService.ConfirmSignUp"),
            Preset::Firebase => req.path_only().ends_with("/accounts/mfaEnrollment:finalize"),
            // The exchange of an `otp/challenge`'s code names its session, not the number (one
            // carrying the number, `username`, is credited by it).
            Preset::Auth0 => is_auth0_call(req, "/oauth/token"),
            // A code's check names the request (its path), whose number the request bound.
            Preset::VonageVerify => {
                vonage_request_call(req.path_only()).is_some_and(|(_, call)| call.is_empty())
            }
            // A factor's verify names the factor (its path), whose enrolment bound its number.
            Preset::Supabase => {
                factor_call(req.path_only()).is_some_and(|(_, call)| call.eq_ignore_ascii_case("verify"))
            }
            // A sign-in's first factor by SMS, a sign-up's or a user's number's verification:
            // each names, in its path, what the number was bound to.
            Preset::Clerk => clerk_path(req)
                .call()
                .is_some_and(|(_, call)| clerk::confirms_binding(call, clerk::strategy(req))),
            Preset::SnsPublish | Preset::TwilioVerify => false,
        }
    }

    /// What origin's successful answer to a call that [`Preset::binds_account`], or to a
    /// password sign-in, says: what went out, and the id of the user a sign-up made.
    pub fn send_answer(self, body: Option<&[u8]>) -> SendAnswer {
        let Some(answer) = body.and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok()) else {
            return SendAnswer { sent: AnsweredSend::Nothing, user_id: None };
        };
        let user_id = match self {
            // Cognito names a sign-up's user by `UserSub`; in a pool whose users sign in by
            // e-mail or phone it is also the user name, the one SRP sign-ins and tokens carry.
            Preset::Cognito => answered_id(&answer["UserSub"], MAX_ANSWERED_USER_ID),
            // A phone factor's enrolment answers the factor, which its challenges name.
            Preset::Supabase if answer["type"] == "phone" => answered_id(&answer["id"], MAX_ANSWERED_USER_ID),
            // A phone change answers the user, whose current phone (stored without its `+`)
            // is the name a resend of the change's code finds the user by.
            Preset::Supabase => answer["phone"]
                .as_str()
                .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .map(|digits| format!("+{digits}"))
                .filter(|id| id.len() <= MAX_ANSWERED_USER_ID),
            // A verification request taken: the id its next steps and its check name.
            Preset::VonageVerify => answered_id(&answer["request_id"], MAX_ANSWERED_USER_ID),
            // A challenge's session, opaque and Auth0's: the name its code is exchanged under.
            Preset::Auth0 => answered_id(&answer["auth_session"], MAX_ANSWERED_SESSION),
            // The sign-in, sign-up or number made (`{"response": {"id": "sia_…"}, "client": …}`).
            Preset::Clerk => answered_id(&answer["response"]["id"], MAX_ANSWERED_USER_ID),
            Preset::SnsPublish | Preset::TwilioVerify | Preset::Firebase => None,
        };
        SendAnswer { sent: self.answered_send(&answer), user_id }
    }

    fn answered_send(self, answer: &serde_json::Value) -> AnsweredSend {
        match self {
            Preset::Cognito => {
                let delivery = &answer["CodeDeliveryDetails"];
                if delivery["DeliveryMedium"] == "SMS"
                    && delivery["AttributeName"] == "phone_number"
                    && answer["UserConfirmed"] != true
                {
                    AnsweredSend::CodeBySms
                } else if answer["UserSub"].as_str().is_some_and(|s| !s.is_empty()) {
                    // A sign-up taken whose code went by e-mail, or that the pool confirmed
                    // itself: the number is the user's all the same, where SMS MFA goes.
                    AnsweredSend::AcceptedOtherwise
                } else if answer["ChallengeName"] == "SMS_MFA" {
                    AnsweredSend::SignInCode
                } else {
                    AnsweredSend::Nothing
                }
            }
            // A phone enrolment started: Google sent the code and answers the session it
            // belongs to (a TOTP enrolment answers `totpSessionInfo` and sends no SMS).
            Preset::Firebase => match answer["phoneSessionInfo"]["sessionInfo"].as_str() {
                Some(session) if !session.is_empty() => AnsweredSend::CodeBySms,
                _ => AnsweredSend::Nothing,
            },
            // A phone factor enrolled: nothing sent, the number its challenges go to bound.
            Preset::Supabase if answer["type"] == "phone" && answer["id"].is_string() => AnsweredSend::Bound,
            // A phone change GoTrue took: the code went to the pending number it answers.
            Preset::Supabase => match answer["new_phone"].as_str() {
                Some(pending) if !pending.is_empty() => AnsweredSend::CodeBySms,
                _ => AnsweredSend::Nothing,
            },
            // A challenge Auth0 took: the code went to the number (by SMS or a call).
            // Vonage sent the first step's code (`request_id`; a silent authentication answers a
            // `check_url` beside it).
            Preset::VonageVerify => match answer["request_id"].as_str() {
                Some(id) if !id.is_empty() => AnsweredSend::CodeBySms,
                _ => AnsweredSend::Nothing,
            },
            Preset::Auth0 => match answer["auth_session"].as_str() {
                Some(session) if !session.is_empty() => AnsweredSend::CodeBySms,
                _ => AnsweredSend::Nothing,
            },
            // What Clerk made, its number bound to it whether or not a code went with it.
            Preset::Clerk => match answer["response"]["id"].as_str() {
                Some(id) if !id.is_empty() => AnsweredSend::Bound,
                _ => AnsweredSend::Nothing,
            },
            Preset::SnsPublish | Preset::TwilioVerify => AnsweredSend::Nothing,
        }
    }

    /// Whether the call moves the account's SMS MFA to the number it carries (Cognito's
    /// `UpdateUserAttributes` with a `phone_number`: MFA needs no verified number).
    pub fn moves_sign_in_number(self, req: &Request<'_>) -> bool {
        match self {
            Preset::Cognito => {
                only_target(req.headers, "AWSCognitoIdentityProviderService.UpdateUserAttributes")
            }
            Preset::SnsPublish
            | Preset::TwilioVerify
            | Preset::Firebase
            | Preset::Supabase
            | Preset::Auth0
            | Preset::VonageVerify
            | Preset::Clerk => false,
        }
    }

    /// The calls of the API that answer an SMS code sent to the account's sign-in number, as
    /// sets of request conditions any of which may match (Cognito's `RespondToAuthChallenge`
    /// answering `SMS_MFA` or `SMS_OTP`, `VerifyUserAttribute` of `phone_number`): one origin
    /// accepts proves that the account it names reads that number.
    pub fn sign_in_code_answers(self) -> Vec<MatchDoc> {
        let Preset::Cognito = self else { return Vec::new() };
        vec![
            cognito_call("RespondToAuthChallenge", &[("ChallengeName", COGNITO_CHALLENGE_CONFIRMS)]),
            cognito_call("VerifyUserAttribute", &[("AttributeName", &["phone_number"])]),
        ]
    }

    /// The calls of the API that choose SMS MFA after a right password, as sets of request
    /// conditions any of which may match (Cognito's `RespondToAuthChallenge` answering
    /// `SELECT_MFA_TYPE` with `SMS_MFA`): like a password sign-in, a code to the sign-in number.
    pub fn sms_mfa_choices(self) -> Vec<MatchDoc> {
        let Preset::Cognito = self else { return Vec::new() };
        vec![cognito_call(
            "RespondToAuthChallenge",
            &[("ChallengeName", &["SELECT_MFA_TYPE"]), ("ChallengeResponses.ANSWER", &["SMS_MFA"])],
        )]
    }

    /// The request conditions of the API calls the preset knows, for a route that gives no
    /// `match` of its own, as sets any of which may match: send routes match the calls that send
    /// an SMS, confirm routes the calls that check a code (so Twilio's `VerificationCheck`, or
    /// Cognito's answer to an SMS challenge, is never judged as a send).
    pub fn default_match(self, kind: RouteKind) -> Vec<MatchDoc> {
        let post = || vec!["POST".to_owned()];
        let send = kind == RouteKind::Send;
        let paths = |list: &[&str]| {
            Some(PathMatchDoc::AnyOf(list.iter().map(|p| PathMatchDoc::Pattern((*p).to_owned())).collect()))
        };
        match self {
            Preset::Cognito => {
                let target = |ops: &[&str]| HeaderMatchDoc {
                    name: "x-amz-target".to_owned(),
                    equals: None,
                    prefix: None,
                    any_of: Some(
                        ops.iter().map(|op| format!("AWSCognitoIdentityProviderService.{op}")).collect(),
                    ),
                };
                let (ops, challenges) = if send {
                    (COGNITO_SEND_OPS, COGNITO_CHALLENGE_SENDS)
                } else {
                    (COGNITO_CONFIRM_OPS, COGNITO_CHALLENGE_CONFIRMS)
                };
                let strings = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
                let op_with = |op: &str, field: &str, any_of: &[&str], none_of: &[&str]| MatchDoc {
                    methods: post(),
                    headers: vec![target(&[op])],
                    json: vec![JsonMatchDoc {
                        field: field.to_owned(),
                        any_of: strings(any_of),
                        none_of: strings(none_of),
                    }],
                    ..MatchDoc::default()
                };
                let mut sets = vec![
                    MatchDoc { methods: post(), headers: vec![target(ops)], ..MatchDoc::default() },
                    op_with("RespondToAuthChallenge", "ChallengeName", challenges, &[]),
                ];
                if send {
                    sets.push(op_with("InitiateAuth", "AuthFlow", &[], COGNITO_FLOWS_SENDING_NOTHING));
                }
                sets
            }
            Preset::SnsPublish => vec![MatchDoc {
                // The Query API takes GET as well as POST, the action in the query or the body.
                methods: vec!["GET".to_owned(), "POST".to_owned()],
                params: vec![ParamMatchDoc {
                    name: "Action".to_owned(),
                    any_of: if send {
                        vec!["Publish".to_owned(), "CreateSMSSandboxPhoneNumber".to_owned()]
                    } else {
                        vec!["VerifySMSSandboxPhoneNumber".to_owned()]
                    },
                }],
                ..MatchDoc::default()
            }],
            Preset::TwilioVerify => vec![MatchDoc {
                methods: post(),
                path: paths(&[if send {
                    "/v2/Services/*/Verifications"
                } else {
                    "/v2/Services/*/VerificationCheck"
                }]),
                ..MatchDoc::default()
            }],
            // Each call as Google serves it, and as the JS SDK asks for it of a host given to
            // `connectAuthEmulator` (Google's host name as the first segment): how a page's
            // Auth calls are routed through the guard (docs/clients.md).
            Preset::Firebase => vec![MatchDoc {
                methods: post(),
                path: if send {
                    paths(&[
                        "/v1/accounts:sendVerificationCode",
                        "/v2/accounts/mfaEnrollment:start",
                        "/v2/accounts/mfaSignIn:start",
                        "/identitytoolkit.googleapis.com/v1/accounts:sendVerificationCode",
                        "/identitytoolkit.googleapis.com/v2/accounts/mfaEnrollment:start",
                        "/identitytoolkit.googleapis.com/v2/accounts/mfaSignIn:start",
                    ])
                } else {
                    paths(&[
                        "/v1/accounts:signInWithPhoneNumber",
                        "/v2/accounts/mfaEnrollment:finalize",
                        "/v2/accounts/mfaSignIn:finalize",
                        "/identitytoolkit.googleapis.com/v1/accounts:signInWithPhoneNumber",
                        "/identitytoolkit.googleapis.com/v2/accounts/mfaEnrollment:finalize",
                        "/identitytoolkit.googleapis.com/v2/accounts/mfaSignIn:finalize",
                    ])
                },
                ..MatchDoc::default()
            }],
            // Under `/auth/v1/`, where Supabase serves it (hosted, and self-hosted behind its
            // gateway); a GoTrue served at the root needs a `match` of the route's own.
            Preset::Supabase if send => {
                let call = |method: &str, list: &[&str]| MatchDoc {
                    methods: vec![method.to_owned()],
                    path: paths(list),
                    ..MatchDoc::default()
                };
                vec![
                    call(
                        "POST",
                        &[
                            "/auth/v1/otp",
                            "/auth/v1/signup",
                            "/auth/v1/resend",
                            "/auth/v1/factors",
                            "/auth/v1/factors/*/challenge",
                        ],
                    ),
                    call("PUT", &["/auth/v1/user"]),
                    call("GET", &["/auth/v1/reauthenticate"]),
                ]
            }
            Preset::Supabase => vec![MatchDoc {
                methods: post(),
                path: paths(&["/auth/v1/verify", "/auth/v1/factors/*/verify"]),
                ..MatchDoc::default()
            }],
            // A request, and its move to the workflow's next step (which sends again).
            Preset::VonageVerify if send => vec![MatchDoc {
                methods: post(),
                path: paths(&["/v2/verify", "/v2/verify/*/next_workflow"]),
                ..MatchDoc::default()
            }],
            // A code's check (a template's creation, at `/v2/verify/templates`, matches too
            // and credits nothing: no request of that id was bound).
            Preset::VonageVerify => {
                vec![MatchDoc { methods: post(), path: paths(&["/v2/verify/*"]), ..MatchDoc::default() }]
            }
            // At the root, as a tenant's domain (or a custom domain proxied to it) serves them.
            Preset::Auth0 if send => vec![
                MatchDoc {
                    methods: post(),
                    path: paths(&["/passwordless/start", "/otp/challenge", "/mfa/associate"]),
                    ..MatchDoc::default()
                },
                // A challenge sends to its factor unless it asks for a one-time password from
                // an app alone (`challenge_type` is a space-separated list; absent: any type).
                MatchDoc {
                    methods: post(),
                    path: paths(&["/mfa/challenge"]),
                    json: vec![JsonMatchDoc {
                        field: "challenge_type".to_owned(),
                        any_of: Vec::new(),
                        none_of: vec!["otp".to_owned()],
                    }],
                    ..MatchDoc::default()
                },
            ],
            // At the Frontend API host's root and under Clerk's usual proxy path; a proxy
            // elsewhere needs a `match` of the route's own (docs/clients.md lists the calls).
            // Sign-ups' updates come as `POST ?_method=PATCH` from clerk-js, or as `PATCH`.
            Preset::Clerk if send => {
                let mut sets = clerk_calls(
                    &["POST"],
                    &[
                        "client/sign_ins",
                        "client/sign_ins/*/prepare_first_factor",
                        "client/sign_ins/*/prepare_second_factor",
                        "client/sign_ups",
                        "client/sign_ups/*/prepare_verification",
                        "me/phone_numbers",
                        "me/phone_numbers/*/prepare_verification",
                        "client/sessions/*/verify/prepare_first_factor",
                        "client/sessions/*/verify/prepare_second_factor",
                    ],
                );
                sets.extend(clerk_calls(&["POST", "PATCH"], &["client/sign_ups/*"]));
                sets
            }
            Preset::Clerk => clerk_calls(
                &["POST"],
                &[
                    "client/sign_ins/*/attempt_first_factor",
                    "client/sign_ups/*/attempt_verification",
                    "me/phone_numbers/*/attempt_verification",
                ],
            ),
            // The passwordless code's exchange: the OTP grant at the token endpoint, its
            // cross-origin form (auth0.js), and the legacy verify.
            Preset::Auth0 => {
                let mut sets =
                    Vec::from(auth0_call_with("/oauth/token", "grant_type", AUTH0_PASSWORDLESS_OTP));
                sets.extend(auth0_call_with("/co/authenticate", "credential_type", AUTH0_PASSWORDLESS_OTP));
                sets.push(MatchDoc {
                    methods: post(),
                    path: paths(&["/passwordless/verify"]),
                    ..MatchDoc::default()
                });
                sets
            }
        }
    }

    /// The calls of the API that send an SMS only to a number they carry, as sets of request
    /// conditions any of which may match: without one they send none (Supabase's e-mail
    /// sign-ins, anonymous sign-ups, profile updates), and are left alone whatever
    /// `inputs.on_no_number` says. Every other call without a number is judged as usual (a
    /// Supabase resend of a phone change goes to the number the change named, whatever the
    /// request carries). Safe only where the guard reads every spelling of the number the API
    /// reads: GoTrue matches JSON keys as the guard does (case-insensitively), and a repeated
    /// key is refused as ambiguous.
    pub fn sends_only_to_carried_number(self) -> Vec<MatchDoc> {
        if self == Preset::VonageVerify {
            // A workflow of e-mails alone; Vonage reads each step's `to`, as the guard does.
            return vec![MatchDoc {
                methods: vec!["POST".to_owned()],
                path: Some(PathMatchDoc::Pattern("/v2/verify".to_owned())),
                ..MatchDoc::default()
            }];
        }
        if self == Preset::Auth0 {
            // An e-mail's passwordless start or challenge; a one-time-password app's, an
            // e-mail's or a push factor's enrolment. Auth0 reads `phone_number` by that name alone, from a JSON
            // or form body, as the guard does (and from the query, where the guard looks too).
            return vec![MatchDoc {
                methods: vec!["POST".to_owned()],
                path: Some(PathMatchDoc::AnyOf(vec![
                    PathMatchDoc::Pattern("/passwordless/start".to_owned()),
                    PathMatchDoc::Pattern("/otp/challenge".to_owned()),
                    PathMatchDoc::Pattern("/mfa/associate".to_owned()),
                ])),
                ..MatchDoc::default()
            }];
        }
        let Preset::Supabase = self else { return Vec::new() };
        let call = supabase_call;
        let not_phone_change = JsonMatchDoc {
            field: "type".to_owned(),
            any_of: Vec::new(),
            none_of: vec!["phone_change".to_owned()],
        };
        vec![
            call("POST", "/otp", Vec::new()),
            call("POST", "/signup", Vec::new()),
            call("POST", "/resend", vec![not_phone_change]),
            call("PUT", "/user", Vec::new()),
            // A factor's enrolment sends nothing; a phone factor's names the number its
            // challenges will go to, judged then (a TOTP factor's names none).
            call("POST", "/factors", Vec::new()),
        ]
    }

    /// The calls of the API whose number names the user, not the recipient, as sets of request
    /// conditions any of which may match: Supabase's resend of a phone change finds the user by
    /// the phone it has and sends the code to the one the change asked for (`PUT /user`, which
    /// binds the user to it; its answer names the user's phone, under which the binding is kept
    /// too). The number is then the request's account.
    pub fn numbers_naming_the_account(self) -> Vec<MatchDoc> {
        let Preset::Supabase = self else { return Vec::new() };
        let phone_change = JsonMatchDoc {
            field: "type".to_owned(),
            any_of: vec!["phone_change".to_owned()],
            none_of: Vec::new(),
        };
        vec![supabase_call("POST", "/resend", vec![phone_change])]
    }

    /// The calls of the API that sign in with a password, as sets of request conditions any of
    /// which may match: whether they send an SMS depends on the account (SMS MFA) and on the
    /// password being right, which only the answer tells, so a `bound_number` rule leaves them
    /// to the account's own limits (a real user retrying a mistyped password would otherwise
    /// meet the number's backoff). Every other call naming an account is judged as a send to
    /// the number bound to it, a body the conditions cannot read included.
    ///
    /// A request naming two operations (two `X-Amz-Target` values) is none of them: which one
    /// origin runs is its choice, not the guard's ([`Preset::names_one_call`]).
    pub fn password_sign_ins(self) -> Vec<MatchDoc> {
        let Preset::Cognito = self else { return Vec::new() };
        let call = cognito_call;
        const PASSWORD_CHOICES: &[&str] = &["PASSWORD", "PASSWORD_SRP"];
        vec![
            call("InitiateAuth", &[("AuthFlow", COGNITO_PASSWORD_FLOWS)]),
            call(
                "InitiateAuth",
                &[("AuthFlow", &["USER_AUTH"]), ("AuthParameters.PREFERRED_CHALLENGE", PASSWORD_CHOICES)],
            ),
            call(
                "RespondToAuthChallenge",
                &[("ChallengeName", &["PASSWORD_VERIFIER", "NEW_PASSWORD_REQUIRED"])],
            ),
            call(
                "RespondToAuthChallenge",
                &[("ChallengeName", &["SELECT_CHALLENGE"]), ("ChallengeResponses.ANSWER", PASSWORD_CHOICES)],
            ),
        ]
    }

    /// The name a call's binding is kept under when its path names it: a Supabase factor's
    /// challenge and verify (`/factors/<id>/challenge`) name the factor, which its enrolment
    /// bound to its number; the account stays the user its token names, so the user's own
    /// limits count every factor's challenges. Read in every reading of the path a route
    /// matches in ([`crate::routes::path_readings`]), so a spelling cannot hide the id.
    pub fn path_binding(self, req: &Request<'_>) -> PathBinding {
        let id_in = |reading: &str| -> Option<String> {
            match self {
                Preset::Supabase => factor_call(reading).map(|(id, _)| id),
                Preset::VonageVerify => vonage_request_call(reading).map(|(id, _)| id),
                _ => None,
            }
            .map(crate::extract::fold_account)
        };
        if self == Preset::Clerk {
            return match clerk_path(req) {
                ClerkPath::One(Some(id), _) => PathBinding::Named(id),
                ClerkPath::Ambiguous => {
                    PathBinding::Ambiguous("readings of the path name different Clerk calls".to_owned())
                }
                ClerkPath::One(None, _) | ClerkPath::None => PathBinding::None,
            };
        }
        if !matches!(self, Preset::Supabase | Preset::VonageVerify) {
            return PathBinding::None;
        }
        let mut found: Option<String> = None;
        for reading in crate::routes::path_readings(req.path_only()) {
            let Some(id) = id_in(&reading) else { continue };
            match &found {
                Some(seen) if *seen != id => {
                    return PathBinding::Ambiguous(format!("the path names {seen:?} and {id:?}"));
                }
                _ => found = Some(id),
            }
        }
        found.map_or(PathBinding::None, PathBinding::Named)
    }

    /// The error format of the preset's API, for the route's refusals.
    pub fn refusal_format(self) -> RefusalFormat {
        match self {
            Preset::Cognito => RefusalFormat::AwsJson,
            Preset::SnsPublish => RefusalFormat::AwsQuery,
            Preset::TwilioVerify => RefusalFormat::Twilio,
            Preset::Firebase => RefusalFormat::Firebase,
            Preset::Supabase => RefusalFormat::Supabase,
            Preset::Auth0 => RefusalFormat::Auth0,
            Preset::VonageVerify => RefusalFormat::Vonage,
            Preset::Clerk => RefusalFormat::Clerk,
        }
    }
}

/// The conditions of Clerk calls (paths under `v1/`), at the root and under `/__clerk`.
fn clerk_calls(methods: &[&str], calls: &[&str]) -> Vec<MatchDoc> {
    let paths = calls
        .iter()
        .flat_map(|call| ["", "/__clerk"].map(|prefix| PathMatchDoc::Pattern(format!("{prefix}/v1/{call}"))))
        .collect();
    vec![MatchDoc {
        methods: methods.iter().map(|m| (*m).to_owned()).collect(),
        path: Some(PathMatchDoc::AnyOf(paths)),
        ..MatchDoc::default()
    }]
}

/// The Clerk call a request's path names, the same in every reading of it
/// ([`crate::routes::path_readings`]), or none.
fn clerk_path(req: &Request<'_>) -> ClerkPath {
    let mut found: Option<(Option<String>, ClerkCall)> = None;
    for reading in crate::routes::path_readings(req.path_only()) {
        let Some((id, call)) = clerk_call(&reading) else { continue };
        let named = (id.map(crate::extract::fold_account), call);
        match &found {
            Some(seen) if *seen != named => return ClerkPath::Ambiguous,
            _ => found = Some(named),
        }
    }
    found.map_or(ClerkPath::None, |(id, call)| ClerkPath::One(id, call))
}

/// What [`clerk_path`] finds.
enum ClerkPath {
    None,
    One(Option<String>, ClerkCall),
    /// Readings naming different calls or ids: the call is none the preset knows.
    Ambiguous,
}

impl ClerkPath {
    fn call(&self) -> Option<(Option<&str>, ClerkCall)> {
        match self {
            ClerkPath::One(id, call) => Some((id.as_deref(), *call)),
            ClerkPath::None | ClerkPath::Ambiguous => None,
        }
    }
}

/// Whether a call that binds a number sends nothing itself ([`Preset::binds_without_sending`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindsWithoutSending {
    /// It sends (or binds nothing).
    No,
    /// It sends nothing, and is judged by what the number is (country, type, lists), counted
    /// against no limit.
    JudgedByNumber,
    /// It sends nothing and may never lead to a code: judged by no rule.
    Unjudged,
}
