//! The policies the service runs checks with, by identity ([`policy_id`] of the policy's
//! canonical JSON text, as the filter computes it from its plugin configuration). Several can be
//! loaded at once, so proxies on the old and the new policy are both served during a rollout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pumpguard_core::remote::policy_id;
use pumpguard_core::Policy;

/// Loaded policies by id.
#[derive(Default)]
pub struct Policies {
    by_id: HashMap<u64, Arc<Policy>>,
    /// File each policy came from, for logs.
    pub sources: Vec<(u64, PathBuf)>,
}

impl Policies {
    /// The policy with this id.
    pub fn get(&self, id: u64) -> Option<Arc<Policy>> {
        self.by_id.get(&id).cloned()
    }

    /// How many are loaded.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Loads `path`: one JSON file, or every `*.json` file of a directory. A file holds a policy,
    /// or a filter plugin configuration whose `policy` is taken. Every error, with its file and
    /// JSON path, refuses the whole set.
    pub fn load(path: &Path) -> Result<Policies, Vec<String>> {
        let files: Vec<PathBuf> = if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| vec![format!("{}: {e}", path.display())])?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            files.sort();
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut policies = Policies::default();
        let mut errors = Vec::new();
        for file in &files {
            match load_file(file) {
                Ok((id, policy)) => {
                    policies.by_id.insert(id, Arc::new(policy));
                    policies.sources.push((id, file.clone()));
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        if policies.by_id.is_empty() && errors.is_empty() {
            errors.push(format!("{}: no policy (*.json) found", path.display()));
        }
        if errors.is_empty() {
            Ok(policies)
        } else {
            Err(errors)
        }
    }
}

/// The canonical text of a policy document (keys sorted, no spaces): what the filter hashes.
pub fn canonical(policy: &serde_json::Value) -> String {
    policy.to_string()
}

fn load_file(file: &Path) -> Result<(u64, Policy), Vec<String>> {
    let name = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| vec![format!("{name}: {e}")])?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| vec![format!("{name}: not JSON: {e}")])?;
    let (policy, at) = match doc.get("policy") {
        Some(policy) if doc.get("version").is_none() => (policy, "policy."),
        _ => (&doc, ""),
    };
    let text = canonical(policy);
    match Policy::from_json(&text) {
        Ok(compiled) => Ok((policy_id(&text), compiled)),
        Err(errors) => {
            Err(errors.errors.into_iter().map(|e| format!("{name}: {at}{}: {}", e.path, e.message)).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"version":1,"routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/otp"}},"extract":{"json_keys":["phone"]}}]}"#;

    #[test]
    fn policies_and_plugin_configs_load_under_the_filters_id() {
        let dir = std::env::temp_dir().join(format!("pg-policies-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.json"), POLICY).unwrap();
        std::fs::write(dir.join("b.json"), format!(r#"{{"name":"edge","policy":{POLICY}}}"#)).unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let loaded = Policies::load(&dir).unwrap();
        let value: serde_json::Value = serde_json::from_str(POLICY).unwrap();
        let id = policy_id(&canonical(&value));
        assert_eq!(loaded.len(), 1, "the same policy twice is one");
        assert!(loaded.get(id).is_some());
        std::fs::write(dir.join("c.json"), r#"{"version":2,"routes":[]}"#).unwrap();
        let errors = Policies::load(&dir).err().unwrap_or_default();
        assert!(errors.iter().any(|e| e.contains("c.json") && e.contains("version")), "{errors:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
