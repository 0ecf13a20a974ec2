//! Where requests come from. Addresses are stand-ins laid out like the real internet is to a
//! rate limiter: home broadband spreads users over many addresses; a mobile carrier puts
//! thousands of phones behind a handful of carrier-grade NAT addresses (or gives each an IPv6
//! /64); an office puts its staff behind one; bots rent datacenter ranges or residential
//! proxies whose exits are real home connections.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::rng::{stable_hash, Rng};

/// How a client reaches the internet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Home broadband: an address of its own, shared by the household.
    Residential,
    /// A phone on mobile data: a carrier-grade NAT address shared with many, or an IPv6 /64.
    Cellular,
    /// An office or campus: one address for everyone there.
    Office,
    /// A cloud or hosting provider.
    Datacenter,
    /// A cloud or hosting provider's routed IPv6 prefix: a /48 per server, every request from a
    /// fresh /64 of it (65,536 to choose from).
    DatacenterV6,
    /// Tor: one of the network's public exit relays, which every Tor user shares; the edge names
    /// the client's country `T1` whatever the exit's.
    Tor,
}

/// Tor's exit relays (about 1,200 to 1,500 at a time).
const TOR_EXITS: u64 = 1_300;
/// What Cloudflare's `cf-ipcountry` says of a Tor client.
pub const TOR_COUNTRY: &str = "T1";

/// Carrier-grade NAT egress addresses per carrier, and carriers per country.
const CGNAT_ADDRESSES: u64 = 12;
const CARRIERS: u64 = 3;
/// Office egress addresses per country.
const OFFICES: u64 = 60;
/// Share of cellular sessions that arrive over IPv6 (a /64 of their own).
const CELLULAR_IPV6_SHARE: f64 = 0.35;

/// Public first octets used for stand-in address space.
const FIRST_OCTETS: [u8; 24] =
    [24, 50, 66, 68, 70, 71, 73, 76, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90, 91, 93, 94, 95];
const DATACENTER_OCTETS: [u8; 6] = [34, 35, 45, 104, 159, 167];

fn country_seed(country: &str) -> u64 {
    stable_hash(country)
}

/// An address of one access kind in one country.
pub fn address(rng: &mut Rng, access: Access, country: &str) -> IpAddr {
    let seed = country_seed(country);
    match access {
        Access::Residential => {
            // Eight /16s of broadband per country.
            let block = (seed.wrapping_add(rng.below(8).wrapping_mul(0x9e37))) as usize;
            let a = FIRST_OCTETS[block % FIRST_OCTETS.len()];
            let b = ((block / 7) % 256) as u8;
            IpAddr::V4(Ipv4Addr::new(a, b, rng.below(256) as u8, rng.range(1, 254) as u8))
        }
        Access::Cellular => {
            let carrier = rng.below(CARRIERS);
            if rng.chance(CELLULAR_IPV6_SHARE) {
                let prefix = (seed.wrapping_add(carrier) & 0xffff) as u16;
                IpAddr::V6(Ipv6Addr::new(
                    0x2600 | (prefix >> 12),
                    prefix,
                    rng.below(65536) as u16,
                    rng.below(65536) as u16,
                    rng.below(65536) as u16,
                    rng.below(65536) as u16,
                    rng.below(65536) as u16,
                    rng.below(65536) as u16,
                ))
            } else {
                let n = rng.below(CGNAT_ADDRESSES);
                let a = FIRST_OCTETS[((seed >> 8).wrapping_add(carrier) as usize) % FIRST_OCTETS.len()];
                let b = ((seed >> 16).wrapping_add(carrier * 31) % 256) as u8;
                IpAddr::V4(Ipv4Addr::new(a, b, 200 + carrier as u8, 10 + n as u8))
            }
        }
        Access::Office => {
            let n = rng.below(OFFICES);
            let a = FIRST_OCTETS[((seed >> 24) as usize + n as usize) % FIRST_OCTETS.len()];
            IpAddr::V4(Ipv4Addr::new(a, ((seed >> 32) % 256) as u8, (n * 4) as u8, 1))
        }
        Access::Datacenter => {
            let a = *rng.pick(&DATACENTER_OCTETS).unwrap_or(&34);
            IpAddr::V4(Ipv4Addr::new(a, rng.below(256) as u8, rng.below(256) as u8, rng.range(1, 254) as u8))
        }
        // The same relays for everyone who picks Tor, users and campaigns alike.
        Access::Tor => {
            let n = rng.below(TOR_EXITS);
            IpAddr::V4(Ipv4Addr::new(185, 220, (100 + n / 250) as u8, (1 + n % 250) as u8))
        }
        Access::DatacenterV6 => {
            // A hosting provider's /32 per country; the server's /48 in it ([`Pool::pick`] fills
            // in a fresh /64 and host part for every request).
            IpAddr::V6(Ipv6Addr::new(0x2a01, (seed & 0xffff) as u16, rng.below(65536) as u16, 0, 0, 0, 0, 0))
        }
    }
}

/// A phone's IPv6 address on mobile data moved into one of `networks` /48s of its carrier (the
/// rest of its /64 kept), so that many real users share a /48 as they share a carrier NAT
/// address; an IPv4 address as it is. Draws nothing: the run's other draws stay as they were.
pub fn within_carrier_v6_networks(ip: IpAddr, networks: u16) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if networks > 0 => {
            let mut s = v6.segments();
            s[2] %= networks;
            IpAddr::V6(Ipv6Addr::from(s))
        }
        other => other,
    }
}

/// Where real users connect from when not at home: travel destinations and the countries
/// expatriates of the served markets live in.
const ABROAD: [&str; 12] = ["US", "GB", "DE", "FR", "CA", "ES", "IT", "NL", "PT", "CH", "AE", "MX"];

/// A country other than `home` a real user connects from when abroad.
pub fn abroad(rng: &mut Rng, home: &str) -> &'static str {
    let others: Vec<&'static str> = ABROAD.iter().copied().filter(|c| *c != home).collect();
    rng.pick(&others).copied().unwrap_or("ES")
}

/// A client address and the country an edge geolocates it to (what `cf-ipcountry` says).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// The address the site sees.
    pub ip: IpAddr,
    /// Its country, as the edge geolocates it.
    pub country: String,
}

impl Exit {
    /// An address of `access` in `country`.
    pub fn new(rng: &mut Rng, access: Access, country: &str) -> Exit {
        let country = if access == Access::Tor { TOR_COUNTRY } else { country };
        Exit { ip: address(rng, access, country), country: country.to_owned() }
    }
}

/// A fixed pool of addresses (a bot's proxies, a few rented servers), drawn once.
#[derive(Clone, Debug)]
pub struct Pool {
    exits: Vec<Exit>,
    access: Access,
}

impl Pool {
    /// `size` addresses of `access` spread over `countries`.
    pub fn new(rng: &mut Rng, size: usize, access: Access, countries: &[String]) -> Pool {
        let exits = (0..size.max(1))
            .map(|_| {
                let country = rng.pick(countries).map(String::as_str).unwrap_or("US").to_owned();
                Exit::new(rng, access, &country)
            })
            .collect();
        Pool { exits, access }
    }

    /// One address of the pool (of a routed IPv6 prefix, a fresh /64 of it).
    pub fn pick(&self, rng: &mut Rng) -> Exit {
        let exit = rng.pick(&self.exits).cloned().unwrap_or_else(|| Exit {
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            country: "US".to_owned(),
        });
        self.within(rng, exit)
    }

    /// `exit` as one request uses it: a routed IPv6 prefix's server answers from any /64 of it.
    fn within(&self, rng: &mut Rng, exit: Exit) -> Exit {
        match (self.access, exit.ip) {
            (Access::DatacenterV6, IpAddr::V6(v6)) => {
                let s = v6.segments();
                let ip = Ipv6Addr::new(
                    s[0],
                    s[1],
                    s[2],
                    rng.below(65536) as u16,
                    0,
                    0,
                    0,
                    rng.range(1, 65535) as u16,
                );
                Exit { ip: IpAddr::V6(ip), ..exit }
            }
            _ => exit,
        }
    }

    /// One address of the pool in `country`; a fresh one of the pool's kind when the pool has
    /// none there (a proxy service rents any country). Tor's exits are all `T1` to the edge,
    /// whichever country the bot asks Tor for.
    pub fn pick_in(&self, rng: &mut Rng, country: &str) -> Exit {
        if self.access == Access::Tor {
            return self.pick(rng);
        }
        let local: Vec<&Exit> = self.exits.iter().filter(|e| e.country == country).collect();
        let exit = match rng.pick(&local) {
            Some(exit) => (*exit).clone(),
            None => Exit::new(rng, self.access, country),
        };
        self.within(rng, exit)
    }

    /// How many addresses the pool has.
    pub fn len(&self) -> usize {
        self.exits.len()
    }

    /// Whether the pool is empty (never: pools hold at least one address).
    pub fn is_empty(&self) -> bool {
        self.exits.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cellular_v4_addresses_are_few_and_residential_many() {
        let mut rng = Rng::new(2);
        let cellular: std::collections::BTreeSet<IpAddr> =
            (0..2000).map(|_| address(&mut rng, Access::Cellular, "US")).filter(IpAddr::is_ipv4).collect();
        assert!(cellular.len() <= (CGNAT_ADDRESSES * CARRIERS) as usize, "{}", cellular.len());
        let home: std::collections::BTreeSet<IpAddr> =
            (0..2000).map(|_| address(&mut rng, Access::Residential, "US")).collect();
        assert!(home.len() > 1900);
    }

    #[test]
    fn tor_exits_are_shared_and_t1_to_the_edge() {
        let mut rng = Rng::new(4);
        let pool = Pool::new(&mut rng, 5_000, Access::Tor, &["US".to_owned()]);
        let exits: std::collections::BTreeSet<IpAddr> = (0..5_000).map(|_| pool.pick(&mut rng).ip).collect();
        assert!(exits.len() <= TOR_EXITS as usize, "{}", exits.len());
        // A real user through Tor lands on the same relays a campaign uses.
        let user = Exit::new(&mut rng, Access::Tor, "GB");
        assert_eq!(user.country, TOR_COUNTRY);
        let relay = |ip: &IpAddr| matches!(ip, IpAddr::V4(v4) if v4.octets()[..2] == [185, 220]);
        assert!(relay(&user.ip) && exits.iter().all(relay), "{user:?}");
        // Asking Tor for an exit in the number's country does not change what the edge says.
        assert_eq!(pool.pick_in(&mut rng, "US").country, TOR_COUNTRY);
    }

    /// The first `bits` bits of an IPv6 address.
    fn net(ip: IpAddr, bits: u32) -> u128 {
        match ip {
            IpAddr::V6(v6) => u128::from(v6) >> (128 - bits),
            IpAddr::V4(_) => panic!("{ip} is not IPv6"),
        }
    }

    #[test]
    fn a_routed_ipv6_server_sends_from_a_fresh_64_of_its_48() {
        let mut rng = Rng::new(3);
        let pool = Pool::new(&mut rng, 2, Access::DatacenterV6, &["US".to_owned()]);
        let picks: Vec<IpAddr> = (0..500).map(|_| pool.pick(&mut rng).ip).collect();
        let by_48: std::collections::BTreeSet<u128> = picks.iter().map(|ip| net(*ip, 48)).collect();
        let by_64: std::collections::BTreeSet<u128> = picks.iter().map(|ip| net(*ip, 64)).collect();
        assert!(by_48.len() <= 2, "{by_48:?}");
        assert!(by_64.len() > 490, "{}", by_64.len());
        let local = pool.pick_in(&mut rng, "US").ip;
        assert!(by_48.contains(&net(local, 48)) && !by_64.contains(&net(local, 64)), "{local}");
    }

    #[test]
    fn carrier_ipv6_in_few_networks_keeps_each_phone_its_64() {
        let mut rng = Rng::new(4);
        let phones: Vec<IpAddr> =
            (0..3000).map(|_| address(&mut rng, Access::Cellular, "GB")).filter(IpAddr::is_ipv6).collect();
        let moved: Vec<IpAddr> = phones.iter().map(|ip| within_carrier_v6_networks(*ip, 2)).collect();
        let nets = |ips: &[IpAddr], bits| {
            ips.iter().map(|ip| net(*ip, bits)).collect::<std::collections::BTreeSet<_>>()
        };
        assert!(nets(&phones, 48).len() > 500, "spread over the carriers' /32s");
        assert!(nets(&moved, 48).len() <= (2 * CARRIERS) as usize, "{}", nets(&moved, 48).len());
        // Phones keep their /64s (two may now meet in one, as a 16-bit draw can repeat).
        assert!(nets(&moved, 64).len() * 100 >= nets(&phones, 64).len() * 99, "{}", nets(&moved, 64).len());
        let v4 = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
        assert_eq!(within_carrier_v6_networks(v4, 2), v4);
    }
}
