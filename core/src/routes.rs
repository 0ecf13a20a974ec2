//! Which requests a policy guards: host, method, normalised path and header conditions.

use std::sync::Arc;

use crate::config::RouteKind;
use crate::extract::Extractor;
use crate::request::Request;

/// A compiled host condition, lower-case and without port.
#[derive(Debug)]
pub enum HostPattern {
    /// The host itself.
    Exact(String),
    /// `*.example.com`: stored as `.example.com`.
    Suffix(String),
}

/// A compiled path condition on the normalised path, compared case-insensitively.
#[derive(Debug)]
pub enum PathPattern {
    /// The whole path.
    Exact(String),
    /// The path's start; keeps a configured trailing `/`.
    Prefix(String),
    /// The path's segments one by one; `None` (written `*`) stands for any one segment.
    Segments(Vec<Option<String>>),
}

/// A compiled condition on a request parameter, read from the query string and from a
/// urlencoded body (AWS Query APIs such as SNS carry `Action` in either): the name and the
/// values compare case-insensitively, and any reading that holds one of the values matches.
#[derive(Debug)]
pub struct ParamCondition {
    /// The parameter's name.
    pub name: String,
    /// Values that match.
    pub values: Vec<String>,
}

/// A compiled request header condition; the name is lower-case, the value trimmed before comparing.
#[derive(Debug)]
pub enum HeaderCondition {
    /// The header is present.
    Present(String),
    /// The header's value equals this.
    Equals(String, String),
    /// The header's value starts with this.
    Prefix(String, String),
    /// The header's value is one of these.
    AnyOf(String, Vec<String>),
}

/// A compiled JSON body condition: the string at `path` (object keys from the top) is one of
/// `values`. Presets use it where the API's call names its intent in the body (Cognito's
/// `ChallengeName`).
#[derive(Debug)]
pub struct JsonCondition {
    /// Object keys from the top of the body.
    pub path: Vec<String>,
    /// Values that match, compared ASCII case-insensitively; with `negated`, values that do not.
    pub values: Vec<String>,
    /// The condition holds when the field is none of `values` (absent included).
    pub negated: bool,
}

/// One set of request conditions, all of which must hold.
#[derive(Debug, Default)]
pub struct Conditions {
    /// Host conditions, any of which may match; empty means any host.
    pub hosts: Vec<HostPattern>,
    /// Upper-case methods.
    pub methods: Vec<String>,
    /// Path conditions, any of which may match; empty means any path.
    pub paths: Vec<PathPattern>,
    /// Header conditions, all of which must hold.
    pub headers: Vec<HeaderCondition>,
    /// Parameter conditions (query string or urlencoded body), all of which must hold.
    pub params: Vec<ParamCondition>,
    /// JSON body conditions, all of which must hold.
    pub json: Vec<JsonCondition>,
}

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    /// The policy's route id.
    pub id: Arc<str>,
    /// Whether the route sends an SMS or confirms a code.
    pub kind: RouteKind,
    /// Sets of conditions, any of which may match: the route's `match`, or its preset's.
    pub conditions: Vec<Conditions>,
    /// How a refusal on this route is written (the protected API's own error format).
    pub refusal: crate::refusal::RefusalFormat,
    /// Where the route's numbers and token are.
    pub extractor: Extractor,
    /// Its requests may ask for an SMS by naming an account instead of a number
    /// ([`crate::extract::ExtractSpec::sends_by_account`]).
    pub sends_by_account: bool,
    /// The preset of its `extract`, which knows which of its API's calls bind an account to
    /// the number they carry ([`crate::extract::Preset::binds_account`]).
    pub preset: Option<crate::extract::Preset>,
    /// What a confirm route's response must show; unused on send routes.
    pub success: ConfirmSuccess,
    /// The preset's calls that sign in with a password ([`crate::extract::Preset::password_sign_ins`]).
    pub password_sign_ins: Vec<Conditions>,
    /// The preset's calls that answer a sign-in's SMS code ([`crate::extract::Preset::sign_in_code_answers`]).
    pub sign_in_code_answers: Vec<Conditions>,
    /// The preset's calls that choose SMS MFA ([`crate::extract::Preset::sms_mfa_choices`]).
    pub sms_mfa_choices: Vec<Conditions>,
    /// The preset's calls that send an SMS only to a number they carry
    /// ([`crate::extract::Preset::sends_only_to_carried_number`]).
    pub sends_only_to_carried_number: Vec<Conditions>,
    /// The preset's calls whose number names the user, not the recipient
    /// ([`crate::extract::Preset::numbers_naming_the_account`]).
    pub numbers_naming_the_account: Vec<Conditions>,
    /// The `captcha` object of a challenge refusal on this route, under a policy with a
    /// `captcha` section: the provider, site key, action and where the route reads the token.
    pub challenge_hint: Option<Arc<str>>,
}

/// What a confirm route's response must show for its code to count as confirmed.
#[derive(Debug, Default)]
pub struct ConfirmSuccess {
    /// Statuses that mean success; empty: any 2xx.
    pub statuses: Vec<u16>,
    /// A response header (lower-case name) that must carry this value.
    pub header: Option<(String, String)>,
    /// A field of the JSON body (path segments) that must hold one of these values.
    pub json: Option<(Vec<String>, Vec<String>)>,
    /// A field of the JSON body (path segments) naming the number confirmed: credited instead
    /// of the request's.
    pub number: Option<Vec<String>>,
}

/// How much of a confirm response body a host reads when the route judges success by it.
pub const MAX_CONFIRM_BODY_BYTES: usize = 16 * 1024;

/// The parts of origin's answer to a confirm a host can hand over. A host that cannot read the
/// body passes `None`: a route that needs it then credits nothing.
#[derive(Clone, Copy, Debug)]
pub struct ConfirmResponse<'a> {
    /// HTTP status of the response.
    pub status: u16,
    /// Lower-case names.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body up to [`MAX_CONFIRM_BODY_BYTES`], when the host read it.
    pub body: Option<&'a [u8]>,
}

impl ConfirmSuccess {
    /// Whether the route needs the response body to judge success.
    pub fn needs_body(&self) -> bool {
        self.json.is_some() || self.number.is_some()
    }

    /// The number the response names as confirmed (`None` without the setting, or when the
    /// body does not name one): unparsed text.
    pub fn confirmed_number(&self, response: &ConfirmResponse<'_>) -> Option<String> {
        let path = self.number.as_ref()?;
        response.body.and_then(|body| json_field(body, path))
    }

    /// Whether `response` confirms the code.
    pub fn holds(&self, response: &ConfirmResponse<'_>) -> bool {
        let status_ok = if self.statuses.is_empty() {
            (200..300).contains(&response.status)
        } else {
            self.statuses.contains(&response.status)
        };
        let header_ok = self.header.as_ref().is_none_or(|(name, value)| {
            response.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case(name) && v.trim() == value)
        });
        let json_ok = self.json.as_ref().is_none_or(|(path, values)| {
            response.body.and_then(|body| json_field(body, path)).is_some_and(|found| values.contains(&found))
        });
        status_ok && header_ok && json_ok
    }
}

/// The text of a scalar at `path` in a JSON object body (strings as they are, other scalars as
/// JSON writes them), or `None`.
fn json_field(body: &[u8], path: &[String]) -> Option<String> {
    let body = body.get(..MAX_CONFIRM_BODY_BYTES).unwrap_or(body);
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    for segment in path {
        value = value.get_mut(segment.as_str())?.take();
    }
    match value {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Bool(_) | serde_json::Value::Number(_) => Some(value.to_string()),
        _ => None,
    }
}

impl Route {
    /// Whether any set of conditions holds for `req`; `paths` are the readings of its path
    /// ([`path_readings`]), any of which may match. With `head_only`, the body is not read yet: a
    /// parameter or JSON condition the head does not settle holds if the body may still do so.
    pub fn matches(&self, req: &Request<'_>, paths: &[String], head_only: bool) -> bool {
        // A body origin may read two ways matches a send route, never a confirm route: whichever
        // route comes first, such a request is judged, not forwarded as a confirm.
        let unclear_holds = self.kind == RouteKind::Send;
        self.conditions.iter().any(|c| c.hold(req, paths, head_only, unclear_holds))
    }

    /// Whether `req` is one of the preset's password sign-ins. A body that repeats a key of a
    /// condition, or does not parse, is not one: it is judged as any other call naming its
    /// account.
    pub fn signs_in_by_password(&self, req: &Request<'_>) -> bool {
        self.is_one_of(&self.password_sign_ins, req)
    }

    /// Whether `req` answers a code sent to the account's sign-in number, on the same terms as
    /// [`Route::signs_in_by_password`].
    pub fn answers_sign_in_code(&self, req: &Request<'_>) -> bool {
        self.is_one_of(&self.sign_in_code_answers, req)
    }

    /// Whether `req` chooses SMS MFA after a right password, on the same terms as
    /// [`Route::signs_in_by_password`].
    pub fn chooses_sms_mfa(&self, req: &Request<'_>) -> bool {
        self.is_one_of(&self.sms_mfa_choices, req)
    }

    /// Whether `req` sends an SMS only to a number it carries, on the same terms as
    /// [`Route::signs_in_by_password`]: a body the conditions cannot read is not such a call.
    pub fn sends_only_to_carried_number(&self, req: &Request<'_>) -> bool {
        self.is_one_of(&self.sends_only_to_carried_number, req)
    }

    /// Whether `req`'s number names its user, not the recipient, on the same terms as
    /// [`Route::signs_in_by_password`].
    pub fn numbers_name_the_account(&self, req: &Request<'_>) -> bool {
        self.is_one_of(&self.numbers_naming_the_account, req)
    }

    /// Whether `req` names one call of the preset's API and meets one of `calls`.
    fn is_one_of(&self, calls: &[Conditions], req: &Request<'_>) -> bool {
        if calls.is_empty() || !self.preset.is_some_and(|p| p.names_one_call(req)) {
            return false;
        }
        let paths = path_readings(req.path_only());
        calls.iter().any(|c| c.hold(req, &paths, false, false))
    }
}

impl Conditions {
    fn hold(&self, req: &Request<'_>, paths: &[String], head_only: bool, unclear_holds: bool) -> bool {
        self.host_matches(req.host())
            && (self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(req.method)))
            && (self.paths.is_empty() || paths.iter().any(|p| self.path_matches(p)))
            && self.headers.iter().all(|c| c.holds(req))
            && self.params.iter().all(|c| c.holds(req, head_only))
            && (self.json.is_empty() || json_conditions_hold(&self.json, req, head_only, unclear_holds))
    }

    fn host_matches(&self, host: &str) -> bool {
        self.hosts.is_empty()
            || self.hosts.iter().any(|p| match p {
                HostPattern::Exact(h) => h.eq_ignore_ascii_case(host),
                HostPattern::Suffix(s) => {
                    host.len() > s.len()
                        && host.get(host.len() - s.len()..).is_some_and(|tail| tail.eq_ignore_ascii_case(s))
                }
            })
    }

    fn path_matches(&self, path: &str) -> bool {
        self.paths.iter().any(|pattern| match pattern {
            PathPattern::Exact(p) => path.eq_ignore_ascii_case(p),
            PathPattern::Prefix(p) => {
                path.len() >= p.len() && path.get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p))
            }
            PathPattern::Segments(want) => {
                let mut got = path.split('/').skip(1);
                want.iter().all(|w| match (w, got.next()) {
                    (_, None) => false,
                    (None, Some(seg)) => !seg.is_empty(),
                    (Some(w), Some(seg)) => seg.eq_ignore_ascii_case(w),
                }) && got.next().is_none()
            }
        })
    }
}

/// Whether every JSON condition holds on the body. Before the body is read, they may still
/// hold for any JSON body. A body that does not parse, or repeats a key of a condition's path,
/// holds as `unclear_holds` says.
fn json_conditions_hold(
    conditions: &[JsonCondition],
    req: &Request<'_>,
    head_only: bool,
    unclear_holds: bool,
) -> bool {
    let json = req.header("content-type").is_some_and(|t| {
        let t = t.split(';').next().unwrap_or(t).trim().to_ascii_lowercase();
        t.ends_with("/json") || t.ends_with("+json") || t.starts_with("application/x-amz-json")
    });
    // A JSON body under another content type may still be read as JSON by origin: a send
    // route judges it by its content (its extraction then refuses the content type), a confirm
    // route takes JSON bodies only.
    if !json && !unclear_holds {
        return false;
    }
    if head_only {
        return true;
    }
    let Ok(body) = serde_json::from_slice::<Member>(req.body) else {
        // Unreadable: a send route's extraction refuses it as malformed, so guard it. A body
        // of another type that is not JSON (a form) is what it says.
        return json && unclear_holds;
    };
    conditions.iter().all(|c| c.holds(&body).unwrap_or(unclear_holds))
}

impl JsonCondition {
    /// Whether the body's field is one of the values. Keys and values compare as loosely as an
    /// origin might (keys as extraction folds them, values ASCII case-insensitively). `None`
    /// when a key of the path appears twice: origins differ on which one they read (the first,
    /// the last, or the one spelt exactly), so `{"AuthFlow": "USER_AUTH", "AuthFlow":
    /// "REFRESH_TOKEN_AUTH"}` cannot be told apart from either.
    fn holds(&self, body: &Member) -> Option<bool> {
        let listed = |value: &Member| matches!(value, Member::Text(text) if self.values.iter().any(|want| want.eq_ignore_ascii_case(text)));
        let mut value = body;
        for key in &self.path {
            let Member::Object(members) = value else { return Some(self.negated) };
            let wanted = crate::extract::fold_owned(key);
            let mut found =
                members.iter().filter(|(name, _)| crate::extract::eq_folded(name.as_bytes(), &wanted));
            let Some((_, next)) = found.next() else { return Some(self.negated) };
            if found.next().is_some() {
                return None;
            }
            value = next;
        }
        Some(listed(value) != self.negated)
    }
}

/// A JSON value as a route condition reads it: objects keep every member, a repeated key too
/// (a map would keep one of them silently).
enum Member {
    Object(Vec<(String, Member)>),
    Text(String),
    Other,
}

impl<'de> serde::Deserialize<'de> for Member {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MemberVisitor)
    }
}

struct MemberVisitor;

impl<'de> serde::de::Visitor<'de> for MemberVisitor {
    type Value = Member;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Member, A::Error> {
        let mut members = Vec::new();
        while let Some(entry) = map.next_entry::<String, Member>()? {
            members.push(entry);
        }
        Ok(Member::Object(members))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Member, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Member::Other)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Member, E> {
        Ok(Member::Text(text.to_owned()))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Member, E> {
        Ok(Member::Other)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Member, E> {
        Ok(Member::Other)
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Member, E> {
        Ok(Member::Other)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Member, E> {
        Ok(Member::Other)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Member, E> {
        Ok(Member::Other)
    }
}

impl ParamCondition {
    fn holds(&self, req: &Request<'_>, head_only: bool) -> bool {
        let form = req.header("content-type").is_some_and(is_urlencoded);
        if self.found_in(req.query().as_bytes()) {
            return true;
        }
        if head_only {
            return form;
        }
        form && self.found_in(req.body)
    }

    /// Whether any `name=value` pair of `input` is this parameter with one of the values.
    fn found_in(&self, input: &[u8]) -> bool {
        input.split(|&b| b == b'&').any(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (pair.get(..i).unwrap_or_default(), pair.get(i + 1..).unwrap_or_default()),
                None => (pair, &[][..]),
            };
            let (name, value) = (form_decode(name), form_decode(value));
            let value = value.trim_ascii();
            name.eq_ignore_ascii_case(self.name.as_bytes())
                && self.values.iter().any(|v| value.eq_ignore_ascii_case(v.as_bytes()))
        })
    }
}

/// Whether a content type is `application/x-www-form-urlencoded` (parameters ignored).
fn is_urlencoded(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// Percent-decodes a form name or value, `+` as space; a stray `%` stays as it is.
fn form_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let escaped = match (b, raw.get(i + 1).copied().and_then(hex), raw.get(i + 2).copied().and_then(hex))
        {
            (b'%', Some(h), Some(l)) => Some(h * 16 + l),
            _ => None,
        };
        match escaped {
            Some(d) => {
                out.push(d);
                i += 3;
            }
            None => {
                out.push(if b == b'+' { b' ' } else { b });
                i += 1;
            }
        }
    }
    out
}

impl HeaderCondition {
    fn holds(&self, req: &Request<'_>) -> bool {
        match self {
            HeaderCondition::Present(name) => req.header(name).is_some(),
            HeaderCondition::Equals(name, value) => req.header(name).is_some_and(|v| v.trim() == value),
            HeaderCondition::Prefix(name, prefix) => {
                req.header(name).is_some_and(|v| v.trim().starts_with(prefix.as_str()))
            }
            HeaderCondition::AnyOf(name, values) => {
                req.header(name).is_some_and(|v| values.iter().any(|want| v.trim() == want))
            }
        }
    }
}

/// Canonical form of a path for matching, so `/otp/`, `//otp`, `/a/../otp` and `/%6Ftp` cannot
/// slip past a rule for `/otp`: percent-decodes unreserved characters, collapses slashes,
/// resolves dot segments and drops a trailing slash. Matching is then case-insensitive.
pub fn normalize_path(path: &str) -> String {
    let decoded = decode_unreserved(path);
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Every reading of a request path an origin may take, normalised: as [`normalize_path`] reads
/// it, and once and twice fully percent-decoded (an origin or a front end that decodes `%3A`,
/// `%2F` or a double-encoded `%253A` sees another path), each also without `;` segment
/// parameters (servlet containers drop `/send;x=1` to `/send`). A guarded route matching any
/// reading guards the request, so an encoding cannot take a request around its route.
pub fn path_readings(path: &str) -> Vec<String> {
    let mut readings = vec![normalize_path(path)];
    let mut push = |reading: String| {
        if !readings.contains(&reading) {
            readings.push(reading);
        }
    };
    let mut decoded = std::borrow::Cow::Borrowed(path);
    for _ in 0..2 {
        match decode_all(&decoded) {
            Some(next) => decoded = std::borrow::Cow::Owned(next),
            None => break,
        }
        push(normalize_path(&decoded));
    }
    if path.contains(';') || decoded.contains(';') {
        for source in [path, &decoded] {
            let stripped: Vec<&str> =
                source.split('/').map(|seg| seg.split(';').next().unwrap_or(seg)).collect();
            push(normalize_path(&stripped.join("/")));
        }
    }
    readings
}

/// Every `%XX` of `path` decoded (bytes that do not form UTF-8 read as U+FFFD); `None` when
/// there is nothing to decode.
fn decode_all(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match (b, bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push(h * 16 + l);
                changed = true;
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    changed.then(|| String::from_utf8_lossy(&out).into_owned())
}

/// Percent-decodes only unreserved characters (letters, digits, `-._~`); others stay encoded.
fn decode_unreserved(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains('%') {
        return std::borrow::Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'%'), Some(h), Some(l)) => hex(*h).zip(hex(*l)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match decoded {
            Some(b) if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => {
                out.push(char::from(b));
                i += 3;
            }
            Some(b) => {
                // A reserved character stays escaped, in upper case.
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
                i += 3;
            }
            None if bytes.get(i) == Some(&b'%') => {
                // A stray '%' is escaped itself, so decoding twice cannot build a new escape.
                out.push_str("%25");
                i += 1;
            }
            None => {
                // Copy one whole UTF-8 character.
                let rest = path.get(i..).unwrap_or("");
                let c = rest.chars().next().unwrap_or('\u{FFFD}');
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{normalize_path, path_readings, JsonCondition, Member};

    #[test]
    fn a_json_condition_holds_however_origin_may_read_the_field() {
        let condition = JsonCondition {
            path: vec!["Auth".to_owned(), "Flow".to_owned()],
            values: vec!["USER_AUTH".to_owned()],
            negated: false,
        };
        let holds =
            |body: &str| condition.holds(&serde_json::from_str::<Member>(body).unwrap()).unwrap_or(true);
        let unclear = |body: &str| condition.holds(&serde_json::from_str::<Member>(body).unwrap()).is_none();
        assert!(holds(r#"{"Auth": {"Flow": "USER_AUTH"}}"#));
        assert!(!holds(r#"{"Auth": {"Flow": "REFRESH"}}"#));
        assert!(!holds(r#"{"Auth": {"Flow": 7}}"#));
        assert!(!holds(r#"{"Auth": ["Flow"]}"#));
        // Other spellings of the key or the value, escaped or not.
        assert!(holds(r#"{"auth": {"FLOW": "user_auth"}}"#));
        assert!(holds(r#"{"Auth": {"Fl\u006fw": "USER_AUTH"}}"#));
        // A key twice anywhere on the path is unclear, whatever either copy says.
        assert!(unclear(r#"{"Auth": {"Flow": "REFRESH", "flow": "REFRESH"}}"#));
        assert!(unclear(r#"{"Auth": {"Flow": "REFRESH"}, "Auth": {}}"#));
        // A repeated key off the path changes nothing.
        assert!(!holds(r#"{"Auth": {"Flow": "REFRESH"}, "x": 1, "x": 2}"#));
        assert!(!unclear(r#"{"Auth": {"Flow": "USER_AUTH"}, "x": 1, "x": 2}"#));
    }

    #[test]
    fn readings_cover_what_origins_decode() {
        let r = path_readings("/v1/accounts%3AsendVerificationCode");
        assert!(r.contains(&"/v1/accounts%3AsendVerificationCode".to_owned()), "{r:?}");
        assert!(r.contains(&"/v1/accounts:sendVerificationCode".to_owned()), "{r:?}");
        let r = path_readings("/v1/accounts%253AsendVerificationCode");
        assert!(r.contains(&"/v1/accounts:sendVerificationCode".to_owned()), "{r:?}");
        let r = path_readings("/api%2Fsend");
        assert!(r.contains(&"/api/send".to_owned()), "{r:?}");
        let r = path_readings("/otp;jsessionid=1");
        assert!(r.contains(&"/otp".to_owned()), "{r:?}");
        assert_eq!(path_readings("/otp"), vec!["/otp".to_owned()]);
    }

    #[test]
    fn evasive_paths_normalise() {
        for p in ["/otp", "/otp/", "//otp", "/a/../otp", "/%6Ftp", "/./otp", "/otp?x"] {
            let p = p.split('?').next().unwrap();
            assert_eq!(normalize_path(p), "/otp", "{p}");
        }
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("/a%2Fb"), "/a%2Fb");
        assert_eq!(normalize_path("/ü/%"), "/ü/%25");
        assert_eq!(normalize_path("/a%2fb"), "/a%2Fb");
    }

    proptest::proptest! {
        #[test]
        fn idempotent(p in "[/a-z%.0-9]{0,20}") {
            let once = normalize_path(&p);
            proptest::prop_assert_eq!(normalize_path(&once), once.clone());
        }
    }
}
