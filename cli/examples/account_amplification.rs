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

mod cognito_day;

use std::collections::{BTreeMap, HashSet};

use cognito_day::{numbers, Args, Rng, DAY_S};
use pumpguard_core::{Action, MemoryStore, Policy};

const BY_SMS: &str = r#"{"CodeDeliveryDetails": {"AttributeName": "phone_number", "DeliveryMedium": "SMS", "Destination": "+*******0000"}}"#;

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

/// Runs the day under `policy`: calls in time order, each account's later calls only once its
/// sign-up reached Cognito (the campaign's resends, the real user's resends and confirmation).
fn run(policy: &Policy, args: &Args) -> Outcome {
    let mut rng = Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut taken = HashSet::new();
    let mut queue: Vec<Call> = Vec::new();
    let store = MemoryStore::new();
    let mut made_before = Vec::new();
    for (n, number) in numbers(args.numbers, &mut rng, &mut taken).into_iter().enumerate() {
        let offset = rng.below(args.sign_up_every);
        if args.made_before > 0 {
            // Accounts from before the guard ran: never seen signing up, asking from the start.
            for k in 0..args.made_before {
                let user = format!("u{n}y{k}@mail.example");
                made_before.push((user.clone(), number.clone()));
                let at_s = rng.below(args.every);
                queue.push(Call {
                    at_s,
                    who: Who::Campaign,
                    op: "ResendConfirmationCode",
                    user,
                    number: number.clone(),
                });
            }
            continue;
        }
        for (k, at_s) in
            (offset..DAY_S).step_by(usize::try_from(args.sign_up_every).unwrap_or(600)).enumerate()
        {
            let user = format!("u{n}x{k}@mail.example");
            queue.push(Call { at_s, who: Who::Campaign, op: "SignUp", user, number: number.clone() });
        }
    }
    if args.imported {
        cognito_day::import_accounts(policy, &store, &made_before);
    }
    for (n, number) in numbers(args.real_users, &mut rng, &mut taken).into_iter().enumerate() {
        let at_s = rng.below(DAY_S);
        queue.push(Call { at_s, who: Who::Real, op: "SignUp", user: format!("r{n}@mail.example"), number });
    }
    // Real users' own draws, so they behave alike under every policy the campaign meets.
    let mut real = Rng(args.seed.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1);
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
        let answer = if call.op == "SignUp" || call.op == "ResendConfirmationCode" { BY_SMS } else { "{}" };
        let client = rng.address();
        let decision =
            cognito_day::call(policy, &store, call.op, &body(&call), call.at_s, client, (200, answer));
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
                let at_s = call.at_s + args.every;
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

fn main() -> Result<(), String> {
    let args = cognito_day::parse_args("--resend-every", false, true, false)?;
    let (shipped, unbound) = cognito_day::policies(&args.policy, "bound_number", args.imported)?;
    println!(
        "{}, seed {}: {} pumped numbers, a sign-up each every {} s, each account resending every {} s; {} real users",
        args.policy, args.seed, args.numbers, args.sign_up_every, args.every, args.real_users
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
