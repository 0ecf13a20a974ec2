//! Compiled rules and the stateless checks. Stateful rules (counters) are run by the engine
//! through `limit` and the store.

mod country;
mod pattern;
mod prefix;

pub use country::CountrySet;
pub use pattern::NumberPattern;
pub use prefix::{parse_prefix, PrefixSet};

use std::collections::HashSet;
use std::sync::Arc;

use crate::config::RuleAction;
use crate::fingerprint::FingerprintKind;
use crate::limit::{AdjacentParams, BackoffParams, ConversionParams, GcraParams};
use crate::phone::{NumberType, PhoneNumber};

/// A rule ready to run.
#[derive(Debug)]
pub struct Rule {
    pub id: Arc<str>,
    pub action: RuleAction,
    pub shadow: bool,
    /// Indexes of the routes the rule applies to.
    pub routes: Vec<usize>,
    pub kind: RuleKind,
}

#[derive(Debug)]
pub enum RuleKind {
    Country { allow: CountrySet, deny: CountrySet, monitor: CountrySet },
    NumberType { allow: TypeSet, deny: TypeSet },
    Pattern { allow: Vec<NumberPattern>, deny: Vec<NumberPattern> },
    Prefix(PrefixSet),
    Fingerprint { kind: FingerprintKind, deny: HashSet<String>, missing: bool },
    Captcha,
    RateLimit { key: Vec<KeyPart>, params: GcraParams },
    Backoff(BackoffParams),
    Adjacent(AdjacentParams),
    Conversion(ConversionParams),
}

impl RuleKind {
    /// Counter rules need the store; the others are judged from the request alone.
    pub fn is_stateful(&self) -> bool {
        matches!(
            self,
            RuleKind::RateLimit { .. }
                | RuleKind::Backoff(_)
                | RuleKind::Adjacent(_)
                | RuleKind::Conversion(_)
        )
    }
}

/// One part of a rate-limit key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPart {
    /// The client address cut to its network: the first `v4` / `v6` bits.
    ClientIp {
        v4: u8,
        v6: u8,
    },
    Number,
    Prefix(usize),
    Country,
    CallingCode,
    Route,
    /// Lower-cased header name.
    Header(String),
    Fingerprint(FingerprintKind),
}

impl KeyPart {
    /// Parts that differ per number make one counter per number of the request.
    pub fn is_per_number(&self) -> bool {
        matches!(self, KeyPart::Number | KeyPart::Prefix(_) | KeyPart::Country | KeyPart::CallingCode)
    }
}

/// A set of number types as a bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypeSet(u16);

impl TypeSet {
    pub fn insert(&mut self, t: NumberType) {
        self.0 |= 1 << (t as u16);
    }

    pub fn contains(self, t: NumberType) -> bool {
        self.0 & (1 << (t as u16)) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Why a stateless rule triggered for a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberFinding {
    CountryNotAllowed,
    CountryDenied,
    CountryMonitored,
    NumberTypeNotAllowed,
    NumberTypeDenied,
    PatternNotAllowed,
    PatternDenied,
    PrefixBlocked,
}

/// Stateless checks of one number against one rule; several findings are possible (monitor).
pub fn check_number(kind: &RuleKind, number: &PhoneNumber, out: &mut Vec<NumberFinding>) {
    match kind {
        RuleKind::Country { allow, deny, monitor } => {
            if !allow.is_empty() && !allow.contains(number) {
                out.push(NumberFinding::CountryNotAllowed);
            }
            if deny.contains(number) {
                out.push(NumberFinding::CountryDenied);
            }
            if monitor.contains(number) {
                out.push(NumberFinding::CountryMonitored);
            }
        }
        RuleKind::NumberType { allow, deny } => {
            let t = number.number_type();
            if !allow.is_empty() && !allow.contains(t) {
                out.push(NumberFinding::NumberTypeNotAllowed);
            }
            if deny.contains(t) {
                out.push(NumberFinding::NumberTypeDenied);
            }
        }
        RuleKind::Pattern { allow, deny } => {
            let e164 = number.e164();
            if !allow.is_empty() && !allow.iter().any(|r| r.is_match(e164)) {
                out.push(NumberFinding::PatternNotAllowed);
            }
            if deny.iter().any(|r| r.is_match(e164)) {
                out.push(NumberFinding::PatternDenied);
            }
        }
        RuleKind::Prefix(set) if set.longest_match(number.digits()).is_some() => {
            out.push(NumberFinding::PrefixBlocked);
        }
        _ => {}
    }
}
