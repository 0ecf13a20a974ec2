//! The scenario corpus format and its in-process runner.
//!
//! A scenario is a policy, a timed sequence of traffic records and the expected decision of
//! each. The same files run here (in-memory store, simulated token verification), through a real
//! Envoy and through a real workerd, so the hosts cannot drift apart.
//!
//! Token convention shared by every runner's siteverify (real fake servers in e2e tests):
//! a token starting with `pass` verifies, `fail` is refused, `slow` times out, `junk` gets an
//! answer that is not JSON, `shape` JSON without `success`, and anything else makes the
//! verification call fail (all four: unavailable). A `pass` token's tag, what follows `pass` up
//! to the first `-`, may name the solving device (`@D`) and the widget's action (`!A`):
//! `pass@d1!signup-7` was solved on device `x:d1` by a widget given the action `signup`.
//!
//! Number-intelligence convention, shared the same way ([`simulated_provider`]; the e2e fake is
//! `tests/lookup.py`): Twilio Lookup v2 answers chosen by the number's last two digits.

use serde::Deserialize;

use crate::decision::{Action, Decision, TokenVerdict};
use crate::intel::{LookupAnswer, NumberLookup};
use crate::phone::NumberType;
use crate::store::MemoryStore;
use crate::traffic::{as_request, TrafficRecord};
use crate::Policy;

/// One scenario file: a policy, and requests with the decision each must get.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, shown in reports.
    pub name: String,
    /// What the scenario shows, in a sentence or two.
    #[serde(default)]
    pub description: String,
    /// The policy document, inline.
    pub policy: serde_json::Value,
    /// When set, the policy must fail to load with errors at exactly these JSON paths.
    #[serde(default)]
    pub policy_errors: Option<Vec<String>>,
    /// Requests in order; each is judged against the store the previous ones left.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// One request and the decision it must get.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The request, with its timestamp.
    pub request: TrafficRecord,
    /// Send the same request this many times (same timestamp), each expecting `expect`.
    #[serde(default = "one")]
    pub repeat: u32,
    /// What every repeat's decision must look like.
    pub expect: Expect,
}

fn one() -> u32 {
    1
}

/// What the decision must look like; absent fields are not checked.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The decision's action; always checked.
    pub action: Action,
    /// HTTP status of the answer.
    #[serde(default)]
    pub status: Option<u16>,
    /// Error code of the body (`country_denied`, ...).
    #[serde(default)]
    pub error: Option<String>,
    /// Rule id named in the body.
    #[serde(default)]
    pub rule: Option<String>,
    /// `Retry-After` in seconds.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Findings (`"rule:code"` or `"code"`) that must be among the decision's reasons.
    #[serde(default)]
    pub findings: Vec<String>,
    /// The decision must have no findings at all.
    #[serde(default)]
    pub no_findings: bool,
    /// Region of the first number.
    #[serde(default)]
    pub country: Option<String>,
    /// Type of the first number.
    #[serde(default)]
    pub number_type: Option<NumberType>,
    /// The request's risk score (`x-pumpguard-risk`).
    #[serde(default)]
    pub risk: Option<u32>,
    /// Exactly the inputs the route's rules read that the request lacked
    /// (`x-pumpguard-missing-inputs`; `[]`: none).
    #[serde(default)]
    pub missing_inputs: Option<Vec<String>>,
    /// An import of trusted numbers (action `answer`): how many it trusted (the body's `trusted`).
    #[serde(default)]
    pub trusted: Option<u32>,
    /// The refusal body's `captcha` object (what to solve, where the token goes), exactly;
    /// `null`: the body has none.
    #[serde(default, deserialize_with = "present")]
    pub captcha: Option<serde_json::Value>,
    /// A local reply's `Access-Control-Allow-Origin` (the policy's `cors`); `null`: none.
    #[serde(default, deserialize_with = "present")]
    pub allow_origin: Option<serde_json::Value>,
    /// What origin is told of the request's token (`x-pumpguard-captcha`: `verified`, spent by
    /// the guard; `unverified`, left to origin); `null`: nothing.
    #[serde(default, deserialize_with = "present")]
    pub token: Option<serde_json::Value>,
}

/// A field that may be `null` yet present: `Some(Value::Null)`, told apart from an absent one.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// One executed request and what did not match.
#[derive(Debug)]
pub struct StepOutcome {
    /// Index of the step in the scenario.
    pub step: usize,
    /// Which repeat of the step, from 0.
    pub repeat: u32,
    /// The decision the request got.
    pub decision: Decision,
    /// How it differs from the expectation, one line each; empty when it matched.
    pub mismatches: Vec<String>,
}

/// Token verification as the shared convention defines it, without a policy's checks of the
/// answer: `pass*` verifies, and a `pass@D-…` token was solved on device `D` (siteverify names
/// it `x:D`, as Turnstile Enterprise's `metadata.ephemeral_id`); `fail*` is refused; `slow*`
/// times out; anything else fails. [`simulated_token`] reads the same answers as a host does.
pub fn simulated_siteverify(token: &str) -> TokenVerdict {
    if let Some(rest) = token.strip_prefix("pass") {
        TokenVerdict::Valid { solver: simulated_tag(rest).0.map(|device| format!("x:{device}")) }
    } else if token.starts_with("fail") {
        TokenVerdict::Invalid {
            detail: "provider refused the token (error codes: invalid-input-response)".into(),
        }
    } else if token.starts_with("slow") {
        TokenVerdict::Unavailable { detail: "siteverify timed out".into() }
    } else {
        TokenVerdict::Unavailable { detail: "siteverify call failed".into() }
    }
}

/// Token verification as a host makes it: the fake siteverify's answer to the token (the e2e
/// fakes answer the same JSON), read with the policy's `captcha` checks (hostname, action,
/// score). Without a `captcha` section, [`simulated_siteverify`].
pub fn simulated_token(policy: &Policy, token: &str) -> TokenVerdict {
    match (policy.captcha(), token.strip_prefix("pass")) {
        (Some(captcha), Some(rest)) => {
            let (device, action) = simulated_tag(rest);
            let mut answer =
                serde_json::json!({"success": true, "hostname": "app.example.com", "error-codes": []});
            if let Some(device) = device {
                answer["metadata"] = serde_json::json!({"ephemeral_id": format!("x:{device}")});
            }
            if let Some(action) = action {
                answer["action"] = serde_json::Value::from(action);
            }
            crate::captcha::interpret_siteverify(captcha, 200, answer.to_string().as_bytes())
        }
        _ => simulated_siteverify(token),
    }
}

/// The device (`@D`) and the action (`!A`) a `pass` token's tag names.
fn simulated_tag(after_pass: &str) -> (Option<&str>, Option<&str>) {
    let tag = after_pass.split('-').next().unwrap_or(after_pass);
    let (device, action) = match tag.split_once('!') {
        Some((device, action)) => (device, Some(action)),
        None => (tag, None),
    };
    let device = device.strip_prefix('@').filter(|d| !d.is_empty());
    (device, action.filter(|a| !a.is_empty()))
}

/// The corpus' fake number-intelligence provider, by the number's last two digits: `99` high
/// pumping risk (95, mobile), `98` a non-fixed VoIP line (risk 20), `97` unreachable (risk 10),
/// `96` no answer in time (`None`), `95` HTTP 500, `94` a page that is not JSON, `93` a risk
/// score that is not a number, `92` an elevated risk (60, mobile); any other number low risk (5),
/// mobile and active. The answer is the status and body a Twilio Lookup v2 call
/// (`Fields=line_type_intelligence,sms_pumping_risk,line_status`) would get.
pub fn simulated_provider(e164: &str) -> Option<(u16, String)> {
    let tail = e164.get(e164.len().saturating_sub(2)..).unwrap_or("");
    let answer = |risk: serde_json::Value, line_type: &str, status: &str| {
        let body = serde_json::json!({
            "phone_number": e164,
            "valid": true,
            "line_type_intelligence": {"type": line_type, "carrier_name": "Fake Carrier", "error_code": null},
            "sms_pumping_risk": {"sms_pumping_risk_score": risk, "error_code": null},
            "line_status": {"status": status, "error_code": null},
        });
        Some((200, body.to_string()))
    };
    match tail {
        "99" => answer(95.into(), "mobile", "active"),
        "98" => answer(20.into(), "nonFixedVoip", "active"),
        "97" => answer(10.into(), "mobile", "unreachable"),
        "96" => None,
        "95" => Some((500, "{\"code\":20500,\"message\":\"Internal Server Error\"}".to_owned())),
        "94" => Some((200, "<html><body>502 Bad Gateway</body></html>".to_owned())),
        "93" => answer("high".into(), "mobile", "active"),
        "92" => answer(60.into(), "mobile", "active"),
        _ => answer(5.into(), "mobile", "active"),
    }
}

/// A lookup as in-process runners make it: [`simulated_provider`]'s answer read with the
/// policy's own mapping; no answer is a timeout.
pub fn simulated_lookup(policy: &Policy, lookup: &NumberLookup) -> LookupAnswer {
    let Some(provider) = policy.number_intel() else {
        return LookupAnswer::Unavailable { detail: "policy has no number_intel section".to_owned() };
    };
    match simulated_provider(&lookup.e164) {
        Some((status, body)) => provider.interpret(status, body.as_bytes()),
        None => LookupAnswer::Unavailable { detail: format!("no answer within {} ms", provider.timeout_ms) },
    }
}

/// The whole decision of `req`, with the corpus' fake siteverify and number-intelligence
/// provider answering the host's calls, as every in-process runner makes it.
pub fn decide_simulated(
    policy: &Policy,
    req: &crate::Request<'_>,
    now: crate::time::Timestamp,
    store: &dyn crate::store::Store,
) -> Decision {
    policy.decide_with(
        req,
        now,
        store,
        |t| simulated_token(policy, t),
        |lookup| simulated_lookup(policy, lookup),
    )
}

/// Loads the scenario's policy; `Ok(None)` when the scenario expects (and got) load errors.
pub fn load_policy(scenario: &Scenario) -> Result<Option<Policy>, String> {
    let json = scenario.policy.to_string();
    match (Policy::from_json(&json), &scenario.policy_errors) {
        (Ok(policy), None) => Ok(Some(policy)),
        (Ok(_), Some(expected)) => Err(format!("policy loaded, but errors were expected at {expected:?}")),
        (Err(errors), None) => Err(format!("policy failed to load: {errors}")),
        (Err(errors), Some(expected)) => {
            let mut got: Vec<String> = errors.errors.iter().map(|e| e.path.clone()).collect();
            got.sort();
            let mut want = expected.clone();
            want.sort();
            if got == want {
                Ok(None)
            } else {
                Err(format!("policy errors at {got:?}, expected at {want:?} ({errors})"))
            }
        }
    }
}

/// Runs every step against a fresh in-memory store.
pub fn run(scenario: &Scenario) -> Result<Vec<StepOutcome>, String> {
    let Some(policy) = load_policy(scenario)? else {
        return Ok(Vec::new());
    };
    let store = MemoryStore::new();
    let mut outcomes = Vec::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        let owned = step.request.owned().map_err(|e| format!("step {index}: {e}"))?;
        let header_refs: Vec<(&str, &str)> =
            owned.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        for repeat in 0..step.repeat {
            let now = step.request.at();
            let req = as_request(&step.request, &owned, &header_refs, policy.max_body_bytes());
            let decision = decide_simulated(&policy, &req, now, &store);
            if decision.action == Action::Allow {
                step.request.record_confirm(&policy, &decision, &store);
            }
            let mismatches = compare(&step.expect, &Observed::of(&decision));
            outcomes.push(StepOutcome { step: index, repeat, decision, mismatches });
        }
    }
    Ok(outcomes)
}

/// A decision as a host's answer shows it: what the scenario expectations are compared with.
/// In process it comes from the [`Decision`]; over HTTP from the response (`docs/host-tests.md`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// `None` when the answer did not say (a host bug the comparison reports).
    pub action: Option<Action>,
    /// HTTP status of the answer.
    pub status: u16,
    /// Error code of the body.
    pub error: Option<String>,
    /// Rule named in the body.
    pub rule: Option<String>,
    /// `Retry-After` in seconds.
    pub retry_after: Option<u64>,
    /// Every finding as `rule:code` or `code`.
    pub findings: Vec<String>,
    /// Region of the first number.
    pub country: Option<String>,
    /// Type of the first number, as the policy spells it (`mobile`).
    pub number_type: Option<String>,
    /// The risk score, under a policy that scores risk.
    pub risk: Option<u32>,
    /// The inputs the route's rules read that the request lacked.
    pub missing_inputs: Vec<String>,
    /// How many numbers an import trusted.
    pub trusted: Option<u32>,
    /// The refusal body's `captcha` object as compact JSON, keys sorted.
    pub captcha: Option<String>,
    /// A local reply's `Access-Control-Allow-Origin`.
    pub allow_origin: Option<String>,
    /// `x-pumpguard-captcha` on a request forwarded to origin.
    pub token: Option<String>,
}

impl Observed {
    /// What a host's answer would show of `decision`.
    pub fn of(decision: &Decision) -> Observed {
        let first = decision.numbers.first();
        Observed {
            action: Some(decision.action),
            status: decision.status,
            error: decision.error_code().map(|c| c.as_str().to_owned()),
            rule: decision.primary().and_then(|r| r.rule.as_deref()).map(str::to_owned),
            retry_after: decision.retry_after_seconds,
            findings: decision
                .findings_header()
                .map(|h| h.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            country: first.and_then(|n| n.region).map(str::to_owned),
            number_type: first.map(|n| n.number_type.as_str().to_owned()),
            risk: decision.risk,
            missing_inputs: decision.edge_inputs.missing.iter().map(|i| i.as_str().to_owned()).collect(),
            trusted: decision.trust_import.as_ref().map(|i| i.trusted),
            captcha: decision
                .error_body()
                .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
                .and_then(|body| body_captcha(&body)),
            token: if decision.action == Action::Allow {
                decision
                    .origin_headers()
                    .into_iter()
                    .find_map(|(name, value)| (name == "x-pumpguard-captcha").then_some(value))
            } else {
                None
            },
            allow_origin: if decision.action == Action::Allow {
                None
            } else {
                decision
                    .response_headers()
                    .into_iter()
                    .find_map(|(name, value)| (name == "access-control-allow-origin").then_some(value))
            },
        }
    }
}

/// Pumpguard's own fields of a JSON refusal body: the body itself, or its `pumpguard` object in
/// the formats whose `error` is the API's (Google's, Auth0's).
pub fn pumpguard_fields(body: &serde_json::Value) -> &serde_json::Value {
    match body.get("pumpguard") {
        Some(ours) if ours.is_object() => ours,
        _ => body,
    }
}

/// The `captcha` object of a JSON refusal body as compact JSON with sorted keys, so two
/// spellings of one object compare equal.
pub fn body_captcha(body: &serde_json::Value) -> Option<String> {
    pumpguard_fields(body).get("captcha").map(|c| c.to_string())
}

/// Differences between an expectation and an observed decision, one line each.
pub fn compare(expect: &Expect, got: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, want: String, got: Option<&str>| {
        let got = got.unwrap_or("none");
        if want != got {
            out.push(format!("{what}: expected {want}, got {got}"));
        }
    };
    check("action", expect.action.as_str().to_owned(), got.action.map(Action::as_str));
    if let Some(status) = expect.status {
        check("status", status.to_string(), Some(&got.status.to_string()));
    }
    if let Some(error) = &expect.error {
        check("error", error.clone(), got.error.as_deref());
    }
    if let Some(rule) = &expect.rule {
        check("rule", rule.clone(), got.rule.as_deref());
    }
    if let Some(retry) = expect.retry_after {
        check("retry_after", retry.to_string(), got.retry_after.map(|r| r.to_string()).as_deref());
    }
    if let Some(country) = &expect.country {
        check("country", country.clone(), got.country.as_deref());
    }
    if let Some(t) = expect.number_type {
        check("number_type", t.as_str().to_owned(), got.number_type.as_deref());
    }
    if let Some(trusted) = expect.trusted {
        check("trusted", trusted.to_string(), got.trusted.map(|t| t.to_string()).as_deref());
    }
    if let Some(captcha) = &expect.captcha {
        let want = if captcha.is_null() { "none".to_owned() } else { captcha.to_string() };
        check("captcha", want, got.captcha.as_deref());
    }
    if let Some(token) = &expect.token {
        let want = token.as_str().map_or_else(|| "none".to_owned(), str::to_owned);
        check("token", want, got.token.as_deref());
    }
    if let Some(origin) = &expect.allow_origin {
        let want = origin.as_str().map_or_else(|| "none".to_owned(), str::to_owned);
        check("allow_origin", want, got.allow_origin.as_deref());
    }
    if let Some(risk) = expect.risk {
        check("risk", risk.to_string(), got.risk.map(|r| r.to_string()).as_deref());
    }
    let labels = &got.findings;
    for finding in &expect.findings {
        let found =
            labels.iter().any(|l| l == finding || l.split_once(':').is_some_and(|(_, code)| code == finding));
        if !found {
            out.push(format!("finding {finding} missing (have {labels:?})"));
        }
    }
    if expect.no_findings && !labels.is_empty() {
        out.push(format!("expected no findings, got {labels:?}"));
    }
    if let Some(missing) = &expect.missing_inputs {
        let (mut want, mut have) = (missing.clone(), got.missing_inputs.clone());
        want.sort();
        have.sort();
        if want != have {
            out.push(format!("missing_inputs: expected {missing:?}, got {:?}", got.missing_inputs));
        }
    }
    out
}
