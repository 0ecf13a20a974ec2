//! How a refusal is written: pumpguard's own JSON, or the protected API's error format, so the
//! API's SDKs raise their usual error with pumpguard's reason in it instead of failing to parse.
//!
//! Statuses and error codes are chosen so SDKs do not retry a refusal on their own: botocore
//! retries HTTP 500, 502, 503 and 504 (its legacy mode also 429) and throttling codes (`TooManyRequestsException`, `Throttling`,
//! `LimitExceededException`, …) whatever the status, so the AWS formats answer every rule
//! refusal with a non-throttling 403 code and carry the wait in the message and `Retry-After`.

use std::fmt::Write as _;

use crate::decision::{push_json_string, Action, Decision, ReasonCode};

/// The error format of a route's refusals (policy: a route's `refusal`; default: its preset's).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalFormat {
    /// `{"error", "message", "rule", "retry_after"}`, `application/json`, pumpguard's statuses.
    #[default]
    Pumpguard,
    /// AWS JSON 1.1 (Cognito): `{"__type", "message"}` and `x-amzn-ErrorType`;
    /// `ForbiddenException` (403) for rule refusals, `InvalidParameterException` (400) for input.
    AwsJson,
    /// AWS Query XML (SNS): `<ErrorResponse><Error><Type><Code><Message>`; `AuthorizationError`
    /// (403) for rule refusals, `InvalidParameter` (400) for input.
    AwsQuery,
    /// Twilio REST: `{"code", "message", "more_info", "status"}`; 60203 (max send attempts)
    /// for throttles, 60410 (delivery attempt blocked) for blocks and challenges, 60200
    /// (invalid parameter) for input; pumpguard's statuses.
    Twilio,
    /// Google's JSON error (Firebase Authentication / Identity Toolkit): `{"error": {"code",
    /// "message": "<CODE> : <text>", "errors", "status"}}`, status 400 as Firebase answers its own
    /// errors. The Firebase SDKs map `<CODE>`: `TOO_MANY_ATTEMPTS_TRY_LATER` for throttles and
    /// timed blocks, `OPERATION_NOT_ALLOWED` for other blocks, `CAPTCHA_CHECK_FAILED` for
    /// challenges, `INVALID_PHONE_NUMBER` / `MISSING_PHONE_NUMBER` / `INVALID_ARGUMENT` for
    /// input, `INTERNAL_ERROR` when a service was unavailable.
    Firebase,
    /// Supabase Auth (GoTrue): `{"code": <status>, "error_code", "msg"}`, pumpguard's statuses.
    /// supabase-js raises an `AuthApiError` whose `code` is `error_code`:
    /// `over_sms_send_rate_limit` for throttles and timed blocks, `captcha_failed` for
    /// challenges, `validation_failed` for input, `sms_send_failed` for other blocks,
    /// `unexpected_failure` when a service was unavailable (503: supabase-js raises its
    /// retryable error there, as for GoTrue's own 5xx).
    Supabase,
    /// Auth0 Authentication API: `{"error", "error_description"}` (the SDKs show
    /// `error_description`, Lock maps `error`), pumpguard's fields under `pumpguard`, pumpguard's
    /// statuses: `too_many_requests` for throttles and timed blocks, `invalid_captcha` for
    /// challenges, `bad.phone_number` for a number that is missing or not one, `invalid_request`
    /// for other input, `access_denied` for other blocks, `temporarily_unavailable` when a
    /// service was unavailable.
    Auth0,
    /// Vonage's API error (RFC 7807): `{"type": "https://developer.vonage.com/api-errors#<code>",
    /// "title", "detail", "instance"}`, pumpguard's fields beside them, pumpguard's statuses:
    /// `throttled` for throttles and timed blocks, `invalid-params` for input, `unavailable`
    /// when a service was unavailable, `forbidden` for other refusals.
    Vonage,
    /// Clerk's Frontend API error: `{"errors": [{"message", "long_message", "code", "meta"}]}`
    /// (clerk-js raises a `ClerkAPIResponseError` and its components show `long_message`),
    /// pumpguard's fields under `pumpguard`, pumpguard's statuses: `too_many_requests` for
    /// throttles and timed blocks, `captcha_invalid` for challenges,
    /// `form_param_format_invalid` for a number that is not one, `form_param_missing` for
    /// none, `form_param_invalid` for other input, `not_allowed_access` for other blocks,
    /// `service_unavailable` when a service was unavailable.
    Clerk,
}

impl RefusalFormat {
    /// The status a refusal answers with, given pumpguard's own (`status`) and the error code.
    pub(crate) fn status(self, status: u16, code: Option<ReasonCode>) -> u16 {
        let input = code.is_some_and(ReasonCode::is_input);
        match self {
            RefusalFormat::Pumpguard
            | RefusalFormat::Twilio
            | RefusalFormat::Supabase
            | RefusalFormat::Auth0
            | RefusalFormat::Vonage
            | RefusalFormat::Clerk => status,
            RefusalFormat::Firebase => 400,
            RefusalFormat::AwsJson | RefusalFormat::AwsQuery if input => 400,
            // No 429 and no 5xx: botocore retries both on its own.
            RefusalFormat::AwsJson | RefusalFormat::AwsQuery => 403,
        }
    }

    /// The content type of the error body.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            RefusalFormat::Pumpguard
            | RefusalFormat::Twilio
            | RefusalFormat::Firebase
            | RefusalFormat::Supabase
            | RefusalFormat::Auth0
            | RefusalFormat::Clerk => "application/json",
            RefusalFormat::Vonage => "application/problem+json",
            RefusalFormat::AwsJson => "application/x-amz-json-1.1",
            RefusalFormat::AwsQuery => "text/xml",
        }
    }

    /// The API's error code for a refusal of `action` for `code`.
    pub(crate) fn api_code(self, action: Action, code: ReasonCode, timed: bool) -> Option<&'static str> {
        let input = code.is_input();
        match self {
            RefusalFormat::Firebase => Some(match code {
                ReasonCode::UnparseableNumber | ReasonCode::InvalidNumber => "INVALID_PHONE_NUMBER",
                ReasonCode::NoNumber => "MISSING_PHONE_NUMBER",
                _ if input => "INVALID_ARGUMENT",
                ReasonCode::StoreUnavailable | ReasonCode::CaptchaUnavailable => "INTERNAL_ERROR",
                _ if action == Action::Challenge || code == ReasonCode::CaptchaInvalid => {
                    "CAPTCHA_CHECK_FAILED"
                }
                _ if action == Action::Throttle || timed => "TOO_MANY_ATTEMPTS_TRY_LATER",
                _ => "OPERATION_NOT_ALLOWED",
            }),
            RefusalFormat::Supabase => Some(match code {
                _ if input => "validation_failed",
                ReasonCode::StoreUnavailable | ReasonCode::CaptchaUnavailable => "unexpected_failure",
                _ if action == Action::Challenge || code == ReasonCode::CaptchaInvalid => "captcha_failed",
                _ if action == Action::Throttle || timed => "over_sms_send_rate_limit",
                _ => "sms_send_failed",
            }),
            RefusalFormat::Auth0 => Some(match code {
                ReasonCode::UnparseableNumber | ReasonCode::InvalidNumber | ReasonCode::NoNumber => {
                    "bad.phone_number"
                }
                _ if input => "invalid_request",
                ReasonCode::StoreUnavailable | ReasonCode::CaptchaUnavailable => "temporarily_unavailable",
                _ if action == Action::Challenge || code == ReasonCode::CaptchaInvalid => "invalid_captcha",
                _ if action == Action::Throttle || timed => "too_many_requests",
                _ => "access_denied",
            }),
            RefusalFormat::Clerk => Some(match code {
                ReasonCode::UnparseableNumber | ReasonCode::InvalidNumber => "form_param_format_invalid",
                ReasonCode::NoNumber => "form_param_missing",
                _ if input => "form_param_invalid",
                ReasonCode::StoreUnavailable | ReasonCode::CaptchaUnavailable => "service_unavailable",
                _ if action == Action::Challenge || code == ReasonCode::CaptchaInvalid => "captcha_invalid",
                _ if action == Action::Throttle || timed => "too_many_requests",
                _ => "not_allowed_access",
            }),
            RefusalFormat::Vonage => Some(match code {
                _ if input => "invalid-params",
                ReasonCode::StoreUnavailable | ReasonCode::CaptchaUnavailable => "unavailable",
                _ if action == Action::Throttle || timed => "throttled",
                _ => "forbidden",
            }),
            RefusalFormat::Pumpguard => None,
            RefusalFormat::AwsJson if input => Some("InvalidParameterException"),
            RefusalFormat::AwsJson => Some("ForbiddenException"),
            RefusalFormat::AwsQuery if input => Some("InvalidParameter"),
            RefusalFormat::AwsQuery => Some("AuthorizationError"),
            RefusalFormat::Twilio if input => Some("60200"),
            RefusalFormat::Twilio if action == Action::Throttle => Some("60203"),
            RefusalFormat::Twilio => Some("60410"),
        }
    }
}

/// The message of an API-format refusal: pumpguard's message, then its code, rule and wait,
/// which SDKs show in the exception's text.
fn full_message(decision: &Decision, code: ReasonCode) -> String {
    let mut message = String::from(code.message());
    let _ = write!(message, " (pumpguard: {}", code.as_str());
    if let Some(rule) = decision.primary().and_then(|r| r.rule.as_deref()) {
        let _ = write!(message, ", rule {rule}");
    }
    if let Some(seconds) = decision.retry_after_seconds {
        let _ = write!(message, ", retry after {seconds} s");
    }
    message.push(')');
    message
}

/// The error body of a refusal in `decision.refusal`'s format; `None` for an allow.
pub(crate) fn body(decision: &Decision) -> Option<String> {
    if decision.action == Action::Allow {
        return None;
    }
    let reason = decision.primary()?;
    let code = decision.error_code()?;
    let format = decision.refusal;
    let api_code = format.api_code(decision.action, code, decision.retry_after_seconds.is_some());
    let mut body = String::with_capacity(256);
    match (format, api_code) {
        (RefusalFormat::AwsQuery, Some(api_code)) => {
            body.push_str("<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>");
            body.push_str("<Type>Sender</Type><Code>");
            push_xml_text(&mut body, api_code);
            body.push_str("</Code><Message>");
            push_xml_text(&mut body, &full_message(decision, code));
            body.push_str("</Message><PumpguardError>");
            push_xml_text(&mut body, code.as_str());
            body.push_str("</PumpguardError>");
            if let Some(rule) = &reason.rule {
                body.push_str("<PumpguardRule>");
                push_xml_text(&mut body, rule);
                body.push_str("</PumpguardRule>");
            }
            if let Some(seconds) = decision.retry_after_seconds {
                let _ = write!(body, "<RetryAfter>{seconds}</RetryAfter>");
            }
            body.push_str("</Error><RequestId>pumpguard</RequestId></ErrorResponse>");
            return Some(body);
        }
        (RefusalFormat::Firebase, Some(api_code)) => {
            // The SDKs read `error.message` as "<CODE> : <text>"; pumpguard's own fields sit
            // beside `error`, under `pumpguard`.
            let _ = write!(body, "{{\"error\":{{\"code\":{},\"message\":", decision.status);
            push_json_string(&mut body, &format!("{api_code} : {}", full_message(decision, code)));
            let _ = write!(
                body,
                ",\"errors\":[{{\"message\":\"{api_code}\",\"domain\":\"global\",\"reason\":\"invalid\"}}],\"status\":\"INVALID_ARGUMENT\"}},\"pumpguard\":{{"
            );
        }
        (RefusalFormat::Auth0, Some(api_code)) => {
            // The OAuth error Auth0 answers; its `error` is Auth0's code, so pumpguard's own
            // fields sit beside it, under `pumpguard`, as in Google's format.
            let _ = write!(body, "{{\"error\":\"{api_code}\",\"error_description\":");
            push_json_string(&mut body, &full_message(decision, code));
            body.push_str(",\"pumpguard\":{");
        }
        (RefusalFormat::Clerk, Some(api_code)) => {
            // Clerk's error list: clerk-js reads `code` and shows `long_message`; pumpguard's
            // own fields sit beside `errors`, under `pumpguard`.
            let _ = write!(body, "{{\"errors\":[{{\"message\":");
            push_json_string(&mut body, code.message());
            body.push_str(",\"long_message\":");
            push_json_string(&mut body, &full_message(decision, code));
            let _ = write!(body, ",\"code\":\"{api_code}\",\"meta\":{{}}}}],\"pumpguard\":{{");
        }
        (RefusalFormat::Vonage, Some(api_code)) => {
            // A problem document: the SDKs keep the body, people read `title` and `detail`.
            let title = match api_code {
                "throttled" => "Rate Limit Hit",
                "invalid-params" => "Invalid params",
                "unavailable" => "Service Unavailable",
                _ => "Forbidden",
            };
            let _ = write!(
                body,
                "{{\"type\":\"https://developer.vonage.com/api-errors#{api_code}\",\"title\":\"{title}\",\"detail\":"
            );
            push_json_string(&mut body, &full_message(decision, code));
            body.push_str(",\"instance\":\"pumpguard\",");
        }
        (RefusalFormat::AwsJson, Some(api_code)) => {
            body.push_str("{\"__type\":");
            push_json_string(&mut body, api_code);
            body.push_str(",\"message\":");
            push_json_string(&mut body, &full_message(decision, code));
            body.push(',');
        }
        (RefusalFormat::Supabase, Some(api_code)) => {
            // GoTrue's error: supabase-js reads `error_code` and shows `msg`.
            let _ = write!(body, "{{\"code\":{},\"error_code\":\"{api_code}\",\"msg\":", decision.status);
            push_json_string(&mut body, &full_message(decision, code));
            body.push(',');
        }
        (RefusalFormat::Twilio, Some(api_code)) => {
            let _ = write!(body, "{{\"code\":{api_code},\"message\":");
            push_json_string(&mut body, &full_message(decision, code));
            let _ = write!(
                body,
                ",\"more_info\":\"https://www.twilio.com/docs/errors/{api_code}\",\"status\":{},",
                decision.status
            );
        }
        _ => {
            body.push('{');
        }
    }
    // pumpguard's own fields close every JSON format, so one reader finds them in all.
    body.push_str("\"error\":");
    push_json_string(&mut body, code.as_str());
    if format == RefusalFormat::Pumpguard {
        body.push_str(",\"message\":");
        push_json_string(&mut body, code.message());
    }
    if let Some(rule) = &reason.rule {
        body.push_str(",\"rule\":");
        push_json_string(&mut body, rule);
    }
    if let Some(seconds) = decision.retry_after_seconds {
        let _ = write!(body, ",\"retry_after\":{seconds}");
    }
    // A challenge a client can answer: what to solve and where the token goes.
    if let Some(hint) = decision.challenge_hint.as_deref().filter(|_| code.answered_by_token()) {
        body.push_str(",\"captcha\":");
        body.push_str(hint);
    }
    body.push('}');
    if matches!(format, RefusalFormat::Firebase | RefusalFormat::Auth0 | RefusalFormat::Clerk) {
        body.push('}');
    }
    Some(body)
}

/// Headers the format adds to a refusal besides the content type.
pub(crate) fn extra_headers(decision: &Decision) -> Option<(&'static str, String)> {
    let code = decision.error_code()?;
    match decision.refusal {
        RefusalFormat::AwsJson => decision
            .refusal
            .api_code(decision.action, code, false)
            .map(|c| ("x-amzn-errortype", c.to_owned())),
        // What RFC 9110 asks of a 401 and a 405.
        _ if code == ReasonCode::ImportUnauthorized => Some(("www-authenticate", "Bearer".to_owned())),
        _ if code == ReasonCode::MethodNotAllowed => Some(("allow", "POST".to_owned())),
        _ => None,
    }
}

fn push_xml_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if u32::from(c) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Decision, MemoryStore, Policy, Request, Timestamp};

    fn refusal(preset: &str, headers: &[(&str, &str)], path: &str, body: &str) -> Decision {
        let policy = Policy::from_json(&format!(
            r#"{{"version": 1, "routes": [{{"id": "r", "kind": "send", "extract": {{"preset": "{preset}"}}}}],
               "rules": [{{"id": "per-ip", "action": "throttle",
                           "rate_limit": {{"key": ["route"], "rate": 1, "per_seconds": 60}}}}]}}"#
        ))
        .unwrap();
        let store = MemoryStore::new();
        let req = Request {
            method: "POST",
            authority: "api.example.com",
            path,
            version: crate::HttpVersion::Http11,
            headers,
            body: body.as_bytes(),
            body_truncated: false,
            client_ip: None,
            tls: Default::default(),
            edge: Default::default(),
        };
        let first = policy.decide(&req, Timestamp::from_millis(0), &store);
        assert_eq!(first.action, crate::Action::Allow, "{first:?}");
        policy.decide(&req, Timestamp::from_millis(1), &store)
    }

    #[test]
    fn cognito_throttle_is_a_forbidden_exception_not_retried() {
        let d = refusal(
            "cognito",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "AWSCognitoIdentityProviderService.SignUp"),
            ],
            "/",
            r#"{"Username": "+14155550123"}"#,
        );
        assert_eq!(d.status, 403);
        let body: serde_json::Value = serde_json::from_str(&d.error_body().unwrap()).unwrap();
        assert_eq!(body["__type"], "ForbiddenException");
        assert_eq!(body["error"], "rate_limited");
        assert_eq!(body["rule"], "per-ip");
        assert_eq!(body["retry_after"], 60);
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("(pumpguard: rate_limited, rule per-ip, retry after 60 s)"), "{message}");
        let headers = d.response_headers();
        assert!(headers.contains(&("x-amzn-errortype", "ForbiddenException".to_owned())), "{headers:?}");
        assert!(headers.contains(&("content-type", "application/x-amz-json-1.1".to_owned())), "{headers:?}");
        assert!(headers.contains(&("retry-after", "60".to_owned())), "{headers:?}");
    }

    #[test]
    fn sns_throttle_is_query_xml() {
        let d = refusal(
            "sns_publish",
            &[("content-type", "application/x-www-form-urlencoded")],
            "/",
            "Action=Publish&PhoneNumber=%2B14155550123&Message=hi",
        );
        assert_eq!(d.status, 403);
        let body = d.error_body().unwrap();
        assert!(body.starts_with("<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>"), "{body}");
        assert!(body.contains("<PumpguardError>rate_limited</PumpguardError><PumpguardRule>per-ip</PumpguardRule><RetryAfter>60</RetryAfter>"), "{body}");
        assert!(d.response_headers().contains(&("content-type", "text/xml".to_owned())));
    }

    #[test]
    fn firebase_throttle_is_a_google_error_the_sdk_maps() {
        let d = refusal(
            "firebase",
            &[("content-type", "application/json")],
            "/v1/accounts:sendVerificationCode?key=k",
            r#"{"phoneNumber": "+14155550123"}"#,
        );
        assert_eq!(d.status, 400);
        let body: serde_json::Value = serde_json::from_str(&d.error_body().unwrap()).unwrap();
        assert_eq!(body["error"]["code"], 400);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("TOO_MANY_ATTEMPTS_TRY_LATER : Too many SMS requests"), "{message}");
        assert_eq!(body["error"]["errors"][0]["message"], "TOO_MANY_ATTEMPTS_TRY_LATER");
        assert_eq!(body["pumpguard"]["error"], "rate_limited");
        assert_eq!(body["pumpguard"]["rule"], "per-ip");
        assert_eq!(body["pumpguard"]["retry_after"], 60);
    }

    #[test]
    fn supabase_throttle_is_a_gotrue_error_supabase_js_reads() {
        let d = refusal(
            "supabase",
            &[("content-type", "application/json;charset=UTF-8")],
            "/auth/v1/otp",
            r#"{"phone": "14155550123", "create_user": true}"#,
        );
        assert_eq!(d.status, 429);
        let body: serde_json::Value = serde_json::from_str(&d.error_body().unwrap()).unwrap();
        assert_eq!(body["code"], 429);
        assert_eq!(body["error_code"], "over_sms_send_rate_limit");
        let message = body["msg"].as_str().unwrap();
        assert!(message.contains("(pumpguard: rate_limited, rule per-ip, retry after 60 s)"), "{message}");
        assert_eq!(body["error"], "rate_limited");
        assert_eq!(body["retry_after"], 60);
    }

    #[test]
    fn auth0_throttle_is_an_oauth_error_with_pumpguards_fields_beside_it() {
        let d = refusal(
            "auth0",
            &[("content-type", "application/json")],
            "/passwordless/start",
            r#"{"client_id": "c1", "connection": "sms", "phone_number": "+14155550123"}"#,
        );
        assert_eq!(d.status, 429);
        let body: serde_json::Value = serde_json::from_str(&d.error_body().unwrap()).unwrap();
        assert_eq!(body["error"], "too_many_requests");
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.contains("(pumpguard: rate_limited, rule per-ip, retry after 60 s)"),
            "{description}"
        );
        assert_eq!(body["pumpguard"]["error"], "rate_limited");
        assert_eq!(body["pumpguard"]["rule"], "per-ip");
        assert_eq!(body["pumpguard"]["retry_after"], 60);
        assert_eq!(crate::scenario::pumpguard_fields(&body)["error"], "rate_limited");
    }

    #[test]
    fn vonage_throttle_is_a_problem_document() {
        let d = refusal(
            "vonage_verify",
            &[("content-type", "application/json")],
            "/v2/verify",
            r#"{"brand": "ACME", "workflow": [{"channel": "sms", "to": "14155550123"}]}"#,
        );
        assert_eq!(d.status, 429);
        let body: serde_json::Value = serde_json::from_str(&d.error_body().unwrap()).unwrap();
        assert_eq!(body["type"], "https://developer.vonage.com/api-errors#throttled");
        assert_eq!(body["title"], "Rate Limit Hit");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("(pumpguard: rate_limited, rule per-ip, retry after 60 s)"), "{detail}");
        assert_eq!(body["error"], "rate_limited");
        assert!(d.response_headers().contains(&("content-type", "application/problem+json".to_owned())));
    }

    #[test]
    fn clerk_throttle_is_a_clerk_error_list_with_pumpguards_fields_beside_it() {
        let d = refusal(
            "clerk",
            &[("content-type", "application/x-www-form-urlencoded")],
            "/__clerk/v1/client/sign_ups?_clerk_js_version=5.117.0",
            "phone_number=%2B14155550123&strategy=phone_code",
        );
        assert_eq!(d.status, 429);
        let body: serde_json::Value = serde_json::from_str(&d.error_body().unwrap()).unwrap();
        assert_eq!(body["errors"][0]["code"], "too_many_requests");
        let long = body["errors"][0]["long_message"].as_str().unwrap();
        assert!(long.contains("(pumpguard: rate_limited, rule per-ip, retry after 60 s)"), "{long}");
        assert_eq!(body["pumpguard"]["error"], "rate_limited");
        assert_eq!(crate::scenario::pumpguard_fields(&body)["rule"], "per-ip");
    }

    #[test]
    fn twilio_throttle_keeps_429_with_twilio_code() {
        let d = refusal(
            "twilio_verify",
            &[("content-type", "application/x-www-form-urlencoded")],
            "/v2/Services/VA1/Verifications",
            "To=%2B14155550123&Channel=sms",
        );
        assert_eq!(d.status, 429);
        let body: serde_json::Value = serde_json::from_str(&d.error_body().unwrap()).unwrap();
        assert_eq!(body["code"], 60203);
        assert_eq!(body["status"], 429);
        assert_eq!(body["more_info"], "https://www.twilio.com/docs/errors/60203");
        assert_eq!(body["error"], "rate_limited");
    }
}
