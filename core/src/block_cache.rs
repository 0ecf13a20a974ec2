//! A host's cache of "blocked until T" answers of a remote store (the Envoy filter keeps one per
//! VM), so a scope the store already refuses costs no round trip while its refusal lasts. Which
//! refusals qualify is counter knowledge, so it lives here, beside the counters.
//!
//! Only answers that cannot end before T are kept: a check the store answered `triggered`,
//! with a wait (`retry_after_ms > 0`), that its own answer did not create (`escalated` false,
//! so the state behind it is stored, not merely proposed), of a kind whose refusal only other
//! requests' writes can lengthen, never shorten: a rate limit's theoretical arrival time, a
//! backoff's ready time, an adjacency or conversion block's end. T comes from the store's answer
//! and is never moved by a cache hit, so repeats cannot extend it; past T the store is asked
//! again. A request is answered from the cache only when every one of its checks is.
//!
//! What the cache cannot see: a block lifted in Redis by hand, or counters lost with Redis,
//! still refuse on this host until T (`store.block_cache_entries: 0` turns it off).

use std::collections::{HashMap, VecDeque};

use crate::engine::CounterOp;
use crate::limit::CounterVerdict;
use crate::{CheckOutcome, CounterCheck, Timestamp};

/// Bounded map of check identity → blocked until (milliseconds) and whether the refusal asked
/// for a block whatever the rule's action (a conversion scope's streak: it stays the same while
/// the block lasts); the oldest entry goes first.
pub struct BlockCache {
    capacity: usize,
    entries: HashMap<String, Entry>,
    /// Insertion order (key, sequence); an entry whose sequence no longer matches is stale.
    order: VecDeque<(String, u64)>,
    next_seq: u64,
}

#[derive(Clone, Copy)]
struct Entry {
    until: u64,
    /// Insertion sequence, matched against `order`.
    seq: u64,
    severe: bool,
}

/// The cache's identity of a check, `None` for kinds whose refusal may end early (bookkeeping of
/// conversion credit). Adjacency ignores the suffix: a block in force refuses every number of
/// its block.
fn identity(check: &CounterCheck) -> Option<String> {
    let kind = match check.op {
        CounterOp::Rate => "rate",
        CounterOp::Backoff => "backoff",
        CounterOp::Adjacent { .. } => "adjacent",
        CounterOp::ConversionSend => "conversion",
        CounterOp::ConversionConfirm
        | CounterOp::PairConfirm { .. }
        | CounterOp::ConversionSentNumber
        | CounterOp::ConversionConfirmNumber
        | CounterOp::ConversionSolvedNumber { .. }
        | CounterOp::ConversionConfirmSolved
        | CounterOp::TrustSend
        | CounterOp::TrustConfirm
        | CounterOp::TrustImport
        | CounterOp::PairSend
        | CounterOp::IntelRead
        | CounterOp::IntelStore(_)
        | CounterOp::AccountSent { .. }
        | CounterOp::AccountConfirm
        | CounterOp::BindNumber { .. }
        | CounterOp::BoundNumberRead
        | CounterOp::BindSignInNumber { .. }
        | CounterOp::ProveSignInNumber { .. }
        | CounterOp::SignInNumberRead
        | CounterOp::SignInPeek
        | CounterOp::SignInCharge
        // A surge refusal may be a challenge or a block: the cached wait would not say which.
        | CounterOp::SurgeSend => return None,
    };
    Some(format!("{}|{kind}|{}", check.rule, check.key))
}

impl BlockCache {
    /// A cache of at most `capacity` entries (0: never stores anything).
    pub fn new(capacity: usize) -> BlockCache {
        BlockCache { capacity, entries: HashMap::new(), order: VecDeque::new(), next_seq: 0 }
    }

    /// Entries kept (some may have ended: they go at their next lookup or by age).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The outcomes of every check from the cache, or `None` unless each one is blocked at `now`.
    pub fn answer(&mut self, checks: &[CounterCheck], now: Timestamp) -> Option<Vec<CheckOutcome>> {
        if self.capacity == 0 || checks.is_empty() {
            return None;
        }
        let now = now.as_millis();
        let mut outcomes = Vec::with_capacity(checks.len());
        // A number-intelligence cache read decides nothing once every counter refuses: answered
        // as a miss, it leaves the cache in use for policies that look numbers up.
        if checks.iter().all(|c| c.op == CounterOp::IntelRead) {
            return None;
        }
        for check in checks {
            if check.op == CounterOp::IntelRead {
                outcomes.push(CheckOutcome::Verdict(CounterVerdict::PASS));
                continue;
            }
            let id = identity(check)?;
            let &Entry { until, severe, .. } = self.entries.get(&id)?;
            if until <= now {
                self.entries.remove(&id);
                return None;
            }
            let mut verdict = CounterVerdict::trigger(until - now);
            verdict.severe = severe;
            outcomes.push(CheckOutcome::Verdict(verdict));
        }
        Some(outcomes)
    }

    /// Keeps the blocks of a round's answer (`outcomes` in the order of `checks`); returns how
    /// many were stored. A key checked twice in one round is skipped: its second answer may rest
    /// on the first one's proposed, unstored, write.
    pub fn learn(&mut self, checks: &[CounterCheck], outcomes: &[CheckOutcome], now: Timestamp) -> usize {
        if self.capacity == 0 || checks.len() != outcomes.len() {
            return 0;
        }
        let mut stored = 0;
        for (check, outcome) in checks.iter().zip(outcomes) {
            let CheckOutcome::Verdict(v) = outcome else { continue };
            let Some(wait) = v.retry_after_ms.filter(|w| *w > 0 && v.triggered && !v.escalated) else {
                continue;
            };
            if checks.iter().filter(|c| c.key == check.key).count() > 1 {
                continue;
            }
            let Some(id) = identity(check) else { continue };
            self.insert(id, now.as_millis().saturating_add(wait), v.severe);
            stored += 1;
        }
        stored
    }

    fn insert(&mut self, id: String, until: u64, severe: bool) {
        let seq = self.next_seq;
        self.next_seq += 1;
        // The store's latest word: a later answer for the same check is at least as long.
        let until = self.entries.get(&id).map_or(until, |old| until.max(old.until));
        self.entries.insert(id.clone(), Entry { until, seq, severe });
        self.order.push_back((id, seq));
        while self.entries.len() > self.capacity {
            let Some((oldest, seq)) = self.order.pop_front() else { break };
            if self.entries.get(&oldest).is_some_and(|e| e.seq == seq) {
                self.entries.remove(&oldest);
            }
        }
        // Stale order entries (keys stored again) are dropped once they outnumber live ones.
        if self.order.len() > 2 * self.capacity.max(16) {
            let entries = &self.entries;
            self.order.retain(|(k, s)| entries.get(k).is_some_and(|e| e.seq == *s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(rule: u16, key: &str, op: CounterOp) -> CounterCheck {
        CounterCheck::new(rule, key.to_owned(), op, None)
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    const BLOCKED: CheckOutcome = CheckOutcome::Verdict(CounterVerdict {
        severe: false,
        triggered: true,
        retry_after_ms: Some(1_000),
        escalated: false,
        intel: None,
        solver: None,
        trusted_for_ms: None,
        past_trusted_sends: false,
        answered: false,
    });

    #[test]
    fn a_block_answers_until_its_end_and_not_after() {
        let mut cache = BlockCache::new(8);
        let checks = [check(0, "rl:a", CounterOp::Rate)];
        assert_eq!(cache.learn(&checks, &[BLOCKED], at(10_000)), 1);
        let got = cache.answer(&checks, at(10_400));
        assert_eq!(got, Some(vec![CheckOutcome::Verdict(CounterVerdict::trigger(600))]));
        assert_eq!(cache.answer(&checks, at(10_999)).map(|o| o.len()), Some(1));
        assert_eq!(cache.answer(&checks, at(11_000)), None, "at T the store is asked again");
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn repeats_never_extend_a_block() {
        let mut cache = BlockCache::new(8);
        let checks = [check(0, "bo:n", CounterOp::Backoff)];
        cache.learn(&checks, &[BLOCKED], at(0));
        for t in (0..1_000).step_by(100) {
            assert!(cache.answer(&checks, at(t)).is_some());
        }
        assert_eq!(cache.answer(&checks, at(1_000)), None);
    }

    #[test]
    fn only_stored_refusals_of_monotone_kinds_are_kept() {
        let mut cache = BlockCache::new(8);
        let escalated = CheckOutcome::Verdict(CounterVerdict::escalate(1_000));
        let no_wait = CheckOutcome::Verdict(CounterVerdict::trigger(0));
        let pass = CheckOutcome::Verdict(CounterVerdict::PASS);
        let checks = [
            check(0, "a", CounterOp::Adjacent { suffix: 1 }),
            check(1, "b", CounterOp::Rate),
            check(2, "c", CounterOp::Rate),
            check(3, "d", CounterOp::ConversionConfirmNumber),
            check(4, "e", CounterOp::Rate),
        ];
        let outcomes = [escalated, no_wait, pass, BLOCKED, CheckOutcome::StoreFailed];
        assert_eq!(cache.learn(&checks, &outcomes, at(0)), 0);
        // A key checked twice in one round: the second answer may rest on the first's write.
        let twice = [check(0, "k", CounterOp::Rate), check(1, "k", CounterOp::Backoff)];
        assert_eq!(cache.learn(&twice, &[BLOCKED, BLOCKED], at(0)), 0);
    }

    #[test]
    fn a_request_is_answered_only_when_every_check_is_blocked() {
        let mut cache = BlockCache::new(8);
        let blocked = check(0, "rl:a", CounterOp::Rate);
        cache.learn(std::slice::from_ref(&blocked), &[BLOCKED], at(0));
        assert_eq!(cache.answer(&[blocked.clone(), check(1, "rl:b", CounterOp::Rate)], at(1)), None);
        // An adjacency block refuses every suffix of its block.
        let adj = |suffix| check(2, "adj:x", CounterOp::Adjacent { suffix });
        cache.learn(&[adj(1)], &[BLOCKED], at(0));
        assert!(cache.answer(&[adj(7)], at(1)).is_some());
        assert!(cache.answer(&[], at(1)).is_none());
    }

    #[test]
    fn size_is_bounded_and_the_oldest_goes_first() {
        let mut cache = BlockCache::new(4);
        for i in 0..100u64 {
            let c = [check(0, &format!("k{i}"), CounterOp::Rate)];
            cache.learn(&c, &[BLOCKED], at(i));
            assert!(cache.len() <= 4);
            assert!(cache.order.len() <= 2 * 16 + 1);
        }
        assert!(cache.answer(&[check(0, "k99", CounterOp::Rate)], at(100)).is_some());
        assert!(cache.answer(&[check(0, "k95", CounterOp::Rate)], at(100)).is_none());
        let mut off = BlockCache::new(0);
        assert_eq!(off.learn(&[check(0, "k", CounterOp::Rate)], &[BLOCKED], at(0)), 0);
    }

    #[test]
    fn a_block_asked_for_whatever_the_action_stays_one() {
        let mut cache = BlockCache::new(8);
        let checks = [check(0, "cv:c", CounterOp::ConversionSend)];
        let severe = CheckOutcome::Verdict(CounterVerdict { severe: true, ..CounterVerdict::trigger(1_000) });
        assert_eq!(cache.learn(&checks, &[severe], at(0)), 1);
        let Some(answer) = cache.answer(&checks, at(400)) else { panic!("cached") };
        assert_eq!(
            answer,
            vec![CheckOutcome::Verdict(CounterVerdict { severe: true, ..CounterVerdict::trigger(600) })]
        );
    }
}
