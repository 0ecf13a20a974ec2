//! Importing trusted numbers: the site hands the guard the numbers its users verified before
//! (accounts that entered a code before the guard ran, or longer ago than its memory), and each
//! is trusted as a confirmed code would trust it. Without it a guard deployed today judges every
//! returning user as a stranger for a whole `trust_seconds`.
//!
//! An authenticated `POST` to the policy's `trust_import.path`, answered by the guard itself:
//! nothing reaches origin. The body is `{"numbers": ["+14155550100", …]}`; the answer says how
//! many were trusted and which were rejected. Importing a number twice only renews it, so a
//! batch that met a store failure (503) is simply sent again.
//!
//! The same body may list the site's accounts with their numbers (`"accounts": [{"account":
//! "alice@example.com", "number": "+14155550100", "verified": true}]`): an account the guard saw
//! no sign-up of (made before it ran) is then judged by its number as one it saw is, by the
//! policy's `bound_number` rule (verified numbers: the service sends every SMS of the account
//! there) and `bound_sign_ins` rule (any: SMS MFA goes there; a verified one is proven).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::schema::TrustImportDoc;
use crate::config::{ConfigErrors, InputOutcome};
use crate::decision::{Action, Decision, Reason, ReasonCode};
use crate::engine::{counter_key, imported_account_key, input_reason, CheckOutcome, CounterCheck, CounterOp};
use crate::phone::PhoneParser;
use crate::request::Request;

/// A compiled `trust_import` section.
#[derive(Clone, Debug)]
pub struct TrustImport {
    /// Exact path the import is posted to (no query).
    pub(crate) path: String,
    /// SHA-256 of the bearer token: the policy holds no secret an import could be forged with.
    token_sha256: [u8; 32],
    /// Most numbers one request may carry.
    pub(crate) max_numbers: u32,
    /// The policy's `reputation` rule (index and id): an import writes its trust entries.
    rule: u16,
    rule_id: Arc<str>,
    /// The policy's `bound_number` and `bound_sign_ins` rules (index and id): an import of
    /// accounts writes their records.
    bound: Option<(u16, Arc<str>)>,
    sign_ins: Option<(u16, Arc<str>)>,
}

/// Why an imported number was not trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportRejection {
    /// Not written in E.164 (`+` and the country code): a site's records are, and guessing a
    /// region could trust another person's number.
    NotE164,
    /// Does not parse as a phone number.
    UnparseableNumber,
    /// An account without a name, or one no rule of the policy judges by its number (it has
    /// neither a `bound_number` rule nor a `bound_sign_ins` rule).
    AccountNotJudged,
}

/// One rejected entry of an import, by its position in `numbers` (or in `accounts`, in
/// `rejected_accounts`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// Position in the request's list.
    pub index: usize,
    /// Why it was not trusted.
    pub error: ImportRejection,
}

/// What an import did, the body of its answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Distinct numbers now trusted.
    pub trusted: u32,
    /// Entries not trusted, and why.
    pub rejected: Vec<Rejected>,
    /// Accounts now judged by their numbers (only when the import listed accounts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<u32>,
    /// Accounts not recorded, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected_accounts: Vec<Rejected>,
    /// Writes the store failed (status 503: send the batch again).
    #[serde(skip_serializing_if = "is_zero")]
    pub failed: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ImportSummary {
    /// The JSON body of the answer; `store_unavailable` is named when a write failed.
    pub fn body(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if self.failed > 0 {
            if let Some(object) = value.as_object_mut() {
                object.insert("error".to_owned(), "store_unavailable".into());
            }
        }
        value.to_string()
    }
}

/// Why an import request is refused as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ImportRefusal {
    /// Any method but `POST`.
    Method,
    /// No `authorization: Bearer` header, or not the token.
    Unauthorized,
    /// Over `inputs.max_body_bytes`.
    TooLarge,
    /// Not `{"numbers": [strings], "accounts": [{"account", "number", "verified"}]}`.
    Malformed(String),
    /// More than `max_numbers` entries (numbers and accounts together).
    TooMany(usize),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    #[serde(default)]
    numbers: Vec<String>,
    #[serde(default)]
    accounts: Vec<ImportedAccount>,
}

/// An account of the site's records and its number.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportedAccount {
    /// A name requests use for the account (a user name, an e-mail alias).
    account: String,
    /// Its phone number, in E.164.
    number: String,
    /// The service sends the account's codes to the number: the site verified it (a code sent
    /// there was entered), or the account is unconfirmed in a pool that verifies phones.
    #[serde(default)]
    verified: bool,
}

/// An account to record: its name, its number's E.164 digits, whether the service sends its
/// codes there.
pub(crate) struct AccountEntry {
    name: String,
    digits: u64,
    verified: bool,
}

/// What an import request holds: the distinct numbers to trust (E.164 digits), the accounts to
/// record, and the entries rejected from each list.
pub(crate) struct ImportRead {
    numbers: Vec<String>,
    rejected: Vec<Rejected>,
    accounts: Option<Vec<AccountEntry>>,
    rejected_accounts: Vec<Rejected>,
}

impl TrustImport {
    /// Compiles and validates the section; `reputation`: the policy's `reputation` rule (index
    /// and id), whose `trust_seconds` an imported number is trusted for.
    pub(crate) fn compile(
        doc: &TrustImportDoc,
        reputation: Option<(u16, Arc<str>)>,
        bound: Option<(u16, Arc<str>)>,
        sign_ins: Option<(u16, Arc<str>)>,
        errs: &mut ConfigErrors,
    ) -> Option<Self> {
        let mut ok = true;
        let mut err = |path: &str, message: &str| {
            ok = false;
            errs.push(path, message);
        };
        if !doc.path.starts_with('/') || doc.path.contains(['?', '#']) || doc.path.len() > 256 {
            err("trust_import.path", "must be a path starting with '/', without a query, at most 256 bytes");
        }
        let token = decode_sha256(&doc.token_sha256);
        if token.is_none() {
            err(
                "trust_import.token_sha256",
                "must be the SHA-256 of the import token as 64 hex digits (e.g. `printf %s \"$TOKEN\" | sha256sum`)",
            );
        }
        if token == Some(Sha256::digest(b"").into()) {
            err("trust_import.token_sha256", "is the SHA-256 of an empty token");
        }
        if doc.max_numbers == 0 || doc.max_numbers > 10_000 {
            err("trust_import.max_numbers", "must be between 1 and 10000");
        }
        if reputation.is_none() {
            err(
                "trust_import",
                "needs a `reputation` rule: its trust_seconds is how long an imported number is trusted",
            );
        }
        if !ok {
            return None;
        }
        let (rule, rule_id) = reputation?;
        Some(TrustImport {
            path: doc.path.clone(),
            token_sha256: token?,
            max_numbers: doc.max_numbers,
            rule,
            rule_id,
            bound,
            sign_ins,
        })
    }

    /// Whether the request is an import (whatever its method: the path is the guard's own).
    pub(crate) fn matches(&self, req: &Request<'_>) -> bool {
        req.path_only() == self.path
    }

    /// Whether the request carries the import token.
    fn authorized(&self, req: &Request<'_>) -> bool {
        let Some(value) = req.header("authorization") else { return false };
        let Some((scheme, token)) = value.trim().split_once(' ') else { return false };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return false;
        }
        let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        // Compared whole, without an early exit, so timing does not tell how much matched.
        digest.iter().zip(self.token_sha256.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// Reads an import request, or why the whole request is refused.
    pub(crate) fn read(&self, req: &Request<'_>, max_body_bytes: usize) -> Result<ImportRead, ImportRefusal> {
        if !req.method.eq_ignore_ascii_case("POST") {
            return Err(ImportRefusal::Method);
        }
        if !self.authorized(req) {
            return Err(ImportRefusal::Unauthorized);
        }
        if req.body_truncated || req.body.len() > max_body_bytes {
            return Err(ImportRefusal::TooLarge);
        }
        // An object, not the sequence serde would also read a struct from (`[]`).
        if req.body.trim_ascii_start().first() != Some(&b'{') {
            return Err(ImportRefusal::Malformed("expected a JSON object".to_owned()));
        }
        let body: ImportBody = serde_json::from_slice(req.body).map_err(|e| {
            ImportRefusal::Malformed(format!(
                "expected {{\"numbers\": [\"+…\", …], \"accounts\": [{{\"account\": …, \"number\": \"+…\", \"verified\": …}}]}}: {e}"
            ))
        })?;
        let entries = body.numbers.len() + body.accounts.len();
        if entries > self.max_numbers as usize {
            return Err(ImportRefusal::TooMany(entries));
        }
        let parser = PhoneParser::new(None);
        let parse = |raw: &str| -> Result<String, ImportRejection> {
            let raw = raw.trim();
            if !raw.starts_with('+') {
                return Err(ImportRejection::NotE164);
            }
            parser.parse(raw).map(|n| n.digits().to_owned()).map_err(|_| ImportRejection::UnparseableNumber)
        };
        let mut numbers = Vec::with_capacity(body.numbers.len());
        let mut rejected = Vec::new();
        for (index, raw) in body.numbers.iter().enumerate() {
            match parse(raw) {
                Ok(digits) => numbers.push(digits),
                Err(error) => rejected.push(Rejected { index, error }),
            }
        }
        // Each number written once however often it is listed; the order of writes is free.
        numbers.sort_unstable();
        numbers.dedup();
        let judged = self.bound.is_some() || self.sign_ins.is_some();
        let mut accounts = Vec::with_capacity(body.accounts.len());
        let mut rejected_accounts = Vec::new();
        for (index, entry) in body.accounts.iter().enumerate() {
            if !judged || entry.account.trim().is_empty() {
                rejected_accounts.push(Rejected { index, error: ImportRejection::AccountNotJudged });
                continue;
            }
            match parse(&entry.number).map(|d| d.parse::<u64>()) {
                Ok(Ok(digits)) => accounts.push(AccountEntry {
                    name: entry.account.clone(),
                    digits,
                    verified: entry.verified,
                }),
                Ok(Err(_)) => {
                    rejected_accounts.push(Rejected { index, error: ImportRejection::UnparseableNumber })
                }
                Err(error) => rejected_accounts.push(Rejected { index, error }),
            }
        }
        let listed = !body.accounts.is_empty();
        Ok(ImportRead { numbers, rejected, accounts: listed.then_some(accounts), rejected_accounts })
    }

    /// The writes recording one imported account: its bound number when the site verified it
    /// (the service sends the account's every SMS there), and its sign-in number (SMS MFA goes
    /// there verified or not), proven when verified.
    fn account_writes(&self, entry: &AccountEntry) -> impl Iterator<Item = CounterCheck> + '_ {
        let bound = self.bound.as_ref().filter(|_| entry.verified).map(|(rule, id)| {
            let op = CounterOp::BindNumber { digits: entry.digits, answered: false };
            CounterCheck::new(*rule, imported_account_key("bn:", id, &entry.name), op, None)
        });
        let sign_in = self.sign_ins.as_ref().map(|(rule, id)| {
            let op = CounterOp::BindSignInNumber {
                digits: entry.digits,
                sign_up_by_sms: false,
                proven: entry.verified,
            };
            CounterCheck::new(*rule, imported_account_key("bm:", id, &entry.name), op, None)
        });
        bound.into_iter().chain(sign_in)
    }

    /// An import of trusted numbers and accounts: refused whole (method, token, body), or
    /// answered with its writes pending, one [`CounterOp::TrustImport`] per distinct number and
    /// the records of each account. No peek round: an import refuses nothing, so it goes straight
    /// to the commit.
    pub(crate) fn prepare(&self, req: &Request<'_>, max_body_bytes: usize) -> Decision {
        let mut decision = Decision::unguarded();
        let read = match self.read(req, max_body_bytes) {
            Ok(read) => read,
            Err(refusal) => {
                let (code, detail) = match refusal {
                    ImportRefusal::Method => (ReasonCode::MethodNotAllowed, None),
                    ImportRefusal::Unauthorized => (ReasonCode::ImportUnauthorized, None),
                    ImportRefusal::TooLarge => {
                        (ReasonCode::BodyTooLarge, Some(format!("body exceeds {max_body_bytes} bytes")))
                    }
                    ImportRefusal::Malformed(why) => (ReasonCode::BodyMalformed, Some(why)),
                    ImportRefusal::TooMany(n) => (
                        ReasonCode::TooManyNumbers,
                        Some(format!("{n} entries, at most {} per import", self.max_numbers)),
                    ),
                };
                decision.reasons.push(input_reason(code, InputOutcome::Block, detail));
                decision.settle();
                return decision;
            }
        };
        let trusts = read.numbers.iter().map(|d| {
            CounterCheck::new(self.rule, counter_key("tr:", &self.rule_id, d), CounterOp::TrustImport, None)
        });
        let accounts = read.accounts.iter().flatten().flat_map(|entry| self.account_writes(entry));
        decision.commits = trusts.chain(accounts).collect();
        decision.action = Action::Answer;
        decision.status = 200;
        decision.trust_import = Some(ImportSummary {
            trusted: u32::try_from(read.numbers.len()).unwrap_or(u32::MAX),
            rejected: read.rejected,
            accounts: read.accounts.map(|a| u32::try_from(a.len()).unwrap_or(u32::MAX)),
            rejected_accounts: read.rejected_accounts,
            failed: 0,
        });
        decision
    }
}

/// Folds the outcomes of an import's writes (`checks`, in order) into its answer: a number or
/// an account whose write failed is not counted, and the answer becomes 503 so the batch is sent
/// again (every write only renews what it wrote).
pub(crate) fn settle(decision: &mut Decision, checks: &[CounterCheck], results: &[CheckOutcome]) {
    let outcomes = results.iter().chain(std::iter::repeat(&CheckOutcome::StoreFailed));
    let failed: Vec<&CounterCheck> = checks
        .iter()
        .zip(outcomes)
        .filter(|(_, outcome)| !matches!(outcome, CheckOutcome::Verdict(_)))
        .map(|(check, _)| check)
        .collect();
    let failed_numbers = failed.iter().filter(|c| c.op == CounterOp::TrustImport).count();
    // An account's records share its key's tail (its tag): one failed account however many fail.
    let mut failed_accounts: Vec<&str> = failed
        .iter()
        .filter(|c| c.op != CounterOp::TrustImport)
        .filter_map(|c| c.key.rsplit(':').next())
        .collect();
    failed_accounts.sort_unstable();
    failed_accounts.dedup();
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    if let Some(summary) = decision.trust_import.as_mut() {
        summary.trusted = summary.trusted.saturating_sub(count(failed_numbers));
        if let Some(accounts) = summary.accounts.as_mut() {
            *accounts = accounts.saturating_sub(count(failed_accounts.len()));
        }
        summary.failed = count(failed.len());
    }
    if !failed.is_empty() {
        decision.status = 503;
        // Named as the decision's reason, so metrics and alerts on store failures see it.
        decision.reasons.push(Reason {
            rule: None,
            code: ReasonCode::StoreUnavailable,
            action: Action::Answer,
            enforced: true,
            retry_after_ms: None,
            number: None,
            detail: Some(format!("{} of {} writes failed", failed.len(), checks.len())),
            spared: false,
        });
    }
}

fn decode_sha256(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        *out.get_mut(i)? = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}
