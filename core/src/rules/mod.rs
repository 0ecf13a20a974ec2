//! Compiled rules and the stateless checks. Stateful rules (counters) are run by the engine
//! through `limit` and the store.

mod bot_score;
mod client;
mod client_country;
mod country;
mod pattern;
mod prefix;

pub use bot_score::{BotScoreRule, VerifiedBots, BELOW_RANGE as BOT_SCORE_BELOW_RANGE};
pub use client::{lacks_header, user_agent, BrowserClaim, ClientFacts, UserAgentClass};
pub use client_country::{client_country, differs as client_country_differs, ClientCountry, TorClients};
pub use country::CountrySet;
pub use pattern::NumberPattern;
pub use prefix::{parse_prefix, PrefixSet};

use std::collections::HashSet;
use std::sync::Arc;

use crate::config::RuleAction;
use crate::fingerprint::FingerprintKind;
use crate::limit::{
    AdjacentParams, BackoffParams, ConversionParams, GcraParams, ProvenPairsParams, ReputationParams,
    SurgeParams,
};
use crate::phone::{NumberType, PhoneNumber};

/// A rule ready to run.
#[derive(Debug)]
pub struct Rule {
    /// The policy's rule id, as logs, error bodies and metric names show it.
    pub id: Arc<str>,
    /// What the rule does when it fires.
    pub action: RuleAction,
    /// The rule's own `shadow`: only report, whatever `action` says.
    pub shadow: bool,
    /// Numbers the policy's reputation rule trusts are spared (counted, never acted on).
    pub skip_trusted: bool,
    /// Added to the request's risk score when the rule fires.
    pub risk: u32,
    /// Indexes of the routes the rule applies to.
    pub routes: Vec<usize>,
    /// What the rule checks.
    pub kind: RuleKind,
}

impl Rule {
    /// Whether the rule adds to the risk score when it fires (a shadow rule adds nothing).
    pub fn weighs_risk(&self) -> bool {
        self.risk > 0 && !self.shadow
    }
}

/// What a rule checks, with its compiled parameters.
#[derive(Debug)]
pub enum RuleKind {
    /// The number's country (ISO region or calling code).
    Country {
        /// When non-empty, numbers of any other country fire.
        allow: CountrySet,
        /// Numbers of these countries fire.
        deny: CountrySet,
        /// Numbers of these countries are only reported.
        monitor: CountrySet,
    },
    /// The number's libphonenumber type.
    NumberType {
        /// When non-empty, numbers of any other type fire.
        allow: TypeSet,
        /// Numbers of these types fire.
        deny: TypeSet,
    },
    /// Regular expressions on the E.164 number.
    Pattern {
        /// When non-empty, a number matching none of these fires.
        allow: Vec<NumberPattern>,
        /// A number matching any of these fires.
        deny: Vec<NumberPattern>,
    },
    /// A number starting with any of these E.164 prefixes fires.
    Prefix(PrefixSet),
    /// The request's client fingerprint.
    Fingerprint {
        /// Which fingerprint is read.
        kind: FingerprintKind,
        /// Values that fire, trimmed and lower-cased.
        deny: HashSet<String>,
        /// Also fire when the request carries no such fingerprint.
        missing: bool,
    },
    /// What the request says about the software that sent it.
    Client {
        /// Lower-case header names; the request lacking any of them fires.
        missing_headers: Vec<String>,
        /// `user-agent` classes that fire.
        user_agents: Vec<UserAgentClass>,
        /// Judge only requests whose `user-agent` makes this claim (`None`: every request).
        claims: Option<BrowserClaim>,
    },
    /// The client's country (from a header the edge sets) against the number's.
    ClientCountry {
        /// Lower-case name of the header carrying the client's country.
        header: String,
        /// Also fire when the header is absent or names no country.
        missing: bool,
        /// What a client coming through Tor counts as.
        tor: TorClients,
        /// Lower-case name of a header whose `true` marks a Tor client (`None`: only `T1`).
        tor_header: Option<String>,
        /// Pairs where real users keep confirming are spared; `None`: every mismatch fires.
        proven_pairs: Option<ProvenPairsParams>,
    },
    /// The edge's bot score (Cloudflare Bot Management, or a trusted proxy's header).
    BotScore(BotScoreRule),
    /// Always fires: with action `challenge`, the route needs a verified token.
    Captcha,
    /// A GCRA limit per key.
    RateLimit {
        /// Parts of the counter key, in policy order.
        key: Vec<KeyPart>,
        /// Rate, period and burst.
        params: GcraParams,
    },
    /// A growing wait between sends to one number.
    Backoff(BackoffParams),
    /// Too many distinct numbers of one block within a window.
    Adjacent(AdjacentParams),
    /// Too few confirmed codes per send in one scope.
    Conversion(ConversionParams),
    /// Which numbers recently confirmed a code, so `skip_trusted` rules spare them.
    Reputation(ReputationParams),
    /// Sends per scope against the scope's rolling baseline.
    Surge(SurgeParams),
    /// What the number-intelligence provider says of the number (looked up by the host).
    NumberIntel(crate::intel::IntelRule),
    /// A send naming only an account is judged as a send to the number the account's sign-up
    /// carried, kept `keep_ms` (see [`crate::limit`]'s bound numbers).
    BoundNumber {
        /// How long a sign-up's binding is kept, in milliseconds.
        keep_ms: u64,
    },
    /// A password sign-in naming an account whose sign-in number (where its SMS MFA codes go)
    /// the guard knows, by an account that never entered a code sent there, is refused once
    /// that number had its fill of SMS sign-in codes: with SMS MFA each right password sends
    /// one, and accounts are free to make.
    BoundSignIns(SignInParams),
}

/// A `bound_sign_ins` rule's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInParams {
    /// The codes a number may be sent by its accounts' sign-ins.
    pub codes: GcraParams,
    /// How long an account's sign-in number is kept, in milliseconds.
    pub keep_ms: u64,
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
                | RuleKind::Reputation(_)
                | RuleKind::Surge(_)
        )
    }
}

/// One part of a rate-limit key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPart {
    /// The client address cut to its network: the first `v4` / `v6` bits.
    ClientIp {
        /// IPv4 bits kept, 1 to 32.
        v4: u8,
        /// IPv6 bits kept, 1 to 128.
        v6: u8,
    },
    /// The number's E.164 digits.
    Number,
    /// The first N E.164 digits (calling code included).
    Prefix(usize),
    /// The number's ISO region, or `+` and its calling code when no region claims it.
    Country,
    /// The number's calling code.
    CallingCode,
    /// The matched route's id.
    Route,
    /// Lower-cased header name.
    Header(String),
    /// A client fingerprint; `-` when absent.
    Fingerprint(FingerprintKind),
    /// The device that solved the request's CAPTCHA (from the siteverify answer): known only
    /// once the token is verified, so its checks are planned then.
    CaptchaSolver,
    /// The account the request names (`extract.account_json_paths`), as folded by extraction.
    Account,
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
    /// Adds `t` to the set.
    pub fn insert(&mut self, t: NumberType) {
        self.0 |= 1 << (t as u16);
    }

    /// Whether `t` is in the set.
    pub fn contains(self, t: NumberType) -> bool {
        self.0 & (1 << (t as u16)) != 0
    }

    /// True when the set holds no type.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Why a stateless rule triggered for a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberFinding {
    /// The country is not in a non-empty `allow` (`country_not_allowed`).
    CountryNotAllowed,
    /// The country is in `deny` (`country_denied`).
    CountryDenied,
    /// The country is in `monitor`: only reported (`country_monitored`).
    CountryMonitored,
    /// The number type is not in a non-empty `allow` (`number_type_not_allowed`).
    NumberTypeNotAllowed,
    /// The number type is in `deny` (`number_type_denied`).
    NumberTypeDenied,
    /// The number matches no pattern of a non-empty `allow` (`pattern_not_allowed`).
    PatternNotAllowed,
    /// The number matches a `deny` pattern (`pattern_denied`).
    PatternDenied,
    /// The number starts with a listed prefix (`prefix_blocked`).
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
