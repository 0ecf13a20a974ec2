//! Digit trie over E.164 prefixes: longest-prefix match in O(digits), whatever the list size.

/// Index of a trie node; 0 is the root and never a child, so 0 in a child slot means "none".
type NodeId = u32;

#[derive(Clone, Debug, Default)]
struct Node {
    children: [NodeId; 10],
    /// Index of the prefix ending here, in insertion order.
    terminal: Option<u32>,
}

/// A set of E.164 prefixes such as `+4470` or `+88213`.
#[derive(Clone, Debug)]
pub struct PrefixSet {
    nodes: Vec<Node>,
    prefixes: Vec<String>,
}

impl Default for PrefixSet {
    fn default() -> Self {
        PrefixSet { nodes: vec![Node::default()], prefixes: Vec::new() }
    }
}

/// Checks one configured prefix: `+` then 1 to 15 digits.
pub fn parse_prefix(text: &str) -> Result<&str, String> {
    let digits = text
        .strip_prefix('+')
        .ok_or_else(|| format!("prefix {text:?} must start with '+' and the calling code, e.g. \"+4470\""))?;
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("prefix {text:?} must be '+' followed by 1 to 15 digits"));
    }
    Ok(digits)
}

impl PrefixSet {
    /// Adds a prefix given as digits (no '+'); returns false if it was already present.
    pub fn insert(&mut self, digits: &str) -> bool {
        let mut node: usize = 0;
        for b in digits.bytes() {
            let Some(d) = digit(b) else { return false };
            let next = self.nodes.get(node).map(|n| n.children[d]).unwrap_or(0);
            node = if next == 0 {
                let id = self.nodes.len();
                self.nodes.push(Node::default());
                if let Some(n) = self.nodes.get_mut(node) {
                    n.children[d] = id as NodeId;
                }
                id
            } else {
                next as usize
            };
        }
        match self.nodes.get_mut(node) {
            Some(n) if n.terminal.is_none() => {
                n.terminal = Some(self.prefixes.len() as u32);
                self.prefixes.push(format!("+{digits}"));
                true
            }
            _ => false,
        }
    }

    /// The longest prefix of `digits` (an E.164 number without '+') in the set.
    pub fn longest_match(&self, digits: &str) -> Option<&str> {
        let mut node: usize = 0;
        let mut best = None;
        for b in digits.bytes() {
            let next = digit(b).and_then(|d| self.nodes.get(node).map(|n| n.children[d]));
            match next {
                Some(id) if id != 0 => node = id as usize,
                _ => break,
            }
            if let Some(t) = self.nodes.get(node).and_then(|n| n.terminal) {
                best = Some(t);
            }
        }
        best.and_then(|t| self.prefixes.get(t as usize)).map(String::as_str)
    }

    /// Number of distinct prefixes in the set.
    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    /// True when the set holds no prefix.
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }
}

fn digit(b: u8) -> Option<usize> {
    b.is_ascii_digit().then(|| usize::from(b - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn longest_prefix_wins() {
        let mut set = PrefixSet::default();
        for p in ["44", "4470", "447011"] {
            assert!(set.insert(p));
        }
        assert!(!set.insert("4470"));
        assert_eq!(set.longest_match("447011223344"), Some("+447011"));
        assert_eq!(set.longest_match("447099223344"), Some("+4470"));
        assert_eq!(set.longest_match("4420"), Some("+44"));
        assert_eq!(set.longest_match("33123"), None);
    }

    #[test]
    fn prefix_syntax() {
        assert_eq!(parse_prefix("+4470"), Ok("4470"));
        assert!(parse_prefix("4470").is_err());
        assert!(parse_prefix("+").is_err());
        assert!(parse_prefix("+44 70").is_err());
    }

    proptest! {
        #[test]
        fn matches_a_linear_scan(
            prefixes in proptest::collection::vec("[0-9]{1,6}", 0..200),
            number in "[0-9]{6,15}",
        ) {
            let mut set = PrefixSet::default();
            for p in &prefixes {
                set.insert(p);
            }
            let expected = prefixes.iter().filter(|p| number.starts_with(p.as_str()))
                .max_by_key(|p| p.len()).map(|p| format!("+{p}"));
            prop_assert_eq!(set.longest_match(&number).map(String::from), expected);
        }
    }
}
