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
//! them that their number's count is spent by others. With `--srp` every sign-in is Amplify's
//! default one in a pool whose users sign in by e-mail: SRP, its second step
//! (`RespondToAuthChallenge` answering `PASSWORD_VERIFIER`) naming the user by the `sub`
//! Cognito answered the sign-up with, and the code entered under that name too.
//!
//! ```text
//! cargo run -q -p pumpguard-cli --example mfa_sign_in_amplification -- policies/recommended-cognito.json
//! ```

mod cognito_day;

use std::collections::{BTreeMap, HashSet};

use cognito_day::{numbers, Args, Rng, DAY_S};
use pumpguard_core::{Action, MemoryStore, Policy};

/// Cognito's answers: a right password with SMS MFA, a wrong password, a right code, and an
/// empty success (a sign-up's: [`sign_up_answer`]).
const SMS_MFA: &str = r#"{"ChallengeName": "SMS_MFA", "ChallengeParameters": {"CODE_DELIVERY_DELIVERY_MEDIUM": "SMS", "CODE_DELIVERY_DESTINATION": "+*******0000"}, "Session": "s"}"#;
const WRONG_PASSWORD: &str = r#"{"__type": "NotAuthorizedException"}"#;
const SIGNED_IN: &str = r#"{"AuthenticationResult": {"AccessToken": "t"}}"#;

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

/// The `sub` Cognito makes user `user` (a UUID; here one per name).
fn sub_of(user: &str) -> String {
    let hash =
        user.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{:08x}-0000-4000-8000-{:012x}", hash >> 32, hash & 0xffff_ffff_ffff)
}

/// Cognito's answer to a sign-up whose code went by e-mail: the `sub` it made the user.
fn sign_up_answer(user: &str) -> String {
    serde_json::json!({"CodeDeliveryDetails": {"AttributeName": "email", "DeliveryMedium": "EMAIL",
        "Destination": "m***@m***"}, "UserConfirmed": false, "UserSub": sub_of(user)})
    .to_string()
}

fn body(call: &Call, srp: bool) -> String {
    // What an SRP sign-in's judged step and its code name the user by.
    let sub = sub_of(&call.user);
    match call.op {
        Op::SignIn { .. } if srp => serde_json::json!({"ClientId": "c", "ChallengeName": "PASSWORD_VERIFIER",
            "Session": "s", "ChallengeResponses": {"USERNAME": sub, "PASSWORD_CLAIM_SECRET_BLOCK": "b",
                "PASSWORD_CLAIM_SIGNATURE": "s", "TIMESTAMP": "t"}}),
        Op::EnterCode if srp => serde_json::json!({"ClientId": "c", "ChallengeName": "SMS_MFA", "Session": "s",
            "ChallengeResponses": {"USERNAME": sub, "SMS_MFA_CODE": "1"}}),
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
fn answer(call: &Call) -> (u16, String) {
    let (status, text) = match call.op {
        Op::SignUp => return (200, sign_up_answer(&call.user)),
        Op::SignIn { right_password: true } => (200, SMS_MFA),
        Op::SignIn { right_password: false } => (400, WRONG_PASSWORD),
        Op::EnterCode => (200, SIGNED_IN),
        Op::ConfirmSignUp => (200, "{}"),
    };
    (status, text.to_owned())
}

/// One call through the guard and, when it lets it through, Cognito's answer recorded as a host
/// records it: the action and the rules that refused it.
fn judge(
    policy: &Policy,
    store: &MemoryStore,
    call: &Call,
    client: std::net::IpAddr,
    srp: bool,
) -> (Action, Vec<String>) {
    let (status, text) = answer(call);
    let target =
        if srp && matches!(call.op, Op::SignIn { .. }) { "RespondToAuthChallenge" } else { call.op.target() };
    let decision =
        cognito_day::call(policy, store, target, &body(call, srp), call.at_s, client, (status, &text));
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
        let _ = judge(policy, &store, &made, rng.address(), args.srp);
        let confirmed = Call { op: Op::ConfirmSignUp, ..made };
        let _ = judge(policy, &store, &confirmed, rng.address(), args.srp);
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
        let (action, rules) = judge(policy, &store, &call, rng.address(), args.srp);
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
                let at_s = call.at_s + args.every;
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

fn main() -> Result<(), String> {
    let args = cognito_day::parse_args("--sign-in-every", true, false, true)?;
    let (shipped, without) = cognito_day::policies(&args.policy, "bound_sign_ins", false)?;
    println!(
        "{}, seed {}: {} pumped numbers, an account each every {} s, each signing in every {} s{}; {} real users",
        args.policy,
        args.seed,
        args.numbers,
        args.sign_up_every,
        args.every,
        if args.srp { " by SRP" } else { "" },
        args.real_users
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
