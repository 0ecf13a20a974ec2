//! The compiled form of a spec: what the scanners consult per request, with every name folded
//! and every path merged into one trie, so a request costs no parsing of configuration.

use super::names::{fold_owned, NameSet};
use super::path::Step;

/// Most trie nodes (the document root included) one spec may compile to: node sets are `u64`s.
pub(crate) const MAX_NODES: usize = 64;
/// Most `json_keys`, form fields or query parameters (after a preset is merged in).
pub(crate) const MAX_NAMES: usize = 32;
/// Most `json_name_value` entries (after a preset is merged in).
pub(crate) const MAX_PAIR_SPECS: usize = 8;

/// A condition a value must meet to be a candidate; used by presets whose field may hold
/// something other than a phone number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueFilter {
    /// Every value is a candidate.
    Any,
    /// Only values starting with `+`: Cognito accepts a phone number as `Username` only in E.164.
    LeadingPlus,
    /// Values with an `@` are e-mail addresses (Twilio Verify's `To` with `Channel=email`).
    NoAtSign,
    /// Every value, read as an international number whether or not it starts with `+`:
    /// Supabase Auth strips one leading `+` and reads the digits as E.164, so `2482510123` is a
    /// Seychelles mobile there, never the Michigan number a US default region reads.
    International,
    /// Values without an `@`, read as international numbers; those with one are e-mail
    /// addresses (Auth0's passwordless `username` names the user by phone or by e-mail).
    InternationalNoAtSign,
    /// No value: the field names the request's account (Auth0's `auth_session`, the challenge
    /// a code's exchange names instead of the number).
    Account,
}

impl ValueFilter {
    pub(crate) fn accepts(self, value: &str) -> bool {
        match self {
            ValueFilter::Any => true,
            ValueFilter::LeadingPlus => value.starts_with('+'),
            ValueFilter::NoAtSign | ValueFilter::InternationalNoAtSign => !value.contains('@'),
            ValueFilter::International => true,
            ValueFilter::Account => false,
        }
    }

    /// Whether the values it accepts are read as international numbers.
    fn international(self) -> bool {
        matches!(self, ValueFilter::International | ValueFilter::InternationalNoAtSign)
    }

    /// The text a value it accepts is parsed from: an international reading is given its `+`.
    pub(crate) fn reading(self, value: String) -> String {
        if self.international() && !value.starts_with('+') {
            format!("+{value}")
        } else {
            value
        }
    }

    /// Two sources reading the same place: the value is a candidate if either would take it.
    pub(crate) fn either(a: Option<ValueFilter>, b: ValueFilter) -> ValueFilter {
        let Some(a) = a else { return b };
        if a == b || b == ValueFilter::Account {
            a
        } else if a == ValueFilter::Account {
            b
        } else if a.international() || b.international() {
            // The API reads the value one way: a source listed beside the preset's cannot
            // bring back a reading in the default region.
            let takes_addresses = |f: ValueFilter| matches!(f, ValueFilter::Any | ValueFilter::International);
            if takes_addresses(a) || takes_addresses(b) {
                ValueFilter::International
            } else {
                ValueFilter::InternationalNoAtSign
            }
        } else {
            ValueFilter::Any
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Edge {
    Key(Box<[u8]>),
    Index(u32),
    AnyIndex,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Node {
    pub(crate) edges: Vec<(Edge, u8)>,
    /// A phone number is read here.
    pub(crate) number: Option<ValueFilter>,
    /// The CAPTCHA token is read here.
    pub(crate) token: bool,
    /// The account the request names is read here.
    pub(crate) account: bool,
    /// Read as a JSON Web Token: the account is the first of these claims it holds (empty:
    /// the value itself).
    pub(crate) account_claims: &'static [&'static str],
    /// Bits of `JsonPlan::pairs` whose pair array sits here.
    pub(crate) pairs: u8,
}

/// One `json_name_value` entry, folded.
#[derive(Clone, Debug)]
pub(crate) struct PairPlan {
    pub(crate) name_key: Box<[u8]>,
    pub(crate) value_key: Box<[u8]>,
    pub(crate) names: NameSet,
}

#[derive(Clone, Debug)]
pub(crate) struct JsonPlan {
    /// `nodes[0]` is the document root.
    pub(crate) nodes: Vec<Node>,
    pub(crate) keys: NameSet,
    pub(crate) pairs: Vec<PairPlan>,
    /// Bits of nodes where a number is read.
    pub(crate) number_nodes: u64,
    /// Bits of nodes where the token is read.
    pub(crate) token_nodes: u64,
    /// Values at a token node that stand for "no token": an SDK's placeholder beside the
    /// real token (never a second token, so never ambiguous with it).
    pub(crate) token_placeholders: &'static [&'static str],
    /// Bits of nodes where the account is read.
    pub(crate) account_nodes: u64,
    /// First bytes of every name an object key is compared with; set by [`JsonPlan::finish`].
    pub(crate) first_bytes: FirstBytes,
    /// Keys also match with their underscores left out: the API behind the route parses JSON
    /// as protobuf does, by the field's proto name as well as its JSON name (Firebase).
    pub(crate) proto_names: bool,
}

/// A set of bytes: the folded first bytes of configured names, so that most request keys are
/// turned away before any comparison.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FirstBytes([u64; 4]);

impl FirstBytes {
    fn insert(&mut self, byte: u8) {
        if let Some(word) = self.0.get_mut(usize::from(byte >> 6)) {
            *word |= 1 << (byte & 63);
        }
    }

    /// Whether a request key (unfolded) may fold to one of the names.
    pub(crate) fn may_match(&self, key: &[u8]) -> bool {
        let Some(byte) = key.first().map(u8::to_ascii_lowercase) else { return false };
        self.0.get(usize::from(byte >> 6)).is_some_and(|word| word & (1 << (byte & 63)) != 0)
    }
}

impl Default for JsonPlan {
    fn default() -> Self {
        JsonPlan {
            nodes: vec![Node::default()],
            keys: NameSet::default(),
            pairs: Vec::new(),
            number_nodes: 0,
            token_nodes: 0,
            token_placeholders: &[],
            account_nodes: 0,
            first_bytes: FirstBytes::default(),
            proto_names: false,
        }
    }
}

impl JsonPlan {
    pub(crate) fn is_active(&self) -> bool {
        !self.keys.is_empty() || self.nodes.len() > 1
    }

    /// Adds a parsed path and returns its final node, or `None` when the trie is full.
    pub(crate) fn insert_path(&mut self, steps: &[Step]) -> Option<usize> {
        let mut at = 0usize;
        for step in steps {
            let edge = match step {
                Step::Key(k) => Edge::Key(fold_owned(k)),
                Step::Index(i) => Edge::Index(*i),
                Step::AnyIndex => Edge::AnyIndex,
            };
            let existing = self.nodes.get(at)?.edges.iter().find(|(e, _)| *e == edge).map(|(_, c)| *c);
            at = match existing {
                Some(child) => usize::from(child),
                None => {
                    let child = self.nodes.len();
                    if child >= MAX_NODES {
                        return None;
                    }
                    self.nodes.push(Node::default());
                    self.nodes.get_mut(at)?.edges.push((edge, u8::try_from(child).ok()?));
                    child
                }
            };
        }
        Some(at)
    }

    pub(crate) fn mark_number(&mut self, node: usize, filter: ValueFilter) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.number = Some(ValueFilter::either(n.number, filter));
            self.number_nodes |= bit(node);
        }
    }

    pub(crate) fn mark_token(&mut self, node: usize) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.token = true;
            self.token_nodes |= bit(node);
        }
    }

    pub(crate) fn mark_account(&mut self, node: usize, claims: &'static [&'static str]) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.account = true;
            n.account_claims = claims;
            self.account_nodes |= bit(node);
        }
    }

    /// Indexes the first bytes of every name, once all are added.
    pub(crate) fn finish(&mut self) {
        let mut first = FirstBytes::default();
        let edges = self.nodes.iter().flat_map(|n| &n.edges).filter_map(|(edge, _)| match edge {
            Edge::Key(k) => Some(&**k),
            Edge::Index(_) | Edge::AnyIndex => None,
        });
        let pair_keys = self.pairs.iter().flat_map(|p| [&*p.name_key, &*p.value_key]);
        for name in self.keys.iter().chain(edges).chain(pair_keys) {
            if let Some(&b) = name.first() {
                first.insert(b);
            }
        }
        // Lead bytes of the two non-ASCII letters that fold to ASCII (see `names`).
        first.insert(0xE2);
        first.insert(0xC5);
        if self.proto_names {
            first.insert(b'_');
        }
        self.first_bytes = first;
    }

    pub(crate) fn node(&self, id: u32) -> Option<&Node> {
        self.nodes.get(id as usize)
    }
}

/// Form fields (urlencoded and multipart) or query parameters.
#[derive(Clone, Debug, Default)]
pub(crate) struct FieldPlan {
    pub(crate) names: NameSet,
    /// Parallel to `names`.
    pub(crate) filters: Vec<ValueFilter>,
    /// The token's field, folded.
    pub(crate) token: Option<Box<[u8]>>,
}

impl FieldPlan {
    pub(crate) fn is_active(&self) -> bool {
        !self.names.is_empty() || self.token.is_some()
    }

    /// Adds a field (merging with an existing one of the same folded name).
    pub(crate) fn insert(&mut self, name: &str, filter: ValueFilter) {
        let index = self.names.insert(fold_owned(name));
        match self.filters.get_mut(index) {
            Some(existing) => *existing = ValueFilter::either(Some(*existing), filter),
            None => self.filters.push(filter),
        }
    }

    pub(crate) fn filter(&self, index: usize) -> ValueFilter {
        self.filters.get(index).copied().unwrap_or(ValueFilter::Any)
    }
}

/// The node-set bit of node `index` (none for an index past the set, which compiling prevents).
pub(crate) fn bit(index: usize) -> u64 {
    u32::try_from(index).ok().and_then(|i| 1u64.checked_shl(i)).unwrap_or(0)
}

/// Iterates the set bits of a node set, lowest first.
pub(crate) fn bits(mut set: u64) -> impl Iterator<Item = u32> {
    core::iter::from_fn(move || {
        if set == 0 {
            return None;
        }
        let bit = set.trailing_zeros();
        set &= set - 1;
        Some(bit)
    })
}
