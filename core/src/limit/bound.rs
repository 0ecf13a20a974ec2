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

/// Flag: the sign-up's code did not go to the number by SMS (a pool that verifies e-mail
/// addresses, or confirms its users itself). Such a number is still where SMS MFA goes, and
/// nothing else: only password sign-ins are judged by it.
const NOT_BY_SMS: u16 = 1;
/// Flag: the account entered a code sent to its number (its sign-up's, or an SMS MFA code).
const PROVEN: u16 = 2;

/// Bits of a binding's value in a verdict, above the digits (E.164 has at most 15, under 2^50).
const VERDICT_NOT_BY_SMS: u64 = 1 << 62;
const VERDICT_PROVEN: u64 = 1 << 61;
const VERDICT_DIGITS: u64 = (1 << 61) - 1;

/// What an account's binding says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Binding {
    /// The bound number's E.164 digits.
    pub(crate) digits: u64,
    /// The sign-up's code went to the number by SMS: the service holds the number verified, and
    /// every send naming the account goes to it.
    pub(crate) by_sms: bool,
    /// The account entered a code sent to the number.
    pub(crate) proven: bool,
}

impl Binding {
    /// The binding as a verdict carries it (in `solver`).
    fn to_verdict(self) -> u64 {
        let mut value = self.digits & VERDICT_DIGITS;
        if !self.by_sms {
            value |= VERDICT_NOT_BY_SMS;
        }
        if self.proven {
            value |= VERDICT_PROVEN;
        }
        value
    }

    /// The binding a [`read_bound`] verdict carries; `None` for no digits.
    pub(crate) fn from_verdict(value: u64) -> Option<Binding> {
        let digits = value & VERDICT_DIGITS;
        (digits > 0).then_some(Binding {
            digits,
            by_sms: value & VERDICT_NOT_BY_SMS == 0,
            proven: value & VERDICT_PROVEN != 0,
        })
    }
}

/// A stored binding.
fn decode(stored: Option<&[u8]>) -> Option<Binding> {
    let mut reader = Reader::new(stored?);
    let digits = reader.u64().filter(|d| *d > 0 && *d <= VERDICT_DIGITS)?;
    // A binding of the first format (digits alone) was recorded from an SMS delivery.
    let flags = reader.u16().unwrap_or(0);
    Some(Binding { digits, by_sms: flags & NOT_BY_SMS == 0, proven: flags & PROVEN != 0 })
}

fn write(binding: Binding, now: Timestamp, expires_at: Timestamp) -> Change<CounterVerdict> {
    let mut flags = 0;
    if !binding.by_sms {
        flags |= NOT_BY_SMS;
    }
    if binding.proven {
        flags |= PROVEN;
    }
    Change::Write {
        value: Writer::default().u64(binding.digits).u16(flags).finish(),
        expires_at,
        protected_until: now.plus_millis(PROTECTED_MS).min(expires_at),
        result: CounterVerdict::PASS,
    }
}

/// A sign-up binding an account to the number with E.164 digits `digits` went to origin
/// (`by_sms`: its code went to that number): the latest binding wins (origin accepts a second
/// sign-up of one name only once the first is gone), unproven, kept for `keep_ms`.
pub(crate) fn record_bound(
    now: Timestamp,
    keep_ms: u64,
    digits: u64,
    by_sms: bool,
) -> Change<CounterVerdict> {
    write(Binding { digits, by_sms, proven: false }, now, now.plus_millis(keep_ms))
}

/// The account entered a code sent to its number: its binding is proven, kept `keep_ms` from
/// now. `sms_only`: the code was the sign-up's, which went to the number only if the sign-up's
/// did by SMS. No binding, nothing to prove.
pub(crate) fn prove_bound(
    stored: Option<&[u8]>,
    now: Timestamp,
    keep_ms: u64,
    sms_only: bool,
) -> Change<CounterVerdict> {
    match decode(stored) {
        Some(binding) if !binding.proven && (binding.by_sms || !sms_only) => {
            write(Binding { proven: true, ..binding }, now, now.plus_millis(keep_ms))
        }
        _ => Change::Keep(CounterVerdict::PASS),
    }
}

/// The binding [`record_bound`] recorded, in the verdict's `solver` ([`Binding::from_verdict`]
/// reads it back, as for the bindings a confirmation credits); `None` when the account has none.
/// Writes nothing.
pub(crate) fn read_bound(stored: Option<&[u8]>) -> Change<CounterVerdict> {
    let solver = decode(stored).map(Binding::to_verdict);
    Change::Keep(CounterVerdict { solver, ..CounterVerdict::PASS })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{update, MemoryStore};

    const DAY: u64 = 86_400_000;

    fn read(store: &MemoryStore, now: u64) -> Option<Binding> {
        update(store, "bn:r:a", Timestamp::from_millis(now), 3, read_bound)
            .ok()
            .and_then(|v| v.solver)
            .and_then(Binding::from_verdict)
    }

    fn bind(store: &MemoryStore, now: u64, digits: u64, by_sms: bool) {
        let at = Timestamp::from_millis(now);
        assert!(update(store, "bn:r:a", at, 3, |_| record_bound(at, 7 * DAY, digits, by_sms)).is_ok());
    }

    fn prove(store: &MemoryStore, now: u64, sms_only: bool) {
        let at = Timestamp::from_millis(now);
        assert!(update(store, "bn:r:a", at, 3, |b| prove_bound(b, at, 7 * DAY, sms_only)).is_ok());
    }

    #[test]
    fn a_binding_reads_back_until_it_expires_and_the_latest_wins() {
        let store = MemoryStore::new();
        assert_eq!(read(&store, 0), None);
        bind(&store, 0, 14_155_550_101, true);
        let first = Binding { digits: 14_155_550_101, by_sms: true, proven: false };
        assert_eq!(read(&store, 6 * DAY), Some(first));
        bind(&store, DAY, 14_155_550_102, false);
        let second = Binding { digits: 14_155_550_102, by_sms: false, proven: false };
        assert_eq!(read(&store, 7 * DAY), Some(second));
        assert_eq!(read(&store, 8 * DAY + 1), None);
    }

    #[test]
    fn a_sign_up_code_proves_only_an_sms_binding_and_an_mfa_code_any() {
        let store = MemoryStore::new();
        bind(&store, 0, 14_155_550_101, false);
        prove(&store, 1, true);
        assert_eq!(read(&store, 2).map(|b| b.proven), Some(false));
        prove(&store, 3, false);
        assert_eq!(read(&store, 4).map(|b| b.proven), Some(true));
        // A proof keeps the binding from the proof on; a new sign-up's binding starts unproven.
        assert_eq!(read(&store, 7 * DAY + 2).map(|b| b.proven), Some(true));
        bind(&store, 7 * DAY + 3, 14_155_550_101, true);
        assert_eq!(read(&store, 7 * DAY + 4).map(|b| b.proven), Some(false));
        prove(&store, 7 * DAY + 5, true);
        assert_eq!(read(&store, 7 * DAY + 6).map(|b| b.proven), Some(true));
    }

    #[test]
    fn nothing_bound_nothing_proven() {
        let store = MemoryStore::new();
        prove(&store, 0, false);
        assert_eq!(read(&store, 1), None);
    }

    #[test]
    fn a_first_format_binding_reads_as_an_unproven_sms_one() {
        let stored = 14_155_550_101u64.to_le_bytes();
        let verdict = match read_bound(Some(&stored)) {
            Change::Keep(v) => v.solver.and_then(Binding::from_verdict),
            Change::Write { .. } => None,
        };
        assert_eq!(verdict, Some(Binding { digits: 14_155_550_101, by_sms: true, proven: false }));
    }

    #[test]
    fn foreign_or_torn_bytes_read_as_no_binding() {
        for bytes in [&b""[..], &[1, 2, 3][..], &[0; 8][..], &[0xff; 8][..]] {
            assert!(matches!(read_bound(Some(bytes)), Change::Keep(v) if v == CounterVerdict::PASS));
        }
    }

    #[test]
    fn eviction_spares_a_binding_for_a_day_at_most() {
        let written = record_bound(Timestamp::from_millis(0), 30 * DAY, 1, true);
        assert!(matches!(written, Change::Write { protected_until, expires_at, .. }
            if (protected_until.as_millis(), expires_at.as_millis()) == (DAY, 30 * DAY)));
    }
}
