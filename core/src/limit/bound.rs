//! An account's bound number: the number a sign-up naming the account carried, kept so that a
//! later send naming only the account (a resend, a reset by user name) is judged as a send to
//! that number. Without it every account is a fresh budget beside its number's, and a campaign
//! making accounts for one number multiplies what the number's own limits allow.

use crate::store::Change;
use crate::time::Timestamp;

use super::codec::{Reader, Writer};
use super::CounterVerdict;

/// How long eviction spares a binding at most: the day in which an account's resends pile up.
/// Washing a binding out of a bounded store would free the account's sends from its number's
/// limits, and each binding cost a sign-up that went to origin.
const PROTECTED_MS: u64 = 86_400_000;

/// How long a CAPTCHA token the binding call carried answers the challenges of the sends naming
/// what it made (a Clerk sign-up's preparations: clerk-js sends Clerk's token with the sign-up
/// alone): the length of one sign-up or sign-in, not of an account's life.
pub const CARRIED_ANSWER_MS: u64 = 3_600_000;

/// A sign-up binding an account to the number with E.164 digits `digits` went to origin: the
/// latest binding wins (origin accepts a second sign-up of one name only once the first is
/// gone), kept for `keep_ms`. `answered`: the call carried a CAPTCHA token origin verified.
pub(crate) fn record_bound(
    now: Timestamp,
    keep_ms: u64,
    digits: u64,
    answered: bool,
) -> Change<CounterVerdict> {
    let answered_until = if answered { now.plus_millis(CARRIED_ANSWER_MS).as_millis() } else { 0 };
    Change::Write {
        value: Writer::default().u64(digits).u64(answered_until).finish(),
        expires_at: now.plus_millis(keep_ms),
        protected_until: now.plus_millis(keep_ms.min(PROTECTED_MS)),
        result: CounterVerdict::PASS,
    }
}

/// The digits [`record_bound`] recorded, in the verdict's `solver` (the value a binding holds,
/// as for the bindings a confirmation credits), and whether its token still answers
/// (`answered`; a binding written before it was recorded answers none); `None` when the
/// account has none. Writes nothing.
pub(crate) fn read_bound(stored: Option<&[u8]>, now: Timestamp) -> Change<CounterVerdict> {
    let mut reader = stored.map(Reader::new);
    let digits = reader.as_mut().and_then(Reader::u64).filter(|d| *d > 0);
    let answered_until = reader.as_mut().and_then(Reader::u64).unwrap_or(0);
    let answered = digits.is_some() && now.as_millis() < answered_until;
    Change::Keep(CounterVerdict { solver: digits, answered, ..CounterVerdict::PASS })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{update, MemoryStore};

    const DAY: u64 = 86_400_000;

    fn read(store: &MemoryStore, now: u64) -> Option<u64> {
        let at = Timestamp::from_millis(now);
        update(store, "bn:r:a", at, 3, |b| read_bound(b, at)).ok().and_then(|v| v.solver)
    }

    #[test]
    fn a_binding_reads_back_until_it_expires_and_the_latest_wins() {
        let store = MemoryStore::new();
        assert_eq!(read(&store, 0), None);
        let bind = |now: u64, digits: u64| {
            update(&store, "bn:r:a", Timestamp::from_millis(now), 3, |_| {
                record_bound(Timestamp::from_millis(now), 7 * DAY, digits, false)
            })
        };
        assert!(bind(0, 14_155_550_101).is_ok());
        assert_eq!(read(&store, 6 * DAY), Some(14_155_550_101));
        assert!(bind(DAY, 14_155_550_102).is_ok());
        assert_eq!(read(&store, 7 * DAY), Some(14_155_550_102));
        assert_eq!(read(&store, 8 * DAY + 1), None);
    }

    #[test]
    fn foreign_or_torn_bytes_read_as_no_binding() {
        for bytes in [&b""[..], &[1, 2, 3][..], &[0; 8][..]] {
            let read = read_bound(Some(bytes), Timestamp::from_millis(0));
            assert!(matches!(read, Change::Keep(v) if v == CounterVerdict::PASS));
        }
    }

    #[test]
    fn eviction_spares_a_binding_for_a_day_at_most() {
        let written = record_bound(Timestamp::from_millis(0), 30 * DAY, 1, false);
        assert!(matches!(written, Change::Write { protected_until, expires_at, .. }
            if (protected_until.as_millis(), expires_at.as_millis()) == (DAY, 30 * DAY)));
    }

    #[test]
    fn a_token_the_binding_call_carried_answers_for_an_hour_and_an_older_record_for_none() {
        let store = MemoryStore::new();
        let at = |now: u64| Timestamp::from_millis(now);
        let answered = |now: u64| {
            update(&store, "bn:r:a", at(now), 3, |b| read_bound(b, at(now)))
                .ok()
                .map(|v| (v.solver, v.answered))
        };
        assert!(update(&store, "bn:r:a", at(0), 3, |_| record_bound(at(0), DAY, 7, true)).is_ok());
        assert_eq!(answered(CARRIED_ANSWER_MS - 1), Some((Some(7), true)));
        assert_eq!(answered(CARRIED_ANSWER_MS), Some((Some(7), false)));
        // A record of digits alone (written before the flag was) answers nothing.
        let old = Writer::default().u64(7).finish();
        assert!(
            matches!(read_bound(Some(&old), at(0)), Change::Keep(v) if v.solver == Some(7) && !v.answered)
        );
    }
}
