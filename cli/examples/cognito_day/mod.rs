//! What the Cognito measurements (`account_amplification`, `mfa_sign_in_amplification`) share:
//! their seeded randomness, the campaign's browser, the numbers it pumps, and one call through
//! the guard with Cognito's answer recorded as a host records it.

use std::collections::HashSet;
use std::net::IpAddr;

use pumpguard_core::routes::ConfirmResponse;
use pumpguard_core::{Decision, MemoryStore, Policy, Request, Timestamp, TokenVerdict};

pub const DAY_S: u64 = 86_400;
const START_MS: u64 = 1_767_700_800_000; // 2026-01-06 12:00 UTC

/// xorshift64*: the measurement's own small, seeded randomness.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A residential address out of a pool the size of a large botnet.
    pub fn address(&mut self) -> IpAddr {
        let b = |r: &mut Rng, lo: u64, n: u64| u8::try_from(lo + r.below(n)).unwrap_or(1);
        IpAddr::from([b(self, 24, 76), b(self, 0, 256), b(self, 0, 256), b(self, 1, 254)])
    }
}

/// A real Chrome's headers on a call to Cognito operation `op`, from the numbers' country, with
/// a CAPTCHA token (every token verifies: a farm solved it).
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

/// US mobiles, each in a 6-digit prefix (area code and exchange) of its own.
pub fn numbers(count: usize, rng: &mut Rng, taken: &mut HashSet<u64>) -> Vec<String> {
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

/// Cognito operation `op` with JSON `body` at `at_s` seconds into the day from `client`, judged
/// by `policy`; when the guard lets it through, Cognito's answer `(status, body)` is recorded as
/// a host records it.
pub fn call(
    policy: &Policy,
    store: &MemoryStore,
    op: &str,
    body: &str,
    at_s: u64,
    client: IpAddr,
    answer: (u16, &str),
) -> Decision {
    let owned = headers(op);
    let refs: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let now = Timestamp::from_millis(START_MS + at_s * 1000);
    let req = Request {
        method: "POST",
        authority: "cognito-idp.us-east-1.amazonaws.com",
        path: "/",
        version: pumpguard_core::HttpVersion::Http11,
        headers: &refs,
        body: body.as_bytes(),
        body_truncated: false,
        client_ip: Some(client),
        tls: Default::default(),
        edge: Default::default(),
    };
    let decision = policy.decide_verified(&req, now, store, |_| TokenVerdict::Valid { solver: None });
    if decision.action == pumpguard_core::Action::Allow {
        let response = ConfirmResponse { status: answer.0, headers: &[], body: Some(answer.1.as_bytes()) };
        policy.record_confirm(&decision, &response, now, store);
    }
    decision
}

/// Where the measurement posts a site's import, and its token.
const IMPORT_PATH: &str = "/__pumpguard/trusted-numbers";
#[allow(dead_code)] // only the account measurement imports
const IMPORT_TOKEN: &str = "pumpguard-scenario-import-token";
const IMPORT_TOKEN_SHA256: &str = "9d737af9ee7e536d5a63c063a963110f6910183ff55527f6352855733e569804";

/// The policy at `path` as given, and without its rules of kind `kind` (the measurement's
/// "before"); with `import`, both take the site's imports.
pub fn policies(path: &str, kind: &str, import: bool) -> Result<(Policy, Policy), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if import {
        doc["trust_import"] = serde_json::json!({"path": IMPORT_PATH, "token_sha256": IMPORT_TOKEN_SHA256,
                                                 "max_numbers": 10_000});
    }
    let given = Policy::from_json(&doc.to_string()).map_err(|e| e.to_string())?;
    if let Some(rules) = doc.get_mut("rules").and_then(|r| r.as_array_mut()) {
        rules.retain(|rule| rule.get(kind).is_none());
    }
    let without = Policy::from_json(&doc.to_string()).map_err(|e| e.to_string())?;
    Ok((given, without))
}

/// The site imports `accounts` (name, number; every one marked `verified`: the service sends
/// its codes there), as its daily job would before the day.
#[allow(dead_code)] // only the account measurement imports
pub fn import_accounts(policy: &Policy, store: &MemoryStore, accounts: &[(String, String)]) {
    let auth = format!("Bearer {IMPORT_TOKEN}");
    let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
    let now = Timestamp::from_millis(START_MS);
    // In bodies that fit the policy's `inputs.max_body_bytes`, as `trust-batches --batch` writes them.
    for batch in accounts.chunks(100) {
        let entries: Vec<_> = batch
            .iter()
            .map(|(account, number)| serde_json::json!({"account": account, "number": number, "verified": true}))
            .collect();
        let body = serde_json::json!({ "accounts": entries }).to_string();
        let req = Request {
            method: "POST",
            authority: "app.example.com",
            path: IMPORT_PATH,
            version: pumpguard_core::HttpVersion::Http11,
            headers: &headers,
            body: body.as_bytes(),
            body_truncated: false,
            client_ip: None,
            tls: Default::default(),
            edge: Default::default(),
        };
        let decision = policy.decide(&req, now, store);
        let done = policy.commit(decision, now, store);
        assert_eq!(done.status, 200, "the import: {:?}", done.error_body());
    }
}

/// The measurement's options: the policy file, the campaign's numbers and pace, the real users,
/// the seed. `every` is the pace of each account's repeated call (`every_flag`).
pub struct Args {
    pub policy: String,
    pub numbers: usize,
    pub real_users: usize,
    pub sign_up_every: u64,
    pub every: u64,
    pub on_real_numbers: bool,
    /// Accounts per number the campaign made before the guard ran (`--made-before`).
    pub made_before: usize,
    /// The site imports its accounts with their numbers (`--imported`).
    pub imported: bool,
    /// Sign-ins as Amplify makes them by default, in a pool whose users sign in by e-mail
    /// (`--srp`): SRP, whose second step names the user by the `sub` Cognito answered its
    /// sign-up with, not by the e-mail.
    pub srp: bool,
    pub seed: u64,
}

/// The command line's options; `every_flag` names the repeated call's pace (`--resend-every`),
/// `on_real_numbers` whether the measurement can aim the campaign at real users' numbers,
/// `legacy` whether it can give the campaign accounts made before the guard ran, `srp` whether
/// its sign-ins can be Amplify's SRP ones.
pub fn parse_args(every_flag: &str, on_real_numbers: bool, legacy: bool, srp: bool) -> Result<Args, String> {
    let mut args = Args {
        policy: "policies/recommended-cognito.json".to_owned(),
        numbers: 20,
        real_users: 2_000,
        sign_up_every: 600,
        every: 120,
        on_real_numbers: false,
        made_before: 0,
        imported: false,
        srp: false,
        seed: 1,
    };
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        let mut value = |name: &str| given.next().ok_or(format!("{name} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{v}: {e}"));
        let count = |v: u64| usize::try_from(v).map_err(|e| e.to_string());
        match arg.as_str() {
            "--numbers" => args.numbers = count(number(value(&arg)?)?)?,
            "--real-users" => args.real_users = count(number(value(&arg)?)?)?,
            "--sign-up-every" => args.sign_up_every = number(value(&arg)?)?.max(1),
            "--seed" => args.seed = number(value(&arg)?)?,
            "--on-real-numbers" if on_real_numbers => args.on_real_numbers = true,
            "--made-before" if legacy => args.made_before = count(number(value(&arg)?)?)?,
            "--imported" if legacy => args.imported = true,
            "--srp" if srp => args.srp = true,
            flag if flag == every_flag => args.every = number(value(&arg)?)?.max(1),
            _ if !arg.starts_with("--") => args.policy = arg,
            _ => return Err(format!("unknown option {arg}")),
        }
    }
    Ok(args)
}
