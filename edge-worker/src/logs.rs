//! Structured logs (one JSON line per event, read with `wrangler tail` / Logpush) and the
//! Workers Analytics Engine data point of each judged request.

use pumpguard_core::decision_log::{Admit, DecisionLog};
use pumpguard_core::edge_inputs::{EdgeInput, EdgeInputSet};
use pumpguard_core::{Action, Decision, Timestamp};
use serde::Serialize;

/// Facts about the client from `request.cf` and the connecting IP, for logs only (the core does
/// not judge them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClientFacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colo: Option<String>,
}

/// Whether a decision is logged: every non-allow, and allows that carry findings (shadow rules,
/// log actions, inputs allowed by configuration).
pub fn should_log(decision: &Decision) -> bool {
    decision.action != Action::Allow || !decision.reasons.is_empty()
}

/// Whether a log line is a warning (refusals, suppression summaries) or information.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
}

/// The lines to write for one decision under a flood: the decision's own line while its shape
/// (action and findings) is within the limiter's burst, carrying how many similar decisions were
/// suppressed before it, and a summary line for each shape whose window closed with decisions
/// left unreported. Every decision is counted in some line, and in Analytics Engine regardless.
pub fn limited_lines(
    log: &mut DecisionLog,
    decision: &Decision,
    client: &ClientFacts,
    at_ms: u64,
) -> Vec<(Level, String)> {
    let mut lines = Vec::new();
    if should_log(decision) {
        let now = Timestamp::from_millis(at_ms);
        if let Admit::Write { suppressed_before } = log.admit_decision(decision, now) {
            // An import the guard answered is the site's own call: a warning only when it failed.
            let quiet = decision.action == Action::Allow
                || (decision.action == Action::Answer && decision.status == 200);
            let level = if quiet { Level::Info } else { Level::Warn };
            lines.push((level, decision_line(decision, client, at_ms, suppressed_before)));
        }
    }
    for summary in log.flush(Timestamp::from_millis(at_ms)) {
        lines.push((Level::Warn, summary.log_line()));
    }
    lines
}

/// `{"event":"pumpguard.decision","at_ms":…,"client":{…},"decision":{…core log_line…}}`, with
/// `"suppressed_before":N` when the limiter held back N similar decisions before this one.
pub fn decision_line(
    decision: &Decision,
    client: &ClientFacts,
    at_ms: u64,
    suppressed_before: u64,
) -> String {
    let client = serde_json::to_string(client).unwrap_or_else(|_| "{}".to_owned());
    let decision = decision.log_line();
    let mut line = String::with_capacity(64 + client.len() + decision.len());
    line.push_str("{\"event\":\"pumpguard.decision\",\"at_ms\":");
    line.push_str(&at_ms.to_string());
    line.push_str(",\"client\":");
    line.push_str(&client);
    line.push_str(",\"decision\":");
    line.push_str(&decision);
    if suppressed_before > 0 {
        line.push_str(",\"suppressed_before\":");
        line.push_str(&suppressed_before.to_string());
    }
    line.push('}');
    line
}

/// A host event worth a line of its own (policy problems, store failures, origin errors).
pub fn event_line(event: &str, fields: serde_json::Value) -> String {
    let mut object = serde_json::Map::new();
    object.insert("event".to_owned(), serde_json::Value::String(format!("pumpguard.{event}")));
    if let serde_json::Value::Object(fields) = fields {
        object.extend(fields);
    }
    serde_json::Value::Object(object).to_string()
}

/// One Analytics Engine data point per judged request.
///
/// blobs: route, action, error code (or `-`), first number's region (or `-`), client country
/// (or `-`), the edge inputs the route's rules read and those the request lacked (each
/// comma-separated, or `-`), the deciding rule (or `-`), the findings only reported
/// (`rule:code`, distinct, comma-separated, or `-`); doubles: 1 (count), status, number of
/// findings; index: the route id. New blobs go last: queries address blobs by position.
#[derive(Clone, Debug, PartialEq)]
pub struct DataPoint {
    pub index: String,
    pub blobs: Vec<String>,
    pub doubles: Vec<f64>,
}

pub fn data_point(decision: &Decision, client: &ClientFacts) -> DataPoint {
    let route = decision.route.as_ref().map_or_else(|| "-".to_owned(), |r| r.id.to_string());
    let code = decision.error_code().map_or("-", |c| c.as_str()).to_owned();
    let region = decision.numbers.first().and_then(|n| n.region).unwrap_or("-").to_owned();
    let country = client.country.clone().unwrap_or_else(|| "-".to_owned());
    let inputs = decision.edge_inputs;
    DataPoint {
        index: route.clone(),
        blobs: vec![
            route,
            decision.action.as_str().to_owned(),
            code,
            region,
            country,
            input_list(inputs.read),
            input_list(inputs.missing),
            decision.primary().and_then(|r| r.rule.as_deref()).unwrap_or("-").to_owned(),
            shadow_list(decision),
        ],
        doubles: vec![1.0, f64::from(decision.status), decision.reasons.len() as f64],
    }
}

/// Longest shadow-findings blob: Analytics Engine caps a data point's blobs at 16 KB, and a
/// policy's findings fit in far less (rule ids are at most 64 bytes).
const MAX_SHADOW_BLOB_BYTES: usize = 1024;

/// `abroad:client_country_mismatch,returning-numbers:trusted_sends_exceeded`, or `-` for none:
/// the findings reported but not acted on (shadow rules, log actions, spared numbers), each
/// `rule:code` once, in evaluation order; `+` ends a list cut at [`MAX_SHADOW_BLOB_BYTES`].
fn shadow_list(decision: &Decision) -> String {
    let mut out = String::new();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for reason in decision.shadow_reasons() {
        let entry = (reason.rule.as_deref().unwrap_or("none"), reason.code.as_str());
        if seen.contains(&entry) {
            continue;
        }
        seen.push(entry);
        let extra = usize::from(!out.is_empty()) + entry.0.len() + 1 + entry.1.len();
        if out.len() + extra > MAX_SHADOW_BLOB_BYTES {
            out.push_str(",+");
            break;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(entry.0);
        out.push(':');
        out.push_str(entry.1);
    }
    if out.is_empty() {
        "-".to_owned()
    } else {
        out
    }
}

/// `client_country,bot_score`, or `-` for none: one blob, so a query finds an input with
/// `position(...)` whatever else the route reads.
fn input_list(inputs: EdgeInputSet) -> String {
    if inputs.is_empty() {
        return "-".to_owned();
    }
    inputs.iter().map(EdgeInput::as_str).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{decide_gb_number, gb_block_policy};

    fn blocked() -> Decision {
        decide_gb_number(&gb_block_policy(), "/otp")
    }

    #[test]
    fn decision_line_is_one_json_object() {
        let decision = blocked();
        assert!(should_log(&decision));
        let client = ClientFacts {
            ip: Some("198.51.100.7".into()),
            country: Some("NL".into()),
            asn: Some(64500),
            colo: None,
        };
        let line = decision_line(&decision, &client, 42, 0);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["event"], "pumpguard.decision");
        assert_eq!(value["at_ms"], 42);
        assert_eq!(value["client"]["asn"], 64500);
        assert_eq!(value["decision"]["action"], "block");
        assert!(!should_log(&Decision::unguarded()));
    }

    #[test]
    fn a_flood_of_one_refusal_writes_a_bounded_number_of_lines_and_counts_every_decision() {
        use pumpguard_core::decision_log::DecisionLogLimits;
        let limits = DecisionLogLimits { burst: 5, window_ms: 10_000, max_shapes: 16 };
        let mut log = DecisionLog::new(limits);
        let decision = blocked();
        let mut lines = Vec::new();
        // 1,000 refusals a second for 30 s.
        for i in 0..30_000u64 {
            lines.extend(limited_lines(&mut log, &decision, &ClientFacts::default(), i));
        }
        lines.extend(log.flush_all().into_iter().map(|s| (Level::Warn, s.log_line())));
        assert!(lines.len() <= 3 * (5 + 1) + 1, "{} lines", lines.len());
        let counted: u64 = lines
            .iter()
            .map(|(_, line)| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                match value["event"].as_str() {
                    Some("pumpguard.decision") => 1 + value["suppressed_before"].as_u64().unwrap_or(0),
                    _ => value["suppressed"].as_u64().unwrap_or(0),
                }
            })
            .sum();
        assert_eq!(counted, 30_000);
    }

    #[test]
    fn event_lines_and_data_points() {
        let line = event_line("policy_invalid", serde_json::json!({"paths": ["version"]}));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["event"], "pumpguard.policy_invalid");
        assert_eq!(value["paths"][0], "version");
        let point = data_point(&blocked(), &ClientFacts::default());
        assert_eq!(point.index, "otp");
        assert_eq!(point.blobs, vec!["otp", "block", "country_denied", "GB", "-", "-", "-", "no-gb", "-"]);
        assert_eq!(point.doubles, vec![1.0, 403.0, 1.0]);
    }

    #[test]
    fn the_shadow_findings_blob_names_each_finding_once_and_stays_bounded() {
        let mut decision = blocked();
        let finding = |rule: String| pumpguard_core::Reason {
            rule: Some(rule.into()),
            code: pumpguard_core::ReasonCode::TrustedSendsExceeded,
            action: pumpguard_core::Action::Allow,
            enforced: false,
            retry_after_ms: None,
            number: None,
            detail: None,
            spared: false,
        };
        decision.reasons.push(finding("returning".to_owned()));
        decision.reasons.push(finding("returning".to_owned()));
        let point = data_point(&decision, &ClientFacts::default());
        assert_eq!(point.blobs[7..], ["no-gb", "returning:trusted_sends_exceeded"]);
        // A policy of many long rule ids: the list is cut at a whole entry and says so.
        for i in 0..40 {
            decision.reasons.push(finding(format!("{i:0>64}")));
        }
        let blob = &data_point(&decision, &ClientFacts::default()).blobs[8];
        assert!(blob.len() <= MAX_SHADOW_BLOB_BYTES + 2, "{}", blob.len());
        assert!(blob.ends_with(",+") && blob.starts_with("returning:"), "{blob}");
    }

    #[test]
    fn the_data_point_and_the_log_line_name_the_inputs_read_and_missing() {
        use pumpguard_core::{EdgeSignals, HttpVersion, MemoryStore, Policy, Request, Timestamp};
        let policy = Policy::from_json(
            r#"{"version":1,"default_region":"US",
                "routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/otp"}},"extract":{"json_keys":["phone"]}}],
                "rules":[{"id":"abroad","action":"log","client_country":{"header":"cf-ipcountry"}},
                         {"id":"bot","action":"log","bot_score":{"below":30,"missing":true}}]}"#,
        )
        .unwrap();
        let decide = |extra: &[(&str, &str)], edge: EdgeSignals| {
            let mut headers = vec![("content-type", "application/json")];
            headers.extend_from_slice(extra);
            let request = Request {
                method: "POST",
                authority: "x",
                path: "/otp",
                version: HttpVersion::Http11,
                headers: &headers,
                body: br#"{"phone":"+14155550123"}"#,
                body_truncated: false,
                client_ip: None,
                tls: Default::default(),
                edge,
            };
            policy.decide(&request, Timestamp::from_millis(0), &MemoryStore::new())
        };
        let scored = EdgeSignals { bot_score: Some(80), verified_bot: None };
        let full = decide(&[("cf-ipcountry", "US")], scored);
        let point = data_point(&full, &ClientFacts::default());
        assert_eq!(point.blobs[5..7], ["client_country,bot_score", "-"]);
        // Cloudflare's "unknown country", and no score at all.
        let bare = decide(&[("cf-ipcountry", "XX")], EdgeSignals::default());
        let point = data_point(&bare, &ClientFacts::default());
        assert_eq!(point.blobs[5..7], ["client_country,bot_score", "client_country,bot_score"]);
        // A missing score is a finding of the rule that asks for one (`missing: true`), reported only.
        assert_eq!(point.blobs[7..], ["-", "bot:bot_score_missing"]);
        let half = decide(&[], scored);
        assert_eq!(data_point(&half, &ClientFacts::default()).blobs[6], "client_country");
        // The Worker's decision line carries the core's `missing_inputs`.
        assert!(should_log(&bare));
        let line = decision_line(&bare, &ClientFacts::default(), 0, 0);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["decision"]["missing_inputs"], serde_json::json!(["client_country", "bot_score"]));
        let line = decision_line(&full, &ClientFacts::default(), 0, 0);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(value["decision"].get("missing_inputs").is_none(), "{line}");
    }
}
