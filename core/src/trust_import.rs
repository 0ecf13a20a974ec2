//! Importing trusted numbers: the site hands the guard the numbers its users verified before
//! (accounts that entered a code before the guard ran, or longer ago than its memory), and each
//! is trusted as a confirmed code would trust it. Without it a guard deployed today judges every
//! returning user as a stranger for a whole `trust_seconds`.
//!
//! An authenticated `POST` to the policy's `trust_import.path`, answered by the guard itself:
//! nothing reaches origin. The body is `{"numbers": ["+14155550100", …]}`; the answer says how
//! many were trusted and which were rejected. Importing a number twice only renews it, so a
//! batch that met a store failure (503) is simply sent again.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::schema::TrustImportDoc;
use crate::config::{ConfigErrors, InputOutcome};
use crate::decision::{Action, Decision, Reason, ReasonCode};
use crate::engine::{counter_key, input_reason, CheckOutcome, CounterCheck, CounterOp};
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
}

/// One rejected entry of an import, by its position in `numbers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// Position in the request's `numbers`.
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
    /// Numbers whose write the store failed (status 503: send the batch again).
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
    /// Not `{"numbers": [strings]}`.
    Malformed(String),
    /// More than `max_numbers` entries.
    TooMany(usize),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    numbers: Vec<String>,
}

impl TrustImport {
    /// Compiles and validates the section; `reputation`: the policy's `reputation` rule (index
    /// and id), whose `trust_seconds` an imported number is trusted for.
    pub(crate) fn compile(
        doc: &TrustImportDoc,
        reputation: Option<(u16, Arc<str>)>,
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

    /// Reads an import request: the distinct numbers to trust (E.164 digits) and the rejected
    /// entries, or why the whole request is refused.
    pub(crate) fn read(
        &self,
        req: &Request<'_>,
        max_body_bytes: usize,
    ) -> Result<(Vec<String>, Vec<Rejected>), ImportRefusal> {
        if !req.method.eq_ignore_ascii_case("POST") {
            return Err(ImportRefusal::Method);
        }
        if !self.authorized(req) {
            return Err(ImportRefusal::Unauthorized);
        }
        if req.body_truncated || req.body.len() > max_body_bytes {
            return Err(ImportRefusal::TooLarge);
        }
        let body: ImportBody = serde_json::from_slice(req.body)
            .map_err(|e| ImportRefusal::Malformed(format!("expected {{\"numbers\": [\"+…\", …]}}: {e}")))?;
        if body.numbers.len() > self.max_numbers as usize {
            return Err(ImportRefusal::TooMany(body.numbers.len()));
        }
        let parser = PhoneParser::new(None);
        let mut digits = Vec::with_capacity(body.numbers.len());
        let mut rejected = Vec::new();
        for (index, raw) in body.numbers.iter().enumerate() {
            let raw = raw.trim();
            if !raw.starts_with('+') {
                rejected.push(Rejected { index, error: ImportRejection::NotE164 });
                continue;
            }
            match parser.parse(raw) {
                Ok(number) => digits.push(number.digits().to_owned()),
                Err(_) => rejected.push(Rejected { index, error: ImportRejection::UnparseableNumber }),
            }
        }
        // Each number written once however often it is listed; the order of writes is free.
        digits.sort_unstable();
        digits.dedup();
        Ok((digits, rejected))
    }

    /// An import of trusted numbers: refused whole (method, token, body), or answered with its
    /// writes pending, one [`CounterOp::TrustImport`] per distinct number. No peek round: an
    /// import refuses nothing, so it goes straight to the commit.
    pub(crate) fn prepare(&self, req: &Request<'_>, max_body_bytes: usize) -> Decision {
        let mut decision = Decision::unguarded();
        let (digits, rejected) = match self.read(req, max_body_bytes) {
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
                        Some(format!("{n} numbers, at most {} per import", self.max_numbers)),
                    ),
                };
                decision.reasons.push(input_reason(code, InputOutcome::Block, detail));
                decision.settle();
                return decision;
            }
        };
        decision.commits = digits
            .iter()
            .map(|d| {
                CounterCheck::new(
                    self.rule,
                    counter_key("tr:", &self.rule_id, d),
                    CounterOp::TrustImport,
                    None,
                )
            })
            .collect();
        decision.action = Action::Answer;
        decision.status = 200;
        decision.trust_import = Some(ImportSummary {
            trusted: u32::try_from(digits.len()).unwrap_or(u32::MAX),
            rejected,
            failed: 0,
        });
        decision
    }
}

/// Folds the outcomes of an import's writes (`planned` of them) into its answer: a number whose
/// write failed is not trusted, and the answer becomes 503 so the batch is sent again.
pub(crate) fn settle(decision: &mut Decision, planned: usize, results: &[CheckOutcome]) {
    let done = results.iter().take(planned).filter(|r| matches!(r, CheckOutcome::Verdict(_))).count();
    let failed = u32::try_from(planned.saturating_sub(done)).unwrap_or(u32::MAX);
    if let Some(summary) = decision.trust_import.as_mut() {
        summary.trusted = summary.trusted.saturating_sub(failed);
        summary.failed = failed;
    }
    if failed > 0 {
        decision.status = 503;
        // Named as the decision's reason, so metrics and alerts on store failures see it.
        decision.reasons.push(Reason {
            rule: None,
            code: ReasonCode::StoreUnavailable,
            action: Action::Answer,
            enforced: true,
            retry_after_ms: None,
            number: None,
            detail: Some(format!("{failed} of {planned} writes failed")),
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
