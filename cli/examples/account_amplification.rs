//! How many SMS one number is sent a day when the attacker makes accounts for it, and what the
//! same policy does to real users signing up: a closed-loop measurement of Cognito's calls.
//!
//! Cognito's resends and resets name the user, never the number, so each account a number signs
//! up is an allowance of its own unless the guard judges the account's sends as sends to its
//! number (`bound_number`). This runs a day of such a campaign and of real sign-ups through the
//! core under a policy as it is and with its `bound_number` rules removed, and prints the SMS
//! that reached origin per number and per call, and the real users refused.
//!
//! The campaign is the strongest this guard faces on the request: every call from a fresh
//! residential address in the numbers' country, a real Chrome's headers, a solved CAPTCHA on
//! every call (a farm: every token verifies), US mobiles each in a 6-digit prefix of its own (no
//! prefix rule sees two), a new account per number every `--sign-up-every` seconds, each
//! account that exists (its sign-up reached Cognito) asking for its code again every
//! `--resend-every` seconds. It never enters a code. Real users sign up with a number of their
//! own, a third resend once 40 to 120 seconds later, one in ten a second time, and nine in ten
//! enter their code.
//!
//! ```text
//! cargo run -q -p pumpguard-cli --example account_amplification -- policies/recommended-cognito.json
//! ```

use std::collections::{BTreeMap, HashSet};

use pumpguard_core::routes::ConfirmResponse;
use pumpguard_core::{Action, MemoryStore, Policy, Request, Timestamp, TokenVerdict};

const DAY_S: u64 = 86_400;
const START_MS: u64 = 1_767_700_800_000; // 2026-01-06 12:00 UTC

const BY_SMS: &str = r#"{"CodeDeliveryDetails": {"AttributeName": "phone_number", "DeliveryMedium": "SMS", "Destination": "+*******0000"}}"#;

/// xorshift64*: the measurement's own small, seeded randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A residential address out of a pool the size of a large botnet.
    fn address(&mut self) -> std::net::IpAddr {
        let b = |r: &mut Rng, lo: u64, n: u64| u8::try_from(lo + r.below(n)).unwrap_or(1);
        std::net::IpAddr::from([b(self, 24, 76), b(self, 0, 256), b(self, 0, 256), b(self, 1, 254)])
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Who {
    Campaign,
    Real,
}

/// One Cognito call to make at `at_s`.
#[derive(Clone, Debug)]
struct Call {
    at_s: u64,
    who: Who,
    op: &'static str,
    user: String,
    number: String,
}

struct Outcome {
    sent: BTreeMap<(Who, &'static str), u64>,
    per_number: BTreeMap<String, u64>,
    refusing_rules: BTreeMap<String, u64>,
    real_users: u64,
    real_refused: u64,
    real_resends_asked: u64,
}

fn headers(op: &str) -> Vec<(String, String)> {
    [
        ("content-type", "application/x-amz-json-1.1"),
        (
            "user-agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        ),
        ("accept-language", "en-US,en;q=0.9"),
        ("sec-ch-ua", r#""Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24""#),
        ("cookie", "session=1"),
        ("origin", "https://app.example.com"),
        ("cf-ipcountry", "US"),
        ("x-turnstile-token", "solved"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.to_owned()))
    .chain([("x-amz-target".to_owned(), format!("AWSCognitoIdentityProviderService.{op}"))])
    .collect()
}

fn body(call: &Call) -> String {
    match call.op {
        "SignUp" => serde_json::json!({"ClientId": "c", "Username": call.user,
            "UserAttributes": [{"Name": "phone_number", "Value": call.number}]}),
        "ConfirmSignUp" => {
            serde_json::json!({"ClientId": "c", "Username": call.user, "ConfirmationCode": "1"})
        }
        _ => serde_json::json!({"ClientId": "c", "Username": call.user}),
    }
    .to_string()
}

/// US mobiles, each in a 6-digit prefix (area code and exchange) of its own.
fn numbers(count: usize, rng: &mut Rng, taken: &mut HashSet<u64>) -> Vec<String> {
    const AREAS: [u64; 16] = [201, 212, 213, 305, 312, 404, 415, 503, 602, 617, 702, 713, 718, 801, 917, 972];
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let area = AREAS[usize::try_from(rng.below(16)).unwrap_or(0)];
        let prefix = area * 1000 + 200 + rng.below(800);
        if taken.insert(prefix) {
            out.push(format!("+1{prefix}{:04}", rng.below(10_000)));
        }
    }
    out
}

/// Runs the day under `policy`: calls in time order, each account's later calls only once its
/// sign-up reached Cognito (the campaign's resends, the real user's resends and confirmation).
fn run(policy: &Policy, args: &Args) -> Outcome {
    let mut rng = Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut taken = HashSet::new();
    let mut queue: Vec<Call> = Vec::new();
    for (n, number) in numbers(args.numbers, &mut rng, &mut taken).into_iter().enumerate() {
        let offset = rng.below(args.sign_up_every);
        for (k, at_s) in
            (offset..DAY_S).step_by(usize::try_from(args.sign_up_every).unwrap_or(600)).enumerate()
        {
            let user = format!("u{n}x{k}@mail.example");
            queue.push(Call { at_s, who: Who::Campaign, op: "SignUp", user, number: number.clone() });
        }
    }
    for (n, number) in numbers(args.real_users, &mut rng, &mut taken).into_iter().enumerate() {
        let at_s = rng.below(DAY_S);
        queue.push(Call { at_s, who: Who::Real, op: "SignUp", user: format!("r{n}@mail.example"), number });
    }
    // Real users' own draws, so they behave alike under every policy the campaign meets.
    let mut real = Rng(args.seed.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1);
    let store = MemoryStore::new();
    let mut out = Outcome {
        sent: BTreeMap::new(),
        per_number: BTreeMap::new(),
        refusing_rules: BTreeMap::new(),
        real_users: u64::try_from(args.real_users).unwrap_or(0),
        real_refused: 0,
        real_resends_asked: 0,
    };
    let mut refused_users: HashSet<String> = HashSet::new();
    while let Some(index) = (0..queue.len()).min_by_key(|&i| (queue[i].at_s, i)) {
        let call = queue.swap_remove(index);
        let owned = headers(call.op);
        let refs: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let text = body(&call);
        let now = Timestamp::from_millis(START_MS + call.at_s * 1000);
        let req = Request {
            method: "POST",
            authority: "cognito-idp.us-east-1.amazonaws.com",
            path: "/",
            version: pumpguard_core::HttpVersion::Http11,
            headers: &refs,
            body: text.as_bytes(),
            body_truncated: false,
            client_ip: Some(rng.address()),
            tls: Default::default(),
            edge: Default::default(),
        };
        let decision = policy.decide_verified(&req, now, &store, |_| TokenVerdict::Valid { solver: None });
        let answer = if call.op == "SignUp" || call.op == "ResendConfirmationCode" { BY_SMS } else { "{}" };
        if decision.action == Action::Allow {
            let response = ConfirmResponse { status: 200, headers: &[], body: Some(answer.as_bytes()) };
            policy.record_confirm(&decision, &response, now, &store);
        }
        let allowed = decision.action == Action::Allow;
        if (call.who, call.op) == (Who::Real, "ResendConfirmationCode") {
            out.real_resends_asked += 1;
        }
        if call.op != "ConfirmSignUp" {
            if allowed {
                *out.sent.entry((call.who, call.op)).or_default() += 1;
                if call.who == Who::Campaign {
                    *out.per_number.entry(call.number.clone()).or_default() += 1;
                }
            } else {
                for reason in decision.reasons.iter().filter(|r| r.enforced) {
                    let rule = reason.rule.as_deref().unwrap_or(reason.code.as_str());
                    *out.refusing_rules.entry(format!("{:?} {rule}", call.who)).or_default() += 1;
                }
                if call.who == Who::Real && call.op == "SignUp" {
                    // A real user the guard refused at sign-up never got a code.
                    refused_users.insert(call.user.clone());
                }
            }
        }
        match (call.who, call.op, allowed) {
            (Who::Campaign, "SignUp" | "ResendConfirmationCode", _)
                if call.op == "ResendConfirmationCode" || allowed =>
            {
                let at_s = call.at_s + args.resend_every;
                if at_s < DAY_S {
                    queue.push(Call { at_s, op: "ResendConfirmationCode", ..call });
                }
            }
            (Who::Real, "SignUp", true) => {
                let roll = real.below(30);
                let (user, number) = (call.user.clone(), call.number.clone());
                if roll < 10 {
                    let at_s = call.at_s + 40 + real.below(80);
                    queue.push(Call { at_s, op: "ResendConfirmationCode", ..call.clone() });
                    if roll < 3 {
                        let at_s = at_s + 60 + real.below(120);
                        queue.push(Call { at_s, op: "ResendConfirmationCode", ..call.clone() });
                    }
                }
                if real.below(10) < 9 {
                    let at_s = call.at_s + 400;
                    queue.push(Call { at_s, who: Who::Real, op: "ConfirmSignUp", user, number });
                }
            }
            _ => {}
        }
    }
    out.real_refused = u64::try_from(refused_users.len()).unwrap_or(0);
    out
}

struct Args {
    policy: String,
    numbers: usize,
    real_users: usize,
    sign_up_every: u64,
    resend_every: u64,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        policy: "policies/recommended-cognito.json".to_owned(),
        numbers: 20,
        real_users: 2_000,
        sign_up_every: 600,
        resend_every: 120,
        seed: 1,
    };
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        let mut value = |name: &str| given.next().ok_or(format!("{name} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{v}: {e}"));
        match arg.as_str() {
            "--numbers" => {
                args.numbers = usize::try_from(number(value(&arg)?)?).map_err(|e| e.to_string())?
            }
            "--real-users" => {
                args.real_users = usize::try_from(number(value(&arg)?)?).map_err(|e| e.to_string())?
            }
            "--sign-up-every" => args.sign_up_every = number(value(&arg)?)?.max(1),
            "--resend-every" => args.resend_every = number(value(&arg)?)?.max(1),
            "--seed" => args.seed = number(value(&arg)?)?,
            _ if !arg.starts_with("--") => args.policy = arg,
            _ => return Err(format!("unknown option {arg}")),
        }
    }
    Ok(args)
}

fn main() -> Result<(), String> {
    let args = parse_args()?;
    let text = std::fs::read_to_string(&args.policy).map_err(|e| format!("{}: {e}", args.policy))?;
    let shipped = Policy::from_json(&text).map_err(|e| e.to_string())?;
    let mut doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if let Some(rules) = doc.get_mut("rules").and_then(|r| r.as_array_mut()) {
        rules.retain(|rule| rule.get("bound_number").is_none());
    }
    let unbound = Policy::from_json(&doc.to_string()).map_err(|e| e.to_string())?;
    println!(
        "{}, seed {}: {} pumped numbers, a sign-up each every {} s, each account resending every {} s; {} real users",
        args.policy, args.seed, args.numbers, args.sign_up_every, args.resend_every, args.real_users
    );
    println!(
        "{:22} {:>8} {:>9} {:>8} {:>19} {:>14} {:>14}",
        "policy",
        "pumped",
        "sign-ups",
        "resends",
        "per number (min-max)",
        "real refused",
        "real resends sent"
    );
    for (name, policy) in [("without bound_number", &unbound), ("as given", &shipped)] {
        let out = run(policy, &args);
        let sent = |who, op| out.sent.get(&(who, op)).copied().unwrap_or(0);
        let (sign_ups, resends) =
            (sent(Who::Campaign, "SignUp"), sent(Who::Campaign, "ResendConfirmationCode"));
        let min = out.per_number.values().min().copied().unwrap_or(0);
        let max = out.per_number.values().max().copied().unwrap_or(0);
        println!(
            "{name:22} {:>8} {sign_ups:>9} {resends:>8} {:>19} {:>8} of {:<5} {:>8} of {}",
            sign_ups + resends,
            format!("{min}-{max}"),
            out.real_refused,
            out.real_users,
            sent(Who::Real, "ResendConfirmationCode"),
            out.real_resends_asked,
        );
        let mut rules: Vec<_> = out.refusing_rules.iter().collect();
        rules.sort_by(|a, b| b.1.cmp(a.1));
        let top: Vec<String> = rules.iter().take(6).map(|(rule, count)| format!("{rule} {count}")).collect();
        println!("{:22} refusals: {}", "", top.join(", "));
    }
    Ok(())
}
