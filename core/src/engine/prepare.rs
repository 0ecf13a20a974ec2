//! Step 1, [`Policy::prepare`], and the checks it plans: apart as the longest step, the one needing no store.

use std::sync::Arc;

use crate::captcha;
use crate::config::{InvalidNumberOutcome, Policy, RouteKind, RuleAction};
use crate::decision::{Action, Decision, NumberFacts, Reason, ReasonCode, RouteInfo};
use crate::extract::{BindsWithoutSending, ExtractError, PathBinding, RequestParts};
use crate::limit::{pair_tag, pair_text, ConversionParams, ConversionScope, SignInNumber};
use crate::phone::PhoneNumber;
use crate::phone::PhoneParser;
use crate::request::Request;
use crate::rules::{self, check_number, KeyPart, NumberFinding, Rule, RuleKind, TorClients};
use crate::solver::{self, solver_scope};
use crate::time::Timestamp;

use super::keys::{
    account_tag, client_address, client_tag, counter_key, counts_nothing, number_scope_key, rate_key,
};
use super::{input_reason, CheckOutcome, CounterCheck, CounterOp, Fingerprints, Prepared};

/// The `invalid_number` finding for `number`, as `inputs.on_invalid_number` asks.
fn invalid_number_reason(outcome: InvalidNumberOutcome, number: &PhoneNumber) -> Reason {
    let (action, enforced) = match outcome {
        InvalidNumberOutcome::Block => (Action::Block, true),
        InvalidNumberOutcome::Challenge => (Action::Challenge, true),
        InvalidNumberOutcome::Allow => (Action::Allow, false),
    };
    Reason {
        rule: None,
        code: ReasonCode::InvalidNumber,
        action,
        enforced,
        retry_after_ms: None,
        number: Some(number.e164().to_owned()),
        detail: None,
        spared: false,
    }
}

fn number_facts(n: &PhoneNumber) -> NumberFacts {
    NumberFacts {
        e164: n.e164().to_owned(),
        region: n.region().map(|r| r.as_str()),
        calling_code: n.calling_code(),
        number_type: n.number_type(),
        valid: n.is_valid(),
        trusted: false,
        from_account: false,
    }
}

/// The number a send naming only an account goes to, as far as step 1 knows it.
enum BoundNumber {
    /// Not read yet: such a send asks for the read first.
    Unread,
    /// Read: the account's number, or `None` when it has none (judged by its account alone);
    /// and, for a sign-in, the number its SMS MFA code goes to and whether the account proved it.
    Read {
        /// The number a sign-up bound the account to (`bound_number`).
        number: Option<PhoneNumber>,
        /// The account's sign-in number (`bound_sign_ins`).
        sign_in: Option<(PhoneNumber, SignInNumber)>,
        /// The call that bound the number carried a CAPTCHA token that still answers.
        answered: bool,
    },
}

impl Policy {
    /// Step 1: everything that needs no counter state. A send naming only an account, on a
    /// route a `bound_number` rule judges, comes back asking for its account's number first
    /// ([`Prepared::reads_bound_number`]): hosts run that check as a peek and step 1 again with
    /// [`Policy::prepare_bound`].
    pub fn prepare(&self, req: &Request<'_>, _now: Timestamp) -> Prepared {
        self.prepare_with(req, BoundNumber::Unread)
    }

    /// Step 1 again, for a request whose first [`Policy::prepare`] asked for its account's
    /// number (`read`, with the outcomes of its checks): the request judged as a send to that
    /// number, or by its account alone when it has none or the store failed (the checks that
    /// follow meet the same store). Any other `read` comes back as it is.
    pub fn prepare_bound(
        &self,
        req: &Request<'_>,
        _now: Timestamp,
        read: Prepared,
        outcomes: &[CheckOutcome],
    ) -> Prepared {
        if !read.reads_bound {
            return read;
        }
        let number = self.bound_number(&read.checks, outcomes);
        let sign_in = self.sign_in_number(&read.checks, outcomes);
        let answered = self.bound_answered(&read.checks, outcomes);
        self.prepare_with(req, BoundNumber::Read { number, sign_in, answered })
    }

    fn prepare_with(&self, req: &Request<'_>, bound: BoundNumber) -> Prepared {
        if let Some(import) = self.trust_import.as_ref().filter(|i| i.matches(req)) {
            return final_decision(import.prepare(req, self.max_body_bytes()));
        }
        let Some(route_index) = self.route_with_body(req) else {
            return final_decision(Decision::unguarded());
        };
        let Some(route) = self.routes.get(route_index) else {
            return final_decision(Decision::unguarded());
        };
        let mut decision = Decision::unguarded();
        decision.expose_findings = self.expose_findings;
        decision.refusal = route.refusal;
        decision.challenge_hint = route.challenge_hint.clone();
        decision.cors = self.cors.as_ref().and_then(|c| c.reply_for(req.header("origin")));
        decision.route = Some(RouteInfo { index: route_index, id: route.id.clone(), kind: route.kind });
        let inputs = &self.inputs;

        if req.body_truncated || req.body.len() > self.max_body_bytes() {
            let detail = format!("body exceeds {} bytes", self.inputs.max_body_bytes);
            decision.reasons.push(input_reason(ReasonCode::BodyTooLarge, inputs.on_oversize, Some(detail)));
            return self.finish(decision);
        }
        let parts = RequestParts {
            content_type: req.header("content-type"),
            content_encoding: req.header("content-encoding"),
            query: req.query(),
            headers: req.headers,
            body: req.body,
        };
        let mut extracted = match route.extractor.extract(&parts) {
            Ok(extracted) => extracted,
            Err(error) => {
                let outcome = match &error {
                    ExtractError::Malformed { .. } => inputs.on_malformed,
                    ExtractError::UnsupportedEncoding { .. } => inputs.on_unsupported_encoding,
                    ExtractError::UnsupportedContentType { .. } => inputs.on_unsupported_content_type,
                    ExtractError::Ambiguous { .. } => inputs.on_ambiguous,
                };
                decision.reasons.push(input_reason(error.reason(), outcome, Some(error.to_string())));
                return self.finish(decision);
            }
        };

        // Parse every candidate; input problems are findings of their own.
        let mut numbers: Vec<PhoneNumber> = Vec::with_capacity(extracted.numbers.len());
        if extracted.numbers.len() > inputs.max_numbers as usize {
            let detail =
                format!("{} numbers, at most {} allowed", extracted.numbers.len(), inputs.max_numbers);
            decision.reasons.push(input_reason(
                ReasonCode::TooManyNumbers,
                inputs.on_too_many_numbers,
                Some(detail),
            ));
        }
        for candidate in extracted.numbers.iter().take(inputs.max_numbers as usize) {
            let parsed = match candidate.region {
                Some(region) => PhoneParser::new(Some(region)).parse(&candidate.raw),
                None => self.parser.parse(&candidate.raw),
            };
            match parsed {
                Ok(number) => {
                    if !number.is_valid() {
                        decision.reasons.push(invalid_number_reason(inputs.on_invalid_number, &number));
                    }
                    decision.numbers.push(number_facts(&number));
                    numbers.push(number);
                }
                Err(error) => {
                    let detail = format!("{}: {error}", candidate.source);
                    decision.reasons.push(input_reason(
                        ReasonCode::UnparseableNumber,
                        inputs.on_unparseable_number,
                        Some(detail),
                    ));
                }
            }
        }
        let confirm = route.kind == RouteKind::Confirm;
        if confirm {
            // Origin must see every confirm: input findings are reported, never enforced (see
            // `finish`). Its numbers are kept for `record_confirm`; only rate limits that name
            // the route run on it.
            decision.reasons.retain(|r| r.code != ReasonCode::InvalidNumber);
            decision.reasons.iter_mut().for_each(|r| r.enforced = false);
        }
        // A number that names the user (a Supabase resend of a phone change finds the user by
        // the phone it has and sends to the one the change asked for) is the request's account:
        // judged as a send to the number that user is bound to, never as one to itself.
        if !confirm && !numbers.is_empty() && route.numbers_name_the_account(req) {
            if let [number] = numbers.as_slice() {
                extracted.account = Some(crate::extract::fold_account(number.e164()));
            }
            decision.reasons.retain(|r| r.code != ReasonCode::InvalidNumber);
            decision.numbers.clear();
            numbers.clear();
            extracted.numbers.clear();
        }
        // A call naming in its path what it sends to (a Supabase factor's challenge names the
        // factor, bound to its number at enrolment): its binding is found under that name,
        // while its account, which the user's limits count, stays the user.
        let path_binding = match route.preset.map(|p| p.path_binding(req)) {
            Some(PathBinding::Named(id)) => Some(id),
            Some(PathBinding::Ambiguous(detail)) => {
                decision.reasons.push(input_reason(
                    ReasonCode::AmbiguousField,
                    inputs.on_ambiguous,
                    Some(detail),
                ));
                return self.finish(decision);
            }
            Some(PathBinding::None) | None => None,
        };
        // The name a binding is read, or confirmed, under.
        let binding_name = path_binding.as_deref().or(extracted.account.as_deref());
        // A call that sends only to a number it carries sends nothing without one (a Supabase
        // e-mail sign-in or profile update): nothing to judge, whoever it names. Nor does one
        // whose preset reads it as sending no SMS (a Clerk call by an e-mail strategy).
        if !confirm
            && ((extracted.numbers.is_empty() && route.sends_only_to_carried_number(req))
                || route.preset.is_some_and(|p| p.sends_nothing(req, !extracted.numbers.is_empty())))
        {
            return self.finish(decision);
        }
        // A call its API sends to one number carrying two: which one origin sends to is its
        // choice, and a binding of either would let the other go unjudged later.
        if !confirm && route.preset.is_some_and(|p| p.sends_to_one_number()) {
            if let [first, rest @ ..] = numbers.as_slice() {
                if let Some(other) = rest.iter().find(|n| n.e164() != first.e164()) {
                    let detail = format!("the call carries {} and {}", first.e164(), other.e164());
                    decision.reasons.push(input_reason(
                        ReasonCode::AmbiguousField,
                        inputs.on_ambiguous,
                        Some(detail),
                    ));
                    return self.finish(decision);
                }
            }
        }
        // A request naming an account (a reset or a resend by user name) leaves the number to
        // the service that holds it: not a number the guard failed to find.
        if extracted.numbers.is_empty() && binding_name.is_none() && !confirm {
            decision.reasons.push(input_reason(ReasonCode::NoNumber, inputs.on_no_number, None));
        }
        // Unless the account is bound to one: the service sends to the account's number, so
        // the request is a send to it. So is a call naming the account and carrying a number it
        // does not bind the account to: that number may be a decoy (a `ForgotPassword` with a
        // stray `UserAttributes` goes to the user's own phone), judged beside the account's. A
        // password sign-in sends an SMS only with MFA and the right password: it is left to the
        // account's own limits, and to the count of codes its sign-in number had where a
        // `bound_sign_ins` rule keeps one (as is a choice of SMS MFA, which is judged by both).
        // A call binding only a number it carries, carrying none, asks for a code to the
        // number its path names (a Clerk sign-up's update): judged as a send to it.
        let binds = route.preset.is_some_and(|p| {
            p.binds_account(req) && !(extracted.numbers.is_empty() && p.binds_only_carried_number(req))
        });
        // A phone change carrying one number moves the account's SMS MFA there once origin took it.
        let moved = match numbers.as_slice() {
            [number] if route.preset.is_some_and(|p| p.moves_sign_in_number(req)) => Some(number.clone()),
            _ => None,
        };
        let mut sign_in_number = None;
        // A challenge answered at the call that made what the path names (a Clerk sign-up's
        // token, sent with the sign-up alone, answers its preparations for a while).
        let mut answered_earlier = false;
        if let Some(name) = binding_name.filter(|_| !(confirm || binds)) {
            // Asked only of a request naming an account: the conditions read the body again.
            let password = route.signs_in_by_password(req);
            let sign_in = password || (self.judges_sign_ins(route_index) && route.chooses_sms_mfa(req));
            match bound {
                // A request refused already needs no number to refuse it.
                BoundNumber::Unread if !has_enforced_block(&decision) => {
                    let tag = account_tag(name);
                    let bound_read = (!password).then(|| self.plan_bound_read(route_index, tag));
                    // Where the path names nothing bound, the account's binding: a Clerk sign-in
                    // by e-mail address names the user's phone by its id (`phone_number_id`),
                    // bound when the user added it. Read after the path's, which wins.
                    let account_read = extracted
                        .account
                        .as_deref()
                        .filter(|account| path_binding.as_deref().is_some_and(|path| path != *account))
                        .filter(|_| !password)
                        .map(|account| self.plan_bound_read(route_index, account_tag(account)));
                    let sign_in_read = sign_in.then(|| self.plan_sign_in_number_read(route_index, tag));
                    let checks: Vec<_> =
                        bound_read.into_iter().chain(account_read).chain(sign_in_read).flatten().collect();
                    if !checks.is_empty() {
                        return Prepared {
                            decision,
                            checks,
                            token: None,
                            remote_ip: None,
                            reads_bound: true,
                            answered_earlier: false,
                        };
                    }
                }
                BoundNumber::Read { number, sign_in: record, answered } => {
                    sign_in_number = record.filter(|_| sign_in);
                    answered_earlier = answered && path_binding.is_some();
                    let unbound = number.is_none() && extracted.numbers.is_empty();
                    if unbound
                        && path_binding.is_some()
                        && route.preset.is_some_and(|p| p.unbound_path_is_numberless(req))
                    {
                        let detail = format!("nothing is bound to {name:?}");
                        decision.reasons.push(input_reason(
                            ReasonCode::NoNumber,
                            inputs.on_no_number,
                            Some(detail),
                        ));
                    }
                    let fresh = |n: &PhoneNumber| !password && !numbers.iter().any(|m| m.e164() == n.e164());
                    if let Some(number) = number.filter(fresh) {
                        if !number.is_valid() {
                            decision.reasons.push(invalid_number_reason(inputs.on_invalid_number, &number));
                        }
                        decision.numbers.push(NumberFacts { from_account: true, ..number_facts(&number) });
                        numbers.push(number);
                    }
                }
                BoundNumber::Unread => {}
            }
        }
        if has_enforced_block(&decision) {
            return self.finish(decision);
        }

        // Safelisted numbers skip every rule; a request of only safelisted numbers skips them all.
        let carried = !extracted.numbers.is_empty() || !numbers.is_empty();
        numbers.retain(|n| self.safelist.longest_match(n.digits()).is_none());
        if numbers.is_empty() && carried && decision.reasons.is_empty() {
            return self.finish(decision);
        }
        // Empty and over-long tokens are never verified: such a request carries no token.
        let token = extracted.token.filter(|t| !t.is_empty() && t.len() <= captcha::MAX_TOKEN_LEN);

        let fingerprints = Fingerprints::of(self, req);
        let account = extracted.account.as_deref();
        // The one number a binding call carries, however many times (a Vonage workflow texting
        // a number, then calling it); a call carrying two binds neither.
        let binding_number = match numbers.as_slice() {
            [first, rest @ ..] if binds && rest.iter().all(|n| n.e164() == first.e164()) => Some(first),
            _ => None,
        };
        // A token on a binding call origin verifies answers the challenges of the sends naming
        // its binding, where the preset's later calls carry none.
        let answers_later = token.is_some() && route.preset.is_some_and(|p| p.answer_carries_from(req));
        match (route.kind, account) {
            (RouteKind::Send, Some(name)) => {
                // A call that binds is never judged by a bound number: its numbers are its own.
                if let Some(number) = binding_number {
                    decision.bindings =
                        self.plan_bindings(route_index, account_tag(name), number, req, answers_later);
                }
                if let Some(number) = &moved {
                    decision.bindings.extend(self.plan_sign_in_number(
                        route_index,
                        account_tag(name),
                        number,
                        false,
                    ));
                }
            }
            // A binding call naming no one, whose answer names what its code is later confirmed
            // under (Auth0's `otp/challenge` and its session): planned under no name, the
            // answer's id is the only one it is kept under.
            (RouteKind::Send, None)
                if binds && route.preset.is_some_and(|p| p.binds_under_answered_id_only()) =>
            {
                if let Some(number) = binding_number {
                    decision.bindings =
                        self.plan_bindings(route_index, account_tag(""), number, req, answers_later);
                }
            }
            (RouteKind::Confirm, _) if binding_name.is_some() => {
                let binding = route.preset.is_some_and(|p| p.confirms_binding(req));
                // The binding confirmed: the path's (a factor's verify, a Vonage check name
                // what they confirm), or the account's.
                let bound = account_tag(binding_name.unwrap_or_default());
                decision.binding_confirm = (binding && numbers.is_empty()).then_some(bound);
                decision.account = account.map(str::to_owned);
                // A sign-up's code, or a sign-in's SMS code, origin accepts proves the account
                // reads its number: its password sign-ins are then spared the number's count.
                decision.proof = if binding {
                    self.plan_proof(bound, true)
                } else if self.counts_sign_ins() && route.answers_sign_in_code(req) {
                    account.and_then(|name| self.plan_proof(account_tag(name), false))
                } else {
                    None
                };
            }
            _ => {}
        }
        if let Some(reads) = self.edge_reads.get(route_index) {
            decision.edge_inputs = reads.judge(req, fingerprints.ja3.is_some(), fingerprints.ja4.is_some());
        }
        // Shared by every check about a number, so planning copies no strings.
        let e164s: Vec<Arc<str>> = numbers.iter().map(|n| Arc::from(n.e164())).collect();
        let mut findings = Vec::new();
        let mut checks = Vec::with_capacity(self.rules.len() * numbers.len().max(1));
        let mut solver_checks = Vec::new();
        // Worked out at the first `client` rule, shared by the others.
        let mut client_facts: Option<rules::ClientFacts> = None;
        // A call that binds a number and sends nothing (a Supabase phone factor's enrolment) is
        // judged by what the number is, never counted: the sends its binding names are.
        let sends_nothing = route.preset.map_or(BindsWithoutSending::No, |p| p.binds_without_sending(req));
        for (index, rule) in self.rules.iter().enumerate() {
            let skipped = match sends_nothing {
                BindsWithoutSending::No => false,
                BindsWithoutSending::JudgedByNumber => rule.kind.is_stateful(),
                BindsWithoutSending::Unjudged => true,
            };
            if !rule.routes.contains(&route_index) || skipped {
                continue;
            }
            let enforced = !self.shadow && !rule.shadow && rule.action != RuleAction::Log;
            let reason = |code: ReasonCode, number: Option<&PhoneNumber>, detail: Option<String>| Reason {
                rule: Some(rule.id.clone()),
                code,
                action: Action::from(rule.action),
                enforced: enforced && code != ReasonCode::CountryMonitored,
                retry_after_ms: None,
                number: number.map(|n| n.e164().to_owned()),
                detail,
                spared: false,
            };
            match &rule.kind {
                RuleKind::Fingerprint { kind, deny, missing } => match fingerprints.get(*kind) {
                    None if *missing => {
                        decision.reasons.push(reason(ReasonCode::FingerprintMissing, None, None))
                    }
                    Some(fp) if deny.contains(fp) => decision.reasons.push(reason(
                        ReasonCode::FingerprintDenied,
                        None,
                        Some(fp.to_owned()),
                    )),
                    _ => {}
                },
                RuleKind::Client { missing_headers, user_agents, claims } => {
                    let facts = client_facts.get_or_insert_with(|| rules::ClientFacts::of(req.headers));
                    // A rule for what claims a browser leaves other clients (apps, scripts) unjudged.
                    if claims.is_some_and(|claim| !facts.claims(claim)) {
                        continue;
                    }
                    for name in missing_headers {
                        if rules::lacks_header(req.headers, name) {
                            decision.reasons.push(reason(
                                ReasonCode::ClientHeaderMissing,
                                None,
                                Some(name.clone()),
                            ));
                        }
                    }
                    if !user_agents.is_empty() {
                        for class in facts.classes() {
                            if user_agents.contains(class) {
                                decision.reasons.push(reason(
                                    ReasonCode::ClientUserAgent,
                                    None,
                                    Some(class.as_str().to_owned()),
                                ));
                            }
                        }
                    }
                }
                RuleKind::ClientCountry { header, missing, tor, tor_header, proven_pairs } => {
                    // The client's code, and whether it is Tor's `T1` (no region, so it differs
                    // from every number's; never a proven pair: anyone can come through Tor).
                    let client = match rules::client_country(req.headers, header, tor_header.as_deref()) {
                        rules::ClientCountry::Known(client) => Some((client, false)),
                        rules::ClientCountry::Tor if *tor == TorClients::Mismatch => Some(("T1", true)),
                        rules::ClientCountry::Tor | rules::ClientCountry::Unknown => {
                            if *missing {
                                decision.reasons.push(reason(ReasonCode::ClientCountryMissing, None, None));
                            }
                            None
                        }
                    };
                    let Some((client, through_tor)) = client else { continue };
                    for (i, number) in numbers.iter().enumerate() {
                        let region = number.region().map(|r| r.as_str());
                        if !rules::client_country_differs(client, region) {
                            continue;
                        }
                        if let (Some(_), RouteKind::Send, Some(e164), false) =
                            (proven_pairs, route.kind, e164s.get(i), through_tor)
                        {
                            plan_pair_checks(index, &rule.id, client, number, e164, &mut checks);
                        }
                        let detail = format!(
                            "client {}{}, number {}",
                            client.to_ascii_uppercase(),
                            if through_tor { " (Tor)" } else { "" },
                            region.unwrap_or("none")
                        );
                        decision.reasons.push(reason(
                            ReasonCode::ClientCountryMismatch,
                            Some(number),
                            Some(detail),
                        ));
                    }
                }
                RuleKind::BotScore(bot_score) => {
                    if let Some((code, detail)) = bot_score.judge(&req.edge) {
                        decision.reasons.push(reason(code, None, detail));
                    }
                }
                RuleKind::Captcha => decision.reasons.push(reason(ReasonCode::CaptchaRequired, None, None)),
                RuleKind::NumberIntel(_) => self.plan_intel_reads(index, &numbers, &e164s, &mut checks),
                RuleKind::Conversion(p) if p.scope == ConversionScope::CaptchaSolver => {
                    solver::plan_conversion(index, &rule.id, &numbers, &e164s, &mut solver_checks)
                }
                // A key naming what the request lacks (a number, an account): nothing to count.
                RuleKind::RateLimit { key, .. }
                    if counts_nothing(key, !numbers.is_empty(), account.is_some()) => {}
                RuleKind::RateLimit { key, .. } if key.contains(&KeyPart::CaptchaSolver) => {
                    let key_for = |number: Option<&PhoneNumber>, cuts: &mut Vec<usize>| {
                        rate_key(&rule.id, key, route, req, number, account, &fingerprints, cuts)
                    };
                    let per_number = key.iter().any(KeyPart::is_per_number);
                    solver::plan_rate(index, &numbers, &e164s, per_number, key_for, &mut solver_checks)
                }
                // Read before this step ([`BoundNumber`]), recorded with the bindings.
                RuleKind::BoundNumber { .. } => {}
                RuleKind::BoundSignIns(_) => {
                    let safelisted = |n: &PhoneNumber| self.safelist.longest_match(n.digits()).is_some();
                    if let Some((number, record)) = sign_in_number.as_ref().filter(|(n, _)| !safelisted(n)) {
                        let (peek, charge) = self.plan_sign_in(index, number, *record);
                        checks.extend(peek);
                        decision.bindings.extend(charge);
                    }
                }
                kind if kind.is_stateful() => {
                    if let RuleKind::Conversion(ConversionParams {
                        scope: ConversionScope::ClientIp { v4, v6 },
                        ..
                    }) = kind
                    {
                        decision.client_address = req.client_ip.map(|ip| client_address(ip, *v4, *v6));
                    }
                    let facts =
                        KeyFacts { numbers: &numbers, e164s: &e164s, account, fingerprints: &fingerprints };
                    self.plan_checks(index, rule, route, req, &facts, &mut checks)
                }
                kind => {
                    for number in &numbers {
                        findings.clear();
                        check_number(kind, number, &mut findings);
                        for finding in &findings {
                            let (code, detail) = describe(*finding, number);
                            decision.reasons.push(reason(code, Some(number), detail));
                        }
                    }
                }
            }
        }
        // A finding of a rule that spares trusted numbers is settled only once the reputation
        // check has answered: until then it cannot cut the counter checks short.
        let trust_checked = checks.iter().any(|c| c.op == CounterOp::TrustSend);
        // Likewise a mismatch in a pair that may be proven.
        let pair_checked = |r: &Reason| {
            checks.iter().any(|c| c.op == CounterOp::PairSend && c.number.as_deref() == r.number.as_deref())
                && self.spares_proven_pairs(r)
        };
        let settled =
            |r: &&Reason| r.enforced && !(trust_checked && self.spares_trusted(r)) && !pair_checked(r);
        let blocked = decision.reasons.iter().filter(settled).any(|r| r.action == Action::Block);
        let challenge_without_token =
            token.is_none() && decision.reasons.iter().filter(settled).any(|r| r.action == Action::Challenge);
        if blocked || challenge_without_token {
            // Nothing will be sent: no counter needs even a look.
            checks.clear();
        }
        if token.is_none() {
            // No token, no solver: such a limit has nothing to count.
            solver_checks.clear();
        }
        decision.solver_checks = solver_checks;
        let remote_ip = token.as_ref().and(req.client_ip).map(|ip| ip.to_canonical().to_string());
        Prepared { decision, checks, token, remote_ip, reads_bound: false, answered_earlier }
    }

    fn finish(&self, mut decision: Decision) -> Prepared {
        if decision.route.as_ref().is_some_and(|r| r.kind == RouteKind::Confirm) {
            // Origin must see every confirm (see `prepare`).
            decision.reasons.iter_mut().filter(|r| r.rule.is_none()).for_each(|r| r.enforced = false);
        }
        decision.settle();
        final_decision(decision)
    }

    fn plan_checks(
        &self,
        index: usize,
        rule: &Rule,
        route: &crate::routes::Route,
        req: &Request<'_>,
        facts: &KeyFacts<'_>,
        checks: &mut Vec<CounterCheck>,
    ) {
        let Ok(rule_index) = u16::try_from(index) else { return };
        let KeyFacts { numbers, e164s, account, fingerprints } = *facts;
        // One check per number, even where numbers share a key (a prefix, a country, the
        // client): a limit counts SMS, so five numbers of one range in one request count five
        // times. The same number twice is one SMS.
        let mut push = |key: String, op: CounterOp, number: Option<usize>| {
            let number = number.and_then(|i| e164s.get(i)).cloned();
            if !checks
                .iter()
                .any(|c| c.rule == rule_index && c.key == key && c.op == op && c.number == number)
            {
                checks.push(CounterCheck::new(rule_index, key, op, number));
            }
        };
        match &rule.kind {
            RuleKind::RateLimit { key, .. } => {
                let per_number = key.iter().any(KeyPart::is_per_number);
                let mut cuts = Vec::new();
                if numbers.is_empty() {
                    let k = rate_key(&rule.id, key, route, req, None, account, fingerprints, &mut cuts);
                    push(k, CounterOp::Rate, None);
                }
                for (i, number) in numbers.iter().enumerate() {
                    let n = per_number.then_some(number);
                    let k = rate_key(&rule.id, key, route, req, n, account, fingerprints, &mut cuts);
                    push(k, CounterOp::Rate, Some(i));
                }
            }
            RuleKind::Backoff(_) => {
                for (i, number) in numbers.iter().enumerate() {
                    push(counter_key("bo:", &rule.id, number.digits()), CounterOp::Backoff, Some(i));
                }
            }
            RuleKind::Adjacent(params) => {
                for (i, number) in numbers.iter().enumerate() {
                    if let Some((block, suffix)) = params.split(number.digits()) {
                        push(counter_key("adj:", &rule.id, block), CounterOp::Adjacent { suffix }, Some(i));
                    }
                }
            }
            RuleKind::Surge(params) => {
                for (i, number) in numbers.iter().enumerate() {
                    let scope = number_scope_key(params.scope, number);
                    push(counter_key("sg:", &rule.id, &scope), CounterOp::SurgeSend, Some(i));
                }
            }
            RuleKind::Reputation(_) => {
                for (i, number) in numbers.iter().enumerate() {
                    push(counter_key("tr:", &rule.id, number.digits()), CounterOp::TrustSend, Some(i));
                }
            }
            RuleKind::Conversion(ConversionParams {
                scope: ConversionScope::ClientIp { v4, v6 }, ..
            }) => {
                // Counted per address, recorded per number: a confirmation of the number credits
                // the address its send came from, as a solving device is credited.
                let Some(sender) = req.client_ip.map(|ip| client_tag(ip, *v4, *v6)) else { return };
                let scope = solver_scope(sender);
                for (i, number) in numbers.iter().enumerate() {
                    push(counter_key("cv:", &rule.id, &scope), CounterOp::ConversionSend, Some(i));
                    push(
                        counter_key("cvd:", &rule.id, number.digits()),
                        CounterOp::ConversionSolvedNumber { solver: sender },
                        Some(i),
                    );
                }
            }
            RuleKind::Conversion(params) => {
                for (i, number) in numbers.iter().enumerate() {
                    let scope = number_scope_key(params.scope, number);
                    push(counter_key("cv:", &rule.id, &scope), CounterOp::ConversionSend, Some(i));
                    push(
                        counter_key("cvn:", &rule.id, number.digits()),
                        CounterOp::ConversionSentNumber,
                        Some(i),
                    );
                }
            }
            _ => {}
        }
    }
}

/// The checks of a mismatched send in a rule with `proven_pairs`: the send counted against its
/// pair (which answers whether the pair is proven), and the pair recorded for the number, so a
/// confirmation of it credits that pair. A number no single region claims has no pair.
fn plan_pair_checks(
    rule_index: usize,
    rule_id: &str,
    client: &str,
    number: &PhoneNumber,
    e164: &Arc<str>,
    checks: &mut Vec<CounterCheck>,
) {
    let Ok(rule) = u16::try_from(rule_index) else { return };
    let Some(tag) = number.region().and_then(|region| pair_tag(client, region.as_str())) else { return };
    let Some(pair) = pair_text(tag) else { return };
    let number_key = Some(e164.clone());
    for (key, op) in [
        (counter_key("cp:", rule_id, &pair), CounterOp::PairSend),
        (counter_key("cpn:", rule_id, number.digits()), CounterOp::ConversionSolvedNumber { solver: tag }),
    ] {
        // One send per number, even two of one pair in one request: a pair counts SMS.
        if !checks.iter().any(|c| c.rule == rule && c.key == key && c.op == op && c.number == number_key) {
            checks.push(CounterCheck::new(rule, key, op, number_key.clone()));
        }
    }
}

fn final_decision(decision: Decision) -> Prepared {
    Prepared {
        decision,
        checks: Vec::new(),
        token: None,
        remote_ip: None,
        reads_bound: false,
        answered_earlier: false,
    }
}

fn has_enforced_block(decision: &Decision) -> bool {
    decision.reasons.iter().any(|r| r.enforced && r.action == Action::Block)
}

fn describe(finding: NumberFinding, number: &PhoneNumber) -> (ReasonCode, Option<String>) {
    let region = number.region().map(|r| r.as_str()).unwrap_or("unknown");
    match finding {
        NumberFinding::CountryNotAllowed => (ReasonCode::CountryNotAllowed, Some(format!("region {region}"))),
        NumberFinding::CountryDenied => (ReasonCode::CountryDenied, Some(format!("region {region}"))),
        NumberFinding::CountryMonitored => (ReasonCode::CountryMonitored, Some(format!("region {region}"))),
        NumberFinding::NumberTypeNotAllowed => {
            (ReasonCode::NumberTypeNotAllowed, Some(number.number_type().as_str().to_owned()))
        }
        NumberFinding::NumberTypeDenied => {
            (ReasonCode::NumberTypeDenied, Some(number.number_type().as_str().to_owned()))
        }
        NumberFinding::PatternNotAllowed => (ReasonCode::PatternNotAllowed, None),
        NumberFinding::PatternDenied => (ReasonCode::PatternDenied, None),
        NumberFinding::PrefixBlocked => (ReasonCode::PrefixBlocked, None),
    }
}

/// What a request's counter keys are made of, shared by every rule's planning.
#[derive(Clone, Copy)]
struct KeyFacts<'a> {
    numbers: &'a [PhoneNumber],
    e164s: &'a [Arc<str>],
    account: Option<&'a str>,
    fingerprints: &'a Fingerprints,
}
