//! Host settings of the Worker, read once per isolate from wrangler vars / secrets.
//!
//! Every name is documented in docs/worker.md. Test hooks and trusted headers are off unless set.

use pumpguard_core::decision_log::DecisionLogLimits;

use crate::origin_headers::OriginHeaders;
use crate::origin_prefixes::OriginPrefixes;
use crate::shard::{DEFAULT_SHARDS, MAX_SHARDS};
use crate::sweep::{DEFAULT_SWEEP_EVERY_MS, MAX_SWEEP_EVERY_MS, MIN_SWEEP_EVERY_MS};

/// What guarded requests get while the policy cannot be used (missing or invalid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    /// Answer 503 `policy_unavailable` (the default: an invalid policy never allows everything).
    Closed,
    /// Forward to origin unjudged (logged every time).
    Open,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Where allowed requests go: scheme, host and optional port (and base path), no trailing `/`.
    pub origin_url: Option<String>,
    /// Path prefixes forwarded elsewhere than `origin_url` (an API addressed by host name in
    /// the path, such as the Firebase JS SDK's through `connectAuthEmulator`).
    pub origin_prefixes: OriginPrefixes,
    /// Headers set on every request to the site's origin (a secret that proves the guard).
    pub origin_headers: OriginHeaders,
    /// The header set to the client's address on requests forwarded to the site's origin (a
    /// managed API behind the site's proxy wants it: Clerk's `x-forwarded-for`, Auth0's
    /// `true-client-ip`); a Worker's own requests carry none.
    pub origin_client_ip_header: Option<String>,
    pub fail_mode: FailMode,
    pub shards: u32,
    pub shard_seed: u64,
    /// Siteverify endpoint; `None`: the policy's provider's public endpoint.
    pub siteverify_url: Option<String>,
    /// Test hook: the request header whose value replaces the clock (never in production).
    pub test_clock_header: Option<String>,
    /// Trusted request header carrying the client IP, for deployments behind another proxy
    /// (and tests); default `cf-connecting-ip`.
    pub client_ip_header: String,
    /// Trusted headers carrying JA3 / JA4 when no Bot Management data is there (another proxy
    /// in front, or tests). Off by default: a client could send them itself.
    pub ja3_header: Option<String>,
    pub ja4_header: Option<String>,
    /// Trusted headers carrying a bot score and verified-bot flag when no Bot Management data
    /// is there (another proxy in front, or tests). Off by default, as the JA3 / JA4 ones.
    pub bot_score_header: Option<String>,
    pub verified_bot_header: Option<String>,
    /// Trusted header carrying the client's country when it is not to come from
    /// `request.cf.country` (another proxy in front, or tests). Off by default, as the others.
    pub country_header: Option<String>,
    /// Shortest time between two sweeps of one counter shard (its alarm).
    pub sweep_every_ms: u64,
    /// How long a policy read from KV is used before KV is read again.
    pub policy_kv_ttl_ms: u64,
    /// How many decision log lines each shape of decision may write per window, per isolate.
    pub decision_log: DecisionLogLimits,
    /// How long one counter shard round trip may take before its checks count as a store
    /// failure (`store.on_error`): a stuck Durable Object must not hold the request.
    pub shard_timeout_ms: u64,
    /// Number-intelligence URL template (with `{e164}`) in place of the policy's
    /// `number_intel.url` (tests, a regional endpoint).
    pub number_intel_url: Option<String>,
}

/// Default of `PUMPGUARD_SHARD_TIMEOUT_MS`: far above a healthy round trip (tens of
/// milliseconds, a few hundred to a Durable Object on another continent), far below a client's
/// patience.
pub const DEFAULT_SHARD_TIMEOUT_MS: u64 = 2_000;
/// Bounds of `PUMPGUARD_SHARD_TIMEOUT_MS`.
pub const MIN_SHARD_TIMEOUT_MS: u64 = 10;
pub const MAX_SHARD_TIMEOUT_MS: u64 = 30_000;

/// Names of the vars and bindings.
pub mod names {
    pub const POLICY: &str = "PUMPGUARD_POLICY";
    pub const POLICY_KV: &str = "PUMPGUARD_POLICY_KV";
    pub const POLICY_KV_KEY: &str = "PUMPGUARD_POLICY_KEY";
    pub const ORIGIN_URL: &str = "PUMPGUARD_ORIGIN_URL";
    pub const ORIGIN_PREFIXES: &str = "PUMPGUARD_ORIGIN_PREFIXES";
    pub const ORIGIN_HEADERS: &str = "PUMPGUARD_ORIGIN_HEADERS";
    pub const ORIGIN_CLIENT_IP_HEADER: &str = "PUMPGUARD_ORIGIN_CLIENT_IP_HEADER";
    pub const FAIL_MODE: &str = "PUMPGUARD_FAIL_MODE";
    pub const SHARDS: &str = "PUMPGUARD_SHARDS";
    pub const SHARD_SEED: &str = "PUMPGUARD_SHARD_SEED";
    pub const SITEVERIFY_URL: &str = "PUMPGUARD_SITEVERIFY_URL";
    pub const CAPTCHA_SECRET: &str = "PUMPGUARD_CAPTCHA_SECRET";
    pub const NUMBER_INTEL_URL: &str = "PUMPGUARD_NUMBER_INTEL_URL";
    pub const NUMBER_INTEL_HEADERS: &str = "PUMPGUARD_NUMBER_INTEL_HEADERS";
    pub const TEST_CLOCK_HEADER: &str = "PUMPGUARD_TEST_CLOCK_HEADER";
    pub const CLIENT_IP_HEADER: &str = "PUMPGUARD_CLIENT_IP_HEADER";
    pub const JA3_HEADER: &str = "PUMPGUARD_JA3_HEADER";
    pub const JA4_HEADER: &str = "PUMPGUARD_JA4_HEADER";
    pub const BOT_SCORE_HEADER: &str = "PUMPGUARD_BOT_SCORE_HEADER";
    pub const VERIFIED_BOT_HEADER: &str = "PUMPGUARD_VERIFIED_BOT_HEADER";
    pub const COUNTRY_HEADER: &str = "PUMPGUARD_COUNTRY_HEADER";
    pub const SWEEP_EVERY_MS: &str = "PUMPGUARD_SWEEP_EVERY_MS";
    pub const SHARD_TIMEOUT_MS: &str = "PUMPGUARD_SHARD_TIMEOUT_MS";
    pub const POLICY_KV_TTL_SECONDS: &str = "PUMPGUARD_POLICY_KV_TTL_SECONDS";
    pub const DECISION_LOG: &str = "PUMPGUARD_DECISION_LOG";
    pub const SHARD_BINDING: &str = "PUMPGUARD_SHARD";
    pub const ANALYTICS: &str = "PUMPGUARD_ANALYTICS";
    pub const RATE_LIMITER: &str = "PUMPGUARD_RATE_LIMITER";
}

impl Settings {
    /// Reads the settings through `var` (name → value); returns them with one warning per value
    /// that was set but unusable (the default is used instead and the warning logged).
    pub fn read(var: impl Fn(&str) -> Option<String>) -> (Settings, Vec<String>) {
        let mut warnings = Vec::new();
        let text = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let header = |name: &str| text(name).map(|v| v.to_ascii_lowercase());
        let fail_mode = match text(names::FAIL_MODE).as_deref() {
            None | Some("closed") => FailMode::Closed,
            Some("open") => FailMode::Open,
            Some(other) => {
                warnings.push(format!(
                    "{}: {other:?} is neither \"closed\" nor \"open\"; using closed",
                    names::FAIL_MODE
                ));
                FailMode::Closed
            }
        };
        let shards = match text(names::SHARDS) {
            None => DEFAULT_SHARDS,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=MAX_SHARDS).contains(&n) => n,
                _ => {
                    warnings.push(format!(
                        "{}: {v:?} is not a number from 1 to {MAX_SHARDS}; using {DEFAULT_SHARDS}",
                        names::SHARDS
                    ));
                    DEFAULT_SHARDS
                }
            },
        };
        let shard_seed = match text(names::SHARD_SEED) {
            None => 0,
            Some(v) => match v.parse::<u64>() {
                Ok(n) => n,
                Err(_) => {
                    warnings
                        .push(format!("{}: {v:?} is not an unsigned integer; using 0", names::SHARD_SEED));
                    0
                }
            },
        };
        // A number within bounds, or the default with a warning.
        let mut bounded = |name: &str, min: u64, max: u64, default: u64| match text(name) {
            None => default,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    warnings
                        .push(format!("{name}: {v:?} is not a number from {min} to {max}; using {default}"));
                    default
                }
            },
        };
        let sweep_every_ms =
            bounded(names::SWEEP_EVERY_MS, MIN_SWEEP_EVERY_MS, MAX_SWEEP_EVERY_MS, DEFAULT_SWEEP_EVERY_MS);
        let shard_timeout_ms = bounded(
            names::SHARD_TIMEOUT_MS,
            MIN_SHARD_TIMEOUT_MS,
            MAX_SHARD_TIMEOUT_MS,
            DEFAULT_SHARD_TIMEOUT_MS,
        );
        let policy_kv_ttl_ms = match text(names::POLICY_KV_TTL_SECONDS) {
            None => crate::policy_source::KV_POLICY_TTL_MS,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (1..=3600).contains(&n) => n * 1000,
                _ => {
                    warnings.push(format!(
                        "{}: {v:?} is not a number of seconds from 1 to 3600; using 60",
                        names::POLICY_KV_TTL_SECONDS
                    ));
                    crate::policy_source::KV_POLICY_TTL_MS
                }
            },
        };
        let decision_log = match text(names::DECISION_LOG) {
            None => DecisionLogLimits::default(),
            Some(v) => match serde_json::from_str::<DecisionLogLimits>(&v)
                .map_err(|e| e.to_string())
                .and_then(|limits| limits.validate().map(|()| limits).map_err(|errors| errors.to_string()))
            {
                Ok(limits) => limits,
                Err(why) => {
                    warnings.push(format!(
                        "{}: {v:?} is not a decision log limit ({why}); using the defaults",
                        names::DECISION_LOG
                    ));
                    DecisionLogLimits::default()
                }
            },
        };
        let url = |name: &str, warnings: &mut Vec<String>| {
            let value = text(name)?;
            if value.starts_with("http://") || value.starts_with("https://") {
                Some(value.trim_end_matches('/').to_owned())
            } else {
                warnings.push(format!("{name}: {value:?} is not an http(s) URL; ignored"));
                None
            }
        };
        let origin_url = url(names::ORIGIN_URL, &mut warnings);
        let origin_prefixes = match text(names::ORIGIN_PREFIXES) {
            None => OriginPrefixes::default(),
            Some(v) => OriginPrefixes::parse(&v).unwrap_or_else(|why| {
                // Ignored whole: those paths then go to the origin URL, never to a guessed host.
                warnings.push(format!("{}: {why}; ignored", names::ORIGIN_PREFIXES));
                OriginPrefixes::default()
            }),
        };
        let siteverify_url = url(names::SITEVERIFY_URL, &mut warnings);
        let number_intel_url = url(names::NUMBER_INTEL_URL, &mut warnings).filter(|u| {
            let ok = pumpguard_core::intel::has_number_placeholder(u);
            if !ok {
                warnings.push(format!(
                    "{}: {u:?} has no {{e164}} or {{digits}}; ignored",
                    names::NUMBER_INTEL_URL
                ));
            }
            ok
        });
        let origin_headers = match text(names::ORIGIN_HEADERS) {
            None => OriginHeaders::default(),
            Some(v) => OriginHeaders::parse(&v).unwrap_or_else(|why| {
                // Origin then refuses what lacks them: loud, never a silent pass.
                warnings.push(format!("{}: {why}; ignored", names::ORIGIN_HEADERS));
                OriginHeaders::default()
            }),
        };
        let origin_client_ip_header = header(names::ORIGIN_CLIENT_IP_HEADER).filter(|name| {
            let ok = crate::origin_headers::settable(name);
            if !ok {
                warnings.push(format!(
                    "{}: {name:?} is not a header the Worker may set; ignored",
                    names::ORIGIN_CLIENT_IP_HEADER
                ));
            }
            ok
        });
        let settings = Settings {
            origin_url,
            origin_prefixes,
            origin_headers,
            origin_client_ip_header,
            fail_mode,
            shards,
            shard_seed,
            siteverify_url,
            test_clock_header: header(names::TEST_CLOCK_HEADER),
            client_ip_header: header(names::CLIENT_IP_HEADER)
                .unwrap_or_else(|| "cf-connecting-ip".to_owned()),
            ja3_header: header(names::JA3_HEADER),
            ja4_header: header(names::JA4_HEADER),
            bot_score_header: header(names::BOT_SCORE_HEADER),
            verified_bot_header: header(names::VERIFIED_BOT_HEADER),
            country_header: header(names::COUNTRY_HEADER),
            sweep_every_ms,
            policy_kv_ttl_ms,
            decision_log,
            shard_timeout_ms,
            number_intel_url,
        };
        (settings, warnings)
    }

    /// The origin URL for a request path (path includes the query string): a configured
    /// prefix's (with `true`: another party's API), else the origin URL's.
    pub fn origin_for(&self, path_and_query: &str) -> Option<(String, bool)> {
        if let Some(url) = self.origin_prefixes.target(path_and_query) {
            return Some((url, true));
        }
        self.origin_url_for(path_and_query).map(|url| (url, false))
    }

    fn origin_url_for(&self, path_and_query: &str) -> Option<String> {
        let base = self.origin_url.as_deref()?;
        let mut url = String::with_capacity(base.len() + path_and_query.len());
        url.push_str(base);
        if !path_and_query.starts_with('/') {
            url.push('/');
        }
        url.push_str(path_and_query);
        Some(url)
    }
}

/// Parses a test clock header value (milliseconds since the epoch).
pub fn parse_clock(value: &str) -> Option<u64> {
    value.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> (Settings, Vec<String>) {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::read(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_safe() {
        let (s, warnings) = read(&[]);
        assert!(warnings.is_empty());
        assert_eq!(s.fail_mode, FailMode::Closed);
        assert_eq!(s.shards, DEFAULT_SHARDS);
        assert_eq!(s.test_clock_header, None);
        assert_eq!(s.ja3_header, None);
        assert_eq!(s.ja4_header, None);
        assert_eq!((s.bot_score_header.as_deref(), s.verified_bot_header.as_deref()), (None, None));
        assert_eq!(s.country_header, None);
        assert_eq!(s.client_ip_header, "cf-connecting-ip");
        assert_eq!(s.origin_for("/x"), None);
        assert_eq!(s.sweep_every_ms, DEFAULT_SWEEP_EVERY_MS);
        assert_eq!(s.shard_timeout_ms, DEFAULT_SHARD_TIMEOUT_MS);
    }

    #[test]
    fn values_are_read_and_normalised() {
        let (s, warnings) = read(&[
            (names::ORIGIN_URL, "http://127.0.0.1:18080/"),
            (names::FAIL_MODE, "open"),
            (names::SHARDS, "4"),
            (names::SHARD_SEED, "99"),
            (names::SITEVERIFY_URL, "http://127.0.0.1:1/siteverify"),
            (names::TEST_CLOCK_HEADER, "X-PumpGuard-Test-Now-Ms"),
            (names::JA3_HEADER, "x-ja3"),
            (names::JA4_HEADER, " x-ja4 "),
            (names::BOT_SCORE_HEADER, "X-Bot-Score"),
            (names::VERIFIED_BOT_HEADER, "x-verified-bot"),
            (names::COUNTRY_HEADER, "CF-IPCountry"),
            (names::SWEEP_EVERY_MS, "250"),
            (names::SHARD_TIMEOUT_MS, "150"),
            (names::NUMBER_INTEL_URL, "http://127.0.0.1:2/v2/PhoneNumbers/{e164}"),
            (names::ORIGIN_PREFIXES, r#"{"/identitytoolkit.googleapis.com/": "http://127.0.0.1:3/"}"#),
            (names::ORIGIN_HEADERS, r#"{"X-Origin-Verify": "s"}"#),
            (names::ORIGIN_CLIENT_IP_HEADER, "X-Forwarded-For"),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(s.origin_headers.iter().collect::<Vec<_>>(), vec![("x-origin-verify", "s")]);
        assert_eq!(s.origin_client_ip_header.as_deref(), Some("x-forwarded-for"));
        assert_eq!(
            s.origin_for("/identitytoolkit.googleapis.com/v1/accounts:lookup?key=k"),
            Some(("http://127.0.0.1:3/v1/accounts:lookup?key=k".to_owned(), true))
        );
        assert_eq!(s.number_intel_url.as_deref(), Some("http://127.0.0.1:2/v2/PhoneNumbers/{e164}"));
        assert_eq!(
            s.origin_for("/api/otp?a=1"),
            Some(("http://127.0.0.1:18080/api/otp?a=1".to_owned(), false))
        );
        assert_eq!(s.fail_mode, FailMode::Open);
        assert_eq!((s.shards, s.shard_seed), (4, 99));
        assert_eq!(s.test_clock_header.as_deref(), Some("x-pumpguard-test-now-ms"));
        assert_eq!(s.ja4_header.as_deref(), Some("x-ja4"));
        assert_eq!(s.bot_score_header.as_deref(), Some("x-bot-score"));
        assert_eq!(s.verified_bot_header.as_deref(), Some("x-verified-bot"));
        assert_eq!(s.country_header.as_deref(), Some("cf-ipcountry"));
        assert_eq!(s.siteverify_url.as_deref(), Some("http://127.0.0.1:1/siteverify"));
        assert_eq!(s.sweep_every_ms, 250);
        assert_eq!(s.shard_timeout_ms, 150);
    }

    #[test]
    fn bad_values_fall_back_with_a_warning() {
        let (s, warnings) = read(&[
            (names::FAIL_MODE, "maybe"),
            (names::SHARDS, "0"),
            (names::SHARD_SEED, "-1"),
            (names::ORIGIN_URL, "ftp://x"),
            (names::SWEEP_EVERY_MS, "5"),
            (names::SHARD_TIMEOUT_MS, "0"),
            (names::NUMBER_INTEL_URL, "http://127.0.0.1:2/lookup"),
            (names::ORIGIN_PREFIXES, r#"{"/a": "http://x"}"#),
            (names::ORIGIN_HEADERS, r#"{"host": "secret"}"#),
            (names::ORIGIN_CLIENT_IP_HEADER, "cookie"),
        ]);
        assert_eq!(warnings.len(), 10, "{warnings:?}");
        assert_eq!(s.origin_client_ip_header, None);
        assert!(warnings.iter().all(|w| !w.contains("secret")), "{warnings:?}");
        assert!(s.origin_headers.is_empty());
        assert!(s.origin_prefixes.is_empty());
        assert_eq!(s.number_intel_url, None);
        assert_eq!(s.sweep_every_ms, DEFAULT_SWEEP_EVERY_MS);
        assert_eq!(s.shard_timeout_ms, DEFAULT_SHARD_TIMEOUT_MS);
        assert_eq!(s.fail_mode, FailMode::Closed);
        assert_eq!(s.shards, DEFAULT_SHARDS);
        assert_eq!(s.origin_url, None);
    }

    #[test]
    fn clock_values() {
        assert_eq!(parse_clock(" 1000 "), Some(1000));
        assert_eq!(parse_clock("-1"), None);
        assert_eq!(parse_clock("soon"), None);
    }
}
