//! Host-independent pieces of the adapter: the held request, client address, metric names,
//! decision log lines.
//! No rule logic here: everything about judging is the core's.

use std::net::{IpAddr, SocketAddr};

use pumpguard_core::decision_log::Summary;
use pumpguard_core::edge_inputs::EdgeInput;
use pumpguard_core::store::EvictionPressure;
use pumpguard_core::{Decision, EdgeSignals, HttpVersion, Request, TlsFingerprints};

use crate::config::HostConfig;

/// Parses Envoy's `source.address` (`1.2.3.4:5678`, `[::1]:5678`, or a bare address).
pub fn parse_client_ip(address: &str) -> Option<IpAddr> {
    address.parse::<SocketAddr>().map(|s| s.ip()).or_else(|_| address.parse::<IpAddr>()).ok()
}

/// Parses the test-clock header (milliseconds since the epoch).
pub fn parse_clock(value: &str) -> Option<u64> {
    value.trim().parse::<u64>().ok()
}

/// A request held while its body arrives.
#[derive(Debug, Default)]
pub struct Held {
    pub method: String,
    pub path: String,
    pub authority: String,
    /// Regular headers as the client sent them (pseudo-headers and host-injected ones removed).
    pub headers: Vec<(String, String)>,
    pub ja3: Option<String>,
    pub ja4: Option<String>,
    /// From the configured edge headers (a trusted proxy in front); unparseable values are none.
    pub edge: EdgeSignals,
    pub body: Vec<u8>,
    pub truncated: bool,
    pub client_ip: Option<IpAddr>,
    pub version: Option<HttpVersion>,
}

impl Held {
    /// Splits the host's header map: pseudo-headers into their fields, the configured TLS
    /// fingerprint headers (set by Envoy, never by the client) into `ja3` / `ja4`, the edge
    /// headers (set by a trusted proxy in front) into `edge`, the test
    /// clock and the headers Envoy added out; returns the test clock value when configured and present.
    pub fn from_headers(cfg: &HostConfig, map: Vec<(String, String)>) -> (Held, Option<u64>) {
        let mut held = Held { headers: Vec::with_capacity(map.len()), ..Held::default() };
        let mut clock = None;
        for (name, value) in map {
            match name.as_str() {
                ":method" => held.method = value,
                ":path" => held.path = value,
                ":authority" => held.authority = value,
                n if n.starts_with(':') => {}
                n if cfg.ja3_header.as_deref() == Some(n) => held.ja3 = Some(value),
                n if cfg.ja4_header.as_deref() == Some(n) => held.ja4 = Some(value),
                n if cfg.bot_score_header.as_deref() == Some(n) => {
                    held.edge.bot_score = EdgeSignals::parse_bot_score(&value)
                }
                n if cfg.verified_bot_header.as_deref() == Some(n) => {
                    held.edge.verified_bot = EdgeSignals::parse_verified_bot(&value)
                }
                n if cfg.test_clock_header.as_deref() == Some(n) => clock = parse_clock(&value),
                n if cfg.proxy_added_headers.iter().any(|h| h == n) => {}
                _ => held.headers.push((name, value)),
            }
        }
        (held, clock)
    }

    /// Appends body bytes up to `cap + 1` (one byte over tells the core it is over the cap).
    pub fn push_body(&mut self, chunk: &[u8], cap: usize) {
        let room = cap.saturating_add(1).saturating_sub(self.body.len());
        let take = chunk.len().min(room);
        self.body.extend_from_slice(chunk.get(..take).unwrap_or(chunk));
        if self.body.len() > cap {
            self.truncated = true;
        }
    }

    /// The borrowed view core judges. `refs` is scratch space for the header slice.
    pub fn view<'a>(&'a self, refs: &'a mut Vec<(&'a str, &'a str)>, cap: usize) -> Request<'a> {
        refs.clear();
        refs.extend(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        Request {
            method: &self.method,
            authority: &self.authority,
            path: &self.path,
            version: self.version.unwrap_or(HttpVersion::Http11),
            headers: refs,
            body: self.body.get(..cap).unwrap_or(&self.body),
            body_truncated: self.truncated,
            client_ip: self.client_ip,
            tls: TlsFingerprints { ja3: self.ja3.as_deref(), ja4: self.ja4.as_deref() },
            edge: self.edge,
        }
    }
}

/// Counter names for one decision: the deciding reason (or `allow`), then every finding that
/// was only reported, as `mode.shadow`. Envoy's `stats_tags` turn the dotted pairs into labels.
pub fn metric_names(plugin: &str, decision: &Decision) -> Vec<String> {
    let country = |number: Option<&str>| -> &str {
        number
            .and_then(|e164| decision.numbers.iter().find(|n| n.e164 == e164))
            .or(decision.numbers.first())
            .and_then(|n| n.region)
            .unwrap_or("none")
    };
    let mut names = Vec::with_capacity(1 + decision.reasons.len());
    let primary = decision.primary();
    let (reason, rule, number) = match primary {
        Some(r) if decision.action != pumpguard_core::Action::Allow => (
            decision.error_code().map(|c| c.as_str()).unwrap_or("none"),
            r.rule.as_deref(),
            r.number.as_deref(),
        ),
        _ => ("none", None, None),
    };
    names.push(name(
        plugin,
        decision.action.as_str(),
        reason,
        rule.unwrap_or("none"),
        country(number),
        "enforced",
    ));
    for r in decision.shadow_reasons() {
        names.push(name(
            plugin,
            r.action.as_str(),
            r.code.as_str(),
            r.rule.as_deref().unwrap_or("none"),
            country(r.number.as_deref()),
            "shadow",
        ));
    }
    names
}

/// The inputs from the host or the edge the decision's route reads, each with whether the
/// request lacked it: a rule whose input never arrives finds nothing, and only this ratio shows
/// it (a geoip filter left out, `edge_headers` naming the wrong header).
pub fn inputs_seen(decision: &Decision) -> impl Iterator<Item = (EdgeInput, bool)> {
    let inputs = decision.edge_inputs;
    inputs.read.iter().map(move |input| (input, inputs.missing.contains(input)))
}

/// The counter of one input's state, `pumpguard.inputs.plugin.P.input.I.state.present|missing`.
pub fn input_metric_name(plugin: &str, input: EdgeInput, missing: bool) -> String {
    let state = if missing { "missing" } else { "present" };
    format!("pumpguard.inputs.plugin.{plugin}.input.{}.state.{state}", input.as_str())
}

/// Counter names and amounts for what the bounded store gave up (`pumpguard.store.plugin.P.eviction.K`).
pub fn eviction_metrics(plugin: &str, pressure: &EvictionPressure) -> Vec<(String, u64)> {
    [
        ("history_evicted", pressure.history_evicted),
        ("protected_evicted", pressure.protected_evicted),
        ("write_dropped", pressure.refused),
    ]
    .into_iter()
    .filter(|(_, amount)| *amount > 0)
    .map(|(kind, amount)| (format!("pumpguard.store.plugin.{plugin}.eviction.{kind}"), amount))
    .collect()
}

/// The counter for requests answered 503 because a host call failed: a decision counter with
/// reason `host_call_failed`, so it gets the same labels.
pub fn host_failure_metric(plugin: &str) -> String {
    name(plugin, "block", "host_call_failed", "none", "none", "enforced")
}

/// A decision's log line: `pumpguard[<plugin>] decision {json}`. Similar decisions the limiter
/// suppressed since the shape's last line go in as the JSON field `suppressed_before`, so the
/// line stays one JSON object for log pipelines.
pub fn decision_line(plugin: &str, decision_json: &str, suppressed_before: u64) -> String {
    let mut line = format!("pumpguard[{plugin}] decision ");
    match decision_json.strip_suffix('}') {
        Some(open) if suppressed_before > 0 => {
            line.push_str(open);
            if open.trim_end() != "{" {
                line.push(',');
            }
            line.push_str("\"suppressed_before\":");
            line.push_str(&suppressed_before.to_string());
            line.push('}');
        }
        _ => line.push_str(decision_json),
    }
    line
}

/// The line reporting decisions the limiter suppressed and no written line carried:
/// `pumpguard[<plugin>] decision summary {json}` (core's `Summary::log_line`).
pub fn summary_line(plugin: &str, summary: &Summary) -> String {
    format!("pumpguard[{plugin}] decision summary {}", summary.log_line())
}

fn name(plugin: &str, action: &str, reason: &str, rule: &str, country: &str, mode: &str) -> String {
    format!(
        "pumpguard.decisions.plugin.{plugin}.action.{action}.reason.{reason}.rule.{rule}.country.{country}.mode.{mode}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pumpguard_core::{MemoryStore, Timestamp};

    fn cfg(policy: &str) -> HostConfig {
        let json = format!(
            r#"{{"policy":{policy},"tls_headers":{{"ja3":"x-ja3"}},"edge_headers":{{"bot_score":"x-bot-score","verified_bot":"x-verified-bot"}},"test_clock_header":"x-clock"}}"#
        );
        match HostConfig::from_json(json.as_bytes()) {
            Ok(c) => c,
            Err(e) => unreachable!("{e}"),
        }
    }

    const POLICY: &str = r#"{"version":1,"routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/otp"}},"extract":{"json_keys":["phone"]}}],
        "rules":[{"id":"geo","action":"block","country":{"allow":["US"]}},{"id":"watch","action":"block","shadow":true,"country":{"deny":["DE"]}}]}"#;

    #[test]
    fn client_ip_forms() {
        assert_eq!(parse_client_ip("198.51.100.7:5555"), "198.51.100.7".parse().ok());
        assert_eq!(parse_client_ip("[2001:db8::1]:80"), "2001:db8::1".parse().ok());
        assert_eq!(parse_client_ip("2001:db8::1"), "2001:db8::1".parse().ok());
        assert_eq!(parse_client_ip("junk"), None);
    }

    #[test]
    fn headers_split_and_clock() {
        let c = cfg(POLICY);
        let map = vec![
            (":method".to_owned(), "POST".to_owned()),
            (":path".to_owned(), "/otp".to_owned()),
            (":authority".to_owned(), "a.example".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-ja3".to_owned(), "abc".to_owned()),
            ("x-bot-score".to_owned(), "12".to_owned()),
            ("x-verified-bot".to_owned(), "false".to_owned()),
            ("x-clock".to_owned(), "1234".to_owned()),
            ("x-forwarded-proto".to_owned(), "http".to_owned()),
            ("x-request-id".to_owned(), "5b0c7c2e-1f7e-4d4e-9d55-0d1f0e3c2a11".to_owned()),
        ];
        let (held, clock) = Held::from_headers(&c, map);
        assert_eq!(clock, Some(1234));
        assert_eq!(held.ja3.as_deref(), Some("abc"));
        assert_eq!(held.edge, EdgeSignals { bot_score: Some(12), verified_bot: Some(false) });
        assert_eq!(held.headers, vec![("content-type".to_owned(), "application/json".to_owned())]);
        assert_eq!(
            (held.method.as_str(), held.path.as_str(), held.authority.as_str()),
            ("POST", "/otp", "a.example")
        );
    }

    #[test]
    fn body_in_tiny_chunks_equals_whole_body() {
        let c = cfg(POLICY);
        let body = br#"{"phone":"+4915112345678"}"#;
        let mut held = Held {
            method: "POST".into(),
            path: "/otp".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            ..Held::default()
        };
        for chunk in body.chunks(1) {
            held.push_body(chunk, 64);
        }
        assert!(!held.truncated);
        let mut refs = Vec::new();
        let req = held.view(&mut refs, 64);
        let d = c.policy.decide(&req, Timestamp::from_millis(0), &MemoryStore::new());
        assert_eq!(d.action.as_str(), "block");
        let names = metric_names("p", &d);
        assert_eq!(
            names,
            vec![
                "pumpguard.decisions.plugin.p.action.block.reason.country_not_allowed.rule.geo.country.DE.mode.enforced",
                "pumpguard.decisions.plugin.p.action.block.reason.country_denied.rule.watch.country.DE.mode.shadow",
            ]
        );
    }

    #[test]
    fn inputs_the_route_reads_are_counted_present_or_missing() {
        let c = cfg(
            r#"{"version":1,"routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/otp"}},"extract":{"json_keys":["phone"]}}],"rules":[{"id":"abroad","action":"log","client_country":{"header":"cf-ipcountry"}},{"id":"bot","action":"log","bot_score":{"below":30}}]}"#,
        );
        let mut held = Held {
            method: "POST".into(),
            path: "/otp".into(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cf-ipcountry".into(), "US".into()),
            ],
            ..Held::default()
        };
        held.push_body(br#"{"phone":"+14155550123"}"#, 64);
        let mut refs = Vec::new();
        let d = c.policy.decide(&held.view(&mut refs, 64), Timestamp::from_millis(0), &MemoryStore::new());
        assert_eq!(
            inputs_seen(&d)
                .map(|(input, missing)| input_metric_name("p", input, missing))
                .collect::<Vec<_>>(),
            vec![
                "pumpguard.inputs.plugin.p.input.client_country.state.present",
                "pumpguard.inputs.plugin.p.input.bot_score.state.missing",
            ]
        );
        assert!(d.log_line().contains(r#""missing_inputs":["bot_score"]"#), "{}", d.log_line());
    }

    #[test]
    fn host_failures_share_the_decision_labels() {
        assert_eq!(
            host_failure_metric("p"),
            "pumpguard.decisions.plugin.p.action.block.reason.host_call_failed.rule.none.country.none.mode.enforced"
        );
    }

    #[test]
    fn decision_line_carries_the_suppressed_count_as_a_json_field() {
        let json = r#"{"action":"block","status":403}"#;
        assert_eq!(decision_line("p", json, 0), format!("pumpguard[p] decision {json}"));
        let line = decision_line("p", json, 995);
        assert_eq!(line, r#"pumpguard[p] decision {"action":"block","status":403,"suppressed_before":995}"#);
        let value: serde_json::Value =
            serde_json::from_str(line.split_once(" decision ").map_or("", |(_, j)| j)).unwrap_or_default();
        assert_eq!(value["suppressed_before"], 995);
        assert_eq!(decision_line("p", "{}", 2), r#"pumpguard[p] decision {"suppressed_before":2}"#);
    }

    #[test]
    fn oversize_is_capped_and_flagged() {
        let mut held = Held::default();
        held.push_body(&[b'a'; 10], 4);
        held.push_body(&[b'a'; 10], 4);
        assert!(held.truncated);
        assert_eq!(held.body.len(), 5);
    }

    #[test]
    fn allow_counts_once() {
        let c = cfg(POLICY);
        let held = Held {
            method: "POST".into(),
            path: "/otp".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"phone":"+14155550123"}"#.to_vec(),
            ..Held::default()
        };
        let mut refs = Vec::new();
        let d = c.policy.decide(&held.view(&mut refs, 100), Timestamp::from_millis(0), &MemoryStore::new());
        assert_eq!(
            metric_names("p", &d),
            vec!["pumpguard.decisions.plugin.p.action.allow.reason.none.rule.none.country.US.mode.enforced"]
        );
    }
}
