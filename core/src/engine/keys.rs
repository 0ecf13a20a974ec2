//! Counter keys and the address text in them: apart because stored keys must not drift (its tests pin them).

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::limit::ConversionScope;
use crate::phone::PhoneNumber;
use crate::request::Request;
use crate::rules::KeyPart;
use crate::solver::solver_tag;

use super::{truncated, Fingerprints, MAX_KEY_VALUE_LEN};

/// The scope (`country` or a prefix) `number` is counted in.
pub(super) fn number_scope_key(scope: ConversionScope, number: &PhoneNumber) -> String {
    conversion_scope_key(scope, number.digits(), number.region().map(|r| r.as_str()), number.calling_code())
}

pub(super) fn conversion_scope_key(
    scope: ConversionScope,
    digits: &str,
    region: Option<&str>,
    calling_code: u16,
) -> String {
    match scope {
        ConversionScope::Country => match region {
            Some(region) => region.to_owned(),
            None => format!("+{calling_code}"),
        },
        ConversionScope::Prefix(n) => digits.get(..usize::from(n)).unwrap_or(digits).to_owned(),
        // Senders, not numbers: their checks are keyed by the sender's tag (`client_tag`, or a
        // device's once siteverify names it).
        ConversionScope::CaptchaSolver | ConversionScope::ClientIp { .. } => "-".to_owned(),
    }
}

/// The tag a client-address conversion scope counts an address under (its network, as
/// [`client_address`] writes it), hashed as a solving device's id is, so both kinds of sender
/// share one key form and one confirmation path.
pub(super) fn client_tag(ip: IpAddr, v4_bits: u8, v6_bits: u8) -> u64 {
    solver_tag(&client_address(ip, v4_bits, v6_bits))
}

/// The network a client-address conversion scope counts, as a rate-limit key writes it: an IPv4
/// address whole (`198.51.100.7`) or cut (`198.51.100.0/24`), an IPv6 one by its network
/// (`2001:db8::/64`). `client_ip`'s text (32 and 64 bits) is what it was before networks
/// existed, so the counters stored under it keep their keys.
pub(super) fn client_address(ip: IpAddr, v4_bits: u8, v6_bits: u8) -> String {
    // A dual-stack proxy may hand an IPv4 client over as `::ffff:a.b.c.d`: keyed as IPv6, every
    // IPv4 client would share its /64.
    match ip.to_canonical() {
        IpAddr::V4(v4) if v4_bits >= 32 => v4.to_string(),
        IpAddr::V4(v4) => format!("{}/{v4_bits}", network_v4(v4, v4_bits)),
        IpAddr::V6(v6) => format!("{}/{v6_bits}", network_v6(v6, v6_bits)),
    }
}

/// Whether a `rate_limit` key names something the request lacks: a number (a request without
/// one has no number to count), or the account (`extract.account_json_paths`). Keyed by a `-`
/// instead, every such request would share one counter, and one client's requests would
/// throttle every other's.
pub(super) fn counts_nothing(parts: &[KeyPart], has_numbers: bool, has_account: bool) -> bool {
    parts
        .iter()
        .any(|part| (part.is_per_number() && !has_numbers) || (*part == KeyPart::Account && !has_account))
}

/// An account's tag as a key writes it.
pub(super) fn account_text(tag: u128) -> String {
    format!("{tag:032x}")
}

/// The tag an account name is counted under: 128 bits of SHA-256, so no one can make up a name
/// sharing another's counters or bindings (a fast hash lets an attacker compute a name whose
/// tag is a victim's, then spend its allowance or bind it to his own number), and names stay
/// out of the store's keys.
pub(super) fn account_tag(account: &str) -> u128 {
    let digest =
        Sha256::new().chain_update(b"pumpguard account\0").chain_update(account.as_bytes()).finalize();
    let head: [u8; 16] = digest.get(..16).and_then(|h| h.try_into().ok()).unwrap_or_default();
    u128::from_be_bytes(head)
}

/// The key of account `name` (as a site's records write it) under rule `rule_id`: the key a
/// request naming it meets, its name folded as extraction folds it.
pub(crate) fn imported_account_key(kind: &str, rule_id: &str, name: &str) -> String {
    counter_key(kind, rule_id, &account_text(account_tag(&crate::extract::fold_account(name))))
}

/// `<kind><rule id>:<subject>`, sized once: `format!` costs more than the rest of planning.
pub(crate) fn counter_key(kind: &str, rule_id: &str, subject: &str) -> String {
    let mut key = String::with_capacity(kind.len() + rule_id.len() + 1 + subject.len());
    key.push_str(kind);
    key.push_str(rule_id);
    key.push(':');
    key.push_str(subject);
    key
}

/// Dotted-quad text of `ip`, as `Display` writes it but without the formatting machinery, which
/// costs more than the rest of the key on the hot path.
fn push_ipv4(key: &mut String, ip: std::net::Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            key.push('.');
        }
        if octet >= 100 {
            key.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            key.push(char::from(b'0' + octet / 10 % 10));
        }
        key.push(char::from(b'0' + octet % 10));
    }
}

/// `ip` with every bit after the first `bits` cleared.
fn network_v4(ip: std::net::Ipv4Addr, bits: u8) -> std::net::Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - u32::from(bits.min(32))).unwrap_or(0);
    std::net::Ipv4Addr::from(u32::from(ip) & mask)
}

/// `ip` with every bit after the first `bits` cleared.
fn network_v6(ip: std::net::Ipv6Addr, bits: u8) -> std::net::Ipv6Addr {
    let mask = u128::MAX.checked_shl(128 - u32::from(bits.min(128))).unwrap_or(0);
    std::net::Ipv6Addr::from(u128::from(ip) & mask)
}

/// The counter key of a `rate_limit` rule for one request (and one of its numbers, when a part
/// is per number). Callers plan no check where the key names what the request lacks
/// (`counts_nothing`).
#[allow(clippy::too_many_arguments)]
pub(super) fn rate_key(
    rule_id: &str,
    parts: &[KeyPart],
    route: &crate::routes::Route,
    req: &Request<'_>,
    number: Option<&PhoneNumber>,
    account: Option<&str>,
    fingerprints: &Fingerprints,
    solver_cuts: &mut Vec<usize>,
) -> String {
    let mut key = String::with_capacity(48);
    key.push_str("rl:");
    key.push_str(rule_id);
    for part in parts {
        key.push('|');
        match part {
            KeyPart::ClientIp { v4, v6 } => match req.client_ip.map(|ip| ip.to_canonical()) {
                Some(IpAddr::V4(ip)) => {
                    push_ipv4(&mut key, network_v4(ip, *v4));
                    if *v4 < 32 {
                        let _ = write!(key, "/{v4}");
                    }
                }
                // One subscriber gets a whole /64 (or more): a full address would give them
                // 2^64 budgets.
                Some(IpAddr::V6(ip)) => {
                    let _ = write!(key, "{}/{v6}", network_v6(ip, *v6));
                }
                None => key.push('-'),
            },
            KeyPart::Number => key.push_str(number.map(|n| n.digits()).unwrap_or("-")),
            KeyPart::Prefix(len) => {
                let digits = number.map(|n| n.digits()).unwrap_or("-");
                key.push_str(digits.get(..*len).unwrap_or(digits));
            }
            KeyPart::Country => match number {
                Some(n) => match n.region() {
                    Some(r) => key.push_str(r.as_str()),
                    None => {
                        let _ = write!(key, "+{}", n.calling_code());
                    }
                },
                None => key.push('-'),
            },
            KeyPart::CallingCode => {
                let _ = write!(key, "{}", number.map(|n| n.calling_code()).unwrap_or(0));
            }
            KeyPart::Route => key.push_str(&route.id),
            KeyPart::Header(name) => {
                key.push_str(truncated(req.header(name).unwrap_or(""), MAX_KEY_VALUE_LEN))
            }
            KeyPart::Fingerprint(kind) => key.push_str(fingerprints.get(*kind).unwrap_or("-")),
            // Hashed: a fixed length whatever the name, and no e-mail address in a store key.
            KeyPart::Account => key.push_str(&account_text(account_tag(account.unwrap_or("")))),
            // Named by siteverify, later: its place is kept for `SolverCheck::for_solver`.
            KeyPart::CaptchaSolver => solver_cuts.push(key.len()),
        }
    }
    key
}

#[cfg(test)]
mod ip_text_tests {
    use super::push_ipv4;
    use std::net::Ipv4Addr;

    #[test]
    fn an_address_scope_tags_ipv4_whole_and_ipv6_by_its_64() {
        use super::client_tag;
        let tag = |ip: &str| client_tag(ip.parse().unwrap(), 32, 64);
        assert_ne!(tag("198.51.100.7"), tag("198.51.100.8"));
        assert_eq!(tag("2001:db8:1:2::10"), tag("2001:db8:1:2:ffff::1"));
        assert_ne!(tag("2001:db8:1:2::10"), tag("2001:db8:1:3::10"));
    }

    #[test]
    fn a_network_scope_tags_the_network_and_client_ip_keeps_its_old_text() {
        use super::{client_address, client_tag};
        let net = |ip: &str| client_tag(ip.parse().unwrap(), 24, 48);
        assert_eq!(net("198.51.100.7"), net("198.51.100.200"));
        assert_ne!(net("198.51.100.7"), net("198.51.101.7"));
        assert_eq!(net("2001:db8:1:2::10"), net("2001:db8:1:ffff::1"));
        assert_ne!(net("2001:db8:1:2::10"), net("2001:db8:2:2::10"));
        let text = |ip: &str, v4, v6| client_address(ip.parse().unwrap(), v4, v6);
        assert_eq!(text("198.51.100.7", 24, 48), "198.51.100.0/24");
        assert_eq!(text("2001:db8:1:2::10", 24, 48), "2001:db8:1::/48");
        // An IPv4 client handed over in IPv4-mapped form is that IPv4 address.
        assert_eq!(text("::ffff:198.51.100.7", 32, 48), "198.51.100.7");
        assert_eq!(text("::ffff:198.51.100.7", 24, 48), "198.51.100.0/24");
        // Counters written under `client_ip` before networks existed keep their keys.
        assert_eq!(text("198.51.100.7", 32, 64), "198.51.100.7");
        assert_eq!(text("2001:db8:1:2::10", 32, 64), "2001:db8:1:2::/64");
    }

    #[test]
    fn networks_keep_their_prefix_bits() {
        use super::{network_v4, network_v6};
        let v6: std::net::Ipv6Addr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(network_v6(v6, 64).to_string(), "2001:db8:1:2::");
        assert_eq!(network_v6(v6, 128), v6);
        assert_eq!(network_v4(Ipv4Addr::new(198, 51, 100, 7), 24), Ipv4Addr::new(198, 51, 100, 0));
        assert_eq!(network_v4(Ipv4Addr::new(198, 51, 100, 7), 32), Ipv4Addr::new(198, 51, 100, 7));
    }

    #[test]
    fn ipv4_text_matches_display() {
        for ip in [[0, 0, 0, 0], [255, 255, 255, 255], [10, 0, 99, 100], [198, 51, 100, 7], [1, 20, 200, 9]] {
            let ip = Ipv4Addr::from(ip);
            let mut key = String::new();
            push_ipv4(&mut key, ip);
            assert_eq!(key, ip.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_tag_is_128_bits_of_sha256_of_the_folded_name() {
        // sha256(b"pumpguard account\0alice@example.com"), its first 16 bytes.
        let tag = account_tag("alice@example.com");
        assert_eq!(account_text(tag).len(), 32);
        assert_ne!(tag, account_tag("alice@example.co"));
        assert_ne!(tag, account_tag(""));
        let digest = Sha256::digest(b"pumpguard account\0alice@example.com");
        assert_eq!(account_text(tag), digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>());
    }
}
