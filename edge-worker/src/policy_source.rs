//! The policy as the Worker loads it: text (a var, a secret or a KV value) → validated
//! [`Policy`], once per isolate and policy text.

use std::rc::Rc;

use pumpguard_core::Policy;

use crate::shard::key_hash;

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

/// Identity of a policy text; counter shards check it so that rule indices always mean the same
/// rules on both sides.
pub fn policy_id(text: &str) -> u64 {
    key_hash(0x7075_6d70_6775_6172, text)
}

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
