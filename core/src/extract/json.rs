//! Streaming JSON reader: validates the whole document (RFC 8259: UTF-8, no trailing data,
//! no lone surrogates) in one pass without building a tree, follows the compiled paths as it
//! goes, and decodes only the values it reads.
//!
//! The scan is iterative, with one frame per open container (bounded by [`MAX_DEPTH`]), so
//! hostile nesting cannot overflow the stack; the first frames live inline, so shallow
//! documents (every OTP body) allocate nothing but the returned strings.

use std::borrow::Cow;

use super::names::{eq_folded, eq_folded_without_underscores, NameBuf};
use super::path::{render, Spelled};
use super::plan::{bits, Edge, JsonPlan, ValueFilter, MAX_PAIR_SPECS};
use super::{Candidate, ExtractError, Extracted, Source};

/// Deepest nesting accepted; deeper documents are malformed (no OTP form nests this far).
pub(crate) const MAX_DEPTH: usize = 64;

/// Frames kept inline; deeper documents spill to the heap.
const INLINE_FRAMES: usize = 8;

/// One open object or array.
#[derive(Clone, Copy, Default)]
struct Frame {
    object: bool,
    /// Trie nodes this container sits at.
    nodes: u64,
    /// Objects: trie nodes already reached through a key of this object (duplicate keys).
    seen_nodes: u64,
    /// Objects: bits of `json_keys` already met in this object.
    seen_keys: u64,
    /// Objects: raw span of the current member's key. Arrays: the current index, in `.0`.
    member: (usize, usize),
    /// Objects: the current member's key has escapes.
    member_escaped: bool,
    /// Arrays: scalar elements are numbers, because the array is a number source's value
    /// (`{"phone": ["+1..."]}` is `"+1..."` to string-coercing origins).
    elements: Option<ValueFilter>,
    /// Arrays: bits of `JsonPlan::pairs` whose pair array this is.
    pair_specs: u8,
}

/// The stack of open containers.
struct Frames {
    inline: [Frame; INLINE_FRAMES],
    spill: Vec<Frame>,
    len: usize,
}

impl Frames {
    fn new() -> Self {
        Frames { inline: [Frame::default(); INLINE_FRAMES], spill: Vec::new(), len: 0 }
    }

    fn get(&self, index: usize) -> Option<&Frame> {
        if index >= self.len {
            None
        } else if index < INLINE_FRAMES {
            self.inline.get(index)
        } else {
            self.spill.get(index - INLINE_FRAMES)
        }
    }

    fn get_mut(&mut self, index: usize) -> Option<&mut Frame> {
        if index >= self.len {
            None
        } else if index < INLINE_FRAMES {
            self.inline.get_mut(index)
        } else {
            self.spill.get_mut(index - INLINE_FRAMES)
        }
    }

    fn top(&self) -> Option<&Frame> {
        self.get(self.len.checked_sub(1)?)
    }

    fn top_mut(&mut self) -> Option<&mut Frame> {
        self.get_mut(self.len.checked_sub(1)?)
    }

    /// Pushes a frame; `false` past [`MAX_DEPTH`].
    fn push(&mut self, frame: Frame) -> bool {
        if self.len >= MAX_DEPTH {
            return false;
        }
        if let Some(slot) = self.inline.get_mut(self.len) {
            *slot = frame;
        } else {
            let spilled = self.len - INLINE_FRAMES;
            match self.spill.get_mut(spilled) {
                Some(slot) => *slot = frame,
                None => self.spill.push(frame),
            }
        }
        self.len += 1;
        true
    }

    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }

    /// The first `count` frames, outermost first.
    fn first(&self, count: usize) -> impl Iterator<Item = &Frame> {
        self.inline.iter().chain(self.spill.iter()).take(count.min(self.len))
    }
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum PairName {
    #[default]
    Unseen,
    Listed,
    Other,
}

#[derive(Clone, Copy, Default)]
enum PairValue {
    #[default]
    Unseen,
    Text(RawStr),
    Number {
        start: usize,
        end: usize,
        plain: bool,
    },
    Other,
}

/// An open object inside a pair array, waiting for both its name and its value.
#[derive(Clone, Copy, Default)]
struct Pair {
    /// `depth` while this object is the top container.
    depth: usize,
    spec: usize,
    name: PairName,
    value: PairValue,
    /// Raw span of the value key as the request spells it, for the candidate's path.
    value_key: (usize, usize),
    value_key_escaped: bool,
}

/// What the value about to be read is to the plan.
#[derive(Clone, Copy, Default)]
struct Ctx {
    nodes: u64,
    /// A `json_keys` entry names it.
    key_hit: bool,
    /// It is an element of a number source's array.
    element: Option<ValueFilter>,
    /// It is an element of these pair arrays.
    pair_elem: u8,
    /// It is the name / the value of these open pairs (bits of `Scanner::pairs`).
    name_role: u8,
    value_role: u8,
}

#[derive(Clone, Copy, Default)]
struct RawStr {
    /// Content span, quotes excluded.
    start: usize,
    end: usize,
    escaped: bool,
}

struct Number {
    start: usize,
    end: usize,
    /// An integer without fraction or exponent, which every origin renders the same.
    plain: bool,
}

/// Reads `body` as JSON, adding what `plan` asks for to `out`.
pub(crate) fn scan(plan: &JsonPlan, body: &[u8], out: &mut Extracted) -> Result<(), ExtractError> {
    let text = core::str::from_utf8(body).map_err(|e| ExtractError::Malformed {
        detail: format!("invalid JSON: not UTF-8 at byte {}", e.valid_up_to()),
    })?;
    Scanner {
        plan,
        text,
        src: body,
        pos: 0,
        frames: Frames::new(),
        pairs: [Pair::default(); MAX_PAIR_SPECS],
        open_pairs: 0,
    }
    .run(out)
}

struct Scanner<'a> {
    plan: &'a JsonPlan,
    text: &'a str,
    src: &'a [u8],
    pos: usize,
    /// Open containers; `frames.len` is the depth.
    frames: Frames,
    /// Open pair objects, innermost last (at most one per spec: each sits at a fixed depth).
    pairs: [Pair; MAX_PAIR_SPECS],
    open_pairs: usize,
}

impl Scanner<'_> {
    fn run(mut self, out: &mut Extracted) -> Result<(), ExtractError> {
        let mut ctx = Ctx { nodes: 1, ..Ctx::default() };
        'value: loop {
            self.skip_ws();
            match self.peek() {
                Some(b'{') => {
                    self.pos += 1;
                    self.open(true, &ctx)?;
                    self.skip_ws();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        self.close_object(out)?;
                    } else {
                        ctx = self.member()?;
                        continue 'value;
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    self.open(false, &ctx)?;
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        self.frames.pop();
                    } else {
                        ctx = self.element();
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    let raw = self.string()?;
                    self.on_string(raw, &ctx, out)?;
                }
                Some(b'-' | b'0'..=b'9') => {
                    let number = self.number()?;
                    self.on_number(number, &ctx, out)?;
                }
                Some(b't') => self.literal("true")?,
                Some(b'f') => self.literal("false")?,
                Some(b'n') => self.literal("null")?,
                Some(_) => return Err(self.malformed("expected a value")),
                None => return Err(self.malformed("unexpected end of document")),
            }
            // A value is complete: close containers until one has a next member or element.
            loop {
                self.skip_ws();
                let Some(top) = self.frames.top() else {
                    if self.pos < self.src.len() {
                        return Err(self.malformed("trailing data after the document"));
                    }
                    return Ok(());
                };
                match (top.object, self.peek()) {
                    (true, Some(b',')) => {
                        self.pos += 1;
                        self.skip_ws();
                        ctx = self.member()?;
                        continue 'value;
                    }
                    (true, Some(b'}')) => {
                        self.pos += 1;
                        self.close_object(out)?;
                    }
                    (false, Some(b',')) => {
                        self.pos += 1;
                        if let Some(top) = self.frames.top_mut() {
                            top.member.0 += 1;
                        }
                        ctx = self.element();
                        continue 'value;
                    }
                    (false, Some(b']')) => {
                        self.pos += 1;
                        self.frames.pop();
                    }
                    (true, _) => return Err(self.malformed("expected ',' or '}' in an object")),
                    (false, _) => return Err(self.malformed("expected ',' or ']' in an array")),
                }
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    #[cold]
    fn malformed(&self, what: &str) -> ExtractError {
        ExtractError::Malformed { detail: format!("invalid JSON at byte {}: {what}", self.pos) }
    }

    /// Pushes a container for a value read in `ctx`.
    fn open(&mut self, object: bool, ctx: &Ctx) -> Result<(), ExtractError> {
        let number = self.number_filter(ctx);
        let pair_specs = if object {
            0
        } else {
            bits(ctx.nodes).filter_map(|n| self.plan.node(n)).fold(0, |acc, node| acc | node.pairs)
        };
        let frame = Frame {
            object,
            nodes: ctx.nodes,
            elements: if object { None } else { number },
            pair_specs,
            ..Frame::default()
        };
        if !self.frames.push(frame) {
            return Err(self.malformed(&format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        if object {
            let depth = self.frames.len;
            for spec in bits(u64::from(ctx.pair_elem)) {
                if let Some(slot) = self.pairs.get_mut(self.open_pairs) {
                    *slot = Pair { depth, spec: spec as usize, ..Pair::default() };
                    self.open_pairs += 1;
                }
            }
        }
        Ok(())
    }

    /// Reads `"key" :` in the top object and returns the context of the member's value.
    fn member(&mut self) -> Result<Ctx, ExtractError> {
        if self.peek() != Some(b'"') {
            return Err(self.malformed("expected a string key"));
        }
        let key = self.string()?;
        let Some(frame) = self.frames.top_mut() else {
            return Err(ExtractError::Malformed { detail: "invalid JSON: key outside an object".into() });
        };
        frame.member = (key.start, key.end);
        frame.member_escaped = key.escaped;
        // Most keys are turned away by their first byte (escaped ones are decoded first).
        let ctx = if key.escaped
            || self.src.get(key.start..key.end).is_some_and(|k| self.plan.first_bytes.may_match(k))
        {
            self.match_key(key)?
        } else {
            Ctx::default()
        };
        self.colon()?;
        Ok(ctx)
    }

    /// Matches a key against the plan: `json_keys`, trie edges and open pairs.
    fn match_key(&mut self, key: RawStr) -> Result<Ctx, ExtractError> {
        let src = self.src;
        let plan = self.plan;
        let depth = self.frames.len;
        let Some(&Frame { nodes, seen_nodes, seen_keys, .. }) = self.frames.top() else {
            return Ok(Ctx::default());
        };
        let mut ctx = Ctx::default();
        let mut decoded: NameBuf;
        let name = if key.escaped {
            decoded = NameBuf::new();
            decode_into_name(src, key, &mut decoded)?;
            decoded.bytes()
        } else {
            src.get(key.start..key.end)
        };
        if let Some(name) = name.filter(|n| plan.first_bytes.may_match(n)) {
            let mut new_keys = 0u64;
            let found = plan.keys.find(name).or_else(|| {
                plan.proto_names
                    .then(|| plan.keys.iter().position(|k| eq_folded_without_underscores(name, k)))
                    .flatten()
            });
            if let Some(i) = found {
                ctx.key_hit = true;
                new_keys = 1u64.checked_shl(i as u32).unwrap_or(0);
            }
            for node in bits(nodes).filter_map(|n| plan.node(n)) {
                for (edge, child) in &node.edges {
                    let hit = |k: &[u8]| {
                        eq_folded(name, k) || (plan.proto_names && eq_folded_without_underscores(name, k))
                    };
                    if matches!(edge, Edge::Key(k) if hit(k)) {
                        ctx.nodes |= 1u64 << (child & 63);
                    }
                }
            }
            if new_keys & seen_keys != 0 || ctx.nodes & seen_nodes != 0 {
                return Err(self.duplicate_key(key));
            }
            for (slot, pair) in self.pairs.iter_mut().enumerate().take(self.open_pairs) {
                if pair.depth != depth {
                    continue;
                }
                let Some(spec) = plan.pairs.get(pair.spec) else { continue };
                let bit = 1u8 << (slot & 7);
                if eq_folded(name, &spec.name_key) {
                    if pair.name != PairName::Unseen {
                        return Err(ambiguous_pair_key(src, key));
                    }
                    pair.name = PairName::Other; // until the value says otherwise
                    ctx.name_role |= bit;
                } else if eq_folded(name, &spec.value_key) {
                    if !matches!(pair.value, PairValue::Unseen) {
                        return Err(ambiguous_pair_key(src, key));
                    }
                    pair.value = PairValue::Other;
                    pair.value_key = (key.start, key.end);
                    pair.value_key_escaped = key.escaped;
                    ctx.value_role |= bit;
                }
            }
            if let Some(frame) = self.frames.top_mut() {
                frame.seen_keys |= new_keys;
                frame.seen_nodes |= ctx.nodes;
            }
        }
        Ok(ctx)
    }

    fn colon(&mut self) -> Result<(), ExtractError> {
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.malformed("expected ':' after an object key"));
        }
        self.pos += 1;
        Ok(())
    }

    fn duplicate_key(&self, key: RawStr) -> ExtractError {
        let object = self.location(self.frames.len.saturating_sub(1), None);
        let name = decode_string(self.text, self.src, key).unwrap_or_default();
        ExtractError::Ambiguous {
            detail: format!(
                "key {name:?} appears twice in the object at {object} (keys match case-insensitively); \
                 parsers disagree on which one wins"
            ),
        }
    }

    /// The context of the next element of the top array.
    fn element(&self) -> Ctx {
        let Some(frame) = self.frames.top() else {
            return Ctx::default();
        };
        let index = frame.member.0;
        let mut nodes = 0u64;
        for node in bits(frame.nodes).filter_map(|n| self.plan.node(n)) {
            for (edge, child) in &node.edges {
                let hit = match edge {
                    Edge::AnyIndex => true,
                    Edge::Index(i) => *i as usize == index,
                    Edge::Key(_) => false,
                };
                if hit {
                    nodes |= 1u64 << (child & 63);
                }
            }
        }
        Ctx { nodes, element: frame.elements, pair_elem: frame.pair_specs, ..Ctx::default() }
    }

    /// Whether a scalar in `ctx` is a number source, and under which filter.
    fn number_filter(&self, ctx: &Ctx) -> Option<ValueFilter> {
        let mut filter = ctx.key_hit.then_some(ValueFilter::Any);
        for node in bits(ctx.nodes & self.plan.number_nodes).filter_map(|n| self.plan.node(n)) {
            if let Some(f) = node.number {
                filter = Some(ValueFilter::either(filter, f));
            }
        }
        if let Some(f) = ctx.element {
            filter = Some(ValueFilter::either(filter, f));
        }
        filter
    }

    fn on_string(&mut self, raw: RawStr, ctx: &Ctx, out: &mut Extracted) -> Result<(), ExtractError> {
        if let Some(filter) = self.number_filter(ctx) {
            let value = decode_string(self.text, self.src, raw)?;
            if !value.is_empty() && filter.accepts(&value) {
                let path = self.location(self.frames.len, None);
                out.numbers.push(Candidate::new(filter.reading(value), Source::Json(path)));
            } else if !value.is_empty() {
                // A user name or an e-mail address where a number may be: the recipient is
                // named another way, so it is the request's account.
                out.offer_account(&value, || self.location(self.frames.len, None))?;
            }
        }
        if ctx.nodes & self.plan.token_nodes != 0 {
            let token = decode_string(self.text, self.src, raw)?;
            if !self.plan.token_placeholders.contains(&token.as_str()) {
                out.offer_token(token, || self.location(self.frames.len, None))?;
            }
        }
        if ctx.nodes & self.plan.account_nodes != 0 {
            let value = decode_string(self.text, self.src, raw)?;
            let claims = bits(ctx.nodes & self.plan.account_nodes)
                .filter_map(|n| self.plan.node(n))
                .map(|node| node.account_claims)
                .find(|claims| !claims.is_empty());
            // A token names its user by a claim: a fresh token per session must not be a fresh
            // account. One that is not a JWT names none (the service refuses it anyway).
            let account = match claims {
                Some(claims) => super::jwt::claim(&value, claims),
                None => Some(value),
            };
            if let Some(account) = account {
                out.offer_account(&account, || self.location(self.frames.len, None))?;
            }
        }
        if ctx.name_role | ctx.value_role != 0 {
            let mut decoded: NameBuf;
            let name = if ctx.name_role == 0 {
                None
            } else if raw.escaped {
                decoded = NameBuf::new();
                decode_into_name(self.src, raw, &mut decoded)?;
                decoded.bytes()
            } else {
                self.src.get(raw.start..raw.end)
            };
            let plan = self.plan;
            for (slot, pair) in self.pairs.iter_mut().enumerate().take(self.open_pairs) {
                let bit = 1u8 << (slot & 7);
                if ctx.name_role & bit != 0 {
                    let listed = name.is_some_and(|n| {
                        plan.pairs.get(pair.spec).is_some_and(|p| p.names.find(n).is_some())
                    });
                    pair.name = if listed { PairName::Listed } else { PairName::Other };
                }
                if ctx.value_role & bit != 0 {
                    pair.value = PairValue::Text(raw);
                }
            }
        }
        Ok(())
    }

    fn on_number(&mut self, number: Number, ctx: &Ctx, out: &mut Extracted) -> Result<(), ExtractError> {
        let text = self.text.get(number.start..number.end).unwrap_or_default();
        if let Some(filter) = self.number_filter(ctx).filter(|filter| filter.accepts(text)) {
            let path = self.location(self.frames.len, None);
            if !number.plain {
                return Err(not_plain(text, &path));
            }
            out.numbers.push(Candidate::new(filter.reading(text.to_owned()), Source::Json(path)));
        }
        for (slot, pair) in self.pairs.iter_mut().enumerate().take(self.open_pairs) {
            let bit = 1u8 << (slot & 7);
            if ctx.value_role & bit != 0 {
                pair.value = PairValue::Number { start: number.start, end: number.end, plain: number.plain };
            }
        }
        Ok(())
    }

    /// `true`, `false` or `null`: never a number, and as a pair's name it names nothing.
    fn literal(&mut self, word: &str) -> Result<(), ExtractError> {
        if self.src.get(self.pos..self.pos + word.len()) != Some(word.as_bytes()) {
            return Err(self.malformed("expected a value"));
        }
        self.pos += word.len();
        Ok(())
    }

    /// Pops the top object, completing its pairs.
    fn close_object(&mut self, out: &mut Extracted) -> Result<(), ExtractError> {
        while let Some(pair) = self.open_pairs.checked_sub(1).and_then(|i| self.pairs.get(i)).copied() {
            if pair.depth != self.frames.len {
                break;
            }
            self.open_pairs -= 1;
            if pair.name != PairName::Listed {
                continue;
            }
            let path = self.location(self.frames.len, Some((pair.value_key, pair.value_key_escaped)));
            match pair.value {
                PairValue::Text(raw) => {
                    let value = decode_string(self.text, self.src, raw)?;
                    if !value.is_empty() {
                        out.numbers.push(Candidate::new(value, Source::Json(path)));
                    }
                }
                PairValue::Number { start, end, plain } => {
                    let text = self.text.get(start..end).unwrap_or_default();
                    if !plain {
                        return Err(not_plain(text, &path));
                    }
                    out.numbers.push(Candidate::new(text.to_owned(), Source::Json(path)));
                }
                PairValue::Unseen | PairValue::Other => {}
            }
        }
        self.frames.pop();
        Ok(())
    }

    /// The concrete path of the current member or element of each of the first `depth`
    /// containers; `last_key` (span, escaped) overrides the innermost one's key.
    fn location(&self, depth: usize, last_key: Option<((usize, usize), bool)>) -> String {
        render(self.frames.first(depth).enumerate().map(|(i, frame)| {
            if !frame.object {
                return Spelled::Index(frame.member.0);
            }
            let (span, escaped) = match last_key {
                Some(key) if i + 1 == depth => key,
                _ => (frame.member, frame.member_escaped),
            };
            let raw = RawStr { start: span.0, end: span.1, escaped };
            Spelled::Key(match (escaped, self.text.get(span.0..span.1)) {
                (false, Some(key)) => Cow::Borrowed(key),
                _ => Cow::Owned(decode_string(self.text, self.src, raw).unwrap_or_default()),
            })
        }))
    }

    /// Scans a string whose opening quote is at `pos`, validating escapes and control
    /// characters (UTF-8 was validated for the whole body up front).
    #[inline(always)]
    fn string(&mut self) -> Result<RawStr, ExtractError> {
        let start = self.pos + 1;
        let mut at = start;
        let mut escaped = false;
        loop {
            // Skip ordinary bytes eight at a time.
            while let Some(word) = self.src.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
                let special = special_bytes(u64::from_le_bytes(word));
                if special != 0 {
                    at += (special.trailing_zeros() / 8) as usize;
                    break;
                }
                at += 8;
            }
            match self.src.get(at) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    at = match escape_at(self.src, at) {
                        Ok((_, next)) => next,
                        Err(what) => {
                            self.pos = at;
                            return Err(self.malformed(what));
                        }
                    };
                }
                Some(0x00..=0x1F) => {
                    self.pos = at;
                    return Err(self.malformed("control character in a string"));
                }
                Some(_) => at += 1,
                None => {
                    self.pos = at;
                    return Err(self.malformed("unterminated string"));
                }
            }
        }
        self.pos = at + 1;
        Ok(RawStr { start, end: at, escaped })
    }

    /// Scans `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<Number, ExtractError> {
        let start = self.pos;
        let mut plain = true;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.malformed("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            plain = false;
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.malformed("expected a digit after '.'"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            plain = false;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.malformed("expected a digit in the exponent"));
            }
            self.digits();
        }
        Ok(Number { start, end: self.pos, plain })
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }
}

/// High bit set in each byte of `word` that is a quote, a backslash or a control character; only the
/// lowest set byte is exact (borrows may mark bytes above it), which is all the caller uses.
fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    quote | backslash | control
}

fn not_plain(text: &str, path: &str) -> ExtractError {
    ExtractError::Ambiguous {
        detail: format!("number {text} at {path} has a fraction or exponent; origins render it differently"),
    }
}

fn ambiguous_pair_key(src: &[u8], key: RawStr) -> ExtractError {
    let name = src.get(key.start..key.end).map(String::from_utf8_lossy).unwrap_or_default();
    ExtractError::Ambiguous {
        detail: format!("a name/value pair has {name:?} twice; parsers disagree on which one wins"),
    }
}

/// Decodes the escape whose backslash is at `at`: the character and the index after it.
fn escape_at(src: &[u8], at: usize) -> Result<(char, usize), &'static str> {
    let simple = match src.get(at + 1) {
        Some(b'"') => '"',
        Some(b'\\') => '\\',
        Some(b'/') => '/',
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(b'u') => {
            let unit = hex4(src, at + 2).ok_or("invalid \\u escape")?;
            return match unit {
                0xD800..=0xDBFF => {
                    if src.get(at + 6) != Some(&b'\\') || src.get(at + 7) != Some(&b'u') {
                        return Err("unpaired surrogate in a \\u escape");
                    }
                    let low = hex4(src, at + 8).ok_or("invalid \\u escape")?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return Err("unpaired surrogate in a \\u escape");
                    }
                    let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    char::from_u32(code).map(|c| (c, at + 12)).ok_or("invalid surrogate pair")
                }
                0xDC00..=0xDFFF => Err("unpaired surrogate in a \\u escape"),
                _ => char::from_u32(unit).map(|c| (c, at + 6)).ok_or("invalid \\u escape"),
            };
        }
        _ => return Err("invalid escape"),
    };
    Ok((simple, at + 2))
}

fn hex4(src: &[u8], at: usize) -> Option<u32> {
    let digits = src.get(at..at + 4)?;
    digits.iter().try_fold(0u32, |acc, &d| Some(acc * 16 + char::from(d).to_digit(16)?))
}

/// The decoded text of a scanned string.
fn decode_string(text: &str, src: &[u8], raw: RawStr) -> Result<String, ExtractError> {
    let malformed = |what: &str| ExtractError::Malformed { detail: format!("invalid JSON: {what}") };
    if !raw.escaped {
        return text.get(raw.start..raw.end).map(str::to_owned).ok_or_else(|| malformed("bad string span"));
    }
    let mut out = String::with_capacity(raw.end.saturating_sub(raw.start));
    let mut run = raw.start;
    let mut at = raw.start;
    while at < raw.end {
        if src.get(at) == Some(&b'\\') {
            out.push_str(text.get(run..at).ok_or_else(|| malformed("bad string span"))?);
            let (c, next) = escape_at(src, at).map_err(malformed)?;
            out.push(c);
            at = next;
            run = next;
        } else {
            at += 1;
        }
    }
    out.push_str(text.get(run..raw.end).ok_or_else(|| malformed("bad string span"))?);
    Ok(out)
}

/// Decodes a scanned string onto the stack, for matching.
fn decode_into_name(src: &[u8], raw: RawStr, out: &mut NameBuf) -> Result<(), ExtractError> {
    let mut at = raw.start;
    while at < raw.end {
        match src.get(at) {
            Some(b'\\') => {
                let (c, next) = escape_at(src, at)
                    .map_err(|what| ExtractError::Malformed { detail: format!("invalid JSON: {what}") })?;
                out.push_char(c);
                at = next;
            }
            Some(&b) => {
                out.push(b);
                at += 1;
            }
            None => break,
        }
    }
    Ok(())
}
