//! Number reputation: a number whose owner recently entered a code it was sent is trusted for a
//! while, so rules that judge a whole scope (a prefix's conversion, a country's volume, the
//! client's location) can spare returning users in a scope under attack.
//!
//! Trust is earned only by a confirmation that origin accepted *and* that follows a send to the
//! same number which went to origin within `confirm_within`: a confirm without such a send (made
//! up, or replayed long after) earns nothing. Losing an entry (expiry, eviction) only withdraws
//! trust, so the number is judged like any other: entries need no protection from eviction.
//!
//! An attacker who can read the SMS of numbers it earns on can enter their codes and so earn
//! trust like a real user; what then tells it apart is how often it sends: a real user needs a
//! code a few times a day at most. With `trusted_sends`, a trusted number's sends are trusted
//! only up to `max` per window; the ones past it are judged like anyone's, and a confirmation
//! renews trust without resetting the count.

use super::codec::{Reader, Writer};
use super::CounterVerdict;
use crate::store::Change;
use crate::time::Timestamp;

/// A compiled `reputation` rule; durations in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReputationParams {
    /// How long a confirmation keeps the number trusted.
    pub trust_ms: u64,
    /// A confirmation earns trust only this soon after a send to the number went to origin.
    pub confirm_within_ms: u64,
    /// At most this many sends per window are trusted (`None`: every send while trusted).
    pub trusted_sends: Option<TrustedSends>,
}

/// How many of a trusted number's sends count as trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedSends {
    /// Sends per window.
    pub max: u32,
    /// Window length, from the first trusted send of the window.
    pub window_ms: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct State {
    /// Last send to the number that went to origin, not yet matched by a confirmation.
    last_sent: Option<u64>,
    /// Trusted until then (0: never confirmed).
    trusted_until: u64,
    /// Start of the window `trusted_sends` counts in.
    window_start: u64,
    /// Trusted sends that went to origin in that window.
    window_sends: u32,
    /// When the current trust began (its first confirmation or import since untrusted).
    trusted_since: u64,
}

impl State {
    /// Trusted for `trust_ms` from `now_ms` on (a longer trust stays); a trust that had ended
    /// begins anew here.
    fn extend_trust(&mut self, now_ms: u64, trust_ms: u64) {
        if self.trusted_until <= now_ms {
            self.trusted_since = now_ms;
        }
        self.trusted_until = self.trusted_until.max(now_ms.saturating_add(trust_ms));
    }
}

/// `last_sent` when there is none: time 0 is a real instant (tests start there).
const NO_SEND: u64 = u64::MAX;

fn decode(bytes: &[u8]) -> Option<State> {
    let mut r = Reader::new(bytes);
    let last_sent = r.u64()?;
    let trusted_until = r.u64()?;
    // Entries written before `trusted_sends` existed end here: no window counted yet.
    let (window_start, window_sends) = if r.is_empty() { (0, 0) } else { (r.u64()?, r.u32()?) };
    // Entries written before the trust's start was kept read as trusted since time 0: trust
    // that predates the upgrade counts as old.
    let trusted_since = if r.is_empty() { 0 } else { r.u64()? };
    Some(State {
        last_sent: (last_sent != NO_SEND).then_some(last_sent),
        trusted_until,
        window_start,
        window_sends,
        trusted_since,
    })
}

impl ReputationParams {
    fn write(&self, s: State, result: CounterVerdict) -> Change<CounterVerdict> {
        let pending_until = s.last_sent.map_or(0, |t| t.saturating_add(self.confirm_within_ms));
        Change::Write {
            value: Writer::default()
                .u64(s.last_sent.unwrap_or(NO_SEND))
                .u64(s.trusted_until)
                .u64(s.window_start)
                .u32(s.window_sends)
                .u64(s.trusted_since)
                .finish(),
            expires_at: Timestamp::from_millis(pending_until.max(s.trusted_until)),
            protected_until: Timestamp::from_millis(0),
            result,
        }
    }

    /// A send to the number: reports whether the number is trusted for it (`triggered`, never
    /// a refusal: the engine reads it as a fact) and remembers the send, so a confirmation soon
    /// after can earn trust. Committed only for sends that go to origin, so `trusted_sends`
    /// counts those.
    pub fn step_send(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let now_ms = now.as_millis();
        let mut s = stored.and_then(decode).unwrap_or_default();
        let mut trusted = s.trusted_until > now_ms;
        let mut past_trusted_sends = false;
        if let (true, Some(cap)) = (trusted, self.trusted_sends) {
            // A clock that went back keeps counting in the stored window: restarting it would
            // hand out another window's trusted sends on every step back (or proxy skew).
            if now_ms >= s.window_start.saturating_add(cap.window_ms) {
                s.window_start = now_ms;
                s.window_sends = 0;
            }
            trusted = s.window_sends < cap.max;
            past_trusted_sends = !trusted;
            s.window_sends = s.window_sends.saturating_add(u32::from(trusted));
        }
        s.last_sent = Some(now_ms);
        let verdict = CounterVerdict { triggered: trusted, past_trusted_sends, ..CounterVerdict::PASS };
        self.write(s, verdict)
    }

    /// A confirmation origin accepted: trusts the number when a send to it went to origin within
    /// `confirm_within`. The send is used up, so one send earns one confirmation's trust.
    /// `triggered` tells that no send matched; `trusted_for_ms`, how long the number had been
    /// trusted already (a returning user's, not a first confirmation).
    pub fn step_confirm(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let now_ms = now.as_millis();
        let Some(mut s) = stored.and_then(decode) else {
            return Change::Keep(CounterVerdict { triggered: true, ..CounterVerdict::PASS });
        };
        let matched = s.last_sent.is_some_and(|t| t <= now_ms && now_ms - t <= self.confirm_within_ms);
        if !matched {
            return Change::Keep(CounterVerdict { triggered: true, ..CounterVerdict::PASS });
        }
        let trusted_for_ms = (s.trusted_until > now_ms).then(|| now_ms.saturating_sub(s.trusted_since));
        s.last_sent = None;
        s.extend_trust(now_ms, self.trust_ms);
        self.write(s, CounterVerdict { trusted_for_ms, ..CounterVerdict::PASS })
    }

    /// The site imported the number as verified (`trust_import`): trusted from `now` for
    /// `trust_ms`, as a confirmation would; an earlier trust lasting longer stays, and a send
    /// waiting for its confirmation still may earn one.
    pub fn step_import(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let mut s = stored.and_then(decode).unwrap_or_default();
        s.extend_trust(now.as_millis(), self.trust_ms);
        self.write(s, CounterVerdict::PASS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{update, MemoryStore};

    const P: ReputationParams =
        ReputationParams { trust_ms: 86_400_000, confirm_within_ms: 600_000, trusted_sends: None };

    /// A send under `p`: whether the number was trusted for it.
    fn send_under(p: &ReputationParams, store: &MemoryStore, t: u64) -> bool {
        let now = Timestamp::from_millis(t);
        update(store, "n", now, 4, |b| p.step_send(b, now)).map(|v| v.triggered).unwrap_or(false)
    }

    /// A confirmation under `p`: whether it matched a send.
    fn confirm_under(p: &ReputationParams, store: &MemoryStore, t: u64) -> bool {
        let now = Timestamp::from_millis(t);
        update(store, "n", now, 4, |b| p.step_confirm(b, now)).map(|v| !v.triggered).unwrap_or(false)
    }

    fn send(store: &MemoryStore, t: u64) -> bool {
        send_under(&P, store, t)
    }

    fn confirm(store: &MemoryStore, t: u64) -> bool {
        confirm_under(&P, store, t)
    }

    #[test]
    fn a_confirmed_send_trusts_the_number_for_a_while() {
        let store = MemoryStore::new();
        assert!(!send(&store, 0));
        assert!(confirm(&store, 30_000));
        assert!(send(&store, 3_600_000));
        assert!(send(&store, 30_000 + 86_399_999));
        assert!(!send(&store, 30_000 + 86_400_000));
    }

    #[test]
    fn a_confirmation_without_a_recent_send_earns_nothing() {
        let store = MemoryStore::new();
        assert!(!confirm(&store, 1_000), "no send at all");
        assert!(!send(&store, 10_000));
        assert!(!confirm(&store, 10_000 + 600_001), "too late");
        assert!(!send(&store, 20_000_000));
    }

    #[test]
    fn one_send_earns_one_confirmation() {
        let store = MemoryStore::new();
        send(&store, 0);
        assert!(confirm(&store, 1_000));
        assert!(!confirm(&store, 2_000), "the send was used up");
    }

    #[test]
    fn an_import_trusts_for_a_while_and_never_shortens_trust() {
        let store = MemoryStore::new();
        let import = |t: u64| {
            let now = Timestamp::from_millis(t);
            update(&store, "n", now, 4, |b| P.step_import(b, now)).is_ok()
        };
        assert!(import(0));
        assert!(send(&store, 1_000));
        assert!(confirm(&store, 2_000), "the send after the import may still earn a confirmation");
        assert!(import(3_000), "an import earlier than the confirmation's trust keeps it");
        assert!(send(&store, 2_000 + 86_399_999));
        assert!(!send(&store, 2_000 + 86_400_000 + 1_000));
    }

    #[test]
    fn torn_state_reads_as_unknown() {
        let now = Timestamp::from_millis(5);
        assert!(
            matches!(P.step_send(Some(&[1, 2, 3]), now), Change::Write { result, .. } if !result.triggered)
        );
        assert!(matches!(P.step_confirm(Some(&[9; 3]), now), Change::Keep(v) if v.triggered));
    }

    const CAPPED: ReputationParams = ReputationParams {
        trusted_sends: Some(TrustedSends { max: 2, window_ms: 86_400_000 }),
        trust_ms: 30 * 86_400_000,
        ..P
    };

    #[test]
    fn only_so_many_sends_a_window_are_trusted_and_confirming_does_not_reset_the_count() {
        let store = MemoryStore::new();
        let hour = 3_600_000;
        assert!(!send_under(&CAPPED, &store, 0));
        assert!(confirm_under(&CAPPED, &store, 30_000));
        // Hourly sends, each confirmed: the first two of the window are trusted, then none.
        for (i, trusted) in [(1, true), (2, true), (3, false), (4, false)] {
            assert_eq!(send_under(&CAPPED, &store, i * hour), trusted, "send {i}");
            assert!(confirm_under(&CAPPED, &store, i * hour + 30_000), "confirm {i}");
        }
        // A day after the window's first trusted send, a new window.
        assert!(send_under(&CAPPED, &store, hour + 86_400_000));
        assert!(send_under(&CAPPED, &store, hour + 86_400_000 + 1_000));
        assert!(!send_under(&CAPPED, &store, hour + 86_400_000 + 2_000));
    }

    #[test]
    fn a_clock_that_went_back_counts_in_the_same_window() {
        let store = MemoryStore::new();
        let (day0, hour) = (1_700_000_000_000, 3_600_000);
        send_under(&CAPPED, &store, day0);
        assert!(confirm_under(&CAPPED, &store, day0 + 1_000));
        assert!(send_under(&CAPPED, &store, day0 + hour), "the window starts here");
        // Another proxy's clock, an hour behind: still that window, not a new one.
        assert!(send_under(&CAPPED, &store, day0 + 2_000));
        assert!(!send_under(&CAPPED, &store, day0 + 3_000), "two trusted sends a window, whichever clock");
    }

    #[test]
    fn a_send_past_the_cap_says_so_and_an_untrusted_one_does_not() {
        let store = MemoryStore::new();
        let past = |t: u64| {
            let now = Timestamp::from_millis(t);
            update(&store, "n", now, 4, |b| CAPPED.step_send(b, now)).map(|v| v.past_trusted_sends).ok()
        };
        assert_eq!(past(0), Some(false), "not trusted yet");
        assert!(confirm_under(&CAPPED, &store, 1_000));
        assert_eq!(past(2_000), Some(false));
        assert_eq!(past(3_000), Some(false));
        assert_eq!(past(4_000), Some(true));
    }

    #[test]
    fn a_confirmation_says_how_long_the_number_was_trusted() {
        let store = MemoryStore::new();
        let confirm_age = |t: u64| {
            let now = Timestamp::from_millis(t);
            update(&store, "n", now, 4, |b| P.step_confirm(b, now)).ok().and_then(|v| v.trusted_for_ms)
        };
        send(&store, 0);
        assert_eq!(confirm_age(1_000), None, "a first confirmation");
        send(&store, 5_000);
        assert_eq!(confirm_age(6_000), Some(5_000), "trusted since the first");
        send(&store, 100_000_000);
        assert_eq!(confirm_age(100_001_000), None, "trust had ended: it starts again");
    }

    #[test]
    fn an_entry_written_before_the_cap_still_decodes() {
        let old = Writer::default().u64(NO_SEND).u64(10_000_000).finish();
        let now = Timestamp::from_millis(5);
        assert!(
            matches!(CAPPED.step_send(Some(&old), now), Change::Write { result, .. } if result.triggered)
        );
        assert!(matches!(P.step_send(Some(&old), now), Change::Write { result, .. } if result.triggered));
    }
}
