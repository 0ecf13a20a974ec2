//! The plugin configuration: one JSON document wrapping the policy with the Envoy-side settings.
//!
//! ```json
//! {"name": "pumpguard", "policy": {...},
//!  "siteverify": {"cluster": "turnstile", "authority": "challenges.cloudflare.com",
//!                 "path": "/turnstile/v0/siteverify"},
//!  // the policy's number-intelligence provider, when it has a `number_intel` section:
//!  "number_intel": {"cluster": "twilio_lookup", "headers": {"authorization": "Basic ..."}},
//!  "store": {"namespace": "pg", "buckets": 4096, "entries_per_bucket": 16},
//!  // or, for a fleet of proxies sharing counters through the store service (docs/fleet.md):
//!  // "store": {"backend": "remote", "namespace": "pg", "cluster": "pumpguard-store",
//!  //           "authority": "pumpguard-store", "path": "/checks", "timeout_ms": 250,
//!  //           "token_env": "PUMPGUARD_STORE_TOKEN"},
//!  "tls_headers": {"ja3": "x-ja3", "ja4": "x-ja4"},
//!  "edge_headers": {"bot_score": "x-bot-score", "verified_bot": "x-verified-bot"},
//!  "test_clock_header": null, "log_decisions": true,
//!  "decision_log": {"burst": 5, "window_ms": 10000, "max_shapes": 256}, "hold_headers": true}
//! ```
//!
//! Every problem is reported with its JSON path; policy problems carry `policy.` before the
//! policy's own path (`policy.rules[1].rate_limit.rate`).
//!
//! The remote store's credential, sent as `authorization: Bearer <token>` on every round, is
//! `store.token` (inline) or `store.token_env`: the name of a variable of the VM's environment,
//! which Envoy fills from `vm_config.environment_variables` (`host_env_keys` copies Envoy's own
//! variables, `key_values` gives values) and Istio's WasmPlugin from `vmConfig.env`
//! (`valueFrom: HOST`), so a Kubernetes Secret reaches the filter as the proxy's environment and
//! never sits in the plugin configuration. The variable is read once, when the configuration is
//! loaded. Filters sharing a `vm_id` share one VM, and so the environment of the first of them.

use pumpguard_core::decision_log::DecisionLogLimits;
use pumpguard_core::remote::policy_id;
use pumpguard_core::{ConfigErrors, Policy, RequestNeeds};
use serde::Deserialize;

/// Upper bounds that keep shared memory bounded and predictable.
pub const MAX_BUCKETS: u32 = 1 << 20;
pub const MAX_ENTRIES_PER_BUCKET: u16 = 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostConfigDoc {
    policy: serde_json::Value,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    siteverify: Option<SiteverifyDoc>,
    #[serde(default)]
    number_intel: Option<NumberIntelDoc>,
    #[serde(default)]
    store: BucketStoreDoc,
    #[serde(default)]
    tls_headers: TlsHeadersDoc,
    #[serde(default)]
    edge_headers: EdgeHeadersDoc,
    #[serde(default)]
    test_clock_header: Option<String>,
    #[serde(default = "yes")]
    log_decisions: bool,
    #[serde(default)]
    decision_log: DecisionLogLimits,
    #[serde(default = "yes")]
    hold_headers: bool,
    #[serde(default = "default_proxy_added_headers")]
    proxy_added_headers: Vec<String>,
}

fn yes() -> bool {
    true
}

/// Request headers Envoy's connection manager sets itself before any filter runs (at the edge
/// it replaces whatever a client sent there).
fn default_proxy_added_headers() -> Vec<String> {
    ["x-request-id", "x-forwarded-proto", "x-envoy-external-address", "x-envoy-internal"]
        .map(str::to_owned)
        .to_vec()
}

/// Where token verification goes (an Envoy cluster speaking the siteverify protocol).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteverifyDoc {
    /// Envoy cluster name.
    pub cluster: String,
    /// `:authority` of the call, e.g. `challenges.cloudflare.com`.
    pub authority: String,
    /// Path of the siteverify endpoint, e.g. `/turnstile/v0/siteverify`.
    pub path: String,
    /// Secret; overrides the policy's `captcha.secret` (keep it out of the shared policy file).
    #[serde(default)]
    pub secret: Option<String>,
}

/// Where number lookups go (an Envoy cluster reaching the policy's `number_intel.url` host).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberIntelDoc {
    /// Envoy cluster name.
    pub cluster: String,
    /// `:authority` of the call; default: the host of the policy's `number_intel.url`.
    #[serde(default)]
    pub authority: Option<String>,
    /// Request headers over the policy's (credentials: keep them out of the shared policy file).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

/// Where the plugin's counters live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// This Envoy process's shared data, in bounded buckets: one proxy.
    #[default]
    SharedData,
    /// The store service (`pumpguard-store`) over Redis, reached through an Envoy cluster: every
    /// proxy of a fleet counts against the same counters.
    Remote,
}

/// The plugin's counter store (not the policy's `store`, which says how a store failure is
/// judged): bounded buckets in shared data, or the remote store service.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BucketStoreDoc {
    #[serde(default)]
    backend: Backend,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    authority: Option<String>,
    #[serde(default = "default_remote_path")]
    path: String,
    #[serde(default = "default_remote_timeout")]
    timeout_ms: u32,
    #[serde(default)]
    block_cache_entries: Option<u32>,
    #[serde(default = "default_buckets")]
    buckets: u32,
    #[serde(default = "default_entries")]
    entries_per_bucket: u16,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    token_env: Option<String>,
}

impl Default for BucketStoreDoc {
    fn default() -> Self {
        BucketStoreDoc {
            backend: Backend::SharedData,
            namespace: None,
            cluster: None,
            authority: None,
            path: default_remote_path(),
            timeout_ms: default_remote_timeout(),
            block_cache_entries: None,
            buckets: default_buckets(),
            entries_per_bucket: default_entries(),
            seed: None,
            token: None,
            token_env: None,
        }
    }
}

fn default_remote_path() -> String {
    "/checks".to_owned()
}

fn default_remote_timeout() -> u32 {
    250
}

/// Default `store.block_cache_entries` (remote store): blocked scopes remembered per VM.
pub const DEFAULT_BLOCK_CACHE_ENTRIES: u32 = 1024;

/// Largest `store.block_cache_entries`.
pub const MAX_BLOCK_CACHE_ENTRIES: u32 = 1 << 20;

/// Longest `store.timeout_ms`: a request waits at most this long per store round.
pub const MAX_REMOTE_TIMEOUT_MS: u32 = 10_000;

/// The `authorization` header value a store round carries (`Bearer <token>`); `Debug` never
/// shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    /// `Bearer <token>`.
    pub fn bearer(token: &str) -> Credential {
        Credential(format!("Bearer {token}"))
    }

    /// The header value.
    pub fn header_value(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(Bearer <redacted>)")
    }
}

/// The remote store service: an Envoy cluster speaking `pumpguard_core::remote` as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteStore {
    /// Envoy cluster of the store service.
    pub cluster: String,
    /// `:authority` of the calls (default: the cluster name).
    pub authority: String,
    /// Path of the checks endpoint.
    pub path: String,
    /// Per call: past it the round counts as a store failure (`store.on_error` of the policy).
    pub timeout_ms: u32,
    /// `pumpguard_core::remote::policy_id` of the policy's canonical JSON: the service runs the
    /// checks only with the same policy.
    pub policy_id: u64,
    /// Most "blocked until T" answers kept per VM (`block_cache`); 0: none.
    pub block_cache_entries: u32,
    /// Sent as `authorization` on every round (`store.token` or `store.token_env`); `None`: a
    /// store service without tokens.
    pub authorization: Option<Credential>,
}

fn default_buckets() -> u32 {
    4096
}

fn default_entries() -> u16 {
    16
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsHeadersDoc {
    #[serde(default)]
    ja3: Option<String>,
    #[serde(default)]
    ja4: Option<String>,
}

/// Headers carrying a bot score and verified-bot flag, set by a trusted proxy in front (Envoy
/// computes neither). Only safe when that proxy sets or overwrites them on every request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EdgeHeadersDoc {
    #[serde(default)]
    bot_score: Option<String>,
    #[serde(default)]
    verified_bot: Option<String>,
}

/// The checked plugin configuration.
#[derive(Debug)]
pub struct HostConfig {
    pub policy: Policy,
    /// Metric label and log prefix.
    pub name: String,
    pub siteverify: Option<SiteverifyDoc>,
    /// Where number lookups go; set exactly when the policy has a `number_intel` section.
    pub number_intel: Option<NumberIntelDoc>,
    /// Prefix of every shared-data key of this plugin.
    pub namespace: String,
    pub buckets: u32,
    pub entries_per_bucket: u16,
    /// Set when counters live in the remote store service instead of shared data.
    pub remote: Option<RemoteStore>,
    /// Bucket hash seed; `None`: generated once per Envoy process and kept in shared data.
    pub seed: Option<u64>,
    pub ja3_header: Option<String>,
    pub ja4_header: Option<String>,
    /// Trusted headers of the edge's bot score (1 to 99) and verified-bot flag.
    pub bot_score_header: Option<String>,
    pub verified_bot_header: Option<String>,
    pub test_clock_header: Option<String>,
    pub log_decisions: bool,
    /// How many decision lines each worker writes per shape of decision (see core's
    /// `decision_log`): under a flood, a few lines and a count instead of a line per request.
    pub decision_log: DecisionLogLimits,
    /// Hold the request headers while the body is judged (needs the Wasm filter's
    /// `allow_on_headers_stop_iteration: true`). Off: headers go upstream at once and only the
    /// body is held, for hosts that cannot set that field (Istio's WasmPlugin); origin may then
    /// see the headers of a blocked request (then a reset), never its body, and guarded requests
    /// carry no decision headers.
    pub hold_headers: bool,
    /// Headers Envoy adds before any filter: left out of what the core judges (fingerprints,
    /// header conditions) so it sees the request as the client sent it; forwarded unchanged.
    pub proxy_added_headers: Vec<String>,
    /// What the policy reads besides headers and body: `source.address` and `request.protocol`
    /// are each a host call per request, made only when the policy needs them.
    pub needs: RequestNeeds,
}

fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn valid_header_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(':')
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Whether `name` can name an environment variable: a letter or `_`, then letters, digits, `_`.
fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The store credential of a remote store: `store.token` or the variable `store.token_env`
/// names, checked; problems go to `errors` with their path.
fn remote_credential(
    token: Option<&str>,
    token_env: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut ConfigErrors,
) -> Option<Credential> {
    let (token, path) = match (token, token_env) {
        (None, None) => return None,
        (Some(_), Some(_)) => {
            errors.push("store.token_env", "set store.token or store.token_env, not both");
            return None;
        }
        (Some(token), None) => (token.to_owned(), "store.token"),
        (None, Some(name)) if !valid_env_name(name) => {
            errors.push("store.token_env", "must name an environment variable (letters, digits and '_')");
            return None;
        }
        // A Secret written from a file often ends in a newline; the store service trims its
        // tokens the same way.
        (None, Some(name)) => match env(name).map(|value| value.trim_ascii().to_owned()) {
            None => {
                errors.push(
                    "store.token_env",
                    format!(
                        "the VM's environment has no {name} (Envoy: vm_config.environment_variables; \
                         Istio: the WasmPlugin's vmConfig.env, valueFrom: HOST, and the variable on the \
                         proxy container)"
                    ),
                );
                return None;
            }
            Some(value) if value.is_empty() => {
                errors.push("store.token_env", format!("{name} is empty in the VM's environment"));
                return None;
            }
            Some(value) => (value, "store.token_env"),
        },
    };
    match pumpguard_core::remote::token_problem(token.as_bytes()) {
        None => Some(Credential::bearer(&token)),
        Some(why) if path == "store.token" => {
            errors.push(path, format!("the token {why}"));
            None
        }
        Some(why) => {
            let name = token_env.unwrap_or_default();
            errors.push(path, format!("the token in {name} {why}"));
            None
        }
    }
}

impl HostConfig {
    /// Parses and checks the plugin configuration in an empty environment (a `store.token_env`
    /// is then refused); every error names its JSON path.
    pub fn from_json(bytes: &[u8]) -> Result<HostConfig, ConfigErrors> {
        HostConfig::from_json_with_env(bytes, &|_| None)
    }

    /// Parses and checks the plugin configuration, `env` answering the VM's environment
    /// variables (for `store.token_env`); every error names its JSON path.
    pub fn from_json_with_env(
        bytes: &[u8],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HostConfig, ConfigErrors> {
        let mut errors = ConfigErrors::default();
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let doc: HostConfigDoc = match serde_path_to_error::deserialize(&mut de) {
            Ok(doc) => doc,
            Err(e) => {
                let path = e.path().to_string();
                let message = e.inner().to_string();
                let message = match message.rfind(" at line ") {
                    Some(i) => message.get(..i).unwrap_or(&message).to_owned(),
                    None => message,
                };
                errors.push(if path == "." { String::new() } else { path }, message);
                return Err(errors);
            }
        };
        let name = doc.name.unwrap_or_else(|| "pumpguard".to_owned());
        if !valid_label(&name) {
            errors.push("name", "must be 1-64 characters of a-z, 0-9, '-' and '_'");
        }
        let namespace = doc.store.namespace.unwrap_or_else(|| name.clone());
        if !valid_label(&namespace) {
            errors.push("store.namespace", "must be 1-64 characters of a-z, 0-9, '-' and '_'");
        }
        if doc.store.buckets == 0 || doc.store.buckets > MAX_BUCKETS {
            errors.push("store.buckets", format!("must be between 1 and {MAX_BUCKETS}"));
        }
        if doc.store.entries_per_bucket == 0 || doc.store.entries_per_bucket > MAX_ENTRIES_PER_BUCKET {
            errors
                .push("store.entries_per_bucket", format!("must be between 1 and {MAX_ENTRIES_PER_BUCKET}"));
        }
        if let Err(limit_errors) = doc.decision_log.validate() {
            for e in limit_errors.errors {
                errors.push(format!("decision_log.{}", e.path), e.message);
            }
        }
        for (path, value) in [
            ("tls_headers.ja3", &doc.tls_headers.ja3),
            ("tls_headers.ja4", &doc.tls_headers.ja4),
            ("edge_headers.bot_score", &doc.edge_headers.bot_score),
            ("edge_headers.verified_bot", &doc.edge_headers.verified_bot),
            ("test_clock_header", &doc.test_clock_header),
        ] {
            if value.as_deref().is_some_and(|v| !valid_header_name(v)) {
                errors.push(path, "must be a lower-case header name");
            }
        }
        for (i, name) in doc.proxy_added_headers.iter().enumerate() {
            if !valid_header_name(name) {
                errors.push(format!("proxy_added_headers[{i}]"), "must be a lower-case header name");
            }
        }
        if let Some(sv) = &doc.siteverify {
            if sv.cluster.is_empty() {
                errors.push("siteverify.cluster", "must name an Envoy cluster");
            }
            if sv.authority.is_empty() {
                errors.push("siteverify.authority", "must not be empty");
            }
            if !sv.path.starts_with('/') {
                errors.push("siteverify.path", "must start with '/'");
            }
        }
        if let Some(ni) = &doc.number_intel {
            if ni.cluster.is_empty() {
                errors.push("number_intel.cluster", "must name an Envoy cluster");
            }
            if ni.authority.as_deref().is_some_and(str::is_empty) {
                errors.push("number_intel.authority", "must not be empty");
            }
            for (name, value) in &ni.headers {
                let lowered = name.to_ascii_lowercase();
                if !valid_header_name(&lowered) || value.chars().any(char::is_control) {
                    errors.push(
                        format!("number_intel.headers.{name}"),
                        "must be a header name and a plain value",
                    );
                }
            }
        }
        let remote = match doc.store.backend {
            Backend::SharedData => {
                for (field, set) in [
                    ("cluster", doc.store.cluster.is_some()),
                    ("authority", doc.store.authority.is_some()),
                    ("block_cache_entries", doc.store.block_cache_entries.is_some()),
                    ("token", doc.store.token.is_some()),
                    ("token_env", doc.store.token_env.is_some()),
                ] {
                    if set {
                        errors.push(format!("store.{field}"), "only for \"backend\": \"remote\"");
                    }
                }
                None
            }
            Backend::Remote => {
                let cluster = doc.store.cluster.clone().unwrap_or_default();
                if cluster.is_empty() {
                    errors.push("store.cluster", "must name the Envoy cluster of the store service");
                }
                if !doc.store.path.starts_with('/') {
                    errors.push("store.path", "must start with '/'");
                }
                if doc.store.timeout_ms == 0 || doc.store.timeout_ms > MAX_REMOTE_TIMEOUT_MS {
                    errors.push("store.timeout_ms", format!("must be between 1 and {MAX_REMOTE_TIMEOUT_MS}"));
                }
                let authority = doc.store.authority.clone().unwrap_or_else(|| cluster.clone());
                let block_cache_entries =
                    doc.store.block_cache_entries.unwrap_or(DEFAULT_BLOCK_CACHE_ENTRIES);
                if block_cache_entries > MAX_BLOCK_CACHE_ENTRIES {
                    errors.push(
                        "store.block_cache_entries",
                        format!("must be between 0 (off) and {MAX_BLOCK_CACHE_ENTRIES}"),
                    );
                }
                let authorization = remote_credential(
                    doc.store.token.as_deref(),
                    doc.store.token_env.as_deref(),
                    env,
                    &mut errors,
                );
                Some(RemoteStore {
                    cluster,
                    authority,
                    path: doc.store.path.clone(),
                    timeout_ms: doc.store.timeout_ms,
                    policy_id: 0,
                    block_cache_entries,
                    authorization,
                })
            }
        };
        // Keys sorted, no spaces: the store service computes the same text from its copy.
        let policy_text = doc.policy.to_string();
        let remote = remote.map(|r| RemoteStore { policy_id: policy_id(&policy_text), ..r });
        let policy = match Policy::from_json(&policy_text) {
            Ok(policy) => Some(policy),
            Err(policy_errors) => {
                for e in policy_errors.errors {
                    let path =
                        if e.path.is_empty() { "policy".to_owned() } else { format!("policy.{}", e.path) };
                    errors.push(path, e.message);
                }
                None
            }
        };
        if let Some(policy) = &policy {
            match (policy.number_intel().is_some(), doc.number_intel.is_some()) {
                (true, false) => errors.push(
                    "number_intel",
                    "the policy looks numbers up (policy.number_intel): name the provider's Envoy cluster in \
                     number_intel.cluster",
                ),
                (false, true) => errors.push("number_intel", "the policy has no number_intel section to serve"),
                _ => {}
            }
        }
        match policy {
            Some(policy) if errors.is_empty() => Ok(HostConfig {
                name,
                siteverify: doc.siteverify,
                number_intel: doc.number_intel,
                namespace,
                buckets: doc.store.buckets,
                entries_per_bucket: doc.store.entries_per_bucket,
                remote,
                seed: doc.store.seed,
                ja3_header: doc.tls_headers.ja3,
                ja4_header: doc.tls_headers.ja4,
                bot_score_header: doc.edge_headers.bot_score,
                verified_bot_header: doc.edge_headers.verified_bot,
                test_clock_header: doc.test_clock_header,
                log_decisions: doc.log_decisions,
                decision_log: doc.decision_log,
                hold_headers: doc.hold_headers,
                proxy_added_headers: doc.proxy_added_headers,
                needs: policy.request_needs(),
                policy,
            }),
            _ => Err(errors),
        }
    }

    /// The siteverify secret: the host setting wins over the policy's.
    pub fn siteverify_secret(&self) -> Option<&str> {
        self.siteverify
            .as_ref()
            .and_then(|s| s.secret.as_deref())
            .or_else(|| self.policy.captcha().and_then(|c| c.secret.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"version":1,"routes":[{"id":"otp","kind":"send","match":{"path":{"exact":"/otp"}},"extract":{"json_keys":["phone"]}}]}"#;
    const INTEL: &str = r#"{"version":1,"routes":[{"id":"otp","kind":"send","match":{},"extract":{"json_keys":["phone"]}}],
        "number_intel":{"url":"https://lookups.twilio.com/v2/PhoneNumbers/{e164}"},
        "rules":[{"id":"intel","action":"block","number_intel":{"min_risk":80}}]}"#;

    fn paths(json: &str) -> Vec<String> {
        match HostConfig::from_json(json.as_bytes()) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors.into_iter().map(|e| e.path).collect(),
        }
    }

    #[test]
    fn minimal_config_has_defaults() {
        let cfg = HostConfig::from_json(format!(r#"{{"policy":{POLICY}}}"#).as_bytes());
        let cfg = cfg.ok();
        assert_eq!(cfg.as_ref().map(|c| c.name.as_str()), Some("pumpguard"));
        assert_eq!(cfg.as_ref().map(|c| c.namespace.as_str()), Some("pumpguard"));
        assert_eq!(cfg.as_ref().map(|c| c.buckets), Some(4096));
        assert_eq!(cfg.as_ref().map(|c| c.log_decisions), Some(true));
        assert_eq!(cfg.as_ref().map(|c| c.decision_log), Some(DecisionLogLimits::default()));
        assert_eq!(cfg.as_ref().and_then(|c| c.test_clock_header.clone()), None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(String, Vec<&str>)> = vec![
            ("not json".to_owned(), vec![""]),
            ("{}".to_owned(), vec![""]),
            (format!(r#"{{"policy":{POLICY},"extra":1}}"#), vec!["extra"]),
            (format!(r#"{{"policy":{POLICY},"store":{{"buckets":0}}}}"#), vec!["store.buckets"]),
            (format!(r#"{{"policy":{POLICY},"store":{{"entries_per_bucket":2000}}}}"#), vec!["store.entries_per_bucket"]),
            (format!(r#"{{"policy":{POLICY},"store":{{"buckets":"many"}}}}"#), vec!["store.buckets"]),
            (format!(r#"{{"policy":{POLICY},"store":{{"namespace":"a.b"}}}}"#), vec!["store.namespace"]),
            (format!(r#"{{"policy":{POLICY},"name":""}}"#), vec!["name", "store.namespace"]),
            (format!(r#"{{"policy":{POLICY},"tls_headers":{{"ja3":"X-JA3"}}}}"#), vec!["tls_headers.ja3"]),
            (format!(r#"{{"policy":{POLICY},"store":{{"backend":"remote"}}}}"#), vec!["store.cluster"]),
            (format!(r#"{{"policy":{POLICY},"store":{{"backend":"redis"}}}}"#), vec!["store.backend"]),
            (
                format!(r#"{{"policy":{POLICY},"store":{{"backend":"remote","cluster":"s","path":"x","timeout_ms":0}}}}"#),
                vec!["store.path", "store.timeout_ms"],
            ),
            (format!(r#"{{"policy":{POLICY},"store":{{"cluster":"s"}}}}"#), vec!["store.cluster"]),
            (format!(r#"{{"policy":{POLICY},"tls_headers":{{"ja5":"x"}}}}"#), vec!["tls_headers.ja5"]),
            (format!(r#"{{"policy":{POLICY},"edge_headers":{{"bot_score":"X-Bot"}}}}"#), vec!["edge_headers.bot_score"]),
            (format!(r#"{{"policy":{POLICY},"edge_headers":{{"score":"x"}}}}"#), vec!["edge_headers.score"]),
            (format!(r#"{{"policy":{POLICY},"test_clock_header":":path"}}"#), vec!["test_clock_header"]),
            (format!(r#"{{"policy":{POLICY},"proxy_added_headers":["x-ok","X-Bad"]}}"#), vec!["proxy_added_headers[1]"]),
            (
                format!(r#"{{"policy":{POLICY},"decision_log":{{"window_ms":0,"max_shapes":0}}}}"#),
                vec!["decision_log.window_ms", "decision_log.max_shapes"],
            ),
            (format!(r#"{{"policy":{POLICY},"decision_log":{{"bursts":1}}}}"#), vec!["decision_log.bursts"]),
            (format!(r#"{{"policy":{POLICY},"decision_log":{{"burst":-1}}}}"#), vec!["decision_log.burst"]),
            (
                format!(r#"{{"policy":{POLICY},"siteverify":{{"cluster":"","authority":"a","path":"x"}}}}"#),
                vec!["siteverify.cluster", "siteverify.path"],
            ),
            (r#"{"policy":{"version":2,"routes":[{"id":"o","kind":"send","match":{},"extract":{"json_keys":["p"]}}]}}"#.to_owned(), vec!["policy.version"]),
            (
                r#"{"policy":{"version":1,"routes":[],"rules":[{"id":"r","action":"block","bogus":{}}]}}"#.to_owned(),
                vec!["policy.rules[0].bogus"],
            ),
            (format!(r#"{{"policy":{POLICY},"number_intel":{{"cluster":"lookup"}}}}"#), vec!["number_intel"]),
            (format!(r#"{{"policy":{INTEL}}}"#), vec!["number_intel"]),
            (
                format!(r#"{{"policy":{INTEL},"number_intel":{{"cluster":"","headers":{{"Bad Name":"x"}}}}}}"#),
                vec!["number_intel.cluster", "number_intel.headers.Bad Name"],
            ),
            (format!(r#"{{"policy":{INTEL},"number_intel":{{"cluster":"lookup"}}}}"#), vec![]),
        ];
        for (json, want) in cases {
            let mut got = paths(&json);
            got.sort();
            let mut want: Vec<String> = want.into_iter().map(str::to_owned).collect();
            want.sort();
            assert_eq!(got, want, "config {json}");
        }
    }

    #[test]
    fn host_reads_only_what_the_policy_can_use() {
        let plain = HostConfig::from_json(format!(r#"{{"policy":{POLICY}}}"#).as_bytes()).ok();
        assert_eq!(plain.as_ref().map(|c| (c.needs.client_ip, c.needs.http_version)), Some((false, false)));
        let policy = r#"{"version":1,"fingerprints":{"ja4h":true},"routes":[{"id":"o","kind":"send","match":{},"extract":{"json_keys":["p"]}}],
            "rules":[{"id":"r","action":"throttle","rate_limit":{"key":["client_ip",{"fingerprint":"ja4h"}],"rate":1,"per_seconds":1,"burst":1}}]}"#;
        let both =
            HostConfig::from_json(format!(r#"{{"policy":{policy}}}"#).as_bytes()).map_err(|e| e.to_string());
        assert_eq!(both.map(|c| (c.needs.client_ip, c.needs.http_version)), Ok((true, true)));
    }

    #[test]
    fn remote_store_defaults_and_policy_identity() {
        let json =
            format!(r#"{{"policy":{POLICY},"store":{{"backend":"remote","cluster":"pumpguard-store"}}}}"#);
        let remote = HostConfig::from_json(json.as_bytes()).map_err(|e| e.to_string()).map(|c| c.remote);
        let value: serde_json::Value = serde_json::from_str(POLICY).unwrap_or_default();
        let want = RemoteStore {
            cluster: "pumpguard-store".into(),
            authority: "pumpguard-store".into(),
            path: "/checks".into(),
            timeout_ms: 250,
            policy_id: policy_id(&value.to_string()),
            block_cache_entries: DEFAULT_BLOCK_CACHE_ENTRIES,
            authorization: None,
        };
        assert_eq!(remote, Ok(Some(want)));
        for (entries, ok) in [("0", true), ("1048576", true), ("1048577", false)] {
            let json = format!(
                r#"{{"policy":{POLICY},"store":{{"backend":"remote","cluster":"c","block_cache_entries":{entries}}}}}"#
            );
            let got = HostConfig::from_json(json.as_bytes()).map_err(|e| e.to_string());
            assert_eq!(got.is_ok(), ok, "{entries}: {:?}", got.err());
        }
        let shared = format!(r#"{{"policy":{POLICY},"store":{{"block_cache_entries":8}}}}"#);
        let refused = HostConfig::from_json(shared.as_bytes()).map(|_| ()).map_err(|e| e.to_string());
        assert!(refused.as_ref().is_err_and(|e| e.contains("store.block_cache_entries")), "{refused:?}");
        let plain = HostConfig::from_json(format!(r#"{{"policy":{POLICY}}}"#).as_bytes()).map(|c| c.remote);
        assert_eq!(plain.ok(), Some(None));
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    /// The errors of a remote store section with `extra` fields, in an environment holding
    /// `PG_TOKEN`=`TOKEN`, `PG_EMPTY`="" and `PG_SHORT`="short".
    fn credential(extra: &str) -> Result<Option<Credential>, Vec<(String, String)>> {
        let json = format!(r#"{{"policy":{POLICY},"store":{{"backend":"remote","cluster":"c"{extra}}}}}"#);
        let env = |name: &str| match name {
            "PG_TOKEN" => Some(TOKEN.to_owned()),
            "PG_EMPTY" => Some(String::new()),
            "PG_SHORT" => Some("short".to_owned()),
            "PG_NEWLINE" => Some(format!("{TOKEN}\n")),
            _ => None,
        };
        match HostConfig::from_json_with_env(json.as_bytes(), &env) {
            Ok(cfg) => Ok(cfg.remote.and_then(|r| r.authorization)),
            Err(e) => Err(e.errors.into_iter().map(|e| (e.path, e.message)).collect()),
        }
    }

    #[test]
    fn the_store_token_comes_inline_or_from_the_vms_environment() {
        let bearer = Some(Credential::bearer(TOKEN));
        assert_eq!(credential(&format!(r#","token":"{TOKEN}""#)), Ok(bearer.clone()));
        assert_eq!(credential(r#","token_env":"PG_TOKEN""#), Ok(bearer.clone()));
        assert_eq!(
            credential(r#","token_env":"PG_NEWLINE""#),
            Ok(bearer.clone()),
            "a Secret's trailing newline"
        );
        assert_eq!(credential(""), Ok(None), "a store service without tokens");
        assert_eq!(bearer.map(|c| c.header_value().to_owned()), Some(format!("Bearer {TOKEN}")));
        assert_eq!(format!("{:?}", Credential::bearer(TOKEN)), "Credential(Bearer <redacted>)");
        // `from_json` reads no environment.
        let json = format!(
            r#"{{"policy":{POLICY},"store":{{"backend":"remote","cluster":"c","token_env":"PATH"}}}}"#
        );
        assert!(HostConfig::from_json(json.as_bytes()).is_err());
    }

    #[test]
    fn each_store_token_problem_is_named_with_its_path() {
        for (extra, path, message) in [
            (format!(r#","token":"{TOKEN}","token_env":"PG_TOKEN""#), "store.token_env", "not both"),
            (
                r#","token_env":"PG_MISSING""#.to_owned(),
                "store.token_env",
                "the VM's environment has no PG_MISSING",
            ),
            (r#","token_env":"PG_EMPTY""#.to_owned(), "store.token_env", "PG_EMPTY is empty"),
            (
                r#","token_env":"PG_SHORT""#.to_owned(),
                "store.token_env",
                "the token in PG_SHORT is shorter than 16 bytes",
            ),
            (r#","token_env":"PG TOKEN""#.to_owned(), "store.token_env", "must name an environment variable"),
            (r#","token_env":"""#.to_owned(), "store.token_env", "must name an environment variable"),
            (r#","token":"0123456789 abcdef""#.to_owned(), "store.token", "the token holds whitespace"),
            (r#","token":"0123456789abcdef\n""#.to_owned(), "store.token", "not printable ASCII"),
            (r#","token":"short""#.to_owned(), "store.token", "shorter than 16 bytes"),
            (r#","token":7"#.to_owned(), "store.token", "invalid type"),
        ] {
            let errors = credential(&extra).err().unwrap_or_default();
            assert!(
                errors.len() == 1 && errors[0].0 == path && errors[0].1.contains(message),
                "{extra}: {errors:?}"
            );
            assert!(!errors[0].1.contains(TOKEN), "a token is never quoted: {errors:?}");
        }
        for field in [format!(r#""token":"{TOKEN}""#), r#""token_env":"PG_TOKEN""#.to_owned()] {
            let json = format!(r#"{{"policy":{POLICY},"store":{{{field}}}}}"#);
            let name = if field.contains("env") { "store.token_env" } else { "store.token" };
            assert_eq!(paths(&json), vec![name.to_owned()], "only with backend remote: {field}");
        }
    }

    #[test]
    fn host_secret_wins() {
        let policy = r#"{"version":1,"routes":[{"id":"otp","kind":"send","match":{},"extract":{"json_keys":["phone"]}}],"captcha":{"provider":"turnstile","secret":"from-policy"}}"#;
        let with = format!(
            r#"{{"policy":{policy},"siteverify":{{"cluster":"c","authority":"a","path":"/p","secret":"host"}}}}"#
        );
        let without = format!(r#"{{"policy":{policy}}}"#);
        let a = HostConfig::from_json(with.as_bytes()).map_err(|e| e.to_string());
        let b = HostConfig::from_json(without.as_bytes()).map_err(|e| e.to_string());
        assert_eq!(a.as_ref().map(|c| c.siteverify_secret()), Ok(Some("host")));
        assert_eq!(b.as_ref().map(|c| c.siteverify_secret()), Ok(Some("from-policy")));
    }
}
