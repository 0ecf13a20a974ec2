//! The policy document as written by operators: plain serde structs, unknown fields rejected.
//!
//! These types mirror the JSON one to one; `compile` turns them into the checked, ready-to-run form.
//!
//! With the `schema` feature each type also derives `schemars::JsonSchema` (the CLI's
//! `pumpguard schema`, published as `docs/policy.schema.json`, doc comments as descriptions): a
//! new type needs the same `cfg_attr` line, then `just policy-schema`.

use serde::Deserialize;

use crate::extract::ExtractSpec;
use crate::fingerprint::FingerprintKind;
use crate::phone::NumberType;

/// Root of a policy document.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    /// The JSON Schema this document follows (`pumpguard schema`, `docs/policy.schema.json`), for
    /// editors; the loader ignores it.
    #[serde(default, rename = "$schema")]
    pub schema: Option<String>,
    /// Format version; only `1` exists.
    pub version: u32,
    /// Global shadow switch: every rule only logs what it would have done.
    #[serde(default)]
    pub shadow: bool,
    /// ISO region used to read numbers written without an international prefix (e.g. `"US"`).
    #[serde(default)]
    pub default_region: Option<String>,
    /// Which requests send an SMS and which confirm a code.
    pub routes: Vec<RouteDoc>,
    /// What happens to requests whose input cannot be judged.
    #[serde(default)]
    pub inputs: InputsDoc,
    /// Numbers (E.164 or E.164 prefixes) that no rule applies to.
    #[serde(default)]
    pub safelist: Vec<String>,
    /// Rules, evaluated for every number of every guarded request.
    #[serde(default)]
    pub rules: Vec<RuleDoc>,
    /// Token verification for rules whose action is `challenge`.
    #[serde(default)]
    pub captcha: Option<CaptchaDoc>,
    /// Fingerprints that need an explicit opt-in.
    #[serde(default)]
    pub fingerprints: FingerprintsDoc,
    /// Behaviour of the shared counter store.
    #[serde(default)]
    pub store: StoreDoc,
    /// Also send `x-pumpguard-findings` on local replies (tests, debugging). Off by default: it
    /// tells clients which shadow rules they tripped.
    #[serde(default)]
    pub expose_findings: bool,
    /// A number-intelligence provider the host asks about numbers that would otherwise be sent
    /// (line type, reachability, an SMS pumping risk score), for rules of kind `number_intel`.
    #[serde(default)]
    pub number_intel: Option<NumberIntelDoc>,
    /// A per-request risk score: the `risk` weights of the rules that fired add up, and
    /// thresholds turn the sum into a challenge or a block.
    #[serde(default)]
    pub risk: Option<RiskDoc>,
    /// Lets the site import numbers its users verified before, so returning users are trusted
    /// from the first day: an authenticated `POST {"numbers": [...]}` the guard answers itself.
    #[serde(default)]
    pub trust_import: Option<TrustImportDoc>,
    /// CORS headers on the guard's own replies, for pages that call the guarded routes from
    /// another origin (without them the browser hides a refusal from the page).
    #[serde(default)]
    pub cors: Option<CorsDoc>,
}

/// CORS on the guard's own replies (JSON `cors`); origin's answers keep origin's headers.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsDoc {
    /// Origins whose requests get `Access-Control-Allow-Origin`, as browsers send them in
    /// `Origin` (`https://www.example.com`, a port where not the scheme's); `"*"`: any origin.
    pub allow_origins: Vec<String>,
    /// Pages call with credentials (cookies): adds `Access-Control-Allow-Credentials: true`;
    /// not with `"*"`.
    #[serde(default)]
    pub allow_credentials: bool,
}

/// Where and how the site imports trusted numbers (`docs/policy.md`, Trusted numbers).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustImportDoc {
    /// Exact path the import is posted to, answered by the guard and never forwarded: choose
    /// one origin does not serve.
    pub path: String,
    /// SHA-256 of the bearer token, 64 hex digits: the policy never holds the token itself.
    pub token_sha256: String,
    /// Most numbers one request may carry (1 to 10000); the body must also fit
    /// `inputs.max_body_bytes`.
    #[serde(default = "default_import_max_numbers")]
    pub max_numbers: u32,
}

fn default_import_max_numbers() -> u32 {
    500
}

/// Thresholds on the sum of the `risk` weights of the rules a request fires (each rule once).
/// Send routes only; the score goes to origin in `x-pumpguard-risk` and to the decision log.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskDoc {
    /// From this score on, the request needs a verified CAPTCHA token.
    #[serde(default)]
    pub challenge_at: Option<u32>,
    /// From this score on, the request is refused (403 `risk_score`).
    #[serde(default)]
    pub block_at: Option<u32>,
}

/// What a route's requests do: make origin send an SMS, or confirm a received code.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// The request makes origin send an SMS: rules run here.
    Send,
    /// The request confirms a received code: its response feeds conversion tracking.
    Confirm,
}

/// One route: which requests it matches and where their numbers are.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDoc {
    /// Unique id (1 to 64 of `A-Za-z0-9-_`): rules name it in `routes`; logs and metrics show it.
    pub id: String,
    /// Whether the route sends an SMS or confirms a code.
    pub kind: RouteKind,
    /// Request conditions (JSON `match`); the first route whose conditions all hold wins.
    /// Optional on a preset route: the preset's own match for the route's kind applies then.
    #[serde(rename = "match", default)]
    pub matcher: Option<MatchDoc>,
    /// Where the numbers (and a CAPTCHA token) are in the request; see `docs/extraction.md`.
    pub extract: ExtractSpec,
    /// Confirm routes: response statuses that mean the code was right (default: any 2xx).
    #[serde(default)]
    pub success_status: Vec<u16>,
    /// Confirm routes: a response header origin sets only for a right code.
    #[serde(default)]
    pub success_header: Option<SuccessHeaderDoc>,
    /// Confirm routes: a field of the JSON response body that names a right code (for APIs that
    /// answer 200 to a wrong code too, such as Twilio Verify's VerificationCheck).
    #[serde(default)]
    pub success_json: Option<SuccessJsonDoc>,
    /// Confirm routes: a dotted path into origin's JSON answer that names the number whose code
    /// was right (Firebase's `phoneNumber`, Twilio Verify's `to`, the presets' defaults).
    /// Conversion and trust then credit that number, not one the request carries, which an
    /// API that confirms by session or id does not.
    #[serde(default)]
    pub confirmed_number_field: Option<String>,
    /// The error format of refusals (`pumpguard`, `aws_json`, `aws_query`, `twilio`, `firebase`); default:
    /// the preset's API format, else `pumpguard`.
    #[serde(default)]
    pub refusal: Option<crate::refusal::RefusalFormat>,
}

/// `{"name": "x-otp-result", "equals": "ok"}`
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuccessHeaderDoc {
    /// Response header name (case-insensitive).
    pub name: String,
    /// The value (surrounding blanks ignored) that means the code was right.
    pub equals: String,
}

/// `{"field": "status", "equals": ["approved"]}`: a dotted path into the response body's JSON
/// object, and the values (strings, or `true`/`false`/numbers written as text) that mean success.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuccessJsonDoc {
    /// Dotted path of object keys, e.g. `status` or `data.result`.
    pub field: String,
    /// Values that mean the code was right; at least one.
    pub equals: Vec<String>,
}

/// A route's request conditions (JSON `match`): every condition given must hold.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchDoc {
    /// Host names (`example.com`, `*.example.com`); empty means any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Methods (`POST`); empty means any method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Path (without query); absent means any path.
    #[serde(default)]
    pub path: Option<PathMatchDoc>,
    /// Header conditions, all of which must hold.
    #[serde(default)]
    pub headers: Vec<HeaderMatchDoc>,
    /// Request parameter conditions, read from the query string and a urlencoded body, all of
    /// which must hold: `[{"name": "Action", "any_of": ["Publish"]}]`.
    #[serde(default)]
    pub params: Vec<ParamMatchDoc>,
    /// JSON body conditions, all of which must hold: `[{"field": "ChallengeName", "any_of":
    /// ["SELECT_CHALLENGE"]}]` (a dotted path of object keys; the value a string, compared
    /// exactly).
    #[serde(default)]
    pub json: Vec<JsonMatchDoc>,
}

/// A JSON body condition: the string at `field` is one of `any_of`, or (with `none_of`) is not
/// one of those values, absent included.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonMatchDoc {
    /// Dotted path of object keys, e.g. `ChallengeName`.
    pub field: String,
    /// Values that match; set this or `none_of`.
    #[serde(default)]
    pub any_of: Vec<String>,
    /// Values that do not match: the condition holds for any other value, or none (a call is a
    /// send unless it names one of these).
    #[serde(default)]
    pub none_of: Vec<String>,
}

/// A request parameter condition: the parameter (query string or urlencoded body; name and
/// value compared case-insensitively) holds one of the values in some reading.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamMatchDoc {
    /// Parameter name.
    pub name: String,
    /// Values that match; at least one.
    pub any_of: Vec<String>,
}

/// A path condition, compared after normalisation (percent-decoding of unreserved characters,
/// `//` collapsed, `.`/`..` resolved, trailing `/` dropped) and case-insensitively.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PathMatchDoc {
    /// `{"exact": "/p"}`: the whole path.
    Exact(String),
    /// `{"prefix": "/p/"}`: the path starts with this; the prefix keeps a trailing `/`, so
    /// `/api/` does not match `/apix`.
    Prefix(String),
    /// `{"pattern": "/v2/Services/*/Verifications"}`: segment by segment, `*` standing for any
    /// one non-empty segment.
    Pattern(String),
    /// `{"any_of": [{"exact": "/a"}, {"pattern": "/b/*"}]}`: any of these conditions.
    AnyOf(Vec<PathMatchDoc>),
}

/// A request header condition: `equals`, `prefix`, or neither (the header must be present).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatchDoc {
    /// Header name (case-insensitive).
    pub name: String,
    /// Exact value; absent means the header only has to be present.
    #[serde(default)]
    pub equals: Option<String>,
    /// Value prefix; set only one of `equals`, `prefix` and `any_of`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The value is one of these.
    #[serde(default)]
    pub any_of: Option<Vec<String>>,
}

/// What to do with a request that cannot be judged normally.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputOutcome {
    /// Answer with the error; origin never sees the request.
    Block,
    /// Let the request through; the reason is still reported and counted.
    Allow,
}

/// What to do with a number that parses but is not valid (`inputs.on_invalid_number`): the input
/// outcomes, plus `challenge`, since such a number may be a real one in a range newer than the
/// metadata.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidNumberOutcome {
    /// Answer with the error; origin never sees the request.
    #[default]
    Block,
    /// Require a verified CAPTCHA token (needs the top-level `captcha` section and a token
    /// source on every send route); the rules still judge the number by its calling code.
    Challenge,
    /// Let the request through; the reason is still reported and the rules still judge it.
    Allow,
}

/// Outcomes of requests that cannot be judged normally (JSON `inputs`); each case has its own
/// error code and status when blocked.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputsDoc {
    /// Largest body read, in bytes (1 to 8 MiB; default 65536).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u32,
    /// Body over `max_body_bytes`: `body_too_large`, 413.
    #[serde(default = "block")]
    pub on_oversize: InputOutcome,
    /// Body that cannot be read as its content type: `body_malformed`, 400.
    #[serde(default = "block")]
    pub on_malformed: InputOutcome,
    /// Any `content-encoding` but identity: `unsupported_encoding`, 415.
    #[serde(default = "block")]
    pub on_unsupported_encoding: InputOutcome,
    /// Body of a content type the route does not read, or none: `unsupported_content_type`, 415.
    #[serde(default = "block")]
    pub on_unsupported_content_type: InputOutcome,
    /// Duplicate JSON key or form field, so origin might read another value than the guard:
    /// `ambiguous_field`, 400.
    #[serde(default = "block")]
    pub on_ambiguous: InputOutcome,
    /// A number that does not parse: `unparseable_number`, 400.
    #[serde(default = "block")]
    pub on_unparseable_number: InputOutcome,
    /// Parsed, but not a valid number per libphonenumber: `invalid_number`, 400; or `challenge`
    /// (403 `captcha_required` without a token). Allowed through or challenged, it is still judged
    /// by the rules.
    #[serde(default)]
    pub on_invalid_number: InvalidNumberOutcome,
    /// No number in a guarded request: `no_number`, 400. Defaults to `allow` because some routes
    /// (Cognito's `SignUp`) also serve requests without one.
    #[serde(default = "allow")]
    pub on_no_number: InputOutcome,
    /// More than `max_numbers` numbers: `too_many_numbers`, 400.
    #[serde(default = "block")]
    pub on_too_many_numbers: InputOutcome,
    /// Most numbers judged per request (1 to 50; default 5); further ones are never judged.
    #[serde(default = "default_max_numbers")]
    pub max_numbers: u32,
}

impl Default for InputsDoc {
    fn default() -> Self {
        InputsDoc {
            max_body_bytes: default_max_body_bytes(),
            on_oversize: InputOutcome::Block,
            on_malformed: InputOutcome::Block,
            on_unsupported_encoding: InputOutcome::Block,
            on_unsupported_content_type: InputOutcome::Block,
            on_ambiguous: InputOutcome::Block,
            on_unparseable_number: InputOutcome::Block,
            on_invalid_number: InvalidNumberOutcome::Block,
            on_no_number: InputOutcome::Allow,
            on_too_many_numbers: InputOutcome::Block,
            max_numbers: default_max_numbers(),
        }
    }
}

fn default_max_body_bytes() -> u32 {
    64 * 1024
}
fn default_max_numbers() -> u32 {
    5
}
fn block() -> InputOutcome {
    InputOutcome::Block
}
fn allow() -> InputOutcome {
    InputOutcome::Allow
}

/// What a triggered rule does.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Only report (counts in metrics and logs, never changes the answer).
    Log,
    /// Require a verified CAPTCHA / Turnstile token.
    Challenge,
    /// 429 with Retry-After.
    Throttle,
    /// 403.
    Block,
}

/// One rule: common fields plus exactly one kind.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDoc {
    /// Unique id (1 to 64 of `A-Za-z0-9-_`), used in logs, error bodies and metric names.
    pub id: String,
    /// What the rule does when it fires.
    pub action: RuleAction,
    /// Only report, whatever `action` says.
    #[serde(default)]
    pub shadow: bool,
    /// Route ids the rule applies to; empty means every send route.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Added to the request's risk score when the rule fires (see the top-level `risk`); 0 to
    /// 1000. A rule that only scores has action `log`.
    #[serde(default)]
    pub risk: u32,
    /// Spare numbers the policy's `reputation` rule trusts (recently confirmed): the rule still
    /// counts them, but does not act on them.
    #[serde(default)]
    pub skip_trusted: bool,
    /// Kind `country`: the number's country.
    #[serde(default)]
    pub country: Option<CountryRuleDoc>,
    /// Kind `number_type`: the number's libphonenumber type.
    #[serde(default)]
    pub number_type: Option<NumberTypeRuleDoc>,
    /// Kind `pattern`: regular expressions on the E.164 number.
    #[serde(default)]
    pub pattern: Option<PatternRuleDoc>,
    /// Kind `prefix`: E.164 prefixes.
    #[serde(default)]
    pub prefix: Option<PrefixRuleDoc>,
    /// Kind `fingerprint`: the request's client fingerprint.
    #[serde(default)]
    pub fingerprint: Option<FingerprintRuleDoc>,
    /// Kind `client`: headers the request lacks, the class of its `user-agent`.
    #[serde(default)]
    pub client: Option<ClientRuleDoc>,
    /// Kind `client_country`: the client's country (a header the edge sets) against the number's.
    #[serde(default)]
    pub client_country: Option<ClientCountryRuleDoc>,
    /// Kind `bot_score`: the bot score the edge in front gives the client (Cloudflare Bot Management).
    #[serde(default)]
    pub bot_score: Option<BotScoreRuleDoc>,
    /// Kind `captcha`: the route needs a token (action must be `challenge`).
    #[serde(default)]
    pub captcha: Option<CaptchaRuleDoc>,
    /// Kind `rate_limit`: a GCRA limit per key.
    #[serde(default)]
    pub rate_limit: Option<RateLimitDoc>,
    /// Kind `backoff`: a growing wait between sends to one number.
    #[serde(default)]
    pub backoff: Option<BackoffDoc>,
    /// Kind `adjacent`: too many distinct numbers of one block.
    #[serde(default)]
    pub adjacent: Option<AdjacentDoc>,
    /// Kind `conversion`: too few confirmed codes per send in one scope.
    #[serde(default)]
    pub conversion: Option<ConversionDoc>,
    /// Kind `reputation`: numbers that recently confirmed a code are trusted (action `log`).
    #[serde(default)]
    pub reputation: Option<ReputationDoc>,
    /// Kind `number_intel`: what the policy's number-intelligence provider says of the number.
    #[serde(default)]
    pub number_intel: Option<NumberIntelRuleDoc>,
    /// Kind `surge`: sends per scope against the scope's own rolling baseline.
    #[serde(default)]
    pub surge: Option<SurgeDoc>,
    /// Kind `bound_number`: a send naming only an account (a resend, a reset by user name) is
    /// judged as a send to the number the account's sign-up carried (action `log`).
    #[serde(default)]
    pub bound_number: Option<BoundNumberDoc>,
    /// Kind `bound_sign_ins`: password sign-ins of accounts whose SMS MFA goes to one number,
    /// limited by the codes such sign-ins sent it.
    #[serde(default)]
    pub bound_sign_ins: Option<BoundSignInsDoc>,
}

/// Which number a send naming only an account goes to: the one its sign-up carried, recorded
/// once origin said the code went by SMS (the `cognito` preset's `SignUp`). Such a send is then
/// judged as a send to that number, by every rule of its route: its backoff, its per-number
/// limits, its conversion and trust, so an account's resends count against its number.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundNumberDoc {
    /// How long a sign-up's binding is kept (3600 to a year; default 30 days). A send naming an
    /// account whose binding has expired is judged by its account alone.
    #[serde(default = "default_keep_seconds")]
    pub keep_seconds: u32,
}

/// With SMS MFA every password sign-in with the right password sends a code to the account's
/// number, and accounts cost an e-mail address: a number is sent `limit` such codes per
/// `per_seconds` across the accounts whose SMS MFA goes to it (the number their sign-up or
/// their last phone change carried; origin's answer says which sign-ins sent a code). Past
/// that, a password sign-in of such an account is refused (the rule's action, with the wait),
/// unless the account entered a code sent to that number (its sign-up's by SMS, or an SMS MFA
/// code): a real user's own account never is, however many accounts someone else made for the
/// number.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundSignInsDoc {
    /// SMS sign-in codes a number is sent per `per_seconds` before unproven accounts are
    /// refused (1 to 1000).
    pub limit: u32,
    /// The period of `limit`, in seconds (60 to a year; default a day).
    #[serde(default = "default_sign_in_period")]
    pub per_seconds: u32,
    /// How long an account's sign-in number is kept after its sign-up, its last phone change or
    /// its last proof (3600 to a year; default 365 days). An account whose record expired is
    /// judged by its own limits alone: a campaign would make accounts and let them age.
    #[serde(default = "default_sign_in_keep")]
    pub keep_seconds: u32,
}

fn default_sign_in_period() -> u32 {
    86_400
}

fn default_sign_in_keep() -> u32 {
    365 * 86_400
}

fn default_keep_seconds() -> u32 {
    30 * 86_400
}

/// Sends to one scope per window against a moving average of its past windows: a window over
/// `max(floor, factor × baseline)` deviates, and sends past that are refused (the rule's
/// action; a block once `block_after_windows` windows in a row deviated).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurgeDoc {
    /// `"country"` or `{"prefix": N}`.
    pub scope: ConversionScopeDoc,
    /// Counting window, in seconds (default one hour).
    #[serde(default = "default_surge_window")]
    pub window_seconds: u32,
    /// How many past windows the baseline averages over (default 24).
    #[serde(default = "default_surge_history")]
    pub history_windows: u32,
    /// Windows learned before the scope is judged (default 3).
    #[serde(default = "default_surge_min_history")]
    pub min_history_windows: u32,
    /// A window deviates past this many times its baseline (over 1; default 3).
    #[serde(default = "default_surge_factor")]
    pub factor: f64,
    /// Fewest sends per window that can deviate (at least 1).
    pub floor: u32,
    /// Deviating windows in a row after which sends are blocked, whatever `action` says;
    /// absent: never.
    #[serde(default)]
    pub block_after_windows: Option<u32>,
}

fn default_surge_window() -> u32 {
    3_600
}

fn default_surge_history() -> u32 {
    24
}

fn default_surge_min_history() -> u32 {
    3
}

fn default_surge_factor() -> f64 {
    3.0
}

/// How numbers earn trust: a code entered (origin accepted the confirm) soon after a send to the
/// number went to origin.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReputationDoc {
    /// How long a confirmation keeps the number trusted; default 30 days.
    #[serde(default = "default_trust_seconds")]
    pub trust_seconds: u32,
    /// A confirmation earns trust only this soon after a send to the number; default 1 hour.
    #[serde(default = "default_confirm_within_seconds")]
    pub confirm_within_seconds: u32,
    /// At most `max` sends to a trusted number per `window_seconds` are trusted; past that its
    /// sends are judged like anyone's until the window ends (absent: every send while trusted).
    /// Trust can be earned by whoever reads the number's SMS: this caps what it buys.
    #[serde(default)]
    pub trusted_sends: Option<TrustedSendsDoc>,
}

/// `reputation.trusted_sends`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedSendsDoc {
    /// Trusted sends per window (1 or more).
    pub max: u32,
    /// Window length in seconds, from the window's first trusted send (60 to 604800).
    pub window_seconds: u32,
}

fn default_trust_seconds() -> u32 {
    30 * 86_400
}

fn default_confirm_within_seconds() -> u32 {
    3_600
}

/// Countries as ISO regions (`"GB"`) or calling codes (`"+44"`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountryRuleDoc {
    /// When non-empty, numbers of any other country trigger the rule.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Numbers of these countries trigger the rule.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Numbers of these countries are reported (never enforced).
    #[serde(default)]
    pub monitor: Vec<String>,
}

/// Number types as libphonenumber classifies them (`mobile`, `premium_rate`, `voip`, …).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberTypeRuleDoc {
    /// When non-empty, numbers of any other type trigger the rule.
    #[serde(default)]
    pub allow: Vec<NumberType>,
    /// Numbers of these types trigger the rule.
    #[serde(default)]
    pub deny: Vec<NumberType>,
}

/// Regular expressions (regex-lite syntax) matched against the E.164 number (`+14155550123`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternRuleDoc {
    /// When non-empty, a number matching none of these triggers the rule.
    #[serde(default)]
    pub allow: Vec<String>,
    /// A number matching any of these triggers the rule.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// E.164 prefixes (`"+4470"`, `"+882"`); the longest matching prefix wins.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixRuleDoc {
    /// `+` and 1 to 15 digits each; a number starting with any of them triggers the rule.
    pub prefixes: Vec<String>,
}

/// What the request says about the software that sent it; the rule fires on any listed sign.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRuleDoc {
    /// Header names (any case); a request without one of them, or with it empty, fires.
    #[serde(default)]
    pub missing_headers: Vec<String>,
    /// `user-agent` classes that fire: `empty`, `http_library`, `app_http_library`, `cli`,
    /// `headless`, `bot`.
    #[serde(default)]
    pub user_agents: Vec<crate::rules::UserAgentClass>,
    /// Judge only requests whose `user-agent` makes a claim, with `missing_headers` only:
    /// `browser` (`Mozilla/…` naming a browser engine, and none of the classes above: every
    /// browser sends `accept-language`, while a site's own app may not) or `chrome` (Chrome or
    /// Edge 90 and later, naming nothing else: they send `sec-ch-ua`). Absent: every request.
    #[serde(default)]
    pub claims: Option<crate::rules::BrowserClaim>,
}

/// The client's country, from a header a trusted edge sets, against the number's country.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCountryRuleDoc {
    /// The header carrying the client's ISO country code; default `cf-ipcountry` (Cloudflare).
    /// Only a header the edge in front sets (and overwrites) can be trusted.
    #[serde(default = "default_client_country_header")]
    pub header: String,
    /// Also fire when the header is absent or names no country (`XX`).
    #[serde(default)]
    pub missing: bool,
    /// A client coming through Tor (`T1`): `mismatch` (default) with every number, or `missing`
    /// (no country, judged by `missing`).
    #[serde(default)]
    pub tor: crate::rules::TorClients,
    /// A header whose value `true` marks a client coming through Tor, whatever `header` says:
    /// where the country comes from a database that places Tor exits in their countries (Envoy's
    /// geoip filter with an anonymous-IP database writes one, `anon_tor`). Only a header the
    /// proxy in front sets, and removes from clients, can be trusted.
    #[serde(default)]
    pub tor_header: Option<String>,
    /// Stop firing in (client country, number country) pairs where real users keep confirming
    /// their codes: travellers and expatriates of the site's usual routes. Needs a confirm route.
    #[serde(default)]
    pub proven_pairs: Option<ProvenPairsDoc>,
}

/// When a (client country, number country) pair counts as proven: every mismatched send that
/// goes to origin counts against its pair, spared or not, and confirmed codes credit it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenPairsDoc {
    /// Confirmed codes (current and previous window) before a pair can be proven, at least 1.
    pub min_confirms: u32,
    /// Confirmed codes per send at or over which such a pair is proven, greater than 0 and at
    /// most 1. Pumped sends never confirm, so a campaign hiding in a proven pair unproves it.
    pub min_ratio: f64,
    /// Counting window in seconds; counts cover the current and the previous one.
    pub window_seconds: u32,
    /// Of those confirmed codes, how many must be of numbers the `reputation` rule trusted
    /// before them (returning users, imported numbers), at most `min_confirms`; default 0 (any).
    /// One who reads the SMS of the numbers he pumps can enter their codes and prove his own
    /// pairs with fresh numbers; returning users are what a real route has. Needs a
    /// `reputation` rule.
    #[serde(default)]
    pub min_trusted_confirms: u32,
    /// ... and trusted for at least this many seconds before them (default 0, at most a year):
    /// a real traveller's trust is days or weeks old, a campaign's that confirms its own
    /// numbers and comes back to them hours. Needs `min_trusted_confirms`.
    #[serde(default)]
    pub min_trust_age_seconds: u32,
}

fn default_client_country_header() -> String {
    "cf-ipcountry".to_owned()
}

/// The bot score the edge gives the client, on Cloudflare's scale: 1 surely automated, 99
/// surely human (Cloudflare Bot Management on a Worker; a trusted proxy's header on Envoy).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotScoreRuleDoc {
    /// A score below this fires (2 to 99; Cloudflare counts 1 to 29 as likely automated).
    pub below: u8,
    /// Also fire when the request carries no score (no Bot Management, or none computed).
    #[serde(default)]
    pub missing: bool,
    /// Clients the edge verified as known good bots (search engines, monitors): `skip`
    /// (default) leaves them alone, `judge` judges their score like any other.
    #[serde(default)]
    pub verified_bots: crate::rules::VerifiedBots,
}

/// Fingerprints of one kind to deny, or its absence.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FingerprintRuleDoc {
    /// Which fingerprint the rule reads.
    pub kind: FingerprintKind,
    /// Fingerprints that trigger the rule.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Trigger when the request carries no such fingerprint.
    #[serde(default)]
    pub missing: bool,
}

/// Always triggers: with action `challenge`, the route needs a verified token.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptchaRuleDoc {}

/// One part of a counter key.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyPartDoc {
    /// The client address: IPv4 whole, IPv6 by its /64 (one subscriber's allocation).
    ClientIp,
    /// The client address cut to a network: `{"client_net": {"v4": 24, "v6": 48}}`.
    ClientNet(ClientNetDoc),
    /// The number (E.164 digits).
    Number,
    /// The number minus its last digits: `{"prefix": 8}` keeps the first 8 digits of the E.164 number.
    Prefix(u8),
    /// The number's ISO region, or its calling code when no region claims it.
    Country,
    /// The number's calling code.
    CallingCode,
    /// The id of the matched route.
    Route,
    /// A request header by name (case-insensitive); absent header counts as the empty value.
    Header(String),
    /// A client fingerprint (`ja3`, `ja4`, `ja4h`, `header_md5`); absent counts as `-`.
    Fingerprint(FingerprintKind),
    /// The device that solved the request's CAPTCHA, as the provider names it (Turnstile
    /// Enterprise's `metadata.ephemeral_id`). Such a limit counts solved challenges: it runs
    /// once the token is verified, only on requests whose token verified with a device id.
    CaptchaSolver,
    /// The account the request names, read from the route's `extract.account_json_paths` or
    /// `plus_only` sources (the presets read Cognito's user name, Firebase's second-factor
    /// enrolment and the address of a Twilio Verify e-mail verification): a request that
    /// names none is not counted by the rule, nor is one without a number when the key also
    /// names a part of the number.
    Account,
}

/// Prefix lengths of a client network key part.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientNetDoc {
    /// Leading bits kept of an IPv4 address, 1 to 32 (default 32).
    #[serde(default = "default_v4_prefix")]
    pub v4: u8,
    /// Leading bits kept of an IPv6 address, 1 to 128 (default 64).
    #[serde(default = "default_v6_prefix")]
    pub v6: u8,
}

fn default_v4_prefix() -> u8 {
    32
}

fn default_v6_prefix() -> u8 {
    64
}

/// GCRA: `rate` requests per `per_seconds` on average, at most `burst` at once.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitDoc {
    /// What one counter is kept per (at least one part): `["client_ip", {"prefix": 8}]`.
    pub key: Vec<KeyPartDoc>,
    /// Sends allowed per `per_seconds` on average (at least 1).
    pub rate: u32,
    /// Period of `rate`, in seconds; `per_seconds * burst / rate` must stay within ten years.
    pub per_seconds: u32,
    /// Sends allowed at once (default 1).
    #[serde(default = "one")]
    pub burst: u32,
}

fn one() -> u32 {
    1
}

/// Per number: after each send the next one waits `base_seconds * factor^(n-1)`, up to `max_seconds`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffDoc {
    /// Wait after the first send, in seconds (at least 1).
    pub base_seconds: u32,
    /// Each further wait is this many times the previous one (default 2).
    #[serde(default = "two")]
    pub factor: u32,
    /// Longest wait, in seconds (at least `base_seconds`).
    pub max_seconds: u32,
    /// Quiet time after which the sequence starts again.
    pub reset_after_seconds: u32,
}

fn two() -> u32 {
    2
}

/// Enumeration of adjacent numbers: too many distinct numbers in one block of the last
/// `suffix_digits` digits within the window blocks the whole block, longer on every repeat.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjacentDoc {
    /// Trailing digits that vary within one block, 1 to 4: `2` makes blocks of 100 numbers.
    pub suffix_digits: u8,
    /// Distinct numbers one block may see within the window (1 to 256, fewer than the block holds).
    pub max_distinct: u32,
    /// Window over which distinct numbers are counted, in seconds.
    pub window_seconds: u32,
    /// Length of the first block, in seconds.
    pub block_seconds: u32,
    /// Each further block lasts this many times longer (default 2)...
    #[serde(default = "two")]
    pub escalation_factor: u32,
    /// ...up to this long, in seconds (at least `block_seconds`).
    pub max_block_seconds: u32,
    /// A send the number-intelligence provider refuses is still seen by this rule (needs a
    /// top-level `number_intel` section): its refusals do not hide a walk through a block.
    #[serde(default)]
    pub count_intel_refusals: bool,
}

/// Which numbers a conversion rule counts and blocks together.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ConversionScopeDoc {
    /// The number's ISO region, or its calling code when no region claims it.
    Country,
    /// E.164 digits kept (calling code included).
    Prefix(u8),
    /// Conversion rules only: the device that solved the send's CAPTCHA, as siteverify names
    /// it (Turnstile Enterprise's `metadata.ephemeral_id`); counts sends once the token verifies.
    CaptchaSolver,
    /// Conversion rules only: the client address the send came from (an IPv4 address whole, an
    /// IPv6 one by its /64); a confirmation credits the address its number's send came from.
    ClientIp,
    /// Conversion rules only: the client address cut to its network, `{"client_net": {"v4": 32,
    /// "v6": 48}}`, counted and credited as `client_ip` is.
    ClientNet(ClientNetDoc),
}

/// Sends vs confirmed codes: a scope whose ratio falls under `min_ratio` after `min_sends` sends
/// within the window is blocked for `block_seconds`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionDoc {
    /// `"country"`, `{"prefix": N}`, `"captcha_solver"`, `"client_ip"` or `{"client_net": {"v4":
    /// 32, "v6": 48}}`.
    pub scope: ConversionScopeDoc,
    /// Sends in the scope (current and previous window) before the ratio is judged (at least 1).
    pub min_sends: u32,
    /// Confirmed codes per send under which the scope is blocked (over 0, at most 1).
    pub min_ratio: f64,
    /// Counting window, in seconds; counts cover the current and the previous window.
    pub window_seconds: u32,
    /// Length of the first block, in seconds.
    pub block_seconds: u32,
    /// Each block of a scope that was blocked before lasts this many times longer...
    #[serde(default = "two")]
    pub escalation_factor: u32,
    /// ...up to this long (default: one day, or `block_seconds` when that is longer).
    #[serde(default)]
    pub max_block_seconds: Option<u32>,
    /// Judge the scope against its own past windows too: the threshold becomes
    /// `max(min_ratio, factor × baseline)`; absent: `min_ratio` alone.
    #[serde(default)]
    pub baseline: Option<ConversionBaselineDoc>,
    /// Refused windows in a row after which sends are blocked, whatever `action` says (action must
    /// be `challenge`); absent: never.
    #[serde(default)]
    pub block_after_windows: Option<u32>,
    /// With `"scope": "captcha_solver"` or `"client_ip"`: a send the number-intelligence
    /// provider refuses counts against its sender (the device that solved its CAPTCHA, or its
    /// address) as a send nobody confirmed (needs a `number_intel` section). Default false:
    /// only sends that go to origin count.
    #[serde(default)]
    pub count_intel_refusals: bool,
}

/// A conversion rule's rolling baseline: a moving average of the confirm ratio of the scope's past
/// windows that had enough sends and stayed over their threshold.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionBaselineDoc {
    /// The scope deviates under this share of its baseline ratio (over 0, at most 1; default 0.5).
    #[serde(default = "default_conversion_factor")]
    pub factor: f64,
    /// How many past windows the baseline averages over (1 to 1000; default 24).
    #[serde(default = "default_surge_history")]
    pub history_windows: u32,
    /// Windows learned before the baseline judges; until then `min_ratio` alone does (at most
    /// `history_windows`; default 3).
    #[serde(default = "default_surge_min_history")]
    pub min_history_windows: u32,
    /// Fewest sends in one window for its ratio to count (at least 1; default the rule's
    /// `min_sends`).
    #[serde(default)]
    pub min_window_sends: Option<u32>,
}

fn default_conversion_factor() -> f64 {
    0.5
}

/// Token verification service; all speak the siteverify protocol.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptchaProvider {
    /// Cloudflare Turnstile.
    Turnstile,
    /// Google reCAPTCHA.
    Recaptcha,
    /// hCaptcha.
    Hcaptcha,
}

/// Who verifies a challenge's token (JSON `captcha.verify`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptchaVerify {
    /// The guard calls siteverify; origin gets a spent token.
    #[default]
    Guard,
    /// Origin (or the protected API) verifies the token; the guard only requires one.
    Origin,
}

impl CaptchaProvider {
    /// The name as the policy spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            CaptchaProvider::Turnstile => "turnstile",
            CaptchaProvider::Recaptcha => "recaptcha",
            CaptchaProvider::Hcaptcha => "hcaptcha",
        }
    }
}

/// Token verification (JSON `captcha`): the core interprets the answer, the host makes the call.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptchaDoc {
    /// Which service verifies tokens.
    pub provider: CaptchaProvider,
    /// Siteverify secret; hosts may supply it from their own secret store instead.
    #[serde(default)]
    pub secret: Option<String>,
    /// Timeout of the verification call, in milliseconds (1 to 30000; default 2000).
    #[serde(default = "default_verify_timeout_ms")]
    pub verify_timeout_ms: u32,
    /// What a failed or timed-out verification call means.
    #[serde(default = "block")]
    pub on_unavailable: InputOutcome,
    /// When set, the verified token must have been issued for this hostname.
    #[serde(default)]
    pub expected_hostname: Option<String>,
    /// When set, the verified token must have been solved by a widget given this action
    /// (Turnstile's and reCAPTCHA's `action`, which the solver cannot change): a token solved on
    /// another page's widget does not pass. 1 to 32 characters of `A-Z a-z 0-9 _ - /`; not for
    /// hCaptcha, whose answer names no action.
    #[serde(default)]
    pub expected_action: Option<String>,
    /// reCAPTCHA v3: minimum score to accept.
    #[serde(default)]
    pub min_score: Option<f64>,
    /// Who verifies tokens: `guard` (siteverify, the default) or `origin`: origin or the API
    /// behind the guard verifies them itself (Firebase's reCAPTCHA, a backend that calls
    /// siteverify), and a token is single-use, so the guard must not spend it. A challenge is
    /// then answered by a token's presence, and origin's verification is what stands.
    #[serde(default)]
    pub verify: CaptchaVerify,
    /// The widget's public site key. When set, a `captcha_required` or `captcha_invalid` refusal
    /// names it (with the provider, `expected_action` and where the route reads the token), so
    /// a page or app can render the widget and retry without its own copy. 1 to 128 characters
    /// of `A-Z a-z 0-9 _ -`; never the secret.
    #[serde(default)]
    pub site_key: Option<String>,
}

fn default_verify_timeout_ms() -> u32 {
    2000
}

/// Fingerprints that need an explicit opt-in (JSON `fingerprints`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FingerprintsDoc {
    /// JA4H is licensed under the FoxIO License 1.1: computed only with this opt-in.
    #[serde(default)]
    pub ja4h: bool,
}

/// Counter store behaviour (JSON `store`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreDoc {
    /// What a store failure (or lost compare-and-swap race after every retry) means.
    #[serde(default = "allow")]
    pub on_error: InputOutcome,
    /// Compare-and-swap retries per counter per request (at most 100; default 8).
    #[serde(default = "default_cas_retries")]
    pub max_cas_retries: u32,
}

impl Default for StoreDoc {
    fn default() -> Self {
        StoreDoc { on_error: InputOutcome::Allow, max_cas_retries: default_cas_retries() }
    }
}

fn default_cas_retries() -> u32 {
    8
}

/// The HTTP method of a number lookup (`number_intel.method`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum LookupMethod {
    /// No body: the number goes in the URL.
    #[default]
    #[serde(rename = "GET")]
    Get,
    /// A body (`number_intel.body`).
    #[serde(rename = "POST")]
    Post,
}

impl LookupMethod {
    /// The method as HTTP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LookupMethod::Get => "GET",
            LookupMethod::Post => "POST",
        }
    }
}

/// What a failed number lookup (timeout, error, an answer that cannot be read) means
/// (`number_intel.on_unavailable`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntelOutcome {
    /// Send as if the provider had found nothing; the failure is still reported and counted.
    #[default]
    Allow,
    /// Require a verified CAPTCHA token (needs the top-level `captcha` section).
    Challenge,
    /// Refuse with 503 `number_intel_unavailable`.
    Block,
}

/// The provider's answer mapped to what rules read: a JSON pointer (RFC 6901) per fact. A fact
/// whose pointer is unset, or whose value is absent or `null`, is unknown.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberIntelResponseDoc {
    /// Pumping risk score, a number from 0 to `risk_scale` (Twilio Lookup:
    /// `/sms_pumping_risk/sms_pumping_risk_score`).
    #[serde(default)]
    pub risk_score: Option<String>,
    /// The top of the provider's risk scale (default 100; 1 for a probability, 1000 for a
    /// per-mille score): its scores are read as shares of it, so rules' `min_risk` stays 0–100.
    #[serde(default)]
    pub risk_scale: Option<f64>,
    /// Line type, a string (Twilio Lookup: `/line_type_intelligence/type`); read through
    /// `line_types` first, then as Twilio names them, case and separators ignored; any other
    /// value is `other`.
    #[serde(default)]
    pub line_type: Option<String>,
    /// The provider's own line-type values, each mapped to the name rules use (`{"VOIP":
    /// "nonFixedVoip", "Wireless": "mobile"}`); matched with case ignored.
    #[serde(default)]
    pub line_types: std::collections::BTreeMap<String, crate::intel::LineType>,
    /// Reachability: a boolean, or a status string (`active`/`reachable` or
    /// `inactive`/`unreachable`; others unknown), e.g. Twilio Lookup's `/line_status/status`.
    #[serde(default)]
    pub reachable: Option<String>,
}

impl Default for NumberIntelResponseDoc {
    fn default() -> Self {
        NumberIntelResponseDoc {
            risk_score: Some("/sms_pumping_risk/sms_pumping_risk_score".to_owned()),
            risk_scale: None,
            line_type: Some("/line_type_intelligence/type".to_owned()),
            line_types: std::collections::BTreeMap::new(),
            reachable: None,
        }
    }
}

/// The number-intelligence provider (JSON `number_intel`): the host calls it (`GET`, or `POST` with a body) for each
/// number a request would otherwise send to and that is not in the cache, like siteverify.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberIntelDoc {
    /// `http(s)://host/path?query` with `{e164}` where the number goes (percent-encoded), e.g.
    /// `https://lookups.twilio.com/v2/PhoneNumbers/{e164}?Fields=line_type_intelligence,sms_pumping_risk`,
    /// or `{digits}` where a provider takes its digits without the `+` (`?number={digits}`).
    pub url: String,
    /// Request headers, e.g. `authorization`; hosts may supply them from their own secret store
    /// instead (keep credentials out of a shared policy file).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// `GET` (the default) or `POST`, for a provider whose API takes the number in a body.
    #[serde(default)]
    pub method: LookupMethod,
    /// The body of a `POST`, with `{e164}` (percent-encoded) or `{digits}` where the number goes,
    /// if it goes there (`account_lifecycle_event=create`); sent as
    /// `application/x-www-form-urlencoded` unless `headers` name another `content-type`. At most
    /// 4096 bytes; only with `POST`.
    #[serde(default)]
    pub body: Option<String>,
    /// Timeout of one lookup, in milliseconds (1 to 30000; default 1500).
    #[serde(default = "default_lookup_timeout_ms")]
    pub timeout_ms: u32,
    /// How long an answer is kept per number in the counter store, in seconds (60 to 2592000,
    /// 30 days; default 86400). Cache entries may be evicted: that only costs a lookup.
    #[serde(default = "default_lookup_cache_seconds")]
    pub cache_seconds: u32,
    /// What a lookup that fails, times out or answers something unreadable means.
    #[serde(default)]
    pub on_unavailable: IntelOutcome,
    /// Where the facts are in the provider's JSON answer (default: Twilio Lookup v2's risk score
    /// and line type).
    #[serde(default)]
    pub response: NumberIntelResponseDoc,
}

fn default_lookup_timeout_ms() -> u32 {
    1500
}

fn default_lookup_cache_seconds() -> u32 {
    86_400
}

/// Fires on what the provider said of the number: any one listed condition is enough.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberIntelRuleDoc {
    /// A risk score at or over this (0 to 100) fires.
    #[serde(default)]
    pub min_risk: Option<u8>,
    /// These line types fire (`landline`, `mobile`, `fixedVoip`, `nonFixedVoip`, `personal`,
    /// `tollFree`, `premium`, `sharedCost`, `uan`, `voicemail`, `pager`, `unknown`, `other`).
    #[serde(default)]
    pub line_types: Vec<crate::intel::LineType>,
    /// A number the provider finds unreachable fires.
    #[serde(default)]
    pub unreachable: bool,
    /// No verdict from the provider (timeout, error, unreadable answer) fires: a weighted rule
    /// stands in for the missing answer during an outage.
    #[serde(default)]
    pub unanswered: bool,
}
