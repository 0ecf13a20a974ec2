//! Runs scenario steps against a real host over HTTP, as `docs/host-tests.md` specifies: each
//! traffic record becomes a request, each response an [`Observed`] decision, compared with the
//! same [`scenario::compare`] the in-process runner uses.

use std::time::Duration;

use pumpguard_core::scenario::{self, Observed, Scenario};
use pumpguard_core::traffic::TrafficRecord;
use pumpguard_core::Action;

pub use crate::http::Target;
use crate::http::{self, Response};

/// How facts the host normally learns elsewhere travel in the request.
#[derive(Clone, Debug)]
pub struct HostOptions {
    pub target: Target,
    pub client_ip_header: Option<String>,
    pub ja3_header: Option<String>,
    pub ja4_header: Option<String>,
    /// Headers carrying the record's `edge` signals, as a trusted proxy in front would set them.
    pub bot_score_header: Option<String>,
    pub verified_bot_header: Option<String>,
    pub clock_header: Option<String>,
    pub timeout: Duration,
}

/// Header the test origin answers with as its status.
const ORIGIN_STATUS_HEADER: &str = "x-test-origin-status";
/// The test origin adds these response headers (a JSON object of name: value).
const ORIGIN_HEADERS_HEADER: &str = "x-test-origin-headers";
/// The test origin answers with this body (one line of JSON) instead of its own.
const ORIGIN_BODY_HEADER: &str = "x-test-origin-body";
/// Header the test origin marks its own answers with.
const ORIGIN_MARK_HEADER: &str = "x-test-origin";

pub enum ScenarioRun {
    /// The scenario expects its policy to be refused: nothing to send.
    Skipped,
    /// Mismatches, one line each; empty when every step matched.
    Ran(Vec<String>),
}

pub fn run(scenario: &Scenario, options: &HostOptions) -> Result<ScenarioRun, String> {
    if scenario.policy_errors.is_some() {
        return Ok(ScenarioRun::Skipped);
    }
    let mut problems = Vec::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        let (headers, body) =
            request_parts(&step.request, options).map_err(|e| format!("step {index}: {e}"))?;
        for repeat in 0..step.repeat {
            let where_ = format!("step {index} (repeat {repeat})");
            let response = http::send(
                &options.target,
                &step.request.method,
                &step.request.path,
                &headers,
                &body,
                options.timeout,
            )
            .map_err(|e| format!("{where_}: {e}"))?;
            let (observed, mut mismatches) = observe(&response);
            mismatches.extend(scenario::compare(&step.expect, &observed));
            if !mismatches.is_empty() {
                problems.push(format!("{where_}: {}", mismatches.join("; ")));
            }
        }
    }
    Ok(ScenarioRun::Ran(problems))
}

/// Header name/value pairs in wire order.
pub(crate) type Headers = Vec<(String, String)>;

/// The record's headers in their order, then the host-facing extras.
pub(crate) fn request_parts(
    record: &TrafficRecord,
    options: &HostOptions,
) -> Result<(Headers, Vec<u8>), String> {
    let owned = record.owned()?;
    let mut headers: Headers = Vec::with_capacity(record.headers.len() + 6);
    if !record.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        headers.push(("host".to_owned(), record.host.clone()));
    }
    headers.extend(record.headers.iter().cloned());
    let mut extra = |name: &Option<String>, value: Option<String>| {
        if let (Some(name), Some(value)) = (name, value) {
            headers.push((name.clone(), value));
        }
    };
    extra(&options.client_ip_header, record.client_ip.map(|ip| ip.to_string()));
    let tls = record.tls.as_ref();
    extra(&options.ja3_header, tls.and_then(|t| t.ja3.clone()));
    extra(&options.ja4_header, tls.and_then(|t| t.ja4.clone()));
    let edge = record.edge.as_ref();
    extra(&options.bot_score_header, edge.and_then(|e| e.bot_score).map(|s| s.to_string()));
    extra(&options.verified_bot_header, edge.and_then(|e| e.verified_bot).map(|v| v.to_string()));
    extra(&options.clock_header, Some(record.at_ms.to_string()));
    if let Some(status) = record.response_status {
        headers.push((ORIGIN_STATUS_HEADER.to_owned(), status.to_string()));
    }
    if !record.response_headers.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = record
            .response_headers
            .iter()
            .map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone())))
            .collect();
        headers.push((ORIGIN_HEADERS_HEADER.to_owned(), serde_json::Value::Object(map).to_string()));
    }
    if let Some(body) = &record.response_body {
        headers.push((ORIGIN_BODY_HEADER.to_owned(), body.clone()));
    }
    Ok((headers, owned.body))
}

/// The decision a response shows, plus inconsistencies within the response itself.
pub(crate) fn observe(response: &Response) -> (Observed, Vec<String>) {
    let mut problems = Vec::new();
    let from_origin = response.header(ORIGIN_MARK_HEADER).is_some();
    let action = match response.header("x-pumpguard-decision") {
        Some(text) => {
            let parsed = parse_action(text);
            if parsed.is_none() {
                problems.push(format!("unknown x-pumpguard-decision {text:?}"));
            }
            parsed
        }
        // Unguarded requests reach origin untouched.
        None if from_origin => Some(Action::Allow),
        None => {
            problems.push(format!("local reply {} without x-pumpguard-decision", response.status));
            None
        }
    };
    let mut observed = Observed {
        action,
        status: if from_origin { 200 } else { response.status },
        findings: response
            .header("x-pumpguard-findings")
            .map(|h| h.split(',').filter(|f| !f.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default(),
        country: response.header("x-pumpguard-country").map(str::to_owned),
        number_type: response.header("x-pumpguard-number-type").map(str::to_owned),
        risk: response.header("x-pumpguard-risk").and_then(|r| r.trim().parse().ok()),
        missing_inputs: response
            .header("x-pumpguard-missing-inputs")
            .map(|h| h.split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default(),
        ..Observed::default()
    };
    if from_origin {
        // The test origin echoes the headers the guard added for it.
        observed.token = response.header("x-pumpguard-captcha").map(str::to_owned);
    } else {
        observed.allow_origin = response.header("access-control-allow-origin").map(str::to_owned);
    }
    if !from_origin && response.body.trim_ascii_start().starts_with(b"<") {
        // AWS Query XML (SNS): pumpguard's fields are elements of <Error>.
        let body = String::from_utf8_lossy(&response.body);
        let element = |name: &str| {
            let open = format!("<{name}>");
            let start = body.find(&open)? + open.len();
            let end = start + body.get(start..)?.find('<')?;
            body.get(start..end).map(str::to_owned)
        };
        if element("Code").is_none() {
            problems.push("local reply XML without an <Error><Code>".to_owned());
        }
        observed.error = element("PumpguardError");
        observed.rule = element("PumpguardRule");
        observed.retry_after = element("RetryAfter").and_then(|v| v.parse().ok());
        let header_wait = response.header("retry-after").and_then(|v| v.parse::<u64>().ok());
        if header_wait != observed.retry_after {
            problems.push(format!(
                "Retry-After header {header_wait:?} differs from the XML's RetryAfter {:?}",
                observed.retry_after
            ));
        }
    } else if !from_origin {
        match serde_json::from_slice::<serde_json::Value>(&response.body) {
            Ok(whole) => {
                // Google's error format (Firebase) holds pumpguard's fields under `pumpguard`.
                let body = scenario::pumpguard_fields(&whole);
                let text = |key: &str| body.get(key).and_then(|v| v.as_str()).map(str::to_owned);
                observed.error = text("error");
                observed.rule = text("rule");
                observed.retry_after = body.get("retry_after").and_then(|v| v.as_u64());
                observed.trusted =
                    body.get("trusted").and_then(|v| v.as_u64()).and_then(|t| u32::try_from(t).ok());
                observed.captcha = scenario::body_captcha(&whole);
            }
            Err(e) => problems.push(format!("local reply body is not JSON ({e})")),
        }
        let header_wait = response.header("retry-after").and_then(|v| v.parse::<u64>().ok());
        if header_wait != observed.retry_after {
            problems.push(format!(
                "Retry-After header {header_wait:?} differs from the body's retry_after {:?}",
                observed.retry_after
            ));
        }
    }
    (observed, problems)
}

fn parse_action(text: &str) -> Option<Action> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn api_format_replies_are_read_too() {
        let xml = response(
            403,
            &[("x-pumpguard-decision", "throttle"), ("retry-after", "20")],
            "<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>m</Message>\
             <PumpguardError>rate_limited</PumpguardError><PumpguardRule>a</PumpguardRule>\
             <RetryAfter>20</RetryAfter></Error></ErrorResponse>",
        );
        let google = response(
            400,
            &[("x-pumpguard-decision", "throttle"), ("retry-after", "20")],
            r#"{"error":{"code":400,"message":"TOO_MANY_ATTEMPTS_TRY_LATER : m"},
                "pumpguard":{"error":"rate_limited","rule":"a","retry_after":20}}"#,
        );
        for r in [xml, google] {
            let (o, problems) = observe(&r);
            assert!(problems.is_empty(), "{problems:?}");
            assert_eq!((o.error.as_deref(), o.rule.as_deref()), (Some("rate_limited"), Some("a")));
            assert_eq!(o.retry_after, Some(20));
        }
    }

    #[test]
    fn local_reply_is_read_from_body_and_headers() {
        let r = response(
            429,
            &[
                ("x-pumpguard-decision", "throttle"),
                ("retry-after", "20"),
                ("x-pumpguard-findings", "a:rate_limited,geo:country_monitored"),
            ],
            r#"{"error":"rate_limited","message":"m","rule":"a","retry_after":20}"#,
        );
        let (o, problems) = observe(&r);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(o.action, Some(Action::Throttle));
        assert_eq!((o.status, o.retry_after), (429, Some(20)));
        assert_eq!((o.error.as_deref(), o.rule.as_deref()), (Some("rate_limited"), Some("a")));
        assert_eq!(o.findings, ["a:rate_limited", "geo:country_monitored"]);
    }

    #[test]
    fn forwarded_and_unguarded_requests_are_allowed() {
        let (o, p) =
            observe(&response(201, &[("x-test-origin", "ok"), ("x-pumpguard-decision", "allow")], "{}"));
        assert!(p.is_empty());
        assert_eq!((o.action, o.status), (Some(Action::Allow), 200));
        let (o, p) = observe(&response(200, &[("x-test-origin", "ok")], "{}"));
        assert!(p.is_empty());
        assert_eq!(o.action, Some(Action::Allow));
    }

    #[test]
    fn inconsistent_replies_are_reported() {
        let (_, p) = observe(&response(403, &[], "{}"));
        assert_eq!(p.len(), 1, "missing decision header: {p:?}");
        let (_, p) = observe(&response(
            429,
            &[("x-pumpguard-decision", "throttle"), ("retry-after", "5")],
            r#"{"error":"rate_limited","retry_after":6}"#,
        ));
        assert_eq!(p.len(), 1, "Retry-After mismatch: {p:?}");
        let (_, p) = observe(&response(403, &[("x-pumpguard-decision", "block")], "not json"));
        assert_eq!(p.len(), 1);
    }
}
