//! The response side: a forwarded confirm's answer fed into conversion tracking.

use pumpguard_core::routes::{ConfirmResponse, MAX_CONFIRM_BODY_BYTES};
use pumpguard_core::Decision;

use super::{status_of, Plugin, Stream, Waiting};
use crate::abi::{self, Action, Buffer, Headers};
use crate::wire;

impl Stream {
    /// A forwarded confirm's answer: its status and headers, and where the route judges success
    /// from the body, the body as it passes (never held: origin's answer is not delayed).
    pub fn on_response_headers(&mut self, end_of_stream: bool) -> Action {
        let (Some(plugin), Some(decision)) = (self.plugin.clone(), self.confirm.take()) else {
            return Action::Continue;
        };
        let Some(status) = status_of(Headers::Response) else { return Action::Continue };
        let headers = abi::header_pairs(Headers::Response)
            .ok()
            .and_then(|raw| {
                wire::decode_pairs(&raw).map(|pairs| {
                    pairs.into_iter().map(|(n, v)| (wire::text(n), wire::text(v))).collect::<Vec<_>>()
                })
            })
            .unwrap_or_default();
        let answer = ConfirmAnswer { decision, status, headers, body: Vec::new() };
        if plugin.cfg.policy.confirm_needs_body(&answer.decision) && !end_of_stream {
            self.confirm_answer = Some(answer);
            // With the remote store the whole answer is held until its rounds are done.
            if plugin.cfg.remote.is_some() {
                Action::Pause
            } else {
                Action::Continue
            }
        } else {
            self.record_confirm(&plugin, answer)
        }
    }

    /// Collects a confirm's answer up to the core's cap; records the confirmation at its end.
    pub fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if matches!(self.waiting, Some(Waiting::Confirm(..) | Waiting::Credit(_))) {
            // Recorded at the headers, rounds in flight: the body waits with them.
            return Action::Pause;
        }
        let (Some(plugin), Some(answer)) = (self.plugin.clone(), self.confirm_answer.as_mut()) else {
            return Action::Continue;
        };
        let holding = plugin.cfg.remote.is_some();
        let have = answer.body.len();
        let room = MAX_CONFIRM_BODY_BYTES.saturating_sub(have);
        if room > 0 {
            // Held, the buffer keeps everything since the headers; let through, each call holds
            // only the chunk Envoy is about to pass on.
            let (start, size) = if holding { (have, body_size.saturating_sub(have)) } else { (0, body_size) };
            if size > 0 {
                if let Ok(Some(chunk)) = abi::buffer(Buffer::ResponseBody, start, size.min(room)) {
                    answer.body.extend_from_slice(&chunk);
                }
            }
        }
        if end_of_stream {
            if let Some(answer) = self.confirm_answer.take() {
                return self.record_confirm(&plugin, answer);
            }
        }
        if holding {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    /// Feeds a confirm's answer into conversion tracking. With the remote store its rounds run
    /// while the response is held (`Pause`): a call still in flight when the stream ends is
    /// cancelled by the host, and the confirmation would be lost.
    fn record_confirm(&mut self, plugin: &Plugin, answer: ConfirmAnswer) -> Action {
        let policy = &plugin.cfg.policy;
        let headers: Vec<(&str, &str)> =
            answer.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let body = policy.confirm_needs_body(&answer.decision).then_some(answer.body.as_slice());
        let response = ConfirmResponse { status: answer.status, headers: &headers, body };
        let Some(remote) = &plugin.cfg.remote else {
            plugin.with_store(self.now, |store| {
                policy.record_confirm(&answer.decision, &response, self.now, store)
            });
            return Action::Continue;
        };
        let checks = policy.confirm_checks(&answer.decision, &response);
        if checks.is_empty() || !self.dispatch_round(plugin, remote, false, checks.clone()) {
            return Action::Continue;
        }
        self.wait(Waiting::Confirm(checks))
    }
}

/// Origin's answer to a forwarded confirm, as far as the route needs it.
pub(super) struct ConfirmAnswer {
    decision: Decision,
    status: u16,
    headers: Vec<(String, String)>,
    /// Up to `MAX_CONFIRM_BODY_BYTES`, when the route judges success from the body.
    body: Vec<u8>,
}
