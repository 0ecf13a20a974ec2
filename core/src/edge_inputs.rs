//! Inputs about the client that the host or the edge in front supplies, not the request itself:
//! the client's address, its country (`cf-ipcountry`, Envoy's geoip filter), the edge's bot score
//! and the TLS fingerprints. A rule whose input never arrives finds nothing, silently: a geoip
//! filter left out, a zone without IP Geolocation, `edge_headers` naming the wrong header. Each
//! decision says which of the inputs its route's rules read and which the request lacked, so
//! hosts count them and an operator sees a rule gone blind (docs/operations.md).

use crate::request::Request;
use crate::rules::{self, KeyPart, Rule, RuleKind};
use crate::{fingerprint::FingerprintKind, limit::ConversionScope};

/// One input the host or the edge supplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeInput {
    /// The client's address (`client_ip` keys and scopes).
    ClientAddress,
    /// The client's country, from the header a `client_country` rule names.
    ClientCountry,
    /// The edge's bot score (`bot_score` rules).
    BotScore,
    /// The JA3 TLS fingerprint.
    Ja3,
    /// The JA4 TLS fingerprint.
    Ja4,
}

impl EdgeInput {
    /// Every input, in the order logs and metrics list them.
    pub const ALL: [EdgeInput; 5] = [
        EdgeInput::ClientAddress,
        EdgeInput::ClientCountry,
        EdgeInput::BotScore,
        EdgeInput::Ja3,
        EdgeInput::Ja4,
    ];

    /// The name logs and metric labels use.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeInput::ClientAddress => "client_address",
            EdgeInput::ClientCountry => "client_country",
            EdgeInput::BotScore => "bot_score",
            EdgeInput::Ja3 => "ja3",
            EdgeInput::Ja4 => "ja4",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of inputs, as one byte: decisions carry two without allocating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdgeInputSet(u8);

impl EdgeInputSet {
    /// Whether the set holds `input`.
    pub fn contains(self, input: EdgeInput) -> bool {
        self.0 & input.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The inputs in the set, in [`EdgeInput::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = EdgeInput> {
        EdgeInput::ALL.into_iter().filter(move |i| self.contains(*i))
    }

    pub(crate) fn insert(&mut self, input: EdgeInput) {
        self.0 |= input.bit();
    }
}

impl serde::Serialize for EdgeInputSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(EdgeInput::as_str))
    }
}

/// What one request told about the inputs its route's rules read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdgeInputs {
    /// Inputs some rule of the route reads.
    pub read: EdgeInputSet,
    /// Those the request lacked (a country header naming no country or `XX` counts as lacking,
    /// Tor's `T1` does not; a fingerprint that does not parse is lacking).
    pub missing: EdgeInputSet,
}

/// The inputs one route's rules read, compiled with the policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RouteReads {
    inputs: EdgeInputSet,
    /// Headers `client_country` rules read the country from, each with its Tor header (usually
    /// one): a client only the Tor header names is the edge's answer too.
    country_headers: Vec<(String, Option<String>)>,
}

impl RouteReads {
    /// The reads of every route, indexed as the policy's routes.
    pub(crate) fn of_routes(route_count: usize, rules: &[Rule]) -> Vec<RouteReads> {
        let mut reads = vec![RouteReads::default(); route_count];
        for rule in rules {
            for &route in &rule.routes {
                if let Some(route_reads) = reads.get_mut(route) {
                    route_reads.add(&rule.kind);
                }
            }
        }
        reads
    }

    fn add(&mut self, kind: &RuleKind) {
        let fingerprint = |kind: FingerprintKind| match kind {
            FingerprintKind::Ja3 => Some(EdgeInput::Ja3),
            FingerprintKind::Ja4 => Some(EdgeInput::Ja4),
            _ => None,
        };
        match kind {
            RuleKind::ClientCountry { header, tor_header, .. } => {
                self.inputs.insert(EdgeInput::ClientCountry);
                let source = (header.clone(), tor_header.clone());
                if !self.country_headers.contains(&source) {
                    self.country_headers.push(source);
                }
            }
            RuleKind::BotScore(_) => self.inputs.insert(EdgeInput::BotScore),
            RuleKind::Fingerprint { kind, .. } => {
                if let Some(input) = fingerprint(*kind) {
                    self.inputs.insert(input)
                }
            }
            RuleKind::RateLimit { key, .. } => {
                for part in key {
                    match part {
                        KeyPart::ClientIp { .. } => self.inputs.insert(EdgeInput::ClientAddress),
                        KeyPart::Fingerprint(kind) => {
                            if let Some(input) = fingerprint(*kind) {
                                self.inputs.insert(input)
                            }
                        }
                        _ => {}
                    }
                }
            }
            RuleKind::Conversion(p) if matches!(p.scope, ConversionScope::ClientIp { .. }) => {
                self.inputs.insert(EdgeInput::ClientAddress)
            }
            _ => {}
        }
    }

    /// Which of the route's inputs `req` carries. `ja3` and `ja4` are the parsed fingerprints.
    pub(crate) fn judge(&self, req: &Request<'_>, ja3: bool, ja4: bool) -> EdgeInputs {
        let mut missing = EdgeInputSet::default();
        for input in self.inputs.iter() {
            let present = match input {
                EdgeInput::ClientAddress => req.client_ip.is_some(),
                // Tor (`T1`) is the edge's answer, not a missing one.
                EdgeInput::ClientCountry => self.country_headers.iter().all(|(header, tor_header)| {
                    rules::client_country(req.headers, header, tor_header.as_deref())
                        != rules::ClientCountry::Unknown
                }),
                EdgeInput::BotScore => req.edge.bot_score.is_some(),
                EdgeInput::Ja3 => ja3,
                EdgeInput::Ja4 => ja4,
            };
            if !present {
                missing.insert(input);
            }
        }
        EdgeInputs { read: self.inputs, missing }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Policy, TlsFingerprints};

    fn reads(policy: &str) -> Vec<RouteReads> {
        let policy = Policy::from_json(policy).unwrap();
        RouteReads::of_routes(policy.routes.len(), &policy.rules)
    }

    const ROUTES: &str = r#""routes": [
        {"id": "send", "kind": "send", "match": {"path": {"exact": "/send"}}, "extract": {"json_keys": ["phone"]}},
        {"id": "confirm", "kind": "confirm", "match": {"path": {"exact": "/confirm"}}, "extract": {"json_keys": ["phone"]}}
    ]"#;

    fn request<'a>(headers: &'a [(&'a str, &'a str)], edge: crate::EdgeSignals) -> Request<'a> {
        Request {
            method: "POST",
            authority: "example.com",
            path: "/send",
            version: crate::HttpVersion::Http11,
            headers,
            body: b"",
            body_truncated: false,
            client_ip: None,
            tls: TlsFingerprints::default(),
            edge,
        }
    }

    #[test]
    fn a_route_reads_what_its_rules_read() {
        let reads = reads(&format!(
            r#"{{"version": 1, {ROUTES}, "rules": [
                {{"id": "abroad", "action": "log", "routes": ["send"], "client_country": {{"header": "cf-ipcountry"}}}},
                {{"id": "bot", "action": "log", "routes": ["send"], "bot_score": {{"below": 30}}}},
                {{"id": "per-ip", "action": "throttle", "routes": ["send", "confirm"], "rate_limit": {{"key": ["client_ip", {{"fingerprint": "ja4"}}], "rate": 5, "per_seconds": 60}}}}
            ]}}"#
        ));
        let names = |r: &RouteReads| r.inputs.iter().map(EdgeInput::as_str).collect::<Vec<_>>();
        assert_eq!(names(&reads[0]), ["client_address", "client_country", "bot_score", "ja4"]);
        assert_eq!(names(&reads[1]), ["client_address", "ja4"]);
    }

    #[test]
    fn a_request_lacks_what_it_does_not_carry() {
        let reads = reads(&format!(
            r#"{{"version": 1, {ROUTES}, "rules": [
                {{"id": "abroad", "action": "log", "client_country": {{"header": "cf-ipcountry"}}}},
                {{"id": "bot", "action": "log", "bot_score": {{"below": 30}}}}
            ]}}"#
        ));
        let send = &reads[0];
        let scored = crate::EdgeSignals { bot_score: Some(80), verified_bot: None };
        let seen = send.judge(&request(&[("cf-ipcountry", "GB")], scored), false, false);
        assert!(seen.missing.is_empty());
        assert_eq!(seen.read.iter().count(), 2);
        // Cloudflare's "unknown" names no country; no score at all is missing too.
        for country in ["XX", "", "Great Britain"] {
            let seen = send.judge(&request(&[("cf-ipcountry", country)], Default::default()), false, false);
            assert_eq!(seen.missing, seen.read, "{country:?}");
        }
        let tor = send.judge(&request(&[("cf-ipcountry", "T1")], scored), false, false);
        assert!(tor.missing.is_empty(), "Tor is the edge's answer");
        let seen = send.judge(&request(&[], scored), false, false);
        assert_eq!(seen.missing.iter().collect::<Vec<_>>(), [EdgeInput::ClientCountry]);
        assert_eq!(serde_json::to_string(&seen.missing).unwrap(), r#"["client_country"]"#);
    }

    #[test]
    fn a_client_only_the_tor_header_names_is_not_missing_a_country() {
        let reads = reads(&format!(
            r#"{{"version": 1, {ROUTES}, "rules": [
                {{"id": "abroad", "action": "log", "client_country": {{"header": "x-client-country", "tor_header": "x-client-tor"}}}}
            ]}}"#
        ));
        let send = &reads[0];
        // An exit the anonymous-IP database knows and the country database does not.
        let tor = send.judge(&request(&[("x-client-tor", "true")], Default::default()), false, false);
        assert!(tor.missing.is_empty(), "the rule judges it Tor");
        let unplaced = send.judge(&request(&[("x-client-tor", "false")], Default::default()), false, false);
        assert_eq!(unplaced.missing, unplaced.read);
    }

    #[test]
    fn a_route_without_such_rules_reads_nothing() {
        let reads = reads(&format!(
            r#"{{"version": 1, {ROUTES}, "rules": [
                {{"id": "per-number", "action": "throttle", "rate_limit": {{"key": ["number"], "rate": 5, "per_seconds": 60}}}}
            ]}}"#
        ));
        let seen = reads[0].judge(&request(&[], Default::default()), false, false);
        assert_eq!(seen, EdgeInputs::default());
    }
}
