//! Rules checked and compiled: each rule's routes, its one kind and that kind's parameters.

use std::num::NonZeroU32;
use std::sync::Arc;

use crate::extract::is_header_name_byte;
use crate::limit::{
    AdjacentParams, BackoffParams, ConversionBaseline, ConversionParams, ConversionScope, GcraParams,
    ProvenPairsParams, ReputationParams, SurgeParams, TrustedSends, MAX_HORIZON_SECONDS,
};
use crate::rules::{
    parse_prefix, CountrySet, KeyPart, NumberPattern, PrefixSet, Rule, RuleKind, SignInParams, TypeSet,
};
use crate::rules::{BotScoreRule, BOT_SCORE_BELOW_RANGE};

use super::checks::check_solver_rule;
use super::{
    check_id, ClientNetDoc, ConfigErrors, ConversionScopeDoc, KeyPartDoc, PolicyDoc, RuleAction, RuleDoc,
    MAX_RISK_WEIGHT, MAX_SUFFIX_DIGITS,
};

fn non_zero(value: u32, at: &str, errs: &mut ConfigErrors) -> Option<NonZeroU32> {
    let nz = NonZeroU32::new(value);
    if nz.is_none() {
        errs.push(at, "must be at least 1");
    }
    nz
}

/// A rolling baseline's span (`at` is the object holding both fields).
fn check_history(history_windows: u32, min_history_windows: u32, at: &str, errs: &mut ConfigErrors) {
    if !(1..=1000).contains(&history_windows) {
        errs.push(format!("{at}.history_windows"), "must be between 1 and 1000");
    }
    if min_history_windows > history_windows {
        errs.push(format!("{at}.min_history_windows"), "must be at most history_windows");
    }
}

/// `block_after_windows` turns a rule's challenge into a block: at least 1, on a challenge rule.
fn check_block_after_windows(value: Option<u32>, action: RuleAction, at: &str, errs: &mut ConfigErrors) {
    if value == Some(0) {
        errs.push(format!("{at}.block_after_windows"), "must be at least 1, or absent");
    }
    if value.is_some() && action != RuleAction::Challenge {
        errs.push(
            format!("{at}.block_after_windows"),
            "escalating to a block only makes sense for a rule whose action is challenge",
        );
    }
}

fn seconds_to_ms(seconds: u32) -> u64 {
    u64::from(seconds) * 1000
}

pub(super) fn compile_rule(
    doc: &RuleDoc,
    at: &str,
    route_ids: &[&str],
    send_routes: &[usize],
    policy: &PolicyDoc,
    provider: Option<&crate::intel::NumberIntel>,
    errs: &mut ConfigErrors,
) -> Option<Rule> {
    check_id(&doc.id, &format!("{at}.id"), errs);
    let mut routes = Vec::new();
    for (j, id) in doc.routes.iter().enumerate() {
        match route_ids.iter().position(|r| r == id) {
            Some(index) if send_routes.contains(&index) || doc.rate_limit.is_some() => routes.push(index),
            Some(_) => errs.push(
                format!("{at}.routes[{j}]"),
                format!(
                    "route {id:?} is a confirm route; only rate_limit rules apply to confirm routes \
                     (origin must see every confirm)"
                ),
            ),
            None => errs.push(format!("{at}.routes[{j}]"), format!("no route has id {id:?}")),
        }
    }
    if doc.routes.is_empty() {
        routes = send_routes.to_vec();
    }
    let kinds = [
        doc.country.is_some(),
        doc.number_type.is_some(),
        doc.pattern.is_some(),
        doc.prefix.is_some(),
        doc.fingerprint.is_some(),
        doc.client.is_some(),
        doc.client_country.is_some(),
        doc.bot_score.is_some(),
        doc.captcha.is_some(),
        doc.rate_limit.is_some(),
        doc.backoff.is_some(),
        doc.adjacent.is_some(),
        doc.conversion.is_some(),
        doc.reputation.is_some(),
        doc.surge.is_some(),
        doc.number_intel.is_some(),
        doc.bound_number.is_some(),
        doc.bound_sign_ins.is_some(),
    ];
    let count = kinds.iter().filter(|k| **k).count();
    if count != 1 {
        errs.push(
            at,
            format!(
                "a rule needs exactly one of country, number_type, pattern, prefix, fingerprint, \
                 client, client_country, bot_score, captcha, rate_limit, backoff, adjacent, conversion, \
                 reputation, surge, number_intel, bound_number, bound_sign_ins (found {count})"
            ),
        );
        return None;
    }
    let mut kind = match &doc.number_intel {
        Some(intel) => RuleKind::NumberIntel(crate::intel::IntelRule::compile(intel, at, provider, errs)),
        None => compile_kind(doc, at, errs)?,
    };
    // Judging solved sends matters only where a refusal may turn into a block (a challenge-only
    // rule would just lengthen a challenge solvers pass anyway), and only where the challenge is
    // enforced: a shadowed one stops nobody, so what passes it says nothing of who would solve it.
    if let RuleKind::Conversion(p) = &mut kind {
        p.judge_solved = doc.action == RuleAction::Challenge
            && p.block_after_windows.is_some()
            && !(doc.shadow || policy.shadow);
    }
    if doc.action == RuleAction::Challenge && policy.captcha.is_none() {
        errs.push(
            format!("{at}.action"),
            "action challenge needs a top-level \"captcha\" section to verify tokens",
        );
    }
    if matches!(kind, RuleKind::Captcha) && doc.action != RuleAction::Challenge {
        errs.push(format!("{at}.action"), "a captcha rule's action must be challenge");
    }
    let solver_at = match &kind {
        RuleKind::RateLimit { key, .. } if key.contains(&KeyPart::CaptchaSolver) => Some("rate_limit.key"),
        RuleKind::Conversion(p) if p.scope == ConversionScope::CaptchaSolver => Some("conversion.scope"),
        _ => None,
    };
    if let Some(part) = solver_at {
        check_solver_rule(doc, at, part, policy, errs);
    }
    // A number scope with the option is refused in `compile_kind` already.
    let counts_refusals_at = match &kind {
        RuleKind::Adjacent(p) if p.count_intel_refusals => Some("adjacent"),
        RuleKind::Conversion(p) if p.count_intel_refusals && p.scope.is_sender() => Some("conversion"),
        _ => None,
    };
    if let (Some(kind), None) = (counts_refusals_at, &policy.number_intel) {
        errs.push(
            format!("{at}.{kind}.count_intel_refusals"),
            "seeing the sends number intelligence refuses needs a top-level \"number_intel\" section",
        );
    }
    if doc.action == RuleAction::Challenge {
        for &r in &routes {
            let has_token = policy
                .routes
                .get(r)
                .is_some_and(|route| route.extract.token.is_some() || route.extract.preset.is_some());
            if !has_token {
                let id = route_ids.get(r).copied().unwrap_or("?");
                errs.push(
                    format!("{at}.action"),
                    format!(
                        "route {id:?} has no extract.token source, so a challenge could never be answered"
                    ),
                );
            }
        }
    }
    if let RuleKind::RateLimit { key, .. } = &kind {
        if let Some(j) = key.iter().position(|part| *part == KeyPart::Account) {
            let reads_account =
                |r: &usize| policy.routes.get(*r).is_some_and(|route| route.extract.reads_account());
            if !routes.iter().any(reads_account) {
                errs.push(
                    format!("{at}.rate_limit.key[{j}]"),
                    "none of the rule's routes reads an account (extract.account_json_paths or \
                     plus_only, or the cognito, firebase, twilio_verify, supabase, auth0, vonage_verify or clerk \
                     preset), so the rule would count nothing",
                );
            }
        }
    }
    if doc.action == RuleAction::Throttle && !kind.is_stateful() && !matches!(kind, RuleKind::BoundSignIns(_))
    {
        errs.push(
            format!("{at}.action"),
            "throttle needs a rule with a time component (rate_limit, backoff, adjacent, conversion); use block",
        );
    }
    if matches!(kind, RuleKind::BoundNumber { .. }) {
        if doc.action != RuleAction::Log {
            errs.push(
                format!("{at}.action"),
                "a bound_number rule only tells which number an account's sends go to: action must be log",
            );
        }
        let binds = |r: &usize| {
            policy
                .routes
                .get(*r)
                .and_then(|route| route.extract.preset)
                .is_some_and(|p| p.sends_by_bound_account())
        };
        if !routes.iter().any(binds) {
            errs.push(
                format!("{at}.routes"),
                "none of the rule's routes binds an account to a number (the cognito preset's \
                 SignUp does, as do the supabase, vonage_verify and clerk presets), so no send would be \
                 judged by its account's number",
            );
        }
    }
    if matches!(kind, RuleKind::BoundSignIns(_)) {
        let signs_in = |r: &usize| {
            policy
                .routes
                .get(*r)
                .and_then(|route| route.extract.preset)
                .is_some_and(|p| !p.password_sign_ins().is_empty())
        };
        if !routes.iter().any(signs_in) {
            errs.push(
                format!("{at}.routes"),
                "none of the rule's routes signs in by password (the cognito preset's InitiateAuth \
                 does), so no sign-in would be counted",
            );
        }
    }
    if matches!(kind, RuleKind::Reputation(_)) {
        if doc.action != RuleAction::Log {
            errs.push(
                format!("{at}.action"),
                "a reputation rule only reports which numbers are trusted: action must be log",
            );
        }
        if doc.skip_trusted {
            errs.push(format!("{at}.skip_trusted"), "a reputation rule cannot skip the numbers it trusts");
        }
    }
    Some(Rule {
        id: Arc::from(doc.id.as_str()),
        action: doc.action,
        shadow: doc.shadow,
        skip_trusted: doc.skip_trusted,
        risk: doc.risk.min(MAX_RISK_WEIGHT),
        routes,
        kind,
    })
}

fn compile_kind(doc: &RuleDoc, at: &str, errs: &mut ConfigErrors) -> Option<RuleKind> {
    if let Some(c) = &doc.country {
        let mut sets = [CountrySet::default(), CountrySet::default(), CountrySet::default()];
        for (set, (name, entries)) in
            sets.iter_mut().zip([("allow", &c.allow), ("deny", &c.deny), ("monitor", &c.monitor)])
        {
            for (j, entry) in entries.iter().enumerate() {
                if let Err(message) = set.add(entry) {
                    errs.push(format!("{at}.country.{name}[{j}]"), message);
                }
            }
        }
        if c.allow.is_empty() && c.deny.is_empty() && c.monitor.is_empty() {
            errs.push(format!("{at}.country"), "list at least one country in allow, deny or monitor");
        }
        let [allow, deny, monitor] = sets;
        return Some(RuleKind::Country { allow, deny, monitor });
    }
    if let Some(t) = &doc.number_type {
        let (mut allow, mut deny) = (TypeSet::default(), TypeSet::default());
        t.allow.iter().for_each(|x| allow.insert(*x));
        t.deny.iter().for_each(|x| deny.insert(*x));
        if allow.is_empty() && deny.is_empty() {
            errs.push(format!("{at}.number_type"), "list at least one type in allow or deny");
        }
        return Some(RuleKind::NumberType { allow, deny });
    }
    if let Some(p) = &doc.pattern {
        let mut compile = |name: &str, list: &[String]| {
            list.iter()
                .enumerate()
                .filter_map(|(j, src)| match NumberPattern::new(src) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        errs.push(
                            format!("{at}.pattern.{name}[{j}]"),
                            format!("invalid regular expression: {e}"),
                        );
                        None
                    }
                })
                .collect::<Vec<_>>()
        };
        let allow = compile("allow", &p.allow);
        let deny = compile("deny", &p.deny);
        if p.allow.is_empty() && p.deny.is_empty() {
            errs.push(format!("{at}.pattern"), "list at least one pattern in allow or deny");
        }
        return Some(RuleKind::Pattern { allow, deny });
    }
    if let Some(p) = &doc.prefix {
        let mut set = PrefixSet::default();
        for (j, entry) in p.prefixes.iter().enumerate() {
            match parse_prefix(entry) {
                Ok(digits) => {
                    set.insert(digits);
                }
                Err(message) => errs.push(format!("{at}.prefix.prefixes[{j}]"), message),
            }
        }
        if p.prefixes.is_empty() {
            errs.push(format!("{at}.prefix.prefixes"), "list at least one prefix");
        }
        return Some(RuleKind::Prefix(set));
    }
    if let Some(f) = &doc.fingerprint {
        if f.deny.is_empty() && !f.missing {
            errs.push(format!("{at}.fingerprint"), "list fingerprints in deny, or set missing to true");
        }
        let deny = f.deny.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        return Some(RuleKind::Fingerprint { kind: f.kind, deny, missing: f.missing });
    }
    if let Some(c) = &doc.client {
        let mut missing_headers = Vec::with_capacity(c.missing_headers.len());
        for (j, name) in c.missing_headers.iter().enumerate() {
            let lowered = name.trim().to_ascii_lowercase();
            if lowered.is_empty() || !lowered.bytes().all(is_header_name_byte) {
                errs.push(format!("{at}.client.missing_headers[{j}]"), "must be an HTTP header name");
            }
            missing_headers.push(lowered);
        }
        if c.claims.is_some() {
            // A browser's user agent is in none of the classes, so listing one would never fire.
            if !c.user_agents.is_empty() {
                errs.push(
                    format!("{at}.client.user_agents"),
                    "must be empty with claims: a browser is in none of these classes",
                );
            }
            if c.missing_headers.is_empty() {
                errs.push(
                    format!("{at}.client.missing_headers"),
                    "list the headers the claimed browser always sends, with claims",
                );
            }
        } else if c.missing_headers.is_empty() && c.user_agents.is_empty() {
            errs.push(format!("{at}.client"), "list headers in missing_headers or classes in user_agents");
        }
        return Some(RuleKind::Client {
            missing_headers,
            user_agents: c.user_agents.clone(),
            claims: c.claims,
        });
    }
    if let Some(c) = &doc.client_country {
        let header = c.header.trim().to_ascii_lowercase();
        if header.is_empty() || !header.bytes().all(is_header_name_byte) {
            errs.push(format!("{at}.client_country.header"), "must be an HTTP header name");
        }
        let tor_header = c.tor_header.as_ref().map(|name| {
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() || !name.bytes().all(is_header_name_byte) {
                errs.push(format!("{at}.client_country.tor_header"), "must be an HTTP header name");
            } else if name == header {
                errs.push(
                    format!("{at}.client_country.tor_header"),
                    "must differ from header: it marks Tor clients with `true`, not a country",
                );
            }
            name
        });
        let proven_pairs = c.proven_pairs.as_ref().map(|p| {
            let at = format!("{at}.client_country.proven_pairs");
            non_zero(p.min_confirms, &format!("{at}.min_confirms"), errs);
            if !(p.min_ratio > 0.0 && p.min_ratio <= 1.0) {
                errs.push(format!("{at}.min_ratio"), "must be greater than 0 and at most 1");
            }
            non_zero(p.window_seconds, &format!("{at}.window_seconds"), errs);
            if p.min_trusted_confirms > p.min_confirms {
                errs.push(
                    format!("{at}.min_trusted_confirms"),
                    "must be at most min_confirms (they are among them)",
                );
            }
            if p.min_trust_age_seconds > 0 && p.min_trusted_confirms == 0 {
                errs.push(
                    format!("{at}.min_trust_age_seconds"),
                    "counts only with min_trusted_confirms (the confirmations it ages)",
                );
            }
            if p.min_trust_age_seconds > MAX_TRUST_SECONDS {
                errs.push(format!("{at}.min_trust_age_seconds"), "must be at most a year");
            }
            ProvenPairsParams {
                min_confirms: p.min_confirms,
                min_ratio: p.min_ratio,
                window_ms: seconds_to_ms(p.window_seconds),
                min_trusted_confirms: p.min_trusted_confirms,
                min_trust_age_ms: seconds_to_ms(p.min_trust_age_seconds),
            }
        });
        return Some(RuleKind::ClientCountry {
            header,
            missing: c.missing,
            tor: c.tor,
            tor_header,
            proven_pairs,
        });
    }
    if let Some(b) = &doc.bot_score {
        if !BOT_SCORE_BELOW_RANGE.contains(&b.below) {
            errs.push(format!("{at}.bot_score.below"), "must be between 2 and 99 (scores run from 1 to 99)");
        }
        let rule = BotScoreRule { below: b.below, missing: b.missing, verified_bots: b.verified_bots };
        return Some(RuleKind::BotScore(rule));
    }
    if doc.captcha.is_some() {
        return Some(RuleKind::Captcha);
    }
    if let Some(r) = &doc.rate_limit {
        let at = format!("{at}.rate_limit");
        if r.key.is_empty() {
            errs.push(format!("{at}.key"), "list at least one key part, e.g. [\"client_ip\"]");
        }
        let mut key = Vec::with_capacity(r.key.len());
        for (j, part) in r.key.iter().enumerate() {
            key.push(match part {
                KeyPartDoc::ClientIp => KeyPart::ClientIp { v4: 32, v6: 64 },
                KeyPartDoc::ClientNet(net) => {
                    let (v4, v6) = client_net_bits(net, &format!("{at}.key[{j}]"), errs);
                    KeyPart::ClientIp { v4, v6 }
                }
                KeyPartDoc::Number => KeyPart::Number,
                KeyPartDoc::Prefix(n) => {
                    if !(1..=15).contains(n) {
                        errs.push(format!("{at}.key[{j}].prefix"), "must keep 1 to 15 digits");
                    }
                    KeyPart::Prefix(usize::from(*n))
                }
                KeyPartDoc::Country => KeyPart::Country,
                KeyPartDoc::CallingCode => KeyPart::CallingCode,
                KeyPartDoc::Route => KeyPart::Route,
                KeyPartDoc::Header(name) => {
                    if name.is_empty() {
                        errs.push(format!("{at}.key[{j}].header"), "header name is empty");
                    }
                    KeyPart::Header(name.to_ascii_lowercase())
                }
                KeyPartDoc::Fingerprint(kind) => KeyPart::Fingerprint(*kind),
                KeyPartDoc::CaptchaSolver => KeyPart::CaptchaSolver,
                KeyPartDoc::Account => KeyPart::Account,
            });
        }
        let rate = non_zero(r.rate, &format!("{at}.rate"), errs);
        let period = non_zero(r.per_seconds, &format!("{at}.per_seconds"), errs);
        let burst = non_zero(r.burst, &format!("{at}.burst"), errs);
        let (rate, period, burst) = (rate?, period?, burst?);
        if GcraParams::horizon_seconds(rate, period, burst) > MAX_HORIZON_SECONDS {
            errs.push(
                format!("{at}.per_seconds"),
                format!(
                    "per_seconds * burst / rate must be at most {MAX_HORIZON_SECONDS} (ten years); \
                     a longer limit cannot be represented"
                ),
            );
        }
        let params = GcraParams::new(rate, period, burst);
        return Some(RuleKind::RateLimit { key, params });
    }
    if let Some(b) = &doc.backoff {
        let at = format!("{at}.backoff");
        non_zero(b.base_seconds, &format!("{at}.base_seconds"), errs);
        non_zero(b.factor, &format!("{at}.factor"), errs);
        if b.max_seconds < b.base_seconds {
            errs.push(format!("{at}.max_seconds"), "must be at least base_seconds");
        }
        if b.reset_after_seconds < b.base_seconds {
            errs.push(format!("{at}.reset_after_seconds"), "must be at least base_seconds");
        }
        return Some(RuleKind::Backoff(BackoffParams {
            base_ms: seconds_to_ms(b.base_seconds),
            factor: b.factor,
            max_ms: seconds_to_ms(b.max_seconds),
            reset_after_ms: seconds_to_ms(b.reset_after_seconds),
        }));
    }
    if let Some(a) = &doc.adjacent {
        let at = format!("{at}.adjacent");
        if !(1..=MAX_SUFFIX_DIGITS).contains(&a.suffix_digits) {
            errs.push(format!("{at}.suffix_digits"), format!("must be between 1 and {MAX_SUFFIX_DIGITS}"));
        }
        if a.max_distinct == 0
            || u64::from(a.max_distinct) >= 10u64.pow(u32::from(a.suffix_digits.min(MAX_SUFFIX_DIGITS)))
        {
            errs.push(
                format!("{at}.max_distinct"),
                "must be at least 1 and less than the numbers in one block",
            );
        }
        if a.max_distinct > 256 {
            errs.push(format!("{at}.max_distinct"), "must be at most 256 (state per block stays small)");
        }
        non_zero(a.window_seconds, &format!("{at}.window_seconds"), errs);
        non_zero(a.block_seconds, &format!("{at}.block_seconds"), errs);
        non_zero(a.escalation_factor, &format!("{at}.escalation_factor"), errs);
        if a.max_block_seconds < a.block_seconds {
            errs.push(format!("{at}.max_block_seconds"), "must be at least block_seconds");
        }
        return Some(RuleKind::Adjacent(AdjacentParams {
            suffix_digits: a.suffix_digits,
            max_distinct: a.max_distinct,
            window_ms: seconds_to_ms(a.window_seconds),
            block_ms: seconds_to_ms(a.block_seconds),
            escalation_factor: a.escalation_factor,
            max_block_ms: seconds_to_ms(a.max_block_seconds),
            count_intel_refusals: a.count_intel_refusals,
        }));
    }
    if let Some(c) = &doc.conversion {
        let at = format!("{at}.conversion");
        let scope = compile_scope(&c.scope, &at, errs);
        non_zero(c.min_sends, &format!("{at}.min_sends"), errs);
        if !(c.min_ratio > 0.0 && c.min_ratio <= 1.0) {
            errs.push(format!("{at}.min_ratio"), "must be greater than 0 and at most 1");
        }
        non_zero(c.window_seconds, &format!("{at}.window_seconds"), errs);
        non_zero(c.block_seconds, &format!("{at}.block_seconds"), errs);
        non_zero(c.escalation_factor, &format!("{at}.escalation_factor"), errs);
        let max_block_seconds = c.max_block_seconds.unwrap_or(c.block_seconds.max(86_400));
        if max_block_seconds < c.block_seconds {
            errs.push(format!("{at}.max_block_seconds"), "must be at least block_seconds");
        }
        let baseline = c.baseline.as_ref().map(|b| {
            let at = format!("{at}.baseline");
            if !(b.factor > 0.0 && b.factor <= 1.0) {
                errs.push(format!("{at}.factor"), "must be greater than 0 and at most 1");
            }
            check_history(b.history_windows, b.min_history_windows, &at, errs);
            if b.min_window_sends == Some(0) {
                errs.push(format!("{at}.min_window_sends"), "must be at least 1, or absent");
            }
            ConversionBaseline {
                factor: b.factor,
                history_windows: b.history_windows.clamp(1, 1000),
                min_history_windows: b.min_history_windows,
                min_window_sends: b.min_window_sends.unwrap_or(c.min_sends).max(1),
            }
        });
        check_block_after_windows(c.block_after_windows, doc.action, &at, errs);
        if c.count_intel_refusals && !scope.is_sender() {
            // A number scope would let anyone's refused sends count against the real users in it.
            errs.push(
                format!("{at}.count_intel_refusals"),
                "only a \"captcha_solver\", \"client_ip\" or \"client_net\" scope counts refused sends: the scope is the sender's own",
            );
        }
        return Some(RuleKind::Conversion(ConversionParams {
            scope,
            min_sends: c.min_sends,
            min_ratio: c.min_ratio,
            window_ms: seconds_to_ms(c.window_seconds),
            block_ms: seconds_to_ms(c.block_seconds),
            escalation_factor: c.escalation_factor.max(1),
            max_block_ms: seconds_to_ms(max_block_seconds),
            baseline,
            block_after_windows: c.block_after_windows,
            count_intel_refusals: c.count_intel_refusals,
            // Decided in `compile_rule`, which knows whether the rule is enforced.
            judge_solved: false,
        }));
    }
    if let Some(g) = &doc.surge {
        let at = format!("{at}.surge");
        let scope = compile_scope(&g.scope, &at, errs);
        if scope.is_sender() {
            errs.push(
                format!("{at}.scope"),
                "a surge is judged per number scope: use \"country\" or {\"prefix\": N}",
            );
        }
        non_zero(g.window_seconds, &format!("{at}.window_seconds"), errs);
        check_history(g.history_windows, g.min_history_windows, &at, errs);
        if !(g.factor > 1.0 && g.factor <= 1000.0) {
            errs.push(format!("{at}.factor"), "must be over 1 and at most 1000");
        }
        non_zero(g.floor, &format!("{at}.floor"), errs);
        check_block_after_windows(g.block_after_windows, doc.action, &at, errs);
        return Some(RuleKind::Surge(SurgeParams {
            scope,
            window_ms: seconds_to_ms(g.window_seconds),
            history_windows: g.history_windows.max(1),
            min_history_windows: g.min_history_windows,
            factor: g.factor,
            floor: g.floor,
            block_after_windows: g.block_after_windows,
        }));
    }
    if let Some(b) = &doc.bound_number {
        if !(3_600..=MAX_TRUST_SECONDS).contains(&b.keep_seconds) {
            errs.push(
                format!("{at}.bound_number.keep_seconds"),
                format!("must be between 3600 and {MAX_TRUST_SECONDS} (a year)"),
            );
        }
        return Some(RuleKind::BoundNumber { keep_ms: seconds_to_ms(b.keep_seconds) });
    }
    if let Some(b) = &doc.bound_sign_ins {
        if !(1..=1000).contains(&b.limit) {
            errs.push(format!("{at}.bound_sign_ins.limit"), "must be between 1 and 1000");
        }
        if !(60..=MAX_TRUST_SECONDS).contains(&b.per_seconds) {
            errs.push(
                format!("{at}.bound_sign_ins.per_seconds"),
                format!("must be between 60 and {MAX_TRUST_SECONDS} (a year)"),
            );
        }
        if !(3_600..=MAX_TRUST_SECONDS).contains(&b.keep_seconds) {
            errs.push(
                format!("{at}.bound_sign_ins.keep_seconds"),
                format!("must be between 3600 and {MAX_TRUST_SECONDS} (a year)"),
            );
        }
        let (limit, period) =
            (NonZeroU32::new(b.limit.clamp(1, 1000)), NonZeroU32::new(b.per_seconds.max(1)));
        let codes = GcraParams::new(limit?, period?, limit?);
        return Some(RuleKind::BoundSignIns(SignInParams { codes, keep_ms: seconds_to_ms(b.keep_seconds) }));
    }
    if let Some(r) = &doc.reputation {
        let at = format!("{at}.reputation");
        if !(60..=MAX_TRUST_SECONDS).contains(&r.trust_seconds) {
            errs.push(
                format!("{at}.trust_seconds"),
                format!("must be between 60 and {MAX_TRUST_SECONDS} (a year)"),
            );
        }
        if !(10..=86_400).contains(&r.confirm_within_seconds) {
            errs.push(format!("{at}.confirm_within_seconds"), "must be between 10 and 86400 (a day)");
        }
        let trusted_sends = r.trusted_sends.as_ref().map(|c| {
            if c.max == 0 {
                errs.push(
                    format!("{at}.trusted_sends.max"),
                    "must be 1 or more (leave trusted_sends out to trust every send)",
                );
            }
            if !(60..=604_800).contains(&c.window_seconds) {
                errs.push(
                    format!("{at}.trusted_sends.window_seconds"),
                    "must be between 60 and 604800 (a week)",
                );
            }
            TrustedSends { max: c.max, window_ms: seconds_to_ms(c.window_seconds) }
        });
        return Some(RuleKind::Reputation(ReputationParams {
            trust_ms: seconds_to_ms(r.trust_seconds),
            confirm_within_ms: seconds_to_ms(r.confirm_within_seconds),
            trusted_sends,
        }));
    }
    None
}

/// The prefix lengths of a `client_net` at `at`, each within its address family.
fn client_net_bits(net: &ClientNetDoc, at: &str, errs: &mut ConfigErrors) -> (u8, u8) {
    if !(1..=32).contains(&net.v4) {
        errs.push(format!("{at}.client_net.v4"), "must keep 1 to 32 bits");
    }
    if !(1..=128).contains(&net.v6) {
        errs.push(format!("{at}.client_net.v6"), "must keep 1 to 128 bits");
    }
    (net.v4.clamp(1, 32), net.v6.clamp(1, 128))
}

/// A counting scope: a country, or a prefix of 2 to 15 digits.
fn compile_scope(doc: &ConversionScopeDoc, at: &str, errs: &mut ConfigErrors) -> ConversionScope {
    match *doc {
        ConversionScopeDoc::Country => ConversionScope::Country,
        ConversionScopeDoc::Prefix(n) => {
            if !(2..=15).contains(&n) {
                errs.push(format!("{at}.scope.prefix"), "must keep 2 to 15 digits");
            }
            ConversionScope::Prefix(n)
        }
        ConversionScopeDoc::CaptchaSolver => ConversionScope::CaptchaSolver,
        ConversionScopeDoc::ClientIp => ConversionScope::ClientIp { v4: 32, v6: 64 },
        ConversionScopeDoc::ClientNet(net) => {
            let (v4, v6) = client_net_bits(&net, &format!("{at}.scope"), errs);
            ConversionScope::ClientIp { v4, v6 }
        }
    }
}

/// Longest trust a confirmation can earn.
const MAX_TRUST_SECONDS: u32 = 366 * 86_400;

#[cfg(test)]
mod tests {
    use crate::rules::RuleKind;
    use crate::Policy;

    /// A challenge keeps judging the sends that solve it only where a refusal may become a block.
    #[test]
    fn only_a_conversion_challenge_that_may_block_judges_solved_sends() {
        let judged = |text: &str, id: &str| {
            let policy = Policy::from_json(text).map_err(|e| e.to_string())?;
            match policy.rules.iter().find(|r| &*r.id == id).map(|r| &r.kind) {
                Some(RuleKind::Conversion(p)) => Ok(p.judge_solved),
                other => Err(format!("{id}: {other:?}")),
            }
        };
        let recommended = include_str!("../../../policies/recommended.json");
        let strict = include_str!("../../../policies/recommended-strict.json");
        // A challenge, blocking after two refused windows.
        assert_eq!(judged(recommended, "prefix-conversion"), Ok(true));
        // A challenge only.
        assert_eq!(judged(strict, "country-conversion"), Ok(false));
        // A block.
        assert_eq!(judged(recommended, "address-conversion"), Ok(false));
        // In shadow, the rule's or the whole policy's.
        let shadowed = recommended.replacen(
            "\"id\": \"prefix-conversion\",",
            "\"id\": \"prefix-conversion\", \"shadow\": true,",
            1,
        );
        assert_ne!(shadowed, recommended);
        assert_eq!(judged(&shadowed, "prefix-conversion"), Ok(false));
        let whole = recommended.replacen('{', "{\"shadow\": true, ", 1);
        assert_eq!(judged(&whole, "prefix-conversion"), Ok(false));
    }
}
