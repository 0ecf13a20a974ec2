//! The traffic record: one captured request as JSON. `pumpguard replay` reads them as JSON lines
//! and the scenario corpus is made of them, so every host is tested with the same requests.
//!
//! ```json
//! {"at_ms": 1000, "client_ip": "203.0.113.7", "method": "POST", "host": "app.example.com",
//!  "path": "/api/otp", "version": "HTTP/1.1",
//!  "headers": [["content-type", "application/json"]], "body": "{\"phone\":\"+14155550123\"}",
//!  "tls": {"ja3": "…", "ja4": "…"}, "edge": {"bot_score": 12, "verified_bot": false},
//!  "response_status": 200}
//! ```

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::fingerprint::HttpVersion;
use crate::request::{EdgeSignals, Request, TlsFingerprints};
use crate::time::Timestamp;

/// TLS fingerprints of a captured request, as the proxy that terminated TLS reported them.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsRecord {
    /// JA3 hash; absent when the proxy reported none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ja3: Option<String>,
    /// JA4 fingerprint; absent when the proxy reported none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ja4: Option<String>,
}

/// Bot signals of a captured request, as the edge in front reported them.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeRecord {
    /// Bot score, 1 (surely automated) to 99 (surely human); absent when the edge gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_score: Option<u8>,
    /// Whether the edge verified the client as a known good bot; absent when it said nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_bot: Option<bool>,
}

impl EdgeRecord {
    /// The signals as the core reads them: a score outside 1 to 99 is no score, as on every host.
    pub fn signals(&self) -> EdgeSignals {
        EdgeSignals {
            bot_score: self.bot_score.filter(|score| (1..=99).contains(score)),
            verified_bot: self.verified_bot,
        }
    }
}

/// One request as captured.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficRecord {
    /// Milliseconds since the Unix epoch (scenarios use small offsets from 0).
    #[serde(default)]
    pub at_ms: u64,
    /// Client address; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<IpAddr>,
    /// HTTP method (`POST`).
    pub method: String,
    /// Host / `:authority`, possibly with a port.
    pub host: String,
    /// Path with query string.
    pub path: String,
    /// `HTTP/1.0`, `HTTP/1.1` (default), `HTTP/2`, `HTTP/3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Header name/value pairs in the order received.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Body as UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Body as hex, for bytes that are not UTF-8 (exclusive with `body`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_hex: Option<String>,
    /// TLS fingerprints; absent when the request carried none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsRecord>,
    /// Bot signals of the edge in front; absent when it gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<EdgeRecord>,
    /// For confirm routes: the status origin answered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    /// For confirm routes: headers origin answered with (what `success_header` reads).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers: Vec<(String, String)>,
    /// For confirm routes: the body origin answered with (what `success_json` reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

/// A record's parts in the shapes [`Request`] borrows.
pub struct OwnedRequest {
    /// Header pairs in record order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The decoded body (`body` or `body_hex`; empty without either).
    pub body: Vec<u8>,
    /// HTTP version; HTTP/1.1 when the record gives none.
    pub version: HttpVersion,
}

impl TrafficRecord {
    /// The record's time (`at_ms`).
    pub fn at(&self) -> Timestamp {
        Timestamp::from_millis(self.at_ms)
    }

    /// Records a confirm-route decision's response into conversion tracking, as a host would
    /// from origin's answer (status 200 when the record gives none).
    pub fn record_confirm(
        &self,
        policy: &crate::Policy,
        decision: &crate::Decision,
        store: &dyn crate::Store,
    ) {
        let Some(status) = self.response_status else { return };
        let headers: Vec<(&str, &str)> =
            self.response_headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let response = crate::routes::ConfirmResponse {
            status,
            headers: &headers,
            body: self.response_body.as_deref().map(str::as_bytes),
        };
        policy.record_confirm(decision, &response, self.at(), store);
    }

    /// Decodes the body and version; the error says what in the record is wrong.
    pub fn owned(&self) -> Result<OwnedRequest, String> {
        let body = match (&self.body, &self.body_hex) {
            (Some(_), Some(_)) => return Err("set body or body_hex, not both".to_owned()),
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, Some(hex)) => {
                decode_hex(hex).ok_or_else(|| "body_hex is not an even number of hex digits".to_owned())?
            }
            (None, None) => Vec::new(),
        };
        let version = match &self.version {
            None => HttpVersion::Http11,
            Some(v) => HttpVersion::from_protocol(v).ok_or_else(|| format!("unknown HTTP version {v:?}"))?,
        };
        let headers = self.headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.clone())).collect();
        Ok(OwnedRequest { headers, body, version })
    }
}

/// Builds the borrowed [`Request`] from a record and its decoded parts.
pub fn as_request<'a>(
    record: &'a TrafficRecord,
    owned: &'a OwnedRequest,
    header_refs: &'a [(&'a str, &'a str)],
    max_body: usize,
) -> Request<'a> {
    let truncated = owned.body.len() > max_body;
    Request {
        method: &record.method,
        authority: &record.host,
        path: &record.path,
        version: owned.version,
        headers: header_refs,
        body: owned.body.get(..max_body).unwrap_or(&owned.body),
        body_truncated: truncated,
        client_ip: record.client_ip,
        tls: TlsFingerprints {
            ja3: record.tls.as_ref().and_then(|t| t.ja3.as_deref()),
            ja4: record.tls.as_ref().and_then(|t| t.ja4.as_deref()),
        },
        edge: record.edge.as_ref().map(EdgeRecord::signals).unwrap_or_default(),
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let bytes = hex.as_bytes();
    if bytes.len() % 2 != 0 {
        return None;
    }
    bytes
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}
