//! Proven pairs: (client country, number country) pairs whose real users keep confirming codes.
//! A `client_country` rule with `proven_pairs` stops finding a mismatch in such a pair, so
//! travellers and expatriates of the site's usual routes are not challenged, while a pair no one
//! confirms in (a proxy network's exits) stays suspect.
//!
//! Every mismatched send that goes to origin counts against its pair, spared or not, and only a
//! confirmation matched to such a send credits it: an attacker hiding in a proven pair drags its
//! ratio down with each send, and loses the pair after about `confirms / min_ratio - sends` of
//! them (see `docs/policy.md`). Losing an entry (expiry, eviction) only withdraws the proof: the
//! pair is then judged like any other, so entries need no protection from eviction.
//!
//! Whoever reads the SMS of the numbers he pumps can enter their codes and prove his own pairs.
//! With `min_trusted_confirms`, a pair also needs that many confirmations of numbers trusted
//! before them (returning users, imported numbers): a route real users keep coming back on.

use super::codec::{Reader, Writer};
use super::CounterVerdict;
use crate::store::Change;
use crate::time::Timestamp;

/// A compiled `proven_pairs` option; durations in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProvenPairsParams {
    /// Confirmed codes (current and previous window) before a pair can be proven.
    pub min_confirms: u32,
    /// Confirmed codes per send at or over which a pair with enough confirms is proven, in (0, 1].
    pub min_ratio: f64,
    /// Counting window; counts cover the current and the previous one.
    pub window_ms: u64,
    /// Of those confirmations, how many must be of numbers trusted before them (0: any).
    pub min_trusted_confirms: u32,
    /// ... trusted for at least this long before them.
    pub min_trust_age_ms: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    window_start: u64,
    sends: u32,
    confirms: u32,
    previous_sends: u32,
    previous_confirms: u32,
    trusted_confirms: u32,
    previous_trusted_confirms: u32,
}

fn decode(bytes: &[u8]) -> Option<Counts> {
    let mut r = Reader::new(bytes);
    let mut c = Counts {
        window_start: r.u64()?,
        sends: r.u32()?,
        confirms: r.u32()?,
        previous_sends: r.u32()?,
        previous_confirms: r.u32()?,
        ..Counts::default()
    };
    // Entries written before trusted confirmations were counted end here: none counted.
    if !r.is_empty() {
        c.trusted_confirms = r.u32()?;
        c.previous_trusted_confirms = r.u32()?;
    }
    Some(c)
}

impl ProvenPairsParams {
    fn current(&self, stored: Option<&[u8]>, now_ms: u64) -> Counts {
        let c = stored.and_then(decode).unwrap_or_default();
        let elapsed = now_ms.saturating_sub(c.window_start);
        if elapsed >= self.window_ms.saturating_mul(2) {
            Counts { window_start: now_ms, ..Counts::default() }
        } else if elapsed >= self.window_ms {
            Counts {
                window_start: c.window_start.saturating_add(self.window_ms),
                sends: 0,
                confirms: 0,
                previous_sends: c.sends,
                previous_confirms: c.confirms,
                trusted_confirms: 0,
                previous_trusted_confirms: c.trusted_confirms,
            }
        } else {
            c
        }
    }

    fn write(&self, c: &Counts, result: CounterVerdict) -> Change<CounterVerdict> {
        Change::Write {
            value: Writer::default()
                .u64(c.window_start)
                .u32(c.sends)
                .u32(c.confirms)
                .u32(c.previous_sends)
                .u32(c.previous_confirms)
                .u32(c.trusted_confirms)
                .u32(c.previous_trusted_confirms)
                .finish(),
            expires_at: Timestamp::from_millis(
                c.window_start.saturating_add(self.window_ms.saturating_mul(2)),
            ),
            protected_until: Timestamp::default(),
            result,
        }
    }

    /// A mismatched send in this pair: reports whether the pair is proven (`triggered`, never a
    /// refusal: the engine reads it as a fact), this send counted as unconfirmed, and counts it.
    /// Committed only for sends that go to origin.
    pub fn step_send(&self, stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
        let mut c = self.current(stored, now.as_millis());
        c.sends = c.sends.saturating_add(1);
        let sends = u64::from(c.sends) + u64::from(c.previous_sends);
        let confirms = u64::from(c.confirms) + u64::from(c.previous_confirms);
        let trusted = u64::from(c.trusted_confirms) + u64::from(c.previous_trusted_confirms);
        let proven = confirms >= u64::from(self.min_confirms)
            && confirms as f64 >= self.min_ratio * sends as f64
            && trusted >= u64::from(self.min_trusted_confirms);
        self.write(&c, CounterVerdict { triggered: proven, ..CounterVerdict::PASS })
    }

    /// A confirmed code credited to this pair (matched to a send of it, see
    /// [`crate::limit::ConversionParams::step_confirm_solved`]); `trusted_before`: of a number
    /// trusted before this confirmation.
    pub fn step_confirm(
        &self,
        stored: Option<&[u8]>,
        now: Timestamp,
        trusted_before: bool,
    ) -> Change<CounterVerdict> {
        let mut c = self.current(stored, now.as_millis());
        c.confirms = c.confirms.saturating_add(1);
        c.trusted_confirms = c.trusted_confirms.saturating_add(u32::from(trusted_before));
        self.write(&c, CounterVerdict::PASS)
    }
}

/// A pair as a sender tag: the two country codes' four ASCII letters, upper-cased. `None` when
/// either is not two ASCII letters.
pub fn pair_tag(client: &str, number_region: &str) -> Option<u64> {
    let (client, region) = (client.as_bytes(), number_region.as_bytes());
    if client.len() != 2 || region.len() != 2 {
        return None;
    }
    let mut tag = 0u64;
    for &b in client.iter().chain(region) {
        if !b.is_ascii_alphabetic() {
            return None;
        }
        tag = tag << 8 | u64::from(b.to_ascii_uppercase());
    }
    Some(tag)
}

/// The counter-key text of a pair tag (`GB>DE`: a client in GB asking for a DE number); `None`
/// for a tag [`pair_tag`] never makes.
pub fn pair_text(tag: u64) -> Option<String> {
    if tag >> 32 != 0 {
        return None;
    }
    let [_, _, _, _, c1, c2, r1, r2] = tag.to_be_bytes();
    let letters = [c1, c2, r1, r2];
    if !letters.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    Some(format!("{}{}>{}{}", c1 as char, c2 as char, r1 as char, r2 as char))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{update, MemoryStore};

    const P: ProvenPairsParams = ProvenPairsParams {
        min_confirms: 3,
        min_ratio: 0.6,
        window_ms: 3_600_000,
        min_trusted_confirms: 0,
        min_trust_age_ms: 0,
    };

    fn send(store: &MemoryStore, t: u64) -> bool {
        let now = Timestamp::from_millis(t);
        update(store, "p", now, 4, |b| P.step_send(b, now)).map(|v| v.triggered).unwrap_or(false)
    }

    fn confirm(store: &MemoryStore, t: u64) {
        let now = Timestamp::from_millis(t);
        let _ = update(store, "p", now, 4, |b| P.step_confirm(b, now, false));
    }

    #[test]
    fn a_pair_is_proven_by_enough_confirms_at_a_high_ratio() {
        let store = MemoryStore::new();
        for t in 0..3 {
            assert!(!send(&store, t * 1000), "send {t}: too few confirms yet");
            confirm(&store, t * 1000 + 500);
        }
        // 3 confirms of 3 sends; this send makes it 3 of 4.
        assert!(send(&store, 10_000));
    }

    #[test]
    fn unconfirmed_sends_in_a_proven_pair_unprove_it() {
        let store = MemoryStore::new();
        for t in 0..4 {
            send(&store, t * 1000);
            confirm(&store, t * 1000 + 500);
        }
        // 4 confirms: proven while sends <= 4 / 0.6 = 6.67.
        assert!(send(&store, 10_000)); // 4 of 5
        assert!(send(&store, 11_000)); // 4 of 6
        assert!(!send(&store, 12_000)); // 4 of 7
        assert!(!send(&store, 13_000));
    }

    #[test]
    fn proof_lasts_two_windows() {
        let store = MemoryStore::new();
        for t in 0..3 {
            send(&store, t * 1000);
            confirm(&store, t * 1000 + 500);
        }
        assert!(send(&store, 3_600_000 + 5_000), "the previous window's confirms still count");
        assert!(!send(&store, 3 * 3_600_000 + 5_000), "two windows on, nothing is left");
    }

    #[test]
    fn with_min_trusted_confirms_first_confirmations_prove_nothing() {
        const RETURNING: ProvenPairsParams = ProvenPairsParams { min_trusted_confirms: 2, ..P };
        let store = MemoryStore::new();
        let step = |t: u64, trusted: Option<bool>| {
            let now = Timestamp::from_millis(t);
            match trusted {
                Some(trusted) => {
                    let _ = update(&store, "p", now, 4, |b| RETURNING.step_confirm(b, now, trusted));
                    false
                }
                None => {
                    update(&store, "p", now, 4, |b| RETURNING.step_send(b, now)).is_ok_and(|v| v.triggered)
                }
            }
        };
        // A campaign that enters every code of fresh numbers: a perfect ratio, no proof.
        for t in 0..10 {
            assert!(!step(t * 1000, None), "send {t}");
            step(t * 1000 + 500, Some(false));
        }
        step(20_000, None);
        step(20_500, Some(true));
        assert!(!step(21_000, None), "one returning user's confirmation of two");
        step(21_500, Some(true));
        assert!(step(22_000, None), "two returning users' confirmations");
    }

    #[test]
    fn an_entry_written_before_trusted_confirms_still_decodes() {
        let old = Writer::default().u64(0).u32(3).u32(3).u32(0).u32(0).finish();
        let now = Timestamp::from_millis(5);
        assert!(matches!(P.step_send(Some(&old), now), Change::Write { result, .. } if result.triggered));
    }

    #[test]
    fn torn_state_reads_as_unproven() {
        let now = Timestamp::from_millis(5);
        assert!(matches!(P.step_send(Some(&[7; 5]), now), Change::Write { result, .. } if !result.triggered));
    }

    #[test]
    fn pair_tags_round_trip_and_refuse_what_is_not_two_letters() {
        assert_eq!(pair_tag("gb", "DE").and_then(pair_text).as_deref(), Some("GB>DE"));
        assert_eq!(pair_tag("GBR", "DE"), None);
        assert_eq!(pair_tag("G1", "DE"), None);
        assert_eq!(pair_tag("GB", "é"), None);
        assert_eq!(pair_text(0), None);
        assert_eq!(pair_text(u64::MAX), None);
    }
}
