//! `pumpguard check`: does a policy load, and what does it weaken.

use std::process::ExitCode;

use crate::load_policy;

/// Validate a policy: exit 0 when it loads, 1 with every error and its JSON path.
///
/// Settings that load but open a way around the rules (input outcomes set to `allow`) are
/// reported as warnings on stderr; they never change the exit status.
#[derive(clap::Args)]
pub struct Args {
    /// The policy file (docs/policy.md).
    #[arg(value_name = "POLICY.json")]
    policy: String,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let path = &args.policy;
    match load_policy(path)? {
        Ok(policy) => {
            println!(
                "{path}: ok ({} routes, {} rules)",
                policy.route_ids().count(),
                policy.rule_ids().count()
            );
            // Warnings never fail the check: they name settings that load but weaken the guard.
            for warning in policy.warnings() {
                eprintln!("{path}: warning: {}: {}", warning.path, warning.message);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(report) => {
            eprint!("{report}");
            Ok(ExitCode::from(1))
        }
    }
}
