//! Parser for the digit-only regular-expression subset used by libphonenumber metadata.
//!
//! Supported: digits, `\d`, classes of digits (`[2-9]`, `[^0]`), groups (capturing and `(?:`),
//! alternation, greedy `?` `*` `+` `{n}` `{n,}` `{n,m}`, and the end anchor `$`. Whitespace is
//! ignored, as libphonenumber strips it from patterns. Anything else aborts the build, so a
//! metadata update that uses new syntax cannot silently change behaviour.

/// Set of digits as a bit mask: bit `d` set when digit `d` matches.
pub type DigitSet = u16;
pub const ALL_DIGITS: DigitSet = 0x3ff;

#[derive(Clone, Debug)]
pub enum Node {
    Empty,
    Digits(DigitSet),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat { node: Box<Node>, min: u32, max: Option<u32> },
    Capture { node: Box<Node>, index: usize },
    EndAnchor,
}

pub struct Pattern {
    pub root: Node,
    /// Number of capturing groups (group 0, the whole match, not counted).
    pub groups: usize,
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    groups: usize,
    source: &'a str,
}

pub fn parse(source: &str) -> Pattern {
    let chars: Vec<char> = source.chars().filter(|c| !c.is_whitespace()).collect();
    let mut parser = Parser { chars, pos: 0, groups: 0, source };
    let root = parser.alternation();
    if parser.pos != parser.chars.len() {
        parser.fail("unbalanced ')'");
    }
    Pattern { root, groups: parser.groups }
}

impl Parser<'_> {
    fn fail(&self, what: &str) -> ! {
        panic!("unsupported phone metadata pattern {:?} at char {}: {what}", self.source, self.pos)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn alternation(&mut self) -> Node {
        let mut branches = vec![self.concatenation()];
        while self.eat('|') {
            branches.push(self.concatenation());
        }
        if branches.len() == 1 {
            branches.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(branches)
        }
    }

    fn concatenation(&mut self) -> Node {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom();
            items.push(self.quantified(atom));
        }
        match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        }
    }

    fn atom(&mut self) -> Node {
        let Some(c) = self.peek() else { self.fail("unexpected end") };
        self.pos += 1;
        match c {
            '0'..='9' => Node::Digits(1 << (c as u32 - '0' as u32)),
            '\\' => {
                if self.eat('d') {
                    Node::Digits(ALL_DIGITS)
                } else {
                    self.fail("only the \\d escape is supported")
                }
            }
            '[' => self.class(),
            '(' => {
                let capture = if self.eat('?') {
                    if !self.eat(':') {
                        self.fail("only (?: groups are supported");
                    }
                    None
                } else {
                    self.groups += 1;
                    Some(self.groups)
                };
                let inner = self.alternation();
                if !self.eat(')') {
                    self.fail("missing ')'");
                }
                match capture {
                    Some(index) => Node::Capture { node: Box::new(inner), index },
                    None => inner,
                }
            }
            '$' => Node::EndAnchor,
            _ => self.fail("unsupported character"),
        }
    }

    fn class(&mut self) -> Node {
        let negated = self.eat('^');
        let mut set: DigitSet = 0;
        loop {
            let Some(c) = self.peek() else { self.fail("unterminated class") };
            self.pos += 1;
            match c {
                ']' => break,
                '\\' => {
                    if !self.eat('d') {
                        self.fail("only \\d is supported inside classes");
                    }
                    set |= ALL_DIGITS;
                }
                '0'..='9' => {
                    let low = c as u32 - '0' as u32;
                    if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|n| *n != ']') {
                        self.pos += 1;
                        let Some(h @ '0'..='9') = self.peek() else { self.fail("bad class range") };
                        self.pos += 1;
                        let high = h as u32 - '0' as u32;
                        if high < low {
                            self.fail("reversed class range");
                        }
                        for d in low..=high {
                            set |= 1 << d;
                        }
                    } else {
                        set |= 1 << low;
                    }
                }
                _ => self.fail("unsupported character in class"),
            }
        }
        if negated {
            set = !set & ALL_DIGITS;
        }
        Node::Digits(set)
    }

    fn number(&mut self) -> u32 {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse().unwrap_or_else(|_| self.fail("bad repetition count"))
    }

    fn quantified(&mut self, mut atom: Node) -> Node {
        loop {
            let (min, max) = match self.peek() {
                Some('?') => (0, Some(1)),
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('{') => {
                    self.pos += 1;
                    let min = self.number();
                    let max = if self.eat(',') {
                        if self.peek() == Some('}') {
                            None
                        } else {
                            Some(self.number())
                        }
                    } else {
                        Some(min)
                    };
                    if self.peek() != Some('}') {
                        self.fail("missing '}'");
                    }
                    if max.is_some_and(|m| m < min) {
                        self.fail("reversed repetition bounds");
                    }
                    (min, max)
                }
                _ => return atom,
            };
            self.pos += 1;
            if matches!(self.peek(), Some('?') | Some('+')) {
                self.fail("lazy and possessive quantifiers are not supported");
            }
            atom = Node::Repeat { node: Box::new(atom), min, max };
        }
    }
}
