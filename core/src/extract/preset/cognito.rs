//! Amazon Cognito's calls: the `X-Amz-Target` operations that send an SMS or check a code.

use crate::config::{HeaderMatchDoc, JsonMatchDoc, MatchDoc};

/// The conditions of one Cognito operation whose JSON fields hold one of the values listed.
pub(super) fn cognito_call(op: &str, conditions: &[(&str, &[&str])]) -> MatchDoc {
    MatchDoc {
        methods: vec!["POST".to_owned()],
        headers: vec![HeaderMatchDoc {
            name: "x-amz-target".to_owned(),
            equals: Some(format!("AWSCognitoIdentityProviderService.{op}")),
            prefix: None,
            any_of: None,
        }],
        json: conditions
            .iter()
            .map(|(field, any_of)| JsonMatchDoc {
                field: (*field).to_owned(),
                any_of: any_of.iter().map(|v| (*v).to_owned()).collect(),
                none_of: Vec::new(),
            })
            .collect(),
        ..MatchDoc::default()
    }
}

/// Whether the request names one AWS operation, `target`, and no other.
pub(super) fn only_target(headers: &[(&str, &str)], target: &str) -> bool {
    let mut targets = headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case("x-amz-target")).peekable();
    targets.peek().is_some() && targets.all(|(_, value)| *value == target)
}

/// `X-Amz-Target` values of the Cognito operations that make Cognito send an SMS (besides
/// `RespondToAuthChallenge` choosing one, and `InitiateAuth` signing in, below).
pub(super) const COGNITO_SEND_OPS: &[&str] = &[
    "SignUp",
    "ResendConfirmationCode",
    "ForgotPassword",
    "UpdateUserAttributes",
    "GetUserAttributeVerificationCode",
];

/// `InitiateAuth` flows that never send an SMS: a token refresh (Amplify's, every hour for every
/// user signed in), and the first step of SRP (its SMS goes with the answer to
/// `PASSWORD_VERIFIER`, judged there). Every other flow, one Cognito adds later included, is a
/// send.
pub(super) const COGNITO_FLOWS_SENDING_NOTHING: &[&str] =
    &["REFRESH_TOKEN_AUTH", "REFRESH_TOKEN", "USER_SRP_AUTH"];

/// `InitiateAuth` flows that sign in with a password (or a custom challenge): an SMS follows
/// only for a user with SMS MFA whose password was right.
pub(super) const COGNITO_PASSWORD_FLOWS: &[&str] =
    &["USER_PASSWORD_AUTH", "ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH", "CUSTOM_AUTH"];

/// `X-Amz-Target` values of the Cognito operations that confirm a code (besides
/// `RespondToAuthChallenge` answering one, below).
pub(super) const COGNITO_CONFIRM_OPS: &[&str] =
    &["ConfirmSignUp", "ConfirmForgotPassword", "VerifyUserAttribute"];

/// `RespondToAuthChallenge` sends an SMS when it answers `SELECT_CHALLENGE` (with `ANSWER:
/// SMS_OTP`) or `SELECT_MFA_TYPE` (with `SMS_MFA`), or when a password it answers with
/// (`PASSWORD_VERIFIER` of SRP, `NEW_PASSWORD_REQUIRED`) leads to SMS MFA; it confirms a code
/// when it answers `SMS_OTP` or `SMS_MFA` with the code.
pub(super) const COGNITO_CHALLENGE_SENDS: &[&str] =
    &["SELECT_CHALLENGE", "SELECT_MFA_TYPE", "PASSWORD_VERIFIER", "NEW_PASSWORD_REQUIRED"];
pub(super) const COGNITO_CHALLENGE_CONFIRMS: &[&str] = &["SMS_OTP", "SMS_MFA"];
