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

/// A sign-up binding an account to the number with E.164 digits `digits` went to origin: the
/// latest binding wins (origin accepts a second sign-up of one name only once the first is
/// gone), kept for `keep_ms`.
pub(crate) fn record_bound(now: Timestamp, keep_ms: u64, digits: u64) -> Change<CounterVerdict> {
    Change::Write {
        value: Writer::default().u64(digits).finish(),
        expires_at: now.plus_millis(keep_ms),
        protected_until: now.plus_millis(keep_ms.min(PROTECTED_MS)),
        result: CounterVerdict::PASS,
    }
}

/// The digits [`record_bound`] recorded, in the verdict's `solver` (the value a binding holds,
/// as for the bindings a confirmation credits); `None` when the account has none. Writes nothing.
pub(crate) fn read_bound(stored: Option<&[u8]>) -> Change<CounterVerdict> {
    let digits = stored.and_then(|b| Reader::new(b).u64()).filter(|d| *d > 0);
    Change::Keep(CounterVerdict { solver: digits, ..CounterVerdict::PASS })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{update, MemoryStore};

    const DAY: u64 = 86_400_000;

    fn read(store: &MemoryStore, now: u64) -> Option<u64> {
        update(store, "bn:r:a", Timestamp::from_millis(now), 3, read_bound).ok().and_then(|v| v.solver)
    }

    #[test]
    fn a_binding_reads_back_until_it_expires_and_the_latest_wins() {
        let store = MemoryStore::new();
        assert_eq!(read(&store, 0), None);
        let bind = |now: u64, digits: u64| {
            update(&store, "bn:r:a", Timestamp::from_millis(now), 3, |_| {
                record_bound(Timestamp::from_millis(now), 7 * DAY, digits)
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
            assert!(matches!(read_bound(Some(bytes)), Change::Keep(v) if v == CounterVerdict::PASS));
        }
    }

    #[test]
    fn eviction_spares_a_binding_for_a_day_at_most() {
        let written = record_bound(Timestamp::from_millis(0), 30 * DAY, 1);
        assert!(matches!(written, Change::Write { protected_until, expires_at, .. }
            if (protected_until.as_millis(), expires_at.as_millis()) == (DAY, 30 * DAY)));
    }
}
