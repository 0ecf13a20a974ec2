//! The answers of a stream's calls: siteverify, number lookups and remote store rounds.

use pumpguard_core::captcha::interpret_siteverify;
use pumpguard_core::intel::{LookupAnswer, MAX_ANSWER_BYTES};
use pumpguard_core::remote::COMMITTED_HEADER;
use pumpguard_core::{Decision, TokenVerdict};

use super::{log, status_of, Phase, Plugin, Stream, Waiting};
use crate::abi::{self, Buffer, Headers, Level};

impl Stream {
    /// The answer of the call in flight (no headers: the call failed or timed out).
    pub fn on_callout_response(&mut self, num_headers: usize, body_size: usize) {
        let (Some(plugin), Some(waiting)) = (self.plugin.clone(), self.waiting.take()) else {
            return;
        };
        let policy = &plugin.cfg.policy;
        match waiting {
            Waiting::Verify(decision) => {
                self.on_siteverify_response(&plugin, decision, num_headers, body_size)
            }
            Waiting::Lookup(decision, mut answers) => {
                let answer = match (num_headers, policy.number_intel()) {
                    (0, Some(provider)) => LookupAnswer::Unavailable {
                        detail: format!("lookup failed or timed out ({} ms)", provider.timeout_ms),
                    },
                    (_, Some(provider)) => {
                        let status = status_of(Headers::HttpCallResponse).unwrap_or(0);
                        let want = body_size.min(MAX_ANSWER_BYTES + 1);
                        let body = match abi::buffer(Buffer::HttpCallResponseBody, 0, want) {
                            Ok(Some(body)) => body,
                            _ => Vec::new(),
                        };
                        provider.interpret(status, &body)
                    }
                    (_, None) => LookupAnswer::Unavailable { detail: "no number_intel settings".to_owned() },
                };
                plugin.count_lookup(if matches!(answer, LookupAnswer::Found(_)) {
                    "found"
                } else {
                    "unavailable"
                });
                answers.push(answer);
                self.look_up(&plugin, decision, answers, true);
            }
            Waiting::PeekCommit(prepared, if_pass) => {
                let outcomes = self.round_outcomes(&plugin, num_headers, body_size, prepared.checks().len());
                let committed = abi::header_value(Headers::HttpCallResponse, COMMITTED_HEADER)
                    .ok()
                    .flatten()
                    .is_some_and(|v| v == b"1");
                if committed {
                    // The checks ran for real: settled as a commit round's answer would be.
                    plugin.increment(format!("pumpguard.store.plugin.{}.remote.one_round", plugin.cfg.name));
                    let decision = policy.settle_commits(*if_pass, &outcomes);
                    self.act(&plugin, decision, true);
                    return;
                }
                self.peek_answered(&plugin, prepared, outcomes);
            }
            Waiting::BoundNumber(read) => {
                let outcomes = self.round_outcomes(&plugin, num_headers, body_size, read.checks().len());
                self.judge_bound(&plugin, read, &outcomes, true);
            }
            Waiting::Peek(prepared) => {
                let outcomes = self.round_outcomes(&plugin, num_headers, body_size, prepared.checks().len());
                self.peek_answered(&plugin, prepared, outcomes);
            }
            Waiting::Commit(decision) => {
                let count = decision.pending_commits().len();
                let outcomes = self.round_outcomes(&plugin, num_headers, body_size, count);
                let decision = policy.settle_commits(decision, &outcomes);
                // A solving device's limits ran alone: the rest of the writes are a round of
                // their own, if the device passed.
                self.commit(&plugin, decision, true);
            }
            Waiting::Confirm(checks) => {
                let outcomes = self.round_outcomes(&plugin, num_headers, body_size, checks.len());
                let credits = policy.credit_checks(&checks, &outcomes);
                if let (false, Some(remote)) = (credits.is_empty(), plugin.cfg.remote.as_ref()) {
                    let count = credits.len();
                    if self.dispatch_round(&plugin, remote, false, credits) {
                        self.waiting = Some(Waiting::Credit(count));
                        return;
                    }
                }
                self.release_response();
            }
            Waiting::Credit(count) => {
                // What the credits found is bookkeeping; only a failure is worth counting.
                let _ = self.round_outcomes(&plugin, num_headers, body_size, count);
                self.release_response();
            }
        }
    }

    /// Lets a confirm's response held for its store rounds go on to the client.
    fn release_response(&mut self) {
        self.phase = Phase::Done;
        if abi::resume_response().is_err() {
            log(Level::Error, "pumpguard: resuming the response failed; resetting it");
            let _ = abi::reset_request();
        }
    }

    fn on_siteverify_response(
        &mut self,
        plugin: &Plugin,
        decision: Decision,
        num_headers: usize,
        body_size: usize,
    ) {
        let policy = &plugin.cfg.policy;
        let status = if num_headers == 0 { None } else { status_of(Headers::HttpCallResponse) };
        let verdict = match (status, policy.captcha()) {
            (None, _) => {
                TokenVerdict::Unavailable { detail: "siteverify call failed or timed out".to_owned() }
            }
            (Some(_), None) => TokenVerdict::Unavailable { detail: "no captcha settings".to_owned() },
            (Some(status), Some(captcha)) => {
                let body = match abi::buffer(Buffer::HttpCallResponseBody, 0, body_size) {
                    Ok(Some(body)) => body,
                    _ => Vec::new(),
                };
                interpret_siteverify(captcha, status, &body)
            }
        };
        let decision = policy.resolve_token(decision, &verdict);
        self.concluded(plugin, decision, true);
    }
}
