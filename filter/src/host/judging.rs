//! A guarded request's decision: judged, token verified, numbers looked up, committed, carried out.

use pumpguard_core::captcha::siteverify_body;
use pumpguard_core::intel::{self, LookupAnswer, NumberLookup};
use pumpguard_core::limit::CounterVerdict;
use pumpguard_core::remote::{CheckRequest, CheckResponse, COMMIT_IF_PASS_HEADER};
use pumpguard_core::{Action as Verdict, CheckOutcome, CounterCheck, Decision, Prepared, TokenVerdict};

use super::{log, status_of, Phase, Plugin, Stream, Waiting};
use crate::abi::{self, Action, Buffer, Headers, Level, Status};
use crate::bench::{self, Span, Stage};
use crate::config::RemoteStore;

impl Stream {
    /// Answers locally with a fixed error when the host itself failed us (fail closed).
    pub(super) fn host_failure(&mut self, what: &str) -> Action {
        log(Level::Error, &format!("pumpguard: host call failed: {what}; answering 503"));
        if let Some(plugin) = &self.plugin {
            plugin.count_host_failure();
        }
        self.phase = Phase::Done;
        let body =
            br#"{"error":"store_unavailable","message":"The request could not be checked; retry later."}"#;
        let headers = [("content-type", "application/json"), ("x-pumpguard-decision", "block")];
        if abi::send_response(503, "pumpguard_host_failure", &headers, body).is_err() {
            let _ = abi::reset_request();
        }
        Action::Pause
    }

    pub(super) fn judge(&mut self, plugin: &Plugin) -> Action {
        let policy = &plugin.cfg.policy;
        let cap = policy.max_body_bytes();
        if let Some(remote) = &plugin.cfg.remote {
            let prepared = {
                let mut refs = Vec::with_capacity(self.held.headers.len());
                let req = self.held.view(&mut refs, cap);
                policy.prepare(&req, self.now)
            };
            if prepared.reads_bound_number() {
                // A send naming only an account: a round for the number it goes to first.
                let checks = prepared.checks().to_vec();
                if self.dispatch_round(plugin, remote, true, checks) {
                    return self.wait(Waiting::BoundNumber(prepared));
                }
                let failed = vec![CheckOutcome::StoreFailed; prepared.checks().len()];
                return self.judge_bound(plugin, prepared, &failed, false);
            }
            return self.judge_remote(plugin, remote, prepared, false);
        }
        let decision = bench::timed(Span::Judge, || {
            let mut refs = Vec::with_capacity(self.held.headers.len());
            let req = self.held.view(&mut refs, cap);
            plugin.with_store(self.now, |store| policy.decide(&req, self.now, store))
        });
        if bench::judged(&decision) {
            return Action::Continue;
        }
        self.concluded(plugin, decision, false)
    }

    /// Step 1 again with the number a send naming only an account is bound to (`outcomes`,
    /// of `read`'s checks), then judged as any request. `resumed`: we are in a callout.
    pub(super) fn judge_bound(
        &mut self,
        plugin: &Plugin,
        read: Prepared,
        outcomes: &[CheckOutcome],
        resumed: bool,
    ) -> Action {
        let policy = &plugin.cfg.policy;
        let prepared = {
            let mut refs = Vec::with_capacity(self.held.headers.len());
            let req = self.held.view(&mut refs, policy.max_body_bytes());
            policy.prepare_bound(&req, self.now, read, outcomes)
        };
        // A read that failed whole (a timeout, a refusal) asks no second round: an outage costs
        // a request one `store.timeout_ms`, not two. (Only the remote store waits for a bound
        // number: without it, the checks fail too.)
        let read_failed = outcomes.iter().all(|o| *o == CheckOutcome::StoreFailed);
        match &plugin.cfg.remote {
            Some(remote) if !read_failed => self.judge_remote(plugin, remote, prepared, resumed),
            _ => {
                self.store_failed = true;
                let failed = vec![CheckOutcome::StoreFailed; prepared.checks().len()];
                self.concluded(plugin, policy.conclude(prepared, &failed), resumed)
            }
        }
    }

    /// A prepared request's checks, with the remote store: answered from the block cache, or
    /// a peek round (that commits too, when every check passing would send it to origin).
    fn judge_remote(
        &mut self,
        plugin: &Plugin,
        remote: &RemoteStore,
        prepared: Prepared,
        resumed: bool,
    ) -> Action {
        let policy = &plugin.cfg.policy;
        if prepared.checks().is_empty() {
            return self.concluded(plugin, policy.conclude(prepared, &[]), resumed);
        }
        let cached = plugin.blocks.borrow_mut().answer(prepared.checks(), self.now);
        if let Some(outcomes) = cached {
            // Every check is blocked past now by the store's own earlier answer.
            plugin.increment(format!("pumpguard.store.plugin.{}.remote.block_cache_hit", plugin.cfg.name));
            return self.concluded(plugin, policy.conclude(prepared, &outcomes), resumed);
        }
        let checks = prepared.checks().to_vec();
        // A request every check would let through goes to origin with all of them committed:
        // the service may commit them in the peek round itself, saving the commit round.
        let passing = vec![CheckOutcome::Verdict(CounterVerdict::PASS); checks.len()];
        let if_pass = policy.conclude(prepared.clone(), &passing);
        let one_round = if_pass.action == Verdict::Allow
            && if_pass.token_check.is_none()
            && if_pass.lookups.is_empty()
            && if_pass.pending_commits() == prepared.checks();
        if self.dispatch_round_with(plugin, remote, true, one_round, checks) {
            return self.wait(if one_round {
                Waiting::PeekCommit(prepared, Box::new(if_pass))
            } else {
                Waiting::Peek(prepared)
            });
        }
        let failed = vec![CheckOutcome::StoreFailed; prepared.checks().len()];
        self.store_failed = true;
        self.concluded(plugin, policy.conclude(prepared, &failed), resumed)
    }

    /// Holds the request (or a confirm's response) until the call just dispatched answers.
    pub(super) fn wait(&mut self, waiting: Waiting) -> Action {
        self.waiting = Some(waiting);
        self.phase = Phase::Waiting;
        Action::Pause
    }

    /// A concluded decision: its token verified first if it carries one, then committed, then
    /// carried out. `resumed`: we are in a callout, the request is paused.
    pub(super) fn concluded(&mut self, plugin: &Plugin, decision: Decision, resumed: bool) -> Action {
        if let Some(check) = decision.token_check.as_ref() {
            match self.dispatch_siteverify(plugin, check) {
                Ok(()) => return self.wait(Waiting::Verify(decision)),
                Err(detail) => {
                    let decision =
                        plugin.cfg.policy.resolve_token(decision, &TokenVerdict::Unavailable { detail });
                    return self.concluded(plugin, decision, resumed);
                }
            }
        }
        if !decision.lookups.is_empty() {
            return self.look_up(plugin, decision, Vec::new(), resumed);
        }
        self.commit(plugin, decision, resumed)
    }

    /// The decision's next number lookup, one at a time (a request names one number, nearly
    /// always); once every one answered, the answers are folded in and the decision goes on
    /// (a challenge they ask for has its token verified next).
    pub(super) fn look_up(
        &mut self,
        plugin: &Plugin,
        decision: Decision,
        mut answers: Vec<LookupAnswer>,
        resumed: bool,
    ) -> Action {
        while let Some(lookup) = decision.lookups.get(answers.len()) {
            match self.dispatch_lookup(plugin, lookup) {
                Ok(()) => return self.wait(Waiting::Lookup(decision, answers)),
                Err(detail) => {
                    plugin.count_lookup("unavailable");
                    answers.push(LookupAnswer::Unavailable { detail });
                }
            }
        }
        let decision = plugin.cfg.policy.resolve_lookups(decision, &answers);
        self.concluded(plugin, decision, resumed)
    }

    fn dispatch_lookup(&mut self, plugin: &Plugin, lookup: &NumberLookup) -> Result<(), String> {
        let (Some(host), Some(provider)) = (&plugin.cfg.number_intel, plugin.cfg.policy.number_intel())
        else {
            return Err("no number_intel cluster configured".to_owned());
        };
        let request = provider.request(lookup);
        let authority = host.authority.as_deref().unwrap_or(&request.authority);
        let extra = intel::merge_headers(&request.headers, &host.headers);
        let mut headers = vec![
            (":method", request.method.as_str()),
            (":path", request.path.as_str()),
            (":authority", authority),
        ];
        headers.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let body = request.body.as_deref().unwrap_or("").as_bytes();
        let token = abi::http_call(&host.cluster, &headers, body, provider.timeout_ms)
            .map_err(|Status(status)| format!("lookup not dispatched (host status {status})"))?;
        self.callout = Some(token);
        Ok(())
    }

    /// Runs the decision's pending counter writes (none left after `decide` in shared data), then
    /// carries it out; with the remote store, as a commit round.
    pub(super) fn commit(&mut self, plugin: &Plugin, decision: Decision, resumed: bool) -> Action {
        let policy = &plugin.cfg.policy;
        let Some(remote) = &plugin.cfg.remote else {
            let decision = plugin.with_store(self.now, |store| policy.commit(decision, self.now, store));
            return self.act(plugin, decision, resumed);
        };
        if decision.pending_commits().is_empty() {
            return self.act(plugin, decision, resumed);
        }
        let checks = decision.pending_commits().to_vec();
        let count = checks.len();
        if !self.store_failed && self.dispatch_round(plugin, remote, false, checks) {
            return self.wait(Waiting::Commit(decision));
        }
        let decision = policy.settle_commits(decision, &vec![CheckOutcome::StoreFailed; count]);
        self.act(plugin, decision, resumed)
    }

    /// A peek round's outcomes (`prepared`'s checks): the blocks among them learnt, the request
    /// concluded.
    pub(super) fn peek_answered(&mut self, plugin: &Plugin, prepared: Prepared, outcomes: Vec<CheckOutcome>) {
        self.store_failed = outcomes.iter().all(|o| *o == CheckOutcome::StoreFailed);
        let learned = plugin.blocks.borrow_mut().learn(prepared.checks(), &outcomes, self.now);
        if learned > 0 {
            plugin.add(
                format!("pumpguard.store.plugin.{}.remote.block_cache_stored", plugin.cfg.name),
                learned as u64,
            );
        }
        let decision = plugin.cfg.policy.conclude(prepared, &outcomes);
        self.concluded(plugin, decision, true);
    }

    /// Sends one round of counter checks to the store service; false when it could not be sent
    /// (counted and logged: the caller takes every check as a store failure).
    pub(super) fn dispatch_round(
        &mut self,
        plugin: &Plugin,
        remote: &RemoteStore,
        peek: bool,
        checks: Vec<CounterCheck>,
    ) -> bool {
        self.dispatch_round_with(plugin, remote, peek, false, checks)
    }

    /// [`Stream::dispatch_round`]; `commit_if_pass` asks a peek round to commit when every check
    /// passes ([`COMMIT_IF_PASS_HEADER`]; a service that does not know it answers a plain peek).
    fn dispatch_round_with(
        &mut self,
        plugin: &Plugin,
        remote: &RemoteStore,
        peek: bool,
        commit_if_pass: bool,
        checks: Vec<CounterCheck>,
    ) -> bool {
        let request = CheckRequest {
            policy_id: remote.policy_id,
            now_ms: self.now.as_millis(),
            peek,
            namespace: Some(plugin.cfg.namespace.clone()),
            checks,
        };
        let Ok(body) = serde_json::to_vec(&request) else {
            plugin.remote_failed("unencodable", self.now);
            return false;
        };
        let mut headers = vec![
            (":method", "POST"),
            (":path", remote.path.as_str()),
            (":authority", remote.authority.as_str()),
            ("content-type", "application/json"),
        ];
        if commit_if_pass {
            headers.push((COMMIT_IF_PASS_HEADER, "1"));
        }
        if let Some(credential) = &remote.authorization {
            headers.push(("authorization", credential.header_value()));
        }
        match abi::http_call(&remote.cluster, &headers, &body, remote.timeout_ms) {
            Ok(token) => {
                self.callout = Some(token);
                true
            }
            Err(_) => {
                plugin.remote_failed("not_dispatched", self.now);
                false
            }
        }
    }

    /// The outcomes of a store round's answer, one per check; anything but a 200 with exactly
    /// that many outcomes fails them all (counted and logged by kind: a 401, the store refusing
    /// the credential, as `unauthorized`, apart from other statuses).
    pub(super) fn round_outcomes(
        &self,
        plugin: &Plugin,
        num_headers: usize,
        body_size: usize,
        expected: usize,
    ) -> Vec<CheckOutcome> {
        let failed = |kind: &str| {
            plugin.remote_failed(kind, self.now);
            vec![CheckOutcome::StoreFailed; expected]
        };
        if num_headers == 0 {
            return failed("timeout_or_reset");
        }
        match status_of(Headers::HttpCallResponse) {
            Some(200) => {}
            Some(401) => return failed("unauthorized"),
            _ => return failed("bad_status"),
        }
        let body = match abi::buffer(Buffer::HttpCallResponseBody, 0, body_size) {
            Ok(Some(body)) => body,
            _ => Vec::new(),
        };
        match serde_json::from_slice::<CheckResponse>(&body) {
            Ok(CheckResponse::Outcomes(outcomes)) if outcomes.len() == expected => outcomes,
            Ok(CheckResponse::Refused(_)) => failed("refused"),
            _ => failed("bad_answer"),
        }
    }

    fn dispatch_siteverify(
        &mut self,
        plugin: &Plugin,
        check: &pumpguard_core::decision::TokenCheck,
    ) -> Result<(), String> {
        let sv = plugin.cfg.siteverify.as_ref().ok_or("no siteverify cluster configured")?;
        let secret = plugin.cfg.siteverify_secret().ok_or("no siteverify secret configured")?;
        let timeout_ms = plugin.cfg.policy.captcha().map(|c| c.verify_timeout_ms).unwrap_or(2000);
        let body = siteverify_body(secret, check);
        let headers = [
            (":method", "POST"),
            (":path", sv.path.as_str()),
            (":authority", sv.authority.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        let token = abi::http_call(&sv.cluster, &headers, body.as_bytes(), timeout_ms)
            .map_err(|Status(status)| format!("siteverify call not dispatched (host status {status})"))?;
        self.callout = Some(token);
        Ok(())
    }

    /// Carries out a final decision. `resumed`: we are in a callout, the request is paused.
    pub(super) fn act(&mut self, plugin: &Plugin, decision: Decision, resumed: bool) -> Action {
        bench::timed(Span::Act, || self.carry_out(plugin, decision, resumed))
    }

    fn carry_out(&mut self, plugin: &Plugin, decision: Decision, resumed: bool) -> Action {
        self.phase = Phase::Done;
        plugin.count(&decision);
        plugin.log_decision(&decision, self.now);
        if bench::stops_at(Stage::Counted) {
            return Action::Continue;
        }
        if decision.action == Verdict::Allow {
            // Headers already upstream cannot be changed: the host would refuse.
            let headers = if self.headers_sent { Vec::new() } else { decision.origin_headers() };
            for (name, value) in headers {
                // Client-sent copies were removed at the headers, so adding cannot duplicate.
                if abi::add_header(Headers::Request, name, &value).is_err() {
                    return self.host_failure("set request header");
                }
            }
            if plugin.cfg.policy.awaits_confirmation(&decision) {
                // A route that judges the answer's body must get it as origin wrote it: an
                // answer compressed for the client would never read as confirmed.
                let policy = &plugin.cfg.policy;
                if policy.confirm_needs_body(&decision)
                    && !self.headers_sent
                    && abi::remove_header(Headers::Request, b"accept-encoding").is_err()
                {
                    return self.host_failure("remove accept-encoding");
                }
                self.confirm = Some(decision);
            }
            if resumed && abi::resume_request().is_err() {
                log(Level::Error, "pumpguard: resuming the request failed; resetting it");
                let _ = abi::reset_request();
            }
            return Action::Continue;
        }
        let headers = decision.response_headers();
        let header_refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let body = decision.error_body().unwrap_or_default();
        let status = u32::from(decision.status);
        let details = decision.error_code().map_or("pumpguard", |c| c.as_str());
        if abi::send_response(status, details, &header_refs, body.as_bytes()).is_err() {
            let _ = abi::reset_request();
        }
        Action::Pause
    }
}
