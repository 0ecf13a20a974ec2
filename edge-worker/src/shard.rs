//! Which Durable Object holds a counter key.
//!
//! Keys are spread over a fixed number of shards by a seeded hash, so no single object takes all
//! traffic, and all checks of one request that land on the same shard travel in one round trip.

/// Default number of shards (`PUMPGUARD_SHARDS`).
pub const DEFAULT_SHARDS: u32 = 32;
/// Upper bound on `PUMPGUARD_SHARDS`.
pub const MAX_SHARDS: u32 = 4096;

pub use pumpguard_core::store::key_hash;

/// Shard index of `key` among `shards` (at least one).
pub fn shard_of(seed: u64, key: &str, shards: u32) -> u32 {
    let shards = u64::from(shards.max(1));
    u32::try_from(key_hash(seed, key) % shards).unwrap_or(0)
}

/// The Durable Object name of a shard.
pub fn shard_name(index: u32) -> String {
    format!("pumpguard-shard-{index}")
}

/// Groups keys by shard, keeping each key's position: `(shard, [positions])`, shards in order of
/// first appearance.
pub fn group<'k>(seed: u64, keys: impl IntoIterator<Item = &'k str>, shards: u32) -> Vec<(u32, Vec<usize>)> {
    let mut groups: Vec<(u32, Vec<usize>)> = Vec::new();
    for (position, key) in keys.into_iter().enumerate() {
        let shard = shard_of(seed, key, shards);
        match groups.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, positions)) => positions.push(position),
            None => groups.push((shard, vec![position])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_shard_and_in_range() {
        for key in ["rl:ip|198.51.100.7", "bo:backoff:14155550123", "", "cv:x:US"] {
            let a = shard_of(7, key, 32);
            assert_eq!(a, shard_of(7, key, 32));
            assert!(a < 32);
        }
        assert_eq!(shard_of(1, "anything", 0), 0);
        assert_eq!(shard_of(1, "anything", 1), 0);
    }

    #[test]
    fn keys_spread_over_shards() {
        let mut counts = [0u32; 16];
        for i in 0..16_000 {
            let key = format!("rl:per-number|1415555{i:04}");
            if let Some(c) = counts.get_mut(shard_of(0, &key, 16) as usize) {
                *c += 1;
            }
        }
        // 1000 expected per shard; a decent hash stays well within ±25 %.
        assert!(counts.iter().all(|&c| (750..1250).contains(&c)), "{counts:?}");
    }

    #[test]
    fn seed_changes_placement() {
        let moved = (0..100).filter(|i| {
            let key = format!("k{i}");
            shard_of(1, &key, 64) != shard_of(2, &key, 64)
        });
        assert!(moved.count() > 50);
    }

    #[test]
    fn grouping_keeps_positions() {
        let keys = ["a", "b", "a", "c", "b"];
        let groups = group(0, keys, 1);
        assert_eq!(groups, vec![(0, vec![0, 1, 2, 3, 4])]);
        let groups = group(0, keys, 64);
        let mut all: Vec<usize> = groups.iter().flat_map(|(_, p)| p.iter().copied()).collect();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
        for (shard, positions) in &groups {
            for &p in positions {
                assert_eq!(shard_of(0, keys[p], 64), *shard);
            }
        }
        assert_eq!(shard_name(3), "pumpguard-shard-3");
    }
}
