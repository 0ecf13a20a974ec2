//! Deterministic automata for boolean questions about a digit string: "which number types does
//! it fully match" and "does it start with a leading-digits prefix". Several patterns are
//! compiled into one DFA whose states carry an output byte, so one pass answers for all of
//! them. States are hash-consed across every DFA built, so identical tails (like `\d{6}`) are
//! stored once for the whole metadata.

use crate::program::{Inst, Program};
use std::collections::HashMap;

/// State 0 rejects everything; state 1 accepts everything (a matched leading-digits prefix).
pub const DEAD: u32 = 0;
pub const ACCEPT_ALL: u32 = 1;
/// Longest string any metadata pattern may accept; beyond it a pattern is treated as unbounded.
const MAX_DEPTH: usize = 40;

pub struct Classifier {
    pub transitions: Vec<[u32; 10]>,
    pub outputs: Vec<u8>,
    index: HashMap<([u32; 10], u8), u32>,
}

type NfaState = (u16, u32);

impl Classifier {
    pub fn new(accept_all_output: u8) -> Classifier {
        let mut classifier =
            Classifier { transitions: Vec::new(), outputs: Vec::new(), index: HashMap::new() };
        assert_eq!(classifier.intern([DEAD; 10], 0), DEAD);
        assert_eq!(classifier.intern([ACCEPT_ALL; 10], accept_all_output), ACCEPT_ALL);
        classifier
    }

    fn intern(&mut self, transitions: [u32; 10], output: u8) -> u32 {
        if let Some(&id) = self.index.get(&(transitions, output)) {
            return id;
        }
        let id = u32::try_from(self.transitions.len()).expect("state count fits u32");
        self.transitions.push(transitions);
        self.outputs.push(output);
        self.index.insert((transitions, output), id);
        id
    }

    /// Full-match DFA: the output of the state reached after the whole input is
    /// `output(mask of programs that match the input exactly, input length)`.
    pub fn add_full_match(&mut self, programs: &[&Program], output: impl Fn(u32, usize) -> u8) -> u32 {
        self.build(programs, |mask, depth| Step::Output(output(mask, depth)))
    }

    /// Prefix DFA: reaches `ACCEPT_ALL` as soon as some program matched a prefix of the input.
    pub fn add_prefix_match(&mut self, programs: &[&Program]) -> u32 {
        self.build(programs, |mask, _| if mask != 0 { Step::AcceptAll } else { Step::Output(0) })
    }

    fn build(&mut self, programs: &[&Program], decide: impl Fn(u32, usize) -> Step) -> u32 {
        assert!(programs.len() <= 32, "at most 32 patterns per classifier");
        // Layered subset construction: (NFA state set, depth) so that outputs may depend on length.
        let start: Vec<NfaState> = closure(programs, programs.iter().enumerate().map(|(i, _)| (i as u16, 0)));
        let mut layered: Vec<(Vec<NfaState>, usize)> = vec![(start.clone(), 0)];
        let mut ids: HashMap<(Vec<NfaState>, usize), usize> = HashMap::from([((start, 0), 0)]);
        let mut edges: Vec<[Option<usize>; 10]> = Vec::new();
        let mut steps: Vec<Step> = Vec::new();
        let mut next = 0;
        while next < layered.len() {
            let (set, depth) = layered[next].clone();
            next += 1;
            let mask =
                set.iter().fold(0u32, |mask, &(p, pc)| match programs[p as usize].insts[pc as usize] {
                    Inst::Match => mask | 1 << p,
                    _ => mask,
                });
            let step = decide(mask, depth);
            let mut row = [None; 10];
            if !matches!(step, Step::AcceptAll) {
                for (digit, slot) in row.iter_mut().enumerate() {
                    let moved =
                        set.iter().filter_map(|&(p, pc)| match programs[p as usize].insts[pc as usize] {
                            Inst::Digits(digits, to) if digits & (1 << digit) != 0 => Some((p, to as u32)),
                            _ => None,
                        });
                    let target = closure(programs, moved);
                    if target.is_empty() {
                        continue;
                    }
                    assert!(depth < MAX_DEPTH, "metadata pattern accepts strings longer than {MAX_DEPTH}");
                    let key = (target, depth + 1);
                    let id = *ids.entry(key.clone()).or_insert_with(|| {
                        layered.push(key);
                        layered.len() - 1
                    });
                    *slot = Some(id);
                }
            }
            edges.push(row);
            steps.push(step);
        }
        // Layers only point forward, so interning in reverse discovery order is a bottom-up
        // minimisation of the acyclic automaton.
        let mut global = vec![DEAD; layered.len()];
        for local in (0..layered.len()).rev() {
            global[local] = match steps[local] {
                Step::AcceptAll => ACCEPT_ALL,
                Step::Output(output) => {
                    let transitions = edges[local].map(|edge| edge.map_or(DEAD, |to| global[to]));
                    self.intern(transitions, output)
                }
            };
        }
        global[0]
    }
}

#[derive(Clone, Copy)]
enum Step {
    Output(u8),
    AcceptAll,
}

/// Epsilon closure, keeping only the states that consume a digit or accept.
fn closure(programs: &[&Program], seeds: impl Iterator<Item = NfaState>) -> Vec<NfaState> {
    let mut out = Vec::new();
    let mut stack: Vec<NfaState> = seeds.collect();
    stack.reverse();
    let mut seen = std::collections::HashSet::new();
    while let Some((p, pc)) = stack.pop() {
        if !seen.insert((p, pc)) {
            continue;
        }
        match programs[p as usize].insts[pc as usize] {
            Inst::Digits(..) | Inst::Match => out.push((p, pc)),
            Inst::Jmp(to) | Inst::Save(_, to) => stack.push((p, to as u32)),
            Inst::Split(a, b) => {
                stack.push((p, b as u32));
                stack.push((p, a as u32));
            }
            Inst::AssertEnd(_) => panic!("'$' is not supported in number-type or leading-digit patterns"),
        }
    }
    out.sort_unstable();
    out
}
