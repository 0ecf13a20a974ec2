//! Compiles a parsed pattern into a Thompson-style instruction list. `Split` prefers its first
//! target, which gives the leftmost-first (backtracking) priority order that the metadata's
//! regexes have in libphonenumber.

use crate::pattern::{DigitSet, Node, Pattern};

#[derive(Clone, Copy, Debug)]
pub enum Inst {
    Digits(DigitSet, usize),
    Split(usize, usize),
    Jmp(usize),
    Save(usize, usize),
    AssertEnd(usize),
    Match,
}

pub struct Program {
    pub insts: Vec<Inst>,
    pub groups: usize,
}

pub fn compile(pattern: &Pattern) -> Program {
    let mut insts = Vec::new();
    emit(&pattern.root, &mut insts);
    insts.push(Inst::Match);
    Program { insts, groups: pattern.groups }
}

/// Appends `node`; every emitted jump target that means "after this node" is `insts.len()` at
/// the time the node finishes, so nodes are laid out strictly in sequence.
fn emit(node: &Node, insts: &mut Vec<Inst>) {
    match node {
        Node::Empty => {}
        Node::Digits(set) => {
            let next = insts.len() + 1;
            insts.push(Inst::Digits(*set, next));
        }
        Node::Concat(items) => items.iter().for_each(|item| emit(item, insts)),
        Node::Alt(branches) => {
            let mut exits = Vec::new();
            for (i, branch) in branches.iter().enumerate() {
                let last = i + 1 == branches.len();
                let split_at = insts.len();
                if !last {
                    insts.push(Inst::Split(split_at + 1, usize::MAX));
                }
                emit(branch, insts);
                if !last {
                    exits.push(insts.len());
                    insts.push(Inst::Jmp(usize::MAX));
                    let alternative = insts.len();
                    insts[split_at] = Inst::Split(split_at + 1, alternative);
                }
            }
            let end = insts.len();
            for exit in exits {
                insts[exit] = Inst::Jmp(end);
            }
        }
        Node::Repeat { node, min, max } => {
            for _ in 0..*min {
                emit(node, insts);
            }
            match max {
                Some(max) => {
                    // x{0,k} as nested greedy optionals: (x(x(x)?)?)?
                    let mut splits = Vec::new();
                    for _ in *min..*max {
                        splits.push(insts.len());
                        insts.push(Inst::Split(insts.len() + 1, usize::MAX));
                        emit(node, insts);
                    }
                    let end = insts.len();
                    for split in splits {
                        insts[split] = Inst::Split(split + 1, end);
                    }
                }
                None => {
                    let head = insts.len();
                    insts.push(Inst::Split(head + 1, usize::MAX));
                    emit(node, insts);
                    insts.push(Inst::Jmp(head));
                    let end = insts.len();
                    insts[head] = Inst::Split(head + 1, end);
                }
            }
        }
        Node::Capture { node, index } => {
            let next = insts.len() + 1;
            insts.push(Inst::Save(2 * index, next));
            emit(node, insts);
            let next = insts.len() + 1;
            insts.push(Inst::Save(2 * index + 1, next));
        }
        Node::EndAnchor => {
            let next = insts.len() + 1;
            insts.push(Inst::AssertEnd(next));
        }
    }
}
