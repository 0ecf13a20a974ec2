//! The policy as the Worker loads it: text (a var, a secret or a KV value) → validated
//! [`Policy`], once per isolate and policy text.

use std::rc::Rc;

use pumpguard_core::Policy;

/// A loaded policy, or why none is usable; both carry the identity of the text they came from.
#[derive(Clone, Debug)]
pub enum Loaded {
    Ready { id: u64, policy: Rc<Policy> },
    Unusable { id: u64, why: String, paths: Vec<String> },
}

impl Loaded {
    pub fn id(&self) -> u64 {
        match self {
            Loaded::Ready { id, .. } | Loaded::Unusable { id, .. } => *id,
        }
    }
}

/// How long a policy read from KV is used before KV is read again, unless set
/// (`PUMPGUARD_POLICY_KV_TTL_SECONDS`).
pub const KV_POLICY_TTL_MS: u64 = 60_000;

/// A loaded policy as an isolate keeps it between requests. The rules of when it is used again
/// live here, as pure functions of `now`, so they are tested natively.
#[derive(Clone, Debug)]
pub struct CachedPolicy {
    pub loaded: Loaded,
    /// Where the text came from: a var is fixed for the isolate, KV is read again after a while.
    pub from_kv: bool,
    pub loaded_at_ms: u64,
}

impl CachedPolicy {
    /// Whether this policy answers at `now` without reading the text again. `must_be` is the
    /// policy a caller (a shard checking the fetch handler's id) needs: a KV policy that is not
    /// it is read again at once, since KV may have moved on; a var cannot change in an isolate.
    pub fn serves(&self, must_be: Option<u64>, now_ms: u64, kv_ttl_ms: u64) -> bool {
        let fresh = !self.from_kv || now_ms.saturating_sub(self.loaded_at_ms) < kv_ttl_ms;
        let matches = must_be.is_none_or(|id| id == self.loaded.id());
        fresh && (matches || !self.from_kv)
    }

    /// KV gave no text (unreadable, or the key gone): a good policy is kept, refreshed to `now`,
    /// rather than failing every request; an unusable one is not.
    pub fn kept_without_text(&self, now_ms: u64) -> Option<CachedPolicy> {
        matches!(self.loaded, Loaded::Ready { .. })
            .then(|| CachedPolicy { loaded_at_ms: now_ms, ..self.clone() })
    }

    /// KV now holds a text that does not load: a good policy is kept, refreshed to `now` (KV is
    /// read again after the TTL, and the bad text logged again, until it is fixed), as Envoy
    /// keeps a listener whose update it rejected. A bad push must not take down protection.
    pub fn kept_over(&self, new: &Loaded, now_ms: u64) -> Option<CachedPolicy> {
        (self.from_kv && matches!(new, Loaded::Unusable { .. }))
            .then(|| self.kept_without_text(now_ms))
            .flatten()
    }

    /// The compiled policy, when `text_id` names the text it was compiled from (no recompiling).
    pub fn same_text(&self, text_id: Option<u64>) -> Option<Loaded> {
        (text_id == Some(self.loaded.id())).then(|| self.loaded.clone())
    }
}

/// Identity of a policy text; counter shards check it so that rule indices always mean the same
/// rules on both sides.
pub use pumpguard_core::remote::policy_id;

/// Validates a policy text. `None` (no policy configured) is unusable too, never "allow all".
pub fn load(text: Option<&str>) -> Loaded {
    let Some(text) = text else {
        return Loaded::Unusable {
            id: 0,
            why: "no policy configured (set the PUMPGUARD_POLICY var or secret, or bind PUMPGUARD_POLICY_KV)"
                .to_owned(),
            paths: Vec::new(),
        };
    };
    let id = policy_id(text);
    match Policy::from_json(text) {
        Ok(policy) => Loaded::Ready { id, policy: Rc::new(policy) },
        Err(errors) => Loaded::Unusable {
            id,
            why: format!("invalid policy: {errors}"),
            paths: errors.errors.iter().map(|e| e.path.clone()).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"version":1,"routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/otp"}},"extract":{"json_keys":["phone"]}}],"rules":[]}"#;

    fn cached(from_kv: bool, loaded_at_ms: u64) -> CachedPolicy {
        CachedPolicy { loaded: load(Some(GOOD)), from_kv, loaded_at_ms }
    }

    #[test]
    fn a_var_policy_serves_for_the_isolate_a_kv_policy_for_its_ttl() {
        let id = policy_id(GOOD);
        let ttl = KV_POLICY_TTL_MS;
        assert!(cached(false, 0).serves(None, 10 * ttl, ttl));
        assert!(cached(false, 0).serves(Some(id + 1), 0, ttl), "a var cannot change: no reread");
        assert!(cached(true, 1_000).serves(Some(id), 1_000 + ttl - 1, ttl));
        assert!(!cached(true, 1_000).serves(None, 1_000 + ttl, ttl));
        assert!(!cached(true, 1_000).serves(Some(id + 1), 1_001, ttl), "a shard needs another KV policy");
        assert!(!cached(true, 1_000).serves(None, 2_000, 1_000), "a shorter TTL reads KV sooner");
    }

    #[test]
    fn an_unreadable_kv_keeps_a_good_policy_only() {
        let kept = cached(true, 0).kept_without_text(5_000).map(|c| c.loaded_at_ms);
        assert_eq!(kept, Some(5_000));
        let bad = CachedPolicy { loaded: load(Some("not json")), from_kv: true, loaded_at_ms: 0 };
        assert!(bad.kept_without_text(5_000).is_none());
    }

    #[test]
    fn a_bad_text_in_kv_keeps_a_good_policy() {
        let bad = load(Some(r#"{"version":1,"routes":[],"rules":[{"id":"x","action":"explode"}]}"#));
        let kept = cached(true, 0).kept_over(&bad, 9_000);
        assert_eq!(kept.map(|c| (c.loaded.id(), c.loaded_at_ms)), Some((policy_id(GOOD), 9_000)));
        assert!(cached(true, 0).kept_over(&load(Some(GOOD)), 9_000).is_none(), "a good new text replaces it");
        assert!(cached(false, 0).kept_over(&bad, 9_000).is_none(), "a var is not KV");
        let unusable = CachedPolicy { loaded: load(Some("not json")), from_kv: true, loaded_at_ms: 0 };
        assert!(unusable.kept_over(&bad, 9_000).is_none());
    }

    #[test]
    fn the_same_text_is_not_compiled_again() {
        let c = cached(true, 0);
        assert!(c.same_text(Some(policy_id(GOOD))).is_some());
        assert!(c.same_text(Some(policy_id(GOOD) + 1)).is_none());
        assert!(c.same_text(None).is_none());
    }

    #[test]
    fn good_policy_loads() {
        let loaded = load(Some(GOOD));
        assert!(matches!(loaded, Loaded::Ready { .. }), "{loaded:?}");
        assert_eq!(loaded.id(), policy_id(GOOD));
        assert_ne!(policy_id(GOOD), policy_id(&GOOD.replace("otp", "sms")));
    }

    #[test]
    fn bad_or_missing_policy_is_unusable_and_says_where() {
        match load(Some(r#"{"version":2,"routes":[],"rules":[],"bogus":1}"#)) {
            Loaded::Unusable { why, paths, .. } => {
                assert!(why.starts_with("invalid policy: "), "{why}");
                assert!(!paths.is_empty());
            }
            other => panic!("loaded {other:?}"),
        }
        match load(Some(&GOOD.replace("\"version\":1", "\"version\":2"))) {
            Loaded::Unusable { paths, .. } => assert_eq!(paths, vec!["version".to_owned()]),
            other => panic!("loaded {other:?}"),
        }
        assert!(matches!(load(None), Loaded::Unusable { id: 0, .. }));
        assert!(matches!(load(Some("not json")), Loaded::Unusable { .. }));
    }
}
