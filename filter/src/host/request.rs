//! The request side: its headers and body read, held and judged.

use pumpguard_core::decision::DECISION_HEADERS;
use pumpguard_core::{Decision, HttpVersion, Timestamp};

use super::{host_now, property_text, Phase, Plugin, Stream};
use crate::abi::{self, Action, Buffer, Headers};
use crate::adapter::{parse_client_ip, Held};
use crate::bench::{self, Span, Stage};
use crate::wire;

impl Stream {
    fn request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        crate::trap::on_request_headers();
        if let Some(action) = bench::floor_headers(end_of_stream) {
            return action;
        }
        let Some(plugin) = self.plugin.clone() else { return Action::Continue };
        let cfg = &plugin.cfg;
        if bench::stops_at(Stage::Start) {
            return Action::Continue;
        }
        let raw = match abi::header_pairs(Headers::Request) {
            Ok(raw) => raw,
            Err(_) => return self.host_failure("read request headers"),
        };
        if bench::stops_at(Stage::HeadersRead) {
            return Action::Continue;
        }
        let Some(pairs) = wire::decode_pairs(&raw) else {
            return self.host_failure("decode request headers");
        };
        // Names we set for origin must never come from the client; the test clock never reaches origin.
        for (name, _) in &pairs {
            let ours = DECISION_HEADERS.iter().any(|h| h.as_bytes() == *name)
                || cfg.test_clock_header.as_deref().is_some_and(|h| h.as_bytes() == *name);
            if ours && abi::remove_header(Headers::Request, name).is_err() {
                return self.host_failure("remove request header");
            }
        }
        // The core judges text; values that are not UTF-8 (obs-text) are judged with U+FFFD
        // in place of the bad bytes and forwarded untouched.
        let map = pairs.into_iter().map(|(n, v)| (wire::text(n), wire::text(v))).collect();
        let (held, clock) = Held::from_headers(cfg, map);
        self.held = held;
        self.now = match (clock, cfg.test_clock_header.is_some()) {
            (Some(ms), true) => Timestamp::from_millis(ms),
            _ => host_now(),
        };
        let (guarded, import) = {
            let mut refs = Vec::with_capacity(self.held.headers.len());
            let req = self.held.view(&mut refs, 0);
            (cfg.policy.guards(&req), cfg.policy.is_trust_import(&req))
        };
        if !guarded {
            self.phase = Phase::Done;
            for (name, value) in Decision::unguarded().origin_headers() {
                if abi::add_header(Headers::Request, name, &value).is_err() {
                    return self.host_failure("set request header");
                }
            }
            return Action::Continue;
        }
        if cfg.needs.client_ip {
            self.held.client_ip = property_text(&["source", "address"]).as_deref().and_then(parse_client_ip);
        }
        if cfg.needs.http_version {
            self.held.version =
                property_text(&["request", "protocol"]).as_deref().and_then(HttpVersion::from_protocol);
        }
        if end_of_stream {
            return self.judge(&plugin);
        }
        self.phase = Phase::Buffering;
        if !cfg.hold_headers {
            // Headers go upstream before the answer: never the import's token with them.
            if import && abi::remove_header(Headers::Request, b"authorization").is_err() {
                return self.host_failure("remove request header");
            }
            self.headers_sent = true;
            return Action::Continue;
        }
        Action::Pause
    }

    fn request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if let Some(action) = bench::floor_body(end_of_stream) {
            return action;
        }
        let Some(plugin) = self.plugin.clone() else { return Action::Continue };
        match self.phase {
            Phase::Buffering => {}
            Phase::Headers | Phase::Done => return Action::Continue,
            Phase::Waiting => return Action::Pause,
        }
        if bench::stops_at(Stage::Headers) {
            return Action::Continue;
        }
        if !self.read_body(&plugin, body_size) {
            return self.host_failure("read request body");
        }
        if end_of_stream && bench::stops_at(Stage::BodyRead) {
            return Action::Continue;
        }
        if end_of_stream || self.held.truncated {
            return self.judge(&plugin);
        }
        Action::Pause
    }

    fn read_body(&mut self, plugin: &Plugin, body_size: usize) -> bool {
        let cap = plugin.cfg.policy.max_body_bytes();
        let have = self.held.body.len();
        let want = body_size.min(cap.saturating_add(1));
        if want <= have {
            return true;
        }
        match abi::buffer(Buffer::RequestBody, have, want - have) {
            Ok(Some(chunk)) => {
                self.held.push_body(&chunk, cap);
                true
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }
}

impl Stream {
    pub fn on_request_headers(&mut self, num_headers: usize, end_of_stream: bool) -> Action {
        bench::timed(Span::Headers, || self.request_headers(num_headers, end_of_stream))
    }

    pub fn on_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        bench::timed(Span::Body, || self.request_body(body_size, end_of_stream))
    }

    pub fn on_request_trailers(&mut self) -> Action {
        let Some(plugin) = self.plugin.clone() else { return Action::Continue };
        match self.phase {
            Phase::Buffering => self.judge(&plugin),
            Phase::Waiting => Action::Pause,
            Phase::Headers | Phase::Done => Action::Continue,
        }
    }
}
