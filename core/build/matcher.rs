//! Anchored leftmost-first matching ("lookingAt") with capture groups, resolved at build time.
//!
//! The international-prefix and national-prefix-for-parsing patterns need more than a yes/no:
//! where the preferred match ends and what its groups captured. We run a Pike VM symbolically
//! over every input: its complete configuration (position, priority-ordered threads with their
//! captures, best match so far) is a DFA state. Because the patterns only accept bounded
//! strings this is finite. The alphabet is the ten digits plus END, so `$` is exact. At run
//! time matching is a table walk with no backtracking.

use crate::program::{Inst, Program};
use std::collections::HashMap;

pub const END: usize = 10;
pub const NO_CAPTURE: u8 = u8::MAX;
const MAX_STATES_PER_MATCHER: usize = 20_000;

/// `(match end, group 1 start, group 1 end, group 2 start, group 2 end)`.
pub type Outcome = [u8; 5];

type Captures = Vec<Option<usize>>;
type Threads = Vec<(usize, Captures)>;
type Best = Option<(usize, Captures)>;

pub struct Matchers {
    pub transitions: Vec<[u32; 11]>,
    /// For terminal states, the index into `outcomes` (0 = no match); 0 for other states.
    pub outcome_of_state: Vec<u16>,
    /// Index 0 is the "no match" placeholder.
    pub outcomes: Vec<Outcome>,
    terminal_for_outcome: HashMap<u16, u32>,
}

impl Matchers {
    pub fn new() -> Matchers {
        let mut matchers = Matchers {
            transitions: Vec::new(),
            outcome_of_state: Vec::new(),
            outcomes: vec![[NO_CAPTURE; 5]],
            terminal_for_outcome: HashMap::new(),
        };
        matchers.terminal(None, 0);
        matchers
    }

    fn terminal(&mut self, best: Best, groups: usize) -> u32 {
        let outcome_id = match best {
            None => 0,
            Some((end, caps)) => {
                let mut outcome = [NO_CAPTURE; 5];
                outcome[0] = u8::try_from(end).expect("match end fits u8");
                for group in 1..=groups {
                    if let (Some(start), Some(stop)) = (caps[2 * group], caps[2 * group + 1]) {
                        outcome[2 * group - 1] = start as u8;
                        outcome[2 * group] = stop as u8;
                    }
                }
                match self.outcomes.iter().position(|o| *o == outcome) {
                    Some(i) => i as u16,
                    None => {
                        self.outcomes.push(outcome);
                        (self.outcomes.len() - 1) as u16
                    }
                }
            }
        };
        if let Some(&state) = self.terminal_for_outcome.get(&outcome_id) {
            return state;
        }
        let state = self.transitions.len() as u32;
        self.transitions.push([state; 11]);
        self.outcome_of_state.push(outcome_id);
        self.terminal_for_outcome.insert(outcome_id, state);
        state
    }

    /// Adds the matcher for `program` and returns its start state.
    pub fn add(&mut self, program: &Program, name: &str) -> u32 {
        assert!(program.groups <= 2, "{name}: at most two capture groups are supported");
        let slots = 2 * (program.groups + 1);
        type Key = (usize, Threads, Best);
        let start: Key = (0, vec![(0, vec![None; slots])], None);
        let mut keys: Vec<Key> = vec![start.clone()];
        let mut ids: HashMap<Key, usize> = HashMap::from([(start, 0)]);
        // Per local state: target per symbol, either local state or a global terminal.
        let mut rows: Vec<[Target; 11]> = Vec::new();
        let mut next = 0;
        while next < keys.len() {
            assert!(keys.len() < MAX_STATES_PER_MATCHER, "{name}: matcher too large");
            let (pos, threads, best) = keys[next].clone();
            next += 1;
            let mut row = [Target::Global(0); 11];
            for (symbol, slot) in row.iter_mut().enumerate() {
                let (moved, best) = step(program, pos, &threads, &best, symbol);
                *slot = if symbol == END || moved.is_empty() {
                    Target::Global(self.terminal(best, program.groups))
                } else {
                    let key = (pos + 1, moved, best);
                    let id = *ids.entry(key.clone()).or_insert_with(|| {
                        keys.push(key);
                        keys.len() - 1
                    });
                    Target::Local(id)
                };
            }
            rows.push(row);
        }
        let base = self.transitions.len() as u32;
        for row in rows {
            self.transitions.push(row.map(|t| match t {
                Target::Global(g) => g,
                Target::Local(l) => base + l as u32,
            }));
            self.outcome_of_state.push(0);
        }
        base
    }
}

#[derive(Clone, Copy)]
enum Target {
    Global(u32),
    Local(usize),
}

/// One Pike VM step at `pos` on `symbol` (a digit or END).
fn step(program: &Program, pos: usize, threads: &Threads, best: &Best, symbol: usize) -> (Threads, Best) {
    let mut ready: Threads = Vec::new();
    let mut seen = vec![false; program.insts.len()];
    for (pc, caps) in threads {
        follow(program, *pc, caps.clone(), pos, symbol == END, &mut seen, &mut ready);
    }
    let mut moved: Threads = Vec::new();
    let mut best = best.clone();
    for (pc, caps) in ready {
        match program.insts[pc] {
            Inst::Match => {
                // Lower-priority threads can no longer win.
                best = Some((pos, caps));
                break;
            }
            Inst::Digits(set, to) => {
                if symbol != END && set & (1 << symbol) != 0 && !moved.iter().any(|(p, _)| *p == to) {
                    moved.push((to, caps));
                }
            }
            _ => unreachable!("closure only yields Digits and Match"),
        }
    }
    (moved, best)
}

fn follow(
    program: &Program,
    pc: usize,
    mut caps: Captures,
    pos: usize,
    at_end: bool,
    seen: &mut [bool],
    out: &mut Threads,
) {
    if seen[pc] {
        return;
    }
    seen[pc] = true;
    match program.insts[pc] {
        Inst::Digits(..) | Inst::Match => out.push((pc, caps)),
        Inst::Jmp(to) => follow(program, to, caps, pos, at_end, seen, out),
        Inst::Split(a, b) => {
            follow(program, a, caps.clone(), pos, at_end, seen, out);
            follow(program, b, caps, pos, at_end, seen, out);
        }
        Inst::Save(slot, to) => {
            caps[slot] = Some(pos);
            follow(program, to, caps, pos, at_end, seen, out);
        }
        Inst::AssertEnd(to) => {
            if at_end {
                follow(program, to, caps, pos, at_end, seen, out);
            }
        }
    }
}
