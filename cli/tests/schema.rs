//! The policy's JSON Schema (`pumpguard schema`, published as docs/policy.schema.json): in sync
//! with the loader's types, accepting every policy the project ships, and never stricter than the
//! loader: a policy the schema rejects is one `Policy::from_json` rejects too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::PathBuf;
use std::process::Command;

use proptest::prelude::*;
use pumpguard_core::Policy;
use serde_json::Value;

const REGENERATE: &str =
    "just policy-schema (or: cargo run -q -p pumpguard-cli -- schema > docs/policy.schema.json)";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn generated() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pumpguard")).arg("schema").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&generated()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

/// Scenario policies: (file, policy, whether the loader must refuse it).
fn scenario_policies() -> Vec<(String, Value, bool)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo("tests/scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let scenario: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let refused = scenario.get("policy_errors").is_some();
            out.push((path.display().to_string(), scenario["policy"].clone(), refused));
        }
    }
    assert!(out.len() > 50, "scenario corpus not found");
    out
}

#[test]
fn the_published_schema_is_the_generated_one() {
    let published = std::fs::read_to_string(repo("docs/policy.schema.json")).unwrap_or_default();
    assert!(
        published == generated(),
        "docs/policy.schema.json is out of date with the policy types in core/src/config: regenerate it with {REGENERATE}"
    );
}

#[test]
fn every_shipped_policy_is_valid_and_refused_ones_are_refused_by_the_loader() {
    let validator = validator();
    let example: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("examples/policy.json")).unwrap()).unwrap();
    assert!(
        validator.is_valid(&example),
        "examples/policy.json: {:?}",
        validator.iter_errors(&example).map(|e| e.to_string()).collect::<Vec<_>>()
    );
    let (mut valid, mut refused_by_both) = (0, 0);
    for (file, policy, refused) in scenario_policies() {
        let schema_ok = validator.is_valid(&policy);
        let loader_ok = Policy::from_json(&policy.to_string()).is_ok();
        assert_eq!(loader_ok, !refused, "{file}: the scenario says the loader refuses it: {refused}");
        if !refused {
            let errors: Vec<String> =
                validator.iter_errors(&policy).map(|e| format!("{}: {e}", e.instance_path())).collect();
            assert!(schema_ok, "{file}: the loader takes this policy, the schema refuses it: {errors:?}");
            valid += 1;
        } else if !schema_ok {
            refused_by_both += 1;
        }
    }
    println!(
        "{valid} scenario policies valid; {refused_by_both} refused policies already refused by the schema"
    );
}

#[test]
fn a_policy_may_name_its_schema() {
    let mut policy: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("examples/policy.json")).unwrap()).unwrap();
    policy["$schema"] =
        "https://raw.githubusercontent.com/pumpguard/pumpguard/main/docs/policy.schema.json".into();
    assert!(validator().is_valid(&policy));
    assert!(Policy::from_json(&policy.to_string()).is_ok());
}

/// serde alone would read a struct from a JSON array of its fields in order (`"match": []`, an
/// empty match that matches every request); the loader reads objects only, as the schema says.
#[test]
fn an_object_written_as_an_array_is_refused_by_both() {
    let mut policy: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("examples/policy.json")).unwrap()).unwrap();
    policy["routes"][0]["match"] = Value::Array(vec![]);
    assert!(!validator().is_valid(&policy));
    let errors = Policy::from_json(&policy.to_string()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(errors.contains("routes[0].match"), "{errors}");
}

// ------------------------------------------------------------ property: never stricter than the loader

/// Every node of a document, by its path of keys and indices.
fn nodes(value: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(path.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                path.push(Step::Key(k.clone()));
                nodes(v, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(Step::Index(i));
                nodes(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn at<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    /// Replace the node by another value.
    Replace(Value),
    /// Remove the node from its object or array.
    Remove,
    /// Add a member (objects) or element (arrays).
    Add(String, Value),
}

fn apply(doc: &mut Value, path: &[Step], mutation: Mutation) {
    match mutation {
        Mutation::Replace(v) => *at(doc, path) = v,
        Mutation::Remove => {
            if let Some((last, parent)) = path.split_last() {
                match (at(doc, parent), last) {
                    (Value::Object(map), Step::Key(k)) => {
                        map.remove(k);
                    }
                    (Value::Array(items), Step::Index(i)) => {
                        items.remove(*i);
                    }
                    _ => {}
                }
            }
        }
        Mutation::Add(key, v) => match at(doc, path) {
            Value::Object(map) => {
                map.insert(key, v);
            }
            Value::Array(items) => items.push(v),
            _ => {}
        },
    }
}

/// Values a mutation puts in: the words and numbers policies are made of, and other types.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        prop_oneof![
            Just(0i64),
            Just(1),
            Just(-1),
            Just(2),
            Just(64),
            Just(255),
            Just(256),
            Just(65536),
            Just(4_294_967_296)
        ]
        .prop_map(Value::from),
        prop_oneof![Just(0.5f64), Just(1.0), Just(-0.25)].prop_map(Value::from),
        prop::sample::select(vec![
            "block",
            "allow",
            "log",
            "challenge",
            "throttle",
            "send",
            "confirm",
            "US",
            "+44",
            "+4470",
            "phone",
            "client_ip",
            "number",
            "country",
            "ja3",
            "mobile",
            "premium_rate",
            "turnstile",
            "/otp",
            "exact",
            "prefix",
            "",
            "x"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec!["exact", "prefix", "client_ip", "v4", "json_keys", "x"])
                    .prop_map(String::from),
                inner,
                0..2
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => value().prop_map(Mutation::Replace),
        2 => Just(Mutation::Remove),
        1 => (prop::sample::select(vec!["unknown", "shadow", "deny", "allow", "monitor", "burst", "$schema"]).prop_map(String::from), value())
            .prop_map(|(k, v)| Mutation::Add(k, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Shipped policies with one to three random changes: whenever the schema refuses the
    /// result, the loader refuses it too.
    #[test]
    fn the_schema_refuses_only_what_the_loader_refuses(
        base in 0usize..1000,
        changes in prop::collection::vec((any::<prop::sample::Index>(), mutation()), 1..4),
    ) {
        thread_local! {
            static BASES: Vec<Value> = scenario_policies().into_iter().filter(|(_, _, refused)| !refused).map(|(_, p, _)| p).collect();
            static VALIDATOR: jsonschema::Validator = validator();
        }
        let mut doc = BASES.with(|b| b[base % b.len()].clone());
        for (index, mutation) in changes {
            let mut all = Vec::new();
            nodes(&doc, &mut Vec::new(), &mut all);
            let path = all[index.index(all.len())].clone();
            apply(&mut doc, &path, mutation);
        }
        let schema_ok = VALIDATOR.with(|v| v.is_valid(&doc));
        if !schema_ok && Policy::from_json(&doc.to_string()).is_ok() {
            let errors = VALIDATOR.with(|v| {
                v.iter_errors(&doc).map(|e| format!("{}: {e}", e.instance_path())).collect::<Vec<_>>()
            });
            prop_assert!(false, "the schema refuses a policy the loader takes: {errors:?}\n{doc}");
        }
    }
}
