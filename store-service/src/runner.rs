//! Runs one round of a request's counter checks against a remote key-value backend with the
//! core's own steps, in two round trips:
//!
//! 1. every key of the round is read at once;
//! 2. a peek runs the checks on those values ([`Policy::peek_checks`]) and writes nothing; a
//!    commit runs them for real ([`Policy::run_check`]) on a local copy, then writes each changed
//!    key with a compare-and-swap against the exact bytes it read.
//!
//! A check reads and writes only its own key, so when another replica wrote a key in between,
//! only that key's checks run again, on a fresh read, up to `max_rounds` times; checks of keys
//! that still lose are store failures. That keeps several replicas behind one backend exact,
//! and each write touches one key, so the layout is safe for Redis Cluster.
//!
//! Where the backend can compare and write several keys at once (a standalone Redis: one Lua
//! script over the round's keys), a round first runs on the values the backend last saw for its
//! keys (absent for keys it never saw) and is sent as one atomic swap, written only if every key
//! still holds what the checks ran on. If one does not, the swap answers what every key holds;
//! the round is decided on that answer when it writes nothing, and otherwise goes on key by key
//! from it as above. A good guess costs one round trip instead of two, a stale one two, as before.
//!
//! Stored bytes: the counter's expiry (request time, milliseconds, u64 big-endian) then the
//! core's value. A value expired at the request's time reads as absent, whatever the backend's
//! own expiry (which follows the backend's clock) did with it.

use std::cell::RefCell;
use std::collections::HashMap;

use pumpguard_core::remote::CheckRequest;
use pumpguard_core::store::{Record, StoreError, Version, Versioned};
use pumpguard_core::{CheckOutcome, Policy, Store, Timestamp};

/// One compare-and-swap write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cas {
    /// Full backend key.
    pub key: String,
    /// The bytes read (`None`: the key was absent); the write happens only if they are unchanged.
    pub expected: Option<Vec<u8>>,
    /// The bytes to store.
    pub value: Vec<u8>,
    /// Backend expiry, milliseconds from now (at least 1).
    pub ttl_ms: u64,
}

/// One key of a whole-round swap: its expected bytes (`None`: absent), and its new bytes and
/// expiry (milliseconds from now) if the round changed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guarded {
    pub key: String,
    pub expected: Option<Vec<u8>>,
    pub write: Option<(Vec<u8>, u64)>,
}

/// What a key holds, as the backend answers it.
pub type Held = Option<Vec<u8>>;

/// Why the backend could not answer (unreachable, timeout, protocol error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError(pub String);

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The two operations the runner needs of a backend.
pub trait Backend {
    /// The stored bytes of each key, in order.
    fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, BackendError>;
    /// Each write, atomically per key: true where it was applied, false where the key changed.
    fn cas_many(&mut self, writes: &[Cas]) -> Result<Vec<bool>, BackendError>;
    /// Called before compare-and-swap round `round` (from 1) runs again: a backend may wait a
    /// little, so that writers racing for one hot key stop colliding in lockstep. False: no
    /// time is left for another round (the keys still pending become store failures).
    fn before_retry(&mut self, _round: u32) -> bool {
        true
    }
    /// Whether [`Backend::swap_all`] works here.
    fn whole_rounds(&self) -> bool {
        false
    }
    /// What the backend last saw each key hold (`None`: never seen, guessed absent).
    fn guesses(&mut self, keys: &[String]) -> Vec<Held> {
        vec![None; keys.len()]
    }
    /// Atomically: if every key holds its `expected` bytes, applies every write and answers
    /// `None`; otherwise writes nothing and answers what each key holds.
    fn swap_all(&mut self, _round: &[Guarded]) -> Result<Option<Vec<Held>>, BackendError> {
        Err(BackendError("this backend cannot swap a whole round".to_owned()))
    }
}

/// What a round did and cost, for the answer and for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundStats {
    /// A peek round run with `commit_if_pass` found every check passing and committed them:
    /// the outcomes are the commit's.
    pub committed: bool,
    /// Compare-and-swap writes another writer beat.
    pub conflicts: u64,
    /// Checks reported as store failures because their key kept conflicting.
    pub gave_up: u64,
    /// Keys whose guessed value (whole rounds) was not what they held.
    pub stale_guesses: u64,
}

/// Encodes a stored value: expiry, then the core's bytes.
pub fn encode(value: &[u8], expires_at: Timestamp) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&expires_at.as_millis().to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// Decodes stored bytes into the core's value and its expiry; `None` for bytes too short.
pub fn decode(raw: &[u8]) -> Option<(&[u8], Timestamp)> {
    let (head, value) = raw.split_at_checked(8)?;
    let expiry = u64::from_be_bytes(head.try_into().ok()?);
    Some((value, Timestamp::from_millis(expiry)))
}

/// One key as the round sees it.
struct Slot {
    /// Exactly what the backend held when read.
    raw: Option<Vec<u8>>,
    /// The value and its expiry, as the checks left it.
    current: Option<(Vec<u8>, Timestamp)>,
    version: Version,
    written: bool,
}

/// The round's local copy of its keys: the core's [`Store`] for one synchronous run.
#[derive(Default)]
struct Batch {
    slots: RefCell<HashMap<String, Slot>>,
}

impl Batch {
    fn load(&self, key: &str, raw: Option<Vec<u8>>) {
        let current = raw.as_deref().and_then(decode).map(|(v, e)| (v.to_vec(), e));
        self.slots.borrow_mut().insert(key.to_owned(), Slot { raw, current, version: 0, written: false });
    }

    /// The compare-and-swap write of `key`, if its checks changed it.
    fn write_of(&self, key: &str, full_key: String, now: Timestamp) -> Option<Cas> {
        let (value, ttl_ms) = self.new_value(key, now)?;
        let expected = self.slots.borrow().get(key)?.raw.clone();
        Some(Cas { key: full_key, expected, value, ttl_ms })
    }

    /// The bytes to store for `key` and their backend expiry, if its checks changed it.
    fn new_value(&self, key: &str, now: Timestamp) -> Option<(Vec<u8>, u64)> {
        let slots = self.slots.borrow();
        let slot = slots.get(key).filter(|s| s.written)?;
        let (value, expires_at) = slot.current.as_ref()?;
        let ttl_ms = expires_at.as_millis().saturating_sub(now.as_millis()).max(1);
        Some((encode(value, *expires_at), ttl_ms))
    }
}

impl Store for Batch {
    fn get(&self, key: &str, now: Timestamp) -> Result<Option<Versioned>, StoreError> {
        let slots = self.slots.borrow();
        let slot = slots.get(key).ok_or(StoreError::Unavailable)?;
        Ok(match &slot.current {
            Some((value, expires_at)) if *expires_at > now => {
                Some(Versioned { value: value.clone(), version: slot.version })
            }
            _ => None,
        })
    }

    fn put(
        &self,
        key: &str,
        record: Record<'_>,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut slots = self.slots.borrow_mut();
        let slot = slots.get_mut(key).ok_or(StoreError::Unavailable)?;
        let live = slot.current.as_ref().is_some_and(|(_, e)| *e > now);
        match (expected, live) {
            (None, false) => {}
            (Some(v), true) if v == slot.version => {}
            _ => return Err(StoreError::Conflict),
        }
        slot.current = Some((record.value.to_vec(), record.expires_at));
        slot.version = slot.version.wrapping_add(1);
        slot.written = true;
        Ok(())
    }
}

/// Runs `request`'s checks with `policy`; keys are `prefix` + the check's key.
///
/// `commit_if_pass` (peek rounds only): when every check passes the peek, they are committed
/// at once on the values already read, as the caller's commit round would have committed them
/// (a request no counter refuses goes to origin with every check committed), saving it a round
/// trip; [`RoundStats::committed`] says so. Otherwise the peek's outcomes are answered.
pub fn run(
    policy: &Policy,
    request: &CheckRequest,
    prefix: &str,
    backend: &mut dyn Backend,
    max_rounds: u32,
    commit_if_pass: bool,
) -> Answered {
    let job = Job {
        policy,
        request,
        prefix,
        max_rounds,
        commit_if_pass,
        now: Timestamp::from_millis(request.now_ms),
        keys: distinct_keys(request),
    };
    if backend.whole_rounds() {
        run_whole(&job, backend)
    } else {
        run_key_by_key(&job, backend, None)
    }
}

/// One round's work, as [`run`] was asked it.
struct Job<'a> {
    policy: &'a Policy,
    request: &'a CheckRequest,
    prefix: &'a str,
    max_rounds: u32,
    commit_if_pass: bool,
    now: Timestamp,
    /// The round's keys, each once, without the prefix.
    keys: Vec<&'a str>,
}

/// Outcomes of a round's checks, in order, and what the round did; or why the backend failed.
type Answered = Result<(Vec<CheckOutcome>, RoundStats), BackendError>;

/// [`run`] reading every key, then writing each changed key with its own compare-and-swap.
/// `first_read`: what the keys held, already answered by the backend (no first read then).
fn run_key_by_key(job: &Job<'_>, backend: &mut dyn Backend, first_read: Option<Vec<Held>>) -> Answered {
    let Job { policy, request, prefix, max_rounds, now, .. } = *job;
    let keys = job.keys.clone();
    let mut stats = RoundStats::default();
    let batch = Batch::default();
    let full = |key: &str| format!("{prefix}{key}");
    let read = |backend: &mut dyn Backend, keys: &[&str]| -> Result<(), BackendError> {
        let values = backend.get_many(&keys.iter().map(|k| full(k)).collect::<Vec<_>>())?;
        if values.len() != keys.len() {
            return Err(BackendError("backend answered a different number of keys".to_owned()));
        }
        for (key, raw) in keys.iter().zip(values) {
            batch.load(key, raw);
        }
        Ok(())
    };
    match first_read {
        Some(values) if values.len() == keys.len() => {
            for (key, raw) in keys.iter().zip(values) {
                batch.load(key, raw);
            }
        }
        _ => read(backend, &keys)?,
    }
    if request.peek {
        if let Err(peeked) = peek_commits(job, &batch) {
            return Ok((peeked, stats));
        }
        // The peek wrote nothing (an overlay): the commit runs on exactly what was read.
        stats.committed = true;
    }
    let mut outcomes = vec![CheckOutcome::StoreFailed; request.checks.len()];
    let mut pending: Vec<&str> = keys;
    for round in 0..max_rounds.max(1) {
        if round > 0 {
            if !backend.before_retry(round) {
                break;
            }
            read(backend, &pending)?;
        }
        let retried: std::collections::HashSet<&str> = pending.iter().copied().collect();
        for (check, outcome) in request.checks.iter().zip(outcomes.iter_mut()) {
            if retried.contains(check.key.as_str()) {
                *outcome = policy.run_check(check, now, &batch);
            }
        }
        let writes: Vec<(&str, Cas)> =
            pending.iter().filter_map(|k| batch.write_of(k, full(k), now).map(|w| (*k, w))).collect();
        if writes.is_empty() {
            return Ok((outcomes, stats));
        }
        let cas: Vec<Cas> = writes.iter().map(|(_, w)| w.clone()).collect();
        let applied = backend.cas_many(&cas)?;
        if applied.len() != cas.len() {
            return Err(BackendError("backend answered a different number of writes".to_owned()));
        }
        pending = writes.iter().zip(&applied).filter(|(_, ok)| !**ok).map(|((k, _), _)| *k).collect();
        stats.conflicts += pending.len() as u64;
        if pending.is_empty() {
            return Ok((outcomes, stats));
        }
    }
    let lost: std::collections::HashSet<&str> = pending.iter().copied().collect();
    for (check, outcome) in request.checks.iter().zip(outcomes.iter_mut()) {
        if lost.contains(check.key.as_str()) {
            *outcome = CheckOutcome::StoreFailed;
            stats.gave_up += 1;
        }
    }
    Ok((outcomes, stats))
}

/// A peek round on `batch`: `Ok` when it is to be committed at once (every check passes and the
/// caller asked for it), otherwise its outcomes are the answer.
fn peek_commits(job: &Job<'_>, batch: &Batch) -> Result<(), Vec<CheckOutcome>> {
    let peeked = job.policy.peek_checks(&job.request.checks, job.now, batch);
    let pass = peeked.iter().all(|o| matches!(o, CheckOutcome::Verdict(v) if !v.triggered));
    if job.commit_if_pass && pass {
        Ok(())
    } else {
        Err(peeked)
    }
}

fn distinct_keys(request: &CheckRequest) -> Vec<&str> {
    // A set, not a scan of the list: a round's keys come from whoever reaches the service.
    let mut seen = std::collections::HashSet::with_capacity(request.checks.len());
    request.checks.iter().map(|c| c.key.as_str()).filter(|key| seen.insert(*key)).collect()
}

/// [`run`] on a backend that swaps whole rounds: the checks run on the backend's guesses and
/// the round is sent as one swap, written only if every key still held its guess. When one did
/// not, the swap answered what every key holds, a consistent snapshot: a round that writes
/// nothing on it is decided (a read would have decided the same), and one that writes goes on
/// key by key from it, as if it had been read, so a key other writers keep changing is retried
/// alone and not with the whole round.
fn run_whole(job: &Job<'_>, backend: &mut dyn Backend) -> Answered {
    let Job { policy, request, prefix, now, ref keys, .. } = *job;
    let full: Vec<String> = keys.iter().map(|k| format!("{prefix}{k}")).collect();
    let guesses = backend.guesses(&full);
    if guesses.len() != keys.len() {
        return Err(BackendError("backend guessed a different number of keys".to_owned()));
    }
    let evaluate = |values: &[Held]| {
        let batch = Batch::default();
        for (key, raw) in keys.iter().zip(values) {
            batch.load(key, raw.clone());
        }
        let commit = |batch: &Batch| request.checks.iter().map(|c| policy.run_check(c, now, batch)).collect();
        let (outcomes, committed) = match request.peek.then(|| peek_commits(job, &batch)) {
            None => (commit(&batch), false),
            Some(Ok(())) => (commit(&batch), true),
            Some(Err(peeked)) => (peeked, false),
        };
        (batch, outcomes, RoundStats { committed, ..RoundStats::default() })
    };
    let (batch, outcomes, stats) = evaluate(&guesses);
    let round: Vec<Guarded> = keys
        .iter()
        .zip(&full)
        .zip(&guesses)
        .map(|((key, full), raw)| Guarded {
            key: full.clone(),
            expected: raw.clone(),
            write: batch.new_value(key, now),
        })
        .collect();
    let Some(held) = backend.swap_all(&round)? else {
        return Ok((outcomes, stats));
    };
    if held.len() != keys.len() {
        return Err(BackendError("backend answered a different number of keys".to_owned()));
    }
    let stale = guesses.iter().zip(&held).filter(|(a, b)| a != b).count() as u64;
    let (batch, outcomes, stats) = evaluate(&held);
    if keys.iter().all(|k| batch.new_value(k, now).is_none()) {
        return Ok((outcomes, RoundStats { stale_guesses: stale, ..stats }));
    }
    let (outcomes, stats) = run_key_by_key(job, backend, Some(held))?;
    Ok((outcomes, RoundStats { stale_guesses: stale, ..stats }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pumpguard_core::{MemoryStore, Request};

    /// An in-memory backend; `interfere` lets a test write between the read and the write.
    #[derive(Default)]
    struct Fake {
        data: HashMap<String, Vec<u8>>,
        interfere: Vec<(String, Vec<u8>)>,
        reads: usize,
        /// Swaps whole rounds, guessing from `known` (what it last saw).
        whole: bool,
        known: HashMap<String, Vec<u8>>,
        swaps: usize,
    }

    impl Fake {
        fn whole() -> Fake {
            Fake { whole: true, ..Fake::default() }
        }
    }

    impl Backend for Fake {
        fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
            self.reads += 1;
            let out = keys.iter().map(|k| self.data.get(k).cloned()).collect();
            for (k, v) in self.interfere.drain(..) {
                self.data.insert(k, v);
            }
            Ok(out)
        }

        fn cas_many(&mut self, writes: &[Cas]) -> Result<Vec<bool>, BackendError> {
            Ok(writes
                .iter()
                .map(|w| {
                    if self.data.get(&w.key) == w.expected.as_ref() {
                        self.data.insert(w.key.clone(), w.value.clone());
                        true
                    } else {
                        false
                    }
                })
                .collect())
        }

        fn whole_rounds(&self) -> bool {
            self.whole
        }

        fn guesses(&mut self, keys: &[String]) -> Vec<Held> {
            keys.iter().map(|k| self.known.get(k).cloned()).collect()
        }

        fn swap_all(&mut self, round: &[Guarded]) -> Result<Option<Vec<Held>>, BackendError> {
            self.swaps += 1;
            for (k, v) in self.interfere.drain(..) {
                self.data.insert(k, v);
            }
            if round.iter().all(|g| self.data.get(&g.key) == g.expected.as_ref()) {
                for g in round {
                    if let Some((value, _)) = &g.write {
                        self.data.insert(g.key.clone(), value.clone());
                    }
                    match self.data.get(&g.key) {
                        Some(v) => self.known.insert(g.key.clone(), v.clone()),
                        None => self.known.remove(&g.key),
                    };
                }
                return Ok(None);
            }
            let held: Vec<Held> = round.iter().map(|g| self.data.get(&g.key).cloned()).collect();
            for (g, h) in round.iter().zip(&held) {
                match h {
                    Some(v) => self.known.insert(g.key.clone(), v.clone()),
                    None => self.known.remove(&g.key),
                };
            }
            Ok(Some(held))
        }
    }

    const POLICY: &str = r#"{"version":1,
        "routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/otp"}},"extract":{"json_keys":["phone"]}}],
        "rules":[{"id":"per-number","action":"throttle","rate_limit":{"key":["number"],"rate":1,"per_seconds":600,"burst":3}},
                 {"id":"blocks","action":"block","adjacent":{"suffix_digits":2,"window_seconds":600,"max_distinct":4,"block_seconds":900,"escalation_factor":2,"max_block_seconds":3600}}]}"#;

    fn policy() -> Policy {
        Policy::from_json(POLICY).unwrap()
    }

    fn request(phone: &str) -> Request<'static> {
        let body: &'static str = Box::leak(format!(r#"{{"phone":"{phone}"}}"#).into_boxed_str());
        Request {
            method: "POST",
            authority: "a",
            path: "/otp",
            version: pumpguard_core::HttpVersion::Http11,
            headers: &[("content-type", "application/json")],
            body: body.as_bytes(),
            body_truncated: false,
            client_ip: None,
            tls: Default::default(),
            edge: Default::default(),
        }
    }

    /// The remote steps (peek round, conclude, commit round, settle) decide as `decide` does on
    /// one local store.
    #[test]
    fn remote_rounds_decide_as_one_local_store() {
        decides_as_one_local_store(Fake::default());
    }

    #[test]
    fn whole_rounds_decide_as_one_local_store() {
        let fake = decides_as_one_local_store(Fake::whole());
        assert_eq!(fake.reads, 0, "whole rounds never read first");
    }

    fn decides_as_one_local_store(mut fake: Fake) -> Fake {
        let policy = policy();
        let local = MemoryStore::new();
        let mut refused = 0;
        for i in 0..40u64 {
            let phone = format!(
                "+1415555{:04}",
                [100, 101, 102, 103, 104, 105, 100, 100, 100, 100][i as usize % 10] + i / 10
            );
            let req = request(&phone);
            let now = Timestamp::from_millis(1_000_000 + i * 1_000);
            let want = policy.decide(&req, now, &local);
            let prepared = policy.prepare(&req, now);
            let peek = CheckRequest {
                policy_id: 0,
                now_ms: now.as_millis(),
                peek: true,
                namespace: None,
                checks: prepared.checks().to_vec(),
            };
            let (peeked, _) = run(&policy, &peek, "t:", &mut fake, 4, false).unwrap();
            let decision = policy.conclude(prepared, &peeked);
            let commit = CheckRequest {
                policy_id: 0,
                now_ms: now.as_millis(),
                peek: false,
                namespace: None,
                checks: decision.pending_commits().to_vec(),
            };
            let (committed, _) = run(&policy, &commit, "t:", &mut fake, 4, false).unwrap();
            let got = policy.settle_commits(decision, &committed);
            assert_eq!(
                (got.action, got.reasons.len()),
                (want.action, want.reasons.len()),
                "send {i} {phone}"
            );
            refused += usize::from(want.action != pumpguard_core::Action::Allow);
        }
        assert!((1..40).contains(&refused), "both allowed and refused sends: {refused} refused");
        assert!(fake.data.keys().all(|k| k.starts_with("t:")));
        fake
    }

    #[test]
    fn a_whole_round_on_good_guesses_is_one_swap_and_on_a_stale_one_goes_on_key_by_key() {
        let policy = policy();
        let mut fake = Fake::whole();
        let checks = policy.prepare(&request("+14155550100"), Timestamp::from_millis(1)).checks().to_vec();
        let commit = CheckRequest { policy_id: 0, now_ms: 1, peek: false, namespace: None, checks };
        // Nothing stored, nothing known: absent is the right guess.
        let (_, stats) = run(&policy, &commit, "t:", &mut fake, 4, false).unwrap();
        assert_eq!((fake.swaps, stats.stale_guesses, stats.conflicts), (1, 0, 0));
        // What this replica wrote is what it guesses next.
        let (_, stats) = run(&policy, &commit, "t:", &mut fake, 4, false).unwrap();
        assert_eq!((fake.swaps, stats.stale_guesses), (2, 0));
        // Another replica counted meanwhile: the swap answers what the keys hold and the round
        // goes on key by key from that answer (no read), its count on top of the other's.
        let rate_key = format!("t:{}", commit.checks[0].key);
        let mut other = Fake::whole();
        other.data = fake.data.clone();
        other.known = fake.data.clone();
        run(&policy, &commit, "t:", &mut other, 4, false).unwrap();
        fake.data = other.data.clone();
        let (_, stats) = run(&policy, &commit, "t:", &mut fake, 4, false).unwrap();
        assert_eq!((fake.swaps, fake.reads), (3, 0));
        assert!(stats.stale_guesses >= 1 && stats.conflicts == 0 && stats.gave_up == 0);
        let mut sequential = Fake::default();
        for _ in 0..4 {
            run(&policy, &commit, "t:", &mut sequential, 4, false).unwrap();
        }
        assert_eq!(fake.data.get(&rate_key), sequential.data.get(&rate_key), "four counts, as in sequence");
    }

    #[test]
    fn a_key_written_meanwhile_is_run_again_on_a_fresh_read() {
        let policy = policy();
        let mut fake = Fake::default();
        let req = request("+14155550100");
        let now = Timestamp::from_millis(5_000);
        let checks = policy.prepare(&req, now).checks().to_vec();
        let commit = CheckRequest { policy_id: 0, now_ms: 5_000, peek: false, namespace: None, checks };
        // Another replica's write lands on the rate key between this round's read and write.
        let (first, _) = run(&policy, &commit, "t:", &mut fake, 4, false).unwrap();
        let rate_key = format!("t:{}", commit.checks[0].key);
        let other = fake.data.get(&rate_key).cloned().unwrap();
        fake.data.clear();
        fake.interfere.push((rate_key.clone(), other.clone()));
        let (outcomes, stats) = run(&policy, &commit, "t:", &mut fake, 4, false).unwrap();
        assert_eq!(stats.conflicts, 1);
        assert_eq!(outcomes.len(), first.len());
        assert_ne!(fake.data.get(&rate_key), Some(&other), "the retried write counted on top");
    }

    #[test]
    fn commit_if_pass_commits_a_passing_peek_and_only_a_passing_one() {
        commits_only_passing_peeks(Fake::default);
    }

    #[test]
    fn commit_if_pass_in_whole_rounds_commits_a_passing_peek_and_only_a_passing_one() {
        commits_only_passing_peeks(Fake::whole);
    }

    fn commits_only_passing_peeks(backend: fn() -> Fake) {
        let policy = policy();
        let mut fake = backend();
        let checks = policy.prepare(&request("+14155550100"), Timestamp::from_millis(1)).checks().to_vec();
        let peek = CheckRequest { policy_id: 0, now_ms: 1, peek: true, namespace: None, checks };
        // Burst 3: three peeks commit, the fourth is refused and writes nothing.
        for i in 0..3 {
            let (outcomes, stats) = run(&policy, &peek, "t:", &mut fake, 4, true).unwrap();
            assert!(stats.committed, "send {i}");
            assert!(outcomes.iter().all(|o| matches!(o, CheckOutcome::Verdict(v) if !v.triggered)));
        }
        let before = fake.data.clone();
        let (outcomes, stats) = run(&policy, &peek, "t:", &mut fake, 4, true).unwrap();
        assert!(!stats.committed);
        assert!(outcomes.iter().any(|o| matches!(o, CheckOutcome::Verdict(v) if v.triggered)));
        assert_eq!(fake.data, before, "a refused peek writes nothing");
        // Without the ask, a passing peek writes nothing either.
        let mut fresh = backend();
        let (_, stats) = run(&policy, &peek, "t:", &mut fresh, 4, false).unwrap();
        assert!(!stats.committed && fresh.data.is_empty());
    }

    #[test]
    fn keys_that_keep_conflicting_are_store_failures() {
        struct AlwaysBeaten(Fake);
        impl Backend for AlwaysBeaten {
            fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
                self.0.get_many(keys)
            }
            fn cas_many(&mut self, writes: &[Cas]) -> Result<Vec<bool>, BackendError> {
                Ok(vec![false; writes.len()])
            }
        }
        let policy = policy();
        let checks = policy.prepare(&request("+14155550100"), Timestamp::from_millis(1)).checks().to_vec();
        let n = checks.len();
        let commit = CheckRequest { policy_id: 0, now_ms: 1, peek: false, namespace: None, checks };
        let mut backend = AlwaysBeaten(Fake::default());
        let (outcomes, stats) = run(&policy, &commit, "", &mut backend, 3, false).unwrap();
        assert_eq!(outcomes, vec![CheckOutcome::StoreFailed; n]);
        assert_eq!(stats.gave_up, n as u64);
        assert_eq!(backend.0.reads, 3);
    }

    #[test]
    fn expired_or_short_values_read_as_absent() {
        assert_eq!(decode(b"short"), None);
        let raw = encode(b"v", Timestamp::from_millis(10));
        assert_eq!(decode(&raw), Some((&b"v"[..], Timestamp::from_millis(10))));
        let batch = Batch::default();
        batch.load("k", Some(raw));
        batch.load("g", Some(b"xx".to_vec()));
        assert!(batch.get("k", Timestamp::from_millis(9)).unwrap().is_some());
        assert!(batch.get("k", Timestamp::from_millis(10)).unwrap().is_none());
        assert!(batch.get("g", Timestamp::from_millis(0)).unwrap().is_none());
        assert_eq!(batch.get("unknown", Timestamp::from_millis(0)), Err(StoreError::Unavailable));
    }

    #[test]
    fn a_rounds_keys_are_each_read_once_in_the_order_they_come() {
        let checks: Vec<serde_json::Value> = [3, 1, 3, 2, 1, 4]
            .iter()
            .map(|n| serde_json::json!({"rule": 0, "key": format!("k{n}"), "op": "rate"}))
            .collect();
        let request: CheckRequest =
            serde_json::from_value(serde_json::json!({"policy_id": 0, "now_ms": 1, "checks": checks}))
                .unwrap();
        assert_eq!(distinct_keys(&request), ["k3", "k1", "k2", "k4"]);
    }
}
