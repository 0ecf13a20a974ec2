//! An account's sign-in number: where Cognito sends its SMS MFA codes, which need no verified
//! number. A sign-up taken names it (its code by SMS or by e-mail alike), a phone change moves
//! it; an account that entered a code sent there has proven it. A `bound_sign_ins` rule counts
//! the codes password sign-ins sent each such number and judges the accounts' sign-ins by it.

use crate::store::Change;
use crate::time::Timestamp;

use super::codec::{Reader, Writer};
use super::CounterVerdict;

/// How long eviction spares a record at most: a day, as a bound number's.
const PROTECTED_MS: u64 = 86_400_000;

/// Flag: the sign-up's code went to this number by SMS (its `ConfirmSignUp` proves it).
const SIGN_UP_BY_SMS: u16 = 1;
/// Flag: the account entered a code sent to this number.
const PROVEN: u16 = 2;

/// A verdict carries the record in `solver`: the digits (at most 15, under 2^50) and the flags
/// above them.
const VERDICT_PROVEN: u64 = 1 << 62;
const VERDICT_DIGITS: u64 = (1 << 50) - 1;

/// What an account's sign-in number record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SignInNumber {
    /// The number's E.164 digits.
    pub(crate) digits: u64,
    /// The account entered a code sent to it.
    pub(crate) proven: bool,
}

impl SignInNumber {
    /// The record a [`read_sign_in_number`] verdict carries; `None` for no digits.
    pub(crate) fn from_verdict(value: u64) -> Option<SignInNumber> {
        let digits = value & VERDICT_DIGITS;
        (digits > 0).then_some(SignInNumber { digits, proven: value & VERDICT_PROVEN != 0 })
    }
}

/// The digits and flags of a stored record.
fn decode(stored: Option<&[u8]>) -> Option<(u64, u16)> {
    let mut reader = Reader::new(stored?);
    let digits = reader.u64().filter(|d| *d > 0 && *d <= VERDICT_DIGITS)?;
    Some((digits, reader.u16()?))
}

fn write(digits: u64, flags: u16, now: Timestamp, keep_ms: u64) -> Change<CounterVerdict> {
    let expires_at = now.plus_millis(keep_ms);
    Change::Write {
        value: Writer::default().u64(digits).u16(flags).finish(),
        expires_at,
        protected_until: now.plus_millis(PROTECTED_MS).min(expires_at),
        result: CounterVerdict::PASS,
    }
}

/// Origin took a call naming the account and the number with E.164 digits `digits` (a sign-up,
/// `sign_up_by_sms` when its code went there; or a phone change), or the site imported the
/// pair (`proven` when it verified the number): the latest wins, kept for `keep_ms`.
pub(crate) fn record_sign_in_number(
    now: Timestamp,
    keep_ms: u64,
    digits: u64,
    sign_up_by_sms: bool,
    proven: bool,
) -> Change<CounterVerdict> {
    let flags = if sign_up_by_sms { SIGN_UP_BY_SMS } else { 0 } | if proven { PROVEN } else { 0 };
    write(digits, flags, now, keep_ms)
}

/// The account entered a code sent to its sign-in number: proven, kept `keep_ms` from now.
/// `sign_up_code`: the code was the sign-up's, which went to the number only when the sign-up's
/// did by SMS. No record, nothing to prove.
pub(crate) fn prove_sign_in_number(
    stored: Option<&[u8]>,
    now: Timestamp,
    keep_ms: u64,
    sign_up_code: bool,
) -> Change<CounterVerdict> {
    match decode(stored) {
        Some((digits, flags)) if flags & SIGN_UP_BY_SMS != 0 || !sign_up_code => {
            write(digits, flags | PROVEN, now, keep_ms)
        }
        _ => Change::Keep(CounterVerdict::PASS),
    }
}

/// The record, in the verdict's `solver` ([`SignInNumber::from_verdict`]); `None` when the
/// account has none. Writes nothing.
pub(crate) fn read_sign_in_number(stored: Option<&[u8]>) -> Change<CounterVerdict> {
    let solver = decode(stored).map(
        |(digits, flags)| {
            if flags & PROVEN != 0 {
                digits | VERDICT_PROVEN
            } else {
                digits
            }
        },
    );
    Change::Keep(CounterVerdict { solver, ..CounterVerdict::PASS })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{update, MemoryStore};

    const DAY: u64 = 86_400_000;

    fn read(store: &MemoryStore, now: u64) -> Option<SignInNumber> {
        update(store, "bm:r:a", Timestamp::from_millis(now), 3, read_sign_in_number)
            .ok()
            .and_then(|v| v.solver)
            .and_then(SignInNumber::from_verdict)
    }

    fn record(store: &MemoryStore, now: u64, digits: u64, by_sms: bool) {
        let at = Timestamp::from_millis(now);
        let step = |_: Option<&[u8]>| record_sign_in_number(at, 7 * DAY, digits, by_sms, false);
        assert!(update(store, "bm:r:a", at, 3, step).is_ok());
    }

    fn prove(store: &MemoryStore, now: u64, sign_up_code: bool) {
        let at = Timestamp::from_millis(now);
        let step = |b: Option<&[u8]>| prove_sign_in_number(b, at, 7 * DAY, sign_up_code);
        assert!(update(store, "bm:r:a", at, 3, step).is_ok());
    }

    #[test]
    fn the_latest_number_reads_back_until_it_expires() {
        let store = MemoryStore::new();
        assert_eq!(read(&store, 0), None);
        record(&store, 0, 14_155_550_101, false);
        assert_eq!(read(&store, DAY), Some(SignInNumber { digits: 14_155_550_101, proven: false }));
        record(&store, DAY, 14_155_550_102, true);
        assert_eq!(read(&store, 7 * DAY), Some(SignInNumber { digits: 14_155_550_102, proven: false }));
        assert_eq!(read(&store, 8 * DAY + 1), None);
    }

    #[test]
    fn a_sign_up_code_proves_an_sms_sign_up_only_and_another_code_any_number() {
        let store = MemoryStore::new();
        record(&store, 0, 14_155_550_101, false);
        prove(&store, 1, true);
        assert_eq!(read(&store, 2).map(|n| n.proven), Some(false));
        prove(&store, 3, false);
        assert_eq!(read(&store, 4).map(|n| n.proven), Some(true));
        // Kept from the proof on; a phone change starts unproven.
        assert_eq!(read(&store, 7 * DAY + 2).map(|n| n.proven), Some(true));
        record(&store, 7 * DAY + 3, 14_155_550_109, false);
        assert_eq!(read(&store, 7 * DAY + 4), Some(SignInNumber { digits: 14_155_550_109, proven: false }));
        record(&store, 7 * DAY + 5, 14_155_550_101, true);
        prove(&store, 7 * DAY + 6, true);
        assert_eq!(read(&store, 7 * DAY + 7).map(|n| n.proven), Some(true));
    }

    #[test]
    fn nothing_recorded_nothing_proven_and_torn_bytes_are_nothing() {
        let store = MemoryStore::new();
        prove(&store, 0, false);
        assert_eq!(read(&store, 1), None);
        for bytes in [&b""[..], &[1, 2, 3][..], &[0; 10][..], &[0xff; 10][..], &[1; 8][..]] {
            assert!(matches!(read_sign_in_number(Some(bytes)), Change::Keep(v) if v == CounterVerdict::PASS));
        }
    }
}
