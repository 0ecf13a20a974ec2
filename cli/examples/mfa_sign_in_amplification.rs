//! How many SMS MFA codes one number is sent a day when the attacker makes accounts for it in a
//! pool that verifies e-mail addresses and requires SMS MFA, and what the same policy does to
//! real users signing in: a closed-loop measurement of Cognito's password sign-ins.
//!
//! There an account costs an e-mail address (its sign-up's code goes by e-mail) and each password
//! sign-in with the right password sends the account's number a code. The sign-in names the user
//! and carries no number, so without a `bound_sign_ins` rule only the account's own limits judge
//! it. This runs a day of such a campaign and of real users through the core under a policy as it
//! is and with its `bound_sign_ins` rules removed, and prints the codes that reached the numbers
//! and the real sign-ins refused.
//!
//! The campaign: every call from a fresh residential address in the numbers' country, a real
//! Chrome's headers, a solved CAPTCHA on every call (a farm: every token verifies), US mobiles
//! each in a 6-digit prefix of its own, a new account per number every `--sign-up-every`
//! seconds, confirmed by e-mail at once, each confirmed account signing in every
//! `--sign-in-every` seconds. It never enters an SMS code. Real users made their accounts
//! before the day (the guard saw the sign-ups), sign in one to four times in it, one sign-in in
//! ten with a mistyped password first, and nine in ten enter the code. With `--on-real-numbers`
//! the campaign makes its accounts for the first real users' numbers instead: what it costs
//! them that their number's count is spent by others.
//!
//! ```text
//! cargo run -q -p pumpguard-cli --example mfa_sign_in_amplification -- policies/recommended-cognito.json
//! ```

use std::collections::{BTreeMap, HashSet};

use pumpguard_core::routes::ConfirmResponse;
use pumpguard_core::{Action, MemoryStore, Policy, Request, Timestamp, TokenVerdict};

const DAY_S: u64 = 86_400;
const START_MS: u64 = 1_767_700_800_000; // 2026-01-06 12:00 UTC

/// Cognito's answers: a sign-up whose code went by e-mail, a right password with SMS MFA, a
/// wrong password, a right code, and an empty success.
const SIGN_UP_BY_EMAIL: &str = r#"{"CodeDeliveryDetails": {"AttributeName": "email", "DeliveryMedium": "EMAIL", "Destination": "m***@m***"}, "UserConfirmed": false, "UserSub": "u"}"#;
const SMS_MFA: &str = r#"{"ChallengeName": "SMS_MFA", "ChallengeParameters": {"CODE_DELIVERY_DELIVERY_MEDIUM": "SMS", "CODE_DELIVERY_DESTINATION": "+*******0000"}, "Session": "s"}"#;
const WRONG_PASSWORD: &str = r#"{"__type": "NotAuthorizedException"}"#;
const SIGNED_IN: &str = r#"{"AuthenticationResult": {"AccessToken": "t"}}"#;

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

/// The calls of the measurement, as Cognito names them (a sign-in is `InitiateAuth` with
/// `USER_PASSWORD_AUTH`; a code, `RespondToAuthChallenge` answering `SMS_MFA`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Op {
    SignUp,
    ConfirmSignUp,
    SignIn { right_password: bool },
    EnterCode,
}

impl Op {
    fn target(self) -> &'static str {
        match self {
            Op::SignUp => "SignUp",
            Op::ConfirmSignUp => "ConfirmSignUp",
            Op::SignIn { .. } => "InitiateAuth",
            Op::EnterCode => "RespondToAuthChallenge",
        }
    }
}

/// One Cognito call to make at `at_s`.
#[derive(Clone, Debug)]
struct Call {
    at_s: u64,
    who: Who,
    op: Op,
    user: String,
    number: String,
}

#[derive(Default)]
struct Outcome {
    /// SMS codes sign-ins sent, per who.
    codes: BTreeMap<Who, u64>,
    per_number: BTreeMap<String, u64>,
    refusing_rules: BTreeMap<String, u64>,
    real_sign_ins: u64,
    real_sign_ins_refused: u64,
    real_users_refused: HashSet<String>,
}

fn headers(op: Op) -> Vec<(String, String)> {
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
    .chain([("x-amz-target".to_owned(), format!("AWSCognitoIdentityProviderService.{}", op.target()))])
    .collect()
}

fn body(call: &Call) -> String {
    match call.op {
        Op::SignUp => serde_json::json!({"ClientId": "c", "Username": call.user,
            "UserAttributes": [{"Name": "email", "Value": call.user}, {"Name": "phone_number", "Value": call.number}]}),
        Op::ConfirmSignUp => {
            serde_json::json!({"ClientId": "c", "Username": call.user, "ConfirmationCode": "1"})
        }
        Op::SignIn { .. } => serde_json::json!({"ClientId": "c", "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": call.user, "PASSWORD": "p"}}),
        Op::EnterCode => serde_json::json!({"ClientId": "c", "ChallengeName": "SMS_MFA", "Session": "s",
            "ChallengeResponses": {"USERNAME": call.user, "SMS_MFA_CODE": "1"}}),
    }
    .to_string()
}

/// Cognito's answer to a call the guard let through.
fn answer(op: Op) -> (u16, &'static str) {
    match op {
        Op::SignUp => (200, SIGN_UP_BY_EMAIL),
        Op::SignIn { right_password: true } => (200, SMS_MFA),
        Op::SignIn { right_password: false } => (400, WRONG_PASSWORD),
        Op::EnterCode => (200, SIGNED_IN),
        Op::ConfirmSignUp => (200, "{}"),
    }
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

/// One call through the guard and, when it lets it through, Cognito's answer recorded as a host
/// records it.
fn judge(
    policy: &Policy,
    store: &MemoryStore,
    call: &Call,
    client: std::net::IpAddr,
) -> (Action, Vec<String>) {
    let owned = headers(call.op);
    let refs: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let text = body(call);
    let now = Timestamp::from_millis(START_MS + call.at_s * 1000);
    let req = Request {
        method: "POST",
        authority: "cognito-idp.us-east-1.amazonaws.com",
        path: "/",
        version: pumpguard_core::HttpVersion::Http11,
        headers: &refs,
        body: text.as_bytes(),
        body_truncated: false,
        client_ip: Some(client),
        tls: Default::default(),
        edge: Default::default(),
    };
    let decision = policy.decide_verified(&req, now, store, |_| TokenVerdict::Valid { solver: None });
    if decision.action == Action::Allow {
        let (status, body) = answer(call.op);
        let response = ConfirmResponse { status, headers: &[], body: Some(body.as_bytes()) };
        policy.record_confirm(&decision, &response, now, store);
    }
    let rules = decision
        .reasons
        .iter()
        .filter(|r| r.enforced)
        .map(|r| r.rule.as_deref().unwrap_or(r.code.as_str()).to_owned())
        .collect();
    (decision.action, rules)
}

/// Runs the day under `policy`: calls in time order, each account's sign-ins only once its
/// sign-up reached Cognito, each code only once its sign-in did.
fn run(policy: &Policy, args: &Args) -> Outcome {
    let mut rng = Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut taken = HashSet::new();
    let store = MemoryStore::new();
    let mut queue: Vec<Call> = Vec::new();
    let real_numbers = numbers(args.real_users, &mut rng, &mut taken);
    // The campaign's numbers: its own, or (`--on-real-numbers`) the first real users'.
    let pumped = if args.on_real_numbers {
        real_numbers.iter().take(args.numbers).cloned().collect()
    } else {
        numbers(args.numbers, &mut rng, &mut taken)
    };
    for (n, number) in pumped.into_iter().enumerate() {
        let offset = rng.below(args.sign_up_every);
        let step = usize::try_from(args.sign_up_every).unwrap_or(600);
        for (k, at_s) in (offset..DAY_S).step_by(step).enumerate() {
            let user = format!("u{n}x{k}@mail.example");
            queue.push(Call { at_s, who: Who::Campaign, op: Op::SignUp, user, number: number.clone() });
        }
    }
    // Real users' own draws, so they behave alike under every policy the campaign meets.
    let mut real = Rng(args.seed.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1);
    let mut out = Outcome::default();
    for (n, number) in real_numbers.into_iter().enumerate() {
        // Accounts made before the day, under the guard: the sign-up binds, the e-mail confirms.
        let user = format!("r{n}@mail.example");
        let made =
            Call { at_s: 0, who: Who::Real, op: Op::SignUp, user: user.clone(), number: number.clone() };
        let _ = judge(policy, &store, &made, rng.address());
        let confirmed = Call { op: Op::ConfirmSignUp, ..made };
        let _ = judge(policy, &store, &confirmed, rng.address());
        for _ in 0..1 + real.below(4) {
            let at_s = 60 + real.below(DAY_S - 60);
            let right_password = real.below(10) != 0;
            let call = Call {
                at_s,
                who: Who::Real,
                op: Op::SignIn { right_password },
                user: user.clone(),
                number: number.clone(),
            };
            queue.push(call);
        }
    }
    let mut refused_real: HashSet<String> = HashSet::new();
    while let Some(index) = (0..queue.len()).min_by_key(|&i| (queue[i].at_s, i)) {
        let call = queue.swap_remove(index);
        let (action, rules) = judge(policy, &store, &call, rng.address());
        let allowed = action == Action::Allow;
        if !allowed {
            for rule in rules {
                *out.refusing_rules.entry(format!("{:?} {rule}", call.who)).or_default() += 1;
            }
        }
        match (call.who, call.op) {
            (Who::Campaign, Op::SignUp) if allowed => {
                queue.push(Call { op: Op::ConfirmSignUp, ..call.clone() });
                let at_s = call.at_s + 1;
                queue.push(Call { at_s, op: Op::SignIn { right_password: true }, ..call });
            }
            (Who::Campaign, Op::SignIn { .. }) => {
                if allowed {
                    *out.codes.entry(Who::Campaign).or_default() += 1;
                    *out.per_number.entry(call.number.clone()).or_default() += 1;
                }
                let at_s = call.at_s + args.sign_in_every;
                if at_s < DAY_S {
                    queue.push(Call { at_s, ..call });
                }
            }
            (Who::Real, Op::SignIn { right_password }) => {
                out.real_sign_ins += 1;
                if !allowed {
                    out.real_sign_ins_refused += 1;
                    refused_real.insert(call.user.clone());
                } else if !right_password {
                    // Typed again, right this time, a few seconds later.
                    let at_s = call.at_s + 5 + real.below(20);
                    queue.push(Call { at_s, op: Op::SignIn { right_password: true }, ..call });
                } else {
                    *out.codes.entry(Who::Real).or_default() += 1;
                    if real.below(10) < 9 {
                        let at_s = call.at_s + 20 + real.below(60);
                        queue.push(Call { at_s, op: Op::EnterCode, ..call });
                    }
                }
            }
            _ => {}
        }
    }
    out.real_users_refused = refused_real;
    out
}

struct Args {
    policy: String,
    numbers: usize,
    real_users: usize,
    sign_up_every: u64,
    sign_in_every: u64,
    on_real_numbers: bool,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        policy: "policies/recommended-cognito.json".to_owned(),
        numbers: 20,
        real_users: 2_000,
        sign_up_every: 600,
        sign_in_every: 120,
        on_real_numbers: false,
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
            "--sign-in-every" => args.sign_in_every = number(value(&arg)?)?.max(1),
            "--on-real-numbers" => args.on_real_numbers = true,
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
        rules.retain(|rule| rule.get("bound_sign_ins").is_none());
    }
    let without = Policy::from_json(&doc.to_string()).map_err(|e| e.to_string())?;
    println!(
        "{}, seed {}: {} pumped numbers, an account each every {} s, each signing in every {} s; {} real users",
        args.policy, args.seed, args.numbers, args.sign_up_every, args.sign_in_every, args.real_users
    );
    println!(
        "{:24} {:>13} {:>19} {:>22} {:>16}",
        "policy", "pumped codes", "per number (min-max)", "real sign-ins refused", "real codes sent"
    );
    for (name, policy) in [("without bound_sign_ins", &without), ("as given", &shipped)] {
        let out = run(policy, &args);
        let codes = |who| out.codes.get(&who).copied().unwrap_or(0);
        let min = out.per_number.values().min().copied().unwrap_or(0);
        let max = out.per_number.values().max().copied().unwrap_or(0);
        println!(
            "{name:24} {:>13} {:>19} {:>10} of {:<9} {:>16}",
            codes(Who::Campaign),
            format!("{min}-{max}"),
            out.real_sign_ins_refused,
            out.real_sign_ins,
            codes(Who::Real),
        );
        let mut rules: Vec<_> = out.refusing_rules.iter().collect();
        rules.sort_by(|a, b| b.1.cmp(a.1));
        let top: Vec<String> = rules.iter().take(6).map(|(rule, count)| format!("{rule} {count}")).collect();
        println!("{:24} refusals: {}", "", top.join(", "));
    }
    Ok(())
}
