//! Document-wide checks: input bounds; what a challenge, risk, trust import or outcome rule needs elsewhere.

use super::{
    CaptchaVerify, ConfigErrors, InputsDoc, IntelOutcome, InvalidNumberOutcome, PathMatchDoc, PolicyDoc,
    RiskThresholds, RouteKind, RuleAction, RuleDoc, MAX_BODY_LIMIT, MAX_NUMBERS_LIMIT, MAX_RISK_WEIGHT,
};

/// `inputs.on_invalid_number: "challenge"` needs what a challenging rule needs: tokens to verify
/// and, on every send route, a place to read them from.
pub(super) fn check_invalid_number_challenge(doc: &PolicyDoc, errs: &mut ConfigErrors) {
    if doc.inputs.on_invalid_number != InvalidNumberOutcome::Challenge {
        return;
    }
    let at = "inputs.on_invalid_number";
    check_challenge_answerable(doc, at, errs);
}

/// A challenge something other than a rule asks for needs what a challenging rule needs: tokens
/// to verify and, on every send route, a place to read them from.
fn check_challenge_answerable(doc: &PolicyDoc, at: &str, errs: &mut ConfigErrors) {
    if doc.captcha.is_none() {
        errs.push(at, "challenge needs a top-level \"captcha\" section to verify tokens");
    }
    for route in doc.routes.iter().filter(|r| r.kind == RouteKind::Send) {
        if route.extract.token.is_none() && route.extract.preset.is_none() {
            errs.push(
                at,
                format!(
                    "route {:?} has no extract.token source, so a challenge could never be answered",
                    route.id
                ),
            );
        }
    }
}

pub(super) fn check_inputs(inputs: &InputsDoc, errs: &mut ConfigErrors) {
    if inputs.max_body_bytes == 0 || inputs.max_body_bytes > MAX_BODY_LIMIT {
        errs.push("inputs.max_body_bytes", format!("must be between 1 and {MAX_BODY_LIMIT}"));
    }
    if inputs.max_numbers == 0 || inputs.max_numbers > MAX_NUMBERS_LIMIT {
        errs.push("inputs.max_numbers", format!("must be between 1 and {MAX_NUMBERS_LIMIT}"));
    }
}

/// `number_intel.on_unavailable: "challenge"` needs what a challenging rule needs.
pub(super) fn check_intel_challenge(doc: &PolicyDoc, errs: &mut ConfigErrors) {
    if doc.number_intel.as_ref().is_none_or(|n| n.on_unavailable != IntelOutcome::Challenge) {
        return;
    }
    let at = "number_intel.on_unavailable";
    check_challenge_answerable(doc, at, errs);
}

/// Risk weights only where thresholds read them, thresholds only where some rule has weight,
/// a challenge only where a token can answer it: anything else would silently score nothing.
pub(super) fn check_risk(doc: &PolicyDoc, errs: &mut ConfigErrors) -> Option<RiskThresholds> {
    for (i, rule) in doc.rules.iter().enumerate() {
        if rule.risk > MAX_RISK_WEIGHT {
            errs.push(format!("rules[{i}].risk"), format!("must be between 0 and {MAX_RISK_WEIGHT}"));
        } else if rule.risk > 0 && doc.risk.is_none() {
            errs.push(
                format!("rules[{i}].risk"),
                "a risk weight needs a top-level \"risk\" section with challenge_at or block_at",
            );
        }
        if rule.risk > 0 && rule.reputation.is_some() {
            errs.push(format!("rules[{i}].risk"), "a reputation rule never fires, so it cannot add risk");
        }
        if rule.risk > 0 && rule.bound_number.is_some() {
            errs.push(format!("rules[{i}].risk"), "a bound_number rule never fires, so it cannot add risk");
        }
    }
    let risk = doc.risk.as_ref()?;
    let (challenge_at, block_at) = (risk.challenge_at, risk.block_at);
    if challenge_at.is_none() && block_at.is_none() {
        errs.push("risk", "set challenge_at, block_at or both");
    }
    for (name, value) in [("challenge_at", challenge_at), ("block_at", block_at)] {
        if value.is_some_and(|v| v == 0) {
            errs.push(format!("risk.{name}"), "must be at least 1 (0 would act on every request)");
        }
    }
    if let (Some(c), Some(b)) = (challenge_at, block_at) {
        if b <= c {
            errs.push("risk.block_at", "must be greater than challenge_at");
        }
    }
    if !doc.rules.iter().any(|r| r.risk > 0) {
        errs.push("risk", "no rule has a risk weight; give rules a \"risk\" to score with");
    }
    if challenge_at.is_some() {
        check_challenge_answerable(doc, "risk.challenge_at", errs);
    }
    Some(RiskThresholds { challenge_at, block_at })
}

/// The import path is answered by the guard before any route is matched: a route with the same
/// exact path would never see a request.
pub(super) fn check_import_path_is_not_a_route(doc: &PolicyDoc, errs: &mut ConfigErrors) {
    let Some(import) = &doc.trust_import else { return };
    for (i, route) in doc.routes.iter().enumerate() {
        let exact = route.matcher.as_ref().and_then(|m| m.path.as_ref());
        if matches!(exact, Some(PathMatchDoc::Exact(p)) if *p == import.path) {
            errs.push(
                format!("routes[{i}].match.path.exact"),
                "is trust_import.path: the guard answers that path itself, so this route would never match",
            );
        }
    }
}

/// At most one `bound_number` rule: two could bind one account to two numbers. It never fires,
/// so it skips nothing. At most one `bound_sign_ins` rule, for the same reason; trust is the
/// number's, shared with every account made for it, so it spares nothing.
pub(super) fn check_bound_number(doc: &PolicyDoc, errs: &mut ConfigErrors) {
    let sign_ins = doc.rules.iter().enumerate().filter(|(_, r)| r.bound_sign_ins.is_some());
    for (n, (i, rule)) in sign_ins.enumerate() {
        if n > 0 {
            errs.push(format!("rules[{i}].bound_sign_ins"), "a policy has at most one bound_sign_ins rule");
        }
        if rule.skip_trusted {
            errs.push(
                format!("rules[{i}].skip_trusted"),
                "a number's trust is shared by every account bound to it: a bound_sign_ins rule \
                 spares proven accounts instead",
            );
        }
    }
    let bound = doc.rules.iter().enumerate().filter(|(_, r)| r.bound_number.is_some());
    for (n, (i, rule)) in bound.enumerate() {
        if n > 0 {
            errs.push(format!("rules[{i}].bound_number"), "a policy has at most one bound_number rule");
        }
        if rule.skip_trusted {
            errs.push(
                format!("rules[{i}].skip_trusted"),
                "a bound_number rule never fires, so it has nothing to skip",
            );
        }
    }
}

/// At most one `reputation` rule (trust means one thing per policy), and `skip_trusted` and
/// `proven_pairs.min_trusted_confirms` only where one exists: without it no number is ever
/// trusted, and the flag would silently do nothing (or no pair would ever be proven).
pub(super) fn check_reputation(doc: &PolicyDoc, errs: &mut ConfigErrors) {
    let reputation: Vec<usize> =
        doc.rules.iter().enumerate().filter(|(_, r)| r.reputation.is_some()).map(|(i, _)| i).collect();
    for &i in reputation.iter().skip(1) {
        errs.push(format!("rules[{i}].reputation"), "a policy has at most one reputation rule");
    }
    if reputation.is_empty() {
        for (i, rule) in doc.rules.iter().enumerate() {
            if rule.skip_trusted {
                errs.push(
                    format!("rules[{i}].skip_trusted"),
                    "no rule of kind reputation tells which numbers are trusted; add one or drop skip_trusted",
                );
            }
            let pairs = rule.client_country.as_ref().and_then(|c| c.proven_pairs.as_ref());
            if pairs.is_some_and(|p| p.min_trusted_confirms > 0) {
                errs.push(
                    format!("rules[{i}].client_country.proven_pairs.min_trusted_confirms"),
                    "no rule of kind reputation tells which numbers are trusted, so no pair would be proven; \
                     add one or drop min_trusted_confirms",
                );
            }
        }
    }
}

/// Rules judged on confirmed codes learn nothing without a confirm route: a conversion rule
/// would see every scope at 0% and refuse each busy one, a reputation rule would trust no one.
pub(super) fn check_outcome_rules_have_a_confirm_route(doc: &PolicyDoc, errs: &mut ConfigErrors) {
    if doc.routes.iter().any(|r| r.kind == RouteKind::Confirm) {
        return;
    }
    for (i, rule) in doc.rules.iter().enumerate() {
        if rule.conversion.is_some() {
            errs.push(
                format!("rules[{i}].conversion"),
                "no route has kind confirm, so no code is ever credited: every scope would convert at 0% \
                 and be refused once busy; add the route that checks codes",
            );
        }
        if rule.reputation.is_some() {
            errs.push(
                format!("rules[{i}].reputation"),
                "no route has kind confirm, so no number is ever trusted; add the route that checks codes",
            );
        }
        if rule.client_country.as_ref().is_some_and(|c| c.proven_pairs.is_some()) {
            errs.push(
                format!("rules[{i}].client_country.proven_pairs"),
                "no route has kind confirm, so no pair is ever proven; add the route that checks codes",
            );
        }
    }
}

/// A rule counted per CAPTCHA solver runs after the token is verified, when the request's risk
/// and challenge are already settled: only an answer that refuses or reports fits it.
pub(super) fn check_solver_rule(
    doc: &RuleDoc,
    at: &str,
    part: &str,
    policy: &PolicyDoc,
    errs: &mut ConfigErrors,
) {
    if policy.captcha.is_none() {
        errs.push(
            format!("{at}.{part}"),
            "captcha_solver needs a top-level \"captcha\" section: the solver is named by siteverify",
        );
    } else if policy.captcha.as_ref().is_some_and(|c| c.verify == CaptchaVerify::Origin) {
        errs.push(
            format!("{at}.{part}"),
            "captcha_solver is named by siteverify, which the guard does not call under captcha.verify: origin",
        );
    }
    if doc.action == RuleAction::Challenge {
        errs.push(
            format!("{at}.action"),
            "a rule counted per captcha_solver judges challenges already solved; use block, throttle or log",
        );
    }
    if doc.risk > 0 {
        errs.push(
            format!("{at}.risk"),
            "a rule counted per captcha_solver is judged after the risk score is settled; leave risk at 0",
        );
    }
    if doc.skip_trusted {
        errs.push(
            format!("{at}.skip_trusted"),
            "a rule counted per captcha_solver counts devices, not numbers; remove skip_trusted",
        );
    }
}
