//! Configuration from flags, each with an environment variable as its fallback.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::Tokens;

/// `--redis-cluster`: how a round's keys are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterMode {
    /// Asks Redis (`INFO cluster`) when warming.
    Auto,
    /// One key per command: a round is read, then written key by key.
    Yes,
    /// A round is one atomic script over all its keys.
    No,
}

/// Every setting of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `--listen` / `PUMPGUARD_STORE_LISTEN`: address of the HTTP server.
    pub listen: String,
    /// `--redis` / `PUMPGUARD_STORE_REDIS`: `host:port` of Redis or Valkey.
    pub redis: String,
    /// `PUMPGUARD_STORE_REDIS_PASSWORD` (environment only, never a flag: flags show in `ps`).
    pub redis_password: Option<String>,
    /// `--redis-timeout-ms` / `PUMPGUARD_STORE_REDIS_TIMEOUT_MS`: connect, read and write timeout.
    pub redis_timeout: Duration,
    /// `--policies` / `PUMPGUARD_STORE_POLICIES`: a policy file or a directory of them.
    pub policies: PathBuf,
    /// `--key-prefix` / `PUMPGUARD_STORE_KEY_PREFIX`: prefix of every Redis key.
    pub key_prefix: String,
    /// `--threads` / `PUMPGUARD_STORE_THREADS`: requests handled at once.
    pub threads: usize,
    /// `--cas-rounds` / `PUMPGUARD_STORE_CAS_ROUNDS`: compare-and-swap rounds before a key's
    /// checks are store failures.
    pub cas_rounds: u32,
    /// `--drain-ms` / `PUMPGUARD_STORE_DRAIN_MS`: on SIGTERM, how long readiness fails before the
    /// listener closes (so load balancers stop sending first).
    pub drain: Duration,
    /// `--redis-cluster` / `PUMPGUARD_STORE_REDIS_CLUSTER`: `auto`, `yes` or `no`.
    pub redis_cluster: ClusterMode,
    /// `--known-keys` / `PUMPGUARD_STORE_KNOWN_KEYS`: keys whose last seen value is remembered
    /// to guess a round's values (0: guess every key absent).
    pub known_keys: usize,
    /// `--tokens-file` / `PUMPGUARD_STORE_TOKENS_FILE`: the bearer tokens `/checks` accepts, one
    /// a line, read at start and on SIGHUP.
    pub tokens_file: Option<PathBuf>,
    /// `PUMPGUARD_STORE_TOKENS` (environment only, never a flag: flags show in `ps`): the bearer
    /// tokens `/checks` accepts, separated by commas or newlines. Neither this nor
    /// `tokens_file`: `/checks` answers anyone.
    pub tokens: Option<Tokens>,
}

pub const USAGE: &str = "usage: pumpguard-store --policies PATH [--listen ADDR] [--redis HOST:PORT] \
[--redis-timeout-ms N] [--key-prefix P] [--threads N] [--cas-rounds N] [--drain-ms N]
       [--redis-cluster auto|yes|no] [--known-keys N] [--tokens-file PATH]
Every flag has an environment fallback: PUMPGUARD_STORE_<FLAG> (e.g. PUMPGUARD_STORE_REDIS);
the Redis password only as PUMPGUARD_STORE_REDIS_PASSWORD. POST /checks asks for
`authorization: Bearer <token>` with a token of --tokens-file (one a line, # comments) or of
PUMPGUARD_STORE_TOKENS (environment only; commas or newlines between tokens); with neither it
answers anyone. Signals: SIGTERM/SIGINT drain and stop, SIGHUP reloads the policies and the
tokens file.";

const FLAGS: [&str; 11] = [
    "listen",
    "redis",
    "redis-timeout-ms",
    "policies",
    "key-prefix",
    "threads",
    "cas-rounds",
    "drain-ms",
    "redis-cluster",
    "known-keys",
    "tokens-file",
];

impl Settings {
    /// Reads `args` (without the program name), then `env` for what the flags leave out.
    pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let mut given: Vec<(String, String)> = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument {arg:?}"));
            };
            let (name, value) = match flag.split_once('=') {
                Some((n, v)) => (n.to_owned(), v.to_owned()),
                None => {
                    if flag == "help" {
                        return Err(String::new());
                    }
                    (flag.to_owned(), it.next().cloned().ok_or_else(|| format!("--{flag} needs a value"))?)
                }
            };
            if !FLAGS.contains(&name.as_str()) {
                return Err(format!("unknown flag --{name}"));
            }
            given.push((name, value));
        }
        let get = |name: &str| -> Option<String> {
            given
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .or_else(|| env(&format!("PUMPGUARD_STORE_{}", name.to_uppercase().replace('-', "_"))))
        };
        let number = |name: &str, default: u64, min: u64, max: u64| -> Result<u64, String> {
            match get(name) {
                None => Ok(default),
                Some(text) => match text.trim().parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(n),
                    _ => Err(format!("--{name}: must be a whole number from {min} to {max}, not {text:?}")),
                },
            }
        };
        let policies = get("policies").ok_or("--policies (or PUMPGUARD_STORE_POLICIES) is required")?;
        let key_prefix = get("key-prefix").unwrap_or_else(|| "pg:".to_owned());
        if key_prefix.len() > 64 || key_prefix.contains(['{', '}']) {
            return Err("--key-prefix: at most 64 characters, no '{' or '}' (they would pin every key to one Cluster slot)".to_owned());
        }
        let redis_cluster = match get("redis-cluster").as_deref().map(str::trim) {
            None | Some("auto") => ClusterMode::Auto,
            Some("yes") => ClusterMode::Yes,
            Some("no") => ClusterMode::No,
            Some(other) => return Err(format!("--redis-cluster: auto, yes or no, not {other:?}")),
        };
        let tokens_file = get("tokens-file").map(PathBuf::from);
        if tokens_file.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return Err("--tokens-file: needs a path".to_owned());
        }
        let tokens = match env("PUMPGUARD_STORE_TOKENS") {
            None => None,
            Some(_) if tokens_file.is_some() => {
                return Err(
                    "--tokens-file and PUMPGUARD_STORE_TOKENS: give the tokens in one of them".to_owned()
                )
            }
            Some(list) => Some(Tokens::from_list(&list, "PUMPGUARD_STORE_TOKENS").map_err(|e| e.join("; "))?),
        };
        Ok(Settings {
            listen: get("listen").unwrap_or_else(|| "127.0.0.1:8080".to_owned()),
            redis: get("redis").unwrap_or_else(|| "127.0.0.1:6379".to_owned()),
            redis_password: env("PUMPGUARD_STORE_REDIS_PASSWORD").filter(|p| !p.is_empty()),
            redis_timeout: Duration::from_millis(number("redis-timeout-ms", 250, 1, 60_000)?),
            policies: PathBuf::from(policies),
            key_prefix,
            threads: number("threads", 8, 1, 1024)? as usize,
            cas_rounds: number("cas-rounds", 32, 1, 100)? as u32,
            drain: Duration::from_millis(number("drain-ms", 5_000, 0, 600_000)?),
            redis_cluster,
            known_keys: number("known-keys", 100_000, 0, 100_000_000)? as usize,
            tokens_file,
            tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_win_over_environment_and_defaults_fill_the_rest() {
        let env = |name: &str| match name {
            "PUMPGUARD_STORE_REDIS" => Some("redis:6379".to_owned()),
            "PUMPGUARD_STORE_POLICIES" => Some("/etc/pumpguard".to_owned()),
            "PUMPGUARD_STORE_THREADS" => Some("3".to_owned()),
            "PUMPGUARD_STORE_REDIS_PASSWORD" => Some("secret".to_owned()),
            _ => None,
        };
        let s = Settings::parse(&args(&["--redis", "10.0.0.1:6380", "--drain-ms=0"]), env).unwrap();
        assert_eq!(s.redis, "10.0.0.1:6380");
        assert_eq!(s.policies, PathBuf::from("/etc/pumpguard"));
        assert_eq!(s.threads, 3);
        assert_eq!(s.drain, Duration::ZERO);
        assert_eq!(s.redis_password.as_deref(), Some("secret"));
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert_eq!(s.key_prefix, "pg:");
        assert_eq!((s.redis_cluster, s.known_keys), (ClusterMode::Auto, 100_000));
        assert_eq!((s.tokens_file, s.tokens), (None, None), "no token: /checks is open");
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn tokens_come_from_a_file_or_from_the_environment_only() {
        let file_env = |name: &str| match name {
            "PUMPGUARD_STORE_POLICIES" => Some("p".to_owned()),
            "PUMPGUARD_STORE_TOKENS_FILE" => Some("/run/secrets/tokens".to_owned()),
            _ => None,
        };
        let s = Settings::parse(&[], file_env).unwrap();
        assert_eq!((s.tokens_file, s.tokens), (Some(PathBuf::from("/run/secrets/tokens")), None));
        let s = Settings::parse(&args(&["--tokens-file=/etc/t"]), file_env).unwrap();
        assert_eq!(s.tokens_file, Some(PathBuf::from("/etc/t")), "the flag wins");
        let list = format!("{TOKEN},fedcba9876543210fedcba9876543210");
        let env_only = |name: &str| match name {
            "PUMPGUARD_STORE_TOKENS" => Some(list.clone()),
            _ => None,
        };
        let s = Settings::parse(&args(&["--policies", "p"]), env_only).unwrap();
        assert_eq!((s.tokens_file, s.tokens.map(|t| t.len())), (None, Some(2)));
        let err = Settings::parse(&args(&["--policies", "p", "--tokens", TOKEN]), env_only).err();
        assert_eq!(err.as_deref(), Some("unknown flag --tokens"), "never a flag: flags show in ps");
    }

    #[test]
    fn bad_or_conflicting_tokens_are_start_errors() {
        for (tokens, file, want) in [
            ("", None, "PUMPGUARD_STORE_TOKENS: no token"),
            (" , ", None, "PUMPGUARD_STORE_TOKENS: no token"),
            ("short", None, "PUMPGUARD_STORE_TOKENS: token 1 is shorter than 16 bytes"),
            ("0123456789 abcdef", None, "PUMPGUARD_STORE_TOKENS: token 1 holds whitespace"),
            (TOKEN, Some("/etc/t"), "--tokens-file and PUMPGUARD_STORE_TOKENS"),
        ] {
            let env = |name: &str| (name == "PUMPGUARD_STORE_TOKENS").then(|| tokens.to_owned());
            let mut list = vec!["--policies", "p"];
            list.extend(file.map(|f| ["--tokens-file", f]).into_iter().flatten());
            let err = Settings::parse(&args(&list), env).err().unwrap_or_default();
            assert!(err.starts_with(want), "{tokens:?}: {err}");
            assert!(!err.contains(TOKEN), "a token is never quoted: {err}");
        }
        let err = Settings::parse(&args(&["--policies", "p", "--tokens-file="]), |_| None).err();
        assert_eq!(err.as_deref(), Some("--tokens-file: needs a path"));
    }

    #[test]
    fn every_bad_input_is_named() {
        let none = |_: &str| None;
        for (list, want) in [
            (vec![], "--policies"),
            (vec!["--policies", "p", "--threads", "0"], "--threads"),
            (vec!["--policies", "p", "--redis-timeout-ms", "x"], "--redis-timeout-ms"),
            (vec!["--policies", "p", "--bogus", "1"], "--bogus"),
            (vec!["--policies"], "--policies needs a value"),
            (vec!["--policies", "p", "--key-prefix", "{pg}:"], "--key-prefix"),
            (vec!["stray"], "unexpected argument"),
            (vec!["--policies", "p", "--redis-cluster", "maybe"], "--redis-cluster"),
            (vec!["--policies", "p", "--known-keys", "-1"], "--known-keys"),
        ] {
            let err = Settings::parse(&args(&list), none).err().unwrap_or_default();
            assert!(err.contains(want), "{list:?}: {err}");
        }
    }
}
