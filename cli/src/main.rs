//! `pumpguard`: check policies, replay captured traffic, run scenario files.
//!
//! Each command is a module with its arguments (a clap `Args` struct) and a `run` function
//! returning the exit code; adding a command is a module, a variant of [`Command`] and an arm
//! in [`main`].

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod check;
mod http;
mod over_http;
mod progress;
mod replay;
mod scenarios;
mod schema;
mod simulate;
mod trust_batches;

/// `--version`: the crate's version and the libphonenumber metadata the phone tables come from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (libphonenumber metadata ",
    env!("PUMPGUARD_LIBPHONENUMBER_METADATA"),
    ")"
);

/// Exit status for bad usage or unreadable input, as distinct from an invalid policy (1).
const EXIT_USAGE: u8 = 2;

/// Defence against SMS pumping: check policies, replay captured traffic, pin what a policy
/// does with scenario files.
#[derive(Parser)]
#[command(name = "pumpguard", version = VERSION, propagate_version = true)]
#[command(after_help = "Exit status: 0 success, 1 invalid policy or failed scenario, 2 usage error \
                        or unreadable input.\nDocs: docs/policy.md, docs/traffic.md, docs/host-tests.md")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Check(check::Args),
    Replay(replay::Args),
    Scenarios(scenarios::Args),
    ScenarioPolicy(scenarios::PolicyArgs),
    /// Closed-loop simulation of real users and pumping campaigns (docs/simulator.md);
    /// `pumpguard simulate --help` for its options.
    #[command(disable_help_flag = true)]
    Simulate {
        /// The simulator's options, read by `simulate.rs`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "OPTIONS")]
        args: Vec<String>,
    },
    Schema(schema::Args),
    TrustBatches(trust_batches::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell) on stdout.
    #[command(
        after_help = "Install, e.g.:\n  pumpguard completions bash > ~/.local/share/bash-completion/completions/pumpguard\n  pumpguard completions zsh > \"${fpath[1]}/_pumpguard\"\n  pumpguard completions fish > ~/.config/fish/completions/pumpguard.fish"
    )]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    let result = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Scenarios(args) => scenarios::run(&args),
        Command::ScenarioPolicy(args) => scenarios::print_policy(&args),
        Command::Simulate { args } => simulate::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::TrustBatches(args) => trust_batches::run(&args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "pumpguard", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("pumpguard: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// `--help` and `--version` go to stdout with status 0; a usage error to stderr as
/// `pumpguard: <what and which argument>` with status 2, like every other usage error.
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // clap prints them on stdout; a failed write (closed pipe) is no usage error.
            let _ = error.print();
            ExitCode::SUCCESS
        }
        // `pumpguard` alone, or a command without its arguments: what is missing, then the help.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprint!("pumpguard: arguments missing\n\n{}", error.render());
            ExitCode::from(EXIT_USAGE)
        }
        _ => {
            let rendered = error.render().to_string();
            let message = rendered.strip_prefix("error: ").unwrap_or(&rendered);
            eprint!("pumpguard: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// A file's text, or a usage error naming it.
fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

/// The policy in `path`: `Err` when unreadable (a usage error), `Ok(Err(report))` when it does
/// not load, with every error and its JSON path.
fn load_policy(path: &str) -> Result<Result<pumpguard_core::Policy, String>, String> {
    let text = read(path)?;
    Ok(pumpguard_core::Policy::from_json(&text).map_err(|errors| {
        let mut out = format!("{path}: {} error(s)\n", errors.errors.len());
        for e in &errors.errors {
            out.push_str(&format!(
                "  {}: {}\n",
                if e.path.is_empty() { "(document)" } else { &e.path },
                e.message
            ));
        }
        out
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
