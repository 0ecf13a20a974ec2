//! `pumpguard schema`: the JSON Schema of the policy document, generated from the types the
//! loader deserializes (`pumpguard_core::config::PolicyDoc`), their doc comments as descriptions.

use std::process::ExitCode;

use pumpguard_core::config::PolicyDoc;
use schemars::generate::SchemaSettings;

/// Print the JSON Schema of the policy (draft-07, for editors: name it in a policy's `$schema`).
///
/// The published copy is docs/policy.schema.json. The schema checks a policy's shape (fields,
/// types, enums); the loader also checks values (ids, ranges, regexes, references) and reports
/// every error with its JSON path: run `pumpguard check`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_: &Args) -> Result<ExitCode, String> {
    println!("{}", policy_schema());
    Ok(ExitCode::SUCCESS)
}

/// The schema as pretty-printed JSON, as published in docs/policy.schema.json.
pub fn policy_schema() -> String {
    let mut schema = SchemaSettings::draft07().into_generator().into_root_schema_for::<PolicyDoc>();
    schema.insert("title".to_owned(), "pumpguard policy".into());
    // Serializing a tree of JSON values cannot fail; an empty string would fail the sync test.
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
